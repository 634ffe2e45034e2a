//! `GET /api/status` (admin): the deployment's health at a glance.
//!
//! ```no_run
//! # async fn demo(sb: client::Client) -> Result<(), client::ClientError> {
//! let status = sb.status().await?;
//! for reason in &status.reasons {
//!     eprintln!("needs a person: {reason}");
//! }
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Client, ClientError};

/// The deployment's health.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Status {
    /// The server's version.
    pub version: String,
    /// When this was computed.
    pub generated_at: DateTime<Utc>,
    /// Whether something needs a person.
    pub attention: bool,
    /// Every reason something needs a person, prefixed with its integration.
    pub reasons: Vec<String>,
    /// The database answers.
    pub ready: Readiness,
    /// Open findings of the security self-audit.
    pub security_findings: u32,
    /// Per configured integration.
    pub integrations: Vec<IntegrationHealth>,
    /// The thresholds that decided `attention`.
    pub thresholds: Thresholds,
}

/// The server's own readiness.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Readiness {
    /// The database answers.
    pub ready: bool,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Why it is not ready.
    pub error: Option<String>,
    /// Needs a person.
    pub attention: bool,
}

/// The thresholds in force.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Thresholds {
    /// `needs_reauth` connections tolerated in 24 h.
    pub needs_reauth_24h_max: u64,
    /// Refresh failures tolerated in 24 h.
    pub refresh_failures_24h_max: u64,
    /// Refused share of the last hour's webhooks tolerated, in percent…
    pub refused_percent_max: f64,
    /// …once at least this many were refused.
    pub refused_min: u64,
    /// Age of the oldest pending delivery tolerated, in seconds.
    pub oldest_pending_max_secs: u64,
    /// Dead deliveries tolerated.
    pub dead_max: u64,
}

/// One integration's health.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IntegrationHealth {
    /// Its id.
    pub id: String,
    /// Its provider.
    pub provider: String,
    /// Disabled as a whole.
    pub disabled: bool,
    /// Webhook intake blocked.
    pub webhooks_blocked: bool,
    /// Something here needs a person.
    pub attention: bool,
    /// Why.
    pub reasons: Vec<String>,
    /// Connections by status, refreshes in the last 24 h.
    pub connections: ConnectionsHealth,
    /// Webhooks in the last hour.
    pub webhooks: WebhooksHealth,
    /// The deliveries of its events.
    pub deliveries: DeliveriesHealth,
    /// The destinations its events go to.
    pub destinations: Vec<DestinationHealth>,
    /// The launch checklist.
    pub checklist: Vec<ChecklistItem>,
    /// Open findings of the security self-audit about it.
    pub security_findings: u32,
}

/// Connections by status, and refreshes in the last 24 h.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ConnectionsHealth {
    /// Working.
    pub active: u64,
    /// Waiting for the end user to connect again.
    pub needs_reauth: u64,
    /// Revoked.
    pub revoked: u64,
    /// In error.
    pub error: u64,
    /// Refresh failures in the last 24 h.
    pub refresh_failures_24h: u64,
    /// Of which the connection went `needs_reauth`.
    pub needs_reauth_24h: u64,
    /// Connections whose last refresh failed, changed in the last 24 h.
    pub failing_now: u64,
    /// Needs a person.
    pub attention: bool,
    /// Why.
    pub reason: Option<String>,
}

/// Webhooks in the last hour.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct WebhooksHealth {
    /// Accepted (stored or duplicate).
    pub received_1h: u64,
    /// Refused.
    pub refused_1h: u64,
    /// Refused, by reason.
    pub refused_by_reason: BTreeMap<String, u64>,
    /// When the newest verified webhook was received.
    pub last_received_at: Option<DateTime<Utc>>,
    /// Needs a person.
    pub attention: bool,
    /// Why.
    pub reason: Option<String>,
}

/// The deliveries of the integration's events.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DeliveriesHealth {
    /// Waiting or being sent.
    pub pending: u64,
    /// Of which being sent.
    pub in_flight: u64,
    /// Age of the oldest waiting one, in seconds.
    pub oldest_pending_secs: Option<u64>,
    /// Dead.
    pub dead: u64,
    /// Needs a person.
    pub attention: bool,
    /// Why.
    pub reason: Option<String>,
}

/// A destination of the integration's events.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DestinationHealth {
    /// Its id.
    pub id: String,
    /// Deliveries are sent.
    pub enabled: bool,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// Its circuit breaker is open, as the answering instance sees it.
    pub breaker_open: bool,
    /// Failures in a row, as the answering instance sees them.
    pub breaker_failures: u32,
    /// Needs a person.
    pub attention: bool,
    /// Why.
    pub reason: Option<String>,
}

/// One item of the launch checklist.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChecklistItem {
    /// `oauth_tested`, `webhook_secret`, `webhook_verified`, `destinations`, `mappings`
    /// or `security_findings`.
    pub check: String,
    /// `ok`, `missing` or `not_applicable`.
    pub state: String,
    /// What was found.
    pub detail: String,
    /// A missing item needs a person once the integration is live.
    pub required: bool,
    /// Needs a person.
    pub attention: bool,
}

impl Client {
    /// The deployment's health at a glance (admin).
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.send(self.http.get(self.url("/api/status"))).await
    }
}
