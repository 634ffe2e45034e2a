//! `audit verify` and `audit list` on intact and tampered logs.

use std::path::Path;

use crate::harness::{audit_list_local, master_key, open_db, run, sandbox};

/// Creates three keys and revokes the first: four audit rows, seq 1..=4.
fn four_rows(dir: &Path, envs: &[(&str, &str)]) -> String {
    let mut first = String::new();
    for name in ["k1", "k2", "k3"] {
        let out = run(dir, &["api-key", "create", name, "--json"], envs);
        out.success();
        if first.is_empty() {
            first = out.json()["id"].as_str().unwrap().to_owned();
        }
    }
    run(dir, &["api-key", "revoke", &first], envs).success();
    first
}

async fn tamper(dir: &Path, statements: &[&'static str]) {
    let db = open_db(dir).await;
    for s in statements {
        sqlx::query(*s)
            .execute(&db)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    db.close().await;
}

#[tokio::test]
async fn audit_verify_detects_an_edited_row() {
    let dir = sandbox();
    let (mk, _) = master_key();
    let envs = [("SWITCHBOARD_MASTER_KEY", mk.as_str())];
    let revoked_id = four_rows(dir.path(), &envs);

    let ok = run(dir.path(), &["audit", "verify"], &envs);
    ok.exit_code(0);
    assert!(ok.stdout.contains("intact"), "{}", ok.stdout);
    let ok = run(dir.path(), &["audit", "verify", "--json"], &envs);
    ok.exit_code(0);
    assert_eq!(ok.json()["ok"], true);
    assert_eq!(ok.json()["rows_checked"], 4);

    // Newest first.
    let rows = audit_list_local(dir.path(), &envs);
    let seqs: Vec<i64> = rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![4, 3, 2, 1]);
    assert_eq!(rows[0]["action"], "api_key.revoke");
    assert_eq!(rows[0]["target"], revoked_id.as_str());
    // Paging: two at a time, then the rest via the cursor.
    let page = run(
        dir.path(),
        &["audit", "list", "--limit", "2", "--json"],
        &envs,
    );
    page.success();
    let v = page.json();
    let cursor = v["next_cursor"].as_str().expect("a next cursor").to_owned();
    let next = run(
        dir.path(),
        &[
            "audit", "list", "--limit", "2", "--cursor", &cursor, "--json",
        ],
        &envs,
    );
    next.success();
    let seqs: Vec<i64> = next.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 1]);

    tamper(
        dir.path(),
        &[
            "DROP TRIGGER audit_log_no_update",
            "UPDATE audit_log SET actor = 'evil' WHERE seq = 2",
        ],
    )
    .await;
    let bad = run(dir.path(), &["audit", "verify"], &envs);
    bad.exit_code(1);
    assert!(
        bad.stdout.contains("TAMPERED") && bad.stdout.contains("seq 2"),
        "{}",
        bad.stdout
    );
    let bad = run(dir.path(), &["audit", "verify", "--json"], &envs);
    bad.exit_code(1);
    let v = bad.json();
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_bad_seq"], 2, "{v}");
    assert_eq!(v["problem"], "hash_mismatch", "{v}");
}

#[tokio::test]
async fn audit_verify_detects_a_deleted_row() {
    let dir = sandbox();
    let (mk, _) = master_key();
    let envs = [("SWITCHBOARD_MASTER_KEY", mk.as_str())];
    four_rows(dir.path(), &envs);
    tamper(
        dir.path(),
        &[
            "DROP TRIGGER audit_log_no_delete",
            "DELETE FROM audit_log WHERE seq = 2",
        ],
    )
    .await;
    let bad = run(dir.path(), &["audit", "verify"], &envs);
    bad.exit_code(1);
    assert!(
        bad.stdout.contains("seq 3") && bad.stdout.contains("gap"),
        "{}",
        bad.stdout
    );
    let v = run(dir.path(), &["audit", "verify", "--json"], &envs).json();
    assert_eq!(v["first_bad_seq"], 3, "{v}");
    assert_eq!(v["problem"]["gap"]["expected"], 2, "{v}");
}

#[tokio::test]
async fn audit_verify_detects_deleted_newest_rows() {
    let dir = sandbox();
    let (mk, _) = master_key();
    let envs = [("SWITCHBOARD_MASTER_KEY", mk.as_str())];
    four_rows(dir.path(), &envs);
    tamper(
        dir.path(),
        &[
            "DROP TRIGGER audit_log_no_delete",
            "DELETE FROM audit_log WHERE seq = 4",
        ],
    )
    .await;
    let bad = run(dir.path(), &["audit", "verify", "--json"], &envs);
    bad.exit_code(1);
    let v = bad.json();
    assert_eq!(v["first_bad_seq"], 4, "{v}");
    assert_eq!(v["problem"]["truncated"]["head_seq"], 4, "{v}");
}
