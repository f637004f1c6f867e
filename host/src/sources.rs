//! Where the application is described: the manifest, the runtime config and the state
//! directory, read the same way by `serve` and by the commands that work on its data (`audit`),
//! so that they find the same databases and the same variables.

use std::path::PathBuf;

use anyhow::Result;
use host_config::manifest::{self, App};
use host_config::runtime_config::{self, RuntimeConfig};

use crate::capabilities::variables::resolver::fetch_remote;

#[derive(clap::Args, Debug)]
pub struct Sources {
    /// The Spin manifest (spin.toml, manifest version 2).
    #[arg(long, env = "KEYWARD_MANIFEST", default_value = "spin.toml")]
    pub manifest: PathBuf,
    /// Spin-format runtime configuration (backends per label, variables providers).
    #[arg(long, env = "KEYWARD_RUNTIME_CONFIG")]
    pub runtime_config: Option<PathBuf>,
    /// Where embedded databases and the compiled-component cache live
    /// [default: `.spin/` beside the manifest].
    #[arg(long, env = "KEYWARD_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
}

impl Sources {
    /// The manifest, the runtime config (with what its remote variables providers hold for the
    /// manifest's variables) and the state directory.
    pub async fn load(&self) -> Result<(App, RuntimeConfig, PathBuf)> {
        let app = manifest::load(&self.manifest)?;
        let mut runtime_config = match &self.runtime_config {
            Some(path) => runtime_config::load(path)?,
            None => RuntimeConfig::default(),
        };
        fetch_remote(&mut runtime_config.variable_providers, &app.variables).await?;
        let state_dir = self.state_dir.clone().unwrap_or_else(|| {
            self.manifest
                .parent()
                .map(|p| p.join(".spin"))
                .unwrap_or_else(|| ".spin".into())
        });
        Ok((app, runtime_config, state_dir))
    }
}
