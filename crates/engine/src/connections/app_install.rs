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
//! (revoked, credentials dropped), `suspend` marks them `needs_reauth`, and `unsuspend`
//! makes them active again once a fresh installation token is bought.
//! `github_app_authorization` (`revoked`: a user revoked their authorization of the
//! app) changes nothing: connections hold installation tokens, never user tokens.

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

impl Engine {
    /// The lifecycle change a verified webhook of a GitHub App integration carries, with
    /// the installation id: `X-GitHub-Event: installation` (its type) and an `action` of
    /// `deleted`, `suspend` or `unsuspend`. Anything else is `None`.
    pub(crate) fn installation_lifecycle_of(
        event_type: Option<&str>,
        json: Option<&Value>,
    ) -> Option<(Lifecycle, String)> {
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
        is_installation_id(&id).then_some((change, id))
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
    /// installation: the connections bound to it follow. Failures are logged; the
    /// event stands (and the next token renewal finds the installation's state anyway).
    pub(crate) async fn installation_lifecycle(
        &self,
        integration: &str,
        change: Lifecycle,
        installation: &str,
    ) {
        if let Err(e) = self
            .apply_lifecycle(integration, change, installation)
            .await
        {
            tracing::warn!(integration, installation, action = change.name(), error = %e, "cannot apply an installation webhook to its connections");
        }
    }

    async fn apply_lifecycle(
        &self,
        integration: &str,
        change: Lifecycle,
        installation: &str,
    ) -> crate::EngineResult<()> {
        let bound: Vec<Connection> = self
            .inner
            .store
            .connections_by_routing_key(integration, installation, MAX_BOUND)
            .await?
            .into_iter()
            .filter(|c| {
                c.auth_mode == catalog::AuthMode::GithubApp.name()
                    && c.settings.get(INSTALLATION_ID).map(String::as_str) == Some(installation)
            })
            .collect();
        if bound.is_empty() {
            tracing::info!(
                integration,
                installation,
                action = change.name(),
                "installation webhook: no connection is bound to this installation"
            );
            return Ok(());
        }
        for c in bound {
            match (change, c.status) {
                (Lifecycle::Deleted, s) if s != ConnectionStatus::Revoked => {
                    self.installation_deleted(&c, installation).await?;
                }
                (Lifecycle::Suspended, ConnectionStatus::Active) => {
                    let message = format!(
                        "GitHub suspended installation {installation} (installation.suspend webhook); the account's owner can unsuspend it in its GitHub settings (Applications)"
                    );
                    self.inner
                        .store
                        .set_connection_status(
                            &c.id,
                            ConnectionStatus::NeedsReauth,
                            Some(&message),
                            self.now(),
                        )
                        .await?;
                    self.connection_changed(&c.id);
                    self.refresh_connection_gauges().await;
                    self.record_needs_reauth(&c, &message).await?;
                }
                (Lifecycle::Unsuspended, ConnectionStatus::NeedsReauth) => {
                    self.installation_unsuspended(&c, installation).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `installation.deleted`: the connection is revoked, its credentials (the cached
    /// installation token) dropped, as when a renewal finds the installation gone.
    async fn installation_deleted(
        &self,
        c: &Connection,
        installation: &str,
    ) -> crate::EngineResult<()> {
        let now = self.now();
        self.inner.store.revoke_connection(&c.id, now).await?;
        self.inner
            .store
            .set_connection_status(
                &c.id,
                ConnectionStatus::Revoked,
                Some(&format!(
                    "the app was uninstalled from installation {installation} (installation.deleted webhook); install it again through the connect flow"
                )),
                now,
            )
            .await?;
        self.revoked_at_provider(c, "installation_deleted").await
    }

    /// `installation.unsuspend`: a fresh installation token is bought under the
    /// connection's refresh lease; only if GitHub gives one is the connection active
    /// again.
    async fn installation_unsuspended(
        &self,
        c: &Connection,
        installation: &str,
    ) -> crate::EngineResult<()> {
        let ctx = self.connect_context(&c.integration)?;
        let now = self.now();
        let until = now + chrono::Duration::seconds(self.config().refresh_lease_secs as i64);
        let Some(lease) = self
            .inner
            .store
            .acquire_refresh_lease(&c.id, now, until)
            .await?
        else {
            // Somebody renews it right now; that renewal finds the installation's state.
            return Ok(());
        };
        let tokens = match self.installation_token(&ctx, installation).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(connection = %c.id, error = %e, "installation unsuspended, but no installation token yet; the connection stays needs_reauth");
                self.inner
                    .store
                    .release_refresh_lease(&c.id, lease.fence)
                    .await?;
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
            .commit_refresh(&c.id, lease.fence, &commit)
            .await?
        {
            self.connection_changed(&c.id);
            self.refresh_connection_gauges().await;
            self.audit(
                &Actor::System,
                "connection.reactivate",
                &c.id,
                json!({ "integration": c.integration, "reason": "installation_unsuspended" }),
            )
            .await?;
        }
        Ok(())
    }
}
