//! The deployment's databases and master keys as the commands that work on its data
//! (`keyward audit`, `keyward rewrap`) find them: through the manifest and runtime config, the
//! same way `serve` opens them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use envelope::Keyring;
use host_config::manifest::App;
use host_config::runtime_config::RuntimeConfig;
use host_config::sqlite::SqlBackend;

use crate::capabilities::sqlite::values::Value;
use crate::capabilities::sqlite::{self, SqlConn, SqlDatabase};
use crate::capabilities::variables::Resolver;
use embedded_sqlite::{EmbeddedFiles, Synchronous};

/// One database of the deployment, with the labels that name it.
pub struct Database {
    pub labels: Vec<String>,
    /// Where it is, for output (a file, or a PostgreSQL URL without its password).
    pub place: String,
    pub database: SqlDatabase,
}

/// The distinct databases the manifest's components use: two labels on one PostgreSQL database
/// (or one file) are one database, visited once.
pub fn of_app(app: &App, config: &RuntimeConfig, state_dir: &Path) -> Result<Vec<Database>> {
    let mut files = EmbeddedFiles::new(Synchronous::Full, 2, false);
    let mut by_place: BTreeMap<String, Database> = BTreeMap::new();
    let labels: std::collections::BTreeSet<&String> = app
        .components
        .values()
        .flat_map(|c| c.sqlite_databases.iter())
        .collect();
    for label in labels {
        let backend = config.sqlite_databases.get(label.as_str());
        let place = match backend {
            Some(SqlBackend::Postgres { url, .. }) => redacted_url(url),
            Some(SqlBackend::Spin { path: Some(path) }) => path.display().to_string(),
            Some(SqlBackend::Spin { path: None }) | None => {
                let file = if label == "default" {
                    "sqlite_db.db".to_owned()
                } else {
                    format!("{label}.db")
                };
                let path = state_dir.join(file);
                if !path.exists() {
                    bail!(
                        "database `{label}`: {} does not exist (is --state-dir the one `serve` uses?)",
                        path.display()
                    );
                }
                path.display().to_string()
            }
        };
        if let Some(chain) = by_place.get_mut(&place) {
            chain.labels.push(label.clone());
            continue;
        }
        let database = sqlite::config::open(backend, label, state_dir, &mut files)
            .with_context(|| format!("database `{label}`"))?;
        by_place.insert(
            place.clone(),
            Database {
                labels: vec![label.clone()],
                place,
                database,
            },
        );
    }
    Ok(by_place.into_values().collect())
}

/// A PostgreSQL URL without its password, for output.
fn redacted_url(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(at)) => {
            let host = url.get(at..).unwrap_or_default();
            let user = rest.split([':', '@']).next().unwrap_or_default();
            format!("{scheme}://{user}{host}")
        }
        _ => url.to_owned(),
    }
}

/// The master keys each component that has `master_key` was given (`master_key` and
/// `master_key_previous` as it renders them), one ring per distinct current key.
pub fn keyrings(app: &App, config: &RuntimeConfig) -> Result<Vec<Keyring>> {
    let resolver = Resolver::new(&app.variables, &config.variable_providers)?;
    let mut rings: Vec<Keyring> = Vec::new();
    for spec in app.components.values() {
        let render = |name: &str| {
            spec.variables
                .get(name)
                .and_then(|t| t.render(|v| resolver.get(v)).ok())
        };
        let Some(current) = render("master_key") else {
            continue;
        };
        let previous = render("master_key_previous").unwrap_or_default();
        let ring = Keyring::parse(&current, &previous).with_context(|| {
            format!("component `{}`: master_key or master_key_previous", spec.id)
        })?;
        let id = ring.current().id()?;
        let mut known = false;
        for r in &rings {
            known |= r.current().id()? == id;
        }
        if !known {
            rings.push(ring);
        }
    }
    if rings.is_empty() {
        bail!("no component is given master_key");
    }
    Ok(rings)
}

/// Runs one statement; its rows.
pub async fn query(conn: &mut SqlConn, sql: &str, params: Vec<Value>) -> Result<Vec<Vec<Value>>> {
    let result = conn
        .execute(sql.to_owned(), params)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(result.rows.into_iter().map(|r| r.values).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(
            redacted_url("postgres://keyward:hunter2@127.0.0.1:5432/kw"),
            "postgres://keyward@127.0.0.1:5432/kw"
        );
        assert_eq!(
            redacted_url("postgres://127.0.0.1/kw"),
            "postgres://127.0.0.1/kw"
        );
    }
}
