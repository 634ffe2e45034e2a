//! `migrate` and `api-key`, locally and through a running server.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::harness::{Server, audit_list_local, find_api_keys, master_key, run, sandbox};

#[test]
fn migrate_twice_applies_once() {
    // Every migration the SQLite store embeds.
    let embedded = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../store-sqlite/migrations"
    ))
    .unwrap()
    .filter(|e| {
        e.as_ref()
            .unwrap()
            .path()
            .extension()
            .is_some_and(|x| x == "sql")
    })
    .count();
    assert!(embedded >= 2);
    let dir = sandbox();
    let first = run(dir.path(), &["migrate", "--json"], &[]);
    first.success();
    assert_eq!(first.json()["applied"], embedded, "{}", first.stdout);
    assert_eq!(first.json()["database"], "sqlite");
    let second = run(dir.path(), &["migrate", "--json"], &[]);
    second.success();
    assert_eq!(second.json()["applied"], 0, "{}", second.stdout);
    // Human output says the same.
    let third = run(dir.path(), &["migrate"], &[]);
    third.success();
    assert!(
        third.stdout.contains("0 migration(s) applied"),
        "{}",
        third.stdout
    );
    // An explicit database URL is honoured.
    let other = run(
        dir.path(),
        &["migrate", "--json", "--database-url", "sqlite://other.db"],
        &[],
    );
    other.success();
    assert_eq!(other.json()["applied"], embedded);
    assert!(dir.path().join("other.db").exists());
}

#[test]
fn api_key_cli_local_mode() {
    let dir = sandbox();
    let (mk, _) = master_key();
    let envs = [("SWITCHBOARD_MASTER_KEY", mk.as_str()), ("USER", "it-user")];

    let created = run(
        dir.path(),
        &["api-key", "create", "ci", "--scope", "app", "--json"],
        &envs,
    );
    created.success();
    let v = created.json();
    let key = v["key"].as_str().expect("key in output").to_owned();
    let id = v["id"].as_str().expect("id in output").to_owned();
    assert!(key.starts_with(&format!("sb_{id}_")), "{key}");
    assert_eq!(find_api_keys(&key), vec![key.clone()]);
    assert_eq!(v["name"], "ci");
    assert_eq!(v["scope"], "app");

    let listed = run(dir.path(), &["api-key", "list", "--json"], &envs);
    listed.success();
    let rows = listed.json();
    let rows = rows.as_array().expect("a list");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], id.as_str());
    assert!(rows[0].get("key").is_none());
    let secret = &key[16..];
    for out in [&listed.stdout, &listed.stderr] {
        assert!(
            !out.contains("sb_") && !out.contains(secret),
            "list shows a secret:\n{out}"
        );
    }
    // The table form neither.
    let table = run(dir.path(), &["api-key", "list"], &envs);
    table.success();
    assert!(table.stdout.contains(&id) && !table.stdout.contains("sb_"));

    let revoked = run(dir.path(), &["api-key", "revoke", &id], &envs);
    revoked.success();
    assert!(revoked.stdout.contains(&id), "{}", revoked.stdout);
    let listed = run(dir.path(), &["api-key", "list", "--json"], &envs);
    assert!(
        listed.json()[0]["revoked_at"].is_string(),
        "{}",
        listed.stdout
    );

    let again = run(dir.path(), &["api-key", "revoke", &id], &envs);
    again.failure().stderr_has(&["already revoked", &id]);
    let unknown = run(dir.path(), &["api-key", "revoke", "zzzzzzzzzzzz"], &envs);
    unknown.failure().stderr_has(&["not found", "zzzzzzzzzzzz"]);
    let bad_name = run(dir.path(), &["api-key", "create", "no/slashes"], &envs);
    bad_name.failure().stderr_has(&["name"]);

    // The audit log names the CLI user.
    let rows = audit_list_local(dir.path(), &envs);
    let acts: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap_or_default(),
                r["actor"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        acts,
        vec![
            ("api_key.revoke", "cli:it-user"),
            ("api_key.create", "cli:it-user")
        ]
    );
}

#[tokio::test]
async fn api_key_cli_local_mode_uses_the_dev_key_file() {
    let dir = sandbox();
    // No key at all: a clear error, and no key file is created.
    let out = run(dir.path(), &["api-key", "list"], &[]);
    out.failure().stderr_has(&["SWITCHBOARD_MASTER_KEY"]);
    assert!(!dir.path().join("switchboard.dev.key").exists());

    // After `serve --dev` created the key file, local verbs use it.
    let mut server = Server::start(dir.path(), &["--dev"], &[]).await;
    let admin = server.printed_admin_key();
    server.stop();
    drop(server);
    let listed = run(dir.path(), &["api-key", "list", "--json"], &[]);
    listed.success();
    let rows = listed.json();
    assert_eq!(rows[0]["name"], "bootstrap-admin");
    assert!(admin.contains(rows[0]["id"].as_str().unwrap()));

    // A key file others can read is refused.
    let key_file = dir.path().join("switchboard.dev.key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(dir.path(), &["api-key", "list"], &[]);
    out.failure()
        .stderr_has(&["switchboard.dev.key", "chmod 600"]);
}

fn remote_env<'a>(url: &'a str, key: &'a str) -> [(&'static str, &'a str); 2] {
    [("SWITCHBOARD_URL", url), ("SWITCHBOARD_API_KEY", key)]
}

#[tokio::test]
async fn api_key_cli_remote_mode() {
    let dir = sandbox();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let admin = server.printed_admin_key();
    // The CLI runs elsewhere: it has neither the database nor a master key, so it can
    // only succeed through the server.
    let elsewhere = sandbox();
    let envs = remote_env(&server.base, &admin);

    let created = run(
        elsewhere.path(),
        &["api-key", "create", "remote-ci", "--scope", "app", "--json"],
        &envs,
    );
    created.success();
    let v = created.json();
    let app_key = v["key"].as_str().expect("key").to_owned();
    let id = v["id"].as_str().expect("id").to_owned();
    assert!(app_key.starts_with("sb_"));

    let listed = run(elsewhere.path(), &["api-key", "list", "--json"], &envs);
    listed.success();
    let ids: Vec<String> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&id));
    assert!(find_api_keys(&listed.stdout).is_empty());

    let revoked = run(
        elsewhere.path(),
        &["api-key", "revoke", &id, "--json"],
        &envs,
    );
    revoked.success();
    assert!(revoked.json()["revoked_at"].is_string());
    let again = run(elsewhere.path(), &["api-key", "revoke", &id], &envs);
    again.failure().stderr_has(&["409", "already revoked"]);
    assert!(
        !elsewhere.path().join("switchboard.db").exists(),
        "remote verbs touched a local database"
    );

    // The server audited them as done by the admin key.
    let rows = server.audit_rows(&admin).await;
    let admin_id = &admin[3..15];
    let by_admin: Vec<&Value> = rows
        .iter()
        .filter(|r| r["actor"] == format!("api-key:{admin_id}").as_str())
        .collect();
    assert_eq!(by_admin.len(), 2, "{rows:?}");

    // The audit verbs go through the server too.
    let verified = run(elsewhere.path(), &["audit", "verify", "--json"], &envs);
    verified.success();
    assert_eq!(verified.json()["ok"], true);
    let listed = run(elsewhere.path(), &["audit", "list", "--json"], &envs);
    listed.success();
    assert_eq!(listed.json()["data"][0]["action"], "api_key.revoke");

    // An app-scoped key may not list keys.
    let created = run(
        elsewhere.path(),
        &["api-key", "create", "app2", "--json"],
        &envs,
    );
    created.success();
    let app2 = created.json()["key"].as_str().unwrap().to_owned();
    let denied = run(
        elsewhere.path(),
        &["api-key", "list"],
        &remote_env(&server.base, &app2),
    );
    denied.failure();
    let lower = denied.stderr.to_lowercase();
    assert!(
        lower.contains("403") && lower.contains("forbidden"),
        "{}",
        denied.stderr
    );
    // A revoked key is refused with 401.
    let denied = run(
        elsewhere.path(),
        &["api-key", "list"],
        &remote_env(&server.base, &app_key),
    );
    denied.failure().stderr_has(&["401"]);
    // Nor do error messages echo the key.
    assert!(!denied.stderr.contains(&app_key[16..]));
}
