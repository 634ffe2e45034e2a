//! [`SecretStore`](store::SecretStore): versions, slots, deletion, and what key rotation reads and writes.

use std::sync::Arc;

use store::{SecretSlot, Store, now};

use crate::fixtures::slot;

/// Every put bumps the slot's version; another slot starts at 1.
pub async fn put_secret_versions_increment_on_overwrite(s: Arc<dyn Store>) {
    let sl = slot("connections", "c1", "access_token");
    let before = now();
    assert_eq!(s.put_secret(&sl, "k1", b"ct-1").await.unwrap(), 1);
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!(got.slot, sl);
    assert_eq!(got.key_id, "k1");
    assert_eq!(got.ciphertext, b"ct-1");
    assert_eq!(got.version, 1);
    assert!(got.updated_at >= before && got.updated_at <= now());

    assert_eq!(s.put_secret(&sl, "k2", b"ct-2").await.unwrap(), 2);
    assert_eq!(s.put_secret(&sl, "k2", b"ct-3").await.unwrap(), 3);
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!((got.key_id.as_str(), got.version), ("k2", 3));
    assert_eq!(got.ciphertext, b"ct-3");

    // Another slot starts at version 1.
    let other = slot("connections", "c1", "refresh_token");
    assert_eq!(s.put_secret(&other, "k1", b"r").await.unwrap(), 1);
    assert_eq!(s.get_secret(&sl).await.unwrap().unwrap().version, 3);
}

/// Owner, owner id and name must all match.
pub async fn get_secret_matches_the_whole_slot(s: Arc<dyn Store>) {
    s.put_secret(&slot("o", "1", "n"), "k", b"x").await.unwrap();
    assert!(s.get_secret(&slot("o", "1", "n")).await.unwrap().is_some());
    for miss in [
        slot("o", "1", "m"),
        slot("o", "2", "n"),
        slot("p", "1", "n"),
    ] {
        assert!(s.get_secret(&miss).await.unwrap().is_none(), "{miss:?}");
    }
}

/// Any bytes and any Unicode (quotes and SQL included) in a slot round-trip.
pub async fn secret_bytes_and_unicode_slots_round_trip(s: Arc<dyn Store>) {
    let sl = slot("intégrations", "ключ-1", "tök'en\"; DROP TABLE secrets; --");
    let ct: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    s.put_secret(&sl, "0123456789abcdef", &ct).await.unwrap();
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!(got.slot, sl);
    assert_eq!(got.ciphertext, ct);
    // The secrets are all still there.
    assert_eq!(
        s.secret_key_ids().await.unwrap(),
        [("0123456789abcdef".to_owned(), 1)]
    );
}

/// A delete succeeds once; a later put starts again at version 1.
pub async fn delete_secret_once(s: Arc<dyn Store>) {
    let sl = slot("o", "1", "n");
    let keep = slot("o", "1", "m");
    s.put_secret(&sl, "k", b"x").await.unwrap();
    s.put_secret(&keep, "k", b"y").await.unwrap();
    assert!(s.delete_secret(&sl).await.unwrap());
    assert!(!s.delete_secret(&sl).await.unwrap());
    assert!(s.get_secret(&sl).await.unwrap().is_none());
    assert!(s.get_secret(&keep).await.unwrap().is_some());
    // A new put after a delete starts again at version 1.
    assert_eq!(s.put_secret(&sl, "k", b"z").await.unwrap(), 1);
}

/// `delete_secrets_of` removes every secret of one owner row and nothing else.
pub async fn delete_secrets_of_removes_one_owner_row_only(s: Arc<dyn Store>) {
    for name in ["a", "b", "c"] {
        s.put_secret(&slot("connections", "c1", name), "k", b"x")
            .await
            .unwrap();
    }
    s.put_secret(&slot("connections", "c2", "a"), "k", b"x")
        .await
        .unwrap();
    s.put_secret(&slot("integrations", "c1", "a"), "k", b"x")
        .await
        .unwrap();
    assert_eq!(s.delete_secrets_of("connections", "c1").await.unwrap(), 3);
    assert_eq!(s.delete_secrets_of("connections", "c1").await.unwrap(), 0);
    assert_eq!(s.delete_secrets_of("nobody", "c1").await.unwrap(), 0);
    for name in ["a", "b", "c"] {
        assert!(
            s.get_secret(&slot("connections", "c1", name))
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(
        s.get_secret(&slot("connections", "c2", "a"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.get_secret(&slot("integrations", "c1", "a"))
            .await
            .unwrap()
            .is_some()
    );
}

/// Counts per key id (ordered by id) and of what is not under a key.
pub async fn secret_key_ids_and_count_not_under(s: Arc<dyn Store>) {
    assert!(s.secret_key_ids().await.unwrap().is_empty());
    assert_eq!(s.count_secrets_not_under("new").await.unwrap(), 0);
    for i in 0..3 {
        s.put_secret(&slot("o", &i.to_string(), "n"), "old", b"x")
            .await
            .unwrap();
    }
    s.put_secret(&slot("o", "9", "n"), "new", b"x")
        .await
        .unwrap();
    s.put_secret(&slot("p", "1", "n"), "older", b"x")
        .await
        .unwrap();
    assert_eq!(
        s.secret_key_ids().await.unwrap(),
        vec![
            ("new".to_owned(), 1),
            ("old".to_owned(), 3),
            ("older".to_owned(), 1)
        ]
    );
    assert_eq!(s.count_secrets_not_under("new").await.unwrap(), 4);
    assert_eq!(s.count_secrets_not_under("old").await.unwrap(), 2);
    assert_eq!(s.count_secrets_not_under("unknown").await.unwrap(), 5);
    // Overwriting under the new key moves the count.
    s.put_secret(&slot("o", "0", "n"), "new", b"y")
        .await
        .unwrap();
    assert_eq!(s.count_secrets_not_under("new").await.unwrap(), 3);
}

/// Rotation's reads: ordered by the (owner, owner id, name) tuple, paged by a strict
/// cursor that need not exist.
pub async fn secrets_not_under_pages_in_slot_order_with_a_cursor(s: Arc<dyn Store>) {
    // Slots chosen so that ordering by the concatenation would differ from ordering by
    // the (owner, owner_id, name) tuple.
    let old_slots = vec![
        slot("a", "b", "z"),
        slot("ab", "", "a"),
        slot("a", "bc", "a"),
        slot("connections", "c10", "access_token"),
        slot("connections", "c2", "access_token"),
        slot("connections", "c2", "refresh_token"),
        slot("integrations", "i1", "client_secret"),
        slot("Z-upper", "1", "n"),
    ];
    // Insert in a scrambled order.
    for sl in old_slots.iter().rev() {
        s.put_secret(sl, "old", format!("{sl:?}").as_bytes())
            .await
            .unwrap();
    }
    for sl in [
        slot("connections", "c3", "access_token"),
        slot("a", "a", "a"),
    ] {
        s.put_secret(&sl, "new", b"current").await.unwrap();
    }
    let mut expected = old_slots.clone();
    expected.sort();

    // One page with everything.
    let all = s.secrets_not_under("new", None, 100).await.unwrap();
    let got: Vec<SecretSlot> = all.iter().map(|r| r.slot.clone()).collect();
    assert_eq!(got, expected);
    assert!(all.iter().all(|r| r.key_id == "old"));
    assert!(
        all.iter()
            .all(|r| r.ciphertext == format!("{:?}", r.slot).into_bytes())
    );

    // Pages of 3 following the cursor visit each slot exactly once.
    let mut paged = Vec::new();
    let mut cursor: Option<SecretSlot> = None;
    let mut pages = 0;
    loop {
        let page = s
            .secrets_not_under("new", cursor.as_ref(), 3)
            .await
            .unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        pages += 1;
        cursor = Some(page.last().unwrap().slot.clone());
        paged.extend(page.into_iter().map(|r| r.slot));
    }
    assert_eq!(paged, expected);
    assert_eq!(pages, 3);

    // The cursor is strict, and need not exist.
    let after_first = s
        .secrets_not_under("new", Some(&expected[0]), 100)
        .await
        .unwrap();
    assert_eq!(after_first.len(), expected.len() - 1);
    assert_eq!(after_first[0].slot, expected[1]);
    let after_gap = s
        .secrets_not_under("new", Some(&slot("b", "", "")), 100)
        .await
        .unwrap();
    assert_eq!(
        after_gap.iter().map(|r| r.slot.clone()).collect::<Vec<_>>(),
        expected
            .iter()
            .filter(|sl| **sl > slot("b", "", ""))
            .cloned()
            .collect::<Vec<_>>()
    );
    let after_last = s
        .secrets_not_under("new", Some(expected.last().unwrap()), 100)
        .await
        .unwrap();
    assert!(after_last.is_empty());

    // A limit of zero returns nothing.
    assert!(
        s.secrets_not_under("new", None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    // Under a key nothing uses, everything is returned.
    assert_eq!(
        s.secrets_not_under("none", None, 100).await.unwrap().len(),
        old_slots.len() + 2
    );
}

/// Compare-and-swap: only the expected version is replaced, once; a missing slot is
/// never created.
pub async fn replace_secret_if_only_at_the_expected_version(s: Arc<dyn Store>) {
    let sl = slot("connections", "c1", "access_token");
    s.put_secret(&sl, "old", b"v1").await.unwrap();

    // Wrong versions change nothing.
    for v in [0, 2, -1, 100] {
        assert!(!s.replace_secret_if(&sl, v, "new", b"bad").await.unwrap());
    }
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!((got.key_id.as_str(), got.version), ("old", 1));
    assert_eq!(got.ciphertext, b"v1");

    // The expected version succeeds and bumps the version.
    assert!(
        s.replace_secret_if(&sl, 1, "new", b"v1-resealed")
            .await
            .unwrap()
    );
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!((got.key_id.as_str(), got.version), ("new", 2));
    assert_eq!(got.ciphertext, b"v1-resealed");
    // The same expected version does not succeed twice.
    assert!(!s.replace_secret_if(&sl, 1, "new", b"again").await.unwrap());
    // A missing slot is never replaced (and not created).
    let missing = slot("connections", "c9", "access_token");
    assert!(!s.replace_secret_if(&missing, 1, "new", b"x").await.unwrap());
    assert!(s.get_secret(&missing).await.unwrap().is_none());
}

/// The rotation race: rotation reads version 1, the app writes a fresh token, then
/// rotation tries to write back the resealed old token and is refused.
pub async fn replace_secret_if_does_not_overwrite_a_concurrent_write(s: Arc<dyn Store>) {
    let sl = slot("connections", "c1", "access_token");
    s.put_secret(&sl, "old", b"stale").await.unwrap();
    let read = s.secrets_not_under("new", None, 10).await.unwrap();
    assert_eq!(read[0].version, 1);
    assert_eq!(s.put_secret(&sl, "new", b"fresh").await.unwrap(), 2);
    assert!(
        !s.replace_secret_if(&sl, read[0].version, "new", b"stale-resealed")
            .await
            .unwrap()
    );
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!(got.ciphertext, b"fresh");
    assert_eq!(got.version, 2);
}

/// Inserting into an empty slot writes version 1; a second insert writes nothing and
/// leaves the first value.
pub async fn insert_secret_if_absent_writes_once(s: Arc<dyn Store>) {
    let sl = slot("integrations", "asana-main", "webhook_secret");
    assert!(
        s.insert_secret_if_absent(&sl, "k1", b"first")
            .await
            .unwrap()
    );
    assert!(
        !s.insert_secret_if_absent(&sl, "k2", b"second")
            .await
            .unwrap()
    );
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!(
        (got.key_id.as_str(), got.ciphertext.as_slice(), got.version),
        ("k1", b"first".as_slice(), 1)
    );
    // A slot written by put_secret is not empty either.
    let other = slot("integrations", "asana-2", "webhook_secret");
    s.put_secret(&other, "k1", b"put").await.unwrap();
    assert!(!s.insert_secret_if_absent(&other, "k1", b"x").await.unwrap());
    assert_eq!(
        s.get_secret(&other).await.unwrap().unwrap().ciphertext,
        b"put"
    );
    // Once deleted, the slot takes an insert again.
    assert!(s.delete_secret(&sl).await.unwrap());
    assert!(
        s.insert_secret_if_absent(&sl, "k3", b"third")
            .await
            .unwrap()
    );
}

/// Of many concurrent inserts into one empty slot exactly one wins, and its value stays.
pub async fn concurrent_insert_secret_if_absent_has_one_winner(s: Arc<dyn Store>) {
    let sl = slot("integrations", "race", "webhook_secret");
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let (s, sl) = (s.clone(), sl.clone());
        tasks.push(tokio::spawn(async move {
            let won = s.insert_secret_if_absent(&sl, "k", &[i]).await.unwrap();
            (i, won)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, won) = t.await.unwrap();
        if won {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let got = s.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!(got.ciphertext, vec![winners[0]]);
}
