//! The audit log page: the chain's state and the rows, newest first, a page at a time.
//!
//! A page load does not walk the whole chain (that grows with the log): it checks from
//! the recorded checkpoint (`Engine::audit_status`: the checkpoint's row unchanged, the
//! rows added since chained onto it) and says when the earlier rows were verified; the
//! "Verify the whole chain" button (and `switchboard audit verify`, `POST
//! /api/audit/verify`) walks every row and moves that date.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use engine::audit::Break;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::routes;

use super::connections::CsrfForm;
use super::pages::show_time;
use super::render::{Layout, PageError, html};
use super::session::{Console, ConsoleForm, ConsoleQuery};
use crate::AppState;
use crate::routes::Routes;

const PATH: &str = "/ui/audit";
const PAGE_SIZE: u32 = 50;

/// Paging of the audit page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditPageQuery {
    /// The cursor of the next (older) page, from the page before.
    #[param(pattern = "^([1-9][0-9]{0,17})?$")]
    pub cursor: Option<String>,
    /// The action just done, for its notice (`verified`).
    pub done: Option<String>,
}

struct Row {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    target: String,
    details: String,
}

#[derive(Template)]
#[template(path = "ui/audit.html")]
struct AuditPage {
    layout: Layout,
    ok: bool,
    rows_checked: u64,
    problem: Option<String>,
    /// Every row up to this one is verified (when `ok`).
    through: i64,
    /// Whether this load walked the whole chain.
    whole_chain: bool,
    /// The last walk of the whole chain: its last row and when it ended.
    full: Option<(i64, String)>,
    /// What a finished action says (`?done=`).
    notice: String,
    rows: Vec<Row>,
    next: Option<String>,
    first_page: bool,
}

fn describe(seq: Option<i64>, b: &Break) -> String {
    let at = seq.map(|s| format!("row {s}: ")).unwrap_or_default();
    let what = match b {
        Break::HashMismatch => "its content does not match its hash (it was edited)".to_owned(),
        Break::PrevHashMismatch => {
            "it does not point at the previous row's hash (a row before it was edited or removed)"
                .to_owned()
        }
        Break::Gap { expected } => format!("rows are missing (expected row {expected})"),
        Break::Truncated { head_seq } => {
            format!("the newest rows were removed (the head says row {head_seq})")
        }
        Break::HeadMismatch => "the last row does not match the recorded head".to_owned(),
    };
    format!("{at}{what}")
}

/// The audit log page.
#[utoipa::path(get, path = "/ui/audit", tag = "console", params(AuditPageQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the chain's verification and a page of rows"),
        (status = 303, description = "not signed in: to the sign-in page"),
        (status = 400, content_type = "text/html", body = String, description = "a malformed cursor or unknown parameter")))]
pub async fn page(
    State(s): State<AppState>,
    ConsoleQuery(q): ConsoleQuery<AuditPageQuery>,
    signed_in: Result<Console, super::session::NotSignedIn>,
) -> Result<Response, PageError> {
    // A malformed cursor is a 400 whoever asks; the session is checked after it.
    if let Some(cursor) = q.cursor.as_deref().filter(|c| !c.is_empty())
        && !(cursor.len() <= 18
            && !cursor.starts_with('0')
            && cursor.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(PageError::bad_request(
            "cursor: not a page cursor; use the Next link's, or remove it",
        ));
    }
    let c = match signed_in {
        Ok(c) => c,
        Err(refused) => return Ok(refused.into_response()),
    };
    let cursor = q.cursor.as_deref().filter(|c| !c.is_empty());
    let list = s.engine.list_audit(cursor, PAGE_SIZE).await?;
    let status = s.engine.audit_status().await?;
    let v = &status.verification;
    let rows = list
        .data
        .into_iter()
        .map(|r| Row {
            seq: r.seq,
            at: r.entry.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor: r.entry.actor,
            action: r.entry.action,
            target: r.entry.target,
            details: match &r.entry.details {
                serde_json::Value::Object(m) if m.is_empty() => String::new(),
                d => d.to_string(),
            },
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        &AuditPage {
            layout: Layout::new(&c, "Audit log", PATH),
            ok: v.ok,
            rows_checked: v.rows_checked,
            problem: v.problem.as_ref().map(|b| describe(v.first_bad_seq, b)),
            through: status.through_seq,
            whole_chain: status.whole_chain,
            full: status
                .checkpoint
                .as_ref()
                .map(|cp| (cp.full_seq, show_time(&cp.full_at))),
            notice: match q.done.as_deref() {
                Some("verified") => "The whole chain was walked just now.".to_owned(),
                _ => String::new(),
            },
            rows,
            next: list.next_cursor,
            first_page: cursor.is_none(),
        },
    ))
}

/// Walks the whole chain now (as `switchboard audit verify` does) and records the
/// outcome; the page then shows it.
#[utoipa::path(post, path = "/ui/audit/verify", tag = "console",
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "walked: to the audit page, which shows the outcome"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a missing or wrong CSRF token")))]
pub async fn verify(
    State(s): State<AppState>,
    f: ConsoleForm<CsrfForm>,
) -> Result<Response, PageError> {
    let CsrfForm {} = f.form;
    s.engine.verify_audit(&|_| {}).await?;
    Ok(Redirect::to("/ui/audit?done=verified").into_response())
}

/// The audit page's routes.
pub fn router() -> Routes {
    Routes::new().routes(routes!(page)).routes(routes!(verify))
}
