//! A connection's own signing key (`jwt_bearer`): the private key that an end user or
//! the app backend brings for one connection (a customer's Google service-account key
//! file, their Salesforce connected app's key), signing that connection's assertions
//! instead of the integration's `private_key`. A GitHub App's key stays the
//! integration's: the app is the integrator's.
//!
//! Invariants:
//! - The key is read by the configuration's own reader ([`config::keys`]), so a
//!   connection's key and an integration's are accepted and refused alike: a PEM or a
//!   Google key file, parsed and made to sign once before the provider is asked.
//! - It is sealed in the connection's `signing_key` slot ([`store::signing_key_slot`]),
//!   written in the same transaction as the connection's row, and removed by a revoke, a
//!   delete (erasure) or a reconnect without one; key rotation and `db copy` treat it as
//!   every other secret. It is opened only to sign an assertion; no answer, log line,
//!   error or audit row holds it.
//! - A connection made with a key of its own never signs with the integration's: its
//!   `key_issuer` setting says it has one, and without the key a token is refused.

use serde::{Deserialize, Serialize};
use store::{SealedCredentials, signing_key_slot};
use vault::{Aad, ExposeSecret, Keyring, SecretString};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::context::Ctx;
use super::invalid;
use super::manage::CredentialsInput;
use crate::{EngineError, EngineResult};

/// The connection setting that names the issuer of the connection's own key. Switchboard
/// sets it; a caller cannot.
pub(crate) const KEY_ISSUER: &str = "key_issuer";

/// The longest issuer (`client_id`) a connection's key may name.
const MAX_ISSUER: usize = 256;
/// The longest key id (`private_key_id`), as the configuration allows.
const MAX_KID: usize = 200;

/// A connection's own signing key, with the issuer and key id it signs as. Never
/// printed, zeroed on drop, stored only sealed.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ConnectionKey {
    /// The RSA private key in PEM.
    pub pem: String,
    /// The assertion's issuer (`iss`).
    pub issuer: String,
    /// The JWT header's `kid`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

impl std::fmt::Debug for ConnectionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionKey")
            .field("pem", &"[redacted]")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish()
    }
}

fn aad(connection_id: &str) -> (String, String, String) {
    let slot = signing_key_slot(connection_id);
    (slot.owner, slot.name, slot.owner_id)
}

impl ConnectionKey {
    /// Seals for connection `id` (associated data = the `secrets` slot, as key rotation
    /// expects).
    pub fn seal(&self, keyring: &Keyring, id: &str) -> EngineResult<SealedCredentials> {
        let json = SecretString::from(
            serde_json::to_string(self)
                .map_err(|e| EngineError::Conflict(format!("cannot encode the key: {e}")))?,
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

    /// Opens what [`ConnectionKey::seal`] sealed for connection `id`.
    pub fn open(keyring: &Keyring, id: &str, ciphertext: &[u8]) -> EngineResult<Self> {
        let (table, column, row) = aad(id);
        let plain = keyring.open(ciphertext, Aad::new(&table, &column, &row))?;
        serde_json::from_slice(plain.expose_secret()).map_err(|_| {
            EngineError::Store(store::StoreError::Corrupt(format!(
                "the signing key of connection {id:?} is not valid JSON after decryption"
            )))
        })
    }

    /// Reads the key given for a new connection of `ctx`'s integration
    /// (`credentials.private_key`, a PEM or a Google key file, with `client_id` and
    /// `private_key_id` where the file does not say them); `None` when none was given.
    /// Refusals name the field and never quote the key.
    pub fn from_input(ctx: &Ctx, input: Option<&CredentialsInput>) -> EngineResult<Option<Self>> {
        let Some(input) = input else {
            return Ok(None);
        };
        if input.api_key.is_some() || input.username.is_some() || input.password.is_some() {
            return Err(invalid(
                "credentials",
                format!(
                    "integration {:?} signs JWT assertions: give credentials.private_key (the service account's key file or a PEM), not an API key or password",
                    ctx.integration.id
                ),
            ));
        }
        for (field, value, max) in [
            (
                "credentials.client_id",
                input.client_id.as_deref(),
                MAX_ISSUER,
            ),
            (
                "credentials.private_key_id",
                input.private_key_id.as_deref(),
                MAX_KID,
            ),
        ] {
            if let Some(v) = value
                && (v.is_empty() || v.len() > max || v.chars().any(char::is_control))
            {
                return Err(invalid(
                    field,
                    format!("must be 1 to {max} printable characters"),
                ));
            }
        }
        let Some(text) = input.private_key.as_deref() else {
            if input.client_id.is_some() || input.private_key_id.is_some() {
                return Err(invalid(
                    "credentials.private_key",
                    "is missing; client_id and private_key_id go with a key of the connection's own",
                ));
            }
            return Ok(None);
        };
        let text = SecretString::from(text.to_owned());
        let read = config::keys::read_signing_key(&text)
            .map_err(|m| invalid("credentials.private_key", m))?;
        // What a key file says and what the caller says must agree, as in the
        // configuration.
        for (field, given, from_file) in [
            (
                "credentials.client_id",
                input.client_id.as_deref(),
                read.client_email.as_deref(),
            ),
            (
                "credentials.private_key_id",
                input.private_key_id.as_deref(),
                read.key_id.as_deref(),
            ),
        ] {
            if let (Some(g), Some(f)) = (given, from_file)
                && g != f
            {
                return Err(invalid(
                    field,
                    format!(
                        "is {g:?} but the service-account key file says {f:?}; leave it out (the file's is used) or give the matching key file"
                    ),
                ));
            }
        }
        let issuer = input
            .client_id
            .clone()
            .or_else(|| read.client_email.clone())
            .or_else(|| ctx.integration.client_id.clone())
            .ok_or_else(|| {
                invalid(
                    "credentials.client_id",
                    format!(
                        "is missing: a PEM alone does not name the assertion's issuer; give client_id (a connected app's consumer key, an integration key, a service account's email), or Google's service-account key file, which names it (integration {:?} has no client_id to fall back on)",
                        ctx.integration.id
                    ),
                )
            })?;
        if issuer.len() > MAX_ISSUER || issuer.chars().any(char::is_control) {
            return Err(invalid(
                "credentials.private_key",
                format!(
                    "is a key file whose client_email is not 1 to {MAX_ISSUER} printable characters"
                ),
            ));
        }
        if let Some(k) = &read.key_id
            && (k.len() > MAX_KID || k.chars().any(char::is_control))
        {
            return Err(invalid(
                "credentials.private_key",
                format!(
                    "is a key file whose private_key_id is not 1 to {MAX_KID} printable characters"
                ),
            ));
        }
        Ok(Some(ConnectionKey {
            pem: read.pem.expose_secret().to_owned(),
            issuer,
            kid: input.private_key_id.clone().or(read.key_id.clone()),
        }))
    }
}

impl crate::Engine {
    /// The connection's own signing key, if it has one.
    pub(crate) async fn connection_key(&self, id: &str) -> EngineResult<Option<ConnectionKey>> {
        match self.inner.store.get_secret(&signing_key_slot(id)).await? {
            None => Ok(None),
            Some(s) => Ok(Some(ConnectionKey::open(
                &self.inner.keyring,
                id,
                &s.ciphertext,
            )?)),
        }
    }
}
