//! In-process tests of the HTTP layer: real sockets, real SQLite (in memory), reqwest.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use engine::{Actor, Engine};
use reqwest::StatusCode;
use serde_json::Value;
use store::{Scope, Store};
use tokio::net::TcpListener;
use vault::{ExposeSecret, Keyring, MasterKey};

use crate::{AppState, router, serve};

/// A server on a random port over an in-memory store, with an admin and an app key.
pub(crate) struct Harness {
    pub(crate) base: String,
    pub(crate) admin: String,
    pub(crate) app: String,
    pub(crate) engine: Engine,
    pub(crate) store: store_sqlite::SqliteStore,
    pub(crate) http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn test_config(toml: &str) -> config::Config {
    config::Config::from_toml(toml, "test.toml", &BTreeMap::new(), &Default::default()).unwrap()
}

async fn engine_with(toml: &str) -> (Engine, store_sqlite::SqliteStore) {
    let store = store_sqlite::SqliteStore::connect("sqlite::memory:")
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let keyring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
    let engine = Engine::new(Arc::new(store.clone()), keyring, test_config(toml));
    (engine, store)
}

pub(crate) async fn start_with(toml: &str, extra: Option<Router>) -> Harness {
    let (engine, store) = engine_with(toml).await;
    let admin = engine
        .create_api_key("admin", Scope::Admin, &Actor::System)
        .await
        .unwrap();
    let app = engine
        .create_api_key("app", Scope::App, &Actor::System)
        .await
        .unwrap();
    let mut r = router(AppState::new(engine.clone()));
    if let Some(extra) = extra {
        r = r.merge(extra);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        r,
        async move {
            let _ = rx.await;
        },
        || Duration::from_secs(5),
    ));
    Harness {
        base: format!("http://{addr}"),
        admin: admin.key.expose_secret().to_owned(),
        app: app.key.expose_secret().to_owned(),
        engine,
        store,
        http: reqwest::Client::new(),
        _stop: tx,
    }
}

async fn start() -> Harness {
    start_with("", None).await
}

impl Harness {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Asserts the JSON error shape and returns the code.
async fn error_code(res: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(res.status(), status);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let v: Value = res.json().await.unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "only `error` at the top: {v}");
    let e = v["error"].as_object().unwrap();
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    e["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn ops_endpoints_answer() {
    let h = start().await;
    let v: Value = h
        .http
        .get(h.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ok");
    let v: Value = h
        .http
        .get(h.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "ready");

    let res = h.http.get(h.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    for p in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/api/api-keys",
        "/api/audit",
        "/api/audit/verify",
    ] {
        assert!(doc["paths"].get(p).is_some(), "openapi lacks {p}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );

    let text = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            r#"switchboard_http_requests_total{method="GET",route="/healthz",status="200"}"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"switchboard_http_request_duration_seconds_bucket{method="GET",route="/readyz",status="200""#));
}

#[tokio::test]
async fn metrics_use_route_templates_not_raw_paths() {
    let h = start().await;
    let res = h
        .http
        .post(h.url("/api/api-keys/secret-looking-id/revoke"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let text = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"route="/api/api-keys/{id}/revoke",status="404""#),
        "{text}"
    );
    assert!(!text.contains("secret-looking-id"));
}

#[tokio::test]
async fn readyz_fails_with_json_when_database_is_gone() {
    let h = start().await;
    h.store.close().await;
    let code = error_code(
        h.http.get(h.url("/readyz")).send().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(code, "unavailable");
    // Liveness does not depend on the database.
    assert_eq!(
        h.http.get(h.url("/healthz")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn api_key_auth_401_403_200() {
    let h = start().await;
    let get = |key: Option<&str>| {
        let mut r = h.http.get(h.url("/api/audit"));
        if let Some(k) = key {
            r = r.header("authorization", k);
        }
        r.send()
    };
    // No key.
    let res = get(None).await.unwrap();
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        error_code(res, StatusCode::UNAUTHORIZED).await,
        "unauthorized"
    );
    // Not a bearer header.
    let basic = get(Some("Basic dXNlcjpwYXNz")).await.unwrap();
    assert_eq!(
        error_code(basic, StatusCode::UNAUTHORIZED).await,
        "unauthorized"
    );
    // A key of the right shape that does not exist, and garbage.
    let forged = format!("Bearer sb_{}_{}", "a".repeat(12), "B".repeat(40));
    assert_eq!(
        error_code(get(Some(&forged)).await.unwrap(), StatusCode::UNAUTHORIZED).await,
        "unauthorized"
    );
    assert_eq!(
        error_code(
            get(Some("Bearer nope")).await.unwrap(),
            StatusCode::UNAUTHORIZED
        )
        .await,
        "unauthorized"
    );
    // The right key with one character changed.
    let mut tampered = h.admin.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'a' { 'b' } else { 'a' });
    let res = get(Some(&format!("Bearer {tampered}"))).await.unwrap();
    assert_eq!(
        error_code(res, StatusCode::UNAUTHORIZED).await,
        "unauthorized"
    );
    // App key on an admin route.
    let res = get(Some(&format!("Bearer {}", h.app))).await.unwrap();
    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await, "forbidden");
    // Admin key; scheme is case-insensitive.
    assert_eq!(
        get(Some(&format!("Bearer {}", h.admin)))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(Some(&format!("bearer {}", h.admin)))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn revoked_key_stops_working_at_once() {
    let h = start().await;
    let res = h
        .http
        .post(h.url("/api/api-keys"))
        .bearer_auth(&h.admin)
        .json(&serde_json::json!({"name": "ci", "scope": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sb_"));
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        h.http
            .get(h.url("/api/audit"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let res = h
        .http
        .post(h.url(&format!("/api/api-keys/{id}/revoke")))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert!(v["revoked_at"].is_string());
    let res = h
        .http
        .get(h.url("/api/audit"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, StatusCode::UNAUTHORIZED).await,
        "unauthorized"
    );

    // Revoking again is a conflict; an unknown id is 404.
    let res = h
        .http
        .post(h.url(&format!("/api/api-keys/{id}/revoke")))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, StatusCode::CONFLICT).await, "conflict");
    let res = h
        .http
        .post(h.url("/api/api-keys/nope/revoke"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await, "not_found");

    // The listing never shows a secret.
    let text = h
        .http
        .get(h.url("/api/api-keys"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !text.contains(&key) && !text.contains(&h.admin) && !engine::ids::looks_like_api_key(&text)
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    assert!(v["next_cursor"].is_null());
}

#[tokio::test]
async fn bad_inputs_get_json_4xx_and_change_nothing() {
    let h = start().await;
    let before = h.engine.list_api_keys().await.unwrap().len();
    let audit_before = h.engine.list_audit(None, 500).await.unwrap().data.len();
    let post = |body: &'static str, ct: Option<&'static str>| {
        let mut r = h
            .http
            .post(h.url("/api/api-keys"))
            .bearer_auth(&h.admin)
            .body(body);
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.send()
    };
    let cases: Vec<(&str, Option<&str>, StatusCode)> = vec![
        (
            "{\"name\":\"x\",\"scope\":\"admin\"}",
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "{\"name\":\"x\",\"scope\":\"admin\"}",
            Some("text/plain"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "{not json",
            Some("application/json"),
            StatusCode::BAD_REQUEST,
        ),
        ("", Some("application/json"), StatusCode::BAD_REQUEST),
        (
            "[]",
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "{\"name\":\"x\"}",
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "{\"name\":\"x\",\"scope\":\"root\"}",
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "{\"name\":\"x\",\"scope\":\"app\",\"extra\":1}",
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "{\"name\":\"\",\"scope\":\"app\"}",
            Some("application/json"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "{\"name\":\"a/b\",\"scope\":\"app\"}",
            Some("application/json"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "{\"name\":\"\\u0000\",\"scope\":\"app\"}",
            Some("application/json"),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, ct, status) in cases {
        let res = post(body, ct).await.unwrap();
        let code = error_code(res, status).await;
        assert!(!code.is_empty(), "{body}");
    }
    // Bad query strings.
    for q in [
        "limit=abc",
        "limit=-1",
        "cursor=zzz",
        "cursor=0",
        "unknown=1",
    ] {
        let res = h
            .http
            .get(h.url(&format!("/api/audit?{q}")))
            .bearer_auth(&h.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(res, StatusCode::BAD_REQUEST).await,
            "invalid_request",
            "{q}"
        );
    }
    assert_eq!(h.engine.list_api_keys().await.unwrap().len(), before);
    assert_eq!(
        h.engine.list_audit(None, 500).await.unwrap().data.len(),
        audit_before
    );
}

#[tokio::test]
async fn oversized_body_is_413_json() {
    let h = start_with("max_body_bytes = 2048", None).await;
    let body = format!("{{\"name\":\"{}\",\"scope\":\"app\"}}", "x".repeat(4096));
    let res = h
        .http
        .post(h.url("/api/api-keys"))
        .bearer_auth(&h.admin)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload_too_large"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let h = start().await;
    let res = h.http.get(h.url("/nope")).send().await.unwrap();
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await, "not_found");
    let res = h.http.delete(h.url("/healthz")).send().await.unwrap();
    assert_eq!(
        error_code(res, StatusCode::METHOD_NOT_ALLOWED).await,
        "method_not_allowed"
    );
    // Unknown /api paths do not reveal themselves without a key…
    let res = h.http.get(h.url("/api/secret-route")).send().await.unwrap();
    assert_eq!(
        error_code(res, StatusCode::UNAUTHORIZED).await,
        "unauthorized"
    );
    // …and are 404 with one.
    let res = h
        .http
        .get(h.url("/api/secret-route"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await, "not_found");
}

#[tokio::test]
async fn request_ids_are_set_and_propagated() {
    let h = start().await;
    let res = h.http.get(h.url("/healthz")).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let res = h
        .http
        .get(h.url("/nope"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn audit_listing_pages_and_verifies() {
    let h = start().await;
    for i in 0..5 {
        h.engine
            .audit(
                &Actor::System,
                "test.event",
                &format!("t{i}"),
                serde_json::json!({}),
            )
            .await
            .unwrap();
    }
    let v: Value = h
        .http
        .get(h.url("/api/audit?limit=3"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["target"], "t4");
    let cursor = v["next_cursor"].as_str().unwrap();
    let v: Value = h
        .http
        .get(h.url(&format!("/api/audit?limit=3&cursor={cursor}")))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // 2 key creations + 5 events = 7 rows: 3 + 3 + 1.
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    let v: Value = h
        .http
        .get(h.url("/api/audit/verify"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["rows_checked"], 7);
}

/// A server with one extra route `/work` that signals when it starts and then waits
/// `hold` (forever if `None`). Returns the address, a receiver that fires once the handler
/// runs, the stop trigger and the server task.
async fn server_with_blocking_route(
    hold: Option<Duration>,
    grace: Duration,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel::<()>();
    let entered = Arc::new(std::sync::Mutex::new(Some(entered_tx)));
    let work = Router::new().route(
        "/work",
        get(move || {
            let entered = entered.clone();
            async move {
                if let Some(tx) = entered.lock().unwrap().take() {
                    let _ = tx.send(());
                }
                match hold {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending::<()>().await,
                }
                "done"
            }
        }),
    );
    let (engine, _store) = engine_with("").await;
    let app = router(AppState::new(engine)).merge(work);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        app,
        async move {
            let _ = stop_rx.await;
        },
        move || grace,
    ));
    (addr, entered_rx, stop_tx, server)
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_request() {
    let (addr, entered, stop, server) =
        server_with_blocking_route(Some(Duration::from_millis(300)), Duration::from_secs(30)).await;
    let req = tokio::spawn(reqwest::get(format!("http://{addr}/work")));
    entered.await.unwrap();
    stop.send(()).unwrap();
    let res = req.await.unwrap().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "done");
    server.await.unwrap().unwrap();
    // Nothing listens any more.
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn shutdown_grace_expiry_closes_stuck_requests() {
    let (addr, entered, stop, server) =
        server_with_blocking_route(None, Duration::from_millis(100)).await;
    let req = tokio::spawn(reqwest::get(format!("http://{addr}/work")));
    entered.await.unwrap();
    stop.send(()).unwrap();
    // serve returns although the request never finishes (the binary then exits, which
    // closes the connection).
    server.await.unwrap().unwrap();
    assert!(!req.is_finished());
    req.abort();
}

#[tokio::test]
async fn timeouts_and_panics_answer_json() {
    let extra = Router::new()
        .route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("kaboom with details");
                }
                "unreachable"
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
    // Layers apply to routes merged before them, so wrap the extra routes the same way.
    let (engine, _store) = engine_with("request_timeout_secs = 1").await;
    let app = Router::new()
        .merge(extra)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_millis(50),
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::observe::panic_response,
        ))
        .layer(axum::middleware::from_fn(crate::observe::json_errors))
        .merge(router(AppState::new(engine)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app, std::future::pending(), || {
        Duration::from_secs(1)
    }));
    let res = reqwest::get(format!("http://{addr}/boom")).await.unwrap();
    assert_eq!(res.status(), 500);
    let text = res.text().await.unwrap();
    assert!(
        !text.contains("kaboom"),
        "panic details stay in the log: {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["code"], "internal");
    let res = reqwest::get(format!("http://{addr}/slow")).await.unwrap();
    assert_eq!(
        error_code(res, StatusCode::SERVICE_UNAVAILABLE).await,
        "unavailable"
    );
}

#[test]
fn canonical_errors_cover_statuses() {
    use crate::ApiError;
    for (s, code) in [
        (400, "bad_request"),
        (401, "unauthorized"),
        (403, "forbidden"),
        (404, "not_found"),
        (405, "method_not_allowed"),
        (408, "timeout"),
        (413, "payload_too_large"),
        (415, "unsupported_media_type"),
        (422, "invalid_request"),
        (429, "rate_limited"),
        (503, "unavailable"),
        (500, "internal"),
        (502, "internal"),
        (418, "error"),
    ] {
        let e = ApiError::for_status(axum::http::StatusCode::from_u16(s).unwrap());
        assert_eq!(e.code, code, "{s}");
        assert!(!e.message.is_empty());
    }
}

#[test]
fn engine_errors_map_to_statuses_and_hide_internals() {
    use crate::ApiError;
    use engine::EngineError;
    let cases: Vec<(EngineError, u16, &str)> = vec![
        (EngineError::Unauthenticated("x"), 401, "unauthorized"),
        (EngineError::Forbidden("x".into()), 403, "forbidden"),
        (
            EngineError::NotFound {
                what: "api key",
                id: "k".into(),
            },
            404,
            "not_found",
        ),
        (
            EngineError::Invalid {
                field: "name",
                message: "bad".into(),
            },
            400,
            "invalid_request",
        ),
        (EngineError::Conflict("x".into()), 409, "conflict"),
        (
            EngineError::Store(store::StoreError::Unavailable("db path /secret".into())),
            503,
            "unavailable",
        ),
        (
            EngineError::Store(store::StoreError::Conflict("dup".into())),
            409,
            "conflict",
        ),
        (
            EngineError::Store(store::StoreError::Backend("SELECT secret".into())),
            500,
            "internal",
        ),
        (
            EngineError::Vault(vault::VaultError::Malformed("x")),
            500,
            "internal",
        ),
    ];
    let missing = vault::KeyId([0xab; 8]);
    let a = ApiError::from(EngineError::Vault(vault::VaultError::UnknownKey(missing)));
    assert_eq!(a.status.as_u16(), 503);
    assert_eq!(a.code, "key_unavailable");
    assert!(
        a.message.contains(&missing.to_string()) && a.message.contains("old_master_keys"),
        "names the key and what to do: {}",
        a.message
    );
    for (e, status, code) in cases {
        let a = ApiError::from(e);
        assert_eq!(a.status.as_u16(), status);
        assert_eq!(a.code, code);
        assert!(
            !a.message.contains("secret") && !a.message.contains("SELECT"),
            "{}",
            a.message
        );
    }
}

/// The Rust client against the real server: every call, and each kind of error.
#[tokio::test]
async fn rust_client_round_trip() {
    let h = start().await;
    let admin = client::Client::new(&format!("{}/", h.base), h.admin.clone().into()).unwrap();
    let created = admin.create_api_key("from-client", "app").await.unwrap();
    assert!(created.key.expose_secret().starts_with("sb_"));
    assert_eq!(created.info.scope, "app");
    let keys = admin.list_api_keys().await.unwrap();
    assert!(keys.iter().any(|k| k.id == created.info.id));
    let revoked = admin.revoke_api_key(&created.info.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    let page = admin.audit(2, None).await.unwrap();
    assert_eq!(page.data.len(), 2);
    assert_eq!(page.data[0].action, "api_key.revoke");
    let next = admin.audit(2, page.next_cursor.as_deref()).await.unwrap();
    assert!(next.data[0].seq < page.data[1].seq);
    let v = admin.verify_audit().await.unwrap();
    assert!(v.ok && v.first_bad_seq.is_none());

    // API errors carry status, code and message.
    let app = client::Client::new(&h.base, h.app.clone().into()).unwrap();
    match app.list_api_keys().await.unwrap_err() {
        client::ClientError::Api { status, code, .. } => {
            assert_eq!((status, code.as_str()), (403, "forbidden"))
        }
        e => panic!("{e}"),
    }
    match admin.revoke_api_key("no such/id?").await.unwrap_err() {
        client::ClientError::Api { status, code, .. } => {
            assert_eq!((status, code.as_str()), (404, "not_found"))
        }
        e => panic!("{e}"),
    }
    match admin.create_api_key("bad/name", "app").await.unwrap_err() {
        e @ client::ClientError::Api { status: 400, .. } => {
            assert!(e.to_string().contains("invalid_request"))
        }
        e => panic!("{e}"),
    }
    // Transport and URL errors say what to check.
    assert!(matches!(
        client::Client::new("127.0.0.1:1", h.admin.clone().into()),
        Err(client::ClientError::BadUrl(_))
    ));
    let dead = client::Client::new("http://127.0.0.1:9", h.admin.clone().into()).unwrap();
    let e = dead.list_api_keys().await.unwrap_err();
    assert!(matches!(e, client::ClientError::Transport { .. }));
    assert!(e.to_string().contains("SWITCHBOARD_URL"));
    assert!(
        !e.to_string().contains(&h.admin),
        "the key never appears in errors"
    );
}

/// A server that answers something that is not Switchboard: the client says so.
#[tokio::test]
async fn rust_client_reports_unexpected_answers() {
    let odd = Router::new()
        .route("/api/api-keys", get(|| async { "not json" }))
        .route(
            "/api/audit/verify",
            get(|| async {
                (
                    axum::http::StatusCode::BAD_GATEWAY,
                    "<html>proxy error</html>",
                )
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, odd).await });
    let c = client::Client::new(&format!("http://{addr}"), "sb_x".to_owned().into()).unwrap();
    assert!(matches!(
        c.list_api_keys().await.unwrap_err(),
        client::ClientError::Decode(_)
    ));
    match c.verify_audit().await.unwrap_err() {
        client::ClientError::Api {
            status,
            code,
            message,
        } => {
            assert_eq!(status, 502);
            assert_eq!(code, "unknown");
            assert!(message.contains("proxy error"));
        }
        e => panic!("{e}"),
    }
}

const WEBHOOK_CONFIG: &str = r#"
max_body_bytes = 4096

[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["It's a Secret to Everybody"]
"#;

/// The live intake route with GitHub's published example.
#[tokio::test]
async fn webhook_intake_route() {
    let h = start_with(WEBHOOK_CONFIG, None).await;
    let post = |delivery: &str, sig: &str, body: Vec<u8>| {
        h.http
            .post(h.url("/webhooks/gh/event"))
            .header("X-GitHub-Delivery", delivery)
            .header("X-GitHub-Event", "push")
            .header("X-Hub-Signature-256", sig.to_owned())
            .body(body)
            .send()
    };
    let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let res = post("d-1", sig, b"Hello, World!".to_vec()).await.unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["duplicate"], false);
    let id = v["id"].as_str().unwrap().to_owned();
    let v: Value = post("d-1", sig, b"Hello, World!".to_vec())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["id"].as_str(), v["duplicate"].as_bool()),
        (Some(id.as_str()), Some(true))
    );

    // Forged, altered, unsigned: 401 with a generic message that names no check.
    for (s, body) in [
        ("sha256=00", b"Hello, World!".to_vec()),
        (sig, b"Hello, World?".to_vec()),
        ("", b"Hello, World!".to_vec()),
    ] {
        let res = post("d-2", s, body).await.unwrap();
        let code = error_code(res, StatusCode::UNAUTHORIZED).await;
        assert_eq!(code, "invalid_signature");
    }
    // Oversized, unknown integration.
    let res = post("d-3", sig, vec![b'x'; 8192]).await.unwrap();
    assert_eq!(
        error_code(res, StatusCode::PAYLOAD_TOO_LARGE).await,
        "payload_too_large"
    );
    let res = h
        .http
        .post(h.url("/webhooks/nope/event"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await, "not_found");
    // Blocked.
    h.engine
        .set_webhooks_blocked("gh", true, &Actor::System)
        .await
        .unwrap();
    let res = post("d-4", sig, b"Hello, World!".to_vec()).await.unwrap();
    assert_eq!(error_code(res, StatusCode::FORBIDDEN).await, "forbidden");

    // Only the first delivery was stored; the listing shows it without the body.
    let v: Value = h
        .http
        .get(h.url("/api/events?integration=gh"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["id"], id.as_str());
    assert_eq!(data[0]["provider_event_id"], "d-1");
    assert_eq!(data[0]["event_type"], "push");
    assert_eq!(data[0]["body_bytes"], 13);
    assert!(data[0].get("body").is_none());

    // Rejections are counted by reason.
    let text = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"switchboard_webhooks_total{integration="gh",outcome="no_match"}"#),
        "{text}"
    );
    // An empty signature header is a malformed (or missing) one, counted as such.
    assert!(
        text.contains(r#"outcome="malformed_header""#)
            || text.contains(r#"outcome="missing_header""#),
        "{text}"
    );
    assert!(text.contains(r#"outcome="duplicate""#));
}

/// Bad input on the webhook and event routes: a clear 4xx, nothing stored.
#[tokio::test]
async fn webhook_and_event_routes_refuse_bad_input() {
    let h = start_with(WEBHOOK_CONFIG, None).await;
    // GET is only for handshakes; GitHub has none.
    let res = h
        .http
        .get(h.url("/webhooks/gh/event"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
    let res = h
        .http
        .put(h.url("/webhooks/gh/event"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, StatusCode::METHOD_NOT_ALLOWED).await,
        "method_not_allowed"
    );
    // The listing needs a key and takes only well-formed parameters.
    let res = h.http.get(h.url("/api/events")).send().await.unwrap();
    assert_eq!(
        error_code(res, StatusCode::UNAUTHORIZED).await,
        "unauthorized"
    );
    for q in ["limit=abc", "cursor=zzz", "cursor=evt_XYZ", "unknown=1"] {
        let res = h
            .http
            .get(h.url(&format!("/api/events?{q}")))
            .bearer_auth(&h.app)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(res, StatusCode::BAD_REQUEST).await,
            "invalid_request",
            "{q}"
        );
    }
    let (events, _) = h.engine.list_events(None, None, 10).await.unwrap();
    assert!(events.is_empty());
}

// ---------------------------------------------------------------------------------------
// /metrics: metrics_key and metrics_listen

#[tokio::test]
async fn metrics_key_is_required_as_a_bearer_token() {
    let h = start_with("metrics_key = \"a-metrics-key-0123456789\"", None).await;
    let get = |auth: Option<&'static str>| {
        let mut r = h.http.get(h.url("/metrics"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    let code = error_code(get(None).await.unwrap(), StatusCode::UNAUTHORIZED).await;
    assert_eq!(code, "unauthorized");
    for wrong in [
        "Bearer a-metrics-key-012345678",
        "Bearer a-metrics-key-0123456789x",
        "Basic a-metrics-key-0123456789",
        "Bearer ",
    ] {
        let res = get(Some(wrong)).await.unwrap();
        assert_eq!(
            error_code(res, StatusCode::UNAUTHORIZED).await,
            "unauthorized",
            "{wrong}"
        );
    }
    // An admin API key is not the metrics key.
    let admin: &'static str = Box::leak(format!("Bearer {}", h.admin).into_boxed_str());
    assert_eq!(get(Some(admin)).await.unwrap().status(), 401);
    let res = get(Some("Bearer a-metrics-key-0123456789")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("switchboard_http_requests_total")
    );
    // Without the key configured, /metrics is open (as before).
    let open = start().await;
    assert_eq!(
        open.http
            .get(open.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn with_metrics_listen_the_main_listener_answers_404_and_the_metrics_one_serves() {
    let h = start_with("metrics_listen = \"127.0.0.1:9\"", None).await;
    let res = h.http.get(h.url("/metrics")).send().await.unwrap();
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await, "not_found");

    let app = crate::metrics_router(AppState::new(h.engine.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        app,
        async move {
            let _ = rx.await;
        },
        || Duration::from_secs(5),
    ));
    let res = h
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Only /metrics there: the API is not on the metrics listener.
    let res = h
        .http
        .get(format!("http://{addr}/api/api-keys"))
        .header("authorization", format!("Bearer {}", h.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await, "not_found");
}
