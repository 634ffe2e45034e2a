//! Connect sessions and the authorization-code flow: the redirect to the provider (state,
//! PKCE S256, nonce) and the callback (single-use state, code exchange, ID-token
//! validation, storing the connection, the result for the browser).

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use store::{ConnectSession, Connection, ConnectionStatus, OAuthState, Upsert};
use vault::{Aad, ExposeSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::protocol::{self, Client, Grant, TokenError, TokenSet};
use super::{is_connection_id, is_end_user_id, new_connection_id, random_token, token_hash};
use crate::{Actor, Engine, EngineError, EngineResult};

/// How long an authorization may take between the redirect and the callback.
pub const STATE_TTL_SECS: i64 = 600;

/// `POST /api/connect-sessions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectSessionRequest {
    /// The end user (`{"id": "u42"}`).
    #[serde(deserialize_with = "super::object")]
    pub end_user: EndUser,
    /// Integrations the user may connect.
    pub integrations: Vec<String>,
    /// The connection id to create (the app's choice); generated when absent.
    #[serde(default)]
    pub connection_id: Option<String>,
    /// Where the browser goes at the end; its origin must be allowed by every listed
    /// integration.
    #[serde(default)]
    pub return_to: Option<String>,
    /// The origin of the window that opened the Connect popup, for a `postMessage`
    /// result; must be allowed by every listed integration.
    #[serde(default)]
    pub opener_origin: Option<String>,
}

/// The end user of a connect session.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndUser {
    /// The app's id of the user.
    pub id: String,
}

/// A created connect session. The token is shown only here.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedConnectSession {
    /// The session token (`cs_…`).
    pub token: String,
    /// When it stops working.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The Connect page for this session.
    pub connect_url: String,
}

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

/// How the browser gets the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A 302 to `return_to` with the result in the query.
    Redirect(String),
    /// A page that posts the result to the opener at exactly this origin.
    PostMessage {
        /// The opener's origin.
        origin: String,
    },
    /// A page that says what happened (no return address was given).
    Page,
}

/// The result of a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackOutcome {
    /// The connection, when it was created (or also on error, when known).
    pub connection_id: Option<String>,
    /// `None` on success, else a short code (`access_denied`, `exchange_failed`…).
    pub error: Option<String>,
    /// How to tell the browser.
    pub delivery: Delivery,
}

impl CallbackOutcome {
    /// `connected` or `error`.
    pub fn status(&self) -> &'static str {
        if self.error.is_none() {
            "connected"
        } else {
            "error"
        }
    }

    /// The fields the app receives: `status` and `connection_id` or `error`.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("status", self.status().to_owned())];
        if let Some(id) = &self.connection_id {
            out.push(("connection_id", id.clone()));
        }
        if let Some(e) = &self.error {
            out.push(("error", e.clone()));
        }
        out
    }
}

/// Secrets of a flow in flight, sealed in its state row.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct FlowSecrets {
    verifier: Option<String>,
    nonce: Option<String>,
}

fn invalid(field: &'static str, message: impl Into<String>) -> EngineError {
    EngineError::Invalid {
        field,
        message: message.into(),
    }
}

fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return None;
    }
    if !u.username().is_empty() || u.password().is_some() {
        return None;
    }
    Some(u.origin().ascii_serialization())
}

fn state_aad(hash: &[u8]) -> String {
    hex::encode(hash)
}

fn flow_metric(integration: &str, outcome: &'static str) {
    metrics::counter!(
        "switchboard_connect_flows_total",
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

/// Appends the result fields to a return URL, keeping its own query.
fn with_result(return_to: &str, fields: &[(&'static str, String)]) -> String {
    match url::Url::parse(return_to) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in fields {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => return_to.to_owned(),
    }
}

impl Engine {
    /// The callback URL of an integration, as registered at the provider.
    pub fn callback_url(&self, integration: &str) -> String {
        format!(
            "{}/api/integrations/{integration}/callback",
            self.config().public_url
        )
    }

    /// Creates a connect session (app backend).
    pub async fn create_connect_session(
        &self,
        req: ConnectSessionRequest,
    ) -> EngineResult<CreatedConnectSession> {
        let cfg = self.config();
        if !is_end_user_id(&req.end_user.id) {
            return Err(invalid(
                "end_user.id",
                "must be 1 to 256 printable characters",
            ));
        }
        if req.integrations.is_empty() {
            return Err(invalid(
                "integrations",
                "list at least one integration the user may connect",
            ));
        }
        if req.integrations.len() > 64 {
            return Err(invalid("integrations", "list at most 64 integrations"));
        }
        for id in &req.integrations {
            let ctx = self.connect_context(id)?;
            if ctx.provider.auth_mode == catalog::AuthMode::WebhookOnly {
                return Err(invalid(
                    "integrations",
                    format!(
                        "integration {id:?} only receives webhooks; it has no accounts to connect"
                    ),
                ));
            }
        }
        if let Some(id) = &req.connection_id
            && !is_connection_id(id)
        {
            return Err(invalid(
                "connection_id",
                "use 1 to 128 letters, digits and . _ : - (starting with a letter or digit)",
            ));
        }
        let allowed_everywhere = |origin: &str| {
            req.integrations.iter().all(|id| {
                cfg.integration(id)
                    .is_some_and(|i| i.allowed_return_origins.iter().any(|o| o == origin))
            })
        };
        if let Some(r) = &req.return_to {
            let origin = origin_of(r).ok_or_else(|| {
                invalid(
                    "return_to",
                    "must be an absolute http(s) URL without credentials",
                )
            })?;
            if !allowed_everywhere(&origin) {
                return Err(invalid(
                    "return_to",
                    format!(
                        "origin {origin} is not in allowed_return_origins of every listed integration; add it in switchboard.toml"
                    ),
                ));
            }
        }
        if let Some(o) = &req.opener_origin {
            let origin = origin_of(o)
                .filter(|n| n == o.trim_end_matches('/'))
                .ok_or_else(|| {
                    invalid("opener_origin", "must be an origin: scheme://host[:port]")
                })?;
            if !allowed_everywhere(&origin) {
                return Err(invalid(
                    "opener_origin",
                    format!(
                        "origin {origin} is not in allowed_return_origins of every listed integration; add it in switchboard.toml"
                    ),
                ));
            }
        }
        let token = format!("cs_{}", random_token()?);
        let now = self.now();
        let expires_at = now + Duration::seconds(cfg.connect_session_ttl_secs as i64);
        self.inner
            .store
            .insert_connect_session(&ConnectSession {
                token_hash: token_hash(&token),
                end_user_id: req.end_user.id,
                integrations: req.integrations,
                connection_id: req.connection_id,
                return_to: req.return_to,
                opener_origin: req
                    .opener_origin
                    .map(|o| o.trim_end_matches('/').to_owned()),
                created_at: now,
                expires_at,
            })
            .await?;
        let connect_url = format!(
            "{}/connect?session={}",
            cfg.public_url,
            form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
        );
        Ok(CreatedConnectSession {
            token,
            expires_at,
            connect_url,
        })
    }

    /// A live connect session that allows `integration`.
    pub(crate) async fn session_for(
        &self,
        session: &str,
        integration: &str,
    ) -> EngineResult<ConnectSession> {
        let s = self
            .inner
            .store
            .get_connect_session(&token_hash(session))
            .await?
            .filter(|s| s.expires_at > self.now())
            .ok_or_else(|| {
                invalid(
                    "session",
                    "unknown or expired connect session; ask the app for a new one",
                )
            })?;
        if !s.integrations.iter().any(|i| i == integration) {
            return Err(EngineError::Forbidden(format!(
                "this connect session does not allow integration {integration:?}"
            )));
        }
        Ok(s)
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
        let ctx = self.connect_context(integration)?;
        let s = self.session_for(session, integration).await?;
        if ctx.provider.auth_mode != catalog::AuthMode::Oauth2 {
            return Err(invalid(
                "integration",
                format!(
                    "integration {integration:?} uses {} credentials, not an OAuth2 redirect; submit them to POST /api/connections",
                    ctx.provider.auth_mode
                ),
            ));
        }
        let oauth = ctx.oauth2()?;
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
        let values = ctx.values(&settings);
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
        let state = random_token()?;
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
                .append_pair("client_id", client_id)
                .append_pair("redirect_uri", &self.callback_url(integration))
                .append_pair("state", &state);
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
            for (k, v) in &oauth.authorization_params {
                q.append_pair(k, v);
            }
        }
        let hash = token_hash(&state);
        let plain = vault::SecretString::from(
            serde_json::to_string(&secrets)
                .map_err(|e| EngineError::Conflict(format!("cannot encode flow: {e}")))?,
        );
        let sealed = self.inner.keyring.seal(
            plain.expose_secret().as_bytes(),
            Aad::new("oauth_states", "sealed", &state_aad(&hash)),
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
        Ok(AuthorizationStart {
            url: url.to_string(),
            connection_id,
        })
    }

    /// Finishes an authorization (`GET /api/integrations/{integration}/callback`). An
    /// unknown, reused, expired or foreign state is an error and changes nothing; every
    /// other failure is a result for the app.
    pub async fn finish_authorization(
        &self,
        integration: &str,
        params: CallbackParams,
    ) -> EngineResult<CallbackOutcome> {
        let Some(state) = params
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= 512)
        else {
            flow_metric(integration, "state_invalid");
            return Err(invalid(
                "state",
                "missing; start the connection again from the app",
            ));
        };
        let hash = token_hash(state);
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
        let delivery = match (&st.return_to, &st.opener_origin) {
            (Some(r), _) => Delivery::Redirect(r.clone()),
            (None, Some(o)) => Delivery::PostMessage { origin: o.clone() },
            (None, None) => Delivery::Page,
        };
        let fail = |code: String, outcome: &'static str| {
            flow_metric(integration, outcome);
            let mut out = CallbackOutcome {
                connection_id: Some(st.connection_id.clone()),
                error: Some(code),
                delivery: delivery.clone(),
            };
            out.delivery = finish_delivery(&out, &delivery);
            Ok(out)
        };
        if let Some(e) = &params.error {
            return fail(provider_error_code(e), "provider_error");
        }
        let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
            return fail("invalid_request".into(), "provider_error");
        };
        let plain = match self.inner.keyring.open(
            &st.sealed,
            Aad::new("oauth_states", "sealed", &state_aad(&hash)),
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, integration, "cannot open a flow's sealed state");
                return fail("internal_error".into(), "state_invalid");
            }
        };
        let secrets: FlowSecrets = match serde_json::from_slice(plain.expose_secret()) {
            Ok(s) => s,
            Err(_) => return fail("internal_error".into(), "state_invalid"),
        };
        let ctx = self.connect_context(integration)?;
        let mut settings = st.settings.clone();
        for (name, ph) in &ctx.provider.placeholders {
            if let catalog::ValueSource::CallbackQuery(q) = &ph.from
                && let Some(v) = params.other.get(q)
            {
                settings.insert(name.clone(), v.clone());
            }
        }
        let values = ctx.values(&settings);
        let redirect_uri = self.callback_url(integration);
        let client = Client {
            id: ctx.client_id()?,
            secret: ctx.integration.client_secret.as_ref(),
        };
        let exchanged = protocol::token_request(
            &self.outbound(),
            &ctx.provider,
            &client,
            &values,
            Grant::AuthorizationCode {
                code,
                redirect_uri: &redirect_uri,
                verifier: secrets.verifier.as_deref(),
            },
            self.dev(),
        )
        .await;
        let tokens = match exchanged {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(integration, error = %e, "code exchange failed");
                let code = match e {
                    TokenError::InvalidClient(_) => "invalid_client",
                    _ => "exchange_failed",
                };
                return fail(code.into(), "exchange_failed");
            }
        };
        if let Err(e) = self
            .check_id_token(&ctx, &values, &tokens, secrets.nonce.as_deref())
            .await
        {
            tracing::warn!(integration, error = %e, "ID token refused");
            return fail("id_token_invalid".into(), "id_token_invalid");
        }
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
                return fail("exchange_failed".into(), "exchange_failed");
            }
        };
        let sealed = tokens
            .credentials
            .seal(&self.inner.keyring, &connection.id)?;
        let (stored, reconnect) = match self
            .inner
            .store
            .upsert_connection(&connection, &sealed)
            .await?
        {
            Upsert::Created(c) => (c, false),
            Upsert::Replaced(c) => (c, true),
            Upsert::Taken => return fail("connection_id_taken".into(), "taken"),
        };
        self.audit(
            &Actor::System,
            "connection.connect",
            &stored.id,
            serde_json::json!({
                "integration": integration,
                "end_user_id": stored.end_user_id,
                "scopes": stored.scopes,
                "missing_scopes": stored.missing_scopes,
                "reconnect": reconnect,
            }),
        )
        .await?;
        flow_metric(integration, "connected");
        self.refresh_connection_gauges().await;
        let mut out = CallbackOutcome {
            connection_id: Some(stored.id),
            error: None,
            delivery: delivery.clone(),
        };
        out.delivery = finish_delivery(&out, &delivery);
        Ok(out)
    }

    async fn check_id_token(
        &self,
        ctx: &super::manage::Ctx,
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
        ctx: &super::manage::Ctx,
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
                && let Some(v) = tokens.raw.pointer(p).and_then(json_scalar)
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
                    && let Some(v) = info.pointer(p).and_then(json_scalar)
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
                    tokens.raw.pointer(p).and_then(json_scalar)
                }
                catalog::ValueSource::Userinfo(p) => userinfo
                    .as_ref()
                    .and_then(|u| u.pointer(p))
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
                    || ctx.provider.auth_mode == catalog::AuthMode::ClientCredentials,
            ),
            token_version: 0,
        })
    }

    async fn fetch_userinfo(
        &self,
        ctx: &super::manage::Ctx,
        settings: &BTreeMap<String, String>,
        tokens: &TokenSet,
    ) -> Option<serde_json::Value> {
        let oauth = ctx.provider.oauth2.as_ref()?;
        let template = oauth.userinfo_url.as_deref()?;
        let url =
            protocol::resolve(&ctx.provider, template, &ctx.values(settings), self.dev()).ok()?;
        let token = tokens.credentials.access_token.as_deref()?;
        match protocol::get_with_credential(
            &self.outbound(),
            &url,
            oauth.api_auth.as_ref(),
            token,
            &ctx.provider.api_headers,
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

/// How a connect made with `session` (without a redirect to the provider) reports to the
/// app: the same as the OAuth callback would.
pub(crate) fn session_outcome(s: &ConnectSession, connection_id: &str) -> CallbackOutcome {
    let delivery = match (&s.return_to, &s.opener_origin) {
        (Some(r), _) => Delivery::Redirect(r.clone()),
        (None, Some(o)) => Delivery::PostMessage { origin: o.clone() },
        (None, None) => Delivery::Page,
    };
    let mut out = CallbackOutcome {
        connection_id: Some(connection_id.to_owned()),
        error: None,
        delivery: delivery.clone(),
    };
    out.delivery = finish_delivery(&out, &delivery);
    out
}

/// The origin of an absolute URL (`https://app.example`), if it has one.
pub(crate) fn url_origin(url: &str) -> Option<String> {
    origin_of(url)
}

fn finish_delivery(out: &CallbackOutcome, d: &Delivery) -> Delivery {
    match d {
        Delivery::Redirect(r) => Delivery::Redirect(with_result(r, &out.fields())),
        other => other.clone(),
    }
}
