//! API keys: shape, hashing, authentication, revocation, audit, bootstrap.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use store::{ApiKeyStore, Scope};
use vault::{ExposeSecret, SecretString};

use super::{TamperStore, all_audit, engine_on, key, memory_store, ring, setup};
use crate::ids::{
    API_KEY_PREFIX as PREFIX, looks_like_api_key as looks_like_key, parse_api_key as parse,
};
use crate::{Actor, EngineError, ManualClock};

const BAD: &str = "invalid or revoked API key; send Authorization: Bearer sb_…";

fn cli() -> Actor {
    Actor::Cli {
        user: "alice".into(),
    }
}

fn s(v: &str) -> SecretString {
    SecretString::from(v.to_owned())
}

fn assert_unauthenticated(r: Result<crate::api_keys::Principal, EngineError>, what: &str) {
    match r {
        Err(EngineError::Unauthenticated(m)) => assert_eq!(m, BAD, "{what}"),
        Err(other) => panic!("{what}: expected Unauthenticated, got {other:?}"),
        Ok(p) => panic!("{what}: authenticated as {p:?}"),
    }
}

/// `sb_` + 12 of [a-z0-9] + `_` + 40 of [A-Za-z0-9].
fn well_shaped(k: &str) -> bool {
    let Some(rest) = k.strip_prefix("sb_") else {
        return false;
    };
    let Some((id, secret)) = rest.split_once('_') else {
        return false;
    };
    id.len() == 12
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && secret.len() == 40
        && secret.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[tokio::test]
async fn created_key_has_the_documented_shape() {
    let (engine, _) = setup().await;
    let created = engine
        .create_api_key("ci deploy", Scope::App, &cli())
        .await
        .unwrap();
    let k = created.key.expose_secret();
    assert_eq!(k.len(), 3 + 12 + 1 + 40);
    assert!(well_shaped(k), "{k}");
    assert!(k.starts_with(PREFIX));
    let (id, secret) = parse(k).expect("parse accepts a created key");
    assert_eq!(id, created.info.id);
    assert_eq!(secret.len(), 40);
    assert_eq!(created.info.name, "ci deploy");
    assert_eq!(created.info.scope, Scope::App);
    assert!(created.info.last_used_at.is_none());
    assert!(created.info.revoked_at.is_none());
    // The key never prints through Debug.
    assert!(!format!("{created:?}").contains(secret));
}

#[tokio::test]
async fn created_keys_are_distinct_and_use_both_alphabets() {
    let (engine, _) = setup().await;
    let mut ids = std::collections::BTreeSet::new();
    let mut secrets = std::collections::BTreeSet::new();
    let mut all_secret_chars = String::new();
    for i in 0..40 {
        let c = engine
            .create_api_key(&format!("k{i}"), Scope::App, &Actor::System)
            .await
            .unwrap();
        let k = c.key.expose_secret().to_owned();
        assert!(well_shaped(&k), "{k}");
        let (id, secret) = parse(&k).unwrap();
        assert!(ids.insert(id.to_owned()));
        assert!(secrets.insert(secret.to_owned()));
        all_secret_chars.push_str(secret);
    }
    // 1600 random characters from 62 hit upper case, lower case and digits.
    assert!(all_secret_chars.bytes().any(|b| b.is_ascii_uppercase()));
    assert!(all_secret_chars.bytes().any(|b| b.is_ascii_lowercase()));
    assert!(all_secret_chars.bytes().any(|b| b.is_ascii_digit()));
}

#[tokio::test]
async fn looks_like_key_finds_a_key_inside_text() {
    let (engine, _) = setup().await;
    let c = engine
        .create_api_key("scan", Scope::App, &Actor::System)
        .await
        .unwrap();
    let k = c.key.expose_secret();
    assert!(looks_like_key(k));
    assert!(looks_like_key(&format!("Authorization: Bearer {k}")));
    assert!(looks_like_key(&format!("{{\"key\":\"{k}\",\"x\":1}}")));
    assert!(looks_like_key(&format!("sb_ sb_x {k}trailing")));
    assert!(!looks_like_key(&k[..k.len() - 1]));
    assert!(!looks_like_key(&k[1..]));
    assert!(!looks_like_key(""));
    assert!(!looks_like_key("sb_"));
    assert!(!looks_like_key(&k.replace("sb_", "xb_")));
}

#[test]
fn parse_checks_the_shape() {
    let id = "abcdefghij01";
    let secret = "ABCDEFGHIJabcdefghij0123456789KLMNOPQRST";
    assert_eq!(secret.len(), 40);
    assert_eq!(parse(&format!("sb_{id}_{secret}")), Some((id, secret)));
    for bad in [
        String::new(),
        "sb_".into(),
        format!("{id}_{secret}"),
        format!("SB_{id}_{secret}"),
        format!("sk_{id}_{secret}"),
        format!("sb_{id}{secret}"),
        format!("sb_{}_{secret}", &id[..11]),
        format!("sb_{id}0_{secret}"),
        format!("sb_{id}_{}", &secret[..39]),
        format!("sb_{id}_{secret}A"),
        format!("sb_ABCDEFGHIJ01_{secret}"),
        format!("sb_abcdefghij-1_{secret}"),
        format!("sb_{id}_{}-", &secret[..39]),
        format!("sb_{id}_{}_", &secret[..39]),
        format!("sb_{id}_{}é", &secret[..38]),
        format!(" sb_{id}_{secret}"),
        format!("sb_{id}_{secret} "),
        format!("Bearer sb_{id}_{secret}"),
    ] {
        assert_eq!(parse(&bad), None, "{bad:?}");
    }
}

/// `looks_like_key` slices the text at a byte offset; text with multi-byte characters
/// after `sb_` makes it slice inside a character and panic. It is meant for scanning
/// arbitrary text (logs, responses).
#[test]
fn looks_like_key_does_not_panic_on_non_ascii_text() {
    let text = format!("sb_{}", "é".repeat(40));
    let r = std::panic::catch_unwind(|| looks_like_key(&text));
    assert_eq!(r.ok(), Some(false), "looks_like_key panicked");
}

#[tokio::test]
async fn only_the_hash_is_stored() {
    let (engine, store) = setup().await;
    let c = engine
        .create_api_key("stored", Scope::Admin, &cli())
        .await
        .unwrap();
    let (id, secret) = parse(c.key.expose_secret()).unwrap();
    let rec = store.get_api_key(id).await.unwrap().unwrap();
    assert_eq!(rec.id, id);
    assert_eq!(rec.name, "stored");
    assert_eq!(rec.scope, Scope::Admin);
    assert_eq!(rec.secret_hash.len(), 32);
    let expected: Vec<u8> = Sha256::new()
        .chain_update(b"switchboard.api-key.v1")
        .chain_update(secret.as_bytes())
        .finalize()
        .to_vec();
    assert_eq!(
        rec.secret_hash, expected,
        "domain-separated SHA-256 of the secret"
    );
    // The secret appears nowhere in the record, in any form we can print.
    let shown = format!("{rec:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(!shown.contains(c.key.expose_secret()));
    assert!(!looks_like_key(&shown));
    assert_ne!(rec.secret_hash, secret.as_bytes());
    // Listing returns infos without any secret.
    let listed = engine.list_api_keys().await.unwrap();
    let json = serde_json::to_string(&listed).unwrap();
    assert!(!json.contains(secret) && !looks_like_key(&json), "{json}");
    assert_eq!(listed, vec![c.info.clone()]);
}

#[tokio::test]
async fn authenticate_accepts_the_created_key() {
    let (engine, _) = setup().await;
    let c = engine
        .create_api_key("app backend", Scope::App, &cli())
        .await
        .unwrap();
    let p = engine.authenticate(&c.key).await.unwrap();
    assert_eq!(p.key_id, c.info.id);
    assert_eq!(p.name, "app backend");
    assert_eq!(p.scope, Scope::App);
    assert_eq!(
        p.actor(),
        Actor::ApiKey {
            id: c.info.id.clone()
        }
    );
    assert_eq!(p.actor().to_string(), format!("api-key:{}", c.info.id));
}

#[tokio::test]
async fn wrong_secret_unknown_id_and_malformed_keys_fail_alike() {
    let (engine, _) = setup().await;
    let c = engine
        .create_api_key("target", Scope::Admin, &cli())
        .await
        .unwrap();
    let k = c.key.expose_secret().to_owned();
    let (id, secret) = parse(&k).unwrap();
    // Same id, another secret of the right shape.
    let mut other = secret.to_owned().into_bytes();
    other[0] = if other[0] == b'A' { b'B' } else { b'A' };
    let other = String::from_utf8(other).unwrap();
    assert_unauthenticated(
        engine.authenticate(&s(&format!("sb_{id}_{other}"))).await,
        "wrong secret",
    );
    // Unknown id, the right secret.
    let unknown_id = if id == "zzzzzzzzzzzz" {
        "yyyyyyyyyyyy"
    } else {
        "zzzzzzzzzzzz"
    };
    assert_unauthenticated(
        engine
            .authenticate(&s(&format!("sb_{unknown_id}_{secret}")))
            .await,
        "unknown id",
    );
    for bad in [
        String::new(),
        "sb_".into(),
        k[3..].to_owned(),
        k.replace("sb_", "xb_"),
        k[..k.len() - 1].to_owned(),
        format!("{k}A"),
        format!("sb_{}_{secret}", &id[..11]),
        format!("sb_{id}x_{secret}"),
        format!("sb_{}_{secret}", id.to_uppercase()),
        format!("sb_{id}_{}!", &secret[..39]),
        format!("Bearer {k}"),
        format!("{k}\n"),
        "not a key at all".into(),
    ] {
        assert_unauthenticated(engine.authenticate(&s(&bad)).await, &bad);
    }
    // The real key still works after all of that.
    engine.authenticate(&c.key).await.unwrap();
}

#[tokio::test]
async fn revoked_key_fails_and_revoke_is_not_repeatable() {
    let (engine, store) = setup().await;
    let c = engine
        .create_api_key("short lived", Scope::App, &cli())
        .await
        .unwrap();
    let other = engine
        .create_api_key("other", Scope::App, &cli())
        .await
        .unwrap();
    engine.authenticate(&c.key).await.unwrap();
    let info = engine.revoke_api_key(&c.info.id, &cli()).await.unwrap();
    assert_eq!(info.id, c.info.id);
    assert!(info.revoked_at.is_some());
    assert_unauthenticated(engine.authenticate(&c.key).await, "revoked");
    // Other keys are unaffected.
    engine.authenticate(&other.key).await.unwrap();
    assert_eq!(store.count_active_api_keys().await.unwrap(), 1);

    match engine.revoke_api_key(&c.info.id, &cli()).await {
        Err(EngineError::Conflict(m)) => {
            assert!(
                m.contains(&c.info.id) && m.contains("already revoked"),
                "{m}"
            )
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    match engine.revoke_api_key("nosuchkey000", &cli()).await {
        Err(EngineError::NotFound { what, id }) => {
            assert_eq!(what, "api key");
            assert_eq!(id, "nosuchkey000");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    // Still listed, marked revoked.
    let listed = engine.list_api_keys().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|k| k.id == c.info.id && k.revoked_at.is_some())
    );
}

/// The engine reads the key, then revokes it, ignoring the store's answer that nothing
/// was revoked. When another instance revokes the same key in between, both calls
/// succeed and the audit log records two revocations.
#[tokio::test]
async fn concurrent_revoke_is_a_conflict() {
    let sqlite = memory_store().await;
    let t = TamperStore::new(sqlite.clone());
    let engine = engine_on(t.clone(), ring(&key(), &[]));
    let c = engine
        .create_api_key("raced", Scope::App, &cli())
        .await
        .unwrap();
    t.set(|t| t.race_revoke = true);
    let r = engine.revoke_api_key(&c.info.id, &cli()).await;
    let revokes = all_audit(&sqlite)
        .await
        .into_iter()
        .filter(|r| r.entry.action == "api_key.revoke")
        .count();
    assert!(
        matches!(r, Err(EngineError::Conflict(_))),
        "expected Conflict, got {r:?}"
    );
    assert_eq!(revokes, 0);
}

#[tokio::test]
async fn invalid_names_are_refused() {
    let (engine, store) = setup().await;
    for bad in [
        String::new(),
        "   ".into(),
        "a".repeat(65),
        "a/b".into(),
        "tab\there".into(),
        "naïve".into(),
        "semi;colon".into(),
        "new\nline".into(),
    ] {
        match engine.create_api_key(&bad, Scope::App, &cli()).await {
            Err(EngineError::Invalid { field, message }) => {
                assert_eq!(field, "name", "{bad:?}");
                assert!(message.contains("1 to 64"), "{message}");
            }
            other => panic!("{bad:?}: expected Invalid, got {other:?}"),
        }
    }
    assert!(store.list_api_keys().await.unwrap().is_empty());
    assert!(
        all_audit(&store).await.is_empty(),
        "refusals are not audited"
    );
    // The limits themselves are fine, and names are trimmed.
    let c = engine
        .create_api_key(&"a".repeat(64), Scope::App, &cli())
        .await
        .unwrap();
    assert_eq!(c.info.name.len(), 64);
    let c = engine
        .create_api_key("  Deploy-bot_v1.2 x  ", Scope::App, &cli())
        .await
        .unwrap();
    assert_eq!(c.info.name, "Deploy-bot_v1.2 x");
}

#[tokio::test]
async fn last_used_at_is_set_on_first_use_and_throttled() {
    let store = memory_store().await;
    let clock = ManualClock::new();
    let engine = engine_on(Arc::new(store.clone()), ring(&key(), &[])).with_clock(clock.clone());
    let c = engine
        .create_api_key("used", Scope::App, &cli())
        .await
        .unwrap();
    let id = c.info.id.clone();
    let last_used = async || store.get_api_key(&id).await.unwrap().unwrap().last_used_at;
    assert!(last_used().await.is_none());

    engine.authenticate(&c.key).await.unwrap();
    let first = last_used().await.expect("set on first use");
    assert_eq!(first, clock.now());

    // Uses within the minute do not write again, whether the record comes from the
    // cache or (its 1 s TTL passed) from the store.
    engine.authenticate(&c.key).await.unwrap();
    assert_eq!(last_used().await, Some(first));
    clock.advance(std::time::Duration::from_millis(59_999));
    engine.authenticate(&c.key).await.unwrap();
    assert_eq!(last_used().await, Some(first));

    // A use a minute later does.
    clock.advance(std::time::Duration::from_millis(1));
    engine.authenticate(&c.key).await.unwrap();
    let later = last_used().await.unwrap();
    assert_eq!(later, first + chrono::Duration::minutes(1));
    let listed = engine.list_api_keys().await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(later));
}

#[tokio::test]
async fn a_failed_touch_does_not_fail_authentication() {
    let sqlite = memory_store().await;
    let t = TamperStore::new(sqlite.clone());
    let engine = engine_on(t.clone(), ring(&key(), &[]));
    let c = engine
        .create_api_key("touchy", Scope::App, &cli())
        .await
        .unwrap();
    t.set(|t| t.fail_touch = true);
    let p = engine.authenticate(&c.key).await.unwrap();
    assert_eq!(p.key_id, c.info.id);
    let rec = sqlite.get_api_key(&c.info.id).await.unwrap().unwrap();
    assert!(rec.last_used_at.is_none());
}

#[tokio::test]
async fn create_and_revoke_are_audited_without_the_key() {
    let (engine, store) = setup().await;
    let actor = Actor::ApiKey {
        id: "adminkey0001".into(),
    };
    let c = engine
        .create_api_key("audited", Scope::Admin, &actor)
        .await
        .unwrap();
    engine.revoke_api_key(&c.info.id, &cli()).await.unwrap();
    let rows = all_audit(&store).await;
    assert_eq!(rows.len(), 2);

    let create = &rows[0];
    assert_eq!(create.seq, 1);
    assert_eq!(create.entry.actor, "api-key:adminkey0001");
    assert_eq!(create.entry.action, "api_key.create");
    assert_eq!(create.entry.target, c.info.id);
    assert_eq!(
        create.entry.details,
        serde_json::json!({ "name": "audited", "scope": "admin" })
    );

    let revoke = &rows[1];
    assert_eq!(revoke.seq, 2);
    assert_eq!(revoke.entry.actor, "cli:alice");
    assert_eq!(revoke.entry.action, "api_key.revoke");
    assert_eq!(revoke.entry.target, c.info.id);
    assert_eq!(
        revoke.entry.details,
        serde_json::json!({ "name": "audited" })
    );

    let (_, secret) = parse(c.key.expose_secret()).unwrap();
    let json = serde_json::to_string(&rows).unwrap();
    assert!(!json.contains(secret), "{json}");
    assert!(!looks_like_key(&json));
    // Authentication is not audited.
    engine.authenticate(&c.key).await.ok();
    assert_eq!(all_audit(&store).await.len(), 2);
}

#[tokio::test]
async fn bootstrap_creates_one_admin_key_on_a_fresh_deployment() {
    let (engine, store) = setup().await;
    let created = engine
        .bootstrap_admin_key()
        .await
        .unwrap()
        .expect("fresh deployment gets a key");
    assert_eq!(created.info.name, "bootstrap-admin");
    assert_eq!(created.info.scope, Scope::Admin);
    let p = engine.authenticate(&created.key).await.unwrap();
    assert_eq!(p.scope, Scope::Admin);
    let rows = all_audit(&store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].entry.actor, "system");
    assert_eq!(rows[0].entry.action, "api_key.create");

    assert!(engine.bootstrap_admin_key().await.unwrap().is_none());
    assert_eq!(store.list_api_keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn bootstrap_does_nothing_once_any_key_existed() {
    let (engine, store) = setup().await;
    let c = engine
        .create_api_key("app", Scope::App, &cli())
        .await
        .unwrap();
    assert!(engine.bootstrap_admin_key().await.unwrap().is_none());
    // Even with every key revoked, a key existed: no new admin key appears.
    engine.revoke_api_key(&c.info.id, &cli()).await.unwrap();
    assert_eq!(store.count_active_api_keys().await.unwrap(), 0);
    assert!(engine.bootstrap_admin_key().await.unwrap().is_none());
    assert_eq!(store.list_api_keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn keys_of_every_scope_authenticate_with_their_scope() {
    let (engine, _) = setup().await;
    for scope in [Scope::Admin, Scope::App] {
        let c = engine
            .create_api_key(scope.as_str(), scope, &cli())
            .await
            .unwrap();
        assert_eq!(engine.authenticate(&c.key).await.unwrap().scope, scope);
    }
    let listed = engine.list_api_keys().await.unwrap();
    let mut names: Vec<&str> = listed.iter().map(|k| k.name.as_str()).collect();
    // Oldest first; keys created in the same millisecond are ordered by id.
    let order: Vec<_> = listed
        .iter()
        .map(|k| (k.created_at, k.id.clone()))
        .collect();
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
    names.sort_unstable();
    assert_eq!(names, ["admin", "app"]);
}

#[tokio::test]
async fn keys_from_one_engine_work_on_another_over_the_same_store() {
    let sqlite = memory_store().await;
    let a = engine_on(Arc::new(sqlite.clone()), ring(&key(), &[]));
    let b = engine_on(Arc::new(sqlite.clone()), ring(&key(), &[]));
    let c = a
        .create_api_key("shared", Scope::App, &cli())
        .await
        .unwrap();
    b.authenticate(&c.key).await.unwrap();
    b.revoke_api_key(&c.info.id, &cli()).await.unwrap();
    assert_unauthenticated(a.authenticate(&c.key).await, "revoked elsewhere");
}
