//! Webhooks whose keys are fetched from the provider (Plaid, PayPal), against a key
//! server on 127.0.0.1 that counts its requests, with tokens and certificates from the
//! independent vectors of crates/signatures (npm `jose`, Python `cryptography`): one
//! fetch for many webhooks, unknown keys remembered, the key endpoint down answered 503
//! and asked again only later, certificate URLs outside the pinned prefix refused before
//! any fetch, the fetch budget, the cache's lifetime on the manual clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use signatures::Headers;
use store::EventStore;

use super::http::{Reply, TestServer, serve};
use super::{key, memory_store, ring};
use crate::webhook_keys::{BUDGET_WINDOW, DOWN_TTL, FETCH_BUDGET, KEY_TTL, UNKNOWN_TTL};
use crate::webhooks::{Incoming, Intake};
use crate::{Engine, EngineError, ManualClock};

const PLAID: &str = include_str!("../../../signatures/tests/vectors/plaid-jose.json");
const PAYPAL: &str = include_str!("../../../signatures/tests/vectors/paypal.json");
const KEY_PATH: &str = "/sandbox/webhook_verification_key/get";
const CERT_PATH: &str = "/v1/notifications/certs/CERT-360caa42";

fn vector(file: &str, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(file).unwrap();
    v["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap()
        .clone()
}

struct World {
    engine: Engine,
    store: store_sqlite::SqliteStore,
    clock: ManualClock,
    server: TestServer,
    /// A status the key server answers everything with instead (0: as usual).
    fail: Arc<AtomicU16>,
}

async fn world() -> World {
    let plaid = vector(PLAID, "valid");
    let paypal = vector(PAYPAL, "valid");
    let answer = plaid["answer"].to_string();
    let pem = paypal["pem"].as_str().unwrap().to_owned();
    let fail = Arc::new(AtomicU16::new(0));
    let f = fail.clone();
    let server = serve(move |path| -> Reply {
        let status = f.load(Ordering::SeqCst);
        if status != 0 {
            return Some((status, vec![], "{}".into()));
        }
        match path {
            KEY_PATH => super::http::json(answer.clone()),
            CERT_PATH => Some((200, vec![], pem.clone())),
            "/v1/notifications/certs/moved" => Some((
                302,
                vec![("location".into(), CERT_PATH.into())],
                String::new(),
            )),
            _ => Some((404, vec![], "{}".into())),
        }
    })
    .await;
    let base = server.url("");
    let toml = format!(
        r#"
[[providers]]
id = "plaid-local"
auth_mode = "webhook_only"
docs_url = "https://plaid.com/docs/api/webhooks/"
[providers.placeholders.environment]
from = {{ integration = "environment" }}
kind = "segment"
[providers.webhooks]
scheme = "plaid"
event_id = "none"
event_type = {{ join = ["/webhook_type", "/webhook_code"] }}
[providers.webhooks.keys]
key_url = "{base}/{{environment}}/webhook_verification_key/get"

[[providers]]
id = "paypal-local"
auth_mode = "webhook_only"
docs_url = "https://developer.paypal.com/api/rest/webhooks/rest/"
[providers.webhooks]
scheme = "paypal"
event_id = {{ pointer = "/id" }}
event_type = {{ pointer = "/event_type" }}
[providers.webhooks.keys]
cert_url_prefixes = ["{base}/v1/notifications/certs/"]
settings = ["webhook_id"]

[[integrations]]
id = "plaid"
provider = "plaid-local"
client_id = "client-1"
client_secret = "plaid-secret-1"
settings = {{ environment = "sandbox" }}

[[integrations]]
id = "paypal"
provider = "paypal-local"
settings = {{ webhook_id = "{}" }}
"#,
        paypal["webhook_id"].as_str().unwrap()
    );
    let cfg =
        config::Config::from_toml(&toml, "t.toml", &BTreeMap::new(), &Default::default()).unwrap();
    let (catalog, pending) = cfg.catalog(true).unwrap();
    assert!(pending.is_empty());
    let store = memory_store().await;
    let clock = ManualClock::starting_at(
        chrono::DateTime::from_timestamp(plaid["now"].as_i64().unwrap(), 0).unwrap(),
    );
    let engine = Engine::new(Arc::new(store.clone()), ring(&key(), &[]), cfg)
        .with_dev(true)
        .with_catalog(catalog)
        .with_clock(clock.clone());
    World {
        engine,
        store,
        clock,
        server,
        fail,
    }
}

fn incoming<'a>(integration: &'a str, headers: &'a Headers, body: &'a [u8]) -> Incoming<'a> {
    Incoming {
        integration,
        method: "POST",
        url: "https://sb.example/webhooks/x/event",
        query: "",
        headers,
        body,
    }
}

fn plaid_request(name: &str) -> (Headers, Vec<u8>) {
    let v = vector(PLAID, name);
    (
        Headers::new().with("Plaid-Verification", v["token"].as_str().unwrap()),
        v["body"].as_str().unwrap().as_bytes().to_vec(),
    )
}

/// A PayPal vector's request, its certificate URL replaced by `cert_url`.
fn paypal_request(w: &World, cert_url: &str) -> (Headers, Vec<u8>) {
    let v = vector(PAYPAL, "valid");
    let mut headers = Headers::new();
    for (n, val) in v["headers"].as_object().unwrap() {
        if n == "PAYPAL-CERT-URL" {
            headers.append(n, cert_url.replace("{base}", &w.server.url("")));
        } else {
            headers.append(n, val.as_str().unwrap());
        }
    }
    (headers, v["body"].as_str().unwrap().as_bytes().to_vec())
}

fn reason(r: Result<Intake, EngineError>) -> String {
    match r {
        Ok(Intake::Stored { .. }) => "stored".into(),
        Ok(Intake::Duplicate { .. }) => "duplicate".into(),
        Ok(Intake::Handshake(_)) => "handshake".into(),
        Err(EngineError::BadSignature { reason }) => reason.into(),
        Err(EngineError::ProviderUnavailable(_)) => "unavailable".into(),
        Err(e) => format!("other: {e}"),
    }
}

#[tokio::test]
async fn a_thousand_webhooks_with_a_new_kid_make_one_fetch() {
    let w = world().await;
    let (headers, body) = plaid_request("valid");
    let engine = w.engine.clone();
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (engine, headers, body) = (engine.clone(), headers.clone(), body.clone());
            tokio::spawn(
                async move { reason(engine.intake(incoming("plaid", &headers, &body)).await) },
            )
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "stored");
    }
    assert_eq!(w.server.hits(KEY_PATH), 1);
    // Plaid sends no id: every delivery is stored, with its type from the two fields.
    assert_eq!(w.store.count_events(Some("plaid")).await.unwrap(), 1000);
    let (list, _) = w.engine.list_events(Some("plaid"), None, 1).await.unwrap();
    assert_eq!(
        list[0].event_type.as_deref(),
        Some("TRANSACTIONS.SYNC_UPDATES_AVAILABLE")
    );
    assert_eq!(w.engine.inner.webhook_keys.fetches(), 1);
}

#[tokio::test]
async fn bad_plaid_requests_are_refused_and_cost_no_fetch() {
    let w = world().await;
    for (name, want) in [
        ("HS256 instead of ES256", "unsupported_algorithm"),
        ("alg none", "malformed_header"),
        ("no kid", "malformed_header"),
        ("not a JWT", "malformed_header"),
    ] {
        let (headers, body) = plaid_request(name);
        assert_eq!(
            reason(w.engine.intake(incoming("plaid", &headers, &body)).await),
            want,
            "{name}"
        );
    }
    let body = b"{}";
    assert_eq!(
        reason(
            w.engine
                .intake(incoming("plaid", &Headers::new(), body))
                .await
        ),
        "missing_header"
    );
    assert_eq!(w.server.hits(KEY_PATH), 0);
    // With the key: a tampered body, a stale iat, another key under the same kid.
    for (name, want) in [
        ("body tampered", "body_hash_mismatch"),
        ("signed by another key under the same kid", "no_match"),
    ] {
        let (headers, body) = plaid_request(name);
        assert_eq!(
            reason(w.engine.intake(incoming("plaid", &headers, &body)).await),
            want,
            "{name}"
        );
    }
    w.clock.advance(Duration::from_secs(300));
    let (headers, body) = plaid_request("valid");
    assert_eq!(
        reason(w.engine.intake(incoming("plaid", &headers, &body)).await),
        "timestamp_outside_tolerance"
    );
    assert_eq!(w.server.hits(KEY_PATH), 1);
    assert_eq!(w.store.count_events(None).await.unwrap(), 0);
}

/// A token for `kid` (not the server's): the endpoint hands out its own key, whose kid
/// does not match, so the key is unknown.
fn token_with_kid(kid: &str) -> Headers {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let head = b64.encode(format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#));
    let claims = b64.encode(r#"{"iat":1700000000,"request_body_sha256":"00"}"#);
    let sig = b64.encode([7u8; 64]);
    Headers::new().with("Plaid-Verification", format!("{head}.{claims}.{sig}"))
}

#[tokio::test]
async fn an_unknown_kid_is_asked_once_then_remembered() {
    let w = world().await;
    let headers = token_with_kid("no-such-key");
    for _ in 0..20 {
        assert_eq!(
            reason(w.engine.intake(incoming("plaid", &headers, b"{}")).await),
            "unknown_key"
        );
    }
    assert_eq!(w.server.hits(KEY_PATH), 1);
    w.clock.advance(UNKNOWN_TTL + Duration::from_secs(1));
    assert_eq!(
        reason(w.engine.intake(incoming("plaid", &headers, b"{}")).await),
        "unknown_key"
    );
    assert_eq!(w.server.hits(KEY_PATH), 2);
}

#[tokio::test]
async fn random_kids_spend_a_bounded_budget_of_fetches() {
    let w = world().await;
    for i in 0..FETCH_BUDGET {
        let headers = token_with_kid(&format!("random-{i}"));
        assert_eq!(
            reason(w.engine.intake(incoming("plaid", &headers, b"{}")).await),
            "unknown_key"
        );
    }
    let headers = token_with_kid("one-too-many");
    assert_eq!(
        reason(w.engine.intake(incoming("plaid", &headers, b"{}")).await),
        "unavailable"
    );
    assert_eq!(w.server.hits(KEY_PATH), FETCH_BUDGET);
    w.clock.advance(BUDGET_WINDOW);
    assert_eq!(
        reason(w.engine.intake(incoming("plaid", &headers, b"{}")).await),
        "unknown_key"
    );
    assert_eq!(w.server.hits(KEY_PATH), FETCH_BUDGET + 1);
}

#[tokio::test]
async fn a_key_endpoint_outage_is_a_503_the_provider_retries() {
    let w = world().await;
    w.fail.store(503, Ordering::SeqCst);
    let (headers, body) = plaid_request("valid");
    for _ in 0..5 {
        let err = w
            .engine
            .intake(incoming("plaid", &headers, &body))
            .await
            .unwrap_err();
        assert!(matches!(err, EngineError::ProviderUnavailable(_)), "{err}");
    }
    // One fetch; the others within DOWN_TTL were answered without asking again.
    assert_eq!(w.server.hits(KEY_PATH), 1);
    assert_eq!(w.store.count_events(None).await.unwrap(), 0);
    // Refused credentials are the operator's to fix, also answered 503 (retried).
    w.fail.store(401, Ordering::SeqCst);
    w.clock.advance(DOWN_TTL);
    assert_eq!(
        reason(w.engine.intake(incoming("plaid", &headers, &body)).await),
        "unavailable"
    );
    assert_eq!(w.server.hits(KEY_PATH), 2);
    // Back up: the provider's retry is stored.
    w.fail.store(0, Ordering::SeqCst);
    w.clock.advance(DOWN_TTL);
    assert_eq!(
        reason(w.engine.intake(incoming("plaid", &headers, &body)).await),
        "stored"
    );
    assert_eq!(w.server.hits(KEY_PATH), 3);
}

#[tokio::test]
async fn a_key_is_kept_for_its_lifetime_then_fetched_again() {
    let w = world().await;
    let (headers, body) = plaid_request("valid");
    assert_eq!(
        reason(w.engine.intake(incoming("plaid", &headers, &body)).await),
        "stored"
    );
    w.clock.advance(KEY_TTL - Duration::from_secs(1));
    // The token is stale by now, but the key is still cached.
    let _ = w.engine.intake(incoming("plaid", &headers, &body)).await;
    assert_eq!(w.server.hits(KEY_PATH), 1);
    w.clock.advance(Duration::from_secs(2));
    let _ = w.engine.intake(incoming("plaid", &headers, &body)).await;
    assert_eq!(w.server.hits(KEY_PATH), 2);
}

#[tokio::test]
async fn paypal_certificates_come_from_the_pinned_prefix_only() {
    let w = world().await;
    let good = format!("{{base}}{CERT_PATH}");
    let (headers, body) = paypal_request(&w, &good);
    assert_eq!(
        reason(w.engine.intake(incoming("paypal", &headers, &body)).await),
        "stored"
    );
    assert_eq!(
        reason(w.engine.intake(incoming("paypal", &headers, &body)).await),
        "duplicate"
    );
    assert_eq!(w.server.hits(CERT_PATH), 1);
    let port = w.server.addr.port();
    for bad in [
        "https://evil.example/v1/notifications/certs/CERT-1".to_owned(),
        format!("http://localhost:{port}/v1/notifications/certs/CERT-1"),
        format!(
            "http://127.0.0.1:{}/v1/notifications/certs/CERT-1",
            port + 1
        ),
        format!("http://user@127.0.0.1:{port}/v1/notifications/certs/CERT-1"),
        "{base}/v1/notifications/certs/../certs/CERT-1".to_owned(),
        "{base}/v1/notifications/certs/CERT-1?x=1".to_owned(),
        "{base}/v1/notifications/certs/%2e%2e".to_owned(),
        "{base}/v1/notifications/other/CERT-1".to_owned(),
        "{base}@evil.example/v1/notifications/certs/CERT-1".to_owned(),
    ] {
        let (headers, body) = paypal_request(&w, &bad);
        assert_eq!(
            reason(w.engine.intake(incoming("paypal", &headers, &body)).await),
            "cert_url_not_pinned",
            "{bad}"
        );
    }
    assert_eq!(w.server.paths.lock().unwrap().len(), 1);
    // Pinned but unknown, or redirected elsewhere: refused, and remembered.
    for path in [
        "/v1/notifications/certs/missing",
        "/v1/notifications/certs/moved",
    ] {
        let (headers, body) = paypal_request(&w, &format!("{{base}}{path}"));
        for _ in 0..3 {
            assert_eq!(
                reason(w.engine.intake(incoming("paypal", &headers, &body)).await),
                "unknown_key",
                "{path}"
            );
        }
        assert_eq!(w.server.hits(path), 1);
    }
    assert_eq!(w.store.count_events(Some("paypal")).await.unwrap(), 1);
}

#[tokio::test]
async fn a_tampered_paypal_webhook_is_refused_with_the_cached_certificate() {
    let w = world().await;
    let (headers, body) = paypal_request(&w, &format!("{{base}}{CERT_PATH}"));
    let tampered = String::from_utf8(body).unwrap().replace("10.00", "99.00");
    assert_eq!(
        reason(
            w.engine
                .intake(incoming("paypal", &headers, tampered.as_bytes()))
                .await
        ),
        "no_match"
    );
    assert_eq!(w.store.count_events(None).await.unwrap(), 0);
    // The certificate is valid for a year from the vectors' time, not more.
    w.clock.advance(Duration::from_secs(400 * 86_400));
    let (headers, body) = paypal_request(&w, &format!("{{base}}{CERT_PATH}"));
    let r = reason(w.engine.intake(incoming("paypal", &headers, &body)).await);
    assert_eq!(r, "key_expired");
}
