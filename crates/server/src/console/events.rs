//! The console's events page: stored events filtered by integration, type, verification,
//! mapping result, delivery status and time, a page at a time; one event with its
//! deliveries and its payload redacted; replay of one event, or of a filtered set after
//! a dry-run count, and the replay's progress.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use engine::pipeline::redact::Shown;
use store::deliveries::{DeliveryCounts, EventListFilter, EventStatus, EventSummary};
use store::{DeliveryStatus, Mapped, ReplayFilter, ReplayStatus};
use utoipa_axum::routes;

use super::pages::{Fields, PAGE_SIZE, field_error, form_time, query, show_opt_time, show_time};
use super::render::{Layout, PageError, html};
use super::session::{Console, ConsoleForm, ConsoleQuery};
use crate::AppState;
use crate::error::PathParams;
use crate::routes::Routes;

/// Fields of the event filter (the listing's, the bulk replay's and the progress page's).
const FILTER: &[&str] = &[
    "integration",
    "type",
    "verification",
    "mapping",
    "delivery",
    "since",
    "until",
];
const MAPPINGS: &[&str] = &["unrouted", "mapped", "dropped", "mapping_failed"];
const DELIVERIES: &[&str] = &["pending", "in_flight", "delivered", "dead"];
const VERIFICATIONS: &[&str] = &["verified", "internal"];

/// The event filter as the form sends it.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    integration: Option<String>,
    event_type: Option<String>,
    verification: Option<String>,
    mapping: Option<String>,
    delivery: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

impl EventFilter {
    fn read(f: &Fields, s: &AppState) -> Result<Self, PageError> {
        let integration = f.text("integration", 64)?;
        if let Some(i) = &integration
            && s.engine.config().integration(i).is_none()
        {
            return Err(field_error(
                "integration",
                "no such integration in the configuration",
            ));
        }
        let out = Self {
            integration,
            event_type: f.text("type", 256)?,
            verification: f.choice("verification", VERIFICATIONS)?,
            mapping: f.choice("mapping", MAPPINGS)?,
            delivery: f.choice("delivery", DELIVERIES)?,
            since: f.time("since")?,
            until: f.time("until")?,
        };
        if let (Some(a), Some(b)) = (out.since, out.until)
            && a >= b
        {
            return Err(field_error("since", "must be before until"));
        }
        Ok(out)
    }

    fn is_empty(&self) -> bool {
        self.integration.is_none()
            && self.event_type.is_none()
            && self.verification.is_none()
            && self.mapping.is_none()
            && self.delivery.is_none()
            && self.since.is_none()
            && self.until.is_none()
    }

    fn list_filter(&self, before: Option<String>) -> EventListFilter {
        EventListFilter {
            integration: self.integration.clone(),
            status: self.mapping.as_deref().and_then(EventStatus::parse),
            event_type: self.event_type.clone(),
            before,
            delivery: self.delivery.as_deref().and_then(DeliveryStatus::parse),
            internal: self.verification.as_deref().map(|v| v == "internal"),
            since: self.since,
            until: self.until,
            connection_id: None,
        }
    }

    /// The replay this filter asks for, or why it cannot be one.
    fn replay_filter(&self) -> Result<ReplayFilter, PageError> {
        if self.verification.is_some() {
            return Err(field_error(
                "verification",
                "a replay cannot select by verification; clear it",
            ));
        }
        let status = match (self.mapping.as_deref(), self.delivery.as_deref()) {
            (None, None) => None,
            (Some("mapping_failed"), None) => Some(ReplayStatus::MappingFailed),
            (None, Some("pending")) => Some(ReplayStatus::Pending),
            (None, Some("delivered")) => Some(ReplayStatus::Delivered),
            (None, Some("dead")) => Some(ReplayStatus::Dead),
            (Some(_), _) => {
                return Err(field_error(
                    "mapping",
                    "a replay selects by mapping only for mapping_failed (without a delivery status)",
                ));
            }
            (None, Some(_)) => {
                return Err(field_error(
                    "delivery",
                    "a replay takes pending, delivered or dead deliveries (in-flight ones are being sent)",
                ));
            }
        };
        let f = ReplayFilter {
            event_id: None,
            integration: self.integration.clone(),
            destination: None,
            status,
            event_type: self.event_type.clone(),
            since: self.since,
            until: self.until,
        };
        if f == ReplayFilter::default() {
            return Err(field_error(
                "filter",
                "replaying every event needs a filter; narrow it (integration, type, status or time)",
            ));
        }
        Ok(f)
    }

    /// The filter as query pairs (for links and hidden fields).
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        let mut push = |k: &'static str, x: Option<String>| {
            if let Some(x) = x {
                v.push((k, x));
            }
        };
        push("integration", self.integration.clone());
        push("type", self.event_type.clone());
        push("verification", self.verification.clone());
        push("mapping", self.mapping.clone());
        push("delivery", self.delivery.clone());
        push("since", self.since.as_ref().map(form_time));
        push("until", self.until.as_ref().map(form_time));
        v
    }

    fn query(&self) -> String {
        let pairs = self.pairs();
        let borrowed: Vec<(&str, Option<&str>)> =
            pairs.iter().map(|(k, v)| (*k, Some(v.as_str()))).collect();
        query(&borrowed)
    }
}

/// The filter form's values and choices, for the template.
struct FilterForm {
    integrations: Vec<String>,
    integration: String,
    event_type: String,
    verification: String,
    mapping: String,
    delivery: String,
    since: String,
    until: String,
}

impl FilterForm {
    fn new(f: &EventFilter, s: &AppState) -> Self {
        Self {
            integrations: s
                .engine
                .config()
                .integrations
                .iter()
                .map(|i| i.id.clone())
                .collect(),
            integration: f.integration.clone().unwrap_or_default(),
            event_type: f.event_type.clone().unwrap_or_default(),
            verification: f.verification.clone().unwrap_or_default(),
            mapping: f.mapping.clone().unwrap_or_default(),
            delivery: f.delivery.clone().unwrap_or_default(),
            since: f.since.as_ref().map(form_time).unwrap_or_default(),
            until: f.until.as_ref().map(form_time).unwrap_or_default(),
        }
    }
}

/// One row of the listing.
pub(super) struct EventRow {
    pub(super) id: String,
    pub(super) received: String,
    pub(super) integration: String,
    pub(super) event_type: String,
    pub(super) verification: String,
    pub(super) mapping: String,
    pub(super) deliveries: String,
}

fn counts_text(c: &DeliveryCounts) -> String {
    let parts: Vec<String> = [
        (c.delivered, "delivered"),
        (c.pending, "pending"),
        (c.in_flight, "in flight"),
        (c.dead, "dead"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, w)| format!("{n} {w}"))
    .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

fn verification_text(scheme: &str) -> String {
    if scheme == "internal" {
        "internal (recorded by Switchboard)".into()
    } else {
        format!("verified ({scheme})")
    }
}

impl From<EventSummary> for EventRow {
    fn from(e: EventSummary) -> Self {
        let mapping = match &e.mapping {
            None => "not mapped yet".to_owned(),
            Some(m) => match (m.status.as_str(), &m.event_type) {
                ("mapped", Some(t)) => format!("mapped to {t}"),
                ("failed", _) => "mapping failed".to_owned(),
                (s, _) => s.to_owned(),
            },
        };
        Self {
            received: show_time(&e.received_at),
            integration: e.integration,
            event_type: e.event_type.unwrap_or_else(|| "—".into()),
            verification: verification_text(&e.scheme),
            mapping,
            deliveries: counts_text(&e.deliveries),
            id: e.id,
        }
    }
}

#[derive(Template)]
#[template(path = "ui/events.html")]
struct EventsPage {
    layout: Layout,
    form: FilterForm,
    rows: Vec<EventRow>,
    filtered: bool,
    filter_query: String,
    next: Option<String>,
    first_page: bool,
}

/// Stored events, newest first, filtered; 50 a page.
#[utoipa::path(get, path = "/ui/events", tag = "console",
    params(
        ("integration" = Option<String>, Query, description = "only this integration's events"),
        ("type" = Option<String>, Query, description = "only this type (the provider's or the mapped one)"),
        ("verification" = Option<String>, Query, description = "verified or internal"),
        ("mapping" = Option<String>, Query, description = "unrouted, mapped, dropped or mapping_failed"),
        ("delivery" = Option<String>, Query, description = "with a delivery pending, in_flight, delivered or dead"),
        ("since" = Option<String>, Query, description = "received at or after (UTC, 2026-01-31T13:45)"),
        ("until" = Option<String>, Query, description = "received before (UTC)"),
        ("cursor" = Option<String>, Query, description = "the next page's cursor")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the page"),
        (status = 400, content_type = "text/html", body = String, description = "a bad filter (the page names it)"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn events_page(
    State(s): State<AppState>,
    c: Console,
    ConsoleQuery(raw): ConsoleQuery<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let known: Vec<&str> = FILTER.iter().copied().chain(["cursor"]).collect();
    let f = Fields::read(raw, &known)?;
    let filter = EventFilter::read(&f, &s)?;
    let cursor = f.text("cursor", 64)?;
    let first_page = cursor.is_none();
    let (rows, next) = s
        .engine
        .list_event_summaries(&filter.list_filter(cursor), PAGE_SIZE)
        .await?;
    let filter_query = filter.query();
    let next = next.map(|c| {
        let mut q = filter.pairs();
        q.push(("cursor", c));
        let b: Vec<(&str, Option<&str>)> = q.iter().map(|(k, v)| (*k, Some(v.as_str()))).collect();
        query(&b)
    });
    Ok(html(
        StatusCode::OK,
        &EventsPage {
            layout: Layout::new(&c, "Events", "/ui/events"),
            form: FilterForm::new(&filter, &s),
            rows: rows.into_iter().map(EventRow::from).collect(),
            filtered: !filter.is_empty(),
            filter_query,
            next,
            first_page,
        },
    ))
}

/// One delivery of the event page.
struct DeliveryRow {
    destination: String,
    status: String,
    attempts: u32,
    last_status: String,
    last_error: String,
    next_attempt: String,
    delivered: String,
    replayable: bool,
    /// Its recorded attempts, oldest first.
    attempt_rows: Vec<AttemptRow>,
}

/// One attempt of a delivery on the event page.
struct AttemptRow {
    number: u32,
    started: String,
    status: String,
    outcome: &'static str,
    duration_ms: u64,
    excerpt: String,
}

impl From<store::Attempt> for AttemptRow {
    fn from(a: store::Attempt) -> Self {
        Self {
            number: a.number,
            started: show_time(&a.started_at),
            status: a.status.map_or_else(|| "—".into(), |c| c.to_string()),
            outcome: match a.outcome.as_str() {
                "delivered" => "delivered",
                "http_error" => "HTTP error",
                "gone" => "gone (410)",
                "network" => "no answer",
                _ => "other",
            },
            duration_ms: a.duration_ms,
            excerpt: a.excerpt.unwrap_or_default(),
        }
    }
}

enum PayloadView {
    Empty,
    Text {
        text: String,
        truncated: bool,
        form: bool,
    },
    Hidden {
        bytes: usize,
    },
}

impl From<Shown> for PayloadView {
    fn from(s: Shown) -> Self {
        match s {
            Shown::Empty => Self::Empty,
            Shown::Json { text, truncated } => Self::Text {
                text,
                truncated,
                form: false,
            },
            Shown::Form { text, truncated } => Self::Text {
                text,
                truncated,
                form: true,
            },
            Shown::Hidden { bytes } => Self::Hidden { bytes },
        }
    }
}

#[derive(Template)]
#[template(path = "ui/events_detail.html")]
struct EventPage {
    layout: Layout,
    id: String,
    integration: String,
    received: String,
    provider_event_id: String,
    event_type: String,
    verification: String,
    connection_id: String,
    mapping: String,
    mapping_error: String,
    mapped_type: String,
    purged: String,
    deliveries: Vec<DeliveryRow>,
    payload: PayloadView,
    mapped: Option<PayloadView>,
}

/// One event: metadata, mapping, deliveries and payload (secrets and configured fields
/// redacted), with its replay buttons.
#[utoipa::path(get, path = "/ui/events/{id}", tag = "console",
    params(("id" = String, Path, description = "event id (evt_…)")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the page"),
        (status = 400, content_type = "text/html", body = String, description = "not an event id"),
        (status = 404, content_type = "text/html", body = String, description = "no such event"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn event_page(
    State(s): State<AppState>,
    c: Console,
    PathParams(id): PathParams<String>,
) -> Result<Response, PageError> {
    let d = s.engine.event_display(&id).await?;
    let e = &d.detail.event;
    let (mapping, mapping_error, mapped_type) = match &d.detail.routing.mapped {
        None => ("not mapped yet".to_owned(), String::new(), String::new()),
        Some(Mapped::Mapped { event_type, .. }) => {
            ("mapped".to_owned(), String::new(), event_type.clone())
        }
        Some(Mapped::Dropped) => (
            "dropped (the mapping produced nothing)".to_owned(),
            String::new(),
            String::new(),
        ),
        Some(Mapped::Failed { error }) => ("failed".to_owned(), error.clone(), String::new()),
    };
    let purged = d.detail.purged.map_or_else(String::new, |p| {
        format!("{} by {}", show_time(&p.at), p.reason.as_str())
    });
    let mut attempts = d.detail.attempts;
    let deliveries = d
        .detail
        .deliveries
        .iter()
        .map(|x| DeliveryRow {
            attempt_rows: attempts
                .extract_if(.., |a| a.delivery_id == x.id)
                .map(AttemptRow::from)
                .collect(),
            destination: x.destination.clone(),
            status: x.status.as_str().replace('_', " "),
            attempts: x.attempts,
            last_status: x.last_status.map_or_else(|| "—".into(), |c| c.to_string()),
            last_error: x.last_error.clone().unwrap_or_default(),
            next_attempt: if x.status == DeliveryStatus::Pending {
                show_time(&x.next_attempt_at)
            } else {
                "—".into()
            },
            delivered: show_opt_time(x.delivered_at.as_ref()),
            replayable: x.status != DeliveryStatus::InFlight && d.detail.purged.is_none(),
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        &EventPage {
            layout: Layout::new(&c, "Event", "/ui/events"),
            id: e.id.clone(),
            integration: e.integration.clone(),
            received: show_time(&e.received_at),
            provider_event_id: e.provider_event_id.clone().unwrap_or_else(|| "—".into()),
            event_type: e.event_type.clone().unwrap_or_else(|| "—".into()),
            verification: verification_text(&e.scheme),
            connection_id: e.connection_id.clone().unwrap_or_default(),
            mapping,
            mapping_error,
            mapped_type,
            purged,
            deliveries,
            payload: d.payload.into(),
            mapped: d.mapped.map(Into::into),
        },
    ))
}

/// The form of a single replay.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayOneForm {
    /// Only this destination's delivery (empty: every destination).
    #[serde(default)]
    pub destination: Option<String>,
}

/// Replays one event (or its delivery to one destination), then shows the progress.
/// Audited with the console user.
#[utoipa::path(post, path = "/ui/events/{id}/replay", tag = "console",
    params(("id" = String, Path, description = "event id (evt_…)")),
    request_body(content = ReplayOneForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "replayed: to its progress page"),
        (status = 400, content_type = "text/html", body = String, description = "not an event id, an unknown destination"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a missing or wrong CSRF token"),
        (status = 404, content_type = "text/html", body = String, description = "no such event"),
        (status = 409, content_type = "text/html", body = String, description = "its payload was removed (retention or erasure)")))]
pub async fn replay_one(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    f: ConsoleForm<ReplayOneForm>,
) -> Result<Response, PageError> {
    let (c, form) = (f.console, f.form);
    let destination = form.destination.filter(|d| !d.trim().is_empty());
    let (_, at) = s
        .engine
        .replay_event_at(&id, destination.as_deref(), false, c.actor())
        .await?;
    let q = query(&[
        ("event", Some(id.as_str())),
        ("destination", destination.as_deref()),
        ("at", Some(&at.timestamp_millis().to_string())),
    ]);
    Ok(Redirect::to(&format!("/ui/events/replay/progress?{q}")).into_response())
}

#[derive(Template)]
#[template(path = "ui/events_replay.html")]
struct ReplayConfirmPage {
    layout: Layout,
    hidden: Vec<(&'static str, String)>,
    summary: Vec<(&'static str, String)>,
    events: u64,
    deliveries: u64,
    skipped_purged: u64,
    filter_query: String,
}

/// The dry-run count of a bulk replay, with the button that makes it.
#[utoipa::path(get, path = "/ui/events/replay", tag = "console",
    params(
        ("integration" = Option<String>, Query, description = "as the events page's filter"),
        ("type" = Option<String>, Query, description = "as the events page's filter"),
        ("mapping" = Option<String>, Query, description = "mapping_failed only"),
        ("delivery" = Option<String>, Query, description = "pending, delivered or dead"),
        ("since" = Option<String>, Query, description = "received at or after (UTC)"),
        ("until" = Option<String>, Query, description = "received before (UTC)")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the count and the confirmation form"),
        (status = 400, content_type = "text/html", body = String, description = "a filter a replay cannot take, or none"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn replay_confirm(
    State(s): State<AppState>,
    c: Console,
    ConsoleQuery(raw): ConsoleQuery<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let f = Fields::read(raw, FILTER)?;
    let filter = EventFilter::read(&f, &s)?;
    let rf = filter.replay_filter()?;
    let (count, _) = s
        .engine
        .replay_checked_at(&rf, false, true, c.actor())
        .await?;
    let summary = filter
        .pairs()
        .into_iter()
        .map(|(k, v)| (k, v.replace('_', " ")))
        .collect();
    Ok(html(
        StatusCode::OK,
        &ReplayConfirmPage {
            layout: Layout::new(&c, "Replay events", "/ui/events"),
            hidden: filter.pairs(),
            summary,
            events: count.events,
            deliveries: count.deliveries,
            skipped_purged: count.skipped_purged,
            filter_query: filter.query(),
        },
    ))
}

/// Replays the events a filter selects (after its dry-run count), then shows the
/// progress. Audited with the console user.
#[utoipa::path(post, path = "/ui/events/replay", tag = "console",
    request_body(content = BTreeMap<String, String>, content_type = "application/x-www-form-urlencoded",
        description = "csrf, confirm (ticked) and the filter's fields"),
    responses(
        (status = 303, description = "replayed: to its progress page"),
        (status = 400, content_type = "text/html", body = String, description = "a bad or empty filter, or not confirmed"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a missing or wrong CSRF token")))]
pub async fn replay_many(
    State(s): State<AppState>,
    f: ConsoleForm<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let (c, raw) = (f.console, f.form);
    let known: Vec<&str> = FILTER.iter().copied().chain(["confirm"]).collect();
    let f = Fields::read(raw, &known)?;
    if !f.ticked("confirm") {
        return Err(field_error("confirm", "tick the box to confirm the replay"));
    }
    let filter = EventFilter::read(&f, &s)?;
    let rf = filter.replay_filter()?;
    let (_, at) = s
        .engine
        .replay_checked_at(&rf, false, false, c.actor())
        .await?;
    let mut q = filter.pairs();
    q.push(("at", at.timestamp_millis().to_string()));
    let b: Vec<(&str, Option<&str>)> = q.iter().map(|(k, v)| (*k, Some(v.as_str()))).collect();
    Ok(Redirect::to(&format!("/ui/events/replay/progress?{}", query(&b))).into_response())
}

#[derive(Template)]
#[template(path = "ui/events_progress.html")]
struct ProgressPage {
    layout: Layout,
    total: u64,
    done: u64,
    delivered: u64,
    dead: u64,
    waiting: u64,
    finished: bool,
    since: String,
    self_query: String,
    back: String,
}

/// How far a replay has come: of the deliveries it requeued or created, how many are
/// done (delivered or dead). Reload it, or let its script poll.
#[utoipa::path(get, path = "/ui/events/replay/progress", tag = "console",
    params(
        ("at" = i64, Query, minimum = 0.0, maximum = 253402300799999.0, description = "when the replay was made (ms since the epoch, up to the end of year 9999)"),
        ("event" = Option<String>, Query, description = "the one event replayed"),
        ("destination" = Option<String>, Query, description = "the one destination replayed"),
        ("integration" = Option<String>, Query, description = "as the replay's filter"),
        ("type" = Option<String>, Query, description = "as the replay's filter"),
        ("mapping" = Option<String>, Query, description = "as the replay's filter"),
        ("delivery" = Option<String>, Query, description = "as the replay's filter"),
        ("since" = Option<String>, Query, description = "as the replay's filter"),
        ("until" = Option<String>, Query, description = "as the replay's filter")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the counts"),
        (status = 400, content_type = "text/html", body = String, description = "a bad field"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn replay_progress(
    State(s): State<AppState>,
    signed_in: Result<Console, super::session::NotSignedIn>,
    ConsoleQuery(raw): ConsoleQuery<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    // The replay's time (documented with its range) is checked whoever asks; the
    // session comes next, then the filter's fields.
    let at = raw
        .get("at")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|ms| (0..=253_402_300_799_999).contains(ms))
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .ok_or_else(|| field_error("at", "the replay's time in ms since the epoch"))?;
    let c = match signed_in {
        Ok(c) => c,
        Err(refused) => return Ok(refused.into_response()),
    };
    let known: Vec<&str> = FILTER
        .iter()
        .copied()
        .chain(["at", "event", "destination"])
        .collect();
    let f = Fields::read(raw, &known)?;
    let filter = EventFilter::read(&f, &s)?;
    let event = f.text("event", 64)?;
    let destination = f.text("destination", 64)?;
    let rf = ReplayFilter {
        event_id: event.clone(),
        integration: filter.integration.clone(),
        destination: destination.clone(),
        status: None,
        event_type: filter.event_type.clone(),
        since: filter.since,
        until: filter.until,
    };
    let n = s.engine.replay_progress(&rf, at).await?;
    let total = n.pending + n.in_flight + n.delivered + n.dead;
    let done = n.delivered + n.dead;
    let mut q = filter.pairs();
    q.push(("at", at.timestamp_millis().to_string()));
    if let Some(e) = &event {
        q.push(("event", e.clone()));
    }
    if let Some(d) = &destination {
        q.push(("destination", d.clone()));
    }
    let b: Vec<(&str, Option<&str>)> = q.iter().map(|(k, v)| (*k, Some(v.as_str()))).collect();
    let back = match &event {
        Some(e) => format!("/ui/events/{e}"),
        None => format!("/ui/events?{}", filter.query()),
    };
    Ok(html(
        StatusCode::OK,
        &ProgressPage {
            layout: Layout::new(&c, "Replay progress", "/ui/events"),
            total,
            done,
            delivered: n.delivered,
            dead: n.dead,
            waiting: n.pending + n.in_flight,
            finished: total > 0 && done == total,
            since: show_time(&at),
            self_query: query(&b),
            back,
        },
    ))
}

/// The routes of this page.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(events_page))
        .routes(routes!(replay_confirm, replay_many))
        .routes(routes!(replay_progress))
        .routes(routes!(event_page))
        .routes(routes!(replay_one))
}
