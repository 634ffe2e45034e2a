//! The top-level keys, one step at a time. Each key's value comes from the first layer
//! that has it (command-line flag, `SWITCHBOARD_<KEY>`, the file, the built-in default);
//! [`Layers`] picks it, remembers where it came from (errors and `config check` name
//! the source) and validates it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use vault::{ExposeSecret, SecretString};

use crate::{
    ConfigError, DEFAULT_CONFIG_FILE, DEFAULT_DATABASE_URL, DEFAULT_DEV_KEY_FILE, DEFAULT_LISTEN,
    DEFAULT_PROXY_REDACT_QUERY, Env, LogFormat, RawConfig, Source, env_name, resolve_secret,
    split_list,
};

/// The layers a key's value can come from, and where each key's value came from.
pub(crate) struct Layers<'a> {
    env: &'a dyn Env,
    /// The config file, as errors name it (the default name when there is no file).
    pub(crate) file: Source,
    sources: BTreeMap<&'static str, Source>,
}

fn invalid(key: &str, src: &Source, message: String) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        origin: src.to_string(),
        message,
    }
}

/// The numeric limits (timeouts, sizes, intervals), each within its range.
pub(crate) struct Limits {
    pub request_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
    pub max_body_bytes: u64,
    pub outbound_timeout_secs: u64,
    pub token_refresh_margin_secs: u64,
    pub refresh_lease_secs: u64,
    pub connect_session_ttl_secs: u64,
    pub background_refresh_interval_secs: u64,
    pub background_refresh_concurrency: u64,
    pub proxy_max_wait_secs: u64,
    pub proxy_max_body_bytes: u64,
}

/// The PostgreSQL pool's settings (`database_*`), each within its range.
pub(crate) struct DatabasePool {
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
    pub statement_timeout_secs: u64,
}

impl<'a> Layers<'a> {
    /// Layers over `env` and the file read from `file`, if any.
    pub(crate) fn new(env: &'a dyn Env, file: Option<&Path>) -> Self {
        let file = Source::File(
            file.map(|p| p.display().to_string())
                .unwrap_or_else(|| DEFAULT_CONFIG_FILE.into()),
        );
        Self {
            env,
            file,
            sources: BTreeMap::new(),
        }
    }

    /// Where each key's value came from.
    pub(crate) fn into_sources(self) -> BTreeMap<&'static str, Source> {
        self.sources
    }

    /// The winning value of a key: flag > env > file > default (`None`); records its
    /// source.
    fn pick(
        &mut self,
        key: &'static str,
        flag: Option<(&str, String)>,
        file_val: Option<String>,
    ) -> (Option<String>, Source) {
        let env_var = env_name(key);
        let (val, src) = if let Some((flag_name, v)) = flag {
            (Some(v), Source::Flag(flag_name.to_owned()))
        } else if let Some(v) = self.env.var(&env_var) {
            (Some(v), Source::Env(env_var))
        } else if let Some(v) = file_val {
            (Some(v), self.file.clone())
        } else {
            (None, Source::Default)
        };
        self.sources.insert(key, src.clone());
        (val, src)
    }

    /// A list key: the environment's comma-separated value, else the file's list (kept
    /// as a list so that errors can name an entry by its index), else `None`.
    fn list(
        &mut self,
        key: &'static str,
        file_val: Option<Vec<String>>,
    ) -> (Option<Vec<String>>, Source) {
        let (v, s) = self.pick(key, None, None);
        match (v, file_val) {
            (Some(env_val), _) => (Some(split_list(&env_val)), s),
            (None, Some(list)) => {
                self.sources.insert(key, self.file.clone());
                (Some(list), self.file.clone())
            }
            (None, None) => (None, s),
        }
    }

    /// A whole number in `min..=max`, `default` when no layer has it.
    fn int(
        &mut self,
        key: &'static str,
        file_val: Option<u64>,
        default: u64,
        min: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let (v, s) = self.pick(key, None, file_val.map(|n| n.to_string()));
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
    }

    /// `listen`: an IP:PORT.
    pub(crate) fn listen(
        &mut self,
        file_val: Option<String>,
        flag: Option<String>,
    ) -> Result<SocketAddr, ConfigError> {
        let (v, s) = self.pick("listen", flag.map(|v| ("--listen", v)), file_val);
        let text = v.unwrap_or_else(|| DEFAULT_LISTEN.into());
        text.parse().map_err(|_| {
            invalid(
                "listen",
                &s,
                format!(
                    "{text:?} is not an address; write IP:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:8080"
                ),
            )
        })
    }

    /// `database_url`: a SQLite or PostgreSQL URL.
    pub(crate) fn database_url(
        &mut self,
        file_val: Option<String>,
        flag: Option<String>,
    ) -> Result<String, ConfigError> {
        let (v, s) = self.pick(
            "database_url",
            flag.map(|v| ("--database-url", v)),
            file_val,
        );
        let url = v.unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "database_url",
                &s,
                "must start with sqlite:// (e.g. sqlite://switchboard.db) or postgres://".into(),
            ));
        }
        Ok(url)
    }

    /// The PostgreSQL pool's keys, in the order of [`crate::KEYS`]. They are read and
    /// checked whatever the backend (a bad value is an error on SQLite too, so that it
    /// cannot surprise the day the URL changes).
    pub(crate) fn database_pool(&mut self, raw: &RawConfig) -> Result<DatabasePool, ConfigError> {
        // At least 2: intake's writers and the delivery queue must not wait on a single
        // connection held by a long statement. PostgreSQL's own default max_connections
        // (100) is shared by every instance, so the default stays well below it.
        let max_connections = self.int(
            "database_max_connections",
            raw.database_max_connections,
            16,
            2,
            10_000,
        )?;
        let acquire_timeout_secs = self.int(
            "database_acquire_timeout_secs",
            raw.database_acquire_timeout_secs,
            15,
            1,
            3600,
        )?;
        // 30 s, as request_timeout_secs: no request waits longer for its answer, so a
        // statement still running after it (a lock held by a stuck client, a runaway
        // query) only holds a connection and locks that others need.
        let statement_timeout_secs = self.int(
            "database_statement_timeout_secs",
            raw.database_statement_timeout_secs,
            30,
            0,
            86_400,
        )?;
        Ok(DatabasePool {
            max_connections: u32::try_from(max_connections).unwrap_or(u32::MAX),
            acquire_timeout_secs,
            statement_timeout_secs,
        })
    }

    /// `public_url`: an http(s) URL with a host and nothing after the path, without a
    /// trailing `/`; `http://{listen}` by default.
    pub(crate) fn public_url(
        &mut self,
        file_val: Option<String>,
        listen: SocketAddr,
    ) -> Result<String, ConfigError> {
        let (v, s) = self.pick("public_url", None, file_val);
        let Some(u) = v else {
            return Ok(format!("http://{listen}"));
        };
        let parsed = url::Url::parse(&u).map_err(|e| {
            invalid(
                "public_url",
                &s,
                format!("{u:?} is not a URL ({e}); write e.g. https://switchboard.example.com"),
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
        Ok(u.trim_end_matches('/').to_owned())
    }

    /// `master_key`: resolved (`env:`, `file:`) and checked to be a master key.
    pub(crate) fn master_key(
        &mut self,
        file_val: Option<String>,
    ) -> Result<Option<SecretString>, ConfigError> {
        let (v, s) = self.pick("master_key", None, file_val);
        let Some(v) = v else { return Ok(None) };
        let k = resolve_secret("master_key", &s, &v, self.env)?;
        vault::MasterKey::from_base64(k.expose_secret())
            .map_err(|e| invalid("master_key", &s, format!("{e}")))?;
        Ok(Some(k))
    }

    /// `old_master_keys`: each resolved and checked; errors name the entry's index.
    pub(crate) fn old_master_keys(
        &mut self,
        file_val: Option<Vec<String>>,
    ) -> Result<Vec<SecretString>, ConfigError> {
        let (refs, src) = self.list("old_master_keys", file_val);
        let mut keys = Vec::new();
        for (i, r) in refs.unwrap_or_default().iter().enumerate() {
            let key = format!("old_master_keys[{i}]");
            let k = resolve_secret(&key, &src, r, self.env)?;
            vault::MasterKey::from_base64(k.expose_secret())
                .map_err(|e| invalid(&key, &src, format!("{e}")))?;
            keys.push(k);
        }
        Ok(keys)
    }

    /// `dev_key_file`: any path.
    pub(crate) fn dev_key_file(&mut self, file_val: Option<String>) -> PathBuf {
        let (v, _) = self.pick("dev_key_file", None, file_val);
        PathBuf::from(v.unwrap_or_else(|| DEFAULT_DEV_KEY_FILE.into()))
    }

    /// `log_format`: human or json.
    pub(crate) fn log_format(
        &mut self,
        file_val: Option<String>,
        flag: Option<String>,
    ) -> Result<LogFormat, ConfigError> {
        let (v, s) = self.pick("log_format", flag.map(|v| ("--log-format", v)), file_val);
        match v {
            None => Ok(LogFormat::Human),
            Some(t) => LogFormat::parse(&t).ok_or_else(|| {
                invalid(
                    "log_format",
                    &s,
                    format!("{t:?} is not a log format; use \"human\" or \"json\""),
                )
            }),
        }
    }

    /// `log_level`: not empty (its syntax is the logger's to check).
    pub(crate) fn log_level(&mut self, file_val: Option<String>) -> Result<String, ConfigError> {
        let (v, s) = self.pick("log_level", None, file_val);
        let level = v.unwrap_or_else(|| "info".into());
        if level.trim().is_empty() {
            return Err(invalid(
                "log_level",
                &s,
                "is empty; use e.g. \"info\" or \"switchboard=debug,info\"".into(),
            ));
        }
        Ok(level)
    }

    /// The numeric limits, each in its range, in the order of [`crate::KEYS`]; then
    /// the one rule between two of them, checked once both are known.
    pub(crate) fn limits(&mut self, raw: &RawConfig) -> Result<Limits, ConfigError> {
        const MIB: u64 = 1024 * 1024;
        const GIB: u64 = 1024 * MIB;
        let request_timeout_secs = self.int(
            "request_timeout_secs",
            raw.request_timeout_secs,
            30,
            1,
            3600,
        )?;
        let shutdown_grace_secs =
            self.int("shutdown_grace_secs", raw.shutdown_grace_secs, 30, 0, 3600)?;
        let max_body_bytes = self.int("max_body_bytes", raw.max_body_bytes, MIB, 1024, GIB)?;
        let outbound_timeout_secs = self.int(
            "outbound_timeout_secs",
            raw.outbound_timeout_secs,
            30,
            1,
            300,
        )?;
        let token_refresh_margin_secs = self.int(
            "token_refresh_margin_secs",
            raw.token_refresh_margin_secs,
            300,
            0,
            86400,
        )?;
        let refresh_lease_secs =
            self.int("refresh_lease_secs", raw.refresh_lease_secs, 90, 10, 3600)?;
        let connect_session_ttl_secs = self.int(
            "connect_session_ttl_secs",
            raw.connect_session_ttl_secs,
            1800,
            60,
            86400,
        )?;
        let background_refresh_interval_secs = self.int(
            "background_refresh_interval_secs",
            raw.background_refresh_interval_secs,
            30,
            1,
            3600,
        )?;
        let background_refresh_concurrency = self.int(
            "background_refresh_concurrency",
            raw.background_refresh_concurrency,
            4,
            1,
            64,
        )?;
        // A refresh holds its lease while it calls the provider: a lease shorter than
        // the outbound timeout could lapse mid-call and let a second refresher in.
        if refresh_lease_secs <= outbound_timeout_secs {
            let src = self
                .sources
                .get("refresh_lease_secs")
                .cloned()
                .unwrap_or(Source::Default);
            return Err(invalid(
                "refresh_lease_secs",
                &src,
                format!(
                    "{refresh_lease_secs} must be longer than outbound_timeout_secs ({outbound_timeout_secs}), so that a refresh cannot outlive its lease"
                ),
            ));
        }
        let proxy_max_wait_secs =
            self.int("proxy_max_wait_secs", raw.proxy_max_wait_secs, 30, 0, 3600)?;
        let proxy_max_body_bytes = self.int(
            "proxy_max_body_bytes",
            raw.proxy_max_body_bytes,
            GIB,
            1024,
            1024 * GIB,
        )?;
        Ok(Limits {
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
        })
    }

    /// `proxy_redact_query`: bare query parameter names; a few common ones by default.
    pub(crate) fn proxy_redact_query(
        &mut self,
        file_val: Option<Vec<String>>,
    ) -> Result<Vec<String>, ConfigError> {
        let (v, src) = self.list("proxy_redact_query", file_val);
        let names = v.unwrap_or_else(|| {
            DEFAULT_PROXY_REDACT_QUERY
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        });
        for (i, q) in names.iter().enumerate() {
            if q.is_empty() || q.contains(|c: char| c.is_whitespace() || c == '=' || c == '&') {
                return Err(invalid(
                    &format!("proxy_redact_query[{i}]"),
                    &src,
                    format!("{q:?} is not a query parameter name; write a bare name like api_key"),
                ));
            }
        }
        Ok(names)
    }

    /// `api_key_cache_secs`.
    pub(crate) fn api_key_cache_secs(&mut self, file_val: Option<u64>) -> Result<u64, ConfigError> {
        self.int("api_key_cache_secs", file_val, 1, 0, 3600)
    }

    /// `instance_heartbeat_ms`.
    pub(crate) fn instance_heartbeat_ms(
        &mut self,
        file_val: Option<u64>,
    ) -> Result<u64, ConfigError> {
        self.int("instance_heartbeat_ms", file_val, 1000, 100, 60_000)
    }

    /// `payload_retention_days` (0: forever; at most 100 years).
    pub(crate) fn payload_retention_days(
        &mut self,
        file_val: Option<u64>,
    ) -> Result<u64, ConfigError> {
        self.int("payload_retention_days", file_val, 30, 0, 36_500)
    }

    /// `retention_sweep_interval_secs`.
    pub(crate) fn retention_sweep_interval_secs(
        &mut self,
        file_val: Option<u64>,
    ) -> Result<u64, ConfigError> {
        self.int("retention_sweep_interval_secs", file_val, 600, 1, 86_400)
    }

    /// `allow_hosts`: bare host names; none by default.
    pub(crate) fn allow_hosts(
        &mut self,
        file_val: Option<Vec<String>>,
    ) -> Result<Vec<String>, ConfigError> {
        let (v, src) = self.list("allow_hosts", file_val);
        let hosts = v.unwrap_or_default();
        for (i, h) in hosts.iter().enumerate() {
            if h.is_empty() || h.contains('/') || h.contains(char::is_whitespace) {
                return Err(invalid(
                    &format!("allow_hosts[{i}]"),
                    &src,
                    format!(
                        "{h:?} is not a host name; write a bare host like api.example.com or 127.0.0.1"
                    ),
                ));
            }
        }
        Ok(hosts)
    }

    /// `metrics_listen`: an IP:PORT of its own for `/metrics`, or nothing.
    pub(crate) fn metrics_listen(
        &mut self,
        file_val: Option<String>,
        listen: SocketAddr,
    ) -> Result<Option<SocketAddr>, ConfigError> {
        let (v, s) = self.pick("metrics_listen", None, file_val);
        let Some(text) = v else { return Ok(None) };
        let addr: SocketAddr = text.trim().parse().map_err(|_| {
            invalid(
                "metrics_listen",
                &s,
                format!("{text:?} is not an address; write IP:PORT, e.g. 127.0.0.1:9464"),
            )
        })?;
        if addr == listen {
            return Err(invalid(
                "metrics_listen",
                &s,
                format!(
                    "{addr} is also `listen`; give /metrics another port (e.g. 127.0.0.1:9464) or remove metrics_listen"
                ),
            ));
        }
        Ok(Some(addr))
    }

    /// `metrics_key`: a secret (`env:`, `file:` or literal) that `/metrics` requires as
    /// a bearer token.
    pub(crate) fn metrics_key(
        &mut self,
        file_val: Option<String>,
    ) -> Result<Option<SecretString>, ConfigError> {
        let (v, s) = self.pick("metrics_key", None, file_val);
        let Some(v) = v else { return Ok(None) };
        let k = resolve_secret("metrics_key", &s, &v, self.env)?;
        if k.expose_secret().len() < 16 {
            return Err(invalid(
                "metrics_key",
                &s,
                "is shorter than 16 characters; use a long random value (e.g. `openssl rand -hex 32`)".into(),
            ));
        }
        Ok(Some(k))
    }
}
