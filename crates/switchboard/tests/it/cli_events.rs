//! The event verbs of the CLI (`events list|show`, `webhook replay`, `destinations
//! list|enable|disable`) against a running server that delivers to a small in-test
//! destination whose answer the test switches (500, then 200).

use std::path::Path;
use std::sync::atomic::Ordering;

use hmac::{KeyInit, Mac};
use serde_json::Value;

use crate::harness::{self, Destination, Output, Server};

const SECRET: &str = "cli-events-webhook-secret";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn write_config(dir: &Path, url: &str) {
    std::fs::write(
        dir.join("switchboard.toml"),
        format!(
            r#"
[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["{SECRET}"]

[[destinations]]
id = "app"
url = "{url}"
secret = "{WHSEC}"
integrations = ["gh"]
event_types = ["*"]
max_attempts = 1
retry_schedule_secs = [0]
"#
        ),
    )
    .unwrap();
}

fn signature(body: &[u8]) -> String {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

struct Ctx<'a> {
    server: &'a Server,
    key: String,
    dir: &'a Path,
}

impl Ctx<'_> {
    fn cli(&self, args: &[&str]) -> Output {
        harness::run(
            self.dir,
            args,
            &[
                ("SWITCHBOARD_URL", self.server.base.as_str()),
                ("SWITCHBOARD_API_KEY", self.key.as_str()),
            ],
        )
    }

    /// Runs the CLI off the async threads (the in-test destination must keep answering).
    async fn cli_async(&self, args: &[&str]) -> Output {
        let dir = self.dir.to_owned();
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let envs = [
            ("SWITCHBOARD_URL".to_owned(), self.server.base.clone()),
            ("SWITCHBOARD_API_KEY".to_owned(), self.key.clone()),
        ];
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let envs: Vec<(&str, &str)> =
                envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            harness::run(&dir, &args, &envs)
        })
        .await
        .unwrap()
    }

    async fn receive(&self, delivery: &str) -> String {
        let body = format!(r#"{{"delivery":"{delivery}"}}"#);
        let res = self
            .server
            .http()
            .post(self.server.url("/webhooks/gh/event"))
            .header("X-GitHub-Delivery", delivery)
            .header("X-GitHub-Event", "push")
            .header("X-Hub-Signature-256", signature(body.as_bytes()))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        v["id"].as_str().unwrap().to_owned()
    }

    async fn events(&self, query: &str) -> Vec<Value> {
        let v = self
            .server
            .get_json(&format!("/api/events?{query}"), &self.key)
            .await;
        v["data"].as_array().unwrap().clone()
    }

    /// Waits until `n` events have a delivery in `status`.
    async fn wait_for(&self, status: &str, n: usize) {
        harness::eventually(&format!("{n} events with a {status} delivery"), || async {
            (self.events(&format!("status={status}")).await.len() == n).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_list_show_and_replay_through_the_cli() {
    let (dest, url) = Destination::start(500).await;
    let dir = harness::sandbox();
    write_config(dir.path(), &url);
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let cx = Ctx {
        key: server.printed_admin_key(),
        server: &server,
        dir: dir.path(),
    };
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(cx.receive(&format!("d-{n}")).await);
    }
    // The destination fails once: every delivery is dead (max_attempts = 1).
    cx.wait_for("dead", 3).await;
    assert_eq!(dest.hits.load(Ordering::SeqCst), 3);

    // events list: a table for people, JSON for scripts, filters and pages.
    let out = cx.cli(&["events", "list"]);
    out.success();
    for id in &ids {
        assert!(out.stdout.contains(id.as_str()), "{}", out.stdout);
    }
    assert!(out.stdout.contains("ID") && out.stdout.contains("github.push"));
    assert!(out.stdout.contains("0/0/0/1"), "{}", out.stdout);
    let v = cx.cli(&["events", "list", "--json"]).success().json();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["id"], ids[2].as_str());
    assert_eq!(data[0]["mapping"]["status"], "mapped");
    assert_eq!(data[0]["deliveries"]["dead"], 1);
    let out = cx.cli(&[
        "events",
        "list",
        "--status",
        "dead",
        "--integration",
        "gh",
        "--limit",
        "2",
    ]);
    out.success();
    assert!(out.stdout.contains("more: --cursor"), "{}", out.stdout);
    let v = cx
        .cli(&["events", "list", "--status", "delivered", "--json"])
        .success()
        .json();
    assert_eq!(v["data"], serde_json::json!([]));
    cx.cli(&["events", "list", "--status", "lost"])
        .exit_code(2)
        .stderr_has(&["mapping_failed"]);
    cx.cli(&["events", "list", "--limit", "0"]).exit_code(2);

    // events show: metadata, mapping, deliveries.
    let out = cx.cli(&["events", "show", &ids[0]]);
    out.success();
    assert!(
        out.stdout.contains("github.push")
            && out.stdout.contains("dead")
            && out.stdout.contains("HTTP 500")
            && out.stdout.contains("app"),
        "{}",
        out.stdout
    );
    let v = cx
        .cli(&["events", "show", &ids[0], "--json"])
        .success()
        .json();
    assert_eq!(v["id"], ids[0].as_str());
    assert_eq!(v["mapping"]["data"]["delivery"], "d-0");
    assert_eq!(v["deliveries"][0]["status"], "dead");
    assert_eq!(v["deliveries"][0]["last_status"], 500);
    cx.cli(&["events", "show", "evt_nope"])
        .exit_code(2)
        .stderr_has(&["invalid_request"]);
    let unknown = format!("evt_{}", "0".repeat(32));
    cx.cli(&["events", "show", &unknown])
        .exit_code(2)
        .stderr_has(&["not_found", "switchboard events list"]);

    // Refusals: nothing changes.
    cx.cli(&["webhook", "replay"])
        .exit_code(2)
        .stderr_has(&["--all"]);
    cx.cli(&["webhook", "replay", "--status", "dead"])
        .exit_code(2)
        .stderr_has(&["3 event(s)", "pass --yes"]);
    cx.cli(&["webhook", "replay", "--integration", "nope", "--yes"])
        .exit_code(2)
        .stderr_has(&["integration", "invalid_request"]);
    cx.cli(&["webhook", "replay", "--destination", "nope", "--yes"])
        .exit_code(2)
        .stderr_has(&["destination"]);
    cx.cli(&["webhook", "replay", "--since", "yesterday", "--yes"])
        .exit_code(2)
        .stderr_has(&["RFC 3339"]);
    cx.cli(&["webhook", "replay", &ids[0], "--integration", "gh"])
        .exit_code(2);
    cx.cli(&["webhook", "replay", "evt_bad", "--yes"])
        .exit_code(2)
        .stderr_has(&["invalid_request"]);
    cx.cli(&["webhook", "replay", &unknown])
        .exit_code(2)
        .stderr_has(&["not_found"]);
    let out = cx.cli(&["webhook", "replay", "--status", "dead", "--dry-run"]);
    out.success();
    assert!(
        out.stdout.contains("would replay 3 event(s), 3 deliveries"),
        "{}",
        out.stdout
    );
    let v = cx
        .cli(&["webhook", "replay", &ids[0], "--dry-run", "--json"])
        .success()
        .json();
    assert_eq!(
        v,
        serde_json::json!({"events": 1, "deliveries": 1, "skipped_purged": 0, "dry_run": true})
    );
    assert_eq!(cx.events("status=dead").await.len(), 3, "nothing replayed");
    assert_eq!(dest.hits.load(Ordering::SeqCst), 3);
    assert!(
        !cx.server
            .audit_rows(&cx.key)
            .await
            .iter()
            .any(|r| r["action"] == "events.replay")
    );

    // The destination works again: replay one event and wait for it.
    dest.status.store(200, Ordering::SeqCst);
    let v = cx
        .cli_async(&["webhook", "replay", &ids[0], "--wait", "--json"])
        .await
        .success()
        .json();
    assert_eq!(
        (
            v["delivered"].as_u64(),
            v["dead"].as_u64(),
            v["timed_out"].as_bool()
        ),
        (Some(1), Some(0), Some(false)),
        "{v}"
    );
    // The rest in bulk, confirmed with --yes, followed with a progress bar.
    let out = cx
        .cli_async(&["webhook", "replay", "--status", "dead", "--yes", "--wait"])
        .await;
    out.success();
    assert!(
        out.stdout.contains("replayed 2 event(s), 2 deliveries")
            && out.stdout.contains("settled: 2 delivered, 0 dead"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(cx.events("status=delivered").await.len(), 3);
    assert!(cx.events("status=dead").await.is_empty());
    let rows = cx.server.audit_rows(&cx.key).await;
    assert_eq!(
        rows.iter()
            .filter(|r| r["action"] == "events.replay")
            .count(),
        2
    );
    // Nothing left: the bulk replay says so.
    let out = cx.cli(&["webhook", "replay", "--status", "dead", "--yes"]);
    out.success();
    assert!(out.stdout.contains("nothing to replay"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_list_disable_enable_through_the_cli() {
    let (dest, url) = Destination::start(200).await;
    let dir = harness::sandbox();
    write_config(dir.path(), &url);
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let cx = Ctx {
        key: server.printed_admin_key(),
        server: &server,
        dir: dir.path(),
    };
    // Without a key: says what to set.
    harness::run(
        dir.path(),
        &["destinations", "list"],
        &[("SWITCHBOARD_URL", server.base.as_str())],
    )
    .exit_code(2)
    .stderr_has(&["SWITCHBOARD_API_KEY", "api-key create"]);
    // A wrong key: says to check it.
    harness::run(
        dir.path(),
        &["destinations", "list"],
        &[
            ("SWITCHBOARD_URL", server.base.as_str()),
            (
                "SWITCHBOARD_API_KEY",
                "sb_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            ),
        ],
    )
    .exit_code(2)
    .stderr_has(&["unauthorized", "check SWITCHBOARD_API_KEY"]);

    let out = cx.cli(&["destinations", "list"]);
    out.success();
    assert!(
        out.stdout.contains("app") && out.stdout.contains("enabled") && out.stdout.contains(&url),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("whsec_"), "never the secret");
    let v = cx.cli(&["destinations", "list", "--json"]).success().json();
    assert_eq!(v["data"][0]["id"], "app");
    assert_eq!(v["data"][0]["enabled"], true);

    // Disable: deliveries wait.
    let out = cx.cli(&["destinations", "disable", "app", "--reason", "maintenance"]);
    out.success();
    assert!(
        out.stdout.contains("disabled (maintenance)"),
        "{}",
        out.stdout
    );
    let out = cx.cli(&["destinations", "disable", "app"]);
    out.success();
    assert!(out.stdout.contains("already disabled"), "{}", out.stdout);
    let out = cx.cli(&["destinations", "list"]);
    assert!(
        out.stdout.contains("DISABLED: maintenance"),
        "{}",
        out.stdout
    );
    cx.cli(&["destinations", "disable", "nope"])
        .exit_code(2)
        .stderr_has(&["not_found", "switchboard destinations list"]);
    cx.cli(&["destinations", "enable", "nope"])
        .exit_code(2)
        .stderr_has(&["not_found"]);
    let long = "x".repeat(600);
    cx.cli(&["destinations", "disable", "app", "--reason", &long])
        .exit_code(2)
        .stderr_has(&["reason"]);

    let id = cx.receive("d-wait").await;
    cx.wait_for("pending", 1).await;
    let v = cx.cli(&["destinations", "list", "--json"]).success().json();
    assert_eq!(v["data"][0]["queue"]["pending"], 1);
    assert_eq!(dest.hits.load(Ordering::SeqCst), 0);

    // Enable: the waiting delivery goes out.
    let out = cx.cli(&["destinations", "enable", "app"]);
    out.success();
    assert!(
        out.stdout.contains("destination app: enabled;"),
        "{}",
        out.stdout
    );
    cx.wait_for("delivered", 1).await;
    assert_eq!(dest.hits.load(Ordering::SeqCst), 1);
    let v = cx.cli(&["events", "show", &id, "--json"]).success().json();
    assert_eq!(v["deliveries"][0]["status"], "delivered");
    let v = cx
        .cli(&["destinations", "enable", "app", "--json"])
        .success()
        .json();
    assert_eq!(v["changed"], false);

    let actions: Vec<String> = cx
        .server
        .audit_rows(&cx.key)
        .await
        .iter()
        .filter_map(|r| r["action"].as_str().map(str::to_owned))
        .filter(|a| a.starts_with("destination."))
        .collect();
    assert_eq!(actions, ["destination.enable", "destination.disable"]);
}
