//! `type = "vault"` variables providers: HashiCorp Vault or OpenBao, KV secrets engine version 2,
//! as Spin reads them (docs/OPERATIONS.md, "The master key in Vault"). Variable `name` is the
//! secret at `<prefix>/<name>` (or `<name>`) under the mount, field `value`; a secret that is not
//! there passes the lookup on to the next source, any other answer stops the start.
//!
//! Unlike Spin, which asks Vault on every read, the host reads every declared variable once at
//! start (as it resolves all variables at start): a request never waits for Vault, and Vault being
//! down later costs nothing until the next start.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use host_config::variables::Vault;
use http_body_util::{BodyExt, Full};

/// One answer of Vault at most, so a misconfigured URL cannot stall the start for long.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read for one secret.
const MAX_ANSWER: usize = 1024 * 1024;

/// Reads every variable in `names` from Vault.
pub async fn fetch<'n>(
    vault: &mut Vault,
    names: impl IntoIterator<Item = &'n String>,
) -> Result<()> {
    for name in names {
        if let Some(value) = read(vault, name).await.with_context(|| vault.name())? {
            vault.values.insert(name.clone(), value);
        }
    }
    Ok(())
}

/// `GET /v1/<mount>/data/<path>`: `Some(value)`, `None` for a secret that is not there.
async fn read(vault: &Vault, variable: &str) -> Result<Option<String>> {
    let url = format!(
        "{}/v1/{}/data/{}",
        vault.url.trim_end_matches('/'),
        vault.mount.trim_matches('/'),
        vault.path(variable)
    );
    let request = http::Request::get(&url)
        .header("x-vault-token", vault.token.as_str())
        .body(Full::new(Bytes::new()).map_err(|never| match never {}))
        .with_context(|| format!("`url` does not make a valid request URL: {url}"))?;
    let exchange = async move {
        let (response, connection) =
            wasmtime_wasi_http::default_send_request(request, None).await?;
        let driving = tokio::spawn(connection);
        let (parts, body) = response.into_parts();
        let body = http_body_util::Limited::new(body, MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| anyhow::anyhow!("reading the answer: {e}"))?
            .to_bytes();
        driving.abort();
        Ok::<_, anyhow::Error>((parts.status, body))
    };
    let (status, body) = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} s", TIMEOUT.as_secs()))?
        .map_err(|e| anyhow::anyhow!("cannot reach it: {e:#}"))?;
    match status.as_u16() {
        200 => {}
        404 => return Ok(None),
        403 => bail!("it refused the token (403): check `token` and its policy for `{url}`"),
        other => bail!("it answered {other} for `{url}`"),
    }
    let answer: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("its answer for `{url}` is not JSON"))?;
    match answer.pointer("/data/data/value") {
        Some(serde_json::Value::String(value)) => Ok(Some(value.clone())),
        _ => bail!(
            "the secret at `{url}` has no string field `value` (store it with `vault kv put {}/{} value=...`)",
            vault.mount.trim_matches('/'),
            vault.path(variable)
        ),
    }
}
