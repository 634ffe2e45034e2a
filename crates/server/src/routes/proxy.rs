//! The API proxy: `ANY /api/proxy/{connection_id}/{*path}` (app key). The request goes to
//! the connection's provider with its credentials injected (see [`engine::proxy`]); the
//! provider's answer streams back with `Switchboard-Attempts` and
//! `Switchboard-Upstream-Status`.
//!
//! This router has its own layer stack, merged beside the main one rather than under it:
//! - no `request_timeout_secs` timeout: a long download or upload must not be cut at
//!   30 s (the engine bounds the wait for the provider's headers with
//!   `outbound_timeout_secs`, and each body chunk too);
//! - no `max_body_bytes` limit: bodies stream, and the engine enforces
//!   `proxy_max_body_bytes` (413 up front from `Content-Length`, or when the stream passes
//!   it);
//! - no JSON-error rewriting: the provider's own 4xx/5xx bodies pass through unchanged
//!   (Switchboard's own errors are JSON anyway).
//!
//! The other layers (sensitive headers, request id, trace span without the query string,
//! metrics, panic catcher) are the same as the main router's.

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use engine::proxy::{ProxyBody, ProxyError, ProxyRequest};
use futures_util::TryStreamExt;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::auth::App;
use crate::error::{ApiError, ErrorBody};
use crate::observe;

/// The proxy routes, with their own layers (see the module documentation).
pub fn router(state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/api/proxy/{connection_id}/{*path}", any(proxy))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new(
                    observe::SENSITIVE_HEADERS,
                ))
                .layer(SetRequestIdLayer::new(
                    x_request_id.clone(),
                    MakeRequestUuid,
                ))
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(observe::request_span)
                        .on_request(())
                        .on_response(
                            tower_http::trace::DefaultOnResponse::new()
                                .level(tracing::Level::INFO)
                                .latency_unit(tower_http::LatencyUnit::Micros),
                        ),
                )
                .layer(axum::middleware::from_fn(observe::track))
                .layer(CatchPanicLayer::custom(observe::panic_response)),
        )
}

fn error_response(e: ProxyError) -> Response {
    let retry_after = e.retry_after_secs();
    let mut res = match e {
        ProxyError::Engine(inner) => ApiError::from(inner).into_response(),
        other => {
            let status = StatusCode::from_u16(other.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            ApiError::new(status, other.code(), other.to_string()).into_response()
        }
    };
    if let Some(secs) = retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res.headers_mut()
        .insert("switchboard-attempts", HeaderValue::from_static("0"));
    res
}

/// Sends the request to the connection's provider (any method).
#[utoipa::path(method(get, post, put, patch, delete, head, options),
    path = "/api/proxy/{connection_id}/{path}", tag = "proxy",
    security(("api_key" = [])),
    params(("connection_id" = String, Path, description = "the connection whose credentials are used"),
        ("path" = String, Path, description = "path under the provider's API base URL (any depth); the query string is passed on")),
    responses(
        (status = 200, description = "the provider's answer, whatever its status, streamed; headers Switchboard-Attempts and Switchboard-Upstream-Status"),
        (status = 400, body = ErrorBody, description = "bad path or query"),
        (status = 401, body = ErrorBody, description = "missing or invalid Switchboard API key"),
        (status = 404, body = ErrorBody, description = "unknown connection"),
        (status = 409, body = ErrorBody, description = "the connection is revoked or needs re-authorization"),
        (status = 413, body = ErrorBody, description = "body larger than proxy_max_body_bytes"),
        (status = 429, body = ErrorBody, description = "over the integration's rate limit; Retry-After says when to retry"),
        (status = 502, body = ErrorBody, description = "the provider cannot be reached"),
        (status = 504, body = ErrorBody, description = "the provider did not answer in time")))]
pub async fn proxy(State(s): State<AppState>, _: App, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // The raw (still percent-encoded) path: the extractor's would be decoded.
    let rest = parts
        .uri
        .path()
        .strip_prefix("/api/proxy/")
        .unwrap_or_default();
    let (connection_id, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !engine::ids::is_connection_id(connection_id) {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "connection_id must be 1 to 128 of A-Z a-z 0-9 . _ : - starting with a letter or digit",
        )
        .into_response();
    }
    let body = if body.is_end_stream() {
        ProxyBody::Empty
    } else {
        ProxyBody::Stream(Box::pin(
            body.into_data_stream()
                .map_err(|e| Box::new(e) as engine::proxy::BoxError),
        ))
    };
    let request = ProxyRequest {
        connection_id: connection_id.to_owned(),
        method: parts.method,
        path: path.to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    match s.engine.proxy(request).await {
        Ok(r) => {
            let mut res = Response::new(Body::from_stream(r.body));
            *res.status_mut() = r.status;
            *res.headers_mut() = r.headers;
            res
        }
        Err(e) => error_response(e),
    }
}
