//! Every id and token Switchboard makes, and the checks of those it is handed back: one
//! place to read the shapes that are part of the external contract.
//!
//! | what | made here | shape |
//! |---|---|---|
//! | event | [`new_event_id`] | `evt_` + 32 lowercase hex (UUID v7: sorts by creation) |
//! | delivery | [`new_delivery_id`] | `dlv_` + 32 lowercase hex (UUID v7); it is the `webhook-id` |
//! | consent record | [`new_consent_id`] | `cns_` + 32 lowercase hex (UUID v7) |
//! | connection | [`new_connection_id`], or the app's choice ([`is_connection_id`]) | `conn_` + 32 lowercase hex (UUID v7) |
//! | end user | the app's choice ([`is_end_user_id`]) | 1 to 256 printable characters |
//! | connect session | [`new_connect_session_token`] | `cs_` + [`random_token`] |
//! | OAuth state, PKCE verifier, nonce | [`random_token`] | 43 base64url characters (256 bits) |
//!
//! | API key | [`new_api_key`] | `sb_` + 12 of `[a-z0-9]` (its id) + `_` + 40 of `[A-Za-z0-9]` (its secret) |
//!
//! Secret tokens (sessions, states) are stored only as [`token_hash`]; an API key's
//! secret part as the hash [`crate::api_keys`] gives it.

use crate::{EngineError, EngineResult};

/// Whether `s` has the shape of an event id (`evt_` + 32 lowercase hex digits).
pub fn is_event_id(s: &str) -> bool {
    s.strip_prefix("evt_").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A new time-ordered event id.
pub fn new_event_id() -> String {
    format!("evt_{}", uuid::Uuid::now_v7().simple())
}

/// `Invalid` unless `id` has the shape of an event id.
pub(crate) fn check_event_id(id: &str) -> EngineResult<()> {
    if is_event_id(id) {
        Ok(())
    } else {
        Err(EngineError::Invalid {
            field: "event_id",
            message: "not an event id (evt_ followed by 32 lowercase hex digits)".into(),
        })
    }
}

/// Whether `s` has the shape of a delivery id (`dlv_` + 32 lowercase hex digits).
pub fn is_delivery_id(s: &str) -> bool {
    s.strip_prefix("dlv_").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A new delivery id (`dlv_` + UUID v7, time-ordered); it is the `webhook-id`.
pub fn new_delivery_id() -> String {
    format!("dlv_{}", uuid::Uuid::now_v7().simple())
}

/// Whether `id` is acceptable as an app-chosen connection id: 1 to 128 of
/// `A-Z a-z 0-9 . _ : -`, starting with a letter or digit.
pub fn is_connection_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Whether `id` is acceptable as an end-user id: 1 to 256 printable characters.
pub fn is_end_user_id(id: &str) -> bool {
    (1..=256).contains(&id.chars().count()) && !id.chars().any(char::is_control)
}

/// A new consent record id: `cns_` + 32 hex (UUID v7, so records sort by time).
pub(crate) fn new_consent_id() -> String {
    format!("cns_{}", uuid::Uuid::now_v7().simple())
}

/// A new connection id: `conn_` + 32 hex (UUID v7, so ids sort by creation).
pub(crate) fn new_connection_id() -> String {
    format!("conn_{}", uuid::Uuid::now_v7().simple())
}

/// A new connect session token: `cs_` + a [`random_token`]. Shown once; stored as its
/// [`token_hash`].
pub(crate) fn new_connect_session_token() -> EngineResult<String> {
    Ok(format!("cs_{}", random_token()?))
}

/// Whether a callback's `state` parameter can be one we made: not empty and at most 512
/// bytes (ours are 43; the bound keeps what is hashed and looked up small).
pub(crate) fn is_oauth_state(s: &str) -> bool {
    !s.is_empty() && s.len() <= 512
}

/// 32 random bytes, base64url without padding (256 bits: states, session tokens, PKCE
/// verifiers, nonces).
pub(crate) fn random_token() -> crate::EngineResult<String> {
    use base64::Engine as _;
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|_| crate::EngineError::Vault(vault::VaultError::Random))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// SHA-256 of a token, as stored.
pub(crate) fn token_hash(token: &str) -> Vec<u8> {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).to_vec()
}

/// Prefix of every API key. The fixed shape lets secret scanners recognise a leaked key
/// (`sb_[a-z0-9]{12}_[A-Za-z0-9]{40}`).
pub const API_KEY_PREFIX: &str = "sb_";
const KEY_ID_LEN: usize = 12;
const KEY_SECRET_LEN: usize = 40;
const KEY_ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const KEY_SECRET_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new API key's id and secret part; the key is `sb_<id>_<secret>`.
pub(crate) fn new_api_key() -> EngineResult<(String, String)> {
    Ok((
        random_string(KEY_ID_LEN, KEY_ID_ALPHABET)?,
        random_string(KEY_SECRET_LEN, KEY_SECRET_ALPHABET)?,
    ))
}

/// Splits a presented API key into id and secret, checking its shape.
pub fn parse_api_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(API_KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = id.len() == KEY_ID_LEN
        && secret.len() == KEY_SECRET_LEN
        && id.bytes().all(|b| KEY_ID_ALPHABET.contains(&b))
        && secret.bytes().all(|b| KEY_SECRET_ALPHABET.contains(&b));
    ok.then_some((id, secret))
}

/// Whether `text` contains something shaped like a Switchboard API key (used by the
/// secret scanner and by tests that prove keys never leak).
pub fn looks_like_api_key(text: &str) -> bool {
    const LEN: usize = API_KEY_PREFIX.len() + KEY_ID_LEN + 1 + KEY_SECRET_LEN;
    text.match_indices(API_KEY_PREFIX).any(|(i, _)| {
        text.get(i..i + LEN)
            .is_some_and(|k| parse_api_key(k).is_some())
    })
}

/// Random string from `alphabet` (rejection sampling, no modulo bias).
fn random_string(len: usize, alphabet: &[u8]) -> EngineResult<String> {
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|_| vault::VaultError::Random)?;
        for &b in &buf {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}
