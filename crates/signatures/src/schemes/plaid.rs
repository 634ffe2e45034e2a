//! Plaid: `Plaid-Verification` is a JWT signed with ES256 (the only algorithm taken), its
//! header's `kid` names the key that `/webhook_verification_key/get` hands out, its `iat`
//! must be at most 5 minutes old and its `request_body_sha256` is the hex SHA-256 of the
//! body (compared in constant time). `jsonwebtoken`'s own time checks read the system
//! clock, so they are off; `iat` is checked here against the caller's time.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::crypto::{ct_eq, sha256_hex};
use crate::fetched::{KeyError, KeyKind, KeyRequest, ProviderKey};
use crate::{Request, Verified, VerifyError};

pub(crate) const HEADER: &str = "Plaid-Verification";

/// Longest token read; Plaid's are well under 1 KiB.
const MAX_TOKEN_LEN: usize = 4 * 1024;
/// Longest `kid` taken (Plaid's are UUIDs).
const MAX_KID_LEN: usize = 128;

/// A `kid` worth asking the key endpoint for: short, and only characters a key id has.
fn plausible_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn token<'a>(req: &Request<'a>) -> Result<&'a str, VerifyError> {
    let token = req.headers.text(HEADER)?;
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::malformed(HEADER, "token is too long"));
    }
    Ok(token)
}

/// The token's header: ES256 with a plausible `kid`, else refused before any fetch.
fn header(token: &str) -> Result<(Algorithm, String), VerifyError> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| VerifyError::malformed(HEADER, "not a JWT"))?;
    if header.alg != Algorithm::ES256 {
        return Err(VerifyError::unsupported(HEADER, alg_name(header.alg)));
    }
    let kid = header
        .kid
        .ok_or_else(|| VerifyError::malformed(HEADER, "the token has no kid"))?;
    if !plausible_kid(&kid) {
        return Err(VerifyError::malformed(
            HEADER,
            "the token's kid is not a key id",
        ));
    }
    Ok((header.alg, kid))
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        _ => "other",
    }
}

pub(crate) fn key_request(req: &Request<'_>) -> Result<KeyRequest, VerifyError> {
    let (_, kid) = header(token(req)?)?;
    Ok(KeyRequest::KeyId(kid))
}

#[derive(Deserialize)]
struct Claims {
    iat: Option<i64>,
    request_body_sha256: Option<String>,
}

pub(crate) fn verify(
    req: &Request<'_>,
    key: &ProviderKey,
    now: i64,
    tolerance: Option<u64>,
) -> Result<Verified, VerifyError> {
    let token = token(req)?;
    let (alg, kid) = header(token)?;
    if key.kid.as_deref().is_some_and(|k| k != kid) {
        return Err(VerifyError::NoMatch {
            signatures: 1,
            secrets: 1,
        });
    }
    let KeyKind::P256 { x, y } = &key.kind else {
        return Err(VerifyError::KeyNotFetched);
    };
    let decoding =
        DecodingKey::from_ec_components(x, y).map_err(|_| VerifyError::BadPublicKey {
            index: 0,
            reason: "the provider's key is not a P-256 point",
        })?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = match jsonwebtoken::decode::<Claims>(token, &decoding, &validation) {
        Ok(data) => data.claims,
        Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
            return Err(VerifyError::NoMatch {
                signatures: 1,
                secrets: 1,
            });
        }
        Err(_) => {
            return Err(VerifyError::malformed(
                HEADER,
                "the token's claims are not readable (iat must be whole seconds)",
            ));
        }
    };
    let Some(iat) = claims.iat else {
        return Err(VerifyError::malformed(HEADER, "the token has no iat claim"));
    };
    let Some(claim) = claims.request_body_sha256 else {
        return Err(VerifyError::malformed(
            HEADER,
            "the token has no request_body_sha256 claim",
        ));
    };
    if !ct_eq(
        claim.to_ascii_lowercase().as_bytes(),
        sha256_hex(req.body).as_bytes(),
    ) {
        return Err(VerifyError::BodyHashMismatch);
    }
    if let Some(t) = tolerance {
        crate::crypto::check_tolerance(now, iat, t)?;
    }
    Ok(Verified {
        secret_index: 0,
        timestamp: Some(iat),
        id: None,
        key: crate::KeyRole::Provider,
    })
}

#[derive(Deserialize)]
struct Answer {
    key: Jwk,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    expired_at: Option<i64>,
}

pub(crate) fn parse_key(answer: &[u8]) -> Result<ProviderKey, KeyError> {
    let a: Answer = serde_json::from_slice(answer)
        .map_err(|_| KeyError::Malformed("not a JSON object with a key (kty, crv, x, y)"))?;
    let k = a.key;
    if k.kty != "EC" || k.crv != "P-256" {
        return Err(KeyError::Unsupported("not an EC P-256 key"));
    }
    if k.alg.as_deref().is_some_and(|a| a != "ES256") {
        return Err(KeyError::Unsupported("its alg is not ES256"));
    }
    if !on_curve(&k.x, &k.y) {
        return Err(KeyError::Malformed(
            "x and y are not the base64url coordinates of a P-256 point",
        ));
    }
    Ok(ProviderKey {
        kind: KeyKind::P256 { x: k.x, y: k.y },
        kid: k.kid,
        not_before: None,
        not_after: k.expired_at,
    })
}

/// Whether `x` and `y` (base64url, 32 bytes each) are a point of P-256.
fn on_curve(x: &str, y: &str) -> bool {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (Ok(x), Ok(y)) = (b64.decode(x), b64.decode(y)) else {
        return false;
    };
    if x.len() != 32 || y.len() != 32 {
        return false;
    }
    let point = [&[0x04][..], &x, &y].concat();
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).is_ok()
}
