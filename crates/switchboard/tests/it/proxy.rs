//! The API proxy end to end: the real binary (`serve --dev`) in front of a local upstream
//! (axum on 127.0.0.1, in this process) with fault injection, and in front of the
//! `oidc-provider` peer, whose userinfo endpoint (`/me`) serves as the API for the
//! refresh-on-401 case.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{self, Server};
use crate::oidc::{OidcPeer, browse_until};

/// One request the upstream saw: method, path, headers.
type SeenRequest = (String, String, BTreeMap<String, String>);

/// What the upstream saw, by path: the headers of each request.
#[derive(Clone, Default)]
struct Upstream {
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
    total: Arc<AtomicUsize>,
}

impl Upstream {
    fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

const BIG: usize = 100 * 1024 * 1024;

async fn upstream_handler(
    State(u): State<Upstream>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let path = uri.path().to_owned();
    u.seen.lock().unwrap().push((
        method.to_string(),
        path.clone(),
        headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
    ));
    u.total.fetch_add(1, Ordering::SeqCst);
    let n = {
        let mut c = u.counts.lock().unwrap();
        let e = c.entry(path.clone()).or_default();
        *e += 1;
        *e
    };
    let b = axum::response::Response::builder();
    let text = |status: u16, body: &str| {
        axum::response::Response::builder()
            .status(status)
            .header("content-type", "text/plain")
            .body(axum::body::Body::from(body.to_owned()))
            .unwrap()
    };
    match path.as_str() {
        "/token" => b
            .status(200)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                json!({"access_token": "upstream-issued-token", "token_type": "Bearer", "expires_in": 3600})
                    .to_string(),
            ))
            .unwrap(),
        "/api/flaky429" if n == 1 => b
            .status(429)
            .header("retry-after", "1")
            .body(axum::body::Body::from("slow down"))
            .unwrap(),
        "/api/flaky503" | "/api/always503" if n <= 2 || path == "/api/always503" => {
            text(503, "unavailable")
        }
        "/api/slow429" => b
            .status(429)
            .header("retry-after", "120")
            .body(axum::body::Body::from("come back in two minutes"))
            .unwrap(),
        "/api/big" => {
            let chunk = bytes_chunk();
            let stream = futures_stream(chunk, BIG / (64 * 1024));
            b.status(200)
                .header("content-type", "application/octet-stream")
                .header("content-length", BIG.to_string())
                .body(axum::body::Body::from_stream(stream))
                .unwrap()
        }
        _ => text(200, "ok"),
    }
}

fn bytes_chunk() -> axum::body::Bytes {
    axum::body::Bytes::from(vec![b'x'; 64 * 1024])
}

/// `count` copies of `chunk`, as a stream that yields between chunks.
fn futures_stream(
    chunk: axum::body::Bytes,
    count: usize,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        for _ in 0..count {
            if tx.send(Ok(chunk.clone())).await.is_err() {
                return;
            }
        }
    });
    tokio_stream_of(rx)
}

fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn start_upstream() -> (String, Upstream) {
    let u = Upstream::default();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(upstream_handler)
        .with_state(u.clone());
    tokio::spawn(async move { axum::serve(l, app).await });
    (base, u)
}

fn config(up: &str) -> String {
    format!(
        r#"
[[providers]]
id = "local"
auth_mode = "client_credentials"
token_url = "{up}/token"
api_base_url = "{up}/api"

[[integrations]]
id = "local"
provider = "local"
client_id = "local-client"
client_secret = "env:LOCAL_CLIENT_SECRET"

[[integrations]]
id = "bucket"
provider = "local"
client_id = "local-client"
client_secret = "env:LOCAL_CLIENT_SECRET"
rate_limit = {{ per_second = 10, burst = 10, on_limit = "reject" }}
"#
    )
}

struct Api<'a> {
    server: &'a Server,
    key: String,
}

impl Api<'_> {
    async fn connect(&self, integration: &str, id: &str) {
        let r = self
            .server
            .http()
            .post(self.server.url("/api/connections"))
            .bearer_auth(&self.key)
            .json(&json!({"integration": integration, "connection_id": id, "end_user_id": "u1"}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert!(status.is_success(), "{status} {}", r.text().await.unwrap());
    }

    fn proxy(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.server
            .http()
            .request(method, self.server.url(&format!("/api/proxy/{path}")))
            .bearer_auth(&self.key)
            .timeout(Duration::from_secs(120))
    }
}

async fn local_server(dir: &std::path::Path) -> Server {
    Server::start(
        dir,
        &["--dev"],
        &[("LOCAL_CLIENT_SECRET", "local-secret-value")],
    )
    .await
}

#[tokio::test]
async fn proxy_retries_refuses_and_strips_against_a_faulty_upstream() {
    let (up, upstream) = start_upstream().await;
    let dir = harness::sandbox();
    std::fs::write(dir.path().join("switchboard.toml"), config(&up)).unwrap();
    let server = local_server(dir.path()).await;
    let api = Api {
        key: server.printed_admin_key(),
        server: &server,
    };
    let boot = format!("{}{}", server.stdout(), server.stderr());
    api.connect("local", "c1").await;
    api.connect("bucket", "c2").await;

    // 429 + Retry-After: 1, then 200: two attempts.
    let r = api
        .proxy(reqwest::Method::GET, "c1/flaky429")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["switchboard-attempts"], "2");
    assert_eq!(r.headers()["switchboard-upstream-status"], "200");
    assert_eq!(upstream.count("/api/flaky429"), 2);

    // 503 twice, then 200: three attempts.
    let r = api
        .proxy(reqwest::Method::GET, "c1/flaky503")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["switchboard-attempts"], "3");
    assert_eq!(upstream.count("/api/flaky503"), 3);

    // A POST without Idempotency-Key is not retried; with one, it is.
    let r = api
        .proxy(reqwest::Method::POST, "c1/always503")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["switchboard-attempts"], "1");
    assert_eq!(
        r.text().await.unwrap(),
        "unavailable",
        "the provider's body"
    );
    assert_eq!(upstream.count("/api/always503"), 1);

    // A wait longer than the cap: the provider's 429 with its Retry-After, at once.
    let r = api
        .proxy(reqwest::Method::GET, "c1/slow429")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "120");
    assert_eq!(r.headers()["switchboard-attempts"], "1");
    assert_eq!(upstream.count("/api/slow429"), 1);

    // The caller's key and cookies never reach the upstream; the connection's token does.
    let r = api
        .proxy(reqwest::Method::GET, "c1/echo?x=1")
        .header("cookie", "session=caller")
        .header("connection", "x-secret-hop")
        .header("x-secret-hop", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen = upstream.seen.lock().unwrap().clone();
    for (_, path, headers) in &seen {
        let all = format!("{headers:?}");
        assert!(!all.contains(&api.key), "the caller's key reached {path}");
        assert!(!headers.contains_key("cookie"), "{path}");
        assert!(!headers.contains_key("x-secret-hop"), "{path}");
    }
    let echo = seen.iter().find(|(_, p, _)| p == "/api/echo").unwrap();
    assert_eq!(echo.2["authorization"], "Bearer upstream-issued-token");

    // A bucket of 10/s (burst 10, reject) under 100 concurrent callers.
    let before = upstream.count("/api/limited");
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let req = api.proxy(reqwest::Method::GET, "c2/limited");
        tasks.spawn(async move { req.send().await.unwrap() });
    }
    let (mut ok, mut limited) = (0u64, 0u64);
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        match r.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let secs: u64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(secs >= 1);
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["error"]["code"], "rate_limited");
                limited += 1;
            }
            other => panic!("{other}"),
        }
    }
    let refilled = (started.elapsed().as_secs_f64() * 10.0).ceil() as u64;
    assert_eq!(ok + limited, 100);
    assert!(
        ok >= 10 && ok <= 10 + refilled,
        "ok {ok}, refilled {refilled}"
    );
    assert_eq!(
        (upstream.count("/api/limited") - before) as u64,
        ok,
        "refused requests never reach the upstream"
    );

    // Metrics by integration and status; no token in the log.
    let m = server.get("/metrics", None).await.text().await.unwrap();
    assert!(
        m.contains("switchboard_proxy_requests_total{integration=\"local\",status=\"200\"}"),
        "{m}"
    );
    assert!(m.contains("switchboard_proxy_retries_total{integration=\"local\",reason=\"429\"}"));
    let logs = format!("{}{}", server.stdout(), server.stderr());
    assert!(logs.contains("proxied"), "a request log line");
    assert!(
        logs.contains("connection=c1"),
        "the log names the connection"
    );
    assert!(!logs.contains("upstream-issued-token"));
    assert_eq!(
        logs.matches(api.key.as_str()).count(),
        boot.matches(api.key.as_str()).count(),
        "the caller's key is not logged (beyond its one-time print at start-up)"
    );
}

fn vm_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_100_mib_download_streams_with_flat_memory() {
    let (up, _upstream) = start_upstream().await;
    let dir = harness::sandbox();
    std::fs::write(dir.path().join("switchboard.toml"), config(&up)).unwrap();
    let server = local_server(dir.path()).await;
    let api = Api {
        key: server.printed_admin_key(),
        server: &server,
    };
    api.connect("local", "c1").await;
    // Warm up (connection pools, TLS-free client, allocator arenas).
    for _ in 0..3 {
        let r = api
            .proxy(reqwest::Method::GET, "c1/echo")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let pid = server.pid();
    let (rss0, hwm0) = (vm_kib(pid, "VmRSS:"), vm_kib(pid, "VmHWM:"));
    let mut r = api
        .proxy(reqwest::Method::GET, "c1/big")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_length(), Some(BIG as u64));
    let mut total = 0usize;
    while let Some(chunk) = r.chunk().await.unwrap() {
        assert!(chunk.iter().all(|b| *b == b'x'));
        total += chunk.len();
    }
    assert_eq!(total, BIG);
    let (rss1, hwm1) = (vm_kib(pid, "VmRSS:"), vm_kib(pid, "VmHWM:"));
    let grew = hwm1.saturating_sub(hwm0).max(rss1.saturating_sub(rss0));
    eprintln!("proxy 100 MiB download: server RSS {rss0} -> {rss1} KiB, peak {hwm0} -> {hwm1} KiB");
    assert!(
        grew < 32 * 1024,
        "server memory grew by {grew} KiB for a 100 MiB download (RSS {rss0}->{rss1}, peak {hwm0}->{hwm1})"
    );
}

const CLIENT_ID: &str = "switchboard";
const CLIENT_SECRET: &str = "peer-client-secret-for-tests";
const APP_ORIGIN: &str = "http://127.0.0.1:9";

#[tokio::test]
async fn a_401_from_the_provider_refreshes_and_retries_against_oidc_provider() {
    let peer = OidcPeer::start_with(
        json!([{
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/api/integrations/acme/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid profile email offline_access api:read",
        }]),
        &[],
    );
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            r#"
[[providers]]
id = "acme"
issuer = "{issuer}"
api_base_url = "{issuer}"

[[integrations]]
id = "acme"
provider = "acme"
client_id = "{CLIENT_ID}"
client_secret = "env:ACME_CLIENT_SECRET"
scopes = ["openid", "email", "api:read"]
allowed_return_origins = ["{APP_ORIGIN}"]
"#,
            issuer = peer.issuer
        ),
    )
    .unwrap();
    let server = Server::start(
        dir.path(),
        &["--dev"],
        &[("ACME_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .await;
    let key = server.printed_admin_key();
    let http = server.http().clone();

    // Connect c1 through the real authorization-code flow.
    let r = http
        .post(server.url("/api/connect-sessions"))
        .bearer_auth(&key)
        .json(&json!({"end_user": {"id": "u1"}, "integrations": ["acme"],
            "connection_id": "c1", "return_to": format!("{APP_ORIGIN}/done")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let session = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let no_redirect = crate::harness::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .get(server.url(&format!("/api/integrations/acme/auth?session={session}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let auth = r.headers()["location"].to_str().unwrap().to_owned();
    let cb = browse_until(&auth, &server.url("/api/integrations/acme/callback")).await;
    let r = no_redirect.get(&cb).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);

    // The userinfo endpoint through the proxy: one attempt.
    let me = |http: reqwest::Client| {
        let url = server.url("/api/proxy/c1/me");
        let key = key.clone();
        async move { http.get(url).bearer_auth(key).send().await.unwrap() }
    };
    let r = me(http.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["switchboard-attempts"], "1");
    let info: Value = r.json().await.unwrap();
    assert!(info["sub"].is_string(), "{info}");
    let refreshes = peer.stats().await["token"]["refresh_token"]
        .as_u64()
        .unwrap();
    let token = |http: reqwest::Client| {
        let url = server.url("/api/connections/c1/token");
        let key = key.clone();
        async move {
            let r = http.get(url).bearer_auth(key).send().await.unwrap();
            r.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let first = token(http.clone()).await;

    // The userinfo endpoint answers 401 once (the peer's fault injection): Switchboard
    // refreshes once at the peer (real refresh, with rotation) and retries: 200 in two
    // attempts, with a new access token.
    peer.fail_next("userinfo", 401, 1).await;
    let r = me(http.clone()).await;
    assert_eq!(r.status(), 200, "{:?}\n{}", r.headers(), server.stderr());
    assert_eq!(r.headers()["switchboard-attempts"], "2");
    assert_eq!(r.headers()["switchboard-upstream-status"], "200");
    assert_eq!(
        peer.stats().await["token"]["refresh_token"]
            .as_u64()
            .unwrap(),
        refreshes + 1,
        "exactly one refresh"
    );
    let second = token(http.clone()).await;
    assert_ne!(first, second, "the refreshed token is in use");
    let r = me(http.clone()).await;
    assert_eq!(r.headers()["switchboard-attempts"], "1");

    // Revoking the access token at the provider (RFC 7009): oidc-provider then revokes
    // the whole grant (lib/actions/revocation.js), so the API says 401 and the one
    // refresh is refused too. The provider's 401 goes back to the caller after that one
    // refresh, and the connection is marked needs_reauth.
    let r = http
        .post(peer.url("/token/revocation"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("token", second.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        peer.introspect(CLIENT_ID, CLIENT_SECRET, &second).await["active"],
        false
    );
    let r = me(http.clone()).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["switchboard-upstream-status"], "401");
    assert_eq!(
        peer.stats().await["token"]["refresh_token"]
            .as_u64()
            .unwrap(),
        refreshes + 2,
        "one refresh was tried"
    );
    let r = me(http.clone()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "needs_reauth", "{v}");

    let logs = format!("{}{}", server.stdout(), server.stderr());
    for t in [&first, &second] {
        assert!(!logs.contains(t.as_str()), "an access token is in the log");
    }
}
