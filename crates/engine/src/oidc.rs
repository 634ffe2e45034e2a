//! ID token validation (OpenID Connect Core §3.1.3.7).
//!
//! The signature is checked with the provider's JWKS, fetched through [`Outbound`] and
//! cached per `jwks_url`. Switchboard is a confidential client validating asymmetric
//! signatures, so only RS256/RS384/RS512/PS256/PS384/PS512/ES256/ES384/EdDSA are
//! accepted; `none` and the HMAC algorithms are refused before any key is looked at.
//! Signatures are verified by `jsonwebtoken` (aws-lc-rs backend); the claims are checked
//! here, one error variant per check. No error echoes the token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::clock::Clock;
use crate::http::{Outbound, redact};

/// Longest ID token accepted, in bytes.
const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Largest JWKS document accepted, in bytes.
const MAX_JWKS_BYTES: usize = 512 * 1024;
/// Minimum time between two refetches of one JWKS caused by an unknown `kid`.
const REFETCH_COOLDOWN: Duration = Duration::from_secs(60);
/// A cached JWKS older than this is refetched before use (keys can be withdrawn).
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Largest clock-skew leeway honoured, in seconds.
const MAX_LEEWAY_SECS: u64 = 24 * 3600;

/// What the token must match.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// The provider's issuer; `iss` must equal it exactly.
    pub issuer: &'a str,
    /// Our client id; `aud` must contain it (and `azp`, if present, equal it).
    pub client_id: &'a str,
    /// The nonce sent in the authorization request, if any; then `nonce` must equal it.
    pub nonce: Option<&'a str>,
    /// The current time.
    pub now: DateTime<Utc>,
    /// Allowed clock skew for `exp`, `iat` and `nbf`, in seconds (60 is usual; at most a
    /// day is honoured).
    pub leeway_secs: u64,
}

/// The claims Switchboard keeps from a valid ID token.
#[derive(Debug, Clone, PartialEq)]
pub struct IdClaims {
    /// Subject: the user's id at the provider.
    pub sub: String,
    /// `email`, if present.
    pub email: Option<String>,
    /// `name`, if present.
    pub name: Option<String>,
    /// Expiry.
    pub exp: DateTime<Utc>,
    /// Issue time.
    pub iat: DateTime<Utc>,
    /// Every claim, as sent.
    pub claims: Value,
}

/// Why an ID token was refused. Each variant names the check that failed; none contains
/// the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OidcError {
    /// Not a compact JWS with JSON header and claims, or a required claim is missing or
    /// of the wrong type.
    #[error("ID token is malformed: {0}")]
    Malformed(String),
    /// The header names an algorithm that is not accepted.
    #[error(
        "ID token algorithm {alg:?} is not allowed; accepted: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
    )]
    AlgNotAllowed {
        /// The algorithm named by the token (shortened).
        alg: String,
    },
    /// No key of the JWKS matches the token's `kid` (even after a refetch).
    #[error(
        "ID token names key {kid:?}, which the provider's JWKS does not contain; if the provider rotated its keys, retry in a minute"
    )]
    UnknownKid {
        /// The key id named by the token (shortened), if any.
        kid: Option<String>,
    },
    /// The matching JWK cannot verify this token (wrong type, use or algorithm).
    #[error("the provider's key {kid:?} cannot verify this ID token: {reason}")]
    BadKey {
        /// The key id.
        kid: Option<String>,
        /// Why.
        reason: String,
    },
    /// The signature does not verify.
    #[error("ID token signature is invalid")]
    Signature,
    /// `iss` is not the expected issuer.
    #[error("ID token issuer does not match the provider's issuer {expected:?}")]
    Issuer {
        /// The expected issuer.
        expected: String,
    },
    /// `aud` does not contain our client id.
    #[error("ID token audience does not contain this integration's client_id")]
    Audience,
    /// Several audiences (or an `azp`) and `azp` is not our client id.
    #[error("ID token authorized party (azp) is missing or is not this integration's client_id")]
    Azp,
    /// `exp` is past (beyond the leeway).
    #[error("ID token expired at {exp}; sign in again")]
    Expired {
        /// The token's expiry.
        exp: DateTime<Utc>,
    },
    /// `iat` is in the future (beyond the leeway).
    #[error("ID token was issued in the future ({iat}); check this server's clock")]
    IssuedInFuture {
        /// The token's issue time.
        iat: DateTime<Utc>,
    },
    /// `nbf` is in the future (beyond the leeway).
    #[error("ID token is not valid before {nbf}; check this server's clock")]
    NotYetValid {
        /// The token's not-before time.
        nbf: DateTime<Utc>,
    },
    /// A nonce was sent but the token has none.
    #[error("ID token has no nonce although one was sent; restart the sign-in")]
    NonceMissing,
    /// The token's nonce is not the one sent.
    #[error("ID token nonce does not match the one sent; restart the sign-in")]
    NonceMismatch,
    /// The JWKS could not be fetched or read.
    #[error("cannot fetch the provider's JWKS from {url}: {reason}")]
    JwksFetch {
        /// The redacted JWKS URL.
        url: String,
        /// Why.
        reason: String,
    },
}

#[derive(Debug)]
struct CachedJwks {
    keys: Arc<Vec<Jwk>>,
    fetched_at: Instant,
    /// The value of [`Inner::fetches`] this fetch set.
    fetch_no: u64,
    last_refetch: Option<Instant>,
}

#[derive(Debug, Default)]
struct Inner {
    cache: Mutex<HashMap<String, CachedJwks>>,
    /// Serialises fetches so that concurrent validations fetch a cold JWKS once.
    fetch: tokio::sync::Mutex<()>,
    /// Fetches stored so far (tells a waiter whether someone fetched while it waited,
    /// even when the clock did not move).
    fetches: std::sync::atomic::AtomicU64,
}

/// Validates ID tokens against a provider's JWKS (fetched through [`Outbound`], cached
/// per `jwks_url`, refetched once when a token names an unknown `kid` — key rotation —
/// but at most once per 60 s per URL, so that forged tokens cannot make Switchboard
/// hammer the provider). Cheap to clone; clones share the cache.
#[derive(Debug, Clone)]
pub struct IdTokenValidator {
    inner: Arc<Inner>,
    cooldown: Duration,
    /// Times the cache's age and the refetch cool-down.
    clock: Clock,
}

impl Default for IdTokenValidator {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            cooldown: REFETCH_COOLDOWN,
            clock: Clock::system(),
        }
    }
}

/// The parsed parts of a compact JWS.
struct Parts<'t> {
    alg: Algorithm,
    kid: Option<String>,
    signing_input: &'t str,
    signature: &'t str,
    claims: Value,
}

fn shorten(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

fn b64_json(part: &str, what: &str) -> Result<Value, OidcError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| OidcError::Malformed(format!("its {what} is not base64url")))?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|_| OidcError::Malformed(format!("its {what} is not JSON")))?;
    if !v.is_object() {
        return Err(OidcError::Malformed(format!(
            "its {what} is not a JSON object"
        )));
    }
    Ok(v)
}

fn allowed_alg(alg: &str) -> Option<Algorithm> {
    Some(match alg {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

fn parse(token: &str) -> Result<Parts<'_>, OidcError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(OidcError::Malformed("it is too long".to_owned()));
    }
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(sig), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(OidcError::Malformed(
            "it is not a compact JWS (three base64url parts joined by dots; encrypted ID tokens are not supported)"
                .to_owned(),
        ));
    };
    let header = b64_json(h, "header")?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a,
        _ => return Err(OidcError::Malformed("its header has no alg".to_owned())),
    };
    let alg = allowed_alg(alg).ok_or_else(|| OidcError::AlgNotAllowed { alg: shorten(alg) })?;
    if header.get("crit").is_some() {
        return Err(OidcError::Malformed(
            "its header has critical extensions (crit), which are not supported".to_owned(),
        ));
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(OidcError::Malformed("its kid is not a string".to_owned())),
    };
    let claims = b64_json(p, "payload")?;
    if sig.is_empty() {
        return Err(OidcError::Signature);
    }
    Ok(Parts {
        alg,
        kid,
        signing_input: &token[..h.len() + 1 + p.len()],
        signature: sig,
        claims,
    })
}

fn time_claim(claims: &Value, name: &str) -> Result<Option<DateTime<Utc>>, OidcError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let secs = v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .ok_or_else(|| OidcError::Malformed(format!("its {name} is not a number")))?;
            DateTime::from_timestamp(secs, 0)
                .map(Some)
                .ok_or_else(|| OidcError::Malformed(format!("its {name} is out of range")))
        }
    }
}

fn string_claim(claims: &Value, name: &str) -> Result<Option<String>, OidcError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(OidcError::Malformed(format!("its {name} is not a string"))),
    }
}

/// Checks the claims (issuer, audience, azp, times, nonce) of a token whose signature
/// has been verified.
fn check_claims(claims: Value, expected: &Expected<'_>) -> Result<IdClaims, OidcError> {
    let iss = string_claim(&claims, "iss")?;
    if iss.as_deref() != Some(expected.issuer) {
        return Err(OidcError::Issuer {
            expected: expected.issuer.to_owned(),
        });
    }
    let auds: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().ok_or(OidcError::Audience))
            .collect::<Result<_, _>>()?,
        _ => return Err(OidcError::Audience),
    };
    if !auds.contains(&expected.client_id) {
        return Err(OidcError::Audience);
    }
    let azp = string_claim(&claims, "azp")?;
    if (auds.len() > 1 || azp.is_some()) && azp.as_deref() != Some(expected.client_id) {
        return Err(OidcError::Azp);
    }
    // At most a day of leeway; `now` is trusted, so arithmetic is done on it, never on a
    // claim (a claim near the end of time would overflow).
    let leeway = chrono::Duration::seconds(
        i64::try_from(expected.leeway_secs.min(MAX_LEEWAY_SECS)).unwrap_or(0),
    );
    let exp = time_claim(&claims, "exp")?
        .ok_or_else(|| OidcError::Malformed("it has no exp".to_owned()))?;
    if exp < expected.now - leeway {
        return Err(OidcError::Expired { exp });
    }
    let iat = time_claim(&claims, "iat")?
        .ok_or_else(|| OidcError::Malformed("it has no iat".to_owned()))?;
    if iat > expected.now + leeway {
        return Err(OidcError::IssuedInFuture { iat });
    }
    if let Some(nbf) = time_claim(&claims, "nbf")?
        && nbf > expected.now + leeway
    {
        return Err(OidcError::NotYetValid { nbf });
    }
    if let Some(sent) = expected.nonce {
        let got = match claims.get("nonce") {
            None | Some(Value::Null) => return Err(OidcError::NonceMissing),
            Some(Value::String(n)) => n,
            Some(_) => return Err(OidcError::NonceMismatch),
        };
        if !bool::from(got.as_bytes().ct_eq(sent.as_bytes())) {
            return Err(OidcError::NonceMismatch);
        }
    }
    let sub = string_claim(&claims, "sub")?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| OidcError::Malformed("it has no sub".to_owned()))?;
    Ok(IdClaims {
        sub,
        email: string_claim(&claims, "email").ok().flatten(),
        name: string_claim(&claims, "name").ok().flatten(),
        exp,
        iat,
        claims,
    })
}

/// Whether a JWK may verify signatures of `alg`.
fn key_fits(jwk: &Jwk, alg: Algorithm) -> Result<(), String> {
    if let Some(u) = &jwk.common.public_key_use
        && *u != PublicKeyUse::Signature
    {
        return Err("its use is not sig".to_owned());
    }
    if let Some(ka) = jwk.common.key_algorithm {
        let ka = format!("{ka:?}");
        if ka != format!("{alg:?}") {
            return Err(format!("it is declared for {ka}, the token uses {alg:?}"));
        }
    }
    Ok(())
}

fn parse_jwks(body: &[u8]) -> Result<Vec<Jwk>, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| "the body is not JSON".to_owned())?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| "the document has no keys array".to_owned())?;
    // Keys of unknown shape are skipped rather than failing the whole set.
    Ok(keys
        .iter()
        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
        .collect())
}

impl IdTokenValidator {
    /// A validator with an empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the minimum time between two unknown-`kid` refetches of one JWKS (60 s by
    /// default; tests shorten it).
    pub fn with_refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// Times the JWKS cache and the refetch cool-down on `clock` (the system's by
    /// default).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Forgets every cached JWKS.
    pub fn clear(&self) {
        self.cache().clear();
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedJwks>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn fetch(&self, http: &Outbound, jwks_url: &str) -> Result<Vec<Jwk>, OidcError> {
        let shown = url::Url::parse(jwks_url)
            .map(|u| redact(&u))
            .unwrap_or_else(|_| "the configured jwks_url".to_owned());
        let fail = |reason: String| OidcError::JwksFetch {
            url: shown.clone(),
            reason,
        };
        let got = http
            .get_limited(jwks_url, None, MAX_JWKS_BYTES)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !got.status.is_success() {
            return Err(fail(format!("HTTP status {}", got.status.as_u16())));
        }
        parse_jwks(&got.body).map_err(fail)
    }

    /// The cached keys of `jwks_url`, fetching them if absent or older than a day
    /// (`refresh` forces a refetch, subject to the cool-down). Returns the keys and
    /// whether they were fetched by this call. A stale set is still used if its refetch
    /// fails (and logged), so a provider's brief outage does not break sign-ins.
    async fn keys(
        &self,
        http: &Outbound,
        jwks_url: &str,
        refresh: bool,
    ) -> Result<(Arc<Vec<Jwk>>, bool), OidcError> {
        let age = |t: Instant| self.clock.instant().saturating_duration_since(t);
        let fresh = |c: &CachedJwks| age(c.fetched_at) < MAX_AGE;
        let cooling = |c: &CachedJwks| c.last_refetch.is_some_and(|t| age(t) < self.cooldown);
        if !refresh && let Some(c) = self.cache().get(jwks_url).filter(|c| fresh(c)) {
            return Ok((c.keys.clone(), false));
        }
        let seen = self
            .inner
            .fetches
            .load(std::sync::atomic::Ordering::Acquire);
        let _guard = self.inner.fetch.lock().await;
        let stale = match self.cache().get_mut(jwks_url) {
            Some(c) => {
                // Someone else may have fetched while we waited.
                let fetched_meanwhile = c.fetch_no > seen;
                if fetched_meanwhile || (fresh(c) && (!refresh || cooling(c))) {
                    return Ok((c.keys.clone(), fetched_meanwhile));
                }
                if refresh {
                    // Counted before the attempt, so failures cool down too.
                    c.last_refetch = Some(self.clock.instant());
                }
                Some(c.keys.clone())
            }
            None => None,
        };
        let keys = match self.fetch(http, jwks_url).await {
            Ok(keys) => Arc::new(keys),
            Err(e) => {
                return match stale {
                    Some(old) if !refresh => {
                        tracing::warn!(error = %e, "JWKS refetch failed; using the cached keys");
                        Ok((old, false))
                    }
                    _ => Err(e),
                };
            }
        };
        let mut cache = self.cache();
        let last_refetch = cache.get(jwks_url).and_then(|c| c.last_refetch);
        cache.insert(
            jwks_url.to_owned(),
            CachedJwks {
                keys: keys.clone(),
                fetched_at: self.clock.instant(),
                fetch_no: self
                    .inner
                    .fetches
                    .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
                    + 1,
                last_refetch,
            },
        );
        Ok((keys, true))
    }

    /// Validates `id_token` (OpenID Connect Core §3.1.3.7): algorithm, signature against
    /// the JWKS at `jwks_url`, issuer, audience, azp, expiry, issue time, not-before and
    /// nonce. Returns the claims.
    pub async fn validate(
        &self,
        http: &Outbound,
        jwks_url: &str,
        id_token: &str,
        expected: &Expected<'_>,
    ) -> Result<IdClaims, OidcError> {
        let parts = parse(id_token.trim())?;
        let (mut keys, mut fetched) = self.keys(http, jwks_url, false).await?;
        let jwk = loop {
            let found = match &parts.kid {
                Some(kid) => {
                    // Prefer a key that fits the algorithm if several share the kid.
                    let named = || {
                        keys.iter()
                            .filter(|k| k.common.key_id.as_deref() == Some(kid.as_str()))
                    };
                    named()
                        .find(|k| key_fits(k, parts.alg).is_ok())
                        .or_else(|| named().next())
                        .cloned()
                }
                None => {
                    // Without a kid, use the only signing key that fits the algorithm.
                    let mut fits = keys
                        .iter()
                        .filter(|k| key_fits(k, parts.alg).is_ok())
                        .filter(|k| {
                            DecodingKey::from_jwk(k).is_ok_and(|d| d.family() == parts.alg.family())
                        });
                    match (fits.next(), fits.next()) {
                        (Some(k), None) => Some(k.clone()),
                        _ => None,
                    }
                }
            };
            match found {
                Some(k) => break k,
                None if !fetched => {
                    // Perhaps rotated: refetch once (unless cooling down), then look again.
                    (keys, _) = self.keys(http, jwks_url, true).await?;
                    fetched = true;
                }
                None => {
                    return Err(OidcError::UnknownKid {
                        kid: parts.kid.as_deref().map(shorten),
                    });
                }
            }
        };
        let bad_key = |reason: String| OidcError::BadKey {
            kid: jwk.common.key_id.as_deref().map(shorten),
            reason,
        };
        key_fits(&jwk, parts.alg).map_err(bad_key)?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| bad_key(e.to_string()))?;
        if key.family() != parts.alg.family() {
            return Err(bad_key(format!(
                "it is a {:?} key, the token uses {:?}",
                key.family(),
                parts.alg
            )));
        }
        let ok = jsonwebtoken::crypto::verify(
            parts.signature,
            parts.signing_input.as_bytes(),
            &key,
            parts.alg,
        )
        .unwrap_or(false);
        if !ok {
            return Err(OidcError::Signature);
        }
        check_claims(parts.claims, expected)
    }
}
