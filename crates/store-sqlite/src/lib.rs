//! SQLite implementation of the [`store`] traits.
//!
//! Opened in WAL mode with foreign keys on, a busy timeout, and `synchronous = FULL` so
//! that a commit survives power loss (an event answered 2xx must never be lost). Writes
//! that read-then-write (the audit chain) use `BEGIN IMMEDIATE`, which takes the write
//! lock up front, so concurrent processes on one file serialise instead of failing.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use store::{
    ApiKeyRecord, ApiKeyStore, AuditEntry, AuditRecord, AuditStore, Event, EventStore,
    GENESIS_HASH, InsertOutcome, IntegrationFlags, IntegrationStateStore, Routing, Scope,
    SealedSecret, SecretSlot, SecretStore, Store, StoreError, StoreResult, chain_hash, from_millis,
    to_millis,
};
use tokio::sync::{mpsc, oneshot};

mod connections;
mod deliveries;
mod writer;

use writer::{EventJob, EventRow};

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
/// [`writer`]) that commits whatever is queued in one transaction (group commit):
/// concurrent webhooks share one fsync, and none is acknowledged before its commit. The
/// thread ends when the last clone is dropped.
///
/// The delivery queue's own state changes (claim, renew, complete, fail, release) use a
/// second, small pool whose commits do not wait for an fsync (`synchronous = NORMAL`, WAL):
/// they survive a crash of the process, and what a power loss could undo (a claim or a
/// completion) is done again: delivery is at least once, and an event itself is always
/// committed with `synchronous = FULL`. The event writer and those queue writes take
/// [`SqliteStore::write_lock`] in turn, so that within a process they queue for the
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
    /// The temporary directory of a `sqlite::memory:` store.
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

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path`,
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
        let opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let queue_opts = if memory {
            opts.clone()
        } else {
            opts.clone().synchronous(SqliteSynchronous::Normal)
        };
        let events_sync = if memory { "OFF" } else { "FULL" };
        let path = opts.get_filename().to_owned();
        let pool = open_pool(8, opts).await?;
        let queue = open_pool(2, queue_opts).await?;
        let write_lock = std::sync::Arc::new(tokio::sync::Mutex::new(()));
        let (events, jobs) = mpsc::channel(EVENT_QUEUE);
        writer::spawn(&path, events_sync, write_lock.clone(), jobs)?;
        Ok(Self {
            pool,
            queue,
            write_lock,
            events,
            _scratch: scratch,
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

fn api_key_from_row(r: &SqliteRow) -> StoreResult<ApiKeyRecord> {
    let scope: String = r.get("scope");
    Ok(ApiKeyRecord {
        id: r.get("id"),
        name: r.get("name"),
        scope: Scope::parse(&scope)
            .ok_or_else(|| StoreError::Corrupt(format!("api key scope {scope:?}")))?,
        secret_hash: r.get("secret_hash"),
        created_at: from_millis(r.get("created_at"))?,
        last_used_at: opt_millis(r.get("last_used_at"))?,
        revoked_at: opt_millis(r.get("revoked_at"))?,
    })
}

fn secret_from_row(r: &SqliteRow) -> StoreResult<SealedSecret> {
    Ok(SealedSecret {
        slot: SecretSlot {
            owner: r.get("owner"),
            owner_id: r.get("owner_id"),
            name: r.get("name"),
        },
        key_id: r.get("key_id"),
        ciphertext: r.get("ciphertext"),
        version: r.get("version"),
        updated_at: from_millis(r.get("updated_at"))?,
    })
}

fn audit_from_row(r: &SqliteRow) -> StoreResult<AuditRecord> {
    let details: String = r.get("details");
    Ok(AuditRecord {
        seq: r.get("seq"),
        entry: AuditEntry {
            at: from_millis(r.get("at"))?,
            actor: r.get("actor"),
            action: r.get("action"),
            target: r.get("target"),
            details: serde_json::from_str(&details)
                .map_err(|e| StoreError::Corrupt(format!("audit details: {e}")))?,
        },
        prev_hash: r.get("prev_hash"),
        hash: r.get("hash"),
    })
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn insert_api_key(&self, k: &ApiKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, scope, secret_hash, created_at, last_used_at, revoked_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&k.id)
        .bind(&k.name)
        .bind(k.scope.as_str())
        .bind(&k.secret_hash)
        .bind(to_millis(k.created_at))
        .bind(k.last_used_at.map(to_millis))
        .bind(k.revoked_at.map(to_millis))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        sqlx::query("SELECT * FROM api_keys WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(api_key_from_row)
            .transpose()
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        sqlx::query("SELECT * FROM api_keys ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .iter()
            .map(api_key_from_row)
            .collect()
    }

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let r =
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(to_millis(at))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
            .bind(to_millis(at))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn count_active_api_keys(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        Ok(n as u64)
    }
}

/// Inserts or replaces a sealed secret, bumping its version; returns the new version.
/// Shared by `put_secret` and the connection writes that seal credentials in their own
/// transaction.
pub(crate) async fn upsert_secret(
    conn: &mut sqlx::SqliteConnection,
    s: &SecretSlot,
    key_id: &str,
    ct: &[u8],
    at: DateTime<Utc>,
) -> StoreResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO secrets (owner, owner_id, name, key_id, ciphertext, version, updated_at)
         VALUES (?, ?, ?, ?, ?, 1, ?)
         ON CONFLICT (owner, owner_id, name) DO UPDATE SET
           key_id = excluded.key_id, ciphertext = excluded.ciphertext,
           version = secrets.version + 1, updated_at = excluded.updated_at
         RETURNING version",
    )
    .bind(&s.owner)
    .bind(&s.owner_id)
    .bind(&s.name)
    .bind(key_id)
    .bind(ct)
    .bind(to_millis(at))
    .fetch_one(&mut *conn)
    .await
    .map_err(err)
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn put_secret(&self, s: &SecretSlot, key_id: &str, ct: &[u8]) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        upsert_secret(&mut conn, s, key_id, ct, store::now()).await
    }

    async fn get_secret(&self, s: &SecretSlot) -> StoreResult<Option<SealedSecret>> {
        sqlx::query("SELECT * FROM secrets WHERE owner = ? AND owner_id = ? AND name = ?")
            .bind(&s.owner)
            .bind(&s.owner_id)
            .bind(&s.name)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(secret_from_row)
            .transpose()
    }

    async fn delete_secret(&self, s: &SecretSlot) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM secrets WHERE owner = ? AND owner_id = ? AND name = ?")
            .bind(&s.owner)
            .bind(&s.owner_id)
            .bind(&s.name)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_secrets_of(&self, owner: &str, owner_id: &str) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM secrets WHERE owner = ? AND owner_id = ?")
            .bind(owner)
            .bind(owner_id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.rows_affected())
    }

    async fn secret_key_ids(&self) -> StoreResult<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT key_id, COUNT(*) FROM secrets GROUP BY key_id ORDER BY key_id")
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        Ok(rows.into_iter().map(|(k, n)| (k, n as u64)).collect())
    }

    async fn count_secrets_not_under(&self, key_id: &str) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secrets WHERE key_id <> ?")
            .bind(key_id)
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        Ok(n as u64)
    }

    async fn secrets_not_under(
        &self,
        key_id: &str,
        after: Option<&SecretSlot>,
        limit: u32,
    ) -> StoreResult<Vec<SealedSecret>> {
        let rows = match after {
            None => {
                sqlx::query(
                    "SELECT * FROM secrets WHERE key_id <> ?
                 ORDER BY owner, owner_id, name LIMIT ?",
                )
                .bind(key_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
            }
            Some(a) => sqlx::query(
                "SELECT * FROM secrets WHERE key_id <> ? AND (owner, owner_id, name) > (?, ?, ?)
                 ORDER BY owner, owner_id, name LIMIT ?",
            )
            .bind(key_id)
            .bind(&a.owner)
            .bind(&a.owner_id)
            .bind(&a.name)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await,
        }
        .map_err(err)?;
        rows.iter().map(secret_from_row).collect()
    }

    async fn replace_secret_if(
        &self,
        s: &SecretSlot,
        expected_version: i64,
        key_id: &str,
        ct: &[u8],
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE secrets SET key_id = ?, ciphertext = ?, version = version + 1, updated_at = ?
             WHERE owner = ? AND owner_id = ? AND name = ? AND version = ?",
        )
        .bind(key_id)
        .bind(ct)
        .bind(to_millis(store::now()))
        .bind(&s.owner)
        .bind(&s.owner_id)
        .bind(&s.name)
        .bind(expected_version)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<AuditRecord> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?;
        let (prev_seq, prev_hash) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
        let seq = prev_seq + 1;
        let hash = chain_hash(&prev_hash, seq, entry);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(to_millis(entry.at))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(entry.details.to_string())
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(seq)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        let mut stored = entry.clone();
        stored.at = from_millis(to_millis(entry.at))?;
        Ok(AuditRecord {
            seq,
            entry: stored,
            prev_hash,
            hash,
        })
    }

    async fn list_audit_desc(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        sqlx::query("SELECT * FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?")
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    async fn list_audit_asc(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        sqlx::query("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq ASC LIMIT ?")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>> {
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(err)
    }
}

/// A copy of an error, to answer every insert of a failed batch.
pub(crate) fn event_from_row(r: &SqliteRow) -> StoreResult<Event> {
    let headers: String = r.get("headers");
    Ok(Event {
        id: r.get("id"),
        integration: r.get("integration"),
        received_at: from_millis(r.get("received_at"))?,
        provider_event_id: r.get("provider_event_id"),
        event_type: r.get("event_type"),
        scheme: r.get("scheme"),
        headers: serde_json::from_str(&headers)
            .map_err(|e| StoreError::Corrupt(format!("event headers: {e}")))?,
        body: r.get("body"),
        connection_id: r.get("connection_id"),
        routing_key: r.get("routing_key"),
    })
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn insert_event(&self, event: &Event) -> StoreResult<InsertOutcome> {
        self.enqueue_event(event, None).await
    }

    async fn insert_routed_event(
        &self,
        event: &Event,
        routing: &Routing,
    ) -> StoreResult<InsertOutcome> {
        if routing.event_id != event.id {
            return Err(StoreError::Backend(format!(
                "routing of {} given with event {}",
                routing.event_id, event.id
            )));
        }
        self.enqueue_event(event, Some(routing)).await
    }

    async fn get_event(&self, id: &str) -> StoreResult<Option<Event>> {
        sqlx::query("SELECT * FROM events WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(event_from_row)
            .transpose()
    }

    async fn list_events(
        &self,
        integration: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let limit = i64::from(limit);
        let rows = match (integration, before) {
            (None, None) => {
                sqlx::query("SELECT * FROM events ORDER BY id DESC LIMIT ?")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            (None, Some(b)) => {
                sqlx::query("SELECT * FROM events WHERE id < ? ORDER BY id DESC LIMIT ?")
                    .bind(b)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            (Some(i), None) => {
                sqlx::query("SELECT * FROM events WHERE integration = ? ORDER BY id DESC LIMIT ?")
                    .bind(i)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            (Some(i), Some(b)) => {
                sqlx::query(
                    "SELECT * FROM events WHERE integration = ? AND id < ?
                     ORDER BY id DESC LIMIT ?",
                )
                .bind(i)
                .bind(b)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(err)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn count_events(&self, integration: Option<&str>) -> StoreResult<u64> {
        let n: i64 = match integration {
            None => {
                sqlx::query_scalar("SELECT COUNT(*) FROM events")
                    .fetch_one(&self.pool)
                    .await
            }
            Some(i) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE integration = ?")
                    .bind(i)
                    .fetch_one(&self.pool)
                    .await
            }
        }
        .map_err(err)?;
        Ok(n as u64)
    }
}

/// One boolean column of `integration_state`, with its statements (sqlx takes only
/// static SQL, so each flag spells its own).
#[derive(Clone, Copy)]
enum StateFlag {
    Blocked,
    Disabled,
}

impl StateFlag {
    /// Sets the flag; the WHERE makes an unchanged row count as no change.
    fn set_sql(self) -> &'static str {
        match self {
            StateFlag::Blocked => {
                "INSERT INTO integration_state (integration, blocked, updated_at) VALUES (?, 1, ?)
                 ON CONFLICT (integration) DO UPDATE SET
                   blocked = 1, updated_at = excluded.updated_at
                 WHERE integration_state.blocked = 0"
            }
            StateFlag::Disabled => {
                "INSERT INTO integration_state (integration, disabled, updated_at) VALUES (?, 1, ?)
                 ON CONFLICT (integration) DO UPDATE SET
                   disabled = 1, updated_at = excluded.updated_at
                 WHERE integration_state.disabled = 0"
            }
        }
    }

    /// Clears the flag; no row means not set, so clearing then changes nothing.
    fn clear_sql(self) -> &'static str {
        match self {
            StateFlag::Blocked => {
                "UPDATE integration_state SET blocked = 0, updated_at = ? WHERE integration = ? AND blocked = 1"
            }
            StateFlag::Disabled => {
                "UPDATE integration_state SET disabled = 0, updated_at = ? WHERE integration = ? AND disabled = 1"
            }
        }
    }

    fn list_sql(self) -> &'static str {
        match self {
            StateFlag::Blocked => {
                "SELECT integration FROM integration_state WHERE blocked = 1 ORDER BY integration"
            }
            StateFlag::Disabled => {
                "SELECT integration FROM integration_state WHERE disabled = 1 ORDER BY integration"
            }
        }
    }
}

impl SqliteStore {
    async fn set_flag(
        &self,
        flag: StateFlag,
        integration: &str,
        on: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let r = if on {
            sqlx::query(flag.set_sql())
                .bind(integration)
                .bind(to_millis(at))
                .execute(&self.pool)
                .await
        } else {
            sqlx::query(flag.clear_sql())
                .bind(to_millis(at))
                .bind(integration)
                .execute(&self.pool)
                .await
        }
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn flagged(&self, flag: StateFlag) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(flag.list_sql())
            .fetch_all(&self.pool)
            .await
            .map_err(err)
    }
}

#[async_trait]
impl IntegrationStateStore for SqliteStore {
    async fn set_integration_blocked(
        &self,
        integration: &str,
        blocked: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.set_flag(StateFlag::Blocked, integration, blocked, at)
            .await
    }

    async fn integration_flags(&self, integration: &str) -> StoreResult<IntegrationFlags> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT blocked, disabled FROM integration_state WHERE integration = ?")
                .bind(integration)
                .fetch_optional(&self.pool)
                .await
                .map_err(err)?;
        Ok(
            row.map_or_else(IntegrationFlags::default, |(b, d)| IntegrationFlags {
                blocked: b == 1,
                disabled: d == 1,
            }),
        )
    }

    async fn blocked_integrations(&self) -> StoreResult<Vec<String>> {
        self.flagged(StateFlag::Blocked).await
    }

    async fn set_integration_disabled(
        &self,
        integration: &str,
        disabled: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.set_flag(StateFlag::Disabled, integration, disabled, at)
            .await
    }

    async fn disabled_integrations(&self) -> StoreResult<Vec<String>> {
        self.flagged(StateFlag::Disabled).await
    }
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
mod tests_connections;

#[cfg(test)]
mod tests_deliveries;

#[cfg(test)]
mod tests_routed;
