//! Sealed secrets ([`SecretStore`]), and the upsert that connection writes share so that
//! credentials change in the same transaction as their connection's row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use store::{SealedSecret, SecretSlot, SecretStore, StoreResult, from_millis, to_millis};

use crate::{SqliteStore, err};

fn secret_from_row(r: &SqliteRow) -> StoreResult<SealedSecret> {
    Ok(SealedSecret {
        slot: SecretSlot {
            owner: r.get("owner"),
            owner_id: r.get("owner_id"),
            name: r.get("name"),
        },
        key_id: r.get("key_id"),
        ciphertext: r.get("ciphertext"),
        version: r.get("version"),
        updated_at: from_millis(r.get("updated_at"))?,
    })
}

/// Inserts or replaces a sealed secret, bumping its version; returns the new version.
/// Shared by `put_secret` and the connection writes that seal credentials in their own
/// transaction.
pub(crate) async fn upsert_secret(
    conn: &mut sqlx::SqliteConnection,
    s: &SecretSlot,
    key_id: &str,
    ct: &[u8],
    at: DateTime<Utc>,
) -> StoreResult<i64> {
    sqlx::query_scalar(
        "INSERT INTO secrets (owner, owner_id, name, key_id, ciphertext, version, updated_at)
         VALUES (?, ?, ?, ?, ?, 1, ?)
         ON CONFLICT (owner, owner_id, name) DO UPDATE SET
           key_id = excluded.key_id, ciphertext = excluded.ciphertext,
           version = secrets.version + 1, updated_at = excluded.updated_at
         RETURNING version",
    )
    .bind(&s.owner)
    .bind(&s.owner_id)
    .bind(&s.name)
    .bind(key_id)
    .bind(ct)
    .bind(to_millis(at))
    .fetch_one(&mut *conn)
    .await
    .map_err(err)
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn put_secret(&self, s: &SecretSlot, key_id: &str, ct: &[u8]) -> StoreResult<i64> {
        let mut conn = self.pool.acquire().await.map_err(err)?;
        upsert_secret(&mut conn, s, key_id, ct, store::now()).await
    }

    async fn insert_secret_if_absent(
        &self,
        s: &SecretSlot,
        key_id: &str,
        ct: &[u8],
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "INSERT INTO secrets (owner, owner_id, name, key_id, ciphertext, version, updated_at)
             VALUES (?, ?, ?, ?, ?, 1, ?)
             ON CONFLICT (owner, owner_id, name) DO NOTHING",
        )
        .bind(&s.owner)
        .bind(&s.owner_id)
        .bind(&s.name)
        .bind(key_id)
        .bind(ct)
        .bind(to_millis(store::now()))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn get_secret(&self, s: &SecretSlot) -> StoreResult<Option<SealedSecret>> {
        sqlx::query("SELECT * FROM secrets WHERE owner = ? AND owner_id = ? AND name = ?")
            .bind(&s.owner)
            .bind(&s.owner_id)
            .bind(&s.name)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(secret_from_row)
            .transpose()
    }

    async fn delete_secret(&self, s: &SecretSlot) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM secrets WHERE owner = ? AND owner_id = ? AND name = ?")
            .bind(&s.owner)
            .bind(&s.owner_id)
            .bind(&s.name)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn delete_secrets_of(&self, owner: &str, owner_id: &str) -> StoreResult<u64> {
        let r = sqlx::query("DELETE FROM secrets WHERE owner = ? AND owner_id = ?")
            .bind(owner)
            .bind(owner_id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.rows_affected())
    }

    async fn secret_key_ids(&self) -> StoreResult<Vec<(String, u64)>> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT key_id, COUNT(*) FROM secrets GROUP BY key_id ORDER BY key_id")
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
        Ok(rows.into_iter().map(|(k, n)| (k, n as u64)).collect())
    }

    async fn count_secrets_not_under(&self, key_id: &str) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM secrets WHERE key_id <> ?")
            .bind(key_id)
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        Ok(n as u64)
    }

    async fn secrets_not_under(
        &self,
        key_id: &str,
        after: Option<&SecretSlot>,
        limit: u32,
    ) -> StoreResult<Vec<SealedSecret>> {
        let rows = match after {
            None => {
                sqlx::query(
                    "SELECT * FROM secrets WHERE key_id <> ?
                 ORDER BY owner, owner_id, name LIMIT ?",
                )
                .bind(key_id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
            }
            Some(a) => sqlx::query(
                "SELECT * FROM secrets WHERE key_id <> ? AND (owner, owner_id, name) > (?, ?, ?)
                 ORDER BY owner, owner_id, name LIMIT ?",
            )
            .bind(key_id)
            .bind(&a.owner)
            .bind(&a.owner_id)
            .bind(&a.name)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await,
        }
        .map_err(err)?;
        rows.iter().map(secret_from_row).collect()
    }

    async fn replace_secret_if(
        &self,
        s: &SecretSlot,
        expected_version: i64,
        key_id: &str,
        ct: &[u8],
    ) -> StoreResult<bool> {
        let r = sqlx::query(
            "UPDATE secrets SET key_id = ?, ciphertext = ?, version = version + 1, updated_at = ?
             WHERE owner = ? AND owner_id = ? AND name = ? AND version = ?",
        )
        .bind(key_id)
        .bind(ct)
        .bind(to_millis(store::now()))
        .bind(&s.owner)
        .bind(&s.owner_id)
        .bind(&s.name)
        .bind(expected_version)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }
}
