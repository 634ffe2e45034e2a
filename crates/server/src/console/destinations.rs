//! The console's destinations and dead letters: each destination's queue, circuit
//! breaker (this instance's view) and disabled state, enable after a 410 Gone (the
//! API's enable), and its dead deliveries a page at a time, each with a replay button,
//! and a replay of all of them after a count.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use store::{ReplayFilter, ReplayStatus};
use utoipa_axum::routes;

use super::connections::CsrfForm;
use super::pages::{ConfirmForm, Fields, PAGE_SIZE, query, show_time};
use super::render::{Layout, PageError, html};
use super::session::{Console, ConsoleForm, ConsoleQuery};
use crate::AppState;
use crate::error::PathParams;
use crate::routes::Routes;

struct DestinationRow {
    id: String,
    url: String,
    integrations: String,
    event_types: String,
    enabled: bool,
    disabled_reason: String,
    pending: u64,
    in_flight: u64,
    dead: u64,
    breaker: String,
}

#[derive(Template)]
#[template(path = "ui/destinations.html")]
struct DestinationsPage {
    layout: Layout,
    rows: Vec<DestinationRow>,
    notice: String,
}

/// Every configured destination with its queue, breaker and state.
#[utoipa::path(get, path = "/ui/destinations", tag = "console",
    params(("done" = Option<String>, Query, description = "the action just done, for its notice")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the page"),
        (status = 400, content_type = "text/html", body = String, description = "an unknown field"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn destinations_page(
    State(s): State<AppState>,
    c: Console,
    ConsoleQuery(raw): ConsoleQuery<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let f = Fields::read(raw, &["done"])?;
    let notice = match f.get("done") {
        Some("enabled") => "The destination is enabled; its waiting deliveries go out now.",
        Some("unchanged") => "It already was enabled; nothing changed.",
        _ => "",
    };
    let breakers = s.engine.breakers();
    let rows = s
        .engine
        .destinations()
        .await?
        .into_iter()
        .map(|d| {
            let breaker = match breakers.get(&d.id) {
                None => "closed".to_owned(),
                Some(b) if b.open => format!(
                    "open after {} failures in a row{}",
                    b.failures,
                    b.reopens_in
                        .map(|t| format!("; a trial in {} s", t.as_secs()))
                        .unwrap_or_default()
                ),
                Some(b) => format!(
                    "closed; {} failure{} in a row",
                    b.failures,
                    if b.failures == 1 { "" } else { "s" }
                ),
            };
            DestinationRow {
                breaker,
                integrations: if d.integrations.is_empty() {
                    "all".into()
                } else {
                    d.integrations.join(", ")
                },
                event_types: d.event_types.join(", "),
                enabled: d.enabled,
                disabled_reason: d.disabled_reason.unwrap_or_default(),
                pending: d.queue.pending,
                in_flight: d.queue.in_flight,
                dead: d.queue.dead,
                id: d.id,
                url: d.url,
            }
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        &DestinationsPage {
            layout: Layout::new(&c, "Destinations", "/ui/destinations"),
            rows,
            notice: notice.to_owned(),
        },
    ))
}

/// Delivers to a destination again (after a 410 Gone or `disable`); its waiting
/// deliveries go out at once. Audited with the console user.
#[utoipa::path(post, path = "/ui/destinations/{id}/enable", tag = "console",
    params(("id" = String, Path, description = "destination id")),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "enabled: to the destinations page with a notice"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a missing or wrong CSRF token"),
        (status = 404, content_type = "text/html", body = String, description = "no such destination")))]
pub async fn enable(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    f: ConsoleForm<CsrfForm>,
) -> Result<Response, PageError> {
    let CsrfForm {} = f.form;
    let c = f.console;
    let changed = s
        .engine
        .set_destination_disabled(&id, false, None, c.actor())
        .await?;
    let done = if changed { "enabled" } else { "unchanged" };
    Ok(Redirect::to(&format!("/ui/destinations?done={done}")).into_response())
}

struct DeadRow {
    event_id: String,
    delivery_id: String,
    attempts: u32,
    last_status: String,
    last_error: String,
    created: String,
}

#[derive(Template)]
#[template(path = "ui/destinations_dead.html")]
struct DeadPage {
    layout: Layout,
    id: String,
    rows: Vec<DeadRow>,
    total_dead: u64,
    next: Option<String>,
    first_page: bool,
}

/// A destination's dead deliveries, newest first, 50 a page, each with a replay button.
#[utoipa::path(get, path = "/ui/destinations/{id}/dead", tag = "console",
    params(
        ("id" = String, Path, description = "destination id"),
        ("cursor" = Option<String>, Query, description = "the next page's cursor")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the page"),
        (status = 400, content_type = "text/html", body = String, description = "a bad cursor or an unknown field"),
        (status = 404, content_type = "text/html", body = String, description = "no such destination"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn dead_page(
    State(s): State<AppState>,
    c: Console,
    PathParams(id): PathParams<String>,
    ConsoleQuery(raw): ConsoleQuery<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let f = Fields::read(raw, &["cursor"])?;
    let cursor = f.text("cursor", 64)?;
    let (rows, next) = s
        .engine
        .dead_deliveries(&id, cursor.as_deref(), PAGE_SIZE)
        .await?;
    let total_dead = s.engine.destination(&id).await?.queue.dead;
    Ok(html(
        StatusCode::OK,
        &DeadPage {
            layout: Layout::new(&c, format!("Dead deliveries to {id}"), "/ui/destinations"),
            rows: rows
                .into_iter()
                .map(|d| DeadRow {
                    attempts: d.attempts,
                    last_status: d.last_status.map_or_else(|| "—".into(), |c| c.to_string()),
                    last_error: d.last_error.unwrap_or_default(),
                    created: show_time(&d.created_at),
                    event_id: d.event_id,
                    delivery_id: d.id,
                })
                .collect(),
            total_dead,
            next: next.map(|c| query(&[("cursor", Some(&c))])),
            first_page: cursor.is_none(),
            id,
        },
    ))
}

#[derive(Template)]
#[template(path = "ui/destinations_replay.html")]
struct ReplayDeadPage {
    layout: Layout,
    id: String,
    events: u64,
    deliveries: u64,
    skipped_purged: u64,
}

fn dead_filter(id: &str) -> ReplayFilter {
    ReplayFilter {
        destination: Some(id.to_owned()),
        status: Some(ReplayStatus::Dead),
        ..Default::default()
    }
}

/// The count of a replay of every dead delivery to a destination, with its button.
#[utoipa::path(get, path = "/ui/destinations/{id}/replay-dead", tag = "console",
    params(("id" = String, Path, description = "destination id")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the count and the confirmation form"),
        (status = 400, content_type = "text/html", body = String, description = "no such destination"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn replay_dead_confirm(
    State(s): State<AppState>,
    c: Console,
    PathParams(id): PathParams<String>,
) -> Result<Response, PageError> {
    let (count, _) = s
        .engine
        .replay_checked_at(&dead_filter(&id), false, true, c.actor())
        .await?;
    Ok(html(
        StatusCode::OK,
        &ReplayDeadPage {
            layout: Layout::new(
                &c,
                format!("Replay dead deliveries to {id}"),
                "/ui/destinations",
            ),
            id,
            events: count.events,
            deliveries: count.deliveries,
            skipped_purged: count.skipped_purged,
        },
    ))
}

/// Replays every dead delivery to a destination, then shows the progress. Audited with
/// the console user.
#[utoipa::path(post, path = "/ui/destinations/{id}/replay-dead", tag = "console",
    params(("id" = String, Path, description = "destination id")),
    request_body(content = ConfirmForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "replayed: to its progress page"),
        (status = 400, content_type = "text/html", body = String, description = "no such destination, or not confirmed"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a missing or wrong CSRF token")))]
pub async fn replay_dead(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    f: ConsoleForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let (c, form) = (f.console, f.form);
    form.require("the replay")?;
    let (_, at) = s
        .engine
        .replay_checked_at(&dead_filter(&id), false, false, c.actor())
        .await?;
    let q = query(&[
        ("destination", Some(&id)),
        ("at", Some(&at.timestamp_millis().to_string())),
    ]);
    Ok(Redirect::to(&format!("/ui/events/replay/progress?{q}")).into_response())
}

/// The routes of this page.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(destinations_page))
        .routes(routes!(enable))
        .routes(routes!(dead_page))
        .routes(routes!(replay_dead_confirm, replay_dead))
}
