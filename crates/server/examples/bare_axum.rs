//! Benchmark baseline: a bare axum server answering `GET /healthz` with the same JSON as
//! Switchboard, without any of its layers. `bench/run` measures both in one session so
//! that the cost of Switchboard's middleware shows as a ratio.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".to_owned());
    let app = Router::new().route(
        "/healthz",
        get(|| async {
            axum::Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
        }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
