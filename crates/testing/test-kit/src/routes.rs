//! Which component serves a path: the service crates' own `COMPONENTS` tables (docs/platform.md,
//! "Design: route tables"; the e2e test `route_table` keeps them equal to `spin.toml`), matched
//! with guest-kit's Spin rules. Only the services whose feature this build enables are in the
//! table; a path another service serves is unrouted here.

pub use guest_kit::router::Component;
use guest_kit::router::spin_component;

/// The components of the services this build of the kit drives.
#[derive(Clone, Copy)]
pub struct RouteTable {
    tables: &'static [&'static [Component]],
}

impl RouteTable {
    /// Every enabled service's components, as the product `spin.toml` routes to them.
    pub fn product() -> RouteTable {
        RouteTable {
            tables: &[
                #[cfg(feature = "keyservice")]
                keyservice_service::COMPONENTS,
                #[cfg(feature = "shield")]
                shield_service::COMPONENTS,
                #[cfg(feature = "guardian")]
                guardian_service::COMPONENTS,
            ],
        }
    }

    /// The component Spin sends `path` to, if any route matches.
    pub fn route(&self, path: &str) -> Option<Component> {
        spin_component(self.tables.iter().flat_map(|t| t.iter()), path).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(path: &str) -> Option<&'static str> {
        RouteTable::product().route(path).map(|c| c.id)
    }

    #[cfg(feature = "keyservice")]
    #[test]
    fn exact_beats_wildcard_and_a_prefix_matches_whole_segments() {
        assert_eq!(id("/key"), Some("keyservice-key"));
        assert_eq!(id("/key/x"), None);
        assert_eq!(id("/keys"), None);
        assert_eq!(id("/admin/namespaces"), Some("keyservice-admin"));
        assert_eq!(id("/admin/namespaces/a/b"), Some("keyservice-admin"));
        assert_eq!(id("/admin/namespacesx"), None);
    }

    #[cfg(all(feature = "shield", feature = "guardian"))]
    #[test]
    fn the_longest_prefix_wins() {
        assert_eq!(id("/shares/abc"), Some("shield-shares"));
        assert_eq!(id("/shares/migration/x"), Some("shield-admin"));
        assert_eq!(id("/guardian/sign"), Some("guardian-sign"));
        assert_eq!(id("/guardian/other"), Some("guardian-login"));
    }
}
