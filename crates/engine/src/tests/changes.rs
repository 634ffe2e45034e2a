//! The store's change feed applied by [`Engine::follow_changes`]: what another process
//! committed (written here straight into the store, behind the engine's back) wakes the
//! delivery worker and empties the caches, on a manual clock that never moves, so that
//! neither a poll nor a cache's TTL can be what made it happen.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use store::changes::{ChangeSender, feed};
use store::{ApiKeyStore, Change, DeliveryStatus, EventStore, IntegrationStateStore, Scope};

use super::pipeline::{deliveries, engine_with, pipeline_config, stripe_event, wait_for};
use super::webhooks::{GH_BODY, GH_SIG, github_headers, incoming};
use crate::pipeline::deliver::WorkerOptions;
use crate::webhooks::Intake;
use crate::{Actor, Engine, EngineError, ManualClock};

/// Follows a feed of our own making; stops when the returned sender of `()` is dropped.
fn follow(engine: &Engine) -> (ChangeSender, tokio::sync::oneshot::Sender<()>) {
    let (tx, feed) = feed();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    tokio::spawn(async move {
        e.follow_changes(feed, async {
            let _ = stopped.await;
        })
        .await;
    });
    (tx, stop)
}

/// A destination that counts what it receives and answers 200.
async fn counting_destination() -> (Arc<AtomicU32>, String) {
    let seen = Arc::new(AtomicU32::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                axum::http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (seen, format!("http://{addr}/hooks"))
}

#[tokio::test]
async fn a_change_wakes_the_idle_worker_without_the_clock_moving() {
    let (seen, url) = counting_destination().await;
    let (engine, store) = engine_with(pipeline_config(&url, "", "")).await;
    let clock = ManualClock::new();
    let engine = engine.with_clock(clock.clone());
    let start = engine.now();
    let (tx, _stop_following) = follow(&engine);
    let (stop_worker, stopped) = tokio::sync::oneshot::channel::<()>();
    let e = engine.clone();
    let worker = tokio::spawn(async move {
        let opts = WorkerOptions {
            owner: "w".into(),
            // Far longer than the test: only a wake-up gets the worker to look.
            poll_interval: Duration::from_secs(86_400),
            ..Default::default()
        };
        e.run_delivery_worker(opts, async {
            let _ = stopped.await;
        })
        .await;
    });
    // Deliveries due, a destination enabled, and a feed that started over each wake it.
    let changes = [
        Change::DeliveriesDue,
        Change::Destination("app".into()),
        Change::Resync,
    ];
    for (n, change) in changes.into_iter().enumerate() {
        let n = n as u32;
        wait_for("the worker to sleep on the clock", async || {
            clock.sleeping() == 1
                && deliveries(&store, Some(DeliveryStatus::Delivered))
                    .await
                    .len()
                    == n as usize
        })
        .await;
        // Another process's intake: stored and routed, nobody in this one poked.
        let mut e = stripe_event(100 + n, 5);
        e.received_at = engine.now();
        let routing = crate::pipeline::route_one(&engine.config(), "stripe", &e, None);
        assert_eq!(routing.deliveries.len(), 1);
        store.insert_routed_event(&e, &routing).await.unwrap();
        assert!(tx.send(change.clone()));
        wait_for("the delivery", async || {
            deliveries(&store, Some(DeliveryStatus::Delivered))
                .await
                .len()
                == n as usize + 1
        })
        .await;
        assert_eq!(seen.load(Ordering::SeqCst), n + 1, "after {change:?}");
    }
    assert_eq!(engine.now(), start, "the clock never moved");
    drop(stop_worker);
    worker.await.unwrap();
}

#[tokio::test]
async fn a_key_revoked_by_another_process_is_refused_once_the_feed_tells() {
    let cfg = config::Config::from_toml(
        "api_key_cache_secs = 300",
        "t.toml",
        &std::collections::BTreeMap::new(),
        &Default::default(),
    )
    .unwrap();
    let store = super::memory_store().await;
    let clock = ManualClock::new();
    let engine = Engine::new(
        Arc::new(store.clone()),
        super::ring(&super::key(), &[]),
        cfg,
    )
    .with_clock(clock.clone());
    let (tx, _stop) = follow(&engine);
    for change in [Some(Change::ApiKey(String::new())), Some(Change::Resync)] {
        let created = engine
            .create_api_key("k", Scope::App, &Actor::System)
            .await
            .unwrap();
        let id = created.info.id.clone();
        engine.authenticate(&created.key).await.unwrap();
        // Another process revokes it: this one's cache still holds the key's record
        // (the clock stands still, so its 300 s never pass).
        assert!(store.revoke_api_key(&id, engine.now()).await.unwrap());
        engine.authenticate(&created.key).await.unwrap();
        // A change about another key leaves it cached.
        assert!(tx.send(Change::ApiKey("someoneelse1".into())));
        let change = match change.unwrap() {
            Change::ApiKey(_) => Change::ApiKey(id.clone()),
            other => other,
        };
        assert!(tx.send(change));
        wait_for("the revoked key to be refused", async || {
            matches!(
                engine.authenticate(&created.key).await,
                Err(EngineError::Unauthenticated(_))
            )
        })
        .await;
    }
}

#[tokio::test]
async fn intake_is_refused_once_the_feed_tells_of_a_block_elsewhere() {
    let (engine, store) = super::webhooks::engine().await;
    let (tx, _stop) = follow(&engine);
    let mut n = 0;
    let mut post = async || {
        n += 1;
        let h = github_headers(&format!("d-{n}"), GH_SIG);
        engine.intake(incoming("gh", &h, GH_BODY)).await
    };
    for change in [Change::IntegrationState("gh".into()), Change::Resync] {
        assert!(matches!(post().await.unwrap(), Intake::Stored { .. }));
        // Another process blocks intake; this one's switches are cached (for a second
        // of a clock that stands still).
        assert!(
            store
                .set_integration_blocked("gh", true, store::now())
                .await
                .unwrap()
        );
        assert!(matches!(post().await.unwrap(), Intake::Stored { .. }));
        assert!(tx.send(change));
        wait_for("intake to be refused", async || {
            matches!(post().await, Err(EngineError::Forbidden(_)))
        })
        .await;
        assert!(
            store
                .set_integration_blocked("gh", false, store::now())
                .await
                .unwrap()
        );
        assert!(tx.send(Change::IntegrationState("gh".into())));
        wait_for("intake to be open again", async || {
            matches!(post().await, Ok(Intake::Stored { .. }))
        })
        .await;
    }
}

/// Announcements of deliveries due that come close together wake the worker once at
/// once and once more at the end of the interval, however many there were.
#[tokio::test]
async fn deliveries_due_in_a_burst_wake_the_worker_twice() {
    use futures_util::FutureExt as _;

    let (engine, _store) = engine_with(pipeline_config("http://127.0.0.1:9/hooks", "", "")).await;
    let clock = ManualClock::new();
    let engine = engine.with_clock(clock.clone());
    let wake = engine.pipeline_wake();
    let (tx, _stop) = follow(&engine);
    assert!(tx.send(Change::DeliveriesDue));
    tokio::time::timeout(Duration::from_secs(10), wake.notified())
        .await
        .expect("the first announcement wakes the worker at once");
    for _ in 0..5 {
        assert!(tx.send(Change::DeliveriesDue));
    }
    wait_for("the rest to wait for the interval", async || {
        clock.sleeping() == 1
    })
    .await;
    assert!(
        wake.notified().now_or_never().is_none(),
        "no wake-up before the interval ends"
    );
    // Other changes are not held back meanwhile.
    assert!(tx.send(Change::Destination("app".into())));
    tokio::time::timeout(Duration::from_secs(10), wake.notified())
        .await
        .expect("a destination enabled wakes the worker at once");
    clock.advance(crate::changes::DUE_WAKE_EVERY);
    tokio::time::timeout(Duration::from_secs(10), wake.notified())
        .await
        .expect("the folded announcements wake the worker at the interval's end");
    wait_for("the follower to go back to the feed", async || {
        clock.sleeping() == 0
    })
    .await;
    assert!(
        wake.notified().now_or_never().is_none(),
        "five announcements, one wake-up"
    );
}
