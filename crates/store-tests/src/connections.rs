//! [`ConnectionStore`](store::ConnectionStore): upserts, listings, routing keys, refresh leases and their
//! fencing (also across two handles), revocation, connect sessions, OAuth states, and
//! the interplay with key rotation.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use store::{
    Connection, ConnectionFilter, ConnectionStatus, Lease, OAuthState, RefreshCommit,
    SealedCredentials, SealedSecret, SecretSlot, Store, StoreError, Upsert, credentials_slot,
    signing_key_slot,
};

use crate::fixtures::{
    MIN, SEC, at, conn, creds, key_hex, sealed_under, session, state, state_under,
};

/// Upserts and asserts a creation; returns the stored connection.
async fn create(s: &dyn Store, c: &Connection, cr: &SealedCredentials) -> Connection {
    match s.upsert_connection(c, cr).await.unwrap() {
        Upsert::Created(stored) => stored,
        other => panic!("expected Created for {}, got {other:?}", c.id),
    }
}

/// Creates `id` in `integration` for `user` with default details and credentials.
async fn add(s: &dyn Store, id: &str, integration: &str, user: &str) -> Connection {
    create(s, &conn(id, integration, user), &creds("k1", id.as_bytes())).await
}

/// A successful refresh's outcome.
fn success(cr: SealedCredentials, now: DateTime<Utc>) -> RefreshCommit {
    RefreshCommit {
        credentials: Some(cr),
        expires_at: Some(now + chrono::Duration::hours(2)),
        scopes: vec!["read".to_owned(), "write".to_owned(), "extra".to_owned()],
        status: ConnectionStatus::Active,
        last_error: None,
        last_refresh_at: Some(now),
        refresh_failures: 0,
        next_refresh_at: Some(now + chrono::Duration::minutes(110)),
        at: now,
    }
}

/// A failed refresh's outcome (no new credentials).
fn failure(now: DateTime<Utc>, status: ConnectionStatus, error: &str) -> RefreshCommit {
    RefreshCommit {
        credentials: None,
        // Both are to be ignored since there are no new credentials.
        expires_at: Some(now + chrono::Duration::days(30)),
        scopes: vec!["ignored".to_owned()],
        status,
        last_error: Some(error.to_owned()),
        last_refresh_at: None,
        refresh_failures: 3,
        next_refresh_at: Some(now + chrono::Duration::minutes(8)),
        at: now,
    }
}

/// Everything the traits tell about one connection, to assert that "nothing changed".
#[derive(Debug, PartialEq)]
struct Snapshot {
    connection: Option<Connection>,
    with_credentials: Option<(Connection, SealedCredentials)>,
    secret: Option<SealedSecret>,
}

async fn snapshot(s: &dyn Store, id: &str) -> Snapshot {
    Snapshot {
        connection: s.get_connection(id).await.unwrap(),
        with_credentials: s.get_connection_credentials(id).await.unwrap(),
        secret: s.get_secret(&credentials_slot(id)).await.unwrap(),
    }
}

fn ids(cs: &[Connection]) -> Vec<&str> {
    cs.iter().map(|c| c.id.as_str()).collect()
}

fn filter(
    integration: Option<&str>,
    end_user_id: Option<&str>,
    status: Option<ConnectionStatus>,
) -> ConnectionFilter {
    ConnectionFilter {
        integration: integration.map(str::to_owned),
        end_user_id: end_user_id.map(str::to_owned),
        status,
    }
}

// ---------------------------------------------------------------------------------------
// Upsert
// ---------------------------------------------------------------------------------------

/// A new connection gets version 1, reads back field by field, and its credentials sit
/// in the secrets table under its credentials slot.
pub async fn upsert_creates_with_version_one_and_credentials_in_the_secrets_table(
    s: Arc<dyn Store>,
) {
    let mut c = conn("conn_1", "github", "u1");
    c.routing_key = Some("team-1".to_owned());
    c.last_refresh_at = Some(at(-MIN));
    c.last_error = Some("previous".to_owned());
    c.refresh_failures = 2;
    c.token_version = 42; // ignored
    let cr = creds("k1", b"\x00sealed\xff");

    let stored = create(&*s, &c, &cr).await;
    let mut expected = c.clone();
    expected.token_version = 1;
    expected.token_obtained_at = Some(c.updated_at);
    assert_eq!(stored, expected);

    // Read back field by field (all of them, via Eq).
    assert_eq!(
        s.get_connection("conn_1").await.unwrap(),
        Some(expected.clone())
    );
    let (read, read_creds) = s
        .get_connection_credentials("conn_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, expected);
    assert_eq!(read_creds, cr);

    // The same bytes are in the secrets table, in the credentials slot.
    let secret = s
        .get_secret(&credentials_slot("conn_1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        secret.slot,
        SecretSlot::new("connections", "conn_1", "credentials")
    );
    assert_eq!(secret.key_id, "k1");
    assert_eq!(secret.ciphertext, b"\x00sealed\xff");
    assert_eq!(secret.version, 1);
    assert_eq!(secret.updated_at, c.updated_at);

    // A fresh connection holds no lease: the first is taken at once, with fence 1.
    assert_eq!(
        s.acquire_refresh_lease("conn_1", at(0), at(MIN))
            .await
            .unwrap(),
        Some(Lease {
            fence: 1,
            token_version: 1
        })
    );
}

/// A reconnect (same id, integration and end user) replaces details and credentials,
/// keeps `created_at`, bumps the version and drops any lease.
pub async fn upsert_with_the_same_owner_replaces_keeps_created_at_and_drops_the_lease(
    s: Arc<dyn Store>,
) {
    let first = add(&*s, "conn_1", "github", "u1").await;
    s.set_connection_status(
        "conn_1",
        ConnectionStatus::NeedsReauth,
        Some("invalid_grant"),
        at(MIN),
    )
    .await
    .unwrap();
    // Somebody is refreshing when the user reconnects.
    let lease = s
        .acquire_refresh_lease("conn_1", at(2 * MIN), at(3 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.fence, 1);

    let mut again = conn("conn_1", "github", "u1");
    again.provider = "github-enterprise".to_owned();
    again.auth_mode = "api_key".to_owned();
    again.scopes = vec!["read".to_owned()];
    again.missing_scopes = vec![];
    again.settings = BTreeMap::from([("shop".to_owned(), "other".to_owned())]);
    again.routing_key = Some("team-9".to_owned());
    again.expires_at = Some(at(10 * MIN));
    again.created_at = at(2 * MIN); // must not win over the original
    again.updated_at = at(2 * MIN);
    again.next_refresh_at = None;
    let new_creds = creds("k2", b"reconnected");

    let replaced = match s.upsert_connection(&again, &new_creds).await.unwrap() {
        Upsert::Replaced(c) => c,
        other => panic!("expected Replaced, got {other:?}"),
    };
    let mut expected = again.clone();
    expected.created_at = first.created_at;
    expected.token_version = 2;
    expected.token_obtained_at = Some(again.updated_at);
    assert_eq!(replaced, expected);
    // Status is back to what the reconnect says, the error is cleared.
    assert_eq!(replaced.status, ConnectionStatus::Active);
    assert_eq!(replaced.last_error, None);

    let (read, read_creds) = s
        .get_connection_credentials("conn_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, expected);
    assert_eq!(read_creds, new_creds);
    let secret = s
        .get_secret(&credentials_slot("conn_1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            secret.key_id.as_str(),
            secret.ciphertext.as_slice(),
            secret.version
        ),
        ("k2", b"reconnected".as_slice(), 2)
    );

    // The lease is dropped: somebody else can take one right away (same `now`).
    let next = s
        .acquire_refresh_lease("conn_1", at(2 * MIN), at(3 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert!(next.fence > lease.fence);
    assert_eq!(next.token_version, 2);
}

/// A refresher that took its lease before a reconnect cannot commit the old grant's
/// tokens over the new ones.
pub async fn upsert_replaced_fences_out_the_old_lease_holder(s: Arc<dyn Store>) {
    add(&*s, "conn_1", "github", "u1").await;
    let old = s
        .acquire_refresh_lease("conn_1", at(MIN), at(2 * MIN))
        .await
        .unwrap()
        .unwrap();

    // The user reconnects while the refresh is in flight.
    let mut again = conn("conn_1", "github", "u1");
    again.updated_at = at(MIN + SEC);
    assert!(matches!(
        s.upsert_connection(&again, &creds("k1", b"reconnected"))
            .await
            .unwrap(),
        Upsert::Replaced(_)
    ));
    let after_reconnect = snapshot(&*s, "conn_1").await;

    // The refresher (with tokens of the old grant) must not overwrite the new ones.
    let committed = s
        .commit_refresh(
            "conn_1",
            old.fence,
            &success(creds("k1", b"refreshed-old-grant"), at(MIN + 2 * SEC)),
        )
        .await
        .unwrap();
    assert!(!committed, "a lease from before the reconnect must be lost");
    assert_eq!(snapshot(&*s, "conn_1").await, after_reconnect);
    assert!(
        !s.release_refresh_lease("conn_1", old.fence).await.unwrap(),
        "the lease was dropped by the reconnect"
    );
}

/// An id owned by another end user or integration is `Taken`, and nothing changes.
pub async fn upsert_with_another_end_user_or_integration_is_taken_and_changes_nothing(
    s: Arc<dyn Store>,
) {
    let mut c = conn("conn_1", "github", "u1");
    c.routing_key = Some("team-1".to_owned());
    create(&*s, &c, &creds("k1", b"original")).await;
    s.acquire_refresh_lease("conn_1", at(MIN), at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    let before = snapshot(&*s, "conn_1").await;
    assert!(before.connection.is_some() && before.secret.is_some());

    let mut other_user = conn("conn_1", "github", "u2");
    other_user.status = ConnectionStatus::Error;
    other_user.updated_at = at(5 * MIN);
    other_user.scopes = vec![];
    let mut other_integration = conn("conn_1", "slack", "u1");
    other_integration.updated_at = at(5 * MIN);
    let both = conn("conn_1", "slack", "u2");

    for taker in [&other_user, &other_integration, &both] {
        assert_eq!(
            s.upsert_connection(taker, &creds("k2", b"intruder"))
                .await
                .unwrap(),
            Upsert::Taken,
            "{}/{}",
            taker.integration,
            taker.end_user_id
        );
        assert_eq!(snapshot(&*s, "conn_1").await, before);
    }
    // Nothing else was created either.
    let all = s
        .list_connections(&ConnectionFilter::default(), None, 100)
        .await
        .unwrap();
    assert_eq!(ids(&all), ["conn_1"]);
    assert_eq!(s.count_secrets_not_under("none").await.unwrap(), 1);
}

/// Ids match exactly; unknown ones read as `None`.
pub async fn unknown_ids_read_as_none(s: Arc<dyn Store>) {
    add(&*s, "conn_1", "github", "u1").await;
    assert_eq!(s.get_connection("conn_2").await.unwrap(), None);
    assert_eq!(s.get_connection_credentials("conn_2").await.unwrap(), None);
    assert_eq!(s.get_connection("").await.unwrap(), None);
    assert_eq!(s.get_connection("CONN_1").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------
// Listing, counting, routing keys
// ---------------------------------------------------------------------------------------

/// github: a (u1), c (u2, error), e (u1, needs_reauth), g (u3)
/// slack:  b (u1), d (u2), f (u1, revoked)
async fn listing_fixture(s: &dyn Store) {
    for (id, integration, user) in [
        ("c_g", "github", "u3"),
        ("c_a", "github", "u1"),
        ("c_d", "slack", "u2"),
        ("c_b", "slack", "u1"),
        ("c_f", "slack", "u1"),
        ("c_c", "github", "u2"),
        ("c_e", "github", "u1"),
    ] {
        add(s, id, integration, user).await;
    }
    assert!(
        s.set_connection_status("c_c", ConnectionStatus::Error, Some("x"), at(MIN))
            .await
            .unwrap()
    );
    assert!(
        s.set_connection_status("c_e", ConnectionStatus::NeedsReauth, None, at(MIN))
            .await
            .unwrap()
    );
    assert!(s.revoke_connection("c_f", at(MIN)).await.unwrap());
}

/// Listing filters by integration, end user and status, alone or together, ordered by
/// id, with complete rows.
pub async fn list_filters_by_integration_end_user_and_status(s: Arc<dyn Store>) {
    listing_fixture(&*s).await;
    let list = |f: ConnectionFilter| {
        let s = s.clone();
        async move { s.list_connections(&f, None, 100).await.unwrap() }
    };
    use ConnectionStatus::*;

    assert_eq!(
        ids(&list(ConnectionFilter::default()).await),
        ["c_a", "c_b", "c_c", "c_d", "c_e", "c_f", "c_g"]
    );
    assert_eq!(
        ids(&list(filter(Some("github"), None, None)).await),
        ["c_a", "c_c", "c_e", "c_g"]
    );
    assert_eq!(
        ids(&list(filter(Some("slack"), None, None)).await),
        ["c_b", "c_d", "c_f"]
    );
    assert!(list(filter(Some("gitlab"), None, None)).await.is_empty());
    assert_eq!(
        ids(&list(filter(None, Some("u1"), None)).await),
        ["c_a", "c_b", "c_e", "c_f"]
    );
    assert_eq!(
        ids(&list(filter(None, None, Some(Active))).await),
        ["c_a", "c_b", "c_d", "c_g"]
    );
    assert_eq!(ids(&list(filter(None, None, Some(Error))).await), ["c_c"]);
    assert_eq!(
        ids(&list(filter(None, None, Some(NeedsReauth))).await),
        ["c_e"]
    );
    assert_eq!(ids(&list(filter(None, None, Some(Revoked))).await), ["c_f"]);
    assert_eq!(
        ids(&list(filter(Some("github"), Some("u1"), None)).await),
        ["c_a", "c_e"]
    );
    assert_eq!(
        ids(&list(filter(Some("github"), Some("u1"), Some(Active))).await),
        ["c_a"]
    );
    assert_eq!(
        ids(&list(filter(Some("slack"), Some("u1"), Some(Revoked))).await),
        ["c_f"]
    );
    assert!(
        list(filter(Some("slack"), Some("u3"), None))
            .await
            .is_empty()
    );

    // The listed rows are complete.
    let listed = list(filter(None, None, Some(Error))).await;
    assert_eq!(listed[0], s.get_connection("c_c").await.unwrap().unwrap());
    assert_eq!(listed[0].last_error.as_deref(), Some("x"));
}

/// Listing pages by id with a strict cursor (stored or not) and a limit.
pub async fn list_pages_by_id_with_a_cursor_and_a_limit(s: Arc<dyn Store>) {
    listing_fixture(&*s).await;
    let all = ConnectionFilter::default();

    // Page through with limit 2.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.list_connections(&all, after.as_deref(), 2).await.unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        seen.extend(page.iter().map(|c| c.id.clone()));
        after = Some(page.last().unwrap().id.clone());
    }
    assert_eq!(seen, ["c_a", "c_b", "c_c", "c_d", "c_e", "c_f", "c_g"]);

    // The cursor is strict, need not exist, and combines with filters.
    assert_eq!(
        ids(&s.list_connections(&all, Some("c_c"), 100).await.unwrap()),
        ["c_d", "c_e", "c_f", "c_g"]
    );
    assert_eq!(
        ids(&s.list_connections(&all, Some("c_cc"), 100).await.unwrap()),
        ["c_d", "c_e", "c_f", "c_g"]
    );
    assert_eq!(
        ids(&s
            .list_connections(&filter(Some("github"), None, None), Some("c_a"), 2)
            .await
            .unwrap()),
        ["c_c", "c_e"]
    );
    assert!(
        s.list_connections(&all, Some("c_g"), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&s.list_connections(&all, Some(""), 1).await.unwrap()),
        ["c_a"]
    );
    // Limits.
    assert!(s.list_connections(&all, None, 0).await.unwrap().is_empty());
    assert_eq!(
        ids(&s.list_connections(&all, None, 3).await.unwrap()),
        ["c_a", "c_b", "c_c"]
    );
    assert_eq!(
        s.list_connections(&all, None, u32::MAX)
            .await
            .unwrap()
            .len(),
        7
    );
}

/// Counts by integration and status follow creation, status changes and deletion.
pub async fn count_by_integration_and_status(s: Arc<dyn Store>) {
    assert!(s.count_connections().await.unwrap().is_empty());
    listing_fixture(&*s).await;
    // One more active github connection.
    add(&*s, "c_h", "github", "u4").await;
    let mut counts = s.count_connections().await.unwrap();
    counts.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
    use ConnectionStatus::*;
    assert_eq!(
        counts,
        [
            ("github".to_owned(), Active, 3),
            ("github".to_owned(), Error, 1),
            ("github".to_owned(), NeedsReauth, 1),
            ("slack".to_owned(), Active, 2),
            ("slack".to_owned(), Revoked, 1),
        ]
    );
    // Deleting changes the counts.
    assert!(s.delete_connection("c_f").await.unwrap());
    let counts = s.count_connections().await.unwrap();
    assert!(!counts.iter().any(|(_, st, _)| *st == Revoked));
    assert_eq!(counts.iter().map(|(_, _, n)| n).sum::<u64>(), 7);
}

/// A routing key finds a connection only when exactly one of the integration has it.
pub async fn by_routing_key_needs_exactly_one_match_in_the_integration(s: Arc<dyn Store>) {
    let with_key = |id: &str, integration: &str, key: Option<&str>| {
        let mut c = conn(id, integration, id);
        c.routing_key = key.map(str::to_owned);
        c
    };
    for c in [
        with_key("c1", "slack", Some("T1")),
        with_key("c2", "slack", Some("T2")),
        with_key("c3", "slack", Some("T2")),
        with_key("c4", "slack", None),
        with_key("c5", "discord", Some("T1")),
        with_key("c6", "discord", Some("T3")),
    ] {
        create(&*s, &c, &creds("k1", b"x")).await;
    }

    // One match.
    assert_eq!(
        s.connection_by_routing_key("slack", "T1").await.unwrap(),
        Some("c1".to_owned())
    );
    assert_eq!(
        s.connection_by_routing_key("discord", "T1").await.unwrap(),
        Some("c5".to_owned())
    );
    // None.
    assert_eq!(
        s.connection_by_routing_key("slack", "T9").await.unwrap(),
        None
    );
    assert_eq!(
        s.connection_by_routing_key("slack", "t1").await.unwrap(),
        None
    );
    assert_eq!(
        s.connection_by_routing_key("slack", "").await.unwrap(),
        None
    );
    assert_eq!(
        s.connection_by_routing_key("github", "T1").await.unwrap(),
        None
    );
    // The key of another integration does not match.
    assert_eq!(
        s.connection_by_routing_key("slack", "T3").await.unwrap(),
        None
    );
    // Ambiguous.
    assert_eq!(
        s.connection_by_routing_key("slack", "T2").await.unwrap(),
        None
    );

    // Removing one of the two makes it unambiguous.
    assert!(s.delete_connection("c2").await.unwrap());
    assert_eq!(
        s.connection_by_routing_key("slack", "T2").await.unwrap(),
        Some("c3".to_owned())
    );
}

/// Every connection with a routing key in an integration is listed (a GitHub App
/// installation bound to several connections), ordered by id, up to the limit; another
/// integration's, another key's and a keyless one are not.
pub async fn all_by_routing_key_lists_every_match_of_the_integration(s: Arc<dyn Store>) {
    let with_key = |id: &str, integration: &str, key: Option<&str>| {
        let mut c = conn(id, integration, id);
        c.routing_key = key.map(str::to_owned);
        c
    };
    for c in [
        with_key("g3", "gh", Some("101")),
        with_key("g1", "gh", Some("101")),
        with_key("g2", "gh", Some("202")),
        with_key("g4", "gh", None),
        with_key("o1", "other", Some("101")),
    ] {
        create(&*s, &c, &creds("k1", b"x")).await;
    }
    let ids = |v: Vec<Connection>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.connections_by_routing_key("gh", "101", 10).await.unwrap()),
        ["g1", "g3"]
    );
    let found = s.connections_by_routing_key("gh", "101", 10).await.unwrap();
    assert_eq!(found[0].routing_key.as_deref(), Some("101"));
    assert_eq!(found[0].integration, "gh");
    assert_eq!(
        ids(s.connections_by_routing_key("gh", "101", 1).await.unwrap()),
        ["g1"]
    );
    assert_eq!(
        ids(s.connections_by_routing_key("gh", "202", 10).await.unwrap()),
        ["g2"]
    );
    assert!(
        s.connections_by_routing_key("gh", "999", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.connections_by_routing_key("gh", "", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.connections_by_routing_key("nobody", "101", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Refresh leases and fencing
// ---------------------------------------------------------------------------------------

/// A refresh lease is exclusive until its end; after it, it is taken over with the next
/// fence, and a refused request changes nothing.
pub async fn lease_is_exclusive_until_it_expires_then_taken_over_with_a_higher_fence(
    s: Arc<dyn Store>,
) {
    add(&*s, "conn_1", "github", "u1").await;
    let now = at(MIN);
    let until = at(2 * MIN);

    let first = s.acquire_refresh_lease("conn_1", now, until).await.unwrap();
    assert_eq!(
        first,
        Some(Lease {
            fence: 1,
            token_version: 1
        })
    );
    // Held: refused, whether asked at the same time or just before it expires.
    assert_eq!(
        s.acquire_refresh_lease("conn_1", now, until).await.unwrap(),
        None
    );
    assert_eq!(
        s.acquire_refresh_lease("conn_1", at(2 * MIN - 1), at(5 * MIN))
            .await
            .unwrap(),
        None
    );
    // A refusal does not change the lease: it still ends at `until` (not at the refused
    // request's end), and the fence taken over below is the next one.

    // Expired: taken over, with a higher fence.
    let second = s
        .acquire_refresh_lease("conn_1", until, at(4 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.fence, 2);
    assert_eq!(second.token_version, 1);
    assert_eq!(
        s.acquire_refresh_lease("conn_1", at(3 * MIN), at(5 * MIN))
            .await
            .unwrap(),
        None
    );
    // The connection itself did not change.
    let c = s.get_connection("conn_1").await.unwrap().unwrap();
    assert_eq!(c.token_version, 1);
    assert_eq!(c.updated_at, at(0));

    // Unknown connection: no lease.
    assert_eq!(
        s.acquire_refresh_lease("conn_2", now, until).await.unwrap(),
        None
    );
}

/// A lease is free at exactly its end time.
pub async fn lease_is_free_at_exactly_its_expiry(s: Arc<dyn Store>) {
    add(&*s, "conn_1", "github", "u1").await;
    s.acquire_refresh_lease("conn_1", at(0), at(MIN))
        .await
        .unwrap()
        .unwrap();
    let l = s
        .acquire_refresh_lease("conn_1", at(MIN), at(2 * MIN))
        .await
        .unwrap();
    assert_eq!(l.map(|l| l.fence), Some(2));
}

/// Stale or never-issued fences commit nothing; the current holder's commit writes
/// credentials, expiry, scopes and state, bumps both versions and releases the lease.
pub async fn commit_with_a_stale_fence_writes_nothing_and_the_current_one_wins(s: Arc<dyn Store>) {
    add(&*s, "conn_1", "github", "u1").await;
    let old = s
        .acquire_refresh_lease("conn_1", at(MIN), at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    let now = at(3 * MIN);
    let current = s
        .acquire_refresh_lease("conn_1", now, at(4 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert!(current.fence > old.fence);
    let before = snapshot(&*s, "conn_1").await;

    // The refresher whose lease was taken over loses, with success or failure.
    assert!(
        !s.commit_refresh("conn_1", old.fence, &success(creds("k9", b"stale"), now))
            .await
            .unwrap()
    );
    assert!(
        !s.commit_refresh(
            "conn_1",
            old.fence,
            &failure(now, ConnectionStatus::NeedsReauth, "invalid_grant")
        )
        .await
        .unwrap()
    );
    // Fences that were never handed out lose too.
    for fence in [0, current.fence + 1, -1, i64::MAX] {
        assert!(
            !s.commit_refresh("conn_1", fence, &success(creds("k9", b"bogus"), now))
                .await
                .unwrap()
        );
    }
    // Nothing written: credentials, expiry, scopes, version, lease, secret version.
    assert_eq!(snapshot(&*s, "conn_1").await, before);

    // The current holder commits.
    let commit = success(creds("k2", b"fresh"), now);
    assert!(
        s.commit_refresh("conn_1", current.fence, &commit)
            .await
            .unwrap()
    );
    let (c, cr) = s
        .get_connection_credentials("conn_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cr, creds("k2", b"fresh"));
    assert_eq!(c.token_version, 2);
    assert_eq!(c.expires_at, commit.expires_at);
    assert_eq!(c.scopes, commit.scopes);
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(c.last_refresh_at, Some(now));
    assert_eq!(c.last_error, None);
    assert_eq!(c.refresh_failures, 0);
    assert_eq!(c.next_refresh_at, commit.next_refresh_at);
    assert_eq!(c.updated_at, now);
    // Untouched by a refresh.
    let original = before.connection.unwrap();
    assert_eq!(c.created_at, original.created_at);
    assert_eq!(c.missing_scopes, original.missing_scopes);
    assert_eq!(c.settings, original.settings);
    assert_eq!(c.provider, original.provider);
    let secret = s
        .get_secret(&credentials_slot("conn_1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            secret.key_id.as_str(),
            secret.ciphertext.as_slice(),
            secret.version
        ),
        ("k2", b"fresh".as_slice(), 2)
    );
    assert_eq!(secret.updated_at, now);

    // The lease is released: a new one can be taken at the same `now`, which sees the new
    // version.
    let next = s
        .acquire_refresh_lease("conn_1", now, at(4 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert!(next.fence > current.fence);
    assert_eq!(next.token_version, 2);
    // And the older holders still lose.
    assert!(
        !s.commit_refresh("conn_1", current.fence, &success(creds("k9", b"late"), now))
            .await
            .unwrap()
    );
    assert_eq!(
        s.get_connection_credentials("conn_1")
            .await
            .unwrap()
            .unwrap()
            .1,
        creds("k2", b"fresh")
    );
}

/// A refresher whose lease ran out while the provider was answering, and that nobody
/// took over, still commits: the provider may already have rotated the refresh token,
/// and dropping the answer would lose the only valid one.
pub async fn lease_lapsed_but_not_taken_over_still_commits(s: Arc<dyn Store>) {
    add(&*s, "conn_1", "github", "u1").await;
    let lease = s
        .acquire_refresh_lease("conn_1", at(MIN), at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    // Well past the lease's end; nobody asked for the lease meanwhile.
    let late = at(5 * MIN);
    let commit = success(creds("k1", b"rotated"), late);
    assert!(
        s.commit_refresh("conn_1", lease.fence, &commit)
            .await
            .unwrap(),
        "a lapsed lease that nobody took over must still commit"
    );
    let (c, cr) = s
        .get_connection_credentials("conn_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cr, creds("k1", b"rotated"));
    assert_eq!(c.token_version, 2);
    assert_eq!(c.last_refresh_at, Some(late));
    assert_eq!(c.expires_at, commit.expires_at);
    // The commit released the lease and moved the fence: the old fence is spent, and the
    // next refresher takes the lease at once and sees the new version.
    assert!(
        !s.commit_refresh("conn_1", lease.fence, &commit)
            .await
            .unwrap()
    );
    let next = s
        .acquire_refresh_lease("conn_1", late, at(6 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert!(next.fence > lease.fence);
    assert_eq!(next.token_version, 2);
}

/// Once another refresher has taken a lapsed lease over, the old holder's commit (and
/// release) is refused and writes nothing, before and after the new holder commits; the
/// new holder's commit lands.
pub async fn lease_lapsed_and_taken_over_refuses_the_old_holder(s: Arc<dyn Store>) {
    add(&*s, "conn_1", "github", "u1").await;
    let old = s
        .acquire_refresh_lease("conn_1", at(MIN), at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    let new = s
        .acquire_refresh_lease("conn_1", at(3 * MIN), at(4 * MIN))
        .await
        .unwrap()
        .expect("a lapsed lease is taken over");
    assert!(new.fence > old.fence);
    let before = snapshot(&*s, "conn_1").await;

    let stale = success(creds("k1", b"old-holder"), at(3 * MIN + SEC));
    assert!(
        !s.commit_refresh("conn_1", old.fence, &stale).await.unwrap(),
        "the old holder must lose once its lease was taken over"
    );
    assert!(!s.release_refresh_lease("conn_1", old.fence).await.unwrap());
    assert_eq!(snapshot(&*s, "conn_1").await, before);
    // The takeover still holds: nobody else gets the lease.
    assert_eq!(
        s.acquire_refresh_lease("conn_1", at(3 * MIN + SEC), at(5 * MIN))
            .await
            .unwrap(),
        None
    );

    assert!(
        s.commit_refresh(
            "conn_1",
            new.fence,
            &success(creds("k1", b"new-holder"), at(3 * MIN + 2 * SEC))
        )
        .await
        .unwrap()
    );
    assert!(!s.commit_refresh("conn_1", old.fence, &stale).await.unwrap());
    let (c, cr) = s
        .get_connection_credentials("conn_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cr, creds("k1", b"new-holder"));
    assert_eq!(c.token_version, 2);
}

/// A failed refresh writes status, error and backoff but keeps credentials, expiry,
/// scopes and versions.
pub async fn failed_refresh_commit_writes_state_but_keeps_credentials_and_version(
    s: Arc<dyn Store>,
) {
    let mut c = conn("conn_1", "github", "u1");
    c.last_refresh_at = Some(at(-10 * MIN));
    let original = create(&*s, &c, &creds("k1", b"tokens")).await;
    let now = at(MIN);
    let lease = s
        .acquire_refresh_lease("conn_1", now, at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    let secret_before = s
        .get_secret(&credentials_slot("conn_1"))
        .await
        .unwrap()
        .unwrap();

    let commit = failure(now, ConnectionStatus::Error, "provider said 503");
    assert!(
        s.commit_refresh("conn_1", lease.fence, &commit)
            .await
            .unwrap()
    );
    let (got, cr) = s
        .get_connection_credentials("conn_1")
        .await
        .unwrap()
        .unwrap();
    // Written.
    assert_eq!(got.status, ConnectionStatus::Error);
    assert_eq!(got.last_error.as_deref(), Some("provider said 503"));
    assert_eq!(got.refresh_failures, 3);
    assert_eq!(got.next_refresh_at, commit.next_refresh_at);
    assert_eq!(got.updated_at, now);
    // Kept.
    assert_eq!(cr, creds("k1", b"tokens"));
    assert_eq!(got.token_version, original.token_version);
    assert_eq!(got.expires_at, original.expires_at);
    assert_eq!(got.scopes, original.scopes);
    assert_eq!(got.last_refresh_at, Some(at(-10 * MIN)));
    assert_eq!(
        s.get_secret(&credentials_slot("conn_1")).await.unwrap(),
        Some(secret_before)
    );

    // The lease is released (same `now`), and needs_reauth is written the same way.
    let lease = s
        .acquire_refresh_lease("conn_1", now, at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.token_version, original.token_version);
    assert!(
        s.commit_refresh(
            "conn_1",
            lease.fence,
            &failure(at(90 * SEC), ConnectionStatus::NeedsReauth, "invalid_grant"),
        )
        .await
        .unwrap()
    );
    let got = s.get_connection("conn_1").await.unwrap().unwrap();
    assert_eq!(got.status, ConnectionStatus::NeedsReauth);
    assert_eq!(got.last_error.as_deref(), Some("invalid_grant"));
    assert_eq!(got.token_version, original.token_version);
    assert_eq!(got.last_refresh_at, Some(at(-10 * MIN)));
}

/// Only the current holder releases a lease; a released fence can neither commit nor
/// release again.
pub async fn release_frees_the_lease_only_for_its_holder(s: Arc<dyn Store>) {
    add(&*s, "conn_1", "github", "u1").await;
    let now = at(MIN);
    let first = s
        .acquire_refresh_lease("conn_1", now, at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    let before = s.get_connection_credentials("conn_1").await.unwrap();
    assert!(
        s.release_refresh_lease("conn_1", first.fence)
            .await
            .unwrap()
    );
    // Nothing but the lease changed.
    assert_eq!(
        s.get_connection_credentials("conn_1").await.unwrap(),
        before
    );
    // Released: the old fence can no longer commit (nor release again).
    assert!(
        !s.commit_refresh("conn_1", first.fence, &success(creds("k9", b"late"), now))
            .await
            .unwrap()
    );
    assert!(
        !s.release_refresh_lease("conn_1", first.fence)
            .await
            .unwrap()
    );
    assert_eq!(
        s.get_connection_credentials("conn_1").await.unwrap(),
        before
    );

    // Free: taken at the same `now`.
    let second = s
        .acquire_refresh_lease("conn_1", now, at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert!(second.fence > first.fence);
    // A stale fence neither releases nor disturbs the current lease.
    assert!(
        !s.release_refresh_lease("conn_1", first.fence)
            .await
            .unwrap()
    );
    assert_eq!(
        s.acquire_refresh_lease("conn_1", now, at(2 * MIN))
            .await
            .unwrap(),
        None
    );
    assert!(
        !s.release_refresh_lease("conn_2", second.fence)
            .await
            .unwrap()
    );
    assert!(
        s.release_refresh_lease("conn_1", second.fence)
            .await
            .unwrap()
    );
    assert!(
        s.acquire_refresh_lease("conn_1", now, at(2 * MIN))
            .await
            .unwrap()
            .is_some()
    );
}

/// A commit for a connection deleted meanwhile is refused and writes no secret.
pub async fn commit_for_a_deleted_connection_is_refused_and_writes_no_secret(s: Arc<dyn Store>) {
    add(&*s, "conn_1", "github", "u1").await;
    let lease = s
        .acquire_refresh_lease("conn_1", at(MIN), at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert!(s.delete_connection("conn_1").await.unwrap());
    assert!(
        !s.commit_refresh("conn_1", lease.fence, &success(creds("k1", b"x"), at(MIN)))
            .await
            .unwrap()
    );
    assert_eq!(s.get_connection("conn_1").await.unwrap(), None);
    assert_eq!(
        s.get_secret(&credentials_slot("conn_1")).await.unwrap(),
        None
    );
    assert!(
        !s.release_refresh_lease("conn_1", lease.fence)
            .await
            .unwrap()
    );
}

/// A commit after a disconnect (revoke) is refused: the connection stays revoked,
/// without credentials.
pub async fn commit_after_revoke_does_not_resurrect_the_connection(s: Arc<dyn Store>) {
    add(&*s, "conn_1", "github", "u1").await;
    let lease = s
        .acquire_refresh_lease("conn_1", at(MIN), at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    // The user disconnects while the refresh is in flight.
    assert!(s.revoke_connection("conn_1", at(MIN + SEC)).await.unwrap());
    let revoked = snapshot(&*s, "conn_1").await;

    let committed = s
        .commit_refresh(
            "conn_1",
            lease.fence,
            &success(creds("k1", b"refreshed"), at(MIN + 2 * SEC)),
        )
        .await
        .unwrap();
    assert!(!committed, "the lease must be lost by the revocation");
    assert_eq!(snapshot(&*s, "conn_1").await, revoked);
    let c = s.get_connection("conn_1").await.unwrap().unwrap();
    assert_eq!(c.status, ConnectionStatus::Revoked);
    assert_eq!(s.get_connection_credentials("conn_1").await.unwrap(), None);
    assert_eq!(
        s.get_secret(&credentials_slot("conn_1")).await.unwrap(),
        None
    );
}

/// Fifty tasks on each of two handles race for one lease, then for its takeover:
/// exactly one wins each time.
pub async fn two_handles_race_for_a_lease_and_exactly_one_wins(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    add(&*a, "conn_1", "github", "u1").await;

    async fn race(
        a: &Arc<dyn Store>,
        b: &Arc<dyn Store>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<Lease> {
        let mut tasks = Vec::new();
        for store in [a, b] {
            for _ in 0..50 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    store.acquire_refresh_lease("conn_1", now, until).await
                }));
            }
        }
        let mut won = Vec::new();
        for t in tasks {
            if let Some(l) = t.await.unwrap().unwrap() {
                won.push(l);
            }
        }
        won
    }

    let won = race(&a, &b, at(MIN), at(2 * MIN)).await;
    assert_eq!(
        won,
        [Lease {
            fence: 1,
            token_version: 1
        }]
    );
    // The other handle sees it held until its end.
    assert_eq!(
        b.acquire_refresh_lease("conn_1", at(2 * MIN - 1), at(3 * MIN))
            .await
            .unwrap(),
        None
    );

    // After it expires, the takeover race has exactly one winner too.
    let won = race(&a, &b, at(3 * MIN), at(4 * MIN)).await;
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(won[0].fence, 2);

    // The loser's fence (1) is stale in the other store too.
    assert!(
        !b.commit_refresh("conn_1", 1, &success(creds("k1", b"stale"), at(3 * MIN)))
            .await
            .unwrap()
    );
    assert!(
        a.commit_refresh("conn_1", 2, &success(creds("k1", b"fresh"), at(3 * MIN)))
            .await
            .unwrap()
    );
    let (c, cr) = b
        .get_connection_credentials("conn_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cr.ciphertext, b"fresh");
    assert_eq!(c.token_version, 2);
}

/// After a takeover, the old and the new holder commit at the same time from two
/// handles: only the new one's credentials land, and the version moves by one.
pub async fn concurrent_commits_from_two_handles_write_once(a: Arc<dyn Store>, b: Arc<dyn Store>) {
    for i in 0..20 {
        let id = format!("conn_{i}");
        add(&*a, &id, "github", "u1").await;
        let old = a
            .acquire_refresh_lease(&id, at(0), at(MIN))
            .await
            .unwrap()
            .unwrap();
        let new = b
            .acquire_refresh_lease(&id, at(2 * MIN), at(3 * MIN))
            .await
            .unwrap()
            .unwrap();
        let old_commit = success(creds("k1", b"old"), at(2 * MIN));
        let new_commit = success(creds("k1", b"new"), at(2 * MIN));
        let (x, y) = tokio::join!(
            a.commit_refresh(&id, old.fence, &old_commit),
            b.commit_refresh(&id, new.fence, &new_commit),
        );
        assert_eq!((x.unwrap(), y.unwrap()), (false, true), "{id}");
        let (c, cr) = a.get_connection_credentials(&id).await.unwrap().unwrap();
        assert_eq!(cr.ciphertext, b"new", "{id}");
        assert_eq!(c.token_version, 2, "{id}");
    }
}

// ---------------------------------------------------------------------------------------
// Revoke, delete, status, due
// ---------------------------------------------------------------------------------------

/// Revoking marks the connection revoked, deletes its credentials, bumps its version and
/// takes it off the refresh schedule; a reconnect brings it back.
pub async fn revoke_marks_revoked_deletes_credentials_and_bumps_the_version(s: Arc<dyn Store>) {
    let original = add(&*s, "conn_1", "github", "u1").await;
    add(&*s, "conn_2", "github", "u1").await;

    assert!(s.revoke_connection("conn_1", at(5 * MIN)).await.unwrap());
    let c = s.get_connection("conn_1").await.unwrap().unwrap();
    assert_eq!(c.status, ConnectionStatus::Revoked);
    assert_eq!(c.token_version, original.token_version + 1);
    assert_eq!(c.updated_at, at(5 * MIN));
    assert_eq!(c.created_at, original.created_at);
    assert_eq!(
        c.next_refresh_at, None,
        "a revoked connection is not refreshed"
    );
    assert_eq!(s.get_connection_credentials("conn_1").await.unwrap(), None);
    assert_eq!(
        s.get_secret(&credentials_slot("conn_1")).await.unwrap(),
        None
    );
    // Not due any more.
    assert!(!ids(&s.connections_due(at(100 * MIN), 100).await.unwrap()).contains(&"conn_1"));
    // The other connection is untouched.
    assert_eq!(
        s.get_connection_credentials("conn_2")
            .await
            .unwrap()
            .unwrap()
            .1,
        creds("k1", b"conn_2")
    );

    // Unknown id.
    assert!(!s.revoke_connection("conn_9", at(5 * MIN)).await.unwrap());
    assert_eq!(s.get_connection("conn_9").await.unwrap(), None);

    // A reconnect after revocation brings it back with new credentials.
    let again = match s
        .upsert_connection(&conn("conn_1", "github", "u1"), &creds("k1", b"back"))
        .await
        .unwrap()
    {
        Upsert::Replaced(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(again.status, ConnectionStatus::Active);
    assert_eq!(again.token_version, original.token_version + 2);
    assert_eq!(
        s.get_connection_credentials("conn_1")
            .await
            .unwrap()
            .unwrap()
            .1,
        creds("k1", b"back")
    );
}

/// Deleting removes the connection and every secret of its row, once; the id is free
/// again.
pub async fn delete_removes_the_row_and_its_secrets_once(s: Arc<dyn Store>) {
    add(&*s, "conn_1", "github", "u1").await;
    add(&*s, "conn_2", "github", "u1").await;
    // Some other secret of the same owner row goes as well; others stay.
    s.put_secret(
        &SecretSlot::new("connections", "conn_1", "extra"),
        "k1",
        b"e",
    )
    .await
    .unwrap();
    s.put_secret(
        &SecretSlot::new("integrations", "conn_1", "credentials"),
        "k1",
        b"i",
    )
    .await
    .unwrap();

    assert!(s.delete_connection("conn_1").await.unwrap());
    assert_eq!(s.get_connection("conn_1").await.unwrap(), None);
    assert_eq!(s.get_connection_credentials("conn_1").await.unwrap(), None);
    assert_eq!(
        s.get_secret(&credentials_slot("conn_1")).await.unwrap(),
        None
    );
    assert_eq!(
        s.get_secret(&SecretSlot::new("connections", "conn_1", "extra"))
            .await
            .unwrap(),
        None
    );
    assert!(
        s.get_secret(&SecretSlot::new("integrations", "conn_1", "credentials"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.get_connection_credentials("conn_2")
            .await
            .unwrap()
            .is_some()
    );

    assert!(!s.delete_connection("conn_1").await.unwrap());
    assert!(!s.delete_connection("conn_9").await.unwrap());

    // The id is free again, for anybody.
    assert!(matches!(
        s.upsert_connection(&conn("conn_1", "slack", "u7"), &creds("k1", b"new"))
            .await
            .unwrap(),
        Upsert::Created(c) if c.token_version == 1
    ));
}

/// A connection's own signing key is written with its row in one upsert, replaced or
/// removed by the next upsert (a plain one removes it), left alone when the id is
/// taken, rotated like any secret, and gone after a revoke or a delete.
pub async fn a_signing_key_goes_with_the_connections_row(s: Arc<dyn Store>) {
    let key = |b: &[u8]| creds("k1", b);
    let keyed = |id: &str, k: Option<&SealedCredentials>| {
        let s = Arc::clone(&s);
        let c = conn(id, "sa", "u1");
        let k = k.cloned();
        async move {
            s.upsert_connection_keyed(&c, &creds("k1", b"tokens"), k.as_ref())
                .await
                .unwrap()
        }
    };
    let stored = |id: &str| {
        let s = Arc::clone(&s);
        let slot = signing_key_slot(id);
        async move { s.get_secret(&slot).await.unwrap().map(|x| x.ciphertext) }
    };
    assert!(matches!(
        keyed("conn_1", Some(&key(b"key-one"))).await,
        Upsert::Created(_)
    ));
    assert_eq!(stored("conn_1").await, Some(b"key-one".to_vec()));
    assert_eq!(
        s.get_secret(&signing_key_slot("conn_1"))
            .await
            .unwrap()
            .unwrap()
            .slot,
        SecretSlot::new("connections", "conn_1", "signing_key")
    );
    // The credentials are where they always are.
    assert_eq!(
        s.get_connection_credentials("conn_1")
            .await
            .unwrap()
            .unwrap()
            .1,
        creds("k1", b"tokens")
    );
    // A reconnect with another key replaces it; a refresh leaves it as it is.
    assert!(matches!(
        keyed("conn_1", Some(&key(b"key-two"))).await,
        Upsert::Replaced(_)
    ));
    assert_eq!(stored("conn_1").await, Some(b"key-two".to_vec()));
    let lease = s
        .acquire_refresh_lease("conn_1", at(MIN), at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.commit_refresh(
            "conn_1",
            lease.fence,
            &success(creds("k1", b"new"), at(MIN))
        )
        .await
        .unwrap()
    );
    assert_eq!(stored("conn_1").await, Some(b"key-two".to_vec()));
    // Another end user's upsert of the id is taken and writes no key.
    assert_eq!(
        s.upsert_connection_keyed(
            &conn("conn_1", "sa", "u2"),
            &creds("k1", b"x"),
            Some(&key(b"key-mallory"))
        )
        .await
        .unwrap(),
        Upsert::Taken
    );
    assert_eq!(stored("conn_1").await, Some(b"key-two".to_vec()));
    // Key rotation sees it like every other secret.
    let not_under = s.secrets_not_under("k2", None, 100).await.unwrap();
    assert!(
        not_under
            .iter()
            .any(|x| x.slot == signing_key_slot("conn_1")),
        "{not_under:?}"
    );
    // A reconnect without a key of its own removes it, and so does the plain upsert.
    keyed("conn_1", None).await;
    assert_eq!(stored("conn_1").await, None);
    keyed("conn_1", Some(&key(b"key-three"))).await;
    s.upsert_connection(&conn("conn_1", "sa", "u1"), &creds("k1", b"t"))
        .await
        .unwrap();
    assert_eq!(stored("conn_1").await, None);
    // Revoke and delete take it with the credentials; other connections keep theirs.
    keyed("conn_1", Some(&key(b"key-four"))).await;
    keyed("conn_2", Some(&key(b"key-other"))).await;
    keyed("conn_3", Some(&key(b"key-third"))).await;
    assert!(s.revoke_connection("conn_1", at(5 * MIN)).await.unwrap());
    assert_eq!(stored("conn_1").await, None);
    assert!(s.delete_connection("conn_2").await.unwrap());
    assert_eq!(stored("conn_2").await, None);
    assert_eq!(stored("conn_3").await, Some(b"key-third".to_vec()));
}

/// Setting a status writes status, last error and `updated_at`, nothing else.
pub async fn set_status_writes_status_error_and_time_only(s: Arc<dyn Store>) {
    let original = add(&*s, "conn_1", "github", "u1").await;
    assert!(
        s.set_connection_status(
            "conn_1",
            ConnectionStatus::NeedsReauth,
            Some("invalid_grant"),
            at(MIN)
        )
        .await
        .unwrap()
    );
    let (c, cr) = s
        .get_connection_credentials("conn_1")
        .await
        .unwrap()
        .unwrap();
    let mut expected = original.clone();
    expected.status = ConnectionStatus::NeedsReauth;
    expected.last_error = Some("invalid_grant".to_owned());
    expected.updated_at = at(MIN);
    assert_eq!(c, expected);
    assert_eq!(cr, creds("k1", b"conn_1"));

    // Back to active, error cleared.
    assert!(
        s.set_connection_status("conn_1", ConnectionStatus::Active, None, at(2 * MIN))
            .await
            .unwrap()
    );
    let c = s.get_connection("conn_1").await.unwrap().unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(c.last_error, None);
    assert_eq!(c.updated_at, at(2 * MIN));
    assert_eq!(c.token_version, original.token_version);

    assert!(
        !s.set_connection_status("conn_9", ConnectionStatus::Error, None, at(MIN))
            .await
            .unwrap()
    );
}

/// Due connections are the active ones whose `next_refresh_at` has come, soonest first.
pub async fn due_are_active_due_ones_soonest_first(s: Arc<dyn Store>) {
    let due = at(10 * MIN);
    let make = |id: &str, next: Option<i64>| {
        let mut c = conn(id, "github", id);
        c.next_refresh_at = next.map(at);
        c
    };
    let fixtures = [
        make("d_late", Some(10 * MIN - 1)),
        make("d_first", Some(-5 * MIN)),
        make("d_exact", Some(10 * MIN)),
        make("d_mid", Some(MIN)),
        make("not_yet", Some(10 * MIN + 1)),
        make("never", None),
        make("reauth", Some(0)),
        make("error", Some(0)),
        make("revoked", Some(0)),
    ];
    for c in &fixtures {
        create(&*s, c, &creds("k1", b"x")).await;
    }
    s.set_connection_status("reauth", ConnectionStatus::NeedsReauth, None, at(0))
        .await
        .unwrap();
    s.set_connection_status("error", ConnectionStatus::Error, None, at(0))
        .await
        .unwrap();
    s.set_connection_status("revoked", ConnectionStatus::Revoked, None, at(0))
        .await
        .unwrap();

    assert_eq!(
        ids(&s.connections_due(due, 100).await.unwrap()),
        ["d_first", "d_mid", "d_late", "d_exact"]
    );
    assert_eq!(
        ids(&s.connections_due(due, 2).await.unwrap()),
        ["d_first", "d_mid"]
    );
    assert!(s.connections_due(due, 0).await.unwrap().is_empty());
    assert!(
        s.connections_due(at(-6 * MIN), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&s.connections_due(at(10 * MIN + 1), 100).await.unwrap()),
        ["d_first", "d_mid", "d_late", "d_exact", "not_yet"]
    );
    // Full rows.
    let got = s.connections_due(due, 1).await.unwrap();
    assert_eq!(got[0], s.get_connection("d_first").await.unwrap().unwrap());

    // A successful refresh moves it back.
    let l = s
        .acquire_refresh_lease("d_first", due, at(11 * MIN))
        .await
        .unwrap()
        .unwrap();
    let mut commit = success(creds("k1", b"y"), due);
    commit.next_refresh_at = Some(at(60 * MIN));
    assert!(s.commit_refresh("d_first", l.fence, &commit).await.unwrap());
    assert_eq!(
        ids(&s.connections_due(due, 100).await.unwrap()),
        ["d_mid", "d_late", "d_exact"]
    );
}

// ---------------------------------------------------------------------------------------
// Connect sessions and OAuth states
// ---------------------------------------------------------------------------------------

/// Connect sessions round-trip by token hash (expired ones too), and a duplicate hash is
/// refused without touching the original.
pub async fn connect_sessions_round_trip_by_hash_and_refuse_duplicates(s: Arc<dyn Store>) {
    let a = session(&[1; 32], at(15 * MIN));
    let mut b = session(&[2; 32], at(15 * MIN));
    b.connection_id = None;
    b.return_to = None;
    b.opener_origin = None;
    b.integrations = vec![];
    s.insert_connect_session(&a).await.unwrap();
    s.insert_connect_session(&b).await.unwrap();

    assert_eq!(
        s.get_connect_session(&[1; 32]).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(s.get_connect_session(&[2; 32]).await.unwrap(), Some(b));
    assert_eq!(s.get_connect_session(&[3; 32]).await.unwrap(), None);
    assert_eq!(s.get_connect_session(&[1; 31]).await.unwrap(), None);
    assert_eq!(s.get_connect_session(&[]).await.unwrap(), None);

    // Duplicate hash: an error, and the original is intact.
    let mut dup = session(&[1; 32], at(99 * MIN));
    dup.end_user_id = "intruder".to_owned();
    let e = s.insert_connect_session(&dup).await.unwrap_err();
    assert!(
        matches!(e, StoreError::Conflict(_) | StoreError::Backend(_)),
        "{e:?}"
    );
    assert_eq!(
        s.get_connect_session(&[1; 32]).await.unwrap(),
        Some(a.clone())
    );

    // Reading does not consume, and expired sessions are still returned.
    assert_eq!(s.get_connect_session(&[1; 32]).await.unwrap(), Some(a));
    let old = session(&[4; 32], at(-MIN));
    s.insert_connect_session(&old).await.unwrap();
    assert_eq!(s.get_connect_session(&[4; 32]).await.unwrap(), Some(old));
}

/// An OAuth state is handed out once, expired or not; a duplicate hash is refused.
pub async fn oauth_state_is_taken_once(s: Arc<dyn Store>) {
    let st = state(&[9; 32], at(10 * MIN));
    let mut other = state(&[8; 32], at(-MIN)); // already expired: still taken
    other.settings = BTreeMap::new();
    other.return_to = Some("https://app.example/back".to_owned());
    s.insert_oauth_state(&st).await.unwrap();
    s.insert_oauth_state(&other).await.unwrap();

    let e = s.insert_oauth_state(&state(&[9; 32], at(MIN))).await;
    assert!(e.is_err(), "duplicate state hash must fail: {e:?}");

    assert_eq!(s.take_oauth_state(&[9; 32]).await.unwrap(), Some(st));
    assert_eq!(s.take_oauth_state(&[9; 32]).await.unwrap(), None);
    assert_eq!(s.take_oauth_state(&[7; 32]).await.unwrap(), None);
    assert_eq!(s.take_oauth_state(&[8; 32]).await.unwrap(), Some(other));
    assert_eq!(s.take_oauth_state(&[8; 32]).await.unwrap(), None);
}

/// Two handles take the same state at once: exactly one gets it.
pub async fn concurrent_takes_from_two_handles_hand_a_state_out_once(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    for i in 0..30u8 {
        let st = state(&[i; 32], at(10 * MIN));
        a.insert_oauth_state(&st).await.unwrap();
        let hash = [i; 32];
        let (x, y) = tokio::join!(a.take_oauth_state(&hash), b.take_oauth_state(&hash));
        let got: Vec<OAuthState> = [x.unwrap(), y.unwrap()].into_iter().flatten().collect();
        assert_eq!(got, [st], "state {i}");
    }
}

/// Purging removes sessions and states that expired before `now`, nothing else.
pub async fn purge_removes_only_expired_sessions_and_states(s: Arc<dyn Store>) {
    let now = at(10 * MIN);
    for (i, exp) in [
        (1u8, 5 * MIN),
        (2, 10 * MIN - 1),
        (3, 10 * MIN),
        (4, 20 * MIN),
    ] {
        s.insert_connect_session(&session(&[i; 32], at(exp)))
            .await
            .unwrap();
        s.insert_oauth_state(&state(&[i; 32], at(exp)))
            .await
            .unwrap();
    }
    // Two sessions and two states expired before `now`.
    assert_eq!(s.purge_expired_flows(now).await.unwrap(), 4);
    assert_eq!(s.purge_expired_flows(now).await.unwrap(), 0);
    for i in [1u8, 2] {
        assert_eq!(s.get_connect_session(&[i; 32]).await.unwrap(), None);
        assert_eq!(s.take_oauth_state(&[i; 32]).await.unwrap(), None);
    }
    for i in [3u8, 4] {
        assert!(s.get_connect_session(&[i; 32]).await.unwrap().is_some());
    }
    // Later, the rest goes.
    assert_eq!(s.purge_expired_flows(at(30 * MIN)).await.unwrap(), 4);
    assert!(s.get_connect_session(&[4; 32]).await.unwrap().is_none());
    assert!(s.take_oauth_state(&[4; 32]).await.unwrap().is_none());
    // Connections are not flows.
    add(&*s, "conn_1", "github", "u1").await;
    assert_eq!(s.purge_expired_flows(at(1_000 * MIN)).await.unwrap(), 0);
    assert!(s.get_connection("conn_1").await.unwrap().is_some());
}

// ---------------------------------------------------------------------------------------
// Corrupt rows
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// Key rotation
// ---------------------------------------------------------------------------------------

/// Key rotation finds connection credentials in their slot and never overwrites
/// credentials a refresh or a reconnect wrote after rotation read them.
pub async fn rotation_sees_connection_credentials_and_never_overwrites_a_newer_refresh(
    s: Arc<dyn Store>,
) {
    add(&*s, "conn_1", "github", "u1").await;
    s.put_secret(
        &SecretSlot::new("integrations", "github", "client_secret"),
        "k2",
        b"cs",
    )
    .await
    .unwrap();

    // Rotation to k2 finds the credentials (sealed under k1) in their slot.
    assert_eq!(s.count_secrets_not_under("k2").await.unwrap(), 1);
    let todo = s.secrets_not_under("k2", None, 10).await.unwrap();
    assert_eq!(todo.len(), 1);
    let read = &todo[0];
    assert_eq!(read.slot, credentials_slot("conn_1"));
    assert_eq!(
        (read.slot.owner.as_str(), read.slot.name.as_str()),
        ("connections", "credentials")
    );
    assert_eq!(read.key_id, "k1");
    assert_eq!(read.ciphertext, b"conn_1");
    assert_eq!(read.version, 1);

    // Meanwhile a refresh writes new credentials (still under k1).
    let l = s
        .acquire_refresh_lease("conn_1", at(MIN), at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.commit_refresh("conn_1", l.fence, &success(creds("k1", b"newer"), at(MIN)))
            .await
            .unwrap()
    );

    // Rotation's write-back of the old value is refused.
    assert!(
        !s.replace_secret_if(&read.slot, read.version, "k2", b"old-resealed")
            .await
            .unwrap()
    );
    let (c, cr) = s
        .get_connection_credentials("conn_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cr, creds("k1", b"newer"));
    assert_eq!(c.token_version, 2);

    // Rotation retries with what it reads now, and the connection sees the resealed
    // value under the new key (a reseal is not a new token: version unchanged).
    let todo = s.secrets_not_under("k2", None, 10).await.unwrap();
    assert_eq!(todo.len(), 1);
    assert_eq!(todo[0].ciphertext, b"newer");
    assert!(
        s.replace_secret_if(&todo[0].slot, todo[0].version, "k2", b"newer-resealed")
            .await
            .unwrap()
    );
    let (c, cr) = s
        .get_connection_credentials("conn_1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cr, creds("k2", b"newer-resealed"));
    assert_eq!(c.token_version, 2);
    assert_eq!(s.count_secrets_not_under("k2").await.unwrap(), 0);

    // And a reconnect after that also bumps the secret's version, so a rotation that read
    // before it loses as well.
    let before = s
        .get_secret(&credentials_slot("conn_1"))
        .await
        .unwrap()
        .unwrap();
    s.upsert_connection(
        &conn("conn_1", "github", "u1"),
        &creds("k2", b"reconnected"),
    )
    .await
    .unwrap();
    assert!(
        !s.replace_secret_if(&before.slot, before.version, "k3", b"x")
            .await
            .unwrap()
    );
    assert_eq!(
        s.get_connection_credentials("conn_1")
            .await
            .unwrap()
            .unwrap()
            .1,
        creds("k2", b"reconnected")
    );
}

const OLD: [u8; 8] = [0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71];
const NEW: [u8; 8] = [0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89];

/// Authorization states are counted by the key in their sealed value's header (lowercase
/// hex, as `secrets.key_id`), and only while they can still be used: a state expiring
/// exactly at `now` counts (purging at `now` keeps it), an expired one does not.
pub async fn oauth_state_key_ids_count_unexpired_states_by_the_key_in_their_header(
    s: Arc<dyn Store>,
) {
    let now = at(10 * MIN);
    assert!(s.oauth_state_key_ids(now).await.unwrap().is_empty());
    for (i, key, exp) in [
        (1u8, OLD, 20 * MIN),
        (2, OLD, 10 * MIN),
        (3, NEW, 20 * MIN),
        (4, OLD, 5 * MIN),
        (5, NEW, 10 * MIN - 1),
    ] {
        s.insert_oauth_state(&state_under(&[i; 32], key, b"verifier", at(exp)))
            .await
            .unwrap();
    }
    let expected = vec![(key_hex(OLD), 2), (key_hex(NEW), 1)];
    assert_eq!(s.oauth_state_key_ids(now).await.unwrap(), expected);
    // Earlier, the expired ones still count.
    assert_eq!(
        s.oauth_state_key_ids(at(0)).await.unwrap(),
        vec![(key_hex(OLD), 3), (key_hex(NEW), 2)]
    );
    s.purge_expired_flows(now).await.unwrap();
    assert_eq!(s.oauth_state_key_ids(now).await.unwrap(), expected);
    // A used state is gone from the count.
    s.take_oauth_state(&[3; 32]).await.unwrap().unwrap();
    assert_eq!(
        s.oauth_state_key_ids(now).await.unwrap(),
        vec![(key_hex(OLD), 2)]
    );
}

/// The states left under an old key come in bytewise state-hash order, page by page
/// after a cursor, without the expired ones and those already under the key.
pub async fn oauth_states_not_under_pages_in_hash_order_with_a_cursor(s: Arc<dyn Store>) {
    let now = at(10 * MIN);
    // First bytes on both sides of 0x80, so a signed comparison would order them wrongly.
    let old_hashes: Vec<[u8; 32]> = [0xff_u8, 0x00, 0x80, 0x7f, 0x81, 0x01, 0xfe]
        .iter()
        .map(|&b| {
            let mut h = [b; 32];
            h[31] = 0x42;
            h
        })
        .collect();
    for (n, h) in old_hashes.iter().enumerate() {
        s.insert_oauth_state(&state_under(h, OLD, &[n as u8; 40], at(20 * MIN)))
            .await
            .unwrap();
    }
    s.insert_oauth_state(&state_under(&[0x50; 32], NEW, b"new", at(20 * MIN)))
        .await
        .unwrap();
    s.insert_oauth_state(&state_under(&[0x51; 32], OLD, b"expired", at(MIN)))
        .await
        .unwrap();

    let mut expected = old_hashes.clone();
    expected.sort();
    let all = s
        .oauth_states_not_under(&key_hex(NEW), now, None, 100)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|r| r.state_hash.clone()).collect::<Vec<_>>(),
        expected.iter().map(|h| h.to_vec()).collect::<Vec<_>>()
    );
    for r in &all {
        let n = old_hashes
            .iter()
            .position(|h| h.as_slice() == r.state_hash)
            .unwrap();
        assert_eq!(r.key_id, key_hex(OLD));
        assert_eq!(r.sealed, sealed_under(OLD, &[n as u8; 40]));
    }

    // Pages of 2 after a cursor give the same rows once each.
    let mut paged = Vec::new();
    let mut cursor: Option<Vec<u8>> = None;
    loop {
        let page = s
            .oauth_states_not_under(&key_hex(NEW), now, cursor.as_deref(), 2)
            .await
            .unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        cursor = Some(last.state_hash.clone());
        paged.extend(page);
    }
    assert_eq!(paged, all);

    // A cursor between hashes starts after it; after the last there is nothing.
    let from_mid = s
        .oauth_states_not_under(&key_hex(NEW), now, Some(&[0x7f; 32]), 100)
        .await
        .unwrap();
    assert_eq!(from_mid, all[3..].to_vec());
    assert!(
        s.oauth_states_not_under(&key_hex(NEW), now, Some(&expected[6]), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.oauth_states_not_under(&key_hex(NEW), now, None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    // Under a key nothing uses: every unexpired state; before the expiry, that one too.
    assert_eq!(
        s.oauth_states_not_under("none", now, None, 100)
            .await
            .unwrap()
            .len(),
        old_hashes.len() + 1
    );
    assert_eq!(
        s.oauth_states_not_under(&key_hex(NEW), at(0), None, 100)
            .await
            .unwrap()
            .len(),
        old_hashes.len() + 1
    );
}

/// A state's sealed value is replaced only while it is byte for byte what rotation read:
/// not after another rewrite, not after the callback took the state (which is not brought
/// back), and nothing else of the state changes.
pub async fn replace_oauth_state_sealed_if_only_while_the_sealed_value_is_unchanged(
    s: Arc<dyn Store>,
) {
    let now = at(MIN);
    let st = state_under(&[3; 32], OLD, b"old-verifier", at(10 * MIN));
    s.insert_oauth_state(&st).await.unwrap();
    let read = s
        .oauth_states_not_under(&key_hex(NEW), now, None, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(read.sealed, st.sealed);

    let resealed = sealed_under(NEW, b"new-verifier");
    assert!(
        !s.replace_oauth_state_sealed_if(&[3; 32], b"something else", &resealed)
            .await
            .unwrap()
    );
    assert!(
        !s.replace_oauth_state_sealed_if(&[4; 32], &read.sealed, &resealed)
            .await
            .unwrap(),
        "no such state"
    );
    assert!(
        s.replace_oauth_state_sealed_if(&[3; 32], &read.sealed, &resealed)
            .await
            .unwrap()
    );
    // A second rotation that read the old value loses.
    assert!(
        !s.replace_oauth_state_sealed_if(&[3; 32], &read.sealed, &sealed_under(NEW, b"x"))
            .await
            .unwrap()
    );
    assert_eq!(
        s.oauth_state_key_ids(now).await.unwrap(),
        vec![(key_hex(NEW), 1)]
    );
    assert!(
        s.oauth_states_not_under(&key_hex(NEW), now, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let taken = s.take_oauth_state(&[3; 32]).await.unwrap().unwrap();
    assert_eq!(
        taken,
        OAuthState {
            sealed: resealed.clone(),
            ..st
        }
    );
    // Once taken, a late rewrite changes nothing and brings nothing back.
    assert!(
        !s.replace_oauth_state_sealed_if(&[3; 32], &resealed, &sealed_under(NEW, b"y"))
            .await
            .unwrap()
    );
    assert_eq!(s.take_oauth_state(&[3; 32]).await.unwrap(), None);
}

/// A callback taking a state races rotation rewriting it, from two handles: the callback
/// gets exactly one of the two values, and the rewrite reports success exactly when it
/// landed before the take.
pub async fn a_take_racing_a_rewrite_gets_one_value_and_the_rewrite_reports_it(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    for i in 0..30u8 {
        let st = state_under(&[i; 32], OLD, &[i; 16], at(10 * MIN));
        a.insert_oauth_state(&st).await.unwrap();
        let resealed = sealed_under(NEW, &[i; 17]);
        let hash = [i; 32];
        let (taken, replaced) = tokio::join!(
            a.take_oauth_state(&hash),
            b.replace_oauth_state_sealed_if(&hash, &st.sealed, &resealed)
        );
        let taken = taken.unwrap().expect("the state is taken");
        if replaced.unwrap() {
            assert_eq!(taken.sealed, resealed, "state {i}");
        } else {
            assert_eq!(taken.sealed, st.sealed, "state {i}");
        }
        assert_eq!(b.take_oauth_state(&[i; 32]).await.unwrap(), None);
    }
}

// ---------------------------------------------------------------------------------------
// Token lifetime, credential health checks
// ---------------------------------------------------------------------------------------

/// `token_obtained_at` is the store's: the write time of an upsert (create or reconnect)
/// and of a committed refresh; a failed refresh, a status change or a health record
/// leave it alone, whatever the caller passed in.
pub async fn token_obtained_at_follows_every_write_of_the_credentials(s: Arc<dyn Store>) {
    let mut c = conn("conn_1", "github", "u1");
    c.token_obtained_at = Some(at(-60 * MIN));
    let created = create(&*s, &c, &creds("k1", b"one")).await;
    assert_eq!(created.token_obtained_at, Some(at(0)));
    let read = s.get_connection("conn_1").await.unwrap().unwrap();
    assert_eq!(read.token_obtained_at, Some(at(0)));

    // A committed refresh: its time.
    let lease = s
        .acquire_refresh_lease("conn_1", at(MIN), at(2 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.commit_refresh(
            "conn_1",
            lease.fence,
            &success(creds("k1", b"two"), at(MIN))
        )
        .await
        .unwrap()
    );
    let read = s.get_connection("conn_1").await.unwrap().unwrap();
    assert_eq!(read.token_obtained_at, Some(at(MIN)));

    // A failed refresh keeps the tokens, so it keeps their time.
    let lease = s
        .acquire_refresh_lease("conn_1", at(2 * MIN), at(3 * MIN))
        .await
        .unwrap()
        .unwrap();
    let failed = RefreshCommit {
        credentials: None,
        expires_at: None,
        scopes: vec![],
        status: ConnectionStatus::Active,
        last_error: Some("down".into()),
        last_refresh_at: None,
        refresh_failures: 1,
        next_refresh_at: Some(at(4 * MIN)),
        at: at(2 * MIN),
    };
    assert!(
        s.commit_refresh("conn_1", lease.fence, &failed)
            .await
            .unwrap()
    );
    s.set_connection_status("conn_1", ConnectionStatus::Active, None, at(3 * MIN))
        .await
        .unwrap();
    let read = s.get_connection("conn_1").await.unwrap().unwrap();
    assert_eq!(read.token_obtained_at, Some(at(MIN)));

    // A reconnect: its write time.
    let mut again = conn("conn_1", "github", "u1");
    again.updated_at = at(5 * MIN);
    match s
        .upsert_connection(&again, &creds("k1", b"three"))
        .await
        .unwrap()
    {
        Upsert::Replaced(stored) => assert_eq!(stored.token_obtained_at, Some(at(5 * MIN))),
        other => panic!("expected Replaced, got {other:?}"),
    }
    let read = s.get_connection("conn_1").await.unwrap().unwrap();
    assert_eq!(read.token_obtained_at, Some(at(5 * MIN)));
}

/// A claim takes due active connections of one integration (never-claimed first, then
/// the longest due), moves them to `next` so that no second claim gets them before
/// then, and never takes another integration's or an inactive connection.
pub async fn health_claims_take_due_active_connections_once_per_interval(s: Arc<dyn Store>) {
    for id in ["conn_a", "conn_b", "conn_c"] {
        add(&*s, id, "github", "u1").await;
    }
    add(&*s, "conn_other", "slack", "u1").await;
    add(&*s, "conn_dead", "github", "u2").await;
    s.set_connection_status("conn_dead", ConnectionStatus::NeedsReauth, None, at(0))
        .await
        .unwrap();

    let ids = |v: Vec<Connection>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let first = s
        .claim_health_checks("github", at(0), at(60 * MIN), 2)
        .await
        .unwrap();
    assert_eq!(ids(first), ["conn_a", "conn_b"]);
    let second = s
        .claim_health_checks("github", at(0), at(60 * MIN), 10)
        .await
        .unwrap();
    assert_eq!(ids(second), ["conn_c"], "the never-claimed one left");
    // Nothing is due again before the next time, however often asked.
    for t in [0, MIN, 60 * MIN - 1] {
        assert!(
            s.claim_health_checks("github", at(t), at(t + 60 * MIN), 10)
                .await
                .unwrap()
                .is_empty(),
            "{t}"
        );
    }
    let again = s
        .claim_health_checks("github", at(60 * MIN), at(120 * MIN), 10)
        .await
        .unwrap();
    assert_eq!(ids(again), ["conn_a", "conn_b", "conn_c"]);
    // A reconnect makes the connection due at once (new credentials, no result yet).
    let mut re = conn("conn_b", "github", "u1");
    re.updated_at = at(61 * MIN);
    s.upsert_connection(&re, &creds("k1", b"re")).await.unwrap();
    let after = s
        .claim_health_checks("github", at(61 * MIN), at(121 * MIN), 10)
        .await
        .unwrap();
    assert_eq!(ids(after), ["conn_b"]);
    // Revoked connections are never claimed.
    s.revoke_connection("conn_a", at(62 * MIN)).await.unwrap();
    let later = s
        .claim_health_checks("github", at(200 * MIN), at(260 * MIN), 10)
        .await
        .unwrap();
    assert_eq!(ids(later), ["conn_b", "conn_c"]);
}

/// A recorded health check reads back on the connection and changes nothing else; a
/// reconnect clears it; an unknown id is false.
pub async fn health_records_read_back_and_a_reconnect_clears_them(s: Arc<dyn Store>) {
    let created = add(&*s, "conn_1", "github", "u1").await;
    assert_eq!(created.health, None);
    let check = store::HealthCheck {
        checked_at: at(MIN),
        result: store::HealthResult::Unavailable,
        detail: Some("HTTP 503".into()),
    };
    assert!(s.record_health_check("conn_1", &check).await.unwrap());
    assert!(!s.record_health_check("conn_nope", &check).await.unwrap());
    let read = s.get_connection("conn_1").await.unwrap().unwrap();
    assert_eq!(read.health.as_ref(), Some(&check));
    let mut expected = created.clone();
    expected.health = Some(check.clone());
    assert_eq!(read, expected, "nothing else changed");
    let listed = s
        .list_connections(&ConnectionFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(listed[0].health.as_ref(), Some(&check));
    for result in store::HealthResult::ALL {
        let c = store::HealthCheck {
            checked_at: at(2 * MIN),
            result,
            detail: None,
        };
        s.record_health_check("conn_1", &c).await.unwrap();
        let read = s.get_connection("conn_1").await.unwrap().unwrap();
        assert_eq!(read.health, Some(c));
    }
    let mut re = conn("conn_1", "github", "u1");
    re.updated_at = at(3 * MIN);
    s.upsert_connection(&re, &creds("k1", b"re")).await.unwrap();
    assert_eq!(
        s.get_connection("conn_1").await.unwrap().unwrap().health,
        None
    );
}

/// The installation lifecycle time moves only forward, only for the lease's holder, and
/// changes nothing else of the connection; a reconnect keeps it.
pub async fn lifecycle_at_only_moves_forward_under_the_lease(s: Arc<dyn Store>) {
    add(&*s, "conn_1", "github", "u1").await;
    let lease = s
        .acquire_refresh_lease("conn_1", at(0), at(MIN))
        .await
        .unwrap()
        .unwrap();
    let before = s.get_connection("conn_1").await.unwrap().unwrap();
    // The first time is recorded; an earlier or equal one is not, a later one is.
    assert!(
        s.advance_lifecycle_at("conn_1", lease.fence, at(10))
            .await
            .unwrap()
    );
    assert!(
        !s.advance_lifecycle_at("conn_1", lease.fence, at(9))
            .await
            .unwrap()
    );
    assert!(
        !s.advance_lifecycle_at("conn_1", lease.fence, at(10))
            .await
            .unwrap()
    );
    assert!(
        s.advance_lifecycle_at("conn_1", lease.fence, at(11))
            .await
            .unwrap()
    );
    // Nothing else changed (not the lease: it is still held, and releasable).
    assert_eq!(s.get_connection("conn_1").await.unwrap().unwrap(), before);
    assert!(
        s.acquire_refresh_lease("conn_1", at(1), at(MIN))
            .await
            .unwrap()
            .is_none()
    );
    // Another fence (a lost lease) records nothing; neither does an unknown id.
    assert!(
        !s.advance_lifecycle_at("conn_1", lease.fence + 1, at(50))
            .await
            .unwrap()
    );
    assert!(
        !s.advance_lifecycle_at("conn_nope", lease.fence, at(50))
            .await
            .unwrap()
    );
    assert!(
        s.release_refresh_lease("conn_1", lease.fence)
            .await
            .unwrap()
    );
    assert!(
        !s.advance_lifecycle_at("conn_1", lease.fence, at(50))
            .await
            .unwrap()
    );
    // A new holder compares with what the old one recorded.
    let next = s
        .acquire_refresh_lease("conn_1", at(2), at(MIN))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !s.advance_lifecycle_at("conn_1", next.fence, at(11))
            .await
            .unwrap()
    );
    assert!(
        s.advance_lifecycle_at("conn_1", next.fence, at(12))
            .await
            .unwrap()
    );
    s.release_refresh_lease("conn_1", next.fence).await.unwrap();
    // A reconnect keeps the time.
    let mut re = conn("conn_1", "github", "u1");
    re.updated_at = at(3 * MIN);
    s.upsert_connection(&re, &creds("k1", b"re")).await.unwrap();
    let again = s
        .acquire_refresh_lease("conn_1", at(3 * MIN), at(4 * MIN))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !s.advance_lifecycle_at("conn_1", again.fence, at(12))
            .await
            .unwrap()
    );
    assert!(
        s.advance_lifecycle_at("conn_1", again.fence, at(13))
            .await
            .unwrap()
    );
}

/// Two handles claiming at once never get the same connection.
pub async fn two_handles_claiming_health_checks_never_share_a_connection(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    for i in 0..40 {
        add(&*a, &format!("conn_{i:02}"), "github", "u1").await;
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..10 {
        let (x, y) = tokio::join!(
            a.claim_health_checks("github", at(0), at(60 * MIN), 3),
            b.claim_health_checks("github", at(0), at(60 * MIN), 3),
        );
        for c in x.unwrap().into_iter().chain(y.unwrap()) {
            assert!(seen.insert(c.id.clone()), "{} claimed twice", c.id);
        }
    }
    assert_eq!(seen.len(), 40);
}
