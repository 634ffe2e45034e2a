//! Baseline for `bench/proxy`: the least a reverse proxy can do on this stack — axum in,
//! reqwest out, the caller's `Authorization` forwarded, the answer streamed back — with
//! no authentication, no credential lookup, no rate limit, retry, logging or metrics.
//! Its throughput against the same no-op upstream bounds what any proxy built on these
//! crates can reach on the machine, which is what Switchboard's proxy is compared with.
//!
//! Usage: `bench_bare_proxy LISTEN_ADDR UPSTREAM_BASE_URL`.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

#[derive(Clone)]
struct Upstream {
    http: reqwest::Client,
    base: String,
}

async fn forward(
    State(u): State<Upstream>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, StatusCode> {
    let mut req = u.http.get(format!("{}/{path}", u.base));
    if let Some(auth) = headers.get("authorization") {
        req = req.header("authorization", auth);
    }
    let resp = req.send().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
    let mut out = Response::builder().status(resp.status().as_u16());
    if let Some(ct) = resp.headers().get("content-type") {
        out = out.header("content-type", ct);
    }
    out.body(Body::from_stream(resp.bytes_stream()))
        .map_err(|_| StatusCode::BAD_GATEWAY)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8092".to_owned());
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8091/api".to_owned());
    let upstream = Upstream {
        http: reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(std::io::Error::other)?,
        base,
    };
    let app = Router::new()
        .route("/{*path}", get(forward))
        .with_state(upstream);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
