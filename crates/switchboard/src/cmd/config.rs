//! `switchboard config check|default`: validate the configuration exactly as `serve`
//! would (exit 1 when it has a problem), or print the documented default file.

use clap::Subcommand;

use super::Globals;
use crate::exit::Outcome;
use crate::output::{print_json, print_table};

/// `switchboard config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate the configuration exactly as `serve` would, and show where each value
    /// comes from (never secret values).
    Check {
        /// Check as `serve --dev` would (allows http:// loopback custom providers).
        #[arg(long)]
        dev: bool,
    },
    /// Print the documented default configuration file.
    Default,
}

/// `switchboard config …`
pub async fn run(cmd: ConfigCmd, g: &Globals) -> anyhow::Result<Outcome> {
    match cmd {
        ConfigCmd::Check { dev } => check(g, dev),
        ConfigCmd::Default => {
            print!("{}", config::DEFAULT_FILE);
            Ok(Outcome::Success)
        }
    }
}

/// `switchboard config check`
fn check(g: &Globals, dev: bool) -> anyhow::Result<Outcome> {
    let json = g.json;
    let loaded = config::Config::load(g.config_path(), &config::ProcessEnv, &Default::default())
        .and_then(|c| c.catalog(dev).map(|(cat, _)| (c, cat)));
    let cfg = match loaded {
        Ok((c, cat)) => {
            // stderr: under --json stdout holds only the report.
            for w in c.integration_warnings(&cat) {
                eprintln!("warning: {w}");
            }
            c
        }
        // A file that cannot be read was not checked at all: an error, not a finding.
        Err(e @ config::ConfigError::Unreadable { .. }) => {
            return Err(anyhow::Error::new(e).context("configuration error"));
        }
        Err(e) => {
            if json {
                print_json(&serde_json::json!({
                    "ok": false,
                    "error": { "code": "invalid_config", "message": e.to_string() },
                }))?;
            } else {
                eprintln!("configuration error: {e}");
            }
            return Ok(Outcome::Problem);
        }
    };
    let ignored = cfg.ignored_database_keys();
    if !ignored.is_empty() {
        // stderr: under --json stdout holds only the report.
        eprintln!(
            "warning: {} tune the PostgreSQL pool and are ignored: database_url names SQLite",
            ignored.join(", ")
        );
    }
    let file = cfg.file.as_ref().map(|p| p.display().to_string());
    let shown = |k: &str| -> String {
        match k {
            "listen" => cfg.listen.to_string(),
            "database_url" => crate::local::shown_url(&cfg.database_url),
            "database_max_connections" => cfg.database_max_connections.to_string(),
            "database_acquire_timeout_secs" => cfg.database_acquire_timeout_secs.to_string(),
            "database_statement_timeout_secs" => match cfg.database_statement_timeout_secs {
                0 => "0 (the server's)".to_owned(),
                n => n.to_string(),
            },
            "public_url" => cfg.public_url.clone(),
            "master_key" => {
                if cfg.master_key.is_some() {
                    "(set)".into()
                } else {
                    "(not set: serve needs it unless --dev)".into()
                }
            }
            "old_master_keys" => format!("({} set)", cfg.old_master_keys.len()),
            "dev_key_file" => cfg.dev_key_file.display().to_string(),
            "log_format" => format!("{:?}", cfg.log_format).to_lowercase(),
            "log_level" => cfg.log_level.clone(),
            "request_timeout_secs" => cfg.request_timeout_secs.to_string(),
            "shutdown_grace_secs" => cfg.shutdown_grace_secs.to_string(),
            "max_body_bytes" => cfg.max_body_bytes.to_string(),
            "allow_hosts" => cfg.allow_hosts.join(","),
            "outbound_timeout_secs" => cfg.outbound_timeout_secs.to_string(),
            "token_refresh_margin_secs" => cfg.token_refresh_margin_secs.to_string(),
            "refresh_lease_secs" => cfg.refresh_lease_secs.to_string(),
            "connect_session_ttl_secs" => cfg.connect_session_ttl_secs.to_string(),
            "background_refresh_interval_secs" => cfg.background_refresh_interval_secs.to_string(),
            "background_refresh_concurrency" => cfg.background_refresh_concurrency.to_string(),
            "proxy_max_wait_secs" => cfg.proxy_max_wait_secs.to_string(),
            "proxy_max_body_bytes" => cfg.proxy_max_body_bytes.to_string(),
            "proxy_redact_query" => cfg.proxy_redact_query.join(","),
            "api_key_cache_secs" => cfg.api_key_cache_secs.to_string(),
            "instance_heartbeat_ms" => cfg.instance_heartbeat_ms.to_string(),
            "metrics_listen" => cfg
                .metrics_listen
                .map_or_else(|| "(not set: /metrics on listen)".into(), |a| a.to_string()),
            "metrics_key" => if cfg.metrics_key.is_some() {
                "(set)"
            } else {
                "(not set)"
            }
            .into(),
            "payload_retention_days" => match cfg.payload_retention_days {
                0 => "0 (kept forever)".to_owned(),
                n => n.to_string(),
            },
            "retention_sweep_interval_secs" => cfg.retention_sweep_interval_secs.to_string(),
            _ => String::new(),
        }
    };
    let rows: Vec<Vec<String>> = config::KEYS
        .iter()
        .map(|(k, _)| {
            let src = cfg
                .sources
                .get(k)
                .map(ToString::to_string)
                .unwrap_or_else(|| "default".into());
            vec![(*k).to_owned(), shown(k), src]
        })
        .collect();
    if json {
        let keys: serde_json::Map<String, serde_json::Value> = rows
            .iter()
            .map(|r| {
                (
                    r[0].clone(),
                    serde_json::json!({ "value": r[1], "source": r[2] }),
                )
            })
            .collect();
        print_json(&serde_json::json!({
            "ok": true, "file": file, "keys": keys,
            "integrations": cfg.integrations.iter().map(|i| &i.id).collect::<Vec<_>>(),
            "destinations": cfg.destinations.iter().map(|d| &d.id).collect::<Vec<_>>(),
        }))?;
    } else {
        println!(
            "configuration OK ({})",
            file.as_deref()
                .unwrap_or("no file; defaults and environment")
        );
        print_table(&["key", "value", "source"], &rows);
        let ids = |v: Vec<&str>| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        println!(
            "integrations: {}\ndestinations: {}",
            ids(cfg.integrations.iter().map(|i| i.id.as_str()).collect()),
            ids(cfg.destinations.iter().map(|d| d.id.as_str()).collect())
        );
    }
    Ok(Outcome::Success)
}
