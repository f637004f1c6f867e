//! Authentication and the per-project rate limit (docs/shield.md, "Design: authentication" and
//! "Design: rate limit").

use shield_core::api_secret;

use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult};
use crate::store::{Project, Provider};
use crate::util::header;
use guest_kit::ratelimit::{FixedWindow, OnStoreFailure, Refusal};

use crate::{Ctx, config};

/// The bucket of `/register`, `/storage-methods` and unknown API keys.
pub(crate) const PUBLIC_BUCKET: &str = "public";

/// docs/shield.md, "Design: rate limit": counts this request in `bucket`'s fixed window; 429 over the limit.
pub(crate) fn rate_limit(ctx: &Ctx<'_, '_>, bucket: &str) -> ApiResult<()> {
    let limit = config::RATE_LIMIT_REQUESTS.read(ctx.env)?;
    if limit == 0 {
        return Ok(());
    }
    let rule = FixedWindow {
        limit,
        window_ms: i64::try_from(config::RATE_LIMIT_WINDOW_MS.read(ctx.env)?).unwrap_or(i64::MAX),
        // Counted in the shield database, whose failure fails the request anyway.
        on_store_failure: OnStoreFailure::Refuse,
    };
    rule.check(&ctx.store, bucket, ctx.env.now_ms)
        .map_err(|refusal| match refusal {
            Refusal::Limited { retry_after_secs } => ApiError::rate_limited(retry_after_secs),
            Refusal::StoreFailed => ApiError::internal("rate limit store"),
        })
}

fn project_bucket(project: &Project) -> String {
    format!("project:{}", project.id)
}

/// Resolves `X-API-Key` (docs/shield.md, "Design: authentication" first steps) and counts the request.
fn resolve_api_key(ctx: &Ctx<'_, '_>, check_secret_present: bool) -> ApiResult<Project> {
    let api_key = header(ctx.req, "x-api-key").ok_or_else(ApiError::missing_api_key)?;
    if check_secret_present && header(ctx.req, "x-api-secret").is_none() {
        return Err(ApiError::missing_api_secret());
    }
    if !check_secret_present && header(ctx.req, "x-auth-provider").is_none() {
        return Err(ApiError::missing_auth_provider());
    }
    match ctx.store.project_by_api_key(&api_key)? {
        Some(project) => {
            if check_secret_present {
                // Not yet the actor: the secret is still to be checked.
                rate_limit(ctx, &project_bucket(&project))
                    .inspect_err(|_| claimed(ctx, &project))?;
            } else {
                // A publishable key: the project is all a user request claims until the
                // identity provider has answered.
                ctx.env.audit.actor(&project_actor(&project));
                rate_limit(ctx, &project_bucket(&project))?;
            }
            Ok(project)
        }
        None => {
            rate_limit(ctx, PUBLIC_BUCKET)?;
            Err(ApiError::invalid_api_key())
        }
    }
}

/// The audit actor of a project's own requests (API key and secret).
fn project_actor(project: &Project) -> String {
    format!("project={}", project.id)
}

/// A refused project request records the project its API key named, apart from the actor: the
/// key alone does not prove who sent it.
fn claimed(ctx: &Ctx<'_, '_>, project: &Project) {
    ctx.env.audit.detail("claimed_project", project.id.as_str());
}

/// docs/shield.md, "Design: authentication" PS: API key + secret.
pub(crate) fn project_auth(ctx: &Ctx<'_, '_>) -> ApiResult<Project> {
    let project = resolve_api_key(ctx, true)?;
    let secret = header(ctx.req, "x-api-secret").ok_or_else(ApiError::missing_api_secret)?;
    if !api_secret::verify(&secret, &project.api_secret_sha256) {
        claimed(ctx, &project);
        return Err(ApiError::invalid_api_key());
    }
    ctx.env.audit.actor(&project_actor(&project));
    Ok(project)
}

/// docs/shield.md, "Design: authentication": `X-Operator-Token` on `/register` when `register_token` is set.
pub(crate) fn operator_auth(ctx: &Ctx<'_, '_>) -> ApiResult<()> {
    let configured = ctx.var("register_token").unwrap_or_default();
    if configured.is_empty() {
        ctx.env.audit.actor("anonymous");
        return Ok(());
    }
    let presented =
        header(ctx.req, "x-operator-token").ok_or_else(ApiError::missing_operator_token)?;
    if !api_secret::operator_token_matches(&presented, &configured) {
        return Err(ApiError::invalid_operator_token());
    }
    ctx.env.audit.actor("operator");
    Ok(())
}

/// `X-Auth-Provider` → the project's provider of that type (401 `Invalid auth provider`).
pub(crate) fn auth_provider(ctx: &Ctx<'_, '_>, project: &Project) -> ApiResult<Provider> {
    let name = header(ctx.req, "x-auth-provider").ok_or_else(ApiError::missing_auth_provider)?;
    let kind = match name.as_str() {
        "custom" => "CUSTOM",
        "openfort" => "OPENFORT",
        _ => return Err(ApiError::invalid_auth_provider()),
    };
    ctx.store
        .provider_by_type(&project.id, kind)?
        .ok_or_else(ApiError::invalid_auth_provider)
}

/// The authenticated caller of a share route.
pub(crate) struct Caller {
    pub project: Project,
    pub user_id: String,
    pub external_id: String,
}

/// docs/shield.md, "Design: authentication" U: API key (no secret), provider, token → internal user (created on first sight).
pub(crate) fn user_auth(ctx: &Ctx<'_, '_>) -> ApiResult<Caller> {
    let project = resolve_api_key(ctx, false)?;
    let provider = auth_provider(ctx, &project)?;
    let token = token(ctx, &provider).ok_or_else(ApiError::invalid_token)?;
    let external_id = crate::identity::identify(ctx, &provider, &token)
        .map_err(|()| ApiError::invalid_token())?;
    // The id an identity provider asserts is stored like any other (docs/shield.md, "Limits").
    crate::limits::check("token subject", Some(&external_id), crate::limits::USER_ID)?;
    // The identity provider has answered: the request's transaction begins here, never across
    // the outbound call (on SQLite it holds the write lock).
    ctx.store.begin()?;
    let user_id =
        ctx.store
            .get_or_create_user(&project.id, &provider.id, &external_id, ctx.env.now_ms)?;
    ctx.env
        .audit
        .actor(&format!("{} user={user_id}", project_actor(&project)));
    Ok(Caller {
        project,
        user_id,
        external_id,
    })
}

/// docs/shield.md, "Design: authentication": the cookie named by a CUSTOM provider's `cookie_field_name`, else `Authorization`'s
/// second space-separated part.
fn token(ctx: &Ctx<'_, '_>, provider: &Provider) -> Option<String> {
    let authorization = ctx.req.header_str("authorization").unwrap_or("");
    let cookie_name = provider
        .cookie_field_name
        .as_deref()
        .filter(|c| provider.kind == "CUSTOM" && !c.is_empty());
    if let Some(name) = cookie_name {
        if !authorization.is_empty() {
            return None;
        }
        return ctx.req.header_all("cookie").find_map(|raw| {
            let raw = std::str::from_utf8(raw).ok()?;
            raw.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k.trim() == name && !v.is_empty()).then(|| v.trim_matches('"').to_owned())
            })
        });
    }
    let parts: Vec<&str> = authorization.split(' ').collect();
    match parts.as_slice() {
        [_, token] if !token.is_empty() => Some((*token).to_owned()),
        _ => None,
    }
}
