//! Connect sessions: what the app's backend creates so that an end user may connect some
//! integrations (`POST /api/connect-sessions`), the Connect page a session shows, the
//! connects made on it with typed credentials, and how the result reaches the app
//! ([`CallbackOutcome`], [`Delivery`]), which the OAuth callback shares.

use std::collections::BTreeMap;

use chrono::Duration;
use serde::{Deserialize, Serialize};
use store::ConnectSession;

use super::ConnectionView;
use super::invalid;
use super::{CredentialsInput, DirectConnectRequest};
use crate::ids::{is_connection_id, is_end_user_id, new_connect_session_token, token_hash};
use crate::{Actor, Engine, EngineError, EngineResult};

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

/// Which way back the browser wants, for a session that has both a `return_to` and an
/// `opener_origin`: the Connect page in a popup asks for the `postMessage` result, a
/// full-page visit (a popup blocker's fallback) for the redirect. Either way the result
/// goes only where the app allowed; without a choice `return_to` wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// The session decides (`return_to` first).
    #[default]
    Any,
    /// The page runs in a popup: post the result to the opener.
    Popup,
    /// The page runs in the app's own window: redirect to `return_to`.
    Redirect,
}

impl Via {
    /// `popup` or `redirect`.
    pub fn parse(s: &str) -> Option<Via> {
        match s {
            "popup" => Some(Via::Popup),
            "redirect" => Some(Via::Redirect),
            _ => None,
        }
    }

    /// The session's `(return_to, opener_origin)` with the one not chosen dropped,
    /// when the session has both.
    pub(crate) fn pick(
        self,
        return_to: Option<String>,
        opener_origin: Option<String>,
    ) -> (Option<String>, Option<String>) {
        match (self, &return_to, &opener_origin) {
            (Via::Popup, Some(_), Some(_)) => (None, opener_origin),
            (Via::Redirect, Some(_), Some(_)) => (return_to, None),
            _ => (return_to, opener_origin),
        }
    }
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

/// What the Connect page shows for one integration of a session.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectOption {
    /// The integration id.
    pub integration: String,
    /// The provider's display name.
    pub provider_name: String,
    /// `oauth2`, `api_key`, `basic`, `client_credentials`, `github_app` or `jwt_bearer`.
    pub auth_mode: String,
    /// Settings the user must give (name, description), e.g. Shopify's `shop`.
    pub settings: Vec<(String, String)>,
    /// What the provider calls the API key (api_key mode).
    pub api_key_label: Option<String>,
    /// What the provider calls the user name, when the user gives one (basic mode).
    pub username_label: Option<String>,
    /// What the provider calls the password (basic mode).
    pub password_label: Option<String>,
    /// The provider's documentation (where to find a key).
    pub docs_url: String,
    /// For a service account (`jwt_bearer`), whose end user brings the key: whether
    /// the user it acts for (`subject`) is asked for, and if it must be given.
    pub subject: Option<SubjectInput>,
    /// The scopes an OAuth2 integration asks for.
    pub scopes: Vec<ScopeView>,
}

/// The subject input of a service-account option: the user the key acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SubjectInput {
    /// Every connection names one (Salesforce's user name, DocuSign's user id); else it
    /// may (a Google Workspace user for domain-wide delegation).
    pub required: bool,
}

/// A scope an OAuth2 integration asks for, with what it lets the app do when the
/// catalog's `scopes.toml` knows.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeView {
    /// The scope as the provider names it.
    pub scope: String,
    /// What it lets the app do ("see your profile").
    pub description: Option<String>,
}

/// A connection the session's end user already has to one of the session's integrations.
#[derive(Debug, Clone, Serialize)]
pub struct ExistingConnection {
    /// The connection id.
    pub id: String,
    /// Its integration.
    pub integration: String,
    /// `active`, `needs_reauth` or `error`.
    pub status: String,
    /// When it was first connected.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The Connect page of a session.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectPage {
    /// The end user.
    pub end_user_id: String,
    /// The connection id the session creates, if fixed.
    pub connection_id: Option<String>,
    /// One entry per integration of the session.
    pub options: Vec<ConnectOption>,
    /// The end user's connections to the session's integrations (not revoked ones), at
    /// most 20 per integration.
    pub existing: Vec<ExistingConnection>,
    /// The origin the session posts its result to, in a popup.
    pub opener_origin: Option<String>,
    /// When the session expires.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The origin of the session's `return_to`, which the page's forms may end at (a
    /// successful connect redirects there).
    pub return_origin: Option<String>,
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
            // A service account signing with the integration's key is the integrator's
            // to connect; only an integration whose every connection brings its own
            // key lets end users give theirs on the Connect page.
            if ctx.provider.auth_mode == catalog::AuthMode::JwtBearer
                && ctx.integration.private_key.is_some()
            {
                return Err(invalid(
                    "integrations",
                    format!(
                        "integration {id:?} connects a service account with its own private_key, without a browser: POST /api/connections (or `switchboard connections create`); for end users who bring their own service-account key on the Connect page, configure an integration without private_key"
                    ),
                ));
            }
            if ctx.provider.auth_mode == catalog::AuthMode::GithubApp {
                Engine::require_user_authorization(&ctx)?;
            }
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
        let token = new_connect_session_token()?;
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

    /// A connect session that exists and has not expired; anything else is the one
    /// `session` error, so a caller cannot tell an unknown token from an expired one.
    async fn live_session(&self, session: &str) -> EngineResult<ConnectSession> {
        self.inner
            .store
            .get_connect_session(&token_hash(session))
            .await?
            .filter(|s| s.expires_at > self.now())
            .ok_or_else(|| {
                invalid(
                    "session",
                    "unknown or expired connect session; ask the app for a new one",
                )
            })
    }

    /// A live connect session that allows `integration`.
    pub(crate) async fn session_for(
        &self,
        session: &str,
        integration: &str,
    ) -> EngineResult<ConnectSession> {
        let s = self.live_session(session).await?;
        if !s.integrations.iter().any(|i| i == integration) {
            return Err(EngineError::Forbidden(format!(
                "this connect session does not allow integration {integration:?}"
            )));
        }
        Ok(s)
    }
}

impl Engine {
    /// What the Connect page of a session offers. Unknown or expired sessions are
    /// refused like at the authorization route.
    pub async fn connect_page(&self, session: &str) -> EngineResult<ConnectPage> {
        let s = self.live_session(session).await?;
        let mut options = Vec::with_capacity(s.integrations.len());
        for id in &s.integrations {
            let Ok(ctx) = self.connect_context(id) else {
                continue;
            };
            let settings = ctx
                .provider
                .placeholders
                .values()
                .filter_map(|p| match &p.from {
                    catalog::ValueSource::Connection(k) if p.default.is_none() => Some((
                        k.clone(),
                        p.description.clone().unwrap_or_else(|| k.clone()),
                    )),
                    _ => None,
                })
                .collect();
            let basic = ctx.provider.basic.as_ref();
            options.push(ConnectOption {
                integration: id.clone(),
                provider_name: ctx.provider.name.clone(),
                auth_mode: ctx.provider.auth_mode.name().to_owned(),
                settings,
                api_key_label: ctx
                    .provider
                    .api_key
                    .as_ref()
                    .map(|k| k.label.clone().unwrap_or_else(|| "API key".into())),
                username_label: basic.filter(|b| b.username.is_none()).map(|b| {
                    b.username_label
                        .clone()
                        .unwrap_or_else(|| "User name".into())
                }),
                password_label: basic.map(|b| {
                    b.password_label
                        .clone()
                        .unwrap_or_else(|| "Password".into())
                }),
                docs_url: ctx.provider.docs_url.clone(),
                subject: match (ctx.provider.auth_mode, &ctx.provider.jwt_bearer) {
                    (catalog::AuthMode::JwtBearer, Some(j)) => match j.subject {
                        catalog::JwtSubject::Required => Some(SubjectInput { required: true }),
                        catalog::JwtSubject::Optional => Some(SubjectInput { required: false }),
                        catalog::JwtSubject::None => None,
                    },
                    _ => None,
                },
                scopes: if ctx.provider.auth_mode == catalog::AuthMode::Oauth2 {
                    ctx.scopes()
                        .into_iter()
                        .map(|scope| ScopeView {
                            description: catalog::scope_description(&ctx.provider.id, &scope)
                                .map(str::to_owned),
                            scope,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            });
        }
        let mut existing = Vec::new();
        for id in &s.integrations {
            let filter = store::ConnectionFilter {
                integration: Some(id.clone()),
                end_user_id: Some(s.end_user_id.clone()),
                status: None,
            };
            let page = self.list_connections(&filter, None, 20).await?;
            existing.extend(
                page.data
                    .into_iter()
                    .filter(|c| c.status != store::ConnectionStatus::Revoked)
                    .map(|c| ExistingConnection {
                        id: c.id,
                        integration: c.integration,
                        status: c.status.as_str().to_owned(),
                        created_at: c.created_at,
                    }),
            );
        }
        Ok(ConnectPage {
            existing,
            opener_origin: s.opener_origin.clone(),
            return_origin: s.return_to.as_deref().and_then(url_origin),
            end_user_id: s.end_user_id,
            connection_id: s.connection_id,
            options,
            expires_at: s.expires_at,
        })
    }

    /// Connects an API-key or basic-auth integration with credentials the end user typed
    /// on the Connect page (or a service account with the key the user pasted): the
    /// session decides the end user and connection id.
    pub async fn connect_with_session(
        &self,
        session: &str,
        integration: &str,
        credentials: CredentialsInput,
        settings: BTreeMap<String, String>,
    ) -> EngineResult<(ConnectionView, CallbackOutcome)> {
        self.connect_with_session_via(session, integration, None, credentials, settings, Via::Any)
            .await
    }

    /// [`Engine::connect_with_session`] from a page that runs as `via` says (a popup
    /// or the app's window), which picks the way back of a session that has both.
    /// `connection_id` names the connection to create, or to reconnect when the end user
    /// has it already (the new credentials are verified like new ones and replace the
    /// old ones under the same id), when the session did not fix one; a session that
    /// fixed one takes only that one. Everything is checked before the provider is
    /// called, and a refusal changes nothing.
    pub async fn connect_with_session_via(
        &self,
        session: &str,
        integration: &str,
        connection_id: Option<&str>,
        credentials: CredentialsInput,
        settings: BTreeMap<String, String>,
        via: Via,
    ) -> EngineResult<(ConnectionView, CallbackOutcome)> {
        let mut s = self.session_for(session, integration).await?;
        (s.return_to, s.opener_origin) = via.pick(s.return_to.take(), s.opener_origin.take());
        let ctx = self.connect_context(integration)?;
        match ctx.provider.auth_mode {
            catalog::AuthMode::ApiKey | catalog::AuthMode::Basic => {}
            // The end user's own key, never the integration's: a session cannot name a
            // subject for the integrator's service account.
            catalog::AuthMode::JwtBearer => {
                if ctx.integration.private_key.is_some() {
                    return Err(invalid(
                        "integration",
                        format!(
                            "integration {integration:?} signs with its own private_key; it is connected by the app backend (POST /api/connections), not on the Connect page"
                        ),
                    ));
                }
                if credentials.private_key.is_none() {
                    return Err(invalid(
                        "credentials.private_key",
                        "is missing; paste the service account's key file (JSON)",
                    ));
                }
            }
            _ => {
                return Err(EngineError::Invalid {
                    field: "integration",
                    message: format!(
                        "integration {integration:?} does not take typed credentials; use its authorization link"
                    ),
                });
            }
        }
        let connection_id = match (&s.connection_id, connection_id) {
            (Some(fixed), Some(given)) if fixed != given => {
                return Err(invalid(
                    "connection_id",
                    "differs from the one the connect session was created for",
                ));
            }
            (Some(fixed), _) => Some(fixed.clone()),
            (None, Some(given)) if !is_connection_id(given) => {
                return Err(invalid(
                    "connection_id",
                    "use 1 to 128 letters, digits and . _ : -",
                ));
            }
            (None, given) => given.map(str::to_owned),
        };
        if let Some(id) = &connection_id
            && let Some(existing) = self.inner.store.get_connection(id).await?
            && (existing.integration != integration || existing.end_user_id != s.end_user_id)
        {
            return Err(EngineError::Conflict(format!(
                "connection id {id:?} belongs to another integration or end user"
            )));
        }
        let view = self
            .connect_direct(
                DirectConnectRequest {
                    integration: integration.to_owned(),
                    end_user_id: Some(s.end_user_id.clone()),
                    connection_id,
                    credentials: Some(credentials),
                    settings,
                },
                &Actor::System,
            )
            .await?;
        let outcome = session_outcome(&s, &view.id);
        Ok((view, outcome))
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

pub(super) fn finish_delivery(out: &CallbackOutcome, d: &Delivery) -> Delivery {
    match d {
        Delivery::Redirect(r) => Delivery::Redirect(with_result(r, &out.fields())),
        other => other.clone(),
    }
}
