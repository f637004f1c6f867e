//! Which component serves a path, read from the product `spin.toml` and matched as Spin matches
//! (docs/platform.md, "Design: host conformance"): an exact route beats a wildcard (`/x/...`,
//! which also matches `/x` itself), and the longest wildcard prefix wins.

use guest_kit::{Env, Request, Response};

/// The route-group components whose code lives in the service crates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    #[cfg(feature = "keyservice")]
    Keyservice(keyservice_service::Group),
    #[cfg(feature = "shield")]
    Shield(shield_service::Group),
    #[cfg(feature = "shield")]
    ShieldHealth,
    #[cfg(feature = "guardian")]
    GuardianLogin,
    #[cfg(feature = "guardian")]
    GuardianSign,
    #[cfg(feature = "guardian")]
    GuardianAdmin,
    #[cfg(feature = "guardian")]
    GuardianExport,
    /// A component of a service whose feature this build leaves out.
    Other,
}

impl Component {
    /// The component a `spin.toml` id names.
    pub fn from_id(id: &str) -> Option<Component> {
        #[cfg(feature = "keyservice")]
        use keyservice_service::Group as K;
        #[cfg(feature = "shield")]
        use shield_service::Group as S;
        Some(match id {
            #[cfg(feature = "keyservice")]
            "keyservice-init" => Component::Keyservice(K::Init),
            #[cfg(feature = "keyservice")]
            "keyservice-connect" => Component::Keyservice(K::Connect),
            #[cfg(feature = "keyservice")]
            "keyservice-key" => Component::Keyservice(K::Key),
            #[cfg(feature = "keyservice")]
            "keyservice-admin" => Component::Keyservice(K::Admin),
            #[cfg(feature = "shield")]
            "shield-health" => Component::ShieldHealth,
            #[cfg(feature = "shield")]
            "shield-project" => Component::Shield(S::Project),
            #[cfg(feature = "shield")]
            "shield-shares" => Component::Shield(S::Shares),
            #[cfg(feature = "shield")]
            "shield-admin" => Component::Shield(S::Admin),
            #[cfg(feature = "guardian")]
            "guardian-login" => Component::GuardianLogin,
            #[cfg(feature = "guardian")]
            "guardian-sign" => Component::GuardianSign,
            #[cfg(feature = "guardian")]
            "guardian-admin" => Component::GuardianAdmin,
            #[cfg(feature = "guardian")]
            "guardian-export" => Component::GuardianExport,
            s if ["keyservice-", "shield-", "guardian-"]
                .iter()
                .any(|p| s.starts_with(p)) =>
            {
                Component::Other
            }
            _ => return None,
        })
    }

    /// The service entry point the component calls.
    pub fn call(self, env: &Env<'_>, req: Request) -> Response {
        #[cfg(feature = "keyservice")]
        use keyservice_service::Group as K;
        match self {
            #[cfg(feature = "keyservice")]
            Component::Keyservice(K::Init) => keyservice_service::handle_init(env, req),
            #[cfg(feature = "keyservice")]
            Component::Keyservice(K::Connect) => keyservice_service::handle_connect(env, req),
            #[cfg(feature = "keyservice")]
            Component::Keyservice(K::Key) => keyservice_service::handle_key(env, req),
            #[cfg(feature = "keyservice")]
            Component::Keyservice(K::Admin) => keyservice_service::handle_admin(env, req),
            #[cfg(feature = "shield")]
            Component::Shield(group) => shield_service::handle(env, group, req),
            #[cfg(feature = "shield")]
            Component::ShieldHealth => shield_service::health(env, &req),
            #[cfg(feature = "guardian")]
            Component::GuardianLogin => guardian_service::handle_login(env, req),
            #[cfg(feature = "guardian")]
            Component::GuardianSign => guardian_service::handle_sign(env, req),
            #[cfg(feature = "guardian")]
            Component::GuardianAdmin => guardian_service::handle_authorize(env, req),
            #[cfg(feature = "guardian")]
            Component::GuardianExport => guardian_service::handle_export(env, req),
            Component::Other => {
                let _ = (env, req);
                panic!("this build of the test kit leaves that service out (enable its feature)")
            }
        }
    }
}

/// The `[[trigger.http]]` routes of a manifest.
pub struct RouteTable {
    routes: Vec<(String, Component)>,
}

impl RouteTable {
    /// The repository's `spin.toml`.
    pub fn product() -> RouteTable {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../spin.toml");
        let text = std::fs::read_to_string(path).expect("read spin.toml");
        RouteTable::parse(&text)
    }

    /// `route = "…"` followed by `component = "…"` in each trigger.
    pub fn parse(manifest: &str) -> RouteTable {
        let value = |line: &str, key: &str| -> Option<String> {
            let rest = line
                .trim()
                .strip_prefix(key)?
                .trim_start()
                .strip_prefix('=')?;
            Some(rest.trim().trim_matches('"').to_owned())
        };
        let mut routes = Vec::new();
        let mut route = None;
        for line in manifest.lines() {
            if let Some(r) = value(line, "route") {
                route = Some(r);
            } else if let (Some(id), Some(r)) = (value(line, "component"), route.as_ref()) {
                let component =
                    Component::from_id(&id).unwrap_or_else(|| panic!("unknown component {id}"));
                routes.push((r.clone(), component));
                route = None;
            }
        }
        assert!(!routes.is_empty(), "no routes in the manifest");
        RouteTable { routes }
    }

    /// The component for `path`, if any route matches.
    pub fn route(&self, path: &str) -> Option<Component> {
        if let Some((_, c)) = self.routes.iter().find(|(r, _)| r == path) {
            return Some(*c);
        }
        self.routes
            .iter()
            .filter_map(|(r, c)| {
                let prefix = r.strip_suffix("/...")?;
                let rest = path.strip_prefix(prefix)?;
                (rest.is_empty() || rest.starts_with('/')).then_some((prefix.len(), *c))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(feature = "keyservice", feature = "shield", feature = "guardian"))]
    #[test]
    fn exact_beats_wildcard_and_the_longest_prefix_wins() {
        use keyservice_service::Group as K;
        use shield_service::Group as S;
        let t = RouteTable::product();
        assert_eq!(t.route("/key"), Some(Component::Keyservice(K::Key)));
        assert_eq!(t.route("/key/x"), None);
        assert_eq!(t.route("/keys"), None);
        assert_eq!(
            t.route("/admin/namespaces"),
            Some(Component::Keyservice(K::Admin))
        );
        assert_eq!(
            t.route("/admin/namespaces/a/b"),
            Some(Component::Keyservice(K::Admin))
        );
        assert_eq!(t.route("/admin/namespacesx"), None);
        assert_eq!(t.route("/shares/abc"), Some(Component::Shield(S::Shares)));
        assert_eq!(
            t.route("/shares/migration/x"),
            Some(Component::Shield(S::Admin))
        );
        assert_eq!(t.route("/guardian/sign"), Some(Component::GuardianSign));
        assert_eq!(t.route("/guardian/other"), Some(Component::GuardianLogin));
    }
}
