//! The event pipeline: stored event → map → route (enqueue one delivery per matching
//! destination) → deliver with retries → delivered or dead; replay.
//!
//! Intake maps each webhook itself ([`route_one`]) and the store writes the mapping and
//! the deliveries in the event's own group commit
//! ([`store::EventStore::insert_routed_event`]): one write per batch on the hot path, and
//! the worker is woken only when a delivery was enqueued. Everything else is routed by the
//! worker ([`Engine::route_pending`]): events stored *unrouted* (`events.routed_at IS
//! NULL`: internal events such as `connection.needs_reauth`, events made unrouted by a
//! replay, and events of older versions), in batches, mapping and deliveries in one
//! transaction. Whatever happens, an accepted event is either routed in the transaction
//! that stored it or left unrouted for the next sweep of any process; it is never lost.

pub mod admin;
pub mod deliver;
pub mod mapping;
pub mod redact;

use std::sync::Arc;

use store::{ReplayCount, ReplayFilter, Routing};
use tokio::sync::Notify;

use crate::ids::{check_event_id, new_delivery_id};
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

/// Maps one event under `cfg` and picks its destinations; counts the outcome. `payload`
/// is the event's payload when the caller already parsed it (intake), else it is parsed
/// from the body.
pub fn route_one(
    cfg: &config::Config,
    provider: &str,
    e: &store::Event,
    payload: Option<serde_json::Value>,
) -> Routing {
    let mapped = mapping::map_event_with(cfg, provider, e, payload);
    let (deliveries, outcome) = match &mapped {
        store::Mapped::Mapped { event_type, .. } => (
            mapping::destinations_for(cfg, &e.integration, event_type)
                .map(|d| (new_delivery_id(), d.id.clone()))
                .collect(),
            "mapped",
        ),
        store::Mapped::Dropped => (Vec::new(), "dropped"),
        store::Mapped::Failed { error } => {
            tracing::warn!(event = %e.id, integration = %e.integration, error = %error, "event mapping failed");
            (Vec::new(), "mapping_failed")
        }
    };
    metrics::counter!(EVENTS_ROUTED, "integration" => e.integration.clone(), "outcome" => outcome)
        .increment(1);
    Routing {
        event_id: e.id.clone(),
        mapped,
        deliveries,
    }
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
                    route_one(&cfg, provider, e, None)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| EngineError::Misconfigured(format!("event mapping stopped: {e}")))?;
        let n = routings.len();
        let enqueued = self.inner.store.route_events(&routings, self.now()).await?;
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
        Ok(self.replay_at(filter, dry_run, actor).await?.0)
    }

    /// [`Engine::replay`], also returning the time it was made at (what
    /// [`Engine::replay_progress`] takes).
    pub async fn replay_at(
        &self,
        filter: &ReplayFilter,
        dry_run: bool,
        actor: &Actor,
    ) -> EngineResult<(ReplayCount, chrono::DateTime<chrono::Utc>)> {
        if let Some(id) = &filter.event_id {
            check_event_id(id)?;
        }
        if let (Some(a), Some(b)) = (filter.since, filter.until)
            && a >= b
        {
            return Err(EngineError::Invalid {
                field: "since",
                message: "must be before until".into(),
            });
        }
        let now = self.now();
        let count = self.inner.store.replay(filter, dry_run, now).await?;
        if !dry_run {
            self.audit(
                actor,
                "events.replay",
                filter.event_id.as_deref().unwrap_or("*"),
                serde_json::json!({
                    "filter": filter,
                    "events": count.events,
                    "deliveries": count.deliveries,
                    "skipped_purged": count.skipped_purged,
                }),
            )
            .await?;
            self.poke_pipeline();
        }
        Ok((count, now))
    }
}
