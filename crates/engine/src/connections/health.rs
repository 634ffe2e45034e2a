//! Credential health checks: each active connection of an integration with
//! `health_check_interval_secs` has its credentials tried at the provider once per
//! interval, with the cheapest authenticated request the catalog knows (its `verify`
//! request, else the OAuth2 userinfo endpoint), so that a grant revoked at the provider,
//! a rotated API key or a deleted workspace shows before a user finds out.
//!
//! - Spread: each pass (every [`TICK`], ±20 %) claims about `connections × tick /
//!   interval` of an integration's due connections, so a whole interval's checks are
//!   spread over it rather than sent in one burst; at most
//!   `background_refresh_concurrency` run at once.
//! - Once across instances: a claim moves the connection's next check to now + interval
//!   in the same statement ([`store::ConnectionStore::claim_health_checks`]), so
//!   instances sharing a database split the work and no connection is checked twice in
//!   an interval.
//! - Outcomes: 2xx is `ok`. 401 on an OAuth2 or client-credentials connection forces
//!   one (single-flight) refresh: a refused refresh marks the connection `needs_reauth`
//!   on the refresh path as always; a refresh that succeeds is followed by one more try,
//!   and a second 401 marks it `needs_reauth` too (under the refresh lease, with the
//!   same `connection.needs_reauth` event and audit row as `invalid_grant`). 401 on an
//!   API-key or basic connection marks it at once. 403 is `forbidden` and changes
//!   nothing: the credentials authenticate but may not make the request (a missing
//!   scope, a plan limit), so the provider's message (redacted, capped) is kept, and
//!   the scopes the catalog says the request needs (`[verify] scopes`; `openid` for an
//!   OpenID Connect userinfo endpoint, i.e. a provider whose default scopes ask for it)
//!   that were not granted are reported as `missing_scopes`. 5xx, 429,
//!   timeouts and refused connections are `unavailable` and change nothing; any other
//!   answer is `error` and changes nothing.
//! - Now: [`Engine::check_connection_now`] (`POST /api/connections/{id}/check`, the
//!   CLI's `connections check`, the console's Check button) runs the same check at
//!   once and says why when nothing can be checked.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use store::{Connection, ConnectionStatus, HealthCheck, HealthResult};

use super::ConnectionView;
use super::context::Ctx;
use super::credentials::Credentials;
use super::protocol;
use super::tokens::{jitter_unit, state_error};
use crate::{Actor, Engine, EngineError, EngineResult};

/// How often the checker looks for due connections.
pub const TICK: StdDuration = StdDuration::from_secs(10);

/// Longest excerpt of a provider's 403 message kept with the result.
const MESSAGE_CHARS: usize = 120;

/// What one request with the connection's credentials got.
enum Probe {
    Accepted,
    /// 401.
    Refused(u16),
    /// 403, with the provider's message (redacted, capped) when it gave one.
    Forbidden(Option<String>),
    Unavailable(String),
    Other(String),
}

/// The request a check makes: its URL and the OAuth2 scopes it needs.
struct CheckRequest {
    url: String,
    scopes: Vec<String>,
}

/// What one check found.
struct Found {
    result: HealthResult,
    detail: Option<String>,
    missing_scopes: Vec<String>,
}

impl Found {
    fn plain(result: HealthResult, detail: Option<String>) -> Self {
        Self {
            result,
            detail,
            missing_scopes: Vec::new(),
        }
    }
}

/// What `POST /api/connections/{id}/check` found.
#[derive(Debug, Clone)]
pub struct HealthReport {
    /// When the check ended.
    pub checked_at: DateTime<Utc>,
    /// What it found.
    pub result: HealthResult,
    /// The provider's status and message, or the error; never a secret.
    pub detail: Option<String>,
    /// On a 403: the scopes the check request needs that the connection was not granted
    /// (empty when none are known to be missing).
    pub missing_scopes: Vec<String>,
    /// The connection after the check (its status: `needs_reauth` after `rejected`).
    pub connection: ConnectionView,
}

impl Engine {
    /// One pass of the health checker: for each integration with
    /// `health_check_interval_secs`, claims its share of the due connections and checks
    /// them, `background_refresh_concurrency` at a time. Returns how many were checked.
    pub async fn health_check_pass(&self) -> EngineResult<usize> {
        let cfg = self.config();
        let counts = self.inner.store.count_connections().await?;
        let permits = Arc::new(tokio::sync::Semaphore::new(
            cfg.background_refresh_concurrency.max(1) as usize,
        ));
        let mut tasks = tokio::task::JoinSet::new();
        let mut n = 0;
        for it in &cfg.integrations {
            let Some(every) = it.health_check_interval_secs else {
                continue;
            };
            let active = counts
                .iter()
                .filter(|(i, s, _)| i == &it.id && *s == ConnectionStatus::Active)
                .map(|(_, _, n)| *n)
                .sum::<u64>();
            if active == 0 {
                continue;
            }
            // This pass's share of the interval, rounded up, plus one so that a backlog
            // (connections new since the last pass) drains.
            let share = (active * TICK.as_secs()).div_ceil(every.max(1)) + 1;
            let limit = share.min(500) as u32;
            let now = self.now();
            let next = now + Duration::seconds(every as i64);
            let claimed = self
                .inner
                .store
                .claim_health_checks(&it.id, now, next, limit)
                .await?;
            n += claimed.len();
            for c in claimed {
                let engine = self.clone();
                let permit = permits.clone();
                tasks.spawn(async move {
                    let Ok(_p) = permit.acquire_owned().await else {
                        return;
                    };
                    let id = c.id.clone();
                    if let Err(e) = engine.check_connection_health(&id).await {
                        tracing::warn!(connection = %id, error = %e, "credential health check failed to run");
                    }
                });
            }
        }
        while tasks.join_next().await.is_some() {}
        Ok(n)
    }

    /// Runs the health checker until `shutdown` resolves: a pass every [`TICK`] (±20 %
    /// jitter) while any integration has `health_check_interval_secs`.
    pub async fn run_health_checker(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let pause = TICK.mul_f64(0.8 + 0.4 * jitter_unit());
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.clock().sleep(pause) => {}
            }
            if !self
                .config()
                .integrations
                .iter()
                .any(|i| i.health_check_interval_secs.is_some())
            {
                continue;
            }
            if let Err(e) = self.health_check_pass().await {
                tracing::warn!(error = %e, "credential health check pass failed");
            }
        }
    }

    /// Checks one connection's credentials now and keeps the result on it (see the
    /// module's documentation). Returns the result, or `None` when nothing was checked
    /// (the connection is not active, or its provider has no request to check with).
    pub async fn check_connection_health(&self, id: &str) -> EngineResult<Option<HealthResult>> {
        match self.run_health_check(id).await {
            Ok(r) => Ok(Some(r.result)),
            Err(Unchecked::Cannot(_)) => Ok(None),
            Err(Unchecked::Failed(e)) => Err(e),
        }
    }

    /// Checks one connection's credentials at once, through the same code as the
    /// background checker (`POST /api/connections/{id}/check`). A connection that is not
    /// active, or whose provider has no request to check with, is a conflict that says
    /// so; an unknown id is not found.
    pub async fn check_connection_now(&self, id: &str) -> EngineResult<HealthReport> {
        self.run_health_check(id).await.map_err(|u| match u {
            Unchecked::Cannot(e) | Unchecked::Failed(e) => e,
        })
    }

    /// [`Engine::check_connection_now`] asked for by `actor`, audited as
    /// `connection.check` with what it found.
    pub async fn check_connection_by(&self, id: &str, actor: &Actor) -> EngineResult<HealthReport> {
        let out = self.check_connection_now(id).await;
        let details = match &out {
            Ok(r) => serde_json::json!({
                "result": r.result.as_str(),
                "status": r.connection.status.as_str(),
            }),
            Err(EngineError::NotFound { .. } | EngineError::Invalid { .. }) => return out,
            Err(e) => serde_json::json!({ "error": e.code() }),
        };
        self.audit(actor, "connection.check", id, details).await?;
        out
    }

    async fn run_health_check(&self, id: &str) -> Result<HealthReport, Unchecked> {
        let (c, creds) = match self.load_credentials(id).await {
            Ok(x) => x,
            Err(e @ EngineError::ConnectionState { .. }) => return Err(Unchecked::Cannot(e)),
            Err(e) => return Err(Unchecked::Failed(e)),
        };
        if c.status != ConnectionStatus::Active {
            return Err(Unchecked::Cannot(state_error(&c)));
        }
        let ctx = self.connect_context(&c.integration)?;
        let Some(req) = self.health_request(&ctx, &c)? else {
            return Err(Unchecked::Cannot(EngineError::Conflict(format!(
                "connection {id:?} cannot be checked: the provider of integration {:?} has no request to check credentials with (no [verify] request in its catalog entry and no userinfo endpoint); its tokens are still refreshed and served",
                c.integration
            ))));
        };
        let refreshes = matches!(c.auth_mode.as_str(), "oauth2" | "client_credentials");
        let found = if refreshes {
            self.check_token(&ctx, &c, &req).await?
        } else {
            match self.probe(&ctx, &req.url, &c, &creds).await {
                Probe::Accepted => Found::plain(HealthResult::Ok, None),
                Probe::Refused(status) => {
                    let message = format!(
                        "the provider refused the stored credentials (HTTP {status}) at a health check; the end user must connect again with working credentials"
                    );
                    Found::plain(
                        self.mark_rejected(&c, &message).await?,
                        Some(format!("HTTP {status}")),
                    )
                }
                Probe::Forbidden(m) => forbidden(&c, &req, m),
                Probe::Unavailable(d) => Found::plain(HealthResult::Unavailable, Some(d)),
                Probe::Other(d) => Found::plain(HealthResult::Error, Some(d)),
            }
        };
        let check = self.record_health(&c, found.result, found.detail).await?;
        let connection = self.get_connection(id).await?;
        Ok(HealthReport {
            checked_at: check.checked_at,
            result: check.result,
            detail: check.detail,
            missing_scopes: found.missing_scopes,
            connection,
        })
    }

    /// An OAuth2 or client-credentials connection: a current token (refreshed first if
    /// due), the request, and on 401 one forced refresh and one more request. A 403 is
    /// not a dead grant (a refresh would not help): it is reported as it is.
    async fn check_token(
        &self,
        ctx: &Ctx,
        c: &Connection,
        req: &CheckRequest,
    ) -> EngineResult<Found> {
        let mut refreshed = false;
        loop {
            match self.connection_token(&c.id).await {
                Ok(_) => {}
                Err(e) => return Ok(token_failure(e)),
            }
            let (c2, creds) = self.load_credentials(&c.id).await?;
            match self.probe(ctx, &req.url, &c2, &creds).await {
                Probe::Accepted => return Ok(Found::plain(HealthResult::Ok, None)),
                Probe::Forbidden(m) => return Ok(forbidden(&c2, req, m)),
                Probe::Unavailable(d) => {
                    return Ok(Found::plain(HealthResult::Unavailable, Some(d)));
                }
                Probe::Other(d) => return Ok(Found::plain(HealthResult::Error, Some(d))),
                Probe::Refused(status) if refreshed => {
                    let message = format!(
                        "the provider refused a freshly refreshed token (HTTP {status}) at a health check; the end user must connect again"
                    );
                    return Ok(Found::plain(
                        self.mark_rejected(&c2, &message).await?,
                        Some(format!("HTTP {status} after a refresh")),
                    ));
                }
                Probe::Refused(_) => {
                    refreshed = true;
                    if let Err(e) = self.force_refresh(&c.id).await {
                        return Ok(token_failure(e));
                    }
                }
            }
        }
    }

    /// The cheapest authenticated request: the catalog's verify request under the API
    /// base (with the scopes it lists), else the OAuth2 userinfo endpoint. That endpoint
    /// needs `openid` only where it is OpenID Connect's, which the catalog shows by asking
    /// for `openid` by default; a provider's own "who am I" call (GitHub's `/user`,
    /// Figma's `/v1/me`) has no such scope, so none is reported missing for it.
    fn health_request(&self, ctx: &Ctx, c: &Connection) -> EngineResult<Option<CheckRequest>> {
        let values = ctx.values(&c.settings);
        let under_api = ctx.provider.verify.is_some() && ctx.provider.api_base_url.is_some();
        let template = match (&ctx.provider.verify, &ctx.provider.api_base_url) {
            (Some(v), Some(base)) => Some((base.clone(), v.path.clone(), v.scopes.clone())),
            _ => ctx
                .provider
                .oauth2
                .as_ref()
                .filter(|_| c.auth_mode == "oauth2")
                .and_then(|o| {
                    let oidc = o.default_scopes.iter().any(|s| s == "openid");
                    let scopes = if oidc {
                        vec!["openid".to_owned()]
                    } else {
                        Vec::new()
                    };
                    o.userinfo_url.clone().map(|u| (u, String::new(), scopes))
                }),
        };
        let Some((base, path, scopes)) = template else {
            return Ok(None);
        };
        let base = protocol::resolve(&ctx.provider, &base, &values, self.dev())
            .map_err(|e| EngineError::Misconfigured(e.to_string()))?;
        let url = if path.is_empty() {
            base
        } else {
            format!("{}{}", base.trim_end_matches('/'), path)
        };
        // A request under the API base carries the catalog's API query parameters.
        let url = if under_api {
            ctx.with_api_query(&url, &c.settings)
                .map_err(EngineError::Misconfigured)?
        } else {
            url
        };
        Ok(Some(CheckRequest { url, scopes }))
    }

    async fn probe(&self, ctx: &Ctx, url: &str, c: &Connection, creds: &Credentials) -> Probe {
        let headers = match ctx.api_headers(&c.settings) {
            Ok(h) => h,
            Err(e) => return Probe::Other(e),
        };
        let headers = &headers;
        let answer = match (
            &creds.access_token,
            &creds.api_key,
            &creds.username,
            &creds.password,
        ) {
            (Some(token), _, _, _) => {
                protocol::get_with_credential(
                    &self.outbound(),
                    url,
                    ctx.provider
                        .oauth2
                        .as_ref()
                        .and_then(|o| o.api_auth.as_ref()),
                    token,
                    headers,
                )
                .await
            }
            (None, Some(key), _, _) => {
                protocol::get_with_credential(
                    &self.outbound(),
                    url,
                    ctx.provider.api_key.as_ref(),
                    key,
                    headers,
                )
                .await
            }
            (None, None, Some(u), Some(p)) => {
                protocol::get_with_basic(&self.outbound(), url, u, p, headers).await
            }
            _ => return Probe::Other(format!("connection {} holds no credential to try", c.id)),
        };
        match answer {
            Ok((200..=299, _)) => Probe::Accepted,
            Ok((401, _)) => Probe::Refused(401),
            Ok((403, body)) => Probe::Forbidden(body.as_ref().and_then(provider_message)),
            Ok((s @ (429 | 500..=599), _)) => Probe::Unavailable(format!("HTTP {s}")),
            Ok((s, _)) => Probe::Other(format!("HTTP {s}")),
            Err(e) => Probe::Unavailable(e.to_string()),
        }
    }

    /// Marks `c` `needs_reauth` under its refresh lease (so no refresh in flight can
    /// overwrite it), with the same event and audit row as a refused refresh. When
    /// another process holds the lease, nothing is written: that refresh decides, and
    /// the next interval checks again.
    async fn mark_rejected(&self, c: &Connection, message: &str) -> EngineResult<HealthResult> {
        let now = self.now();
        let lease_for = Duration::seconds(self.config().refresh_lease_secs as i64);
        let Some(lease) = self
            .inner
            .store
            .acquire_refresh_lease(&c.id, now, now + lease_for)
            .await?
        else {
            return Ok(HealthResult::Error);
        };
        let (current, _) = match self.load_credentials(&c.id).await {
            Ok(x) => x,
            Err(_) => {
                self.inner
                    .store
                    .release_refresh_lease(&c.id, lease.fence)
                    .await?;
                return Ok(HealthResult::Error);
            }
        };
        if current.token_version != lease.token_version
            || current.status != ConnectionStatus::Active
        {
            self.inner
                .store
                .release_refresh_lease(&c.id, lease.fence)
                .await?;
            return Ok(HealthResult::Error);
        }
        self.fail_refresh(
            &current,
            lease.fence,
            ConnectionStatus::NeedsReauth,
            message,
            None,
        )
        .await?;
        self.count_activity(
            &c.integration,
            crate::activity::Kind::RefreshFailed,
            "health_check_rejected",
        );
        self.record_needs_reauth(&current, message).await?;
        tracing::warn!(connection = %c.id, integration = %c.integration, "a credential health check found the credentials refused; marked needs_reauth");
        Ok(HealthResult::Rejected)
    }

    async fn record_health(
        &self,
        c: &Connection,
        result: HealthResult,
        detail: Option<String>,
    ) -> EngineResult<HealthCheck> {
        metrics::counter!(
            crate::metrics::HEALTH_CHECKS,
            "integration" => c.integration.clone(),
            "result" => result.as_str()
        )
        .increment(1);
        let check = HealthCheck {
            checked_at: self.now(),
            result,
            detail: detail.map(|d| protocol::clean(&d, 200)),
        };
        self.inner.store.record_health_check(&c.id, &check).await?;
        self.connection_changed(&c.id);
        Ok(check)
    }
}

/// Why nothing was checked: the connection cannot be (not active, no request to check
/// with), or the check failed to run.
enum Unchecked {
    Cannot(EngineError),
    Failed(EngineError),
}

impl From<EngineError> for Unchecked {
    fn from(e: EngineError) -> Self {
        Unchecked::Failed(e)
    }
}

/// A 403: the result, the provider's message, and the scopes the request needs that
/// the connection was not granted (when it knows its granted scopes).
fn forbidden(c: &Connection, req: &CheckRequest, message: Option<String>) -> Found {
    let missing_scopes: Vec<String> = if c.scopes.is_empty() {
        Vec::new()
    } else {
        req.scopes
            .iter()
            .filter(|s| !c.scopes.contains(s))
            .cloned()
            .collect()
    };
    let mut detail = "HTTP 403".to_owned();
    if !missing_scopes.is_empty() {
        detail.push_str(&format!(" (missing scopes: {})", missing_scopes.join(" ")));
    }
    if let Some(m) = message {
        detail.push_str(": ");
        detail.push_str(&m);
    }
    Found {
        result: HealthResult::Forbidden,
        detail: Some(detail),
        missing_scopes,
    }
}

/// The provider's explanation of a refusal, from its JSON body (`error_description`,
/// `message`, `error.message`, `errors[0].message`, `detail`, a string `error`), with
/// secret-looking values redacted and cut to [`MESSAGE_CHARS`].
fn provider_message(body: &Value) -> Option<String> {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let found = text(body.get("error_description"))
        .or_else(|| text(body.get("message")))
        .or_else(|| text(body.pointer("/error/message")))
        .or_else(|| text(body.pointer("/errors/0/message")))
        .or_else(|| text(body.pointer("/errors/0/detail")))
        .or_else(|| text(body.get("detail")))
        .or_else(|| text(body.get("error")))?;
    let redacted = crate::pipeline::deliver::redact_text(&found);
    let clean = protocol::clean(&redacted, MESSAGE_CHARS + 1);
    Some(if clean.chars().count() > MESSAGE_CHARS {
        format!("{}…", clean.chars().take(MESSAGE_CHARS).collect::<String>())
    } else {
        clean
    })
}

/// The result when getting a token failed: a refused grant (already marked
/// `needs_reauth` by the refresh) is `rejected`, an outage `unavailable`.
fn token_failure(e: EngineError) -> Found {
    let (result, detail) = match e {
        EngineError::ConnectionState {
            status: ConnectionStatus::NeedsReauth,
            ..
        } => (
            HealthResult::Rejected,
            Some("the provider refused the refresh token".into()),
        ),
        EngineError::ProviderUnavailable(m) => (HealthResult::Unavailable, Some(m)),
        other => (HealthResult::Error, Some(other.to_string())),
    };
    Found::plain(result, detail)
}
