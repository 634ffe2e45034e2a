//! What `switchboard status` reads beyond the other traits: short-lived activity
//! counters in time buckets, the last `oauth test` result of each integration, and
//! per-integration summaries of the delivery queue, the events and the connections.
//!
//! Counters are written in batches by each process's in-process aggregator (never one
//! write per counted request), added to the bucket's row so that several processes
//! sharing the database add up, read back summed over a window, and pruned once old.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// A count to add to one bucket of one counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterDelta {
    /// The integration counted.
    pub integration: String,
    /// What is counted (`webhook_received`, `webhook_refused`, `refresh_failed`…).
    pub kind: String,
    /// The reason or outcome (`bad_signature`…), empty when the kind has none.
    pub reason: String,
    /// The start of the bucket.
    pub bucket: DateTime<Utc>,
    /// How many to add.
    pub count: u64,
}

/// A counter summed over a window of buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterSum {
    /// The integration.
    pub integration: String,
    /// What is counted.
    pub kind: String,
    /// The reason or outcome.
    pub reason: String,
    /// The sum over the window.
    pub count: u64,
}

/// The last `oauth test` of an integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthTestRecord {
    /// The integration tested.
    pub integration: String,
    /// Whether every check passed.
    pub ok: bool,
    /// The names of the checks that failed.
    pub failed_checks: Vec<String>,
    /// When it ran.
    pub tested_at: DateTime<Utc>,
}

/// The delivery queue of one integration's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrationQueue {
    /// The integration.
    pub integration: String,
    /// Deliveries waiting for an attempt.
    pub pending: u64,
    /// Deliveries being sent.
    pub in_flight: u64,
    /// Dead deliveries.
    pub dead: u64,
    /// Creation time of the oldest pending or in-flight delivery.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// Reads and writes of the status screen.
#[async_trait]
pub trait StatusStore: Send + Sync {
    /// Adds every delta to its bucket (created at zero when new), in one transaction.
    async fn add_counters(&self, deltas: &[CounterDelta]) -> StoreResult<()>;
    /// Every counter summed over the buckets starting at or after `since`, ordered by
    /// integration, kind and reason.
    async fn counter_sums(&self, since: DateTime<Utc>) -> StoreResult<Vec<CounterSum>>;
    /// Deletes the buckets starting before `before`; returns how many.
    async fn prune_counters(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Keeps `r` as the integration's last `oauth test`, replacing the one before.
    async fn record_oauth_test(&self, r: &OAuthTestRecord) -> StoreResult<()>;
    /// The last `oauth test` of every integration tested, by integration.
    async fn oauth_tests(&self) -> StoreResult<Vec<OAuthTestRecord>>;
    /// Deliveries waiting, being sent or dead, per integration of their event, by
    /// integration (integrations without any are left out).
    async fn integration_queues(&self) -> StoreResult<Vec<IntegrationQueue>>;
    /// When the integration's newest event that came from outside (scheme other than
    /// `internal`) was received, by insertion order.
    async fn last_external_event(&self, integration: &str) -> StoreResult<Option<DateTime<Utc>>>;
    /// Per integration, connections whose last refresh failed (`refresh_failures > 0`)
    /// and that changed at or after `since`, by integration.
    async fn failing_connections(&self, since: DateTime<Utc>) -> StoreResult<Vec<(String, u64)>>;
}
