//! `switchboard providers list|show`: the built-in catalog plus custom providers.

use std::path::Path;

use anyhow::Context;
use clap::Subcommand;

use super::Globals;
use crate::exit::Outcome;
use crate::local::{catalog_of, load_config};
use crate::output::{print_json, print_table};

/// `switchboard providers …`
#[derive(Debug, Subcommand)]
pub enum ProvidersCmd {
    /// List every provider: id, name, auth mode, webhook scheme.
    List,
    /// Show one provider's full definition (TOML, or JSON with --json), with the date it
    /// was verified against the provider's docs and the sources of its facts.
    Show {
        /// The provider's id.
        id: String,
    },
}

/// The catalog of the configuration, or the built-in one when the configuration does not
/// load (browsing the catalog must not need a valid config; the problem is reported).
fn catalog(config_path: Option<&Path>) -> (catalog::Catalog, Vec<String>) {
    let custom = |c: &config::Config| c.providers.iter().map(|p| p.id.clone()).collect();
    match load_config(config_path, &Default::default())
        .and_then(|c| Ok((catalog_of(&c, false)?, custom(&c))))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("warning: {e:#}; showing the built-in providers only");
            (catalog::Catalog::builtin().clone(), Vec::new())
        }
    }
}

/// `switchboard providers …`
pub async fn run(cmd: ProvidersCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let json = g.json;
    let (cat, custom) = catalog(g.config_path());
    match cmd {
        ProvidersCmd::List => {
            let rows: Vec<serde_json::Value> = cat
                .list()
                .map(|p| {
                    serde_json::json!({
                        "id": p.id,
                        "name": p.name,
                        "auth_mode": p.auth_mode.name(),
                        "webhook_scheme": p.webhook_scheme().map(|s| s.name()),
                        "custom": custom.contains(&p.id),
                    })
                })
                .collect();
            if json {
                print_json(&rows)?;
            } else {
                let cells: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        let s = |k: &str| r[k].as_str().unwrap_or("-").to_owned();
                        let mut id = s("id");
                        if r["custom"] == true {
                            id.push_str(" (custom)");
                        }
                        vec![id, s("name"), s("auth_mode"), s("webhook_scheme")]
                    })
                    .collect();
                print_table(&["id", "name", "auth", "webhook scheme"], &cells);
            }
        }
        ProvidersCmd::Show { id } => {
            let p = cat.require(&id)?;
            if json {
                print_json(p)?;
            } else {
                print!("{}", provenance(p));
                print!(
                    "{}",
                    toml::to_string_pretty(p).context("rendering the provider")?
                );
            }
        }
    }
    Ok(Outcome::Success)
}

/// When the entry was verified and where its facts come from, as TOML comments above it.
fn provenance(p: &catalog::Provider) -> String {
    let mut out = match p.verified {
        Some(d) => format!("# Verified against the provider's documentation on {d}.\n"),
        None => "# Not verified: a custom provider from the configuration.\n".to_owned(),
    };
    let sources = p.sources.entries();
    if !sources.is_empty() {
        out.push_str("# Sources:\n");
        let width = sources.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, url) in sources {
            out.push_str(&format!("#   {k:<width$}  {url}\n"));
        }
    }
    out.push('\n');
    out
}
