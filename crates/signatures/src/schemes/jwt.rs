//! A JWT in a header, checked with `jsonwebtoken`: monday.com (`Authorization`, HS256 with
//! the app's signing secret; the body is not signed), Atlassian's webhooks of OAuth 2.0
//! apps (`Authorization: Bearer`, HS256 with the app's client secret, `exp` required; the
//! body is not signed) and FusionAuth
//! (`X-FusionAuth-Signature-JWT`, the body's SHA-256 in the `request_body_sha256` claim,
//! signed with an HMAC secret or an RSA, EC or OKP (Ed25519) key pair). `jsonwebtoken`'s own time checks
//! read the system clock, so they are off; `exp` and `iat` are checked here against the
//! caller's time.

use base64::Engine as _;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

use super::Ctx;
use crate::crypto::ct_eq;
use crate::keys::raw_key;
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

pub(crate) struct Format {
    header: &'static str,
    /// `Bearer ` may come before the token (monday).
    bearer: bool,
    /// The HMAC algorithms accepted with a shared secret.
    hmac: &'static [Algorithm],
    /// Whether a configured PEM public key (RSA, EC or Ed25519) is accepted (FusionAuth).
    public_keys: bool,
    /// The token carries the body's SHA-256 in `request_body_sha256` (FusionAuth).
    covers_body: bool,
    /// A token without `exp` is refused (Atlassian: with the body unsigned, the expiry
    /// is all that bounds a replay).
    require_exp: bool,
    /// [`sign`] puts the URL in `aud`, as monday does.
    aud_is_url: bool,
    /// [`sign`] writes `Bearer ` before the token (Atlassian).
    sends_bearer: bool,
}

pub(crate) const MONDAY: Format = Format {
    header: "Authorization",
    bearer: true,
    hmac: &[Algorithm::HS256],
    public_keys: false,
    covers_body: false,
    require_exp: false,
    aud_is_url: true,
    sends_bearer: false,
};

pub(crate) const FUSIONAUTH: Format = Format {
    header: "X-FusionAuth-Signature-JWT",
    bearer: false,
    hmac: &[Algorithm::HS256, Algorithm::HS384, Algorithm::HS512],
    public_keys: true,
    covers_body: true,
    require_exp: false,
    aud_is_url: false,
    sends_bearer: false,
};

/// The header of Atlassian's webhooks of OAuth 2.0 apps.
pub(crate) const ATLASSIAN_HEADER: &str = "Authorization";

pub(crate) const ATLASSIAN: Format = Format {
    header: ATLASSIAN_HEADER,
    bearer: true,
    hmac: &[Algorithm::HS256],
    public_keys: false,
    covers_body: false,
    require_exp: true,
    aud_is_url: false,
    sends_bearer: true,
};

const RSA: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];
const EC: &[Algorithm] = &[Algorithm::ES256, Algorithm::ES384];
/// FusionAuth's OKP keys: Ed25519.
const ED: &[Algorithm] = &[Algorithm::EdDSA];

/// How long a token made by [`sign`] is valid (monday's documented example token has
/// `exp` 300 s after `iat`).
const LIFETIME_SECS: i64 = 300;

/// Longest token read; monday's and FusionAuth's are well under 2 KiB.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims checked here; the others (monday's `accountId`, `userId`, `aud`,
/// `shortLivedToken`; FusionAuth's `iss`, …) are left to the application.
#[derive(Deserialize)]
struct Claims {
    exp: Option<i64>,
    iat: Option<i64>,
    #[serde(default)]
    request_body_sha256: Option<String>,
}

/// The algorithm's name, as a JWT header writes it.
fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        _ => "unknown",
    }
}

/// A configured value read as a verification key: a PEM public key (RSA, EC or Ed25519)
/// when the format takes them and the value is PEM, else a shared HMAC secret.
fn decoding_key(
    f: &Format,
    secret: &SecretString,
) -> Result<(DecodingKey, &'static [Algorithm]), VerifyError> {
    let text = secret.expose_secret().trim();
    if f.public_keys && text.starts_with("-----BEGIN") {
        if let Ok(k) = DecodingKey::from_ec_pem(text.as_bytes()) {
            return Ok((k, EC));
        }
        if let Ok(k) = DecodingKey::from_rsa_pem(text.as_bytes()) {
            return Ok((k, RSA));
        }
        if let Ok(k) = DecodingKey::from_ed_pem(text.as_bytes()) {
            return Ok((k, ED));
        }
        return Err(VerifyError::BadPublicKey {
            index: 0,
            reason: "not an RSA, EC or Ed25519 public key in PEM",
        });
    }
    let key = raw_key(secret).map_err(|reason| VerifyError::BadSecret { index: 0, reason })?;
    Ok((DecodingKey::from_secret(key), f.hmac))
}

fn token<'a>(f: &Format, ctx: &Ctx<'a>) -> Result<&'a str, VerifyError> {
    let value = ctx.req.headers.text(f.header)?;
    let token = match value.strip_prefix("Bearer ") {
        Some(t) if f.bearer => t,
        _ => value,
    }
    .trim();
    if token.is_empty() {
        return Err(VerifyError::NoSignatures {
            header: f.header.to_owned(),
        });
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::malformed(f.header, "token is too long"));
    }
    Ok(token)
}

/// The body's SHA-256 as FusionAuth writes the claim: standard base64 with padding (its
/// signing guide's example and its own example listener, which compares that string
/// exactly). No other encoding is read: FusionAuth sends none, and an exact comparison
/// leaves one spelling of the digest to check.
fn body_hash_matches(claim: &str, body: &[u8]) -> bool {
    use sha2::Digest as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body));
    ct_eq(claim.as_bytes(), b64.as_bytes())
}

pub(crate) fn verify(f: &Format, ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let token = token(f, ctx)?;
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| VerifyError::malformed(f.header, "not a JWT"))?;
    let alg = alg_name(header.alg);
    let accepted = f.hmac.contains(&header.alg)
        || (f.public_keys
            && (RSA.contains(&header.alg) || EC.contains(&header.alg) || ED.contains(&header.alg)));
    if !accepted {
        return Err(VerifyError::unsupported(f.header, alg));
    }
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut tried = 0;
    for (index, secret) in ctx.secrets.iter().enumerate() {
        let (key, algs) = decoding_key(f, secret).map_err(|e| match e {
            VerifyError::BadSecret { reason, .. } => VerifyError::BadSecret { index, reason },
            VerifyError::BadPublicKey { reason, .. } => VerifyError::BadPublicKey { index, reason },
            other => other,
        })?;
        // A key checks only its own family: a public key is never an HMAC secret.
        if !algs.contains(&header.alg) {
            continue;
        }
        tried += 1;
        let claims = match jsonwebtoken::decode::<Claims>(token, &key, &validation) {
            Ok(data) => data.claims,
            Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
            Err(_) => {
                return Err(VerifyError::malformed(
                    f.header,
                    "the token's claims are not readable (exp and iat must be whole seconds)",
                ));
            }
        };
        if f.covers_body {
            let Some(claim) = claims.request_body_sha256.as_deref() else {
                return Err(VerifyError::malformed(
                    f.header,
                    "the token has no request_body_sha256 claim",
                ));
            };
            if !body_hash_matches(claim, ctx.req.body) {
                return Err(VerifyError::BodyHashMismatch);
            }
        }
        if f.require_exp && claims.exp.is_none() {
            return Err(VerifyError::malformed(
                f.header,
                "the token has no exp claim",
            ));
        }
        if let Some(exp) = claims.exp
            && ctx.now > exp
        {
            return Err(VerifyError::TokenExpired {
                expired_secs: ctx.now.saturating_sub(exp),
            });
        }
        if let Some(iat) = claims.iat {
            ctx.check_time(iat)?;
        }
        return Ok(Verified {
            secret_index: index,
            timestamp: claims.iat,
            id: None,
            key: crate::KeyRole::Webhook,
        });
    }
    if tried == 0 {
        return Err(VerifyError::NoKeyForVersion { version: alg });
    }
    Err(VerifyError::NoMatch {
        signatures: 1,
        secrets: ctx.secrets.len(),
    })
}

/// A token as the provider would send it: `iat` the timestamp, `exp` 300 s later, `aud`
/// the URL when one is given (monday; not Atlassian), `request_body_sha256` the body's base64 SHA-256
/// (FusionAuth); signed with the first secret: HS256 with a shared secret, or ES256 /
/// RS256 / EdDSA with a PEM private key (FusionAuth).
pub(crate) fn sign(
    f: &Format,
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    let bad = |reason| SignError::BadSecret { index: 0, reason };
    let text = secrets[0].expose_secret().trim();
    let (alg, key) = if f.public_keys && text.starts_with("-----BEGIN") {
        if let Ok(k) = EncodingKey::from_ec_pem(text.as_bytes()) {
            (Algorithm::ES256, k)
        } else if let Ok(k) = EncodingKey::from_rsa_pem(text.as_bytes()) {
            (Algorithm::RS256, k)
        } else if let Ok(k) = EncodingKey::from_ed_pem(text.as_bytes()) {
            (Algorithm::EdDSA, k)
        } else {
            return Err(bad("not an RSA, EC or Ed25519 private key in PEM"));
        }
    } else {
        (
            Algorithm::HS256,
            EncodingKey::from_secret(raw_key(&secrets[0]).map_err(bad)?),
        )
    };
    let exp = input
        .timestamp
        .checked_add(LIFETIME_SECS)
        .ok_or(SignError::TimestampOutOfRange)?;
    let mut claims = serde_json::json!({ "iat": input.timestamp, "exp": exp });
    if f.covers_body {
        use sha2::Digest as _;
        claims["request_body_sha256"] = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(input.body))
            .into();
    } else if f.aud_is_url && !input.url.trim().is_empty() {
        claims["aud"] = input.url.trim().into();
    }
    let mut token = jsonwebtoken::encode(&Header::new(alg), &claims, &key)
        .map_err(|_| bad("cannot sign with it"))?;
    if f.sends_bearer {
        token.insert_str(0, "Bearer ");
    }
    Ok(Signed::headers(
        vec![(f.header.to_owned(), token)],
        input.url,
    ))
}
