//! The group-commit event writers.
//!
//! Every received webhook is committed here before it is acknowledged. Each of the
//! store's [`EVENT_WRITERS`](crate::EVENT_WRITERS) tasks takes the first queued insert,
//! drains whatever else is queued (up to [`EVENT_BATCH`]) and writes the batch with ONE
//! statement ([`INSERT_BATCH`]): the events from `UNNEST` arrays with `ON CONFLICT DO
//! NOTHING RETURNING id`, and, in a data-modifying CTE of the same statement, the
//! deliveries of the routed events that were inserted. One statement is one implicit
//! transaction: one round trip, one WAL flush, all or nothing. Then it answers each
//! caller.
//!
//! An event that the batch did not insert is a duplicate (an event of its integration
//! has its provider event id, found by [`DUPLICATE_OF`]) or has an id that exists
//! (a conflict). When the statement fails because of one event's data (a delivery id
//! used twice, a NUL byte in a text field), nothing of the batch was written, and the
//! writer inserts the batch again event by event, so that only that event gets the
//! error. A deadlock between instances inserting the same provider ids is retried; the
//! batch is inserted in (integration, provider event id) order to make one unlikely.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::PgPool;
use store::{EventRow, InsertOutcome, StoreError, StoreResult};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{EVENT_BATCH, err};

/// An insert and where to send its outcome once its statement has committed.
#[derive(Debug)]
pub(crate) struct EventJob {
    pub(crate) row: EventRow,
    pub(crate) reply: oneshot::Sender<StoreResult<InsertOutcome>>,
}

/// One writer: takes batches from the shared queue until every sender is gone.
pub(crate) async fn run(pool: PgPool, jobs: Arc<Mutex<mpsc::Receiver<EventJob>>>) {
    let mut batch: Vec<EventJob> = Vec::with_capacity(EVENT_BATCH);
    loop {
        {
            let mut queue = jobs.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < EVENT_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        let outcomes = write_batch(&pool, &batch).await;
        for (job, outcome) in batch.drain(..).zip(outcomes) {
            let _ = job.reply.send(outcome);
        }
    }
}

/// The batch's INSERT. An event's connection is the one given, else the only connection
/// of the integration whose routing key is the event's. Deliveries are written only
/// for events this statement inserted.
const INSERT_BATCH: &str = "WITH input AS (
        SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[],
                             $6::text[], $7::text[], $8::bytea[], $9::text[], $10::text[],
                             $11::int8[], $12::text[], $13::text[], $14::text[], $15::text[])
            WITH ORDINALITY AS i(id, integration, received_at, provider_event_id, event_type,
                                 scheme, headers, body, connection_id, routing_key, routed_at,
                                 mapping_status, mapped_type, mapped_data, mapping_error, n)
     ), inserted AS (
        INSERT INTO events (id, integration, received_at, provider_event_id, event_type,
            scheme, headers, body, connection_id, routing_key, routed_at, mapping_status,
            mapped_type, mapped_data, mapping_error)
        SELECT i.id, i.integration, i.received_at, i.provider_event_id, i.event_type,
            i.scheme, i.headers, i.body,
            COALESCE(i.connection_id,
                (SELECT CASE WHEN COUNT(*) = 1 THEN MIN(c.id) END FROM connections c
                 WHERE c.integration = i.integration AND c.routing_key = i.routing_key)),
            i.routing_key, i.routed_at, i.mapping_status, i.mapped_type, i.mapped_data,
            i.mapping_error
        FROM input i ORDER BY i.n
        ON CONFLICT DO NOTHING
        RETURNING id
     ), enqueued AS (
        INSERT INTO deliveries (id, event_id, destination, status, next_attempt_at, created_at)
        SELECT d.id, d.event_id, d.destination, 'pending', d.due, d.due
        FROM UNNEST($16::text[], $17::text[], $18::text[], $19::int8[])
            WITH ORDINALITY AS d(id, event_id, destination, due, n)
        WHERE d.event_id IN (SELECT id FROM inserted)
        ORDER BY d.n
        ON CONFLICT (event_id, destination) DO NOTHING
     )
     SELECT id FROM inserted";

/// The stored events that the given (integration, provider event id) pairs duplicate,
/// by the pair's position (from 1).
const DUPLICATE_OF: &str = "SELECT i.n, e.id
     FROM UNNEST($1::text[], $2::text[]) WITH ORDINALITY AS i(integration, pid, n)
     JOIN events e ON e.integration = i.integration AND e.provider_event_id = i.pid";

/// How often a batch that deadlocked with another instance's is tried again.
const DEADLOCK_RETRIES: usize = 3;

/// Writes a batch; one outcome per job, in order, each committed when `Ok`.
async fn write_batch(pool: &PgPool, batch: &[EventJob]) -> Vec<StoreResult<InsertOutcome>> {
    let mut order: Vec<&EventRow> = batch.iter().map(|j| &j.row).collect();
    // Every writer inserts in one key order, so that two batches with the same provider
    // ids wait for each other instead of deadlocking (stable: arrival order within a key).
    order.sort_by(|a, b| {
        (&a.integration, &a.provider_event_id).cmp(&(&b.integration, &b.provider_event_id))
    });
    let distinct_ids = order.iter().map(|r| r.id.as_str()).collect::<HashSet<_>>();
    if distinct_ids.len() == order.len() {
        match insert_rows(pool, &order).await {
            Ok(inserted) => {
                let rows: Vec<&EventRow> = batch.iter().map(|j| &j.row).collect();
                return match resolve(pool, &rows, &inserted).await {
                    Ok(outcomes) => outcomes,
                    Err(e) => batch.iter().map(|_| Err(e.clone())).collect(),
                };
            }
            Err(e) if is_data_error(&e) => {
                tracing::debug!(error = %e, "an event of the batch breaks a constraint; writing one by one");
            }
            Err(e) => {
                let e = err(e);
                tracing::warn!(error = %e, events = batch.len(), "event batch not committed");
                return batch.iter().map(|_| Err(e.clone())).collect();
            }
        }
    }
    // One by one (each its own statement and commit): an event's own bad data fails only
    // that event; ids repeated within the batch are told apart by order.
    let mut outcomes = Vec::with_capacity(batch.len());
    for job in batch {
        let r = &job.row;
        let outcome = match insert_rows(pool, &[r]).await {
            Ok(inserted) => match resolve(pool, &[r], &inserted).await {
                Ok(mut one) => one.pop().unwrap_or_else(|| {
                    Err(StoreError::Backend(format!(
                        "event {} has no outcome",
                        r.id
                    )))
                }),
                Err(e) => Err(e),
            },
            Err(e) if is_data_error(&e) => Err(event_error(e, r)),
            Err(e) => Err(err(e)),
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// Runs [`INSERT_BATCH`] for `rows` (retrying a deadlock); returns the ids inserted.
async fn insert_rows(pool: &PgPool, rows: &[&EventRow]) -> Result<HashSet<String>, sqlx::Error> {
    let deliveries: Vec<(&str, &str, &str, i64)> = rows
        .iter()
        .flat_map(|r| {
            r.deliveries
                .iter()
                .map(|(id, dest)| (id.as_str(), r.id.as_str(), dest.as_str(), r.received_at))
        })
        .collect();
    let mut attempt = 0;
    loop {
        let q = sqlx::query_scalar::<_, String>(INSERT_BATCH)
            .bind(rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.integration.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.received_at).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.provider_event_id.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.event_type.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.scheme.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.headers.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.body.as_slice()).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.connection_id.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.routing_key.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(rows.iter().map(|r| r.routed_at).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.mapping_status).collect::<Vec<_>>())
            .bind(
                rows.iter()
                    .map(|r| r.mapped_type.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.mapped_data.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|r| r.mapping_error.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(deliveries.iter().map(|d| d.0).collect::<Vec<_>>())
            .bind(deliveries.iter().map(|d| d.1).collect::<Vec<_>>())
            .bind(deliveries.iter().map(|d| d.2).collect::<Vec<_>>())
            .bind(deliveries.iter().map(|d| d.3).collect::<Vec<_>>());
        match q.fetch_all(pool).await {
            Ok(ids) => return Ok(ids.into_iter().collect()),
            Err(e) if is_deadlock(&e) && attempt < DEADLOCK_RETRIES => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "event batch deadlocked; retrying");
            }
            Err(e) => return Err(e),
        }
    }
}

/// The outcome of each of `rows` after an insert that inserted `inserted`: inserted, a
/// duplicate of the stored event with its provider event id, or an id that exists.
async fn resolve(
    pool: &PgPool,
    rows: &[&EventRow],
    inserted: &HashSet<String>,
) -> StoreResult<Vec<StoreResult<InsertOutcome>>> {
    // Positions (from 1) of the skipped rows that have a provider event id.
    let skipped: Vec<(i64, &EventRow)> = rows
        .iter()
        .filter(|r| !inserted.contains(&r.id) && r.provider_event_id.is_some())
        .enumerate()
        .map(|(i, r)| (i as i64 + 1, *r))
        .collect();
    let mut existing: HashMap<String, String> = HashMap::new();
    if !skipped.is_empty() {
        let found: Vec<(i64, String)> = sqlx::query_as(DUPLICATE_OF)
            .bind(
                skipped
                    .iter()
                    .map(|(_, r)| r.integration.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                skipped
                    .iter()
                    .map(|(_, r)| r.provider_event_id.as_deref())
                    .collect::<Vec<_>>(),
            )
            .fetch_all(pool)
            .await
            .map_err(err)?;
        for (n, id) in found {
            if let Some((_, r)) = skipped.iter().find(|(m, _)| *m == n) {
                existing.insert(r.id.clone(), id);
            }
        }
    }
    Ok(rows
        .iter()
        .map(|r| {
            if inserted.contains(&r.id) {
                Ok(InsertOutcome::Inserted)
            } else if let Some(existing_id) = existing.get(&r.id) {
                Ok(InsertOutcome::Duplicate {
                    existing_id: existing_id.clone(),
                })
            } else {
                Err(StoreError::Conflict(format!(
                    "an event with id {} already exists",
                    r.id
                )))
            }
        })
        .collect())
}

/// Whether `e` is about the data of the statement (SQLSTATE class 22 data exception or
/// 23 integrity violation), not the database or the connection.
fn is_data_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("22") || c.starts_with("23")),
        // A value sqlx itself could not encode.
        sqlx::Error::Encode(_) => true,
        _ => false,
    }
}

fn is_deadlock(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().is_some_and(|c| c == "40P01" || c == "40001"))
}

/// The error of one event whose own data the database refused.
fn event_error(e: sqlx::Error, r: &EventRow) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(format!("event {}: {}", r.id, d.message()))
        }
        sqlx::Error::Database(d) => StoreError::Backend(format!(
            "event {} was refused by the database: {}",
            r.id,
            d.message()
        )),
        other => StoreError::Backend(format!("event {} cannot be stored: {other}", r.id)),
    }
}
