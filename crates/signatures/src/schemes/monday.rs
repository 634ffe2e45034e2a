//! monday.com: every request an app receives carries `Authorization: <JWT>`, signed HS256
//! with the app's signing secret (board webhooks) or client secret (app lifecycle
//! webhooks). The token does not cover the body: it proves the sender holds the secret,
//! and its `exp` and `iat` bound how long a captured one can be replayed. The token is
//! checked with `jsonwebtoken`; the times are checked here against the caller's clock
//! (the crate reads none).

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::SecretString;
use serde::Deserialize;

use super::Ctx;
use crate::keys::raw_key;
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

const AUTHORIZATION: &str = "Authorization";

/// How long a token made by [`sign`] is valid (monday's documented example token has
/// `exp` 300 s after `iat`).
const LIFETIME_SECS: i64 = 300;

/// Longest token read; monday's are a few hundred bytes (the short-lived API token
/// inside them included).
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims checked here; the others (`accountId`, `userId`, `aud`,
/// `shortLivedToken`) are left to the application.
#[derive(Deserialize)]
struct Times {
    exp: Option<i64>,
    iat: Option<i64>,
}

fn token<'a>(ctx: &Ctx<'a>) -> Result<&'a str, VerifyError> {
    let value = ctx.req.headers.text(AUTHORIZATION)?;
    let token = value.strip_prefix("Bearer ").unwrap_or(value).trim();
    if token.is_empty() {
        return Err(VerifyError::NoSignatures {
            header: AUTHORIZATION.to_owned(),
        });
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::malformed(AUTHORIZATION, "token is too long"));
    }
    Ok(token)
}

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let token = token(ctx)?;
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| VerifyError::malformed(AUTHORIZATION, "not a JWT"))?;
    if header.alg != Algorithm::HS256 {
        return Err(VerifyError::unsupported(
            AUTHORIZATION,
            &format!("{:?}", header.alg),
        ));
    }
    // Only the signature is checked by the library: its time checks read the system
    // clock, so they are done below with the caller's.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    for (index, secret) in ctx.secrets.iter().enumerate() {
        let key = raw_key(secret).map_err(|reason| VerifyError::BadSecret { index, reason })?;
        match jsonwebtoken::decode::<Times>(token, &DecodingKey::from_secret(key), &validation) {
            Ok(data) => {
                let Times { exp, iat } = data.claims;
                if let Some(exp) = exp
                    && ctx.now > exp
                {
                    return Err(VerifyError::TokenExpired {
                        expired_secs: ctx.now.saturating_sub(exp),
                    });
                }
                if let Some(iat) = iat {
                    ctx.check_time(iat)?;
                }
                return Ok(Verified {
                    secret_index: index,
                    timestamp: iat,
                    id: None,
                });
            }
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
            Err(_) => {
                return Err(VerifyError::malformed(
                    AUTHORIZATION,
                    "the token's exp or iat is not a whole number of seconds",
                ));
            }
        }
    }
    Err(VerifyError::NoMatch {
        signatures: 1,
        secrets: ctx.secrets.len(),
    })
}

/// A token as monday would send it: `iat` the timestamp, `exp` 300 s later, `aud` the
/// URL when one is given; signed with the first secret.
pub(crate) fn sign(secrets: &[SecretString], input: &SignRequest<'_>) -> Result<Signed, SignError> {
    let key = raw_key(&secrets[0]).map_err(|reason| SignError::BadSecret { index: 0, reason })?;
    let exp = input
        .timestamp
        .checked_add(LIFETIME_SECS)
        .ok_or(SignError::TimestampOutOfRange)?;
    let mut claims = serde_json::json!({ "iat": input.timestamp, "exp": exp });
    if !input.url.trim().is_empty() {
        claims["aud"] = input.url.trim().into();
    }
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .map_err(|_| SignError::BadSecret {
        index: 0,
        reason: "cannot sign HS256 with it",
    })?;
    Ok(Signed::headers(
        vec![(AUTHORIZATION.to_owned(), token)],
        input.url,
    ))
}
