//! "This connection changed": how per-process state kept about connections (today the
//! proxy's credential cache) learns of a refresh, a failed refresh or a disconnect made
//! in this process, without the code that made the change knowing who keeps what.
//!
//! Watchers are registered once, when the engine is built; the change is reported right
//! after the store has it, and every watcher has heard of it before
//! [`Engine::connection_changed`] returns. So a request that starts after a refresh or a
//! disconnect returned never sees what came before it (another process's changes reach
//! a cache when its entry expires).

use std::fmt;
use std::sync::Arc;

use crate::Engine;

/// Something that keeps state about connections and must drop it when one changes.
pub(crate) trait ConnectionWatcher: Send + Sync {
    /// The stored state of connection `id` changed (tokens refreshed, a refresh failed,
    /// revoked): forget what was kept about it. Must not block: it runs inline.
    fn connection_changed(&self, id: &str);
}

/// The watchers of this process, fixed when the engine is built.
#[derive(Default)]
pub(crate) struct ConnectionChanges {
    watchers: Vec<Arc<dyn ConnectionWatcher>>,
}

impl ConnectionChanges {
    /// Changes told to `watchers`.
    pub(crate) fn new(watchers: Vec<Arc<dyn ConnectionWatcher>>) -> Self {
        Self { watchers }
    }
}

impl fmt::Debug for ConnectionChanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionChanges")
            .field("watchers", &self.watchers.len())
            .finish()
    }
}

impl Engine {
    /// Tells every watcher that connection `id` changed in the store. Call it after the
    /// store has the change, before returning to whoever asked for it.
    pub(crate) fn connection_changed(&self, id: &str) {
        for w in &self.inner.changes.watchers {
            w.connection_changed(id);
        }
    }
}
