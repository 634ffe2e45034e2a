//! The instances sharing the database ([`InstanceStore`]): one row per live `serve`
//! process, upserted every heartbeat.

use async_trait::async_trait;
use sqlx::Row;
use store::instances::{demand_from_json, demand_to_json};
use store::{InstanceBeat, InstanceStore, LiveInstance, StoreResult, from_millis, to_millis};

use crate::{PgStore, err};

/// One beat in one statement (one round trip): expired rows of others are removed
/// (skipping any another beat holds, so beats never wait on each other), the caller's
/// row is upserted, and the live rows are returned. The statement's snapshot does not
/// see its own upsert, so the caller's row comes from `RETURNING` and the others from
/// the table.
const BEAT: &str = "
WITH gone AS (
    DELETE FROM instances WHERE id IN (
        SELECT id FROM instances WHERE expires_at <= $3 AND id <> $1
        FOR UPDATE SKIP LOCKED)
), me AS (
    INSERT INTO instances (id, started_at, last_seen, expires_at, demand)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (id) DO UPDATE SET
        last_seen = excluded.last_seen, expires_at = excluded.expires_at,
        demand = excluded.demand
    RETURNING id, started_at, last_seen, expires_at, demand
)
SELECT id, started_at, last_seen, expires_at, demand FROM me
UNION ALL
SELECT id, started_at, last_seen, expires_at, demand FROM instances
WHERE id <> $1 AND expires_at > $3
ORDER BY id";

#[async_trait]
impl InstanceStore for PgStore {
    async fn beat_instance(&self, beat: &InstanceBeat) -> StoreResult<Vec<LiveInstance>> {
        let rows = sqlx::query(BEAT)
            .bind(&beat.id)
            .bind(to_millis(beat.started_at))
            .bind(to_millis(beat.at))
            .bind(to_millis(beat.expires_at))
            .bind(demand_to_json(&beat.demand))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(LiveInstance {
                    id: r.get("id"),
                    started_at: from_millis(r.get("started_at"))?,
                    last_seen: from_millis(r.get("last_seen"))?,
                    expires_at: from_millis(r.get("expires_at"))?,
                    demand: demand_from_json(r.get("demand"))?,
                })
            })
            .collect()
    }

    async fn leave_instance(&self, id: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }
}
