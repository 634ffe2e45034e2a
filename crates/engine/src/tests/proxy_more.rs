//! The proxy's rate-limit buckets beyond the basic manual-clock case: buckets kept and
//! rebuilt across reloads, one-sided limits, degenerate quotas, pruning of idle
//! connections, and `on_limit`.

use std::sync::Arc;
use std::time::Duration;

use crate::proxy::limit::{Buckets, Limits};
use crate::{Clock, ManualClock};

fn limit(
    per_second: Option<u32>,
    burst: Option<u32>,
    per_connection: Option<u32>,
    per_connection_burst: Option<u32>,
) -> config::RateLimit {
    config::RateLimit {
        per_second,
        burst,
        per_connection_per_second: per_connection,
        per_connection_burst,
        on_limit: config::OnLimit::Wait,
    }
}

#[test]
fn no_limit_admits_everything() {
    let b = Buckets::with_clock(config::RateLimit::default(), ManualClock::new().clock());
    for i in 0..10_000 {
        assert_eq!(b.admit(&format!("c{}", i % 3)), Ok(()));
    }
    assert_eq!(b.on_limit(), config::OnLimit::Wait);
}

#[test]
fn only_an_integration_bucket_is_shared_by_every_connection() {
    let clock = ManualClock::new();
    let b = Buckets::with_clock(limit(Some(4), None, None, None), clock.clock());
    // Burst defaults to the rate.
    for c in ["a", "b", "c", "d"] {
        b.admit(c).unwrap();
    }
    assert_eq!(b.admit("e").unwrap_err(), Duration::from_millis(250));
    clock.advance(Duration::from_millis(250));
    b.admit("e").unwrap();
    assert!(b.admit("a").is_err());
}

#[test]
fn only_per_connection_buckets_keep_connections_apart() {
    let clock = ManualClock::new();
    let b = Buckets::with_clock(limit(None, None, Some(1), Some(2)), clock.clock());
    b.admit("a").unwrap();
    b.admit("a").unwrap();
    assert_eq!(b.admit("a").unwrap_err(), Duration::from_secs(1));
    // Another connection has its own burst, whatever a did.
    for i in 0..50 {
        b.admit(&format!("other{i}")).unwrap();
        b.admit(&format!("other{i}")).unwrap();
    }
    clock.advance(Duration::from_secs(1));
    b.admit("a").unwrap();
    assert!(b.admit("a").is_err());
}

#[test]
fn a_rejected_connection_does_not_take_from_the_integration_bucket() {
    let clock = ManualClock::new();
    let b = Buckets::with_clock(limit(Some(3), Some(3), Some(1), Some(1)), clock.clock());
    b.admit("a").unwrap();
    for _ in 0..10 {
        assert!(b.admit("a").is_err());
    }
    // The integration still has 2 of its 3 tokens.
    b.admit("b").unwrap();
    b.admit("c").unwrap();
    assert!(b.admit("d").is_err());
}

#[test]
fn zero_rates_and_bursts_are_treated_as_one_and_the_rate() {
    let clock = ManualClock::new();
    // per_second 0 → 1 per second; burst 0 → the rate (1).
    let b = Buckets::with_clock(limit(Some(0), Some(0), Some(0), Some(0)), clock.clock());
    b.admit("a").unwrap();
    assert_eq!(b.admit("a").unwrap_err(), Duration::from_secs(1));
    assert_eq!(b.admit("b").unwrap_err(), Duration::from_secs(1));
    clock.advance(Duration::from_secs(1));
    b.admit("b").unwrap();
}

#[test]
fn idle_connections_are_pruned_without_losing_the_busy_ones() {
    let clock = ManualClock::new();
    let b = Buckets::with_clock(limit(None, None, Some(1), Some(1)), clock.clock());
    // A fills its bucket; then more than PRUNE_EVERY (4096) admissions of other
    // connections pass, so idle state is pruned at least once while a's is still
    // recent (the manual clock does not move).
    b.admit("a").unwrap();
    for i in 0..5000 {
        b.admit(&format!("c{i}")).unwrap();
    }
    assert!(b.admit("a").is_err(), "a's state survived the prune");
    // After the refill everything is admitted again, pruned or not.
    clock.advance(Duration::from_secs(2));
    for i in 0..5000 {
        b.admit(&format!("c{i}")).unwrap();
    }
    b.admit("a").unwrap();
}

#[test]
fn on_limit_follows_the_configuration() {
    let mut l = limit(Some(1), None, None, None);
    l.on_limit = config::OnLimit::Reject;
    let b = Buckets::with_clock(l, ManualClock::new().clock());
    assert_eq!(b.on_limit(), config::OnLimit::Reject);
    let debug = format!("{b:?}");
    assert!(debug.starts_with("Buckets"), "{debug}");
    assert!(debug.contains("Reject"), "{debug}");
}

#[test]
fn limits_keep_buckets_until_the_limit_changes() {
    let limits = Limits::default();
    let clock = Clock::system();
    let m = Arc::new(crate::instances::Membership::new());
    let one = limit(Some(1), None, None, None);
    let a1 = limits.buckets("a", one, &clock, &m);
    let a2 = limits.buckets("a", one, &clock, &m);
    assert!(Arc::ptr_eq(&a1, &a2), "same limit: same buckets");
    // The bucket is shared: a1's token is gone for a2.
    a1.admit("x").unwrap();
    assert!(a2.admit("y").is_err());

    // Another integration has its own.
    let b = limits.buckets("b", one, &clock, &m);
    assert!(!Arc::ptr_eq(&a1, &b));
    b.admit("x").unwrap();

    // A changed limit (a reload) rebuilds the integration's buckets, full again.
    let two = limit(Some(2), None, None, None);
    let a3 = limits.buckets("a", two, &clock, &m);
    assert!(!Arc::ptr_eq(&a1, &a3));
    a3.admit("x").unwrap();
    a3.admit("x").unwrap();
    assert!(a3.admit("x").is_err());
    // And it is kept from then on.
    assert!(Arc::ptr_eq(&a3, &limits.buckets("a", two, &clock, &m)));
    // Going back to the old limit rebuilds again.
    assert!(!Arc::ptr_eq(&a3, &limits.buckets("a", one, &clock, &m)));
}
