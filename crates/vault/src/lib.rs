//! Encryption of stored secrets.
//!
//! Every secret Switchboard keeps (OAuth tokens, client secrets, credentials) is sealed
//! here before it reaches the store, and opened here after it comes back. The crate is
//! pure: no I/O, no clocks, only randomness for nonces.
//!
//! A sealed value is a self-describing byte string:
//!
//! ```text
//! version (1 byte = 1) | key id (8 bytes) | nonce (24 bytes) | ciphertext + tag (16 bytes)
//! ```
//!
//! The cipher is XChaCha20-Poly1305, so a random 192-bit nonce per value is safe. The
//! associated data binds the value to where it is stored ([`Aad`]: table, column, row)
//! and to its header, so a ciphertext copied into another row, or a header edited to
//! point at another key, fails to open.

#![deny(missing_docs)]

mod keyring;
mod secret;

pub use keyring::{KeyId, Keyring, MasterKey};
pub use secrecy::ExposeSecret;
pub use secret::{SecretBytes, SecretString, constant_time_eq, secrets_equal};

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Envelope format version written by this build.
pub const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Length of the header that precedes the ciphertext.
pub const HEADER_LEN: usize = 1 + KeyId::LEN + NONCE_LEN;

/// Where a sealed value lives. It is authenticated with the value, so the value opens
/// only at the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aad<'a> {
    /// Logical table (e.g. `connections`).
    pub table: &'a str,
    /// Logical column or field (e.g. `access_token`).
    pub column: &'a str,
    /// The row's identifier.
    pub row: &'a str,
}

impl<'a> Aad<'a> {
    /// Builds the associated data for `table`.`column` of row `row`.
    pub fn new(table: &'a str, column: &'a str, row: &'a str) -> Self {
        Self { table, column, row }
    }

    fn encode(&self, header: &[u8]) -> Vec<u8> {
        // Length-prefixed so that ("a", "bc") and ("ab", "c") differ.
        let mut out = Vec::with_capacity(
            32 + header.len() + self.table.len() + self.column.len() + self.row.len(),
        );
        out.extend_from_slice(b"switchboard.vault.v1");
        out.extend_from_slice(header);
        for part in [self.table, self.column, self.row] {
            out.extend_from_slice(&(part.len() as u64).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// Why a value could not be sealed or opened. Messages never contain key material or
/// plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    /// The bytes are too short or otherwise not a sealed value.
    #[error("sealed value is malformed ({0}); it was truncated or is not a Switchboard ciphertext")]
    Malformed(&'static str),
    /// Written by a newer (or unknown) format.
    #[error(
        "sealed value has format version {0}, this build reads version {FORMAT_VERSION}; upgrade Switchboard"
    )]
    UnsupportedVersion(u8),
    /// Sealed under a key that is not in the key ring.
    #[error(
        "sealed with key {0}, which is not configured; add it to old_master_keys until `switchboard keys rotate` has finished"
    )]
    UnknownKey(KeyId),
    /// The tag did not verify: the bytes were altered, or they belong to another row.
    #[error(
        "sealed value failed authentication for {table}.{column} row {row}: it was altered or copied from another row"
    )]
    Authentication {
        /// Table the caller tried to open it for.
        table: String,
        /// Column the caller tried to open it for.
        column: String,
        /// Row the caller tried to open it for.
        row: String,
    },
    /// A key could not be parsed.
    #[error("invalid master key: {0}")]
    InvalidKey(&'static str),
    /// The operating system's random generator failed.
    #[error("the system random number generator failed; cannot create a nonce")]
    Random,
}

/// Header fields of a sealed value, readable without a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u8,
    /// Id of the key that sealed the value.
    pub key_id: KeyId,
}

/// Reads the header of a sealed value without decrypting it.
pub fn header(sealed: &[u8]) -> Result<Header, VaultError> {
    if sealed.is_empty() {
        return Err(VaultError::Malformed("empty"));
    }
    if sealed[0] != FORMAT_VERSION {
        return Err(VaultError::UnsupportedVersion(sealed[0]));
    }
    if sealed.len() < HEADER_LEN + TAG_LEN {
        return Err(VaultError::Malformed("shorter than header and tag"));
    }
    let mut id = [0u8; KeyId::LEN];
    id.copy_from_slice(&sealed[1..1 + KeyId::LEN]);
    Ok(Header {
        version: sealed[0],
        key_id: KeyId(id),
    })
}

impl Keyring {
    /// Seals `plaintext` under the primary key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: Aad<'_>) -> Result<Vec<u8>, VaultError> {
        let key = self.primary();
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| VaultError::Random)?;
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&key.id().0);
        out.extend_from_slice(&nonce);
        let aad_bytes = aad.encode(&out);
        let ct = key
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad_bytes,
                },
            )
            .map_err(|_| VaultError::Malformed("plaintext too long"))?;
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Seals a UTF-8 secret.
    pub fn seal_str(&self, secret: &SecretString, aad: Aad<'_>) -> Result<Vec<u8>, VaultError> {
        self.seal(secret.expose_secret().as_bytes(), aad)
    }

    /// Opens a value sealed by [`Keyring::seal`] for the same `aad`, with whichever
    /// configured key sealed it.
    pub fn open(&self, sealed: &[u8], aad: Aad<'_>) -> Result<SecretBytes, VaultError> {
        let h = header(sealed)?;
        let key = self
            .get(&h.key_id)
            .ok_or(VaultError::UnknownKey(h.key_id))?;
        let (head, ct) = sealed.split_at(HEADER_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&head[1 + KeyId::LEN..]);
        let aad_bytes = aad.encode(head);
        key.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: &aad_bytes,
                },
            )
            .map(SecretBytes::from)
            .map_err(|_| VaultError::Authentication {
                table: aad.table.to_owned(),
                column: aad.column.to_owned(),
                row: aad.row.to_owned(),
            })
    }

    /// Opens a value and checks that it is UTF-8.
    pub fn open_str(&self, sealed: &[u8], aad: Aad<'_>) -> Result<SecretString, VaultError> {
        let bytes = self.open(sealed, aad)?;
        std::str::from_utf8(bytes.expose_secret())
            .map(|s| SecretString::from(s.to_owned()))
            .map_err(|_| VaultError::Malformed("plaintext is not UTF-8"))
    }

    /// Whether `sealed` was written by the primary key (rotation skips those).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        header(sealed).is_ok_and(|h| h.key_id == self.primary().id())
    }

    /// Opens with any configured key and seals again under the primary key, for the
    /// same place.
    pub fn reseal(&self, sealed: &[u8], aad: Aad<'_>) -> Result<Vec<u8>, VaultError> {
        let plain = self.open(sealed, aad)?;
        self.seal(plain.expose_secret(), aad)
    }
}

impl MasterKey {
    fn cipher(&self) -> XChaCha20Poly1305 {
        use chacha20poly1305::KeyInit;
        XChaCha20Poly1305::new(&(*self.bytes()).into())
    }
}

#[cfg(test)]
mod tests;
