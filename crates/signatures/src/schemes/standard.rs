//! Standard Webhooks and Svix: `{id}.{timestamp}.{body}`, HMAC-SHA256 (`v1`) or Ed25519
//! (`v1a`), several space-separated signatures in one header.

use ed25519_dalek::{Signature, Signer as _, VerifyingKey};
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::{Ctx, check_count, sign_id};
use crate::crypto::{self, HmacAlgorithm, parse_timestamp};
use crate::keys::{KeyFault, StdKey, std_key};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

/// Header names of one flavour; `fallback` is tried when the first set is absent.
pub(crate) struct Names {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
    fallback: Option<&'static Names>,
}

pub(crate) const STANDARD: &Names = &Names {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
    fallback: None,
};

pub(crate) const SVIX: &Names = &Names {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
    fallback: Some(STANDARD),
};

/// The keys, sorted by the signature version they check.
struct Keys {
    hmac: Vec<(usize, Zeroizing<Vec<u8>>)>,
    ed25519: Vec<(usize, VerifyingKey)>,
}

fn read_keys(secrets: &[SecretString]) -> Result<Keys, VerifyError> {
    let mut keys = Keys {
        hmac: Vec::new(),
        ed25519: Vec::new(),
    };
    for (index, s) in secrets.iter().enumerate() {
        match std_key(s) {
            Ok(StdKey::Hmac(k)) => keys.hmac.push((index, k)),
            Ok(StdKey::Public(k)) => keys.ed25519.push((index, k)),
            Ok(StdKey::Secret(k)) => keys.ed25519.push((index, k.verifying_key())),
            Err(KeyFault::Secret(reason)) => return Err(VerifyError::BadSecret { index, reason }),
            Err(KeyFault::Public(reason)) => {
                return Err(VerifyError::BadPublicKey { index, reason });
            }
        }
    }
    Ok(keys)
}

pub(crate) fn verify(names: &'static Names, ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let h = ctx.req.headers;
    let names = match names.fallback {
        Some(fb) if h.get(names.id).is_none() && h.get(fb.id).is_some() => fb,
        _ => names,
    };
    let id = h.text(names.id)?;
    let ts_text = h.text(names.timestamp)?;
    let sig_header = h.text(names.signature)?;
    let ts = parse_timestamp(names.timestamp, ts_text)?;
    ctx.check_time(ts)?;

    // Parse every `version,signature` token; unknown versions are ignored (forward
    // compatibility), undecodable ones counted.
    let tokens: Vec<&str> = sig_header.split_ascii_whitespace().collect();
    check_count(names.signature, tokens.len())?;
    let (mut v1, mut v1a) = (Vec::new(), Vec::new());
    let (mut malformed, mut unknown) = (0usize, None);
    for token in tokens {
        let Some((version, sig)) = token.split_once(',') else {
            malformed += 1;
            continue;
        };
        match (
            version,
            crypto::decode(crypto::SignatureEncoding::Base64, sig),
        ) {
            ("v1", Some(bytes)) => v1.push(bytes),
            ("v1a", Some(bytes)) => match <[u8; 64]>::try_from(bytes.as_slice()) {
                Ok(arr) => v1a.push(Signature::from_bytes(&arr)),
                Err(_) => malformed += 1,
            },
            ("v1" | "v1a", None) => malformed += 1,
            (other, _) => unknown = unknown.or(Some(other)),
        }
    }
    if v1.is_empty() && v1a.is_empty() {
        // The header is not empty, so every token was either unreadable or of another version.
        return Err(match unknown {
            Some(v) if malformed == 0 => VerifyError::unsupported(names.signature, v),
            _ => VerifyError::malformed(names.signature, "no readable v1 or v1a signature"),
        });
    }

    let keys = read_keys(ctx.secrets)?;
    let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts_text.as_bytes(), b".", ctx.req.body];
    let mut found = None;
    if !v1.is_empty() {
        found = keys
            .hmac
            .iter()
            .find(|(_, k)| crypto::find_match(&crypto::hmac(HmacAlgorithm::Sha256, k, &parts), &v1))
            .map(|(i, _)| *i);
    }
    if found.is_none() && !v1a.is_empty() && !keys.ed25519.is_empty() {
        let message = parts.concat();
        found = keys
            .ed25519
            .iter()
            .find(|(_, k)| v1a.iter().any(|s| k.verify_strict(&message, s).is_ok()))
            .map(|(i, _)| *i);
    }
    match found {
        Some(secret_index) => Ok(Verified {
            secret_index,
            timestamp: Some(ts),
            id: Some(id.to_owned()),
            key: crate::KeyRole::Webhook,
        }),
        None if keys.hmac.is_empty() && v1a.is_empty() => {
            Err(VerifyError::NoKeyForVersion { version: "v1" })
        }
        None if keys.ed25519.is_empty() && v1.is_empty() => {
            Err(VerifyError::NoKeyForVersion { version: "v1a" })
        }
        None => Err(VerifyError::NoMatch {
            signatures: v1.len() + v1a.len(),
            secrets: ctx.secrets.len(),
        }),
    }
}

pub(crate) fn sign(
    names: &Names,
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let id = sign_id(input)?;
    let ts = input.timestamp.to_string();
    let parts: [&[u8]; 5] = [id.as_bytes(), b".", ts.as_bytes(), b".", input.body];
    let mut sigs = Vec::with_capacity(secrets.len());
    for (index, s) in secrets.iter().enumerate() {
        let sig = match std_key(s) {
            Ok(StdKey::Hmac(k)) => {
                format!(
                    "v1,{}",
                    crypto::encode_base64(&crypto::hmac(HmacAlgorithm::Sha256, &k, &parts))
                )
            }
            Ok(StdKey::Secret(k)) => format!(
                "v1a,{}",
                crypto::encode_base64(&k.sign(&parts.concat()).to_bytes())
            ),
            Ok(StdKey::Public(_)) => {
                return Err(SignError::BadSecret {
                    index,
                    reason: "a public key (whpk_) cannot sign",
                });
            }
            Err(KeyFault::Secret(reason) | KeyFault::Public(reason)) => {
                return Err(SignError::BadSecret { index, reason });
            }
        };
        sigs.push(sig);
    }
    Ok(Signed::headers(
        vec![
            (names.id.to_owned(), id.to_owned()),
            (names.timestamp.to_owned(), ts),
            (names.signature.to_owned(), sigs.join(" ")),
        ],
        input.url,
    ))
}
