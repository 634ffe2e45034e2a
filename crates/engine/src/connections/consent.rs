//! Consent records and the subject hash: what the connection flows write when a consent
//! is given, changed or withdrawn, and the deployment's keyed hash that names an end user
//! in the audit log (see `crate::privacy` for erasure and export, which read them).

use hmac::{KeyInit, Mac};
use store::{ConsentKind, ConsentRecord, SecretSlot};
use vault::{ExposeSecret, SecretString};

use crate::ids::new_consent_id;
use crate::{Engine, EngineError, EngineResult};

/// Where the deployment's subject-hash salt is sealed.
fn salt_slot() -> SecretSlot {
    SecretSlot::new("privacy", "deployment", "subject_hash_salt")
}

/// How a consent came about: the connect session (its stored hash) and the origin the
/// browser returned to.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConsentOrigin<'a> {
    /// SHA-256 of the connect session's token.
    pub session_hash: Option<&'a [u8]>,
    /// `return_to` or the opener's origin.
    pub return_url: Option<&'a str>,
    /// Scopes requested.
    pub requested: Vec<String>,
}

/// The origin (`scheme://host[:port]`) of a URL, or `None`.
fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

impl Engine {
    /// The deployment's keyed hash of an end user id (hex HMAC-SHA256 under the salt
    /// sealed in `secrets`, made on first use).
    pub async fn subject_hash(&self, end_user_id: &str) -> EngineResult<String> {
        let salt = match self.get_secret(&salt_slot()).await? {
            Some(s) => s,
            None => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| {
                    EngineError::Misconfigured(format!("no random numbers for the salt: {e}"))
                })?;
                let fresh = SecretString::from(hex::encode(bytes));
                self.put_secret(&salt_slot(), &fresh).await?;
                // Read back: another instance may have written its own at the same time,
                // and the stored one is the one every later hash uses.
                self.get_secret(&salt_slot()).await?.unwrap_or(fresh)
            }
        };
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(salt.expose_secret().as_bytes())
            .map_err(|e| EngineError::Misconfigured(format!("subject hash: {e}")))?;
        mac.update(end_user_id.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// Appends a consent record for connection `c` (scopes granted as it stands now).
    pub(crate) async fn record_consent(
        &self,
        c: &store::Connection,
        kind: ConsentKind,
        origin: ConsentOrigin<'_>,
    ) -> EngineResult<()> {
        let record = ConsentRecord {
            id: new_consent_id(),
            connection_id: Some(c.id.clone()),
            end_user_id: Some(c.end_user_id.clone()),
            subject_hash: None,
            integration: c.integration.clone(),
            kind,
            scopes_requested: origin.requested,
            scopes_granted: c.scopes.clone(),
            // A reference to the session's stored hash, never its token.
            connect_session: origin
                .session_hash
                .map(|h| format!("cs-{}", hex::encode(&h[..h.len().min(8)]))),
            return_origin: origin.return_url.and_then(origin_of),
            at: self.now(),
        };
        Ok(self.inner.store.insert_consent_record(&record).await?)
    }
}
