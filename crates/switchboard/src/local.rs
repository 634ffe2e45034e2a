//! What verbs that act on this machine share: loading the configuration as `serve`
//! does, opening the database (the one place that picks a store implementation), and an
//! engine over it for the offline admin verbs.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use engine::{Actor, Engine};
use serde::Serialize;
use store::Store;

use crate::exit::CliError;
use crate::master_key::{self, Missing};

/// `--database-url`: which database a local verb opens.
#[derive(Debug, Args, Clone, Default)]
pub struct DbArgs {
    /// Database URL (sqlite://PATH).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

impl DbArgs {
    /// The command-line overrides these flags make.
    pub fn overrides(&self) -> config::Overrides {
        config::Overrides {
            database_url: self.database_url.clone(),
            ..Default::default()
        }
    }
}

/// Loads and validates the configuration, as `serve` does.
pub fn load_config(
    path: Option<&Path>,
    overrides: &config::Overrides,
) -> anyhow::Result<config::Config> {
    config::Config::load(path, &config::ProcessEnv, overrides)
        .map_err(|e| anyhow::Error::new(e).context("configuration error"))
}

/// The providers the configuration can use (built-in and custom), checked against its
/// integrations; see [`config::Config::catalog`].
pub fn catalog_of(cfg: &config::Config, dev: bool) -> anyhow::Result<catalog::Catalog> {
    let (cat, pending) = cfg
        .catalog(dev)
        .map_err(|e| anyhow::Error::new(e).context("configuration error"))?;
    for id in pending {
        tracing::warn!(
            provider = %id,
            "custom provider is given by issuer: `serve` discovers its endpoints at start; this command did not fetch them"
        );
    }
    Ok(cat)
}

/// Opens the store named by `url`. The one place that picks an implementation.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let s = store_sqlite::SqliteStore::connect(url)
            .await
            .with_context(|| format!("opening {url}"))?;
        Ok(Arc::new(s))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Err(CliError::new(
            "invalid_config",
            "database_url: PostgreSQL is not supported by this build yet; use sqlite://PATH",
        )
        .into())
    } else {
        Err(CliError::new(
            "invalid_config",
            format!("database_url: unsupported scheme in {url:?}; use sqlite://PATH"),
        )
        .into())
    }
}

/// The audit log's actor for a local verb: the user running it.
pub fn cli_actor() -> Actor {
    Actor::Cli {
        user: std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into()),
    }
}

/// An engine over the local database (migrated first), with the configured master keys
/// or an existing development key file.
pub async fn engine(config_path: Option<&Path>, db: &DbArgs) -> anyhow::Result<Engine> {
    let cfg = load_config(config_path, &db.overrides())?;
    let (keyring, _) = master_key::keyring(&cfg, Missing::UseDevFile)?;
    let store = open_store(&cfg.database_url).await?;
    store.migrate().await.context("applying migrations")?;
    Ok(Engine::new(store, keyring, cfg))
}

/// Converts an engine value to the client's type for it, through the JSON the API would
/// send, so that local and remote verbs print the same thing.
pub fn as_wire<T: Serialize, U: serde::de::DeserializeOwned>(v: &T) -> anyhow::Result<U> {
    Ok(serde_json::from_value(serde_json::to_value(v)?)?)
}
