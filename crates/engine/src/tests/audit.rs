//! The audit log: appending, paging, and verifying the hash chain.

use std::sync::{Arc, Mutex};

use store::{AuditStore, GENESIS_HASH, chain_hash};

use super::{FORGED_HASH, TamperStore, engine_on, key, memory_store, ring, setup};
use crate::audit::{Break, Verification};
use crate::{Actor, Engine, EngineError};

/// Appends `n` rows with distinct targets.
async fn fill(engine: &Engine, n: usize) {
    for i in 0..n {
        engine
            .audit(
                &Actor::System,
                "test.row",
                &format!("t{i}"),
                serde_json::json!({ "i": i, "z": "last", "a": "first" }),
            )
            .await
            .unwrap();
    }
}

/// An engine over a tamperable store holding `n` rows.
async fn tamperable(n: usize) -> (Engine, Arc<TamperStore>) {
    let sqlite = memory_store().await;
    let t = TamperStore::new(sqlite);
    let engine = engine_on(t.clone(), ring(&key(), &[]));
    fill(&engine, n).await;
    (engine, t)
}

async fn verify(engine: &Engine) -> Verification {
    engine.verify_audit(&|_| {}).await.unwrap()
}

fn broken(v: &Verification) -> (i64, Break) {
    assert!(!v.ok, "{v:?}");
    (v.first_bad_seq.unwrap(), v.problem.clone().unwrap())
}

#[tokio::test]
async fn audit_appends_a_chained_row() {
    let (engine, store) = setup().await;
    let actor = Actor::Cli { user: "bob".into() };
    let r1 = engine
        .audit(
            &actor,
            "thing.do",
            "target-1",
            serde_json::json!({ "n": 1 }),
        )
        .await
        .unwrap();
    let r2 = engine
        .audit(&Actor::System, "thing.undo", "", serde_json::json!({}))
        .await
        .unwrap();
    assert_eq!((r1.seq, r2.seq), (1, 2));
    assert_eq!(r1.prev_hash, GENESIS_HASH);
    assert_eq!(r2.prev_hash, r1.hash);
    assert_eq!(r1.hash, chain_hash(GENESIS_HASH, 1, &r1.entry));
    assert_eq!(r1.entry.actor, "cli:bob");
    assert_eq!(r1.entry.action, "thing.do");
    assert_eq!(r1.entry.target, "target-1");
    assert_eq!(r1.entry.details, serde_json::json!({ "n": 1 }));
    assert_eq!(
        r1.entry.at.timestamp_subsec_nanos() % 1_000_000,
        0,
        "ms precision"
    );
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((2, r2.hash.clone()))
    );
    // What was returned is what is stored.
    let stored = store.list_audit_asc(0, 10).await.unwrap();
    assert_eq!(stored, vec![r1, r2]);
}

#[tokio::test]
async fn empty_log_lists_nothing_and_verifies() {
    let (engine, _) = setup().await;
    let page = engine.list_audit(None, 50).await.unwrap();
    assert!(page.data.is_empty());
    assert_eq!(page.next_cursor, None);
    let v = verify(&engine).await;
    assert_eq!(
        v,
        Verification {
            rows_checked: 0,
            ok: true,
            first_bad_seq: None,
            problem: None
        }
    );
}

#[tokio::test]
async fn list_audit_pages_newest_first_with_cursors() {
    let (engine, _) = setup().await;
    fill(&engine, 25).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = engine.list_audit(cursor.as_deref(), 10).await.unwrap();
        pages += 1;
        seen.extend(page.data.iter().map(|r| r.seq));
        match page.next_cursor {
            Some(c) => {
                assert_eq!(page.data.len(), 10);
                assert_eq!(c, page.data.last().unwrap().seq.to_string());
                cursor = Some(c);
            }
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (1..=25).rev().collect::<Vec<i64>>());
}

#[tokio::test]
async fn list_audit_ends_without_a_cursor_on_an_exact_multiple() {
    let (engine, _) = setup().await;
    fill(&engine, 20).await;
    let p1 = engine.list_audit(None, 10).await.unwrap();
    assert_eq!(p1.next_cursor.as_deref(), Some("11"));
    let p2 = engine.list_audit(Some("11"), 10).await.unwrap();
    assert_eq!(p2.data.len(), 10);
    assert_eq!(p2.data.last().unwrap().seq, 1);
    assert_eq!(p2.next_cursor, None, "the last page has no cursor");
    // A cursor at the oldest row gives an empty page.
    let p3 = engine.list_audit(Some("1"), 10).await.unwrap();
    assert!(p3.data.is_empty());
    assert_eq!(p3.next_cursor, None);
    // A cursor beyond the newest row starts at the newest.
    let p = engine.list_audit(Some("999"), 3).await.unwrap();
    let seqs: Vec<i64> = p.data.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [20, 19, 18]);
}

#[tokio::test]
async fn list_audit_clamps_the_limit() {
    let (engine, _) = setup().await;
    fill(&engine, 505).await;
    let p = engine.list_audit(None, 0).await.unwrap();
    assert_eq!(p.data.len(), 1, "0 means 1");
    assert_eq!(p.next_cursor.as_deref(), Some("505"));
    let p = engine.list_audit(None, 100_000).await.unwrap();
    assert_eq!(p.data.len(), 500, "at most 500");
    assert_eq!(p.next_cursor.as_deref(), Some("6"));
    let p = engine.list_audit(Some("6"), 100_000).await.unwrap();
    assert_eq!(p.data.len(), 5);
    assert_eq!(p.next_cursor, None);
}

#[tokio::test]
async fn bad_cursors_are_invalid() {
    let (engine, _) = setup().await;
    fill(&engine, 3).await;
    for bad in ["", "abc", "0", "-1", "1.5", " 2", "9223372036854775808"] {
        match engine.list_audit(Some(bad), 10).await {
            Err(EngineError::Invalid { field, message }) => {
                assert_eq!(field, "cursor", "{bad:?}");
                assert!(message.contains("previous page"), "{message}");
            }
            other => panic!("{bad:?}: expected Invalid, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn verify_an_intact_chain_across_pages() {
    let (engine, _) = setup().await;
    fill(&engine, 2500).await;
    let calls = Mutex::new(Vec::new());
    let v = engine
        .verify_audit(&|n| calls.lock().unwrap().push(n))
        .await
        .unwrap();
    assert_eq!(
        v,
        Verification {
            rows_checked: 2500,
            ok: true,
            first_bad_seq: None,
            problem: None
        }
    );
    assert_eq!(*calls.lock().unwrap(), vec![1000, 2000, 2500]);
}

#[tokio::test]
async fn tampering_is_found_across_pages() {
    let (engine, t) = tamperable(2500).await;
    assert!(verify(&engine).await.ok);

    t.set(|t| {
        t.edited.insert(1500);
    });
    let v = verify(&engine).await;
    assert_eq!(broken(&v), (1500, Break::HashMismatch));
    assert_eq!(v.rows_checked, 1500);

    t.reset();
    t.set(|t| {
        t.deleted.insert(1000);
    });
    let v = verify(&engine).await;
    assert_eq!(broken(&v), (1001, Break::Gap { expected: 1000 }));

    t.reset();
    t.set(|t| {
        t.deleted.extend([2499, 2500]);
    });
    let v = verify(&engine).await;
    assert_eq!(broken(&v), (2499, Break::Truncated { head_seq: 2500 }));
    assert_eq!(v.rows_checked, 2498);

    t.reset();
    t.set(|t| {
        t.prev_hash_edited.insert(2001);
    });
    assert_eq!(
        broken(&verify(&engine).await),
        (2001, Break::PrevHashMismatch)
    );

    t.reset();
    assert!(verify(&engine).await.ok, "untampered again");
}

#[tokio::test]
async fn an_edited_row_is_a_hash_mismatch_naming_its_seq() {
    let (engine, t) = tamperable(30).await;
    t.set(|t| {
        t.edited.insert(17);
    });
    let v = verify(&engine).await;
    assert_eq!(broken(&v), (17, Break::HashMismatch));
    assert_eq!(v.rows_checked, 17);
    // The first row and the last row too.
    t.reset();
    t.set(|t| {
        t.edited.insert(1);
    });
    assert_eq!(broken(&verify(&engine).await), (1, Break::HashMismatch));
    t.reset();
    t.set(|t| {
        t.edited.insert(30);
    });
    assert_eq!(broken(&verify(&engine).await), (30, Break::HashMismatch));
}

#[tokio::test]
async fn an_edited_and_rehashed_row_breaks_the_next_link() {
    let (engine, t) = tamperable(30).await;
    t.set(|t| {
        t.edited_rehashed.insert(12);
    });
    assert_eq!(
        broken(&verify(&engine).await),
        (13, Break::PrevHashMismatch)
    );
    // Rehashing the newest row leaves no next link, but the head disagrees.
    t.reset();
    t.set(|t| {
        t.edited_rehashed.insert(30);
    });
    assert_eq!(broken(&verify(&engine).await), (30, Break::HeadMismatch));
}

#[tokio::test]
async fn a_deleted_middle_row_is_a_gap() {
    let (engine, t) = tamperable(30).await;
    t.set(|t| {
        t.deleted.insert(10);
    });
    let v = verify(&engine).await;
    assert_eq!(broken(&v), (11, Break::Gap { expected: 10 }));
    // Deleting the very first row is a gap at the start.
    t.reset();
    t.set(|t| {
        t.deleted.insert(1);
    });
    assert_eq!(
        broken(&verify(&engine).await),
        (2, Break::Gap { expected: 1 })
    );
}

#[tokio::test]
async fn deleted_newest_rows_are_truncation() {
    let (engine, t) = tamperable(30).await;
    t.set(|t| {
        t.deleted.extend([28, 29, 30]);
    });
    let v = verify(&engine).await;
    assert_eq!(broken(&v), (28, Break::Truncated { head_seq: 30 }));
    assert_eq!(v.rows_checked, 27);
    // Every row deleted, the head still there.
    t.reset();
    t.set(|t| {
        t.deleted.extend(1..=30);
    });
    let v = verify(&engine).await;
    assert_eq!(broken(&v), (1, Break::Truncated { head_seq: 30 }));
    assert_eq!(v.rows_checked, 0);
}

#[tokio::test]
async fn an_edited_prev_hash_is_found() {
    let (engine, t) = tamperable(30).await;
    t.set(|t| {
        t.prev_hash_edited.insert(5);
    });
    assert_eq!(broken(&verify(&engine).await), (5, Break::PrevHashMismatch));
    t.reset();
    t.set(|t| {
        t.prev_hash_edited.insert(1);
    });
    assert_eq!(broken(&verify(&engine).await), (1, Break::PrevHashMismatch));
}

#[tokio::test]
async fn a_head_mismatch_is_found() {
    let (engine, t) = tamperable(30).await;
    t.set(|t| t.head = Some(Some((30, FORGED_HASH.to_owned()))));
    let v = verify(&engine).await;
    assert_eq!(broken(&v), (30, Break::HeadMismatch));
    assert_eq!(v.rows_checked, 30);
    // Rows without any head: the head itself was removed.
    t.reset();
    t.set(|t| t.head = Some(None));
    assert_eq!(broken(&verify(&engine).await), (30, Break::HeadMismatch));
    // A head pointing past the rows is truncation.
    t.reset();
    t.set(|t| t.head = Some(Some((31, FORGED_HASH.to_owned()))));
    assert_eq!(
        broken(&verify(&engine).await),
        (31, Break::Truncated { head_seq: 31 })
    );
}

/// A recorded head behind the last row (rolled back, or rows appended without moving
/// it) is never legitimate: appends move the head in the same transaction. The check
/// only compares the head when its seq equals the last row's, so this passes as ok.
#[tokio::test]
async fn a_head_behind_the_last_row_is_found() {
    let (engine, t) = tamperable(30).await;
    let rows = t.inner.list_audit_asc(0, 100).await.unwrap();
    let h20 = rows[19].hash.clone();
    t.set(|t| t.head = Some(Some((20, h20))));
    let v = verify(&engine).await;
    assert!(!v.ok, "{v:?}");
}

#[tokio::test]
async fn verification_serialises_for_the_api() {
    let v = Verification {
        rows_checked: 3,
        ok: false,
        first_bad_seq: Some(2),
        problem: Some(Break::Gap { expected: 1 }),
    };
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({
            "rows_checked": 3, "ok": false, "first_bad_seq": 2,
            "problem": { "gap": { "expected": 1 } }
        })
    );
    assert_eq!(
        serde_json::to_value(Break::HashMismatch).unwrap(),
        serde_json::json!("hash_mismatch")
    );
    assert_eq!(
        serde_json::to_value(Break::Truncated { head_seq: 9 }).unwrap(),
        serde_json::json!({ "truncated": { "head_seq": 9 } })
    );
    let (engine, _) = setup().await;
    fill(&engine, 2).await;
    let page = engine.list_audit(None, 1).await.unwrap();
    let json = serde_json::to_value(&page).unwrap();
    assert_eq!(json["next_cursor"], serde_json::json!("2"));
    assert_eq!(json["data"][0]["seq"], serde_json::json!(2));
    assert_eq!(json["data"][0]["action"], serde_json::json!("test.row"));
}

#[tokio::test]
async fn the_chain_stays_valid_with_two_engines_on_one_store() {
    let sqlite = memory_store().await;
    let a = engine_on(Arc::new(sqlite.clone()), ring(&key(), &[]));
    let b = engine_on(Arc::new(sqlite.clone()), ring(&key(), &[]));
    for i in 0..10 {
        let e = if i % 2 == 0 { &a } else { &b };
        e.audit(&Actor::System, "x", "", serde_json::json!({}))
            .await
            .unwrap();
    }
    let v = verify(&a).await;
    assert!(v.ok && v.rows_checked == 10, "{v:?}");
}

#[tokio::test]
async fn audit_status_reads_only_the_rows_added_since_its_checkpoint() {
    let (engine, store) = tamperable(5).await;
    // No checkpoint yet: the whole chain is walked, and the walk is recorded.
    let first = engine.audit_status().await.unwrap();
    assert!(first.whole_chain && first.verification.ok, "{first:?}");
    assert_eq!((first.verification.rows_checked, first.through_seq), (5, 5));
    let cp = first.checkpoint.clone().unwrap();
    assert_eq!((cp.seq, cp.full_seq), (5, 5));
    assert_eq!(store.audit_checkpoint().await.unwrap(), Some(cp.clone()));

    fill(&engine, 3).await;
    let next = engine.audit_status().await.unwrap();
    assert!(!next.whole_chain && next.verification.ok, "{next:?}");
    // The checkpoint's row again, then the three new ones.
    assert_eq!((next.verification.rows_checked, next.through_seq), (4, 8));
    let moved = next.checkpoint.clone().unwrap();
    assert_eq!(
        (moved.seq, moved.full_seq, moved.full_at),
        (8, 5, cp.full_at)
    );
    assert_eq!(moved.hash, store.audit_head().await.unwrap().unwrap().1);
    assert_eq!(store.audit_checkpoint().await.unwrap(), Some(moved.clone()));

    // Nothing new: one row read, nothing written.
    let idle = engine.audit_status().await.unwrap();
    assert_eq!((idle.verification.rows_checked, idle.through_seq), (1, 8));
    assert_eq!(idle.checkpoint, Some(moved));

    // A walk of the whole chain moves the full mark.
    assert!(verify(&engine).await.ok);
    let cp = store.audit_checkpoint().await.unwrap().unwrap();
    assert_eq!((cp.seq, cp.full_seq), (8, 8));
}

#[tokio::test]
async fn audit_status_finds_its_checkpoint_row_or_a_new_row_changed_and_then_walks_it_all() {
    let (engine, t) = tamperable(4).await;
    assert!(engine.audit_status().await.unwrap().verification.ok);
    // The checkpoint's row edited and re-hashed: its hash is not the one verified.
    t.tamper.lock().unwrap().edited_rehashed.insert(4);
    let s = engine.audit_status().await.unwrap();
    assert!(!s.whole_chain);
    assert_eq!(broken(&s.verification), (4, Break::HashMismatch));
    assert_eq!(s.checkpoint, None);
    assert_eq!(t.audit_checkpoint().await.unwrap(), None, "forgotten");
    // With no checkpoint, the next check walks everything and finds it again.
    let again = engine.audit_status().await.unwrap();
    assert!(again.whole_chain);
    assert_eq!(broken(&again.verification).0, 4);
    t.tamper.lock().unwrap().edited_rehashed.clear();

    // A row added after the checkpoint and edited is found by the check from it.
    assert!(engine.audit_status().await.unwrap().verification.ok);
    fill(&engine, 2).await;
    t.tamper.lock().unwrap().edited.insert(6);
    let s = engine.audit_status().await.unwrap();
    assert_eq!(broken(&s.verification), (6, Break::HashMismatch));
    assert_eq!(t.audit_checkpoint().await.unwrap(), None);
}

#[tokio::test]
async fn a_break_before_the_checkpoint_is_found_by_a_whole_walk_and_no_check_says_intact_after() {
    let (engine, t) = tamperable(6).await;
    let s = engine.audit_status().await.unwrap();
    assert!(s.verification.ok);
    let full_at = s.checkpoint.unwrap().full_at;
    // Row 2 edited after the walk: a check from the checkpoint does not read it, and
    // says so: the rows before the checkpoint were verified at the walk's time.
    t.tamper.lock().unwrap().edited.insert(2);
    let s = engine.audit_status().await.unwrap();
    assert!(s.verification.ok && !s.whole_chain);
    assert_eq!(s.verification.rows_checked, 1);
    assert_eq!(s.checkpoint.unwrap().full_at, full_at);
    // The whole walk finds it and forgets the checkpoint ...
    assert_eq!(broken(&verify(&engine).await), (2, Break::HashMismatch));
    assert_eq!(t.audit_checkpoint().await.unwrap(), None);
    // ... so every later check walks the whole chain and reports it.
    for _ in 0..2 {
        let s = engine.audit_status().await.unwrap();
        assert!(s.whole_chain);
        assert_eq!(broken(&s.verification), (2, Break::HashMismatch));
    }
    // The security self-audit's walk records nothing.
    t.tamper.lock().unwrap().edited.clear();
    assert!(engine.check_audit_chain(&|_| {}).await.unwrap().ok);
    assert_eq!(t.audit_checkpoint().await.unwrap(), None);
}
