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
    /// Body to send instead of the provider's sample body (the sample's headers are
    /// still sent). Default: the sample from the provider's catalog entry.
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
    /// Server to send it to.
    #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Load test: send this many sample events, each with its own id and timestamp,
    /// then wait for their deliveries and report latencies and throughput.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub count: u64,
    /// Load test: senders at once (default 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub concurrency: Option<u64>,
    /// Load test: how long to wait for the deliveries after sending (0: do not wait).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub wait_secs: u64,
    /// Load test: send even though the integration's events go to destinations.
    #[arg(long)]
    pub yes: bool,
    /// Load test: API key (app or admin) to follow the deliveries through the events API.
    #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// A sample event signed as the provider would sign it, ready to send.
pub(super) struct Signed {
    /// Where to POST it (the server's URL, the integration's path, and the query the
    /// scheme signs, if any).
    pub target: String,
    /// The provider's headers (from the catalog's sample) and the signature headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Its content type.
    pub content_type: String,
}

/// The catalog's `[webhooks.sample]` of the integration's provider (built-in providers
/// only; custom ones have none).
pub(super) fn provider_sample(integration: &config::Integration) -> Option<catalog::WebhookSample> {
    catalog::Catalog::builtin()
        .get(&integration.provider)?
        .webhooks
        .as_ref()?
        .sample
        .clone()
}

/// A fresh `{event_id}` for a sample: decimal digits (the catalog's samples put it in
/// JSON numbers too), at most 19 so that it stays a 64-bit integer.
pub(super) fn sample_event_id(now: chrono::DateTime<chrono::Utc>, n: u64) -> String {
    format!("{}{:07}", now.timestamp(), n % 10_000_000)
}

/// Signs a sample at `now` with the integration's first secret, over the URL the server
/// will see (`{public_url}/webhooks/{id}/event`): the provider's own sample from the
/// catalog (`{event_id}` → `event_id`, times → `now`), with `body` instead of its body
/// when given (`--event FILE`); a small generic JSON event for a provider without one.
/// Mailgun's signature goes into the body, as Mailgun puts it.
#[allow(clippy::too_many_arguments)]
pub(super) fn sign_sample(
    public_url: &str,
    server_url: &str,
    integration: &config::Integration,
    scheme: &signatures::Scheme,
    sample: Option<&catalog::WebhookSample>,
    event_id: &str,
    body: Option<Vec<u8>>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Signed> {
    let rendered = sample.map(|s| s.render(event_id, now.timestamp()));
    let (mut headers, content_type) = match &rendered {
        Some(r) => (r.headers.clone(), r.content_type.clone()),
        None => (Vec::new(), "application/json".to_owned()),
    };
    let is_form = content_type.eq_ignore_ascii_case(catalog::FORM_CONTENT_TYPE);
    let mut body = match (body, rendered) {
        (Some(b), _) => b,
        (None, Some(r)) => r.body,
        (None, None) => serde_json::to_vec(&serde_json::json!({
            "id": event_id,
            "type": "switchboard.test",
            "created": now.timestamp(),
            "data": { "message": "a test webhook sent by `switchboard webhook test`" },
        }))?,
    };
    let path = format!("/webhooks/{}/event", integration.id);
    let signed_url = format!("{public_url}{path}");
    let form = is_form.then(|| signatures::parse_urlencoded(&body));
    let mut req = signatures::SignRequest::new(&body, now.timestamp())
        .url(&signed_url)
        .id(event_id);
    if let Some(f) = &form {
        req = req.form(f);
    }
    // The first webhook secret; for a scheme that also takes the app's client secret
    // (Atlassian) and has no webhook secret, that one (a webhook the app registered).
    let first = &integration.webhook_secrets[..integration.webhook_secrets.len().min(1)];
    let keys =
        signatures::Keys::webhook(first).with_app(super::verify::app_secret(integration, scheme));
    let signed = signatures::sign_with(scheme, keys, &req).map_err(|e| {
        CliError::new(
            "invalid_config",
            format!("cannot sign a {} webhook: {e}", scheme.name()),
        )
    })?;
    if !signed.body_fields.is_empty() {
        body = with_body_fields(body, is_form, &signed.body_fields)?;
    }
    // The signer's headers replace the sample's of the same name (`webhook-id`…).
    headers.retain(|(n, _)| {
        !signed
            .headers
            .iter()
            .any(|(s, _)| s.eq_ignore_ascii_case(n))
    });
    headers.extend(signed.headers);
    // Twilio JSON webhooks carry bodySHA256 in the URL: send to the same path and query.
    let query = signed
        .url
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    Ok(Signed {
        target: format!("{}{path}{query}", server_url.trim_end_matches('/')),
        headers,
        body,
        content_type,
    })
}

/// Puts signature fields into the body (Mailgun): form fields appended, or the JSON
/// body's `signature` object.
fn with_body_fields(
    body: Vec<u8>,
    is_form: bool,
    fields: &[(String, String)],
) -> anyhow::Result<Vec<u8>> {
    if is_form {
        let mut out = body;
        for (k, v) in fields {
            if !out.is_empty() {
                out.push(b'&');
            }
            out.extend(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair(k, v)
                    .finish()
                    .into_bytes(),
            );
        }
        return Ok(out);
    }
    let mut v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        CliError::new(
            "invalid_input",
            format!("this provider signs inside a JSON body, but the event is not JSON: {e}"),
        )
    })?;
    let obj = v.as_object_mut().ok_or_else(|| {
        CliError::new(
            "invalid_input",
            "this provider signs inside a JSON body, but the event is not a JSON object",
        )
    })?;
    let sig = obj
        .entry("signature")
        .or_insert_with(|| serde_json::json!({}));
    if !sig.is_object() {
        *sig = serde_json::json!({});
    }
    for (k, val) in fields {
        sig[k.as_str()] = serde_json::Value::String(val.clone());
    }
    Ok(serde_json::to_vec(&v)?)
}

/// `switchboard webhook test`: signs a sample exactly as the provider would (with the
/// integration's first secret, over the URL the server will see:
/// `{public_url}/webhooks/{integration}/event`) and sends it to a running server.
pub async fn run(args: TestArgs, g: &Globals) -> anyhow::Result<Outcome> {
    let json = g.json;
    let cfg = load_config(g.config_path(), &Default::default())?;
    let (integration, scheme) = webhook_integration(&cfg, &args.integration)?;
    if args.count > 1 || args.concurrency.is_some() {
        return super::load::run(args, &cfg, integration, &scheme, json).await;
    }
    let now = chrono::Utc::now();
    let sample_id = sample_event_id(now, u64::from(now.timestamp_subsec_micros()));
    let sample = provider_sample(integration);
    let body = match &args.event {
        Some(p) => Some(
            std::fs::read(p).with_context(|| format!("cannot read event file {}", p.display()))?,
        ),
        None => None,
    };
    let Signed {
        target,
        headers,
        body,
        content_type,
    } = sign_sample(
        &cfg.public_url,
        &args.url,
        integration,
        &scheme,
        sample.as_ref(),
        &sample_id,
        body,
        now,
    )?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let mut rb = http
        .post(&target)
        .header("content-type", content_type)
        .header("user-agent", "switchboard-webhook-test");
    for (n, v) in &headers {
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
