//! The public and project routes (docs/shield.md, "Design: routes").

use guest_kit::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use shield_core::{api_secret, generate_project_key, share_cipher};

use crate::auth::{operator_auth, project_auth, rate_limit_public};
use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult};
use crate::limits::{self, check, check_provider};
use crate::store::Provider;
use crate::util::{non_empty, parse_body, uuid_v4};
use crate::{Ctx, SESSION_TTL_MS};

fn json(status: u16, v: &Value) -> ApiResult<Response> {
    Ok(Response::json(status, v))
}

fn empty(status: u16) -> ApiResult<Response> {
    Ok(Response::new(status).with_header("content-type", "application/json"))
}

#[derive(Deserialize)]
struct RegisterBody {
    name: Option<String>,
    generate_encryption_key: Option<bool>,
    enable_2fa: Option<bool>,
}

/// POST /register.
pub(crate) fn register(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("project.create");
    rate_limit_public(ctx)?;
    operator_auth(ctx)?;
    let body: RegisterBody = parse_body(&ctx.req.body)?;
    check("name", body.name.as_deref(), limits::PROJECT_NAME)?;
    let name = body.name.unwrap_or_default();
    let id = uuid_v4()?;
    ctx.env.audit.object(&id);
    let api_key = uuid_v4()?;
    let (secret, digest) =
        api_secret::generate().map_err(|_| ApiError::internal("random number generator"))?;
    let now = ctx.env.now_ms;
    let two_fa = body.enable_2fa == Some(true);
    let mut out = json!({
        "id": id, "name": name, "api_key": api_key, "api_secret": secret.as_str(), "enabled_2fa": two_fa,
    });
    let store = &ctx.store;
    // One transaction (the request's) holds both rows: the project never exists without the key
    // it was created with.
    store.insert_project(&id, &name, &api_key, &digest, now)?;
    if two_fa {
        store.enable_2fa(&id, now)?;
        ctx.env.audit.detail("enable_2fa", true);
    }
    if body.generate_encryption_key == Some(true) {
        let key =
            generate_project_key().map_err(|_| ApiError::internal("random number generator"))?;
        store.insert_encryption_key(&id, &key.db_part, &key.key_check, now)?;
        ctx.env.audit.detail("encryption_key", true);
        crate::util::set(
            &mut out,
            "encryption_part",
            Value::from(key.encryption_part.as_str()),
        );
    }
    json(201, &out)
}

/// GET /storage-methods.
pub(crate) fn storage_methods(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    rate_limit_public(ctx)?;
    let methods: Vec<Value> = shield_core::StorageMethod::ALL
        .iter()
        .map(|m| json!({"id": m.id(), "name": m.name()}))
        .collect();
    json(200, &json!({ "methods": methods }))
}

/// GET /project.
pub(crate) fn get_project(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("project.read");
    let p = project_auth(ctx)?;
    ctx.env.audit.object(&p.id);
    json(
        200,
        &json!({"id": p.id, "name": p.name, "enabled_2fa": p.enable_2fa}),
    )
}

/// POST /project/reset-api-secret: 501 (as upstream).
pub(crate) fn reset_secret(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    // Recorded when refused (authentication, rate limit); the 501 itself changes nothing and,
    // as every 5xx, leaves no record.
    ctx.env.audit.action("project.rotate_secret");
    let p = project_auth(ctx)?;
    ctx.env.audit.object(&p.id);
    Err(ApiError::not_implemented())
}

#[derive(Deserialize)]
struct ProvidersBody {
    providers: Option<ProvidersConfig>,
}

#[derive(Deserialize)]
struct ProvidersConfig {
    openfort: Option<OpenfortConfig>,
    custom: Option<CustomConfig>,
}

#[derive(Deserialize)]
struct OpenfortConfig {
    publishable_key: Option<String>,
}

#[derive(Deserialize)]
struct CustomConfig {
    jwk: Option<String>,
    pem: Option<String>,
    key_type: Option<String>,
    cookie_field_name: Option<String>,
}

/// The stored CUSTOM provider settings' limits (docs/shield.md, "Limits").
fn check_custom(jwk: Option<&str>, pem: Option<&str>, cookie: Option<&str>) -> ApiResult<()> {
    check_provider("jwk", jwk, limits::JWK_URL)?;
    check_provider("pem", pem, limits::PEM)?;
    check_provider("cookie_field_name", cookie, limits::COOKIE_FIELD_NAME)
}

fn provider_summary(p: &Provider) -> Value {
    json!({"provider_id": p.id, "type": p.kind})
}

fn provider_detail(p: &Provider) -> Value {
    if p.kind == "OPENFORT" {
        return json!({
            "provider_id": p.id, "type": p.kind,
            "publishable_key": p.publishable_key.clone().unwrap_or_default(),
        });
    }
    let mut v = json!({
        "provider_id": p.id, "type": p.kind,
        "cookie_field_name": p.cookie_field_name.clone().unwrap_or_default(),
    });
    if let Some(jwk) = p.jwk_url.as_deref().filter(|s| !s.is_empty()) {
        crate::util::set(&mut v, "jwk", jwk);
    }
    if let Some(pem) = p.pem.as_deref().filter(|s| !s.is_empty()) {
        crate::util::set(&mut v, "pem", pem);
    }
    if let Some(kt) = p.key_type.as_deref().filter(|s| !s.is_empty()) {
        crate::util::set(&mut v, "key_type", kt);
    }
    v
}

/// GET / POST /project/providers.
pub(crate) fn providers(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    let listing = ctx.req.method == "GET";
    ctx.env.audit.action(if listing {
        "provider.list"
    } else {
        "provider.add"
    });
    let project = project_auth(ctx)?;
    if listing {
        ctx.env.audit.object(&project.id);
        let list: Vec<Value> = ctx
            .store
            .providers(&project.id)?
            .iter()
            .map(provider_summary)
            .collect();
        return json(200, &json!({ "providers": list }));
    }
    let body: ProvidersBody = parse_body(&ctx.req.body)?;
    let asked = ProvidersAsked::from_body(body.providers.as_ref())?;
    let now = ctx.env.now_ms;
    let existing = ctx.store.providers(&project.id)?;
    let new = asked.into_providers(&project.id, &existing)?;
    let ids: Vec<&str> = new.iter().map(|p| p.id.as_str()).collect();
    ctx.env.audit.object(&ids.join(","));
    let kinds: Vec<&str> = new.iter().map(|p| p.kind.as_str()).collect();
    ctx.env.audit.detail("types", kinds.join(","));
    ctx.store.tx(&project.id, now, || {
        for p in &new {
            if !ctx.store.insert_provider(p, now)? {
                return Err(ApiError::provider_exists());
            }
        }
        Ok(())
    })?;
    let list: Vec<Value> = new.iter().map(provider_summary).collect();
    json(200, &json!({ "providers": list }))
}

/// The providers a POST /project/providers body asks for, within the limits; `""` = absent.
struct ProvidersAsked {
    openfort_pk: Option<String>,
    jwk: Option<String>,
    pem: Option<String>,
    key_type: Option<String>,
    cookie_field_name: Option<String>,
}

impl ProvidersAsked {
    fn from_body(config: Option<&ProvidersConfig>) -> ApiResult<Self> {
        let openfort_pk = config
            .and_then(|c| c.openfort.as_ref())
            .and_then(|o| non_empty(o.publishable_key.clone()));
        let custom = config.and_then(|c| c.custom.as_ref());
        check_provider(
            "publishable_key",
            openfort_pk.as_deref(),
            limits::PUBLISHABLE_KEY,
        )?;
        if let Some(c) = custom {
            check_custom(
                c.jwk.as_deref(),
                c.pem.as_deref(),
                c.cookie_field_name.as_deref(),
            )?;
        }
        let field =
            |f: fn(&CustomConfig) -> &Option<String>| custom.and_then(|c| non_empty(f(c).clone()));
        Ok(Self {
            openfort_pk,
            jwk: field(|c| &c.jwk),
            pem: field(|c| &c.pem),
            key_type: field(|c| &c.key_type),
            cookie_field_name: field(|c| &c.cookie_field_name),
        })
    }

    /// The new providers, checked against the project's `existing` ones: at most one of each
    /// type, a CUSTOM provider with a JWKS URL or a PEM key (with its type), not both.
    fn into_providers(self, project_id: &str, existing: &[Provider]) -> ApiResult<Vec<Provider>> {
        let has = |kind: &str| existing.iter().any(|p| p.kind == kind);
        if self.openfort_pk.is_some() && has("OPENFORT") {
            return Err(ApiError::provider_exists());
        }
        if self.jwk.is_some() && self.pem.is_some() {
            return Err(ApiError::jwk_and_pem());
        }
        let custom_asked = self.jwk.is_some() || self.pem.is_some();
        if custom_asked && has("CUSTOM") {
            return Err(ApiError::provider_exists());
        }
        if let Some(pem) = self.pem.as_deref() {
            valid_pem_key(pem, self.key_type.as_deref())?;
        }
        let mut new = Vec::new();
        if let Some(pk) = self.openfort_pk {
            new.push(Provider {
                id: uuid_v4()?,
                project_id: project_id.to_owned(),
                kind: "OPENFORT".into(),
                publishable_key: Some(pk),
                jwk_url: None,
                pem: None,
                key_type: None,
                cookie_field_name: None,
            });
        }
        if custom_asked {
            new.push(Provider {
                id: uuid_v4()?,
                project_id: project_id.to_owned(),
                kind: "CUSTOM".into(),
                publishable_key: None,
                key_type: if self.pem.is_some() {
                    self.key_type
                } else {
                    None
                },
                jwk_url: self.jwk,
                pem: self.pem,
                cookie_field_name: self.cookie_field_name,
            });
        }
        if new.is_empty() {
            return Err(ApiError::provider_missing());
        }
        Ok(new)
    }
}

/// A PEM public key given with its key type: the type must be one shield verifies and the key
/// must parse as that type.
fn valid_pem_key<'k>(pem: &str, key_type: Option<&'k str>) -> ApiResult<&'k str> {
    let kt = key_type
        .filter(|k| matches!(*k, "rsa" | "ecdsa" | "ed25519"))
        .ok_or_else(|| ApiError::provider_config("Missing key type"))?;
    if !crate::identity::pem_valid(pem, kt) {
        return Err(ApiError::provider_config("Invalid PEM certificate"));
    }
    Ok(kt)
}

#[derive(Deserialize)]
struct ProviderUpdate {
    publishable_key: Option<String>,
    jwk: Option<String>,
    pem: Option<String>,
    key_type: Option<String>,
    cookie_field_name: Option<String>,
}

/// GET / PUT / DELETE /project/providers/{provider}.
pub(crate) fn provider(ctx: &Ctx<'_, '_>, id: &str) -> ApiResult<Response> {
    ctx.env.audit.action(match ctx.req.method.as_str() {
        "GET" => "provider.read",
        "DELETE" => "provider.remove",
        _ => "provider.update",
    });
    ctx.env.audit.object(id);
    let project = project_auth(ctx)?;
    let mut p = ctx
        .store
        .provider(&project.id, id)?
        .ok_or_else(ApiError::provider_not_found)?;
    match ctx.req.method.as_str() {
        "GET" => json(200, &provider_detail(&p)),
        "DELETE" => {
            ctx.store.tx(&project.id, ctx.env.now_ms, || {
                ctx.store.delete_provider(&project.id, &p.id)
            })?;
            empty(200)
        }
        _ => {
            let body: ProviderUpdate = parse_body(&ctx.req.body)?;
            check_provider(
                "publishable_key",
                body.publishable_key.as_deref(),
                limits::PUBLISHABLE_KEY,
            )?;
            check_custom(
                body.jwk.as_deref(),
                body.pem.as_deref(),
                body.cookie_field_name.as_deref(),
            )?;
            if p.kind == "OPENFORT" {
                update_openfort(&mut p, body)?;
            } else {
                update_custom(&mut p, body)?;
            }
            ctx.store.update_provider(&p, ctx.env.now_ms)?;
            empty(200)
        }
    }
}

/// PUT on an OPENFORT provider: only its publishable key may change.
fn update_openfort(p: &mut Provider, body: ProviderUpdate) -> ApiResult<()> {
    let foreign = non_empty(body.jwk).is_some()
        || non_empty(body.pem).is_some()
        || non_empty(body.key_type).is_some()
        || body
            .cookie_field_name
            .as_deref()
            .is_some_and(|c| !c.is_empty());
    if foreign {
        return Err(ApiError::provider_config("Invalid provider config"));
    }
    if let Some(pk) = non_empty(body.publishable_key) {
        p.publishable_key = Some(pk);
    }
    Ok(())
}

/// PUT on a CUSTOM provider: a JWKS URL or a PEM key (with its type) replaces the other; the
/// cookie field name when given (`""` clears it).
fn update_custom(p: &mut Provider, body: ProviderUpdate) -> ApiResult<()> {
    if non_empty(body.publishable_key).is_some() {
        return Err(ApiError::provider_config("Invalid provider config"));
    }
    let jwk = non_empty(body.jwk);
    let pem = non_empty(body.pem);
    if jwk.is_some() && pem.is_some() {
        return Err(ApiError::jwk_and_pem());
    }
    if let Some(jwk) = jwk {
        p.jwk_url = Some(jwk);
        p.pem = None;
        p.key_type = None;
    }
    if let Some(pem) = pem {
        let kt = valid_pem_key(&pem, non_empty(body.key_type).as_deref())?.to_owned();
        p.pem = Some(pem);
        p.key_type = Some(kt);
        p.jwk_url = None;
    }
    if let Some(c) = body.cookie_field_name {
        p.cookie_field_name = non_empty(Some(c));
    }
    Ok(())
}

/// POST /project/encryption-key.
pub(crate) fn encryption_key(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("encryption_part.register");
    let project = project_auth(ctx)?;
    ctx.env.audit.object(&project.id);
    if ctx.store.encryption_key(&project.id)?.is_some() {
        return Err(ApiError::key_exists());
    }
    let key = generate_project_key().map_err(|_| ApiError::internal("random number generator"))?;
    if !ctx.store.insert_encryption_key(
        &project.id,
        &key.db_part,
        &key.key_check,
        ctx.env.now_ms,
    )? {
        return Err(ApiError::key_exists());
    }
    json(
        200,
        &json!({"encryption_part": key.encryption_part.as_str()}),
    )
}

#[derive(Deserialize)]
struct PartBody {
    encryption_part: Option<String>,
}

/// POST /project/encrypt: every `none` share without user parameters becomes `project`.
pub(crate) fn encrypt(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("project.encrypt");
    let project = project_auth(ctx)?;
    ctx.env.audit.object(&project.id);
    let body: PartBody = parse_body(&ctx.req.body)?;
    let key = crate::shares::key_from_part(ctx, &project.id, non_empty(body.encryption_part))?;
    let now = ctx.env.now_ms;
    let converted = ctx.store.tx(&project.id, now, || {
        let mut converted = 0u64;
        for share in ctx.store.project_shares_with_entropy(&project.id, "none")? {
            let has_user_params = share.salt.is_some()
                || share.iterations.is_some()
                || share.length.is_some()
                || share.digest.is_some();
            if has_user_params {
                continue;
            }
            let data = share_cipher::encrypt(&key, &share.data)
                .map_err(|_| ApiError::internal("share encryption"))?;
            ctx.store.convert_to_project(&share.id, &data, now)?;
            converted += 1;
        }
        Ok(converted)
    })?;
    ctx.env.audit.detail("shares_encrypted", converted);
    empty(200)
}

#[derive(Deserialize)]
struct SessionBody {
    encryption_part: Option<String>,
    user_id: Option<String>,
    /// Checked on projects with 2FA (docs/shield.md, "Design: OTP and 2FA").
    otp_code: Option<String>,
}

/// POST /project/encryption-session.
pub(crate) fn encryption_session(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("encryption_session.create");
    let project = project_auth(ctx)?;
    let body: SessionBody = parse_body(&ctx.req.body)?;
    check("user_id", body.user_id.as_deref(), limits::USER_ID)?;
    let part = non_empty(body.encryption_part);
    // Validates the part against the stored DB part and key-check value (kw).
    let _key = crate::shares::key_from_part(ctx, &project.id, part.clone())?;
    let part = part.ok_or_else(ApiError::invalid_part)?;
    let user_id = non_empty(body.user_id);
    // After the part's check, so a wrong part does not cost the user their code.
    let otp_verified = project.enable_2fa
        && crate::otp::verify_for_session(
            ctx,
            &project.id,
            user_id.as_deref(),
            body.otp_code.as_deref(),
        )?;
    let id = uuid_v4()?;
    // The session id stands in for the encryption part until it is used: the record names it
    // by a digest, which the share request that uses it records too.
    ctx.env.audit.object(&crate::shares::session_label(&id));
    ctx.store.insert_session(
        &id,
        &project.id,
        &part,
        user_id.as_deref(),
        ctx.env.now_ms,
        SESSION_TTL_MS,
    )?;
    if otp_verified {
        ctx.store.mark_session_otp_verified(&id)?;
    }
    json(200, &json!({"session_id": id}))
}

#[derive(Deserialize)]
struct UserBody {
    external_user_id: Option<String>,
    provider_id: Option<String>,
}

/// POST /user: get-or-create the internal user for (provider, external id).
pub(crate) fn create_user(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("user.create");
    let project = project_auth(ctx)?;
    let body: UserBody = parse_body(&ctx.req.body)?;
    check(
        "external_user_id",
        body.external_user_id.as_deref(),
        limits::USER_ID,
    )?;
    check("provider_id", body.provider_id.as_deref(), limits::USER_ID)?;
    let external = non_empty(body.external_user_id)
        .ok_or_else(|| ApiError::bad_request("external_user_id is required"))?;
    let provider_id = non_empty(body.provider_id)
        .ok_or_else(|| ApiError::bad_request("provider_id is required"))?;
    let provider = ctx
        .store
        .provider(&project.id, &provider_id)?
        .ok_or_else(ApiError::provider_not_found)?;
    ctx.env.audit.detail("provider", provider.id.as_str());
    let user_id =
        ctx.store
            .get_or_create_user(&project.id, &provider.id, &external, ctx.env.now_ms)?;
    ctx.env.audit.object(&user_id);
    json(201, &json!({"user_id": user_id}))
}
