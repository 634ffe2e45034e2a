//! Verbs that talk to a running server: its address and API key (`SWITCHBOARD_URL`,
//! `SWITCHBOARD_API_KEY`), the client they make, and client errors that say what to do
//! next.

use clap::Args;
use client::{ClientError, SecretString};

use crate::exit::{ApiError, CliError};
use crate::local::DbArgs;

/// The running server the client-backed verbs talk to.
#[derive(Debug, Args, Clone)]
pub struct Remote {
    /// Server to talk to.
    #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key (app scope; admin for `oauth test` and `status`); these verbs always go through the
    /// server.
    #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

impl Remote {
    /// A client, or a clear error naming SWITCHBOARD_API_KEY when no key is given, saying
    /// which scope of key to create for `verb`.
    pub fn client(&self, verb: &str) -> anyhow::Result<client::Client> {
        match &self.api_key {
            Some(k) if !k.trim().is_empty() => Ok(client::Client::new(
                &self.url,
                SecretString::from(k.trim().to_owned()),
            )?),
            _ => {
                let scope = if verb.starts_with("oauth")
                    || verb.starts_with("tokens")
                    || verb.starts_with("status")
                {
                    "admin"
                } else {
                    "app"
                };
                Err(CliError::usage(format!(
                    "SWITCHBOARD_API_KEY is not set: `switchboard {verb}` goes through the running server. \
                     Create a key with `switchboard api-key create NAME --scope {scope}`, then set \
                     SWITCHBOARD_API_KEY (or pass --api-key) and SWITCHBOARD_URL (now {})",
                    self.url
                ))
                .into())
            }
        }
    }
}

/// Where admin verbs act: a running server (with an API key) or the local database.
#[derive(Debug, Args, Clone)]
pub struct Target {
    /// Server to talk to.
    #[arg(
        long,
        env = "SWITCHBOARD_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// Admin API key; when set the verb goes through the server's API, otherwise it acts
    /// on the local database directly.
    #[arg(
        long,
        env = "SWITCHBOARD_API_KEY",
        hide_env_values = true,
        global = true
    )]
    api_key: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
}

impl Target {
    /// A client when an API key is given; `None` means: act on the local database.
    pub fn client(&self) -> anyhow::Result<Option<client::Client>> {
        match &self.api_key {
            Some(k) if !k.is_empty() => Ok(Some(client::Client::new(
                &self.url,
                SecretString::from(k.clone()),
            )?)),
            _ => Ok(None),
        }
    }
}

/// Turns a client error into one that says what to do next (its code stays the
/// server's).
pub fn explain(e: ClientError, what: &str) -> anyhow::Error {
    let hint = if e.is_auth() && what.starts_with("status") {
        "; `switchboard status` needs an admin key of this server in SWITCHBOARD_API_KEY"
    } else if e.is_auth() {
        "; check SWITCHBOARD_API_KEY (an app or admin key of this server)"
    } else if e.is_not_found() && what.starts_with("event") {
        "; list events with `switchboard events list`"
    } else if e.is_not_found() && what.starts_with("destination") {
        "; list configured destinations with `switchboard destinations list`"
    } else {
        ""
    };
    ApiError {
        what: what.to_owned(),
        error: e,
        hint,
    }
    .into()
}
