//! Switchboard's HTTP server.
//!
//! Parses and authenticates requests, calls the [`engine`], and answers JSON. Every error
//! body has the shape `{"error": {"code", "message"}}`; every response carries an
//! `x-request-id`; every request is counted and timed in Prometheus metrics by route
//! template and status.

#![deny(missing_docs)]

pub mod auth;
pub mod console;
pub mod error;
pub mod observe;
pub mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::routing::any;
use engine::Engine;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use error::ApiError;

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// `listen`: the API, the Connect page, webhooks (and `/metrics` unless
    /// `metrics_listen` is set).
    Main,
    /// `metrics_listen`: `/metrics` only ([`metrics_router`]).
    Metrics,
}

/// Shared state of every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// The listener this state serves.
    pub listener: Listener,
}

impl AppState {
    /// State over an engine for the main listener, with the process-wide metrics
    /// recorder.
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            metrics: observe::metrics_handle(),
            listener: Listener::Main,
        }
    }
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The parts of the OpenAPI description that no route declares: the title, the tags, the
/// bearer scheme, and the one route mounted outside [`routes::Routes`] (the proxy, with
/// its own layers and a catch-all path). [`openapi`] adds every other route's entry.
#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard", description = "Self-hosted integration gateway: connections, API proxy, webhooks."),
    paths(routes::proxy::proxy),
    modifiers(&BearerAuth),
    tags((name = "ops", description = "health, metrics, API description"), (name = "admin", description = "API keys, the audit log and the status at a glance"), (name = "connections", description = "connect sessions, OAuth2 flow, tokens, disconnect"), (name = "connect", description = "the Connect page an end user opens (HTML)"), (name = "webhooks", description = "webhook intake, stored events, replay and destinations"), (name = "proxy", description = "the provider's API with the connection's credentials"), (name = "privacy", description = "payload retention, erasure and export of an end user"), (name = "console", description = "the admin console (HTML pages at /ui)"))
)]
#[derive(Debug)]
pub struct ApiDoc;

/// Every route but the proxy's, each declared once (path, handler and OpenAPI entry).
pub fn documented_routes() -> routes::Routes {
    routes::Routes::new()
        .merge(routes::ops::router())
        .merge(routes::admin::router())
        .merge(routes::connections::router())
        .merge(routes::connect_page::router())
        .merge(routes::connect_assets::router())
        .merge(routes::webhooks::router())
        .merge(routes::events::router())
        .merge(routes::destinations::router())
        .merge(routes::status::router())
        .merge(routes::privacy::router())
        .merge(console::router())
}

/// This API's OpenAPI 3.1 description: [`ApiDoc`] and every documented route, with the
/// errors that the extractors add (see [`extractor_errors`]).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    let (_, paths) = documented_routes().split();
    doc.merge(paths);
    extractor_errors(&mut doc);
    doc
}

/// Documents what comes from the extractors and layers rather than from the handlers:
/// - 401 where an API key is required (`Admin`, `App`), and 413 and 415 where there is a
///   request body (the body limit, the content type check; no 415 for a body of any
///   type); an operation that documents the status itself keeps its own description;
/// - an optional body (`OptionalJson`, declared as `Option<T>`) may be absent, but when
///   present it is a `T`: JSON `null` is refused like any other non-object.
fn extractor_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
    let is_null = |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for op in operations.into_iter().flatten() {
            let mut added = Vec::new();
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                added.push(("401", "missing, invalid or revoked API key"));
            }
            if let Some(body) = &mut op.request_body {
                if body.required != Some(Required::True) {
                    for content in body.content.values_mut() {
                        if let Some(RefOr::T(Schema::OneOf(one))) = &content.schema
                            && one.items.iter().any(is_null)
                            && let [item] =
                                &one.items.iter().filter(|i| !is_null(i)).collect::<Vec<_>>()[..]
                        {
                            content.schema = Some((*item).clone());
                        }
                    }
                }
                added.push(("413", "body larger than max_body_bytes"));
                // A route that takes any content type (webhook intake) never answers 415.
                if !body.content.contains_key("*/*") {
                    added.push(("415", "a body of another content type than documented"));
                }
            }
            for (status, description) in added {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error(description).into());
            }
        }
    }
}

/// Unknown paths under `/api` still require a key, so that they do not reveal which
/// routes exist to unauthenticated callers.
async fn api_fallback(_: auth::App) -> ApiError {
    ApiError::for_status(StatusCode::NOT_FOUND)
}

/// The whole application with every layer.
pub fn router(state: AppState) -> Router {
    let cfg = state.engine.config();
    let x_request_id = HeaderName::from_static("x-request-id");
    let body_limit = usize::try_from(cfg.max_body_bytes).unwrap_or(usize::MAX);
    // The proxy streams: it has its own layers, without the timeout and body limit.
    let proxy = routes::proxy::router(state.clone());
    let (documented, _) = documented_routes().split();
    Router::new()
        .merge(documented)
        // Not a route: what unknown `/api` paths answer (a 404, behind a key).
        .route("/api/{*rest}", any(api_fallback))
        // Explicit, so that it survives the merge with the proxy's router below (a merged
        // router would otherwise answer unmatched paths with a bare 404 of its own).
        .fallback(|| async { ApiError::for_status(StatusCode::NOT_FOUND) })
        .with_state(state)
        .layer(
            // Listed outermost first.
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new(
                    observe::SENSITIVE_HEADERS,
                ))
                .layer(SetRequestIdLayer::new(
                    x_request_id.clone(),
                    MakeRequestUuid,
                ))
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(observe::request_span)
                        .on_request(())
                        .on_response(
                            tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                        ),
                )
                .layer(axum::middleware::from_fn(observe::track))
                .layer(axum::middleware::from_fn(observe::json_errors))
                .layer(CatchPanicLayer::custom(observe::panic_response))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Duration::from_secs(cfg.request_timeout_secs),
                ))
                .layer(RequestBodyLimitLayer::new(body_limit))
                .layer(DefaultBodyLimit::max(body_limit)),
        )
        .merge(proxy)
}

/// The application of the `metrics_listen` listener: `/metrics` (the same route as on
/// the main listener, so it is documented once) and a JSON 404 for anything else.
pub fn metrics_router(state: AppState) -> Router {
    let state = AppState {
        listener: Listener::Metrics,
        ..state
    };
    let (metrics, _) = routes::Routes::new()
        .routes(utoipa_axum::routes!(routes::ops::metrics))
        .split();
    metrics
        .fallback(|| async { ApiError::for_status(StatusCode::NOT_FOUND) })
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(axum::middleware::from_fn(observe::json_errors))
                .layer(CatchPanicLayer::custom(observe::panic_response)),
        )
}

/// Serves `app` on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish for up to `grace()` (read when shutdown starts, so a
/// reloaded setting applies), and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: impl FnOnce() -> Duration + Send + 'static,
) -> std::io::Result<()> {
    let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        let _ = fired_tx.send(());
    });
    let mut task = tokio::spawn(async move { server.await });
    tokio::select! {
        res = &mut task => res.map_err(std::io::Error::other)?,
        grace = async {
            if fired_rx.await.is_ok() {
                let grace = grace();
                tokio::time::sleep(grace).await;
                grace
            } else {
                std::future::pending().await
            }
        } => {
            tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish within shutdown_grace_secs; closing them");
            task.abort();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_connections;

#[cfg(test)]
mod tests_connect_page;

#[cfg(test)]
mod tests_proxy;

#[cfg(test)]
mod tests_events;

#[cfg(test)]
mod tests_privacy;

#[cfg(test)]
mod tests_routes;

#[cfg(test)]
mod tests_status;

#[cfg(test)]
mod tests_console;

#[cfg(test)]
mod tests_console_pages;
