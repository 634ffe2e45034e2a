//! Twilio SendGrid's signed Event Webhook: ECDSA P-256 with SHA-256 over
//! `{timestamp}{body}`, the DER signature base64 in
//! `X-Twilio-Email-Event-Webhook-Signature`, the Unix-seconds timestamp in
//! `X-Twilio-Email-Event-Webhook-Timestamp`. Verification keys are the base64
//! SubjectPublicKeyInfo DER SendGrid shows (PEM armour accepted too); signing keys are
//! base64 PKCS#8 DER. Signing is deterministic (RFC 6979), so it needs no randomness.

use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _};
use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use super::{Ctx, decode_sig};
use crate::crypto::{self, SignatureEncoding, parse_timestamp};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

const SIGNATURE: &str = "X-Twilio-Email-Event-Webhook-Signature";
const TIMESTAMP: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

/// The DER bytes of a base64 key, with or without PEM armour and line breaks.
fn key_der(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let b64: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars().filter(|c| !c.is_ascii_whitespace()))
        .collect();
    crypto::decode_key_base64(&b64).filter(|k| !k.is_empty())
}

/// A configured verification key: base64 SubjectPublicKeyInfo DER of a P-256 key.
pub(crate) fn verifying_key(secret: &SecretString) -> Result<VerifyingKey, &'static str> {
    let der = key_der(secret.expose_secret()).ok_or("not base64")?;
    VerifyingKey::from_public_key_der(&der)
        .map_err(|_| "not a P-256 public key (base64 SubjectPublicKeyInfo DER)")
}

/// A signing key: base64 PKCS#8 DER of a P-256 private key.
pub(crate) fn signing_key(secret: &SecretString) -> Result<SigningKey, &'static str> {
    let der = key_der(secret.expose_secret()).ok_or("not base64")?;
    SigningKey::from_pkcs8_der(&der).map_err(|_| "not a P-256 private key (base64 PKCS#8 DER)")
}

/// The base64 SubjectPublicKeyInfo DER of the signing key's public half.
pub(crate) fn public_key_of(secret: &SecretString) -> Result<String, &'static str> {
    let key = signing_key(secret)?;
    let der = key
        .verifying_key()
        .to_public_key_der()
        .map_err(|_| "the public key cannot be encoded")?;
    Ok(crypto::encode_base64(der.as_bytes()))
}

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let h = ctx.req.headers;
    let der = decode_sig(SIGNATURE, h.text(SIGNATURE)?, SignatureEncoding::Base64)?;
    let sig = Signature::from_der(&der)
        .map_err(|_| VerifyError::malformed(SIGNATURE, "not a DER ECDSA P-256 signature"))?;
    let ts_text = h.text(TIMESTAMP)?;
    let ts = parse_timestamp(TIMESTAMP, ts_text)?;
    ctx.check_time(ts)?;
    let message = [ts_text.as_bytes(), ctx.req.body].concat();
    // OpenSSL (and so SendGrid) does not normalise s; either half verifies.
    let low = sig.normalize_s();
    for (index, secret) in ctx.secrets.iter().enumerate() {
        let key =
            verifying_key(secret).map_err(|reason| VerifyError::BadPublicKey { index, reason })?;
        if key.verify(&message, &sig).is_ok() || key.verify(&message, &low).is_ok() {
            return Ok(Verified {
                secret_index: index,
                timestamp: Some(ts),
                id: None,
                key: crate::KeyRole::Webhook,
            });
        }
    }
    Err(VerifyError::NoMatch {
        signatures: 1,
        secrets: ctx.secrets.len(),
    })
}

pub(crate) fn sign(secrets: &[SecretString], input: &SignRequest<'_>) -> Result<Signed, SignError> {
    let key =
        signing_key(&secrets[0]).map_err(|reason| SignError::BadSecret { index: 0, reason })?;
    let ts = input.timestamp.to_string();
    let sig: Signature = key.sign(&[ts.as_bytes(), input.body].concat());
    Ok(Signed::headers(
        vec![
            (
                SIGNATURE.to_owned(),
                crypto::encode_base64(sig.to_der().as_bytes()),
            ),
            (TIMESTAMP.to_owned(), ts),
        ],
        input.url,
    ))
}
