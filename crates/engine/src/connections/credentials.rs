//! A connection's credentials: what is sealed in the vault as one JSON blob.

use serde::{Deserialize, Serialize};
use store::{SealedCredentials, credentials_slot};
use vault::{Aad, ExposeSecret, Keyring, SecretString};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{EngineError, EngineResult};

/// Everything secret about a connection. Never printed (no `Debug` of the values),
/// zeroed on drop, and only ever stored sealed.
#[derive(Default, Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Credentials {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Slack's user-level token beside the bot token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let present = |o: &Option<String>| if o.is_some() { "[redacted]" } else { "-" };
        f.debug_struct("Credentials")
            .field("access_token", &present(&self.access_token))
            .field("refresh_token", &present(&self.refresh_token))
            .field("api_key", &present(&self.api_key))
            .field("password", &present(&self.password))
            .finish_non_exhaustive()
    }
}

fn aad(connection_id: &str) -> (String, String, String) {
    let slot = credentials_slot(connection_id);
    (slot.owner, slot.name, slot.owner_id)
}

impl Credentials {
    /// Seals for connection `id` (associated data = the `secrets` slot, as key rotation
    /// expects).
    pub fn seal(&self, keyring: &Keyring, id: &str) -> EngineResult<SealedCredentials> {
        let json = SecretString::from(
            serde_json::to_string(self)
                .map_err(|e| EngineError::Conflict(format!("cannot encode credentials: {e}")))?,
        );
        let (table, column, row) = aad(id);
        let ciphertext = keyring.seal(
            json.expose_secret().as_bytes(),
            Aad::new(&table, &column, &row),
        )?;
        Ok(SealedCredentials {
            key_id: keyring.primary().id().to_string(),
            ciphertext,
        })
    }

    /// Opens what [`Credentials::seal`] sealed for connection `id`.
    pub fn open(keyring: &Keyring, id: &str, sealed: &SealedCredentials) -> EngineResult<Self> {
        let (table, column, row) = aad(id);
        let plain = keyring.open(&sealed.ciphertext, Aad::new(&table, &column, &row))?;
        serde_json::from_slice(plain.expose_secret()).map_err(|_| {
            EngineError::Store(store::StoreError::Corrupt(format!(
                "credentials of connection {id:?} are not valid JSON after decryption"
            )))
        })
    }
}
