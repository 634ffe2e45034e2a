//! A short-lived, per-process cache of what the proxy needs per connection, so that a
//! busy connection does not cost a database read, a decryption, a copy of its
//! integration and provider, and a rendering of the API base URL template per request.
//!
//! An entry lives [`TTL`] (one second, like the integration switches of webhook intake).
//! This process forgets an entry whenever it refreshes or disconnects the connection: the
//! cache watches connection changes ([`crate::changes`]), this process's at once and, on
//! a store with a change feed (PostgreSQL), another process's as its notification
//! arrives; without a feed (SQLite), another process's change reaches this one's proxy
//! within the TTL. Only active connections whose token is not due for refresh are kept;
//! an entry also records the configuration it was built under, and is not used once a
//! reload replaced it. Values are zeroed when the last user drops them; a hit hands out
//! a reference-counted pointer, not a copy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use store::Connection;

use crate::changes::ConnectionWatcher;
use crate::connections::context::Ctx;
use crate::connections::credentials::Credentials;
use crate::ttl_cache::TtlCache;

/// How long an entry is used.
pub(crate) const TTL: Duration = Duration::from_secs(1);
/// At most this many connections are kept; past it expired entries go, then all.
pub(crate) const MAX: usize = 10_000;

/// Where a connection's requests go, worked out once per entry.
#[derive(Debug)]
pub(crate) struct Route {
    /// The configuration this was built under.
    pub config: Arc<config::Config>,
    /// The integration and its provider.
    pub ctx: Ctx,
    /// The API base URL, rendered with the connection's settings.
    pub base: String,
    /// The same, parsed.
    pub base_url: url::Url,
    /// The provider's `api_headers`, rendered with the connection's settings, as headers
    /// (invalid ones dropped).
    pub api_headers: HeaderMap,
    /// The provider's `api_query` parameters, rendered with the connection's settings.
    pub api_query: Vec<(String, String)>,
    /// The query parameter the credential travels in, if any.
    pub credential_param: Option<String>,
}

/// A connection as the proxy uses it.
pub(crate) struct Entry {
    pub conn: Connection,
    pub creds: Arc<Credentials>,
    pub route: Arc<Route>,
}

/// See the module documentation. A [`TtlCache`] keyed by connection id with the fixed
/// [`TTL`]: a request that read the database before a refresh in this process cannot
/// put the old credentials back after the refresh forgot them.
pub(crate) struct CredentialCache(TtlCache<Arc<Entry>>);

impl Default for CredentialCache {
    fn default() -> Self {
        Self(TtlCache::new("CredentialCache", MAX))
    }
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl CredentialCache {
    /// The cached entry, if younger than [`TTL`] at `now`.
    pub(crate) fn get(&self, id: &str, now: Instant) -> Option<Arc<Entry>> {
        self.0.get(id, TTL, now)
    }

    /// The epoch to pass to [`CredentialCache::put`], read before the database is.
    pub(crate) fn epoch(&self) -> u64 {
        self.0.epoch()
    }

    /// Keeps a connection loaded when the epoch was `epoch`, unless something was
    /// forgotten since, as read at `now`.
    pub(crate) fn put(&self, entry: Arc<Entry>, epoch: u64, now: Instant) {
        let id = entry.conn.id.clone();
        self.0.put(&id, entry, epoch, TTL, now);
    }

    /// Drops the entry of `id` (after a refresh, or a failed one).
    pub(crate) fn forget(&self, id: &str) {
        self.0.invalidate(id);
    }

    /// How many connections are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// A refresh, a failed refresh or a disconnect in this process: the entry goes at once,
/// and a load that read the database before the change cannot put it back (the epoch).
impl ConnectionWatcher for CredentialCache {
    fn connection_changed(&self, id: &str) {
        self.forget(id);
    }

    fn all_changed(&self) {
        self.0.clear();
    }
}
