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
            EngineError::NotFound { .. } | EngineError::UnknownEndUser(_) => StatusCode::NOT_FOUND,
            EngineError::PayloadPurged { .. } => StatusCode::CONFLICT,
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
            // The server lacks a master key (removed from old_master_keys too early): the
            // operator can fix it, the request can be retried then.
            EngineError::Vault(vault::VaultError::UnknownKey(_)) => StatusCode::SERVICE_UNAVAILABLE,
            EngineError::Vault(_) | EngineError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if e.needs_operator() {
            tracing::error!(error = %e, "request failed: the operator must act");
        }
        if e.is_internal() {
            // The detail goes to the operator's log; the client gets a generic message.
            tracing::error!(error = %e, "request failed");
            return ApiError::for_status(status);
        }
        ApiError::new(status, e.code(), e.to_string())
    }
}

fn rejection_message(body: String) -> String {
    // axum's rejection texts describe the input, never server state; keep them short
    // (cut on a character boundary).
    match body.char_indices().nth(300) {
        Some((at, _)) => body[..at].to_owned(),
        None => body,
    }
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
///
/// Stricter than `axum::Json`: the body must be a JSON *object* (serde would otherwise
/// fill a struct from an array by position, so `["c1"]` would act like
/// `{"connection_id": "c1"}`), and error messages never quote a submitted value (serde's
/// `invalid type: string "…"` would echo a secret typed into the wrong field).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        if json_content_type(req.headers()) != Some(true) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let bytes = read_body(req, state, |r| rejection_message(r.body_text())).await?;
        if !is_json_object(&bytes) {
            // Valid JSON of another shape is a 422 like any wrong type; not JSON is 400.
            let status = match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                Ok(_) => StatusCode::UNPROCESSABLE_ENTITY,
                Err(_) => StatusCode::BAD_REQUEST,
            };
            return Err(ApiError::new(
                status,
                "invalid_request",
                "the body must be a JSON object",
            ));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| {
            let status = if e.is_data() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_REQUEST
            };
            ApiError::new(status, "invalid_request", json_error_message(&e))
        })
    }
}

/// serde's message without any quoted value, cut short.
fn json_error_message(e: &serde_json::Error) -> String {
    rejection_message(format!("body: {}", without_quoted_values(&e.to_string())))
}

/// A parser's message with every quoted value replaced by `"…"`, so that a secret typed
/// into the wrong field is never echoed.
pub(crate) fn without_quoted_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(300));
    let mut in_quotes = false;
    for c in text.chars() {
        match (c, in_quotes) {
            ('"', false) => {
                in_quotes = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                in_quotes = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// Whether the request says its body is JSON (`application/json` or `application/*+json`);
/// `None` without a Content-Type.
pub(crate) fn json_content_type(headers: &axum::http::HeaderMap) -> Option<bool> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

/// Whether the first non-blank byte opens a JSON object.
pub(crate) fn is_json_object(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The whole body (within the body limit: 413 `payload_too_large`; any other read error
/// is a 400 with `message` made from axum's rejection).
pub(crate) async fn read_body<S: Send + Sync>(
    req: axum::extract::Request,
    state: &S,
    message: impl FnOnce(&axum::extract::rejection::BytesRejection) -> String,
) -> Result<axum::body::Bytes, ApiError> {
    use axum::extract::FromRequest;
    axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|r| {
            let status = r.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "payload_too_large"
            } else {
                "invalid_request"
            };
            ApiError::new(status, code, message(&r))
        })
}

/// Query extractor whose rejections use the JSON error shape.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

/// Path extractor whose rejections use the JSON error shape.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParams<T>(pub T);
