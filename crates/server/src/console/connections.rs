//! The console's connections page: connections filtered by integration, status and end
//! user, a page at a time, with expiry, last refresh, last error, missing scopes and
//! the last credential check; refresh, check now, and disconnect after a confirmation (a page of its own, so it works
//! without JavaScript), through the same engine path as the API (revocation at the
//! provider).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use engine::connections::ConnectionView;
use engine::ids::{is_connection_id, is_end_user_id};
use store::deliveries::EventListFilter;
use store::{ConnectionFilter, ConnectionStatus};
use utoipa_axum::routes;

use super::events::EventRow;
use super::pages::{ConfirmForm, Fields, PAGE_SIZE, field_error, query, show_opt_time, show_time};
use super::render::{Layout, PageError, html};
use super::session::{Console, ConsoleForm, ConsoleQuery};
use crate::AppState;
use crate::error::PathParams;
use crate::routes::Routes;

const STATUSES: &[&str] = &["active", "needs_reauth", "revoked", "error"];

/// One connection as the pages show it.
struct ConnectionRow {
    id: String,
    integration: String,
    provider: String,
    end_user_id: String,
    auth_mode: String,
    status: String,
    expires: String,
    last_refresh: String,
    last_error: String,
    missing_scopes: String,
    last_check: String,
    refreshable: bool,
    checkable: bool,
    connected: bool,
}

impl From<ConnectionView> for ConnectionRow {
    fn from(c: ConnectionView) -> Self {
        Self {
            refreshable: matches!(c.auth_mode.as_str(), "oauth2" | "client_credentials")
                && c.status == ConnectionStatus::Active,
            checkable: c.status == ConnectionStatus::Active,
            connected: c.status != ConnectionStatus::Revoked,
            last_check: match (&c.health_result, &c.health_detail) {
                (Some(r), Some(d)) => {
                    format!("{r} ({d}), {}", show_opt_time(c.health_checked_at.as_ref()))
                }
                (Some(r), None) => format!("{r}, {}", show_opt_time(c.health_checked_at.as_ref())),
                _ => String::new(),
            },
            status: c.status.as_str().replace('_', " "),
            expires: show_opt_time(c.expires_at.as_ref()),
            last_refresh: show_opt_time(c.last_refresh_at.as_ref()),
            last_error: c.last_error.unwrap_or_default(),
            missing_scopes: c.missing_scopes.join(" "),
            id: c.id,
            integration: c.integration,
            provider: c.provider,
            end_user_id: c.end_user_id,
            auth_mode: c.auth_mode,
        }
    }
}

#[derive(Template)]
#[template(path = "ui/connections.html")]
struct ConnectionsPage {
    layout: Layout,
    integrations: Vec<String>,
    integration: String,
    status: String,
    end_user: String,
    rows: Vec<ConnectionRow>,
    filtered: bool,
    filter_query: String,
    next: Option<String>,
    first_page: bool,
    notice: String,
}

/// What a finished action says at the top of the page (`?done=`).
fn notice(done: Option<&str>) -> String {
    match done {
        Some("refreshed") => "The connection was refreshed.".into(),
        Some("refresh_shared") => {
            "Another refresh had just finished; its token is the current one.".into()
        }
        Some("checked_ok") => "The provider accepted the connection's credentials.".into(),
        Some("checked_rejected") => "The provider refused the connection's credentials: it needs its end user to connect again.".into(),
        Some("checked_forbidden") => "The provider answered 403: the credentials work but may not make the check request (a missing scope or a plan limit); the connection stays active. Its last check says what the provider said.".into(),
        Some("checked_unavailable") => "The provider could not be asked (an outage, throttling or a timeout); nothing changed.".into(),
        Some("checked_error") => "The provider gave an unexpected answer; nothing changed. Its last check says what it was.".into(),
        Some("disconnected") => {
            "The connection was disconnected and the provider confirmed the revocation.".into()
        }
        Some("disconnected_unconfirmed") => "The connection was disconnected; the provider did not confirm the revocation (its credentials are deleted here all the same).".into(),
        _ => String::new(),
    }
}

/// Connections, filtered, 50 a page.
#[utoipa::path(get, path = "/ui/connections", tag = "console",
    params(
        ("integration" = Option<String>, Query, description = "only this integration"),
        ("status" = Option<String>, Query, description = "active, needs_reauth, revoked or error"),
        ("end_user" = Option<String>, Query, description = "only this end user"),
        ("cursor" = Option<String>, Query, description = "the next page's cursor"),
        ("done" = Option<String>, Query, description = "the action just done, for its notice")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the page"),
        (status = 400, content_type = "text/html", body = String, description = "a bad filter (the page names it)"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn connections_page(
    State(s): State<AppState>,
    c: Console,
    ConsoleQuery(raw): ConsoleQuery<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let f = Fields::read(
        raw,
        &["integration", "status", "end_user", "cursor", "done"],
    )?;
    let integration = f.text("integration", 64)?;
    if let Some(i) = &integration
        && s.engine.config().integration(i).is_none()
    {
        return Err(field_error(
            "integration",
            "no such integration in the configuration",
        ));
    }
    let status = f.choice("status", STATUSES)?;
    let end_user = f.text("end_user", 256)?;
    if let Some(u) = &end_user
        && !is_end_user_id(u)
    {
        return Err(field_error("end_user", "not an end-user id"));
    }
    let cursor = f.text("cursor", 128)?;
    let filter = ConnectionFilter {
        integration: integration.clone(),
        end_user_id: end_user.clone(),
        status: status.as_deref().and_then(ConnectionStatus::parse),
    };
    let page = s
        .engine
        .list_connections(&filter, cursor.as_deref(), PAGE_SIZE)
        .await?;
    let pairs = [
        ("integration", integration.as_deref()),
        ("status", status.as_deref()),
        ("end_user", end_user.as_deref()),
    ];
    let filter_query = query(&pairs);
    let next = page.next_cursor.as_deref().map(|c| {
        let mut p = pairs.to_vec();
        p.push(("cursor", Some(c)));
        query(&p)
    });
    Ok(html(
        StatusCode::OK,
        &ConnectionsPage {
            layout: Layout::new(&c, "Connections", "/ui/connections"),
            integrations: s
                .engine
                .config()
                .integrations
                .iter()
                .map(|i| i.id.clone())
                .collect(),
            filtered: integration.is_some() || status.is_some() || end_user.is_some(),
            integration: integration.unwrap_or_default(),
            status: status.unwrap_or_default(),
            end_user: end_user.unwrap_or_default(),
            rows: page.data.into_iter().map(ConnectionRow::from).collect(),
            filter_query,
            next,
            first_page: cursor.is_none(),
            notice: notice(f.get("done")),
        },
    ))
}

/// How many of a connection's events its page lists.
const RECENT_EVENTS: u32 = 20;

#[derive(Template)]
#[template(path = "ui/connections_detail.html")]
struct DetailPage {
    layout: Layout,
    c: ConnectionRow,
    end_user_query: String,
    scopes: String,
    settings: Vec<(String, String)>,
    token_obtained: String,
    created: String,
    updated: String,
    health_checked: String,
    health_result: String,
    health_detail: String,
    events: Vec<EventRow>,
}

/// One connection: everything the list shows, with its granted scopes, settings, token
/// times, health check and most recent events; refresh and disconnect. Never a token or
/// a secret: the engine's view of a connection holds none.
#[utoipa::path(get, path = "/ui/connections/{id}", tag = "console",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$",
        description = "connection id (checked before the session: a malformed one is a 400 for anyone)")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the page"),
        (status = 400, content_type = "text/html", body = String, description = "not a connection id"),
        (status = 404, content_type = "text/html", body = String, description = "no such connection"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn connection_page(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    signed_in: Result<Console, super::session::NotSignedIn>,
) -> Result<Response, PageError> {
    // A malformed id is a 400 whoever asks; the session is checked after it.
    connection_id(&id)?;
    let c = match signed_in {
        Ok(c) => c,
        Err(refused) => return Ok(refused.into_response()),
    };
    let conn = s.engine.get_connection(&id).await?;
    let (events, _) = s
        .engine
        .list_event_summaries(
            &EventListFilter {
                connection_id: Some(id.clone()),
                ..Default::default()
            },
            RECENT_EVENTS,
        )
        .await?;
    Ok(html(
        StatusCode::OK,
        &DetailPage {
            layout: Layout::new(&c, format!("Connection {id}"), "/ui/connections"),
            end_user_query: query(&[("end_user", Some(&conn.end_user_id))]),
            scopes: conn.scopes.join(" "),
            settings: conn
                .settings
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            token_obtained: show_opt_time(conn.token_obtained_at.as_ref()),
            created: show_time(&conn.created_at),
            updated: show_time(&conn.updated_at),
            health_checked: show_opt_time(conn.health_checked_at.as_ref()),
            health_result: conn.health_result.clone().unwrap_or_default(),
            health_detail: conn.health_detail.clone().unwrap_or_default(),
            events: events.into_iter().map(EventRow::from).collect(),
            c: conn.into(),
        },
    ))
}

fn connection_id(id: &str) -> Result<(), PageError> {
    if is_connection_id(id) {
        Ok(())
    } else {
        Err(field_error("id", "not a connection id"))
    }
}

/// A form that carries only the CSRF token.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsrfForm {}

/// Refreshes a connection now (OAuth2 and client credentials). Audited with the
/// console user.
#[utoipa::path(post, path = "/ui/connections/{id}/refresh", tag = "console",
    params(("id" = String, Path, description = "connection id")),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "refreshed: to the connections page with a notice"),
        (status = 400, content_type = "text/html", body = String, description = "not a connection id, or credentials that do not refresh"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a missing or wrong CSRF token"),
        (status = 404, content_type = "text/html", body = String, description = "no such connection"),
        (status = 409, content_type = "text/html", body = String, description = "the connection needs a new connect flow"),
        (status = 502, content_type = "text/html", body = String, description = "the provider refused or failed")))]
pub async fn refresh(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    f: ConsoleForm<CsrfForm>,
) -> Result<Response, PageError> {
    let CsrfForm {} = f.form;
    let c = f.console;
    connection_id(&id)?;
    let out = s.engine.refresh_connection_by(&id, c.actor()).await?;
    let done = if out.refreshed {
        "refreshed"
    } else {
        "refresh_shared"
    };
    Ok(Redirect::to(&format!(
        "/ui/connections?{}",
        query(&[
            ("end_user", Some(&out.connection.end_user_id)),
            ("done", Some(done))
        ])
    ))
    .into_response())
}

/// Checks a connection's credentials at the provider now (the API's check, the
/// background health check's code). Audited with the console user.
#[utoipa::path(post, path = "/ui/connections/{id}/check", tag = "console",
    params(("id" = String, Path, description = "connection id")),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "checked: to the connections page with a notice of the result"),
        (status = 400, content_type = "text/html", body = String, description = "not a connection id"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a missing or wrong CSRF token"),
        (status = 404, content_type = "text/html", body = String, description = "no such connection"),
        (status = 409, content_type = "text/html", body = String, description = "the connection cannot be checked: not active, or its provider has no request to check with")))]
pub async fn check(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    f: ConsoleForm<CsrfForm>,
) -> Result<Response, PageError> {
    let CsrfForm {} = f.form;
    let c = f.console;
    connection_id(&id)?;
    let r = s.engine.check_connection_by(&id, c.actor()).await?;
    let done = format!("checked_{}", r.result.as_str());
    Ok(Redirect::to(&format!(
        "/ui/connections?{}",
        query(&[
            ("end_user", Some(&r.connection.end_user_id)),
            ("done", Some(&done))
        ])
    ))
    .into_response())
}

#[derive(Template)]
#[template(path = "ui/connections_disconnect.html")]
struct DisconnectPage {
    layout: Layout,
    c: ConnectionRow,
}

/// The confirmation of a disconnect: what will happen, and the button.
#[utoipa::path(get, path = "/ui/connections/{id}/disconnect", tag = "console",
    params(("id" = String, Path, description = "connection id")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the confirmation"),
        (status = 400, content_type = "text/html", body = String, description = "not a connection id"),
        (status = 404, content_type = "text/html", body = String, description = "no such connection"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn disconnect_confirm(
    State(s): State<AppState>,
    c: Console,
    PathParams(id): PathParams<String>,
) -> Result<Response, PageError> {
    connection_id(&id)?;
    let conn = s.engine.get_connection(&id).await?;
    Ok(html(
        StatusCode::OK,
        &DisconnectPage {
            layout: Layout::new(&c, format!("Disconnect {id}?"), "/ui/connections"),
            c: conn.into(),
        },
    ))
}

/// Disconnects: revokes at the provider, then deletes the credentials (the API's
/// disconnect). Audited with the console user.
#[utoipa::path(post, path = "/ui/connections/{id}/disconnect", tag = "console",
    params(("id" = String, Path, description = "connection id")),
    request_body(content = ConfirmForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "disconnected: to the connections page with a notice"),
        (status = 400, content_type = "text/html", body = String, description = "not a connection id, or not confirmed"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a missing or wrong CSRF token"),
        (status = 404, content_type = "text/html", body = String, description = "no such connection")))]
pub async fn disconnect(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    f: ConsoleForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let (c, form) = (f.console, f.form);
    connection_id(&id)?;
    form.require("the disconnect")?;
    let conn = s.engine.get_connection(&id).await?;
    let out = s
        .engine
        .disconnect(&conn.integration, &id, c.actor())
        .await?;
    let done = if out.revoked_at_provider {
        "disconnected"
    } else {
        "disconnected_unconfirmed"
    };
    Ok(Redirect::to(&format!(
        "/ui/connections?{}",
        query(&[("end_user", Some(&conn.end_user_id)), ("done", Some(done))])
    ))
    .into_response())
}

/// The routes of this page.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(connections_page))
        .routes(routes!(connection_page))
        .routes(routes!(refresh))
        .routes(routes!(check))
        .routes(routes!(disconnect_confirm, disconnect))
}
