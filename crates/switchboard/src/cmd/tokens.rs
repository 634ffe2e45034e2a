//! `switchboard tokens revoke-all`: disconnect every connection of an integration,
//! through the running server. Exit 1 when some connections could not be disconnected.

use clap::Subcommand;
use client::{ConnectionFilter, ConnectionStatus};
use serde::Serialize;

use super::Globals;
use crate::exit::Outcome;
use crate::output::{confirm, print_json, progress};
use crate::remote::Remote;

/// `switchboard tokens …`
#[derive(Debug, Subcommand)]
pub enum TokensCmd {
    /// Revoke every connection of an integration (at the provider, then delete the
    /// credentials), e.g. after a leak. Asks for confirmation unless --yes.
    RevokeAll {
        /// The integration whose connections are revoked.
        #[arg(long)]
        integration: String,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

/// One connection `tokens revoke-all` could not disconnect.
#[derive(Debug, Serialize)]
struct Failure {
    connection_id: String,
    error: String,
}

/// The summary of `tokens revoke-all`.
#[derive(Debug, Serialize, Default)]
struct RevokeAllSummary {
    integration: String,
    /// Connections not revoked when the run started.
    total: u64,
    /// Disconnected (credentials deleted).
    disconnected: u64,
    /// Of those, confirmed by the provider.
    revoked_at_provider: u64,
    /// Disconnected, but the provider did not confirm.
    provider_errors: u64,
    /// Could not be disconnected.
    failed: Vec<Failure>,
}

/// `switchboard tokens …`
pub async fn run(cmd: TokensCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let json = g.json;
    let TokensCmd::RevokeAll {
        integration,
        yes,
        remote,
    } = cmd;
    let c = remote.client("tokens revoke-all")?;
    // The integration must exist (a typo must not look like "nothing to revoke").
    c.integration_status(&integration, None).await?;
    let targets: Vec<client::Connection> = c
        .list_all_connections(ConnectionFilter::default().integration(&integration))
        .await?
        .into_iter()
        .filter(|k| k.status != ConnectionStatus::Revoked)
        .collect();
    let mut summary = RevokeAllSummary {
        integration: integration.clone(),
        total: targets.len() as u64,
        ..Default::default()
    };
    if !targets.is_empty() {
        let n = targets.len();
        confirm(
            yes,
            &format!(
                "Revoke {n} connection(s) of integration {integration} at the provider and delete their credentials?"
            ),
            || {
                format!(
                    "refusing to revoke {n} connection(s) of integration {integration} without confirmation: \
                     stdin is not a terminal; pass --yes"
                )
            },
            "nothing revoked",
        )?;
    }
    let bar = progress(
        summary.total,
        "{spinner} revoking [{bar:40}] {pos}/{len} connections ({eta} left)",
        json,
    );
    for conn in &targets {
        match c.disconnect(&integration, &conn.id).await {
            Ok(d) => {
                summary.disconnected += u64::from(d.deleted);
                if d.revoked_at_provider {
                    summary.revoked_at_provider += 1;
                } else {
                    summary.provider_errors += 1;
                }
            }
            // Disconnected meanwhile by someone else: nothing left to revoke.
            Err(e) if e.is_revoked() => summary.disconnected += 1,
            Err(e) if e.is_transport() || e.is_auth() => {
                bar.finish_and_clear();
                return Err(e.into());
            }
            Err(e) => summary.failed.push(Failure {
                connection_id: conn.id.clone(),
                error: e.to_string(),
            }),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if json {
        print_json(&summary)?;
    } else if summary.total == 0 {
        println!("integration {integration}: no connection to revoke");
    } else {
        println!(
            "integration {integration}: {} of {} connection(s) disconnected; {} revoked at the provider, {} not confirmed by it",
            summary.disconnected,
            summary.total,
            summary.revoked_at_provider,
            summary.provider_errors
        );
        for f in &summary.failed {
            println!("failed: {}: {}", f.connection_id, f.error);
        }
    }
    Ok(Outcome::from_ok(summary.failed.is_empty()))
}
