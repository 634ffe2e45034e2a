//! `switchboard api-key create|list|revoke`: API keys for the admin and app APIs,
//! through a running server when an admin key is given, on the local database otherwise.

use anyhow::Context;
use clap::Subcommand;
use store::Scope;
use vault::{ExposeSecret, SecretString};

use super::Globals;
use crate::exit::Outcome;
use crate::local::{self, as_wire};
use crate::output::{print_json, print_table, time};
use crate::remote::Target;

/// `switchboard api-key …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCmd {
    /// Create a key; it is printed once.
    Create {
        /// A name for the key (who or what uses it).
        name: String,
        /// admin (everything) or app (the app backend's routes).
        #[arg(long, default_value = "app", value_parser = ["admin", "app"])]
        scope: String,
        #[command(flatten)]
        target: Target,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a key by id; it stops working at once.
    Revoke {
        /// The key's id (the 12 characters after `sb_`).
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

fn print_keys(rows: Vec<client::ApiKey>, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&rows);
    }
    let cells: Vec<Vec<String>> = rows
        .into_iter()
        .map(|k| {
            vec![
                k.id,
                k.name,
                k.scope,
                time(Some(k.created_at)),
                time(k.last_used_at),
                time(k.revoked_at),
            ]
        })
        .collect();
    print_table(
        &["id", "name", "scope", "created", "last used", "revoked"],
        &cells,
    );
    Ok(())
}

/// `switchboard api-key …`
pub async fn run(cmd: ApiKeyCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let (config_path, json) = (g.config_path(), g.json);
    match cmd {
        ApiKeyCmd::Create {
            name,
            scope,
            target,
        } => {
            let (row, key): (client::ApiKey, SecretString) = match target.client()? {
                Some(c) => {
                    let created = c.create_api_key(&name, &scope).await?;
                    (created.info, created.key)
                }
                None => {
                    let engine = local::engine(config_path, &target.db).await?;
                    let scope = Scope::parse(&scope).context("scope must be admin or app")?;
                    let created = engine
                        .create_api_key(&name, scope, &local::cli_actor())
                        .await?;
                    engine.store().close().await;
                    (as_wire(&created.info)?, created.key)
                }
            };
            if json {
                let mut v = serde_json::to_value(&row)?;
                v["key"] = serde_json::Value::String(key.expose_secret().to_owned());
                print_json(&v)?;
            } else {
                println!("created {} key {:?} (id {})", row.scope, row.name, row.id);
                println!("\n    {}\n", key.expose_secret());
                println!("This is the only time the key is shown: store it now.");
            }
        }
        ApiKeyCmd::List { target } => {
            let rows: Vec<client::ApiKey> = match target.client()? {
                Some(c) => c.list_api_keys().await?,
                None => {
                    let engine = local::engine(config_path, &target.db).await?;
                    let keys = engine.list_api_keys().await?;
                    engine.store().close().await;
                    as_wire(&keys)?
                }
            };
            print_keys(rows, json)?;
        }
        ApiKeyCmd::Revoke { id, target } => {
            let row: client::ApiKey = match target.client()? {
                Some(c) => c.revoke_api_key(&id).await?,
                None => {
                    let engine = local::engine(config_path, &target.db).await?;
                    let r = engine.revoke_api_key(&id, &local::cli_actor()).await;
                    engine.store().close().await;
                    as_wire(&r?)?
                }
            };
            if json {
                print_json(&row)?;
            } else {
                println!(
                    "revoked key {} ({:?}); it no longer authenticates",
                    row.id, row.name
                );
            }
        }
    }
    Ok(Outcome::Success)
}
