//! The event pipeline's state: how each event was mapped, and the leased work queue of
//! deliveries (one event to one destination).
//!
//! Routing is durable: a stored event is *unrouted* until [`DeliveryStore::route_events`]
//! records its mapping and enqueues its deliveries in one transaction. Whoever routes
//! (the process that received the event, woken at once, or any process's periodic sweep
//! after a crash) finds unrouted events with [`DeliveryStore::unrouted_events`], so an
//! event committed before a crash is still delivered.
//!
//! Deliveries are claimed with a lease (`lease_until`) and a fence (`lease_fence`,
//! incremented by every claim, release and requeue). Completion, failure, renewal and
//! release must present the fence of their claim; a worker whose lease expired and was
//! taken over (or whose delivery was requeued) can therefore never overwrite the newer
//! state. A delivery is claimable only when its event is routed, so a replay that
//! re-maps an event never sends the old mapping.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Event, StoreResult};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (`next_attempt_at`).
    Pending,
    /// Claimed by a worker whose lease runs until `lease_until`.
    InFlight,
    /// The destination answered 2xx.
    Delivered,
    /// Every attempt failed (or the event could no longer be mapped); replay revives it.
    Dead,
}

impl DeliveryStatus {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InFlight => "in_flight",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// Parses a stored or user-given name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "in_flight" => Self::InFlight,
            "delivered" => Self::Delivered,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// How an event was mapped to the app's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Mapped {
    /// Mapped (or passed through) to `{type, data}`.
    Mapped {
        /// The app's event type.
        event_type: String,
        /// The app's event data, as JSON text.
        data: String,
    },
    /// The mapping produced nothing: the event is not delivered.
    Dropped,
    /// The mapping failed; nothing is delivered until a replay maps it again.
    Failed {
        /// What went wrong and where (`mappings[2] (jq): …`).
        error: String,
    },
}

/// One event's routing: its mapping and the destinations it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    /// The event.
    pub event_id: String,
    /// Its mapping.
    pub mapped: Mapped,
    /// Destinations to enqueue a delivery for (ignored unless `mapped` is `Mapped`);
    /// each gets `(delivery id, destination id)`. An existing delivery of the same
    /// (event, destination) is kept and the new id unused.
    pub deliveries: Vec<(String, String)>,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `dlv_` + 32 hex (UUID v7); also the `webhook-id` the destination sees, stable
    /// across retries.
    pub id: String,
    /// The event delivered.
    pub event_id: String,
    /// The destination it goes to.
    pub destination: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts started so far (a claim counts one; a release gives it back).
    pub attempts: u32,
    /// When it may be claimed next.
    pub next_attempt_at: DateTime<Utc>,
    /// Who holds the lease, if in flight.
    pub lease_owner: Option<String>,
    /// Until when the lease holds.
    pub lease_until: Option<DateTime<Utc>>,
    /// HTTP status of the last attempt, if it got an answer.
    pub last_status: Option<u16>,
    /// What went wrong in the last attempt.
    pub last_error: Option<String>,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
    /// Delivered at.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A delivery handed to a worker by [`DeliveryStore::claim_deliveries`], with what it
/// needs to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The delivery id (the `webhook-id`).
    pub id: String,
    /// The event.
    pub event_id: String,
    /// Its integration.
    pub integration: String,
    /// When the event was received (for end-to-end latency).
    pub received_at: DateTime<Utc>,
    /// The destination.
    pub destination: String,
    /// Attempts including this one.
    pub attempts: u32,
    /// The fence this claim must present.
    pub fence: i64,
    /// The lease's end.
    pub lease_until: DateTime<Utc>,
    /// The app's event type.
    pub event_type: String,
    /// The app's event data (JSON text).
    pub data: String,
}

/// The outcome of a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// When to try again; `None` makes the delivery `dead`.
    pub retry_at: Option<DateTime<Utc>>,
    /// HTTP status, if the destination answered.
    pub status: Option<u16>,
    /// What went wrong (never a secret).
    pub error: String,
}

/// The most a stored response excerpt holds, in bytes.
pub const EXCERPT_MAX_BYTES: usize = 1024;

/// `text` cut to at most [`EXCERPT_MAX_BYTES`] bytes at a character boundary.
pub fn cap_excerpt(text: &str) -> &str {
    if text.len() <= EXCERPT_MAX_BYTES {
        return text;
    }
    let mut end = EXCERPT_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One attempt to send a delivery, as the worker records it with the delivery's new
/// state ([`DeliveryStore::complete_attempt`], [`DeliveryStore::fail_attempt`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttempt {
    /// When the request started (engine clock).
    pub started_at: DateTime<Utc>,
    /// How long until the answer (or the failure), in milliseconds.
    pub duration_ms: u64,
    /// HTTP status, if the destination answered.
    pub status: Option<u16>,
    /// `delivered`, `http_error`, `gone` or `network` (no answer: connect, timeout, TLS,
    /// a refused address).
    pub outcome: String,
    /// The start of the response body (secret-looking JSON keys redacted), cut by the
    /// store to [`EXCERPT_MAX_BYTES`] at a character boundary; never request headers.
    pub excerpt: Option<String>,
}

/// One recorded attempt of a delivery ([`DeliveryStore::list_attempts`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The delivery.
    pub delivery_id: String,
    /// 1 for the first recorded attempt of this delivery, counting on across replays.
    pub number: u32,
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// HTTP status, if the destination answered.
    pub status: Option<u16>,
    /// `delivered`, `http_error`, `gone` or `network`.
    pub outcome: String,
    /// At most 1 KiB of the response body; `None` when there was none, or once the
    /// event's payload was removed (retention or erasure).
    pub excerpt: Option<String>,
}

/// Which events a replay takes. Every field narrows; none means all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayFilter {
    /// One event.
    pub event_id: Option<String>,
    /// Events of this integration.
    pub integration: Option<String>,
    /// Deliveries to this destination (events without one are not taken).
    pub destination: Option<String>,
    /// Deliveries in this state, or events whose mapping failed (`mapping_failed`).
    pub status: Option<ReplayStatus>,
    /// Events of this type: the app's mapped type or the provider's type.
    pub event_type: Option<String>,
    /// Received at or after.
    pub since: Option<DateTime<Utc>>,
    /// Received before.
    pub until: Option<DateTime<Utc>>,
}

/// The states a replay can select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayStatus {
    /// Deliveries waiting for a retry.
    Pending,
    /// Delivered ones (sent again).
    Delivered,
    /// Dead ones.
    Dead,
    /// Events whose mapping failed.
    MappingFailed,
}

/// What a replay did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayCount {
    /// Events taken: each is mapped again and routed to the destinations it is missing.
    pub events: u64,
    /// Deliveries requeued for an immediate attempt (in-flight ones are left alone).
    pub deliveries: u64,
    /// Events the filter selected but left alone because their payload was removed
    /// (retention or erasure): there is nothing to send.
    #[serde(default)]
    pub skipped_purged: u64,
}

/// Queue depth and age, for metrics and status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    /// Deliveries pending or in flight.
    pub depth: u64,
    /// Of which in flight.
    pub in_flight: u64,
    /// Dead deliveries.
    pub dead: u64,
    /// Events not routed yet.
    pub unrouted: u64,
    /// Creation time of the oldest pending or in-flight delivery.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// Filter of [`DeliveryStore::list_deliveries`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Of one event.
    pub event_id: Option<String>,
    /// To one destination.
    pub destination: Option<String>,
    /// In one state.
    pub status: Option<DeliveryStatus>,
    /// Strictly older than this delivery id (the previous page's last id).
    pub before: Option<String>,
}

/// How an event was mapped, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRouting {
    /// `None` while unrouted.
    pub mapped: Option<Mapped>,
    /// When it was routed.
    pub routed_at: Option<DateTime<Utc>>,
}

/// The state an event listing can select (`GET /api/events?status=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Not routed yet (new, or replayed and waiting to be mapped again).
    Unrouted,
    /// Routed and mapped.
    Mapped,
    /// Routed; the mapping dropped it.
    Dropped,
    /// Routed; the mapping failed.
    MappingFailed,
    /// With a delivery waiting for an attempt.
    Pending,
    /// With a delivery being sent.
    InFlight,
    /// With a delivered delivery.
    Delivered,
    /// With a dead delivery.
    Dead,
}

impl EventStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unrouted => "unrouted",
            Self::Mapped => "mapped",
            Self::Dropped => "dropped",
            Self::MappingFailed => "mapping_failed",
            Self::Pending => "pending",
            Self::InFlight => "in_flight",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unrouted" => Self::Unrouted,
            "mapped" => Self::Mapped,
            "dropped" => Self::Dropped,
            "mapping_failed" => Self::MappingFailed,
            "pending" => Self::Pending,
            "in_flight" => Self::InFlight,
            "delivered" => Self::Delivered,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// Filter of [`DeliveryStore::list_event_summaries`]. Every field narrows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventListFilter {
    /// Of one integration.
    pub integration: Option<String>,
    /// In one state.
    pub status: Option<EventStatus>,
    /// Of one type: the app's mapped type or the provider's type.
    pub event_type: Option<String>,
    /// Strictly older than this event id (the previous page's last id).
    pub before: Option<String>,
    /// With a delivery in this state (narrows together with `status`).
    pub delivery: Option<DeliveryStatus>,
    /// `Some(true)`: only the events Switchboard recorded itself (scheme `internal`);
    /// `Some(false)`: only received webhooks, each verified by its scheme.
    pub internal: Option<bool>,
    /// Received at or after.
    pub since: Option<DateTime<Utc>>,
    /// Received before.
    pub until: Option<DateTime<Utc>>,
    /// Routed to this connection (read through the connection's own index, so a
    /// connection's events cost the same however many others there are).
    pub connection_id: Option<String>,
}

/// How an event was mapped, without the mapped data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingSummary {
    /// `mapped`, `dropped` or `failed`.
    pub status: String,
    /// The app's event type, when mapped.
    pub event_type: Option<String>,
    /// What went wrong, when failed.
    pub error: Option<String>,
}

/// Deliveries of an event (or a destination) by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCounts {
    /// Waiting for an attempt.
    pub pending: u64,
    /// Being sent.
    pub in_flight: u64,
    /// Delivered.
    pub delivered: u64,
    /// Dead.
    pub dead: u64,
}

/// An event as listed: its metadata (not its body or headers), its mapping and its
/// deliveries by state, read in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    /// `evt_…`
    pub id: String,
    /// The integration that received it.
    pub integration: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The provider's event id.
    pub provider_event_id: Option<String>,
    /// The provider's event type.
    pub event_type: Option<String>,
    /// The scheme that verified it.
    pub scheme: String,
    /// The connection it was routed to.
    pub connection_id: Option<String>,
    /// Body size in bytes.
    pub body_bytes: u64,
    /// Its mapping; `None` while unrouted.
    pub mapping: Option<MappingSummary>,
    /// When it was routed.
    pub routed_at: Option<DateTime<Utc>>,
    /// When its payload was removed (retention or erasure).
    pub purged_at: Option<DateTime<Utc>>,
    /// Its deliveries by state.
    pub deliveries: DeliveryCounts,
}

/// The pipeline's storage.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Up to `limit` events not routed yet, oldest first.
    async fn unrouted_events(&self, limit: u32) -> StoreResult<Vec<Event>>;

    /// Records each event's mapping, marks it routed and enqueues its deliveries (due
    /// at `now`), all in one transaction. An event already routed meanwhile (another
    /// process) is skipped. A failed or dropped mapping makes the event's pending
    /// deliveries `dead`. Returns the number of deliveries enqueued.
    async fn route_events(&self, routings: &[Routing], now: DateTime<Utc>) -> StoreResult<u64>;

    /// How an event was mapped; `None` if the event does not exist.
    async fn event_routing(&self, event_id: &str) -> StoreResult<Option<EventRouting>>;

    /// Claims up to `limit` due deliveries (pending with `next_attempt_at <= now`, or in
    /// flight with an expired lease), oldest due first, skipping disabled destinations
    /// and those in `skip`. Each claim counts an attempt, bumps the fence and holds the
    /// lease until `lease_until`. Safe across processes.
    async fn claim_deliveries(
        &self,
        owner: &str,
        limit: u32,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        skip: &[String],
    ) -> StoreResult<Vec<Claimed>>;

    /// Extends a lease; false if the claim is no longer current.
    async fn renew_lease(
        &self,
        id: &str,
        fence: i64,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Marks a claimed delivery delivered; false (and nothing written) if the claim is no
    /// longer current.
    async fn complete_delivery(
        &self,
        id: &str,
        fence: i64,
        status: u16,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Records a failed attempt: pending again at `retry_at`, or dead; false if the
    /// claim is no longer current.
    async fn fail_delivery(&self, id: &str, fence: i64, failure: &Failure) -> StoreResult<bool>;

    /// [`DeliveryStore::complete_delivery`] that also records the attempt, in the same
    /// statement or transaction (nothing is recorded if the claim is no longer current).
    async fn complete_attempt(
        &self,
        id: &str,
        fence: i64,
        status: u16,
        at: DateTime<Utc>,
        attempt: &NewAttempt,
    ) -> StoreResult<bool>;

    /// [`DeliveryStore::fail_delivery`] that also records the attempt, in the same
    /// statement or transaction (nothing is recorded if the claim is no longer current).
    async fn fail_attempt(
        &self,
        id: &str,
        fence: i64,
        failure: &Failure,
        attempt: &NewAttempt,
    ) -> StoreResult<bool>;

    /// The recorded attempts of every delivery of an event, by delivery id then
    /// attempt number; at most `limit`.
    async fn list_attempts(&self, event_id: &str, limit: u32) -> StoreResult<Vec<Attempt>>;

    /// Gives a claim back without counting the attempt (shutdown, a full destination);
    /// due again at `at`. False if the claim is no longer current.
    async fn release_delivery(&self, id: &str, fence: i64, at: DateTime<Utc>) -> StoreResult<bool>;

    /// The earliest `next_attempt_at` of a pending delivery (workers sleep until then).
    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>>;

    /// Queue depth and age.
    async fn queue_stats(&self) -> StoreResult<QueueStats>;

    /// One delivery.
    async fn get_delivery(&self, id: &str) -> StoreResult<Option<Delivery>>;

    /// Deliveries, newest first, at most `limit`.
    async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;

    /// Replays what `filter` selects: the events are marked unrouted (mapped again by the
    /// current configuration, routed to destinations they miss) and their selected
    /// deliveries that are not in flight are requeued with fresh attempts, due at `now`.
    /// With `dry_run`, only counts. One transaction.
    async fn replay(
        &self,
        filter: &ReplayFilter,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<ReplayCount>;

    /// Disables or enables a destination (410 Gone disables it); returns whether the
    /// state changed. `reason` is kept while disabled.
    async fn set_destination_disabled(
        &self,
        destination: &str,
        disabled: bool,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Disabled destinations with the reason.
    async fn disabled_destinations(&self) -> StoreResult<Vec<(String, Option<String>)>>;

    /// Events with their mapping and delivery counts, newest first (by id), at most
    /// `limit`, narrowed by `filter`.
    async fn list_event_summaries(
        &self,
        filter: &EventListFilter,
        limit: u32,
    ) -> StoreResult<Vec<EventSummary>>;

    /// Deliveries waiting, being sent or dead, per destination (delivered ones are not
    /// counted: that would read the whole history).
    async fn destination_queue_counts(&self) -> StoreResult<Vec<(String, DeliveryCounts)>>;

    /// How far a replay made at `at` with `filter` has come: by state, the deliveries
    /// of the events it selected (`event_id`, `integration`, `event_type`, `since`,
    /// `until`, received at or before `at`; `destination` narrows the deliveries;
    /// `status` is ignored, as the replay changed it) that were requeued at or after
    /// `at` (due at or after it: a delivery's due time only moves forward) or enqueued
    /// at or after it (the event mapped again to a destination it missed). A delivery
    /// of those events that was already waiting and is retried after `at` counts too.
    async fn replay_progress(
        &self,
        filter: &ReplayFilter,
        at: DateTime<Utc>,
    ) -> StoreResult<DeliveryCounts>;
}
