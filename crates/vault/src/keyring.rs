//! Master keys and the key ring (one primary key that seals, older keys that still open).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{SecretString, VaultError};

/// Public identifier of a master key: the first 8 bytes of a domain-separated SHA-256 of
/// the key. It is stored in every sealed value and reveals nothing useful about the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; KeyId::LEN]);

impl KeyId {
    /// Length in bytes.
    pub const LEN: usize = 8;

    /// Parses the 16-hex-digit form shown by [`fmt::Display`].
    pub fn parse(s: &str) -> Option<Self> {
        let bytes = hex::decode(s).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A 256-bit master key. It never prints and is zeroed on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    bytes: [u8; 32],
    #[zeroize(skip)]
    id: KeyId,
}

impl MasterKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"switchboard.key-id.v1")
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; KeyId::LEN];
        id.copy_from_slice(&digest[..KeyId::LEN]);
        Self {
            bytes,
            id: KeyId(id),
        }
    }

    /// Parses a base64 (standard or URL-safe, padding optional) encoding of 32 bytes.
    /// Surrounding whitespace is ignored, so key files may end with a newline.
    pub fn from_base64(text: &str) -> Result<Self, VaultError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(VaultError::InvalidKey("it is empty"));
        }
        let mut decoded = STANDARD
            .decode(text)
            .or_else(|_| STANDARD_NO_PAD.decode(text))
            .or_else(|_| URL_SAFE.decode(text))
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .map_err(|_| VaultError::InvalidKey("it is not base64"))?;
        if decoded.len() != 32 {
            decoded.zeroize();
            return Err(VaultError::InvalidKey(
                "it must decode to exactly 32 bytes (generate one with `switchboard keys generate`)",
            ));
        }
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&decoded);
        decoded.zeroize();
        let key = Self::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// Creates a new random key.
    pub fn generate() -> Result<Self, VaultError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|_| VaultError::Random)?;
        let key = Self::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// The standard base64 encoding, for writing a key file.
    pub fn to_base64(&self) -> SecretString {
        SecretString::from(STANDARD.encode(self.bytes))
    }

    /// This key's public id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({}, [REDACTED])", self.id)
    }
}

/// The configured keys: the primary seals, every key opens.
#[derive(Clone, Debug)]
pub struct Keyring {
    primary: MasterKey,
    old: Vec<MasterKey>,
}

impl Keyring {
    /// A ring whose primary key is `primary`; `old` keys only open. Duplicates of the
    /// primary among `old` are ignored.
    pub fn new(primary: MasterKey, old: Vec<MasterKey>) -> Self {
        let mut kept: Vec<MasterKey> = Vec::with_capacity(old.len());
        for k in old {
            if k.id() != primary.id() && kept.iter().all(|o| o.id() != k.id()) {
                kept.push(k);
            }
        }
        Self { primary, old: kept }
    }

    /// The key that seals.
    pub fn primary(&self) -> &MasterKey {
        &self.primary
    }

    /// Ids of every configured key, primary first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        std::iter::once(&self.primary)
            .chain(&self.old)
            .map(MasterKey::id)
            .collect()
    }

    /// The key with this id, if configured.
    pub fn get(&self, id: &KeyId) -> Option<&MasterKey> {
        std::iter::once(&self.primary)
            .chain(&self.old)
            .find(|k| k.id() == *id)
    }
}
