//! `switchboard webhook verify`: checks a captured webhook offline against an
//! integration's scheme and secrets, and says exactly which check failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use signatures::{Headers, Request, Scheme, VerifyOptions};

use crate::admin::load_config;

/// Reads a headers file: one `Name: value` per line, as `curl -D` or a request log
/// writes them. A request or status line and blank lines are skipped.
pub fn read_headers(path: &Path) -> anyhow::Result<Headers> {
    let text = std::fs::read(path)
        .with_context(|| format!("cannot read headers file {}", path.display()))?;
    let mut headers = Headers::new();
    for (n, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty()
            || (n == 0 && (line.starts_with(b"HTTP/") || line.windows(6).any(|w| w == b" HTTP/")))
        {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            bail!("{} line {}: expected `Name: value`", path.display(), n + 1);
        };
        let name = std::str::from_utf8(&line[..colon])
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
            .with_context(|| format!("{} line {}: invalid header name", path.display(), n + 1))?;
        let value = line[colon + 1..].trim_ascii();
        headers.append(name, value);
    }
    Ok(headers)
}

/// The scheme an integration verifies with: its `webhook_scheme`, else its provider's.
pub fn scheme_of(
    integration: &config::Integration,
    catalog: &catalog::Catalog,
) -> anyhow::Result<Scheme> {
    integration
        .webhook_scheme
        .as_ref()
        .or_else(|| catalog.get(&integration.provider)?.webhook_scheme())
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "integration {:?}: provider {:?} has no webhook signature scheme; set webhook_scheme",
                integration.id,
                integration.provider
            )
        })
}

/// The integration named `id`, with its scheme, if it can take webhooks (it has
/// secrets and a scheme); otherwise an error saying what to configure.
fn webhook_integration<'c>(
    cfg: &'c config::Config,
    id: &str,
) -> anyhow::Result<(&'c config::Integration, Scheme)> {
    let Some(integration) = cfg.integration(id) else {
        bail!(
            "no integration {id:?} in the configuration; configured: {}",
            cfg.integrations
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let catalog = crate::admin::catalog_of(cfg, false)?;
    let scheme = scheme_of(integration, &catalog)?;
    if integration.webhook_secrets.is_empty() {
        bail!("integration {:?} has no webhook_secrets", integration.id);
    }
    Ok((integration, scheme))
}

/// Arguments of `webhook verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The integration whose scheme and webhook_secrets to use.
    pub integration: String,
    /// File with the request headers, one `Name: value` per line.
    #[arg(long, value_name = "FILE")]
    pub headers: PathBuf,
    /// File with the raw request body, byte for byte.
    #[arg(long, value_name = "FILE")]
    pub body: PathBuf,
    /// URL the provider called (Twilio, Square and HubSpot sign it). Default:
    /// {public_url}/webhooks/{integration}/event.
    #[arg(long)]
    pub url: Option<String>,
    /// HTTP method the provider used.
    #[arg(long, default_value = "POST")]
    pub method: String,
    /// Verify as of this time (Unix seconds), e.g. when the request was captured.
    /// Default: now.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub at: Option<i64>,
}

/// `switchboard webhook verify`
pub fn verify(
    config_path: Option<&Path>,
    args: VerifyArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config_path, &Default::default())?;
    let (integration, scheme) = webhook_integration(&cfg, &args.integration)?;
    let headers = read_headers(&args.headers)?;
    let body = std::fs::read(&args.body)
        .with_context(|| format!("cannot read body file {}", args.body.display()))?;
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| format!("{}/webhooks/{}/event", cfg.public_url, integration.id));
    let now = args.at.unwrap_or_else(|| chrono::Utc::now().timestamp());
    let mut opts = VerifyOptions::at(now);
    if let Some(t) = integration.webhook_tolerance_secs {
        opts = opts.with_tolerance(t);
    }
    let req = Request::new(&args.method, &url, &headers, &body);
    let result = signatures::verify(&scheme, &req, &integration.webhook_secrets, &opts);
    let n = integration.webhook_secrets.len();
    match result {
        Ok(v) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": true, "scheme": scheme.name(), "secret_index": v.secret_index,
                        "timestamp": v.timestamp, "id": v.id,
                    })
                );
            } else {
                let when = v
                    .timestamp
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                    .map(|t| format!(", signed at {}", t.to_rfc3339()))
                    .unwrap_or_default();
                println!(
                    "valid: {} signature matched webhook_secrets[{}] ({} configured){when}",
                    scheme.name(),
                    v.secret_index,
                    n
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": false, "scheme": scheme.name(),
                        "error": { "code": e.code(), "message": e.to_string() },
                    })
                );
            } else {
                println!("invalid: {} check failed: {e}", scheme.name());
                if e.is_config_error() {
                    println!(
                        "(this is a configuration problem of integration {:?}, not of the request)",
                        integration.id
                    );
                }
            }
            Ok(ExitCode::from(1))
        }
    }
}

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
pub async fn test(
    config_path: Option<&Path>,
    args: TestArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config_path, &Default::default())?;
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
    let signed = signatures::sign(&scheme, &integration.webhook_secrets[..1], &req)
        .map_err(|e| anyhow::anyhow!("cannot sign a {} webhook: {e}", scheme.name()))?;
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
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
