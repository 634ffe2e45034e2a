//! `switchboard webhook verify|test|replay|block|unblock|reset-handshake`. `verify`
//! works offline on a captured request, `test` and `replay` go through a running server,
//! `block`, `unblock` and `reset-handshake` act on the database.

use clap::Subcommand;

use super::Globals;
use crate::exit::Outcome;
use crate::local::DbArgs;
use crate::output::print_json;
use crate::switches::{self, Switch};

mod load;
mod replay;
mod test;
mod verify;

/// `switchboard webhook …`
#[derive(Debug, Subcommand)]
pub enum WebhookCmd {
    /// Verify a captured webhook against an integration's scheme and secrets, offline;
    /// says which check failed and exits 1 if one did.
    Verify(verify::VerifyArgs),
    /// Send a correctly signed sample webhook to a running server.
    Test(test::TestArgs),
    /// Replay one event, or every event a filter selects (a dry run and a confirmation
    /// first), via the server; --wait follows the deliveries.
    Replay(replay::ReplayArgs),
    /// Refuse every webhook of an integration (403) until unblocked; stores nothing.
    Block {
        /// The integration id.
        integration: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Accept webhooks of an integration again.
    Unblock {
        /// The integration id.
        integration: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Forget the secret an integration's webhook handshake handed over
    /// (webhook_secret_handshake, Asana's X-Hook-Secret), so that the provider's next
    /// handshake is taken: create the webhook again at the provider afterwards. Until
    /// then its events are refused as unsigned. Audited with who did it.
    ResetHandshake {
        /// The integration id.
        #[arg(long)]
        integration: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `switchboard webhook …`
pub async fn run(cmd: WebhookCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let (path, json) = (g.config_path(), g.json);
    match cmd {
        WebhookCmd::Verify(args) => verify::run(args, g),
        WebhookCmd::Test(args) => test::run(args, g).await,
        WebhookCmd::Replay(args) => replay::run(args, g).await,
        WebhookCmd::Block { integration, db } => {
            switches::set(path, &db, &integration, Switch::WebhooksBlocked, true, json).await
        }
        WebhookCmd::ResetHandshake { integration, db } => {
            let engine = crate::local::engine(path, &db).await?;
            let r = engine
                .reset_handshake_secret(&integration, &crate::local::cli_actor())
                .await;
            engine.store().close().await;
            let removed = r?;
            if json {
                print_json(&serde_json::json!({ "integration": integration, "removed": removed }))?;
            } else if removed {
                println!(
                    "integration {integration}: handshake secret forgotten; the next handshake is taken (create the webhook again at the provider)"
                );
            } else {
                println!(
                    "integration {integration}: no handshake secret was stored; the next handshake is taken"
                );
            }
            Ok(Outcome::Success)
        }
        WebhookCmd::Unblock { integration, db } => {
            switches::set(
                path,
                &db,
                &integration,
                Switch::WebhooksBlocked,
                false,
                json,
            )
            .await
        }
    }
}
