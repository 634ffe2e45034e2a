//! Destinations (app scope): the configured ones with their state and queue, and
//! `disable` / `enable` (re-enabling after a 410 Gone is the usual case).

use axum::Json;
use axum::extract::State;
use engine::pipeline::admin::DestinationStatus;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::App;
use crate::error::{ApiError, ErrorBody, PathParams};
use crate::routes::Routes;
use crate::routes::events::OptionalJson;

/// Deliveries of a destination by state (delivered ones are not counted).
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    /// Waiting for an attempt.
    pub pending: u64,
    /// Being sent.
    pub in_flight: u64,
    /// Dead (replay revives them).
    pub dead: u64,
}

/// A configured destination (never its signing secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationView {
    /// Its id.
    pub id: String,
    /// Where events are POSTed (password and query values redacted).
    pub url: String,
    /// Integrations whose events go there (empty: all).
    pub integrations: Vec<String>,
    /// Event type patterns.
    pub event_types: Vec<String>,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// Why it is disabled (`answered 410 Gone`, an operator's reason).
    pub disabled_reason: Option<String>,
    /// Its queue.
    pub queue: QueueView,
}

impl From<DestinationStatus> for DestinationView {
    fn from(d: DestinationStatus) -> Self {
        Self {
            id: d.id,
            url: d.url,
            integrations: d.integrations,
            event_types: d.event_types,
            enabled: d.enabled,
            disabled_reason: d.disabled_reason,
            queue: QueueView {
                pending: d.queue.pending,
                in_flight: d.queue.in_flight,
                dead: d.queue.dead,
            },
        }
    }
}

/// The configured destinations.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationList {
    /// In configuration order.
    pub data: Vec<DestinationView>,
    /// Always null: the list is not paginated.
    pub next_cursor: Option<String>,
}

/// A destination after `disable` or `enable`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationChange {
    /// The destination as it is now.
    #[serde(flatten)]
    pub destination: DestinationView,
    /// Whether this call changed its state (false if it already was so).
    pub changed: bool,
}

/// Options of `disable`; the body may be omitted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableRequest {
    /// Why (kept while disabled, shown in listings; at most 500 characters).
    #[schema(
        pattern = r"^\s*[^\s\u0000-\u001f\u007f-\u009f]([^\u0000-\u001f\u007f-\u009f]{0,498}[^\s\u0000-\u001f\u007f-\u009f])?\s*$"
    )]
    pub reason: Option<String>,
}

/// The body of `enable`: nothing, or an empty object.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableRequest {}

/// Configured destinations with their state and queue counts.
#[utoipa::path(get, path = "/api/destinations", tag = "webhooks", security(("api_key" = [])), responses(
    (status = 200, body = DestinationList), (status = 401, body = ErrorBody)))]
pub async fn list_destinations(
    State(s): State<AppState>,
    _: App,
) -> Result<Json<DestinationList>, ApiError> {
    let data = s
        .engine
        .destinations()
        .await?
        .into_iter()
        .map(DestinationView::from)
        .collect();
    Ok(Json(DestinationList {
        data,
        next_cursor: None,
    }))
}

/// Stop delivering to a destination: its deliveries wait (nothing is lost) until it is
/// enabled again. Audited.
#[utoipa::path(post, path = "/api/destinations/{id}/disable", tag = "webhooks", security(("api_key" = [])),
    params(("id" = String, Path, example = "app", description = "destination id")),
    request_body(content = Option<DisableRequest>, description = "optional"),
    responses(
        (status = 200, body = DestinationChange),
        (status = 400, body = ErrorBody, description = "a bad body or reason"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such destination in the configuration")))]
pub async fn disable(
    State(s): State<AppState>,
    App(p): App,
    PathParams(id): PathParams<String>,
    OptionalJson(body): OptionalJson<DisableRequest>,
) -> Result<Json<DestinationChange>, ApiError> {
    let changed = s
        .engine
        .set_destination_disabled(&id, true, body.reason.as_deref(), &p.actor())
        .await?;
    let destination = s.engine.destination(&id).await?.into();
    Ok(Json(DestinationChange {
        destination,
        changed,
    }))
}

/// Deliver to a destination again (after a 410 Gone or `disable`); its waiting
/// deliveries go out at once. Audited.
#[utoipa::path(post, path = "/api/destinations/{id}/enable", tag = "webhooks", security(("api_key" = [])),
    params(("id" = String, Path, example = "app", description = "destination id")),
    request_body(content = Option<EnableRequest>, description = "optional: nothing, or an empty object"),
    responses(
        (status = 200, body = DestinationChange),
        (status = 400, body = ErrorBody, description = "a bad body"),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "no such destination in the configuration")))]
pub async fn enable(
    State(s): State<AppState>,
    App(p): App,
    PathParams(id): PathParams<String>,
    OptionalJson(body): OptionalJson<EnableRequest>,
) -> Result<Json<DestinationChange>, ApiError> {
    let EnableRequest {} = body;
    let changed = s
        .engine
        .set_destination_disabled(&id, false, None, &p.actor())
        .await?;
    let destination = s.engine.destination(&id).await?.into();
    Ok(Json(DestinationChange {
        destination,
        changed,
    }))
}

/// The routes of this module.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(list_destinations))
        .routes(routes!(disable))
        .routes(routes!(enable))
}
