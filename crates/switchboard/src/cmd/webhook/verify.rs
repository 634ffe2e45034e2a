//! `switchboard webhook verify`: checks a captured webhook offline against an
//! integration's scheme and secrets, and says exactly which check failed (exit 1).
//! Also the integration look-up `webhook test` shares.

use std::path::{Path, PathBuf};

use anyhow::Context;
use signatures::{Headers, Request, Scheme, VerifyOptions};

use crate::cmd::Globals;
use crate::exit::{CliError, Outcome};
use crate::local::{catalog_of, load_config};

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
        let bad = |what: &str| {
            CliError::new(
                "invalid_input",
                format!("{} line {}: {what}", path.display(), n + 1),
            )
        };
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(bad("expected `Name: value`").into());
        };
        let name = std::str::from_utf8(&line[..colon])
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
            .ok_or_else(|| bad("invalid header name"))?;
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
            CliError::new(
                "invalid_config",
                format!(
                    "integration {:?}: provider {:?} has no webhook signature scheme; set webhook_scheme",
                    integration.id, integration.provider
                ),
            )
            .into()
        })
}

/// The integration named `id`, with its scheme, if it can take webhooks (it has
/// secrets and a scheme); otherwise an error saying what to configure.
pub fn webhook_integration<'c>(
    cfg: &'c config::Config,
    id: &str,
) -> anyhow::Result<(&'c config::Integration, Scheme)> {
    let Some(integration) = cfg.integration(id) else {
        let configured: Vec<&str> = cfg.integrations.iter().map(|i| i.id.as_str()).collect();
        return Err(CliError::new(
            "not_found",
            format!(
                "no integration {id:?} in the configuration; configured: {}",
                configured.join(", ")
            ),
        )
        .into());
    };
    let catalog = catalog_of(cfg, false)?;
    let scheme = scheme_of(integration, &catalog)?;
    if scheme.fetches_keys() {
        return Err(CliError::new(
            "invalid_config",
            format!(
                "integration {:?} uses {scheme}, whose webhooks are signed with the provider's own key, which Switchboard fetches when a webhook arrives: it cannot sign a test webhook nor check one offline; have the provider send one to the running server ({})",
                integration.id,
                match scheme {
                    signatures::Scheme::Plaid => "Plaid: POST /sandbox/item/fire_webhook in the sandbox",
                    signatures::Scheme::Paypal => "PayPal: the Webhooks simulator of the developer dashboard, or POST /v1/notifications/simulate-event",
                    _ => "the provider's webhook simulator",
                }
            ),
        )
        .into());
    }
    if integration.webhook_secrets.is_empty() && app_secret(integration, &scheme).is_empty() {
        return Err(CliError::new(
            "invalid_config",
            format!("integration {:?} has no webhook_secrets", integration.id),
        )
        .into());
    }
    Ok((integration, scheme))
}

/// The integration's client secret, for a scheme that checks some webhooks with it
/// (Atlassian: those its OAuth 2.0 app registered); empty for the others.
pub fn app_secret<'i>(
    integration: &'i config::Integration,
    scheme: &Scheme,
) -> &'i [signatures::SecretString] {
    match &integration.client_secret {
        Some(cs) if scheme.takes_app_secret() => std::slice::from_ref(cs),
        _ => &[],
    }
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
pub fn run(args: VerifyArgs, g: &Globals) -> anyhow::Result<Outcome> {
    let json = g.json;
    let cfg = load_config(g.config_path(), &Default::default())?;
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
    let keys = signatures::Keys::webhook(&integration.webhook_secrets)
        .with_app(app_secret(integration, &scheme));
    let result = signatures::verify_with(&scheme, &req, keys, &opts);
    let n = integration.webhook_secrets.len();
    match result {
        Ok(v) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "ok": true, "scheme": scheme.name(), "secret_index": v.secret_index,
                        "key": match v.key {
                            signatures::KeyRole::Webhook => "webhook_secrets",
                            signatures::KeyRole::App => "client_secret",
                            signatures::KeyRole::Provider => "provider_key",
                        },
                        "timestamp": v.timestamp, "id": v.id,
                    })
                );
            } else {
                let when = v
                    .timestamp
                    .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                    .map(|t| format!(", signed at {}", t.to_rfc3339()))
                    .unwrap_or_default();
                match v.key {
                    signatures::KeyRole::Webhook => println!(
                        "valid: {} signature matched webhook_secrets[{}] ({} configured){when}",
                        scheme.name(),
                        v.secret_index,
                        n
                    ),
                    signatures::KeyRole::App => println!(
                        "valid: {} signature matched the integration's client_secret{when}",
                        scheme.name()
                    ),
                    signatures::KeyRole::Provider => println!(
                        "valid: {} signature matched the provider's key{when}",
                        scheme.name()
                    ),
                }
            }
            Ok(Outcome::Success)
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
            Ok(Outcome::Problem)
        }
    }
}
