//! Events routed by intake itself ([`EventStore::insert_routed_event`]): the mapping and
//! the deliveries are written in the event's own group commit, a duplicate writes
//! neither, and a batch mixing routed, unrouted, duplicate and colliding events writes
//! exactly the deliveries of the events it inserted.

use super::*;

use store::{DeliveryFilter, DeliveryStatus, DeliveryStore, Mapped, Routing};

const T0: i64 = 1_700_000_000_000;

async fn mem() -> SqliteStore {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    s.migrate().await.unwrap();
    s
}

fn event(n: u32, provider_id: &str) -> Event {
    Event {
        id: format!("evt_{n:032x}"),
        integration: "stripe-main".to_owned(),
        received_at: from_millis(T0 + i64::from(n)).unwrap(),
        provider_event_id: Some(provider_id.to_owned()),
        event_type: Some("payment_intent.succeeded".to_owned()),
        scheme: "stripe".to_owned(),
        headers: vec![],
        body: br#"{"id":"pi_1"}"#.to_vec(),
        connection_id: None,
        routing_key: None,
    }
}

fn routed(e: &Event, mapped: Mapped, dests: &[&str]) -> Routing {
    Routing {
        event_id: e.id.clone(),
        mapped,
        deliveries: dests
            .iter()
            .map(|d| (format!("dlv_{}_{d}", &e.id[4..]), (*d).to_owned()))
            .collect(),
    }
}

fn completed() -> Mapped {
    Mapped::Mapped {
        event_type: "payment.completed".into(),
        data: r#"{"amount":5}"#.into(),
    }
}

async fn deliveries_of(s: &SqliteStore, event_id: &str) -> Vec<store::Delivery> {
    let filter = DeliveryFilter {
        event_id: Some(event_id.to_owned()),
        ..Default::default()
    };
    s.list_deliveries(&filter, 100).await.unwrap()
}

#[tokio::test]
async fn a_routed_event_is_stored_mapped_with_its_deliveries_due_at_once() {
    let s = mem().await;
    let e = event(1, "p1");
    let r = routed(&e, completed(), &["app", "audit"]);
    assert_eq!(
        s.insert_routed_event(&e, &r).await.unwrap(),
        InsertOutcome::Inserted
    );
    let routing = s.event_routing(&e.id).await.unwrap().unwrap();
    assert_eq!(routing.mapped, Some(completed()));
    assert_eq!(routing.routed_at, Some(e.received_at));
    // Nothing is left for the sweep.
    assert!(s.unrouted_events(10).await.unwrap().is_empty());
    let ds = deliveries_of(&s, &e.id).await;
    assert_eq!(ds.len(), 2);
    assert!(ds.iter().all(|d| d.status == DeliveryStatus::Pending
        && d.next_attempt_at == e.received_at
        && d.attempts == 0));
    // Due now: a worker claims both, with the mapped type and data.
    let claimed = s
        .claim_deliveries(
            "w",
            10,
            e.received_at,
            from_millis(T0 + 60_000).unwrap(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(claimed.iter().all(|c| c.event_type == "payment.completed"
        && c.data == r#"{"amount":5}"#
        && c.integration == "stripe-main"));
}

#[tokio::test]
async fn a_duplicate_writes_neither_mapping_nor_deliveries() {
    let s = mem().await;
    let first = event(1, "p1");
    s.insert_routed_event(&first, &routed(&first, completed(), &["app"]))
        .await
        .unwrap();
    let again = event(2, "p1");
    let out = s
        .insert_routed_event(&again, &routed(&again, completed(), &["app", "audit"]))
        .await
        .unwrap();
    assert_eq!(
        out,
        InsertOutcome::Duplicate {
            existing_id: first.id.clone()
        }
    );
    assert!(s.event_routing(&again.id).await.unwrap().is_none());
    assert!(deliveries_of(&s, &again.id).await.is_empty());
    assert_eq!(deliveries_of(&s, &first.id).await.len(), 1);
}

#[tokio::test]
async fn dropped_and_failed_mappings_are_recorded_without_deliveries() {
    let s = mem().await;
    let dropped = event(1, "p1");
    s.insert_routed_event(&dropped, &routed(&dropped, Mapped::Dropped, &["app"]))
        .await
        .unwrap();
    let failed = event(2, "p2");
    let error = Mapped::Failed {
        error: "mappings[0] (jq): cannot index number".into(),
    };
    s.insert_routed_event(&failed, &routed(&failed, error.clone(), &["app"]))
        .await
        .unwrap();
    let r = s.event_routing(&dropped.id).await.unwrap().unwrap();
    assert_eq!(r.mapped, Some(Mapped::Dropped));
    let r = s.event_routing(&failed.id).await.unwrap().unwrap();
    assert_eq!(r.mapped, Some(error));
    assert!(deliveries_of(&s, &dropped.id).await.is_empty());
    assert!(deliveries_of(&s, &failed.id).await.is_empty());
    assert!(s.unrouted_events(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unrouted_insert_is_left_for_the_sweep() {
    let s = mem().await;
    let e = event(1, "p1");
    s.insert_event(&e).await.unwrap();
    let r = s.event_routing(&e.id).await.unwrap().unwrap();
    assert_eq!((r.mapped, r.routed_at), (None, None));
    assert_eq!(s.unrouted_events(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_routing_of_another_event_is_refused() {
    let s = mem().await;
    let e = event(1, "p1");
    let other = event(2, "p2");
    let err = s
        .insert_routed_event(&e, &routed(&other, completed(), &["app"]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(s.get_event(&e.id).await.unwrap().is_none());
}

/// One batch (the writer drains whatever is queued) with routed, unrouted, duplicate and
/// id-colliding events: the collision sends the batch down the step-by-step path, which
/// must still write exactly the deliveries of the events it inserted.
#[tokio::test]
async fn a_mixed_batch_writes_exactly_the_deliveries_of_inserted_events() {
    let s = mem().await;
    let existing = event(1, "p1");
    s.insert_event(&existing).await.unwrap();

    // Same id as `existing`, another provider id: an id collision (Conflict).
    let colliding = event(1, "p-other");
    let fresh: Vec<Event> = (10..40).map(|n| event(n, &format!("q{n}"))).collect();
    let dup = event(50, "q10"); // provider id of fresh[0]
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

#[tokio::test]
async fn data_equal_to_the_body_is_stored_once_and_reads_back_as_the_body() {
    let s = mem().await;
    let e = event(1, "p1");
    let body = String::from_utf8(e.body.clone()).unwrap();
    let passthrough = Mapped::Mapped {
        event_type: "stripe.payment_intent.succeeded".into(),
        data: body.clone(),
    };
    s.insert_routed_event(&e, &routed(&e, passthrough.clone(), &["app"]))
        .await
        .unwrap();
    let stored: Option<String> = sqlx::query_scalar("SELECT mapped_data FROM events WHERE id = ?")
        .bind(&e.id)
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(stored, None, "the body is not stored a second time");
    let r = s.event_routing(&e.id).await.unwrap().unwrap();
    assert_eq!(r.mapped, Some(passthrough));
    let claimed = s
        .claim_deliveries(
            "w",
            1,
            e.received_at,
            from_millis(T0 + 60_000).unwrap(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(claimed[0].data, body);

    // Other data is stored as given.
    let other = event(2, "p2");
    s.insert_routed_event(&other, &routed(&other, completed(), &["app"]))
        .await
        .unwrap();
    let stored: Option<String> = sqlx::query_scalar("SELECT mapped_data FROM events WHERE id = ?")
        .bind(&other.id)
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(r#"{"amount":5}"#));
}

#[tokio::test]
async fn an_event_whose_delivery_cannot_be_written_is_undone_alone() {
    let s = mem().await;
    let ok = event(1, "p1");
    let bad = event(2, "p2");
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
    let again = event(3, "p2");
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
    let e = event(1, "p1");
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
