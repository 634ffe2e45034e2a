//! Box webhooks (v2): `BOX-SIGNATURE-PRIMARY` and `BOX-SIGNATURE-SECONDARY`, each a
//! base64 HMAC-SHA256 of the body's bytes followed by the `BOX-DELIVERY-TIMESTAMP`
//! header's bytes (an RFC 3339 time), one per signature key the application has (two
//! keys at once, so they can be rotated).

use secrecy::SecretString;

use super::{Ctx, check_count, decode_sig};
use crate::crypto::{HmacAlgorithm, SignatureEncoding};
use crate::keys::raw_key;
use crate::time::{format_rfc3339, parse_rfc3339};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

const TIMESTAMP: &str = "BOX-DELIVERY-TIMESTAMP";
const PRIMARY: &str = "BOX-SIGNATURE-PRIMARY";
const SECONDARY: &str = "BOX-SIGNATURE-SECONDARY";
const VERSION: &str = "BOX-SIGNATURE-VERSION";
const ALGORITHM: &str = "BOX-SIGNATURE-ALGORITHM";

/// The one version and algorithm Box documents; other values, when present, are refused.
const KNOWN: [(&str, &str); 2] = [(VERSION, "1"), (ALGORITHM, "HmacSHA256")];

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let h = ctx.req.headers;
    for (name, expected) in KNOWN {
        if h.get(name).is_some() {
            let value = h.text(name)?;
            if value != expected {
                return Err(VerifyError::unsupported(name, value));
            }
        }
    }
    // Either header may be absent (an application with only one key configured), not both.
    let mut sigs = Vec::with_capacity(2);
    for name in [PRIMARY, SECONDARY] {
        let values: Vec<&[u8]> = h.get_all(name).collect();
        check_count(name, values.len())?;
        for raw in values {
            let text = std::str::from_utf8(raw)
                .map_err(|_| VerifyError::malformed(name, "not UTF-8"))?
                .trim();
            sigs.push(decode_sig(name, text, SignatureEncoding::Base64)?);
        }
    }
    if sigs.is_empty() {
        return Err(VerifyError::missing(PRIMARY));
    }
    let ts_text = h.text(TIMESTAMP)?;
    let ts = parse_rfc3339(ts_text)
        .ok_or_else(|| VerifyError::malformed(TIMESTAMP, "not an RFC 3339 date-time"))?;
    ctx.check_time(ts)?;
    let secret_index = ctx.match_raw(
        HmacAlgorithm::Sha256,
        &[ctx.req.body, ts_text.as_bytes()],
        &sigs,
    )?;
    Ok(Verified {
        secret_index,
        timestamp: Some(ts),
        id: None,
        key: crate::KeyRole::Webhook,
    })
}

/// Signs with the first secret as the primary key and, when given, the second as the
/// secondary key (more are ignored: Box has two).
pub(crate) fn sign(secrets: &[SecretString], input: &SignRequest<'_>) -> Result<Signed, SignError> {
    let ts = format_rfc3339(input.timestamp).ok_or(SignError::TimestampOutOfRange)?;
    let mut headers = vec![
        (TIMESTAMP.to_owned(), ts.clone()),
        (VERSION.to_owned(), KNOWN[0].1.to_owned()),
        (ALGORITHM.to_owned(), KNOWN[1].1.to_owned()),
    ];
    for (index, (name, secret)) in [PRIMARY, SECONDARY].iter().zip(secrets).enumerate() {
        let key = raw_key(secret).map_err(|reason| SignError::BadSecret { index, reason })?;
        let mac = crate::crypto::hmac(HmacAlgorithm::Sha256, key, &[input.body, ts.as_bytes()]);
        headers.push((
            (*name).to_owned(),
            crate::crypto::encode(SignatureEncoding::Base64, &mac),
        ));
    }
    Ok(Signed::headers(headers, input.url))
}
