//! Received webhooks and the per-integration intake state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// A received webhook, as stored. Times are millisecond precision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// `evt_` + 32 lowercase hex (UUID v7, simple form), so ids are time-ordered.
    pub id: String,
    /// The integration that received it.
    pub integration: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The provider's own event id; the deduplication key within the integration when
    /// present.
    pub provider_event_id: Option<String>,
    /// The provider's event type, when it has one.
    pub event_type: Option<String>,
    /// Name of the signature scheme that verified it.
    pub scheme: String,
    /// The headers worth keeping, in order.
    pub headers: Vec<(String, String)>,
    /// The raw body, byte for byte.
    pub body: Vec<u8>,
    /// The connection it was routed to, if any. On insert, `None` with a `routing_key`
    /// asks the store to attach the one connection of the integration with that key.
    pub connection_id: Option<String>,
    /// The routing key the event carries (Slack team id, GitHub installation id…).
    pub routing_key: Option<String>,
}

/// What [`EventStore::insert_event`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The event was stored.
    Inserted,
    /// The integration already has an event with this provider event id; nothing was
    /// stored.
    Duplicate {
        /// The id of the event already stored.
        existing_id: String,
    },
}

/// Received webhooks.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores the event durably: the commit has happened (fsync'd) when this returns Ok.
    /// When provider_event_id is Some and the integration already has an event with it,
    /// nothing is stored and the existing event's id is returned.
    async fn insert_event(&self, event: &Event) -> StoreResult<InsertOutcome>;
    /// Like [`insert_event`](Self::insert_event) for an event the caller has already
    /// mapped: its mapping (`routed_at` = `received_at`) and its deliveries (due at
    /// `received_at`) are written in the same transaction as the event, so a routed event
    /// never waits for the pipeline's sweep and intake stays the only writer on its hot
    /// path. A duplicate writes neither. `routing.event_id` must be `event.id`.
    async fn insert_routed_event(
        &self,
        event: &Event,
        routing: &crate::Routing,
    ) -> StoreResult<InsertOutcome>;
    /// The event with this id.
    async fn get_event(&self, id: &str) -> StoreResult<Option<Event>>;
    /// Newest first (by id), strictly before the id `before` when given, optionally of one integration.
    async fn list_events(
        &self,
        integration: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Event>>;
    /// Number of events, optionally of one integration.
    async fn count_events(&self, integration: Option<&str>) -> StoreResult<u64>;
}

/// The switches of one integration; both false when never set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntegrationFlags {
    /// Webhook intake is blocked.
    pub blocked: bool,
    /// The integration is disabled as a whole.
    pub disabled: bool,
}

/// Per-integration intake state.
#[async_trait]
pub trait IntegrationStateStore: Send + Sync {
    /// Blocks or unblocks webhook intake for an integration; returns whether the state changed.
    async fn set_integration_blocked(
        &self,
        integration: &str,
        blocked: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Both switches of the integration, read at once (one query on the intake path).
    async fn integration_flags(&self, integration: &str) -> StoreResult<IntegrationFlags>;
    /// Whether intake is blocked for the integration (false when never set).
    async fn is_integration_blocked(&self, integration: &str) -> StoreResult<bool> {
        Ok(self.integration_flags(integration).await?.blocked)
    }
    /// Every blocked integration, by name.
    async fn blocked_integrations(&self) -> StoreResult<Vec<String>>;
    /// Disables or enables an integration as a whole; returns whether the state changed.
    async fn set_integration_disabled(
        &self,
        integration: &str,
        disabled: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Whether the integration is disabled (false when never set).
    async fn is_integration_disabled(&self, integration: &str) -> StoreResult<bool> {
        Ok(self.integration_flags(integration).await?.disabled)
    }
    /// Every disabled integration, by name.
    async fn disabled_integrations(&self) -> StoreResult<Vec<String>>;
}

/// An event as a backend's writer inserts it: the `events` columns (times in
/// milliseconds, headers as JSON) with its routing, and the deliveries to enqueue in the
/// same commit. Built before the writer's turn, so that the writer's serial stage only
/// does the database's work; every backend keeps the same columns.
#[derive(Debug)]
pub struct EventRow {
    /// `evt_…`.
    pub id: String,
    /// The integration that received it.
    pub integration: String,
    /// When it was received, in milliseconds since the epoch.
    pub received_at: i64,
    /// The provider's event id, the deduplication key.
    pub provider_event_id: Option<String>,
    /// The provider's event type.
    pub event_type: Option<String>,
    /// The signature scheme that verified it.
    pub scheme: String,
    /// The kept headers, as a JSON array of pairs.
    pub headers: String,
    /// The raw body.
    pub body: Vec<u8>,
    /// The connection it was routed to, if any.
    pub connection_id: Option<String>,
    /// The routing key read from it, if any.
    pub routing_key: Option<String>,
    /// When it was routed (its reception time when routed at intake), or NULL.
    pub routed_at: Option<i64>,
    /// `mapped`, `dropped` or `failed` once routed.
    pub mapping_status: Option<&'static str>,
    /// The mapped event type.
    pub mapped_type: Option<String>,
    /// The mapped data, NULL when it is the body byte for byte.
    pub mapped_data: Option<String>,
    /// Why mapping failed.
    pub mapping_error: Option<String>,
    /// (delivery id, destination): only for a mapped event.
    pub deliveries: Vec<(String, String)>,
}

impl EventRow {
    /// The row of `event`, routed by `routing` when the caller mapped it.
    pub fn new(event: &Event, routing: Option<&crate::Routing>) -> StoreResult<Self> {
        let received_at = crate::to_millis(event.received_at);
        let headers = serde_json::to_string(&event.headers)
            .map_err(|x| crate::StoreError::Backend(format!("event headers: {x}")))?;
        let mut row = Self {
            id: event.id.clone(),
            integration: event.integration.clone(),
            received_at,
            provider_event_id: event.provider_event_id.clone(),
            event_type: event.event_type.clone(),
            scheme: event.scheme.clone(),
            headers,
            body: event.body.clone(),
            connection_id: event.connection_id.clone(),
            routing_key: event.routing_key.clone(),
            routed_at: None,
            mapping_status: None,
            mapped_type: None,
            mapped_data: None,
            mapping_error: None,
            deliveries: Vec::new(),
        };
        if let Some(r) = routing {
            row.routed_at = Some(received_at);
            match &r.mapped {
                crate::Mapped::Mapped { event_type, data } => {
                    row.mapping_status = Some("mapped");
                    row.mapped_type = Some(event_type.clone());
                    // Data that is the body byte for byte (a JSON body passed through) is
                    // not stored twice: NULL reads back as the body.
                    row.mapped_data =
                        (data.as_bytes() != event.body.as_slice()).then(|| data.clone());
                    row.deliveries = r.deliveries.clone();
                }
                crate::Mapped::Dropped => row.mapping_status = Some("dropped"),
                crate::Mapped::Failed { error } => {
                    row.mapping_status = Some("failed");
                    row.mapping_error = Some(error.clone());
                }
            }
        }
        Ok(row)
    }
}
