//! The `[[integrations]]` and `[[destinations]]` tables.
//!
//! They are parsed and their secrets resolved with the rest of the file; the checks that
//! need the provider catalog (does the provider exist, does its scheme take these
//! secrets) are made by the caller, which owns the catalog.

use std::collections::BTreeSet;

use serde::Deserialize;
use vault::{ExposeSecret, SecretString};

use crate::{ConfigError, Env, Source, resolve_secret};

/// An integration as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIntegration {
    id: String,
    provider: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    required_scopes: Vec<String>,
    #[serde(default)]
    settings: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    allowed_return_origins: Vec<String>,
    #[serde(default)]
    webhook_secrets: Vec<String>,
    webhook_scheme: Option<signatures::Scheme>,
    webhook_tolerance_secs: Option<u64>,
    #[serde(default)]
    webhook_secret_handshake: bool,
    rate_limit: Option<RawRateLimit>,
    payload_retention_days: Option<u64>,
    app_id: Option<String>,
    app_slug: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    health_check_interval_secs: Option<u64>,
    #[serde(default)]
    redact_fields: Vec<String>,
}

/// The shortest `health_check_interval_secs`: a check costs the provider a request per
/// connection, so more often than once a minute is refused.
pub const HEALTH_CHECK_MIN_SECS: u64 = 60;
/// The longest `health_check_interval_secs` (30 days).
pub const HEALTH_CHECK_MAX_SECS: u64 = 30 * 86_400;

/// An integration's `rate_limit = { … }` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRateLimit {
    per_second: Option<u64>,
    burst: Option<u64>,
    per_connection_per_second: Option<u64>,
    per_connection_burst: Option<u64>,
    on_limit: Option<String>,
}

/// What the API proxy does with a request over an integration's rate limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnLimit {
    /// Wait for the bucket to refill, at most as long as `proxy_max_wait_secs` allows.
    #[default]
    Wait,
    /// Answer 429 with `Retry-After` at once.
    Reject,
}

/// Proactive rate limit of the API proxy for one integration (token buckets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests per second across all connections of the integration.
    pub per_second: Option<u32>,
    /// Burst of the integration's bucket (default: `per_second`).
    pub burst: Option<u32>,
    /// Requests per second of each connection.
    pub per_connection_per_second: Option<u32>,
    /// Burst of each connection's bucket (default: `per_connection_per_second`).
    pub per_connection_burst: Option<u32>,
    /// Wait or refuse over the limit.
    pub on_limit: OnLimit,
}

const RATE_MAX: u64 = 1_000_000;

fn rate_limit(r: RawRateLimit, i: usize, src: &Source) -> Result<RateLimit, ConfigError> {
    let key = |f: &str| format!("integrations[{i}].rate_limit.{f}");
    let num = |f: &str, v: Option<u64>| -> Result<Option<u32>, ConfigError> {
        match v {
            None => Ok(None),
            Some(n) if (1..=RATE_MAX).contains(&n) => Ok(Some(n as u32)),
            Some(n) => Err(invalid(
                key(f),
                src,
                format!("{n} is out of range; use 1..={RATE_MAX} requests"),
            )),
        }
    };
    let out = RateLimit {
        per_second: num("per_second", r.per_second)?,
        burst: num("burst", r.burst)?,
        per_connection_per_second: num("per_connection_per_second", r.per_connection_per_second)?,
        per_connection_burst: num("per_connection_burst", r.per_connection_burst)?,
        on_limit: match r.on_limit.as_deref() {
            None | Some("wait") => OnLimit::Wait,
            Some("reject") => OnLimit::Reject,
            Some(other) => {
                return Err(invalid(
                    key("on_limit"),
                    src,
                    format!("{other:?} is not a choice; use \"wait\" or \"reject\""),
                ));
            }
        },
    };
    if out.burst.is_some() && out.per_second.is_none() {
        return Err(invalid(
            key("burst"),
            src,
            "needs per_second (the rate the bucket refills at); set both",
        ));
    }
    if out.per_connection_burst.is_some() && out.per_connection_per_second.is_none() {
        return Err(invalid(
            key("per_connection_burst"),
            src,
            "needs per_connection_per_second (the rate the bucket refills at); set both",
        ));
    }
    if out.per_second.is_none() && out.per_connection_per_second.is_none() {
        return Err(invalid(
            key("per_second"),
            src,
            "rate_limit sets no limit; give per_second and/or per_connection_per_second, or remove rate_limit",
        ));
    }
    Ok(out)
}

/// A destination as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDestination {
    id: String,
    url: String,
    secret: Option<String>,
    signing_key: Option<String>,
    #[serde(default)]
    integrations: Vec<String>,
    #[serde(default = "all_event_types")]
    event_types: Vec<String>,
    timeout_secs: Option<u64>,
    max_attempts: Option<u64>,
    retry_schedule_secs: Option<Vec<u64>>,
    max_concurrency: Option<u64>,
    rate_limit: Option<RawDestinationRateLimit>,
}

/// A destination's `rate_limit = { per_second, burst }` as written (the shape of an
/// integration's, without the per-connection buckets: deliveries over it always wait).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDestinationRateLimit {
    per_second: Option<u64>,
    burst: Option<u64>,
}

/// Most requests per second a destination may receive, across every instance sharing
/// the database (a token bucket: `per_second` refill, `burst` capacity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestinationRateLimit {
    /// Requests per second.
    pub per_second: u32,
    /// Requests that may go at once after a quiet spell (default: `per_second`).
    pub burst: u32,
}

fn destination_rate_limit(
    r: RawDestinationRateLimit,
    i: usize,
    src: &Source,
) -> Result<DestinationRateLimit, ConfigError> {
    let key = |f: &str| format!("destinations[{i}].rate_limit.{f}");
    let num = |f: &str, v: u64| -> Result<u32, ConfigError> {
        if (1..=RATE_MAX).contains(&v) {
            Ok(v as u32)
        } else {
            Err(invalid(
                key(f),
                src,
                format!("{v} is out of range; use 1..={RATE_MAX} requests"),
            ))
        }
    };
    let Some(per_second) = r.per_second else {
        return Err(invalid(
            key("per_second"),
            src,
            "is missing; give the requests per second (and optionally burst), or remove rate_limit",
        ));
    };
    let per_second = num("per_second", per_second)?;
    let burst = r.burst.map(|b| num("burst", b)).transpose()?;
    Ok(DestinationRateLimit {
        per_second,
        burst: burst.unwrap_or(per_second),
    })
}

fn all_event_types() -> Vec<String> {
    vec!["*".to_owned()]
}

/// One configured use of a provider.
#[derive(Debug, Clone)]
pub struct Integration {
    /// Operator-chosen id (`github-main`), lowercase letters, digits and `-`.
    pub id: String,
    /// Catalog or custom provider id.
    pub provider: String,
    /// OAuth client id, if the integration connects accounts.
    pub client_id: Option<String>,
    /// OAuth client secret.
    pub client_secret: Option<SecretString>,
    /// Scopes requested at connect time (the provider's defaults when empty).
    pub scopes: Vec<String>,
    /// Scopes a connection must be granted; a connection missing one is marked
    /// (`missing_scopes`).
    pub required_scopes: Vec<String>,
    /// Values of the provider's integration-level placeholders (Okta `domain`…).
    pub settings: std::collections::BTreeMap<String, String>,
    /// Origins (`https://app.example`) that connect results may be sent to.
    pub allowed_return_origins: Vec<String>,
    /// Webhook signing secrets; several while rotating.
    pub webhook_secrets: Vec<SecretString>,
    /// Overrides the provider's webhook scheme.
    pub webhook_scheme: Option<signatures::Scheme>,
    /// Overrides the scheme's timestamp tolerance.
    pub webhook_tolerance_secs: Option<u64>,
    /// Takes the webhook secret from the provider's handshake (Asana `X-Hook-Secret`):
    /// the first handshake's secret is sealed in the database and checks every later
    /// signature. Off by default, so that an unsigned request is never taken as a
    /// handshake by accident.
    pub webhook_secret_handshake: bool,
    /// The API proxy's proactive rate limit (none when absent).
    pub rate_limit: Option<RateLimit>,
    /// Days its events' payloads are kept (0: forever); the top-level
    /// `payload_retention_days` when absent.
    pub payload_retention_days: Option<u64>,
    /// The GitHub App's id (`github_app` providers): the `iss` of its app JWTs.
    pub app_id: Option<String>,
    /// The GitHub App's slug, from its public page URL (`github_app` providers).
    pub app_slug: Option<String>,
    /// An RSA private key in PEM (`github_app` and `jwt_bearer` providers), checked to
    /// sign at load.
    pub private_key: Option<SecretString>,
    /// The key's id, sent as the `kid` header of JWT bearer assertions (Google's
    /// `private_key_id`).
    pub private_key_id: Option<String>,
    /// How often each active connection's credentials are tried with the provider's
    /// cheapest authenticated request (none when absent: no health checks).
    pub health_check_interval_secs: Option<u64>,
    /// JSON pointers (`/data/card/number`) of payload fields the console never shows,
    /// beside the keys that look secret.
    pub redact_fields: Vec<String>,
}

/// An endpoint of the app that receives mapped events.
#[derive(Debug, Clone)]
pub struct Destination {
    /// Operator-chosen id.
    pub id: String,
    /// Where events are POSTed.
    pub url: String,
    /// Standard Webhooks symmetric signing secret (`whsec_…`): `v1` signatures.
    pub secret: Option<SecretString>,
    /// Standard Webhooks Ed25519 secret key (`whsk_…`): `v1a` signatures. At least one of
    /// `secret` and `signing_key` is set.
    pub signing_key: Option<SecretString>,
    /// Integrations whose events go here (empty: all).
    pub integrations: Vec<String>,
    /// Event type patterns (`*`, `payment.*`, `user.created`).
    pub event_types: Vec<String>,
    /// Longest time one delivery request may take (default 15 s).
    pub timeout_secs: u64,
    /// Attempts before a delivery is `dead` (default: one per retry schedule entry).
    pub max_attempts: u32,
    /// Delay before each attempt, in seconds: entry n is the wait before attempt n + 1
    /// (the first is normally 0); jittered by ±20 %. The last entry repeats when
    /// `max_attempts` is larger.
    pub retry_schedule_secs: Vec<u64>,
    /// Requests in flight to this destination at once, per process.
    pub max_concurrency: u32,
    /// Requests per second to this destination, per process (none when absent).
    pub rate_limit: Option<DestinationRateLimit>,
}

/// The default retry schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
pub const DEFAULT_RETRY_SCHEDULE_SECS: &[u64] = &[0, 5, 300, 1800, 7200, 18000, 36000, 36000];

fn invalid(key: String, src: &Source, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        origin: src.to_string(),
        message: message.into(),
    }
}

/// Checks a JSON pointer (RFC 6901) as `redact_fields` takes it: `/` then segments
/// separated by `/`, `~` only as `~0` or `~1`, at most 512 bytes, no control characters.
/// The whole document (`""`) is refused: redact the fields, not everything.
pub fn check_json_pointer(p: &str) -> Result<(), &'static str> {
    if p.is_empty() || p == "/" {
        return Err("it selects the whole payload");
    }
    if !p.starts_with('/') {
        return Err("it must start with /");
    }
    if p.len() > 512 {
        return Err("it is longer than 512 bytes");
    }
    if p.chars().any(char::is_control) {
        return Err("it has a control character");
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err("~ must be followed by 0 or 1 (~0 is ~, ~1 is /)");
        }
    }
    Ok(())
}

/// Whether `id` is a usable identifier: 1 to 64 of `a-z`, `0-9`, `-`, not starting or
/// ending with `-` (it appears in URLs).
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

const ID_RULE: &str =
    "use 1 to 64 lowercase letters, digits and '-' (it appears in URLs), e.g. github-main";

/// Parses an origin (`scheme://host[:port]`) and returns its normalised form.
fn origin(text: &str) -> Option<String> {
    let u = url::Url::parse(text).ok()?;
    let ok = matches!(u.scheme(), "http" | "https")
        && u.host().is_some()
        && u.username().is_empty()
        && u.password().is_none()
        && u.path() == "/"
        && u.query().is_none()
        && u.fragment().is_none()
        && !text.ends_with("/#")
        && !text.ends_with('?');
    ok.then(|| u.origin().ascii_serialization())
}

/// Checks an entry's id: well-formed and not used by an earlier entry of `table`.
fn check_id(
    id: &str,
    table: &str,
    seen: &mut BTreeSet<String>,
    key: String,
    src: &Source,
) -> Result<(), ConfigError> {
    if !valid_id(id) {
        return Err(invalid(
            key,
            src,
            format!("{id:?} is not a valid id; {ID_RULE}"),
        ));
    }
    if !seen.insert(id.to_owned()) {
        return Err(invalid(
            key,
            src,
            format!("{id:?} is used by two {table}; ids must be unique"),
        ));
    }
    Ok(())
}

pub(crate) fn providers(
    raw: Vec<catalog::CustomProvider>,
    src: &Source,
) -> Result<Vec<catalog::CustomProvider>, ConfigError> {
    let mut seen = BTreeSet::new();
    for (i, p) in raw.iter().enumerate() {
        check_id(
            &p.id,
            "providers",
            &mut seen,
            format!("providers[{i}].id"),
            src,
        )?;
        if catalog::Catalog::builtin().get(&p.id).is_some() {
            return Err(invalid(
                format!("providers[{i}].id"),
                src,
                format!(
                    "{:?} is a built-in provider, which needs no entry; give yours another id",
                    p.id
                ),
            ));
        }
        // Structure only; URL rules depend on --dev and are checked by `Config::catalog`.
        p.validate(true)
            .map_err(|e| invalid(format!("providers[{i}]"), src, e.to_string()))?;
    }
    Ok(raw)
}

pub(crate) fn effective_catalog(
    cfg: &crate::Config,
    dev: bool,
) -> Result<(catalog::Catalog, Vec<String>), ConfigError> {
    let src = cfg
        .file
        .as_deref()
        .map(|p| Source::File(p.display().to_string()))
        .unwrap_or(Source::Default);
    let mut cat = catalog::Catalog::builtin().clone();
    let mut pending = Vec::new();
    for (i, p) in cfg.providers.iter().enumerate() {
        p.validate(dev)
            .map_err(|e| invalid(format!("providers[{i}]"), &src, e.to_string()))?;
        if p.needs_discovery() {
            pending.push(p.id.clone());
            continue;
        }
        let provider = p
            .to_provider_explicit(dev)
            .map_err(|e| invalid(format!("providers[{i}]"), &src, e.to_string()))?;
        cat.insert(provider)
            .map_err(|e| invalid(format!("providers[{i}].id"), &src, e.to_string()))?;
    }
    for (i, it) in cfg.integrations.iter().enumerate() {
        let known = cat.get(&it.provider);
        if known.is_none() && !pending.contains(&it.provider) {
            return Err(invalid(
                format!("integrations[{i}].provider"),
                &src,
                catalog::CatalogError::UnknownProvider(it.provider.clone()).to_string(),
            ));
        }
        let mode = known.map(|p| p.auth_mode).unwrap_or_else(|| {
            cfg.providers
                .iter()
                .find(|p| p.id == it.provider)
                .and_then(|p| p.auth_mode)
                .unwrap_or(catalog::AuthMode::Oauth2)
        });
        if let Err((field, message)) = app_keys(it, mode) {
            return Err(invalid(format!("integrations[{i}].{field}"), &src, message));
        }
        let scheme = it
            .webhook_scheme
            .as_ref()
            .or_else(|| known.and_then(catalog::Provider::webhook_scheme));
        if it.webhook_secret_handshake
            && known.is_some_and(|p| {
                p.webhooks.as_ref().and_then(|w| w.handshake)
                    != Some(catalog::Handshake::AsanaHookSecret)
            })
        {
            return Err(invalid(
                format!("integrations[{i}].webhook_secret_handshake"),
                &src,
                format!(
                    "provider {:?} does not hand over its webhook secret in a handshake; remove webhook_secret_handshake (it is for asana)",
                    it.provider
                ),
            ));
        }
        if it.webhook_secret_handshake && !it.webhook_secrets.is_empty() {
            return Err(invalid(
                format!("integrations[{i}].webhook_secret_handshake"),
                &src,
                "is on, but webhook_secrets are configured too; keep one: the secrets, or the handshake that hands one over".to_owned(),
            ));
        }
        if let Some(s) = scheme.filter(|s| s.fetches_keys())
            && let Err((field, message)) = fetched_key_settings(it, s, known, dev)
        {
            return Err(invalid(format!("integrations[{i}].{field}"), &src, message));
        }
        if !it.webhook_secrets.is_empty() && scheme.is_none() && known.is_some() {
            return Err(invalid(
                format!("integrations[{i}].webhook_scheme"),
                &src,
                format!(
                    "provider {:?} has no webhook signature scheme; set webhook_scheme (see docs/webhooks/) or remove webhook_secrets",
                    it.provider
                ),
            ));
        }
    }
    Ok((cat, pending))
}

pub(crate) fn integrations(
    raw: Vec<RawIntegration>,
    src: &Source,
    env: &dyn Env,
) -> Result<Vec<Integration>, ConfigError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("integrations[{i}].{field}");
        check_id(&r.id, "integrations", &mut seen, key("id"), src)?;
        if r.provider.trim().is_empty() {
            return Err(invalid(
                key("provider"),
                src,
                "is empty; name a provider (`switchboard providers list`)",
            ));
        }
        let client_secret = r
            .client_secret
            .as_deref()
            .map(|v| resolve_secret(&key("client_secret"), src, v, env))
            .transpose()?;
        match (&r.client_id, &client_secret) {
            (Some(id), _) if id.trim().is_empty() => {
                return Err(invalid(
                    key("client_id"),
                    src,
                    "is empty; give the OAuth client id or remove the key",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    key("client_id"),
                    src,
                    "is missing while client_secret is set; give both or neither",
                ));
            }
            _ => {}
        }
        for (field, list) in [
            ("scopes", &r.scopes),
            ("required_scopes", &r.required_scopes),
        ] {
            for (j, s) in list.iter().enumerate() {
                if s.is_empty() || s.contains(char::is_whitespace) {
                    return Err(invalid(
                        format!("integrations[{i}].{field}[{j}]"),
                        src,
                        "a scope is one non-empty word without spaces",
                    ));
                }
            }
        }
        for (name, value) in &r.settings {
            if value.is_empty() || value.len() > 512 {
                return Err(invalid(
                    format!("integrations[{i}].settings.{name}"),
                    src,
                    "must be 1 to 512 characters",
                ));
            }
        }
        let mut origins = Vec::with_capacity(r.allowed_return_origins.len());
        for (j, o) in r.allowed_return_origins.iter().enumerate() {
            let normal = origin(o).ok_or_else(|| {
                invalid(
                    format!("integrations[{i}].allowed_return_origins[{j}]"),
                    src,
                    format!("{o:?} is not an origin; write scheme://host[:port] without a path, e.g. https://app.example"),
                )
            })?;
            origins.push(normal);
        }
        let mut webhook_secrets = Vec::with_capacity(r.webhook_secrets.len());
        for (j, v) in r.webhook_secrets.iter().enumerate() {
            webhook_secrets.push(resolve_secret(
                &format!("integrations[{i}].webhook_secrets[{j}]"),
                src,
                v,
                env,
            )?);
        }
        if let Some(t) = r.webhook_tolerance_secs
            && !(1..=86_400).contains(&t)
        {
            return Err(invalid(
                key("webhook_tolerance_secs"),
                src,
                format!("{t} is out of range; use 1..=86400 seconds"),
            ));
        }
        if let Some(d) = r.payload_retention_days
            && d > 36_500
        {
            return Err(invalid(
                key("payload_retention_days"),
                src,
                format!("{d} is out of range; use 0 (keep forever) to 36500 days"),
            ));
        }
        if let Some(h) = r.health_check_interval_secs
            && !(HEALTH_CHECK_MIN_SECS..=HEALTH_CHECK_MAX_SECS).contains(&h)
        {
            return Err(invalid(
                key("health_check_interval_secs"),
                src,
                format!(
                    "{h} is out of range; use {HEALTH_CHECK_MIN_SECS}..={HEALTH_CHECK_MAX_SECS} seconds (1 minute to 30 days), or leave it out to turn health checks off"
                ),
            ));
        }
        for (j, p) in r.redact_fields.iter().enumerate() {
            if let Err(why) = check_json_pointer(p) {
                return Err(invalid(
                    format!("integrations[{i}].redact_fields[{j}]"),
                    src,
                    format!("{why}; write a JSON pointer such as \"/data/card/number\""),
                ));
            }
        }
        let rate_limit = r.rate_limit.map(|l| rate_limit(l, i, src)).transpose()?;
        let private_key = r
            .private_key
            .as_deref()
            .map(|v| resolve_secret(&key("private_key"), src, v, env))
            .transpose()?;
        // Google's service-account key file (JSON) gives the PEM, the issuer and the
        // key id in one; what the file says must agree with what the table says.
        let mut client_id = r.client_id;
        let mut private_key_id = r.private_key_id;
        let private_key = match private_key {
            Some(k) => {
                let file = crate::keys::read_signing_key(&k)
                    .map_err(|m| invalid(key("private_key"), src, m))?;
                for (field, given, from_file) in [
                    ("client_id", &mut client_id, file.client_email),
                    ("private_key_id", &mut private_key_id, file.key_id),
                ] {
                    match (given.as_deref(), from_file) {
                        (Some(g), Some(f)) if g != f => {
                            return Err(invalid(
                                key(field),
                                src,
                                format!(
                                    "is {g:?} but the service-account key file says {f:?}; remove {field} (the file's is used) or give the matching key file"
                                ),
                            ));
                        }
                        (None, Some(f)) => *given = Some(f),
                        _ => {}
                    }
                }
                Some(file.pem)
            }
            None => None,
        };
        if let Some(a) = &r.app_id
            && (a.is_empty() || a.len() > 20 || !a.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(invalid(
                key("app_id"),
                src,
                "must be the GitHub App's numeric id (its settings page shows \"App ID\")",
            ));
        }
        if let Some(s) = &r.app_slug
            && !valid_slug(s)
        {
            return Err(invalid(
                key("app_slug"),
                src,
                "must be the app's slug as in https://github.com/apps/<slug>: 1 to 100 of a-z, 0-9 and -",
            ));
        }
        if let Some(k) = &private_key_id
            && (k.is_empty() || k.len() > 200 || k.chars().any(char::is_control))
        {
            return Err(invalid(
                key("private_key_id"),
                src,
                "must be 1 to 200 printable characters",
            ));
        }
        out.push(Integration {
            app_id: r.app_id,
            app_slug: r.app_slug,
            private_key,
            private_key_id,
            health_check_interval_secs: r.health_check_interval_secs,
            payload_retention_days: r.payload_retention_days,
            redact_fields: r.redact_fields,
            rate_limit,
            id: r.id,
            provider: r.provider,
            client_id,
            client_secret,
            scopes: r.scopes,
            required_scopes: r.required_scopes,
            settings: r.settings,
            allowed_return_origins: origins,
            webhook_secrets,
            webhook_scheme: r.webhook_scheme,
            webhook_tolerance_secs: r.webhook_tolerance_secs,
            webhook_secret_handshake: r.webhook_secret_handshake,
        });
    }
    Ok(out)
}

pub(crate) fn destinations(
    raw: Vec<RawDestination>,
    integrations: &[Integration],
    src: &Source,
    env: &dyn Env,
) -> Result<Vec<Destination>, ConfigError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("destinations[{i}].{field}");
        check_id(&r.id, "destinations", &mut seen, key("id"), src)?;
        let url_ok = url::Url::parse(&r.url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && u.host().is_some()
                && u.username().is_empty()
                && u.password().is_none()
        });
        if !url_ok {
            return Err(invalid(
                key("url"),
                src,
                format!(
                    "{:?} is not an http(s) URL with a host (and no credentials)",
                    r.url
                ),
            ));
        }
        let secret = r
            .secret
            .as_deref()
            .map(|v| resolve_secret(&key("secret"), src, v, env))
            .transpose()?;
        if let Some(s) = &secret
            && !standard_webhooks_secret(s.expose_secret())
        {
            return Err(invalid(
                key("secret"),
                src,
                "must be a Standard Webhooks secret: whsec_ followed by base64 of 24 to 64 random bytes",
            ));
        }
        let signing_key = r
            .signing_key
            .as_deref()
            .map(|v| resolve_secret(&key("signing_key"), src, v, env))
            .transpose()?;
        if let Some(k) = &signing_key {
            check_signing_key(k).map_err(|m| invalid(key("signing_key"), src, m))?;
        }
        if secret.is_none() && signing_key.is_none() {
            return Err(invalid(
                key("secret"),
                src,
                "is missing; give secret (whsec_…, v1 signatures) and/or signing_key (whsk_…, v1a signatures)",
            ));
        }
        for (j, name) in r.integrations.iter().enumerate() {
            if !integrations.iter().any(|it| &it.id == name) {
                return Err(invalid(
                    format!("destinations[{i}].integrations[{j}]"),
                    src,
                    format!("no integration has id {name:?}; list ids from [[integrations]]"),
                ));
            }
        }
        if r.event_types.is_empty() {
            return Err(invalid(
                key("event_types"),
                src,
                "is empty; use [\"*\"] for every event type",
            ));
        }
        for (j, t) in r.event_types.iter().enumerate() {
            let ok = !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'*'))
                && (!t.contains('*')
                    || t == "*"
                    || (t.ends_with(".*") && t.matches('*').count() == 1));
            if !ok {
                return Err(invalid(
                    format!("destinations[{i}].event_types[{j}]"),
                    src,
                    format!(
                        "{t:?} is not an event type pattern; use \"*\", \"payment.*\" or \"user.created\""
                    ),
                ));
            }
        }
        let timeout_secs = r.timeout_secs.unwrap_or(15);
        if !(1..=300).contains(&timeout_secs) {
            return Err(invalid(
                key("timeout_secs"),
                src,
                format!("{timeout_secs} is out of range; use 1..=300 seconds"),
            ));
        }
        let retry_schedule_secs = r
            .retry_schedule_secs
            .unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE_SECS.to_vec());
        if retry_schedule_secs.is_empty() || retry_schedule_secs.len() > 50 {
            return Err(invalid(
                key("retry_schedule_secs"),
                src,
                "give 1 to 50 delays in seconds, e.g. [0, 5, 300]",
            ));
        }
        if let Some(j) = retry_schedule_secs.iter().position(|d| *d > 7 * 86_400) {
            return Err(invalid(
                format!("destinations[{i}].retry_schedule_secs[{j}]"),
                src,
                "is longer than a week (604800 seconds); use a shorter delay",
            ));
        }
        let max_attempts = r.max_attempts.unwrap_or(retry_schedule_secs.len() as u64);
        if !(1..=100).contains(&max_attempts) {
            return Err(invalid(
                key("max_attempts"),
                src,
                format!("{max_attempts} is out of range; use 1..=100"),
            ));
        }
        let max_concurrency = r.max_concurrency.unwrap_or(8);
        if !(1..=256).contains(&max_concurrency) {
            return Err(invalid(
                key("max_concurrency"),
                src,
                format!("{max_concurrency} is out of range; use 1..=256"),
            ));
        }
        let rate_limit = r
            .rate_limit
            .map(|l| destination_rate_limit(l, i, src))
            .transpose()?;
        out.push(Destination {
            id: r.id,
            url: r.url,
            secret,
            signing_key,
            rate_limit,
            integrations: r.integrations,
            event_types: r.event_types,
            timeout_secs,
            max_attempts: max_attempts as u32,
            retry_schedule_secs,
            max_concurrency: max_concurrency as u32,
        });
    }
    Ok(out)
}

fn standard_webhooks_secret(s: &str) -> bool {
    use base64::Engine as _;
    s.strip_prefix("whsec_")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|k| (24..=64).contains(&k.len()))
}

/// Checks a Standard Webhooks Ed25519 secret key (`whsk_` + base64 of a 32-byte seed or
/// a 64-byte seed and public key); the message never contains the key.
fn check_signing_key(k: &SecretString) -> Result<(), String> {
    let text = k.expose_secret().trim();
    if text.starts_with("whpk_") {
        return Err("is a public key (whpk_…); put the secret key (whsk_…) here and give the public key to the app".into());
    }
    if !text.starts_with("whsk_") {
        return Err("must be a Standard Webhooks Ed25519 secret key: whsk_ followed by base64 of a 32-byte seed (or of the 64-byte seed and public key)".into());
    }
    match signatures::public_key(&signatures::Scheme::StandardWebhooks, k) {
        Ok(_) => Ok(()),
        Err(signatures::SignError::BadSecret { reason, .. }) => Err(format!(
            "is not a usable Ed25519 secret key ({reason}); write whsk_ followed by base64 of a 32-byte seed"
        )),
        Err(e) => Err(format!("is not a usable Ed25519 secret key ({e})")),
    }
}

/// What an integration whose webhooks are verified with keys fetched from the provider
/// (Plaid, PayPal) must give: no webhook secrets (there are none), the provider's key
/// sources, the credentials the key endpoint asks for (Plaid's client_id and secret), the
/// settings the scheme signs or the key URL's placeholders need.
fn fetched_key_settings(
    it: &Integration,
    scheme: &signatures::Scheme,
    known: Option<&catalog::Provider>,
    dev: bool,
) -> Result<(), (String, String)> {
    let provider = &it.provider;
    let keys = known
        .and_then(|p| p.webhooks.as_ref())
        .filter(|w| w.scheme.as_ref() == Some(scheme))
        .and_then(|w| w.keys.as_ref());
    if !it.webhook_secrets.is_empty() {
        return Err((
            "webhook_secrets".into(),
            format!(
                "do not apply: {scheme} webhooks are verified with keys fetched from the provider, not with shared secrets; remove webhook_secrets"
            ),
        ));
    }
    let Some(keys) = keys else {
        return Err((
            "webhook_scheme".into(),
            format!(
                "is {scheme}, whose keys are fetched from where the provider's entry says ([webhooks.keys]), and provider {provider:?} says nowhere; use a provider whose entry uses {scheme}"
            ),
        ));
    };
    if let Some(template) = &keys.key_url {
        if it.client_id.is_none() || it.client_secret.is_none() {
            let field = if it.client_id.is_none() {
                "client_id"
            } else {
                "client_secret"
            };
            return Err((
                field.into(),
                format!(
                    "is missing; provider {provider:?} hands out its webhook keys only to the app's client_id and secret (the provider's dashboard shows them)"
                ),
            ));
        }
        let placeholders = known.map(|p| p.placeholders.clone()).unwrap_or_default();
        if let Err(e) = catalog::resolve_url_with(template, &placeholders, &it.settings, dev) {
            // Name the setting a refused or missing placeholder value comes from.
            let field = match &e {
                catalog::CatalogError::BadValue { placeholder, .. }
                | catalog::CatalogError::MissingValue { placeholder, .. } => {
                    placeholders.get(placeholder).and_then(|p| match &p.from {
                        catalog::ValueSource::Integration(name) => Some(format!("settings.{name}")),
                        _ => None,
                    })
                }
                _ => None,
            };
            return Err((field.unwrap_or_else(|| "settings".into()), e.to_string()));
        }
    }
    for name in &keys.settings {
        match it.settings.get(name) {
            None => {
                return Err((
                    format!("settings.{name}"),
                    format!(
                        "is missing; provider {provider:?} signs its webhooks with it (for PayPal: the id PayPal shows for the registered webhook, not an event's id)"
                    ),
                ));
            }
            Some(v) if v.len() > 128 || v.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                return Err((
                    format!("settings.{name}"),
                    "must be at most 128 characters without spaces".into(),
                ));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The keys a GitHub App or JWT bearer integration needs, and only those modes take.
fn app_keys(it: &Integration, mode: catalog::AuthMode) -> Result<(), (&'static str, String)> {
    use catalog::AuthMode;
    let provider = &it.provider;
    match mode {
        AuthMode::GithubApp => {
            for (field, missing) in [
                ("app_id", it.app_id.is_none()),
                ("app_slug", it.app_slug.is_none()),
                ("private_key", it.private_key.is_none()),
            ] {
                if missing {
                    return Err((
                        field,
                        format!(
                            "is missing; provider {provider:?} is a GitHub App, which needs app_id, app_slug and private_key (the app's settings page has them)"
                        ),
                    ));
                }
            }
            if it.private_key_id.is_some() {
                return Err((
                    "private_key_id",
                    "applies to jwt_bearer providers only; remove it".into(),
                ));
            }
            // The app's OAuth client proves, at the Setup URL, that an installation is
            // one the returning user can reach: both halves or neither.
            if it.client_id.is_some() && it.client_secret.is_none() {
                return Err((
                    "client_secret",
                    format!(
                        "is missing while client_id is set; provider {provider:?} is a GitHub App: give the app's client secret too (its settings page, \"Client secrets\"), or neither"
                    ),
                ));
            }
        }
        AuthMode::JwtBearer => {
            // Without a private_key of its own, every connection brings its key
            // (`credentials.private_key` of `POST /api/connections`, or the Connect
            // page); client_id is then only the issuer those keys default to.
            if it.private_key.is_some() && it.client_id.is_none() {
                return Err((
                    "client_id",
                    format!(
                        "is missing; provider {provider:?} signs JWT assertions whose issuer is client_id (a service account's email, a connected app's consumer key, an integration key)"
                    ),
                ));
            }
            if it.private_key.is_none() && it.private_key_id.is_some() {
                return Err((
                    "private_key_id",
                    "is the key id of private_key, which is not set; a connection's own key takes its id from its key file or credentials.private_key_id".into(),
                ));
            }
            for (field, set) in [
                ("app_id", it.app_id.is_some()),
                ("app_slug", it.app_slug.is_some()),
            ] {
                if set {
                    return Err((
                        field,
                        "applies to github_app providers only; remove it".into(),
                    ));
                }
            }
        }
        _ => {
            for (field, set) in [
                ("app_id", it.app_id.is_some()),
                ("app_slug", it.app_slug.is_some()),
                ("private_key", it.private_key.is_some()),
                ("private_key_id", it.private_key_id.is_some()),
            ] {
                if set {
                    return Err((
                        field,
                        format!(
                            "applies to github_app and jwt_bearer providers only, and provider {provider:?} uses {mode}; remove it"
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Whether `s` looks like a GitHub App slug.
fn valid_slug(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn same_secrets(a: &[SecretString], b: &[SecretString]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| vault::secrets_equal(x, y))
}

impl Integration {
    /// Whether two integrations are configured identically (secrets compared in
    /// constant time).
    pub fn same(&self, o: &Integration) -> bool {
        self.id == o.id
            && self.provider == o.provider
            && self.client_id == o.client_id
            && same_secrets(self.client_secret.as_slice(), o.client_secret.as_slice())
            && self.scopes == o.scopes
            && self.required_scopes == o.required_scopes
            && self.settings == o.settings
            && self.allowed_return_origins == o.allowed_return_origins
            && same_secrets(&self.webhook_secrets, &o.webhook_secrets)
            && self.webhook_scheme == o.webhook_scheme
            && self.webhook_tolerance_secs == o.webhook_tolerance_secs
            && self.rate_limit == o.rate_limit
            && self.payload_retention_days == o.payload_retention_days
            && self.app_id == o.app_id
            && self.app_slug == o.app_slug
            && same_secrets(self.private_key.as_slice(), o.private_key.as_slice())
            && self.private_key_id == o.private_key_id
            && self.redact_fields == o.redact_fields
    }
}

impl Destination {
    /// Whether two destinations are configured identically.
    pub fn same(&self, o: &Destination) -> bool {
        self.id == o.id
            && self.url == o.url
            && same_secrets(self.secret.as_slice(), o.secret.as_slice())
            && same_secrets(self.signing_key.as_slice(), o.signing_key.as_slice())
            && self.integrations == o.integrations
            && self.event_types == o.event_types
            && self.timeout_secs == o.timeout_secs
            && self.max_attempts == o.max_attempts
            && self.retry_schedule_secs == o.retry_schedule_secs
            && self.max_concurrency == o.max_concurrency
            && self.rate_limit == o.rate_limit
    }

    /// The `whpk_…` public key that verifies this destination's `v1a` signatures (what
    /// the app configures), if it has a signing key.
    pub fn public_key(&self) -> Option<String> {
        let k = self.signing_key.as_ref()?;
        signatures::public_key(&signatures::Scheme::StandardWebhooks, k).ok()
    }
}

/// What `serve` and `config check` warn about in the integrations (a configuration
/// that works, but not for everything): a GitHub App integration without the app's
/// OAuth client cannot install through connect sessions.
pub(crate) fn integration_warnings(cfg: &crate::Config, cat: &catalog::Catalog) -> Vec<String> {
    cfg.integrations
        .iter()
        .filter(|it| {
            cat.get(&it.provider)
                .is_some_and(|p| p.auth_mode == catalog::AuthMode::GithubApp)
                && (it.client_id.is_none() || it.client_secret.is_none())
        })
        .map(|it| {
            format!(
                "integration {:?} (a GitHub App) has no client_id and client_secret, so connect sessions cannot install it (only `switchboard connections create --installation-id` can connect it); set client_id and client_secret (the app's settings page) and tick \"Request user authorization (OAuth) during installation\" there, so that the installation id GitHub sends to the Setup URL can be checked against the user who installed",
                it.id
            )
        })
        .collect()
}
