//! What the browser side of connecting loads from Switchboard besides the Connect page:
//!
//! - `GET /connect/switchboard.js`: the snippet an app's page loads
//!   (`Switchboard.connect({ sessionToken, integration?, connectionId? })`, see
//!   `assets/switchboard.js`), and `GET /connect/switchboard.d.ts`, its types. Both are
//!   embedded in the binary, served with a strong `ETag` (SHA-256 of the file) and
//!   `Cache-Control: no-cache`: the browser keeps a copy but asks each time, and a
//!   `304` costs a few bytes. The URL stays the same across upgrades (apps paste it
//!   once) and a page never runs a snippet older than the server's Connect page and
//!   result messages, which a long `max-age` on an unversioned URL could not promise.
//!   `Cross-Origin-Resource-Policy: cross-origin` lets pages of other origins (with
//!   COEP) load it.
//! - `GET /connect/assets/result.js`: the result pages' script: it reads the result
//!   from `#result`'s `data-` attributes, posts it to the opener at exactly
//!   `data-target-origin`, and closes the popup once the opener acknowledges it (or
//!   5 s later). As a file of this origin it runs under `script-src 'self'`: the
//!   result pages need no inline script and no nonce.
//! - `GET /connect/assets/logo`: `[branding] logo`, read at configuration load, so the
//!   pages' CSP keeps `img-src 'self'`.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use utoipa_axum::routes;

use crate::AppState;
use crate::routes::Routes;
use crate::routes::connect_page::Chrome;

/// The snippet.
pub const SWITCHBOARD_JS: &str = include_str!("../../assets/switchboard.js");
/// The snippet's TypeScript declarations.
pub const SWITCHBOARD_D_TS: &str = include_str!("../../assets/switchboard.d.ts");
/// The result pages' script.
pub const RESULT_JS: &str = include_str!("../../assets/result.js");

/// A strong ETag of `bytes`.
fn etag(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let hex: String = d[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// A static file with its ETag, or a 304 when the browser has it.
fn asset(
    req: &HeaderMap,
    body: &'static str,
    content_type: &'static str,
    cross_origin: bool,
) -> Response {
    let tag = etag(body.as_bytes());
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static(if cross_origin {
            "cross-origin"
        } else {
            "same-origin"
        }),
    );
    res
}

/// The connect snippet: `Switchboard.connect()` for an app's page.
#[utoipa::path(get, path = "/connect/switchboard.js", tag = "connect",
    responses(
        (status = 200, content_type = "text/javascript", body = String, description = "the snippet (ETag, Cache-Control: no-cache)"),
        (status = 304, description = "the browser's copy is current (If-None-Match)")))]
pub async fn snippet(headers: HeaderMap) -> Response {
    asset(
        &headers,
        SWITCHBOARD_JS,
        "text/javascript; charset=utf-8",
        true,
    )
}

/// The snippet's TypeScript declarations.
#[utoipa::path(get, path = "/connect/switchboard.d.ts", tag = "connect",
    responses(
        (status = 200, content_type = "application/typescript", body = String, description = "the declarations (ETag, Cache-Control: no-cache)"),
        (status = 304, description = "the browser's copy is current (If-None-Match)")))]
pub async fn snippet_types(headers: HeaderMap) -> Response {
    asset(
        &headers,
        SWITCHBOARD_D_TS,
        "application/typescript; charset=utf-8",
        true,
    )
}

/// The result pages' script (posts the result to the opener).
#[utoipa::path(get, path = "/connect/assets/result.js", tag = "connect",
    responses(
        (status = 200, content_type = "text/javascript", body = String, description = "the script"),
        (status = 304, description = "the browser's copy is current (If-None-Match)")))]
pub async fn result_script(headers: HeaderMap) -> Response {
    asset(&headers, RESULT_JS, "text/javascript; charset=utf-8", false)
}

/// The app's logo (`[branding] logo`).
#[utoipa::path(get, path = "/connect/assets/logo", tag = "connect",
    responses(
        (status = 200, content_type = "image/*", body = Vec<u8>, description = "the logo"),
        (status = 404, body = crate::error::ErrorBody, description = "no logo is configured")))]
pub async fn logo(State(s): State<AppState>) -> Response {
    let cfg = s.engine.config();
    let Some(logo) = cfg.branding.logo.as_ref() else {
        return crate::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no logo is configured ([branding] logo)",
        )
        .into_response();
    };
    let mut res = (
        [(header::CONTENT_TYPE, logo.content_type)],
        logo.bytes.clone(),
    )
        .into_response();
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // An SVG opened on its own runs nothing and loads nothing.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    res
}

/// A result page response: the page's CSP, plus `script-src 'self'` when it posts to
/// an opener (`result.js`); never cached, no referrer, never framed.
pub(crate) fn result_response(chrome: &Chrome, body: String, posts: bool) -> Response {
    let mut res = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    let mut csp = crate::routes::connect_page::page_csp(chrome, None);
    if posts {
        csp.push_str("; script-src 'self'");
    }
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
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

/// The routes of this module.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(snippet))
        .routes(routes!(snippet_types))
        .routes(routes!(result_script))
        .routes(routes!(logo))
}
