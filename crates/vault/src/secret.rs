//! Secret value types: never printed, zeroed on drop, compared in constant time.

use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

/// A UTF-8 secret (token, password, client secret). `Debug` prints `[REDACTED]`; there
/// is no `Display`; the memory is zeroed on drop.
pub type SecretString = secrecy::SecretString;

/// Secret bytes with the same guarantees as [`SecretString`].
pub type SecretBytes = secrecy::SecretSlice<u8>;

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Compares two secrets in constant time.
pub fn secrets_equal(a: &SecretString, b: &SecretString) -> bool {
    constant_time_eq(a.expose_secret().as_bytes(), b.expose_secret().as_bytes())
}
