//! Received webhooks ([`EventStore`]): inserts go through the group-commit writers
//! ([`crate::writer`]); reads use the pool.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use store::{Event, EventStore, InsertOutcome, Routing, StoreError, StoreResult, from_millis};

use crate::{PgStore, col, count, err};

/// An event as stored.
pub(crate) fn event_from_row(r: &PgRow) -> StoreResult<Event> {
    let headers: String = col(r, "headers")?;
    Ok(Event {
        id: col(r, "id")?,
        integration: col(r, "integration")?,
        received_at: from_millis(col(r, "received_at")?)?,
        provider_event_id: col(r, "provider_event_id")?,
        event_type: col(r, "event_type")?,
        scheme: col(r, "scheme")?,
        headers: serde_json::from_str(&headers)
            .map_err(|e| StoreError::Corrupt(format!("event headers: {e}")))?,
        body: col(r, "body")?,
        connection_id: col(r, "connection_id")?,
        routing_key: col(r, "routing_key")?,
    })
}

#[async_trait]
impl EventStore for PgStore {
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
        sqlx::query(
            "SELECT id, integration, received_at, provider_event_id, event_type, scheme,
                    headers, body, connection_id, routing_key
             FROM events WHERE id = $1",
        )
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
        sqlx::query(
            "SELECT id, integration, received_at, provider_event_id, event_type, scheme,
                    headers, body, connection_id, routing_key
             FROM events
             WHERE ($1::text IS NULL OR integration = $1) AND ($2::text IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(integration)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(err)?
        .iter()
        .map(event_from_row)
        .collect()
    }

    async fn count_events(&self, integration: Option<&str>) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM events WHERE ($1::text IS NULL OR integration = $1)",
        )
        .bind(integration)
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        Ok(count(n))
    }
}
