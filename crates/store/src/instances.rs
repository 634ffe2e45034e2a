//! Membership of the instances that share one database: each `serve` process beats
//! (upserts its row) every heartbeat and reads back who else is live, with the demand
//! each reported per rate-limit key. The engine splits every shared rate limit among
//! the live instances from that (see `engine::instances`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::StoreResult;

/// One heartbeat of an instance: who it is, when it beat, until when it counts as live
/// without another beat, and its demand per rate-limit key.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceBeat {
    /// The instance's id (random per process).
    pub id: String,
    /// When the instance started (kept from its first beat).
    pub started_at: DateTime<Utc>,
    /// When it beat: the time every liveness comparison of this beat uses.
    pub at: DateTime<Utc>,
    /// Live until then without another beat (`at` + a few heartbeats).
    pub expires_at: DateTime<Utc>,
    /// Demand per rate-limit key (`integration:<id>`, `destination:<id>`), in requests
    /// per second; keys it has no demand for are absent.
    pub demand: BTreeMap<String, f64>,
}

/// A live instance, as a beat reads it back.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveInstance {
    /// Its id.
    pub id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last beat.
    pub last_seen: DateTime<Utc>,
    /// Live until then without another beat.
    pub expires_at: DateTime<Utc>,
    /// Its demand per rate-limit key at its last beat.
    pub demand: BTreeMap<String, f64>,
}

/// The instances sharing the database.
#[async_trait]
pub trait InstanceStore: Send + Sync {
    /// Records `beat` (inserts the instance's row, or replaces its `last_seen`,
    /// `expires_at` and demand, keeping `started_at`), removes the rows of other
    /// instances that expired at or before `beat.at`, and returns every live instance
    /// (`expires_at` after `beat.at`), the caller included, ordered by id. One small
    /// write: it is the only database cost of shared rate limits.
    async fn beat_instance(&self, beat: &InstanceBeat) -> StoreResult<Vec<LiveInstance>>;
    /// Removes the instance's row (graceful shutdown: the others take its share at their
    /// next beat); whether there was one.
    async fn leave_instance(&self, id: &str) -> StoreResult<bool>;
}

/// A demand map as stored (a JSON object of numbers).
pub fn demand_to_json(demand: &BTreeMap<String, f64>) -> String {
    serde_json::to_string(demand).unwrap_or_else(|_| "{}".to_owned())
}

/// A stored demand map; non-finite or negative values are dropped.
pub fn demand_from_json(text: &str) -> StoreResult<BTreeMap<String, f64>> {
    let mut m: BTreeMap<String, f64> = serde_json::from_str(text)
        .map_err(|e| crate::StoreError::Corrupt(format!("instances.demand: {e}")))?;
    m.retain(|_, v| v.is_finite() && *v >= 0.0);
    Ok(m)
}
