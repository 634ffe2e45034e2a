//! [`ConnectionStore`] on PostgreSQL. Writes that touch a connection's row and its
//! sealed credentials run in one transaction; the row lock taken by the first write
//! orders concurrent writers, and the fence in every refresh write's `WHERE` decides.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use store::{
    ConnectSession, Connection, ConnectionFilter, ConnectionStatus, ConnectionStore, HealthCheck,
    HealthResult, Lease, OAuthState, RefreshCommit, SealedCredentials, SealedOAuthState,
    StoreError, StoreResult, Upsert, from_millis, to_millis,
};

use crate::{PgStore, col, count, err, opt_millis};

/// `store::credentials_slot`'s owner and name, as SQL needs them.
const OWNER: &str = "connections";
const NAME: &str = "credentials";

fn json<T: serde::Serialize>(v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(e.to_string()))
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn opt_ms(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(to_millis)
}

fn connection_from_row(r: &PgRow) -> StoreResult<Connection> {
    let status: String = col(r, "status")?;
    let failures: i64 = col(r, "refresh_failures")?;
    let scopes: String = col(r, "scopes")?;
    let missing: String = col(r, "missing_scopes")?;
    let settings: String = col(r, "settings")?;
    Ok(Connection {
        id: col(r, "id")?,
        integration: col(r, "integration")?,
        provider: col(r, "provider")?,
        end_user_id: col(r, "end_user_id")?,
        auth_mode: col(r, "auth_mode")?,
        status: ConnectionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("connection status {status:?}")))?,
        scopes: parse_json(&scopes, "connection scopes")?,
        missing_scopes: parse_json(&missing, "connection missing_scopes")?,
        settings: parse_json::<BTreeMap<String, String>>(&settings, "connection settings")?,
        routing_key: col(r, "routing_key")?,
        expires_at: opt_millis(col(r, "expires_at")?)?,
        created_at: from_millis(col(r, "created_at")?)?,
        updated_at: from_millis(col(r, "updated_at")?)?,
        last_refresh_at: opt_millis(col(r, "last_refresh_at")?)?,
        last_error: col(r, "last_error")?,
        refresh_failures: u32::try_from(failures).unwrap_or(u32::MAX),
        next_refresh_at: opt_millis(col(r, "next_refresh_at")?)?,
        token_version: col(r, "token_version")?,
        token_obtained_at: opt_millis(col(r, "token_obtained_at")?)?,
        health: health_from_row(r)?,
    })
}

fn health_from_row(r: &PgRow) -> StoreResult<Option<HealthCheck>> {
    let Some(at) = opt_millis(col(r, "health_checked_at")?)? else {
        return Ok(None);
    };
    let result: Option<String> = col(r, "health_result")?;
    let result = result.unwrap_or_default();
    Ok(Some(HealthCheck {
        checked_at: at,
        result: HealthResult::parse(&result)
            .ok_or_else(|| StoreError::Corrupt(format!("connection health_result {result:?}")))?,
        detail: col(r, "health_detail")?,
    }))
}

fn session_from_row(r: &PgRow) -> StoreResult<ConnectSession> {
    let integrations: String = col(r, "integrations")?;
    Ok(ConnectSession {
        token_hash: col(r, "token_hash")?,
        end_user_id: col(r, "end_user_id")?,
        integrations: parse_json(&integrations, "session integrations")?,
        connection_id: col(r, "connection_id")?,
        return_to: col(r, "return_to")?,
        opener_origin: col(r, "opener_origin")?,
        created_at: from_millis(col(r, "created_at")?)?,
        expires_at: from_millis(col(r, "expires_at")?)?,
    })
}

fn state_from_row(r: &PgRow) -> StoreResult<OAuthState> {
    let settings: String = col(r, "settings")?;
    Ok(OAuthState {
        state_hash: col(r, "state_hash")?,
        integration: col(r, "integration")?,
        connection_id: col(r, "connection_id")?,
        end_user_id: col(r, "end_user_id")?,
        session_hash: col(r, "session_hash")?,
        return_to: col(r, "return_to")?,
        opener_origin: col(r, "opener_origin")?,
        settings: parse_json(&settings, "state settings")?,
        sealed: col(r, "sealed")?,
        created_at: from_millis(col(r, "created_at")?)?,
        expires_at: from_millis(col(r, "expires_at")?)?,
    })
}

/// Writes the sealed credentials of `id` inside `tx`.
async fn put_credentials(
    tx: &mut sqlx::PgConnection,
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
    tx: &mut sqlx::PgConnection,
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
            sqlx::query("DELETE FROM secrets WHERE owner = $1 AND owner_id = $2 AND name = $3")
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

/// The connection `id`, locked until the end of the transaction.
async fn lock_connection(tx: &mut sqlx::PgConnection, id: &str) -> StoreResult<Option<Connection>> {
    sqlx::query("SELECT * FROM connections WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?
        .as_ref()
        .map(connection_from_row)
        .transpose()
}

#[async_trait]
impl ConnectionStore for PgStore {
    async fn upsert_connection_keyed(
        &self,
        c: &Connection,
        credentials: &SealedCredentials,
        signing_key: Option<&SealedCredentials>,
    ) -> StoreResult<Upsert> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        let mut existing = lock_connection(&mut tx, &c.id).await?;
        if existing.is_none() {
            // Nobody had it: insert, unless another instance inserts it meanwhile (then
            // ON CONFLICT waits for its commit, and the row is read and locked below).
            let created = sqlx::query(
                "INSERT INTO connections (id, integration, provider, end_user_id, auth_mode,
                   status, scopes, missing_scopes, settings, routing_key, expires_at,
                   created_at, updated_at, last_refresh_at, last_error, refresh_failures,
                   next_refresh_at, token_version, token_obtained_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                   $16, $17, 1, $13)
                 ON CONFLICT (id) DO NOTHING",
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
            .execute(&mut *tx)
            .await
            .map_err(err)?;
            if created.rows_affected() == 1 {
                put_credentials(&mut tx, &c.id, credentials, c.updated_at).await?;
                put_signing_key(&mut tx, &c.id, signing_key, c.updated_at).await?;
                tx.commit().await.map_err(err)?;
                let mut stored = c.clone();
                stored.token_version = 1;
                stored.token_obtained_at = Some(c.updated_at);
                stored.health = None;
                return Ok(Upsert::Created(stored));
            }
            existing = lock_connection(&mut tx, &c.id).await?;
        }
        let Some(old) = existing else {
            return Err(StoreError::Conflict(format!(
                "connection {} was deleted while it was being created; try again",
                c.id
            )));
        };
        if old.integration != c.integration || old.end_user_id != c.end_user_id {
            return Ok(Upsert::Taken);
        }
        sqlx::query(
            "UPDATE connections SET provider = $1, auth_mode = $2, status = $3, scopes = $4,
               missing_scopes = $5, settings = $6, routing_key = $7, expires_at = $8,
               updated_at = $9, last_refresh_at = $10, last_error = $11,
               refresh_failures = $12, next_refresh_at = $13,
               token_version = token_version + 1, lease_until = NULL,
               lease_fence = lease_fence + 1, token_obtained_at = $9,
               health_checked_at = NULL, health_result = NULL, health_detail = NULL,
               health_next_at = NULL
             WHERE id = $14",
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
        .bind(&c.id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        put_credentials(&mut tx, &c.id, credentials, c.updated_at).await?;
        put_signing_key(&mut tx, &c.id, signing_key, c.updated_at).await?;
        tx.commit().await.map_err(err)?;
        let mut stored = c.clone();
        stored.created_at = old.created_at;
        stored.token_version = old.token_version + 1;
        stored.token_obtained_at = Some(c.updated_at);
        stored.health = None;
        Ok(Upsert::Replaced(stored))
    }

    async fn get_connection(&self, id: &str) -> StoreResult<Option<Connection>> {
        sqlx::query("SELECT * FROM connections WHERE id = $1")
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
             JOIN secrets s ON s.owner = $1 AND s.owner_id = c.id AND s.name = $2
             WHERE c.id = $3",
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
                    key_id: col(&r, "cred_key_id")?,
                    ciphertext: col(&r, "cred_ciphertext")?,
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
             WHERE ($1::text IS NULL OR integration = $1)
               AND ($2::text IS NULL OR end_user_id = $2)
               AND ($3::text IS NULL OR status = $3)
               AND ($4::text IS NULL OR id > $4)
             ORDER BY id LIMIT $5",
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
                Ok((i, status, count(n)))
            })
            .collect()
    }

    async fn connection_by_routing_key(
        &self,
        integration: &str,
        key: &str,
    ) -> StoreResult<Option<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM connections WHERE integration = $1 AND routing_key = $2
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
            "SELECT * FROM connections WHERE integration = $1 AND routing_key = $2
             ORDER BY id LIMIT $3",
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
        // One statement: the row lock serialises racing instances, and the loser sees
        // the winner's lease when its WHERE is checked again.
        let row: Option<(i64, i64)> = sqlx::query_as(
            "UPDATE connections SET lease_fence = lease_fence + 1, lease_until = $1
             WHERE id = $2 AND (lease_until IS NULL OR lease_until <= $3)
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
        let mut tx = self.pool.begin().await.map_err(err)?;
        let updated = if c.credentials.is_some() {
            sqlx::query(
                "UPDATE connections SET status = $1, last_error = $2, last_refresh_at = $3,
                   refresh_failures = $4, next_refresh_at = $5, updated_at = $6,
                   expires_at = $7, scopes = $8, token_version = token_version + 1,
                   lease_until = NULL, lease_fence = lease_fence + 1, token_obtained_at = $6
                 WHERE id = $9 AND lease_fence = $10",
            )
            .bind(c.status.as_str())
            .bind(&c.last_error)
            .bind(opt_ms(c.last_refresh_at))
            .bind(i64::from(c.refresh_failures))
            .bind(opt_ms(c.next_refresh_at))
            .bind(to_millis(c.at))
            .bind(opt_ms(c.expires_at))
            .bind(json(&c.scopes)?)
            .bind(id)
            .bind(fence)
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query(
                "UPDATE connections SET status = $1, last_error = $2,
                   last_refresh_at = COALESCE($3, last_refresh_at),
                   refresh_failures = $4, next_refresh_at = $5, updated_at = $6,
                   lease_until = NULL, lease_fence = lease_fence + 1
                 WHERE id = $7 AND lease_fence = $8",
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
             WHERE id = $1 AND lease_fence = $2",
        )
        .bind(id)
        .bind(fence)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn revoke_connection(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        // The row first: its lock orders this against a refresh commit of the same
        // connection, whose credentials write then cannot come after the delete.
        let r = sqlx::query(
            "UPDATE connections SET status = 'revoked', expires_at = NULL,
               next_refresh_at = NULL, lease_until = NULL, updated_at = $1,
               token_version = token_version + 1, lease_fence = lease_fence + 1
             WHERE id = $2",
        )
        .bind(to_millis(at))
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        sqlx::query("DELETE FROM secrets WHERE owner = $1 AND owner_id = $2")
            .bind(OWNER)
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
            "UPDATE connections SET status = $1, last_error = $2, updated_at = $3 WHERE id = $4",
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
        let mut tx = self.pool.begin().await.map_err(err)?;
        // The row first, as in `revoke_connection`.
        let r = sqlx::query("DELETE FROM connections WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        sqlx::query("DELETE FROM secrets WHERE owner = $1 AND owner_id = $2")
            .bind(OWNER)
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
             WHERE status = 'active' AND next_refresh_at IS NOT NULL AND next_refresh_at <= $1
             ORDER BY next_refresh_at LIMIT $2",
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
        let rows = sqlx::query(
            "UPDATE connections SET health_next_at = $1
             WHERE id IN (
               SELECT id FROM connections
               WHERE integration = $2 AND status = 'active'
                 AND (health_next_at IS NULL OR health_next_at <= $3)
               ORDER BY health_next_at NULLS FIRST, id
               LIMIT $4
               FOR UPDATE SKIP LOCKED)
             RETURNING *",
        )
        .bind(to_millis(next))
        .bind(integration)
        .bind(to_millis(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
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
            "UPDATE connections SET lifecycle_at = $1
             WHERE id = $2 AND lease_fence = $3 AND (lifecycle_at IS NULL OR lifecycle_at < $1)",
        )
        .bind(to_millis(at))
        .bind(id)
        .bind(fence)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn record_health_check(&self, id: &str, check: &HealthCheck) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE connections SET health_checked_at = $1, health_result = $2,
               health_detail = $3
             WHERE id = $4",
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
        sqlx::query("SELECT * FROM connect_sessions WHERE token_hash = $1")
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
        sqlx::query("DELETE FROM oauth_states WHERE state_hash = $1 RETURNING *")
            .bind(state_hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(state_from_row)
            .transpose()
    }

    async fn purge_expired_flows(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let (states, sessions): (i64, i64) = sqlx::query_as(
            "WITH s AS (DELETE FROM oauth_states WHERE expires_at < $1 RETURNING 1),
                  c AS (DELETE FROM connect_sessions WHERE expires_at < $1 RETURNING 1)
             SELECT (SELECT COUNT(*) FROM s), (SELECT COUNT(*) FROM c)",
        )
        .bind(to_millis(now))
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        Ok(count(states) + count(sessions))
    }

    async fn oauth_state_key_ids(&self, now: DateTime<Utc>) -> StoreResult<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT key_id, COUNT(*) FROM oauth_states WHERE expires_at >= $1
             GROUP BY key_id ORDER BY key_id",
        )
        .bind(to_millis(now))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        Ok(rows.into_iter().map(|(k, n)| (k, count(n))).collect())
    }

    async fn oauth_states_not_under(
        &self,
        key_id: &str,
        now: DateTime<Utc>,
        after: Option<&[u8]>,
        limit: u32,
    ) -> StoreResult<Vec<SealedOAuthState>> {
        // bytea compares bytewise, as the trait's order says.
        let rows: Vec<(Vec<u8>, String, Vec<u8>)> = sqlx::query_as(
            "SELECT state_hash, key_id, sealed FROM oauth_states
             WHERE key_id <> $1 AND expires_at >= $2
               AND ($3::bytea IS NULL OR state_hash > $3::bytea)
             ORDER BY state_hash LIMIT $4",
        )
        .bind(key_id)
        .bind(to_millis(now))
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
        let r = sqlx::query(
            "UPDATE oauth_states SET sealed = $1 WHERE state_hash = $2 AND sealed = $3",
        )
        .bind(sealed)
        .bind(state_hash)
        .bind(expected)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }
}
