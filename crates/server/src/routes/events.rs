//! Stored events and replay (app scope): `GET /api/events` (with each event's mapping and
//! deliveries by state), `GET /api/events/{id}`, `POST /api/events/{id}/replay` and
//! `POST /api/events/replay` (a filter that must name what it takes, or `"all": true`).

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use store::deliveries::{DeliveryCounts, EventListFilter, EventStatus, EventSummary};
use store::{Mapped, ReplayCount, ReplayFilter, ReplayStatus};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::App;
use crate::error::{
    ApiError, ErrorBody, PathParams, QueryParams, is_json_object, json_content_type, read_body,
    without_quoted_values,
};
use crate::routes::Routes;

/// A JSON object body that may also be absent (empty): then `T::default()`. Unlike
/// [`crate::error::JsonBody`], every error is a 400 (unknown fields included), and
/// messages never quote a submitted value.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub T);

fn bad_body(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// A parser's message with quoted values cut out (`invalid type: string "…"`), shortened.
fn safe_message(text: &str) -> String {
    let text = text
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .or_else(|| text.strip_prefix("Failed to parse the request body as JSON: "))
        .unwrap_or(text);
    let out = format!("body: {}", without_quoted_values(text));
    match out.char_indices().nth(300) {
        Some((at, _)) => out[..at].to_owned(),
        None => out,
    }
}

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json_type = json_content_type(req.headers());
        let bytes = read_body(req, state, |_| "the body could not be read".into()).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if json_type != Some(true) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json (or no body at all)",
            ));
        }
        if !is_json_object(&bytes) {
            return Err(bad_body("the body must be a JSON object"));
        }
        // axum's parser names the field at fault (`status: unknown variant …`).
        Json::<T>::from_bytes(&bytes)
            .map(|Json(v)| Self(v))
            .map_err(|r| bad_body(safe_message(&r.body_text())))
    }
}

/// Paging and filters of the event listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only this integration's events.
    pub integration: Option<String>,
    /// Only events in this state: `unrouted`, `mapped`, `dropped`, `mapping_failed`, or
    /// with a delivery `pending`, `in_flight`, `delivered` or `dead`.
    #[param(
        pattern = "^(unrouted|mapped|dropped|mapping_failed|pending|in_flight|delivered|dead)$"
    )]
    pub status: Option<String>,
    /// Only events of this type (the app's mapped type or the provider's type).
    #[serde(rename = "type")]
    #[param(rename = "type", min_length = 1, max_length = 256)]
    pub event_type: Option<String>,
    /// Page size (default 100); values outside 1 to 500 are clamped to it.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295.0)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^evt_[0-9a-f]{32}$")]
    pub cursor: Option<String>,
}

/// How an event was mapped; null while it is unrouted (new or replayed).
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingView {
    /// `mapped`, `dropped` or `failed`.
    pub status: String,
    /// The app's event type, when mapped.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// What went wrong, when failed.
    pub error: Option<String>,
}

/// An event's deliveries by state.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryCountsView {
    /// Waiting for an attempt.
    pub pending: u64,
    /// Being sent.
    pub in_flight: u64,
    /// Delivered.
    pub delivered: u64,
    /// Dead (replay revives them).
    pub dead: u64,
}

impl From<DeliveryCounts> for DeliveryCountsView {
    fn from(c: DeliveryCounts) -> Self {
        Self {
            pending: c.pending,
            in_flight: c.in_flight,
            delivered: c.delivered,
            dead: c.dead,
        }
    }
}

/// A stored event (metadata; the body is kept for replay and mapping).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
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
    pub body_bytes: u64,
    /// When its payload (body, headers, mapped data) was removed by retention or
    /// erasure; null while kept.
    pub purged_at: Option<DateTime<Utc>>,
    /// Its mapping; null while unrouted.
    pub mapping: Option<MappingView>,
    /// Its deliveries by state.
    pub deliveries: DeliveryCountsView,
}

impl From<EventSummary> for EventView {
    fn from(e: EventSummary) -> Self {
        Self {
            id: e.id,
            integration: e.integration,
            received_at: e.received_at,
            provider_event_id: e.provider_event_id,
            event_type: e.event_type,
            scheme: e.scheme,
            connection_id: e.connection_id,
            body_bytes: e.body_bytes,
            purged_at: e.purged_at,
            mapping: e.mapping.map(|m| MappingView {
                status: m.status,
                event_type: m.event_type,
                error: m.error,
            }),
            deliveries: e.deliveries.into(),
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// The events.
    pub data: Vec<EventView>,
    /// Cursor of the next page, or null.
    pub next_cursor: Option<String>,
}

fn event_status(s: Option<&str>) -> Result<Option<EventStatus>, ApiError> {
    s.map(|s| {
        EventStatus::parse(s).ok_or_else(|| {
            bad_body(
                "status: use unrouted, mapped, dropped, mapping_failed, pending, in_flight, delivered or dead",
            )
        })
    })
    .transpose()
}

/// Stored events, newest first, with their mapping and deliveries by state.
#[utoipa::path(get, path = "/api/events", tag = "webhooks", security(("api_key" = [])), params(EventsQuery), responses(
    (status = 200, body = EventList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_events(
    State(s): State<AppState>,
    _: App,
    QueryParams(q): QueryParams<EventsQuery>,
) -> Result<Json<EventList>, ApiError> {
    let filter = EventListFilter {
        integration: q.integration,
        status: event_status(q.status.as_deref())?,
        event_type: q.event_type,
        before: q.cursor,
        ..Default::default()
    };
    let (events, next_cursor) = s
        .engine
        .list_event_summaries(&filter, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(EventList {
        data: events.into_iter().map(EventView::from).collect(),
        next_cursor,
    }))
}

/// An event's mapping, with the data the destinations receive.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingDetail {
    /// `mapped`, `dropped` or `failed`.
    pub status: String,
    /// The app's event type, when mapped.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// The app's event data (any JSON), when mapped.
    pub data: Option<serde_json::Value>,
    /// What went wrong, when failed.
    pub error: Option<String>,
}

/// One delivery of an event to a destination.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
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
    pub last_status: Option<u16>,
    /// What went wrong in the last attempt.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// Its recorded attempts, oldest first (empty once the event's payload was removed).
    pub attempt_history: Vec<AttemptView>,
}

/// One attempt to send a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// 1 for the first recorded attempt; counts on across replays.
    pub number: u32,
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// How long until the answer or the failure, in milliseconds.
    pub duration_ms: u64,
    /// The destination's HTTP status; null when no answer came.
    pub status: Option<u16>,
    /// `delivered`, `http_error`, `gone` or `network` (no answer).
    #[schema(pattern = "^(delivered|http_error|gone|network)$")]
    pub outcome: String,
    /// At most 1 KiB of the response body, with the values of secret-looking JSON keys
    /// and `key=value` pairs redacted; null when the body was empty.
    pub excerpt: Option<String>,
}

impl From<store::Attempt> for AttemptView {
    fn from(a: store::Attempt) -> Self {
        Self {
            number: a.number,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            status: a.status,
            outcome: a.outcome,
            excerpt: a.excerpt,
        }
    }
}

/// One event: metadata (never its headers, which may carry provider tokens), mapping and
/// deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDetailView {
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
    pub body_bytes: u64,
    /// When its payload was removed; null while kept.
    pub purged_at: Option<DateTime<Utc>>,
    /// Why: `retention` or `erasure`.
    #[schema(pattern = "^(retention|erasure)$")]
    pub purge_reason: Option<String>,
    /// When it was routed; null while unrouted.
    pub routed_at: Option<DateTime<Utc>>,
    /// Its mapping; null while unrouted.
    pub mapping: Option<MappingDetail>,
    /// Its deliveries, newest first.
    pub deliveries: Vec<DeliveryView>,
}

/// One event with its mapping and deliveries.
#[utoipa::path(get, path = "/api/events/{id}", tag = "webhooks", security(("api_key" = [])),
    params(("id" = String, Path, pattern = "^evt_[0-9a-f]{32}$", description = "event id (evt_…)")),
    responses(
        (status = 200, body = EventDetailView),
        (status = 400, body = ErrorBody, description = "not an event id"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such event")))]
pub async fn get_event(
    State(s): State<AppState>,
    _: App,
    PathParams(id): PathParams<String>,
) -> Result<Json<EventDetailView>, ApiError> {
    let d = s.engine.event_detail(&id).await?;
    let mapping = d.routing.mapped.map(|m| match m {
        Mapped::Mapped { event_type, data } => MappingDetail {
            status: "mapped".into(),
            event_type: Some(event_type),
            data: serde_json::from_str(&data).ok(),
            error: None,
        },
        Mapped::Dropped => MappingDetail {
            status: "dropped".into(),
            event_type: None,
            data: None,
            error: None,
        },
        Mapped::Failed { error } => MappingDetail {
            status: "failed".into(),
            event_type: None,
            data: None,
            error: Some(error),
        },
    });
    let e = d.event;
    let mut attempts = d.attempts;
    Ok(Json(EventDetailView {
        body_bytes: e.body.len() as u64,
        purged_at: d.purged.map(|p| p.at),
        purge_reason: d.purged.map(|p| p.reason.as_str().to_owned()),
        id: e.id,
        integration: e.integration,
        received_at: e.received_at,
        provider_event_id: e.provider_event_id,
        event_type: e.event_type,
        scheme: e.scheme,
        connection_id: e.connection_id,
        routed_at: d.routing.routed_at,
        mapping,
        deliveries: d
            .deliveries
            .into_iter()
            .map(|x| DeliveryView {
                attempt_history: attempts
                    .extract_if(.., |a| a.delivery_id == x.id)
                    .map(AttemptView::from)
                    .collect(),
                id: x.id,
                destination: x.destination,
                status: x.status.as_str().to_owned(),
                attempts: x.attempts,
                next_attempt_at: x.next_attempt_at,
                last_status: x.last_status,
                last_error: x.last_error,
                delivered_at: x.delivered_at,
                created_at: x.created_at,
            })
            .collect(),
    }))
}

/// Options of a single-event replay; the body may be omitted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayOne {
    /// Only count what would be replayed.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a replay did (or, with `dry_run`, would do).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayAnswer {
    /// Events taken: each is mapped again under the current configuration.
    pub events: u64,
    /// Deliveries requeued for an immediate attempt (in-flight ones are left alone).
    pub deliveries: u64,
    /// Events selected but skipped: their payload was removed (retention or erasure),
    /// so there is nothing to send.
    pub skipped_purged: u64,
    /// Whether this was only a count.
    pub dry_run: bool,
}

impl ReplayAnswer {
    fn new(c: ReplayCount, dry_run: bool) -> Self {
        Self {
            events: c.events,
            deliveries: c.deliveries,
            skipped_purged: c.skipped_purged,
            dry_run,
        }
    }
}

/// Replay one event: it is mapped again under the current configuration, routed to the
/// destinations it is missing, and its deliveries that are not in flight are sent again
/// (same `webhook-id`).
#[utoipa::path(post, path = "/api/events/{id}/replay", tag = "webhooks", security(("api_key" = [])),
    params(("id" = String, Path, pattern = "^evt_[0-9a-f]{32}$", description = "event id (evt_…)")),
    request_body(content = Option<ReplayOne>, description = "optional"),
    responses(
        (status = 200, body = ReplayAnswer),
        (status = 400, body = ErrorBody, description = "not an event id, or a bad body"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such event"),
        (status = 409, body = ErrorBody, description = "payload_purged: its payload was removed (retention or erasure)")))]
pub async fn replay_event(
    State(s): State<AppState>,
    App(p): App,
    PathParams(id): PathParams<String>,
    OptionalJson(body): OptionalJson<ReplayOne>,
) -> Result<Json<ReplayAnswer>, ApiError> {
    let c = s.engine.replay_event(&id, body.dry_run, &p.actor()).await?;
    Ok(Json(ReplayAnswer::new(c, body.dry_run)))
}

/// Which events a bulk replay takes. Every field narrows; an empty filter needs
/// `"all": true`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Events of this integration (must be configured).
    pub integration: Option<String>,
    /// Deliveries to this destination (must be configured).
    pub destination: Option<String>,
    /// `pending`, `delivered`, `dead` (deliveries in that state) or `mapping_failed`
    /// (events whose mapping failed).
    #[schema(value_type = Option<String>, pattern = "^(pending|delivered|dead|mapping_failed)$", example = "dead")]
    pub status: Option<ReplayStatus>,
    /// Events of this type (the app's mapped type or the provider's type).
    #[schema(min_length = 1, max_length = 256)]
    pub event_type: Option<String>,
    /// Received at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Received before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Only count what would be replayed.
    #[serde(default)]
    pub dry_run: bool,
    /// Allow an empty filter (every event).
    #[serde(default)]
    pub all: bool,
}

/// Replay every event a filter selects (see the single-event replay). Use `dry_run`
/// first to see the counts.
#[utoipa::path(post, path = "/api/events/replay", tag = "webhooks", security(("api_key" = [])),
    request_body = ReplayRequest,
    responses(
        (status = 200, body = ReplayAnswer),
        (status = 400, body = ErrorBody, description = "a bad field, an unknown integration or destination, or an empty filter without all"),
        (status = 401, body = ErrorBody)))]
pub async fn replay(
    State(s): State<AppState>,
    App(p): App,
    OptionalJson(r): OptionalJson<ReplayRequest>,
) -> Result<Json<ReplayAnswer>, ApiError> {
    let filter = ReplayFilter {
        event_id: None,
        integration: r.integration,
        destination: r.destination,
        status: r.status,
        event_type: r.event_type,
        since: r.since,
        until: r.until,
    };
    let c = s
        .engine
        .replay_checked(&filter, r.all, r.dry_run, &p.actor())
        .await?;
    Ok(Json(ReplayAnswer::new(c, r.dry_run)))
}

/// The routes of this module.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(list_events))
        .routes(routes!(replay))
        .routes(routes!(get_event))
        .routes(routes!(replay_event))
}
