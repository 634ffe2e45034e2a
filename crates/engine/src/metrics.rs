//! The metrics the engine exports, in one list: each name with its kind and help text,
//! and the series set to zero at start for every configured integration and
//! destination, so that `rate()`-based alert rules and dashboards have a series to
//! work on before the first event (an absent series makes an alert silently never
//! fire). `deploy/grafana` and `deploy/prometheus` use these names; a test checks
//! every name they use against a live `/metrics`.

use crate::Engine;

/// Kind of a metric, as Prometheus types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (`_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations in buckets (`_bucket`, `_sum`, `_count`).
    Histogram,
}

/// Webhooks received, by integration and outcome (`stored`, `duplicate`, `handshake`,
/// or why one was refused: a signature check's code, `blocked`, `disabled`, …).
pub const WEBHOOKS_TOTAL: &str = crate::webhooks::WEBHOOKS_TOTAL;
/// Token refreshes by integration and outcome.
pub const TOKEN_REFRESHES: &str = "switchboard_token_refreshes_total";
/// Token refresh duration by integration.
pub const TOKEN_REFRESH_DURATION: &str = "switchboard_token_refresh_duration_seconds";
/// Connections that went to `needs_reauth` (the provider refused the refresh token),
/// by integration.
pub const NEEDS_REAUTH: &str = "switchboard_connections_needs_reauth_total";
/// Refreshes of a provider documented as rotating refresh tokens whose answer had no
/// new one (the old one was kept), by integration.
pub const REFRESH_TOKEN_NOT_ROTATED: &str = "switchboard_refresh_token_not_rotated_total";
/// Credential health checks by integration and result (`ok`, `rejected`, `unavailable`,
/// `error`).
pub const HEALTH_CHECKS: &str = "switchboard_connection_health_checks_total";
/// Connections by integration and status.
pub const CONNECTIONS: &str = "switchboard_connections";
/// Connect flows by integration and outcome.
pub const CONNECT_FLOWS: &str = "switchboard_connect_flows_total";
/// Whether a destination is disabled (1) or not (0).
pub const DESTINATION_DISABLED: &str = "switchboard_destination_disabled";
/// Proxied requests by integration and the status answered.
pub const PROXY_REQUESTS: &str = "switchboard_proxy_requests_total";
/// Proxy retries by integration and reason.
pub const PROXY_RETRIES: &str = "switchboard_proxy_retries_total";
/// Time the provider took to answer one proxied attempt.
pub const PROXY_UPSTREAM_DURATION: &str = "switchboard_proxy_upstream_duration_seconds";
/// Time a proxied request waited for the integration's rate limit.
pub const PROXY_THROTTLE_WAIT: &str = "switchboard_proxy_throttle_wait_seconds";

/// The outcomes of a token refresh (`switchboard_token_refreshes_total`).
pub const REFRESH_OUTCOMES: &[&str] = &[
    "success",
    "invalid_grant",
    "provider_unavailable",
    "invalid_client",
    "error",
    "fenced",
];

/// The outcomes of a delivery attempt (`switchboard_delivery_attempts_total`).
pub const ATTEMPT_OUTCOMES: &[&str] = &["delivered", "retry", "dead", "gone", "lost_lease"];

/// Every metric the engine exports: name, kind, help.
pub const ALL: &[(&str, Kind, &str)] = &[
    (
        WEBHOOKS_TOTAL,
        Kind::Counter,
        "Webhooks received, by integration and outcome (stored, duplicate, handshake, or the reason one was refused)",
    ),
    (
        crate::pipeline::EVENTS_ROUTED,
        Kind::Counter,
        "Events mapped and routed, by integration and outcome",
    ),
    (
        crate::pipeline::deliver::QUEUE_DEPTH,
        Kind::Gauge,
        "Deliveries waiting to be sent (pending and in flight)",
    ),
    (
        crate::pipeline::deliver::OLDEST_PENDING,
        Kind::Gauge,
        "Age in seconds of the oldest pending delivery (0 when none)",
    ),
    (
        crate::pipeline::deliver::DEAD,
        Kind::Gauge,
        "Deliveries that gave up (dead), waiting for a replay",
    ),
    (
        crate::pipeline::deliver::ATTEMPTS,
        Kind::Counter,
        "Delivery attempts, by destination and outcome",
    ),
    (
        crate::pipeline::deliver::LATENCY,
        Kind::Histogram,
        "Seconds from receiving an event to its delivery, by destination",
    ),
    (
        DESTINATION_DISABLED,
        Kind::Gauge,
        "1 when a destination is disabled (by an operator or a 410 Gone), else 0",
    ),
    (
        TOKEN_REFRESHES,
        Kind::Counter,
        "Token refreshes, by integration and outcome",
    ),
    (
        TOKEN_REFRESH_DURATION,
        Kind::Histogram,
        "Seconds a token refresh took, by integration",
    ),
    (
        NEEDS_REAUTH,
        Kind::Counter,
        "Connections marked needs_reauth (the provider refused the refresh token), by integration",
    ),
    (
        REFRESH_TOKEN_NOT_ROTATED,
        Kind::Counter,
        "Refreshes at a provider documented as rotating refresh tokens that returned no new one (the old one was kept), by integration",
    ),
    (
        HEALTH_CHECKS,
        Kind::Counter,
        "Credential health checks, by integration and result (ok, rejected, unavailable, error)",
    ),
    (
        CONNECTIONS,
        Kind::Gauge,
        "Connections, by integration and status",
    ),
    (
        CONNECT_FLOWS,
        Kind::Counter,
        "Connect flows, by integration and outcome",
    ),
    (
        PROXY_REQUESTS,
        Kind::Counter,
        "Proxied requests, by integration and the status answered (error when none)",
    ),
    (
        PROXY_RETRIES,
        Kind::Counter,
        "Proxy retries, by integration and reason",
    ),
    (
        PROXY_UPSTREAM_DURATION,
        Kind::Histogram,
        "Seconds the provider took to answer one proxied attempt, by integration",
    ),
    (
        PROXY_THROTTLE_WAIT,
        Kind::Histogram,
        "Seconds a proxied request waited for the integration's rate limit",
    ),
    (
        crate::instances::LIVE_INSTANCES,
        Kind::Gauge,
        "Instances sharing the database, as this one sees them",
    ),
    (
        crate::instances::RATE_LIMIT_SHARE,
        Kind::Gauge,
        "This instance's fraction of a shared rate limit, by kind and id",
    ),
];

impl Engine {
    /// Describes every metric to the installed recorder and sets to zero the series
    /// alert rules count over: per configured integration its stored and refused
    /// webhooks, per OAuth integration its refresh outcomes and `needs_reauth`, per
    /// destination its attempt outcomes and its disabled state (read from the store).
    /// Call after the recorder is installed, and again after a configuration reload.
    pub async fn init_metrics(&self) {
        for (name, kind, help) in ALL {
            match kind {
                Kind::Counter => metrics::describe_counter!(*name, *help),
                Kind::Gauge => metrics::describe_gauge!(*name, *help),
                Kind::Histogram => metrics::describe_histogram!(*name, *help),
            }
        }
        let cfg = self.config();
        for it in &cfg.integrations {
            for outcome in ["stored", "no_match"] {
                metrics::counter!(WEBHOOKS_TOTAL, "integration" => it.id.clone(), "outcome" => outcome)
                    .increment(0);
            }
            if it.client_id.is_some() {
                for outcome in REFRESH_OUTCOMES {
                    metrics::counter!(TOKEN_REFRESHES, "integration" => it.id.clone(), "outcome" => *outcome)
                        .increment(0);
                }
                metrics::counter!(NEEDS_REAUTH, "integration" => it.id.clone()).increment(0);
            }
        }
        for d in &cfg.destinations {
            for outcome in ATTEMPT_OUTCOMES {
                metrics::counter!(crate::pipeline::deliver::ATTEMPTS, "destination" => d.id.clone(), "outcome" => *outcome)
                    .increment(0);
            }
        }
        self.publish_destination_states().await;
        self.refresh_connection_gauges().await;
    }

    /// Sets `switchboard_destination_disabled` for every configured destination from
    /// the store.
    pub(crate) async fn publish_destination_states(&self) {
        match self.inner.store.disabled_destinations().await {
            Ok(disabled) => {
                for d in &self.config().destinations {
                    let off = disabled.iter().any(|(id, _)| *id == d.id);
                    metrics::gauge!(DESTINATION_DISABLED, "destination" => d.id.clone())
                        .set(if off { 1.0 } else { 0.0 });
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot read destination states"),
        }
    }
}
