//! One HMAC over the body (Square: over URL + body; Trello: over body + URL) in one
//! header: GitHub, Intercom, Shopify, Typeform, Linear, Square, Trello, DocuSign.

use secrecy::SecretString;

use super::{Ctx, decode_sig, prefixed_sig, sign_raw, sign_raw_all, sign_url, verified};
use crate::crypto::{HmacAlgorithm, SignatureEncoding};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

pub(crate) struct Format {
    header: &'static str,
    prefix: &'static str,
    alg: HmacAlgorithm,
    enc: SignatureEncoding,
}

pub(crate) const GITHUB_256: Format = Format {
    header: "X-Hub-Signature-256",
    prefix: "sha256=",
    alg: HmacAlgorithm::Sha256,
    enc: SignatureEncoding::Hex,
};

/// GitHub's legacy header; Intercom's only one.
pub(crate) const INTERCOM: Format = Format {
    header: "X-Hub-Signature",
    prefix: "sha1=",
    alg: HmacAlgorithm::Sha1,
    enc: SignatureEncoding::Hex,
};

/// The header of Atlassian's admin webhooks registered with a secret.
pub(crate) const ATLASSIAN_ADMIN_HEADER: &str = "X-Hub-Signature";

/// Atlassian's admin webhooks registered with a secret (WebSub's `method=signature`).
pub(crate) const ATLASSIAN_ADMIN: Format = Format {
    header: ATLASSIAN_ADMIN_HEADER,
    prefix: "sha256=",
    alg: HmacAlgorithm::Sha256,
    enc: SignatureEncoding::Hex,
};

pub(crate) const SHOPIFY: Format = Format {
    header: "X-Shopify-Hmac-Sha256",
    prefix: "",
    alg: HmacAlgorithm::Sha256,
    enc: SignatureEncoding::Base64,
};

/// The same signature under the header name without `X-`, which Shopify documents for
/// newer deliveries.
const SHOPIFY_UNPREFIXED: Format = Format {
    header: "Shopify-Hmac-Sha256",
    prefix: "",
    alg: HmacAlgorithm::Sha256,
    enc: SignatureEncoding::Base64,
};

pub(crate) const TYPEFORM: Format = Format {
    header: "Typeform-Signature",
    prefix: "sha256=",
    alg: HmacAlgorithm::Sha256,
    enc: SignatureEncoding::Base64,
};

pub(crate) const LINEAR: Format = Format {
    header: "Linear-Signature",
    prefix: "",
    alg: HmacAlgorithm::Sha256,
    enc: SignatureEncoding::Hex,
};

const SQUARE: Format = Format {
    header: "x-square-hmacsha256-signature",
    prefix: "",
    alg: HmacAlgorithm::Sha256,
    enc: SignatureEncoding::Base64,
};

const TRELLO: Format = Format {
    header: "X-Trello-Webhook",
    prefix: "",
    alg: HmacAlgorithm::Sha1,
    enc: SignatureEncoding::Base64,
};

const DOCUSIGN_PREFIX: &str = "X-DocuSign-Signature-";

/// Most `X-DocuSign-Signature-N` headers read: DocuSign Connect allows up to 100 HMAC keys
/// per account and sends one header per key. More is refused, not checked.
const DOCUSIGN_MAX_SIGNATURES: usize = 100;

/// Longest signature value read (base64 of a 64-byte MAC is 88 characters); a longer one
/// cannot be a signature and is refused before it is decoded, so what one request makes
/// this scheme keep is bounded (100 × 96 bytes).
const DOCUSIGN_MAX_VALUE_LEN: usize = 128;

fn check(f: &Format, ctx: &Ctx<'_>, parts: &[&[u8]]) -> Result<usize, VerifyError> {
    let value = ctx.req.headers.text(f.header)?;
    let sig = prefixed_sig(f.header, value, f.prefix, f.enc)?;
    ctx.match_raw(f.alg, parts, &[sig])
}

pub(crate) fn verify(f: &Format, ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    check(f, ctx, &[ctx.req.body]).map(verified)
}

pub(crate) fn sign(
    f: &Format,
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let sig = sign_raw(secrets, f.alg, &[input.body], f.enc)?;
    Ok(Signed::headers(
        vec![(f.header.to_owned(), format!("{}{sig}", f.prefix))],
        input.url,
    ))
}

/// `X-Hub-Signature-256` when present, else the legacy SHA-1 `X-Hub-Signature`.
pub(crate) fn verify_github(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let h = ctx.req.headers;
    if h.get(GITHUB_256.header).is_none() && h.get(INTERCOM.header).is_some() {
        return verify(&INTERCOM, ctx);
    }
    verify(&GITHUB_256, ctx)
}

/// Both headers, as GitHub sends them.
pub(crate) fn sign_github(
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let mut signed = sign(&GITHUB_256, secrets, input)?;
    signed
        .headers
        .extend(sign(&INTERCOM, secrets, input)?.headers);
    Ok(signed)
}

/// `X-Shopify-Hmac-Sha256` when present, else `Shopify-Hmac-Sha256`.
pub(crate) fn verify_shopify(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let h = ctx.req.headers;
    if h.get(SHOPIFY.header).is_none() && h.get(SHOPIFY_UNPREFIXED.header).is_some() {
        return verify(&SHOPIFY_UNPREFIXED, ctx);
    }
    verify(&SHOPIFY, ctx)
}

/// Square signs the notification URL followed by the body.
pub(crate) fn verify_square(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let url = ctx.url()?;
    check(&SQUARE, ctx, &[url.as_bytes(), ctx.req.body]).map(verified)
}

pub(crate) fn sign_square(
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let url = sign_url(input)?;
    let sig = sign_raw(
        secrets,
        SQUARE.alg,
        &[url.as_bytes(), input.body],
        SQUARE.enc,
    )?;
    Ok(Signed::headers(
        vec![(SQUARE.header.to_owned(), sig)],
        input.url,
    ))
}

/// Trello signs the body followed by the callback URL the webhook was created with.
pub(crate) fn verify_trello(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let url = ctx.url()?;
    check(&TRELLO, ctx, &[ctx.req.body, url.as_bytes()]).map(verified)
}

pub(crate) fn sign_trello(
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let url = sign_url(input)?;
    let sig = sign_raw(
        secrets,
        TRELLO.alg,
        &[input.body, url.as_bytes()],
        TRELLO.enc,
    )?;
    Ok(Signed::headers(
        vec![(TRELLO.header.to_owned(), sig)],
        input.url,
    ))
}

/// Linear: the signature, then `webhookTimestamp` (milliseconds) from the signed body.
pub(crate) fn verify_linear(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let secret_index = check(&LINEAR, ctx, &[ctx.req.body])?;
    const FIELD: &str = "webhookTimestamp";
    let json: serde_json::Value =
        serde_json::from_slice(ctx.req.body).map_err(|_| VerifyError::MalformedField {
            field: FIELD,
            reason: "the body is not JSON",
        })?;
    let ts_ms = json
        .get(FIELD)
        .ok_or(VerifyError::MissingField { field: FIELD })?
        .as_i64()
        .filter(|ms| *ms >= 0)
        .ok_or(VerifyError::MalformedField {
            field: FIELD,
            reason: "not a number of milliseconds",
        })?;
    ctx.check_time_ms(ts_ms)?;
    Ok(Verified {
        secret_index,
        timestamp: Some(ts_ms.div_euclid(1000)),
        id: None,
        key: crate::KeyRole::Webhook,
    })
}

/// DocuSign sends one `X-DocuSign-Signature-N` header per active key (at most 100).
pub(crate) fn verify_docusign(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let mut sigs = Vec::new();
    for (name, value) in ctx.req.headers.iter() {
        let Some(n) = name
            .strip_prefix("x-docusign-signature-")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        if sigs.len() == DOCUSIGN_MAX_SIGNATURES {
            return Err(VerifyError::TooManySignatures {
                header: DOCUSIGN_PREFIX.to_owned(),
                max: DOCUSIGN_MAX_SIGNATURES,
            });
        }
        let header = || format!("{DOCUSIGN_PREFIX}{n}");
        let text = std::str::from_utf8(value)
            .map_err(|_| VerifyError::malformed(&header(), "not UTF-8"))?
            .trim();
        if text.len() > DOCUSIGN_MAX_VALUE_LEN {
            return Err(VerifyError::malformed(&header(), "signature is too long"));
        }
        sigs.push(decode_sig(&header(), text, SignatureEncoding::Base64)?);
    }
    if sigs.is_empty() {
        return Err(VerifyError::missing("X-DocuSign-Signature-1"));
    }
    ctx.match_raw(HmacAlgorithm::Sha256, &[ctx.req.body], &sigs)
        .map(verified)
}

pub(crate) fn sign_docusign(
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let sigs = sign_raw_all(
        secrets,
        HmacAlgorithm::Sha256,
        &[input.body],
        SignatureEncoding::Base64,
    )?;
    let headers = sigs
        .into_iter()
        .enumerate()
        .map(|(i, s)| (format!("{DOCUSIGN_PREFIX}{}", i + 1), s))
        .collect();
    Ok(Signed::headers(headers, input.url))
}
