//! `GET /api/status` and `switchboard status`: the deployment's health at a glance, per
//! integration, with a launch checklist, each item saying whether it needs a person
//! (`attention`) and why.
//!
//! [`Engine::status`] builds the whole document on the engine's clock: connections by
//! status, refresh failures and `needs_reauth` in the last 24 h and webhooks received and
//! refused (by reason) in the last hour (the activity counters, [`crate::activity`]),
//! the delivery queue of the integration's events, its destinations (disabled, or with
//! an open circuit breaker as *this process's* worker sees it), the database's
//! readiness and the version. What needs a person is decided by the thresholds below
//! (README, "Status thresholds").

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::ConnectionStatus;

use crate::activity::{Kind, bucket_of};
use crate::security::{Checks, Finding, Severity};
use crate::{Engine, EngineResult};

/// Any connection of the integration that went `needs_reauth` in the last 24 h needs a
/// person (more than this many).
pub const NEEDS_REAUTH_24H_MAX: u64 = 0;
/// Token refresh failures (provider down, client refused…) in the last 24 h tolerated
/// before a person should look.
pub const REFRESH_FAILURES_24H_MAX: u64 = 10;
/// Share of the last hour's webhooks refused (bad signature, stale, blocked…) above
/// which a person should look, in percent of received + refused…
pub const REFUSED_PERCENT_MAX: f64 = 10.0;
/// …once at least this many were refused (a stray probe is not an incident).
pub const REFUSED_MIN: u64 = 5;
/// The oldest delivery still waiting may be this old.
pub const OLDEST_PENDING_MAX: Duration = Duration::from_secs(300);
/// Dead deliveries tolerated (any one means an event the app never got).
pub const DEAD_MAX: u64 = 0;

/// How far back "the last hour" and "the last 24 h" reach.
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The deployment's health.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The server's version.
    pub version: String,
    /// When this was computed (the engine's clock).
    pub generated_at: DateTime<Utc>,
    /// Whether something needs a person (any item's `attention`).
    pub attention: bool,
    /// Every reason something needs a person, prefixed with its integration.
    pub reasons: Vec<String>,
    /// The database answers.
    pub ready: Readiness,
    /// Open findings of the security self-audit, deployment-wide and per integration.
    pub security_findings: u32,
    /// Per configured integration, in configuration order.
    pub integrations: Vec<IntegrationHealth>,
    /// The thresholds that decided `attention`.
    pub thresholds: Thresholds,
}

/// The server's own readiness.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// The database answers.
    pub ready: bool,
    /// The storage backend (`sqlite`, `postgres`).
    pub backend: String,
    /// Why it is not ready.
    pub error: Option<String>,
    /// Needs a person.
    pub attention: bool,
}

/// The thresholds in force (see the constants of this module).
#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    /// [`NEEDS_REAUTH_24H_MAX`].
    pub needs_reauth_24h_max: u64,
    /// [`REFRESH_FAILURES_24H_MAX`].
    pub refresh_failures_24h_max: u64,
    /// [`REFUSED_PERCENT_MAX`].
    pub refused_percent_max: f64,
    /// [`REFUSED_MIN`].
    pub refused_min: u64,
    /// [`OLDEST_PENDING_MAX`], in seconds.
    pub oldest_pending_max_secs: u64,
    /// [`DEAD_MAX`].
    pub dead_max: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            needs_reauth_24h_max: NEEDS_REAUTH_24H_MAX,
            refresh_failures_24h_max: REFRESH_FAILURES_24H_MAX,
            refused_percent_max: REFUSED_PERCENT_MAX,
            refused_min: REFUSED_MIN,
            oldest_pending_max_secs: OLDEST_PENDING_MAX.as_secs(),
            dead_max: DEAD_MAX,
        }
    }
}

/// One integration's health.
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationHealth {
    /// Its id.
    pub id: String,
    /// Its provider.
    pub provider: String,
    /// Disabled as a whole (`integration disable`).
    pub disabled: bool,
    /// Webhook intake blocked (`webhook block`).
    pub webhooks_blocked: bool,
    /// Something here needs a person.
    pub attention: bool,
    /// Why.
    pub reasons: Vec<String>,
    /// Its connections.
    pub connections: ConnectionsHealth,
    /// Its webhooks in the last hour.
    pub webhooks: WebhooksHealth,
    /// The deliveries of its events.
    pub deliveries: DeliveriesHealth,
    /// The destinations its events go to.
    pub destinations: Vec<DestinationHealth>,
    /// The launch checklist.
    pub checklist: Vec<ChecklistItem>,
    /// Open findings of the security self-audit about this integration.
    pub security_findings: u32,
}

/// Connections by status, and refreshes in the last 24 h.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectionsHealth {
    /// Working.
    pub active: u64,
    /// Waiting for the end user to connect again.
    pub needs_reauth: u64,
    /// Revoked.
    pub revoked: u64,
    /// In error.
    pub error: u64,
    /// Refresh failures in the last 24 h (every outcome, `invalid_grant` included).
    pub refresh_failures_24h: u64,
    /// Of which the provider refused the grant: connections that went `needs_reauth`.
    pub needs_reauth_24h: u64,
    /// Connections whose last refresh failed, changed in the last 24 h.
    pub failing_now: u64,
    /// Needs a person.
    pub attention: bool,
    /// Why.
    pub reason: Option<String>,
}

/// Webhooks in the last hour.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WebhooksHealth {
    /// Accepted (stored or duplicate).
    pub received_1h: u64,
    /// Refused.
    pub refused_1h: u64,
    /// Refused, by reason (`bad_signature`, `stale`, `blocked`…).
    pub refused_by_reason: BTreeMap<String, u64>,
    /// When the newest webhook that passed verification was received.
    pub last_received_at: Option<DateTime<Utc>>,
    /// Needs a person.
    pub attention: bool,
    /// Why.
    pub reason: Option<String>,
}

/// The deliveries of the integration's events.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeliveriesHealth {
    /// Waiting for an attempt or being sent.
    pub pending: u64,
    /// Of which being sent.
    pub in_flight: u64,
    /// Age of the oldest one waiting, in seconds.
    pub oldest_pending_secs: Option<u64>,
    /// Dead (every attempt failed; `webhook replay` revives them).
    pub dead: u64,
    /// Needs a person.
    pub attention: bool,
    /// Why.
    pub reason: Option<String>,
}

/// A destination the integration's events go to.
#[derive(Debug, Clone, Serialize)]
pub struct DestinationHealth {
    /// Its id.
    pub id: String,
    /// Deliveries are sent.
    pub enabled: bool,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// Its circuit breaker is open, as this process's delivery worker sees it (each
    /// instance has its own breakers).
    pub breaker_open: bool,
    /// Failures in a row, as this process's worker sees them.
    pub breaker_failures: u32,
    /// Needs a person.
    pub attention: bool,
    /// Why.
    pub reason: Option<String>,
}

/// One item of the launch checklist.
#[derive(Debug, Clone, Serialize)]
pub struct ChecklistItem {
    /// A stable name: `oauth_tested`, `webhook_secret`, `webhook_verified`,
    /// `destinations`, `mappings`, `security_findings`.
    pub check: String,
    /// `ok`, `missing` or `not_applicable`.
    pub state: String,
    /// What was found.
    pub detail: String,
    /// Whether a `missing` item needs a person once the integration is live (enabled,
    /// with connections or webhooks); informational items never do.
    pub required: bool,
    /// Needs a person.
    pub attention: bool,
}

impl ChecklistItem {
    fn new(check: &str, state: Option<bool>, required: bool, detail: String) -> Self {
        Self {
            check: check.to_owned(),
            state: match state {
                Some(true) => "ok",
                Some(false) => "missing",
                None => "not_applicable",
            }
            .to_owned(),
            detail,
            required,
            attention: false,
        }
    }
}

/// The counters of the last hour and day, by integration.
#[derive(Default)]
struct Counts {
    received_1h: BTreeMap<String, u64>,
    refused_1h: BTreeMap<String, BTreeMap<String, u64>>,
    refresh_24h: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Engine {
    /// The deployment's health (see the module documentation). When the database does
    /// not answer, the document says so (not ready) and lists no integration.
    pub async fn status(&self) -> EngineResult<Status> {
        let now = self.now();
        let cfg = self.config();
        let mut status = Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            generated_at: now,
            attention: false,
            reasons: Vec::new(),
            ready: Readiness {
                ready: true,
                backend: self.inner.store.backend().to_owned(),
                error: None,
                attention: false,
            },
            security_findings: 0,
            integrations: Vec::new(),
            thresholds: Thresholds::default(),
        };
        if let Err(e) = self.ready().await {
            status.ready.ready = false;
            status.ready.error = Some(e.to_string());
            status.ready.attention = true;
            status.attention = true;
            status.reasons.push(format!("not ready: {e}"));
            return Ok(status);
        }
        // This process's counts first, so that a lone server shows them at once.
        if let Err(e) = self.flush_activity().await {
            tracing::warn!(error = %e, "writing the activity counters failed");
        }
        let store = &self.inner.store;
        let counts = self.counts(now).await?;
        let connections = store.count_connections().await?;
        let failing = store.failing_connections(since(now, DAY)).await?;
        let queues = store.integration_queues().await?;
        let oauth_tests = store.oauth_tests().await?;
        let disabled_dests = store.disabled_destinations().await?;
        let disabled = store.disabled_integrations().await?;
        let blocked = store.blocked_integrations().await?;
        let breakers = self.breakers();
        let findings = self.open_security_findings().await;
        status.security_findings = findings.len() as u32;

        for it in &cfg.integrations {
            let id = it.id.as_str();
            let mut h = IntegrationHealth {
                id: id.to_owned(),
                provider: it.provider.clone(),
                disabled: disabled.iter().any(|d| d == id),
                webhooks_blocked: blocked.iter().any(|b| b == id),
                attention: false,
                reasons: Vec::new(),
                connections: ConnectionsHealth::default(),
                webhooks: WebhooksHealth::default(),
                deliveries: DeliveriesHealth::default(),
                destinations: Vec::new(),
                checklist: Vec::new(),
                security_findings: findings
                    .iter()
                    .filter(|f| f.integration.as_deref() == Some(id))
                    .count() as u32,
            };
            let high_findings = findings
                .iter()
                .filter(|f| f.integration.as_deref() == Some(id) && f.severity == Severity::High)
                .count();

            // Connections and refreshes.
            let c = &mut h.connections;
            for (_, s, n) in connections.iter().filter(|(i, _, _)| i == id) {
                match s {
                    ConnectionStatus::Active => c.active = *n,
                    ConnectionStatus::NeedsReauth => c.needs_reauth = *n,
                    ConnectionStatus::Revoked => c.revoked = *n,
                    ConnectionStatus::Error => c.error = *n,
                }
            }
            let refresh = counts.refresh_24h.get(id);
            c.refresh_failures_24h = refresh.map_or(0, |r| r.values().sum());
            c.needs_reauth_24h = refresh
                .and_then(|r| r.get("invalid_grant"))
                .copied()
                .unwrap_or(0);
            c.failing_now = failing.iter().find(|(i, _)| i == id).map_or(0, |(_, n)| *n);
            if c.needs_reauth_24h > NEEDS_REAUTH_24H_MAX {
                c.reason = Some(format!(
                    "{} connection(s) went needs_reauth in the last 24 h: their end users must connect again",
                    c.needs_reauth_24h
                ));
            } else if c.refresh_failures_24h > REFRESH_FAILURES_24H_MAX {
                c.reason = Some(format!(
                    "{} token refresh failures in the last 24 h (more than {REFRESH_FAILURES_24H_MAX})",
                    c.refresh_failures_24h
                ));
            }
            c.attention = c.reason.is_some();

            // Webhooks.
            let w = &mut h.webhooks;
            w.received_1h = counts.received_1h.get(id).copied().unwrap_or(0);
            w.refused_by_reason = counts.refused_1h.get(id).cloned().unwrap_or_default();
            w.refused_1h = w.refused_by_reason.values().sum();
            w.last_received_at = store.last_external_event(id).await?;
            let total = w.received_1h + w.refused_1h;
            let percent = if total == 0 {
                0.0
            } else {
                100.0 * w.refused_1h as f64 / total as f64
            };
            if w.refused_1h >= REFUSED_MIN && percent > REFUSED_PERCENT_MAX {
                let top = w
                    .refused_by_reason
                    .iter()
                    .max_by_key(|(_, n)| **n)
                    .map(|(r, _)| r.as_str())
                    .unwrap_or("?");
                w.reason = Some(format!(
                    "{} of {total} webhooks refused in the last hour ({percent:.0} %, mostly {top})",
                    w.refused_1h
                ));
            }
            w.attention = w.reason.is_some();

            // Deliveries.
            let d = &mut h.deliveries;
            if let Some(q) = queues.iter().find(|q| q.integration == id) {
                d.pending = q.pending + q.in_flight;
                d.in_flight = q.in_flight;
                d.dead = q.dead;
                d.oldest_pending_secs = q
                    .oldest_pending
                    .map(|t| (now - t).num_seconds().max(0) as u64);
            }
            if d.dead > DEAD_MAX {
                d.reason = Some(format!(
                    "{} dead deliveries: see `switchboard events list --integration {id} --status dead`, then `switchboard webhook replay`",
                    d.dead
                ));
            } else if d
                .oldest_pending_secs
                .is_some_and(|s| s > OLDEST_PENDING_MAX.as_secs())
            {
                d.reason = Some(format!(
                    "the oldest pending delivery is {} s old (more than {} s)",
                    d.oldest_pending_secs.unwrap_or(0),
                    OLDEST_PENDING_MAX.as_secs()
                ));
            }
            d.attention = d.reason.is_some();

            // Destinations.
            for dest in cfg
                .destinations
                .iter()
                .filter(|d| d.integrations.is_empty() || d.integrations.iter().any(|i| i == id))
            {
                let off = disabled_dests.iter().find(|(d, _)| *d == dest.id);
                let breaker = breakers.get(&dest.id);
                let breaker_open = breaker.is_some_and(|b| b.open);
                let reason = if let Some((_, why)) = off {
                    Some(format!(
                        "destination {} is disabled ({}): `switchboard destinations enable {}`",
                        dest.id,
                        why.as_deref().unwrap_or("no reason given"),
                        dest.id
                    ))
                } else if breaker_open {
                    Some(format!(
                        "destination {}'s circuit breaker is open after {} failures in a row (this instance's view)",
                        dest.id,
                        breaker.map_or(0, |b| b.failures)
                    ))
                } else {
                    None
                };
                h.destinations.push(DestinationHealth {
                    id: dest.id.clone(),
                    enabled: off.is_none(),
                    disabled_reason: off.and_then(|(_, r)| r.clone()),
                    breaker_open,
                    breaker_failures: breaker.map_or(0, |b| b.failures),
                    attention: reason.is_some(),
                    reason,
                });
            }

            h.checklist = self.checklist(
                it,
                &h,
                oauth_tests.iter().find(|t| t.integration == id),
                high_findings,
            );
            let live = !h.disabled
                && (h.connections.active > 0 || h.webhooks.received_1h + h.webhooks.refused_1h > 0);
            for item in &mut h.checklist {
                item.attention = live && item.required && item.state == "missing";
            }

            let mut reasons: Vec<String> = [
                &h.connections.reason,
                &h.webhooks.reason,
                &h.deliveries.reason,
            ]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
            reasons.extend(h.destinations.iter().filter_map(|d| d.reason.clone()));
            reasons.extend(
                h.checklist
                    .iter()
                    .filter(|i| i.attention)
                    .map(|i| format!("launch checklist: {}", i.detail)),
            );
            h.attention = !reasons.is_empty();
            status
                .reasons
                .extend(reasons.iter().map(|r| format!("{id}: {r}")));
            h.reasons = reasons;
            status.integrations.push(h);
        }
        let global = findings
            .iter()
            .filter(|f| f.integration.is_none() && f.severity == Severity::High)
            .count();
        if global > 0 {
            status.reasons.push(format!(
                "deployment: {global} high security finding(s): run `switchboard security audit`"
            ));
        }
        status.attention = !status.reasons.is_empty();
        Ok(status)
    }

    /// The activity counters of the last hour (webhooks) and day (refreshes).
    async fn counts(&self, now: DateTime<Utc>) -> EngineResult<Counts> {
        let mut counts = Counts::default();
        for s in self.inner.store.counter_sums(since(now, HOUR)).await? {
            if s.kind == Kind::WebhookReceived.as_str() {
                *counts.received_1h.entry(s.integration).or_default() += s.count;
            } else if s.kind == Kind::WebhookRefused.as_str() {
                *counts
                    .refused_1h
                    .entry(s.integration)
                    .or_default()
                    .entry(s.reason)
                    .or_default() += s.count;
            }
        }
        for s in self.inner.store.counter_sums(since(now, DAY)).await? {
            if s.kind == Kind::RefreshFailed.as_str() {
                *counts
                    .refresh_24h
                    .entry(s.integration)
                    .or_default()
                    .entry(s.reason)
                    .or_default() += s.count;
            }
        }
        Ok(counts)
    }

    /// The launch checklist of one integration, as a team reviews it before going live.
    fn checklist(
        &self,
        it: &config::Integration,
        h: &IntegrationHealth,
        oauth: Option<&store::OAuthTestRecord>,
        high_findings: usize,
    ) -> Vec<ChecklistItem> {
        let cfg = self.config();
        let provider = self.catalog().get(&it.provider);
        let mut items = Vec::new();

        // Signed-grant modes (GitHub Apps, JWT bearer) have no OAuth2 client to test.
        let oauth_applies = provider.is_some_and(|p| {
            p.oauth2.is_some()
                && matches!(
                    p.auth_mode,
                    catalog::AuthMode::Oauth2 | catalog::AuthMode::ClientCredentials
                )
        }) && it.client_id.is_some();
        items.push(match (oauth_applies, oauth) {
            (false, _) => ChecklistItem::new(
                "oauth_tested",
                None,
                false,
                "no OAuth2 client configured".into(),
            ),
            (true, None) => ChecklistItem::new(
                "oauth_tested",
                Some(false),
                true,
                format!(
                    "OAuth set-up never tested: run `switchboard oauth test {}`",
                    it.id
                ),
            ),
            (true, Some(t)) if t.ok => ChecklistItem::new(
                "oauth_tested",
                Some(true),
                true,
                format!("`oauth test` passed at {}", t.tested_at.to_rfc3339()),
            ),
            (true, Some(t)) => ChecklistItem::new(
                "oauth_tested",
                Some(false),
                true,
                format!(
                    "`oauth test` failed at {} ({}): fix it, then run `switchboard oauth test {}`",
                    t.tested_at.to_rfc3339(),
                    t.failed_checks.join(", "),
                    it.id
                ),
            ),
        });

        let has_scheme = it.webhook_scheme.is_some()
            || provider.is_some_and(|p| p.webhooks.as_ref().is_some_and(|w| w.scheme.is_some()));
        // A scheme whose keys are fetched from the provider needs no secret.
        let scheme = self.integration_scheme(it);
        let fetched = scheme
            .as_ref()
            .is_some_and(signatures::Scheme::fetches_keys);
        let has_secret = !it.webhook_secrets.is_empty() || fetched;
        let app_signed = it.client_secret.is_some() && scheme.is_some_and(|s| s.takes_app_secret());
        items.push(if !has_scheme {
            ChecklistItem::new(
                "webhook_secret",
                None,
                false,
                "the provider sends no signed webhooks".into(),
            )
        } else if has_secret {
            ChecklistItem::new(
                "webhook_secret",
                Some(true),
                true,
                format!("{} webhook secret(s) configured", it.webhook_secrets.len()),
            )
        } else if it.webhook_secret_handshake {
            ChecklistItem::new(
                "webhook_secret",
                Some(true),
                true,
                "taken from the provider's X-Hook-Secret handshake".into(),
            )
        } else if app_signed {
            ChecklistItem::new(
                "webhook_secret",
                Some(true),
                true,
                "webhooks the app registered are checked with its client_secret; set webhook_secrets for admin webhooks too".into(),
            )
        } else {
            // Required only once webhooks arrive: an integration may use the provider's
            // API without its webhooks.
            ChecklistItem::new(
                "webhook_secret",
                Some(false),
                h.webhooks.refused_1h > 0,
                format!(
                    "no webhook_secrets configured for {}: webhooks to it are refused",
                    it.id
                ),
            )
        });

        items.push(if !has_secret && !app_signed {
            ChecklistItem::new(
                "webhook_verified",
                None,
                false,
                "no webhooks expected".into(),
            )
        } else {
            match h.webhooks.last_received_at {
                Some(t) => ChecklistItem::new(
                    "webhook_verified",
                    Some(true),
                    false,
                    format!("last verified webhook at {}", t.to_rfc3339()),
                ),
                None => ChecklistItem::new(
                    "webhook_verified",
                    Some(false),
                    false,
                    "no verified webhook received yet: try `switchboard webhook test`".into(),
                ),
            }
        });

        items.push(if !has_secret {
            ChecklistItem::new("destinations", None, false, "no webhooks to deliver".into())
        } else if h.destinations.is_empty() {
            ChecklistItem::new(
                "destinations",
                Some(false),
                true,
                format!(
                    "no [[destinations]] takes {}'s events: they are stored and delivered nowhere",
                    it.id
                ),
            )
        } else {
            let ids: Vec<&str> = h.destinations.iter().map(|d| d.id.as_str()).collect();
            ChecklistItem::new(
                "destinations",
                Some(true),
                true,
                format!("delivered to {}", ids.join(", ")),
            )
        });

        let mappings = cfg
            .mappings
            .iter()
            .filter(|m| m.integration == it.id)
            .count();
        items.push(if !has_secret {
            ChecklistItem::new("mappings", None, false, "no webhooks to map".into())
        } else if mappings == 0 {
            ChecklistItem::new(
                "mappings",
                Some(false),
                false,
                format!(
                    "no [[mappings]]: events pass through unmapped as `{}.<type>`",
                    it.provider
                ),
            )
        } else {
            ChecklistItem::new(
                "mappings",
                Some(true),
                false,
                format!("{mappings} mapping(s)"),
            )
        });

        items.push(if h.security_findings == 0 {
            ChecklistItem::new(
                "security_findings",
                Some(true),
                true,
                "no open security finding".into(),
            )
        } else {
            // Only high findings need a person here, as only they fail `security audit`.
            ChecklistItem::new(
                "security_findings",
                Some(false),
                high_findings > 0,
                format!(
                    "{} open security finding(s), {high_findings} high: run `switchboard security audit`",
                    h.security_findings
                ),
            )
        });
        items
    }
}

/// The start of the first bucket of the window of length `window` ending at `now`: a
/// window covers at least `window` and at most one bucket more.
fn since(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let start = now - chrono::Duration::from_std(window).unwrap_or_default();
    DateTime::from_timestamp_millis(bucket_of(start)).unwrap_or(start)
}

impl Engine {
    /// The open findings of the security self-audit (`info` ones are not open: nothing
    /// to fix), without the audit chain walk, which would read every audit row on every
    /// status request (`switchboard security audit` walks it). A failure to compute
    /// them is logged and reads as none, so that the status still answers.
    async fn open_security_findings(&self) -> Vec<Finding> {
        match self
            .security_findings_with(Checks { audit_chain: false })
            .await
        {
            Ok(f) => f
                .into_iter()
                .filter(|f| f.severity != Severity::Info)
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "the security findings could not be computed for the status");
                Vec::new()
            }
        }
    }
}
