//! Intake maps and routes each event in its own group commit: a stored webhook has its
//! mapping recorded and its deliveries enqueued before the 200, a failing mapping is
//! `mapping_failed` at once, a redelivery enqueues nothing, and nothing is left for the
//! sweep.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use signatures::Headers;
use store::{DeliveryFilter, DeliveryStatus, DeliveryStore, Mapped};

use super::{key, memory_store, ring};
use crate::Engine;
use crate::webhooks::{Incoming, Intake};

const SECRET: &str = "gh-secret";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn config(extra: &str) -> config::Config {
    let text = format!(
        "[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"{SECRET}\"]\n\n\
         [[integrations]]\nid = \"tw\"\nprovider = \"twilio\"\nwebhook_secrets = [\"tw-token\"]\n\n\
         [[destinations]]\nid = \"app\"\nurl = \"http://127.0.0.1:9/hooks\"\nsecret = \"{WHSEC}\"\n\
         integrations = [\"gh\"]\nevent_types = [\"user.*\", \"github.push\"]\n\n\
         [[destinations]]\nid = \"all\"\nurl = \"http://127.0.0.1:9/all\"\nsecret = \"{WHSEC}\"\n\n{extra}"
    );
    config::Config::from_toml(&text, "t.toml", &BTreeMap::new(), &Default::default()).unwrap()
}

async fn engine(extra: &str) -> (Engine, store_sqlite::SqliteStore) {
    let store = memory_store().await;
    let engine = Engine::new(Arc::new(store.clone()), ring(&key(), &[]), config(extra));
    (engine, store)
}

fn signed(delivery: &str, event: &str, body: &[u8]) -> Headers {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    m.update(body);
    let sig = format!("sha256={}", hex::encode(m.finalize().into_bytes()));
    Headers::new()
        .with("X-Hub-Signature-256", sig)
        .with("X-GitHub-Delivery", delivery)
        .with("X-GitHub-Event", event)
}

async fn post(engine: &Engine, h: &Headers, body: &[u8]) -> Intake {
    engine
        .intake(Incoming {
            integration: "gh",
            method: "POST",
            url: "https://sb.example/webhooks/gh/event",
            query: "",
            headers: h,
            body,
        })
        .await
        .unwrap()
}

async fn destinations_of(store: &store_sqlite::SqliteStore, event: &str) -> Vec<String> {
    let filter = DeliveryFilter {
        event_id: Some(event.to_owned()),
        ..Default::default()
    };
    let mut d: Vec<(String, DeliveryStatus)> = store
        .list_deliveries(&filter, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.destination, d.status))
        .collect();
    d.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(d.iter().all(|(_, s)| *s == DeliveryStatus::Pending));
    d.into_iter().map(|(n, _)| n).collect()
}

#[tokio::test]
async fn a_passthrough_event_is_routed_before_the_answer() {
    let (engine, store) = engine("").await;
    let body = br#"{"ref":"refs/heads/main"}"#;
    let Intake::Stored { id } = post(&engine, &signed("d-1", "push", body), body).await else {
        panic!("not stored")
    };
    let r = store.event_routing(&id).await.unwrap().unwrap();
    assert!(r.routed_at.is_some());
    let Some(Mapped::Mapped { event_type, data }) = r.mapped else {
        panic!("{:?}", r.mapped)
    };
    assert_eq!(event_type, "github.push");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&data).unwrap(),
        serde_json::json!({"ref": "refs/heads/main"})
    );
    assert_eq!(destinations_of(&store, &id).await, ["all", "app"]);
    assert!(store.unrouted_events(10).await.unwrap().is_empty());
    // The worker has nothing left to route.
    assert_eq!(engine.route_pending().await.unwrap(), 0);

    // A redelivery is a duplicate and enqueues nothing more.
    let again = post(&engine, &signed("d-1", "push", body), body).await;
    assert_eq!(again, Intake::Duplicate { id: id.clone() });
    let all = store
        .list_deliveries(&DeliveryFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
}

#[tokio::test]
async fn a_jq_mapping_runs_at_intake_and_picks_destinations_by_mapped_type() {
    let mapping = "[[mappings]]\nintegration = \"gh\"\nevent_type = \"member\"\n\
                   jq = '{type: \"user.created\", data: {login: .member.login}}'\n";
    let (engine, store) = engine(mapping).await;
    let body = br#"{"action":"added","member":{"login":"octocat"}}"#;
    let Intake::Stored { id } = post(&engine, &signed("d-2", "member", body), body).await else {
        panic!("not stored")
    };
    let r = store.event_routing(&id).await.unwrap().unwrap();
    assert_eq!(
        r.mapped,
        Some(Mapped::Mapped {
            event_type: "user.created".into(),
            data: r#"{"login":"octocat"}"#.into()
        })
    );
    assert_eq!(destinations_of(&store, &id).await, ["all", "app"]);

    // Another type matches only the catch-all destination.
    let body = br#"{"action":"opened"}"#;
    let Intake::Stored { id } = post(&engine, &signed("d-3", "issues", body), body).await else {
        panic!("not stored")
    };
    assert_eq!(destinations_of(&store, &id).await, ["all"]);
}

#[tokio::test]
async fn a_failing_mapping_is_recorded_at_intake_and_the_webhook_still_accepted() {
    let mapping = "[[mappings]]\nintegration = \"gh\"\nevent_type = \"*\"\n\
                   jq = '{type: \"x\", data: (.n + \"s\")}'\n";
    let (engine, store) = engine(mapping).await;
    let body = br#"{"n":1}"#;
    let Intake::Stored { id } = post(&engine, &signed("d-4", "push", body), body).await else {
        panic!("not stored")
    };
    let r = store.event_routing(&id).await.unwrap().unwrap();
    let Some(Mapped::Failed { error }) = r.mapped else {
        panic!("{:?}", r.mapped)
    };
    assert!(error.contains("mappings[0]"), "{error}");
    assert!(destinations_of(&store, &id).await.is_empty());
    assert!(store.unrouted_events(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_mapping_that_drops_the_event_enqueues_nothing() {
    let mapping = "[[mappings]]\nintegration = \"gh\"\nevent_type = \"push\"\njq = 'empty'\n";
    let (engine, store) = engine(mapping).await;
    let body = br#"{"n":1}"#;
    let Intake::Stored { id } = post(&engine, &signed("d-5", "push", body), body).await else {
        panic!("not stored")
    };
    let r = store.event_routing(&id).await.unwrap().unwrap();
    assert_eq!(r.mapped, Some(Mapped::Dropped));
    assert!(destinations_of(&store, &id).await.is_empty());
}
