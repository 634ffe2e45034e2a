//! `switchboard connections list|show|create|check`: connections and their state, never
//! secrets, through the running server; `create` makes one without a browser (a service
//! account by the JWT bearer grant, with the integration's key or its own
//! `--private-key-file`, a GitHub App installation the app knows, or a
//! client-credentials token); `check` tries a connection's credentials at the provider
//! now (exit code 1 when the check found a problem).

use clap::Subcommand;
use client::{ConnectionFilter, ConnectionStatus, DirectConnect, DirectCredentials};
use vault::{ExposeSecret, SecretString};

use super::Globals;
use crate::exit::Outcome;
use crate::output::{print_json, print_table, time};
use crate::remote::Remote;

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
    /// Check a connection's credentials at the provider now, with the request and rules
    /// of the background health check, and keep the result on it. Exit code 0 when the
    /// provider accepted them, 1 when the check found a problem (refused: now
    /// needs_reauth; forbidden: a missing scope or plan limit, still active; the provider
    /// unavailable; another answer).
    Check {
        /// The connection id.
        connection_id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Create a connection without a browser: a service account (JWT bearer grant, with
    /// the integration's key or the connection's own --private-key-file), a GitHub App
    /// installation by its id, or a client-credentials token. The provider is asked
    /// first; a refusal stores nothing.
    Create {
        /// The integration.
        #[arg(long)]
        integration: String,
        /// The connection id (generated when absent).
        #[arg(long)]
        connection_id: Option<String>,
        /// The app's end-user id (default `app`).
        #[arg(long, value_name = "END_USER_ID")]
        end_user: Option<String>,
        /// The user a service account acts for (the assertion's `sub`).
        #[arg(long)]
        subject: Option<String>,
        /// A GitHub App installation's id.
        #[arg(long)]
        installation_id: Option<String>,
        /// The connection's own private key for a service account (jwt_bearer): a file
        /// holding Google's service-account key file (JSON) or an RSA PEM (`-` reads
        /// standard input). Without it the integration's key signs.
        #[arg(long, value_name = "PATH")]
        private_key_file: Option<std::path::PathBuf>,
        /// The issuer of --private-key-file, where the key file does not name it (a
        /// connected app's consumer key, an integration key).
        #[arg(long, requires = "private_key_file")]
        client_id: Option<String>,
        /// The key id (kid) of --private-key-file, where the key file does not name it.
        #[arg(long, requires = "private_key_file")]
        private_key_id: Option<String>,
        /// Another connection setting, as NAME=VALUE (repeatable).
        #[arg(long = "setting", value_name = "NAME=VALUE", value_parser = setting)]
        settings: Vec<(String, String)>,
        #[command(flatten)]
        remote: Remote,
    },
}

/// The most a key file given to `--private-key-file` may have (the server takes 16 KiB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Reads a private key file (`-`: standard input), at most [`MAX_KEY_FILE`] bytes.
fn read_key_file(path: &std::path::Path) -> anyhow::Result<SecretString> {
    use std::io::Read as _;
    let what = || format!("--private-key-file {}", path.display());
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_KEY_FILE + 1)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_KEY_FILE + 1).read_to_string(&mut text))
    };
    let text = SecretString::from(text);
    read.map_err(|e| {
        anyhow::anyhow!(
            "{}: cannot read it ({e}); give the key file (JSON) or the PEM the provider gave you",
            what()
        )
    })?;
    if text.expose_secret().len() as u64 > MAX_KEY_FILE {
        anyhow::bail!(
            "{}: more than {MAX_KEY_FILE} bytes, which no key file is; give the service account's key file (JSON) or the PEM",
            what()
        );
    }
    if text.expose_secret().trim().is_empty() {
        anyhow::bail!("{}: the file is empty", what());
    }
    Ok(text)
}

fn setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err("write NAME=VALUE".to_owned()),
    }
}

/// `switchboard connections …`
pub async fn run(cmd: ConnectionsCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let json = g.json;
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
                return Ok(Outcome::Success);
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
            Ok(Outcome::Success)
        }
        ConnectionsCmd::Create {
            integration,
            connection_id,
            end_user,
            subject,
            installation_id,
            private_key_file,
            client_id,
            private_key_id,
            settings,
            remote,
        } => {
            // Read before the server is asked for anything.
            let private_key = private_key_file.as_deref().map(read_key_file).transpose()?;
            let c = remote.client("connections create")?;
            let mut req = DirectConnect::new(integration);
            if let Some(private_key) = private_key {
                req = req.credentials(DirectCredentials::PrivateKey {
                    private_key,
                    client_id,
                    private_key_id,
                });
            }
            if let Some(id) = connection_id {
                req = req.connection_id(id);
            }
            if let Some(u) = end_user {
                req = req.end_user_id(u);
            }
            if let Some(s) = subject {
                req = req.setting("subject", s);
            }
            if let Some(i) = installation_id {
                req = req.setting("installation_id", i);
            }
            for (k, v) in settings {
                req = req.setting(k, v);
            }
            let k = c.connect_direct(&req).await?;
            if json {
                print_json(&k)?;
            } else {
                print_table(
                    &["id", "integration", "end user", "status", "expires"],
                    &[vec![
                        k.id,
                        k.integration,
                        k.end_user_id,
                        k.status.to_string(),
                        time(k.expires_at),
                    ]],
                );
            }
            Ok(Outcome::Success)
        }
        ConnectionsCmd::Check {
            connection_id,
            remote,
        } => {
            let c = remote.client("connections check")?;
            let r = c.check_connection(&connection_id).await?;
            let outcome = Outcome::from_ok(r.ok());
            if json {
                print_json(&r)?;
                return Ok(outcome);
            }
            let list = |v: &[String]| {
                if v.is_empty() {
                    "-".to_owned()
                } else {
                    v.join(" ")
                }
            };
            let rows = vec![
                vec!["id".to_owned(), r.connection.id.clone()],
                vec!["result".to_owned(), r.result.clone()],
                vec![
                    "detail".to_owned(),
                    r.detail.clone().unwrap_or_else(|| "-".into()),
                ],
                vec!["missing scopes".to_owned(), list(&r.missing_scopes)],
                vec!["status".to_owned(), r.status.to_string()],
                vec!["checked".to_owned(), time(Some(r.checked_at))],
            ];
            print_table(&["field", "value"], &rows);
            Ok(outcome)
        }
        ConnectionsCmd::Show {
            connection_id,
            remote,
        } => {
            let c = remote.client("connections show")?;
            let k = c.get_connection(&connection_id).await?;
            if json {
                print_json(&k)?;
                return Ok(Outcome::Success);
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
                vec!["last checked".to_owned(), time(k.health_checked_at)],
                vec![
                    "check result".to_owned(),
                    match (&k.health_result, &k.health_detail) {
                        (Some(r), Some(d)) => format!("{r} ({d})"),
                        (Some(r), None) => r.clone(),
                        _ => "-".to_owned(),
                    },
                ],
            ];
            print_table(&["field", "value"], &rows);
            Ok(Outcome::Success)
        }
    }
}
