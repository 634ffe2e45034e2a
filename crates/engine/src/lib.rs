//! Switchboard's engine: every decision, none of the transport.
//!
//! The server parses HTTP and calls the engine; the engine decides and keeps state
//! through the [`store::Store`] trait. It never parses HTTP requests and never speaks
//! SQL. Secrets are sealed with the [`vault`] before they reach the store.

#![deny(missing_docs)]

pub mod activity;
pub mod api_keys;
pub mod audit;
mod changes;
pub mod clock;
pub mod connections;
pub mod console;
pub mod console_oidc;
pub mod discovery;
mod error;
mod gcra;
pub mod http;
pub mod ids;
pub mod instances;
pub mod metrics;
pub mod oidc;
pub mod pipeline;
pub mod privacy;
pub mod proxy;
pub mod secrets;
pub mod security;
pub mod status;
mod ttl_cache;
pub mod webhook_keys;
pub mod webhooks;

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use store::Store;
use vault::Keyring;

pub use clock::{Clock, ManualClock};
pub use error::EngineError;

/// Result alias for engine operations.
pub type EngineResult<T> = Result<T, EngineError>;

/// Who performs an action; written to the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A request authenticated with an API key.
    ApiKey {
        /// The key's public id.
        id: String,
    },
    /// The command-line tool acting on the database directly.
    Cli {
        /// The operating-system user.
        user: String,
    },
    /// Switchboard itself (startup bootstrap, background jobs).
    System,
    /// A signal, e.g. `SIGHUP` for a config reload.
    Signal(&'static str),
    /// A person signed in to the admin console with an OpenID Connect provider.
    Oidc {
        /// The e-mail address the provider vouched for.
        email: String,
    },
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::ApiKey { id } => write!(f, "api-key:{id}"),
            Actor::Cli { user } => write!(f, "cli:{user}"),
            Actor::System => f.write_str("system"),
            Actor::Signal(s) => write!(f, "signal:{s}"),
            Actor::Oidc { email } => write!(f, "oidc:{email}"),
        }
    }
}

/// The engine: shared by every request, cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    /// Every time the engine reads or waits for (see [`clock`]).
    clock: Clock,
    keyring: Keyring,
    config: ArcSwap<config::Config>,
    catalog: catalog::Catalog,
    reject_log: webhooks::RejectLog,
    flags: webhooks::FlagsCache,
    /// `serve --dev`: loopback providers over http allowed.
    dev: bool,
    outbound: ArcSwap<http::Outbound>,
    id_tokens: oidc::IdTokenValidator,
    refresh_locks: connections::RefreshLocks,
    /// Integrations whose rotating provider already answered a refresh without a new
    /// refresh token in this process (audited once each).
    not_rotated_seen: std::sync::Mutex<std::collections::HashSet<String>>,
    pipeline: pipeline::Pipeline,
    /// The delivery worker's circuit breakers, for `switchboard status`.
    gate: pipeline::deliver::PublishedGate,
    proxy: proxy::Shared,
    /// Connection changes, told to the proxy's credential cache.
    changes: changes::ConnectionChanges,
    api_keys: api_keys::KeyCache,
    /// This instance among those sharing the database, and its rate-limit shares.
    membership: Arc<instances::Membership>,
    /// Counts for `switchboard status`, written every few seconds.
    activity: activity::Activity,
    /// Webhook keys fetched from providers (Plaid, PayPal).
    webhook_keys: webhook_keys::KeyCache,
}

fn outbound_for(cfg: &config::Config, dev: bool) -> http::Outbound {
    let policy = http::HostPolicy {
        dev,
        allow_hosts: cfg.allow_hosts.clone(),
    };
    let timeout = std::time::Duration::from_secs(cfg.outbound_timeout_secs);
    match http::Outbound::new(policy.clone(), timeout) {
        Ok(o) => o,
        Err(e) => {
            // Building a client only fails when the TLS backend cannot initialise.
            tracing::error!(error = %e, "cannot build the outbound HTTP client; retrying with defaults");
            http::Outbound::new(policy, std::time::Duration::from_secs(30))
                .unwrap_or_else(|e| panic!("no usable HTTP client: {e}"))
        }
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.inner.store.backend())
            .field("keys", &self.inner.keyring.key_ids())
            .finish()
    }
}

impl Engine {
    /// Builds an engine over a migrated store, on the system clock.
    pub fn new(store: Arc<dyn Store>, keyring: Keyring, config: config::Config) -> Self {
        let outbound = outbound_for(&config, false);
        let proxy = proxy::Shared::default();
        let changes = changes::ConnectionChanges::new(vec![proxy.watcher()]);
        Self {
            inner: Arc::new(Inner {
                store,
                clock: Clock::system(),
                keyring,
                config: ArcSwap::from_pointee(config),
                catalog: catalog::Catalog::builtin().clone(),
                reject_log: webhooks::RejectLog::default(),
                flags: webhooks::FlagsCache::default(),
                dev: false,
                outbound: ArcSwap::from_pointee(outbound),
                id_tokens: oidc::IdTokenValidator::new(),
                refresh_locks: connections::RefreshLocks::default(),
                not_rotated_seen: Default::default(),
                pipeline: pipeline::Pipeline::default(),
                gate: pipeline::deliver::PublishedGate::default(),
                proxy,
                changes,
                api_keys: api_keys::key_cache(),
                membership: Arc::new(instances::Membership::new()),
                activity: activity::Activity::default(),
                webhook_keys: webhook_keys::KeyCache::default(),
            }),
        }
    }

    /// Development mode (`serve --dev`): providers on loopback and over `http://` are
    /// allowed. Call it before the engine is shared.
    pub fn with_dev(mut self, dev: bool) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => {
                inner.dev = dev;
                inner
                    .outbound
                    .store(Arc::new(outbound_for(&inner.config.load(), dev)));
            }
            None => tracing::error!("with_dev called on a shared engine; ignored"),
        }
        self
    }

    /// Reads and waits for time on `clock` instead of the system's (tests pass a
    /// [`ManualClock`]'s). Call it before the engine is shared.
    pub fn with_clock(mut self, clock: impl Into<Clock>) -> Self {
        let clock = clock.into();
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => {
                inner.id_tokens = inner.id_tokens.clone().with_clock(clock.clone());
                inner.clock = clock;
            }
            None => tracing::error!("with_clock called on a shared engine; keeping its clock"),
        }
        self
    }

    /// The clock every decision of the engine reads.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// Wall time on the engine's clock, in milliseconds.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// Monotonic time on the engine's clock.
    pub(crate) fn instant(&self) -> std::time::Instant {
        self.inner.clock.instant()
    }

    /// Whether the engine runs in development mode.
    pub fn dev(&self) -> bool {
        self.inner.dev
    }

    /// The outbound HTTP client (SSRF-guarded) in force.
    pub fn outbound(&self) -> Arc<http::Outbound> {
        self.inner.outbound.load_full()
    }

    /// Uses `catalog` (built-in plus custom providers, from
    /// [`config::Config::catalog`]) instead of the built-in one. Call it before the engine
    /// is shared.
    pub fn with_catalog(mut self, catalog: catalog::Catalog) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.catalog = catalog,
            None => tracing::error!(
                "with_catalog called on a shared engine; keeping the previous catalog"
            ),
        }
        self
    }

    /// The provider catalog in use.
    pub fn catalog(&self) -> &catalog::Catalog {
        &self.inner.catalog
    }

    /// The store (for readiness checks).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The key ring.
    pub fn keyring(&self) -> &Keyring {
        &self.inner.keyring
    }

    /// The configuration now in force.
    pub fn config(&self) -> Arc<config::Config> {
        self.inner.config.load_full()
    }

    /// Checks that the database answers.
    pub async fn ready(&self) -> EngineResult<()> {
        Ok(self.inner.store.ping().await?)
    }

    /// Replaces the configuration in force (after the caller validated the new one) and
    /// records the reload in the audit log with the names of the changed keys. Returns
    /// the changed keys and, among them, those that need a restart to take effect.
    pub async fn reload_config(
        &self,
        new: config::Config,
        actor: &Actor,
    ) -> EngineResult<(Vec<&'static str>, Vec<&'static str>)> {
        let old = self.config();
        let changed = old.changed_keys(&new);
        let restart: Vec<&'static str> = changed
            .iter()
            .copied()
            .filter(|k| config::Config::RESTART_KEYS.contains(k))
            .collect();
        // Keys that need a restart keep their running values until then, so that
        // `config()` always describes what is actually in force.
        let mut applied = new;
        applied.listen = old.listen;
        applied.database_url = old.database_url.clone();
        applied.master_key = old.master_key.clone();
        applied.old_master_keys = old.old_master_keys.clone();
        applied.dev_key_file = old.dev_key_file.clone();
        applied.log_format = old.log_format;
        applied.max_body_bytes = old.max_body_bytes;
        applied.request_timeout_secs = old.request_timeout_secs;
        applied.metrics_listen = old.metrics_listen;
        if applied.sources.get("public_url") == Some(&config::Source::Default) {
            // Derived from listen, which keeps its running value.
            applied.public_url = old.public_url.clone();
        }
        if applied.allow_hosts != old.allow_hosts
            || applied.outbound_timeout_secs != old.outbound_timeout_secs
        {
            self.inner
                .outbound
                .store(Arc::new(outbound_for(&applied, self.inner.dev)));
        }
        self.inner.config.store(Arc::new(applied));
        self.audit(
            actor,
            "config.reload",
            old.file
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
                .as_str(),
            serde_json::json!({ "changed": changed, "needs_restart": restart }),
        )
        .await?;
        Ok((changed, restart))
    }
}

#[cfg(test)]
mod tests;
