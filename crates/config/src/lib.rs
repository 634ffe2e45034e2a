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
use vault::{ExposeSecret, SecretString};

mod mappings;
mod tables;

pub use mappings::{JqData, JqFilter, JqProgram, JqValue, Mapping, compile_jq};
pub use tables::DEFAULT_RETRY_SCHEDULE_SECS;
pub use tables::{Destination, DestinationRateLimit, Integration, OnLimit, RateLimit, valid_id};

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
    providers: Option<Vec<catalog::CustomProvider>>,
    integrations: Option<Vec<tables::RawIntegration>>,
    destinations: Option<Vec<tables::RawDestination>>,
    mappings: Option<Vec<mappings::RawMapping>>,
}

/// The array-of-tables keys (`[[integrations]]`…). They come from the file only.
pub const TABLES: &[&str] = &["providers", "integrations", "destinations", "mappings"];

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
    /// Database URL (`sqlite://…`).
    pub database_url: String,
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
    /// before reading it again; 0 reads it on every request. A revocation made by another
    /// process takes effect within this time; one made by this process at once.
    pub api_key_cache_secs: u64,
    /// Custom providers (`[[providers]]`), in addition to the built-in catalog.
    pub providers: Vec<catalog::CustomProvider>,
    /// Configured integrations.
    pub integrations: Vec<Integration>,
    /// Where mapped events are delivered.
    pub destinations: Vec<Destination>,
    /// How provider events become the app's events (`[[mappings]]`).
    pub mappings: Vec<Mapping>,
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

    fn from_raw(
        raw: RawConfig,
        file: Option<PathBuf>,
        env: &dyn Env,
        ov: &Overrides,
    ) -> Result<Self, ConfigError> {
        let file_src = Source::File(
            file.as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| DEFAULT_CONFIG_FILE.into()),
        );
        let sources = std::cell::RefCell::new(BTreeMap::new());

        // Picks the winning value of a key: flag > env > file > default.
        let pick = |key: &'static str, flag: Option<(&str, String)>, file_val: Option<String>| {
            let env_var = env_name(key);
            let (val, src) = if let Some((flag_name, v)) = flag {
                (Some(v), Source::Flag(flag_name.to_owned()))
            } else if let Some(v) = env.var(&env_var) {
                (Some(v), Source::Env(env_var))
            } else if let Some(v) = file_val {
                (Some(v), file_src.clone())
            } else {
                (None, Source::Default)
            };
            sources.borrow_mut().insert(key, src.clone());
            (val, src)
        };
        let invalid = |key: &str, src: &Source, message: String| ConfigError::Invalid {
            key: key.to_owned(),
            origin: src.to_string(),
            message,
        };

        let (v, s) = pick(
            "listen",
            ov.listen.clone().map(|v| ("--listen", v)),
            raw.listen,
        );
        let listen_text = v.unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            invalid(
                "listen",
                &s,
                format!("{listen_text:?} is not an address; write IP:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080"),
            )
        })?;

        let (v, s) = pick(
            "database_url",
            ov.database_url.clone().map(|v| ("--database-url", v)),
            raw.database_url,
        );
        let database_url = v.unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                &s,
                "must start with sqlite:// (e.g. sqlite://switchboard.db) or postgres://".into(),
            ));
        }

        let (v, s) = pick("public_url", None, raw.public_url);
        let public_url = match v {
            Some(u) => {
                let parsed = url::Url::parse(&u).map_err(|e| {
                    invalid(
                        "public_url",
                        &s,
                        format!(
                            "{u:?} is not a URL ({e}); write e.g. https://switchboard.example.com"
                        ),
                    )
                })?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                    return Err(invalid(
                        "public_url",
                        &s,
                        "must be an http:// or https:// URL with a host".into(),
                    ));
                }
                if parsed.query().is_some() || parsed.fragment().is_some() {
                    return Err(invalid(
                        "public_url",
                        &s,
                        "must not have a query or fragment".into(),
                    ));
                }
                u.trim_end_matches('/').to_owned()
            }
            None => format!("http://{listen}"),
        };

        let (v, s) = pick("master_key", None, raw.master_key);
        let master_key = v
            .map(|v| resolve_secret("master_key", &s, &v, env))
            .transpose()?;
        if let Some(k) = &master_key {
            vault::MasterKey::from_base64(k.expose_secret())
                .map_err(|e| invalid("master_key", &s, format!("{e}")))?;
        }

        let (v, s) = pick(
            "old_master_keys",
            None,
            None, // lists from the file are handled below, to keep their indexes
        );
        let old_refs: Vec<(String, Source)> = match (v, raw.old_master_keys) {
            (Some(env_val), _) => split_list(&env_val)
                .into_iter()
                .map(|r| (r, s.clone()))
                .collect(),
            (None, Some(list)) => {
                sources
                    .borrow_mut()
                    .insert("old_master_keys", file_src.clone());
                list.into_iter().map(|r| (r, file_src.clone())).collect()
            }
            (None, None) => Vec::new(),
        };
        let mut old_master_keys = Vec::new();
        for (i, (r, src)) in old_refs.iter().enumerate() {
            let key = format!("old_master_keys[{i}]");
            let k = resolve_secret(&key, src, r, env)?;
            vault::MasterKey::from_base64(k.expose_secret())
                .map_err(|e| invalid(&key, src, format!("{e}")))?;
            old_master_keys.push(k);
        }

        let (v, _) = pick("dev_key_file", None, raw.dev_key_file);
        let dev_key_file = PathBuf::from(v.unwrap_or_else(|| DEFAULT_DEV_KEY_FILE.into()));

        let (v, s) = pick(
            "log_format",
            ov.log_format.clone().map(|v| ("--log-format", v)),
            raw.log_format,
        );
        let log_format = match v {
            None => LogFormat::Human,
            Some(t) => LogFormat::parse(&t).ok_or_else(|| {
                invalid(
                    "log_format",
                    &s,
                    format!("{t:?} is not a log format; use \"human\" or \"json\""),
                )
            })?,
        };

        let (v, s) = pick("log_level", None, raw.log_level);
        let log_level = v.unwrap_or_else(|| "info".into());
        if log_level.trim().is_empty() {
            return Err(invalid(
                "log_level",
                &s,
                "is empty; use e.g. \"info\" or \"switchboard=debug,info\"".into(),
            ));
        }

        let int = |key: &'static str, file_val: Option<u64>, default: u64, min: u64, max: u64| {
            let (v, s) = pick(key, None, file_val.map(|n| n.to_string()));
            let n = match v {
                None => default,
                Some(t) => t
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| invalid(key, &s, format!("{t:?} is not a whole number")))?,
            };
            if !(min..=max).contains(&n) {
                return Err(invalid(
                    key,
                    &s,
                    format!("{n} is out of range; use {min}..={max}"),
                ));
            }
            Ok(n)
        };
        let request_timeout_secs = int(
            "request_timeout_secs",
            raw.request_timeout_secs,
            30,
            1,
            3600,
        )?;
        let shutdown_grace_secs = int("shutdown_grace_secs", raw.shutdown_grace_secs, 30, 0, 3600)?;
        let max_body_bytes = int(
            "max_body_bytes",
            raw.max_body_bytes,
            1024 * 1024,
            1024,
            1024 * 1024 * 1024,
        )?;

        let outbound_timeout_secs = int(
            "outbound_timeout_secs",
            raw.outbound_timeout_secs,
            30,
            1,
            300,
        )?;
        let token_refresh_margin_secs = int(
            "token_refresh_margin_secs",
            raw.token_refresh_margin_secs,
            300,
            0,
            86400,
        )?;
        let refresh_lease_secs = int("refresh_lease_secs", raw.refresh_lease_secs, 90, 10, 3600)?;
        let connect_session_ttl_secs = int(
            "connect_session_ttl_secs",
            raw.connect_session_ttl_secs,
            1800,
            60,
            86400,
        )?;
        let background_refresh_interval_secs = int(
            "background_refresh_interval_secs",
            raw.background_refresh_interval_secs,
            30,
            1,
            3600,
        )?;
        let background_refresh_concurrency = int(
            "background_refresh_concurrency",
            raw.background_refresh_concurrency,
            4,
            1,
            64,
        )?;
        if refresh_lease_secs <= outbound_timeout_secs {
            return Err(invalid(
                "refresh_lease_secs",
                &sources
                    .borrow()
                    .get("refresh_lease_secs")
                    .cloned()
                    .unwrap_or(Source::Default),
                format!(
                    "{refresh_lease_secs} must be longer than outbound_timeout_secs ({outbound_timeout_secs}), so that a refresh cannot outlive its lease"
                ),
            ));
        }

        let proxy_max_wait_secs = int("proxy_max_wait_secs", raw.proxy_max_wait_secs, 30, 0, 3600)?;
        let proxy_max_body_bytes = int(
            "proxy_max_body_bytes",
            raw.proxy_max_body_bytes,
            1024 * 1024 * 1024,
            1024,
            1024 * 1024 * 1024 * 1024,
        )?;
        let (v, s) = pick("proxy_redact_query", None, None);
        let proxy_redact_query = match (v, raw.proxy_redact_query) {
            (Some(e), _) => split_list(&e),
            (None, Some(list)) => {
                sources
                    .borrow_mut()
                    .insert("proxy_redact_query", file_src.clone());
                list
            }
            (None, None) => DEFAULT_PROXY_REDACT_QUERY
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        };
        for (i, q) in proxy_redact_query.iter().enumerate() {
            if q.is_empty() || q.contains(|c: char| c.is_whitespace() || c == '=' || c == '&') {
                let src = sources
                    .borrow()
                    .get("proxy_redact_query")
                    .cloned()
                    .unwrap_or(s.clone());
                return Err(invalid(
                    &format!("proxy_redact_query[{i}]"),
                    &src,
                    format!("{q:?} is not a query parameter name; write a bare name like api_key"),
                ));
            }
        }
        let api_key_cache_secs = int("api_key_cache_secs", raw.api_key_cache_secs, 1, 0, 3600)?;

        let (v, mut s) = pick("allow_hosts", None, None);
        let allow_hosts = match (v, raw.allow_hosts) {
            (Some(e), _) => split_list(&e),
            (None, Some(list)) => {
                sources.borrow_mut().insert("allow_hosts", file_src.clone());
                s = file_src.clone();
                list
            }
            (None, None) => Vec::new(),
        };
        for (i, h) in allow_hosts.iter().enumerate() {
            if h.is_empty() || h.contains('/') || h.contains(char::is_whitespace) {
                return Err(invalid(
                    &format!("allow_hosts[{i}]"),
                    &s,
                    format!(
                        "{h:?} is not a host name; write a bare host like api.example.com or 127.0.0.1"
                    ),
                ));
            }
        }

        let providers = tables::providers(raw.providers.unwrap_or_default(), &file_src)?;
        let integrations =
            tables::integrations(raw.integrations.unwrap_or_default(), &file_src, env)?;
        let destinations = tables::destinations(
            raw.destinations.unwrap_or_default(),
            &integrations,
            &file_src,
            env,
        )?;
        let mappings = mappings::mappings(
            raw.mappings.unwrap_or_default(),
            &integrations,
            &file_src,
            file.as_deref(),
        )?;

        Ok(Config {
            providers,
            integrations,
            destinations,
            mappings,
            listen,
            database_url,
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
            file,
            sources: sources.into_inner(),
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
            ("providers", self.providers != other.providers),
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

    /// The integration with this id.
    pub fn integration(&self, id: &str) -> Option<&Integration> {
        self.integrations.iter().find(|i| i.id == id)
    }

    /// Keys whose change only takes effect after a restart.
    pub const RESTART_KEYS: &'static [&'static str] = &[
        "listen",
        "database_url",
        "master_key",
        "old_master_keys",
        "dev_key_file",
        "log_format",
        "max_body_bytes",
        "request_timeout_secs",
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
