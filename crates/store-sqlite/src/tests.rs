//! SQLite-only behaviour: opening (URLs, files, the memory store, a second handle),
//! connection settings, migrations, and locking between two handles on one file. What
//! every backend must do is in the `store-tests` suite, which `tests/suite.rs` runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use store::{ApiKeyStore, AuditStore, ConnectionStore, EventStore, IntegrationStateStore};
use store::{InsertOutcome, Store, StoreError, now};
use store_tests::fixtures::{all_audit, api_key, assert_valid_chain, entry, event, ms};

use super::*;

// ---------------------------------------------------------------------------------------
// Helpers (shared with the other test modules; records come from `store_tests::fixtures`)
// ---------------------------------------------------------------------------------------

pub(crate) async fn mem() -> SqliteStore {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    s.migrate().await.unwrap();
    s
}

pub(crate) fn file_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

pub(crate) async fn file_store(path: &Path) -> SqliteStore {
    let s = SqliteStore::connect(&file_url(path)).await.unwrap();
    s.migrate().await.unwrap();
    s
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
// Opening, settings and migrations
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
    assert_eq!(s.backend(), "sqlite");
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

#[tokio::test]
async fn a_new_database_file_and_its_wal_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.db");
    let s = SqliteStore::connect(&file_url(&path)).await.unwrap();
    s.migrate().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("sb.db{suffix}"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    s.close().await;
    // An existing file keeps the mode its owner gave it.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let s = SqliteStore::connect(&file_url(&path)).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    s.close().await;
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

/// GitHub App connections of a custom provider made before installations routed
/// webhooks have no routing key; migration 0016 gives them their installation id, and
/// leaves every other row as it was.
#[tokio::test]
async fn migration_0016_routes_old_github_app_connections_by_their_installation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.db");
    let s = SqliteStore::connect(&file_url(&path)).await.unwrap();
    let before: Vec<_> = MIGRATOR
        .iter()
        .filter(|m| m.version < 16)
        .cloned()
        .collect();
    sqlx::migrate::Migrator::with_migrations(before)
        .run(s.pool())
        .await
        .unwrap();
    let rows: [(&str, &str, &str, Option<&str>); 8] = [
        (
            "gh-old",
            "github_app",
            r#"{"account":"octo-org","installation_id":"101"}"#,
            None,
        ),
        (
            "gh-old-2",
            "github_app",
            r#"{"installation_id":"101"}"#,
            None,
        ),
        (
            "gh-keyed",
            "github_app",
            r#"{"installation_id":"202"}"#,
            Some("202"),
        ),
        ("gh-none", "github_app", r#"{"account":"octo-org"}"#, None),
        (
            "gh-word",
            "github_app",
            r#"{"installation_id":"12ab"}"#,
            None,
        ),
        (
            "gh-number",
            "github_app",
            r#"{"installation_id":303}"#,
            None,
        ),
        ("gh-garbage", "github_app", "not json {", None),
        ("oauth", "oauth2", r#"{"installation_id":"101"}"#, None),
    ];
    for (id, mode, settings, key) in rows {
        sqlx::query(
            "INSERT INTO connections (id, integration, provider, end_user_id, auth_mode, status,
               scopes, missing_scopes, settings, routing_key, created_at, updated_at)
             VALUES (?, 'gh', 'ghapp', 'u1', ?, 'active', '[]', '[]', ?, ?, 0, 0)",
        )
        .bind(id)
        .bind(mode)
        .bind(settings)
        .bind(key)
        .execute(s.pool())
        .await
        .unwrap();
    }
    s.close().await;

    let s = SqliteStore::connect(&file_url(&path)).await.unwrap();
    let later = MIGRATOR.iter().filter(|m| m.version >= 16).count();
    assert_eq!(s.migrate().await.unwrap(), later);
    let keys: BTreeMap<String, Option<String>> =
        sqlx::query_as("SELECT id, routing_key FROM connections")
            .fetch_all(s.pool())
            .await
            .unwrap()
            .into_iter()
            .collect();
    let expected = [
        ("gh-old", Some("101")),
        ("gh-old-2", Some("101")),
        ("gh-keyed", Some("202")),
        ("gh-none", None),
        ("gh-word", None),
        ("gh-number", None),
        ("gh-garbage", None),
        ("oauth", None),
    ];
    for (id, key) in expected {
        assert_eq!(keys[id].as_deref(), key, "{id}");
    }
    // Installation webhooks find them now; and migrating again changes nothing.
    let bound = s.connections_by_routing_key("gh", "101", 10).await.unwrap();
    let ids: Vec<&str> = bound.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["gh-old", "gh-old-2"]);
    assert_eq!(
        bound[0].settings["account"], "octo-org",
        "settings untouched"
    );
    assert_eq!(s.migrate().await.unwrap(), 0);
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

/// The event writer commits on its own rusqlite connection, not the pool's: on disk that
/// connection runs `synchronous = FULL` (a webhook answered 2xx survives a power loss), in
/// memory `OFF`. The level is read back from the very connection the writer thread then
/// owns, and a second handle's writer is opened the same way.
#[tokio::test]
async fn the_event_writer_connection_runs_synchronous_full_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let s = file_store(&dir.path().join("sb.db")).await;
    assert_eq!(s.writer_synchronous, 2, "synchronous = FULL");
    assert_eq!(
        s.insert_event(&event(1, "i", None)).await.unwrap(),
        InsertOutcome::Inserted
    );
    let again = s.open_again().await.unwrap();
    assert_eq!(again.writer_synchronous, 2, "synchronous = FULL");
    // The pools' own connections: FULL, and NORMAL for the delivery queue's.
    assert_eq!(pragma_i64(&s, "PRAGMA synchronous").await, 2);
    let queue: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(s.queue_pool())
        .await
        .unwrap();
    assert_eq!(queue, 1, "synchronous = NORMAL");
    assert_eq!(
        mem().await.writer_synchronous,
        0,
        "memory: synchronous = OFF"
    );
}

/// A second handle on a memory store sees the same database and keeps it alive.
#[tokio::test]
async fn a_second_handle_on_a_memory_store_shares_its_database() {
    let a = mem().await;
    a.insert_api_key(&api_key("k", now())).await.unwrap();
    let b = a.open_again().await.unwrap();
    assert!(b.get_api_key("k").await.unwrap().is_some());
    assert_eq!(b.migrate().await.unwrap(), 0);
    b.insert_event(&event(1, "i", None)).await.unwrap();
    assert_eq!(a.count_events(None).await.unwrap(), 1);
    let file: String =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(a.pool())
            .await
            .unwrap();
    let dir = Path::new(&file).parent().unwrap().to_owned();
    drop(a);
    assert!(dir.exists(), "the second handle still uses it");
    assert_eq!(b.count_events(None).await.unwrap(), 1);
    drop(b);
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

/// Headers are stored as a JSON array of pairs, the body as a BLOB.
#[tokio::test]
async fn event_headers_are_a_json_array_of_pairs_and_the_body_a_blob() {
    let s = mem().await;
    let mut e = event(1, "github", Some("delivery-1"));
    e.headers = vec![
        ("X-B".to_owned(), "2".to_owned()),
        ("a".to_owned(), "1".to_owned()),
    ];
    e.body = vec![0x00, 0xff];
    s.insert_event(&e).await.unwrap();
    let (headers, kind): (String, String) =
        sqlx::query_as("SELECT headers, typeof(body) FROM events WHERE id = ?")
            .bind(&e.id)
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert_eq!(kind, "blob");
    assert_eq!(headers, r#"[["X-B","2"],["a","1"]]"#);
}

/// An integration's row keeps the time of its last change, not of a call that changed
/// nothing.
#[tokio::test]
async fn integration_state_keeps_the_time_of_the_last_change() {
    let s = mem().await;
    assert!(s.set_integration_blocked("x", true, ms(2)).await.unwrap());
    assert!(!s.set_integration_blocked("x", true, ms(3)).await.unwrap());
    let at = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT updated_at FROM integration_state WHERE integration = 'x'",
        )
        .fetch_one(s.pool())
        .await
        .unwrap()
    };
    assert_eq!(at().await, 2);
    assert!(s.set_integration_disabled("x", true, ms(4)).await.unwrap());
    assert!(!s.set_integration_disabled("x", true, ms(5)).await.unwrap());
    assert_eq!(at().await, 4);
}
