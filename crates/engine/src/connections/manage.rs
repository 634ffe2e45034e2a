//! Looking at and managing connections: listings, status, disconnect (revocation at the
//! provider), connecting with an API key, basic credentials or client credentials,
//! revoking every connection of an integration, and checking an integration's OAuth
//! set-up (`oauth test`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use store::{Connection, ConnectionFilter, ConnectionStatus, Upsert};

use super::ConnectionView;
use super::context::Ctx;
use super::credentials::Credentials;
use super::protocol::{self, Client, Grant, TokenError};
use crate::ids::{is_connection_id, is_end_user_id, new_connection_id};
use crate::{Actor, Engine, EngineError, EngineResult};

/// A page of connections.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionPage {
    /// The connections.
    pub data: Vec<ConnectionView>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// The result of a disconnect.
#[derive(Debug, Clone, Serialize)]
pub struct Disconnected {
    /// The credentials were deleted.
    pub deleted: bool,
    /// The provider confirmed the revocation.
    pub revoked_at_provider: bool,
    /// Why revocation at the provider failed or was not possible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_error: Option<String>,
}

/// Health of an integration (or of one of its connections).
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationHealth {
    /// The integration.
    pub integration: String,
    /// Its provider.
    pub provider: String,
    /// How its connections authenticate.
    pub auth_mode: String,
    /// Whether it has a client id (and secret) for connecting accounts.
    pub configured: bool,
    /// Webhook intake switched off (`integration disable`).
    pub disabled: bool,
    /// Webhook intake blocked (`webhook block`).
    pub webhooks_blocked: bool,
    /// Connections by status.
    pub connections: BTreeMap<String, u64>,
    /// The connection asked about with `?connection_id=`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionView>,
}

/// Credentials typed or pasted by the user (API key, basic, or a service account's own
/// key).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsInput {
    /// The API key (`api_key` providers).
    #[serde(default)]
    pub api_key: Option<String>,
    /// User name (`basic` providers without a fixed one).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (`basic` providers).
    #[serde(default)]
    pub password: Option<String>,
    /// The connection's own private key (`jwt_bearer` providers): an RSA PEM, or
    /// Google's service-account key file (JSON) as downloaded, which also names the
    /// issuer and key id.
    #[serde(default)]
    pub private_key: Option<String>,
    /// The issuer of the connection's own key, where its key file does not name it
    /// (default: the integration's `client_id`).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The key id (`kid`) of the connection's own key, where its key file does not name
    /// it.
    #[serde(default)]
    pub private_key_id: Option<String>,
}

impl std::fmt::Debug for CredentialsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialsInput([redacted])")
    }
}

/// `POST /api/connections`: a connection made without a browser redirect (API key,
/// basic auth, client credentials).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectConnectRequest {
    /// The integration.
    pub integration: String,
    /// The app's end-user id (default `app` for client credentials).
    #[serde(default)]
    pub end_user_id: Option<String>,
    /// The connection id (generated when absent).
    #[serde(default)]
    pub connection_id: Option<String>,
    /// The credentials (not for client credentials).
    #[serde(default, deserialize_with = "super::object_opt")]
    pub credentials: Option<CredentialsInput>,
    /// The provider's connection settings (subdomain…; `subject` of a service account,
    /// `installation_id` of a GitHub App installation).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

/// Progress of `tokens revoke-all`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RevokeAllProgress {
    /// Connections to revoke when the run started.
    pub total: u64,
    /// Done so far (credentials deleted).
    pub done: u64,
    /// Of those, confirmed by the provider.
    pub revoked_at_provider: u64,
}

/// What `oauth test` found.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthCheck {
    /// The integration.
    pub integration: String,
    /// Each check: name, passed, detail.
    pub checks: Vec<(String, bool, String)>,
}

impl OAuthCheck {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|(_, ok, _)| *ok)
    }
}

/// A configured integration as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrationOverview {
    /// The integration.
    pub id: String,
    /// Its provider.
    pub provider: String,
    /// How its connections authenticate (`oauth2`, `api_key`, `basic`,
    /// `client_credentials`, `webhook_only`); `unknown` if the provider is missing from
    /// the catalog.
    pub auth_mode: String,
    /// Whether it has webhook secrets (so it can take webhooks).
    pub accepts_webhooks: bool,
    /// Where the provider sends webhooks: `{public_url}/webhooks/{id}/event`.
    pub webhook_url: String,
    /// Switched off (`integration disable`).
    pub disabled: bool,
    /// Webhook intake blocked (`webhook block`).
    pub webhooks_blocked: bool,
    /// Connections by status (every status, zeros included).
    pub connections: BTreeMap<String, u64>,
}

impl Engine {
    /// Every configured integration with its provider, auth mode, webhook URL, switches
    /// and connection counts, in configuration order.
    pub async fn integration_overview(&self) -> EngineResult<Vec<IntegrationOverview>> {
        let states = self.integration_states().await?;
        let counts = self.inner.store.count_connections().await?;
        let cfg = self.config();
        let base = cfg.public_url.trim_end_matches('/').to_owned();
        Ok(states
            .into_iter()
            .map(|st| {
                let mut connections: BTreeMap<String, u64> = ConnectionStatus::ALL
                    .iter()
                    .map(|s| (s.as_str().to_owned(), 0))
                    .collect();
                for (i, s, n) in &counts {
                    if *i == st.id {
                        connections.insert(s.as_str().to_owned(), *n);
                    }
                }
                let auth_mode = self
                    .catalog()
                    .get(&st.provider)
                    .map_or("unknown", |p| p.auth_mode.name())
                    .to_owned();
                IntegrationOverview {
                    webhook_url: format!("{base}/webhooks/{}/event", st.id),
                    id: st.id,
                    provider: st.provider,
                    auth_mode,
                    accepts_webhooks: st.accepts_webhooks,
                    disabled: st.disabled,
                    webhooks_blocked: st.webhooks_blocked,
                    connections,
                }
            })
            .collect())
    }

    /// [`Engine::force_refresh`] asked for by `actor`, audited as `connection.refresh`
    /// (with whether this call refreshed, or the error's code).
    pub async fn refresh_connection_by(
        &self,
        id: &str,
        actor: &Actor,
    ) -> EngineResult<super::tokens::RefreshOutcome> {
        if !is_connection_id(id) {
            return Err(EngineError::Invalid {
                field: "id",
                message: "not a connection id".into(),
            });
        }
        let out = self.force_refresh(id).await;
        let details = match &out {
            Ok(o) => serde_json::json!({ "refreshed": o.refreshed }),
            Err(EngineError::NotFound { .. }) => return out,
            Err(e) => serde_json::json!({ "error": e.code() }),
        };
        self.audit(actor, "connection.refresh", id, details).await?;
        out
    }

    /// One connection, without secrets.
    pub async fn get_connection(&self, id: &str) -> EngineResult<ConnectionView> {
        self.inner
            .store
            .get_connection(id)
            .await?
            .map(Into::into)
            .ok_or_else(|| EngineError::NotFound {
                what: "connection",
                id: id.to_owned(),
            })
    }

    /// A page of connections, by id; `after` is the previous page's cursor.
    pub async fn list_connections(
        &self,
        filter: &ConnectionFilter,
        after: Option<&str>,
        limit: u32,
    ) -> EngineResult<ConnectionPage> {
        if let Some(a) = after
            && !is_connection_id(a)
        {
            return Err(EngineError::Invalid {
                field: "cursor",
                message: "not a cursor from a previous page".into(),
            });
        }
        let limit = limit.clamp(1, 500);
        let mut rows = self
            .inner
            .store
            .list_connections(filter, after, limit + 1)
            .await?;
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|c| c.id.clone())
        } else {
            None
        };
        Ok(ConnectionPage {
            data: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        })
    }

    /// Health of an integration, or of one of its connections.
    pub async fn integration_status(
        &self,
        integration: &str,
        connection_id: Option<&str>,
    ) -> EngineResult<IntegrationHealth> {
        let ctx = self.connect_context(integration)?;
        let flags = self.inner.store.integration_flags(integration).await?;
        let mut counts: BTreeMap<String, u64> = ConnectionStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), 0))
            .collect();
        for (i, s, n) in self.inner.store.count_connections().await? {
            if i == integration {
                counts.insert(s.as_str().to_owned(), n);
            }
        }
        let connection = match connection_id {
            Some(id) => {
                let c = self.get_connection(id).await?;
                if c.integration != integration {
                    return Err(EngineError::NotFound {
                        what: "connection",
                        id: id.to_owned(),
                    });
                }
                Some(c)
            }
            None => None,
        };
        Ok(IntegrationHealth {
            integration: integration.to_owned(),
            provider: ctx.provider.id.clone(),
            auth_mode: ctx.provider.auth_mode.name().to_owned(),
            configured: ctx.integration.client_id.is_some()
                || ctx.integration.app_id.is_some()
                || matches!(
                    ctx.provider.auth_mode,
                    // A service account without an integration key: every connection
                    // brings its own.
                    catalog::AuthMode::ApiKey
                        | catalog::AuthMode::Basic
                        | catalog::AuthMode::JwtBearer
                ),
            disabled: flags.disabled,
            webhooks_blocked: flags.blocked,
            connections: counts,
            connection,
        })
    }

    /// Disconnects: revokes at the provider (refresh token first, or as the catalog
    /// says), then deletes the credentials whatever the provider answered.
    pub async fn disconnect(
        &self,
        integration: &str,
        connection_id: &str,
        actor: &Actor,
    ) -> EngineResult<Disconnected> {
        let c = self
            .inner
            .store
            .get_connection(connection_id)
            .await?
            .filter(|c| c.integration == integration)
            .ok_or_else(|| EngineError::NotFound {
                what: "connection",
                id: connection_id.to_owned(),
            })?;
        let sealed = self
            .inner
            .store
            .get_connection_credentials(connection_id)
            .await?;
        let (revoked, provider_error) = match sealed {
            None => (
                false,
                Some("the connection holds no credentials".to_owned()),
            ),
            Some((_, sealed)) => {
                let creds = super::credentials::Credentials::open(
                    &self.inner.keyring,
                    connection_id,
                    &sealed,
                )?;
                self.revoke_at_provider(&c, &creds).await
            }
        };
        self.inner
            .store
            .revoke_connection(connection_id, self.now())
            .await?;
        self.connection_changed(connection_id);
        let after = store::Connection {
            scopes: Vec::new(),
            ..c.clone()
        };
        self.record_consent(
            &after,
            store::ConsentKind::Revoke,
            super::consent::ConsentOrigin::default(),
        )
        .await?;
        self.audit(
            actor,
            "connection.revoke",
            connection_id,
            serde_json::json!({
                "integration": integration,
                "revoked_at_provider": revoked,
                "provider_error": provider_error,
            }),
        )
        .await?;
        self.refresh_connection_gauges().await;
        Ok(Disconnected {
            deleted: true,
            revoked_at_provider: revoked,
            provider_error,
        })
    }

    pub(crate) async fn revoke_at_provider(
        &self,
        c: &Connection,
        creds: &Credentials,
    ) -> (bool, Option<String>) {
        let ctx = match self.connect_context(&c.integration) {
            Ok(ctx) => ctx,
            Err(e) => return (false, Some(e.to_string())),
        };
        if let Some(done) = self.revoke_signed(&ctx, c, creds).await {
            return done;
        }
        if !matches!(c.auth_mode.as_str(), "oauth2" | "client_credentials") {
            return (
                false,
                Some(format!(
                    "{} credentials cannot be revoked through an API; revoke them at the provider",
                    c.auth_mode
                )),
            );
        }
        let Some(client_id) = ctx.integration.client_id.as_deref() else {
            return (false, Some("the integration has no client_id".into()));
        };
        let client = Client {
            id: client_id,
            secret: ctx.integration.client_secret.as_ref(),
        };
        match protocol::revoke(
            &self.outbound(),
            &ctx.provider,
            &client,
            &ctx.values(&c.settings),
            creds,
            self.dev(),
        )
        .await
        {
            Ok(true) => (true, None),
            Ok(false) => (
                false,
                Some(format!(
                    "provider {} has no revocation endpoint; revoke the grant in the provider's settings",
                    ctx.provider.id
                )),
            ),
            Err(e) => {
                tracing::warn!(connection = %c.id, error = %e, "revocation at the provider failed");
                (false, Some(e))
            }
        }
    }

    /// Disconnects every connection of an integration that still has credentials,
    /// reporting progress after each.
    pub async fn revoke_all(
        &self,
        integration: &str,
        actor: &Actor,
        mut progress: impl FnMut(RevokeAllProgress),
    ) -> EngineResult<RevokeAllProgress> {
        self.connect_context(integration)?;
        let mut ids = Vec::new();
        let mut after: Option<String> = None;
        let filter = ConnectionFilter {
            integration: Some(integration.to_owned()),
            ..ConnectionFilter::default()
        };
        loop {
            let page = self
                .inner
                .store
                .list_connections(&filter, after.as_deref(), 500)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            ids.extend(
                page.into_iter()
                    .filter(|c| c.status != ConnectionStatus::Revoked)
                    .map(|c| c.id),
            );
        }
        let mut p = RevokeAllProgress {
            total: ids.len() as u64,
            ..RevokeAllProgress::default()
        };
        progress(p);
        for id in ids {
            match self.disconnect(integration, &id, actor).await {
                Ok(d) => {
                    p.done += 1;
                    p.revoked_at_provider += u64::from(d.revoked_at_provider);
                }
                Err(EngineError::NotFound { .. }) => p.done += 1,
                Err(e) => return Err(e),
            }
            progress(p);
        }
        Ok(p)
    }

    /// Connects without a browser redirect: an API key or basic credentials checked by
    /// the catalog's verify request, or a client-credentials token.
    ///
    /// The steps: the request's ids and settings are checked, then the credential is
    /// obtained (and proven to work) for the provider's auth mode, then the connection
    /// is built and stored, and the connect audited.
    pub async fn connect_direct(
        &self,
        req: DirectConnectRequest,
        actor: &Actor,
    ) -> EngineResult<ConnectionView> {
        let ctx = self.connect_context(&req.integration)?;
        let mode = ctx.provider.auth_mode;
        if matches!(
            mode,
            catalog::AuthMode::GithubApp | catalog::AuthMode::JwtBearer
        ) {
            return self.connect_signed(&ctx, req, actor).await;
        }
        // Everything the caller sent is checked before the provider is called: a typo
        // must not cost a verify request or a token.
        let (end_user, id) = direct_ids(&req)?;
        let settings = ctx.connection_settings(req.settings.clone())?;
        let now = self.now();
        let granted = self.direct_credentials(&ctx, &req, &settings, now).await?;
        let routing_key = direct_routing_key(&ctx, &settings, &granted.creds);
        let connection = Connection {
            id: id.clone(),
            integration: ctx.integration.id.clone(),
            provider: ctx.provider.id.clone(),
            end_user_id: end_user,
            auth_mode: mode.name().to_owned(),
            status: ConnectionStatus::Active,
            scopes: granted.scopes,
            missing_scopes: Vec::new(),
            settings,
            routing_key,
            expires_at: granted.expires_at,
            created_at: now,
            updated_at: now,
            last_refresh_at: None,
            last_error: None,
            refresh_failures: 0,
            // Only a client-credentials token is renewed ahead of its expiry; keys and
            // passwords do not expire on a schedule we know.
            next_refresh_at: self.next_refresh(
                granted.expires_at,
                mode == catalog::AuthMode::ClientCredentials,
            ),
            token_version: 0,
            token_obtained_at: None,
            health: None,
        };
        self.store_direct(&connection, &granted.creds, actor).await
    }

    /// The credential for a direct connect, by the provider's auth mode. A key or a
    /// password is proven with the catalog's verify request before it is kept, so a
    /// wrong one is refused now rather than on the app's first proxied request. The
    /// OAuth2 and webhook-only modes have no direct connect, and say what to do instead.
    async fn direct_credentials(
        &self,
        ctx: &Ctx,
        req: &DirectConnectRequest,
        settings: &BTreeMap<String, String>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> EngineResult<Granted> {
        let creds = match ctx.provider.auth_mode {
            catalog::AuthMode::ApiKey => api_key_input(req)?,
            catalog::AuthMode::Basic => basic_input(ctx, req)?,
            catalog::AuthMode::ClientCredentials => {
                return self.client_credentials_grant(ctx, req, settings, now).await;
            }
            catalog::AuthMode::Oauth2 => {
                return Err(EngineError::Invalid {
                    field: "integration",
                    message: format!(
                        "integration {:?} connects through the OAuth2 redirect: create a connect session and open its connect_url",
                        req.integration
                    ),
                });
            }
            catalog::AuthMode::GithubApp | catalog::AuthMode::JwtBearer => {
                return Err(EngineError::Misconfigured(
                    "signed-grant connections are made by connect_signed".into(),
                ));
            }
            catalog::AuthMode::WebhookOnly => {
                return Err(EngineError::Invalid {
                    field: "integration",
                    message: format!(
                        "integration {:?} only receives webhooks; it has no accounts to connect",
                        req.integration
                    ),
                });
            }
        };
        self.verify_credentials(ctx, settings, &creds).await?;
        Ok(Granted {
            creds,
            expires_at: None,
            scopes: Vec::new(),
        })
    }

    /// A client-credentials token from the provider, with the integration's own client
    /// id and secret (so the caller sends none). The token proves the set-up works; its
    /// lifetime (capped at ten years, so that a huge `expires_in` cannot overflow) sets
    /// when it is renewed, and the scopes granted are those the provider names, else
    /// those asked for.
    async fn client_credentials_grant(
        &self,
        ctx: &Ctx,
        req: &DirectConnectRequest,
        settings: &BTreeMap<String, String>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> EngineResult<Granted> {
        if req.credentials.is_some() {
            return Err(EngineError::Invalid {
                field: "credentials",
                message: "client-credentials connections use the integration's client id and secret; send no credentials".into(),
            });
        }
        let client = Client {
            id: ctx.client_id()?,
            secret: ctx.integration.client_secret.as_ref(),
        };
        // A token parameter that needs a connection setting (Wix's instance id) is the
        // caller's to give: said now, before the provider is asked.
        protocol::fill_params(
            &ctx.provider,
            &ctx.oauth2()?.token_params,
            &ctx.values(settings),
        )
        .map_err(|message| EngineError::Invalid {
            field: "settings",
            message,
        })?;
        let scopes = ctx.scopes();
        let tokens = protocol::token_request(
            &self.outbound(),
            &ctx.provider,
            &client,
            &ctx.values(settings),
            Grant::ClientCredentials { scopes: &scopes },
            self.dev(),
        )
        .await
        .map_err(token_failure)?;
        let expires_at = tokens
            .expires_in
            .map(|s| now + chrono::Duration::seconds(s.min(10 * 365 * 86_400) as i64));
        let granted = tokens.scopes.clone().unwrap_or(scopes);
        Ok(Granted {
            creds: tokens.credentials.clone(),
            expires_at,
            scopes: granted,
        })
    }

    /// Seals and stores the connection, then audits the connect. Sealed under the
    /// connection's id, so a sealed credential cannot be moved to another row. An id
    /// that belongs to another integration or end user is refused, not taken over.
    pub(super) async fn store_direct(
        &self,
        connection: &Connection,
        creds: &Credentials,
        actor: &Actor,
    ) -> EngineResult<ConnectionView> {
        self.store_direct_keyed(connection, creds, None, actor)
            .await
    }

    /// [`Engine::store_direct`] with the connection's own signing key (sealed for its
    /// id), written in the same transaction; `None` removes one it had.
    pub(super) async fn store_direct_keyed(
        &self,
        connection: &Connection,
        creds: &Credentials,
        signing_key: Option<&store::SealedCredentials>,
        actor: &Actor,
    ) -> EngineResult<ConnectionView> {
        let id = &connection.id;
        let sealed = creds.seal(&self.inner.keyring, id)?;
        let stored = match self
            .inner
            .store
            .upsert_connection_keyed(connection, &sealed, signing_key)
            .await?
        {
            Upsert::Created(c) => (c, store::ConsentKind::Connect),
            Upsert::Replaced(c) => (c, store::ConsentKind::Reconnect),
            Upsert::Taken => {
                return Err(EngineError::Conflict(format!(
                    "connection id {id:?} belongs to another integration or end user"
                )));
            }
        };
        let (stored, kind) = stored;
        // The end user by the deployment's keyed hash (the audit log cannot be erased).
        let subject = self.subject_hash(&stored.end_user_id).await?;
        let mut details = serde_json::json!({
            "integration": stored.integration,
            "subject": subject,
            "auth_mode": stored.auth_mode,
        });
        if signing_key.is_some() {
            // That it signs with a key of its own; never the key.
            details["own_key"] = true.into();
        }
        self.audit(actor, "connection.connect", id, details).await?;
        self.record_consent(
            &stored,
            kind,
            super::consent::ConsentOrigin {
                requested: stored.scopes.clone(),
                ..Default::default()
            },
        )
        .await?;
        self.refresh_connection_gauges().await;
        Ok(stored.into())
    }

    /// Makes the catalog's verify request with `creds`; a refusal is
    /// [`EngineError::CredentialsRejected`]. Providers without one are accepted as is.
    async fn verify_credentials(
        &self,
        ctx: &Ctx,
        settings: &BTreeMap<String, String>,
        creds: &Credentials,
    ) -> EngineResult<()> {
        let (Some(verify), Some(base)) = (&ctx.provider.verify, &ctx.provider.api_base_url) else {
            return Ok(());
        };
        let base = protocol::resolve(&ctx.provider, base, &ctx.values(settings), self.dev())
            .map_err(|e| EngineError::Invalid {
                field: "settings",
                message: e.to_string(),
            })?;
        let invalid = |message: String| EngineError::Invalid {
            field: "settings",
            message,
        };
        let url = ctx
            .with_api_query(
                &format!("{}{}", base.trim_end_matches('/'), verify.path),
                settings,
            )
            .map_err(invalid)?;
        let headers = ctx.api_headers(settings).map_err(invalid)?;
        let status = match (&creds.api_key, &creds.username, &creds.password) {
            (Some(key), _, _) => protocol::get_with_credential(
                &self.outbound(),
                &url,
                ctx.provider.api_key.as_ref(),
                key,
                &headers,
            )
            .await
            .map(|(s, _)| s),
            (None, Some(u), Some(p)) => {
                protocol::get_with_basic(&self.outbound(), &url, u, p, &headers)
                    .await
                    .map(|(s, _)| s)
            }
            _ => return Ok(()),
        }
        .map_err(|e| {
            EngineError::ProviderUnavailable(format!("cannot check the credentials: {e}"))
        })?;
        match status {
            200..=299 => Ok(()),
            401 | 403 => Err(EngineError::CredentialsRejected(format!(
                "the provider refused these credentials (HTTP {status}); check them and try again"
            ))),
            429 | 500..=599 => Err(EngineError::ProviderUnavailable(format!(
                "the provider answered HTTP {status} while checking the credentials; try again later"
            ))),
            _ => Err(EngineError::Provider(format!(
                "the provider answered HTTP {status} while checking the credentials"
            ))),
        }
    }

    /// Checks an integration's OAuth set-up: the token endpoint answers, and exchanging a
    /// bogus code yields `invalid_grant` (client accepted), not `invalid_client`. The
    /// result (passed or not, the failed checks' names, when) is kept for the launch
    /// checklist of `switchboard status`.
    pub async fn oauth_test(&self, integration: &str) -> EngineResult<OAuthCheck> {
        let check = self.run_oauth_checks(integration).await?;
        let record = store::OAuthTestRecord {
            integration: integration.to_owned(),
            ok: check.ok(),
            failed_checks: check
                .checks
                .iter()
                .filter(|(_, ok, _)| !ok)
                .map(|(name, _, _)| name.clone())
                .collect(),
            tested_at: self.now(),
        };
        self.inner.store.record_oauth_test(&record).await?;
        Ok(check)
    }

    async fn run_oauth_checks(&self, integration: &str) -> EngineResult<OAuthCheck> {
        let ctx = self.connect_context(integration)?;
        if matches!(
            ctx.provider.auth_mode,
            catalog::AuthMode::GithubApp | catalog::AuthMode::JwtBearer
        ) {
            return Err(EngineError::Invalid {
                field: "integration",
                message: format!(
                    "integration {integration:?} signs its own JWTs ({}) and has no OAuth2 client to test; creating a connection checks its key (POST /api/connections)",
                    ctx.provider.auth_mode
                ),
            });
        }
        let mut checks = Vec::new();
        let oauth = ctx.oauth2()?;
        let client_id = ctx.client_id()?;
        checks.push((
            "client credentials configured".to_owned(),
            ctx.integration.client_secret.is_some(),
            if ctx.integration.client_secret.is_some() {
                "client_id and client_secret are set".to_owned()
            } else {
                "client_secret is not set".to_owned()
            },
        ));
        let values = ctx.values(&BTreeMap::new());
        if let Some(a) = &oauth.authorization_url {
            let r = protocol::resolve(&ctx.provider, a, &values, self.dev());
            checks.push((
                "authorization endpoint".to_owned(),
                r.is_ok() || matches!(r, Err(TokenError::Request(ref m)) if m.contains("no value")),
                match r {
                    Ok(u) => u,
                    Err(e) => e.to_string(),
                },
            ));
        }
        let client = Client {
            id: client_id,
            secret: ctx.integration.client_secret.as_ref(),
        };
        let redirect_uri = self.callback_url(integration);
        let probe = protocol::token_request(
            &self.outbound(),
            &ctx.provider,
            &client,
            &values,
            Grant::AuthorizationCode {
                code: "switchboard-oauth-test-bogus-code",
                redirect_uri: &redirect_uri,
                verifier: oauth
                    .pkce
                    .then_some("switchboard-oauth-test-verifier-0123456789-abcdefghijklmnop"),
            },
            self.dev(),
        )
        .await;
        let (ok, detail) = match probe {
            Err(TokenError::InvalidGrant(_)) => (
                true,
                "the token endpoint answered invalid_grant for a bogus code: the client credentials are accepted".to_owned(),
            ),
            Err(TokenError::InvalidClient(d)) => (
                false,
                format!("the token endpoint refused the client ({d}); check client_id and client_secret"),
            ),
            Err(TokenError::Rejected { status, code }) => (
                code == "invalid_request" || code == "bad_verification_code",
                format!("the token endpoint answered HTTP {status} {code}"),
            ),
            Err(e) => (false, e.to_string()),
            Ok(_) => (
                false,
                "the token endpoint accepted a bogus code; this is not a compliant OAuth2 server".to_owned(),
            ),
        };
        checks.push(("token endpoint and client".to_owned(), ok, detail));
        Ok(OAuthCheck {
            integration: integration.to_owned(),
            checks,
        })
    }

    /// Updates the `switchboard_connections` gauge (by integration and status).
    pub async fn refresh_connection_gauges(&self) {
        match self.inner.store.count_connections().await {
            Ok(rows) => {
                let cfg = self.config();
                for it in &cfg.integrations {
                    for s in ConnectionStatus::ALL {
                        let n = rows
                            .iter()
                            .find(|(i, st, _)| i == &it.id && *st == s)
                            .map_or(0, |(_, _, n)| *n);
                        metrics::gauge!(
                            crate::metrics::CONNECTIONS,
                            "integration" => it.id.clone(),
                            "status" => s.as_str()
                        )
                        .set(n as f64);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot count connections"),
        }
    }
}

fn token_failure(e: TokenError) -> EngineError {
    match e {
        TokenError::InvalidClient(_) => EngineError::Misconfigured(e.to_string()),
        TokenError::Unavailable(_) => EngineError::ProviderUnavailable(e.to_string()),
        TokenError::Request(_) => EngineError::Misconfigured(e.to_string()),
        other => EngineError::Provider(other.to_string()),
    }
}

/// A direct connect's credential, with what it gives the connection.
struct Granted {
    creds: Credentials,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    scopes: Vec<String>,
}

/// The end user (default `app`) and the connection id (generated when absent) of a
/// direct connect, checked as every other way in checks them.
pub(super) fn direct_ids(req: &DirectConnectRequest) -> EngineResult<(String, String)> {
    let end_user = req.end_user_id.clone().unwrap_or_else(|| "app".into());
    if !is_end_user_id(&end_user) {
        return Err(EngineError::Invalid {
            field: "end_user_id",
            message: "must be 1 to 256 printable characters".into(),
        });
    }
    let id = match &req.connection_id {
        Some(id) if !is_connection_id(id) => {
            return Err(EngineError::Invalid {
                field: "connection_id",
                message: "use 1 to 128 letters, digits and . _ : -".into(),
            });
        }
        Some(id) => id.clone(),
        None => new_connection_id(),
    };
    Ok((end_user, id))
}

/// The API key the caller sent, within the bounds any provider accepts.
fn api_key_input(req: &DirectConnectRequest) -> EngineResult<Credentials> {
    let key = req
        .credentials
        .as_ref()
        .and_then(|c| c.api_key.clone())
        .filter(|k| !k.trim().is_empty() && k.len() <= 4096)
        .ok_or_else(|| EngineError::Invalid {
            field: "credentials.api_key",
            message: "give the API key (1 to 4096 characters)".into(),
        })?;
    let mut creds = Credentials::default();
    creds.api_key = Some(key);
    Ok(creds)
}

/// The username and password the caller sent. A username fixed by the catalog (an API
/// whose username is always `api`, as Mailgun's) wins over the caller's.
fn basic_input(ctx: &Ctx, req: &DirectConnectRequest) -> EngineResult<Credentials> {
    let input = req.credentials.clone().unwrap_or_default();
    let fixed = ctx.provider.basic.as_ref().and_then(|b| b.username.clone());
    let username = fixed
        .or(input.username)
        .filter(|u| !u.is_empty() && u.len() <= 1024);
    let password = input.password.filter(|p| !p.is_empty() && p.len() <= 4096);
    let (Some(username), Some(password)) = (username, password) else {
        return Err(EngineError::Invalid {
            field: "credentials",
            message: "give username and password".into(),
        });
    };
    let mut creds = Credentials::default();
    creds.username = Some(username);
    creds.password = Some(password);
    Ok(creds)
}

/// The key that routes the provider's webhooks to this connection, where the catalog
/// says the connection has it (a setting, the basic username) or the integration does.
/// Known now, at connect, so that intake can attach events to the connection.
fn direct_routing_key(
    ctx: &Ctx,
    settings: &BTreeMap<String, String>,
    creds: &Credentials,
) -> Option<String> {
    ctx.provider
        .webhooks
        .as_ref()
        .and_then(|w| w.routing.as_ref())
        .and_then(|r| match &r.connection {
            catalog::ValueSource::Connection(k) if k == "username" => creds.username.clone(),
            catalog::ValueSource::Connection(k) => settings.get(k).cloned(),
            catalog::ValueSource::Integration(k) => ctx.integration.settings.get(k).cloned(),
            _ => None,
        })
}
