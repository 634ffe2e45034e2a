//! A short-lived, per-process cache of connections' decrypted credentials for the proxy,
//! so that a busy connection does not cost a database read and a decryption per request.
//!
//! An entry lives [`TTL`] (one second, like the integration switches of webhook intake):
//! a disconnect, revocation or refresh made by *another* process reaches this one's proxy
//! within that time. This process forgets an entry whenever it refreshes the
//! connection. Only active connections whose token is not due for refresh are kept;
//! values are zeroed when dropped.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use store::Connection;

use crate::connections::credentials::Credentials;

/// How long an entry is used.
pub(crate) const TTL: Duration = Duration::from_secs(1);
/// At most this many connections are kept; past it the cache is emptied.
const MAX: usize = 10_000;

struct Entry {
    at: Instant,
    conn: Connection,
    creds: Credentials,
}

/// See the module documentation.
#[derive(Default)]
pub(crate) struct CredentialCache {
    map: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache").finish_non_exhaustive()
    }
}

impl CredentialCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached connection and credentials, if younger than [`TTL`].
    pub(crate) fn get(&self, id: &str) -> Option<(Connection, Credentials)> {
        let map = self.lock();
        let e = map.get(id)?;
        (e.at.elapsed() < TTL).then(|| (e.conn.clone(), e.creds.clone()))
    }

    /// Keeps a freshly loaded connection.
    pub(crate) fn put(&self, conn: &Connection, creds: &Credentials) {
        let mut map = self.lock();
        if map.len() >= MAX {
            map.clear();
        }
        map.insert(
            conn.id.clone(),
            Entry {
                at: Instant::now(),
                conn: conn.clone(),
                creds: creds.clone(),
            },
        );
    }

    /// Drops the entry of `id` (after a refresh, or a failed one).
    pub(crate) fn forget(&self, id: &str) {
        self.lock().remove(id);
    }
}
