//! Route handlers, one module per resource, each with a `router()` that returns its
//! [`Routes`].
//!
//! A route is declared once: its `#[utoipa::path]` attribute gives the path, the methods
//! and the OpenAPI entry, and `utoipa_axum::routes!` mounts the handler from it. [`Routes`]
//! accepts routes only that way, so nothing can be served without being in
//! `/openapi.json`. The one exception, the proxy (own layers, a catch-all path that
//! OpenAPI cannot express), is mounted in [`crate::router`] and documented through
//! [`crate::ApiDoc`].

use std::convert::Infallible;
use std::fmt;

use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::Route;
use tower::{Layer, Service};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

use crate::AppState;

pub mod admin;
pub mod connect_page;
pub mod connections;
pub mod destinations;
pub mod events;
pub mod ops;
pub mod privacy;
pub mod proxy;
pub mod status;
pub mod webhooks;

/// Documented routes: a router and its OpenAPI paths, built from one declaration per
/// route.
pub struct Routes(OpenApiRouter<AppState>);

impl Routes {
    /// No routes.
    pub fn new() -> Self {
        Self(OpenApiRouter::new())
    }

    /// Adds the handlers of one path, as `routes!(handler_a, handler_b)` collects them
    /// (one handler per method).
    ///
    /// # Panics
    ///
    /// When the handlers are on more than one path: `routes!` would mount every one of
    /// them on every path. Declare each path with its own `routes!`.
    pub fn routes(self, handlers: UtoipaMethodRouter<AppState>) -> Self {
        let paths: Vec<&String> = handlers.1.paths.keys().collect();
        assert_eq!(
            paths.len(),
            1,
            "one routes!(…) per path; these handlers are on {paths:?}"
        );
        Self(self.0.routes(handlers))
    }

    /// These routes and `other`'s.
    pub fn merge(self, other: Routes) -> Self {
        Self(self.0.merge(other.0))
    }

    /// Applies `layer` to every route added so far.
    pub fn layer<L>(self, layer: L) -> Self
    where
        L: Layer<Route> + Clone + Send + Sync + 'static,
        L::Service: Service<Request> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request>>::Response: IntoResponse + 'static,
        <L::Service as Service<Request>>::Error: Into<Infallible> + 'static,
        <L::Service as Service<Request>>::Future: Send + 'static,
    {
        Self(self.0.layer(layer))
    }

    /// The router and the OpenAPI paths (with the schemas they use).
    pub fn split(self) -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
        self.0.split_for_parts()
    }
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.get_openapi().paths.paths.keys())
            .finish()
    }
}
