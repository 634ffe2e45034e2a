//! In-process tests of the Connect page (`routes/connect_page.rs`): real sockets, real
//! SQLite (in memory), reqwest, and a stub provider API on 127.0.0.1 answering the
//! API-key and basic verify requests (the engine runs in dev mode so loopback is allowed).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use engine::{Actor, Engine};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use store::Scope;
use tokio::net::TcpListener;
use vault::{ExposeSecret, Keyring, MasterKey};

use crate::{AppState, router, serve};

const GOOD_KEY: &str = "key-ok";
const BAD_KEY: &str = "wrong-key-SECRET-7f3a";
const BAD_PASSWORD: &str = "wrong-pass-SECRET-91c2";
const EVIL_NAME: &str = "<script>alert(\"x\")</script>Evil & Co";
const EVIL_SETTING: &str = "Your <img src=x onerror=alert(1)> 'shop'";
/// The issuer the stub token endpoint trusts.
const SA_ISSUER: &str = "robot@customer.iam.example";

// ---------------------------------------------------------------------------------------
// Stub provider API and harness
// ---------------------------------------------------------------------------------------

/// `/api/me` accepts `Bearer key-ok` and `user:pw`; `/down/api/me` is a 503.
async fn start_stub() -> String {
    async fn me(headers: HeaderMap) -> StatusCode {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // base64("user:pw") = dXNlcjpwdw==
        if auth == format!("Bearer {GOOD_KEY}") || auth == "Basic dXNlcjpwdw==" {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        }
    }
    // A JWT bearer token endpoint that trusts one issuer (the signature is checked by
    // the end-to-end tests' peer, with an independent JOSE library).
    async fn token(body: String) -> (StatusCode, axum::Json<Value>) {
        use base64::Engine as _;
        let assertion = form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == "assertion")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let claims: Value = assertion
            .split('.')
            .nth(1)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if claims["iss"] == SA_ISSUER {
            (
                StatusCode::OK,
                axum::Json(json!({"access_token": "sa-token", "expires_in": 3600})),
            )
        } else {
            (
                StatusCode::BAD_REQUEST,
                axum::Json(
                    json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
                ),
            )
        }
    }
    let app = Router::new()
        .route("/api/me", get(me))
        .route("/token", axum::routing::post(token))
        .route(
            "/down/api/me",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn plain_provider(id: &str, name: &str, base: &str, mode: &str, patch: Value) -> Value {
    let mut v = json!({
        "id": id, "name": name, "docs_url": "https://docs.example.com",
        "auth_mode": mode, "api_base_url": format!("{base}/api"), "verify": {"path": "/me"},
    });
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

fn oauth_provider(id: &str, name: &str, patch: Value) -> Value {
    let mut v = json!({
        "id": id, "name": name, "docs_url": "https://docs.example.com",
        "auth_mode": "oauth2", "api_base_url": "https://api.example.com",
        "oauth2": {
            "authorization_url": "https://auth.example.com/authorize",
            "token_url": "https://auth.example.com/token",
            "default_scopes": ["read"],
        }
    });
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    v
}

struct H {
    base: String,
    /// The Connect page's router alone, without the server's JSON-error layer.
    bare: String,
    app: String,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl H {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a connect session for end user `u1`; returns `(token, connect_url path)`.
    async fn session(
        &self,
        integrations: &[&str],
        connection_id: Option<&str>,
    ) -> (String, String) {
        let mut body = json!({"end_user": {"id": "u1"}, "integrations": integrations});
        if let Some(c) = connection_id {
            body["connection_id"] = c.into();
        }
        let r = self
            .http
            .post(self.url("/api/connect-sessions"))
            .bearer_auth(&self.app)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        let token = v["token"].as_str().unwrap().to_owned();
        let url = v["connect_url"].as_str().unwrap();
        let path = &url[url.find("/connect?").expect("connect_url has /connect?")..];
        assert_eq!(path, format!("/connect?session={token}"));
        (token, path.to_owned())
    }

    async fn post_form(
        &self,
        base: &str,
        integration: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(format!("{base}/connect/{integration}"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn connection(&self, id: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(self.url(&format!("/api/connections/{id}")))
            .bearer_auth(&self.app)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn connection_count(&self) -> usize {
        let r = self
            .http
            .get(self.url("/api/connections"))
            .bearer_auth(&self.app)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        v["data"].as_array().unwrap().len()
    }
}

/// Integrations: `acme` (OAuth2), `shopish` (OAuth2 with a `shop` setting), `keyed` (API
/// key, a `region` setting), `down` (API key, the provider answers 503), `basic` (user
/// name and password), `fixed` (basic with a fixed user name), `evil` (OAuth2 with a
/// hostile name and setting description).
async fn start() -> H {
    start_with("").await
}

/// [`start`] with more configuration after `public_url` (top-level keys, `[branding]`),
/// and a `github` integration asking for `repo` and `read:user`.
async fn start_with(extra: &str) -> H {
    let stub = start_stub().await;
    let providers = vec![
        oauth_provider("acme", "Acme ID", json!({})),
        oauth_provider(
            "shopish",
            "Shopish",
            json!({
                "oauth2": {
                    "authorization_url": "https://{shop}.shopish.example/authorize",
                    "token_url": "https://{shop}.shopish.example/token",
                },
                "placeholders": {"shop": {"from": {"connection": "shop"}, "kind": "label", "description": "Shop name"}},
            }),
        ),
        oauth_provider(
            "evil",
            EVIL_NAME,
            json!({
                "oauth2": {
                    "authorization_url": "https://{shop}.evil.example/authorize",
                    "token_url": "https://{shop}.evil.example/token",
                },
                "placeholders": {"shop": {"from": {"connection": "shop"}, "kind": "label", "description": EVIL_SETTING}},
            }),
        ),
        plain_provider(
            "keyed",
            "Keyed",
            &stub,
            "api_key",
            json!({
                "api_key": {"header": "Authorization", "prefix": "Bearer ", "label": "Secret key"},
                "placeholders": {"region": {"from": {"connection": "region"}, "kind": "segment", "description": "Region"}},
            }),
        ),
        plain_provider(
            "down",
            "Down",
            &format!("{stub}/down"),
            "api_key",
            json!({"api_key": {"header": "Authorization", "prefix": "Bearer "}}),
        ),
        plain_provider("basic", "Basic Co", &stub, "basic", json!({})),
        plain_provider(
            "svc",
            "Service Co",
            &stub,
            "jwt_bearer",
            json!({
                "verify": null,
                "oauth2": {"token_url": format!("{stub}/token"), "default_scopes": []},
                "jwt_bearer": {"audience": "token_url", "subject": "required", "scopes": "none"},
            }),
        ),
        plain_provider(
            "fixed",
            "Fixed Co",
            &stub,
            "basic",
            json!({"basic": {"username": "api", "password_label": "Auth token"}}),
        ),
    ];
    let mut toml = String::from(
        "public_url = \"https://sb.example\"\n\n[[integrations]]\nid = \"github\"\nprovider = \"github\"\nclient_id = \"client-1\"\nclient_secret = \"secret-1\"\nscopes = [\"repo\", \"read:user\", \"no:such-scope\"]\nallowed_return_origins = [\"https://app.example\"]\n",
    );
    for id in ["acme", "shopish", "evil", "keyed", "down", "basic", "fixed"] {
        toml.push_str(&format!(
            "\n[[integrations]]\nid = \"{id}\"\nprovider = \"{id}\"\nclient_id = \"client-1\"\nclient_secret = \"secret-1\"\nallowed_return_origins = [\"https://app.example\"]\n"
        ));
    }
    // A service account whose every connection brings its key.
    toml.push_str("\n[[integrations]]\nid = \"svc\"\nprovider = \"svc\"\nallowed_return_origins = [\"https://app.example\"]\n");
    toml.push_str(extra);
    let cfg = config::Config::from_toml(&toml, "test.toml", &BTreeMap::new(), &Default::default())
        .unwrap();
    let store = store_sqlite::SqliteStore::connect("sqlite::memory:")
        .await
        .unwrap();
    store::Store::migrate(&store).await.unwrap();
    let keyring = Keyring::new(MasterKey::generate().unwrap(), vec![]);
    // The built-in catalog, plus the test providers.
    let mut catalog = Engine::new(Arc::new(store.clone()), keyring.clone(), cfg.clone())
        .catalog()
        .clone();
    for p in providers {
        catalog.insert(serde_json::from_value(p).unwrap()).unwrap();
    }
    let engine = Engine::new(Arc::new(store.clone()), keyring, cfg)
        .with_catalog(catalog)
        .with_dev(true);
    let app = engine
        .create_api_key("app", Scope::App, &Actor::System)
        .await
        .unwrap();
    let state = AppState::new(engine);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        router(state.clone()),
        async move {
            let _ = rx.await;
        },
        || Duration::from_secs(5),
    ));
    let bare_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare = format!("http://{}", bare_listener.local_addr().unwrap());
    let bare_app = crate::routes::connect_page::router()
        .split()
        .0
        .with_state(state);
    tokio::spawn(async move { axum::serve(bare_listener, bare_app).await });
    H {
        base,
        bare,
        app: app.key.expose_secret().to_owned(),
        http: reqwest::Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .build()
            .unwrap(),
        _stop: tx,
    }
}

// ---------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} header in {h:?}"))
        .to_str()
        .unwrap()
}

/// The headers every response of the Connect page carries.
fn assert_security_headers(h: &reqwest::header::HeaderMap) {
    let csp = header(h, "content-security-policy");
    for part in [
        "default-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{part} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(!csp.contains("script-src"), "no script at all: {csp}");
    assert_eq!(header(h, "cache-control"), "no-store");
    assert_eq!(header(h, "referrer-policy"), "no-referrer");
    assert_eq!(header(h, "x-content-type-options"), "nosniff");
}

/// An HTML page's headers and body; checks the CSP nonce matches the style element.
async fn html_page(r: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(r.status(), status);
    let h = r.headers().clone();
    assert_security_headers(&h);
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    let csp = header(&h, "content-security-policy").to_owned();
    assert!(csp.contains("form-action 'self'"), "{csp}");
    let body = r.text().await.unwrap();
    let nonce = csp
        .split("style-src 'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap_or_else(|| panic!("no style nonce in {csp}"));
    assert!(nonce.len() >= 22, "{nonce}");
    assert!(
        body.contains(&format!("<style nonce=\"{nonce}\">")),
        "{body}"
    );
    assert_eq!(body.matches("<main").count(), 1, "one main: {body}");
    assert_eq!(body.matches("<style").count(), 1);
    assert!(!body.contains("<script"), "{body}");
    assert_labelled(&body);
    body
}

/// Every visible input has a `<label for>` naming its id.
fn assert_labelled(body: &str) {
    for chunk in body.split("<input ").skip(1) {
        let tag = &chunk[..chunk.find('>').unwrap()];
        if tag.contains("type=\"hidden\"") {
            continue;
        }
        let id = tag
            .split("id=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_else(|| panic!("input without id: {tag}"));
        assert!(
            body.contains(&format!("<label for=\"{id}\">")),
            "input {id} has no label: {body}"
        );
    }
}

/// The section of one integration.
fn section<'a>(body: &'a str, integration: &str) -> &'a str {
    let start = body
        .find(&format!("data-integration=\"{integration}\""))
        .unwrap_or_else(|| panic!("no section for {integration}: {body}"));
    let rest = &body[start..];
    &rest[..rest.find("</section>").unwrap()]
}

async fn json_error(
    r: reqwest::Response,
    status: StatusCode,
) -> (String, reqwest::header::HeaderMap) {
    assert_eq!(r.status(), status);
    let h = r.headers().clone();
    assert!(header(&h, "content-type").starts_with("application/json"));
    let v: Value = r.json().await.unwrap();
    (v["error"]["code"].as_str().unwrap().to_owned(), h)
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_or_missing_session_is_a_json_400_with_the_security_headers() {
    let h = start().await;
    for path in [
        "/connect",
        "/connect?session=",
        "/connect?session=cs_nosuchsession",
    ] {
        let r = h.http.get(h.url(path)).send().await.unwrap();
        let (code, headers) = json_error(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "invalid_request", "{path}");
        assert_security_headers(&headers);
    }
    // The form route too, and a wrong method.
    let r = h
        .post_form(
            &h.base,
            "keyed",
            &[("session", "cs_nosuchsession"), ("api_key", GOOD_KEY)],
        )
        .await;
    let (_, headers) = json_error(r, StatusCode::BAD_REQUEST).await;
    assert_security_headers(&headers);
    let r = h.http.delete(h.url("/connect")).send().await.unwrap();
    let (_, headers) = json_error(r, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_security_headers(&headers);
    assert_eq!(h.connection_count().await, 0);
}

#[tokio::test]
async fn the_page_lists_each_integration_with_the_right_controls() {
    let h = start().await;
    let (token, path) = h
        .session(
            &["acme", "shopish", "keyed", "basic", "fixed"],
            Some("conn-1"),
        )
        .await;
    let r = h.http.get(h.url(&path)).send().await.unwrap();
    let body = html_page(r, StatusCode::OK).await;
    assert!(body.contains("<html lang=\"en\">"));

    // OAuth2: a plain link to the authorization route, with the session.
    let acme = section(&body, "acme");
    assert!(acme.contains("data-auth-mode=\"oauth2\""), "{acme}");
    assert!(acme.contains("<h2 id=\"o0-title\">Acme ID</h2>"), "{acme}");
    assert!(
        acme.contains(&format!(
            "<a id=\"o0-connect\" class=\"button\" href=\"/api/integrations/acme/auth?session={token}\">Connect Acme ID</a>"
        )),
        "{acme}"
    );
    assert!(!acme.contains("<form"), "{acme}");

    // OAuth2 with a setting: a GET form back to the page first, no link yet.
    let shop = section(&body, "shopish");
    assert!(
        shop.contains("<form method=\"get\" action=\"/connect\""),
        "{shop}"
    );
    assert!(
        shop.contains("name=\"settings.shop\" type=\"text\""),
        "{shop}"
    );
    assert!(shop.contains(">Shop name</label>"), "{shop}");
    assert!(
        shop.contains("name=\"integration\" value=\"shopish\""),
        "{shop}"
    );
    assert!(!shop.contains("<a "), "{shop}");

    // API key: a password-type input with the provider's label, and the setting.
    let keyed = section(&body, "keyed");
    assert!(
        keyed.contains("<form method=\"post\" action=\"/connect/keyed\""),
        "{keyed}"
    );
    assert!(
        keyed.contains(&format!("name=\"session\" value=\"{token}\"")),
        "{keyed}"
    );
    assert!(keyed.contains(">Secret key</label>"), "{keyed}");
    assert!(
        keyed.contains("name=\"api_key\" type=\"password\""),
        "{keyed}"
    );
    assert!(
        keyed.contains("name=\"settings.region\" type=\"text\""),
        "{keyed}"
    );
    assert!(
        keyed.contains("<button type=\"submit\">Connect Keyed</button>"),
        "{keyed}"
    );

    // Basic: user name and password; a fixed user name: the password only.
    let basic = section(&body, "basic");
    assert!(basic.contains("name=\"username\" type=\"text\""), "{basic}");
    assert!(
        basic.contains("name=\"password\" type=\"password\""),
        "{basic}"
    );
    let fixed = section(&body, "fixed");
    assert!(!fixed.contains("name=\"username\""), "{fixed}");
    assert!(fixed.contains(">Auth token</label>"), "{fixed}");
    assert!(
        fixed.contains("name=\"password\" type=\"password\""),
        "{fixed}"
    );
    assert!(body.contains("This link works until <time datetime=\""));

    // The settings step completes the link, with the values percent-encoded.
    let r = h
        .http
        .get(h.url(&format!("{path}&integration=shopish&settings.shop=my-shop")))
        .send()
        .await
        .unwrap();
    let body = html_page(r, StatusCode::OK).await;
    let shop = section(&body, "shopish");
    assert!(
        shop.contains(&format!(
            "href=\"/api/integrations/shopish/auth?session={token}&#38;shop=my-shop\""
        )),
        "{shop}"
    );
    assert!(shop.contains("name=\"settings.shop\" type=\"text\" required autocomplete=\"off\" spellcheck=\"false\" value=\"my-shop\""), "{shop}");
    // A blank setting: the form again, with the reason (a 400; the page router alone, as
    // the server's JSON-error layer replaces HTML error bodies).
    let r = h
        .http
        .get(format!(
            "{}{path}&integration=shopish&settings.shop=+",
            h.bare
        ))
        .send()
        .await
        .unwrap();
    let body = html_page(r, StatusCode::BAD_REQUEST).await;
    assert!(section(&body, "shopish").contains("role=\"alert\">Fill in: Shop name.</p>"));
    // `integration=` shows that integration alone (as `Switchboard.connect` asks).
    let r = h
        .http
        .get(h.url(&format!("{path}&integration=keyed")))
        .send()
        .await
        .unwrap();
    let body = html_page(r, StatusCode::OK).await;
    assert_eq!(body.matches("<section").count(), 1, "{body}");
    assert!(
        section(&body, "keyed").contains("name=\"api_key\""),
        "{body}"
    );
    // Not an integration of the session, or a bad mode: JSON 400s.
    for q in [
        "&integration=nope",
        "&mode=sideways",
        "&integration=keyed&mode=",
    ] {
        let r = h
            .http
            .get(h.url(&format!("{path}{q}")))
            .send()
            .await
            .unwrap();
        let (code, _) = json_error(r, StatusCode::BAD_REQUEST).await;
        assert_eq!(code, "invalid_request", "{q}");
    }
}

#[tokio::test]
async fn provider_names_and_descriptions_are_escaped() {
    let h = start().await;
    let (_, path) = h.session(&["evil"], None).await;
    let r = h.http.get(h.url(&path)).send().await.unwrap();
    let body = html_page(r, StatusCode::OK).await;
    assert!(!body.contains("<script"), "{body}");
    assert!(!body.contains("<img"), "{body}");
    assert!(
        body.contains("&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;Evil &#38; Co"),
        "{body}"
    );
    assert!(
        body.contains("Your &#60;img src=x onerror=alert(1)&#62; &#39;shop&#39;"),
        "{body}"
    );
    // A hostile setting value typed by the user comes back escaped too.
    let r = h
        .http
        .get(h.url(&format!(
            "{path}&integration=evil&settings.shop=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"
        )))
        .send()
        .await
        .unwrap();
    let body = html_page(r, StatusCode::OK).await;
    assert!(!body.contains("<script"), "{body}");
    assert!(
        body.contains("value=\"&#34;&#62;&#60;script&#62;"),
        "{body}"
    );
    assert!(
        body.contains("shop=%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E"),
        "{body}"
    );
}

#[tokio::test]
async fn an_api_key_submission_connects() {
    let h = start().await;
    let (token, _) = h.session(&["keyed"], Some("conn-key")).await;
    let r = h
        .post_form(
            &h.base,
            "keyed",
            &[
                ("session", &token),
                ("api_key", GOOD_KEY),
                ("settings.region", "eu"),
            ],
        )
        .await;
    let body = html_page(r, StatusCode::OK).await;
    assert!(body.contains("<h1>Connected</h1>"), "{body}");
    assert!(
        body.contains("data-status=\"connected\" data-connection-id=\"conn-key\""),
        "{body}"
    );
    assert!(!body.contains(GOOD_KEY));
    assert!(!body.contains(&token), "the session is not needed any more");
    let (status, c) = h.connection("conn-key").await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "active");
    assert_eq!(c["auth_mode"], "api_key");
    assert_eq!(c["end_user_id"], "u1");
    assert_eq!(c["settings"], json!({"region": "eu"}));

    // Basic, with the user name given.
    let (token, _) = h.session(&["basic"], Some("conn-basic")).await;
    let r = h
        .post_form(
            &h.base,
            "basic",
            &[
                ("session", &token),
                ("username", "user"),
                ("password", "pw"),
            ],
        )
        .await;
    html_page(r, StatusCode::OK).await;
    assert_eq!(h.connection("conn-basic").await.1["auth_mode"], "basic");
}

#[tokio::test]
async fn a_rejected_key_is_422_stores_nothing_and_is_not_echoed() {
    let h = start().await;
    let (token, _) = h.session(&["keyed", "basic"], Some("conn-bad")).await;
    let form = [
        ("session", token.as_str()),
        ("api_key", BAD_KEY),
        ("settings.region", "eu"),
    ];
    // Through the whole server: the status, the headers, no secret.
    let r = h.post_form(&h.base, "keyed", &form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_security_headers(r.headers());
    let text = r.text().await.unwrap();
    assert!(!text.contains(BAD_KEY), "{text}");
    // The page itself: the form again with the reason, the setting kept, the key not.
    let r = h.post_form(&h.bare, "keyed", &form).await;
    let body = html_page(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(!body.contains(BAD_KEY), "{body}");
    let keyed = section(&body, "keyed");
    assert!(
        keyed.contains(
            "role=\"alert\">Keyed refused these credentials. Check them and try again.</p>"
        ),
        "{keyed}"
    );
    assert!(keyed.contains("name=\"api_key\" type=\"password\" required autocomplete=\"new-password\" spellcheck=\"false\">"), "{keyed}");
    assert!(keyed.contains("value=\"eu\""), "{keyed}");
    assert!(!section(&body, "basic").contains("role=\"alert\""));

    // A refused password: the user name comes back, the password does not.
    let r = h
        .post_form(
            &h.bare,
            "basic",
            &[
                ("session", &token),
                ("username", "user"),
                ("password", BAD_PASSWORD),
            ],
        )
        .await;
    let body = html_page(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(!body.contains(BAD_PASSWORD), "{body}");
    assert!(section(&body, "basic").contains("value=\"user\""));
    assert_eq!(h.connection_count().await, 0);
    assert_eq!(h.connection("conn-bad").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unavailable_provider_is_503_and_stores_nothing() {
    let h = start().await;
    let (token, _) = h.session(&["down"], None).await;
    let form = [("session", token.as_str()), ("api_key", GOOD_KEY)];
    let r = h.post_form(&h.base, "down", &form).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_security_headers(r.headers());
    let r = h.post_form(&h.bare, "down", &form).await;
    let body = html_page(r, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(
        body.contains("Down could not be reached to check the credentials."),
        "{body}"
    );
    assert!(!body.contains(GOOD_KEY));
    assert_eq!(h.connection_count().await, 0);
}

#[tokio::test]
async fn missing_fields_are_400_and_store_nothing() {
    let h = start().await;
    let (token, _) = h.session(&["keyed", "basic", "acme"], None).await;
    let t = token.as_str();
    // (integration, form, message)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: &[Case<'_>] = &[
        (
            "keyed",
            vec![("session", t), ("settings.region", "eu")],
            "Fill in: Secret key.",
        ),
        (
            "keyed",
            vec![("session", t), ("api_key", "  "), ("settings.region", "eu")],
            "Fill in: Secret key.",
        ),
        (
            "keyed",
            vec![("session", t), ("api_key", GOOD_KEY)],
            "Fill in: Region.",
        ),
        (
            "basic",
            vec![("session", t), ("username", "user")],
            "Fill in: Password.",
        ),
        (
            "basic",
            vec![("session", t), ("password", "pw")],
            "Fill in: User name.",
        ),
        (
            "acme",
            vec![("session", t), ("api_key", GOOD_KEY)],
            "Acme ID is not connected with a key or a password here; use its button.",
        ),
    ];
    for (it, form, message) in cases {
        let r = h.post_form(&h.base, it, form).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{it} {form:?}");
        assert_security_headers(r.headers());
        let r = h.post_form(&h.bare, it, form).await;
        let body = html_page(r, StatusCode::BAD_REQUEST).await;
        assert!(
            section(&body, it).contains(&format!("role=\"alert\">{message}</p>")),
            "{it} {form:?}: {body}"
        );
        assert!(!body.contains(GOOD_KEY), "{body}");
    }
    // No session at all, and a body that is not a form.
    let r = h
        .post_form(&h.base, "keyed", &[("api_key", GOOD_KEY)])
        .await;
    assert_eq!(
        json_error(r, StatusCode::BAD_REQUEST).await.0,
        "invalid_request"
    );
    let r = h
        .http
        .post(h.url("/connect/keyed"))
        .json(&json!({"session": t, "api_key": GOOD_KEY}))
        .send()
        .await
        .unwrap();
    let (code, headers) = json_error(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(code, "unsupported_media_type");
    assert_security_headers(&headers);
    assert_eq!(h.connection_count().await, 0);
}

#[tokio::test]
async fn a_session_for_another_integration_is_403() {
    let h = start().await;
    let (token, _) = h.session(&["basic"], None).await;
    let r = h
        .post_form(
            &h.base,
            "keyed",
            &[
                ("session", &token),
                ("api_key", GOOD_KEY),
                ("settings.region", "eu"),
            ],
        )
        .await;
    let (code, headers) = json_error(r, StatusCode::FORBIDDEN).await;
    assert_eq!(code, "forbidden");
    assert_security_headers(&headers);
    // Unknown integrations alike (the page does not reveal which exist).
    let r = h
        .post_form(
            &h.base,
            "nosuch",
            &[("session", &token), ("api_key", GOOD_KEY)],
        )
        .await;
    json_error(r, StatusCode::FORBIDDEN).await;
    assert_eq!(h.connection_count().await, 0);
}

/// A session with a `return_to` or `opener_origin`: a typed-credentials connect reports
/// back to the app the way the OAuth callback does, and the page's CSP lets its form end
/// at the app's origin.
#[tokio::test]
async fn a_typed_connect_goes_back_to_the_app() {
    let h = start().await;
    let create = |body: Value| {
        let req = h
            .http
            .post(h.url("/api/connect-sessions"))
            .bearer_auth(&h.app)
            .json(&body)
            .send();
        async move {
            let r = req.await.unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            r.json::<Value>().await.unwrap()["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    // return_to: the page allows the app's origin as a form target, and success is a
    // 303 to return_to with the result fields (the app's own query kept).
    let token = create(json!({
        "end_user": {"id": "u1"}, "integrations": ["keyed"], "connection_id": "back-1",
        "return_to": "https://app.example/done?from=app"
    }))
    .await;
    let r = h
        .http
        .get(h.url(&format!("/connect?session={token}")))
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self' https://app.example;"),
        "{csp}"
    );
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .post(h.url("/connect/keyed"))
        .form(&[
            ("session", token.as_str()),
            ("api_key", GOOD_KEY),
            ("settings.region", "eu"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        "https://app.example/done?from=app&status=connected&connection_id=back-1"
    );
    assert_eq!(h.connection("back-1").await.1["status"], "active");

    // opener_origin: a page that posts the result to exactly that origin.
    let token = create(json!({
        "end_user": {"id": "u1"}, "integrations": ["keyed"], "connection_id": "back-2",
        "opener_origin": "https://app.example"
    }))
    .await;
    let r = h
        .post_form(
            &h.base,
            "keyed",
            &[
                ("session", &token),
                ("api_key", GOOD_KEY),
                ("settings.region", "eu"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("script-src 'nonce-"),
        "{csp}"
    );
    let body = r.text().await.unwrap();
    // No inline script: the result is in data- attributes for /connect/assets/result.js.
    assert_eq!(body.matches("<script").count(), 1, "{body}");
    assert!(
        body.contains("<script src=\"/connect/assets/result.js\"></script>"),
        "{body}"
    );
    assert!(
        body.contains("data-status=\"connected\" data-connection-id=\"back-2\" data-integration=\"keyed\" data-target-origin=\"https://app.example\""),
        "{body}"
    );
    assert!(!body.contains(GOOD_KEY), "{body}");
}

// ---------------------------------------------------------------------------------------
// Branding, existing connections, scopes, popup mode, the snippet
// ---------------------------------------------------------------------------------------

const EVIL_APP: &str = "<script>alert(1)</script> \"Acme\" & 'Co'";

#[tokio::test]
async fn the_page_carries_the_apps_branding_escaped() {
    let dir = std::env::temp_dir().join(format!("sb-logo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let logo = dir.join("logo.png");
    std::fs::write(&logo, b"\x89PNG\r\n\x1a\nrest-of-png").unwrap();
    let h = start_with(&format!(
        "\n[branding]\napp_name = {}\naccent_color = \"#FFCC00\"\nlogo = \"file:{}\"\n",
        toml_str(EVIL_APP),
        logo.display()
    ))
    .await;
    let (_, path) = h.session(&["acme"], None).await;
    let r = h.http.get(h.url(&path)).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("img-src 'self'"), "{csp}");
    let body = html_page(r, StatusCode::OK).await;
    let escaped = "&#60;script&#62;alert(1)&#60;/script&#62; &#34;Acme&#34; &#38; &#39;Co&#39;";
    assert!(
        body.contains(&format!("<span class=\"app\">{escaped}</span>")),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "<p>{escaped} asks you to connect the accounts below."
        )),
        "{body}"
    );
    assert!(!body.contains("<script>alert"), "{body}");
    // A light accent gets black text (WCAG AA), as CSS variables in the one style.
    assert!(
        body.contains(":root{--accent:#ffcc00;--accent-text:#000000}"),
        "{body}"
    );
    assert!(body.contains("prefers-color-scheme:dark"), "{body}");
    assert!(
        body.contains("<img src=\"/connect/assets/logo\" alt=\"\""),
        "{body}"
    );
    let r = h
        .http
        .get(h.url("/connect/assets/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(r.headers(), "content-type"), "image/png");
    assert!(header(r.headers(), "content-security-policy").contains("sandbox"));
    assert_eq!(&r.bytes().await.unwrap()[..4], b"\x89PNG");
    std::fs::remove_dir_all(&dir).ok();

    // Without branding: "The app", the default accent with white text, no logo.
    let h = start().await;
    let (_, path) = h.session(&["acme"], None).await;
    let body = html_page(
        h.http.get(h.url(&path)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(body.contains("<p>The app asks you to connect"), "{body}");
    assert!(
        body.contains("--accent:#2457c5;--accent-text:#ffffff"),
        "{body}"
    );
    assert!(!body.contains("<img"), "{body}");
    let r = h
        .http
        .get(h.url("/connect/assets/logo"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_error(r, StatusCode::NOT_FOUND).await.0, "not_found");
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[tokio::test]
async fn oauth2_options_say_what_access_is_asked_in_plain_words() {
    let h = start().await;
    let (_, path) = h.session(&["github", "keyed"], None).await;
    let body = html_page(
        h.http.get(h.url(&path)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let gh = section(&body, "github");
    assert!(gh.contains("The app will be able to:"), "{gh}");
    assert!(
        gh.contains("<li>read and change your public and private repositories"),
        "{gh}"
    );
    assert!(gh.contains("<li>see your profile</li>"), "{gh}");
    // A scope the catalog does not describe is shown as its code.
    assert!(
        gh.contains("<li>use <code>no:such-scope</code> access</li>"),
        "{gh}"
    );
    // API-key forms: the catalog's label and a help link to the provider's docs.
    let keyed = section(&body, "keyed");
    assert!(!keyed.contains("will be able to"), "{keyed}");
    assert!(keyed.contains(">Secret key</label>"), "{keyed}");
    assert!(
        keyed.contains("<a href=\"https://docs.example.com\" target=\"_blank\" rel=\"noopener noreferrer\">Keyed's documentation</a>"),
        "{keyed}"
    );
}

#[tokio::test]
async fn the_page_lists_the_end_users_connections_with_a_reconnect_link() {
    let h = start().await;
    // u1 connects keyed (as conn-key) and has nothing on acme yet.
    let (token, _) = h.session(&["keyed"], Some("conn-key")).await;
    let r = h
        .post_form(
            &h.base,
            "keyed",
            &[
                ("session", &token),
                ("api_key", GOOD_KEY),
                ("settings.region", "eu"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (token, path) = h.session(&["keyed", "acme"], None).await;
    let body = html_page(
        h.http.get(h.url(&path)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let keyed = section(&body, "keyed");
    assert!(keyed.contains("Already connected:"), "{keyed}");
    assert!(
        keyed.contains("<li data-connection-id=\"conn-key\"><code>conn-key</code> · <span class=\"status\">working</span> · since <time"),
        "{keyed}"
    );
    assert!(
        !section(&body, "acme").contains("Already connected"),
        "{body}"
    );

    // (An OAuth2 connection's reconnect link is checked in the browser test, which
    // connects one through the real provider.)
    let body = html_page(
        h.http
            .get(h.url(&format!("{path}&mode=popup")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let acme = section(&body, "acme");
    // The popup mode is carried on by the links and forms.
    assert!(
        acme.contains(&format!(
            "href=\"/api/integrations/acme/auth?session={token}&#38;mode=popup\">Connect Acme ID</a>"
        )),
        "{acme}"
    );
    assert!(
        section(&body, "keyed").contains("<input type=\"hidden\" name=\"mode\" value=\"popup\">"),
        "{body}"
    );
}

#[tokio::test]
async fn in_a_popup_an_expired_session_or_unknown_integration_is_posted_to_the_opener() {
    let h = start().await;
    let get = |q: String| {
        let h = &h;
        async move { h.http.get(h.url(&q)).send().await.unwrap() }
    };
    // An unknown session: the opener's own origin, if an integration allows it.
    let r =
        get("/connect?session=cs_nosuchsession&mode=popup&opener=https%3A%2F%2Fapp.example".into())
            .await;
    assert_eq!(r.status(), StatusCode::OK);
    let csp = header(r.headers(), "content-security-policy").to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(header(r.headers(), "cache-control"), "no-store");
    let body = r.text().await.unwrap();
    assert!(
        body.contains("data-status=\"error\" data-error=\"session_expired\" data-target-origin=\"https://app.example\""),
        "{body}"
    );
    assert!(
        body.contains("<script src=\"/connect/assets/result.js\"></script>"),
        "{body}"
    );
    // An origin no integration allows is told nothing (no script at all).
    let r = get(
        "/connect?session=cs_nosuchsession&mode=popup&opener=https%3A%2F%2Fevil.example".into(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!header(r.headers(), "content-security-policy").contains("script-src"));
    let body = r.text().await.unwrap();
    assert!(body.contains("data-error=\"session_expired\""), "{body}");
    assert!(
        !body.contains("<script") && !body.contains("evil.example"),
        "{body}"
    );
    // Without mode=popup: the JSON 400 as before.
    let r = get("/connect?session=cs_nosuchsession&opener=https%3A%2F%2Fapp.example".into()).await;
    json_error(r, StatusCode::BAD_REQUEST).await;

    // An integration the session does not allow, in a popup: posted to the session's
    // opener; a hostile integration value is escaped.
    let token = {
        let r = h
            .http
            .post(h.url("/api/connect-sessions"))
            .bearer_auth(&h.app)
            .json(&json!({"end_user": {"id": "u1"}, "integrations": ["acme"],
                          "opener_origin": "https://app.example"}))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let r = get(format!(
        "/connect?session={token}&mode=popup&integration=%22%3E%3Cscript%3Ex%3C%2Fscript%3E"
    ))
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("data-error=\"unknown_integration\" data-integration=\"&#34;&#62;&#60;script&#62;x&#60;/script&#62;\" data-target-origin=\"https://app.example\""),
        "{body}"
    );
    assert_eq!(body.matches("<script").count(), 1, "{body}");
    assert_eq!(h.connection_count().await, 0);
}

#[tokio::test]
async fn the_snippet_and_its_types_are_served_with_an_etag() {
    let h = start().await;
    for (path, kind, words) in [
        (
            "/connect/switchboard.js",
            "text/javascript; charset=utf-8",
            "Switchboard",
        ),
        (
            "/connect/switchboard.d.ts",
            "application/typescript; charset=utf-8",
            "SwitchboardErrorCode",
        ),
        (
            "/connect/assets/result.js",
            "text/javascript; charset=utf-8",
            "postMessage",
        ),
    ] {
        let r = h.http.get(h.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(header(r.headers(), "content-type"), kind, "{path}");
        assert_eq!(header(r.headers(), "cache-control"), "no-cache", "{path}");
        assert_eq!(header(r.headers(), "x-content-type-options"), "nosniff");
        let tag = header(r.headers(), "etag").to_owned();
        assert!(tag.starts_with('"') && tag.len() == 34, "{tag}");
        let text = r.text().await.unwrap();
        assert!(text.contains(words), "{path}");
        let r = h
            .http
            .get(h.url(path))
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(header(r.headers(), "etag"), tag);
        assert!(r.bytes().await.unwrap().is_empty());
        let r = h
            .http
            .get(h.url(path))
            .header("if-none-match", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    // Every error code the snippet can reject with is declared in the .d.ts.
    let js = crate::routes::connect_assets::SWITCHBOARD_JS;
    let dts = crate::routes::connect_assets::SWITCHBOARD_D_TS;
    let list = &js[js.find("var ERROR_CODES = [").unwrap()..];
    let list = &list[..list.find("];").unwrap()];
    let codes: Vec<&str> = list.split('\'').skip(1).step_by(2).collect();
    assert!(codes.len() >= 10, "{codes:?}");
    for c in &codes {
        assert!(
            dts.contains(&format!("| '{c}'")),
            "{c} missing from switchboard.d.ts"
        );
    }
    // And in the error codes the engine's callback can give, none is unknown to it.
    for c in [
        "access_denied",
        "exchange_failed",
        "id_token_invalid",
        "connection_id_taken",
        "internal_error",
        "installation_requested",
        "installation_not_accessible",
        "installation_not_found",
        "invalid_client",
    ] {
        assert!(codes.contains(&c), "{c}");
    }
}

/// A typed (API-key, basic) connection has a reconnect link too: the form for that
/// connection alone, whose new credentials are verified like new ones and replace the
/// saved ones under the same id (never a second connection); a refused key changes
/// nothing. The snippet's `connection_id` is honoured; a malformed one, one other than
/// the session's, or another integration's is a 4xx that changes nothing.
#[tokio::test]
async fn a_typed_connection_reconnects_under_its_id_and_bad_ids_change_nothing() {
    let h = start().await;
    // Connected as the snippet's connectionId asks (the session fixes none).
    let (token, path) = h.session(&["keyed", "basic"], None).await;
    let body = html_page(
        h.http
            .get(h.url(&format!("{path}&integration=keyed&connection_id=k-1")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let keyed = section(&body, "keyed");
    assert!(
        keyed.contains("<input type=\"hidden\" name=\"connection_id\" value=\"k-1\">"),
        "{keyed}"
    );
    assert!(
        keyed.contains("<button type=\"submit\">Connect Keyed</button>"),
        "{keyed}"
    );
    let form = |key: &'static str, id: &'static str| {
        let token = token.clone();
        let h = &h;
        async move {
            h.post_form(
                &h.bare,
                "keyed",
                &[
                    ("session", token.as_str()),
                    ("api_key", key),
                    ("settings.region", "eu"),
                    ("connection_id", id),
                ],
            )
            .await
        }
    };
    html_page(form(GOOD_KEY, "k-1").await, StatusCode::OK).await;
    let (status, before) = h.connection("k-1").await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(h.connection_count().await, 1);

    // The page lists it with a reconnect link to its own form.
    let body = html_page(
        h.http
            .get(h.url(&format!("{path}&mode=popup")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let link = format!("/connect?session={token}&integration=keyed&connection_id=k-1&mode=popup");
    assert!(
        section(&body, "keyed").contains(&format!(
            "<a href=\"{}\">Reconnect</a>",
            link.replace('&', "&#38;")
        )),
        "{body}"
    );
    let body = html_page(
        h.http.get(h.url(&link)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let keyed = section(&body, "keyed");
    assert!(keyed.contains("Reconnect <code>k-1</code>"), "{keyed}");
    assert!(
        keyed.contains("<button type=\"submit\">Reconnect Keyed</button>"),
        "{keyed}"
    );
    assert!(
        keyed.contains("<input type=\"hidden\" name=\"connection_id\" value=\"k-1\">"),
        "{keyed}"
    );
    assert!(
        !body.contains("data-integration=\"basic\""),
        "that one alone: {body}"
    );

    // A refused key: the reconnect form again with the reason, nothing changed.
    let body = html_page(form(BAD_KEY, "k-1").await, StatusCode::UNPROCESSABLE_ENTITY).await;
    let keyed = section(&body, "keyed");
    assert!(keyed.contains("Keyed refused these credentials"), "{keyed}");
    assert!(keyed.contains("Reconnect <code>k-1</code>"), "{keyed}");
    assert!(!body.contains(BAD_KEY), "{body}");
    assert_eq!(h.connection("k-1").await.1, before);

    // Bad ids, on the page and in the form: a 4xx each, nothing changed.
    for q in ["connection_id=bad%20id", "connection_id=%3Cx%3E"] {
        let r = h
            .http
            .get(h.url(&format!("{path}&{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(
            json_error(r, StatusCode::BAD_REQUEST).await.0,
            "invalid_request",
            "{q}"
        );
        // In a popup: posted to the opener as invalid_options.
        let r = h
            .http
            .get(h.url(&format!("{path}&{q}&mode=popup")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body = r.text().await.unwrap();
        assert!(body.contains("data-error=\"invalid_options\""), "{body}");
    }
    let body = html_page(form(GOOD_KEY, "bad id").await, StatusCode::BAD_REQUEST).await;
    assert!(section(&body, "keyed").contains("connection_id"), "{body}");
    // Another integration's connection id.
    let (basic_token, _) = h.session(&["basic"], Some("b-1")).await;
    let r = h
        .post_form(
            &h.base,
            "basic",
            &[
                ("session", &basic_token),
                ("username", "user"),
                ("password", "pw"),
            ],
        )
        .await;
    html_page(r, StatusCode::OK).await;
    let body = html_page(form(GOOD_KEY, "b-1").await, StatusCode::CONFLICT).await;
    assert!(
        section(&body, "keyed").contains("belongs to another"),
        "{body}"
    );
    assert_eq!(h.connection("b-1").await.1["integration"], "basic");
    // A basic connection has its reconnect link as well.
    let body = html_page(
        h.http.get(h.url(&path)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(
        section(&body, "basic").contains(&format!(
            "<a href=\"/connect?session={token}&#38;integration=basic&#38;connection_id=b-1\">Reconnect</a>"
        )),
        "{body}"
    );
    // A session fixed to one id takes no other, on the page or in the form.
    let (fixed, fixed_path) = h.session(&["keyed"], Some("k-2")).await;
    let r = h
        .http
        .get(h.url(&format!("{fixed_path}&connection_id=k-1")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_error(r, StatusCode::BAD_REQUEST).await.0,
        "invalid_request"
    );
    let r = h
        .post_form(
            &h.bare,
            "keyed",
            &[
                ("session", &fixed),
                ("api_key", GOOD_KEY),
                ("settings.region", "eu"),
                ("connection_id", "k-1"),
            ],
        )
        .await;
    let body = html_page(r, StatusCode::BAD_REQUEST).await;
    assert!(section(&body, "keyed").contains("differs"), "{body}");
    assert_eq!(h.connection("k-1").await.1, before);
    assert_eq!(h.connection_count().await, 2);

    // The right key: the same connection, updated; still one keyed connection.
    html_page(form(GOOD_KEY, "k-1").await, StatusCode::OK).await;
    let (_, after) = h.connection("k-1").await;
    assert_eq!(after["status"], "active");
    assert_eq!(after["created_at"], before["created_at"]);
    assert_eq!(h.connection_count().await, 2);
}

/// An RSA private key in PKCS#8 PEM, made for the test run.
fn rsa_pem() -> String {
    use aws_lc_rs::encoding::AsDer;
    use base64::Engine as _;
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(kp.as_der().unwrap().as_ref());
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.join("\n")
    )
}

/// A service-account integration without a key of its own: the end user pastes their
/// key file, and its subject; a bad or refused key answers the form again without the
/// key, and stores nothing.
#[tokio::test]
async fn a_service_account_key_is_pasted_on_the_page_and_never_echoed() {
    let h = start().await;
    let (token, path) = h.session(&["svc"], None).await;
    let body = html_page(
        h.http.get(h.url(&path)).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let svc = section(&body, "svc");
    assert!(svc.contains("data-auth-mode=\"jwt_bearer\""), "{svc}");
    assert!(
        svc.contains("<label for=\"o0-key\">Service-account key file (JSON) or private key (PEM)</label>\n<textarea id=\"o0-key\" name=\"private_key\" rows=\"8\" required autocomplete=\"off\" spellcheck=\"false\"></textarea>"),
        "{svc}"
    );
    assert!(
        svc.contains("name=\"client_id\" type=\"text\" autocomplete"),
        "the issuer may be left out: {svc}"
    );
    assert!(
        svc.contains("name=\"subject\" type=\"text\" required"),
        "{svc}"
    );
    assert!(svc.contains("action=\"/connect/svc\""), "{svc}");

    let pem = rsa_pem();
    let secret_line = pem.lines().nth(2).unwrap().to_owned();
    let file = |email: &str| {
        json!({"type": "service_account", "private_key_id": "k1", "private_key": pem, "client_email": email}).to_string()
    };
    let (good, stranger) = (file(SA_ISSUER), file("stranger@x.example"));
    // Missing fields, a key that is no key, a refused key: the form again, with the
    // subject kept and the key not, nothing stored.
    let cases = [
        (
            vec![("subject", "alice")],
            StatusCode::BAD_REQUEST,
            "Fill in: Service-account key file (JSON) or private key (PEM).",
        ),
        (
            vec![("private_key", good.as_str())],
            StatusCode::BAD_REQUEST,
            "Fill in: User to act for.",
        ),
        (
            vec![
                (
                    "private_key",
                    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----",
                ),
                ("subject", "alice"),
            ],
            StatusCode::BAD_REQUEST,
            "is an EC key",
        ),
        (
            vec![("private_key", stranger.as_str()), ("subject", "alice")],
            StatusCode::UNPROCESSABLE_ENTITY,
            "Service Co refused this key.",
        ),
    ];
    for (fields, status, needle) in cases {
        let mut form = vec![("session", token.as_str())];
        form.extend(fields.iter().copied());
        let r = h.post_form(&h.bare, "svc", &form).await;
        let body = html_page(r, status).await;
        let svc = section(&body, "svc");
        assert!(svc.contains(needle), "{needle}: {svc}");
        assert!(
            !body.contains(&secret_line) && !body.contains("MHcCAQEE"),
            "{body}"
        );
        if fields.iter().any(|(k, _)| *k == "subject") {
            assert!(svc.contains("value=\"alice\""), "{svc}");
        }
    }
    assert_eq!(h.connection_count().await, 0);

    // The right key: connected, signed as the key file's issuer, the key never shown.
    let f = file(SA_ISSUER);
    let r = h
        .post_form(
            &h.bare,
            "svc",
            &[
                ("session", &token),
                ("private_key", &f),
                ("subject", "alice"),
            ],
        )
        .await;
    let body = html_page(r, StatusCode::OK).await;
    assert!(
        body.contains("Your Service Co account is connected."),
        "{body}"
    );
    assert!(!body.contains(&secret_line));
    let r = h
        .http
        .get(h.url("/api/connections"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(&secret_line) && !text.contains("PRIVATE KEY"),
        "{text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["data"][0]["settings"]["key_issuer"], SA_ISSUER, "{v}");
    assert_eq!(v["data"][0]["settings"]["subject"], "alice", "{v}");
}
