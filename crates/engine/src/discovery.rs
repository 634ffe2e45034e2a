//! Fetching OIDC / RFC 8414 discovery documents for custom providers.
//!
//! The pure half (which URLs, and turning a document into a provider) lives in the
//! catalog crate ([`catalog::CustomProvider`]); this module does the I/O through
//! [`Outbound`], so the SSRF guard applies to discovery too.

use std::time::Duration;

use crate::http::{Outbound, OutboundError, redact};

/// Time allowed for one discovery request.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest discovery document accepted, in bytes.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Why the effective catalog could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// No discovery URL gave a usable document.
    #[error(
        "provider {provider:?}: OIDC discovery failed ({tried}); check the issuer URL, or give the endpoints (authorization_url, token_url…) explicitly in its [[providers]] entry"
    )]
    Fetch {
        /// The custom provider's id.
        provider: String,
        /// Each URL tried (without query) and what went wrong there.
        tried: String,
    },
    /// A discovery URL was refused by the outbound policy (e.g. a private address).
    #[error("provider {provider:?}: discovery refused: {source}")]
    Refused {
        /// The custom provider's id.
        provider: String,
        /// The outbound guard's refusal.
        source: OutboundError,
    },
    /// A document was fetched but cannot be used (issuer mismatch, no token endpoint…).
    #[error("{0}")]
    Invalid(catalog::CatalogError),
    /// The provider has no issuer, so there is nothing to discover.
    #[error("provider {0:?}: has no issuer to discover; give `issuer` or the explicit endpoints")]
    NoIssuer(String),
    /// The configuration (custom providers, integrations) is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
}

/// Fetches the discovery document of every custom provider that needs it (OpenID URL
/// first, then RFC 8414), with a 10 s timeout each, through `http`, and returns those
/// providers (providers with explicit endpoints are skipped: see
/// [`catalog::CustomProvider::to_provider_explicit`]). A provider whose discovery fails
/// is an error naming the provider, the URLs tried (no query) and what to do.
pub async fn discover(
    http: &Outbound,
    providers: &[catalog::CustomProvider],
    dev: bool,
) -> Result<Vec<catalog::Provider>, DiscoveryError> {
    discover_with_timeout(http, providers, dev, DISCOVERY_TIMEOUT).await
}

/// [`discover`] with another per-request timeout.
pub async fn discover_with_timeout(
    http: &Outbound,
    providers: &[catalog::CustomProvider],
    dev: bool,
    timeout: Duration,
) -> Result<Vec<catalog::Provider>, DiscoveryError> {
    let mut out = Vec::new();
    for p in providers.iter().filter(|p| p.needs_discovery()) {
        out.push(discover_one(http, p, dev, timeout).await?);
    }
    Ok(out)
}

fn shown(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| redact(&u))
        .unwrap_or_else(|_| "an invalid URL".to_owned())
}

async fn discover_one(
    http: &Outbound,
    p: &catalog::CustomProvider,
    dev: bool,
    timeout: Duration,
) -> Result<catalog::Provider, DiscoveryError> {
    let urls = p
        .discovery_urls()
        .ok_or_else(|| DiscoveryError::NoIssuer(p.id.clone()))?;
    let mut tried = Vec::new();
    for url in &urls {
        let got = match http
            .get_limited(url, Some(timeout), MAX_DOCUMENT_BYTES)
            .await
        {
            Ok(g) => g,
            Err(
                e @ (OutboundError::InsecureHttp { .. }
                | OutboundError::NonPublicAddress { .. }
                | OutboundError::NonPublicHost { .. }
                | OutboundError::Userinfo { .. }
                | OutboundError::Scheme { .. }),
            ) => {
                return Err(DiscoveryError::Refused {
                    provider: p.id.clone(),
                    source: e,
                });
            }
            Err(e @ (OutboundError::Timeout { .. } | OutboundError::Connect { .. })) => {
                // The next URL is on the same host: do not wait twice.
                tried.push(format!("{}: {e}", shown(url)));
                break;
            }
            Err(e) => {
                tried.push(format!("{}: {e}", shown(url)));
                continue;
            }
        };
        if !got.status.is_success() {
            tried.push(format!(
                "{}: HTTP status {}",
                shown(url),
                got.status.as_u16()
            ));
            continue;
        }
        let Ok(text) = std::str::from_utf8(&got.body) else {
            tried.push(format!("{}: the body is not UTF-8 text", shown(url)));
            continue;
        };
        let is_document = serde_json::from_str::<serde_json::Value>(text)
            .is_ok_and(|v| v.get("issuer").is_some_and(serde_json::Value::is_string));
        if !is_document {
            tried.push(format!(
                "{}: the body is not a JSON discovery document",
                shown(url)
            ));
            continue;
        }
        let provider = p
            .from_discovery(text, dev)
            .map_err(DiscoveryError::Invalid)?;
        tracing::info!(provider = %p.id, url = %shown(url), "custom provider discovered");
        return Ok(provider);
    }
    Err(DiscoveryError::Fetch {
        provider: p.id.clone(),
        tried: tried.join("; "),
    })
}

/// The providers `cfg` can use: the built-in catalog plus every custom provider, the
/// explicit ones via [`catalog::CustomProvider::to_provider_explicit`] (through
/// [`config::Config::catalog`], which also checks the integrations) and the others
/// discovered via [`discover`]. Integrations of discovered providers that have webhook
/// secrets must then have a signature scheme.
pub async fn effective_catalog(
    cfg: &config::Config,
    http: &Outbound,
    dev: bool,
) -> Result<catalog::Catalog, DiscoveryError> {
    let (mut cat, pending) = cfg.catalog(dev)?;
    let needed: Vec<catalog::CustomProvider> = cfg
        .providers
        .iter()
        .filter(|p| pending.contains(&p.id))
        .cloned()
        .collect();
    for provider in discover(http, &needed, dev).await? {
        cat.insert(provider).map_err(DiscoveryError::Invalid)?;
    }
    for it in &cfg.integrations {
        if !pending.contains(&it.provider) || it.webhook_secrets.is_empty() {
            continue;
        }
        let has_scheme = it.webhook_scheme.is_some()
            || cat
                .get(&it.provider)
                .and_then(catalog::Provider::webhook_scheme)
                .is_some();
        if !has_scheme {
            return Err(DiscoveryError::Invalid(catalog::CatalogError::Invalid {
                provider: it.provider.clone(),
                key: "webhook_scheme".to_owned(),
                message: format!(
                    "is missing, but integration {:?} has webhook_secrets; set webhook_scheme on the integration or the provider, or remove webhook_secrets",
                    it.id
                ),
            }));
        }
    }
    Ok(cat)
}
