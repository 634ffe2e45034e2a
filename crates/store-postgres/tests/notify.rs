//! The change feed over `LISTEN/NOTIFY` (what the `store-tests` case cannot see): one
//! channel per schema, a connection of its own outside the pool, `Resync` after the
//! listener's connection is killed, an id too long to announce, and the feed's end when
//! the store is closed. Waits are bounded (they fail the test), never timed.

mod common;

use std::time::Duration;

use common::TestSchema;
use sqlx::Connection as _;
use store::{Change, ChangeFeed, IntegrationStateStore, Store, now};
use store_postgres::PgStore;

const WAIT: Duration = Duration::from_secs(30);

async fn migrated(schema: &TestSchema) -> PgStore {
    let s = PgStore::connect(&schema.url).await.unwrap();
    s.migrate().await.unwrap();
    s
}

/// The feed's next change, whatever it is.
async fn next(feed: &mut ChangeFeed) -> Option<Change> {
    tokio::time::timeout(WAIT, feed.recv())
        .await
        .unwrap_or_else(|_| panic!("no change arrived within {WAIT:?}"))
}

/// A subscription that listens already (its first change, `Resync`, was taken).
async fn listening(s: &PgStore) -> ChangeFeed {
    let mut feed = s.subscribe().expect("PostgreSQL has a change feed");
    assert_eq!(next(&mut feed).await, Some(Change::Resync));
    feed
}

async fn block(s: &PgStore, integration: &str) {
    assert!(
        s.set_integration_blocked(integration, true, now())
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schemas_never_see_each_others_changes() {
    let (x, y) = (
        TestSchema::new("sb_test").await,
        TestSchema::new("sb_test").await,
    );
    let (sx, sy) = (migrated(&x).await, migrated(&y).await);
    let (mut fx, mut fy) = (listening(&sx).await, listening(&sy).await);
    block(&sx, "x-1").await;
    block(&sy, "y-1").await;
    block(&sx, "x-2").await;
    // Notifications reach a listener in commit order, so had y-1 reached X's feed it
    // would come before x-2.
    for (feed, expected) in [(&mut fx, ["x-1", "x-2"]), (&mut fy, ["y-1", "y-1"])] {
        assert_eq!(
            next(feed).await,
            Some(Change::IntegrationState(expected[0].into()))
        );
        if expected[0] != expected[1] {
            assert_eq!(
                next(feed).await,
                Some(Change::IntegrationState(expected[1].into()))
            );
        }
    }
    block(&sy, "y-2").await;
    assert_eq!(
        next(&mut fy).await,
        Some(Change::IntegrationState("y-2".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_takes_no_connection_from_the_stores_pool() {
    let schema = TestSchema::new("sb_test").await;
    let s = migrated(&schema).await;
    let _feed = listening(&s).await;
    assert_eq!(
        s.pool().size(),
        0,
        "the listener has a connection of its own"
    );
    assert_eq!(
        schema
            .count(
                "SELECT COUNT(*) FROM pg_stat_activity
                 WHERE query LIKE '%LISTEN%' || switchboard_channel(current_schema()) || '%'"
            )
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_says_resync_after_its_connection_is_killed_and_listens_again() {
    let schema = TestSchema::new("sb_test").await;
    let s = migrated(&schema).await;
    let mut feed = listening(&s).await;
    for round in 0..2 {
        let mut admin = sqlx::PgConnection::connect(&schema.url).await.unwrap();
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE pid <> pg_backend_pid()
               AND query LIKE '%LISTEN%' || switchboard_channel(current_schema()) || '%'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        admin.close().await.unwrap();
        assert_eq!(killed, [true], "round {round}: the listener's backend");
        // Whatever was announced while it was gone is lost: the feed says so, once it
        // listens again.
        assert_eq!(next(&mut feed).await, Some(Change::Resync), "round {round}");
        let name = format!("after-{round}");
        block(&s, &name).await;
        assert_eq!(next(&mut feed).await, Some(Change::IntegrationState(name)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_too_long_to_announce_says_resync_and_the_write_commits() {
    let schema = TestSchema::new("sb_test").await;
    let s = migrated(&schema).await;
    let mut feed = listening(&s).await;
    // A payload holds under 8000 bytes; the write must not fail for it.
    let long = "i".repeat(8000);
    block(&s, &long).await;
    assert!(s.is_integration_blocked(&long).await.unwrap());
    assert_eq!(next(&mut feed).await, Some(Change::Resync));
    block(&s, "short").await;
    assert_eq!(
        next(&mut feed).await,
        Some(Change::IntegrationState("short".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_ends_when_the_store_is_closed_and_its_connection_goes() {
    let schema = TestSchema::new("sb_test").await;
    let s = migrated(&schema).await;
    let mut feed = listening(&s).await;
    s.close().await;
    assert_eq!(next(&mut feed).await, None);
    // Its connection is gone too (closed in the background: a bounded wait).
    let listeners = "SELECT COUNT(*) FROM pg_stat_activity
         WHERE query LIKE '%LISTEN%' || switchboard_channel(current_schema()) || '%'";
    let mut left = schema.count(listeners).await;
    for _ in 0..300 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = schema.count(listeners).await;
    }
    assert_eq!(left, 0, "the listener's connection was closed");
}
