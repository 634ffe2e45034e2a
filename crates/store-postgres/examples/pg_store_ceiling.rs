//! The PostgreSQL store's own intake ceiling: `CONCURRENCY` tasks insert routed 1 KiB
//! events through [`PgStore`] (group commit: up to `EVENT_WRITERS` batches in flight, one
//! `INSERT … FROM UNNEST` statement and one WAL flush each) for `SECS` seconds, with no
//! HTTP in the way: what the database and the group commit allow. `bench/intake` runs it
//! beside the HTTP measurements (`DATABASE=postgres`), as it runs store-sqlite's
//! `store_ceiling` for SQLite.
//!
//! Usage: `pg_store_ceiling URL [SECS (5)] [CONCURRENCY (32)] [MAX_CONNECTIONS (16)]`,
//! where URL names a database (or schema, with `options[search_path]`) the caller made
//! for the run and drops afterwards; migrates it, then prints `events/s`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use store::{Event, EventStore, Mapped, Routing, Store};
use store_postgres::{PgSettings, PgStore};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: pg_store_ceiling URL [SECS] [CONCURRENCY] [MAX_CONNECTIONS]");
    let secs: u64 = args.next().map_or(5, |s| s.parse().expect("SECS"));
    let concurrency: u64 = args.next().map_or(32, |s| s.parse().expect("CONCURRENCY"));
    let max_connections: u32 = args
        .next()
        .map_or(16, |s| s.parse().expect("MAX_CONNECTIONS"));
    let settings = PgSettings {
        max_connections,
        ..PgSettings::default()
    };
    let store = PgStore::connect_with(&url, &settings)
        .await
        .unwrap_or_else(|e| panic!("open the database: {e}"));
    store.migrate().await.expect("migrate");
    let body = format!(r#"{{"action":"opened","pad":"{}"}}"#, "x".repeat(990)).into_bytes();
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let (store, body, done) = (store.clone(), body.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let event = Event {
                    id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
                    integration: "gh".into(),
                    received_at: store::now(),
                    provider_event_id: Some(format!("{task}-{n}")),
                    event_type: Some("issues".into()),
                    scheme: "github".into(),
                    headers: vec![
                        ("x-github-event".into(), "issues".into()),
                        ("x-github-delivery".into(), format!("{task}-{n}")),
                    ],
                    body: body.clone(),
                    connection_id: None,
                    routing_key: None,
                };
                let routing = Routing {
                    event_id: event.id.clone(),
                    mapped: Mapped::Mapped {
                        event_type: "github.issues".into(),
                        data: String::from_utf8(body.clone()).expect("utf-8"),
                    },
                    deliveries: vec![],
                };
                store
                    .insert_routed_event(&event, &routing)
                    .await
                    .expect("insert");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    store.close().await;
    println!("{rate:.0}");
}
