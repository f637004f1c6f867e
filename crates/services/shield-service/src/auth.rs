//! Authentication and the rate limits around it (docs/shield.md, "Design: authentication" and
//! "Design: rate limit").

use shield_core::api_secret;

use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult};
use crate::store::{Project, Provider};
use crate::util::header;
use guest_kit::config::Integer;
use guest_kit::net;
use guest_kit::ratelimit::{FixedWindow, OnStoreFailure, Refusal};
use sha2::{Digest as _, Sha256};

use crate::{Ctx, config};

/// docs/shield.md, "Design: rate limit": the fixed window of `limit` requests, or `None` when
/// `rate_limit_requests` (which turns every shield limit off at 0) or `limit` is 0.
fn window(ctx: &Ctx<'_, '_>, limit: Integer) -> ApiResult<Option<FixedWindow>> {
    let all = config::RATE_LIMIT_REQUESTS.read(ctx.env)?;
    let limit = limit.read(ctx.env)?;
    if all == 0 || limit == 0 {
        return Ok(None);
    }
    Ok(Some(FixedWindow {
        limit,
        window_ms: i64::try_from(config::RATE_LIMIT_WINDOW_MS.read(ctx.env)?).unwrap_or(i64::MAX),
        // Counted in the shield database, whose failure fails the request anyway.
        on_store_failure: OnStoreFailure::Refuse,
    }))
}

/// Counts this request in `bucket`'s fixed window of `limit`; 429 over it, the audit record
/// naming which budget (`why`) was spent.
fn count(ctx: &Ctx<'_, '_>, limit: Integer, bucket: &str, why: &str) -> ApiResult<()> {
    let Some(rule) = window(ctx, limit)? else {
        return Ok(());
    };
    rule.check(&ctx.store, bucket, ctx.env.now_ms)
        .map_err(|refusal| match refusal {
            Refusal::Limited { retry_after_secs } => {
                ctx.env.audit.detail("rate_limited", why);
                ApiError::rate_limited(retry_after_secs)
            }
            Refusal::StoreFailed => ApiError::internal("rate limit store"),
        })
}

/// The request's client address bucket (docs/shield.md, "Design: rate limit"): the peer, or
/// behind a proxy listed in `shield_trusted_proxies` the client its `X-Forwarded-For` names
/// (docs/platform.md, "Design: client addresses"). An invalid list is 503 `NOT_CONFIGURED`.
fn address_bucket(ctx: &Ctx<'_, '_>) -> ApiResult<String> {
    let list = config::TRUSTED_PROXIES.read(ctx.env);
    let trusted = net::parse_cidr_list(&list).map_err(|entry| {
        ApiError::not_configured(format!(
            "shield_trusted_proxies must list addresses or CIDR blocks; {entry:?} is neither"
        ))
    })?;
    let client = net::client_address(ctx.req, &trusted)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    Ok(format!("addr:{client}"))
}

/// `/register` and `/storage-methods`: counted against the client address, never a project
/// (docs/shield.md, "Design: rate limit").
pub(crate) fn rate_limit_public(ctx: &Ctx<'_, '_>) -> ApiResult<()> {
    let bucket = address_bucket(ctx)?;
    count(ctx, config::RATE_LIMIT_REQUESTS, &bucket, "client_address")
}

/// Authentication behind its client address's budget (docs/shield.md, "Design: rate limit"):
/// an address that has used it up this window is refused before anything is verified; a
/// failed authentication (401) is counted against the address, never against the project its
/// API key names. A successful one costs the address nothing.
fn guarded<T>(ctx: &Ctx<'_, '_>, authenticate: impl FnOnce() -> ApiResult<T>) -> ApiResult<T> {
    let Some(rule) = window(ctx, config::RATE_LIMIT_REQUESTS)? else {
        return authenticate();
    };
    let bucket = address_bucket(ctx)?;
    let now = ctx.env.now_ms;
    let window_start = now
        .div_euclid(rule.window_ms)
        .saturating_mul(rule.window_ms);
    let used = ctx.store.request_count(&bucket, window_start)?;
    if u64::try_from(used).unwrap_or(0) >= rule.limit {
        ctx.env.audit.detail("rate_limited", "client_address");
        let remaining_ms = rule.window_ms - now.rem_euclid(rule.window_ms);
        let secs = u64::try_from(remaining_ms.saturating_add(999) / 1000).unwrap_or(1);
        return Err(ApiError::rate_limited(secs.max(1)));
    }
    let outcome = authenticate();
    if matches!(&outcome, Err(e) if e.status == 401) {
        // Past the limit the next attempt is refused above; this one's answer stands.
        let _ = rule.check(&ctx.store, &bucket, now);
    }
    outcome
}

/// An authenticated request counts against its user (`rate_limit_user_requests`), then, only
/// if the user is within it, against its project (`rate_limit_requests`): one user cannot spend
/// more than their share of the project's budget (docs/shield.md, "Design: rate limit").
fn count_authenticated(ctx: &Ctx<'_, '_>, project: &Project, user_bucket: &str) -> ApiResult<()> {
    count(ctx, config::RATE_LIMIT_USER_REQUESTS, user_bucket, "user")?;
    count(
        ctx,
        config::RATE_LIMIT_REQUESTS,
        &format!("project:{}", project.id),
        "project",
    )
}

/// The bucket of one provider's user of a project; the external id only as a digest.
fn user_bucket(project: &Project, provider: &Provider, external_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(provider.id.as_bytes())
        .chain_update([0])
        .chain_update(external_id.as_bytes())
        .finalize();
    let digest = hex::encode(digest);
    format!(
        "user:{}:{}",
        project.id,
        digest.get(..32).unwrap_or_default()
    )
}

/// Resolves `X-API-Key` (docs/shield.md, "Design: authentication" first steps).
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
            // With a secret, not yet the actor: the secret is still to be checked. A
            // publishable key: the project is all a user request claims until the identity
            // provider has answered.
            if !check_secret_present {
                ctx.env.audit.actor(&project_actor(&project));
            }
            Ok(project)
        }
        None => Err(ApiError::invalid_api_key()),
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

/// docs/shield.md, "Design: authentication" PS: API key + secret, then the rate limit
/// ("Design: rate limit": the secret holder is the project's user).
pub(crate) fn project_auth(ctx: &Ctx<'_, '_>) -> ApiResult<Project> {
    let project = guarded(ctx, || verify_project(ctx))?;
    count_authenticated(ctx, &project, &format!("secret:{}", project.id))?;
    Ok(project)
}

/// PS itself: the project whose secret the request holds.
fn verify_project(ctx: &Ctx<'_, '_>) -> ApiResult<Project> {
    let project = resolve_api_key(ctx, true)?;
    let secret = header(ctx.req, "x-api-secret").ok_or_else(ApiError::missing_api_secret)?;
    match api_secret::check(&secret, &project.api_secret_sha256) {
        api_secret::Check::Match => {}
        api_secret::Check::MatchUpgrade(digest) => {
            // An imported bcrypt secret, checked once: its fast digest replaces it in this
            // request's transaction (docs/shield.md, "Design: import from upstream Shield").
            ctx.store.begin()?;
            ctx.store
                .upgrade_api_secret(&project.id, &project.api_secret_sha256, &digest)?;
            ctx.env.audit.detail("api_secret_upgraded", "bcrypt");
        }
        api_secret::Check::Mismatch => {
            claimed(ctx, &project);
            return Err(ApiError::invalid_api_key());
        }
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
    let (project, provider, external_id) = guarded(ctx, || {
        let project = resolve_api_key(ctx, false)?;
        let provider = auth_provider(ctx, &project)?;
        let token = token(ctx, &provider).ok_or_else(ApiError::invalid_token)?;
        let external_id = crate::identity::identify(ctx, &provider, &token)
            .map_err(|()| ApiError::invalid_token())?;
        Ok((project, provider, external_id))
    })?;
    // The id an identity provider asserts is stored like any other (docs/shield.md, "Limits").
    crate::limits::check("token subject", Some(&external_id), crate::limits::USER_ID)?;
    // Counted only now that the token is verified (docs/shield.md, "Design: rate limit").
    count_authenticated(
        ctx,
        &project,
        &user_bucket(&project, &provider, &external_id),
    )?;
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
