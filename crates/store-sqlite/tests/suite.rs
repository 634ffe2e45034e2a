//! The `store-tests` suite, whole, against SQLite, twice: on a fresh `sqlite::memory:`
//! store per case (a private database file in a temporary directory, no fsync), and in
//! `on_disk` on a database file in a temporary directory opened as a deployment opens
//! it (`synchronous = FULL`, the delivery queue's pool at `NORMAL`). The cases about two
//! processes get two handles on one such database.

use std::sync::Arc;

use store::Store;
use store_sqlite::SqliteStore;

/// A fresh, migrated, empty memory store.
async fn fresh() -> Arc<dyn Store> {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    s.migrate().await.unwrap();
    Arc::new(s)
}

/// Two independent handles (own pools, own event writer) on one fresh memory database.
async fn pair() -> (Arc<dyn Store>, Arc<dyn Store>) {
    let a = SqliteStore::connect("sqlite::memory:").await.unwrap();
    a.migrate().await.unwrap();
    let b = a.open_again().await.unwrap();
    (Arc::new(a), Arc::new(b))
}

store_tests::suite!(fresh = fresh(), pair = pair());

/// The suite on database files, each in a temporary directory removed after its case.
mod on_disk {
    use std::sync::Arc;

    use store::Store;
    use store_sqlite::SqliteStore;
    use tempfile::TempDir;

    /// A migrated store on a new file, and the directory to remove after the case.
    async fn fresh() -> (Arc<dyn Store>, TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("sb.db").display());
        let s = SqliteStore::connect(&url).await.unwrap();
        s.migrate().await.unwrap();
        (Arc::new(s), dir)
    }

    /// Two stores opened on one new file, as two processes would.
    async fn pair() -> (Arc<dyn Store>, Arc<dyn Store>, TempDir) {
        let (a, dir) = fresh().await;
        let url = format!("sqlite://{}", dir.path().join("sb.db").display());
        let b = SqliteStore::connect(&url).await.unwrap();
        (a, Arc::new(b), dir)
    }

    store_tests::suite!(fresh = fresh(), pair = pair());
}
