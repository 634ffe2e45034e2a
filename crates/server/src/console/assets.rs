//! The console's stylesheet and script, compiled into the binary
//! (`crates/server/assets/ui/`). Pages link them as `/ui/assets/{file}?v=<hash>`; the
//! hash is of the content, so a new build changes the URL and the response may be cached
//! for good (`immutable`), with an `ETag` for revalidation.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};
use utoipa_axum::routes;

use crate::AppState;
use crate::error::PathParams;
use crate::routes::Routes;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    hash: String,
    url: String,
}

fn asset(name: &'static str, content_type: &'static str, body: &'static [u8]) -> Asset {
    let digest = Sha256::digest(body);
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Asset {
        name,
        content_type,
        body,
        url: format!("/ui/assets/{name}?v={hash}"),
        hash,
    }
}

static ASSETS: LazyLock<[Asset; 3]> = LazyLock::new(|| {
    [
        asset(
            "console.css",
            "text/css; charset=utf-8",
            include_bytes!("../../assets/ui/console.css"),
        ),
        asset(
            "console.js",
            "text/javascript; charset=utf-8",
            include_bytes!("../../assets/ui/console.js"),
        ),
        asset(
            "icon.svg",
            "image/svg+xml",
            include_bytes!("../../assets/ui/icon.svg"),
        ),
    ]
});

/// The stylesheet's URL.
pub fn css_url() -> &'static str {
    &ASSETS[0].url
}

/// The script's URL.
pub fn js_url() -> &'static str {
    &ASSETS[1].url
}

/// The icon's URL.
pub fn icon_url() -> &'static str {
    &ASSETS[2].url
}

/// A console asset (stylesheet, script, icon).
#[utoipa::path(get, path = "/ui/assets/{file}", tag = "console",
    params(("file" = String, Path, example = "console.css", description = "console.css, console.js or icon.svg")),
    responses(
        (status = 200, content_type = "text/css", body = String, description = "the file (text/css, text/javascript or image/svg+xml), cacheable for good"),
        (status = 304, description = "not modified (If-None-Match)"),
        (status = 404, body = crate::error::ErrorBody, description = "no such file")))]
pub async fn asset_file(
    PathParams(file): PathParams<String>,
    headers: HeaderMap,
    _: axum::extract::State<AppState>,
) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == file) else {
        return crate::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no console asset named {file:?}; the pages link to the ones that exist"),
        )
        .into_response();
    };
    let etag = format!("\"{}\"", a.hash);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(a.content_type),
            )],
            a.body,
        )
            .into_response()
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// The asset route.
pub fn router() -> Routes {
    Routes::new().routes(routes!(asset_file))
}
