//! Webhook intake: verification, handshakes, dedup, block, durability before the answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use signatures::Headers;
use store::EventStore;

use super::{key, memory_store, ring};
use crate::webhooks::{Incoming, Intake};
use crate::{Actor, Engine, EngineError, ManualClock};

/// GitHub's published example (docs): secret, body and signature.
pub(super) const GH_BODY: &[u8] = b"Hello, World!";
pub(super) const GH_SIG: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

const CONFIG: &str = r#"
[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["old-secret", "It's a Secret to Everybody"]

[[integrations]]
id = "slack"
provider = "slack"
webhook_secrets = ["8f742231b10e8888abcd99yyyzzz85a5"]

[[integrations]]
id = "zoom"
provider = "zoom"
webhook_secrets = ["zoom-secret-token"]

[[integrations]]
id = "twitch"
provider = "twitch"
webhook_secrets = ["twitch-secret-0123"]

[[integrations]]
id = "graph"
provider = "microsoft"
webhook_secrets = ["unused"]
webhook_scheme = "standard-webhooks"

[[integrations]]
id = "meta"
provider = "meta"
webhook_secrets = ["verify-me"]

[[integrations]]
id = "quiet"
provider = "gitlab"

[[integrations]]
id = "okta"
provider = "okta"

[[integrations]]
id = "monday"
provider = "monday"

[[integrations]]
id = "shop"
provider = "shopify"
webhook_secrets = ["shop-secret"]
"#;

/// Unix time of the engine's manual clock in these tests (Twitch's example time).
const NOW: i64 = 1_700_000_000;

/// Slack's documented example request was signed at this time.
const SLACK_EXAMPLE_TS: i64 = 1531420618;

/// An engine on a manual clock at `unix` seconds, its store and its clock.
async fn engine_at(unix: i64) -> (Engine, store_sqlite::SqliteStore, ManualClock) {
    let store = memory_store().await;
    let cfg =
        config::Config::from_toml(CONFIG, "t.toml", &BTreeMap::new(), &Default::default()).unwrap();
    let clock = ManualClock::starting_at(chrono::DateTime::from_timestamp(unix, 0).unwrap());
    let engine =
        Engine::new(Arc::new(store.clone()), ring(&key(), &[]), cfg).with_clock(clock.clone());
    (engine, store, clock)
}

pub(super) async fn engine() -> (Engine, store_sqlite::SqliteStore) {
    let (engine, store, _) = engine_at(NOW).await;
    (engine, store)
}

fn hmac_hex(secret: &str, msg: &[u8]) -> String {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(msg);
    hex::encode(m.finalize().into_bytes())
}

pub(super) fn incoming<'a>(
    integration: &'a str,
    headers: &'a Headers,
    body: &'a [u8],
) -> Incoming<'a> {
    Incoming {
        integration,
        method: "POST",
        url: "https://sb.example/webhooks/x/event",
        query: "",
        headers,
        body,
    }
}

pub(super) fn github_headers(delivery: &str, sig: &str) -> Headers {
    Headers::new()
        .with("X-Hub-Signature-256", sig)
        .with("X-GitHub-Delivery", delivery)
        .with("X-GitHub-Event", "push")
        .with("Authorization", "Bearer must-not-be-stored")
}

#[tokio::test]
async fn genuine_webhook_is_stored_once_and_redelivery_is_a_duplicate() {
    let (engine, store) = engine().await;
    let h = github_headers("d-1", GH_SIG);
    let first = engine.intake(incoming("gh", &h, GH_BODY)).await.unwrap();
    let Intake::Stored { id } = first else {
        panic!("{first:?}")
    };
    assert!(id.starts_with("evt_"));
    let e = store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(e.body, GH_BODY);
    assert_eq!(e.provider_event_id.as_deref(), Some("d-1"));
    assert_eq!(e.event_type.as_deref(), Some("push"));
    assert_eq!(e.scheme, "github");
    assert!(
        e.headers
            .iter()
            .all(|(n, _)| !n.eq_ignore_ascii_case("authorization"))
    );
    // Redelivery: same delivery id.
    let again = engine.intake(incoming("gh", &h, GH_BODY)).await.unwrap();
    assert_eq!(again, Intake::Duplicate { id: id.clone() });
    assert_eq!(store.count_events(Some("gh")).await.unwrap(), 1);
    // Another delivery id is another event.
    let h2 = github_headers("d-2", GH_SIG);
    assert!(matches!(
        engine.intake(incoming("gh", &h2, GH_BODY)).await.unwrap(),
        Intake::Stored { .. }
    ));
    let (list, _) = engine.list_events(Some("gh"), None, 10).await.unwrap();
    assert_eq!(list.len(), 2);
}

#[tokio::test]
async fn forged_altered_or_unsigned_webhooks_are_refused_and_nothing_is_stored() {
    let (engine, store) = engine().await;
    let wrong = format!("sha256={}", hmac_hex("wrong secret", GH_BODY));
    let cases: Vec<(Headers, &[u8], &str)> = vec![
        (github_headers("a", &wrong), GH_BODY, "no_match"),
        (github_headers("b", GH_SIG), b"Hello, World?", "no_match"),
        (
            Headers::new().with("X-GitHub-Delivery", "c"),
            GH_BODY,
            "missing_header",
        ),
        (
            github_headers("d", "sha256=zz"),
            GH_BODY,
            "malformed_header",
        ),
    ];
    for (h, body, reason) in &cases {
        match engine.intake(incoming("gh", h, body)).await {
            Err(EngineError::BadSignature { reason: r }) => assert_eq!(r, *reason),
            other => panic!("{reason}: {other:?}"),
        }
    }
    assert_eq!(store.count_events(None).await.unwrap(), 0);
}

#[tokio::test]
async fn stale_slack_request_is_refused() {
    let (engine, store, clock) = engine_at(SLACK_EXAMPLE_TS).await;
    // Slack's documented example: signing secret, timestamp, body, signature.
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let h = Headers::new()
        .with("X-Slack-Request-Timestamp", "1531420618")
        .with(
            "X-Slack-Signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        );
    assert!(matches!(
        engine.intake(incoming("slack", &h, body)).await.unwrap(),
        Intake::Stored { .. }
    ));
    // An hour later, the same request is outside the tolerance window.
    clock.advance(std::time::Duration::from_secs(3600));
    match engine.intake(incoming("slack", &h, body)).await {
        Err(EngineError::BadSignature { reason }) => {
            assert_eq!(reason, "timestamp_outside_tolerance")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.count_events(None).await.unwrap(), 1);
}

#[tokio::test]
async fn signed_handshakes_are_answered_after_verification() {
    let (engine, store) = engine().await;
    let now = NOW;
    // Slack url_verification.
    let body = br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let ts = now.to_string();
    let mut base = format!("v0:{ts}:").into_bytes();
    base.extend_from_slice(body);
    let h = Headers::new().with("X-Slack-Request-Timestamp", &ts).with(
        "X-Slack-Signature",
        format!("v0={}", hmac_hex("8f742231b10e8888abcd99yyyzzz85a5", &base)),
    );
    let Intake::Handshake(r) = engine.intake(incoming("slack", &h, body)).await.unwrap() else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    // The same handshake with a bad signature is refused.
    let bad = Headers::new()
        .with("X-Slack-Request-Timestamp", &ts)
        .with("X-Slack-Signature", "v0=00");
    assert!(engine.intake(incoming("slack", &bad, body)).await.is_err());

    // Zoom endpoint.url_validation: encryptedToken = hex HMAC-SHA256(secret token, plainToken).
    let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let mut msg = format!("v0:{ts}:").into_bytes();
    msg.extend_from_slice(body);
    let h = Headers::new().with("x-zm-request-timestamp", &ts).with(
        "x-zm-signature",
        format!("v0={}", hmac_hex("zoom-secret-token", &msg)),
    );
    let Intake::Handshake(r) = engine.intake(incoming("zoom", &h, body)).await.unwrap() else {
        panic!()
    };
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        v["encryptedToken"],
        hmac_hex("zoom-secret-token", b"qgg8vlvZRS6UYooatFL8Aw")
    );

    // Twitch webhook_callback_verification: the challenge as text.
    let body =
        br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387"}}"#;
    let rfc = "2023-11-14T22:13:20Z";
    let mut msg = b"msg-1".to_vec();
    msg.extend_from_slice(rfc.as_bytes());
    msg.extend_from_slice(body);
    let h = Headers::new()
        .with("Twitch-Eventsub-Message-Id", "msg-1")
        .with("Twitch-Eventsub-Message-Timestamp", rfc)
        .with(
            "Twitch-Eventsub-Message-Type",
            "webhook_callback_verification",
        )
        .with(
            "Twitch-Eventsub-Message-Signature",
            format!("sha256={}", hmac_hex("twitch-secret-0123", &msg)),
        );
    let Intake::Handshake(r) = engine.intake(incoming("twitch", &h, body)).await.unwrap() else {
        panic!()
    };
    assert_eq!(r.body, b"pogchamp-kappa-360noscope-vohiyo");
    assert!(r.content_type.starts_with("text/plain"));
    assert_eq!(
        store.count_events(None).await.unwrap(),
        0,
        "handshakes store nothing"
    );
}

#[tokio::test]
async fn unsigned_handshakes_graph_and_meta() {
    let (engine, store) = engine().await;
    let h = Headers::new();
    let mut req = incoming("graph", &h, b"");
    req.query = "validationToken=Validation%3A%20Testing%20client%20application";
    let Intake::Handshake(r) = engine.intake(req).await.unwrap() else {
        panic!()
    };
    assert_eq!(r.body, b"Validation: Testing client application");

    let mut req = incoming("meta", &h, b"");
    req.method = "GET";
    req.query = "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444";
    let Intake::Handshake(r) = engine.intake(req).await.unwrap() else {
        panic!()
    };
    assert_eq!(r.body, b"1158201444");
    // A wrong verify token is not answered; a GET without a handshake is refused.
    req.query = "hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1";
    assert!(matches!(
        engine.intake(req).await,
        Err(EngineError::Invalid {
            field: "method",
            ..
        })
    ));
    assert_eq!(store.count_events(None).await.unwrap(), 0);
}

#[tokio::test]
async fn unknown_blocked_and_unconfigured_integrations_are_refused() {
    let (engine, store) = engine().await;
    let h = github_headers("d-1", GH_SIG);
    assert!(matches!(
        engine.intake(incoming("nope", &h, GH_BODY)).await,
        Err(EngineError::NotFound {
            what: "integration",
            ..
        })
    ));
    assert!(matches!(
        engine.intake(incoming("quiet", &h, GH_BODY)).await,
        Err(EngineError::NotFound { .. })
    ));
    assert!(
        engine
            .set_webhooks_blocked("gh", true, &Actor::System)
            .await
            .unwrap()
    );
    assert!(
        !engine
            .set_webhooks_blocked("gh", true, &Actor::System)
            .await
            .unwrap()
    );
    assert!(matches!(
        engine.intake(incoming("gh", &h, GH_BODY)).await,
        Err(EngineError::Forbidden(_))
    ));
    assert_eq!(store.count_events(None).await.unwrap(), 0);
    assert!(
        engine
            .set_webhooks_blocked("gh", false, &Actor::System)
            .await
            .unwrap()
    );
    assert!(matches!(
        engine.intake(incoming("gh", &h, GH_BODY)).await.unwrap(),
        Intake::Stored { .. }
    ));
    assert!(matches!(
        engine
            .set_webhooks_blocked("nope", true, &Actor::System)
            .await,
        Err(EngineError::NotFound { .. })
    ));
    let actions: Vec<String> = engine
        .list_audit(None, 10)
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|r| r.entry.action)
        .collect();
    assert_eq!(actions, ["webhook.unblock", "webhook.block"]);
}

#[tokio::test]
async fn concurrent_deliveries_are_all_stored_and_deduplicated() {
    let (engine, store) = engine().await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            // 100 distinct deliveries, each sent twice.
            let h = github_headers(&format!("d-{}", i % 100), GH_SIG);
            engine.intake(incoming("gh", &h, GH_BODY)).await.unwrap()
        }));
    }
    let mut stored = 0;
    let mut dup = 0;
    for t in tasks {
        match t.await.unwrap() {
            Intake::Stored { .. } => stored += 1,
            Intake::Duplicate { .. } => dup += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((stored, dup), (100, 100));
    assert_eq!(store.count_events(Some("gh")).await.unwrap(), 100);
}

#[tokio::test]
async fn a_disabled_integration_refuses_webhooks_until_enabled() {
    let (engine, store) = engine().await;
    let h = github_headers("d-1", GH_SIG);
    assert!(
        engine
            .set_integration_disabled("gh", true, &Actor::System)
            .await
            .unwrap()
    );
    assert!(
        !engine
            .set_integration_disabled("gh", true, &Actor::System)
            .await
            .unwrap()
    );
    match engine.intake(incoming("gh", &h, GH_BODY)).await {
        Err(EngineError::Forbidden(m)) => assert!(m.contains("integration enable gh"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.count_events(None).await.unwrap(), 0);
    let states = engine.integration_states().await.unwrap();
    let gh = states.iter().find(|s| s.id == "gh").unwrap();
    assert!(gh.disabled && !gh.webhooks_blocked && gh.accepts_webhooks);
    assert!(
        !states
            .iter()
            .find(|s| s.id == "quiet")
            .unwrap()
            .accepts_webhooks
    );
    assert!(
        engine
            .set_integration_disabled("gh", false, &Actor::System)
            .await
            .unwrap()
    );
    assert!(matches!(
        engine.intake(incoming("gh", &h, GH_BODY)).await.unwrap(),
        Intake::Stored { .. }
    ));
    assert!(matches!(
        engine
            .set_integration_disabled("nope", true, &Actor::System)
            .await,
        Err(EngineError::NotFound { .. })
    ));
    let actions: Vec<String> = engine
        .list_audit(None, 10)
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|r| r.entry.action)
        .collect();
    assert_eq!(actions, ["integration.enable", "integration.disable"]);
}

#[tokio::test]
async fn events_are_routed_to_the_connection_with_their_key() {
    use store::{Connection, ConnectionStatus, ConnectionStore, SealedCredentials};
    let (engine, store, clock) = engine_at(SLACK_EXAMPLE_TS).await;
    let now = clock.now();
    let conn = |id: &str, integration: &str, key: &str| Connection {
        id: id.into(),
        integration: integration.into(),
        provider: "slack".into(),
        end_user_id: "u1".into(),
        auth_mode: "oauth2".into(),
        status: ConnectionStatus::Active,
        scopes: vec![],
        missing_scopes: vec![],
        settings: Default::default(),
        routing_key: Some(key.into()),
        expires_at: None,
        created_at: now,
        updated_at: now,
        last_refresh_at: None,
        last_error: None,
        refresh_failures: 0,
        next_refresh_at: None,
        token_version: 0,
        token_obtained_at: None,
        health: None,
    };
    let creds = SealedCredentials {
        key_id: "00".into(),
        ciphertext: vec![1, 2, 3],
    };
    // The same team id in another integration does not match.
    for c in [
        conn("team-conn", "slack", "T1DC2JH3J"),
        conn("elsewhere", "gh", "T1DC2JH3J"),
    ] {
        store.upsert_connection(&c, &creds).await.unwrap();
    }
    // Slack's documented example: signing secret, timestamp, body (team_id T1DC2JH3J).
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let h = Headers::new()
        .with("X-Slack-Request-Timestamp", "1531420618")
        .with(
            "X-Slack-Signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        );
    let Intake::Stored { id } = engine.intake(incoming("slack", &h, body)).await.unwrap() else {
        panic!("not stored")
    };
    let e = store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(e.connection_id.as_deref(), Some("team-conn"));

    // A JSON event of a team no connection has: stored, not routed.
    let body = br#"{"type":"event_callback","team_id":"TUNKNOWN","event_id":"Ev1","event":{"type":"app_mention"}}"#;
    clock.advance(std::time::Duration::from_secs(
        (NOW - SLACK_EXAMPLE_TS) as u64,
    ));
    let ts = NOW.to_string();
    let mut base = format!("v0:{ts}:").into_bytes();
    base.extend_from_slice(body);
    let h = Headers::new().with("X-Slack-Request-Timestamp", &ts).with(
        "X-Slack-Signature",
        format!("v0={}", hmac_hex("8f742231b10e8888abcd99yyyzzz85a5", &base)),
    );
    let Intake::Stored { id } = engine.intake(incoming("slack", &h, body)).await.unwrap() else {
        panic!("not stored")
    };
    assert_eq!(
        store.get_event(&id).await.unwrap().unwrap().connection_id,
        None
    );
}

#[tokio::test]
async fn okta_and_monday_url_checks_are_echoed_and_store_nothing() {
    let (engine, store) = engine().await;
    // Okta: GET with X-Okta-Verification-Challenge → {"verification": …}.
    let h = Headers::new().with("X-Okta-Verification-Challenge", "abc-123");
    let mut req = incoming("okta", &h, b"");
    req.method = "GET";
    let Intake::Handshake(r) = engine.intake(req).await.unwrap() else {
        panic!("not a handshake")
    };
    assert_eq!(r.content_type, "application/json");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v, serde_json::json!({"verification": "abc-123"}));
    // monday.com: POST {"challenge": …} → the same JSON.
    let h = Headers::new();
    let body = br#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#;
    let Intake::Handshake(r) = engine.intake(incoming("monday", &h, body)).await.unwrap() else {
        panic!("not a handshake")
    };
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    // Anything else is not a handshake: an event with a challenge field among others, an
    // empty challenge, or a GET without the header (refused: these integrations have no
    // signature scheme configured, so nothing is stored).
    for body in [
        &br#"{"challenge":"x","event":{"type":"create_item"}}"#[..],
        br#"{"challenge":""}"#,
        b"not json",
    ] {
        assert!(engine.intake(incoming("monday", &h, body)).await.is_err());
    }
    let mut req = incoming("okta", &h, b"");
    req.method = "GET";
    assert!(engine.intake(req).await.is_err());
    assert_eq!(store.count_events(None).await.unwrap(), 0);
}

#[tokio::test]
async fn shopify_unprefixed_headers_give_the_event_id_type_and_routing_key() {
    use base64::Engine as _;
    let (engine, store) = engine().await;
    let body = br#"{"id":820982911946154508}"#;
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"shop-secret").unwrap();
    m.update(body);
    let sig = base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes());
    let h = Headers::new()
        .with("Shopify-Hmac-Sha256", sig.as_str())
        .with("Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
        .with("Shopify-Topic", "orders/create")
        .with("Shopify-Shop-Domain", "example.myshopify.com");
    let Intake::Stored { id } = engine.intake(incoming("shop", &h, body)).await.unwrap() else {
        panic!("not stored")
    };
    let e = store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(
        e.provider_event_id.as_deref(),
        Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    );
    assert_eq!(e.event_type.as_deref(), Some("orders/create"));
    assert_eq!(e.routing_key.as_deref(), Some("example.myshopify.com"));
    // The same delivery again (the unprefixed id) is a duplicate.
    let again = engine.intake(incoming("shop", &h, body)).await.unwrap();
    assert_eq!(again, Intake::Duplicate { id });
}

/// The earliest `Instant` this platform represents, to within a second: a clock whose
/// origin is less than [`RejectLog`]'s interval before "now" (an `Instant` counted
/// from boot, a moment after boot).
fn earliest_instant() -> std::time::Instant {
    let mut t = std::time::Instant::now();
    let mut step = std::time::Duration::from_secs(1 << 62);
    while step >= std::time::Duration::from_secs(1) {
        while let Some(earlier) = t.checked_sub(step) {
            t = earlier;
        }
        step /= 2;
    }
    t
}

#[test]
fn rejections_right_after_the_clocks_origin_are_logged_not_a_panic() {
    use crate::webhooks::RejectLog;
    use std::time::Duration;
    let origin = earliest_instant();
    // What the log used to compute for an integration's first rejection.
    assert!(origin.checked_sub(Duration::from_secs(10)).is_none());
    let log = RejectLog::default();
    // The first rejection is logged, then one per 10 s per integration, saying how many
    // went unlogged in between.
    assert_eq!(log.note("gh", "bad_signature", origin), Some(0));
    assert_eq!(log.note("gh", "bad_signature", origin), None);
    assert_eq!(
        log.note("gh", "bad_signature", origin + Duration::from_secs(9)),
        None
    );
    assert_eq!(
        log.note("slack", "stale", origin + Duration::from_secs(9)),
        Some(0)
    );
    assert_eq!(
        log.note("gh", "bad_signature", origin + Duration::from_secs(10)),
        Some(2)
    );
    assert_eq!(
        log.note("gh", "bad_signature", origin + Duration::from_secs(11)),
        None
    );
}
