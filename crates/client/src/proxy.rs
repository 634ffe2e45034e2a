//! Calling a provider's API through Switchboard's proxy
//! (`ANY /api/proxy/{connection_id}/{*path}`): the connection's credentials are added by
//! the server, 401s refresh once, 429/5xx are retried as the server is configured, and
//! the provider's answer streams back.
//!
//! ```no_run
//! use client::{Client, Method};
//!
//! # async fn demo() -> Result<(), client::ClientError> {
//! let sb = Client::new("http://127.0.0.1:8080", "sb_…".to_owned().into())?;
//! let mut res = sb
//!     .proxy("acct-42-github", Method::GET, "/user/repos")
//!     .query(&[("per_page", "100")])
//!     .header("accept", "application/vnd.github+json")
//!     .send()
//!     .await?;
//! println!(
//!     "GitHub said {} after {:?} attempt(s)",
//!     res.status(),
//!     res.attempts()
//! );
//! // Stream the body chunk by chunk (a large download never sits in memory)…
//! while let Some(chunk) = res.chunk().await? {
//!     let _ = chunk.len();
//! }
//!
//! // …or read JSON, treating the provider's own 4xx/5xx as an error.
//! let me: serde_json::Value = sb
//!     .proxy("acct-42-github", Method::GET, "user")
//!     .send()
//!     .await?
//!     .error_for_status()
//!     .await?
//!     .json()
//!     .await?;
//! # let _ = me;
//! # Ok(()) }
//! ```

use std::time::Duration;

use secrecy::ExposeSecret;

use crate::{Client, ClientError, decode};

/// Re-exported HTTP method type for [`Client::proxy`].
pub use reqwest::Method;

/// How long one proxied call may take by default (the client's usual 60 s would cut long
/// downloads); change it with [`ProxyRequestBuilder::timeout`].
pub const PROXY_TIMEOUT: Duration = Duration::from_secs(3600);

/// A request to a provider through the proxy; see [`Client::proxy`].
#[derive(Debug)]
pub struct ProxyRequestBuilder {
    base: String,
    req: Result<reqwest::RequestBuilder, ClientError>,
}

impl ProxyRequestBuilder {
    fn map(mut self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        self.req = self.req.map(f);
        self
    }

    /// Adds query parameters (passed on to the provider).
    pub fn query<T: serde::Serialize + ?Sized>(self, query: &T) -> Self {
        self.map(|r| r.query(query))
    }

    /// Adds a header (passed on to the provider; `Authorization` and cookies are not).
    pub fn header(self, name: &str, value: &str) -> Self {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.map(move |r| r.header(name, value))
    }

    /// Sets `Idempotency-Key`, which also lets Switchboard retry a POST or PATCH.
    pub fn idempotency_key(self, key: &str) -> Self {
        self.header("idempotency-key", key)
    }

    /// A JSON body.
    pub fn json<T: serde::Serialize + ?Sized>(self, body: &T) -> Self {
        let body = serde_json::to_vec(body);
        match body {
            Ok(b) => self.map(|r| r.header("content-type", "application/json").body(b)),
            Err(e) => Self {
                base: self.base,
                req: Err(ClientError::Decode(format!(
                    "cannot encode the JSON body: {e}"
                ))),
            },
        }
    }

    /// A body: bytes, a string, or a stream (`reqwest::Body::wrap_stream`) for uploads
    /// that should not sit in memory.
    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        self.map(|r| r.body(body))
    }

    /// The longest the whole call may take (default [`PROXY_TIMEOUT`]).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|r| r.timeout(timeout))
    }

    /// Sends the request. `Ok` is the provider's answer, whatever its status (see
    /// [`ProxyResponse::error_for_status`]); `Err` is Switchboard's own refusal (unknown
    /// or revoked connection, over the rate limit, provider unreachable…) or a transport
    /// failure.
    pub async fn send(self) -> Result<ProxyResponse, ClientError> {
        let res = self.req?.send().await.map_err(|e| ClientError::Transport {
            url: self.base.clone(),
            reason: e.without_url().to_string(),
        })?;
        if res.headers().contains_key("switchboard-upstream-status") {
            return Ok(ProxyResponse { inner: res });
        }
        // Switchboard answered itself: a JSON error (or, unexpectedly, a success without
        // the proxy's headers).
        let status = res.status().as_u16();
        let retry_after = header_u64(res.headers(), "retry-after");
        let bytes = res.bytes().await.map_err(|e| ClientError::Transport {
            url: self.base.clone(),
            reason: e.without_url().to_string(),
        })?;
        match decode::<serde_json::Value>(status, &bytes) {
            Err(ClientError::Api {
                status,
                code,
                mut message,
            }) => {
                if let Some(s) = retry_after {
                    message = format!("{message} (Retry-After: {s} s)");
                }
                Err(ClientError::Api {
                    status,
                    code,
                    message,
                })
            }
            Err(e) => Err(e),
            Ok(_) => Err(ClientError::Decode(
                "the proxy answered without Switchboard-Upstream-Status".into(),
            )),
        }
    }
}

fn header_u64(h: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The provider's answer through the proxy; the body streams.
#[derive(Debug)]
pub struct ProxyResponse {
    inner: reqwest::Response,
}

impl ProxyResponse {
    /// The provider's HTTP status.
    pub fn status(&self) -> u16 {
        self.inner.status().as_u16()
    }

    /// The provider's headers (hop-by-hop headers and `Set-Cookie` removed), plus
    /// `Switchboard-Attempts` and `Switchboard-Upstream-Status`.
    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        self.inner.headers()
    }

    /// How many requests Switchboard sent to the provider (`Switchboard-Attempts`).
    pub fn attempts(&self) -> Option<u32> {
        header_u64(self.inner.headers(), "switchboard-attempts").and_then(|n| u32::try_from(n).ok())
    }

    /// Seconds the provider asked to wait (`Retry-After` in seconds), on a 429 or 503.
    pub fn retry_after_secs(&self) -> Option<u64> {
        header_u64(self.inner.headers(), "retry-after")
    }

    /// The next chunk of the body, or `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, ClientError> {
        self.inner
            .chunk()
            .await
            .map_err(|e| ClientError::Transport {
                url: String::new(),
                reason: format!("the proxied body broke off: {}", e.without_url()),
            })
    }

    /// The whole body (for small answers; use [`ProxyResponse::chunk`] for large ones).
    pub async fn bytes(self) -> Result<bytes::Bytes, ClientError> {
        self.inner
            .bytes()
            .await
            .map_err(|e| ClientError::Transport {
                url: String::new(),
                reason: format!("the proxied body broke off: {}", e.without_url()),
            })
    }

    /// The body as JSON.
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, ClientError> {
        let b = self.bytes().await?;
        serde_json::from_slice(&b).map_err(|e| {
            ClientError::Decode(format!("the provider's body is not the JSON expected: {e}"))
        })
    }

    /// `self` if the provider answered 2xx; otherwise an [`ClientError::Api`] with the
    /// provider's status, code `upstream_status` and the start of its body.
    pub async fn error_for_status(self) -> Result<Self, ClientError> {
        let status = self.status();
        if (200..300).contains(&status) {
            return Ok(self);
        }
        let body = self.bytes().await.unwrap_or_default();
        Err(ClientError::Api {
            status,
            code: "upstream_status".into(),
            message: format!(
                "the provider answered HTTP {status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ),
        })
    }

    /// The underlying response (e.g. for `bytes_stream()`).
    pub fn into_inner(self) -> reqwest::Response {
        self.inner
    }
}

impl Client {
    /// A request to the provider of `connection_id`, at `path` under its API base URL
    /// (`/user/repos` or `user/repos`; percent-encode what must not be read as `/`).
    /// Finish it with [`ProxyRequestBuilder::send`].
    pub fn proxy(&self, connection_id: &str, method: Method, path: &str) -> ProxyRequestBuilder {
        let req = (|| {
            if path.contains(['?', '#']) {
                return Err(ClientError::BadUrl(format!(
                    "proxy path {path:?} has '?' or '#'; pass query parameters with .query()"
                )));
            }
            let mut url = self.api(&["proxy", connection_id])?;
            let full = format!(
                "{}/{}",
                url.path().trim_end_matches('/'),
                path.trim_start_matches('/')
            );
            url.set_path(&full);
            Ok(self
                .http
                .request(method, url)
                .bearer_auth(self.key.expose_secret())
                .timeout(PROXY_TIMEOUT))
        })();
        ProxyRequestBuilder {
            base: self.base.clone(),
            req,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_keep_the_path_and_encode_the_connection() {
        let c = Client::new("http://127.0.0.1:8080", "sb_x".to_owned().into()).unwrap();
        let b = c.proxy("acct/1", Method::GET, "/user/repos");
        let req = b.req.unwrap().build().unwrap();
        assert_eq!(
            req.url().as_str(),
            "http://127.0.0.1:8080/api/proxy/acct%2F1/user/repos"
        );
        assert_eq!(req.timeout(), Some(&PROXY_TIMEOUT));
        assert!(c.proxy("c", Method::GET, "a?b=1").req.is_err());
    }
}
