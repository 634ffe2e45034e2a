//! Sealed secrets and master-key rotation.

use serde::Serialize;
use store::SecretSlot;
use vault::{Aad, ExposeSecret, SecretString};

use crate::{Actor, Engine, EngineError, EngineResult};

fn aad(slot: &SecretSlot) -> Aad<'_> {
    Aad::new(&slot.owner, &slot.name, &slot.owner_id)
}

/// Progress of a rotation, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RotationProgress {
    /// Secrets not under the primary key when the run started.
    pub total: u64,
    /// Re-encrypted by this run so far.
    pub rewritten: u64,
    /// Skipped because a newer value was written meanwhile (it is already under the
    /// primary key).
    pub skipped: u64,
}

impl Engine {
    /// Seals and stores a secret in `slot`.
    pub async fn put_secret(&self, slot: &SecretSlot, value: &SecretString) -> EngineResult<()> {
        let sealed = self
            .inner
            .keyring
            .seal(value.expose_secret().as_bytes(), aad(slot))?;
        let key_id = self.inner.keyring.primary().id().to_string();
        self.inner.store.put_secret(slot, &key_id, &sealed).await?;
        Ok(())
    }

    /// Loads and opens the secret in `slot`.
    pub async fn get_secret(&self, slot: &SecretSlot) -> EngineResult<Option<SecretString>> {
        match self.inner.store.get_secret(slot).await? {
            None => Ok(None),
            Some(s) => Ok(Some(self.inner.keyring.open_str(&s.ciphertext, aad(slot))?)),
        }
    }

    /// Stored key ids that no configured key matches, with how many secrets use each.
    pub async fn unknown_secret_keys(&self) -> EngineResult<Vec<(String, u64)>> {
        let known: Vec<String> = self
            .inner
            .keyring
            .key_ids()
            .iter()
            .map(ToString::to_string)
            .collect();
        Ok(self
            .inner
            .store
            .secret_key_ids()
            .await?
            .into_iter()
            .filter(|(id, _)| !known.contains(id))
            .collect())
    }

    /// Re-encrypts every stored secret under the primary key, `batch` at a time.
    ///
    /// Each secret is replaced with a compare-and-swap on its version, so a value
    /// written concurrently (a refreshed token) is never overwritten with an older one.
    /// Every replacement is its own commit: a run that is killed half-way leaves some
    /// secrets under the old key and some under the new one, all of which open as long as
    /// the old key stays configured; running again finishes the job.
    pub async fn rotate_keys(
        &self,
        batch: u32,
        actor: &Actor,
        progress: &(dyn Fn(RotationProgress) + Sync),
    ) -> EngineResult<RotationProgress> {
        let unknown = self.unknown_secret_keys().await?;
        if let Some((id, n)) = unknown.first() {
            return Err(EngineError::Conflict(format!(
                "{n} secrets are sealed under key {id}, which is not configured; add that key to old_master_keys and run again"
            )));
        }
        let primary = self.inner.keyring.primary().id().to_string();
        let total = self.inner.store.count_secrets_not_under(&primary).await?;
        let mut p = RotationProgress {
            total,
            rewritten: 0,
            skipped: 0,
        };
        self.audit(
            actor,
            "keys.rotate.start",
            &primary,
            serde_json::json!({ "pending": total }),
        )
        .await?;
        progress(p);
        let mut cursor: Option<SecretSlot> = None;
        loop {
            let rows = self
                .inner
                .store
                .secrets_not_under(&primary, cursor.as_ref(), batch.max(1))
                .await?;
            let Some(last) = rows.last() else { break };
            cursor = Some(last.slot.clone());
            for s in &rows {
                let sealed = self.inner.keyring.reseal(&s.ciphertext, aad(&s.slot))?;
                if self
                    .inner
                    .store
                    .replace_secret_if(&s.slot, s.version, &primary, &sealed)
                    .await?
                {
                    p.rewritten += 1;
                } else {
                    p.skipped += 1;
                }
            }
            progress(p);
        }
        let left = self.inner.store.count_secrets_not_under(&primary).await?;
        self.audit(
            actor,
            "keys.rotate.finish",
            &primary,
            serde_json::json!({ "rewritten": p.rewritten, "skipped": p.skipped, "remaining": left }),
        )
        .await?;
        if left > 0 {
            return Err(EngineError::Conflict(format!(
                "{left} secrets are still under an old key (written during the run); run `switchboard keys rotate` again"
            )));
        }
        Ok(p)
    }
}
