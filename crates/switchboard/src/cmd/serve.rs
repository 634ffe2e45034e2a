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
use crate::local::{DbArgs, load_config, open_database};
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

/// `switchboard serve`: starts in an order where each step can trust the one before
/// (a valid configuration, then logging, the providers, the keys, the database, the
/// engine), and only then listens; stops the background work after the last request.
pub async fn run(args: ServeArgs, g: &Globals) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let config_path = g.config.clone();
    let overrides = config::Overrides {
        listen: args.listen.clone(),
        database_url: args.db.database_url.clone(),
        log_format: args.log_format.clone(),
    };
    let cfg = load_config(config_path.as_deref(), &overrides)?;
    let log = logging::init(cfg.log_format, &cfg.log_level)?;
    warn_ignored_database_keys(&cfg);
    let catalog = providers(&cfg, args.dev).await?;
    for w in cfg.integration_warnings(&catalog) {
        tracing::warn!("{w}");
    }
    let keyring = keyring(&cfg, args.dev)?;
    let (store, applied) = open_database(&cfg).await?;
    tracing::info!(backend = store.backend(), applied, "database ready");
    let engine = Engine::new(store.clone(), keyring, cfg.clone())
        .with_catalog(catalog)
        .with_dev(args.dev);
    prepare(&engine, args.dev).await?;
    // Join the instances sharing the database before the first request, so that shared
    // rate limits start from this instance's share rather than the whole limit.
    match engine.beat().await {
        Ok(live) => tracing::info!(
            instance = engine.membership().id(),
            live,
            "joined the instances sharing the database"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "first instance heartbeat failed; retrying every instance_heartbeat_ms")
        }
    }
    let (beat_stop, beat_stopped) = tokio::sync::watch::channel(false);
    let heartbeat = {
        let engine = engine.clone();
        let mut stop = beat_stopped;
        tokio::spawn(async move {
            engine
                .run_instance_heartbeat(async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                })
                .await;
        })
    };

    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; is another process using it? set listen or --listen",
                cfg.listen
            )
        })?;
    let local = listener.local_addr()?;
    let app = server::router(server::AppState::new(engine.clone()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics = serve_metrics(&cfg, &engine, stop_rx.clone()).await?;
    spawn_reloader(engine.clone(), config_path, overrides, log);
    tracing::info!(
        address = %local,
        public_url = %cfg.public_url,
        startup_ms = started.elapsed().as_millis() as u64,
        "switchboard listening"
    );

    let background = Background::spawn(&engine, stop_rx);
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
    // The server has answered its last request; the background work stops now, and
    // the database closes only after it did (or its grace ran out).
    let _ = stop_tx.send(true);
    if let Some(metrics) = metrics {
        let _ = tokio::time::timeout(Duration::from_secs(5), metrics).await;
    }
    background
        .stop(Duration::from_secs(
            engine.config().shutdown_grace_secs.max(1),
        ))
        .await;
    // Nothing is sent any more: leave, so the others take this instance's share at
    // their next heartbeat instead of after its row expires.
    let _ = beat_stop.send(true);
    if tokio::time::timeout(Duration::from_secs(5), heartbeat)
        .await
        .is_err()
    {
        tracing::warn!(
            "leaving the instances table timed out; the others take this instance's share once its row expires"
        );
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(Outcome::Success)
}

/// With `metrics_listen` set, serves `/metrics` there (and only there) until `stop`
/// turns true; a port that cannot be bound stops startup, naming the key.
async fn serve_metrics(
    cfg: &config::Config,
    engine: &Engine,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<std::io::Result<()>>>> {
    let Some(addr) = cfg.metrics_listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| {
            format!("cannot listen on {addr} (metrics_listen); is another process using it? change metrics_listen")
        })?;
    let local = listener.local_addr()?;
    let app = server::metrics_router(server::AppState::new(engine.clone()));
    tracing::info!(address = %local, "metrics served on their own listener (metrics_listen)");
    Ok(Some(tokio::spawn(server::serve(
        listener,
        app,
        async move {
            let _ = stop.wait_for(|stop| *stop).await;
        },
        || Duration::from_secs(1),
    ))))
}

/// Says which PostgreSQL pool keys are set while the database is SQLite, which ignores
/// them (a warning, not a refusal: one environment file may serve both backends).
fn warn_ignored_database_keys(cfg: &config::Config) {
    let ignored = cfg.ignored_database_keys();
    if !ignored.is_empty() {
        tracing::warn!(
            keys = %ignored.join(", "),
            "these keys tune the PostgreSQL pool and are ignored: database_url names SQLite"
        );
    }
}

/// The providers the configuration can use. Custom providers given by issuer are
/// discovered now, through the same guarded client every outbound call uses.
async fn providers(cfg: &config::Config, dev: bool) -> anyhow::Result<catalog::Catalog> {
    let outbound = engine::http::Outbound::new(
        engine::http::HostPolicy {
            dev,
            allow_hosts: cfg.allow_hosts.clone(),
        },
        Duration::from_secs(cfg.outbound_timeout_secs),
    )
    .context("building the outbound HTTP client")?;
    let catalog = engine::discovery::effective_catalog(cfg, &outbound, dev)
        .await
        .map_err(|e| anyhow::Error::new(e).context("configuration error"))?;
    tracing::info!(
        providers = catalog.len(),
        integrations = cfg.integrations.len(),
        destinations = cfg.destinations.len(),
        "configuration loaded"
    );
    Ok(catalog)
}

/// The master keys: configured, or (`--dev` only) the development key file, created if
/// needed, which is said loudly.
fn keyring(cfg: &config::Config, dev: bool) -> anyhow::Result<vault::Keyring> {
    let missing = if dev {
        Missing::CreateDevFile
    } else {
        Missing::Require
    };
    let (keyring, key_source) = master_key::keyring(cfg, missing)?;
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
    Ok(keyring)
}

/// What the engine needs before the first request: the metrics, a loud error
/// for secrets sealed under a key that is not configured, and under `--dev` a first
/// admin API key.
async fn prepare(engine: &Engine, dev: bool) -> anyhow::Result<()> {
    // The recorder first, so that what the engine sets now is kept; then every metric
    // described and the series alert rules count over present at zero.
    server::observe::metrics_handle();
    engine.init_metrics().await;
    for (id, n) in engine.unknown_secret_keys().await? {
        tracing::error!(key_id = %id, sealed_values = n, "stored secrets or authorizations in progress are sealed under a key that is not configured; add it to old_master_keys or they cannot be read");
    }
    if dev && let Some(created) = engine.bootstrap_admin_key().await? {
        use vault::ExposeSecret;
        // Printed on stdout, not through the logger, so it never reaches log storage.
        println!(
            "\n  First admin API key (shown once, store it now):\n\n    {}\n\n  Use it as: Authorization: Bearer <key>, or SWITCHBOARD_API_KEY for the CLI.\n",
            created.key.expose_secret()
        );
    }
    Ok(())
}

/// The work that runs beside the server until it stops.
struct Background {
    refresher: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
    /// The retention sweep (payloads past `payload_retention_days`).
    retention: tokio::task::JoinHandle<()>,
    /// Applies other instances' changes, when the store has a change feed.
    changes: Option<tokio::task::JoinHandle<()>>,
    /// Writes the activity counters of `switchboard status` every few seconds.
    activity: tokio::task::JoinHandle<()>,
}

impl Background {
    /// Starts the background refresher, the retention sweep, the delivery worker and, when the store has a
    /// change feed (PostgreSQL), the task that applies it; all stop when `stop` turns
    /// true.
    fn spawn(engine: &Engine, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        // Other instances' changes (deliveries due, keys revoked, connections refreshed,
        // switches flipped) as they commit; without a feed they are seen by polling.
        let changes = match engine.store().subscribe() {
            Some(feed) => {
                let engine = engine.clone();
                let mut stop = stop.clone();
                Some(tokio::spawn(async move {
                    engine
                        .follow_changes(feed, async move {
                            let _ = stop.wait_for(|stop| *stop).await;
                        })
                        .await;
                }))
            }
            None => {
                tracing::debug!(
                    backend = engine.store().backend(),
                    "this database cannot announce other processes' changes: they are seen when caches expire and when the delivery worker polls"
                );
                None
            }
        };
        // The background refresher may finish the refresh it is in when told to stop
        // (a provider may already have rotated the refresh token: its answer must be
        // written, not dropped).
        // The credential health checker runs beside it (it only works for integrations
        // with health_check_interval_secs) and stops with it.
        let refresher = {
            let engine = engine.clone();
            let mut stop = stop.clone();
            let mut stop_checks = stop.clone();
            tokio::spawn(async move {
                tokio::join!(
                    engine.run_background_refresher(async move {
                        let _ = stop.wait_for(|stop| *stop).await;
                    }),
                    engine.run_health_checker(async move {
                        let _ = stop_checks.wait_for(|stop| *stop).await;
                    }),
                );
            })
        };
        // The retention sweep: expired payloads removed in small batches, a pause
        // between them; batches are idempotent, so every instance may run it.
        let retention = {
            let engine = engine.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                engine
                    .run_retention_sweep(async move {
                        let _ = stop.wait_for(|stop| *stop).await;
                    })
                    .await;
            })
        };
        // The delivery worker: routes what intake did not (replays, internal events, a
        // crash between commit and routing) and delivers; in-flight deliveries may
        // finish within shutdown_grace_secs, and a cut one is retried after its lease
        // (at least once).
        // The activity counters (webhooks received and refused, refresh failures) go to
        // the database every few seconds, and once more at the end.
        let activity = {
            let engine = engine.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                engine
                    .run_activity_flusher(async move {
                        let _ = stop.wait_for(|stop| *stop).await;
                    })
                    .await;
            })
        };
        let worker = {
            let engine = engine.clone();
            let mut stop = stop;
            let opts = engine::pipeline::deliver::WorkerOptions {
                owner: format!("{}:{}", hostname(), std::process::id()),
                ..Default::default()
            };
            tokio::spawn(async move {
                engine
                    .run_delivery_worker(opts, async move {
                        let _ = stop.wait_for(|stop| *stop).await;
                    })
                    .await;
            })
        };
        Self {
            refresher,
            worker,
            retention,
            changes,
            activity,
        }
    }

    /// Waits up to `grace` for both to stop (they have been told to).
    async fn stop(self, grace: Duration) {
        if let Some(changes) = self.changes {
            // It only waits on the feed: it stops at once.
            let _ = tokio::time::timeout(grace, changes).await;
        }
        // A sweep stops between two batches; a batch is one short transaction.
        let _ = tokio::time::timeout(grace, self.retention).await;
        let (refresher, worker) = tokio::join!(
            tokio::time::timeout(grace, self.refresher),
            tokio::time::timeout(grace, self.worker)
        );
        if refresher.is_err() {
            tracing::warn!("the background refresher did not stop within shutdown_grace_secs");
        }
        if worker.is_err() {
            tracing::warn!(
                "deliveries still in flight after shutdown_grace_secs are retried after their lease"
            );
        }
        // After the last request and delivery: their counts are in the final flush.
        let _ = tokio::time::timeout(grace, self.activity).await;
    }
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
                    engine.init_metrics().await;
                    tracing::info!(?changed, needs_restart = ?restart, "configuration reloaded")
                }
                Err(e) => tracing::error!(error = %e, "configuration reload could not be recorded"),
            }
        }
    });
}
