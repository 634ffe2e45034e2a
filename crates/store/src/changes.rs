//! The change feed: what other processes sharing the database changed, as it commits.
//!
//! Several instances on one database keep per-process state about stored rows (the
//! API-key cache, the proxy's credential cache, the integration switches) and wait for
//! work (the delivery worker). A backend that can tell them what another process
//! committed hands out a [`ChangeFeed`] from [`Store::subscribe`](crate::Store::subscribe);
//! one that cannot returns `None`, and those caches then learn of another process's
//! change when their entry expires, the worker when it polls.
//!
//! A feed is a hint, never the source of truth: a change may arrive more than once, or
//! for a row that did not change in a way the reader cares about; readers drop what they
//! kept and read the store again. A feed that may have missed changes (its connection
//! was lost, or its reader fell behind) says [`Change::Resync`]: treat everything as
//! changed. Every feed starts with a `Resync` once it listens, so its reader knows from
//! when on changes reach it.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

/// One change committed to the store, by any process (this one included).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Change {
    /// Deliveries were enqueued or made due again (replay, release): the delivery worker
    /// should look for work.
    DeliveriesDue,
    /// The stored state of this connection changed (tokens refreshed, status, settings,
    /// deleted).
    Connection(String),
    /// This API key's record changed (revoked).
    ApiKey(String),
    /// This integration's switches (blocked, disabled) changed.
    IntegrationState(String),
    /// This destination's state (disabled or enabled) changed.
    Destination(String),
    /// The feed may have missed changes (it started or reconnected, or its reader fell
    /// behind): treat everything as changed.
    Resync,
}

/// How many changes a feed holds for a reader that has not taken them yet; past it,
/// they are dropped and the reader is told [`Change::Resync`].
pub const FEED_CAPACITY: usize = 1024;

/// A subscription to the store's changes (see the module documentation). Dropping it
/// ends the subscription and releases what the backend held for it.
#[derive(Debug)]
pub struct ChangeFeed {
    rx: mpsc::Receiver<Change>,
}

impl ChangeFeed {
    /// The next change; `None` once the backend has stopped for good (the store was
    /// closed). Cancel-safe.
    pub async fn recv(&mut self) -> Option<Change> {
        self.rx.recv().await
    }

    /// A change already waiting, if any, without waiting.
    pub fn try_recv(&mut self) -> Option<Change> {
        self.rx.try_recv().ok()
    }
}

/// The backend's end of a [`ChangeFeed`]: it never waits for the reader. When the feed
/// is full, changes are dropped and the next one that fits is preceded by a
/// [`Change::Resync`].
#[derive(Debug)]
pub struct ChangeSender {
    tx: mpsc::Sender<Change>,
    /// Changes were dropped since the last `Resync` that fitted.
    lost: AtomicBool,
}

/// A new feed of [`FEED_CAPACITY`] and the sender that fills it.
pub fn feed() -> (ChangeSender, ChangeFeed) {
    feed_with_capacity(FEED_CAPACITY)
}

/// A new feed holding at most `capacity` (at least 1) unread changes.
pub fn feed_with_capacity(capacity: usize) -> (ChangeSender, ChangeFeed) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        ChangeSender {
            tx,
            lost: AtomicBool::new(false),
        },
        ChangeFeed { rx },
    )
}

impl ChangeSender {
    /// Hands `change` to the reader without waiting; false once the feed was dropped
    /// (the backend should stop listening for it).
    pub fn send(&self, change: Change) -> bool {
        use mpsc::error::TrySendError;
        if self.lost.load(Ordering::Acquire) {
            match self.tx.try_send(Change::Resync) {
                Ok(()) => self.lost.store(false, Ordering::Release),
                // Still full: this change is covered by the Resync to come.
                Err(TrySendError::Full(_)) => return true,
                Err(TrySendError::Closed(_)) => return false,
            }
            if change == Change::Resync {
                return true;
            }
        }
        match self.tx.try_send(change) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.lost.store(true, Ordering::Release);
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// Whether the feed was dropped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Resolves once the feed is dropped.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(feed: &mut ChangeFeed) -> Vec<Change> {
        std::iter::from_fn(|| feed.try_recv()).collect()
    }

    #[test]
    fn changes_arrive_in_order() {
        let (tx, mut feed) = feed();
        assert!(tx.send(Change::Resync));
        assert!(tx.send(Change::ApiKey("k".into())));
        assert!(tx.send(Change::DeliveriesDue));
        assert_eq!(
            drain(&mut feed),
            [
                Change::Resync,
                Change::ApiKey("k".into()),
                Change::DeliveriesDue
            ]
        );
    }

    #[test]
    fn a_full_feed_drops_changes_and_then_says_resync_once() {
        let (tx, mut feed) = feed_with_capacity(2);
        assert!(tx.send(Change::Connection("a".into())));
        assert!(tx.send(Change::Connection("b".into())));
        // Full: dropped, and so is everything until there is room again.
        assert!(tx.send(Change::Connection("c".into())));
        assert!(tx.send(Change::Connection("d".into())));
        assert_eq!(
            drain(&mut feed),
            [
                Change::Connection("a".into()),
                Change::Connection("b".into())
            ]
        );
        assert!(tx.send(Change::ApiKey("e".into())));
        assert_eq!(
            drain(&mut feed),
            [Change::Resync, Change::ApiKey("e".into())]
        );
        // A Resync that was owed is not sent twice.
        assert!(tx.send(Change::DeliveriesDue));
        assert!(tx.send(Change::DeliveriesDue));
        assert!(tx.send(Change::DeliveriesDue));
        drain(&mut feed);
        assert!(tx.send(Change::Resync));
        assert_eq!(drain(&mut feed), [Change::Resync]);
    }

    #[test]
    fn a_dropped_feed_tells_the_sender_to_stop() {
        let (tx, feed) = feed();
        assert!(!tx.is_closed());
        drop(feed);
        assert!(tx.is_closed());
        assert!(!tx.send(Change::DeliveriesDue));
    }
}
