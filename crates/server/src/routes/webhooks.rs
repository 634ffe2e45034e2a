//! Webhook intake (`/webhooks/{integration}/event`, no API key: the provider's signature
//! authenticates) and the event listing (`GET /api/events`, app scope).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use engine::webhooks::{Incoming, Intake};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::auth::App;
use crate::error::{ApiError, ErrorBody, PathParams, QueryParams};

/// The answer to an accepted webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The stored event's id (the first one's, for a duplicate).
    pub id: String,
    /// Whether this delivery was a redelivery of an event already stored.
    pub duplicate: bool,
}

/// Receive a webhook. It is verified with the integration's scheme and secrets, and
/// committed to the database before the 200; a redelivery (same provider event id) is
/// answered 200 with `duplicate: true` and not stored again. `GET` only answers
/// handshakes (Meta, Dropbox, Microsoft Graph).
#[utoipa::path(post, path = "/webhooks/{integration}/event", tag = "webhooks",
    params(("integration" = String, Path, description = "integration id")),
    request_body(content = String, description = "the provider's payload, verbatim"),
    responses(
        (status = 200, body = Accepted, description = "stored (or a duplicate), or a handshake answer"),
        (status = 401, body = ErrorBody, description = "signature missing, invalid or stale"),
        (status = 403, body = ErrorBody, description = "intake for this integration is blocked"),
        (status = 404, body = ErrorBody, description = "no such integration, or it takes no webhooks"),
        (status = 413, body = ErrorBody, description = "body larger than max_body_bytes")))]
pub async fn intake(
    State(s): State<AppState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    PathParams(integration): PathParams<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let cfg = s.engine.config();
    let query = uri.query().unwrap_or("");
    let url = match uri.query() {
        Some(q) => format!("{}{}?{q}", cfg.public_url, uri.path()),
        None => format!("{}{}", cfg.public_url, uri.path()),
    };
    let headers = signatures::Headers::from(&headers);
    let outcome = s
        .engine
        .intake(Incoming {
            integration: &integration,
            method: method.as_str(),
            url: &url,
            query,
            headers: &headers,
            body: &body,
            now_unix: chrono::Utc::now().timestamp(),
        })
        .await?;
    Ok(match outcome {
        Intake::Stored { id } => Json(Accepted {
            id,
            duplicate: false,
        })
        .into_response(),
        Intake::Duplicate { id } => Json(Accepted {
            id,
            duplicate: true,
        })
        .into_response(),
        Intake::Handshake(r) => (
            StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK),
            [
                (header::CONTENT_TYPE, r.content_type),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            r.body,
        )
            .into_response(),
    })
}

/// Paging and filter of the event listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only this integration's events.
    pub integration: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A stored event (metadata; the body is kept for replay and mapping).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// `evt_…`
    pub id: String,
    /// Integration id.
    pub integration: String,
    /// When it was received.
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// The provider's event id (deduplication key).
    pub provider_event_id: Option<String>,
    /// The provider's event type.
    pub event_type: Option<String>,
    /// The signature scheme that verified it.
    pub scheme: String,
    /// The connection it routes to.
    pub connection_id: Option<String>,
    /// Body size in bytes.
    pub body_bytes: usize,
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    /// The events.
    pub data: Vec<EventView>,
    /// Cursor of the next page, or null.
    pub next_cursor: Option<String>,
}

/// Stored events, newest first.
#[utoipa::path(get, path = "/api/events", tag = "webhooks", security(("api_key" = [])), params(EventsQuery), responses(
    (status = 200, body = EventList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_events(
    State(s): State<AppState>,
    _: App,
    QueryParams(q): QueryParams<EventsQuery>,
) -> Result<Json<EventList>, ApiError> {
    let (events, next_cursor) = s
        .engine
        .list_events(
            q.integration.as_deref(),
            q.cursor.as_deref(),
            q.limit.unwrap_or(100),
        )
        .await?;
    let data = events
        .into_iter()
        .map(|e| EventView {
            body_bytes: e.body.len(),
            id: e.id,
            integration: e.integration,
            received_at: e.received_at,
            provider_event_id: e.provider_event_id,
            event_type: e.event_type,
            scheme: e.scheme,
            connection_id: e.connection_id,
        })
        .collect();
    Ok(Json(EventList { data, next_cursor }))
}

/// The routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/{integration}/event", get(intake).post(intake))
        .route("/api/events", get(list_events))
}
