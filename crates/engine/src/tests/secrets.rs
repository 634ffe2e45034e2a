//! Sealed secrets and master-key rotation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::{SecretSlot, SecretStore, Store};
use vault::{Aad, ExposeSecret, MasterKey, SecretString, VaultError};

use super::{TamperStore, TempDb, all_audit, engine_on, key, memory_store, ring, setup};
use crate::secrets::RotationProgress;
use crate::{Actor, Engine, EngineError};

fn s(v: &str) -> SecretString {
    SecretString::from(v.to_owned())
}

fn slot(i: usize) -> SecretSlot {
    SecretSlot::new("connections", format!("conn-{i:04}"), "access_token")
}

fn value(i: usize) -> String {
    format!("token-value-{i:04}")
}

fn id_of(k: &MasterKey) -> String {
    k.id().to_string()
}

/// Stores `n` secrets (slots 0..n) sealed by `engine`.
async fn seed(engine: &Engine, n: usize) {
    for i in 0..n {
        engine.put_secret(&slot(i), &s(&value(i))).await.unwrap();
    }
}

/// Every one of the `n` secrets opens with `engine` and has its original value.
async fn assert_all_open(engine: &Engine, n: usize) {
    for i in 0..n {
        let got = engine
            .get_secret(&slot(i))
            .await
            .unwrap_or_else(|e| panic!("secret {i} does not open: {e}"))
            .unwrap_or_else(|| panic!("secret {i} is gone"));
        assert_eq!(got.expose_secret(), value(i), "secret {i}");
    }
}

fn no_progress(_: RotationProgress) {}

#[tokio::test]
async fn put_and_get_round_trip() {
    let (engine, store) = setup().await;
    let sl = SecretSlot::new("connections", "c1", "refresh_token");
    assert!(engine.get_secret(&sl).await.unwrap().is_none());
    engine.put_secret(&sl, &s("first")).await.unwrap();
    assert_eq!(
        engine
            .get_secret(&sl)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "first"
    );
    engine.put_secret(&sl, &s("second ✓")).await.unwrap();
    assert_eq!(
        engine
            .get_secret(&sl)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "second ✓"
    );
    let stored = store.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.key_id, engine.keyring().primary().id().to_string());
    // The store holds ciphertext only.
    let ct = String::from_utf8_lossy(&stored.ciphertext);
    assert!(!ct.contains("second"), "plaintext in the store");
    // Slots are independent.
    let other = SecretSlot::new("connections", "c2", "refresh_token");
    assert!(engine.get_secret(&other).await.unwrap().is_none());
}

#[tokio::test]
async fn a_ciphertext_copied_to_another_slot_does_not_open() {
    let (engine, store) = setup().await;
    let from = SecretSlot::new("connections", "c1", "access_token");
    engine.put_secret(&from, &s("secret-of-c1")).await.unwrap();
    let sealed = store.get_secret(&from).await.unwrap().unwrap();
    for to in [
        SecretSlot::new("connections", "c2", "access_token"),
        SecretSlot::new("connections", "c1", "refresh_token"),
        SecretSlot::new("integrations", "c1", "access_token"),
    ] {
        store
            .put_secret(&to, &sealed.key_id, &sealed.ciphertext)
            .await
            .unwrap();
        match engine.get_secret(&to).await {
            Err(EngineError::Vault(VaultError::Authentication { table, column, row })) => {
                assert_eq!((table, column, row), (to.owner, to.name, to.owner_id));
            }
            other => panic!("expected an authentication failure, got {other:?}"),
        }
    }
    // The original still opens.
    assert_eq!(
        engine
            .get_secret(&from)
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "secret-of-c1"
    );
}

#[tokio::test]
async fn an_altered_ciphertext_does_not_open() {
    let (engine, store) = setup().await;
    let sl = slot(1);
    engine.put_secret(&sl, &s("v")).await.unwrap();
    let sealed = store.get_secret(&sl).await.unwrap().unwrap();
    let mut ct = sealed.ciphertext.clone();
    let last = ct.len() - 1;
    ct[last] ^= 1;
    store.put_secret(&sl, &sealed.key_id, &ct).await.unwrap();
    let err = engine.get_secret(&sl).await.unwrap_err();
    assert!(
        matches!(err, EngineError::Vault(VaultError::Authentication { .. })),
        "{err:?}"
    );
    assert_eq!(err.code(), "internal");
}

#[tokio::test]
async fn a_secret_under_an_unconfigured_key_does_not_open() {
    let sqlite = memory_store().await;
    let a = key();
    let engine_a = engine_on(Arc::new(sqlite.clone()), ring(&a, &[]));
    engine_a.put_secret(&slot(0), &s("x")).await.unwrap();
    let engine_b = engine_on(Arc::new(sqlite.clone()), ring(&key(), &[]));
    match engine_b.get_secret(&slot(0)).await {
        Err(EngineError::Vault(VaultError::UnknownKey(id))) => assert_eq!(id, a.id()),
        other => panic!("expected UnknownKey, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_secret_keys_lists_ids_not_in_the_ring() {
    let sqlite = memory_store().await;
    let (a, b, c) = (key(), key(), key());
    let ea = engine_on(Arc::new(sqlite.clone()), ring(&a, &[]));
    let eb = engine_on(Arc::new(sqlite.clone()), ring(&b, &[]));
    seed(&ea, 3).await;
    for i in 10..15 {
        eb.put_secret(&slot(i), &s("b")).await.unwrap();
    }
    let ec = engine_on(Arc::new(sqlite.clone()), ring(&c, &[]));
    let mut expected = vec![(id_of(&a), 3), (id_of(&b), 5)];
    expected.sort();
    assert_eq!(ec.unknown_secret_keys().await.unwrap(), expected);
    let ec_a = engine_on(Arc::new(sqlite.clone()), ring(&c, &[&a]));
    assert_eq!(
        ec_a.unknown_secret_keys().await.unwrap(),
        vec![(id_of(&b), 5)]
    );
    let all = engine_on(Arc::new(sqlite.clone()), ring(&b, &[&a]));
    assert!(all.unknown_secret_keys().await.unwrap().is_empty());
    // An empty store has none.
    let (fresh, _) = setup().await;
    assert!(fresh.unknown_secret_keys().await.unwrap().is_empty());
}

#[tokio::test]
async fn rotation_moves_every_secret_to_the_primary_key() {
    let sqlite = memory_store().await;
    let (a, b) = (key(), key());
    let ea = engine_on(Arc::new(sqlite.clone()), ring(&a, &[]));
    seed(&ea, 500).await;
    assert_eq!(
        sqlite.secret_key_ids().await.unwrap(),
        vec![(id_of(&a), 500)]
    );
    let audit_before = all_audit(&sqlite).await.len();

    let eb = engine_on(Arc::new(sqlite.clone()), ring(&b, &[&a]));
    let calls = Mutex::new(Vec::new());
    let actor = Actor::Cli { user: "ops".into() };
    let done = eb
        .rotate_keys(100, &actor, &|p| calls.lock().unwrap().push(p))
        .await
        .unwrap();
    assert_eq!(
        done,
        RotationProgress {
            total: 500,
            rewritten: 500,
            skipped: 0,
            ..RotationProgress::default()
        }
    );
    assert_eq!(
        sqlite.secret_key_ids().await.unwrap(),
        vec![(id_of(&b), 500)]
    );
    assert_eq!(sqlite.count_secrets_not_under(&id_of(&b)).await.unwrap(), 0);

    // Progress: once before the first batch, then after each batch.
    let calls = calls.into_inner().unwrap();
    let rewritten: Vec<u64> = calls.iter().map(|p| p.rewritten).collect();
    assert_eq!(rewritten, [0, 100, 200, 300, 400, 500]);
    assert!(calls.iter().all(|p| p.total == 500 && p.skipped == 0));

    // Every secret opens with the same plaintext, with B alone too.
    assert_all_open(&eb, 500).await;
    let b_only = engine_on(Arc::new(sqlite.clone()), ring(&b, &[]));
    assert_all_open(&b_only, 500).await;
    // ... and no longer with A alone.
    assert!(ea.get_secret(&slot(0)).await.is_err());

    // Start and finish are audited, naming the primary key and counts only.
    let rows = all_audit(&sqlite).await;
    assert_eq!(rows.len(), audit_before + 2);
    let start = &rows[audit_before];
    assert_eq!(start.entry.action, "keys.rotate.start");
    assert_eq!(start.entry.actor, "cli:ops");
    assert_eq!(start.entry.target, id_of(&b));
    assert_eq!(
        start.entry.details,
        serde_json::json!({ "pending": 500, "pending_oauth_states": 0 })
    );
    let finish = &rows[audit_before + 1];
    assert_eq!(finish.entry.action, "keys.rotate.finish");
    assert_eq!(finish.entry.target, id_of(&b));
    assert_eq!(
        finish.entry.details,
        serde_json::json!({
            "rewritten": 500,
            "skipped": 0,
            "remaining": 0,
            "oauth_states_rewritten": 0,
            "oauth_states_skipped": 0,
            "oauth_states_remaining": 0,
        })
    );
    assert!(eb.verify_audit(&|_| {}).await.unwrap().ok);
}

#[tokio::test]
async fn a_second_rotation_is_a_no_op() {
    let sqlite = memory_store().await;
    let (a, b) = (key(), key());
    seed(&engine_on(Arc::new(sqlite.clone()), ring(&a, &[])), 20).await;
    let eb = engine_on(Arc::new(sqlite.clone()), ring(&b, &[&a]));
    eb.rotate_keys(7, &Actor::System, &no_progress)
        .await
        .unwrap();
    let versions: Vec<i64> = {
        let mut v = Vec::new();
        for i in 0..20 {
            v.push(sqlite.get_secret(&slot(i)).await.unwrap().unwrap().version);
        }
        v
    };
    assert!(versions.iter().all(|v| *v == 2));

    let calls = Mutex::new(Vec::new());
    let again = eb
        .rotate_keys(7, &Actor::System, &|p| calls.lock().unwrap().push(p))
        .await
        .unwrap();
    let zero = RotationProgress {
        total: 0,
        rewritten: 0,
        skipped: 0,
        ..RotationProgress::default()
    };
    assert_eq!(again, zero);
    assert_eq!(calls.into_inner().unwrap(), vec![zero]);
    for (i, v) in versions.iter().enumerate() {
        let now = sqlite.get_secret(&slot(i)).await.unwrap().unwrap().version;
        assert_eq!(now, *v, "secret {i} was rewritten again");
    }
    // Rotation with nothing stored at all is a no-op too.
    let (fresh, _) = setup().await;
    assert_eq!(
        fresh
            .rotate_keys(10, &Actor::System, &no_progress)
            .await
            .unwrap(),
        zero
    );
}

#[tokio::test]
async fn batch_size_zero_is_treated_as_one() {
    let sqlite = memory_store().await;
    let (a, b) = (key(), key());
    seed(&engine_on(Arc::new(sqlite.clone()), ring(&a, &[])), 5).await;
    let eb = engine_on(Arc::new(sqlite.clone()), ring(&b, &[&a]));
    let calls = Mutex::new(0u32);
    let p = eb
        .rotate_keys(0, &Actor::System, &|_| *calls.lock().unwrap() += 1)
        .await
        .unwrap();
    assert_eq!(p.rewritten, 5);
    assert_eq!(*calls.lock().unwrap(), 1 + 5, "one batch per secret");
    assert_all_open(&eb, 5).await;
}

#[tokio::test]
async fn rotation_refuses_secrets_under_an_unconfigured_key() {
    let sqlite = memory_store().await;
    let (a, b) = (key(), key());
    seed(&engine_on(Arc::new(sqlite.clone()), ring(&a, &[])), 4).await;
    let audit_before = all_audit(&sqlite).await.len();
    // Ring B without A.
    let eb = engine_on(Arc::new(sqlite.clone()), ring(&b, &[]));
    match eb.rotate_keys(10, &Actor::System, &no_progress).await {
        Err(EngineError::Conflict(m)) => {
            assert!(m.contains(&id_of(&a)), "{m}");
            assert!(m.contains("4 sealed values"), "{m}");
            assert!(m.contains("old_master_keys"), "{m}");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    // Nothing was touched or audited.
    assert_eq!(sqlite.secret_key_ids().await.unwrap(), vec![(id_of(&a), 4)]);
    assert_eq!(all_audit(&sqlite).await.len(), audit_before);
}

#[tokio::test]
async fn rotation_leaves_secrets_already_under_the_primary_alone() {
    let sqlite = memory_store().await;
    let (a, b) = (key(), key());
    seed(&engine_on(Arc::new(sqlite.clone()), ring(&a, &[])), 10).await;
    let eb = engine_on(Arc::new(sqlite.clone()), ring(&b, &[&a]));
    // Slot 3 gets a new value under B before the run: it must be skipped, not rewritten.
    eb.put_secret(&slot(3), &s("fresh")).await.unwrap();
    let before = sqlite.get_secret(&slot(3)).await.unwrap().unwrap();
    assert_eq!(before.version, 2);
    let p = eb
        .rotate_keys(4, &Actor::System, &no_progress)
        .await
        .unwrap();
    assert_eq!(
        p,
        RotationProgress {
            total: 9,
            rewritten: 9,
            skipped: 0,
            ..RotationProgress::default()
        }
    );
    let after = sqlite.get_secret(&slot(3)).await.unwrap().unwrap();
    assert_eq!(after, before, "not rewritten");
    assert_eq!(
        eb.get_secret(&slot(3))
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        "fresh"
    );
}

#[tokio::test]
async fn replace_secret_if_is_a_compare_and_swap() {
    let sqlite = memory_store().await;
    let sl = slot(0);
    assert_eq!(sqlite.put_secret(&sl, "k1", b"one").await.unwrap(), 1);
    assert!(
        sqlite
            .replace_secret_if(&sl, 1, "k2", b"two")
            .await
            .unwrap()
    );
    let now = sqlite.get_secret(&sl).await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.key_id.as_str(), now.ciphertext.as_slice()),
        (2, "k2", &b"two"[..])
    );
    // A stale version loses and changes nothing.
    assert!(
        !sqlite
            .replace_secret_if(&sl, 1, "k3", b"three")
            .await
            .unwrap()
    );
    assert_eq!(sqlite.get_secret(&sl).await.unwrap().unwrap(), now);
    // A put in between makes the rotation's version stale.
    assert_eq!(sqlite.put_secret(&sl, "k2", b"newer").await.unwrap(), 3);
    assert!(
        !sqlite
            .replace_secret_if(&sl, 2, "k3", b"older")
            .await
            .unwrap()
    );
    assert_eq!(
        sqlite.get_secret(&sl).await.unwrap().unwrap().ciphertext,
        b"newer"
    );
    // No such slot.
    assert!(
        !sqlite
            .replace_secret_if(&slot(9), 1, "k", b"x")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_concurrent_write_under_the_new_key_is_never_overwritten() {
    let sqlite = memory_store().await;
    let (a, b) = (key(), key());
    seed(&engine_on(Arc::new(sqlite.clone()), ring(&a, &[])), 10).await;
    let t = TamperStore::new(sqlite.clone());
    let rb = ring(&b, &[&a]);
    // After the rotation has read slot 5, another writer stores a refreshed token.
    let sl = slot(5);
    let fresh = rb
        .seal(
            b"refreshed-token",
            Aad::new(&sl.owner, &sl.name, &sl.owner_id),
        )
        .unwrap();
    t.set(|t| t.concurrent_writes = vec![(sl.clone(), id_of(&b), fresh)]);
    let eb = engine_on(t.clone(), rb);
    let p = eb
        .rotate_keys(4, &Actor::System, &no_progress)
        .await
        .unwrap();
    assert_eq!(
        p,
        RotationProgress {
            total: 10,
            rewritten: 9,
            skipped: 1,
            ..RotationProgress::default()
        }
    );
    assert_eq!(
        eb.get_secret(&sl).await.unwrap().unwrap().expose_secret(),
        "refreshed-token",
        "the newer value survived"
    );
    assert_eq!(sqlite.count_secrets_not_under(&id_of(&b)).await.unwrap(), 0);
    let finish = all_audit(&sqlite).await.pop().unwrap();
    assert_eq!(
        finish.entry.details,
        serde_json::json!({
            "rewritten": 9,
            "skipped": 1,
            "remaining": 0,
            "oauth_states_rewritten": 0,
            "oauth_states_skipped": 0,
            "oauth_states_remaining": 0,
        })
    );
}

#[tokio::test]
async fn a_concurrent_write_under_the_old_key_asks_for_another_run() {
    let sqlite = memory_store().await;
    let (a, b) = (key(), key());
    seed(&engine_on(Arc::new(sqlite.clone()), ring(&a, &[])), 6).await;
    // An instance still running with A as its primary refreshes slot 2 mid-run.
    let sl = slot(2);
    let by_old_instance = ring(&a, &[])
        .seal(
            b"refreshed-by-old",
            Aad::new(&sl.owner, &sl.name, &sl.owner_id),
        )
        .unwrap();
    let t = TamperStore::new(sqlite.clone());
    t.set(|t| t.concurrent_writes = vec![(sl.clone(), id_of(&a), by_old_instance)]);
    let eb = engine_on(t.clone(), ring(&b, &[&a]));
    match eb.rotate_keys(3, &Actor::System, &no_progress).await {
        Err(EngineError::Conflict(m)) => {
            assert!(
                m.contains("1 sealed values are still under an old key"),
                "{m}"
            );
            assert!(m.contains("again"), "{m}");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        eb.get_secret(&sl).await.unwrap().unwrap().expose_secret(),
        "refreshed-by-old"
    );
    let finish = all_audit(&sqlite).await.pop().unwrap();
    assert_eq!(finish.entry.action, "keys.rotate.finish");
    assert_eq!(
        finish.entry.details,
        serde_json::json!({
            "rewritten": 5,
            "skipped": 1,
            "remaining": 1,
            "oauth_states_rewritten": 0,
            "oauth_states_skipped": 0,
            "oauth_states_remaining": 0,
        })
    );
    // Running again finishes the job without losing the refreshed value.
    let p = eb
        .rotate_keys(3, &Actor::System, &no_progress)
        .await
        .unwrap();
    assert_eq!(
        p,
        RotationProgress {
            total: 1,
            rewritten: 1,
            skipped: 0,
            ..RotationProgress::default()
        }
    );
    assert_eq!(
        eb.get_secret(&sl).await.unwrap().unwrap().expose_secret(),
        "refreshed-by-old"
    );
    assert_eq!(sqlite.count_secrets_not_under(&id_of(&b)).await.unwrap(), 0);
}

#[tokio::test]
async fn rotation_stops_on_a_secret_that_does_not_open() {
    let sqlite = memory_store().await;
    let (a, b) = (key(), key());
    let ea = engine_on(Arc::new(sqlite.clone()), ring(&a, &[]));
    seed(&ea, 3).await;
    // Slot 1 holds slot 0's ciphertext: it cannot open where it is.
    let s0 = sqlite.get_secret(&slot(0)).await.unwrap().unwrap();
    sqlite
        .put_secret(&slot(1), &s0.key_id, &s0.ciphertext)
        .await
        .unwrap();
    let eb = engine_on(Arc::new(sqlite.clone()), ring(&b, &[&a]));
    let err = eb
        .rotate_keys(10, &Actor::System, &no_progress)
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Vault(VaultError::Authentication { .. })),
        "{err:?}"
    );
    // Nothing was half-written: every row that could open still opens.
    assert_eq!(
        eb.get_secret(&slot(0))
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        value(0)
    );
    assert_eq!(
        eb.get_secret(&slot(2))
            .await
            .unwrap()
            .unwrap()
            .expose_secret(),
        value(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_resumes_after_a_crash() {
    const N: usize = 500;
    let db = TempDb::new();
    let (a, b) = (key(), key());
    let first = db.store().await;
    seed(&engine_on(Arc::new(first.clone()), ring(&a, &[])), N).await;

    // The rotating process: batch size 1, one commit per secret; it "crashes" (is
    // aborted) while stuck after 150 replacements.
    let t = TamperStore::new(first.clone());
    t.set(|t| t.hang_after_replacements = Some(150));
    let rotating = engine_on(t.clone(), ring(&b, &[&a]));
    let handle =
        tokio::spawn(async move { rotating.rotate_keys(1, &Actor::System, &|_| {}).await });

    // Another process watches the same file.
    let watcher = db.store().await;
    let b_id = id_of(&b);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left = watcher.count_secrets_not_under(&b_id).await.unwrap();
        if left < 400 {
            break;
        }
        assert!(!handle.is_finished(), "rotation ended early: {left} left");
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress: {left} left"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    handle.abort();
    let joined = handle.await;
    assert!(
        joined.as_ref().is_err_and(|e| e.is_cancelled()),
        "{joined:?}"
    );
    first.close().await;

    // Some secrets are under A, some under B, and all of them open with (B, [A]).
    let ids = watcher.secret_key_ids().await.unwrap();
    let under = |k: &str| ids.iter().find(|(id, _)| id == k).map_or(0, |(_, n)| *n);
    let (under_a, under_b) = (under(&id_of(&a)), under(&b_id));
    assert!(under_a > 0 && under_b > 0, "{ids:?}");
    assert_eq!(under_a + under_b, N as u64);
    let resumed = engine_on(Arc::new(watcher.clone()), ring(&b, &[&a]));
    assert_all_open(&resumed, N).await;
    let actions: Vec<String> = all_audit(&watcher)
        .await
        .into_iter()
        .map(|r| r.entry.action)
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "keys.rotate.start").count(),
        1
    );
    assert!(!actions.iter().any(|a| a == "keys.rotate.finish"));

    // Running again finishes the job.
    let p = resumed
        .rotate_keys(50, &Actor::System, &no_progress)
        .await
        .unwrap();
    assert_eq!(p.total, under_a);
    assert_eq!(p.rewritten, under_a);
    assert_eq!(
        watcher.secret_key_ids().await.unwrap(),
        vec![(b_id, N as u64)]
    );
    let b_only = engine_on(Arc::new(watcher.clone()), ring(&b, &[]));
    assert_all_open(&b_only, N).await;
    assert!(resumed.verify_audit(&|_| {}).await.unwrap().ok);
    watcher.close().await;
}
