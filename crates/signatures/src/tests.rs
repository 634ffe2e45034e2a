//! Unit tests of the internals: dates, form parsing, URI decoding, tolerance arithmetic,
//! the HMAC primitives against their RFC test vectors.

use crate::crypto::{self, HmacAlgorithm, SignatureEncoding};
use crate::request::{parse_urlencoded, query_of};
use crate::schemes::hubspot_decode_uri;
use crate::time::{format_rfc3339, parse_rfc3339};
use crate::{Headers, VerifyError};

#[test]
fn rfc3339_parses_known_instants() {
    let cases = [
        ("1970-01-01T00:00:00Z", 0),
        ("2023-11-14T22:13:20Z", 1_700_000_000),
        ("2023-11-14T22:13:20.999999999Z", 1_700_000_000),
        ("2023-11-15T00:13:20+02:00", 1_700_000_000),
        ("2023-11-14T20:43:20-01:30", 1_700_000_000),
        ("2019-11-16T10:11:12.634234626Z", 1_573_899_072),
        ("2000-02-29T12:00:00z", 951_825_600),
        ("1969-12-31T23:59:59Z", -1),
        ("0001-01-01T00:00:00Z", -62_135_596_800),
        ("9999-12-31T23:59:59Z", 253_402_300_799),
        ("2016-12-31T23:59:60Z", 1_483_228_800),
    ];
    for (s, unix) in cases {
        assert_eq!(parse_rfc3339(s), Some(unix), "{s}");
    }
}

#[test]
fn rfc3339_refuses_what_is_not_a_date_time() {
    for s in [
        "",
        "2023-11-14",
        "2023-11-14 22:13:20Z",
        "2023-11-14T22:13:20",
        "2023-11-14T22:13:20+0200",
        "2023-11-14T22:13:20.Z",
        "2023-13-14T22:13:20Z",
        "2023-00-14T22:13:20Z",
        "2023-02-29T22:13:20Z",
        "1900-02-29T00:00:00Z",
        "2023-04-31T00:00:00Z",
        "2023-11-00T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T23:60:00Z",
        "2023-11-14T23:59:61Z",
        "2023-11-14T22:13:20+24:00",
        "2023-11-14T22:13:20+02:60",
        "2023-11-14T22:13:20ZZ",
        "2023/11/14T22:13:20Z",
        "2023-11-14T22-13-20Z",
        "+023-11-14T22:13:20Z",
        "２０２３-11-14T22:13:20Z",
    ] {
        assert_eq!(parse_rfc3339(s), None, "{s}");
    }
}

#[test]
fn rfc3339_formats_and_round_trips() {
    assert_eq!(
        format_rfc3339(1_700_000_000).as_deref(),
        Some("2023-11-14T22:13:20Z")
    );
    assert_eq!(format_rfc3339(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
    assert_eq!(
        format_rfc3339(951_825_600).as_deref(),
        Some("2000-02-29T12:00:00Z")
    );
    assert_eq!(format_rfc3339(253_402_300_800), None);
    assert_eq!(format_rfc3339(-62_167_219_201), None);
    assert_eq!(format_rfc3339(i64::MAX), None);
    assert_eq!(format_rfc3339(i64::MIN), None);
    let mut t = -62_135_596_800i64;
    while t < 253_402_300_799 {
        let s = format_rfc3339(t).unwrap();
        assert_eq!(parse_rfc3339(&s), Some(t), "{s}");
        t += 86_400 * 37 + 3_599;
    }
}

#[test]
fn urlencoded_forms() {
    let p = |s: &str| parse_urlencoded(s.as_bytes());
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(p(""), vec![]);
    assert_eq!(
        p("a=1&b=&c&&=x"),
        vec![pair("a", "1"), pair("b", ""), pair("c", ""), pair("", "x")]
    );
    assert_eq!(p("a=1&a=2"), vec![pair("a", "1"), pair("a", "2")]);
    assert_eq!(p("k=a+b%20c%2B%3d"), vec![pair("k", "a b c+=")]);
    assert_eq!(p("k=%zz%4%"), vec![pair("k", "%zz%4%")]);
    assert_eq!(p("k=%C3%A9%E2%9C%93"), vec![pair("k", "é✓")]);
    assert_eq!(p("k=%FF"), vec![pair("k", "\u{FFFD}")]);
    assert_eq!(p("a=b=c"), vec![pair("a", "b=c")]);
    assert_eq!(parse_urlencoded(b"\xff=1"), vec![pair("\u{FFFD}", "1")]);
}

#[test]
fn query_strings() {
    assert_eq!(query_of("https://e.com/p?a=1&b=2#frag"), Some("a=1&b=2"));
    assert_eq!(query_of("https://e.com/p?"), Some(""));
    assert_eq!(query_of("https://e.com/p#x?y"), Some("y"));
    assert_eq!(query_of("https://e.com/p"), None);
}

#[test]
fn hubspot_uri_decoding() {
    assert_eq!(
        hubspot_decode_uri("https://e.com/%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B%3a%2f%20%41%"),
        "https://e.com/:/?@!$'()*,;:/%20%41%"
    );
    assert_eq!(hubspot_decode_uri("%3"), "%3");
    assert_eq!(hubspot_decode_uri("é%3A✓"), "é:✓");
}

#[test]
fn tolerance_arithmetic() {
    assert_eq!(crypto::check_tolerance(100, 100, 0), Ok(()));
    assert_eq!(
        crypto::check_tolerance(i64::MAX, i64::MIN, u64::MAX),
        Ok(())
    );
    assert_eq!(
        crypto::check_tolerance(i64::MAX, i64::MIN, 5),
        Err(VerifyError::TimestampOutsideTolerance {
            age_secs: i64::MAX,
            tolerance_secs: 5
        })
    );
    assert_eq!(
        crypto::check_tolerance(i64::MIN, i64::MAX, 5),
        Err(VerifyError::TimestampOutsideTolerance {
            age_secs: -i64::MAX,
            tolerance_secs: 5
        })
    );
    // Milliseconds: 300.001 s is reported as 301 s, never as the tolerance itself.
    assert_eq!(
        crypto::check_tolerance_ms(300_001, 0, 300),
        Err(VerifyError::TimestampOutsideTolerance {
            age_secs: 301,
            tolerance_secs: 300
        })
    );
    assert_eq!(crypto::check_tolerance_ms(300_000, 0, 300), Ok(()));
}

#[test]
fn timestamps_are_plain_decimals() {
    assert_eq!(crypto::parse_timestamp("h", " 0042 "), Ok(42));
    assert_eq!(
        crypto::parse_timestamp("h", "999999999999999999"),
        Ok(999_999_999_999_999_999)
    );
    assert_eq!(
        crypto::parse_timestamp("h", "9223372036854775807"),
        Ok(i64::MAX)
    );
    assert_eq!(
        crypto::parse_timestamp("h", "9223372036854775808"),
        Err(VerifyError::malformed("h", "timestamp is out of range"))
    );
    for bad in [
        "",
        "+1",
        "-1",
        "1.5",
        "1e9",
        "0x10",
        "9999999999999999999",
        "１",
    ] {
        assert!(crypto::parse_timestamp("h", bad).is_err(), "{bad}");
    }
}

/// RFC 2202 (HMAC-SHA-1) and RFC 4231 (HMAC-SHA-256/512) test case 2.
#[test]
fn hmac_primitives_match_their_rfcs() {
    let key = b"Jefe";
    let data: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];
    let hex = |alg| hex::encode(&*crypto::hmac(alg, key, data));
    assert_eq!(
        hex(HmacAlgorithm::Sha1),
        "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
    );
    assert_eq!(
        hex(HmacAlgorithm::Sha256),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hex(HmacAlgorithm::Sha512),
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    );
    // An empty key and a key longer than the block are both fine.
    assert_eq!(crypto::hmac(HmacAlgorithm::Sha256, b"", &[]).len(), 32);
    assert_eq!(
        crypto::hmac(HmacAlgorithm::Sha512, &[7; 300], &[b"x"]).len(),
        64
    );
    assert_eq!(
        crypto::sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn encodings() {
    assert_eq!(
        crypto::decode(SignatureEncoding::Hex, "ABcd"),
        Some(vec![0xab, 0xcd])
    );
    assert_eq!(crypto::decode(SignatureEncoding::Hex, "abc"), None);
    assert_eq!(
        crypto::decode(SignatureEncoding::Base64, "AAAA"),
        Some(vec![0, 0, 0])
    );
    assert_eq!(
        crypto::decode(SignatureEncoding::Base64, "AAA"),
        None,
        "padding is required"
    );
    assert_eq!(
        crypto::decode(SignatureEncoding::Base64, "AAB="),
        None,
        "non-zero trailing bits"
    );
    assert_eq!(
        crypto::encode(SignatureEncoding::Base64, &[0, 0, 0]),
        "AAAA"
    );
    assert_eq!(
        crypto::decode_key_base64("AAA").map(|k| k.to_vec()),
        Some(vec![0, 0]),
        "keys: padding optional"
    );
    assert!(
        crypto::ct_eq(b"abc", b"abc")
            && !crypto::ct_eq(b"abc", b"abd")
            && !crypto::ct_eq(b"abc", b"ab")
    );
    assert!(crypto::find_match(b"x", &[b"y".to_vec(), b"x".to_vec()]));
    assert!(!crypto::find_match(b"x", &[]));
}

#[test]
fn header_text() {
    let h = Headers::new()
        .with("A", " v ")
        .with("B", b"\xff")
        .with("C", "  ");
    assert_eq!(h.text("a"), Ok("v"));
    assert_eq!(h.text("B"), Err(VerifyError::malformed("B", "not UTF-8")));
    assert_eq!(h.text("C"), Err(VerifyError::malformed("C", "empty")));
    assert_eq!(h.text("D"), Err(VerifyError::missing("D")));
}
