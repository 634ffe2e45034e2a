//! Connections: the harness shared by the `connections_*` test modules (a stub provider
//! on 127.0.0.1, providers built from JSON, sealed credentials made by hand) and the
//! tests of connect sessions and the authorization-code flow.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use serde_json::{Value, json};
use sha2::Digest as _;
use store::{
    ConnectSession, Connection, ConnectionStatus, ConnectionStore, OAuthState, SealedCredentials,
    Store, Upsert,
};
use store_sqlite::SqliteStore;
use tokio::sync::Notify;

use super::{all_audit, key, memory_store, ring};
use crate::connections::{
    CallbackOutcome, CallbackParams, ConnectSessionRequest, Delivery, page_nonce,
};
use crate::ids::{is_connection_id, is_end_user_id};
use crate::{Engine, EngineError};

// ---------------------------------------------------------------------------------------
// Stub provider
// ---------------------------------------------------------------------------------------

/// A request the stub received.
#[derive(Debug, Clone)]
pub(super) struct Req {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Req {
    pub(super) fn form(&self) -> BTreeMap<String, String> {
        form_urlencoded::parse(self.body.as_bytes())
            .into_owned()
            .collect()
    }

    pub(super) fn query_map(&self) -> BTreeMap<String, String> {
        form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A stub answer.
#[derive(Clone)]
pub(super) struct Resp {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    /// Answer only once notified.
    pub gate: Option<Arc<Notify>>,
    /// Answer only after this long.
    pub delay: Duration,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub(super) fn json(status: u16, v: Value) -> Self {
        Self {
            status,
            content_type: "application/json".into(),
            body: v.to_string(),
            gate: None,
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }

    pub(super) fn raw(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: content_type.into(),
            body: body.into(),
            gate: None,
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }

    pub(super) fn gated(mut self, gate: Arc<Notify>) -> Self {
        self.gate = Some(gate);
        self
    }

    pub(super) fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }

    /// Adds a response header.
    pub(super) fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Route = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

#[derive(Clone)]
struct StubState {
    reqs: Arc<Mutex<Vec<Req>>>,
    route: Arc<Mutex<Route>>,
}

/// An HTTP server on 127.0.0.1 that records every request and answers with a closure.
pub(super) struct Stub {
    pub base: String,
    state: StubState,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn stub_handler(
    State(st): State<StubState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let req = Req {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    st.reqs.lock().unwrap().push(req.clone());
    let route = st.route.lock().unwrap().clone();
    let resp = route(&req);
    if let Some(g) = &resp.gate {
        g.notified().await;
    }
    if !resp.delay.is_zero() {
        tokio::time::sleep(resp.delay).await;
    }
    let mut out = axum::response::Response::builder()
        .status(resp.status)
        .header("content-type", resp.content_type);
    for (k, v) in &resp.headers {
        out = out.header(k.as_str(), v.as_str());
    }
    out.body(axum::body::Body::from(resp.body)).unwrap()
}

impl Stub {
    pub(super) async fn start(route: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = StubState {
            reqs: Arc::new(Mutex::new(Vec::new())),
            route: Arc::new(Mutex::new(Arc::new(route))),
        };
        let app = axum::Router::new()
            .fallback(stub_handler)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base: format!("http://{addr}"),
            state,
            task,
        }
    }

    /// Replaces the answers.
    pub(super) fn set(&self, route: impl Fn(&Req) -> Resp + Send + Sync + 'static) {
        *self.state.route.lock().unwrap() = Arc::new(route);
    }

    /// Requests to `path`, in order.
    pub(super) fn reqs(&self, path: &str) -> Vec<Req> {
        self.state
            .reqs
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub(super) fn count(&self, path: &str) -> usize {
        self.reqs(path).len()
    }

    pub(super) fn total(&self) -> usize {
        self.state.reqs.lock().unwrap().len()
    }
}

/// The usual answers: a token endpoint issuing `at-N`/`rt-N`, revocation, userinfo and an
/// API whose `/api/me` accepts `key-ok` and `user:pw`.
pub(super) fn default_route(req: &Req) -> Resp {
    match req.path.as_str() {
        "/token" | "/refresh" => {
            let grant = req
                .form()
                .get("grant_type")
                .cloned()
                .or_else(|| {
                    serde_json::from_str::<Value>(&req.body)
                        .ok()
                        .and_then(|v| v["grant_type"].as_str().map(str::to_owned))
                })
                .unwrap_or_default();
            let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match grant.as_str() {
                "client_credentials" => Resp::json(
                    200,
                    json!({"access_token": format!("cc-{n}"), "expires_in": 3600, "token_type": "Bearer"}),
                ),
                _ => Resp::json(
                    200,
                    json!({
                        "access_token": format!("at-{n}"),
                        "refresh_token": format!("rt-{n}"),
                        "expires_in": 3600,
                        "token_type": "Bearer",
                        "scope": "read write",
                    }),
                ),
            }
        }
        "/revoke" => Resp::raw(200, "text/plain", ""),
        "/userinfo" => Resp::json(200, json!({"sub": "u-1", "team": {"id": "T123"}})),
        "/api/me" => {
            let ok = req.header("authorization") == Some("Bearer key-ok")
                || req.header("authorization") == Some(&basic_plain("user", "pw"))
                || req.header("authorization") == Some(&basic_plain("api", "pw"));
            if ok {
                Resp::json(200, json!({"ok": true}))
            } else {
                Resp::json(401, json!({"error": "unauthorized"}))
            }
        }
        "/jwks" => Resp::json(200, json!({"keys": [ec_jwk()]})),
        _ => Resp::json(404, json!({"error": "not_found"})),
    }
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(super) fn basic_plain(u: &str, p: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{u}:{p}")))
}

// ---------------------------------------------------------------------------------------
// Providers, configuration, engines
// ---------------------------------------------------------------------------------------

/// JSON merge patch (RFC 7386): `null` removes a key.
pub(super) fn merge(a: &mut Value, b: Value) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    a.remove(&k);
                } else {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (a, b) => *a = b,
    }
}

/// An OAuth2 provider `id` whose endpoints are on the stub at `base`, changed by `patch`.
pub(super) fn provider(id: &str, base: &str, patch: Value) -> catalog::Provider {
    let mut v = json!({
        "id": id,
        "name": id,
        "docs_url": "https://docs.example.com",
        "auth_mode": "oauth2",
        "api_base_url": format!("{base}/api"),
        "oauth2": {
            "authorization_url": "https://auth.example.com/authorize?prompt=consent",
            "token_url": format!("{base}/token"),
            "userinfo_url": format!("{base}/userinfo"),
            "revocation": {"url": format!("{base}/revoke")},
            "default_scopes": ["read", "write"],
        }
    });
    merge(&mut v, patch);
    serde_json::from_value(v).unwrap()
}

/// A non-OAuth provider (`api_key`, `basic`, `webhook_only`).
pub(super) fn plain_provider(id: &str, base: &str, mode: &str, patch: Value) -> catalog::Provider {
    let mut v = json!({
        "id": id,
        "name": id,
        "docs_url": "https://docs.example.com",
        "auth_mode": mode,
        "api_base_url": format!("{base}/api"),
        "verify": {"path": "/me"},
    });
    merge(&mut v, patch);
    serde_json::from_value(v).unwrap()
}

/// `[[integrations]]` for integration `id` of provider `provider` with the test client.
pub(super) fn integration(id: &str, provider: &str, extra: &str) -> String {
    format!(
        r#"
[[integrations]]
id = "{id}"
provider = "{provider}"
client_id = "client:1"
client_secret = "s3cr et/+"
allowed_return_origins = ["https://app.example", "http://localhost:3000"]
{extra}
"#
    )
}

pub(super) const CLIENT_ID: &str = "client:1";

/// `Authorization: Basic` of the test client, RFC 6749 §2.3.1 style.
pub(super) fn client_basic() -> String {
    format!(
        "Basic {}",
        STANDARD.encode("client%3A1:s3cr+et%2F%2B".as_bytes())
    )
}

pub(super) fn config(top: &str, integrations: &str) -> config::Config {
    let text = format!("public_url = \"https://sb.example\"\n{top}\n{integrations}");
    config::Config::from_toml(&text, "t.toml", &BTreeMap::new(), &Default::default()).unwrap()
}

/// An engine over `store` with `providers` (and only them) in its catalog.
pub(super) fn engine_with(
    store: Arc<dyn Store>,
    keyring: vault::Keyring,
    providers: &[catalog::Provider],
    cfg: config::Config,
    dev: bool,
) -> Engine {
    let mut cat = catalog::Catalog::default();
    for p in providers {
        cat.insert(p.clone()).unwrap();
    }
    Engine::new(store, keyring, cfg)
        .with_catalog(cat)
        .with_dev(dev)
}

/// An engine, its store and the stub.
pub(super) struct H {
    pub engine: Engine,
    pub store: SqliteStore,
    pub stub: Stub,
}

/// A harness with provider `p` (patched by `patch`) behind integration `it`.
pub(super) async fn harness(patch: Value, it_extra: &str, top: &str) -> H {
    let stub = Stub::start(default_route).await;
    let p = provider("p", &stub.base, patch);
    harness_with(stub, vec![p], &integration("it", "p", it_extra), top).await
}

pub(super) async fn harness_with(
    stub: Stub,
    providers: Vec<catalog::Provider>,
    integrations: &str,
    top: &str,
) -> H {
    let store = memory_store().await;
    let engine = engine_with(
        Arc::new(store.clone()),
        ring(&key(), &[]),
        &providers,
        config(top, integrations),
        true,
    );
    H {
        engine,
        store,
        stub,
    }
}

// ---------------------------------------------------------------------------------------
// Hand-made rows
// ---------------------------------------------------------------------------------------

/// Seals `creds` (a `Credentials` JSON object) for connection `id` the way the engine does.
pub(super) fn seal(engine: &Engine, id: &str, creds: &Value) -> SealedCredentials {
    let slot = store::credentials_slot(id);
    let ciphertext = engine
        .keyring()
        .seal(
            creds.to_string().as_bytes(),
            vault::Aad::new(&slot.owner, &slot.name, &slot.owner_id),
        )
        .unwrap();
    SealedCredentials {
        key_id: engine.keyring().primary().id().to_string(),
        ciphertext,
    }
}

/// Opens what the engine sealed for connection `id`.
pub(super) fn open(engine: &Engine, id: &str, sealed: &SealedCredentials) -> Value {
    use vault::ExposeSecret as _;
    let slot = store::credentials_slot(id);
    let plain = engine
        .keyring()
        .open(
            &sealed.ciphertext,
            vault::Aad::new(&slot.owner, &slot.name, &slot.owner_id),
        )
        .unwrap();
    serde_json::from_slice(plain.expose_secret()).unwrap()
}

pub(super) async fn stored_creds(h: &H, id: &str) -> Value {
    let (_, sealed) = h
        .store
        .get_connection_credentials(id)
        .await
        .unwrap()
        .unwrap();
    open(&h.engine, id, &sealed)
}

/// A connection row (active, token expiring in `expires_in` seconds when given).
pub(super) fn conn(
    id: &str,
    integration: &str,
    auth_mode: &str,
    expires_in: Option<i64>,
) -> Connection {
    let now = store::now();
    let expires_at = expires_in.map(|s| now + chrono::Duration::seconds(s));
    // Written (and so its token obtained) an hour ago: a token expiring within the
    // refresh margin is due, as it would be after living most of its life.
    let written = now - chrono::Duration::hours(1);
    Connection {
        id: id.into(),
        integration: integration.into(),
        provider: "p".into(),
        end_user_id: "u1".into(),
        auth_mode: auth_mode.into(),
        status: ConnectionStatus::Active,
        scopes: vec!["read".into()],
        missing_scopes: vec![],
        settings: BTreeMap::new(),
        routing_key: None,
        expires_at,
        created_at: written,
        updated_at: written,
        last_refresh_at: None,
        last_error: None,
        refresh_failures: 0,
        next_refresh_at: expires_at.map(|e| e - chrono::Duration::seconds(60)),
        token_version: 0,
        token_obtained_at: None,
        health: None,
    }
}

/// Stores `c` with `creds` sealed by the engine's keyring.
pub(super) async fn put(engine: &Engine, c: &Connection, creds: Value) {
    let sealed = seal(engine, &c.id, &creds);
    match engine.store().upsert_connection(c, &sealed).await.unwrap() {
        Upsert::Created(_) | Upsert::Replaced(_) => {}
        Upsert::Taken => panic!("taken"),
    }
}

// ---------------------------------------------------------------------------------------
// Flow helpers
// ---------------------------------------------------------------------------------------

pub(super) fn session_req(v: Value) -> ConnectSessionRequest {
    serde_json::from_value(v).unwrap()
}

pub(super) async fn session(h: &H, v: Value) -> String {
    h.engine
        .create_connect_session(session_req(v))
        .await
        .unwrap()
        .token
}

/// The query of an authorization URL.
pub(super) fn query_of(url: &str) -> BTreeMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

pub(super) fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

pub(super) fn cb(code: Option<&str>, state: Option<&str>) -> CallbackParams {
    CallbackParams {
        code: code.map(str::to_owned),
        state: state.map(str::to_owned),
        ..CallbackParams::default()
    }
}

/// Session → authorization → callback for integration `it`; returns the outcome and the
/// authorization query.
pub(super) async fn connect(
    h: &H,
    integration: &str,
    session_extra: Value,
    connection_id: Option<&str>,
    other: BTreeMap<String, String>,
) -> (CallbackOutcome, BTreeMap<String, String>) {
    let mut s = json!({"end_user": {"id": "u1"}, "integrations": [integration]});
    merge(&mut s, session_extra);
    let token = session(h, s).await;
    let start = h
        .engine
        .start_authorization(integration, &token, connection_id, BTreeMap::new())
        .await
        .unwrap();
    let q = query_of(&start.url);
    let mut params = cb(Some("the-code"), Some(&q["state"]));
    params.other = other;
    let out = h
        .engine
        .finish_authorization(integration, params)
        .await
        .unwrap();
    (out, q)
}

/// Connects `it` and returns the connection id.
pub(super) async fn connected(h: &H) -> String {
    let (out, _) = connect(h, "it", json!({}), None, BTreeMap::new()).await;
    assert_eq!(out.error, None, "{out:?}");
    out.connection_id.unwrap()
}

pub(super) fn invalid_field(e: &EngineError) -> &'static str {
    match e {
        EngineError::Invalid { field, .. } => field,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// ID tokens
// ---------------------------------------------------------------------------------------

fn ec_key() -> &'static EcdsaKeyPair {
    static K: std::sync::OnceLock<EcdsaKeyPair> = std::sync::OnceLock::new();
    K.get_or_init(|| EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
}

fn ec_jwk() -> Value {
    let point = ec_key().public_key().as_ref().to_vec();
    json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "kid": "ec-1",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    })
}

fn id_token(claims: &Value) -> String {
    let header = json!({"alg": "ES256", "kid": "ec-1"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = ec_key()
        .sign(&SystemRandom::new(), input.as_bytes())
        .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

// ---------------------------------------------------------------------------------------
// Tests: small public helpers
// ---------------------------------------------------------------------------------------

#[test]
fn ids_are_checked() {
    assert!(is_connection_id("conn_1.a:b-c"));
    assert!(is_connection_id(&"a".repeat(128)));
    assert!(!is_connection_id(&"a".repeat(129)));
    assert!(!is_connection_id(""));
    assert!(!is_connection_id("-x"));
    assert!(!is_connection_id("a/b"));
    assert!(is_end_user_id("ada@example.com with spaces"));
    assert!(!is_end_user_id(""));
    assert!(!is_end_user_id("a\nb"));
    assert!(!is_end_user_id(&"u".repeat(257)));
    let (a, b) = (page_nonce(), page_nonce());
    assert_ne!(a, b);
    assert_eq!(a.len(), 43);
}

#[test]
fn callback_outcome_fields() {
    let ok = CallbackOutcome {
        connection_id: Some("c1".into()),
        error: None,
        delivery: Delivery::Page,
    };
    assert_eq!(ok.status(), "connected");
    assert_eq!(
        ok.fields(),
        vec![
            ("status", "connected".to_owned()),
            ("connection_id", "c1".to_owned())
        ]
    );
    let bad = CallbackOutcome {
        connection_id: None,
        error: Some("access_denied".into()),
        delivery: Delivery::Page,
    };
    assert_eq!(bad.status(), "error");
    assert_eq!(
        bad.fields(),
        vec![
            ("status", "error".to_owned()),
            ("error", "access_denied".to_owned())
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Tests: connect sessions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn connect_session_is_created_with_a_connect_url() {
    let h = harness(json!({}), "", "connect_session_ttl_secs = 120").await;
    let before = Utc::now();
    let s = h
        .engine
        .create_connect_session(session_req(json!({
            "end_user": {"id": "u1"},
            "integrations": ["it"],
            "connection_id": "my-conn",
            "return_to": "https://app.example/back?x=1",
            "opener_origin": "https://app.example/",
        })))
        .await
        .unwrap();
    assert!(s.token.starts_with("cs_"));
    assert!(
        s.connect_url
            .starts_with("https://sb.example/connect?session=cs_")
    );
    let ttl = (s.expires_at - before).num_seconds();
    assert!((119..=121).contains(&ttl), "{ttl}");
    let hash = sha2::Sha256::digest(s.token.as_bytes()).to_vec();
    let row = h.store.get_connect_session(&hash).await.unwrap().unwrap();
    assert_eq!(row.end_user_id, "u1");
    assert_eq!(row.connection_id.as_deref(), Some("my-conn"));
    assert_eq!(row.opener_origin.as_deref(), Some("https://app.example"));
    assert_eq!(
        row.return_to.as_deref(),
        Some("https://app.example/back?x=1")
    );
    assert_eq!(
        h.engine.callback_url("it"),
        "https://sb.example/api/integrations/it/callback"
    );
}

#[tokio::test]
async fn connect_session_validation() {
    let stub = Stub::start(default_route).await;
    let providers = vec![
        provider("p", &stub.base, json!({})),
        plain_provider("hook", &stub.base, "webhook_only", json!({"verify": null})),
    ];
    let integrations = format!(
        "{}{}{}",
        integration("it", "p", ""),
        r#"
[[integrations]]
id = "other"
provider = "p"
client_id = "x"
allowed_return_origins = ["https://other.example"]
"#,
        r#"
[[integrations]]
id = "hooks"
provider = "hook"
"#
    );
    let h = harness_with(stub, providers, &integrations, "").await;
    let create = |v: Value| {
        let e = h.engine.clone();
        async move { e.create_connect_session(session_req(v)).await }
    };
    let many = vec!["it"; 65];
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"end_user": {"id": ""}, "integrations": ["it"]}),
            "end_user.id",
        ),
        (
            json!({"end_user": {"id": "a\u{7}"}, "integrations": ["it"]}),
            "end_user.id",
        ),
        (
            json!({"end_user": {"id": "u"}, "integrations": []}),
            "integrations",
        ),
        (
            json!({"end_user": {"id": "u"}, "integrations": many}),
            "integrations",
        ),
        (
            json!({"end_user": {"id": "u"}, "integrations": ["hooks"]}),
            "integrations",
        ),
        (
            json!({"end_user": {"id": "u"}, "integrations": ["it"], "connection_id": "bad id"}),
            "connection_id",
        ),
        (
            json!({"end_user": {"id": "u"}, "integrations": ["it"], "return_to": "javascript:alert(1)"}),
            "return_to",
        ),
        (
            json!({"end_user": {"id": "u"}, "integrations": ["it"], "return_to": "https://u:p@app.example/"}),
            "return_to",
        ),
        (
            json!({"end_user": {"id": "u"}, "integrations": ["it"], "return_to": "https://evil.example/"}),
            "return_to",
        ),
        (
            json!({"end_user": {"id": "u"}, "integrations": ["it", "other"], "return_to": "https://app.example/"}),
            "return_to",
        ),
        (
            json!({"end_user": {"id": "u"}, "integrations": ["it"], "opener_origin": "https://app.example/path"}),
            "opener_origin",
        ),
        (
            json!({"end_user": {"id": "u"}, "integrations": ["it"], "opener_origin": "javascript:x"}),
            "opener_origin",
        ),
        (
            json!({"end_user": {"id": "u"}, "integrations": ["it", "other"], "opener_origin": "https://app.example"}),
            "opener_origin",
        ),
    ];
    for (v, field) in cases {
        let e = create(v.clone()).await.unwrap_err();
        assert_eq!(invalid_field(&e), field, "{v}: {e}");
    }
    let e = create(json!({"end_user": {"id": "u"}, "integrations": ["nope"]}))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            EngineError::NotFound {
                what: "integration",
                ..
            }
        ),
        "{e:?}"
    );
    // Allowed by both.
    create(json!({"end_user": {"id": "u"}, "integrations": ["it"], "return_to": "http://localhost:3000/cb"}))
        .await
        .unwrap();
    // Unknown fields are refused by the request type itself.
    assert!(
        serde_json::from_value::<ConnectSessionRequest>(
            json!({"end_user": {"id": "u"}, "integrations": ["it"], "nope": 1})
        )
        .is_err()
    );
}

#[tokio::test]
async fn start_authorization_refusals() {
    let stub = Stub::start(default_route).await;
    let providers = vec![
        provider("p", &stub.base, json!({})),
        provider(
            "shop",
            &stub.base,
            json!({
                "placeholders": {"shop": {"from": {"connection": "shop"}, "kind": "label"}},
                "oauth2": {"authorization_url": "https://{shop}.shops.example/authorize"},
            }),
        ),
        provider(
            "noauth",
            &stub.base,
            json!({"oauth2": {"authorization_url": null}}),
        ),
        plain_provider("keyed", &stub.base, "api_key", json!({})),
    ];
    let integrations = format!(
        "{}{}{}{}{}",
        integration("it", "p", ""),
        integration("shop", "shop", ""),
        integration("noauth", "noauth", ""),
        integration("keyed", "keyed", ""),
        "\n[[integrations]]\nid = \"noclient\"\nprovider = \"p\"\n"
    );
    let h = harness_with(stub, providers, &integrations, "").await;
    let all = json!(["it", "shop", "noauth", "keyed", "noclient"]);
    let token = session(&h, json!({"end_user": {"id": "u1"}, "integrations": all})).await;
    let start =
        |i: &'static str, s: String, id: Option<&'static str>, settings: Vec<(&str, &str)>| {
            let e = h.engine.clone();
            let settings: BTreeMap<String, String> = settings
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            async move { e.start_authorization(i, &s, id, settings).await }
        };

    // Unknown and expired sessions.
    let e = start("it", "cs_nope".into(), None, vec![])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "session");
    let now = store::now();
    h.store
        .insert_connect_session(&ConnectSession {
            token_hash: sha2::Sha256::digest(b"cs_old").to_vec(),
            end_user_id: "u1".into(),
            integrations: vec!["it".into()],
            connection_id: None,
            return_to: None,
            opener_origin: None,
            created_at: now - chrono::Duration::hours(2),
            expires_at: now - chrono::Duration::hours(1),
        })
        .await
        .unwrap();
    let e = start("it", "cs_old".into(), None, vec![])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "session");

    // A session for another integration.
    let only_it = session(
        &h,
        json!({"end_user": {"id": "u1"}, "integrations": ["it"]}),
    )
    .await;
    let e = start("shop", only_it, None, vec![]).await.unwrap_err();
    assert!(matches!(e, EngineError::Forbidden(_)), "{e:?}");

    // Not an OAuth2 integration; no authorization endpoint; no client id.
    let e = start("keyed", token.clone(), None, vec![])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "integration");
    let e = start("noauth", token.clone(), None, vec![])
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Misconfigured(_)), "{e:?}");
    let e = start("noclient", token.clone(), None, vec![])
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Misconfigured(_)), "{e:?}");
    let e = start("nope", token.clone(), None, vec![])
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }), "{e:?}");

    // Bad connection id; unknown, empty or unusable settings.
    let e = start("it", token.clone(), Some("bad id"), vec![])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "connection_id");
    let e = start("it", token.clone(), None, vec![("shop", "x")])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "settings");
    assert!(e.to_string().contains("takes no setting"), "{e}");
    let e = start("shop", token.clone(), None, vec![("region", "x")])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("it takes shop"), "{e}");
    let e = start("shop", token.clone(), None, vec![("shop", "")])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "settings");
    let e = start("shop", token.clone(), None, vec![("shop", "a.b/c")])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "settings");
    let e = start("shop", token.clone(), None, vec![])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "settings");

    // A connection setting goes into the authorization URL.
    let ok = start(
        "shop",
        token.clone(),
        Some("shop-1"),
        vec![("shop", "acme")],
    )
    .await
    .unwrap();
    assert_eq!(ok.connection_id, "shop-1");
    assert!(
        ok.url.starts_with("https://acme.shops.example/authorize?"),
        "{}",
        ok.url
    );

    // A session made for one connection id.
    let fixed = session(
        &h,
        json!({"end_user": {"id": "u1"}, "integrations": ["it"], "connection_id": "fixed-1"}),
    )
    .await;
    let e = start("it", fixed.clone(), Some("other-1"), vec![])
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "connection_id");
    let ok = start("it", fixed.clone(), Some("fixed-1"), vec![])
        .await
        .unwrap();
    assert_eq!(ok.connection_id, "fixed-1");
    let ok = start("it", fixed, None, vec![]).await.unwrap();
    assert_eq!(ok.connection_id, "fixed-1");

    // An id held by another end user or another integration.
    put(
        &h.engine,
        &conn("mine", "it", "oauth2", Some(3600)),
        json!({"access_token": "a"}),
    )
    .await;
    let other_user = session(
        &h,
        json!({"end_user": {"id": "u2"}, "integrations": ["it", "shop"]}),
    )
    .await;
    let e = start("it", other_user.clone(), Some("mine"), vec![])
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Conflict(_)), "{e:?}");
    let e = start("shop", token.clone(), Some("mine"), vec![("shop", "acme")])
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Conflict(_)), "{e:?}");
    // The same end user may reconnect it.
    start("it", token, Some("mine"), vec![]).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Tests: the authorization-code flow
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn code_flow_with_pkce_basic_client_auth_and_redirect_delivery() {
    let h = harness(json!({}), "", "").await;
    let token = session(
        &h,
        json!({"end_user": {"id": "u1"}, "integrations": ["it"], "return_to": "https://app.example/done?tab=2"}),
    )
    .await;
    let start = h
        .engine
        .start_authorization("it", &token, None, BTreeMap::new())
        .await
        .unwrap();
    assert!(start.connection_id.starts_with("conn_"));
    assert!(start.url.starts_with("https://auth.example.com/authorize?"));
    let q = query_of(&start.url);
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(
        q["redirect_uri"],
        "https://sb.example/api/integrations/it/callback"
    );
    assert_eq!(q["scope"], "read write");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(!q.contains_key("nonce"), "no openid scope, no nonce");
    assert_eq!(q["state"].len(), 43);
    assert_eq!(h.stub.total(), 0);

    let out = h
        .engine
        .finish_authorization("it", cb(Some("code-1"), Some(&q["state"])))
        .await
        .unwrap();
    assert_eq!(out.error, None);
    assert_eq!(
        out.connection_id.as_deref(),
        Some(start.connection_id.as_str())
    );
    let Delivery::Redirect(to) = &out.delivery else {
        panic!("{out:?}")
    };
    let back = url::Url::parse(to).unwrap();
    assert_eq!(back.origin().ascii_serialization(), "https://app.example");
    assert_eq!(back.path(), "/done");
    let pairs: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        vec![
            ("tab".to_owned(), "2".to_owned()),
            ("status".to_owned(), "connected".to_owned()),
            ("connection_id".to_owned(), start.connection_id.clone()),
        ]
    );

    // The code exchange.
    let reqs = h.stub.reqs("/token");
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("accept"), Some("application/json"));
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.header("authorization"), Some(client_basic().as_str()));
    let f = r.form();
    assert_eq!(f["grant_type"], "authorization_code");
    assert_eq!(f["code"], "code-1");
    assert_eq!(
        f["redirect_uri"],
        "https://sb.example/api/integrations/it/callback"
    );
    assert_eq!(s256(&f["code_verifier"]), q["code_challenge"]);
    assert!(!f.contains_key("client_id") && !f.contains_key("client_secret"));

    // The connection.
    let c = h.engine.get_connection(&start.connection_id).await.unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(c.integration, "it");
    assert_eq!(c.provider, "p");
    assert_eq!(c.auth_mode, "oauth2");
    assert_eq!(c.end_user_id, "u1");
    assert_eq!(c.scopes, vec!["read", "write"]);
    assert!(c.missing_scopes.is_empty());
    let left = (c.expires_at.unwrap() - Utc::now()).num_seconds();
    assert!((3590..=3600).contains(&left), "{left}");
    let creds = stored_creds(&h, &start.connection_id).await;
    assert!(creds["access_token"].as_str().unwrap().starts_with("at-"));
    assert!(creds["refresh_token"].as_str().unwrap().starts_with("rt-"));
    let t = h
        .engine
        .connection_token(&start.connection_id)
        .await
        .unwrap();
    assert_eq!(
        t.access_token,
        creds["access_token"].as_str().map(str::to_owned)
    );
    assert_eq!(t.token_type.as_deref(), Some("Bearer"));
    assert_eq!(h.stub.count("/token"), 1, "a fresh token needs no refresh");

    let audit = all_audit(&h.store).await;
    let row = audit
        .iter()
        .find(|r| r.entry.action == "connection.connect")
        .unwrap();
    assert_eq!(row.entry.target, start.connection_id);
    assert_eq!(row.entry.actor, "system");
    assert_eq!(row.entry.details["reconnect"], false);
    assert_eq!(row.entry.details["integration"], "it");
    let dump = format!("{audit:?}");
    assert!(!dump.contains("at-") && !dump.contains("rt-"), "{dump}");

    // The state is single use.
    let e = h
        .engine
        .finish_authorization("it", cb(Some("code-1"), Some(&q["state"])))
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "state");
    assert_eq!(h.stub.count("/token"), 1);
}

#[tokio::test]
async fn reconnect_replaces_and_is_audited_as_such() {
    let h = harness(json!({}), "", "").await;
    let (first, _) = connect(&h, "it", json!({}), Some("c-1"), BTreeMap::new()).await;
    assert_eq!(first.connection_id.as_deref(), Some("c-1"));
    assert_eq!(first.delivery, Delivery::Page);
    let before = stored_creds(&h, "c-1").await;
    let (second, _) = connect(
        &h,
        "it",
        json!({"opener_origin": "https://app.example"}),
        Some("c-1"),
        BTreeMap::new(),
    )
    .await;
    assert_eq!(second.error, None);
    assert_eq!(
        second.delivery,
        Delivery::PostMessage {
            origin: "https://app.example".into()
        }
    );
    let after = stored_creds(&h, "c-1").await;
    assert_ne!(before["access_token"], after["access_token"]);
    let audit = all_audit(&h.store).await;
    let reconnects: Vec<bool> = audit
        .iter()
        .filter(|r| r.entry.action == "connection.connect")
        .map(|r| r.entry.details["reconnect"].as_bool().unwrap())
        .collect();
    assert_eq!(reconnects, vec![false, true]);
}

#[tokio::test]
async fn callback_state_errors_change_nothing() {
    let stub = Stub::start(default_route).await;
    let providers = vec![provider("p", &stub.base, json!({}))];
    let integrations = format!(
        "{}{}",
        integration("it", "p", ""),
        integration("it2", "p", "")
    );
    let h = harness_with(stub, providers, &integrations, "").await;

    for state in [None, Some(""), Some(&*"s".repeat(513)), Some("unknown")] {
        let e = h
            .engine
            .finish_authorization("it", cb(Some("c"), state))
            .await
            .unwrap_err();
        assert_eq!(invalid_field(&e), "state");
    }

    // A state of another integration is refused (and used up).
    let token = session(
        &h,
        json!({"end_user": {"id": "u1"}, "integrations": ["it"]}),
    )
    .await;
    let start = h
        .engine
        .start_authorization("it", &token, None, BTreeMap::new())
        .await
        .unwrap();
    let state = query_of(&start.url)["state"].clone();
    let e = h
        .engine
        .finish_authorization("it2", cb(Some("c"), Some(&state)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("another integration"), "{e}");
    let e = h
        .engine
        .finish_authorization("it", cb(Some("c"), Some(&state)))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");

    // An expired state.
    let now = store::now();
    let hash = sha2::Sha256::digest(b"old-state").to_vec();
    h.store
        .insert_oauth_state(&OAuthState {
            state_hash: hash,
            integration: "it".into(),
            connection_id: "c-old".into(),
            end_user_id: "u1".into(),
            session_hash: vec![1; 32],
            return_to: None,
            opener_origin: None,
            settings: BTreeMap::new(),
            sealed: vec![0; 40],
            created_at: now - chrono::Duration::minutes(20),
            expires_at: now - chrono::Duration::minutes(10),
        })
        .await
        .unwrap();
    let e = h
        .engine
        .finish_authorization("it", cb(Some("c"), Some("old-state")))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    assert_eq!(h.stub.total(), 0);
    assert!(h.store.get_connection("c-old").await.unwrap().is_none());
}

/// A session for `it` (changed by `extra`) and an authorization: the state and the
/// connection id.
pub(super) async fn begin(h: &H, it: &str, extra: Value) -> (String, String) {
    let mut s = json!({"end_user": {"id": "u1"}, "integrations": [it]});
    merge(&mut s, extra);
    let token = session(h, s).await;
    let st = h
        .engine
        .start_authorization(it, &token, None, BTreeMap::new())
        .await
        .unwrap();
    (query_of(&st.url)["state"].clone(), st.connection_id)
}

/// Inserts a live state row whose sealed part is `sealed`.
async fn raw_state(h: &H, state: &str, sealed: Vec<u8>) {
    let now = store::now();
    h.store
        .insert_oauth_state(&OAuthState {
            state_hash: sha2::Sha256::digest(state.as_bytes()).to_vec(),
            integration: "it".into(),
            connection_id: "c-raw".into(),
            end_user_id: "u1".into(),
            session_hash: vec![1; 32],
            return_to: Some("https://app.example/r".into()),
            opener_origin: None,
            settings: BTreeMap::new(),
            sealed,
            created_at: now,
            expires_at: now + chrono::Duration::minutes(5),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn callback_failures_are_results_for_the_app() {
    let h = harness(json!({}), "", "").await;
    let start = |extra: Value| begin(&h, "it", extra);

    // The provider's error code, kept when it looks like one.
    let (state, id) = start(json!({"return_to": "https://app.example/x"})).await;
    let mut p = cb(None, Some(&state));
    p.error = Some("access_denied".into());
    let out = h.engine.finish_authorization("it", p).await.unwrap();
    assert_eq!(out.error.as_deref(), Some("access_denied"));
    assert_eq!(out.connection_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        out.delivery,
        Delivery::Redirect(format!(
            "https://app.example/x?status=error&connection_id={id}&error=access_denied"
        ))
    );
    for garbage in ["<script>alert(1)</script>", "", &"e".repeat(65)] {
        let (state, _) = start(json!({})).await;
        let mut p = cb(Some("code"), Some(&state));
        p.error = Some(garbage.into());
        let out = h.engine.finish_authorization("it", p).await.unwrap();
        assert_eq!(out.error.as_deref(), Some("provider_error"));
    }

    // No code.
    for code in [None, Some("")] {
        let (state, _) = start(json!({})).await;
        let out = h
            .engine
            .finish_authorization("it", cb(code, Some(&state)))
            .await
            .unwrap();
        assert_eq!(out.error.as_deref(), Some("invalid_request"));
    }
    assert_eq!(h.stub.total(), 0);

    // The exchange fails.
    h.stub.set(|_| {
        Resp::json(
            400,
            json!({"error": "invalid_grant", "error_description": "bad code"}),
        )
    });
    let (state, id) = start(json!({})).await;
    let out = h
        .engine
        .finish_authorization("it", cb(Some("c"), Some(&state)))
        .await
        .unwrap();
    assert_eq!(out.error.as_deref(), Some("exchange_failed"));
    assert!(h.store.get_connection(&id).await.unwrap().is_none());
    h.stub
        .set(|_| Resp::json(401, json!({"error": "invalid_client"})));
    let (state, _) = start(json!({})).await;
    let out = h
        .engine
        .finish_authorization("it", cb(Some("c"), Some(&state)))
        .await
        .unwrap();
    assert_eq!(out.error.as_deref(), Some("invalid_client"));

    // State rows whose sealed part cannot be opened, or is not a flow.
    raw_state(&h, "garbled", vec![7; 64]).await;
    let out = h
        .engine
        .finish_authorization("it", cb(Some("c"), Some("garbled")))
        .await
        .unwrap();
    assert_eq!(out.error.as_deref(), Some("internal_error"));
    assert_eq!(out.connection_id.as_deref(), Some("c-raw"));
    let hash = sha2::Sha256::digest(b"not-json");
    let sealed = h
        .engine
        .keyring()
        .seal(
            b"not json",
            vault::Aad::new("oauth_states", "sealed", &hex::encode(hash)),
        )
        .unwrap();
    raw_state(&h, "not-json", sealed).await;
    let out = h
        .engine
        .finish_authorization("it", cb(Some("c"), Some("not-json")))
        .await
        .unwrap();
    assert_eq!(out.error.as_deref(), Some("internal_error"));
    let Delivery::Redirect(to) = out.delivery else {
        panic!()
    };
    assert!(
        to.ends_with("status=error&connection_id=c-raw&error=internal_error"),
        "{to}"
    );
    assert_eq!(h.stub.count("/token"), 2);
}

#[tokio::test]
async fn missing_required_scopes_are_recorded() {
    let h = harness(json!({}), "required_scopes = [\"admin\", \"read\"]", "").await;
    h.stub.set(|r| match r.path.as_str() {
        "/token" => Resp::json(
            200,
            json!({"access_token": "a", "refresh_token": "r", "expires_in": "3600", "scope": ["read", "other"]}),
        ),
        _ => default_route(r),
    });
    let id = connected(&h).await;
    let c = h.engine.get_connection(&id).await.unwrap();
    assert_eq!(c.scopes, vec!["read", "other"]);
    assert_eq!(c.missing_scopes, vec!["admin"]);
    let audit = all_audit(&h.store).await;
    assert_eq!(
        audit.last().unwrap().entry.details["missing_scopes"],
        json!(["admin"])
    );
}

#[tokio::test]
async fn settings_and_routing_keys_from_every_source() {
    let stub = Stub::start(default_route).await;
    stub.set(|r| match r.path.as_str() {
        "/token" => Resp::json(
            200,
            json!({
                "access_token": "at", "expires_in": 3600.7, "instance_url": "https://na1.example",
                "team": {"id": "T-tok"}, "num": 42,
            }),
        ),
        "/userinfo" => Resp::json(200, json!({"team": {"id": "T-ui"}, "dc": "us6"})),
        _ => default_route(r),
    });
    let phs = json!({
        "instance": {"from": {"token_response": "/instance_url"}, "kind": "origin"},
        "realm": {"from": {"callback_query": "realmId"}, "kind": "segment"},
        "dc": {"from": {"userinfo": "/dc"}, "kind": "label"},
        "num": {"from": {"token_response": "/num"}, "kind": "segment"},
        "region": {"from": {"connection": "region"}, "kind": "segment"},
        "tenant": {"from": {"integration": "tenant"}, "kind": "segment"},
    });
    let routing = |src: Value| json!({"placeholders": phs, "webhooks": {"routing": {"event": {"pointer": "/team_id"}, "connection": src}}});
    let providers = vec![
        provider("p-ui", &stub.base, routing(json!({"userinfo": "/team/id"}))),
        provider(
            "p-tok",
            &stub.base,
            routing(json!({"token_response": "/team/id"})),
        ),
        provider(
            "p-conn",
            &stub.base,
            routing(json!({"connection": "region"})),
        ),
        provider(
            "p-int",
            &stub.base,
            routing(json!({"integration": "tenant"})),
        ),
        provider(
            "p-cb",
            &stub.base,
            routing(json!({"callback_query": "realmId"})),
        ),
    ];
    let mut integrations = String::new();
    for p in ["ui", "tok", "conn", "int", "cb"] {
        integrations.push_str(&integration(
            p,
            &format!("p-{p}"),
            "settings = { tenant = \"ten-1\" }",
        ));
    }
    let h = harness_with(stub, providers, &integrations, "").await;
    let mut expect = BTreeMap::new();
    expect.insert("ui", "T-ui");
    expect.insert("tok", "T-tok");
    expect.insert("conn", "eu");
    expect.insert("int", "ten-1");
    expect.insert("cb", "R-9");
    for (it, key) in expect {
        let token = session(&h, json!({"end_user": {"id": "u1"}, "integrations": [it]})).await;
        let settings: BTreeMap<String, String> = [("region".to_owned(), "eu".to_owned())]
            .into_iter()
            .collect();
        let st = h
            .engine
            .start_authorization(it, &token, None, settings)
            .await
            .unwrap();
        let mut p = cb(Some("code"), Some(&query_of(&st.url)["state"]));
        p.other.insert("realmId".into(), "R-9".into());
        let out = h.engine.finish_authorization(it, p).await.unwrap();
        assert_eq!(out.error, None, "{it}");
        let c = h.engine.get_connection(&st.connection_id).await.unwrap();
        assert_eq!(c.settings["instance"], "https://na1.example", "{it}");
        assert_eq!(c.settings["realm"], "R-9");
        assert_eq!(c.settings["dc"], "us6");
        assert_eq!(c.settings["num"], "42");
        assert_eq!(c.settings["region"], "eu");
        // A float expires_in is read as whole seconds.
        let left = (c.expires_at.unwrap() - Utc::now()).num_seconds();
        assert!((3590..=3600).contains(&left), "{left}");
        assert_eq!(
            h.store.connection_by_routing_key(it, key).await.unwrap(),
            Some(st.connection_id.clone()),
            "{it}"
        );
        // No refresh token: nothing to schedule.
        let row = h
            .store
            .get_connection(&st.connection_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.next_refresh_at, None);
        assert_eq!(row.routing_key.as_deref(), Some(key));
    }
    // Userinfo is fetched with the access token, once per connection that needs it.
    let ui = h.stub.reqs("/userinfo");
    assert_eq!(ui.len(), 5);
    assert_eq!(ui[0].header("authorization"), Some("Bearer at"));
}

#[tokio::test]
async fn userinfo_failures_leave_the_settings_out() {
    let h = harness(
        json!({
            "placeholders": {"dc": {"from": {"userinfo": "/dc"}, "kind": "label"}},
            "api_headers": {"X-Api-Version": "7"},
            "oauth2": {"api_auth": {"header": "X-Token", "prefix": "tok "}},
        }),
        "",
        "",
    )
    .await;
    h.stub.set(|r| match r.path.as_str() {
        "/userinfo" => Resp::json(500, json!({})),
        _ => default_route(r),
    });
    let id = connected(&h).await;
    let c = h.engine.get_connection(&id).await.unwrap();
    assert!(!c.settings.contains_key("dc"));
    let ui = &h.stub.reqs("/userinfo")[0];
    assert!(ui.header("x-token").unwrap().starts_with("tok at-"));
    assert_eq!(ui.header("x-api-version"), Some("7"));
    assert_eq!(ui.header("authorization"), None);

    // An unreachable userinfo endpoint.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let stub = Stub::start(default_route).await;
    let p = provider(
        "p",
        &stub.base,
        json!({
            "placeholders": {"dc": {"from": {"userinfo": "/dc"}, "kind": "label"}},
            "oauth2": {"userinfo_url": format!("http://{dead}/userinfo")},
        }),
    );
    let h = harness_with(stub, vec![p], &integration("it", "p", ""), "").await;
    let id = connected(&h).await;
    assert!(
        h.engine
            .get_connection(&id)
            .await
            .unwrap()
            .settings
            .is_empty()
    );
}

#[tokio::test]
async fn a_connection_id_taken_meanwhile_is_a_result() {
    let h = harness(json!({}), "", "").await;
    let token = session(
        &h,
        json!({"end_user": {"id": "u1"}, "integrations": ["it"]}),
    )
    .await;
    let st = h
        .engine
        .start_authorization("it", &token, Some("contested"), BTreeMap::new())
        .await
        .unwrap();
    let mut other = conn("contested", "it", "oauth2", Some(3600));
    other.end_user_id = "someone-else".into();
    put(&h.engine, &other, json!({"access_token": "theirs"})).await;
    let out = h
        .engine
        .finish_authorization("it", cb(Some("c"), Some(&query_of(&st.url)["state"])))
        .await
        .unwrap();
    assert_eq!(out.error.as_deref(), Some("connection_id_taken"));
    assert_eq!(
        stored_creds(&h, "contested").await["access_token"],
        "theirs"
    );
}

#[tokio::test]
async fn id_tokens_are_checked_when_the_provider_has_an_issuer() {
    let stub = Stub::start(default_route).await;
    let oidc = |id: &str, base: &str| {
        provider(
            id,
            base,
            json!({"oauth2": {
                "issuer": "https://id.example.com",
                "jwks_url": format!("{base}/jwks"),
                "default_scopes": ["openid", "email"],
            }}),
        )
    };
    let providers = vec![
        oidc("p", &stub.base),
        provider(
            "loose",
            &stub.base,
            json!({"oauth2": {"default_scopes": ["openid"]}}),
        ),
    ];
    let integrations = format!(
        "{}{}",
        integration("it", "p", ""),
        integration("loose", "loose", "")
    );
    let h = harness_with(stub, providers, &integrations, "").await;
    let respond = |h: &H, nonce: Option<String>| {
        h.stub.set(move |r| match r.path.as_str() {
            "/token" => {
                let mut body = json!({"access_token": "at", "expires_in": 600});
                if let Some(n) = &nonce {
                    let now = Utc::now().timestamp();
                    body["id_token"] = json!(id_token(&json!({
                        "iss": "https://id.example.com", "aud": CLIENT_ID, "sub": "s-1",
                        "nonce": n, "iat": now, "exp": now + 300,
                    })));
                }
                Resp::json(200, body)
            }
            _ => default_route(r),
        });
    };
    let begin = |h: &H, it: &'static str| {
        let (e, it) = (h.engine.clone(), it);
        async move {
            let token = e
                .create_connect_session(session_req(
                    json!({"end_user": {"id": "u1"}, "integrations": [it]}),
                ))
                .await
                .unwrap()
                .token;
            let st = e
                .start_authorization(it, &token, None, BTreeMap::new())
                .await
                .unwrap();
            query_of(&st.url)
        }
    };

    // Valid, with the nonce of this flow.
    let q = begin(&h, "it").await;
    assert_eq!(q["scope"], "openid email");
    let nonce = q["nonce"].clone();
    respond(&h, Some(nonce));
    let out = h
        .engine
        .finish_authorization("it", cb(Some("c"), Some(&q["state"])))
        .await
        .unwrap();
    assert_eq!(out.error, None);
    let creds = stored_creds(&h, out.connection_id.as_deref().unwrap()).await;
    assert!(creds["id_token"].as_str().unwrap().starts_with("ey"));

    // Another flow's nonce.
    let q = begin(&h, "it").await;
    respond(&h, Some("not-this-flow".into()));
    let out = h
        .engine
        .finish_authorization("it", cb(Some("c"), Some(&q["state"])))
        .await
        .unwrap();
    assert_eq!(out.error.as_deref(), Some("id_token_invalid"));
    assert!(
        h.store
            .get_connection(out.connection_id.as_deref().unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // No ID token at all.
    let q = begin(&h, "it").await;
    respond(&h, None);
    let out = h
        .engine
        .finish_authorization("it", cb(Some("c"), Some(&q["state"])))
        .await
        .unwrap();
    assert_eq!(out.error.as_deref(), Some("id_token_invalid"));

    // A provider without issuer: nothing to check against.
    let q = begin(&h, "loose").await;
    assert!(q.contains_key("nonce"));
    let out = h
        .engine
        .finish_authorization("loose", cb(Some("c"), Some(&q["state"])))
        .await
        .unwrap();
    assert_eq!(out.error, None);
}

#[tokio::test]
async fn provider_quirks_in_the_authorization_request() {
    let h = harness(
        json!({"oauth2": {
            "pkce": false,
            "scope_separator": ",",
            "authorization_params": {"access_type": "offline"},
        }}),
        "scopes = [\"a\", \"b\"]",
        "",
    )
    .await;
    let (out, q) = connect(&h, "it", json!({}), None, BTreeMap::new()).await;
    assert_eq!(out.error, None);
    assert_eq!(q["scope"], "a,b");
    assert_eq!(q["access_type"], "offline");
    assert!(!q.contains_key("code_challenge"));
    assert!(
        !h.stub.reqs("/token")[0]
            .form()
            .contains_key("code_verifier")
    );
}

#[tokio::test]
async fn expired_session_and_state_purge() {
    let h = harness(json!({}), "", "").await;
    let token = session(
        &h,
        json!({"end_user": {"id": "u1"}, "integrations": ["it"]}),
    )
    .await;
    h.engine
        .start_authorization("it", &token, None, BTreeMap::new())
        .await
        .unwrap();
    let purged = h
        .store
        .purge_expired_flows(store::now() + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(purged, 2);
}

/// `keys rotate` moves the sealed verifier and nonce of the authorizations in flight to
/// the new key with the stored secrets: once the old key is gone the callbacks of flows
/// started before the rotation still finish, and a state spent meanwhile is not counted.
#[tokio::test]
async fn key_rotation_carries_authorizations_in_flight() {
    let stub = Stub::start(default_route).await;
    let p = provider("p", &stub.base, json!({}));
    let store = memory_store().await;
    let (old, new) = (key(), key());
    let on = |r: vault::Keyring| {
        engine_with(
            Arc::new(store.clone()),
            r,
            std::slice::from_ref(&p),
            config("", &integration("it", "p", "")),
            true,
        )
    };
    let h = H {
        engine: on(ring(&old, &[])),
        store: store.clone(),
        stub,
    };
    let mut states = Vec::new();
    for _ in 0..4 {
        states.push(begin(&h, "it", json!({})).await.0);
    }
    // A server that no longer has the old key cannot open a state sealed under it: the
    // app gets `internal_error` and the state is spent.
    let without = on(ring(&new, &[]));
    let out = without
        .finish_authorization("it", cb(Some("the-code"), Some(&states[0])))
        .await
        .unwrap();
    assert_eq!(out.error.as_deref(), Some("internal_error"), "{out:?}");
    // One flow finishes under the old key: its credentials are sealed under it too.
    let out = h
        .engine
        .finish_authorization("it", cb(Some("the-code"), Some(&states[3])))
        .await
        .unwrap();
    assert_eq!(out.error, None, "{out:?}");

    let both = on(ring(&new, &[&old]));
    let before = both.sealed_key_ids().await.unwrap();
    let under_old: u64 = before
        .iter()
        .filter(|(id, _)| *id == old.id().to_string())
        .map(|(_, n)| n)
        .sum();
    assert!(
        under_old >= 3,
        "two states and the connection's secret: {before:?}"
    );
    assert_eq!(
        without.unknown_secret_keys().await.unwrap(),
        vec![(old.id().to_string(), under_old)]
    );
    let seen = Mutex::new(Vec::new());
    let p = both
        .rotate_keys(1, &crate::Actor::System, &|p| seen.lock().unwrap().push(p))
        .await
        .unwrap();
    assert_eq!(p.oauth_states_total, 2, "{p:?}");
    assert_eq!(p.oauth_states_rewritten, 2, "{p:?}");
    assert_eq!(p.oauth_states_skipped, 0, "{p:?}");
    assert_eq!(p.total, under_old, "{p:?}");
    assert_eq!(p.rewritten, under_old, "{p:?}");
    assert_eq!(seen.lock().unwrap().last(), Some(&p));
    assert_eq!(
        both.sealed_key_ids().await.unwrap(),
        vec![(new.id().to_string(), under_old)]
    );
    assert!(without.unknown_secret_keys().await.unwrap().is_empty());
    let finish = all_audit(&store).await;
    let last = finish.last().unwrap();
    assert_eq!(last.entry.action, "keys.rotate.finish");
    assert_eq!(
        last.entry.details["oauth_states_rewritten"], 2,
        "{:?}",
        last.entry.details
    );
    assert_eq!(
        last.entry.details["oauth_states_remaining"], 0,
        "{:?}",
        last.entry.details
    );

    // The flows started before the rotation finish on a server with the new key alone.
    for state in &states[1..3] {
        let out = without
            .finish_authorization("it", cb(Some("the-code"), Some(state)))
            .await
            .unwrap();
        assert_eq!(out.error, None, "{out:?}");
    }
    // Nothing is left to rotate.
    let again = both
        .rotate_keys(5, &crate::Actor::System, &|_| {})
        .await
        .unwrap();
    assert_eq!((again.total, again.oauth_states_total), (0, 0));
}
