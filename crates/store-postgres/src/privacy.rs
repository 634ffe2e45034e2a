//! Retention, erasure and consent ([`PrivacyStore`]). Each batch is one statement (or
//! one short transaction) that selects its rows with `FOR UPDATE SKIP LOCKED` and
//! checks the conditions in the same snapshot, so concurrent sweeps on several
//! instances purge each event once and never wait for each other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use store::{
    ConsentKind, ConsentRecord, ErasureRecord, EventRef, PrivacyStore, PurgeBatch, PurgeReason,
    PurgeSelection, PurgeState, StoreError, StoreResult, from_millis, to_millis,
};

use crate::{PgStore, col, count, err, opt_millis};

/// What an event's payload becomes once removed (the columns a purge clears).
const CLEAR_PAYLOAD: &str =
    "body = '\\x'::bytea, headers = '[]', mapped_data = NULL, mapping_error = NULL";

/// The retention candidates' condition (`$1` integration, `$2` except, `$3` cutoff): the
/// payload is there, the event is routed and none of its deliveries waits.
const EXPIRED: &str = "e.payload_purged_at IS NULL AND e.received_at < $3
       AND ($1::text IS NULL OR e.integration = $1)
       AND ($1::text IS NOT NULL OR e.integration <> ALL($2::text[]))
       AND e.routed_at IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id
                       AND d.status IN ('pending', 'in_flight'))";

fn json_list(v: &[String]) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("list: {e}")))
}

fn parse_list(s: &str, what: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn consent_from_row(r: &PgRow) -> StoreResult<ConsentRecord> {
    let kind: String = col(r, "kind")?;
    let requested: String = col(r, "scopes_requested")?;
    let granted: String = col(r, "scopes_granted")?;
    Ok(ConsentRecord {
        id: col(r, "id")?,
        connection_id: col(r, "connection_id")?,
        end_user_id: col(r, "end_user_id")?,
        subject_hash: col(r, "subject_hash")?,
        integration: col(r, "integration")?,
        kind: ConsentKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("consent kind {kind:?}")))?,
        scopes_requested: parse_list(&requested, "scopes_requested")?,
        scopes_granted: parse_list(&granted, "scopes_granted")?,
        connect_session: col(r, "connect_session")?,
        return_origin: col(r, "return_origin")?,
        at: from_millis(col(r, "at")?)?,
    })
}

fn event_ref_from_row(r: &PgRow) -> StoreResult<EventRef> {
    let reason: Option<String> = col(r, "purge_reason")?;
    Ok(EventRef {
        id: col(r, "id")?,
        integration: col(r, "integration")?,
        connection_id: col(r, "connection_id")?,
        received_at: from_millis(col(r, "received_at")?)?,
        provider_event_id: col(r, "provider_event_id")?,
        event_type: col(r, "event_type")?,
        mapped_type: col(r, "mapped_type")?,
        body_bytes: count(col(r, "body_bytes")?),
        payload_purged_at: opt_millis(col(r, "payload_purged_at")?)?,
        purge_reason: reason.as_deref().and_then(PurgeReason::parse),
    })
}

#[async_trait]
impl PrivacyStore for PgStore {
    async fn purge_expired_payloads(
        &self,
        sel: &PurgeSelection,
        limit: u32,
        dry_run: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<PurgeBatch> {
        let cutoff = to_millis(sel.received_before);
        // Each integration's candidates are one range of `events_unpurged (integration,
        // received_at)`; the integrations are found with a skip scan of the same index,
        // so a batch never reads the events that are within their retention.
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
        let (mut taken, mut purged) = (0i64, 0i64);
        for i in integrations {
            let left = i64::from(limit) - taken;
            if left <= 0 {
                break;
            }
            let one = PurgeSelection {
                integration: Some(i),
                except: Vec::new(),
                received_before: sel.received_before,
            };
            let (t, p): (i64, i64) = if dry_run {
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM events e WHERE {EXPIRED} LIMIT $4) x"
                )))
                .bind(&one.integration)
                .bind(&one.except)
                .bind(cutoff)
                .bind(left)
                .fetch_one(&self.pool)
                .await
                .map_err(err)?;
                (n, n)
            } else {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "WITH picked AS (
                        SELECT e.id FROM events e WHERE {EXPIRED}
                        ORDER BY e.received_at LIMIT $4 FOR UPDATE SKIP LOCKED
                     ), purged AS (
                        UPDATE events SET {CLEAR_PAYLOAD}, payload_purged_at = $5,
                          purge_reason = 'retention'
                        WHERE id IN (SELECT id FROM picked) RETURNING 1
                     )
                     SELECT (SELECT COUNT(*) FROM picked), (SELECT COUNT(*) FROM purged)"
                )))
                .bind(&one.integration)
                .bind(&one.except)
                .bind(cutoff)
                .bind(left)
                .bind(to_millis(at))
                .fetch_one(&self.pool)
                .await
                .map_err(err)?
            };
            taken += t;
            purged += p;
        }
        Ok(PurgeBatch {
            events: count(purged),
            more: limit > 0 && taken == i64::from(limit),
        })
    }

    async fn event_purge_state(&self, event_id: &str) -> StoreResult<Option<PurgeState>> {
        let row: Option<(Option<i64>, Option<String>)> =
            sqlx::query_as("SELECT payload_purged_at, purge_reason FROM events WHERE id = $1")
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
                    mapped_type, length(body)::int8 AS body_bytes, payload_purged_at,
                    purge_reason
             FROM events
             WHERE connection_id = ANY($1::text[]) AND ($2::text IS NULL OR id > $2)
             ORDER BY id LIMIT $3",
        )
        .bind(connection_ids)
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
        let (taken, erased): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH picked AS (
                SELECT id FROM events WHERE connection_id = ANY($1::text[])
                ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
             ), dead AS (
                UPDATE deliveries SET status = 'dead', lease_owner = NULL, lease_until = NULL,
                  lease_fence = lease_fence + 1, last_error = 'the event was erased'
                WHERE status = 'pending' AND event_id IN (SELECT id FROM picked)
                RETURNING 1
             ), erased AS (
                UPDATE events SET {CLEAR_PAYLOAD}, connection_id = NULL, routing_key = NULL,
                  payload_purged_at = $3, purge_reason = 'erasure',
                  routed_at = COALESCE(routed_at, $3),
                  mapping_status = COALESCE(mapping_status, 'dropped')
                WHERE id IN (SELECT id FROM picked) RETURNING 1
             )
             SELECT (SELECT COUNT(*) FROM picked), (SELECT COUNT(*) FROM erased)
             WHERE (SELECT COUNT(*) FROM dead) >= 0"
        )))
        .bind(connection_ids)
        .bind(i64::from(limit))
        .bind(to_millis(at))
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        Ok(PurgeBatch {
            events: count(erased),
            more: taken == i64::from(limit),
        })
    }

    async fn delete_flows_of(&self, end_user_id: &str) -> StoreResult<u64> {
        let (a, b): (i64, i64) = sqlx::query_as(
            "WITH s AS (DELETE FROM connect_sessions WHERE end_user_id = $1 RETURNING 1),
                  o AS (DELETE FROM oauth_states WHERE end_user_id = $1 RETURNING 1)
             SELECT (SELECT COUNT(*) FROM s), (SELECT COUNT(*) FROM o)",
        )
        .bind(end_user_id)
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        Ok(count(a) + count(b))
    }

    async fn insert_consent_record(&self, r: &ConsentRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO consent_records (id, connection_id, end_user_id, subject_hash,
               integration, kind, scopes_requested, scopes_granted, connect_session,
               return_origin, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
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
        sqlx::query("SELECT * FROM consent_records WHERE end_user_id = $1 ORDER BY id")
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
        let r = sqlx::query(
            "UPDATE consent_records SET end_user_id = NULL, connection_id = NULL,
               connect_session = NULL, return_origin = NULL, subject_hash = $1
             WHERE end_user_id = $2",
        )
        .bind(subject_hash)
        .bind(end_user_id)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(r.rows_affected())
    }

    async fn record_erasure(&self, r: &ErasureRecord) -> StoreResult<bool> {
        let n = sqlx::query(
            "INSERT INTO erasures (subject_hash, erased_at, counts) VALUES ($1, $2, $3)
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
            "SELECT subject_hash, erased_at, counts FROM erasures WHERE subject_hash = $1",
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
        // The deleted rows' space is reclaimed and overwritten as the tables are reused;
        // VACUUM makes it reusable now. Old WAL segments (and any archive or replica)
        // keep the data until they are recycled: a limit stated in ARCHITECTURE.md.
        for table in [
            "events",
            "deliveries",
            "connections",
            "secrets",
            "consent_records",
            "connect_sessions",
            "oauth_states",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM {table}")))
                .execute(&self.pool)
                .await
                .map_err(err)?;
        }
        Ok(())
    }
}
