//! Twilio: HMAC-SHA1, base64, over the full URL followed by the form parameters sorted
//! by name, each name immediately followed by its value. JSON webhooks instead carry
//! `bodySHA256` (hex SHA-256 of the body) in the signed URL.

use secrecy::SecretString;

use super::{Ctx, decode_sig, sign_raw, sign_url, verified};
use crate::crypto::{self, HmacAlgorithm, SignatureEncoding};
use crate::request::{parse_urlencoded, query_of};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

const SIGNATURE: &str = "X-Twilio-Signature";
const BODY_HASH: &str = "bodySHA256";

/// `url` followed by the sorted `name value` pairs.
fn content(url: &str, params: &mut [(String, String)]) -> Vec<u8> {
    params.sort();
    let mut out = url.as_bytes().to_vec();
    for (k, v) in params.iter() {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

fn body_hash_param(url: &str) -> Option<String> {
    let query = query_of(url)?;
    parse_urlencoded(query.as_bytes())
        .into_iter()
        .find(|(k, _)| k == BODY_HASH)
        .map(|(_, v)| v)
}

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let sig = decode_sig(
        SIGNATURE,
        ctx.req.headers.text(SIGNATURE)?,
        SignatureEncoding::Base64,
    )?;
    let url = ctx.url()?;
    let signed = match body_hash_param(url) {
        Some(expected) => {
            let actual = crypto::sha256_hex(ctx.req.body);
            if !crypto::ct_eq(expected.to_ascii_lowercase().as_bytes(), actual.as_bytes()) {
                return Err(VerifyError::BodyHashMismatch);
            }
            url.as_bytes().to_vec()
        }
        None => content(url, &mut ctx.req.form_params()),
    };
    ctx.match_raw(HmacAlgorithm::Sha1, &[&signed], &[sig])
        .map(verified)
}

pub(crate) fn sign(secrets: &[SecretString], input: &SignRequest<'_>) -> Result<Signed, SignError> {
    let url = sign_url(input)?;
    let (url, signed) = match input.form {
        None if !input.body.is_empty() => {
            let sep = if url.contains('?') { '&' } else { '?' };
            let url = format!("{url}{sep}{BODY_HASH}={}", crypto::sha256_hex(input.body));
            let signed = url.as_bytes().to_vec();
            (url, signed)
        }
        form => (
            url.to_owned(),
            content(url, &mut form.unwrap_or_default().to_vec()),
        ),
    };
    let sig = sign_raw(
        secrets,
        HmacAlgorithm::Sha1,
        &[&signed],
        SignatureEncoding::Base64,
    )?;
    Ok(Signed::headers(vec![(SIGNATURE.to_owned(), sig)], &url))
}
