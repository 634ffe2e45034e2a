//! A client for Switchboard's HTTP API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), client::ClientError> {
//! let sb = client::Client::new("http://127.0.0.1:8080", "sb_…".to_owned().into())?;
//! for key in sb.list_api_keys().await? {
//!     println!("{} {} {}", key.id, key.name, key.scope);
//! }
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
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
        /// The error's stable code.
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

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
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
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(b) => ClientError::Api {
                    status: status.as_u16(),
                    code: b.error.code,
                    message: b.error.message,
                },
                Err(_) => ClientError::Api {
                    status: status.as_u16(),
                    code: "unknown".into(),
                    message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
                },
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
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
        let mut url = reqwest::Url::parse(&self.url("/api/api-keys"))
            .map_err(|_| ClientError::BadUrl(self.base.clone()))?;
        url.path_segments_mut()
            .map_err(|()| ClientError::BadUrl(self.base.clone()))?
            .push(id)
            .push("revoke");
        self.send(self.http.post(url)).await
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
}
