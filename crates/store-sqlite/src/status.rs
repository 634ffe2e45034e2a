//! What `switchboard status` reads ([`StatusStore`]): activity counters, the last
//! `oauth test` of each integration, and per-integration summaries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use store::{
    CounterDelta, CounterSum, IntegrationQueue, OAuthTestRecord, StatusStore, StoreError,
    StoreResult, from_millis, to_millis,
};

use crate::{SqliteStore, err, opt_millis};

#[async_trait]
impl StatusStore for SqliteStore {
    async fn add_counters(&self, deltas: &[CounterDelta]) -> StoreResult<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        // The intake's writer and the queue take this lock in turn; a flush every few
        // seconds waits its turn rather than in SQLite's busy handler.
        let _turn = self.write_lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        for d in deltas {
            sqlx::query(
                "INSERT INTO status_counters (integration, kind, reason, bucket, count)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (integration, kind, reason, bucket) DO UPDATE SET
                   count = status_counters.count + excluded.count",
            )
            .bind(&d.integration)
            .bind(&d.kind)
            .bind(&d.reason)
            .bind(to_millis(d.bucket))
            .bind(i64::try_from(d.count).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)
    }

    async fn counter_sums(&self, since: DateTime<Utc>) -> StoreResult<Vec<CounterSum>> {
        let rows = sqlx::query(
            "SELECT integration, kind, reason, SUM(count) AS n FROM status_counters
             WHERE bucket >= ? GROUP BY integration, kind, reason
             ORDER BY integration, kind, reason",
        )
        .bind(to_millis(since))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows
            .iter()
            .map(|r| CounterSum {
                integration: r.get("integration"),
                kind: r.get("kind"),
                reason: r.get("reason"),
                count: r.get::<i64, _>("n").max(0) as u64,
            })
            .collect())
    }

    async fn prune_counters(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let _turn = self.write_lock().await;
        let r = sqlx::query("DELETE FROM status_counters WHERE bucket < ?")
            .bind(to_millis(before))
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.rows_affected())
    }

    async fn record_oauth_test(&self, r: &OAuthTestRecord) -> StoreResult<()> {
        let failed = serde_json::to_string(&r.failed_checks)
            .map_err(|e| StoreError::Backend(format!("failed checks: {e}")))?;
        sqlx::query(
            "INSERT INTO oauth_tests (integration, ok, failed_checks, tested_at)
             VALUES (?, ?, ?, ?)
             ON CONFLICT (integration) DO UPDATE SET
               ok = excluded.ok, failed_checks = excluded.failed_checks,
               tested_at = excluded.tested_at",
        )
        .bind(&r.integration)
        .bind(i64::from(r.ok))
        .bind(failed)
        .bind(to_millis(r.tested_at))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn oauth_tests(&self) -> StoreResult<Vec<OAuthTestRecord>> {
        let rows = sqlx::query(
            "SELECT integration, ok, failed_checks, tested_at FROM oauth_tests
             ORDER BY integration",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                let failed: String = r.get("failed_checks");
                Ok(OAuthTestRecord {
                    integration: r.get("integration"),
                    ok: r.get::<i64, _>("ok") == 1,
                    failed_checks: serde_json::from_str(&failed).map_err(|e| {
                        StoreError::Corrupt(format!("oauth_tests.failed_checks: {e}"))
                    })?,
                    tested_at: from_millis(r.get("tested_at"))?,
                })
            })
            .collect()
    }

    async fn integration_queues(&self) -> StoreResult<Vec<IntegrationQueue>> {
        let rows = sqlx::query(
            "SELECT e.integration AS integration,
                    SUM(d.status = 'pending') AS pending,
                    SUM(d.status = 'in_flight') AS in_flight,
                    SUM(d.status = 'dead') AS dead,
                    MIN(CASE WHEN d.status IN ('pending', 'in_flight') THEN d.created_at END)
                      AS oldest
             FROM deliveries d JOIN events e ON e.id = d.event_id
             WHERE d.status IN ('pending', 'in_flight', 'dead')
             GROUP BY e.integration ORDER BY e.integration",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|r| {
                Ok(IntegrationQueue {
                    integration: r.get("integration"),
                    pending: r.get::<i64, _>("pending").max(0) as u64,
                    in_flight: r.get::<i64, _>("in_flight").max(0) as u64,
                    dead: r.get::<i64, _>("dead").max(0) as u64,
                    oldest_pending: opt_millis(r.get("oldest"))?,
                })
            })
            .collect()
    }

    async fn last_external_event(&self, integration: &str) -> StoreResult<Option<DateTime<Utc>>> {
        // Newest first by id (time-ordered) on the (integration, id) index: internal
        // events are rare, so this reads a row or a few.
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT received_at FROM events WHERE integration = ? AND scheme <> 'internal'
             ORDER BY id DESC LIMIT 1",
        )
        .bind(integration)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        opt_millis(at)
    }

    async fn failing_connections(&self, since: DateTime<Utc>) -> StoreResult<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT integration, COUNT(*) FROM connections
             WHERE refresh_failures > 0 AND updated_at >= ?
             GROUP BY integration ORDER BY integration",
        )
        .bind(to_millis(since))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|(i, n)| (i, n.max(0) as u64))
            .collect())
    }
}
