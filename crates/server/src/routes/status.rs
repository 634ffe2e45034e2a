//! `GET /api/status` (admin): the deployment's health at a glance, per integration, as
//! `switchboard status` shows it. The engine builds the document
//! ([`engine::Engine::status`]); this module only types it for the API description.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use engine::status as st;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::routes::Routes;

/// The deployment's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    /// The server's version.
    pub version: String,
    /// When this was computed.
    pub generated_at: DateTime<Utc>,
    /// Whether something needs a person (`switchboard status` then exits 1).
    pub attention: bool,
    /// Every reason something needs a person, prefixed with its integration.
    pub reasons: Vec<String>,
    /// The database answers.
    pub ready: ReadinessView,
    /// Open findings of the security self-audit.
    pub security_findings: u32,
    /// Per configured integration, in configuration order.
    pub integrations: Vec<IntegrationHealthView>,
    /// The thresholds that decided `attention`.
    pub thresholds: ThresholdsView,
}

/// The server's own readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessView {
    /// The database answers.
    pub ready: bool,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Why it is not ready.
    pub error: Option<String>,
    /// Needs a person.
    pub attention: bool,
}

/// The thresholds in force (README, "Status thresholds").
#[derive(Debug, Serialize, ToSchema)]
pub struct ThresholdsView {
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
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationHealthView {
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
    pub connections: ConnectionsHealthView,
    /// Webhooks in the last hour.
    pub webhooks: WebhooksHealthView,
    /// The deliveries of its events.
    pub deliveries: DeliveriesHealthView,
    /// The destinations its events go to.
    pub destinations: Vec<DestinationHealthView>,
    /// The launch checklist.
    pub checklist: Vec<ChecklistItemView>,
    /// Open findings of the security self-audit about it.
    pub security_findings: u32,
}

/// Connections by status, and refreshes in the last 24 h.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionsHealthView {
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
    /// Of which the provider refused the grant (the connection went `needs_reauth`).
    pub needs_reauth_24h: u64,
    /// Connections whose last refresh failed, changed in the last 24 h.
    pub failing_now: u64,
    /// Needs a person.
    pub attention: bool,
    /// Why.
    pub reason: Option<String>,
}

/// Webhooks in the last hour.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhooksHealthView {
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
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveriesHealthView {
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
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationHealthView {
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
#[derive(Debug, Serialize, ToSchema)]
pub struct ChecklistItemView {
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

impl From<st::Status> for StatusView {
    fn from(s: st::Status) -> Self {
        Self {
            version: s.version,
            generated_at: s.generated_at,
            attention: s.attention,
            reasons: s.reasons,
            ready: ReadinessView {
                ready: s.ready.ready,
                backend: s.ready.backend,
                error: s.ready.error,
                attention: s.ready.attention,
            },
            security_findings: s.security_findings,
            integrations: s.integrations.into_iter().map(Into::into).collect(),
            thresholds: ThresholdsView {
                needs_reauth_24h_max: s.thresholds.needs_reauth_24h_max,
                refresh_failures_24h_max: s.thresholds.refresh_failures_24h_max,
                refused_percent_max: s.thresholds.refused_percent_max,
                refused_min: s.thresholds.refused_min,
                oldest_pending_max_secs: s.thresholds.oldest_pending_max_secs,
                dead_max: s.thresholds.dead_max,
            },
        }
    }
}

impl From<st::IntegrationHealth> for IntegrationHealthView {
    fn from(h: st::IntegrationHealth) -> Self {
        let c = h.connections;
        let w = h.webhooks;
        let d = h.deliveries;
        Self {
            id: h.id,
            provider: h.provider,
            disabled: h.disabled,
            webhooks_blocked: h.webhooks_blocked,
            attention: h.attention,
            reasons: h.reasons,
            connections: ConnectionsHealthView {
                active: c.active,
                needs_reauth: c.needs_reauth,
                revoked: c.revoked,
                error: c.error,
                refresh_failures_24h: c.refresh_failures_24h,
                needs_reauth_24h: c.needs_reauth_24h,
                failing_now: c.failing_now,
                attention: c.attention,
                reason: c.reason,
            },
            webhooks: WebhooksHealthView {
                received_1h: w.received_1h,
                refused_1h: w.refused_1h,
                refused_by_reason: w.refused_by_reason,
                last_received_at: w.last_received_at,
                attention: w.attention,
                reason: w.reason,
            },
            deliveries: DeliveriesHealthView {
                pending: d.pending,
                in_flight: d.in_flight,
                oldest_pending_secs: d.oldest_pending_secs,
                dead: d.dead,
                attention: d.attention,
                reason: d.reason,
            },
            destinations: h
                .destinations
                .into_iter()
                .map(|d| DestinationHealthView {
                    id: d.id,
                    enabled: d.enabled,
                    disabled_reason: d.disabled_reason,
                    breaker_open: d.breaker_open,
                    breaker_failures: d.breaker_failures,
                    attention: d.attention,
                    reason: d.reason,
                })
                .collect(),
            checklist: h
                .checklist
                .into_iter()
                .map(|i| ChecklistItemView {
                    check: i.check,
                    state: i.state,
                    detail: i.detail,
                    required: i.required,
                    attention: i.attention,
                })
                .collect(),
            security_findings: h.security_findings,
        }
    }
}

/// The deployment's health at a glance: per integration, connections, refreshes,
/// webhooks received and refused, deliveries, destinations and a launch checklist, each
/// with `attention` and a reason; the database's readiness and the version. Circuit
/// breakers are the answering instance's view.
#[utoipa::path(get, path = "/api/status", tag = "admin", security(("api_key" = [])), responses(
    (status = 200, body = StatusView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn status(State(s): State<AppState>, _: Admin) -> Result<Json<StatusView>, ApiError> {
    Ok(Json(s.engine.status().await?.into()))
}

/// The routes of this module.
pub fn router() -> Routes {
    Routes::new().routes(routes!(status))
}
