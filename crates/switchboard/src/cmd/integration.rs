//! `switchboard integration list|disable|enable`: configured integrations with their
//! state, on the local database; a disabled integration refuses webhooks (403) on every
//! server sharing it.

use clap::Subcommand;

use super::Globals;
use crate::exit::Outcome;
use crate::local::{self, DbArgs};
use crate::output::{print_json, print_table};
use crate::switches::{self, Switch};

/// `switchboard integration …`
#[derive(Debug, Subcommand)]
pub enum IntegrationCmd {
    /// List configured integrations with their provider and state.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Disable an integration: it refuses webhooks (403) until enabled.
    Disable {
        /// The integration id.
        integration: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Enable a disabled integration.
    Enable {
        /// The integration id.
        integration: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `switchboard integration …`
pub async fn run(cmd: IntegrationCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let (path, json) = (g.config_path(), g.json);
    match cmd {
        IntegrationCmd::List { db } => list(g, &db).await,
        IntegrationCmd::Disable { integration, db } => {
            switches::set(path, &db, &integration, Switch::Disabled, true, json).await
        }
        IntegrationCmd::Enable { integration, db } => {
            switches::set(path, &db, &integration, Switch::Disabled, false, json).await
        }
    }
}

/// `switchboard integration list`
async fn list(g: &Globals, db: &DbArgs) -> anyhow::Result<Outcome> {
    let engine = local::engine(g.config_path(), db).await?;
    let r = engine.integration_states().await;
    engine.store().close().await;
    let rows = r?;
    if g.json {
        print_json(&rows)?;
        return Ok(Outcome::Success);
    }
    let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let cells: Vec<Vec<String>> = rows
        .into_iter()
        .map(|i| {
            vec![
                i.id,
                i.provider,
                if i.disabled {
                    "disabled".into()
                } else {
                    "enabled".into()
                },
                yes(i.accepts_webhooks),
                yes(i.webhooks_blocked),
            ]
        })
        .collect();
    print_table(&["id", "provider", "state", "webhooks", "blocked"], &cells);
    Ok(Outcome::Success)
}
