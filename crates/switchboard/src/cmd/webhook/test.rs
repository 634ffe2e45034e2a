//! `switchboard webhook test`: send a correctly signed sample webhook to a running
//! server. A test: exit 1 when the server refuses it.

use std::path::PathBuf;

use anyhow::Context;

use super::verify::webhook_integration;
use crate::cmd::Globals;
use crate::exit::{CliError, Outcome};
use crate::local::load_config;

/// Arguments of `webhook test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The integration to send a sample webhook to.
    pub integration: String,
    /// Body to send (default: a small JSON sample event).
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// Server to send it to.
    #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

/// `switchboard webhook test`: signs a sample exactly as the provider would (with the
/// integration's first secret, over the URL the server will see:
/// `{public_url}/webhooks/{integration}/event`) and sends it to a running server.
pub async fn run(args: TestArgs, g: &Globals) -> anyhow::Result<Outcome> {
    let json = g.json;
    let cfg = load_config(g.config_path(), &Default::default())?;
    let (integration, scheme) = webhook_integration(&cfg, &args.integration)?;
    let now = chrono::Utc::now();
    let sample_id = format!("evt_test_{}", now.timestamp_millis());
    let body = match &args.event {
        Some(p) => {
            std::fs::read(p).with_context(|| format!("cannot read event file {}", p.display()))?
        }
        None => serde_json::to_vec(&serde_json::json!({
            "id": sample_id,
            "type": "switchboard.test",
            "created": now.timestamp(),
            "data": { "message": "a test webhook sent by `switchboard webhook test`" },
        }))?,
    };
    let path = format!("/webhooks/{}/event", integration.id);
    let signed_url = format!("{}{path}", cfg.public_url);
    let req = signatures::SignRequest::new(&body, now.timestamp())
        .url(&signed_url)
        .id(&sample_id);
    let signed =
        signatures::sign(&scheme, &integration.webhook_secrets[..1], &req).map_err(|e| {
            CliError::new(
                "invalid_config",
                format!("cannot sign a {} webhook: {e}", scheme.name()),
            )
        })?;
    // Twilio JSON webhooks carry bodySHA256 in the URL: send to the same path and query.
    let query = signed
        .url
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let target = format!("{}{path}{query}", args.url.trim_end_matches('/'));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut rb = http
        .post(&target)
        .header("content-type", "application/json")
        .header("user-agent", "switchboard-webhook-test");
    for (n, v) in &signed.headers {
        rb = rb.header(n, v);
    }
    let res = rb.body(body).send().await.with_context(|| {
        format!("cannot reach {target}; check SWITCHBOARD_URL and that the server runs")
    })?;
    let status = res.status();
    let answer: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
    if json {
        println!(
            "{}",
            serde_json::json!({ "status": status.as_u16(), "answer": answer, "scheme": scheme.name() })
        );
    } else if status.is_success() {
        println!(
            "accepted: {} webhook stored as {} (duplicate: {})",
            scheme.name(),
            answer["id"].as_str().unwrap_or("?"),
            answer["duplicate"]
        );
    } else {
        println!(
            "refused with {status}: {}",
            answer["error"]["message"]
                .as_str()
                .unwrap_or("(no JSON error body)")
        );
    }
    Ok(Outcome::from_ok(status.is_success()))
}
