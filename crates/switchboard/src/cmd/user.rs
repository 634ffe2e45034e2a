//! `switchboard user erase|export END_USER_ID`: an end user's personal data, through the
//! running server (`POST /api/end-users/{id}/erase`, `GET /api/end-users/{id}/export`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

use super::Globals;
use crate::exit::Outcome;
use crate::output::{confirm, print_json};
use crate::remote::Remote;

/// `switchboard user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Erase everything held about an end user: revoke and delete their connections
    /// (credentials included), remove the payloads of their events, strip their consent
    /// records of personal data. The audit log keeps a keyed hash of the id and counts.
    /// Asks for confirmation unless --yes or --dry-run. Running it again does nothing.
    Erase {
        /// The app's end-user id.
        end_user_id: String,
        /// Only list what would go.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Everything held about an end user, as one JSON document (connections without
    /// secrets, consent records, events with their payloads and delivery outcomes).
    Export {
        /// The app's end-user id.
        end_user_id: String,
        /// Write it to this file (created with mode 0600) instead of stdout.
        #[arg(long, short = 'o', value_name = "PATH")]
        output: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `switchboard user …`
pub async fn run(cmd: UserCmd, g: &Globals) -> anyhow::Result<Outcome> {
    match cmd {
        UserCmd::Erase {
            end_user_id,
            dry_run,
            yes,
            remote,
        } => erase(&end_user_id, dry_run, yes, remote, g).await,
        UserCmd::Export {
            end_user_id,
            output,
            remote,
        } => export(&end_user_id, output, remote, g).await,
    }
}

async fn erase(
    id: &str,
    dry_run: bool,
    yes: bool,
    remote: Remote,
    g: &Globals,
) -> anyhow::Result<Outcome> {
    let c = remote.client("user erase")?;
    // What would go, first: an unknown end user is an error before any question.
    let plan = c.erase_end_user(id, true).await?;
    let result = if dry_run || plan.already_erased {
        plan
    } else {
        confirm(
            yes,
            &format!(
                "Erase end user {id:?}: {} connection(s) and the payloads of {} event(s)? This cannot be undone.",
                plan.counts.connections, plan.counts.events
            ),
            || {
                format!(
                    "refusing to erase end user {id:?} without confirmation: stdin is not a terminal; pass --yes"
                )
            },
            "nothing erased",
        )?;
        c.erase_end_user(id, false).await?
    };
    if g.json {
        print_json(&result)?;
        return Ok(Outcome::Success);
    }
    let n = &result.counts;
    if result.already_erased {
        println!("end user {id:?} was erased before; nothing left to do");
    } else if result.dry_run {
        println!(
            "would erase end user {id:?}: {} connection(s), the payloads of {} event(s), {} consent record(s)",
            n.connections, n.events, n.consent_records
        );
    } else {
        println!(
            "erased end user {id:?}: {} connection(s) ({} revoked at the provider), the payloads of {} event(s), {} consent record(s), {} flow(s) in progress",
            n.connections, n.revoked_at_provider, n.events, n.consent_records, n.flows
        );
        println!("audit subject: {}", result.subject_hash);
    }
    for k in &result.connections {
        println!("  {} ({})", k.id, k.integration);
    }
    Ok(Outcome::Success)
}

async fn export(
    id: &str,
    output: Option<PathBuf>,
    remote: Remote,
    g: &Globals,
) -> anyhow::Result<Outcome> {
    let c = remote.client("user export")?;
    let doc = c.export_end_user(id).await?;
    match output {
        None => print_json(&doc)?,
        Some(path) => {
            let text = serde_json::to_string_pretty(&doc)?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts
                .open(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.write_all(b"\n"))
                .with_context(|| format!("cannot write {}", path.display()))?;
            if g.json {
                print_json(&serde_json::json!({
                    "end_user_id": id,
                    "output": path.display().to_string(),
                    "connections": doc.connections.len(),
                    "events": doc.events.len(),
                    "consent_records": doc.consent_records.len(),
                }))?;
            } else {
                println!(
                    "wrote {}: {} connection(s), {} event(s), {} consent record(s)",
                    path.display(),
                    doc.connections.len(),
                    doc.events.len(),
                    doc.consent_records.len()
                );
            }
        }
    }
    Ok(Outcome::Success)
}
