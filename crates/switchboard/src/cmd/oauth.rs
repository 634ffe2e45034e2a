//! `switchboard oauth test|refresh|revoke`, through the running server (it alone holds
//! the integration secrets). `test` is a check: exit 1 when a check fails; `revoke` exits
//! 1 when the credentials could not be deleted.

use clap::Subcommand;

use super::Globals;
use crate::exit::Outcome;
use crate::output::{print_json, print_table, time};
use crate::remote::Remote;

/// `switchboard oauth …`
#[derive(Debug, Subcommand)]
pub enum OauthCmd {
    /// Check an integration's OAuth set-up on the server: the endpoints answer and the
    /// client id and secret are accepted. Exits 1 if a check fails.
    Test {
        /// The integration id.
        integration: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Refresh a connection's access token now, whatever its expiry.
    Refresh {
        /// The connection id.
        connection_id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke a connection at the provider and delete its credentials.
    Revoke {
        /// The connection id.
        connection_id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `switchboard oauth …`
pub async fn run(cmd: OauthCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let json = g.json;
    match cmd {
        OauthCmd::Test {
            integration,
            remote,
        } => {
            let c = remote.client("oauth test")?;
            let report = c.oauth_test(&integration).await?;
            if json {
                print_json(&report)?;
            } else {
                let rows: Vec<Vec<String>> = report
                    .checks
                    .iter()
                    .map(|k| {
                        vec![
                            if k.ok { "ok" } else { "FAIL" }.to_owned(),
                            k.check.clone(),
                            k.detail.clone(),
                        ]
                    })
                    .collect();
                print_table(&["result", "check", "detail"], &rows);
                if report.ok {
                    println!(
                        "integration {}: OAuth set-up OK ({} checks passed)",
                        report.integration,
                        report.checks.len()
                    );
                }
            }
            if report.ok {
                return Ok(Outcome::Success);
            }
            // The JSON report already lists the failed checks; people get a summary.
            if !json {
                let failed: Vec<String> = report
                    .checks
                    .iter()
                    .filter(|k| !k.ok)
                    .map(|k| format!("{}: {}", k.check, k.detail))
                    .collect();
                eprintln!(
                    "error: OAuth test of integration {} failed: {}",
                    report.integration,
                    failed.join("; ")
                );
            }
            Ok(Outcome::Problem)
        }
        OauthCmd::Refresh {
            connection_id,
            remote,
        } => {
            let c = remote.client("oauth refresh")?;
            let r = c.refresh_connection(&connection_id).await?;
            if json {
                print_json(&r)?;
            } else {
                let conn = &r.connection;
                println!(
                    "connection {} ({}): {}; status {}, expires {}",
                    conn.id,
                    conn.integration,
                    if r.refreshed {
                        "refreshed"
                    } else {
                        "already refreshed by another caller just now"
                    },
                    conn.status,
                    time(conn.expires_at)
                );
            }
            Ok(Outcome::Success)
        }
        OauthCmd::Revoke {
            connection_id,
            remote,
        } => {
            let c = remote.client("oauth revoke")?;
            let conn = c.get_connection(&connection_id).await?;
            let d = c.disconnect(&conn.integration, &conn.id).await?;
            if json {
                print_json(&serde_json::json!({
                    "connection_id": conn.id,
                    "integration": conn.integration,
                    "deleted": d.deleted,
                    "revoked_at_provider": d.revoked_at_provider,
                    "provider_error": d.provider_error,
                }))?;
            } else {
                println!(
                    "connection {} ({}): credentials {}; revoked at the provider: {}",
                    conn.id,
                    conn.integration,
                    if d.deleted { "deleted" } else { "NOT deleted" },
                    if d.revoked_at_provider { "yes" } else { "no" }
                );
                if let Some(e) = &d.provider_error {
                    println!("provider error: {e}");
                }
            }
            Ok(Outcome::from_ok(d.deleted))
        }
    }
}
