//! The admin console's sessions, sign-ins and hourly activity ([`ConsoleStore`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use store::console::{HOUR_MS, assemble_activity};
use store::{
    ActivityHour, ConsoleLoginRecord, ConsoleSessionRecord, ConsoleStore, StoreResult, from_millis,
    to_millis,
};

use crate::{SqliteStore, err};

fn session_from_row(r: &SqliteRow) -> StoreResult<ConsoleSessionRecord> {
    Ok(ConsoleSessionRecord {
        id_hash: r.get("id_hash"),
        actor: r.get("actor"),
        display_name: r.get("display_name"),
        api_key_id: r.get("api_key_id"),
        created_at: from_millis(r.get("created_at"))?,
        last_seen_at: from_millis(r.get("last_seen_at"))?,
        expires_at: from_millis(r.get("expires_at"))?,
    })
}

#[async_trait]
impl ConsoleStore for SqliteStore {
    async fn insert_console_session(&self, s: &ConsoleSessionRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_sessions
               (id_hash, actor, display_name, api_key_id, created_at, last_seen_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        sqlx::query("SELECT * FROM console_sessions WHERE id_hash = ?")
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
            "UPDATE console_sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id_hash = ?",
        )
        .bind(to_millis(at))
        .bind(id_hash)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_console_session(&self, id_hash: &[u8]) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM console_sessions WHERE id_hash = ?")
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
            sqlx::query("DELETE FROM console_sessions WHERE expires_at <= ? OR last_seen_at < ?")
                .bind(to_millis(now))
                .bind(to_millis(idle_before))
                .execute(&self.pool)
                .await
                .map_err(err)?;
        let l = sqlx::query("DELETE FROM console_logins WHERE expires_at <= ?")
            .bind(to_millis(now))
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(s.rows_affected() + l.rows_affected())
    }

    async fn insert_console_login(&self, l: &ConsoleLoginRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO console_logins (state_hash, browser_hash, next, expires_at)
             VALUES (?, ?, ?, ?)",
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
        let row = sqlx::query("DELETE FROM console_logins WHERE state_hash = ? RETURNING *")
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.map(|r| {
            Ok(ConsoleLoginRecord {
                state_hash: r.get("state_hash"),
                browser_hash: r.get("browser_hash"),
                next: r.get("next"),
                expires_at: from_millis(r.get("expires_at"))?,
            })
        })
        .transpose()
    }

    async fn activity_by_hour(&self, since: DateTime<Utc>) -> StoreResult<Vec<ActivityHour>> {
        let since = to_millis(since).div_euclid(HOUR_MS) * HOUR_MS;
        let counters = sqlx::query(
            "SELECT (bucket / ?) * ? AS h, kind, SUM(count) AS n FROM status_counters
             WHERE bucket >= ? GROUP BY h, kind",
        )
        .bind(HOUR_MS)
        .bind(HOUR_MS)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        let deliveries = sqlx::query(
            "SELECT delivered_at, delivered_at - created_at AS latency FROM deliveries
             WHERE status = 'delivered' AND created_at >= ? AND delivered_at >= ?",
        )
        .bind(since - 24 * HOUR_MS)
        .bind(since)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        assemble_activity(
            counters.iter().map(|r| {
                (
                    r.get::<i64, _>("h"),
                    r.get::<String, _>("kind"),
                    r.get::<i64, _>("n"),
                )
            }),
            deliveries
                .iter()
                .map(|r| (r.get::<i64, _>("delivered_at"), r.get::<i64, _>("latency"))),
        )
    }
}
