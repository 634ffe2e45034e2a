//! Personal data (admin): `POST /api/retention/purge`, `POST /api/end-users/{id}/erase`,
//! `GET /api/end-users/{id}/export`.
//!
//! Purging expired payloads now, call after call while more remain:
//!
//! ```no_run
//! # async fn demo(sb: client::Client) -> Result<(), client::ClientError> {
//! loop {
//!     let r = sb.purge_payloads(false, 1000).await?;
//!     println!("removed {} payloads", r.events);
//!     if !r.more {
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Client, ClientError, Connection};

/// What a purge did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct PurgeResult {
    /// Whether this was only a count.
    pub dry_run: bool,
    /// Events whose payload was removed (would be).
    pub events: u64,
    /// Whether more expired payloads remain: call again.
    pub more: bool,
}

/// A connection an erasure takes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ErasedConnection {
    /// Its id.
    pub id: String,
    /// Its integration.
    pub integration: String,
    /// Whether the provider confirmed the revocation.
    pub revoked_at_provider: bool,
}

/// What an erasure removed (would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct ErasureCounts {
    /// Connections deleted with their sealed credentials.
    pub connections: u64,
    /// Of which the provider confirmed the revocation.
    pub revoked_at_provider: u64,
    /// Events whose payload was removed.
    pub events: u64,
    /// Consent records rewritten without personal data.
    pub consent_records: u64,
    /// Connect sessions and authorization states in flight deleted.
    pub flows: u64,
}

/// The answer to an erasure.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Erasure {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Erased before, nothing left: nothing was done.
    pub already_erased: bool,
    /// The deployment's keyed hash of the end user id (what the audit row keeps).
    pub subject_hash: String,
    /// The connections taken.
    pub connections: Vec<ErasedConnection>,
    /// Counts.
    pub counts: ErasureCounts,
}

/// One change of a connection's consent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ConsentRecord {
    /// `cns_…`.
    pub id: String,
    /// The connection.
    pub connection_id: Option<String>,
    /// The integration.
    pub integration: String,
    /// `connect`, `reconnect`, `scope_loss`, `revoke` or `erasure`.
    pub kind: String,
    /// Scopes asked for.
    pub scopes_requested: Vec<String>,
    /// Scopes granted after the change.
    pub scopes_granted: Vec<String>,
    /// The connect session (a reference, never its token).
    pub connect_session: Option<String>,
    /// The origin the browser returned to.
    pub return_origin: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A delivery's outcome in an export.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ExportedDelivery {
    /// `dlv_…`.
    pub id: String,
    /// The destination.
    pub destination: String,
    /// `pending`, `in_flight`, `delivered` or `dead`.
    pub status: String,
    /// Attempts.
    pub attempts: u32,
    /// Last HTTP status.
    pub last_status: Option<u16>,
    /// When delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// An event in an export.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ExportedEvent {
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
    /// The app's event type.
    pub mapped_type: Option<String>,
    /// The body as text, while kept.
    pub body: Option<String>,
    /// The body in base64 when it is not UTF-8.
    pub body_base64: Option<String>,
    /// When its payload was removed.
    pub payload_purged_at: Option<DateTime<Utc>>,
    /// Its deliveries.
    pub deliveries: Vec<ExportedDelivery>,
}

/// Everything the server holds about one end user.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EndUserExport {
    /// The end user.
    pub end_user_id: String,
    /// When the export was made.
    pub exported_at: DateTime<Utc>,
    /// Connections, never secrets.
    pub connections: Vec<Connection>,
    /// Consent records.
    pub consent_records: Vec<ConsentRecord>,
    /// Events routed to the connections.
    pub events: Vec<ExportedEvent>,
}

impl Client {
    /// Removes up to `limit` payloads past their retention now (admin); with
    /// `dry_run`, counts. Call again while [`PurgeResult::more`].
    pub async fn purge_payloads(
        &self,
        dry_run: bool,
        limit: u32,
    ) -> Result<PurgeResult, ClientError> {
        self.send(
            self.http
                .post(self.url("/api/retention/purge"))
                .json(&serde_json::json!({ "dry_run": dry_run, "limit": limit })),
        )
        .await
    }

    /// Erases an end user (admin); with `dry_run`, lists what would go.
    /// `end_user_not_found` when nothing is held about them.
    pub async fn erase_end_user(&self, id: &str, dry_run: bool) -> Result<Erasure, ClientError> {
        self.send(
            self.http
                .post(self.api(&["end-users", id, "erase"])?)
                .json(&serde_json::json!({ "dry_run": dry_run })),
        )
        .await
    }

    /// Everything held about an end user, as one document (admin).
    pub async fn export_end_user(&self, id: &str) -> Result<EndUserExport, ClientError> {
        self.send(self.http.get(self.api(&["end-users", id, "export"])?))
            .await
    }
}
