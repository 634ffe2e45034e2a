//! The admin console's sessions, sign-ins and hourly activity ([`ConsoleStore`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use store::console::{HOUR_MS, assemble_activity};
use store::{
    ActivityHour, ConsoleLoginRecord, ConsoleSessionRecord, ConsoleStore, StoreResult, from_millis,
    to_millis,
};

use crate::{PgStore, col, err};

fn session_from_row(r: &PgRow) -> StoreResult<ConsoleSessionRecord> {
    Ok(ConsoleSessionRecord {
        id_hash: col(r, "id_hash")?,
        actor: col(r, "actor")?,
        display_name: col(r, "display_name")?,
        api_key_id: col(r, "api_key_id")?,
        created_at: from_millis(col(r, "created_at")?)?,
        last_seen_at: from_millis(col(r, "last_seen_at")?)?,
        expires_at: from_millis(col(r, "expires_at")?)?,
    })
}

#[async_trait]
impl ConsoleStore for PgStore {
    async fn insert_console_session(&self, s: &ConsoleSessionRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_sessions
               (id_hash, actor, display_name, api_key_id, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.id_hash)
        .bind(&s.actor)
        .bind(&s.display_name)
        .bind(&s.api_key_id)
        .bind(to_millis(s.created_at))
        .bind(to_millis(s.last_seen_at))
        .bind(to_millis(s.expires_at))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn get_console_session(
        &self,
        id_hash: &[u8],
    ) -> StoreResult<Option<ConsoleSessionRecord>> {
        sqlx::query("SELECT * FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn touch_console_session(&self, id_hash: &[u8], at: DateTime<Utc>) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE console_sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id_hash = $2",
        )
        .bind(to_millis(at))
        .bind(id_hash)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_console_session(&self, id_hash: &[u8]) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn purge_console_sessions(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let s =
            sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen_at < $2")
                .bind(to_millis(now))
                .bind(to_millis(idle_before))
                .execute(&self.pool)
                .await
                .map_err(err)?;
        let l = sqlx::query("DELETE FROM console_logins WHERE expires_at <= $1")
            .bind(to_millis(now))
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(s.rows_affected() + l.rows_affected())
    }

    async fn insert_console_login(&self, l: &ConsoleLoginRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_logins (state_hash, browser_hash, next, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&l.state_hash)
        .bind(&l.browser_hash)
        .bind(&l.next)
        .bind(to_millis(l.expires_at))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn take_console_login(
        &self,
        state_hash: &[u8],
    ) -> StoreResult<Option<ConsoleLoginRecord>> {
        let row = sqlx::query("DELETE FROM console_logins WHERE state_hash = $1 RETURNING *")
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.as_ref()
            .map(|r| {
                Ok(ConsoleLoginRecord {
                    state_hash: col(r, "state_hash")?,
                    browser_hash: col(r, "browser_hash")?,
                    next: col(r, "next")?,
                    expires_at: from_millis(col(r, "expires_at")?)?,
                })
            })
            .transpose()
    }

    async fn activity_by_hour(&self, since: DateTime<Utc>) -> StoreResult<Vec<ActivityHour>> {
        let since = to_millis(since).div_euclid(HOUR_MS) * HOUR_MS;
        let counters = sqlx::query(
            "SELECT (bucket / $1) * $2 AS h, kind, SUM(count)::BIGINT AS n FROM status_counters
             WHERE bucket >= $3 GROUP BY h, kind",
        )
        .bind(HOUR_MS)
        .bind(HOUR_MS)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        let deliveries = sqlx::query(
            "SELECT delivered_at, delivered_at - created_at AS latency FROM deliveries
             WHERE status = 'delivered' AND created_at >= $1 AND delivered_at >= $2",
        )
        .bind(since - 24 * HOUR_MS)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        let counters = counters
            .iter()
            .map(|r| {
                Ok((
                    col::<i64>(r, "h")?,
                    col::<String>(r, "kind")?,
                    col::<i64>(r, "n")?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let deliveries = deliveries
            .iter()
            .map(|r| Ok((col::<i64>(r, "delivered_at")?, col::<i64>(r, "latency")?)))
            .collect::<StoreResult<Vec<_>>>()?;
        assemble_activity(counters, deliveries)
    }
}
