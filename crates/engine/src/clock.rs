//! The engine's one clock: every decision that depends on time (token expiry and
//! refresh timing, refresh back-off and leases, retry schedules, circuit breakers and
//! rate limits, cache ages, tolerance windows, session and state expiry, audit
//! timestamps) reads it, and every wait that belongs to such a decision (the delivery
//! worker's idle sleep and lease renewal, the refresher's pause, refresh polling and
//! back-off, the proxy's retry pauses) sleeps on it.
//!
//! A [`Clock`] gives two readings that always move together:
//! - [`Clock::now`], wall time as a `DateTime<Utc>` truncated to milliseconds (what
//!   the store keeps, so what is stored equals what was used), and
//! - [`Clock::instant`], monotonic time as a [`std::time::Instant`], for durations and
//!   deadlines inside the process.
//!
//! [`Clock::system`] (the default, what [`crate::Engine::new`] uses) reads the
//! operating system's clocks and sleeps with `tokio::time`. A [`ManualClock`] stands
//! still until a test calls [`ManualClock::advance`], which moves both readings by the
//! same step and wakes every [`Clock::sleep`] whose time has come;
//! [`ManualClock::until_sleeping`] lets a test wait until the engine is actually
//! sleeping on it, which orders a test without real sleeps.
//!
//! Why not tokio's paused time: it only works on a current-thread runtime, and it
//! auto-advances whenever the runtime is idle, which it is while SQLite (its own
//! threads) or a real peer is working: timeouts would fire at random. Waits for a
//! peer's socket (the outbound request timeouts, the proxy's header and body-chunk
//! timeouts) therefore stay on real time under either clock; they bound I/O, not
//! decisions.
//!
//! The rate limiters of the proxy and of the delivery worker ([`crate::gcra`]) take
//! their instants from it too.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

/// The engine's clock: the system's, or a [`ManualClock`]'s. Cheap to clone; clones of
/// a manual clock share its time.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<Manual>>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Clock::System"),
            Some(m) => f
                .debug_struct("Clock::Manual")
                .field("now", &m.now())
                .finish(),
        }
    }
}

impl Clock {
    /// The operating system's clocks.
    pub fn system() -> Self {
        Self(None)
    }

    /// Wall time, truncated to milliseconds (like [`store::now`]).
    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            None => store::now(),
            Some(m) => m.now(),
        }
    }

    /// Monotonic time.
    pub fn instant(&self) -> Instant {
        match &self.0 {
            None => Instant::now(),
            Some(m) => m.instant(),
        }
    }

    /// Waits until `d` has passed on this clock.
    pub async fn sleep(&self, d: Duration) {
        match &self.0 {
            None => tokio::time::sleep(d).await,
            Some(m) => m.sleep_until(m.instant() + d).await,
        }
    }

    /// Waits until this clock reads `t` or later.
    pub async fn sleep_until(&self, t: Instant) {
        match &self.0 {
            None => tokio::time::sleep_until(t.into()).await,
            Some(m) => m.sleep_until(t).await,
        }
    }
}

/// A clock that moves only when told to, for tests: see the module documentation.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Manual>);

struct Manual {
    wall: DateTime<Utc>,
    mono: Instant,
    /// How far the clock was advanced.
    offset: Mutex<Duration>,
    /// Sent on every advance; sleepers re-check their deadline.
    moved: watch::Sender<()>,
    /// Sleeps in progress, sleeps ever started, and a notification whenever one
    /// starts.
    sleeping: AtomicUsize,
    started: AtomicU64,
    slept: Notify,
}

impl std::fmt::Debug for Manual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manual")
            .field("now", &self.now())
            .finish_non_exhaustive()
    }
}

impl Manual {
    fn offset(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> DateTime<Utc> {
        let off = chrono::Duration::milliseconds(self.offset().as_millis() as i64);
        self.wall + off
    }

    fn instant(&self) -> Instant {
        self.mono + self.offset()
    }

    async fn sleep_until(&self, t: Instant) {
        // Subscribed before the check, so an advance in between is not missed.
        let mut moved = self.moved.subscribe();
        let _counted = Sleeping::start(self);
        while self.instant() < t {
            if moved.changed().await.is_err() {
                // The clock is gone (cannot happen while `self` lives); never wake.
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Counts a sleep on a manual clock while it lasts.
struct Sleeping<'a>(&'a Manual);

impl<'a> Sleeping<'a> {
    fn start(m: &'a Manual) -> Self {
        m.sleeping.fetch_add(1, Ordering::AcqRel);
        m.started.fetch_add(1, Ordering::AcqRel);
        m.slept.notify_waiters();
        Self(m)
    }
}

impl Drop for Sleeping<'_> {
    fn drop(&mut self) {
        self.0.sleeping.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl ManualClock {
    /// A manual clock that starts at the current wall time.
    pub fn new() -> Self {
        Self::starting_at(store::now())
    }

    /// A manual clock that starts at `wall` (truncated to milliseconds).
    pub fn starting_at(wall: DateTime<Utc>) -> Self {
        let wall = store::from_millis(store::to_millis(wall)).unwrap_or(wall);
        let mono = Instant::now();
        Self(Arc::new(Manual {
            wall,
            mono,
            offset: Mutex::new(Duration::ZERO),
            moved: watch::Sender::new(()),
            sleeping: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            slept: Notify::new(),
        }))
    }

    /// The [`Clock`] to give the engine.
    pub fn clock(&self) -> Clock {
        Clock(Some(self.0.clone()))
    }

    /// Wall time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.0.now()
    }

    /// Monotonic time now.
    pub fn instant(&self) -> Instant {
        self.0.instant()
    }

    /// Moves both readings forward by `by` (wall time in whole milliseconds) and wakes
    /// the sleeps that are due.
    pub fn advance(&self, by: Duration) {
        let by = Duration::from_millis(by.as_millis() as u64);
        *self.0.offset.lock().unwrap_or_else(|p| p.into_inner()) += by;
        self.0.moved.send_replace(());
    }

    /// How many [`Clock::sleep`]s on this clock are in progress.
    pub fn sleeping(&self) -> usize {
        self.0.sleeping.load(Ordering::Acquire)
    }

    /// How many [`Clock::sleep`]s on this clock were ever started.
    pub fn sleeps_started(&self) -> u64 {
        self.0.started.load(Ordering::Acquire)
    }

    /// Waits (in real time) until at least `n` sleeps on this clock are in progress:
    /// the engine has reached the point where only time moves it on.
    pub async fn until_sleeping(&self, n: usize) {
        self.until(|c| c.sleeping() >= n).await;
    }

    /// Waits (in real time) until at least `n` sleeps on this clock were ever started
    /// (with [`ManualClock::sleeps_started`]: until the engine sleeps again after a
    /// step).
    pub async fn until_sleeps_started(&self, n: u64) {
        self.until(|c| c.sleeps_started() >= n).await;
    }

    async fn until(&self, done: impl Fn(&Self) -> bool) {
        loop {
            let started = self.0.slept.notified();
            tokio::pin!(started);
            started.as_mut().enable();
            if done(self) {
                return;
            }
            started.await;
        }
    }
}

impl From<ManualClock> for Clock {
    fn from(m: ManualClock) -> Self {
        m.clock()
    }
}
