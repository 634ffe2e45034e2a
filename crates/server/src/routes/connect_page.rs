//! The Connect page: what an app opens (in a popup or as a redirect) at the
//! `connect_url` of a connect session, for its end user to connect the session's
//! integrations.
//!
//! - `GET /connect?session=…` lists the session's integrations. OAuth2 ones are plain
//!   links to `/api/integrations/{id}/auth?session=…`; when the provider needs settings
//!   first (Shopify's `shop`), a GET form back to `/connect` (`integration=…&settings.…`)
//!   re-renders the page with the link completed. A form is never submitted straight to
//!   the authorization route: that route redirects to the provider, and browsers apply
//!   `form-action` to the redirect's target too.
//! - `POST /connect/{integration}` (`application/x-www-form-urlencoded`: `session`,
//!   `api_key` or `username`/`password`, `settings.<name>`, `connection_id`) connects an
//!   API-key or basic integration; the engine checks the credentials with the provider
//!   first. A service-account integration without a key of its own (`jwt_bearer`, every
//!   connection bringing its key) takes the end user's pasted key file in `private_key`
//!   (a text area: the page runs no script that could read a file), with `client_id`
//!   and `subject`. Failures answer the form again (4xx) with the reason and without the
//!   submitted secret. An existing connection's reconnect link is `GET /connect` with
//!   its `integration` and `connection_id`: the form for that connection alone, whose
//!   credentials replace the saved ones under the same id once the provider accepts
//!   them.
//!
//! HTML comes from askama templates (`templates/connect/`), which escape every value
//! they interpolate; URL parts are percent-encoded by `form_urlencoded` first. The page
//! carries the app's branding (`[branding]`: name, logo at `/connect/assets/logo`,
//! accent colour with black or white text by contrast), the end user's existing
//! connections to the session's integrations (each with a reconnect link), the
//! requested scopes in plain words (`catalog::scope_description`), and follows the
//! system's dark mode. With `mode=popup` (the page opened by `switchboard.js`) its links
//! and forms carry the mode on, so that the result is posted to the opener even when the
//! session also has a `return_to`; in that mode an expired session or an unknown
//! `integration` answers a result page that posts the error to the opener too (see
//! [`crate::routes::connect_assets`]). Every response carries a strict
//! Content-Security-Policy (`default-src 'none'`, the inline style allowed by a
//! per-response nonce, no script on the page itself), `Cache-Control: no-store`, `Referrer-Policy: no-referrer` (the page's URL holds
//! the session token) and `X-Content-Type-Options: nosniff`. Requests are logged by path
//! only, and the form posts the token in its body.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::connections::{ConnectOption, ConnectPage, CredentialsInput, Delivery, Via};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorBody, PathParams, QueryParams};
use crate::routes::Routes;

/// The CSP of responses that are not a rendered page (errors, 405s): nothing may load.
const STRICT_CSP: &str =
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Prefix of the form fields and query parameters that carry connection settings.
const SETTING_PREFIX: &str = "settings.";

/// Percent-encodes a query value or path segment (`form_urlencoded`'s byte
/// serializer, spaces as `+`).
fn pct(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Adds the headers every response of this module carries (a rendered page has set its
/// own CSP, with its nonce, already).
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(STRICT_CSP),
        );
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}

/// The page's CSP: nothing but the nonced inline style; forms only to this origin, and
/// to the app's `return_to` origin when there is one (browsers apply `form-action` to
/// the redirect that follows a successful connect too).
pub(crate) fn page_csp(chrome: &Chrome, return_origin: Option<&str>) -> String {
    let nonce = &chrome.nonce;
    // Images only when there is a logo: without one, nothing to load (not even the
    // browser's guess at /favicon.ico).
    let img = if chrome.logo { "; img-src 'self'" } else { "" };
    let extra = return_origin
        .filter(|o| !o.contains([';', ',', '\'', ' ']))
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'{extra}; frame-ancestors 'none'; base-uri 'none'{img}"
    )
}

/// A message shown in one integration's section.
struct Notice<'a> {
    integration: &'a str,
    text: String,
    error: bool,
}

/// What one rendering shows besides the session's options.
#[derive(Default)]
struct View<'a> {
    /// A message for one integration.
    notice: Option<Notice<'a>>,
    /// Values to put back into one integration's non-secret inputs (settings, user
    /// name), keyed by field name (`settings.shop`, `username`).
    refill: Option<(&'a str, &'a BTreeMap<String, String>)>,
    /// An OAuth2 integration whose settings were given: its link is completed with them.
    oauth_ready: Option<(&'a str, &'a BTreeMap<String, String>)>,
    /// Only this integration is shown (`integration=…`, as `Switchboard.connect` asks).
    only: Option<&'a str>,
    /// How the page runs (`popup` or `redirect`), carried on by its links and forms.
    mode: Option<Via>,
    /// The connection the links and forms create or reconnect (`connection_id=…`), when
    /// the session did not fix one.
    connection_id: Option<&'a str>,
}

/// The parts of every page of this module that come from `[branding]`.
pub(crate) struct Chrome {
    nonce: String,
    accent: String,
    accent_text: String,
    logo: bool,
    show_brand: bool,
    app_name: String,
    /// The app as the subject of a sentence ("Acme CRM", "The app").
    app_subject: String,
    /// The app inside a sentence ("Acme CRM", "the app").
    app_ref: String,
}

impl Chrome {
    pub(crate) fn new(cfg: &config::Config) -> Self {
        let b = &cfg.branding;
        let (subject, reference) = match &b.app_name {
            Some(n) => (n.clone(), n.clone()),
            None => ("The app".to_owned(), "the app".to_owned()),
        };
        Self {
            nonce: engine::connections::page_nonce(),
            accent: b.accent_color.hex(),
            accent_text: b.accent_color.text_on().hex(),
            logo: b.logo.is_some(),
            show_brand: b.logo.is_some() || b.app_name.is_some(),
            app_name: b.app_name.clone().unwrap_or_default(),
            app_subject: subject,
            app_ref: reference,
        }
    }

    /// The app inside a sentence ("Acme CRM", "the app").
    pub(crate) fn app_ref(&self) -> &str {
        &self.app_ref
    }
}

/// One labelled text or password input, or a text area (`kind` `textarea`, never
/// refilled: it takes a pasted key).
struct InputView {
    id: String,
    name: String,
    label: String,
    kind: &'static str,
    autocomplete: &'static str,
    value: Option<String>,
    required: bool,
}

impl InputView {
    fn new(id: String, name: &str, label: &str, kind: &'static str, value: Option<&str>) -> Self {
        Self {
            id,
            name: name.to_owned(),
            label: label.to_owned(),
            kind,
            autocomplete: if kind == "password" {
                "new-password"
            } else {
                "off"
            },
            value: value.map(str::to_owned),
            required: true,
        }
    }

    /// The same input, which may be left empty.
    fn optional(mut self) -> Self {
        self.required = false;
        self
    }
}

struct NoticeView {
    class: &'static str,
    role: &'static str,
    text: String,
}

struct ScopeLine {
    scope: String,
    description: Option<String>,
}

struct ExistingView {
    id: String,
    status: &'static str,
    since: String,
    since_iso: String,
    reconnect_href: Option<String>,
}

struct SettingsForm {
    inputs: Vec<InputView>,
    button: &'static str,
}

struct TypedForm {
    action: String,
    inputs: Vec<InputView>,
    /// What to enter, for a service account's key.
    hint: Option<&'static str>,
    help_href: String,
    /// The connection the form creates or reconnects (`connection_id=…`), when the
    /// session did not fix one.
    connection_id: Option<String>,
    /// The end user's connection the form replaces the credentials of.
    reconnect: Option<String>,
}

struct OptionView {
    idx: usize,
    integration: String,
    auth_mode: String,
    name: String,
    notice: Option<NoticeView>,
    existing: Vec<ExistingView>,
    oauth: bool,
    scopes: Vec<ScopeLine>,
    settings_form: Option<SettingsForm>,
    connect_href: Option<String>,
    typed_form: Option<TypedForm>,
}

#[derive(askama::Template)]
#[template(path = "connect/page.html")]
struct PageTemplate<'a> {
    chrome: &'a Chrome,
    session: &'a str,
    mode: Option<&'static str>,
    options: Vec<OptionView>,
    expires: String,
    expires_iso: String,
}

#[derive(askama::Template)]
#[template(path = "connect/result.html")]
pub(crate) struct ResultTemplate<'a> {
    pub(crate) chrome: &'a Chrome,
    pub(crate) title: &'a str,
    pub(crate) class: &'static str,
    pub(crate) role: &'static str,
    pub(crate) status: &'static str,
    pub(crate) connection_id: Option<&'a str>,
    pub(crate) error: Option<&'a str>,
    pub(crate) integration: Option<&'a str>,
    /// Space-separated.
    pub(crate) missing_scopes: String,
    /// Where `result.js` posts the result (the opener's origin), if anywhere.
    pub(crate) target_origin: Option<&'a str>,
    pub(crate) message: &'a str,
}

/// Renders a template; a failure (none is expected: the templates are checked when
/// the crate compiles) is a 500 with the reason in the log.
pub(crate) fn render_template(t: &impl askama::Template) -> Result<String, ApiError> {
    t.render().map_err(|e| {
        tracing::error!(error = %e, "cannot render a Connect template");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "cannot render the page",
        )
    })
}

/// An HTML response with the page's CSP.
fn html_for(
    status: StatusCode,
    chrome: &Chrome,
    body: String,
    return_origin: Option<&str>,
) -> Response {
    let mut res = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&page_csp(chrome, return_origin)) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

/// The settings inputs of an option.
fn settings_inputs(
    idx: usize,
    option: &ConnectOption,
    refill: Option<&BTreeMap<String, String>>,
) -> Vec<InputView> {
    option
        .settings
        .iter()
        .enumerate()
        .map(|(j, (name, description))| {
            let field = format!("{SETTING_PREFIX}{name}");
            let value = refill.and_then(|r| r.get(&field)).map(String::as_str);
            InputView::new(format!("o{idx}-s{j}"), &field, description, "text", value)
        })
        .collect()
}

/// The authorization link of an OAuth2 option, with its settings when given.
fn auth_href(
    session: &str,
    integration: &str,
    settings: &[(String, String)],
    extra: &[(&str, &str)],
) -> String {
    let mut href = format!(
        "/api/integrations/{}/auth?session={}",
        pct(integration),
        pct(session)
    );
    for (k, v) in settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied())
    {
        let _ = write!(href, "&{}={}", pct(k), pct(v));
    }
    href
}

/// The user-name label of a basic option, when the user gives one. The engine sets no
/// labels at all for a basic provider without a `[basic]` table (whose user name is then
/// the user's to give), and a password label only for one with a fixed user name.
fn username_label(o: &ConnectOption) -> Option<&str> {
    match (&o.username_label, &o.password_label) {
        (Some(l), _) => Some(l),
        (None, None) => Some("User name"),
        (None, Some(_)) => None,
    }
}

/// The values of `v` when they are for option `o`.
fn for_option<'a>(
    v: Option<(&str, &'a BTreeMap<String, String>)>,
    o: &ConnectOption,
) -> Option<&'a BTreeMap<String, String>> {
    v.filter(|(it, _)| *it == o.integration).map(|(_, m)| m)
}

/// Where the end user's connection `id` to option `o` is reconnected: an OAuth2 one at
/// the provider again (unless its link needs settings first), an API-key or basic one
/// at this page's form for that connection alone.
fn reconnect_href(
    session: &str,
    o: &ConnectOption,
    id: &str,
    mode: &[(&str, &str)],
) -> Option<String> {
    let mut extra = vec![("connection_id", id)];
    extra.extend(mode.iter().copied());
    match o.auth_mode.as_str() {
        "oauth2" | "github_app" => o
            .settings
            .is_empty()
            .then(|| auth_href(session, &o.integration, &[], &extra)),
        "api_key" | "basic" | "jwt_bearer" => {
            let mut href = format!(
                "/connect?session={}&integration={}",
                pct(session),
                pct(&o.integration)
            );
            for (k, v) in extra {
                let _ = write!(href, "&{}={}", pct(k), pct(v));
            }
            Some(href)
        }
        _ => None,
    }
}

fn mode_str(m: Via) -> Option<&'static str> {
    match m {
        Via::Popup => Some("popup"),
        Via::Redirect => Some("redirect"),
        Via::Any => None,
    }
}

fn status_words(s: &str) -> &'static str {
    match s {
        "active" => "working",
        "needs_reauth" => "needs you to sign in again",
        "error" => "not working",
        _ => "unknown",
    }
}

/// One integration's section.
fn option_view(
    idx: usize,
    session: &str,
    o: &ConnectOption,
    page: &ConnectPage,
    view: &View<'_>,
) -> OptionView {
    let refill = for_option(view.refill, o);
    let mode = view.mode.and_then(mode_str);
    let mode_pair: Vec<(&str, &str)> = mode.map(|m| ("mode", m)).into_iter().collect();
    let mut link_extra = mode_pair.clone();
    if let Some(id) = view.connection_id {
        link_extra.push(("connection_id", id));
    }
    let notice = view
        .notice
        .as_ref()
        .filter(|n| n.integration == o.integration)
        .map(|n| NoticeView {
            class: if n.error { "error" } else { "ok" },
            role: if n.error { "alert" } else { "status" },
            text: n.text.clone(),
        });
    let oauth = matches!(o.auth_mode.as_str(), "oauth2" | "github_app");
    let existing = page
        .existing
        .iter()
        .filter(|c| c.integration == o.integration)
        .map(|c| ExistingView {
            id: c.id.clone(),
            status: status_words(&c.status),
            since: c.created_at.format("%Y-%m-%d").to_string(),
            since_iso: c
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            // A reconnect keeps the connection's id; a session created for another id
            // cannot reconnect this one.
            reconnect_href: page
                .connection_id
                .as_ref()
                .is_none_or(|f| *f == c.id)
                .then(|| reconnect_href(session, o, &c.id, &mode_pair))
                .flatten(),
        })
        .collect();
    let mut out = OptionView {
        idx,
        integration: o.integration.clone(),
        auth_mode: o.auth_mode.clone(),
        name: o.provider_name.clone(),
        notice,
        existing,
        oauth,
        scopes: o
            .scopes
            .iter()
            .map(|s| ScopeLine {
                scope: s.scope.clone(),
                description: s.description.clone(),
            })
            .collect(),
        settings_form: None,
        connect_href: None,
        typed_form: None,
    };
    match o.auth_mode.as_str() {
        // A GitHub App is installed through the same redirect and callback.
        "oauth2" | "github_app" => {
            let given = for_option(view.oauth_ready, o);
            let ready: Option<Vec<(String, String)>> = if o.settings.is_empty() {
                Some(Vec::new())
            } else {
                given.and_then(|g| {
                    o.settings
                        .iter()
                        .map(|(n, _)| {
                            g.get(&format!("{SETTING_PREFIX}{n}"))
                                .map(|v| v.trim())
                                .filter(|v| !v.is_empty())
                                .map(|v| (n.clone(), v.to_owned()))
                        })
                        .collect()
                })
            };
            if !o.settings.is_empty() {
                out.settings_form = Some(SettingsForm {
                    inputs: settings_inputs(idx, o, given.or(refill)),
                    button: if ready.is_some() {
                        "Update"
                    } else {
                        "Continue"
                    },
                });
            }
            out.connect_href =
                ready.map(|settings| auth_href(session, &o.integration, &settings, &link_extra));
        }
        "api_key" | "basic" | "jwt_bearer" => {
            let mut inputs = Vec::new();
            if o.auth_mode == "jwt_bearer" {
                // The key is pasted (the page runs no script to read a file); it is
                // never put back into the page.
                inputs.push(InputView::new(
                    format!("o{idx}-key"),
                    "private_key",
                    "Service-account key file (JSON) or private key (PEM)",
                    "textarea",
                    None,
                ));
                let value = refill.and_then(|r| r.get("client_id")).map(String::as_str);
                inputs.push(
                    InputView::new(
                        format!("o{idx}-client"),
                        "client_id",
                        "Client id (the key's issuer; not needed with a key file)",
                        "text",
                        value,
                    )
                    .optional(),
                );
                if let Some(subject) = o.subject {
                    let value = refill.and_then(|r| r.get("subject")).map(String::as_str);
                    let input = InputView::new(
                        format!("o{idx}-sub"),
                        "subject",
                        if subject.required {
                            "User to act for"
                        } else {
                            "User to act for (optional)"
                        },
                        "text",
                        value,
                    );
                    inputs.push(if subject.required {
                        input
                    } else {
                        input.optional()
                    });
                }
            } else if o.auth_mode == "api_key" {
                let label = o.api_key_label.as_deref().unwrap_or("API key");
                inputs.push(InputView::new(
                    format!("o{idx}-key"),
                    "api_key",
                    label,
                    "password",
                    None,
                ));
            } else {
                if let Some(label) = username_label(o) {
                    let value = refill.and_then(|r| r.get("username")).map(String::as_str);
                    inputs.push(InputView::new(
                        format!("o{idx}-user"),
                        "username",
                        label,
                        "text",
                        value,
                    ));
                }
                let label = o.password_label.as_deref().unwrap_or("Password");
                inputs.push(InputView::new(
                    format!("o{idx}-pass"),
                    "password",
                    label,
                    "password",
                    None,
                ));
            }
            inputs.extend(settings_inputs(idx, o, refill));
            let target = view.connection_id.or(page.connection_id.as_deref());
            let reconnect = target.filter(|id| {
                page.existing
                    .iter()
                    .any(|c| c.integration == o.integration && c.id == *id)
            });
            out.typed_form = Some(TypedForm {
                action: format!("/connect/{}", pct(&o.integration)),
                inputs,
                hint: (o.auth_mode == "jwt_bearer").then_some(
                    "Paste the whole key file you downloaded for your service account (or the private key and its client id). It is used only to sign in as that account.",
                ),
                help_href: o.docs_url.clone(),
                connection_id: view.connection_id.map(str::to_owned),
                reconnect: reconnect.map(str::to_owned),
            });
        }
        _ => {}
    }
    out
}

/// The Connect page of a session: (status, nonce, body).
fn render(
    chrome: &Chrome,
    page: &ConnectPage,
    session: &str,
    view: &View<'_>,
) -> Result<String, ApiError> {
    let options = page
        .options
        .iter()
        .enumerate()
        .filter(|(_, o)| view.only.is_none_or(|it| it == o.integration))
        .map(|(i, o)| option_view(i, session, o, page, view))
        .collect();
    render_template(&PageTemplate {
        chrome,
        session,
        mode: view.mode.and_then(mode_str),
        options,
        expires: page.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        expires_iso: page
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

/// The session token of a request, or the 400 that says where to get one.
fn session_of(v: Option<&String>) -> Result<&str, ApiError> {
    v.map(String::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "session: missing; open the connect_url the app was given",
            )
        })
}

/// The way the page runs (`mode=popup|redirect`), or the 400 that names the values.
fn mode_of(v: Option<&String>) -> Result<Via, ApiError> {
    match v {
        None => Ok(Via::Any),
        Some(m) => Via::parse(m).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "mode: use popup or redirect",
            )
        }),
    }
}

/// The result page a popup shows when the Connect page cannot be shown: it posts
/// `error` to `origin` (the opener), if known, and says what happened.
fn popup_failure(
    chrome: &Chrome,
    origin: Option<&str>,
    error: &str,
    integration: Option<&str>,
    message: &str,
) -> Result<Response, ApiError> {
    let body = render_template(&ResultTemplate {
        chrome,
        title: "Not connected",
        class: "error",
        role: "alert",
        status: "error",
        connection_id: None,
        error: Some(error),
        integration,
        missing_scopes: String::new(),
        target_origin: origin,
        message,
    })?;
    Ok(crate::routes::connect_assets::result_response(
        chrome,
        body,
        origin.is_some(),
    ))
}

/// The Connect page of a session (`GET /connect?session=…`). An unknown or expired
/// session is a 400 in the API's JSON error shape (with `mode=popup`, a page that posts
/// `session_expired` to the `opener` origin when an integration allows that origin).
/// `integration=…` shows that integration alone; with `settings.<name>=…` (the settings
/// form of an OAuth2 integration) its link is completed. `connection_id=…` is the
/// connection its links and forms create or reconnect: a malformed one, or one other
/// than the session's own, is a 400 (in a popup, `invalid_options` posted to the opener).
#[utoipa::path(get, path = "/connect", tag = "connect",
    params(
        ("session" = String, Query, description = "the connect session token (from connect_url)"),
        ("integration" = Option<String>, Query, description = "show only this integration of the session; for an OAuth2 one, its settings may be given as `settings.<name>` parameters"),
        ("connection_id" = Option<String>, Query, description = "the connection the links and forms create or reconnect, when the session did not fix one (the session's own otherwise)"),
        ("mode" = Option<String>, Query, description = "`popup` (opened by switchboard.js: the result is posted to the opener) or `redirect` (the result goes to the session's return_to)"),
        ("opener" = Option<String>, Query, description = "with mode=popup: the opener's origin, told about an expired session when an integration allows it")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the page (or, in a popup, a page that posts session_expired, unknown_integration or invalid_options to the opener)"),
        (status = 400, description = "a missing, unknown or expired session, an integration outside the session, a bad mode or connection_id (JSON), or an integration's settings left blank (the page again, with the reason)",
            content((ErrorBody = "application/json"), (String = "text/html")))))]
pub async fn page(
    State(s): State<AppState>,
    QueryParams(q): QueryParams<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let mode = mode_of(q.get("mode"))?;
    let cfg = s.engine.config();
    let chrome = Chrome::new(&cfg);
    let found = match session_of(q.get("session")) {
        Ok(session) => s
            .engine
            .connect_page(session)
            .await
            .map(|p| (session, p))
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let (session, page) = match found {
        Ok(f) => f,
        Err(e) if mode == Via::Popup && e.status == StatusCode::BAD_REQUEST => {
            // Nobody to ask where the opener is: its own word, if the configuration
            // lets any integration report to that origin (the message says no more
            // than that the link is dead).
            let origin = q.get("opener").map(String::as_str).filter(|o| {
                cfg.integrations
                    .iter()
                    .any(|i| i.allowed_return_origins.iter().any(|a| a == o))
            });
            return popup_failure(
                &chrome,
                origin,
                "session_expired",
                None,
                "This link has expired. Close this window and try again from the app.",
            );
        }
        Err(e) => return Err(e),
    };
    let given_id = q
        .get("connection_id")
        .map(String::as_str)
        .filter(|id| !id.is_empty());
    if let Some(id) = given_id {
        let problem = if !engine::ids::is_connection_id(id) {
            Some("connection_id: use 1 to 128 letters, digits and . _ : -")
        } else if page.connection_id.as_deref().is_some_and(|f| f != id) {
            Some("connection_id: differs from the one the connect session was created for")
        } else {
            None
        };
        if let Some(problem) = problem {
            if mode == Via::Popup {
                return popup_failure(
                    &chrome,
                    page.opener_origin.as_deref(),
                    "invalid_options",
                    q.get("integration").map(String::as_str),
                    "This link names a connection it cannot connect. Close this window and try again from the app.",
                );
            }
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                problem,
            ));
        }
    }
    let mut view = View {
        mode: Some(mode),
        connection_id: given_id.filter(|_| page.connection_id.is_none()),
        ..View::default()
    };
    if let Some(it) = q.get("integration") {
        let Some(option) = page.options.iter().find(|o| &o.integration == it) else {
            if mode == Via::Popup {
                return popup_failure(
                    &chrome,
                    page.opener_origin.as_deref(),
                    "unknown_integration",
                    Some(it),
                    "This link cannot connect that account. Close this window and try again from the app.",
                );
            }
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "integration: not an integration of this connect session",
            ));
        };
        view.only = Some(option.integration.as_str());
        let given = q.keys().any(|k| k.starts_with(SETTING_PREFIX));
        if matches!(option.auth_mode.as_str(), "oauth2" | "github_app") && given {
            let missing: Vec<&str> = option
                .settings
                .iter()
                .filter(|(n, _)| {
                    q.get(&format!("{SETTING_PREFIX}{n}"))
                        .is_none_or(|v| v.trim().is_empty())
                })
                .map(|(_, d)| d.as_str())
                .collect();
            if missing.is_empty() {
                view.oauth_ready = Some((option.integration.as_str(), &q));
            } else {
                view.refill = Some((option.integration.as_str(), &q));
                view.notice = Some(Notice {
                    integration: &option.integration,
                    text: format!("Fill in: {}.", missing.join("; ")),
                    error: true,
                });
                let body = render(&chrome, &page, session, &view)?;
                return Ok(html_for(
                    StatusCode::BAD_REQUEST,
                    &chrome,
                    body,
                    page.return_origin.as_deref(),
                ));
            }
        }
    }
    let body = render(&chrome, &page, session, &view)?;
    Ok(html_for(
        StatusCode::OK,
        &chrome,
        body,
        page.return_origin.as_deref(),
    ))
}

/// The page after a successful connect.
fn connected_page(
    chrome: &Chrome,
    option: &ConnectOption,
    connection_id: &str,
) -> Result<Response, ApiError> {
    let message = format!(
        "Your {} account is connected. You can close this window and go back to {}.",
        option.provider_name, chrome.app_ref
    );
    let body = render_template(&ResultTemplate {
        chrome,
        title: "Connected",
        class: "ok",
        role: "status",
        status: "connected",
        connection_id: Some(connection_id),
        error: None,
        integration: Some(&option.integration),
        missing_scopes: String::new(),
        target_origin: None,
        message: &message,
    })?;
    Ok(html_for(StatusCode::OK, chrome, body, None))
}

/// The Connect page's form (`application/x-www-form-urlencoded`); settings come as
/// further `settings.<name>` fields.
#[derive(Deserialize, ToSchema)]
pub struct ConnectForm {
    /// The connect session token.
    pub session: String,
    /// The API key (API-key integrations).
    pub api_key: Option<String>,
    /// The user name (basic integrations that ask for one).
    pub username: Option<String>,
    /// The password (basic integrations).
    pub password: Option<String>,
    /// The end user's own key (service-account integrations without a key of their
    /// own): Google's service-account key file (JSON), or an RSA private key in PEM.
    pub private_key: Option<String>,
    /// The issuer of a PEM key (not needed with a key file).
    pub client_id: Option<String>,
    /// The user the service account acts for (the assertion's `sub`), where the
    /// provider takes one.
    pub subject: Option<String>,
    /// The connection to create, or to reconnect (its credentials replaced once the
    /// provider accepts the new ones), when the session did not fix one.
    pub connection_id: Option<String>,
}

impl std::fmt::Debug for ConnectForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectForm([redacted])")
    }
}

/// Connects an API-key or basic integration with the credentials typed on the Connect
/// page (`POST /connect/{integration}`, form-encoded `session`, `api_key` or
/// `username`/`password`, `settings.<name>`, `connection_id`), or a service account with
/// the end user's pasted key (`private_key`, `client_id`, `subject`). Success answers a
/// "Connected" page; missing fields or a bad `connection_id` (400), a connection id of
/// another user or integration (409), refused credentials (422) and an unavailable
/// provider (503) answer the form again with the reason, never with the submitted
/// secret, and change nothing. A missing or
/// unknown session is a JSON 400, an integration outside the session a JSON 403.
#[utoipa::path(post, path = "/connect/{integration}", tag = "connect",
    params(("integration" = String, Path, example = "acme", description = "integration id")),
    request_body(content = ConnectForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "connected (a page, or a page that posts the result to the opener window)"),
        (status = 303, description = "connected: to the app's return_to"),
        (status = 400, description = "a missing, unknown or expired session (JSON), or fields left blank (the form again, with the reason)",
            content((ErrorBody = "application/json"), (String = "text/html"))),
        (status = 403, body = ErrorBody, description = "the session does not allow this integration"),
        (status = 409, content_type = "text/html", body = String, description = "the connection exists already (the form again)"),
        (status = 415, body = ErrorBody, description = "not a form"),
        (status = 422, content_type = "text/html", body = String, description = "the provider refused the credentials (the form again)"),
        (status = 503, content_type = "text/html", body = String, description = "the provider could not be reached (the form again)")))]
pub async fn submit(
    State(s): State<AppState>,
    PathParams(integration): PathParams<String>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, ApiError> {
    let Form(pairs) = form.map_err(|r| {
        let status = r.status();
        let code = match status {
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "invalid_request",
        };
        ApiError::new(
            status,
            code,
            "send the Connect page's form (application/x-www-form-urlencoded)",
        )
    })?;
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut credentials = CredentialsInput::default();
    for (k, v) in pairs {
        match k.as_str() {
            "api_key" => credentials.api_key = Some(v),
            "password" => credentials.password = Some(v),
            "private_key" => credentials.private_key = Some(v),
            _ => {
                fields.insert(k, v);
            }
        }
    }
    let session = session_of(fields.get("session"))?.to_owned();
    let page = s.engine.connect_page(&session).await?;
    let Some(option) = page.options.iter().find(|o| o.integration == integration) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this connect session does not allow integration {integration:?}"),
        ));
    };
    let mode = mode_of(fields.get("mode"))?;
    let chrome = Chrome::new(&s.engine.config());
    // The connection the form creates or reconnects (a reconnect link's form), when the
    // session did not fix one; the engine checks it.
    let given_id = fields
        .get("connection_id")
        .map(String::as_str)
        .filter(|id| !id.is_empty());
    let fail = |status: StatusCode, text: String| -> Result<Response, ApiError> {
        let view = View {
            notice: Some(Notice {
                integration: &option.integration,
                text,
                error: true,
            }),
            refill: Some((&option.integration, &fields)),
            mode: Some(mode),
            connection_id: given_id.filter(|_| page.connection_id.is_none()),
            ..View::default()
        };
        let body = render(&chrome, &page, &session, &view)?;
        Ok(html_for(
            status,
            &chrome,
            body,
            page.return_origin.as_deref(),
        ))
    };
    let blank = |v: &Option<String>| v.as_deref().is_none_or(|v| v.trim().is_empty());
    let mut missing: Vec<&str> = Vec::new();
    match option.auth_mode.as_str() {
        "api_key" => {
            if blank(&credentials.api_key) {
                missing.push(option.api_key_label.as_deref().unwrap_or("API key"));
            }
        }
        "basic" => {
            credentials.username = fields.get("username").cloned();
            if let Some(label) = username_label(option)
                && blank(&credentials.username)
            {
                missing.push(label);
            }
            if blank(&credentials.password) {
                missing.push(option.password_label.as_deref().unwrap_or("Password"));
            }
        }
        "jwt_bearer" => {
            if blank(&credentials.private_key) {
                missing.push("Service-account key file (JSON) or private key (PEM)");
            }
            credentials.client_id = fields
                .get("client_id")
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty());
        }
        _ => {
            return fail(
                StatusCode::BAD_REQUEST,
                format!(
                    "{} is not connected with a key or a password here; use its button.",
                    option.provider_name
                ),
            );
        }
    }
    let mut settings = BTreeMap::new();
    if let Some(subject) = option.subject {
        match fields.get("subject").map(|v| v.trim()) {
            Some(v) if !v.is_empty() => {
                settings.insert("subject".to_owned(), v.to_owned());
            }
            _ if subject.required => missing.push("User to act for"),
            _ => {}
        }
    }
    for (name, description) in &option.settings {
        match fields.get(&format!("{SETTING_PREFIX}{name}")) {
            Some(v) if !v.trim().is_empty() => {
                settings.insert(name.clone(), v.trim().to_owned());
            }
            _ => missing.push(description),
        }
    }
    if !missing.is_empty() {
        return fail(
            StatusCode::BAD_REQUEST,
            format!("Fill in: {}.", missing.join("; ")),
        );
    }
    match s
        .engine
        .connect_with_session_via(
            &session,
            &integration,
            given_id,
            credentials,
            settings,
            mode,
        )
        .await
    {
        Ok((c, outcome)) => Ok(match &outcome.delivery {
            // Back to the app, as after the OAuth callback.
            Delivery::Redirect(url) => {
                let mut res = StatusCode::SEE_OTHER.into_response();
                if let Ok(v) = HeaderValue::from_str(url) {
                    res.headers_mut().insert(header::LOCATION, v);
                }
                res
            }
            Delivery::PostMessage { .. } => super::connections::result_page(
                &chrome,
                &outcome,
                &option.integration,
                &c.missing_scopes,
            )?,
            Delivery::Page => connected_page(&chrome, option, &c.id)?,
        }),
        Err(e) => {
            let e = ApiError::from(e);
            let text = match e.code {
                "credentials_rejected" if option.auth_mode == "jwt_bearer" => format!(
                    "{} refused this key. Check that it is the service account's current key (and the user to act for, if given), and try again.",
                    option.provider_name
                ),
                "credentials_rejected" => format!(
                    "{} refused these credentials. Check them and try again.",
                    option.provider_name
                ),
                "provider_unavailable" => format!(
                    "{} could not be reached to check the credentials. Try again in a moment.",
                    option.provider_name
                ),
                _ => e.message,
            };
            fail(e.status, text)
        }
    }
}

/// The routes of this module.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(page))
        .routes(routes!(submit))
        .layer(axum::middleware::map_response(security_headers))
}
