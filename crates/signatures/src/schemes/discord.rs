//! Discord interactions: Ed25519 (strict) over `{timestamp}{body}`, hex signature and
//! hex public key.

use ed25519_dalek::{Signature, Signer as _};
use secrecy::SecretString;

use super::{Ctx, decode_sig};
use crate::crypto::{SignatureEncoding, parse_timestamp};
use crate::keys::{hex_signing_key, hex_verifying_key};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

const SIGNATURE: &str = "X-Signature-Ed25519";
const TIMESTAMP: &str = "X-Signature-Timestamp";

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let h = ctx.req.headers;
    let sig = decode_sig(SIGNATURE, h.text(SIGNATURE)?, SignatureEncoding::Hex)?;
    let sig = <[u8; 64]>::try_from(sig.as_slice())
        .map_err(|_| VerifyError::malformed(SIGNATURE, "not 64 bytes"))?;
    let sig = Signature::from_bytes(&sig);
    let ts_text = h.text(TIMESTAMP)?;
    let ts = parse_timestamp(TIMESTAMP, ts_text)?;
    ctx.check_time(ts)?;
    let message = [ts_text.as_bytes(), ctx.req.body].concat();
    for (index, secret) in ctx.secrets.iter().enumerate() {
        let key = hex_verifying_key(secret)
            .map_err(|reason| VerifyError::BadPublicKey { index, reason })?;
        if key.verify_strict(&message, &sig).is_ok() {
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
        hex_signing_key(&secrets[0]).map_err(|reason| SignError::BadSecret { index: 0, reason })?;
    let ts = input.timestamp.to_string();
    let sig = key.sign(&[ts.as_bytes(), input.body].concat());
    Ok(Signed::headers(
        vec![
            (SIGNATURE.to_owned(), hex::encode(sig.to_bytes())),
            (TIMESTAMP.to_owned(), ts),
        ],
        input.url,
    ))
}
