//! Providers whose flows differ from RFC 6749 in ways the OIDC peer cannot play, end to
//! end: the real binary against a local stub that answers only when the request has the
//! provider's quirk exactly (TikTok's `client_key`), configured as a custom
//! `[[providers]]` entry using the catalog key that expresses it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use crate::harness::{self, Server};

const APP_ORIGIN: &str = "http://127.0.0.1:9";

/// A request's form or query parameters.
type Params = BTreeMap<String, String>;

/// What the stub saw: each request's path and its form or query.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, Params)>>>);

impl Seen {
    fn push(&self, path: &str, params: &BTreeMap<String, String>) {
        self.0
            .lock()
            .unwrap()
            .push((path.to_owned(), params.clone()));
    }

    fn of(&self, path: &str) -> Vec<BTreeMap<String, String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

fn form(body: &str) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn keys(m: &BTreeMap<String, String>) -> Vec<&str> {
    m.keys().map(String::as_str).collect()
}

fn refuse(what: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": "invalid_request", "error_description": what})),
    )
        .into_response()
}

/// Starts `app` on a loopback port; returns its base URL.
async fn serve_stub(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

/// An HTTP client that does not follow redirects (the browser's steps are the test's).
fn browser() -> reqwest::Client {
    harness::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

fn query(url: &str) -> BTreeMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The app backend: an admin key on one server.
struct App<'a> {
    server: &'a Server,
    key: String,
}

impl App<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .server
            .http()
            .request(method, self.server.url(path))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Session → `/auth` → the provider's page (the stub) → callback; returns the
    /// provider URL Switchboard sent the browser to and the app's final redirect.
    async fn connect(&self, integration: &str, connection_id: &str) -> (String, String) {
        let (status, s) = self
            .call(
                reqwest::Method::POST,
                "/api/connect-sessions",
                Some(json!({
                    "end_user": {"id": "u1"},
                    "integrations": [integration],
                    "connection_id": connection_id,
                    "return_to": format!("{APP_ORIGIN}/done"),
                })),
            )
            .await;
        assert_eq!(status, 201, "{s}");
        let b = browser();
        let r = b
            .get(self.server.url(&format!(
                "/api/integrations/{integration}/auth?session={}",
                s["token"].as_str().unwrap()
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 302, "{:?}", r.text().await);
        let auth = location(&r);
        let at_provider = b.get(&auth).send().await.unwrap();
        assert_eq!(
            at_provider.status(),
            303,
            "the provider refused the authorization request {auth}: {:?}",
            at_provider.text().await
        );
        let callback = location(&at_provider);
        let done = b.get(&callback).send().await.unwrap();
        assert_eq!(done.status(), 302, "{:?}", done.text().await);
        (auth, location(&done))
    }
}

// ---------------------------------------------------------------------------- TikTok

const TT_KEY: &str = "tt-client-key";
const TT_SECRET: &str = "tt-client-secret";

/// TikTok's endpoints as its docs describe them, strict about `client_key`: the
/// authorize page wants `client_key` (never `client_id`) and comma-separated scopes; the
/// token and revocation endpoints want `client_key` and `client_secret` in the form body,
/// rotate refresh tokens, and answer `invalid_request` to anything else.
fn tiktok_stub(seen: Seen) -> axum::Router {
    async fn authorize(
        State(seen): State<Seen>,
        Query(q): Query<BTreeMap<String, String>>,
    ) -> Response {
        seen.push("/v2/auth/authorize/", &q);
        if q.get("client_key").map(String::as_str) != Some(TT_KEY)
            || q.contains_key("client_id")
            || q.get("response_type").map(String::as_str) != Some("code")
            || q.get("scope").map(String::as_str) != Some("user.info.basic,video.list")
        {
            return refuse("client_key, response_type=code and comma-separated scopes");
        }
        let mut to = reqwest::Url::parse(&q["redirect_uri"]).unwrap();
        to.query_pairs_mut()
            .append_pair("code", "tt-code-1")
            .append_pair("scopes", "user.info.basic,video.list")
            .append_pair("state", &q["state"]);
        Redirect::to(to.as_str()).into_response()
    }
    async fn token(State(seen): State<Seen>, headers: HeaderMap, body: String) -> Response {
        let f = form(&body);
        seen.push("/v2/oauth/token/", &f);
        if headers.contains_key("authorization")
            || f.contains_key("client_id")
            || f.get("client_key").map(String::as_str) != Some(TT_KEY)
            || f.get("client_secret").map(String::as_str) != Some(TT_SECRET)
        {
            return refuse("client_key and client_secret go in the body");
        }
        let n = seen.of("/v2/oauth/token/").len();
        let ok = match f.get("grant_type").map(String::as_str) {
            Some("authorization_code") => f.get("code").map(String::as_str) == Some("tt-code-1"),
            Some("refresh_token") => f.get("refresh_token") == Some(&format!("rft.{}", n - 1)),
            _ => false,
        };
        if !ok {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_grant"})),
            )
                .into_response();
        }
        axum::Json(json!({
            "access_token": format!("act.{n}"),
            "expires_in": 7200,
            "open_id": "tt-open-id-1",
            "refresh_token": format!("rft.{n}"),
            "refresh_expires_in": 15_552_000,
            "scope": "user.info.basic,video.list",
            "token_type": "Bearer",
        }))
        .into_response()
    }
    async fn revoke(State(seen): State<Seen>, body: String) -> Response {
        let f = form(&body);
        seen.push("/v2/oauth/revoke/", &f);
        if f.get("client_key").map(String::as_str) != Some(TT_KEY)
            || f.get("client_secret").map(String::as_str) != Some(TT_SECRET)
            || f.contains_key("client_id")
        {
            return refuse("client_key and client_secret go in the body");
        }
        axum::Json(json!({})).into_response()
    }
    axum::Router::new()
        .route("/v2/auth/authorize/", axum::routing::get(authorize))
        .route("/v2/oauth/token/", axum::routing::post(token))
        .route("/v2/oauth/revoke/", axum::routing::post(revoke))
        .with_state(seen)
}

/// A custom provider with `client_id_param = "client_key"`: the connect flow, a refresh
/// (rotated) and the disconnect all pass TikTok's checks, and no request carries
/// `client_id`.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_key_provider_connects_refreshes_and_revokes() {
    let seen = Seen::default();
    let stub = serve_stub(tiktok_stub(seen.clone())).await;
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            r#"
[[providers]]
id = "tiktok-like"
docs_url = "https://developers.tiktok.com/doc/login-kit-web"
authorization_url = "{stub}/v2/auth/authorize/"
token_url = "{stub}/v2/oauth/token/"
revocation_url = "{stub}/v2/oauth/revoke/"
client_id_param = "client_key"
client_auth = "body"
scope_separator = ","
pkce = false

[[integrations]]
id = "tt"
provider = "tiktok-like"
client_id = "{TT_KEY}"
client_secret = "env:TT_SECRET"
scopes = ["user.info.basic", "video.list"]
allowed_return_origins = ["{APP_ORIGIN}"]
"#
        ),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[("TT_SECRET", TT_SECRET)]).await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };

    let (auth, done) = app.connect("tt", "tt-1").await;
    let q = query(&auth);
    assert_eq!(
        keys(&q),
        [
            "client_key",
            "redirect_uri",
            "response_type",
            "scope",
            "state"
        ],
        "{auth}"
    );
    let result = query(&done);
    assert_eq!(result["status"], "connected", "{done}");
    assert_eq!(result["connection_id"], "tt-1");
    let exchange = &seen.of("/v2/oauth/token/")[0];
    assert_eq!(
        keys(exchange),
        [
            "client_key",
            "client_secret",
            "code",
            "grant_type",
            "redirect_uri"
        ]
    );
    let (status, c) = app
        .call(reqwest::Method::GET, "/api/connections/tt-1", None)
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["scopes"], json!(["user.info.basic", "video.list"]));

    // A forced refresh sends client_key with the refresh token; the rotated one is kept.
    let (status, r) = app
        .call(reqwest::Method::POST, "/api/connections/tt-1/refresh", None)
        .await;
    assert_eq!(status, 200, "{r}");
    let refresh = &seen.of("/v2/oauth/token/")[1];
    assert_eq!(
        keys(refresh),
        ["client_key", "client_secret", "grant_type", "refresh_token"]
    );
    assert_eq!(refresh["refresh_token"], "rft.1");
    let (status, t) = app
        .call(reqwest::Method::GET, "/api/connections/tt-1/token", None)
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["access_token"], "act.2");
    let (status, r) = app
        .call(reqwest::Method::POST, "/api/connections/tt-1/refresh", None)
        .await;
    assert_eq!(status, 200, "the rotated refresh token was kept: {r}");

    // Disconnect: the revocation passes TikTok's check.
    let (status, d) = app
        .call(
            reqwest::Method::POST,
            "/api/integrations/tt/disconnect",
            Some(json!({"connection_id": "tt-1"})),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["revoked_at_provider"], true, "{d}");
    // A custom provider revokes as RFC 7009 does (the refresh token, with a hint).
    let revoke = &seen.of("/v2/oauth/revoke/")[0];
    assert_eq!(
        keys(revoke),
        ["client_key", "client_secret", "token", "token_type_hint"]
    );
    assert_eq!(revoke["token"], "rft.3");
}

// -------------------------------------------------------------------------- Basecamp

/// Launchpad and the Basecamp API as documented: authorization with the standard
/// parameters, a token, `authorization.json` listing a Basecamp 2 account before the
/// Basecamp 4 (`bc3`) one, and the API under `/{account_id}`.
fn basecamp_stub(seen: Seen) -> axum::Router {
    async fn authorize(Query(q): Query<BTreeMap<String, String>>) -> Response {
        let mut to = reqwest::Url::parse(&q["redirect_uri"]).unwrap();
        to.query_pairs_mut()
            .append_pair("code", "bc-code")
            .append_pair("state", &q["state"]);
        Redirect::to(to.as_str()).into_response()
    }
    async fn token(body: String) -> Response {
        let f = form(&body);
        if f.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return refuse("grant_type");
        }
        axum::Json(json!({
            "access_token": "bc-access",
            "token_type": "Bearer",
            "expires_in": 1_209_600,
            "refresh_token": "bc-refresh",
        }))
        .into_response()
    }
    async fn accounts(headers: HeaderMap) -> Response {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer bc-access") {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        axum::Json(json!({
            "expires_at": "2026-12-20T12:00:00-06:00",
            "identity": {"id": 9_999_999, "first_name": "Jason", "last_name": "Fried"},
            "accounts": [
                {"product": "bcx", "id": 11_111_111, "name": "Old"},
                {"product": "bc3", "id": 99_999_999, "name": "Honcho Design"},
            ],
        }))
        .into_response()
    }
    async fn api(
        State(seen): State<Seen>,
        axum::extract::Path((account, rest)): axum::extract::Path<(String, String)>,
        headers: HeaderMap,
    ) -> Response {
        let ua = headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        seen.push(
            &format!("/{account}/{rest}"),
            &BTreeMap::from([("user-agent".to_owned(), ua)]),
        );
        axum::Json(json!([{"id": 1, "name": "Sample project"}])).into_response()
    }
    axum::Router::new()
        .route("/authorization/new", axum::routing::get(authorize))
        .route("/authorization/token", axum::routing::post(token))
        .route("/authorization.json", axum::routing::get(accounts))
        .route("/api/{account}/{*rest}", axum::routing::get(api))
        .with_state(seen)
}

/// A provider whose API base holds the account picked from the userinfo list by
/// `[product=bc3]`: the connection records the Basecamp 4 account, and the proxy calls
/// the API under it, passing the app's own User-Agent on.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_picked_from_the_accounts_list_routes_the_proxy() {
    let seen = Seen::default();
    let stub = serve_stub(basecamp_stub(seen.clone())).await;
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            r#"
[[providers]]
id = "basecamp-like"
docs_url = "https://github.com/basecamp/bc3-api"
authorization_url = "{stub}/authorization/new"
token_url = "{stub}/authorization/token"
userinfo_url = "{stub}/authorization.json"
api_base_url = "{stub}/api/{{account_id}}"
client_auth = "body"
pkce = false

[providers.placeholders.account_id]
from = {{ userinfo = "/accounts/[product=bc3]/id" }}
kind = "segment"

[[integrations]]
id = "bc"
provider = "basecamp-like"
client_id = "bc-client"
client_secret = "bc-secret"
allowed_return_origins = ["{APP_ORIGIN}"]
"#
        ),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    let (_, done) = app.connect("bc", "bc-1").await;
    assert_eq!(query(&done)["status"], "connected", "{done}");
    let (status, c) = app
        .call(reqwest::Method::GET, "/api/connections/bc-1", None)
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["settings"]["account_id"], "99999999", "{c}");

    let r = server
        .http()
        .get(server.url("/api/proxy/bc-1/projects.json"))
        .bearer_auth(&app.key)
        .header("user-agent", "Acme Integration (ops@acme.example)")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let calls = seen.of("/99999999/projects.json");
    assert_eq!(calls.len(), 1, "the API was called under the bc3 account");
    assert_eq!(
        calls[0]["user-agent"],
        "Acme Integration (ops@acme.example)"
    );
}

// ---------------------------------------------------------------------------- Trello

/// Trello's webhooks over HTTP against the built-in entry: the `HEAD` Trello sends
/// when a webhook is created is answered 200 with nothing stored; a delivery signed as
/// Trello signs (base64 HMAC-SHA1 of the body followed by the callback URL, made here
/// with the `hmac` and `sha1` crates, not Switchboard's signer) is stored with its
/// action id and type; a signature over the URL before the body, or under another
/// callback URL, is refused.
#[tokio::test]
async fn trello_webhooks_head_check_and_signed_deliveries() {
    use base64::Engine as _;
    use hmac::{KeyInit, Mac};
    const SECRET: &str = "0f5c3a1b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29181706f5e4d3c2b1a0f9";
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            "[[integrations]]\nid = \"trello\"\nprovider = \"trello\"\nclient_id = \"trello-api-key\"\nwebhook_secrets = [\"{SECRET}\"]\n"
        ),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    let callback = server.url("/webhooks/trello/event");

    let head = server.http().head(&callback).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let (_, events) = app.call(reqwest::Method::GET, "/api/events", None).await;
    assert_eq!(events["data"], json!([]), "the check stores nothing");

    let sign = |parts: &[&[u8]]| {
        let mut m = hmac::Hmac::<sha1::Sha1>::new_from_slice(SECRET.as_bytes()).unwrap();
        for p in parts {
            m.update(p);
        }
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    };
    let body = r#"{"action":{"id":"5f1a2b3c4d5e6f7a8b9c0d1e","type":"createCard","date":"2026-12-06T10:00:00.000Z","data":{"card":{"name":"New"}}},"model":{"id":"b1","name":"Board"}}"#;
    let post = |sig: String| {
        server
            .http()
            .post(&callback)
            .header("content-type", "application/json")
            .header("X-Trello-Webhook", sig)
            .body(body)
            .send()
    };
    for (what, sig) in [
        (
            "URL before the body",
            sign(&[callback.as_bytes(), body.as_bytes()]),
        ),
        (
            "another callback URL",
            sign(&[body.as_bytes(), b"https://elsewhere.example/hook"]),
        ),
    ] {
        let r = post(sig).await.unwrap();
        assert_eq!(r.status(), 401, "{what}");
    }
    let r = post(sign(&[body.as_bytes(), callback.as_bytes()]))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let accepted: Value = r.json().await.unwrap();
    assert_eq!(accepted["duplicate"], false);
    let (status, e) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/events/{}", accepted["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["provider_event_id"], "5f1a2b3c4d5e6f7a8b9c0d1e", "{e}");
    assert_eq!(e["event_type"], "createCard", "{e}");
}

// ------------------------------------------------------------------------------- Wix

/// Wix's token endpoint as documented: a JSON body with the app's id and secret and the
/// app instance; tokens last four hours.
fn wix_stub(seen: Seen) -> axum::Router {
    async fn token(State(seen): State<Seen>, body: String) -> Response {
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        let params: BTreeMap<String, String> = v
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
            .collect();
        seen.push("/oauth2/token", &params);
        if params.get("grant_type").map(String::as_str) != Some("client_credentials")
            || params.get("client_id").map(String::as_str) != Some("wix-app-id")
            || params.get("client_secret").map(String::as_str) != Some("wix-app-secret")
        {
            return refuse("client credentials");
        }
        let Some(instance) = params.get("instance_id") else {
            return refuse("instance_id is required");
        };
        axum::Json(json!({
            "access_token": format!("wix-token-{instance}"),
            "token_type": "Bearer",
            "expires_in": 14_400,
        }))
        .into_response()
    }
    axum::Router::new()
        .route("/oauth2/token", axum::routing::post(token))
        .with_state(seen)
}

/// A client-credentials provider whose token request carries a connection setting
/// (`token_params = { instance_id = "{instance_id}" }`): each app instance is its own
/// connection with its own token, and a connection without the setting is refused
/// with a 400 before the provider is asked.
#[tokio::test(flavor = "multi_thread")]
async fn a_token_per_app_instance_from_a_connection_setting() {
    let seen = Seen::default();
    let stub = serve_stub(wix_stub(seen.clone())).await;
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            r#"
[[providers]]
id = "wix-like"
docs_url = "https://dev.wix.com/docs/build-apps/develop-your-app/access/authentication/authenticate-using-oauth"
auth_mode = "client_credentials"
token_url = "{stub}/oauth2/token"
token_request = "json"
client_auth = "body"
token_params = {{ instance_id = "{{instance_id}}" }}

[providers.placeholders.instance_id]
from = {{ connection = "instance_id" }}
kind = "segment"

[[integrations]]
id = "wx"
provider = "wix-like"
client_id = "wix-app-id"
client_secret = "wix-app-secret"
"#
        ),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    let (status, e) = app
        .call(
            reqwest::Method::POST,
            "/api/connections",
            Some(json!({"integration": "wx", "connection_id": "site-0"})),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    assert!(e.to_string().contains("instance_id"), "{e}");
    assert!(seen.of("/oauth2/token").is_empty());

    for (conn, instance) in [("site-1", "inst-1"), ("site-2", "inst-2")] {
        let (status, c) = app
            .call(
                reqwest::Method::POST,
                "/api/connections",
                Some(json!({"integration": "wx", "connection_id": conn, "settings": {"instance_id": instance}})),
            )
            .await;
        assert_eq!(status, 201, "{c}");
        let (status, t) = app
            .call(
                reqwest::Method::GET,
                &format!("/api/connections/{conn}/token"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{t}");
        assert_eq!(t["access_token"], format!("wix-token-{instance}"));
    }
    let asked = seen.of("/oauth2/token");
    assert_eq!(asked.len(), 2);
    assert_eq!(
        keys(&asked[0]),
        ["client_id", "client_secret", "grant_type", "instance_id"]
    );
}
