//! `switchboard status` against a running server: a healthy deployment exits 0, a dead
//! delivery makes it exit 1 with the reason, `--json` prints the API's document, an
//! unreachable server or a key that is not an admin's exits 2. Once on SQLite, once on
//! PostgreSQL.

use std::path::Path;
use std::sync::atomic::Ordering;

use hmac::{KeyInit, Mac};
use serde_json::Value;

use crate::harness::{self, Destination, Output, Server};

const SECRET: &str = "status-webhook-secret";
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

async fn receive(server: &Server, delivery: &str) {
    let body = format!(r#"{{"delivery":"{delivery}"}}"#);
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(m.finalize().into_bytes()));
    let res = server
        .http()
        .post(server.url("/webhooks/gh/event"))
        .header("X-GitHub-Delivery", delivery)
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Runs the CLI off the async threads (the in-test destination must keep answering).
async fn cli(dir: &Path, args: &[&str], url: &str, key: &str) -> Output {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let envs = [
        ("SWITCHBOARD_URL".to_owned(), url.to_owned()),
        ("SWITCHBOARD_API_KEY".to_owned(), key.to_owned()),
    ];
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        harness::run(&dir, &args, &envs)
    })
    .await
    .unwrap()
}

/// Waits until the events API shows `n` events with a delivery in `status`.
async fn wait_for(server: &Server, key: &str, status: &str, n: usize) {
    harness::eventually(&format!("{n} events with a {status} delivery"), || async {
        let v = server
            .get_json(&format!("/api/events?status={status}"), key)
            .await;
        (v["data"].as_array().unwrap().len() == n).then_some(())
    })
    .await;
}

/// The whole story on the database `envs` select.
async fn healthy_then_a_dead_delivery(envs: &[(&str, &str)]) {
    let (dest, url) = Destination::start(200).await;
    let dir = harness::sandbox();
    write_config(dir.path(), &url);
    let server = Server::start(dir.path(), &["--dev"], envs).await;
    let key = server.printed_admin_key();
    let d = dir.path();

    // Healthy: one webhook delivered.
    receive(&server, "d-1").await;
    wait_for(&server, &key, "delivered", 1).await;
    let out = cli(d, &["status"], &server.base, &key).await;
    out.success();
    assert!(
        out.stdout.contains("nothing needs a person") && out.stdout.contains("gh (github)"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("✓"), "{}", out.stdout);
    assert!(
        !out.stdout.contains('\u{1b}'),
        "no colour when stdout is not a terminal: {:?}",
        out.stdout
    );
    let v = cli(d, &["status", "--json"], &server.base, &key)
        .await
        .success()
        .json();
    assert_eq!(v["attention"], false, "{v}");
    assert_eq!(v["ready"]["ready"], true);
    let gh = &v["integrations"][0];
    assert_eq!(gh["id"], "gh");
    assert_eq!(gh["webhooks"]["received_1h"], 1);
    assert_eq!(gh["deliveries"]["dead"], 0);
    assert!(gh["webhooks"]["last_received_at"].is_string());

    // A refused webhook is counted by reason, a dead delivery needs a person.
    let res = server
        .http()
        .post(server.url("/webhooks/gh/event"))
        .header("X-GitHub-Delivery", "forged")
        .header("X-Hub-Signature-256", "sha256=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    dest.status.store(500, Ordering::SeqCst);
    receive(&server, "d-2").await;
    wait_for(&server, &key, "dead", 1).await;
    assert_eq!(dest.hits.load(Ordering::SeqCst), 2);
    let out = cli(d, &["status"], &server.base, &key).await;
    out.exit_code(1);
    assert!(
        out.stdout.contains("need a person") && out.stdout.contains("gh: 1 dead deliveries"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("✗"), "{}", out.stdout);
    let out = cli(d, &["status", "--json"], &server.base, &key).await;
    out.exit_code(1);
    let v = out.json();
    assert_eq!(v["attention"], true);
    let gh = &v["integrations"][0];
    assert_eq!(gh["deliveries"]["dead"], 1);
    assert_eq!(gh["deliveries"]["attention"], true);
    assert_eq!(gh["webhooks"]["received_1h"], 2);
    assert_eq!(gh["webhooks"]["refused_1h"], 1);
    let by_reason = gh["webhooks"]["refused_by_reason"].as_object().unwrap();
    assert_eq!(by_reason.len(), 1, "{gh}");
    assert!(
        v["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("gh: 1 dead deliveries"),
        "{v}"
    );

    // Not an admin key: exit 2, saying so; nothing printed on stdout.
    let created = server
        .http()
        .post(server.url("/api/api-keys"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "app", "scope": "app"}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let app: Value = created.json().await.unwrap();
    let out = cli(d, &["status"], &server.base, app["key"].as_str().unwrap()).await;
    out.exit_code(2).stderr_has(&["admin key"]);
    assert!(out.stdout.is_empty());
    let v = cli(
        d,
        &["status", "--json"],
        &server.base,
        app["key"].as_str().unwrap(),
    )
    .await
    .exit_code(2)
    .json();
    assert_eq!(v["error"]["code"], "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_exits_0_when_healthy_and_1_with_the_reason_when_a_delivery_dies() {
    healthy_then_a_dead_delivery(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_on_postgres() {
    let schema = crate::postgres::pg_schema().await;
    healthy_then_a_dead_delivery(&[("SWITCHBOARD_DATABASE_URL", schema.url.as_str())]).await;
}

#[tokio::test]
async fn an_unreachable_server_or_no_key_is_an_error() {
    let dir = harness::sandbox();
    let url = format!("http://127.0.0.1:{}", harness::free_port());
    let out = harness::run(
        dir.path(),
        &["status"],
        &[
            ("SWITCHBOARD_URL", url.as_str()),
            ("SWITCHBOARD_API_KEY", "sb_x_y"),
        ],
    );
    out.exit_code(2);
    assert!(out.stdout.is_empty());
    let v = harness::run(
        dir.path(),
        &["status", "--json"],
        &[
            ("SWITCHBOARD_URL", url.as_str()),
            ("SWITCHBOARD_API_KEY", "sb_x_y"),
        ],
    )
    .exit_code(2)
    .json();
    assert_eq!(v["error"]["code"], "unreachable");
    harness::run(
        dir.path(),
        &["status"],
        &[("SWITCHBOARD_URL", url.as_str())],
    )
    .exit_code(2)
    .stderr_has(&["SWITCHBOARD_API_KEY", "--scope admin"]);
}
