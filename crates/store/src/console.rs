//! The admin console's server-side state: signed-in sessions, OpenID Connect sign-ins in
//! flight, and the hourly activity its overview draws.
//!
//! Only hashes of the session id and of the sign-in state are stored, so a copy of the
//! database does not let anyone act as a signed-in admin. Every instance sharing the
//! database sees the same sessions: signing out on one ends the session on all.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StoreResult;

/// A signed-in console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSessionRecord {
    /// SHA-256 of the session id the browser holds in its cookie.
    pub id_hash: Vec<u8>,
    /// Who signed in, as the audit log writes it (`api-key:<id>`, `oidc:<e-mail>`).
    pub actor: String,
    /// What the console shows: the key's name or the e-mail address.
    pub display_name: String,
    /// The API key signed in with, if any: the session ends when it is revoked.
    pub api_key_id: Option<String>,
    /// When the session started.
    pub created_at: DateTime<Utc>,
    /// The last request (written at most once a minute).
    pub last_seen_at: DateTime<Utc>,
    /// The absolute end, whatever the activity.
    pub expires_at: DateTime<Utc>,
}

/// An OpenID Connect sign-in between the redirect to the provider and its callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleLoginRecord {
    /// SHA-256 of the `state` sent to the provider.
    pub state_hash: Vec<u8>,
    /// SHA-256 of the secret in the browser's sign-in cookie: only that browser may finish.
    pub browser_hash: Vec<u8>,
    /// Where to go once signed in (a console path).
    pub next: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// Counts of one hour for the console's overview.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityHour {
    /// The start of the hour.
    pub hour: DateTime<Utc>,
    /// Webhooks accepted (`webhook_received` counters).
    pub received: u64,
    /// Webhooks refused (`webhook_refused` counters).
    pub refused: u64,
    /// Token refreshes that failed (`refresh_failed` counters).
    pub refresh_failed: u64,
    /// Deliveries that succeeded in this hour.
    pub delivered: u64,
    /// Time from enqueue to success of each delivery of this hour, in milliseconds,
    /// ascending.
    pub latencies_ms: Vec<u64>,
}

/// The console's sessions, sign-ins and overview reads.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Stores a new session.
    async fn insert_console_session(&self, s: &ConsoleSessionRecord) -> StoreResult<()>;
    /// The session with this id hash.
    async fn get_console_session(
        &self,
        id_hash: &[u8],
    ) -> StoreResult<Option<ConsoleSessionRecord>>;
    /// Records activity; false when the session is gone.
    async fn touch_console_session(&self, id_hash: &[u8], at: DateTime<Utc>) -> StoreResult<bool>;
    /// Ends a session; false when it was gone already.
    async fn delete_console_session(&self, id_hash: &[u8]) -> StoreResult<bool>;
    /// Deletes the sessions past their absolute end at `now` or idle since before
    /// `idle_before`, and the sign-ins expired at `now`; returns how many rows went.
    async fn purge_console_sessions(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Stores a sign-in in flight.
    async fn insert_console_login(&self, l: &ConsoleLoginRecord) -> StoreResult<()>;
    /// Removes and returns the sign-in with this state hash (at most one caller gets it).
    async fn take_console_login(
        &self,
        state_hash: &[u8],
    ) -> StoreResult<Option<ConsoleLoginRecord>>;
    /// Per hour starting at or after `since` (rounded down to the hour), the counters
    /// and deliveries of every integration added up; hours without anything are left
    /// out; ascending.
    async fn activity_by_hour(&self, since: DateTime<Utc>) -> StoreResult<Vec<ActivityHour>>;
}

/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;

/// Builds [`ActivityHour`]s (ascending) from what a backend read: counter sums per
/// (hour start in ms, kind), and each delivery's (success time in ms, latency in ms).
pub fn assemble_activity(
    counters: impl IntoIterator<Item = (i64, String, i64)>,
    deliveries: impl IntoIterator<Item = (i64, i64)>,
) -> StoreResult<Vec<ActivityHour>> {
    use std::collections::BTreeMap;
    let mut hours: BTreeMap<i64, ActivityHour> = BTreeMap::new();
    fn at(hours: &mut BTreeMap<i64, ActivityHour>, h: i64) -> StoreResult<&mut ActivityHour> {
        let hour = crate::from_millis(h)?;
        Ok(hours.entry(h).or_insert_with(|| ActivityHour {
            hour,
            ..ActivityHour::default()
        }))
    }
    for (h, kind, n) in counters {
        let n = u64::try_from(n).unwrap_or(0);
        let e = at(&mut hours, h)?;
        match kind.as_str() {
            "webhook_received" => e.received += n,
            "webhook_refused" => e.refused += n,
            "refresh_failed" => e.refresh_failed += n,
            _ => {}
        }
    }
    for (done, latency) in deliveries {
        let e = at(&mut hours, done.div_euclid(HOUR_MS) * HOUR_MS)?;
        e.delivered += 1;
        e.latencies_ms.push(u64::try_from(latency).unwrap_or(0));
    }
    let mut out: Vec<ActivityHour> = hours.into_values().collect();
    for h in &mut out {
        h.latencies_ms.sort_unstable();
    }
    Ok(out)
}
