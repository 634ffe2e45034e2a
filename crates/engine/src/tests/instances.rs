//! Rate limits across instances: the share computation, membership over one store with
//! several engines on one manual clock (equal and skewed demand, the idle floor, death
//! after the liveness window, leaving at once, losing the database), and buckets that
//! never let the instances together exceed the limit while shares move.

use std::sync::Arc;
use std::time::Duration;

use super::{engine_on, key, memory_store, ring};
use crate::instances::{FLOOR, LIVE_BEATS, Membership, fraction, split};
use crate::pipeline::deliver::{Gate, WorkerOptions};
use crate::proxy::limit::Buckets;
use crate::{Engine, ManualClock};

const EPS: f64 = 1e-9;

/// `n` engines on one store and one manual clock, heartbeat 1 s.
async fn cluster(n: usize) -> (Vec<Engine>, ManualClock, store_sqlite::SqliteStore) {
    let store = memory_store().await;
    let clock = ManualClock::new();
    let k = key();
    let engines = (0..n)
        .map(|_| engine_on(Arc::new(store.clone()), ring(&k, &[])).with_clock(clock.clone()))
        .collect();
    (engines, clock, store)
}

/// Every engine beats once, in order, at the clock's current time.
async fn beat_all(engines: &[Engine]) {
    for e in engines {
        e.beat().await.unwrap();
    }
}

fn shares(engines: &[Engine], key: &str) -> Vec<f64> {
    engines.iter().map(|e| e.membership().share(key)).collect()
}

/// Asks `n` times for `key` (limit `limit`) on `engine`, as `n` requests would.
fn ask(engine: &Engine, key: &str, limit: u32, n: usize) {
    let k = engine.membership().key(key, limit);
    for _ in 0..n {
        k.ask();
    }
}

#[test]
fn equal_demand_splits_equally_and_any_snapshot_sums_to_one() {
    for n in 1..=6usize {
        for d in [0.0, 0.5, 5.0, 100.0] {
            let others = vec![d; n - 1];
            let f = fraction(20.0, d, &others);
            assert!((f - 1.0 / n as f64).abs() < EPS, "n {n} demand {d}: {f}");
        }
    }
    // Any consistent snapshot: the fractions of all instances sum to 1.
    let demands = [0.0, 0.1, 1.0, 3.0, 7.5, 20.0, 1000.0];
    for a in demands {
        for b in demands {
            for c in demands {
                let v = [a, b, c];
                let sum: f64 = (0..3)
                    .map(|i| {
                        let others: Vec<f64> = (0..3).filter(|j| *j != i).map(|j| v[j]).collect();
                        fraction(20.0, v[i], &others)
                    })
                    .sum();
                assert!((sum - 1.0).abs() < EPS, "{v:?}: {sum}");
            }
        }
    }
}

#[test]
fn skewed_demand_is_weighted_and_an_idle_instance_keeps_the_floor() {
    // 30/s and 10/s of demand for a 20/s limit: 3/4 and 1/4.
    assert!((fraction(20.0, 30.0, &[10.0]) - 0.75).abs() < EPS);
    assert!((fraction(20.0, 10.0, &[30.0]) - 0.25).abs() < EPS);
    // An idle instance weighs FLOOR of a fair share, so it may start at once.
    let floor = FLOOR * 20.0 / 3.0;
    let idle = fraction(20.0, 0.0, &[30.0, 30.0]);
    assert!((idle - floor / (floor + 60.0)).abs() < EPS, "{idle}");
    assert!(idle > 0.0);
    // Below the floor counts as the floor: all idle is a fair split.
    assert!((fraction(20.0, 0.01, &[0.0, 0.3]) - 1.0 / 3.0).abs() < EPS);
    // Bursts split the same way, at least 1, never more than the whole.
    assert_eq!(split(20, 20, 0.75), (15.0, 15));
    let (rate, burst) = split(20, 20, 1.0 / 3.0);
    assert!(
        (rate - 20.0 / 3.0).abs() < EPS && burst == 6,
        "{rate} {burst}"
    );
    assert_eq!(split(20, 3, 0.01).1, 1);
    assert_eq!(split(20, 3, 1.0).1, 3);
    for n in 1..=20u32 {
        let f = 1.0 / f64::from(n);
        let (rate, burst) = split(20, 20, f);
        assert!(rate * f64::from(n) <= 20.0 + EPS);
        assert!(burst * n <= 20, "n {n}: {burst}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alone_before_the_first_beat_then_a_third_each() {
    let (engines, _clock, _store) = cluster(3).await;
    let k = "integration:x";
    assert_eq!(shares(&engines, k), [1.0, 1.0, 1.0], "alone before beating");
    assert_eq!(engines[0].membership().live(), 1);
    beat_all(&engines).await;
    // The first two beat before the third joined; one more round and all agree.
    beat_all(&engines).await;
    for (i, e) in engines.iter().enumerate() {
        assert_eq!(e.membership().live(), 3, "engine {i}");
        assert!((e.membership().share(k) - 1.0 / 3.0).abs() < EPS);
        assert!((e.membership().per_connection() - 1.0 / 3.0).abs() < EPS);
    }
}

/// Demand moves between instances every few heartbeats: at every step the shares the
/// instances hold sum to at most 1, and they follow the demand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_follow_skewed_demand_and_never_sum_past_the_limit() {
    let (engines, clock, _store) = cluster(3).await;
    let k = "integration:x";
    for e in &engines {
        e.membership().key(k, 20);
    }
    beat_all(&engines).await;
    beat_all(&engines).await;
    // Per heartbeat: how many asks each engine makes, phase by phase.
    let phases: [[usize; 3]; 5] = [
        [30, 10, 0],
        [0, 40, 0],
        [20, 20, 20],
        [0, 0, 60],
        [5, 50, 5],
    ];
    for demand in phases {
        for _beat in 0..8 {
            for (e, n) in engines.iter().zip(demand) {
                ask(e, k, 20, n);
            }
            clock.advance(Duration::from_secs(1));
            // Beats in order, so snapshots differ: the sum is checked after each one.
            for e in &engines {
                e.beat().await.unwrap();
                let sum: f64 = shares(&engines, k).iter().sum();
                assert!(sum <= 1.0 + EPS, "{demand:?}: {:?}", shares(&engines, k));
            }
        }
        let s = shares(&engines, k);
        let total: usize = demand.iter().sum();
        for (i, n) in demand.iter().enumerate() {
            let want = *n as f64 / total as f64;
            // Settled within a few percent (the floor gives idle ones a little).
            assert!(
                (s[i] - want).abs() < 0.05,
                "{demand:?}: engine {i} holds {:.3}, demand says {want:.3} ({s:?})",
                s[i]
            );
            if *n == 0 {
                assert!(s[i] > 0.0, "an idle instance keeps the floor");
            }
        }
    }
}

/// An instance that stops beating is counted until its row expires (LIVE_BEATS
/// heartbeats), then the others take its share at their next beat; one that leaves is
/// dropped at the others' next beat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instance_counts_until_its_row_expires_and_one_that_leaves_not_at_all() {
    let (engines, clock, _store) = cluster(3).await;
    let k = "integration:x";
    for e in &engines {
        e.membership().key(k, 20);
    }
    beat_all(&engines).await;
    beat_all(&engines).await;
    // Engine 2 dies (never beats again).
    let alive = &engines[..2];
    for step in 1..=LIVE_BEATS {
        clock.advance(Duration::from_secs(1));
        beat_all(alive).await;
        let s = shares(alive, k);
        if step < LIVE_BEATS {
            assert_eq!(alive[0].membership().live(), 3, "step {step}");
            assert!((s[0] - 1.0 / 3.0).abs() < EPS, "step {step}: {s:?}");
        } else {
            // Its row expired: the others split the limit between them at once.
            assert_eq!(alive[0].membership().live(), 2, "step {step}");
            assert!(
                (s[0] - 0.5).abs() < EPS && (s[1] - 0.5).abs() < EPS,
                "{s:?}"
            );
        }
    }
    // Engine 1 leaves: engine 0 holds everything at its next beat.
    alive[1].leave().await;
    clock.advance(Duration::from_millis(10));
    alive[0].beat().await.unwrap();
    assert_eq!(alive[0].membership().live(), 1);
    assert_eq!(alive[0].membership().share(k), 1.0);
    assert_eq!(alive[0].membership().per_connection(), 1.0);
}

/// An instance that cannot reach the database keeps its shares while its row is live,
/// then holds none (the others have taken them) and refuses under shared limits until
/// it beats again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_database_keeps_shares_for_the_liveness_window_then_drops_them() {
    let store = memory_store().await;
    let clock = ManualClock::new();
    let k = key();
    let a = engine_on(Arc::new(store.clone()), ring(&k, &[])).with_clock(clock.clone());
    let b = engine_on(Arc::new(store.clone()), ring(&k, &[])).with_clock(clock.clone());
    a.beat().await.unwrap();
    b.beat().await.unwrap();
    a.beat().await.unwrap();
    let limit = config::RateLimit {
        per_second: Some(10),
        burst: Some(10),
        per_connection_per_second: Some(4),
        per_connection_burst: Some(4),
        on_limit: config::OnLimit::Wait,
    };
    let buckets = Buckets::shared("x", limit, a.clock().clone(), a.membership().clone());
    assert!((a.membership().share("integration:x") - 0.5).abs() < EPS);
    buckets.admit("c").unwrap();
    store::Store::close(&store).await;
    for step in 1..=LIVE_BEATS {
        clock.advance(Duration::from_secs(1));
        assert!(a.beat().await.is_err());
        let s = a.membership().share("integration:x");
        if step < LIVE_BEATS {
            assert!((s - 0.5).abs() < EPS, "kept while live: {s}");
        } else {
            assert_eq!(s, 0.0, "none once its row expired");
            assert_eq!(a.membership().per_connection(), 0.0);
            assert_eq!(
                buckets.admit("c").unwrap_err(),
                crate::instances::NO_SHARE_RETRY
            );
        }
    }
}

/// Two instances, each asking far more than the limit, with demand moving between
/// them: over every window, what both admitted together is at most the limit's rate
/// over the window plus one burst (no burst is given away by a rebalance).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebalancing_never_lets_two_instances_exceed_the_limit_together() {
    let (engines, clock, _store) = cluster(2).await;
    beat_all(&engines).await;
    beat_all(&engines).await;
    let limit = config::RateLimit {
        per_second: Some(20),
        burst: Some(20),
        per_connection_per_second: None,
        per_connection_burst: None,
        on_limit: config::OnLimit::Wait,
    };
    let buckets: Vec<Buckets> = engines
        .iter()
        .map(|e| Buckets::shared("x", limit, e.clock().clone(), e.membership().clone()))
        .collect();
    let tick = Duration::from_millis(50);
    let mut per_tick = Vec::new();
    // 30 s: both busy, then only engine 0, then only engine 1, then both again.
    for t in 0..600u32 {
        let busy = match t / 150 {
            0 | 3 => [true, true],
            1 => [true, false],
            _ => [false, true],
        };
        let mut n = 0u32;
        for (b, on) in buckets.iter().zip(busy) {
            if on {
                n += (0..40).filter(|_| b.admit("c").is_ok()).count() as u32;
            }
        }
        per_tick.push(n);
        clock.advance(tick);
        if t % 20 == 19 {
            beat_all(&engines).await;
        }
    }
    // Every window of ticks i..=j: admitted ≤ 20/s × its length + the burst (20),
    // + 1 for the at-least-one-token rounding of split bursts.
    let per_tick_budget = 20.0 * tick.as_secs_f64();
    let (mut prefix, mut min_x) = (0f64, 0f64);
    for (j, n) in per_tick.iter().enumerate() {
        prefix += f64::from(*n);
        let x_next = prefix - per_tick_budget * (j + 1) as f64;
        let over = x_next + per_tick_budget - min_x;
        assert!(
            over <= 21.0 + EPS,
            "a window ending at tick {j} admitted {over:.1} over the rate"
        );
        min_x = min_x.min(x_next);
    }
    // And the limit is used: after the first seconds of each phase, about 20/s.
    for phase in 0..4 {
        let settled: u32 = per_tick[phase * 150 + 60..(phase + 1) * 150].iter().sum();
        let secs = 90.0 * tick.as_secs_f64();
        assert!(
            f64::from(settled) >= 0.8 * 20.0 * secs,
            "phase {phase}: only {settled} in {secs} s"
        );
    }
}

/// The delivery worker's gate of two instances on one destination limit: together at
/// most the limit, split evenly under equal demand; a third instance that has not
/// delivered to it yet still has room to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_destination_rate_limit() {
    let (engines, clock, _store) = cluster(3).await;
    beat_all(&engines).await;
    beat_all(&engines).await;
    let d: config::Destination = config::Config::from_toml(
        "[[destinations]]\nid = \"app\"\nurl = \"https://app.example/hooks\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nmax_concurrency = 50\nrate_limit = { per_second = 10, burst = 10 }\n",
        "t.toml",
        &std::collections::BTreeMap::new(),
        &Default::default(),
    )
    .unwrap()
    .destinations
    .remove(0);
    let mut gates: Vec<Gate> = engines[..2]
        .iter()
        .map(|e| Gate::new(&WorkerOptions::default(), e.membership().clone()))
        .collect();
    let mut admitted = [0u32; 2];
    let tick = Duration::from_millis(100);
    for t in 0..200u32 {
        let now = clock.instant();
        for (i, g) in gates.iter_mut().enumerate() {
            for _ in 0..5 {
                if g.admit(&d, now).is_ok() {
                    admitted[i] += 1;
                }
            }
        }
        clock.advance(tick);
        if t % 10 == 9 {
            beat_all(&engines).await;
        }
    }
    let total = admitted[0] + admitted[1];
    // 20 s at 10/s, + one burst (10) + 1 for rounding.
    assert!(total <= 200 + 11, "{admitted:?}");
    assert!(total >= 180, "{admitted:?}");
    let idle = Gate::new(&WorkerOptions::default(), engines[2].membership().clone());
    assert_eq!(
        idle.room(&d, clock.instant()),
        1,
        "the floor: one token at once"
    );
    let s: Vec<f64> = engines[..2]
        .iter()
        .map(|e| e.membership().share("destination:app"))
        .collect();
    assert!(
        (s[0] - 0.5).abs() < 0.05 && (s[1] - 0.5).abs() < 0.05,
        "{s:?}"
    );
    assert!(admitted[0].abs_diff(admitted[1]) <= 20, "{admitted:?}");
    // A lone worker (no membership) holds the whole limit, as before.
    let alone = Gate::new(&WorkerOptions::default(), Arc::new(Membership::new()));
    assert_eq!(alone.room(&d, clock.instant()), 10);
}
