//! Behaviour tests of the SQLite store: migrations, connection settings, API keys,
//! secrets, the audit chain, and timestamps.

use super::*;

use std::collections::BTreeSet;
use std::path::Path;

use chrono::TimeZone as _;
use serde_json::json;
use store::now;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

async fn mem() -> SqliteStore {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    s.migrate().await.unwrap();
    s
}

fn file_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

async fn file_store(path: &Path) -> SqliteStore {
    let s = SqliteStore::connect(&file_url(path)).await.unwrap();
    s.migrate().await.unwrap();
    s
}

fn api_key(id: &str, created_at: DateTime<Utc>) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.to_owned(),
        name: format!("key {id}"),
        scope: Scope::App,
        secret_hash: id.bytes().chain(0..32).take(32).collect(),
        created_at,
        last_used_at: None,
        revoked_at: None,
    }
}

fn ms(millis: i64) -> DateTime<Utc> {
    from_millis(millis).unwrap()
}

fn slot(owner: &str, owner_id: &str, name: &str) -> SecretSlot {
    SecretSlot::new(owner, owner_id, name)
}

fn entry(actor: &str, action: &str, target: &str) -> AuditEntry {
    AuditEntry {
        at: now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        details: json!({}),
    }
}

/// Checks that `records` (oldest first, starting at seq 1) form a valid chain.
fn assert_valid_chain(records: &[AuditRecord]) {
    let mut prev = GENESIS_HASH.to_owned();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as i64 + 1, "gap or reorder at index {i}");
        assert_eq!(r.prev_hash, prev, "prev_hash of seq {}", r.seq);
        assert_eq!(
            r.hash,
            chain_hash(&r.prev_hash, r.seq, &r.entry),
            "hash of seq {}",
            r.seq
        );
        assert_eq!(r.hash.len(), 64);
        prev = r.hash.clone();
    }
}

async fn all_audit(s: &SqliteStore) -> Vec<AuditRecord> {
    s.list_audit_asc(0, u32::MAX).await.unwrap()
}

/// How many migrations the crate embeds.
fn migration_count() -> usize {
    MIGRATOR.iter().count()
}

async fn pragma_i64(s: &SqliteStore, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(s.pool()).await.unwrap()
}

async fn table_names(s: &SqliteStore) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(s.pool())
        .await
        .unwrap()
        .into_iter()
        .collect()
}

// ---------------------------------------------------------------------------------------
// Connection and migrations
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn migrate_applies_once_and_is_idempotent_in_memory() {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    assert!(!table_names(&s).await.contains("api_keys"));
    assert_eq!(s.migrate().await.unwrap(), migration_count());
    assert_eq!(s.migrate().await.unwrap(), 0);
    assert_eq!(s.migrate().await.unwrap(), 0);
    let tables = table_names(&s).await;
    for t in [
        "api_keys",
        "secrets",
        "audit_log",
        "audit_head",
        "events",
        "integration_state",
        "_sqlx_migrations",
    ] {
        assert!(tables.contains(t), "missing table {t}: {tables:?}");
    }
}

#[tokio::test]
async fn migrate_is_idempotent_across_reopen_of_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.db");
    let s = SqliteStore::connect(&file_url(&path)).await.unwrap();
    assert!(path.exists(), "connect creates the file");
    assert_eq!(s.migrate().await.unwrap(), migration_count());
    s.insert_api_key(&api_key("k1", now())).await.unwrap();
    s.close().await;

    let s = SqliteStore::connect(&file_url(&path)).await.unwrap();
    assert_eq!(s.migrate().await.unwrap(), 0);
    // Data survived, migrations did not run again.
    assert!(s.get_api_key("k1").await.unwrap().is_some());
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n, migration_count() as i64);
}

#[tokio::test]
async fn file_database_uses_wal_foreign_keys_busy_timeout_and_full_sync_on_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_store(&dir.path().join("sb.db")).await;
    // Hold several connections at once so that the settings are checked on more than one.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(s.pool().acquire().await.unwrap());
    }
    for c in &mut conns {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **c)
            .await
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **c)
            .await
            .unwrap();
        assert_eq!(fk, 1);
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut **c)
            .await
            .unwrap();
        assert_eq!(busy, 10_000);
        assert_eq!(busy, BUSY_TIMEOUT.as_millis() as i64);
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **c)
            .await
            .unwrap();
        assert_eq!(sync, 2, "synchronous = FULL");
    }
    // WAL is persistent in the file: a -wal file appears next to it after a write.
    s.insert_api_key(&api_key("k", now())).await.unwrap();
    assert!(dir.path().join("sb.db-wal").exists());
}

#[tokio::test]
async fn memory_database_settings() {
    let s = mem().await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(s.pool())
        .await
        .unwrap();
    // A scratch file in WAL mode, as on disk, but nothing waits for an fsync.
    assert_eq!(mode.to_lowercase(), "wal");
    assert_eq!(pragma_i64(&s, "PRAGMA synchronous").await, 0);
    assert_eq!(pragma_i64(&s, "PRAGMA foreign_keys").await, 1);
    assert_eq!(pragma_i64(&s, "PRAGMA busy_timeout").await, 10_000);
}

#[tokio::test]
async fn a_memory_database_is_removed_with_its_last_clone() {
    let s = mem().await;
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(s.pool())
            .await
            .unwrap();
    let dir = std::path::Path::new(&file).parent().unwrap().to_owned();
    assert!(dir.exists());
    s.insert_event(&event(1, "gh", Some("d1"))).await.unwrap();
    let clone = s.clone();
    drop(s);
    assert!(dir.exists(), "a clone still uses it");
    drop(clone);
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[tokio::test]
async fn memory_databases_are_private_and_survive_between_calls() {
    let a = mem().await;
    let b = mem().await;
    a.insert_api_key(&api_key("only-in-a", now()))
        .await
        .unwrap();
    // Many separate calls on the one pooled connection still see the same database.
    for _ in 0..5 {
        assert!(a.get_api_key("only-in-a").await.unwrap().is_some());
    }
    assert!(b.get_api_key("only-in-a").await.unwrap().is_none());
    assert_eq!(b.count_active_api_keys().await.unwrap(), 0);
}

#[tokio::test]
async fn backend_and_ping() {
    let s = mem().await;
    assert_eq!(s.backend(), "sqlite");
    s.ping().await.unwrap();
}

#[tokio::test]
async fn closed_store_is_unavailable() {
    let s = mem().await;
    s.close().await;
    let e = s.ping().await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(e.to_string().contains("database unavailable"), "{e}");
    let e = s.get_api_key("x").await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
}

#[tokio::test]
async fn invalid_url_is_a_clear_error() {
    let e = SqliteStore::connect("sqlite://x.db?mode=bogus")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("invalid SQLite URL"), "{msg}");
    assert!(msg.contains("mode=bogus"), "{msg}");
}

#[tokio::test]
async fn missing_directory_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("sb.db");
    let e = SqliteStore::connect(&file_url(&path)).await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
}

#[tokio::test]
async fn directory_as_database_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let e = SqliteStore::connect(&file_url(dir.path()))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
}

/// SQLite reports extended result codes (sqlx gives `sqlite3_extended_errcode`), so
/// `err()` matching only "5", "6" and "14" misses SQLITE_BUSY_SNAPSHOT (517),
/// SQLITE_BUSY_RECOVERY (261), SQLITE_BUSY_TIMEOUT (773), SQLITE_LOCKED_SHAREDCACHE (262)
/// and the SQLITE_CANTOPEN_* codes: those become `Backend` instead of `Unavailable`.
/// Latent today (every store write is a single statement or `BEGIN IMMEDIATE`), but a
/// future deferred read-then-write transaction would hit it under contention.
#[tokio::test]
async fn busy_snapshot_is_classified_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_store(&dir.path().join("sb.db")).await;
    let mut reader = s.pool().acquire().await.unwrap();
    let mut writer = s.pool().acquire().await.unwrap();
    sqlx::query("BEGIN").execute(&mut *reader).await.unwrap();
    let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys")
        .fetch_one(&mut *reader)
        .await
        .unwrap();
    sqlx::query("INSERT INTO api_keys (id, name, scope, secret_hash, created_at) VALUES ('a', 'a', 'app', x'00', 0)")
        .execute(&mut *writer)
        .await
        .unwrap();
    let e = sqlx::query("INSERT INTO api_keys (id, name, scope, secret_hash, created_at) VALUES ('b', 'b', 'app', x'00', 0)")
        .execute(&mut *reader)
        .await
        .unwrap_err();
    sqlx::query("ROLLBACK").execute(&mut *reader).await.unwrap();
    assert_eq!(
        e.as_database_error().unwrap().code().as_deref(),
        Some("517"),
        "{e}"
    );
    let mapped = err(e);
    assert!(matches!(mapped, StoreError::Unavailable(_)), "{mapped:?}");
}

/// Two processes starting at once against a fresh file both run migrations. SQLx's
/// SQLite migrator takes no lock (its `lock()` is a no-op) and runs each migration in a
/// deferred transaction, so the loser fails with "table ... already exists" or a busy
/// snapshot error instead of waiting and finding the migration applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_migrations_both_succeed() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb.db");
        let a = SqliteStore::connect(&file_url(&path)).await.unwrap();
        let b = SqliteStore::connect(&file_url(&path)).await.unwrap();
        let (ra, rb) = tokio::join!(
            tokio::spawn({
                let a = a.clone();
                async move { a.migrate().await }
            }),
            tokio::spawn({
                let b = b.clone();
                async move { b.migrate().await }
            })
        );
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert!(ra.is_ok() && rb.is_ok(), "round {round}: {ra:?} {rb:?}");
        // Each reports what it saw change (everything for both when they raced); the
        // schema itself was applied exactly once.
        let total = ra.unwrap() + rb.unwrap();
        let n = migration_count();
        assert!((n..=2 * n).contains(&total), "round {round}: {total}");
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(a.pool())
            .await
            .unwrap();
        assert_eq!(applied, migration_count() as i64, "round {round}");
    }
}

// ---------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn api_key_insert_and_get_round_trip() {
    let s = mem().await;
    let mut k = api_key("k1", now());
    k.scope = Scope::Admin;
    k.secret_hash = (0..=255).collect::<Vec<u8>>()[..32].to_vec();
    s.insert_api_key(&k).await.unwrap();
    assert_eq!(s.get_api_key("k1").await.unwrap(), Some(k.clone()));
    assert_eq!(s.get_api_key("K1").await.unwrap(), None, "ids are exact");
    assert_eq!(s.get_api_key("nope").await.unwrap(), None);

    // Optional timestamps round-trip too.
    let mut full = api_key("k2", ms(1_700_000_000_123));
    full.last_used_at = Some(ms(1_700_000_001_456));
    full.revoked_at = Some(ms(1_700_000_002_789));
    s.insert_api_key(&full).await.unwrap();
    assert_eq!(s.get_api_key("k2").await.unwrap(), Some(full));
}

#[tokio::test]
async fn api_key_duplicate_id_is_a_conflict() {
    let s = mem().await;
    s.insert_api_key(&api_key("dup", now())).await.unwrap();
    let mut other = api_key("dup", now());
    other.name = "another".into();
    let e = s.insert_api_key(&other).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert!(e.to_string().starts_with("conflict:"), "{e}");
    // The original is untouched.
    assert_eq!(s.get_api_key("dup").await.unwrap().unwrap().name, "key dup");
    assert_eq!(s.list_api_keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn api_keys_list_oldest_first_then_by_id() {
    let s = mem().await;
    s.insert_api_key(&api_key("c", ms(3_000))).await.unwrap();
    s.insert_api_key(&api_key("b", ms(1_000))).await.unwrap();
    s.insert_api_key(&api_key("z", ms(2_000))).await.unwrap();
    s.insert_api_key(&api_key("a", ms(2_000))).await.unwrap();
    let ids: Vec<String> = s
        .list_api_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, ["b", "a", "z", "c"]);
    assert!(mem().await.list_api_keys().await.unwrap().is_empty());
}

#[tokio::test]
async fn api_key_revoke_once() {
    let s = mem().await;
    s.insert_api_key(&api_key("k", now())).await.unwrap();
    s.insert_api_key(&api_key("other", now())).await.unwrap();
    let at = ms(1_800_000_000_321);
    assert!(s.revoke_api_key("k", at).await.unwrap());
    assert!(!s.revoke_api_key("k", ms(1_900_000_000_000)).await.unwrap());
    assert!(!s.revoke_api_key("missing", at).await.unwrap());
    // The first revocation time is kept; the key remains readable; others unaffected.
    let k = s.get_api_key("k").await.unwrap().unwrap();
    assert_eq!(k.revoked_at, Some(at));
    assert_eq!(
        s.get_api_key("other").await.unwrap().unwrap().revoked_at,
        None
    );
    assert_eq!(s.list_api_keys().await.unwrap().len(), 2);
}

#[tokio::test]
async fn api_key_touch_records_last_use() {
    let s = mem().await;
    s.insert_api_key(&api_key("k", now())).await.unwrap();
    s.insert_api_key(&api_key("other", now())).await.unwrap();
    assert_eq!(
        s.get_api_key("k").await.unwrap().unwrap().last_used_at,
        None
    );
    let t1 = ms(1_700_000_000_001);
    s.touch_api_key("k", t1).await.unwrap();
    assert_eq!(
        s.get_api_key("k").await.unwrap().unwrap().last_used_at,
        Some(t1)
    );
    let t2 = ms(1_700_000_000_999);
    s.touch_api_key("k", t2).await.unwrap();
    assert_eq!(
        s.get_api_key("k").await.unwrap().unwrap().last_used_at,
        Some(t2)
    );
    assert_eq!(
        s.get_api_key("other").await.unwrap().unwrap().last_used_at,
        None
    );
    // Touching an unknown key is not an error and creates nothing.
    s.touch_api_key("missing", t2).await.unwrap();
    assert!(s.get_api_key("missing").await.unwrap().is_none());
}

#[tokio::test]
async fn api_key_count_active_excludes_revoked() {
    let s = mem().await;
    assert_eq!(s.count_active_api_keys().await.unwrap(), 0);
    for id in ["a", "b", "c"] {
        s.insert_api_key(&api_key(id, now())).await.unwrap();
    }
    let mut pre_revoked = api_key("d", now());
    pre_revoked.revoked_at = Some(now());
    s.insert_api_key(&pre_revoked).await.unwrap();
    assert_eq!(s.count_active_api_keys().await.unwrap(), 3);
    s.revoke_api_key("b", now()).await.unwrap();
    assert_eq!(s.count_active_api_keys().await.unwrap(), 2);
    s.touch_api_key("a", now()).await.unwrap();
    assert_eq!(s.count_active_api_keys().await.unwrap(), 2);
}

#[tokio::test]
async fn api_key_scope_is_checked_by_the_schema() {
    let s = mem().await;
    let r = sqlx::query(
        "INSERT INTO api_keys (id, name, scope, secret_hash, created_at) VALUES ('x', 'x', 'root', x'00', 0)",
    )
    .execute(s.pool())
    .await;
    assert!(r.is_err());
}

#[tokio::test]
async fn api_key_with_out_of_range_timestamp_is_corrupt() {
    let s = mem().await;
    sqlx::query(
        "INSERT INTO api_keys (id, name, scope, secret_hash, created_at) VALUES ('x', 'x', 'app', x'00', ?)",
    )
    .bind(i64::MAX)
    .execute(s.pool())
    .await
    .unwrap();
    let e = s.get_api_key("x").await.unwrap_err();
    assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
    assert!(e.to_string().contains("out of range"), "{e}");
    assert!(matches!(
        s.list_api_keys().await.unwrap_err(),
        StoreError::Corrupt(_)
    ));
}

// ---------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn put_secret_versions_increment_on_overwrite() {
    let s = mem().await;
    let sl = slot("connections", "c1", "access_token");
    let before = now();
    assert_eq!(s.put_secret(&sl, "k1", b"ct-1").await.unwrap(), 1);
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!(got.slot, sl);
    assert_eq!(got.key_id, "k1");
    assert_eq!(got.ciphertext, b"ct-1");
    assert_eq!(got.version, 1);
    assert!(got.updated_at >= before && got.updated_at <= now());

    assert_eq!(s.put_secret(&sl, "k2", b"ct-2").await.unwrap(), 2);
    assert_eq!(s.put_secret(&sl, "k2", b"ct-3").await.unwrap(), 3);
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!((got.key_id.as_str(), got.version), ("k2", 3));
    assert_eq!(got.ciphertext, b"ct-3");

    // Another slot starts at version 1.
    let other = slot("connections", "c1", "refresh_token");
    assert_eq!(s.put_secret(&other, "k1", b"r").await.unwrap(), 1);
    assert_eq!(s.get_secret(&sl).await.unwrap().unwrap().version, 3);
}

#[tokio::test]
async fn get_secret_matches_the_whole_slot() {
    let s = mem().await;
    s.put_secret(&slot("o", "1", "n"), "k", b"x").await.unwrap();
    assert!(s.get_secret(&slot("o", "1", "n")).await.unwrap().is_some());
    for miss in [
        slot("o", "1", "m"),
        slot("o", "2", "n"),
        slot("p", "1", "n"),
    ] {
        assert!(s.get_secret(&miss).await.unwrap().is_none(), "{miss:?}");
    }
}

#[tokio::test]
async fn secret_bytes_and_unicode_slots_round_trip() {
    let s = mem().await;
    let sl = slot("intégrations", "ключ-1", "tök'en\"; DROP TABLE secrets; --");
    let ct: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    s.put_secret(&sl, "0123456789abcdef", &ct).await.unwrap();
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!(got.slot, sl);
    assert_eq!(got.ciphertext, ct);
    assert!(table_names(&s).await.contains("secrets"));
}

#[tokio::test]
async fn delete_secret_once() {
    let s = mem().await;
    let sl = slot("o", "1", "n");
    let keep = slot("o", "1", "m");
    s.put_secret(&sl, "k", b"x").await.unwrap();
    s.put_secret(&keep, "k", b"y").await.unwrap();
    assert!(s.delete_secret(&sl).await.unwrap());
    assert!(!s.delete_secret(&sl).await.unwrap());
    assert!(s.get_secret(&sl).await.unwrap().is_none());
    assert!(s.get_secret(&keep).await.unwrap().is_some());
    // A new put after a delete starts again at version 1.
    assert_eq!(s.put_secret(&sl, "k", b"z").await.unwrap(), 1);
}

#[tokio::test]
async fn delete_secrets_of_removes_one_owner_row_only() {
    let s = mem().await;
    for name in ["a", "b", "c"] {
        s.put_secret(&slot("connections", "c1", name), "k", b"x")
            .await
            .unwrap();
    }
    s.put_secret(&slot("connections", "c2", "a"), "k", b"x")
        .await
        .unwrap();
    s.put_secret(&slot("integrations", "c1", "a"), "k", b"x")
        .await
        .unwrap();
    assert_eq!(s.delete_secrets_of("connections", "c1").await.unwrap(), 3);
    assert_eq!(s.delete_secrets_of("connections", "c1").await.unwrap(), 0);
    assert_eq!(s.delete_secrets_of("nobody", "c1").await.unwrap(), 0);
    for name in ["a", "b", "c"] {
        assert!(
            s.get_secret(&slot("connections", "c1", name))
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(
        s.get_secret(&slot("connections", "c2", "a"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.get_secret(&slot("integrations", "c1", "a"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn secret_key_ids_and_count_not_under() {
    let s = mem().await;
    assert!(s.secret_key_ids().await.unwrap().is_empty());
    assert_eq!(s.count_secrets_not_under("new").await.unwrap(), 0);
    for i in 0..3 {
        s.put_secret(&slot("o", &i.to_string(), "n"), "old", b"x")
            .await
            .unwrap();
    }
    s.put_secret(&slot("o", "9", "n"), "new", b"x")
        .await
        .unwrap();
    s.put_secret(&slot("p", "1", "n"), "older", b"x")
        .await
        .unwrap();
    assert_eq!(
        s.secret_key_ids().await.unwrap(),
        vec![
            ("new".to_owned(), 1),
            ("old".to_owned(), 3),
            ("older".to_owned(), 1)
        ]
    );
    assert_eq!(s.count_secrets_not_under("new").await.unwrap(), 4);
    assert_eq!(s.count_secrets_not_under("old").await.unwrap(), 2);
    assert_eq!(s.count_secrets_not_under("unknown").await.unwrap(), 5);
    // Overwriting under the new key moves the count.
    s.put_secret(&slot("o", "0", "n"), "new", b"y")
        .await
        .unwrap();
    assert_eq!(s.count_secrets_not_under("new").await.unwrap(), 3);
}

#[tokio::test]
async fn secrets_not_under_pages_in_slot_order_with_a_cursor() {
    let s = mem().await;
    // Slots chosen so that ordering by the concatenation would differ from ordering by
    // the (owner, owner_id, name) tuple.
    let old_slots = vec![
        slot("a", "b", "z"),
        slot("ab", "", "a"),
        slot("a", "bc", "a"),
        slot("connections", "c10", "access_token"),
        slot("connections", "c2", "access_token"),
        slot("connections", "c2", "refresh_token"),
        slot("integrations", "i1", "client_secret"),
        slot("Z-upper", "1", "n"),
    ];
    // Insert in a scrambled order.
    for sl in old_slots.iter().rev() {
        s.put_secret(sl, "old", format!("{sl:?}").as_bytes())
            .await
            .unwrap();
    }
    for sl in [
        slot("connections", "c3", "access_token"),
        slot("a", "a", "a"),
    ] {
        s.put_secret(&sl, "new", b"current").await.unwrap();
    }
    let mut expected = old_slots.clone();
    expected.sort();

    // One page with everything.
    let all = s.secrets_not_under("new", None, 100).await.unwrap();
    let got: Vec<SecretSlot> = all.iter().map(|r| r.slot.clone()).collect();
    assert_eq!(got, expected);
    assert!(all.iter().all(|r| r.key_id == "old"));
    assert!(
        all.iter()
            .all(|r| r.ciphertext == format!("{:?}", r.slot).into_bytes())
    );

    // Pages of 3 following the cursor visit each slot exactly once.
    let mut paged = Vec::new();
    let mut cursor: Option<SecretSlot> = None;
    let mut pages = 0;
    loop {
        let page = s
            .secrets_not_under("new", cursor.as_ref(), 3)
            .await
            .unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        pages += 1;
        cursor = Some(page.last().unwrap().slot.clone());
        paged.extend(page.into_iter().map(|r| r.slot));
    }
    assert_eq!(paged, expected);
    assert_eq!(pages, 3);

    // The cursor is strict, and need not exist.
    let after_first = s
        .secrets_not_under("new", Some(&expected[0]), 100)
        .await
        .unwrap();
    assert_eq!(after_first.len(), expected.len() - 1);
    assert_eq!(after_first[0].slot, expected[1]);
    let after_gap = s
        .secrets_not_under("new", Some(&slot("b", "", "")), 100)
        .await
        .unwrap();
    assert_eq!(
        after_gap.iter().map(|r| r.slot.clone()).collect::<Vec<_>>(),
        expected
            .iter()
            .filter(|sl| **sl > slot("b", "", ""))
            .cloned()
            .collect::<Vec<_>>()
    );
    let after_last = s
        .secrets_not_under("new", Some(expected.last().unwrap()), 100)
        .await
        .unwrap();
    assert!(after_last.is_empty());

    // A limit of zero returns nothing.
    assert!(
        s.secrets_not_under("new", None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    // Under a key nothing uses, everything is returned.
    assert_eq!(
        s.secrets_not_under("none", None, 100).await.unwrap().len(),
        old_slots.len() + 2
    );
}

#[tokio::test]
async fn replace_secret_if_only_at_the_expected_version() {
    let s = mem().await;
    let sl = slot("connections", "c1", "access_token");
    s.put_secret(&sl, "old", b"v1").await.unwrap();

    // Wrong versions change nothing.
    for v in [0, 2, -1, 100] {
        assert!(!s.replace_secret_if(&sl, v, "new", b"bad").await.unwrap());
    }
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!((got.key_id.as_str(), got.version), ("old", 1));
    assert_eq!(got.ciphertext, b"v1");

    // The expected version succeeds and bumps the version.
    assert!(
        s.replace_secret_if(&sl, 1, "new", b"v1-resealed")
            .await
            .unwrap()
    );
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!((got.key_id.as_str(), got.version), ("new", 2));
    assert_eq!(got.ciphertext, b"v1-resealed");
    // The same expected version does not succeed twice.
    assert!(!s.replace_secret_if(&sl, 1, "new", b"again").await.unwrap());
    // A missing slot is never replaced (and not created).
    let missing = slot("connections", "c9", "access_token");
    assert!(!s.replace_secret_if(&missing, 1, "new", b"x").await.unwrap());
    assert!(s.get_secret(&missing).await.unwrap().is_none());
}

#[tokio::test]
async fn replace_secret_if_does_not_overwrite_a_concurrent_write() {
    // The rotation race: rotation reads version 1, the app writes a fresh token, then
    // rotation tries to write back the resealed old token.
    let s = mem().await;
    let sl = slot("connections", "c1", "access_token");
    s.put_secret(&sl, "old", b"stale").await.unwrap();
    let read = s.secrets_not_under("new", None, 10).await.unwrap();
    assert_eq!(read[0].version, 1);
    assert_eq!(s.put_secret(&sl, "new", b"fresh").await.unwrap(), 2);
    assert!(
        !s.replace_secret_if(&sl, read[0].version, "new", b"stale-resealed")
            .await
            .unwrap()
    );
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!(got.ciphertext, b"fresh");
    assert_eq!(got.version, 2);
}

#[tokio::test]
async fn secret_with_out_of_range_timestamp_is_corrupt() {
    let s = mem().await;
    sqlx::query(
        "INSERT INTO secrets (owner, owner_id, name, key_id, ciphertext, updated_at)
         VALUES ('o', '1', 'n', 'k', x'00', ?)",
    )
    .bind(i64::MIN)
    .execute(s.pool())
    .await
    .unwrap();
    let e = s.get_secret(&slot("o", "1", "n")).await.unwrap_err();
    assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
}

// ---------------------------------------------------------------------------------------
// Audit log
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn audit_append_builds_a_chain() {
    let s = mem().await;
    assert_eq!(s.audit_head().await.unwrap(), None);
    assert!(all_audit(&s).await.is_empty());

    let e1 = entry("cli:root", "api_key.create", "k1");
    let r1 = s.append_audit(&e1).await.unwrap();
    assert_eq!(r1.seq, 1);
    assert_eq!(r1.prev_hash, GENESIS_HASH);
    assert_eq!(r1.hash, chain_hash(GENESIS_HASH, 1, &e1));
    assert_eq!(r1.entry, e1);
    assert_eq!(s.audit_head().await.unwrap(), Some((1, r1.hash.clone())));

    let mut e2 = entry("api-key:k1", "connection.create", "c1");
    e2.details = json!({"provider": "github", "scopes": ["repo", "user"], "n": 2});
    let r2 = s.append_audit(&e2).await.unwrap();
    assert_eq!(r2.seq, 2);
    assert_eq!(r2.prev_hash, r1.hash);
    assert_eq!(r2.hash, chain_hash(&r1.hash, 2, &e2));
    assert_eq!(s.audit_head().await.unwrap(), Some((2, r2.hash.clone())));

    let e3 = entry("system", "config.reload", "");
    let r3 = s.append_audit(&e3).await.unwrap();
    assert_eq!(r3.seq, 3);
    assert_eq!(r3.prev_hash, r2.hash);
    assert_eq!(s.audit_head().await.unwrap(), Some((3, r3.hash.clone())));

    // What was returned is what is stored.
    let stored = all_audit(&s).await;
    assert_eq!(stored, vec![r1, r2, r3]);
    assert_valid_chain(&stored);
}

#[tokio::test]
async fn audit_identical_entries_get_distinct_hashes() {
    let s = mem().await;
    let e = entry("system", "tick", "");
    let a = s.append_audit(&e).await.unwrap();
    let b = s.append_audit(&e).await.unwrap();
    assert_ne!(a.hash, b.hash);
    assert_valid_chain(&all_audit(&s).await);
}

#[tokio::test]
async fn audit_details_round_trip_including_key_order_and_nesting() {
    let s = mem().await;
    let mut e = entry("system", "x", "t");
    e.details = json!({
        "z": 1,
        "a": {"y": [1, 2.5, null, true], "b": "ünïcødé \"quoted\""},
        "m": {},
        "big": 9_007_199_254_740_993_i64
    });
    let r = s.append_audit(&e).await.unwrap();
    let back = all_audit(&s).await;
    assert_eq!(back[0].entry.details, e.details);
    assert_eq!(back[0], r);
    // Recomputing the hash from what was read back gives the stored hash.
    assert_eq!(chain_hash(&back[0].prev_hash, 1, &back[0].entry), r.hash);
}

#[tokio::test]
async fn audit_lists_with_cursors() {
    let s = mem().await;
    let mut appended = Vec::new();
    for i in 1..=7 {
        appended.push(
            s.append_audit(&entry("system", "a", &i.to_string()))
                .await
                .unwrap(),
        );
    }
    let seqs = |v: Vec<AuditRecord>| v.into_iter().map(|r| r.seq).collect::<Vec<_>>();

    assert_eq!(
        seqs(s.list_audit_desc(None, 100).await.unwrap()),
        [7, 6, 5, 4, 3, 2, 1]
    );
    assert_eq!(seqs(s.list_audit_desc(None, 3).await.unwrap()), [7, 6, 5]);
    assert_eq!(
        seqs(s.list_audit_desc(Some(5), 3).await.unwrap()),
        [4, 3, 2]
    );
    assert_eq!(seqs(s.list_audit_desc(Some(2), 3).await.unwrap()), [1]);
    assert!(s.list_audit_desc(Some(1), 3).await.unwrap().is_empty());
    assert!(s.list_audit_desc(None, 0).await.unwrap().is_empty());
    assert_eq!(seqs(s.list_audit_desc(Some(100), 2).await.unwrap()), [7, 6]);

    assert_eq!(seqs(s.list_audit_asc(0, 3).await.unwrap()), [1, 2, 3]);
    assert_eq!(seqs(s.list_audit_asc(3, 3).await.unwrap()), [4, 5, 6]);
    assert_eq!(seqs(s.list_audit_asc(6, 3).await.unwrap()), [7]);
    assert!(s.list_audit_asc(7, 3).await.unwrap().is_empty());
    assert!(s.list_audit_asc(0, 0).await.unwrap().is_empty());
    assert_eq!(seqs(s.list_audit_asc(-5, 2).await.unwrap()), [1, 2]);

    // Paging desc with the cursor walks everything once, newest first.
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let page = s.list_audit_desc(before, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = Some(page.last().unwrap().seq);
        walked.extend(page);
    }
    appended.reverse();
    assert_eq!(walked, appended);
}

#[tokio::test]
async fn audit_log_refuses_update_and_delete() {
    let s = mem().await;
    let r = s.append_audit(&entry("system", "x", "t")).await.unwrap();
    s.append_audit(&entry("system", "y", "t")).await.unwrap();

    for sql in [
        "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1",
        "UPDATE audit_log SET hash = 'x'",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_log",
    ] {
        let e = sqlx::query(sql).execute(s.pool()).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    let stored = all_audit(&s).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0], r);
    assert_valid_chain(&stored);
}

#[tokio::test]
async fn audit_seq_is_unique() {
    let s = mem().await;
    let r = s.append_audit(&entry("system", "x", "t")).await.unwrap();
    let e = sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash)
         VALUES (1, 0, 'm', 'm', '', '{}', 'p', 'h')",
    )
    .execute(s.pool())
    .await
    .unwrap_err();
    assert!(e.as_database_error().unwrap().is_unique_violation(), "{e}");
    assert_eq!(all_audit(&s).await, vec![r]);
}

#[tokio::test]
async fn audit_head_allows_only_one_row() {
    let s = mem().await;
    s.append_audit(&entry("system", "x", "t")).await.unwrap();
    let r = sqlx::query("INSERT INTO audit_head (id, seq, hash) VALUES (2, 1, 'h')")
        .execute(s.pool())
        .await;
    assert!(r.is_err());
}

#[tokio::test]
async fn audit_row_with_invalid_details_is_corrupt() {
    let s = mem().await;
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash)
         VALUES (1, 0, 'm', 'm', '', 'not json', 'p', 'h')",
    )
    .execute(s.pool())
    .await
    .unwrap();
    let e = s.list_audit_asc(0, 10).await.unwrap_err();
    assert!(matches!(e, StoreError::Corrupt(_)), "{e:?}");
    assert!(e.to_string().contains("audit details"), "{e}");
    assert!(matches!(
        s.list_audit_desc(None, 10).await.unwrap_err(),
        StoreError::Corrupt(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_two_stores_form_one_gap_free_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.db");
    let a = file_store(&path).await;
    let b = SqliteStore::connect(&file_url(&path)).await.unwrap();
    assert_eq!(b.migrate().await.unwrap(), 0);

    // Two stores (as two processes would have), two tasks each, 25 appends per task.
    let mut tasks = Vec::new();
    for (name, store) in [("a", &a), ("b", &b)] {
        for t in 0..2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..25 {
                    let e = entry(&format!("{name}{t}"), "test.append", &i.to_string());
                    out.push(store.append_audit(&e).await.unwrap());
                }
                out
            }));
        }
    }
    let mut returned = Vec::new();
    for t in tasks {
        returned.extend(t.await.unwrap());
    }
    assert_eq!(returned.len(), 100);

    let stored = all_audit(&a).await;
    assert_eq!(stored.len(), 100);
    assert_valid_chain(&stored);
    assert_eq!(stored.last().unwrap().seq, 100);
    assert_eq!(
        a.audit_head().await.unwrap(),
        Some((100, stored[99].hash.clone()))
    );
    assert_eq!(b.audit_head().await.unwrap(), a.audit_head().await.unwrap());

    // Every append is stored exactly once, as it was returned.
    returned.sort_by_key(|r| r.seq);
    assert_eq!(returned, stored);
    let distinct: BTreeSet<(String, String)> = stored
        .iter()
        .map(|r| (r.entry.actor.clone(), r.entry.target.clone()))
        .collect();
    assert_eq!(distinct.len(), 100);
    // Each task's own appends are in its order.
    for actor in ["a0", "a1", "b0", "b1"] {
        let targets: Vec<i64> = stored
            .iter()
            .filter(|r| r.entry.actor == actor)
            .map(|r| r.entry.target.parse().unwrap())
            .collect();
        assert_eq!(targets, (0..25).collect::<Vec<_>>(), "{actor}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_waits_for_another_writer_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lock.db");
    let a = file_store(&path).await;
    let b = SqliteStore::connect(&file_url(&path)).await.unwrap();
    a.append_audit(&entry("system", "first", "")).await.unwrap();

    // Another "process" holds the write lock for a while.
    let mut tx = b.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("INSERT INTO api_keys (id, name, scope, secret_hash, created_at) VALUES ('k', 'k', 'app', x'00', 0)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let pending = tokio::spawn({
        let a = a.clone();
        async move { a.append_audit(&entry("system", "second", "")).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "append did not wait for the lock");
    tx.commit().await.unwrap();

    let r = pending.await.unwrap().unwrap();
    assert_eq!(r.seq, 2);
    assert_valid_chain(&all_audit(&a).await);
    assert!(a.get_api_key("k").await.unwrap().is_some());
}

#[tokio::test]
async fn audit_chain_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.db");
    let s = file_store(&path).await;
    let r1 = s.append_audit(&entry("system", "a", "")).await.unwrap();
    s.close().await;
    let s = file_store(&path).await;
    assert_eq!(s.audit_head().await.unwrap(), Some((1, r1.hash.clone())));
    let r2 = s.append_audit(&entry("system", "b", "")).await.unwrap();
    assert_eq!(r2.seq, 2);
    assert_eq!(r2.prev_hash, r1.hash);
    assert_valid_chain(&all_audit(&s).await);
}

// ---------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn timestamps_round_trip_at_millisecond_precision() {
    let s = mem().await;
    let t = now();
    assert_eq!(
        t.timestamp_subsec_nanos() % 1_000_000,
        0,
        "now() is truncated"
    );

    let mut k = api_key("k", t);
    k.last_used_at = Some(t);
    k.revoked_at = Some(t);
    s.insert_api_key(&k).await.unwrap();
    let got = s.get_api_key("k").await.unwrap().unwrap();
    assert_eq!(got.created_at, t);
    assert_eq!(got.last_used_at, Some(t));
    assert_eq!(got.revoked_at, Some(t));

    let mut e = entry("system", "x", "");
    e.at = t;
    s.append_audit(&e).await.unwrap();
    assert_eq!(all_audit(&s).await[0].entry.at, t);
}

#[tokio::test]
async fn timestamps_at_the_edges_round_trip() {
    let s = mem().await;
    let times = [
        Utc.timestamp_millis_opt(0).unwrap(),
        Utc.timestamp_millis_opt(-1).unwrap(), // 1969-12-31T23:59:59.999Z
        Utc.timestamp_millis_opt(-62_135_596_800_000).unwrap(), // 0001-01-01
        Utc.timestamp_millis_opt(253_402_300_799_999).unwrap(), // 9999-12-31T23:59:59.999Z
        Utc.timestamp_millis_opt(1).unwrap(),
    ];
    for (i, t) in times.into_iter().enumerate() {
        let id = format!("k{i}");
        s.insert_api_key(&api_key(&id, t)).await.unwrap();
        assert_eq!(
            s.get_api_key(&id).await.unwrap().unwrap().created_at,
            t,
            "{t}"
        );
        s.touch_api_key(&id, t).await.unwrap();
        assert_eq!(
            s.get_api_key(&id).await.unwrap().unwrap().last_used_at,
            Some(t)
        );
        let mut e = entry("system", "x", &id);
        e.at = t;
        let r = s.append_audit(&e).await.unwrap();
        assert_eq!(s.list_audit_desc(None, 1).await.unwrap()[0], r, "{t}");
    }
    assert_valid_chain(&all_audit(&s).await);
}

#[tokio::test]
async fn sub_millisecond_precision_is_truncated_on_store() {
    let s = mem().await;
    let precise = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
    let truncated = ms(1_700_000_000_123);
    s.insert_api_key(&api_key("k", precise)).await.unwrap();
    assert_eq!(
        s.get_api_key("k").await.unwrap().unwrap().created_at,
        truncated
    );

    // The audit hash only covers milliseconds, so the stored row still verifies.
    let mut e = entry("system", "x", "");
    e.at = precise;
    let r = s.append_audit(&e).await.unwrap();
    let stored = all_audit(&s).await;
    assert_eq!(stored[0].entry.at, truncated);
    assert_eq!(stored[0].hash, r.hash);
    assert_valid_chain(&stored);
}

#[tokio::test]
async fn secret_updated_at_is_set_by_the_store_at_millisecond_precision() {
    let s = mem().await;
    let sl = slot("o", "1", "n");
    let before = now();
    s.put_secret(&sl, "k", b"x").await.unwrap();
    let first = s.get_secret(&sl).await.unwrap().unwrap().updated_at;
    assert!(first >= before);
    assert_eq!(first.timestamp_subsec_nanos() % 1_000_000, 0);
    tokio::time::sleep(Duration::from_millis(5)).await;
    s.put_secret(&sl, "k", b"y").await.unwrap();
    let second = s.get_secret(&sl).await.unwrap().unwrap().updated_at;
    assert!(second > first);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(s.replace_secret_if(&sl, 2, "k2", b"z").await.unwrap());
    let third = s.get_secret(&sl).await.unwrap().unwrap().updated_at;
    assert!(third > second && third <= now());
}

// ---------------------------------------------------------------------------------------
// Events and integration state
// ---------------------------------------------------------------------------------------

/// A time-ordered event id shaped like the engine's (`evt_` + 32 lowercase hex).
fn evt_id(n: u128) -> String {
    format!("evt_{n:032x}")
}

fn event(n: u128, integration: &str, provider_event_id: Option<&str>) -> Event {
    Event {
        id: evt_id(n),
        integration: integration.to_owned(),
        received_at: ms(1_700_000_000_000 + n as i64),
        provider_event_id: provider_event_id.map(str::to_owned),
        event_type: Some("thing.happened".to_owned()),
        scheme: "standard-webhooks".to_owned(),
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: format!("{{\"n\":{n}}}").into_bytes(),
        connection_id: None,
        routing_key: None,
    }
}

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

#[tokio::test]
async fn event_insert_and_get_round_trip_byte_for_byte() {
    let s = mem().await;
    let mut e = event(1, "github", Some("delivery-1"));
    e.headers = vec![
        ("X-B".to_owned(), "2".to_owned()),
        ("a".to_owned(), "1".to_owned()),
        ("X-B".to_owned(), "3".to_owned()),
        ("x-unicode".to_owned(), "é \"quoted\" \\ ☃".to_owned()),
    ];
    e.body = vec![0x00, b'{', 0xff, 0xfe, 0x80, b'}', 0x00, 0xc3, 0x28];
    assert!(std::str::from_utf8(&e.body).is_err());
    e.connection_id = Some("conn_1".to_owned());
    e.received_at = ms(1_712_345_678_901);
    assert_eq!(s.insert_event(&e).await.unwrap(), InsertOutcome::Inserted);
    assert_eq!(s.get_event(&e.id).await.unwrap(), Some(e.clone()));

    // Every optional field empty, and an empty body.
    let bare = Event {
        id: evt_id(2),
        integration: "github".to_owned(),
        received_at: ms(0),
        provider_event_id: None,
        event_type: None,
        scheme: "github".to_owned(),
        headers: vec![],
        body: vec![],
        connection_id: None,
        routing_key: None,
    };
    assert_eq!(
        s.insert_event(&bare).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(s.get_event(&bare.id).await.unwrap(), Some(bare));
    assert_eq!(s.get_event(&evt_id(3)).await.unwrap(), None);

    // Headers are a JSON array of pairs; the body a BLOB.
    let (headers, kind): (String, String) =
        sqlx::query_as("SELECT headers, typeof(body) FROM events WHERE id = ?")
            .bind(&e.id)
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(kind, "blob");
    assert!(
        headers.starts_with("[[\"X-B\",\"2\"],[\"a\",\"1\"]"),
        "{headers}"
    );
}

#[tokio::test]
async fn event_received_at_is_truncated_to_milliseconds() {
    let s = mem().await;
    let mut e = event(1, "i", None);
    e.received_at = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
    s.insert_event(&e).await.unwrap();
    let got = s.get_event(&e.id).await.unwrap().unwrap();
    assert_eq!(got.received_at, ms(1_700_000_000_123));
}

#[tokio::test]
async fn events_deduplicate_by_provider_id_within_an_integration() {
    let s = mem().await;
    let first = event(1, "stripe", Some("evt_abc"));
    assert_eq!(
        s.insert_event(&first).await.unwrap(),
        InsertOutcome::Inserted
    );
    // Same provider id, same integration: a duplicate of the first, nothing stored.
    let again = event(2, "stripe", Some("evt_abc"));
    assert_eq!(
        s.insert_event(&again).await.unwrap(),
        InsertOutcome::Duplicate {
            existing_id: first.id.clone()
        }
    );
    assert_eq!(s.get_event(&again.id).await.unwrap(), None);
    // Resending the very same event is a duplicate of itself.
    assert_eq!(
        s.insert_event(&first).await.unwrap(),
        InsertOutcome::Duplicate {
            existing_id: first.id.clone()
        }
    );
    // Same provider id in another integration: a different event.
    assert_eq!(
        s.insert_event(&event(3, "github", Some("evt_abc")))
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    // No provider id never deduplicates.
    for n in 4..7 {
        assert_eq!(
            s.insert_event(&event(n, "stripe", None)).await.unwrap(),
            InsertOutcome::Inserted
        );
    }
    assert_eq!(s.count_events(Some("stripe")).await.unwrap(), 4);
    assert_eq!(s.count_events(Some("github")).await.unwrap(), 1);
    assert_eq!(s.count_events(None).await.unwrap(), 5);
}

#[tokio::test]
async fn event_with_an_existing_id_is_a_conflict_and_does_not_fail_others() {
    let s = mem().await;
    let e = event(1, "i", None);
    s.insert_event(&e).await.unwrap();
    let mut clash = event(1, "other", None);
    clash.body = b"different".to_vec();
    let err = s.insert_event(&clash).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.get_event(&e.id).await.unwrap(), Some(e));
    // The writer carries on.
    assert_eq!(
        s.insert_event(&event(2, "i", None)).await.unwrap(),
        InsertOutcome::Inserted
    );
}

/// Holds the database write lock from another connection so that the writer is stuck
/// on one batch while more inserts queue up behind it: the queued ones then form one
/// batch, and none is acknowledged before its commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_inside_one_batch_refer_to_the_first_and_nothing_is_acked_before_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_store(&dir.path().join("sb.db")).await;
    let mut locker = s.pool().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *locker)
        .await
        .unwrap();

    // The writer takes this one alone and waits for the lock.
    let blocker = tokio::spawn({
        let s = s.clone();
        async move { s.insert_event(&event(1, "i", Some("blocker"))).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // These queue behind it and are drained together into the next batch.
    let mut tasks = Vec::new();
    for n in 10..30u128 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let e = event(n, "i", Some("same"));
            let outcome = s.insert_event(&e).await;
            (e.id, outcome)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!blocker.is_finished(), "acknowledged before its commit");
    assert!(tasks.iter().all(|t| !t.is_finished()));
    sqlx::query("ROLLBACK").execute(&mut *locker).await.unwrap();
    drop(locker);

    assert_eq!(blocker.await.unwrap().unwrap(), InsertOutcome::Inserted);
    let mut inserted = Vec::new();
    let mut duplicates_of = BTreeSet::new();
    for t in tasks {
        let (id, outcome) = t.await.unwrap();
        match outcome.unwrap() {
            InsertOutcome::Inserted => inserted.push(id),
            InsertOutcome::Duplicate { existing_id } => {
                assert_ne!(existing_id, id);
                duplicates_of.insert(existing_id);
            }
        }
    }
    assert_eq!(inserted.len(), 1, "{inserted:?}");
    assert_eq!(duplicates_of, BTreeSet::from([inserted[0].clone()]));
    assert_eq!(s.count_events(None).await.unwrap(), 2);
    let stored = s.get_event(&inserted[0]).await.unwrap().unwrap();
    assert_eq!(stored.provider_event_id.as_deref(), Some("same"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_inserts_are_all_acknowledged_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_store(&dir.path().join("sb.db")).await;
    let mut tasks = Vec::new();
    for t in 0..50u128 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for k in 0..10u128 {
                let n = t * 10 + k;
                let integration = format!("int-{}", n % 5);
                let pid = format!("p{n}");
                let e = event(n, &integration, (n % 2 == 0).then_some(pid.as_str()));
                assert_eq!(s.insert_event(&e).await.unwrap(), InsertOutcome::Inserted);
                sent.push(e);
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.unwrap());
    }
    assert_eq!(sent.len(), 500);
    assert_eq!(s.count_events(None).await.unwrap(), 500);
    for i in 0..5 {
        assert_eq!(
            s.count_events(Some(&format!("int-{i}"))).await.unwrap(),
            100
        );
    }
    for e in &sent {
        assert_eq!(s.get_event(&e.id).await.unwrap().as_ref(), Some(e));
    }
    // What was acknowledged is on disk: a fresh pool on the file sees all of it.
    s.close().await;
    let reopened = file_store(&dir.path().join("sb.db")).await;
    assert_eq!(reopened.count_events(None).await.unwrap(), 500);
}

#[tokio::test]
async fn list_events_newest_first_with_cursor_filter_and_limit() {
    let s = mem().await;
    // Inserted out of id order, alternating integrations.
    for n in [3u128, 1, 7, 5, 2, 6, 4] {
        let integration = if n % 2 == 1 { "odd" } else { "even" };
        s.insert_event(&event(n, integration, None)).await.unwrap();
    }
    let all = s.list_events(None, None, 100).await.unwrap();
    assert_eq!(ids(&all), (1..=7).rev().map(evt_id).collect::<Vec<_>>());

    // Paging with the last id as the cursor visits every event exactly once.
    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = s.list_events(None, before.as_deref(), 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        before = Some(page.last().unwrap().id.clone());
        pages.push(ids(&page));
    }
    assert_eq!(pages.len(), 3);
    assert_eq!(pages.concat(), ids(&all));

    let odd = s.list_events(Some("odd"), None, 100).await.unwrap();
    assert_eq!(ids(&odd), [7, 5, 3, 1].map(evt_id).to_vec());
    assert!(odd.iter().all(|e| e.integration == "odd"));
    let odd_before_5 = s
        .list_events(Some("odd"), Some(&evt_id(5)), 100)
        .await
        .unwrap();
    assert_eq!(ids(&odd_before_5), [3, 1].map(evt_id).to_vec());
    let even_limited = s
        .list_events(Some("even"), Some(&evt_id(7)), 2)
        .await
        .unwrap();
    assert_eq!(ids(&even_limited), [6, 4].map(evt_id).to_vec());
    // A cursor that is not a stored id still bounds the listing.
    let between = format!("{}~", evt_id(2));
    let before_mid = s.list_events(None, Some(&between), 100).await.unwrap();
    assert_eq!(ids(&before_mid), [2, 1].map(evt_id).to_vec());

    assert!(s.list_events(None, None, 0).await.unwrap().is_empty());
    assert!(
        s.list_events(Some("none"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.list_events(None, Some(&evt_id(1)), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn count_events_overall_and_per_integration() {
    let s = mem().await;
    assert_eq!(s.count_events(None).await.unwrap(), 0);
    assert_eq!(s.count_events(Some("a")).await.unwrap(), 0);
    for n in 0..5 {
        s.insert_event(&event(n, if n < 3 { "a" } else { "b" }, None))
            .await
            .unwrap();
    }
    // A duplicate adds nothing.
    s.insert_event(&event(10, "a", Some("x"))).await.unwrap();
    s.insert_event(&event(11, "a", Some("x"))).await.unwrap();
    assert_eq!(s.count_events(None).await.unwrap(), 6);
    assert_eq!(s.count_events(Some("a")).await.unwrap(), 4);
    assert_eq!(s.count_events(Some("b")).await.unwrap(), 2);
    assert_eq!(s.count_events(Some("c")).await.unwrap(), 0);
}

#[tokio::test]
async fn integration_block_and_unblock_report_changes() {
    let s = mem().await;
    assert!(!s.is_integration_blocked("x").await.unwrap());
    assert!(s.blocked_integrations().await.unwrap().is_empty());
    // Unblocking what was never blocked changes nothing.
    assert!(!s.set_integration_blocked("x", false, ms(1)).await.unwrap());
    assert!(!s.is_integration_blocked("x").await.unwrap());

    assert!(s.set_integration_blocked("x", true, ms(2)).await.unwrap());
    assert!(!s.set_integration_blocked("x", true, ms(3)).await.unwrap());
    assert!(s.is_integration_blocked("x").await.unwrap());
    assert!(s.set_integration_blocked("b", true, ms(4)).await.unwrap());
    assert_eq!(s.blocked_integrations().await.unwrap(), ["b", "x"]);
    // The time of the last change is kept, not of a call that changed nothing.
    let at: i64 =
        sqlx::query_scalar("SELECT updated_at FROM integration_state WHERE integration = 'x'")
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(at, 2);

    assert!(s.set_integration_blocked("x", false, ms(5)).await.unwrap());
    assert!(!s.set_integration_blocked("x", false, ms(6)).await.unwrap());
    assert!(!s.is_integration_blocked("x").await.unwrap());
    assert_eq!(s.blocked_integrations().await.unwrap(), ["b"]);
    // And it can be blocked again.
    assert!(s.set_integration_blocked("x", true, ms(7)).await.unwrap());
    assert_eq!(s.blocked_integrations().await.unwrap(), ["b", "x"]);
    assert!(!s.is_integration_blocked("unknown").await.unwrap());
}

#[tokio::test]
async fn migration_0002_applies_on_a_database_with_only_0001() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.db");
    let s = SqliteStore::connect(&file_url(&path)).await.unwrap();
    let first = MIGRATOR.iter().next().unwrap().clone();
    assert_eq!(first.version, 1);
    sqlx::migrate::Migrator::with_migrations(vec![first])
        .run(s.pool())
        .await
        .unwrap();
    let tables = table_names(&s).await;
    assert!(
        tables.contains("api_keys") && !tables.contains("events"),
        "{tables:?}"
    );
    s.insert_api_key(&api_key("k1", now())).await.unwrap();
    s.close().await;

    let s = SqliteStore::connect(&file_url(&path)).await.unwrap();
    // Every later migration applies (0002 events, 0003 disabled, …).
    assert_eq!(s.migrate().await.unwrap(), migration_count() - 1);
    let tables = table_names(&s).await;
    for t in ["api_keys", "events", "integration_state"] {
        assert!(tables.contains(t), "missing table {t}: {tables:?}");
    }
    let indexes: BTreeSet<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'",
    )
    .fetch_all(s.pool())
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert!(indexes.contains("events_provider_event_id"), "{indexes:?}");
    assert!(indexes.contains("events_integration_id"), "{indexes:?}");
    assert!(s.get_api_key("k1").await.unwrap().is_some());
    assert_eq!(
        s.insert_event(&event(1, "i", Some("p"))).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(s.migrate().await.unwrap(), 0);
}

#[tokio::test]
async fn insert_after_close_is_an_error_not_a_hang() {
    for s in [mem().await, {
        let dir = tempfile::tempdir().unwrap();
        let s = file_store(&dir.path().join("sb.db")).await;
        s.insert_event(&event(1, "i", None)).await.unwrap();
        s
    }] {
        let clone = s.clone();
        s.close().await;
        let e = tokio::time::timeout(
            Duration::from_secs(5),
            clone.insert_event(&event(2, "i", None)),
        )
        .await
        .expect("insert after close hung")
        .unwrap_err();
        assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    }
}

/// Jobs already queued when the pool closes get an error too (the writer cannot begin a
/// transaction), rather than waiting forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_queued_when_the_store_closes_fail_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_store(&dir.path().join("sb.db")).await;
    let mut tasks = Vec::new();
    for n in 0..50u128 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.insert_event(&event(n, "i", None)).await
        }));
    }
    s.close().await;
    let mut ok = 0;
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(20), t)
            .await
            .expect("an insert hung after close")
            .unwrap()
        {
            Ok(InsertOutcome::Inserted) => ok += 1,
            Ok(other) => panic!("{other:?}"),
            Err(e) => assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}"),
        }
    }
    // Whatever was acknowledged was committed.
    let reopened = file_store(&dir.path().join("sb.db")).await;
    assert_eq!(reopened.count_events(None).await.unwrap(), ok);
}

/// The writer task ends once every clone of the store is gone, so it does not keep the
/// pool (and its connections) alive: leaving WAL mode needs every other connection to
/// the file closed.
#[tokio::test]
async fn event_writer_stops_when_the_store_is_dropped() {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.db");
    let s = file_store(&path).await;
    let copy = s.clone();
    s.insert_event(&event(1, "i", None)).await.unwrap();
    drop(s);
    drop(copy);
    let opts = SqliteConnectOptions::from_str(&file_url(&path))
        .unwrap()
        .busy_timeout(Duration::ZERO);
    let mut conn = sqlx::SqliteConnection::connect_with(&opts).await.unwrap();
    let mut mode = String::new();
    for _ in 0..500 {
        if let Ok(m) = sqlx::query_scalar::<_, String>("PRAGMA journal_mode = DELETE")
            .fetch_one(&mut conn)
            .await
        {
            mode = m;
            if mode == "delete" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(mode, "delete", "the pool outlived every store handle");
    conn.close().await.unwrap();
    let reopened = file_store(&path).await;
    assert_eq!(reopened.count_events(None).await.unwrap(), 1);
}

// ---------------------------------------------------------------------------------------
// Disabled integrations (migration 0003)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn disable_and_enable_are_independent_of_block() {
    let s = mem().await;
    assert!(!s.is_integration_disabled("a").await.unwrap());
    assert!(s.set_integration_disabled("a", true, now()).await.unwrap());
    assert!(!s.set_integration_disabled("a", true, now()).await.unwrap());
    assert!(s.is_integration_disabled("a").await.unwrap());
    assert!(
        !s.is_integration_blocked("a").await.unwrap(),
        "disabling does not block"
    );
    assert!(s.set_integration_blocked("a", true, now()).await.unwrap());
    assert!(s.set_integration_disabled("a", false, now()).await.unwrap());
    assert!(
        s.is_integration_blocked("a").await.unwrap(),
        "enabling does not unblock"
    );
    assert!(!s.set_integration_disabled("a", false, now()).await.unwrap());
    assert!(
        !s.set_integration_disabled("never", false, now())
            .await
            .unwrap()
    );
    s.set_integration_disabled("c", true, now()).await.unwrap();
    s.set_integration_disabled("b", true, now()).await.unwrap();
    assert_eq!(s.disabled_integrations().await.unwrap(), ["b", "c"]);
    // A blocked-only row is not disabled.
    s.set_integration_blocked("d", true, now()).await.unwrap();
    assert!(!s.is_integration_disabled("d").await.unwrap());
}

#[tokio::test]
async fn a_store_whose_event_writer_stopped_is_not_ready_and_refuses_events() {
    let mut s = mem().await;
    s.ping().await.unwrap();
    // What the store sees when its writer thread has ended (a panic, say).
    let (gone, writer) = tokio::sync::mpsc::channel(1);
    drop(writer);
    s.events = gone;
    let e = s.ping().await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Unavailable(m) if m.contains("restart the server")),
        "{e:?}"
    );
    let refused = s.insert_event(&event(1, "gh", Some("d1"))).await;
    assert!(
        matches!(&refused, Err(StoreError::Unavailable(m)) if m.contains("event writer")),
        "{refused:?}"
    );
    assert_eq!(s.count_events(None).await.unwrap(), 0);
}
