//! `switchboard events list|show`: stored events with their mapping and deliveries,
//! through the running server. Replaying them is `webhook replay`.

use clap::Subcommand;
use client::{EventFilter, EventStatus};

use super::Globals;
use crate::exit::Outcome;
use crate::output::{print_json, print_table, time};
use crate::remote::{Remote, explain};

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
pub async fn run(cmd: EventsCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let json = g.json;
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
                return Ok(Outcome::Success);
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
                        if e.purged_at.is_some() {
                            "purged".to_owned()
                        } else {
                            "kept".to_owned()
                        },
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
                    "payload",
                ],
                &rows,
            );
            if rows.is_empty() {
                println!("no events");
            }
            if let Some(next) = &page.next_cursor {
                println!("more: --cursor {next}");
            }
            Ok(Outcome::Success)
        }
        EventsCmd::Show { event_id, remote } => {
            let c = remote.client("events show")?;
            let e = c
                .get_event(&event_id)
                .await
                .map_err(|e| explain(e, &format!("event {event_id}")))?;
            if json {
                print_json(&e)?;
                return Ok(Outcome::Success);
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
            if let Some(at) = e.purged_at {
                rows.push(vec![
                    "payload".to_owned(),
                    format!(
                        "removed {} ({}); metadata kept, replay impossible",
                        time(Some(at)),
                        e.purge_reason.as_deref().unwrap_or("retention")
                    ),
                ]);
            }
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
            Ok(Outcome::Success)
        }
    }
}
