//! A client for Switchboard's HTTP API: the admin API (API keys, audit log), the app
//! backend's connection API (connect sessions, connections, tokens, refresh, disconnect),
//! stored events, replay and destinations ([`Client::list_events`], [`Client::replay`],
//! [`Client::list_destinations`]), and the provider APIs through the proxy
//! ([`Client::proxy`]).
//!
//! Connecting a user and getting a token:
//!
//! ```no_run
//! use client::{Client, ConnectSessionRequest, Credential, ExposeSecret};
//!
//! # async fn demo() -> Result<(), client::ClientError> {
//! let sb = Client::new("http://127.0.0.1:8080", "sb_…".to_owned().into())?;
//!
//! // 1. The app backend asks for a connect session and sends the user's browser to it.
//! let session = sb
//!     .create_connect_session(
//!         &ConnectSessionRequest::new("u42", ["github-main"])
//!             .connection_id("acct-42-github")
//!             .return_to("https://app.example/done"),
//!     )
//!     .await?;
//! println!("open {}", session.connect_url);
//!
//! // 2. After the redirect back (`?status=connected&connection_id=acct-42-github`), the
//! //    app asks for a valid token whenever it calls the provider.
//! match sb.connection_token("acct-42-github").await {
//!     Ok(token) => {
//!         if let Credential::Bearer { access_token, .. } = token.credential() {
//!             let _header = format!("Bearer {}", access_token.expose_secret());
//!         }
//!     }
//!     // The user must connect again: send them through a new connect session.
//!     Err(e) if e.is_needs_reauth() || e.is_revoked() => println!("reconnect: {e}"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```
//!
//! Errors are typed: the server's code is matchable through [`ClientError::error_code`]
//! or directly on [`ClientError::Api`].
//!
//! ```
//! use client::{ClientError, ErrorCode};
//!
//! fn advice(e: &ClientError) -> &'static str {
//!     match e.error_code() {
//!         Some(ErrorCode::NeedsReauth | ErrorCode::Revoked) => "ask the user to connect again",
//!         Some(ErrorCode::ProviderUnavailable) => "retry later",
//!         Some(_) => "see the message",
//!         None => "check SWITCHBOARD_URL",
//!     }
//! }
//! let e = ClientError::Api { status: 409, code: "needs_reauth".into(), message: "…".into() };
//! assert_eq!(advice(&e), "ask the user to connect again");
//! ```

#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

mod events;
mod privacy;
mod proxy;
mod status;

/// The backend guide (`docs/guides/backend.md`): connect sessions, the token route, the
/// proxy, this client and receiving Standard Webhooks deliveries. Included here so that
/// `cargo test --doc` compiles its Rust examples.
#[doc = include_str!("../../../docs/guides/backend.md")]
pub mod guide {}

pub use events::{
    Delivery, DeliveryCounts, Destination, DestinationChange, Event, EventDetail, EventFilter,
    EventMapping, EventStatus, QueueCounts, ReplayCount, ReplayFilter, ReplayStatus,
};
pub use privacy::{
    ConsentRecord, EndUserExport, ErasedConnection, Erasure, ErasureCounts, ExportedDelivery,
    ExportedEvent, PurgeResult,
};
pub use proxy::{Method, PROXY_TIMEOUT, ProxyRequestBuilder, ProxyResponse};
pub use status::{
    ChecklistItem, ConnectionsHealth, DeliveriesHealth, DestinationHealth, IntegrationHealth,
    Readiness, Status, Thresholds, WebhooksHealth,
};

use chrono::{DateTime, Utc};
/// Re-exported so callers can read secret fields without depending on `secrecy`.
pub use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error's stable code (`not_found`, `needs_reauth`…; see [`ErrorCode`]).
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server could not be reached.
    #[error(
        "cannot reach Switchboard at {url}: {reason}; check SWITCHBOARD_URL and that the server runs"
    )]
    Transport {
        /// Base URL.
        url: String,
        /// Cause.
        reason: String,
    },
    /// The answer was not what this client expects.
    #[error("unexpected answer from the server: {0}; are client and server the same version?")]
    Decode(String),
    /// The base URL is not usable.
    #[error("invalid server URL {0:?}; write e.g. http://127.0.0.1:8080")]
    BadUrl(String),
}

/// The server's stable error codes, as a matchable enum (see [`ClientError::error_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `not_found`: no such connection, integration, key or route.
    NotFound,
    /// `invalid_request`: a parameter or body field is wrong.
    InvalidRequest,
    /// `bad_request`: the request is malformed.
    BadRequest,
    /// `unauthorized`: no or an unknown API key.
    Unauthorized,
    /// `forbidden`: the key's scope does not allow this call.
    Forbidden,
    /// `conflict`: the resource exists or changed meanwhile.
    Conflict,
    /// `needs_reauth`: the provider refused the grant; the user must connect again.
    NeedsReauth,
    /// `revoked`: the connection was disconnected.
    Revoked,
    /// `connection_error`: the connection is in the error state.
    ConnectionError,
    /// `provider_unavailable`: the provider is down or slow; retry later.
    ProviderUnavailable,
    /// `provider_error`: the provider answered something unexpected.
    ProviderError,
    /// `credentials_rejected`: the provider refused the API key or password.
    CredentialsRejected,
    /// `misconfigured`: the integration's configuration is incomplete or wrong.
    Misconfigured,
    /// `rate_limited`: too many requests.
    RateLimited,
    /// `unavailable`: the server (or its database) is unavailable.
    Unavailable,
    /// `key_unavailable`: a stored secret is sealed under a master key this server does
    /// not have (the operator adds it back to `old_master_keys`); retry once fixed.
    KeyUnavailable,
    /// `internal`: a server-side failure.
    Internal,
    /// A code this client does not know (see [`ClientError::code`] for the text).
    Other,
}

impl ErrorCode {
    /// The code for its wire name; [`ErrorCode::Other`] for unknown ones.
    pub fn parse(code: &str) -> Self {
        match code {
            "not_found" => Self::NotFound,
            "invalid_request" => Self::InvalidRequest,
            "bad_request" => Self::BadRequest,
            "unauthorized" => Self::Unauthorized,
            "forbidden" => Self::Forbidden,
            "conflict" => Self::Conflict,
            "needs_reauth" => Self::NeedsReauth,
            "revoked" => Self::Revoked,
            "connection_error" => Self::ConnectionError,
            "provider_unavailable" => Self::ProviderUnavailable,
            "provider_error" => Self::ProviderError,
            "credentials_rejected" => Self::CredentialsRejected,
            "misconfigured" => Self::Misconfigured,
            "rate_limited" => Self::RateLimited,
            "unavailable" => Self::Unavailable,
            "key_unavailable" => Self::KeyUnavailable,
            "internal" => Self::Internal,
            _ => Self::Other,
        }
    }

    /// The wire name (`other` for [`ErrorCode::Other`]).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::InvalidRequest => "invalid_request",
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Conflict => "conflict",
            Self::NeedsReauth => "needs_reauth",
            Self::Revoked => "revoked",
            Self::ConnectionError => "connection_error",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::ProviderError => "provider_error",
            Self::CredentialsRejected => "credentials_rejected",
            Self::Misconfigured => "misconfigured",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::KeyUnavailable => "key_unavailable",
            Self::Internal => "internal",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ClientError {
    /// The server's error code text, if the server answered with an error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The server's error code as an enum, if the server answered with an error.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code().map(ErrorCode::parse)
    }

    /// The HTTP status, if the server answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's message, if it answered with an error.
    pub fn message(&self) -> Option<&str> {
        match self {
            Self::Api { message, .. } => Some(message),
            _ => None,
        }
    }

    fn is(&self, code: ErrorCode) -> bool {
        self.error_code() == Some(code)
    }

    /// `not_found`.
    pub fn is_not_found(&self) -> bool {
        self.is(ErrorCode::NotFound)
    }

    /// `needs_reauth`: the user must connect again.
    pub fn is_needs_reauth(&self) -> bool {
        self.is(ErrorCode::NeedsReauth)
    }

    /// `revoked`: the connection was disconnected.
    pub fn is_revoked(&self) -> bool {
        self.is(ErrorCode::Revoked)
    }

    /// `provider_unavailable`: worth retrying later.
    pub fn is_provider_unavailable(&self) -> bool {
        self.is(ErrorCode::ProviderUnavailable)
    }

    /// `credentials_rejected`: the provider refused the API key or password.
    pub fn is_credentials_rejected(&self) -> bool {
        self.is(ErrorCode::CredentialsRejected)
    }

    /// `conflict`.
    pub fn is_conflict(&self) -> bool {
        self.is(ErrorCode::Conflict)
    }

    /// `unauthorized` or `forbidden`: the API key is wrong or lacks the scope.
    pub fn is_auth(&self) -> bool {
        self.is(ErrorCode::Unauthorized) || self.is(ErrorCode::Forbidden)
    }

    /// The server could not be reached.
    pub fn is_transport(&self) -> bool {
        matches!(self, Self::Transport { .. })
    }
}

/// An API key as listed.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ApiKey {
    /// Public id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `admin` or `app`.
    pub scope: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A created key with its one-time secret.
#[derive(Debug, Deserialize)]
pub struct CreatedApiKey {
    /// The stored key.
    #[serde(flatten)]
    pub info: ApiKey,
    /// The full key, shown once.
    pub key: SecretString,
}

/// An audit row.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuditRow {
    /// Position in the chain.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Extra facts.
    pub details: serde_json::Value,
    /// Previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// A page of a listing.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Page<T> {
    /// Items.
    pub data: Vec<T>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// Outcome of an audit verification.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuditVerification {
    /// Rows read.
    pub rows_checked: u64,
    /// Whether the chain is intact.
    pub ok: bool,
    /// First bad row.
    pub first_bad_seq: Option<i64>,
    /// What is wrong with it.
    pub problem: Option<serde_json::Value>,
}

/// What `POST /api/connect-sessions` asks for: one end user, the integrations they may
/// connect, and where the browser goes at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSessionRequest {
    /// The app's id of the end user.
    pub end_user_id: String,
    /// The integrations the user may connect.
    pub integrations: Vec<String>,
    /// The connection id to create (generated by the server when absent).
    pub connection_id: Option<String>,
    /// Where the browser goes at the end; its origin must be allowed.
    pub return_to: Option<String>,
    /// The opener window's origin for a `postMessage` result; it must be allowed.
    pub opener_origin: Option<String>,
}

impl ConnectSessionRequest {
    /// A session for `end_user_id` and `integrations`.
    pub fn new<I, S>(end_user_id: impl Into<String>, integrations: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            end_user_id: end_user_id.into(),
            integrations: integrations.into_iter().map(Into::into).collect(),
            connection_id: None,
            return_to: None,
            opener_origin: None,
        }
    }

    /// Fixes the connection id the session creates.
    pub fn connection_id(mut self, id: impl Into<String>) -> Self {
        self.connection_id = Some(id.into());
        self
    }

    /// Sets where the browser goes at the end.
    pub fn return_to(mut self, url: impl Into<String>) -> Self {
        self.return_to = Some(url.into());
        self
    }

    /// Sets the opener window's origin for a `postMessage` result.
    pub fn opener_origin(mut self, origin: impl Into<String>) -> Self {
        self.opener_origin = Some(origin.into());
        self
    }

    fn body(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "end_user": { "id": self.end_user_id },
            "integrations": self.integrations,
        });
        for (k, f) in [
            ("connection_id", &self.connection_id),
            ("return_to", &self.return_to),
            ("opener_origin", &self.opener_origin),
        ] {
            if let Some(x) = f {
                v[k] = serde_json::Value::String(x.clone());
            }
        }
        v
    }
}

/// A created connect session. The token lets one browser connect; it is short-lived.
#[derive(Debug, Deserialize)]
pub struct ConnectSession {
    /// The session token (`cs_…`).
    pub token: SecretString,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The Connect page for this session (carries the token: give it only to the user).
    pub connect_url: String,
}

/// A configured integration as listed.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Integration {
    /// Its id.
    pub id: String,
    /// Its provider.
    pub provider: String,
    /// Disabled as a whole.
    #[serde(default)]
    pub disabled: bool,
    /// Webhook intake blocked.
    #[serde(default)]
    pub webhooks_blocked: bool,
    /// Has webhook secrets configured.
    #[serde(default)]
    pub accepts_webhooks: bool,
}

/// Health of an integration (`GET /api/integrations/{i}/status`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IntegrationStatus {
    /// The integration.
    pub integration: String,
    /// Its provider.
    pub provider: String,
    /// How its connections authenticate (`oauth2`, `api_key`, `basic`,
    /// `client_credentials`).
    pub auth_mode: String,
    /// Whether it has what connecting accounts needs (a client id, or a key-based mode).
    pub configured: bool,
    /// Disabled as a whole.
    #[serde(default)]
    pub disabled: bool,
    /// Webhook intake blocked.
    #[serde(default)]
    pub webhooks_blocked: bool,
    /// Connections by status.
    #[serde(default)]
    pub connections: BTreeMap<String, u64>,
    /// The connection asked about with `?connection_id=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<Connection>,
}

/// The state of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionStatus {
    /// Usable.
    Active,
    /// The provider refused the grant: the user must connect again.
    NeedsReauth,
    /// Disconnected; the credentials are deleted.
    Revoked,
    /// A lasting error (see `last_error`).
    Error,
    /// A state this client does not know.
    #[serde(other)]
    Unknown,
}

impl ConnectionStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::NeedsReauth => "needs_reauth",
            Self::Revoked => "revoked",
            Self::Error => "error",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ConnectionStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(Self::Active),
            "needs_reauth" => Ok(Self::NeedsReauth),
            "revoked" => Ok(Self::Revoked),
            "error" => Ok(Self::Error),
            _ => Err(format!(
                "unknown status {s:?}: use active, needs_reauth, revoked or error"
            )),
        }
    }
}

/// A connection (never secrets).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Connection {
    /// The connection id.
    pub id: String,
    /// Its integration.
    pub integration: String,
    /// The provider.
    pub provider: String,
    /// The app's end-user id.
    pub end_user_id: String,
    /// `oauth2`, `api_key`, `basic` or `client_credentials`.
    #[serde(default)]
    pub auth_mode: String,
    /// Its state.
    pub status: ConnectionStatus,
    /// Granted scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Required scopes that were not granted.
    #[serde(default)]
    pub missing_scopes: Vec<String>,
    /// Connection settings (shop, instance URL…).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<DateTime<Utc>>,
    /// Last successful refresh.
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// Last error.
    pub last_error: Option<String>,
    /// When a credential health check last tried the credentials (none yet: `None`).
    #[serde(default)]
    pub health_checked_at: Option<DateTime<Utc>>,
    /// What it found: `ok`, `rejected`, `forbidden`, `unavailable` or `error`.
    #[serde(default)]
    pub health_result: Option<String>,
    /// The check's explanation.
    #[serde(default)]
    pub health_detail: Option<String>,
}

/// A connection after `POST /api/connections/{id}/refresh`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RefreshedConnection {
    /// The connection as it is now.
    #[serde(flatten)]
    pub connection: Connection,
    /// Whether this call refreshed (false when another caller just did).
    pub refreshed: bool,
}

/// What `POST /api/connections/{id}/check` found.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CheckedConnection {
    /// When the check ended.
    pub checked_at: DateTime<Utc>,
    /// `ok`, `rejected` (401 after a refresh: now `needs_reauth`), `forbidden` (403: still
    /// active), `unavailable` or `error`.
    pub result: String,
    /// The provider's status and message, or the error.
    #[serde(default)]
    pub detail: Option<String>,
    /// On `forbidden`: the scopes the check request needs that were not granted.
    #[serde(default)]
    pub missing_scopes: Vec<String>,
    /// The connection's status after the check.
    pub status: ConnectionStatus,
    /// The connection as it is now.
    pub connection: Connection,
}

impl CheckedConnection {
    /// Whether the provider accepted the credentials (`result` is `ok`).
    pub fn ok(&self) -> bool {
        self.result == "ok"
    }
}

/// Filters and page size of [`Client::list_connections`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionFilter {
    /// Only this integration.
    pub integration: Option<String>,
    /// Only this end user.
    pub end_user_id: Option<String>,
    /// Only this status.
    pub status: Option<ConnectionStatus>,
    /// Page size, 1 to 500 (server default 100).
    pub limit: Option<u32>,
}

impl ConnectionFilter {
    /// Only connections of `integration`.
    pub fn integration(mut self, integration: impl Into<String>) -> Self {
        self.integration = Some(integration.into());
        self
    }

    /// Only connections of `end_user_id`.
    pub fn end_user_id(mut self, end_user_id: impl Into<String>) -> Self {
        self.end_user_id = Some(end_user_id.into());
        self
    }

    /// Only connections in `status`.
    pub fn status(mut self, status: ConnectionStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Pages of `limit` connections.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    fn query(&self, cursor: Option<&str>) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(i) = &self.integration {
            q.push(("integration", i.clone()));
        }
        if let Some(u) = &self.end_user_id {
            q.push(("end_user_id", u.clone()));
        }
        if let Some(s) = self.status {
            q.push(("status", s.as_str().to_owned()));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        q
    }
}

/// Pages through every connection matching a filter; see [`Client::connection_pages`].
#[derive(Debug)]
pub struct ConnectionPages<'a> {
    client: &'a Client,
    filter: ConnectionFilter,
    cursor: Option<String>,
    done: bool,
}

impl ConnectionPages<'_> {
    /// The next page, or `None` after the last one.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Connection>>, ClientError> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .client
            .list_connections(&self.filter, self.cursor.as_deref())
            .await?;
        self.cursor = page.next_cursor;
        self.done = self.cursor.is_none();
        Ok(Some(page.data))
    }

    /// Every remaining connection, all pages read.
    pub async fn collect_all(mut self) -> Result<Vec<Connection>, ClientError> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }
}

/// A connection's credential as returned by `GET /api/connections/{id}/token`. Its
/// `Debug` never shows the secrets.
#[derive(Debug, Clone, Deserialize)]
pub struct ConnectionToken {
    /// The access token (OAuth2 and client-credentials connections).
    #[serde(default)]
    pub access_token: Option<SecretString>,
    /// `Bearer` unless the provider says otherwise.
    #[serde(default)]
    pub token_type: Option<String>,
    /// When the access token expires.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Granted scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The API key (API-key connections).
    #[serde(default)]
    pub api_key: Option<SecretString>,
    /// User name (basic-auth connections).
    #[serde(default)]
    pub username: Option<String>,
    /// Password (basic-auth connections).
    #[serde(default)]
    pub password: Option<SecretString>,
}

/// The kind of credential a [`ConnectionToken`] holds, borrowed from it.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// An OAuth access token: send `Authorization: {token_type} {access_token}`.
    Bearer {
        /// The access token.
        access_token: &'a SecretString,
        /// Its type (`Bearer`).
        token_type: &'a str,
    },
    /// An API key, sent as the provider's documentation says.
    ApiKey(&'a SecretString),
    /// HTTP Basic credentials.
    Basic {
        /// The user name, if the connection has one.
        username: Option<&'a str>,
        /// The password, if the connection has one.
        password: Option<&'a SecretString>,
    },
    /// No credential (an unexpected answer).
    None,
}

impl ConnectionToken {
    /// Which credential this is.
    pub fn credential(&self) -> Credential<'_> {
        if let Some(t) = &self.access_token {
            Credential::Bearer {
                access_token: t,
                token_type: self.token_type.as_deref().unwrap_or("Bearer"),
            }
        } else if let Some(k) = &self.api_key {
            Credential::ApiKey(k)
        } else if self.username.is_some() || self.password.is_some() {
            Credential::Basic {
                username: self.username.as_deref(),
                password: self.password.as_ref(),
            }
        } else {
            Credential::None
        }
    }
}

/// What a disconnect did.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Disconnected {
    /// The credentials were deleted.
    pub deleted: bool,
    /// The provider confirmed the revocation.
    pub revoked_at_provider: bool,
    /// Why the provider did not confirm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_error: Option<String>,
}

/// Credentials for [`Client::connect_direct`]. Its `Debug` never shows the secrets.
#[derive(Debug, Clone)]
pub enum DirectCredentials {
    /// An API key.
    ApiKey(SecretString),
    /// HTTP Basic credentials (the user name may be fixed by the provider).
    Basic {
        /// The user name.
        username: Option<String>,
        /// The password.
        password: SecretString,
    },
    /// A service account's own key (`jwt_bearer` integrations), signing this
    /// connection's assertions instead of the integration's key.
    PrivateKey {
        /// An RSA PEM, or Google's service-account key file (JSON) as downloaded.
        private_key: SecretString,
        /// The issuer, where the key file does not name it.
        client_id: Option<String>,
        /// The key id (`kid`), where the key file does not name it.
        private_key_id: Option<String>,
    },
}

/// `POST /api/connections`: a connection made without a browser redirect (API key,
/// basic auth, client credentials, a service account or a GitHub App installation).
#[derive(Debug, Clone)]
pub struct DirectConnect {
    /// The integration.
    pub integration: String,
    /// The app's end-user id (the server uses `app` for client credentials when absent).
    pub end_user_id: Option<String>,
    /// The connection id (generated when absent).
    pub connection_id: Option<String>,
    /// The credentials (none for client credentials).
    pub credentials: Option<DirectCredentials>,
    /// The provider's connection settings (subdomain…).
    pub settings: BTreeMap<String, String>,
}

impl DirectConnect {
    /// A direct connection to `integration`, with nothing else set.
    pub fn new(integration: impl Into<String>) -> Self {
        Self {
            integration: integration.into(),
            end_user_id: None,
            connection_id: None,
            credentials: None,
            settings: BTreeMap::new(),
        }
    }

    /// Sets the end user.
    pub fn end_user_id(mut self, id: impl Into<String>) -> Self {
        self.end_user_id = Some(id.into());
        self
    }

    /// Sets the connection id.
    pub fn connection_id(mut self, id: impl Into<String>) -> Self {
        self.connection_id = Some(id.into());
        self
    }

    /// Sets the credentials.
    pub fn credentials(mut self, c: DirectCredentials) -> Self {
        self.credentials = Some(c);
        self
    }

    /// Adds a connection setting.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.insert(name.into(), value.into());
        self
    }

    fn body(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "integration": self.integration });
        if let Some(u) = &self.end_user_id {
            v["end_user_id"] = u.clone().into();
        }
        if let Some(c) = &self.connection_id {
            v["connection_id"] = c.clone().into();
        }
        if !self.settings.is_empty() {
            v["settings"] = serde_json::json!(self.settings);
        }
        match &self.credentials {
            None => {}
            Some(DirectCredentials::ApiKey(k)) => {
                v["credentials"] = serde_json::json!({ "api_key": k.expose_secret() });
            }
            Some(DirectCredentials::Basic { username, password }) => {
                let mut c = serde_json::json!({ "password": password.expose_secret() });
                if let Some(u) = username {
                    c["username"] = u.clone().into();
                }
                v["credentials"] = c;
            }
            Some(DirectCredentials::PrivateKey {
                private_key,
                client_id,
                private_key_id,
            }) => {
                let mut c = serde_json::json!({ "private_key": private_key.expose_secret() });
                if let Some(i) = client_id {
                    c["client_id"] = i.clone().into();
                }
                if let Some(k) = private_key_id {
                    c["private_key_id"] = k.clone().into();
                }
                v["credentials"] = c;
            }
        }
        v
    }
}

/// One check of an OAuth set-up test.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OAuthCheck {
    /// What was checked.
    pub check: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

/// The result of [`Client::oauth_test`].
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OAuthTestReport {
    /// The integration.
    pub integration: String,
    /// Whether every check passed.
    pub ok: bool,
    /// Each check, in order.
    pub checks: Vec<OAuthCheck>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// Turns a server answer into the expected value or a typed error.
fn decode<T: DeserializeOwned>(status: u16, bytes: &[u8]) -> Result<T, ClientError> {
    if !(200..300).contains(&status) {
        return Err(match serde_json::from_slice::<ErrorBody>(bytes) {
            Ok(b) => ClientError::Api {
                status,
                code: b.error.code,
                message: b.error.message,
            },
            Err(_) => ClientError::Api {
                status,
                code: "unknown".into(),
                message: String::from_utf8_lossy(bytes).chars().take(200).collect(),
            },
        });
    }
    serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(e.to_string()))
}

/// A Switchboard API client.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    key: SecretString,
    http: reqwest::Client,
}

impl Client {
    /// A client for the server at `base_url`, authenticating with `api_key`.
    pub fn new(base_url: &str, api_key: SecretString) -> Result<Self, ClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadUrl(base_url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchboard-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport {
                url: base.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            base,
            key: api_key,
            http,
        })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let res = req
            .bearer_auth(self.key.expose_secret())
            .send()
            .await
            .map_err(|e| ClientError::Transport {
                url: self.base.clone(),
                reason: e.without_url().to_string(),
            })?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| ClientError::Transport {
            url: self.base.clone(),
            reason: e.without_url().to_string(),
        })?;
        decode(status.as_u16(), &bytes)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `base` + `/api` + each of `segments`, percent-encoded as one path segment each.
    fn api(&self, segments: &[&str]) -> Result<reqwest::Url, ClientError> {
        let mut url = reqwest::Url::parse(&self.url("/api"))
            .map_err(|_| ClientError::BadUrl(self.base.clone()))?;
        url.path_segments_mut()
            .map_err(|()| ClientError::BadUrl(self.base.clone()))?
            .extend(segments);
        Ok(url)
    }

    /// Lists API keys (admin).
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>, ClientError> {
        let page: Page<ApiKey> = self.send(self.http.get(self.url("/api/api-keys"))).await?;
        Ok(page.data)
    }

    /// Creates an API key (admin).
    pub async fn create_api_key(
        &self,
        name: &str,
        scope: &str,
    ) -> Result<CreatedApiKey, ClientError> {
        self.send(
            self.http
                .post(self.url("/api/api-keys"))
                .json(&serde_json::json!({ "name": name, "scope": scope })),
        )
        .await
    }

    /// Revokes an API key (admin).
    pub async fn revoke_api_key(&self, id: &str) -> Result<ApiKey, ClientError> {
        // The URL crate percent-encodes the id as one path segment.
        self.send(self.http.post(self.api(&["api-keys", id, "revoke"])?))
            .await
    }

    /// A page of the audit log, newest first (admin).
    pub async fn audit(
        &self,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<AuditRow>, ClientError> {
        let mut q = vec![("limit", limit.to_string())];
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        self.send(self.http.get(self.url("/api/audit")).query(&q))
            .await
    }

    /// Verifies the audit chain on the server (admin).
    pub async fn verify_audit(&self) -> Result<AuditVerification, ClientError> {
        self.send(self.http.get(self.url("/api/audit/verify")))
            .await
    }

    /// Creates a connect session: a short-lived token letting one end user connect the
    /// listed integrations in their browser (`connect_url`).
    ///
    /// ```no_run
    /// # async fn demo(sb: client::Client) -> Result<(), client::ClientError> {
    /// let s = sb
    ///     .create_connect_session(&client::ConnectSessionRequest::new("u42", ["github-main"]))
    ///     .await?;
    /// println!("{} (until {})", s.connect_url, s.expires_at);
    /// # Ok(()) }
    /// ```
    pub async fn create_connect_session(
        &self,
        req: &ConnectSessionRequest,
    ) -> Result<ConnectSession, ClientError> {
        self.send(
            self.http
                .post(self.url("/api/connect-sessions"))
                .json(&req.body()),
        )
        .await
    }

    /// The configured integrations.
    pub async fn list_integrations(&self) -> Result<Vec<Integration>, ClientError> {
        let page: Page<Integration> = self
            .send(self.http.get(self.url("/api/integrations")))
            .await?;
        Ok(page.data)
    }

    /// Health of an integration, or of one of its connections with `connection_id`.
    pub async fn integration_status(
        &self,
        integration: &str,
        connection_id: Option<&str>,
    ) -> Result<IntegrationStatus, ClientError> {
        let mut req = self
            .http
            .get(self.api(&["integrations", integration, "status"])?);
        if let Some(c) = connection_id {
            req = req.query(&[("connection_id", c)]);
        }
        self.send(req).await
    }

    /// One page of connections matching `filter`, after `cursor` (a previous page's
    /// `next_cursor`). See [`Client::connection_pages`] to read them all.
    pub async fn list_connections(
        &self,
        filter: &ConnectionFilter,
        cursor: Option<&str>,
    ) -> Result<Page<Connection>, ClientError> {
        self.send(
            self.http
                .get(self.url("/api/connections"))
                .query(&filter.query(cursor)),
        )
        .await
    }

    /// Pages through every connection matching `filter`.
    ///
    /// ```no_run
    /// use client::{ConnectionFilter, ConnectionStatus};
    /// # async fn demo(sb: client::Client) -> Result<(), client::ClientError> {
    /// let filter = ConnectionFilter::default()
    ///     .integration("github-main")
    ///     .status(ConnectionStatus::NeedsReauth);
    /// let mut pages = sb.connection_pages(filter);
    /// while let Some(page) = pages.next_page().await? {
    ///     for c in page {
    ///         println!("{} {}", c.id, c.end_user_id);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn connection_pages(&self, filter: ConnectionFilter) -> ConnectionPages<'_> {
        ConnectionPages {
            client: self,
            filter,
            cursor: None,
            done: false,
        }
    }

    /// Every connection matching `filter`, all pages read.
    pub async fn list_all_connections(
        &self,
        filter: ConnectionFilter,
    ) -> Result<Vec<Connection>, ClientError> {
        self.connection_pages(filter).collect_all().await
    }

    /// One connection (never secrets).
    pub async fn get_connection(&self, id: &str) -> Result<Connection, ClientError> {
        self.send(self.http.get(self.api(&["connections", id])?))
            .await
    }

    /// A valid credential of a connection: the access token (refreshed first by the
    /// server if it is about to expire), or the API key / basic credentials.
    pub async fn connection_token(&self, id: &str) -> Result<ConnectionToken, ClientError> {
        self.send(self.http.get(self.api(&["connections", id, "token"])?))
            .await
    }

    /// Refreshes a connection's token now, whatever its expiry.
    pub async fn refresh_connection(&self, id: &str) -> Result<RefreshedConnection, ClientError> {
        self.send(self.http.post(self.api(&["connections", id, "refresh"])?))
            .await
    }

    /// Checks a connection's credentials at the provider now (the background health
    /// check's request and rules) and keeps the result on it. A connection that is not
    /// active, or whose provider has nothing to check with, is a 409.
    pub async fn check_connection(&self, id: &str) -> Result<CheckedConnection, ClientError> {
        self.send(self.http.post(self.api(&["connections", id, "check"])?))
            .await
    }

    /// Disconnects: revokes at the provider, then deletes the credentials (also when the
    /// provider's revocation failed; the answer says so).
    pub async fn disconnect(
        &self,
        integration: &str,
        connection_id: &str,
    ) -> Result<Disconnected, ClientError> {
        self.send(
            self.http
                .post(self.api(&["integrations", integration, "disconnect"])?)
                .json(&serde_json::json!({ "connection_id": connection_id })),
        )
        .await
    }

    /// Connects without a browser redirect: an API key or basic credentials (checked by
    /// the provider), or a client-credentials token.
    ///
    /// ```no_run
    /// use client::{DirectConnect, DirectCredentials};
    /// # async fn demo(sb: client::Client) -> Result<(), client::ClientError> {
    /// let c = sb
    ///     .connect_direct(
    ///         &DirectConnect::new("stripe-main")
    ///             .end_user_id("u42")
    ///             .credentials(DirectCredentials::ApiKey("sk_test_…".to_owned().into())),
    ///     )
    ///     .await?;
    /// println!("{} is {}", c.id, c.status);
    /// # Ok(()) }
    /// ```
    pub async fn connect_direct(&self, req: &DirectConnect) -> Result<Connection, ClientError> {
        self.send(
            self.http
                .post(self.url("/api/connections"))
                .json(&req.body()),
        )
        .await
    }

    /// Checks an integration's OAuth set-up on the server: endpoints and client
    /// credentials (admin).
    pub async fn oauth_test(&self, integration: &str) -> Result<OAuthTestReport, ClientError> {
        self.send(
            self.http
                .post(self.api(&["integrations", integration, "oauth-test"])?),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_decode_to_matchable_codes() {
        let body = br#"{"error":{"code":"needs_reauth","message":"connect again"}}"#;
        let e = decode::<serde_json::Value>(409, body).unwrap_err();
        match &e {
            ClientError::Api {
                status: 409,
                code,
                message,
            } => {
                assert_eq!(code, "needs_reauth");
                assert_eq!(message, "connect again");
            }
            other => panic!("{other:?}"),
        }
        assert!(e.is_needs_reauth());
        assert!(!e.is_revoked() && !e.is_not_found() && !e.is_transport());
        assert_eq!(e.error_code(), Some(ErrorCode::NeedsReauth));
        assert_eq!(e.status(), Some(409));
        assert_eq!(e.message(), Some("connect again"));
        assert_eq!(e.to_string(), "409 needs_reauth: connect again");

        for (code, check) in [
            (
                "not_found",
                ClientError::is_not_found as fn(&ClientError) -> bool,
            ),
            ("revoked", ClientError::is_revoked),
            ("provider_unavailable", ClientError::is_provider_unavailable),
            ("credentials_rejected", ClientError::is_credentials_rejected),
            ("conflict", ClientError::is_conflict),
            ("unauthorized", ClientError::is_auth),
            ("forbidden", ClientError::is_auth),
        ] {
            let body = format!(r#"{{"error":{{"code":"{code}","message":"m"}}}}"#);
            let e = decode::<serde_json::Value>(400, body.as_bytes()).unwrap_err();
            assert!(check(&e), "{code}");
            assert_eq!(e.error_code().unwrap().as_str(), code);
        }
        let e = decode::<serde_json::Value>(
            503,
            br#"{"error":{"code":"key_unavailable","message":"m"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.error_code(), Some(ErrorCode::KeyUnavailable));
        assert_eq!(ErrorCode::KeyUnavailable.as_str(), "key_unavailable");
    }

    #[test]
    fn unknown_codes_and_non_json_errors_are_kept() {
        let e = decode::<serde_json::Value>(
            418,
            br#"{"error":{"code":"teapot","message":"short and stout"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.code(), Some("teapot"));
        assert_eq!(e.error_code(), Some(ErrorCode::Other));

        let html = "<html>bad gateway</html>".repeat(20);
        let e = decode::<serde_json::Value>(502, html.as_bytes()).unwrap_err();
        match e {
            ClientError::Api {
                status,
                code,
                message,
            } => {
                assert_eq!((status, code.as_str()), (502, "unknown"));
                assert!(message.starts_with("<html>bad gateway"));
                assert_eq!(message.chars().count(), 200, "truncated");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn success_bodies_decode_or_say_why_not() {
        let ok: Disconnected = decode(
            200,
            br#"{"deleted":true,"revoked_at_provider":false,"provider_error":"HTTP 503"}"#,
        )
        .unwrap();
        assert_eq!(ok.provider_error.as_deref(), Some("HTTP 503"));
        let e = decode::<Disconnected>(200, b"not json").unwrap_err();
        assert!(matches!(e, ClientError::Decode(_)));
        assert_eq!(e.error_code(), None);
        assert!(e.to_string().contains("same version"));
    }

    #[test]
    fn transport_errors_have_no_code() {
        let e = ClientError::Transport {
            url: "http://127.0.0.1:9".into(),
            reason: "connection refused".into(),
        };
        assert!(e.is_transport());
        assert_eq!((e.code(), e.status()), (None, None));
        assert!(e.to_string().contains("SWITCHBOARD_URL"));
    }

    #[test]
    fn connections_decode_from_the_server_shape() {
        let v = serde_json::json!({
            "id": "c1", "integration": "acme", "provider": "acme", "end_user_id": "u1",
            "auth_mode": "oauth2", "status": "needs_reauth", "scopes": ["openid"],
            "missing_scopes": [], "settings": {}, "expires_at": "2026-01-01T00:00:00.000Z",
            "created_at": "2025-12-01T00:00:00.000Z", "updated_at": "2025-12-01T00:00:00.000Z",
            "last_refresh_at": null, "last_error": "invalid_grant", "refreshed": true,
            "future_field": 1
        });
        let r: RefreshedConnection = serde_json::from_value(v.clone()).unwrap();
        assert!(r.refreshed);
        assert_eq!(r.connection.status, ConnectionStatus::NeedsReauth);
        assert!(r.connection.expires_at.is_some());
        let mut odd = v;
        odd["status"] = "paused".into();
        let c: Connection = serde_json::from_value(odd).unwrap();
        assert_eq!(c.status, ConnectionStatus::Unknown);
        assert_eq!(
            "needs_reauth".parse::<ConnectionStatus>(),
            Ok(ConnectionStatus::NeedsReauth)
        );
        assert!("nope".parse::<ConnectionStatus>().is_err());
    }

    #[test]
    fn a_check_decodes_from_the_server_shape() {
        let v = serde_json::json!({
            "checked_at": "2026-01-01T00:00:00.000Z", "result": "forbidden",
            "detail": "HTTP 403 (missing scopes: openid): no", "missing_scopes": ["openid"],
            "status": "active",
            "connection": {
                "id": "c1", "integration": "acme", "provider": "acme", "end_user_id": "u1",
                "auth_mode": "oauth2", "status": "active", "scopes": ["api:read"],
                "missing_scopes": [], "settings": {}, "expires_at": null,
                "created_at": "2025-12-01T00:00:00.000Z", "updated_at": "2025-12-01T00:00:00.000Z",
                "last_refresh_at": null, "last_error": null,
                "health_checked_at": "2026-01-01T00:00:00.000Z", "health_result": "forbidden"
            }
        });
        let r: CheckedConnection = serde_json::from_value(v).unwrap();
        assert!(!r.ok());
        assert_eq!(r.status, ConnectionStatus::Active);
        assert_eq!(r.missing_scopes, vec!["openid".to_owned()]);
        assert_eq!(r.connection.health_result.as_deref(), Some("forbidden"));
    }

    #[test]
    fn tokens_are_typed_and_their_debug_hides_secrets() {
        let t: ConnectionToken = serde_json::from_str(
            r#"{"access_token":"at-SECRET-1","token_type":"Bearer","expires_at":"2026-01-01T00:00:00.000Z","scopes":["a"]}"#,
        )
        .unwrap();
        match t.credential() {
            Credential::Bearer {
                access_token,
                token_type,
            } => {
                assert_eq!(access_token.expose_secret(), "at-SECRET-1");
                assert_eq!(token_type, "Bearer");
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{t:?}").contains("SECRET"), "{t:?}");

        let k: ConnectionToken =
            serde_json::from_str(r#"{"api_key":"key-SECRET-2","expires_at":null,"scopes":[]}"#)
                .unwrap();
        assert!(
            matches!(k.credential(), Credential::ApiKey(s) if s.expose_secret() == "key-SECRET-2")
        );
        assert!(!format!("{k:?}").contains("SECRET"));

        let b: ConnectionToken = serde_json::from_str(
            r#"{"username":"bob","password":"pw-SECRET-3","expires_at":null,"scopes":[]}"#,
        )
        .unwrap();
        assert!(matches!(
            b.credential(),
            Credential::Basic { username: Some("bob"), password: Some(p) } if p.expose_secret() == "pw-SECRET-3"
        ));
        assert!(!format!("{b:?} {:?}", b.credential()).contains("SECRET"));
    }

    #[test]
    fn request_bodies_match_the_contract() {
        let s = ConnectSessionRequest::new("u42", ["github-main"])
            .connection_id("acct-42")
            .return_to("https://app.example/done");
        assert_eq!(
            s.body(),
            serde_json::json!({
                "end_user": {"id": "u42"}, "integrations": ["github-main"],
                "connection_id": "acct-42", "return_to": "https://app.example/done"
            })
        );
        let d = DirectConnect::new("basic-it")
            .end_user_id("u1")
            .setting("subdomain", "acme")
            .credentials(DirectCredentials::Basic {
                username: Some("bob".into()),
                password: "pw-SECRET".to_owned().into(),
            });
        assert!(!format!("{d:?}").contains("pw-SECRET"));
        assert_eq!(
            d.body(),
            serde_json::json!({
                "integration": "basic-it", "end_user_id": "u1",
                "settings": {"subdomain": "acme"},
                "credentials": {"username": "bob", "password": "pw-SECRET"}
            })
        );
        let k = DirectConnect::new("sa-byo").credentials(DirectCredentials::PrivateKey {
            private_key: "-----BEGIN PRIVATE KEY-----\nKEY-SECRET".to_owned().into(),
            client_id: Some("robot@x.example".into()),
            private_key_id: None,
        });
        assert!(!format!("{k:?}").contains("KEY-SECRET"));
        assert_eq!(
            k.body(),
            serde_json::json!({
                "integration": "sa-byo",
                "credentials": {"private_key": "-----BEGIN PRIVATE KEY-----\nKEY-SECRET", "client_id": "robot@x.example"}
            })
        );
        let f = ConnectionFilter::default()
            .integration("acme")
            .status(ConnectionStatus::Active)
            .limit(2);
        assert_eq!(
            f.query(Some("c9")),
            vec![
                ("integration", "acme".to_owned()),
                ("status", "active".to_owned()),
                ("limit", "2".to_owned()),
                ("cursor", "c9".to_owned()),
            ]
        );
    }

    #[test]
    fn api_paths_encode_ids_as_one_segment() {
        let c = Client::new("http://127.0.0.1:8080/", "sb_x".to_owned().into()).unwrap();
        assert_eq!(
            c.api(&["connections", "a/b?c", "token"]).unwrap().as_str(),
            "http://127.0.0.1:8080/api/connections/a%2Fb%3Fc/token"
        );
        assert!(!format!("{c:?}").contains("sb_x"));
    }
}
