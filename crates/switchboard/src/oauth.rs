//! Connection verbs that need the running server (it alone holds the integration
//! secrets): `oauth test|refresh|revoke`, `tokens revoke-all`, `connections list|show`.
//! They go through the API with `SWITCHBOARD_URL` and `SWITCHBOARD_API_KEY`.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use client::{ConnectionFilter, ConnectionStatus, SecretString};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::admin::{print_json, print_table, time};

/// The running server the client-backed verbs talk to.
#[derive(Debug, Args, Clone)]
pub struct Remote {
    /// Server to talk to.
    #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key (app scope; admin for `oauth test`); these verbs always go through the
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
                let scope = if verb.starts_with("oauth") || verb.starts_with("tokens") {
                    "admin"
                } else {
                    "app"
                };
                bail!(
                    "SWITCHBOARD_API_KEY is not set: `switchboard {verb}` goes through the running server. \
                     Create a key with `switchboard api-key create NAME --scope {scope}`, then set \
                     SWITCHBOARD_API_KEY (or pass --api-key) and SWITCHBOARD_URL (now {})",
                    self.url
                )
            }
        }
    }
}

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

/// `switchboard connections …`
#[derive(Debug, Subcommand)]
pub enum ConnectionsCmd {
    /// List connections (never secrets).
    List {
        /// Only this integration.
        #[arg(long)]
        integration: Option<String>,
        /// Only this status: active, needs_reauth, revoked or error.
        #[arg(long)]
        status: Option<ConnectionStatus>,
        /// Only this end user.
        #[arg(long, value_name = "END_USER_ID")]
        end_user: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one connection (never secrets).
    Show {
        /// The connection id.
        connection_id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `switchboard oauth …`
pub async fn oauth(cmd: OauthCmd, json: bool) -> anyhow::Result<ExitCode> {
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
                return Ok(ExitCode::SUCCESS);
            }
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
            Ok(ExitCode::from(1))
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
            Ok(ExitCode::SUCCESS)
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
            Ok(if d.deleted {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
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

/// Asks on the terminal; false unless the answer is yes.
fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// `switchboard tokens …`
pub async fn tokens(cmd: TokensCmd, json: bool) -> anyhow::Result<ExitCode> {
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
    if !targets.is_empty() && !yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to revoke {} connection(s) of integration {integration} without confirmation: \
                 stdin is not a terminal; pass --yes",
                targets.len()
            );
        }
        let q = format!(
            "Revoke {} connection(s) of integration {integration} at the provider and delete their credentials?",
            targets.len()
        );
        if !confirm(&q)? {
            eprintln!("nothing revoked");
            return Ok(ExitCode::from(1));
        }
    }
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(summary.total)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} revoking [{bar:40}] {pos}/{len} connections ({eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
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
    Ok(if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `switchboard connections …`
pub async fn connections(cmd: ConnectionsCmd, json: bool) -> anyhow::Result<ExitCode> {
    match cmd {
        ConnectionsCmd::List {
            integration,
            status,
            end_user,
            remote,
        } => {
            let c = remote.client("connections list")?;
            let filter = ConnectionFilter {
                integration,
                end_user_id: end_user,
                status,
                limit: Some(500),
            };
            let rows = c.list_all_connections(filter).await?;
            if json {
                print_json(&serde_json::json!({ "data": rows, "next_cursor": null }))?;
                return Ok(ExitCode::SUCCESS);
            }
            let cells: Vec<Vec<String>> = rows
                .into_iter()
                .map(|k| {
                    vec![
                        k.id,
                        k.integration,
                        k.end_user_id,
                        k.status.to_string(),
                        time(k.expires_at),
                        time(k.last_refresh_at),
                        k.last_error.unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            print_table(
                &[
                    "id",
                    "integration",
                    "end user",
                    "status",
                    "expires",
                    "last refresh",
                    "last error",
                ],
                &cells,
            );
            Ok(ExitCode::SUCCESS)
        }
        ConnectionsCmd::Show {
            connection_id,
            remote,
        } => {
            let c = remote.client("connections show")?;
            let k = c.get_connection(&connection_id).await?;
            if json {
                print_json(&k)?;
                return Ok(ExitCode::SUCCESS);
            }
            let list = |v: &[String]| {
                if v.is_empty() {
                    "-".to_owned()
                } else {
                    v.join(" ")
                }
            };
            let rows = vec![
                vec!["id".to_owned(), k.id.clone()],
                vec!["integration".to_owned(), k.integration.clone()],
                vec!["provider".to_owned(), k.provider.clone()],
                vec!["end user".to_owned(), k.end_user_id.clone()],
                vec!["auth mode".to_owned(), k.auth_mode.clone()],
                vec!["status".to_owned(), k.status.to_string()],
                vec!["scopes".to_owned(), list(&k.scopes)],
                vec!["missing scopes".to_owned(), list(&k.missing_scopes)],
                vec![
                    "settings".to_owned(),
                    list(
                        &k.settings
                            .iter()
                            .map(|(n, v)| format!("{n}={v}"))
                            .collect::<Vec<_>>(),
                    ),
                ],
                vec!["expires".to_owned(), time(k.expires_at)],
                vec!["created".to_owned(), time(Some(k.created_at))],
                vec!["last refresh".to_owned(), time(k.last_refresh_at)],
                vec![
                    "last error".to_owned(),
                    k.last_error.clone().unwrap_or_else(|| "-".into()),
                ],
            ];
            print_table(&["field", "value"], &rows);
            Ok(ExitCode::SUCCESS)
        }
    }
}
