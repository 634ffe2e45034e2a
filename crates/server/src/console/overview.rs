//! The overview: per integration, the health `switchboard status` shows (the same
//! engine query), with the numbers that need a person marked, and charts of the last
//! 24 hours (webhooks received and refused, deliveries and their p95 latency, refresh
//! failures per hour), each with its numbers in a table.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use engine::console::HourPoint;
use engine::status::IntegrationHealth;
use utoipa_axum::routes;

use super::charts::{self, Fill, Series};
use super::render::{Layout, PageError, html};
use super::session::Console;
use crate::AppState;
use crate::routes::Routes;

const PATH: &str = "/ui";

/// A chart and its numbers.
#[derive(Debug)]
pub struct Chart {
    id: &'static str,
    title: &'static str,
    svg: String,
    /// Legend entries: (swatch class, label).
    legend: Vec<(&'static str, &'static str)>,
    /// Column headers of the table alternative.
    columns: Vec<&'static str>,
    /// Rows: the hour, then one cell per column.
    rows: Vec<(String, Vec<String>)>,
}

#[derive(Template)]
#[template(path = "ui/overview.html")]
struct OverviewPage {
    layout: Layout,
    attention: bool,
    reasons: Vec<String>,
    ready: bool,
    backend: String,
    security_findings: u32,
    integrations: Vec<IntegrationHealth>,
    charts: Vec<Chart>,
    generated: String,
}

fn total(v: &[u64]) -> u64 {
    v.iter().sum()
}

fn peak(labels: &[String], v: &[u64]) -> String {
    match v.iter().enumerate().max_by_key(|(_, n)| **n) {
        Some((i, n)) if *n > 0 => format!("; the most, {n}, at {}", labels[i]),
        _ => String::new(),
    }
}

fn charts(points: &[HourPoint]) -> Vec<Chart> {
    let labels: Vec<String> = points
        .iter()
        .map(|p| p.hour.format("%H:00").to_string())
        .collect();
    let received: Vec<u64> = points.iter().map(|p| p.received).collect();
    let refused: Vec<u64> = points.iter().map(|p| p.refused).collect();
    let delivered: Vec<u64> = points.iter().map(|p| p.delivered).collect();
    let p95: Vec<Option<u64>> = points.iter().map(|p| p.p95_ms).collect();
    let failed: Vec<u64> = points.iter().map(|p| p.refresh_failed).collect();
    let rows = |cols: &dyn Fn(&HourPoint) -> Vec<String>| {
        points
            .iter()
            .zip(&labels)
            .map(|(p, l)| (l.clone(), cols(p)))
            .collect()
    };
    vec![
        Chart {
            id: "webhooks",
            title: "Webhooks per hour",
            svg: charts::bars(
                "webhooks",
                "Webhooks per hour, last 24 hours",
                &format!(
                    "{} received and {} refused in 24 hours{}",
                    total(&received),
                    total(&refused),
                    peak(&labels, &refused).replace("the most", "refused the most")
                ),
                &labels,
                &[
                    Series {
                        label: "received",
                        fill: Fill::Solid,
                        values: &received,
                    },
                    Series {
                        label: "refused",
                        fill: Fill::Hatched,
                        values: &refused,
                    },
                ],
            ),
            legend: vec![("a", "received (solid)"), ("b", "refused (hatched)")],
            columns: vec!["received", "refused"],
            rows: rows(&|p| vec![p.received.to_string(), p.refused.to_string()]),
        },
        Chart {
            id: "deliveries",
            title: "Deliveries per hour",
            svg: charts::bars(
                "deliveries",
                "Deliveries per hour, last 24 hours",
                &format!(
                    "{} delivered in 24 hours{}",
                    total(&delivered),
                    peak(&labels, &delivered)
                ),
                &labels,
                &[Series {
                    label: "delivered",
                    fill: Fill::Solid,
                    values: &delivered,
                }],
            ),
            legend: vec![("a", "delivered")],
            columns: vec!["delivered"],
            rows: rows(&|p| vec![p.delivered.to_string()]),
        },
        Chart {
            id: "latency",
            title: "Delivery latency, p95",
            svg: charts::line(
                "latency",
                "95th percentile delivery latency per hour, milliseconds",
                &match p95.iter().flatten().max() {
                    Some(m) => format!("the highest hourly p95 was {m} ms"),
                    None => "no deliveries in 24 hours".into(),
                },
                &labels,
                &p95,
                " ms",
            ),
            legend: vec![("b", "p95 latency (line with dots)")],
            columns: vec!["p95 (ms)"],
            rows: rows(&|p| vec![p.p95_ms.map_or_else(|| "–".into(), |v| v.to_string())]),
        },
        Chart {
            id: "refresh",
            title: "Refresh failures per hour",
            svg: charts::bars(
                "refresh",
                "Token refresh failures per hour, last 24 hours",
                &format!(
                    "{} failures in 24 hours{}",
                    total(&failed),
                    peak(&labels, &failed)
                ),
                &labels,
                &[Series {
                    label: "failed",
                    fill: Fill::Hatched,
                    values: &failed,
                }],
            ),
            legend: vec![("b", "failed (hatched)")],
            columns: vec!["failed"],
            rows: rows(&|p| vec![p.refresh_failed.to_string()]),
        },
    ]
}

/// The console's overview.
#[utoipa::path(get, path = "/ui", tag = "console",
    responses(
        (status = 200, content_type = "text/html", body = String, description = "health per integration and the last 24 hours"),
        (status = 303, description = "not signed in: to the sign-in page")))]
pub async fn page(State(s): State<AppState>, c: Console) -> Result<Response, PageError> {
    let status = s.engine.status().await?;
    let points = s.engine.console_activity(24).await?;
    Ok(html(
        StatusCode::OK,
        &OverviewPage {
            layout: Layout::new(&c, "Overview", PATH),
            attention: status.attention,
            reasons: status.reasons,
            ready: status.ready.ready,
            backend: status.ready.backend,
            security_findings: status.security_findings,
            integrations: status.integrations,
            charts: charts(&points),
            generated: status
                .generated_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
        },
    ))
}

/// The overview's route.
pub fn router() -> Routes {
    Routes::new().routes(routes!(page))
}
