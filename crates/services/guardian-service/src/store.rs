//! The portable SQL of guardian (docs/guardian.md, "Design: tokens", "Design: logout and
//! revocation", "Design: keys", "Design: configuration and storage"): (`?` placeholders,
//! TEXT/BIGINT, base64 TEXT for binary, `INSERT … ON CONFLICT`, `DELETE … RETURNING`). Tables are
//! created by the components on first use (`CREATE TABLE IF NOT EXISTS`, idempotent), and a
//! database made before token chains had ids is migrated once ([`ensure`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guest_kit::{Db, DbError, Value};
use sha2::{Digest, Sha256};

use crate::error::Guardian as _;
use crate::error::{ApiError, db_err};

const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS gd_user (user_id TEXT PRIMARY KEY, mnemonic_ct TEXT NOT NULL, \
     address0 TEXT NOT NULL, created_at BIGINT NOT NULL)",
    // `chain_id` may be NULL: rows written before it existed keep working until they expire
    // (see `chain_key!`), and an added column cannot be NOT NULL without a default.
    "CREATE TABLE IF NOT EXISTS gd_token (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, \
     kind TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, \
     chain_started_at BIGINT NOT NULL, chain_id TEXT)",
    "CREATE INDEX IF NOT EXISTS gd_token_expires ON gd_token (expires_at)",
    // Logout of all chains and the maintainer's revocation find a user's tokens by user.
    "CREATE INDEX IF NOT EXISTS gd_token_user ON gd_token (user_id)",
    "CREATE TABLE IF NOT EXISTS gd_config (name TEXT PRIMARY KEY, value TEXT NOT NULL, \
     updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_id_token (digest TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_export_log (user_id TEXT NOT NULL, exported_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_chain_end (user_id TEXT NOT NULL, chain_id TEXT NOT NULL, \
     chain_started_at BIGINT NOT NULL, ended_at BIGINT NOT NULL, PRIMARY KEY (user_id, chain_id))",
    // The identity provider that created each user (docs/guardian.md, "User identity").
    "CREATE TABLE IF NOT EXISTS gd_user_provider (user_id TEXT PRIMARY KEY, provider TEXT NOT NULL, \
     bound_at BIGINT NOT NULL)",
    // Each user's sealed account key, what signing opens (docs/guardian.md, "Design: keys").
    "CREATE TABLE IF NOT EXISTS gd_signing_key (user_id TEXT PRIMARY KEY, account_ct TEXT NOT NULL, \
     created_at BIGINT NOT NULL)",
    // Signing policies (docs/guardian.md, "Design: signing policies"): the documents (scope
    // `deployment` or `user:<user id>`), the per-user lock row taken before the rolling period
    // is summed, and the period's events (value: wei, decimal).
    "CREATE TABLE IF NOT EXISTS gd_policy (scope TEXT PRIMARY KEY, document TEXT NOT NULL, \
     updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_policy_lock (user_id TEXT PRIMARY KEY, locked_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gd_policy_event (user_id TEXT NOT NULL, at BIGINT NOT NULL, \
     value TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS gd_policy_event_user ON gd_policy_event (user_id, at)",
];

/// The tables as a new database gets them; the marker table (`gd_schema_3`) marks them complete,
/// so a request pays one probe. Create them with [`ensure`], which also migrates a database made
/// before `gd_token.chain_id` existed (marked `gd_schema_1`): this type's own `ensure` would not.
/// A version that only adds tables (`CREATE TABLE IF NOT EXISTS`) bumps the marker and nothing
/// else: an older database misses the new marker once and gets the new tables.
pub const SCHEMA: guest_kit::Schema = guest_kit::Schema {
    marker: "gd_schema_3",
    statements: TABLES,
};

const MARKER_PROBE: &str = "SELECT 1 FROM gd_schema_3 LIMIT 1";
const MARKER: &str = "CREATE TABLE IF NOT EXISTS gd_schema_3 (complete INTEGER NOT NULL)";
const CHAIN_ID_PROBE: &str = "SELECT chain_id FROM gd_token LIMIT 1";
const ADD_CHAIN_ID: &str = "ALTER TABLE gd_token ADD COLUMN chain_id TEXT";

/// Creates the tables and migrates an older database, once: after the first success the marker
/// exists and this is one probe. Every step is idempotent, so a step that failed half way, or
/// several hosts running it at once, end in the same schema. Call it outside any transaction:
/// on PostgreSQL a failed probe would abort the surrounding one.
pub fn ensure(db: &dyn Db) -> Result<(), DbError> {
    if db.execute(MARKER_PROBE, &[]).is_ok() {
        return Ok(());
    }
    for ddl in SCHEMA.statements {
        db.execute(ddl, &[])?;
    }
    // A `gd_token` made before chains had ids: `CREATE TABLE IF NOT EXISTS` left it as it was.
    // Neither SQLite nor (portably) PostgreSQL can add a column only if it is missing, so ask
    // first; if the addition fails, another host may have added it meanwhile, which the second
    // probe tells. The column is nullable, so adding it rewrites no row on either backend.
    if db.execute(CHAIN_ID_PROBE, &[]).is_err()
        && let Err(e) = db.execute(ADD_CHAIN_ID, &[])
        && db.execute(CHAIN_ID_PROBE, &[]).is_err()
    {
        return Err(e);
    }
    db.execute(MARKER, &[])?;
    Ok(())
}

/// [`ensure`], as guardian answers a failure.
pub fn ensure_schema(db: &dyn Db) -> Result<(), ApiError> {
    ensure(db).map_err(|e| db_err(&e))
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
    /// A login token whose authentication was fresh and made for guardian (docs/guardian.md,
    /// "Design: export"): a login token on the signing routes, the only one export takes.
    Reauth,
    Fresh,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Login => "login",
            TokenKind::Reauth => "reauth",
            TokenKind::Fresh => "fresh",
        }
    }
}

/// A token's chain, as SQL (`$t` is the table's qualifier, `""` or `"gd_token."`): its
/// `chain_id`, or, for a row written before chains had ids, `legacy-<chain start>`. A user's
/// tokens of one such chain share their start (each fresh token inherits it), so they share
/// this key too, and a fresh token minted from one of them stores it as its `chain_id`. The
/// same text on SQLite and PostgreSQL (a BIGINT cast to TEXT is its decimal digits).
macro_rules! chain_key {
    ($t:literal) => {
        concat!(
            "COALESCE(",
            $t,
            "chain_id, 'legacy-' || CAST(",
            $t,
            "chain_started_at AS TEXT))"
        )
    };
}

/// The condition that a `gd_token` row's chain has not been ended (docs/guardian.md, "Design:
/// logout and revocation"): a request that was under way when its chain was ended may still
/// store the fresh token it minted, and this is what refuses that token.
macro_rules! chain_not_ended {
    () => {
        concat!(
            " AND NOT EXISTS (SELECT 1 FROM gd_chain_end e WHERE e.user_id = gd_token.user_id \
             AND e.chain_id = ",
            chain_key!("gd_token."),
            ")"
        )
    };
}

/// A consumed token's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub user_id: String,
    pub kind: String,
    pub issued_at: i64,
    pub chain_started_at: i64,
    /// The chain's key (see `chain_key!`), which the fresh token inherits.
    pub chain_id: String,
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

/// Mints a token and stores its digest. `chain_id` is the chain it continues; `None` starts a
/// chain, named after this token as the audit trail names it ([`token_id`]), so the chain of a
/// logout record is the `token_issued` of the login that began it.
pub fn mint_token(
    db: &dyn Db,
    user_id: &str,
    kind: TokenKind,
    issued_at: i64,
    expires_at: i64,
    chain_started_at: i64,
    chain_id: Option<&str>,
) -> Result<String, ApiError> {
    let token = new_token()?;
    let chain_id = chain_id.map_or_else(|| token_id(&token), str::to_owned);
    db.execute(
        "INSERT INTO gd_token (token_hash, user_id, kind, issued_at, expires_at, chain_started_at, \
         chain_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        &[
            digest_hex(&token).into(),
            user_id.into(),
            kind.as_str().into(),
            Value::Integer(issued_at),
            Value::Integer(expires_at),
            Value::Integer(chain_started_at),
            chain_id.into(),
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
        chain_id: row.text(4)?.to_owned(),
    })
}

/// docs/guardian.md, "Design: tokens" step 3: the atomic consumption. `None` = unknown, spent,
/// expired, or of an ended chain.
pub fn consume_token(db: &dyn Db, token: &str, now: i64) -> Result<Option<TokenRow>, ApiError> {
    let rows = db
        .execute(
            concat!(
                "DELETE FROM gd_token WHERE token_hash = ? AND expires_at > ?",
                chain_not_ended!(),
                " RETURNING user_id, kind, issued_at, chain_started_at, ",
                chain_key!("")
            ),
            &[digest_hex(token).into(), Value::Integer(now)],
        )
        .map_err(|e| db_err(&e))?;
    Ok(token_row(&rows))
}

/// docs/guardian.md, "Design: export" step 2: consumes only a `reauth` login token whose
/// authentication (its `issued_at`) is recent.
pub fn consume_login_token(
    db: &dyn Db,
    token: &str,
    now: i64,
    issued_after: i64,
) -> Result<Option<TokenRow>, ApiError> {
    let rows = db
        .execute(
            concat!(
                "DELETE FROM gd_token WHERE token_hash = ? AND kind = 'reauth' AND issued_at >= ? \
                 AND expires_at > ?",
                chain_not_ended!(),
                " RETURNING user_id, kind, issued_at, chain_started_at, ",
                chain_key!("")
            ),
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
            concat!(
                "SELECT user_id FROM gd_token WHERE token_hash = ? AND expires_at > ?",
                chain_not_ended!()
            ),
            &[digest_hex(token).into(), Value::Integer(now)],
        )
        .map_err(|e| db_err(&e))?;
    Ok(rows.first().and_then(|r| r.text(0).map(str::to_owned)))
}

/// What a logout or a revocation ended: chains not ended before, and tokens that were still
/// valid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ended {
    pub chains: usize,
    pub tokens: usize,
}

/// Lists one chain as ended until it would have ended anyway (its start plus
/// `token_chain_max_seconds`; [`purge_expired`]). `true` if it was not listed yet.
pub fn list_chain_end(
    db: &dyn Db,
    user_id: &str,
    chain_id: &str,
    chain_started_at: i64,
    now: i64,
) -> Result<bool, ApiError> {
    let rows = db
        .execute(
            "INSERT INTO gd_chain_end (user_id, chain_id, chain_started_at, ended_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT (user_id, chain_id) DO NOTHING RETURNING chain_id",
            &[
                user_id.into(),
                chain_id.into(),
                Value::Integer(chain_started_at),
                Value::Integer(now),
            ],
        )
        .map_err(|e| db_err(&e))?;
    Ok(!rows.is_empty())
}

/// Deletes the tokens of one chain; how many of them were still valid.
pub fn delete_chain_tokens(
    db: &dyn Db,
    user_id: &str,
    chain_id: &str,
    now: i64,
) -> Result<usize, ApiError> {
    let rows = db
        .execute(
            concat!(
                "DELETE FROM gd_token WHERE user_id = ? AND ",
                chain_key!(""),
                " = ? RETURNING expires_at"
            ),
            &[user_id.into(), chain_id.into()],
        )
        .map_err(|e| db_err(&e))?;
    Ok(live(&rows, now))
}

/// Ends every chain of a user that holds a valid token: lists each as ended, then deletes all
/// of the user's tokens. The list is read in the same statement that writes it, before the
/// deletion, so on PostgreSQL a chain whose token another request is consuming at this moment
/// (its deletion not yet committed, so still visible here) is listed too, and the fresh token
/// that request stores afterwards is refused.
pub fn end_user_chains(db: &dyn Db, user_id: &str, now: i64) -> Result<Ended, ApiError> {
    let listed = db
        .execute(
            concat!(
                "INSERT INTO gd_chain_end (user_id, chain_id, chain_started_at, ended_at) \
                 SELECT DISTINCT user_id, ",
                chain_key!(""),
                ", chain_started_at, CAST(? AS BIGINT) FROM gd_token \
                 WHERE user_id = ? AND expires_at > ? \
                 ON CONFLICT (user_id, chain_id) DO NOTHING RETURNING chain_id"
            ),
            &[Value::Integer(now), user_id.into(), Value::Integer(now)],
        )
        .map_err(|e| db_err(&e))?;
    let deleted = db
        .execute(
            "DELETE FROM gd_token WHERE user_id = ? RETURNING expires_at",
            &[user_id.into()],
        )
        .map_err(|e| db_err(&e))?;
    Ok(Ended {
        chains: listed.len(),
        tokens: live(&deleted, now),
    })
}

/// How many of the deleted rows (`RETURNING expires_at`) were still valid at `now`.
fn live(rows: &guest_kit::Rows, now: i64) -> usize {
    rows.iter()
        .filter(|r| r.integer(0).is_some_and(|expires| expires > now))
        .count()
}

/// Whether guardian knows this user (the maintainer's revocation names one).
pub fn user_exists(db: &dyn Db, user_id: &str) -> Result<bool, ApiError> {
    let rows = db
        .execute("SELECT 1 FROM gd_user WHERE user_id = ?", &[user_id.into()])
        .map_err(|e| db_err(&e))?;
    Ok(!rows.is_empty())
}

/// Drops expired tokens, remembered id_tokens and, given `token_chain_max_seconds` in ms, the
/// ended chains whose tokens would all have expired by now (called at login; bounded work). Run
/// outside the login's transaction: its failure is ignored, and inside a PostgreSQL
/// transaction a failed statement would abort everything after it.
pub fn purge_expired(db: &dyn Db, now: i64, chain_max_ms: Option<i64>) -> Result<(), ApiError> {
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
    if let Some(max) = chain_max_ms {
        // A token expires at the latest at its chain's start plus the maximum, and is valid
        // only while its expiry is after now.
        db.execute(
            "DELETE FROM gd_chain_end WHERE chain_started_at <= ?",
            &[Value::Integer(now.saturating_sub(max))],
        )
        .map_err(|e| db_err(&e))?;
    }
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

/// A user's sealed account key (docs/guardian.md, "Design: keys"), if it was stored.
pub fn get_signing_key(db: &dyn Db, user_id: &str) -> Result<Option<String>, ApiError> {
    let rows = db
        .execute(
            "SELECT account_ct FROM gd_signing_key WHERE user_id = ?",
            &[user_id.into()],
        )
        .map_err(|e| db_err(&e))?;
    Ok(rows.first().and_then(|r| r.text(0)).map(str::to_owned))
}

/// Insert-only, like `gd_user`: a concurrent first use that loses keeps the winner's row (both
/// sealed the same key). `true` if this call wrote it.
pub fn insert_signing_key(
    db: &dyn Db,
    user_id: &str,
    account_ct: &str,
    now: i64,
) -> Result<bool, guest_kit::DbError> {
    let rows = db.execute(
        "INSERT INTO gd_signing_key (user_id, account_ct, created_at) VALUES (?, ?, ?) \
         ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
        &[user_id.into(), account_ct.into(), Value::Integer(now)],
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
