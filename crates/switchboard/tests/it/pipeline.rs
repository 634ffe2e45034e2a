//! The event pipeline end to end: webhooks received by the real binary are mapped and
//! delivered to an independent consumer, `tests/peers/consumer` (Node.js), which checks
//! every request with the npm package `standardwebhooks` and records it; its
//! `/__test/mode` makes it go down, answer 410 or fail, and be slow.
//!
//! Covered: retries until a consumer that was down comes back; 410 disabling the
//! destination until it is enabled again; dead after `max_attempts` and a replay; a
//! failing `[[mappings]]` fixed by SIGHUP and a `mapping_failed` replay; `kill -9` with
//! deliveries in flight loses no acknowledged event, on SQLite and on PostgreSQL. Every wait
//! is a poll with a generous deadline; nothing asserts on elapsed time.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::harness::{self, Server, sandbox};

/// The integration's GitHub webhook secret.
pub(crate) const WEBHOOK_SECRET: &str = "pipeline-test-secret";
/// How long the consumer peer may take to print `LISTENING <port>`.
const PEER_START: Duration = Duration::from_secs(30);
/// Deadline of a wait that may include one circuit-breaker cool-down (30 s) or one
/// expired delivery lease (timeout + 30 s).
pub(crate) const LONG: Duration = Duration::from_secs(90);
/// Deadline of an ordinary wait.
const SHORT: Duration = Duration::from_secs(30);

// ---- the consumer peer -------------------------------------------------------------------

/// Where the consumer peer lives in the workspace.
fn consumer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/consumer")
}

/// A running `tests/peers/consumer/server.js`. Killed on drop.
#[derive(Debug)]
pub(crate) struct Consumer {
    port: u16,
    child: Child,
    stderr_path: PathBuf,
    _logs: tempfile::TempDir,
    http: reqwest::Client,
}

impl Consumer {
    /// Starts the peer verifying with `secret` (`whsec_…`).
    pub(crate) fn start(secret: &str) -> Consumer {
        let dir = consumer_dir();
        assert!(
            dir.join("node_modules/standardwebhooks/package.json")
                .is_file(),
            "the consumer test peer is not installed ({}/node_modules is missing): run scripts/setup",
            dir.display()
        );
        let logs = tempfile::Builder::new()
            .prefix("switchboard-it-consumer-")
            .tempdir()
            .expect("log directory");
        let stderr_path = logs.path().join("stderr");
        let mut cmd = Command::new("node");
        cmd.current_dir(&dir)
            .args(["server.js", "--port", "0", "--secret", secret])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr_path).expect("stderr file"));
        for (name, _) in std::env::vars_os() {
            let n = name.to_string_lossy();
            if n == "NODE_OPTIONS" || n.to_ascii_lowercase().ends_with("_proxy") {
                cmd.env_remove(&name);
            }
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start the consumer test peer with `node` ({e}): install Node.js 20+ and run scripts/setup")
        });
        let stdout = child.stdout.take().expect("stdout pipe");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("LISTENING ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(port.trim().parse::<u16>());
                }
            }
        });
        let start = Instant::now();
        let port = loop {
            if let Ok(parsed) = rx.recv_timeout(Duration::from_millis(50)) {
                match parsed {
                    Ok(port) => break port,
                    Err(e) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!(
                            "the consumer peer printed a bad LISTENING line ({e})\n--- stderr\n{}",
                            read(&stderr_path)
                        );
                    }
                }
            }
            if let Some(status) = child.try_wait().expect("poll the consumer peer") {
                panic!(
                    "the consumer peer exited with {status} before listening\n--- stderr\n{}",
                    read(&stderr_path)
                );
            }
            if start.elapsed() > PEER_START {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the consumer peer did not print LISTENING within {PEER_START:?}\n--- stderr\n{}",
                    read(&stderr_path)
                );
            }
        };
        Consumer {
            port,
            child,
            stderr_path,
            _logs: logs,
            http: harness::http(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The destination URL to configure.
    pub(crate) fn hook_url(&self) -> String {
        self.url("/hook")
    }

    async fn control(&self, req: reqwest::RequestBuilder, what: &str) -> Value {
        let resp = req.send().await.unwrap_or_else(|e| {
            panic!("{what}: {e}\n--- peer stderr\n{}", read(&self.stderr_path))
        });
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{what}: HTTP {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
    }

    /// Sets the mode: `{"mode": "up"|"down"|"gone"|"status", "status"?, "delay_ms"?}`.
    pub(crate) async fn set_mode(&self, mode: Value) {
        let req = self.http.post(self.url("/__test/mode")).json(&mode);
        self.control(req, "POST /__test/mode").await;
    }

    /// Every request received so far, oldest first.
    pub(crate) async fn received(&self) -> Vec<Value> {
        let req = self.http.get(self.url("/__test/received"));
        let v = self.control(req, "GET /__test/received").await;
        v["requests"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

// ---- records ---------------------------------------------------------------------------

/// The requests that carried event `id`.
pub(crate) fn for_event<'r>(records: &'r [Value], id: &str) -> Vec<&'r Value> {
    records.iter().filter(|r| r["event_id"] == id).collect()
}

/// Whether `r` was a successful delivery: answered 2xx, completely.
pub(crate) fn is_delivery(r: &Value) -> bool {
    r["completed"] == true
        && r["answered"]
            .as_u64()
            .is_some_and(|s| (200..300).contains(&s))
}

/// Whether every event in `ids` was delivered at least once.
pub(crate) fn all_delivered(records: &[Value], ids: &[String]) -> bool {
    ids.iter()
        .all(|id| for_event(records, id).into_iter().any(is_delivery))
}

/// The checks every test makes on what the consumer saw: each request verified by
/// `standardwebhooks`, each webhook-id on exactly one event, each event under exactly
/// one webhook-id (there is one destination), and only events of `ids`.
#[track_caller]
pub(crate) fn assert_consistent(records: &[Value], ids: &[String]) {
    let known: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    let mut events_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut ids_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in records {
        assert_eq!(
            r["verified"], true,
            "standardwebhooks refused a delivery ({}): {r}",
            r["verify_error"]
        );
        let wid = r["webhook_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no webhook-id: {r}"));
        let eid = r["event_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no x-switchboard-event-id: {r}"));
        assert!(known.contains(eid), "a delivery of an unknown event: {r}");
        assert_eq!(r["integration"], "gh", "{r}");
        events_of
            .entry(wid.to_owned())
            .or_default()
            .insert(eid.to_owned());
        ids_of
            .entry(eid.to_owned())
            .or_default()
            .insert(wid.to_owned());
    }
    for (wid, evs) in &events_of {
        assert_eq!(
            evs.len(),
            1,
            "webhook-id {wid} was used for several events: {evs:?}"
        );
    }
    for (eid, wids) in &ids_of {
        assert_eq!(
            wids.len(),
            1,
            "event {eid} reached the one destination under several webhook-ids: {wids:?}"
        );
    }
}

// ---- configuration and traffic --------------------------------------------------------------

/// A fresh Standard Webhooks secret.
pub(crate) fn whsec() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("random bytes");
    format!("whsec_{}", STANDARD.encode(b))
}

/// Writes `switchboard.toml`: integration `gh` (GitHub), destination `app` at the
/// consumer with a [0, 1, 1] schedule and `destination_extra` lines, then `rest`.
fn write_config(
    dir: &Path,
    consumer: &Consumer,
    secret: &str,
    destination_extra: &str,
    rest: &str,
) {
    let toml = format!(
        r#"[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["{WEBHOOK_SECRET}"]

[[destinations]]
id = "app"
url = "{url}"
secret = "{secret}"
integrations = ["gh"]
event_types = ["*"]
retry_schedule_secs = [0, 1, 1]
{destination_extra}

{rest}
"#,
        url = consumer.hook_url()
    );
    std::fs::write(dir.join("switchboard.toml"), toml).expect("write switchboard.toml");
}

pub(crate) fn github_signature(body: &[u8]) -> String {
    // Independent of our signer: HMAC-SHA256 straight from RustCrypto.
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Posts a signed GitHub webhook; returns the status and the answer.
pub(crate) async fn post_event(
    http: &reqwest::Client,
    base: &str,
    delivery: &str,
    event: &str,
    body: &Value,
) -> Result<(u16, Value), reqwest::Error> {
    let body = body.to_string();
    let resp = http
        .post(format!("{base}/webhooks/gh/event"))
        .header("X-GitHub-Delivery", delivery)
        .header("X-GitHub-Event", event)
        .header("X-Hub-Signature-256", github_signature(body.as_bytes()))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = resp.status().as_u16();
    let v = resp.json().await?;
    Ok((status, v))
}

/// Sends one event; asserts 200 and returns its `evt_…` id.
async fn send(server: &Server, delivery: &str, event: &str, body: &Value) -> String {
    let (status, v) = post_event(server.http(), &server.base, delivery, event, body)
        .await
        .unwrap_or_else(|e| panic!("POST webhook {delivery}: {e}"));
    assert_eq!(status, 200, "webhook {delivery}: {v}");
    assert_eq!(v["duplicate"], false, "{v}");
    v["id"].as_str().expect("an event id").to_owned()
}

/// POSTs JSON with the admin key; returns the status and the body (JSON, or a string).
async fn api_post(server: &Server, key: &str, path: &str, body: &Value) -> (u16, Value) {
    let resp = server
        .http()
        .post(server.url(path))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

/// A replay through the API (`POST /api/events/{id}/replay` or `POST /api/events/replay`):
/// asserts 200 and the answer's shape; returns (events, deliveries).
#[track_caller]
fn replay_counts(path: &str, status: u16, v: &Value, dry_run: bool) -> (u64, u64) {
    assert_eq!(
        status, 200,
        "POST {path} (the replay routes are part of issue 5's API): {v}"
    );
    assert_eq!(v["dry_run"], dry_run, "POST {path}: {v}");
    let n = |k: &str| {
        v[k].as_u64()
            .unwrap_or_else(|| panic!("POST {path}: no count {k:?} in {v}"))
    };
    (n("events"), n("deliveries"))
}

async fn replay_event(server: &Server, key: &str, id: &str, dry_run: bool) -> (u64, u64) {
    let path = format!("/api/events/{id}/replay");
    let (status, v) = api_post(server, key, &path, &json!({ "dry_run": dry_run })).await;
    replay_counts(&path, status, &v, dry_run)
}

async fn replay_where(server: &Server, key: &str, filter: Value) -> (u64, u64) {
    let dry_run = filter["dry_run"] == true;
    let (status, v) = api_post(server, key, "/api/events/replay", &filter).await;
    replay_counts("/api/events/replay", status, &v, dry_run)
}

/// Polls `check` every 50 ms until it returns `Some` or `deadline` passes.
pub(crate) async fn until<T, F, Fut>(deadline: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if start.elapsed() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a failed wait reports: the consumer's records and the server's log tail.
async fn diagnostics(server: &Server, consumer: &Consumer) -> String {
    let records = consumer.received().await;
    let log = server.stderr();
    let tail: String = {
        let start = log.len().saturating_sub(6000);
        let mut s = start;
        while !log.is_char_boundary(s) {
            s += 1;
        }
        log[s..].to_owned()
    };
    format!(
        "--- consumer saw {} request(s)\n{}\n--- server stderr (tail)\n{tail}",
        records.len(),
        records
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// Waits until every event of `ids` was delivered (some wait may include a breaker
/// cool-down); returns the consumer's records.
async fn wait_delivered(server: &Server, consumer: &Consumer, ids: &[String]) -> Vec<Value> {
    let got = until(LONG, || async {
        let r = consumer.received().await;
        all_delivered(&r, ids).then_some(r)
    })
    .await;
    match got {
        Some(r) => r,
        None => panic!(
            "not every event was delivered within {LONG:?}: {ids:?}\n{}",
            diagnostics(server, consumer).await
        ),
    }
}

/// `GET /api/events/{id}`: the event with its mapping and deliveries.
async fn event_detail(server: &Server, key: &str, id: &str) -> Value {
    server.get_json(&format!("/api/events/{id}"), key).await
}

/// The states of the deliveries in an event's detail.
fn delivery_states(detail: &Value) -> Vec<String> {
    detail["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["status"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until the event's deliveries are in exactly `states` (the server records an
/// outcome just after the consumer answered); returns the detail.
async fn wait_states(server: &Server, key: &str, id: &str, states: &[&str]) -> Value {
    let got = until(SHORT, || async {
        let v = event_detail(server, key, id).await;
        (delivery_states(&v) == states).then_some(v)
    })
    .await;
    match got {
        Some(v) => v,
        None => panic!(
            "GET /api/events/{id} never showed deliveries {states:?}: {}",
            event_detail(server, key, id).await
        ),
    }
}

/// The server still has the event's one delivery dead after three attempts.
async fn assert_dead_after_three(server: &Server, key: &str, id: &str) {
    let v = event_detail(server, key, id).await;
    assert_eq!(delivery_states(&v), ["dead"], "GET /api/events/{id}: {v}");
    assert_eq!(
        v["deliveries"][0]["attempts"], 3,
        "GET /api/events/{id}: {v}"
    );
}

// ---- tests -------------------------------------------------------------------------------

#[tokio::test]
async fn pipeline_retries_until_the_consumer_is_back_and_delivers_every_event_once() {
    let secret = whsec();
    let consumer = Consumer::start(&secret);
    consumer.set_mode(json!({"mode": "down"})).await;
    let dir = sandbox();
    write_config(dir.path(), &consumer, &secret, "max_attempts = 20", "");
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let key = server.printed_admin_key();

    // Two events (few enough that the failures stay under the circuit breaker's five).
    let bodies = [
        json!({"ref": "refs/heads/main", "n": 1}),
        json!({"ref": "refs/heads/dev", "n": 2}),
    ];
    let mut ids = Vec::new();
    for (i, b) in bodies.iter().enumerate() {
        ids.push(send(&server, &format!("down-{i}"), "push", b).await);
    }

    // The consumer is down: every event is tried, and a delivery is retried.
    let retried = until(SHORT, || async {
        let r = consumer.received().await;
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        for x in &r {
            *seen.entry(x["webhook_id"].to_string()).or_default() += 1;
        }
        let all_tried = ids.iter().all(|id| !for_event(&r, id).is_empty());
        (all_tried && seen.values().any(|n| *n >= 2)).then_some(())
    })
    .await;
    if retried.is_none() {
        panic!(
            "no retry reached the consumer while it was down\n{}",
            diagnostics(&server, &consumer).await
        );
    }
    consumer.set_mode(json!({"mode": "up"})).await;
    wait_delivered(&server, &consumer, &ids).await;
    // Nothing more arrives for delivered events.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let records = consumer.received().await;
    assert_consistent(&records, &ids);
    for (id, body) in ids.iter().zip(&bodies) {
        let mine = for_event(&records, id);
        assert!(mine.len() >= 2, "{id} was not retried: {mine:?}");
        let ok: Vec<_> = mine.iter().filter(|r| is_delivery(r)).collect();
        assert_eq!(ok.len(), 1, "{id} delivered more than once: {mine:?}");
        assert_eq!(ok[0]["type"], "github.push", "{}", ok[0]);
        assert_eq!(&ok[0]["data"], body, "{}", ok[0]);
        // Every failed attempt was before the success.
        let last = mine.last().unwrap();
        assert!(is_delivery(last), "an attempt after the delivery: {mine:?}");
    }
    // The server agrees, and its delivery id is the webhook-id the consumer saw.
    for id in &ids {
        let v = wait_states(&server, &key, id, &["delivered"]).await;
        let d = &v["deliveries"][0];
        assert_eq!(
            d["id"],
            for_event(&records, id)[0]["webhook_id"],
            "the delivery id is not the webhook-id: {v}"
        );
        assert_eq!(d["destination"], "app", "{v}");
        assert_eq!(v["mapping"]["status"], "mapped", "{v}");
        assert_eq!(v["mapping"]["type"], "github.push", "{v}");
    }
}

#[tokio::test]
async fn pipeline_410_disables_the_destination_until_it_is_enabled() {
    let secret = whsec();
    let consumer = Consumer::start(&secret);
    consumer.set_mode(json!({"mode": "gone"})).await;
    let dir = sandbox();
    write_config(dir.path(), &consumer, &secret, "max_attempts = 5", "");
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let key = server.printed_admin_key();

    let a = send(&server, "gone-a", "push", &json!({"n": "a"})).await;
    let gone = until(SHORT, || async {
        let r = consumer.received().await;
        r.iter()
            .find(|x| x["event_id"] == a.as_str() && x["answered"] == 410 && x["completed"] == true)
            .cloned()
    })
    .await;
    let Some(gone) = gone else {
        panic!(
            "the 410 attempt never came\n{}",
            diagnostics(&server, &consumer).await
        );
    };

    // The destination is disabled: audited, and listed as such.
    let row = until(SHORT, || async {
        server
            .audit_rows(&key)
            .await
            .into_iter()
            .find(|r| r["action"] == "destination.disable")
    })
    .await
    .unwrap_or_else(|| panic!("no destination.disable audit row"));
    assert_eq!(row["target"], "app", "{row}");
    let list = server.get_json("/api/destinations", &key).await;
    let app = list["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["id"] == "app")
        .unwrap_or_else(|| panic!("no destination app in {list}"))
        .clone();
    assert_eq!(app["enabled"], false, "GET /api/destinations: {app}");
    // The gauge alert rules watch says so too (DestinationDisabled).
    let m = harness::scrape(&server).await;
    assert_eq!(
        harness::metric_value(&m, r#"switchboard_destination_disabled{destination="app"}"#),
        Some(1.0),
        "{m}"
    );

    // While disabled nothing is sent: not A's retry (due after ~1 s), not a new event.
    let b = send(&server, "gone-b", "push", &json!({"n": "b"})).await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let records = consumer.received().await;
    assert_eq!(
        records.len(),
        1,
        "requests reached a disabled destination: {records:?}"
    );
    // And the server agrees that both are still waiting: A at its one (410) attempt, B
    // never tried.
    for (id, attempts) in [(&a, 1), (&b, 0)] {
        let v = event_detail(&server, &key, id).await;
        assert_eq!(
            (
                &v["deliveries"][0]["attempts"],
                delivery_states(&v) == ["delivered"]
            ),
            (&json!(attempts), false),
            "GET /api/events/{id} while the destination is disabled: {v}"
        );
    }

    consumer.set_mode(json!({"mode": "up"})).await;
    let (status, v) = api_post(&server, &key, "/api/destinations/app/enable", &json!({})).await;
    assert_eq!(status, 200, "POST /api/destinations/app/enable: {v}");
    assert_eq!(
        (&v["enabled"], &v["changed"]),
        (&json!(true), &json!(true)),
        "{v}"
    );
    let m = harness::scrape(&server).await;
    assert_eq!(
        harness::metric_value(&m, r#"switchboard_destination_disabled{destination="app"}"#),
        Some(0.0),
        "{m}"
    );
    let ids = vec![a.clone(), b.clone()];
    let records = wait_delivered(&server, &consumer, &ids).await;
    assert_consistent(&records, &ids);
    // A is delivered under the webhook-id its 410 attempt had.
    let delivered_a = for_event(&records, &a)
        .into_iter()
        .find(|r| is_delivery(r))
        .unwrap();
    assert_eq!(delivered_a["webhook_id"], gone["webhook_id"]);
}

#[tokio::test]
async fn pipeline_dead_after_max_attempts_then_replay_delivers() {
    let secret = whsec();
    let consumer = Consumer::start(&secret);
    consumer
        .set_mode(json!({"mode": "status", "status": 500}))
        .await;
    let dir = sandbox();
    write_config(dir.path(), &consumer, &secret, "max_attempts = 3", "");
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let key = server.printed_admin_key();

    let id = send(&server, "dead-1", "push", &json!({"n": 1})).await;
    let three = until(SHORT, || async {
        let r = consumer.received().await;
        (for_event(&r, &id).len() >= 3).then_some(())
    })
    .await;
    if three.is_none() {
        panic!(
            "three attempts did not come\n{}",
            diagnostics(&server, &consumer).await
        );
    }
    // The delivery is dead: the replay filter finds it.
    let dead = until(SHORT, || async {
        let (events, deliveries) =
            replay_where(&server, &key, json!({"status": "dead", "dry_run": true})).await;
        (events == 1 && deliveries == 1).then_some(())
    })
    .await;
    if dead.is_none() {
        panic!(
            "the delivery did not become dead\n{}",
            diagnostics(&server, &consumer).await
        );
    }
    let v = wait_states(&server, &key, &id, &["dead"]).await;
    let d = &v["deliveries"][0];
    assert_eq!(d["attempts"], 3, "GET /api/events/{id}: {v}");
    assert_eq!(d["last_status"], 500, "GET /api/events/{id}: {v}");
    // No attempt after the last one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let records = consumer.received().await;
    assert_eq!(for_event(&records, &id).len(), 3, "{records:?}");
    assert_dead_after_three(&server, &key, &id).await;
    let webhook_id = records[0]["webhook_id"].clone();

    consumer.set_mode(json!({"mode": "up"})).await;
    // A dry run counts and sends nothing.
    assert_eq!(replay_event(&server, &key, &id, true).await, (1, 1));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        consumer.received().await.len(),
        3,
        "a dry run sent something"
    );
    assert_dead_after_three(&server, &key, &id).await;

    assert_eq!(replay_event(&server, &key, &id, false).await, (1, 1));
    let ids = vec![id.clone()];
    let records = wait_delivered(&server, &consumer, &ids).await;
    assert_consistent(&records, &ids);
    let last = records.last().unwrap();
    assert!(is_delivery(last), "{last}");
    assert_eq!(
        last["webhook_id"], webhook_id,
        "replay changed the webhook-id"
    );
    assert_eq!(last["type"], "github.push");
    // The delivery id is the webhook-id the consumer saw.
    let v = wait_states(&server, &key, &id, &["delivered"]).await;
    assert_eq!(
        v["deliveries"][0]["id"], webhook_id,
        "GET /api/events/{id}: {v}"
    );
}

#[tokio::test]
async fn pipeline_mapping_failed_is_fixed_by_sighup_and_replayed() {
    let secret = whsec();
    let consumer = Consumer::start(&secret);
    let dir = sandbox();
    let broken = r#"[[mappings]]
integration = "gh"
event_type = "push"
jq = '{type: "repo.pushed", data: {ref: .ref, size: (.commits | length), oops: error("broken on purpose")}}'
"#;
    let fixed = r#"[[mappings]]
integration = "gh"
event_type = "push"
jq = '{type: "repo.pushed", data: {ref: .ref, size: (.commits | length)}}'
"#;
    write_config(dir.path(), &consumer, &secret, "max_attempts = 5", broken);
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let key = server.printed_admin_key();

    let push = json!({"ref": "refs/heads/main", "commits": [{"id": "c1"}, {"id": "c2"}]});
    let e = send(&server, "map-push", "push", &push).await;
    // An event of a type without a mapping passes through meanwhile.
    let issue = json!({"action": "opened", "number": 7});
    let f = send(&server, "map-issue", "issues", &issue).await;
    let records = wait_delivered(&server, &consumer, std::slice::from_ref(&f)).await;
    let passed = for_event(&records, &f)[0];
    assert_eq!(passed["type"], "github.issues", "{passed}");
    assert_eq!(passed["data"], issue, "{passed}");

    // The push is mapping_failed: the replay filter finds it, and nothing was sent.
    let failed = until(SHORT, || async {
        let (events, _) = replay_where(
            &server,
            &key,
            json!({"status": "mapping_failed", "dry_run": true}),
        )
        .await;
        (events == 1).then_some(())
    })
    .await;
    if failed.is_none() {
        panic!(
            "the push did not become mapping_failed\n{}",
            diagnostics(&server, &consumer).await
        );
    }
    let v = event_detail(&server, &key, &e).await;
    assert_eq!(v["mapping"]["status"], "failed", "GET /api/events/{e}: {v}");
    let error = v["mapping"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("broken on purpose"),
        "GET /api/events/{e}: the mapping error does not say what failed: {v}"
    );
    assert_eq!(v["deliveries"], json!([]), "GET /api/events/{e}: {v}");
    assert!(for_event(&consumer.received().await, &e).is_empty());

    // Fix the mapping, reload with SIGHUP, replay what failed.
    write_config(dir.path(), &consumer, &secret, "max_attempts = 5", fixed);
    server.signal("HUP");
    server.wait_for_stderr("configuration reloaded").await;
    let (events, _) = replay_where(&server, &key, json!({"status": "mapping_failed"})).await;
    assert_eq!(events, 1);

    let ids = vec![e.clone(), f.clone()];
    let records = wait_delivered(&server, &consumer, &ids).await;
    assert_consistent(&records, &ids);
    let mapped = for_event(&records, &e);
    assert_eq!(mapped.len(), 1, "{mapped:?}");
    assert_eq!(mapped[0]["type"], "repo.pushed", "{}", mapped[0]);
    assert_eq!(
        mapped[0]["data"],
        json!({"ref": "refs/heads/main", "size": 2}),
        "{}",
        mapped[0]
    );
    // The replay took only the failed event.
    assert_eq!(for_event(&records, &f).len(), 1, "{records:?}");
    let v = wait_states(&server, &key, &e, &["delivered"]).await;
    assert_eq!(v["mapping"]["status"], "mapped", "GET /api/events/{e}: {v}");
    assert_eq!(
        v["mapping"]["type"], "repo.pushed",
        "GET /api/events/{e}: {v}"
    );
    assert_eq!(v["deliveries"][0]["id"], mapped[0]["webhook_id"], "{v}");
}

#[tokio::test]
async fn pipeline_kill_9_with_deliveries_in_flight_loses_no_event() {
    kill_9_with_deliveries_in_flight(None).await;
}

#[tokio::test]
async fn pipeline_kill_9_with_deliveries_in_flight_loses_no_event_on_postgres() {
    let schema = crate::postgres::pg_schema().await;
    kill_9_with_deliveries_in_flight(Some(&schema.url)).await;
}

/// Senders stream webhooks while deliveries hang at the consumer, until `kill -9`; a new
/// server on the same database (the sandbox's SQLite file, or `database_url` when given)
/// delivers every acknowledged event, each under one webhook-id.
async fn kill_9_with_deliveries_in_flight(database_url: Option<&str>) {
    let envs: Vec<(&str, &str)> = database_url
        .map(|url| ("SWITCHBOARD_DATABASE_URL", url))
        .into_iter()
        .collect();
    let secret = whsec();
    let consumer = Consumer::start(&secret);
    // Slow: requests hang past the destination's 3 s timeout, so deliveries are in
    // flight (leased) when the server dies.
    consumer
        .set_mode(json!({"mode": "up", "delay_ms": 60_000}))
        .await;
    let dir = sandbox();
    write_config(
        dir.path(),
        &consumer,
        &secret,
        "max_attempts = 100\ntimeout_secs = 3\nmax_concurrency = 8",
        "",
    );
    let server = Server::start(dir.path(), &["--dev"], &envs).await;
    let key = server.printed_admin_key();

    // Four senders keep sending until the kill; only events answered 200 count.
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for w in 0..4 {
        let (base, stop, count) = (server.base.clone(), stop.clone(), count.clone());
        senders.push(tokio::spawn(async move {
            let http = harness::http();
            let mut acked = Vec::new();
            // The send whose answer did not come: stored or not, nobody knows.
            let mut unanswered = None;
            for n in 0..2_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let body = json!({"w": w, "n": n});
                match post_event(&http, &base, &format!("k{w}-{n}"), "push", &body).await {
                    Ok((200, v)) => {
                        acked.push(v["id"].as_str().unwrap().to_owned());
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((status, v)) => panic!("webhook answered {status}: {v}"),
                    Err(_) => {
                        // The server is gone (or the answer was cut).
                        unanswered = Some(body);
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (acked, unanswered)
        }));
    }
    // Kill once many events are acknowledged and deliveries are hanging at the consumer.
    let in_flight = until(SHORT, || async {
        let r = consumer.received().await;
        let hanging = r
            .iter()
            .filter(|x| x["completed"] != true && x["aborted"] != true)
            .count();
        (hanging >= 2 && count.load(Ordering::Relaxed) >= 60).then_some(hanging)
    })
    .await;
    if in_flight.is_none() {
        stop.store(true, Ordering::Relaxed);
        panic!(
            "no delivery reached the consumer\n{}",
            diagnostics(&server, &consumer).await
        );
    }
    server.signal("KILL");
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    let mut unanswered = Vec::new();
    for s in senders {
        let (a, u) = s.await.expect("a sender task");
        acked.extend(a);
        unanswered.extend(u);
    }
    drop(server);
    assert!(
        !acked.is_empty(),
        "no event was acknowledged before the kill"
    );

    // Every event the consumer saw was committed, acknowledged or not (the answer may
    // have been cut by the kill): it must be delivered too.
    let mut expected: BTreeSet<String> = acked.iter().cloned().collect();
    for r in consumer.received().await {
        if let Some(e) = r["event_id"].as_str() {
            expected.insert(e.to_owned());
        }
    }
    let expected: Vec<String> = expected.into_iter().collect();

    // Back up: the consumer answers at once; a new server on the same database.
    consumer.set_mode(json!({"mode": "up"})).await;
    let server = Server::start(dir.path(), &["--dev"], &envs).await;
    let records = wait_delivered(&server, &consumer, &expected).await;
    // Every acknowledged event arrived, verified, each under one webhook-id however
    // often it was sent (before and after the crash). Besides them only events whose
    // webhook got no answer may arrive (stored just before the kill).
    let mut known: BTreeSet<String> = expected.iter().cloned().collect();
    for r in &records {
        if unanswered.contains(&r["data"]) {
            known.extend(r["event_id"].as_str().map(str::to_owned));
        }
    }
    assert_consistent(&records, &known.into_iter().collect::<Vec<_>>());
    // The server agrees: nothing dead, at least every expected delivery delivered.
    let agreed = until(SHORT, || async {
        let (_, delivered) = replay_where(
            &server,
            &key,
            json!({"status": "delivered", "dry_run": true}),
        )
        .await;
        let (_, dead) =
            replay_where(&server, &key, json!({"status": "dead", "dry_run": true})).await;
        (delivered >= expected.len() as u64 && dead == 0).then_some(())
    })
    .await;
    assert!(
        agreed.is_some(),
        "the server does not count {} delivered deliveries",
        expected.len()
    );
    // The events whose request hung when the server died were delivered afterwards,
    // under the same webhook-id.
    let hung: BTreeSet<&str> = records
        .iter()
        .filter(|r| r["completed"] != true)
        .filter_map(|r| r["event_id"].as_str())
        .collect();
    assert!(!hung.is_empty(), "no request was in flight: {records:?}");
    for id in hung {
        assert!(
            for_event(&records, id).into_iter().any(is_delivery),
            "{id} was in flight at the kill and never delivered"
        );
    }
}
