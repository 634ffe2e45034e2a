//! The admin console over HTTP: sign-in, sessions on the engine clock, CSRF, headers,
//! and bad input on every form and query parameter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use engine::clock::ManualClock;
use engine::{Actor, Engine};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use store::{Scope, Store};
use tokio::net::TcpListener;
use vault::{ExposeSecret, Keyring, MasterKey};

use crate::{AppState, router, serve};

const CONFIG: &str = r#"
[console]
session_idle_secs = 600
session_absolute_secs = 3600

[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["gh-webhook-secret-0123456789abcdef"]
"#;

struct H {
    base: String,
    admin: String,
    admin_id: String,
    app: String,
    app_id: String,
    engine: Engine,
    clock: ManualClock,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> H {
    let store = store_sqlite::SqliteStore::connect("sqlite::memory:")
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let cfg =
        config::Config::from_toml(CONFIG, "t.toml", &BTreeMap::new(), &Default::default()).unwrap();
    let clock = ManualClock::new();
    let engine = Engine::new(
        Arc::new(store),
        Keyring::new(MasterKey::generate().unwrap(), vec![]),
        cfg,
    )
    .with_clock(clock.clone());
    let admin = engine
        .create_api_key("ops admin", Scope::Admin, &Actor::System)
        .await
        .unwrap();
    let app = engine
        .create_api_key("app", Scope::App, &Actor::System)
        .await
        .unwrap();
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
        admin: admin.key.expose_secret().to_owned(),
        admin_id: admin.info.id,
        app: app.key.expose_secret().to_owned(),
        app_id: app.info.id,
        engine,
        clock,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _stop: tx,
    }
}

/// The value of cookie `name` set by `res`.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let (k, rest) = v.split_once('=')?;
        (k == name).then(|| rest.split(';').next().unwrap_or_default().to_owned())
    })
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    Some(html[start..].split('"').next()?.to_owned())
}

impl H {
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }

    async fn get(&self, p: &str, session: Option<&str>) -> reqwest::Response {
        let mut r = self.http.get(self.url(p));
        if let Some(s) = session {
            r = r.header(COOKIE, format!("sb_console={s}"));
        }
        r.send().await.unwrap()
    }

    async fn post(&self, p: &str, session: &str, body: &str) -> reqwest::Response {
        self.http
            .post(self.url(p))
            .header(COOKIE, format!("sb_console={session}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// Signs in with `key`; the response to the form post.
    async fn try_sign_in(&self, key: &str) -> reqwest::Response {
        let page = self.get("/ui/sign-in", None).await;
        assert_eq!(page.status(), StatusCode::OK);
        let form = set_cookie(&page, "sb_console_form").expect("the form cookie");
        let html = page.text().await.unwrap();
        let csrf = hidden(&html, "csrf").unwrap();
        assert_eq!(csrf, form, "double submit: the field repeats the cookie");
        let body = serde_urlencoded::to_string([
            ("csrf", csrf.as_str()),
            ("api_key", key),
            ("next", "/ui/audit"),
        ])
        .unwrap();
        self.http
            .post(self.url("/ui/sign-in"))
            .header(COOKIE, format!("sb_console_form={form}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn sign_in(&self) -> String {
        let res = self.try_sign_in(&self.admin).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()[LOCATION], "/ui/audit");
        set_cookie(&res, "sb_console").expect("a session cookie")
    }

    /// The CSRF token of a session (read from a page, as a browser would).
    async fn csrf(&self, session: &str) -> String {
        let html = self
            .get("/ui/api-keys", Some(session))
            .await
            .text()
            .await
            .unwrap();
        hidden(&html, "csrf").unwrap()
    }

    async fn key_works(&self, key: &str) -> bool {
        self.http
            .get(self.url("/api/connections"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
    }
}

fn is_sign_in_redirect(res: &reqwest::Response) -> bool {
    res.status() == StatusCode::SEE_OTHER
        && res.headers()[LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/ui/sign-in")
}

#[tokio::test]
async fn sign_in_with_an_admin_key_and_every_page_answers_with_the_strict_headers() {
    let h = start().await;
    assert!(is_sign_in_redirect(&h.get("/ui", None).await));
    let res = h.try_sign_in(&h.admin).await;
    let cookie = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain http public_url");
    let s = set_cookie(&res, "sb_console").unwrap();
    for page in crate::console::PAGES {
        let res = h.get(page.path, Some(&s)).await;
        assert_eq!(res.status(), StatusCode::OK, "{}", page.path);
        let hd = res.headers();
        assert_eq!(hd["content-security-policy"], crate::console::render::CSP);
        assert_eq!(hd["cache-control"], "no-store");
        assert_eq!(hd["referrer-policy"], "no-referrer");
        assert_eq!(hd["x-content-type-options"], "nosniff");
        let html = res.text().await.unwrap();
        assert!(html.contains("ops admin"), "the signed-in name is shown");
        assert!(
            !html.contains(&h.admin) && !html.contains(&s),
            "no key or session id in a page"
        );
        assert!(
            !html.contains("style=\""),
            "no inline style in {}",
            page.path
        );
        assert!(
            !html.contains("<script>"),
            "no inline script in {}",
            page.path
        );
    }
    let rows = h.engine.list_audit(None, 10).await.unwrap().data;
    assert!(rows.iter().any(|r| r.entry.action == "console.sign_in"
        && r.entry.actor == format!("api-key:{}", h.admin_id)));
}

#[tokio::test]
async fn a_wrong_key_or_an_app_key_is_refused_and_no_session_is_made() {
    let h = start().await;
    let wrong = format!("sb_{}_{}", "a".repeat(12), "B".repeat(40));
    for (key, status) in [
        (wrong.as_str(), StatusCode::UNAUTHORIZED),
        ("not a key", StatusCode::UNAUTHORIZED),
        ("", StatusCode::UNAUTHORIZED),
        (h.app.as_str(), StatusCode::FORBIDDEN),
    ] {
        let res = h.try_sign_in(key).await;
        assert_eq!(res.status(), status, "{key}");
        assert!(set_cookie(&res, "sb_console").is_none());
        let html = res.text().await.unwrap();
        assert!(html.contains("sign-in-error"));
        if !key.is_empty() {
            assert!(!html.contains(key), "the key is never echoed");
        }
    }
    let rows = h.engine.list_audit(None, 10).await.unwrap().data;
    assert!(!rows.iter().any(|r| r.entry.action == "console.sign_in"));
}

#[tokio::test]
async fn the_sign_in_form_needs_its_own_token_and_a_same_origin_post() {
    let h = start().await;
    let post = |cookie: Option<&str>, body: String, site: Option<&str>| {
        let mut r = h
            .http
            .post(h.url("/ui/sign-in"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = cookie {
            r = r.header(COOKIE, format!("sb_console_form={c}"));
        }
        if let Some(s) = site {
            r = r.header("sec-fetch-site", s);
        }
        r.send()
    };
    let key = h.admin.clone();
    let res = post(None, format!("csrf=x&api_key={key}"), None)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(Some("y"), format!("csrf=x&api_key={key}"), None)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(
        Some("x"),
        format!("csrf=x&api_key={key}"),
        Some("cross-site"),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(Some("x"), format!("csrf=x&api_key={key}&extra=1"), None)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = post(Some("x"), format!("csrf=x&api_key={key}"), None)
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the double submit matches"
    );
    // `next` may only lead into the console.
    for next in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "/api/status",
    ] {
        let body =
            serde_urlencoded::to_string([("csrf", "x"), ("api_key", key.as_str()), ("next", next)])
                .unwrap();
        let res = post(Some("x"), body, None).await.unwrap();
        assert_eq!(res.headers()[LOCATION], "/ui", "{next}");
    }
}

#[tokio::test]
async fn a_forged_post_without_the_token_is_refused_and_changes_nothing() {
    let h = start().await;
    let s = h.sign_in().await;
    let path = format!("/ui/api-keys/{}/revoke", h.app_id);
    for body in ["", "csrf=", "csrf=forged", "csrf=a&csrf=b"] {
        let res = h.post(&path, &s, body).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{body:?}");
    }
    // The right token, but the browser says the post came from another site.
    let csrf = h.csrf(&s).await;
    let res = h
        .http
        .post(h.url(&path))
        .header(COOKIE, format!("sb_console={s}"))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("origin", "https://evil.example")
        .body(format!("csrf={csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(h.key_works(&h.app).await, "the key still works");
    // A token of another session does not fit this one.
    let other = h.sign_in().await;
    let other_csrf = h.csrf(&other).await;
    assert_ne!(other_csrf, csrf);
    assert_eq!(
        h.post(&path, &s, &format!("csrf={other_csrf}"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert!(h.key_works(&h.app).await);

    // With its token, the same post revokes, audited with the console's actor.
    let res = h.post(&path, &s, &format!("csrf={csrf}")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(!h.key_works(&h.app).await);
    let rows = h.engine.list_audit(None, 5).await.unwrap().data;
    assert!(rows.iter().any(|r| r.entry.action == "api_key.revoke"
        && r.entry.actor == format!("api-key:{}", h.admin_id)));
    // Twice: 409, an unknown id: 404.
    assert_eq!(
        h.post(&path, &s, &format!("csrf={csrf}")).await.status(),
        StatusCode::CONFLICT
    );
    let res = h
        .post(
            "/ui/api-keys/nosuchkey000/revoke",
            &s,
            &format!("csrf={csrf}"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sessions_end_when_idle_at_their_absolute_end_on_sign_out_and_on_revocation() {
    let h = start().await;
    // Idle: 600 s without a request.
    let s = h.sign_in().await;
    h.clock.advance(Duration::from_secs(599));
    assert_eq!(h.get("/ui", Some(&s)).await.status(), StatusCode::OK);
    h.clock.advance(Duration::from_secs(599));
    assert_eq!(
        h.get("/ui", Some(&s)).await.status(),
        StatusCode::OK,
        "used within the idle time"
    );
    h.clock.advance(Duration::from_secs(600));
    assert!(
        is_sign_in_redirect(&h.get("/ui", Some(&s)).await),
        "idle too long"
    );
    assert!(
        is_sign_in_redirect(&h.get("/ui", Some(&s)).await),
        "and gone for good"
    );

    // Absolute: 3600 s after sign-in, however busy.
    let s = h.sign_in().await;
    for _ in 0..7 {
        h.clock.advance(Duration::from_secs(500));
        assert_eq!(h.get("/ui/audit", Some(&s)).await.status(), StatusCode::OK);
    }
    h.clock.advance(Duration::from_secs(100));
    assert!(is_sign_in_redirect(&h.get("/ui/audit", Some(&s)).await));

    // Sign-out ends it on the server: the old cookie is refused afterwards.
    let s = h.sign_in().await;
    let csrf = h.csrf(&s).await;
    assert_eq!(
        h.post("/ui/sign-out", &s, "").await.status(),
        StatusCode::FORBIDDEN,
        "needs the token"
    );
    let res = h.post("/ui/sign-out", &s, &format!("csrf={csrf}")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        res.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert!(is_sign_in_redirect(&h.get("/ui", Some(&s)).await));
    assert_eq!(
        h.post("/ui/sign-out", &s, &format!("csrf={csrf}"))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let rows = h.engine.list_audit(None, 5).await.unwrap().data;
    assert!(rows.iter().any(|r| r.entry.action == "console.sign_out"));

    // Revoking the key that signed in ends its sessions.
    let s = h.sign_in().await;
    h.engine
        .revoke_api_key(&h.admin_id, &Actor::System)
        .await
        .unwrap();
    assert!(is_sign_in_redirect(&h.get("/ui", Some(&s)).await));

    // A made-up or oversized session id is just "not signed in".
    for fake in ["x", &"A".repeat(43), &"A".repeat(4000)] {
        assert!(is_sign_in_redirect(&h.get("/ui", Some(fake)).await));
    }
    assert_eq!(
        h.engine.purge_console_sessions().await.unwrap(),
        0,
        "ended sessions were removed as met"
    );
}

#[tokio::test]
async fn a_created_key_is_shown_once_and_bad_input_changes_nothing() {
    let h = start().await;
    let s = h.sign_in().await;
    let csrf = h.csrf(&s).await;
    let before = h.engine.list_api_keys().await.unwrap().len();
    for (body, status) in [
        (
            format!("csrf={csrf}&name=&scope=app"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("csrf={csrf}&name=%3Cb%3E&scope=app"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("csrf={csrf}&name={}&scope=app", "a".repeat(65)),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("csrf={csrf}&name=ok&scope=root"),
            StatusCode::BAD_REQUEST,
        ),
        (format!("csrf={csrf}&name=ok"), StatusCode::BAD_REQUEST),
        (
            format!("csrf={csrf}&name=ok&scope=app&extra=1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("csrf={csrf}&name=ok&scope=app&scope=admin"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("csrf={csrf}&name=%FF&scope=app"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let res = h.post("/ui/api-keys", &s, &body).await;
        assert_eq!(res.status(), status, "{body}");
        let html = res.text().await.unwrap();
        assert!(!html.contains("<b>"), "escaped");
    }
    // Not a form, and too large a form.
    let res = h
        .http
        .post(h.url("/ui/api-keys"))
        .header(COOKIE, format!("sb_console={s}"))
        .header(CONTENT_TYPE, "application/json")
        .body(format!(
            "{{\"csrf\":\"{csrf}\",\"name\":\"x\",\"scope\":\"app\"}}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let big = format!("csrf={csrf}&name=x&scope=app&pad={}", "x".repeat(20_000));
    assert_eq!(
        h.post("/ui/api-keys", &s, &big).await.status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        h.engine.list_api_keys().await.unwrap().len(),
        before,
        "nothing created"
    );

    let res = h
        .post(
            "/ui/api-keys",
            &s,
            &format!("csrf={csrf}&name=ci+deploy&scope=app"),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    let shown = html
        .split("<code id=\"new-key-value\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap()
        .to_owned();
    assert!(h.key_works(&shown).await, "the page showed a working key");
    for page in ["/ui", "/ui/api-keys", "/ui/audit"] {
        let html = h.get(page, Some(&s)).await.text().await.unwrap();
        assert!(!html.contains(&shown), "{page} shows the key again");
    }
}

#[tokio::test]
async fn bad_query_parameters_and_paths_get_a_clear_4xx() {
    let h = start().await;
    let s = h.sign_in().await;
    for (path, status) in [
        ("/ui?x=1", StatusCode::OK),
        ("/ui/audit?cursor=abc", StatusCode::BAD_REQUEST),
        ("/ui/audit?cursor=0", StatusCode::BAD_REQUEST),
        (
            "/ui/audit?cursor=99999999999999999999999",
            StatusCode::BAD_REQUEST,
        ),
        ("/ui/audit?limit=5", StatusCode::BAD_REQUEST),
        ("/ui/audit?cursor=1&cursor=2", StatusCode::BAD_REQUEST),
        ("/ui/api-keys?revoked=%3Cscript%3E", StatusCode::BAD_REQUEST),
        ("/ui/api-keys?nope=1", StatusCode::BAD_REQUEST),
        ("/ui/api-keys/nosuchkey000/revoke", StatusCode::NOT_FOUND),
        ("/ui/sign-in?next=1&bad=2", StatusCode::BAD_REQUEST),
        ("/ui/assets/nope.css", StatusCode::NOT_FOUND),
        ("/ui/nosuchpage", StatusCode::NOT_FOUND),
    ] {
        let res = h.get(path, Some(&s)).await;
        assert_eq!(res.status(), status, "{path}");
        if status == StatusCode::BAD_REQUEST {
            let html = res.text().await.unwrap();
            assert!(
                html.contains("role=\"alert\""),
                "{path}: an HTML page that says why"
            );
            assert!(!html.contains("<script>"), "{path}");
        }
    }
    // The sign-in page itself refuses unknown parameters when not signed in.
    assert_eq!(
        h.get("/ui/sign-in?bad=2", None).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.get("/ui/sign-in?error=oidc_denied", None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn assets_are_served_with_a_content_hash_and_revalidate() {
    let h = start().await;
    let css = crate::console::assets::css_url();
    let res = h.get(css, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        css.contains(etag.trim_matches('"')),
        "the URL carries the content hash"
    );
    let res = h
        .http
        .get(h.url(css))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let js = h.get(crate::console::assets::js_url(), None).await;
    assert!(
        js.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
}

#[tokio::test]
async fn the_overview_shows_the_status_and_the_last_day_with_text_alternatives() {
    let h = start().await;
    let s = h.sign_in().await;
    let html = h.get("/ui", Some(&s)).await.text().await.unwrap();
    assert!(
        html.contains(">gh<") || html.contains(">gh<br>"),
        "the integration is listed"
    );
    assert_eq!(html.matches("<svg").count(), 4);
    assert_eq!(html.matches("<desc id=").count(), 4);
    assert_eq!(html.matches("<details class=\"data\">").count(), 4);
    let points = h.engine.console_activity(24).await.unwrap();
    assert_eq!(points.len(), 24);
    assert!(
        points
            .windows(2)
            .all(|w| w[1].hour - w[0].hour == chrono::Duration::hours(1))
    );
}
