//! Shares on the wire and the share routes (user auth), plus getting the project key K from a part
//! or a session (docs/shield.md, "Design: shares on the wire", "Design: share routes",
//! "Design: the project key" and "Design: encryption sessions").

use guest_kit::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use shield_core::validate::DEFAULT_REFERENCE;
use shield_core::{
    Entropy, InvalidPart, Key, PasskeyEnv, PasskeyReference, ShareInput, project_key, share_cipher,
    validate_share,
};
use zeroize::Zeroizing;

use crate::Ctx;
use crate::auth::{Caller, user_auth};
use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult};
use crate::limits::{self, check};
use crate::store::{EncryptionKey, NewShare, SessionUse, Share, ShareContent};
use crate::util::{header, non_empty, parse_body, uuid_v4};

// ---- the project key ----

fn combine(db_part: &str, part: &str, kcv: Option<&str>) -> ApiResult<Key> {
    project_key(db_part, part, kcv).map_err(|e: InvalidPart| {
        if e.is_db_part_fault() {
            ApiError::internal("stored DB part is unusable")
        } else {
            ApiError::invalid_part()
        }
    })
}

/// The project's stored key half; none → 409.
fn stored_key(ctx: &Ctx<'_, '_>, project_id: &str) -> ApiResult<EncryptionKey> {
    ctx.store
        .encryption_key(project_id)?
        .ok_or_else(ApiError::encryption_not_configured)
}

/// K from an explicit part (`/project/encrypt`, session creation): no key → 409, absent or
/// wrong part → 400.
pub(crate) fn key_from_part(
    ctx: &Ctx<'_, '_>,
    project_id: &str,
    part: Option<String>,
) -> ApiResult<Key> {
    let stored = stored_key(ctx, project_id)?;
    let part = part.ok_or_else(ApiError::invalid_part)?;
    combine(&stored.db_part, &part, stored.key_check.as_deref())
}

/// How an audit record names an encryption session: by a digest, never by its id, which stands
/// in for the encryption part until it is used.
pub(crate) fn session_label(session_id: &str) -> String {
    let digest = hex::encode(Sha256::digest(session_id.as_bytes()));
    format!("session:{}", digest.get(..16).unwrap_or_default())
}

/// K for a share operation: the part wins over the session; a session is consumed here, once.
/// Neither → `missing`.
pub(crate) fn obtain_key(
    ctx: &Ctx<'_, '_>,
    project_id: &str,
    part: Option<String>,
    session: Option<String>,
) -> ApiResult<Key> {
    let stored = stored_key(ctx, project_id)?;
    if let Some(part) = part {
        return combine(&stored.db_part, &part, stored.key_check.as_deref());
    }
    let Some(session) = session else {
        return Err(ApiError::part_required());
    };
    // The session is used (or refused) by this request.
    ctx.env
        .audit
        .detail("encryption_session", session_label(&session));
    let part = ctx
        .store
        .session_part(SessionUse::Consume, &session, project_id, ctx.env.now_ms)?
        .ok_or_else(ApiError::invalid_session)?;
    combine(&stored.db_part, &part, stored.key_check.as_deref())
}

/// Lazily obtained K for reads, from `X-Encryption-Part` / `X-Encryption-Session`.
struct ReadKey<'c, 'e, 'a> {
    ctx: &'c Ctx<'e, 'a>,
    project_id: String,
    /// The project has 2FA: a session must have been created with a code (docs/shield.md, "Design: OTP and 2FA").
    otp_gate: bool,
    key: Option<Key>,
}

impl<'c, 'e, 'a> ReadKey<'c, 'e, 'a> {
    fn new(ctx: &'c Ctx<'e, 'a>, project: &crate::store::Project) -> Self {
        Self {
            ctx,
            project_id: project.id.clone(),
            otp_gate: project.enable_2fa,
            key: None,
        }
    }

    fn secret(&mut self, share: &Share) -> ApiResult<Zeroizing<String>> {
        if share.entropy != Entropy::Project.as_str() {
            return Ok(share.data.clone());
        }
        let key = match self.key.take() {
            Some(k) => k,
            None => {
                let part = header(self.ctx.req, "x-encryption-part");
                let session = header(self.ctx.req, "x-encryption-session");
                if let Some(s) = session
                    .as_deref()
                    .filter(|_| self.otp_gate && part.is_none())
                {
                    crate::otp::require_verified_session(self.ctx, &self.project_id, s)?;
                }
                obtain_key(self.ctx, &self.project_id, part, session)?
            }
        };
        let plain = share_cipher::decrypt(&key, &share.data)
            .map_err(|_| ApiError::internal("share decryption failed"));
        self.key = Some(key);
        plain
    }
}

// ---- wire format ----

#[derive(Deserialize, Default)]
pub(crate) struct EnvBody {
    pub name: Option<String>,
    pub os: Option<String>,
    #[serde(rename = "osVersion")]
    pub os_version: Option<String>,
    pub device: Option<String>,
}

impl EnvBody {
    /// The limits of a passkey environment given in a body (docs/shield.md, "Limits").
    pub fn check(&self) -> ApiResult<()> {
        check(
            "PasskeyEnv.name",
            self.name.as_deref(),
            limits::PASSKEY_FIELD,
        )?;
        check("PasskeyEnv.os", self.os.as_deref(), limits::PASSKEY_FIELD)?;
        check(
            "PasskeyEnv.osVersion",
            self.os_version.as_deref(),
            limits::PASSKEY_FIELD,
        )?;
        check(
            "PasskeyEnv.device",
            self.device.as_deref(),
            limits::PASSKEY_FIELD,
        )
    }

    pub fn to_env(&self) -> PasskeyEnv {
        PasskeyEnv::new(
            self.name.as_deref(),
            self.os.as_deref(),
            self.os_version.as_deref(),
            self.device.as_deref(),
        )
    }
}

#[derive(Deserialize)]
pub(crate) struct PasskeyRefBody {
    passkey_id: Option<String>,
    #[serde(rename = "PasskeyEnv")]
    passkey_env: Option<EnvBody>,
}

/// A share on the wire, input (docs/shield.md, "Design: shares on the wire").
#[derive(Deserialize)]
pub(crate) struct ShareBody {
    secret: Option<String>,
    entropy: Option<String>,
    salt: Option<String>,
    iterations: Option<i64>,
    length: Option<i64>,
    digest: Option<String>,
    encryption_part: Option<String>,
    encryption_session: Option<String>,
    reference: Option<String>,
    storage_method_id: Option<i64>,
    passkey_reference: Option<PasskeyRefBody>,
    keychain_id: Option<String>,
}

/// A validated share write.
pub(crate) struct ShareWrite {
    input: ShareInput,
    entropy: Entropy,
    reference: String,
    keychain_id: Option<String>,
    /// For passkey entropy: id and env (explicit or derived from `User-Agent`).
    passkey: Option<(String, PasskeyEnv)>,
}

fn env_json(env: &PasskeyEnv) -> Value {
    json!({"name": env.name, "os": env.os, "osVersion": env.os_version, "device": env.device})
}

/// The limits of a share body (docs/shield.md, "Limits"), before anything is validated.
fn check_share_body(body: &ShareBody) -> ApiResult<()> {
    check("secret", body.secret.as_deref(), limits::SECRET)?;
    check("salt", body.salt.as_deref(), limits::SHARE_PARAM)?;
    check("digest", body.digest.as_deref(), limits::SHARE_PARAM)?;
    check("reference", body.reference.as_deref(), limits::REFERENCE)?;
    check(
        "keychain_id",
        body.keychain_id.as_deref(),
        limits::KEYCHAIN_ID,
    )?;
    if let Some(p) = &body.passkey_reference {
        check("passkey_id", p.passkey_id.as_deref(), limits::PASSKEY_FIELD)?;
        if let Some(env) = &p.passkey_env {
            env.check()?;
        }
    }
    Ok(())
}

/// A `User-Agent`-derived environment with any over-long component replaced by `unknown`: the
/// parser's output is not contractual, so a long header costs the caller nothing but detail.
fn bounded(env: PasskeyEnv) -> PasskeyEnv {
    let keep = |v: &str| Some(v.to_owned()).filter(|v| v.len() <= limits::PASSKEY_FIELD);
    PasskeyEnv::new(
        keep(&env.name).as_deref(),
        keep(&env.os).as_deref(),
        keep(&env.os_version).as_deref(),
        keep(&env.device).as_deref(),
    )
}

/// Parses and validates a POST/PUT share body (docs/shield.md, "Design: shares on the wire" validator, then the passkey env).
pub(crate) fn parse_share(ctx: &Ctx<'_, '_>) -> ApiResult<ShareWrite> {
    let body: ShareBody = parse_body(&ctx.req.body)?;
    check_share_body(&body)?;
    let explicit_env = body
        .passkey_reference
        .as_ref()
        .and_then(|p| p.passkey_env.as_ref())
        .map(EnvBody::to_env);
    let input = ShareInput {
        secret: body.secret.map(Zeroizing::new),
        entropy: body.entropy,
        salt: body.salt,
        iterations: body.iterations,
        length: body.length,
        digest: body.digest,
        encryption_part: body.encryption_part.map(Zeroizing::new),
        encryption_session: body.encryption_session,
        reference: body.reference,
        storage_method_id: body.storage_method_id,
        passkey_reference: body.passkey_reference.map(|p| PasskeyReference {
            passkey_id: p.passkey_id,
            passkey_env: None,
        }),
    }
    .normalize();
    let entropy = validate_share(&input).map_err(|e| ApiError::bad_request(e.message()))?;
    let passkey = if entropy == Entropy::Passkey {
        let id = input
            .passkey_reference
            .as_ref()
            .and_then(|p| p.passkey_id.clone())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "passkey_reference must contain passkey_id if entropy is passkey",
                )
            })?;
        let env = match explicit_env {
            Some(env) => env,
            None => {
                if ctx.req.header_count("user-agent") > 1 {
                    return Err(ApiError::bad_request(
                        "header User-Agent needs to be defined exactly once",
                    ));
                }
                bounded(crate::ua::passkey_env(ctx.req.header_str("user-agent")))
            }
        };
        Some((id, env))
    } else {
        None
    };
    Ok(ShareWrite {
        reference: input
            .reference
            .clone()
            .unwrap_or_else(|| DEFAULT_REFERENCE.to_owned()),
        keychain_id: non_empty(body.keychain_id),
        input,
        entropy,
        passkey,
    })
}

/// A share on the wire, output (docs/shield.md, "Design: shares on the wire"): `""`/0 omitted, never `encryption_*`.
pub(crate) fn share_json(share: &Share, secret: &str) -> Value {
    let mut v = json!({
        "secret": secret,
        "entropy": share.entropy,
        "reference": share.reference,
        "keychain_id": share.keychain_id,
    });
    set_stored_user_params(&mut v, share);
    if share.storage_method_id != 0 {
        crate::util::set(&mut v, "storage_method_id", share.storage_method_id);
    }
    set_stored_passkey(&mut v, share);
    v
}

/// Sets the user-entropy parameters that are given, in wire order.
fn set_user_params(
    v: &mut Value,
    salt: Option<&str>,
    iterations: Option<i64>,
    length: Option<i64>,
    digest: Option<&str>,
) {
    if let Some(s) = salt {
        crate::util::set(v, "salt", s);
    }
    if let Some(i) = iterations {
        crate::util::set(v, "iterations", i);
    }
    if let Some(l) = length {
        crate::util::set(v, "length", l);
    }
    if let Some(d) = digest {
        crate::util::set(v, "digest", d);
    }
}

/// A stored share's user-entropy parameters on the wire: `""` and 0 are omitted.
pub(crate) fn set_stored_user_params(v: &mut Value, share: &Share) {
    set_user_params(
        v,
        share.salt.as_deref().filter(|s| !s.is_empty()),
        share.iterations.filter(|i| *i != 0),
        share.length.filter(|l| *l != 0),
        share.digest.as_deref().filter(|d| !d.is_empty()),
    );
}

/// A stored share's `passkey_reference`, when it has a passkey.
pub(crate) fn set_stored_passkey(v: &mut Value, share: &Share) {
    if let Some(id) = share.passkey_id.as_deref() {
        crate::util::set(
            v,
            "passkey_reference",
            passkey_reference_json(id, share.passkey_env.as_deref()),
        );
    }
}

pub(crate) fn passkey_reference_json(id: &str, stored_env: Option<&str>) -> Value {
    let env = stored_env.map_or(Value::Null, |e| env_json(&PasskeyEnv::from_stored(e)));
    json!({"passkey_id": id, "PasskeyEnv": env})
}

// ---- routes ----

fn empty(status: u16) -> ApiResult<Response> {
    Ok(Response::new(status).with_header("content-type", "application/json"))
}

/// POST /shares for `user_id` (also `/admin/preregister`).
pub(crate) fn create_share(
    ctx: &Ctx<'_, '_>,
    project_id: &str,
    user_id: &str,
) -> ApiResult<Response> {
    let w = parse_share(ctx)?;
    ctx.env.audit.object(&w.reference);
    let keychain = ctx
        .store
        .keychain_of(user_id)?
        .ok_or_else(|| ApiError::internal("user without keychain"))?;
    if w.keychain_id.as_ref().is_some_and(|k| *k != keychain) {
        return Err(ApiError::bad_request("invalid keychain_id"));
    }
    if ctx
        .store
        .reference_taken(project_id, user_id, &w.reference)?
    {
        // A same-content retry answers what the first write answered (docs/shield.md,
        // "Design: share routes", retries).
        return retry(ctx, project_id, user_id, &keychain, &w);
    }
    let data = share_data(ctx, project_id, &w)?;
    let id = uuid_v4()?;
    let env = w.stored_env();
    let new = NewShare {
        id: &id,
        project_id,
        user_id,
        keychain_id: &keychain,
        reference: &w.reference,
        storage_method_id: w.input.storage_method_id.unwrap_or(0),
        content: w.content(&data, env.as_deref()),
    };
    if !ctx.store.insert_share(&new, ctx.env.now_ms)? {
        return Err(ApiError::share_exists());
    }
    record_receipt(ctx, &id, &w)?;
    empty(201)
}

/// A write through an encryption session leaves a receipt for its retry, which finds the
/// session consumed (docs/shield.md, "Design: share routes", retries).
fn record_receipt(ctx: &Ctx<'_, '_>, share_id: &str, w: &ShareWrite) -> ApiResult<()> {
    let (Some(session), Some(secret), None) = (
        w.input.encryption_session.as_deref(),
        w.input.secret.as_deref(),
        w.input.encryption_part.as_ref(),
    ) else {
        return Ok(());
    };
    if w.entropy != Entropy::Project {
        return Ok(());
    }
    let receipt = shield_core::retry::receipt(session, share_id, secret.as_bytes());
    let now = ctx.env.now_ms;
    ctx.store
        .insert_share_receipt(share_id, &receipt, now, now + crate::SESSION_TTL_MS)
}

/// A POST whose reference is taken (docs/shield.md, "Design: share routes", retries): 201, as
/// the first write answered, when the caller's own share with that reference is exactly what
/// this request would have stored; else 409 `SH_EXISTS`.
fn retry(
    ctx: &Ctx<'_, '_>,
    project_id: &str,
    user_id: &str,
    keychain: &str,
    w: &ShareWrite,
) -> ApiResult<Response> {
    let Some(existing) = ctx.store.user_share(user_id, &w.reference)? else {
        return Err(ApiError::share_exists());
    };
    let env = w.stored_env();
    // The fields as the first write stored them ("" stands for the data, compared below).
    let wanted = w.content("", env.as_deref());
    let same_fields = existing.keychain_id == keychain
        && existing.storage_method_id == w.input.storage_method_id.unwrap_or(0)
        && existing.entropy == wanted.entropy
        && existing.salt.as_deref() == wanted.salt
        && existing.iterations == wanted.iterations
        && existing.length == wanted.length
        && existing.digest.as_deref() == wanted.digest
        && existing.passkey_id.as_deref() == wanted.passkey_id
        && existing.passkey_env.as_deref() == wanted.passkey_env;
    let Some(secret) = w.input.secret.as_deref() else {
        return Err(ApiError::share_exists());
    };
    let same = same_fields
        && if w.entropy == Entropy::Project {
            same_project_secret(ctx, project_id, &existing, w, secret)?
        } else {
            shield_core::retry::same_secret(existing.data.as_bytes(), secret.as_bytes())
        };
    if !same {
        return Err(ApiError::share_exists());
    }
    ctx.env.audit.detail("retry", "same_content");
    empty(201)
}

/// Whether a `project` share holds `secret`, shown by what the retry carries: its part (K
/// decrypts the share); its session's receipt (the session wrote this share and is consumed);
/// or a live session, which the retry then consumes. Anything that cannot show it is `false`.
fn same_project_secret(
    ctx: &Ctx<'_, '_>,
    project_id: &str,
    existing: &Share,
    w: &ShareWrite,
    secret: &str,
) -> ApiResult<bool> {
    let decrypts_to_secret = |key: &Key| {
        share_cipher::decrypt(key, &existing.data)
            .is_ok_and(|plain| shield_core::retry::same_secret(plain.as_bytes(), secret.as_bytes()))
    };
    let Some(stored) = ctx.store.encryption_key(project_id)? else {
        return Ok(false);
    };
    let kcv = stored.key_check.as_deref();
    if let Some(part) = w.input.encryption_part.as_ref() {
        return Ok(project_key(&stored.db_part, part, kcv).is_ok_and(|k| decrypts_to_secret(&k)));
    }
    let Some(session) = w.input.encryption_session.as_deref() else {
        return Ok(false);
    };
    let now = ctx.env.now_ms;
    if let Some(receipt) = ctx.store.share_receipt(&existing.id, now)?
        && shield_core::retry::receipt_matches(session, &existing.id, secret.as_bytes(), &receipt)
    {
        ctx.env
            .audit
            .detail("encryption_session", session_label(session));
        return Ok(true);
    }
    let Some(part) = ctx
        .store
        .session_part(SessionUse::Peek, session, project_id, now)?
    else {
        return Ok(false);
    };
    if !project_key(&stored.db_part, &part, kcv).is_ok_and(|k| decrypts_to_secret(&k)) {
        return Ok(false);
    }
    // The session served this request: single use, as for any write.
    obtain_key(ctx, project_id, None, Some(session.to_owned()))?;
    Ok(true)
}

impl ShareWrite {
    /// The passkey environment as the share row stores it.
    fn stored_env(&self) -> Option<String> {
        self.passkey.as_ref().map(|(_, e)| e.to_stored())
    }

    /// What the share holds after this write: `data` (see [`share_data`]), the user parameters
    /// only with `user` entropy, the passkey only with `passkey` entropy.
    fn content<'a>(&'a self, data: &'a str, stored_env: Option<&'a str>) -> ShareContent<'a> {
        let user = self.entropy == Entropy::User;
        ShareContent {
            entropy: self.entropy.as_str(),
            data,
            salt: self.input.salt.as_deref().filter(|_| user),
            iterations: self.input.iterations.filter(|_| user),
            length: self.input.length.filter(|_| user),
            digest: self.input.digest.as_deref().filter(|_| user),
            passkey_id: self.passkey.as_ref().map(|(id, _)| id.as_str()),
            passkey_env: stored_env,
        }
    }
}

/// What is stored: the secret, or for `project` entropy its AES-GCM encryption under K.
fn share_data(ctx: &Ctx<'_, '_>, project_id: &str, w: &ShareWrite) -> ApiResult<Zeroizing<String>> {
    let secret = w
        .input
        .secret
        .clone()
        .ok_or_else(|| ApiError::bad_request("secret is required"))?;
    if w.entropy != Entropy::Project {
        return Ok(secret);
    }
    let key = obtain_key(
        ctx,
        project_id,
        w.input.encryption_part.as_ref().map(|p| p.to_string()),
        w.input.encryption_session.clone(),
    )?;
    share_cipher::encrypt(&key, &secret)
        .map(Zeroizing::new)
        .map_err(|_| ApiError::internal("share encryption"))
}

/// /shares: GET, POST, PUT, DELETE.
pub(crate) fn shares(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action(match ctx.req.method.as_str() {
        "POST" => "share.store",
        "PUT" => "share.update",
        "DELETE" => "share.delete",
        _ => "share.read",
    });
    if matches!(ctx.req.method.as_str(), "GET" | "DELETE") {
        ctx.env.audit.object(DEFAULT_REFERENCE);
    }
    let caller = user_auth(ctx)?;
    match ctx.req.method.as_str() {
        "POST" => create_share(ctx, &caller.project.id, &caller.user_id),
        "PUT" => update_share(ctx, &caller),
        "DELETE" => delete_share(ctx, &caller, DEFAULT_REFERENCE),
        _ => {
            let share = ctx
                .store
                .user_share(&caller.user_id, DEFAULT_REFERENCE)?
                .ok_or_else(ApiError::share_not_found)?;
            read_share(ctx, &caller, &share)
        }
    }
}

fn read_share(ctx: &Ctx<'_, '_>, caller: &Caller, share: &Share) -> ApiResult<Response> {
    let secret = ReadKey::new(ctx, &caller.project).secret(share)?;
    Ok(Response::json(200, &share_json(share, &secret)))
}

fn update_share(ctx: &Ctx<'_, '_>, caller: &Caller) -> ApiResult<Response> {
    let w = parse_share(ctx)?;
    ctx.env.audit.object(&w.reference);
    let existing = ctx
        .store
        .user_share(&caller.user_id, &w.reference)?
        .ok_or_else(ApiError::share_not_found)?;
    let data = share_data(ctx, &caller.project.id, &w)?;
    let env = w.stored_env();
    let content = w.content(&data, env.as_deref());
    if !ctx
        .store
        .update_share(&existing.id, &content, ctx.env.now_ms)?
    {
        return Err(ApiError::share_not_found());
    }
    // The parsed request echoed (docs/shield.md, "Design: share routes").
    let secret = w.input.secret.as_deref().map(String::as_str).unwrap_or("");
    let mut v = json!({"secret": secret, "entropy": w.entropy.as_str()});
    set_user_params(
        &mut v,
        content.salt,
        content.iterations,
        content.length,
        content.digest,
    );
    if let Some(r) = w.input.reference.as_deref() {
        crate::util::set(&mut v, "reference", r);
    }
    if let Some(m) = w.input.storage_method_id.filter(|m| *m != 0) {
        crate::util::set(&mut v, "storage_method_id", m);
    }
    if let Some(k) = w.keychain_id.as_deref() {
        crate::util::set(&mut v, "keychain_id", k);
    }
    if let Some((id, env)) = &w.passkey {
        crate::util::set(
            &mut v,
            "passkey_reference",
            json!({"passkey_id": id, "PasskeyEnv": env_json(env)}),
        );
    }
    Ok(Response::json(200, &v))
}

fn delete_share(ctx: &Ctx<'_, '_>, caller: &Caller, reference: &str) -> ApiResult<Response> {
    let keychain = ctx
        .store
        .keychain_of(&caller.user_id)?
        .ok_or_else(ApiError::share_not_found)?;
    if !ctx
        .store
        .delete_share(&caller.user_id, &keychain, reference)?
    {
        return Err(ApiError::share_not_found());
    }
    ctx.env.audit.erased();
    empty(204)
}

/// GET /shares/encryption.
pub(crate) fn share_encryption(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("share.read_encryption");
    ctx.env.audit.object(DEFAULT_REFERENCE);
    let caller = user_auth(ctx)?;
    let share = ctx
        .store
        .user_share(&caller.user_id, DEFAULT_REFERENCE)?
        .ok_or_else(ApiError::share_not_found)?;
    let mut v = json!({"entropy": share.entropy});
    if share.entropy == Entropy::User.as_str() {
        set_user_params(
            &mut v,
            share.salt.as_deref(),
            share.iterations,
            share.length,
            share.digest.as_deref(),
        );
    }
    Ok(Response::json(200, &v))
}

/// The project's share `reference` visible to the caller (docs/shield.md, "Design: share routes" GET /shares/{reference}).
fn visible_share(ctx: &Ctx<'_, '_>, caller: &Caller, reference: &str) -> ApiResult<Option<Share>> {
    if reference == DEFAULT_REFERENCE {
        return ctx.store.user_share(&caller.user_id, DEFAULT_REFERENCE);
    }
    let Some(share) = ctx.store.project_share(&caller.project.id, reference)? else {
        return Ok(None);
    };
    let linked = ctx
        .store
        .linked_user_ids(&caller.project.id, &caller.external_id)?;
    Ok(linked.contains(&share.user_id).then_some(share))
}

/// GET / DELETE /shares/{reference}.
pub(crate) fn share_by_reference(ctx: &Ctx<'_, '_>, reference: &str) -> ApiResult<Response> {
    ctx.env.audit.action(if ctx.req.method == "DELETE" {
        "share.delete"
    } else {
        "share.read"
    });
    ctx.env.audit.object(reference);
    let caller = user_auth(ctx)?;
    if ctx.req.method == "DELETE" {
        return delete_share(ctx, &caller, reference);
    }
    let share = visible_share(ctx, &caller, reference)?.ok_or_else(ApiError::share_not_found)?;
    read_share(ctx, &caller, &share)
}

/// GET /keychain[?reference=R].
pub(crate) fn keychain(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("keychain.list");
    let reference =
        crate::util::query_param(ctx.req.query(), "reference").filter(|r| !r.is_empty());
    if let Some(r) = &reference {
        ctx.env.audit.object(r);
    }
    let caller = user_auth(ctx)?;
    let mut shares = ctx.store.user_shares(&caller.user_id)?;
    if let Some(r) = reference {
        shares.retain(|s| s.reference == r);
        if shares.is_empty() {
            return Err(ApiError::share_not_found());
        }
    }
    let mut key = ReadKey::new(ctx, &caller.project);
    let mut out = Vec::with_capacity(shares.len());
    for share in &shares {
        let secret = key.secret(share)?;
        out.push(share_json(share, &secret));
    }
    ctx.env.audit.detail("shares", out.len());
    Ok(Response::json(200, &json!({ "shares": out })))
}
