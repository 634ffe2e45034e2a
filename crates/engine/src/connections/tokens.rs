//! Handing out tokens, and refreshing them exactly once.
//!
//! Refresh is single-flight at two levels. In one process, callers for the same
//! connection queue on a per-connection mutex; the first refreshes, the others find the
//! new token when they get the lock. Across processes, the refresher holds a lease in the
//! database whose fence must still be current when the result is written
//! (`store::ConnectionStore::commit_refresh`); a process that finds the lease taken waits
//! for the credentials version to change instead of calling the provider.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use store::{Connection, ConnectionStatus, RefreshCommit};

use super::credentials::Credentials;
use super::protocol::{self, Client, Grant, TokenError};
use crate::{Actor, Engine, EngineError, EngineResult};

/// The last refresh result seen under a connection's lock: callers queued behind a
/// refresh take it from here instead of each reading the database in turn (with a
/// thousand callers queued, those reads in series outlasted a short-lived token).
type Slot = tokio::sync::Mutex<Option<Box<(Connection, Credentials)>>>;

/// Per-connection locks of this process (entries vanish with their last user, and
/// with them the result they hold).
#[derive(Default)]
pub(crate) struct RefreshLocks {
    map: Mutex<HashMap<String, Weak<Slot>>>,
}

impl std::fmt::Debug for RefreshLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshLocks").finish_non_exhaustive()
    }
}

impl RefreshLocks {
    fn get(&self, id: &str) -> Arc<Slot> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = map.get(id).and_then(Weak::upgrade) {
            return lock;
        }
        if map.len() > 1024 {
            map.retain(|_, w| w.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(None));
        map.insert(id.to_owned(), Arc::downgrade(&lock));
        lock
    }
}

/// What `GET /api/connections/{id}/token` returns. Holds a secret: serialise it only into
/// the response.
#[derive(Clone, Serialize)]
pub struct TokenView {
    /// The access token (OAuth2 and client-credentials connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// `Bearer` unless the provider says otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// The API key (API-key connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// User name (basic-auth connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password (basic-auth connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for TokenView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenView")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl Drop for TokenView {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.access_token.zeroize();
        self.api_key.zeroize();
        self.password.zeroize();
    }
}

/// What a forced refresh did.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshOutcome {
    /// The connection after the refresh.
    pub connection: super::ConnectionView,
    /// Whether this call refreshed (false: another caller's refresh was used).
    pub refreshed: bool,
}

fn token_view(c: &Connection, creds: &Credentials) -> TokenView {
    TokenView {
        access_token: creds.access_token.clone(),
        token_type: creds
            .access_token
            .as_ref()
            .map(|_| creds.token_type.clone().unwrap_or_else(|| "Bearer".into())),
        expires_at: c.expires_at,
        scopes: c.scopes.clone(),
        api_key: creds.api_key.clone(),
        username: creds.username.clone(),
        password: creds.password.clone(),
    }
}

fn refresh_metric(integration: &str, outcome: &'static str, took: StdDuration) {
    metrics::counter!(
        crate::metrics::TOKEN_REFRESHES,
        "integration" => integration.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!(
        crate::metrics::TOKEN_REFRESH_DURATION,
        "integration" => integration.to_owned()
    )
    .record(took.as_secs_f64());
}

/// Backoff before the next background attempt after `failures` failures in a row:
/// 30 s doubling to 1 h, with ±20 % jitter.
fn backoff(failures: u32) -> Duration {
    let base = 30f64 * 2f64.powi(failures.saturating_sub(1).min(7) as i32);
    let secs = base.min(3600.0) * (0.8 + 0.4 * jitter_unit());
    Duration::milliseconds((secs * 1000.0) as i64)
}

/// A uniform number in [0, 1) from the OS generator (0.5 if it fails).
pub(crate) fn jitter_unit() -> f64 {
    let mut b = [0u8; 4];
    match getrandom::fill(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.5,
    }
}

/// The lease a refresh holds: its fence (every write under the lease is checked
/// against it) and when the refresh started (for the duration metric).
#[derive(Clone, Copy)]
struct Held {
    fence: i64,
    started: std::time::Instant,
}

enum Attempt {
    /// Refreshed and written.
    Done(Box<(Connection, Credentials)>),
    /// Someone else refreshed meanwhile.
    Fresh,
}

impl Engine {
    /// How long before its expiry a token is renewed: `token_refresh_margin_secs`, but
    /// never more than half the token's own lifetime (from `obtained` to `expires`), so
    /// that a token which lives shorter than the margin (Keycloak's 300 s default
    /// against the 300 s margin, a 6 s test token) is served for half its life instead of
    /// being "due" the moment it arrives. Without `obtained` (rows written before it was
    /// kept) the margin applies as it is.
    pub(crate) fn refresh_lead(
        &self,
        obtained: Option<DateTime<Utc>>,
        expires: DateTime<Utc>,
    ) -> Duration {
        let margin = Duration::seconds(self.config().token_refresh_margin_secs as i64);
        match obtained {
            Some(o) if expires > o => margin.min((expires - o) / 2),
            Some(_) => Duration::zero(),
            None => margin,
        }
    }

    /// When the background refresher should renew a token obtained now that expires at
    /// `expires_at`: [`Engine::refresh_lead`] before, plus up to 10 % of jitter so that
    /// tokens issued together are not renewed in one burst (never earlier than 45 % of
    /// the token's lifetime, so a short-lived token is renewed once per token, not once
    /// per refresher pass).
    pub(crate) fn next_refresh(
        &self,
        expires_at: Option<DateTime<Utc>>,
        renewable: bool,
    ) -> Option<DateTime<Utc>> {
        let at = expires_at.filter(|_| renewable)?;
        let lead = self.refresh_lead(Some(self.now()), at).num_milliseconds() as f64;
        let lead = lead * (1.0 + 0.1 * jitter_unit());
        Some(at - Duration::milliseconds(lead as i64))
    }

    /// Whether `c`'s token must be renewed before it is handed out at `now`: it expires
    /// within its [`Engine::refresh_lead`].
    pub(crate) fn needs_refresh(&self, c: &Connection, now: DateTime<Utc>) -> bool {
        renews(&c.auth_mode)
            && c.expires_at
                .is_some_and(|e| e <= now + self.refresh_lead(c.token_obtained_at, e))
    }

    /// Whether `c` is an OAuth2 connection whose provider the catalog documents as
    /// issuing no refresh tokens (`refresh_tokens = "none"`).
    pub(crate) fn issues_no_refresh_tokens(&self, c: &Connection) -> bool {
        c.auth_mode == "oauth2"
            && self.connect_context(&c.integration).is_ok_and(|ctx| {
                ctx.provider.oauth2.as_ref().is_some_and(|o| {
                    o.token_response.refresh_tokens == catalog::RefreshTokens::None
                })
            })
    }

    pub(crate) async fn load_credentials(
        &self,
        id: &str,
    ) -> EngineResult<(Connection, Credentials)> {
        match self.inner.store.get_connection_credentials(id).await? {
            Some((c, sealed)) => {
                let creds = Credentials::open(&self.inner.keyring, id, &sealed)?;
                Ok((c, creds))
            }
            None => match self.inner.store.get_connection(id).await? {
                Some(c) => Err(state_error(&c)),
                None => Err(EngineError::NotFound {
                    what: "connection",
                    id: id.to_owned(),
                }),
            },
        }
    }

    /// A valid access token (or the API key / basic credentials) of a connection,
    /// refreshed first when it expires within `token_refresh_margin_secs` (or half its
    /// lifetime, when that is shorter: see [`Engine::refresh_lead`]).
    pub async fn connection_token(&self, id: &str) -> EngineResult<TokenView> {
        let (c, creds) = self.load_credentials(id).await?;
        if c.status != ConnectionStatus::Active {
            return Err(state_error(&c));
        }
        if !self.needs_refresh(&c, self.now()) {
            return Ok(token_view(&c, &creds));
        }
        let (c, creds, _) = self.refresh_single_flight(c, creds, false).await?;
        Ok(token_view(&c, &creds))
    }

    /// Refreshes now, whatever the expiry (`POST /api/connections/{id}/refresh`).
    pub async fn force_refresh(&self, id: &str) -> EngineResult<RefreshOutcome> {
        let (c, creds) = self.load_credentials(id).await?;
        if !renews(&c.auth_mode) {
            return Err(EngineError::Invalid {
                field: "id",
                message: format!(
                    "connection {id:?} uses {} credentials, which do not refresh",
                    c.auth_mode
                ),
            });
        }
        if c.status != ConnectionStatus::Active {
            // A dead grant stays dead: only a new connect flow helps.
            return Err(state_error(&c));
        }
        let (c, _, refreshed) = self.refresh_single_flight(c, creds, true).await?;
        Ok(RefreshOutcome {
            connection: c.into(),
            refreshed,
        })
    }

    /// Refreshes `c` unless someone else does (or did) it first; returns the connection
    /// and credentials to use and whether this call refreshed.
    async fn refresh_single_flight(
        &self,
        seen: Connection,
        seen_creds: Credentials,
        force: bool,
    ) -> EngineResult<(Connection, Credentials, bool)> {
        let lock = self.inner.refresh_locks.get(&seen.id);
        let mut slot = lock.lock().await;
        // Another caller of this process may have refreshed while we queued: its
        // result is in the slot.
        if let Some(done) = slot.as_ref()
            && done.0.token_version > seen.token_version
            && done.0.status == ConnectionStatus::Active
            && done.0.expires_at.is_none_or(|e| e > self.now())
        {
            return Ok((done.0.clone(), done.1.clone(), false));
        }
        // Or found the grant dead, or another process refreshed.
        let (c, creds) = self.load_credentials(&seen.id).await?;
        if c.status != ConnectionStatus::Active {
            return Err(state_error(&c));
        }
        if c.token_version != seen.token_version {
            if c.status != ConnectionStatus::Active {
                return Err(state_error(&c));
            }
            return Ok((c, creds, false));
        }
        let now = self.now();
        if !force && !self.needs_refresh(&c, now) {
            return Ok((c, creds, false));
        }
        if self.issues_no_refresh_tokens(&c) {
            // The catalog says this provider issues no refresh tokens: asking would only
            // cost a request. A token still valid is served as it is; an expired one
            // goes to the refusal path below without calling the provider.
            if force {
                return Err(EngineError::Invalid {
                    field: "id",
                    message: format!(
                        "connection {:?}: provider {} issues no refresh tokens, so its token cannot be refreshed; send the user through the connect flow again for a new one",
                        c.id, c.provider
                    ),
                });
            }
            if c.expires_at.is_some_and(|e| e > now) {
                return Ok((c, creds, false));
            }
        }
        if !force && c.refresh_failures > 0 {
            // The last attempt failed: do not hammer a provider that is down. A token
            // still valid is served until the backoff has passed; an expired one fails
            // fast for a moment.
            let valid = c.expires_at.is_some_and(|e| e > now);
            if valid && c.next_refresh_at.is_some_and(|n| n > now) {
                return Ok((c, creds, false));
            }
            if !valid && c.updated_at + Duration::seconds(2) > now {
                return Err(EngineError::ProviderUnavailable(format!(
                    "the last refresh failed ({}); retry shortly",
                    c.last_error.as_deref().unwrap_or("unknown error")
                )));
            }
        }
        drop(seen_creds);
        let (c, creds, refreshed) = self.refresh_across_processes(c, creds, force).await?;
        if c.status == ConnectionStatus::Active {
            *slot = Some(Box::new((c.clone(), creds.clone())));
        }
        Ok((c, creds, refreshed))
    }

    /// Takes the database lease (or waits for whoever holds it) and refreshes.
    async fn refresh_across_processes(
        &self,
        c: Connection,
        creds: Credentials,
        force: bool,
    ) -> EngineResult<(Connection, Credentials, bool)> {
        let cfg = self.config();
        let lease_for = Duration::seconds(cfg.refresh_lease_secs as i64);
        let deadline = self.instant()
            + StdDuration::from_secs(cfg.refresh_lease_secs + cfg.outbound_timeout_secs);
        let mut wait = StdDuration::from_millis(20);
        loop {
            let now = self.now();
            if let Some(lease) = self
                .inner
                .store
                .acquire_refresh_lease(&c.id, now, now + lease_for)
                .await?
            {
                if lease.token_version != c.token_version {
                    // Another process refreshed between our read and the lease.
                    self.inner
                        .store
                        .release_refresh_lease(&c.id, lease.fence)
                        .await?;
                    let (c2, creds2) = self.load_credentials(&c.id).await?;
                    if c2.status != ConnectionStatus::Active {
                        return Err(state_error(&c2));
                    }
                    return Ok((c2, creds2, false));
                }
                return match self
                    .refresh_under_lease(&c, &creds, lease.fence, now + lease_for, force)
                    .await?
                {
                    Attempt::Done(done) => {
                        let (c2, creds2) = *done;
                        Ok((c2, creds2, true))
                    }
                    Attempt::Fresh => {
                        let (c2, creds2) = self.load_credentials(&c.id).await?;
                        Ok((c2, creds2, false))
                    }
                };
            }
            // Somebody else holds the lease: wait for their result.
            self.clock().sleep(wait).await;
            wait = (wait * 2).min(StdDuration::from_millis(250));
            let (c2, creds2) = self.load_credentials(&c.id).await?;
            if c2.token_version != c.token_version {
                if c2.status != ConnectionStatus::Active {
                    return Err(state_error(&c2));
                }
                if force || !self.needs_refresh(&c2, self.now()) {
                    return Ok((c2, creds2, false));
                }
            }
            if self.instant() > deadline {
                return if c.expires_at.is_some_and(|e| e > self.now()) {
                    Ok((c, creds, false))
                } else {
                    Err(EngineError::ProviderUnavailable(
                        "another refresh of this connection is taking too long; retry shortly"
                            .into(),
                    ))
                };
            }
        }
    }

    /// Calls the provider while holding the lease and writes the outcome under the fence.
    ///
    /// The steps: the integration's context (the lease goes back if it is gone), the
    /// provider's token endpoint within what is left of the lease, then one of three
    /// outcomes written under the fence: new tokens ([`Engine::commit_refreshed`]), a
    /// refused grant ([`Engine::refresh_refused`]) or a failure that may pass
    /// ([`Engine::refresh_failed`]).
    async fn refresh_under_lease(
        &self,
        c: &Connection,
        creds: &Credentials,
        fence: i64,
        lease_until: DateTime<Utc>,
        force: bool,
    ) -> EngineResult<Attempt> {
        let held = Held {
            fence,
            started: self.instant(),
        };
        let ctx = match self.connect_context(&c.integration) {
            Ok(ctx) => ctx,
            Err(e) => {
                // Nothing will be written: let the next caller try at once rather
                // than wait for the lease to lapse.
                self.inner.store.release_refresh_lease(&c.id, fence).await?;
                return Err(e);
            }
        };
        let still_valid = c.expires_at.is_some_and(|e| e > self.now());
        let result = self
            .call_within_lease(&ctx, c, creds, lease_until, still_valid)
            .await;
        let now = self.now();
        match result {
            Ok(tokens) => {
                let rotating = c.auth_mode == "oauth2"
                    && ctx.provider.oauth2.as_ref().is_some_and(|o| {
                        o.token_response.refresh_tokens == catalog::RefreshTokens::Rotating
                    });
                if rotating && tokens.credentials.refresh_token.is_none() {
                    self.refresh_token_not_rotated(c).await;
                }
                self.commit_refreshed(c, creds, held, tokens, now).await
            }
            Err(TokenError::InvalidGrant(detail)) => self.refresh_refused(c, held, &detail).await,
            Err(TokenError::Ended { status, message }) => {
                self.refresh_ended(c, held.fence, status, &message).await?;
                refresh_metric(&c.integration, "ended", self.instant() - held.started);
                Err(ended_error(c, status, message))
            }
            Err(e) => {
                // Keep serving the token we have, unless the caller demanded a new one.
                let keep = still_valid && !force;
                self.refresh_failed(c, creds, held, e, now, keep).await
            }
        }
    }

    /// The provider's answer to the refresh, retried a little when it is unavailable.
    /// With a valid token in hand one attempt is enough (the background refresher
    /// retries with backoff); without one, up to three, with jittered pauses. A call is
    /// never started when it could outlive the lease: its result could not be written
    /// under our fence, and a rotated refresh token would be lost.
    async fn call_within_lease(
        &self,
        ctx: &super::context::Ctx,
        c: &Connection,
        creds: &Credentials,
        lease_until: DateTime<Utc>,
        still_valid: bool,
    ) -> Result<protocol::TokenSet, TokenError> {
        let attempts = if still_valid { 1 } else { 3 };
        let timeout = StdDuration::from_secs(self.config().outbound_timeout_secs);
        let mut result = Err(TokenError::Unavailable("not attempted".into()));
        for attempt in 0..attempts {
            if attempt > 0 {
                let pause = StdDuration::from_millis(250 * (1 << attempt));
                self.clock().sleep(pause.mul_f64(0.5 + jitter_unit())).await;
            }
            let left = (lease_until - self.now()).to_std().unwrap_or_default();
            if left <= timeout {
                break;
            }
            result = self.call_refresh(ctx, c, creds).await;
            if !matches!(result, Err(TokenError::Unavailable(_))) {
                break;
            }
        }
        result
    }

    /// A provider the catalog documents as rotating refresh tokens answered a refresh
    /// without a new one. The old one is kept (it is all there is), but the catalog's
    /// fact or the provider's behaviour is wrong: if the provider did invalidate the old
    /// token, the next refresh will fail with `invalid_grant`. Operators are told by a
    /// warning in the log and `switchboard_refresh_token_not_rotated_total`, and the
    /// first time per integration in this process by a `connection.refresh_token_not_rotated`
    /// audit row (durable, and listed by `audit list`). Not the connection's
    /// `last_error`, which the successful refresh clears and which speaks of the
    /// connection, while this is a fact about the provider; not an event for the app,
    /// which can do nothing about it.
    async fn refresh_token_not_rotated(&self, c: &Connection) {
        metrics::counter!(
            crate::metrics::REFRESH_TOKEN_NOT_ROTATED,
            "integration" => c.integration.clone()
        )
        .increment(1);
        tracing::warn!(
            connection = %c.id,
            integration = %c.integration,
            provider = %c.provider,
            "the provider is documented as rotating refresh tokens but answered a refresh without a new one; the old refresh token is kept"
        );
        let first = {
            let mut seen = self
                .inner
                .not_rotated_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            seen.insert(c.integration.clone())
        };
        if first
            && let Err(e) = self
                .audit(
                    &Actor::System,
                    "connection.refresh_token_not_rotated",
                    &c.id,
                    serde_json::json!({
                        "integration": c.integration,
                        "provider": c.provider,
                    }),
                )
                .await
        {
            tracing::warn!(connection = %c.id, error = %e, "cannot audit a refresh token that was not rotated");
        }
    }

    /// Writes new tokens under the fence and returns the connection as it now is. A
    /// response without a refresh token (or a user token) keeps the old one: many
    /// providers rotate only sometimes, and a "reused" one (the catalog's
    /// `refresh_tokens`) normally sends none. When the fence refuses the write, the lease was
    /// taken over and the newer holder's tokens stand ([`Attempt::Fresh`]).
    async fn commit_refreshed(
        &self,
        c: &Connection,
        creds: &Credentials,
        held: Held,
        tokens: protocol::TokenSet,
        now: DateTime<Utc>,
    ) -> EngineResult<Attempt> {
        let mut new = tokens.credentials.clone();
        if new.refresh_token.is_none() {
            new.refresh_token = creds.refresh_token.clone();
        }
        if new.user_access_token.is_none() {
            new.user_access_token = creds.user_access_token.clone();
        }
        // A lifetime capped at ten years, so that a huge `expires_in` cannot overflow.
        let expires_at = tokens
            .expires_in
            .map(|s| now + Duration::seconds(s.min(10 * 365 * 86_400) as i64));
        let scopes = tokens.scopes.clone().unwrap_or_else(|| c.scopes.clone());
        let renewable = new.refresh_token.is_some() || renews_by_grant(&c.auth_mode);
        let commit = RefreshCommit {
            credentials: Some(new.seal(&self.inner.keyring, &c.id)?),
            expires_at,
            scopes: scopes.clone(),
            status: ConnectionStatus::Active,
            last_error: None,
            last_refresh_at: Some(now),
            refresh_failures: 0,
            next_refresh_at: self.next_refresh(expires_at, renewable),
            at: now,
        };
        if !self
            .inner
            .store
            .commit_refresh(&c.id, held.fence, &commit)
            .await?
        {
            refresh_metric(&c.integration, "fenced", self.instant() - held.started);
            tracing::warn!(connection = %c.id, "refresh result discarded: the lease was lost");
            return Ok(Attempt::Fresh);
        }
        // Told only once committed: the proxy's cache and other watchers then read the
        // new tokens, never ones that might still be discarded.
        self.connection_changed(&c.id);
        refresh_metric(&c.integration, "success", self.instant() - held.started);
        let mut updated = c.clone();
        updated.expires_at = expires_at;
        updated.scopes = scopes;
        updated.last_refresh_at = Some(now);
        updated.last_error = None;
        updated.refresh_failures = 0;
        updated.status = ConnectionStatus::Active;
        updated.token_version += 1;
        updated.updated_at = now;
        updated.token_obtained_at = Some(now);
        updated.next_refresh_at = commit.next_refresh_at;
        // Scopes the provider no longer grants are a change of consent; the refresh
        // stands whatever the record's fate.
        if c.scopes.iter().any(|s| !updated.scopes.contains(s))
            && let Err(e) = self
                .record_consent(
                    &updated,
                    store::ConsentKind::ScopeLoss,
                    super::consent::ConsentOrigin {
                        requested: c.scopes.clone(),
                        ..Default::default()
                    },
                )
                .await
        {
            tracing::warn!(connection = %c.id, error = %e, "cannot record the scopes lost at a refresh");
        }
        Ok(Attempt::Done(Box::new((updated, new))))
    }

    /// The provider refused the refresh token: no retry can help, so the connection
    /// needs the end user again. It is marked so under the fence, and the app is told
    /// (`connection.needs_reauth`), before the caller gets the error.
    async fn refresh_refused(
        &self,
        c: &Connection,
        held: Held,
        detail: &str,
    ) -> EngineResult<Attempt> {
        let message = format!(
            "the provider refused the refresh token ({}); the end user must connect again",
            protocol::clean(detail, 200)
        );
        self.fail_refresh(c, held.fence, ConnectionStatus::NeedsReauth, &message, None)
            .await?;
        refresh_metric(
            &c.integration,
            "invalid_grant",
            self.instant() - held.started,
        );
        self.count_activity(
            &c.integration,
            crate::activity::Kind::RefreshFailed,
            "invalid_grant",
        );
        self.record_needs_reauth(c, &message).await?;
        Err(EngineError::ConnectionState {
            id: c.id.clone(),
            status: ConnectionStatus::NeedsReauth,
            hint: "the provider refused the refresh token; send the user through the connect flow again",
        })
    }

    /// A failure that may pass (the provider down, a refused client, an odd answer):
    /// the connection stays active with its failure count and a back-off before the
    /// next try, under the fence. The audit log gets the 1st, 2nd, 4th, 8th… failure in
    /// a row, so an outage does not flood it. With `keep`, the token in hand is served
    /// on until it expires; otherwise the caller gets the error.
    async fn refresh_failed(
        &self,
        c: &Connection,
        creds: &Credentials,
        held: Held,
        e: TokenError,
        now: DateTime<Utc>,
        keep: bool,
    ) -> EngineResult<Attempt> {
        let failures = c.refresh_failures.saturating_add(1);
        let message = e.to_string();
        self.fail_refresh(
            c,
            held.fence,
            ConnectionStatus::Active,
            &message,
            Some(now + backoff(failures)),
        )
        .await?;
        let outcome = match e {
            TokenError::Unavailable(_) => "provider_unavailable",
            TokenError::InvalidClient(_) => "invalid_client",
            _ => "error",
        };
        refresh_metric(&c.integration, outcome, self.instant() - held.started);
        self.count_activity(
            &c.integration,
            crate::activity::Kind::RefreshFailed,
            outcome,
        );
        tracing::warn!(connection = %c.id, integration = %c.integration, error = %message, "token refresh failed");
        if failures == 1 || failures.is_power_of_two() {
            self.audit(
                &Actor::System,
                "connection.refresh_failed",
                &c.id,
                serde_json::json!({
                    "integration": c.integration,
                    "error": e.code(),
                    "failures": failures,
                }),
            )
            .await?;
        }
        if keep {
            let mut kept = c.clone();
            kept.last_error = Some(message);
            kept.refresh_failures = failures;
            return Ok(Attempt::Done(Box::new((kept, creds.clone()))));
        }
        Err(match e {
            TokenError::Unavailable(m) => EngineError::ProviderUnavailable(format!(
                "the provider's token endpoint is unavailable ({m}); the token has expired, retry shortly"
            )),
            // Nothing the provider said: the configuration or the connection must change.
            TokenError::NoKey(m) => EngineError::Misconfigured(m),
            other => EngineError::Provider(other.to_string()),
        })
    }

    async fn call_refresh(
        &self,
        ctx: &super::context::Ctx,
        c: &Connection,
        creds: &Credentials,
    ) -> Result<protocol::TokenSet, TokenError> {
        if let Some(signed) = self.signed_grant(ctx, c).await {
            return signed;
        }
        let client_id = ctx
            .client_id()
            .map_err(|e| TokenError::Request(e.to_string()))?;
        let client = Client {
            id: client_id,
            secret: ctx.integration.client_secret.as_ref(),
        };
        let scopes = ctx.scopes();
        let documented = ctx
            .provider
            .oauth2
            .as_ref()
            .map(|o| o.token_response.refresh_tokens);
        let grant = if c.auth_mode == "client_credentials" {
            Grant::ClientCredentials { scopes: &scopes }
        } else if documented == Some(catalog::RefreshTokens::None) {
            return Err(TokenError::InvalidGrant(format!(
                "provider {} issues no refresh tokens and the access token has expired",
                ctx.provider.id
            )));
        } else {
            match creds.refresh_token.as_deref() {
                Some(r) => Grant::Refresh { refresh_token: r },
                None => {
                    return Err(TokenError::InvalidGrant(
                        "the connection has no refresh token".into(),
                    ));
                }
            }
        };
        protocol::token_request(
            &self.outbound(),
            &ctx.provider,
            &client,
            &ctx.values(&c.settings),
            grant,
            self.dev(),
        )
        .await
    }

    pub(super) async fn fail_refresh(
        &self,
        c: &Connection,
        fence: i64,
        status: ConnectionStatus,
        message: &str,
        next: Option<DateTime<Utc>>,
    ) -> EngineResult<()> {
        let now = self.now();
        let commit = RefreshCommit {
            credentials: None,
            expires_at: c.expires_at,
            scopes: c.scopes.clone(),
            status,
            last_error: Some(message.to_owned()),
            last_refresh_at: None,
            refresh_failures: c.refresh_failures.saturating_add(1),
            next_refresh_at: next,
            at: now,
        };
        self.inner
            .store
            .commit_refresh(&c.id, fence, &commit)
            .await?;
        self.connection_changed(&c.id);
        if status != ConnectionStatus::Active {
            self.refresh_connection_gauges().await;
        }
        Ok(())
    }

    /// Records the internal `connection.needs_reauth` event (delivered to the app by the
    /// event pipeline) and the audit row.
    pub(super) async fn record_needs_reauth(
        &self,
        c: &Connection,
        message: &str,
    ) -> EngineResult<()> {
        let now = self.now();
        let body = serde_json::json!({
            "type": "connection.needs_reauth",
            "data": {
                "connection_id": c.id,
                "integration": c.integration,
                "provider": c.provider,
                "end_user_id": c.end_user_id,
                "reason": message,
                "at": now,
            }
        });
        let event = store::Event {
            id: crate::ids::new_event_id(),
            integration: c.integration.clone(),
            received_at: now,
            provider_event_id: None,
            event_type: Some("connection.needs_reauth".into()),
            scheme: "internal".into(),
            headers: Vec::new(),
            body: serde_json::to_vec(&body).unwrap_or_default(),
            connection_id: Some(c.id.clone()),
            routing_key: None,
        };
        metrics::counter!(crate::metrics::NEEDS_REAUTH, "integration" => c.integration.clone())
            .increment(1);
        self.inner.store.insert_event(&event).await?;
        self.poke_pipeline();
        self.audit(
            &Actor::System,
            "connection.needs_reauth",
            &c.id,
            serde_json::json!({ "integration": c.integration, "event": event.id }),
        )
        .await?;
        Ok(())
    }

    /// One pass of the background refresher: renews every active connection whose
    /// `next_refresh_at` has come, at most `background_refresh_concurrency` at a time.
    /// Returns how many were looked at.
    pub async fn refresh_due(&self) -> EngineResult<usize> {
        let cfg = self.config();
        let due = self.inner.store.connections_due(self.now(), 500).await?;
        let n = due.len();
        let permits = Arc::new(tokio::sync::Semaphore::new(
            cfg.background_refresh_concurrency.max(1) as usize,
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for c in due {
            let engine = self.clone();
            let permit = permits.clone();
            tasks.spawn(async move {
                let Ok(_p) = permit.acquire_owned().await else {
                    return;
                };
                let id = c.id.clone();
                let Ok((c, creds)) = engine.load_credentials(&id).await else {
                    return;
                };
                if c.status != ConnectionStatus::Active || engine.issues_no_refresh_tokens(&c) {
                    return;
                }
                if let Err(e) = engine.refresh_single_flight(c, creds, true).await {
                    tracing::debug!(connection = %id, error = %e, "background refresh failed");
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(n)
    }

    /// Runs the background refresher until `shutdown` resolves: a pass every
    /// `background_refresh_interval_secs` (±20 % jitter), plus purging expired flows.
    pub async fn run_background_refresher(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let every = self.config().background_refresh_interval_secs as f64;
            let pause = StdDuration::from_secs_f64(every * (0.8 + 0.4 * jitter_unit()));
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.clock().sleep(pause) => {}
            }
            if let Err(e) = self.refresh_due().await {
                tracing::warn!(error = %e, "background refresh pass failed");
            }
            if let Err(e) = self.inner.store.purge_expired_flows(self.now()).await {
                tracing::warn!(error = %e, "purging expired connect flows failed");
            }
            if let Err(e) = self.purge_console_sessions().await {
                tracing::warn!(error = %e, "purging ended console sessions failed");
            }
        }
    }
}

/// The error for a connection that cannot hand out credentials.
pub(crate) fn state_error(c: &Connection) -> EngineError {
    EngineError::ConnectionState {
        id: c.id.clone(),
        status: c.status,
        hint: match c.status {
            ConnectionStatus::NeedsReauth => {
                "the provider refused the grant; send the user through the connect flow again"
            }
            ConnectionStatus::Revoked => "it was disconnected; connect it again to use it",
            ConnectionStatus::Error => "see last_error on the connection",
            ConnectionStatus::Active => "retry",
        },
    }
}

/// Whether connections of a stored `auth_mode` renew their token.
pub(crate) fn renews(auth_mode: &str) -> bool {
    catalog::AuthMode::from_name(auth_mode).is_some_and(catalog::AuthMode::renews_tokens)
}

/// Whether a stored `auth_mode` renews without a refresh token.
pub(crate) fn renews_by_grant(auth_mode: &str) -> bool {
    catalog::AuthMode::from_name(auth_mode)
        .is_some_and(catalog::AuthMode::renews_without_refresh_token)
}

/// The caller's error once the provider ended a grant.
pub(crate) fn ended_error(
    c: &Connection,
    status: ConnectionStatus,
    message: String,
) -> EngineError {
    tracing::warn!(connection = %c.id, integration = %c.integration, error = %message, "the provider ended the grant");
    EngineError::ConnectionState {
        id: c.id.clone(),
        status,
        hint: if status == ConnectionStatus::Revoked {
            "the GitHub App was uninstalled from this account; install it again through the connect flow"
        } else {
            "the installation is suspended; unsuspend it in the account's GitHub settings, then connect again"
        },
    }
}
