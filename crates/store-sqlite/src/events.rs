//! Received webhooks ([`EventStore`]): inserts go through the group-commit writer
//! ([`crate::writer`]); reads use the pool.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use store::{Event, EventStore, InsertOutcome, Routing, StoreError, StoreResult, from_millis};

use crate::{SqliteStore, err};

/// An event as stored.
pub(crate) fn event_from_row(r: &SqliteRow) -> StoreResult<Event> {
    let headers: String = r.get("headers");
    Ok(Event {
        id: r.get("id"),
        integration: r.get("integration"),
        received_at: from_millis(r.get("received_at"))?,
        provider_event_id: r.get("provider_event_id"),
        event_type: r.get("event_type"),
        scheme: r.get("scheme"),
        headers: serde_json::from_str(&headers)
            .map_err(|e| StoreError::Corrupt(format!("event headers: {e}")))?,
        body: r.get("body"),
        connection_id: r.get("connection_id"),
        routing_key: r.get("routing_key"),
    })
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn insert_event(&self, event: &Event) -> StoreResult<InsertOutcome> {
        self.enqueue_event(event, None).await
    }

    async fn insert_routed_event(
        &self,
        event: &Event,
        routing: &Routing,
    ) -> StoreResult<InsertOutcome> {
        if routing.event_id != event.id {
            return Err(StoreError::Backend(format!(
                "routing of {} given with event {}",
                routing.event_id, event.id
            )));
        }
        self.enqueue_event(event, Some(routing)).await
    }

    async fn get_event(&self, id: &str) -> StoreResult<Option<Event>> {
        sqlx::query("SELECT * FROM events WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?
            .as_ref()
            .map(event_from_row)
            .transpose()
    }

    async fn list_events(
        &self,
        integration: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        let limit = i64::from(limit);
        let rows = match (integration, before) {
            (None, None) => {
                sqlx::query("SELECT * FROM events ORDER BY id DESC LIMIT ?")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            (None, Some(b)) => {
                sqlx::query("SELECT * FROM events WHERE id < ? ORDER BY id DESC LIMIT ?")
                    .bind(b)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            (Some(i), None) => {
                sqlx::query("SELECT * FROM events WHERE integration = ? ORDER BY id DESC LIMIT ?")
                    .bind(i)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            (Some(i), Some(b)) => {
                sqlx::query(
                    "SELECT * FROM events WHERE integration = ? AND id < ?
                     ORDER BY id DESC LIMIT ?",
                )
                .bind(i)
                .bind(b)
                .bind(limit)
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(err)?;
        rows.iter().map(event_from_row).collect()
    }

    async fn count_events(&self, integration: Option<&str>) -> StoreResult<u64> {
        let n: i64 = match integration {
            None => {
                sqlx::query_scalar("SELECT COUNT(*) FROM events")
                    .fetch_one(&self.pool)
                    .await
            }
            Some(i) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE integration = ?")
                    .bind(i)
                    .fetch_one(&self.pool)
                    .await
            }
        }
        .map_err(err)?;
        Ok(n as u64)
    }
}
