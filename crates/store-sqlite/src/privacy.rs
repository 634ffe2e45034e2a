//! Retention, erasure and consent ([`PrivacyStore`]). Candidates are read on the pool
//! (a WAL reader, which never blocks the event writer); each batch's writes take the
//! process's write turn and `BEGIN IMMEDIATE` for one short transaction that checks the
//! conditions again, so concurrent sweeps purge each event once.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use store::{
    ConsentKind, ConsentRecord, ErasureRecord, EventRef, PrivacyStore, PurgeBatch, PurgeReason,
    PurgeSelection, PurgeState, StoreError, StoreResult, from_millis, to_millis,
};

use crate::{SqliteStore, err, opt_millis};

/// What an event's payload becomes once removed (the columns a purge clears).
const CLEAR_PAYLOAD: &str = "body = X'', headers = '[]', mapped_data = NULL, mapping_error = NULL";

fn json_list(v: &[String]) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("list: {e}")))
}

fn parse_list(s: &str, what: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn consent_from_row(r: &SqliteRow) -> StoreResult<ConsentRecord> {
    let kind: String = r.get("kind");
    Ok(ConsentRecord {
        id: r.get("id"),
        connection_id: r.get("connection_id"),
        end_user_id: r.get("end_user_id"),
        subject_hash: r.get("subject_hash"),
        integration: r.get("integration"),
        kind: ConsentKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("consent kind {kind:?}")))?,
        scopes_requested: parse_list(r.get("scopes_requested"), "scopes_requested")?,
        scopes_granted: parse_list(r.get("scopes_granted"), "scopes_granted")?,
        connect_session: r.get("connect_session"),
        return_origin: r.get("return_origin"),
        at: from_millis(r.get("at"))?,
    })
}

fn event_ref_from_row(r: &SqliteRow) -> StoreResult<EventRef> {
    let reason: Option<String> = r.get("purge_reason");
    Ok(EventRef {
        id: r.get("id"),
        integration: r.get("integration"),
        connection_id: r.get("connection_id"),
        received_at: from_millis(r.get("received_at"))?,
        provider_event_id: r.get("provider_event_id"),
        event_type: r.get("event_type"),
        mapped_type: r.get("mapped_type"),
        body_bytes: r.get::<i64, _>("body_bytes").max(0) as u64,
        payload_purged_at: opt_millis(r.get("payload_purged_at"))?,
        purge_reason: reason.as_deref().and_then(PurgeReason::parse),
    })
}

/// The retention candidates' condition (`?1` integration, `?2` except as JSON, `?3`
/// cutoff): the payload is there, the event is routed and none of its deliveries waits.
const EXPIRED: &str = "e.payload_purged_at IS NULL AND e.received_at < ?3
       AND (?1 IS NULL OR e.integration = ?1)
       AND (?1 IS NOT NULL OR e.integration NOT IN (SELECT value FROM json_each(?2)))
       AND e.routed_at IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id
                       AND d.status IN ('pending', 'in_flight'))";

#[async_trait]
impl PrivacyStore for SqliteStore {
    async fn purge_expired_payloads(
        &self,
        sel: &PurgeSelection,
        limit: u32,
        dry_run: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<PurgeBatch> {
        let except = json_list(&sel.except)?;
        let cutoff = to_millis(sel.received_before);
        // Read on the pool, outside the write turn. Each integration's candidates are one
        // range of `events_unpurged (integration, received_at)`; the integrations are
        // found with a skip scan of the same index, so a batch never reads the events
        // that are within their retention.
        let integrations: Vec<String> = match &sel.integration {
            Some(i) => vec![i.clone()],
            None => sqlx::query_scalar::<_, String>(
                "WITH RECURSIVE i(x) AS (
                   SELECT MIN(integration) FROM events WHERE payload_purged_at IS NULL
                   UNION ALL
                   SELECT (SELECT MIN(integration) FROM events
                           WHERE payload_purged_at IS NULL AND integration > i.x)
                   FROM i WHERE i.x IS NOT NULL)
                 SELECT x FROM i WHERE x IS NOT NULL",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .into_iter()
            .filter(|i| !sel.except.contains(i))
            .collect(),
        };
        let mut ids: Vec<String> = Vec::new();
        for i in integrations {
            let left = i64::from(limit) - ids.len() as i64;
            if left <= 0 {
                break;
            }
            let page: Vec<String> = sqlx::query_scalar(
                "SELECT e.id FROM events e
                 WHERE e.integration = ?1 AND e.payload_purged_at IS NULL AND e.received_at < ?2
                   AND e.routed_at IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id
                                   AND d.status IN ('pending', 'in_flight'))
                 ORDER BY e.received_at LIMIT ?3",
            )
            .bind(&i)
            .bind(cutoff)
            .bind(left)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
            ids.extend(page);
        }
        let more = ids.len() as u32 == limit && limit > 0;
        if dry_run || ids.is_empty() {
            return Ok(PurgeBatch {
                events: ids.len() as u64,
                more,
            });
        }
        let ids = json_list(&ids)?;
        let _turn = self.write_lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let n = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE events AS e SET {CLEAR_PAYLOAD}, payload_purged_at = ?4,
               purge_reason = 'retention'
             WHERE e.id IN (SELECT value FROM json_each(?5)) AND {EXPIRED}"
        )))
        .bind(&sel.integration)
        .bind(&except)
        .bind(cutoff)
        .bind(to_millis(at))
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(PurgeBatch { events: n, more })
    }

    async fn event_purge_state(&self, event_id: &str) -> StoreResult<Option<PurgeState>> {
        let row: Option<(Option<i64>, Option<String>)> =
            sqlx::query_as("SELECT payload_purged_at, purge_reason FROM events WHERE id = ?")
                .bind(event_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(err)?;
        match row {
            Some((Some(at), Some(reason))) => Ok(Some(PurgeState {
                at: from_millis(at)?,
                reason: PurgeReason::parse(&reason)
                    .ok_or_else(|| StoreError::Corrupt(format!("purge reason {reason:?}")))?,
            })),
            _ => Ok(None),
        }
    }

    async fn events_of_connections(
        &self,
        connection_ids: &[String],
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<EventRef>> {
        if connection_ids.is_empty() {
            return Ok(Vec::new());
        }
        sqlx::query(
            "SELECT id, integration, connection_id, received_at, provider_event_id, event_type,
                    mapped_type, length(body) AS body_bytes, payload_purged_at, purge_reason
             FROM events
             WHERE connection_id IN (SELECT value FROM json_each(?1))
               AND (?2 IS NULL OR id > ?2)
             ORDER BY id LIMIT ?3",
        )
        .bind(json_list(connection_ids)?)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?
        .iter()
        .map(event_ref_from_row)
        .collect()
    }

    async fn erase_connection_events(
        &self,
        connection_ids: &[String],
        limit: u32,
        at: DateTime<Utc>,
    ) -> StoreResult<PurgeBatch> {
        if connection_ids.is_empty() || limit == 0 {
            return Ok(PurgeBatch::default());
        }
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM events WHERE connection_id IN (SELECT value FROM json_each(?1))
             ORDER BY id LIMIT ?2",
        )
        .bind(json_list(connection_ids)?)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        if ids.is_empty() {
            return Ok(PurgeBatch::default());
        }
        let more = ids.len() as u32 == limit;
        let ids = json_list(&ids)?;
        let conns = json_list(connection_ids)?;
        let at = to_millis(at);
        let _turn = self.write_lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        sqlx::query(
            "UPDATE deliveries SET status = 'dead', lease_owner = NULL, lease_until = NULL,
               lease_fence = lease_fence + 1, last_error = 'the event was erased'
             WHERE status = 'pending' AND event_id IN
               (SELECT e.id FROM events e WHERE e.id IN (SELECT value FROM json_each(?1))
                  AND e.connection_id IN (SELECT value FROM json_each(?2)))",
        )
        .bind(&ids)
        .bind(&conns)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let n = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE events SET {CLEAR_PAYLOAD}, connection_id = NULL, routing_key = NULL,
               payload_purged_at = ?3, purge_reason = 'erasure',
               routed_at = COALESCE(routed_at, ?3),
               mapping_status = COALESCE(mapping_status, 'dropped')
             WHERE id IN (SELECT value FROM json_each(?1))
               AND connection_id IN (SELECT value FROM json_each(?2))"
        )))
        .bind(&ids)
        .bind(&conns)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(PurgeBatch { events: n, more })
    }

    async fn delete_flows_of(&self, end_user_id: &str) -> StoreResult<u64> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(err)?;
        let a = sqlx::query("DELETE FROM connect_sessions WHERE end_user_id = ?")
            .bind(end_user_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        let b = sqlx::query("DELETE FROM oauth_states WHERE end_user_id = ?")
            .bind(end_user_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(a + b)
    }

    async fn insert_consent_record(&self, r: &ConsentRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO consent_records (id, connection_id, end_user_id, subject_hash,
               integration, kind, scopes_requested, scopes_granted, connect_session,
               return_origin, at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&r.id)
        .bind(&r.connection_id)
        .bind(&r.end_user_id)
        .bind(&r.subject_hash)
        .bind(&r.integration)
        .bind(r.kind.as_str())
        .bind(json_list(&r.scopes_requested)?)
        .bind(json_list(&r.scopes_granted)?)
        .bind(&r.connect_session)
        .bind(&r.return_origin)
        .bind(to_millis(r.at))
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn consent_records_of(&self, end_user_id: &str) -> StoreResult<Vec<ConsentRecord>> {
        sqlx::query("SELECT * FROM consent_records WHERE end_user_id = ? ORDER BY id")
            .bind(end_user_id)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?
            .iter()
            .map(consent_from_row)
            .collect()
    }

    async fn anonymize_consent_records(
        &self,
        end_user_id: &str,
        subject_hash: &str,
    ) -> StoreResult<u64> {
        let n = sqlx::query(
            "UPDATE consent_records SET end_user_id = NULL, connection_id = NULL,
               connect_session = NULL, return_origin = NULL, subject_hash = ?
             WHERE end_user_id = ?",
        )
        .bind(subject_hash)
        .bind(end_user_id)
        .execute(&self.pool)
        .await
        .map_err(err)?
        .rows_affected();
        Ok(n)
    }

    async fn record_erasure(&self, r: &ErasureRecord) -> StoreResult<bool> {
        let n = sqlx::query(
            "INSERT INTO erasures (subject_hash, erased_at, counts) VALUES (?, ?, ?)
             ON CONFLICT (subject_hash) DO NOTHING",
        )
        .bind(&r.subject_hash)
        .bind(to_millis(r.erased_at))
        .bind(r.counts.to_string())
        .execute(&self.pool)
        .await
        .map_err(err)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn get_erasure(&self, subject_hash: &str) -> StoreResult<Option<ErasureRecord>> {
        let row: Option<(String, i64, String)> = sqlx::query_as(
            "SELECT subject_hash, erased_at, counts FROM erasures WHERE subject_hash = ?",
        )
        .bind(subject_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        row.map(|(subject_hash, at, counts)| {
            Ok(ErasureRecord {
                subject_hash,
                erased_at: from_millis(at)?,
                counts: serde_json::from_str(&counts)
                    .map_err(|e| StoreError::Corrupt(format!("erasure counts: {e}")))?,
            })
        })
        .transpose()
    }

    async fn scrub_freed_space(&self) -> StoreResult<()> {
        // `secure_delete` zeroed what the erasure freed in the database; the WAL still
        // holds the pages as they were until it is checkpointed and truncated.
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        if busy != 0 {
            return Err(StoreError::Unavailable(
                "the WAL could not be checkpointed (a reader held it); run the erasure again \
                 to finish scrubbing"
                    .into(),
            ));
        }
        Ok(())
    }
}
