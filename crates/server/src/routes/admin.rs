//! Admin resources: API keys and the audit log (admin scope).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use engine::api_keys::ApiKeyInfo;
use engine::audit::{AuditPage, Break, Verification};
use serde::{Deserialize, Serialize};
use store::Scope;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use vault::ExposeSecret;

use crate::AppState;
use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody, JsonBody, PathParams, QueryParams};
use crate::routes::Routes;

/// An API key as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// Public id (the part after `sb_`).
    pub id: String,
    /// Name.
    pub name: String,
    /// `admin` or `app`.
    #[schema(value_type = String, example = "app")]
    pub scope: Scope,
    /// Creation time.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last use, updated at most once a minute.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Revocation time.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiKeyInfo> for ApiKeyView {
    fn from(i: ApiKeyInfo) -> Self {
        Self {
            id: i.id,
            name: i.name,
            scope: i.scope,
            created_at: i.created_at,
            last_used_at: i.last_used_at,
            revoked_at: i.revoked_at,
        }
    }
}

/// A listing of API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// The keys, oldest first.
    pub data: Vec<ApiKeyView>,
    /// Always null: the list is not paginated.
    pub next_cursor: Option<String>,
}

/// Request to create an API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// Name: 1 to 64 letters, digits, spaces, `-`, `_`, `.` (surrounding blanks are
    /// trimmed).
    #[schema(pattern = r"^\s*[A-Za-z0-9._-]([A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-])?\s*$")]
    pub name: String,
    /// `admin` or `app`.
    #[schema(value_type = String, pattern = "^(admin|app)$", example = "app")]
    pub scope: Scope,
}

/// A created key; `key` is shown only in this response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// The stored key.
    #[serde(flatten)]
    pub info: ApiKeyView,
    /// The full key. Store it now: it cannot be shown again.
    pub key: String,
}

/// List API keys.
#[utoipa::path(get, path = "/api/api-keys", tag = "admin", security(("api_key" = [])), responses(
    (status = 200, body = ApiKeyList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_keys(State(s): State<AppState>, _: Admin) -> Result<Json<ApiKeyList>, ApiError> {
    let data = s
        .engine
        .list_api_keys()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(ApiKeyList {
        data,
        next_cursor: None,
    }))
}

/// Create an API key.
#[utoipa::path(post, path = "/api/api-keys", tag = "admin", security(("api_key" = [])), request_body = CreateApiKey, responses(
    (status = 201, body = CreatedApiKey), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "a field of the wrong type or an unknown scope")))]
pub async fn create_key(
    State(s): State<AppState>,
    Admin(who): Admin,
    JsonBody(req): JsonBody<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let created = s
        .engine
        .create_api_key(&req.name, req.scope, &who.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            info: created.info.into(),
            key: created.key.expose_secret().to_owned(),
        }),
    ))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(post, path = "/api/api-keys/{id}/revoke", tag = "admin", security(("api_key" = [])),
    params(("id" = String, Path, description = "the key's id")), responses(
    (status = 200, body = ApiKeyView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "already revoked")))]
pub async fn revoke_key(
    State(s): State<AppState>,
    Admin(who): Admin,
    PathParams(id): PathParams<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    Ok(Json(
        s.engine.revoke_api_key(&id, &who.actor()).await?.into(),
    ))
}

/// Paging of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Page size (default 100); values outside 1 to 500 are clamped to it.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295.0)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[1-9][0-9]{0,17}$")]
    pub cursor: Option<String>,
}

/// One audit row.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditRow {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who: `api-key:<id>`, `cli:<user>`, `system`, `signal:SIGHUP`.
    pub actor: String,
    /// What, e.g. `api_key.create`.
    pub action: String,
    /// On what.
    pub target: String,
    /// Extra facts (never secrets): any JSON, usually an object.
    pub details: serde_json::Value,
    /// Hash of the previous row.
    pub prev_hash: String,
    /// Hash of this row.
    pub hash: String,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditList {
    /// The rows.
    pub data: Vec<AuditRow>,
    /// Cursor of the next (older) page, or null at the end.
    pub next_cursor: Option<String>,
}

impl From<AuditPage> for AuditList {
    fn from(p: AuditPage) -> Self {
        Self {
            data: p
                .data
                .into_iter()
                .map(|r| AuditRow {
                    seq: r.seq,
                    at: r.entry.at,
                    actor: r.entry.actor,
                    action: r.entry.action,
                    target: r.entry.target,
                    details: r.entry.details,
                    prev_hash: r.prev_hash,
                    hash: r.hash,
                })
                .collect(),
            next_cursor: p.next_cursor,
        }
    }
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/audit", tag = "admin", security(("api_key" = [])), params(AuditQuery), responses(
    (status = 200, body = AuditList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_audit(
    State(s): State<AppState>,
    _: Admin,
    QueryParams(q): QueryParams<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let page = s
        .engine
        .list_audit(q.cursor.as_deref(), q.limit.unwrap_or(100))
        .await?;
    Ok(Json(page.into()))
}

/// Result of verifying the audit chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResult {
    /// Rows read.
    pub rows_checked: u64,
    /// Whether the chain is intact.
    pub ok: bool,
    /// Sequence number of the first bad row.
    pub first_bad_seq: Option<i64>,
    /// What is wrong with it.
    pub problem: Option<ChainBreak>,
}

/// Why a row breaks the audit chain: `"hash_mismatch"`, `"prev_hash_mismatch"`,
/// `"head_mismatch"`, `{"gap": {"expected"}}` or `{"truncated": {"head_seq"}}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChainBreak {
    /// The row's content does not match its hash: it was edited.
    HashMismatch,
    /// The row does not point at the previous row's hash.
    PrevHashMismatch,
    /// Sequence numbers skip: rows were deleted.
    Gap {
        /// The sequence number that should have come next.
        expected: i64,
    },
    /// The chain ends before the recorded head: the newest rows were deleted.
    Truncated {
        /// The head's sequence number.
        head_seq: i64,
    },
    /// The last row's hash differs from the recorded head.
    HeadMismatch,
}

impl From<Break> for ChainBreak {
    fn from(b: Break) -> Self {
        match b {
            Break::HashMismatch => Self::HashMismatch,
            Break::PrevHashMismatch => Self::PrevHashMismatch,
            Break::Gap { expected } => Self::Gap { expected },
            Break::Truncated { head_seq } => Self::Truncated { head_seq },
            Break::HeadMismatch => Self::HeadMismatch,
        }
    }
}

impl From<Verification> for VerifyResult {
    fn from(v: Verification) -> Self {
        Self {
            rows_checked: v.rows_checked,
            ok: v.ok,
            first_bad_seq: v.first_bad_seq,
            problem: v.problem.map(Into::into),
        }
    }
}

/// Verify the audit chain from the first row; names the first bad row.
#[utoipa::path(get, path = "/api/audit/verify", tag = "admin", security(("api_key" = [])), responses(
    (status = 200, body = VerifyResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn verify_audit(
    State(s): State<AppState>,
    _: Admin,
) -> Result<Json<VerifyResult>, ApiError> {
    Ok(Json(s.engine.verify_audit(&|_| {}).await?.into()))
}

/// The routes of this module.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(list_audit))
        .routes(routes!(verify_audit))
}
