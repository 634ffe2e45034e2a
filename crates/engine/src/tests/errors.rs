//! Error codes, actor names and the engine's small accessors.

use store::{Store, StoreError};
use vault::{ExposeSecret, KeyId, VaultError};

use super::setup;
use crate::{Actor, EngineError};

fn all_errors() -> Vec<(EngineError, &'static str, bool)> {
    vec![
        (
            EngineError::Unauthenticated("no key"),
            "unauthorized",
            false,
        ),
        (
            EngineError::Forbidden("admin only".into()),
            "forbidden",
            false,
        ),
        (
            EngineError::NotFound {
                what: "api key",
                id: "x".into(),
            },
            "not_found",
            false,
        ),
        (
            EngineError::Invalid {
                field: "name",
                message: "bad".into(),
            },
            "invalid_request",
            false,
        ),
        (EngineError::Conflict("again".into()), "conflict", false),
        (EngineError::Vault(VaultError::Random), "internal", true),
        (
            EngineError::Vault(VaultError::UnknownKey(KeyId([1; 8]))),
            "key_unavailable",
            false,
        ),
        (
            EngineError::Store(StoreError::Unavailable("down".into())),
            "unavailable",
            true,
        ),
        (
            EngineError::Store(StoreError::Conflict("dup".into())),
            "conflict",
            false,
        ),
        (
            EngineError::Store(StoreError::Corrupt("bad row".into())),
            "internal",
            true,
        ),
        (
            EngineError::Store(StoreError::Migration("m".into())),
            "internal",
            true,
        ),
        (
            EngineError::Store(StoreError::Backend("b".into())),
            "internal",
            true,
        ),
    ]
}

#[test]
fn every_variant_has_a_code_and_internal_flag() {
    for (err, code, internal) in all_errors() {
        assert_eq!(err.code(), code, "{err:?}");
        assert_eq!(err.is_internal(), internal, "{err:?}");
        assert_eq!(err.needs_operator(), code == "key_unavailable", "{err:?}");
    }
}

#[test]
fn messages_are_the_inner_messages() {
    assert_eq!(EngineError::Unauthenticated("no key").to_string(), "no key");
    assert_eq!(
        EngineError::Forbidden("admin only".into()).to_string(),
        "admin only"
    );
    assert_eq!(
        EngineError::NotFound {
            what: "api key",
            id: "abc".into()
        }
        .to_string(),
        "api key \"abc\" not found"
    );
    assert_eq!(
        EngineError::Invalid {
            field: "name",
            message: "too long".into()
        }
        .to_string(),
        "name: too long"
    );
    assert_eq!(EngineError::Conflict("again".into()).to_string(), "again");
    let store = StoreError::Unavailable("down".into());
    let shown = store.to_string();
    assert_eq!(EngineError::from(store).to_string(), shown);
    let vault = VaultError::Random;
    let shown = vault.to_string();
    assert_eq!(EngineError::from(vault).to_string(), shown);
}

#[test]
fn actor_display_for_every_variant() {
    assert_eq!(
        Actor::ApiKey {
            id: "abc123def456".into()
        }
        .to_string(),
        "api-key:abc123def456"
    );
    assert_eq!(
        Actor::Cli {
            user: "root".into()
        }
        .to_string(),
        "cli:root"
    );
    assert_eq!(Actor::System.to_string(), "system");
    assert_eq!(Actor::Signal("SIGHUP").to_string(), "signal:SIGHUP");
}

#[tokio::test]
async fn engine_accessors_and_readiness() {
    let (engine, store) = setup().await;
    assert_eq!(engine.store().backend(), "sqlite");
    let primary = engine.keyring().primary().id();
    assert_eq!(engine.keyring().key_ids(), vec![primary]);
    let shown = format!("{engine:?}");
    assert!(
        shown.contains("sqlite") && shown.contains(&primary.to_string()),
        "{shown}"
    );
    assert!(!shown.contains(engine.keyring().primary().to_base64().expose_secret()));
    assert_eq!(engine.config().listen.to_string(), config::DEFAULT_LISTEN);
    engine.ready().await.unwrap();
    // A clone shares everything.
    let clone = engine.clone();
    assert_eq!(clone.keyring().key_ids(), engine.keyring().key_ids());

    store.close().await;
    let err = engine.ready().await.unwrap_err();
    assert_eq!(err.code(), "unavailable", "{err:?}");
    assert!(err.is_internal());
}
