//! The session cookie and the extractors of console handlers.
//!
//! - [`Console`]: a page's signed-in user. Without a valid session a `GET` is sent to
//!   the sign-in page (303, coming back afterwards), anything else gets 401.
//! - [`ConsoleForm<T>`]: a form post. Refused with 403 before anything else when the
//!   browser says it is cross-site (`Sec-Fetch-Site` other than `same-origin`, or an
//!   `Origin` that is not this server's), then when its `csrf` field is missing or is not
//!   the session's token (constant-time compare); the other fields are then parsed into
//!   `T` (`application/x-www-form-urlencoded`), a malformed form being a 400 page.
//! - [`ConsoleQuery<T>`]: a page's query string; malformed is a 400 page.
//!
//! The cookie is `HttpOnly; SameSite=Strict; Path=/`, and `Secure` with the `__Host-`
//! prefix when `public_url` is `https://`.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use engine::console::ConsoleSession;
use serde::de::DeserializeOwned;
use vault::{ExposeSecret, SecretString};

use super::render::PageError;
use crate::AppState;

/// The session cookie's name over plain HTTP.
pub const COOKIE: &str = "sb_console";
/// The session cookie's name when served over HTTPS.
pub const SECURE_COOKIE: &str = "__Host-sb_console";
/// The name of the CSRF field of every console form.
pub const CSRF_FIELD: &str = "csrf";

/// Whether cookies are `Secure` (the console is served over HTTPS).
pub fn secure(state: &AppState) -> bool {
    state.engine.config().public_url.starts_with("https://")
}

fn cookie_name(state: &AppState) -> &'static str {
    if secure(state) { SECURE_COOKIE } else { COOKIE }
}

/// The value of the cookie `name`, if the request has it.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A `Set-Cookie` value for `name`, with the console's attributes; `None` clears it.
pub fn set_cookie(state: &AppState, name: &str, value: Option<&str>, path: &str) -> HeaderValue {
    let secure = if secure(state) { "; Secure" } else { "" };
    let text = match value {
        Some(v) => format!("{name}={v}; Path={path}; HttpOnly; SameSite=Strict{secure}"),
        None => format!("{name}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that starts a session.
pub fn session_cookie(state: &AppState, token: &SecretString) -> HeaderValue {
    set_cookie(state, cookie_name(state), Some(token.expose_secret()), "/")
}

/// The `Set-Cookie` value that ends a session.
pub fn clear_session_cookie(state: &AppState) -> HeaderValue {
    set_cookie(state, cookie_name(state), None, "/")
}

/// A signed-in console user: the session and the id the browser presented.
#[derive(Debug, Clone)]
pub struct Console {
    /// The valid session.
    pub session: ConsoleSession,
    /// The session id from the cookie (for sign-out).
    pub token: SecretString,
}

impl Console {
    /// The audit actor of whoever is signed in.
    pub fn actor(&self) -> &engine::Actor {
        &self.session.user.actor
    }
}

/// Why a request has no session.
#[derive(Debug)]
pub enum NotSignedIn {
    /// A page: to the sign-in page, then back here.
    Redirect(String),
    /// Anything else: 401.
    Refused,
    /// The store failed.
    Error(PageError),
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self {
            NotSignedIn::Redirect(next) => {
                Redirect::to(&format!("/ui/sign-in?next={}", pct(&next))).into_response()
            }
            NotSignedIn::Refused => {
                PageError::new(StatusCode::UNAUTHORIZED, engine::console::SIGN_IN_AGAIN)
                    .into_response()
            }
            NotSignedIn::Error(e) => e.into_response(),
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `/`.
pub fn pct(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A path the console may send a browser to after sign-in: a console path, never
/// another site (`//host`, `/\host`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/ui" || n.starts_with("/ui/") || n.starts_with("/ui?"))
                && !n.contains(['\\', '\r', '\n'])
                && !n.starts_with("/ui/sign-") =>
        {
            n.to_owned()
        }
        _ => "/ui".to_owned(),
    }
}

impl FromRequestParts<AppState> for Console {
    type Rejection = NotSignedIn;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NotSignedIn> {
        let refused = || {
            if parts.method == Method::GET {
                let next = parts
                    .uri
                    .path_and_query()
                    .map_or("/ui", |p| p.as_str())
                    .to_owned();
                NotSignedIn::Redirect(next)
            } else {
                NotSignedIn::Refused
            }
        };
        let Some(token) = cookie(&parts.headers, cookie_name(state)) else {
            return Err(refused());
        };
        match state.engine.console_session(token).await {
            Ok(session) => Ok(Console {
                session,
                token: SecretString::from(token.to_owned()),
            }),
            Err(engine::EngineError::Unauthenticated(_)) => Err(refused()),
            Err(e) => Err(NotSignedIn::Error(e.into())),
        }
    }
}

/// Refuses a request the browser marks as cross-site: `Sec-Fetch-Site` other than
/// `same-origin`, or (without `Sec-Fetch-Site`) an `Origin` other than this server's
/// (`public_url`'s origin, or the `Host` it was sent to). Requests without either
/// header (old browsers, curl), or with `Origin: null`, pass: the CSRF token still
/// guards them.
pub fn same_origin(headers: &HeaderMap, state: &AppState) -> Result<(), PageError> {
    let forbidden = || {
        PageError::new(
            StatusCode::FORBIDDEN,
            "this form was sent from another site; open the console and submit it there",
        )
    };
    // Browsers set Sec-Fetch-Site themselves (pages cannot): when present it decides.
    // Origin is read only without it: under `Referrer-Policy: no-referrer` a browser
    // sends `Origin: null` even for a same-origin form, so `null` proves nothing either
    // way and is left to the CSRF token.
    if let Some(site) = headers.get("sec-fetch-site") {
        return if site.as_bytes() == b"same-origin" {
            Ok(())
        } else {
            Err(forbidden())
        };
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| forbidden())?;
        if origin == "null" {
            return Ok(());
        }
        let public = state.engine.config().public_url.clone();
        let public_origin = origin_of(&public);
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let by_host = origin
            .split_once("://")
            .is_some_and(|(_, authority)| !host.is_empty() && authority == host);
        if origin != public_origin && !by_host {
            return Err(forbidden());
        }
    }
    Ok(())
}

/// `scheme://authority` of a URL.
fn origin_of(url: &str) -> &str {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').map_or(url.len(), |i| scheme.len() + 3 + i);
            &url[..end]
        }
        None => url,
    }
}

/// A form post of the signed-in console: origin checked, CSRF token checked, fields
/// parsed into `T` (without the `csrf` field). Give `T` `#[serde(deny_unknown_fields)]`.
#[derive(Debug)]
pub struct ConsoleForm<T> {
    /// Who.
    pub console: Console,
    /// The fields.
    pub form: T,
}

/// Largest console form accepted, in bytes.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The fields of a urlencoded body, or a 400/413/415 page.
pub async fn form_pairs(req: Request) -> Result<(Parts, Vec<(String, String)>), PageError> {
    let (parts, body) = req.into_parts();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form {
        return Err(PageError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the form as application/x-www-form-urlencoded",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| PageError::new(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large"))?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| PageError::bad_request("the form could not be read; reload the page"))?;
    Ok((parts, pairs))
}

/// Parses the pairs (other than `csrf`) into `T`.
pub fn parse_fields<T: DeserializeOwned>(pairs: &[(String, String)]) -> Result<T, PageError> {
    let rest: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != CSRF_FIELD).collect();
    let encoded = serde_urlencoded::to_string(&rest)
        .map_err(|_| PageError::bad_request("the form could not be read; reload the page"))?;
    serde_urlencoded::from_str(&encoded).map_err(|e| {
        PageError::bad_request(format!(
            "the form does not fit ({}); reload the page and try again",
            describe(&e.to_string())
        ))
    })
}

/// A serde message without the value that was sent (it might be a secret).
fn describe(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return format!("unknown field {name:?}");
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return format!("missing field {name:?}");
    }
    "a field has a value of the wrong kind".into()
}

/// The single `csrf` field, or none when absent or repeated.
pub fn csrf_field(pairs: &[(String, String)]) -> Option<&str> {
    let mut it = pairs.iter().filter(|(k, _)| k == CSRF_FIELD);
    let first = it.next()?;
    it.next().is_none().then_some(first.1.as_str())
}

/// 403: a form without this session's CSRF token.
pub fn csrf_refused() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "this form has expired or did not come from the console; reload the page and submit it again",
    )
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for ConsoleForm<T> {
    type Rejection = Response;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        same_origin(&parts.headers, state).map_err(IntoResponse::into_response)?;
        let console = Console::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (_, pairs) = form_pairs(Request::from_parts(parts, body))
            .await
            .map_err(IntoResponse::into_response)?;
        let ok = csrf_field(&pairs)
            .is_some_and(|t| engine::console::csrf_matches(console.token.expose_secret(), t));
        if !ok {
            return Err(csrf_refused().into_response());
        }
        let form = parse_fields(&pairs).map_err(IntoResponse::into_response)?;
        Ok(ConsoleForm { console, form })
    }
}

/// A console page's query string parsed into `T` (give it
/// `#[serde(deny_unknown_fields)]`); malformed is a 400 page naming the parameter.
#[derive(Debug)]
pub struct ConsoleQuery<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ConsoleQuery<T> {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, PageError> {
        let q = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str(q)
            .map(ConsoleQuery)
            .map_err(|e| {
                PageError::bad_request(format!(
                    "the address has a parameter the page cannot use ({}); remove it",
                    describe(&e.to_string())
                ))
            })
    }
}
