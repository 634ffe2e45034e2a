//! Three `switchboard serve` processes on one PostgreSQL database (a schema per test),
//! as a production deployment runs them behind a load balancer:
//!
//! - webhooks spread over the three are stored once and delivered, signed, to the
//!   consumer peer (`tests/peers/consumer`, which checks every request with the npm
//!   package `standardwebhooks`): under normal operation each event exactly once, and
//!   through a `kill -9` of one instance and its restart, every acknowledged event at
//!   least once;
//! - admin actions sent concurrently to the three (and CLI verbs beside them) make one
//!   audit chain that `switchboard audit verify` accepts, one row per action;
//! - `switchboard keys rotate` runs while the three keep answering token requests, proxy
//!   calls and webhooks, with the new key brought into their key rings by rolling
//!   restarts: no request fails, every secret ends under the new key, and every instance
//!   opens them with the new key alone.
//!
//! The 1,000-request refresh storm on three processes is in `connect.rs`. Every wait is a
//! bounded poll; nothing asserts on elapsed time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vault::{Aad, ExposeSecret, Keyring, MasterKey};

use crate::connect::{self, App, CLIENT_SECRET};
use crate::harness::{self, Server, eventually, run, sandbox};
use crate::pipeline::{
    Consumer, LONG, WEBHOOK_SECRET, all_delivered, assert_consistent, for_event, is_delivery,
    post_event, until, whsec,
};
use crate::postgres::{PgSchema, pg_schema};

// ---- a load balancer in front of the three ------------------------------------------------

/// Picks instances round robin among those in rotation, and counts the requests in flight
/// on each, so that an instance can be taken out and drained before it is stopped, as a
/// load balancer does for a rolling restart.
#[derive(Clone)]
struct Balancer {
    slots: Arc<Mutex<Vec<Slot>>>,
    next: Arc<AtomicUsize>,
}

struct Slot {
    /// `None` while out of rotation.
    base: Option<String>,
    in_flight: Arc<AtomicUsize>,
}

/// A request counted in flight on an instance until dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Balancer {
    fn new(servers: &[Server]) -> Self {
        let slots = servers
            .iter()
            .map(|s| Slot {
                base: Some(s.base.clone()),
                in_flight: Arc::default(),
            })
            .collect();
        Self {
            slots: Arc::new(Mutex::new(slots)),
            next: Arc::default(),
        }
    }

    /// The next instance in rotation: (its index, its base URL, the in-flight guard).
    fn pick(&self) -> (usize, String, InFlight) {
        let slots = self.slots.lock().unwrap();
        for _ in 0..slots.len() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % slots.len();
            if let Some(base) = &slots[i].base {
                slots[i].in_flight.fetch_add(1, Ordering::SeqCst);
                return (i, base.clone(), InFlight(slots[i].in_flight.clone()));
            }
        }
        panic!("no instance in rotation");
    }

    /// Takes instance `i` out of rotation: no request is sent to it from now on.
    fn take_out(&self, i: usize) {
        self.slots.lock().unwrap()[i].base = None;
    }

    /// Takes instance `i` out and waits (bounded) until no request is in flight on it.
    async fn drain(&self, i: usize) {
        self.take_out(i);
        let in_flight = self.slots.lock().unwrap()[i].in_flight.clone();
        eventually("the requests in flight on a drained instance", || async {
            (in_flight.load(Ordering::SeqCst) == 0).then_some(())
        })
        .await;
    }

    /// Puts instance `i` back in rotation at `base`.
    fn put_in(&self, i: usize, base: &str) {
        self.slots.lock().unwrap()[i].base = Some(base.to_owned());
    }
}

// ---- helpers ---------------------------------------------------------------------------------

/// `(name, value)` pairs as the harness takes them.
fn env_refs(envs: &[(String, String)]) -> Vec<(&str, &str)> {
    envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Starts three `serve --dev` on the same database, one after the other (the first
/// prints the admin key, which is returned).
async fn start_three(dir: &Path, envs: &[(&str, &str)]) -> (Vec<Server>, String) {
    let first = Server::start(dir, &["--dev"], envs).await;
    let key = first.printed_admin_key();
    let mut servers = vec![first];
    for _ in 0..2 {
        servers.push(Server::start(dir, &["--dev"], envs).await);
    }
    (servers, key)
}

/// POSTs JSON with `key`; the status and the JSON answer (`null` if none).
async fn post_json(http: &reqwest::Client, url: &str, key: &str, body: &Value) -> (u16, Value) {
    let r = http
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `POST /api/events/replay` as a dry run with `status`: how many deliveries match.
async fn deliveries_in(server: &Server, key: &str, status: &str) -> u64 {
    let (code, v) = post_json(
        server.http(),
        &server.url("/api/events/replay"),
        key,
        &json!({"status": status, "dry_run": true}),
    )
    .await;
    assert_eq!(code, 200, "POST /api/events/replay: {v}");
    v["deliveries"].as_u64().unwrap_or_else(|| panic!("{v}"))
}

/// `(event id, provider event id)` of every stored event of integration `gh`.
async fn stored_events(schema: &PgSchema) -> Vec<(String, String)> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&schema.url)
        .await
        .unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, provider_event_id FROM events WHERE integration = 'gh' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows
}

/// What a failed delivery wait reports: the consumer's records and the servers' logs.
async fn delivery_diagnostics(servers: &[Server], consumer: &Consumer) -> String {
    let records = consumer.received().await;
    let mut out = format!("--- consumer saw {} request(s)\n", records.len());
    for r in records.iter().rev().take(40) {
        out.push_str(&format!("{r}\n"));
    }
    for (i, s) in servers.iter().enumerate() {
        let log = s.stderr();
        let tail: String = log
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        out.push_str(&format!("--- server {i} stderr (tail)\n{tail}\n"));
    }
    out
}

// ---- webhooks over three, with kill -9 -------------------------------------------------

/// Integration `gh` (GitHub webhooks) and destination `app` at the consumer.
fn pipeline_config(dir: &Path, consumer: &Consumer, secret: &str) {
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
max_attempts = 100
timeout_secs = 1
"#,
        url = consumer.hook_url()
    );
    std::fs::write(dir.join("switchboard.toml"), toml).unwrap();
}

/// One acknowledged webhook: (provider event id, Switchboard event id, instance base).
type Acked = (String, String, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_over_three_instances_are_delivered_once_and_survive_kill_9() {
    let started = Instant::now();
    let schema = pg_schema().await;
    let secret = whsec();
    let consumer = Consumer::start(&secret);
    let dir = sandbox();
    pipeline_config(dir.path(), &consumer, &secret);
    let envs = [("SWITCHBOARD_DATABASE_URL", schema.url.as_str())];
    let (mut servers, key) = start_three(dir.path(), &envs).await;
    let lb = Balancer::new(&servers);

    // Normal operation: 90 webhooks from six senders, spread over the three.
    let mut senders = tokio::task::JoinSet::new();
    for w in 0..6 {
        let lb = lb.clone();
        senders.spawn(async move {
            let http = harness::http();
            let mut ids = Vec::new();
            for n in 0..15 {
                let (_, base, _guard) = lb.pick();
                let delivery = format!("a{w}-{n}");
                let body = json!({"phase": "a", "w": w, "n": n});
                let (status, v) = post_event(&http, &base, &delivery, "push", &body)
                    .await
                    .unwrap_or_else(|e| panic!("POST {delivery} to {base}: {e}"));
                assert_eq!((status, &v["duplicate"]), (200, &json!(false)), "{v}");
                ids.push(v["id"].as_str().unwrap().to_owned());
            }
            ids
        });
    }
    let mut normal = Vec::new();
    while let Some(ids) = senders.join_next().await {
        normal.extend(ids.unwrap());
    }
    if until(LONG, || async {
        all_delivered(&consumer.received().await, &normal).then_some(())
    })
    .await
    .is_none()
    {
        panic!(
            "not every event was delivered\n{}",
            delivery_diagnostics(&servers, &consumer).await
        );
    }
    // Once the servers have recorded every outcome nothing is in flight any more: then
    // each event reached the consumer exactly once, under one webhook-id.
    eventually("every delivery recorded as delivered", || async {
        (deliveries_in(&servers[0], &key, "delivered").await == normal.len() as u64).then_some(())
    })
    .await;
    let records = consumer.received().await;
    assert_consistent(&records, &normal);
    let mut per_webhook_id: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &records {
        *per_webhook_id
            .entry(r["webhook_id"].as_str().unwrap())
            .or_default() += 1;
    }
    let twice: Vec<_> = per_webhook_id.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(per_webhook_id.len(), normal.len(), "{records:?}");
    eprintln!(
        "normal operation: {} events, each delivered once ({:?})",
        normal.len(),
        started.elapsed()
    );

    // Now with kill -9: slow answers keep deliveries in flight at the consumer, senders
    // stream over the three until one instance is killed, the two others carry on, the
    // killed one comes back.
    consumer
        .set_mode(json!({"mode": "up", "delay_ms": 200}))
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    // (base, provider event id) of each send that got no answer.
    let failed: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let mut senders = tokio::task::JoinSet::new();
    for w in 0..6 {
        let (lb, stop, acked, failed) = (lb.clone(), stop.clone(), acked.clone(), failed.clone());
        senders.spawn(async move {
            let http = harness::http();
            for n in 0..100_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (_, base, _guard) = lb.pick();
                let delivery = format!("b{w}-{n}");
                let body = json!({"phase": "b", "w": w, "n": n});
                match post_event(&http, &base, &delivery, "push", &body).await {
                    Ok((200, v)) => {
                        let id = v["id"].as_str().unwrap().to_owned();
                        acked.lock().unwrap().push((delivery, id, base));
                    }
                    Ok((status, v)) => panic!("{delivery} to {base} answered {status}: {v}"),
                    Err(_) => failed.lock().unwrap().push((base, delivery)),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }
    let count = || acked.lock().unwrap().len();
    eventually("60 webhooks acknowledged before the kill", || async {
        (count() >= 60).then_some(())
    })
    .await;
    let killed_base = servers[1].base.clone();
    servers[1].signal("KILL");
    lb.take_out(1);
    let at_kill = count();
    eventually(
        "40 more webhooks acknowledged by the two others",
        || async { (count() >= at_kill + 40).then_some(()) },
    )
    .await;
    servers[1].wait_exit();
    servers[1] = Server::start(dir.path(), &["--dev"], &envs).await;
    let back = servers[1].base.clone();
    lb.put_in(1, &back);
    eventually(
        "20 webhooks acknowledged by the restarted instance",
        || async {
            let n = acked.lock().unwrap().iter().filter(|a| a.2 == back).count();
            (n >= 20).then_some(())
        },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    while let Some(r) = senders.join_next().await {
        r.unwrap();
    }
    consumer.set_mode(json!({"mode": "up"})).await;
    let acked = acked.lock().unwrap().clone();
    let failed = failed.lock().unwrap().clone();
    for (base, delivery) in &failed {
        assert_eq!(
            base, &killed_base,
            "{delivery} got no answer from an instance that was not killed"
        );
    }
    eprintln!(
        "kill -9: {} acknowledged ({} before the kill), {} unanswered by the killed instance",
        acked.len(),
        at_kill,
        failed.len()
    );

    // Every acknowledged event is stored once, with the id it was acknowledged with; no
    // provider event id has two rows.
    let stored = stored_events(&schema).await;
    let by_id: BTreeMap<&str, &str> = stored
        .iter()
        .map(|(id, pid)| (id.as_str(), pid.as_str()))
        .collect();
    let distinct: BTreeSet<&str> = stored.iter().map(|(_, pid)| pid.as_str()).collect();
    assert_eq!(
        stored.len(),
        distinct.len(),
        "a provider event id has two rows"
    );
    for (delivery, id, base) in &acked {
        assert_eq!(
            by_id.get(id.as_str()),
            Some(&delivery.as_str()),
            "{delivery}, acknowledged by {base} as {id}, is not stored"
        );
    }

    // Every stored event (the acknowledged ones, and any stored just before the kill
    // whose answer was lost) is delivered, verified by `standardwebhooks`, each under one
    // webhook-id; the killed instance's leases are taken over once they expire.
    let all: Vec<String> = stored.iter().map(|(id, _)| id.clone()).collect();
    let Some(records) = until(LONG, || async {
        let r = consumer.received().await;
        all_delivered(&r, &all).then_some(r)
    })
    .await
    else {
        panic!(
            "not every stored event was delivered\n{}",
            delivery_diagnostics(&servers, &consumer).await
        );
    };
    assert_consistent(&records, &all);
    for (_, id, _) in &acked {
        assert!(for_event(&records, id).into_iter().any(is_delivery), "{id}");
    }
    eventually("the servers to record every delivery", || async {
        let delivered = deliveries_in(&servers[0], &key, "delivered").await;
        (delivered == all.len() as u64).then_some(())
    })
    .await;
    assert_eq!(deliveries_in(&servers[2], &key, "dead").await, 0);
    eprintln!("done in {:?}", started.elapsed());
}

// ---- one audit chain from three instances -----------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_on_three_instances_make_one_verifiable_audit_chain() {
    let started = Instant::now();
    let schema = pg_schema().await;
    let dir = sandbox();
    let mut toml = format!(
        "[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"{WEBHOOK_SECRET}\"]\n"
    );
    // One destination per instance, and one that all three switch at once.
    for d in ["d0", "d1", "d2", "shared"] {
        toml.push_str(&format!(
            "\n[[destinations]]\nid = \"{d}\"\nurl = \"http://127.0.0.1:9/{d}\"\nsecret = \"{}\"\n\
             integrations = [\"gh\"]\nevent_types = [\"*\"]\n",
            whsec()
        ));
    }
    std::fs::write(dir.path().join("switchboard.toml"), toml).unwrap();
    let envs = [("SWITCHBOARD_DATABASE_URL", schema.url.as_str())];
    let (servers, key) = start_three(dir.path(), &envs).await;

    // What the three wrote while starting (the first admin key).
    let verify = || run(dir.path(), &["audit", "verify", "--json"], &envs);
    let out = verify();
    out.success();
    let startup = out.json()["rows_checked"].as_u64().unwrap();
    assert!(startup >= 1, "{}", out.stdout);

    // Each instance, concurrently: API keys created and revoked, its own destination
    // disabled and enabled, and the shared destination switched by all three at once
    // (only a switch that changed something is an action). Beside them, CLI verbs on the
    // same database block and disable the integration.
    let mut tasks = tokio::task::JoinSet::new();
    for (i, s) in servers.iter().enumerate() {
        let (http, base, key) = (s.http().clone(), s.base.clone(), key.clone());
        tasks.spawn(async move {
            let mut actions: BTreeMap<String, u64> = BTreeMap::new();
            let mut count = |a: &str| *actions.entry(a.to_owned()).or_default() += 1;
            for round in 0..8 {
                let (status, v) = post_json(
                    &http,
                    &format!("{base}/api/api-keys"),
                    &key,
                    &json!({"name": format!("k{i}-{round}"), "scope": "app"}),
                )
                .await;
                assert_eq!(status, 201, "{v}");
                count("api_key.create");
                let id = v["id"].as_str().unwrap();
                let url = format!("{base}/api/api-keys/{id}/revoke");
                let (status, v) = post_json(&http, &url, &key, &json!({})).await;
                assert_eq!(status, 200, "{v}");
                count("api_key.revoke");
                for (dest, what) in [
                    (format!("d{i}"), "disable"),
                    (format!("d{i}"), "enable"),
                    ("shared".to_owned(), "disable"),
                    ("shared".to_owned(), "enable"),
                ] {
                    let url = format!("{base}/api/destinations/{dest}/{what}");
                    let (status, v) = post_json(&http, &url, &key, &json!({})).await;
                    assert_eq!(status, 200, "POST {url}: {v}");
                    if v["changed"] == true {
                        count(&format!("destination.{what}"));
                    } else {
                        assert!(dest == "shared", "{dest} {what} changed nothing: {v}");
                    }
                }
            }
            actions
        });
    }
    let cli = {
        let dir = dir.path().to_owned();
        let url = schema.url.clone();
        tokio::task::spawn_blocking(move || {
            let envs = [("SWITCHBOARD_DATABASE_URL", url.as_str())];
            let mut actions: BTreeMap<String, u64> = BTreeMap::new();
            for _ in 0..2 {
                for (verb, what, action) in [
                    ("webhook", "block", "webhook.block"),
                    ("webhook", "unblock", "webhook.unblock"),
                    ("integration", "disable", "integration.disable"),
                    ("integration", "enable", "integration.enable"),
                ] {
                    run(&dir, &[verb, what, "gh"], &envs).success();
                    *actions.entry(action.to_owned()).or_default() += 1;
                }
            }
            actions
        })
    };
    let mut actions: BTreeMap<String, u64> = cli.await.unwrap();
    while let Some(a) = tasks.join_next().await {
        for (k, n) in a.unwrap() {
            *actions.entry(k).or_default() += n;
        }
    }
    let total: u64 = actions.values().sum();

    // One chain: `audit verify` (the CLI, on the same database) passes and counts one row
    // per action besides the startup ones; every instance verifies and lists the same.
    let out = verify();
    out.success();
    let v = out.json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        v["rows_checked"].as_u64(),
        Some(startup + total),
        "{startup} startup rows and {total} actions {actions:?}: {v}"
    );
    let mut lists = Vec::new();
    for s in &servers {
        let v = s.get_json("/api/audit/verify", &key).await;
        assert_eq!(v["ok"], true, "{v}");
        let rows = s.audit_rows(&key).await;
        let seqs: Vec<u64> = rows.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
        let expected: Vec<u64> = (1..=startup + total).rev().collect();
        assert_eq!(seqs, expected, "seq is not gapless and newest first");
        lists.push(rows);
    }
    assert!(
        lists.windows(2).all(|w| w[0] == w[1]),
        "the instances disagree"
    );
    let mut listed: BTreeMap<String, u64> = BTreeMap::new();
    for r in lists[0].iter().rev().skip(startup as usize) {
        *listed
            .entry(r["action"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(listed, actions, "the audit log does not match the actions");
    eprintln!(
        "{total} actions from three instances and the CLI: {actions:?} ({:?})",
        started.elapsed()
    );
}
