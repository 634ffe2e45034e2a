//! What verbs that act on this machine share: loading the configuration as `serve`
//! does, opening the database (the one place that picks a store implementation), and an
//! engine over it for the offline admin verbs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
    /// Database URL (sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE).
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

/// Which backend a `database_url` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:…`: the embedded default.
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl Backend {
    /// The backend `url` names, if any.
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// `url` as it may be printed: a SQLite URL as it is (a path holds no password), any
/// other (PostgreSQL, or a scheme no backend has) without its password.
pub fn shown_url(url: &str) -> String {
    match Backend::of(url) {
        Some(Backend::Sqlite) => url.to_owned(),
        _ => store_postgres::redact(url),
    }
}

/// The PostgreSQL pool settings the configuration asks for (`database_max_connections`,
/// `database_acquire_timeout_secs`, `database_statement_timeout_secs`; 0 keeps the
/// server's statement timeout).
pub fn pg_settings(cfg: &config::Config) -> store_postgres::PgSettings {
    store_postgres::PgSettings {
        max_connections: cfg.database_max_connections,
        acquire_timeout: Duration::from_secs(cfg.database_acquire_timeout_secs),
        statement_timeout: (cfg.database_statement_timeout_secs > 0)
            .then(|| Duration::from_secs(cfg.database_statement_timeout_secs)),
    }
}

/// Opens the store named by `url`, without migrating. The one place that picks an
/// implementation: `sqlite:…` is [`store_sqlite::SqliteStore`], `postgres://…` and
/// `postgresql://…` are [`store_postgres::PgStore`], its pool set by `pg` (SQLite has no
/// use for it). Errors never hold a password.
pub async fn store_for(
    url: &str,
    pg: &store_postgres::PgSettings,
) -> anyhow::Result<Arc<dyn Store>> {
    match Backend::of(url) {
        Some(Backend::Sqlite) => {
            let s = store_sqlite::SqliteStore::connect(url)
                .await
                .with_context(|| format!("opening {url}"))?;
            Ok(Arc::new(s))
        }
        // PgStore's errors name the URL without its password.
        Some(Backend::Postgres) => Ok(Arc::new(
            store_postgres::PgStore::connect_with(url, pg).await?,
        )),
        None => Err(CliError::new(
            "invalid_config",
            format!(
                "database_url: unsupported scheme in {:?}; use sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE",
                shown_url(url)
            ),
        )
        .into()),
    }
}

/// Opens the database `cfg` names and applies its migrations; returns the store and the
/// number of migrations applied. A database that cannot be opened is an error that
/// names the setting (`database_url`, where it was set, and its environment variable).
pub async fn open_database(cfg: &config::Config) -> anyhow::Result<(Arc<dyn Store>, usize)> {
    let setting = || {
        let from = match cfg.sources.get("database_url") {
            Some(source @ (config::Source::Env(_) | config::Source::Flag(_))) => {
                format!("from {source}")
            }
            Some(config::Source::Default) | None => "the default; set it in the file, as \
                 SWITCHBOARD_DATABASE_URL or with --database-url"
                .to_owned(),
            Some(source) => format!(
                "from {source}; the environment variable SWITCHBOARD_DATABASE_URL or \
                 --database-url override it"
            ),
        };
        format!("cannot open the database that database_url names ({from})")
    };
    let store = store_for(&cfg.database_url, &pg_settings(cfg))
        .await
        .with_context(setting)?;
    let applied = store
        .migrate()
        .await
        .with_context(|| format!("applying migrations to {}", shown_url(&cfg.database_url)))?;
    Ok((store, applied))
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
    let (store, _) = open_database(&cfg).await?;
    Ok(Engine::new(store, keyring, cfg))
}

/// Converts an engine value to the client's type for it, through the JSON the API would
/// send, so that local and remote verbs print the same thing.
pub fn as_wire<T: Serialize, U: serde::de::DeserializeOwned>(v: &T) -> anyhow::Result<U> {
    Ok(serde_json::from_value(serde_json::to_value(v)?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> config::Config {
        config::Config::from_toml(
            text,
            "t.toml",
            &std::collections::BTreeMap::new(),
            &config::Overrides::default(),
        )
        .unwrap()
    }

    #[test]
    fn pg_settings_follow_the_database_keys() {
        let s = pg_settings(&config(""));
        assert_eq!(s.max_connections, 16);
        assert_eq!(s.acquire_timeout, Duration::from_secs(15));
        assert_eq!(s.statement_timeout, Some(Duration::from_secs(30)));
        let s = pg_settings(&config(
            "database_max_connections = 5\ndatabase_acquire_timeout_secs = 2\n\
             database_statement_timeout_secs = 0\n",
        ));
        assert_eq!(s.max_connections, 5);
        assert_eq!(s.acquire_timeout, Duration::from_secs(2));
        // 0 leaves the server's own statement_timeout.
        assert_eq!(s.statement_timeout, None);
    }
}
