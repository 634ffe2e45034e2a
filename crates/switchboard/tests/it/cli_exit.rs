//! Exit codes and errors of the CLI, one class at a time: 0 success, 1 a check that found
//! a problem (its report on stdout), 2 an error or misuse (`error: …` on stderr, or under
//! `--json` `{"error": {"code", "message"}}` on stdout and nothing on stderr).

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::harness::{self, Output, Server, master_key, run, sandbox};

/// Asserts the JSON error shape under `--json`: exit 2, exactly `{"error": {"code",
/// "message"}}` on stdout with `code`, nothing on stderr. Returns the message.
#[track_caller]
fn json_error(out: &Output, code: &str) -> String {
    out.exit_code(2);
    assert!(
        out.stderr.is_empty(),
        "`{}`: under --json an error is on stdout only; stderr:\n{}",
        out.what,
        out.stderr
    );
    let v = out.json();
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&v), ["error"], "`{}`: {v}", out.what);
    assert_eq!(
        keys(&v["error"]),
        ["code", "message"],
        "`{}`: {v}",
        out.what
    );
    assert_eq!(v["error"]["code"], code, "`{}`: {v}", out.what);
    let message = v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!message.is_empty(), "`{}`: {v}", out.what);
    message
}

/// Asserts a human error: exit 2, `error: …` on stderr naming every needle, nothing on
/// stdout.
#[track_caller]
fn human_error(out: &Output, needles: &[&str]) {
    out.exit_code(2)
        .stderr_has(&["error: "])
        .stderr_has(needles);
    assert!(
        out.stdout.is_empty(),
        "`{}`: an error prints nothing on stdout:\n{}",
        out.what,
        out.stdout
    );
}

#[test]
fn usage_errors_exit_2_and_are_json_under_json() {
    let dir = sandbox();
    // clap's own usage errors: its message, exit 2.
    for args in [
        &["webhook", "replay", "--bogus"][..],
        &["events", "list", "--limit", "0"],
        &["nope"],
        &[],
    ] {
        let out = run(dir.path(), args, &[]);
        out.exit_code(2).stderr_has(&["--help"]);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    // With --json, anywhere before `--`: the JSON error, code `usage`.
    let out = run(dir.path(), &["--json", "webhook", "replay", "--bogus"], &[]);
    let message = json_error(&out, "usage");
    assert!(
        message.contains("--bogus") && message.contains("Usage:"),
        "{message}"
    );
    let out = run(
        dir.path(),
        &["events", "list", "--limit", "0", "--json"],
        &[],
    );
    assert!(json_error(&out, "usage").contains("--limit"));
    let out = run(dir.path(), &["--json"], &[]);
    assert!(json_error(&out, "usage").contains("subcommand"));
    let out = run(
        dir.path(),
        &["--json", "webhook", "replay", "--since", "yesterday"],
        &[],
    );
    assert!(json_error(&out, "usage").contains("RFC 3339"));

    // Help and version are not errors, --json or not.
    for args in [
        &["--help"][..],
        &["--json", "--help"],
        &["--version", "--json"],
    ] {
        let out = run(dir.path(), args, &[]);
        out.success();
        assert!(out.stdout.contains("switchboard"), "{}", out.stdout);
    }

    // Misuse the CLI finds itself: the same exit code and shape.
    let remote = [
        ("SWITCHBOARD_URL", "http://127.0.0.1:9"),
        ("SWITCHBOARD_API_KEY", "sb_x"),
    ];
    let out = run(dir.path(), &["webhook", "replay"], &remote);
    human_error(&out, &["--all"]);
    let out = run(dir.path(), &["webhook", "replay", "--json"], &remote);
    assert!(json_error(&out, "usage").contains("--all"));
    let out = run(
        dir.path(),
        &["connections", "list", "--json"],
        &[("SWITCHBOARD_URL", "http://127.0.0.1:9")],
    );
    assert!(json_error(&out, "usage").contains("SWITCHBOARD_API_KEY is not set"));
}

#[test]
fn an_unreachable_server_exits_2() {
    let dir = sandbox();
    let env = [
        ("SWITCHBOARD_URL", "http://127.0.0.1:9"),
        ("SWITCHBOARD_API_KEY", "sb_x"),
    ];
    for args in [
        &["connections", "list"][..],
        &["events", "show", "evt_x"],
        &["destinations", "list"],
        &["oauth", "test", "gh"],
        &["api-key", "list"],
        &["audit", "verify"],
    ] {
        let out = run(dir.path(), args, &env);
        human_error(&out, &["cannot reach Switchboard at http://127.0.0.1:9"]);
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let out = run(dir.path(), &with_json, &env);
        let message = json_error(&out, "unreachable");
        assert!(message.contains("SWITCHBOARD_URL"), "{message}");
    }
    // `webhook test` posts to the server too.
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"s3cret\"]\n",
    )
    .unwrap();
    let out = run(dir.path(), &["webhook", "test", "gh", "--json"], &env);
    assert!(json_error(&out, "unreachable").contains("http://127.0.0.1:9"));
}

/// The API's answers, recorded.
#[derive(Debug, Default, Clone)]
struct Fake {
    requests: Arc<Mutex<Vec<(String, String, String)>>>,
}

impl Fake {
    /// A stand-in for the server's API: a replay dry run counts two events, a real
    /// replay is recorded, connections fail with a 500, destinations answer something
    /// that is not the API's JSON, anything else is a 404.
    async fn start() -> (Self, String) {
        let fake = Fake::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let f = fake.clone();
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method, uri: axum::http::Uri, body: String| {
                let f = f.clone();
                async move {
                    use axum::http::StatusCode;
                    f.requests.lock().unwrap().push((
                        method.to_string(),
                        uri.path().to_owned(),
                        body.clone(),
                    ));
                    let (status, answer) = match uri.path() {
                        "/api/events/replay" => {
                            let dry = serde_json::from_str::<Value>(&body)
                                .ok()
                                .and_then(|v| v["dry_run"].as_bool())
                                .unwrap_or(false);
                            (
                                StatusCode::OK,
                                json!({"events": 2, "deliveries": 2, "dry_run": dry}).to_string(),
                            )
                        }
                        "/api/connections" => (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            json!({"error": {"code": "internal", "message": "the database went away"}})
                                .to_string(),
                        ),
                        "/api/destinations" => (StatusCode::OK, "[not the api]".to_owned()),
                        _ => (
                            StatusCode::NOT_FOUND,
                            json!({"error": {"code": "not_found", "message": "no such thing"}})
                                .to_string(),
                        ),
                    };
                    (
                        status,
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        answer,
                    )
                }
            },
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (fake, base)
    }

    fn replays(&self, dry_run: bool) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, p, b)| {
                m == "POST"
                    && p == "/api/events/replay"
                    && serde_json::from_str::<Value>(b).unwrap()["dry_run"] == dry_run
            })
            .count()
    }
}

/// Runs the CLI off the async threads (the fake server must keep answering).
async fn cli(dir: &Path, args: &[&str], base: &str) -> Output {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let base = base.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        harness::run(
            &dir,
            &args,
            &[
                ("SWITCHBOARD_URL", base.as_str()),
                ("SWITCHBOARD_API_KEY", "sb_test"),
            ],
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_and_refusals_exit_2_and_change_nothing() {
    let (fake, base) = Fake::start().await;
    let dir = sandbox();

    // A 5xx: the server's code and message.
    let out = cli(dir.path(), &["connections", "list"], &base).await;
    human_error(&out, &["500", "internal", "the database went away"]);
    let out = cli(dir.path(), &["connections", "list", "--json"], &base).await;
    assert!(json_error(&out, "internal").contains("the database went away"));
    // A 4xx.
    let out = cli(dir.path(), &["events", "show", "evt_1", "--json"], &base).await;
    let message = json_error(&out, "not_found");
    assert!(message.contains("switchboard events list"), "{message}");
    // An answer that is not the API's.
    let out = cli(dir.path(), &["destinations", "list", "--json"], &base).await;
    json_error(&out, "unexpected_answer");

    // A bulk replay without a terminal and without --yes: counted, refused, not done.
    let out = cli(dir.path(), &["webhook", "replay", "--all"], &base).await;
    out.exit_code(2)
        .stderr_has(&["this replays 2 event(s)", "pass --yes"]);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let out = cli(dir.path(), &["webhook", "replay", "--all", "--json"], &base).await;
    assert!(json_error(&out, "not_confirmed").contains("pass --yes"));
    assert_eq!(fake.replays(true), 2, "two dry runs");
    assert_eq!(fake.replays(false), 0, "nothing replayed");
    // With --yes it goes on (and the same server is used, so the refusals above were
    // the CLI's).
    let out = cli(
        dir.path(),
        &["webhook", "replay", "--all", "--yes", "--json"],
        &base,
    )
    .await;
    out.success();
    assert_eq!(out.json()["dry_run"], false);
    assert_eq!(fake.replays(false), 1);
}

#[tokio::test]
async fn errors_of_a_real_server_exit_2_with_its_code() {
    let dir = sandbox();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let admin = server.printed_admin_key();
    let with = |key: &str, args: &[&str]| {
        run(
            dir.path(),
            args,
            &[
                ("SWITCHBOARD_URL", server.base.as_str()),
                ("SWITCHBOARD_API_KEY", key),
            ],
        )
    };
    let out = with(&admin, &["connections", "show", "nope", "--json"]);
    json_error(&out, "not_found");
    let out = with(&admin, &["oauth", "test", "nope"]);
    human_error(&out, &["404", "not_found"]);
    let out = with(
        "sb_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        &["events", "list", "--json"],
    );
    assert!(json_error(&out, "unauthorized").contains("check SWITCHBOARD_API_KEY"));
    // An app key may not manage keys: 403, and no key was made.
    let app = with(&admin, &["api-key", "create", "app", "--json"]);
    let app = app.success().json()["key"].as_str().unwrap().to_owned();
    let out = with(
        &app,
        &["api-key", "create", "sneaky", "--scope", "admin", "--json"],
    );
    json_error(&out, "forbidden");
    let names: Vec<Value> = with(&admin, &["api-key", "list", "--json"])
        .success()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].clone())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.contains(&json!("sneaky")));
}

#[test]
fn bad_input_and_unreadable_files_exit_2_and_change_nothing() {
    let dir = sandbox();
    let (mk, _) = master_key();
    let env = [("SWITCHBOARD_MASTER_KEY", mk.as_str())];
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"s3cret\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("body.txt"), b"{}").unwrap();
    std::fs::write(
        dir.path().join("headers.txt"),
        b"X-Hub-Signature-256: sha256=00\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("bad-headers.txt"), b"no colon\n").unwrap();

    // Offline admin verbs: the engine's code; nothing is written.
    let out = run(
        dir.path(),
        &["api-key", "create", "no/slashes", "--json"],
        &env,
    );
    json_error(&out, "invalid_request");
    let out = run(dir.path(), &["api-key", "create", "no/slashes"], &env);
    human_error(&out, &["name"]);
    let out = run(
        dir.path(),
        &["integration", "disable", "nope", "--json"],
        &env,
    );
    assert!(json_error(&out, "not_found").contains("nope"));
    let keys = run(dir.path(), &["api-key", "list", "--json"], &env);
    assert_eq!(keys.success().json(), json!([]));
    let states = run(dir.path(), &["integration", "list", "--json"], &env);
    assert_eq!(states.success().json()[0]["disabled"], false);
    let audit = run(dir.path(), &["audit", "list", "--json"], &env);
    assert_eq!(audit.success().json()["data"], json!([]), "nothing audited");
    // Without a master key: a configuration error.
    let out = run(dir.path(), &["api-key", "list", "--json"], &[]);
    assert!(json_error(&out, "invalid_config").contains("SWITCHBOARD_MASTER_KEY"));

    // Files that cannot be read, or that are not what they should be.
    let verify = |headers: &str, body: &str, integration: &str| {
        run(
            dir.path(),
            &[
                "webhook",
                "verify",
                integration,
                "--headers",
                headers,
                "--body",
                body,
                "--json",
            ],
            &[],
        )
    };
    assert!(
        json_error(&verify("missing.txt", "body.txt", "gh"), "unreadable_file")
            .contains("missing.txt")
    );
    assert!(
        json_error(&verify("headers.txt", "gone.txt", "gh"), "unreadable_file")
            .contains("gone.txt")
    );
    assert!(
        json_error(
            &verify("bad-headers.txt", "body.txt", "gh"),
            "invalid_input"
        )
        .contains("line 1")
    );
    assert!(json_error(&verify("headers.txt", "body.txt", "nope"), "not_found").contains("gh"));
    let out = run(
        dir.path(),
        &["webhook", "test", "gh", "--event", "missing.json", "--json"],
        &[("SWITCHBOARD_URL", "http://127.0.0.1:9")],
    );
    assert!(json_error(&out, "unreadable_file").contains("missing.json"));
    let out = run(
        dir.path(),
        &["--config", "nowhere.toml", "migrate", "--json"],
        &[],
    );
    assert!(json_error(&out, "unreadable_file").contains("nowhere.toml"));

    // `serve` stops on a configuration error with the same code.
    let out = run(dir.path(), &["serve", "--listen", "nowhere", "--json"], &[]);
    assert!(json_error(&out, "invalid_config").contains("listen"));
}

#[test]
fn checks_that_find_a_problem_exit_1_with_their_report() {
    let dir = sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"s3cret\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("body.txt"), b"{}").unwrap();
    std::fs::write(
        dir.path().join("headers.txt"),
        b"X-Hub-Signature-256: sha256=00\n",
    )
    .unwrap();

    // config check: a configuration that loads is fine (0).
    run(dir.path(), &["config", "check"], &[]).success();
    // webhook verify with a bad signature: the report, on stdout, exit 1.
    let args = [
        "webhook",
        "verify",
        "gh",
        "--headers",
        "headers.txt",
        "--body",
        "body.txt",
    ];
    let out = run(dir.path(), &args, &[]);
    out.exit_code(1);
    assert!(
        out.stdout.starts_with("invalid: github check failed"),
        "{}",
        out.stdout
    );
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let v = run(dir.path(), &with_json, &[]).exit_code(1).json();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["scheme"], "github", "{v}");
    assert!(
        v["error"]["code"].is_string() && v["error"]["message"].is_string(),
        "{v}"
    );

    // config check of a configuration with a problem: exit 1, the report.
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "log_format = \"xml\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["config", "check"], &[]);
    out.exit_code(1)
        .stderr_has(&["configuration error", "log_format"]);
    let v = run(dir.path(), &["config", "check", "--json"], &[])
        .exit_code(1)
        .json();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["error"]["code"], "invalid_config", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("log_format"),
        "{v}"
    );
}
