//! The API proxy against a local upstream with fault injection: retries and their limits,
//! refresh on 401, credentials injected and the caller's stripped, path checks, body
//! limits, token buckets (also on a manual clock), and the pure helpers.

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
use super::on_clock;
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
    // A script can make the answer late with this pseudo-header.
    if let Some((_, ms)) = hdrs.iter().find(|(k, _)| *k == "x-test-delay-ms") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
    }
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
    let (mut h, up) = setup("").await;
    let clock = crate::ManualClock::new();
    h.engine = h.engine.with_clock(clock.clone());
    up.script(|i, _| match i {
        0 => (429, vec![("retry-after", "1".into())], "slow down".into()),
        _ => (200, vec![], "fine".into()),
    });
    let e = h.engine.clone();
    let task = tokio::spawn(async move { e.proxy(get("ck", "v1/items")).await });
    // The proxy waits the second the provider asked for, on the engine's clock.
    clock.until_sleeping(1).await;
    assert_eq!(up.seen().len(), 1);
    assert!(!task.is_finished());
    clock.advance(Duration::from_secs(1));
    let r = task.await.unwrap().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.attempts, 2);
    assert_eq!(hdr(&r, "switchboard-attempts"), Some("2"));
    assert_eq!(hdr(&r, "switchboard-upstream-status"), Some("200"));
    assert_eq!(body_of(r).await, "fine");
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn a_503_twice_then_200_takes_three_attempts() {
    let (mut h, up) = setup("").await;
    let clock = crate::ManualClock::new();
    h.engine = h.engine.with_clock(clock.clone());
    up.script(|i, _| match i {
        0 | 1 => (503, vec![], "down".into()),
        _ => (200, vec![], "up".into()),
    });
    // The back-offs (at most 100 ms, then 200 ms) are on the engine's clock.
    let r = on_clock(
        &clock,
        Duration::from_millis(200),
        h.engine.proxy(get("ck", "x")),
    )
    .await
    .unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (200, 3));
    assert_eq!(up.seen().len(), 3);
    assert_eq!(clock.sleeps_started(), 2, "a back-off after each 503");
}

#[tokio::test]
async fn post_is_retried_only_with_an_idempotency_key() {
    let (mut h, up) = setup("").await;
    let clock = crate::ManualClock::new();
    h.engine = h.engine.with_clock(clock.clone());
    let step = Duration::from_millis(100);
    up.script(|i, _| match i {
        0 => (503, vec![], "down".into()),
        _ => (201, vec![], "made".into()),
    });
    let req = with_body(get("ck", "things"), Method::POST, b"{}".to_vec());
    let r = on_clock(&clock, step, h.engine.proxy(req)).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (503, 1), "not retried");
    assert_eq!(clock.sleeps_started(), 0, "no back-off either");
    assert_eq!(up.seen().len(), 1);
    assert_eq!(up.seen()[0].method, "POST");

    up.up.n.store(0, Ordering::SeqCst);
    let mut req = with_body(get("ck", "things"), Method::POST, b"{\"a\":1}".to_vec());
    req.headers
        .insert("idempotency-key", HeaderValue::from_static("k-1"));
    let r = on_clock(&clock, step, h.engine.proxy(req)).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (201, 2), "retried");
    assert_eq!(clock.sleeps_started(), 1, "after a back-off");
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
fn buckets_on_a_manual_clock() {
    let clock = crate::ManualClock::new();
    let b = crate::proxy::limit::Buckets::with_clock(
        config::RateLimit {
            per_second: Some(10),
            burst: Some(10),
            per_connection_per_second: Some(2),
            per_connection_burst: Some(3),
            on_limit: config::OnLimit::Wait,
        },
        clock.clock(),
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
    let (mut h, up) = setup("").await;
    let clock = crate::ManualClock::new();
    h.engine = h.engine.with_clock(clock.clone());
    h.engine.proxy(get("ck", "x")).await.unwrap();
    // Another process disconnects the connection (simulated by writing the row).
    let mut c = conn("ck", "key", "api_key", None);
    c.provider = "key".into();
    c.status = ConnectionStatus::Revoked;
    put(&h.engine, &c, json!({"api_key": "provider-key-1"})).await;
    // Until the entry is a second old this process still uses it...
    clock.advance(crate::proxy::cache_ttl() - Duration::from_millis(1));
    h.engine.proxy(get("ck", "x")).await.unwrap();
    assert_eq!(up.seen().len(), 2, "served from the cache");
    // ...and not from then on.
    clock.advance(Duration::from_millis(1));
    match h.engine.proxy(get("ck", "x")).await {
        Err(e) => assert_eq!(e.code(), "revoked"),
        Ok(r) => panic!("still proxied after the cache lifetime: {}", r.status),
    }
    assert_eq!(up.seen().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Error paths, cache invalidation and the smaller branches
// ---------------------------------------------------------------------------------------

/// A harness over `providers` and `integrations` (the token stub as usual).
async fn harness_for(providers: Vec<catalog::Provider>, its: &str, top: &str) -> H {
    let stub = Stub::start(default_route).await;
    harness_with(stub, providers, its, top).await
}

/// An API-key connection `id` of integration (and provider) `it`.
async fn key_conn(h: &H, id: &str, it: &str) {
    let mut c = conn(id, it, "api_key", None);
    c.provider = it.into();
    put(&h.engine, &c, json!({"api_key": "k"})).await;
}

/// An address where nothing listens.
async fn closed_port() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// A raw HTTP server that answers every connection with `head` + `body`, then stalls
/// for `stall` before closing (a body shorter than its Content-Length breaks off).
async fn raw_upstream(
    answer: &'static str,
    stall: Duration,
) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.flush().await;
                tokio::time::sleep(stall).await;
            });
        }
    });
    (base, task)
}

fn post(id: &str, path: &str) -> ProxyRequest {
    with_body(get(id, path), Method::POST, b"{\"n\":1}".to_vec())
}

#[tokio::test]
async fn a_refused_connection_is_not_retried_for_a_post_but_is_for_a_get() {
    let dead = closed_port().await;
    let h = harness_for(
        vec![plain_provider(
            "dead",
            &dead,
            "api_key",
            json!({"api_key": {"header": "X-Api-Key"}, "verify": null}),
        )],
        &integration("dead", "dead", ""),
        "proxy_max_wait_secs = 1",
    )
    .await;
    let mut h = h;
    let clock = crate::ManualClock::new();
    h.engine = h.engine.with_clock(clock.clone());
    // Each back-off moves the engine's clock by the whole budget.
    let step = Duration::from_secs(1);
    key_conn(&h, "cd", "dead").await;
    let e = on_clock(&clock, step, h.engine.proxy(post("cd", "things")))
        .await
        .unwrap_err();
    assert!(matches!(e, ProxyError::Upstream(_)), "{e:?}");
    assert_eq!((e.status(), e.code()), (502, "upstream_unreachable"));
    assert_eq!(e.retry_after_secs(), None);
    assert_eq!(clock.sleeps_started(), 0, "a POST is not retried");
    // A GET is retried with backoff within proxy_max_wait_secs, then fails the same way.
    let e = on_clock(&clock, step, h.engine.proxy(get("cd", "things")))
        .await
        .unwrap_err();
    assert_eq!(e.status(), 502, "{e}");
    assert!(
        clock.sleeps_started() >= 1,
        "a GET is retried after a back-off"
    );
    // Nothing in the message but the failure (no key, no query).
    assert!(!e.to_string().contains("X-Api-Key"), "{e}");
}

#[tokio::test]
async fn a_provider_slower_than_outbound_timeout_is_a_504() {
    let (h, up) = setup("outbound_timeout_secs = 1").await;
    up.script(|_, _| (200, vec![("x-test-delay-ms", "2500".into())], "late".into()));
    let e = h.engine.proxy(get("ck", "slow")).await.unwrap_err();
    assert!(matches!(e, ProxyError::Timeout), "{e:?}");
    assert_eq!((e.status(), e.code()), (504, "upstream_timeout"));
}

#[tokio::test]
async fn a_response_that_breaks_off_ends_the_stream_with_an_error() {
    let (base, _task) = raw_upstream(
        "HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-type: text/plain\r\n\r\nonly this",
        Duration::ZERO,
    )
    .await;
    let h = harness_for(
        vec![plain_provider(
            "raw",
            &base,
            "api_key",
            json!({"api_key": {"header": "X-K"}, "verify": null}),
        )],
        &integration("raw", "raw", ""),
        "",
    )
    .await;
    key_conn(&h, "cr", "raw").await;
    let r = h.engine.proxy(get("cr", "x")).await.unwrap();
    assert_eq!(r.status, 200);
    let mut s = r.body;
    let mut got = Vec::new();
    let err = loop {
        match s.next().await {
            Some(Ok(b)) => got.extend_from_slice(&b),
            Some(Err(e)) => break e.to_string(),
            None => panic!("the stream ended cleanly after {got:?}"),
        }
    };
    assert!(err.contains("broke off"), "{err}");
    assert!(s.next().await.is_none(), "nothing after the error");
}

#[tokio::test]
async fn a_response_that_stalls_ends_the_stream_after_outbound_timeout() {
    let (base, _task) = raw_upstream(
        "HTTP/1.1 200 OK\r\ncontent-length: 100\r\ncontent-type: text/plain\r\n\r\npart",
        Duration::from_secs(5),
    )
    .await;
    let h = harness_for(
        vec![plain_provider(
            "raw",
            &base,
            "api_key",
            json!({"api_key": {"header": "X-K"}, "verify": null}),
        )],
        &integration("raw", "raw", ""),
        "outbound_timeout_secs = 1",
    )
    .await;
    key_conn(&h, "cr", "raw").await;
    let r = h.engine.proxy(get("cr", "x")).await.unwrap();
    let mut s = r.body;
    let err = loop {
        match s.next().await {
            Some(Ok(_)) => {}
            Some(Err(e)) => break e.to_string(),
            None => panic!("the stream ended cleanly"),
        }
    };
    assert!(err.contains("outbound_timeout_secs"), "{err}");
}

#[tokio::test]
async fn a_broken_request_body_is_a_400_and_nothing_is_sent() {
    let (h, up) = setup("").await;
    for (msg, want) in [
        ("socket closed", "socket closed"),
        ("length limit exceeded", "larger than the server accepts"),
    ] {
        let mut req = get("ck", "upload");
        req.method = Method::PUT;
        let chunks: Vec<Result<B, crate::proxy::BoxError>> = vec![
            Ok(B::from_static(b"start")),
            Err(Box::new(std::io::Error::other(msg))),
        ];
        req.body = ProxyBody::Stream(Box::pin(futures_util::stream::iter(chunks)));
        let e = h.engine.proxy(req).await.unwrap_err();
        assert!(matches!(e, ProxyError::Body(_)), "{e:?}");
        assert_eq!((e.status(), e.code()), (400, "invalid_request"));
        assert!(e.to_string().contains(want), "{e}");
    }
    assert!(up.seen().is_empty());
}

#[tokio::test]
async fn small_bodies_in_many_chunks_are_joined_and_empty_streams_send_nothing() {
    let (h, up) = setup("").await;
    up.script(|i, _| match i {
        0 => (503, vec![("retry-after", "0".into())], "again".into()),
        _ => (200, vec![], "ok".into()),
    });
    let mut req = get("ck", "put");
    req.method = Method::PUT;
    let chunks: Vec<Result<B, crate::proxy::BoxError>> =
        (0..10).map(|_| Ok(B::from_static(b"0123456789"))).collect();
    req.body = ProxyBody::Stream(Box::pin(futures_util::stream::iter(chunks)));
    let r = h.engine.proxy(req).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (200, 2));
    let seen = up.seen();
    assert_eq!(
        (seen[0].body_len, seen[1].body_len),
        (100, 100),
        "sent twice, whole"
    );

    let mut req = get("ck", "put");
    req.method = Method::PUT;
    req.body = ProxyBody::Stream(Box::pin(futures_util::stream::empty()));
    let r = h.engine.proxy(req).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(up.seen()[2].body_len, 0);
    assert_eq!(format!("{:?}", ProxyBody::Empty), "Empty");
    let s = ProxyBody::Stream(Box::pin(futures_util::stream::empty()));
    assert_eq!(format!("{s:?}"), "Stream");
    let r = h.engine.proxy(get("ck", "x")).await.unwrap();
    let d = format!("{r:?}");
    assert!(d.contains("ProxyResponse") && d.contains("attempts"), "{d}");
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured_both_ways() {
    let (mut h, up) = setup("proxy_max_wait_secs = 5").await;
    // On a whole second, so that an HTTP date (whole seconds) names an exact delay.
    let start = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap();
    let clock = crate::ManualClock::starting_at(start);
    h.engine = h.engine.with_clock(clock.clone());
    // A date a second ahead: waited for on the engine's clock, then retried.
    let at_clock = clock.clone();
    up.script(move |i, _| match i {
        0 => {
            let at = at_clock.now() + chrono::Duration::seconds(1);
            (
                503,
                vec![(
                    "retry-after",
                    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
                )],
                "busy".into(),
            )
        }
        _ => (200, vec![], "ok".into()),
    });
    let e = h.engine.clone();
    let task = tokio::spawn(async move { e.proxy(get("ck", "x")).await });
    clock.until_sleeping(1).await;
    assert_eq!(up.seen().len(), 1);
    assert!(!task.is_finished());
    clock.advance(Duration::from_secs(1));
    let r = task.await.unwrap().unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (200, 2));

    // A date an hour ahead: beyond the budget, so the provider's answer comes back at
    // once with its own Retry-After.
    up.up.n.store(0, Ordering::SeqCst);
    let sleeps = clock.sleeps_started();
    let far = (clock.now() + chrono::Duration::hours(1))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let sent = far.clone();
    up.script(move |_, _| (429, vec![("retry-after", sent.clone())], "later".into()));
    let r = on_clock(
        &clock,
        Duration::from_secs(1),
        h.engine.proxy(get("ck", "x")),
    )
    .await
    .unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (429, 1));
    assert_eq!(hdr(&r, "retry-after"), Some(far.as_str()));
    assert_eq!(clock.sleeps_started(), sleeps, "no wait");
}

#[tokio::test]
async fn reset_headers_in_every_format_drive_the_retry() {
    use catalog::ResetFormat as F;
    let (up_base, up) = {
        let u = Upstream::start().await;
        (u.base.clone(), u)
    };
    let formats = [
        ("ds", "delta_seconds"),
        ("dm", "delta_millis"),
        ("us", "unix_seconds"),
        ("um", "unix_millis"),
        ("rf", "rfc3339"),
        ("hd", "http_date"),
    ];
    let providers: Vec<catalog::Provider> = formats
        .iter()
        .map(|(id, fmt)| {
            plain_provider(
                id,
                &up_base,
                "api_key",
                json!({
                    "api_key": {"header": "X-Api-Key"},
                    "verify": null,
                    "rate_limit": {"reset": "x-reset", "reset_format": fmt},
                }),
            )
        })
        .collect();
    let its: String = formats
        .iter()
        .map(|(id, _)| integration(id, id, ""))
        .collect();
    let mut h = harness_for(providers, &its, "proxy_max_wait_secs = 5").await;
    let clock = crate::ManualClock::new();
    h.engine = h.engine.with_clock(clock.clone());
    // The waits the headers ask for (at most 20 ms) are on the engine's clock.
    let step = Duration::from_millis(20);
    for (id, fmt) in formats {
        key_conn(&h, &format!("c{id}"), id).await;
        let f: F = serde_json::from_value(json!(fmt)).unwrap();
        let at_clock = clock.clone();
        let value = move || {
            let now = at_clock.now();
            match f {
                F::DeltaSeconds => "0".to_owned(),
                F::DeltaMillis => "20".to_owned(),
                F::UnixSeconds => now.timestamp().to_string(),
                F::UnixMillis => (now.timestamp_millis() + 20).to_string(),
                F::Rfc3339 => now.to_rfc3339(),
                F::HttpDate => now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            }
        };
        up.up.n.store(0, Ordering::SeqCst);
        up.script(move |i, _| match i {
            0 => (429, vec![("x-reset", value())], "wait".into()),
            _ => (200, vec![], "ok".into()),
        });
        let sleeps = clock.sleeps_started();
        let r = on_clock(&clock, step, h.engine.proxy(get(&format!("c{id}"), "x")))
            .await
            .unwrap();
        assert_eq!((r.status.as_u16(), r.attempts), (200, 2), "{fmt}");
        assert_eq!(clock.sleeps_started(), sleeps + 1, "{fmt}: one wait");
    }
    // An unreadable reset header: the usual backoff.
    up.up.n.store(0, Ordering::SeqCst);
    up.script(|i, _| match i {
        0 => (429, vec![("x-reset", "soon".into())], "wait".into()),
        _ => (200, vec![], "ok".into()),
    });
    let r = on_clock(
        &clock,
        Duration::from_millis(100),
        h.engine.proxy(get("cds", "x")),
    )
    .await
    .unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (200, 2));
}

#[tokio::test]
async fn retries_stop_after_eight_attempts() {
    let (h, up) = setup("proxy_max_wait_secs = 60").await;
    up.script(|_, _| (502, vec![("retry-after", "0".into())], "bad gateway".into()));
    let r = h.engine.proxy(get("ck", "x")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (502, 8));
    assert_eq!(hdr(&r, "switchboard-upstream-status"), Some("502"));
    assert_eq!(up.seen().len(), 8);
    // 504 is retried too; 500 is not.
    up.up.n.store(0, Ordering::SeqCst);
    up.script(|i, _| match i {
        0 => (504, vec![("retry-after", "0".into())], "".into()),
        _ => (500, vec![], "oops".into()),
    });
    let r = h.engine.proxy(get("ck", "x")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (500, 2));
}

#[tokio::test]
async fn a_refresh_in_this_process_replaces_the_cached_credentials_at_once() {
    let (h, up) = setup("").await;
    up.script(|_, _| (200, vec![], "ok".into()));
    h.engine.proxy(get("co", "me")).await.unwrap();
    assert_eq!(up.seen()[0].headers["authorization"], "Bearer at-old");
    assert_eq!(h.engine.inner.proxy.credentials.len(), 1, "cached");
    h.engine.force_refresh("co").await.unwrap();
    h.engine.proxy(get("co", "me")).await.unwrap();
    let now = &up.seen()[1].headers["authorization"];
    assert_ne!(now, "Bearer at-old", "the refreshed token is used at once");
    assert!(now.starts_with("Bearer at-"), "{now}");
}

#[tokio::test]
async fn a_disconnect_in_this_process_is_seen_by_the_proxy_at_once() {
    let (h, up) = setup("").await;
    h.engine.proxy(get("ck", "x")).await.unwrap();
    assert_eq!(h.engine.inner.proxy.credentials.len(), 1, "cached");
    h.engine
        .disconnect("key", "ck", &crate::Actor::System)
        .await
        .unwrap();
    // No waiting: the cache heard of the disconnect before `disconnect` returned.
    assert_eq!(h.engine.inner.proxy.credentials.len(), 0, "forgotten");
    match h.engine.proxy(get("ck", "x")).await {
        Err(e) => assert_eq!(e.code(), "revoked"),
        Ok(r) => panic!("proxied after a disconnect: {}", r.status),
    }
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn a_token_due_for_refresh_is_refreshed_before_the_request_and_not_cached() {
    let (h, up) = setup("").await;
    let mut c = conn("cs", "oauth", "oauth2", Some(10));
    c.provider = "oauth".into();
    put(
        &h.engine,
        &c,
        json!({"access_token": "at-stale", "refresh_token": "rt-stale", "token_type": "Bearer"}),
    )
    .await;
    let before = h.stub.count("/token");
    let r = h.engine.proxy(get("cs", "me")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (200, 1));
    assert_eq!(h.stub.count("/token"), before + 1, "refreshed first");
    let sent = &up.seen()[0].headers["authorization"];
    assert_ne!(sent, "Bearer at-stale");
    assert!(sent.starts_with("Bearer at-"), "{sent}");
}

#[tokio::test]
async fn a_failed_refresh_after_a_401_passes_the_401_on() {
    let (h, up) = setup("").await;
    up.script(|_, _| (401, vec![], "expired".into()));
    // A streamed (large) body is never sent twice, so a 401 is not refreshed for it.
    let before = h.stub.count("/token");
    let r = h
        .engine
        .proxy(with_body(get("co", "up"), Method::PUT, vec![1u8; 100_000]))
        .await
        .unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (401, 1));
    assert_eq!(h.stub.count("/token"), before);
    // The provider refuses the refresh: the caller gets the provider's 401...
    h.stub
        .set(|_| super::connections::Resp::json(400, json!({"error": "invalid_grant"})));
    let r = h.engine.proxy(get("co", "me")).await.unwrap();
    assert_eq!((r.status.as_u16(), r.attempts), (401, 1));
    assert_eq!(body_of(r).await, "expired");
    assert_eq!(h.stub.count("/token"), before + 1);
    // ...and the connection, now needing re-authorization, is refused at once next time
    // (the cached credentials were forgotten).
    match h.engine.proxy(get("co", "me")).await {
        Err(e) => assert_eq!(e.code(), "needs_reauth"),
        Ok(r) => panic!("proxied: {}", r.status),
    }
    assert_eq!(up.seen().len(), 2);
}

#[tokio::test]
async fn a_reload_is_seen_by_the_next_request_despite_the_cache() {
    let (h, up) = setup("").await;
    h.engine.proxy(get("ck", "x")).await.unwrap();
    assert_eq!(up.seen().len(), 1);
    // The integration is removed by a reload: the cached route is not used.
    let b = up.base.clone();
    let new = super::connections::config("", &integration("qkey", "qkey", ""));
    let _ = b;
    h.engine
        .reload_config(new, &crate::Actor::System)
        .await
        .unwrap();
    let e = h.engine.proxy(get("ck", "x")).await.unwrap_err();
    assert!(
        matches!(e, ProxyError::Engine(crate::EngineError::NotFound { .. })),
        "{e:?}"
    );
    assert_eq!(up.seen().len(), 1);
}

#[tokio::test]
async fn a_provider_without_an_api_or_with_an_unresolvable_base_is_misconfigured() {
    let mut no_api = plain_provider(
        "noapi",
        "http://x.example",
        "api_key",
        json!({"verify": null}),
    );
    no_api.api_base_url = None;
    let templated = plain_provider(
        "tpl",
        "http://x.example",
        "api_key",
        json!({
            "verify": null,
            "api_base_url": "https://{shop}.shop.example/api",
            "placeholders": {"shop": {"from": {"connection": "shop"}, "kind": "segment", "description": "d"}},
        }),
    );
    let its = format!(
        "{}{}",
        integration("noapi", "noapi", ""),
        integration("tpl", "tpl", "")
    );
    let h = harness_for(vec![no_api, templated], &its, "").await;
    key_conn(&h, "cn", "noapi").await;
    key_conn(&h, "ct", "tpl").await;
    let e = h.engine.proxy(get("cn", "x")).await.unwrap_err();
    assert!(matches!(e, ProxyError::NoApi(_)), "{e:?}");
    assert_eq!((e.status(), e.code()), (422, "misconfigured"));
    assert!(e.to_string().contains("api_base_url"), "{e}");
    let e = h.engine.proxy(get("ct", "x")).await.unwrap_err();
    assert!(matches!(e, ProxyError::BaseUrl(_)), "{e:?}");
    assert_eq!((e.status(), e.code()), (422, "misconfigured"));
    assert_eq!(
        h.engine.inner.proxy.credentials.len(),
        0,
        "failures are not cached"
    );
}

#[tokio::test]
async fn more_paths_and_queries_that_cannot_be_sent() {
    let (h, up) = setup("").await;
    for p in [
        "a\\b",
        "a?b",
        "a\tb",
        "x%5Cy",
        "%2E%2E/etc",
        "a/%2e/b",
        "/../x",
    ] {
        match h.engine.proxy(get("ck", p)).await {
            Err(e @ ProxyError::BadPath(_)) => {
                assert_eq!((e.status(), e.code()), (400, "invalid_request"))
            }
            other => panic!("{p:?}: {other:?}"),
        }
    }
    for q in ["a=1#frag", "a=1 2", "a=\u{7}"] {
        let mut req = get("ck", "ok");
        req.query = Some(q.into());
        assert!(
            matches!(h.engine.proxy(req).await, Err(ProxyError::BadPath(_))),
            "{q:?}"
        );
    }
    assert!(up.seen().is_empty());
    // Encoded characters that are not separators pass, as written; an empty query is
    // dropped.
    let mut req = get("ck", "/v1/caf%C3%A9/a%20b");
    req.query = Some(String::new());
    h.engine.proxy(req).await.unwrap();
    let s = &up.seen()[0];
    assert_eq!(
        (s.path.as_str(), s.query.as_str()),
        ("/api/v1/caf%C3%A9/a%20b", "")
    );
}

#[tokio::test]
async fn every_hop_by_hop_header_is_stripped_both_ways() {
    let mut h = HeaderMap::new();
    for (k, v) in [
        ("connection", "x-a, X-B ,keep-alive"),
        ("x-a", "1"),
        ("x-b", "2"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "close"),
        ("te", "trailers"),
        ("trailer", "x-t"),
        ("transfer-encoding", "chunked"),
        ("upgrade", "websocket"),
        ("proxy-authenticate", "Basic"),
        ("proxy-authorization", "Basic eA=="),
        ("host", "evil.example"),
        ("authorization", "Bearer sb_x"),
        ("cookie", "a=b"),
        ("expect", "100-continue"),
        ("set-cookie", "s=1"),
        ("x-kept", "yes"),
    ] {
        h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    h.append("connection", HeaderValue::from_static("x-c"));
    h.append("x-c", HeaderValue::from_static("3"));
    let out = crate::proxy::outgoing_headers(h.clone());
    let mut names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["set-cookie", "x-kept"]);
    let back = crate::proxy::incoming_headers(h);
    let mut names: Vec<&str> = back.keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["authorization", "cookie", "expect", "x-kept"]);
}

#[tokio::test]
async fn waiting_for_the_bucket_admits_late_and_a_short_budget_refuses() {
    let p = |id: &str, base: &str| {
        plain_provider(
            id,
            base,
            "api_key",
            json!({"api_key": {"header": "X-Api-Key"}, "verify": null}),
        )
    };
    let up = Upstream::start().await;
    let its = format!(
        "{}{}",
        integration(
            "wait",
            "w",
            "rate_limit = { per_second = 10, burst = 1, on_limit = \"wait\" }"
        ),
        integration(
            "slow",
            "w",
            "rate_limit = { per_second = 1, burst = 1, on_limit = \"wait\" }"
        ),
    );
    let mut h = harness_for(vec![p("w", &up.base)], &its, "proxy_max_wait_secs = 0").await;
    // The buckets and the wait for them are on the engine's clock.
    let clock = crate::ManualClock::new();
    h.engine = h.engine.with_clock(clock.clone());
    for (id, it) in [("cw", "wait"), ("cs", "slow")] {
        let mut c = conn(id, it, "api_key", None);
        c.provider = "w".into();
        put(&h.engine, &c, json!({"api_key": "k"})).await;
    }
    // With no budget at all, the second request of the burst is refused.
    h.engine.proxy(get("cs", "x")).await.unwrap();
    let e = h.engine.proxy(get("cs", "x")).await.unwrap_err();
    assert_eq!((e.status(), e.retry_after_secs()), (429, Some(1)));
    assert_eq!(clock.sleeps_started(), 0, "refused without waiting");
    assert!(e.to_string().contains("\"slow\""), "{e}");

    let its2 = format!(
        "{}{}",
        integration(
            "wait",
            "w",
            "rate_limit = { per_second = 10, burst = 1, on_limit = \"wait\" }"
        ),
        integration(
            "slow",
            "w",
            "rate_limit = { per_second = 1, burst = 1, on_limit = \"wait\" }"
        ),
    );
    h.engine
        .reload_config(
            super::connections::config("proxy_max_wait_secs = 5", &its2),
            &crate::Actor::System,
        )
        .await
        .unwrap();
    // 10/s with a burst of 1: the second request waits 100 ms, then goes.
    h.engine.proxy(get("cw", "x")).await.unwrap();
    let e = h.engine.clone();
    let second = tokio::spawn(async move { e.proxy(get("cw", "x")).await });
    clock.until_sleeping(1).await;
    assert_eq!(up.seen().len(), 2, "the second waits");
    clock.advance(Duration::from_millis(100));
    let r = second.await.unwrap().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(up.seen().len(), 3);
}

#[tokio::test]
async fn credentials_fall_back_when_fields_are_missing() {
    let (h, up) = setup("").await;
    // Basic without a stored username uses the provider's default (none here: empty).
    let mut c = conn("cb2", "basic", "basic", None);
    c.provider = "basic".into();
    put(&h.engine, &c, json!({"password": "pw"})).await;
    // An API-key connection without a key, and an OAuth one without a token: nothing
    // is added (the provider answers as it does without credentials).
    let mut c = conn("ck2", "key", "api_key", None);
    c.provider = "key".into();
    put(&h.engine, &c, json!({})).await;
    let mut c = conn("co2", "oauth", "oauth2", None);
    c.provider = "oauth".into();
    put(&h.engine, &c, json!({"token_type": "Bearer"})).await;
    for id in ["cb2", "ck2", "co2"] {
        h.engine.proxy(get(id, "x")).await.unwrap();
    }
    let seen = up.seen();
    assert_eq!(
        seen[0].headers["authorization"],
        super::connections::basic_plain("", "pw")
    );
    assert!(!seen[1].headers.contains_key("x-api-key"));
    assert!(!seen[2].headers.contains_key("authorization"));
}

#[test]
fn the_credential_cache_is_bounded_and_fenced() {
    use crate::proxy::cache::{CredentialCache, Entry, MAX, Route};
    let route = Arc::new(Route {
        config: Arc::new(super::test_config()),
        ctx: crate::connections::context::Ctx {
            integration: super::connections::config("", &integration("i", "p", "")).integrations[0]
                .clone(),
            provider: plain_provider("p", "http://x.example", "api_key", json!({})),
        },
        base: "http://x.example/api".into(),
        base_url: url::Url::parse("http://x.example/api").unwrap(),
        api_headers: HeaderMap::new(),
        api_query: Vec::new(),
        credential_param: None,
    });
    let entry = |id: &str| {
        Arc::new(Entry {
            conn: conn(id, "i", "api_key", None),
            creds: Arc::default(),
            route: route.clone(),
        })
    };
    let cache = CredentialCache::default();
    let now = crate::ManualClock::new().instant();
    for i in 0..MAX {
        cache.put(entry(&format!("c{i}")), cache.epoch(), now);
    }
    assert_eq!(cache.len(), MAX);
    // Replacing an entry does not empty the cache; a new one past the bound does.
    cache.put(entry("c0"), cache.epoch(), now);
    assert_eq!(cache.len(), MAX);
    cache.put(entry("new"), cache.epoch(), now);
    assert_eq!(cache.len(), 1);
    assert!(cache.get("new", now).is_some());
    // A load that raced with a forget does not put stale credentials back.
    let before = cache.epoch();
    cache.forget("other");
    cache.put(entry("late"), before, now);
    assert!(cache.get("late", now).is_none());
    // Told of changes (this process's, or another's through the store's change feed):
    // one connection, then all of them (a Resync), fencing out loads in flight.
    use crate::changes::ConnectionWatcher;
    cache.put(entry("a"), cache.epoch(), now);
    cache.put(entry("b"), cache.epoch(), now);
    cache.connection_changed("a");
    assert!(cache.get("a", now).is_none() && cache.get("b", now).is_some());
    let before = cache.epoch();
    cache.all_changed();
    assert_eq!(cache.len(), 0);
    cache.put(entry("a"), before, now);
    assert!(cache.get("a", now).is_none());
    assert!(format!("{cache:?}").starts_with("CredentialCache"));
}

#[test]
fn proxy_errors_map_to_statuses_and_codes() {
    let cases: Vec<(ProxyError, u16, &str)> = vec![
        (ProxyError::BadPath("p".into()), 400, "invalid_request"),
        (ProxyError::Body("b".into()), 400, "invalid_request"),
        (ProxyError::NoApi("p".into()), 422, "misconfigured"),
        (ProxyError::BaseUrl("u".into()), 422, "misconfigured"),
        (ProxyError::TooLarge { limit: 5 }, 413, "payload_too_large"),
        (
            ProxyError::RateLimited {
                integration: "i".into(),
                retry_after_secs: 3,
            },
            429,
            "rate_limited",
        ),
        (ProxyError::Timeout, 504, "upstream_timeout"),
        (
            ProxyError::Engine(crate::EngineError::NotFound {
                what: "connection",
                id: "c".into(),
            }),
            0,
            "not_found",
        ),
    ];
    for (e, status, code) in cases {
        assert_eq!((e.status(), e.code()), (status, code), "{e:?}");
        assert_eq!(
            e.retry_after_secs(),
            matches!(e, ProxyError::RateLimited { .. }).then_some(3)
        );
        assert!(!e.to_string().is_empty());
    }
    assert_eq!(crate::proxy::cache_ttl(), Duration::from_secs(1));
}

/// Collects the fields of `switchboard::proxy` events, one string per event.
#[derive(Default, Clone)]
struct Lines(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push_str(&format!("{}={} ", field.name(), value));
    }
}

impl tracing::Subscriber for Lines {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        if e.metadata().target() == "switchboard::proxy" {
            let mut f = Fields(String::new());
            e.record(&mut f);
            self.0.lock().unwrap().push(f.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn the_request_log_has_the_outcome_and_never_a_credential() {
    let (h, _up) = setup("proxy_max_body_bytes = 1024").await;
    let lines = Lines::default();
    let _guard = tracing::subscriber::set_default(lines.clone());
    let mut req = get("cq", "/search");
    req.query = Some("q=cats&key=SECRET-QUERY&page=2".into());
    h.engine.proxy(req).await.unwrap();
    h.engine.proxy(get("nope", "x")).await.unwrap_err();
    // A body over proxy_max_body_bytes but under the replay buffer, without a
    // Content-Length: refused once it has been read.
    let e = h
        .engine
        .proxy(with_body(get("ck", "x"), Method::POST, vec![0u8; 2000]))
        .await
        .unwrap_err();
    assert!(matches!(e, ProxyError::TooLarge { limit: 1024 }), "{e:?}");
    let lines = lines.0.lock().unwrap().clone();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let ok = &lines[0];
    for want in [
        "method=GET",
        "integration=qkey",
        "connection=cq",
        "path=/search",
        "query=q=cats&key=[redacted]&page=2",
        "status=200",
        "attempts=1",
        "proxied",
    ] {
        assert!(ok.contains(want), "{want} in {ok}");
    }
    assert!(lines[1].contains("integration=-") && lines[1].contains("status=error"));
    assert!(lines[2].contains("integration=key") && lines[2].contains("status=413"));
    for l in &lines {
        for secret in ["SECRET-QUERY", "q-key", "provider-key-1"] {
            assert!(!l.contains(secret), "{secret} logged: {l}");
        }
    }
}
