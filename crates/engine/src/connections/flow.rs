//! The authorization-code flow: the redirect to the provider (state, PKCE S256, nonce)
//! and the callback (single-use state, code exchange, ID-token validation, storing the
//! connection, the result for the browser). Connect sessions, which start it, are in
//! [`super::sessions`].

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use store::ConsentKind;
use store::{Connection, ConnectionStatus, OAuthState, Upsert};
use vault::ExposeSecret;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::context::Ctx;
use super::invalid;
use super::protocol::{self, Client, Grant, TokenError, TokenSet};
use super::sessions::{CallbackOutcome, Delivery, Via, finish_delivery};
use crate::ids::{is_connection_id, is_oauth_state, new_connection_id, random_token, token_hash};
use crate::secrets::{state_aad, state_row};
use crate::{Actor, Engine, EngineError, EngineResult};

/// How long an authorization may take between the redirect and the callback.
pub const STATE_TTL_SECS: i64 = 600;

/// Where to send the browser to authorize.
#[derive(Debug, Clone)]
pub struct AuthorizationStart {
    /// The provider's authorization URL with every parameter.
    pub url: String,
    /// The connection the flow will create.
    pub connection_id: String,
}

/// The query of a callback.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// Our state.
    pub state: Option<String>,
    /// The provider's error code (`access_denied`…).
    pub error: Option<String>,
    /// Every parameter, for `callback_query` placeholders (QuickBooks `realmId`).
    #[serde(flatten)]
    pub other: BTreeMap<String, String>,
}

/// Secrets of a flow in flight, sealed in its state row.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct FlowSecrets {
    verifier: Option<String>,
    nonce: Option<String>,
}

fn flow_metric(integration: &str, outcome: &'static str) {
    metrics::counter!(
        crate::metrics::CONNECT_FLOWS,
        "integration" => integration.to_owned(),
        "outcome" => outcome
    )
    .increment(1);
}

/// A provider-given error code, kept only if it looks like one.
fn provider_error_code(e: &str) -> String {
    let ok = !e.is_empty()
        && e.len() <= 64
        && e.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        e.to_owned()
    } else {
        "provider_error".to_owned()
    }
}

/// Why a callback whose state was taken did not connect.
pub(super) enum Halt {
    /// A result for the app: `code` is what it receives (`access_denied`,
    /// `exchange_failed`…), `outcome` the flow metric's label.
    Refused { code: String, outcome: &'static str },
    /// A failure on our side (store, vault, configuration): the caller's error.
    Failed(EngineError),
}

impl Halt {
    pub(super) fn refused(code: impl Into<String>, outcome: &'static str) -> Self {
        Self::Refused {
            code: code.into(),
            outcome,
        }
    }
}

impl From<EngineError> for Halt {
    fn from(e: EngineError) -> Self {
        Self::Failed(e)
    }
}

/// The connection's settings: those chosen when the flow started, plus the provider's
/// `callback_query` values found on the callback.
fn callback_settings(
    ctx: &Ctx,
    started: &BTreeMap<String, String>,
    query: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut settings = started.clone();
    for (name, ph) in &ctx.provider.placeholders {
        if let catalog::ValueSource::CallbackQuery(q) = &ph.from
            && let Some(v) = query.get(q)
        {
            settings.insert(name.clone(), v.clone());
        }
    }
    settings
}

impl Engine {
    /// The callback URL of an integration, as registered at the provider.
    pub fn callback_url(&self, integration: &str) -> String {
        format!(
            "{}/api/integrations/{integration}/callback",
            self.config().public_url
        )
    }

    /// Starts an authorization: stores a state and returns the provider URL
    /// (`GET /api/integrations/{integration}/auth`).
    pub async fn start_authorization(
        &self,
        integration: &str,
        session: &str,
        connection_id: Option<&str>,
        settings: BTreeMap<String, String>,
    ) -> EngineResult<AuthorizationStart> {
        self.start_authorization_via(integration, session, connection_id, settings, Via::Any)
            .await
    }

    /// [`Engine::start_authorization`] from a page that runs as `via` says (a popup or
    /// the app's window), which picks the way back of a session that has both.
    pub async fn start_authorization_via(
        &self,
        integration: &str,
        session: &str,
        connection_id: Option<&str>,
        settings: BTreeMap<String, String>,
        via: Via,
    ) -> EngineResult<AuthorizationStart> {
        let ctx = self.connect_context(integration)?;
        let mut s = self.session_for(session, integration).await?;
        (s.return_to, s.opener_origin) = via.pick(s.return_to.take(), s.opener_origin.take());
        let installs = ctx.provider.auth_mode == catalog::AuthMode::GithubApp;
        if ctx.provider.auth_mode != catalog::AuthMode::Oauth2 && !installs {
            return Err(invalid(
                "integration",
                format!(
                    "integration {integration:?} uses {} credentials, not an OAuth2 redirect; submit them to POST /api/connections",
                    ctx.provider.auth_mode
                ),
            ));
        }
        if installs {
            Engine::require_user_authorization(&ctx)?;
        }
        let connection_id = match (&s.connection_id, connection_id) {
            (Some(fixed), Some(given)) if fixed != given => {
                return Err(invalid(
                    "connection_id",
                    "differs from the one the connect session was created for",
                ));
            }
            (Some(fixed), _) => fixed.clone(),
            (None, Some(given)) if !is_connection_id(given) => {
                return Err(invalid(
                    "connection_id",
                    "use 1 to 128 letters, digits and . _ : -",
                ));
            }
            (None, Some(given)) => given.to_owned(),
            (None, None) => new_connection_id(),
        };
        if let Some(existing) = self.inner.store.get_connection(&connection_id).await?
            && (existing.integration != integration || existing.end_user_id != s.end_user_id)
        {
            return Err(EngineError::Conflict(format!(
                "connection id {connection_id:?} belongs to another integration or end user"
            )));
        }
        let settings = ctx.connection_settings(settings)?;
        let state = random_token()?;
        let (url, secrets) = if installs {
            // A GitHub App is installed, not authorized: GitHub sends the user back to
            // the app's Setup URL (this callback) with the installation id and our state.
            let url = self.install_url(&ctx, &state)?;
            (
                url,
                FlowSecrets {
                    verifier: None,
                    nonce: None,
                },
            )
        } else {
            self.authorization_redirect(&ctx, integration, &settings, &state)?
        };
        let hash = token_hash(&state);
        let plain = vault::SecretString::from(
            serde_json::to_string(&secrets)
                .map_err(|e| EngineError::Conflict(format!("cannot encode flow: {e}")))?,
        );
        let sealed = self.inner.keyring.seal(
            plain.expose_secret().as_bytes(),
            state_aad(&state_row(&hash)),
        )?;
        let now = self.now();
        self.inner
            .store
            .insert_oauth_state(&OAuthState {
                state_hash: hash,
                integration: integration.to_owned(),
                connection_id: connection_id.clone(),
                end_user_id: s.end_user_id,
                session_hash: s.token_hash,
                return_to: s.return_to,
                opener_origin: s.opener_origin,
                settings,
                sealed,
                created_at: now,
                expires_at: now + Duration::seconds(STATE_TTL_SECS),
            })
            .await?;
        flow_metric(integration, "started");
        Ok(AuthorizationStart { url, connection_id })
    }

    /// The provider's authorization URL for `state`, with the flow's PKCE verifier and
    /// nonce to seal into the state row.
    fn authorization_redirect(
        &self,
        ctx: &Ctx,
        integration: &str,
        settings: &BTreeMap<String, String>,
        state: &str,
    ) -> EngineResult<(String, FlowSecrets)> {
        let oauth = ctx.oauth2()?;
        let values = ctx.values(settings);
        let auth_template = oauth.authorization_url.as_deref().ok_or_else(|| {
            EngineError::Misconfigured(format!(
                "provider {} has no authorization endpoint",
                ctx.provider.id
            ))
        })?;
        let auth_url = protocol::resolve(&ctx.provider, auth_template, &values, self.dev())
            .map_err(|e| invalid("settings", e.to_string()))?;
        let client_id = ctx.client_id()?;
        let scopes = ctx.scopes();
        let extra = protocol::fill_params(&ctx.provider, &oauth.authorization_params, &values)
            .map_err(|e| invalid("settings", e))?;
        let secrets = FlowSecrets {
            verifier: if oauth.pkce {
                Some(random_token()?)
            } else {
                None
            },
            nonce: if scopes.iter().any(|s| s == "openid") {
                Some(random_token()?)
            } else {
                None
            },
        };
        let mut url = url::Url::parse(&auth_url)
            .map_err(|e| EngineError::Misconfigured(format!("authorization URL: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair(&oauth.client_id_param, client_id)
                .append_pair("redirect_uri", &self.callback_url(integration))
                .append_pair("state", state);
            if !scopes.is_empty() {
                q.append_pair("scope", &scopes.join(&oauth.scope_separator));
            }
            if let Some(v) = &secrets.verifier {
                let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(v.as_bytes()));
                q.append_pair("code_challenge", &challenge)
                    .append_pair("code_challenge_method", "S256");
            }
            if let Some(n) = &secrets.nonce {
                q.append_pair("nonce", n);
            }
            for (k, v) in &extra {
                q.append_pair(k, v);
            }
        }
        Ok((url.into(), secrets))
    }

    /// Finishes an authorization (`GET /api/integrations/{integration}/callback`). An
    /// unknown, reused, expired or foreign state is an error and changes nothing; every
    /// other failure is a result for the app.
    ///
    /// The steps, each below with why it is where it is: take the state, then (in
    /// `complete_authorization`) the provider's error, the sealed flow secrets,
    /// the settings the callback brings, the code exchange, the ID token, the connection,
    /// its upsert; then the outcome for the browser.
    pub async fn finish_authorization(
        &self,
        integration: &str,
        params: CallbackParams,
    ) -> EngineResult<CallbackOutcome> {
        // The state comes first and is spent at once: it is the only proof that this
        // callback answers a redirect we made, and it is what tells us where the app
        // waits. Without a valid one there is nobody to report to, so it is an error for
        // the browser and nothing changes.
        let (hash, st) = self
            .take_state(integration, params.state.as_deref())
            .await?;
        // From here on the app gets a result, however the rest goes: the way back was
        // fixed by the connect session when the flow started.
        let delivery = match (&st.return_to, &st.opener_origin) {
            (Some(r), _) => Delivery::Redirect(r.clone()),
            (None, Some(o)) => Delivery::PostMessage { origin: o.clone() },
            (None, None) => Delivery::Page,
        };
        let (connection_id, error) = match self
            .complete_authorization(integration, &params, &hash, &st)
            .await
        {
            Ok(stored) => {
                flow_metric(integration, "connected");
                self.refresh_connection_gauges().await;
                (stored, None)
            }
            // A refusal names the connection too: the app may be waiting for that id.
            Err(Halt::Refused { code, outcome }) => {
                flow_metric(integration, outcome);
                (st.connection_id.clone(), Some(code))
            }
            // Our own failure (store, vault, configuration): the caller's error, as for
            // any other request.
            Err(Halt::Failed(e)) => return Err(e),
        };
        let mut out = CallbackOutcome {
            connection_id: Some(connection_id),
            error,
            delivery: delivery.clone(),
        };
        out.delivery = finish_delivery(&out, &delivery);
        Ok(out)
    }

    /// Takes the callback's state out of the store (single use: a replayed callback finds
    /// nothing), and checks that it belongs to `integration` and has not expired. Returns
    /// the state's hash (its row's id, and the associated data of its sealed secrets).
    async fn take_state(
        &self,
        integration: &str,
        state: Option<&str>,
    ) -> EngineResult<(Vec<u8>, OAuthState)> {
        let Some(state) = state.filter(|s| is_oauth_state(s)) else {
            flow_metric(integration, "state_invalid");
            return Err(invalid(
                "state",
                "missing; start the connection again from the app",
            ));
        };
        let hash = token_hash(state);
        // Removed before it is checked, so that even a refused state cannot be tried twice.
        let Some(st) = self.inner.store.take_oauth_state(&hash).await? else {
            flow_metric(integration, "state_invalid");
            return Err(invalid(
                "state",
                "unknown or already used; start the connection again from the app",
            ));
        };
        if st.integration != integration {
            flow_metric(integration, "state_invalid");
            return Err(invalid(
                "state",
                "belongs to another integration; start the connection again from the app",
            ));
        }
        if st.expires_at <= self.now() {
            flow_metric(integration, "state_invalid");
            return Err(invalid(
                "state",
                "expired (authorizations must finish within 10 minutes); start again",
            ));
        }
        Ok((hash, st))
    }

    /// The callback once its state is spent: from the provider's answer to a stored
    /// connection. Returns the connection's id, or why it stopped.
    async fn complete_authorization(
        &self,
        integration: &str,
        params: &CallbackParams,
        hash: &[u8],
        st: &OAuthState,
    ) -> Result<String, Halt> {
        let ctx = self.connect_context(integration)?;
        if ctx.provider.auth_mode == catalog::AuthMode::GithubApp {
            return self.complete_installation(&ctx, params, st).await;
        }
        // The provider's verdict before anything of ours: a user who clicked "deny" is
        // told so (with the provider's code when it looks like one), not "exchange failed".
        if let Some(e) = &params.error {
            return Err(Halt::refused(provider_error_code(e), "provider_error"));
        }
        let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
            return Err(Halt::refused("invalid_request", "provider_error"));
        };
        // The PKCE verifier and the nonce were sealed into the state row, bound to its
        // hash: only the holder of this state can have them, and the exchange needs them.
        let secrets = self.open_flow_secrets(integration, hash, st)?;
        // Settings may come back on the callback itself (QuickBooks' `realmId`), and the
        // token URL may need them, so they are merged before the exchange.
        let settings = callback_settings(&ctx, &st.settings, &params.other);
        let values = ctx.values(&settings);
        let tokens = self
            .exchange_code(
                &ctx,
                integration,
                &values,
                code,
                secrets.verifier.as_deref(),
            )
            .await?;
        // An OpenID provider's ID token is checked against the nonce we sent: tokens
        // meant for another flow (an injected code) are refused before anything is kept.
        if let Err(e) = self
            .check_id_token(&ctx, &values, &tokens, secrets.nonce.as_deref())
            .await
        {
            tracing::warn!(integration, error = %e, "ID token refused");
            return Err(Halt::refused("id_token_invalid", "id_token_invalid"));
        }
        // Settings the token response or the userinfo endpoint give (Salesforce's
        // instance URL, a webhook routing key) are only known now.
        let connection = match self
            .build_connection(
                &ctx,
                &st.connection_id,
                &st.end_user_id,
                settings,
                &tokens,
                &params.other,
            )
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(integration, error = %e, "cannot build the connection");
                return Err(Halt::refused("exchange_failed", "exchange_failed"));
            }
        };
        let origin = super::consent::ConsentOrigin {
            session_hash: Some(&st.session_hash),
            return_url: st.return_to.as_deref().or(st.opener_origin.as_deref()),
            requested: ctx.scopes(),
        };
        self.store_connection(integration, &connection, &tokens, origin)
            .await
    }

    /// Opens the flow's sealed secrets. A state that cannot be opened (a key removed
    /// from the ring since) is the app's result `internal_error`: the user can start
    /// again, and the detail goes to the log.
    fn open_flow_secrets(
        &self,
        integration: &str,
        hash: &[u8],
        st: &OAuthState,
    ) -> Result<FlowSecrets, Halt> {
        let plain = match self
            .inner
            .keyring
            .open(&st.sealed, state_aad(&state_row(hash)))
        {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, integration, "cannot open a flow's sealed state");
                return Err(Halt::refused("internal_error", "state_invalid"));
            }
        };
        match serde_json::from_slice(plain.expose_secret()) {
            Ok(s) => Ok(s),
            Err(_) => Err(Halt::refused("internal_error", "state_invalid")),
        }
    }

    /// Exchanges the code at the provider's token endpoint. A refused client is told
    /// apart (`invalid_client`: the operator must fix the integration's credentials);
    /// anything else the provider or the network did is `exchange_failed`.
    async fn exchange_code(
        &self,
        ctx: &Ctx,
        integration: &str,
        values: &BTreeMap<String, String>,
        code: &str,
        verifier: Option<&str>,
    ) -> Result<TokenSet, Halt> {
        let redirect_uri = self.callback_url(integration);
        let client = Client {
            id: ctx.client_id()?,
            secret: ctx.integration.client_secret.as_ref(),
        };
        let exchanged = protocol::token_request(
            &self.outbound(),
            &ctx.provider,
            &client,
            values,
            Grant::AuthorizationCode {
                code,
                redirect_uri: &redirect_uri,
                verifier,
            },
            self.dev(),
        )
        .await;
        match exchanged {
            Ok(t) => Ok(t),
            Err(e) => {
                tracing::warn!(integration, error = %e, "code exchange failed");
                let code = match e {
                    TokenError::InvalidClient(_) => "invalid_client",
                    _ => "exchange_failed",
                };
                Err(Halt::refused(code, "exchange_failed"))
            }
        }
    }

    /// Seals the tokens and creates or replaces the connection, then audits it and
    /// records the consent (`connect` or `reconnect`). Returns
    /// the stored connection's id. An id held by another integration or end user is the
    /// app's result `connection_id_taken`, and nothing is written.
    pub(super) async fn store_connection(
        &self,
        integration: &str,
        connection: &Connection,
        tokens: &TokenSet,
        origin: super::consent::ConsentOrigin<'_>,
    ) -> Result<String, Halt> {
        let sealed = tokens
            .credentials
            .seal(&self.inner.keyring, &connection.id)?;
        let (stored, reconnect) = match self
            .inner
            .store
            .upsert_connection(connection, &sealed)
            .await
            .map_err(EngineError::from)?
        {
            Upsert::Created(c) => (c, false),
            Upsert::Replaced(c) => (c, true),
            Upsert::Taken => return Err(Halt::refused("connection_id_taken", "taken")),
        };
        // The audit log is append-only: it names the end user by the deployment's keyed
        // hash, so that an erasure leaves no end-user id behind in it.
        let subject = self.subject_hash(&stored.end_user_id).await?;
        self.audit(
            &Actor::System,
            "connection.connect",
            &stored.id,
            serde_json::json!({
                "integration": integration,
                "subject": subject,
                "scopes": stored.scopes,
                "missing_scopes": stored.missing_scopes,
                "reconnect": reconnect,
            }),
        )
        .await?;
        let kind = if reconnect {
            ConsentKind::Reconnect
        } else {
            ConsentKind::Connect
        };
        self.record_consent(&stored, kind, origin).await?;
        Ok(stored.id)
    }

    async fn check_id_token(
        &self,
        ctx: &Ctx,
        values: &BTreeMap<String, String>,
        tokens: &TokenSet,
        nonce: Option<&str>,
    ) -> Result<(), String> {
        let Some(nonce) = nonce else {
            return Ok(());
        };
        let oauth = ctx.oauth2().map_err(|e| e.to_string())?;
        let (Some(issuer), Some(jwks)) = (&oauth.issuer, &oauth.jwks_url) else {
            // Nothing to check against (the catalog knows no fixed issuer); the token
            // came straight from the token endpoint over TLS.
            return Ok(());
        };
        let Some(id_token) = tokens.credentials.id_token.as_deref() else {
            return Err("the openid scope was granted but no id_token came back".into());
        };
        let dev = self.dev();
        let issuer =
            protocol::resolve(&ctx.provider, issuer, values, dev).map_err(|e| e.to_string())?;
        let jwks =
            protocol::resolve(&ctx.provider, jwks, values, dev).map_err(|e| e.to_string())?;
        let client_id = ctx.client_id().map_err(|e| e.to_string())?;
        self.inner
            .id_tokens
            .validate(
                &self.outbound(),
                &jwks,
                id_token,
                &crate::oidc::Expected {
                    issuer: &issuer,
                    client_id,
                    nonce: Some(nonce),
                    now: self.now(),
                    leeway_secs: 60,
                },
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// A new active connection from a token response.
    pub(crate) async fn build_connection(
        &self,
        ctx: &Ctx,
        id: &str,
        end_user_id: &str,
        mut settings: BTreeMap<String, String>,
        tokens: &TokenSet,
        callback: &BTreeMap<String, String>,
    ) -> EngineResult<Connection> {
        let now = self.now();
        // Values the provider gives in the token response (Salesforce instance URL).
        for (name, ph) in &ctx.provider.placeholders {
            if let catalog::ValueSource::TokenResponse(p) = &ph.from
                && let Some(v) = catalog::select_pointer(&tokens.raw, p).and_then(json_scalar)
            {
                settings.insert(name.clone(), v);
            }
        }
        let needs_userinfo = ctx
            .provider
            .placeholders
            .values()
            .any(|p| matches!(p.from, catalog::ValueSource::Userinfo(_)))
            || ctx
                .provider
                .webhooks
                .as_ref()
                .and_then(|w| w.routing.as_ref())
                .is_some_and(|r| matches!(r.connection, catalog::ValueSource::Userinfo(_)));
        let userinfo = if needs_userinfo {
            self.fetch_userinfo(ctx, &settings, tokens).await
        } else {
            None
        };
        if let Some(info) = &userinfo {
            for (name, ph) in &ctx.provider.placeholders {
                if let catalog::ValueSource::Userinfo(p) = &ph.from
                    && let Some(v) = catalog::select_pointer(info, p).and_then(json_scalar)
                {
                    settings.insert(name.clone(), v);
                }
            }
        }
        let routing_key = ctx
            .provider
            .webhooks
            .as_ref()
            .and_then(|w| w.routing.as_ref())
            .and_then(|r| match &r.connection {
                catalog::ValueSource::TokenResponse(p) => {
                    catalog::select_pointer(&tokens.raw, p).and_then(json_scalar)
                }
                catalog::ValueSource::Userinfo(p) => userinfo
                    .as_ref()
                    .and_then(|u| catalog::select_pointer(u, p))
                    .and_then(json_scalar),
                catalog::ValueSource::Connection(k) => settings.get(k).cloned(),
                catalog::ValueSource::Integration(k) => ctx.integration.settings.get(k).cloned(),
                catalog::ValueSource::CallbackQuery(q) => callback.get(q).cloned(),
            });
        let requested = ctx.scopes();
        let granted = tokens.scopes.clone().unwrap_or(requested);
        let missing: Vec<String> = ctx
            .integration
            .required_scopes
            .iter()
            .filter(|s| !granted.contains(s))
            .cloned()
            .collect();
        let expires_at = tokens
            .expires_in
            .map(|s| now + Duration::seconds(s.min(10 * 365 * 86_400) as i64));
        Ok(Connection {
            id: id.to_owned(),
            integration: ctx.integration.id.clone(),
            provider: ctx.provider.id.clone(),
            end_user_id: end_user_id.to_owned(),
            auth_mode: ctx.provider.auth_mode.name().to_owned(),
            status: ConnectionStatus::Active,
            scopes: granted,
            missing_scopes: missing,
            settings,
            routing_key,
            expires_at,
            created_at: now,
            updated_at: now,
            last_refresh_at: None,
            last_error: None,
            refresh_failures: 0,
            next_refresh_at: self.next_refresh(
                expires_at,
                tokens.credentials.refresh_token.is_some()
                    || ctx.provider.auth_mode.renews_without_refresh_token(),
            ),
            token_version: 0,
            token_obtained_at: None,
            health: None,
        })
    }

    async fn fetch_userinfo(
        &self,
        ctx: &Ctx,
        settings: &BTreeMap<String, String>,
        tokens: &TokenSet,
    ) -> Option<serde_json::Value> {
        let oauth = ctx.provider.oauth2.as_ref()?;
        let template = oauth.userinfo_url.as_deref()?;
        let url =
            protocol::resolve(&ctx.provider, template, &ctx.values(settings), self.dev()).ok()?;
        let token = tokens.credentials.access_token.as_deref()?;
        let headers = ctx.api_headers(settings).unwrap_or_default();
        match protocol::get_with_credential(
            &self.outbound(),
            &url,
            oauth.api_auth.as_ref(),
            token,
            &headers,
        )
        .await
        {
            Ok((200..=299, body)) => body,
            Ok((status, _)) => {
                tracing::warn!(integration = %ctx.integration.id, status, "userinfo request failed");
                None
            }
            Err(e) => {
                tracing::warn!(integration = %ctx.integration.id, error = %e, "userinfo request failed");
                None
            }
        }
    }
}

fn json_scalar(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
