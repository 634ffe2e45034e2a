//! How configured secrets are read: raw HMAC keys, `whsec_` keys, Ed25519 keys.

use ed25519_dalek::{SigningKey, VerifyingKey};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::crypto::decode_key_base64;

/// A Standard Webhooks / Svix key, classified by its prefix.
pub(crate) enum StdKey {
    /// `whsec_…` (or bare base64): HMAC-SHA256 key bytes, for `v1`.
    Hmac(Zeroizing<Vec<u8>>),
    /// `whpk_…`: an Ed25519 public key, for `v1a`.
    Public(VerifyingKey),
    /// `whsk_…`: an Ed25519 secret key (can verify too), for `v1a`.
    Secret(Box<SigningKey>),
}

/// Why a configured key could not be read (the caller adds its index).
pub(crate) enum KeyFault {
    Secret(&'static str),
    Public(&'static str),
}

/// Reads a Standard Webhooks key: `whsec_` + base64 (the prefix is optional, as in the
/// reference libraries), `whpk_` + base64 public key, `whsk_` + base64 secret key.
pub(crate) fn std_key(secret: &SecretString) -> Result<StdKey, KeyFault> {
    let s = secret.expose_secret().trim();
    if let Some(b64) = s.strip_prefix("whpk_") {
        let bytes = decode_key_base64(b64).ok_or(KeyFault::Public("not base64 after whpk_"))?;
        return verifying_key(&bytes)
            .map(StdKey::Public)
            .map_err(KeyFault::Public);
    }
    if let Some(b64) = s.strip_prefix("whsk_") {
        let bytes = decode_key_base64(b64).ok_or(KeyFault::Secret("not base64 after whsk_"))?;
        return signing_key(&bytes)
            .map(|k| StdKey::Secret(Box::new(k)))
            .map_err(KeyFault::Secret);
    }
    let b64 = s.strip_prefix("whsec_").unwrap_or(s);
    let bytes = decode_key_base64(b64).ok_or(KeyFault::Secret("not base64 after whsec_"))?;
    if bytes.is_empty() {
        return Err(KeyFault::Secret("empty"));
    }
    Ok(StdKey::Hmac(bytes))
}

/// The secret's bytes as an HMAC key, verbatim.
pub(crate) fn raw_key(secret: &SecretString) -> Result<&[u8], &'static str> {
    let k = secret.expose_secret().as_bytes();
    if k.is_empty() {
        return Err("empty");
    }
    Ok(k)
}

/// An Ed25519 public key from 32 bytes, refusing invalid and small-order points.
pub(crate) fn verifying_key(bytes: &[u8]) -> Result<VerifyingKey, &'static str> {
    let arr: &[u8; 32] = bytes.try_into().map_err(|_| "not 32 bytes")?;
    let key = VerifyingKey::from_bytes(arr).map_err(|_| "not a point on the curve")?;
    if key.is_weak() {
        return Err("a weak (small-order) key");
    }
    Ok(key)
}

/// An Ed25519 secret key from a 32-byte seed or a 64-byte seed‖public key pair.
pub(crate) fn signing_key(bytes: &[u8]) -> Result<SigningKey, &'static str> {
    match bytes.len() {
        32 => {
            let mut seed = Zeroizing::new([0u8; 32]);
            seed.copy_from_slice(bytes);
            Ok(SigningKey::from_bytes(&seed))
        }
        64 => {
            let mut pair = Zeroizing::new([0u8; 64]);
            pair.copy_from_slice(bytes);
            SigningKey::from_keypair_bytes(&pair).map_err(|_| "public half does not match the seed")
        }
        _ => Err("not a 32-byte seed or a 64-byte key pair"),
    }
}

/// A hex Ed25519 public key (Discord's form).
pub(crate) fn hex_verifying_key(secret: &SecretString) -> Result<VerifyingKey, &'static str> {
    let bytes = hex::decode(secret.expose_secret().trim()).map_err(|_| "not hex")?;
    verifying_key(&bytes)
}

/// A hex Ed25519 secret key (seed or key pair).
pub(crate) fn hex_signing_key(secret: &SecretString) -> Result<SigningKey, &'static str> {
    let bytes = Zeroizing::new(hex::decode(secret.expose_secret().trim()).map_err(|_| "not hex")?);
    signing_key(&bytes)
}
