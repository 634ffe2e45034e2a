//! A timestamp header next to a prefixed hex signature header: Slack and Zoom
//! (`v0:{ts}:{body}`), Twitch EventSub (`{id}{ts}{body}`, RFC 3339 timestamps),
//! Webflow (`{ts}:{body}`, millisecond timestamps, no prefix), Zendesk (`{ts}{body}`,
//! RFC 3339 timestamps, base64, no prefix).

use secrecy::SecretString;

use super::{Ctx, prefixed_sig, sign_id, sign_raw};
use crate::crypto::{HmacAlgorithm, SignatureEncoding, parse_timestamp};
use crate::time::{format_rfc3339, parse_rfc3339};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

pub(crate) struct Format {
    timestamp_header: &'static str,
    signature_header: &'static str,
    /// Twitch: the message id header, signed before the timestamp.
    id_header: Option<&'static str>,
    prefix: &'static str,
    /// How the signature is written (hex everywhere but Zendesk).
    encoding: SignatureEncoding,
    /// RFC 3339 timestamps instead of Unix seconds.
    rfc3339: bool,
    /// Unix milliseconds instead of seconds (Webflow).
    millis: bool,
    /// What is signed.
    content: Content,
}

/// The signed content of a stamped scheme.
#[derive(Clone, Copy)]
enum Content {
    /// `v0:{ts}:{body}` (Slack, Zoom).
    V0,
    /// `{id}{ts}{body}` (Twitch).
    IdTimestampBody,
    /// `{ts}:{body}` (Webflow).
    TimestampColonBody,
    /// `{ts}{body}` (Zendesk).
    TimestampBody,
}

pub(crate) const SLACK: Format = Format {
    timestamp_header: "X-Slack-Request-Timestamp",
    signature_header: "X-Slack-Signature",
    id_header: None,
    prefix: "v0=",
    encoding: SignatureEncoding::Hex,
    rfc3339: false,
    millis: false,
    content: Content::V0,
};

pub(crate) const ZOOM: Format = Format {
    timestamp_header: "x-zm-request-timestamp",
    signature_header: "x-zm-signature",
    id_header: None,
    prefix: "v0=",
    encoding: SignatureEncoding::Hex,
    rfc3339: false,
    millis: false,
    content: Content::V0,
};

pub(crate) const TWITCH: Format = Format {
    timestamp_header: "Twitch-Eventsub-Message-Timestamp",
    signature_header: "Twitch-Eventsub-Message-Signature",
    id_header: Some("Twitch-Eventsub-Message-Id"),
    prefix: "sha256=",
    encoding: SignatureEncoding::Hex,
    rfc3339: true,
    millis: false,
    content: Content::IdTimestampBody,
};

pub(crate) const WEBFLOW: Format = Format {
    timestamp_header: "x-webflow-timestamp",
    signature_header: "x-webflow-signature",
    id_header: None,
    prefix: "",
    encoding: SignatureEncoding::Hex,
    rfc3339: false,
    millis: true,
    content: Content::TimestampColonBody,
};

pub(crate) const ZENDESK: Format = Format {
    timestamp_header: "X-Zendesk-Webhook-Signature-Timestamp",
    signature_header: "X-Zendesk-Webhook-Signature",
    id_header: None,
    prefix: "",
    encoding: SignatureEncoding::Base64,
    rfc3339: true,
    millis: false,
    content: Content::TimestampBody,
};

/// The signed content, by the format's [`Content`].
fn parts<'a>(content: Content, id: Option<&'a str>, ts: &'a str, body: &'a [u8]) -> Vec<&'a [u8]> {
    match (content, id) {
        (Content::IdTimestampBody, Some(id)) => vec![id.as_bytes(), ts.as_bytes(), body],
        (Content::TimestampColonBody, _) => vec![ts.as_bytes(), b":", body],
        (Content::TimestampBody, _) => vec![ts.as_bytes(), body],
        (Content::V0 | Content::IdTimestampBody, _) => vec![b"v0:", ts.as_bytes(), b":", body],
    }
}

pub(crate) fn verify(f: &Format, ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let h = ctx.req.headers;
    let id = f.id_header.map(|name| h.text(name)).transpose()?;
    let ts_text = h.text(f.timestamp_header)?;
    let sig = prefixed_sig(
        f.signature_header,
        h.text(f.signature_header)?,
        f.prefix,
        f.encoding,
    )?;
    let ts = if f.rfc3339 {
        parse_rfc3339(ts_text).ok_or_else(|| {
            VerifyError::malformed(f.timestamp_header, "not an RFC 3339 date-time")
        })?
    } else {
        parse_timestamp(f.timestamp_header, ts_text)?
    };
    let ts = if f.millis {
        ctx.check_time_ms(ts)?;
        ts.div_euclid(1000)
    } else {
        ctx.check_time(ts)?;
        ts
    };
    let secret_index = ctx.match_raw(
        HmacAlgorithm::Sha256,
        &parts(f.content, id, ts_text, ctx.req.body),
        &[sig],
    )?;
    Ok(Verified {
        secret_index,
        timestamp: Some(ts),
        id: id.map(str::to_owned),
        key: crate::KeyRole::Webhook,
    })
}

pub(crate) fn sign(
    f: &Format,
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let id = f.id_header.map(|_| sign_id(input)).transpose()?;
    let ts = if f.rfc3339 {
        format_rfc3339(input.timestamp).ok_or(SignError::TimestampOutOfRange)?
    } else if f.millis {
        input
            .timestamp
            .checked_mul(1000)
            .ok_or(SignError::TimestampOutOfRange)?
            .to_string()
    } else {
        input.timestamp.to_string()
    };
    let sig = sign_raw(
        secrets,
        HmacAlgorithm::Sha256,
        &parts(f.content, id, &ts, input.body),
        f.encoding,
    )?;
    let mut headers = Vec::new();
    if let (Some(name), Some(id)) = (f.id_header, id) {
        headers.push((name.to_owned(), id.to_owned()));
    }
    headers.push((f.timestamp_header.to_owned(), ts));
    headers.push((f.signature_header.to_owned(), format!("{}{sig}", f.prefix)));
    Ok(Signed::headers(headers, input.url))
}
