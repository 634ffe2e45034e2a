//! Connections: connect sessions, the OAuth2 authorization-code flow with PKCE, state
//! and nonce, tokens with a fenced single-flight refresh, disconnect, and the other auth
//! modes (API key, basic, client credentials, and the signed grants with the
//! integration's key or, for `jwt_bearer`, a connection's own).
//!
//! Invariants:
//! - Credentials (and a connection's own signing key) exist only sealed in the store
//!   and, briefly, in zeroize-on-drop [`credentials::Credentials`] (and
//!   [`signing_key::ConnectionKey`]) values; no log line, error or audit row holds them.
//! - A state is single use: the callback removes it before anything else happens.
//! - Only the holder of the refresh lease writes refreshed tokens, and only while its
//!   fence is current (see `store::connections`).

pub(crate) mod app_auth;
pub(crate) mod app_install;
pub(crate) mod consent;
pub(crate) mod context;
pub(crate) mod credentials;
mod flow;
pub(crate) mod health;
pub(crate) mod manage;
pub(crate) mod protocol;
mod sessions;
pub(crate) mod signing_key;
pub(crate) mod tokens;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::{Connection, ConnectionStatus};

pub use flow::{AuthorizationStart, CallbackParams};
pub use health::HealthReport;
pub use manage::{
    ConnectionPage, CredentialsInput, DirectConnectRequest, Disconnected, IntegrationHealth,
    IntegrationOverview, OAuthCheck, RevokeAllProgress,
};
pub use sessions::{
    CallbackOutcome, ConnectOption, ConnectPage, ConnectSessionRequest, CreatedConnectSession,
    Delivery, ExistingConnection, ScopeView, SubjectInput, Via,
};
pub use tokens::{RefreshOutcome, TokenView};

pub(crate) use tokens::RefreshLocks;
pub(crate) use tokens::renews;

/// A connection as the API shows it: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionView {
    /// The connection id.
    pub id: String,
    /// Its integration.
    pub integration: String,
    /// The integration's provider.
    pub provider: String,
    /// The app's end-user id.
    pub end_user_id: String,
    /// `oauth2`, `api_key`, `basic`, `client_credentials`, `github_app` or `jwt_bearer`.
    pub auth_mode: String,
    /// `active`, `needs_reauth`, `revoked` or `error`.
    pub status: ConnectionStatus,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Required scopes that were not granted.
    pub missing_scopes: Vec<String>,
    /// Non-secret connection settings (shop, instance URL…).
    pub settings: BTreeMap<String, String>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the current access token was obtained, if it expires.
    pub token_obtained_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last successful refresh.
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// Last error, if any.
    pub last_error: Option<String>,
    /// When the credentials were last tried at the provider by a health check
    /// (`health_check_interval_secs`), if ever since they were stored.
    pub health_checked_at: Option<DateTime<Utc>>,
    /// What that check found: `ok`, `rejected` (the connection was marked
    /// `needs_reauth`), `unavailable` (an outage; nothing changed) or `error`.
    pub health_result: Option<String>,
    /// The check's explanation (the provider's status or the error), never a secret.
    pub health_detail: Option<String>,
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        Self {
            id: c.id,
            integration: c.integration,
            provider: c.provider,
            end_user_id: c.end_user_id,
            auth_mode: c.auth_mode,
            status: c.status,
            scopes: c.scopes,
            missing_scopes: c.missing_scopes,
            settings: c.settings,
            expires_at: c.expires_at,
            token_obtained_at: c.token_obtained_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
            last_refresh_at: c.last_refresh_at,
            last_error: c.last_error,
            health_checked_at: c.health.as_ref().map(|h| h.checked_at),
            health_result: c.health.as_ref().map(|h| h.result.as_str().to_owned()),
            health_detail: c.health.and_then(|h| h.detail),
        }
    }
}

/// The error of a request field that does not hold what it must.
pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> crate::EngineError {
    crate::EngineError::Invalid {
        field,
        message: message.into(),
    }
}

/// Deserializes a nested struct of a request body only from a JSON object: serde's
/// derived code would also fill it from an array by position.
pub(crate) fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::Deserialize as _;
    use serde::de::Error as _;
    let v = serde_json::Value::deserialize(d)?;
    if !v.is_object() {
        return Err(D::Error::custom("must be a JSON object"));
    }
    serde_json::from_value(v).map_err(D::Error::custom)
}

/// [`object`] for an optional field.
pub(crate) fn object_opt<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    object(d).map(Some)
}

/// A fresh nonce for a page's Content-Security-Policy.
pub fn page_nonce() -> String {
    crate::ids::random_token().unwrap_or_else(|_| uuid::Uuid::new_v4().simple().to_string())
}
