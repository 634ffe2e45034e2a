//! One module per top-level verb, each holding its clap arguments or subcommands and
//! its `run`. What several verbs share lives beside this folder: [`crate::remote`]
//! (the server and its API key), [`crate::local`] (configuration, database, engine),
//! [`crate::output`] (JSON, tables, progress, confirmation) and [`crate::exit`] (exit
//! codes and errors).

use std::path::{Path, PathBuf};

pub mod api_key;
pub mod audit;
pub mod config;
pub mod connections;
pub mod db;
pub mod destinations;
pub mod events;
pub mod integration;
pub mod keys;
pub mod migrate;
pub mod oauth;
pub mod providers;
pub mod retention;
pub mod secrets;
pub mod security;
pub mod serve;
pub mod status;
pub mod tokens;
pub mod user;
pub mod webhook;

/// The global flags, as every verb sees them.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// `--config PATH` (or `SWITCHBOARD_CONFIG`).
    pub config: Option<PathBuf>,
    /// `--json`: machine-readable output.
    pub json: bool,
}

impl Globals {
    /// The config file given, if any.
    pub fn config_path(&self) -> Option<&Path> {
        self.config.as_deref()
    }
}
