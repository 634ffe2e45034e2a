//! Event verbs that go through the running server (`SWITCHBOARD_URL`,
//! `SWITCHBOARD_API_KEY`): `events list|show` and `webhook replay` (one event, or a
//! filter: a dry run first, then confirmation; `--wait` follows the replayed deliveries
//! until they are delivered or dead).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use client::{ClientError, EventFilter, EventStatus, ReplayCount, ReplayFilter, ReplayStatus};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::admin::{print_json, print_table, time};
pub use crate::oauth::Remote;

/// Turns a client error into one that says what to do next.
pub fn explain(e: ClientError, what: &str) -> anyhow::Error {
    let hint = if e.is_auth() {
        "; check SWITCHBOARD_API_KEY (an app or admin key of this server)"
    } else if e.is_not_found() && what.starts_with("event") {
        "; list events with `switchboard events list`"
    } else if e.is_not_found() && what.starts_with("destination") {
        "; list configured destinations with `switchboard destinations list`"
    } else {
        ""
    };
    anyhow::anyhow!("{what}: {e}{hint}")
}

/// `switchboard events …`
#[derive(Debug, Subcommand)]
pub enum EventsCmd {
    /// List stored events, newest first, with their mapping and deliveries.
    List {
        /// Only this integration.
        #[arg(long)]
        integration: Option<String>,
        /// Only events in this state: unrouted, mapped, dropped, mapping_failed, or with
        /// a delivery pending, in_flight, delivered or dead.
        #[arg(long)]
        status: Option<EventStatus>,
        /// Only this event type (the app's mapped type or the provider's type).
        #[arg(long = "type", value_name = "TYPE")]
        event_type: Option<String>,
        /// How many events (1 to 500).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: u32,
        /// Continue from a previous listing's next cursor.
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one event: metadata, mapping and deliveries (never its headers).
    Show {
        /// The event id (evt_…).
        event_id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

fn rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("{s:?} is not an RFC 3339 time; write e.g. 2026-01-31T12:00:00Z"))
}

/// `switchboard webhook replay …`
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

fn mapping_cell(m: Option<&client::EventMapping>) -> String {
    match m {
        None => "unrouted".into(),
        Some(m) => match (m.status.as_str(), &m.event_type) {
            ("mapped", Some(t)) => t.clone(),
            ("failed", _) => "FAILED".into(),
            (s, _) => s.to_owned(),
        },
    }
}

/// `switchboard events …`
pub async fn events(cmd: EventsCmd, json: bool) -> anyhow::Result<ExitCode> {
    match cmd {
        EventsCmd::List {
            integration,
            status,
            event_type,
            limit,
            cursor,
            remote,
        } => {
            let c = remote.client("events list")?;
            let filter = EventFilter {
                integration,
                status,
                event_type,
                limit: Some(limit),
            };
            let page = c
                .list_events(&filter, cursor.as_deref())
                .await
                .map_err(|e| explain(e, "events list"))?;
            if json {
                print_json(&page)?;
                return Ok(ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = page
                .data
                .iter()
                .map(|e| {
                    let d = e.deliveries;
                    vec![
                        e.id.clone(),
                        e.integration.clone(),
                        time(Some(e.received_at)),
                        e.event_type.clone().unwrap_or_else(|| "-".into()),
                        mapping_cell(e.mapping.as_ref()),
                        format!("{}/{}/{}/{}", d.pending, d.in_flight, d.delivered, d.dead),
                    ]
                })
                .collect();
            print_table(
                &[
                    "id",
                    "integration",
                    "received",
                    "type",
                    "mapped to",
                    "pending/in flight/delivered/dead",
                ],
                &rows,
            );
            if rows.is_empty() {
                println!("no events");
            }
            if let Some(next) = &page.next_cursor {
                println!("more: --cursor {next}");
            }
            Ok(ExitCode::SUCCESS)
        }
        EventsCmd::Show { event_id, remote } => {
            let c = remote.client("events show")?;
            let e = c
                .get_event(&event_id)
                .await
                .map_err(|e| explain(e, &format!("event {event_id}")))?;
            if json {
                print_json(&e)?;
                return Ok(ExitCode::SUCCESS);
            }
            let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            let mut rows = vec![
                vec!["id".to_owned(), e.id.clone()],
                vec!["integration".to_owned(), e.integration.clone()],
                vec!["received".to_owned(), time(Some(e.received_at))],
                vec!["provider event id".to_owned(), opt(&e.provider_event_id)],
                vec!["provider type".to_owned(), opt(&e.event_type)],
                vec!["scheme".to_owned(), e.scheme.clone()],
                vec!["connection".to_owned(), opt(&e.connection_id)],
                vec!["body bytes".to_owned(), e.body_bytes.to_string()],
                vec!["routed".to_owned(), time(e.routed_at)],
            ];
            match &e.mapping {
                None => rows.push(vec![
                    "mapping".to_owned(),
                    "unrouted (waiting to be mapped)".to_owned(),
                ]),
                Some(m) => {
                    rows.push(vec!["mapping".to_owned(), m.status.clone()]);
                    if let Some(t) = &m.event_type {
                        rows.push(vec!["mapped type".to_owned(), t.clone()]);
                    }
                    if let Some(err) = &m.error {
                        rows.push(vec!["mapping error".to_owned(), err.clone()]);
                    }
                }
            }
            print_table(&["field", "value"], &rows);
            println!();
            if e.deliveries.is_empty() {
                println!("no deliveries");
            } else {
                let rows: Vec<Vec<String>> = e
                    .deliveries
                    .iter()
                    .map(|d| {
                        vec![
                            d.id.clone(),
                            d.destination.clone(),
                            d.status.clone(),
                            d.attempts.to_string(),
                            if d.status == "pending" {
                                time(Some(d.next_attempt_at))
                            } else {
                                "-".into()
                            },
                            d.last_status.map_or("-".into(), |s| s.to_string()),
                            opt(&d.last_error),
                            time(d.delivered_at),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "delivery",
                        "destination",
                        "status",
                        "attempts",
                        "next attempt",
                        "last status",
                        "last error",
                        "delivered",
                    ],
                    &rows,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Asks on the terminal; false unless the answer is yes.
fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
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
pub async fn replay(args: ReplayArgs, json: bool) -> anyhow::Result<ExitCode> {
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
        return Ok(ExitCode::SUCCESS);
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
        bail!(
            "give an EVENT_ID or a filter (--integration, --destination, --status, --type, --since, --until), \
             or --all to replay every event"
        );
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
        return Ok(ExitCode::SUCCESS);
    }
    if would.events == 0 {
        if json {
            print_json(&would)?;
        } else {
            println!("nothing to replay: no event matches the filter");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !json {
        eprintln!("this replays {}", describe(&would));
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            bail!(
                "refusing to replay {} without confirmation: stdin is not a terminal; pass --yes \
                 (or --dry-run to only count)",
                describe(&would)
            );
        }
        if !confirm(&format!("Replay {}?", describe(&would)))? {
            eprintln!("nothing replayed");
            return Ok(ExitCode::from(1));
        }
    }
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
    Ok(ExitCode::SUCCESS)
}

const POLL: Duration = Duration::from_millis(500);

fn bar(len: u64, json: bool) -> ProgressBar {
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} delivering [{bar:40}] {pos}/{len} settled ({elapsed}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
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
) -> anyhow::Result<ExitCode> {
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
) -> anyhow::Result<ExitCode> {
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

fn finish_wait(o: WaitOutcome, json: bool) -> anyhow::Result<ExitCode> {
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
    Ok(if o.timed_out || o.dead > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
