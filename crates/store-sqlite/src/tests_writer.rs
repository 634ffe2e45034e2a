//! The group-commit event writer: batches, what is acknowledged when, and how it ends.

use std::collections::BTreeSet;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use store::{DeliveryStore, EventStore};
use store::{Event, InsertOutcome, Routing, Store, StoreError, StoreResult};
use store_tests::fixtures::{completed, deliveries_of, event, evt_id, routed, routed_event};
use tokio::sync::oneshot;

use crate::SqliteStore;
use crate::tests::{file_store, file_url, mem};
use crate::writer::EventJob;
use store::EventRow;

/// Sends every job at once so that the writer takes them as one batch.
async fn futures_join(
    s: &SqliteStore,
    jobs: Vec<(Event, Option<Routing>)>,
) -> Vec<StoreResult<InsertOutcome>> {
    let mut answers = Vec::new();
    for (event, routing) in jobs {
        let (reply, answer) = oneshot::channel();
        s.events
            .send(EventJob {
                row: EventRow::new(&event, routing.as_ref()).unwrap(),
                reply,
            })
            .await
            .unwrap();
        answers.push(answer);
    }
    let mut out = Vec::new();
    for a in answers {
        out.push(a.await.unwrap());
    }
    out
}

/// Holds the database write lock from another connection so that the writer is stuck
/// on one batch while more inserts queue up behind it: the queued ones then form one
/// batch, and none is acknowledged before its commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_inside_one_batch_refer_to_the_first_and_nothing_is_acked_before_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_store(&dir.path().join("sb.db")).await;
    let mut locker = s.pool().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *locker)
        .await
        .unwrap();

    // The writer takes this one alone and waits for the lock.
    let blocker = tokio::spawn({
        let s = s.clone();
        async move { s.insert_event(&event(1, "i", Some("blocker"))).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // These queue behind it and are drained together into the next batch.
    let mut tasks = Vec::new();
    for n in 10..30u128 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let e = event(n, "i", Some("same"));
            let outcome = s.insert_event(&e).await;
            (e.id, outcome)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!blocker.is_finished(), "acknowledged before its commit");
    assert!(tasks.iter().all(|t| !t.is_finished()));
    sqlx::query("ROLLBACK").execute(&mut *locker).await.unwrap();
    drop(locker);

    assert_eq!(blocker.await.unwrap().unwrap(), InsertOutcome::Inserted);
    let mut inserted = Vec::new();
    let mut duplicates_of = BTreeSet::new();
    for t in tasks {
        let (id, outcome) = t.await.unwrap();
        match outcome.unwrap() {
            InsertOutcome::Inserted => inserted.push(id),
            InsertOutcome::Duplicate { existing_id } => {
                assert_ne!(existing_id, id);
                duplicates_of.insert(existing_id);
            }
        }
    }
    assert_eq!(inserted.len(), 1, "{inserted:?}");
    assert_eq!(duplicates_of, BTreeSet::from([inserted[0].clone()]));
    assert_eq!(s.count_events(None).await.unwrap(), 2);
    let stored = s.get_event(&inserted[0]).await.unwrap().unwrap();
    assert_eq!(stored.provider_event_id.as_deref(), Some("same"));
}

/// The suite's 500 concurrent inserts on a file, then what only a file has: everything
/// acknowledged is on disk, so a fresh pool on the reopened file sees all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_inserts_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.db");
    let s = file_store(&path).await;
    store_tests::events::five_hundred_concurrent_inserts_are_all_acknowledged_and_stored(Arc::new(
        s.clone(),
    ))
    .await;
    s.close().await;
    let reopened = file_store(&path).await;
    assert_eq!(reopened.count_events(None).await.unwrap(), 500);
}

/// Jobs already queued when the pool closes get an error too (the writer cannot begin a
/// transaction), rather than waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_queued_when_the_store_closes_fail_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_store(&dir.path().join("sb.db")).await;
    let mut tasks = Vec::new();
    for n in 0..50u128 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.insert_event(&event(n, "i", None)).await
        }));
    }
    s.close().await;
    let mut ok = 0;
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .expect("an insert hung after close")
            .unwrap()
        {
            Ok(InsertOutcome::Inserted) => ok += 1,
            Ok(other) => panic!("{other:?}"),
            Err(e) => assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}"),
        }
    }
    // Whatever was acknowledged was committed.
    let reopened = file_store(&dir.path().join("sb.db")).await;
    assert_eq!(reopened.count_events(None).await.unwrap(), ok);
}

/// The writer task ends once every clone of the store is gone, so it does not keep the
/// pool (and its connections) alive: leaving WAL mode needs every other connection to
/// the file closed.
#[tokio::test]
async fn event_writer_stops_when_the_store_is_dropped() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.db");
    let s = file_store(&path).await;
    let copy = s.clone();
    s.insert_event(&event(1, "i", None)).await.unwrap();
    drop(s);
    drop(copy);
    let opts = SqliteConnectOptions::from_str(&file_url(&path))
        .unwrap()
        .busy_timeout(Duration::ZERO);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    let mut mode = String::new();
    for _ in 0..500 {
        if let Ok(m) = sqlx::query_scalar::<_, String>("PRAGMA journal_mode = DELETE")
            .fetch_one(&mut conn)
            .await
        {
            mode = m;
            if mode == "delete" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(mode, "delete", "the pool outlived every store handle");
    conn.close().await.unwrap();
    let reopened = file_store(&path).await;
    assert_eq!(reopened.count_events(None).await.unwrap(), 1);
}

#[tokio::test]
async fn a_store_whose_event_writer_stopped_is_not_ready_and_refuses_events() {
    let mut s = mem().await;
    s.ping().await.unwrap();
    // What the store sees when its writer thread has ended (a panic, say).
    let (gone, writer) = tokio::sync::mpsc::channel(1);
    drop(writer);
    s.events = gone;
    let e = s.ping().await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Unavailable(m) if m.contains("restart the server")),
        "{e:?}"
    );
    let refused = s.insert_event(&event(1, "gh", Some("d1"))).await;
    assert!(
        matches!(&refused, Err(StoreError::Unavailable(m)) if m.contains("event writer")),
        "{refused:?}"
    );
    assert_eq!(s.count_events(None).await.unwrap(), 0);
}

/// One batch (the writer drains whatever is queued) with routed, unrouted, duplicate and
/// id-colliding events: the collision sends the batch down the step-by-step path, which
/// must still write exactly the deliveries of the events it inserted.
#[tokio::test]
async fn a_mixed_batch_writes_exactly_the_deliveries_of_inserted_events() {
    let s = mem().await;
    let existing = routed_event(1, "p1");
    s.insert_event(&existing).await.unwrap();

    // Same id as `existing`, another provider id: an id collision (Conflict).
    let colliding = routed_event(1, "p-other");
    let fresh: Vec<Event> = (10..40)
        .map(|n| routed_event(n, &format!("q{n}")))
        .collect();
    let dup = routed_event(50, "q10"); // provider id of fresh[0]
    let mut jobs = Vec::new();
    jobs.push((
        colliding.clone(),
        Some(routed(&colliding, completed(), &["app"])),
    ));
    for (i, e) in fresh.iter().enumerate() {
        let r = (i % 2 == 0).then(|| routed(e, completed(), &["app", "audit"]));
        jobs.push((e.clone(), r));
    }
    jobs.push((dup.clone(), Some(routed(&dup, completed(), &["app"]))));
    let outcomes = futures_join(&s, jobs).await;

    assert!(
        matches!(outcomes[0], Err(StoreError::Conflict(_))),
        "{:?}",
        outcomes[0]
    );
    assert!(deliveries_of(&s, &existing.id).await.is_empty());
    for (i, e) in fresh.iter().enumerate() {
        assert_eq!(outcomes[i + 1].as_ref().unwrap(), &InsertOutcome::Inserted);
        let want = if i % 2 == 0 { 2 } else { 0 };
        assert_eq!(deliveries_of(&s, &e.id).await.len(), want, "event {i}");
    }
    assert_eq!(
        outcomes.last().unwrap().as_ref().unwrap(),
        &InsertOutcome::Duplicate {
            existing_id: fresh[0].id.clone()
        }
    );
    assert!(deliveries_of(&s, &dup.id).await.is_empty());
    // The unrouted half waits for the sweep; the routed half does not.
    assert_eq!(s.unrouted_events(100).await.unwrap().len(), 1 + 15);
}

#[tokio::test]
async fn an_event_whose_delivery_cannot_be_written_is_undone_alone() {
    let s = mem().await;
    let ok = routed_event(1, "p1");
    let bad = routed_event(2, "p2");
    // Two deliveries of `bad` under one delivery id: the second breaks the primary key.
    let mut bad_routing = routed(&bad, completed(), &["app", "audit"]);
    bad_routing.deliveries[1].0 = bad_routing.deliveries[0].0.clone();
    let outcomes = futures_join(
        &s,
        vec![
            (ok.clone(), Some(routed(&ok, completed(), &["app"]))),
            (bad.clone(), Some(bad_routing)),
        ],
    )
    .await;
    assert_eq!(outcomes[0].as_ref().unwrap(), &InsertOutcome::Inserted);
    assert!(
        matches!(&outcomes[1], Err(StoreError::Conflict(m)) if m.contains(&bad.id)),
        "{:?}",
        outcomes[1]
    );
    assert!(
        s.get_event(&bad.id).await.unwrap().is_none(),
        "nothing of it is kept"
    );
    assert!(deliveries_of(&s, &bad.id).await.is_empty());
    assert_eq!(deliveries_of(&s, &ok.id).await.len(), 1);
    // A redelivery of it is a new insert, not a duplicate of nothing.
    let again = routed_event(3, "p2");
    assert_eq!(
        s.insert_routed_event(&again, &routed(&again, completed(), &["app"]))
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
}

#[tokio::test]
async fn a_batch_that_cannot_be_written_fails_every_event_in_it_and_the_writer_goes_on() {
    let s = mem().await;
    sqlx::query("ALTER TABLE events RENAME TO events_away")
        .execute(s.pool())
        .await
        .unwrap();
    let e = routed_event(1, "p1");
    let failed = s.insert_event(&e).await;
    assert!(
        matches!(&failed, Err(StoreError::Backend(m)) if m.contains("events")),
        "{failed:?}"
    );
    sqlx::query("ALTER TABLE events_away RENAME TO events")
        .execute(s.pool())
        .await
        .unwrap();
    assert_eq!(s.insert_event(&e).await.unwrap(), InsertOutcome::Inserted);
}

/// The suite's passthrough case, then what only the schema shows: mapped data equal to
/// the body is not stored a second time (`mapped_data` is NULL), other data is stored as
/// given.
#[tokio::test]
async fn data_equal_to_the_body_is_stored_once_and_reads_back_as_the_body() {
    let s = mem().await;
    store_tests::routed::a_passthrough_mapping_reads_back_as_the_body(Arc::new(s.clone())).await;
    let mapped_data = |n: u128| {
        sqlx::query_scalar::<_, Option<String>>("SELECT mapped_data FROM events WHERE id = ?")
            .bind(evt_id(n))
            .fetch_one(s.pool())
    };
    // The case maps `routed_event(1, "p1")` to its own body, `routed_event(2, "p2")` to
    // `completed()`.
    assert_eq!(
        mapped_data(1).await.unwrap(),
        None,
        "the body is not stored a second time"
    );
    assert_eq!(
        mapped_data(2).await.unwrap().as_deref(),
        Some(r#"{"amount":5}"#)
    );
}
