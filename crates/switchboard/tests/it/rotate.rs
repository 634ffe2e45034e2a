//! `keys rotate`: re-encryption under the new primary key, refusal without the old key,
//! and resumption after a crash.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::{Row, SqlitePool};
use vault::{Aad, ExposeSecret, Keyring, MasterKey};

use crate::harness::{audit_list_local, command, open_db, run, sandbox, wait_bounded};

const OWNER: &str = "connections";
const NAME: &str = "access_token";

fn plaintext(i: usize) -> String {
    format!("token-{i}-{}", "p".repeat(i % 17))
}

fn owner_id(i: usize) -> String {
    format!("conn-{i:06}")
}

fn b64(k: &MasterKey) -> String {
    k.to_base64().expose_secret().to_owned()
}

/// Runs `migrate`, then inserts `n` secrets sealed under `key` straight into the table.
async fn seed(dir: &Path, key: &MasterKey, n: usize) {
    run(dir, &["migrate", "--json"], &[]).success();
    let ring = Keyring::new(key.clone(), vec![]);
    let key_id = key.id().to_string();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let db = open_db(dir).await;
    let mut tx = db.begin().await.unwrap();
    for i in 0..n {
        let oid = owner_id(i);
        let sealed = ring
            .seal(plaintext(i).as_bytes(), Aad::new(OWNER, NAME, &oid))
            .unwrap();
        sqlx::query(
            "INSERT INTO secrets (owner, owner_id, name, key_id, ciphertext, version, updated_at)
             VALUES (?, ?, ?, ?, ?, 1, ?)",
        )
        .bind(OWNER)
        .bind(&oid)
        .bind(NAME)
        .bind(&key_id)
        .bind(&sealed)
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    db.close().await;
}

/// (owner_id, key_id, ciphertext, version) of every secret, in key order.
async fn rows(db: &SqlitePool) -> Vec<(String, String, Vec<u8>, i64)> {
    sqlx::query(
        "SELECT owner_id, key_id, ciphertext, version FROM secrets ORDER BY owner, owner_id, name",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get("owner_id"),
            r.get("key_id"),
            r.get("ciphertext"),
            r.get("version"),
        )
    })
    .collect()
}

async fn count_under(db: &SqlitePool, key: &MasterKey) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM secrets WHERE key_id = ?")
        .bind(key.id().to_string())
        .fetch_one(db)
        .await
        .unwrap()
}

/// Every secret opens with `ring` to its original plaintext.
#[track_caller]
fn assert_all_open(rows: &[(String, String, Vec<u8>, i64)], ring: &Keyring) {
    for (oid, key_id, ct, _) in rows {
        let i: usize = oid.trim_start_matches("conn-").parse().unwrap();
        let opened = ring
            .open(ct, Aad::new(OWNER, NAME, oid))
            .unwrap_or_else(|e| panic!("{oid} (key {key_id}): {e}"));
        assert_eq!(opened.expose_secret(), plaintext(i).as_bytes(), "{oid}");
        assert_eq!(
            vault::header(ct).unwrap().key_id.to_string(),
            *key_id,
            "{oid}: key_id column disagrees with the ciphertext header"
        );
    }
}

#[tokio::test]
async fn keys_rotate_reencrypts_everything_under_the_new_key() {
    let dir = sandbox();
    let a = MasterKey::generate().unwrap();
    let b = MasterKey::generate().unwrap();
    seed(dir.path(), &a, 25).await;

    let (a64, b64_) = (b64(&a), b64(&b));
    let envs = [
        ("SWITCHBOARD_MASTER_KEY", b64_.as_str()),
        ("SWITCHBOARD_OLD_MASTER_KEYS", a64.as_str()),
    ];
    let out = run(
        dir.path(),
        &["keys", "rotate", "--json", "--batch-size", "7"],
        &envs,
    );
    out.success();
    let v = out.json();
    assert_eq!(v["primary_key_id"], b.id().to_string().as_str());
    assert_eq!(v["rewritten"], 25, "{v}");
    assert_eq!(v["skipped"], 0);
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains(&a64) && !text.contains(&b64_));
    }

    let db = open_db(dir.path()).await;
    let after = rows(&db).await;
    db.close().await;
    assert_eq!(after.len(), 25);
    assert!(
        after.iter().all(|r| r.1 == b.id().to_string()),
        "not every row is under B"
    );
    assert_all_open(&after, &Keyring::new(b.clone(), vec![]));

    let audit = audit_list_local(dir.path(), &envs);
    let start = audit
        .iter()
        .find(|r| r["action"] == "keys.rotate.start")
        .expect("keys.rotate.start row");
    assert_eq!(start["details"]["pending"], 25);
    let finish = audit
        .iter()
        .find(|r| r["action"] == "keys.rotate.finish")
        .expect("keys.rotate.finish row");
    assert_eq!(finish["details"]["rewritten"], 25);
    assert_eq!(finish["details"]["remaining"], 0);

    // Running again has nothing to do.
    let again = run(dir.path(), &["keys", "rotate", "--json"], &envs);
    again.success();
    assert_eq!(again.json()["rewritten"], 0);
    // And now B alone suffices.
    run(
        dir.path(),
        &["keys", "rotate", "--json"],
        &[("SWITCHBOARD_MASTER_KEY", b64_.as_str())],
    )
    .success();
}

#[tokio::test]
async fn keys_rotate_without_the_old_key_changes_nothing() {
    let dir = sandbox();
    let a = MasterKey::generate().unwrap();
    let b = MasterKey::generate().unwrap();
    seed(dir.path(), &a, 10).await;
    let db = open_db(dir.path()).await;
    let before = rows(&db).await;
    db.close().await;

    let b64_ = b64(&b);
    // serve starts anyway, and says which key is missing.
    let server =
        crate::harness::Server::start(dir.path(), &[], &[("SWITCHBOARD_MASTER_KEY", &b64_)]).await;
    let stderr = server
        .wait_for_stderr("sealed under a key that is not configured")
        .await;
    assert!(
        stderr.lines().any(|l| l.contains("ERROR")
            && l.contains(&a.id().to_string())
            && l.contains("sealed_values=10")),
        "{stderr}"
    );
    drop(server);

    let out = run(
        dir.path(),
        &["keys", "rotate", "--json"],
        &[("SWITCHBOARD_MASTER_KEY", b64_.as_str())],
    );
    // An error; under --json it is the JSON error on stdout.
    out.exit_code(2);
    let message = out.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains(&a.id().to_string()) && message.contains("old_master_keys"),
        "{}",
        out.stdout
    );

    let db = open_db(dir.path()).await;
    assert_eq!(rows(&db).await, before, "rotation changed secrets");
    let audit: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    assert_eq!(audit, 0, "a refused rotation wrote audit rows");
}

#[tokio::test]
async fn keys_rotate_resumes_after_a_crash() {
    let mut n = 3000;
    for attempt in 1..=4 {
        let dir = sandbox();
        let a = MasterKey::generate().unwrap();
        let b = MasterKey::generate().unwrap();
        seed(dir.path(), &a, n).await;
        let (a64, b64_) = (b64(&a), b64(&b));
        let envs = [
            ("SWITCHBOARD_MASTER_KEY", b64_.as_str()),
            ("SWITCHBOARD_OLD_MASTER_KEYS", a64.as_str()),
        ];
        let mut child = command(
            dir.path(),
            &["keys", "rotate", "--json", "--batch-size", "1"],
            &envs,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start keys rotate");

        // Kill it once some, but not all, rows are under B.
        let db = open_db(dir.path()).await;
        let started = Instant::now();
        let mut killed = false;
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            let done = count_under(&db, &b).await;
            if done > 0 && done < n as i64 {
                child.kill().expect("kill -9 keys rotate");
                let _ = child.wait();
                killed = true;
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "keys rotate made no progress"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let partial = count_under(&db, &b).await;
        if !killed || partial >= n as i64 {
            // It finished before it could be interrupted: try with more rows.
            let _ = wait_bounded(&mut child, Duration::from_secs(60));
            db.close().await;
            eprintln!("attempt {attempt}: rotation of {n} rows finished before the kill");
            n *= 3;
            continue;
        }
        assert!(partial > 0);
        eprintln!("attempt {attempt}: killed keys rotate with {partial} of {n} rows under B");

        // Half-rotated: everything still opens with B and A.
        let mid = rows(&db).await;
        assert_eq!(mid.len(), n);
        assert!(mid.iter().any(|r| r.1 == a.id().to_string()));
        assert_all_open(&mid, &Keyring::new(b.clone(), vec![a.clone()]));
        db.close().await;

        let out = run(dir.path(), &["keys", "rotate", "--json"], &envs);
        out.success();
        assert_eq!(
            out.json()["rewritten"].as_i64(),
            Some(n as i64 - partial),
            "{}",
            out.stdout
        );
        let db = open_db(dir.path()).await;
        let after = rows(&db).await;
        db.close().await;
        assert!(after.iter().all(|r| r.1 == b.id().to_string()));
        assert_all_open(&after, &Keyring::new(b.clone(), vec![]));
        return;
    }
    panic!("keys rotate always finished before it could be killed");
}
