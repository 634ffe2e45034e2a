//! The instances sharing the database ([`InstanceStore`]): one row per live `serve`
//! process, upserted every heartbeat.

use async_trait::async_trait;
use sqlx::Row;
use store::instances::{demand_from_json, demand_to_json};
use store::{InstanceBeat, InstanceStore, LiveInstance, StoreResult, from_millis, to_millis};

use crate::{SqliteStore, err};

#[async_trait]
impl InstanceStore for SqliteStore {
    async fn beat_instance(&self, beat: &InstanceBeat) -> StoreResult<Vec<LiveInstance>> {
        let at = to_millis(beat.at);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        sqlx::query("DELETE FROM instances WHERE expires_at <= ? AND id <> ?")
            .bind(at)
            .bind(&beat.id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query(
            "INSERT INTO instances (id, started_at, last_seen, expires_at, demand)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET
               last_seen = excluded.last_seen, expires_at = excluded.expires_at,
               demand = excluded.demand",
        )
        .bind(&beat.id)
        .bind(to_millis(beat.started_at))
        .bind(at)
        .bind(to_millis(beat.expires_at))
        .bind(demand_to_json(&beat.demand))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let rows = sqlx::query(
            "SELECT id, started_at, last_seen, expires_at, demand FROM instances
             WHERE expires_at > ? ORDER BY id",
        )
        .bind(at)
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
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
        let r = sqlx::query("DELETE FROM instances WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }
}
