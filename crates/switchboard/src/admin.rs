//! Admin verbs: migrate, config check, key rotation, API keys, audit log. Verbs that
//! have an API go through a running server when an API key is given, and act on the
//! local database otherwise.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use engine::{Actor, Engine};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use store::{Scope, Store};
use vault::{ExposeSecret, SecretString};

use crate::keys::{self, Missing};
use crate::{ApiKeyCmd, AuditCmd, DbArgs, Target};

/// The providers the configuration can use (built-in and custom), checked against its
/// integrations; see [`config::Config::catalog`].
pub fn catalog_of(cfg: &config::Config, dev: bool) -> anyhow::Result<catalog::Catalog> {
    let (cat, pending) = cfg
        .catalog(dev)
        .map_err(|e| anyhow::anyhow!("configuration error: {e}"))?;
    for id in pending {
        tracing::warn!(
            provider = %id,
            "custom provider is given by issuer: `serve` discovers its endpoints at start; this command did not fetch them"
        );
    }
    Ok(cat)
}

/// Loads and validates the configuration, as `serve` does.
pub fn load_config(
    path: Option<&Path>,
    overrides: &config::Overrides,
) -> anyhow::Result<config::Config> {
    config::Config::load(path, &config::ProcessEnv, overrides)
        .map_err(|e| anyhow::anyhow!("configuration error: {e}"))
}

fn db_overrides(db: &DbArgs) -> config::Overrides {
    config::Overrides {
        database_url: db.database_url.clone(),
        ..Default::default()
    }
}

/// Opens the store named by `url`. The one place that picks an implementation.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let s = store_sqlite::SqliteStore::connect(url)
            .await
            .with_context(|| format!("opening {url}"))?;
        Ok(Arc::new(s))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        bail!("database_url: PostgreSQL is not supported by this build yet; use sqlite://PATH")
    } else {
        bail!("database_url: unsupported scheme in {url:?}; use sqlite://PATH")
    }
}

fn cli_actor() -> Actor {
    Actor::Cli {
        user: std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown".into()),
    }
}

async fn local_engine(config_path: Option<&Path>, db: &DbArgs) -> anyhow::Result<Engine> {
    let cfg = load_config(config_path, &db_overrides(db))?;
    let (keyring, _) = keys::keyring(&cfg, Missing::UseDevFile)?;
    let store = open_store(&cfg.database_url).await?;
    store.migrate().await.context("applying migrations")?;
    Ok(Engine::new(store, keyring, cfg))
}

/// Converts an engine value to the client's type for it, through the JSON the API would
/// send, so that local and remote verbs print the same thing.
fn as_wire<T: Serialize, U: serde::de::DeserializeOwned>(v: &T) -> anyhow::Result<U> {
    Ok(serde_json::from_value(serde_json::to_value(v)?)?)
}

/// Prints a value as pretty JSON (`--json`).
pub fn print_json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Prints rows as an aligned table.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!(
        "{}",
        line(headers.iter().map(|h| h.to_uppercase()).collect())
    );
    for r in rows {
        println!("{}", line(r.clone()));
    }
}

/// A time for a table cell (`-` when absent).
pub fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// `switchboard migrate`
pub async fn migrate(
    config_path: Option<std::path::PathBuf>,
    db: DbArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let cfg = load_config(config_path.as_deref(), &db_overrides(&db))?;
    let store = open_store(&cfg.database_url).await?;
    let applied = store.migrate().await.context("applying migrations")?;
    store.close().await;
    if json {
        print_json(&serde_json::json!({ "applied": applied, "database": store.backend() }))?;
    } else {
        println!(
            "{applied} migration(s) applied; the {} database is up to date",
            store.backend()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `switchboard config check`
pub fn config_check(
    config_path: Option<std::path::PathBuf>,
    dev: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let loaded = config::Config::load(
        config_path.as_deref(),
        &config::ProcessEnv,
        &Default::default(),
    )
    .and_then(|c| c.catalog(dev).map(|_| c));
    let cfg = match loaded {
        Ok(c) => c,
        Err(e) => {
            if json {
                print_json(&serde_json::json!({ "ok": false, "error": e.to_string() }))?;
            } else {
                eprintln!("configuration error: {e}");
            }
            return Ok(ExitCode::from(2));
        }
    };
    let file = cfg.file.as_ref().map(|p| p.display().to_string());
    let shown = |k: &str| -> String {
        match k {
            "listen" => cfg.listen.to_string(),
            "database_url" => cfg.database_url.clone(),
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
    Ok(ExitCode::SUCCESS)
}

/// Which per-integration switch `set_flag` turns.
#[derive(Debug, Clone, Copy)]
pub enum Flag {
    /// `webhook block|unblock`
    WebhooksBlocked,
    /// `integration disable|enable`
    Disabled,
}

/// `switchboard webhook block|unblock` and `integration disable|enable`: act on the
/// database, so every server sharing it follows on its next request.
pub async fn set_flag(
    config_path: Option<std::path::PathBuf>,
    db: DbArgs,
    integration: &str,
    flag: Flag,
    on: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let engine = local_engine(config_path.as_deref(), &db).await?;
    let actor = cli_actor();
    let r = match flag {
        Flag::WebhooksBlocked => engine.set_webhooks_blocked(integration, on, &actor).await,
        Flag::Disabled => {
            engine
                .set_integration_disabled(integration, on, &actor)
                .await
        }
    };
    engine.store().close().await;
    let changed = r?;
    let (key, state) = match (flag, on) {
        (Flag::WebhooksBlocked, true) => ("blocked", "blocked"),
        (Flag::WebhooksBlocked, false) => ("blocked", "accepting webhooks"),
        (Flag::Disabled, true) => ("disabled", "disabled"),
        (Flag::Disabled, false) => ("disabled", "enabled"),
    };
    if json {
        print_json(
            &serde_json::json!({ "integration": integration, key: on, "changed": changed }),
        )?;
    } else if changed {
        println!("integration {integration} is now {state}");
    } else {
        println!("integration {integration} was already {state}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `switchboard integration list`
pub async fn integrations(
    config_path: Option<std::path::PathBuf>,
    db: DbArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let engine = local_engine(config_path.as_deref(), &db).await?;
    let r = engine.integration_states().await;
    engine.store().close().await;
    let rows = r?;
    if json {
        return print_json(&rows).map(|()| ExitCode::SUCCESS);
    }
    let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
    let cells: Vec<Vec<String>> = rows
        .into_iter()
        .map(|i| {
            vec![
                i.id,
                i.provider,
                if i.disabled {
                    "disabled".into()
                } else {
                    "enabled".into()
                },
                yes(i.accepts_webhooks),
                yes(i.webhooks_blocked),
            ]
        })
        .collect();
    print_table(&["id", "provider", "state", "webhooks", "blocked"], &cells);
    Ok(ExitCode::SUCCESS)
}

/// `switchboard keys rotate`
pub async fn rotate(
    config_path: Option<std::path::PathBuf>,
    db: DbArgs,
    batch: u32,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let engine = local_engine(config_path.as_deref(), &db).await?;
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} re-encrypting [{bar:40}] {pos}/{len} secrets ({eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let result = engine
        .rotate_keys(batch, &cli_actor(), &|p| {
            bar.set_length(p.total);
            bar.set_position(p.rewritten + p.skipped);
        })
        .await;
    bar.finish_and_clear();
    engine.store().close().await;
    let p = result?;
    let primary = engine.keyring().primary().id().to_string();
    if json {
        print_json(
            &serde_json::json!({ "primary_key_id": primary, "rewritten": p.rewritten, "skipped": p.skipped }),
        )?;
    } else {
        println!(
            "every secret is now sealed under key {primary} ({} re-encrypted, {} already rewritten by others); old_master_keys can be removed",
            p.rewritten, p.skipped
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn remote(target: &Target) -> anyhow::Result<Option<client::Client>> {
    match &target.api_key {
        Some(k) if !k.is_empty() => Ok(Some(client::Client::new(
            &target.url,
            SecretString::from(k.clone()),
        )?)),
        _ => Ok(None),
    }
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
pub async fn api_key(
    config_path: Option<std::path::PathBuf>,
    cmd: ApiKeyCmd,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match cmd {
        ApiKeyCmd::Create {
            name,
            scope,
            target,
        } => {
            let (row, key): (client::ApiKey, SecretString) = match remote(&target)? {
                Some(c) => {
                    let created = c.create_api_key(&name, &scope).await?;
                    (created.info, created.key)
                }
                None => {
                    let engine = local_engine(config_path.as_deref(), &target.db).await?;
                    let scope = Scope::parse(&scope).context("scope must be admin or app")?;
                    let created = engine.create_api_key(&name, scope, &cli_actor()).await?;
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
            let rows: Vec<client::ApiKey> = match remote(&target)? {
                Some(c) => c.list_api_keys().await?,
                None => {
                    let engine = local_engine(config_path.as_deref(), &target.db).await?;
                    let keys = engine.list_api_keys().await?;
                    engine.store().close().await;
                    as_wire(&keys)?
                }
            };
            print_keys(rows, json)?;
        }
        ApiKeyCmd::Revoke { id, target } => {
            let row: client::ApiKey = match remote(&target)? {
                Some(c) => c.revoke_api_key(&id).await?,
                None => {
                    let engine = local_engine(config_path.as_deref(), &target.db).await?;
                    let r = engine.revoke_api_key(&id, &cli_actor()).await;
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
    Ok(ExitCode::SUCCESS)
}

/// `switchboard audit …`
pub async fn audit(
    config_path: Option<std::path::PathBuf>,
    cmd: AuditCmd,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCmd::List {
            limit,
            cursor,
            target,
        } => {
            let (rows, next): (Vec<client::AuditRow>, Option<String>) = match remote(&target)? {
                Some(c) => {
                    let p = c.audit(limit, cursor.as_deref()).await?;
                    (p.data, p.next_cursor)
                }
                None => {
                    let engine = local_engine(config_path.as_deref(), &target.db).await?;
                    let p = engine.list_audit(cursor.as_deref(), limit).await;
                    engine.store().close().await;
                    let p = p?;
                    let rows = as_wire(&p.data)?;
                    (rows, p.next_cursor)
                }
            };
            if json {
                print_json(&serde_json::json!({ "data": rows, "next_cursor": next }))?;
            } else {
                let cells: Vec<Vec<String>> = rows
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.seq.to_string(),
                            time(Some(r.at)),
                            r.actor,
                            r.action,
                            r.target,
                            r.details.to_string(),
                        ]
                    })
                    .collect();
                print_table(
                    &["seq", "at", "actor", "action", "target", "details"],
                    &cells,
                );
                if let Some(n) = next {
                    println!("(more: --cursor {n})");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCmd::Verify { target } => {
            let v: client::AuditVerification = match remote(&target)? {
                Some(c) => c.verify_audit().await?,
                None => {
                    let engine = local_engine(config_path.as_deref(), &target.db).await?;
                    let bar = if json {
                        ProgressBar::hidden()
                    } else {
                        ProgressBar::new_spinner()
                    };
                    let r = engine
                        .verify_audit(&|n| bar.set_message(format!("{n} rows checked")))
                        .await;
                    bar.finish_and_clear();
                    engine.store().close().await;
                    let r = r?;
                    as_wire(&r)?
                }
            };
            if json {
                print_json(&v)?;
            } else if v.ok {
                println!("audit log intact: {} rows verified", v.rows_checked);
            } else {
                println!(
                    "audit log TAMPERED: first bad row is seq {} ({}); {} rows checked",
                    v.first_bad_seq.unwrap_or_default(),
                    v.problem.map(|p| p.to_string()).unwrap_or_default(),
                    v.rows_checked
                );
            }
            Ok(if v.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
