//! A schema of its own for each test on the machine's PostgreSQL.
//!
//! The server is `SWITCHBOARD_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test creates a schema
//! `sb_test_<pid>_<random>` there and opens its stores with `search_path` set to it, so
//! runs and tests never see each other's rows; the schema is dropped when the guard is.
//! A schema is much cheaper than a database (`CREATE DATABASE` takes over a second here,
//! as it copies and flushes a template).
//!
//! When the server cannot be reached the test FAILS, saying how to fix it, unless
//! `SWITCHBOARD_TEST_PG=skip` is set: then it prints why and ends its process
//! successfully (nextest runs one process per test, so that test alone is skipped).

#![allow(dead_code)]

use std::sync::Arc;

use sqlx::Connection as _;
use store::Store;
use store_postgres::PgStore;

/// The server the tests use.
pub fn admin_url() -> String {
    std::env::var("SWITCHBOARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema for one test, dropped (with everything in it) when this is dropped.
#[derive(Debug)]
pub struct TestSchema {
    /// The schema's name.
    pub name: String,
    /// The server's URL with `search_path` set to the schema.
    pub url: String,
}

impl TestSchema {
    /// Creates a fresh, empty schema.
    pub async fn new() -> Self {
        let admin = admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => unreachable_server(&admin, &e),
        };
        let name = format!(
            "sb_test_{}_{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        let mut url = url::Url::parse(&admin).unwrap();
        url.query_pairs_mut()
            .append_pair("options[search_path]", &name);
        Self {
            name,
            url: url.to_string(),
        }
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime (which must not block on itself): a thread
        // of its own with a runtime of its own drops the schema, and is waited for.
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut conn = sqlx::PgConnection::connect(&admin_url()).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test schema {}: {dropped:?}", self.name);
        }
    }
}

fn unreachable_server(url: &str, e: &sqlx::Error) -> ! {
    let shown = store_postgres::redact(url);
    if std::env::var("SWITCHBOARD_TEST_PG").as_deref() == Ok("skip") {
        eprintln!(
            "SKIPPED: PostgreSQL at {shown} is not reachable ({e}) and SWITCHBOARD_TEST_PG=skip"
        );
        std::process::exit(0);
    }
    panic!(
        "PostgreSQL at {shown} is not reachable: {e}. Start it (scripts/setup installs and \
         starts it), point SWITCHBOARD_TEST_PG_URL at another server, or set \
         SWITCHBOARD_TEST_PG=skip to skip the PostgreSQL tests"
    );
}

/// A fresh, migrated, empty store in a schema of its own, and the schema's guard.
pub async fn fresh() -> (Arc<dyn Store>, TestSchema) {
    let schema = TestSchema::new().await;
    let s = PgStore::connect(&schema.url).await.unwrap();
    assert!(s.migrate().await.unwrap() > 0);
    (Arc::new(s), schema)
}

/// Two independent stores (own pools and writers) on one fresh schema, as two
/// instances would have.
pub async fn pair() -> (Arc<dyn Store>, Arc<dyn Store>, TestSchema) {
    let schema = TestSchema::new().await;
    let a = PgStore::connect(&schema.url).await.unwrap();
    a.migrate().await.unwrap();
    let b = PgStore::connect(&schema.url).await.unwrap();
    (Arc::new(a), Arc::new(b), schema)
}
