//! [`InstanceStore`](store::InstanceStore): heartbeats of the instances sharing a
//! database, their liveness window, removal of the dead and graceful leaving.

use std::collections::BTreeMap;
use std::sync::Arc;

use store::{InstanceBeat, LiveInstance, Store};

use crate::fixtures::at;

/// A beat of `id` at `t` ms after T0, live for `ttl` ms, with `demand`.
fn beat(id: &str, started: i64, t: i64, ttl: i64, demand: &[(&str, f64)]) -> InstanceBeat {
    InstanceBeat {
        id: id.to_owned(),
        started_at: at(started),
        at: at(t),
        expires_at: at(t + ttl),
        demand: demand.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
    }
}

fn ids(live: &[LiveInstance]) -> Vec<&str> {
    live.iter().map(|i| i.id.as_str()).collect()
}

/// A beat registers the instance and reads back every live one (itself included, by
/// id) with its times and demand; a later beat replaces time and demand and keeps
/// `started_at`.
pub async fn a_beat_registers_and_reads_back_the_live_instances(s: Arc<dyn Store>) {
    let live = s
        .beat_instance(&beat("b", 0, 0, 3000, &[("integration:gh", 12.5)]))
        .await
        .unwrap();
    assert_eq!(ids(&live), ["b"]);
    assert_eq!(live[0].started_at, at(0));
    assert_eq!(live[0].last_seen, at(0));
    assert_eq!(live[0].expires_at, at(3000));
    assert_eq!(live[0].demand["integration:gh"], 12.5);

    let live = s
        .beat_instance(&beat("a", 500, 500, 3000, &[("destination:app", 0.25)]))
        .await
        .unwrap();
    assert_eq!(ids(&live), ["a", "b"], "ordered by id, the caller included");
    assert_eq!(live[1].demand["integration:gh"], 12.5);
    assert_eq!(live[0].demand["destination:app"], 0.25);

    // b beats again: new time, new demand (the old key gone), same start.
    let live = s
        .beat_instance(&beat("b", 999_999, 1000, 3000, &[]))
        .await
        .unwrap();
    let b = live.iter().find(|i| i.id == "b").unwrap();
    assert_eq!(
        b.started_at,
        at(0),
        "started_at is kept from the first beat"
    );
    assert_eq!(b.last_seen, at(1000));
    assert_eq!(b.expires_at, at(4000));
    assert_eq!(b.demand, BTreeMap::new());
    assert_eq!(ids(&live), ["a", "b"]);
}

/// An instance is live until its `expires_at` (exclusive): a beat of another at that
/// time or later no longer returns it and removes its row.
pub async fn an_instance_is_live_until_it_expires_then_its_row_is_removed(s: Arc<dyn Store>) {
    s.beat_instance(&beat("a", 0, 0, 3000, &[("integration:x", 1.0)]))
        .await
        .unwrap();
    let live = s
        .beat_instance(&beat("b", 0, 2999, 3000, &[]))
        .await
        .unwrap();
    assert_eq!(ids(&live), ["a", "b"], "a is live 1 ms before its expiry");
    let live = s
        .beat_instance(&beat("b", 0, 3000, 3000, &[]))
        .await
        .unwrap();
    assert_eq!(ids(&live), ["b"], "a is dead at its expiry");
    assert!(
        !s.leave_instance("a").await.unwrap(),
        "the dead instance's row was removed by b's beat"
    );
    // A dead instance that beats again is live again.
    let live = s
        .beat_instance(&beat("a", 0, 3500, 3000, &[]))
        .await
        .unwrap();
    assert_eq!(ids(&live), ["a", "b"]);
    // A beat never removes its own row, even one whose previous beat expired.
    let live = s
        .beat_instance(&beat("a", 0, 9000, 3000, &[]))
        .await
        .unwrap();
    assert_eq!(ids(&live), ["a"], "b expired at 6000");
}

/// Leaving removes the row at once (the others stop counting it at their next beat,
/// without waiting for its expiry), once.
pub async fn leave_removes_the_instance_at_once_and_once(s: Arc<dyn Store>) {
    s.beat_instance(&beat("a", 0, 0, 60_000, &[]))
        .await
        .unwrap();
    s.beat_instance(&beat("b", 0, 0, 60_000, &[]))
        .await
        .unwrap();
    assert!(s.leave_instance("a").await.unwrap());
    assert!(!s.leave_instance("a").await.unwrap());
    assert!(!s.leave_instance("never-was").await.unwrap());
    let live = s
        .beat_instance(&beat("b", 0, 1, 60_000, &[]))
        .await
        .unwrap();
    assert_eq!(ids(&live), ["b"]);
}

/// Beats from two handles (two processes) at once each see both instances.
pub async fn beats_from_two_handles_see_each_other(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    for round in 0..20 {
        let t = round * 100;
        let (ba, bb) = (
            beat("a", 0, t, 3000, &[("integration:x", round as f64)]),
            beat("b", 0, t, 3000, &[("integration:x", 1.0)]),
        );
        let (la, lb) = tokio::join!(a.beat_instance(&ba), b.beat_instance(&bb));
        let (la, lb) = (la.unwrap(), lb.unwrap());
        // Each sees itself; after the first round each sees the other too.
        assert!(ids(&la).contains(&"a") && ids(&lb).contains(&"b"));
        if round > 0 {
            assert_eq!(ids(&la), ["a", "b"], "round {round}");
            assert_eq!(ids(&lb), ["a", "b"], "round {round}");
        }
    }
}
