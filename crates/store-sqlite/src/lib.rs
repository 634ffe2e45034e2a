//! SQLite implementation of the [`store`] traits.
//!
//! Opened in WAL mode with foreign keys on, a busy timeout, and `synchronous = FULL` so
//! that a commit survives power loss (an event answered 2xx must never be lost). Writes
//! that read-then-write (the audit chain) use `BEGIN IMMEDIATE`, which takes the write
//! lock up front, so concurrent processes on one file serialise instead of failing.
//!
//! One module per trait (`api_keys`, `secrets`, `audit`, `events`, `integration_state`,
//! `connections`, `deliveries`), the group-commit event writer (`writer`) and the row
//! access of `switchboard db copy` (`transfer`); this file
//! holds the store type, how it is opened, and the helpers the modules share. What every
//! backend must do is tested by the `store-tests` suite (`tests/suite.rs` runs it whole);
//! `src/tests*.rs` test only what is SQLite's own (settings, files, the memory store,
//! the writer, the schema's checks, corrupt rows).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use store::{Event, InsertOutcome, Routing, Store, StoreError, StoreResult, from_millis};
use tokio::sync::{mpsc, oneshot};

mod api_keys;
mod audit;
mod connections;
mod console;
mod deliveries;
mod events;
mod instances;
mod integration_state;
mod privacy;
mod secrets;
mod status;
mod transfer;
mod writer;

use store::EventRow;
use writer::EventJob;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long a writer waits for the database lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How many event inserts may wait for the writer before callers wait to enqueue.
pub const EVENT_QUEUE: usize = 1024;

/// The most event inserts committed in one transaction.
pub const EVENT_BATCH: usize = 256;

/// A SQLite-backed store.
///
/// Event inserts go through one writer thread per store (shared by its clones, see
/// `writer`) that commits whatever is queued in one transaction (group commit):
/// concurrent webhooks share one fsync, and none is acknowledged before its commit. The
/// thread ends when the last clone is dropped.
///
/// The delivery queue's own state changes (claim, renew, complete, fail, release) use a
/// second, small pool whose commits do not wait for an fsync (`synchronous = NORMAL`, WAL):
/// they survive a crash of the process, and what a power loss could undo (a claim or a
/// completion) is done again: delivery is at least once, and an event itself is always
/// committed with `synchronous = FULL`. The event writer and those queue writes take
/// `SqliteStore::write_lock` in turn, so that within a process they queue for the
/// database's single write lock instead of sleeping in SQLite's busy handler.
///
/// `sqlite::memory:` opens a private database in a temporary directory, removed when the
/// last clone is dropped: the writer thread and the pools need one file to share, and it
/// behaves exactly as a database on disk does, without the fsyncs.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    queue: SqlitePool,
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    events: mpsc::Sender<EventJob>,
    /// What the store was opened with, to open it again ([`SqliteStore::open_again`]).
    opened: Opened,
    /// The `synchronous` level the event writer's own connection reports (0 OFF … 2 FULL);
    /// `open` refuses a level other than the one it asked for, tests read it.
    #[cfg_attr(not(test), allow(dead_code))]
    writer_synchronous: i64,
}

/// How a store was opened.
#[derive(Debug, Clone)]
struct Opened {
    /// The pool connections' options before the settings every store adds.
    options: SqliteConnectOptions,
    /// A `sqlite::memory:` store (nothing waits for an fsync).
    memory: bool,
    /// The temporary directory of a `sqlite::memory:` store, removed with the last handle.
    _scratch: Option<std::sync::Arc<tempfile::TempDir>>,
}

pub(crate) fn err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Io(e) => StoreError::Unavailable(e.to_string()),
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::Unavailable("connection pool exhausted or closed".into())
        }
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_owned())
        }
        sqlx::Error::Database(d) => {
            // Extended result codes carry the primary code in the low byte.
            let primary = d
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .map(|c| c & 0xff);
            match primary {
                // SQLITE_BUSY / SQLITE_LOCKED
                Some(5) | Some(6) => StoreError::Unavailable(format!(
                    "database is locked ({}); another process holds the write lock",
                    d.message()
                )),
                // SQLITE_CANTOPEN
                Some(14) => StoreError::Unavailable(d.message().to_owned()),
                _ => StoreError::Backend(d.message().to_owned()),
            }
        }
        sqlx::Error::Configuration(e) => StoreError::Unavailable(e.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

/// Creates the database file, empty and readable by its owner only (mode 0600), if it
/// does not exist: SQLite gives its `-wal` and `-shm` files the database file's mode, so
/// none of them is readable by other users whatever the umask. An existing file is left
/// as it is.
fn create_private(path: &std::path::Path) -> StoreResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot create the database file {}: {e}; check that its directory exists and \
             this user may write there",
            path.display()
        ))),
    }
}

impl SqliteStore {
    /// Opens (creating if missing, with mode 0600) the database at `url` (`sqlite://path`,
    /// `sqlite:path`, `sqlite::memory:`). Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        let (opts, scratch) = if memory {
            let dir = tempfile::Builder::new()
                .prefix("switchboard-memory-")
                .tempdir()
                .map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot create a temporary directory for {url}: {e}; set TMPDIR to a \
                         writable directory"
                    ))
                })?;
            let opts = SqliteConnectOptions::new()
                .filename(dir.path().join("switchboard.db"))
                // Nothing of a scratch database has to survive a power loss.
                .synchronous(SqliteSynchronous::Off);
            (opts, Some(std::sync::Arc::new(dir)))
        } else {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Unavailable(format!("invalid SQLite URL {url:?}: {e}")))?
                .synchronous(SqliteSynchronous::Full);
            (opts, None)
        };
        Self::open(Opened {
            options: opts,
            memory,
            _scratch: scratch,
        })
        .await
    }

    /// Opens a second, independent handle on this store's database (its own pools and
    /// event writer), as another process would: what holds across processes (one lease
    /// winner, exclusive claims) is tested with it. Works for `sqlite::memory:` too,
    /// whose temporary directory then lives until the last handle of either is dropped.
    pub async fn open_again(&self) -> StoreResult<Self> {
        Self::open(self.opened.clone()).await
    }

    async fn open(opened: Opened) -> StoreResult<Self> {
        let memory = opened.memory;
        let opts = opened
            .options
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Deleted content is overwritten with zeros, so that an erasure leaves no
            // trace in the file (the WAL is checkpointed after it).
            .pragma("secure_delete", "ON");
        let queue_opts = if memory {
            opts.clone()
        } else {
            opts.clone().synchronous(SqliteSynchronous::Normal)
        };
        let (events_sync, events_level) = if memory { ("OFF", 0) } else { ("FULL", 2) };
        let path = opts.get_filename().to_owned();
        if !memory {
            create_private(&path)?;
        }
        let pool = open_pool(8, opts).await?;
        let queue = open_pool(2, queue_opts).await?;
        let write_lock = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        let (events, jobs) = mpsc::channel(EVENT_QUEUE);
        let writer_synchronous = writer::spawn(&path, events_sync, write_lock.clone(), jobs)?;
        if writer_synchronous != events_level {
            return Err(StoreError::Unavailable(format!(
                "the event writer's connection to {} runs synchronous = {writer_synchronous}, \
                 not {events_sync}; check that the file is a SQLite database this build can \
                 write",
                path.display()
            )));
        }
        Ok(Self {
            pool,
            queue,
            write_lock,
            events,
            opened,
            writer_synchronous,
        })
    }

    /// Taken by every write on the intake and delivery hot paths (see the type's doc).
    pub(crate) async fn write_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().await
    }

    /// The pool of the delivery queue's state changes (`synchronous = NORMAL`).
    pub(crate) fn queue_pool(&self) -> &SqlitePool {
        &self.queue
    }

    /// The underlying pool (tests and tools).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Hands an insert to the group-commit writer and waits for its commit.
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
            .map_err(|_| StoreError::Unavailable("the event writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the event writer stopped before committing".into())
        })?
    }
}

/// A pool of up to `max` connections opened with `opts`.
async fn open_pool(max: u32, opts: SqliteConnectOptions) -> StoreResult<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .idle_timeout(Some(Duration::from_secs(600)))
        .max_lifetime(Some(Duration::from_secs(3600)))
        .acquire_timeout(Duration::from_secs(15))
        // A local file does not drop connections; a ping before every acquire cost two
        // thread hops per query.
        .test_before_acquire(false)
        .connect_with(opts)
        .await
        .map_err(err)
}

pub(crate) fn opt_millis(v: Option<i64>) -> StoreResult<Option<DateTime<Utc>>> {
    v.map(from_millis).transpose()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        // Without its writer the store cannot take a webhook: not ready.
        if self.events.is_closed() {
            return Err(StoreError::Unavailable(
                "the event writer has stopped, so no webhook can be stored; restart the \
                 server (its log says why the writer stopped)"
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
        self.queue.close().await;
    }

    fn transfer(&self) -> &dyn store::transfer::Transfer {
        self
    }

    /// `None`: SQLite cannot tell one process what another committed. Processes sharing
    /// a database file learn of each other's changes by polling: caches when their
    /// entries expire (`api_key_cache_secs`, one second for the proxy's credentials and
    /// the integration switches), the delivery worker within its poll interval.
    fn subscribe(&self) -> Option<store::ChangeFeed> {
        None
    }

    async fn migrate(&self) -> StoreResult<usize> {
        let applied = |pool: SqlitePool| async move {
            let exists: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_one(&pool)
            .await
            .map_err(err)?;
            if exists == 0 {
                return Ok::<i64, StoreError>(0);
            }
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&pool)
                .await
                .map_err(err)
        };
        let before = applied(self.pool.clone()).await?;
        // sqlx's SQLite migrator takes no lock: when several processes migrate a fresh
        // file at once, the loser's migration transaction fails and rolls back. Running
        // again then finds it applied, so retry a few times before giving up.
        let mut attempt = 0;
        loop {
            match MIGRATOR.run(&self.pool).await {
                Ok(()) => break,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "migration raced another process; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => return Err(StoreError::Migration(e.to_string())),
            }
        }
        let after = applied(self.pool.clone()).await?;
        Ok((after - before).max(0) as usize)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_rows;

#[cfg(test)]
mod tests_transfer;

#[cfg(test)]
mod tests_writer;
