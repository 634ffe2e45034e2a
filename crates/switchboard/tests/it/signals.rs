//! Signals: graceful shutdown on SIGTERM and SIGINT, configuration reload on SIGHUP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Server, eventually, sandbox};

async fn shuts_down_gracefully_on(sig: &str, name: &str) {
    let dir = sandbox();
    let mut server = Server::start(dir.path(), &["--dev"], &[]).await;
    server.signal(sig);
    let status = server.wait_exit();
    let stderr = server.stderr();
    assert_eq!(
        status.code(),
        Some(0),
        "exit after {name}: {status}\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name} received")),
        "no '{name} received':\n{stderr}"
    );
    assert!(
        stderr.lines().any(|l| l.trim_end().ends_with("stopped")),
        "no 'stopped':\n{stderr}"
    );
    // The port is closed.
    assert!(
        server
            .http()
            .get(server.url("/healthz"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    shuts_down_gracefully_on("TERM", "SIGTERM").await;
}

#[tokio::test]
async fn sigint_shuts_down_gracefully() {
    shuts_down_gracefully_on("INT", "SIGINT").await;
}

fn reload_rows(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .filter(|r| r["action"] == "config.reload")
        .cloned()
        .collect()
}

#[tokio::test]
async fn sighup_reloads_the_config_and_refuses_a_bad_one() {
    let dir = sandbox();
    let file = dir.path().join("switchboard.toml");
    std::fs::write(&file, "log_level = \"info\"\n").unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let key = server.printed_admin_key();

    let _ = server.get("/readyz", None).await;
    assert!(
        !server.stderr().contains(" DEBUG "),
        "debug lines at level info"
    );
    std::fs::write(&file, "log_level = \"debug\"\n").unwrap();
    server.signal("HUP");
    let row = eventually("a config.reload audit row", || async {
        reload_rows(&server.audit_rows(&key).await)
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(row["actor"], "signal:SIGHUP", "{row}");
    let changed = row["details"]["changed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        changed.iter().any(|c| c == "log_level"),
        "details.changed lacks log_level: {row}"
    );
    server.wait_for_stderr("configuration reloaded").await;
    // The new level is in force: debug lines appear.
    let _ = server.get("/readyz", None).await;
    server.wait_for_stderr(" DEBUG ").await;

    // An invalid file is refused; the server keeps running on the old configuration.
    std::fs::write(&file, "log_level = 5\n").unwrap();
    server.signal("HUP");
    let stderr = server.wait_for_stderr("reload refused").await;
    assert!(stderr.contains("log_level"), "{stderr}");
    assert_eq!(server.get("/healthz", None).await.status(), 200);
    assert_eq!(
        reload_rows(&server.audit_rows(&key).await).len(),
        1,
        "a refused reload was recorded as a reload"
    );

    // A valid file is taken again afterwards.
    std::fs::write(&file, "log_level = \"info\"\nshutdown_grace_secs = 5\n").unwrap();
    server.signal("HUP");
    let rows = eventually("a second config.reload row", || async {
        let r = reload_rows(&server.audit_rows(&key).await);
        (r.len() == 2).then_some(r)
    })
    .await;
    let changed = rows[0]["details"]["changed"].to_string();
    assert!(
        changed.contains("log_level") && changed.contains("shutdown_grace_secs"),
        "{changed}"
    );
}

/// Opens a connection and sends an authenticated POST whose body is incomplete, so that
/// the request stays in flight; waits until the server has authenticated it (visible at
/// log level debug as the key lookup in the request's span). Returns the connection and
/// the rest of the body.
async fn stalled_request(server: &Server, key: &str) -> (TcpStream, Vec<u8>) {
    let body = br#"{"name": "late", "scope": "app"}"#;
    let addr = server.base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /api/api-keys HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(&body[..5]).unwrap();
    conn.flush().unwrap();
    eventually("the stalled request to be authenticated", || async {
        server
            .stderr()
            .lines()
            .any(|l| {
                l.contains("method=POST path=/api/api-keys") && l.contains("FROM api_keys WHERE id")
            })
            .then_some(())
    })
    .await;
    (conn, body[5..].to_vec())
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let dir = sandbox();
    let mut server = Server::start(
        dir.path(),
        &["--dev"],
        &[
            ("SWITCHBOARD_LOG_LEVEL", "debug"),
            ("SWITCHBOARD_SHUTDOWN_GRACE_SECS", "3600"),
        ],
    )
    .await;
    let key = server.printed_admin_key();
    let (mut conn, rest) = stalled_request(&server, &key).await;
    server.signal("TERM");
    server.wait_for_stderr("shutting down").await;
    conn.write_all(&rest).unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert!(!server.stderr().contains("did not finish"));
}

#[tokio::test]
async fn shutdown_closes_requests_still_running_after_the_grace_period() {
    let dir = sandbox();
    let mut server = Server::start(
        dir.path(),
        &["--dev"],
        &[
            ("SWITCHBOARD_LOG_LEVEL", "debug"),
            ("SWITCHBOARD_SHUTDOWN_GRACE_SECS", "0"),
            ("SWITCHBOARD_REQUEST_TIMEOUT_SECS", "3600"),
        ],
    )
    .await;
    let key = server.printed_admin_key();
    let (_conn, _) = stalled_request(&server, &key).await;
    server.signal("TERM");
    let status = server.wait_exit();
    let stderr = server.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("did not finish within shutdown_grace_secs") && stderr.contains("stopped"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sighup_reload_of_shutdown_grace_secs_takes_effect() {
    let dir = sandbox();
    let file = dir.path().join("switchboard.toml");
    let config = |grace: u32| {
        format!(
            // No key cache: the stalled request's key lookup must reach the (logged)
            // database, which is how the test knows the request was authenticated.
            "log_level = \"debug\"\nrequest_timeout_secs = 3600\nshutdown_grace_secs = {grace}\napi_key_cache_secs = 0\n"
        )
    };
    std::fs::write(&file, config(3600)).unwrap();
    let mut server = Server::start(dir.path(), &["--dev"], &[]).await;
    let key = server.printed_admin_key();
    std::fs::write(&file, config(0)).unwrap();
    server.signal("HUP");
    let row = eventually("a config.reload audit row", || async {
        reload_rows(&server.audit_rows(&key).await)
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(
        row["details"]["changed"],
        serde_json::json!(["shutdown_grace_secs"])
    );
    // The reload says that no restart is needed for it...
    assert_eq!(row["details"]["needs_restart"], serde_json::json!([]));
    // ...so shutdown must now give in-flight requests 0 s, not 3600 s.
    let (_conn, _) = stalled_request(&server, &key).await;
    server.signal("TERM");
    let status = server.wait_exit();
    let stderr = server.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("grace_secs=0"), "{stderr}");
}
