//! [`StatusStore`](store::StatusStore): activity counters in buckets, the last `oauth
//! test` of each integration, and the per-integration summaries of `switchboard status`.

use std::sync::Arc;

use store::{
    ConnectionStatus, CounterDelta, CounterSum, Event, Failure, IntegrationQueue, OAuthTestRecord,
    RefreshCommit, Store,
};

use crate::fixtures::{MIN, SEC, T0, at, completed, conn, creds, event, ms, routed};

fn delta(integration: &str, kind: &str, reason: &str, bucket: i64, count: u64) -> CounterDelta {
    CounterDelta {
        integration: integration.to_owned(),
        kind: kind.to_owned(),
        reason: reason.to_owned(),
        bucket: at(bucket),
        count,
    }
}

fn sum(integration: &str, kind: &str, reason: &str, count: u64) -> CounterSum {
    CounterSum {
        integration: integration.to_owned(),
        kind: kind.to_owned(),
        reason: reason.to_owned(),
        count,
    }
}

/// Deltas add to their bucket (a repeated key within one batch too), sums cover the
/// buckets at or after `since`, ordered by integration, kind and reason; pruning removes
/// only the buckets before its bound.
pub async fn counters_add_up_per_bucket_sum_over_a_window_and_prune(s: Arc<dyn Store>) {
    assert!(s.counter_sums(at(0)).await.unwrap().is_empty());
    s.add_counters(&[]).await.unwrap();
    s.add_counters(&[
        delta("gh", "webhook_refused", "bad_signature", 0, 3),
        delta("gh", "webhook_refused", "bad_signature", 0, 2),
        delta("gh", "webhook_received", "", 0, 10),
        delta("gh", "webhook_refused", "stale", 5 * MIN, 1),
        delta("acme", "webhook_received", "", 60 * MIN, 7),
    ])
    .await
    .unwrap();
    s.add_counters(&[delta("gh", "webhook_refused", "bad_signature", 0, 4)])
        .await
        .unwrap();
    assert_eq!(
        s.counter_sums(at(0)).await.unwrap(),
        vec![
            sum("acme", "webhook_received", "", 7),
            sum("gh", "webhook_received", "", 10),
            sum("gh", "webhook_refused", "bad_signature", 9),
            sum("gh", "webhook_refused", "stale", 1),
        ]
    );
    assert_eq!(
        s.counter_sums(at(5 * MIN)).await.unwrap(),
        vec![
            sum("acme", "webhook_received", "", 7),
            sum("gh", "webhook_refused", "stale", 1),
        ],
        "a bucket starting exactly at `since` is in, earlier ones are out"
    );
    assert!(s.counter_sums(at(61 * MIN)).await.unwrap().is_empty());

    assert_eq!(s.prune_counters(at(5 * MIN)).await.unwrap(), 2);
    assert_eq!(
        s.counter_sums(at(0)).await.unwrap(),
        vec![
            sum("acme", "webhook_received", "", 7),
            sum("gh", "webhook_refused", "stale", 1),
        ]
    );
    assert_eq!(s.prune_counters(at(5 * MIN)).await.unwrap(), 0);
}

/// Two handles (two processes) adding to the same buckets at once add up.
pub async fn counters_from_two_handles_add_up(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for (i, s) in [a.clone(), b.clone()]
        .into_iter()
        .cycle()
        .take(20)
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            s.add_counters(&[
                delta("gh", "webhook_refused", "bad_signature", 0, 1),
                delta("gh", "webhook_received", "", (i as i64 % 2) * MIN, 2),
            ])
            .await
            .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        b.counter_sums(at(0)).await.unwrap(),
        vec![
            sum("gh", "webhook_received", "", 40),
            sum("gh", "webhook_refused", "bad_signature", 20),
        ]
    );
}

/// The last `oauth test` of an integration replaces the one before; every integration
/// tested is listed, by id, with its failed checks in order.
pub async fn the_last_oauth_test_replaces_the_one_before(s: Arc<dyn Store>) {
    assert!(s.oauth_tests().await.unwrap().is_empty());
    let failed = OAuthTestRecord {
        integration: "gh".into(),
        ok: false,
        failed_checks: vec!["token endpoint and client".into(), "b check".into()],
        tested_at: at(0),
    };
    s.record_oauth_test(&failed).await.unwrap();
    let other = OAuthTestRecord {
        integration: "acme".into(),
        ok: true,
        failed_checks: vec![],
        tested_at: at(SEC),
    };
    s.record_oauth_test(&other).await.unwrap();
    assert_eq!(
        s.oauth_tests().await.unwrap(),
        vec![other.clone(), failed.clone()]
    );
    let passed = OAuthTestRecord {
        ok: true,
        failed_checks: vec![],
        tested_at: at(MIN),
        ..failed
    };
    s.record_oauth_test(&passed).await.unwrap();
    assert_eq!(s.oauth_tests().await.unwrap(), vec![other, passed]);
}

/// Deliveries are counted under their event's integration: pending, in flight and dead,
/// with the creation time of the oldest waiting one (dead and delivered ones do not
/// make it older); an integration with nothing waiting or dead is left out.
pub async fn integration_queues_count_deliveries_by_their_events_integration(s: Arc<dyn Store>) {
    assert!(s.integration_queues().await.unwrap().is_empty());
    let mut events = Vec::new();
    for (n, integration) in [(1, "gh"), (2, "gh"), (3, "gh"), (4, "acme"), (5, "quiet")] {
        let e = event(n, integration, None);
        s.insert_routed_event(&e, &routed(&e, completed(), &["app"]))
            .await
            .unwrap();
        events.push(e);
    }
    // Claim everything (due at reception), then: gh's first dies, gh's second stays in
    // flight, gh's third goes back to pending, acme's stays in flight, quiet's is
    // delivered.
    let claimed = s
        .claim_deliveries("w", 10, at(SEC), at(MIN), &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 5);
    for c in claimed {
        let n = events.iter().position(|e| e.id == c.event_id).unwrap();
        match n {
            0 => {
                let f = Failure {
                    retry_at: None,
                    status: Some(500),
                    error: "refused".into(),
                };
                assert!(s.fail_delivery(&c.id, c.fence, &f).await.unwrap());
            }
            2 => assert!(s.release_delivery(&c.id, c.fence, at(SEC)).await.unwrap()),
            4 => assert!(
                s.complete_delivery(&c.id, c.fence, 200, at(SEC))
                    .await
                    .unwrap()
            ),
            _ => {}
        }
    }
    assert_eq!(
        s.integration_queues().await.unwrap(),
        vec![
            IntegrationQueue {
                integration: "acme".into(),
                pending: 0,
                in_flight: 1,
                dead: 0,
                oldest_pending: Some(ms(T0 + 4)),
            },
            IntegrationQueue {
                integration: "gh".into(),
                pending: 1,
                in_flight: 1,
                dead: 1,
                oldest_pending: Some(ms(T0 + 2)),
            },
        ]
    );
}

/// The newest event from outside: internal events (`connection.needs_reauth`) are
/// skipped, other integrations' events are not looked at, none reads as `None`.
pub async fn last_external_event_skips_internal_events(s: Arc<dyn Store>) {
    assert_eq!(s.last_external_event("gh").await.unwrap(), None);
    s.insert_event(&event(1, "gh", None)).await.unwrap();
    s.insert_event(&event(2, "gh", None)).await.unwrap();
    s.insert_event(&event(9, "acme", None)).await.unwrap();
    let internal = Event {
        scheme: "internal".into(),
        event_type: Some("connection.needs_reauth".into()),
        ..event(5, "gh", None)
    };
    s.insert_event(&internal).await.unwrap();
    assert_eq!(s.last_external_event("gh").await.unwrap(), Some(ms(T0 + 2)));
    assert_eq!(
        s.last_external_event("acme").await.unwrap(),
        Some(ms(T0 + 9))
    );
    assert_eq!(s.last_external_event("none").await.unwrap(), None);
}

/// Connections whose last refresh failed and that changed since the bound are counted
/// per integration; a success (failures back to 0) or an older failure is not.
pub async fn failing_connections_count_recent_refresh_failures(s: Arc<dyn Store>) {
    for (id, integration) in [("c1", "gh"), ("c2", "gh"), ("c3", "gh"), ("c4", "acme")] {
        s.upsert_connection(&conn(id, integration, id), &creds("k", b"x"))
            .await
            .unwrap();
    }
    assert!(s.failing_connections(at(0)).await.unwrap().is_empty());
    let fail = |failures: u32, when: i64| RefreshCommit {
        credentials: None,
        expires_at: None,
        scopes: vec![],
        status: ConnectionStatus::Active,
        last_error: Some("provider down".into()),
        last_refresh_at: None,
        refresh_failures: failures,
        next_refresh_at: Some(at(when + MIN)),
        at: at(when),
    };
    for (id, failures, when) in [
        ("c1", 2, 10 * MIN),
        ("c2", 1, MIN),
        ("c3", 0, 10 * MIN),
        ("c4", 1, 10 * MIN),
    ] {
        let lease = s
            .acquire_refresh_lease(id, at(when), at(when + MIN))
            .await
            .unwrap()
            .unwrap();
        assert!(
            s.commit_refresh(id, lease.fence, &fail(failures, when))
                .await
                .unwrap()
        );
    }
    assert_eq!(
        s.failing_connections(at(5 * MIN)).await.unwrap(),
        vec![("acme".to_owned(), 1), ("gh".to_owned(), 1)]
    );
    assert_eq!(
        s.failing_connections(at(0)).await.unwrap(),
        vec![("acme".to_owned(), 1), ("gh".to_owned(), 2)]
    );
}
