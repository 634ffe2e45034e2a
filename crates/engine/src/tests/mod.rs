//! Behaviour tests for the engine, over the real SQLite store.
//!
//! Tampering with the audit log, concurrent writers and crashes are simulated with
//! [`TamperStore`], a [`Store`] that forwards to a [`SqliteStore`] and alters what it
//! reads or does at chosen points (the engine crate has no direct SQL access in its
//! tests).

mod api_keys;
mod app_auth;
mod audit;
mod clock;
mod console;
mod console_oidc;
mod discovery;
mod errors;
mod http;
mod ids;
mod instances;
mod metrics;
mod oidc;
mod reload;
mod secrets;
mod security;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use store::{
    ApiKeyRecord, ApiKeyStore, AuditEntry, AuditRecord, AuditStore, Event, EventStore,
    InsertOutcome, IntegrationStateStore, SealedSecret, SecretSlot, SecretStore, Store, StoreError,
    StoreResult, chain_hash,
};
use store_sqlite::SqliteStore;
use vault::{Keyring, MasterKey};

use crate::Engine;

/// The built-in default configuration, as read from an empty `t.toml`.
pub(super) fn test_config() -> config::Config {
    config::Config::from_toml("", "t.toml", &BTreeMap::new(), &Default::default()).unwrap()
}

/// A fresh, migrated in-memory store.
pub(super) async fn memory_store() -> SqliteStore {
    let s = SqliteStore::connect("sqlite::memory:").await.unwrap();
    s.migrate().await.unwrap();
    s
}

pub(super) fn key() -> MasterKey {
    MasterKey::generate().unwrap()
}

/// A ring with `primary` and `old` keys.
pub(super) fn ring(primary: &MasterKey, old: &[&MasterKey]) -> Keyring {
    Keyring::new(primary.clone(), old.iter().map(|k| (*k).clone()).collect())
}

/// Runs `fut`, moving `clock` by `step` whenever something sleeps on it and `fut` cannot
/// go on: for code that pauses on the engine's clock (retry back-off, polling) where the
/// pauses are not what the test is about. `fut` is polled first after every step, so
/// the clock never moves twice for one pause.
pub(super) async fn on_clock<T>(
    clock: &crate::ManualClock,
    step: std::time::Duration,
    fut: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            biased;
            out = &mut fut => return out,
            () = clock.until_sleeping(1) => clock.advance(step),
        }
    }
}

pub(super) fn engine_on(store: Arc<dyn Store>, keyring: Keyring) -> Engine {
    Engine::new(store, keyring, test_config())
}

/// An engine with a one-key ring over a fresh in-memory store, and that store.
pub(super) async fn setup() -> (Engine, SqliteStore) {
    let store = memory_store().await;
    let engine = engine_on(Arc::new(store.clone()), ring(&key(), &[]));
    (engine, store)
}

/// A temporary directory for a file-backed database, removed on drop.
#[derive(Debug)]
pub(super) struct TempDb {
    dir: PathBuf,
}

impl TempDb {
    pub(super) fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "switchboard-engine-test-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    pub(super) fn url(&self) -> String {
        format!("sqlite://{}", self.dir.join("sb.db").display())
    }

    /// A new store (its own pool) on the file, migrated.
    pub(super) async fn store(&self) -> SqliteStore {
        let s = SqliteStore::connect(&self.url()).await.unwrap();
        s.migrate().await.unwrap();
        s
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What [`TamperStore`] changes.
#[derive(Debug, Default)]
pub(super) struct Tamper {
    /// Audit rows that reads no longer return, as if deleted.
    pub deleted: BTreeSet<i64>,
    /// Audit rows whose action reads back changed, as if edited.
    pub edited: BTreeSet<i64>,
    /// Audit rows edited and given a recomputed hash of their own (an attacker who
    /// re-hashes the row but not the rest of the chain).
    pub edited_rehashed: BTreeSet<i64>,
    /// Audit rows whose `prev_hash` reads back changed.
    pub prev_hash_edited: BTreeSet<i64>,
    /// Replaces the recorded head.
    pub head: Option<Option<(i64, String)>>,
    /// `touch_api_key` fails.
    pub fail_touch: bool,
    /// The next `get_api_key` returns the key as it is, then revokes it behind the
    /// engine's back (another instance revoking at the same moment).
    pub race_revoke: bool,
    /// Written to the store right after a rotation batch that lists their slot has been
    /// read (a concurrent writer, e.g. a token refresh).
    pub concurrent_writes: Vec<(SecretSlot, String, Vec<u8>)>,
    /// After this many successful `replace_secret_if`, every further call hangs (the
    /// process "crashes" there when its task is aborted).
    pub hang_after_replacements: Option<u64>,
    /// Successful `replace_secret_if` calls so far.
    pub replacements: u64,
}

/// A store that forwards to SQLite and applies a [`Tamper`].
#[derive(Debug)]
pub(super) struct TamperStore {
    pub inner: SqliteStore,
    pub tamper: Mutex<Tamper>,
}

/// A `prev_hash`/`hash` value that no row has.
pub(super) const FORGED_HASH: &str =
    "abababababababababababababababababababababababababababababababab";

impl TamperStore {
    pub(super) fn new(inner: SqliteStore) -> Arc<Self> {
        Arc::new(Self {
            inner,
            tamper: Mutex::new(Tamper::default()),
        })
    }

    pub(super) fn set(&self, f: impl FnOnce(&mut Tamper)) {
        f(&mut self.tamper.lock().unwrap());
    }

    /// Forgets every change.
    pub(super) fn reset(&self) {
        *self.tamper.lock().unwrap() = Tamper::default();
    }

    fn doctor(&self, rows: Vec<AuditRecord>) -> Vec<AuditRecord> {
        let t = self.tamper.lock().unwrap();
        rows.into_iter()
            .filter(|r| !t.deleted.contains(&r.seq))
            .map(|mut r| {
                if t.edited.contains(&r.seq) || t.edited_rehashed.contains(&r.seq) {
                    r.entry.action.push_str(".edited");
                }
                if t.edited_rehashed.contains(&r.seq) {
                    r.hash = chain_hash(&r.prev_hash, r.seq, &r.entry);
                }
                if t.prev_hash_edited.contains(&r.seq) {
                    r.prev_hash = FORGED_HASH.to_owned();
                }
                r
            })
            .collect()
    }

    fn hidden(&self) -> u32 {
        self.tamper.lock().unwrap().deleted.len() as u32
    }
}

#[async_trait]
impl ApiKeyStore for TamperStore {
    async fn insert_api_key(&self, key: &ApiKeyRecord) -> StoreResult<()> {
        self.inner.insert_api_key(key).await
    }

    async fn get_api_key(&self, id: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let race = std::mem::take(&mut self.tamper.lock().unwrap().race_revoke);
        let r = self.inner.get_api_key(id).await?;
        if race {
            self.inner.revoke_api_key(id, store::now()).await?;
        }
        Ok(r)
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKeyRecord>> {
        self.inner.list_api_keys().await
    }

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        self.inner.revoke_api_key(id, at).await
    }

    async fn touch_api_key(&self, id: &str, at: DateTime<Utc>) -> StoreResult<()> {
        if self.tamper.lock().unwrap().fail_touch {
            return Err(StoreError::Unavailable("injected failure".into()));
        }
        self.inner.touch_api_key(id, at).await
    }

    async fn count_active_api_keys(&self) -> StoreResult<u64> {
        self.inner.count_active_api_keys().await
    }
}

#[async_trait]
impl SecretStore for TamperStore {
    async fn put_secret(
        &self,
        slot: &SecretSlot,
        key_id: &str,
        ciphertext: &[u8],
    ) -> StoreResult<i64> {
        self.inner.put_secret(slot, key_id, ciphertext).await
    }

    async fn insert_secret_if_absent(
        &self,
        slot: &SecretSlot,
        key_id: &str,
        ciphertext: &[u8],
    ) -> StoreResult<bool> {
        self.inner
            .insert_secret_if_absent(slot, key_id, ciphertext)
            .await
    }

    async fn get_secret(&self, slot: &SecretSlot) -> StoreResult<Option<SealedSecret>> {
        self.inner.get_secret(slot).await
    }

    async fn delete_secret(&self, slot: &SecretSlot) -> StoreResult<bool> {
        self.inner.delete_secret(slot).await
    }

    async fn delete_secrets_of(&self, owner: &str, owner_id: &str) -> StoreResult<u64> {
        self.inner.delete_secrets_of(owner, owner_id).await
    }

    async fn secret_key_ids(&self) -> StoreResult<Vec<(String, u64)>> {
        self.inner.secret_key_ids().await
    }

    async fn count_secrets_not_under(&self, key_id: &str) -> StoreResult<u64> {
        self.inner.count_secrets_not_under(key_id).await
    }

    async fn secrets_not_under(
        &self,
        key_id: &str,
        after: Option<&SecretSlot>,
        limit: u32,
    ) -> StoreResult<Vec<SealedSecret>> {
        let rows = self.inner.secrets_not_under(key_id, after, limit).await?;
        let writes: Vec<_> = {
            let mut t = self.tamper.lock().unwrap();
            let (now, later) = std::mem::take(&mut t.concurrent_writes)
                .into_iter()
                .partition(|(slot, _, _)| rows.iter().any(|r| r.slot == *slot));
            t.concurrent_writes = later;
            now
        };
        for (slot, key_id, ct) in writes {
            self.inner.put_secret(&slot, &key_id, &ct).await?;
        }
        Ok(rows)
    }

    async fn replace_secret_if(
        &self,
        slot: &SecretSlot,
        expected_version: i64,
        key_id: &str,
        ciphertext: &[u8],
    ) -> StoreResult<bool> {
        let hang = {
            let t = self.tamper.lock().unwrap();
            t.hang_after_replacements
                .is_some_and(|n| t.replacements >= n)
        };
        if hang {
            std::future::pending::<()>().await;
        }
        let done = self
            .inner
            .replace_secret_if(slot, expected_version, key_id, ciphertext)
            .await?;
        if done {
            self.tamper.lock().unwrap().replacements += 1;
        }
        Ok(done)
    }
}

#[async_trait]
impl AuditStore for TamperStore {
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<AuditRecord> {
        self.inner.append_audit(entry).await
    }

    async fn list_audit_desc(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        let rows = self
            .inner
            .list_audit_desc(before, limit + self.hidden())
            .await?;
        let mut rows = self.doctor(rows);
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn list_audit_asc(&self, after: i64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let rows = self
            .inner
            .list_audit_asc(after, limit + self.hidden())
            .await?;
        let mut rows = self.doctor(rows);
        rows.truncate(limit as usize);
        Ok(rows)
    }

    async fn audit_head(&self) -> StoreResult<Option<(i64, String)>> {
        let forced = self.tamper.lock().unwrap().head.clone();
        match forced {
            Some(h) => Ok(h),
            None => self.inner.audit_head().await,
        }
    }
    async fn audit_checkpoint(&self) -> StoreResult<Option<store::AuditCheckpoint>> {
        self.inner.audit_checkpoint().await
    }

    async fn save_audit_checkpoint(
        &self,
        checkpoint: &store::AuditCheckpoint,
        replaces: Option<i64>,
    ) -> StoreResult<bool> {
        self.inner.save_audit_checkpoint(checkpoint, replaces).await
    }

    async fn clear_audit_checkpoint(&self) -> StoreResult<()> {
        self.inner.clear_audit_checkpoint().await
    }
}

#[async_trait]
impl EventStore for TamperStore {
    async fn insert_event(&self, event: &Event) -> StoreResult<InsertOutcome> {
        self.inner.insert_event(event).await
    }

    async fn insert_routed_event(
        &self,
        event: &Event,
        routing: &store::Routing,
    ) -> StoreResult<InsertOutcome> {
        self.inner.insert_routed_event(event, routing).await
    }

    async fn get_event(&self, id: &str) -> StoreResult<Option<Event>> {
        self.inner.get_event(id).await
    }

    async fn list_events(
        &self,
        integration: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Event>> {
        self.inner.list_events(integration, before, limit).await
    }

    async fn count_events(&self, integration: Option<&str>) -> StoreResult<u64> {
        self.inner.count_events(integration).await
    }
}

#[async_trait]
impl IntegrationStateStore for TamperStore {
    async fn set_integration_blocked(
        &self,
        integration: &str,
        blocked: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner
            .set_integration_blocked(integration, blocked, at)
            .await
    }

    async fn integration_flags(&self, integration: &str) -> StoreResult<store::IntegrationFlags> {
        self.inner.integration_flags(integration).await
    }

    async fn blocked_integrations(&self) -> StoreResult<Vec<String>> {
        self.inner.blocked_integrations().await
    }

    async fn set_integration_disabled(
        &self,
        integration: &str,
        disabled: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<bool> {
        self.inner
            .set_integration_disabled(integration, disabled, at)
            .await
    }

    async fn disabled_integrations(&self) -> StoreResult<Vec<String>> {
        self.inner.disabled_integrations().await
    }
}

#[async_trait]
impl store::DeliveryStore for TamperStore {
    async fn unrouted_events(&self, limit: u32) -> StoreResult<Vec<store::Event>> {
        self.inner.unrouted_events(limit).await
    }
    async fn route_events(&self, r: &[store::Routing], now: DateTime<Utc>) -> StoreResult<u64> {
        self.inner.route_events(r, now).await
    }
    async fn event_routing(&self, id: &str) -> StoreResult<Option<store::EventRouting>> {
        self.inner.event_routing(id).await
    }
    async fn claim_deliveries(
        &self,
        owner: &str,
        limit: u32,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        skip: &[String],
    ) -> StoreResult<Vec<store::Claimed>> {
        self.inner
            .claim_deliveries(owner, limit, now, lease_until, skip)
            .await
    }
    async fn renew_lease(&self, id: &str, fence: i64, until: DateTime<Utc>) -> StoreResult<bool> {
        self.inner.renew_lease(id, fence, until).await
    }
    async fn complete_delivery(
        &self,
        id: &str,
        fence: i64,
        status: u16,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner.complete_delivery(id, fence, status, at).await
    }
    async fn fail_delivery(&self, id: &str, fence: i64, f: &store::Failure) -> StoreResult<bool> {
        self.inner.fail_delivery(id, fence, f).await
    }
    async fn complete_attempt(
        &self,
        id: &str,
        fence: i64,
        status: u16,
        at: DateTime<Utc>,
        a: &store::NewAttempt,
    ) -> StoreResult<bool> {
        self.inner.complete_attempt(id, fence, status, at, a).await
    }
    async fn fail_attempt(
        &self,
        id: &str,
        fence: i64,
        f: &store::Failure,
        a: &store::NewAttempt,
    ) -> StoreResult<bool> {
        self.inner.fail_attempt(id, fence, f, a).await
    }
    async fn list_attempts(&self, event_id: &str, limit: u32) -> StoreResult<Vec<store::Attempt>> {
        self.inner.list_attempts(event_id, limit).await
    }
    async fn release_delivery(&self, id: &str, fence: i64, at: DateTime<Utc>) -> StoreResult<bool> {
        self.inner.release_delivery(id, fence, at).await
    }
    async fn next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.inner.next_due().await
    }
    async fn queue_stats(&self) -> StoreResult<store::QueueStats> {
        self.inner.queue_stats().await
    }
    async fn get_delivery(&self, id: &str) -> StoreResult<Option<store::Delivery>> {
        self.inner.get_delivery(id).await
    }
    async fn list_deliveries(
        &self,
        f: &store::DeliveryFilter,
        limit: u32,
    ) -> StoreResult<Vec<store::Delivery>> {
        self.inner.list_deliveries(f, limit).await
    }
    async fn replay(
        &self,
        f: &store::ReplayFilter,
        dry_run: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<store::ReplayCount> {
        self.inner.replay(f, dry_run, now).await
    }
    async fn set_destination_disabled(
        &self,
        destination: &str,
        disabled: bool,
        reason: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner
            .set_destination_disabled(destination, disabled, reason, at)
            .await
    }
    async fn disabled_destinations(&self) -> StoreResult<Vec<(String, Option<String>)>> {
        self.inner.disabled_destinations().await
    }
    async fn list_event_summaries(
        &self,
        f: &store::deliveries::EventListFilter,
        limit: u32,
    ) -> StoreResult<Vec<store::deliveries::EventSummary>> {
        self.inner.list_event_summaries(f, limit).await
    }
    async fn destination_queue_counts(
        &self,
    ) -> StoreResult<Vec<(String, store::deliveries::DeliveryCounts)>> {
        self.inner.destination_queue_counts().await
    }
    async fn replay_progress(
        &self,
        f: &store::ReplayFilter,
        at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<store::deliveries::DeliveryCounts> {
        self.inner.replay_progress(f, at).await
    }
}

#[async_trait]
impl store::ConnectionStore for TamperStore {
    async fn upsert_connection_keyed(
        &self,
        c: &store::Connection,
        credentials: &store::SealedCredentials,
        signing_key: Option<&store::SealedCredentials>,
    ) -> StoreResult<store::Upsert> {
        self.inner
            .upsert_connection_keyed(c, credentials, signing_key)
            .await
    }
    async fn get_connection(&self, id: &str) -> StoreResult<Option<store::Connection>> {
        self.inner.get_connection(id).await
    }
    async fn get_connection_credentials(
        &self,
        id: &str,
    ) -> StoreResult<Option<(store::Connection, store::SealedCredentials)>> {
        self.inner.get_connection_credentials(id).await
    }
    async fn list_connections(
        &self,
        filter: &store::ConnectionFilter,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<store::Connection>> {
        self.inner.list_connections(filter, after, limit).await
    }
    async fn count_connections(&self) -> StoreResult<Vec<(String, store::ConnectionStatus, u64)>> {
        self.inner.count_connections().await
    }
    async fn connection_by_routing_key(
        &self,
        integration: &str,
        key: &str,
    ) -> StoreResult<Option<String>> {
        self.inner.connection_by_routing_key(integration, key).await
    }
    async fn connections_by_routing_key(
        &self,
        integration: &str,
        key: &str,
        limit: u32,
    ) -> StoreResult<Vec<store::Connection>> {
        self.inner
            .connections_by_routing_key(integration, key, limit)
            .await
    }
    async fn acquire_refresh_lease(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Option<store::Lease>> {
        self.inner.acquire_refresh_lease(id, now, until).await
    }
    async fn commit_refresh(
        &self,
        id: &str,
        fence: i64,
        commit: &store::RefreshCommit,
    ) -> StoreResult<bool> {
        self.inner.commit_refresh(id, fence, commit).await
    }
    async fn release_refresh_lease(&self, id: &str, fence: i64) -> StoreResult<bool> {
        self.inner.release_refresh_lease(id, fence).await
    }
    async fn advance_lifecycle_at(
        &self,
        id: &str,
        fence: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner.advance_lifecycle_at(id, fence, at).await
    }
    async fn revoke_connection(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool> {
        self.inner.revoke_connection(id, at).await
    }
    async fn set_connection_status(
        &self,
        id: &str,
        status: store::ConnectionStatus,
        last_error: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner
            .set_connection_status(id, status, last_error, at)
            .await
    }
    async fn delete_connection(&self, id: &str) -> StoreResult<bool> {
        self.inner.delete_connection(id).await
    }
    async fn connections_due(
        &self,
        due: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<store::Connection>> {
        self.inner.connections_due(due, limit).await
    }
    async fn claim_health_checks(
        &self,
        integration: &str,
        now: DateTime<Utc>,
        next: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<store::Connection>> {
        self.inner
            .claim_health_checks(integration, now, next, limit)
            .await
    }
    async fn record_health_check(&self, id: &str, check: &store::HealthCheck) -> StoreResult<bool> {
        self.inner.record_health_check(id, check).await
    }
    async fn insert_connect_session(&self, s: &store::ConnectSession) -> StoreResult<()> {
        self.inner.insert_connect_session(s).await
    }
    async fn get_connect_session(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<store::ConnectSession>> {
        self.inner.get_connect_session(token_hash).await
    }
    async fn insert_oauth_state(&self, s: &store::OAuthState) -> StoreResult<()> {
        self.inner.insert_oauth_state(s).await
    }
    async fn take_oauth_state(&self, state_hash: &[u8]) -> StoreResult<Option<store::OAuthState>> {
        self.inner.take_oauth_state(state_hash).await
    }
    async fn purge_expired_flows(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.inner.purge_expired_flows(now).await
    }
    async fn oauth_state_key_ids(&self, now: DateTime<Utc>) -> StoreResult<Vec<(String, u64)>> {
        self.inner.oauth_state_key_ids(now).await
    }
    async fn oauth_states_not_under(
        &self,
        key_id: &str,
        now: DateTime<Utc>,
        after: Option<&[u8]>,
        limit: u32,
    ) -> StoreResult<Vec<store::SealedOAuthState>> {
        self.inner
            .oauth_states_not_under(key_id, now, after, limit)
            .await
    }
    async fn replace_oauth_state_sealed_if(
        &self,
        state_hash: &[u8],
        expected: &[u8],
        sealed: &[u8],
    ) -> StoreResult<bool> {
        self.inner
            .replace_oauth_state_sealed_if(state_hash, expected, sealed)
            .await
    }
}

#[async_trait]
impl store::InstanceStore for TamperStore {
    async fn beat_instance(
        &self,
        beat: &store::InstanceBeat,
    ) -> StoreResult<Vec<store::LiveInstance>> {
        self.inner.beat_instance(beat).await
    }
    async fn leave_instance(&self, id: &str) -> StoreResult<bool> {
        self.inner.leave_instance(id).await
    }
}

#[async_trait]
impl store::StatusStore for TamperStore {
    async fn add_counters(&self, deltas: &[store::CounterDelta]) -> StoreResult<()> {
        self.inner.add_counters(deltas).await
    }
    async fn counter_sums(&self, since: DateTime<Utc>) -> StoreResult<Vec<store::CounterSum>> {
        self.inner.counter_sums(since).await
    }
    async fn prune_counters(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.inner.prune_counters(before).await
    }
    async fn record_oauth_test(&self, r: &store::OAuthTestRecord) -> StoreResult<()> {
        self.inner.record_oauth_test(r).await
    }
    async fn oauth_tests(&self) -> StoreResult<Vec<store::OAuthTestRecord>> {
        self.inner.oauth_tests().await
    }
    async fn integration_queues(&self) -> StoreResult<Vec<store::IntegrationQueue>> {
        self.inner.integration_queues().await
    }
    async fn last_external_event(&self, integration: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.inner.last_external_event(integration).await
    }
    async fn failing_connections(&self, since: DateTime<Utc>) -> StoreResult<Vec<(String, u64)>> {
        self.inner.failing_connections(since).await
    }
}

#[async_trait]
impl store::PrivacyStore for TamperStore {
    async fn purge_expired_payloads(
        &self,
        sel: &store::PurgeSelection,
        limit: u32,
        dry_run: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<store::PurgeBatch> {
        self.inner
            .purge_expired_payloads(sel, limit, dry_run, at)
            .await
    }
    async fn event_purge_state(&self, event_id: &str) -> StoreResult<Option<store::PurgeState>> {
        self.inner.event_purge_state(event_id).await
    }
    async fn events_of_connections(
        &self,
        connection_ids: &[String],
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<store::EventRef>> {
        self.inner
            .events_of_connections(connection_ids, after, limit)
            .await
    }
    async fn erase_connection_events(
        &self,
        connection_ids: &[String],
        limit: u32,
        at: DateTime<Utc>,
    ) -> StoreResult<store::PurgeBatch> {
        self.inner
            .erase_connection_events(connection_ids, limit, at)
            .await
    }
    async fn delete_flows_of(&self, end_user_id: &str) -> StoreResult<u64> {
        self.inner.delete_flows_of(end_user_id).await
    }
    async fn insert_consent_record(&self, record: &store::ConsentRecord) -> StoreResult<()> {
        self.inner.insert_consent_record(record).await
    }
    async fn consent_records_of(
        &self,
        end_user_id: &str,
    ) -> StoreResult<Vec<store::ConsentRecord>> {
        self.inner.consent_records_of(end_user_id).await
    }
    async fn anonymize_consent_records(
        &self,
        end_user_id: &str,
        subject_hash: &str,
    ) -> StoreResult<u64> {
        self.inner
            .anonymize_consent_records(end_user_id, subject_hash)
            .await
    }
    async fn record_erasure(&self, record: &store::ErasureRecord) -> StoreResult<bool> {
        self.inner.record_erasure(record).await
    }
    async fn get_erasure(&self, subject_hash: &str) -> StoreResult<Option<store::ErasureRecord>> {
        self.inner.get_erasure(subject_hash).await
    }
    async fn scrub_freed_space(&self) -> StoreResult<()> {
        self.inner.scrub_freed_space().await
    }
}

#[async_trait]
impl Store for TamperStore {
    fn backend(&self) -> &'static str {
        "tamper"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }

    async fn migrate(&self) -> StoreResult<usize> {
        self.inner.migrate().await
    }

    async fn close(&self) {
        self.inner.close().await
    }

    fn transfer(&self) -> &dyn store::transfer::Transfer {
        self.inner.transfer()
    }

    fn subscribe(&self) -> Option<store::ChangeFeed> {
        self.inner.subscribe()
    }
}

/// Every audit row, oldest first.
pub(super) async fn all_audit(store: &SqliteStore) -> Vec<AuditRecord> {
    store.list_audit_asc(0, 100_000).await.unwrap()
}
mod changes;
mod intake_routing;
mod webhook_keys;
mod webhooks;
mod webhooks_asana;
mod webhooks_atlassian;

mod connections;
mod connections_health;
mod connections_health_more;
mod connections_keys;
mod connections_lifetime;
mod connections_manage;
mod connections_page;
mod connections_protocol;
mod connections_signed;
mod connections_tokens;
mod expressible;
mod pipeline;
mod pipeline_deliver;
mod pipeline_mapping;
mod pipeline_views;
mod privacy;
mod proxy;
mod proxy_more;

#[async_trait]
impl store::ConsoleStore for TamperStore {
    async fn insert_console_session(&self, s: &store::ConsoleSessionRecord) -> StoreResult<()> {
        self.inner.insert_console_session(s).await
    }
    async fn get_console_session(
        &self,
        id_hash: &[u8],
    ) -> StoreResult<Option<store::ConsoleSessionRecord>> {
        self.inner.get_console_session(id_hash).await
    }
    async fn touch_console_session(&self, id_hash: &[u8], at: DateTime<Utc>) -> StoreResult<bool> {
        self.inner.touch_console_session(id_hash, at).await
    }
    async fn delete_console_session(&self, id_hash: &[u8]) -> StoreResult<bool> {
        self.inner.delete_console_session(id_hash).await
    }
    async fn purge_console_sessions(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.inner.purge_console_sessions(now, idle_before).await
    }
    async fn insert_console_login(&self, l: &store::ConsoleLoginRecord) -> StoreResult<()> {
        self.inner.insert_console_login(l).await
    }
    async fn take_console_login(
        &self,
        state_hash: &[u8],
    ) -> StoreResult<Option<store::ConsoleLoginRecord>> {
        self.inner.take_console_login(state_hash).await
    }
    async fn activity_by_hour(
        &self,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<store::ActivityHour>> {
        self.inner.activity_by_hour(since).await
    }
}
