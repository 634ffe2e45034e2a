//! PostgreSQL implementation of the [`store`] traits, for several Switchboard instances
//! on one database.
//!
//! It keeps SQLite's semantics (the `store-tests` suite runs unchanged on both, see
//! `tests/suite.rs`) and holds them across processes. The design points:
//!
//! - **Driver: sqlx** (`postgres` feature, rustls with the OS's root certificates;
//!   `sslmode` in the URL decides whether TLS is used). It is the driver store-sqlite
//!   already uses, so both backends share the pool, the row decoding and the embedded
//!   migrator. sqlx does not pipeline queries, which tokio-postgres would; the hot
//!   paths are written so that it does not need to: a batch of webhooks is one
//!   statement (one round trip), a claim is one statement.
//! - **Time** is `BIGINT` milliseconds since the epoch, as on SQLite (the audit chain
//!   hashes it, and `switchboard db copy` moves rows unchanged). Text that is ordered or
//!   compared is `COLLATE "C"` (byte order, as SQLite and Rust compare), so cursors and
//!   listings behave the same whatever the database's default collation is.
//! - **Event intake is group-committed** by [`EVENT_WRITERS`] writer tasks per store
//!   that share one queue (`writer`): each takes whatever is queued (up to
//!   [`EVENT_BATCH`]) and inserts it with ONE statement, `INSERT … SELECT FROM UNNEST(…)
//!   ON CONFLICT DO NOTHING RETURNING id`, with the batch's deliveries in a data-modifying
//!   CTE of the same statement, so the batch commits atomically in one round trip and
//!   one WAL flush. Deduplication is the partial unique index on `(integration,
//!   provider_event_id)`. No caller is answered before its commit (`synchronous_commit`
//!   must not be `off`: [`PgStore::connect`] refuses it). An event that breaks a
//!   constraint on its own (a delivery id used twice, a NUL in a text field) fails the
//!   batch's statement; the writer then inserts the batch event by event, so only that
//!   event gets the error, as on SQLite.
//! - **The delivery queue** claims with `FOR UPDATE SKIP LOCKED` in one `UPDATE …
//!   RETURNING` statement, so instances never wait on each other's claims and a row goes
//!   to exactly one claimer. Leases are fenced exactly as on SQLite: every claim,
//!   release and requeue bumps `lease_fence`, and renew, complete, fail and release
//!   compare it (and `status = 'in_flight'`).
//! - **The audit chain** is appended under a row lock on its head (`SELECT … FROM
//!   audit_head … FOR UPDATE`; the migration creates the head row, so even the first
//!   append has a row to lock): appends from every instance serialise into one gap-free
//!   chain. Triggers refuse `UPDATE`, `DELETE` and `TRUNCATE` of `audit_log`.
//! - **Migrations** are embedded (`migrations/`) and run by sqlx's migrator, which
//!   holds a session advisory lock (`pg_advisory_lock`, keyed by the database name) for
//!   the whole run: instances starting together apply each migration once, the others
//!   wait and then find nothing to do. They run on a connection of their own, closed
//!   afterwards, so a failed run cannot leave the lock held by a pooled connection.
//! - **Errors**: a unique violation is [`StoreError::Conflict`], as are deadlocks and
//!   serialisation failures; connection failures, refused logins, a missing database
//!   and an exhausted or closed pool are [`StoreError::Unavailable`]. A URL's password
//!   never appears in an error or in `Debug` output ([`redact`]).
//!
//! **Tests** run against a real server (`SWITCHBOARD_TEST_PG_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`): `tests/suite.rs` runs the whole
//! `store-tests` suite, `tests/postgres.rs` what only this backend has. Each test gets a
//! schema of its own (`sb_test_<pid>_<random>`, reached with `options[search_path]` in
//! the URL and dropped afterwards), so runs never see each other. An unreachable server
//! fails the tests with a message saying what to do, unless `SWITCHBOARD_TEST_PG=skip`.
//!
//! - **Changes** other instances must hear of (deliveries due, connections, API keys,
//!   integration and destination state) are announced by triggers with `pg_notify` on a
//!   channel per schema (migration `0005_notify.sql`) and read back as the store's change
//!   feed ([`Store::subscribe`], `notify`): one `LISTEN` connection per subscription,
//!   outside the pool, and [`store::Change::Resync`] whenever it (re)starts listening.
//!
//! - **Instances** (`instances`): each `serve` process beats in one statement that
//!   removes expired rows of others (`FOR UPDATE SKIP LOCKED`, so beats never wait on
//!   each other), upserts its own row and returns the live ones; the engine splits rate
//!   limits among them (`engine::instances`).
//!
//! The choice of backend by `database_url` is not in
//! this crate.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection as _, Row};
use store::{Event, InsertOutcome, Routing, Store, StoreError, StoreResult, from_millis};
use tokio::sync::{Mutex, mpsc, oneshot};

mod api_keys;
mod audit;
mod connections;
mod console;
mod deliveries;
mod events;
mod instances;
mod integration_state;
mod notify;
mod privacy;
mod secrets;
mod status;
#[cfg(feature = "testing")]
pub mod testing;
mod transfer;
mod writer;

use store::EventRow;
use writer::EventJob;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Serialises [`Store::migrate`] of the instances that share a schema (released when
/// its connection closes).
const MIGRATE_LOCK: &str =
    "SELECT pg_advisory_lock(hashtextextended('switchboard.migrate.' || current_schema(), 0))";

/// How many event inserts may wait for the writers before callers wait to enqueue.
pub const EVENT_QUEUE: usize = 1024;

/// The most event inserts committed in one statement.
pub const EVENT_BATCH: usize = 256;

/// Writer tasks per store: batches in flight at once (each on its own connection). Two,
/// not more: while a batch is in flight the next one fills, so fewer writers make
/// larger batches and the per-statement cost (bind, commit) is paid less often; two
/// still overlap one batch's round trip with the next one's work. Measured with 32
/// concurrent inserts of 1 KiB events on a 2-core machine sharing its cores with the
/// database: 1 writer 20.5k events/s, 2 writers 19.5k, 4 writers 14.8k (smaller batches,
/// the database's CPU spent per statement).
pub const EVENT_WRITERS: usize = 2;

/// How a [`PgStore`] uses the database, beyond what the URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// Most connections the store's pool opens (the event writers take up to
    /// [`EVENT_WRITERS`] of them under load). Beside the pool, each
    /// [`Store::subscribe`] holds one connection of its own while its feed lives
    /// (`serve` subscribes once), and [`Store::migrate`] opens one for its run: an
    /// instance uses at most `max_connections + 2`.
    pub max_connections: u32,
    /// How long a query waits for a free connection before failing as unavailable.
    pub acquire_timeout: Duration,
    /// `statement_timeout` of every connection; `None` leaves the server's.
    pub statement_timeout: Option<Duration>,
}

impl Default for PgSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(15),
            statement_timeout: None,
        }
    }
}

/// A PostgreSQL-backed store. Clones share the pool and the event writers; the writers
/// end when the last clone is dropped.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    events: mpsc::Sender<EventJob>,
    /// What the URL says (migrations open a connection of their own with it, without the
    /// statement timeout: waiting for another instance's migrations is not a hang).
    options: PgConnectOptions,
}

impl std::fmt::Debug for PgStore {
    // By hand: the connect options hold the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("host", &self.options.get_host())
            .field("port", &self.options.get_port())
            .field("database", &self.options.get_database())
            .field("pool_size", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .finish_non_exhaustive()
    }
}

/// `url` with its password, if any (`user:password@` or `?password=`), replaced by
/// `***`, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            if u.query_pairs().any(|(k, _)| k == "password") {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" { "***".into() } else { v };
                        (k.into_owned(), v.into_owned())
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        // Not a URL we can take apart: show nothing of it that could be a secret.
        Err(_) => "(an unparsable URL)".to_owned(),
    }
}

/// The passwords in `url` (user info and `?password=`).
fn passwords(url: &str) -> Vec<String> {
    let Ok(u) = url::Url::parse(url) else {
        return Vec::new();
    };
    let mut out: Vec<String> = u
        .query_pairs()
        .filter(|(k, _)| k == "password")
        .map(|(_, v)| v.into_owned())
        .collect();
    if let Some(p) = u.password() {
        out.push(p.to_owned());
        // As given in the URL and percent-decoded.
        if let Ok(decoded) = percent_decode(p) {
            out.push(decoded);
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

fn percent_decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = s.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|b| (*b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

/// Whether a connection failed in its TLS handshake or certificate check (rustls'
/// errors reach sqlx as I/O errors of the stream).
fn tls_problem(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => {
            let text = io.to_string().to_ascii_lowercase();
            ["certificate", "tls", "handshake"]
                .iter()
                .any(|w| text.contains(w))
        }
        _ => false,
    }
}

/// SQLSTATE classes and codes that mean the database cannot be used right now.
fn unavailable_code(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (too many connections, disk full)
        || code.starts_with("28") // invalid authorization (bad password, no such role)
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" // admin / crash shutdown, cannot connect now
                | "3D000" // the database does not exist
                | "25006" // read-only transaction (a standby)
                | "57014" // statement timeout: the database did not answer in time
        )
}

pub(crate) fn err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(e) => StoreError::Unavailable(e.to_string()),
        sqlx::Error::Tls(e) => StoreError::Unavailable(format!("TLS: {e}")),
        sqlx::Error::PoolTimedOut => StoreError::Unavailable(
            "timed out waiting for a database connection (pool exhausted or database \
             unreachable)"
                .into(),
        ),
        sqlx::Error::PoolClosed => {
            StoreError::Unavailable("connection pool exhausted or closed".into())
        }
        sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable("the database connection's worker crashed".into())
        }
        sqlx::Error::Protocol(m) => StoreError::Unavailable(format!("protocol error: {m}")),
        sqlx::Error::Database(d) => {
            let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
            let message = d.message().to_owned();
            if d.is_unique_violation() {
                StoreError::Conflict(message)
            } else if code == "40001" || code == "40P01" {
                StoreError::Conflict(format!("{message}; retry"))
            } else if unavailable_code(&code) {
                StoreError::Unavailable(format!("{message} (SQLSTATE {code})"))
            } else {
                StoreError::Backend(format!("{message} (SQLSTATE {code})"))
            }
        }
        sqlx::Error::Configuration(e) => StoreError::Unavailable(e.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// A column of `r`; a missing column or a value of another type is corrupt data.
pub(crate) fn col<'r, T>(r: &'r PgRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    r.try_get(name)
        .map_err(|e| StoreError::Corrupt(format!("column {name}: {e}")))
}

pub(crate) fn opt_millis(v: Option<i64>) -> StoreResult<Option<DateTime<Utc>>> {
    v.map(from_millis).transpose()
}

/// A stored count as `u64` (counts are never negative).
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`,
    /// with `sslmode`, `options[search_path]` and the other parameters libpq knows) with
    /// [`PgSettings::default`]. Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, &PgSettings::default()).await
    }

    /// Like [`connect`](Self::connect), with the pool sized and timed by `settings`.
    /// Fails as [`StoreError::Unavailable`] (naming the URL without its password) when
    /// the database cannot be reached, refuses the login, or runs with
    /// `synchronous_commit = off` (a webhook answered 2xx could then be lost); a TLS
    /// failure says so and what to check. Connections are named
    /// `application_name = switchboard` unless the URL (or `PGAPPNAME`) names them.
    pub async fn connect_with(url: &str, settings: &PgSettings) -> StoreResult<Self> {
        // sqlx's `verify-ca` builds its certificate verifier with rustls' process-wide
        // provider, which rustls cannot pick by itself when two are compiled in (ring
        // for sqlx, aws-lc-rs for reqwest): without one installed it panics. Ring is what
        // sqlx's connections use; an already installed provider is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let shown = redact(url);
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Unavailable(format!(
                "invalid PostgreSQL URL {shown}: {}",
                without(&e.to_string(), url)
            ))
        })?;
        // Named in pg_stat_activity unless the URL (or PGAPPNAME) names it otherwise.
        let options = match options.get_application_name() {
            Some(_) => options,
            None => options.application_name("switchboard"),
        };
        let mut pooled = options.clone();
        if let Some(t) = settings.statement_timeout {
            pooled = pooled.options([("statement_timeout", t.as_millis().to_string())]);
        }
        // One connection first, so that an unreachable server or a refused login fails
        // at once (the pool would retry until its acquire timeout), and to check what
        // the session's commits promise.
        let cannot = |e: sqlx::Error| {
            let tls = tls_problem(&e);
            match err(e) {
                StoreError::Unavailable(m) | StoreError::Backend(m) | StoreError::Conflict(m) => {
                    let m = without(&m, url);
                    StoreError::Unavailable(if tls {
                        format!(
                            "cannot connect to {shown}: TLS failed ({m}); check sslmode in the \
                             URL (and sslrootcert=/path/to/ca.pem for a private CA)"
                        )
                    } else {
                        format!("cannot connect to {shown}: {m}")
                    })
                }
                other => other,
            }
        };
        let mut first = sqlx::PgConnection::connect_with(&pooled)
            .await
            .map_err(cannot)?;
        let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
            .fetch_one(&mut first)
            .await
            .map_err(cannot)?;
        let _ = first.close().await;
        if sync == "off" {
            return Err(StoreError::Unavailable(format!(
                "{shown} runs with synchronous_commit = off, so a webhook answered 2xx could \
                 be lost in a crash; set it to on (or remote_write, remote_apply) for this \
                 database or role"
            )));
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(2))
            .min_connections(0)
            .acquire_timeout(settings.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(600)))
            .max_lifetime(Some(Duration::from_secs(3600)))
            .connect_lazy_with(pooled);
        let (events, jobs) = mpsc::channel(EVENT_QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for _ in 0..EVENT_WRITERS {
            tokio::spawn(writer::run(pool.clone(), jobs.clone()));
        }
        Ok(Self {
            pool,
            events,
            options,
        })
    }

    /// The underlying pool (tests and tools).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Hands an insert to the group-commit writers and waits for its commit.
    async fn enqueue_event(
        &self,
        event: &Event,
        routing: Option<&Routing>,
    ) -> StoreResult<InsertOutcome> {
        if self.pool.is_closed() {
            return Err(err(sqlx::Error::PoolClosed));
        }
        let (reply, answer) = oneshot::channel();
        let job = EventJob {
            row: EventRow::new(event, routing)?,
            reply,
        };
        self.events
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the event writers have stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the event writer stopped before committing".into())
        })?
    }
}

/// `message` with every password of `url` masked, in case a driver message quotes the
/// URL.
fn without(message: &str, url: &str) -> String {
    passwords(url)
        .iter()
        .fold(message.to_owned(), |m, p| m.replace(p.as_str(), "***"))
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        if self.events.is_closed() {
            return Err(StoreError::Unavailable(
                "the event writers have stopped, so no webhook can be stored; restart the \
                 server (its log says why they stopped)"
                    .into(),
            ));
        }
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    fn transfer(&self) -> &dyn store::transfer::Transfer {
        self
    }

    /// A feed over `LISTEN/NOTIFY` on a connection of its own (see the `notify` module);
    /// it ends when the store is closed.
    fn subscribe(&self) -> Option<store::ChangeFeed> {
        Some(notify::subscribe(self.options.clone(), self.pool.clone()))
    }

    async fn migrate(&self) -> StoreResult<usize> {
        if self.pool.is_closed() {
            return Err(err(sqlx::Error::PoolClosed));
        }
        // A connection of its own (a pool of one, closed afterwards): the migrator's
        // advisory lock is a session lock, and a failed run would leave it held by
        // whichever pooled connection ran it.
        let own = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .connect_with(self.options.clone())
            .await
            .map_err(err)?;
        let applied = async |pool: &PgPool| -> StoreResult<i64> {
            let exists: bool =
                sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_one(pool)
                    .await
                    .map_err(err)?;
            if !exists {
                return Ok(0);
            }
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(pool)
                .await
                .map_err(err)
        };
        // The migrator serialises instances with its own advisory lock; this one (per
        // schema, on the same connection) also covers the counts before and after, so
        // each instance reports only what it applied itself.
        let counted = async {
            sqlx::query(MIGRATE_LOCK).execute(&own).await.map_err(err)?;
            let before = applied(&own).await?;
            MIGRATOR
                .run(&own)
                .await
                .map_err(|e| StoreError::Migration(e.to_string()))?;
            Ok::<_, StoreError>((before, applied(&own).await?))
        }
        .await;
        own.close().await;
        let (before, after) = counted?;
        Ok((after - before).max(0) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_in_user_info_and_query() {
        let shown = redact("postgres://sb:s3cr%40t@db.internal:5432/switchboard?sslmode=require");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(
            shown.contains("sb:***@db.internal:5432/switchboard"),
            "{shown}"
        );
        assert!(shown.contains("sslmode=require"), "{shown}");
        let shown = redact("postgres://db/sb?user=sb&password=hunter2&sslmode=verify-full");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("password=***") || shown.contains("password=%2A%2A%2A"));
        assert_eq!(redact("postgres://db/sb"), "postgres://db/sb");
        assert_eq!(redact("not a url with pw"), "(an unparsable URL)");
    }

    #[test]
    fn without_masks_raw_and_decoded_passwords() {
        let url = "postgres://sb:p%40ss@db/x?password=other";
        assert_eq!(
            without("bad p%40ss, p@ss and other", url),
            "bad ***, *** and ***"
        );
        assert_eq!(without("nothing here", "postgres://db/x"), "nothing here");
    }

    #[test]
    fn sqlstates_map_to_what_the_caller_can_do() {
        for code in [
            "08006", "08001", "53300", "28P01", "57P01", "3D000", "57014",
        ] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["23505", "22021", "42P01", "40001"] {
            assert!(!unavailable_code(code), "{code}");
        }
        assert!(matches!(
            err(sqlx::Error::PoolClosed),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            err(sqlx::Error::PoolTimedOut),
            StoreError::Unavailable(_)
        ));
    }
}
