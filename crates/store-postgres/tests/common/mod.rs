//! Stores for the tests, each in a schema of its own on the machine's PostgreSQL
//! (`store_postgres::testing`: which server, how a schema is made and dropped, and what
//! happens when the server cannot be reached).

#![allow(dead_code)]

use std::sync::Arc;

use store::Store;
use store_postgres::PgStore;

pub use store_postgres::testing::TestSchema;

/// A fresh, migrated, empty store in a schema of its own, and the schema's guard.
pub async fn fresh() -> (Arc<dyn Store>, TestSchema) {
    let schema = TestSchema::new("sb_test").await;
    let s = PgStore::connect(&schema.url).await.unwrap();
    assert!(s.migrate().await.unwrap() > 0);
    (Arc::new(s), schema)
}

/// Two independent stores (own pools and writers) on one fresh schema, as two
/// instances would have.
pub async fn pair() -> (Arc<dyn Store>, Arc<dyn Store>, TestSchema) {
    let schema = TestSchema::new("sb_test").await;
    let a = PgStore::connect(&schema.url).await.unwrap();
    a.migrate().await.unwrap();
    let b = PgStore::connect(&schema.url).await.unwrap();
    (Arc::new(a), Arc::new(b), schema)
}
