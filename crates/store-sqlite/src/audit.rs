//! The hash-chained audit log ([`AuditStore`]). An append reads the head and writes the
//! row in one `BEGIN IMMEDIATE` transaction, so appends from several processes serialise.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use store::{
    AuditCheckpoint, AuditEntry, AuditRecord, AuditStore, GENESIS_HASH, StoreError, StoreResult,
    chain_hash, from_millis, to_millis,
};

use crate::{SqliteStore, err};

fn audit_from_row(r: &SqliteRow) -> StoreResult<AuditRecord> {
    let details: String = r.get("details");
    Ok(AuditRecord {
        seq: r.get("seq"),
        entry: AuditEntry {
            at: from_millis(r.get("at"))?,
            actor: r.get("actor"),
            action: r.get("action"),
            target: r.get("target"),
            details: serde_json::from_str(&details)
                .map_err(|e| StoreError::Corrupt(format!("audit details: {e}")))?,
        },
        prev_hash: r.get("prev_hash"),
        hash: r.get("hash"),
    })
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<AuditRecord> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let head: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?;
        let (prev_seq, prev_hash) = head.unwrap_or((0, GENESIS_HASH.to_owned()));
        let seq = prev_seq + 1;
        let hash = chain_hash(&prev_hash, seq, entry);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(seq)
        .bind(to_millis(entry.at))
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(entry.details.to_string())
        .bind(&prev_hash)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(seq)
        .bind(&hash)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        let mut stored = entry.clone();
        stored.at = from_millis(to_millis(entry.at))?;
        Ok(AuditRecord {
            seq,
            entry: stored,
            prev_hash,
            hash,
        })
    }

    async fn list_audit_desc(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        sqlx::query("SELECT * FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?")
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    async fn list_audit_asc(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        sqlx::query("SELECT * FROM audit_log WHERE seq > ? ORDER BY seq ASC LIMIT ?")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>> {
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(err)
    }

    async fn audit_checkpoint(&self) -> StoreResult<Option<AuditCheckpoint>> {
        sqlx::query(
            "SELECT seq, hash, full_seq, full_at, checked_at FROM audit_checkpoint WHERE id = 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?
        .map(|r| {
            Ok(AuditCheckpoint {
                seq: r.get("seq"),
                hash: r.get("hash"),
                full_seq: r.get("full_seq"),
                full_at: from_millis(r.get("full_at"))?,
                checked_at: from_millis(r.get("checked_at"))?,
            })
        })
        .transpose()
    }

    async fn save_audit_checkpoint(
        &self,
        cp: &AuditCheckpoint,
        replaces: Option<i64>,
    ) -> StoreResult<bool> {
        let q = match replaces {
            None => sqlx::query(
                "INSERT INTO audit_checkpoint (id, seq, hash, full_seq, full_at, checked_at)
                 VALUES (1, ?, ?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
                     full_seq = excluded.full_seq, full_at = excluded.full_at,
                     checked_at = excluded.checked_at",
            ),
            Some(_) => sqlx::query(
                "UPDATE audit_checkpoint SET seq = ?, hash = ?, full_seq = ?, full_at = ?,
                     checked_at = ?
                 WHERE id = 1 AND seq = ?",
            ),
        };
        let q = q
            .bind(cp.seq)
            .bind(&cp.hash)
            .bind(cp.full_seq)
            .bind(to_millis(cp.full_at))
            .bind(to_millis(cp.checked_at));
        let q = match replaces {
            Some(seq) => q.bind(seq),
            None => q,
        };
        let r = q.execute(&self.pool).await.map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn clear_audit_checkpoint(&self) -> StoreResult<()> {
        sqlx::query("DELETE FROM audit_checkpoint")
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(())
    }
}
