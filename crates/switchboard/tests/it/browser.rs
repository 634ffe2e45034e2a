//! The popup connect flow in a real browser: headless Chromium (Debian's
//! `/usr/bin/chromium`, driven by `tests/browser/popup.mjs` with playwright-core) opens
//! an app page, which `window.open`s Switchboard's auth URL; the popup walks the real
//! authorization server (`oidc-provider`) back to the callback, whose result page posts
//! the outcome to the opener with `/connect/assets/result.js` (no inline script: the CSP
//! is `script-src 'self'`) and closes itself.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{self, Server};
use crate::oidc::OidcPeer;

pub(crate) const CLIENT_ID: &str = "switchboard";
pub(crate) const CLIENT_SECRET: &str = "peer-client-secret-for-tests";
/// The browser installed by scripts/setup (Debian package `chromium`).
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long the driver may run in all (it bounds each run by its `timeout_ms` itself:
/// 15 s by default, 90 s for the docs' page).
const DRIVER_DEADLINE: Duration = Duration::from_secs(180);

/// Where the driver lives in the workspace.
fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// A peer whose one client accepts Switchboard's callback on any loopback port.
pub(crate) fn peer() -> OidcPeer {
    OidcPeer::start(json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "application_type": "native",
        "redirect_uris": ["http://127.0.0.1/api/integrations/acme/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid profile email offline_access api:read api:write",
    }]))
}

fn config(peer: &OidcPeer, app_origin: &str) -> String {
    format!(
        r#"[[providers]]
id = "acme"
issuer = "{issuer}"

[[integrations]]
id = "acme"
provider = "acme"
client_id = "{CLIENT_ID}"
client_secret = "env:ACME_CLIENT_SECRET"
scopes = ["openid", "email", "api:read"]
required_scopes = ["api:read"]
allowed_return_origins = ["{app_origin}"]
"#,
        issuer = peer.issuer
    )
}

/// Creates a connect session for `u1` that reports to an opener at `opener_origin`;
/// returns the URL the app opens in its popup.
async fn popup_url(server: &Server, key: &str, connection_id: &str, opener_origin: &str) -> String {
    let r = server
        .http()
        .post(server.url("/api/connect-sessions"))
        .bearer_auth(key)
        .json(&json!({
            "end_user": {"id": "u1"},
            "integrations": ["acme"],
            "connection_id": connection_id,
            "opener_origin": opener_origin,
        }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().expect("a session token");
    server.url(&format!("/api/integrations/acme/auth?session={token}"))
}

/// Runs `node tests/browser/popup.mjs <input>`; returns its JSON report.
pub(crate) async fn drive(input: &Value) -> Value {
    drive_script("popup.mjs", input, DRIVER_DEADLINE).await
}

/// Runs `node tests/browser/<script> <input>`, killed after `deadline`; returns its JSON
/// report.
pub(crate) async fn drive_script(script: &str, input: &Value, deadline: Duration) -> Value {
    let dir = driver_dir();
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .is_file(),
        "the browser driver is not installed ({}/node_modules is missing): run scripts/setup",
        dir.display()
    );
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run scripts/setup (it installs the Debian package `chromium`)"
    );
    let mut cmd = tokio::process::Command::new("node");
    cmd.current_dir(&dir)
        .arg(script)
        .arg(input.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n == "NODE_OPTIONS" || n.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(&name);
        }
    }
    let child = cmd.env("NO_COLOR", "1").spawn().unwrap_or_else(|e| {
        panic!("cannot start `node` ({e}): install Node.js 20+ and run scripts/setup")
    });
    let out = tokio::time::timeout(deadline, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {deadline:?}; killed"))
        .expect("wait for the driver");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed with {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("{script} did not print JSON ({e})\n--- stdout\n{stdout}\n--- stderr\n{stderr}")
    })
}

/// The run called `name` in the driver's report.
pub(crate) fn run<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["runs"]
        .as_array()
        .and_then(|runs| runs.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no run {name} in {report}"))
}

/// Whether the run's console shows Chromium refusing an inline script under CSP.
pub(crate) fn csp_refused(run: &Value) -> bool {
    run["console"].as_array().is_some_and(|c| {
        c.iter().any(|m| {
            m["text"]
                .as_str()
                .is_some_and(|t| t.contains("Content Security Policy") && t.contains("script"))
        })
    })
}

#[tokio::test]
async fn popup_posts_the_result_to_its_opener_in_headless_chromium() {
    let peer = peer();
    let app_port = harness::free_port();
    let app_origin = format!("http://127.0.0.1:{app_port}");
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        config(&peer, &app_origin),
    )
    .unwrap();
    let server = Server::start(
        dir.path(),
        &["--dev"],
        &[("ACME_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .await;
    let key = server.printed_admin_key();
    let switchboard_origin = server.base.clone();

    // Every session reports to the app's origin; the `foreign` one is opened by a page
    // of another origin (another port, not in allowed_return_origins).
    let input = json!({
        "app_port": app_port,
        "runs": [
            {"name": "connected", "opener": "app",
             "auth_url": popup_url(&server, &key, "c1", &app_origin).await},
            {"name": "denied", "opener": "app", "deny": true,
             "auth_url": popup_url(&server, &key, "c2", &app_origin).await},
            {"name": "foreign", "opener": "foreign",
             "auth_url": popup_url(&server, &key, "c3", &app_origin).await},
            {"name": "inline_injected", "opener": "app", "inject_inline": true,
             "auth_url": popup_url(&server, &key, "c4", &app_origin).await},
        ],
    });
    let driven = Instant::now();
    let report = drive(&input).await;
    eprintln!("popup.mjs took {:?}: {report}", driven.elapsed());
    let ctx = |name: &str| {
        format!(
            "{}\n--- switchboard stderr\n{}\n--- peer stderr\n{}",
            serde_json::to_string_pretty(run(&report, name)).unwrap(),
            server.stderr(),
            peer.stderr()
        )
    };
    assert_eq!(report["app_origin"], app_origin.as_str(), "{report}");
    assert_ne!(report["foreign_origin"], app_origin.as_str(), "{report}");

    // 1. Connected: exactly one message, from Switchboard's origin; the popup closed.
    let r = run(&report, "connected");
    assert_eq!(
        r["messages"],
        json!([{
            "origin": switchboard_origin,
            "data": {"status": "connected", "connection_id": "c1", "integration": "acme", "source": "switchboard"},
        }]),
        "{}",
        ctx("connected")
    );
    assert_eq!(r["popup_closed"], true, "{}", ctx("connected"));
    let c = server.get_json("/api/connections/c1", &key).await;
    assert_eq!(c["status"], "active", "{c}");
    assert_eq!(c["end_user_id"], "u1", "{c}");

    // 4. CSP: the result page runs scripts of its own origin only (result.js); the
    // message above proves it ran.
    let result = &r["result"];
    assert_eq!(result["status"], 200, "{}", ctx("connected"));
    let csp = result["csp"].as_str().unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'")
            && !csp.contains("unsafe-inline")
            && !csp.contains("script-src 'nonce-"),
        "{}",
        ctx("connected")
    );
    assert!(!csp_refused(r), "{}", ctx("connected"));

    // 2. Denied at the provider: an error message, nothing stored.
    let r = run(&report, "denied");
    assert!(
        r["navigations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u.as_str().unwrap_or_default().contains("login_hint=deny")),
        "{}",
        ctx("denied")
    );
    assert_eq!(
        r["messages"],
        json!([{
            "origin": switchboard_origin,
            "data": {"status": "error", "connection_id": "c2", "error": "access_denied", "integration": "acme", "source": "switchboard"},
        }]),
        "{}",
        ctx("denied")
    );
    assert_eq!(r["popup_closed"], true, "{}", ctx("denied"));
    let status = server.get("/api/connections/c2", Some(&key)).await.status();
    assert_eq!(status, StatusCode::NOT_FOUND);

    // 3. A foreign opener: the popup ran its script (it closed itself) but the browser
    // dropped the message, its target origin being the app's.
    let r = run(&report, "foreign");
    assert_eq!(r["popup_closed"], true, "{}", ctx("foreign"));
    assert_eq!(r["messages"], json!([]), "{}", ctx("foreign"));

    // 4b. Control: an inline script added to the same page is refused by the CSP (its
    // message never arrives, Chromium reports the violation) while result.js still
    // posts the real result and closes the popup.
    let r = run(&report, "inline_injected");
    assert_eq!(r["result"]["status"], 200, "{}", ctx("inline_injected"));
    assert!(
        r["result"]["url"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&server.url("/api/integrations/acme/callback?")),
        "{}",
        ctx("inline_injected")
    );
    assert_eq!(r["injected"], 1, "{}", ctx("inline_injected"));
    assert_eq!(
        r["messages"],
        json!([{
            "origin": switchboard_origin,
            "data": {"status": "connected", "connection_id": "c4", "integration": "acme", "source": "switchboard"},
        }]),
        "{}",
        ctx("inline_injected")
    );
    assert_eq!(r["popup_closed"], true, "{}", ctx("inline_injected"));
    assert!(csp_refused(r), "{}", ctx("inline_injected"));
}
