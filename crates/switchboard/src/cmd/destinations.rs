//! `switchboard destinations list|enable|disable`: the configured destinations with their
//! state and queue, through the running server (`SWITCHBOARD_URL`, `SWITCHBOARD_API_KEY`).

use clap::Subcommand;

use super::Globals;
use crate::exit::Outcome;
use crate::output::{print_json, print_table};
use crate::remote::{Remote, explain};

/// `switchboard destinations …`
#[derive(Debug, Subcommand)]
pub enum DestinationsCmd {
    /// List configured destinations: URL (never the secret), enabled or why not, queue.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Deliver to a destination again (after a 410 Gone or a disable); its waiting
    /// deliveries go out at once.
    Enable {
        /// The destination id.
        destination: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Stop delivering to a destination; deliveries wait (nothing is lost) until it is
    /// enabled.
    Disable {
        /// The destination id.
        destination: String,
        /// Why (shown in `destinations list`).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

/// `switchboard destinations …`
pub async fn run(cmd: DestinationsCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let json = g.json;
    match cmd {
        DestinationsCmd::List { remote } => {
            let c = remote.client("destinations list")?;
            let ds = c
                .list_destinations()
                .await
                .map_err(|e| explain(e, "destinations list"))?;
            if json {
                print_json(&serde_json::json!({ "data": ds, "next_cursor": null }))?;
                return Ok(Outcome::Success);
            }
            if ds.is_empty() {
                println!(
                    "no destinations configured (add [[destinations]] to the server's configuration)"
                );
                return Ok(Outcome::Success);
            }
            let rows: Vec<Vec<String>> = ds
                .iter()
                .map(|d| {
                    vec![
                        d.id.clone(),
                        if d.enabled {
                            "enabled".to_owned()
                        } else {
                            format!(
                                "DISABLED: {}",
                                d.disabled_reason.as_deref().unwrap_or("no reason given")
                            )
                        },
                        d.queue.pending.to_string(),
                        d.queue.in_flight.to_string(),
                        d.queue.dead.to_string(),
                        d.url.clone(),
                    ]
                })
                .collect();
            print_table(
                &["id", "state", "pending", "in flight", "dead", "url"],
                &rows,
            );
            Ok(Outcome::Success)
        }
        DestinationsCmd::Enable {
            destination,
            remote,
        } => {
            let c = remote.client("destinations enable")?;
            let r = c
                .enable_destination(&destination)
                .await
                .map_err(|e| explain(e, &format!("destination {destination}")))?;
            if json {
                print_json(&r)?;
            } else if r.changed {
                let q = r.destination.queue;
                let n = q.pending + q.in_flight;
                println!(
                    "destination {destination}: enabled; {n} waiting deliver{} go{} out now",
                    if n == 1 { "y" } else { "ies" },
                    if n == 1 { "es" } else { "" }
                );
            } else {
                println!("destination {destination}: already enabled");
            }
            Ok(Outcome::Success)
        }
        DestinationsCmd::Disable {
            destination,
            reason,
            remote,
        } => {
            let c = remote.client("destinations disable")?;
            let r = c
                .disable_destination(&destination, reason.as_deref())
                .await
                .map_err(|e| explain(e, &format!("destination {destination}")))?;
            if json {
                print_json(&r)?;
            } else {
                let why = r
                    .destination
                    .disabled_reason
                    .as_deref()
                    .unwrap_or("no reason given");
                if r.changed {
                    println!(
                        "destination {destination}: disabled ({why}); deliveries wait until \
                         `switchboard destinations enable {destination}`"
                    );
                } else {
                    println!("destination {destination}: already disabled ({why})");
                }
            }
            Ok(Outcome::Success)
        }
    }
}
