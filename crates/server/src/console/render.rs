//! Rendering: the base layout every page extends, templates into responses, the HTML
//! error page, and the headers of every console response.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use engine::EngineError;

use super::session::Console;
use super::{PAGES, assets};

/// The console's Content-Security-Policy: nothing inline, everything from this origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the base layout (`ui/base.html`) needs: every page template has a `layout`
/// field of this type.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page's title (the `<title>` and its `<h1>`).
    pub title: String,
    /// The path of the navigation entry to mark as current.
    pub current: &'static str,
    /// The signed-in user's name; `None` on the sign-in page (no navigation then).
    pub user: Option<String>,
    /// The session's CSRF token (for the sign-out form and the page's own forms).
    pub csrf: String,
    /// The stylesheet's URL (with its content hash).
    pub css: &'static str,
    /// The script's URL (with its content hash).
    pub js: &'static str,
}

/// One entry of the navigation.
#[derive(Debug, Clone)]
pub struct NavEntry {
    /// Where it goes.
    pub path: &'static str,
    /// Its text.
    pub label: &'static str,
    /// Whether it is the current page.
    pub current: bool,
}

impl Layout {
    /// The layout of a page of the signed-in console; `current` is its [`PAGES`] path.
    pub fn new(console: &Console, title: impl Into<String>, current: &'static str) -> Self {
        Self {
            title: title.into(),
            current,
            user: Some(console.session.user.display_name.clone()),
            csrf: console.session.csrf_token.clone(),
            css: assets::css_url(),
            js: assets::js_url(),
        }
    }

    /// The layout of a page shown to nobody in particular (sign-in, errors).
    pub fn anonymous(title: impl Into<String>, csrf: String) -> Self {
        Self {
            title: title.into(),
            current: "",
            user: None,
            csrf,
            css: assets::css_url(),
            js: assets::js_url(),
        }
    }

    /// The navigation, from [`PAGES`].
    pub fn nav(&self) -> Vec<NavEntry> {
        PAGES
            .iter()
            .map(|p| NavEntry {
                path: p.path,
                label: p.label,
                current: p.path == self.current,
            })
            .collect()
    }
}

/// Renders a template as an HTML response with `status`. A template that fails to
/// render is a 500 (logged), never a half page.
pub fn html<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            plain_error(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    message: &'a str,
}

/// The console's error page: what went wrong and what to do next, with a link back.
#[derive(Debug)]
pub struct PageError {
    /// The status.
    pub status: StatusCode,
    /// The message: what to do next. Never a secret.
    pub message: String,
}

impl PageError {
    /// An error page with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400 with this message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 with this message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<EngineError> for PageError {
    fn from(e: EngineError) -> Self {
        let api = crate::ApiError::from(e);
        Self::new(api.status, api.message)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error").to_owned();
        html(
            self.status,
            &ErrorPage {
                layout: Layout::anonymous(title, String::new()),
                status: self.status.as_u16(),
                message: &self.message,
            },
        )
    }
}

fn plain_error(status: StatusCode) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!doctype html><title>Error</title><p>Something went wrong; the server log has the details.</p>",
    )
        .into_response()
}

/// The headers of every console response (pages, redirects, errors).
pub async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
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
