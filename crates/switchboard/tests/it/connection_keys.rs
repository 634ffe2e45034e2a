//! `jwt_bearer` connections that bring their own key, end to end on both backends: the
//! real binary against `tests/peers/jwt-grant`, whose token endpoint verifies every
//! assertion with the npm package `jose` against each issuer's own public key (the
//! integrator's service account, customer A's Google key file, customer B's PEM). Two
//! connections of one integration with different keys both get tokens; a key the
//! provider refuses and malformed keys are refused at creation and store nothing; the
//! Connect page takes a pasted key file; the keys never appear in an API answer, a log
//! line or the database in plaintext; a disconnect and an erasure remove them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::app_auth::{APP_ORIGIN, JwtPeer, SA_CLIENT_ID};
use crate::connect::App;
use crate::harness::{self, Server, contains_bytes};
use crate::postgres::PgSchema;

const A_EMAIL: &str = "robot@customer-a.iam.example";
const B_ISSUER: &str = "3MVG9customerBconsumerKey";

fn config(peer: &JwtPeer) -> String {
    let base = &peer.base;
    format!(
        r#"
# The background refresher would race the tests' own renewals.
background_refresh_interval_secs = 3600

[[providers]]
id = "svc"
auth_mode = "jwt_bearer"
token_url = "{base}/token"
api_base_url = "{base}/api"
jwt_bearer = {{ audience = "token_url", subject = "optional", scopes = "claim" }}

# Every connection brings its own key.
[[integrations]]
id = "byo"
provider = "svc"
scopes = ["api.read"]
allowed_return_origins = ["{APP_ORIGIN}"]

# The integrator's service account.
[[integrations]]
id = "sa"
provider = "svc"
client_id = "{SA_CLIENT_ID}"
private_key = "file:{sa}"
private_key_id = "k1"
allowed_return_origins = ["{APP_ORIGIN}"]
"#,
        sa = peer.key("sa.pem"),
    )
}

/// Lines of a PEM's body that identify it (never in an answer, a log or a row).
fn marks(pem: &str) -> Vec<String> {
    let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    vec![body[1].to_owned(), body[body.len() - 2].to_owned()]
}

/// How many signing keys the database holds for connection `id` (`None`: any).
async fn signing_keys(dir: &std::path::Path, pg: Option<&PgSchema>, id: Option<&str>) -> i64 {
    let filter = id.map_or(String::new(), |id| format!(" AND owner_id = '{id}'"));
    let sql = format!(
        "SELECT COUNT(*) FROM secrets WHERE owner = 'connections' AND name = 'signing_key'{filter}"
    );
    match pg {
        Some(schema) => schema.count(&sql).await,
        None => {
            let db = harness::open_db(dir).await;
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(&db)
                .await
                .unwrap();
            db.close().await;
            n
        }
    }
}

/// Where any of `needles` is in the database in plaintext: SQLite's files (the main
/// file and its write-ahead log), or every row of the PostgreSQL schema.
async fn db_traces(
    dir: &std::path::Path,
    pg: Option<&PgSchema>,
    needles: &[(&str, String)],
) -> Vec<String> {
    match pg {
        Some(schema) => crate::privacy::row_traces(schema, needles).await,
        None => {
            let mut found = Vec::new();
            let mut seen = 0;
            for name in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
                let Ok(bytes) = std::fs::read(dir.join(name)) else {
                    continue;
                };
                seen += bytes.len();
                for (what, n) in needles {
                    if contains_bytes(&bytes, n) {
                        found.push(format!("{what} in {name}"));
                    }
                }
            }
            assert!(seen > 0, "no database file to search");
            found
        }
    }
}

async fn own_keys_end_to_end(pg: Option<&PgSchema>) {
    let peer = JwtPeer::start();
    let dir = harness::sandbox();
    std::fs::write(dir.path().join("switchboard.toml"), config(&peer)).unwrap();
    let envs: Vec<(&str, &str)> = pg
        .map(|s| vec![("SWITCHBOARD_DATABASE_URL", s.url.as_str())])
        .unwrap_or_default();
    let server = Server::start(dir.path(), &["--dev"], &envs).await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    let cli_env = [
        ("SWITCHBOARD_URL", server.base.as_str()),
        ("SWITCHBOARD_API_KEY", app.key.as_str()),
    ];
    let read = |name: &str| std::fs::read_to_string(peer.key(name)).unwrap();
    let (a_file, a_pem, b_pem, wrong_pem, ec_pem) = (
        read("customer-a.json"),
        read("customer-a.pem"),
        read("customer-b.pem"),
        read("wrong.pem"),
        read("ec.pem"),
    );
    let mut needles: Vec<(&str, String)> = Vec::new();
    for (what, pem) in [
        ("customer A's key", &a_pem),
        ("customer B's key", &b_pem),
        ("the refused key", &wrong_pem),
    ] {
        for m in marks(pem) {
            needles.push((what, m));
        }
    }
    // Every answer the API gives in this test, searched for the keys at the end.
    let mut answers: Vec<String> = Vec::new();

    // Customer A's Google key file, through the API.
    let (status, a) = app
        .post(
            "/api/connections",
            json!({"integration": "byo", "end_user_id": "cust-a", "connection_id": "a-1",
                "settings": {"subject": "alice@example.test"},
                "credentials": {"private_key": a_file}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{a}\n{}", peer.stderr());
    assert_eq!(a["settings"]["key_issuer"], A_EMAIL, "{a}");
    answers.push(a.to_string());
    // Customer B's PEM (PKCS#1) with its issuer, through the CLI.
    let out = harness::run(
        dir.path(),
        &[
            "connections",
            "create",
            "--integration",
            "byo",
            "--connection-id",
            "b-1",
            "--end-user",
            "cust-b",
            "--subject",
            "bob@example.test",
            "--private-key-file",
            &peer.key("customer-b.pem"),
            "--client-id",
            B_ISSUER,
            "--json",
        ],
        &cli_env,
    );
    out.success();
    assert_eq!(out.json()["settings"]["key_issuer"], B_ISSUER);
    answers.push(out.json().to_string());
    let stats = peer.stats().await;
    assert_eq!(
        stats["jwt_tokens_by_issuer"],
        json!({A_EMAIL: 1, B_ISSUER: 1}),
        "{stats}"
    );

    // Each connection's token is its own issuer's, through the proxy.
    for (id, who, iss) in [
        ("a-1", "alice@example.test", A_EMAIL),
        ("b-1", "bob@example.test", B_ISSUER),
    ] {
        let r = server
            .http()
            .get(server.url(&format!("/api/proxy/{id}/whoami")))
            .bearer_auth(&app.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{id}");
        let me: Value = r.json().await.unwrap();
        assert_eq!(
            me,
            json!({"kind": "service_account", "who": who, "scope": "api.read", "iss": iss})
        );
        let (status, t) = app.token(id).await;
        assert_eq!(status, StatusCode::OK, "{t}");
        answers.push(t.to_string());
        // Renewed with the same key.
        let (status, v) = app
            .post(&format!("/api/connections/{id}/refresh"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let stats = peer.stats().await;
    assert_eq!(
        stats["jwt_tokens_by_issuer"],
        json!({A_EMAIL: 2, B_ISSUER: 2}),
        "the integration's key signed nothing: {stats}"
    );

    // A key the provider refuses: 422 with its reason, nothing stored.
    let mut refused: Value = serde_json::from_str(&a_file).unwrap();
    refused["private_key"] = wrong_pem.clone().into();
    let (status, v) = app
        .post(
            "/api/connections",
            json!({"integration": "byo", "end_user_id": "cust-a", "connection_id": "a-bad",
                "credentials": {"private_key": refused.to_string()}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("Invalid JWT") && m.contains("the connection's own key"),
        "{m}"
    );
    answers.push(v.to_string());
    assert_eq!(
        app.get("/api/connections/a-bad").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(signing_keys(dir.path(), pg, Some("a-bad")).await, 0);

    // Malformed keys: a clear 400 naming the field, nothing stored, the provider not asked.
    let mut no_key: Value = serde_json::from_str(&a_file).unwrap();
    no_key.as_object_mut().unwrap().remove("private_key");
    let oversized = format!("{a_pem}{}", "A".repeat(20 * 1024));
    let before = peer.stats().await["jwt_refused"].clone();
    for (i, (credentials, needle)) in [
        (json!({"private_key": "hello"}), "is not a PEM key"),
        (json!({"private_key": ec_pem}), "is an EC key"),
        (
            json!({"private_key": no_key.to_string()}),
            "without private_key",
        ),
        (json!({"private_key": oversized}), "16384 at most"),
        (json!({}), "is missing"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("bad-{i}");
        let (status, v) = app
            .post(
                "/api/connections",
                json!({"integration": "byo", "connection_id": id, "credentials": credentials}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{i}: {v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(
            m.contains("credentials.private_key") && m.contains(needle),
            "{i}: {m}"
        );
        answers.push(v.to_string());
        assert_eq!(
            app.get(&format!("/api/connections/{id}")).await.0,
            StatusCode::NOT_FOUND
        );
    }
    assert_eq!(peer.stats().await["jwt_refused"], before);
    let out = harness::run(
        dir.path(),
        &[
            "connections",
            "create",
            "--integration",
            "byo",
            "--connection-id",
            "bad-cli",
            "--private-key-file",
            &peer.key("ec.pem"),
        ],
        &cli_env,
    );
    out.failure().stderr_has(&["EC key"]);

    // Customer B's key deleted at the provider: the renewal is refused, saying whose key.
    peer.set(json!({"revoked": [B_ISSUER]})).await;
    let (status, v) = app.post("/api/connections/b-1/refresh", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{v}");
    let (_, c) = app.get("/api/connections/b-1").await;
    assert!(
        c["last_error"]
            .as_str()
            .unwrap()
            .contains("the connection's own key"),
        "{c}"
    );
    peer.set(json!({"revoked": []})).await;

    // The Connect page: an end user pastes their key file (a session cannot include the
    // integration that signs with the integrator's key).
    let (status, v) = app
        .post(
            "/api/connect-sessions",
            json!({"end_user": {"id": "cust-c"}, "integrations": ["sa"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, s) = app
        .post(
            "/api/connect-sessions",
            json!({"end_user": {"id": "cust-c"}, "integrations": ["byo"], "connection_id": "c-page"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let token = s["token"].as_str().unwrap();
    let page = server
        .http()
        .get(s["connect_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("name=\"private_key\""), "{page}");
    let r = server
        .http()
        .post(server.url("/connect/byo"))
        .form(&[
            ("session", token),
            ("private_key", a_file.as_str()),
            ("subject", "alice@example.test"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(body.contains("is connected"), "{body}");
    answers.push(body);
    let (_, c) = app.get("/api/connections/c-page").await;
    assert_eq!(c["settings"]["key_issuer"], A_EMAIL, "{c}");
    assert_eq!(c["end_user_id"], "cust-c", "{c}");

    // What the API shows: never a key.
    for path in [
        "/api/connections",
        "/api/connections/a-1",
        "/api/connections/b-1",
        "/api/connections/c-page",
        "/api/audit?limit=500",
        "/api/integrations/byo/status",
    ] {
        let (status, v) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {v}");
        answers.push(v.to_string());
    }
    for text in &answers {
        // (A refusal may name the armour a key should have, never a key's end.)
        assert!(!text.contains("-----END"), "{text}");
        for (what, n) in &needles {
            assert!(!text.contains(n.as_str()), "{what} in an answer: {text}");
        }
    }
    // The database holds the keys sealed only.
    assert_eq!(signing_keys(dir.path(), pg, None).await, 3);
    let traces = db_traces(dir.path(), pg, &needles).await;
    assert!(traces.is_empty(), "in plaintext: {traces:?}");
    // The control: the search sees what is stored in plaintext (the issuer, a setting).
    let seen = db_traces(dir.path(), pg, &[("the issuer", A_EMAIL.to_owned())]).await;
    assert!(!seen.is_empty(), "the search finds nothing at all");

    // Disconnect and erasure remove them.
    let (status, v) = app
        .post(
            "/api/integrations/byo/disconnect",
            json!({"connection_id": "a-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(signing_keys(dir.path(), pg, Some("a-1")).await, 0);
    let out = harness::run(
        dir.path(),
        &["user", "erase", "cust-b", "--yes", "--json"],
        &cli_env,
    );
    assert_eq!(out.success().json()["counts"]["connections"], 1);
    assert_eq!(signing_keys(dir.path(), pg, Some("b-1")).await, 0);
    assert_eq!(
        signing_keys(dir.path(), pg, None).await,
        1,
        "c-page's stays"
    );

    // Nor in any log line.
    let logs = format!("{}{}", server.stdout(), server.stderr());
    assert!(!logs.contains("-----END"), "{logs}");
    for (what, n) in &needles {
        assert!(!logs.contains(n.as_str()), "{what} in the log");
    }
}

#[tokio::test]
async fn connections_with_their_own_keys_on_sqlite() {
    own_keys_end_to_end(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_with_their_own_keys_on_postgresql() {
    let schema = crate::postgres::pg_schema().await;
    own_keys_end_to_end(Some(&schema)).await;
}
