//! `switchboard retention purge`: remove the payloads past their retention now, through
//! the running server (`POST /api/retention/purge`), call after call with a progress bar.
//! The server does the work in short transactions, as its background sweep does.

use clap::Subcommand;
use serde::Serialize;

use super::Globals;
use crate::exit::Outcome;
use crate::output::{print_json, progress};
use crate::remote::Remote;

/// Events taken per call (each call is a few short transactions on the server).
const PER_CALL: u32 = 1000;
/// The most events a dry run counts.
const DRY_RUN_MAX: u32 = 100_000;

/// `switchboard retention …`
#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// Remove now the webhook payloads (body, kept headers, mapped data) older than
    /// their integration's payload_retention_days; the events' metadata stays. The
    /// server also does this in the background.
    Purge {
        /// Only count what would be removed (up to 100000).
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

/// What `retention purge` did.
#[derive(Debug, Serialize)]
struct Summary {
    dry_run: bool,
    /// Events whose payload was removed (would be).
    events: u64,
    /// Only for a dry run: more than it counts remain.
    more: bool,
}

/// `switchboard retention …`
pub async fn run(cmd: RetentionCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let RetentionCmd::Purge { dry_run, remote } = cmd;
    let c = remote.client("retention purge")?;
    // The count first: the bar's length (and the whole answer of a dry run).
    let count = c.purge_payloads(true, DRY_RUN_MAX).await?;
    let mut summary = Summary {
        dry_run,
        events: 0,
        more: false,
    };
    if dry_run {
        summary.events = count.events;
        summary.more = count.more;
    } else if count.events > 0 {
        let bar = progress(
            count.events,
            "{spinner} purging [{bar:40}] {pos}/{len} payloads ({eta} left)",
            g.json,
        );
        loop {
            let r = match c.purge_payloads(false, PER_CALL).await {
                Ok(r) => r,
                Err(e) => {
                    bar.finish_and_clear();
                    return Err(e.into());
                }
            };
            summary.events += r.events;
            bar.inc(r.events);
            if !r.more {
                break;
            }
        }
        bar.finish_and_clear();
    }
    if g.json {
        print_json(&summary)?;
    } else if dry_run {
        let more = if summary.more { " (or more)" } else { "" };
        println!(
            "would remove the payload of {}{more} event(s) past their retention",
            summary.events
        );
    } else if summary.events == 0 {
        println!("no payload past its retention");
    } else {
        println!(
            "removed the payload of {} event(s) past their retention; their metadata is kept",
            summary.events
        );
    }
    Ok(Outcome::Success)
}
