//! Webhook intake on the real binary: durable before 2xx, even through `kill -9`, on
//! SQLite and on PostgreSQL.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hmac::{KeyInit, Mac};

use crate::harness::{Server, open_db, sandbox};

const SECRET: &str = "crash-test-secret";

fn github_signature(body: &[u8]) -> String {
    // Independent of our signer: HMAC-SHA256 straight from RustCrypto.
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

fn write_config(dir: &std::path::Path) {
    std::fs::write(
        dir.join("switchboard.toml"),
        format!("[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"{SECRET}\"]\n"),
    )
    .unwrap();
}

/// The body a sender posts for `delivery` (about 1 KiB).
fn body_of(delivery: &str) -> String {
    format!(r#"{{"delivery":"{delivery}","pad":"{}"}}"#, "x".repeat(900))
}

/// Posts `delivery` as a signed GitHub push; the status and the JSON answer, or the
/// transport error (the server is gone, or the answer was cut).
async fn post_delivery(
    http: &reqwest::Client,
    url: &str,
    delivery: &str,
) -> Result<(u16, serde_json::Value), reqwest::Error> {
    let body = body_of(delivery);
    let r = http
        .post(url)
        .header("X-GitHub-Delivery", delivery)
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", github_signature(body.as_bytes()))
        .body(body)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

/// What one sender saw before the kill.
struct Sent {
    /// (provider event id, Switchboard event id) of every send answered 200, in order.
    acked: Vec<(String, String)>,
    /// The send whose answer never came: stored or not, nobody knows.
    unanswered: Option<String>,
}

/// The events table of the database a test's servers use, read beside them.
enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    /// The sandbox's SQLite file, or the PostgreSQL database at `url`.
    async fn open(dir: &std::path::Path, url: Option<&str>) -> Self {
        match url {
            None => Self::Sqlite(open_db(dir).await),
            Some(url) => Self::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .unwrap(),
            ),
        }
    }

    async fn close(self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Postgres(p) => p.close().await,
        }
    }

    /// The provider event id of the event `id`, if it is stored.
    async fn provider_event_id(&self, id: &str) -> Option<String> {
        match self {
            Self::Sqlite(p) => {
                sqlx::query_scalar("SELECT provider_event_id FROM events WHERE id = ?")
                    .bind(id)
                    .fetch_optional(p)
                    .await
            }
            Self::Postgres(p) => {
                sqlx::query_scalar("SELECT provider_event_id FROM events WHERE id = $1")
                    .bind(id)
                    .fetch_optional(p)
                    .await
            }
        }
        .unwrap()
    }

    /// Rows and distinct provider event ids of integration `gh`.
    async fn rows_and_distinct(&self) -> (i64, i64) {
        const SQL: &str = "SELECT COUNT(*), COUNT(DISTINCT provider_event_id) FROM events \
                           WHERE integration = 'gh'";
        match self {
            Self::Sqlite(p) => sqlx::query_as(SQL).fetch_one(p).await,
            Self::Postgres(p) => sqlx::query_as(SQL).fetch_one(p).await,
        }
        .unwrap()
    }

    /// Rows of integration `gh` with provider event id `delivery`.
    async fn rows_of(&self, delivery: &str) -> i64 {
        match self {
            Self::Sqlite(p) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM events WHERE integration = 'gh' AND provider_event_id = ?",
            )
            .bind(delivery)
            .fetch_one(p)
            .await,
            Self::Postgres(p) => sqlx::query_scalar(
                "SELECT COUNT(*) FROM events WHERE integration = 'gh' AND provider_event_id = $1",
            )
            .bind(delivery)
            .fetch_one(p)
            .await,
        }
        .unwrap()
    }
}

#[tokio::test]
async fn every_acknowledged_webhook_survives_kill_9() {
    acknowledged_webhooks_survive_kill_9(None).await;
}

#[tokio::test]
async fn every_acknowledged_webhook_survives_kill_9_on_postgres() {
    let schema = crate::postgres::pg_schema().await;
    acknowledged_webhooks_survive_kill_9(Some(&schema.url)).await;
}

/// Eight senders stream signed webhooks until `kill -9`; every one acknowledged 2xx is
/// stored once, on the sandbox's SQLite file or on the PostgreSQL database at
/// `database_url`, and the restarted server still deduplicates.
async fn acknowledged_webhooks_survive_kill_9(database_url: Option<&str>) {
    let dir = sandbox();
    write_config(dir.path());
    let envs: Vec<(&str, &str)> = database_url
        .map(|url| ("SWITCHBOARD_DATABASE_URL", url))
        .into_iter()
        .collect();
    let server = Server::start(dir.path(), &["--dev"], &envs).await;
    let url = server.url("/webhooks/gh/event");
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (url, stop, acks) = (url.clone(), stop.clone(), acks.clone());
        workers.push(tokio::spawn(async move {
            let http = crate::harness::client_builder().build().unwrap();
            let mut sent = Sent {
                acked: Vec::new(),
                unanswered: None,
            };
            for n in 0..100_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let delivery = format!("w{w}-n{n}");
                match post_delivery(&http, &url, &delivery).await {
                    Ok((200, v)) => {
                        let id = v["id"].as_str().unwrap().to_owned();
                        sent.acked.push((delivery, id));
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok((status, v)) => panic!("unexpected status {status}: {v}"),
                    Err(_) => {
                        sent.unanswered = Some(delivery);
                        break;
                    }
                }
            }
            sent
        }));
    }
    // Let a stream build up (300 acknowledged: counted by the senders, since a stored
    // event's answer may still be on its way), then kill -9 in the middle of it.
    for _ in 0..600 {
        if acks.load(Ordering::Relaxed) >= 300 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.signal("KILL");
    stop.store(true, Ordering::Relaxed);
    let mut senders = Vec::new();
    for w in workers {
        senders.push(w.await.unwrap());
    }
    let acked: Vec<&(String, String)> = senders.iter().flat_map(|s| &s.acked).collect();
    assert!(
        acked.len() >= 300,
        "only {} acknowledged before the kill",
        acked.len()
    );
    for (w, s) in senders.iter().enumerate() {
        assert!(!s.acked.is_empty(), "sender {w} had nothing acknowledged");
    }
    drop(server);

    // Every acknowledged event is in the database after the crash (WAL recovery on open),
    // with the id it was acknowledged with.
    let db = Db::open(dir.path(), database_url).await;
    for (delivery, id) in &acked {
        let found = db.provider_event_id(id).await;
        assert_eq!(
            found.as_deref(),
            Some(delivery.as_str()),
            "acknowledged {id} lost"
        );
    }
    db.close().await;

    // The server starts again on the same database and still deduplicates: the first and the
    // last acknowledged event of every sender come back as duplicates with their ids.
    let mut server = Server::start(dir.path(), &["--dev"], &envs).await;
    let url = server.url("/webhooks/gh/event");
    let http = server.http().clone();
    let mut reposted = Vec::new();
    for s in &senders {
        for (delivery, id) in [s.acked.first().unwrap(), s.acked.last().unwrap()] {
            let (status, v) = post_delivery(&http, &url, delivery).await.unwrap();
            assert_eq!(status, 200, "{delivery}: {v}");
            assert_eq!(v["duplicate"], true, "{delivery} again: {v}");
            assert_eq!(v["id"], id.as_str(), "{delivery} again: {v}");
            reposted.push(delivery.clone());
        }
        // The send cut by the kill: stored or not, sending it again leaves one event.
        if let Some(delivery) = &s.unanswered {
            let (status, v) = post_delivery(&http, &url, delivery).await.unwrap();
            assert_eq!(status, 200, "{delivery}: {v}");
            eprintln!("{delivery} (unanswered at the kill) again: {v}");
            reposted.push(delivery.clone());
        }
    }
    server.stop();

    // One row per provider event id, counted in the database file.
    let db = Db::open(dir.path(), database_url).await;
    let (rows, distinct) = db.rows_and_distinct().await;
    assert_eq!(rows, distinct, "a provider event id has two rows");
    assert!(
        rows >= acked.len() as i64,
        "{rows} rows, {} acknowledged",
        acked.len()
    );
    for delivery in &reposted {
        let n = db.rows_of(delivery).await;
        assert_eq!(n, 1, "{delivery} has {n} rows");
    }
    db.close().await;
}

#[tokio::test]
async fn webhook_block_and_unblock_from_the_cli() {
    let dir = sandbox();
    write_config(dir.path());
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let send = |delivery: &'static str| {
        let body = b"{}".to_vec();
        server
            .http()
            .post(server.url("/webhooks/gh/event"))
            .header("X-GitHub-Delivery", delivery)
            .header("X-Hub-Signature-256", github_signature(&body))
            .body(body)
            .send()
    };
    assert_eq!(send("a").await.unwrap().status(), 200);
    let out = crate::harness::run(dir.path(), &["webhook", "block", "gh"], &[]);
    intake_answers(&server, 403).await;
    assert!(
        out.success().stdout.contains("now blocked"),
        "{}",
        out.stdout
    );
    let res = send("b").await.unwrap();
    assert_eq!(res.status(), 403);
    let v: serde_json::Value = res.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("webhook unblock gh")
    );
    crate::harness::run(dir.path(), &["webhook", "block", "gh"], &[])
        .success()
        .stdout
        .contains("already");
    crate::harness::run(dir.path(), &["webhook", "unblock", "gh"], &[]).success();
    intake_answers(&server, 200).await;
    assert_eq!(send("c").await.unwrap().status(), 200);
    crate::harness::run(dir.path(), &["webhook", "block", "nope"], &[])
        .failure()
        .stderr_has(&["integration \"nope\" not found"]);
    let rows = crate::harness::audit_list_local(dir.path(), &[]);
    let actions: Vec<&str> = rows.iter().filter_map(|r| r["action"].as_str()).collect();
    assert!(
        actions.contains(&"webhook.block") && actions.contains(&"webhook.unblock"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn webhook_test_sends_a_correctly_signed_sample() {
    let dir = sandbox();
    // Three schemes: body-only HMAC, timestamped with an id, and URL-signed.
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"s1\"]\n\
         [[integrations]]\nid = \"sw\"\nprovider = \"svix\"\nwebhook_scheme = \"standard-webhooks\"\nwebhook_secrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n\
         [[integrations]]\nid = \"sq\"\nprovider = \"square\"\nwebhook_secrets = [\"sq-key\"]\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    // The server's public_url is derived from its listen address; the CLI signs over the
    // same URL when given the same listen address through the environment.
    let listen = server.base.trim_start_matches("http://").to_owned();
    let env = [
        ("SWITCHBOARD_URL", server.base.as_str()),
        ("SWITCHBOARD_LISTEN", listen.as_str()),
    ];
    for id in ["gh", "sw", "sq"] {
        let out = crate::harness::run(dir.path(), &["--json", "webhook", "test", id], &env);
        let v = out.success().json();
        assert_eq!(v["status"], 200, "{id}: {v}");
        assert_eq!(v["answer"]["duplicate"], false);
        assert!(v["answer"]["id"].as_str().unwrap().starts_with("evt_"));
    }
    // A custom body file; and a refusal is reported with exit code 1.
    std::fs::write(dir.path().join("e.json"), br#"{"hello":"world"}"#).unwrap();
    let out = crate::harness::run(
        dir.path(),
        &["webhook", "test", "gh", "--event", "e.json"],
        &env,
    );
    assert!(
        out.success()
            .stdout
            .starts_with("accepted: github webhook stored as evt_"),
        "{}",
        out.stdout
    );
    crate::harness::run(dir.path(), &["webhook", "block", "gh"], &[]).success();
    intake_answers(&server, 403).await;
    let out = crate::harness::run(dir.path(), &["webhook", "test", "gh"], &env);
    assert!(
        out.exit_code(1).stdout.contains("refused with 403"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn integration_list_disable_enable_from_the_cli() {
    let dir = sandbox();
    write_config(dir.path());
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let list = crate::harness::run(dir.path(), &["--json", "integration", "list"], &[])
        .success()
        .json();
    assert_eq!(list[0]["id"], "gh");
    assert_eq!(list[0]["disabled"], false);
    let out = crate::harness::run(dir.path(), &["integration", "disable", "gh"], &[]);
    intake_answers(&server, 403).await;
    assert!(
        out.success().stdout.contains("now disabled"),
        "{}",
        out.stdout
    );
    let body = b"{}".to_vec();
    let res = server
        .http()
        .post(server.url("/webhooks/gh/event"))
        .header("X-Hub-Signature-256", github_signature(&body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let table = crate::harness::run(dir.path(), &["integration", "list"], &[])
        .success()
        .stdout
        .clone();
    assert!(table.contains("disabled"), "{table}");
    crate::harness::run(dir.path(), &["integration", "enable", "gh"], &[]).success();
    intake_answers(&server, 200).await;
    let res = server
        .http()
        .post(server.url("/webhooks/gh/event"))
        .header("X-Hub-Signature-256", github_signature(&body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    crate::harness::run(dir.path(), &["integration", "disable", "nope"], &[])
        .failure()
        .stderr_has(&["integration \"nope\" not found"]);
}

/// Waits until webhooks to `gh` are answered `status`: a switch flipped by the CLI on the
/// database reaches a running server when its flag cache (one second) expires. Each probe
/// is a new signed event, stored when accepted.
async fn intake_answers(server: &Server, status: u16) {
    static PROBE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    crate::harness::eventually(&format!("webhooks to gh answered {status}"), || async {
        let n = PROBE.fetch_add(1, Ordering::Relaxed);
        let body = format!(r#"{{"probe":{n}}}"#);
        let r = server
            .http()
            .post(server.url("/webhooks/gh/event"))
            .header("X-GitHub-Delivery", format!("probe-{n}"))
            .header("X-GitHub-Event", "ping")
            .header("X-Hub-Signature-256", github_signature(body.as_bytes()))
            .body(body)
            .send()
            .await
            .ok()?;
        (r.status().as_u16() == status).then_some(())
    })
    .await;
}
