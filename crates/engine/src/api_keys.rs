//! API keys: `sb_<id>_<secret>`, shown once, stored as SHA-256 of the secret part,
//! checked in constant time.
//!
//! The `sb_` prefix and fixed shape let secret scanners recognise a leaked key
//! (`sb_[a-z0-9]{12}_[A-Za-z0-9]{40}`). The secret part carries 238 bits of entropy, so
//! a plain SHA-256 (no slow KDF) is the right hash: there is nothing to brute-force.
//!
//! Verification is cached per process ([`KeyCache`]): for `api_key_cache_secs` (default
//! 1 s) after a key's record was read, requests with that key id reuse the stored hash,
//! scope and revocation state instead of reading the database again. The presented
//! secret is still hashed and compared (constant time) on every request, so a wrong
//! secret never passes because its id is cached; the cache never holds a plaintext key.
//! A revocation through this process empties the entry at once; one made by another
//! process empties it when the store's change feed tells of it (PostgreSQL: as the
//! revocation commits, [`crate::changes`]), and otherwise (SQLite, or a lost
//! notification) when the entry expires. Only ids that exist are cached, and the cache
//! is bounded ([`KeyCache`]), so random ids cannot make it grow.

use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use store::{ApiKeyRecord, Scope};
use vault::{ExposeSecret, SecretString, constant_time_eq};

use crate::ids::{API_KEY_PREFIX, new_api_key, parse_api_key};
use crate::ttl_cache::TtlCache;
use crate::{Actor, Engine, EngineError, EngineResult};

/// How stale `last_used_at` may get before a use is written back (avoids a write per
/// request).
const TOUCH_INTERVAL_MS: i64 = 60_000;

fn hash_secret(secret: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(b"switchboard.api-key.v1")
        .chain_update(secret.as_bytes())
        .finalize()
        .into()
}

/// At most this many key records are cached; past it, expired entries are dropped and,
/// if that is not enough, the whole cache.
pub(crate) const CACHE_MAX: usize = 10_000;

/// What is cached of a key: what its database row says, never the key itself.
#[derive(Clone)]
pub(crate) struct Verified {
    /// SHA-256 of the secret part, as stored.
    hash: [u8; 32],
    /// Revoked, or a stored hash that cannot match (not 32 bytes).
    unusable: bool,
    name: String,
    scope: Scope,
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Verified {
    fn new(r: &ApiKeyRecord) -> Self {
        let hash: Option<[u8; 32]> = r.secret_hash.as_slice().try_into().ok();
        Self {
            hash: hash.unwrap_or([0; 32]),
            unusable: hash.is_none() || r.revoked_at.is_some(),
            name: r.name.clone(),
            scope: r.scope,
            last_used_at: r.last_used_at,
        }
    }
}

/// The per-process cache of API key records, by key id (see the module documentation);
/// a revocation in this process invalidates its entry and fences out lookups in flight.
pub(crate) type KeyCache = TtlCache<Verified>;

/// An empty [`KeyCache`].
pub(crate) fn key_cache() -> KeyCache {
    TtlCache::new("KeyCache", CACHE_MAX)
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// Public id.
    pub id: String,
    /// Name given at creation.
    pub name: String,
    /// `admin` or `app`.
    pub scope: Scope,
    /// Creation time.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last use (updated at most once a minute).
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Revocation time.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiKeyRecord> for ApiKeyInfo {
    fn from(r: ApiKeyRecord) -> Self {
        Self {
            id: r.id,
            name: r.name,
            scope: r.scope,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// A freshly created key: the only time its full value exists.
#[derive(Debug)]
pub struct CreatedKey {
    /// What is stored.
    pub info: ApiKeyInfo,
    /// The full key, to show once.
    pub key: SecretString,
}

/// The identity behind an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's id.
    pub key_id: String,
    /// The key's name.
    pub name: String,
    /// The key's scope.
    pub scope: Scope,
}

impl Principal {
    /// The audit actor for this principal.
    pub fn actor(&self) -> Actor {
        Actor::ApiKey {
            id: self.key_id.clone(),
        }
    }
}

fn validate_name(name: &str) -> EngineResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(())
    } else {
        Err(EngineError::Invalid {
            field: "name",
            message: "use 1 to 64 letters, digits, spaces, '-', '_' or '.'".into(),
        })
    }
}

impl Engine {
    /// Creates a key and records it in the audit log. The returned key is the only copy.
    pub async fn create_api_key(
        &self,
        name: &str,
        scope: Scope,
        actor: &Actor,
    ) -> EngineResult<CreatedKey> {
        let name = name.trim();
        validate_name(name)?;
        let (id, secret) = new_api_key()?;
        let record = ApiKeyRecord {
            id: id.clone(),
            name: name.to_owned(),
            scope,
            secret_hash: hash_secret(&secret).to_vec(),
            created_at: self.now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.inner.store.insert_api_key(&record).await?;
        self.audit(
            actor,
            "api_key.create",
            &id,
            serde_json::json!({ "name": name, "scope": scope.as_str() }),
        )
        .await?;
        Ok(CreatedKey {
            info: record.into(),
            key: SecretString::from(format!("{API_KEY_PREFIX}{id}_{secret}")),
        })
    }

    /// Every key, oldest first, without secrets.
    pub async fn list_api_keys(&self) -> EngineResult<Vec<ApiKeyInfo>> {
        Ok(self
            .inner
            .store
            .list_api_keys()
            .await?
            .into_iter()
            .map(ApiKeyInfo::from)
            .collect())
    }

    /// Revokes a key; it stops authenticating at once, on every instance.
    pub async fn revoke_api_key(&self, id: &str, actor: &Actor) -> EngineResult<ApiKeyInfo> {
        // Whatever happens below, this process reads the key again on its next use.
        self.inner.api_keys.invalidate(id);
        let Some(existing) = self.inner.store.get_api_key(id).await? else {
            return Err(EngineError::NotFound {
                what: "api key",
                id: id.to_owned(),
            });
        };
        if existing.revoked_at.is_some() {
            return Err(EngineError::Conflict(format!(
                "api key {id:?} is already revoked"
            )));
        }
        let revoked = self.inner.store.revoke_api_key(id, self.now()).await;
        // A lookup that raced with the write must not keep the key usable here.
        self.inner.api_keys.invalidate(id);
        if !revoked? {
            // Another instance revoked it between our read and our write.
            return Err(EngineError::Conflict(format!(
                "api key {id:?} is already revoked"
            )));
        }
        self.audit(
            actor,
            "api_key.revoke",
            id,
            serde_json::json!({ "name": existing.name }),
        )
        .await?;
        let updated = self.inner.store.get_api_key(id).await?.unwrap_or(existing);
        Ok(updated.into())
    }

    /// Checks a presented key. Every failure is the same `Unauthenticated` error, and the
    /// comparison is constant-time. The key's record comes from the cache when it was
    /// read less than `api_key_cache_secs` ago (see the module documentation).
    pub async fn authenticate(&self, presented: &SecretString) -> EngineResult<Principal> {
        const BAD: EngineError = EngineError::Unauthenticated(
            "invalid or revoked API key; send Authorization: Bearer sb_…",
        );
        let Some((id, secret)) = parse_api_key(presented.expose_secret()) else {
            return Err(BAD);
        };
        let presented_hash = hash_secret(secret);
        let cache = &self.inner.api_keys;
        let ttl = Duration::from_secs(self.inner.config.load().api_key_cache_secs);
        let cached = if ttl.is_zero() {
            None
        } else {
            cache.get(id, ttl, self.instant())
        };
        let record = match cached {
            Some(v) => Some(v),
            None => {
                let epoch = cache.epoch();
                let record = self.inner.store.get_api_key(id).await?;
                record.map(|r| {
                    let v = Verified::new(&r);
                    if !ttl.is_zero() {
                        cache.put(id, v.clone(), epoch, ttl, self.instant());
                    }
                    v
                })
            }
        };
        // Compare against something even when the id is unknown, so that timing does not
        // tell which ids exist.
        let stored = record.as_ref().map_or(&[0u8; 32], |v| &v.hash);
        let matches = constant_time_eq(&presented_hash, stored);
        let Some(record) = record.filter(|v| matches && !v.unusable) else {
            return Err(BAD);
        };
        let now = self.now();
        let stale = record
            .last_used_at
            .is_none_or(|t| (now - t).num_milliseconds() >= TOUCH_INTERVAL_MS);
        if stale {
            // A failed touch must not fail the request.
            match self.inner.store.touch_api_key(id, now).await {
                Ok(()) => cache.update(id, |v| v.last_used_at = Some(now)),
                Err(e) => {
                    tracing::warn!(error = %e, key_id = %id, "could not record API key use")
                }
            }
        }
        Ok(Principal {
            key_id: id.to_owned(),
            name: record.name,
            scope: record.scope,
        })
    }

    /// The cache of key records (tests).
    #[cfg(test)]
    pub(crate) fn api_key_cache(&self) -> &KeyCache {
        &self.inner.api_keys
    }

    /// On a fresh deployment (no key ever created), creates one admin key. Returns it so
    /// that `serve --dev` can print it once.
    pub async fn bootstrap_admin_key(&self) -> EngineResult<Option<CreatedKey>> {
        if !self.inner.store.list_api_keys().await?.is_empty() {
            return Ok(None);
        }
        self.create_api_key("bootstrap-admin", Scope::Admin, &Actor::System)
            .await
            .map(Some)
    }
}

#[cfg(test)]
mod cache_tests {
    //! The key-record cache: reuse, revocation here and elsewhere, wrong secrets, the
    //! size bound, the epoch fence and `api_key_cache_secs = 0`. Time is moved with a
    //! manual clock, never waited for.

    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use store::{ApiKeyRecord, ApiKeyStore, Scope};
    use vault::{ExposeSecret, SecretString};

    use super::{CACHE_MAX, Verified, key_cache};
    use crate::tests::{key, memory_store, ring};
    use crate::{Actor, Engine, EngineError, ManualClock};

    fn config(text: &str) -> config::Config {
        config::Config::from_toml(text, "t.toml", &BTreeMap::new(), &Default::default()).unwrap()
    }

    fn refused(r: crate::EngineResult<super::Principal>, what: &str) {
        match r {
            Err(EngineError::Unauthenticated(_)) => {}
            other => panic!("{what}: expected 401, got {other:?}"),
        }
    }

    async fn engine_with(text: &str) -> (Engine, store_sqlite::SqliteStore, ManualClock) {
        let sqlite = memory_store().await;
        let clock = ManualClock::new();
        let e = Engine::new(Arc::new(sqlite.clone()), ring(&key(), &[]), config(text))
            .with_clock(clock.clone());
        (e, sqlite, clock)
    }

    #[test]
    fn one_second_is_the_default_and_it_can_be_set_or_turned_off() {
        assert_eq!(config("").api_key_cache_secs, 1);
        assert_eq!(config("api_key_cache_secs = 0").api_key_cache_secs, 0);
        assert_eq!(config("api_key_cache_secs = 30").api_key_cache_secs, 30);
        assert!(
            config::Config::from_toml(
                "api_key_cache_secs = 3601",
                "t.toml",
                &BTreeMap::new(),
                &Default::default()
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn a_cached_key_keeps_working_and_is_read_once_per_ttl() {
        // Time moves only through the engine's manual clock.
        let (engine, sqlite, clock) = engine_with("api_key_cache_secs = 60").await;
        let c = engine
            .create_api_key("busy", Scope::App, &Actor::System)
            .await
            .unwrap();
        for _ in 0..5 {
            let p = engine.authenticate(&c.key).await.unwrap();
            assert_eq!(
                (p.key_id.as_str(), p.scope),
                (c.info.id.as_str(), Scope::App)
            );
            assert_eq!(p.name, "busy");
        }
        assert_eq!(engine.api_key_cache().len(), 1);
        // The row is not read again within the TTL: a revocation written straight to the
        // store (as another process would) is not seen yet...
        sqlite
            .revoke_api_key(&c.info.id, clock.now())
            .await
            .unwrap();
        clock.advance(Duration::from_millis(59_999));
        engine.authenticate(&c.key).await.unwrap();
        // ...and is once the record is as old as the TTL.
        clock.advance(Duration::from_millis(1));
        refused(engine.authenticate(&c.key).await, "after the TTL");
        // The refusal comes from the re-read (revoked) record, now cached as such.
        refused(engine.authenticate(&c.key).await, "revoked record cached");
    }

    #[tokio::test]
    async fn a_revocation_in_this_process_applies_at_once() {
        let (engine, _, _) = engine_with("api_key_cache_secs = 60").await;
        let c = engine
            .create_api_key("k", Scope::Admin, &Actor::System)
            .await
            .unwrap();
        engine.authenticate(&c.key).await.unwrap();
        engine
            .revoke_api_key(&c.info.id, &Actor::System)
            .await
            .unwrap();
        refused(engine.authenticate(&c.key).await, "revoked here");
        // A second revoke (a conflict) leaves it refused.
        assert!(
            engine
                .revoke_api_key(&c.info.id, &Actor::System)
                .await
                .is_err()
        );
        refused(engine.authenticate(&c.key).await, "still revoked");
    }

    #[tokio::test]
    async fn a_revocation_by_another_engine_applies_within_the_ttl() {
        let sqlite = memory_store().await;
        let clock = ManualClock::new();
        let on = |cfg: &str| {
            Engine::new(Arc::new(sqlite.clone()), ring(&key(), &[]), config(cfg))
                .with_clock(clock.clone())
        };
        let a = on("api_key_cache_secs = 60");
        let b = on("");
        let c = a
            .create_api_key("shared", Scope::App, &Actor::System)
            .await
            .unwrap();
        a.authenticate(&c.key).await.unwrap();
        b.authenticate(&c.key).await.unwrap();
        b.revoke_api_key(&c.info.id, &Actor::System).await.unwrap();
        refused(b.authenticate(&c.key).await, "on the revoking engine");
        // a read the record before: accepted until its TTL has passed...
        a.authenticate(&c.key).await.unwrap();
        clock.advance(Duration::from_secs(30));
        a.authenticate(&c.key).await.unwrap();
        // ...and never after.
        clock.advance(Duration::from_secs(30));
        refused(a.authenticate(&c.key).await, "after the TTL");
    }

    #[tokio::test]
    async fn a_wrong_secret_is_refused_even_when_the_id_is_cached() {
        let (engine, _, _) = engine_with("api_key_cache_secs = 60").await;
        let c = engine
            .create_api_key("k", Scope::App, &Actor::System)
            .await
            .unwrap();
        engine.authenticate(&c.key).await.unwrap();
        let real = c.key.expose_secret().to_owned();
        let (id, secret) = crate::ids::parse_api_key(&real).unwrap();
        let mut wrong = secret.as_bytes().to_vec();
        wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
        let forged = format!("sb_{id}_{}", String::from_utf8(wrong).unwrap());
        refused(
            engine.authenticate(&SecretString::from(forged)).await,
            "wrong secret, cached id",
        );
        refused(
            engine
                .authenticate(&SecretString::from(format!("sb_{id}_{}", "A".repeat(40))))
                .await,
            "another wrong secret",
        );
        // The right one still works, and the cache never held the key.
        engine.authenticate(&c.key).await.unwrap();
        let v = engine
            .api_key_cache()
            .get(id, Duration::MAX, engine.clock().instant())
            .unwrap();
        assert_eq!(v.hash, super::hash_secret(secret));
        assert_ne!(&v.hash[..], secret.as_bytes());
    }

    #[tokio::test]
    async fn zero_turns_the_cache_off() {
        let (engine, sqlite, clock) = engine_with("api_key_cache_secs = 0").await;
        let c = engine
            .create_api_key("k", Scope::App, &Actor::System)
            .await
            .unwrap();
        engine.authenticate(&c.key).await.unwrap();
        assert_eq!(engine.api_key_cache().len(), 0);
        sqlite
            .revoke_api_key(&c.info.id, clock.now())
            .await
            .unwrap();
        refused(engine.authenticate(&c.key).await, "no cache: seen at once");
    }

    #[tokio::test]
    async fn unknown_ids_are_not_cached() {
        let (engine, _, _) = engine_with("").await;
        for i in 0..300 {
            let k = format!("sb_{:012}_{}", i, "A".repeat(40));
            refused(engine.authenticate(&SecretString::from(k)).await, "unknown");
        }
        assert_eq!(engine.api_key_cache().len(), 0);
    }

    #[tokio::test]
    async fn the_last_use_is_written_once_per_minute_through_the_cache() {
        let (engine, sqlite, _) = engine_with("api_key_cache_secs = 3600").await;
        let c = engine
            .create_api_key("k", Scope::App, &Actor::System)
            .await
            .unwrap();
        engine.authenticate(&c.key).await.unwrap();
        let first = sqlite.get_api_key(&c.info.id).await.unwrap().unwrap();
        let first = first.last_used_at.expect("touched on first use");
        // The cached record knows about the write, so the next uses do not write.
        let cached = engine
            .api_key_cache()
            .get(&c.info.id, Duration::MAX, engine.clock().instant())
            .unwrap();
        assert_eq!(cached.last_used_at, Some(first));
        engine.authenticate(&c.key).await.unwrap();
        let again = sqlite.get_api_key(&c.info.id).await.unwrap().unwrap();
        assert_eq!(again.last_used_at, Some(first));
    }

    fn record(id: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            id: id.to_owned(),
            name: "n".into(),
            scope: Scope::App,
            secret_hash: super::hash_secret("s").to_vec(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            last_used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn the_cache_never_grows_past_its_bound() {
        let ttl = Duration::from_secs(1);
        let cache = key_cache();
        let clock = ManualClock::new();
        let put = |id: &str| {
            let v = Verified::new(&record(id));
            cache.put(id, v, cache.epoch(), ttl, clock.instant());
        };
        // Half the bound, then let it expire, then the other half fresh.
        for i in 0..CACHE_MAX / 2 {
            put(&format!("old{i}"));
        }
        clock.advance(Duration::from_secs(2));
        for i in 0..CACHE_MAX / 2 {
            put(&format!("new{i}"));
        }
        assert_eq!(cache.len(), CACHE_MAX);
        // Full: the expired half goes first.
        put("one-more");
        assert_eq!(cache.len(), CACHE_MAX / 2 + 1);
        assert!(cache.get("new0", ttl, clock.instant()).is_some());
        // Replacing an entry does not evict.
        put("new0");
        assert_eq!(cache.len(), CACHE_MAX / 2 + 1);
        // Full of live entries: everything goes.
        for i in 0..CACHE_MAX {
            put(&format!("x{i}"));
            assert!(cache.len() <= CACHE_MAX);
        }
        assert!(cache.len() <= CACHE_MAX);
        for i in 0..3 * CACHE_MAX {
            put(&format!("y{i}"));
        }
        assert!(cache.len() <= CACHE_MAX, "{}", cache.len());
        assert!(format!("{cache:?}").starts_with("KeyCache"));
    }

    #[test]
    fn a_lookup_that_raced_with_a_revocation_cannot_put_its_record_back() {
        let ttl = Duration::from_secs(60);
        let cache = key_cache();
        let now = ManualClock::new().instant();
        let before = cache.epoch();
        // The revocation happens between the lookup's read and its write.
        cache.invalidate("k");
        cache.put("k", Verified::new(&record("k")), before, ttl, now);
        assert!(cache.get("k", ttl, now).is_none());
        // A lookup that started afterwards is kept.
        cache.put("k", Verified::new(&record("k")), cache.epoch(), ttl, now);
        assert!(cache.get("k", ttl, now).is_some());
    }

    #[test]
    fn a_malformed_stored_hash_never_matches() {
        let mut r = record("k");
        r.secret_hash = vec![1, 2, 3];
        let v = Verified::new(&r);
        assert!(v.unusable);
        let mut r = record("k");
        r.revoked_at = Some(chrono::DateTime::UNIX_EPOCH);
        assert!(Verified::new(&r).unusable);
        assert!(!Verified::new(&record("k")).unusable);
    }
}
