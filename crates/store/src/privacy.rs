//! Personal data: payload retention, erasure of one end user, and consent records.
//!
//! An event whose payload is purged keeps its metadata (ids, integration, times, types,
//! scheme, mapping status and type, deliveries and their outcomes) and loses its body,
//! kept headers, mapped data and mapping error; `payload_purged_at` and `purge_reason`
//! say when and why. Every write here is idempotent and touches a bounded number of
//! rows in one short transaction, so the sweep can run on several instances at once and
//! never holds the write lock for long.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// Why an event's payload was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurgeReason {
    /// Older than its integration's `payload_retention_days`.
    Retention,
    /// Its end user was erased.
    Erasure,
}

impl PurgeReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retention => "retention",
            Self::Erasure => "erasure",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "retention" => Some(Self::Retention),
            "erasure" => Some(Self::Erasure),
            _ => None,
        }
    }
}

/// Which events a retention batch takes: received before `received_before`, of
/// `integration` when given, else of any integration not in `except`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeSelection {
    /// Only this integration.
    pub integration: Option<String>,
    /// With `integration` `None`: every integration except these (the ones with a
    /// retention of their own).
    pub except: Vec<String>,
    /// The cutoff: events received strictly before it.
    pub received_before: DateTime<Utc>,
}

/// What one purge batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeBatch {
    /// Events whose payload was removed (in a dry run: would be).
    pub events: u64,
    /// Whether the batch was full, so more may remain.
    pub more: bool,
}

/// When and why an event's payload was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeState {
    /// When.
    pub at: DateTime<Utc>,
    /// Why.
    pub reason: PurgeReason,
}

/// What happened to a connection's consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    /// A first grant (authorization or a direct connect).
    Connect,
    /// A grant again for an existing connection.
    Reconnect,
    /// A refresh granted fewer scopes than before.
    ScopeLoss,
    /// Disconnected (revoked at the provider as far as it could be).
    Revoke,
    /// The end user was erased; the record keeps no personal data.
    Erasure,
}

impl ConsentKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::Connect,
        Self::Reconnect,
        Self::ScopeLoss,
        Self::Revoke,
        Self::Erasure,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Reconnect => "reconnect",
            Self::ScopeLoss => "scope_loss",
            Self::Revoke => "revoke",
            Self::Erasure => "erasure",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One change of a connection's consent. After an erasure, `connection_id`,
/// `end_user_id`, `connect_session` and `return_origin` are `None` and `subject_hash`
/// holds the keyed hash of the end user id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// `cns_` + 32 hex (UUID v7, so ids sort by time).
    pub id: String,
    /// The connection.
    pub connection_id: Option<String>,
    /// The app's id of the end user.
    pub end_user_id: Option<String>,
    /// Keyed hash of the end user id, once erased.
    pub subject_hash: Option<String>,
    /// The integration.
    pub integration: String,
    /// What happened.
    pub kind: ConsentKind,
    /// Scopes asked for.
    pub scopes_requested: Vec<String>,
    /// Scopes the provider granted (after the change).
    pub scopes_granted: Vec<String>,
    /// The connect session it went through: a reference derived from the session's
    /// stored hash, never its token.
    pub connect_session: Option<String>,
    /// The origin the browser returned to (or the opener's), when there was one.
    pub return_origin: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The erasure of one end user, as kept after it: the keyed hash of the id, when, and
/// what went (counts only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRecord {
    /// Keyed hash of the end user id.
    pub subject_hash: String,
    /// When it was first erased.
    pub erased_at: DateTime<Utc>,
    /// What went, as JSON (`{"connections": n, …}`).
    pub counts: serde_json::Value,
}

/// An event of an end user, as export and erasure list it: metadata, never the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    /// `evt_…`.
    pub id: String,
    /// Its integration.
    pub integration: String,
    /// Its connection.
    pub connection_id: Option<String>,
    /// When received.
    pub received_at: DateTime<Utc>,
    /// The provider's event id.
    pub provider_event_id: Option<String>,
    /// The provider's event type.
    pub event_type: Option<String>,
    /// The app's event type, when mapped.
    pub mapped_type: Option<String>,
    /// Body size in bytes (0 once purged).
    pub body_bytes: u64,
    /// When its payload was removed.
    pub payload_purged_at: Option<DateTime<Utc>>,
    /// Why.
    pub purge_reason: Option<PurgeReason>,
}

/// Retention, erasure and consent.
#[async_trait]
pub trait PrivacyStore: Send + Sync {
    /// Removes the payload of up to `limit` events that `sel` selects, oldest first,
    /// whose payload is still there, that are routed and have no delivery pending or in
    /// flight (their work is done), marking them purged at `at` for `retention`. One
    /// short transaction; running it twice, or on two instances at once, purges each
    /// event once. With `dry_run`, counts (up to `limit`) what it would take.
    async fn purge_expired_payloads(
        &self,
        sel: &PurgeSelection,
        limit: u32,
        dry_run: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<PurgeBatch>;

    /// Whether and why an event's payload was removed; `None` when it is there (or the
    /// event does not exist).
    async fn event_purge_state(&self, event_id: &str) -> StoreResult<Option<PurgeState>>;

    /// Events routed to any of these connections, by id, strictly after `after`, at
    /// most `limit`.
    async fn events_of_connections(
        &self,
        connection_ids: &[String],
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<EventRef>>;

    /// Erases the payload of up to `limit` events routed to these connections: as a
    /// retention purge (reason `erasure`), and the event forgets its connection and
    /// routing key; a delivery of it still pending is made dead (an unrouted event is
    /// marked routed and dropped, so nothing sends it). Returns how many; `more` when
    /// the batch was full. One short transaction.
    async fn erase_connection_events(
        &self,
        connection_ids: &[String],
        limit: u32,
        at: DateTime<Utc>,
    ) -> StoreResult<PurgeBatch>;

    /// Deletes the end user's connect sessions and authorization states in flight;
    /// returns how many rows went.
    async fn delete_flows_of(&self, end_user_id: &str) -> StoreResult<u64>;

    /// Appends a consent record.
    async fn insert_consent_record(&self, record: &ConsentRecord) -> StoreResult<()>;

    /// The end user's consent records, oldest first.
    async fn consent_records_of(&self, end_user_id: &str) -> StoreResult<Vec<ConsentRecord>>;

    /// Rewrites the end user's consent records without personal data (no end user,
    /// connection, session or origin; `subject_hash` set); returns how many.
    async fn anonymize_consent_records(
        &self,
        end_user_id: &str,
        subject_hash: &str,
    ) -> StoreResult<u64>;

    /// Records an erasure; false (and nothing changed) when this subject was erased
    /// before.
    async fn record_erasure(&self, record: &ErasureRecord) -> StoreResult<bool>;

    /// The erasure of this subject, if any.
    async fn get_erasure(&self, subject_hash: &str) -> StoreResult<Option<ErasureRecord>>;

    /// After an erasure: makes what it deleted unreadable in the database's files as far
    /// as the backend can (SQLite: freed content is zeroed as it goes, `secure_delete`,
    /// and the WAL is checkpointed and truncated here; PostgreSQL: the touched tables
    /// are vacuumed, while old WAL segments keep the data until they are recycled).
    async fn scrub_freed_space(&self) -> StoreResult<()>;
}
