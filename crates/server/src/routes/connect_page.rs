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
//!   `api_key` or `username`/`password`, `settings.<name>`) connects an API-key or basic
//!   integration; the engine checks the credentials with the provider first. Failures
//!   answer the form again (4xx) with the reason and without the submitted secret.
//!
//! HTML is rendered here by hand: every interpolated text goes through [`escape`], every
//! URL part through [`pct`]. Every response carries a strict Content-Security-Policy
//! (`default-src 'none'`, the inline style allowed by a per-response nonce, no script at
//! all), `Cache-Control: no-store`, `Referrer-Policy: no-referrer` (the page's URL holds
//! the session token) and `X-Content-Type-Options: nosniff`. Requests are logged by path
//! only, and the form posts the token in its body.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::connections::Delivery;
use engine::connections::{ConnectOption, ConnectPage, CredentialsInput};
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

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for a query value or
/// a path segment).
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
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
fn page_csp(nonce: &str, return_origin: Option<&str>) -> String {
    let extra = return_origin
        .filter(|o| !o.contains([';', ',', '\'', ' ']))
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'{extra}; frame-ancestors 'none'; base-uri 'none'"
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
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;line-height:1.5;margin:0;padding:1rem;color:#1b1b1f;background:#f6f6f8}\
main{max-width:40rem;margin:2rem auto;background:#fff;border:1px solid #d8d8de;border-radius:.5rem;padding:1.5rem 2rem}\
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:0 0 .25rem}\
ul.options{list-style:none;padding:0;margin:1.5rem 0}ul.options>li{border-top:1px solid #e3e3e8;padding:1rem 0}\
label{display:block;font-weight:600;margin:.75rem 0 .25rem}\
input[type=text],input[type=password]{box-sizing:border-box;width:100%;padding:.5rem;border:1px solid #8a8a96;border-radius:.25rem;font:inherit}\
.hint{color:#55555f;font-size:.9rem;margin:.25rem 0 0}\
button,a.button{display:inline-block;margin-top:.75rem;padding:.5rem 1rem;border:0;border-radius:.25rem;background:#2457c5;color:#fff;font:inherit;text-decoration:none;cursor:pointer}\
button:focus-visible,a.button:focus-visible,input:focus-visible{outline:3px solid #f2b705;outline-offset:2px}\
.error{color:#9b1c1c;background:#fdecec;border-left:4px solid #9b1c1c;padding:.5rem .75rem}\
.ok{color:#14532d;background:#e8f7ee;border-left:4px solid #14532d;padding:.5rem .75rem}\
.expires{color:#55555f;font-size:.9rem}";

/// A whole document with `main` as its body content.
fn document(nonce: &str, title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"robots\" content=\"noindex\">\n\
<title>{title}</title>\n<style nonce=\"{nonce}\">{STYLE}</style>\n</head>\n<body>\n<main>\n{main}</main>\n</body>\n</html>\n",
        title = escape(title)
    )
}

/// An HTML response with the page's CSP.
fn html(status: StatusCode, nonce: &str, body: String) -> Response {
    html_for(status, nonce, body, None)
}

/// [`html`] for a page whose forms may end at the app's `return_to` origin.
fn html_for(
    status: StatusCode,
    nonce: &str,
    body: String,
    return_origin: Option<&str>,
) -> Response {
    let mut res = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&page_csp(nonce, return_origin)) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

/// One labelled text or password input.
fn input(out: &mut String, id: &str, name: &str, label: &str, kind: &str, value: Option<&str>) {
    let autocomplete = if kind == "password" {
        "new-password"
    } else {
        "off"
    };
    let _ = write!(
        out,
        "<label for=\"{id}\">{label}</label>\n<input id=\"{id}\" name=\"{name}\" type=\"{kind}\" required autocomplete=\"{autocomplete}\" spellcheck=\"false\"",
        label = escape(label),
        name = escape(name),
    );
    if let Some(v) = value {
        let _ = write!(out, " value=\"{}\"", escape(v));
    }
    out.push_str(">\n");
}

/// The settings inputs of an option.
fn settings_inputs(
    out: &mut String,
    idx: usize,
    option: &ConnectOption,
    refill: Option<&BTreeMap<String, String>>,
) {
    for (j, (name, description)) in option.settings.iter().enumerate() {
        let field = format!("{SETTING_PREFIX}{name}");
        let value = refill.and_then(|r| r.get(&field)).map(String::as_str);
        input(
            out,
            &format!("o{idx}-s{j}"),
            &field,
            description,
            "text",
            value,
        );
    }
}

/// The authorization link of an OAuth2 option, with its settings when given.
fn auth_href(session: &str, integration: &str, settings: &[(String, String)]) -> String {
    let mut href = format!(
        "/api/integrations/{}/auth?session={}",
        pct(integration),
        pct(session)
    );
    for (k, v) in settings {
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

/// One integration's section.
fn option_html(out: &mut String, idx: usize, session: &str, o: &ConnectOption, view: &View<'_>) {
    let name = escape(&o.provider_name);
    let _ = write!(
        out,
        "<li><section aria-labelledby=\"o{idx}-title\" data-integration=\"{it}\" data-auth-mode=\"{mode}\">\n<h2 id=\"o{idx}-title\">{name}</h2>\n",
        it = escape(&o.integration),
        mode = escape(&o.auth_mode),
    );
    let refill = for_option(view.refill, o);
    if let Some(n) = view
        .notice
        .as_ref()
        .filter(|n| n.integration == o.integration)
    {
        let (class, role) = if n.error {
            ("error", "alert")
        } else {
            ("ok", "status")
        };
        let _ = writeln!(
            out,
            "<p id=\"o{idx}-msg\" class=\"{class}\" role=\"{role}\">{}</p>",
            escape(&n.text)
        );
    }
    let submit_label = format!("Connect {name}");
    match o.auth_mode.as_str() {
        // A GitHub App is installed through the same redirect and callback.
        "oauth2" | "github_app" => {
            let _ = writeln!(
                out,
                "<p>You will be sent to {name} to sign in and approve access, then brought back.</p>"
            );
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
                let _ = write!(
                    out,
                    "<form method=\"get\" action=\"/connect\" aria-labelledby=\"o{idx}-title\">\n\
<input type=\"hidden\" name=\"session\" value=\"{s}\">\n<input type=\"hidden\" name=\"integration\" value=\"{it}\">\n",
                    s = escape(session),
                    it = escape(&o.integration),
                );
                settings_inputs(out, idx, o, given.or(refill));
                let label = if ready.is_some() {
                    "Update"
                } else {
                    "Continue"
                };
                let _ = write!(out, "<button type=\"submit\">{label}</button>\n</form>\n");
            }
            if let Some(settings) = ready {
                let _ = writeln!(
                    out,
                    "<p><a id=\"o{idx}-connect\" class=\"button\" href=\"{href}\">{submit_label}</a></p>",
                    href = escape(&auth_href(session, &o.integration, &settings)),
                );
            }
        }
        "api_key" | "basic" => {
            let _ = writeln!(
                out,
                "<p>Switchboard checks what you enter with {name} before saving it, stores it encrypted, and never shows it again.</p>"
            );
            let _ = write!(
                out,
                "<form method=\"post\" action=\"/connect/{action}\" autocomplete=\"off\" aria-labelledby=\"o{idx}-title\">\n\
<input type=\"hidden\" name=\"session\" value=\"{s}\">\n",
                action = escape(&pct(&o.integration)),
                s = escape(session),
            );
            if o.auth_mode == "api_key" {
                let label = o.api_key_label.as_deref().unwrap_or("API key");
                input(
                    out,
                    &format!("o{idx}-key"),
                    "api_key",
                    label,
                    "password",
                    None,
                );
            } else {
                if let Some(label) = username_label(o) {
                    let value = refill.and_then(|r| r.get("username")).map(String::as_str);
                    input(
                        out,
                        &format!("o{idx}-user"),
                        "username",
                        label,
                        "text",
                        value,
                    );
                }
                let label = o.password_label.as_deref().unwrap_or("Password");
                input(
                    out,
                    &format!("o{idx}-pass"),
                    "password",
                    label,
                    "password",
                    None,
                );
            }
            settings_inputs(out, idx, o, refill);
            let _ = write!(
                out,
                "<button type=\"submit\">{submit_label}</button>\n</form>\n"
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "<p>The app connects {name} itself; there is nothing to do here.</p>"
            );
        }
    }
    out.push_str("</section></li>\n");
}

/// The Connect page of a session.
fn render(page: &ConnectPage, session: &str, view: &View<'_>) -> (String, String) {
    let nonce = engine::connections::page_nonce();
    let mut main = String::new();
    main.push_str("<h1>Connect your accounts</h1>\n");
    if page.options.is_empty() {
        main.push_str(
            "<p>There is nothing to connect with this link. Go back to the app and try again.</p>\n",
        );
    } else {
        main.push_str(
            "<p>The app asks you to connect the accounts below.</p>\n<ul class=\"options\">\n",
        );
        for (i, o) in page.options.iter().enumerate() {
            option_html(&mut main, i, session, o, view);
        }
        main.push_str("</ul>\n");
    }
    let _ = writeln!(
        main,
        "<p class=\"expires\">This link works until <time datetime=\"{}\">{}</time>.</p>",
        page.expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        page.expires_at.format("%Y-%m-%d %H:%M UTC"),
    );
    let body = document(&nonce, "Connect your accounts", &main);
    (nonce, body)
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

/// The Connect page of a session (`GET /connect?session=…`). An unknown or expired
/// session is a 400 in the API's JSON error shape. With `integration=…&settings.<name>=…`
/// (the settings form of an OAuth2 integration) the integration's link is completed.
#[utoipa::path(get, path = "/connect", tag = "connect",
    params(
        ("session" = String, Query, description = "the connect session token (from connect_url)"),
        ("integration" = Option<String>, Query, description = "an OAuth2 integration of the session whose settings are given as `settings.<name>` parameters")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the page"),
        (status = 400, description = "a missing, unknown or expired session (JSON), or an integration's settings left blank (the page again, with the reason)",
            content((ErrorBody = "application/json"), (String = "text/html")))))]
pub async fn page(
    State(s): State<AppState>,
    QueryParams(q): QueryParams<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    let session = session_of(q.get("session"))?;
    let page = s.engine.connect_page(session).await?;
    let mut view = View::default();
    if let Some(it) = q.get("integration") {
        let option = page
            .options
            .iter()
            .find(|o| {
                &o.integration == it && matches!(o.auth_mode.as_str(), "oauth2" | "github_app")
            })
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "integration: not an OAuth2 integration of this connect session",
                )
            })?;
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
            let (nonce, body) = render(&page, session, &view);
            return Ok(html_for(
                StatusCode::BAD_REQUEST,
                &nonce,
                body,
                page.return_origin.as_deref(),
            ));
        }
    }
    let (nonce, body) = render(&page, session, &view);
    Ok(html_for(
        StatusCode::OK,
        &nonce,
        body,
        page.return_origin.as_deref(),
    ))
}

/// The page after a successful connect.
fn connected_page(option: &ConnectOption, connection_id: &str) -> Response {
    let nonce = engine::connections::page_nonce();
    let main = format!(
        "<h1>Connected</h1>\n<p id=\"result\" class=\"ok\" role=\"status\" data-status=\"connected\" data-connection-id=\"{id}\">Your {name} account is connected. You can close this window and go back to the app.</p>\n",
        id = escape(connection_id),
        name = escape(&option.provider_name),
    );
    html(StatusCode::OK, &nonce, document(&nonce, "Connected", &main))
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
}

impl std::fmt::Debug for ConnectForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectForm([redacted])")
    }
}

/// Connects an API-key or basic integration with the credentials typed on the Connect
/// page (`POST /connect/{integration}`, form-encoded `session`, `api_key` or
/// `username`/`password`, `settings.<name>`). Success answers a "Connected" page;
/// missing fields (400), refused credentials (422) and an unavailable provider (503)
/// answer the form again with the reason, never with the submitted secret. A missing or
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
    let fail = |status: StatusCode, text: String| {
        let view = View {
            notice: Some(Notice {
                integration: &option.integration,
                text,
                error: true,
            }),
            refill: Some((&option.integration, &fields)),
            oauth_ready: None,
        };
        let (nonce, body) = render(&page, &session, &view);
        html_for(status, &nonce, body, page.return_origin.as_deref())
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
        _ => {
            return Ok(fail(
                StatusCode::BAD_REQUEST,
                format!(
                    "{} is not connected with a key or a password here; use its button.",
                    option.provider_name
                ),
            ));
        }
    }
    let mut settings = BTreeMap::new();
    for (name, description) in &option.settings {
        match fields.get(&format!("{SETTING_PREFIX}{name}")) {
            Some(v) if !v.trim().is_empty() => {
                settings.insert(name.clone(), v.trim().to_owned());
            }
            _ => missing.push(description),
        }
    }
    if !missing.is_empty() {
        return Ok(fail(
            StatusCode::BAD_REQUEST,
            format!("Fill in: {}.", missing.join("; ")),
        ));
    }
    match s
        .engine
        .connect_with_session(&session, &integration, credentials, settings)
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
            Delivery::PostMessage { .. } => super::connections::result_page(&outcome),
            Delivery::Page => connected_page(option, &c.id),
        }),
        Err(e) => {
            let e = ApiError::from(e);
            let text = match e.code {
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
            Ok(fail(e.status, text))
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
