//! Mailgun: the signature travels in the body, as a JSON `signature` object
//! (`{"signature": {"timestamp", "token", "signature"}, "event-data": …}`) or as form
//! fields; it is the hex HMAC-SHA256 of timestamp + token. Note that it does not cover
//! the rest of the body: the token (unique per webhook) is what to deduplicate on.
//!
//! Events of a subaccount's domains also carry `parent-signature`: the same HMAC keyed by
//! the parent (primary) account's signing key. Either signature may match a configured
//! key, so an operator can configure the subaccount's key, the parent's, or both.

use secrecy::SecretString;

use super::{Ctx, sign_id, sign_raw_all};
use crate::crypto::{self, HmacAlgorithm, SignatureEncoding};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

/// The field carrying the parent account's signature (subaccount events only).
const PARENT: &str = "parent-signature";

struct Fields {
    timestamp: String,
    token: String,
    signature: String,
    /// `parent-signature`, when present.
    parent: Option<String>,
}

fn from_json(body: &[u8]) -> Option<Result<Fields, VerifyError>> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = json.as_object()?;
    let Some(sig) = obj.get("signature") else {
        return Some(Err(VerifyError::MissingField { field: "signature" }));
    };
    let Some(sig) = sig.as_object() else {
        return Some(Err(VerifyError::MalformedField {
            field: "signature",
            reason: "not an object",
        }));
    };
    let text = |field: &'static str| -> Result<String, VerifyError> {
        match sig.get(field) {
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            Some(_) => Err(VerifyError::MalformedField {
                field,
                reason: "not a string",
            }),
            None => Err(VerifyError::MissingField { field }),
        }
    };
    Some((|| {
        Ok(Fields {
            timestamp: text("timestamp")?,
            token: text("token")?,
            signature: text("signature")?,
            parent: match sig.get(PARENT) {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(VerifyError::MalformedField {
                        field: PARENT,
                        reason: "not a string",
                    });
                }
            },
        })
    })())
}

fn from_form(params: &[(String, String)]) -> Result<Fields, VerifyError> {
    let get = |field: &'static str| {
        params
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
            .ok_or(VerifyError::MissingField { field })
    };
    Ok(Fields {
        timestamp: get("timestamp")?,
        token: get("token")?,
        signature: get("signature")?,
        parent: get(PARENT).ok(),
    })
}

/// Decodes a hex signature field; empty or not hex is malformed.
fn hex_field(field: &'static str, value: &str) -> Result<Vec<u8>, VerifyError> {
    Some(value.trim())
        .filter(|s| !s.is_empty())
        .and_then(|s| crypto::decode(SignatureEncoding::Hex, s))
        .ok_or(VerifyError::MalformedField {
            field,
            reason: "not hex",
        })
}

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let fields = match ctx.req.form {
        Some(form) => from_form(form)?,
        None => match from_json(ctx.req.body) {
            Some(fields) => fields?,
            None => from_form(&ctx.req.form_params())?,
        },
    };
    let ts = crypto::parse_timestamp("timestamp", &fields.timestamp).map_err(|_| {
        VerifyError::MalformedField {
            field: "timestamp",
            reason: "not a decimal integer",
        }
    })?;
    let mut sigs = vec![hex_field("signature", &fields.signature)?];
    if let Some(parent) = &fields.parent {
        sigs.push(hex_field(PARENT, parent)?);
    }
    ctx.check_time(ts)?;
    let parts: [&[u8]; 2] = [fields.timestamp.trim().as_bytes(), fields.token.as_bytes()];
    // Each secret is compared with both signatures, in constant time, so a key matches
    // whether it is the subaccount's or the parent's.
    let secret_index = ctx.match_raw(HmacAlgorithm::Sha256, &parts, &sigs)?;
    Ok(Verified {
        secret_index,
        timestamp: Some(ts),
        id: Some(fields.token),
        key: crate::KeyRole::Webhook,
    })
}

/// Signs with the first secret (the account's key); a second secret, when given, is the
/// parent account's key and makes `parent-signature`, as for a subaccount's event.
pub(crate) fn sign(secrets: &[SecretString], input: &SignRequest<'_>) -> Result<Signed, SignError> {
    let token = sign_id(input)?;
    let ts = input.timestamp.to_string();
    let parts: [&[u8]; 2] = [ts.as_bytes(), token.as_bytes()];
    let keys = &secrets[..secrets.len().min(2)];
    let mut sigs = sign_raw_all(keys, HmacAlgorithm::Sha256, &parts, SignatureEncoding::Hex)?;
    let parent = (sigs.len() > 1).then(|| sigs.remove(1));
    let mut signed = Signed::headers(Vec::new(), input.url);
    signed.body_fields = vec![
        ("timestamp".to_owned(), ts),
        ("token".to_owned(), token.to_owned()),
        ("signature".to_owned(), sigs.remove(0)),
    ];
    if let Some(parent) = parent {
        signed.body_fields.push((PARENT.to_owned(), parent));
    }
    Ok(signed)
}
