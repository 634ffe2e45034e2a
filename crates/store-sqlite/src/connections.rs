//! [`ConnectionStore`] on SQLite. Writes that touch a connection's row and its sealed
//! credentials run in one `BEGIN IMMEDIATE` transaction.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use store::{
    ConnectSession, Connection, ConnectionFilter, ConnectionStatus, ConnectionStore, HealthCheck,
    HealthResult, Lease, OAuthState, RefreshCommit, SealedCredentials, SealedOAuthState,
    StoreError, StoreResult, Upsert, from_millis, to_millis,
};

use crate::{SqliteStore, err, opt_millis};

/// `store::credentials_slot`'s owner and name, as SQL needs them.
pub(crate) const OWNER: &str = "connections";
pub(crate) const NAME: &str = "credentials";

fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(e.to_string()))
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(to_millis)
}

fn connection_from_row(r: &SqliteRow) -> StoreResult<Connection> {
    let status: String = r.get("status");
    let failures: i64 = r.get("refresh_failures");
    Ok(Connection {
        id: r.get("id"),
        integration: r.get("integration"),
        provider: r.get("provider"),
        end_user_id: r.get("end_user_id"),
        auth_mode: r.get("auth_mode"),
        status: ConnectionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("connection status {status:?}")))?,
        scopes: parse_json(r.get("scopes"), "connection scopes")?,
        missing_scopes: parse_json(r.get("missing_scopes"), "connection missing_scopes")?,
        settings: parse_json::<BTreeMap<String, String>>(r.get("settings"), "connection settings")?,
        routing_key: r.get("routing_key"),
        expires_at: opt_millis(r.get("expires_at"))?,
        created_at: from_millis(r.get("created_at"))?,
        updated_at: from_millis(r.get("updated_at"))?,
        last_refresh_at: opt_millis(r.get("last_refresh_at"))?,
        last_error: r.get("last_error"),
        refresh_failures: u32::try_from(failures).unwrap_or(u32::MAX),
        next_refresh_at: opt_millis(r.get("next_refresh_at"))?,
        token_version: r.get("token_version"),
        token_obtained_at: opt_millis(r.get("token_obtained_at"))?,
        health: health_from_row(r)?,
    })
}

fn health_from_row(r: &SqliteRow) -> StoreResult<Option<HealthCheck>> {
    let Some(at) = opt_millis(r.get("health_checked_at"))? else {
        return Ok(None);
    };
    let result: String = r
        .get::<Option<String>, _>("health_result")
        .unwrap_or_default();
    Ok(Some(HealthCheck {
        checked_at: at,
        result: HealthResult::parse(&result)
            .ok_or_else(|| StoreError::Corrupt(format!("connection health_result {result:?}")))?,
        detail: r.get("health_detail"),
    }))
}

fn session_from_row(r: &SqliteRow) -> StoreResult<ConnectSession> {
    Ok(ConnectSession {
        token_hash: r.get("token_hash"),
        end_user_id: r.get("end_user_id"),
        integrations: parse_json(r.get("integrations"), "session integrations")?,
        connection_id: r.get("connection_id"),
        return_to: r.get("return_to"),
        opener_origin: r.get("opener_origin"),
        created_at: from_millis(r.get("created_at"))?,
        expires_at: from_millis(r.get("expires_at"))?,
    })
}

fn state_from_row(r: &SqliteRow) -> StoreResult<OAuthState> {
    Ok(OAuthState {
        state_hash: r.get("state_hash"),
        integration: r.get("integration"),
        connection_id: r.get("connection_id"),
        end_user_id: r.get("end_user_id"),
        session_hash: r.get("session_hash"),
        return_to: r.get("return_to"),
        opener_origin: r.get("opener_origin"),
        settings: parse_json(r.get("settings"), "state settings")?,
        sealed: r.get("sealed"),
        created_at: from_millis(r.get("created_at"))?,
        expires_at: from_millis(r.get("expires_at"))?,
    })
}

/// Writes the sealed credentials of `id` inside `tx`.
async fn put_credentials(
    tx: &mut sqlx::SqliteConnection,
    id: &str,
    c: &SealedCredentials,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    crate::secrets::upsert_secret(
        tx,
        &store::credentials_slot(id),
        &c.key_id,
        &c.ciphertext,
        at,
    )
    .await?;
    Ok(())
}

/// Writes the connection's own signing key inside `tx`, or removes it (`None`).
async fn put_signing_key(
    tx: &mut sqlx::SqliteConnection,
    id: &str,
    key: Option<&SealedCredentials>,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    let slot = store::signing_key_slot(id);
    match key {
        Some(k) => {
            crate::secrets::upsert_secret(tx, &slot, &k.key_id, &k.ciphertext, at).await?;
        }
        None => {
            sqlx::query("DELETE FROM secrets WHERE owner = ? AND owner_id = ? AND name = ?")
                .bind(&slot.owner)
                .bind(&slot.owner_id)
                .bind(&slot.name)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
    }
    Ok(())
}

#[async_trait]
impl ConnectionStore for SqliteStore {
    async fn upsert_connection_keyed(
        &self,
        c: &Connection,
        credentials: &SealedCredentials,
        signing_key: Option<&SealedCredentials>,
    ) -> StoreResult<Upsert> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let existing = sqlx::query("SELECT * FROM connections WHERE id = ?")
            .bind(&c.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?
            .as_ref()
            .map(connection_from_row)
            .transpose()?;
        let outcome = match existing {
            Some(old) if old.integration != c.integration || old.end_user_id != c.end_user_id => {
                return Ok(Upsert::Taken);
            }
            Some(old) => {
                sqlx::query(
                    "UPDATE connections SET provider = ?, auth_mode = ?, status = ?, scopes = ?,
                       missing_scopes = ?, settings = ?, routing_key = ?, expires_at = ?,
                       updated_at = ?, last_refresh_at = ?, last_error = ?,
                       refresh_failures = ?, next_refresh_at = ?,
                       token_version = token_version + 1, lease_until = NULL,
                       lease_fence = lease_fence + 1, token_obtained_at = ?,
                       health_checked_at = NULL, health_result = NULL,
                       health_detail = NULL, health_next_at = NULL
                     WHERE id = ?",
                )
                .bind(&c.provider)
                .bind(&c.auth_mode)
                .bind(c.status.as_str())
                .bind(json(&c.scopes)?)
                .bind(json(&c.missing_scopes)?)
                .bind(json(&c.settings)?)
                .bind(&c.routing_key)
                .bind(opt_ms(c.expires_at))
                .bind(to_millis(c.updated_at))
                .bind(opt_ms(c.last_refresh_at))
                .bind(&c.last_error)
                .bind(i64::from(c.refresh_failures))
                .bind(opt_ms(c.next_refresh_at))
                .bind(to_millis(c.updated_at))
                .bind(&c.id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
                let mut stored = c.clone();
                stored.created_at = old.created_at;
                stored.token_version = old.token_version + 1;
                stored.token_obtained_at = Some(c.updated_at);
                stored.health = None;
                Upsert::Replaced(stored)
            }
            None => {
                sqlx::query(
                    "INSERT INTO connections (id, integration, provider, end_user_id, auth_mode,
                       status, scopes, missing_scopes, settings, routing_key, expires_at,
                       created_at, updated_at, last_refresh_at, last_error, refresh_failures,
                       next_refresh_at, token_version, token_obtained_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                )
                .bind(&c.id)
                .bind(&c.integration)
                .bind(&c.provider)
                .bind(&c.end_user_id)
                .bind(&c.auth_mode)
                .bind(c.status.as_str())
                .bind(json(&c.scopes)?)
                .bind(json(&c.missing_scopes)?)
                .bind(json(&c.settings)?)
                .bind(&c.routing_key)
                .bind(opt_ms(c.expires_at))
                .bind(to_millis(c.created_at))
                .bind(to_millis(c.updated_at))
                .bind(opt_ms(c.last_refresh_at))
                .bind(&c.last_error)
                .bind(i64::from(c.refresh_failures))
                .bind(opt_ms(c.next_refresh_at))
                .bind(to_millis(c.updated_at))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
                let mut stored = c.clone();
                stored.token_version = 1;
                stored.token_obtained_at = Some(c.updated_at);
                stored.health = None;
                Upsert::Created(stored)
            }
        };
        put_credentials(&mut tx, &c.id, credentials, c.updated_at).await?;
        put_signing_key(&mut tx, &c.id, signing_key, c.updated_at).await?;
        tx.commit().await.map_err(err)?;
        Ok(outcome)
    }

    async fn get_connection(&self, id: &str) -> StoreResult<Option<Connection>> {
        sqlx::query("SELECT * FROM connections WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(connection_from_row)
            .transpose()
    }

    async fn get_connection_credentials(
        &self,
        id: &str,
    ) -> StoreResult<Option<(Connection, SealedCredentials)>> {
        let row = sqlx::query(
            "SELECT c.*, s.key_id AS cred_key_id, s.ciphertext AS cred_ciphertext
             FROM connections c
             JOIN secrets s ON s.owner = ? AND s.owner_id = c.id AND s.name = ?
             WHERE c.id = ?",
        )
        .bind(OWNER)
        .bind(NAME)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        row.map(|r| {
            Ok((
                connection_from_row(&r)?,
                SealedCredentials {
                    key_id: r.get("cred_key_id"),
                    ciphertext: r.get("cred_ciphertext"),
                },
            ))
        })
        .transpose()
    }

    async fn list_connections(
        &self,
        filter: &ConnectionFilter,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Connection>> {
        let rows = sqlx::query(
            "SELECT * FROM connections
             WHERE (?1 IS NULL OR integration = ?1)
               AND (?2 IS NULL OR end_user_id = ?2)
               AND (?3 IS NULL OR status = ?3)
               AND (?4 IS NULL OR id > ?4)
             ORDER BY id LIMIT ?5",
        )
        .bind(&filter.integration)
        .bind(&filter.end_user_id)
        .bind(filter.status.map(ConnectionStatus::as_str))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(connection_from_row).collect()
    }

    async fn count_connections(&self) -> StoreResult<Vec<(String, ConnectionStatus, u64)>> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT integration, status, COUNT(*) FROM connections
             GROUP BY integration, status ORDER BY integration, status",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.into_iter()
            .map(|(i, s, n)| {
                let status = ConnectionStatus::parse(&s)
                    .ok_or_else(|| StoreError::Corrupt(format!("connection status {s:?}")))?;
                Ok((i, status, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    async fn connection_by_routing_key(
        &self,
        integration: &str,
        key: &str,
    ) -> StoreResult<Option<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM connections WHERE integration = ? AND routing_key = ?
             ORDER BY id LIMIT 2",
        )
        .bind(integration)
        .bind(key)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(if ids.len() == 1 {
            ids.into_iter().next()
        } else {
            None
        })
    }

    async fn connections_by_routing_key(
        &self,
        integration: &str,
        key: &str,
        limit: u32,
    ) -> StoreResult<Vec<Connection>> {
        let rows = sqlx::query(
            "SELECT * FROM connections WHERE integration = ? AND routing_key = ?
             ORDER BY id LIMIT ?",
        )
        .bind(integration)
        .bind(key)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(connection_from_row).collect()
    }

    async fn acquire_refresh_lease(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Option<Lease>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE connections SET lease_fence = lease_fence + 1, lease_until = ?
             WHERE id = ? AND (lease_until IS NULL OR lease_until <= ?)
             RETURNING lease_fence, token_version",
        )
        .bind(to_millis(until))
        .bind(id)
        .bind(to_millis(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        Ok(row.map(|(fence, token_version)| Lease {
            fence,
            token_version,
        }))
    }

    async fn commit_refresh(&self, id: &str, fence: i64, c: &RefreshCommit) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let updated = if c.credentials.is_some() {
            sqlx::query(
                "UPDATE connections SET status = ?, last_error = ?, last_refresh_at = ?,
                   refresh_failures = ?, next_refresh_at = ?, updated_at = ?,
                   expires_at = ?, scopes = ?, token_version = token_version + 1,
                   lease_until = NULL, lease_fence = lease_fence + 1,
                   token_obtained_at = ?
                 WHERE id = ? AND lease_fence = ?",
            )
            .bind(c.status.as_str())
            .bind(&c.last_error)
            .bind(opt_ms(c.last_refresh_at))
            .bind(i64::from(c.refresh_failures))
            .bind(opt_ms(c.next_refresh_at))
            .bind(to_millis(c.at))
            .bind(opt_ms(c.expires_at))
            .bind(json(&c.scopes)?)
            .bind(to_millis(c.at))
            .bind(id)
            .bind(fence)
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query(
                "UPDATE connections SET status = ?, last_error = ?,
                   last_refresh_at = COALESCE(?, last_refresh_at),
                   refresh_failures = ?, next_refresh_at = ?, updated_at = ?,
                   lease_until = NULL, lease_fence = lease_fence + 1
                 WHERE id = ? AND lease_fence = ?",
            )
            .bind(c.status.as_str())
            .bind(&c.last_error)
            .bind(opt_ms(c.last_refresh_at))
            .bind(i64::from(c.refresh_failures))
            .bind(opt_ms(c.next_refresh_at))
            .bind(to_millis(c.at))
            .bind(id)
            .bind(fence)
            .execute(&mut *tx)
            .await
        }
        .map_err(err)?;
        if updated.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(creds) = &c.credentials {
            put_credentials(&mut tx, id, creds, c.at).await?;
        }
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn release_refresh_lease(&self, id: &str, fence: i64) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE connections SET lease_until = NULL, lease_fence = lease_fence + 1
             WHERE id = ? AND lease_fence = ?",
        )
        .bind(id)
        .bind(fence)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_connection(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        sqlx::query("DELETE FROM secrets WHERE owner = ? AND owner_id = ?")
            .bind(OWNER)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let r = sqlx::query(
            "UPDATE connections SET status = 'revoked', expires_at = NULL,
               next_refresh_at = NULL, lease_until = NULL, updated_at = ?,
               token_version = token_version + 1, lease_fence = lease_fence + 1
             WHERE id = ?",
        )
        .bind(to_millis(at))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn set_connection_status(
        &self,
        id: &str,
        status: ConnectionStatus,
        last_error: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE connections SET status = ?, last_error = ?, updated_at = ? WHERE id = ?",
        )
        .bind(status.as_str())
        .bind(last_error)
        .bind(to_millis(at))
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_connection(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        sqlx::query("DELETE FROM secrets WHERE owner = ? AND owner_id = ?")
            .bind(OWNER)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let r = sqlx::query("DELETE FROM connections WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn connections_due(
        &self,
        due: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Connection>> {
        let rows = sqlx::query(
            "SELECT * FROM connections
             WHERE status = 'active' AND next_refresh_at IS NOT NULL AND next_refresh_at <= ?
             ORDER BY next_refresh_at LIMIT ?",
        )
        .bind(to_millis(due))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter().map(connection_from_row).collect()
    }

    async fn claim_health_checks(
        &self,
        integration: &str,
        now: DateTime<Utc>,
        next: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Connection>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let rows = sqlx::query(
            "UPDATE connections SET health_next_at = ?1
             WHERE id IN (
               SELECT id FROM connections
               WHERE integration = ?2 AND status = 'active'
                 AND (health_next_at IS NULL OR health_next_at <= ?3)
               ORDER BY health_next_at IS NOT NULL, health_next_at, id
               LIMIT ?4)
             RETURNING *",
        )
        .bind(to_millis(next))
        .bind(integration)
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        let mut out = rows
            .iter()
            .map(connection_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn advance_lifecycle_at(
        &self,
        id: &str,
        fence: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE connections SET lifecycle_at = ?
             WHERE id = ? AND lease_fence = ? AND (lifecycle_at IS NULL OR lifecycle_at < ?)",
        )
        .bind(to_millis(at))
        .bind(id)
        .bind(fence)
        .bind(to_millis(at))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn record_health_check(&self, id: &str, check: &HealthCheck) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE connections SET health_checked_at = ?, health_result = ?, health_detail = ?
             WHERE id = ?",
        )
        .bind(to_millis(check.checked_at))
        .bind(check.result.as_str())
        .bind(&check.detail)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_connect_session(&self, s: &ConnectSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO connect_sessions (token_hash, end_user_id, integrations, connection_id,
               return_to, opener_origin, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.token_hash)
        .bind(&s.end_user_id)
        .bind(json(&s.integrations)?)
        .bind(&s.connection_id)
        .bind(&s.return_to)
        .bind(&s.opener_origin)
        .bind(to_millis(s.created_at))
        .bind(to_millis(s.expires_at))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn get_connect_session(&self, token_hash: &[u8]) -> StoreResult<Option<ConnectSession>> {
        sqlx::query("SELECT * FROM connect_sessions WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn insert_oauth_state(&self, s: &OAuthState) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, integration, connection_id, end_user_id,
               session_hash, return_to, opener_origin, settings, sealed, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.state_hash)
        .bind(&s.integration)
        .bind(&s.connection_id)
        .bind(&s.end_user_id)
        .bind(&s.session_hash)
        .bind(&s.return_to)
        .bind(&s.opener_origin)
        .bind(json(&s.settings)?)
        .bind(&s.sealed)
        .bind(to_millis(s.created_at))
        .bind(to_millis(s.expires_at))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn take_oauth_state(&self, state_hash: &[u8]) -> StoreResult<Option<OAuthState>> {
        sqlx::query("DELETE FROM oauth_states WHERE state_hash = ? RETURNING *")
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(state_from_row)
            .transpose()
    }

    async fn purge_expired_flows(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let now = to_millis(now);
        // A background sweep: it queues behind the event writer and the delivery queue
        // instead of sleeping in SQLite's busy handler while they write.
        let _turn = self.write_lock().await;
        let a = sqlx::query("DELETE FROM oauth_states WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        let b = sqlx::query("DELETE FROM connect_sessions WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    async fn oauth_state_key_ids(&self, now: DateTime<Utc>) -> StoreResult<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT key_id, COUNT(*) FROM oauth_states WHERE expires_at >= ?
             GROUP BY key_id ORDER BY key_id",
        )
        .bind(to_millis(now))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows.into_iter().map(|(k, n)| (k, n as u64)).collect())
    }

    async fn oauth_states_not_under(
        &self,
        key_id: &str,
        now: DateTime<Utc>,
        after: Option<&[u8]>,
        limit: u32,
    ) -> StoreResult<Vec<SealedOAuthState>> {
        // BLOBs compare with memcmp(), so the order is bytewise, as the trait says.
        let rows: Vec<(Vec<u8>, String, Vec<u8>)> = sqlx::query_as(
            "SELECT state_hash, key_id, sealed FROM oauth_states
             WHERE key_id <> ? AND expires_at >= ? AND (? IS NULL OR state_hash > ?)
             ORDER BY state_hash LIMIT ?",
        )
        .bind(key_id)
        .bind(to_millis(now))
        .bind(after)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|(state_hash, key_id, sealed)| SealedOAuthState {
                state_hash,
                key_id,
                sealed,
            })
            .collect())
    }

    async fn replace_oauth_state_sealed_if(
        &self,
        state_hash: &[u8],
        expected: &[u8],
        sealed: &[u8],
    ) -> StoreResult<bool> {
        let r =
            sqlx::query("UPDATE oauth_states SET sealed = ? WHERE state_hash = ? AND sealed = ?")
                .bind(sealed)
                .bind(state_hash)
                .bind(expected)
                .execute(&self.pool)
                .await
                .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }
}
