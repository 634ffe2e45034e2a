//! The JSON error shape: `{"error": {"code": "...", "message": "..."}}`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::EngineError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`unauthorized`, `not_found`, …).
    pub code: String,
    /// What went wrong and what to do; never contains a secret.
    pub message: String,
}

/// An error answer. Converts from engine errors and extractor rejections.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Safe message.
    pub message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The canonical error for a bare status (used when a layer answered without a body).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status.as_u16() {
            400 => ("bad_request", "the request is malformed"),
            401 => (
                "unauthorized",
                "missing or invalid API key; send Authorization: Bearer sb_…",
            ),
            403 => (
                "forbidden",
                "this API key's scope does not allow this route",
            ),
            404 => ("not_found", "no such route; see /openapi.json for the API"),
            405 => (
                "method_not_allowed",
                "this method is not allowed on this route; see /openapi.json",
            ),
            408 => ("timeout", "the request was not received in time"),
            413 => (
                "payload_too_large",
                "the request body is larger than max_body_bytes",
            ),
            415 => (
                "unsupported_media_type",
                "send the body as application/json",
            ),
            422 => (
                "invalid_request",
                "the request body does not have the expected fields",
            ),
            429 => (
                "rate_limited",
                "too many requests; retry after the Retry-After delay",
            ),
            503 => (
                "unavailable",
                "the service is unavailable or the request took longer than request_timeout_secs; retry later",
            ),
            s if s >= 500 => (
                "internal",
                "internal error; the server log has details under this request's x-request-id",
            ),
            _ => ("error", "the request failed"),
        };
        Self::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut res = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::Unauthenticated(_) | EngineError::BadSignature { .. } => {
                StatusCode::UNAUTHORIZED
            }
            EngineError::Forbidden(_) => StatusCode::FORBIDDEN,
            EngineError::NotFound { .. } => StatusCode::NOT_FOUND,
            EngineError::Invalid { .. } => StatusCode::BAD_REQUEST,
            EngineError::Conflict(_) | EngineError::ConnectionState { .. } => StatusCode::CONFLICT,
            EngineError::ProviderUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            EngineError::Provider(_) => StatusCode::BAD_GATEWAY,
            EngineError::CredentialsRejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EngineError::Misconfigured(_) => StatusCode::UNPROCESSABLE_ENTITY,
            EngineError::Store(store::StoreError::Unavailable(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            EngineError::Store(store::StoreError::Conflict(_)) => StatusCode::CONFLICT,
            EngineError::Vault(_) | EngineError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if e.is_internal() {
            // The detail goes to the operator's log; the client gets a generic message.
            tracing::error!(error = %e, "request failed");
            return ApiError::for_status(status);
        }
        ApiError::new(status, e.code(), e.to_string())
    }
}

fn rejection_message(body: String) -> String {
    // axum's rejection texts describe the input, never server state; keep them short.
    let mut s = body;
    s.truncate(300);
    s
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = r.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "invalid_request",
        };
        ApiError::new(status, code, rejection_message(r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            rejection_message(r.body_text()),
        )
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            rejection_message(r.body_text()),
        )
    }
}

/// JSON body extractor whose rejections use the JSON error shape.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct JsonBody<T>(pub T);

/// Query extractor whose rejections use the JSON error shape.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

/// Path extractor whose rejections use the JSON error shape.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParams<T>(pub T);
