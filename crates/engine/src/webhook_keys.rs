//! The keys of webhook schemes that the provider hands out (Plaid by `kid` from its key
//! endpoint, PayPal as the certificate at `PAYPAL-CERT-URL`), fetched through
//! [`crate::http::Outbound`] and cached per process.
//!
//! What an attacker controls here is the key id or the certificate URL of a request, so:
//! - a certificate URL is fetched only when it is one of the provider's pinned prefixes
//!   followed by one plain path segment (`catalog::WebhookKeys::pinned_cert_url`);
//!   anything else is refused before any fetch;
//! - fetches are single-flight per key (a thousand webhooks naming a new key make one
//!   request), an unknown key is remembered for [`UNKNOWN_TTL`] (asked again only after
//!   that), an outage of the key endpoint for [`DOWN_TTL`], and an integration fetches at
//!   most [`FETCH_BUDGET`] keys it has not cached per [`BUDGET_WINDOW`], so random key ids
//!   or URLs cannot make Switchboard hammer the provider;
//! - the cache is bounded ([`MAX_ENTRIES`] per integration: expired entries go first,
//!   then the oldest).
//!
//! A key found is kept for [`KEY_TTL`], or until it expires (Plaid's `expired_at`, a
//! certificate's `notAfter`) if sooner. Every time is the engine's clock's.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signatures::{KeyRequest, ProviderKey};

use crate::http::Outbound;

/// How long a key found is kept (at most: less when it expires sooner).
pub const KEY_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a key the provider does not know is remembered as unknown.
pub const UNKNOWN_TTL: Duration = Duration::from_secs(300);
/// How long after a failed fetch (the provider down) the key is not asked for again.
pub const DOWN_TTL: Duration = Duration::from_secs(10);
/// Fetches of keys not cached that one integration may make per [`BUDGET_WINDOW`].
pub const FETCH_BUDGET: usize = 10;
/// The window of [`FETCH_BUDGET`].
pub const BUDGET_WINDOW: Duration = Duration::from_secs(60);
/// Keys (found, unknown or down) remembered per integration.
pub const MAX_ENTRIES: usize = 64;
/// Largest key answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Where a key comes from, resolved from the catalog and the integration.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Plaid: `POST url {client_id, secret, key_id}`.
    KeyEndpoint {
        url: String,
        client_id: String,
        secret: vault::SecretString,
    },
    /// PayPal: `GET` the (already pinned) certificate URL.
    Certificate,
}

/// Why no key could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyFailure {
    /// The provider does not know the key (or the URL is not a pinned one): the request
    /// is refused as unsigned (401). `reason` is a stable code for metrics.
    Unknown { reason: &'static str },
    /// The provider could not be asked (down, slow, throttling, or too many new keys
    /// asked for lately): the request is answered 503 so that the provider retries.
    Unavailable {
        reason: &'static str,
        detail: String,
    },
}

enum Entry {
    Found {
        key: Arc<ProviderKey>,
        until: Instant,
        at: Instant,
    },
    Unknown {
        until: Instant,
        at: Instant,
    },
    Down {
        until: Instant,
        at: Instant,
        detail: String,
    },
}

impl Entry {
    fn until(&self) -> Instant {
        match self {
            Self::Found { until, .. } | Self::Unknown { until, .. } | Self::Down { until, .. } => {
                *until
            }
        }
    }

    fn at(&self) -> Instant {
        match self {
            Self::Found { at, .. } | Self::Unknown { at, .. } | Self::Down { at, .. } => *at,
        }
    }
}

#[derive(Default)]
struct Integration {
    entries: HashMap<String, Entry>,
    /// When each recent fetch of a key not cached started (for the budget).
    fetches: VecDeque<Instant>,
    /// One lock per key being fetched: the single flight.
    flights: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

/// The per-process cache of fetched webhook keys (see the module documentation).
#[derive(Default)]
pub struct KeyCache {
    by_integration: Mutex<HashMap<String, Integration>>,
    /// Requests made to providers, for tests and logs.
    fetched: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache").finish_non_exhaustive()
    }
}

/// What the cache holds for one key right now.
enum Lookup {
    Hit(Arc<ProviderKey>),
    Failed(KeyFailure),
    Miss,
}

impl KeyCache {
    /// Requests this cache made to providers so far.
    pub fn fetches(&self) -> u64 {
        self.fetched.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets everything (configuration reloaded).
    pub fn clear(&self) {
        self.by_integration.lock().unwrap().clear();
    }

    fn lookup(&self, integration: &str, id: &str, now: Instant) -> Lookup {
        let map = self.by_integration.lock().unwrap();
        let Some(entry) = map.get(integration).and_then(|i| i.entries.get(id)) else {
            return Lookup::Miss;
        };
        if entry.until() <= now {
            return Lookup::Miss;
        }
        match entry {
            Entry::Found { key, .. } => Lookup::Hit(key.clone()),
            Entry::Unknown { .. } => Lookup::Failed(KeyFailure::Unknown {
                reason: "unknown_key",
            }),
            Entry::Down { detail, .. } => Lookup::Failed(KeyFailure::Unavailable {
                reason: "key_unavailable",
                detail: detail.clone(),
            }),
        }
    }

    fn flight(&self, integration: &str, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.by_integration.lock().unwrap();
        let entry = map.entry(integration.to_owned()).or_default();
        entry.flights.entry(id.to_owned()).or_default().clone()
    }

    /// Takes one fetch from the integration's budget, or says it is spent.
    fn take_budget(&self, integration: &str, now: Instant) -> bool {
        let mut map = self.by_integration.lock().unwrap();
        let entry = map.entry(integration.to_owned()).or_default();
        while entry
            .fetches
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= BUDGET_WINDOW)
        {
            entry.fetches.pop_front();
        }
        if entry.fetches.len() >= FETCH_BUDGET {
            return false;
        }
        entry.fetches.push_back(now);
        true
    }

    fn put(&self, integration: &str, id: &str, entry: Entry, now: Instant) {
        let mut map = self.by_integration.lock().unwrap();
        let slot = map.entry(integration.to_owned()).or_default();
        slot.flights.remove(id);
        if !slot.entries.contains_key(id) && slot.entries.len() >= MAX_ENTRIES {
            slot.entries.retain(|_, e| e.until() > now);
            if slot.entries.len() >= MAX_ENTRIES
                && let Some(oldest) = slot
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.at())
                    .map(|(k, _)| k.clone())
            {
                slot.entries.remove(&oldest);
            }
        }
        slot.entries.insert(id.to_owned(), entry);
    }

    /// The key `request` names for `integration`: from the cache, or fetched once from
    /// `source` (others asking for the same key meanwhile wait for that fetch).
    /// `clock` gives the engine's monotonic and wall time.
    pub(crate) async fn get(
        &self,
        outbound: &Outbound,
        integration: &str,
        source: &Source,
        request: &KeyRequest,
        clock: &crate::Clock,
    ) -> Result<Arc<ProviderKey>, KeyFailure> {
        let id = request.as_str();
        match self.lookup(integration, id, clock.instant()) {
            Lookup::Hit(k) => return Ok(k),
            Lookup::Failed(f) => return Err(f),
            Lookup::Miss => {}
        }
        let flight = self.flight(integration, id);
        let _turn = flight.lock().await;
        // Whoever held the turn before may have found it (or found it unknown).
        match self.lookup(integration, id, clock.instant()) {
            Lookup::Hit(k) => return Ok(k),
            Lookup::Failed(f) => return Err(f),
            Lookup::Miss => {}
        }
        if !self.take_budget(integration, clock.instant()) {
            if let Some(i) = self.by_integration.lock().unwrap().get_mut(integration) {
                i.flights.remove(id);
            }
            return Err(KeyFailure::Unavailable {
                reason: "key_fetch_limited",
                detail: format!(
                    "more than {FETCH_BUDGET} new webhook keys asked for in {} s; try again later",
                    BUDGET_WINDOW.as_secs()
                ),
            });
        }
        self.fetched
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let outcome = fetch(outbound, source, request).await;
        let now = clock.instant();
        let wall = clock.now().timestamp();
        match outcome {
            Ok(key) => {
                let mut ttl = KEY_TTL;
                if let Some(end) = key.not_after {
                    let left = u64::try_from(end.saturating_sub(wall)).unwrap_or(0);
                    ttl = ttl.min(Duration::from_secs(left));
                }
                if ttl.is_zero() {
                    // Expired already: verification will say so; not worth keeping.
                    ttl = UNKNOWN_TTL;
                }
                let key = Arc::new(key);
                self.put(
                    integration,
                    id,
                    Entry::Found {
                        key: key.clone(),
                        until: now + ttl,
                        at: now,
                    },
                    now,
                );
                Ok(key)
            }
            Err(KeyFailure::Unknown { reason }) => {
                self.put(
                    integration,
                    id,
                    Entry::Unknown {
                        until: now + UNKNOWN_TTL,
                        at: now,
                    },
                    now,
                );
                Err(KeyFailure::Unknown { reason })
            }
            Err(KeyFailure::Unavailable { reason, detail }) => {
                self.put(
                    integration,
                    id,
                    Entry::Down {
                        until: now + DOWN_TTL,
                        at: now,
                        detail: detail.clone(),
                    },
                    now,
                );
                Err(KeyFailure::Unavailable { reason, detail })
            }
        }
    }
}

/// Reads a provider's answer as a key.
type ParseKey = fn(&[u8]) -> Result<ProviderKey, signatures::KeyError>;

/// One request to the provider, and what its answer means.
async fn fetch(
    outbound: &Outbound,
    source: &Source,
    request: &KeyRequest,
) -> Result<ProviderKey, KeyFailure> {
    let down = |detail: String| KeyFailure::Unavailable {
        reason: "key_unavailable",
        detail,
    };
    let (answer, parse): (_, ParseKey) = match (source, request) {
        (
            Source::KeyEndpoint {
                url,
                client_id,
                secret,
            },
            KeyRequest::KeyId(kid),
        ) => {
            use vault::ExposeSecret as _;
            let body = serde_json::json!({
                "client_id": client_id,
                "secret": secret.expose_secret(),
                "key_id": kid,
            });
            (
                outbound
                    .post_json_limited(url, &body, MAX_ANSWER_BYTES)
                    .await,
                ProviderKey::plaid,
            )
        }
        (Source::Certificate, KeyRequest::CertUrl(url)) => (
            outbound.get_limited(url, None, MAX_ANSWER_BYTES).await,
            ProviderKey::paypal,
        ),
        _ => {
            return Err(KeyFailure::Unknown {
                reason: "unknown_key",
            });
        }
    };
    let fetched = answer.map_err(|e| down(e.to_string()))?;
    let status = fetched.status.as_u16();
    match status {
        200 => {}
        // The endpoint does not know the key (Plaid answers 400 for an unknown key id), or
        // sends us elsewhere (never followed).
        300..=399 | 400 | 404 | 410 => {
            return Err(KeyFailure::Unknown {
                reason: "unknown_key",
            });
        }
        401 | 403 => {
            return Err(down(format!(
                "the key endpoint refused the integration's credentials ({status}); check client_id and client_secret"
            )));
        }
        _ => {
            return Err(down(format!("the key endpoint answered {status}")));
        }
    }
    let key = parse(&fetched.body).map_err(|e| down(e.to_string()))?;
    if let KeyRequest::KeyId(kid) = request
        && key.kid.as_deref().is_some_and(|k| k != kid)
    {
        return Err(KeyFailure::Unknown {
            reason: "unknown_key",
        });
    }
    Ok(key)
}
