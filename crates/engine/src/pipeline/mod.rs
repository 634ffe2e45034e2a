//! The event pipeline: stored event → map → route (enqueue one delivery per matching
//! destination) → deliver with retries → delivered or dead; replay.
//!
//! Routing is durable and decoupled from intake: an event is committed *unrouted*
//! (`events.routed_at IS NULL`); intake only wakes the pipeline ([`Engine::poke_pipeline`]).
//! The router ([`Engine::route_pending`]) maps batches of unrouted events and records the
//! mapping and the deliveries in one transaction. Whatever happens between the commit and
//! the routing (an error, a crash, `kill -9`), the event stays unrouted and the next
//! sweep of any process routes it, so an accepted event is never lost, and intake keeps
//! its single group-commit write.

pub mod deliver;
pub mod mapping;

use std::sync::Arc;

use store::{ReplayCount, ReplayFilter, Routing};
use tokio::sync::Notify;

use crate::{Actor, Engine, EngineError, EngineResult};

/// Events routed per transaction.
pub const ROUTE_BATCH: u32 = 256;

/// Counter of events routed, by outcome (`mapped`, `dropped`, `mapping_failed`).
pub const EVENTS_ROUTED: &str = "switchboard_events_routed_total";

/// The pipeline's in-process state, shared by the engine's clones.
#[derive(Debug, Default)]
pub(crate) struct Pipeline {
    /// Woken by intake and replays; the worker waits on it when idle.
    pub(crate) wake: Arc<Notify>,
}

/// A new delivery id (`dlv_` + UUID v7, time-ordered); it is the `webhook-id`.
pub fn new_delivery_id() -> String {
    format!("dlv_{}", uuid::Uuid::now_v7().simple())
}

impl Engine {
    /// Wakes the pipeline (an event was stored, a replay was requested). Cheap; other
    /// processes find the work with their poll.
    pub fn poke_pipeline(&self) {
        self.inner.pipeline.wake.notify_one();
    }

    pub(crate) fn pipeline_wake(&self) -> Arc<Notify> {
        self.inner.pipeline.wake.clone()
    }

    /// Maps and routes up to [`ROUTE_BATCH`] unrouted events under the configuration in
    /// force; returns how many were routed. A mapping that fails marks its event
    /// `mapping_failed` (it is not an error of this call).
    pub async fn route_pending(&self) -> EngineResult<usize> {
        let events = self.inner.store.unrouted_events(ROUTE_BATCH).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let cfg = self.config();
        let catalog_providers: Vec<(String, String)> = cfg
            .integrations
            .iter()
            .map(|i| (i.id.clone(), i.provider.clone()))
            .collect();
        // jq programs are CPU work: keep them off the async threads.
        let routings = tokio::task::spawn_blocking(move || {
            events
                .iter()
                .map(|e| {
                    let provider = catalog_providers
                        .iter()
                        .find(|(id, _)| *id == e.integration)
                        .map_or(e.integration.as_str(), |(_, p)| p.as_str());
                    let mapped = mapping::map_event(&cfg, provider, e);
                    let deliveries = match &mapped {
                        store::Mapped::Mapped { event_type, .. } => {
                            mapping::destinations_for(&cfg, &e.integration, event_type)
                                .map(|d| (new_delivery_id(), d.id.clone()))
                                .collect()
                        }
                        _ => Vec::new(),
                    };
                    let outcome = match &mapped {
                        store::Mapped::Mapped { .. } => "mapped",
                        store::Mapped::Dropped => "dropped",
                        store::Mapped::Failed { error } => {
                            tracing::warn!(event = %e.id, integration = %e.integration, error = %error, "event mapping failed");
                            "mapping_failed"
                        }
                    };
                    metrics::counter!(EVENTS_ROUTED, "integration" => e.integration.clone(), "outcome" => outcome)
                        .increment(1);
                    Routing {
                        event_id: e.id.clone(),
                        mapped,
                        deliveries,
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| EngineError::Misconfigured(format!("event mapping stopped: {e}")))?;
        let n = routings.len();
        let enqueued = self
            .inner
            .store
            .route_events(&routings, store::now())
            .await?;
        if enqueued > 0 {
            self.poke_pipeline();
        }
        Ok(n)
    }

    /// Replays what `filter` selects (see [`store::DeliveryStore::replay`]); with
    /// `dry_run` only counts. A real replay is audited and wakes the pipeline.
    pub async fn replay(
        &self,
        filter: &ReplayFilter,
        dry_run: bool,
        actor: &Actor,
    ) -> EngineResult<ReplayCount> {
        if let Some(id) = &filter.event_id
            && !crate::webhooks::is_event_id(id)
        {
            return Err(EngineError::Invalid {
                field: "event_id",
                message: "not an event id (evt_ followed by 32 hex digits)".into(),
            });
        }
        if let (Some(a), Some(b)) = (filter.since, filter.until)
            && a >= b
        {
            return Err(EngineError::Invalid {
                field: "since",
                message: "must be before until".into(),
            });
        }
        let count = self
            .inner
            .store
            .replay(filter, dry_run, store::now())
            .await?;
        if !dry_run {
            self.audit(
                actor,
                "events.replay",
                filter.event_id.as_deref().unwrap_or("*"),
                serde_json::json!({
                    "filter": filter,
                    "events": count.events,
                    "deliveries": count.deliveries,
                }),
            )
            .await?;
            self.poke_pipeline();
        }
        Ok(count)
    }
}
