//! [`AuditStore`](store::AuditStore): the hash chain, its listings, and appends that race.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;
use store::{AuditCheckpoint, AuditRecord, GENESIS_HASH, Store, chain_hash};

use crate::fixtures::{all_audit, assert_valid_chain, at, entry};

/// Each append chains to the head; what is returned is what is stored.
pub async fn append_builds_a_chain(s: Arc<dyn Store>) {
    assert_eq!(s.audit_head().await.unwrap(), None);
    assert!(all_audit(&*s).await.is_empty());

    let e1 = entry("cli:root", "api_key.create", "k1");
    let r1 = s.append_audit(&e1).await.unwrap();
    assert_eq!(r1.seq, 1);
    assert_eq!(r1.prev_hash, GENESIS_HASH);
    assert_eq!(r1.hash, chain_hash(GENESIS_HASH, 1, &e1));
    assert_eq!(r1.entry, e1);
    assert_eq!(s.audit_head().await.unwrap(), Some((1, r1.hash.clone())));

    let mut e2 = entry("api-key:k1", "connection.create", "c1");
    e2.details = json!({"provider": "github", "scopes": ["repo", "user"], "n": 2});
    let r2 = s.append_audit(&e2).await.unwrap();
    assert_eq!(r2.seq, 2);
    assert_eq!(r2.prev_hash, r1.hash);
    assert_eq!(r2.hash, chain_hash(&r1.hash, 2, &e2));
    assert_eq!(s.audit_head().await.unwrap(), Some((2, r2.hash.clone())));

    let e3 = entry("system", "config.reload", "");
    let r3 = s.append_audit(&e3).await.unwrap();
    assert_eq!(r3.seq, 3);
    assert_eq!(r3.prev_hash, r2.hash);
    assert_eq!(s.audit_head().await.unwrap(), Some((3, r3.hash.clone())));

    // What was returned is what is stored.
    let stored = all_audit(&*s).await;
    assert_eq!(stored, vec![r1, r2, r3]);
    assert_valid_chain(&stored);
}

/// The same entry twice gets two different hashes (the sequence number is hashed).
pub async fn identical_entries_get_distinct_hashes(s: Arc<dyn Store>) {
    let e = entry("system", "tick", "");
    let a = s.append_audit(&e).await.unwrap();
    let b = s.append_audit(&e).await.unwrap();
    assert_ne!(a.hash, b.hash);
    assert_valid_chain(&all_audit(&*s).await);
}

/// Details come back as given (key order, nesting, big integers), so the hash verifies.
pub async fn details_round_trip_including_key_order_and_nesting(s: Arc<dyn Store>) {
    let mut e = entry("system", "x", "t");
    e.details = json!({
        "z": 1,
        "a": {"y": [1, 2.5, null, true], "b": "ünïcødé \"quoted\""},
        "m": {},
        "big": 9_007_199_254_740_993_i64
    });
    let r = s.append_audit(&e).await.unwrap();
    let back = all_audit(&*s).await;
    assert_eq!(back[0].entry.details, e.details);
    assert_eq!(back[0], r);
    // Recomputing the hash from what was read back gives the stored hash.
    assert_eq!(chain_hash(&back[0].prev_hash, 1, &back[0].entry), r.hash);
}

/// Both listings page with strict cursors and limits.
pub async fn lists_with_cursors(s: Arc<dyn Store>) {
    let mut appended = Vec::new();
    for i in 1..=7 {
        appended.push(
            s.append_audit(&entry("system", "a", &i.to_string()))
                .await
                .unwrap(),
        );
    }
    let seqs = |v: Vec<AuditRecord>| v.into_iter().map(|r| r.seq).collect::<Vec<_>>();

    assert_eq!(
        seqs(s.list_audit_desc(None, 100).await.unwrap()),
        [7, 6, 5, 4, 3, 2, 1]
    );
    assert_eq!(seqs(s.list_audit_desc(None, 3).await.unwrap()), [7, 6, 5]);
    assert_eq!(
        seqs(s.list_audit_desc(Some(5), 3).await.unwrap()),
        [4, 3, 2]
    );
    assert_eq!(seqs(s.list_audit_desc(Some(2), 3).await.unwrap()), [1]);
    assert!(s.list_audit_desc(Some(1), 3).await.unwrap().is_empty());
    assert!(s.list_audit_desc(None, 0).await.unwrap().is_empty());
    assert_eq!(seqs(s.list_audit_desc(Some(100), 2).await.unwrap()), [7, 6]);

    assert_eq!(seqs(s.list_audit_asc(0, 3).await.unwrap()), [1, 2, 3]);
    assert_eq!(seqs(s.list_audit_asc(3, 3).await.unwrap()), [4, 5, 6]);
    assert_eq!(seqs(s.list_audit_asc(6, 3).await.unwrap()), [7]);
    assert!(s.list_audit_asc(7, 3).await.unwrap().is_empty());
    assert!(s.list_audit_asc(0, 0).await.unwrap().is_empty());
    assert_eq!(seqs(s.list_audit_asc(-5, 2).await.unwrap()), [1, 2]);

    // Paging desc with the cursor walks everything once, newest first.
    let mut walked = Vec::new();
    let mut before = None;
    loop {
        let page = s.list_audit_desc(before, 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = Some(page.last().unwrap().seq);
        walked.extend(page);
    }
    appended.reverse();
    assert_eq!(walked, appended);
}

/// Appends from `stores` (four tasks, 25 each) and checks the result is one gap-free
/// chain holding each append once, as returned, each task's in its order.
async fn appends_form_one_chain(stores: [Arc<dyn Store>; 2]) {
    let mut tasks = Vec::new();
    for (name, store) in [("a", &stores[0]), ("b", &stores[1])] {
        for t in 0..2 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for i in 0..25 {
                    let e = entry(&format!("{name}{t}"), "test.append", &i.to_string());
                    out.push(store.append_audit(&e).await.unwrap());
                }
                out
            }));
        }
    }
    let mut returned = Vec::new();
    for t in tasks {
        returned.extend(t.await.unwrap());
    }
    assert_eq!(returned.len(), 100);

    let stored = all_audit(&*stores[0]).await;
    assert_eq!(stored.len(), 100);
    assert_valid_chain(&stored);
    assert_eq!(stored.last().unwrap().seq, 100);
    assert_eq!(
        stores[0].audit_head().await.unwrap(),
        Some((100, stored[99].hash.clone()))
    );
    assert_eq!(
        stores[1].audit_head().await.unwrap(),
        stores[0].audit_head().await.unwrap()
    );

    // Every append is stored exactly once, as it was returned.
    returned.sort_by_key(|r| r.seq);
    assert_eq!(returned, stored);
    let distinct: BTreeSet<(String, String)> = stored
        .iter()
        .map(|r| (r.entry.actor.clone(), r.entry.target.clone()))
        .collect();
    assert_eq!(distinct.len(), 100);
    // Each task's own appends are in its order.
    for actor in ["a0", "a1", "b0", "b1"] {
        let targets: Vec<i64> = stored
            .iter()
            .filter(|r| r.entry.actor == actor)
            .map(|r| r.entry.target.parse().unwrap())
            .collect();
        assert_eq!(targets, (0..25).collect::<Vec<_>>(), "{actor}");
    }
}

/// Concurrent appends on one handle serialise into one gap-free chain.
pub async fn concurrent_appends_form_one_gap_free_chain(s: Arc<dyn Store>) {
    appends_form_one_chain([s.clone(), s]).await;
}

/// Concurrent appends from two handles (two processes) serialise into one gap-free
/// chain.
pub async fn concurrent_appends_from_two_handles_form_one_gap_free_chain(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    appends_form_one_chain([a, b]).await;
}

/// The verification checkpoint: none at first; a walk's is written whatever is there; a
/// check from the checkpoint moves it only if it still ends where that check started
/// (so a concurrent clear, after a broken chain was found, wins); cleared, it is gone.
/// Times keep their milliseconds.
pub async fn checkpoint_moves_only_from_where_a_check_started_and_clears(s: Arc<dyn Store>) {
    assert_eq!(s.audit_checkpoint().await.unwrap(), None);
    let cp = |seq: i64, full_seq: i64, t: i64| AuditCheckpoint {
        seq,
        hash: format!("{seq:064x}"),
        full_seq,
        full_at: at(t),
        checked_at: at(t + 7),
    };
    // A check from a checkpoint that is not there writes nothing.
    assert!(
        !s.save_audit_checkpoint(&cp(3, 1, 0), Some(1))
            .await
            .unwrap()
    );
    assert_eq!(s.audit_checkpoint().await.unwrap(), None);
    // A walk writes.
    assert!(
        s.save_audit_checkpoint(&cp(5, 5, 1_001), None)
            .await
            .unwrap()
    );
    assert_eq!(s.audit_checkpoint().await.unwrap(), Some(cp(5, 5, 1_001)));
    // A check that started at 5 moves it on; one that started at 4 does not.
    assert!(
        s.save_audit_checkpoint(&cp(9, 5, 1_001), Some(5))
            .await
            .unwrap()
    );
    assert!(
        !s.save_audit_checkpoint(&cp(12, 5, 1_001), Some(4))
            .await
            .unwrap()
    );
    assert!(
        !s.save_audit_checkpoint(&cp(12, 5, 1_001), Some(5))
            .await
            .unwrap()
    );
    assert_eq!(s.audit_checkpoint().await.unwrap(), Some(cp(9, 5, 1_001)));
    // A walk replaces it whatever it was, even with an earlier row (it ended earlier).
    assert!(
        s.save_audit_checkpoint(&cp(8, 8, 2_002), None)
            .await
            .unwrap()
    );
    assert_eq!(s.audit_checkpoint().await.unwrap(), Some(cp(8, 8, 2_002)));
    // Cleared: gone, and a check from where it was writes nothing.
    s.clear_audit_checkpoint().await.unwrap();
    s.clear_audit_checkpoint().await.unwrap();
    assert_eq!(s.audit_checkpoint().await.unwrap(), None);
    assert!(
        !s.save_audit_checkpoint(&cp(10, 8, 2_002), Some(8))
            .await
            .unwrap()
    );
    assert_eq!(s.audit_checkpoint().await.unwrap(), None);
}
