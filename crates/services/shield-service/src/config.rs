//! shield's variables with their defaults (docs/shield.md, "Configuration"; unset takes
//! the default, an invalid value is 503 `NOT_CONFIGURED`: docs/configuration.md).

use guest_kit::config::{Integer, Text};

guest_kit::variables! {
    /// Requests per window and bucket; 0 turns the rate limit off.
    pub const RATE_LIMIT_REQUESTS: Integer = Integer::new("rate_limit_requests", 100);
    /// The fixed window, milliseconds.
    pub const RATE_LIMIT_WINDOW_MS: Integer =
        Integer::new("rate_limit_window_ms", 1000).range(1, i64::MAX as u64);
    /// Requests per window and authenticated user (a provider's user, or a project's secret
    /// holder); 0 turns only this limit off (docs/shield.md, "Design: rate limit").
    pub const RATE_LIMIT_USER_REQUESTS: Integer = Integer::new("rate_limit_user_requests", 50);
    /// The reverse proxies whose `X-Forwarded-For` names the client (addresses or CIDR blocks,
    /// comma-separated; docs/shield.md, "Design: rate limit").
    pub const TRUSTED_PROXIES: Text = Text::new("shield_trusted_proxies", "");
    /// `Access-Control-Max-Age` of preflight answers, seconds.
    pub const CORS_MAX_AGE: Integer = Integer::new("cors_max_age", 86_400);

    /// OTP sends per project and hour by e-mail / by SMS (docs/shield.md, "Design: OTP and 2FA").
    pub const OTP_EMAIL_PER_HOUR: Integer = Integer::new("otp_email_per_hour", 120);
    pub const OTP_SMS_PER_HOUR: Integer = Integer::new("otp_sms_per_hour", 2);
    /// Where OTP codes are delivered, and the HMAC key of their signature (docs/shield.md,
    /// "Design: OTP and 2FA"); unset, codes cannot be sent.
    pub const OTP_WEBHOOK_URL: Text = Text::new("otp_webhook_url", "");
    pub const OTP_WEBHOOK_SECRET: Text = Text::new("otp_webhook_secret", "");

    /// Where OPENFORT providers' tokens are checked.
    pub const OPENFORT_BASE_URL: Text = Text::new("openfort_base_url", "https://api.openfort.io");
}
