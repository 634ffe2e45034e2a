//! Schemes whose verification key is handed out by the provider over the network: Plaid
//! (an ES256 JWT in `Plaid-Verification`, its key fetched by `kid` from Plaid's key
//! endpoint) and PayPal (SHA256withRSA over `{transmission id}|{time}|{webhook id}|{CRC-32
//! of the body}`, its key in the X.509 certificate at `PAYPAL-CERT-URL`).
//!
//! The crate stays pure: [`key_request`] reads which key a request needs (checking what
//! can be checked without it: headers present, algorithm, sizes), the caller fetches it
//! (the engine, through its guarded client, after checking a certificate URL against its
//! pinned prefixes), [`ProviderKey::plaid`] and [`ProviderKey::paypal`] parse what the
//! provider answered, and [`verify_with_key`] checks the request with it at the caller's
//! time. [`crate::verify`] refuses these schemes: they have no configured secrets.

use std::fmt;

use crate::schemes::{paypal, plaid};
use crate::{Request, Scheme, Verified, VerifyError, VerifyOptions};

/// Which key a request needs, as the request names it. The value is the sender's: check
/// it before using it (a certificate URL against pinned prefixes, a key id as an opaque
/// lookup key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyRequest {
    /// Plaid: the JWT's `kid`, to ask the key endpoint for.
    KeyId(String),
    /// PayPal: `PAYPAL-CERT-URL`, where the signing certificate is.
    CertUrl(String),
}

impl KeyRequest {
    /// The key id or URL.
    pub fn as_str(&self) -> &str {
        match self {
            Self::KeyId(s) | Self::CertUrl(s) => s,
        }
    }
}

/// Why a provider's answer is not a usable key. Messages name what is wrong, never a
/// key's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The answer is not what the key endpoint returns.
    #[error("the provider's key answer is not readable: {0}")]
    Malformed(&'static str),
    /// The key is of a type or curve the scheme does not use.
    #[error("the provider's key is not usable for this scheme: {0}")]
    Unsupported(&'static str),
}

/// A verification key a provider handed out, parsed. `Debug` names its kind only.
#[derive(Clone)]
pub struct ProviderKey {
    pub(crate) kind: KeyKind,
    /// The key id it was published under (Plaid's `kid`), when it has one.
    pub kid: Option<String>,
    /// Not valid before this time (unix seconds): a certificate's `notBefore`.
    pub not_before: Option<i64>,
    /// Not valid from this time on (unix seconds): Plaid's `expired_at`, a certificate's
    /// `notAfter`.
    pub not_after: Option<i64>,
}

#[derive(Clone)]
pub(crate) enum KeyKind {
    /// A P-256 public key from a JWK (`x`, `y` base64url).
    P256 { x: String, y: String },
    /// An RSA public key (PKCS#1 `RSAPublicKey` DER) from a certificate.
    Rsa(Vec<u8>),
}

impl fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderKey")
            .field(
                "kind",
                &match self.kind {
                    KeyKind::P256 { .. } => "p256",
                    KeyKind::Rsa(_) => "rsa",
                },
            )
            .field("kid", &self.kid)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish()
    }
}

impl ProviderKey {
    /// Plaid's `/webhook_verification_key/get` answer: `{"key": {JWK with kty EC, crv
    /// P-256, x, y, kid, created_at, expired_at}}`.
    pub fn plaid(answer: &[u8]) -> Result<Self, KeyError> {
        plaid::parse_key(answer)
    }

    /// The PEM a PayPal certificate URL serves (the signing certificate first, maybe its
    /// chain after it). The first certificate's subject must be PayPal's message
    /// verification certificate (`CN=messageverificationcerts….paypal.com`) and its key
    /// RSA.
    pub fn paypal(pem: &[u8]) -> Result<Self, KeyError> {
        paypal::parse_cert(pem)
    }

    /// Whether the key is valid at `now` (unix seconds).
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before.is_none_or(|t| now >= t) && self.not_after.is_none_or(|t| now < t)
    }
}

/// What a fetched-key scheme needs besides the key: values of the integration.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyContext<'a> {
    /// PayPal: the id of the webhook registered at PayPal, part of what is signed.
    pub webhook_id: Option<&'a str>,
}

impl Scheme {
    /// Whether this scheme's key is fetched from the provider (see [`key_request`]).
    pub fn fetches_keys(&self) -> bool {
        matches!(self, Self::Plaid | Self::Paypal)
    }
}

/// Which key `req` needs, for a scheme whose keys are fetched; checks first what needs no
/// key (headers present and readable, the algorithm), so that a malformed request costs
/// no fetch.
pub fn key_request(scheme: &Scheme, req: &Request<'_>) -> Result<KeyRequest, VerifyError> {
    match scheme {
        Scheme::Plaid => plaid::key_request(req),
        Scheme::Paypal => paypal::key_request(req),
        _ => Err(VerifyError::KeyNotFetched),
    }
}

/// Verifies `req` with a key the provider handed out for it (see [`key_request`]).
pub fn verify_with_key(
    scheme: &Scheme,
    req: &Request<'_>,
    key: &ProviderKey,
    context: &KeyContext<'_>,
    opts: &VerifyOptions,
) -> Result<Verified, VerifyError> {
    let tolerance = opts
        .tolerance_secs
        .or_else(|| scheme.default_tolerance_secs());
    if !key.valid_at(opts.now_unix) {
        return Err(VerifyError::KeyExpired);
    }
    match scheme {
        Scheme::Plaid => plaid::verify(req, key, opts.now_unix, tolerance),
        Scheme::Paypal => paypal::verify(req, key, context, opts.now_unix, opts.tolerance_secs),
        _ => Err(VerifyError::KeyNotFetched),
    }
}
