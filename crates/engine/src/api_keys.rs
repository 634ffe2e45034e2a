//! API keys: `sb_<id>_<secret>`, shown once, stored as SHA-256 of the secret part,
//! checked in constant time.
//!
//! The `sb_` prefix and fixed shape let secret scanners recognise a leaked key
//! (`sb_[a-z0-9]{12}_[A-Za-z0-9]{40}`). The secret part carries 238 bits of entropy, so
//! a plain SHA-256 (no slow KDF) is the right hash: there is nothing to brute-force.

use serde::Serialize;
use sha2::{Digest, Sha256};
use store::{ApiKeyRecord, Scope};
use vault::{ExposeSecret, SecretString, constant_time_eq};

use crate::{Actor, Engine, EngineError, EngineResult};

/// Prefix of every key.
pub const PREFIX: &str = "sb_";
const ID_LEN: usize = 12;
const SECRET_LEN: usize = 40;
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// How stale `last_used_at` may get before a use is written back (avoids a write per
/// request).
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// Random string from `alphabet` (rejection sampling, no modulo bias).
fn random_string(len: usize, alphabet: &[u8]) -> EngineResult<String> {
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|_| vault::VaultError::Random)?;
        for &b in &buf {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::new()
        .chain_update(b"switchboard.api-key.v1")
        .chain_update(secret.as_bytes())
        .finalize()
        .to_vec()
}

/// Splits a presented key into id and secret, checking its shape.
pub fn parse(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = id.len() == ID_LEN
        && secret.len() == SECRET_LEN
        && id.bytes().all(|b| ID_ALPHABET.contains(&b))
        && secret.bytes().all(|b| SECRET_ALPHABET.contains(&b));
    ok.then_some((id, secret))
}

/// Whether `text` contains something shaped like a Switchboard API key (used by the
/// secret scanner and by tests that prove keys never leak).
pub fn looks_like_key(text: &str) -> bool {
    const LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN;
    text.match_indices(PREFIX)
        .any(|(i, _)| text.get(i..i + LEN).is_some_and(|k| parse(k).is_some()))
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
        let id = random_string(ID_LEN, ID_ALPHABET)?;
        let secret = random_string(SECRET_LEN, SECRET_ALPHABET)?;
        let record = ApiKeyRecord {
            id: id.clone(),
            name: name.to_owned(),
            scope,
            secret_hash: hash_secret(&secret),
            created_at: store::now(),
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
            key: SecretString::from(format!("{PREFIX}{id}_{secret}")),
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
        if !self.inner.store.revoke_api_key(id, store::now()).await? {
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
    /// comparison is constant-time.
    pub async fn authenticate(&self, presented: &SecretString) -> EngineResult<Principal> {
        const BAD: EngineError = EngineError::Unauthenticated(
            "invalid or revoked API key; send Authorization: Bearer sb_…",
        );
        let Some((id, secret)) = parse(presented.expose_secret()) else {
            return Err(BAD);
        };
        let presented_hash = hash_secret(secret);
        let record = self.inner.store.get_api_key(id).await?;
        // Compare against something even when the id is unknown, so that timing does not
        // tell which ids exist.
        let stored = record
            .as_ref()
            .map(|r| r.secret_hash.as_slice())
            .unwrap_or(&[0u8; 32]);
        let matches = constant_time_eq(&presented_hash, stored);
        let Some(record) = record.filter(|r| matches && r.revoked_at.is_none()) else {
            return Err(BAD);
        };
        let now = store::now();
        let stale = record
            .last_used_at
            .is_none_or(|t| (now - t).num_milliseconds() >= TOUCH_INTERVAL_MS);
        if stale {
            // A failed touch must not fail the request.
            if let Err(e) = self.inner.store.touch_api_key(&record.id, now).await {
                tracing::warn!(error = %e, key_id = %record.id, "could not record API key use");
            }
        }
        Ok(Principal {
            key_id: record.id,
            name: record.name,
            scope: record.scope,
        })
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
