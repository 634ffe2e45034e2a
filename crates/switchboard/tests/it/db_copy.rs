//! `switchboard db copy`: a SQLite deployment filled through the real server moves to
//! PostgreSQL and `serve` goes on there with the same master key (same ids, timestamps,
//! API keys, sealed credentials, audit chain, switches and queue); a non-empty target
//! is refused, a copy killed half way finishes with `--resume` and no duplicate; bad
//! URLs, the same database twice and schemas of another version are refused with exit
//! 2, naming the flag and never a password.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::harness::{self, Server, eventually, free_port, master_key, run, sandbox};
use crate::postgres::pg_schema;

const SECRET: &str = "db-copy-webhook-secret";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const TOKEN: &str = "upstream-issued-access-token";

/// The token endpoint of a client-credentials provider, and two destinations of the
/// app: `/ok` takes every delivery, `/gone` answers 410 Gone.
#[derive(Clone, Default)]
struct Peer {
    tokens: Arc<AtomicUsize>,
}

async fn start_peer() -> (String, Peer) {
    let peer = Peer::default();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let p = peer.clone();
    let app = axum::Router::new()
        .route(
            "/token",
            axum::routing::post(move || {
                let p = p.clone();
                async move {
                    p.tokens.fetch_add(1, Ordering::SeqCst);
                    axum::Json(
                        json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 86400}),
                    )
                }
            }),
        )
        .route("/ok", axum::routing::post(|| async { "ok" }))
        .route(
            "/gone",
            axum::routing::post(|| async { axum::http::StatusCode::GONE }),
        );
    tokio::spawn(async move { axum::serve(l, app).await });
    (base, peer)
}

fn write_config(dir: &std::path::Path, peer: &str) {
    std::fs::write(
        dir.join("switchboard.toml"),
        format!(
            r#"
[[providers]]
id = "local"
auth_mode = "client_credentials"
token_url = "{peer}/token"
api_base_url = "{peer}/api"

[[integrations]]
id = "local"
provider = "local"
client_id = "local-client"
client_secret = "local-client-secret"

[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["{SECRET}"]

[[integrations]]
id = "gh-old"
provider = "github"
webhook_secrets = ["{SECRET}"]

[[destinations]]
id = "app"
url = "{peer}/ok"
secret = "{WHSEC}"
integrations = ["gh"]
event_types = ["*"]

[[destinations]]
id = "gone"
url = "{peer}/gone"
secret = "{WHSEC}"
integrations = ["gh"]
event_types = ["*"]
"#
        ),
    )
    .unwrap();
}

/// Posts a signed GitHub push to `integration`; the status and the JSON answer.
async fn post_push(server: &Server, integration: &str, delivery: &str) -> (u16, Value) {
    let body = format!(r#"{{"delivery":"{delivery}"}}"#);
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(m.finalize().into_bytes()));
    let r = server
        .http()
        .post(server.url(&format!("/webhooks/{integration}/event")))
        .header("X-GitHub-Delivery", delivery)
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// What the API shows of the deployment, to compare before and after the move.
async fn listings(server: &Server, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        "/api/events?limit=100",
        "/api/connections",
        "/api/connections/c1",
        "/api/destinations",
        "/api/integrations",
        "/api/audit?limit=500",
    ] {
        out.push(server.get_json(path, key).await);
    }
    out
}

/// Fails the test if `secret` appears in either output stream.
#[track_caller]
fn assert_absent(secret: &str, out: &harness::Output) {
    assert!(
        !out.stdout.contains(secret) && !out.stderr.contains(secret),
        "`{}` printed the password\n--- stdout\n{}\n--- stderr\n{}",
        out.what,
        out.stdout,
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_deployment_moves_to_postgres_and_serves_from_there_unchanged() {
    let (peer_url, peer) = start_peer().await;
    let dir = sandbox();
    write_config(dir.path(), &peer_url);
    let (master, _) = master_key();
    let env = [("SWITCHBOARD_MASTER_KEY", master.as_str())];

    // On SQLite: an admin key, a client-credentials connection (its token sealed), three
    // webhooks delivered to `app` and refused by `gone` (410 disables it), a webhook to an
    // integration then blocked.
    let mut server = Server::start(dir.path(), &["--dev"], &env).await;
    let key = server.printed_admin_key();
    let r = server
        .http()
        .post(server.url("/api/connections"))
        .bearer_auth(&key)
        .json(&json!({"integration": "local", "connection_id": "c1", "end_user_id": "u1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let token = server.get_json("/api/connections/c1/token", &key).await;
    assert_eq!(token["access_token"], TOKEN);
    for n in 0..3 {
        assert_eq!(post_push(&server, "gh", &format!("d-{n}")).await.0, 200);
    }
    assert_eq!(post_push(&server, "gh-old", "old-1").await.0, 200);
    eventually(
        "three events delivered to app and gone disabled",
        || async {
            let events = server.get_json("/api/events?status=delivered", &key).await;
            let dests = server.get_json("/api/destinations", &key).await;
            let gone_off = dests["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["id"] == "gone" && d["enabled"] == false);
            (events["data"].as_array().unwrap().len() == 3 && gone_off).then_some(())
        },
    )
    .await;
    server.stop();
    let out = run(
        dir.path(),
        &[
            "webhook",
            "block",
            "gh-old",
            "--database-url",
            "sqlite://switchboard.db",
        ],
        &env,
    );
    out.success();
    let mut server = Server::start(dir.path(), &["--dev"], &env).await;
    assert_eq!(post_push(&server, "gh-old", "old-2").await.0, 403);
    let before = listings(&server, &key).await;
    server.stop();
    let tokens_issued = peer.tokens.load(Ordering::SeqCst);

    // The copy: no master key in its environment, the password never printed.
    let schema = pg_schema().await;
    let pg = schema.url.clone();
    let out = run(
        dir.path(),
        &[
            "db",
            "copy",
            "--from",
            "sqlite://switchboard.db",
            "--to",
            &pg,
            "--batch-size",
            "2",
            "--json",
        ],
        &[],
    );
    out.success();
    let v = out.json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["resumed"], false);
    assert_eq!(v["from"]["backend"], "sqlite");
    assert_eq!(v["to"]["backend"], "postgres");
    for t in v["tables"].as_array().unwrap() {
        assert_eq!(t["source_rows"], t["target_rows"], "{t}");
        assert_eq!(t["source_rows"], t["copied"], "{t}");
    }
    let rows = |name: &str| {
        v["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == name)
            .unwrap()["source_rows"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(rows("events"), 4);
    assert_eq!(rows("deliveries"), 6);
    assert_eq!(rows("connections"), 1);
    assert_eq!(rows("destination_state"), 1);
    assert_eq!(rows("integration_state"), 1);
    assert!(rows("secrets") >= 1);
    assert!(rows("audit_log") >= 3);
    let copy_seq = v["audit_seq"].as_i64().unwrap();
    assert_eq!(copy_seq, rows("audit_log") as i64 + 1);
    // The table for people names every table.
    assert_eq!(
        schema.count("SELECT COUNT(*) FROM events").await,
        4,
        "events on PostgreSQL"
    );

    // serve on PostgreSQL with the same master key: the old admin key works, no new one
    // is made, and everything reads as it did.
    let pg_env = [
        ("SWITCHBOARD_MASTER_KEY", master.as_str()),
        ("SWITCHBOARD_DATABASE_URL", pg.as_str()),
    ];
    let mut server = Server::start(dir.path(), &["--dev"], &pg_env).await;
    assert!(
        harness::find_api_keys(&server.stdout()).is_empty(),
        "a new admin key was made:\n{}",
        server.stdout()
    );
    let after = listings(&server, &key).await;
    assert_eq!(after[..5], before[..5]);
    // The audit log is the one it was, and the copy's entry on top.
    let audit = after[5]["data"].as_array().unwrap();
    assert_eq!(audit[0]["action"], "db.copy");
    assert_eq!(audit[0]["seq"], copy_seq);
    assert_eq!(audit[0]["details"]["from_backend"], "sqlite");
    assert_eq!(audit[0]["details"]["rows"]["events"], 4);
    assert!(!audit[0].to_string().contains("sqlite://"), "{}", audit[0]);
    assert_eq!(audit[1..], before[5]["data"].as_array().unwrap()[..]);
    // The sealed token opens with the same key, without asking the provider again.
    let token = server.get_json("/api/connections/c1/token", &key).await;
    assert_eq!(token["access_token"], TOKEN);
    assert_eq!(peer.tokens.load(Ordering::SeqCst), tokens_issued);
    // The switch and the deduplication hold there too.
    assert_eq!(post_push(&server, "gh-old", "old-3").await.0, 403);
    let (status, dup) = post_push(&server, "gh", "d-0").await;
    assert_eq!((status, &dup["duplicate"]), (200, &json!(true)));
    server.stop();

    let out = run(dir.path(), &["audit", "verify", "--json"], &pg_env);
    out.success();
    assert_eq!(out.json()["ok"], true);
    let out = run(dir.path(), &["config", "check", "--dev"], &pg_env);
    out.success();
}

/// The SQLite database of `dir` with `n` events in it (written directly: the copy is
/// what is tested), migrated first, and an API key so that the audit log has a row.
async fn sqlite_with_events(dir: &std::path::Path, n: usize) {
    let (master, _) = master_key();
    run(dir, &["migrate"], &[]).success();
    run(
        dir,
        &["api-key", "create", "ops"],
        &[("SWITCHBOARD_MASTER_KEY", master.as_str())],
    )
    .success();
    let pool = harness::open_db(dir).await;
    let mut tx = pool.begin().await.unwrap();
    for i in 0..n {
        sqlx::query(
            "INSERT INTO events (id, integration, received_at, provider_event_id, event_type,
                                 scheme, headers, body, routed_at)
             VALUES (?, 'gh', ?, ?, 'push', 'github', '[]', ?, ?)",
        )
        .bind(format!("evt_{i:032x}"))
        .bind(1_700_000_000_000i64 + i as i64)
        .bind(format!("d-{i}"))
        .bind(format!("{{\"n\":{i}}}").into_bytes())
        .bind(1_700_000_000_000i64 + i as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_killed_half_way_is_refused_without_resume_and_finishes_with_it() {
    const EVENTS: i64 = 3000;
    let dir = sandbox();
    sqlite_with_events(dir.path(), EVENTS as usize).await;
    let schema = pg_schema().await;
    let args = [
        "db",
        "copy",
        "--from",
        "sqlite://switchboard.db",
        "--to",
        schema.url.as_str(),
        "--batch-size",
        "1",
    ];

    // Killed (SIGKILL) once some events are on the target.
    let mut child = harness::command(dir.path(), &args, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let copied = schema
            .count(
                "SELECT COUNT(*) FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_name = 'events'",
            )
            .await;
        if copied == 1 && schema.count("SELECT COUNT(*) FROM events").await > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the copy ended before any event was seen on the target"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "no event copied");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = schema.count("SELECT COUNT(*) FROM events").await;
    assert!(
        partial > 0 && partial < EVENTS,
        "{partial} events copied before the kill"
    );
    let keys = schema.count("SELECT COUNT(*) FROM api_keys").await;
    assert_eq!(keys, 1);

    // Without --resume: refused, nothing written.
    let out = run(dir.path(), &args, &[]);
    out.exit_code(2)
        .stderr_has(&["--to", "not empty", "--resume"]);
    assert_eq!(schema.count("SELECT COUNT(*) FROM events").await, partial);
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = run(dir.path(), &json_args, &[]);
    out.exit_code(2);
    assert_eq!(out.json()["error"]["code"], "not_empty");

    // With it: the rest, once each.
    let mut resume = json_args[..json_args.len() - 3].to_vec();
    resume.extend(["--batch-size", "500", "--json", "--resume"]);
    let out = run(dir.path(), &resume, &[]);
    out.success();
    let v = out.json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["resumed"], true);
    let events = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "events")
        .unwrap()
        .clone();
    assert_eq!(events["target_rows"], EVENTS);
    assert_eq!(events["copied"], EVENTS - partial);
    assert_eq!(schema.count("SELECT COUNT(*) FROM events").await, EVENTS);
    assert_eq!(
        schema
            .count("SELECT COUNT(DISTINCT provider_event_id) FROM events")
            .await,
        EVENTS
    );
    let (master, _) = master_key();
    let out = run(
        dir.path(),
        &["audit", "verify", "--database-url", &schema.url, "--json"],
        &[("SWITCHBOARD_MASTER_KEY", master.as_str())],
    );
    out.success();
    assert_eq!(out.json()["ok"], true);
    assert_eq!(schema.count("SELECT COUNT(*) FROM audit_log").await, 2);

    // Back to SQLite, the other way.
    let out = run(
        dir.path(),
        &[
            "db",
            "copy",
            "--from",
            &schema.url,
            "--to",
            "sqlite://back.db",
        ],
        &[],
    );
    out.success();
    assert!(out.stdout.contains("events") && out.stdout.contains("3000"));
    let out = run(
        dir.path(),
        &["audit", "verify", "--database-url", "sqlite://back.db"],
        &[("SWITCHBOARD_MASTER_KEY", master.as_str())],
    );
    out.success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_the_same_database_and_other_schemas_are_refused_naming_the_flag() {
    let dir = sandbox();
    sqlite_with_events(dir.path(), 2).await;
    let password = format!("pw-{}", free_port());
    let src = "sqlite://switchboard.db";
    let closed = format!(
        "postgres://switchboard:{password}@127.0.0.1:{}/switchboard",
        free_port()
    );
    let wrong = format!("mysql://root:{password}@127.0.0.1/db");
    let cases: Vec<(Vec<&str>, &[&str], &str)> = vec![
        (
            vec!["--from", &wrong, "--to", "sqlite://t.db"],
            &["--from", "unsupported scheme", "***"],
            "usage",
        ),
        (
            vec!["--from", src, "--to", &wrong],
            &["--to", "unsupported scheme"],
            "usage",
        ),
        (
            vec!["--from", src, "--to", &closed],
            &["--to", "cannot open", "***"],
            "database",
        ),
        (
            vec!["--from", &closed, "--to", "sqlite://t.db"],
            &["--from", "cannot open"],
            "database",
        ),
        (
            vec!["--from", src, "--to", "sqlite:./switchboard.db?mode=rwc"],
            &["--from and --to", "same database"],
            "usage",
        ),
        (
            vec!["--from", "sqlite://missing.db", "--to", "sqlite://t.db"],
            &["--from", "no database file", "missing.db"],
            "not_found",
        ),
        (
            vec!["--from", "sqlite::memory:", "--to", "sqlite://t.db"],
            &["--from", "in-memory"],
            "usage",
        ),
    ];
    for (flags, needles, code) in cases {
        let mut args = vec!["db", "copy"];
        args.extend(flags.iter().copied());
        let out = run(dir.path(), &args, &[]);
        out.exit_code(2).stderr_has(needles);
        assert_absent(&password, &out);
        args.push("--json");
        let out = run(dir.path(), &args, &[]);
        out.exit_code(2);
        assert_eq!(out.json()["error"]["code"], code, "{}", out.stdout);
        assert_absent(&password, &out);
    }
    // Nothing was created on the way.
    for f in ["t.db", "missing.db"] {
        assert!(!dir.path().join(f).exists(), "{f} was created");
    }
    let out = run(dir.path(), &["db", "copy", "--from", src], &[]);
    out.exit_code(2);

    // A source that is not a Switchboard database, or one migrated by a newer version.
    std::fs::write(dir.path().join("empty.db"), b"").unwrap();
    let out = run(
        dir.path(),
        &[
            "db",
            "copy",
            "--from",
            "sqlite://empty.db",
            "--to",
            "sqlite://t.db",
        ],
        &[],
    );
    out.exit_code(2)
        .stderr_has(&["--from", "no Switchboard schema"]);
    let pool = harness::open_db(dir.path()).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let schema = pg_schema().await;
    let out = run(
        dir.path(),
        &["db", "copy", "--from", src, "--to", &schema.url],
        &[],
    );
    out.exit_code(2).stderr_has(&["--from", "newer", "9999"]);
    // And as a target: refused before anything is written.
    let out = run(
        dir.path(),
        &["db", "copy", "--from", &schema.url, "--to", src],
        &[],
    );
    out.exit_code(2)
        .stderr_has(&["--from", "no Switchboard schema"]);
    run(dir.path(), &["migrate", "--database-url", &schema.url], &[]).success();
    let out = run(
        dir.path(),
        &["db", "copy", "--from", &schema.url, "--to", src],
        &[],
    );
    out.exit_code(2).stderr_has(&["--to", "newer", "9999"]);
}
