//! The shapes of the ids and tokens Switchboard makes: part of the external contract, so
//! pinned here byte for byte.

use sha2::Digest as _;

use crate::ids::*;

fn lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[test]
fn made_ids_have_their_documented_shape() {
    for (id, prefix) in [
        (new_event_id(), "evt_"),
        (new_delivery_id(), "dlv_"),
        (new_connection_id(), "conn_"),
    ] {
        let hex = id.strip_prefix(prefix).unwrap_or_else(|| panic!("{id}"));
        assert_eq!(hex.len(), 32, "{id}");
        assert!(lower_hex(hex), "{id}");
        // UUID v7: the version nibble is 7, so ids made later sort after.
        assert_eq!(&hex[12..13], "7", "{id}");
    }
    let session = new_connect_session_token().unwrap();
    let token = session.strip_prefix("cs_").unwrap();
    assert_eq!(token.len(), 43);
    assert!(base64url(token), "{session}");
    let t = random_token().unwrap();
    assert_eq!(t.len(), 43);
    assert!(base64url(&t), "{t}");
    assert_ne!(t, random_token().unwrap());
}

#[test]
fn ids_sort_by_creation() {
    let a = new_event_id();
    let b = new_event_id();
    assert!(a < b, "{a} {b}");
    let a = new_delivery_id();
    let b = new_delivery_id();
    assert!(a < b, "{a} {b}");
}

#[test]
fn event_ids_are_checked_by_shape() {
    assert!(is_event_id(&new_event_id()));
    assert!(is_event_id(&format!("evt_{}", "0".repeat(32))));
    for bad in [
        "",
        "evt_",
        "nope",
        "evt_XYZ",
        "evt_0123",
        &format!("evt_{}", "A".repeat(32)),
        &format!("evt_{}", "0".repeat(33)),
        &format!("dlv_{}", "0".repeat(32)),
    ] {
        assert!(!is_event_id(bad), "{bad:?}");
        assert!(check_event_id(bad).is_err(), "{bad:?}");
    }
    assert!(check_event_id(&new_event_id()).is_ok());
}

#[test]
fn a_state_parameter_is_bounded() {
    assert!(is_oauth_state(&random_token().unwrap()));
    assert!(is_oauth_state(&"s".repeat(512)));
    assert!(!is_oauth_state(""));
    assert!(!is_oauth_state(&"s".repeat(513)));
}

#[test]
fn tokens_are_stored_as_their_sha256() {
    assert_eq!(
        token_hash("cs_abc"),
        sha2::Sha256::digest(b"cs_abc").to_vec()
    );
}

#[test]
fn api_keys_have_their_documented_shape() {
    let (id, secret) = new_api_key().unwrap();
    let key = format!("{API_KEY_PREFIX}{id}_{secret}");
    assert_eq!(key.len(), 3 + 12 + 1 + 40, "{key}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    );
    assert!(secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(parse_api_key(&key), Some((id.as_str(), secret.as_str())));
    assert!(looks_like_api_key(&format!("leaked: {key}.")));
    assert!(parse_api_key(&key.replacen("sb_", "sk_", 1)).is_none());
    assert!(parse_api_key(&key[..key.len() - 1]).is_none());
    assert!(!looks_like_api_key(&key[..key.len() - 1]));
}
