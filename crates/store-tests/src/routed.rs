//! Events routed by intake itself ([`EventStore::insert_routed_event`](store::EventStore::insert_routed_event)): the mapping and
//! the deliveries are written with the event, and a duplicate writes neither.

use std::sync::Arc;

use store::{DeliveryStatus, InsertOutcome, Mapped, Store, StoreError, from_millis};

use crate::fixtures::{SEC, T0, at, completed, deliveries_of, routed, routed_event};

/// A routed event is stored mapped, with its deliveries due at once.
pub async fn a_routed_event_is_stored_mapped_with_its_deliveries_due_at_once(s: Arc<dyn Store>) {
    let e = routed_event(1, "p1");
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
    let ds = deliveries_of(&*s, &e.id).await;
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

/// A duplicate routed event writes neither a mapping nor deliveries.
pub async fn a_duplicate_writes_neither_mapping_nor_deliveries(s: Arc<dyn Store>) {
    let first = routed_event(1, "p1");
    s.insert_routed_event(&first, &routed(&first, completed(), &["app"]))
        .await
        .unwrap();
    let again = routed_event(2, "p1");
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
    assert!(deliveries_of(&*s, &again.id).await.is_empty());
    assert_eq!(deliveries_of(&*s, &first.id).await.len(), 1);
}

/// Dropped and failed mappings are recorded, without deliveries.
pub async fn dropped_and_failed_mappings_are_recorded_without_deliveries(s: Arc<dyn Store>) {
    let dropped = routed_event(1, "p1");
    s.insert_routed_event(&dropped, &routed(&dropped, Mapped::Dropped, &["app"]))
        .await
        .unwrap();
    let failed = routed_event(2, "p2");
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
    assert!(deliveries_of(&*s, &dropped.id).await.is_empty());
    assert!(deliveries_of(&*s, &failed.id).await.is_empty());
    assert!(s.unrouted_events(10).await.unwrap().is_empty());
}

/// An event inserted without routing is left for the sweep.
pub async fn an_unrouted_insert_is_left_for_the_sweep(s: Arc<dyn Store>) {
    let e = routed_event(1, "p1");
    s.insert_event(&e).await.unwrap();
    let r = s.event_routing(&e.id).await.unwrap().unwrap();
    assert_eq!((r.mapped, r.routed_at), (None, None));
    assert_eq!(s.unrouted_events(10).await.unwrap().len(), 1);
}

/// A routing that names another event is refused, and nothing is stored.
pub async fn a_routing_of_another_event_is_refused(s: Arc<dyn Store>) {
    let e = routed_event(1, "p1");
    let other = routed_event(2, "p2");
    let err = s
        .insert_routed_event(&e, &routed(&other, completed(), &["app"]))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(s.get_event(&e.id).await.unwrap().is_none());
}

/// Mapped data that is the body byte for byte (a JSON body passed through) reads back as
/// given, from the routing and from a claim; other data too.
pub async fn a_passthrough_mapping_reads_back_as_the_body(s: Arc<dyn Store>) {
    let e = routed_event(1, "p1");
    let body = String::from_utf8(e.body.clone()).unwrap();
    let passthrough = Mapped::Mapped {
        event_type: "stripe.payment_intent.succeeded".into(),
        data: body.clone(),
    };
    s.insert_routed_event(&e, &routed(&e, passthrough.clone(), &["app"]))
        .await
        .unwrap();
    let r = s.event_routing(&e.id).await.unwrap().unwrap();
    assert_eq!(r.mapped, Some(passthrough));
    let other = routed_event(2, "p2");
    s.insert_routed_event(&other, &routed(&other, completed(), &["app"]))
        .await
        .unwrap();
    assert_eq!(
        s.event_routing(&other.id).await.unwrap().unwrap().mapped,
        Some(completed())
    );
    let claimed = s
        .claim_deliveries("w", 10, at(2), at(60 * SEC), &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let data_of = |id: &str| {
        claimed
            .iter()
            .find(|c| c.event_id == id)
            .map(|c| c.data.clone())
    };
    assert_eq!(data_of(&e.id), Some(body));
    assert_eq!(data_of(&other.id).as_deref(), Some(r#"{"amount":5}"#));
}

/// A routing that names one delivery id twice cannot be written: the insert fails as a
/// `Conflict` naming the event, nothing of the event is kept, and a redelivery of it is a
/// new insert (not a duplicate of nothing).
pub async fn a_routing_with_a_repeated_delivery_id_stores_nothing(s: Arc<dyn Store>) {
    let bad = routed_event(2, "p2");
    let mut bad_routing = routed(&bad, completed(), &["app", "audit"]);
    bad_routing.deliveries[1].0 = bad_routing.deliveries[0].0.clone();
    let outcome = s.insert_routed_event(&bad, &bad_routing).await;
    assert!(
        matches!(&outcome, Err(StoreError::Conflict(m)) if m.contains(&bad.id)),
        "{outcome:?}"
    );
    assert!(s.get_event(&bad.id).await.unwrap().is_none());
    assert!(deliveries_of(&*s, &bad.id).await.is_empty());
    assert!(s.event_routing(&bad.id).await.unwrap().is_none());
    let again = routed_event(3, "p2");
    assert_eq!(
        s.insert_routed_event(&again, &routed(&again, completed(), &["app"]))
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(deliveries_of(&*s, &again.id).await.len(), 1);
}
