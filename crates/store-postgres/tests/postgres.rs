//! What only the PostgreSQL backend has: its schema's guards (the append-only audit
//! log), migrations from several instances at once, how it connects (settings, bad URLs,
//! passwords kept out of messages), the writers' error isolation and deduplication
//! across instances, and claims that skip locked rows instead of waiting.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::TestSchema;
use serde_json::json;
use sqlx::Connection as _;
use store::{
    AuditEntry, AuditStore, DeliveryStore, Event, EventStore, InsertOutcome, Mapped, Routing,
    Store, StoreError, from_millis, now,
};
use store_postgres::testing::admin_url;
use store_postgres::{PgSettings, PgStore};

const T0: i64 = 1_700_000_000_000;

fn event(n: u32, integration: &str, provider_id: Option<&str>) -> Event {
    Event {
        id: format!("evt_{n:032x}"),
        integration: integration.to_owned(),
        received_at: from_millis(T0 + i64::from(n)).unwrap(),
        provider_event_id: provider_id.map(str::to_owned),
        event_type: Some("thing.happened".to_owned()),
        scheme: "standard-webhooks".to_owned(),
        headers: vec![],
        body: format!("{{\"n\":{n}}}").into_bytes(),
        connection_id: None,
        routing_key: None,
    }
}

/// A URL of the test server with `password` as the password.
fn with_password(password: &str, path: &str) -> String {
    let mut u = url::Url::parse(&admin_url()).unwrap();
    u.set_password(Some(password)).unwrap();
    u.set_path(path);
    u.to_string()
}

async fn migrated(schema: &TestSchema) -> PgStore {
    let s = PgStore::connect(&schema.url).await.unwrap();
    s.migrate().await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_refuses_update_delete_and_truncate() {
    let schema = TestSchema::new("sb_test").await;
    let s = migrated(&schema).await;
    let entry = AuditEntry {
        at: now(),
        actor: "system".into(),
        action: "test".into(),
        target: String::new(),
        details: json!({}),
    };
    s.append_audit(&entry).await.unwrap();
    for sql in [
        "UPDATE audit_log SET actor = 'mallory'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
    ] {
        let e = sqlx::query(sql).execute(s.pool()).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(s.list_audit_asc(0, 10).await.unwrap().len(), 1);
    assert_eq!(s.audit_head().await.unwrap().unwrap().0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_migrating_at_once_apply_each_migration_once() {
    let schema = TestSchema::new("sb_test").await;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(PgStore::connect(&schema.url).await.unwrap()));
    }
    let runs: Vec<_> = stores
        .iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move { s.migrate().await.unwrap() })
        })
        .collect();
    let mut applied = Vec::new();
    for r in runs {
        applied.push(r.await.unwrap());
    }
    let total: usize = applied.iter().sum();
    let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(stores[0].pool())
        .await
        .unwrap();
    assert_eq!(total as i64, migrations, "{applied:?}");
    assert!(migrations >= 4);
    // Nobody holds the migrator's advisory lock afterwards.
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'")
        .fetch_one(stores[0].pool())
        .await
        .unwrap();
    assert_eq!(held, 0);
    for s in &stores {
        assert_eq!(s.migrate().await.unwrap(), 0);
    }
}

#[tokio::test]
async fn bad_urls_are_unavailable_and_never_show_the_password() {
    let secret = "hunter2-Secret";
    let cases = [
        // Nothing listens on port 1.
        with_password(secret, "/test").replace(":5432", ":1"),
        // The server answers, the database does not exist.
        with_password(secret, "/sb_no_such_database"),
        // Not a valid port.
        with_password(secret, "/test").replace(":5432", ":notaport"),
    ];
    for url in cases {
        let e = tokio::time::timeout(Duration::from_secs(20), PgStore::connect(&url))
            .await
            .expect("connect hung")
            .unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(matches!(e, StoreError::Unavailable(_)), "{url}: {e:?}");
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains("database unavailable"), "{text}");
    }
    // A store that did connect (trust auth ignores the password) does not show it either.
    let s = PgStore::connect(&with_password(secret, "/test"))
        .await
        .unwrap();
    assert!(!format!("{s:?}").contains(secret));
}

#[tokio::test]
async fn synchronous_commit_off_is_refused() {
    let mut u = url::Url::parse(&admin_url()).unwrap();
    u.query_pairs_mut()
        .append_pair("options[synchronous_commit]", "off");
    let e = PgStore::connect(u.as_str()).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Unavailable(m) if m.contains("synchronous_commit")),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_statement_timeout_setting_applies_to_every_query() {
    let schema = TestSchema::new("sb_test").await;
    let settings = PgSettings {
        statement_timeout: Some(Duration::from_millis(50)),
        ..PgSettings::default()
    };
    let s = PgStore::connect_with(&schema.url, &settings).await.unwrap();
    // Migrations are not bound by it (they may wait for another instance's).
    s.migrate().await.unwrap();
    let e = sqlx::query("SELECT pg_sleep(2)")
        .execute(s.pool())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("statement timeout"), "{e}");
    s.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_with_bad_data_fails_alone_within_its_batch() {
    let schema = TestSchema::new("sb_test").await;
    let s = Arc::new(migrated(&schema).await);
    let mut tasks = Vec::new();
    for n in 0..200u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut e = event(n, "i", Some(&format!("p{n}")));
            if n == 77 {
                // PostgreSQL text cannot hold a NUL.
                e.event_type = Some("bad\0type".into());
            }
            (n, s.insert_event(&e).await)
        }));
    }
    for t in tasks {
        let (n, outcome) = t.await.unwrap();
        if n == 77 {
            let e = outcome.unwrap_err();
            assert!(
                matches!(&e, StoreError::Backend(m) if m.contains(&format!("evt_{n:032x}"))),
                "{e:?}"
            );
        } else {
            assert_eq!(outcome.unwrap(), InsertOutcome::Inserted, "event {n}");
        }
    }
    assert_eq!(s.count_events(None).await.unwrap(), 199);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_inserting_the_same_provider_ids_store_each_once() {
    let schema = TestSchema::new("sb_test").await;
    let first = migrated(&schema).await;
    let stores: Vec<Arc<PgStore>> = vec![
        Arc::new(first),
        Arc::new(PgStore::connect(&schema.url).await.unwrap()),
        Arc::new(PgStore::connect(&schema.url).await.unwrap()),
    ];
    // 3 instances × 100 events each over 50 provider ids, in different orders, so that
    // batches overlap in both directions.
    let mut tasks = Vec::new();
    for (k, s) in stores.iter().enumerate() {
        for n in 0..100u32 {
            let s = s.clone();
            let pid = if k == 1 { 49 - n % 50 } else { n % 50 };
            let id = k as u32 * 1000 + n;
            tasks.push(tokio::spawn(async move {
                let e = event(id, "stripe", Some(&format!("p{pid}")));
                (pid, e.id.clone(), s.insert_event(&e).await.unwrap())
            }));
        }
    }
    let mut winners = std::collections::HashMap::new();
    let mut duplicates = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (pid, id, InsertOutcome::Inserted) => {
                assert!(winners.insert(pid, id).is_none(), "p{pid} inserted twice");
            }
            (pid, _, InsertOutcome::Duplicate { existing_id }) => {
                duplicates.push((pid, existing_id))
            }
        }
    }
    assert_eq!(winners.len(), 50);
    assert_eq!(duplicates.len(), 250);
    for (pid, existing) in duplicates {
        assert_eq!(winners[&pid], existing, "p{pid}");
    }
    assert_eq!(stores[2].count_events(None).await.unwrap(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_skips_rows_another_transaction_holds_instead_of_waiting() {
    let schema = TestSchema::new("sb_test").await;
    let s = migrated(&schema).await;
    let mut routings = Vec::new();
    for n in 1..=3u32 {
        let e = event(n, "stripe", None);
        s.insert_event(&e).await.unwrap();
        routings.push(Routing {
            event_id: e.id.clone(),
            mapped: Mapped::Mapped {
                event_type: "t".into(),
                data: "{}".into(),
            },
            deliveries: vec![(format!("dlv_{n}"), "app".into())],
        });
    }
    assert_eq!(
        s.route_events(&routings, from_millis(T0).unwrap())
            .await
            .unwrap(),
        3
    );
    // Another instance is in the middle of something with dlv_1.
    let mut other = sqlx::PgConnection::connect(&schema.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query("SELECT 1 FROM deliveries WHERE id = 'dlv_1' FOR UPDATE")
        .execute(&mut other)
        .await
        .unwrap();
    let claimed = tokio::time::timeout(
        Duration::from_secs(10),
        s.claim_deliveries(
            "w",
            10,
            from_millis(T0 + 1000).unwrap(),
            from_millis(T0 + 61_000).unwrap(),
            &[],
        ),
    )
    .await
    .expect("the claim waited for a locked row")
    .unwrap();
    let ids: Vec<&str> = claimed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["dlv_2", "dlv_3"]);
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let rest = s
        .claim_deliveries(
            "w",
            10,
            from_millis(T0 + 1000).unwrap(),
            from_millis(T0 + 61_000).unwrap(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, "dlv_1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_append_one_audit_chain() {
    let schema = TestSchema::new("sb_test").await;
    let first = migrated(&schema).await;
    let stores: Vec<Arc<PgStore>> = vec![
        Arc::new(first),
        Arc::new(PgStore::connect(&schema.url).await.unwrap()),
        Arc::new(PgStore::connect(&schema.url).await.unwrap()),
    ];
    let mut tasks = Vec::new();
    for (k, s) in stores.iter().enumerate() {
        for t in 0..3 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..20 {
                    let e = AuditEntry {
                        at: now(),
                        actor: format!("instance-{k}-{t}"),
                        action: "test.append".into(),
                        target: i.to_string(),
                        details: json!({"i": i}),
                    };
                    s.append_audit(&e).await.unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = stores[1].list_audit_asc(0, 1000).await.unwrap();
    assert_eq!(all.len(), 180);
    let mut prev = store::GENESIS_HASH.to_owned();
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.seq, i as i64 + 1);
        assert_eq!(r.prev_hash, prev);
        assert_eq!(r.hash, store::chain_hash(&r.prev_hash, r.seq, &r.entry));
        prev = r.hash.clone();
    }
    assert_eq!(stores[2].audit_head().await.unwrap(), Some((180, prev)));
}

#[tokio::test]
async fn a_store_whose_pool_is_closed_is_unavailable_but_others_carry_on() {
    let schema = TestSchema::new("sb_test").await;
    let a = migrated(&schema).await;
    let b = PgStore::connect(&schema.url).await.unwrap();
    a.close().await;
    assert!(matches!(a.ping().await, Err(StoreError::Unavailable(_))));
    assert!(matches!(a.migrate().await, Err(StoreError::Unavailable(_))));
    b.ping().await.unwrap();
    assert_eq!(b.backend(), "postgres");
    assert_eq!(
        b.insert_event(&event(1, "i", None)).await.unwrap(),
        InsertOutcome::Inserted
    );
}

/// The copy list of `switchboard db copy` (`store::transfer::TABLES`) against this
/// backend's migrations: every table of the migrated schema is in it, with the same
/// columns, types, nullability and primary key, so no table or column is left behind
/// silently when a migration adds one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_list_has_every_table_and_column_of_the_schema() {
    use std::collections::BTreeMap;
    use store::transfer::{ColumnType, NOT_COPIED, TABLES};

    let schema = TestSchema::new("sb_test").await;
    let s = migrated(&schema).await;
    let mut in_schema: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
           AND table_name <> '_sqlx_migrations' ORDER BY 1",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    in_schema.retain(|n| !NOT_COPIED.iter().any(|(t, _)| t == n));
    let mut listed: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    in_schema.sort_unstable();
    listed.sort_unstable();
    assert_eq!(
        in_schema, listed,
        "the tables of the PostgreSQL schema and store::transfer::TABLES differ: add the \
         new table to TABLES (in foreign-key order) so that db copy moves it, or to \
         NOT_COPIED saying why not"
    );
    for t in TABLES {
        let columns: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, is_nullable::text
             FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
               AND is_generated = 'NEVER'",
        )
        .bind(t.name)
        .fetch_all(s.pool())
        .await
        .unwrap();
        let actual: BTreeMap<String, (String, bool)> = columns
            .into_iter()
            .map(|(name, ty, nullable)| {
                // Widths do not matter to the copy: integers travel as 64 bits.
                let ty = if ty == "integer" { "bigint".into() } else { ty };
                (name, (ty, nullable == "YES"))
            })
            .collect();
        let expected: BTreeMap<String, (String, bool)> = t
            .columns
            .iter()
            .map(|c| {
                let ty = match c.ty {
                    ColumnType::Int => "bigint",
                    ColumnType::Bool => "boolean",
                    ColumnType::Text => "text",
                    ColumnType::Bytes => "bytea",
                };
                (c.name.to_owned(), (ty.to_owned(), c.nullable))
            })
            .collect();
        assert_eq!(actual, expected, "columns of {} (type, nullable)", t.name);
        let pk: Vec<String> = sqlx::query_scalar(
            "SELECT a.attname::text
             FROM pg_index i
             JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = to_regclass($1) AND i.indisprimary
             ORDER BY k.n",
        )
        .bind(t.name)
        .fetch_all(s.pool())
        .await
        .unwrap();
        assert_eq!(pk, t.key, "primary key of {}", t.name);
    }
}

/// Audit rows go in with their stored sequence numbers and hashes despite the
/// append-only triggers, the head moves to the copied one, and the next append chains
/// on; the triggers still refuse changes afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copied_audit_rows_pass_the_triggers_and_the_chain_goes_on() {
    use store::transfer::{Value, table};

    let source = TestSchema::new("sb_test").await;
    let target = TestSchema::new("sb_test").await;
    let a = migrated(&source).await;
    let b = migrated(&target).await;
    for n in 0..3 {
        a.append_audit(&AuditEntry {
            at: now(),
            actor: "system".into(),
            action: "test".into(),
            target: format!("t{n}"),
            details: json!({"n": n}),
        })
        .await
        .unwrap();
    }
    for name in ["audit_log", "audit_head"] {
        let t = table(name).unwrap();
        let rows = a.transfer().read(t, None, 100).await.unwrap();
        assert_eq!(
            b.transfer().write(t, &rows).await.unwrap(),
            rows.len() as u64
        );
    }
    assert_eq!(b.audit_head().await.unwrap(), a.audit_head().await.unwrap());
    let next = b
        .append_audit(&AuditEntry {
            at: now(),
            actor: "cli:ops".into(),
            action: "db.copy".into(),
            target: String::new(),
            details: json!({}),
        })
        .await
        .unwrap();
    assert_eq!(next.seq, 4);
    assert_eq!(next.prev_hash, a.audit_head().await.unwrap().unwrap().1);
    // An older head does not move it back; the log still refuses changes.
    let t = table("audit_head").unwrap();
    let old = vec![Value::Int(1), Value::Int(2), Value::Text("0".repeat(64))];
    assert_eq!(b.transfer().write(t, &[old]).await.unwrap(), 0);
    assert_eq!(b.audit_head().await.unwrap().unwrap().0, 4);
    let refused = sqlx::query("UPDATE audit_log SET actor = 'x' WHERE seq = 1")
        .execute(b.pool())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
}

/// GitHub App connections of a custom provider made before installations routed
/// webhooks have no routing key; migration 0015 gives them their installation id, and
/// leaves every other row as it was (settings that are not JSON included: skipped, not
/// a failed migration).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_0015_routes_old_github_app_connections_by_their_installation() {
    use store::ConnectionStore;
    let schema = TestSchema::new("sb_test").await;
    let s = PgStore::connect(&schema.url).await.unwrap();
    let all = sqlx::migrate::Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations"
    )))
    .await
    .unwrap();
    let before: Vec<_> = all.iter().filter(|m| m.version < 15).cloned().collect();
    let later = all.iter().filter(|m| m.version >= 15).count();
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
             VALUES ($1, 'gh', 'ghapp', 'u1', $2, 'active', '[]', '[]', $3, $4, 0, 0)",
        )
        .bind(id)
        .bind(mode)
        .bind(settings)
        .bind(key)
        .execute(s.pool())
        .await
        .unwrap();
    }
    assert_eq!(s.migrate().await.unwrap(), later);
    let keys: std::collections::BTreeMap<String, Option<String>> =
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
