//! MACs, encodings, constant-time comparison and timestamp checks shared by every scheme.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, general_purpose};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::VerifyError;

/// Most signatures a header may carry; more is refused rather than checked one by one.
pub(crate) const MAX_SIGNATURES: usize = 32;

/// The hash function under an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HmacAlgorithm {
    /// HMAC-SHA-1 (legacy schemes only: GitHub `X-Hub-Signature`, Intercom, Twilio).
    #[serde(alias = "sha-1")]
    Sha1,
    /// HMAC-SHA-256.
    #[default]
    #[serde(alias = "sha-256")]
    Sha256,
    /// HMAC-SHA-512.
    #[serde(alias = "sha-512")]
    Sha512,
}

/// How a signature's bytes are written in a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureEncoding {
    /// Hexadecimal (either case is accepted, lowercase is produced).
    #[default]
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// How a configured secret becomes HMAC key bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyEncoding {
    /// The secret's bytes as written (most providers).
    #[default]
    Raw,
    /// The secret is hexadecimal; the key is what it decodes to (Close).
    Hex,
    /// The secret is standard base64, padding optional; the key is what it decodes to
    /// (Airtable's `macSecretBase64`).
    Base64,
}

impl KeyEncoding {
    /// The key bytes of a configured secret, or why it cannot be one.
    pub(crate) fn key(self, secret: &str) -> Result<Zeroizing<Vec<u8>>, &'static str> {
        let key = match self {
            Self::Raw => Zeroizing::new(secret.as_bytes().to_vec()),
            Self::Hex => Zeroizing::new(hex::decode(secret.trim()).map_err(|_| "not hex")?),
            Self::Base64 => decode_key_base64(secret).ok_or("not base64")?,
        };
        if key.is_empty() {
            return Err("empty");
        }
        Ok(key)
    }
}

/// Computes an HMAC over the concatenation of `parts` without copying them together.
pub(crate) fn hmac(alg: HmacAlgorithm, key: &[u8], parts: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this never fails.
        let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
    Zeroizing::new(match alg {
        HmacAlgorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        HmacAlgorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        HmacAlgorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    })
}

/// SHA-256 of `data`, lowercase hex.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}

/// Equal in time that depends only on the lengths (which are public: digest sizes).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Whether any candidate equals `expected`, each compared in constant time.
pub(crate) fn find_match(expected: &[u8], candidates: &[Vec<u8>]) -> bool {
    // Every candidate is compared so the time does not say which one matched.
    let mut found = false;
    for c in candidates {
        found |= ct_eq(expected, c);
    }
    found
}

/// Encodes signature bytes.
pub(crate) fn encode(enc: SignatureEncoding, bytes: &[u8]) -> String {
    match enc {
        SignatureEncoding::Hex => hex::encode(bytes),
        SignatureEncoding::Base64 => STANDARD.encode(bytes),
    }
}

/// Decodes signature bytes strictly (canonical base64 with padding; hex of either case).
pub(crate) fn decode(enc: SignatureEncoding, s: &str) -> Option<Vec<u8>> {
    match enc {
        SignatureEncoding::Hex => hex::decode(s).ok(),
        SignatureEncoding::Base64 => STANDARD.decode(s).ok(),
    }
}

/// Base64 for configured keys: padding optional, so secrets pasted without it still work.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a configured base64 key (padding optional).
pub(crate) fn decode_key_base64(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    LENIENT.decode(s.trim()).ok().map(Zeroizing::new)
}

/// Encodes key bytes as standard base64 (used for `whsec_`-style output).
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    general_purpose::STANDARD.encode(bytes)
}

/// Parses an unsigned decimal timestamp as a header carries it.
pub(crate) fn parse_timestamp(header: &str, value: &str) -> Result<i64, VerifyError> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::malformed(
            header,
            "timestamp is not a decimal integer",
        ));
    }
    v.parse::<i64>()
        .map_err(|_| VerifyError::malformed(header, "timestamp is out of range"))
}

/// Checks `|now - ts| <= tolerance`, all in seconds.
pub(crate) fn check_tolerance(now: i64, ts: i64, tolerance: u64) -> Result<(), VerifyError> {
    check_tolerance_ms(i128::from(now) * 1000, i128::from(ts) * 1000, tolerance)
}

/// Checks `|now - ts| <= tolerance` with both instants in milliseconds.
pub(crate) fn check_tolerance_ms(
    now_ms: i128,
    ts_ms: i128,
    tolerance: u64,
) -> Result<(), VerifyError> {
    let age_ms = now_ms - ts_ms;
    if age_ms.unsigned_abs() <= u128::from(tolerance) * 1000 {
        return Ok(());
    }
    // Whole seconds, rounded away from zero so the age never reads as equal to the tolerance.
    let secs = age_ms.unsigned_abs().div_ceil(1000);
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    Err(VerifyError::TimestampOutsideTolerance {
        age_secs: if age_ms < 0 { -secs } else { secs },
        tolerance_secs: tolerance,
    })
}
