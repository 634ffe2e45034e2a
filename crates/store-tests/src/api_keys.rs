//! [`ApiKeyStore`](store::ApiKeyStore): insert, read, list, revoke, touch, count.

use std::sync::Arc;

use store::{Scope, Store, StoreError, now};

use crate::fixtures::{api_key, ms};

/// Every field round-trips, optional timestamps included; ids match exactly.
pub async fn insert_and_get_round_trip(s: Arc<dyn Store>) {
    let mut k = api_key("k1", now());
    k.scope = Scope::Admin;
    k.secret_hash = (0..=255).collect::<Vec<u8>>()[..32].to_vec();
    s.insert_api_key(&k).await.unwrap();
    assert_eq!(s.get_api_key("k1").await.unwrap(), Some(k.clone()));
    assert_eq!(s.get_api_key("K1").await.unwrap(), None, "ids are exact");
    assert_eq!(s.get_api_key("nope").await.unwrap(), None);

    // Optional timestamps round-trip too.
    let mut full = api_key("k2", ms(1_700_000_000_123));
    full.last_used_at = Some(ms(1_700_000_001_456));
    full.revoked_at = Some(ms(1_700_000_002_789));
    s.insert_api_key(&full).await.unwrap();
    assert_eq!(s.get_api_key("k2").await.unwrap(), Some(full));
}

/// A second key with the same id is a `Conflict` and leaves the first alone.
pub async fn duplicate_id_is_a_conflict(s: Arc<dyn Store>) {
    s.insert_api_key(&api_key("dup", now())).await.unwrap();
    let mut other = api_key("dup", now());
    other.name = "another".into();
    let e = s.insert_api_key(&other).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert!(e.to_string().starts_with("conflict:"), "{e}");
    // The original is untouched.
    assert_eq!(s.get_api_key("dup").await.unwrap().unwrap().name, "key dup");
    assert_eq!(s.list_api_keys().await.unwrap().len(), 1);
}

/// Listing is by creation time, then by id.
pub async fn list_oldest_first_then_by_id(s: Arc<dyn Store>) {
    assert!(s.list_api_keys().await.unwrap().is_empty());
    s.insert_api_key(&api_key("c", ms(3_000))).await.unwrap();
    s.insert_api_key(&api_key("b", ms(1_000))).await.unwrap();
    s.insert_api_key(&api_key("z", ms(2_000))).await.unwrap();
    s.insert_api_key(&api_key("a", ms(2_000))).await.unwrap();
    let ids: Vec<String> = s
        .list_api_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, ["b", "a", "z", "c"]);
}

/// A key is revoked once; the first time is kept and the key stays readable.
pub async fn revoke_once(s: Arc<dyn Store>) {
    s.insert_api_key(&api_key("k", now())).await.unwrap();
    s.insert_api_key(&api_key("other", now())).await.unwrap();
    let at = ms(1_800_000_000_321);
    assert!(s.revoke_api_key("k", at).await.unwrap());
    assert!(!s.revoke_api_key("k", ms(1_900_000_000_000)).await.unwrap());
    assert!(!s.revoke_api_key("missing", at).await.unwrap());
    // The first revocation time is kept; the key remains readable; others unaffected.
    let k = s.get_api_key("k").await.unwrap().unwrap();
    assert_eq!(k.revoked_at, Some(at));
    assert_eq!(
        s.get_api_key("other").await.unwrap().unwrap().revoked_at,
        None
    );
    assert_eq!(s.list_api_keys().await.unwrap().len(), 2);
}

/// A touch records the last use of that key only; an unknown key is not an error.
pub async fn touch_records_last_use(s: Arc<dyn Store>) {
    s.insert_api_key(&api_key("k", now())).await.unwrap();
    s.insert_api_key(&api_key("other", now())).await.unwrap();
    assert_eq!(
        s.get_api_key("k").await.unwrap().unwrap().last_used_at,
        None
    );
    let t1 = ms(1_700_000_000_001);
    s.touch_api_key("k", t1).await.unwrap();
    assert_eq!(
        s.get_api_key("k").await.unwrap().unwrap().last_used_at,
        Some(t1)
    );
    let t2 = ms(1_700_000_000_999);
    s.touch_api_key("k", t2).await.unwrap();
    assert_eq!(
        s.get_api_key("k").await.unwrap().unwrap().last_used_at,
        Some(t2)
    );
    assert_eq!(
        s.get_api_key("other").await.unwrap().unwrap().last_used_at,
        None
    );
    // Touching an unknown key is not an error and creates nothing.
    s.touch_api_key("missing", t2).await.unwrap();
    assert!(s.get_api_key("missing").await.unwrap().is_none());
}

/// Revoked keys, including ones inserted revoked, are not counted.
pub async fn count_active_excludes_revoked(s: Arc<dyn Store>) {
    assert_eq!(s.count_active_api_keys().await.unwrap(), 0);
    for id in ["a", "b", "c"] {
        s.insert_api_key(&api_key(id, now())).await.unwrap();
    }
    let mut pre_revoked = api_key("d", now());
    pre_revoked.revoked_at = Some(now());
    s.insert_api_key(&pre_revoked).await.unwrap();
    assert_eq!(s.count_active_api_keys().await.unwrap(), 3);
    s.revoke_api_key("b", now()).await.unwrap();
    assert_eq!(s.count_active_api_keys().await.unwrap(), 2);
    s.touch_api_key("a", now()).await.unwrap();
    assert_eq!(s.count_active_api_keys().await.unwrap(), 2);
}
