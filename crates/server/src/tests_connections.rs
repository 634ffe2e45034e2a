//! In-process tests of the connection routes (`routes/connections.rs`): real sockets,
//! real SQLite (in memory), reqwest, and a stub OAuth2 provider on 127.0.0.1.
//!
//! The project rule: every bad input gets a clear 4xx with the JSON error shape, changes
//! nothing (no connection, no connect session, no state, no audit row, no call to the
//! provider) and does not panic.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use engine::{Actor, Engine};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use store::{ConnectionStatus, ConnectionStore, Scope, Store};
use tokio::net::TcpListener;
use vault::{ExposeSecret, Keyring, MasterKey};

use crate::{AppState, router, serve};

// ---------------------------------------------------------------------------------------
// Stub provider
// ---------------------------------------------------------------------------------------

/// What the stub received: `(path, body)`.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

async fn stub_handler(
    State(seen): State<Seen>,
    uri: axum::http::Uri,
    body: String,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    seen.lock()
        .unwrap()
        .push((uri.path().to_owned(), body.clone()));
    let form: BTreeMap<String, String> = form_parse(&body);
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    let (status, v) = match (uri.path(), grant) {
        ("/token", "authorization_code")
            if form.get("code").map(String::as_str) == Some("good") =>
        {
            (
                200,
                json!({"access_token": "at-secret-1", "refresh_token": "rt-secret-1",
                   "expires_in": 3600, "token_type": "Bearer", "scope": "read"}),
            )
        }
        ("/token", "authorization_code") => (400, json!({"error": "invalid_grant"})),
        ("/token", "client_credentials") => (
            200,
            json!({"access_token": "cc-secret-token", "expires_in": 3600, "token_type": "Bearer"}),
        ),
        ("/token", "refresh_token") => (
            200,
            json!({"access_token": "at-secret-2", "refresh_token": "rt-secret-2",
                   "expires_in": 3600, "token_type": "Bearer"}),
        ),
        ("/revoke", _) => (200, json!({})),
        _ => (404, json!({"error": "not_found"})),
    };
    (
        axum::http::StatusCode::from_u16(status).unwrap(),
        axum::Json(v),
    )
        .into_response()
}

fn form_parse(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

async fn start_stub() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .fallback(stub_handler)
        .with_state(seen.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

// ---------------------------------------------------------------------------------------
// Harness: like `tests::start_with`, but the engine runs with `--dev` (loopback
// providers) and the catalog of the configuration (custom providers on the stub).
// ---------------------------------------------------------------------------------------

const SECRET_KEY: &str = "sk_live_TOPSECRET_0123456789abcdef";

fn config_text(stub: &str) -> String {
    format!(
        r#"
public_url = "https://sb.example"

[[providers]]
id = "stubby"
authorization_url = "{stub}/authorize"
token_url = "{stub}/token"
revocation_url = "{stub}/revoke"
api_base_url = "{stub}/api"

[[providers]]
id = "stubcc"
auth_mode = "client_credentials"
token_url = "{stub}/token"
revocation_url = "{stub}/revoke"
api_base_url = "{stub}/api"

[[integrations]]
id = "oa"
provider = "stubby"
client_id = "client-1"
client_secret = "client-secret-1"
allowed_return_origins = ["https://app.example"]

[[integrations]]
id = "oa2"
provider = "stubby"
client_id = "client-2"
client_secret = "client-secret-2"
allowed_return_origins = ["https://app.example"]

[[integrations]]
id = "noclient"
provider = "stubby"

[[integrations]]
id = "cc"
provider = "stubcc"
client_id = "cc-client"
client_secret = "cc-client-secret"

[[integrations]]
id = "st"
provider = "stripe"
allowed_return_origins = ["https://app.example"]

[[integrations]]
id = "tw"
provider = "twilio"

[[integrations]]
id = "hooks"
provider = "generic-hmac"
"#
    )
}

struct H {
    base: String,
    admin: String,
    app: String,
    engine: Engine,
    store: store_sqlite::SqliteStore,
    http: reqwest::Client,
    seen: Seen,
    stub: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start_dev(top: &str) -> H {
    let (stub, seen) = start_stub().await;
    let text = format!("{top}\n{}", config_text(&stub));
    let cfg = config::Config::from_toml(&text, "test.toml", &BTreeMap::new(), &Default::default())
        .unwrap();
    let (catalog, pending) = cfg.catalog(true).unwrap();
    assert!(pending.is_empty());
    let store = store_sqlite::SqliteStore::connect("sqlite::memory:")
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let keyring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
    let engine = Engine::new(Arc::new(store.clone()), keyring, cfg)
        .with_catalog(catalog)
        .with_dev(true);
    assert!(engine.dev());
    let admin = engine
        .create_api_key("admin", Scope::Admin, &Actor::System)
        .await
        .unwrap();
    let app = engine
        .create_api_key("app", Scope::App, &Actor::System)
        .await
        .unwrap();
    let r = router(AppState::new(engine.clone()));
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
    H {
        base: format!("http://{addr}"),
        admin: admin.key.expose_secret().to_owned(),
        app: app.key.expose_secret().to_owned(),
        engine,
        store,
        // Redirects are what the routes answer; look at them, do not follow them.
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap(),
        seen,
        stub,
        _stop: tx,
    }
}

impl H {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(&self.app)
    }

    fn post_json(&self, path: &str, body: &str) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.app)
            .header("content-type", "application/json")
            .body(body.to_owned())
    }

    /// Calls to the stub provider so far.
    fn provider_calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn provider_calls_to(&self, path: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    }

    /// Every connection in the store, by id.
    async fn stored(&self) -> Vec<store::Connection> {
        self.store
            .list_connections(&store::ConnectionFilter::default(), None, 10_000)
            .await
            .unwrap()
    }

    /// The connections `GET /api/connections` shows.
    async fn listed(&self) -> Vec<Value> {
        let res = self.get("/api/connections?limit=500").send().await.unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        v["data"].as_array().unwrap().clone()
    }

    async fn audit_rows(&self) -> usize {
        self.engine.list_audit(None, 500).await.unwrap().data.len()
    }

    /// How many connect sessions and authorization states exist. Destructive: it
    /// purges them all (everything "expires" before a date far ahead).
    async fn purge_flows(&self) -> u64 {
        self.store
            .purge_expired_flows(store::now() + chrono::Duration::days(3650))
            .await
            .unwrap()
    }

    /// Creates a connect session through the route; returns its token.
    async fn session(&self, body: Value) -> String {
        let res = self
            .post_json("/api/connect-sessions", &body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let v: Value = res.json().await.unwrap();
        assert!(
            v["connect_url"]
                .as_str()
                .unwrap()
                .contains("/connect?session=")
        );
        assert!(v["expires_at"].is_string());
        v["token"].as_str().unwrap().to_owned()
    }

    /// `/auth` with a session; returns the `state` of the provider redirect.
    async fn start_auth(&self, integration: &str, session: &str) -> String {
        let res = self
            .http
            .get(self.url(&format!("/api/integrations/{integration}/auth")))
            .query(&[("session", session)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
        let loc = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
        let q: BTreeMap<String, String> = loc.query_pairs().into_owned().collect();
        q["state"].clone()
    }

    async fn callback(&self, integration: &str, query: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/api/integrations/{integration}/callback")))
            .query(query)
            .send()
            .await
            .unwrap()
    }

    /// A client-credentials connection made through `POST /api/connections`.
    async fn cc_connection(&self, id: &str, end_user: &str) -> Value {
        let res = self
            .post_json(
                "/api/connections",
                &json!({"integration": "cc", "connection_id": id, "end_user_id": end_user})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    }

    /// An OAuth2 connection made through the whole browser flow.
    async fn oauth_connection(&self, integration: &str, id: &str) -> String {
        let s = self
            .session(
                json!({"end_user": {"id": "u1"}, "integrations": [integration],
                            "connection_id": id}),
            )
            .await;
        let state = self.start_auth(integration, &s).await;
        let res = self
            .callback(integration, &[("state", &state), ("code", "good")])
            .await;
        assert_eq!(res.status(), 200, "a result page (no return address)");
        let page = res.text().await.unwrap();
        assert!(page.contains("data-status=\"connected\""), "{page}");
        id.to_owned()
    }
}

/// Asserts the JSON error shape and status; returns `(code, message)`.
async fn error_of(res: reqwest::Response, status: StatusCode) -> (String, String) {
    let got = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "only `error` at the top: {v}");
    let e = v["error"].as_object().unwrap();
    assert_eq!(e.len(), 2, "error has code and message: {v}");
    let message = e["message"].as_str().unwrap().to_owned();
    assert!(!message.is_empty());
    (e["code"].as_str().unwrap().to_owned(), message)
}

async fn error_code(res: reqwest::Response, status: StatusCode) -> String {
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    error_of(res, status).await.0
}

// ---------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------

/// Every keyed connection route: no key, a garbage key, a forged key → 401 JSON with
/// `WWW-Authenticate: Bearer`, and nothing happens.
#[tokio::test]
async fn keyed_routes_refuse_requests_without_a_valid_key() {
    let h = start_dev("").await;
    h.cc_connection("c1", "u1").await;
    let audit = h.audit_rows().await;
    let calls = h.provider_calls();
    let routes: &[(&str, &str, &str)] = &[
        (
            "POST",
            "/api/connect-sessions",
            r#"{"end_user":{"id":"u"},"integrations":["oa"]}"#,
        ),
        ("GET", "/api/integrations", ""),
        (
            "POST",
            "/api/integrations/cc/disconnect",
            r#"{"connection_id":"c1"}"#,
        ),
        ("GET", "/api/integrations/cc/status", ""),
        ("GET", "/api/integrations/nope/status", ""),
        ("POST", "/api/integrations/oa/oauth-test", ""),
        ("GET", "/api/connections", ""),
        ("POST", "/api/connections", r#"{"integration":"cc"}"#),
        ("GET", "/api/connections/c1", ""),
        ("GET", "/api/connections/c1/token", ""),
        ("POST", "/api/connections/c1/refresh", ""),
        ("POST", "/api/connections/c1/check", ""),
        ("GET", "/api/connections/nope/token", ""),
    ];
    let forged = format!("Bearer sb_{}_{}", "a".repeat(12), "B".repeat(40));
    for (method, path, body) in routes {
        for auth in [
            None,
            Some("Bearer nope"),
            Some("Basic dXNlcjpwYXNz"),
            Some(forged.as_str()),
        ] {
            let mut req = h
                .http
                .request(method.parse().unwrap(), h.url(path))
                .header("content-type", "application/json")
                .body(body.to_string());
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let res = req.send().await.unwrap();
            assert_eq!(
                res.headers()["www-authenticate"],
                "Bearer",
                "{method} {path}"
            );
            let code = error_code(res, StatusCode::UNAUTHORIZED).await;
            assert_eq!(code, "unauthorized", "{method} {path} {auth:?}");
        }
    }
    // Nothing changed: the connection is still active with its token, no call to the
    // provider, no audit row, no new connection.
    let c = h.engine.get_connection("c1").await.unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(h.stored().await.len(), 1);
    assert_eq!(h.provider_calls(), calls);
    assert_eq!(h.audit_rows().await, audit);
    assert_eq!(h.purge_flows().await, 0);
}

/// `oauth-test` is an admin route: an app key gets 403, an admin key the checks.
#[tokio::test]
async fn oauth_test_needs_an_admin_key() {
    let h = start_dev("").await;
    let res = h
        .http
        .post(h.url("/api/integrations/oa/oauth-test"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(res, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "forbidden");
    assert!(message.contains("admin"), "{message}");
    assert_eq!(h.provider_calls(), 0, "no probe with an app key");

    let admin = |path: &str| h.http.post(h.url(path)).bearer_auth(&h.admin).send();
    let res = admin("/api/integrations/oa/oauth-test").await.unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["integration"], "oa");
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["checks"].as_array().unwrap().len() >= 2);
    let text = v.to_string();
    assert!(!text.contains("client-secret-1"), "{text}");
    assert_eq!(h.provider_calls_to("/token"), 1);

    // Unknown integration, one without a client id, one without OAuth2.
    let res = admin("/api/integrations/nope/oauth-test").await.unwrap();
    assert_eq!(error_code(res, StatusCode::NOT_FOUND).await, "not_found");
    let res = admin("/api/integrations/noclient/oauth-test")
        .await
        .unwrap();
    assert_eq!(
        error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await,
        "misconfigured"
    );
    let res = admin("/api/integrations/st/oauth-test").await.unwrap();
    assert_eq!(
        error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await,
        "misconfigured"
    );
    // Wrong method.
    let res = h
        .http
        .get(h.url("/api/integrations/oa/oauth-test"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, StatusCode::METHOD_NOT_ALLOWED).await,
        "method_not_allowed"
    );
    assert_eq!(h.provider_calls_to("/token"), 1);
    assert!(h.stored().await.is_empty());
}

// ---------------------------------------------------------------------------------------
// POST /api/connect-sessions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn connect_session_refuses_bad_bodies_and_stores_nothing() {
    let h = start_dev("").await;
    let audit = h.audit_rows().await;
    let huge = "x".repeat(100_000);
    let many: Vec<String> = (0..65).map(|_| "oa".to_owned()).collect();
    let cases: Vec<(String, Option<&str>, StatusCode, &str)> = vec![
        // Media type and syntax.
        (
            r#"{"end_user":{"id":"u"},"integrations":["oa"]}"#.into(),
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            r#"{"end_user":{"id":"u"},"integrations":["oa"]}"#.into(),
            Some("text/plain"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        ("{not json".into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        ("".into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (
            r#"{"end_user":{"id":"u"},"integrations":["oa"]"#.into(),
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // Shape: wrong types, missing fields, unknown fields.
        ("[]".into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        ("null".into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (r#"{"integrations":["oa"]}"#.into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (r#"{"end_user":{"id":"u"}}"#.into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (r#"{"end_user":{},"integrations":["oa"]}"#.into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (r#"{"end_user":"u","integrations":["oa"]}"#.into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (r#"{"end_user":{"id":42},"integrations":["oa"]}"#.into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":"oa"}"#.into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":[1]}"#.into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":null}"#.into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"connection_id":5}"#.into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"return_to":true}"#.into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"extra":1}"#.into(), Some("application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        // Values the engine refuses.
        (r#"{"end_user":{"id":""},"integrations":["oa"]}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"a\u0000b"},"integrations":["oa"]}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"end_user": {"id": huge}, "integrations": ["oa"]}).to_string(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":[]}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"end_user": {"id": "u"}, "integrations": many}).to_string(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["hooks"]}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"connection_id":"a/b"}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"connection_id":""}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"end_user": {"id": "u"}, "integrations": ["oa"], "connection_id": huge}).to_string(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"return_to":"javascript:alert(1)"}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"return_to":"/relative"}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"return_to":"https://user:pw@app.example/done"}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"return_to":"https://evil.example/done"}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        // Allowed by `oa` but not by `cc`: every listed integration must allow it.
        (r#"{"end_user":{"id":"u"},"integrations":["oa","cc"],"return_to":"https://app.example/done"}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"opener_origin":"https://app.example/path"}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"opener_origin":"https://evil.example"}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa"],"opener_origin":"null"}"#.into(), Some("application/json"), StatusCode::BAD_REQUEST, "invalid_request"),
        // Unknown integration.
        (r#"{"end_user":{"id":"u"},"integrations":["nope"]}"#.into(), Some("application/json"), StatusCode::NOT_FOUND, "not_found"),
        (r#"{"end_user":{"id":"u"},"integrations":["oa","nope"]}"#.into(), Some("application/json"), StatusCode::NOT_FOUND, "not_found"),
    ];
    for (body, ct, status, want) in cases {
        let mut req = h
            .http
            .post(h.url("/api/connect-sessions"))
            .bearer_auth(&h.app)
            .body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.unwrap();
        let (code, message) = error_of(res, status).await;
        let shown: String = body.chars().take(120).collect();
        assert_eq!(code, want, "{shown}");
        assert!(
            message.len() <= 1000,
            "short message for {shown}: {} bytes",
            message.len()
        );
        assert!(
            !message.contains(&huge[..1000]),
            "the huge value is not echoed"
        );
    }
    assert_eq!(h.purge_flows().await, 0, "no connect session was stored");
    assert_eq!(h.audit_rows().await, audit);
    assert_eq!(h.provider_calls(), 0);
}

/// `end_user` takes only `id`, like every other body (`deny_unknown_fields`).
#[tokio::test]
async fn connect_session_refuses_unknown_fields_in_end_user() {
    let h = start_dev("").await;
    let res = h
        .post_json(
            "/api/connect-sessions",
            r#"{"end_user":{"id":"u","email":"u@example.com"},"integrations":["oa"]}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, StatusCode::UNPROCESSABLE_ENTITY).await,
        "invalid_request"
    );
    assert_eq!(h.purge_flows().await, 0);
}

#[tokio::test]
async fn oversized_bodies_are_413_and_store_nothing() {
    let h = start_dev("max_body_bytes = 2048").await;
    let big = "x".repeat(4096);
    for (path, body) in [
        (
            "/api/connect-sessions",
            json!({"end_user": {"id": big}, "integrations": ["oa"]}),
        ),
        (
            "/api/connections",
            json!({"integration": "st", "credentials": {"api_key": big}}),
        ),
        (
            "/api/integrations/cc/disconnect",
            json!({"connection_id": big}),
        ),
    ] {
        let res = h.post_json(path, &body.to_string()).send().await.unwrap();
        assert_eq!(
            error_code(res, StatusCode::PAYLOAD_TOO_LARGE).await,
            "payload_too_large",
            "{path}"
        );
    }
    assert!(h.stored().await.is_empty());
    assert_eq!(h.purge_flows().await, 0);
    assert_eq!(h.provider_calls(), 0);
}

// ---------------------------------------------------------------------------------------
// GET /api/integrations/{integration}/auth
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn auth_refuses_missing_bogus_and_foreign_sessions() {
    let h = start_dev("").await;
    let s_oa = h
        .session(json!({"end_user": {"id": "u1"}, "integrations": ["oa"],
                        "connection_id": "fixed-1"}))
        .await;
    let s_free = h
        .session(json!({"end_user": {"id": "u1"}, "integrations": ["oa", "st", "noclient"]}))
        .await;
    // A connection of integration `cc`, whose id a session then tries to take over.
    h.cc_connection("cc-owned", "u1").await;
    let calls = h.provider_calls();
    let audit = h.audit_rows().await;
    let long = "s".repeat(10_000);
    let tampered = format!("{}x", &s_oa[..s_oa.len() - 1]);
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            "oa".into(),
            vec![],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "oa".into(),
            vec![("session", "")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "oa".into(),
            vec![("connection_id", "x")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "oa".into(),
            vec![("session", "cs_bogus")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "oa".into(),
            vec![("session", &long)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "oa".into(),
            vec![("session", "cs_\u{0}\u{7f}<script>")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // A real session token with a character changed.
        (
            "oa".into(),
            vec![("session", &tampered)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // Unknown integration (the session is valid).
        (
            "nope".into(),
            vec![("session", &s_oa)],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        // An integration the session does not allow.
        (
            "oa2".into(),
            vec![("session", &s_oa)],
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        // Another connection id than the session's.
        (
            "oa".into(),
            vec![("session", &s_oa), ("connection_id", "other")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // A malformed connection id.
        (
            "oa".into(),
            vec![("session", &s_free), ("connection_id", "a/b")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "oa".into(),
            vec![("session", &s_free), ("connection_id", &long)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // A connection id that belongs to another integration.
        (
            "oa".into(),
            vec![("session", &s_free), ("connection_id", "cc-owned")],
            StatusCode::CONFLICT,
            "conflict",
        ),
        // Settings the provider does not take.
        (
            "oa".into(),
            vec![("session", &s_free), ("shop", "x")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // Not an OAuth2 integration.
        (
            "st".into(),
            vec![("session", &s_free)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // No client id configured.
        (
            "noclient".into(),
            vec![("session", &s_free)],
            StatusCode::UNPROCESSABLE_ENTITY,
            "misconfigured",
        ),
    ];
    for (integration, query, status, want) in cases {
        let res = h
            .http
            .get(h.url(&format!("/api/integrations/{integration}/auth")))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert!(res.headers().get("location").is_none());
        let (code, message) = error_of(res, status).await;
        let shown: Vec<_> = query
            .iter()
            .map(|(k, v)| (k, v.chars().take(40).collect::<String>()))
            .collect();
        assert_eq!(code, want, "{integration} {shown:?}");
        assert!(
            !message.contains(&s_oa) && !message.contains(&s_free),
            "no session token in {message}"
        );
    }
    // Also with an app key: the route takes none and still refuses.
    let res = h
        .http
        .get(h.url("/api/integrations/oa/auth?session=cs_bogus"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );

    // Nothing changed: two sessions and no state; the cc connection is untouched.
    assert_eq!(h.provider_calls(), calls);
    assert_eq!(h.audit_rows().await, audit);
    let owned = h.engine.get_connection("cc-owned").await.unwrap();
    assert_eq!(
        (owned.integration.as_str(), owned.status),
        ("cc", ConnectionStatus::Active)
    );
    assert_eq!(h.stored().await.len(), 1);
    assert_eq!(
        h.purge_flows().await,
        2,
        "the two sessions, no authorization state"
    );
}

/// The redirect carries `Cache-Control: no-store` and `Referrer-Policy: no-referrer`,
/// and everything the provider needs (state, PKCE).
#[tokio::test]
async fn auth_redirect_is_not_cached_and_leaks_no_referrer() {
    let h = start_dev("").await;
    let s = h
        .session(json!({"end_user": {"id": "u1"}, "integrations": ["oa"]}))
        .await;
    let res = h
        .http
        .get(h.url("/api/integrations/oa/auth"))
        .query(&[("session", s.as_str()), ("connection_id", "chosen-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let loc = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert!(loc.as_str().starts_with(&format!("{}/authorize?", h.stub)));
    let q: BTreeMap<String, String> = loc.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "client-1");
    assert_eq!(
        q["redirect_uri"],
        "https://sb.example/api/integrations/oa/callback"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["state"].len() >= 43);
    assert!(
        !loc.as_str().contains(&s),
        "the session token does not go to the provider"
    );
    assert!(!loc.as_str().contains("client-secret-1"));
    assert_eq!(
        h.provider_calls(),
        0,
        "the provider is only visited by the browser"
    );
    // One session, one state.
    assert_eq!(h.purge_flows().await, 2);
}

// ---------------------------------------------------------------------------------------
// GET /api/integrations/{integration}/callback
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn callback_refuses_missing_bogus_reused_and_foreign_states() {
    let h = start_dev("").await;
    let s = h
        .session(json!({"end_user": {"id": "u1"}, "integrations": ["oa"],
                        "connection_id": "flow-1", "return_to": "https://app.example/done?x=1"}))
        .await;
    let state = h.start_auth("oa", &s).await;
    let audit = h.audit_rows().await;
    let long = "z".repeat(600);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("oa", vec![]),
        ("oa", vec![("code", "good")]),
        ("oa", vec![("state", ""), ("code", "good")]),
        ("oa", vec![("state", "bogus"), ("code", "good")]),
        ("oa", vec![("state", &long), ("code", "good")]),
        (
            "oa",
            vec![
                ("state", "\u{0}<script>alert(1)</script>"),
                ("code", "good"),
            ],
        ),
        ("oa", vec![("error", "access_denied")]),
        ("nope", vec![("state", "bogus"), ("code", "good")]),
    ];
    for (integration, q) in &cases {
        let res = h.callback(integration, q).await;
        assert!(res.headers().get("location").is_none());
        let (code, message) = error_of(res, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "invalid_request", "{integration} {q:?}");
        assert!(message.starts_with("state:"), "{message}");
        assert!(!message.contains("script"), "{message}");
    }
    assert!(h.stored().await.is_empty());
    assert_eq!(
        h.provider_calls(),
        0,
        "no code exchange without a valid state"
    );

    // A valid state at another integration's callback: refused, and (single use) gone.
    let res = h
        .callback("oa2", &[("state", &state), ("code", "good")])
        .await;
    let (code, message) = error_of(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_request");
    assert!(message.contains("another integration"), "{message}");
    let res = h
        .callback("oa", &[("state", &state), ("code", "good")])
        .await;
    let (_, message) = error_of(res, StatusCode::BAD_REQUEST).await;
    assert!(message.contains("unknown or already used"), "{message}");
    assert!(h.stored().await.is_empty());
    assert!(h.listed().await.is_empty());
    assert_eq!(h.provider_calls(), 0);
    assert_eq!(h.audit_rows().await, audit);
    // Only the session remains.
    assert_eq!(h.purge_flows().await, 1);
}

/// A full flow through the routes; a reused state is refused and changes nothing.
#[tokio::test]
async fn callback_connects_once_and_redirects_without_caching() {
    let h = start_dev("").await;
    let s = h
        .session(json!({"end_user": {"id": "u1"}, "integrations": ["oa"],
                        "connection_id": "flow-1", "return_to": "https://app.example/done?x=1"}))
        .await;
    let state = h.start_auth("oa", &s).await;
    let res = h
        .callback("oa", &[("state", &state), ("code", "good")])
        .await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with("https://app.example/done?x=1&"), "{loc}");
    assert!(loc.contains("status=connected") && loc.contains("connection_id=flow-1"));
    assert!(!loc.contains("at-secret") && !loc.contains("rt-secret"));
    assert_eq!(h.provider_calls_to("/token"), 1);
    let listed = h.listed().await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], "flow-1");
    let before = h.engine.get_connection("flow-1").await.unwrap();

    // Replayed: refused, no second exchange, the connection is unchanged.
    let res = h
        .callback("oa", &[("state", &state), ("code", "good")])
        .await;
    assert_eq!(
        error_code(res, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
    assert_eq!(h.provider_calls_to("/token"), 1);
    assert_eq!(h.engine.get_connection("flow-1").await.unwrap(), before);

    // The provider's error and a missing code are results for the app, not connections.
    let s2 = h
        .session(json!({"end_user": {"id": "u2"}, "integrations": ["oa"],
                        "return_to": "https://app.example/done"}))
        .await;
    let st = h.start_auth("oa", &s2).await;
    let res = h
        .callback("oa", &[("state", &st), ("error", "access_denied")])
        .await;
    assert_eq!(res.status(), 302);
    let loc = res.headers()["location"].to_str().unwrap();
    assert!(
        loc.contains("status=error") && loc.contains("error=access_denied"),
        "{loc}"
    );
    let st = h.start_auth("oa", &s2).await;
    let res = h.callback("oa", &[("state", &st)]).await;
    assert_eq!(res.status(), 302);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=invalid_request")
    );
    // A code the provider refuses.
    let st = h.start_auth("oa", &s2).await;
    let res = h.callback("oa", &[("state", &st), ("code", "bad")]).await;
    assert_eq!(res.status(), 302);
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=exchange_failed")
    );
    assert_eq!(h.stored().await.len(), 1);
}

/// Popup flows end on a page that posts the result to the opener; provider-given error
/// codes cannot inject markup.
#[tokio::test]
async fn callback_result_pages_are_safe() {
    let h = start_dev("").await;
    let s = h
        .session(json!({"end_user": {"id": "u1"}, "integrations": ["oa"],
                        "opener_origin": "https://app.example"}))
        .await;
    let st = h.start_auth("oa", &s).await;
    let res = h
        .callback(
            "oa",
            &[
                ("state", &st),
                ("error", "</script><script>alert(1)</script>"),
            ],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src 'nonce-"),
        "{csp}"
    );
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = res.text().await.unwrap();
    assert!(!page.contains("alert(1)"), "{page}");
    assert!(page.contains("provider_error"));
    assert!(page.contains("data-status=\"error\""));
    // No inline script: result.js posts what the data- attributes say.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(
        page.contains("<script src=\"/connect/assets/result.js\"></script>"),
        "{page}"
    );
    assert!(
        page.contains("data-target-origin=\"https://app.example\""),
        "{page}"
    );
    assert!(page.contains("data-integration=\"oa\""), "{page}");
    assert!(h.stored().await.is_empty());

    // Connected through the popup.
    let st = h.start_auth("oa", &s).await;
    let res = h.callback("oa", &[("state", &st), ("code", "good")]).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("data-status=\"connected\""));
    assert!(!page.contains("at-secret"));
    assert_eq!(h.stored().await.len(), 1);
}

// ---------------------------------------------------------------------------------------
// POST /api/integrations/{integration}/disconnect
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn disconnect_refuses_bad_bodies_and_foreign_connections() {
    let h = start_dev("").await;
    h.cc_connection("c1", "u1").await;
    let oa = h.oauth_connection("oa", "o1").await;
    let audit = h.audit_rows().await;
    let calls = h.provider_calls();
    let huge = "c".repeat(100_000);
    let cases: Vec<(&str, String, Option<&str>, StatusCode, &str)> = vec![
        (
            "cc",
            r#"{"connection_id":"c1"}"#.into(),
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "cc",
            r#"{"connection_id":"c1"}"#.into(),
            Some("text/plain"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "cc",
            "{oops".into(),
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "cc",
            "".into(),
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "cc",
            "{}".into(),
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "cc",
            r#"{"connection_id":1}"#.into(),
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "cc",
            r#"{"connection_id":null}"#.into(),
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        (
            "cc",
            r#"{"connection_id":"c1","force":true}"#.into(),
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        ),
        // Unknown integration, unknown connection, huge id.
        (
            "nope",
            r#"{"connection_id":"c1"}"#.into(),
            Some("application/json"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "cc",
            r#"{"connection_id":"nope"}"#.into(),
            Some("application/json"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "cc",
            r#"{"connection_id":""}"#.into(),
            Some("application/json"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "cc",
            json!({"connection_id": huge}).to_string(),
            Some("application/json"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        // A connection of another integration.
        (
            "oa",
            r#"{"connection_id":"c1"}"#.into(),
            Some("application/json"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "oa2",
            r#"{"connection_id":"o1"}"#.into(),
            Some("application/json"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "cc",
            r#"{"connection_id":"o1"}"#.into(),
            Some("application/json"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (integration, body, ct, status, want) in cases {
        let mut req = h
            .http
            .post(h.url(&format!("/api/integrations/{integration}/disconnect")))
            .bearer_auth(&h.app)
            .body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.unwrap();
        let (code, _) = error_of(res, status).await;
        let shown: String = body.chars().take(80).collect();
        assert_eq!(code, want, "{integration} {shown}");
    }
    // Nothing revoked, at the provider or here; no audit row.
    assert_eq!(h.provider_calls(), calls);
    assert_eq!(h.provider_calls_to("/revoke"), 0);
    assert_eq!(h.audit_rows().await, audit);
    for id in ["c1", &oa] {
        assert_eq!(
            h.engine.get_connection(id).await.unwrap().status,
            ConnectionStatus::Active
        );
        assert!(
            h.store
                .get_connection_credentials(id)
                .await
                .unwrap()
                .is_some()
        );
    }

    // The right integration: revoked at the provider and here.
    let res = h
        .post_json(
            "/api/integrations/oa/disconnect",
            r#"{"connection_id":"o1"}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v, json!({"deleted": true, "revoked_at_provider": true}));
    assert_eq!(h.provider_calls_to("/revoke"), 1);
    assert_eq!(
        h.engine.get_connection("o1").await.unwrap().status,
        ConnectionStatus::Revoked
    );
    assert!(
        h.store
            .get_connection_credentials("o1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(h.audit_rows().await, audit + 1);
}

// ---------------------------------------------------------------------------------------
// GET /api/integrations/{integration}/status, GET /api/integrations
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn status_refuses_unknown_things_and_bad_queries() {
    let h = start_dev("").await;
    h.cc_connection("c1", "u1").await;
    for (path, status, want) in [
        (
            "/api/integrations/nope/status",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/integrations/cc/status?connection_id=nope",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        // A connection of another integration is not shown.
        (
            "/api/integrations/oa/status?connection_id=c1",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/integrations/cc/status?unknown=1",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/api/integrations/cc/status?connection_id=c1&connection_id=c2",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let res = h.get(path).send().await.unwrap();
        assert_eq!(error_code(res, status).await, want, "{path}");
    }
    let v: Value = h
        .get("/api/integrations/cc/status?connection_id=c1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["integration"], "cc");
    assert_eq!(v["auth_mode"], "client_credentials");
    assert_eq!(v["configured"], true);
    assert_eq!(v["connections"]["active"], 1);
    assert_eq!(v["connection"]["id"], "c1");
    assert_eq!(v["connection"]["status"], "active");
    assert!(
        v["connection"]["created_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert!(!v.to_string().contains("cc-secret-token"));
    let v: Value = h
        .get("/api/integrations/oa/status")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["connections"]["active"], 0);
    assert!(v.get("connection").is_none());

    let v: Value = h
        .get("/api/integrations")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().or(i["integration"].as_str()).unwrap_or(""))
        .collect();
    for id in ["oa", "oa2", "cc", "st", "tw", "hooks"] {
        assert!(ids.contains(&id), "{id} in {v}");
    }
    assert!(v["next_cursor"].is_null());
    let text = v.to_string();
    assert!(
        !text.contains("client-secret") && !text.contains("cc-client-secret"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// GET /api/connections
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn connection_listing_checks_filters_cursors_and_limits() {
    let h = start_dev("").await;
    for (id, user) in [("c1", "u1"), ("c2", "u1"), ("c3", "u2")] {
        h.cc_connection(id, user).await;
    }
    for q in [
        "status=bogus",
        "status=",
        "status=ACTIVE",
        "cursor=",
        "cursor=a/b",
        "cursor=-leading-dash",
        "cursor=%00",
        "limit=abc",
        "limit=-1",
        "limit=1.5",
        "limit=99999999999",
        "unknown=1",
        "integration=cc&integration=oa",
    ] {
        let res = h
            .get(&format!("/api/connections?{q}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(res, StatusCode::BAD_REQUEST).await,
            "invalid_request",
            "{q}"
        );
    }
    let cursor_long = format!("cursor={}", "a".repeat(5000));
    let res = h
        .get(&format!("/api/connections?{cursor_long}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );

    let page = |q: &str| {
        let req = h.get(&format!("/api/connections?{q}"));
        let q = q.to_owned();
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200, "{q}");
            res.json::<Value>().await.unwrap()
        }
    };
    // limit=0 is clamped to 1.
    let v = page("limit=0").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["id"], "c1");
    assert_eq!(v["next_cursor"], "c1");
    let v = page("limit=1&cursor=c1").await;
    assert_eq!(v["data"][0]["id"], "c2");
    let v = page("limit=1&cursor=c2").await;
    assert_eq!(v["data"][0]["id"], "c3");
    assert!(v["next_cursor"].is_null());
    // A huge limit is clamped to 500 (all three here).
    let v = page("limit=4294967295").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    assert!(v["next_cursor"].is_null());
    // Filters.
    assert_eq!(
        page("end_user_id=u1").await["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        page("integration=oa").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        page("integration=nope").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        page("status=revoked").await["data"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let v = page("status=active&integration=cc").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 3);
    let text = v.to_string();
    assert!(
        !text.contains("cc-secret-token"),
        "no secret in a listing: {text}"
    );
    for c in v["data"].as_array().unwrap() {
        assert_eq!(c["auth_mode"], "client_credentials");
        assert!(c.get("access_token").is_none());
    }
}

// ---------------------------------------------------------------------------------------
// GET /api/connections/{id}, /token, POST /refresh
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_connections_are_404_everywhere() {
    let h = start_dev("").await;
    let long = "a".repeat(5000);
    for id in ["nope", "a%2Fb", "%00", "..", long.as_str()] {
        for (method, suffix) in [
            ("GET", ""),
            ("GET", "/token"),
            ("POST", "/refresh"),
            ("POST", "/check"),
        ] {
            let res = h
                .http
                .request(
                    method.parse().unwrap(),
                    h.url(&format!("/api/connections/{id}{suffix}")),
                )
                .bearer_auth(&h.app)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let (code, _) = error_of(res, status).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::NOT_FOUND, "not_found"),
                "{method} {}{suffix}",
                &id[..id.len().min(20)]
            );
        }
    }
    assert_eq!(h.provider_calls(), 0);
    assert!(h.stored().await.is_empty());
}

#[tokio::test]
async fn token_and_refresh_answer_by_connection_state() {
    let h = start_dev("").await;
    h.cc_connection("c1", "u1").await;
    let oa = h.oauth_connection("oa", "o1").await;

    // Tokens are never cached.
    for (id, token) in [("c1", "cc-secret-token"), (oa.as_str(), "at-secret-1")] {
        let res = h
            .get(&format!("/api/connections/{id}/token"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.headers()["referrer-policy"], "no-referrer");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["access_token"], token);
        assert_eq!(v["token_type"], "Bearer");
        assert!(v["expires_at"].as_str().unwrap().ends_with('Z'));
        assert!(v.get("refresh_token").is_none(), "{v}");
    }
    // get shows no secret.
    let v: Value = h
        .get("/api/connections/o1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["id"], "o1");
    assert_eq!(v["integration"], "oa");
    assert!(!v.to_string().contains("secret"), "{v}");

    // Refresh: a new token.
    let res = h
        .http
        .post(h.url("/api/connections/o1/refresh"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["refreshed"], true);
    assert!(!v.to_string().contains("at-secret-2"));
    let v: Value = h
        .get("/api/connections/o1/token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["access_token"], "at-secret-2");

    // Needs re-authorization: 409 needs_reauth, no call to the provider.
    h.store
        .set_connection_status(
            "o1",
            ConnectionStatus::NeedsReauth,
            Some("invalid_grant"),
            store::now(),
        )
        .await
        .unwrap();
    let calls = h.provider_calls();
    let res = h.get("/api/connections/o1/token").send().await.unwrap();
    assert_eq!(error_code(res, StatusCode::CONFLICT).await, "needs_reauth");
    let res = h
        .http
        .post(h.url("/api/connections/o1/refresh"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, StatusCode::CONFLICT).await, "needs_reauth");

    // Revoked (disconnected): 409 revoked.
    let res = h
        .post_json(
            "/api/integrations/cc/disconnect",
            r#"{"connection_id":"c1"}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let calls_after_disconnect = h.provider_calls();
    assert!(calls_after_disconnect > calls);
    let res = h.get("/api/connections/c1/token").send().await.unwrap();
    let (code, message) = error_of(res, StatusCode::CONFLICT).await;
    assert_eq!(code, "revoked");
    assert!(message.contains("c1"), "{message}");
    assert!(!message.contains("cc-secret-token"));
    let res = h
        .http
        .post(h.url("/api/connections/c1/refresh"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, StatusCode::CONFLICT).await, "revoked");
    let v: Value = h
        .get("/api/connections/c1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "revoked");
    assert_eq!(h.provider_calls(), calls_after_disconnect);
    // Wrong methods.
    let res = h
        .http
        .post(h.url("/api/connections/o1/token"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(res, StatusCode::METHOD_NOT_ALLOWED).await,
        "method_not_allowed"
    );
    let res = h.get("/api/connections/o1/refresh").send().await.unwrap();
    assert_eq!(
        error_code(res, StatusCode::METHOD_NOT_ALLOWED).await,
        "method_not_allowed"
    );
}

/// Check now: a connection whose provider has no request to check credentials with,
/// or that is not active, is a 409 that says why; nothing reaches the provider; the
/// wrong method is refused.
#[tokio::test]
async fn check_answers_409_when_the_connection_cannot_be_checked() {
    let h = start_dev("").await;
    h.cc_connection("c1", "u1").await;
    let calls = h.provider_calls();
    let check = |id: &str| {
        h.http
            .post(h.url(&format!("/api/connections/{id}/check")))
            .bearer_auth(&h.app)
            .send()
    };
    let (code, message) = error_of(check("c1").await.unwrap(), StatusCode::CONFLICT).await;
    assert_eq!(code, "conflict");
    assert!(message.contains("no request to check"), "{message}");
    h.store
        .set_connection_status(
            "c1",
            ConnectionStatus::NeedsReauth,
            Some("invalid_grant"),
            store::now(),
        )
        .await
        .unwrap();
    let res = check("c1").await.unwrap();
    assert_eq!(error_code(res, StatusCode::CONFLICT).await, "needs_reauth");
    assert_eq!(h.provider_calls(), calls);
    let v: Value = h
        .get("/api/connections/c1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["health_checked_at"].is_null(), "nothing recorded: {v}");
    let res = h.get("/api/connections/c1/check").send().await.unwrap();
    assert_eq!(
        error_code(res, StatusCode::METHOD_NOT_ALLOWED).await,
        "method_not_allowed"
    );
}

/// API-key connections hand out their key (not cached) and do not refresh.
#[tokio::test]
async fn api_key_connections_do_not_refresh() {
    let h = start_dev("").await;
    // Stored as the engine would after a successful verify (the real provider is not
    // reachable from tests).
    let now = store::now();
    let c = store::Connection {
        id: "k1".into(),
        integration: "st".into(),
        provider: "stripe".into(),
        end_user_id: "u1".into(),
        auth_mode: "api_key".into(),
        status: ConnectionStatus::Active,
        scopes: vec![],
        missing_scopes: vec![],
        settings: BTreeMap::new(),
        routing_key: None,
        expires_at: None,
        created_at: now,
        updated_at: now,
        last_refresh_at: None,
        last_error: None,
        refresh_failures: 0,
        next_refresh_at: None,
        token_version: 0,
        token_obtained_at: None,
        health: None,
    };
    let slot = store::credentials_slot("k1");
    let ciphertext = h
        .engine
        .keyring()
        .seal(
            json!({"api_key": SECRET_KEY}).to_string().as_bytes(),
            vault::Aad::new(&slot.owner, &slot.name, &slot.owner_id),
        )
        .unwrap();
    let sealed = store::SealedCredentials {
        key_id: h.engine.keyring().primary().id().to_string(),
        ciphertext,
    };
    h.store.upsert_connection(&c, &sealed).await.unwrap();
    let res = h.get("/api/connections/k1/token").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["api_key"], SECRET_KEY);
    assert!(v["expires_at"].is_null());
    let res = h
        .http
        .post(h.url("/api/connections/k1/refresh"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_request");
    assert!(!message.contains(SECRET_KEY));
    assert_eq!(h.provider_calls(), 0);
}

// ---------------------------------------------------------------------------------------
// POST /api/connections
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn direct_connect_refuses_bad_bodies_and_never_echoes_secrets() {
    let h = start_dev("").await;
    let audit = h.audit_rows().await;
    let long_key = format!("{SECRET_KEY}{}", "k".repeat(5000));
    let ctl = format!("{SECRET_KEY}\u{0}");
    let huge = "u".repeat(100_000);
    let j = Some("application/json");
    let cases: Vec<(String, Option<&str>, StatusCode, &str)> = vec![
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}}).to_string(), None, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}}).to_string(), Some("text/plain"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (format!(r#"{{"integration":"st","credentials":{{"api_key":"{SECRET_KEY}"}}"#), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (format!(r#"{{"integration":"st","credentials":{{"api_key":"{SECRET_KEY}",}}}}"#), j, StatusCode::BAD_REQUEST, "invalid_request"),
        ("".into(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        ("[]".into(), j, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        // Missing integration, wrong types, unknown fields (top level and in credentials).
        (json!({"credentials": {"api_key": SECRET_KEY}}).to_string(), j, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (json!({"integration": 7, "credentials": {"api_key": SECRET_KEY}}).to_string(), j, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "settings": ["account_id"]}).to_string(), j, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": 12345}}).to_string(), j, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "settings": {"account_id": 1}}).to_string(), j, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "end_user_id": ["u"]}).to_string(), j, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "api_key": SECRET_KEY}).to_string(), j, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY, "token": SECRET_KEY}}).to_string(), j, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        // Unknown integration.
        (json!({"integration": "nope", "credentials": {"api_key": SECRET_KEY}}).to_string(), j, StatusCode::NOT_FOUND, "not_found"),
        (json!({"integration": huge, "credentials": {"api_key": SECRET_KEY}}).to_string(), j, StatusCode::NOT_FOUND, "not_found"),
        // An API key for an OAuth2 integration, or for a webhook-only one.
        (json!({"integration": "oa", "credentials": {"api_key": SECRET_KEY}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "hooks", "credentials": {"api_key": SECRET_KEY}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        // Credentials for client credentials.
        (json!({"integration": "cc", "credentials": {"api_key": SECRET_KEY}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        // Bad API keys.
        (json!({"integration": "st"}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "st", "credentials": {}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": "   "}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": long_key}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        // Basic without a password.
        (json!({"integration": "tw", "credentials": {"username": "AC1", "api_key": SECRET_KEY}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "tw", "credentials": {"password": SECRET_KEY}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        // Bad ids and settings.
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "connection_id": "a b"}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "connection_id": huge}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "end_user_id": ""}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "end_user_id": "a\u{7}"}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "end_user_id": huge}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "settings": {"shop": "x"}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "settings": {"account_id": ""}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "settings": {"account_id": huge}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
        (json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "settings": {"account_id": ctl}}).to_string(), j, StatusCode::BAD_REQUEST, "invalid_request"),
    ];
    for (body, ct, status, want) in cases {
        let mut req = h
            .http
            .post(h.url("/api/connections"))
            .bearer_auth(&h.app)
            .body(body.clone());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let res = req.send().await.unwrap();
        let text_status = res.status();
        let text = res.text().await.unwrap();
        let shown: String = body.chars().take(160).collect();
        assert!(
            !text.contains(SECRET_KEY) && !text.contains("TOPSECRET"),
            "the submitted secret is echoed for {shown}: {text}"
        );
        assert_eq!(text_status, status, "{shown}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], want, "{shown}: {text}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Nothing stored, nothing asked of any provider, no audit row.
    assert!(h.stored().await.is_empty());
    assert!(h.listed().await.is_empty());
    assert_eq!(h.provider_calls(), 0);
    assert_eq!(h.audit_rows().await, audit);
}

/// A connection id taken by another end user: 409, and the owner's connection is
/// unchanged.
#[tokio::test]
async fn direct_connect_does_not_take_over_a_connection() {
    let h = start_dev("").await;
    let first = h.cc_connection("shared", "u1").await;
    let audit = h.audit_rows().await;
    let res = h
        .post_json(
            "/api/connections",
            &json!({"integration": "cc", "connection_id": "shared", "end_user_id": "intruder"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res, StatusCode::CONFLICT).await, "conflict");
    let now: Value = h
        .get("/api/connections/shared")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["end_user_id"], "u1");
    assert_eq!(now["updated_at"], first["updated_at"]);
    assert_eq!(h.audit_rows().await, audit);
    assert_eq!(h.stored().await.len(), 1);
}

// ---------------------------------------------------------------------------------------
// OpenAPI
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn openapi_lists_every_connection_route() {
    let h = start_dev("").await;
    let doc: Value = h
        .http
        .get(h.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in [
        ("/api/connect-sessions", "post"),
        ("/api/integrations", "get"),
        ("/api/integrations/{integration}/auth", "get"),
        ("/api/integrations/{integration}/callback", "get"),
        ("/api/integrations/{integration}/disconnect", "post"),
        ("/api/integrations/{integration}/status", "get"),
        ("/api/integrations/{integration}/oauth-test", "post"),
        ("/api/connections", "get"),
        ("/api/connections", "post"),
        ("/api/connections/{id}", "get"),
        ("/api/connections/{id}/token", "get"),
        ("/api/connections/{id}/refresh", "post"),
        ("/api/connections/{id}/check", "post"),
    ] {
        assert!(
            doc["paths"][path].get(method).is_some(),
            "openapi lacks {method} {path}"
        );
        assert_eq!(
            doc["paths"][path][method]["tags"][0], "connections",
            "{path}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Known bugs (failing tests, ignored until fixed)
// ---------------------------------------------------------------------------------------

/// A JSON array is not an object: it must be refused, not read field by field.
#[tokio::test]
async fn json_array_bodies_are_refused_and_change_nothing() {
    let h = start_dev("").await;
    h.cc_connection("c1", "u1").await;
    let audit = h.audit_rows().await;
    let res = h
        .post_json("/api/integrations/cc/disconnect", r#"["c1"]"#)
        .send()
        .await
        .unwrap();
    let disconnect_status = res.status();
    let res = h
        .post_json("/api/connect-sessions", r#"[{"id":"u"},["oa"]]"#)
        .send()
        .await
        .unwrap();
    let session_status = res.status();
    let res = h
        .post_json("/api/connections", r#"["cc", "u2", "c2"]"#)
        .send()
        .await
        .unwrap();
    let direct_status = res.status();
    assert_eq!(
        (
            disconnect_status.as_u16(),
            session_status.as_u16(),
            direct_status.as_u16()
        ),
        (422, 422, 422)
    );
    assert_eq!(
        h.engine.get_connection("c1").await.unwrap().status,
        ConnectionStatus::Active
    );
    assert_eq!(h.stored().await.len(), 1);
    assert_eq!(h.purge_flows().await, 0);
    assert_eq!(h.audit_rows().await, audit);
}

/// Error messages never contain the submitted secret, also when it has the wrong type.
#[tokio::test]
async fn rejections_never_echo_a_submitted_secret() {
    let h = start_dev("").await;
    for body in [
        json!({"integration": "st", "credentials": SECRET_KEY}),
        json!({"integration": "st", "credentials": {"api_key": SECRET_KEY}, "settings": SECRET_KEY}),
        json!({"integration": "tw", "credentials": [SECRET_KEY]}),
    ] {
        let res = h
            .post_json("/api/connections", &body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
        assert!(!text.contains("TOPSECRET"), "secret echoed: {text}");
    }
    assert!(h.stored().await.is_empty());
}

/// Every answer of the token route is `no-store`, errors included (RFC 6749 §5.2 sends
/// error responses with `Cache-Control: no-store` too).
#[tokio::test]
async fn token_errors_are_not_cached_either() {
    let h = start_dev("").await;
    h.cc_connection("c1", "u1").await;
    let res = h
        .post_json(
            "/api/integrations/cc/disconnect",
            r#"{"connection_id":"c1"}"#,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for id in ["c1", "nope"] {
        let res = h
            .get(&format!("/api/connections/{id}/token"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error());
        assert_eq!(
            res.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{id}"
        );
    }
}

/// Error messages stay short: a huge id is not sent back whole.
#[tokio::test]
async fn error_messages_stay_short_for_huge_inputs() {
    let h = start_dev("").await;
    let huge = "a".repeat(100_000);
    let mut lens = Vec::new();
    for res in [
        h.post_json(
            "/api/integrations/cc/disconnect",
            &json!({"connection_id": huge}).to_string(),
        )
        .send()
        .await
        .unwrap(),
        h.post_json(
            "/api/connections",
            &json!({"integration": huge}).to_string(),
        )
        .send()
        .await
        .unwrap(),
        h.get(&format!("/api/connections/{}", &huge[..5000]))
            .send()
            .await
            .unwrap(),
    ] {
        let (_, message) = error_of(res, StatusCode::NOT_FOUND).await;
        lens.push(message.len());
    }
    assert!(lens.iter().all(|n| *n <= 1000), "message lengths {lens:?}");
}

/// Found by the API fuzzer: an end-user id is "1 to 256 characters" (as the error and
/// the OpenAPI pattern say), but the check counted bytes, so 200 accented letters (400
/// bytes) were refused.
#[tokio::test]
async fn end_user_ids_are_limited_in_characters_not_bytes() {
    let h = start_dev("").await;
    let accented = "é".repeat(256);
    h.session(json!({"end_user": {"id": accented}, "integrations": ["oa"]}))
        .await;
    let res = h
        .post_json(
            "/api/connections",
            &json!({"integration": "cc", "connection_id": "c-accent", "end_user_id": accented})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let too_long = "é".repeat(257);
    let res = h
        .post_json(
            "/api/connect-sessions",
            &json!({"end_user": {"id": too_long}, "integrations": ["oa"]}).to_string(),
        )
        .send()
        .await
        .unwrap();
    let (code, message) = error_of(res, StatusCode::BAD_REQUEST).await;
    assert_eq!(code, "invalid_request");
    assert!(message.contains("end_user.id"), "{message}");
}
