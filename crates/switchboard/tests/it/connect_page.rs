//! The Connect page in a real browser: headless Chromium (Debian's `/usr/bin/chromium`,
//! driven by `tests/browser/connect_page.mjs` with playwright-core) opens a session's
//! `connect_url`, clicks the OAuth2 integration's button, walks the real authorization
//! server (`oidc-provider`, auto-login) back to the callback, and lands on the app's
//! `return_to` with `?status=connected&connection_id=…`. The page's CSP (a nonced
//! stylesheet, no script) must cause no console violation.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{self, Server};
use crate::oidc::OidcPeer;

const CLIENT_ID: &str = "switchboard";
const CLIENT_SECRET: &str = "peer-client-secret-for-connect-page";
const CHROMIUM: &str = "/usr/bin/chromium";
const DRIVER_DEADLINE: Duration = Duration::from_secs(60);

fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Runs `node tests/browser/connect_page.mjs <input>`; returns its JSON report.
async fn drive(input: &Value) -> Value {
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
        .arg("connect_page.mjs")
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
    let out = tokio::time::timeout(DRIVER_DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| {
            panic!("connect_page.mjs did not finish within {DRIVER_DEADLINE:?}; killed")
        })
        .expect("wait for connect_page.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "connect_page.mjs failed with {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "connect_page.mjs did not print JSON ({e})\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        )
    })
}

#[tokio::test]
async fn connect_page_oauth2_button_lands_on_return_to_in_headless_chromium() {
    let peer = OidcPeer::start(json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "application_type": "native",
        "redirect_uris": ["http://127.0.0.1/api/integrations/acme/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid profile email offline_access api:read api:write",
    }]));
    let app_port = harness::free_port();
    let app_origin = format!("http://127.0.0.1:{app_port}");
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            r#"[[providers]]
id = "acme"
name = "Acme Identity"
issuer = "{issuer}"

[[integrations]]
id = "acme"
provider = "acme"
client_id = "{CLIENT_ID}"
client_secret = "env:ACME_CLIENT_SECRET"
scopes = ["openid", "email", "api:read"]
allowed_return_origins = ["{app_origin}"]
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

    let return_to = format!("{app_origin}/done");
    let r = server
        .http()
        .post(server.url("/api/connect-sessions"))
        .bearer_auth(&key)
        .json(&json!({
            "end_user": {"id": "u1"},
            "integrations": ["acme"],
            "connection_id": "cp1",
            "return_to": return_to,
        }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().expect("a session token").to_owned();
    let connect_url = v["connect_url"].as_str().expect("a connect_url").to_owned();
    assert_eq!(
        connect_url,
        server.url(&format!("/connect?session={token}")),
        "{v}"
    );

    let report = drive(&json!({
        "connect_url": connect_url,
        "integration": "acme",
        "app_port": app_port,
    }))
    .await;
    let ctx = || {
        format!(
            "{}\n--- switchboard stderr\n{}\n--- peer stderr\n{}",
            serde_json::to_string_pretty(&report).unwrap(),
            server.stderr(),
            peer.stderr()
        )
    };

    // The Connect page: its headers, one main, labelled inputs, the nonced style applied.
    let page = &report["connect_page"];
    assert_eq!(page["status"], 200, "{}", ctx());
    assert_eq!(
        page["content_type"],
        "text/html; charset=utf-8",
        "{}",
        ctx()
    );
    let csp = page["csp"].as_str().unwrap_or_default();
    for part in [
        "default-src 'none'",
        "style-src 'nonce-",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{part}: {}", ctx());
    }
    assert_eq!(page["cache_control"], "no-store", "{}", ctx());
    assert_eq!(page["referrer_policy"], "no-referrer", "{}", ctx());
    assert_eq!(page["x_content_type_options"], "nosniff", "{}", ctx());
    assert_eq!(page["mains"], 1, "{}", ctx());
    assert_eq!(page["lang"], "en", "{}", ctx());
    assert_eq!(page["unlabelled_inputs"], json!([]), "{}", ctx());
    assert_eq!(
        page["main_max_width"],
        "640px",
        "the nonced style applies: {}",
        ctx()
    );
    assert_eq!(page["link_text"], "Connect Acme Identity", "{}", ctx());
    assert_eq!(
        page["link_href"],
        format!("/api/integrations/acme/auth?session={token}").as_str(),
        "{}",
        ctx()
    );

    // The click walked the provider and landed on return_to with the result.
    let landed = format!("{return_to}?status=connected&connection_id=cp1");
    assert_eq!(report["timed_out"], false, "{}", ctx());
    assert_eq!(report["final_url"], landed.as_str(), "{}", ctx());
    assert_eq!(
        report["app_hits"],
        json!(["/done?status=connected&connection_id=cp1"]),
        "{}",
        ctx()
    );
    let c = server.get_json("/api/connections/cp1", &key).await;
    assert_eq!(c["status"], "active", "{c}");
    assert_eq!(c["end_user_id"], "u1", "{c}");
    assert_eq!(c["integration"], "acme", "{c}");

    // No CSP violation (nor any other console error) on the Connect page.
    let connect_prefix = server.url("/connect");
    let on_page: Vec<&Value> = report["console"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["url"]
                .as_str()
                .is_some_and(|u| u.starts_with(&connect_prefix))
        })
        .collect();
    assert!(
        !on_page.iter().any(|m| {
            let t = m["text"].as_str().unwrap_or_default();
            t.contains("Content Security Policy") || m["type"] == "error"
        }),
        "{}",
        ctx()
    );
    assert_eq!(report["page_errors"], json!([]), "{}", ctx());

    // The session token never reached the server's log.
    assert!(!server.stderr().contains(&token), "{}", ctx());
    assert!(!server.stdout().contains(&token), "{}", ctx());
}
