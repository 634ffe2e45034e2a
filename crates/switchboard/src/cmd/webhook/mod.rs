//! `switchboard webhook verify|test|replay|block|unblock`. `verify` works offline on a
//! captured request, `test` and `replay` go through a running server, `block` and
//! `unblock` act on the database.

use clap::Subcommand;

use super::Globals;
use crate::exit::Outcome;
use crate::local::DbArgs;
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
