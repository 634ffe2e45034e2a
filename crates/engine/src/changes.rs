//! How per-process state learns that stored state changed.
//!
//! "This connection changed": state kept about connections (today the proxy's credential
//! cache) learns of a refresh, a failed refresh or a disconnect made in this process,
//! without the code that made the change knowing who keeps what. Watchers are registered
//! once, when the engine is built; the change is reported right after the store has it,
//! and every watcher has heard of it before [`Engine::connection_changed`] returns. So a
//! request that starts after a refresh or a disconnect returned never sees what came
//! before it.
//!
//! Changes made by other processes sharing the database arrive through the store's
//! change feed ([`store::changes`], when the backend has one: PostgreSQL), which
//! [`Engine::follow_changes`] applies as they come: deliveries due and destinations
//! enabled wake the delivery worker, a connection goes to the same watchers, an API key
//! or an integration's switches leave their caches, and a `Resync` (the feed may have
//! missed something) empties every cache and wakes the worker. Without a feed (SQLite),
//! another process's changes reach a cache when its entry expires, and the worker when
//! it polls; with one, those remain the backstop for a lost notification.
//!
//! "Deliveries due" wakes the worker at most once per [`DUE_WAKE_EVERY`]: every intake
//! commit that enqueued deliveries announces them, to every instance (this one too), and
//! a worker woken per commit would run a claim per commit on every instance, most of them
//! finding nothing because the receiving instance, poked in-process, took the work. The
//! first announcement after a quiet spell wakes the worker at once; those that follow
//! within the interval are folded into one wake-up at its end.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use store::{Change, ChangeFeed};

use crate::Engine;

/// The shortest time between two wake-ups of the delivery worker by other instances'
/// "deliveries due" (see the module documentation).
pub(crate) const DUE_WAKE_EVERY: Duration = Duration::from_millis(20);

/// Something that keeps state about connections and must drop it when one changes.
pub(crate) trait ConnectionWatcher: Send + Sync {
    /// The stored state of connection `id` changed (tokens refreshed, a refresh failed,
    /// revoked): forget what was kept about it. Must not block: it runs inline.
    fn connection_changed(&self, id: &str);
    /// Any connection may have changed: forget everything kept. Must not block.
    fn all_changed(&self);
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

impl Engine {
    /// Applies the store's change feed ([`store::Store::subscribe`]) until `shutdown`
    /// resolves or the feed ends (the store was closed); see the module documentation.
    /// `serve` runs it beside the delivery worker when the backend has a feed. It waits
    /// on the feed: an idle instance spends nothing here.
    pub async fn follow_changes(
        &self,
        mut feed: ChangeFeed,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        tokio::pin!(shutdown);
        // When the worker may be woken again for deliveries due, and whether an
        // announcement waits for that time.
        let mut quiet_until = self.instant();
        let mut due_waiting = false;
        loop {
            let change = tokio::select! {
                () = &mut shutdown => return,
                () = self.clock().sleep_until(quiet_until), if due_waiting => {
                    due_waiting = false;
                    quiet_until = self.instant() + DUE_WAKE_EVERY;
                    self.poke_pipeline();
                    continue;
                }
                change = feed.recv() => change,
            };
            match change {
                Some(Change::DeliveriesDue) => {
                    let now = self.instant();
                    if now >= quiet_until {
                        quiet_until = now + DUE_WAKE_EVERY;
                        self.poke_pipeline();
                    } else {
                        due_waiting = true;
                    }
                }
                Some(change) => self.apply_change(&change),
                None => {
                    tracing::debug!("the store's change feed ended");
                    return;
                }
            }
        }
    }

    /// Drops or wakes what `change` concerns.
    pub(crate) fn apply_change(&self, change: &Change) {
        match change {
            Change::DeliveriesDue | Change::Destination(_) => self.poke_pipeline(),
            Change::Connection(id) => self.connection_changed(id),
            Change::ApiKey(id) => self.inner.api_keys.invalidate(id),
            Change::IntegrationState(id) => self.inner.flags.forget(id),
            Change::Resync => {
                tracing::debug!("the store's change feed (re)started: every cache emptied");
                self.inner.api_keys.clear();
                self.inner.flags.clear();
                for w in &self.inner.changes.watchers {
                    w.all_changed();
                }
                self.poke_pipeline();
            }
        }
    }
}
