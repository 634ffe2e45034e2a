//! The console's buttons in a real browser (headless Chromium driven by
//! `tests/browser/console_actions.mjs`), against a real deployment (`docs_env`: `serve
//! --dev`, the `oidc-provider` peer with connection `acct-42`, the consumer peer as
//! destination `app`): a dead event replayed by its button reaches the consumer; a
//! connection's Check button says the provider accepts its credentials; the
//! connection's own page is checked as `console_browser.rs` checks every page (axe-core
//! light and dark, CSP, weight, screenshots at 1280 and 360 px, and neither its tokens
//! nor the client secret in the HTML); and the connection disconnected by that page's
//! button is inactive at the provider's introspection.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::docs_env::{CONNECTION_ID, DocsEnv};
use crate::harness;
use crate::pipeline::{for_event, is_delivery, until};

/// How long the driver may run in all.
const DRIVER_DEADLINE: Duration = Duration::from_secs(120);

fn artifacts() -> PathBuf {
    std::env::var_os("SWITCHBOARD_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots"))
        .join("console-connection")
}

fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Runs the driver with `steps` after signing in; returns its report (`ok` true).
async fn drive(env: &DocsEnv, steps: Value) -> Value {
    let dir = driver_dir();
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .is_file(),
        "the browser driver is not installed ({}/node_modules is missing): run scripts/setup",
        dir.display()
    );
    let input = json!({"base": env.server.base, "api_key": env.key, "steps": steps});
    let mut cmd = tokio::process::Command::new("node");
    cmd.current_dir(&dir)
        .arg("console_actions.mjs")
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
        .unwrap_or_else(|_| panic!("console_actions.mjs did not finish in {DRIVER_DEADLINE:?}"))
        .expect("wait for console_actions.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report\n--- stdout\n{stdout}\n--- stderr\n{stderr}"));
    assert_eq!(
        report["ok"],
        true,
        "{report:#}\n--- stderr\n{stderr}\n--- server\n{}",
        env.server.stderr()
    );
    report
}

#[tokio::test]
async fn console_pages_browser_replay_a_dead_event_and_disconnect_a_connection() {
    let env = DocsEnv::start().await;

    // A delivery that fails until dead ([0, 1, 1]: three attempts).
    env.consumer
        .set_mode(json!({"mode": "status", "status": 500}))
        .await;
    let envs = env.envs();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    harness::run(&env.path(), &["webhook", "test", "github-main"], &envs).success();
    let dead = until(Duration::from_secs(60), || async {
        let v = env
            .server
            .get_json("/api/events?status=dead", &env.key)
            .await;
        v["data"][0]["id"].as_str().map(str::to_owned)
    })
    .await
    .expect("the event's delivery died");
    assert!(
        for_event(&env.consumer.received().await, &dead)
            .iter()
            .all(|r| !is_delivery(r)),
        "not delivered yet"
    );
    env.consumer.set_mode(json!({"mode": "up"})).await;

    // Its Replay button on the destination's dead letters, then the progress page.
    let report = drive(
        &env,
        json!([
            {"goto": "/ui/destinations"},
            {"click": "a[href=\"/ui/destinations/app/dead\"]"},
            {"click": format!("form[action=\"/ui/events/{dead}/replay\"] button")},
            {"reload_until": "finished", "timeout_ms": 60000},
        ]),
    )
    .await;
    assert!(
        report["url"]
            .as_str()
            .unwrap()
            .contains("/ui/events/replay/progress?"),
        "{report}"
    );
    assert!(
        report["text"].as_str().unwrap().contains("Delivered: 1"),
        "{report}"
    );
    let got = env.consumer.received().await;
    assert!(
        for_event(&got, &dead).iter().any(|r| is_delivery(r)),
        "the consumer got the replayed event"
    );
    let audit = env.server.audit_rows(&env.key).await;
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "events.replay" && r["target"] == dead.as_str()),
        "{audit:?}"
    );

    // Check acct-42's credentials by its button: the provider accepts them.
    let report = drive(
        &env,
        json!([
            {"goto": "/ui/connections?end_user=u42"},
            {"click": format!("form[action=\"/ui/connections/{CONNECTION_ID}/check\"] button")},
        ]),
    )
    .await;
    let text = report["text"].as_str().unwrap();
    assert!(
        text.contains("The provider accepted the connection's credentials"),
        "{report}"
    );
    let audit = env.server.audit_rows(&env.key).await;
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "connection.check" && r["target"] == CONNECTION_ID),
        "{audit:?}"
    );

    // Disconnect acct-42 by the button on its page (a checkbox; the form's JavaScript
    // confirm is accepted).
    let token = env
        .server
        .get_json(&format!("/api/connections/{CONNECTION_ID}/token"), &env.key)
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let info = env
        .peer
        .introspect(
            crate::connect::CLIENT_ID,
            crate::connect::CLIENT_SECRET,
            &token,
        )
        .await;
    assert_eq!(info["active"], true, "{info}");
    // The connection's own page, as the crawl checks every page.
    let crawl = crate::browser::drive_script(
        "console.mjs",
        &json!({
            "base": env.server.base,
            "key": env.key,
            "wrong_key": format!("sb_{}_{}", "a".repeat(12), "B".repeat(40)),
            "pages": [format!("/ui/connections/{CONNECTION_ID}")],
            "follow": false,
            "secrets": [env.key, token, crate::connect::CLIENT_SECRET],
            "artifacts": artifacts(),
        }),
        DRIVER_DEADLINE,
    )
    .await;
    let visited = crawl["pages"].as_array().expect("a crawl report");
    assert_eq!(visited.len(), 1, "{crawl:#}");
    let v = &visited[0];
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(
        v["secrets_found"], 0,
        "the connection's page shows a secret"
    );
    assert_eq!(v["csp_violations"], json!([]), "{v}");
    assert_eq!(v["axe_serious"], json!([]), "axe-core: {v:#}");
    assert!(v["bytes"].as_u64().unwrap() < 100_000, "{v}");
    // Disconnect from that page: the list links to it; the box, then the button.
    let report = drive(
        &env,
        json!([
            {"goto": "/ui/connections?end_user=u42"},
            {"click": format!("a[href=\"/ui/connections/{CONNECTION_ID}\"]")},
            {"check": "input[name=confirm]"},
            {"click": format!("form[action=\"/ui/connections/{CONNECTION_ID}/disconnect\"] button")},
        ]),
    )
    .await;
    let text = report["text"].as_str().unwrap();
    assert!(
        text.contains("disconnected and the provider confirmed"),
        "{report}"
    );
    assert_eq!(
        report["dialogs"],
        json!([format!("Disconnect {CONNECTION_ID}?")])
    );
    let info = env
        .peer
        .introspect(
            crate::connect::CLIENT_ID,
            crate::connect::CLIENT_SECRET,
            &token,
        )
        .await;
    assert_eq!(info["active"], false, "revoked at the provider: {info}");
    let c = env
        .server
        .get_json(&format!("/api/connections/{CONNECTION_ID}"), &env.key)
        .await;
    assert_eq!(c["status"], "revoked");
    let audit = env.server.audit_rows(&env.key).await;
    assert!(
        audit
            .iter()
            .any(|r| r["action"] == "connection.revoke" && r["target"] == CONNECTION_ID),
        "{audit:?}"
    );
}
