//! Connections: connect sessions (app key), the browser's authorization redirect and the
//! provider's callback (no key: the session token and the single-use state authenticate),
//! tokens, refresh, disconnect, listings and status.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::connections::{
    CallbackOutcome, CallbackParams, ConnectSessionRequest, ConnectionView, Delivery,
    DirectConnectRequest, HealthReport, IntegrationHealth, OAuthCheck, TokenView, Via,
};
use engine::webhooks::IntegrationStatus;
use serde::{Deserialize, Serialize};
use store::{ConnectionFilter, ConnectionStatus};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Admin, App};
use crate::error::{ApiError, ErrorBody, JsonBody, PathParams, QueryParams};
use crate::routes::Routes;
use crate::routes::connect_assets::result_response;
use crate::routes::connect_page::{Chrome, ResultTemplate, render_template};

/// A connection (never secrets).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionBody {
    /// The connection id.
    pub id: String,
    /// Its integration.
    pub integration: String,
    /// The provider.
    pub provider: String,
    /// The app's end-user id.
    pub end_user_id: String,
    /// `oauth2`, `api_key`, `basic`, `client_credentials`, `github_app` or `jwt_bearer`.
    pub auth_mode: String,
    /// `active`, `needs_reauth`, `revoked` or `error`.
    pub status: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Required scopes that were not granted.
    pub missing_scopes: Vec<String>,
    /// Connection settings (shop, instance URL…).
    pub settings: BTreeMap<String, String>,
    /// When the access token expires.
    pub expires_at: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Last successful refresh.
    pub last_refresh_at: Option<String>,
    /// Last error.
    pub last_error: Option<String>,
    /// When a credential health check last tried the connection's credentials at the
    /// provider (the integration's `health_check_interval_secs`); null when none has
    /// since they were stored.
    pub health_checked_at: Option<String>,
    /// What that check found: `ok`; `rejected` (401, after a refresh where the
    /// credentials refresh: the connection is now `needs_reauth`); `forbidden` (403: the
    /// credentials authenticate but may not make the request, a missing scope or a plan
    /// limit; the connection stays active); `unavailable` (5xx, 429, timeout or refused
    /// connection: nothing changed); `error` (another answer: nothing changed).
    pub health_result: Option<String>,
    /// The check's explanation (the provider's HTTP status, its message on a 403 and the
    /// missing scopes, or the error).
    pub health_detail: Option<String>,
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl From<ConnectionView> for ConnectionBody {
    fn from(c: ConnectionView) -> Self {
        Self {
            id: c.id,
            integration: c.integration,
            provider: c.provider,
            end_user_id: c.end_user_id,
            auth_mode: c.auth_mode,
            status: c.status.as_str().to_owned(),
            scopes: c.scopes,
            missing_scopes: c.missing_scopes,
            settings: c.settings,
            expires_at: c.expires_at.map(rfc3339),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
            last_refresh_at: c.last_refresh_at.map(rfc3339),
            last_error: c.last_error,
            health_checked_at: c.health_checked_at.map(rfc3339),
            health_result: c.health_result,
            health_detail: c.health_detail,
        }
    }
}

/// `POST /api/connect-sessions`.
// The schema of the engine's `ConnectSessionRequest`, which the handler parses; the
// fuzzer (tests/schemathesis) checks that the two accept the same bodies.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"end_user": {"id": "u42"}, "integrations": ["acme"]}))]
pub struct ConnectSessionBody {
    /// The end user.
    pub end_user: EndUserBody,
    /// Integrations the user may connect.
    #[schema(min_items = 1)]
    pub integrations: Vec<String>,
    /// The connection id to create (generated when absent).
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    pub connection_id: Option<String>,
    /// Where the browser goes at the end (its origin must be allowed).
    pub return_to: Option<String>,
    /// The opener window's origin for a `postMessage` result.
    pub opener_origin: Option<String>,
}

/// The end user of a connect session.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndUserBody {
    /// The app's id of the user, e.g. `u42`: 1 to 256 characters, no control characters.
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]{1,256}$")]
    pub id: String,
}

/// A created connect session.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectSessionCreated {
    /// The session token; give it to the browser.
    pub token: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
    /// The Connect page for this session.
    pub connect_url: String,
}

/// Create a connect session: a short-lived token allowing one end user to connect the
/// listed integrations.
#[utoipa::path(post, path = "/api/connect-sessions", tag = "connections", security(("api_key" = [])),
    request_body = ConnectSessionBody, responses(
    (status = 201, body = ConnectSessionCreated), (status = 400, body = ErrorBody),
    (status = 404, body = ErrorBody, description = "an integration is not configured"),
    (status = 422, body = ErrorBody, description = "a field of the wrong type")))]
pub async fn create_session(
    State(s): State<AppState>,
    _: App,
    JsonBody(req): JsonBody<ConnectSessionRequest>,
) -> Result<(StatusCode, Json<ConnectSessionCreated>), ApiError> {
    let created = s.engine.create_connect_session(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConnectSessionCreated {
            token: created.token,
            expires_at: rfc3339(created.expires_at),
            connect_url: created.connect_url,
        }),
    ))
}

/// The browser's redirect to the provider.
#[utoipa::path(get, path = "/api/integrations/{integration}/auth", tag = "connections",
    params(("integration" = String, Path, example = "acme", description = "integration id"),
        ("session" = String, Query, description = "the connect session token"),
        ("connection_id" = Option<String>, Query, description = "the connection to create, if the session did not fix one"),
        ("mode" = Option<String>, Query, description = "`popup` or `redirect`: the way back, for a session with both opener_origin and return_to")),
    responses((status = 302, description = "to the provider's authorization page"),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn authorize(
    State(s): State<AppState>,
    PathParams(integration): PathParams<String>,
    QueryParams(mut q): QueryParams<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let session = q.remove("session").unwrap_or_default();
    if session.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "session: missing; open the connect_url the app was given",
        ));
    }
    let connection_id = q.remove("connection_id");
    let via = match q.remove("mode") {
        None => Via::Any,
        Some(m) => Via::parse(&m).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "mode: use popup or redirect",
            )
        })?,
    };
    let start = s
        .engine
        .start_authorization_via(&integration, &session, connection_id.as_deref(), q, via)
        .await?;
    let mut res = StatusCode::FOUND.into_response();
    let h = res.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&start.url).map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "cannot build the redirect",
            )
        })?,
    );
    no_store(&mut res);
    Ok(res)
}

fn no_store(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The page that ends a popup flow (and a flow with no way back): says what happened
/// and, when the session has an opener, carries the result in `data-` attributes for
/// `/connect/assets/result.js`, which posts it to the opener at exactly its origin
/// (`{source: "switchboard", status, connection_id, integration, error?,
/// missing_scopes?}`) and closes the popup once the opener acknowledges it. No inline
/// script: the CSP is `script-src 'self'`.
pub(crate) fn result_page(
    chrome: &Chrome,
    outcome: &CallbackOutcome,
    integration: &str,
    missing_scopes: &[String],
) -> Result<Response, ApiError> {
    let target = match &outcome.delivery {
        Delivery::PostMessage { origin } => Some(origin.as_str()),
        _ => None,
    };
    let message = match &outcome.error {
        None if missing_scopes.is_empty() => {
            format!(
                "Connected. You can close this window and go back to {}.",
                chrome_ref(chrome)
            )
        }
        None => format!(
            "Connected, without some of the access {} needs. You can close this window.",
            chrome_ref(chrome)
        ),
        Some(e) => format!("The connection failed ({e}). You can close this window."),
    };
    let body = render_template(&ResultTemplate {
        chrome,
        title: if outcome.error.is_none() {
            "Connected"
        } else {
            "Not connected"
        },
        class: if outcome.error.is_none() {
            "ok"
        } else {
            "error"
        },
        role: if outcome.error.is_none() {
            "status"
        } else {
            "alert"
        },
        status: outcome.status(),
        connection_id: outcome.connection_id.as_deref(),
        error: outcome.error.as_deref(),
        integration: Some(integration),
        missing_scopes: missing_scopes.join(" "),
        target_origin: target,
        message: &message,
    })?;
    Ok(result_response(chrome, body, target.is_some()))
}

fn chrome_ref(chrome: &Chrome) -> &str {
    chrome.app_ref()
}

/// The provider's redirect back: checks the single-use state, exchanges the code,
/// stores the connection, then sends the browser to `return_to` (or posts the result to
/// the opener). An unknown, reused, expired or foreign state is refused and nothing is
/// stored.
#[utoipa::path(get, path = "/api/integrations/{integration}/callback", tag = "connections",
    params(("integration" = String, Path, example = "acme", description = "integration id"),
        ("state" = String, Query, description = "the state Switchboard sent to the provider"),
        ("code" = Option<String>, Query, description = "the authorization code"),
        ("error" = Option<String>, Query, description = "the provider's error code, when the user declined or it failed")),
    responses((status = 302, description = "to return_to with status=connected&connection_id=… or status=error&error=…"),
        (status = 200, content_type = "text/html", body = String, description = "a page that posts the result to the opener window"),
        (status = 400, body = ErrorBody, description = "missing, unknown, reused, expired or foreign state")))]
pub async fn callback(
    State(s): State<AppState>,
    PathParams(integration): PathParams<String>,
    QueryParams(q): QueryParams<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = CallbackParams {
        code: q.get("code").cloned(),
        state: q.get("state").cloned(),
        error: q.get("error").cloned(),
        other: q,
    };
    let outcome = s.engine.finish_authorization(&integration, params).await?;
    // A connection without some required scopes is connected; the opener is told which.
    let missing = match (&outcome.delivery, &outcome.error, &outcome.connection_id) {
        (Delivery::Redirect(_), _, _) | (_, Some(_), _) | (_, _, None) => Vec::new(),
        (_, None, Some(id)) => s
            .engine
            .get_connection(id)
            .await
            .map(|c| c.missing_scopes)
            .unwrap_or_default(),
    };
    match &outcome.delivery {
        Delivery::Redirect(url) => {
            let mut res = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(url) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            no_store(&mut res);
            Ok(res)
        }
        _ => result_page(
            &Chrome::new(&s.engine.config()),
            &outcome,
            &integration,
            &missing,
        ),
    }
}

/// Body of a disconnect.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisconnectBody {
    /// The connection to disconnect.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    pub connection_id: String,
}

/// The result of a disconnect.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisconnectResult {
    /// The credentials were deleted.
    pub deleted: bool,
    /// The provider confirmed the revocation.
    pub revoked_at_provider: bool,
    /// Why the provider did not confirm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_error: Option<String>,
}

/// Disconnect: revoke at the provider (RFC 7009 or its own way), then delete the
/// credentials (also when the provider's revocation failed; the answer says so).
#[utoipa::path(post, path = "/api/integrations/{integration}/disconnect", tag = "connections",
    security(("api_key" = [])), params(("integration" = String, Path, example = "acme", description = "integration id")),
    request_body = DisconnectBody, responses((status = 200, body = DisconnectResult),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "a field of the wrong type")))]
pub async fn disconnect(
    State(s): State<AppState>,
    App(who): App,
    PathParams(integration): PathParams<String>,
    JsonBody(body): JsonBody<DisconnectBody>,
) -> Result<Json<DisconnectResult>, ApiError> {
    let d = s
        .engine
        .disconnect(&integration, &body.connection_id, &who.actor())
        .await?;
    Ok(Json(DisconnectResult {
        deleted: d.deleted,
        revoked_at_provider: d.revoked_at_provider,
        provider_error: d.provider_error,
    }))
}

/// `?connection_id=` of the status route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// One connection of the integration.
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    pub connection_id: Option<String>,
}

/// Health of an integration (or of one of its connections).
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationHealthBody {
    /// The integration.
    pub integration: String,
    /// Its provider.
    pub provider: String,
    /// How its connections authenticate (`oauth2`, `api_key`, `basic`,
    /// `client_credentials`).
    pub auth_mode: String,
    /// Whether it has what connecting an account needs (a client id for OAuth2).
    pub configured: bool,
    /// Webhook intake switched off (`integration disable`).
    pub disabled: bool,
    /// Webhook intake blocked (`webhook block`).
    pub webhooks_blocked: bool,
    /// Its connections by status (every status, 0 included).
    pub connections: BTreeMap<String, u64>,
    /// The connection asked about with `?connection_id=`; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionBody>,
}

impl From<IntegrationHealth> for IntegrationHealthBody {
    fn from(h: IntegrationHealth) -> Self {
        Self {
            integration: h.integration,
            provider: h.provider,
            auth_mode: h.auth_mode,
            configured: h.configured,
            disabled: h.disabled,
            webhooks_blocked: h.webhooks_blocked,
            connections: h.connections,
            connection: h.connection.map(Into::into),
        }
    }
}

/// Health of an integration, or of one of its connections.
#[utoipa::path(get, path = "/api/integrations/{integration}/status", tag = "connections",
    security(("api_key" = [])), params(("integration" = String, Path, example = "acme", description = "integration id"), StatusQuery),
    responses((status = 200, body = IntegrationHealthBody),
        (status = 400, body = ErrorBody, description = "an unknown query parameter"),
        (status = 404, body = ErrorBody)))]
pub async fn status(
    State(s): State<AppState>,
    _: App,
    PathParams(integration): PathParams<String>,
    QueryParams(q): QueryParams<StatusQuery>,
) -> Result<Json<IntegrationHealthBody>, ApiError> {
    let st = s
        .engine
        .integration_status(&integration, q.connection_id.as_deref())
        .await?;
    Ok(Json(st.into()))
}

/// A configured integration.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    /// Its id.
    pub id: String,
    /// Its provider.
    pub provider: String,
    /// Webhook intake switched off.
    pub disabled: bool,
    /// Webhook intake blocked.
    pub webhooks_blocked: bool,
    /// Whether it has webhook secrets configured.
    pub accepts_webhooks: bool,
}

impl From<IntegrationStatus> for IntegrationView {
    fn from(i: IntegrationStatus) -> Self {
        Self {
            id: i.id,
            provider: i.provider,
            disabled: i.disabled,
            webhooks_blocked: i.webhooks_blocked,
            accepts_webhooks: i.accepts_webhooks,
        }
    }
}

/// The configured integrations.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationList {
    /// In configuration order.
    pub data: Vec<IntegrationView>,
    /// Always null: the list is not paginated.
    pub next_cursor: Option<String>,
}

/// Configured integrations.
#[utoipa::path(get, path = "/api/integrations", tag = "connections", security(("api_key" = [])),
    responses((status = 200, body = IntegrationList), (status = 401, body = ErrorBody)))]
pub async fn list_integrations(
    State(s): State<AppState>,
    _: App,
) -> Result<Json<IntegrationList>, ApiError> {
    let data = s.engine.integration_states().await?;
    Ok(Json(IntegrationList {
        data: data.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

/// Filters and paging of the connection listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConnectionsQuery {
    /// Only this integration.
    pub integration: Option<String>,
    /// Only this end user.
    pub end_user_id: Option<String>,
    /// Only this status.
    #[param(pattern = "^(active|needs_reauth|revoked|error)$")]
    pub status: Option<String>,
    /// Page size (default 100); values outside 1 to 500 are clamped to it.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 4294967295.0)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    pub cursor: Option<String>,
}

/// A page of connections.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionList {
    /// The connections.
    pub data: Vec<ConnectionBody>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// Connections, by id.
#[utoipa::path(get, path = "/api/connections", tag = "connections", security(("api_key" = [])),
    params(ConnectionsQuery), responses((status = 200, body = ConnectionList), (status = 400, body = ErrorBody)))]
pub async fn list_connections(
    State(s): State<AppState>,
    _: App,
    QueryParams(q): QueryParams<ConnectionsQuery>,
) -> Result<Json<ConnectionList>, ApiError> {
    let status = match q.status.as_deref() {
        None => None,
        Some(t) => Some(ConnectionStatus::parse(t).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "status: use active, needs_reauth, revoked or error",
            )
        })?),
    };
    let filter = ConnectionFilter {
        integration: q.integration,
        end_user_id: q.end_user_id,
        status,
    };
    let page = s
        .engine
        .list_connections(&filter, q.cursor.as_deref(), q.limit.unwrap_or(100))
        .await?;
    Ok(Json(ConnectionList {
        data: page.data.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One connection (never secrets).
#[utoipa::path(get, path = "/api/connections/{id}", tag = "connections", security(("api_key" = [])),
    params(("id" = String, Path, example = "acme-cc-1", description = "connection id")),
    responses((status = 200, body = ConnectionBody), (status = 404, body = ErrorBody)))]
pub async fn get_connection(
    State(s): State<AppState>,
    _: App,
    PathParams(id): PathParams<String>,
) -> Result<Json<ConnectionBody>, ApiError> {
    Ok(Json(s.engine.get_connection(&id).await?.into()))
}

/// A connection's usable credentials: an access token (OAuth2, client credentials), an
/// API key, or a user name and password; the fields of the other kinds are absent.
// It borrows the secrets from the engine's `TokenView`, which wipes them on drop.
#[derive(Serialize, ToSchema)]
pub struct TokenBody<'a> {
    /// The access token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<&'a str>,
    /// `Bearer` unless the provider says otherwise (with `access_token`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'a str>,
    /// When the access token expires (RFC 3339), or null.
    pub expires_at: Option<String>,
    /// Granted scopes.
    pub scopes: &'a [String],
    /// The API key (API-key connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<&'a str>,
    /// User name (basic-auth connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<&'a str>,
    /// Password (basic-auth connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<&'a str>,
}

impl std::fmt::Debug for TokenBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenBody")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl<'a> From<&'a TokenView> for TokenBody<'a> {
    fn from(t: &'a TokenView) -> Self {
        Self {
            access_token: t.access_token.as_deref(),
            token_type: t.token_type.as_deref(),
            expires_at: t.expires_at.map(rfc3339),
            scopes: &t.scopes,
            api_key: t.api_key.as_deref(),
            username: t.username.as_deref(),
            password: t.password.as_deref(),
        }
    }
}

/// A valid access token, refreshed first if it expires within the margin. API-key and
/// basic connections return their credential fields instead.
#[utoipa::path(get, path = "/api/connections/{id}/token", tag = "connections", security(("api_key" = [])),
    params(("id" = String, Path, example = "acme-cc-1", description = "connection id")),
    responses((status = 200, body = TokenBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "needs_reauth or revoked"),
        (status = 502, body = ErrorBody, description = "the token expired and the provider's refresh answer was not understood"),
        (status = 503, body = ErrorBody, description = "the token expired and the provider is unavailable")))]
pub async fn token(
    State(s): State<AppState>,
    _: App,
    PathParams(id): PathParams<String>,
) -> Result<Response, ApiError> {
    let t = match s.engine.connection_token(&id).await {
        Ok(t) => t,
        Err(e) => {
            let mut res = ApiError::from(e).into_response();
            no_store(&mut res);
            return Ok(res);
        }
    };
    let mut res = Json(TokenBody::from(&t)).into_response();
    no_store(&mut res);
    Ok(res)
}

/// A connection after a forced refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefreshedConnection {
    /// The connection as it is now.
    #[serde(flatten)]
    pub connection: ConnectionBody,
    /// Whether this call refreshed it (false when another refresh had just done so).
    pub refreshed: bool,
}

/// Refresh now, whatever the expiry.
#[utoipa::path(post, path = "/api/connections/{id}/refresh", tag = "connections", security(("api_key" = [])),
    params(("id" = String, Path, example = "acme-cc-1", description = "connection id")),
    responses((status = 200, body = RefreshedConnection), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 502, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn refresh(
    State(s): State<AppState>,
    _: App,
    PathParams(id): PathParams<String>,
) -> Result<Json<RefreshedConnection>, ApiError> {
    let out = s.engine.force_refresh(&id).await?;
    Ok(Json(RefreshedConnection {
        connection: out.connection.into(),
        refreshed: out.refreshed,
    }))
}

/// What a credential check found (`POST /api/connections/{id}/check`).
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckedConnection {
    /// When the check ended.
    pub checked_at: String,
    /// `ok`, `rejected` (401 after a refresh: now `needs_reauth`), `forbidden` (403: the
    /// connection stays active), `unavailable` or `error`; see `health_result` of a
    /// connection.
    pub result: String,
    /// The provider's status and message (redacted, capped), or the error.
    pub detail: Option<String>,
    /// On `forbidden`: the scopes the check request needs (by the catalog) that the
    /// connection was not granted; empty when none are known to be missing.
    pub missing_scopes: Vec<String>,
    /// The connection's status after the check.
    pub status: String,
    /// The connection as it is now.
    pub connection: ConnectionBody,
}

impl From<HealthReport> for CheckedConnection {
    fn from(r: HealthReport) -> Self {
        Self {
            checked_at: rfc3339(r.checked_at),
            result: r.result.as_str().to_owned(),
            detail: r.detail,
            missing_scopes: r.missing_scopes,
            status: r.connection.status.as_str().to_owned(),
            connection: r.connection.into(),
        }
    }
}

/// Check the connection's credentials at the provider now, with the same request and
/// rules as the background health check (`health_check_interval_secs`), and keep the
/// result on the connection. A 401 that a refresh does not cure marks it
/// `needs_reauth`; a 403 leaves it active (`forbidden`). Audited as `connection.check`.
#[utoipa::path(post, path = "/api/connections/{id}/check", tag = "connections", security(("api_key" = [])),
    params(("id" = String, Path, example = "acme-cc-1", description = "connection id")),
    responses((status = 200, body = CheckedConnection, description = "the check ran; `result` says what it found"),
        (status = 400, body = ErrorBody, description = "not a connection id"),
        (status = 404, body = ErrorBody, description = "no such connection"),
        (status = 409, body = ErrorBody, description = "the connection cannot be checked: it is not active, or its provider has no request to check credentials with")))]
pub async fn check(
    State(s): State<AppState>,
    App(who): App,
    PathParams(id): PathParams<String>,
) -> Result<Json<CheckedConnection>, ApiError> {
    let r = s.engine.check_connection_by(&id, &who.actor()).await?;
    Ok(Json(r.into()))
}

/// `POST /api/connections`.
// The schema of the engine's `DirectConnectRequest`, which the handler parses; the
// fuzzer (tests/schemathesis) checks that the two accept the same bodies.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"integration": "acme-cc", "connection_id": "acme-cc-1"}))]
pub struct DirectConnectBody {
    /// The integration.
    pub integration: String,
    /// The app's end-user id (default `app` for client credentials): 1 to 256
    /// characters, no control characters.
    #[schema(pattern = r"^[^\u0000-\u001f\u007f-\u009f]{1,256}$")]
    pub end_user_id: Option<String>,
    /// The connection id (generated when absent).
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    pub connection_id: Option<String>,
    /// The credentials (not for client credentials or GitHub App installations); an
    /// object, not null. A service account (`jwt_bearer`) gives its own key here, or
    /// none to sign with the integration's.
    #[schema(nullable = false)]
    pub credentials: Option<CredentialsBody>,
    /// The provider's connection settings (subdomain…; `subject` of a service account,
    /// `installation_id` of a GitHub App installation).
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

/// Credentials of an API-key or basic connection, or a service account's own key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsBody {
    /// The API key (`api_key` providers).
    pub api_key: Option<String>,
    /// User name (`basic` providers without a fixed one).
    pub username: Option<String>,
    /// Password (`basic` providers).
    pub password: Option<String>,
    /// The connection's own private key (`jwt_bearer` providers), signing its assertions
    /// instead of the integration's `private_key`: an RSA PEM (PKCS#1 or PKCS#8), or
    /// Google's service-account key file (JSON) as downloaded, which also gives the
    /// issuer (`client_email`) and key id (`private_key_id`). At most 16 KiB; checked
    /// (parsed, made to sign, and tried at the token endpoint) before anything is
    /// stored, sealed, and never returned.
    #[schema(max_length = 16384)]
    pub private_key: Option<String>,
    /// The issuer (`iss`) of the connection's own key, where its key file does not name
    /// it (a connected app's consumer key, an integration key); default: the
    /// integration's `client_id`.
    #[schema(max_length = 256)]
    pub client_id: Option<String>,
    /// The key id (`kid`) of the connection's own key, where its key file does not name
    /// it.
    #[schema(max_length = 200)]
    pub private_key_id: Option<String>,
}

impl std::fmt::Debug for CredentialsBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialsBody([redacted])")
    }
}

/// Connect without a browser redirect: an API key or basic credentials (checked by the
/// provider's verify request), a client-credentials token, a service account (JWT
/// bearer grant, `settings.subject`; its own key in `credentials.private_key`, or the
/// integration's) or a GitHub App installation (`settings.installation_id`).
#[utoipa::path(post, path = "/api/connections", tag = "connections", security(("api_key" = [])),
    request_body = DirectConnectBody, responses((status = 201, body = ConnectionBody),
        (status = 400, body = ErrorBody, description = "a bad field (a private key that is not an RSA PEM or a service-account key file, or none where the integration has none), or an integration that does not connect this way"),
        (status = 404, body = ErrorBody, description = "the integration is not configured"),
        (status = 409, body = ErrorBody, description = "the connection exists already"),
        (status = 422, body = ErrorBody, description = "a field of the wrong type, or the provider refused the credentials (or a signed JWT: the message gives the provider's reason and says what to check); nothing is stored"),
        (status = 502, body = ErrorBody, description = "the provider's answer was not understood"),
        (status = 503, body = ErrorBody, description = "the provider could not be reached")))]
pub async fn connect_direct(
    State(s): State<AppState>,
    App(who): App,
    JsonBody(req): JsonBody<DirectConnectRequest>,
) -> Result<(StatusCode, Json<ConnectionBody>), ApiError> {
    let c = s.engine.connect_direct(req, &who.actor()).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// What `oauth-test` found.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthTestResult {
    /// The integration.
    pub integration: String,
    /// Whether every check passed.
    pub ok: bool,
    /// The checks, in the order they ran.
    pub checks: Vec<OAuthTestCheck>,
}

/// One check of `oauth-test`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthTestCheck {
    /// What was checked.
    pub check: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

impl From<OAuthCheck> for OAuthTestResult {
    fn from(c: OAuthCheck) -> Self {
        Self {
            ok: c.ok(),
            integration: c.integration,
            checks: c
                .checks
                .into_iter()
                .map(|(check, ok, detail)| OAuthTestCheck { check, ok, detail })
                .collect(),
        }
    }
}

/// Check an integration's OAuth set-up: the endpoints answer and the client
/// credentials are accepted (a bogus code must give `invalid_grant`, not
/// `invalid_client`).
#[utoipa::path(post, path = "/api/integrations/{integration}/oauth-test", tag = "connections",
    security(("api_key" = [])), params(("integration" = String, Path, example = "acme", description = "integration id")),
    responses((status = 200, body = OAuthTestResult), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "the integration's provider has no OAuth2 settings")))]
pub async fn oauth_test(
    State(s): State<AppState>,
    _: Admin,
    PathParams(integration): PathParams<String>,
) -> Result<Json<OAuthTestResult>, ApiError> {
    Ok(Json(s.engine.oauth_test(&integration).await?.into()))
}

/// The routes of this module.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(create_session))
        .routes(routes!(list_integrations))
        .routes(routes!(authorize))
        .routes(routes!(callback))
        .routes(routes!(disconnect))
        .routes(routes!(status))
        .routes(routes!(oauth_test))
        .routes(routes!(list_connections, connect_direct))
        .routes(routes!(get_connection))
        .routes(routes!(token))
        .routes(routes!(refresh))
        .routes(routes!(check))
}
