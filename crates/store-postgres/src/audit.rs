//! The hash-chained audit log ([`AuditStore`]). An append locks the head row
//! (`SELECT … FOR UPDATE`), writes the row and moves the head in one transaction, so
//! appends from every instance serialise into one gap-free chain.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use store::{
    AuditCheckpoint, AuditEntry, AuditRecord, AuditStore, StoreError, StoreResult, chain_hash,
    from_millis, to_millis,
};

use crate::{PgStore, col, err};

fn audit_from_row(r: &PgRow) -> StoreResult<AuditRecord> {
    let details: String = col(r, "details")?;
    Ok(AuditRecord {
        seq: col(r, "seq")?,
        entry: AuditEntry {
            at: from_millis(col(r, "at")?)?,
            actor: col(r, "actor")?,
            action: col(r, "action")?,
            target: col(r, "target")?,
            details: serde_json::from_str(&details)
                .map_err(|e| StoreError::Corrupt(format!("audit details: {e}")))?,
        },
        prev_hash: col(r, "prev_hash")?,
        hash: col(r, "hash")?,
    })
}

#[async_trait]
impl AuditStore for PgStore {
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<AuditRecord> {
        let mut tx = self.pool.begin().await.map_err(err)?;
        let (prev_seq, prev_hash): (i64, String) =
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
                .fetch_optional(&mut *tx)
                .await
                .map_err(err)?
                .ok_or_else(|| {
                    StoreError::Corrupt(
                        "audit_head has no row (the migration creates it); the chain's head \
                         was deleted"
                            .into(),
                    )
                })?;
        let seq = prev_seq + 1;
        let hash = chain_hash(&prev_hash, seq, entry);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, action, target, details, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
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
        sqlx::query("SELECT * FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2")
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
        sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq ASC LIMIT $2")
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
        // Sequence 0 is the genesis row the migration creates: no entry yet.
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1 AND seq > 0")
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
            let r = &r;
            Ok(AuditCheckpoint {
                seq: col(r, "seq")?,
                hash: col(r, "hash")?,
                full_seq: col(r, "full_seq")?,
                full_at: from_millis(col(r, "full_at")?)?,
                checked_at: from_millis(col(r, "checked_at")?)?,
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
                 VALUES (1, $1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
                     full_seq = excluded.full_seq, full_at = excluded.full_at,
                     checked_at = excluded.checked_at",
            ),
            Some(_) => sqlx::query(
                "UPDATE audit_checkpoint SET seq = $1, hash = $2, full_seq = $3, full_at = $4,
                     checked_at = $5
                 WHERE id = 1 AND seq = $6",
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
