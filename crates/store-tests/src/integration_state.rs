//! [`IntegrationStateStore`](store::IntegrationStateStore): the blocked and disabled switches of an integration.

use std::sync::Arc;

use store::{IntegrationFlags, Store, now};

use crate::fixtures::ms;

/// Blocking reports whether it changed anything, and can be undone and redone.
pub async fn block_and_unblock_report_changes(s: Arc<dyn Store>) {
    assert!(!s.is_integration_blocked("x").await.unwrap());
    assert!(s.blocked_integrations().await.unwrap().is_empty());
    // Unblocking what was never blocked changes nothing.
    assert!(!s.set_integration_blocked("x", false, ms(1)).await.unwrap());
    assert!(!s.is_integration_blocked("x").await.unwrap());

    assert!(s.set_integration_blocked("x", true, ms(2)).await.unwrap());
    assert!(!s.set_integration_blocked("x", true, ms(3)).await.unwrap());
    assert!(s.is_integration_blocked("x").await.unwrap());
    assert_eq!(
        s.integration_flags("x").await.unwrap(),
        IntegrationFlags {
            blocked: true,
            disabled: false
        }
    );
    assert!(s.set_integration_blocked("b", true, ms(4)).await.unwrap());
    assert_eq!(s.blocked_integrations().await.unwrap(), ["b", "x"]);

    assert!(s.set_integration_blocked("x", false, ms(5)).await.unwrap());
    assert!(!s.set_integration_blocked("x", false, ms(6)).await.unwrap());
    assert!(!s.is_integration_blocked("x").await.unwrap());
    assert_eq!(s.blocked_integrations().await.unwrap(), ["b"]);
    // And it can be blocked again.
    assert!(s.set_integration_blocked("x", true, ms(7)).await.unwrap());
    assert_eq!(s.blocked_integrations().await.unwrap(), ["b", "x"]);
    assert!(!s.is_integration_blocked("unknown").await.unwrap());
    assert_eq!(
        s.integration_flags("unknown").await.unwrap(),
        IntegrationFlags::default()
    );
}

/// Disabling neither blocks nor unblocks, and is listed on its own.
pub async fn disable_and_enable_are_independent_of_block(s: Arc<dyn Store>) {
    assert!(!s.is_integration_disabled("a").await.unwrap());
    assert!(s.set_integration_disabled("a", true, now()).await.unwrap());
    assert!(!s.set_integration_disabled("a", true, now()).await.unwrap());
    assert!(s.is_integration_disabled("a").await.unwrap());
    assert!(
        !s.is_integration_blocked("a").await.unwrap(),
        "disabling does not block"
    );
    assert!(s.set_integration_blocked("a", true, now()).await.unwrap());
    assert_eq!(
        s.integration_flags("a").await.unwrap(),
        IntegrationFlags {
            blocked: true,
            disabled: true
        }
    );
    assert!(s.set_integration_disabled("a", false, now()).await.unwrap());
    assert!(
        s.is_integration_blocked("a").await.unwrap(),
        "enabling does not unblock"
    );
    assert!(!s.set_integration_disabled("a", false, now()).await.unwrap());
    assert!(
        !s.set_integration_disabled("never", false, now())
            .await
            .unwrap()
    );
    s.set_integration_disabled("c", true, now()).await.unwrap();
    s.set_integration_disabled("b", true, now()).await.unwrap();
    assert_eq!(s.disabled_integrations().await.unwrap(), ["b", "c"]);
    // A blocked-only row is not disabled.
    s.set_integration_blocked("d", true, now()).await.unwrap();
    assert!(!s.is_integration_disabled("d").await.unwrap());
}
