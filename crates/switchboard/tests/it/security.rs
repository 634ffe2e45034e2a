//! `switchboard security audit` end to end: a clean development set-up has no high
//! finding, each file check (a literal master key, loose key and database files, the
//! development key as master key) is found, `--json`'s shape, exit codes 1 and 2, and a
//! database that cannot be read is left as it was; then metrics on their own listener.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use crate::harness::{Server, free_port, master_key, run, sandbox};

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Writes a development key file (mode 0600), as `serve --dev` does.
fn dev_key(dir: &Path) -> String {
    let (key, _) = master_key();
    let path = dir.join("switchboard.dev.key");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    chmod(&path, 0o600);
    key
}

/// `migrate` in `dir`, then the database files made private.
fn migrate(dir: &Path, envs: &[(&str, &str)]) {
    run(dir, &["migrate"], envs).success();
    for f in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
        if dir.join(f).exists() {
            chmod(&dir.join(f), 0o600);
        }
    }
}

fn audit(dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> crate::harness::Output {
    let mut args = vec!["security", "audit"];
    args.extend_from_slice(extra);
    run(dir, &args, envs)
}

fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

fn finding<'a>(report: &'a Value, code: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {report:#}"))
}

#[test]
fn a_clean_development_setup_has_no_high_finding() {
    let dir = sandbox();
    dev_key(dir.path());
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"env:GH_SECRET\"]\n",
    )
    .unwrap();
    let envs = [("GH_SECRET", "0123456789abcdef0123456789abcdef-gh")];
    migrate(dir.path(), &envs);

    let out = audit(dir.path(), &["--dev", "--json"], &envs);
    out.exit_code(0);
    let report = out.json();
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(report["counts"]["high"], 0, "{report:#}");
    // Only the note that the development key is in use.
    assert_eq!(codes(&report), ["SB-KEY-004"], "{report:#}");
    assert_eq!(finding(&report, "SB-KEY-004")["severity"], "info");

    // For people: a table, no colour when stdout is not a terminal.
    let out = audit(dir.path(), &["--dev"], &envs);
    out.exit_code(0);
    assert!(out.stdout.contains("SB-KEY-004"), "{}", out.stdout);
    assert!(out.stdout.contains("fix:"), "{}", out.stdout);
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);

    // As a production deployment, the development key is a high finding: exit 1.
    let out = audit(dir.path(), &["--json"], &envs);
    out.exit_code(1);
    let report = out.json();
    assert_eq!(report["ok"], false);
    assert_eq!(finding(&report, "SB-KEY-004")["severity"], "high");
}

#[test]
fn the_json_report_has_a_stable_shape() {
    let dir = sandbox();
    dev_key(dir.path());
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "listen = \"0.0.0.0:8080\"\nallow_hosts = [\"169.254.169.254\"]\n\n[[integrations]]\nid = \"hooks\"\nprovider = \"standard-webhooks\"\n",
    )
    .unwrap();
    migrate(dir.path(), &[]);
    let out = audit(dir.path(), &["--dev", "--json"], &[]);
    out.exit_code(1);
    let report = out.json();
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["counts", "findings", "ok"]);
    for f in report["findings"].as_array().unwrap() {
        let mut fields: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["code", "fix", "integration", "severity", "subject", "title"]
        );
        assert!(matches!(
            f["severity"].as_str().unwrap(),
            "high" | "medium" | "low" | "info"
        ));
    }
    // Most severe first; findings about an integration carry its id.
    assert_eq!(report["findings"][0]["code"], "SB-NET-003");
    assert_eq!(report["findings"][0]["severity"], "high");
    assert_eq!(finding(&report, "SB-WH-001")["integration"], "hooks");
    assert_eq!(finding(&report, "SB-METRICS-001")["severity"], "medium");
    assert_eq!(report["counts"]["high"], 1);
}

#[test]
fn a_master_key_written_in_the_config_file_is_high_and_never_printed() {
    let dir = sandbox();
    let (key, _) = master_key();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!("master_key = \"{key}\"\n"),
    )
    .unwrap();
    migrate(dir.path(), &[]);
    let out = audit(dir.path(), &["--json"], &[]);
    out.exit_code(1);
    let report = out.json();
    let f = finding(&report, "SB-KEY-001");
    assert_eq!(f["severity"], "high");
    assert_eq!(f["subject"], "config:master_key");
    let text = audit(dir.path(), &[], &[]);
    for o in [&out, &text] {
        assert!(!o.stdout.contains(&key) && !o.stderr.contains(&key));
    }

    // The same key from the environment, or as file:, is not a literal in the file.
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "master_key = \"env:SB_KEY\"\n",
    )
    .unwrap();
    let out = audit(dir.path(), &["--json"], &[("SB_KEY", &key)]);
    out.exit_code(0);
    assert!(codes(&out.json()).is_empty(), "{}", out.stdout);
}

#[test]
fn key_and_database_files_readable_by_others_are_found() {
    let dir = sandbox();
    let (key, _) = master_key();
    let key_path = dir.path().join("master.key");
    std::fs::write(&key_path, format!("{key}\n")).unwrap();
    chmod(&key_path, 0o644);
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!("master_key = \"file:{}\"\n", key_path.display()),
    )
    .unwrap();
    migrate(dir.path(), &[]);
    chmod(&dir.path().join("switchboard.db"), 0o640);

    let out = audit(dir.path(), &["--json"], &[]);
    out.exit_code(1);
    let report = out.json();
    let k = finding(&report, "SB-KEY-002");
    assert_eq!(k["severity"], "high");
    assert_eq!(k["subject"], format!("file:{}", key_path.display()));
    assert_eq!(k["fix"], format!("chmod 600 {}", key_path.display()));
    // Readable by the group only: medium.
    assert_eq!(finding(&report, "SB-DB-001")["severity"], "medium");
    chmod(&dir.path().join("switchboard.db"), 0o644);
    let report = audit(dir.path(), &["--json"], &[]).json();
    assert_eq!(finding(&report, "SB-DB-001")["severity"], "high");

    // Fixed as the findings say: nothing left.
    chmod(&key_path, 0o600);
    chmod(&dir.path().join("switchboard.db"), 0o600);
    let out = audit(dir.path(), &["--json"], &[]);
    out.exit_code(0);
    assert!(codes(&out.json()).is_empty(), "{}", out.stdout);
}

#[test]
fn the_development_key_as_master_key_is_found() {
    let dir = sandbox();
    dev_key(dir.path());
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "master_key = \"file:switchboard.dev.key\"\n",
    )
    .unwrap();
    migrate(dir.path(), &[]);
    let out = audit(dir.path(), &["--json"], &[]);
    out.exit_code(1);
    let report = out.json();
    assert_eq!(codes(&report), ["SB-KEY-003"], "{report:#}");
    assert!(
        finding(&report, "SB-KEY-003")["fix"]
            .as_str()
            .unwrap()
            .contains("switchboard keys rotate")
    );
}

#[test]
fn other_secrets_written_in_the_config_file_are_found_per_integration() {
    let dir = sandbox();
    let (key, _) = master_key();
    let client_secret = "literal-client-secret-5f1c";
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            "[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nclient_id = \"Iv1.x\"\nclient_secret = \"{client_secret}\"\nwebhook_secrets = [\"env:GH_SECRET\"]\n"
        ),
    )
    .unwrap();
    let envs = [
        ("SWITCHBOARD_MASTER_KEY", key.as_str()),
        ("GH_SECRET", "0123456789abcdef0123456789abcdef-gh"),
    ];
    migrate(dir.path(), &envs);
    let out = audit(dir.path(), &["--json"], &envs);
    // Medium only: exit 0.
    out.exit_code(0);
    let report = out.json();
    assert_eq!(codes(&report), ["SB-CFG-001"], "{report:#}");
    let f = finding(&report, "SB-CFG-001");
    assert_eq!(f["integration"], "gh");
    assert!(f["title"].as_str().unwrap().contains("client_secret"));
    assert!(!out.stdout.contains(client_secret) && !out.stderr.contains(client_secret));
}

#[test]
fn a_config_that_does_not_parse_exits_2() {
    let dir = sandbox();
    std::fs::write(dir.path().join("switchboard.toml"), "listen = [\n").unwrap();
    let out = audit(dir.path(), &["--json"], &[]);
    out.exit_code(2);
    assert_eq!(out.json()["error"]["code"], "invalid_config");
    let out = audit(dir.path(), &[], &[]);
    out.exit_code(2);
    assert!(out.stderr.contains("switchboard.toml"), "{}", out.stderr);
    // No database was made on the way.
    assert!(!dir.path().join("switchboard.db").exists());
}

#[tokio::test]
async fn a_database_that_cannot_be_read_exits_2_and_is_left_as_it_was() {
    let dir = sandbox();
    dev_key(dir.path());
    // Missing: not created.
    let out = audit(dir.path(), &["--json"], &[]);
    out.exit_code(2);
    assert_eq!(out.json()["error"]["code"], "not_found");
    assert!(!dir.path().join("switchboard.db").exists());

    // Not a database: not touched.
    let junk = b"this is not a SQLite database, only bytes\n";
    std::fs::write(dir.path().join("switchboard.db"), junk).unwrap();
    let out = audit(dir.path(), &["--json"], &[]);
    out.exit_code(2);
    let e = out.json();
    assert_eq!(e["error"]["code"], "database");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("switchboard.db")
    );
    assert!(std::fs::read(dir.path().join("switchboard.db")).unwrap() == junk);
    assert!(!dir.path().join("switchboard.db-wal").exists());

    // A SQLite database that is not Switchboard's: refused, and not migrated.
    let other = dir.path().join("other.db");
    {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&other)
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        sqlx::query("CREATE TABLE notes (t TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let before = std::fs::read(&other).unwrap();
    let url = format!("sqlite://{}", other.display());
    let out = audit(dir.path(), &["--json", "--database-url", &url], &[]);
    out.exit_code(2);
    assert_eq!(out.json()["error"]["code"], "database");
    assert!(std::fs::read(&other).unwrap() == before, "the file changed");

    // The same in WAL mode, as Switchboard keeps its own: opened, found without the
    // schema, refused, and left as it was.
    {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&other)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        pool.close().await;
    }
    let before = std::fs::read(&other).unwrap();
    let out = audit(dir.path(), &["--json", "--database-url", &url], &[]);
    out.exit_code(2);
    assert_eq!(out.json()["error"]["code"], "schema_mismatch");
    assert!(std::fs::read(&other).unwrap() == before, "the file changed");
}

#[tokio::test]
async fn on_postgresql_the_audit_reads_the_database_and_flags_a_password_in_the_file() {
    let schema = crate::postgres::pg_schema().await;
    let dir = sandbox();
    let (key, _) = master_key();
    let envs = [
        ("SWITCHBOARD_DATABASE_URL", schema.url.as_str()),
        ("SWITCHBOARD_MASTER_KEY", key.as_str()),
    ];
    run(dir.path(), &["migrate"], &envs).success();
    let out = audit(dir.path(), &["--json"], &envs);
    out.exit_code(0);
    assert!(codes(&out.json()).is_empty(), "{}", out.stdout);

    // The same database named in the file with a password (the test server trusts
    // every connection, so any password opens it).
    let password = "pg-file-password-83e1";
    let with_password = schema.url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{password}@"),
        1,
    );
    assert_ne!(
        with_password, schema.url,
        "the test URL names user postgres"
    );
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!("database_url = \"{with_password}\"\n"),
    )
    .unwrap();
    let envs = [("SWITCHBOARD_MASTER_KEY", key.as_str())];
    let out = audit(dir.path(), &["--json"], &envs);
    out.exit_code(0);
    let report = out.json();
    assert_eq!(codes(&report), ["SB-DB-002"], "{report:#}");
    assert!(!out.stdout.contains(password) && !out.stderr.contains(password));

    // An unreachable server: exit 2, naming the setting, never the password.
    let closed = format!(
        "postgres://postgres:{password}@127.0.0.1:{}/test",
        free_port()
    );
    let out = audit(
        dir.path(),
        &["--json", "--database-url", &closed],
        &[
            ("SWITCHBOARD_MASTER_KEY", key.as_str()),
            ("SWITCHBOARD_DATABASE_ACQUIRE_TIMEOUT_SECS", "2"),
        ],
    );
    out.exit_code(2);
    assert!(out.stdout.contains("database_url"), "{}", out.stdout);
    assert!(!out.stdout.contains(password) && !out.stderr.contains(password));
}

#[tokio::test]
async fn metrics_listen_serves_metrics_on_its_own_port_only() {
    let dir = sandbox();
    let port = free_port();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!("metrics_listen = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let main = server.get("/metrics", None).await;
    assert_eq!(main.status(), 404);
    let body: Value = main.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let scrape = server
        .http()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), 200);
    let text = scrape.text().await.unwrap();
    assert!(text.contains("switchboard_"), "{text}");
    // The API is not on the metrics port.
    let other = server
        .http()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}
