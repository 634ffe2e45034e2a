//! Connections: connect sessions, the OAuth2 authorization-code flow with PKCE, state
//! and nonce, tokens with a fenced single-flight refresh, disconnect, and the other auth
//! modes (API key, basic, client credentials).
//!
//! Invariants:
//! - Credentials exist only sealed in the store and, briefly, in zeroize-on-drop
//!   [`credentials::Credentials`] values; no log line, error or audit row holds them.
//! - A state is single use: the callback removes it before anything else happens.
//! - Only the holder of the refresh lease writes refreshed tokens, and only while its
//!   fence is current (see `store::connections`).

pub(crate) mod credentials;
mod flow;
pub(crate) mod manage;
pub(crate) mod protocol;
pub(crate) mod tokens;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::{Connection, ConnectionStatus};

pub use flow::{
    AuthorizationStart, CallbackOutcome, CallbackParams, ConnectSessionRequest,
    CreatedConnectSession, Delivery,
};
pub use manage::{
    ConnectOption, ConnectPage, ConnectionPage, CredentialsInput, DirectConnectRequest,
    Disconnected, IntegrationHealth, OAuthCheck, RevokeAllProgress,
};
pub use tokens::{RefreshOutcome, TokenView};

pub(crate) use tokens::RefreshLocks;

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
    /// `oauth2`, `api_key`, `basic` or `client_credentials`.
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
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last successful refresh.
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// Last error, if any.
    pub last_error: Option<String>,
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
            created_at: c.created_at,
            updated_at: c.updated_at,
            last_refresh_at: c.last_refresh_at,
            last_error: c.last_error,
        }
    }
}

/// Whether `id` is acceptable as an app-chosen connection id: 1 to 128 of
/// `A-Z a-z 0-9 . _ : -`, starting with a letter or digit.
pub fn is_connection_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Whether `id` is acceptable as an end-user id: 1 to 256 printable characters.
pub fn is_end_user_id(id: &str) -> bool {
    (1..=256).contains(&id.chars().count()) && !id.chars().any(char::is_control)
}

/// A new connection id: `conn_` + 32 hex (UUID v7, so ids sort by creation).
pub(crate) fn new_connection_id() -> String {
    format!("conn_{}", uuid::Uuid::now_v7().simple())
}

/// 32 random bytes, base64url without padding (256 bits: states, session tokens, PKCE
/// verifiers, nonces).
pub(crate) fn random_token() -> crate::EngineResult<String> {
    use base64::Engine as _;
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|_| crate::EngineError::Vault(vault::VaultError::Random))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// SHA-256 of a token, as stored.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).to_vec()
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
    random_token().unwrap_or_else(|_| uuid::Uuid::new_v4().simple().to_string())
}
