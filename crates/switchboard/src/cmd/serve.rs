//! `switchboard serve`: runs the server until SIGTERM or SIGINT; SIGHUP reloads the
//! configuration.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use engine::{Actor, Engine};
use tokio::signal::unix::{SignalKind, signal};

use super::Globals;
use crate::exit::Outcome;
use crate::local::{DbArgs, load_config, open_store};
use crate::logging;
use crate::master_key::{self, KeySource, Missing};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Development mode: creates and uses a local key file when no master key is set,
    /// and creates a first admin API key.
    #[arg(long)]
    dev: bool,
    /// Listen address, IP:PORT.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    #[command(flatten)]
    db: DbArgs,
    /// Log format: human or json.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
}

/// `switchboard serve`
pub async fn run(args: ServeArgs, g: &Globals) -> anyhow::Result<Outcome> {
    let config_path = g.config.clone();
    let started = Instant::now();
    let overrides = config::Overrides {
        listen: args.listen.clone(),
        database_url: args.db.database_url.clone(),
        log_format: args.log_format.clone(),
    };
    let cfg = load_config(config_path.as_deref(), &overrides)?;
    let log = logging::init(cfg.log_format, &cfg.log_level)?;
    // Custom providers given by issuer are discovered now, through the same guarded
    // client every outbound call uses.
    let outbound = engine::http::Outbound::new(
        engine::http::HostPolicy {
            dev: args.dev,
            allow_hosts: cfg.allow_hosts.clone(),
        },
        Duration::from_secs(cfg.outbound_timeout_secs),
    )
    .context("building the outbound HTTP client")?;
    let catalog = engine::discovery::effective_catalog(&cfg, &outbound, args.dev)
        .await
        .map_err(|e| anyhow::Error::new(e).context("configuration error"))?;
    tracing::info!(
        providers = catalog.len(),
        integrations = cfg.integrations.len(),
        destinations = cfg.destinations.len(),
        "configuration loaded"
    );

    let missing = if args.dev {
        Missing::CreateDevFile
    } else {
        Missing::Require
    };
    let (keyring, key_source) = master_key::keyring(&cfg, missing)?;
    match key_source {
        KeySource::Configured => {}
        KeySource::DevFile => tracing::warn!(
            path = %cfg.dev_key_file.display(),
            "DEVELOPMENT MODE: secrets are encrypted with the local dev key file; set SWITCHBOARD_MASTER_KEY in production"
        ),
        KeySource::DevFileCreated => tracing::warn!(
            path = %cfg.dev_key_file.display(),
            "DEVELOPMENT MODE: created a new dev key file (mode 0600); secrets stored now need this file to be read again; set SWITCHBOARD_MASTER_KEY in production"
        ),
    }
    tracing::info!(primary_key_id = %keyring.primary().id(), old_keys = keyring.key_ids().len() - 1, "master keys loaded");

    let store = open_store(&cfg.database_url).await?;
    let applied = store.migrate().await.context("applying migrations")?;
    tracing::info!(backend = store.backend(), applied, "database ready");

    let engine = Engine::new(store.clone(), keyring, cfg.clone())
        .with_catalog(catalog)
        .with_dev(args.dev);
    engine.refresh_connection_gauges().await;
    for (id, n) in engine.unknown_secret_keys().await? {
        tracing::error!(key_id = %id, secrets = n, "stored secrets are sealed under a key that is not configured; add it to old_master_keys or they cannot be read");
    }
    if args.dev
        && let Some(created) = engine.bootstrap_admin_key().await?
    {
        use vault::ExposeSecret;
        // Printed on stdout, not through the logger, so it never reaches log storage.
        println!(
            "\n  First admin API key (shown once, store it now):\n\n    {}\n\n  Use it as: Authorization: Bearer <key>, or SWITCHBOARD_API_KEY for the CLI.\n",
            created.key.expose_secret()
        );
    }

    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another process using it? set listen or --listen",
                cfg.listen
            )
        })?;
    let local = listener.local_addr()?;
    let state = server::AppState::new(engine.clone());
    let app = server::router(state);

    spawn_reloader(engine.clone(), config_path, overrides, log);

    tracing::info!(
        address = %local,
        public_url = %cfg.public_url,
        startup_ms = started.elapsed().as_millis() as u64,
        "switchboard listening"
    );
    // The background refresher stops with the server and may finish the refresh it is
    // in (a provider may already have rotated the refresh token: its answer must be
    // written, not dropped).
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let refresher = {
        let engine = engine.clone();
        tokio::spawn(async move {
            engine
                .run_background_refresher(async move {
                    let _ = stop_rx.wait_for(|stop| *stop).await;
                })
                .await;
        })
    };
    // The delivery worker: routes what intake did not (replays, internal events, a
    // crash between commit and routing) and delivers; in-flight deliveries may finish
    // within shutdown_grace_secs, and a cut one is retried after its lease (at least once).
    let worker = {
        let engine = engine.clone();
        let mut stop_rx = stop_tx.subscribe();
        let opts = engine::pipeline::deliver::WorkerOptions {
            owner: format!("{}:{}", hostname(), std::process::id()),
            ..Default::default()
        };
        tokio::spawn(async move {
            engine
                .run_delivery_worker(opts, async move {
                    let _ = stop_rx.wait_for(|stop| *stop).await;
                })
                .await;
        })
    };
    let live = engine.clone();
    let stop = stop_tx.clone();
    server::serve(
        listener,
        app,
        async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        },
        move || Duration::from_secs(live.config().shutdown_grace_secs),
    )
    .await
    .context("server failed")?;
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(engine.config().shutdown_grace_secs.max(1));
    let (refresher, worker) = tokio::join!(
        tokio::time::timeout(grace, refresher),
        tokio::time::timeout(grace, worker)
    );
    if refresher.is_err() {
        tracing::warn!("the background refresher did not stop within shutdown_grace_secs");
    }
    if worker.is_err() {
        tracing::warn!(
            "deliveries still in flight after shutdown_grace_secs are retried after their lease"
        );
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(Outcome::Success)
}

/// This machine's name, for lease owners (operators see who holds a delivery).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "switchboard".into())
}

async fn shutdown_signal() {
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}

/// Reloads the configuration on SIGHUP. An invalid file is refused and the running
/// configuration stays in force.
fn spawn_reloader(
    engine: Engine,
    path: Option<PathBuf>,
    overrides: config::Overrides,
    log: logging::FilterHandle,
) {
    tokio::spawn(async move {
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot watch SIGHUP; config reload is unavailable");
                return;
            }
        };
        while hup.recv().await.is_some() {
            let new = match config::Config::load(path.as_deref(), &config::ProcessEnv, &overrides) {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "config reload refused; the running configuration stays in force");
                    continue;
                }
            };
            match logging::filter(&new.log_level) {
                Ok(f) => {
                    if let Err(e) = log.reload(f) {
                        tracing::error!(error = %e, "cannot apply the new log_level");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "config reload refused; the running configuration stays in force");
                    continue;
                }
            }
            match engine.reload_config(new, &Actor::Signal("SIGHUP")).await {
                Ok((changed, restart)) => {
                    tracing::info!(?changed, needs_restart = ?restart, "configuration reloaded")
                }
                Err(e) => tracing::error!(error = %e, "configuration reload could not be recorded"),
            }
        }
    });
}
