//! `switchboard webhook replay`: one event, or every event a filter selects (a dry run
//! first, then confirmation), through the running server; `--wait` follows the replayed
//! deliveries until they are delivered or dead, and exits 1 if some are dead or the wait
//! times out.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::Args;
use client::{EventFilter, EventStatus, ReplayCount, ReplayFilter, ReplayStatus};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::cmd::Globals;
use crate::exit::{CliError, Outcome};
use crate::output::{confirm, print_json, progress};
use crate::remote::{Remote, explain};

fn rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{s:?} is not an RFC 3339 time; write e.g. 2026-01-31T12:00:00Z"))
}

/// Arguments of `webhook replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Replay this one event (evt_…); without it, the filter below selects the events.
    #[arg(conflicts_with_all = ["integration", "destination", "status", "event_type", "since", "until", "all"])]
    event_id: Option<String>,
    /// Events of this integration.
    #[arg(long)]
    integration: Option<String>,
    /// Deliveries to this destination.
    #[arg(long)]
    destination: Option<String>,
    /// Deliveries in this state (pending, delivered, dead), or events whose mapping
    /// failed (mapping_failed).
    #[arg(long)]
    status: Option<ReplayStatus>,
    /// Events of this type (the app's mapped type or the provider's type).
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// Events received at or after this time (RFC 3339).
    #[arg(long, value_parser = rfc3339, value_name = "TIME")]
    since: Option<DateTime<Utc>>,
    /// Events received before this time (RFC 3339).
    #[arg(long, value_parser = rfc3339, value_name = "TIME")]
    until: Option<DateTime<Utc>>,
    /// Replay every event (needed when no filter is given).
    #[arg(long)]
    all: bool,
    /// Only count what would be replayed.
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation (needed when stdin is not a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Follow the replayed deliveries with a progress bar until they are delivered or
    /// dead.
    #[arg(long)]
    wait: bool,
    /// Give up waiting after this many seconds (exit 1; the replay goes on).
    #[arg(long, default_value_t = 600, value_name = "SECS", requires = "wait")]
    wait_timeout: u64,
    #[command(flatten)]
    remote: Remote,
}

fn describe(c: &ReplayCount) -> String {
    format!(
        "{} event(s), {} deliver{}",
        c.events,
        c.deliveries,
        if c.deliveries == 1 { "y" } else { "ies" }
    )
}

/// `switchboard webhook replay …`
pub async fn run(args: ReplayArgs, g: &Globals) -> anyhow::Result<Outcome> {
    let json = g.json;
    let c = args.remote.client("webhook replay")?;
    if let Some(id) = &args.event_id {
        let what = format!("event {id}");
        let count = c
            .replay_event(id, args.dry_run)
            .await
            .map_err(|e| explain(e, &what))?;
        if json && !args.wait {
            print_json(&count)?;
        } else if !json {
            if args.dry_run {
                println!("dry run: would replay {}", describe(&count));
            } else {
                println!("replayed {}", describe(&count));
            }
        }
        if args.wait && !args.dry_run {
            return wait_event(&c, id, json, Duration::from_secs(args.wait_timeout)).await;
        }
        return Ok(Outcome::Success);
    }
    let filter = ReplayFilter {
        integration: args.integration.clone(),
        destination: args.destination.clone(),
        status: args.status,
        event_type: args.event_type.clone(),
        since: args.since,
        until: args.until,
        all: args.all,
    };
    if filter.is_empty() && !filter.all {
        return Err(CliError::usage(
            "give an EVENT_ID or a filter (--integration, --destination, --status, --type, --since, --until), \
             or --all to replay every event",
        )
        .into());
    }
    let would = c
        .replay(&filter, true)
        .await
        .map_err(|e| explain(e, "webhook replay"))?;
    if args.dry_run {
        if json {
            print_json(&would)?;
        } else {
            println!("dry run: would replay {}", describe(&would));
        }
        return Ok(Outcome::Success);
    }
    if would.events == 0 {
        if json {
            print_json(&would)?;
        } else {
            println!("nothing to replay: no event matches the filter");
        }
        return Ok(Outcome::Success);
    }
    if !json {
        eprintln!("this replays {}", describe(&would));
    }
    confirm(
        args.yes,
        &format!("Replay {}?", describe(&would)),
        || {
            format!(
                "refusing to replay {} without confirmation: stdin is not a terminal; pass --yes \
                 (or --dry-run to only count)",
                describe(&would)
            )
        },
        "nothing replayed",
    )?;
    let done = c
        .replay(&filter, false)
        .await
        .map_err(|e| explain(e, "webhook replay"))?;
    if json && !args.wait {
        print_json(&done)?;
    } else if !json {
        println!("replayed {}", describe(&done));
    }
    if args.wait {
        return wait_bulk(
            &c,
            &filter,
            done,
            json,
            Duration::from_secs(args.wait_timeout),
        )
        .await;
    }
    Ok(Outcome::Success)
}

const POLL: Duration = Duration::from_millis(500);

fn bar(len: u64, json: bool) -> ProgressBar {
    let bar = progress(
        len,
        "{spinner} delivering [{bar:40}] {pos}/{len} settled ({elapsed}) {msg}",
        json,
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// What `--wait` reports.
#[derive(Debug, Serialize)]
struct WaitOutcome {
    events: u64,
    deliveries: u64,
    dry_run: bool,
    /// Deliveries settled as delivered (single event) or left the queue (bulk).
    delivered: u64,
    /// Deliveries now dead.
    dead: u64,
    /// Still waiting when the wait ended.
    waiting: u64,
    timed_out: bool,
}

/// Waits until one event is routed again and none of its deliveries is pending or in
/// flight.
async fn wait_event(
    c: &client::Client,
    id: &str,
    json: bool,
    timeout: Duration,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let bar = bar(0, json);
    let what = format!("event {id}");
    let (delivered, dead, waiting, routed) = loop {
        let e = c.get_event(id).await.map_err(|e| explain(e, &what))?;
        let n = e.deliveries.len() as u64;
        let count = |s: &str| e.deliveries.iter().filter(|d| d.status == s).count() as u64;
        let (delivered, dead) = (count("delivered"), count("dead"));
        let waiting = n - delivered - dead;
        bar.set_length(n);
        bar.set_position(delivered + dead);
        let routed = e.mapping.is_some();
        bar.set_message(if routed {
            format!("{dead} dead")
        } else {
            "waiting to be mapped".to_owned()
        });
        if (routed && waiting == 0) || started.elapsed() >= timeout {
            break (delivered, dead, waiting, routed);
        }
        tokio::time::sleep(POLL).await;
    };
    bar.finish_and_clear();
    let timed_out = !(routed && waiting == 0);
    finish_wait(
        WaitOutcome {
            events: 1,
            deliveries: delivered + dead + waiting,
            dry_run: false,
            delivered,
            dead,
            waiting,
            timed_out,
        },
        json,
    )
}

/// Waits until no event the filter names is unrouted and the destinations' queues hold
/// nothing pending or in flight (other work on the same destinations counts too: the
/// API keeps no list of what one replay took).
async fn wait_bulk(
    c: &client::Client,
    filter: &ReplayFilter,
    done: ReplayCount,
    json: bool,
    timeout: Duration,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let unrouted_filter = EventFilter {
        integration: filter.integration.clone(),
        status: Some(EventStatus::Unrouted),
        event_type: filter.event_type.clone(),
        limit: Some(1),
    };
    let bar = bar(done.deliveries, json);
    let dead_before: u64 = queue(c, filter).await?.1;
    let (waiting, dead, unrouted) = loop {
        let unrouted = !c
            .list_events(&unrouted_filter, None)
            .await
            .map_err(|e| explain(e, "webhook replay --wait"))?
            .data
            .is_empty();
        let (waiting, dead) = queue(c, filter).await?;
        let len = done.deliveries.max(waiting);
        bar.set_length(len);
        bar.set_position(len - waiting);
        bar.set_message(if unrouted {
            "mapping events again".to_owned()
        } else {
            format!("{} dead", dead.saturating_sub(dead_before))
        });
        if (!unrouted && waiting == 0) || started.elapsed() >= timeout {
            break (waiting, dead, unrouted);
        }
        tokio::time::sleep(POLL).await;
    };
    bar.finish_and_clear();
    let dead = dead.saturating_sub(dead_before);
    finish_wait(
        WaitOutcome {
            events: done.events,
            deliveries: done.deliveries,
            dry_run: false,
            delivered: done.deliveries.saturating_sub(dead + waiting),
            dead,
            waiting,
            timed_out: unrouted || waiting > 0,
        },
        json,
    )
}

/// (pending + in flight, dead) over the filter's destination, or every destination.
async fn queue(c: &client::Client, filter: &ReplayFilter) -> anyhow::Result<(u64, u64)> {
    let ds = c
        .list_destinations()
        .await
        .map_err(|e| explain(e, "webhook replay --wait"))?;
    Ok(ds
        .iter()
        .filter(|d| filter.destination.as_ref().is_none_or(|x| *x == d.id))
        .fold((0, 0), |(w, dead), d| {
            (w + d.queue.pending + d.queue.in_flight, dead + d.queue.dead)
        }))
}

fn finish_wait(o: WaitOutcome, json: bool) -> anyhow::Result<Outcome> {
    if json {
        print_json(&o)?;
    } else if o.timed_out {
        eprintln!(
            "error: gave up waiting: {} deliver{} still pending or in flight (the replay goes on; \
             follow it with `switchboard events list --status pending` or `switchboard destinations list`, \
             and check that the destination is enabled)",
            o.waiting,
            if o.waiting == 1 { "y" } else { "ies" }
        );
    } else {
        println!("settled: {} delivered, {} dead", o.delivered, o.dead);
        if o.dead > 0 {
            println!(
                "dead deliveries: see `switchboard events list --status dead`; replay them once the destination works"
            );
        }
    }
    Ok(Outcome::from_ok(!o.timed_out && o.dead == 0))
}
