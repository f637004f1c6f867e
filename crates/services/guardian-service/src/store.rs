//! The portable SQL of guardian (docs/guardian.md, "Design: tokens", "Design: keys",
//! "Design: configuration and storage"): (`?` placeholders, TEXT/BIGINT,
//! base64 TEXT for binary, `INSERT … ON CONFLICT`, `DELETE … RETURNING`). Tables are created by
//! the components on first use (`CREATE TABLE IF NOT EXISTS`, idempotent).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guest_kit::{Db, Value};
use sha2::{Digest, Sha256};

use crate::error::Guardian as _;
use crate::error::{ApiError, db_err};

const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS gd_user (user_id TEXT PRIMARY KEY, mnemonic_ct TEXT NOT NULL, \
     address0 TEXT NOT NULL, created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_token (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, \
     kind TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, \
     chain_started_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS gd_token_expires ON gd_token (expires_at)",
    "CREATE TABLE IF NOT EXISTS gd_config (name TEXT PRIMARY KEY, value TEXT NOT NULL, \
     updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_id_token (digest TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_export_log (user_id TEXT NOT NULL, exported_at BIGINT NOT NULL)",
];

/// The tables; `gd_schema_1` marks them complete, so a request pays one probe.
pub const SCHEMA: guest_kit::Schema = guest_kit::Schema {
    marker: "gd_schema_1",
    statements: TABLES,
};

pub fn ensure_schema(db: &dyn Db) -> Result<(), ApiError> {
    SCHEMA.ensure(db).map_err(|e| db_err(&e))
}

/// `hex(SHA-256(UTF-8(s)))`: how tokens (and single-use id_tokens) are stored.
pub fn digest_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// How the audit trail names a token (docs/OPERATIONS.md, "Audit trail"): the first 16 hex
/// digits of its stored digest, never the token. The token a request was given and the one it
/// presents next carry the same name, so a chain of tokens can be followed through the trail.
pub fn token_id(token: &str) -> String {
    let digest = digest_hex(token);
    digest.get(..16).unwrap_or_default().to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Login,
    Fresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Login => "login",
            TokenKind::Fresh => "fresh",
        }
    }
}

/// A consumed token's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub user_id: String,
    pub kind: String,
    pub issued_at: i64,
    pub chain_started_at: i64,
}

/// 32 CSPRNG bytes, base64url unpadded (43 characters).
pub fn new_token() -> Result<String, ApiError> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|_| ApiError::internal("CSPRNG unavailable"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

/// Whether a presented string has the shape of a token (so junk never reaches SQL).
pub fn token_well_formed(t: &str) -> bool {
    t.len() == 43
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Mints a token and stores its digest.
pub fn mint_token(
    db: &dyn Db,
    user_id: &str,
    kind: TokenKind,
    issued_at: i64,
    expires_at: i64,
    chain_started_at: i64,
) -> Result<String, ApiError> {
    let token = new_token()?;
    db.execute(
        "INSERT INTO gd_token (token_hash, user_id, kind, issued_at, expires_at, chain_started_at) \
         VALUES (?, ?, ?, ?, ?, ?)",
        &[
            digest_hex(&token).into(),
            user_id.into(),
            kind.as_str().into(),
            Value::Integer(issued_at),
            Value::Integer(expires_at),
            Value::Integer(chain_started_at),
        ],
    )
    .map_err(|e| db_err(&e))?;
    Ok(token)
}

fn token_row(rows: &guest_kit::Rows) -> Option<TokenRow> {
    let row = rows.first()?;
    Some(TokenRow {
        user_id: row.text(0)?.to_owned(),
        kind: row.text(1)?.to_owned(),
        issued_at: row.integer(2)?,
        chain_started_at: row.integer(3)?,
    })
}

/// docs/guardian.md, "Design: tokens" step 3: the atomic consumption. `None` = unknown, spent or expired.
pub fn consume_token(db: &dyn Db, token: &str, now: i64) -> Result<Option<TokenRow>, ApiError> {
    let rows = db
        .execute(
            "DELETE FROM gd_token WHERE token_hash = ? AND expires_at > ? \
             RETURNING user_id, kind, issued_at, chain_started_at",
            &[digest_hex(token).into(), Value::Integer(now)],
        )
        .map_err(|e| db_err(&e))?;
    Ok(token_row(&rows))
}

/// docs/guardian.md, "Design: export" step 2: consumes only a recent login token.
pub fn consume_login_token(
    db: &dyn Db,
    token: &str,
    now: i64,
    issued_after: i64,
) -> Result<Option<TokenRow>, ApiError> {
    let rows = db
        .execute(
            "DELETE FROM gd_token WHERE token_hash = ? AND kind = 'login' AND issued_at >= ? \
             AND expires_at > ? RETURNING user_id, kind, issued_at, chain_started_at",
            &[
                digest_hex(token).into(),
                Value::Integer(issued_after),
                Value::Integer(now),
            ],
        )
        .map_err(|e| db_err(&e))?;
    Ok(token_row(&rows))
}

/// The user of a currently valid token (without consuming it), if it is one.
pub fn token_user(db: &dyn Db, token: &str, now: i64) -> Result<Option<String>, ApiError> {
    let rows = db
        .execute(
            "SELECT user_id FROM gd_token WHERE token_hash = ? AND expires_at > ?",
            &[digest_hex(token).into(), Value::Integer(now)],
        )
        .map_err(|e| db_err(&e))?;
    Ok(rows.first().and_then(|r| r.text(0).map(str::to_owned)))
}

/// Drops expired tokens and remembered id_tokens (called at login; bounded work). Run outside
/// the login's transaction: its failure is ignored, and inside a PostgreSQL transaction a
/// failed statement would abort everything after it.
pub fn purge_expired(db: &dyn Db, now: i64) -> Result<(), ApiError> {
    db.execute(
        "DELETE FROM gd_token WHERE expires_at <= ?",
        &[Value::Integer(now)],
    )
    .map_err(|e| db_err(&e))?;
    db.execute(
        "DELETE FROM gd_id_token WHERE expires_at <= ?",
        &[Value::Integer(now)],
    )
    .map_err(|e| db_err(&e))?;
    Ok(())
}

/// A stored user: address 0 (EIP-55) and the sealed mnemonic.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRow {
    pub mnemonic_ct: String,
    pub address0: String,
}

pub fn get_user(db: &dyn Db, user_id: &str) -> Result<Option<UserRow>, ApiError> {
    let rows = db
        .execute(
            "SELECT mnemonic_ct, address0 FROM gd_user WHERE user_id = ?",
            &[user_id.into()],
        )
        .map_err(|e| db_err(&e))?;
    Ok(rows.first().and_then(|r| {
        Some(UserRow {
            mnemonic_ct: r.text(0)?.to_owned(),
            address0: r.text(1)?.to_owned(),
        })
    }))
}

/// Insert-only: `true` if this call created the row, `false` if one existed (a concurrent first
/// login won). Never overwrites.
pub fn insert_user(
    db: &dyn Db,
    user_id: &str,
    mnemonic_ct: &str,
    address0: &str,
    now: i64,
) -> Result<bool, guest_kit::DbError> {
    let rows = db.execute(
        "INSERT INTO gd_user (user_id, mnemonic_ct, address0, created_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
        &[
            user_id.into(),
            mnemonic_ct.into(),
            address0.into(),
            Value::Integer(now),
        ],
    )?;
    Ok(!rows.is_empty())
}

/// Remembers a single-use id_token; `false` if it was seen before.
pub fn remember_id_token(db: &dyn Db, digest: &str, expires_at: i64) -> Result<bool, ApiError> {
    let rows = db
        .execute(
            "INSERT INTO gd_id_token (digest, expires_at) VALUES (?, ?) \
             ON CONFLICT (digest) DO NOTHING RETURNING digest",
            &[digest.into(), Value::Integer(expires_at)],
        )
        .map_err(|e| db_err(&e))?;
    Ok(!rows.is_empty())
}

pub fn log_export(db: &dyn Db, user_id: &str, now: i64) -> Result<(), ApiError> {
    db.execute(
        "INSERT INTO gd_export_log (user_id, exported_at) VALUES (?, ?)",
        &[user_id.into(), Value::Integer(now)],
    )
    .map_err(|e| db_err(&e))?;
    Ok(())
}
