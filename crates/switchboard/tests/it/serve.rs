//! `serve`: quick start, master-key requirement, the JSON error shape.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::harness::{Server, find_api_keys, run, sandbox};

/// The `primary_key_id=…` field of the "master keys loaded" log line.
fn primary_key_id(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains("master keys loaded"))
        .unwrap_or_else(|| panic!("no 'master keys loaded' line:\n{stderr}"));
    let (_, rest) = line
        .split_once("primary_key_id=")
        .unwrap_or_else(|| panic!("no primary_key_id in {line:?}"));
    rest.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn quick_start_dev_mode() {
    let dir = sandbox();
    let key_file = dir.path().join("switchboard.dev.key");
    let mut server = Server::start(dir.path(), &["--dev"], &[]).await;

    // The dev key file exists, is private, and stderr says so.
    let mode = std::fs::metadata(&key_file)
        .expect("switchboard.dev.key was created")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "dev key file mode is {:o}",
        mode & 0o777
    );
    let stderr = server.stderr();
    assert!(
        stderr.lines().any(|l| l.contains("WARN")
            && l.contains("dev key file")
            && l.contains("switchboard.dev.key")),
        "no WARN line about the dev key file:\n{stderr}"
    );

    // Exactly one admin key on stdout.
    let key = server.printed_admin_key();
    assert!(key.starts_with("sb_"));

    // Operations endpoints.
    let res = server.get("/healthz", None).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let health: Value = res.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(server.get("/readyz", None).await.status(), 200);
    let metrics = server.get("/metrics", None).await;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("switchboard_http_requests_total"),
        "metrics:\n{text}"
    );
    let openapi = server.get("/openapi.json", None).await;
    assert_eq!(openapi.status(), 200);
    let doc: Value = openapi.json().await.expect("openapi.json is JSON");
    assert!(doc.get("openapi").is_some(), "no 'openapi' in {doc}");
    assert!(doc["paths"].is_object(), "no 'paths' in {doc}");

    // The printed key works, and its creation is audited as done by the system.
    let rows = server.audit_rows(&key).await;
    let created = rows
        .iter()
        .find(|r| r["action"] == "api_key.create")
        .unwrap_or_else(|| panic!("no api_key.create row: {rows:?}"));
    assert_eq!(created["actor"], "system");
    let first_id = primary_key_id(&stderr);
    let key_text = std::fs::read(&key_file).unwrap();
    server.stop();
    drop(server);

    // A second start reuses the file and prints no new key.
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let out = server.stdout();
    assert!(
        find_api_keys(&out).is_empty() && !out.contains("sb_"),
        "second start printed a key:\n{out}"
    );
    assert_eq!(primary_key_id(&server.stderr()), first_id);
    assert!(
        server
            .stderr()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("dev key file") && !l.contains("created")),
        "no WARN about using the dev key file:\n{}",
        server.stderr()
    );
    assert_eq!(std::fs::read(&key_file).unwrap(), key_text);
    // The first key still works.
    assert_eq!(server.get("/api/audit", Some(&key)).await.status(), 200);
}

#[tokio::test]
async fn serve_requires_a_master_key_without_dev() {
    let dir = sandbox();
    let out = run(
        dir.path(),
        &[
            "serve",
            "--listen",
            &format!("127.0.0.1:{}", crate::harness::free_port()),
        ],
        &[],
    );
    out.failure()
        .stderr_has(&["SWITCHBOARD_MASTER_KEY", "keys generate"]);
    assert!(
        !dir.path().join("switchboard.dev.key").exists(),
        "serve without --dev created a dev key file"
    );

    let generated = run(dir.path(), &["keys", "generate"], &[]);
    generated.success();
    let key = generated.stdout.trim().to_owned();
    assert_eq!(generated.stdout.lines().count(), 1, "{}", generated.stdout);
    let server = Server::start(dir.path(), &[], &[("SWITCHBOARD_MASTER_KEY", &key)]).await;
    assert_eq!(server.get("/healthz", None).await.status(), 200);
    // The id `keys generate` announced is the one in use.
    let id = primary_key_id(&server.stderr());
    assert!(
        generated.stderr.contains(&id),
        "keys generate said {:?}, serve uses {id}",
        generated.stderr
    );
    assert!(!dir.path().join("switchboard.dev.key").exists());
    assert!(
        find_api_keys(&server.stdout()).is_empty(),
        "serve without --dev printed a key"
    );
}

#[tokio::test]
async fn serve_dev_with_a_master_key_creates_no_key_file() {
    let dir = sandbox();
    let (mk, id) = crate::harness::master_key();
    let server = Server::start(dir.path(), &["--dev"], &[("SWITCHBOARD_MASTER_KEY", &mk)]).await;
    assert!(!dir.path().join("switchboard.dev.key").exists());
    assert_eq!(primary_key_id(&server.stderr()), id);
    assert!(!server.stderr().contains("DEVELOPMENT MODE"));
    // The first admin key is still created and printed.
    let key = server.printed_admin_key();
    assert_eq!(server.get("/api/api-keys", Some(&key)).await.status(), 200);
}

/// One request of the error table.
struct Case {
    name: &'static str,
    method: reqwest::Method,
    path: &'static str,
    key: Option<String>,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    status: u16,
    code: &'static str,
}

#[tokio::test]
async fn every_error_body_has_the_json_shape() {
    let dir = sandbox();
    let server = Server::start(
        dir.path(),
        &["--dev"],
        &[("SWITCHBOARD_MAX_BODY_BYTES", "2048")],
    )
    .await;
    let admin = server.printed_admin_key();
    let created: Value = server
        .http()
        .post(server.url("/api/api-keys"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "name": "app1", "scope": "app" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app = created["key"].as_str().expect("created key").to_owned();

    let big = {
        let filler = "x".repeat(4096);
        serde_json::to_vec(&serde_json::json!({ "name": filler, "scope": "app" })).unwrap()
    };
    use reqwest::Method;
    let cases = vec![
        Case {
            name: "unknown route",
            method: Method::GET,
            path: "/nope",
            key: None,
            content_type: None,
            body: None,
            status: 404,
            code: "not_found",
        },
        Case {
            name: "unknown /api route with a key",
            method: Method::GET,
            path: "/api/nope",
            key: Some(admin.clone()),
            content_type: None,
            body: None,
            status: 404,
            code: "not_found",
        },
        Case {
            name: "unknown /api route without a key",
            method: Method::GET,
            path: "/api/nope",
            key: None,
            content_type: None,
            body: None,
            status: 401,
            code: "unauthorized",
        },
        Case {
            name: "wrong method",
            method: Method::DELETE,
            path: "/healthz",
            key: None,
            content_type: None,
            body: None,
            status: 405,
            code: "method_not_allowed",
        },
        Case {
            name: "no key",
            method: Method::GET,
            path: "/api/audit",
            key: None,
            content_type: None,
            body: None,
            status: 401,
            code: "unauthorized",
        },
        Case {
            name: "invalid key",
            method: Method::GET,
            path: "/api/audit",
            key: Some("not-a-key".into()),
            content_type: None,
            body: None,
            status: 401,
            code: "unauthorized",
        },
        Case {
            name: "app key on an admin route",
            method: Method::GET,
            path: "/api/audit",
            key: Some(app.clone()),
            content_type: None,
            body: None,
            status: 403,
            code: "forbidden",
        },
        Case {
            name: "bad query",
            method: Method::GET,
            path: "/api/audit?limit=abc",
            key: Some(admin.clone()),
            content_type: None,
            body: None,
            status: 400,
            code: "invalid_request",
        },
        Case {
            name: "bad cursor",
            method: Method::GET,
            path: "/api/audit?cursor=zzz",
            key: Some(admin.clone()),
            content_type: None,
            body: None,
            status: 400,
            code: "invalid_request",
        },
        Case {
            name: "no content type",
            method: Method::POST,
            path: "/api/api-keys",
            key: Some(admin.clone()),
            content_type: None,
            body: Some(b"{}".to_vec()),
            status: 415,
            code: "unsupported_media_type",
        },
        Case {
            name: "body larger than max_body_bytes",
            method: Method::POST,
            path: "/api/api-keys",
            key: Some(admin.clone()),
            content_type: Some("application/json"),
            body: Some(big),
            status: 413,
            code: "payload_too_large",
        },
        Case {
            name: "JSON with wrong fields",
            method: Method::POST,
            path: "/api/api-keys",
            key: Some(admin.clone()),
            content_type: Some("application/json"),
            body: Some(br#"{"name": 5, "scope": "app"}"#.to_vec()),
            status: 422,
            code: "invalid_request",
        },
        Case {
            name: "malformed JSON",
            method: Method::POST,
            path: "/api/api-keys",
            key: Some(admin.clone()),
            content_type: Some("application/json"),
            body: Some(b"{bad".to_vec()),
            status: 400,
            code: "invalid_request",
        },
        Case {
            name: "revoke an unknown key",
            method: Method::POST,
            path: "/api/api-keys/aaaaaaaaaaaa/revoke",
            key: Some(admin.clone()),
            content_type: None,
            body: None,
            status: 404,
            code: "not_found",
        },
    ];

    let mut failures = Vec::new();
    for c in cases {
        let mut req = server.http().request(c.method.clone(), server.url(c.path));
        if let Some(k) = &c.key {
            req = req.bearer_auth(k);
        }
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        if let Some(b) = c.body {
            req = req.body(b);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let status = res.status().as_u16();
        let ctype = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let has_request_id = res
            .headers()
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty());
        let text = res.text().await.unwrap_or_default();
        let body: Option<Value> = serde_json::from_str(&text).ok();
        let shape_ok = body.as_ref().is_some_and(|b| {
            b.as_object().is_some_and(|o| o.len() == 1)
                && b["error"]["code"].is_string()
                && b["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
        });
        let code = body
            .as_ref()
            .and_then(|b| b["error"]["code"].as_str())
            .unwrap_or("");
        if status != c.status
            || !ctype.starts_with("application/json")
            || !has_request_id
            || !shape_ok
            || code != c.code
        {
            failures.push(format!(
                "{} ({} {}): status {status} (want {}), content-type {ctype:?}, x-request-id {has_request_id}, code {code:?} (want {}), body {text}",
                c.name, c.method, c.path, c.status, c.code
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The revoke of a key twice is a 409 with the same shape.
    let id = created["id"].as_str().unwrap();
    for expected in [200, 409] {
        let res = server
            .http()
            .post(server.url(&format!("/api/api-keys/{id}/revoke")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
        if expected == 409 {
            let b: Value = res.json().await.unwrap();
            assert_eq!(b["error"]["code"], "conflict", "{b}");
        }
    }
}
