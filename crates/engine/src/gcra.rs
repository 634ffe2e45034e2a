//! A token bucket (GCRA) whose rate and capacity can change without giving tokens away.
//!
//! Shared rate limits ([`crate::instances`]) give each instance a share of a limit that
//! changes at every rebalance. `governor`'s quota is fixed per limiter, and a limiter
//! rebuilt with a new quota starts full: every rebalance would hand each instance a
//! fresh burst, and the instances together would overshoot the limit. This bucket keeps
//! its state across a change: [`Gcra::set`] keeps the tokens it holds (never more than
//! the new capacity) and refills them at the new rate from then on.
//!
//! The state is one instant, the theoretical arrival time (TAT) of the next request: the
//! bucket is full when it is not after now, and a request is admitted when the TAT is at
//! most `(burst - 1)` intervals after now, which moves it one interval on. Times are
//! nanosecond `Duration`s, so whole-number rates give exact waits.

use std::time::{Duration, Instant};

/// The slowest refill: one token a day (a share can be tiny, never zero here).
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);

/// A token bucket of `burst` tokens refilled at `rate` per second.
#[derive(Debug, Clone)]
pub(crate) struct Gcra {
    /// Time between two tokens.
    interval: Duration,
    /// Capacity, at least 1.
    burst: u32,
    /// When the bucket is full again; `None` while it has never been used.
    tat: Option<Instant>,
}

/// The time between two tokens at `rate` per second.
fn interval(rate: f64) -> Duration {
    if !(rate.is_finite() && rate > 0.0) {
        return MAX_INTERVAL;
    }
    let nanos = (1e9 / rate).round();
    if nanos >= MAX_INTERVAL.as_nanos() as f64 {
        MAX_INTERVAL
    } else {
        Duration::from_nanos((nanos as u64).max(1))
    }
}

impl Gcra {
    /// A full bucket of `burst` (at least 1) tokens refilled at `rate` per second.
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        Self {
            interval: interval(rate),
            burst: burst.max(1),
            tat: None,
        }
    }

    /// Takes a token at `now`, or says how long until one is available.
    pub(crate) fn check(&mut self, now: Instant) -> Result<(), Duration> {
        let tat = self.tat.map_or(now, |t| t.max(now));
        let tolerance = self.interval * (self.burst - 1);
        let ahead = tat - now;
        if ahead > tolerance {
            return Err(ahead - tolerance);
        }
        self.tat = Some(tat + self.interval);
        Ok(())
    }

    /// Tokens available at `now` (fractional while one refills).
    pub(crate) fn available(&self, now: Instant) -> f64 {
        let debt = self
            .tat
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        (f64::from(self.burst) - debt.as_nanos() as f64 / self.interval.as_nanos() as f64).max(0.0)
    }

    /// Whether the bucket is full at `now` (its state can be forgotten).
    pub(crate) fn is_full(&self, now: Instant) -> bool {
        self.tat.is_none_or(|t| t <= now)
    }

    /// Changes rate and capacity at `now`, keeping the tokens it holds (at most the new
    /// capacity): a change never adds tokens, it only changes how fast they come back.
    pub(crate) fn set(&mut self, now: Instant, rate: f64, burst: u32) {
        let burst = burst.max(1);
        let keep = self.available(now).min(f64::from(burst));
        let interval = interval(rate);
        // Whole nanoseconds, rounded: whole tokens stay whole.
        let debt = ((f64::from(burst) - keep) * interval.as_nanos() as f64).round();
        self.interval = interval;
        self.burst = burst;
        self.tat = (debt >= 1.0).then(|| now + Duration::from_nanos(debt as u64));
    }

    /// The rate in force, per second.
    #[cfg(test)]
    pub(crate) fn rate(&self) -> f64 {
        1.0 / self.interval.as_secs_f64()
    }

    /// The capacity in force.
    #[cfg(test)]
    pub(crate) fn burst(&self) -> u32 {
        self.burst
    }
}

#[cfg(test)]
mod tests {
    //! Exhaustive over small rates, bursts and step sizes: admissions over any window
    //! never exceed burst + rate × window, a full bucket admits exactly its burst, and a
    //! change of rate or capacity never adds tokens.

    use super::*;

    /// Admissions when trying `tries` times every `step` for `steps` steps.
    fn run(g: &mut Gcra, start: Instant, step: Duration, steps: u32, tries: u32) -> Vec<u32> {
        (0..steps)
            .map(|i| {
                let now = start + step * i;
                (0..tries).filter(|_| g.check(now).is_ok()).count() as u32
            })
            .collect()
    }

    #[test]
    fn a_full_bucket_admits_its_burst_then_one_per_interval() {
        let t0 = Instant::now();
        for rate in [1u32, 2, 3, 4, 7, 10, 20, 100] {
            for burst in [1u32, 2, 3, 5, 10, 20] {
                let mut g = Gcra::new(f64::from(rate), burst);
                for _ in 0..burst {
                    g.check(t0).unwrap();
                }
                let wait = g.check(t0).unwrap_err();
                assert_eq!(wait, interval(f64::from(rate)), "rate {rate} burst {burst}");
                // One nanosecond early: still empty; at the instant: one token.
                assert!(g.check(t0 + wait - Duration::from_nanos(1)).is_err());
                g.check(t0 + wait).unwrap();
                assert!(g.check(t0 + wait).is_err());
            }
        }
    }

    #[test]
    fn no_window_admits_more_than_burst_plus_rate_times_its_length() {
        let t0 = Instant::now();
        for rate in [1u32, 3, 5, 10, 20] {
            for burst in [1u32, 2, 5, 20] {
                for step_ms in [1u64, 7, 50, 100, 333] {
                    let mut g = Gcra::new(f64::from(rate), burst);
                    let step = Duration::from_millis(step_ms);
                    let steps = (5_000 / step_ms) as u32;
                    let got = run(&mut g, t0, step, steps, 50);
                    // Every window of steps i..=j: admitted(i..=j) - rate × (j - i) × step
                    // <= burst, i.e. with prefix sums P and x_k = P_k - rate × k × step,
                    // x_{j+1} + rate × step - min_{i<=j} x_i <= burst (all windows, O(n)).
                    let per_step = f64::from(rate) * step.as_secs_f64();
                    let (mut prefix, mut min_x) = (0f64, 0f64);
                    for (j, n) in got.iter().enumerate() {
                        prefix += f64::from(*n);
                        let x_next = prefix - per_step * (j + 1) as f64;
                        let worst = x_next + per_step - min_x;
                        assert!(
                            worst <= f64::from(burst) + 1e-6,
                            "rate {rate} burst {burst} step {step_ms} ms: a window ending at step {j} admits {worst} over its rate"
                        );
                        min_x = min_x.min(x_next);
                    }
                    // And it is not starved: asking every step, a token comes at least
                    // every interval + step (it is taken at the first step after it is
                    // due).
                    let total: u32 = got.iter().sum();
                    let span = (step * (steps - 1)).as_secs_f64();
                    let cycle = 1.0 / f64::from(rate) + step.as_secs_f64();
                    assert!(
                        f64::from(total) >= span / cycle - 1.0,
                        "rate {rate} burst {burst} step {step_ms}: {total} in {span} s"
                    );
                }
            }
        }
    }

    #[test]
    fn a_change_never_adds_tokens_and_refills_at_the_new_rate() {
        let t0 = Instant::now();
        for (r1, b1) in [(10.0, 10u32), (10.0, 1), (3.0, 5), (1.0, 1)] {
            for (r2, b2) in [(20.0, 20u32), (1.0, 1), (5.0, 3), (0.5, 1), (10.0, 40)] {
                for used in 0..=b1 {
                    let mut g = Gcra::new(r1, b1);
                    for _ in 0..used {
                        g.check(t0).unwrap();
                    }
                    let before = g.available(t0);
                    g.set(t0, r2, b2);
                    let after = g.available(t0);
                    assert!(
                        after <= before.min(f64::from(b2)) + 1e-9,
                        "({r1},{b1})→({r2},{b2}) used {used}: {before} → {after}"
                    );
                    // What is admitted at once is what it had (whole tokens).
                    let now = run(&mut g, t0, Duration::ZERO, 1, 1000)[0];
                    assert_eq!(
                        now,
                        (before.min(f64::from(b2)) + 1e-9).floor() as u32,
                        "({r1},{b1})→({r2},{b2}) used {used}"
                    );
                    // Then one token per new interval.
                    let next = g.check(t0).unwrap_err();
                    assert!(next <= interval(r2), "{next:?}");
                    g.check(t0 + next).unwrap();
                    assert_eq!(g.check(t0 + next).unwrap_err(), interval(r2));
                    assert_eq!(g.burst(), b2.max(1));
                    assert!((g.rate() - r2).abs() < 1e-6 * r2);
                }
            }
        }
    }

    #[test]
    fn repeated_changes_at_one_instant_add_nothing() {
        let t0 = Instant::now();
        let mut g = Gcra::new(10.0, 10);
        for _ in 0..4 {
            g.check(t0).unwrap();
        }
        for i in 0..100 {
            let (r, b) = if i % 2 == 0 { (100.0, 100) } else { (1.0, 1) };
            g.set(t0, r, b);
        }
        // It held 6, went down to at most 1 on the way: at most 1 now.
        assert!(g.available(t0) <= 1.0 + 1e-9);
        g.set(t0, 10.0, 10);
        assert!(g.available(t0) <= 1.0 + 1e-9);
    }

    #[test]
    fn degenerate_rates_are_one_a_day_and_fullness_is_reported() {
        let t0 = Instant::now();
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-12] {
            let mut g = Gcra::new(rate, 0);
            assert!(g.is_full(t0));
            g.check(t0).unwrap();
            assert!(!g.is_full(t0));
            assert_eq!(g.check(t0).unwrap_err(), MAX_INTERVAL, "{rate}");
            assert!(g.is_full(t0 + MAX_INTERVAL));
        }
        assert_eq!(interval(1e12), Duration::from_nanos(1));
    }
}
