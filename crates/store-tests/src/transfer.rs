//! [`Transfer`](store::transfer::Transfer): row-level reads and writes of whole tables,
//! what `switchboard db copy` moves between databases (and backends) with. The cases
//! with two stores copy from one fresh database into another of the same backend;
//! copies across backends are tested end to end by the binary's tests.

use std::sync::Arc;

use store::transfer::{Row, TABLES, Table, Value, table};
use store::{Failure, InsertOutcome, NewAttempt, SealedCredentials, Store, StoreError};

use crate::fixtures::*;

/// Every row of every table, in key order.
async fn dump(s: &dyn Store) -> Vec<(&'static str, Vec<Row>)> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push((t.name, read_all(s, t, 1000).await));
    }
    out
}

/// Every row of `t`, read `batch` rows at a time.
async fn read_all(s: &dyn Store, t: &Table, batch: u32) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    loop {
        let after = rows.last().map(|r| t.key_of(r));
        let page = s.transfer().read(t, after.as_deref(), batch).await.unwrap();
        let done = (page.len() as u32) < batch;
        rows.extend(page);
        if done {
            return rows;
        }
    }
}

/// Copies every table from `from` to `to` in batches of `batch` rows; returns how many
/// rows each write reported.
async fn copy_all(from: &dyn Store, to: &dyn Store, batch: u32) -> Vec<(&'static str, u64)> {
    let mut written = Vec::new();
    for t in TABLES {
        let mut n = 0;
        let mut after: Option<Vec<Value>> = None;
        loop {
            let page = from
                .transfer()
                .read(t, after.as_deref(), batch)
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            n += to.transfer().write(t, &page).await.unwrap();
            after = page.last().map(|r| t.key_of(r));
        }
        written.push((t.name, n));
    }
    to.transfer().finish().await.unwrap();
    written
}

/// Puts rows in every table through the store traits: keys (one revoked), secrets,
/// three audit entries, integration switches, a connection with credentials, a connect
/// session, an OAuth state, routed events with delivered, dead and pending deliveries,
/// an unrouted event, and a disabled destination.
async fn fill(s: &dyn Store) {
    for (i, id) in ["k1", "k2", "k3"].iter().enumerate() {
        s.insert_api_key(&api_key(id, at(i as i64))).await.unwrap();
    }
    s.revoke_api_key("k2", at(SEC)).await.unwrap();
    s.touch_api_key("k3", at(2 * SEC)).await.unwrap();
    s.put_secret(
        &slot("integrations", "gh", "client_secret"),
        "aa",
        &[1, 2, 3],
    )
    .await
    .unwrap();
    s.put_secret(&slot("integrations", "gh", "client_secret"), "bb", &[4, 5])
        .await
        .unwrap();
    for n in 0..3 {
        s.append_audit(&entry("cli:ops", "api_key.create", &format!("k{n}")))
            .await
            .unwrap();
    }
    s.set_integration_blocked("gh", true, at(3 * SEC))
        .await
        .unwrap();
    s.set_integration_disabled("stripe-main", true, at(4 * SEC))
        .await
        .unwrap();
    let mut c = conn("conn_1", "gh", "u1");
    c.routing_key = Some("team-1".into());
    c.last_error = Some("refused".into());
    s.upsert_connection(&c, &creds("aa", b"sealed-credentials"))
        .await
        .unwrap();
    // A service account's connection with a key of its own.
    s.upsert_connection_keyed(
        &conn("conn_2", "sa", "u2"),
        &creds("aa", b"sealed-token"),
        Some(&creds("aa", b"sealed-signing-key")),
    )
    .await
    .unwrap();
    s.insert_connect_session(&session(&[9; 32], at(30 * MIN)))
        .await
        .unwrap();
    s.insert_oauth_state(&state(&[8; 32], at(10 * MIN)))
        .await
        .unwrap();
    for n in 1..=4 {
        let e = routed_event(n, &format!("p{n}"));
        let r = routed(&e, completed(), &["app", "audit"]);
        assert_eq!(
            s.insert_routed_event(&e, &r).await.unwrap(),
            InsertOutcome::Inserted
        );
    }
    let claimed = s
        .claim_deliveries("w", 3, at(MIN), at(2 * MIN), &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let attempt = |status: u16, outcome: &str| NewAttempt {
        started_at: at(MIN),
        duration_ms: 42,
        status: Some(status),
        outcome: outcome.into(),
        excerpt: Some(format!("answer {status} é")),
    };
    s.complete_attempt(
        &claimed[0].id,
        claimed[0].fence,
        200,
        at(MIN),
        &attempt(200, "delivered"),
    )
    .await
    .unwrap();
    let dead = Failure {
        status: Some(500),
        error: "boom".into(),
        retry_at: None,
    };
    s.fail_attempt(
        &claimed[1].id,
        claimed[1].fence,
        &dead,
        &attempt(500, "http_error"),
    )
    .await
    .unwrap();
    let mut unrouted = event(99, "gh", Some("gh-99"));
    unrouted.connection_id = Some("conn_1".into());
    s.insert_event(&unrouted).await.unwrap();
    s.set_destination_disabled("audit", true, Some("410 Gone"), at(2 * MIN))
        .await
        .unwrap();
}

/// A fresh store has no row in any table (a backend's placeholder rows, such as
/// PostgreSQL's genesis audit head, are neither counted nor read), and is at its build's
/// schema.
pub async fn a_fresh_store_is_empty_in_every_table(s: Arc<dyn Store>) {
    for t in TABLES {
        assert_eq!(s.transfer().count(t).await.unwrap(), 0, "{}", t.name);
        assert!(
            s.transfer().read(t, None, 10).await.unwrap().is_empty(),
            "{}",
            t.name
        );
    }
    let v = s.transfer().schema_version().await.unwrap();
    assert!(v.current(), "{v:?}");
    assert!(!v.known.is_empty());
}

/// Reads page in key order (composite keys too), each page strictly after the last key
/// of the one before, with the values as stored.
pub async fn reads_page_in_key_order_after_a_cursor(s: Arc<dyn Store>) {
    fill(&*s).await;
    for t in TABLES {
        let whole = s.transfer().read(t, None, 1000).await.unwrap();
        assert_eq!(
            whole.len() as u64,
            s.transfer().count(t).await.unwrap(),
            "{}",
            t.name
        );
        let keys: Vec<Vec<Value>> = whole.iter().map(|r| t.key_of(r)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted, "{}: not in key order", t.name);
        assert_eq!(read_all(&*s, t, 1).await, whole, "{}", t.name);
        assert_eq!(read_all(&*s, t, 2).await, whole, "{}", t.name);
    }
    let keys = read_all(&*s, table("api_keys").unwrap(), 1).await;
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[1][0], Value::Text("k2".into()));
    assert!(matches!(keys[1][6], Value::Int(_)), "revoked_at");
    assert_eq!(keys[0][6], Value::Null);
    let secret = &read_all(&*s, table("secrets").unwrap(), 10).await;
    assert!(
        secret
            .iter()
            .any(|r| r[4] == Value::Bytes(vec![4, 5]) && r[5] == Value::Int(2)),
        "{secret:?}"
    );
    let flags = read_all(&*s, table("integration_state").unwrap(), 10).await;
    assert_eq!(flags.len(), 2);
    assert_eq!(flags[0][0], Value::Text("gh".into()));
    assert_eq!(flags[0][1], Value::Bool(true));
    assert_eq!(flags[0][2], Value::Bool(false));
    let head = read_all(&*s, table("audit_head").unwrap(), 10).await;
    let (seq, hash) = s.audit_head().await.unwrap().unwrap();
    assert_eq!(
        head,
        vec![vec![Value::Int(1), Value::Int(seq), Value::Text(hash)]]
    );
}

/// Writing back what was read changes nothing and reports nothing written: a resumed
/// copy can send rows that are there already.
pub async fn writing_rows_that_are_there_changes_nothing(s: Arc<dyn Store>) {
    fill(&*s).await;
    let before = dump(&*s).await;
    for (name, rows) in &before {
        let t = table(name).unwrap();
        assert_eq!(s.transfer().write(t, rows).await.unwrap(), 0, "{name}");
    }
    assert_eq!(dump(&*s).await, before);
    // A changed copy of a row whose key is there does not overwrite it.
    let t = table("api_keys").unwrap();
    let mut changed = before[0].1[0].clone();
    changed[1] = Value::Text("renamed".into());
    assert_eq!(s.transfer().write(t, &[changed]).await.unwrap(), 0);
    assert_eq!(s.get_api_key("k1").await.unwrap().unwrap().name, "key k1");
}

/// A row that does not fit its table (a value missing, of the wrong type, or NULL in a
/// NOT NULL column), or that breaks one of its checks, fails the write and stores
/// nothing of its batch.
pub async fn a_row_that_does_not_fit_writes_nothing_of_its_batch(s: Arc<dyn Store>) {
    let t = table("api_keys").unwrap();
    let good = |id: &str| -> Row {
        vec![
            Value::Text(id.into()),
            Value::Text(format!("key {id}")),
            Value::Text("app".into()),
            Value::Bytes(vec![1; 32]),
            Value::Int(T0),
            Value::Null,
            Value::Null,
        ]
    };
    let mut short = good("b");
    short.pop();
    let mut null = good("c");
    null[1] = Value::Null;
    let mut typed = good("d");
    typed[3] = Value::Text("hash".into());
    let mut checked = good("e");
    checked[2] = Value::Text("root".into());
    for bad in [short, null, typed] {
        let e = s.transfer().write(t, &[good("a"), bad]).await.unwrap_err();
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
    }
    let e = s
        .transfer()
        .write(t, &[good("a"), checked])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("api_keys"), "{e}");
    assert_eq!(s.transfer().count(t).await.unwrap(), 0);
    assert!(s.list_api_keys().await.unwrap().is_empty());
    // A delivery of an event that is not there breaks the foreign key.
    let d = table("deliveries").unwrap();
    let orphan: Row = vec![
        Value::Text("dlv_1".into()),
        Value::Text(evt_id(1)),
        Value::Text("app".into()),
        Value::Text("pending".into()),
        Value::Int(0),
        Value::Int(T0),
        Value::Null,
        Value::Null,
        Value::Int(0),
        Value::Null,
        Value::Null,
        Value::Int(T0),
        Value::Null,
    ];
    assert!(s.transfer().write(d, &[orphan]).await.is_err());
    assert_eq!(s.transfer().count(d).await.unwrap(), 0);
}

/// A copy into a fresh store keeps every record as it was (ids, timestamps, sealed
/// bytes, versions, fences, flags), and the audit chain goes on from the copied head.
pub async fn a_copy_keeps_every_record_and_the_audit_chain_goes_on(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    fill(&*a).await;
    let written = copy_all(&*a, &*b, 2).await;
    for (name, n) in &written {
        let t = table(name).unwrap();
        assert_eq!(*n, a.transfer().count(t).await.unwrap(), "{name}");
        assert_eq!(
            b.transfer().count(t).await.unwrap(),
            a.transfer().count(t).await.unwrap(),
            "{name}"
        );
    }
    assert_eq!(dump(&*b).await, dump(&*a).await);

    // Through the traits, as the engine will read them.
    assert_eq!(
        b.list_api_keys().await.unwrap(),
        a.list_api_keys().await.unwrap()
    );
    let client_secret = slot("integrations", "gh", "client_secret");
    assert_eq!(
        b.get_secret(&client_secret).await.unwrap(),
        a.get_secret(&client_secret).await.unwrap()
    );
    let (c, SealedCredentials { key_id, ciphertext }) = b
        .get_connection_credentials("conn_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(c), a.get_connection("conn_1").await.unwrap());
    assert_eq!(
        (key_id.as_str(), &ciphertext[..]),
        ("aa", &b"sealed-credentials"[..])
    );
    // A connection's own signing key travels sealed as it was, like every secret.
    let signing_key = store::signing_key_slot("conn_2");
    let copied = b.get_secret(&signing_key).await.unwrap().unwrap();
    assert_eq!(
        Some(&copied),
        a.get_secret(&signing_key).await.unwrap().as_ref()
    );
    assert_eq!(
        (copied.key_id.as_str(), &copied.ciphertext[..]),
        ("aa", &b"sealed-signing-key"[..])
    );
    assert_eq!(
        b.get_connect_session(&[9; 32]).await.unwrap(),
        a.get_connect_session(&[9; 32]).await.unwrap()
    );
    assert_eq!(
        b.take_oauth_state(&[8; 32]).await.unwrap(),
        a.take_oauth_state(&[8; 32]).await.unwrap()
    );
    for id in [evt_id(1), evt_id(4), evt_id(99)] {
        assert_eq!(
            b.get_event(&id).await.unwrap(),
            a.get_event(&id).await.unwrap()
        );
        assert_eq!(
            b.event_routing(&id).await.unwrap(),
            a.event_routing(&id).await.unwrap()
        );
        assert_eq!(deliveries_of(&*b, &id).await, deliveries_of(&*a, &id).await);
        assert_eq!(
            b.list_attempts(&id, 100).await.unwrap(),
            a.list_attempts(&id, 100).await.unwrap()
        );
    }
    assert_eq!(
        b.integration_flags("gh").await.unwrap(),
        a.integration_flags("gh").await.unwrap()
    );
    assert!(b.is_integration_disabled("stripe-main").await.unwrap());
    assert_eq!(
        b.disabled_destinations().await.unwrap(),
        vec![("audit".to_owned(), Some("410 Gone".to_owned()))]
    );
    assert_eq!(
        b.queue_stats().await.unwrap(),
        a.queue_stats().await.unwrap()
    );
    // The next delivery's event still deduplicates on the target.
    let again = routed_event(5, "p1");
    assert_eq!(
        b.insert_routed_event(&again, &routed(&again, completed(), &["app"]))
            .await
            .unwrap(),
        InsertOutcome::Duplicate {
            existing_id: evt_id(1)
        }
    );

    let head = a.audit_head().await.unwrap();
    assert_eq!(b.audit_head().await.unwrap(), head);
    let next = b
        .append_audit(&entry("cli:ops", "db.copy", ""))
        .await
        .unwrap();
    assert_eq!(next.seq, 4);
    assert_eq!(Some(next.prev_hash.clone()), head.map(|h| h.1));
    assert_valid_chain(&all_audit(&*b).await);
}

/// Copying again after a partial copy adds only what is missing; an audit head that
/// moved on since (the copy's own entry) is not moved back.
pub async fn a_copy_run_again_adds_only_what_is_missing(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    fill(&*a).await;
    // An interrupted copy: the first two rows of every table.
    let mut first = 0;
    for t in TABLES {
        let page = a.transfer().read(t, None, 2).await.unwrap();
        first += b.transfer().write(t, &page).await.unwrap();
    }
    let total: u64 = {
        let mut n = 0;
        for t in TABLES {
            n += a.transfer().count(t).await.unwrap();
        }
        n
    };
    let written: u64 = copy_all(&*a, &*b, 3).await.iter().map(|(_, n)| n).sum();
    assert_eq!(first + written, total);
    assert_eq!(dump(&*b).await, dump(&*a).await);

    b.append_audit(&entry("cli:ops", "db.copy", ""))
        .await
        .unwrap();
    let moved_on = b.audit_head().await.unwrap().unwrap();
    assert_eq!(moved_on.0, 4);
    let again: u64 = copy_all(&*a, &*b, 100).await.iter().map(|(_, n)| n).sum();
    assert_eq!(again, 0);
    assert_eq!(b.audit_head().await.unwrap(), Some(moved_on));
    assert_valid_chain(&all_audit(&*b).await);
}
