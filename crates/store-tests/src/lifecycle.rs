//! The [`Store`] itself (ping, migrate, close) and how every trait stores time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use store::{InsertOutcome, Store, StoreError, now};

use crate::fixtures::{all_audit, api_key, assert_valid_chain, entry, event, ms, slot};

/// A fresh store answers and names its backend.
pub async fn ping_answers_and_the_backend_has_a_name(s: Arc<dyn Store>) {
    s.ping().await.unwrap();
    let name = s.backend();
    assert!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase()),
        "{name:?}"
    );
}

/// Migrating a migrated store applies nothing and keeps the data.
pub async fn migrate_again_applies_nothing(s: Arc<dyn Store>) {
    s.insert_api_key(&api_key("k1", now())).await.unwrap();
    assert_eq!(s.migrate().await.unwrap(), 0);
    assert_eq!(s.migrate().await.unwrap(), 0);
    assert!(s.get_api_key("k1").await.unwrap().is_some());
}

/// After `close`, ping and reads fail as `Unavailable` (what `/readyz` reports).
pub async fn closed_store_is_unavailable(s: Arc<dyn Store>) {
    s.close().await;
    let e = s.ping().await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(e.to_string().contains("database unavailable"), "{e}");
    let e = s.get_api_key("x").await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
}

/// An event insert after `close` fails as `Unavailable` instead of hanging.
pub async fn insert_after_close_is_an_error_not_a_hang(s: Arc<dyn Store>) {
    s.insert_event(&event(1, "i", None)).await.unwrap();
    s.close().await;
    let e = tokio::time::timeout(Duration::from_secs(5), s.insert_event(&event(2, "i", None)))
        .await
        .expect("insert after close hung")
        .unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
}

/// `store::now()` is millisecond-precise and round-trips exactly everywhere.
pub async fn timestamps_round_trip_at_millisecond_precision(s: Arc<dyn Store>) {
    let t = now();
    assert_eq!(
        t.timestamp_subsec_nanos() % 1_000_000,
        0,
        "now() is truncated"
    );

    let mut k = api_key("k", t);
    k.last_used_at = Some(t);
    k.revoked_at = Some(t);
    s.insert_api_key(&k).await.unwrap();
    let got = s.get_api_key("k").await.unwrap().unwrap();
    assert_eq!(got.created_at, t);
    assert_eq!(got.last_used_at, Some(t));
    assert_eq!(got.revoked_at, Some(t));

    let mut e = entry("system", "x", "");
    e.at = t;
    s.append_audit(&e).await.unwrap();
    assert_eq!(all_audit(&*s).await[0].entry.at, t);
}

/// The epoch, just before it, year 1 and year 9999 round-trip.
pub async fn timestamps_at_the_edges_round_trip(s: Arc<dyn Store>) {
    let times = [
        Utc.timestamp_millis_opt(0).unwrap(),
        Utc.timestamp_millis_opt(-1).unwrap(), // 1969-12-31T23:59:59.999Z
        Utc.timestamp_millis_opt(-62_135_596_800_000).unwrap(), // 0001-01-01
        Utc.timestamp_millis_opt(253_402_300_799_999).unwrap(), // 9999-12-31T23:59:59.999Z
        Utc.timestamp_millis_opt(1).unwrap(),
    ];
    for (i, t) in times.into_iter().enumerate() {
        let id = format!("k{i}");
        s.insert_api_key(&api_key(&id, t)).await.unwrap();
        assert_eq!(
            s.get_api_key(&id).await.unwrap().unwrap().created_at,
            t,
            "{t}"
        );
        s.touch_api_key(&id, t).await.unwrap();
        assert_eq!(
            s.get_api_key(&id).await.unwrap().unwrap().last_used_at,
            Some(t)
        );
        let mut e = entry("system", "x", &id);
        e.at = t;
        let r = s.append_audit(&e).await.unwrap();
        assert_eq!(s.list_audit_desc(None, 1).await.unwrap()[0], r, "{t}");
    }
    assert_valid_chain(&all_audit(&*s).await);
}

/// Finer than a millisecond is truncated, and the audit hash still verifies.
pub async fn sub_millisecond_precision_is_truncated_on_store(s: Arc<dyn Store>) {
    let precise = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
    let truncated = ms(1_700_000_000_123);
    s.insert_api_key(&api_key("k", precise)).await.unwrap();
    assert_eq!(
        s.get_api_key("k").await.unwrap().unwrap().created_at,
        truncated
    );

    // The audit hash only covers milliseconds, so the stored row still verifies.
    let mut e = entry("system", "x", "");
    e.at = precise;
    let r = s.append_audit(&e).await.unwrap();
    let stored = all_audit(&*s).await;
    assert_eq!(stored[0].entry.at, truncated);
    assert_eq!(stored[0].hash, r.hash);
    assert_valid_chain(&stored);

    let mut ev = event(1, "i", None);
    ev.received_at = precise;
    assert_eq!(s.insert_event(&ev).await.unwrap(), InsertOutcome::Inserted);
    assert_eq!(
        s.get_event(&ev.id).await.unwrap().unwrap().received_at,
        truncated
    );
}

/// A secret's `updated_at` is the store's clock, in milliseconds, moving with each write.
pub async fn secret_updated_at_is_set_by_the_store_at_millisecond_precision(s: Arc<dyn Store>) {
    let sl = slot("o", "1", "n");
    let before = now();
    s.put_secret(&sl, "k", b"x").await.unwrap();
    let first = s.get_secret(&sl).await.unwrap().unwrap().updated_at;
    assert!(first >= before);
    assert_eq!(first.timestamp_subsec_nanos() % 1_000_000, 0);
    // Wait until the clock has moved on by at least a millisecond.
    while now() <= first {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    s.put_secret(&sl, "k", b"y").await.unwrap();
    let second = s.get_secret(&sl).await.unwrap().unwrap().updated_at;
    assert!(second > first);
    while now() <= second {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(s.replace_secret_if(&sl, 2, "k2", b"z").await.unwrap());
    let third = s.get_secret(&sl).await.unwrap().unwrap().updated_at;
    assert!(third > second && third <= now());
}
