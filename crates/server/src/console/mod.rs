//! The admin console at `/ui`: server-rendered HTML pages (askama templates under
//! `crates/server/templates/ui/`) that work without JavaScript.
//!
//! - [`session`]: the session cookie, the [`session::Console`] extractor every page takes
//!   (signed in, or a redirect to the sign-in page), the [`session::ConsoleForm`]
//!   extractor every form post takes (same-origin check, CSRF token, then the fields),
//!   and [`session::ConsoleQuery`] for query strings (an HTML 400 when malformed).
//! - [`render`]: the base layout ([`render::Layout`]), rendering a template into a
//!   response, the HTML error page, and the headers of every console response (the
//!   strict CSP, `no-store`, `no-referrer`, `nosniff`, `DENY`).
//! - [`assets`]: the stylesheet and script, compiled into the binary and served with a
//!   content hash (`/ui/assets/{file}?v=…`, immutable).
//! - pages: [`sign_in`] (API key, OpenID Connect, sign-out), [`overview`], [`audit`],
//!   [`api_keys`], [`integrations`], [`connections`], [`events`] (with replay and its
//!   progress) and [`destinations`] (with dead letters); [`pages`] holds what the last
//!   four share (filter forms, times).
//!
//! [`PAGES`] is the one list of the console's top-level pages: the navigation is drawn
//! from it, and the browser tests visit (and crawl from) every entry.

pub mod api_keys;
pub mod assets;
pub mod audit;
pub mod charts;
pub mod connections;
pub mod destinations;
pub mod events;
pub mod integrations;
pub mod overview;
pub mod pages;
pub mod render;
pub mod session;
pub mod sign_in;

use crate::routes::Routes;

/// A top-level console page: in the navigation, and visited by the browser tests.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Its path (no parameters).
    pub path: &'static str,
    /// Its name in the navigation and its `<title>`.
    pub label: &'static str,
}

/// Every top-level console page, in navigation order.
pub const PAGES: &[Page] = &[
    Page {
        path: "/ui",
        label: "Overview",
    },
    Page {
        path: "/ui/integrations",
        label: "Integrations",
    },
    Page {
        path: "/ui/connections",
        label: "Connections",
    },
    Page {
        path: "/ui/events",
        label: "Events",
    },
    Page {
        path: "/ui/destinations",
        label: "Destinations",
    },
    Page {
        path: "/ui/audit",
        label: "Audit log",
    },
    Page {
        path: "/ui/api-keys",
        label: "API keys",
    },
];

/// Every console route, with the console's response headers.
pub fn router() -> Routes {
    Routes::new()
        .merge(sign_in::router())
        .merge(overview::router())
        .merge(audit::router())
        .merge(api_keys::router())
        .merge(integrations::router())
        .merge(connections::router())
        .merge(events::router())
        .merge(destinations::router())
        .layer(axum::middleware::map_response(render::security_headers))
        // Assets are cached for good; they get nosniff from their own handler.
        .merge(assets::router())
}
