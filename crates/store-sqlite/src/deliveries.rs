//! [`DeliveryStore`] on SQLite: the pipeline's routing state on `events` and the leased
//! `deliveries` queue. Claims, routing and replays run in `BEGIN IMMEDIATE` transactions,
//! so processes sharing one file serialise on the write lock instead of racing; claims
//! use `UPDATE … RETURNING`, so a row goes to exactly one claimer.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use store::deliveries::{
    DeliveryCounts, EventListFilter, EventStatus, EventSummary, MappingSummary,
};
use store::{
    Attempt, Claimed, Delivery, DeliveryFilter, DeliveryStatus, DeliveryStore, Event, EventRouting,
    Failure, Mapped, NewAttempt, QueueStats, ReplayCount, ReplayFilter, ReplayStatus, Routing,
    StoreError, StoreResult, cap_excerpt, from_millis, to_millis,
};

use crate::events::event_from_row;
use crate::{SqliteStore, err, opt_millis};

fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(e.to_string()))
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn delivery_from_row(r: &SqliteRow) -> StoreResult<Delivery> {
    let status: String = r.get("status");
    let last_status: Option<i64> = r.get("last_status");
    Ok(Delivery {
        id: r.get("id"),
        event_id: r.get("event_id"),
        destination: r.get("destination"),
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery status {status:?}")))?,
        attempts: count(r.get("attempts")),
        next_attempt_at: from_millis(r.get("next_attempt_at"))?,
        lease_owner: r.get("lease_owner"),
        lease_until: opt_millis(r.get("lease_until"))?,
        last_status: last_status.and_then(|s| u16::try_from(s).ok()),
        last_error: r.get("last_error"),
        created_at: from_millis(r.get("created_at"))?,
        delivered_at: opt_millis(r.get("delivered_at"))?,
    })
}

/// The events a replay selects (`?1` event id, `?2` integration, `?3` type, `?4` since,
/// `?5` until, `?6` destination, `?7` delivery status), by the filter's status. Every
/// variant mentions all seven parameters (`?6 IS ?6` is always true) so that one binding
/// serves them all.
fn replay_selection(status: Option<ReplayStatus>, by_delivery: bool) -> &'static str {
    match (status, by_delivery) {
        (Some(ReplayStatus::MappingFailed), _) => {
            "INSERT INTO temp.replay_selection (id)
             SELECT e.id FROM events e
             WHERE (?1 IS NULL OR e.id = ?1) AND (?2 IS NULL OR e.integration = ?2)
               AND (?3 IS NULL OR e.mapped_type = ?3 OR e.event_type = ?3)
               AND (?4 IS NULL OR e.received_at >= ?4) AND (?5 IS NULL OR e.received_at < ?5)
               AND e.mapping_status = 'failed'
               AND ?6 IS ?6 AND ?7 IS ?7"
        }
        (_, true) => {
            "INSERT INTO temp.replay_selection (id)
             SELECT e.id FROM events e
             WHERE (?1 IS NULL OR e.id = ?1) AND (?2 IS NULL OR e.integration = ?2)
               AND (?3 IS NULL OR e.mapped_type = ?3 OR e.event_type = ?3)
               AND (?4 IS NULL OR e.received_at >= ?4) AND (?5 IS NULL OR e.received_at < ?5)
               AND EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id
                   AND (?6 IS NULL OR d.destination = ?6) AND (?7 IS NULL OR d.status = ?7))"
        }
        (_, false) => {
            "INSERT INTO temp.replay_selection (id)
             SELECT e.id FROM events e
             WHERE (?1 IS NULL OR e.id = ?1) AND (?2 IS NULL OR e.integration = ?2)
               AND (?3 IS NULL OR e.mapped_type = ?3 OR e.event_type = ?3)
               AND (?4 IS NULL OR e.received_at >= ?4) AND (?5 IS NULL OR e.received_at < ?5)
               AND ?6 IS ?6 AND ?7 IS ?7"
        }
    }
}

/// The deliveries of the selected events that a replay requeues (`?1` destination, `?2`
/// status): not in flight.
const REPLAY_DELIVERIES: &str = "FROM deliveries d
     WHERE d.event_id IN (SELECT id FROM temp.replay_selection)
       AND (?1 IS NULL OR d.destination = ?1) AND (?2 IS NULL OR d.status = ?2)
       AND d.status <> 'in_flight'";

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn unrouted_events(&self, limit: u32) -> StoreResult<Vec<Event>> {
        sqlx::query("SELECT * FROM events WHERE routed_at IS NULL ORDER BY id LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .iter()
            .map(event_from_row)
            .collect()
    }

    async fn route_events(&self, routings: &[Routing], now: DateTime<Utc>) -> StoreResult<u64> {
        if routings.is_empty() {
            return Ok(0);
        }
        // The whole batch is ONE multi-statement call, like the intake's group commit:
        // statement by statement, each a hop to SQLite's worker thread, the write lock
        // was held for hundreds of hops and the intake waited behind it. A delivery is
        // enqueued only if this very call routed its event (`routed_at` is our time).
        let at = to_millis(now);
        let mut sql = String::from("BEGIN IMMEDIATE;\n");
        for r in routings {
            sql.push_str(
                "UPDATE events SET routed_at = ?, mapping_status = ?, mapped_type = ?,
                   mapped_data = ?, mapping_error = ?
                 WHERE id = ? AND routed_at IS NULL;\n",
            );
            match &r.mapped {
                Mapped::Mapped { .. } => {
                    for _ in &r.deliveries {
                        sql.push_str(
                            "INSERT INTO deliveries (id, event_id, destination, status,
                               next_attempt_at, created_at)
                             SELECT ?, ?, ?, 'pending', ?, ?
                             WHERE EXISTS (SELECT 1 FROM events WHERE id = ? AND routed_at = ?)
                             ON CONFLICT (event_id, destination) DO NOTHING
                             RETURNING id;\n",
                        );
                    }
                }
                _ => sql.push_str(
                    "UPDATE deliveries SET status = 'dead', lease_fence = lease_fence + 1,
                       last_error = ?
                     WHERE event_id = ? AND status = 'pending'
                       AND EXISTS (SELECT 1 FROM events WHERE id = ? AND routed_at = ?);\n",
                ),
            }
        }
        sql.push_str("COMMIT;");
        // Built from constants only: no input reaches the SQL text.
        let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for r in routings {
            let (status, ty, data, error) = match &r.mapped {
                Mapped::Mapped { event_type, data } => (
                    "mapped",
                    Some(event_type.as_str()),
                    Some(data.as_str()),
                    None,
                ),
                Mapped::Dropped => ("dropped", None, None, None),
                Mapped::Failed { error } => ("failed", None, None, Some(error.as_str())),
            };
            q = q
                .bind(at)
                .bind(status)
                .bind(ty)
                .bind(data)
                .bind(error)
                .bind(&r.event_id);
            match &r.mapped {
                Mapped::Mapped { .. } => {
                    for (id, destination) in &r.deliveries {
                        q = q
                            .bind(id)
                            .bind(&r.event_id)
                            .bind(destination)
                            .bind(at)
                            .bind(at)
                            .bind(&r.event_id)
                            .bind(at);
                    }
                }
                _ => {
                    let why = match status {
                        "dropped" => "the event's mapping now drops it".to_owned(),
                        _ => format!(
                            "the event could not be mapped: {}",
                            error.unwrap_or_default()
                        ),
                    };
                    q = q.bind(why).bind(&r.event_id).bind(&r.event_id).bind(at);
                }
            }
        }
        let _turn = self.write_lock().await;
        let mut conn = self.pool.acquire().await.map_err(err)?;
        match q.fetch_all(&mut *conn).await {
            Ok(ids) => Ok(ids.len() as u64),
            Err(e) => {
                // The transaction may still be open: end it before the connection goes back.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(err(e))
            }
        }
    }

    async fn event_routing(&self, event_id: &str) -> StoreResult<Option<EventRouting>> {
        let row = sqlx::query(
            "SELECT routed_at, mapping_status, mapped_type, mapping_error,
                    COALESCE(mapped_data, CASE WHEN mapping_status = 'mapped'
                                               THEN CAST(body AS TEXT) END) AS mapped_data
             FROM events WHERE id = ?",
        )
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        let Some(r) = row else { return Ok(None) };
        let status: Option<String> = r.get("mapping_status");
        let mapped = match status.as_deref() {
            None => None,
            Some("mapped") => Some(Mapped::Mapped {
                event_type: r
                    .get::<Option<String>, _>("mapped_type")
                    .unwrap_or_default(),
                data: r
                    .get::<Option<String>, _>("mapped_data")
                    .unwrap_or_default(),
            }),
            Some("dropped") => Some(Mapped::Dropped),
            Some("failed") => Some(Mapped::Failed {
                error: r
                    .get::<Option<String>, _>("mapping_error")
                    .unwrap_or_default(),
            }),
            Some(other) => {
                return Err(StoreError::Corrupt(format!("mapping status {other:?}")));
            }
        };
        Ok(Some(EventRouting {
            mapped,
            routed_at: opt_millis(r.get("routed_at"))?,
        }))
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        limit: u32,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        skip: &[String],
    ) -> StoreResult<Vec<Claimed>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = to_millis(now);
        // ONE call (a single hop to SQLite's thread) on the queue pool: select the due
        // ids into a per-connection temp table, claim them, read what the worker needs.
        let sql = "BEGIN IMMEDIATE;
             CREATE TEMP TABLE IF NOT EXISTS claim_selection (id TEXT PRIMARY KEY NOT NULL);
             DELETE FROM temp.claim_selection;
             INSERT INTO temp.claim_selection (id)
               SELECT due.id FROM (
                 SELECT d.id, d.next_attempt_at AS due FROM deliveries d
                 WHERE d.status = 'pending' AND d.next_attempt_at <= ?
                 UNION ALL
                 SELECT d.id, d.lease_until AS due FROM deliveries d
                 WHERE d.status = 'in_flight' AND d.lease_until <= ?
               ) due
               JOIN deliveries d ON d.id = due.id
               JOIN events e ON e.id = d.event_id
               WHERE e.routed_at IS NOT NULL AND e.mapping_status = 'mapped'
                 AND d.destination NOT IN
                   (SELECT destination FROM destination_state WHERE disabled = 1)
                 AND d.destination NOT IN (SELECT value FROM json_each(?))
               ORDER BY due.due, due.id
               LIMIT ?;
             UPDATE deliveries SET status = 'in_flight', attempts = attempts + 1,
               lease_owner = ?, lease_until = ?, lease_fence = lease_fence + 1
             WHERE id IN (SELECT id FROM temp.claim_selection);
             SELECT d.id, d.event_id, e.integration, e.received_at, d.destination, d.attempts,
                    d.lease_fence, d.lease_until, e.mapped_type,
                    COALESCE(e.mapped_data, CAST(e.body AS TEXT)) AS mapped_data
             FROM deliveries d JOIN events e ON e.id = d.event_id
             WHERE d.id IN (SELECT id FROM temp.claim_selection)
             ORDER BY d.next_attempt_at, d.id;
             COMMIT;";
        let q = sqlx::query(sql)
            .bind(now)
            .bind(now)
            .bind(json(&skip)?)
            .bind(i64::from(limit))
            .bind(owner)
            .bind(to_millis(lease_until));
        let _turn = self.write_lock().await;
        let mut conn = self.queue_pool().acquire().await.map_err(err)?;
        let rows = match q.fetch_all(&mut *conn).await {
            Ok(rows) => rows,
            Err(e) => {
                // The transaction may still be open: end it before the connection goes back.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(err(e));
            }
        };
        rows.iter()
            .map(|r| {
                Ok(Claimed {
                    id: r.get("id"),
                    event_id: r.get("event_id"),
                    integration: r.get("integration"),
                    received_at: from_millis(r.get("received_at"))?,
                    destination: r.get("destination"),
                    attempts: count(r.get("attempts")),
                    fence: r.get("lease_fence"),
                    lease_until: from_millis(r.get("lease_until"))?,
                    event_type: r
                        .get::<Option<String>, _>("mapped_type")
                        .ok_or_else(|| StoreError::Corrupt("mapped event without type".into()))?,
                    data: r
                        .get::<Option<String>, _>("mapped_data")
                        .ok_or_else(|| StoreError::Corrupt("mapped event without data".into()))?,
                })
            })
            .collect()
    }

    async fn renew_lease(
        &self,
        id: &str,
        fence: i64,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let _turn = self.write_lock().await;
        let r = sqlx::query(
            "UPDATE deliveries SET lease_until = ?
             WHERE id = ? AND lease_fence = ? AND status = 'in_flight'",
        )
        .bind(to_millis(lease_until))
        .bind(id)
        .bind(fence)
        .execute(self.queue_pool())
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn complete_delivery(
        &self,
        id: &str,
        fence: i64,
        status: u16,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.complete(id, fence, status, at, None).await
    }

    async fn fail_delivery(&self, id: &str, fence: i64, f: &Failure) -> StoreResult<bool> {
        self.fail(id, fence, f, None).await
    }

    async fn complete_attempt(
        &self,
        id: &str,
        fence: i64,
        status: u16,
        at: DateTime<Utc>,
        attempt: &NewAttempt,
    ) -> StoreResult<bool> {
        self.complete(id, fence, status, at, Some(attempt)).await
    }

    async fn fail_attempt(
        &self,
        id: &str,
        fence: i64,
        f: &Failure,
        attempt: &NewAttempt,
    ) -> StoreResult<bool> {
        self.fail(id, fence, f, Some(attempt)).await
    }

    async fn list_attempts(&self, event_id: &str, limit: u32) -> StoreResult<Vec<Attempt>> {
        sqlx::query(
            "SELECT a.delivery_id, a.number, a.started_at, a.duration_ms, a.http_status,
                    a.outcome, a.excerpt
             FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
             WHERE d.event_id = ? ORDER BY a.delivery_id, a.number LIMIT ?",
        )
        .bind(event_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?
        .iter()
        .map(|r| {
            Ok(Attempt {
                delivery_id: r.get("delivery_id"),
                number: count(r.get("number")),
                started_at: from_millis(r.get("started_at"))?,
                duration_ms: r.get::<i64, _>("duration_ms").max(0) as u64,
                status: r
                    .get::<Option<i64>, _>("http_status")
                    .and_then(|s| u16::try_from(s).ok()),
                outcome: r.get("outcome"),
                excerpt: r.get("excerpt"),
            })
        })
        .collect()
    }

    async fn release_delivery(&self, id: &str, fence: i64, at: DateTime<Utc>) -> StoreResult<bool> {
        let _turn = self.write_lock().await;
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?,
               attempts = MAX(attempts - 1, 0), lease_owner = NULL, lease_until = NULL,
               lease_fence = lease_fence + 1
             WHERE id = ? AND lease_fence = ? AND status = 'in_flight'",
        )
        .bind(to_millis(at))
        .bind(id)
        .bind(fence)
        .execute(self.queue_pool())
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let (pending, lease): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'),
                    (SELECT MIN(lease_until) FROM deliveries WHERE status = 'in_flight')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        let min = match (pending, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        opt_millis(min)
    }

    async fn queue_stats(&self) -> StoreResult<QueueStats> {
        let (depth, in_flight, dead, unrouted, oldest): (i64, i64, i64, i64, Option<i64>) =
            sqlx::query_as(
                "SELECT
                   (SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'in_flight')),
                   (SELECT COUNT(*) FROM deliveries WHERE status = 'in_flight'),
                   (SELECT COUNT(*) FROM deliveries WHERE status = 'dead'),
                   (SELECT COUNT(*) FROM events WHERE routed_at IS NULL),
                   (SELECT MIN(created_at) FROM deliveries
                     WHERE status IN ('pending', 'in_flight'))",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        Ok(QueueStats {
            depth: depth as u64,
            in_flight: in_flight as u64,
            dead: dead as u64,
            unrouted: unrouted as u64,
            oldest_pending: opt_millis(oldest)?,
        })
    }

    async fn get_delivery(&self, id: &str) -> StoreResult<Option<Delivery>> {
        sqlx::query("SELECT * FROM deliveries WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(delivery_from_row)
            .transpose()
    }

    async fn list_deliveries(&self, f: &DeliveryFilter, limit: u32) -> StoreResult<Vec<Delivery>> {
        sqlx::query(
            "SELECT * FROM deliveries
             WHERE (?1 IS NULL OR event_id = ?1) AND (?2 IS NULL OR destination = ?2)
               AND (?3 IS NULL OR status = ?3) AND (?5 IS NULL OR id < ?5)
             ORDER BY id DESC LIMIT ?4",
        )
        .bind(&f.event_id)
        .bind(&f.destination)
        .bind(f.status.map(DeliveryStatus::as_str))
        .bind(i64::from(limit))
        .bind(&f.before)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?
        .iter()
        .map(delivery_from_row)
        .collect()
    }

    async fn replay(
        &self,
        f: &ReplayFilter,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<ReplayCount> {
        let delivery_status = match f.status {
            Some(ReplayStatus::Pending) => Some("pending"),
            Some(ReplayStatus::Delivered) => Some("delivered"),
            Some(ReplayStatus::Dead) => Some("dead"),
            Some(ReplayStatus::MappingFailed) | None => None,
        };
        let by_delivery = f.destination.is_some() || delivery_status.is_some();
        let _turn = self.write_lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        sqlx::query("CREATE TEMP TABLE IF NOT EXISTS replay_selection (id TEXT PRIMARY KEY)")
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("DELETE FROM temp.replay_selection")
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let selected = sqlx::query(replay_selection(f.status, by_delivery))
            .bind(&f.event_id)
            .bind(&f.integration)
            .bind(&f.event_type)
            .bind(f.since.map(to_millis))
            .bind(f.until.map(to_millis))
            .bind(&f.destination)
            .bind(delivery_status)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        // An event without its payload has nothing to send: counted, left alone.
        let skipped_purged = sqlx::query(
            "DELETE FROM temp.replay_selection WHERE id IN
               (SELECT s.id FROM temp.replay_selection s JOIN events e ON e.id = s.id
                WHERE e.payload_purged_at IS NOT NULL)",
        )
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
        let selected = selected - skipped_purged;
        let deliveries: i64 = if f.status == Some(ReplayStatus::MappingFailed) {
            0
        } else {
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) {REPLAY_DELIVERIES}"
            )))
            .bind(&f.destination)
            .bind(delivery_status)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?
        };
        if !dry_run {
            if f.status != Some(ReplayStatus::MappingFailed) {
                // Built from constants only.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE deliveries SET status = 'pending', attempts = 0,
                       next_attempt_at = ?3, lease_owner = NULL, lease_until = NULL,
                       lease_fence = lease_fence + 1, last_error = NULL
                     WHERE id IN (SELECT d.id {REPLAY_DELIVERIES})"
                )))
                .bind(&f.destination)
                .bind(delivery_status)
                .bind(to_millis(now))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            }
            sqlx::query(
                "UPDATE events SET routed_at = NULL
                 WHERE id IN (SELECT id FROM temp.replay_selection)",
            )
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        sqlx::query("DELETE FROM temp.replay_selection")
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(ReplayCount {
            events: selected,
            deliveries: deliveries as u64,
            skipped_purged,
        })
    }

    async fn set_destination_disabled(
        &self,
        destination: &str,
        disabled: bool,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let r = if disabled {
            sqlx::query(
                "INSERT INTO destination_state (destination, disabled, reason, updated_at)
                 VALUES (?, 1, ?, ?)
                 ON CONFLICT (destination) DO UPDATE SET disabled = 1,
                   reason = excluded.reason, updated_at = excluded.updated_at
                 WHERE destination_state.disabled = 0",
            )
            .bind(destination)
            .bind(reason)
            .bind(to_millis(at))
            .execute(&self.pool)
            .await
        } else {
            sqlx::query(
                "UPDATE destination_state SET disabled = 0, reason = NULL, updated_at = ?
                 WHERE destination = ? AND disabled = 1",
            )
            .bind(to_millis(at))
            .bind(destination)
            .execute(&self.pool)
            .await
        }
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn disabled_destinations(&self) -> StoreResult<Vec<(String, Option<String>)>> {
        sqlx::query_as(
            "SELECT destination, reason FROM destination_state WHERE disabled = 1
             ORDER BY destination",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)
    }

    async fn list_event_summaries(
        &self,
        f: &EventListFilter,
        limit: u32,
    ) -> StoreResult<Vec<EventSummary>> {
        let (unrouted, mapping_status, delivery_status) = match f.status {
            None => (false, None, None),
            Some(EventStatus::Unrouted) => (true, None, None),
            Some(EventStatus::Mapped) => (false, Some("mapped"), None),
            Some(EventStatus::Dropped) => (false, Some("dropped"), None),
            Some(EventStatus::MappingFailed) => (false, Some("failed"), None),
            Some(EventStatus::Pending) => (false, None, Some("pending")),
            Some(EventStatus::InFlight) => (false, None, Some("in_flight")),
            Some(EventStatus::Delivered) => (false, None, Some("delivered")),
            Some(EventStatus::Dead) => (false, None, Some("dead")),
        };
        // `+d.status`: the deliveries of an event are found by their (event_id, …) index;
        // without it, and without planner statistics (the store never runs ANALYZE),
        // SQLite reads every delivery in that state through (status, created_at) for
        // each event listed (half a second for a page over 10,000 deliveries).
        let sql = format!(
            "SELECT e.id, e.integration, e.received_at, e.provider_event_id, e.event_type,
                    e.scheme, e.connection_id, length(e.body) AS body_bytes, e.routed_at,
                    e.mapping_status, e.mapped_type, e.mapping_error, e.payload_purged_at,
                    (SELECT COUNT(*) FROM deliveries d
                      WHERE d.event_id = e.id AND +d.status = 'pending') AS n_pending,
                    (SELECT COUNT(*) FROM deliveries d
                      WHERE d.event_id = e.id AND +d.status = 'in_flight') AS n_in_flight,
                    (SELECT COUNT(*) FROM deliveries d
                      WHERE d.event_id = e.id AND +d.status = 'delivered') AS n_delivered,
                    (SELECT COUNT(*) FROM deliveries d
                      WHERE d.event_id = e.id AND +d.status = 'dead') AS n_dead
             FROM events e
             WHERE (?1 IS NULL OR e.integration = ?1) AND (?2 IS NULL OR e.id < ?2)
               AND (?3 IS NULL OR e.mapped_type = ?3 OR e.event_type = ?3)
               AND (?4 = 0 OR e.routed_at IS NULL)
               AND (?5 IS NULL OR (e.routed_at IS NOT NULL AND e.mapping_status = ?5))
               AND (?6 IS NULL OR EXISTS (SELECT 1 FROM deliveries d
                     WHERE d.event_id = e.id AND +d.status = ?6))
               AND (?8 IS NULL OR EXISTS (SELECT 1 FROM deliveries d
                     WHERE d.event_id = e.id AND +d.status = ?8))
               AND (?9 IS NULL OR ?9 = (e.scheme = 'internal'))
               AND (?10 IS NULL OR e.received_at >= ?10)
               AND (?11 IS NULL OR e.received_at < ?11)
             {connection}
             ORDER BY e.id DESC LIMIT ?7",
            connection = if f.connection_id.is_some() {
                "AND e.connection_id = ?12"
            } else {
                ""
            },
        );
        // Only the constant connection clause is spliced in (so that the index on
        // (connection_id, id) serves it); every value is bound.
        let q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&f.integration)
            .bind(&f.before)
            .bind(&f.event_type)
            .bind(unrouted)
            .bind(mapping_status)
            .bind(delivery_status)
            .bind(i64::from(limit))
            .bind(f.delivery.map(DeliveryStatus::as_str))
            .bind(f.internal)
            .bind(f.since.map(to_millis))
            .bind(f.until.map(to_millis));
        let q = match &f.connection_id {
            Some(c) => q.bind(c),
            None => q,
        };
        let rows = q.fetch_all(&self.pool).await.map_err(err)?;
        rows.iter()
            .map(|r| {
                let routed_at = opt_millis(r.get("routed_at"))?;
                let status: Option<String> = r.get("mapping_status");
                let mapping = match (routed_at, status) {
                    (Some(_), Some(status)) => Some(MappingSummary {
                        event_type: if status == "mapped" {
                            r.get("mapped_type")
                        } else {
                            None
                        },
                        error: if status == "failed" {
                            r.get("mapping_error")
                        } else {
                            None
                        },
                        status,
                    }),
                    _ => None,
                };
                let n = |c: &str| r.get::<i64, _>(c).max(0) as u64;
                Ok(EventSummary {
                    id: r.get("id"),
                    integration: r.get("integration"),
                    received_at: from_millis(r.get("received_at"))?,
                    provider_event_id: r.get("provider_event_id"),
                    event_type: r.get("event_type"),
                    scheme: r.get("scheme"),
                    connection_id: r.get("connection_id"),
                    purged_at: opt_millis(r.get("payload_purged_at"))?,
                    body_bytes: n("body_bytes"),
                    mapping,
                    routed_at,
                    deliveries: DeliveryCounts {
                        pending: n("n_pending"),
                        in_flight: n("n_in_flight"),
                        delivered: n("n_delivered"),
                        dead: n("n_dead"),
                    },
                })
            })
            .collect()
    }

    async fn destination_queue_counts(&self) -> StoreResult<Vec<(String, DeliveryCounts)>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT destination, status, COUNT(*) FROM deliveries
             WHERE status IN ('pending', 'in_flight', 'dead')
             GROUP BY destination, status ORDER BY destination",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        let mut out: Vec<(String, DeliveryCounts)> = Vec::new();
        for (destination, status, n) in rows {
            if out.last().is_none_or(|(d, _)| *d != destination) {
                out.push((destination, DeliveryCounts::default()));
            }
            let Some((_, c)) = out.last_mut() else {
                continue;
            };
            let n = n.max(0) as u64;
            match status.as_str() {
                "pending" => c.pending = n,
                "in_flight" => c.in_flight = n,
                "dead" => c.dead = n,
                _ => {}
            }
        }
        Ok(out)
    }

    async fn replay_progress(
        &self,
        f: &ReplayFilter,
        at: DateTime<Utc>,
    ) -> StoreResult<DeliveryCounts> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT d.status, COUNT(*) FROM deliveries d JOIN events e ON e.id = d.event_id
             WHERE (?1 IS NULL OR e.id = ?1) AND (?2 IS NULL OR e.integration = ?2)
               AND (?3 IS NULL OR e.mapped_type = ?3 OR e.event_type = ?3)
               AND (?4 IS NULL OR e.received_at >= ?4) AND (?5 IS NULL OR e.received_at < ?5)
               AND (?6 IS NULL OR d.destination = ?6)
               AND e.received_at <= ?7
               AND (d.next_attempt_at >= ?7 OR d.created_at >= ?7)
             GROUP BY d.status",
        )
        .bind(&f.event_id)
        .bind(&f.integration)
        .bind(&f.event_type)
        .bind(f.since.map(to_millis))
        .bind(f.until.map(to_millis))
        .bind(&f.destination)
        .bind(to_millis(at))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(counts_by_status(&rows))
    }
}

/// Counts by stored delivery state.
fn counts_by_status(rows: &[(String, i64)]) -> DeliveryCounts {
    let mut c = DeliveryCounts::default();
    for (status, n) in rows {
        let n = (*n).max(0) as u64;
        match status.as_str() {
            "pending" => c.pending = n,
            "in_flight" => c.in_flight = n,
            "delivered" => c.delivered = n,
            "dead" => c.dead = n,
            _ => {}
        }
    }
    c
}

/// Records an attempt of a delivery whose state was just changed in `tx`: numbered after
/// its last recorded one, and not at all once its event's payload was removed (an
/// erasure while the request ran).
async fn insert_attempt(
    tx: &mut sqlx::SqliteConnection,
    id: &str,
    a: &NewAttempt,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO delivery_attempts
           (delivery_id, number, started_at, duration_ms, http_status, outcome, excerpt)
         SELECT d.id,
                COALESCE((SELECT MAX(number) FROM delivery_attempts WHERE delivery_id = d.id), 0) + 1,
                ?, ?, ?, ?, ?
         FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.id = ? AND e.payload_purged_at IS NULL",
    )
    .bind(to_millis(a.started_at))
    .bind(i64::try_from(a.duration_ms).unwrap_or(i64::MAX))
    .bind(a.status.map(i64::from))
    .bind(&a.outcome)
    .bind(a.excerpt.as_deref().map(cap_excerpt))
    .bind(id)
    .execute(tx)
    .await
    .map_err(err)?;
    Ok(())
}

impl SqliteStore {
    /// Marks a claimed delivery delivered, with its attempt in the same transaction.
    async fn complete(
        &self,
        id: &str,
        fence: i64,
        status: u16,
        at: DateTime<Utc>,
        attempt: Option<&NewAttempt>,
    ) -> StoreResult<bool> {
        let _turn = self.write_lock().await;
        let mut tx = self
            .queue_pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(err)?;
        let r = sqlx::query(
            "UPDATE deliveries SET status = 'delivered', delivered_at = ?, last_status = ?,
               last_error = NULL, lease_owner = NULL, lease_until = NULL
             WHERE id = ? AND lease_fence = ? AND status = 'in_flight'",
        )
        .bind(to_millis(at))
        .bind(i64::from(status))
        .bind(id)
        .bind(fence)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let done = r.rows_affected() == 1;
        if let (true, Some(a)) = (done, attempt) {
            insert_attempt(&mut tx, id, a).await?;
        }
        tx.commit().await.map_err(err)?;
        Ok(done)
    }

    /// Records a failed attempt's outcome, with the attempt in the same transaction.
    async fn fail(
        &self,
        id: &str,
        fence: i64,
        f: &Failure,
        attempt: Option<&NewAttempt>,
    ) -> StoreResult<bool> {
        let _turn = self.write_lock().await;
        let mut tx = self
            .queue_pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(err)?;
        let r = sqlx::query(
            "UPDATE deliveries SET status = CASE WHEN ?1 IS NULL THEN 'dead' ELSE 'pending' END,
               next_attempt_at = COALESCE(?1, next_attempt_at), last_status = ?2,
               last_error = ?3, lease_owner = NULL, lease_until = NULL
             WHERE id = ?4 AND lease_fence = ?5 AND status = 'in_flight'",
        )
        .bind(f.retry_at.map(to_millis))
        .bind(f.status.map(i64::from))
        .bind(&f.error)
        .bind(id)
        .bind(fence)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let done = r.rows_affected() == 1;
        if let (true, Some(a)) = (done, attempt) {
            insert_attempt(&mut tx, id, a).await?;
        }
        tx.commit().await.map_err(err)?;
        Ok(done)
    }
}
