//! The connect snippet in a real browser: an app page on another loopback port (its
//! origin in `allowed_return_origins`) loads `/connect/switchboard.js` from Switchboard
//! and calls `Switchboard.connect()`; headless Chromium (`tests/browser/snippet.mjs`)
//! acts in the popup: the Connect page, the OIDC test peer (`oidc-provider`), the
//! callback's result page. Also a blocked popup (the redirect fallback through the
//! provider back to `return_to`, and `fallback: "none"`), two `connect()` calls at once,
//! and screenshots of the Connect page (light and dark, desktop and 360/375 px), written
//! to `$SWITCHBOARD_ARTIFACTS` or `target/screenshots`.
//!
//! The API-key flows (a connection, its reconnect with a refused and then an accepted
//! key, an expired session) run against an in-process server with the real router: an
//! API-key provider needs a verify request to a local stub, which the server binary
//! cannot be configured for (`[[providers]]` are OAuth2/OIDC only, and the built-in
//! API-key providers are https-only), and only an in-process engine takes a manual
//! clock (the binary has no clock setting), which expires the session.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::{CLIENT_ID, CLIENT_SECRET, drive_script, peer, run};

/// How long one Chromium run of snippet.mjs may take before it is killed.
const SNIPPET_DEADLINE: std::time::Duration = std::time::Duration::from_secs(180);
use crate::harness::{self, Server};

/// A small SVG logo (a rounded square with a letter).
const LOGO_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><rect width="40" height="40" rx="8" fill="#0f766e"/><text x="20" y="27" font-family="sans-serif" font-size="20" font-weight="700" text-anchor="middle" fill="#fff">A</text></svg>"##;

/// Where screenshots go: `$SWITCHBOARD_ARTIFACTS/screenshots`, else the workspace's
/// `target/screenshots` (gitignored).
fn artifacts() -> PathBuf {
    match std::env::var_os("SWITCHBOARD_ARTIFACTS") {
        Some(d) => PathBuf::from(d).join("screenshots"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots"),
    }
}

fn config(issuer: &str, app_origin: &str) -> String {
    format!(
        r##"[[providers]]
id = "acme"
name = "Acme ID"
issuer = "{issuer}"

[[integrations]]
id = "acme"
provider = "acme"
client_id = "{CLIENT_ID}"
client_secret = "env:ACME_CLIENT_SECRET"
scopes = ["openid", "email", "api:read"]
required_scopes = ["api:read"]
allowed_return_origins = ["{app_origin}"]

[[integrations]]
id = "github"
provider = "github"
client_id = "Iv1.screenshot"
client_secret = "not-used-in-this-test"
scopes = ["repo", "read:user"]
allowed_return_origins = ["{app_origin}"]

[[integrations]]
id = "stripe"
provider = "stripe"
allowed_return_origins = ["{app_origin}"]

[branding]
app_name = "Acme CRM"
accent_color = "#0f766e"
logo = "file:logo.svg"
"##
    )
}

/// A connect session for `user` reporting to an opener at `origin`; its token.
async fn session(server: &Server, key: &str, body: Value) -> String {
    let r = server
        .http()
        .post(server.url("/api/connect-sessions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["token"].as_str().unwrap().to_owned()
}

fn rejected(r: &Value, code: &str) {
    let o = &r["outcome"]["rejected"];
    assert_eq!(o["code"], code, "{r:#}");
    assert_eq!(o["name"], "SwitchboardError", "{r:#}");
    assert_eq!(o["is_error"], true, "{r:#}");
    assert_eq!(o["is_switchboard_error"], true, "{r:#}");
}

#[tokio::test]
async fn switchboard_js_connects_in_a_popup_and_rejects_with_typed_errors() {
    let peer = peer();
    let app_port = harness::free_port();
    let app_origin = format!("http://127.0.0.1:{app_port}");
    let dir = harness::sandbox();
    std::fs::write(dir.path().join("logo.svg"), LOGO_SVG).unwrap();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        config(&peer.issuer, &app_origin),
    )
    .unwrap();
    let server = Server::start(
        dir.path(),
        &["--dev"],
        &[("ACME_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .await;
    let key = server.printed_admin_key();
    let sb = server.base.clone();
    let popup_session = |id: &str| {
        json!({"end_user": {"id": "u1"}, "integrations": ["acme"], "connection_id": id,
               "opener_origin": app_origin})
    };
    let mut redirect_session = popup_session("c6");
    redirect_session["return_to"] = format!("{app_origin}/done?from=app").into();
    let runs = json!([
        // Connected; on the way, a page of the provider's origin posts a forged
        // "connected" result to the opener, which the snippet ignores.
        {"name": "connected", "action": "oauth", "forge": true,
         "options": {"sessionToken": session(&server, &key, popup_session("c1")).await, "integration": "acme"}},
        {"name": "denied", "action": "deny",
         "options": {"sessionToken": session(&server, &key, popup_session("c2")).await, "integration": "acme"}},
        {"name": "closed", "action": "close",
         "options": {"sessionToken": session(&server, &key, popup_session("c3")).await, "integration": "acme"}},
        {"name": "unknown", "action": "none",
         "options": {"sessionToken": session(&server, &key, popup_session("c5")).await, "integration": "no-such-integration"}},
        {"name": "bad_options", "action": "none", "options": {"integration": "acme"}},
        // The browser blocks the popup: the page goes to the Connect page, through the
        // provider, and back to return_to; or, with fallback "none", a rejection.
        {"name": "blocked_redirect", "action": "redirect", "block_popup": true,
         "options": {"sessionToken": session(&server, &key, redirect_session).await, "integration": "acme"}},
        {"name": "blocked_none", "action": "none", "block_popup": true,
         "options": {"sessionToken": session(&server, &key, popup_session("c7")).await,
                     "integration": "acme", "fallback": "none"}},
        // A second connect() while the first's popup is open; then again once settled.
        {"name": "concurrent", "action": "concurrent",
         "options": {"sessionToken": session(&server, &key, popup_session("c8")).await, "integration": "acme"},
         "options2": {"sessionToken": session(&server, &key, popup_session("c9")).await, "integration": "acme"}},
    ]);
    let report = drive_script(
        "snippet.mjs",
        &json!({"app_port": app_port, "switchboard": sb, "runs": runs}),
        SNIPPET_DEADLINE,
    )
    .await;
    let ctx = |name: &str| {
        format!(
            "{:#}\n--- switchboard stderr\n{}\n--- peer stderr\n{}",
            run(&report, name),
            server.stderr(),
            peer.stderr()
        )
    };

    // Resolved with the real connection; the forged message arrived and was ignored.
    let r = run(&report, "connected");
    assert_eq!(
        r["outcome"],
        json!({"resolved": {"connectionId": "c1", "integration": "acme"}}),
        "{}",
        ctx("connected")
    );
    assert_eq!(r["forged"], 1, "{}", ctx("connected"));
    let messages = r["messages"].as_array().unwrap();
    assert!(
        messages
            .iter()
            .any(|m| m["data"]["connection_id"] == "forged" && m["origin"] == peer.issuer.as_str()),
        "{}",
        ctx("connected")
    );
    assert!(
        messages
            .iter()
            .any(|m| m["data"]["connection_id"] == "c1" && m["origin"] == sb.as_str()),
        "{}",
        ctx("connected")
    );
    assert_eq!(r["popup_closed"], true, "{}", ctx("connected"));
    assert!(
        !crate::browser::csp_refused(r),
        "no CSP violation: {}",
        ctx("connected")
    );
    let c = server.get_json("/api/connections/c1", &key).await;
    assert_eq!(c["status"], "active", "{c}");

    // Denied at the provider, closed by the user, an integration the session does not
    // allow, no token, a blocked popup without fallback: each its code.
    rejected(run(&report, "denied"), "access_denied");
    rejected(run(&report, "closed"), "window_closed");
    rejected(run(&report, "unknown"), "unknown_integration");
    rejected(run(&report, "bad_options"), "invalid_options");
    rejected(run(&report, "blocked_none"), "popup_blocked");
    for (id, _) in [
        ("c2", "denied"),
        ("c3", "closed"),
        ("c5", "unknown"),
        ("c7", "blocked_none"),
    ] {
        let status = server
            .get(&format!("/api/connections/{id}"), Some(&key))
            .await
            .status();
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }

    // Blocked popup, default fallback: the whole page went through the Connect page and
    // the provider, and landed on return_to with the result (its own query kept).
    let r = run(&report, "blocked_redirect");
    assert_eq!(
        r["final_url"],
        format!("{app_origin}/done?from=app&status=connected&connection_id=c6").as_str(),
        "{}",
        ctx("blocked_redirect")
    );
    assert_eq!(r["popups"], 0, "{}", ctx("blocked_redirect"));
    let c = server.get_json("/api/connections/c6", &key).await;
    assert_eq!(c["status"], "active", "{c}");

    // Two at once: the second is refused while the first's popup is open (no second
    // window); the first connects; then the second, called again, in a new window.
    let r = run(&report, "concurrent");
    assert_eq!(
        r["outcome2"]["rejected"]["code"],
        "in_progress",
        "{}",
        ctx("concurrent")
    );
    assert_eq!(r["windows_after_second"], 2, "{}", ctx("concurrent"));
    assert_eq!(
        r["outcome"],
        json!({"resolved": {"connectionId": "c8", "integration": "acme"}}),
        "{}",
        ctx("concurrent")
    );
    assert_eq!(r["third_is_new_window"], true, "{}", ctx("concurrent"));
    assert_eq!(
        r["outcome3"],
        json!({"resolved": {"connectionId": "c9", "integration": "acme"}}),
        "{}",
        ctx("concurrent")
    );
    for id in ["c8", "c9"] {
        let c = server
            .get_json(&format!("/api/connections/{id}"), &key)
            .await;
        assert_eq!(c["status"], "active", "{c}");
    }

    // The Connect page now shows u1's connection with a reconnect link keeping its id.
    let token = session(
        &server,
        &key,
        json!({"end_user": {"id": "u1"}, "integrations": ["acme", "github", "stripe"],
               "opener_origin": app_origin}),
    )
    .await;
    let page_url = server.url(&format!("/connect?session={token}"));
    let body = server
        .http()
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.contains(&format!(
            "<a href=\"/api/integrations/acme/auth?session={token}&#38;connection_id=c1\">Reconnect</a>"
        )),
        "{body}"
    );
    assert!(body.contains("Acme CRM asks you to connect"), "{body}");
    assert!(body.contains("<li>see your profile</li>"), "{body}");

    // Screenshots: light and dark, desktop and phone widths.
    let shots_dir = artifacts();
    let mut shots = Vec::new();
    for (w, h) in [(1280, 900), (375, 812), (360, 740)] {
        for scheme in ["light", "dark"] {
            shots.push(
                json!({"name": format!("connect-{w}-{scheme}"), "url": page_url,
                              "width": w, "height": h, "scheme": scheme}),
            );
        }
    }
    let report = drive_script(
        "snippet.mjs",
        &json!({"app_port": harness::free_port(), "switchboard": sb,
                "screenshots": shots, "screenshot_dir": shots_dir}),
        SNIPPET_DEADLINE,
    )
    .await;
    for s in report["screenshots"].as_array().unwrap() {
        assert_eq!(s["status"], 200, "{s}");
        assert_eq!(s["csp_violations"], json!([]), "{s}");
        // Nothing wider than the screen (no sideways scrolling at 360 px).
        assert!(
            s["scroll_width"].as_u64() <= s["client_width"].as_u64(),
            "{s}"
        );
        assert_eq!(s["logo_loaded"], true, "{s}");
        assert_eq!(s["button_background"], "rgb(15, 118, 110)", "{s}");
        assert_eq!(s["button_text"], "rgb(255, 255, 255)", "{s}");
        let dark = s["name"].as_str().unwrap().ends_with("dark");
        assert_eq!(
            s["background"],
            if dark {
                "rgb(18, 18, 20)"
            } else {
                "rgb(244, 244, 247)"
            },
            "{s}"
        );
        let file = PathBuf::from(s["file"].as_str().unwrap());
        let png = std::fs::read(&file).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{}", file.display());
    }
    eprintln!("screenshots in {}", shots_dir.display());
}

/// An API-key provider whose verify request reaches a local stub (the built-in ones
/// are on the internet), served in-process with the real router and a manual clock:
/// connected as the snippet's `connectionId` asks; reconnected with a refused key (the
/// form again with the reason, nothing changed, the user closes the popup) and then an
/// accepted one (the same connection updated, never a second); and an expired session.
#[tokio::test]
async fn an_api_key_connection_through_the_popup_reconnects_under_its_id() {
    async fn me(headers: axum::http::HeaderMap) -> axum::http::StatusCode {
        let ok = headers
            .get("authorization")
            .is_some_and(|v| v == "Bearer key-ok" || v == "Bearer key-new");
        if ok {
            axum::http::StatusCode::OK
        } else {
            axum::http::StatusCode::UNAUTHORIZED
        }
    }
    let stub = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stub_url = format!("http://{}", stub.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            stub,
            axum::Router::new().route("/me", axum::routing::get(me)),
        )
        .await
    });
    let app_port = harness::free_port();
    let app_origin = format!("http://127.0.0.1:{app_port}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let toml = format!(
        "public_url = \"{base}\"\n\n[[integrations]]\nid = \"keyed\"\nprovider = \"keyed\"\nallowed_return_origins = [\"{app_origin}\"]\n\n[branding]\napp_name = \"Acme CRM\"\n"
    );
    let cfg =
        config::Config::from_toml(&toml, "t.toml", &BTreeMap::new(), &Default::default()).unwrap();
    let store = store_sqlite::SqliteStore::connect("sqlite::memory:")
        .await
        .unwrap();
    store::Store::migrate(&store).await.unwrap();
    let keyring = vault::Keyring::new(vault::MasterKey::generate().unwrap(), vec![]);
    let mut catalog = catalog::Catalog::builtin().clone();
    catalog
        .insert(
            serde_json::from_value(json!({
                "id": "keyed", "name": "Keyed", "docs_url": "https://docs.example.com/keys",
                "auth_mode": "api_key", "api_base_url": stub_url,
                "api_key": {"header": "Authorization", "prefix": "Bearer ", "label": "Secret key"},
                "verify": {"path": "/me"},
            }))
            .unwrap(),
        )
        .unwrap();
    let clock = engine::ManualClock::starting_at(chrono::Utc::now());
    let engine = engine::Engine::new(Arc::new(store), keyring, cfg)
        .with_catalog(catalog)
        .with_dev(true)
        .with_clock(clock.clone());
    let app = engine
        .create_api_key("app", store::Scope::App, &engine::Actor::System)
        .await
        .unwrap();
    let app_key = vault::ExposeSecret::expose_secret(&app.key).to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        listener,
        server::router(server::AppState::new(engine)),
        async move {
            let _ = stopped.await;
        },
        || std::time::Duration::from_secs(5),
    ));
    let http = harness::http();
    // Sessions that fix no connection id: the snippet's connectionId decides.
    let new_session = || {
        let req = http
            .post(format!("{base}/api/connect-sessions"))
            .bearer_auth(&app_key)
            .json(&json!({"end_user": {"id": "u1"}, "integrations": ["keyed"],
                          "opener_origin": app_origin}))
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
    let get = |path: String| {
        let req = http
            .get(format!("{base}{path}"))
            .bearer_auth(&app_key)
            .send();
        async move { req.await.unwrap().json::<Value>().await.unwrap() }
    };
    // One session lives past its 30 minutes on the engine's clock.
    let expired = new_session().await;
    clock.advance(std::time::Duration::from_secs(31 * 60));
    let options = |token: String| json!({"sessionToken": token, "integration": "keyed", "connectionId": "k1"});

    let report = drive_script(
        "snippet.mjs",
        &json!({"app_port": app_port, "switchboard": base, "runs": [
            {"name": "api_key", "action": "api_key", "fields": {"api_key": "key-ok"},
             "options": options(new_session().await)},
            {"name": "expired", "action": "none",
             "options": {"sessionToken": expired, "integration": "keyed"}},
        ]}),
        SNIPPET_DEADLINE,
    )
    .await;
    let r = run(&report, "api_key");
    assert_eq!(
        r["outcome"],
        json!({"resolved": {"connectionId": "k1", "integration": "keyed"}}),
        "{r:#}"
    );
    assert_eq!(r["popup_closed"], true, "{r:#}");
    rejected(run(&report, "expired"), "session_expired");
    let before = get("/api/connections/k1".into()).await;
    assert_eq!(before["status"], "active", "{before}");

    // Reconnect with a key the provider refuses: the reconnect form again, with the
    // reason and still for k1; the user closes the popup; nothing changed.
    clock.advance(std::time::Duration::from_secs(60));
    let report = drive_script(
        "snippet.mjs",
        &json!({"app_port": app_port, "switchboard": base, "runs": [
            {"name": "refused", "action": "api_key", "fields": {"api_key": "key-bad"},
             "close_after": true, "options": options(new_session().await)},
        ]}),
        SNIPPET_DEADLINE,
    )
    .await;
    let r = run(&report, "refused");
    rejected(r, "window_closed");
    let text = r["popup_text"].as_str().unwrap_or_default();
    assert!(text.contains("Keyed refused these credentials"), "{r:#}");
    assert!(text.contains("Reconnect k1"), "{r:#}");
    assert_eq!(r["popup_form"]["connection_id"], "k1", "{r:#}");
    assert_eq!(
        r["popup_form"]["api_key"], "",
        "the key is not echoed: {r:#}"
    );
    assert_eq!(get("/api/connections/k1".into()).await, before);

    // Reconnect with a key it accepts: the same connection, updated.
    let report = drive_script(
        "snippet.mjs",
        &json!({"app_port": app_port, "switchboard": base, "runs": [
            {"name": "reconnect", "action": "api_key", "fields": {"api_key": "key-new"},
             "options": options(new_session().await)},
        ]}),
        SNIPPET_DEADLINE,
    )
    .await;
    let r = run(&report, "reconnect");
    assert_eq!(
        r["outcome"],
        json!({"resolved": {"connectionId": "k1", "integration": "keyed"}}),
        "{r:#}"
    );
    let after = get("/api/connections/k1".into()).await;
    assert_eq!(after["status"], "active", "{after}");
    assert_eq!(after["created_at"], before["created_at"], "{after}");
    assert_ne!(after["updated_at"], before["updated_at"], "{after}");
    let all = get("/api/connections".into()).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1, "{all}");
    let _ = stop.send(());
}
