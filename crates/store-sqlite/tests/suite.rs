//! The `store-tests` suite, whole, against SQLite: every case on a fresh
//! `sqlite::memory:` store (a private database file in a temporary directory), and the
//! cases about two processes on two handles of one such database.

use std::sync::Arc;

use store::Store;
use store_sqlite::SqliteStore;

/// A fresh, migrated, empty store.
async fn fresh() -> Arc<dyn Store> {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    s.migrate().await.unwrap();
    Arc::new(s)
}

/// Two independent handles (own pools, own event writer) on one fresh database.
async fn pair() -> (Arc<dyn Store>, Arc<dyn Store>) {
    let a = SqliteStore::connect("sqlite::memory:").await.unwrap();
    a.migrate().await.unwrap();
    let b = a.open_again().await.unwrap();
    (Arc::new(a), Arc::new(b))
}

store_tests::suite!(fresh = fresh(), pair = pair());
