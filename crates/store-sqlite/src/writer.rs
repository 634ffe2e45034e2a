//! The group-commit event writer: one OS thread with its own SQLite connection.
//!
//! Every received webhook is committed here before it is acknowledged. The thread takes
//! the first queued insert, drains whatever else is queued (up to [`EVENT_BATCH`]),
//! commits them in one `BEGIN IMMEDIATE` transaction (one fsync for all), then answers
//! each. It drives SQLite directly (rusqlite, on the same `libsqlite3-sys` as sqlx):
//! one prepared single-row INSERT per event, no thread hop per statement and no SQL
//! built per batch. Against sqlx's worker thread running one multi-row statement per
//! batch, a batch went from 741 µs (13.4 events) to about 300 µs (11.4 events), and
//! intake from 20.8k to 36.7k webhooks/s (BENCHMARKS.md, session 4).
//!
//! Everything that can be done before the writer's turn (headers to JSON, the routing
//! columns) is done by the caller in [`EventRow::new`], so the one serial stage of
//! intake does only SQLite's own work.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use store::{EventRow, InsertOutcome, StoreError, StoreResult};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{BUSY_TIMEOUT, EVENT_BATCH};

/// An insert and where to send its outcome once its transaction has committed.
#[derive(Debug)]
pub(crate) struct EventJob {
    pub(crate) row: EventRow,
    pub(crate) reply: oneshot::Sender<StoreResult<InsertOutcome>>,
}

/// Opens the writer's connection to the database file at `path` (WAL, foreign keys,
/// busy timeout, `synchronous` as given) and starts the writer thread. The thread ends,
/// closing its connection, when every sender of `jobs` is gone. Returns the
/// `synchronous` level that connection reports (0 OFF, 1 NORMAL, 2 FULL), read back from
/// the very connection the thread then commits every event on.
pub(crate) fn spawn(
    path: &Path,
    synchronous: &str,
    write_lock: Arc<Mutex<()>>,
    jobs: mpsc::Receiver<EventJob>,
) -> StoreResult<i64> {
    let cannot_open = |e: rusqlite::Error| {
        StoreError::Unavailable(format!(
            "cannot open {} for the event writer: {e}",
            path.display()
        ))
    };
    let conn = open(path, synchronous).map_err(cannot_open)?;
    let level: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(cannot_open)?;
    std::thread::Builder::new()
        .name("sb-event-writer".into())
        .spawn(move || run(conn, &write_lock, jobs))
        .map_err(|e| StoreError::Unavailable(format!("cannot start the event writer: {e}")))?;
    Ok(level)
}

fn open(path: &Path, synchronous: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // The mode is the database file's, set by the pool's first connection; reading it
    // back only checks that the file is a database.
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // As the pools: freed content is zeroed (an erasure must leave no trace).
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(conn)
}

fn run(mut conn: Connection, write_lock: &Mutex<()>, mut jobs: mpsc::Receiver<EventJob>) {
    let mut batch: Vec<EventJob> = Vec::with_capacity(EVENT_BATCH);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < EVENT_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let written = {
            let _turn = write_lock.blocking_lock();
            write_batch(&mut conn, &batch)
        };
        match written {
            Ok(outcomes) => {
                for (job, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = job.reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, events = batch.len(), "event batch not committed");
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// An event's INSERT. Its connection is the one given, else the only connection of the
/// integration whose routing key is the event's.
const INSERT_EVENT: &str = "INSERT INTO events (id, integration, received_at, provider_event_id,
        event_type, scheme, headers, body, connection_id, routing_key, routed_at,
        mapping_status, mapped_type, mapped_data, mapping_error)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
        COALESCE(?9, (SELECT CASE WHEN COUNT(*) = 1 THEN MIN(c.id) END
                      FROM connections c WHERE c.integration = ?2 AND c.routing_key = ?10)),
        ?10, ?11, ?12, ?13, ?14, ?15)
     ON CONFLICT (integration, provider_event_id) WHERE provider_event_id IS NOT NULL
     DO NOTHING";

const DUPLICATE_OF: &str =
    "SELECT id FROM events WHERE integration = ?1 AND provider_event_id = ?2";

/// A delivery of an event inserted by the same transaction; an existing delivery of the
/// same (event, destination) is kept.
const INSERT_DELIVERY: &str = "INSERT INTO deliveries
        (id, event_id, destination, status, next_attempt_at, created_at)
     VALUES (?1, ?2, ?3, 'pending', ?4, ?4)
     ON CONFLICT (event_id, destination) DO NOTHING";

/// Inserts a batch in one `BEGIN IMMEDIATE` transaction. `Err` means nothing was
/// committed; `Ok` holds one outcome per event, in order, all committed. An event that
/// breaks a constraint (its id already exists) gets its own error without failing the
/// others: SQLite undoes only the failing statement.
fn write_batch(
    conn: &mut Connection,
    batch: &[EventJob],
) -> StoreResult<Vec<StoreResult<InsertOutcome>>> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    {
        let mut insert = tx.prepare_cached(INSERT_EVENT).map_err(err)?;
        for job in batch {
            let outcome = if job.row.deliveries.is_empty() {
                insert_event(&tx, &mut insert, &job.row)?
            } else {
                // The event and its deliveries stand or fall together.
                tx.execute_batch("SAVEPOINT event").map_err(err)?;
                let mut outcome = insert_event(&tx, &mut insert, &job.row)?;
                if matches!(outcome, Ok(InsertOutcome::Inserted))
                    && let Err(e) = insert_deliveries(&tx, &job.row)?
                {
                    tx.execute_batch("ROLLBACK TO event").map_err(err)?;
                    outcome = Err(e);
                }
                tx.execute_batch("RELEASE event").map_err(err)?;
                outcome
            };
            outcomes.push(outcome);
        }
    }
    tx.commit().map_err(err)?;
    Ok(outcomes)
}

/// One event's INSERT: `Ok(outcome)` for what happened to it (inserted, a duplicate, or
/// its own constraint error); `Err` for a failure that ends the batch.
fn insert_event(
    tx: &rusqlite::Transaction<'_>,
    insert: &mut rusqlite::CachedStatement<'_>,
    r: &EventRow,
) -> StoreResult<StoreResult<InsertOutcome>> {
    let inserted = insert.execute(params![
        r.id,
        r.integration,
        r.received_at,
        r.provider_event_id,
        r.event_type,
        r.scheme,
        r.headers,
        r.body,
        r.connection_id,
        r.routing_key,
        r.routed_at,
        r.mapping_status,
        r.mapped_type,
        r.mapped_data,
        r.mapping_error,
    ]);
    match inserted {
        Ok(1) => Ok(Ok(InsertOutcome::Inserted)),
        // DO NOTHING: the provider event id is stored already (perhaps by this batch).
        Ok(_) => duplicate_of(tx, r),
        Err(e) if is_constraint(&e) => Ok(Err(constraint_error(&e, r))),
        Err(e) => Err(err(e)),
    }
}

fn duplicate_of(
    tx: &rusqlite::Transaction<'_>,
    r: &EventRow,
) -> StoreResult<StoreResult<InsertOutcome>> {
    let existing: Option<String> = tx
        .prepare_cached(DUPLICATE_OF)
        .and_then(|mut q| {
            q.query_row(params![r.integration, r.provider_event_id], |row| {
                row.get(0)
            })
            .optional()
        })
        .map_err(err)?;
    Ok(match existing {
        Some(existing_id) => Ok(InsertOutcome::Duplicate { existing_id }),
        None => Err(StoreError::Backend(format!(
            "event {} was neither inserted nor found as a duplicate",
            r.id
        ))),
    })
}

/// An inserted event's deliveries: like [`insert_event`], `Ok(Err)` for a constraint the
/// event's own data breaks, `Err` for a failure that ends the batch.
fn insert_deliveries(tx: &rusqlite::Transaction<'_>, r: &EventRow) -> StoreResult<StoreResult<()>> {
    let mut insert = tx.prepare_cached(INSERT_DELIVERY).map_err(err)?;
    for (id, destination) in &r.deliveries {
        match insert.execute(params![id, r.id, destination, r.received_at]) {
            Ok(_) => {}
            Err(e) if is_constraint(&e) => {
                return Ok(Err(StoreError::Conflict(format!(
                    "delivery {id} of event {}: {e}",
                    r.id
                ))));
            }
            Err(e) => return Err(err(e)),
        }
    }
    Ok(Ok(()))
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation)
}

fn constraint_error(e: &rusqlite::Error, r: &EventRow) -> StoreError {
    let extended = match e {
        rusqlite::Error::SqliteFailure(f, _) => f.extended_code,
        _ => 0,
    };
    if extended == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        || extended == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    {
        StoreError::Conflict(format!("an event with id {} already exists", r.id))
    } else {
        StoreError::Backend(format!("event {} breaks a constraint: {e}", r.id))
    }
}

/// What a SQLite error means for the caller (the same wording as the pool's errors).
fn err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(format!(
                "database is locked ({e}); another process holds the write lock"
            ))
        }
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::DiskFull) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Backend(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::ffi;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some("detail".into()))
    }

    #[test]
    fn a_locked_or_unopenable_database_reads_as_unavailable_and_says_why() {
        for code in [ffi::SQLITE_BUSY, ffi::SQLITE_LOCKED] {
            let e = err(failure(code));
            assert!(
                matches!(&e, StoreError::Unavailable(m) if m.contains("another process holds the write lock")),
                "{e:?}"
            );
        }
        for code in [ffi::SQLITE_CANTOPEN, ffi::SQLITE_FULL] {
            assert!(matches!(err(failure(code)), StoreError::Unavailable(_)));
        }
        assert!(matches!(
            err(failure(ffi::SQLITE_CORRUPT)),
            StoreError::Backend(_)
        ));
    }

    #[test]
    fn constraint_errors_name_the_event() {
        let row = EventRow {
            id: "evt_1".into(),
            integration: "gh".into(),
            received_at: 0,
            provider_event_id: None,
            event_type: None,
            scheme: "github".into(),
            headers: "[]".into(),
            body: vec![],
            connection_id: None,
            routing_key: None,
            routed_at: None,
            mapping_status: None,
            mapped_type: None,
            mapped_data: None,
            mapping_error: None,
            deliveries: vec![],
        };
        for code in [
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY,
            ffi::SQLITE_CONSTRAINT_UNIQUE,
        ] {
            let e = failure(code);
            assert!(is_constraint(&e));
            assert!(
                matches!(constraint_error(&e, &row), StoreError::Conflict(m) if m.contains("evt_1"))
            );
        }
        let e = failure(ffi::SQLITE_CONSTRAINT_NOTNULL);
        assert!(
            matches!(constraint_error(&e, &row), StoreError::Backend(m) if m.contains("evt_1"))
        );
        assert!(!is_constraint(&rusqlite::Error::QueryReturnedNoRows));
        assert!(matches!(
            constraint_error(&rusqlite::Error::QueryReturnedNoRows, &row),
            StoreError::Backend(_)
        ));
    }

    #[test]
    fn a_database_that_cannot_be_opened_is_unavailable() {
        let (_tx, jobs) = mpsc::channel(1);
        let e = spawn(
            Path::new("/nonexistent-dir/switchboard.db"),
            "FULL",
            Arc::new(Mutex::new(())),
            jobs,
        )
        .unwrap_err();
        assert!(
            matches!(&e, StoreError::Unavailable(m) if m.contains("/nonexistent-dir")),
            "{e:?}"
        );
    }
}
