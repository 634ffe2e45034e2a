//! One header holding a timestamp and a list of hex signatures: Stripe
//! (`t=…,v1=…`), Calendly (`t=…,v1=…`), Paddle Billing (`ts=…;h1=…`), WorkOS
//! (`t=<milliseconds>, v1=…`), Buildkite (`timestamp=…,signature=…`), TikTok
//! (`t=…,s=…`).

use secrecy::SecretString;

use super::{Ctx, check_count, decode_sig, sign_raw, sign_raw_all};
use crate::crypto::{HmacAlgorithm, SignatureEncoding, parse_timestamp};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

pub(crate) struct Format {
    header: &'static str,
    /// Between the elements.
    separator: char,
    /// Between the elements when signing (WorkOS puts a space after the comma).
    sign_separator: &'static str,
    timestamp_key: &'static str,
    signature_key: &'static str,
    /// Between the timestamp and the body in the signed content.
    joiner: &'static [u8],
    /// Whether signing with several secrets puts several signatures in the header.
    multi: bool,
    /// The timestamp is in milliseconds (WorkOS) rather than seconds.
    millis: bool,
}

pub(crate) const STRIPE: Format = Format {
    header: "Stripe-Signature",
    separator: ',',
    sign_separator: ",",
    timestamp_key: "t",
    signature_key: "v1",
    joiner: b".",
    multi: true,
    millis: false,
};

pub(crate) const CALENDLY: Format = Format {
    header: "Calendly-Webhook-Signature",
    separator: ',',
    sign_separator: ",",
    timestamp_key: "t",
    signature_key: "v1",
    joiner: b".",
    multi: false,
    millis: false,
};

pub(crate) const PADDLE: Format = Format {
    header: "Paddle-Signature",
    separator: ';',
    sign_separator: ";",
    timestamp_key: "ts",
    signature_key: "h1",
    joiner: b":",
    multi: true,
    millis: false,
};

pub(crate) const WORKOS: Format = Format {
    header: "WorkOS-Signature",
    separator: ',',
    sign_separator: ", ",
    timestamp_key: "t",
    signature_key: "v1",
    joiner: b".",
    multi: false,
    millis: true,
};

pub(crate) const BUILDKITE: Format = Format {
    header: "X-Buildkite-Signature",
    separator: ',',
    sign_separator: ",",
    timestamp_key: "timestamp",
    signature_key: "signature",
    joiner: b".",
    multi: false,
    millis: false,
};

pub(crate) const TIKTOK: Format = Format {
    header: "TikTok-Signature",
    separator: ',',
    sign_separator: ",",
    timestamp_key: "t",
    signature_key: "s",
    joiner: b".",
    multi: false,
    millis: false,
};

pub(crate) fn verify(f: &Format, ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let value = ctx.req.headers.text(f.header)?;
    let elements: Vec<&str> = value.split(f.separator).map(str::trim).collect();
    check_count(f.header, elements.len())?;
    let mut ts_text = None;
    let mut sigs = Vec::new();
    let mut other = None;
    for element in elements {
        let Some((key, val)) = element.split_once('=') else {
            return Err(VerifyError::malformed(
                f.header,
                "an element is not key=value",
            ));
        };
        if key == f.timestamp_key {
            if ts_text.replace(val).is_some() {
                return Err(VerifyError::malformed(f.header, "more than one timestamp"));
            }
        } else if key == f.signature_key {
            sigs.push(decode_sig(f.header, val, SignatureEncoding::Hex)?);
        } else {
            // Other schemes (Stripe's test-mode `v0`) are ignored.
            other = other.or(Some(key));
        }
    }
    let ts_text = ts_text.ok_or_else(|| VerifyError::malformed(f.header, "no timestamp"))?;
    let ts = parse_timestamp(f.header, ts_text)?;
    if sigs.is_empty() {
        return Err(match other {
            Some(k) => VerifyError::unsupported(f.header, k),
            None => VerifyError::NoSignatures {
                header: f.header.to_owned(),
            },
        });
    }
    let seconds = if f.millis {
        ctx.check_time_ms(ts)?;
        ts.div_euclid(1000)
    } else {
        ctx.check_time(ts)?;
        ts
    };
    let parts: [&[u8]; 3] = [ts_text.as_bytes(), f.joiner, ctx.req.body];
    let secret_index = ctx.match_raw(HmacAlgorithm::Sha256, &parts, &sigs)?;
    Ok(Verified {
        secret_index,
        timestamp: Some(seconds),
        id: None,
        key: crate::KeyRole::Webhook,
    })
}

pub(crate) fn sign(
    f: &Format,
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let ts = if f.millis {
        input
            .timestamp
            .checked_mul(1000)
            .ok_or(SignError::TimestampOutOfRange)?
            .to_string()
    } else {
        input.timestamp.to_string()
    };
    let parts: [&[u8]; 3] = [ts.as_bytes(), f.joiner, input.body];
    let sigs = if f.multi {
        sign_raw_all(
            secrets,
            HmacAlgorithm::Sha256,
            &parts,
            SignatureEncoding::Hex,
        )?
    } else {
        vec![sign_raw(
            secrets,
            HmacAlgorithm::Sha256,
            &parts,
            SignatureEncoding::Hex,
        )?]
    };
    let sep = f.sign_separator;
    let mut elements = vec![format!("{}={ts}", f.timestamp_key)];
    elements.extend(sigs.iter().map(|s| format!("{}={s}", f.signature_key)));
    Ok(Signed::headers(
        vec![(f.header.to_owned(), elements.join(sep))],
        input.url,
    ))
}
