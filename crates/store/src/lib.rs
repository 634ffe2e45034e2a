//! The storage interface.
//!
//! The engine talks to storage only through the traits here. Each backend
//! (`store-sqlite`, `store-postgres`) implements them and passes the one suite in
//! `store-tests`. Implementations keep what they are given: secrets arrive already sealed
//! by the vault, and API keys arrive already hashed. [`transfer`] moves whole databases
//! between backends, row by row, as stored.
//!
//! Time is stored as milliseconds since the Unix epoch so that every backend round-trips
//! it exactly (the audit chain hashes it).

#![deny(missing_docs)]

pub mod audit;
pub mod changes;
pub mod connections;
pub mod console;
pub mod deliveries;
pub mod events;
pub mod instances;
pub mod privacy;
pub mod status;
pub mod transfer;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use audit::{AuditCheckpoint, AuditEntry, AuditRecord, GENESIS_HASH, chain_hash};
pub use changes::{Change, ChangeFeed};
pub use connections::{
    ConnectSession, Connection, ConnectionFilter, ConnectionStatus, ConnectionStore, HealthCheck,
    HealthResult, Lease, OAuthState, RefreshCommit, SealedCredentials, SealedOAuthState, Upsert,
    credentials_slot, signing_key_slot,
};
pub use console::{ActivityHour, ConsoleLoginRecord, ConsoleSessionRecord, ConsoleStore};
pub use deliveries::{
    Attempt, Claimed, Delivery, DeliveryFilter, DeliveryStatus, DeliveryStore, EXCERPT_MAX_BYTES,
    EventRouting, Failure, Mapped, NewAttempt, QueueStats, ReplayCount, ReplayFilter, ReplayStatus,
    Routing, cap_excerpt,
};
pub use events::{
    Event, EventRow, EventStore, InsertOutcome, IntegrationFlags, IntegrationStateStore,
};
pub use instances::{InstanceBeat, InstanceStore, LiveInstance};
pub use privacy::{
    ConsentKind, ConsentRecord, ErasureRecord, EventRef, PrivacyStore, PurgeBatch, PurgeReason,
    PurgeSelection, PurgeState,
};
pub use status::{CounterDelta, CounterSum, IntegrationQueue, OAuthTestRecord, StatusStore};

/// Errors of a storage backend. Messages never include stored secrets. `Clone`: one
/// failed group commit answers each of its callers with the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an I/O error.
    #[error("database unavailable: {0}; check database_url and that the database is running")]
    Unavailable(String),
    /// A uniqueness or concurrency conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data does not have the expected shape.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Applying migrations failed.
    #[error("database migration failed: {0}; the database was left at its last good version")]
    Migration(String),
    /// Any other backend error.
    #[error("database error: {0}")]
    Backend(String),
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// Milliseconds since the Unix epoch, as stored.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_millis`].
pub fn from_millis(ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} is out of range")))
}

/// Current time truncated to milliseconds, so that what is stored equals what was used.
pub fn now() -> DateTime<Utc> {
    from_millis(to_millis(Utc::now())).unwrap_or_else(|_| Utc::now())
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Everything, including admin routes (audit log, API keys).
    Admin,
    /// The app backend's routes (connections, tokens, events).
    App,
}

impl Scope {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::App => "app",
        }
    }

    /// Parses a stored or user-given name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Scope::Admin),
            "app" => Some(Scope::App),
            _ => None,
        }
    }

    /// Whether a key of this scope may call a route that requires `required`.
    pub fn allows(self, required: Scope) -> bool {
        self == Scope::Admin || self == required
    }
}

/// A stored API key. Only the SHA-256 of its secret part is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public id, also embedded in the key itself (`sb_<id>_<secret>`).
    pub id: String,
    /// Operator-chosen name.
    pub name: String,
    /// What the key may do.
    pub scope: Scope,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last successful authentication, if any.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation time; a revoked key never authenticates again.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// API keys.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Inserts a new key; [`StoreError::Conflict`] if the id exists.
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()>;
    /// The key with this id, revoked or not.
    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>>;
    /// Every key, oldest first.
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Marks a key revoked; false if it does not exist or was already revoked.
    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Records a successful use.
    async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()>;
    /// Number of keys that are not revoked.
    async fn count_active_api_keys(&self) -> StoreResult<u64>;
}

/// Where a sealed secret belongs: it is the vault's associated data, so a sealed value
/// only opens at the same place.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SecretSlot {
    /// Owning aggregate (e.g. `connections`).
    pub owner: String,
    /// The owner's row id.
    pub owner_id: String,
    /// Which secret of the owner (e.g. `access_token`).
    pub name: String,
}

impl SecretSlot {
    /// Builds a slot.
    pub fn new(
        owner: impl Into<String>,
        owner_id: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            owner: owner.into(),
            owner_id: owner_id.into(),
            name: name.into(),
        }
    }
}

/// A sealed secret as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// Where it belongs.
    pub slot: SecretSlot,
    /// Hex id of the key that sealed it (also inside the ciphertext; kept in a column so
    /// rotation can find what is left to do with an index).
    pub key_id: String,
    /// The vault's sealed bytes.
    pub ciphertext: Vec<u8>,
    /// Incremented by every write; used for compare-and-swap.
    pub version: i64,
    /// Last write.
    pub updated_at: DateTime<Utc>,
}

/// Sealed secrets of every aggregate, in one place so that key rotation is uniform.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Inserts or replaces the secret in `slot`; returns the new version.
    async fn put_secret(
        &self,
        slot: &SecretSlot,
        key_id: &str,
        ciphertext: &[u8],
    ) -> StoreResult<i64>;
    /// Inserts the secret in `slot` only if the slot is empty; false (and nothing
    /// written) if it already holds one. Of two concurrent inserts exactly one wins.
    async fn insert_secret_if_absent(
        &self,
        slot: &SecretSlot,
        key_id: &str,
        ciphertext: &[u8],
    ) -> StoreResult<bool>;
    /// The secret in `slot`.
    async fn get_secret(&self, slot: &SecretSlot) -> StoreResult<Option<SealedSecret>>;
    /// Deletes the secret; false if there was none.
    async fn delete_secret(&self, slot: &SecretSlot) -> StoreResult<bool>;
    /// Deletes every secret of one owner row; returns how many.
    async fn delete_secrets_of(&self, owner: &str, owner_id: &str) -> StoreResult<u64>;
    /// How many secrets are sealed under each key id.
    async fn secret_key_ids(&self) -> StoreResult<Vec<(String, u64)>>;
    /// Number of secrets not sealed under `key_id`.
    async fn count_secrets_not_under(&self, key_id: &str) -> StoreResult<u64>;
    /// Up to `limit` secrets not sealed under `key_id`, ordered by slot, strictly after
    /// `after` when given (a cursor, so a batch that cannot be rewritten is not retried
    /// forever).
    async fn secrets_not_under(
        &self,
        key_id: &str,
        after: Option<&SecretSlot>,
        limit: u32,
    ) -> StoreResult<Vec<SealedSecret>>;
    /// Replaces the secret only if it is still at `expected_version`; false if it changed
    /// meanwhile (a newer value was written and must not be overwritten).
    async fn replace_secret_if(
        &self,
        slot: &SecretSlot,
        expected_version: i64,
        key_id: &str,
        ciphertext: &[u8],
    ) -> StoreResult<bool>;
}

/// The append-only, hash-chained audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry, chaining it to the current head atomically (concurrent appends
    /// from several processes serialise).
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<AuditRecord>;
    /// Newest first, strictly before sequence number `before` when given.
    async fn list_audit_desc(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>>;
    /// Oldest first, strictly after sequence number `after` (0 for the start).
    async fn list_audit_asc(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditRecord>>;
    /// The recorded head of the chain (sequence number and hash of the last row).
    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>>;
    /// Where the last verification ended, if one is recorded (none after a verification
    /// that found the chain broken).
    async fn audit_checkpoint(&self) -> StoreResult<Option<AuditCheckpoint>>;
    /// Records `checkpoint`. With `replaces`, only if the recorded one still ends at that
    /// row (a check that started from it; a concurrent clear or move wins), and whether
    /// it was written; without, unconditionally (a walk of the whole chain).
    async fn save_audit_checkpoint(
        &self,
        checkpoint: &AuditCheckpoint,
        replaces: Option<i64>,
    ) -> StoreResult<bool>;
    /// Forgets the checkpoint: the next verification walks the whole chain.
    async fn clear_audit_checkpoint(&self) -> StoreResult<()>;
}

/// A complete storage backend.
#[async_trait]
pub trait Store:
    ApiKeyStore
    + SecretStore
    + AuditStore
    + EventStore
    + IntegrationStateStore
    + ConnectionStore
    + DeliveryStore
    + InstanceStore
    + StatusStore
    + PrivacyStore
    + ConsoleStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Short backend name (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;
    /// Checks that the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// Applies pending migrations; returns how many were applied.
    async fn migrate(&self) -> StoreResult<usize>;
    /// Closes the connections, waiting for those in use to be returned.
    async fn close(&self);
    /// Row-level access to the whole database, for `switchboard db copy`.
    fn transfer(&self) -> &dyn transfer::Transfer;
    /// A feed of the changes committed to the database by every process sharing it
    /// (see [`changes`]), or `None` when the backend cannot tell them: then another
    /// process's changes reach this one's caches when their entries expire, and its
    /// delivery worker when it polls. Each call is a subscription of its own; the first
    /// change it yields is [`Change::Resync`], once it listens.
    fn subscribe(&self) -> Option<ChangeFeed>;
}
