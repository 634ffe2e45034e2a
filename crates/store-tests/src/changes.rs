//! [`Store::subscribe`](store::Store::subscribe): the change feed. A backend that has one
//! tells a handle what another handle committed, each kind of change, and nothing for
//! writes no reader cares about (a key's last use, a refresh lease taken, a failed
//! attempt rescheduled). A backend without one (`subscribe` is `None`) skips the case:
//! its processes learn of each other's changes by polling.
//!
//! Notifications of separate commits arrive in commit order, so "nothing for this write"
//! is checked without waiting: the write is followed by a marker change (an integration
//! blocked), which must be the next thing the feed says.

use std::sync::Arc;
use std::time::Duration;

use store::{Change, ChangeFeed, ConnectionStatus, Failure, RefreshCommit, Store};

use crate::fixtures::{MIN, SEC, api_key, at, completed, conn, creds, routed, routed_event};

/// Longest wait for a change that must come (a bound, not a timing expectation).
const WAIT: Duration = Duration::from_secs(30);

/// The next change other than `Resync` (a feed may always say it again; it means "may
/// have missed something", which a reader handles by reading everything again).
async fn next(feed: &mut ChangeFeed) -> Change {
    loop {
        match tokio::time::timeout(WAIT, feed.recv()).await {
            Ok(Some(Change::Resync)) => continue,
            Ok(Some(c)) => return c,
            Ok(None) => panic!("the change feed ended"),
            Err(_) => panic!("no change arrived within {WAIT:?}"),
        }
    }
}

/// Blocks integration `marker-<n>` through `s` and checks it is the feed's next change,
/// so that nothing was announced between the previous change and it.
async fn marker(s: &dyn Store, feed: &mut ChangeFeed, n: u32, after: &str) {
    let name = format!("marker-{n}");
    assert!(s.set_integration_blocked(&name, true, at(0)).await.unwrap());
    assert_eq!(
        next(feed).await,
        Change::IntegrationState(name),
        "nothing is announced for {after}"
    );
}

/// Changes committed through handle `a` reach handle `b`'s feed: API keys revoked,
/// integration switches, connections written, deliveries enqueued or released,
/// destinations disabled; and writes that change nothing a reader keeps say nothing.
pub async fn changes_through_one_handle_reach_the_other_handles_feed(
    a: Arc<dyn Store>,
    b: Arc<dyn Store>,
) {
    let Some(mut feed) = b.subscribe() else {
        // No feed on this backend: documented, and polling is the only way.
        return;
    };
    // The feed says Resync once it listens: from then on nothing is missed.
    assert_eq!(
        tokio::time::timeout(WAIT, feed.recv()).await.unwrap(),
        Some(Change::Resync)
    );

    // API keys: a new key and a use are nobody's business; a revocation is.
    a.insert_api_key(&api_key("k1", at(0))).await.unwrap();
    a.touch_api_key("k1", at(SEC)).await.unwrap();
    marker(&*a, &mut feed, 1, "a new API key or its use").await;
    assert!(a.revoke_api_key("k1", at(2 * SEC)).await.unwrap());
    assert_eq!(next(&mut feed).await, Change::ApiKey("k1".into()));

    // Integration switches.
    assert!(a.set_integration_disabled("gh", true, at(0)).await.unwrap());
    assert_eq!(next(&mut feed).await, Change::IntegrationState("gh".into()));

    // Connections: written, refreshed; the lease alone says nothing.
    a.upsert_connection(&conn("c1", "gh", "u1"), &creds("k", b"v1"))
        .await
        .unwrap();
    assert_eq!(next(&mut feed).await, Change::Connection("c1".into()));
    let lease = a
        .acquire_refresh_lease("c1", at(MIN), at(2 * MIN))
        .await
        .unwrap()
        .expect("the lease is free");
    marker(&*a, &mut feed, 2, "a refresh lease taken").await;
    let commit = RefreshCommit {
        credentials: Some(creds("k", b"v2")),
        expires_at: Some(at(90 * MIN)),
        scopes: vec!["read".into()],
        status: ConnectionStatus::Active,
        last_error: None,
        last_refresh_at: Some(at(MIN)),
        refresh_failures: 0,
        next_refresh_at: Some(at(85 * MIN)),
        at: at(MIN),
    };
    assert!(a.commit_refresh("c1", lease.fence, &commit).await.unwrap());
    assert_eq!(next(&mut feed).await, Change::Connection("c1".into()));
    assert!(a.delete_connection("c1").await.unwrap());
    assert_eq!(next(&mut feed).await, Change::Connection("c1".into()));

    // Deliveries: an event routed nowhere enqueues nothing; one routed to a destination
    // is due; a claim and a failed attempt's retry say nothing; a release does.
    let nowhere = routed_event(1, "p1");
    a.insert_routed_event(&nowhere, &routed(&nowhere, completed(), &[]))
        .await
        .unwrap();
    marker(&*a, &mut feed, 3, "an event without deliveries").await;
    let e = routed_event(2, "p2");
    a.insert_routed_event(&e, &routed(&e, completed(), &["app"]))
        .await
        .unwrap();
    assert_eq!(next(&mut feed).await, Change::DeliveriesDue);
    let claim = |now: i64| {
        let a = a.clone();
        async move {
            a.claim_deliveries("w", 10, at(now), at(now + MIN), &[])
                .await
                .unwrap()
        }
    };
    let c = claim(MIN).await.remove(0);
    let retry = Failure {
        retry_at: Some(at(2 * MIN)),
        status: Some(500),
        error: "HTTP 500".into(),
    };
    assert!(a.fail_delivery(&c.id, c.fence, &retry).await.unwrap());
    marker(&*a, &mut feed, 4, "a claim or a failed attempt").await;
    let c = claim(3 * MIN).await.remove(0);
    assert!(
        a.release_delivery(&c.id, c.fence, at(3 * MIN))
            .await
            .unwrap()
    );
    assert_eq!(next(&mut feed).await, Change::DeliveriesDue);

    // Destinations.
    assert!(
        a.set_destination_disabled("app", true, Some("gone"), at(0))
            .await
            .unwrap()
    );
    assert_eq!(next(&mut feed).await, Change::Destination("app".into()));
    assert!(
        a.set_destination_disabled("app", false, None, at(SEC))
            .await
            .unwrap()
    );
    assert_eq!(next(&mut feed).await, Change::Destination("app".into()));

    // The handle's own writes reach its own feed too (a reader may not tell them apart).
    b.insert_api_key(&api_key("k2", at(0))).await.unwrap();
    assert!(b.revoke_api_key("k2", at(SEC)).await.unwrap());
    assert_eq!(next(&mut feed).await, Change::ApiKey("k2".into()));
}
