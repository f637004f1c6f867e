//! guardian's setup page for end users (docs/guardian.md, "Design: setup page"): a static page,
//! its script and style, and the one document the script reads: which logins this deployment
//! offers and whether it allows export. The page talks to the public end-user routes only.

use guest_kit::{Env, Request, Response};
use serde_json::json;

use crate::config;
use crate::error::ApiError;

const INDEX_HTML: &str = include_str!("../setup/index.html");
const APP_JS: &str = include_str!("../setup/app.js");
const STYLE_CSS: &str = include_str!("../setup/style.css");

/// The origin (`scheme://host[:port]`) of an `http(s)` URL, if it has a plain one: it goes into
/// a header, so nothing but host characters may pass (no blank or `;` that would start another
/// policy directive).
fn origin(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end)?;
    let plain = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !plain {
        return None;
    }
    url.get(..scheme.len() + 3 + end)
}

/// What the page may load and reach: its own files, keyward's API, and the identity provider
/// (discovery and token endpoints are on https origins that discovery names, so `https:`).
fn policy(issuer: &str) -> String {
    let idp = origin(issuer).unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' https: {idp}; \
         img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
}

fn asset(content_type: &str, body: &str, csp: &str) -> Response {
    Response::new(200)
        .with_header("content-type", content_type)
        .with_header("cache-control", "no-store")
        .with_header("x-content-type-options", "nosniff")
        // The authorization code comes back in the page's URL: never send it onwards.
        .with_header("referrer-policy", "no-referrer")
        .with_header("content-security-policy", csp)
        .with_body(body)
}

/// `GET /guardian/setup`: its policy names the identity provider, so it reads the effective
/// settings.
pub(crate) fn page(env: &Env<'_>, _: &Request) -> Result<Response, ApiError> {
    let master = config::master_key(env)?;
    let issuer = config::effective_idp(env, &master)?.oidc_issuer;
    Ok(asset(
        "text/html; charset=utf-8",
        INDEX_HTML,
        &policy(&issuer),
    ))
}

/// A policy only documents are held to; the script and the style need no settings read.
const SUBRESOURCE_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// `GET /guardian/setup/app.js`.
pub(crate) fn script(_: &Env<'_>, _: &Request) -> Result<Response, ApiError> {
    Ok(asset(
        "text/javascript; charset=utf-8",
        APP_JS,
        SUBRESOURCE_POLICY,
    ))
}

/// `GET /guardian/setup/style.css`.
pub(crate) fn style(_: &Env<'_>, _: &Request) -> Result<Response, ApiError> {
    Ok(asset(
        "text/css; charset=utf-8",
        STYLE_CSS,
        SUBRESOURCE_POLICY,
    ))
}

/// `GET /guardian/setup/config`: the logins offered (Okta; OpenID Connect with its issuer and
/// client id, both public) and the export settings. Never a secret.
pub(crate) fn settings(env: &Env<'_>, _: &Request) -> Result<Response, ApiError> {
    let master = config::master_key(env)?;
    let idp = config::effective_idp(env, &master)?;
    let oidc = idp
        .oidc_enabled()
        .then(|| json!({"issuer": idp.oidc_issuer, "client_id": idp.oidc_audience}));
    let body = json!({
        "okta": idp.okta_enabled(),
        "oidc": oidc,
        "export": {
            "allowed": config::ALLOW_EXPORT.read(env)?,
            "max_login_age_seconds": config::EXPORT_MAX_LOGIN_AGE_SECONDS.read(env)?,
        },
    });
    Ok(Response::json(200, &body).with_header("cache-control", "no-store"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_the_issuers_origin_only() {
        assert_eq!(
            origin("https://accounts.example.com/tenant/v2?x=1"),
            Some("https://accounts.example.com")
        );
        assert_eq!(
            origin("http://127.0.0.1:8080"),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin("javascript:alert(1)"), None);
        assert_eq!(origin("https://idp.example; report-uri https://x"), None);
        assert_eq!(origin("https://user@idp.example"), None);
        assert!(
            policy("https://idp.example/x")
                .contains("connect-src 'self' https: https://idp.example;")
        );
        assert!(policy("").contains("script-src 'self';"));
    }
}
