//! Operations endpoints: liveness, readiness, metrics, the API description.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::routes::Routes;

/// Liveness or readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: &'static str,
    /// The build's version.
    pub version: &'static str,
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, body = Health),
    (status = 503, description = "the database does not answer", body = ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    match state.engine.ready().await {
        Ok(()) => Ok(Json(Health {
            status: "ready",
            version: env!("CARGO_PKG_VERSION"),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database does not answer; see the server log",
            ))
        }
    }
}

/// Prometheus metrics in the text exposition format. With `metrics_listen` set they are
/// served only on that listener (the main one answers 404); with `metrics_key` set they
/// require `Authorization: Bearer <metrics_key>`, compared in constant time.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses(
    (status = 200, content_type = "text/plain", body = String),
    (status = 401, description = "metrics_key is set and the bearer token is missing or wrong", body = ErrorBody),
    (status = 404, description = "metrics_listen is set: /metrics is served on that listener only", body = ErrorBody)))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let cfg = state.engine.config();
    if state.listener == crate::Listener::Main && cfg.metrics_listen.is_some() {
        return Err(ApiError::for_status(StatusCode::NOT_FOUND));
    }
    if let Some(key) = &cfg.metrics_key {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .unwrap_or_default();
        let presented = vault::SecretString::from(presented.to_owned());
        if !vault::secrets_equal(&presented, key) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "/metrics needs Authorization: Bearer <metrics_key>",
            ));
        }
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response())
}

/// This API's OpenAPI 3.1 description, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses(
    (status = 200, content_type = "application/json", body = Object, description = "an OpenAPI 3.1 document")))]
pub async fn openapi() -> Response {
    // Built once: the description is fixed at compile time.
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| crate::openapi().to_pretty_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], doc.as_str()).into_response()
}

/// The routes of this module.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
}
