//! Times, records and checks the cases share, public so that a backend's own tests
//! (SQLite's writer and schema tests, PostgreSQL's) build the same records instead of
//! copying these.
//!
//! Every builder is deterministic except where it says "now", and fills every field so
//! that a round trip compares the whole record.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use store::{
    ApiKeyRecord, AuditEntry, AuditRecord, ConnectSession, Connection, ConnectionStatus, Delivery,
    DeliveryFilter, Event, GENESIS_HASH, Mapped, OAuthState, Routing, Scope, SealedCredentials,
    SecretSlot, Store, chain_hash, from_millis, now,
};

// ---------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------

/// A fixed, millisecond-precise instant (2023-11-14) that relative times start from.
pub const T0: i64 = 1_700_000_000_000;
/// One second in milliseconds.
pub const SEC: i64 = 1_000;
/// One minute in milliseconds.
pub const MIN: i64 = 60 * SEC;

/// The instant `millis` after the Unix epoch.
pub fn ms(millis: i64) -> DateTime<Utc> {
    from_millis(millis).unwrap()
}

/// The instant `offset_ms` after [`T0`].
pub fn at(offset_ms: i64) -> DateTime<Utc> {
    ms(T0 + offset_ms)
}

// ---------------------------------------------------------------------------------------
// API keys and secrets
// ---------------------------------------------------------------------------------------

/// An app key named `key <id>` created at `created_at`, with a hash derived from its id.
pub fn api_key(id: &str, created_at: DateTime<Utc>) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.to_owned(),
        name: format!("key {id}"),
        scope: Scope::App,
        secret_hash: id.bytes().chain(0..32).take(32).collect(),
        created_at,
        last_used_at: None,
        revoked_at: None,
    }
}

/// The secret slot `name` of `owner`/`owner_id`.
pub fn slot(owner: &str, owner_id: &str, name: &str) -> SecretSlot {
    SecretSlot::new(owner, owner_id, name)
}

// ---------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------

/// An audit entry at the current time ("now") with empty details.
pub fn entry(actor: &str, action: &str, target: &str) -> AuditEntry {
    AuditEntry {
        at: now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        details: json!({}),
    }
}

/// Panics unless `records` (oldest first, from seq 1) form one gap-free, valid hash chain.
pub fn assert_valid_chain(records: &[AuditRecord]) {
    let mut prev = GENESIS_HASH.to_owned();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as i64 + 1, "gap or reorder at index {i}");
        assert_eq!(r.prev_hash, prev, "prev_hash of seq {}", r.seq);
        assert_eq!(
            r.hash,
            chain_hash(&r.prev_hash, r.seq, &r.entry),
            "hash of seq {}",
            r.seq
        );
        assert_eq!(r.hash.len(), 64);
        prev = r.hash.clone();
    }
}

/// The whole audit log of `s`, oldest first.
pub async fn all_audit(s: &dyn Store) -> Vec<AuditRecord> {
    s.list_audit_asc(0, u32::MAX).await.unwrap()
}

// ---------------------------------------------------------------------------------------
// Events and their routing
// ---------------------------------------------------------------------------------------

/// A time-ordered event id shaped like the engine's (`evt_` + 32 lowercase hex).
pub fn evt_id(n: u128) -> String {
    format!("evt_{n:032x}")
}

/// Event `n` of `integration` (a small JSON body, one header), received `n` ms after [`T0`].
pub fn event(n: u128, integration: &str, provider_event_id: Option<&str>) -> Event {
    Event {
        id: evt_id(n),
        integration: integration.to_owned(),
        received_at: ms(T0 + n as i64),
        provider_event_id: provider_event_id.map(str::to_owned),
        event_type: Some("thing.happened".to_owned()),
        scheme: "standard-webhooks".to_owned(),
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: format!("{{\"n\":{n}}}").into_bytes(),
        connection_id: None,
        routing_key: None,
    }
}

/// Stripe event `n` of `stripe-main` with the given provider id, received `n` ms after [`T0`].
pub fn routed_event(n: u32, provider_id: &str) -> Event {
    Event {
        id: evt_id(u128::from(n)),
        integration: "stripe-main".to_owned(),
        received_at: ms(T0 + i64::from(n)),
        provider_event_id: Some(provider_id.to_owned()),
        event_type: Some("payment_intent.succeeded".to_owned()),
        scheme: "stripe".to_owned(),
        headers: vec![],
        body: br#"{"id":"pi_1"}"#.to_vec(),
        connection_id: None,
        routing_key: None,
    }
}

/// The routing of `e` to each of `dests`, with delivery ids `dlv_<event hex>_<dest>`.
pub fn routed(e: &Event, mapped: Mapped, dests: &[&str]) -> Routing {
    Routing {
        event_id: e.id.clone(),
        mapped,
        deliveries: dests
            .iter()
            .map(|d| (format!("dlv_{}_{d}", &e.id[4..]), (*d).to_owned()))
            .collect(),
    }
}

/// A mapping to `payment.completed` with data `{"amount":5}`.
pub fn completed() -> Mapped {
    Mapped::Mapped {
        event_type: "payment.completed".into(),
        data: r#"{"amount":5}"#.into(),
    }
}

/// Every delivery of `event_id` in `s` (up to 100).
pub async fn deliveries_of(s: &dyn Store, event_id: &str) -> Vec<Delivery> {
    let filter = DeliveryFilter {
        event_id: Some(event_id.to_owned()),
        ..Default::default()
    };
    s.list_deliveries(&filter, 100).await.unwrap()
}

// ---------------------------------------------------------------------------------------
// Connections, connect sessions, OAuth states
// ---------------------------------------------------------------------------------------

/// An active OAuth connection created at [`T0`] with every field set (`token_version` is
/// the store's to assign).
pub fn conn(id: &str, integration: &str, end_user_id: &str) -> Connection {
    Connection {
        id: id.to_owned(),
        integration: integration.to_owned(),
        provider: format!("{integration}-provider"),
        end_user_id: end_user_id.to_owned(),
        auth_mode: "oauth2".to_owned(),
        status: ConnectionStatus::Active,
        scopes: vec!["read".to_owned(), "write".to_owned()],
        missing_scopes: vec!["admin".to_owned()],
        settings: BTreeMap::from([
            ("shop".to_owned(), "acme".to_owned()),
            ("region".to_owned(), "eu".to_owned()),
        ]),
        routing_key: None,
        expires_at: Some(at(60 * MIN)),
        created_at: at(0),
        updated_at: at(0),
        last_refresh_at: None,
        last_error: None,
        refresh_failures: 0,
        next_refresh_at: Some(at(55 * MIN)),
        // Ignored by the store, which assigns it.
        token_version: 0,
        token_obtained_at: None,
        health: None,
    }
}

/// Sealed credentials: `bytes` under the key `key_id`.
pub fn creds(key_id: &str, bytes: &[u8]) -> SealedCredentials {
    SealedCredentials {
        key_id: key_id.to_owned(),
        ciphertext: bytes.to_vec(),
    }
}

/// A connect session of `u1` for github and slack, created at [`T0`], every field set.
pub fn session(hash: &[u8], expires_at: DateTime<Utc>) -> ConnectSession {
    ConnectSession {
        token_hash: hash.to_vec(),
        end_user_id: "u1".to_owned(),
        integrations: vec!["github".to_owned(), "slack".to_owned()],
        connection_id: Some("conn_1".to_owned()),
        return_to: Some("https://app.example/done".to_owned()),
        opener_origin: Some("https://app.example".to_owned()),
        created_at: at(0),
        expires_at,
    }
}

/// Bytes shaped like a vault value sealed under `key` (format 1: a version byte, the 8-byte
/// key id, then the rest), which is all a store reads of them: the key id in the header.
pub fn sealed_under(key: [u8; 8], rest: &[u8]) -> Vec<u8> {
    let mut v = vec![1];
    v.extend_from_slice(&key);
    v.extend_from_slice(rest);
    v
}

/// `key` as stores report key ids: lowercase hex.
pub fn key_hex(key: [u8; 8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// [`state`] with its sealed part under `key`.
pub fn state_under(
    hash: &[u8],
    key: [u8; 8],
    rest: &[u8],
    expires_at: DateTime<Utc>,
) -> OAuthState {
    OAuthState {
        sealed: sealed_under(key, rest),
        ..state(hash, expires_at)
    }
}

/// An OAuth state of `u1`'s github connection `conn_1`, created at [`T0`].
pub fn state(hash: &[u8], expires_at: DateTime<Utc>) -> OAuthState {
    OAuthState {
        state_hash: hash.to_vec(),
        integration: "github".to_owned(),
        connection_id: "conn_1".to_owned(),
        end_user_id: "u1".to_owned(),
        session_hash: vec![7; 32],
        return_to: None,
        opener_origin: Some("https://app.example".to_owned()),
        settings: BTreeMap::from([("shop".to_owned(), "acme".to_owned())]),
        sealed: vec![0, 1, 2, 255, 254],
        created_at: at(0),
        expires_at,
    }
}
