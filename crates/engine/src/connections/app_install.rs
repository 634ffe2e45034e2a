//! GitHub App installations: proving that the installation id on the Setup URL is one
//! the returning user can reach, and following an installation's lifecycle webhooks.
//!
//! The installation id GitHub puts on the Setup URL can be spoofed (GitHub's "About the
//! setup URL"): anyone holding a connect session could write another organisation's
//! installation of the same app into the URL, and the app's JWT would happily buy that
//! installation's tokens. So a connect-session installation is bound only when the app
//! requests user authorization during installation: GitHub then also sends a `code`,
//! exchanged (with the app's `client_id` and `client_secret`) for a user access token;
//! `GET /user/installations` with that token lists the installations of this app the
//! user can reach, and the id must be among them. The user token is revoked at once
//! (`DELETE /applications/{client_id}/token`): it is never stored, logged or shown.
//!
//! Lifecycle: GitHub sends `installation` webhooks to the app's webhook URL. Once one
//! is verified and stored, `deleted` ends the connections bound to the installation
//! (revoked, credentials dropped: a deleted installation never comes back, a new
//! installation gets a new id, so its order does not matter).
//!
//! `suspend` and `unsuspend` may arrive in any order, and late: GitHub does not promise
//! an order, and a redelivery can come hours after. So neither is applied as it says:
//! each is a prompt to ask GitHub for the installation's state now
//! (`GET /app/installations/{id}` with the app's JWT: `suspended_at` null or a time; 404
//! when the app is no longer installed), and that state is applied: `needs_reauth` when
//! suspended, active again once a fresh installation token is bought when not, revoked
//! when gone. Each connection is changed under its refresh lease, and only by an
//! observation newer than the last one applied to it (`lifecycle_at`, a compare-and-set
//! in the store), so of two webhooks handled at once (by two instances, say) the later
//! question to GitHub wins, whichever finishes first.
//!
//! When GitHub cannot be asked (an outage, a refused app JWT), the webhook's own state is
//! applied, but only if it is newer than the last observation applied (by the payload's
//! `installation.suspended_at` for a suspension, `installation.updated_at` otherwise)
//! and, for a suspension, than the connection's last installation token (GitHub gives
//! none to a suspended installation, so a token bought later proves the suspension is
//! over). A suspension without a readable time then changes nothing; an unsuspension
//! still needs a fresh token to make a connection active. Where the applied state came
//! from is in the connection's `last_error` (a suspension) or the audit row (a
//! reactivation).
//!
//! `new_permissions_accepted` does not change whether an installation is suspended, and
//! `github_app_authorization` (`revoked`: a user revoked their authorization of the
//! app) changes nothing: connections hold installation tokens, never user tokens.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, LINK};
use serde_json::{Value, json};
use store::{Connection, ConnectionStatus};
use vault::{ExposeSecret, SecretString};

use super::app_auth::{INSTALLATION_ID, is_installation_id};
use super::context::Ctx;
use super::protocol;
use crate::{Actor, Engine};

/// Installations asked for per page of `GET /user/installations` (GitHub's maximum).
const PER_PAGE: u32 = 100;
/// Pages read at most (10,000 installations) before giving up.
const MAX_PAGES: u32 = 100;
/// Connections changed at most per lifecycle webhook.
const MAX_BOUND: u32 = 1_000;

/// Why an installation was not bound; `code` is the app's result code, `reason` the
/// log line's (neither holds a secret).
#[derive(Debug)]
pub(crate) struct NotProven {
    pub(crate) code: &'static str,
    pub(crate) reason: String,
}

fn not_accessible(reason: impl Into<String>) -> NotProven {
    NotProven {
        code: "installation_not_accessible",
        reason: reason.into(),
    }
}

/// What an installation webhook asks of the connections bound to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// `installation.deleted`: the app was uninstalled.
    Deleted,
    /// `installation.suspend`.
    Suspended,
    /// `installation.unsuspend`.
    Unsuspended,
}

impl Lifecycle {
    fn name(self) -> &'static str {
        match self {
            Lifecycle::Deleted => "deleted",
            Lifecycle::Suspended => "suspend",
            Lifecycle::Unsuspended => "unsuspend",
        }
    }
}

/// An installation webhook of a GitHub App integration, as far as the connections care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LifecycleEvent {
    /// What it says happened.
    pub(crate) change: Lifecycle,
    /// The installation's id.
    pub(crate) installation: String,
    /// When, by GitHub's clock: `installation.suspended_at` of a suspension, else
    /// `installation.updated_at` (an RFC 3339 time or Unix seconds); `None` when the
    /// payload has neither in a readable form.
    pub(crate) at: Option<DateTime<Utc>>,
}

/// An installation's state as GitHub tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InstallationState {
    /// Installed and not suspended.
    Active,
    /// Suspended (by the account's owner or the app's).
    Suspended,
    /// The app is not installed there (GitHub's 404).
    Gone,
}

/// The state to apply to the bound connections, as of when, and where it comes from.
#[derive(Debug, Clone)]
struct Observed {
    state: InstallationState,
    /// For GitHub's answer, when it was asked (the engine's clock); for the webhook's
    /// own state, its time (GitHub's clock), if it has one.
    as_of: Option<DateTime<Utc>>,
    /// `None` when GitHub answered; why it could not be asked otherwise.
    unreachable: Option<String>,
}

/// A time in a GitHub payload: an RFC 3339 string or Unix seconds.
fn github_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    match v? {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => DateTime::from_timestamp(n.as_i64()?, 0),
        _ => None,
    }
}

impl Engine {
    /// The lifecycle change a verified webhook of a GitHub App integration carries, with
    /// the installation id and its time: `X-GitHub-Event: installation` (its type) and
    /// an `action` of `deleted`, `suspend` or `unsuspend`. Anything else is `None`.
    pub(crate) fn installation_lifecycle_of(
        event_type: Option<&str>,
        json: Option<&Value>,
    ) -> Option<LifecycleEvent> {
        if event_type? != "installation" {
            return None;
        }
        let json = json?;
        let change = match json.get("action")?.as_str()? {
            "deleted" => Lifecycle::Deleted,
            "suspend" => Lifecycle::Suspended,
            "unsuspend" => Lifecycle::Unsuspended,
            _ => return None,
        };
        let id = match json.pointer("/installation/id")? {
            Value::Number(n) => n.as_u64()?.to_string(),
            Value::String(s) => s.clone(),
            _ => return None,
        };
        if !is_installation_id(&id) {
            return None;
        }
        let at = match change {
            Lifecycle::Suspended => github_time(json.pointer("/installation/suspended_at")),
            _ => None,
        }
        .or_else(|| github_time(json.pointer("/installation/updated_at")));
        Some(LifecycleEvent {
            change,
            installation: id,
            at,
        })
    }

    /// Refuses a connect-session installation for a GitHub App integration without the
    /// app's OAuth client: without it, the installation id GitHub sends back cannot be
    /// checked. (`POST /api/connections` with an installation id stays open to the app's
    /// backend, which knows the installation.)
    pub(crate) fn require_user_authorization(ctx: &Ctx) -> crate::EngineResult<()> {
        if ctx.integration.client_id.is_some() && ctx.integration.client_secret.is_some() {
            return Ok(());
        }
        Err(super::invalid(
            "integrations",
            format!(
                "integration {:?} is a GitHub App without client_id and client_secret, so its installations cannot be checked against the user who installs: set client_id and client_secret in switchboard.toml (the app's settings page) and tick \"Request user authorization (OAuth) during installation\" there; or connect installations your backend knows with POST /api/connections",
                ctx.integration.id
            ),
        ))
    }
}

/// The page after this one, if the `Link` header names a `rel="next"`.
fn has_next(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            part.split(';')
                .skip(1)
                .any(|p| p.trim().eq_ignore_ascii_case("rel=\"next\""))
        })
}

impl Engine {
    /// Whether the user who came back with `code` can reach `installation`: the code is
    /// exchanged for a user access token, the user's installations of this app are
    /// listed with it, and the token is revoked whatever the answer.
    pub(crate) async fn prove_installation(
        &self,
        ctx: &Ctx,
        code: Option<&str>,
        installation: &str,
    ) -> Result<(), NotProven> {
        let (Some(client_id), Some(secret)) = (
            ctx.integration.client_id.as_deref(),
            ctx.integration.client_secret.as_ref(),
        ) else {
            return Err(NotProven {
                code: "invalid_client",
                reason: format!(
                    "integration {:?} has no client_id and client_secret: set them (the GitHub App's settings page) and tick \"Request user authorization (OAuth) during installation\" there",
                    ctx.integration.id
                ),
            });
        };
        let Some(code) = code.filter(|c| !c.is_empty() && c.len() <= 512) else {
            return Err(not_accessible(
                "the callback has no code: tick \"Request user authorization (OAuth) during installation\" in the GitHub App's settings, so that GitHub sends one",
            ));
        };
        let token = self.user_token(ctx, client_id, secret, code).await?;
        let found = self
            .user_installations_include(ctx, &token, installation)
            .await;
        self.revoke_user_token(ctx, client_id, secret, &token).await;
        match found {
            Ok(true) => Ok(()),
            Ok(false) => Err(not_accessible(format!(
                "installation {installation} is not among the installations the returning user can reach"
            ))),
            Err(reason) => Err(not_accessible(reason)),
        }
    }

    /// The user access token for `code` (GitHub's `POST /login/oauth/access_token`).
    async fn user_token(
        &self,
        ctx: &Ctx,
        client_id: &str,
        secret: &SecretString,
        code: &str,
    ) -> Result<SecretString, NotProven> {
        let url = ctx
            .provider
            .github_app
            .as_ref()
            .and_then(catalog::GithubApp::user_token_url)
            .ok_or_else(|| {
                not_accessible(format!(
                    "provider {} names no user token endpoint",
                    ctx.provider.id
                ))
            })?;
        let http = self.outbound();
        let url = http
            .check(&url)
            .map_err(|e| not_accessible(format!("user token endpoint: {e}")))?;
        let form = [
            ("client_id", client_id),
            ("client_secret", secret.expose_secret()),
            ("code", code),
        ];
        let req = http
            .client()
            .post(url.clone())
            .header(ACCEPT, "application/json")
            .form(&form);
        let (status, _, body) = protocol::send(&url, req)
            .await
            .map_err(|e| not_accessible(format!("the user token endpoint: {e}")))?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        // GitHub answers errors with 200 and an `error` field.
        if let Some(err) = v.get("error").and_then(Value::as_str) {
            let err = protocol::clean(err, 64);
            if err == "incorrect_client_credentials" {
                return Err(NotProven {
                    code: "invalid_client",
                    reason: format!(
                        "GitHub refused the client_id and client_secret of integration {:?} (incorrect_client_credentials); copy them again from the GitHub App's settings page",
                        ctx.integration.id
                    ),
                });
            }
            return Err(not_accessible(format!(
                "GitHub refused the installation's code ({err})"
            )));
        }
        match v.get("access_token").and_then(Value::as_str) {
            Some(t) if (200..300).contains(&status) && !t.is_empty() => {
                Ok(SecretString::from(t.to_owned()))
            }
            _ => Err(not_accessible(format!(
                "the user token endpoint answered HTTP {status} without a token"
            ))),
        }
    }

    /// Whether `installation` is among the installations of this app `token`'s user
    /// can reach (`GET /user/installations`, every page).
    async fn user_installations_include(
        &self,
        ctx: &Ctx,
        token: &SecretString,
        installation: &str,
    ) -> Result<bool, String> {
        let base = self.github_api(ctx).map_err(|e| e.to_string())?;
        let http = self.outbound();
        for page in 1..=MAX_PAGES {
            let url = http
                .check(&format!(
                    "{base}/user/installations?per_page={PER_PAGE}&page={page}"
                ))
                .map_err(|e| e.to_string())?;
            let req = super::app_auth::with_api_headers(
                ctx,
                http.client()
                    .get(url.clone())
                    .header(AUTHORIZATION, format!("Bearer {}", token.expose_secret())),
            );
            let (status, headers, body) = protocol::send(&url, req)
                .await
                .map_err(|e| format!("listing the user's installations: {e}"))?;
            if !(200..300).contains(&status) {
                return Err(format!(
                    "GitHub answered HTTP {status} to the list of the user's installations"
                ));
            }
            let v: Value = serde_json::from_slice(&body)
                .map_err(|_| "the list of the user's installations is not JSON".to_owned())?;
            let list = v
                .get("installations")
                .and_then(Value::as_array)
                .ok_or_else(|| "the list of the user's installations has none".to_owned())?;
            let matches = |i: &Value| match i.get("id") {
                Some(Value::Number(n)) => n.as_u64().is_some_and(|n| n.to_string() == installation),
                Some(Value::String(s)) => s == installation,
                _ => false,
            };
            if list.iter().any(matches) {
                return Ok(true);
            }
            if list.is_empty() || !has_next(&headers) {
                return Ok(false);
            }
        }
        Err(format!(
            "the user reaches more than {} installations; not all were read",
            PER_PAGE * MAX_PAGES
        ))
    }

    /// Revokes the user token (`DELETE /applications/{client_id}/token`, basic auth with
    /// the app's client): it was needed for one question. A failure is logged (without
    /// the token); the token expires on its own within 8 hours.
    async fn revoke_user_token(
        &self,
        ctx: &Ctx,
        client_id: &str,
        secret: &SecretString,
        token: &SecretString,
    ) {
        let result = async {
            let base = self.github_api(ctx).map_err(|e| e.to_string())?;
            let http = self.outbound();
            let mut url = http
                .check(&format!("{base}/applications/token"))
                .map_err(|e| e.to_string())?;
            // The client id as one path segment, whatever it holds.
            url.path_segments_mut()
                .map_err(|_| "the API base URL cannot take a path".to_owned())?
                .pop()
                .push(client_id)
                .push("token");
            let req = super::app_auth::with_api_headers(
                ctx,
                http.client()
                    .delete(url.clone())
                    .basic_auth(client_id, Some(secret.expose_secret()))
                    .json(&json!({ "access_token": token.expose_secret() })),
            );
            let (status, _, _) = protocol::send(&url, req).await.map_err(|e| e.to_string())?;
            match status {
                200..=299 | 404 => Ok(()),
                s => Err(format!("GitHub answered HTTP {s}")),
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(integration = %ctx.integration.id, error = %e, "cannot revoke the user access token of an installation check; it expires on its own");
        }
    }

    /// A verified and stored webhook of a GitHub App integration that changes an
    /// installation: the connections bound to it follow the installation's state, as
    /// GitHub tells it when asked (see the module's doc). Failures are logged; the event
    /// stands.
    pub(crate) async fn installation_lifecycle(&self, integration: &str, event: &LifecycleEvent) {
        if let Err(e) = self.apply_lifecycle(integration, event).await {
            tracing::warn!(integration, installation = %event.installation, action = event.change.name(), error = %e, "cannot apply an installation webhook to its connections");
        }
    }

    async fn apply_lifecycle(
        &self,
        integration: &str,
        event: &LifecycleEvent,
    ) -> crate::EngineResult<()> {
        let installation = event.installation.as_str();
        let bound: Vec<Connection> = self
            .inner
            .store
            .connections_by_routing_key(integration, installation, MAX_BOUND)
            .await?
            .into_iter()
            .filter(|c| {
                c.auth_mode == catalog::AuthMode::GithubApp.name()
                    && c.settings.get(INSTALLATION_ID).map(String::as_str) == Some(installation)
                    && c.status != ConnectionStatus::Revoked
            })
            .collect();
        if bound.is_empty() {
            tracing::info!(
                integration,
                installation,
                action = event.change.name(),
                "installation webhook: no live connection is bound to this installation"
            );
            return Ok(());
        }
        if event.change == Lifecycle::Deleted {
            let message = format!(
                "the app was uninstalled from installation {installation} (installation.deleted webhook); install it again through the connect flow"
            );
            for c in &bound {
                self.installation_deleted(c, &message).await?;
            }
            return Ok(());
        }
        let Some(observed) = self.observe_installation(integration, event).await else {
            return Ok(());
        };
        for c in &bound {
            self.converge(c, event, &observed).await?;
        }
        Ok(())
    }

    /// The state to apply for a suspend or unsuspend webhook: GitHub's answer, else the
    /// webhook's own state with its time (`None`: a suspension without a readable time,
    /// which changes nothing when GitHub cannot confirm it).
    async fn observe_installation(
        &self,
        integration: &str,
        event: &LifecycleEvent,
    ) -> Option<Observed> {
        let asked_at = self.now();
        let answer = match self.connect_context(integration) {
            Ok(ctx) => self.installation_state(&ctx, &event.installation).await,
            Err(e) => Err(e.to_string()),
        };
        let reason = match answer {
            Ok(state) => {
                return Some(Observed {
                    state,
                    as_of: Some(asked_at),
                    unreachable: None,
                });
            }
            Err(reason) => reason,
        };
        let state = match event.change {
            Lifecycle::Suspended => InstallationState::Suspended,
            _ => InstallationState::Active,
        };
        if state == InstallationState::Suspended && event.at.is_none() {
            tracing::warn!(integration, installation = %event.installation, action = event.change.name(), error = %reason, "GitHub cannot be asked for the installation's state and the webhook has no readable time: nothing changes (a renewal of an active connection finds a suspension)");
            return None;
        }
        tracing::warn!(integration, installation = %event.installation, action = event.change.name(), error = %reason, "GitHub cannot be asked for the installation's state: the webhook's own state applies where it is newer than the last one applied");
        Some(Observed {
            state,
            as_of: event.at,
            unreachable: Some(reason),
        })
    }

    /// `GET /app/installations/{id}` with the app's JWT: `suspended_at` null (active) or
    /// a time (suspended), 404 when the app is not installed there; `Err` with why when
    /// GitHub gives no such answer.
    async fn installation_state(
        &self,
        ctx: &Ctx,
        installation: &str,
    ) -> Result<InstallationState, String> {
        let (status, body) = self
            .github_app_call(
                ctx,
                reqwest::Method::GET,
                &format!("/app/installations/{installation}"),
            )
            .await
            .map_err(|e| e.to_string())?;
        match status {
            200..=299 => {
                let v: Value = serde_json::from_slice(&body)
                    .map_err(|_| "GitHub's answer about the installation is not JSON".to_owned())?;
                match v.get("suspended_at") {
                    Some(Value::Null) => Ok(InstallationState::Active),
                    Some(Value::String(_)) => Ok(InstallationState::Suspended),
                    _ => {
                        Err("GitHub's answer about the installation has no suspended_at".to_owned())
                    }
                }
            }
            404 => Ok(InstallationState::Gone),
            s => Err(format!(
                "GitHub answered HTTP {s} to GET /app/installations/{installation}: {}",
                super::app_auth::github_message(&body)
            )),
        }
    }

    /// Brings connection `seen` to the `observed` state, under its refresh lease and only
    /// if the observation is newer than the last one applied to it.
    async fn converge(
        &self,
        seen: &Connection,
        event: &LifecycleEvent,
        observed: &Observed,
    ) -> crate::EngineResult<()> {
        let installation = event.installation.as_str();
        if seen.status == ConnectionStatus::Revoked {
            return Ok(());
        }
        if observed.state == InstallationState::Gone {
            let message = format!(
                "GitHub knows no installation {installation} of this app (HTTP 404, asked after an installation.{} webhook): the app was uninstalled; install it again through the connect flow",
                event.change.name()
            );
            return self.installation_deleted(seen, &message).await;
        }
        let Some((c, fence)) = self.lifecycle_lease(&seen.id).await? else {
            tracing::warn!(connection = %seen.id, installation, action = event.change.name(), "installation webhook: the connection's refresh lease stayed taken; the renewal holding it asks GitHub itself");
            return Ok(());
        };
        let store = &self.inner.store;
        if c.status == ConnectionStatus::Revoked {
            store.release_refresh_lease(&c.id, fence).await?;
            return Ok(());
        }
        if let Some(at) = observed.as_of
            && !store.advance_lifecycle_at(&c.id, fence, at).await?
        {
            tracing::info!(connection = %c.id, installation, action = event.change.name(), as_of = %at, "installation webhook: a newer state of the installation was applied already; nothing changes");
            store.release_refresh_lease(&c.id, fence).await?;
            return Ok(());
        }
        match (observed.state, c.status) {
            (InstallationState::Suspended, ConnectionStatus::Active) => {
                // GitHub gives no token to a suspended installation: one bought since
                // the observation proves the suspension over.
                if let (Some(at), Some(token_at)) = (observed.as_of, c.token_obtained_at)
                    && token_at >= at
                {
                    tracing::info!(connection = %c.id, installation, as_of = %at, "installation webhook: GitHub issued this connection a token after the suspension it reports; nothing changes");
                    store.release_refresh_lease(&c.id, fence).await?;
                    return Ok(());
                }
                let message = match (&observed.unreachable, observed.as_of) {
                    (Some(reason), Some(at)) => format!(
                        "GitHub suspended installation {installation} at {} (installation.suspend webhook, applied as it says: GitHub could not be asked: {reason}); the account's owner can unsuspend it in its GitHub settings (Applications)",
                        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                    _ => format!(
                        "GitHub reports installation {installation} suspended (asked after an installation.{} webhook); the account's owner can unsuspend it in its GitHub settings (Applications)",
                        event.change.name()
                    ),
                };
                self.fail_refresh(&c, fence, ConnectionStatus::NeedsReauth, &message, None)
                    .await?;
                self.record_needs_reauth(&c, &message).await?;
            }
            (InstallationState::Active, ConnectionStatus::NeedsReauth) => {
                self.installation_unsuspended(&c, fence, installation, observed)
                    .await?;
            }
            _ => {
                store.release_refresh_lease(&c.id, fence).await?;
            }
        }
        Ok(())
    }

    /// The refresh lease of connection `id` and the connection as read under it,
    /// waiting (on the engine's clock) while somebody else holds it, at most a lease's
    /// length and an outbound timeout; `None` when it stayed taken or the connection is
    /// gone.
    async fn lifecycle_lease(&self, id: &str) -> crate::EngineResult<Option<(Connection, i64)>> {
        let cfg = self.config();
        let lease_for = chrono::Duration::seconds(cfg.refresh_lease_secs as i64);
        let deadline = self.instant()
            + StdDuration::from_secs(cfg.refresh_lease_secs + cfg.outbound_timeout_secs);
        let mut wait = StdDuration::from_millis(20);
        loop {
            let now = self.now();
            if let Some(lease) = self
                .inner
                .store
                .acquire_refresh_lease(id, now, now + lease_for)
                .await?
            {
                return Ok(self
                    .inner
                    .store
                    .get_connection(id)
                    .await?
                    .map(|c| (c, lease.fence)));
            }
            if self.instant() > deadline {
                return Ok(None);
            }
            self.clock().sleep(wait).await;
            wait = (wait * 2).min(StdDuration::from_millis(250));
        }
    }

    /// The installation is gone: the connection is revoked, its credentials (the cached
    /// installation token) dropped, as when a renewal finds the installation gone.
    async fn installation_deleted(&self, c: &Connection, message: &str) -> crate::EngineResult<()> {
        let now = self.now();
        self.inner.store.revoke_connection(&c.id, now).await?;
        self.inner
            .store
            .set_connection_status(&c.id, ConnectionStatus::Revoked, Some(message), now)
            .await?;
        self.revoked_at_provider(c, "installation_deleted").await
    }

    /// The installation is not suspended: a fresh installation token is bought under
    /// the connection's refresh lease (`fence`); only if GitHub gives one is the
    /// connection active again.
    async fn installation_unsuspended(
        &self,
        c: &Connection,
        fence: i64,
        installation: &str,
        observed: &Observed,
    ) -> crate::EngineResult<()> {
        let ctx = match self.connect_context(&c.integration) {
            Ok(ctx) => ctx,
            Err(e) => {
                self.inner.store.release_refresh_lease(&c.id, fence).await?;
                return Err(e);
            }
        };
        let tokens = match self.installation_token(&ctx, installation).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(connection = %c.id, error = %e, "installation not suspended, but no installation token yet; the connection stays needs_reauth");
                self.inner.store.release_refresh_lease(&c.id, fence).await?;
                return Ok(());
            }
        };
        let now = self.now();
        let expires_at = tokens
            .expires_in
            .map(|s| now + chrono::Duration::seconds(s.min(86_400) as i64));
        let commit = store::RefreshCommit {
            credentials: Some(tokens.credentials.seal(&self.inner.keyring, &c.id)?),
            expires_at,
            scopes: tokens.scopes.clone().unwrap_or_else(|| c.scopes.clone()),
            status: ConnectionStatus::Active,
            last_error: None,
            last_refresh_at: Some(now),
            refresh_failures: 0,
            next_refresh_at: self.next_refresh(expires_at, true),
            at: now,
        };
        if self
            .inner
            .store
            .commit_refresh(&c.id, fence, &commit)
            .await?
        {
            self.connection_changed(&c.id);
            self.refresh_connection_gauges().await;
            self.audit(
                &Actor::System,
                "connection.reactivate",
                &c.id,
                json!({
                    "integration": c.integration,
                    "reason": "installation_unsuspended",
                    "source": if observed.unreachable.is_some() { "webhook" } else { "github" },
                }),
            )
            .await?;
        }
        Ok(())
    }
}
