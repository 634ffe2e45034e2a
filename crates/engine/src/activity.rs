//! Activity counters for `switchboard status`: webhooks received and refused (by
//! reason) and token refresh failures (by outcome), per integration, in one-minute
//! buckets on the engine's clock.
//!
//! Counting costs a map update in memory; [`Engine::flush_activity`] adds what was
//! counted to the database (one upsert per touched bucket, in one transaction), every
//! [`FLUSH_EVERY`] from [`Engine::run_activity_flusher`] and before a status is read. A
//! flood of refused webhooks therefore never becomes a flood of writes, and instances
//! sharing a database add up. A crash loses at most the last few seconds of counts;
//! these are a status screen's numbers, not the record (events and the audit log are).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use store::CounterDelta;

use crate::{Engine, EngineResult};

/// Width of a counter bucket.
pub const BUCKET: Duration = Duration::from_secs(60);
/// How often the flusher writes the counts.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// Buckets older than this are deleted.
pub const KEEP: Duration = Duration::from_secs(48 * 3600);
/// How often old buckets are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Most distinct (integration, kind, reason, bucket) keys held between flushes; more
/// are dropped (and logged): only configured integrations and fixed reasons are counted,
/// so this is reached only when the database has been unreachable for a long time.
const MAX_KEYS: usize = 50_000;

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A webhook accepted (reason: `stored` or `duplicate`).
    WebhookReceived,
    /// A webhook refused (reason: the `switchboard_webhooks_total` outcome).
    WebhookRefused,
    /// A token refresh that failed (reason: the refresh outcome, `invalid_grant` when the
    /// connection then needs the end user again).
    RefreshFailed,
}

impl Kind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::WebhookReceived => "webhook_received",
            Kind::WebhookRefused => "webhook_refused",
            Kind::RefreshFailed => "refresh_failed",
        }
    }
}

type Key = (String, Kind, &'static str, i64);

/// The counts not yet written.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    pending: Mutex<HashMap<Key, u64>>,
    /// Serialises flushes, so that counts put back after a failure are not reordered.
    flushing: tokio::sync::Mutex<Option<Instant>>,
}

/// The start of the bucket holding `t`, in milliseconds.
pub fn bucket_of(t: DateTime<Utc>) -> i64 {
    let w = BUCKET.as_millis() as i64;
    t.timestamp_millis().div_euclid(w) * w
}

impl Activity {
    fn add(&self, key: Key, n: u64) {
        let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let len = map.len();
        match map.get_mut(&key) {
            Some(c) => *c = c.saturating_add(n),
            None if len < MAX_KEYS => {
                map.insert(key, n);
            }
            None => tracing::debug!("activity counters full; a count was dropped"),
        }
    }

    /// Keys waiting for a flush.
    #[cfg(test)]
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn take(&self) -> HashMap<Key, u64> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn put_back(&self, counts: HashMap<Key, u64>) {
        for (k, n) in counts {
            self.add(k, n);
        }
    }
}

impl Engine {
    /// Counts one occurrence of `kind` for a configured integration, at the engine's
    /// time. Memory only; see the module documentation.
    pub(crate) fn count_activity(&self, integration: &str, kind: Kind, reason: &'static str) {
        if self.config().integration(integration).is_none() {
            return;
        }
        self.inner.activity.add(
            (integration.to_owned(), kind, reason, bucket_of(self.now())),
            1,
        );
    }

    /// Writes the counts made since the last flush to the database (they are put back
    /// and tried again next time when that fails), and prunes buckets older than
    /// [`KEEP`] every ten minutes.
    pub async fn flush_activity(&self) -> EngineResult<()> {
        let mut last_prune = self.inner.activity.flushing.lock().await;
        let counts = self.inner.activity.take();
        if !counts.is_empty() {
            let deltas: Vec<CounterDelta> = counts
                .iter()
                .filter_map(|((integration, kind, reason, bucket), n)| {
                    Some(CounterDelta {
                        integration: integration.clone(),
                        kind: kind.as_str().to_owned(),
                        reason: (*reason).to_owned(),
                        bucket: DateTime::from_timestamp_millis(*bucket)?,
                        count: *n,
                    })
                })
                .collect();
            if let Err(e) = self.inner.store.add_counters(&deltas).await {
                self.inner.activity.put_back(counts);
                return Err(e.into());
            }
        }
        let now = self.instant();
        if last_prune.is_none_or(|t| now.saturating_duration_since(t) >= PRUNE_EVERY) {
            let before = self.now() - chrono::Duration::from_std(KEEP).unwrap_or_default();
            self.inner.store.prune_counters(before).await?;
            *last_prune = Some(now);
        }
        Ok(())
    }

    /// Flushes the activity counters every [`FLUSH_EVERY`] until `shutdown` resolves,
    /// then once more.
    pub async fn run_activity_flusher(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.clock().sleep(FLUSH_EVERY) => {}
            }
            if let Err(e) = self.flush_activity().await {
                tracing::warn!(error = %e, "writing the activity counters failed; retrying");
            }
        }
        if let Err(e) = self.flush_activity().await {
            tracing::warn!(error = %e, "writing the activity counters at shutdown failed");
        }
    }
}
