//! [`ConsoleStore`](store::ConsoleStore): the admin console's sessions, its OpenID
//! Connect sign-ins in flight, and the hourly activity of its overview.

use std::sync::Arc;

use store::{ConsoleLoginRecord, ConsoleSessionRecord, CounterDelta, Store};

use crate::fixtures::{MIN, SEC, T0, at, ms};

fn session(id: u8, last_seen: i64, expires: i64) -> ConsoleSessionRecord {
    ConsoleSessionRecord {
        id_hash: vec![id; 32],
        actor: format!("api-key:k{id}"),
        display_name: format!("key {id}"),
        api_key_id: Some(format!("k{id}")),
        created_at: at(0),
        last_seen_at: at(last_seen),
        expires_at: at(expires),
    }
}

/// A session reads back as stored, touching only moves `last_seen_at` forward, deleting
/// ends it once, and the purge removes exactly the sessions past their absolute end or
/// idle since before its bound.
pub async fn sessions_round_trip_touch_forward_delete_once_and_purge(s: Arc<dyn Store>) {
    let a = session(1, 0, 60 * MIN);
    s.insert_console_session(&a).await.unwrap();
    assert_eq!(
        s.get_console_session(&a.id_hash).await.unwrap(),
        Some(a.clone())
    );
    assert!(s.get_console_session(&[9; 32]).await.unwrap().is_none());
    assert!(s.insert_console_session(&a).await.is_err(), "same id twice");

    assert!(
        s.touch_console_session(&a.id_hash, at(5 * MIN))
            .await
            .unwrap()
    );
    assert!(s.touch_console_session(&a.id_hash, at(MIN)).await.unwrap());
    let got = s.get_console_session(&a.id_hash).await.unwrap().unwrap();
    assert_eq!(got.last_seen_at, at(5 * MIN), "never moves back");
    assert!(!s.touch_console_session(&[9; 32], at(MIN)).await.unwrap());

    assert!(s.delete_console_session(&a.id_hash).await.unwrap());
    assert!(!s.delete_console_session(&a.id_hash).await.unwrap());
    assert!(s.get_console_session(&a.id_hash).await.unwrap().is_none());

    let fresh = session(2, 10 * MIN, 60 * MIN);
    let idle = session(3, MIN, 60 * MIN);
    let old = session(4, 10 * MIN, 10 * MIN);
    for r in [&fresh, &idle, &old] {
        s.insert_console_session(r).await.unwrap();
    }
    let purged = s
        .purge_console_sessions(at(10 * MIN), at(5 * MIN))
        .await
        .unwrap();
    assert_eq!(purged, 2);
    assert!(
        s.get_console_session(&fresh.id_hash)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.get_console_session(&idle.id_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert!(s.get_console_session(&old.id_hash).await.unwrap().is_none());
}

/// A sign-in in flight is handed out once; expired ones are purged.
pub async fn a_sign_in_is_taken_once_and_expired_ones_are_purged(s: Arc<dyn Store>) {
    let l = ConsoleLoginRecord {
        state_hash: vec![1; 32],
        browser_hash: vec![2; 32],
        next: "/ui/audit".into(),
        expires_at: at(10 * MIN),
    };
    s.insert_console_login(&l).await.unwrap();
    assert_eq!(
        s.take_console_login(&l.state_hash).await.unwrap(),
        Some(l.clone())
    );
    assert_eq!(s.take_console_login(&l.state_hash).await.unwrap(), None);
    s.insert_console_login(&l).await.unwrap();
    assert_eq!(
        s.purge_console_sessions(at(10 * MIN), at(0)).await.unwrap(),
        1
    );
    assert_eq!(s.take_console_login(&l.state_hash).await.unwrap(), None);
}

/// Counter buckets add up per hour and kind across integrations; hours before the
/// window's hour are left out.
pub async fn activity_adds_counters_up_per_hour(s: Arc<dyn Store>) {
    let hour = 3_600 * SEC;
    let base = T0.div_euclid(hour) * hour;
    let d = |integration: &str, kind: &str, bucket: i64, count: u64| CounterDelta {
        integration: integration.into(),
        kind: kind.into(),
        reason: String::new(),
        bucket: ms(bucket),
        count,
    };
    s.add_counters(&[
        d("gh", "webhook_received", base - hour, 100),
        d("gh", "webhook_received", base, 3),
        d("gh", "webhook_received", base + 59 * MIN, 4),
        d("st", "webhook_received", base + MIN, 5),
        d("gh", "webhook_refused", base + 2 * hour, 2),
        d("gh", "refresh_failed", base + 2 * hour + MIN, 1),
    ])
    .await
    .unwrap();
    let got = s.activity_by_hour(ms(base + 30 * MIN)).await.unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].hour, ms(base));
    assert_eq!(
        (got[0].received, got[0].refused, got[0].refresh_failed),
        (12, 0, 0)
    );
    assert_eq!(got[1].hour, ms(base + 2 * hour));
    assert_eq!(
        (got[1].received, got[1].refused, got[1].refresh_failed),
        (0, 2, 1)
    );
    assert_eq!(got[1].delivered, 0);
}
