//! Asana's `X-Hook-Secret` handshake behind `webhook_secret_handshake`: off, it is an
//! unsigned request like any other; on, the first one seals its secret and later events
//! must be signed with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use signatures::Headers;
use store::{EventStore, SecretStore};

use super::webhooks::incoming;
use super::{key, memory_store, ring};
use crate::webhooks::{Intake, handshake_secret_slot};
use crate::{Engine, EngineError};

const CONFIG: &str = r#"
[[integrations]]
id = "asana-on"
provider = "asana"
webhook_secret_handshake = true

[[integrations]]
id = "asana-off"
provider = "asana"

[[integrations]]
id = "asana-configured"
provider = "asana"
webhook_secrets = ["configured-secret-0123456789"]
"#;

const SECRET: &str = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81";
const BODY: &[u8] = br#"{"events":[{"action":"changed","created_at":"2026-12-05T23:00:00.000Z","resource":{"gid":"1","resource_type":"task"}}]}"#;

async fn engine() -> (Engine, store_sqlite::SqliteStore) {
    let store = memory_store().await;
    let cfg =
        config::Config::from_toml(CONFIG, "t.toml", &BTreeMap::new(), &Default::default()).unwrap();
    (
        Engine::new(Arc::new(store.clone()), ring(&key(), &[]), cfg),
        store,
    )
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

fn handshake(secret: &str) -> Headers {
    Headers::new().with("X-Hook-Secret", secret)
}

fn refused_unsigned(r: &Result<Intake, EngineError>) -> bool {
    matches!(
        r,
        Err(EngineError::BadSignature { .. } | EngineError::NotFound { .. })
    )
}

#[tokio::test]
async fn off_by_default_a_handshake_is_an_unsigned_request() {
    let (engine, store) = engine().await;
    let h = handshake(SECRET);
    let r = engine.intake(incoming("asana-off", &h, b"")).await;
    assert!(refused_unsigned(&r), "{r:?}");
    // With configured secrets the handshake is refused too (not signed).
    let r = engine.intake(incoming("asana-configured", &h, b"")).await;
    assert!(refused_unsigned(&r), "{r:?}");
    assert!(
        store
            .get_secret(&handshake_secret_slot("asana-off"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.count_events(None).await.unwrap(), 0);
}

#[tokio::test]
async fn on_the_first_handshake_seals_the_secret_and_later_events_must_be_signed_with_it() {
    let (engine, store) = engine().await;
    // Before the handshake an event cannot be verified.
    let signed = Headers::new().with("X-Hook-Signature", signature(SECRET, BODY));
    let r = engine.intake(incoming("asana-on", &signed, BODY)).await;
    assert!(refused_unsigned(&r), "{r:?}");

    let h = handshake(SECRET);
    let Intake::Handshake(reply) = engine.intake(incoming("asana-on", &h, b"")).await.unwrap()
    else {
        panic!("not a handshake")
    };
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers, vec![("X-Hook-Secret", SECRET.to_owned())]);
    // Sealed: the stored bytes are not the secret.
    let sealed = store
        .get_secret(&handshake_secret_slot("asana-on"))
        .await
        .unwrap()
        .unwrap();
    assert!(
        !sealed
            .ciphertext
            .windows(SECRET.len())
            .any(|w| w == SECRET.as_bytes())
    );
    assert_eq!(store.count_events(None).await.unwrap(), 0);

    // A signed event is stored; an unsigned one or one signed with another secret is not.
    let Intake::Stored { id } = engine
        .intake(incoming("asana-on", &signed, BODY))
        .await
        .unwrap()
    else {
        panic!("not stored")
    };
    let e = store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(e.event_type.as_deref(), Some("changed"));
    assert!(e.provider_event_id.unwrap().starts_with("sha256:"));
    let r = engine
        .intake(incoming("asana-on", &Headers::new(), BODY))
        .await;
    assert!(refused_unsigned(&r), "{r:?}");
    let wrong = Headers::new().with("X-Hook-Signature", signature("another-secret-0000", BODY));
    let r = engine.intake(incoming("asana-on", &wrong, BODY)).await;
    assert!(refused_unsigned(&r), "{r:?}");
}

#[tokio::test]
async fn a_replayed_or_second_handshake_cannot_replace_the_secret() {
    let (engine, store) = engine().await;
    engine
        .intake(incoming("asana-on", &handshake(SECRET), b""))
        .await
        .unwrap();
    let before = store
        .get_secret(&handshake_secret_slot("asana-on"))
        .await
        .unwrap()
        .unwrap();
    for replay in [SECRET, "attacker-chosen-secret-0123456789"] {
        let r = engine
            .intake(incoming("asana-on", &handshake(replay), b""))
            .await;
        assert!(refused_unsigned(&r), "{replay}: {r:?}");
    }
    let after = store
        .get_secret(&handshake_secret_slot("asana-on"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, before);
    // The attacker's secret signs nothing that is accepted.
    let h = Headers::new().with(
        "X-Hook-Signature",
        signature("attacker-chosen-secret-0123456789", BODY),
    );
    let r = engine.intake(incoming("asana-on", &h, BODY)).await;
    assert!(refused_unsigned(&r), "{r:?}");
}

#[tokio::test]
async fn bad_handshakes_are_refused_and_store_nothing() {
    let (engine, store) = engine().await;
    let long = "a".repeat(513);
    for bad in [
        b"".as_slice(),
        b"   ",
        b"short",
        long.as_bytes(),
        b"has a space inside it 0123",
        b"\xff\xfe not utf-8 at all 0123456",
    ] {
        let h = Headers::new().with("X-Hook-Secret", bad);
        let r = engine.intake(incoming("asana-on", &h, b"")).await;
        assert!(
            matches!(
                r,
                Err(EngineError::Invalid {
                    field: "X-Hook-Secret",
                    ..
                })
            ),
            "{bad:?}: {r:?}"
        );
    }
    // A GET handshake is refused.
    let h = handshake(SECRET);
    let mut req = incoming("asana-on", &h, b"");
    req.method = "GET";
    assert!(matches!(
        engine.intake(req).await,
        Err(EngineError::Invalid {
            field: "method",
            ..
        })
    ));
    assert!(
        store
            .get_secret(&handshake_secret_slot("asana-on"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.count_events(None).await.unwrap(), 0);
}

/// `webhook reset-handshake`: the sealed secret is forgotten (audited with who did it),
/// events signed with it are refused until the provider's next handshake, whose secret
/// is then taken; an integration without `webhook_secret_handshake`, or unknown, is
/// refused and nothing changes.
#[tokio::test]
async fn a_reset_forgets_the_secret_and_takes_the_next_handshake() {
    let (engine, store) = engine().await;
    engine
        .intake(incoming("asana-on", &handshake(SECRET), b""))
        .await
        .unwrap();
    let ops = crate::Actor::Cli { user: "ops".into() };
    assert!(
        engine
            .reset_handshake_secret("asana-on", &ops)
            .await
            .unwrap()
    );
    assert!(
        store
            .get_secret(&handshake_secret_slot("asana-on"))
            .await
            .unwrap()
            .is_none()
    );
    let rows = super::all_audit(&store).await;
    let row = rows
        .iter()
        .find(|r| r.entry.action == "webhook.handshake_reset")
        .expect("audited");
    assert_eq!(row.entry.actor, "cli:ops");
    assert_eq!(row.entry.target, "asana-on");
    assert_eq!(row.entry.details["removed"], true);
    // The old secret signs nothing any more.
    let old = Headers::new().with("X-Hook-Signature", signature(SECRET, BODY));
    let r = engine.intake(incoming("asana-on", &old, BODY)).await;
    assert!(refused_unsigned(&r), "{r:?}");
    // The provider's new handshake is taken, and its secret signs.
    let fresh = "fresh-secret-after-a-reset-0123456789";
    let Intake::Handshake(reply) = engine
        .intake(incoming("asana-on", &handshake(fresh), b""))
        .await
        .unwrap()
    else {
        panic!("not a handshake")
    };
    assert_eq!(reply.headers, vec![("X-Hook-Secret", fresh.to_owned())]);
    let signed = Headers::new().with("X-Hook-Signature", signature(fresh, BODY));
    assert!(matches!(
        engine.intake(incoming("asana-on", &signed, BODY)).await,
        Ok(Intake::Stored { .. })
    ));
    // Twice in a row: nothing to remove, still audited.
    engine
        .reset_handshake_secret("asana-on", &ops)
        .await
        .unwrap();
    assert!(
        !engine
            .reset_handshake_secret("asana-on", &ops)
            .await
            .unwrap()
    );

    let e = engine
        .reset_handshake_secret("asana-off", &ops)
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Invalid { .. }), "{e:?}");
    assert!(e.to_string().contains("webhook_secret_handshake"), "{e}");
    let e = engine
        .reset_handshake_secret("nope", &ops)
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }), "{e:?}");
    let resets = super::all_audit(&store)
        .await
        .iter()
        .filter(|r| r.entry.action == "webhook.handshake_reset")
        .count();
    assert_eq!(resets, 3, "refusals are not audited");
}
