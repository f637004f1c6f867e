//! 2FA and one-time passwords as upstream Shield has them (docs/shield.md, "Design: OTP and
//! 2FA"): `POST /project/enable-2fa`, `POST /project/otp` (codes delivered through a signed
//! webhook), the code check when an encryption session is created (`otp_code`), and the 428
//! gate on reading `project` shares through a session that was not created with a code.

use guest_kit::{OutboundRequest, Response};
use serde::Deserialize;
use serde_json::json;
use shield_core::otp as core;

use crate::auth::project_auth;
use crate::error::{ApiError, ApiResult};
use crate::limits::{self, check};
use crate::util::{non_empty, parse_body, uuid_v4};
use crate::{Ctx, OUTBOUND_TIMEOUT_MS, config};

/// A code lives this long (upstream: 5 minutes).
pub const OTP_TTL_MS: i64 = 5 * 60 * 1000;
/// Wrong guesses that invalidate a code (upstream: 3).
pub const MAX_FAILED_ATTEMPTS: i64 = 3;
/// Invalidated codes after which a user gets no new code … (upstream: 3)
pub const MAX_INVALIDATIONS: i64 = 3;
/// … within this window (upstream: 6 hours).
pub const INVALIDATION_WINDOW_MS: i64 = 6 * 60 * 60 * 1000;
/// The per-project send limits count in fixed clock hours.
const HOUR_MS: i64 = 60 * 60 * 1000;
/// The header that carries the webhook signature.
pub const SIGNATURE_HEADER: &str = "X-Keyward-Signature";

// Upstream's codes and messages (docs/shield.md, "Design: OTP and 2FA").
fn otp_required() -> ApiError {
    ApiError::new(428, "OTP_MISSING", "OTP is required for this request")
}
fn otp_not_sent() -> ApiError {
    ApiError::new(
        400,
        "OTP_REQUESTED_BUT_NOT_SENT",
        "OTP was requested but not sent",
    )
}
fn otp_expired() -> ApiError {
    ApiError::new(422, "OTP_EXPIRED", "OTP is expired")
}
fn otp_invalid() -> ApiError {
    ApiError::new(400, "OTP_INVALID", "Received otp is invalid")
}
fn otp_invalidated() -> ApiError {
    ApiError::new(
        400,
        "OTP_INVALIDATED",
        "OTP invalidated after max failed attempts",
    )
}
fn otp_rate_limited(retry_after_secs: Option<i64>) -> ApiError {
    let e = ApiError::new(429, "OTP_RATE_LIMIT", "Rate limit exceeded to generate OTP");
    match retry_after_secs {
        Some(s) => e.with_header("retry-after", s.max(1).to_string()),
        None => e,
    }
}
fn not_supported() -> ApiError {
    ApiError::new(400, "OTP_NOT_SUPPORTED", "Project doesn't support 2FA")
}
fn already_enabled() -> ApiError {
    ApiError::new(
        409,
        "OTP_ALREADY_ENABLED",
        "Project already has 2FA enabled",
    )
}
fn contacts_mismatch() -> ApiError {
    ApiError::new(
        400,
        "USER_CONTACTS_MISMATCH",
        "User contact information mismatch",
    )
}
fn no_delivery() -> ApiError {
    ApiError::new(
        503,
        "MISSING_NOTIFICATION_SERV",
        "Missing notification service: set otp_webhook_url and otp_webhook_secret",
    )
}
fn delivery_failed() -> ApiError {
    ApiError::new(502, "OTP_DELIVERY_FAILED", "The OTP could not be delivered")
}

fn empty(status: u16) -> ApiResult<Response> {
    Ok(Response::new(status).with_header("content-type", "application/json"))
}

/// POST /project/enable-2fa: 200, or 409 when 2FA is on already. 2FA cannot be turned off
/// (as upstream).
pub(crate) fn enable_2fa(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("project.enable_2fa");
    let p = project_auth(ctx)?;
    ctx.env.audit.object(&p.id);
    if !ctx.store.enable_2fa(&p.id, ctx.env.now_ms)? {
        return Err(already_enabled());
    }
    empty(200)
}

#[derive(Deserialize)]
struct OtpBody {
    user_id: Option<String>,
    dangerously_skip_verification: Option<bool>,
    email: Option<String>,
    phone: Option<String>,
}

/// Where a code goes.
enum Channel {
    Email(String),
    Sms(String),
}

impl Channel {
    fn name(&self) -> &'static str {
        match self {
            Channel::Email(_) => "email",
            Channel::Sms(_) => "sms",
        }
    }
}

/// POST /project/otp (PS). Runs without the request transaction until the code has been
/// delivered, so no write lock is held across the webhook call (docs/shield.md, "Design: OTP
/// and 2FA").
pub(crate) fn request_otp(ctx: &Ctx<'_, '_>) -> ApiResult<Response> {
    ctx.env.audit.action("project.otp");
    let p = project_auth(ctx)?;
    ctx.env.audit.object(&p.id);
    let body: OtpBody = parse_body(&ctx.req.body)?;
    check("user_id", body.user_id.as_deref(), limits::USER_ID)?;
    check("email", body.email.as_deref(), limits::CONTACT)?;
    check("phone", body.phone.as_deref(), limits::CONTACT)?;
    let skip = body.dangerously_skip_verification == Some(true);
    // Upstream's parameter rule: a user id; with skip no contact, else exactly one.
    let user_id = non_empty(body.user_id);
    let channel = match (user_id.as_ref(), skip, body.email, body.phone) {
        (Some(_), true, None, None) => None,
        (Some(_), false, Some(e), None) => Some(Channel::Email(e)),
        (Some(_), false, None, Some(ph)) => Some(Channel::Sms(ph)),
        _ => return Err(ApiError::bad_request("invalid parameters were passed")),
    };
    let user_id = user_id.ok_or_else(|| ApiError::bad_request("invalid parameters were passed"))?;
    if !p.enable_2fa {
        return Err(not_supported());
    }
    ctx.env.audit.detail("user_id", user_id.as_str());
    ctx.env.audit.detail(
        "channel",
        channel
            .as_ref()
            .map_or("none (skip verification)", Channel::name),
    );
    let now = ctx.env.now_ms;
    let invalidated =
        ctx.store
            .otp_invalidations_since(&p.id, &user_id, now - INVALIDATION_WINDOW_MS)?;
    if invalidated >= MAX_INVALIDATIONS {
        return Err(otp_rate_limited(None));
    }
    let code = core::generate_code().map_err(|_| rng())?;
    let mut contact_digests = (None, None);
    if let Some(channel) = &channel {
        contact_digests = check_contact(ctx, &p.id, &user_id, channel)?;
        let (url, secret) = webhook(ctx)?;
        count_send(ctx, &p.id, channel)?;
        deliver(ctx, &url, &secret, &p.id, &user_id, channel, &code)?;
    }
    // Delivered (or nothing to deliver): from here on the request's transaction.
    ctx.store.begin()?;
    let salt = core::new_salt().map_err(|_| rng())?;
    let digest = core::code_digest(&salt, &p.id, &user_id, &code);
    ctx.store
        .put_otp(&p.id, &user_id, &salt, &digest, skip, now, now + OTP_TTL_MS)?;
    if channel.is_some() {
        let (email, phone) = contact_digests;
        let stored =
            ctx.store
                .save_contact(&p.id, &user_id, email.as_deref(), phone.as_deref(), now)?;
        // A racing request may have recorded another address first.
        if let Some(stored) = stored
            && (differs(email.as_deref(), stored.email.as_deref())
                || differs(phone.as_deref(), stored.phone.as_deref()))
        {
            return Err(contacts_mismatch());
        }
    }
    empty(200)
}

fn rng() -> ApiError {
    use crate::error::Shield as _;
    ApiError::internal("random number generator")
}

/// Whether a new digest contradicts the stored one.
fn differs(new: Option<&str>, stored: Option<&str>) -> bool {
    matches!((new, stored), (Some(n), Some(s)) if !core::digest_matches(n, s))
}

/// Checks the address and that it is the one the user has used before (contacts are stored as
/// upstream's SHA-512 hex); its (email, phone) digests.
fn check_contact(
    ctx: &Ctx<'_, '_>,
    project_id: &str,
    user_id: &str,
    channel: &Channel,
) -> ApiResult<(Option<String>, Option<String>)> {
    let digests = match channel {
        Channel::Email(e) => {
            if !core::valid_email(e) {
                return Err(ApiError::new(
                    400,
                    "EMAIL_INVALID",
                    "Provided Email is invalid",
                ));
            }
            (Some(core::contact_digest(e)), None)
        }
        Channel::Sms(ph) => {
            if !core::valid_phone(ph) {
                return Err(ApiError::new(
                    400,
                    "PHONE_INVALID",
                    "Provided phone number is invalid",
                ));
            }
            (None, Some(core::contact_digest(ph)))
        }
    };
    if let Some(stored) = ctx.store.contacts(project_id, user_id)?
        && (differs(digests.0.as_deref(), stored.email.as_deref())
            || differs(digests.1.as_deref(), stored.phone.as_deref()))
    {
        return Err(contacts_mismatch());
    }
    Ok(digests)
}

/// The webhook's URL and secret, both required to send.
fn webhook(ctx: &Ctx<'_, '_>) -> ApiResult<(String, String)> {
    let url = config::OTP_WEBHOOK_URL.read(ctx.env);
    let secret = config::OTP_WEBHOOK_SECRET.read(ctx.env);
    if url.is_empty() || secret.is_empty() {
        return Err(no_delivery());
    }
    Ok((url, secret))
}

/// Counts one send in the project's hourly budget for the channel; 429 over it.
fn count_send(ctx: &Ctx<'_, '_>, project_id: &str, channel: &Channel) -> ApiResult<()> {
    let limit = match channel {
        Channel::Email(_) => config::OTP_EMAIL_PER_HOUR.read(ctx.env)?,
        Channel::Sms(_) => config::OTP_SMS_PER_HOUR.read(ctx.env)?,
    };
    let now = ctx.env.now_ms;
    let window = now - now.rem_euclid(HOUR_MS);
    let count = ctx
        .store
        .count_otp_send(project_id, channel.name(), window)?;
    if u64::try_from(count).unwrap_or(u64::MAX) > limit {
        ctx.env.audit.detail("limit", "project_hourly");
        let retry_after = (window + HOUR_MS - now + 999) / 1000;
        return Err(otp_rate_limited(Some(retry_after)));
    }
    Ok(())
}

/// POSTs the code to the webhook, signed (docs/shield.md, "Design: OTP and 2FA"); any answer
/// but 2xx, or none within the outbound timeout, is 502.
fn deliver(
    ctx: &Ctx<'_, '_>,
    url: &str,
    secret: &str,
    project_id: &str,
    user_id: &str,
    channel: &Channel,
    code: &str,
) -> ApiResult<()> {
    let to = match channel {
        Channel::Email(e) | Channel::Sms(e) => e.trim(),
    };
    let now_secs = ctx.env.now_ms.div_euclid(1000);
    let body = zeroize::Zeroizing::new(
        json!({
            "type": "shield.otp",
            "project_id": project_id,
            "user_id": user_id,
            "channel": channel.name(),
            "to": to,
            "code": code,
            "expires_at": (ctx.env.now_ms + OTP_TTL_MS).div_euclid(1000),
            "request_id": ctx.request_id,
        })
        .to_string()
        .into_bytes(),
    );
    let signature =
        core::sign_webhook(secret.as_bytes(), now_secs, &body).ok_or_else(delivery_failed)?;
    let req = OutboundRequest::new("POST", url)
        .with_header("content-type", "application/json")
        .with_header("x-request-id", ctx.request_id)
        .with_header(SIGNATURE_HEADER, &signature)
        .with_body(body.to_vec())
        .with_timeout_ms(OUTBOUND_TIMEOUT_MS);
    let fetcher = ctx.env.fetch.ok_or_else(delivery_failed)?;
    match fetcher.fetch(&req) {
        Ok(resp) if (200..300).contains(&resp.status) => Ok(()),
        _ => {
            // Neither the address nor the code: what failed, for the operator.
            eprintln!("shield: OTP webhook delivery failed");
            Err(delivery_failed())
        }
    }
}

/// The code check of `POST /project/encryption-session` on a project with 2FA (upstream's
/// order and answers); `Ok(true)` when a code was verified (the session may then read
/// `project` shares), `Ok(false)` for a code requested with `dangerously_skip_verification`.
pub(crate) fn verify_for_session(
    ctx: &Ctx<'_, '_>,
    project_id: &str,
    user_id: Option<&str>,
    otp_code: Option<&str>,
) -> ApiResult<bool> {
    let user_id = user_id.ok_or_else(otp_required)?;
    let pending = ctx
        .store
        .otp(project_id, user_id)?
        .ok_or_else(otp_required)?;
    let now = ctx.env.now_ms;
    if pending.skip_verification {
        if !ctx
            .store
            .take_otp(project_id, user_id, &pending.code_digest)?
        {
            return Err(otp_required());
        }
        ctx.env.audit.detail("otp", "skipped");
        return Ok(false);
    }
    let code = otp_code.ok_or_else(otp_not_sent)?;
    if now >= pending.expires_at {
        ctx.store
            .take_otp(project_id, user_id, &pending.code_digest)?;
        ctx.env.audit.detail("otp", "expired");
        return Err(otp_expired());
    }
    let presented = core::code_digest(&pending.salt, project_id, user_id, code);
    if core::digest_matches(&presented, &pending.code_digest) {
        // Single use: exactly one request consumes it.
        if !ctx
            .store
            .take_otp(project_id, user_id, &pending.code_digest)?
        {
            return Err(otp_invalid());
        }
        ctx.env.audit.detail("otp", "verified");
        return Ok(true);
    }
    let failures = ctx
        .store
        .fail_otp(project_id, user_id, &pending.code_digest)?;
    match failures {
        Some(n) if n < MAX_FAILED_ATTEMPTS => {
            ctx.env.audit.detail("otp", "invalid");
            Err(otp_invalid())
        }
        Some(_) => {
            ctx.store
                .take_otp(project_id, user_id, &pending.code_digest)?;
            ctx.store
                .add_otp_invalidation(&uuid_v4()?, project_id, user_id, now)?;
            ctx.env.audit.detail("otp", "invalidated");
            Err(otp_invalidated())
        }
        None => Err(otp_invalid()),
    }
}

/// The 428 gate (upstream's): on a project with 2FA, a `project` share read through an
/// encryption session needs a session created with a verified code. The session is not
/// consumed by the refusal; a session that does not exist is left to the usual check.
pub(crate) fn require_verified_session(
    ctx: &Ctx<'_, '_>,
    project_id: &str,
    session: &str,
) -> ApiResult<()> {
    match ctx
        .store
        .session_otp_verified(session, project_id, ctx.env.now_ms)?
    {
        Some(false) => Err(otp_required()),
        _ => Ok(()),
    }
}
