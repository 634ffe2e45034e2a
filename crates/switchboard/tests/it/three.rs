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

// ---- key rotation while three instances serve --------------------------------------------

/// Secrets sealed straight into the table beside the connections' own, so that the
/// rotation has enough rows to be caught half-way.
const SEEDED: usize = 1000;

/// The plaintext of seeded secret `i`.
fn seeded_plaintext(i: usize) -> String {
    format!("seeded-secret-{i}")
}

/// Inserts the seeded secrets (owner `seed`, name `value`) sealed under `key`.
async fn seed_secrets(schema: &PgSchema, key: &MasterKey) {
    let ring = Keyring::new(key.clone(), vec![]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&schema.url)
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    for i in 0..SEEDED {
        let owner_id = format!("s{i:05}");
        let sealed = ring
            .seal(
                seeded_plaintext(i).as_bytes(),
                Aad::new("seed", "value", &owner_id),
            )
            .unwrap();
        sqlx::query(
            "INSERT INTO secrets (owner, owner_id, name, key_id, ciphertext, version, updated_at) \
             VALUES ('seed', $1, 'value', $2, $3, 1, 0)",
        )
        .bind(&owner_id)
        .bind(key.id().to_string())
        .bind(&sealed)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;
}

/// The environment of an instance whose key ring is `primary` and `old`.
fn ring_envs(url: &str, primary: &MasterKey, old: Option<&MasterKey>) -> Vec<(String, String)> {
    let b64 = |k: &MasterKey| k.to_base64().expose_secret().to_owned();
    let mut envs = vec![
        ("SWITCHBOARD_DATABASE_URL".to_owned(), url.to_owned()),
        ("ACME_CLIENT_SECRET".to_owned(), CLIENT_SECRET.to_owned()),
        ("SWITCHBOARD_MASTER_KEY".to_owned(), b64(primary)),
    ];
    if let Some(old) = old {
        envs.push(("SWITCHBOARD_OLD_MASTER_KEYS".to_owned(), b64(old)));
    }
    envs
}

/// Restarts the instances one at a time with `envs`, each taken out of the balancer and
/// drained first, then stopped with SIGTERM; the others keep serving meanwhile.
async fn rolling_restart(
    servers: &mut [Server],
    lb: &Balancer,
    dir: &Path,
    envs: &[(String, String)],
) {
    for (i, server) in servers.iter_mut().enumerate() {
        lb.drain(i).await;
        server.stop();
        *server = Server::start(dir, &["--dev"], &env_refs(envs)).await;
        let stderr = server.stderr();
        assert!(
            !stderr.contains("not configured"),
            "instance {i} found secrets it cannot open:\n{stderr}"
        );
        lb.put_in(i, &server.base);
    }
}

/// Waits until `served` has moved past `from`: the traffic is still being answered.
async fn served_past(served: &AtomicUsize, from: usize, what: &str) -> usize {
    eventually(what, || async {
        let n = served.load(Ordering::SeqCst);
        (n > from).then_some(n)
    })
    .await
}

/// The connections the traffic uses.
const CONNECTIONS: [&str; 4] = ["c0", "c1", "c2", "c3"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_while_three_instances_serve_fails_no_request() {
    let started = Instant::now();
    let schema = pg_schema().await;
    let peer = connect::peer(&[]);
    let dir = sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            r#"[[providers]]
id = "acme"
issuer = "{issuer}"
api_base_url = "{issuer}"

[[integrations]]
id = "acme"
provider = "acme"
client_id = "{client_id}"
client_secret = "env:ACME_CLIENT_SECRET"
scopes = ["openid", "email", "api:read"]
allowed_return_origins = ["http://127.0.0.1:9"]

[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["{WEBHOOK_SECRET}"]
"#,
            issuer = peer.issuer,
            client_id = connect::CLIENT_ID,
        ),
    )
    .unwrap();
    let (a, b) = (
        MasterKey::generate().unwrap(),
        MasterKey::generate().unwrap(),
    );
    let url = schema.url.clone();

    // Three instances under key A, four connections made through the real flow, and
    // the seeded secrets, all sealed under A.
    let under_a = ring_envs(&url, &a, None);
    let (mut servers, key) = start_three(dir.path(), &env_refs(&under_a)).await;
    {
        let app = App {
            server: &servers[0],
            key: key.clone(),
        };
        for c in CONNECTIONS {
            let done = app.connect("acme", c).await;
            assert!(done.contains("status=connected"), "{done}");
        }
    }
    seed_secrets(&schema, &a).await;
    let total_secrets = schema.count("SELECT COUNT(*) FROM secrets").await;
    assert!(total_secrets > SEEDED as i64, "no connection secret stored");
    let a_id = a.id().to_string();
    assert_eq!(
        schema
            .count(&format!(
                "SELECT COUNT(*) FROM secrets WHERE key_id = '{a_id}'"
            ))
            .await,
        total_secrets
    );

    // Traffic through the balancer from four workers until the end: token requests,
    // proxy calls (the provider's userinfo), webhooks, and forced refreshes (which write
    // new credentials under whichever key is primary). Any answer but 2xx is a failure.
    let lb = Balancer::new(&servers);
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4usize {
        let (lb, stop, served, failures, key) = (
            lb.clone(),
            stop.clone(),
            served.clone(),
            failures.clone(),
            key.clone(),
        );
        workers.spawn(async move {
            let http = harness::http();
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                let c = CONNECTIONS[(w + k) % CONNECTIONS.len()];
                let (_, base, _guard) = lb.pick();
                let (what, result) = match k % 4 {
                    0 => {
                        let what = format!("GET {base}/api/connections/{c}/token");
                        let r = http
                            .get(format!("{base}/api/connections/{c}/token"))
                            .bearer_auth(&key)
                            .send()
                            .await;
                        (what, r)
                    }
                    1 => {
                        let what = format!("GET {base}/api/proxy/{c}/me");
                        let r = http
                            .get(format!("{base}/api/proxy/{c}/me"))
                            .bearer_auth(&key)
                            .send()
                            .await;
                        (what, r)
                    }
                    2 => {
                        let delivery = format!("r{w}-{k}");
                        let what = format!("webhook {delivery} to {base}");
                        match post_event(&http, &base, &delivery, "push", &json!({"k": k})).await {
                            Ok((200, _)) => {
                                served.fetch_add(1, Ordering::SeqCst);
                                continue;
                            }
                            Ok((status, v)) => {
                                failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("{what}: {status} {v}"));
                                continue;
                            }
                            Err(e) => {
                                failures.lock().unwrap().push(format!("{what}: {e}"));
                                continue;
                            }
                        }
                    }
                    _ if w < 2 => {
                        // Worker w refreshes connection w, and only c0 and c1 are
                        // refreshed: refreshes of one connection never race here
                        // (connect.rs tests that), and the credentials of c2 and c3 stay
                        // under key A until `keys rotate` rewrites them.
                        let own = CONNECTIONS[w];
                        let what = format!("POST {base}/api/connections/{own}/refresh");
                        let r = http
                            .post(format!("{base}/api/connections/{own}/refresh"))
                            .bearer_auth(&key)
                            .json(&json!({}))
                            .send()
                            .await;
                        (what, r)
                    }
                    _ => {
                        let what = format!("GET {base}/api/connections/{c}");
                        let r = http
                            .get(format!("{base}/api/connections/{c}"))
                            .bearer_auth(&key)
                            .send()
                            .await;
                        (what, r)
                    }
                };
                match result {
                    Ok(r) if r.status().is_success() => {
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => {
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{what}: {status} {body}"));
                    }
                    Err(e) => failures.lock().unwrap().push(format!("{what}: {e}")),
                }
            }
        });
    }
    let mut mark = served_past(&served, 20, "traffic under key A").await;

    // 1. Every instance learns key B (to open only), one restart at a time: an instance
    //    with B as its primary must never meet one that cannot open what it sealed.
    rolling_restart(
        &mut servers,
        &lb,
        dir.path(),
        &ring_envs(&url, &a, Some(&b)),
    )
    .await;
    mark = served_past(&served, mark, "traffic with B in every key ring").await;
    // 2. B becomes the primary everywhere, A stays to open.
    let b_then_a = ring_envs(&url, &b, Some(&a));
    rolling_restart(&mut servers, &lb, dir.path(), &b_then_a).await;
    served_past(&served, mark, "traffic with B primary").await;

    // 3. `keys rotate` while the three serve; the traffic is answered while the rotation
    //    is half done (some secrets under B, some still under A).
    let rotate = {
        let dir = dir.path().to_owned();
        let envs = b_then_a.clone();
        tokio::task::spawn_blocking(move || {
            run(
                &dir,
                &["keys", "rotate", "--json", "--batch-size", "1"],
                &env_refs(&envs),
            )
        })
    };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let b_id = b.id().to_string();
    let mut half_done: Option<(usize, usize)> = None;
    while !rotate.is_finished() {
        let under_a: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secrets WHERE key_id = $1")
            .bind(&a_id)
            .fetch_one(&pool)
            .await
            .unwrap();
        let under_b: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secrets WHERE key_id = $1")
            .bind(&b_id)
            .fetch_one(&pool)
            .await
            .unwrap();
        if under_a > 0 && under_b > 0 {
            let now = served.load(Ordering::SeqCst);
            half_done = Some(half_done.map_or((now, now), |(first, _)| (first, now)));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let out = rotate.await.unwrap();
    out.success();
    let v = out.json();
    assert_eq!(v["primary_key_id"], b_id.as_str(), "{v}");
    // The seeded secrets and the credentials of the connections nobody refreshed.
    assert!(
        v["rewritten"].as_u64().unwrap() >= SEEDED as u64 + 2,
        "keys rotate rewrote too little: {v}"
    );
    let (first, last) = half_done.expect("the rotation was never seen half done");
    assert!(
        last > first,
        "no request was answered while the rotation was half done"
    );
    eprintln!(
        "keys rotate: {v}; {} requests answered while it was half done",
        last - first
    );
    let not_b: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secrets WHERE key_id <> $1")
        .bind(&b_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(not_b, 0, "secrets left under another key than B");
    mark = served_past(&served, last, "traffic after the rotation").await;

    // 4. A leaves the key rings: every instance restarts with B alone and keeps serving.
    let only_b = ring_envs(&url, &b, None);
    rolling_restart(&mut servers, &lb, dir.path(), &only_b).await;
    served_past(&served, mark, "traffic with B alone").await;
    stop.store(true, Ordering::Relaxed);
    while let Some(r) = workers.join_next().await {
        r.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} request(s) failed during the rotation: {failures:#?}",
        failures.len()
    );
    let n_served = served.load(Ordering::SeqCst);

    // Every secret is under B: the seeded ones open with B alone; every instance opens
    // every connection's credentials (a token, a proxied call) with B alone.
    let rows: Vec<(String, String, Vec<u8>)> = sqlx::query_as(
        "SELECT owner_id, key_id, ciphertext FROM secrets WHERE owner = 'seed' ORDER BY owner_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(rows.len(), SEEDED);
    let ring = Keyring::new(b.clone(), vec![]);
    for (owner_id, key_id, ct) in &rows {
        assert_eq!(key_id, &b_id, "{owner_id}");
        let i: usize = owner_id[1..].parse().unwrap();
        let plain = ring
            .open(ct, Aad::new("seed", "value", owner_id))
            .unwrap_or_else(|e| panic!("{owner_id}: {e}"));
        assert_eq!(plain.expose_secret(), seeded_plaintext(i).as_bytes());
    }
    for s in &servers {
        for c in CONNECTIONS {
            let v = s
                .get_json(&format!("/api/connections/{c}/token"), &key)
                .await;
            assert!(v["access_token"].as_str().is_some_and(|t| !t.is_empty()));
            let r = s.get(&format!("/api/proxy/{c}/me"), Some(&key)).await;
            assert_eq!(r.status(), 200, "{c} through {}", s.base);
        }
    }
    let audit = servers[0].audit_rows(&key).await;
    for action in ["keys.rotate.start", "keys.rotate.finish"] {
        assert!(audit.iter().any(|r| r["action"] == action), "no {action}");
    }
    eprintln!(
        "{n_served} requests answered, none failed ({:?})",
        started.elapsed()
    );
}
