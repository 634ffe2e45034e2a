//! [`EventStore`](store::EventStore): received webhooks, byte for byte, deduplicated by provider id.

use std::sync::Arc;

use store::{Event, InsertOutcome, Store, StoreError, Upsert};

use crate::fixtures::{conn, creds, event, evt_id, ms};

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

/// Headers (order, repeats, Unicode) and a non-UTF-8 body come back exactly; so does an
/// event with every optional field empty.
pub async fn insert_and_get_round_trip_byte_for_byte(s: Arc<dyn Store>) {
    let mut e = event(1, "github", Some("delivery-1"));
    e.headers = vec![
        ("X-B".to_owned(), "2".to_owned()),
        ("a".to_owned(), "1".to_owned()),
        ("X-B".to_owned(), "3".to_owned()),
        ("x-unicode".to_owned(), "é \"quoted\" \\ ☃".to_owned()),
    ];
    e.body = vec![0x00, b'{', 0xff, 0xfe, 0x80, b'}', 0x00, 0xc3, 0x28];
    assert!(std::str::from_utf8(&e.body).is_err());
    e.connection_id = Some("conn_1".to_owned());
    e.routing_key = Some("T1".to_owned());
    e.received_at = ms(1_712_345_678_901);
    assert_eq!(s.insert_event(&e).await.unwrap(), InsertOutcome::Inserted);
    assert_eq!(s.get_event(&e.id).await.unwrap(), Some(e.clone()));

    // Every optional field empty, and an empty body.
    let bare = Event {
        id: evt_id(2),
        integration: "github".to_owned(),
        received_at: ms(0),
        provider_event_id: None,
        event_type: None,
        scheme: "github".to_owned(),
        headers: vec![],
        body: vec![],
        connection_id: None,
        routing_key: None,
    };
    assert_eq!(
        s.insert_event(&bare).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(s.get_event(&bare.id).await.unwrap(), Some(bare));
    assert_eq!(s.get_event(&evt_id(3)).await.unwrap(), None);
}

/// `received_at` is kept to the millisecond.
pub async fn received_at_is_truncated_to_milliseconds(s: Arc<dyn Store>) {
    use chrono::TimeZone as _;
    let mut e = event(1, "i", None);
    e.received_at = chrono::Utc
        .timestamp_opt(1_700_000_000, 123_456_789)
        .unwrap();
    s.insert_event(&e).await.unwrap();
    let got = s.get_event(&e.id).await.unwrap().unwrap();
    assert_eq!(got.received_at, ms(1_700_000_000_123));
}

/// A provider event id is stored once per integration; the duplicate names the first.
pub async fn deduplicate_by_provider_id_within_an_integration(s: Arc<dyn Store>) {
    let first = event(1, "stripe", Some("evt_abc"));
    assert_eq!(
        s.insert_event(&first).await.unwrap(),
        InsertOutcome::Inserted
    );
    // Same provider id, same integration: a duplicate of the first, nothing stored.
    let again = event(2, "stripe", Some("evt_abc"));
    assert_eq!(
        s.insert_event(&again).await.unwrap(),
        InsertOutcome::Duplicate {
            existing_id: first.id.clone()
        }
    );
    assert_eq!(s.get_event(&again.id).await.unwrap(), None);
    // Resending the very same event is a duplicate of itself.
    assert_eq!(
        s.insert_event(&first).await.unwrap(),
        InsertOutcome::Duplicate {
            existing_id: first.id.clone()
        }
    );
    // Same provider id in another integration: a different event.
    assert_eq!(
        s.insert_event(&event(3, "github", Some("evt_abc")))
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    // No provider id never deduplicates.
    for n in 4..7 {
        assert_eq!(
            s.insert_event(&event(n, "stripe", None)).await.unwrap(),
            InsertOutcome::Inserted
        );
    }
    assert_eq!(s.count_events(Some("stripe")).await.unwrap(), 4);
    assert_eq!(s.count_events(Some("github")).await.unwrap(), 1);
    assert_eq!(s.count_events(None).await.unwrap(), 5);
}

/// An id that exists is a `Conflict` for that insert only; the store goes on.
pub async fn an_existing_id_is_a_conflict_and_does_not_fail_others(s: Arc<dyn Store>) {
    let e = event(1, "i", None);
    s.insert_event(&e).await.unwrap();
    let mut clash = event(1, "other", None);
    clash.body = b"different".to_vec();
    let err = s.insert_event(&clash).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(s.get_event(&e.id).await.unwrap(), Some(e));
    // The store carries on.
    assert_eq!(
        s.insert_event(&event(2, "i", None)).await.unwrap(),
        InsertOutcome::Inserted
    );
}

/// 50 tasks insert 10 events each at once: every one is acknowledged and stored.
pub async fn five_hundred_concurrent_inserts_are_all_acknowledged_and_stored(s: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for t in 0..50u128 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for k in 0..10u128 {
                let n = t * 10 + k;
                let integration = format!("int-{}", n % 5);
                let pid = format!("p{n}");
                let e = event(n, &integration, (n % 2 == 0).then_some(pid.as_str()));
                assert_eq!(s.insert_event(&e).await.unwrap(), InsertOutcome::Inserted);
                sent.push(e);
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.unwrap());
    }
    assert_eq!(sent.len(), 500);
    assert_eq!(s.count_events(None).await.unwrap(), 500);
    for i in 0..5 {
        assert_eq!(
            s.count_events(Some(&format!("int-{i}"))).await.unwrap(),
            100
        );
    }
    for e in &sent {
        assert_eq!(s.get_event(&e.id).await.unwrap().as_ref(), Some(e));
    }
}

/// Listing is newest first by id, pages by a strict cursor (stored or not), filters by
/// integration and honours the limit.
pub async fn list_newest_first_with_cursor_filter_and_limit(s: Arc<dyn Store>) {
    // Inserted out of id order, alternating integrations.
    for n in [3u128, 1, 7, 5, 2, 6, 4] {
        let integration = if n % 2 == 1 { "odd" } else { "even" };
        s.insert_event(&event(n, integration, None)).await.unwrap();
    }
    let all = s.list_events(None, None, 100).await.unwrap();
    assert_eq!(ids(&all), (1..=7).rev().map(evt_id).collect::<Vec<_>>());

    // Paging with the last id as the cursor visits every event exactly once.
    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = s.list_events(None, before.as_deref(), 3).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        before = Some(page.last().unwrap().id.clone());
        pages.push(ids(&page));
    }
    assert_eq!(pages.len(), 3);
    assert_eq!(pages.concat(), ids(&all));

    let odd = s.list_events(Some("odd"), None, 100).await.unwrap();
    assert_eq!(ids(&odd), [7, 5, 3, 1].map(evt_id).to_vec());
    assert!(odd.iter().all(|e| e.integration == "odd"));
    let odd_before_5 = s
        .list_events(Some("odd"), Some(&evt_id(5)), 100)
        .await
        .unwrap();
    assert_eq!(ids(&odd_before_5), [3, 1].map(evt_id).to_vec());
    let even_limited = s
        .list_events(Some("even"), Some(&evt_id(7)), 2)
        .await
        .unwrap();
    assert_eq!(ids(&even_limited), [6, 4].map(evt_id).to_vec());
    // A cursor that is not a stored id still bounds the listing.
    let between = format!("{}~", evt_id(2));
    let before_mid = s.list_events(None, Some(&between), 100).await.unwrap();
    assert_eq!(ids(&before_mid), [2, 1].map(evt_id).to_vec());

    assert!(s.list_events(None, None, 0).await.unwrap().is_empty());
    assert!(
        s.list_events(Some("none"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.list_events(None, Some(&evt_id(1)), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Counts overall and per integration; a duplicate adds nothing.
pub async fn count_overall_and_per_integration(s: Arc<dyn Store>) {
    assert_eq!(s.count_events(None).await.unwrap(), 0);
    assert_eq!(s.count_events(Some("a")).await.unwrap(), 0);
    for n in 0..5 {
        s.insert_event(&event(n, if n < 3 { "a" } else { "b" }, None))
            .await
            .unwrap();
    }
    // A duplicate adds nothing.
    s.insert_event(&event(10, "a", Some("x"))).await.unwrap();
    s.insert_event(&event(11, "a", Some("x"))).await.unwrap();
    assert_eq!(s.count_events(None).await.unwrap(), 6);
    assert_eq!(s.count_events(Some("a")).await.unwrap(), 4);
    assert_eq!(s.count_events(Some("b")).await.unwrap(), 2);
    assert_eq!(s.count_events(Some("c")).await.unwrap(), 0);
}

/// An event without a connection but with a routing key gets the one connection of its
/// integration with that key; none when no or several connections have it; a given
/// connection is kept as given.
pub async fn a_routing_key_attaches_the_one_connection_with_it(s: Arc<dyn Store>) {
    for (id, integration, key) in [
        ("c1", "slack", Some("T1")),
        ("c2", "slack", Some("T2")),
        ("c3", "slack", Some("T2")),
        ("c4", "discord", Some("T3")),
        ("c5", "slack", None),
    ] {
        let mut c = conn(id, integration, id);
        c.routing_key = key.map(str::to_owned);
        assert!(matches!(
            s.upsert_connection(&c, &creds("k1", b"x")).await.unwrap(),
            Upsert::Created(_)
        ));
    }
    let keyed = |n: u128, key: Option<&str>, given: Option<&str>| {
        let mut e = event(n, "slack", None);
        e.routing_key = key.map(str::to_owned);
        e.connection_id = given.map(str::to_owned);
        e
    };
    let cases = [
        (keyed(1, Some("T1"), None), Some("c1")),
        (keyed(2, Some("T2"), None), None),
        (keyed(3, Some("T3"), None), None),
        (keyed(4, Some("T9"), None), None),
        (keyed(5, None, None), None),
        (keyed(6, Some("T1"), Some("c2")), Some("c2")),
    ];
    for (e, want) in cases {
        assert_eq!(s.insert_event(&e).await.unwrap(), InsertOutcome::Inserted);
        let got = s.get_event(&e.id).await.unwrap().unwrap();
        assert_eq!(got.connection_id.as_deref(), want, "{:?}", e.routing_key);
        assert_eq!(got.routing_key, e.routing_key);
    }
}
