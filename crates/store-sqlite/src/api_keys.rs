//! API keys ([`ApiKeyStore`]): only the hash of a key's secret is stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use store::{ApiKeyRecord, ApiKeyStore, Scope, StoreError, StoreResult, from_millis, to_millis};

use crate::{SqliteStore, err, opt_millis};

fn api_key_from_row(r: &SqliteRow) -> StoreResult<ApiKeyRecord> {
    let scope: String = r.get("scope");
    Ok(ApiKeyRecord {
        id: r.get("id"),
        name: r.get("name"),
        scope: Scope::parse(&scope)
            .ok_or_else(|| StoreError::Corrupt(format!("api key scope {scope:?}")))?,
        secret_hash: r.get("secret_hash"),
        created_at: from_millis(r.get("created_at"))?,
        last_used_at: opt_millis(r.get("last_used_at"))?,
        revoked_at: opt_millis(r.get("revoked_at"))?,
    })
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn insert_api_key(&self, k: &ApiKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, scope, secret_hash, created_at, last_used_at, revoked_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        sqlx::query("SELECT * FROM api_keys WHERE id = ?")
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
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(to_millis(at))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
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
        Ok(n as u64)
    }
}
