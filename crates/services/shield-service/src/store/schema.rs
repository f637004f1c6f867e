//! The tables (docs/shield.md, "Storage"), created on a request's first statement.

const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, \
     api_key TEXT NOT NULL UNIQUE, api_secret_sha256 TEXT NOT NULL, \
     enable_2fa INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS encryption_keys (project_id TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE, \
     db_part TEXT NOT NULL, key_check TEXT, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS providers (id TEXT PRIMARY KEY, \
     project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, \
     type TEXT NOT NULL CHECK (type IN ('OPENFORT','CUSTOM')), publishable_key TEXT, jwk_url TEXT, pem TEXT, \
     key_type TEXT CHECK (key_type IN ('rsa','ecdsa','ed25519')), cookie_field_name TEXT, \
     created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, UNIQUE (project_id, type))",
    "CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, \
     project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS external_users (id TEXT PRIMARY KEY, \
     user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, project_id TEXT NOT NULL, \
     provider_id TEXT NOT NULL REFERENCES providers(id) ON DELETE CASCADE, external_user_id TEXT NOT NULL, \
     created_at BIGINT NOT NULL, UNIQUE (provider_id, external_user_id))",
    "CREATE INDEX IF NOT EXISTS ix_ext_users_project ON external_users (project_id, external_user_id)",
    "CREATE TABLE IF NOT EXISTS keychains (id TEXT PRIMARY KEY, \
     user_id TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS shares (id TEXT PRIMARY KEY, \
     project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, \
     user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, \
     keychain_id TEXT NOT NULL REFERENCES keychains(id) ON DELETE CASCADE, \
     reference TEXT NOT NULL, entropy TEXT NOT NULL CHECK (entropy IN ('none','user','project','passkey')), \
     data TEXT NOT NULL, salt TEXT, iterations BIGINT, length BIGINT, digest TEXT, \
     storage_method_id INTEGER NOT NULL DEFAULT 0 CHECK (storage_method_id IN (0,1,2)), \
     passkey_id TEXT, passkey_env TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, \
     UNIQUE (user_id, reference))",
    "CREATE UNIQUE INDEX IF NOT EXISTS ux_shares_project_ref ON shares (project_id, reference) \
     WHERE reference <> 'default'",
    "CREATE INDEX IF NOT EXISTS ix_shares_keychain ON shares (keychain_id, created_at)",
    "CREATE INDEX IF NOT EXISTS ix_shares_project_entropy ON shares (project_id, entropy)",
    "CREATE TABLE IF NOT EXISTS encryption_sessions (id TEXT PRIMARY KEY, \
     project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, encryption_part TEXT NOT NULL, \
     user_id TEXT, otp_verified INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_sessions_expiry ON encryption_sessions (expires_at)",
    "CREATE TABLE IF NOT EXISTS rate_limit_counters (bucket TEXT NOT NULL, window_start BIGINT NOT NULL, \
     count BIGINT NOT NULL, PRIMARY KEY (bucket, window_start))",
    // The sweep of old windows deletes by window_start across all buckets.
    "CREATE INDEX IF NOT EXISTS ix_rate_limit_window ON rate_limit_counters (window_start)",
    // OTP and 2FA (docs/shield.md, "Design: OTP and 2FA"): one pending code per user (only its
    // salted digest), the users' invalidated codes, the per-project hourly sends, and the
    // users' contacts (upstream's SHA-512 hex of the address).
    "CREATE TABLE IF NOT EXISTS otp_codes (project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, \
     user_id TEXT NOT NULL, salt TEXT NOT NULL, code_digest TEXT NOT NULL, \
     skip_verification INTEGER NOT NULL DEFAULT 0, failed_attempts BIGINT NOT NULL DEFAULT 0, \
     created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (project_id, user_id))",
    "CREATE TABLE IF NOT EXISTS otp_invalidations (id TEXT PRIMARY KEY, \
     project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, user_id TEXT NOT NULL, \
     invalidated_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_otp_invalidations_user ON otp_invalidations (project_id, user_id, invalidated_at)",
    "CREATE TABLE IF NOT EXISTS otp_send_counters (project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, \
     channel TEXT NOT NULL, window_start BIGINT NOT NULL, count BIGINT NOT NULL, \
     PRIMARY KEY (project_id, channel, window_start))",
    "CREATE TABLE IF NOT EXISTS user_contacts (project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE, \
     user_id TEXT NOT NULL, email_sha512 TEXT, phone_sha512 TEXT, created_at BIGINT NOT NULL, \
     updated_at BIGINT NOT NULL, PRIMARY KEY (project_id, user_id))",
    // The receipt of a share written through an encryption session, for its same-content retry
    // (docs/shield.md, "Design: share routes", retries).
    "CREATE TABLE IF NOT EXISTS share_receipts (share_id TEXT PRIMARY KEY, receipt TEXT NOT NULL, \
     expires_at BIGINT NOT NULL)",
];

/// The tables, created on a request's first statement; `sh_schema_3` marks them complete
/// (`sh_schema_1` had no `ix_rate_limit_window`, `sh_schema_2` none of the tables added since:
/// a new marker makes existing databases get them, so a version that only adds tables bumps it).
pub const SCHEMA: guest_kit::Schema = guest_kit::Schema {
    marker: "sh_schema_3",
    statements: TABLES,
};
