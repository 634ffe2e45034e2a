//! Stored events, replay and destinations: `GET /api/events`, `GET /api/events/{id}`,
//! `POST /api/events/{id}/replay`, `POST /api/events/replay`, `GET /api/destinations`,
//! `POST /api/destinations/{id}/disable|enable`.
//!
//! Replaying the dead deliveries of one destination after fixing it:
//!
//! ```no_run
//! use client::{ReplayFilter, ReplayStatus};
//! # async fn demo(sb: client::Client) -> Result<(), client::ClientError> {
//! // The destination answered 410 Gone and was disabled: enable it again.
//! sb.enable_destination("app").await?;
//! let filter = ReplayFilter::default()
//!     .destination("app")
//!     .status(ReplayStatus::Dead);
//! let would = sb.replay(&filter, true).await?;
//! println!("would replay {} events, {} deliveries", would.events, would.deliveries);
//! let done = sb.replay(&filter, false).await?;
//! assert!(!done.dry_run);
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Client, ClientError, Page};

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $wire),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok(Self::$variant),)+
                    _ => Err(format!(
                        "unknown status {s:?}: use {}",
                        [$($wire),+].join(", ")
                    )),
                }
            }
        }
    };
}

wire_enum! {
    /// The states an event listing can select ([`EventFilter::status`]).
    EventStatus {
        /// Not routed yet (new, or replayed and waiting to be mapped again).
        Unrouted = "unrouted",
        /// Mapped.
        Mapped = "mapped",
        /// The mapping dropped it.
        Dropped = "dropped",
        /// The mapping failed.
        MappingFailed = "mapping_failed",
        /// With a delivery waiting for an attempt.
        Pending = "pending",
        /// With a delivery being sent.
        InFlight = "in_flight",
        /// With a delivered delivery.
        Delivered = "delivered",
        /// With a dead delivery.
        Dead = "dead",
    }
}

wire_enum! {
    /// The states a replay can select ([`ReplayFilter::status`]).
    ReplayStatus {
        /// Deliveries waiting for a retry.
        Pending = "pending",
        /// Delivered ones (sent again).
        Delivered = "delivered",
        /// Dead ones.
        Dead = "dead",
        /// Events whose mapping failed (mapped again).
        MappingFailed = "mapping_failed",
    }
}

/// How an event was mapped to the app's format.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct EventMapping {
    /// `mapped`, `dropped` or `failed`.
    pub status: String,
    /// The app's event type, when mapped.
    #[serde(rename = "type", default)]
    pub event_type: Option<String>,
    /// What went wrong, when failed.
    #[serde(default)]
    pub error: Option<String>,
    /// The app's event data, when mapped (only in [`Client::get_event`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// Deliveries of an event by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct DeliveryCounts {
    /// Waiting for an attempt.
    #[serde(default)]
    pub pending: u64,
    /// Being sent.
    #[serde(default)]
    pub in_flight: u64,
    /// Delivered.
    #[serde(default)]
    pub delivered: u64,
    /// Dead.
    #[serde(default)]
    pub dead: u64,
}

/// A stored webhook event as listed (metadata, never the body or headers).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Event {
    /// `evt_…`
    pub id: String,
    /// Integration id.
    pub integration: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The provider's event id (deduplication key).
    pub provider_event_id: Option<String>,
    /// The provider's event type.
    pub event_type: Option<String>,
    /// The signature scheme that verified it.
    pub scheme: String,
    /// The connection it routes to.
    pub connection_id: Option<String>,
    /// Body size in bytes (0 once purged).
    #[serde(default)]
    pub body_bytes: u64,
    /// When its payload was removed (retention or erasure); `None` while kept.
    #[serde(default)]
    pub purged_at: Option<DateTime<Utc>>,
    /// Its mapping; `None` while unrouted (new, or replayed and not mapped again yet).
    #[serde(default)]
    pub mapping: Option<EventMapping>,
    /// Its deliveries by state.
    #[serde(default)]
    pub deliveries: DeliveryCounts,
}

/// One delivery of an event to a destination.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Delivery {
    /// `dlv_…`, also the `webhook-id` the destination sees.
    pub id: String,
    /// The destination.
    pub destination: String,
    /// `pending`, `in_flight`, `delivered` or `dead`.
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: DateTime<Utc>,
    /// HTTP status of the last attempt.
    #[serde(default)]
    pub last_status: Option<u16>,
    /// What went wrong in the last attempt.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When it was delivered.
    #[serde(default)]
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was enqueued.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// One event with its mapping (and mapped data) and its deliveries.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EventDetail {
    /// `evt_…`
    pub id: String,
    /// Integration id.
    pub integration: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The provider's event id.
    pub provider_event_id: Option<String>,
    /// The provider's event type.
    pub event_type: Option<String>,
    /// The signature scheme that verified it.
    pub scheme: String,
    /// The connection it routes to.
    pub connection_id: Option<String>,
    /// Body size in bytes (0 once purged).
    #[serde(default)]
    pub body_bytes: u64,
    /// When its payload was removed; `None` while kept.
    #[serde(default)]
    pub purged_at: Option<DateTime<Utc>>,
    /// Why: `retention` or `erasure`.
    #[serde(default)]
    pub purge_reason: Option<String>,
    /// When it was routed; `None` while unrouted.
    #[serde(default)]
    pub routed_at: Option<DateTime<Utc>>,
    /// Its mapping; `None` while unrouted.
    #[serde(default)]
    pub mapping: Option<EventMapping>,
    /// Its deliveries, newest first.
    #[serde(default)]
    pub deliveries: Vec<Delivery>,
}

/// Filters and page size of [`Client::list_events`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this integration.
    pub integration: Option<String>,
    /// Only events in this state.
    pub status: Option<EventStatus>,
    /// Only this type (the app's mapped type or the provider's type).
    pub event_type: Option<String>,
    /// Page size, 1 to 500 (server default 100).
    pub limit: Option<u32>,
}

impl EventFilter {
    /// Only events of `integration`.
    pub fn integration(mut self, integration: impl Into<String>) -> Self {
        self.integration = Some(integration.into());
        self
    }

    /// Only events in `status`.
    pub fn status(mut self, status: EventStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Only events of `event_type`.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Pages of `limit` events.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub(crate) fn query(&self, cursor: Option<&str>) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(i) = &self.integration {
            q.push(("integration", i.clone()));
        }
        if let Some(s) = self.status {
            q.push(("status", s.as_str().to_owned()));
        }
        if let Some(t) = &self.event_type {
            q.push(("type", t.clone()));
        }
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.to_owned()));
        }
        q
    }
}

/// Which events [`Client::replay`] takes. Every field narrows; an empty filter replays
/// everything and is refused unless [`ReplayFilter::all`] is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    /// Events of this integration.
    pub integration: Option<String>,
    /// Deliveries to this destination.
    pub destination: Option<String>,
    /// Deliveries in this state, or events whose mapping failed.
    pub status: Option<ReplayStatus>,
    /// Events of this type (mapped or provider type).
    pub event_type: Option<String>,
    /// Received at or after.
    pub since: Option<DateTime<Utc>>,
    /// Received before.
    pub until: Option<DateTime<Utc>>,
    /// Allow an empty filter (every event).
    pub all: bool,
}

impl ReplayFilter {
    /// Events of `integration`.
    pub fn integration(mut self, integration: impl Into<String>) -> Self {
        self.integration = Some(integration.into());
        self
    }

    /// Deliveries to `destination`.
    pub fn destination(mut self, destination: impl Into<String>) -> Self {
        self.destination = Some(destination.into());
        self
    }

    /// Deliveries in `status` (or events whose mapping failed).
    pub fn status(mut self, status: ReplayStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Events of `event_type`.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Received at or after `t`.
    pub fn since(mut self, t: DateTime<Utc>) -> Self {
        self.since = Some(t);
        self
    }

    /// Received before `t`.
    pub fn until(mut self, t: DateTime<Utc>) -> Self {
        self.until = Some(t);
        self
    }

    /// Every event (needed when nothing else is set).
    pub fn all(mut self) -> Self {
        self.all = true;
        self
    }

    /// Whether nothing narrows the selection.
    pub fn is_empty(&self) -> bool {
        Self {
            all: false,
            ..self.clone()
        } == Self::default()
    }

    pub(crate) fn body(&self, dry_run: bool) -> serde_json::Value {
        let mut v = serde_json::json!({ "dry_run": dry_run });
        for (k, f) in [
            ("integration", &self.integration),
            ("destination", &self.destination),
            ("event_type", &self.event_type),
        ] {
            if let Some(x) = f {
                v[k] = x.clone().into();
            }
        }
        if let Some(s) = self.status {
            v["status"] = s.as_str().into();
        }
        for (k, t) in [("since", self.since), ("until", self.until)] {
            if let Some(t) = t {
                v[k] = t
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                    .into();
            }
        }
        if self.all {
            v["all"] = true.into();
        }
        v
    }
}

/// What a replay did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct ReplayCount {
    /// Events taken: each is mapped again under the server's current configuration.
    pub events: u64,
    /// Deliveries requeued for an immediate attempt (in-flight ones are left alone).
    pub deliveries: u64,
    /// Events selected but skipped: their payload was removed (retention or erasure).
    #[serde(default)]
    pub skipped_purged: u64,
    /// Whether this was only a count.
    pub dry_run: bool,
}

/// A destination's deliveries by state (delivered ones are not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct QueueCounts {
    /// Waiting for an attempt.
    #[serde(default)]
    pub pending: u64,
    /// Being sent.
    #[serde(default)]
    pub in_flight: u64,
    /// Dead.
    #[serde(default)]
    pub dead: u64,
}

/// A configured destination (never its signing secret).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Destination {
    /// Its id.
    pub id: String,
    /// Where events are POSTed (password and query values redacted).
    pub url: String,
    /// Integrations whose events go there (empty: all).
    #[serde(default)]
    pub integrations: Vec<String>,
    /// Event type patterns.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// Why it is disabled.
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// Its queue.
    #[serde(default)]
    pub queue: QueueCounts,
}

/// A destination after [`Client::enable_destination`] or [`Client::disable_destination`].
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DestinationChange {
    /// The destination as it is now.
    #[serde(flatten)]
    pub destination: Destination,
    /// Whether this call changed its state (false if it already was so).
    pub changed: bool,
}

impl Client {
    /// One page of stored events matching `filter`, newest first, after `cursor` (a
    /// previous page's `next_cursor`), with each event's mapping and deliveries by state.
    ///
    /// ```no_run
    /// use client::{EventFilter, EventStatus};
    /// # async fn demo(sb: client::Client) -> Result<(), client::ClientError> {
    /// let filter = EventFilter::default().status(EventStatus::Dead).limit(50);
    /// let mut cursor = None;
    /// loop {
    ///     let page = sb.list_events(&filter, cursor.as_deref()).await?;
    ///     for e in &page.data {
    ///         println!("{} {} dead={}", e.id, e.integration, e.deliveries.dead);
    ///     }
    ///     match page.next_cursor {
    ///         Some(c) => cursor = Some(c),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_events(
        &self,
        filter: &EventFilter,
        cursor: Option<&str>,
    ) -> Result<Page<Event>, ClientError> {
        self.send(
            self.http
                .get(self.url("/api/events"))
                .query(&filter.query(cursor)),
        )
        .await
    }

    /// One event with its mapping (and the data destinations receive) and its
    /// deliveries. `not_found` for an unknown id, `invalid_request` for a malformed one.
    pub async fn get_event(&self, id: &str) -> Result<EventDetail, ClientError> {
        self.send(self.http.get(self.api(&["events", id])?)).await
    }

    /// Replays one event: it is mapped again under the server's current configuration,
    /// routed to destinations it is missing, and its deliveries that are not in flight
    /// are sent again (same `webhook-id`). With `dry_run`, only counts.
    pub async fn replay_event(&self, id: &str, dry_run: bool) -> Result<ReplayCount, ClientError> {
        self.send(
            self.http
                .post(self.api(&["events", id, "replay"])?)
                .json(&serde_json::json!({ "dry_run": dry_run })),
        )
        .await
    }

    /// Replays every event `filter` selects; with `dry_run`, only counts. The server
    /// refuses an empty filter unless [`ReplayFilter::all`] is set, and unknown
    /// integrations or destinations (`invalid_request`).
    pub async fn replay(
        &self,
        filter: &ReplayFilter,
        dry_run: bool,
    ) -> Result<ReplayCount, ClientError> {
        self.send(
            self.http
                .post(self.url("/api/events/replay"))
                .json(&filter.body(dry_run)),
        )
        .await
    }

    /// The configured destinations with their state and queue counts.
    pub async fn list_destinations(&self) -> Result<Vec<Destination>, ClientError> {
        let page: Page<Destination> = self
            .send(self.http.get(self.url("/api/destinations")))
            .await?;
        Ok(page.data)
    }

    /// Delivers to a destination again (after a 410 Gone or a disable); its waiting
    /// deliveries go out at once.
    pub async fn enable_destination(&self, id: &str) -> Result<DestinationChange, ClientError> {
        self.send(self.http.post(self.api(&["destinations", id, "enable"])?))
            .await
    }

    /// Stops delivering to a destination (deliveries wait, nothing is lost), with an
    /// optional reason shown in listings.
    pub async fn disable_destination(
        &self,
        id: &str,
        reason: Option<&str>,
    ) -> Result<DestinationChange, ClientError> {
        let mut req = self.http.post(self.api(&["destinations", id, "disable"])?);
        if let Some(r) = reason {
            req = req.json(&serde_json::json!({ "reason": r }));
        }
        self.send(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_build_the_documented_query_and_body() {
        let f = EventFilter::default()
            .integration("gh")
            .status(EventStatus::MappingFailed)
            .event_type("push")
            .limit(5);
        assert_eq!(
            f.query(Some("evt_1")),
            vec![
                ("integration", "gh".to_owned()),
                ("status", "mapping_failed".to_owned()),
                ("type", "push".to_owned()),
                ("limit", "5".to_owned()),
                ("cursor", "evt_1".to_owned()),
            ]
        );
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let r = ReplayFilter::default()
            .integration("gh")
            .destination("app")
            .status(ReplayStatus::Dead)
            .event_type("github.push")
            .since(t);
        assert!(!r.is_empty());
        assert_eq!(
            r.body(true),
            serde_json::json!({
                "dry_run": true, "integration": "gh", "destination": "app",
                "status": "dead", "event_type": "github.push",
                "since": "2026-01-02T03:04:05.000Z"
            })
        );
        assert!(ReplayFilter::default().is_empty());
        assert!(ReplayFilter::default().all().is_empty());
        assert_eq!(
            ReplayFilter::default().all().body(false),
            serde_json::json!({"dry_run": false, "all": true})
        );
        assert_eq!("dead".parse::<ReplayStatus>(), Ok(ReplayStatus::Dead));
        assert!(
            "lost"
                .parse::<ReplayStatus>()
                .unwrap_err()
                .contains("mapping_failed")
        );
        assert_eq!(
            "in_flight".parse::<EventStatus>(),
            Ok(EventStatus::InFlight)
        );
        assert_eq!(EventStatus::Unrouted.to_string(), "unrouted");
    }

    #[test]
    fn answers_decode_from_the_server_shape() {
        let e: Event = serde_json::from_value(serde_json::json!({
            "id": "evt_1", "integration": "gh", "received_at": "2026-01-01T00:00:00.000Z",
            "provider_event_id": "d-1", "event_type": "push", "scheme": "github",
            "connection_id": null, "body_bytes": 13,
            "mapping": {"status": "mapped", "type": "github.push", "error": null},
            "deliveries": {"pending": 1, "in_flight": 0, "delivered": 2, "dead": 0}
        }))
        .unwrap();
        assert_eq!(
            e.mapping.unwrap().event_type.as_deref(),
            Some("github.push")
        );
        assert_eq!(e.deliveries.delivered, 2);
        let d: EventDetail = serde_json::from_value(serde_json::json!({
            "id": "evt_1", "integration": "gh", "received_at": "2026-01-01T00:00:00.000Z",
            "provider_event_id": null, "event_type": null, "scheme": "github",
            "connection_id": null, "body_bytes": 13, "routed_at": null, "mapping": null,
            "deliveries": [{"id": "dlv_1", "destination": "app", "status": "dead",
                "attempts": 3, "next_attempt_at": "2026-01-01T00:00:00.000Z",
                "last_status": 500, "last_error": "HTTP 500", "delivered_at": null,
                "created_at": "2026-01-01T00:00:00.000Z"}]
        }))
        .unwrap();
        assert!(d.mapping.is_none());
        assert_eq!(d.deliveries[0].last_status, Some(500));
        let c: DestinationChange = serde_json::from_value(serde_json::json!({
            "id": "app", "url": "https://app.example/hooks", "integrations": [],
            "event_types": ["*"], "enabled": false, "disabled_reason": "answered 410 Gone",
            "queue": {"pending": 4, "in_flight": 0, "dead": 1}, "changed": true
        }))
        .unwrap();
        assert!(c.changed && !c.destination.enabled);
        assert_eq!(c.destination.queue.pending, 4);
    }
}
