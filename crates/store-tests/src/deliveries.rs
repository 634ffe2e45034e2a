//! [`DeliveryStore`](store::DeliveryStore): routing (idempotent per event and destination, and only once
//! across routers), exclusive claims across two handles, lease takeover, renewal,
//! fencing, retries and dead deliveries, disabled destinations, replay filters and dry
//! runs, event summaries and queue statistics.

use std::sync::Arc;

use store::{
    Attempt, Claimed, DeliveryFilter, DeliveryStatus, EXCERPT_MAX_BYTES, Event, Failure,
    InsertOutcome, Mapped, NewAttempt, ReplayFilter, ReplayStatus, Routing, Store,
};

use crate::fixtures::{SEC, at};

/// Event `n` of `integration`, received `received` ms after T0.
fn event(n: u32, integration: &str, event_type: &str, received: i64) -> Event {
    Event {
        id: format!("evt_{n:032x}"),
        integration: integration.to_owned(),
        received_at: at(received),
        provider_event_id: Some(format!("p{n}")),
        event_type: Some(event_type.to_owned()),
        scheme: "stripe".to_owned(),
        headers: vec![],
        body: br#"{"a":1}"#.to_vec(),
        connection_id: None,
        routing_key: None,
    }
}

fn mapped(ty: &str) -> Mapped {
    Mapped::Mapped {
        event_type: ty.to_owned(),
        data: r#"{"x":1}"#.to_owned(),
    }
}

fn routing(e: &Event, ty: &str, dests: &[&str]) -> Routing {
    Routing {
        event_id: e.id.clone(),
        mapped: mapped(ty),
        deliveries: dests
            .iter()
            .map(|d| (format!("dlv_{}_{d}", &e.id[4..]), (*d).to_owned()))
            .collect(),
    }
}

/// Stores `n` events of `integration` and routes each to `dests`.
async fn seed(s: &dyn Store, n: u32, integration: &str, dests: &[&str]) -> Vec<Event> {
    let mut out = Vec::new();
    for i in 0..n {
        let e = event(i + 1, integration, "payment_intent.succeeded", i64::from(i));
        assert_eq!(s.insert_event(&e).await.unwrap(), InsertOutcome::Inserted);
        out.push(e);
    }
    let routings: Vec<Routing> = out
        .iter()
        .map(|e| routing(e, "payment.completed", dests))
        .collect();
    s.route_events(&routings, at(0)).await.unwrap();
    out
}

async fn claim(s: &dyn Store, owner: &str, n: u32, now: i64) -> Vec<Claimed> {
    s.claim_deliveries(owner, n, at(now), at(now + 60 * SEC), &[])
        .await
        .unwrap()
}

/// A stored event is unrouted until routed; a second router changes nothing.
pub async fn new_events_are_unrouted_until_routed_once(s: Arc<dyn Store>) {
    let e = event(1, "stripe-main", "payment_intent.succeeded", 0);
    s.insert_event(&e).await.unwrap();
    assert_eq!(s.unrouted_events(10).await.unwrap(), vec![e.clone()]);
    let r = s.event_routing(&e.id).await.unwrap().unwrap();
    assert_eq!((r.mapped, r.routed_at), (None, None));

    let n = s
        .route_events(
            &[routing(&e, "payment.completed", &["app", "audit"])],
            at(5),
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert!(s.unrouted_events(10).await.unwrap().is_empty());
    let r = s.event_routing(&e.id).await.unwrap().unwrap();
    assert_eq!(r.mapped, Some(mapped("payment.completed")));
    assert_eq!(r.routed_at, Some(at(5)));

    // A second router (another process that read the same unrouted event) changes nothing.
    let mut again = routing(&e, "payment.completed", &["app", "audit"]);
    again.deliveries = vec![("dlv_other".into(), "app".into())];
    assert_eq!(s.route_events(&[again], at(6)).await.unwrap(), 0);
    let all = s
        .list_deliveries(&DeliveryFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|d| d.status == DeliveryStatus::Pending
        && d.attempts == 0
        && d.next_attempt_at == at(5)));
    assert_eq!(s.event_routing("evt_nope").await.unwrap(), None);
}

/// A failed mapping is kept with its error and enqueues no delivery.
pub async fn a_failed_mapping_is_kept_with_its_error_and_enqueues_nothing(s: Arc<dyn Store>) {
    let e = event(1, "stripe-main", "payment_intent.succeeded", 0);
    s.insert_event(&e).await.unwrap();
    let failed = Mapped::Failed {
        error: "mappings[0] (jq): cannot index number".into(),
    };
    let n = s
        .route_events(
            &[Routing {
                event_id: e.id.clone(),
                mapped: failed.clone(),
                deliveries: vec![("dlv_x".into(), "app".into())],
            }],
            at(0),
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        s.event_routing(&e.id).await.unwrap().unwrap().mapped,
        Some(failed)
    );
    assert_eq!(s.queue_stats().await.unwrap().depth, 0);
}

/// Two handles claim the same queue at once: every delivery is claimed exactly once.
pub async fn claims_are_exclusive_across_two_handles(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    seed(&*a, 40, "stripe-main", &["app"]).await;

    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        let (x, y) = tokio::join!(claim(&*a, "a", 3, SEC), claim(&*b, "b", 3, SEC));
        got_a.extend(x);
        got_b.extend(y);
    }
    let mut ids: Vec<String> = got_a.iter().chain(&got_b).map(|c| c.id.clone()).collect();
    assert_eq!(ids.len(), 40, "every delivery claimed");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "no delivery claimed twice");
    assert!(!got_a.is_empty() && !got_b.is_empty());
    let c = &got_a[0];
    assert_eq!(
        (c.attempts, c.event_type.as_str()),
        (1, "payment.completed")
    );
    assert_eq!(c.data, r#"{"x":1}"#);
    assert_eq!(c.integration, "stripe-main");
    let d = a.get_delivery(&c.id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::InFlight);
    assert_eq!(d.lease_owner.as_deref(), Some("a"));
    assert_eq!(d.lease_until, Some(at(61 * SEC)));
    // Nothing is left to claim while the leases hold.
    assert!(claim(&*b, "b", 10, 30 * SEC).await.is_empty());
}

/// Renewal extends a claim; an expired one is taken over with a new attempt and fence,
/// and the old holder can no longer complete, fail, renew or release.
pub async fn an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_off(s: Arc<dyn Store>) {
    seed(&*s, 1, "stripe-main", &["app"]).await;
    let first = claim(&*s, "a", 1, 0).await.remove(0);
    // Renewal extends the lease: at 61 s it still holds.
    assert!(
        s.renew_lease(&first.id, first.fence, at(120 * SEC))
            .await
            .unwrap()
    );
    assert!(claim(&*s, "b", 1, 61 * SEC).await.is_empty());
    // Past it, another worker takes it over: a new attempt, a new fence.
    let second = claim(&*s, "b", 1, 121 * SEC).await.remove(0);
    assert_eq!(second.id, first.id);
    assert_eq!(second.attempts, 2);
    assert!(second.fence > first.fence);
    // The first holder can neither complete, fail, renew nor release any more.
    assert!(
        !s.complete_delivery(&first.id, first.fence, 200, at(122 * SEC))
            .await
            .unwrap()
    );
    let fail = Failure {
        retry_at: None,
        status: Some(500),
        error: "x".into(),
    };
    assert!(
        !s.fail_delivery(&first.id, first.fence, &fail)
            .await
            .unwrap()
    );
    assert!(
        !s.renew_lease(&first.id, first.fence, at(999 * SEC))
            .await
            .unwrap()
    );
    assert!(
        !s.release_delivery(&first.id, first.fence, at(0))
            .await
            .unwrap()
    );
    // The current holder completes.
    assert!(
        s.complete_delivery(&second.id, second.fence, 204, at(123 * SEC))
            .await
            .unwrap()
    );
    let d = s.get_delivery(&first.id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert_eq!(d.last_status, Some(204));
    assert_eq!(d.delivered_at, Some(at(123 * SEC)));
    assert_eq!((d.lease_owner, d.lease_until), (None, None));
    // A completed delivery cannot be completed again, even with its fence.
    assert!(
        !s.complete_delivery(&second.id, second.fence, 200, at(124 * SEC))
            .await
            .unwrap()
    );
}

/// A failure retries at the given time or makes the delivery dead; a release gives the
/// attempt back.
pub async fn failures_retry_at_the_given_time_then_die_and_release_gives_the_attempt_back(
    s: Arc<dyn Store>,
) {
    seed(&*s, 1, "stripe-main", &["app"]).await;
    let c = claim(&*s, "w", 1, 0).await.remove(0);
    let retry = Failure {
        retry_at: Some(at(5 * SEC)),
        status: Some(503),
        error: "HTTP 503".into(),
    };
    assert!(s.fail_delivery(&c.id, c.fence, &retry).await.unwrap());
    let d = s.get_delivery(&c.id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Pending);
    assert_eq!((d.attempts, d.last_status), (1, Some(503)));
    assert_eq!(d.next_attempt_at, at(5 * SEC));
    assert_eq!(s.next_due().await.unwrap(), Some(at(5 * SEC)));
    assert!(claim(&*s, "w", 1, 4 * SEC).await.is_empty(), "not due yet");

    let c = claim(&*s, "w", 1, 5 * SEC).await.remove(0);
    assert_eq!(c.attempts, 2);
    assert!(
        s.release_delivery(&c.id, c.fence, at(6 * SEC))
            .await
            .unwrap()
    );
    let d = s.get_delivery(&c.id).await.unwrap().unwrap();
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Pending, 1));

    let c = claim(&*s, "w", 1, 6 * SEC).await.remove(0);
    let dead = Failure {
        retry_at: None,
        status: None,
        error: "timed out after 15 s".into(),
    };
    assert!(s.fail_delivery(&c.id, c.fence, &dead).await.unwrap());
    let d = s.get_delivery(&c.id).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Dead);
    assert_eq!(d.last_error.as_deref(), Some("timed out after 15 s"));
    let stats = s.queue_stats().await.unwrap();
    assert_eq!((stats.depth, stats.dead), (0, 1));
    assert_eq!(s.next_due().await.unwrap(), None);
}

fn attempt(
    started: i64,
    ms: u64,
    status: Option<u16>,
    outcome: &str,
    excerpt: Option<&str>,
) -> NewAttempt {
    NewAttempt {
        started_at: at(started),
        duration_ms: ms,
        status,
        outcome: outcome.to_owned(),
        excerpt: excerpt.map(str::to_owned),
    }
}

/// Every attempt is recorded with the delivery's new state: numbered per delivery (on
/// across replays), listed per event, the excerpt cut to 1 KiB at a character boundary;
/// a fenced-off worker records nothing, and the plain calls record no attempt.
pub async fn attempts_are_recorded_with_the_outcome_and_listed_per_event(s: Arc<dyn Store>) {
    let events = seed(&*s, 2, "stripe-main", &["app", "audit"]).await;
    let e = &events[0];
    let app = format!("dlv_{}_app", &e.id[4..]);
    let audit = format!("dlv_{}_audit", &e.id[4..]);
    let retry = Failure {
        retry_at: Some(at(5 * SEC)),
        status: Some(503),
        error: "HTTP 503".into(),
    };
    let claimed = claim(&*s, "w", 10, 0).await;
    let c = claimed.iter().find(|c| c.id == app).unwrap();
    let long = format!("a{}", "é".repeat(EXCERPT_MAX_BYTES));
    assert!(
        s.fail_attempt(
            &c.id,
            c.fence,
            &retry,
            &attempt(0, 120, Some(503), "http_error", Some(&long))
        )
        .await
        .unwrap()
    );
    // A stale fence writes neither the delivery nor an attempt.
    assert!(
        !s.fail_attempt(
            &c.id,
            c.fence,
            &retry,
            &attempt(0, 1, None, "network", None)
        )
        .await
        .unwrap()
    );
    let a = claimed.iter().find(|c| c.id == audit).unwrap();
    let dead = Failure {
        retry_at: None,
        status: None,
        error: "connection refused".into(),
    };
    assert!(
        s.fail_attempt(
            &a.id,
            a.fence,
            &dead,
            &attempt(10, 3, None, "network", None)
        )
        .await
        .unwrap()
    );
    // The other event's deliveries: without an attempt (the plain calls).
    for c in claimed.iter().filter(|c| c.event_id != e.id) {
        assert!(
            s.complete_delivery(&c.id, c.fence, 200, at(0))
                .await
                .unwrap()
        );
    }
    let c = claim(&*s, "w", 10, 5 * SEC).await.remove(0);
    assert_eq!(c.id, app);
    assert!(
        s.complete_attempt(
            &c.id,
            c.fence,
            200,
            at(5 * SEC),
            &attempt(5 * SEC, 40, Some(200), "delivered", Some("ok"))
        )
        .await
        .unwrap()
    );
    let d = s.get_delivery(&app).await.unwrap().unwrap();
    assert_eq!(
        (d.status, d.last_status),
        (DeliveryStatus::Delivered, Some(200))
    );

    let got = s.list_attempts(&e.id, 100).await.unwrap();
    let cut = &long[..EXCERPT_MAX_BYTES - 1];
    assert_eq!(cut.len() % 2, 1, "a then whole two-byte characters");
    assert_eq!(
        got,
        vec![
            Attempt {
                delivery_id: app.clone(),
                number: 1,
                started_at: at(0),
                duration_ms: 120,
                status: Some(503),
                outcome: "http_error".into(),
                excerpt: Some(cut.to_owned()),
            },
            Attempt {
                delivery_id: app.clone(),
                number: 2,
                started_at: at(5 * SEC),
                duration_ms: 40,
                status: Some(200),
                outcome: "delivered".into(),
                excerpt: Some("ok".into()),
            },
            Attempt {
                delivery_id: audit.clone(),
                number: 1,
                started_at: at(10),
                duration_ms: 3,
                status: None,
                outcome: "network".into(),
                excerpt: None,
            },
        ]
    );
    assert_eq!(s.list_attempts(&e.id, 1).await.unwrap(), got[..1]);
    assert!(
        s.list_attempts(&events[1].id, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // A replay gives fresh attempts; the recorded ones go on counting.
    let f = ReplayFilter {
        event_id: Some(e.id.clone()),
        ..Default::default()
    };
    s.replay(&f, false, at(6 * SEC)).await.unwrap();
    s.route_events(
        &[routing(e, "payment.completed", &["app", "audit"])],
        at(6 * SEC),
    )
    .await
    .unwrap();
    let again = claim(&*s, "w", 10, 6 * SEC).await;
    let c = again.iter().find(|c| c.id == app).unwrap();
    assert_eq!(c.attempts, 1);
    assert!(
        s.complete_attempt(
            &c.id,
            c.fence,
            200,
            at(6 * SEC),
            &attempt(6 * SEC, 7, Some(204), "delivered", None)
        )
        .await
        .unwrap()
    );
    let got = s.list_attempts(&e.id, 100).await.unwrap();
    assert_eq!(
        got.iter()
            .filter(|a| a.delivery_id == app)
            .map(|a| a.number)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

/// Disabled destinations and those a worker skips are not claimed.
pub async fn disabled_and_skipped_destinations_are_not_claimed(s: Arc<dyn Store>) {
    seed(&*s, 2, "stripe-main", &["app", "audit"]).await;
    assert!(
        s.set_destination_disabled("app", true, Some("410 Gone"), at(0))
            .await
            .unwrap()
    );
    assert!(
        !s.set_destination_disabled("app", true, Some("410 Gone"), at(0))
            .await
            .unwrap(),
        "no change"
    );
    assert_eq!(
        s.disabled_destinations().await.unwrap(),
        [("app".to_owned(), Some("410 Gone".to_owned()))]
    );
    let got = claim(&*s, "w", 10, 0).await;
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|c| c.destination == "audit"));
    for c in &got {
        s.release_delivery(&c.id, c.fence, at(0)).await.unwrap();
    }
    let skipped = s
        .claim_deliveries("w", 10, at(0), at(SEC), &["audit".to_owned()])
        .await
        .unwrap();
    assert!(skipped.is_empty());
    assert!(
        s.set_destination_disabled("app", false, None, at(1))
            .await
            .unwrap()
    );
    assert_eq!(claim(&*s, "w", 10, 0).await.len(), 4);
}

/// Queue statistics count depth, in-flight, unrouted and the oldest waiting delivery.
pub async fn queue_stats_count_depth_and_age(s: Arc<dyn Store>) {
    let empty = s.queue_stats().await.unwrap();
    assert_eq!((empty.depth, empty.oldest_pending), (0, None));
    let e = event(9, "stripe-main", "t", 0);
    s.insert_event(&e).await.unwrap();
    assert_eq!(s.queue_stats().await.unwrap().unrouted, 1);
    s.route_events(&[routing(&e, "x", &["app", "b"])], at(7))
        .await
        .unwrap();
    claim(&*s, "w", 1, 7).await;
    let st = s.queue_stats().await.unwrap();
    assert_eq!((st.depth, st.in_flight, st.unrouted), (2, 1, 0));
    assert_eq!(st.oldest_pending, Some(at(7)));
}

/// Dead deliveries for `events` (claimed and failed for good).
async fn kill_all(s: &dyn Store) {
    for c in claim(s, "w", 100, 0).await {
        let f = Failure {
            retry_at: None,
            status: Some(500),
            error: "HTTP 500".into(),
        };
        assert!(s.fail_delivery(&c.id, c.fence, &f).await.unwrap());
    }
}

/// Replay filters (event, integration, destination, status, type, time) count in a dry
/// run and requeue for real, unrouting the events they take.
pub async fn replay_filters_count_in_a_dry_run_and_requeue_for_real(s: Arc<dyn Store>) {
    let stripe = seed(&*s, 3, "stripe-main", &["app", "audit"]).await;
    let mut github = Vec::new();
    for i in 0..2 {
        let e = event(100 + i, "github-main", "member", 10 * SEC + i64::from(i));
        s.insert_event(&e).await.unwrap();
        github.push(e);
    }
    s.route_events(
        &github
            .iter()
            .map(|e| routing(e, "user.created", &["app"]))
            .collect::<Vec<_>>(),
        at(0),
    )
    .await
    .unwrap();
    kill_all(&*s).await;
    // Deliver one: it is not dead any more.
    let one = &stripe[0];
    let dlv = format!("dlv_{}_app", &one.id[4..]);
    let revived = s
        .replay(
            &ReplayFilter {
                event_id: Some(one.id.clone()),
                destination: Some("app".into()),
                ..Default::default()
            },
            false,
            at(0),
        )
        .await
        .unwrap();
    assert_eq!((revived.events, revived.deliveries), (1, 1));
    let c = claim(&*s, "w", 10, 0).await;
    // The event is unrouted until mapped again: nothing is claimable yet.
    assert!(c.is_empty());
    s.route_events(
        &[routing(one, "payment.completed", &["app", "audit"])],
        at(1),
    )
    .await
    .unwrap();
    let c = claim(&*s, "w", 10, 1).await;
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].id.as_str(), c[0].attempts), (dlv.as_str(), 1));
    s.complete_delivery(&c[0].id, c[0].fence, 200, at(2))
        .await
        .unwrap();

    let count = |f: ReplayFilter| {
        let s = s.clone();
        async move { s.replay(&f, true, at(3)).await.unwrap() }
    };
    // 3 stripe events × 2 destinations + 2 github × 1; one delivered.
    let all = count(ReplayFilter::default()).await;
    assert_eq!((all.events, all.deliveries), (5, 8));
    let dead = count(ReplayFilter {
        status: Some(ReplayStatus::Dead),
        ..Default::default()
    })
    .await;
    assert_eq!((dead.events, dead.deliveries), (5, 7));
    let dead_app = count(ReplayFilter {
        status: Some(ReplayStatus::Dead),
        destination: Some("app".into()),
        ..Default::default()
    })
    .await;
    assert_eq!((dead_app.events, dead_app.deliveries), (4, 4));
    let by_integration = count(ReplayFilter {
        integration: Some("github-main".into()),
        ..Default::default()
    })
    .await;
    assert_eq!((by_integration.events, by_integration.deliveries), (2, 2));
    let by_mapped_type = count(ReplayFilter {
        event_type: Some("user.created".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_mapped_type.events, 2);
    let by_provider_type = count(ReplayFilter {
        event_type: Some("payment_intent.succeeded".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_provider_type.events, 3);
    let by_time = count(ReplayFilter {
        since: Some(at(10 * SEC)),
        until: Some(at(10 * SEC + 1)),
        ..Default::default()
    })
    .await;
    assert_eq!((by_time.events, by_time.deliveries), (1, 1));
    let delivered = count(ReplayFilter {
        status: Some(ReplayStatus::Delivered),
        ..Default::default()
    })
    .await;
    assert_eq!((delivered.events, delivered.deliveries), (1, 1));

    // A dry run changed nothing.
    let st = s.queue_stats().await.unwrap();
    assert_eq!((st.depth, st.dead, st.unrouted), (0, 7, 0));

    // For real: the dead app deliveries of github events come back with fresh attempts.
    let done = s
        .replay(
            &ReplayFilter {
                integration: Some("github-main".into()),
                status: Some(ReplayStatus::Dead),
                ..Default::default()
            },
            false,
            at(4),
        )
        .await
        .unwrap();
    assert_eq!((done.events, done.deliveries), (2, 2));
    let st = s.queue_stats().await.unwrap();
    assert_eq!((st.depth, st.dead, st.unrouted), (2, 5, 2));
    let d = s
        .list_deliveries(
            &DeliveryFilter {
                event_id: Some(github[0].id.clone()),
                ..Default::default()
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!((d[0].status, d[0].attempts), (DeliveryStatus::Pending, 0));
    assert_eq!(d[0].next_attempt_at, at(4));
}

/// Replaying events whose mapping failed routes them again.
pub async fn replay_of_mapping_failed_events_routes_them_again(s: Arc<dyn Store>) {
    let good = seed(&*s, 1, "stripe-main", &["app"]).await;
    let bad = event(50, "stripe-main", "charge.failed", 0);
    s.insert_event(&bad).await.unwrap();
    s.route_events(
        &[Routing {
            event_id: bad.id.clone(),
            mapped: Mapped::Failed {
                error: "boom".into(),
            },
            deliveries: vec![],
        }],
        at(0),
    )
    .await
    .unwrap();
    let f = ReplayFilter {
        status: Some(ReplayStatus::MappingFailed),
        ..Default::default()
    };
    let dry = s.replay(&f, true, at(1)).await.unwrap();
    assert_eq!((dry.events, dry.deliveries), (1, 0));
    s.replay(&f, false, at(1)).await.unwrap();
    let unrouted = s.unrouted_events(10).await.unwrap();
    assert_eq!(unrouted.len(), 1);
    assert_eq!(unrouted[0].id, bad.id);
    // Fixed mapping: routed again, delivered like any event.
    s.route_events(&[routing(&bad, "charge.failed", &["app"])], at(2))
        .await
        .unwrap();
    let got = claim(&*s, "w", 10, 2).await;
    assert_eq!(got.len(), 2);
    assert!(got.iter().any(|c| c.event_id == bad.id));
    assert!(got.iter().any(|c| c.event_id == good[0].id));
}

/// A replayed event whose mapping now fails kills its pending deliveries.
pub async fn a_remap_that_now_fails_kills_the_pending_deliveries(s: Arc<dyn Store>) {
    let e = seed(&*s, 1, "stripe-main", &["app"]).await.remove(0);
    s.replay(&ReplayFilter::default(), false, at(1))
        .await
        .unwrap();
    s.route_events(
        &[Routing {
            event_id: e.id.clone(),
            mapped: Mapped::Failed {
                error: "mappings[0]: bad".into(),
            },
            deliveries: vec![],
        }],
        at(2),
    )
    .await
    .unwrap();
    let d = s
        .list_deliveries(&DeliveryFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(d[0].status, DeliveryStatus::Dead);
    assert!(
        d[0].last_error
            .as_deref()
            .unwrap()
            .contains("mappings[0]: bad")
    );
    assert!(claim(&*s, "w", 10, 3).await.is_empty());
}

/// A replay leaves in-flight deliveries to their worker.
pub async fn a_replay_leaves_in_flight_deliveries_to_their_worker(s: Arc<dyn Store>) {
    seed(&*s, 1, "stripe-main", &["app"]).await;
    let c = claim(&*s, "w", 1, 0).await.remove(0);
    let r = s
        .replay(&ReplayFilter::default(), false, at(1))
        .await
        .unwrap();
    assert_eq!((r.events, r.deliveries), (1, 0));
    assert!(
        s.complete_delivery(&c.id, c.fence, 200, at(2))
            .await
            .unwrap()
    );
}

/// Event summaries carry mapping and delivery counts, filter by status, integration and
/// type, and page by id.
pub async fn event_summaries_carry_mapping_and_delivery_counts_and_filter(s: Arc<dyn Store>) {
    use store::deliveries::{DeliveryCounts, EventListFilter, EventStatus};
    // e1..e3 routed to app and audit; e4 failed; e5 dropped; e6 unrouted (other integration).
    let ev = seed(&*s, 3, "stripe-main", &["app", "audit"]).await;
    let e4 = event(4, "stripe-main", "charge.failed", 10);
    let e5 = event(5, "stripe-main", "ping", 11);
    let e6 = event(6, "github-main", "push", 12);
    for e in [&e4, &e5, &e6] {
        s.insert_event(e).await.unwrap();
    }
    let failed = Routing {
        event_id: e4.id.clone(),
        mapped: Mapped::Failed {
            error: "mappings[0] (jq): boom".into(),
        },
        deliveries: vec![],
    };
    let dropped = Routing {
        event_id: e5.id.clone(),
        mapped: Mapped::Dropped,
        deliveries: vec![],
    };
    s.route_events(&[failed, dropped], at(20)).await.unwrap();
    // e1: both delivered; e2: app dead, audit pending; e3: both pending.
    for c in claim(&*s, "w", 10, 100).await {
        if c.event_id == ev[0].id {
            s.complete_delivery(&c.id, c.fence, 200, at(101))
                .await
                .unwrap();
        } else if c.event_id == ev[1].id && c.destination == "app" {
            let f = Failure {
                retry_at: None,
                status: Some(500),
                error: "HTTP 500".into(),
            };
            s.fail_delivery(&c.id, c.fence, &f).await.unwrap();
        } else {
            s.release_delivery(&c.id, c.fence, at(100)).await.unwrap();
        }
    }
    let list = |status: Option<EventStatus>, integration: Option<&str>, ty: Option<&str>| {
        let s = &s;
        let f = EventListFilter {
            integration: integration.map(str::to_owned),
            status,
            event_type: ty.map(str::to_owned),
            ..Default::default()
        };
        async move { s.list_event_summaries(&f, 100).await.unwrap() }
    };
    let all = list(None, None, None).await;
    let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [&e6.id, &e5.id, &e4.id, &ev[2].id, &ev[1].id, &ev[0].id]
    );
    let by = |id: &str| all.iter().find(|e| e.id == id).unwrap().clone();
    let s1 = by(&ev[0].id);
    assert_eq!(s1.integration, "stripe-main");
    assert_eq!(s1.body_bytes, 7);
    assert_eq!(s1.provider_event_id.as_deref(), Some("p1"));
    assert_eq!(s1.routed_at, Some(at(0)));
    let m = s1.mapping.unwrap();
    assert_eq!(
        (m.status.as_str(), m.event_type.as_deref(), m.error),
        ("mapped", Some("payment.completed"), None)
    );
    assert_eq!(
        s1.deliveries,
        DeliveryCounts {
            delivered: 2,
            ..Default::default()
        }
    );
    assert_eq!(
        by(&ev[1].id).deliveries,
        DeliveryCounts {
            pending: 1,
            dead: 1,
            ..Default::default()
        }
    );
    let m4 = by(&e4.id).mapping.unwrap();
    assert_eq!(
        (m4.status.as_str(), m4.event_type, m4.error.as_deref()),
        ("failed", None, Some("mappings[0] (jq): boom"))
    );
    assert_eq!(by(&e5.id).mapping.unwrap().status, "dropped");
    assert_eq!(by(&e6.id).mapping, None);

    let ids = |v: Vec<store::deliveries::EventSummary>| -> Vec<String> {
        v.into_iter().map(|e| e.id).collect()
    };
    assert_eq!(
        ids(list(Some(EventStatus::Unrouted), None, None).await),
        [e6.id.as_str()]
    );
    assert_eq!(
        ids(list(Some(EventStatus::MappingFailed), None, None).await),
        [e4.id.as_str()]
    );
    assert_eq!(
        ids(list(Some(EventStatus::Dropped), None, None).await),
        [e5.id.as_str()]
    );
    assert_eq!(list(Some(EventStatus::Mapped), None, None).await.len(), 3);
    assert_eq!(
        ids(list(Some(EventStatus::Dead), None, None).await),
        [ev[1].id.as_str()]
    );
    assert_eq!(
        ids(list(Some(EventStatus::Delivered), None, None).await),
        [ev[0].id.as_str()]
    );
    assert_eq!(
        ids(list(Some(EventStatus::Pending), None, None).await),
        [ev[2].id.as_str(), ev[1].id.as_str()]
    );
    assert!(
        list(Some(EventStatus::InFlight), None, None)
            .await
            .is_empty()
    );
    assert_eq!(
        ids(list(None, Some("github-main"), None).await),
        [e6.id.as_str()]
    );
    // Type: the mapped type or the provider's.
    assert_eq!(list(None, None, Some("payment.completed")).await.len(), 3);
    assert_eq!(
        list(None, None, Some("payment_intent.succeeded"))
            .await
            .len(),
        3
    );
    assert_eq!(ids(list(None, None, Some("push")).await), [e6.id.as_str()]);
    assert!(
        list(Some(EventStatus::Dead), Some("github-main"), None)
            .await
            .is_empty()
    );
    // A replayed event is unrouted: its old mapping is not shown.
    s.replay(
        &ReplayFilter {
            event_id: Some(ev[0].id.clone()),
            ..Default::default()
        },
        false,
        at(200),
    )
    .await
    .unwrap();
    let again = list(Some(EventStatus::Unrouted), None, None).await;
    assert_eq!(again.len(), 2);
    assert!(
        again
            .iter()
            .all(|e| e.mapping.is_none() && e.routed_at.is_none())
    );
    // Paging by id.
    let f = EventListFilter {
        before: Some(ev[2].id.clone()),
        ..Default::default()
    };
    assert_eq!(
        ids(s.list_event_summaries(&f, 1).await.unwrap()),
        [ev[1].id.as_str()]
    );
}

/// Per-destination counts group waiting, in-flight and dead deliveries.
pub async fn destination_queue_counts_group_waiting_and_dead_deliveries(s: Arc<dyn Store>) {
    use store::deliveries::DeliveryCounts;
    assert!(s.destination_queue_counts().await.unwrap().is_empty());
    let ev = seed(&*s, 3, "stripe-main", &["app", "audit"]).await;
    for c in claim(&*s, "w", 10, 100).await {
        match (c.event_id == ev[0].id, c.destination.as_str()) {
            (true, _) => {
                s.complete_delivery(&c.id, c.fence, 200, at(101))
                    .await
                    .unwrap();
            }
            (false, "app") if c.event_id == ev[1].id => {
                let f = Failure {
                    retry_at: None,
                    status: None,
                    error: "refused".into(),
                };
                s.fail_delivery(&c.id, c.fence, &f).await.unwrap();
            }
            (false, "app") => {}
            _ => {
                s.release_delivery(&c.id, c.fence, at(100)).await.unwrap();
            }
        }
    }
    assert_eq!(
        s.destination_queue_counts().await.unwrap(),
        vec![
            (
                "app".to_owned(),
                DeliveryCounts {
                    in_flight: 1,
                    dead: 1,
                    ..Default::default()
                }
            ),
            (
                "audit".to_owned(),
                DeliveryCounts {
                    pending: 2,
                    ..Default::default()
                }
            ),
        ]
    );
}

/// Event summaries also narrow by a delivery state (with a mapping state), by origin
/// (internal or received) and by received time.
pub async fn event_summaries_filter_by_delivery_origin_and_time(s: Arc<dyn Store>) {
    use store::deliveries::{EventListFilter, EventStatus};
    // e1..e3 received at 0, 1, 2 ms and routed to app; e4 internal, received at 3.
    let ev = seed(&*s, 3, "stripe-main", &["app"]).await;
    let mut e4 = event(4, "stripe-main", "connection.needs_reauth", 3);
    e4.scheme = "internal".into();
    s.insert_event(&e4).await.unwrap();
    // e1 delivered, e2 dead, e3 pending.
    for c in claim(&*s, "w", 10, 100).await {
        if c.event_id == ev[0].id {
            s.complete_delivery(&c.id, c.fence, 200, at(101))
                .await
                .unwrap();
        } else if c.event_id == ev[1].id {
            let f = Failure {
                retry_at: None,
                status: Some(500),
                error: "HTTP 500".into(),
            };
            s.fail_delivery(&c.id, c.fence, &f).await.unwrap();
        } else {
            s.release_delivery(&c.id, c.fence, at(100)).await.unwrap();
        }
    }
    let list = |f: EventListFilter| {
        let s = &s;
        async move {
            s.list_event_summaries(&f, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(EventListFilter {
            delivery: Some(DeliveryStatus::Dead),
            ..Default::default()
        })
        .await,
        [ev[1].id.clone()]
    );
    // A mapping state and a delivery state together.
    assert_eq!(
        list(EventListFilter {
            status: Some(EventStatus::Mapped),
            delivery: Some(DeliveryStatus::Delivered),
            ..Default::default()
        })
        .await,
        [ev[0].id.clone()]
    );
    assert!(
        list(EventListFilter {
            status: Some(EventStatus::Unrouted),
            delivery: Some(DeliveryStatus::Delivered),
            ..Default::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        list(EventListFilter {
            internal: Some(true),
            ..Default::default()
        })
        .await,
        [e4.id.clone()]
    );
    assert_eq!(
        list(EventListFilter {
            internal: Some(false),
            ..Default::default()
        })
        .await,
        [ev[2].id.clone(), ev[1].id.clone(), ev[0].id.clone()]
    );
    // since is inclusive, until exclusive.
    assert_eq!(
        list(EventListFilter {
            since: Some(at(1)),
            until: Some(at(3)),
            ..Default::default()
        })
        .await,
        [ev[2].id.clone(), ev[1].id.clone()]
    );
    assert!(
        list(EventListFilter {
            since: Some(at(4)),
            ..Default::default()
        })
        .await
        .is_empty()
    );
}

/// A connection's events, newest first, with the other filters and the cursor; events of
/// other connections or of none are not among them.
pub async fn event_summaries_of_one_connection(s: Arc<dyn Store>) {
    use store::deliveries::EventListFilter;
    for (n, conn) in [
        (1, Some("conn_a")),
        (2, Some("conn_b")),
        (3, None),
        (4, Some("conn_a")),
        (5, Some("conn_a")),
    ] {
        let mut e = event(n, "stripe-main", "customer.updated", i64::from(n));
        e.connection_id = conn.map(str::to_owned);
        assert_eq!(s.insert_event(&e).await.unwrap(), InsertOutcome::Inserted);
    }
    let ids = |f: EventListFilter, limit: u32| {
        let s = &s;
        async move {
            s.list_event_summaries(&f, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|e| {
                    assert_eq!(e.connection_id.as_deref(), Some("conn_a"));
                    e.id
                })
                .collect::<Vec<_>>()
        }
    };
    let of = |c: &str| EventListFilter {
        connection_id: Some(c.to_owned()),
        ..Default::default()
    };
    let id = |n: u32| format!("evt_{n:032x}");
    assert_eq!(ids(of("conn_a"), 10).await, [id(5), id(4), id(1)]);
    assert_eq!(ids(of("conn_a"), 2).await, [id(5), id(4)]);
    assert_eq!(
        ids(
            EventListFilter {
                before: Some(id(4)),
                ..of("conn_a")
            },
            10
        )
        .await,
        [id(1)]
    );
    assert!(
        ids(
            EventListFilter {
                integration: Some("other".into()),
                ..of("conn_a")
            },
            10
        )
        .await
        .is_empty()
    );
    assert!(ids(of("conn_none"), 10).await.is_empty());
}

/// Deliveries page by id, newest first, from a cursor.
pub async fn deliveries_page_by_id_before_a_cursor(s: Arc<dyn Store>) {
    seed(&*s, 3, "stripe-main", &["app"]).await;
    let page = |before: Option<String>| {
        let s = &s;
        async move {
            let f = DeliveryFilter {
                destination: Some("app".into()),
                before,
                ..Default::default()
            };
            s.list_deliveries(&f, 2)
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.id)
                .collect::<Vec<_>>()
        }
    };
    let first = page(None).await;
    assert_eq!(first.len(), 2);
    assert!(first[0] > first[1]);
    let second = page(first.last().cloned()).await;
    assert_eq!(second.len(), 1);
    assert!(second[0] < first[1]);
    assert!(page(second.last().cloned()).await.is_empty());
}

/// A replay's progress counts the deliveries it touched by state, and not the ones it
/// left alone.
pub async fn replay_progress_counts_the_deliveries_a_replay_touched(s: Arc<dyn Store>) {
    use store::deliveries::DeliveryCounts;
    // e1, e2 to app and audit: app dead for both, audit delivered for both.
    let ev = seed(&*s, 2, "stripe-main", &["app", "audit"]).await;
    for c in claim(&*s, "w", 10, 100).await {
        if c.destination == "app" {
            let f = Failure {
                retry_at: None,
                status: Some(500),
                error: "HTTP 500".into(),
            };
            s.fail_delivery(&c.id, c.fence, &f).await.unwrap();
        } else {
            s.complete_delivery(&c.id, c.fence, 200, at(101))
                .await
                .unwrap();
        }
    }
    let filter = ReplayFilter {
        integration: Some("stripe-main".into()),
        status: Some(ReplayStatus::Dead),
        ..Default::default()
    };
    assert_eq!(
        s.replay_progress(&filter, at(200)).await.unwrap(),
        DeliveryCounts::default(),
        "nothing replayed yet"
    );
    let r = s.replay(&filter, false, at(200)).await.unwrap();
    assert_eq!((r.events, r.deliveries), (2, 2));
    assert_eq!(
        s.replay_progress(&filter, at(200)).await.unwrap(),
        DeliveryCounts {
            pending: 2,
            ..Default::default()
        },
        "the two requeued app deliveries, not the delivered audit ones"
    );
    // Routed again; one delivered, one dead again.
    let routings: Vec<Routing> = ev
        .iter()
        .map(|e| routing(e, "payment.completed", &["app", "audit"]))
        .collect();
    s.route_events(&routings, at(201)).await.unwrap();
    let mut first = true;
    for c in claim(&*s, "w", 10, 300).await {
        if first {
            s.complete_delivery(&c.id, c.fence, 200, at(301))
                .await
                .unwrap();
            first = false;
        } else {
            let f = Failure {
                retry_at: None,
                status: Some(500),
                error: "HTTP 500".into(),
            };
            s.fail_delivery(&c.id, c.fence, &f).await.unwrap();
        }
    }
    assert_eq!(
        s.replay_progress(&filter, at(200)).await.unwrap(),
        DeliveryCounts {
            delivered: 1,
            dead: 1,
            ..Default::default()
        }
    );
    // Narrowed to one event.
    let one = ReplayFilter {
        event_id: Some(ev[0].id.clone()),
        ..Default::default()
    };
    let c = s.replay_progress(&one, at(200)).await.unwrap();
    assert_eq!(c.delivered + c.dead, 1);
    // A later replay time sees none of it.
    assert_eq!(
        s.replay_progress(&filter, at(10_000)).await.unwrap(),
        DeliveryCounts::default()
    );
}
