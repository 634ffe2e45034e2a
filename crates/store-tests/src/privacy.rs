//! Retention, erasure and consent ([`PrivacyStore`](store::PrivacyStore)): purges keep
//! the metadata, take only events whose work is done, in bounded batches that are
//! idempotent (also from two handles at once); erasure follows the connections; consent
//! records lose their personal fields.

use std::sync::Arc;

use serde_json::json;
use store::{
    ConsentKind, ConsentRecord, DeliveryStatus, ErasureRecord, Event, Mapped, NewAttempt,
    PurgeReason, PurgeSelection, ReplayFilter, Store, from_millis,
};

use crate::fixtures::{MIN, T0, at, completed, conn, creds, deliveries_of, event, routed, session};

/// Event `n` of `integration`, routed (dropped by its mapping: no deliveries), received
/// `n` ms after T0.
async fn done_event(s: &dyn Store, n: u128, integration: &str) -> Event {
    let e = event(n, integration, None);
    s.insert_routed_event(&e, &routed(&e, Mapped::Dropped, &[]))
        .await
        .unwrap();
    e
}

fn before(offset_ms: i64) -> PurgeSelection {
    PurgeSelection {
        integration: None,
        except: vec![],
        received_before: at(offset_ms),
    }
}

/// A purge takes routed events older than the cutoff whose deliveries are done, clears
/// body, headers and mapped data, and keeps the metadata; replay then skips them.
pub async fn purge_keeps_metadata_and_takes_only_finished_old_events(s: Arc<dyn Store>) {
    let old = done_event(&*s, 1, "a").await;
    // Old, but a delivery still waits: its work is not done.
    let waiting = event(2, "a", Some("p2"));
    s.insert_routed_event(&waiting, &routed(&waiting, completed(), &["app"]))
        .await
        .unwrap();
    // Old, but not routed yet.
    s.insert_event(&event(3, "a", None)).await.unwrap();
    // Newer than the cutoff.
    let young = done_event(&*s, 10 * MIN as u128, "a").await;
    let b = s
        .purge_expired_payloads(&before(MIN), 100, false, at(2 * MIN))
        .await
        .unwrap();
    assert_eq!((b.events, b.more), (1, false));

    let got = s.get_event(&old.id).await.unwrap().unwrap();
    assert!(got.body.is_empty() && got.headers.is_empty());
    assert_eq!(
        (
            &got.integration,
            got.received_at,
            &got.event_type,
            &got.scheme
        ),
        (
            &old.integration,
            old.received_at,
            &old.event_type,
            &old.scheme
        )
    );
    let p = s.event_purge_state(&old.id).await.unwrap().unwrap();
    assert_eq!((p.at, p.reason), (at(2 * MIN), PurgeReason::Retention));
    let routing = s.event_routing(&old.id).await.unwrap().unwrap();
    assert_eq!(routing.mapped, Some(Mapped::Dropped));
    for kept in [&waiting, &young] {
        let e = s.get_event(&kept.id).await.unwrap().unwrap();
        assert_eq!(e.body, kept.body);
        assert!(s.event_purge_state(&kept.id).await.unwrap().is_none());
    }
    // The listing says it was purged.
    let list = s
        .list_event_summaries(&Default::default(), 10)
        .await
        .unwrap();
    let row = list.iter().find(|e| e.id == old.id).unwrap();
    assert_eq!((row.purged_at, row.body_bytes), (Some(at(2 * MIN)), 0));
    assert!(
        list.iter()
            .filter(|e| e.id != old.id)
            .all(|e| e.purged_at.is_none())
    );

    // A replay of it is skipped, and counted.
    let f = ReplayFilter {
        event_id: Some(old.id.clone()),
        ..Default::default()
    };
    let r = s.replay(&f, false, at(3 * MIN)).await.unwrap();
    assert_eq!((r.events, r.skipped_purged), (0, 1));
    assert!(
        s.event_routing(&old.id)
            .await
            .unwrap()
            .unwrap()
            .routed_at
            .is_some()
    );
}

/// Batches are bounded, say whether more remain, and running again purges nothing twice;
/// a dry run counts and changes nothing.
pub async fn purge_batches_are_bounded_idempotent_and_dry_runs_change_nothing(s: Arc<dyn Store>) {
    for n in 1..=5 {
        done_event(&*s, n, "a").await;
    }
    let dry = s
        .purge_expired_payloads(&before(MIN), 100, true, at(MIN))
        .await
        .unwrap();
    assert_eq!((dry.events, dry.more), (5, false));
    assert!(
        s.event_purge_state(&event(1, "a", None).id)
            .await
            .unwrap()
            .is_none()
    );
    let mut total = 0;
    let mut batches = 0;
    loop {
        let b = s
            .purge_expired_payloads(&before(MIN), 2, false, at(MIN))
            .await
            .unwrap();
        assert!(b.events <= 2);
        total += b.events;
        batches += 1;
        if !b.more {
            break;
        }
        assert!(batches < 10);
    }
    assert_eq!(total, 5);
    let again = s
        .purge_expired_payloads(&before(MIN), 2, false, at(2 * MIN))
        .await
        .unwrap();
    assert_eq!((again.events, again.more), (0, false));
    // The first purge's time stays.
    let p = s
        .event_purge_state(&event(5, "a", None).id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.at, at(MIN));
}

/// A selection of one integration takes only it; the default one takes every other
/// integration but those excepted.
pub async fn purge_selection_by_integration_and_exceptions(s: Arc<dyn Store>) {
    let a = done_event(&*s, 1, "a").await;
    let b = done_event(&*s, 2, "b").await;
    let c = done_event(&*s, 3, "c").await;
    let only_b = PurgeSelection {
        integration: Some("b".into()),
        ..before(MIN)
    };
    assert_eq!(
        s.purge_expired_payloads(&only_b, 10, false, at(MIN))
            .await
            .unwrap()
            .events,
        1
    );
    assert!(s.event_purge_state(&b.id).await.unwrap().is_some());
    let rest = PurgeSelection {
        except: vec!["a".into(), "b".into()],
        ..before(MIN)
    };
    assert_eq!(
        s.purge_expired_payloads(&rest, 10, false, at(MIN))
            .await
            .unwrap()
            .events,
        1
    );
    assert!(s.event_purge_state(&c.id).await.unwrap().is_some());
    assert!(s.event_purge_state(&a.id).await.unwrap().is_none());
}

/// Two handles purging at once purge each event exactly once.
pub async fn concurrent_purges_from_two_handles_take_each_event_once(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    for n in 1..=40 {
        done_event(&*a, n, "x").await;
    }
    let run = |s: Arc<dyn Store>| async move {
        let mut n = 0;
        loop {
            let r = s
                .purge_expired_payloads(&before(MIN), 3, false, at(MIN))
                .await
                .unwrap();
            n += r.events;
            if !r.more {
                return n;
            }
        }
    };
    let (x, y) = tokio::join!(run(a.clone()), run(b.clone()));
    assert_eq!(x + y, 40, "{x} + {y}");
    let left = a
        .purge_expired_payloads(&before(MIN), 100, true, at(MIN))
        .await
        .unwrap();
    assert_eq!(left.events, 0);
}

/// Erasing a connection's events clears their payload and their link to the connection,
/// kills their pending deliveries, and leaves other connections' events alone.
pub async fn erase_connection_events_clears_payload_and_link(s: Arc<dyn Store>) {
    s.upsert_connection(&conn("c1", "gh", "u1"), &creds("k", b"x"))
        .await
        .unwrap();
    let mut mine = event(1, "gh", Some("p1"));
    mine.connection_id = Some("c1".into());
    mine.routing_key = Some("team-1".into());
    s.insert_routed_event(&mine, &routed(&mine, completed(), &["app"]))
        .await
        .unwrap();
    let mut unrouted = event(2, "gh", None);
    unrouted.connection_id = Some("c1".into());
    s.insert_event(&unrouted).await.unwrap();
    let mut other = event(3, "gh", None);
    other.connection_id = Some("c2".into());
    s.insert_event(&other).await.unwrap();

    let ids = vec!["c1".to_owned()];
    let listed = s.events_of_connections(&ids, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        [mine.id.as_str(), unrouted.id.as_str()]
    );
    assert_eq!(listed[0].body_bytes, mine.body.len() as u64);
    let page = s
        .events_of_connections(&ids, Some(&mine.id), 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);

    let b1 = s.erase_connection_events(&ids, 1, at(MIN)).await.unwrap();
    assert_eq!((b1.events, b1.more), (1, true));
    let b2 = s.erase_connection_events(&ids, 1, at(MIN)).await.unwrap();
    assert_eq!(b2.events, 1);
    let b3 = s.erase_connection_events(&ids, 1, at(MIN)).await.unwrap();
    assert_eq!((b3.events, b3.more), (0, false));

    for id in [&mine.id, &unrouted.id] {
        let e = s.get_event(id).await.unwrap().unwrap();
        assert!(e.body.is_empty() && e.headers.is_empty(), "{id}");
        assert_eq!((e.connection_id, e.routing_key), (None, None));
        let p = s.event_purge_state(id).await.unwrap().unwrap();
        assert_eq!(p.reason, PurgeReason::Erasure);
    }
    // Nothing sends them any more.
    assert!(
        s.unrouted_events(10)
            .await
            .unwrap()
            .iter()
            .all(|e| e.id == other.id)
    );
    let ds = deliveries_of(&*s, &mine.id).await;
    assert!(ds.iter().all(|d| d.status == DeliveryStatus::Dead));
    assert!(
        s.events_of_connections(&ids, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let kept = s.get_event(&other.id).await.unwrap().unwrap();
    assert_eq!(kept.body, other.body);
}

fn attempt(status: u16) -> NewAttempt {
    NewAttempt {
        started_at: at(MIN),
        duration_ms: 5,
        status: Some(status),
        outcome: if status == 200 {
            "delivered"
        } else {
            "http_error"
        }
        .into(),
        excerpt: Some(r#"{"email":"someone@example.com"}"#.into()),
    }
}

/// Attempts (their excerpts may hold personal data) go when the event's payload goes,
/// by retention or erasure, and an attempt that ends after an erasure is not recorded;
/// other events' attempts stay.
pub async fn attempts_go_with_the_payload_and_none_is_recorded_after_an_erasure(s: Arc<dyn Store>) {
    s.upsert_connection(&conn("c1", "gh", "u1"), &creds("k", b"x"))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 1..=3 {
        let mut e = event(n, "gh", Some(&format!("p{n}")));
        if n == 3 {
            e.connection_id = Some("c1".into());
        }
        s.insert_routed_event(&e, &routed(&e, completed(), &["app"]))
            .await
            .unwrap();
        ids.push(e.id);
    }
    let claimed = s
        .claim_deliveries("w", 10, at(MIN), at(2 * MIN), &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let of = |id: &str| claimed.iter().find(|c| c.event_id == id).unwrap().clone();
    for id in &ids[..2] {
        let c = of(id);
        assert!(
            s.complete_attempt(&c.id, c.fence, 200, at(MIN), &attempt(200))
                .await
                .unwrap()
        );
        assert_eq!(s.list_attempts(id, 10).await.unwrap().len(), 1);
    }
    // Retention takes the first (the second is younger than the cutoff).
    let b = s
        .purge_expired_payloads(&before(2), 100, false, at(3 * MIN))
        .await
        .unwrap();
    assert_eq!(b.events, 1);
    assert!(s.list_attempts(&ids[0], 10).await.unwrap().is_empty());
    assert_eq!(s.list_attempts(&ids[1], 10).await.unwrap().len(), 1);

    // The third is erased while its request runs: its outcome is recorded, not the
    // attempt.
    let b = s
        .erase_connection_events(&["c1".to_owned()], 10, at(3 * MIN))
        .await
        .unwrap();
    assert_eq!(b.events, 1);
    let c = of(&ids[2]);
    assert!(
        s.complete_attempt(&c.id, c.fence, 200, at(4 * MIN), &attempt(200))
            .await
            .unwrap()
    );
    assert!(s.list_attempts(&ids[2], 10).await.unwrap().is_empty());
    assert_eq!(s.list_attempts(&ids[1], 10).await.unwrap().len(), 1);
}

/// Consent records round trip, list by end user, and are rewritten without personal
/// data; an erasure is recorded once; an end user's flows in progress are deleted.
pub async fn consent_records_erasures_and_flows_of_an_end_user(s: Arc<dyn Store>) {
    let rec = |id: &str, user: &str, kind: ConsentKind, t: i64| ConsentRecord {
        id: id.to_owned(),
        connection_id: Some(format!("conn-{user}")),
        end_user_id: Some(user.to_owned()),
        subject_hash: None,
        integration: "gh".to_owned(),
        kind,
        scopes_requested: vec!["repo".into(), "user".into()],
        scopes_granted: vec!["repo".into()],
        connect_session: Some("cs-ref".into()),
        return_origin: Some("https://app.example".into()),
        at: at(t),
    };
    let r1 = rec("cns_1", "u1", ConsentKind::Connect, 0);
    let r2 = rec("cns_2", "u1", ConsentKind::ScopeLoss, MIN);
    let r3 = rec("cns_3", "u2", ConsentKind::Connect, 0);
    for r in [&r1, &r2, &r3] {
        s.insert_consent_record(r).await.unwrap();
    }
    assert_eq!(
        s.consent_records_of("u1").await.unwrap(),
        vec![r1.clone(), r2]
    );
    assert_eq!(s.anonymize_consent_records("u1", "h1").await.unwrap(), 2);
    assert!(s.consent_records_of("u1").await.unwrap().is_empty());
    assert_eq!(s.consent_records_of("u2").await.unwrap(), vec![r3]);
    assert_eq!(s.anonymize_consent_records("u1", "h1").await.unwrap(), 0);

    let e = ErasureRecord {
        subject_hash: "h1".into(),
        erased_at: from_millis(T0).unwrap(),
        counts: json!({"connections": 1}),
    };
    assert!(s.record_erasure(&e).await.unwrap());
    let again = ErasureRecord {
        erased_at: at(MIN),
        ..e.clone()
    };
    assert!(!s.record_erasure(&again).await.unwrap());
    assert_eq!(s.get_erasure("h1").await.unwrap(), Some(e));
    assert_eq!(s.get_erasure("h2").await.unwrap(), None);

    s.insert_connect_session(&session(&[1; 32], at(30 * MIN)))
        .await
        .unwrap();
    let mut theirs = session(&[2; 32], at(30 * MIN));
    theirs.end_user_id = "u2".into();
    s.insert_connect_session(&theirs).await.unwrap();
    s.insert_oauth_state(&crate::fixtures::state(&[3; 32], at(10 * MIN)))
        .await
        .unwrap();
    assert_eq!(s.delete_flows_of("u1").await.unwrap(), 2);
    assert!(s.get_connect_session(&[1; 32]).await.unwrap().is_none());
    assert!(s.get_connect_session(&[2; 32]).await.unwrap().is_some());
    assert_eq!(s.delete_flows_of("u1").await.unwrap(), 0);
    // The backend's scrub after an erasure works on a live database.
    s.scrub_freed_space().await.unwrap();
}
