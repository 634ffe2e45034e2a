//! Audit log records and the hash chain that makes edits and deletions detectable.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry to append. It must never contain a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When it happened (millisecond precision is kept).
    pub at: DateTime<Utc>,
    /// Who did it: `api-key:<id>`, `cli:<user>`, `system`, `signal:SIGHUP`.
    pub actor: String,
    /// What was done, dotted: `api_key.create`, `keys.rotate`, `config.reload`.
    pub action: String,
    /// What it was done to (an id), or empty.
    pub target: String,
    /// Extra facts (names, counts), as a JSON object.
    pub details: serde_json::Value,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Hash of the previous row ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// Hash of this row, see [`chain_hash`].
    pub hash: String,
}

/// Where the last verification of the chain ended, so that the next one need only read
/// the rows added since ([`AuditStore::audit_checkpoint`]). Every row up to `seq` was
/// checked at least once (`full_seq` and before by one walk from the first row, at
/// `full_at`; the rest as they were added, each chained onto the row before); a row
/// edited after its check is found by the next full walk, not by a check from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheckpoint {
    /// The last row verified.
    pub seq: i64,
    /// Its hash: the next check starts by finding that row unchanged.
    pub hash: String,
    /// The last row of the last walk of the whole chain.
    pub full_seq: i64,
    /// When that walk ended.
    pub full_at: DateTime<Utc>,
    /// When the last check (a walk or from the checkpoint before) ended.
    pub checked_at: DateTime<Utc>,
}

/// The hash of a row: SHA-256 over the previous hash and every field, each
/// length-prefixed, hex encoded. `details` is hashed in its compact JSON form (object
/// keys sorted), which is also how it is stored.
pub fn chain_hash(prev_hash: &str, seq: i64, entry: &AuditEntry) -> String {
    let details = entry.details.to_string();
    let mut h = Sha256::new();
    h.update(b"switchboard.audit.v1");
    for part in [
        prev_hash.as_bytes(),
        &seq.to_be_bytes(),
        &entry.at.timestamp_millis().to_be_bytes(),
        entry.actor.as_bytes(),
        entry.action.as_bytes(),
        entry.target.as_bytes(),
        details.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}
