//! The schemes whose key is fetched from the provider (Plaid, PayPal), checked against
//! vectors made by independent code: `vectors/plaid.mjs` (npm `jose`) and
//! `vectors/paypal.py` (Python's `cryptography` and zlib), whose output is committed.

use serde::Deserialize;
use signatures::{
    Headers, KeyContext, KeyRequest, ProviderKey, Request, Scheme, SecretString, SignRequest,
    VerifyError, VerifyOptions, key_request, sign, verify, verify_with_key,
};

#[derive(Deserialize)]
struct PlaidFile {
    kid: String,
    vectors: Vec<PlaidVector>,
}

#[derive(Deserialize)]
struct PlaidVector {
    name: String,
    token: String,
    body: String,
    now: i64,
    answer: serde_json::Value,
    expect: String,
}

#[derive(Deserialize)]
struct PaypalFile {
    vectors: Vec<PaypalVector>,
}

#[derive(Deserialize)]
struct PaypalVector {
    name: String,
    pem: String,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
    webhook_id: String,
    now: i64,
    expect: String,
}

fn plaid_vectors() -> PlaidFile {
    serde_json::from_str(include_str!("vectors/plaid-jose.json")).unwrap()
}

fn paypal_vectors() -> PaypalFile {
    serde_json::from_str(include_str!("vectors/paypal.json")).unwrap()
}

fn outcome(r: Result<signatures::Verified, VerifyError>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.code().to_owned(),
    }
}

#[test]
fn plaid_vectors_from_jose() {
    let file = plaid_vectors();
    assert!(file.vectors.len() >= 10);
    for v in &file.vectors {
        let headers = Headers::new().with("Plaid-Verification", &v.token);
        let req = Request::new(
            "POST",
            "https://example.com/hook",
            &headers,
            v.body.as_bytes(),
        );
        let key = ProviderKey::plaid(v.answer.to_string().as_bytes()).unwrap();
        assert_eq!(key.kid.as_deref(), Some(file.kid.as_str()), "{}", v.name);
        // What needs no key is refused before any fetch; the rest names the key.
        let got = match key_request(&Scheme::Plaid, &req) {
            Err(e) => e.code().to_owned(),
            Ok(r) => {
                assert_eq!(r, KeyRequest::KeyId(file.kid.clone()), "{}", v.name);
                outcome(verify_with_key(
                    &Scheme::Plaid,
                    &req,
                    &key,
                    &KeyContext::default(),
                    &VerifyOptions::at(v.now),
                ))
            }
        };
        assert_eq!(got, v.expect, "{}", v.name);
    }
}

#[test]
fn plaid_key_answers_that_are_not_keys() {
    for (answer, why) in [
        ("", "empty"),
        ("[]", "not an object"),
        (r#"{"key":{}}"#, "no fields"),
        (
            r#"{"key":{"kty":"RSA","crv":"P-256","x":"AA","y":"AA"}}"#,
            "RSA",
        ),
        (
            r#"{"key":{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}}"#,
            "P-384",
        ),
        (
            r#"{"key":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}"#,
            "short coordinates",
        ),
        (
            r#"{"key":{"kty":"EC","crv":"P-256","x":"hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ","y":"hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ"}}"#,
            "not on the curve",
        ),
    ] {
        assert!(ProviderKey::plaid(answer.as_bytes()).is_err(), "{why}");
    }
    // Plaid's documented example key is a point of P-256.
    let doc = r#"{"key":{"alg":"ES256","created_at":1560466150,"crv":"P-256","expired_at":null,"kid":"bfbd5111-8e33-4643-8ced-b2e642a72f3c","kty":"EC","use":"sig","x":"hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ","y":"shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys"},"request_id":"RZ6Omi1bzzwDaLo"}"#;
    let key = ProviderKey::plaid(doc.as_bytes()).unwrap();
    assert_eq!(key.not_after, None);
    assert!(key.valid_at(0));
}

#[test]
fn a_plaid_key_for_another_kid_never_verifies() {
    let file = plaid_vectors();
    let v = &file.vectors[0];
    let mut answer = v.answer.clone();
    answer["key"]["kid"] = "another-kid".into();
    let key = ProviderKey::plaid(answer.to_string().as_bytes()).unwrap();
    let headers = Headers::new().with("Plaid-Verification", &v.token);
    let req = Request::new("POST", "", &headers, v.body.as_bytes());
    let err = verify_with_key(
        &Scheme::Plaid,
        &req,
        &key,
        &KeyContext::default(),
        &VerifyOptions::at(v.now),
    )
    .unwrap_err();
    assert_eq!(err.code(), "no_match");
}

#[test]
fn paypal_vectors_from_python() {
    let file = paypal_vectors();
    assert!(file.vectors.len() >= 12);
    for v in &file.vectors {
        let headers: Headers = v.headers.iter().collect();
        let req = Request::new(
            "POST",
            "https://example.com/hook",
            &headers,
            v.body.as_bytes(),
        );
        let key = match ProviderKey::paypal(v.pem.as_bytes()) {
            Ok(k) => k,
            Err(e) => {
                let kind = match e {
                    signatures::KeyError::Unsupported(_) => "bad_key:unsupported",
                    _ => "bad_key:malformed",
                };
                assert_eq!(kind, v.expect, "{}", v.name);
                continue;
            }
        };
        let got = match key_request(&Scheme::Paypal, &req) {
            Err(e) => e.code().to_owned(),
            Ok(r) => {
                assert_eq!(r.as_str(), v.headers["PAYPAL-CERT-URL"], "{}", v.name);
                let ctx = KeyContext {
                    webhook_id: Some(&v.webhook_id),
                };
                outcome(verify_with_key(
                    &Scheme::Paypal,
                    &req,
                    &key,
                    &ctx,
                    &VerifyOptions::at(v.now),
                ))
            }
        };
        assert_eq!(got, v.expect, "{}", v.name);
    }
}

#[test]
fn paypal_transmission_time_is_checked_only_with_a_tolerance() {
    let file = paypal_vectors();
    let v = &file.vectors[0];
    let headers: Headers = v.headers.iter().collect();
    let req = Request::new("POST", "", &headers, v.body.as_bytes());
    let key = ProviderKey::paypal(v.pem.as_bytes()).unwrap();
    let ctx = KeyContext {
        webhook_id: Some(&v.webhook_id),
    };
    let late = VerifyOptions::at(v.now + 86_400);
    assert!(verify_with_key(&Scheme::Paypal, &req, &key, &ctx, &late).is_ok());
    let err =
        verify_with_key(&Scheme::Paypal, &req, &key, &ctx, &late.with_tolerance(600)).unwrap_err();
    assert_eq!(err.code(), "timestamp_outside_tolerance");
}

#[test]
fn every_missing_paypal_header_is_named_before_any_fetch() {
    let file = paypal_vectors();
    let v = &file.vectors[0];
    for missing in v.headers.keys() {
        let headers: Headers = v.headers.iter().filter(|(n, _)| *n != missing).collect();
        let req = Request::new("POST", "", &headers, v.body.as_bytes());
        let err = key_request(&Scheme::Paypal, &req).unwrap_err();
        assert_eq!(
            err,
            VerifyError::MissingHeader {
                header: missing.clone()
            }
        );
    }
    let headers: Headers = v
        .headers
        .iter()
        .map(|(n, val)| {
            if n == "PAYPAL-CERT-URL" {
                (n.clone(), "https://api.paypal.com/a b".to_owned())
            } else {
                (n.clone(), val.clone())
            }
        })
        .collect();
    let req = Request::new("POST", "", &headers, v.body.as_bytes());
    assert_eq!(
        key_request(&Scheme::Paypal, &req).unwrap_err().code(),
        "malformed_header"
    );
}

#[test]
fn fetched_key_schemes_refuse_secrets_and_signing() {
    let headers = Headers::new();
    let req = Request::new("POST", "", &headers, b"{}");
    let secrets = [SecretString::from("a-secret-of-thirty-two-characters!!")];
    for scheme in Scheme::FETCHED_KEY {
        assert!(scheme.fetches_keys());
        assert!(!Scheme::BUILT_IN.contains(scheme));
        assert_eq!(scheme.name().parse::<Scheme>().unwrap(), *scheme);
        let err = verify(scheme, &req, &secrets, &VerifyOptions::at(0)).unwrap_err();
        assert_eq!(err, VerifyError::KeyNotFetched);
        assert!(err.is_config_error());
        assert_eq!(
            sign(scheme, &secrets, &SignRequest::new(b"{}", 0)).unwrap_err(),
            signatures::SignError::ProviderKeyOnly
        );
        assert_eq!(
            key_request(scheme, &req).unwrap_err().code(),
            "missing_header"
        );
    }
    for scheme in Scheme::BUILT_IN {
        assert!(!scheme.fetches_keys());
        assert_eq!(
            key_request(scheme, &req).unwrap_err(),
            VerifyError::KeyNotFetched
        );
    }
}

#[test]
fn malformed_inputs_never_panic() {
    let file = paypal_vectors();
    let key = ProviderKey::paypal(file.vectors[0].pem.as_bytes()).unwrap();
    let plaid = plaid_vectors();
    let pkey = ProviderKey::plaid(plaid.vectors[0].answer.to_string().as_bytes()).unwrap();
    let junk: &[&[u8]] = &[
        b"",
        b".",
        b"..",
        b"a.b.c",
        &[0xff, 0xfe],
        &[b'A'; 9000],
        b"\x00",
    ];
    for j in junk {
        let _ = ProviderKey::paypal(j);
        let _ = ProviderKey::plaid(j);
        let headers: Headers = [
            ("Plaid-Verification", *j),
            ("PAYPAL-TRANSMISSION-ID", *j),
            ("PAYPAL-TRANSMISSION-TIME", *j),
            ("PAYPAL-TRANSMISSION-SIG", *j),
            ("PAYPAL-CERT-URL", *j),
            ("PAYPAL-AUTH-ALGO", *j),
        ]
        .into_iter()
        .collect();
        let req = Request::new("POST", "", &headers, j);
        let ctx = KeyContext {
            webhook_id: Some("W"),
        };
        for (scheme, k) in [(Scheme::Plaid, &pkey), (Scheme::Paypal, &key)] {
            let _ = key_request(&scheme, &req);
            assert!(verify_with_key(&scheme, &req, k, &ctx, &VerifyOptions::at(0)).is_err());
        }
    }
}
