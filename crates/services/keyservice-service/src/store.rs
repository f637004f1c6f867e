//! docs/keyservice.md, "Design: storage and sealing": tables and statements. Portable SQL only (docs/platform.md, "Design: portable SQL"):
//! `?` placeholders, TEXT ids and base64 ciphertexts, 64-bit integer unix-ms
//! timestamps, `ON CONFLICT`, `DELETE … RETURNING`. The component creates the
//! tables on first use (`CREATE TABLE IF NOT EXISTS`); there is no separate
//! migration step.
//!
//! Timestamps are declared `BIGINT`: SQLite gives it INTEGER affinity (64-bit)
//! and PostgreSQL's `INTEGER` would be 32-bit, too small for unix ms.

use guest_kit::{Db, Rows, Value};

use crate::error::Keyservice as _;
use crate::error::{ApiError, ApiResult};

const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS ks_namespace (\
        namespace TEXT PRIMARY KEY, \
        secret_ct TEXT NOT NULL, \
        allowed_cidrs TEXT NOT NULL, \
        created_at BIGINT NOT NULL, \
        secret_rotated_at BIGINT NULL)",
    "CREATE TABLE IF NOT EXISTS ks_init_token (\
        token_hash TEXT PRIMARY KEY, \
        token_ct TEXT NOT NULL, \
        expires_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ks_session (\
        token_digest TEXT PRIMARY KEY, \
        namespace TEXT NOT NULL, \
        user_id TEXT NOT NULL, \
        init_token_ct TEXT NOT NULL, \
        created_at BIGINT NOT NULL, \
        expires_at BIGINT NOT NULL, \
        last_used_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ks_session_namespace ON ks_session (namespace)",
    "CREATE TABLE IF NOT EXISTS ks_key (\
        namespace TEXT NOT NULL, \
        user_id TEXT NOT NULL, \
        value_ct TEXT NOT NULL, \
        content_type TEXT NOT NULL, \
        updated_at BIGINT NOT NULL, \
        PRIMARY KEY (namespace, user_id))",
    "CREATE TABLE IF NOT EXISTS ks_nonce (\
        nonce_key TEXT PRIMARY KEY, \
        expires_at BIGINT NOT NULL)",
    // Sweeps delete by expiry; without these they would scan whole tables.
    "CREATE INDEX IF NOT EXISTS ks_nonce_expires ON ks_nonce (expires_at)",
    "CREATE INDEX IF NOT EXISTS ks_init_token_expires ON ks_init_token (expires_at)",
    "CREATE INDEX IF NOT EXISTS ks_session_expires ON ks_session (expires_at)",
];

/// The tables, created on first use; `ks_schema_1` marks them complete.
pub const SCHEMA: guest_kit::Schema = guest_kit::Schema {
    marker: "ks_schema_1",
    statements: TABLES,
};

/// Storage for one request. The entry points create the schema ([`SCHEMA`]) before any handler
/// runs, so every statement here can assume the tables exist.
pub struct Store<'a> {
    db: &'a dyn Db,
}

impl<'a> Store<'a> {
    pub fn new(db: &'a dyn Db) -> Self {
        Self { db }
    }

    fn run(&self, sql: &str, params: &[Value]) -> ApiResult<Rows> {
        self.db.execute(sql, params).map_err(crate::error::storage)
    }

    // ---- init tokens ----

    pub fn insert_init_token(
        &self,
        token_hash: &str,
        token_ct: &str,
        expires_at: i64,
    ) -> ApiResult<()> {
        self.run(
            "INSERT INTO ks_init_token (token_hash, token_ct, expires_at) VALUES (?, ?, ?)",
            &[token_hash.into(), token_ct.into(), expires_at.into()],
        )?;
        Ok(())
    }

    /// Atomically consumes a live pending init token: of concurrent callers
    /// exactly one gets the row back.
    pub fn consume_init_token(&self, token_hash: &str, now: i64) -> ApiResult<Option<String>> {
        let rows = self.run(
            "DELETE FROM ks_init_token WHERE token_hash = ? AND expires_at > ? RETURNING token_ct",
            &[token_hash.into(), now.into()],
        )?;
        text_cell(&rows)
    }

    pub fn sweep_init_tokens(&self, now: i64) -> ApiResult<()> {
        self.run(
            "DELETE FROM ks_init_token WHERE expires_at <= ?",
            &[now.into()],
        )?;
        Ok(())
    }

    // ---- namespaces ----

    pub fn namespace_auth(&self, namespace: &str) -> ApiResult<Option<(String, String)>> {
        let rows = self.run(
            "SELECT secret_ct, allowed_cidrs FROM ks_namespace WHERE namespace = ?",
            &[namespace.into()],
        )?;
        text_pair(&rows, "ks_namespace row shape")
    }

    /// Inserts a namespace; `false` if it already exists.
    pub fn create_namespace(
        &self,
        namespace: &str,
        secret_ct: &str,
        allowed_cidrs_json: &str,
        now: i64,
    ) -> ApiResult<bool> {
        let rows = self.run(
            "INSERT INTO ks_namespace (namespace, secret_ct, allowed_cidrs, created_at, secret_rotated_at) \
             VALUES (?, ?, ?, ?, NULL) ON CONFLICT (namespace) DO NOTHING RETURNING namespace",
            &[
                namespace.into(),
                secret_ct.into(),
                allowed_cidrs_json.into(),
                now.into(),
            ],
        )?;
        Ok(!rows.is_empty())
    }

    pub fn list_namespaces(&self) -> ApiResult<Vec<NamespaceInfo>> {
        // No ORDER BY: collations differ between SQLite and PostgreSQL; the
        // caller sorts by bytes.
        let rows = self.run(
            "SELECT namespace, allowed_cidrs, created_at, secret_rotated_at FROM ks_namespace",
            &[],
        )?;
        rows.iter()
            .map(
                |row| match (row.text(0), row.text(1), row.integer(2), row.opt_integer(3)) {
                    (Some(ns), Some(cidrs), Some(created), Some(rotated)) => Ok(NamespaceInfo {
                        namespace: ns.to_owned(),
                        allowed_cidrs_json: cidrs.to_owned(),
                        created_at: created,
                        secret_rotated_at: rotated,
                    }),
                    _ => Err(ApiError::internal("ks_namespace row shape")),
                },
            )
            .collect()
    }

    pub fn set_allowed_cidrs(&self, namespace: &str, json: &str) -> ApiResult<bool> {
        let rows = self.run(
            "UPDATE ks_namespace SET allowed_cidrs = ? WHERE namespace = ? RETURNING namespace",
            &[json.into(), namespace.into()],
        )?;
        Ok(!rows.is_empty())
    }

    pub fn rotate_secret(&self, namespace: &str, secret_ct: &str, now: i64) -> ApiResult<bool> {
        let rows = self.run(
            "UPDATE ks_namespace SET secret_ct = ?, secret_rotated_at = ? WHERE namespace = ? RETURNING namespace",
            &[secret_ct.into(), now.into(), namespace.into()],
        )?;
        Ok(!rows.is_empty())
    }

    /// Erases a namespace, its sessions and its stored values. The namespace
    /// row goes first so no new session can be made meanwhile; sessions and
    /// values are deleted even if the namespace was already gone, so a retry
    /// after a partial failure still cleans up. Returns whether it existed.
    pub fn delete_namespace(&self, namespace: &str) -> ApiResult<bool> {
        let rows = self.run(
            "DELETE FROM ks_namespace WHERE namespace = ? RETURNING namespace",
            &[namespace.into()],
        )?;
        self.run(
            "DELETE FROM ks_session WHERE namespace = ?",
            &[namespace.into()],
        )?;
        self.run(
            "DELETE FROM ks_key WHERE namespace = ?",
            &[namespace.into()],
        )?;
        Ok(!rows.is_empty())
    }

    // ---- sessions ----

    #[allow(clippy::too_many_arguments)]
    pub fn insert_session(
        &self,
        token_digest: &str,
        namespace: &str,
        user_id: &str,
        init_token_ct: &str,
        now: i64,
        expires_at: i64,
    ) -> ApiResult<()> {
        self.run(
            "INSERT INTO ks_session (token_digest, namespace, user_id, init_token_ct, created_at, expires_at, last_used_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            &[
                token_digest.into(),
                namespace.into(),
                user_id.into(),
                init_token_ct.into(),
                now.into(),
                expires_at.into(),
                now.into(),
            ],
        )?;
        Ok(())
    }

    /// A live session by digest. The join with `ks_namespace` makes a deleted
    /// namespace's sessions unusable at once, even ones created concurrently.
    pub fn session(&self, token_digest: &str) -> ApiResult<Option<SessionRow>> {
        let rows = self.run(
            "SELECT s.namespace, s.user_id, s.init_token_ct, s.expires_at, s.last_used_at \
             FROM ks_session s JOIN ks_namespace n ON n.namespace = s.namespace \
             WHERE s.token_digest = ?",
            &[token_digest.into()],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        match (
            row.text(0),
            row.text(1),
            row.text(2),
            row.integer(3),
            row.integer(4),
        ) {
            (Some(ns), Some(user), Some(ct), Some(exp), Some(used)) => Ok(Some(SessionRow {
                namespace: ns.to_owned(),
                user_id: user.to_owned(),
                init_token_ct: ct.to_owned(),
                expires_at: exp,
                last_used_at: used,
            })),
            _ => Err(ApiError::internal("ks_session row shape")),
        }
    }

    pub fn touch_session(&self, token_digest: &str, now: i64) -> ApiResult<()> {
        self.run(
            "UPDATE ks_session SET last_used_at = ? WHERE token_digest = ?",
            &[now.into(), token_digest.into()],
        )?;
        Ok(())
    }

    pub fn sweep_sessions(&self, now: i64) -> ApiResult<()> {
        self.run(
            "DELETE FROM ks_session WHERE expires_at <= ?",
            &[now.into()],
        )?;
        Ok(())
    }

    // ---- nonces ----

    /// V8: `true` if the nonce was newly recorded, `false` on replay.
    pub fn record_nonce(&self, nonce_key: &str, expires_at: i64) -> ApiResult<bool> {
        let rows = self.run(
            "INSERT INTO ks_nonce (nonce_key, expires_at) VALUES (?, ?) \
             ON CONFLICT (nonce_key) DO NOTHING RETURNING nonce_key",
            &[nonce_key.into(), expires_at.into()],
        )?;
        Ok(!rows.is_empty())
    }

    pub fn sweep_nonces(&self, now: i64) -> ApiResult<()> {
        self.run("DELETE FROM ks_nonce WHERE expires_at <= ?", &[now.into()])?;
        Ok(())
    }

    // ---- stored keys ----

    pub fn put_key(
        &self,
        namespace: &str,
        user_id: &str,
        value_ct: &str,
        content_type: &str,
        now: i64,
    ) -> ApiResult<()> {
        self.run(
            "INSERT INTO ks_key (namespace, user_id, value_ct, content_type, updated_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (namespace, user_id) DO UPDATE SET value_ct = excluded.value_ct, \
             content_type = excluded.content_type, updated_at = excluded.updated_at",
            &[
                namespace.into(),
                user_id.into(),
                value_ct.into(),
                content_type.into(),
                now.into(),
            ],
        )?;
        Ok(())
    }

    pub fn get_key(&self, namespace: &str, user_id: &str) -> ApiResult<Option<(String, String)>> {
        let rows = self.run(
            "SELECT value_ct, content_type FROM ks_key WHERE namespace = ? AND user_id = ?",
            &[namespace.into(), user_id.into()],
        )?;
        text_pair(&rows, "ks_key row shape")
    }

    pub fn delete_key(&self, namespace: &str, user_id: &str) -> ApiResult<()> {
        self.run(
            "DELETE FROM ks_key WHERE namespace = ? AND user_id = ?",
            &[namespace.into(), user_id.into()],
        )?;
        Ok(())
    }
}

fn text_cell(rows: &Rows) -> ApiResult<Option<String>> {
    match rows.first() {
        None => Ok(None),
        Some(row) => row
            .text(0)
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| ApiError::internal("unexpected column type")),
    }
}

/// The first row's two text columns; `None` without a row, `shape` (naming the table) when a
/// column is not text.
fn text_pair(rows: &Rows, shape: &'static str) -> ApiResult<Option<(String, String)>> {
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    match (row.text(0), row.text(1)) {
        (Some(a), Some(b)) => Ok(Some((a.to_owned(), b.to_owned()))),
        _ => Err(ApiError::internal(shape)),
    }
}

pub struct NamespaceInfo {
    pub namespace: String,
    pub allowed_cidrs_json: String,
    pub created_at: i64,
    pub secret_rotated_at: Option<i64>,
}

pub struct SessionRow {
    pub namespace: String,
    pub user_id: String,
    pub init_token_ct: String,
    pub expires_at: i64,
    pub last_used_at: i64,
}
