//! Bulk lookups, migration and preregistration, all with project auth (docs/shield.md,
//! "Design: bulk lookups and migration" and "Design: authentication").

use std::collections::BTreeMap;

use guest_kit::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use shield_core::validate::DEFAULT_REFERENCE;
use shield_core::{Entropy, StorageMethod};

use crate::Ctx;
use crate::auth::{auth_provider, project_auth};
use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult};
use crate::limits::{self, check};
use crate::shares::{
    EnvBody, create_share, passkey_reference_json, set_stored_passkey, set_stored_user_params,
};
use crate::store::{NewShare, Share, ShareContent};
use crate::util::{header, non_empty, parse_body, uuid_v4};

const MAX_BULK: usize = 100;

fn too_many() -> ApiError {
    ApiError::bad_request("Requests with more than 100 elements are not allowed")
}

/// A bulk request's list (absent = empty): at most [`MAX_BULK`] elements, each within `max`.
fn bulk_list(list: Option<Vec<String>>, field: &str, max: usize) -> ApiResult<Vec<String>> {
    let list = list.unwrap_or_default();
    if list.len() > MAX_BULK {
        return Err(too_many());
    }
    for item in &list {
        check(field, Some(item), max)?;
    }
    Ok(list)
}

fn found(share: &Share) -> Value {
    let mut v = json!({"status": "found", "encryption_type": share.entropy});
    if let Some(id) = share.passkey_id.as_deref() {
        let r = passkey_reference_json(id, share.passkey_env.as_deref());
        crate::util::set(&mut v, "passkey_id", id);
        if let Some(env) = r.get("PasskeyEnv").filter(|e| !e.is_null()) {
            crate::util::set(&mut v, "passkey_env", env.clone());
        }
    }
    v
}

fn not_found() -> Value {
    json!({"status": "not-found"})
}

#[derive(Deserialize)]
struct ReferenceBulk {
    references: Option<Vec<String>>,
}

/// POST /shares/encryption/reference/bulk.
pub(crate) fn bulk_reference(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("share.lookup_references");
    let project = project_auth(ctx)?;
    ctx.env.audit.object(&project.id);
    let body: ReferenceBulk = parse_body(&ctx.req.body)?;
    let refs = bulk_list(body.references, "references", limits::REFERENCE)?;
    let mut out = BTreeMap::new();
    for r in refs {
        if out.contains_key(&r) {
            continue;
        }
        let entry = if r == DEFAULT_REFERENCE || r.is_empty() {
            not_found()
        } else {
            ctx.store
                .project_share(&project.id, &r)?
                .map_or_else(not_found, |s| found(&s))
        };
        out.insert(r, entry);
    }
    ctx.env.audit.detail("references", out.len());
    Ok(Response::json(200, &json!({"encryption_types": out})))
}

#[derive(Deserialize)]
struct UserBulk {
    user_ids: Option<Vec<String>>,
    reference: Option<String>,
}

/// POST /shares/encryption/user/bulk.
pub(crate) fn bulk_user(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("share.lookup_users");
    let project = project_auth(ctx)?;
    ctx.env.audit.object(&project.id);
    let body: UserBulk = parse_body(&ctx.req.body)?;
    let ids = bulk_list(body.user_ids, "user_ids", limits::USER_ID)?;
    check("reference", body.reference.as_deref(), limits::REFERENCE)?;
    let reference = non_empty(body.reference);
    let mut out = BTreeMap::new();
    for ext in ids {
        if out.contains_key(&ext) {
            continue;
        }
        let mut candidates: Vec<Share> = Vec::new();
        for user in ctx.store.linked_user_ids(&project.id, &ext)? {
            candidates.extend(ctx.store.user_shares(&user)?);
        }
        let pick = match reference.as_deref() {
            Some(r) => candidates.iter().find(|s| s.reference == r),
            None => candidates
                .iter()
                .find(|s| s.reference == DEFAULT_REFERENCE)
                .or_else(|| candidates.first()),
        };
        out.insert(ext, pick.map_or_else(not_found, found));
    }
    ctx.env.audit.detail("users", out.len());
    Ok(Response::json(200, &json!({"encryption_types": out})))
}

/// GET /shares/migration/export/{reference}.
pub(crate) fn export(ctx: &Ctx<'_, '_>, reference: &str) -> ApiResult<Response> {
    ctx.env.audit.action("share.export");
    ctx.env.audit.object(reference);
    let project = project_auth(ctx)?;
    if reference == DEFAULT_REFERENCE {
        return Err(ApiError::bad_request("reference must not be default"));
    }
    let share = ctx
        .store
        .project_share(&project.id, reference)?
        .filter(|s| s.entropy != Entropy::Project.as_str())
        .ok_or_else(ApiError::share_not_found)?;
    let mut v = json!({
        "secret": share.data.as_str(),
        "entropy": share.entropy,
        "reference": share.reference,
        "storage_method_id": share.storage_method_id,
    });
    set_stored_user_params(&mut v, &share);
    set_stored_passkey(&mut v, &share);
    Ok(Response::json(200, &v))
}

#[derive(Deserialize)]
struct ImportBody {
    user_id: Option<String>,
    secret: Option<String>,
    entropy: Option<String>,
    salt: Option<String>,
    iterations: Option<i64>,
    length: Option<i64>,
    digest: Option<String>,
    reference: Option<String>,
    storage_method_id: Option<i64>,
    passkey_reference: Option<EnvBody>,
}

/// POST /shares/migration/import.
pub(crate) fn import(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("share.import");
    let project = project_auth(ctx)?;
    let body: ImportBody = parse_body(&ctx.req.body)?;
    check("user_id", body.user_id.as_deref(), limits::USER_ID)?;
    check("secret", body.secret.as_deref(), limits::SECRET)?;
    check("salt", body.salt.as_deref(), limits::SHARE_PARAM)?;
    check("digest", body.digest.as_deref(), limits::SHARE_PARAM)?;
    check("reference", body.reference.as_deref(), limits::REFERENCE)?;
    if let Some(env) = &body.passkey_reference {
        env.check()?;
    }
    let secret =
        non_empty(body.secret).ok_or_else(|| ApiError::bad_request("secret is required"))?;
    let user_id = non_empty(body.user_id).unwrap_or_default();
    if user_id.is_empty() || !ctx.store.user_in_project(&project.id, &user_id)? {
        return Err(ApiError::user_not_found());
    }
    let entropy = match non_empty(body.entropy) {
        None => Entropy::None,
        Some(e) => Entropy::parse(&e).ok_or_else(|| ApiError::bad_request("invalid entropy"))?,
    };
    let storage = body.storage_method_id.unwrap_or(0);
    if StorageMethod::from_id(storage).is_none() {
        return Err(ApiError::bad_request("invalid storage method"));
    }
    let reference = non_empty(body.reference).unwrap_or_else(|| DEFAULT_REFERENCE.to_owned());
    ctx.env.audit.object(&reference);
    ctx.env.audit.detail("user", user_id.as_str());
    let keychain = ctx
        .store
        .keychain_of(&user_id)?
        .ok_or_else(|| ApiError::internal("user without keychain"))?;
    if ctx
        .store
        .reference_taken(&project.id, &user_id, &reference)?
    {
        return Err(ApiError::share_exists());
    }
    let (passkey_id, passkey_env) = if entropy == Entropy::Passkey {
        (
            Some(uuid_v4()?),
            body.passkey_reference.map(|e| e.to_env().to_stored()),
        )
    } else {
        (None, None)
    };
    let id = uuid_v4()?;
    let salt = non_empty(body.salt);
    let digest = non_empty(body.digest);
    let new = NewShare {
        id: &id,
        project_id: &project.id,
        user_id: &user_id,
        keychain_id: &keychain,
        reference: &reference,
        storage_method_id: storage,
        content: ShareContent {
            entropy: entropy.as_str(),
            data: &secret,
            salt: salt.as_deref(),
            iterations: body.iterations.filter(|i| *i != 0),
            length: body.length.filter(|l| *l != 0),
            digest: digest.as_deref(),
            passkey_id: passkey_id.as_deref(),
            passkey_env: passkey_env.as_deref(),
        },
    };
    if !ctx.store.insert_share(&new, ctx.env.now_ms)? {
        return Err(ApiError::share_exists());
    }
    Ok(Response::new(201).with_header("content-type", "application/json"))
}

/// POST /admin/preregister: PS, then `X-User-ID` (external id) and `X-Auth-Provider`.
pub(crate) fn preregister(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("share.preregister");
    let project = project_auth(ctx)?;
    let external = header(ctx.req, "x-user-id").ok_or_else(ApiError::user_id_missing)?;
    check("X-User-ID", Some(&external), limits::USER_ID)?;
    let provider = auth_provider(ctx, &project)?;
    let user_id = ctx
        .store
        .get_or_create_user(&project.id, &provider.id, &external, ctx.env.now_ms)
        .map_err(|e| {
            if e.status == 500 {
                ApiError::prereg_failed()
            } else {
                e
            }
        })?;
    ctx.env.audit.detail("user", user_id.as_str());
    create_share(ctx, &project.id, &user_id)
}
