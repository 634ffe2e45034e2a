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
//! - Outcomes: 2xx is `ok`. 401/403 on an OAuth2 or client-credentials connection forces
//!   one (single-flight) refresh: a refused refresh marks the connection `needs_reauth`
//!   on the refresh path as always; a refresh that succeeds is followed by one more try,
//!   and a second 401/403 marks it `needs_reauth` too (under the refresh lease, with the
//!   same `connection.needs_reauth` event and audit row). 401/403 on an API-key or basic
//!   connection marks it at once. 5xx, 429, timeouts and refused connections are
//!   `unavailable` and change nothing; any other answer is `error` and changes nothing.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use store::{Connection, ConnectionStatus, HealthCheck, HealthResult};

use super::context::Ctx;
use super::credentials::Credentials;
use super::protocol;
use super::tokens::jitter_unit;
use crate::{Engine, EngineError, EngineResult};

/// How often the checker looks for due connections.
pub const TICK: StdDuration = StdDuration::from_secs(10);

/// What one request with the connection's credentials got.
enum Probe {
    Accepted,
    Refused(u16),
    Unavailable(String),
    Other(String),
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
        let (c, creds) = match self.load_credentials(id).await {
            Ok(x) => x,
            Err(EngineError::ConnectionState { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        if c.status != ConnectionStatus::Active {
            return Ok(None);
        }
        let ctx = self.connect_context(&c.integration)?;
        let Some(url) = self.health_url(&ctx, &c)? else {
            return Ok(None);
        };
        let refreshes = matches!(c.auth_mode.as_str(), "oauth2" | "client_credentials");
        let (result, detail) = if refreshes {
            self.check_token(&ctx, &c, &url).await?
        } else {
            match self.probe(&ctx, &url, &c, &creds).await {
                Probe::Accepted => (HealthResult::Ok, None),
                Probe::Refused(status) => {
                    let message = format!(
                        "the provider refused the stored credentials (HTTP {status}) at a health check; the end user must connect again with working credentials"
                    );
                    (
                        self.mark_rejected(&c, &message).await?,
                        Some(format!("HTTP {status}")),
                    )
                }
                Probe::Unavailable(d) => (HealthResult::Unavailable, Some(d)),
                Probe::Other(d) => (HealthResult::Error, Some(d)),
            }
        };
        self.record_health(&c, result, detail).await?;
        Ok(Some(result))
    }

    /// An OAuth2 or client-credentials connection: a current token (refreshed first if
    /// due), the request, and on 401/403 one forced refresh and one more request.
    async fn check_token(
        &self,
        ctx: &Ctx,
        c: &Connection,
        url: &str,
    ) -> EngineResult<(HealthResult, Option<String>)> {
        let mut refreshed = false;
        loop {
            match self.connection_token(&c.id).await {
                Ok(_) => {}
                Err(e) => return Ok(token_failure(e)),
            }
            let (c2, creds) = self.load_credentials(&c.id).await?;
            match self.probe(ctx, url, &c2, &creds).await {
                Probe::Accepted => return Ok((HealthResult::Ok, None)),
                Probe::Unavailable(d) => return Ok((HealthResult::Unavailable, Some(d))),
                Probe::Other(d) => return Ok((HealthResult::Error, Some(d))),
                Probe::Refused(status) if refreshed => {
                    let message = format!(
                        "the provider refused a freshly refreshed token (HTTP {status}) at a health check; the end user must connect again"
                    );
                    return Ok((
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

    /// The URL of the cheapest authenticated request: the catalog's verify request
    /// under the API base, else the OAuth2 userinfo endpoint.
    fn health_url(&self, ctx: &Ctx, c: &Connection) -> EngineResult<Option<String>> {
        let values = ctx.values(&c.settings);
        let template = match (&ctx.provider.verify, &ctx.provider.api_base_url) {
            (Some(v), Some(base)) => Some((base.clone(), v.path.clone())),
            _ => ctx
                .provider
                .oauth2
                .as_ref()
                .filter(|_| c.auth_mode == "oauth2")
                .and_then(|o| o.userinfo_url.clone())
                .map(|u| (u, String::new())),
        };
        let Some((base, path)) = template else {
            return Ok(None);
        };
        let base = protocol::resolve(&ctx.provider, &base, &values, self.dev())
            .map_err(|e| EngineError::Misconfigured(e.to_string()))?;
        Ok(Some(if path.is_empty() {
            base
        } else {
            format!("{}{}", base.trim_end_matches('/'), path)
        }))
    }

    async fn probe(&self, ctx: &Ctx, url: &str, c: &Connection, creds: &Credentials) -> Probe {
        let headers = &ctx.provider.api_headers;
        let answer = match (
            &creds.access_token,
            &creds.api_key,
            &creds.username,
            &creds.password,
        ) {
            (Some(token), _, _, _) => protocol::get_with_credential(
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
            .map(|(s, _)| s),
            (None, Some(key), _, _) => protocol::get_with_credential(
                &self.outbound(),
                url,
                ctx.provider.api_key.as_ref(),
                key,
                headers,
            )
            .await
            .map(|(s, _)| s),
            (None, None, Some(u), Some(p)) => {
                protocol::get_with_basic(&self.outbound(), url, u, p, headers).await
            }
            _ => return Probe::Other(format!("connection {} holds no credential to try", c.id)),
        };
        match answer {
            Ok(200..=299) => Probe::Accepted,
            Ok(s @ (401 | 403)) => Probe::Refused(s),
            Ok(s @ (429 | 500..=599)) => Probe::Unavailable(format!("HTTP {s}")),
            Ok(s) => Probe::Other(format!("HTTP {s}")),
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
    ) -> EngineResult<()> {
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
        Ok(())
    }
}

/// The result when getting a token failed: a refused grant (already marked
/// `needs_reauth` by the refresh) is `rejected`, an outage `unavailable`.
fn token_failure(e: EngineError) -> (HealthResult, Option<String>) {
    match e {
        EngineError::ConnectionState {
            status: ConnectionStatus::NeedsReauth,
            ..
        } => (
            HealthResult::Rejected,
            Some("the provider refused the refresh token".into()),
        ),
        EngineError::ProviderUnavailable(m) => (HealthResult::Unavailable, Some(m)),
        other => (HealthResult::Error, Some(other.to_string())),
    }
}
