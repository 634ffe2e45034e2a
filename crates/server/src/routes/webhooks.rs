//! Webhook intake (`/webhooks/{integration}/event`, no API key: the provider's signature
//! authenticates). Stored events are listed and replayed in [`super::events`].

use axum::Json;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::webhooks::{Incoming, Intake};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody, PathParams};
use crate::routes::Routes;

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
/// answered 200 with `duplicate: true` and not stored again. A signed handshake (Slack's
/// `url_verification`…) is answered as the provider expects, and nothing is stored.
#[utoipa::path(post, path = "/webhooks/{integration}/event", tag = "webhooks",
    params(("integration" = String, Path, example = "acme-hooks", description = "integration id")),
    request_body(content = String, description = "the provider's payload, verbatim", content_type = "*/*"),
    responses(
        (status = 200, description = "stored (or a duplicate); or a handshake's answer, in the provider's format",
            content((Accepted = "application/json"), (String = "text/plain"))),
        (status = 400, body = ErrorBody, description = "the payload lacks what the provider's scheme requires (event id, type)"),
        (status = 401, body = ErrorBody, description = "signature missing, invalid or stale"),
        (status = 403, body = ErrorBody, description = "intake for this integration is blocked or disabled"),
        (status = 404, body = ErrorBody, description = "no such integration, or it takes no webhooks"),
        (status = 413, body = ErrorBody, description = "body larger than max_body_bytes")))]
pub async fn intake(
    s: State<AppState>,
    method: Method,
    uri: OriginalUri,
    integration: PathParams<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    receive(s, method, uri, integration, headers, body).await
}

/// Answer a provider's unsigned handshake (Meta's `hub.challenge`, Dropbox's
/// `challenge`, Microsoft Graph's `validationToken`, as query parameters; Trello's
/// `HEAD` when a webhook is created, answered 200 with no body). Webhooks themselves are
/// POSTed.
#[utoipa::path(get, path = "/webhooks/{integration}/event", tag = "webhooks",
    params(("integration" = String, Path, example = "acme-hooks", description = "integration id")),
    responses(
        (status = 200, description = "the handshake's answer, in the provider's format",
            content((String = "text/plain"), (Object = "application/json"))),
        (status = 400, body = ErrorBody, description = "not a handshake this integration's provider makes"),
        (status = 403, body = ErrorBody, description = "intake for this integration is blocked or disabled"),
        (status = 404, body = ErrorBody, description = "no such integration, or it takes no webhooks")))]
pub async fn handshake(
    s: State<AppState>,
    method: Method,
    uri: OriginalUri,
    integration: PathParams<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    receive(s, method, uri, integration, headers, Bytes::new()).await
}

/// Both methods: the engine tells handshakes from webhooks.
async fn receive(
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
        Intake::Handshake(r) => {
            let mut res = (
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK),
                [
                    (header::CONTENT_TYPE, r.content_type),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                r.body,
            )
                .into_response();
            for (name, value) in r.headers {
                // The engine checked the value is visible ASCII.
                if let Ok(v) = header::HeaderValue::from_str(&value) {
                    res.headers_mut().insert(name, v);
                }
            }
            res
        }
    })
}

/// The routes of this module.
pub fn router() -> Routes {
    Routes::new().routes(routes!(handshake, intake))
}
