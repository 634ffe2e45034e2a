//! Atlassian's two kinds of webhook at one integration: admin webhooks signed with the
//! webhook secret (`X-Hub-Signature`), and webhooks the OAuth 2.0 app registered, whose
//! `Authorization: Bearer` JWT is signed with the integration's client secret. The JWTs
//! were made by npm `jose` (crates/signatures/tests/vectors/atlassian.mjs) at
//! 1_700_000_000, valid for 180 s.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use serde_json::Value;
use signatures::Headers;
use store::EventStore;

use super::webhooks::incoming;
use super::{key, memory_store, ring};
use crate::webhooks::Intake;
use crate::{Engine, EngineError, ManualClock};

const TS: i64 = 1_700_000_000;
const ADMIN_SECRET: &str = "atlassian-admin-webhook-secret-0123456789";
const BODY: &[u8] = br#"{"timestamp":1700000000000,"webhookEvent":"jira:issue_created","issue":{"id":"10001","key":"SB-1"}}"#;

fn jose() -> Value {
    serde_json::from_str(include_str!(
        "../../../signatures/tests/vectors/atlassian-jose.json"
    ))
    .unwrap()
}

fn token(name: &str) -> String {
    jose()["tokens"][name].as_str().unwrap().to_owned()
}

fn config() -> String {
    let cs = jose()["client_secret"].as_str().unwrap().to_owned();
    format!(
        r#"
public_url = "https://sb.example"

[[integrations]]
id = "jira"
provider = "atlassian"
client_id = "jira-client-id"
client_secret = "{cs}"
webhook_secrets = ["{ADMIN_SECRET}"]

# Only webhooks the app registered: no webhook secret.
[[integrations]]
id = "jira-app"
provider = "atlassian"
client_id = "jira-client-id"
client_secret = "{cs}"
"#
    )
}

async fn engine_at(unix: i64) -> (Engine, store_sqlite::SqliteStore) {
    let store = memory_store().await;
    let cfg = config::Config::from_toml(&config(), "t.toml", &BTreeMap::new(), &Default::default())
        .unwrap();
    let clock = ManualClock::starting_at(chrono::DateTime::from_timestamp(unix, 0).unwrap());
    let engine = Engine::new(Arc::new(store.clone()), ring(&key(), &[]), cfg).with_clock(clock);
    (engine, store)
}

fn hub(secret: &str, body: &[u8]) -> String {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

fn dynamic(delivery: &str, jwt: &str) -> Headers {
    Headers::new()
        .with("Authorization", format!("Bearer {jwt}"))
        .with("X-Atlassian-Webhook-Identifier", delivery)
}

async fn refused(e: &Engine, integration: &str, headers: &Headers) -> &'static str {
    match e.intake(incoming(integration, headers, BODY)).await {
        Err(EngineError::BadSignature { reason }) => reason,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn both_kinds_are_stored_each_checked_with_its_own_key() {
    let (e, store) = engine_at(TS + 5).await;
    // A webhook the app registered: the JWT, checked with the client secret.
    let out = e
        .intake(incoming("jira", &dynamic("d-1", &token("valid")), BODY))
        .await
        .unwrap();
    let Intake::Stored { id } = out else {
        panic!("{out:?}")
    };
    let ev = store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(ev.scheme, "atlassian");
    assert_eq!(ev.provider_event_id.as_deref(), Some("d-1"));
    assert_eq!(ev.event_type.as_deref(), Some("jira:issue_created"));
    assert!(
        ev.headers
            .iter()
            .all(|(n, _)| !n.eq_ignore_ascii_case("authorization")),
        "the bearer token is not kept"
    );
    // An admin webhook: X-Hub-Signature, checked with the webhook secret.
    let admin = Headers::new()
        .with("X-Hub-Signature", hub(ADMIN_SECRET, BODY))
        .with("X-Atlassian-Webhook-Identifier", "a-1");
    assert!(matches!(
        e.intake(incoming("jira", &admin, BODY)).await.unwrap(),
        Intake::Stored { .. }
    ));
    // With only a client secret configured, the app's webhooks still come in.
    assert!(matches!(
        e.intake(incoming("jira-app", &dynamic("d-2", &token("valid")), BODY))
            .await
            .unwrap(),
        Intake::Stored { .. }
    ));
    assert_eq!(store.count_events(None).await.unwrap(), 3);
}

#[tokio::test]
async fn neither_key_verifies_the_other_kind_and_nothing_is_stored() {
    let (e, store) = engine_at(TS + 5).await;
    let cs = jose()["client_secret"].as_str().unwrap().to_owned();
    // X-Hub-Signature made with the client secret.
    let forged = Headers::new().with("X-Hub-Signature", hub(&cs, BODY));
    assert_eq!(refused(&e, "jira", &forged).await, "no_match");
    // ... at an integration without webhook secrets: no secret to check it with.
    assert_eq!(refused(&e, "jira-app", &forged).await, "no_secrets");
    // A JWT signed with something else than the client secret (the admin secret is not tried).
    assert_eq!(
        refused(&e, "jira", &dynamic("x", &token("wrong_secret"))).await,
        "no_match"
    );
    // Neither header, or a bearer that is not a JWT.
    assert_eq!(refused(&e, "jira", &Headers::new()).await, "missing_header");
    assert_eq!(
        refused(&e, "jira", &dynamic("x", "opaque-token")).await,
        "malformed_header"
    );
    // Algorithm confusion and a JWT without exp.
    for (name, code) in [
        ("rs256", "unsupported_algorithm"),
        ("hs512", "unsupported_algorithm"),
        ("alg_none", "malformed_header"),
        ("no_exp", "malformed_header"),
    ] {
        assert_eq!(
            refused(&e, "jira", &dynamic("x", &token(name))).await,
            code,
            "{name}"
        );
    }
    assert_eq!(store.count_events(None).await.unwrap(), 0);
}

#[tokio::test]
async fn an_expired_jwt_is_refused_by_the_engines_clock() {
    // The token's exp is 180 s after its iat.
    let (e, store) = engine_at(TS + 181).await;
    assert_eq!(
        refused(&e, "jira", &dynamic("late", &token("valid"))).await,
        "token_expired"
    );
    let (e, _) = engine_at(TS + 180).await;
    assert!(
        e.intake(incoming("jira", &dynamic("in-time", &token("valid")), BODY))
            .await
            .is_ok()
    );
    assert_eq!(store.count_events(None).await.unwrap(), 0);
}

#[tokio::test]
async fn the_status_says_app_registered_webhooks_are_accepted() {
    let (e, _) = engine_at(TS).await;
    let list = e.integration_states().await.unwrap();
    let app = list.iter().find(|i| i.id == "jira-app").unwrap();
    assert!(
        app.accepts_webhooks,
        "client_secret alone verifies the app's webhooks"
    );
}
