//! The proxy route in process: authentication, the caller's key kept from the provider,
//! the route's own body limit and timeout (not the global ones), upstream error bodies
//! passed through, JSON errors with `Retry-After` for Switchboard's own refusals.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use engine::{Actor, Engine};
use reqwest::StatusCode;
use serde_json::{Value, json};
use store::{Scope, Store};
use tokio::net::TcpListener;
use vault::{ExposeSecret, Keyring, MasterKey};

use crate::{AppState, router, serve};

type Seen = Arc<Mutex<Vec<(String, BTreeMap<String, String>, usize)>>>;

async fn upstream(
    State(seen): State<Seen>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    seen.lock().unwrap().push((
        uri.path().to_owned(),
        headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body.len(),
    ));
    let b = axum::response::Response::builder();
    match uri.path() {
        "/api/slow" => {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            b.status(200).body("slow but fine".into()).unwrap()
        }
        "/api/teapot" => b
            .status(418)
            .header("content-type", "text/plain")
            .body("short and stout".into())
            .unwrap(),
        _ => b
            .status(200)
            .header("content-type", "application/json")
            .body(r#"{"ok":true}"#.into())
            .unwrap(),
    }
}

struct H {
    base: String,
    app: String,
    seen: Seen,
    http: reqwest::Client,
    engine: Engine,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> H {
    let seen: Seen = Arc::default();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = format!("http://{}", l.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(upstream)
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(l, app).await });

    let provider: catalog::Provider = serde_json::from_value(json!({
        "id": "acme", "name": "Acme", "docs_url": "https://docs.example.com",
        "auth_mode": "api_key", "api_base_url": format!("{up}/api"),
        "api_key": {"header": "X-Api-Key"},
    }))
    .unwrap();
    let mut cat = catalog::Catalog::default();
    cat.insert(provider).unwrap();
    let toml = r#"
request_timeout_secs = 1
max_body_bytes = 1024
proxy_max_body_bytes = 3000000

[[integrations]]
id = "acme"
provider = "acme"

[[integrations]]
id = "tight"
provider = "acme"
rate_limit = { per_second = 1, burst = 1, on_limit = "reject" }
"#;
    let cfg =
        config::Config::from_toml(toml, "t.toml", &BTreeMap::new(), &Default::default()).unwrap();
    let store = store_sqlite::SqliteStore::connect("sqlite::memory:")
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let engine = Engine::new(
        Arc::new(store),
        Keyring::new(MasterKey::generate().unwrap(), vec![]),
        cfg,
    )
    .with_catalog(cat)
    .with_dev(true);
    let key = engine
        .create_api_key("app", Scope::App, &Actor::System)
        .await
        .unwrap();
    for (integration, id) in [("acme", "c1"), ("tight", "c2")] {
        engine
            .connect_direct(
                serde_json::from_value(json!({
                    "integration": integration, "connection_id": id, "end_user_id": "u1",
                    "credentials": {"api_key": "provider-secret-key"},
                }))
                .unwrap(),
                &Actor::System,
            )
            .await
            .unwrap();
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        router(AppState::new(engine.clone())),
        async move {
            let _ = rx.await;
        },
        || Duration::from_secs(5),
    ));
    H {
        base: format!("http://{addr}"),
        app: key.key.expose_secret().to_owned(),
        seen,
        http: reqwest::Client::new(),
        engine,
        _stop: tx,
    }
}

impl H {
    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(m, format!("{}{path}", self.base))
            .bearer_auth(&self.app)
    }
}

async fn json_error(res: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(res.status(), status);
    let v: Value = res.json().await.unwrap();
    v["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn proxies_with_the_connections_key_never_the_callers() {
    let h = start().await;
    let res = h
        .req(reqwest::Method::GET, "/api/proxy/c1/v1/things?page=2")
        .header("cookie", "sid=1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["switchboard-attempts"], "1");
    assert_eq!(res.headers()["switchboard-upstream-status"], "200");
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(res.text().await.unwrap(), r#"{"ok":true}"#);
    let seen = h.seen.lock().unwrap().clone();
    let (path, headers, _) = &seen[0];
    assert_eq!(path, "/api/v1/things");
    assert_eq!(headers["x-api-key"], "provider-secret-key");
    assert!(!headers.contains_key("authorization"));
    assert!(!headers.contains_key("cookie"));
    assert!(!headers.values().any(|v| v.contains(&h.app)));
}

#[tokio::test]
async fn needs_an_app_key_and_a_valid_connection() {
    let h = start().await;
    let res = h
        .http
        .get(format!("{}/api/proxy/c1/x", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(res, StatusCode::UNAUTHORIZED).await,
        "unauthorized"
    );
    let res = h
        .req(reqwest::Method::GET, "/api/proxy/nope/x")
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(res, StatusCode::NOT_FOUND).await, "not_found");
    let res = h
        .req(reqwest::Method::GET, "/api/proxy/c1/a%2Fb")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(res, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
    let res = h
        .req(reqwest::Method::GET, "/api/proxy/-bad/x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(res, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
    assert!(
        h.seen.lock().unwrap().is_empty(),
        "nothing reached the provider"
    );
}

#[tokio::test]
async fn upstream_error_bodies_pass_through_unchanged() {
    let h = start().await;
    let res = h
        .req(reqwest::Method::GET, "/api/proxy/c1/teapot")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 418);
    assert_eq!(res.headers()["switchboard-upstream-status"], "418");
    assert_eq!(res.text().await.unwrap(), "short and stout");
}

#[tokio::test]
async fn the_route_has_its_own_body_limit_and_no_request_timeout() {
    let h = start().await;
    // max_body_bytes is 1024 for the rest of the API; the proxy takes up to 3 MB.
    let res = h
        .req(reqwest::Method::PUT, "/api/proxy/c1/upload")
        .body(vec![1u8; 2_000_000])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(h.seen.lock().unwrap()[0].2, 2_000_000);
    let res = h
        .req(reqwest::Method::PUT, "/api/proxy/c1/upload")
        .body(vec![1u8; 3_500_000])
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(res, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload_too_large"
    );
    // request_timeout_secs is 1; a provider taking 2.5 s still answers through the proxy.
    let res = h
        .req(reqwest::Method::GET, "/api/proxy/c1/slow")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "slow but fine");
}

#[tokio::test]
async fn over_the_rate_limit_is_429_json_with_retry_after() {
    let h = start().await;
    let res = h
        .req(reqwest::Method::GET, "/api/proxy/c2/x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = h
        .req(reqwest::Method::GET, "/api/proxy/c2/x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.headers()["switchboard-attempts"], "0");
    assert_eq!(
        json_error(res, StatusCode::TOO_MANY_REQUESTS).await,
        "rate_limited"
    );
    assert_eq!(h.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_rust_client_proxies_and_types_its_errors() {
    let h = start().await;
    let c = client::Client::new(&h.base, h.app.clone().into()).unwrap();
    let res = c
        .proxy("c1", client::Method::GET, "/v1/things")
        .query(&[("page", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.attempts(), Some(1));
    let v: Value = res.json().await.unwrap();
    assert_eq!(v, json!({"ok": true}));

    let e = c
        .proxy("nope", client::Method::GET, "x")
        .send()
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");

    let res = c
        .proxy("c1", client::Method::GET, "teapot")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        418,
        "the provider's status is an answer, not an error"
    );
    let e = res.error_for_status().await.unwrap_err();
    assert_eq!(e.status(), Some(418));
    assert_eq!(e.code(), Some("upstream_status"));

    // Over the rate limit: a typed error that carries the wait.
    let _ = c.proxy("c2", client::Method::GET, "x").send().await;
    let e = c
        .proxy("c2", client::Method::GET, "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.error_code(), Some(client::ErrorCode::RateLimited));
    assert!(e.message().unwrap().contains("Retry-After"), "{e}");
}

#[tokio::test]
async fn a_key_revoked_here_stops_proxying_at_once_and_a_wrong_secret_never_passes() {
    let h = start().await;
    for _ in 0..3 {
        let res = h
            .req(reqwest::Method::GET, "/api/proxy/c1/x")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // The key's id is cached now; the same id with another secret is still refused.
    let (id, _) = engine::ids::parse_api_key(&h.app).unwrap();
    let forged = format!("sb_{id}_{}", "Z".repeat(40));
    let res = h
        .http
        .get(format!("{}/api/proxy/c1/x", h.base))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(res, StatusCode::UNAUTHORIZED).await,
        "unauthorized"
    );
    // Revoked through this process: the very next request is refused.
    h.engine.revoke_api_key(id, &Actor::System).await.unwrap();
    let res = h
        .req(reqwest::Method::GET, "/api/proxy/c1/x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(res, StatusCode::UNAUTHORIZED).await,
        "unauthorized"
    );
    assert_eq!(
        h.seen.lock().unwrap().len(),
        3,
        "only the accepted requests left"
    );
}
