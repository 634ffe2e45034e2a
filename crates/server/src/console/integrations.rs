//! The console's integrations page: each configured integration with its provider, auth
//! mode, the webhook URL to give the provider, its connections by status, and the
//! switches the CLI turns (`integration disable|enable`, `webhook block|unblock`).

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use engine::connections::IntegrationOverview;
use utoipa_axum::routes;

use super::connections::CsrfForm;
use super::pages::{Fields, field_error};
use super::render::{Layout, PageError, html};
use super::session::{Console, ConsoleForm, ConsoleQuery};
use crate::AppState;
use crate::error::PathParams;
use crate::routes::Routes;

struct IntegrationRow {
    i: IntegrationOverview,
    connections: String,
}

#[derive(Template)]
#[template(path = "ui/integrations.html")]
struct IntegrationsPage {
    layout: Layout,
    rows: Vec<IntegrationRow>,
    notice: String,
}

/// Every configured integration (the configuration is the list: no paging needed).
#[utoipa::path(get, path = "/ui/integrations", tag = "console",
    params(("done" = Option<String>, Query, description = "the switch just turned, for its notice")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the page"),
        (status = 400, content_type = "text/html", body = String, description = "an unknown field"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn integrations_page(
    State(s): State<AppState>,
    c: Console,
    ConsoleQuery(raw): ConsoleQuery<std::collections::BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let f = Fields::read(raw, &["done"])?;
    let notice = match f.get("done") {
        Some("disable") => "The integration is disabled: it refuses webhooks.",
        Some("enable") => "The integration is enabled.",
        Some("block") => "Webhook intake is blocked: webhooks are refused with 403.",
        Some("unblock") => "Webhook intake is open again.",
        Some("unchanged") => "It already was so; nothing changed.",
        _ => "",
    };
    let rows = s
        .engine
        .integration_overview()
        .await?
        .into_iter()
        .map(|i| {
            let parts: Vec<String> = i
                .connections
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
                .collect();
            IntegrationRow {
                connections: if parts.is_empty() {
                    "none".into()
                } else {
                    parts.join(", ")
                },
                i,
            }
        })
        .collect();
    Ok(html(
        StatusCode::OK,
        &IntegrationsPage {
            layout: Layout::new(&c, "Integrations", "/ui/integrations"),
            rows,
            notice: notice.to_owned(),
        },
    ))
}

/// Turns one of an integration's switches: `disable`, `enable`, `block` (webhook
/// intake), `unblock`. Audited with the console user.
#[utoipa::path(post, path = "/ui/integrations/{id}/{action}", tag = "console",
    params(
        ("id" = String, Path, description = "integration id"),
        ("action" = String, Path, description = "disable, enable, block or unblock")),
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "done: to the integrations page with a notice"),
        (status = 400, content_type = "text/html", body = String, description = "an unknown action"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a missing or wrong CSRF token"),
        (status = 404, content_type = "text/html", body = String, description = "no such integration")))]
pub async fn switch(
    State(s): State<AppState>,
    PathParams((id, action)): PathParams<(String, String)>,
    f: ConsoleForm<CsrfForm>,
) -> Result<Response, PageError> {
    let CsrfForm {} = f.form;
    let c = f.console;
    let actor = c.actor();
    let changed = match action.as_str() {
        "disable" | "enable" => {
            s.engine
                .set_integration_disabled(&id, action == "disable", actor)
                .await?
        }
        "block" | "unblock" => {
            s.engine
                .set_webhooks_blocked(&id, action == "block", actor)
                .await?
        }
        _ => {
            return Err(field_error(
                "action",
                "use disable, enable, block or unblock",
            ));
        }
    };
    let done = if changed {
        action.as_str()
    } else {
        "unchanged"
    };
    Ok(Redirect::to(&format!("/ui/integrations?done={done}")).into_response())
}

/// The routes of this page.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(integrations_page))
        .routes(routes!(switch))
}
