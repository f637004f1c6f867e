//! `keyward shield import` (docs/shield.md, "Design: import from upstream Shield";
//! docs/OPERATIONS.md, "Moving from upstream Shield"): reads an upstream Shield PostgreSQL
//! database (its v0.3.0 schema) and writes its projects, providers, users, keychains, shares and
//! stored key parts into this deployment's shield database, sealed as the service seals them.
//!
//! Every row keeps its upstream id and is written with `INSERT … ON CONFLICT DO NOTHING`, so a
//! rerun writes only what is missing (idempotent) and an interrupted run is finished by running
//! it again (resumable). Each project is one transaction. A dry run does the same work and rolls
//! every transaction back: its counts are exactly what the import would write.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Context, Result, bail};
use envelope::{Keyring, Sealer};
use serde_json::{Value as Json, json};
use tokio_postgres::Row;

use crate::audit_record::{self, CommandRecord, now_ms};
use crate::capabilities::sqlite::SqlConn;
use crate::capabilities::sqlite::values::Value;
use crate::databases::{self, query};
use crate::sources::Sources;

/// The label of shield's database in the manifest.
const LABEL: &str = "shield";

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    pub sources: Sources,
    /// The upstream Shield PostgreSQL database, `postgres://user:password@host:port/db`.
    #[arg(long, env = "KEYWARD_SHIELD_IMPORT_FROM")]
    pub from: String,
    /// Count what would be imported, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this upstream project (repeatable); every project by default.
    #[arg(long = "project")]
    pub projects: Vec<String>,
}

/// What one kind of row did.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Written by this run.
    imported: u64,
    /// Already there with the same id (an earlier run).
    present: u64,
    /// Not written: named in the report.
    skipped: u64,
}

impl Counts {
    fn json(self) -> Json {
        json!({"imported": self.imported, "present": self.present, "skipped": self.skipped})
    }
}

const KINDS: [&str; 7] = [
    "projects",
    "encryption_keys",
    "providers",
    "users",
    "external_users",
    "keychains",
    "shares",
];

#[derive(Default)]
struct Report {
    counts: HashMap<&'static str, Counts>,
    /// Share counts by entropy (imported or present).
    entropy: HashMap<String, u64>,
    skipped: Vec<Json>,
}

impl Report {
    fn count(&mut self, kind: &'static str, outcome: Outcome) {
        let c = self.counts.entry(kind).or_default();
        match outcome {
            Outcome::Imported => c.imported += 1,
            Outcome::Present => c.present += 1,
            Outcome::Conflict => c.skipped += 1,
        }
    }

    fn skip(&mut self, kind: &'static str, id: &str, reason: &str) {
        self.counts.entry(kind).or_default().skipped += 1;
        self.skipped
            .push(json!({"kind": kind, "id": id, "reason": reason}));
    }

    fn json(&self, dry_run: bool) -> Json {
        let mut out = serde_json::Map::new();
        out.insert("dry_run".into(), dry_run.into());
        for kind in KINDS {
            let c = self.counts.get(kind).copied().unwrap_or_default();
            out.insert(kind.into(), c.json());
        }
        out.insert("shares_by_entropy".into(), json!(self.entropy));
        out.insert("skipped_rows".into(), Json::Array(self.skipped.clone()));
        Json::Object(out)
    }
}

enum Outcome {
    Imported,
    Present,
    /// Another row holds one of its unique values.
    Conflict,
}

/// `keyward shield import`: prints progress and, last, a JSON line with the counts.
pub async fn run(args: &ImportArgs, out: &mut impl Write) -> Result<()> {
    let (app, config, state_dir) = args.sources.load().await?;
    let rings = databases::keyrings(&app, &config)?;
    let [ring] = rings.as_slice() else {
        bail!(
            "the components are given {} different master_key values: give every component the same one before importing",
            rings.len()
        );
    };
    let sealer = Sealer::with_keyring(ring, sealed_columns::shield::INFO)?;
    let db = databases::of_app(&app, &config, &state_dir)?
        .into_iter()
        .find(|d| d.labels.iter().any(|l| l == LABEL))
        .context("no component of the manifest uses the `shield` database")?;
    let mut conn = db.database.connect();

    let (upstream, connection) = tokio_postgres::connect(&args.from, tokio_postgres::NoTls)
        .await
        .context("cannot connect to the upstream Shield database given by --from")?;
    let driver = tokio::spawn(connection);

    if !args.dry_run {
        create_schema(&mut conn).await?;
    }
    let mut report = Report::default();
    let projects = upstream
        .query(
            &format!(
                "SELECT p.id, p.name, p.api_key, p.api_secret, p.enable_2fa, {}, {}, \
                 EXISTS (SELECT 1 FROM shld_shamir_migrations m WHERE m.project_id = p.id AND m.success) \
                 FROM shld_projects p WHERE p.deleted_at IS NULL ORDER BY p.id",
                ms("p.created_at"),
                ms("p.updated_at")
            ),
            &[],
        )
        .await
        .context("reading shld_projects (is --from an upstream Shield v0.3 database?)")?;
    for p in &projects {
        let id: String = p.try_get(0)?;
        if !args.projects.is_empty() && !args.projects.contains(&id) {
            continue;
        }
        query(&mut conn, "BEGIN", Vec::new()).await?;
        let done = async {
            if args.dry_run {
                create_schema(&mut conn).await?;
            }
            project(&upstream, &mut conn, &sealer, p, &mut report).await
        }
        .await;
        let end = if done.is_ok() && !args.dry_run {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let ended = query(&mut conn, end, Vec::new()).await;
        done.with_context(|| format!("project {id}"))?;
        ended?;
        writeln!(
            out,
            "project {id}: {}",
            if args.dry_run { "counted" } else { "imported" }
        )?;
        out.flush()?;
    }
    drop(upstream);
    driver.abort();

    let summary = report.json(args.dry_run);
    if !args.dry_run {
        record(&mut conn, ring, &summary).await?;
    }
    writeln!(out, "{summary}")?;
    out.flush()?;
    Ok(())
}

/// An upstream `TIMESTAMP` column as unix milliseconds (0 when NULL).
fn ms(column: &str) -> String {
    format!("COALESCE((EXTRACT(EPOCH FROM {column}) * 1000)::BIGINT, 0)")
}

async fn create_schema(conn: &mut SqlConn) -> Result<()> {
    for ddl in shield_service::SCHEMA.statements {
        query(conn, ddl, Vec::new()).await?;
    }
    let marker = format!(
        "CREATE TABLE IF NOT EXISTS {} (complete INTEGER NOT NULL)",
        shield_service::SCHEMA.marker
    );
    query(conn, &marker, Vec::new()).await?;
    Ok(())
}

/// Upstream's time, or now when it has none.
fn when(row: &Row, i: usize) -> Result<Value> {
    let t: i64 = row.try_get(i)?;
    Ok(Value::Integer(if t > 0 { t } else { now_ms() }))
}

fn text(v: impl Into<String>) -> Value {
    Value::Text(v.into())
}

fn opt(v: Option<String>) -> Value {
    v.filter(|s| !s.is_empty()).map_or(Value::Null, Value::Text)
}

/// A random UUIDv4, for the keychains keyward needs and upstream never made.
fn uuid_v4() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).context("the system random number generator failed")?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Inserts one row unless a row with its id (or another of its unique values) exists.
async fn insert(
    conn: &mut SqlConn,
    table: &str,
    key: &str,
    columns: &[&str],
    values: Vec<Value>,
) -> Result<Outcome> {
    let id = values.first().cloned().unwrap_or(Value::Null);
    let marks = vec!["?"; columns.len()].join(", ");
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({marks}) ON CONFLICT DO NOTHING RETURNING 1",
        columns.join(", ")
    );
    if !query(conn, &sql, values).await?.is_empty() {
        return Ok(Outcome::Imported);
    }
    let sql = format!("SELECT 1 FROM {table} WHERE {key} = ?");
    Ok(if query(conn, &sql, vec![id]).await?.is_empty() {
        Outcome::Conflict
    } else {
        Outcome::Present
    })
}

/// One upstream project and everything that belongs to it, in the caller's transaction.
async fn project(
    upstream: &tokio_postgres::Client,
    conn: &mut SqlConn,
    sealer: &Sealer,
    p: &Row,
    report: &mut Report,
) -> Result<()> {
    let id: String = p.try_get(0)?;
    let migrated: bool = p.try_get(7)?;
    // The bcrypt hash is stored as it is: the service checks it and replaces it by its fast
    // digest on first use (docs/shield.md, "Design: import from upstream Shield").
    let secret: String = p.try_get(3)?;
    if !secret.starts_with("$2") {
        report.skip(
            "projects",
            &id,
            "its api_secret is not a bcrypt hash: not an upstream Shield project",
        );
        return Ok(());
    }
    let outcome = insert(
        conn,
        "projects",
        "id",
        &[
            "id",
            "name",
            "api_key",
            "api_secret_sha256",
            "enable_2fa",
            "created_at",
            "updated_at",
        ],
        vec![
            text(id.clone()),
            text(p.try_get::<_, String>(1)?),
            text(p.try_get::<_, String>(2)?),
            text(secret),
            Value::Integer(i64::from(p.try_get::<_, bool>(4)?)),
            when(p, 5)?,
            when(p, 6)?,
        ],
    )
    .await?;
    if matches!(outcome, Outcome::Conflict) {
        report.skip(
            "projects",
            &id,
            "its api_key is already another project's in this deployment",
        );
        return Ok(());
    }
    report.count("projects", outcome);

    // The stored key part, without a key-check value: the "imported, no key check" state
    // (docs/shield.md, "Design: the project key").
    let part = upstream
        .query_opt(
            "SELECT part FROM shld_encryption_parts WHERE project_id = $1 ORDER BY id LIMIT 1",
            &[&id],
        )
        .await?;
    if let Some(part) = part {
        let part = zeroize::Zeroizing::new(part.try_get::<_, String>(0)?);
        let sealed = sealer.seal(
            part.as_bytes(),
            sealed_columns::shield::aad("encryption_keys", &id).as_bytes(),
        )?;
        let outcome = insert(
            conn,
            "encryption_keys",
            "project_id",
            &["project_id", "db_part", "key_check", "created_at"],
            vec![
                text(id.clone()),
                text(sealed),
                Value::Null,
                Value::Integer(now_ms()),
            ],
        )
        .await?;
        report.count("encryption_keys", outcome);
    }

    let providers = upstream
        .query(
            &format!(
                "SELECT pr.id, pr.type, o.publishable_key, c.jwk_url, c.pem_cert, c.key_type, \
                 c.cookie_field_name, {}, {} FROM shld_providers pr \
                 LEFT JOIN shld_openfort_providers o ON o.provider_id = pr.id \
                 LEFT JOIN shld_custom_providers c ON c.provider_id = pr.id \
                 WHERE pr.project_id = $1 AND pr.deleted_at IS NULL ORDER BY pr.created_at, pr.id",
                ms("pr.created_at"),
                ms("pr.updated_at")
            ),
            &[&id],
        )
        .await?;
    let mut provider_ids = Vec::new();
    for r in &providers {
        let pid: String = r.try_get(0)?;
        let outcome = insert(
            conn,
            "providers",
            "id",
            &[
                "id",
                "project_id",
                "type",
                "publishable_key",
                "jwk_url",
                "pem",
                "key_type",
                "cookie_field_name",
                "created_at",
                "updated_at",
            ],
            vec![
                text(pid.clone()),
                text(id.clone()),
                text(r.try_get::<_, String>(1)?),
                opt(r.try_get(2)?),
                opt(r.try_get(3)?),
                opt(r.try_get(4)?),
                opt(r
                    .try_get::<_, Option<String>>(5)?
                    .map(|k| k.to_ascii_lowercase())),
                opt(r.try_get(6)?),
                when(r, 7)?,
                when(r, 8)?,
            ],
        )
        .await?;
        if matches!(outcome, Outcome::Conflict) {
            report.skip(
                "providers",
                &pid,
                "the project has another provider of this type",
            );
            continue;
        }
        report.count("providers", outcome);
        provider_ids.push(pid);
    }

    let users = upstream
        .query(
            &format!(
                "SELECT id, {} FROM shld_users WHERE project_id = $1 AND deleted_at IS NULL ORDER BY id",
                ms("created_at")
            ),
            &[&id],
        )
        .await?;
    let mut user_ids = Vec::new();
    for r in &users {
        let uid: String = r.try_get(0)?;
        let outcome = insert(
            conn,
            "users",
            "id",
            &["id", "project_id", "created_at"],
            vec![text(uid.clone()), text(id.clone()), when(r, 1)?],
        )
        .await?;
        report.count("users", outcome);
        user_ids.push(uid);
    }

    let externals = upstream
        .query(
            &format!(
                "SELECT e.id, e.user_id, e.provider_id, e.external_user_id, {} \
                 FROM shld_external_users e JOIN shld_users u ON u.id = e.user_id \
                 WHERE u.project_id = $1 AND e.deleted_at IS NULL AND u.deleted_at IS NULL ORDER BY e.id",
                ms("e.created_at")
            ),
            &[&id],
        )
        .await?;
    for r in &externals {
        let eid: String = r.try_get(0)?;
        let uid: String = r.try_get(1)?;
        let pid: String = r.try_get(2)?;
        if !provider_ids.contains(&pid) {
            report.skip(
                "external_users",
                &eid,
                "its provider was deleted or not imported",
            );
            continue;
        }
        let outcome = insert(
            conn,
            "external_users",
            "id",
            &[
                "id",
                "user_id",
                "project_id",
                "provider_id",
                "external_user_id",
                "created_at",
            ],
            vec![
                text(eid.clone()),
                text(uid),
                text(id.clone()),
                text(pid),
                text(r.try_get::<_, String>(3)?),
                when(r, 4)?,
            ],
        )
        .await?;
        if matches!(outcome, Outcome::Conflict) {
            report.skip(
                "external_users",
                &eid,
                "the provider already links this external id to another user",
            );
            continue;
        }
        report.count("external_users", outcome);
    }

    // keyward keeps one keychain per user; upstream's first is kept, a user without one gets one
    // (counted when made; `present` counts upstream's keychains only).
    let keychains = upstream
        .query(
            &format!(
                "SELECT k.id, k.user_id, {} FROM shld_keychains k JOIN shld_users u ON u.id = k.user_id \
                 WHERE u.project_id = $1 AND k.deleted_at IS NULL AND u.deleted_at IS NULL \
                 ORDER BY k.created_at, k.id",
                ms("k.created_at")
            ),
            &[&id],
        )
        .await?;
    for r in &keychains {
        let kid: String = r.try_get(0)?;
        let outcome = insert(
            conn,
            "keychains",
            "id",
            &["id", "user_id", "created_at"],
            vec![
                text(kid.clone()),
                text(r.try_get::<_, String>(1)?),
                when(r, 2)?,
            ],
        )
        .await?;
        if matches!(outcome, Outcome::Conflict) {
            // Its shares go to the user's first keychain.
            report.skip(
                "keychains",
                &kid,
                "the user's first keychain holds its shares",
            );
            continue;
        }
        report.count("keychains", outcome);
    }
    let mut keychain_of: HashMap<String, String> = HashMap::new();
    for uid in &user_ids {
        let made = query(
            conn,
            "INSERT INTO keychains (id, user_id, created_at) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING RETURNING 1",
            vec![
                text(uuid_v4()?),
                text(uid.clone()),
                Value::Integer(now_ms()),
            ],
        )
        .await?;
        if !made.is_empty() {
            report.count("keychains", Outcome::Imported);
        }
        let rows = query(
            conn,
            "SELECT id FROM keychains WHERE user_id = ?",
            vec![text(uid.clone())],
        )
        .await?;
        if let Some(Some(Value::Text(k))) = rows.first().map(|r| r.first()) {
            keychain_of.insert(uid.clone(), k.clone());
        }
    }

    let shares = upstream
        .query(
            &format!(
                "SELECT s.id, COALESCE(s.user_id, k.user_id), s.reference, s.entropy, s.data, s.salt, \
                 s.iterations, s.length, s.digest, s.storage_method_id, pk.passkey_id, pk.passkey_env, \
                 {}, {} FROM shld_shares s \
                 LEFT JOIN shld_keychains k ON k.id = s.keychain_id \
                 LEFT JOIN shld_passkey_references pk ON pk.share_reference = s.id \
                 JOIN shld_users u ON u.id = COALESCE(s.user_id, k.user_id) \
                 WHERE u.project_id = $1 AND s.deleted_at IS NULL AND u.deleted_at IS NULL \
                 ORDER BY s.created_at, s.id",
                ms("s.created_at"),
                ms("s.updated_at")
            ),
            &[&id],
        )
        .await?;
    for r in &shares {
        let sid: String = r.try_get(0)?;
        let uid: String = r.try_get(1)?;
        let Some(keychain) = keychain_of.get(&uid).cloned() else {
            report.skip("shares", &sid, "its user was not imported");
            continue;
        };
        let entropy = r
            .try_get::<_, Option<String>>(3)?
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "none".into());
        if !["none", "user", "project", "passkey"].contains(&entropy.as_str()) {
            report.skip("shares", &sid, "unknown entropy");
            continue;
        }
        if entropy == "project" && !migrated {
            report.skip(
                "shares",
                &sid,
                "project-entropy share of a project whose key upstream never moved to its current \
                 Shamir format: read any project share through upstream once, then import again",
            );
            continue;
        }
        let method = r.try_get::<_, Option<i32>>(9)?.unwrap_or(0);
        if !(0..=2).contains(&method) {
            report.skip("shares", &sid, "unknown storage method");
            continue;
        }
        let data = zeroize::Zeroizing::new(r.try_get::<_, String>(4)?);
        let sealed = sealer.seal(
            data.as_bytes(),
            sealed_columns::shield::aad("shares", &sid).as_bytes(),
        )?;
        let positive = |v: Option<i32>| {
            v.filter(|n| *n > 0)
                .map_or(Value::Null, |n| Value::Integer(i64::from(n)))
        };
        let passkey = entropy == "passkey";
        let reference = r
            .try_get::<_, Option<String>>(2)?
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".into());
        let outcome = insert(
            conn,
            "shares",
            "id",
            &[
                "id",
                "project_id",
                "user_id",
                "keychain_id",
                "reference",
                "entropy",
                "data",
                "salt",
                "iterations",
                "length",
                "digest",
                "storage_method_id",
                "passkey_id",
                "passkey_env",
                "created_at",
                "updated_at",
            ],
            vec![
                text(sid.clone()),
                text(id.clone()),
                text(uid),
                text(keychain),
                text(reference),
                text(entropy.clone()),
                text(sealed),
                opt(r.try_get(5)?),
                positive(r.try_get(6)?),
                positive(r.try_get(7)?),
                opt(r.try_get(8)?),
                Value::Integer(i64::from(method)),
                if passkey {
                    opt(r.try_get(10)?)
                } else {
                    Value::Null
                },
                if passkey {
                    opt(r.try_get(11)?)
                } else {
                    Value::Null
                },
                when(r, 12)?,
                when(r, 13)?,
            ],
        )
        .await?;
        if matches!(outcome, Outcome::Conflict) {
            report.skip(
                "shares",
                &sid,
                "its reference is already used by the user or, if not default, by the project",
            );
            continue;
        }
        report.count("shares", outcome);
        *report.entropy.entry(entropy).or_default() += 1;
    }
    Ok(())
}

/// The import's audit record in shield's database (docs/OPERATIONS.md, "Audit trail"): the
/// counts, no secrets.
async fn record(conn: &mut SqlConn, ring: &Keyring, summary: &Json) -> Result<()> {
    let mut details = summary.clone();
    if let Some(d) = details.as_object_mut() {
        // Row ids and reasons stay in the command's output; the record keeps the counts.
        let skipped = d
            .remove("skipped_rows")
            .and_then(|s| s.as_array().map(Vec::len))
            .unwrap_or(0);
        d.insert("skipped_rows".into(), skipped.into());
    }
    let entry = CommandRecord {
        service: "shield",
        action: "shield.import",
        outcome: "success",
        code: "",
        object: LABEL.into(),
        details: details.to_string(),
    };
    audit_record::append(conn, ring, entry, "the import's").await
}
