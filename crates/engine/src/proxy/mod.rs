//! The API proxy: a caller's request sent on to a connection's provider with the
//! connection's credentials, and the provider's answer streamed back.
//!
//! One request ([`Engine::proxy`]):
//! 1. The connection is loaded (it must be `active`); its integration and provider give
//!    the base URL (`api_base_url`, templated with the connection's settings) and how the
//!    credential is sent. The target is that base + the caller's path + query; its
//!    scheme, host and port must be the base's and its path under the base's path.
//!    The connection, its decrypted credentials and this route are kept for a second
//!    per process ([`cache`]), so a busy connection costs no database read, decryption
//!    or template rendering per request.
//! 2. The caller's `Authorization`, cookies and hop-by-hop headers (RFC 9110 §7.6.1 and
//!    those named in `Connection`) are removed; the credential and the catalog's
//!    `api_headers` are added.
//! 3. The integration's token buckets ([`limit`]) admit the request, or it waits
//!    (bounded) or is refused with 429 + `Retry-After`.
//! 4. The request goes out through the SSRF-guarded [`crate::http::Outbound`] client
//!    (redirects are never followed). A body up to [`REPLAY_MAX`] is buffered so that it
//!    can be sent again; a larger one streams and is sent once.
//! 5. A 401 triggers one single-flight refresh (OAuth2 and client credentials) and one
//!    retry. 429, 502, 503, 504 and connection errors are retried for idempotent methods
//!    (or with an `Idempotency-Key`), with exponential backoff and full jitter, honouring
//!    `Retry-After` and the catalog's rate-limit reset header, within
//!    `proxy_max_wait_secs` in total (rate-limit waits included). When the provider asks
//!    for more than is left, its answer goes back to the caller at once.
//!
//! The retry loop is written here rather than taken from a crate: `backoff` is
//! unmaintained, `reqwest-retry` ignores `Retry-After`, and `backon` cannot share one
//! wait budget between the token buckets and the provider-requested delays, nor hand back
//! the provider's 429 when its delay exceeds the budget.
//!
//! Nothing secret is logged: the request log has the method, integration, connection,
//! path, the query with `proxy_redact_query` values replaced, status, attempts and
//! duration.

pub(crate) mod cache;
pub(crate) mod limit;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use store::ConnectionStatus;

use crate::changes::ConnectionWatcher;
use crate::connections::credentials::Credentials;
use crate::connections::protocol;
use crate::http::OutboundError;
use crate::{Engine, EngineError};

/// How long the proxy may keep using a connection's credentials after reading them (a
/// disconnect by another instance reaches this one's proxy within it).
pub fn cache_ttl() -> Duration {
    cache::TTL
}

/// The proxy's per-process state: token buckets and the credential cache.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    limits: limit::Limits,
    pub(crate) credentials: Arc<cache::CredentialCache>,
}

impl Shared {
    /// What must hear of connection changes made in this process (a refresh, a failed
    /// refresh, a disconnect): the credential cache, which then forgets the connection
    /// so the next request reads it again.
    pub(crate) fn watcher(&self) -> Arc<dyn ConnectionWatcher> {
        self.credentials.clone()
    }
}

/// An error inside a body stream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streaming body, in either direction.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

/// Bodies up to this size are buffered so that a retry can send them again.
pub const REPLAY_MAX: usize = 64 * 1024;

/// Most attempts of one request (first try included).
const MAX_ATTEMPTS: u32 = 8;
/// First backoff ceiling; doubles each retry.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Largest backoff ceiling of one retry.
const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// Longest a single upstream request may stream (the headers must come within
/// `outbound_timeout_secs`, and each body chunk too).
const STREAM_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The caller's request body.
pub enum ProxyBody {
    /// No body.
    Empty,
    /// A body, streamed.
    Stream(BodyStream),
}

impl std::fmt::Debug for ProxyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyBody::Empty => f.write_str("Empty"),
            ProxyBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// A request to send to a connection's provider.
#[derive(Debug)]
pub struct ProxyRequest {
    /// The connection whose credentials are used.
    pub connection_id: String,
    /// The HTTP method.
    pub method: Method,
    /// The path under the provider's API base URL, as the caller wrote it
    /// (percent-encoded), with or without a leading `/`.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// The caller's headers (credentials, cookies and hop-by-hop headers are removed).
    pub headers: HeaderMap,
    /// The body.
    pub body: ProxyBody,
}

/// The provider's answer.
pub struct ProxyResponse {
    /// The provider's status.
    pub status: StatusCode,
    /// The provider's headers (hop-by-hop headers and `Set-Cookie` removed), plus
    /// `Switchboard-Attempts` and `Switchboard-Upstream-Status`.
    pub headers: HeaderMap,
    /// The provider's body, streamed.
    pub body: BodyStream,
    /// How many requests were sent to the provider.
    pub attempts: u32,
}

impl std::fmt::Debug for ProxyResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyResponse")
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Why a proxied request got no answer from the provider. Messages say what to do and
/// never hold a credential, a query string or the caller's headers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The connection or its integration cannot be used (unknown, revoked, needs
    /// re-authorization, misconfigured).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The path or query cannot be sent.
    #[error("{0}")]
    BadPath(String),
    /// The provider has no API base URL in the catalog.
    #[error(
        "provider {0:?} has no api_base_url, so it cannot be proxied; add api_base_url to the custom provider"
    )]
    NoApi(String),
    /// The API base URL cannot be built from the connection's settings.
    #[error("cannot build the provider's API URL: {0}; check the connection's settings")]
    BaseUrl(String),
    /// The request body is larger than `proxy_max_body_bytes`.
    #[error(
        "the request body is larger than proxy_max_body_bytes ({limit} bytes); send less, or raise proxy_max_body_bytes"
    )]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The caller's body could not be read.
    #[error("cannot read the request body: {0}")]
    Body(String),
    /// Over the integration's rate limit (with `on_limit = "reject"`, or when waiting
    /// would exceed `proxy_max_wait_secs`).
    #[error("integration {integration:?} is over its rate limit; retry after {retry_after_secs} s")]
    RateLimited {
        /// The integration.
        integration: String,
        /// Seconds until a request would be admitted.
        retry_after_secs: u64,
    },
    /// The provider did not answer within `outbound_timeout_secs`.
    #[error(
        "the provider's API did not answer within outbound_timeout_secs; it may be down, retry later"
    )]
    Timeout,
    /// The provider could not be reached, or the outbound guard refused it.
    #[error("{0}")]
    Upstream(#[source] OutboundError),
}

impl ProxyError {
    /// The HTTP status for the caller.
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::Engine(_) => 0,
            ProxyError::BadPath(_) | ProxyError::Body(_) => 400,
            ProxyError::NoApi(_) | ProxyError::BaseUrl(_) => 422,
            ProxyError::TooLarge { .. } => 413,
            ProxyError::RateLimited { .. } => 429,
            ProxyError::Timeout => 504,
            ProxyError::Upstream(_) => 502,
        }
    }

    /// A stable code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::Engine(e) => e.code(),
            ProxyError::BadPath(_) | ProxyError::Body(_) => "invalid_request",
            ProxyError::NoApi(_) | ProxyError::BaseUrl(_) => "misconfigured",
            ProxyError::TooLarge { .. } => "payload_too_large",
            ProxyError::RateLimited { .. } => "rate_limited",
            ProxyError::Timeout => "upstream_timeout",
            ProxyError::Upstream(_) => "upstream_unreachable",
        }
    }

    /// Seconds for `Retry-After`, when the caller should retry later.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ProxyError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

/// Headers never forwarded in either direction: hop-by-hop (RFC 9110 §7.6.1 and the
/// obsolete `Keep-Alive`/`Proxy-Connection`) and `Host`.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "host",
];

/// Removes hop-by-hop headers and those named in `Connection`.
fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(*n);
    }
}

/// The caller's headers as they may go to the provider: no hop-by-hop headers, no
/// `Authorization` (the caller's Switchboard key), no cookies, no `Expect`.
pub fn outgoing_headers(mut h: HeaderMap) -> HeaderMap {
    strip_hop_by_hop(&mut h);
    h.remove(header::AUTHORIZATION);
    h.remove(header::COOKIE);
    h.remove(header::EXPECT);
    h
}

/// The provider's headers as they may go to the caller: no hop-by-hop headers and no
/// `Set-Cookie` (a session of the connection's account is not the caller's).
pub fn incoming_headers(mut h: HeaderMap) -> HeaderMap {
    strip_hop_by_hop(&mut h);
    h.remove(header::SET_COOKIE);
    h
}

/// A query string with the values of `redact` parameters replaced by `[redacted]`, for
/// logs.
pub fn redact_query(query: &str, redact: &[String]) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, has_value) = match pair.split_once('=') {
                Some((n, _)) => (n, true),
                None => (pair, false),
            };
            let decoded: String = form_urlencoded::parse(name.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            if has_value && redact.iter().any(|r| r.eq_ignore_ascii_case(&decoded)) {
                format!("{name}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

pub use crate::http::parse_retry_after;

/// A rate-limit reset header (the catalog's `rate_limit.reset`) as a delay from `now`.
pub fn parse_reset(
    value: &str,
    format: catalog::ResetFormat,
    now: DateTime<Utc>,
) -> Option<Duration> {
    use catalog::ResetFormat as F;
    let v = value.trim();
    let num = || v.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0);
    let at = |ms: f64| {
        let target = DateTime::<Utc>::from_timestamp_millis(ms as i64)?;
        Some((target - now).to_std().unwrap_or_default())
    };
    match format {
        F::DeltaSeconds => num().map(|n| Duration::from_secs_f64(n.min(1e9))),
        F::DeltaMillis => num().map(|n| Duration::from_secs_f64((n / 1000.0).min(1e9))),
        F::UnixSeconds => at(num()? * 1000.0),
        F::UnixMillis => at(num()?),
        F::Rfc3339 => {
            let t = DateTime::parse_from_rfc3339(v).ok()?.with_timezone(&Utc);
            Some((t - now).to_std().unwrap_or_default())
        }
        F::HttpDate => parse_retry_after(v, now),
    }
}

/// Whether the request may be sent again after a failure: an idempotent method, or an
/// `Idempotency-Key`.
pub fn retryable_method(method: &Method, headers: &HeaderMap) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    ) || headers.contains_key("idempotency-key")
}

/// Full-jitter backoff before retry number `retry` (1-based): uniform in
/// `[0, min(cap, base · 2^(retry-1))]`.
fn backoff(retry: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    ceiling.mul_f64(crate::connections::tokens::jitter_unit())
}

/// The caller's body after looking at its start.
enum Prepared {
    Empty,
    /// Small enough to send again.
    Buffered(Bytes),
    /// Streams once.
    Streaming(BodyStream),
}

impl Prepared {
    /// The body for one attempt. A buffered body is kept (a cheap `Bytes` copy) for the
    /// next attempt; a streamed one is sent once and leaves nothing.
    fn next_attempt(&mut self) -> Option<reqwest::Body> {
        match std::mem::replace(self, Prepared::Empty) {
            Prepared::Empty => None,
            Prepared::Buffered(b) => {
                *self = Prepared::Buffered(b.clone());
                Some(reqwest::Body::from(b))
            }
            Prepared::Streaming(s) => Some(reqwest::Body::wrap_stream(s)),
        }
    }
}

/// Counts bytes and stops a body past `limit`, noting it in `over`.
fn limited(body: BodyStream, limit: u64, over: Arc<AtomicBool>) -> BodyStream {
    let mut seen = 0u64;
    Box::pin(body.map(move |item| {
        let chunk = item?;
        seen += chunk.len() as u64;
        if seen > limit {
            over.store(true, Ordering::Relaxed);
            return Err(Box::new(std::io::Error::other(
                "request body larger than proxy_max_body_bytes",
            )) as BoxError);
        }
        Ok(chunk)
    }))
}

async fn prepare(
    body: ProxyBody,
    limit: u64,
    over: Arc<AtomicBool>,
) -> Result<Prepared, ProxyError> {
    let ProxyBody::Stream(mut s) = body else {
        return Ok(Prepared::Empty);
    };
    let mut head: Vec<Bytes> = Vec::new();
    let mut size = 0usize;
    loop {
        match s.next().await {
            None => {
                if size as u64 > limit {
                    return Err(ProxyError::TooLarge { limit });
                }
                return Ok(match head.len() {
                    0 => Prepared::Empty,
                    1 => Prepared::Buffered(head.pop().unwrap_or_default()),
                    _ => Prepared::Buffered(Bytes::from(head.concat())),
                });
            }
            Some(Err(e)) => return Err(body_error(e)),
            Some(Ok(chunk)) => {
                size += chunk.len();
                head.push(chunk);
                if size > REPLAY_MAX {
                    let rest = futures_util::stream::iter(head.into_iter().map(Ok)).chain(s);
                    return Ok(Prepared::Streaming(limited(Box::pin(rest), limit, over)));
                }
            }
        }
    }
}

fn body_error(e: BoxError) -> ProxyError {
    let text = e.to_string();
    if text.contains("length limit exceeded") {
        return ProxyError::Body("the body is larger than the server accepts".into());
    }
    ProxyError::Body(text.chars().take(200).collect())
}

/// Where and how to send: the target URL and the credential.
struct Target {
    url: url::Url,
    integration: String,
    connection: String,
    renewable: bool,
}

/// One outcome of a send.
enum Sent {
    /// The provider's headers came back (any status).
    Answer(reqwest::Response),
    /// No answer; `true` when the failure was a refused connection that may be retried.
    Failed(ProxyError, bool),
}

/// What the attempt loop does with a provider's answer.
enum Verdict {
    /// Send again after `pause`, counted under `reason` in the retry metric.
    Retry {
        reason: &'static str,
        pause: Duration,
    },
    /// The answer goes back to the caller, with the delay the provider asked for.
    Answer { asked: Option<Duration> },
}

/// The request as it goes out: headers and body, and whether it may be sent more than
/// once.
struct Outgoing {
    method: Method,
    headers: HeaderMap,
    body: Prepared,
    /// Set when a streamed body passes `limit` while being sent.
    over: Arc<AtomicBool>,
    /// `proxy_max_body_bytes`.
    limit: u64,
    /// The body can be sent again (it was small enough to buffer).
    replayable: bool,
    /// A failure or a retryable status may be tried again: replayable and idempotent
    /// (or with an `Idempotency-Key`).
    may_retry: bool,
    /// The request may be sent more than once (a retry, or the one after a refresh):
    /// only then are its headers copied for each attempt.
    may_resend: bool,
}

impl Outgoing {
    /// The caller's request made ready to send. A declared `Content-Length` over the
    /// limit is refused before a byte is read; a body up to [`REPLAY_MAX`] is buffered
    /// so that it can be replayed. The caller's credentials, cookies and hop-by-hop
    /// headers go, the catalog's `api_headers` come.
    async fn prepare(
        method: Method,
        headers: HeaderMap,
        body: ProxyBody,
        route: &cache::Route,
        limit: u64,
        renewable: bool,
    ) -> Result<Self, ProxyError> {
        if let Some(len) = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            && len > limit
        {
            return Err(ProxyError::TooLarge { limit });
        }
        let over = Arc::new(AtomicBool::new(false));
        let body = prepare(body, limit, over.clone()).await?;
        let mut headers = outgoing_headers(headers);
        for (k, v) in &route.api_headers {
            headers.append(k.clone(), v.clone());
        }
        let replayable = !matches!(body, Prepared::Streaming(_));
        let may_retry = replayable && retryable_method(&method, &headers);
        let may_resend = may_retry || (renewable && replayable);
        Ok(Self {
            method,
            headers,
            body,
            over,
            limit,
            replayable,
            may_retry,
            may_resend,
        })
    }
}

/// One proxied request ready to go: what its attempts share.
struct Call<'a> {
    id: &'a str,
    entry: &'a cache::Entry,
    target: Target,
    outbound: Arc<crate::http::Outbound>,
    out: Outgoing,
    /// Replaced after a refresh.
    creds: Arc<Credentials>,
    /// The end of the request's one wait budget (`proxy_max_wait_secs`).
    deadline: Instant,
    /// `outbound_timeout_secs`: for the provider's headers, and then for each body
    /// chunk.
    header_timeout: Duration,
}

fn metric_status(status: &str, integration: &str) {
    metrics::counter!(
        crate::metrics::PROXY_REQUESTS,
        "integration" => integration.to_owned(),
        "status" => status.to_owned()
    )
    .increment(1);
}

fn retry_metric(integration: &str, reason: &'static str) {
    metrics::counter!(
        crate::metrics::PROXY_RETRIES,
        "integration" => integration.to_owned(),
        "reason" => reason
    )
    .increment(1);
}

/// The streamed response body, failing when the provider stalls longer than `idle`.
fn response_stream(resp: reqwest::Response, idle: Duration) -> BodyStream {
    let inner = Box::pin(resp.bytes_stream());
    Box::pin(futures_util::stream::unfold(
        Some(inner),
        move |state| async move {
            let mut s = state?;
            match tokio::time::timeout(idle, s.next()).await {
                Ok(Some(Ok(b))) => Some((Ok(b), Some(s))),
                Ok(Some(Err(e))) => Some((
                    Err(Box::new(std::io::Error::other(format!(
                        "the provider's response broke off: {}",
                        e.without_url()
                    ))) as BoxError),
                    None,
                )),
                Ok(None) => None,
                Err(_) => Some((
                    Err(Box::new(std::io::Error::other(
                        "the provider stopped sending its response (outbound_timeout_secs)",
                    )) as BoxError),
                    None,
                )),
            }
        },
    ))
}

impl Engine {
    /// Sends `req` to the connection's provider with its credentials (see the module
    /// documentation) and returns the provider's answer, streamed.
    pub async fn proxy(&self, req: ProxyRequest) -> Result<ProxyResponse, ProxyError> {
        let started = self.instant();
        // What the request log needs, copied only when the log line will be written.
        let log =
            tracing::enabled!(target: "switchboard::proxy", tracing::Level::INFO).then(|| {
                (
                    req.method.clone(),
                    req.connection_id.clone(),
                    req.path.clone(),
                    req.query.clone(),
                )
            });
        let result = self.proxy_inner(req, started).await;
        let (status, attempts, integration) = match &result {
            Ok((r, integration)) => (r.status.as_u16().to_string(), r.attempts, integration),
            Err((e, integration)) => {
                let s = match e.status() {
                    0 => "error".to_owned(),
                    s => s.to_string(),
                };
                (s, 0, integration)
            }
        };
        if let Some(i) = integration {
            metric_status(&status, i);
        }
        if let Some((method, connection, path, query)) = log {
            let query =
                query.map(|q| redact_query(&q, &self.inner.config.load().proxy_redact_query));
            tracing::info!(
                target: "switchboard::proxy",
                method = %method,
                integration = integration.as_deref().unwrap_or("-"),
                connection = %connection,
                path = %format_args!("/{}", path.trim_start_matches('/')),
                query = query.as_deref().unwrap_or(""),
                status = %status,
                attempts,
                duration_ms = self.instant().saturating_duration_since(started).as_millis() as u64,
                "proxied"
            );
        }
        result.map(|(r, _)| r).map_err(|(e, _)| e)
    }

    /// The connection read from the store, with its route; kept in the cache when it is
    /// active and its token is not due for refresh.
    async fn proxy_entry(
        &self,
        id: &str,
        cfg: &Arc<config::Config>,
    ) -> Result<Arc<cache::Entry>, (ProxyError, Option<String>)> {
        let cache = &self.inner.proxy.credentials;
        let epoch = cache.epoch();
        let (conn, creds) = self
            .load_credentials(id)
            .await
            .map_err(|e| (e.into(), None))?;
        if conn.status != ConnectionStatus::Active {
            let e = crate::connections::tokens::state_error(&conn).into();
            return Err((e, Some(conn.integration)));
        }
        let route = match self.route(&conn, cfg) {
            Ok(r) => r,
            Err(e) => return Err((e, Some(conn.integration))),
        };
        let entry = Arc::new(cache::Entry {
            conn,
            creds: Arc::new(creds),
            route: Arc::new(route),
        });
        if !self.needs_refresh(&entry.conn, self.now()) {
            cache.put(entry.clone(), epoch, self.instant());
        }
        Ok(entry)
    }

    /// Where a connection's requests go: its integration and provider, the rendered API
    /// base URL, the provider's extra headers and where the credential goes.
    fn route(
        &self,
        conn: &store::Connection,
        cfg: &Arc<config::Config>,
    ) -> Result<cache::Route, ProxyError> {
        let ctx = self.connect_context(&conn.integration)?;
        let base_tpl = ctx
            .provider
            .api_base_url
            .as_deref()
            .ok_or_else(|| ProxyError::NoApi(ctx.provider.id.clone()))?;
        let base = protocol::resolve(
            &ctx.provider,
            base_tpl,
            &ctx.values(&conn.settings),
            self.dev(),
        )
        .map_err(|e| ProxyError::BaseUrl(e.to_string()))?;
        let base_url = url::Url::parse(&base).map_err(|e| ProxyError::BaseUrl(e.to_string()))?;
        // A credential sent in the query replaces any parameter of that name the caller
        // sent.
        let credential_param = match conn.auth_mode.as_str() {
            "api_key" => ctx.provider.api_key.as_ref(),
            "basic" => None,
            _ => ctx
                .provider
                .oauth2
                .as_ref()
                .and_then(|o| o.api_auth.as_ref()),
        }
        .and_then(|a| a.query.clone());
        let mut api_headers = HeaderMap::new();
        for (k, v) in ctx
            .api_headers(&conn.settings)
            .map_err(ProxyError::BaseUrl)?
        {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                api_headers.append(n, v);
            }
        }
        let api_query = ctx.api_query(&conn.settings).map_err(ProxyError::BaseUrl)?;
        Ok(cache::Route {
            config: cfg.clone(),
            ctx,
            base,
            base_url,
            api_headers,
            api_query,
            credential_param,
        })
    }

    /// One request's way through, in order: the connection and its route, the target
    /// URL, the credential, the outgoing headers and body, then the attempts
    /// ([`Engine::send_with_retries`]). Each step says why it is where it is. Errors carry
    /// the integration once it is known, for the request metric and log.
    #[allow(clippy::type_complexity)]
    async fn proxy_inner(
        &self,
        req: ProxyRequest,
        started: Instant,
    ) -> Result<(ProxyResponse, Option<String>), (ProxyError, Option<String>)> {
        let ProxyRequest {
            connection_id: id,
            method,
            path,
            query,
            headers,
            body,
        } = req;
        let cfg = self.config();
        // The connection first: its integration says where and how to send, and an
        // inactive one is refused before any other work.
        let entry = self.proxy_connection(&id, &cfg).await?;
        let integration = Some(entry.conn.integration.clone());
        let fail = |e: ProxyError| (e, integration.clone());
        let outbound = self.outbound();
        // The target before the credential: a path we refuse must not cost a refresh.
        let target = self
            .target(&outbound, &entry, &id, &path, query)
            .map_err(fail)?;
        let creds = self.current_credentials(&id, &entry).await.map_err(fail)?;
        let out = Outgoing::prepare(
            method,
            headers,
            body,
            &entry.route,
            cfg.proxy_max_body_bytes,
            target.renewable,
        )
        .await
        .map_err(fail)?;
        let call = Call {
            id: &id,
            entry: &entry,
            target,
            outbound,
            out,
            creds,
            // One budget for the whole request, counted from its arrival: rate-limit
            // waits and retry pauses all come out of it.
            deadline: started + Duration::from_secs(cfg.proxy_max_wait_secs),
            header_timeout: Duration::from_secs(cfg.outbound_timeout_secs),
        };
        match self.send_with_retries(call).await {
            Ok(r) => Ok((r, integration.clone())),
            Err(e) => Err(fail(e)),
        }
    }

    /// The connection with its route: the cached entry when there is one built under
    /// the configuration in force (a reload may change the route), else read from the
    /// store (see [`Engine::proxy_entry`]).
    async fn proxy_connection(
        &self,
        id: &str,
        cfg: &Arc<config::Config>,
    ) -> Result<Arc<cache::Entry>, (ProxyError, Option<String>)> {
        match self.inner.proxy.credentials.get(id, self.instant()) {
            // Cached entries are active; one built under a replaced configuration is not
            // used.
            Some(e) if Arc::ptr_eq(&e.route.config, cfg) => Ok(e),
            _ => self.proxy_entry(id, cfg).await,
        }
    }

    /// The credential for the first attempt. One due for refresh (expired, or within
    /// `token_refresh_margin_secs`) is refreshed now rather than after a 401: a request
    /// is not spent on a token we know is stale. The cache forgets the connection first,
    /// so that no other request picks up the old credential meanwhile.
    async fn current_credentials(
        &self,
        id: &str,
        entry: &cache::Entry,
    ) -> Result<Arc<Credentials>, ProxyError> {
        if !self.needs_refresh(&entry.conn, self.now()) {
            return Ok(entry.creds.clone());
        }
        self.inner.proxy.credentials.forget(id);
        self.connection_token(id).await?;
        Ok(Arc::new(self.load_credentials(id).await?.1))
    }

    /// The attempts. Each waits for the integration's rate limit, is sent, and is then
    /// judged: a refused connection or a retryable status is tried again after a pause,
    /// a 401 once after a refresh, and anything else is the answer. Every wait (rate
    /// limit and pauses alike) comes out of the one budget ending at `call.deadline`, so
    /// the caller waits at most `proxy_max_wait_secs` in all, however the waits add up.
    async fn send_with_retries(&self, mut call: Call<'_>) -> Result<ProxyResponse, ProxyError> {
        let entry = call.entry;
        let buckets = entry.route.ctx.integration.rate_limit.map(|l| {
            self.inner.proxy.limits.buckets(
                &entry.conn.integration,
                l,
                self.clock(),
                self.membership(),
            )
        });
        let mut attempts = 0u32;
        let mut refreshed = false;
        loop {
            // The rate limit on every attempt: a retry reaches the provider like any
            // other request.
            if let Some(b) = &buckets {
                self.throttle(b, &call.target, call.deadline).await?;
            }
            attempts += 1;
            let resp = match self.send_once(&mut call).await? {
                Sent::Answer(r) => r,
                Sent::Failed(e, connect_error) => {
                    // Only a refused connection is tried again: the provider never saw
                    // the request. A timeout may have reached it, and is the answer.
                    if connect_error
                        && let Some(pause) =
                            self.retry_pause(call.out.may_retry, attempts, None, call.deadline)
                    {
                        retry_metric(&call.target.integration, "connect");
                        self.clock().sleep(pause).await;
                        continue;
                    }
                    return Err(e);
                }
            };
            // A 401 for a token that can be renewed: it may have been revoked or rotated
            // behind our back. One refresh and one more attempt, never more, so a
            // provider that always answers 401 costs one refresh per request.
            if resp.status() == StatusCode::UNAUTHORIZED
                && call.target.renewable
                && call.out.replayable
                && !refreshed
            {
                refreshed = true;
                if let Some(fresh) = self.renew_after_401(call.id).await {
                    retry_metric(&call.target.integration, "401");
                    call.creds = fresh;
                    drop(resp);
                    continue;
                }
            }
            match self.judge(&resp, &entry.route.ctx.provider, &call, attempts) {
                Verdict::Retry { reason, pause } => {
                    retry_metric(&call.target.integration, reason);
                    // The provider's connection goes back to the pool before the wait.
                    drop(resp);
                    self.clock().sleep(pause).await;
                }
                Verdict::Answer { asked } => {
                    return Ok(self.answer(resp, attempts, asked, call.header_timeout));
                }
            }
        }
    }

    /// One attempt: the request built with the current credential and sent, waiting
    /// for the provider's headers at most `outbound_timeout_secs` (real time: it bounds
    /// I/O). Whether a failure may be retried is decided here, where the error is seen:
    /// a refused connection may, unless the outbound guard or DNS refused the host (a
    /// retry would change nothing).
    async fn send_once(&self, call: &mut Call<'_>) -> Result<Sent, ProxyError> {
        let entry = call.entry;
        let out = &mut call.out;
        // Copied only when the request may be sent again.
        let these = if out.may_resend {
            out.headers.clone()
        } else {
            std::mem::take(&mut out.headers)
        };
        let mut rb = call
            .outbound
            .client()
            .request(out.method.clone(), call.target.url.clone())
            .headers(these)
            .timeout(STREAM_TIMEOUT);
        rb = self.credential(rb, &entry.route.ctx, &entry.conn.auth_mode, &call.creds);
        if !entry.route.api_query.is_empty() {
            rb = rb.query(&entry.route.api_query);
        }
        if let Some(body) = out.body.next_attempt() {
            rb = rb.body(body);
        }
        let sent_at = self.instant();
        let sent = match tokio::time::timeout(call.header_timeout, rb.send()).await {
            Ok(Ok(resp)) => Sent::Answer(resp),
            Ok(Err(e)) => {
                // A streamed body cut off at the size limit fails the send: that is the
                // caller's error, and says so.
                if out.over.load(Ordering::Relaxed) {
                    return Err(ProxyError::TooLarge { limit: out.limit });
                }
                let connect = e.is_connect();
                let err = OutboundError::from_reqwest(&call.target.url, e);
                let retry = connect
                    && !matches!(
                        err,
                        OutboundError::NonPublicHost { .. } | OutboundError::Resolve { .. }
                    );
                Sent::Failed(ProxyError::Upstream(err), retry)
            }
            Err(_) => Sent::Failed(ProxyError::Timeout, false),
        };
        metrics::histogram!(
            crate::metrics::PROXY_UPSTREAM_DURATION,
            "integration" => call.target.integration.clone()
        )
        .record(
            self.instant()
                .saturating_duration_since(sent_at)
                .as_secs_f64(),
        );
        Ok(sent)
    }

    /// New credentials after a 401, or `None` when the 401 goes back to the caller. The
    /// refresh is the single-flight one every caller shares; the cache forgets the
    /// connection whatever the outcome, since its credential was just refused.
    async fn renew_after_401(&self, id: &str) -> Option<Arc<Credentials>> {
        let outcome = self.force_refresh(id).await;
        self.inner.proxy.credentials.forget(id);
        match outcome {
            Ok(_) => match self.load_credentials(id).await {
                Ok((_, fresh)) => Some(Arc::new(fresh)),
                Err(e) => {
                    tracing::warn!(connection = %id, error = %e, "proxy: reading refreshed credentials failed");
                    None
                }
            },
            Err(e) => {
                tracing::info!(connection = %id, error = %e, "proxy: refresh after a 401 failed; passing the 401 on");
                None
            }
        }
    }

    /// What to do with the provider's answer. 429, 502, 503 and 504 say "later": they
    /// are tried again when [`Engine::retry_pause`] allows. Otherwise the answer goes
    /// back, keeping the delay the provider asked for so that a 429 tells the caller
    /// when to come back.
    fn judge(
        &self,
        resp: &reqwest::Response,
        provider: &catalog::Provider,
        call: &Call<'_>,
        attempts: u32,
    ) -> Verdict {
        let reason = match resp.status().as_u16() {
            429 => "429",
            502 => "502",
            503 => "503",
            504 => "504",
            _ => return Verdict::Answer { asked: None },
        };
        let asked = self.asked_delay(provider, resp.headers());
        match self.retry_pause(call.out.may_retry, attempts, asked, call.deadline) {
            Some(pause) => Verdict::Retry { reason, pause },
            None => Verdict::Answer { asked },
        }
    }

    /// The pause before the next attempt, if there is to be one: only for a request
    /// that may be sent again, at most [`MAX_ATTEMPTS`] in all, and only when the pause
    /// (the delay the provider asked for, else a jittered back-off) ends before the
    /// budget does; waiting longer would only delay an answer the caller gets anyway.
    fn retry_pause(
        &self,
        may_retry: bool,
        attempts: u32,
        asked: Option<Duration>,
        deadline: Instant,
    ) -> Option<Duration> {
        if !may_retry || attempts >= MAX_ATTEMPTS {
            return None;
        }
        let pause = asked.unwrap_or_else(|| backoff(attempts));
        let left = deadline.saturating_duration_since(self.instant());
        (pause < left).then_some(pause)
    }

    /// The target URL: the base, the caller's path and query; same scheme, host and port
    /// as the base, under its path, and allowed by the outbound guard.
    /// A credential the catalog sends in the query replaces any parameter of that name
    /// the caller sent, so the caller's goes first.
    fn target(
        &self,
        outbound: &crate::http::Outbound,
        entry: &cache::Entry,
        connection: &str,
        path: &str,
        query: Option<String>,
    ) -> Result<Target, ProxyError> {
        let route = &entry.route;
        // The credential and the catalog's own parameters replace any parameter of
        // their names the caller sent.
        let query = query.map(|mut q| {
            for name in route
                .credential_param
                .iter()
                .chain(route.api_query.iter().map(|(k, _)| k))
            {
                q = without_param(&q, name);
            }
            q
        });
        let query = query.as_deref();
        let path = path.trim_start_matches('/');
        if path.contains(|c: char| c.is_control() || c == ' ' || c == '#' || c == '?' || c == '\\')
        {
            return Err(ProxyError::BadPath(
                "the path has a control character, space, '#', '?' or '\\'; percent-encode it"
                    .into(),
            ));
        }
        for seg in path.split('/') {
            // Only a segment with an escape needs decoding (and a copy).
            let decoded = if seg.contains('%') {
                std::borrow::Cow::Owned(percent_decode(seg))
            } else {
                std::borrow::Cow::Borrowed(seg)
            };
            if decoded == "." || decoded == ".." || decoded.contains('/') || decoded.contains('\\')
            {
                return Err(ProxyError::BadPath(
                    "the path may not contain '.' or '..' segments or encoded slashes".into(),
                ));
            }
        }
        if let Some(q) = query
            && q.contains(|c: char| c.is_control() || c == ' ' || c == '#')
        {
            return Err(ProxyError::BadPath(
                "the query string has a control character, space or '#'; percent-encode it".into(),
            ));
        }
        let base_url = &route.base_url;
        let base = route.base.trim_end_matches('/');
        let query = query.filter(|q| !q.is_empty());
        let mut text =
            String::with_capacity(base.len() + 1 + path.len() + query.map_or(0, |q| q.len() + 1));
        text.push_str(base);
        text.push('/');
        text.push_str(path);
        if let Some(q) = query {
            text.push('?');
            text.push_str(q);
        }
        let url = outbound.check(&text).map_err(ProxyError::Upstream)?;
        let base_path = base_url.path().trim_end_matches('/');
        let same_origin = url.scheme() == base_url.scheme()
            && url.host_str() == base_url.host_str()
            && url.port_or_known_default() == base_url.port_or_known_default();
        if !same_origin || !url.path().starts_with(base_path) {
            return Err(ProxyError::BadPath(
                "the path leaves the provider's API base URL".into(),
            ));
        }
        Ok(Target {
            url,
            integration: entry.conn.integration.clone(),
            connection: connection.to_owned(),
            renewable: crate::connections::renews(&entry.conn.auth_mode),
        })
    }

    /// Puts the connection's credential on the request as the catalog says.
    fn credential(
        &self,
        rb: reqwest::RequestBuilder,
        ctx: &crate::connections::context::Ctx,
        auth_mode: &str,
        creds: &Credentials,
    ) -> reqwest::RequestBuilder {
        match auth_mode {
            "api_key" => match &creds.api_key {
                Some(k) => protocol::apply_credential(rb, ctx.provider.api_key.as_ref(), k),
                None => rb,
            },
            "basic" => {
                let user = creds
                    .username
                    .as_deref()
                    .or_else(|| {
                        ctx.provider
                            .basic
                            .as_ref()
                            .and_then(|b| b.username.as_deref())
                    })
                    .unwrap_or("");
                let pass = creds.password.as_deref().unwrap_or("");
                rb.header(header::AUTHORIZATION, protocol::basic_plain(user, pass))
            }
            _ => match &creds.access_token {
                Some(t) => protocol::apply_credential(
                    rb,
                    ctx.provider
                        .oauth2
                        .as_ref()
                        .and_then(|o| o.api_auth.as_ref()),
                    t,
                ),
                None => rb,
            },
        }
    }

    /// Waits for a token of the integration's buckets, within the deadline.
    async fn throttle(
        &self,
        buckets: &limit::Buckets,
        target: &Target,
        deadline: Instant,
    ) -> Result<(), ProxyError> {
        let mut waited = Duration::ZERO;
        loop {
            match buckets.admit(&target.connection) {
                Ok(()) => {
                    if !waited.is_zero() {
                        metrics::histogram!(
                            crate::metrics::PROXY_THROTTLE_WAIT,
                            "integration" => target.integration.clone()
                        )
                        .record(waited.as_secs_f64());
                    }
                    return Ok(());
                }
                Err(wait) => {
                    let left = deadline.saturating_duration_since(self.instant());
                    if buckets.on_limit() == config::OnLimit::Reject || wait > left {
                        return Err(ProxyError::RateLimited {
                            integration: target.integration.clone(),
                            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                        });
                    }
                    let pause = wait.max(Duration::from_millis(1));
                    self.clock().sleep(pause).await;
                    waited += pause;
                }
            }
        }
    }

    /// The delay the provider asked for: `Retry-After`, else the catalog's rate-limit
    /// reset header.
    fn asked_delay(&self, provider: &catalog::Provider, h: &HeaderMap) -> Option<Duration> {
        let now = self.now();
        if let Some(d) = h
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now))
        {
            return Some(d);
        }
        let rl = provider.rate_limit.as_ref()?;
        let name = rl.reset.as_deref()?;
        let v = h.get(name)?.to_str().ok()?;
        parse_reset(v, rl.reset_format, now)
    }

    fn answer(
        &self,
        resp: reqwest::Response,
        attempts: u32,
        asked: Option<Duration>,
        idle: Duration,
    ) -> ProxyResponse {
        let status = resp.status();
        let mut headers = incoming_headers(resp.headers().clone());
        if status == StatusCode::TOO_MANY_REQUESTS
            && !headers.contains_key(header::RETRY_AFTER)
            && let Some(d) = asked
        {
            let secs = d.as_secs_f64().ceil() as u64;
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        headers.insert("switchboard-attempts", HeaderValue::from(attempts));
        headers.insert(
            "switchboard-upstream-status",
            HeaderValue::from(status.as_u16()),
        );
        ProxyResponse {
            status,
            headers,
            body: response_stream(resp, idle),
            attempts,
        }
    }
}

/// `query` without the pairs named `name` (compared after decoding).
fn without_param(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            let n = pair.split_once('=').map_or(*pair, |(n, _)| n);
            let decoded: String = form_urlencoded::parse(n.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            decoded != name
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (
                (b[i + 1] as char).to_digit(16),
                (b[i + 2] as char).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
