//! Mailgun: the signature travels in the body, as a JSON `signature` object
//! (`{"signature": {"timestamp", "token", "signature"}, "event-data": …}`) or as form
//! fields; it is the hex HMAC-SHA256 of timestamp + token. Note that it does not cover
//! the rest of the body: the token (unique per webhook) is what to deduplicate on.

use secrecy::SecretString;

use super::{Ctx, sign_id, sign_raw};
use crate::crypto::{self, HmacAlgorithm, SignatureEncoding};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

struct Fields {
    timestamp: String,
    token: String,
    signature: String,
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
    let sig = Some(fields.signature.trim())
        .filter(|s| !s.is_empty())
        .and_then(|s| crypto::decode(SignatureEncoding::Hex, s))
        .ok_or(VerifyError::MalformedField {
            field: "signature",
            reason: "not hex",
        })?;
    ctx.check_time(ts)?;
    let parts: [&[u8]; 2] = [fields.timestamp.trim().as_bytes(), fields.token.as_bytes()];
    let secret_index = ctx.match_raw(HmacAlgorithm::Sha256, &parts, &[sig])?;
    Ok(Verified {
        secret_index,
        timestamp: Some(ts),
        id: Some(fields.token),
    })
}

pub(crate) fn sign(secrets: &[SecretString], input: &SignRequest<'_>) -> Result<Signed, SignError> {
    let token = sign_id(input)?;
    let ts = input.timestamp.to_string();
    let sig = sign_raw(
        secrets,
        HmacAlgorithm::Sha256,
        &[ts.as_bytes(), token.as_bytes()],
        SignatureEncoding::Hex,
    )?;
    let mut signed = Signed::headers(Vec::new(), input.url);
    signed.body_fields = vec![
        ("timestamp".to_owned(), ts),
        ("token".to_owned(), token.to_owned()),
        ("signature".to_owned(), sig),
    ];
    Ok(signed)
}
