//! The engine's clock: the system clock moves on its own, a manual clock only when
//! advanced, both readings together, and its sleeps end exactly when it says so.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{engine_on, key, memory_store, ring};
use crate::{Clock, ManualClock};

#[test]
fn the_system_clock_moves_forward_in_milliseconds() {
    let c = Clock::system();
    let (w, i) = (c.now(), c.instant());
    assert_eq!(
        w.timestamp_subsec_nanos() % 1_000_000,
        0,
        "whole milliseconds"
    );
    assert!((Utc::now() - w).num_seconds().abs() < 5);
    std::thread::sleep(Duration::from_millis(5));
    assert!(c.instant() >= i + Duration::from_millis(5));
    assert!(c.now() >= w + chrono::Duration::milliseconds(5));
    assert_eq!(format!("{c:?}"), "Clock::System");
    assert_eq!(format!("{:?}", Clock::default()), "Clock::System");
}

#[test]
fn a_manual_clock_stands_still_until_advanced_and_moves_both_readings() {
    let start = DateTime::parse_from_rfc3339("2030-01-02T03:04:05.678999Z")
        .unwrap()
        .with_timezone(&Utc);
    let m = ManualClock::starting_at(start);
    let c = m.clock();
    let (w, i) = (c.now(), c.instant());
    assert_eq!(
        w.to_rfc3339(),
        "2030-01-02T03:04:05.678+00:00",
        "truncated to ms"
    );
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!((c.now(), c.instant()), (w, i), "real time does not move it");
    m.advance(Duration::from_millis(1500));
    assert_eq!(c.now(), w + chrono::Duration::milliseconds(1500));
    assert_eq!(c.instant(), i + Duration::from_millis(1500));
    // Clones share the time; sub-millisecond steps are dropped from both readings.
    let again: Clock = m.clone().into();
    m.advance(Duration::from_micros(999));
    assert_eq!((again.now(), m.now()), (c.now(), c.now()));
    assert_eq!(again.instant(), i + Duration::from_millis(1500));
    assert!(format!("{c:?}").starts_with("Clock::Manual"));
    assert!(format!("{m:?}").contains("2030-01-02"));
}

#[tokio::test]
async fn manual_sleeps_end_when_the_clock_reaches_them() {
    let m = ManualClock::default();
    let c = m.clock();
    assert_eq!((m.sleeping(), m.sleeps_started()), (0, 0));
    let (c2, start) = (c.clone(), c.instant());
    let sleeper = tokio::spawn(async move {
        c2.sleep(Duration::from_secs(10)).await;
        c2.instant()
    });
    m.until_sleeping(1).await;
    assert_eq!(m.sleeps_started(), 1);
    m.advance(Duration::from_millis(9_999));
    // It woke, looked, and sleeps on (the same sleep).
    tokio::task::yield_now().await;
    assert!(!sleeper.is_finished());
    assert_eq!(m.sleeping(), 1);
    m.advance(Duration::from_millis(1));
    assert_eq!(sleeper.await.unwrap(), start + Duration::from_secs(10));
    assert_eq!((m.sleeping(), m.sleeps_started()), (0, 1));
    // A deadline already passed does not wait; until_sleeps_started counts it.
    c.sleep_until(start).await;
    c.sleep(Duration::ZERO).await;
    m.until_sleeps_started(3).await;
    assert_eq!(m.sleeping(), 0);
}

#[tokio::test]
async fn system_sleeps_use_tokio_time() {
    let c = Clock::system();
    let t = c.instant();
    c.sleep(Duration::from_millis(5)).await;
    c.sleep_until(t + Duration::from_millis(10)).await;
    assert!(c.instant() >= t + Duration::from_millis(10));
}

#[tokio::test]
async fn the_engine_reads_the_clock_it_was_given() {
    let store = memory_store().await;
    let m = ManualClock::new();
    let engine = engine_on(Arc::new(store.clone()), ring(&key(), &[])).with_clock(m.clone());
    assert_eq!(engine.clock().now(), m.now());
    m.advance(Duration::from_secs(60));
    let row = engine
        .audit(
            &crate::Actor::System,
            "test.time",
            "t",
            serde_json::json!({}),
        )
        .await
        .unwrap();
    assert_eq!(row.entry.at, m.now(), "audit rows carry the engine's time");
    // Too late once the engine is shared: it keeps its clock.
    let shared = engine.clone();
    let other = ManualClock::starting_at(DateTime::UNIX_EPOCH);
    let engine = engine.with_clock(other);
    assert_eq!(engine.clock().now(), m.now());
    drop(shared);
    // A default engine is on the system clock.
    let system = engine_on(Arc::new(store), ring(&key(), &[]));
    assert_eq!(format!("{:?}", system.clock()), "Clock::System");
}
