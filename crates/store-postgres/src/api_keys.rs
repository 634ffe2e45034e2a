//! API keys ([`ApiKeyStore`]): only the hash of a key's secret is stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use store::{ApiKeyRecord, ApiKeyStore, Scope, StoreError, StoreResult, from_millis, to_millis};

use crate::{PgStore, col, count, err, opt_millis};

fn api_key_from_row(r: &PgRow) -> StoreResult<ApiKeyRecord> {
    let scope: String = col(r, "scope")?;
    Ok(ApiKeyRecord {
        id: col(r, "id")?,
        name: col(r, "name")?,
        scope: Scope::parse(&scope)
            .ok_or_else(|| StoreError::Corrupt(format!("api key scope {scope:?}")))?,
        secret_hash: col(r, "secret_hash")?,
        created_at: from_millis(col(r, "created_at")?)?,
        last_used_at: opt_millis(col(r, "last_used_at")?)?,
        revoked_at: opt_millis(col(r, "revoked_at")?)?,
    })
}

#[async_trait]
impl ApiKeyStore for PgStore {
    async fn insert_api_key(&self, k: &ApiKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, scope, secret_hash, created_at, last_used_at, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&k.id)
        .bind(&k.name)
        .bind(k.scope.as_str())
        .bind(&k.secret_hash)
        .bind(to_millis(k.created_at))
        .bind(k.last_used_at.map(to_millis))
        .bind(k.revoked_at.map(to_millis))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        sqlx::query("SELECT * FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(api_key_from_row)
            .transpose()
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        sqlx::query("SELECT * FROM api_keys ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .iter()
            .map(api_key_from_row)
            .collect()
    }

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        let r =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(to_millis(at))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(to_millis(at))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn count_active_api_keys(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        Ok(count(n))
    }
}
