//! The API proxy against a local upstream with fault injection: retries and their limits,
//! refresh on 401, credentials injected and the caller's stripped, path checks, body
//! limits, token buckets (also on a fake clock), and the pure helpers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use bytes::Bytes as B;
use futures_util::StreamExt;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::json;
use store::ConnectionStatus;

use super::connections::{
    H, Stub, conn, default_route, harness_with, integration, plain_provider, provider, put,
};
use crate::proxy::{
    ProxyBody, ProxyError, ProxyRequest, parse_reset, parse_retry_after, redact_query,
};

/// What the upstream saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    headers: BTreeMap<String, String>,
    body_len: usize,
}

type Script = Arc<dyn Fn(usize, &Seen) -> (u16, Vec<(&'static str, String)>, String) + Send + Sync>;

#[derive(Clone)]
struct Up {
    seen: Arc<Mutex<Vec<Seen>>>,
    n: Arc<AtomicUsize>,
    script: Arc<Mutex<Script>>,
}

async fn up_handler(
    State(u): State<Up>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body_len: body.len(),
    };
    u.seen.lock().unwrap().push(seen.clone());
    let i = u.n.fetch_add(1, Ordering::SeqCst);
    let script = u.script.lock().unwrap().clone();
    let (status, hdrs, body) = script(i, &seen);
    let mut b = axum::response::Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .header("set-cookie", "upstream=session")
        .header("connection", "x-hop")
        .header("x-hop", "1");
    for (k, v) in hdrs {
        b = b.header(k, v);
    }
    b.body(Body::from(body)).unwrap()
}

struct Upstream {
    base: String,
    up: Up,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Up {
            seen: Arc::default(),
            n: Arc::default(),
            script: Arc::new(Mutex::new(Arc::new(|_, _| (200, vec![], "ok".into())))),
        };
        let app = axum::Router::new()
            .fallback(up_handler)
            .with_state(up.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://{addr}"),
            up,
            task,
        }
    }

    fn script(
        &self,
        f: impl Fn(usize, &Seen) -> (u16, Vec<(&'static str, String)>, String) + Send + Sync + 'static,
    ) {
        *self.up.script.lock().unwrap() = Arc::new(f);
    }

    fn seen(&self) -> Vec<Seen> {
        self.up.seen.lock().unwrap().clone()
    }
}

/// Integrations over the upstream: `key` (API key in a header, with api_headers),
/// `qkey` (API key in the query), `basic`, `oauth` (token endpoint on the stub), and
/// `limited` (API key, 10/s, burst 10, reject).
async fn setup(top: &str) -> (H, Upstream) {
    let upstream = Upstream::start().await;
    let stub = Stub::start(default_route).await;
    let b = upstream.base.clone();
    let providers = vec![
        plain_provider(
            "key",
            &b,
            "api_key",
            json!({
                "api_key": {"header": "X-Api-Key"},
                "api_headers": {"X-Version": "2"},
                "verify": null,
                "rate_limit": {"reset": "x-ratelimit-reset", "reset_format": "delta_seconds"},
            }),
        ),
        plain_provider(
            "qkey",
            &b,
            "api_key",
            json!({"api_key": {"query": "key"}, "verify": null}),
        ),
        plain_provider("basic", &b, "basic", json!({"verify": null})),
        provider(
            "oauth",
            &stub.base,
            json!({"api_base_url": format!("{b}/api")}),
        ),
    ];
    let mut its = String::new();
    for id in ["key", "qkey", "basic", "oauth"] {
        its.push_str(&integration(id, id, ""));
    }
    its.push_str(&integration(
        "limited",
        "key",
        "rate_limit = { per_second = 10, burst = 10, on_limit = \"reject\" }",
    ));
    let h = harness_with(stub, providers, &its, top).await;
    let mut c = conn("ck", "key", "api_key", None);
    c.provider = "key".into();
    put(&h.engine, &c, json!({"api_key": "provider-key-1"})).await;
    let mut c = conn("cq", "qkey", "api_key", None);
    c.provider = "qkey".into();
    put(&h.engine, &c, json!({"api_key": "q-key"})).await;
    let mut c = conn("cb", "basic", "basic", None);
    c.provider = "basic".into();
    put(&h.engine, &c, json!({"username": "user", "password": "pw"})).await;
    let mut c = conn("co", "oauth", "oauth2", Some(3600));
    c.provider = "oauth".into();
    put(
        &h.engine,
        &c,
        json!({"access_token": "at-old", "refresh_token": "rt-old", "token_type": "Bearer"}),
    )
    .await;
    let mut c = conn("cl", "limited", "api_key", None);
    c.provider = "key".into();
    put(&h.engine, &c, json!({"api_key": "provider-key-1"})).await;
    (h, upstream)
}

fn get(id: &str, path: &str) -> ProxyRequest {
    ProxyRequest {
        connection_id: id.into(),
        method: Method::GET,
        path: path.into(),
        query: None,
        headers: HeaderMap::new(),
        body: ProxyBody::Empty,
    }
}

fn with_body(mut r: ProxyRequest, method: Method, body: Vec<u8>) -> ProxyRequest {
    r.method = method;
    let chunks: Vec<Result<B, crate::proxy::BoxError>> = body
        .chunks(16 * 1024)
        .map(|c| Ok(B::copy_from_slice(c)))
        .collect();
    r.body = ProxyBody::Stream(Box::pin(futures_util::stream::iter(chunks)));
    r
}

async fn body_of(r: crate::proxy::ProxyResponse) -> String {
    let mut s = r.body;
    let mut out = Vec::new();
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    String::from_utf8(out).unwrap()
}

fn hdr<'a>(r: &'a crate::proxy::ProxyResponse, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_429_with_retry_after_1_is_retried_once() {
    let (h, up) = setup("").await;
    up.script(|i, _| match i {
        0 => (429, vec![("retry-after", "1".into())], "slow down".into()),
        _ => (200, vec![], "fine".into()),
    });
    let r = h.engine.proxy(get("ck", "v1/items")).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.attempts, 2);
    assert_eq!(hdr(&r, "switchboard-attempts"), Some("2"));
    assert_eq!(hdr(&r, "switchboard-upstream-status"), Some("200"));
    assert_eq!(body_of(r).await, "fine");
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn a_503_twice_then_200_takes_three_attempts() {
    let (h, up) = setup("").await;
    up.script(|i, _| match i {
        0 | 1 => (503, vec![], "down".into()),
        _ => (200, vec![], "up".into()),
    });
    let r = h.engine.proxy(get("ck", "x")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (200, 3));
    assert_eq!(up.seen().len(), 3);
}

#[tokio::test]
async fn post_is_retried_only_with_an_idempotency_key() {
    let (h, up) = setup("").await;
    up.script(|i, _| match i {
        0 => (503, vec![], "down".into()),
        _ => (201, vec![], "made".into()),
    });
    let r = h
        .engine
        .proxy(with_body(get("ck", "things"), Method::POST, b"{}".to_vec()))
        .await
        .unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (503, 1), "not retried");
    assert_eq!(up.seen().len(), 1);
    assert_eq!(up.seen()[0].method, "POST");

    up.up.n.store(0, Ordering::SeqCst);
    let mut req = with_body(get("ck", "things"), Method::POST, b"{\"a\":1}".to_vec());
    req.headers
        .insert("idempotency-key", HeaderValue::from_static("k-1"));
    let r = h.engine.proxy(req).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (201, 2), "retried");
    let seen = up.seen();
    assert_eq!(seen[2].body_len, 7, "the buffered body is sent again");
    assert_eq!(seen[2].headers.get("idempotency-key").unwrap(), "k-1");
}

#[tokio::test]
async fn a_wait_longer_than_the_cap_answers_429_at_once() {
    let (h, up) = setup("proxy_max_wait_secs = 5").await;
    up.script(|_, _| (429, vec![("retry-after", "120".into())], "later".into()));
    let r = h.engine.proxy(get("ck", "x")).await.unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.attempts, 1);
    assert_eq!(hdr(&r, "retry-after"), Some("120"));
    assert_eq!(up.seen().len(), 1);

    // The catalog's reset header counts too, and becomes Retry-After for the caller.
    up.up.n.store(0, Ordering::SeqCst);
    up.script(|_, _| {
        (
            429,
            vec![("x-ratelimit-reset", "90".into())],
            "later".into(),
        )
    });
    let r = h.engine.proxy(get("ck", "x")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (429, 1));
    assert_eq!(hdr(&r, "retry-after"), Some("90"));
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries() {
    let (h, up) = setup("").await;
    up.script(|_, s| {
        if s.headers.get("authorization").map(String::as_str) == Some("Bearer at-old") {
            (401, vec![], "expired".into())
        } else {
            (200, vec![], "hello".into())
        }
    });
    let r = h.engine.proxy(get("co", "me")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (200, 2));
    let seen = up.seen();
    assert_eq!(seen[0].headers["authorization"], "Bearer at-old");
    assert!(seen[1].headers["authorization"].starts_with("Bearer at-"));
    assert_ne!(seen[1].headers["authorization"], "Bearer at-old");
    assert_eq!(h.stub.count("/token"), 1, "one refresh");

    // A provider that keeps saying 401 gets one refresh, and the 401 goes back.
    up.script(|_, _| (401, vec![], "no".into()));
    let before = h.stub.count("/token");
    let r = h.engine.proxy(get("co", "me")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (401, 2));
    assert_eq!(h.stub.count("/token"), before + 1);

    // API-key connections do not refresh: the 401 is passed on at once.
    let r = h.engine.proxy(get("ck", "me")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (401, 1));
}

#[tokio::test]
async fn credentials_are_injected_and_the_callers_never_reach_the_provider() {
    let (h, up) = setup("").await;
    let mut req = get("ck", "v1/items/%2Fnot-a-slash");
    req.query = Some("a=1&b=two".into());
    for (k, v) in [
        ("authorization", "Bearer sb_callerkey_secret"),
        ("cookie", "sid=caller"),
        ("connection", "x-private"),
        ("x-private", "hop"),
        ("keep-alive", "timeout=5"),
        ("te", "trailers"),
        ("proxy-authorization", "Basic eA=="),
        ("x-custom", "kept"),
    ] {
        req.headers
            .insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    let r = h.engine.proxy(req).await;
    assert!(r.is_err(), "an encoded slash is refused");

    let mut req = get("ck", "v1/items");
    req.query = Some("a=1&b=two".into());
    for (k, v) in [
        ("authorization", "Bearer sb_callerkey_secret"),
        ("cookie", "sid=caller"),
        ("connection", "x-private"),
        ("x-private", "hop"),
        ("keep-alive", "timeout=5"),
        ("te", "trailers"),
        ("proxy-authorization", "Basic eA=="),
        ("x-custom", "kept"),
    ] {
        req.headers
            .insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    let r = h.engine.proxy(req).await.unwrap();
    assert_eq!(r.status, 200);
    // Hop-by-hop and Set-Cookie from the provider are not passed back.
    assert!(r.headers.get("set-cookie").is_none());
    assert!(r.headers.get("x-hop").is_none());
    let s = &up.seen()[0];
    assert_eq!(s.path, "/api/v1/items");
    assert_eq!(s.query, "a=1&b=two");
    assert_eq!(s.headers["x-api-key"], "provider-key-1");
    assert_eq!(s.headers["x-version"], "2");
    assert_eq!(s.headers["x-custom"], "kept");
    for gone in [
        "authorization",
        "cookie",
        "x-private",
        "keep-alive",
        "te",
        "proxy-authorization",
    ] {
        assert!(!s.headers.contains_key(gone), "{gone} reached the provider");
    }
    assert!(
        !s.headers.values().any(|v| v.contains("sb_callerkey")),
        "the caller's key reached the provider"
    );

    // Query placement and basic auth.
    let mut req = get("cq", "search");
    req.query = Some("q=x&key=caller-supplied".into());
    h.engine.proxy(req).await.unwrap();
    let s = &up.seen()[1];
    let q: BTreeMap<String, String> = form_urlencoded::parse(s.query.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(q.get("key").map(String::as_str), Some("q-key"));
    assert!(!s.query.contains("caller-supplied"), "{}", s.query);
    h.engine.proxy(get("cb", "x")).await.unwrap();
    assert_eq!(
        up.seen()[2].headers["authorization"],
        super::connections::basic_plain("user", "pw")
    );
}

#[tokio::test]
async fn paths_that_leave_the_base_are_refused() {
    let (h, up) = setup("").await;
    for p in ["../admin", "a/%2e%2e/b", "a/./b", "x%2Fy", "a b", "a#b"] {
        match h.engine.proxy(get("ck", p)).await {
            Err(ProxyError::BadPath(m)) => assert!(!m.is_empty()),
            other => panic!("{p}: {other:?}"),
        }
    }
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn unknown_and_revoked_connections_are_refused() {
    let (h, up) = setup("").await;
    match h.engine.proxy(get("nope", "x")).await {
        Err(ProxyError::Engine(crate::EngineError::NotFound { .. })) => {}
        other => panic!("{other:?}"),
    }
    let mut c = conn("cr", "key", "api_key", None);
    c.provider = "key".into();
    c.status = ConnectionStatus::NeedsReauth;
    put(&h.engine, &c, json!({"api_key": "k"})).await;
    match h.engine.proxy(get("cr", "x")).await {
        Err(e @ ProxyError::Engine(crate::EngineError::ConnectionState { .. })) => {
            assert_eq!(e.code(), "needs_reauth")
        }
        other => panic!("{other:?}"),
    }
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn large_bodies_stream_once_and_the_limit_is_enforced() {
    let (h, up) = setup("proxy_max_body_bytes = 200000").await;
    up.script(|_, _| (503, vec![], "down".into()));
    // A PUT larger than the replay buffer streams, and is therefore not retried.
    let r = h
        .engine
        .proxy(with_body(
            get("ck", "blob"),
            Method::PUT,
            vec![7u8; 150_000],
        ))
        .await
        .unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (503, 1));
    assert_eq!(up.seen()[0].body_len, 150_000);
    // Past proxy_max_body_bytes: 413, whether declared up front or not.
    let mut req = with_body(get("ck", "blob"), Method::PUT, vec![1u8; 10]);
    req.headers
        .insert("content-length", HeaderValue::from_static("300000"));
    assert!(matches!(
        h.engine.proxy(req).await,
        Err(ProxyError::TooLarge { limit: 200000 })
    ));
    let e = h
        .engine
        .proxy(with_body(
            get("ck", "blob"),
            Method::PUT,
            vec![7u8; 250_000],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 413, "{e}");
}

#[tokio::test]
async fn a_bucket_of_10_per_second_holds_under_100_concurrent_callers() {
    let (h, up) = setup("").await;
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let e = h.engine.clone();
        tasks.spawn(async move { e.proxy(get("cl", "x")).await });
    }
    let (mut ok, mut rejected) = (0u64, 0u64);
    while let Some(r) = tasks.join_next().await {
        match r.unwrap() {
            Ok(r) => {
                assert_eq!(r.status, 200);
                ok += 1;
            }
            Err(e) => {
                assert_eq!(e.status(), 429);
                assert!(e.retry_after_secs().is_some_and(|s| s >= 1));
                rejected += 1;
            }
        }
    }
    // The burst, plus at most what the bucket refilled while the callers ran.
    let refilled = (started.elapsed().as_secs_f64() * 10.0).ceil() as u64;
    assert!(
        ok >= 10 && ok <= 10 + refilled,
        "ok {ok}, refilled {refilled}"
    );
    assert_eq!(ok + rejected, 100);
    assert_eq!(up.seen().len() as u64, ok, "rejected requests never left");
}

#[test]
fn buckets_on_a_fake_clock() {
    use governor::clock::FakeRelativeClock;
    let clock = FakeRelativeClock::default();
    let b = crate::proxy::limit::Buckets::with_clock(
        config::RateLimit {
            per_second: Some(10),
            burst: Some(10),
            per_connection_per_second: Some(2),
            per_connection_burst: Some(3),
            on_limit: config::OnLimit::Wait,
        },
        clock.clone(),
    );
    // Connection a: its burst of 3, then it must wait 0.5 s (2/s).
    for _ in 0..3 {
        b.admit("a").unwrap();
    }
    let wait = b.admit("a").unwrap_err();
    assert_eq!(wait, Duration::from_millis(500));
    // Others share the integration's 10 (3 used by a).
    let mut admitted = 3;
    for c in 0..20 {
        if b.admit(&format!("c{c}")).is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10);
    assert_eq!(b.admit("z").unwrap_err(), Duration::from_millis(100));
    // After a second the integration bucket has refilled 10.
    clock.advance(Duration::from_secs(1));
    let mut n = 0;
    for c in 0..20 {
        if b.admit(&format!("d{c}")).is_ok() {
            n += 1;
        }
    }
    assert_eq!(n, 10);
}

#[test]
fn retry_after_and_reset_headers() {
    let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
        Some(Duration::ZERO),
        "a past date means now"
    );
    assert_eq!(parse_retry_after("soon", now), None);
    assert_eq!(parse_retry_after("-1", now), None);
    use catalog::ResetFormat as F;
    let unix = now.timestamp();
    assert_eq!(
        parse_reset(&(unix + 12).to_string(), F::UnixSeconds, now),
        Some(Duration::from_secs(12))
    );
    assert_eq!(
        parse_reset(&((unix + 2) * 1000).to_string(), F::UnixMillis, now),
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        parse_reset("3", F::DeltaSeconds, now),
        Some(Duration::from_secs(3))
    );
    assert_eq!(
        parse_reset("1500", F::DeltaMillis, now),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(
        parse_reset("2015-10-21T07:28:05Z", F::Rfc3339, now),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        parse_reset("Wed, 21 Oct 2015 07:28:04 GMT", F::HttpDate, now),
        Some(Duration::from_secs(4))
    );
    assert_eq!(parse_reset("x", F::DeltaSeconds, now), None);
}

#[test]
fn redacted_queries_keep_names_only() {
    let redact: Vec<String> = ["api_key", "token", "signature"].map(String::from).into();
    assert_eq!(
        redact_query("q=cats&api_key=SECRET&Token=abc&page=2&signature", &redact),
        "q=cats&api_key=[redacted]&Token=[redacted]&page=2&signature"
    );
    assert_eq!(
        redact_query("api%5Fkey=SECRET", &redact),
        "api%5Fkey=[redacted]"
    );
}

#[test]
fn method_retryability() {
    let h = HeaderMap::new();
    for m in [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
    ] {
        assert!(crate::proxy::retryable_method(&m, &h), "{m}");
    }
    for m in [Method::POST, Method::PATCH] {
        assert!(!crate::proxy::retryable_method(&m, &h), "{m}");
    }
    let mut k = HeaderMap::new();
    k.insert("idempotency-key", HeaderValue::from_static("1"));
    assert!(crate::proxy::retryable_method(&Method::POST, &k));
}

#[tokio::test]
async fn cached_credentials_expire_within_a_second() {
    let (h, up) = setup("").await;
    h.engine.proxy(get("ck", "x")).await.unwrap();
    // Another process disconnects the connection (simulated by writing the row).
    let mut c = conn("ck", "key", "api_key", None);
    c.provider = "key".into();
    c.status = ConnectionStatus::Revoked;
    put(&h.engine, &c, json!({"api_key": "provider-key-1"})).await;
    tokio::time::sleep(crate::proxy::cache_ttl() + Duration::from_millis(50)).await;
    match h.engine.proxy(get("ck", "x")).await {
        Err(e) => assert_eq!(e.code(), "revoked"),
        Ok(r) => panic!("still proxied after the cache lifetime: {}", r.status),
    }
    assert_eq!(up.seen().len(), 1);
}
