//! Switchboard's configuration.
//!
//! Three layers, later ones win: built-in defaults, the TOML file (`switchboard.toml` if
//! present, or the path given), and `SWITCHBOARD_<KEY>` environment variables. Secret
//! values may be written as `env:NAME` (read from the environment) or `file:PATH` (read
//! from a file, trailing newline removed) instead of literals.
//!
//! Every error names the key it is about and says what to do. [`KEYS`] lists every key;
//! the documented default file `switchboard.default.toml` at the repository root lists
//! the same keys (a test keeps the two in step).

#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use vault::SecretString;

mod branding;
mod console;
pub mod keys;
mod layers;
mod mappings;
mod tables;

pub use branding::{Branding, DEFAULT_ACCENT, Logo, MAX_LOGO_BYTES, Rgb};
pub use console::{Console, ConsoleOidc};
pub use mappings::{JqData, JqFilter, JqProgram, JqValue, Mapping, compile_jq};
pub use tables::DEFAULT_RETRY_SCHEDULE_SECS;
pub use tables::{
    Destination, DestinationRateLimit, Integration, OnLimit, RateLimit, check_json_pointer,
    valid_id,
};

/// The documented default configuration file, embedded.
pub const DEFAULT_FILE: &str = include_str!("../../../switchboard.default.toml");

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://switchboard.db";
/// Default path of the development key file that `serve --dev` creates.
pub const DEFAULT_DEV_KEY_FILE: &str = "switchboard.dev.key";
/// Query parameters the proxy's request log redacts unless `proxy_redact_query` is set.
pub const DEFAULT_PROXY_REDACT_QUERY: &[&str] =
    &["api_key", "token", "access_token", "key", "signature"];
/// Default config file, read only if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "switchboard.toml";

/// The keys that tune the PostgreSQL connection pool; SQLite ignores them.
pub const DATABASE_POOL_KEYS: &[&str] = &[
    "database_max_connections",
    "database_acquire_timeout_secs",
    "database_statement_timeout_secs",
];

/// How a key's environment value is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Str,
    /// A whole number.
    Int,
    /// A comma-separated list of strings.
    List,
}

/// Every top-level key, with how its `SWITCHBOARD_<KEY>` environment value is parsed.
pub const KEYS: &[(&str, Kind)] = &[
    ("listen", Kind::Str),
    ("database_url", Kind::Str),
    ("database_max_connections", Kind::Int),
    ("database_acquire_timeout_secs", Kind::Int),
    ("database_statement_timeout_secs", Kind::Int),
    ("public_url", Kind::Str),
    ("master_key", Kind::Str),
    ("old_master_keys", Kind::List),
    ("dev_key_file", Kind::Str),
    ("log_format", Kind::Str),
    ("log_level", Kind::Str),
    ("request_timeout_secs", Kind::Int),
    ("shutdown_grace_secs", Kind::Int),
    ("max_body_bytes", Kind::Int),
    ("allow_hosts", Kind::List),
    ("outbound_timeout_secs", Kind::Int),
    ("token_refresh_margin_secs", Kind::Int),
    ("refresh_lease_secs", Kind::Int),
    ("connect_session_ttl_secs", Kind::Int),
    ("background_refresh_interval_secs", Kind::Int),
    ("background_refresh_concurrency", Kind::Int),
    ("proxy_max_wait_secs", Kind::Int),
    ("proxy_max_body_bytes", Kind::Int),
    ("proxy_redact_query", Kind::List),
    ("api_key_cache_secs", Kind::Int),
    ("instance_heartbeat_ms", Kind::Int),
    ("metrics_listen", Kind::Str),
    ("metrics_key", Kind::Str),
    ("payload_retention_days", Kind::Int),
    ("retention_sweep_interval_secs", Kind::Int),
];

/// The environment variable for a key: `SWITCHBOARD_` + the key in upper case.
pub fn env_name(key: &str) -> String {
    format!("SWITCHBOARD_{}", key.to_ascii_uppercase())
}

/// A configuration error. The message names the key and what to do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}; check the path and its permissions")]
    Unreadable {
        /// File path.
        path: String,
        /// OS error.
        reason: String,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{path}: {message}")]
    Parse {
        /// File path.
        path: String,
        /// The parser's message, which names the key and the line.
        message: String,
    },
    /// A key has a value that is not acceptable.
    #[error("{key} (from {origin}): {message}")]
    Invalid {
        /// Key name (with index for lists).
        key: String,
        /// Where the value came from.
        origin: String,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "human" => Some(Self::Human),
            "json" => Some(Self::Json),
            _ => None,
        }
    }
}

/// The file as written. Every field is optional; unknown keys are refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    database_url: Option<String>,
    database_max_connections: Option<u64>,
    database_acquire_timeout_secs: Option<u64>,
    database_statement_timeout_secs: Option<u64>,
    public_url: Option<String>,
    master_key: Option<String>,
    old_master_keys: Option<Vec<String>>,
    dev_key_file: Option<String>,
    log_format: Option<String>,
    log_level: Option<String>,
    request_timeout_secs: Option<u64>,
    shutdown_grace_secs: Option<u64>,
    max_body_bytes: Option<u64>,
    allow_hosts: Option<Vec<String>>,
    outbound_timeout_secs: Option<u64>,
    token_refresh_margin_secs: Option<u64>,
    refresh_lease_secs: Option<u64>,
    connect_session_ttl_secs: Option<u64>,
    background_refresh_interval_secs: Option<u64>,
    background_refresh_concurrency: Option<u64>,
    proxy_max_wait_secs: Option<u64>,
    proxy_max_body_bytes: Option<u64>,
    proxy_redact_query: Option<Vec<String>>,
    api_key_cache_secs: Option<u64>,
    instance_heartbeat_ms: Option<u64>,
    metrics_listen: Option<String>,
    metrics_key: Option<String>,
    payload_retention_days: Option<u64>,
    retention_sweep_interval_secs: Option<u64>,
    providers: Option<Vec<catalog::CustomProvider>>,
    integrations: Option<Vec<tables::RawIntegration>>,
    destinations: Option<Vec<tables::RawDestination>>,
    mappings: Option<Vec<mappings::RawMapping>>,
    branding: Option<branding::RawBranding>,
    console: Option<console::RawConsole>,
}

/// The table keys (`[[integrations]]`…, `[branding]`). They come from the file only.
pub const TABLES: &[&str] = &[
    "providers",
    "integrations",
    "destinations",
    "mappings",
    "branding",
];

/// Where a value came from, for error messages and `config check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Built-in default.
    Default,
    /// The config file.
    File(String),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => f.write_str(p),
            Source::Env(v) => write!(f, "environment variable {v}"),
            Source::Flag(v) => write!(f, "flag {v}"),
        }
    }
}

/// A validated configuration. Secret values are resolved and never print.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Database URL: `sqlite://…`, or `postgres://…` / `postgresql://…`.
    pub database_url: String,
    /// PostgreSQL: most connections each process's pool opens (ignored by SQLite).
    pub database_max_connections: u32,
    /// PostgreSQL: how long a query waits for a free pooled connection before it fails
    /// as unavailable (ignored by SQLite).
    pub database_acquire_timeout_secs: u64,
    /// PostgreSQL: the `statement_timeout` of every pooled connection; 0 keeps the
    /// server's own setting (ignored by SQLite).
    pub database_statement_timeout_secs: u64,
    /// Base URL providers and browsers use to reach this server, without trailing `/`.
    pub public_url: String,
    /// Primary master key (base64 of 32 bytes), if configured.
    pub master_key: Option<SecretString>,
    /// Older master keys that still decrypt until rotation has finished.
    pub old_master_keys: Vec<SecretString>,
    /// Key file `serve --dev` uses (and creates) when no master key is configured.
    pub dev_key_file: PathBuf,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter (`info`, `switchboard=debug,info`, …).
    pub log_level: String,
    /// Maximum time to answer one request.
    pub request_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace_secs: u64,
    /// Largest accepted request body.
    pub max_body_bytes: u64,
    /// Hosts that outbound calls may reach even if they are loopback or private.
    pub allow_hosts: Vec<String>,
    /// Longest time one outbound call (token endpoint, revocation, provider API) may take.
    pub outbound_timeout_secs: u64,
    /// An access token that expires within this margin is refreshed before it is handed out.
    pub token_refresh_margin_secs: u64,
    /// How long one refresher holds a connection's refresh lease; longer than outbound_timeout_secs.
    pub refresh_lease_secs: u64,
    /// How long a connect session token stays valid.
    pub connect_session_ttl_secs: u64,
    /// How often the background refresher looks for tokens about to expire.
    pub background_refresh_interval_secs: u64,
    /// How many connections the background refresher renews at once.
    pub background_refresh_concurrency: u64,
    /// Longest total time the API proxy waits for one request (rate-limit waits and
    /// retry back-offs together) before answering 429 with `Retry-After`.
    pub proxy_max_wait_secs: u64,
    /// Largest request body the API proxy streams to a provider.
    pub proxy_max_body_bytes: u64,
    /// Query parameters whose values the proxy's request log replaces with `[redacted]`.
    pub proxy_redact_query: Vec<String>,
    /// How long a process may reuse an API key's verified record (hash, scope, revoked)
    /// before reading it again; 0 reads it on every request. A revocation made by this
    /// process takes effect at once; one made by another process as the store's change
    /// feed tells of it (PostgreSQL), else within this time.
    pub api_key_cache_secs: u64,
    /// How often (milliseconds) this instance beats in the `instances` table; shared rate
    /// limits are rebalanced at every beat, and an instance that has not beaten for
    /// three of them no longer counts.
    pub instance_heartbeat_ms: u64,
    /// Where `/metrics` is served on a listener of its own (`None`: on `listen`, beside
    /// the API). When set, the main listener answers 404 for `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
    /// When set, `/metrics` requires `Authorization: Bearer <metrics_key>`.
    pub metrics_key: Option<SecretString>,
    /// Days an event's payload (body, kept headers, mapped data) is kept before the
    /// retention sweep removes it, for integrations without their own
    /// `payload_retention_days`; 0 keeps payloads forever.
    pub payload_retention_days: u64,
    /// Seconds between two passes of the background retention sweep (each pass works
    /// in small batches until nothing expired is left).
    pub retention_sweep_interval_secs: u64,
    /// Custom providers (`[[providers]]`), in addition to the built-in catalog.
    pub providers: Vec<catalog::CustomProvider>,
    /// Configured integrations.
    pub integrations: Vec<Integration>,
    /// Where mapped events are delivered.
    pub destinations: Vec<Destination>,
    /// How provider events become the app's events (`[[mappings]]`).
    pub mappings: Vec<Mapping>,
    /// How the Connect page presents the app (`[branding]`).
    pub branding: Branding,
    /// The admin console (`[console]`).
    pub console: Console,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
    /// Where each key's value came from.
    pub sources: BTreeMap<&'static str, Source>,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen`
    pub listen: Option<String>,
    /// `--database-url`
    pub database_url: Option<String>,
    /// `--log-format`
    pub log_format: Option<String>,
}

/// Reads the environment; injectable so that tests need not mutate the process
/// environment.
pub trait Env {
    /// The variable's value, if set and valid Unicode.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// Resolves a secret reference: `env:NAME`, `file:PATH`, or a literal value.
pub fn resolve_secret(
    key: &str,
    source: &Source,
    value: &str,
    env: &dyn Env,
) -> Result<SecretString, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        key: key.to_owned(),
        origin: source.to_string(),
        message,
    };
    if let Some(name) = value.strip_prefix("env:") {
        if name.is_empty() {
            return Err(invalid(
                "`env:` needs a variable name, e.g. env:MY_SECRET".into(),
            ));
        }
        match env.var(name) {
            Some(v) if !v.is_empty() => Ok(SecretString::from(v)),
            Some(_) => Err(invalid(format!(
                "environment variable {name} is empty; set it to the secret"
            ))),
            None => Err(invalid(format!(
                "environment variable {name} is not set; export it, or write the secret as file:PATH"
            ))),
        }
    } else if let Some(path) = value.strip_prefix("file:") {
        if path.is_empty() {
            return Err(invalid(
                "`file:` needs a path, e.g. file:/run/secrets/key".into(),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            invalid(format!(
                "cannot read secret file {path}: {e}; check the path and that this user may read it"
            ))
        })?;
        let trimmed = text.trim_end_matches(['\n', '\r']);
        if trimmed.is_empty() {
            return Err(invalid(format!("secret file {path} is empty")));
        }
        Ok(SecretString::from(trimmed.to_owned()))
    } else if value.is_empty() {
        Err(invalid(
            "is empty; give the secret, env:NAME or file:PATH, or remove the key".into(),
        ))
    } else {
        Ok(SecretString::from(value.to_owned()))
    }
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Config {
    /// Loads and validates. `path` is an explicit config file (it must exist); without
    /// it, `SWITCHBOARD_CONFIG` or else `switchboard.toml` is read if present.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Env,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let explicit = path
            .map(Path::to_path_buf)
            .or_else(|| env.var("SWITCHBOARD_CONFIG").map(PathBuf::from));
        let (raw, file) = match explicit {
            Some(p) => (read_file(&p)?, Some(p)),
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                if p.exists() {
                    (read_file(&p)?, Some(p))
                } else {
                    (RawConfig::default(), None)
                }
            }
        };
        Self::from_raw(raw, file, env, overrides)
    }

    /// Parses a TOML document (for tests and `config check` of a given text).
    pub fn from_toml(
        text: &str,
        name: &str,
        env: &dyn Env,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let raw = parse_raw(text, name)?;
        Self::from_raw(raw, Some(PathBuf::from(name)), env, overrides)
    }

    /// Builds a configuration from the file as written and the other layers. The steps
    /// run in the order of [`KEYS`], so that when several keys are wrong the first
    /// one reported is the first one a reader of the file meets.
    fn from_raw(
        mut raw: RawConfig,
        file: Option<PathBuf>,
        env: &dyn Env,
        ov: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut layers = layers::Layers::new(env, file.as_deref());

        // Where the server is. `public_url` defaults to `http://{listen}`, so `listen`
        // is resolved first.
        let listen = layers.listen(raw.listen.take(), ov.listen.clone())?;
        let database_url = layers.database_url(raw.database_url.take(), ov.database_url.clone())?;
        let layers::DatabasePool {
            max_connections: database_max_connections,
            acquire_timeout_secs: database_acquire_timeout_secs,
            statement_timeout_secs: database_statement_timeout_secs,
        } = layers.database_pool(&raw)?;
        let public_url = layers.public_url(raw.public_url.take(), listen)?;

        // The master keys are checked here, not when first used, so that a server never
        // starts (and `config check` never passes) with a key that cannot open secrets.
        let master_key = layers.master_key(raw.master_key.take())?;
        let old_master_keys = layers.old_master_keys(raw.old_master_keys.take())?;
        let dev_key_file = layers.dev_key_file(raw.dev_key_file.take());

        let log_format = layers.log_format(raw.log_format.take(), ov.log_format.clone())?;
        let log_level = layers.log_level(raw.log_level.take())?;

        // Numbers, then the lists. The limits include one rule between two keys
        // (refresh_lease_secs > outbound_timeout_secs), checked once both are known.
        let limits = layers.limits(&raw)?;
        let proxy_redact_query = layers.proxy_redact_query(raw.proxy_redact_query.take())?;
        let api_key_cache_secs = layers.api_key_cache_secs(raw.api_key_cache_secs)?;
        let instance_heartbeat_ms = layers.instance_heartbeat_ms(raw.instance_heartbeat_ms)?;
        let payload_retention_days = layers.payload_retention_days(raw.payload_retention_days)?;
        let retention_sweep_interval_secs =
            layers.retention_sweep_interval_secs(raw.retention_sweep_interval_secs)?;
        let allow_hosts = layers.allow_hosts(raw.allow_hosts.take())?;
        let metrics_listen = layers.metrics_listen(raw.metrics_listen.take(), listen)?;
        let metrics_key = layers.metrics_key(raw.metrics_key.take())?;

        // The tables come from the file only, and last: destinations and mappings name
        // integrations, so integrations are read (and their ids checked) before them.
        let file_src = layers.file.clone();
        let providers = tables::providers(raw.providers.take().unwrap_or_default(), &file_src)?;
        let integrations =
            tables::integrations(raw.integrations.take().unwrap_or_default(), &file_src, env)?;
        let destinations = tables::destinations(
            raw.destinations.take().unwrap_or_default(),
            &integrations,
            &file_src,
            env,
        )?;
        let mappings = mappings::mappings(
            raw.mappings.take().unwrap_or_default(),
            &integrations,
            &file_src,
            file.as_deref(),
        )?;
        let branding = branding::branding(raw.branding.take(), &file_src, file.as_deref())?;

        let console = console::console(raw.console.take(), &file_src, env)?;

        let layers::Limits {
            request_timeout_secs,
            shutdown_grace_secs,
            max_body_bytes,
            outbound_timeout_secs,
            token_refresh_margin_secs,
            refresh_lease_secs,
            connect_session_ttl_secs,
            background_refresh_interval_secs,
            background_refresh_concurrency,
            proxy_max_wait_secs,
            proxy_max_body_bytes,
        } = limits;
        Ok(Config {
            providers,
            integrations,
            destinations,
            mappings,
            branding,
            console,
            listen,
            database_url,
            database_max_connections,
            database_acquire_timeout_secs,
            database_statement_timeout_secs,
            public_url,
            master_key,
            old_master_keys,
            dev_key_file,
            log_format,
            log_level,
            request_timeout_secs,
            shutdown_grace_secs,
            max_body_bytes,
            allow_hosts,
            outbound_timeout_secs,
            token_refresh_margin_secs,
            refresh_lease_secs,
            connect_session_ttl_secs,
            background_refresh_interval_secs,
            background_refresh_concurrency,
            proxy_max_wait_secs,
            proxy_max_body_bytes,
            proxy_redact_query,
            api_key_cache_secs,
            instance_heartbeat_ms,
            metrics_listen,
            metrics_key,
            payload_retention_days,
            retention_sweep_interval_secs,
            file,
            sources: layers.into_sources(),
        })
    }

    /// Names of the keys whose values differ between two configurations (values are
    /// never reported, so secrets cannot leak through a diff).
    pub fn changed_keys(&self, other: &Config) -> Vec<&'static str> {
        let secret_eq = |a: &SecretString, b: &SecretString| vault::secrets_equal(a, b);
        let secrets_differ = |a: &[SecretString], b: &[SecretString]| {
            a.len() != b.len() || a.iter().zip(b).any(|(x, y)| !secret_eq(x, y))
        };
        [
            ("listen", self.listen != other.listen),
            ("database_url", self.database_url != other.database_url),
            (
                "database_max_connections",
                self.database_max_connections != other.database_max_connections,
            ),
            (
                "database_acquire_timeout_secs",
                self.database_acquire_timeout_secs != other.database_acquire_timeout_secs,
            ),
            (
                "database_statement_timeout_secs",
                self.database_statement_timeout_secs != other.database_statement_timeout_secs,
            ),
            ("public_url", self.public_url != other.public_url),
            (
                "master_key",
                secrets_differ(self.master_key.as_slice(), other.master_key.as_slice()),
            ),
            (
                "old_master_keys",
                secrets_differ(&self.old_master_keys, &other.old_master_keys),
            ),
            ("dev_key_file", self.dev_key_file != other.dev_key_file),
            ("log_format", self.log_format != other.log_format),
            ("log_level", self.log_level != other.log_level),
            (
                "request_timeout_secs",
                self.request_timeout_secs != other.request_timeout_secs,
            ),
            (
                "shutdown_grace_secs",
                self.shutdown_grace_secs != other.shutdown_grace_secs,
            ),
            (
                "max_body_bytes",
                self.max_body_bytes != other.max_body_bytes,
            ),
            ("allow_hosts", self.allow_hosts != other.allow_hosts),
            (
                "outbound_timeout_secs",
                self.outbound_timeout_secs != other.outbound_timeout_secs,
            ),
            (
                "token_refresh_margin_secs",
                self.token_refresh_margin_secs != other.token_refresh_margin_secs,
            ),
            (
                "refresh_lease_secs",
                self.refresh_lease_secs != other.refresh_lease_secs,
            ),
            (
                "connect_session_ttl_secs",
                self.connect_session_ttl_secs != other.connect_session_ttl_secs,
            ),
            (
                "background_refresh_interval_secs",
                self.background_refresh_interval_secs != other.background_refresh_interval_secs,
            ),
            (
                "background_refresh_concurrency",
                self.background_refresh_concurrency != other.background_refresh_concurrency,
            ),
            (
                "proxy_max_wait_secs",
                self.proxy_max_wait_secs != other.proxy_max_wait_secs,
            ),
            (
                "proxy_max_body_bytes",
                self.proxy_max_body_bytes != other.proxy_max_body_bytes,
            ),
            (
                "proxy_redact_query",
                self.proxy_redact_query != other.proxy_redact_query,
            ),
            (
                "api_key_cache_secs",
                self.api_key_cache_secs != other.api_key_cache_secs,
            ),
            (
                "instance_heartbeat_ms",
                self.instance_heartbeat_ms != other.instance_heartbeat_ms,
            ),
            (
                "metrics_listen",
                self.metrics_listen != other.metrics_listen,
            ),
            (
                "metrics_key",
                secrets_differ(self.metrics_key.as_slice(), other.metrics_key.as_slice()),
            ),
            (
                "payload_retention_days",
                self.payload_retention_days != other.payload_retention_days,
            ),
            (
                "retention_sweep_interval_secs",
                self.retention_sweep_interval_secs != other.retention_sweep_interval_secs,
            ),
            ("console", !self.console.same(&other.console)),
            ("providers", self.providers != other.providers),
            ("branding", self.branding != other.branding),
            (
                "integrations",
                self.integrations.len() != other.integrations.len()
                    || self
                        .integrations
                        .iter()
                        .zip(&other.integrations)
                        .any(|(a, b)| !a.same(b)),
            ),
            (
                "destinations",
                self.destinations.len() != other.destinations.len()
                    || self
                        .destinations
                        .iter()
                        .zip(&other.destinations)
                        .any(|(a, b)| !a.same(b)),
            ),
            (
                "mappings",
                self.mappings.len() != other.mappings.len()
                    || self
                        .mappings
                        .iter()
                        .zip(&other.mappings)
                        .any(|(a, b)| !a.same(b)),
            ),
        ]
        .into_iter()
        .filter_map(|(k, changed)| changed.then_some(k))
        .collect()
    }

    /// The providers this configuration can use: the built-in catalog plus the custom
    /// providers given with explicit endpoints, and the ids of custom providers that
    /// still need OIDC discovery (I/O, done by the server). Checks that every integration
    /// names a known provider and, if it has webhook secrets, has a signature scheme.
    /// `dev` allows `http://` loopback URLs in custom providers (`serve --dev`).
    pub fn catalog(&self, dev: bool) -> Result<(catalog::Catalog, Vec<String>), ConfigError> {
        tables::effective_catalog(self, dev)
    }

    /// Whether `database_url` names a PostgreSQL database (`postgres://`,
    /// `postgresql://`) rather than SQLite.
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://")
    }

    /// The PostgreSQL-only keys ([`DATABASE_POOL_KEYS`]) that were set (in the file,
    /// the environment or a flag) while `database_url` names SQLite, which ignores them:
    /// `serve` and `config check` warn about them rather than refuse, so that one
    /// environment file can serve both backends.
    pub fn ignored_database_keys(&self) -> Vec<&'static str> {
        if self.is_postgres() {
            return Vec::new();
        }
        DATABASE_POOL_KEYS
            .iter()
            .copied()
            .filter(|k| !matches!(self.sources.get(k), None | Some(Source::Default)))
            .collect()
    }

    /// Warnings about integrations that work, but not for everything (a GitHub App
    /// without its OAuth client installs through connect sessions no more), for
    /// `serve` and `config check` to print. `catalog` is [`Config::catalog`]'s.
    pub fn integration_warnings(&self, catalog: &catalog::Catalog) -> Vec<String> {
        tables::integration_warnings(self, catalog)
    }

    /// The integration with this id.
    pub fn integration(&self, id: &str) -> Option<&Integration> {
        self.integrations.iter().find(|i| i.id == id)
    }

    /// Keys whose change only takes effect after a restart.
    pub const RESTART_KEYS: &'static [&'static str] = &[
        "listen",
        "database_url",
        "database_max_connections",
        "database_acquire_timeout_secs",
        "database_statement_timeout_secs",
        "master_key",
        "old_master_keys",
        "dev_key_file",
        "log_format",
        "max_body_bytes",
        "request_timeout_secs",
        "metrics_listen",
        "providers",
    ];
}

fn read_file(path: &Path) -> Result<RawConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_raw(&text, &path.display().to_string())
}

fn parse_raw(text: &str, name: &str) -> Result<RawConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: name.to_owned(),
        message: describe_parse_error(text, &e),
    })
}

/// Builds a parse error message that names the key and line but never echoes a value
/// (the value may be a secret written with the wrong type).
fn describe_parse_error(text: &str, e: &toml::de::Error) -> String {
    let raw = e.message().trim();
    let mut message = if let Some(rest) = raw
        .strip_prefix("invalid type: ")
        .or_else(|| raw.strip_prefix("invalid value: "))
    {
        match rest.split_once(", expected ") {
            Some((_, expected)) => format!("wrong type, expected {expected}"),
            None => "wrong type".to_owned(),
        }
    } else if raw.starts_with("unknown field") {
        // Names a key, not a value.
        format!(
            "{raw}; remove it or fix its spelling (every key is listed in switchboard.default.toml)"
        )
    } else {
        // TOML syntax errors describe the syntax, not the content.
        raw.lines().next().unwrap_or("invalid TOML").to_owned()
    };
    if let Some(span) = e.span() {
        let start = span.start.min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_no = text[..start].matches('\n').count() + 1;
        let line = &text[line_start..];
        let line = &line[..line.find('\n').unwrap_or(line.len())];
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"'))
            .filter(|k| !k.is_empty() && !k.starts_with('['));
        message = match key {
            Some(k) => format!("line {line_no}, key `{k}`: {message}"),
            None => format!("line {line_no}: {message}"),
        };
    }
    message
}

#[cfg(test)]
mod tests;
