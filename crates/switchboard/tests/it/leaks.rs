//! No secret reaches logs, stdout, metrics, API answers or the database files.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::connect::{self, App, CLIENT_SECRET};
use crate::harness::{Server, contains_bytes, find_api_keys, master_key, run, sandbox};

/// A key of the right shape that was never issued.
const WRONG_KEY: &str = "sb_abcdefghijkl_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn";

/// Makes every kind of request, good and bad; returns the keys it saw.
async fn exercise(server: &Server, admin: &str) -> Vec<String> {
    let http = server.http();
    let mut keys = vec![admin.to_owned(), WRONG_KEY.to_owned()];
    let send = |req: reqwest::RequestBuilder| async move {
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.text().await.unwrap_or_default())
    };

    assert_eq!(
        send(http.get(server.url("/api/api-keys")).bearer_auth(admin))
            .await
            .0,
        200
    );
    assert_eq!(
        send(http.get(server.url("/api/audit")).bearer_auth(admin))
            .await
            .0,
        200
    );
    assert_eq!(
        send(http.get(server.url("/api/audit")).bearer_auth(WRONG_KEY))
            .await
            .0,
        401
    );
    assert_eq!(
        send(
            http.get(server.url("/api/audit"))
                .header("authorization", "Bearer garbage!!")
        )
        .await
        .0,
        401
    );
    assert_eq!(
        send(
            http.get(server.url("/api/audit"))
                .header("authorization", format!("Basic {admin}"))
        )
        .await
        .0,
        401
    );
    assert_eq!(
        send(
            http.get(server.url(&format!("/api/audit?token={admin}")))
                .bearer_auth(WRONG_KEY)
        )
        .await
        .0,
        401
    );
    for body in [
        "{bad".to_owned(),
        r#"{"name": 5}"#.to_owned(),
        format!(r#"{{"name": "x", "scope": "{admin}"}}"#),
    ] {
        let (status, text) = send(
            http.post(server.url("/api/api-keys"))
                .bearer_auth(admin)
                .header("content-type", "application/json")
                .body(body.clone()),
        )
        .await;
        assert!((400..500).contains(&status), "{body} -> {status} {text}");
    }
    assert_eq!(send(http.get(server.url("/nope"))).await.0, 404);
    assert_eq!(
        send(http.get(server.url("/api/nope")).bearer_auth(admin))
            .await
            .0,
        404
    );

    // Create, use, revoke and reuse a key through the API.
    let (status, text) = send(
        http.post(server.url("/api/api-keys"))
            .bearer_auth(admin)
            .json(&serde_json::json!({ "name": "leak-check", "scope": "admin" })),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    let new_key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    keys.push(new_key.clone());
    assert_eq!(
        send(http.get(server.url("/api/audit")).bearer_auth(&new_key))
            .await
            .0,
        200
    );
    let (status, text) = send(
        http.post(server.url(&format!("/api/api-keys/{id}/revoke")))
            .bearer_auth(admin),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(
        find_api_keys(&text).is_empty(),
        "revoke answer has a key: {text}"
    );
    assert_eq!(
        send(http.get(server.url("/api/audit")).bearer_auth(&new_key))
            .await
            .0,
        401
    );
    let (_, listing) = send(http.get(server.url("/api/api-keys")).bearer_auth(admin)).await;
    assert!(
        find_api_keys(&listing).is_empty(),
        "listing has a key: {listing}"
    );
    let (_, audit) = send(http.get(server.url("/api/audit")).bearer_auth(admin)).await;
    assert!(
        find_api_keys(&audit).iter().all(|k| k == admin),
        "audit has a key: {audit}"
    );
    keys
}

/// A secret and the name it goes by in failure messages (never its value).
struct Secret {
    what: String,
    bytes: Vec<u8>,
}

fn secret(what: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Secret {
    Secret {
        what: what.into(),
        bytes: bytes.into(),
    }
}

/// The ways a master key may be written: its base64 forms, its raw 32 bytes and hex.
fn master_key_forms(mk: &str) -> Vec<Secret> {
    let nopad = mk.trim_end_matches('=').to_owned();
    let url = nopad.replace('+', "-").replace('/', "_");
    let raw = STANDARD.decode(mk).expect("the master key is base64");
    assert_eq!(raw.len(), 32, "a master key is 32 bytes");
    vec![
        secret("the master key (base64)", mk),
        secret("the master key (base64, no padding)", nopad),
        secret("the master key (base64url)", url),
        secret("the master key (hex)", hex::encode(&raw)),
        secret("the master key (HEX)", hex::encode_upper(&raw)),
        secret("the master key (raw bytes)", raw),
    ]
}

/// A destination's Standard Webhooks secret: `whsec_`, its base64 part and its bytes.
fn whsec_forms(what: &str, whsec: &str) -> Vec<Secret> {
    let b64 = whsec.trim_start_matches("whsec_");
    vec![
        secret(format!("{what} (whsec_)"), whsec),
        secret(format!("{what} (base64)"), b64),
        secret(
            format!("{what} (raw bytes)"),
            STANDARD.decode(b64).expect("base64"),
        ),
    ]
}

#[track_caller]
fn assert_clean(what: &str, text: &[u8], secrets: &[Secret]) {
    for s in secrets {
        assert!(
            !contains_bytes(text, &s.bytes),
            "{what} contains {}",
            s.what
        );
    }
}

const DB_FILES: [&str; 3] = ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"];

/// The database files as they are now. Fails unless the main file and a non-empty
/// write-ahead log are there (the newest writes may be only in the log).
fn db_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = DB_FILES
        .iter()
        .filter_map(|n| {
            std::fs::read(dir.join(n))
                .ok()
                .map(|b| ((*n).to_owned(), b))
        })
        .collect();
    for n in ["switchboard.db", "switchboard.db-wal"] {
        assert!(
            files.iter().any(|(f, b)| f == n && !b.is_empty()),
            "{n} is missing or empty, so the search would not cover it: {:?}",
            files.iter().map(|(f, b)| (f, b.len())).collect::<Vec<_>>()
        );
    }
    files
}

const GH_WEBHOOK_SECRET: &str = "gh-webhook-secret-for-the-leak-test";

fn github_signature(body: &[u8]) -> String {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(GH_WEBHOOK_SECRET.as_bytes()).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Uses every stored and configured secret: a token request and a forced refresh of the
/// OAuth connection `c1` (connected on the first call), a signed webhook routed to the
/// destination (whose delivery signs with its secret). Returns every API answer, by path,
/// except the token endpoint's, which is returned apart (it hands out the access token).
async fn use_secrets(
    server: &Server,
    admin: &str,
    first: bool,
    n: usize,
) -> (Vec<(String, String)>, Vec<String>) {
    let app = App {
        server,
        key: admin.to_owned(),
    };
    if first {
        app.connect("acme", "c1").await;
    }
    let mut token_answers = Vec::new();
    let (status, t) = app.token("c1").await;
    assert_eq!(status, 200, "{t}");
    token_answers.push(t.to_string());
    let (status, r) = app.post("/api/connections/c1/refresh", json!({})).await;
    assert_eq!(
        (status.as_u16(), &r["refreshed"]),
        (200, &json!(true)),
        "{r}"
    );
    let (_, t) = app.token("c1").await;
    token_answers.push(t.to_string());

    let body = format!(r#"{{"n":{n}}}"#);
    let res = server
        .http()
        .post(server.url("/webhooks/gh/event"))
        .header("X-GitHub-Delivery", format!("leak-{n}"))
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", github_signature(body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    // The destination (nothing listens there) has been tried: its secret signed a request.
    crate::harness::eventually("a delivery attempt to the destination", || async {
        let v = server.get_json("/api/events?limit=50", admin).await;
        let id = v["data"]
            .as_array()?
            .iter()
            .find(|e| e["provider_event_id"] == format!("leak-{n}"))?["id"]
            .as_str()?
            .to_owned();
        let e = server.get_json(&format!("/api/events/{id}"), admin).await;
        (e["deliveries"][0]["attempts"].as_u64()? >= 1).then_some(())
    })
    .await;

    let mut answers = Vec::new();
    for path in [
        "/api/connections",
        "/api/connections/c1",
        "/api/integrations",
        "/api/integrations/acme/status",
        "/api/integrations/gh/status",
        "/api/destinations",
        "/api/events?limit=50",
        "/api/audit?limit=500",
        "/api/api-keys",
        "/openapi.json",
        "/metrics",
        "/readyz",
    ] {
        let res = server.get(path, Some(admin)).await;
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        assert_eq!(status, 200, "GET {path}: {text}");
        answers.push((path.to_owned(), text));
    }
    (answers, token_answers)
}

#[tokio::test]
async fn no_secret_reaches_logs_stdout_or_the_database() {
    let peer = connect::peer(&[]);
    let dir = sandbox();
    let dest_secret = {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).expect("random bytes");
        format!("whsec_{}", STANDARD.encode(b))
    };
    // An OAuth integration (client secret), a webhook integration (signing secret) and a
    // destination (signing secret), every secret given through the environment.
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            r#"{}
[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["env:GH_WEBHOOK_SECRET"]

[[destinations]]
id = "app"
url = "http://127.0.0.1:{}/hook"
secret = "env:DEST_SECRET"
integrations = ["gh"]
event_types = ["*"]
retry_schedule_secs = [0, 1, 1]
"#,
            connect::config(&peer, ""),
            crate::harness::free_port()
        ),
    )
    .unwrap();
    let (mk, _) = master_key();
    let env = [
        ("SWITCHBOARD_MASTER_KEY", mk.as_str()),
        ("ACME_CLIENT_SECRET", CLIENT_SECRET),
        ("GH_WEBHOOK_SECRET", GH_WEBHOOK_SECRET),
        ("DEST_SECRET", dest_secret.as_str()),
    ];
    let created = run(
        dir.path(),
        &[
            "api-key",
            "create",
            "first-admin",
            "--scope",
            "admin",
            "--json",
        ],
        &env,
    );
    created.success();
    let admin = created.json()["key"].as_str().unwrap().to_owned();

    // Secrets that never leave Switchboard's memory or its sealed columns.
    let mut secrets = master_key_forms(&mk);
    secrets.push(secret("the OAuth client secret", CLIENT_SECRET));
    secrets.push(secret("the webhook secret", GH_WEBHOOK_SECRET));
    secrets.extend(whsec_forms("the destination secret", &dest_secret));
    let mut logs = Vec::new();
    for (run_no, (format, level)) in [("json", "debug"), ("human", "debug"), ("human", "info")]
        .into_iter()
        .enumerate()
    {
        let mut envs = env.to_vec();
        envs.push(("SWITCHBOARD_LOG_LEVEL", level));
        let mut server = Server::start(dir.path(), &["--dev", "--log-format", format], &envs).await;
        let what = format!("--log-format {format} at {level}");
        let keys = exercise(&server, &admin).await;
        for k in keys {
            secrets.push(secret(format!("API key {}…", &k[..15]), k.clone()));
            // The secret part alone, too.
            secrets.push(secret(
                format!("the secret part of API key {}…", &k[..15]),
                &k[16..],
            ));
        }
        let (answers, token_answers) = use_secrets(&server, &admin, run_no == 0, run_no).await;

        // Every token the provider issued so far: refresh and ID tokens are in no answer;
        // access tokens only in the token endpoint's.
        let issued = peer.issued_with_kind().await;
        // The code grant's three tokens, and two more for each forced refresh.
        assert!(issued.len() >= 3 + 2 * (run_no + 1), "{issued:?}");
        let tokens: Vec<Secret> = issued
            .iter()
            .map(|(kind, v)| {
                secret(
                    format!("an OAuth {kind} issued by the provider"),
                    v.as_str(),
                )
            })
            .collect();
        let not_access: Vec<Secret> = issued
            .iter()
            .filter(|(kind, _)| kind != "access_token")
            .map(|(kind, v)| secret(format!("an OAuth {kind}"), v.as_str()))
            .collect();
        for (path, text) in &answers {
            let w = format!("GET {path} ({what})");
            assert_clean(&w, text.as_bytes(), &secrets);
            assert_clean(&w, text.as_bytes(), &tokens);
        }
        // The control: the access token handed out is one the provider issued, so the
        // issued list is the right thing to search for.
        assert!(
            token_answers.iter().any(|t| issued
                .iter()
                .any(|(kind, v)| kind == "access_token" && t.contains(v.as_str()))),
            "no issued access token in the token answers"
        );
        for text in &token_answers {
            let w = format!("GET /api/connections/c1/token ({what})");
            assert_clean(&w, text.as_bytes(), &not_access);
            assert_clean(&w, text.as_bytes(), &secrets);
        }

        // The database files while the server runs: the write-ahead log is there, and the
        // files hold this run's webhook (the newest writes are covered).
        let files = db_bytes(dir.path());
        assert!(
            files
                .iter()
                .any(|(_, b)| contains_bytes(b, format!("leak-{run_no}"))),
            "this run's event is in none of the database files"
        );
        for (name, bytes) in files {
            assert_clean(&format!("{name} while serving ({what})"), &bytes, &secrets);
            assert_clean(&format!("{name} while serving ({what})"), &bytes, &tokens);
        }
        if run_no == 0 {
            // kill -9: nothing is checkpointed, the log stays as it was.
            server.signal("KILL");
            server.wait_exit();
            for (name, bytes) in db_bytes(dir.path()) {
                assert_clean(&format!("{name} after kill -9"), &bytes, &secrets);
                assert_clean(&format!("{name} after kill -9"), &bytes, &tokens);
            }
        } else {
            server.stop();
            assert!(
                server.stderr().contains("SIGTERM received"),
                "{}",
                server.stderr()
            );
        }
        let (stdout, stderr) = (server.stdout(), server.stderr());
        eprintln!(
            "{what}: {} stderr lines, {} bytes",
            stderr.lines().count(),
            stderr.len()
        );
        if level == "debug" {
            assert!(
                stderr.contains("DEBUG") || stderr.contains("\"level\":\"DEBUG\""),
                "no debug line at {what}"
            );
        }
        assert!(
            find_api_keys(&stdout).is_empty() && find_api_keys(&stderr).is_empty(),
            "a key-shaped string was logged ({what})"
        );
        if format == "json" {
            for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
                assert!(
                    serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object()),
                    "not a JSON log line: {line}"
                );
            }
        }
        logs.push((what, stdout, stderr));
    }
    // Every token issued in any run, against every log.
    let tokens: Vec<Secret> = peer
        .issued_with_kind()
        .await
        .into_iter()
        .map(|(kind, v)| secret(format!("an OAuth {kind} issued by the provider"), v))
        .collect();
    for (what, stdout, stderr) in &logs {
        for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
            assert_clean(&format!("{name} ({what})"), text.as_bytes(), &secrets);
            assert_clean(&format!("{name} ({what})"), text.as_bytes(), &tokens);
        }
    }
    // And the files at rest after a clean stop.
    for name in DB_FILES {
        if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
            assert_clean(&format!("{name} after the last stop"), &bytes, &secrets);
            assert_clean(&format!("{name} after the last stop"), &bytes, &tokens);
        }
    }
}
