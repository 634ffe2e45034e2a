//! Retention and erasure end to end: `retention purge`, `user export`, `user erase`
//! against a running server, their exit codes, `--json` and `--dry-run`; and erasure
//! leaving no trace of the end user's tokens, payloads or id in the SQLite files (the
//! database, its WAL and its shared-memory index), with a real connection made through
//! the `oidc-provider` peer; and on PostgreSQL, erasure leaving no row of any table with
//! those values, and retention purging there too.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{self, Output, Server, contains_bytes};
use crate::oidc::{OidcPeer, browse_until};

const CLIENT_ID: &str = "switchboard";
const CLIENT_SECRET: &str = "peer-client-secret-for-privacy-tests";
const APP_ORIGIN: &str = "http://127.0.0.1:9";
const DB_FILES: [&str; 3] = ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"];

/// A value no other test or run has: nanoseconds since the epoch and the process id.
fn unique(prefix: &str) -> String {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{ns:x}p{}", std::process::id())
}

fn peer() -> OidcPeer {
    OidcPeer::start(json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "application_type": "native",
        "redirect_uris": ["http://127.0.0.1/api/integrations/acme/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid profile email offline_access api:read",
    }]))
}

fn write_config(dir: &Path, issuer: Option<&str>) {
    let mut text = String::from(
        r#"
payload_retention_days = 7

[[integrations]]
id = "hooks"
provider = "standard-webhooks"
webhook_secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
"#,
    );
    if let Some(issuer) = issuer {
        text.push_str(&format!(
            r#"
[[providers]]
id = "acme"
issuer = "{issuer}"

[[integrations]]
id = "acme"
provider = "acme"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
scopes = ["openid", "offline_access", "api:read"]
allowed_return_origins = ["{APP_ORIGIN}"]
"#
        ));
    }
    std::fs::write(dir.join("switchboard.toml"), text).unwrap();
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

    /// The whole connect flow of `acme` for `end_user` and `connection_id`.
    async fn connect(&self, end_user: &str, connection_id: &str) {
        let r = self
            .server
            .http()
            .post(self.server.url("/api/connect-sessions"))
            .bearer_auth(&self.key)
            .json(&json!({
                "end_user": {"id": end_user},
                "integrations": ["acme"],
                "connection_id": connection_id,
                "return_to": format!("{APP_ORIGIN}/done"),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let v: Value = r.json().await.unwrap();
        let session = v["token"].as_str().unwrap();
        let browser = crate::harness::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let r = browser
            .get(
                self.server
                    .url(&format!("/api/integrations/acme/auth?session={session}")),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        let auth = r.headers()["location"].to_str().unwrap().to_owned();
        let cb = browse_until(&auth, &self.server.url("/api/integrations/acme/callback")).await;
        let r = browser.get(&cb).send().await.unwrap();
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(loc.contains("status=connected"), "{loc}");
    }

    async fn access_token(&self, id: &str) -> String {
        let v = self
            .server
            .get_json(&format!("/api/connections/{id}/token"), &self.key)
            .await;
        v["access_token"].as_str().unwrap().to_owned()
    }
}

/// Stores an event of `integration` directly in the database, as intake would have
/// routed it: received `days_ago` days ago, its payload carrying `mark` in the body, a
/// kept header and the mapped data.
async fn store_event(
    dir: &Path,
    n: u32,
    integration: &str,
    days_ago: i64,
    connection: Option<&str>,
    mark: &str,
) -> String {
    let db = harness::open_db(dir).await;
    let id = format!("evt_{:032x}", 0xfeed_0000_u64 + u64::from(n));
    let at = chrono::Utc::now().timestamp_millis() - days_ago * 86_400_000;
    sqlx::query(
        "INSERT INTO events (id, integration, received_at, event_type, scheme, headers, body,
           connection_id, routed_at, mapping_status, mapped_type, mapped_data)
         VALUES (?, ?, ?, 'thing.done', 'standard-webhooks', ?, ?, ?, ?, 'mapped', 'thing.done', ?)",
    )
    .bind(&id)
    .bind(integration)
    .bind(at)
    .bind(json!([["x-customer", format!("HEADER-{mark}")]]).to_string())
    .bind(format!(r#"{{"email":"BODY-{mark}@example.com"}}"#).into_bytes())
    .bind(connection)
    .bind(at)
    .bind(json!({"who": format!("MAPPED-{mark}")}).to_string())
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    id
}

/// Every needle found in the database files, with the file it is in.
fn traces(dir: &Path, needles: &[(&str, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for f in DB_FILES {
        let Ok(bytes) = std::fs::read(dir.join(f)) else {
            continue;
        };
        for (what, n) in needles {
            if contains_bytes(&bytes, n) {
                found.push(format!("{what} in {f}"));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_no_trace_of_the_end_users_tokens_payloads_or_id() {
    let peer = peer();
    let dir = harness::sandbox();
    write_config(dir.path(), Some(&peer.issuer));
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let cx = Ctx {
        key: server.printed_admin_key(),
        server: &server,
        dir: dir.path(),
    };
    let user = unique("user-");
    // Connection ids stay in the audit log (append-only): an app must not put personal
    // data in them, and this one has none.
    let conn_id = unique("acct-");
    let mark = unique("MARK");
    cx.connect(&user, &conn_id).await;
    let token = cx.access_token(&conn_id).await;
    for n in 0..3 {
        store_event(dir.path(), n, "acme", 0, Some(&conn_id), &mark).await;
    }
    // Someone else's event stays as it is.
    let other_mark = unique("KEEP");
    let kept = store_event(dir.path(), 9, "acme", 0, None, &other_mark).await;
    // The sealed credentials as stored: their bytes must go too.
    let db = harness::open_db(dir.path()).await;
    let sealed: Vec<u8> = sqlx::query_scalar(
        "SELECT ciphertext FROM secrets WHERE owner = 'connections' AND owner_id = ?",
    )
    .bind(&conn_id)
    .fetch_one(&db)
    .await
    .unwrap();
    db.close().await;
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("the sealed credentials", sealed.clone()),
        ("the access token", token.clone().into_bytes()),
        ("the end user id", user.clone().into_bytes()),
        ("the body", format!("BODY-{mark}").into_bytes()),
        ("a kept header", format!("HEADER-{mark}").into_bytes()),
        ("the mapped data", format!("MAPPED-{mark}").into_bytes()),
    ];
    // Before: the values are there (the check can see them).
    let before = traces(dir.path(), &needles);
    assert!(
        before.iter().any(|f| f.starts_with("the body")),
        "{before:?}"
    );
    assert!(
        before.iter().any(|f| f.starts_with("the sealed")),
        "{before:?}"
    );

    // Export: everything held, no secret.
    let v = cx
        .cli(&["user", "export", &user, "--json"])
        .success()
        .json();
    assert_eq!(v["end_user_id"], user.as_str());
    assert_eq!(v["connections"][0]["id"], conn_id.as_str());
    assert_eq!(v["events"].as_array().unwrap().len(), 3);
    assert!(v["events"][0]["body"].as_str().unwrap().contains(&mark));
    let consent = &v["consent_records"][0];
    assert_eq!(consent["kind"], "connect");
    assert_eq!(consent["return_origin"], APP_ORIGIN);
    assert_eq!(
        consent["scopes_requested"],
        json!(["openid", "offline_access", "api:read"])
    );
    assert!(!v.to_string().contains(&token));
    // To a file, 0600.
    let out = cx.dir.join("export.json");
    cx.cli(&["user", "export", &user, "-o", out.to_str().unwrap()])
        .success();
    let meta = std::fs::metadata(&out).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    std::fs::remove_file(&out).unwrap();

    // A dry run lists, changes nothing.
    let dry = cx
        .cli(&["user", "erase", &user, "--dry-run", "--json"])
        .success()
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["counts"]["connections"], 1);
    assert_eq!(dry["counts"]["events"], 3);
    let out = cx.cli(&["user", "erase", &user, "--dry-run"]);
    out.success();
    assert!(
        out.stdout.contains("would erase") && out.stdout.contains(&conn_id),
        "{}",
        out.stdout
    );
    let (status, _) = (
        server
            .get(&format!("/api/connections/{conn_id}"), Some(&cx.key))
            .await
            .status(),
        (),
    );
    assert_eq!(status, StatusCode::OK);
    // Without a terminal and without --yes: refused, nothing done.
    cx.cli(&["user", "erase", &user])
        .exit_code(2)
        .stderr_has(&["--yes"]);
    assert_eq!(
        server
            .get(&format!("/api/connections/{conn_id}"), Some(&cx.key))
            .await
            .status(),
        StatusCode::OK
    );

    // The erasure.
    let done = cx
        .cli(&["user", "erase", &user, "--yes", "--json"])
        .success()
        .json();
    assert_eq!(done["already_erased"], false);
    assert_eq!(done["counts"]["connections"], 1);
    assert_eq!(done["counts"]["revoked_at_provider"], 1);
    assert_eq!(done["counts"]["events"], 3);
    let hash = done["subject_hash"].as_str().unwrap().to_owned();
    assert_eq!(
        server
            .get(&format!("/api/connections/{conn_id}"), Some(&cx.key))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // The audit row proves it without the id.
    let rows = server.audit_rows(&cx.key).await;
    let row = rows
        .iter()
        .find(|r| r["action"] == "end_user.erase")
        .unwrap();
    assert_eq!(row["target"], format!("subject:{hash}").as_str());
    assert_eq!(row["details"]["events"], 3);
    assert!(!serde_json::to_string(&rows).unwrap().contains(&user));

    // No trace in the files, the WAL included.
    let after = traces(dir.path(), &needles);
    assert!(after.is_empty(), "still in the database files: {after:?}");
    // The other event is untouched.
    let other = server
        .get_json(&format!("/api/events/{kept}"), &cx.key)
        .await;
    assert_eq!(other["purged_at"], Value::Null);
    assert!(
        !traces(
            dir.path(),
            &[("kept", format!("BODY-{other_mark}").into_bytes())]
        )
        .is_empty()
    );

    // Again: nothing to do, exit 0, no second audit row.
    let again = cx
        .cli(&["user", "erase", &user, "--yes", "--json"])
        .success()
        .json();
    assert_eq!(again["already_erased"], true);
    assert_eq!(again["subject_hash"], hash.as_str());
    let out = cx.cli(&["user", "erase", &user, "--yes"]);
    out.success();
    assert!(out.stdout.contains("erased before"), "{}", out.stdout);
    let erasures = server
        .audit_rows(&cx.key)
        .await
        .into_iter()
        .filter(|r| r["action"] == "end_user.erase")
        .count();
    assert_eq!(erasures, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_purge_and_bad_input_through_the_cli() {
    let dir = harness::sandbox();
    write_config(dir.path(), None);
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let cx = Ctx {
        key: server.printed_admin_key(),
        server: &server,
        dir: dir.path(),
    };
    let mut old = Vec::new();
    for n in 0..5 {
        old.push(store_event(dir.path(), n, "hooks", 30, None, "OLD").await);
    }
    let young = store_event(dir.path(), 7, "hooks", 1, None, "YOUNG").await;

    // Dry run: the count, nothing changed.
    let v = cx
        .cli(&["retention", "purge", "--dry-run", "--json"])
        .success()
        .json();
    assert_eq!(v, json!({"dry_run": true, "events": 5, "more": false}));
    let out = cx.cli(&["retention", "purge", "--dry-run"]);
    out.success();
    assert!(
        out.stdout.contains("would remove the payload of 5"),
        "{}",
        out.stdout
    );
    let e = server
        .get_json(&format!("/api/events/{}", old[0]), &cx.key)
        .await;
    assert_eq!(e["purged_at"], Value::Null);

    let v = cx.cli(&["retention", "purge", "--json"]).success().json();
    assert_eq!(v, json!({"dry_run": false, "events": 5, "more": false}));
    for id in &old {
        let e = server.get_json(&format!("/api/events/{id}"), &cx.key).await;
        assert!(e["purged_at"].is_string(), "{e}");
        assert_eq!(
            (e["purge_reason"].as_str(), e["body_bytes"].as_u64()),
            (Some("retention"), Some(0))
        );
        assert_eq!(e["event_type"], "thing.done", "metadata kept");
    }
    let e = server
        .get_json(&format!("/api/events/{young}"), &cx.key)
        .await;
    assert_eq!(e["purged_at"], Value::Null);
    let out = cx.cli(&["retention", "purge"]);
    out.success();
    assert!(
        out.stdout.contains("no payload past its retention"),
        "{}",
        out.stdout
    );
    // The event verbs say so.
    let out = cx.cli(&["events", "show", &old[0]]);
    out.success();
    assert!(
        out.stdout.contains("removed") && out.stdout.contains("(retention)"),
        "{}",
        out.stdout
    );
    let out = cx.cli(&["events", "list"]);
    out.success();
    assert!(
        out.stdout.contains("purged") && out.stdout.contains("kept"),
        "{}",
        out.stdout
    );

    // Replay of a purged event says why it cannot.
    let out = cx.cli(&["webhook", "replay", &old[0]]);
    out.exit_code(2).stderr_has(&["payload", "retention"]);
    let v = cx
        .cli(&["webhook", "replay", &old[0], "--json"])
        .exit_code(2)
        .json();
    assert_eq!(v["error"]["code"], "payload_purged");

    // Unknown end user: a clear error, exit 2, for both verbs.
    let out = cx.cli(&["user", "erase", "nobody-here", "--yes"]);
    out.exit_code(2).stderr_has(&["nobody-here", "not found"]);
    let v = cx
        .cli(&["user", "erase", "nobody-here", "--yes", "--json"])
        .exit_code(2)
        .json();
    assert_eq!(v["error"]["code"], "end_user_not_found");
    let v = cx
        .cli(&["user", "export", "nobody-here", "--json"])
        .exit_code(2)
        .json();
    assert_eq!(v["error"]["code"], "end_user_not_found");
    // Misuse: no id.
    cx.cli(&["user", "erase"]).exit_code(2);
    // An app key may not erase.
    let app = server
        .http()
        .post(server.url("/api/api-keys"))
        .bearer_auth(&cx.key)
        .json(&json!({"name": "app", "scope": "app"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = harness::run(
        dir.path(),
        &["retention", "purge", "--json"],
        &[
            ("SWITCHBOARD_URL", server.base.as_str()),
            ("SWITCHBOARD_API_KEY", app.as_str()),
        ],
    );
    assert_eq!(out.exit_code(2).json()["error"]["code"], "forbidden");
}

/// Stores an event on the PostgreSQL schema, as [`store_event`] does on SQLite.
async fn store_event_pg(
    schema: &crate::postgres::PgSchema,
    n: u32,
    integration: &str,
    days_ago: i64,
    connection: Option<&str>,
    mark: &str,
) -> String {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(&schema.url).await.unwrap();
    let id = format!("evt_{:032x}", 0xbeef_0000_u64 + u64::from(n));
    let at = chrono::Utc::now().timestamp_millis() - days_ago * 86_400_000;
    sqlx::query(
        "INSERT INTO events (id, integration, received_at, event_type, scheme, headers, body,
           connection_id, routed_at, mapping_status, mapped_type, mapped_data)
         VALUES ($1, $2, $3, 'thing.done', 'standard-webhooks', $4, $5, $6, $7, 'mapped', 'thing.done', $8)",
    )
    .bind(&id)
    .bind(integration)
    .bind(at)
    .bind(json!([["x-customer", format!("HEADER-{mark}")]]).to_string())
    .bind(format!(r#"{{"email":"BODY-{mark}@example.com"}}"#).into_bytes())
    .bind(connection)
    .bind(at)
    .bind(json!({"who": format!("MAPPED-{mark}")}).to_string())
    .execute(&mut db)
    .await
    .unwrap();
    let _ = db.close().await;
    id
}

/// Every needle found in any row of any table of the schema (each row as PostgreSQL
/// prints it, `bytea` as hex), with the table it is in.
pub(crate) async fn row_traces(
    schema: &crate::postgres::PgSchema,
    needles: &[(&str, String)],
) -> Vec<String> {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(&schema.url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
    )
    .bind(&schema.name)
    .fetch_all(&mut db)
    .await
    .unwrap();
    let mut found = Vec::new();
    for t in tables {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT r::text FROM \"{t}\" r"
        )))
        .fetch_all(&mut db)
        .await
        .unwrap();
        for (what, n) in needles {
            if rows.iter().any(|r| r.contains(n.as_str())) {
                found.push(format!("{what} in {t}"));
            }
        }
    }
    let _ = db.close().await;
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_erasure_leaves_no_row_with_the_end_users_data_and_retention_purges() {
    let schema = crate::postgres::pg_schema().await;
    let peer = peer();
    let dir = harness::sandbox();
    write_config(dir.path(), Some(&peer.issuer));
    let server = Server::start(
        dir.path(),
        &["--dev"],
        &[("SWITCHBOARD_DATABASE_URL", schema.url.as_str())],
    )
    .await;
    let cx = Ctx {
        key: server.printed_admin_key(),
        server: &server,
        dir: dir.path(),
    };
    let user = unique("user-");
    let conn_id = unique("acct-");
    let mark = unique("MARK");
    cx.connect(&user, &conn_id).await;
    let token = cx.access_token(&conn_id).await;
    for n in 0..2 {
        store_event_pg(&schema, n, "acme", 0, Some(&conn_id), &mark).await;
    }
    let old = store_event_pg(&schema, 5, "hooks", 30, None, "OLDPG").await;
    let kept = store_event_pg(&schema, 6, "hooks", 1, None, "YOUNGPG").await;
    let sealed: String = {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&schema.url).await.unwrap();
        let s = sqlx::query_scalar(
            "SELECT encode(ciphertext, 'hex') FROM secrets
              WHERE owner = 'connections' AND owner_id = $1",
        )
        .bind(&conn_id)
        .fetch_one(&mut db)
        .await
        .unwrap();
        let _ = db.close().await;
        s
    };
    let needles = vec![
        ("the sealed credentials", sealed),
        ("the access token", token),
        ("the end user id", user.clone()),
        ("the body (hex)", hex::encode(format!("BODY-{mark}"))),
        ("a kept header", format!("HEADER-{mark}")),
        ("the mapped data", format!("MAPPED-{mark}")),
    ];
    let before = row_traces(&schema, &needles).await;
    assert!(before.len() >= 5, "the check sees the values: {before:?}");

    let done = cx
        .cli(&["user", "erase", &user, "--yes", "--json"])
        .success()
        .json();
    assert_eq!(done["counts"]["connections"], 1);
    assert_eq!(done["counts"]["events"], 2);
    let after = row_traces(&schema, &needles).await;
    assert!(after.is_empty(), "still in a row: {after:?}");
    let again = cx
        .cli(&["user", "erase", &user, "--yes", "--json"])
        .success()
        .json();
    assert_eq!(again["already_erased"], true);

    // Retention on the same database: the 30-day-old payload goes, the young one stays.
    let v = cx.cli(&["retention", "purge", "--json"]).success().json();
    assert_eq!(v, json!({"dry_run": false, "events": 1, "more": false}));
    let e = server
        .get_json(&format!("/api/events/{old}"), &cx.key)
        .await;
    assert_eq!(e["purge_reason"], "retention");
    let e = server
        .get_json(&format!("/api/events/{kept}"), &cx.key)
        .await;
    assert_eq!(e["purged_at"], Value::Null);
    assert!(
        row_traces(&schema, &[("old body", hex::encode("BODY-OLDPG"))])
            .await
            .is_empty()
    );
}
