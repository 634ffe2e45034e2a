//! The security self-audit: what the configuration and the database say about how safely
//! this deployment is set up. Each [`Finding`] has a stable code, a severity, the thing it
//! is about and what to do. [`Engine::security_findings`] makes the findings that need
//! only the configuration and the store, so a running server can show them too; the
//! checks of files on disk (permissions, literal keys in the config file, the development
//! key file) are the binary's (`switchboard security audit`), which merges both.
//!
//! Every code, its severity and its fix are listed in [`CODES`] (and the README's
//! "Security self-audit" table).

use std::net::IpAddr;

use serde::Serialize;

use crate::{Engine, EngineResult};

/// How urgent a finding is. `switchboard security audit` exits 1 on any `High`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Exploitable or exposing secrets now: fix before going live.
    High,
    /// Weakens a defence or will break something; fix soon.
    Medium,
    /// Hygiene.
    Low,
    /// Worth knowing, nothing to fix.
    Info,
}

impl Severity {
    /// `high`, `medium`, `low` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
            Self::Info => "info",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing the audit found. Never holds a secret's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code (`SB-KEY-001`); see [`CODES`].
    pub code: &'static str,
    /// How urgent.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub title: String,
    /// What it is about: `integration:ID`, `destination:ID`, `provider:ID`,
    /// `api_key:ID`, `file:PATH`, `config:KEY`, `audit_log`, `database`.
    pub subject: Option<String>,
    /// The integration it concerns, if it concerns one (for per-integration views).
    pub integration: Option<String>,
    /// What to do, with the exact command where there is one.
    pub fix: String,
}

impl Finding {
    /// A finding with `code`'s severity from [`CODES`] (`High` for an unknown code).
    pub fn new(code: &'static str, title: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            code,
            severity: code_info(code).map_or(Severity::High, |c| c.severity),
            title: title.into(),
            subject: None,
            integration: None,
            fix: fix.into(),
        }
    }

    /// With another severity than the code's usual one.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// About `subject`.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// About integration `id` (its subject too, unless one is set).
    pub fn integration(mut self, id: &str) -> Self {
        self.integration = Some(id.to_owned());
        if self.subject.is_none() {
            self.subject = Some(format!("integration:{id}"));
        }
        self
    }
}

/// A finding code, as documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// `SB-AREA-NNN`.
    pub code: &'static str,
    /// Its usual severity (some findings say when they are graver or lighter).
    pub severity: Severity,
    /// What it means.
    pub title: &'static str,
    /// Who makes it: `engine` (config and database) or `files` (the binary's checks).
    pub made_by: &'static str,
}

const fn code(
    code: &'static str,
    severity: Severity,
    made_by: &'static str,
    title: &'static str,
) -> Code {
    Code {
        code,
        severity,
        title,
        made_by,
    }
}

/// Every finding code. The README's "Security self-audit" table lists the same ones.
pub const CODES: &[Code] = &[
    code(
        "SB-KEY-001",
        Severity::High,
        "files",
        "a master key is written literally in the config file",
    ),
    code(
        "SB-KEY-002",
        Severity::High,
        "files",
        "a master key file is readable by group or others",
    ),
    code(
        "SB-KEY-003",
        Severity::High,
        "files",
        "the configured master key is the development key file",
    ),
    code(
        "SB-KEY-004",
        Severity::High,
        "files",
        "no master key configured: the development key is in use (info under --dev)",
    ),
    code(
        "SB-KEY-005",
        Severity::Medium,
        "engine",
        "secrets still sealed under an old master key (rotation unfinished)",
    ),
    code(
        "SB-KEY-006",
        Severity::High,
        "engine",
        "secrets sealed under a master key that is not configured",
    ),
    code(
        "SB-DB-001",
        Severity::High,
        "files",
        "the SQLite database file is readable by others (medium: by its group)",
    ),
    code(
        "SB-DB-002",
        Severity::Medium,
        "files",
        "the PostgreSQL URL in the config file holds a password",
    ),
    code(
        "SB-CFG-001",
        Severity::Medium,
        "files",
        "a secret (client, webhook, destination or metrics secret) is written literally in the config file",
    ),
    code(
        "SB-NET-001",
        Severity::High,
        "engine",
        "a provider endpoint, integration setting or destination uses http:// (outside --dev)",
    ),
    code(
        "SB-NET-002",
        Severity::Medium,
        "engine",
        "a provider endpoint, integration setting or destination names a loopback or private address (outside --dev)",
    ),
    code(
        "SB-NET-003",
        Severity::Medium,
        "engine",
        "allow_hosts lets outbound calls reach a loopback, private, link-local or unique-local address (high: link-local, cloud metadata)",
    ),
    code(
        "SB-NET-004",
        Severity::Medium,
        "engine",
        "public_url uses http:// and is not loopback (outside --dev): OAuth callbacks and the Connect page travel unencrypted",
    ),
    code(
        "SB-WH-001",
        Severity::Medium,
        "engine",
        "an integration that receives webhooks has no webhook secret",
    ),
    code(
        "SB-WH-002",
        Severity::Medium,
        "engine",
        "an integration's webhook timestamp tolerance is over 15 minutes",
    ),
    code(
        "SB-WH-003",
        Severity::Medium,
        "engine",
        "a webhook secret is shorter than its scheme needs",
    ),
    code(
        "SB-DEST-001",
        Severity::Medium,
        "engine",
        "a destination secret is shorter than Standard Webhooks needs",
    ),
    code(
        "SB-ORIGIN-001",
        Severity::High,
        "engine",
        "an allowed return origin has a wildcard",
    ),
    code(
        "SB-ORIGIN-002",
        Severity::Medium,
        "engine",
        "an allowed return origin uses http:// and is not localhost",
    ),
    code(
        "SB-PKCE-001",
        Severity::Medium,
        "engine",
        "PKCE is turned off for a provider that supports it",
    ),
    code(
        "SB-APIKEY-001",
        Severity::Medium,
        "engine",
        "an API key has not been used for 90 days",
    ),
    code(
        "SB-APIKEY-002",
        Severity::Low,
        "engine",
        "an API key has not been rotated for a year",
    ),
    code(
        "SB-AUDIT-001",
        Severity::High,
        "engine",
        "the audit log's hash chain is broken",
    ),
    code(
        "SB-METRICS-001",
        Severity::Medium,
        "engine",
        "/metrics is served on a listener that is not loopback, without metrics_listen or metrics_key",
    ),
];

/// The documented entry of `code`.
pub fn code_info(code: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.code == code)
}

/// Which checks [`Engine::security_findings_with`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// Walk the whole audit chain (`SB-AUDIT-001`): one read of every audit row, which
    /// a per-request view may want to skip.
    pub audit_chain: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Self { audit_chain: true }
    }
}

/// An API key unused (or never used since it was made) for this long is flagged.
pub const API_KEY_UNUSED_DAYS: i64 = 90;
/// An active API key older than this is flagged as never rotated.
pub const API_KEY_ROTATE_DAYS: i64 = 365;
/// Largest webhook timestamp tolerance not flagged (15 minutes).
pub const MAX_WEBHOOK_TOLERANCE_SECS: u64 = 15 * 60;

/// Whether `host` (a name or an IP literal, with or without brackets) is loopback: an
/// address in `127.0.0.0/8` or `::1`, or `localhost` / `*.localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") {
        return true;
    }
    h.parse::<IpAddr>().is_ok_and(|ip| match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    })
}

/// Whether `host` names a loopback or other non-public address without a DNS lookup:
/// `localhost`, or an IP literal that [`crate::http::is_public`] refuses.
fn is_non_public_host(host: &str) -> bool {
    if is_loopback_host(host) {
        return true;
    }
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    h.parse::<IpAddr>()
        .is_ok_and(|ip| !crate::http::is_public(ip))
}

/// Whether an IP is link-local (`169.254.0.0/16`, where cloud metadata services answer,
/// or `fe80::/10`).
fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.is_link_local(),
            None => (v6.segments()[0] & 0xffc0) == 0xfe80,
        },
    }
}

/// Network findings about one outbound URL (`SB-NET-001`, `SB-NET-002`).
fn url_findings(url: &str, what: &str, subject: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let Ok(u) = url::Url::parse(url) else {
        return out;
    };
    let host = u.host_str().unwrap_or_default();
    if u.scheme() == "http" {
        out.push(
            Finding::new(
                "SB-NET-001",
                format!("{what} uses plain http:// ({host}): tokens, secrets or events cross the network unencrypted"),
                "use an https:// URL; plain http is for `serve --dev` on one machine",
            )
            .subject(subject),
        );
    }
    if is_non_public_host(host) {
        out.push(
            Finding::new(
                "SB-NET-002",
                format!("{what} names a loopback or private address ({host})"),
                "use the service's public https:// address; for a service on your own network, list its host name in allow_hosts on purpose and run `switchboard security audit` again",
            )
            .subject(subject),
        );
    }
    out
}

impl Engine {
    /// Every finding the configuration in force and the database give (all [`Checks`]),
    /// most severe first. See [`Engine::security_findings_with`].
    pub async fn security_findings(&self) -> EngineResult<Vec<Finding>> {
        self.security_findings_with(Checks::default()).await
    }

    /// The findings the configuration in force and the database give: network
    /// addresses, `allow_hosts`, webhook secrets and tolerance, destination secrets,
    /// return origins, PKCE, metrics exposure, API key age and use (on the engine's
    /// clock), sealed values not under the primary key, and (if `checks.audit_chain`)
    /// the audit chain. Sorted by severity, then code, then subject. Findings about one
    /// integration carry its id.
    pub async fn security_findings_with(&self, checks: Checks) -> EngineResult<Vec<Finding>> {
        let cfg = self.config();
        let mut out = Vec::new();
        self.config_findings(&cfg, &mut out);
        self.api_key_findings(&mut out).await?;
        self.sealed_key_findings(&mut out).await?;
        if checks.audit_chain {
            let v = self.check_audit_chain(&|_| {}).await?;
            if !v.ok {
                let problem = v
                    .problem
                    .as_ref()
                    .and_then(|p| serde_json::to_value(p).ok())
                    .map(|p| match p {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Object(o) => {
                            o.keys().next().cloned().unwrap_or_default()
                        }
                        other => other.to_string(),
                    })
                    .unwrap_or_default();
                out.push(
                    Finding::new(
                        "SB-AUDIT-001",
                        format!(
                            "the audit log's hash chain is broken at row {} ({problem}): rows were edited or deleted",
                            v.first_bad_seq.unwrap_or_default()
                        ),
                        "treat it as an incident: keep a copy of the database, find who had write access to it, and compare with backups; `switchboard audit verify` names the first bad row",
                    )
                    .subject("audit_log"),
                );
            }
        }
        sort(&mut out);
        Ok(out)
    }

    /// The findings the configuration alone gives.
    fn config_findings(&self, cfg: &config::Config, out: &mut Vec<Finding>) {
        let dev = self.dev();
        let catalog = self.catalog();

        // Outbound URLs: custom providers, integration settings, destinations.
        if !dev {
            for p in &cfg.providers {
                let subject = format!("provider:{}", p.id);
                let users: Vec<&str> = cfg
                    .integrations
                    .iter()
                    .filter(|i| i.provider == p.id)
                    .map(|i| i.id.as_str())
                    .collect();
                for (field, url) in [
                    ("issuer", &p.issuer),
                    ("authorization_url", &p.authorization_url),
                    ("token_url", &p.token_url),
                    ("revocation_url", &p.revocation_url),
                    ("userinfo_url", &p.userinfo_url),
                    ("api_base_url", &p.api_base_url),
                ] {
                    let Some(url) = url else { continue };
                    let what = format!("provider {} {field}", p.id);
                    for f in url_findings(url, &what, &subject) {
                        if users.is_empty() {
                            out.push(f);
                        } else {
                            for id in &users {
                                out.push(f.clone().integration(id));
                            }
                        }
                    }
                }
            }
            for it in &cfg.integrations {
                for (name, value) in &it.settings {
                    let what = format!("integration {} setting {name}", it.id);
                    let subject = format!("integration:{}", it.id);
                    if value.contains("://") {
                        for f in url_findings(value, &what, &subject) {
                            out.push(f.integration(&it.id));
                        }
                    } else if is_non_public_host(value.split(':').next().unwrap_or(value)) {
                        for f in url_findings(&format!("https://{value}"), &what, &subject) {
                            out.push(f.integration(&it.id));
                        }
                    }
                }
            }
            for d in &cfg.destinations {
                let subject = format!("destination:{}", d.id);
                out.extend(url_findings(
                    &d.url,
                    &format!("destination {}", d.id),
                    &subject,
                ));
            }
        }

        // The callback and Connect page base.
        if !dev
            && let Ok(u) = url::Url::parse(&cfg.public_url)
            && u.scheme() == "http"
            && !is_loopback_host(u.host_str().unwrap_or_default())
        {
            out.push(
                Finding::new(
                    "SB-NET-004",
                    format!("public_url {} uses plain http://: authorization codes, connect sessions and the Connect page cross the network unencrypted", cfg.public_url),
                    "serve Switchboard behind TLS and set public_url = \"https://…\" (then register the new callback URLs at the providers)",
                )
                .subject("config:public_url"),
            );
        }

        // allow_hosts entries that reach non-public space.
        for (i, h) in cfg.allow_hosts.iter().enumerate() {
            let bare = h.trim().trim_start_matches('[').trim_end_matches(']');
            let ip = bare.parse::<IpAddr>().ok();
            let non_public =
                is_loopback_host(bare) || ip.is_some_and(|ip| !crate::http::is_public(ip));
            if !non_public {
                continue;
            }
            let metadata = ip.is_some_and(is_link_local);
            let mut f = Finding::new(
                "SB-NET-003",
                if metadata {
                    format!("allow_hosts lists {h}, a link-local address: outbound calls may reach the cloud metadata service (169.254.169.254) and its credentials")
                } else {
                    format!("allow_hosts lists {h}, a loopback or private address: a provider or destination URL can reach services inside your network")
                },
                format!("remove {h:?} from allow_hosts; allow a service on your network by its own host name instead, and never a link-local address"),
            )
            .subject(format!("config:allow_hosts[{i}]"));
            if metadata {
                f = f.severity(Severity::High);
            }
            out.push(f);
        }

        for it in &cfg.integrations {
            let provider = catalog.get(&it.provider);
            let scheme = it
                .webhook_scheme
                .clone()
                .or_else(|| provider.and_then(|p| p.webhook_scheme().cloned()))
                .or_else(|| {
                    cfg.providers
                        .iter()
                        .find(|p| p.id == it.provider)
                        .and_then(|p| p.webhook_scheme.clone())
                });
            let webhook_only =
                provider.is_some_and(|p| p.auth_mode == catalog::AuthMode::WebhookOnly);
            let receives = scheme.is_some()
                && (webhook_only
                    || it.webhook_scheme.is_some()
                    || (it.client_id.is_none() && it.app_id.is_none()));
            // An integration that takes its secret from the provider's handshake has none
            // configured by design.
            // Plaid and PayPal verify with keys fetched from the provider: no secret.
            let fetched = scheme
                .as_ref()
                .is_some_and(signatures::Scheme::fetches_keys);
            if receives && it.webhook_secrets.is_empty() && !it.webhook_secret_handshake && !fetched
            {
                out.push(
                    Finding::new(
                        "SB-WH-001",
                        format!("integration {} receives webhooks but has no webhook secret: every webhook is refused, or someone turns verification off to make it work", it.id),
                        format!("set webhook_secrets for integration {} to the signing secret the provider shows (as env:NAME or file:PATH)", it.id),
                    )
                    .integration(&it.id),
                );
            }
            if let Some(scheme) = &scheme
                && !it.webhook_secrets.is_empty()
            {
                let tolerance = it
                    .webhook_tolerance_secs
                    .or_else(|| scheme.default_tolerance_secs());
                if let Some(t) = tolerance
                    && t > MAX_WEBHOOK_TOLERANCE_SECS
                {
                    out.push(
                        Finding::new(
                            "SB-WH-002",
                            format!("integration {} accepts webhooks signed up to {t} s ago: a captured request can be replayed for that long", it.id),
                            format!("lower webhook_tolerance_secs of integration {} to 300 (at most {MAX_WEBHOOK_TOLERANCE_SECS}), or remove it for the scheme's default", it.id),
                        )
                        .integration(&it.id),
                    );
                }
                for (j, secret) in it.webhook_secrets.iter().enumerate() {
                    if let Err(w) = signatures::check_secret_strength(scheme, secret) {
                        out.push(
                            Finding::new(
                                "SB-WH-003",
                                format!(
                                    "webhook_secrets[{j}] of integration {} is {} {} long; scheme {} needs {}",
                                    it.id,
                                    w.have,
                                    w.unit,
                                    scheme.name(),
                                    scheme.secret_rule().describe()
                                ),
                                format!("make a new, longer secret at the provider (or with `openssl rand -base64 32` where you choose it), add it to webhook_secrets of integration {} beside the old one, then remove the old one", it.id),
                            )
                            .integration(&it.id),
                        );
                    }
                }
            }
            for origin in &it.allowed_return_origins {
                let Ok(u) = url::Url::parse(origin) else {
                    continue;
                };
                let host = u.host_str().unwrap_or_default();
                if origin.contains('*') {
                    out.push(
                        Finding::new(
                            "SB-ORIGIN-001",
                            format!("integration {} allows the return origin {origin}, with a wildcard", it.id),
                            format!("list each origin of your app exactly (https://app.example) in allowed_return_origins of integration {}", it.id),
                        )
                        .integration(&it.id),
                    );
                } else if u.scheme() == "http" && !is_loopback_host(host) && !dev {
                    out.push(
                        Finding::new(
                            "SB-ORIGIN-002",
                            format!("integration {} allows the return origin {origin} over plain http: connect results can be read or changed on the way", it.id),
                            format!("use the https:// origin of your app in allowed_return_origins of integration {}", it.id),
                        )
                        .integration(&it.id),
                    );
                }
            }
            if let Some(p) = cfg.providers.iter().find(|p| p.id == it.provider)
                && p.pkce == Some(false)
            {
                out.push(
                    Finding::new(
                        "SB-PKCE-001",
                        format!("provider {} has pkce = false, so integration {} connects without PKCE: a stolen authorization code can be redeemed", p.id, it.id),
                        format!("remove `pkce = false` from provider {} (PKCE is on by default); keep it only if the provider refuses PKCE, and say so in a comment", p.id),
                    )
                    .integration(&it.id),
                );
            }
        }
        for p in &cfg.providers {
            if p.pkce == Some(false) && !cfg.integrations.iter().any(|i| i.provider == p.id) {
                out.push(
                    Finding::new(
                        "SB-PKCE-001",
                        format!(
                            "provider {} has pkce = false (no integration uses it yet)",
                            p.id
                        ),
                        format!("remove `pkce = false` from provider {}", p.id),
                    )
                    .severity(Severity::Low)
                    .subject(format!("provider:{}", p.id)),
                );
            }
        }

        for d in &cfg.destinations {
            if let Some(secret) = &d.secret
                && let Err(w) =
                    signatures::check_secret_strength(&signatures::Scheme::StandardWebhooks, secret)
            {
                out.push(
                    Finding::new(
                        "SB-DEST-001",
                        format!(
                            "the secret of destination {} is {} {} long; Standard Webhooks needs {}",
                            d.id,
                            w.have,
                            w.unit,
                            signatures::Scheme::StandardWebhooks.secret_rule().describe()
                        ),
                        format!("make a new secret (whsec_ + `openssl rand -base64 32`), give it to the app, then set it as the secret of destination {}", d.id),
                    )
                    .subject(format!("destination:{}", d.id)),
                );
            }
        }

        // /metrics on the main listener, reachable from beyond this machine, open.
        if cfg.metrics_listen.is_none()
            && cfg.metrics_key.is_none()
            && !cfg.listen.ip().is_loopback()
        {
            out.push(
                Finding::new(
                    "SB-METRICS-001",
                    format!("/metrics is served on {} (not loopback) to anyone who can reach it", cfg.listen),
                    "set metrics_listen = \"127.0.0.1:9464\" (or an address on the monitoring network), or metrics_key = \"env:SWITCHBOARD_METRICS_KEY_VALUE\" and give Prometheus the key as a bearer token",
                )
                .subject("config:listen"),
            );
        }
    }

    /// `SB-APIKEY-001` and `SB-APIKEY-002`, on the engine's clock.
    async fn api_key_findings(&self, out: &mut Vec<Finding>) -> EngineResult<()> {
        let now = self.now();
        let unused = chrono::Duration::days(API_KEY_UNUSED_DAYS);
        let old = chrono::Duration::days(API_KEY_ROTATE_DAYS);
        for k in self.inner.store.list_api_keys().await? {
            if k.revoked_at.is_some() {
                continue;
            }
            let subject = format!("api_key:{}", k.id);
            let last = k.last_used_at.unwrap_or(k.created_at);
            if now - last >= unused {
                let when = match k.last_used_at {
                    Some(t) => format!("last used {}", t.format("%Y-%m-%d")),
                    None => format!(
                        "never used since it was made on {}",
                        k.created_at.format("%Y-%m-%d")
                    ),
                };
                out.push(
                    Finding::new(
                        "SB-APIKEY-001",
                        format!("API key {} ({}) is active but {when}", k.id, k.name),
                        format!(
                            "revoke it if nothing needs it: `switchboard api-key revoke {}`",
                            k.id
                        ),
                    )
                    .subject(&subject),
                );
            }
            if now - k.created_at >= old {
                out.push(
                    Finding::new(
                        "SB-APIKEY-002",
                        format!("API key {} ({}) was made on {} and never rotated", k.id, k.name, k.created_at.format("%Y-%m-%d")),
                        format!("rotate it: `switchboard api-key create \"{}\" --scope {}`, move its users to the new key, then `switchboard api-key revoke {}`", k.name, k.scope.as_str(), k.id),
                    )
                    .subject(&subject),
                );
            }
        }
        Ok(())
    }

    /// `SB-KEY-005` and `SB-KEY-006`: sealed values (secrets and authorization states in
    /// flight) not under the primary key.
    async fn sealed_key_findings(&self, out: &mut Vec<Finding>) -> EngineResult<()> {
        let ring = self.keyring();
        let primary = ring.primary().id().to_string();
        let known: Vec<String> = ring.key_ids().iter().map(ToString::to_string).collect();
        for (id, n) in self.sealed_key_ids().await? {
            if id == primary {
                continue;
            }
            if known.contains(&id) {
                out.push(
                    Finding::new(
                        "SB-KEY-005",
                        format!("{n} sealed values are still under the old master key {id}: rotation has not finished"),
                        "run `switchboard keys rotate` (it resumes where it stopped), then remove that key from old_master_keys",
                    )
                    .subject(format!("master_key:{id}")),
                );
            } else {
                out.push(
                    Finding::new(
                        "SB-KEY-006",
                        format!("{n} sealed values are under master key {id}, which is not configured: they cannot be read"),
                        "add the key with that id to old_master_keys (then `switchboard keys rotate`); `switchboard keys rotate` lists the key ids it cannot open",
                    )
                    .subject(format!("master_key:{id}")),
                );
            }
        }
        Ok(())
    }
}

/// Sorts findings most severe first, then by code and subject.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (a.severity, a.code, &a.subject, &a.title).cmp(&(b.severity, b.code, &b.subject, &b.title))
    });
}
