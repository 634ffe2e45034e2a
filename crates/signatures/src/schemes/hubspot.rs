//! HubSpot signature v3: base64 HMAC-SHA256 over method + URI + body + timestamp, the
//! timestamp in milliseconds, the URI with a few percent-escapes decoded.

use secrecy::SecretString;

use super::{Ctx, decode_sig, sign_raw, sign_url};
use crate::crypto::{HmacAlgorithm, SignatureEncoding, parse_timestamp};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

const SIGNATURE: &str = "X-HubSpot-Signature-v3";
const TIMESTAMP: &str = "X-HubSpot-Request-Timestamp";

/// Decodes exactly the escapes HubSpot lists (`%3A : %2F / %3F ? %40 @ %21 ! %24 $
/// %27 ' %28 ( %29 ) %2A * %2C , %3B ;`), in either case; everything else stays.
pub(crate) fn decode_uri(uri: &str) -> String {
    let b = uri.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let code = [b[i + 1].to_ascii_uppercase(), b[i + 2].to_ascii_uppercase()];
            let decoded = match &code {
                b"3A" => Some(b':'),
                b"2F" => Some(b'/'),
                b"3F" => Some(b'?'),
                b"40" => Some(b'@'),
                b"21" => Some(b'!'),
                b"24" => Some(b'$'),
                b"27" => Some(b'\''),
                b"28" => Some(b'('),
                b"29" => Some(b')'),
                b"2A" => Some(b'*'),
                b"2C" => Some(b','),
                b"3B" => Some(b';'),
                _ => None,
            };
            if let Some(c) = decoded {
                out.push(c);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    // Only ASCII bytes were replaced by ASCII bytes: still UTF-8.
    String::from_utf8(out).expect("ASCII-for-ASCII replacement keeps UTF-8")
}

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let h = ctx.req.headers;
    let sig = decode_sig(SIGNATURE, h.text(SIGNATURE)?, SignatureEncoding::Base64)?;
    let ts_text = h.text(TIMESTAMP)?;
    let ts_ms = parse_timestamp(TIMESTAMP, ts_text)?;
    ctx.check_time_ms(ts_ms)?;
    let method = ctx.req.method.trim();
    if method.is_empty() {
        return Err(VerifyError::MissingRequestPart { part: "method" });
    }
    let uri = decode_uri(ctx.url()?);
    let parts: [&[u8]; 4] = [
        method.as_bytes(),
        uri.as_bytes(),
        ctx.req.body,
        ts_text.as_bytes(),
    ];
    let secret_index = ctx.match_raw(HmacAlgorithm::Sha256, &parts, &[sig])?;
    Ok(Verified {
        secret_index,
        timestamp: Some(ts_ms.div_euclid(1000)),
        id: None,
        key: crate::KeyRole::Webhook,
    })
}

pub(crate) fn sign(secrets: &[SecretString], input: &SignRequest<'_>) -> Result<Signed, SignError> {
    let uri = decode_uri(sign_url(input)?);
    let method = input.method.trim();
    if method.is_empty() {
        return Err(SignError::MissingInput("method"));
    }
    let ts = input
        .timestamp
        .checked_mul(1000)
        .ok_or(SignError::TimestampOutOfRange)?
        .to_string();
    let parts: [&[u8]; 4] = [method.as_bytes(), uri.as_bytes(), input.body, ts.as_bytes()];
    let sig = sign_raw(
        secrets,
        HmacAlgorithm::Sha256,
        &parts,
        SignatureEncoding::Base64,
    )?;
    Ok(Signed::headers(
        vec![(SIGNATURE.to_owned(), sig), (TIMESTAMP.to_owned(), ts)],
        input.url,
    ))
}
