//! Sealed values and master-key rotation.
//!
//! Two places hold sealed values: the `secrets` table (every secret of every aggregate,
//! connection credentials included) and `oauth_states` (the PKCE verifier and nonce of
//! each authorization in flight). Rotation and the key reports cover both.

use std::collections::BTreeMap;

use serde::Serialize;
use store::SecretSlot;
use vault::{Aad, ExposeSecret, SecretString};

use crate::{Actor, Engine, EngineError, EngineResult};

fn aad(slot: &SecretSlot) -> Aad<'_> {
    Aad::new(&slot.owner, &slot.name, &slot.owner_id)
}

/// The row part of an authorization state's associated data: its state hash in hex.
pub(crate) fn state_row(hash: &[u8]) -> String {
    hex::encode(hash)
}

/// The associated data of an authorization state's sealed verifier and nonce
/// (`oauth_states.sealed` of the row [`state_row`] names).
pub(crate) fn state_aad(row: &str) -> Aad<'_> {
    Aad::new("oauth_states", "sealed", row)
}

/// Progress of a rotation, reported after every batch. The first three fields count
/// every sealed value (secrets and authorization states together); the `oauth_states_`
/// ones the authorization states among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct RotationProgress {
    /// Sealed values not under the primary key when the run started.
    pub total: u64,
    /// Re-encrypted by this run so far.
    pub rewritten: u64,
    /// Skipped because they changed meanwhile: a secret with a newer value (already
    /// under the primary key), or an authorization state used or expired since.
    pub skipped: u64,
    /// Authorization states in flight not under the primary key when the run started.
    pub oauth_states_total: u64,
    /// Authorization states re-encrypted by this run so far.
    pub oauth_states_rewritten: u64,
    /// Authorization states skipped (used, expired or rewritten by another run).
    pub oauth_states_skipped: u64,
}

impl Engine {
    /// Seals and stores a secret in `slot` only if the slot is empty; false (nothing
    /// written) if it holds one already.
    pub async fn insert_secret_if_absent(
        &self,
        slot: &SecretSlot,
        value: &SecretString,
    ) -> EngineResult<bool> {
        let sealed = self
            .inner
            .keyring
            .seal(value.expose_secret().as_bytes(), aad(slot))?;
        let key_id = self.inner.keyring.primary().id().to_string();
        Ok(self
            .inner
            .store
            .insert_secret_if_absent(slot, &key_id, &sealed)
            .await?)
    }

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

    /// How many sealed values are under each key id: stored secrets, and authorization
    /// states that have not expired (an expired one is never opened again).
    pub async fn sealed_key_ids(&self) -> EngineResult<Vec<(String, u64)>> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for (id, n) in self.inner.store.secret_key_ids().await? {
            *counts.entry(id).or_default() += n;
        }
        for (id, n) in self.inner.store.oauth_state_key_ids(self.now()).await? {
            *counts.entry(id).or_default() += n;
        }
        Ok(counts.into_iter().collect())
    }

    /// Key ids of sealed values (see [`Engine::sealed_key_ids`]) that no configured key
    /// matches, with how many values use each.
    pub async fn unknown_secret_keys(&self) -> EngineResult<Vec<(String, u64)>> {
        let known: Vec<String> = self
            .inner
            .keyring
            .key_ids()
            .iter()
            .map(ToString::to_string)
            .collect();
        Ok(self
            .sealed_key_ids()
            .await?
            .into_iter()
            .filter(|(id, _)| !known.contains(id))
            .collect())
    }

    /// Authorization states in flight not sealed under `key_id`.
    async fn count_states_not_under(&self, key_id: &str) -> EngineResult<u64> {
        Ok(self
            .inner
            .store
            .oauth_state_key_ids(self.now())
            .await?
            .into_iter()
            .filter(|(id, _)| id != key_id)
            .map(|(_, n)| n)
            .sum())
    }

    /// Re-encrypts every sealed value under the primary key, `batch` at a time: the stored
    /// secrets, then the authorization states in flight.
    ///
    /// Each value is replaced with a compare-and-swap (a secret on its version, a state on
    /// its sealed bytes), so a value written concurrently (a refreshed token) is never
    /// overwritten with an older one, and a state the callback took meanwhile is not
    /// brought back. Every replacement is its own commit: a run that is killed half-way
    /// leaves some values under the old key and some under the new one, all of which open
    /// as long as the old key stays configured; running again finishes the job.
    pub async fn rotate_keys(
        &self,
        batch: u32,
        actor: &Actor,
        progress: &(dyn Fn(RotationProgress) + Sync),
    ) -> EngineResult<RotationProgress> {
        let unknown = self.unknown_secret_keys().await?;
        if let Some((id, n)) = unknown.first() {
            return Err(EngineError::Conflict(format!(
                "{n} sealed values (secrets, or authorizations in progress) are under key {id}, which is not configured; add that key to old_master_keys and run again"
            )));
        }
        let primary = self.inner.keyring.primary().id().to_string();
        let secrets = self.inner.store.count_secrets_not_under(&primary).await?;
        let states = self.count_states_not_under(&primary).await?;
        let mut p = RotationProgress {
            total: secrets + states,
            oauth_states_total: states,
            ..RotationProgress::default()
        };
        self.audit(
            actor,
            "keys.rotate.start",
            &primary,
            serde_json::json!({ "pending": p.total, "pending_oauth_states": states }),
        )
        .await?;
        progress(p);
        self.rotate_secrets(&primary, batch, &mut p, progress)
            .await?;
        self.rotate_states(&primary, batch, &mut p, progress)
            .await?;
        let left_states = self.count_states_not_under(&primary).await?;
        let left = self.inner.store.count_secrets_not_under(&primary).await? + left_states;
        self.audit(
            actor,
            "keys.rotate.finish",
            &primary,
            serde_json::json!({
                "rewritten": p.rewritten,
                "skipped": p.skipped,
                "remaining": left,
                "oauth_states_rewritten": p.oauth_states_rewritten,
                "oauth_states_skipped": p.oauth_states_skipped,
                "oauth_states_remaining": left_states,
            }),
        )
        .await?;
        if left > 0 {
            return Err(EngineError::Conflict(format!(
                "{left} sealed values are still under an old key (written during the run); run `switchboard keys rotate` again"
            )));
        }
        Ok(p)
    }

    /// The `secrets` table's part of [`Engine::rotate_keys`].
    async fn rotate_secrets(
        &self,
        primary: &str,
        batch: u32,
        p: &mut RotationProgress,
        progress: &(dyn Fn(RotationProgress) + Sync),
    ) -> EngineResult<()> {
        let mut cursor: Option<SecretSlot> = None;
        loop {
            let rows = self
                .inner
                .store
                .secrets_not_under(primary, cursor.as_ref(), batch.max(1))
                .await?;
            let Some(last) = rows.last() else { break };
            cursor = Some(last.slot.clone());
            for s in &rows {
                let sealed = self.inner.keyring.reseal(&s.ciphertext, aad(&s.slot))?;
                if self
                    .inner
                    .store
                    .replace_secret_if(&s.slot, s.version, primary, &sealed)
                    .await?
                {
                    p.rewritten += 1;
                } else {
                    p.skipped += 1;
                }
            }
            progress(*p);
        }
        Ok(())
    }

    /// The `oauth_states` part of [`Engine::rotate_keys`]: the flows in progress, whose
    /// callback must still open them once the old key is gone.
    async fn rotate_states(
        &self,
        primary: &str,
        batch: u32,
        p: &mut RotationProgress,
        progress: &(dyn Fn(RotationProgress) + Sync),
    ) -> EngineResult<()> {
        let mut cursor: Option<Vec<u8>> = None;
        loop {
            let rows = self
                .inner
                .store
                .oauth_states_not_under(primary, self.now(), cursor.as_deref(), batch.max(1))
                .await?;
            let Some(last) = rows.last() else { break };
            cursor = Some(last.state_hash.clone());
            for st in &rows {
                let row = state_row(&st.state_hash);
                let sealed = self.inner.keyring.reseal(&st.sealed, state_aad(&row))?;
                if self
                    .inner
                    .store
                    .replace_oauth_state_sealed_if(&st.state_hash, &st.sealed, &sealed)
                    .await?
                {
                    p.rewritten += 1;
                    p.oauth_states_rewritten += 1;
                } else {
                    p.skipped += 1;
                    p.oauth_states_skipped += 1;
                }
            }
            progress(*p);
        }
        Ok(())
    }
}
