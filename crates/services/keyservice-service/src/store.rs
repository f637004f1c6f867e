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
    // The operator lists and revokes one user's sessions (docs/keyservice.md, "Design: revoking
    // sessions"); without it those would scan the whole namespace.
    "CREATE INDEX IF NOT EXISTS ks_session_user ON ks_session (namespace, user_id)",
    // The secret a rotation replaced, while its overlap window lasts (docs/keyservice.md,
    // "Design: rotating a namespace secret"). A table of its own rather than columns of
    // `ks_namespace`: `CREATE TABLE IF NOT EXISTS` brings existing databases along, where SQLite
    // has no `ADD COLUMN IF NOT EXISTS`.
    "CREATE TABLE IF NOT EXISTS ks_namespace_previous_secret (\
        namespace TEXT PRIMARY KEY, \
        secret_ct TEXT NOT NULL, \
        expires_at BIGINT NOT NULL)",
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

/// The tables, created on first use; `ks_schema_2` marks them complete (`ks_schema_1` marked
/// them before the session index by user and the previous secrets: a database that has only it
/// gets those on its next request, every other statement being `IF NOT EXISTS`).
pub const SCHEMA: guest_kit::Schema = guest_kit::Schema {
    marker: "ks_schema_2",
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

    /// What `/connect` needs of a namespace: its secret, its allow-list and the secret a rotation
    /// replaced, if one is kept (whatever its expiry: the caller decides).
    pub fn namespace_auth(&self, namespace: &str) -> ApiResult<Option<NamespaceAuth>> {
        let rows = self.run(
            "SELECT n.secret_ct, n.allowed_cidrs, p.secret_ct, p.expires_at \
             FROM ks_namespace n LEFT JOIN ks_namespace_previous_secret p \
             ON p.namespace = n.namespace WHERE n.namespace = ?",
            &[namespace.into()],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let shape = || ApiError::internal("ks_namespace row shape");
        let (Some(secret_ct), Some(cidrs)) = (row.text(0), row.text(1)) else {
            return Err(shape());
        };
        let previous = if row.is_null(2) {
            None
        } else {
            match (row.text(2), row.integer(3)) {
                (Some(ct), Some(expires_at)) => Some((ct.to_owned(), expires_at)),
                _ => return Err(shape()),
            }
        };
        Ok(Some(NamespaceAuth {
            secret_ct: secret_ct.to_owned(),
            allowed_cidrs_json: cidrs.to_owned(),
            previous,
        }))
    }

    /// The namespace's sealed secret; `None` if there is no such namespace.
    pub fn namespace_secret(&self, namespace: &str) -> ApiResult<Option<String>> {
        let rows = self.run(
            "SELECT secret_ct FROM ks_namespace WHERE namespace = ?",
            &[namespace.into()],
        )?;
        text_cell(&rows)
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

    /// Replaces the secret `old_ct` by `new_ct`; `false` if the namespace is gone or its secret
    /// is no longer `old_ct` (another rotation came first: its secret must not be lost silently,
    /// nor kept as the "previous" one of this rotation).
    pub fn rotate_secret(
        &self,
        namespace: &str,
        old_ct: &str,
        new_ct: &str,
        now: i64,
    ) -> ApiResult<bool> {
        let rows = self.run(
            "UPDATE ks_namespace SET secret_ct = ?, secret_rotated_at = ? \
             WHERE namespace = ? AND secret_ct = ? RETURNING namespace",
            &[new_ct.into(), now.into(), namespace.into(), old_ct.into()],
        )?;
        Ok(!rows.is_empty())
    }

    /// Keeps `secret_ct` (the secret just replaced, sealed as a previous one) valid until
    /// `expires_at`, in place of any earlier previous secret.
    pub fn set_previous_secret(
        &self,
        namespace: &str,
        secret_ct: &str,
        expires_at: i64,
    ) -> ApiResult<()> {
        self.run(
            "INSERT INTO ks_namespace_previous_secret (namespace, secret_ct, expires_at) \
             VALUES (?, ?, ?) ON CONFLICT (namespace) DO UPDATE SET \
             secret_ct = excluded.secret_ct, expires_at = excluded.expires_at",
            &[namespace.into(), secret_ct.into(), expires_at.into()],
        )?;
        Ok(())
    }

    /// Forgets the namespace's previous secret, if `now` is past its expiry (`None`: whatever
    /// its expiry).
    pub fn drop_previous_secret(&self, namespace: &str, now: Option<i64>) -> ApiResult<()> {
        match now {
            Some(now) => self.run(
                "DELETE FROM ks_namespace_previous_secret WHERE namespace = ? AND expires_at <= ?",
                &[namespace.into(), now.into()],
            )?,
            None => self.run(
                "DELETE FROM ks_namespace_previous_secret WHERE namespace = ?",
                &[namespace.into()],
            )?,
        };
        Ok(())
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
        self.drop_previous_secret(namespace, None)?;
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

    /// Every session row of one user, live or not yet swept.
    pub fn user_sessions(&self, namespace: &str, user_id: &str) -> ApiResult<Vec<SessionInfo>> {
        let rows = self.run(
            "SELECT token_digest, created_at, expires_at, last_used_at FROM ks_session \
             WHERE namespace = ? AND user_id = ?",
            &[namespace.into(), user_id.into()],
        )?;
        rows.iter()
            .map(
                |row| match (row.text(0), row.integer(1), row.integer(2), row.integer(3)) {
                    (Some(digest), Some(created), Some(expires), Some(used)) => Ok(SessionInfo {
                        token_digest: digest.to_owned(),
                        created_at: created,
                        expires_at: expires,
                        last_used_at: used,
                    }),
                    _ => Err(ApiError::internal("ks_session row shape")),
                },
            )
            .collect()
    }

    /// Deletes one session of one user by its digest; whether it was there.
    pub fn delete_session(
        &self,
        namespace: &str,
        user_id: &str,
        token_digest: &str,
    ) -> ApiResult<bool> {
        let rows = self.run(
            "DELETE FROM ks_session WHERE namespace = ? AND user_id = ? AND token_digest = ? \
             RETURNING token_digest",
            &[namespace.into(), user_id.into(), token_digest.into()],
        )?;
        Ok(!rows.is_empty())
    }

    /// Deletes every session of one user, or of the whole namespace (`user_id` `None`); how many
    /// rows there were. Counted first rather than returned by the `DELETE`: a namespace may hold
    /// more sessions than one query result may carry to a guest.
    pub fn delete_sessions(&self, namespace: &str, user_id: Option<&str>) -> ApiResult<i64> {
        let (filter, params): (&str, Vec<Value>) = match user_id {
            Some(user) => (
                "namespace = ? AND user_id = ?",
                vec![namespace.into(), user.into()],
            ),
            None => ("namespace = ?", vec![namespace.into()]),
        };
        let rows = self.run(
            &format!("SELECT COUNT(*) FROM ks_session WHERE {filter}"),
            &params,
        )?;
        let count = rows
            .first()
            .and_then(|r| r.integer(0))
            .ok_or_else(|| ApiError::internal("ks_session count"))?;
        self.run(&format!("DELETE FROM ks_session WHERE {filter}"), &params)?;
        Ok(count)
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

    /// Whether a value is stored for the user.
    pub fn has_key(&self, namespace: &str, user_id: &str) -> ApiResult<bool> {
        let rows = self.run(
            "SELECT 1 FROM ks_key WHERE namespace = ? AND user_id = ?",
            &[namespace.into(), user_id.into()],
        )?;
        Ok(!rows.is_empty())
    }

    /// Whether there was a key to delete.
    pub fn delete_key(&self, namespace: &str, user_id: &str) -> ApiResult<bool> {
        let rows = self.run(
            "DELETE FROM ks_key WHERE namespace = ? AND user_id = ? RETURNING user_id",
            &[namespace.into(), user_id.into()],
        )?;
        Ok(!rows.is_empty())
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

pub struct NamespaceAuth {
    pub secret_ct: String,
    pub allowed_cidrs_json: String,
    /// The secret a rotation replaced (sealed as a previous one) and its expiry, unix ms.
    pub previous: Option<(String, i64)>,
}

/// A session as the operator sees it: never its token or its init token.
pub struct SessionInfo {
    pub token_digest: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: i64,
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
