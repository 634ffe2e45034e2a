//! A schema of its own for each test on a real PostgreSQL, for this crate's tests and for
//! the end-to-end tests of the binary (feature `testing`; never in a release build).
//!
//! The server is `SWITCHBOARD_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test creates a schema
//! `<prefix>_<pid>_<random>` there and reaches it with `options[search_path]` in the URL,
//! so runs and tests never see each other's rows; the schema is dropped, with everything
//! in it, when the guard is. A schema is much cheaper than a database (`CREATE DATABASE`
//! copies and flushes a template, over a second here).
//!
//! When the server cannot be reached the test FAILS, saying how to fix it, unless
//! `SWITCHBOARD_TEST_PG=skip` is set: then it prints why and ends its process
//! successfully (nextest runs one process per test, so that test alone is skipped).

use sqlx::Connection as _;

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
    /// Creates a fresh, empty schema named `<prefix>_<pid>_<random>`.
    pub async fn new(prefix: &str) -> Self {
        let admin = admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => unreachable_server(&admin, &e),
        };
        let mut random = [0u8; 6];
        getrandom::fill(&mut random).expect("random bytes");
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("{prefix}_{}_{suffix}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .expect("CREATE SCHEMA");
        let _ = conn.close().await;
        let mut url = url::Url::parse(&admin).expect("SWITCHBOARD_TEST_PG_URL is a URL");
        url.query_pairs_mut()
            .append_pair("options[search_path]", &name);
        Self {
            name,
            url: url.to_string(),
        }
    }

    /// The single number a query on the schema's tables returns (`SELECT COUNT(*) …`),
    /// on a connection of its own.
    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .expect("connect to the test schema");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
        n
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
                .expect("a runtime to drop the test schema");
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

/// Fails the test (or, with `SWITCHBOARD_TEST_PG=skip`, ends its process successfully)
/// when the server cannot be reached. The URL is shown without its password.
fn unreachable_server(url: &str, e: &sqlx::Error) -> ! {
    let shown = crate::redact(url);
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
