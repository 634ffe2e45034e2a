//! Benchmark upstream for `bench/proxy`: a bare axum server standing in for a provider's
//! API. `POST /token` hands out a client-credentials token; `GET /api/items` answers a
//! small JSON document (checking the bearer token, as an API would), and
//! `GET /api/slow_items` the same after 2 ms of "work". `bench/proxy` sends
//! the same load to it directly and through Switchboard's proxy in one session.

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};

const TOKEN: &str = "bench-upstream-token";

async fn items(headers: HeaderMap) -> impl IntoResponse {
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"));
    let body = serde_json::json!({
        "data": [{"id": 1, "name": "first item"}, {"id": 2, "name": "second item"}],
        "next_cursor": null,
    });
    // Direct calls carry the token too (bench/proxy sends it), so both paths do the same work.
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::UNAUTHORIZED
    };
    (status, axum::Json(body))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8091".to_owned());
    let app = Router::new()
        .route(
            "/token",
            post(|| async {
                axum::Json(serde_json::json!({
                    "access_token": TOKEN, "token_type": "Bearer", "expires_in": 86400
                }))
            }),
        )
        .route("/api/items", get(items))
        .route(
            "/api/slow_items",
            get(|h: HeaderMap| async move {
                // A provider's own work: 2 ms, like a fast real API.
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                items(h).await
            }),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
