//! Tables and statements (docs/shield.md, "Storage"), in portable SQL (docs/platform.md, "Design: portable SQL") so the same statements
//! run on SQLite and PostgreSQL: `?` placeholders, TEXT ids, BIGINT unix-ms timestamps, INTEGER
//! 0/1 booleans, base64 TEXT for binary, `INSERT … ON CONFLICT`, `DELETE … RETURNING`. The
//! components create the schema idempotently before the first statement of a request
//! (`CREATE … IF NOT EXISTS`); there is no separate migration step.
//!
//! Foreign keys are declared (docs/shield.md, "Storage"), but SQLite enforces them only when a connection enables them,
//! so every delete that must cascade for behaviour (a provider's external users) is explicit.

use std::cell::{Cell, OnceCell};

use envelope::{MasterKey, Sealer};
use guest_kit::{Db, Row, Rows, Value};
use zeroize::Zeroizing;

use crate::error::Shield as _;
use crate::error::{ApiError, ApiResult, storage};

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
];

/// The tables, created on a request's first statement; `sh_schema_2` marks them complete
/// (`sh_schema_1` had no `ix_rate_limit_window`: a new marker makes existing databases get it).
const SCHEMA: guest_kit::Schema = guest_kit::Schema {
    marker: "sh_schema_2",
    statements: TABLES,
};

/// The HKDF `info` of every shield ciphertext at rest; the AAD names table and row.
const SEAL_INFO: &[u8] = b"keyward/shield/at-rest/v1";

#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub id: String,
    pub name: String,
    pub api_secret_sha256: String,
    pub enable_2fa: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Provider {
    pub id: String,
    pub project_id: String,
    pub kind: String,
    pub publishable_key: Option<String>,
    pub jwk_url: Option<String>,
    pub pem: Option<String>,
    pub key_type: Option<String>,
    pub cookie_field_name: Option<String>,
}

pub(crate) struct EncryptionKey {
    pub db_part: Zeroizing<String>,
    pub key_check: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Share {
    pub id: String,
    pub user_id: String,
    pub keychain_id: String,
    pub reference: String,
    pub entropy: String,
    /// Unsealed: plaintext for none/user/passkey, AES-GCM under K for project.
    pub data: Zeroizing<String>,
    pub salt: Option<String>,
    pub iterations: Option<i64>,
    pub length: Option<i64>,
    pub digest: Option<String>,
    pub storage_method_id: i64,
    pub passkey_id: Option<String>,
    pub passkey_env: Option<String>,
}

/// A share to insert or to write over an existing one.
pub(crate) struct NewShare<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub user_id: &'a str,
    pub keychain_id: &'a str,
    pub reference: &'a str,
    pub entropy: &'a str,
    pub data: &'a str,
    pub salt: Option<&'a str>,
    pub iterations: Option<i64>,
    pub length: Option<i64>,
    pub digest: Option<&'a str>,
    pub storage_method_id: i64,
    pub passkey_id: Option<&'a str>,
    pub passkey_env: Option<&'a str>,
}

const SHARE_COLUMNS: &str = "id, user_id, keychain_id, reference, entropy, data, salt, iterations, \
     length, digest, storage_method_id, passkey_id, passkey_env";

/// Storage for one request.
pub(crate) struct Store<'a> {
    db: &'a dyn Db,
    master_key: Option<String>,
    ready: Cell<bool>,
    sealer: OnceCell<Option<Sealer>>,
}

fn text(row: &Row<'_>, i: usize) -> ApiResult<String> {
    row.text(i)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::internal("unexpected column type"))
}

fn opt_text(row: &Row<'_>, i: usize) -> ApiResult<Option<String>> {
    match row.get(i) {
        Some(Value::Text(s)) => Ok(Some(s.clone())),
        Some(Value::Null) => Ok(None),
        _ => Err(ApiError::internal("unexpected column type")),
    }
}

fn opt_int(row: &Row<'_>, i: usize) -> ApiResult<Option<i64>> {
    row.opt_integer(i)
        .ok_or_else(|| ApiError::internal("unexpected column type"))
}

fn opt_str(v: Option<&str>) -> Value {
    v.map_or(Value::Null, Value::from)
}

impl<'a> Store<'a> {
    pub fn new(db: &'a dyn Db, master_key: Option<String>) -> Self {
        Self {
            db,
            master_key,
            ready: Cell::new(false),
            sealer: OnceCell::new(),
        }
    }

    pub fn run(&self, sql: &str, params: &[Value]) -> ApiResult<Rows> {
        if !self.ready.get() {
            SCHEMA.ensure(self.db).map_err(storage)?;
            self.ready.set(true);
        }
        self.db.execute(sql, params).map_err(storage)
    }

    /// Runs `f` in a transaction whose first statement write-locks the project row (so SQLite
    /// takes the write lock at once and PostgreSQL serialises per project). Rolled back on error.
    pub fn tx<T>(
        &self,
        project_id: &str,
        now_ms: i64,
        f: impl FnOnce() -> ApiResult<T>,
    ) -> ApiResult<T> {
        self.run("BEGIN", &[])?;
        let result = self
            .db
            .execute(
                "UPDATE projects SET updated_at = ? WHERE id = ?",
                &[now_ms.into(), project_id.into()],
            )
            .map_err(storage)
            .and_then(|_| f());
        match result {
            Ok(v) => {
                if let Err(e) = self.db.execute("COMMIT", &[]) {
                    let _ = self.db.execute("ROLLBACK", &[]);
                    return Err(storage(e));
                }
                Ok(v)
            }
            Err(e) => {
                let _ = self.db.execute("ROLLBACK", &[]);
                Err(e)
            }
        }
    }

    fn sealer(&self) -> ApiResult<&Sealer> {
        self.sealer
            .get_or_init(|| {
                let master = MasterKey::parse(self.master_key.as_deref()?).ok()?;
                Sealer::new(&master, SEAL_INFO).ok()
            })
            .as_ref()
            .ok_or_else(|| ApiError::internal("master_key is missing or invalid"))
    }

    pub fn seal(&self, table: &str, id: &str, plaintext: &str) -> ApiResult<String> {
        self.sealer()?
            .seal(
                plaintext.as_bytes(),
                format!("shield|{table}|{id}").as_bytes(),
            )
            .map_err(|_| ApiError::internal("seal"))
    }

    pub fn open(&self, table: &str, id: &str, sealed: &str) -> ApiResult<Zeroizing<String>> {
        let bytes = Zeroizing::new(
            self.sealer()?
                .open(sealed, format!("shield|{table}|{id}").as_bytes())
                .map_err(|_| ApiError::internal("open sealed value"))?,
        );
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| ApiError::internal("sealed value is not UTF-8"))
    }

    // ---- projects ----

    pub fn insert_project(
        &self,
        id: &str,
        name: &str,
        api_key: &str,
        secret_sha256: &str,
        now_ms: i64,
    ) -> ApiResult<()> {
        self.run(
            "INSERT INTO projects (id, name, api_key, api_secret_sha256, enable_2fa, created_at, updated_at) \
             VALUES (?, ?, ?, ?, 0, ?, ?)",
            &[id.into(), name.into(), api_key.into(), secret_sha256.into(), now_ms.into(), now_ms.into()],
        )?;
        Ok(())
    }

    pub fn project_by_api_key(&self, api_key: &str) -> ApiResult<Option<Project>> {
        let rows = self.run(
            "SELECT id, name, api_secret_sha256, enable_2fa FROM projects WHERE api_key = ?",
            &[api_key.into()],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(Project {
            id: text(&row, 0)?,
            name: text(&row, 1)?,
            api_secret_sha256: text(&row, 2)?,
            enable_2fa: row.integer(3).unwrap_or(0) != 0,
        }))
    }

    // ---- encryption keys ----

    /// Inserts the project key unless one exists; `false` if it existed.
    pub fn insert_encryption_key(
        &self,
        project_id: &str,
        db_part: &str,
        key_check: &str,
        now_ms: i64,
    ) -> ApiResult<bool> {
        let sealed = self.seal("encryption_keys", project_id, db_part)?;
        let rows = self.run(
            "INSERT INTO encryption_keys (project_id, db_part, key_check, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (project_id) DO NOTHING RETURNING project_id",
            &[project_id.into(), sealed.into(), key_check.into(), now_ms.into()],
        )?;
        Ok(!rows.is_empty())
    }

    pub fn encryption_key(&self, project_id: &str) -> ApiResult<Option<EncryptionKey>> {
        let rows = self.run(
            "SELECT db_part, key_check FROM encryption_keys WHERE project_id = ?",
            &[project_id.into()],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some(EncryptionKey {
            db_part: self.open("encryption_keys", project_id, &text(&row, 0)?)?,
            key_check: opt_text(&row, 1)?,
        }))
    }

    // ---- providers ----

    fn provider_from(row: &Row<'_>) -> ApiResult<Provider> {
        Ok(Provider {
            id: text(row, 0)?,
            project_id: text(row, 1)?,
            kind: text(row, 2)?,
            publishable_key: opt_text(row, 3)?,
            jwk_url: opt_text(row, 4)?,
            pem: opt_text(row, 5)?,
            key_type: opt_text(row, 6)?,
            cookie_field_name: opt_text(row, 7)?,
        })
    }

    const PROVIDER_COLUMNS: &'static str =
        "id, project_id, type, publishable_key, jwk_url, pem, key_type, cookie_field_name";

    pub fn providers(&self, project_id: &str) -> ApiResult<Vec<Provider>> {
        let rows = self.run(
            &format!(
                "SELECT {} FROM providers WHERE project_id = ? ORDER BY created_at, id",
                Self::PROVIDER_COLUMNS
            ),
            &[project_id.into()],
        )?;
        rows.iter().map(|r| Self::provider_from(&r)).collect()
    }

    pub fn provider_by_type(&self, project_id: &str, kind: &str) -> ApiResult<Option<Provider>> {
        let rows = self.run(
            &format!(
                "SELECT {} FROM providers WHERE project_id = ? AND type = ?",
                Self::PROVIDER_COLUMNS
            ),
            &[project_id.into(), kind.into()],
        )?;
        rows.first().map(|r| Self::provider_from(&r)).transpose()
    }

    pub fn provider(&self, project_id: &str, id: &str) -> ApiResult<Option<Provider>> {
        let rows = self.run(
            &format!(
                "SELECT {} FROM providers WHERE project_id = ? AND id = ?",
                Self::PROVIDER_COLUMNS
            ),
            &[project_id.into(), id.into()],
        )?;
        rows.first().map(|r| Self::provider_from(&r)).transpose()
    }

    /// `false` when the project already has a provider of that type.
    pub fn insert_provider(&self, p: &Provider, now_ms: i64) -> ApiResult<bool> {
        let rows = self.run(
            "INSERT INTO providers (id, project_id, type, publishable_key, jwk_url, pem, key_type, \
             cookie_field_name, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (project_id, type) DO NOTHING RETURNING id",
            &[
                p.id.as_str().into(),
                p.project_id.as_str().into(),
                p.kind.as_str().into(),
                opt_str(p.publishable_key.as_deref()),
                opt_str(p.jwk_url.as_deref()),
                opt_str(p.pem.as_deref()),
                opt_str(p.key_type.as_deref()),
                opt_str(p.cookie_field_name.as_deref()),
                now_ms.into(),
                now_ms.into(),
            ],
        )?;
        Ok(!rows.is_empty())
    }

    pub fn update_provider(&self, p: &Provider, now_ms: i64) -> ApiResult<()> {
        self.run(
            "UPDATE providers SET publishable_key = ?, jwk_url = ?, pem = ?, key_type = ?, \
             cookie_field_name = ?, updated_at = ? WHERE id = ? AND project_id = ?",
            &[
                opt_str(p.publishable_key.as_deref()),
                opt_str(p.jwk_url.as_deref()),
                opt_str(p.pem.as_deref()),
                opt_str(p.key_type.as_deref()),
                opt_str(p.cookie_field_name.as_deref()),
                now_ms.into(),
                p.id.as_str().into(),
                p.project_id.as_str().into(),
            ],
        )?;
        Ok(())
    }

    pub fn delete_provider(&self, project_id: &str, id: &str) -> ApiResult<()> {
        self.run(
            "DELETE FROM external_users WHERE provider_id = ? AND project_id = ?",
            &[id.into(), project_id.into()],
        )?;
        self.run(
            "DELETE FROM providers WHERE id = ? AND project_id = ?",
            &[id.into(), project_id.into()],
        )?;
        Ok(())
    }

    // ---- users ----

    pub fn user_for_external(
        &self,
        provider_id: &str,
        external_id: &str,
    ) -> ApiResult<Option<String>> {
        let rows = self.run(
            "SELECT user_id FROM external_users WHERE provider_id = ? AND external_user_id = ?",
            &[provider_id.into(), external_id.into()],
        )?;
        rows.first().map(|r| text(&r, 0)).transpose()
    }

    /// Get-or-create the internal user (with its keychain) for (provider, external id).
    pub fn get_or_create_user(
        &self,
        project_id: &str,
        provider_id: &str,
        external_id: &str,
        now_ms: i64,
    ) -> ApiResult<String> {
        if let Some(id) = self.user_for_external(provider_id, external_id)? {
            return Ok(id);
        }
        let user_id = crate::util::uuid_v4()?;
        let keychain_id = crate::util::uuid_v4()?;
        let link_id = crate::util::uuid_v4()?;
        let created = self.tx(project_id, now_ms, || {
            self.run(
                "INSERT INTO users (id, project_id, created_at) VALUES (?, ?, ?)",
                &[user_id.as_str().into(), project_id.into(), now_ms.into()],
            )?;
            self.run(
                "INSERT INTO keychains (id, user_id, created_at) VALUES (?, ?, ?)",
                &[keychain_id.as_str().into(), user_id.as_str().into(), now_ms.into()],
            )?;
            let rows = self.run(
                "INSERT INTO external_users (id, user_id, project_id, provider_id, external_user_id, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider_id, external_user_id) DO NOTHING RETURNING user_id",
                &[
                    link_id.as_str().into(),
                    user_id.as_str().into(),
                    project_id.into(),
                    provider_id.into(),
                    external_id.into(),
                    now_ms.into(),
                ],
            )?;
            if rows.is_empty() {
                // Lost a race: undo our user, use the winner's.
                return Err(ApiError::new(409, "RACE", ""));
            }
            Ok(())
        });
        match created {
            Ok(()) => Ok(user_id),
            Err(e) if e.code == "RACE" => self
                .user_for_external(provider_id, external_id)?
                .ok_or_else(|| ApiError::internal("user link vanished")),
            Err(e) => Err(e),
        }
    }

    pub fn user_in_project(&self, project_id: &str, user_id: &str) -> ApiResult<bool> {
        Ok(!self
            .run(
                "SELECT 1 FROM users WHERE id = ? AND project_id = ?",
                &[user_id.into(), project_id.into()],
            )?
            .is_empty())
    }

    pub fn keychain_of(&self, user_id: &str) -> ApiResult<Option<String>> {
        let rows = self.run(
            "SELECT id FROM keychains WHERE user_id = ?",
            &[user_id.into()],
        )?;
        rows.first().map(|r| text(&r, 0)).transpose()
    }

    /// The external ids linked to an internal user.
    pub fn linked_user_ids(&self, project_id: &str, external_id: &str) -> ApiResult<Vec<String>> {
        let rows = self.run(
            "SELECT DISTINCT user_id FROM external_users WHERE project_id = ? AND external_user_id = ?",
            &[project_id.into(), external_id.into()],
        )?;
        rows.iter().map(|r| text(&r, 0)).collect()
    }

    // ---- shares ----

    fn share_from(&self, row: &Row<'_>) -> ApiResult<Share> {
        let id = text(row, 0)?;
        let data = self.open("shares", &id, &text(row, 5)?)?;
        Ok(Share {
            user_id: text(row, 1)?,
            keychain_id: text(row, 2)?,
            reference: text(row, 3)?,
            entropy: text(row, 4)?,
            data,
            salt: opt_text(row, 6)?,
            iterations: opt_int(row, 7)?,
            length: opt_int(row, 8)?,
            digest: opt_text(row, 9)?,
            storage_method_id: opt_int(row, 10)?.unwrap_or(0),
            passkey_id: opt_text(row, 11)?,
            passkey_env: opt_text(row, 12)?,
            id,
        })
    }

    fn shares_where(&self, clause: &str, params: &[Value]) -> ApiResult<Vec<Share>> {
        let rows = self.run(
            &format!("SELECT {SHARE_COLUMNS} FROM shares WHERE {clause}"),
            params,
        )?;
        rows.iter().map(|r| self.share_from(&r)).collect()
    }

    pub fn user_share(&self, user_id: &str, reference: &str) -> ApiResult<Option<Share>> {
        Ok(self
            .shares_where(
                "user_id = ? AND reference = ?",
                &[user_id.into(), reference.into()],
            )?
            .into_iter()
            .next())
    }

    /// The project's share with a non-default reference, owned by one of `users`.
    pub fn project_share(&self, project_id: &str, reference: &str) -> ApiResult<Option<Share>> {
        Ok(self
            .shares_where(
                "project_id = ? AND reference = ? ORDER BY created_at, id",
                &[project_id.into(), reference.into()],
            )?
            .into_iter()
            .next())
    }

    pub fn user_shares(&self, user_id: &str) -> ApiResult<Vec<Share>> {
        self.shares_where("user_id = ? ORDER BY created_at, id", &[user_id.into()])
    }

    pub fn project_shares_with_entropy(
        &self,
        project_id: &str,
        entropy: &str,
    ) -> ApiResult<Vec<Share>> {
        self.shares_where(
            "project_id = ? AND entropy = ? ORDER BY created_at, id",
            &[project_id.into(), entropy.into()],
        )
    }

    /// Whether `reference` is taken: by the user, or (non-default) by anyone in the project.
    pub fn reference_taken(
        &self,
        project_id: &str,
        user_id: &str,
        reference: &str,
    ) -> ApiResult<bool> {
        let rows = if reference == shield_core::validate::DEFAULT_REFERENCE {
            self.run(
                "SELECT 1 FROM shares WHERE user_id = ? AND reference = ?",
                &[user_id.into(), reference.into()],
            )?
        } else {
            self.run(
                "SELECT 1 FROM shares WHERE project_id = ? AND reference = ?",
                &[project_id.into(), reference.into()],
            )?
        };
        Ok(!rows.is_empty())
    }

    /// Inserts a share; `false` when a uniqueness constraint (a racing duplicate) refused it.
    pub fn insert_share(&self, s: &NewShare<'_>, now_ms: i64) -> ApiResult<bool> {
        let sealed = self.seal("shares", s.id, s.data)?;
        let rows = self.run(
            "INSERT INTO shares (id, project_id, user_id, keychain_id, reference, entropy, data, salt, \
             iterations, length, digest, storage_method_id, passkey_id, passkey_env, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
            &[
                s.id.into(),
                s.project_id.into(),
                s.user_id.into(),
                s.keychain_id.into(),
                s.reference.into(),
                s.entropy.into(),
                sealed.into(),
                opt_str(s.salt),
                s.iterations.into(),
                s.length.into(),
                opt_str(s.digest),
                s.storage_method_id.into(),
                opt_str(s.passkey_id),
                opt_str(s.passkey_env),
                now_ms.into(),
                now_ms.into(),
            ],
        )?;
        Ok(!rows.is_empty())
    }

    /// Replaces entropy, data and parameters of an existing share (`s.id`).
    pub fn update_share(&self, s: &NewShare<'_>, now_ms: i64) -> ApiResult<bool> {
        let sealed = self.seal("shares", s.id, s.data)?;
        let rows = self.run(
            "UPDATE shares SET entropy = ?, data = ?, salt = ?, iterations = ?, length = ?, digest = ?, \
             passkey_id = ?, passkey_env = ?, updated_at = ? WHERE id = ? RETURNING id",
            &[
                s.entropy.into(),
                sealed.into(),
                opt_str(s.salt),
                s.iterations.into(),
                s.length.into(),
                opt_str(s.digest),
                opt_str(s.passkey_id),
                opt_str(s.passkey_env),
                now_ms.into(),
                s.id.into(),
            ],
        )?;
        Ok(!rows.is_empty())
    }

    pub fn convert_to_project(&self, share_id: &str, data: &str, now_ms: i64) -> ApiResult<()> {
        let sealed = self.seal("shares", share_id, data)?;
        self.run(
            "UPDATE shares SET entropy = 'project', data = ?, updated_at = ? WHERE id = ? AND entropy = 'none'",
            &[sealed.into(), now_ms.into(), share_id.into()],
        )?;
        Ok(())
    }

    pub fn delete_share(
        &self,
        user_id: &str,
        keychain_id: &str,
        reference: &str,
    ) -> ApiResult<bool> {
        let rows = self.run(
            "DELETE FROM shares WHERE user_id = ? AND keychain_id = ? AND reference = ? RETURNING id",
            &[user_id.into(), keychain_id.into(), reference.into()],
        )?;
        Ok(!rows.is_empty())
    }

    // ---- encryption sessions (docs/shield.md, "Design: encryption sessions") ----

    pub fn insert_session(
        &self,
        id: &str,
        project_id: &str,
        part: &str,
        user_id: Option<&str>,
        now_ms: i64,
        ttl_ms: i64,
    ) -> ApiResult<()> {
        // Opportunistic purge of expired sessions.
        self.run(
            "DELETE FROM encryption_sessions WHERE expires_at <= ?",
            &[now_ms.into()],
        )?;
        let sealed = self.seal("encryption_sessions", id, part)?;
        self.run(
            "INSERT INTO encryption_sessions (id, project_id, encryption_part, user_id, otp_verified, \
             created_at, expires_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
            &[
                id.into(),
                project_id.into(),
                sealed.into(),
                opt_str(user_id),
                now_ms.into(),
                (now_ms + ttl_ms).into(),
            ],
        )?;
        Ok(())
    }

    /// Consumes a live session of the project atomically; its part, or `None`.
    pub fn consume_session(
        &self,
        id: &str,
        project_id: &str,
        now_ms: i64,
    ) -> ApiResult<Option<Zeroizing<String>>> {
        let rows = self.run(
            "DELETE FROM encryption_sessions WHERE id = ? AND project_id = ? AND expires_at > ? \
             RETURNING encryption_part",
            &[id.into(), project_id.into(), now_ms.into()],
        )?;
        match rows.first() {
            Some(row) => Ok(Some(self.open(
                "encryption_sessions",
                id,
                &text(&row, 0)?,
            )?)),
            None => Ok(None),
        }
    }

    // ---- rate limit (docs/shield.md, "Design: rate limit") ----

    /// Counts one request in the fixed window starting at `window_start` (unix ms); returns the
    /// count so far. The first request of
    /// a bucket's window removes every older window of every bucket: a bucket that never comes
    /// back (an unknown project, a deleted one) must not keep its counters forever.
    pub fn count_request(&self, bucket: &str, window_start: i64) -> ApiResult<i64> {
        let rows = self.run(
            "INSERT INTO rate_limit_counters (bucket, window_start, count) VALUES (?, ?, 1) \
             ON CONFLICT (bucket, window_start) DO UPDATE SET count = rate_limit_counters.count + 1 \
             RETURNING count",
            &[bucket.into(), window_start.into()],
        )?;
        let count = rows.first().and_then(|r| r.integer(0)).unwrap_or(1);
        if count == 1 {
            self.run(
                "DELETE FROM rate_limit_counters WHERE window_start < ?",
                &[window_start.into()],
            )?;
        }
        Ok(count)
    }
}

/// shield's rate-limit counters are rows of `rate_limit_counters` (one atomic upsert per
/// request), under guest-kit's one rate limiter.
impl guest_kit::ratelimit::Counters for Store<'_> {
    fn hit(
        &self,
        bucket: &str,
        window: i64,
        window_ms: i64,
        _limit: u64,
    ) -> Result<u64, guest_kit::ratelimit::CounterError> {
        let count = self
            .count_request(bucket, window.saturating_mul(window_ms))
            .map_err(|_| guest_kit::ratelimit::CounterError)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
