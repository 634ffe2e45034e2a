//! No secret reaches logs, stdout or the database file.

use std::path::Path;

use serde_json::Value;

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

/// The ways a master key may be written.
fn master_key_forms(mk: &str) -> Vec<String> {
    let nopad = mk.trim_end_matches('=').to_owned();
    let url = nopad.replace('+', "-").replace('/', "_");
    vec![mk.to_owned(), nopad, url]
}

#[track_caller]
fn assert_clean(what: &str, text: &[u8], secrets: &[String]) {
    for s in secrets {
        assert!(
            !contains_bytes(text, s),
            "{what} contains the secret {}…",
            &s[..6]
        );
    }
}

fn db_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"]
        .iter()
        .filter_map(|n| {
            std::fs::read(dir.join(n))
                .ok()
                .map(|b| ((*n).to_owned(), b))
        })
        .collect()
}

#[tokio::test]
async fn no_secret_reaches_logs_stdout_or_the_database() {
    let dir = sandbox();
    let (mk, _) = master_key();
    let env = [("SWITCHBOARD_MASTER_KEY", mk.as_str())];
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

    let mut secrets = master_key_forms(&mk);
    for (format, level) in [("json", "debug"), ("human", "debug"), ("human", "info")] {
        let envs = [
            ("SWITCHBOARD_MASTER_KEY", mk.as_str()),
            ("SWITCHBOARD_LOG_LEVEL", level),
        ];
        let mut server = Server::start(dir.path(), &["--log-format", format], &envs).await;
        let keys = exercise(&server, &admin).await;
        server.stop();
        for k in keys {
            secrets.push(k.clone());
            // The secret part alone, too.
            secrets.push(k[16..].to_owned());
        }
        let (stdout, stderr) = (server.stdout(), server.stderr());
        let what = format!("--log-format {format} at {level}");
        eprintln!(
            "{what}: {} stderr lines, {} bytes",
            stderr.lines().count(),
            stderr.len()
        );
        assert_clean(&format!("stdout ({what})"), stdout.as_bytes(), &secrets);
        assert_clean(&format!("stderr ({what})"), stderr.as_bytes(), &secrets);
        assert!(
            find_api_keys(&stdout).is_empty() && find_api_keys(&stderr).is_empty(),
            "a key-shaped string was logged ({what})"
        );
        assert!(stderr.contains("SIGTERM received"), "{stderr}");
        if format == "json" {
            for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
                assert!(
                    serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object()),
                    "not a JSON log line: {line}"
                );
            }
        }
    }
    for (name, bytes) in db_bytes(dir.path()) {
        assert_clean(&name, &bytes, &secrets);
    }
}
