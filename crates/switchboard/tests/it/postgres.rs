//! The binary on PostgreSQL: `database_url = "postgres://…"` selects the PostgreSQL
//! store for `serve` and the offline verbs, a bad URL stops startup naming the setting
//! (never its password), intake keeps its promises through `kill -9`, and `/readyz`
//! follows a database that goes away and comes back.
//!
//! The server is `SWITCHBOARD_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), as for the store-postgres tests. Each test
//! gets a schema of its own (`sb_it_<pid>_<random>`, reached with `options[search_path]`
//! in the URL and dropped afterwards). An unreachable server fails the test saying what to
//! do, unless `SWITCHBOARD_TEST_PG=skip`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hmac::{KeyInit, Mac};

use crate::harness::{Server, eventually, free_port, run, sandbox};

const SECRET: &str = "pg-e2e-secret";

/// `n` random bytes as hex.
fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("random bytes");
    hex::encode(b)
}

/// A schema of its own on the test server (`sb_it_<pid>_<random>`), dropped with
/// everything in it on drop.
pub(crate) type PgSchema = store_postgres::testing::TestSchema;

/// A fresh schema for one end-to-end test.
pub(crate) async fn pg_schema() -> PgSchema {
    PgSchema::new("sb_it").await
}

fn write_config(dir: &std::path::Path) {
    std::fs::write(
        dir.join("switchboard.toml"),
        format!("[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"{SECRET}\"]\n"),
    )
    .unwrap();
}

/// Posts `delivery` as a signed GitHub push; the status and the JSON answer.
async fn post_delivery(server: &Server, delivery: &str) -> (u16, serde_json::Value) {
    let body = format!(r#"{{"delivery":"{delivery}"}}"#);
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(m.finalize().into_bytes()));
    let r = server
        .http()
        .post(server.url("/webhooks/gh/event"))
        .header("X-GitHub-Delivery", delivery)
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Fails the test if `secret` appears in either output stream.
#[track_caller]
fn assert_absent(secret: &str, stdout: &str, stderr: &str, what: &str) {
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "{what} printed the password\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

#[tokio::test]
async fn an_unreachable_or_wrong_postgres_url_stops_startup_naming_the_setting() {
    let dir = sandbox();
    let password = format!("pw-{}", random_hex(8));
    // Nothing listens on a port that was free a moment ago; the test server has no such
    // database.
    let closed = format!(
        "postgres://switchboard:{password}@127.0.0.1:{}/switchboard",
        free_port()
    );
    let admin = url_without_database(&store_postgres::testing::admin_url());
    let missing_db = format!(
        "postgresql://postgres:{password}@{admin}/sb_no_such_db_{}",
        random_hex(4)
    );
    let in_query = format!(
        "postgres://127.0.0.1:{}/switchboard?user=switchboard&password={password}",
        free_port()
    );
    for url in [&closed, &missing_db, &in_query] {
        // `serve` from the environment variable.
        let out = run(
            dir.path(),
            &["serve", "--dev", "--listen", "127.0.0.1:0"],
            &[("SWITCHBOARD_DATABASE_URL", url)],
        );
        out.exit_code(2)
            .stderr_has(&["database_url", "SWITCHBOARD_DATABASE_URL", "***"]);
        assert_absent(&password, &out.stdout, &out.stderr, "serve");

        // `migrate --json` from the file: the JSON error names the setting and the file.
        std::fs::write(
            dir.path().join("switchboard.toml"),
            format!("database_url = {url:?}\n"),
        )
        .unwrap();
        let out = run(dir.path(), &["migrate", "--json"], &[]);
        out.exit_code(2);
        let v = out.json();
        assert_eq!(v["error"]["code"], "database", "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        for needle in [
            "database_url",
            "switchboard.toml",
            "SWITCHBOARD_DATABASE_URL",
        ] {
            assert!(message.contains(needle), "{needle:?} not in {message}");
        }
        assert_absent(&password, &out.stdout, &out.stderr, "migrate");

        // `config check` shows the URL without its password.
        let out = run(dir.path(), &["config", "check"], &[]);
        assert_absent(&password, &out.stdout, &out.stderr, "config check");
        std::fs::remove_file(dir.path().join("switchboard.toml")).unwrap();
    }
    // No SQLite file was made as a fallback.
    assert!(!dir.path().join("switchboard.db").exists());
}

/// `host:port` of a PostgreSQL URL (the part between `@` or `//` and the path).
fn url_without_database(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_on_postgres_are_stored_deduplicated_and_survive_kill_9() {
    let schema = pg_schema().await;
    let dir = sandbox();
    write_config(dir.path());
    let envs = [("SWITCHBOARD_DATABASE_URL", schema.url.as_str())];

    // `migrate` applies the PostgreSQL migrations and says which database it is.
    let out = run(dir.path(), &["migrate", "--json"], &envs);
    out.success();
    let v = out.json();
    assert_eq!(v["database"], "postgres", "{v}");
    assert!(v["applied"].as_u64().unwrap() > 0, "{v}");

    let server = Server::start(dir.path(), &["--dev"], &envs).await;
    let key = server.printed_admin_key();
    let (status, first) = post_delivery(&server, "pg-1").await;
    assert_eq!(status, 200, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(first["duplicate"], false, "{first}");
    let (status, again) = post_delivery(&server, "pg-1").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["id"], id.as_str(), "{again}");
    let list = server.get_json("/api/events?integration=gh", &key).await;
    let listed: Vec<&serde_json::Value> = list["data"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1, "{list}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["provider_event_id"], "pg-1");
    // The row is in the PostgreSQL schema, and no SQLite file was made.
    assert_eq!(
        schema
            .count("SELECT COUNT(*) FROM events WHERE provider_event_id = 'pg-1'")
            .await,
        1
    );
    assert!(!dir.path().join("switchboard.db").exists());

    // kill -9, then start again on the same database: the event is there, still
    // deduplicated, and the first admin key still works (it was stored, not re-made).
    server.signal("KILL");
    drop(server);
    let mut server = Server::start(dir.path(), &["--dev"], &envs).await;
    assert!(
        crate::harness::find_api_keys(&server.stdout()).is_empty(),
        "a second admin key was made:\n{}",
        server.stdout()
    );
    let shown = server.get_json(&format!("/api/events/{id}"), &key).await;
    assert_eq!(shown["provider_event_id"], "pg-1", "{shown}");
    let (status, after) = post_delivery(&server, "pg-1").await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["duplicate"], true, "{after}");
    assert_eq!(after["id"], id.as_str(), "{after}");
    let (status, second) = post_delivery(&server, "pg-2").await;
    assert_eq!((status, &second["duplicate"]), (200, &false.into()));
    let list = server.get_json("/api/events?integration=gh", &key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
    server.stop();

    // An offline verb reads the same database.
    let out = run(dir.path(), &["audit", "verify", "--json"], &envs);
    out.success();
    assert_eq!(
        schema
            .count("SELECT COUNT(*) FROM events WHERE integration = 'gh'")
            .await,
        2
    );
}

/// A TCP relay to the test server that can be cut: while cut, it closes every relayed
/// connection and every new one, as a database that went away would.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    live: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let live = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (is_up, tasks) = (up.clone(), live.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !is_up.load(Ordering::SeqCst) {
                    continue;
                }
                let target = target.clone();
                let relayed = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(relayed.abort_handle());
            }
        });
        Self { port, up, live }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.live.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_a_postgres_database_that_goes_away_and_comes_back() {
    let schema = pg_schema().await;
    let hostport = url_without_database(&schema.url);
    let relay = Relay::start(hostport.clone()).await;
    let url = schema
        .url
        .replacen(&hostport, &format!("127.0.0.1:{}", relay.port), 1);
    let dir = sandbox();
    write_config(dir.path());
    let envs = [("SWITCHBOARD_DATABASE_URL", url.as_str())];
    let server = Server::start(dir.path(), &["--dev"], &envs).await;
    let key = server.printed_admin_key();
    let (status, v) = post_delivery(&server, "before").await;
    assert_eq!(status, 200, "{v}");

    relay.cut();
    eventually("/readyz to fail while the database is away", || async {
        (server.get("/readyz", None).await.status() == 503).then_some(())
    })
    .await;
    let res = server.get("/api/events", Some(&key)).await;
    assert_eq!(res.status(), 503, "{:?}", res.text().await);

    // Back without a restart.
    relay.restore();
    eventually("/readyz to pass again", || async {
        (server.get("/readyz", None).await.status() == 200).then_some(())
    })
    .await;
    let (status, v) = post_delivery(&server, "after").await;
    assert_eq!(status, 200, "{v}");
    let list = server.get_json("/api/events?integration=gh", &key).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
}

/// Two instances on one schema, with API-key records cached for five minutes: a key
/// revoked through one is refused by the other as soon as the revocation's notification
/// arrives, long before the cache would have let go of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_instance_is_refused_by_another_long_before_its_cache_expires() {
    let schema = pg_schema().await;
    let dir = sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "api_key_cache_secs = 300\n",
    )
    .unwrap();
    let envs = [("SWITCHBOARD_DATABASE_URL", schema.url.as_str())];
    let a = Server::start(dir.path(), &["--dev"], &envs).await;
    let admin = a.printed_admin_key();
    let b = Server::start(dir.path(), &["--dev"], &envs).await;

    let created: serde_json::Value = a
        .http()
        .post(a.url("/api/api-keys"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"name": "app", "scope": "app"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (id, key) = (
        created["id"].as_str().unwrap().to_owned(),
        created["key"].as_str().unwrap().to_owned(),
    );
    // B checks the key, and keeps its record for 300 s.
    for server in [&a, &b] {
        assert_eq!(server.get("/api/events", Some(&key)).await.status(), 200);
    }
    let revoked = a
        .http()
        .post(a.url(&format!("/api/api-keys/{id}/revoke")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(a.get("/api/events", Some(&key)).await.status(), 401);
    // The bound is the harness's 30 s, a tenth of the cache's life.
    eventually("instance B to refuse the revoked key", || async {
        (b.get("/api/events", Some(&key)).await.status() == 401).then_some(())
    })
    .await;
    // The admin key, untouched, still works on both.
    for server in [&a, &b] {
        assert_eq!(server.get("/api/events", Some(&admin)).await.status(), 200);
    }
}
