//! Properties, for every scheme: what is signed verifies, for arbitrary bodies, secrets
//! and times; changing any one byte of the body, the signature or the timestamp fails.

mod common;

use common::{Built, Case, build_at, cases, check_with, enc, secrets};
use proptest::prelude::*;
use signatures::{
    Headers, KeyEncoding, Request, Scheme, SecretString, SignRequest, VerifyOptions, public_key,
    sign, verify,
};

/// The case with fresh keys made from arbitrary material.
fn rekey(case: &Case, bytes: &[u8], text: &str) -> Case {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut seed = [0u8; 32];
    for (i, b) in bytes.iter().enumerate() {
        seed[i % 32] ^= b;
    }
    let (sign_secret, verify_secret) = match (&case.scheme, case.label.as_str()) {
        (Scheme::Discord, _) => {
            let sk = hex::encode(seed);
            let pk = public_key(&case.scheme, &SecretString::from(sk.clone())).unwrap();
            (sk, pk)
        }
        (_, "standard-webhooks v1a") => {
            let sk = format!("whsk_{}", b64(&seed));
            let pk = public_key(&case.scheme, &SecretString::from(sk.clone())).unwrap();
            (sk, pk)
        }
        // A P-256 scalar cannot be any 32 bytes: the fixture's key pair is kept.
        (Scheme::Sendgrid, _) => (case.sign_secret.clone(), case.verify_secret.clone()),
        (Scheme::StandardWebhooks | Scheme::Svix, _) => {
            let k = format!("whsec_{}", b64(bytes));
            (k.clone(), k)
        }
        // Keys written in hex or base64 (Close, Airtable).
        (Scheme::GenericHmac(g), _) if g.key_encoding == KeyEncoding::Hex => {
            let k = hex::encode(bytes);
            (k.clone(), k)
        }
        (Scheme::GenericHmac(g), _) if g.key_encoding == KeyEncoding::Base64 => {
            let k = b64(bytes);
            (k.clone(), k)
        }
        _ => (text.to_owned(), text.to_owned()),
    };
    Case {
        sign_secret,
        verify_secret,
        ..case.clone()
    }
}

fn verifies(c: &Case, b: &Built, now: i64) -> bool {
    check_with(c, b, &[&c.verify_secret], VerifyOptions::at(now)).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sign_then_verify_and_tamper(
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        key_bytes in proptest::collection::vec(any::<u8>(), 1..48),
        key_text in "\\PC{1,32}",
        ts in 1_000_000_000i64..4_000_000_000,
        body_pos in any::<usize>(),
        body_xor in 1u8..=255,
        sig_pos in any::<usize>(),
        sig_char in 0x20u8..0x7f,
    ) {
        for case in cases() {
            let c = rekey(&case, &key_bytes, &key_text);
            let built = build_at(&c, &payload, ts);
            let res = check_with(&c, &built, &[&c.verify_secret], VerifyOptions::at(ts));
            prop_assert!(res.is_ok(), "{}: {:?}", c.label, res);

            // One body byte (the body Twilio's form mode signs is its parameters, and
            // Mailgun's signature does not cover the body).
            if c.body_signed && c.form.is_none() && !built.body.is_empty() {
                let mut b = built.clone();
                let i = body_pos % b.body.len();
                b.body[i] ^= body_xor;
                prop_assert!(!verifies(&c, &b, ts), "{}: body byte {} changed", c.label, i);
            }

            // One signature character, to anything that is not the same letter.
            if let Some(h) = c.sig_header {
                let v = built.header(h).into_bytes();
                let i = sig_pos % v.len();
                if !v[i].eq_ignore_ascii_case(&sig_char) {
                    let mut t = v.clone();
                    t[i] = sig_char;
                    let b = built.with_header(h, &t);
                    prop_assert!(!verifies(&c, &b, ts), "{}: {:?} -> {:?}", c.label,
                        String::from_utf8_lossy(&v), String::from_utf8_lossy(&t));
                }
            }

            // One timestamp digit, where the timestamp is a header of its own.
            if let Some(h) = c.ts_header {
                let v = built.header(h).into_bytes();
                let digits: Vec<usize> = (0..v.len()).filter(|&i| v[i].is_ascii_digit()).collect();
                let i = digits[sig_pos % digits.len()];
                let mut t = v.clone();
                t[i] = b'0' + (t[i] - b'0' + 1 + body_xor % 9) % 10;
                let b = built.with_header(h, &t);
                prop_assert!(!verifies(&c, &b, ts), "{}: timestamp {:?}", c.label, String::from_utf8_lossy(&t));
            }
        }
    }

    #[test]
    fn twilio_form_parameters(
        params in proptest::collection::vec(("[A-Za-z][A-Za-z0-9]{0,7}", "\\PC{0,16}"), 0..6),
        key in "\\PC{1,24}",
        which in any::<usize>(),
    ) {
        let form: Vec<(String, String)> = params;
        let url = "https://example.com/sms?a=1";
        let keys = secrets(&[&key]);
        let signed = sign(&Scheme::Twilio, &keys, &SignRequest::new(b"", 0).url(url).form(&form)).unwrap();
        let headers: Headers = signed.headers.iter().map(|(n, v)| (n, v)).collect();
        let body = form.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        // From the urlencoded body, and from the parameters as given.
        let req = Request::new("POST", url, &headers, body.as_bytes());
        prop_assert!(verify(&Scheme::Twilio, &req, &keys, &VerifyOptions::at(0)).is_ok());
        let req = Request::new("POST", url, &headers, b"").with_form(&form);
        prop_assert!(verify(&Scheme::Twilio, &req, &keys, &VerifyOptions::at(0)).is_ok());
        if !form.is_empty() {
            let mut changed = form.clone();
            let i = which % changed.len();
            changed[i].1.push('x');
            let req = Request::new("POST", url, &headers, b"").with_form(&changed);
            prop_assert!(verify(&Scheme::Twilio, &req, &keys, &VerifyOptions::at(0)).is_err());
        }
    }

    #[test]
    fn mailgun_fields(token in "[A-Za-z0-9]{1,50}", key in "\\PC{1,24}", ts in 1_000_000_000i64..4_000_000_000) {
        let keys = secrets(&[&key]);
        let signed = sign(&Scheme::Mailgun, &keys, &SignRequest::new(b"", ts).id(&token)).unwrap();
        let f = |n: &str| signed.body_fields.iter().find(|(k, _)| k == n).unwrap().1.clone();
        let none = Headers::new();
        let run = |t: &str, tok: &str, sig: &str| {
            let body = format!("timestamp={t}&token={tok}&signature={sig}");
            verify(&Scheme::Mailgun, &Request::new("POST", "", &none, body.as_bytes()), &keys, &VerifyOptions::at(ts))
        };
        prop_assert!(run(&f("timestamp"), &f("token"), &f("signature")).is_ok());
        prop_assert!(run(&(ts + 1).to_string(), &f("token"), &f("signature")).is_err());
        let longer = format!("{}x", token);
        prop_assert!(run(&f("timestamp"), &longer, &f("signature")).is_err());
        let mut sig = f("signature").into_bytes();
        sig[0] = if sig[0] == b'0' { b'1' } else { b'0' };
        prop_assert!(run(&f("timestamp"), &f("token"), &String::from_utf8(sig).unwrap()).is_err());
    }

    /// Mailgun subaccount events: signed with the subaccount's key and the parent's, the
    /// request verifies with either key alone, in JSON and form bodies, and with neither.
    #[test]
    fn mailgun_parent_signature(
        token in "[A-Za-z0-9]{1,50}",
        sub in "\\PC{1,24}",
        parent in "\\PC{1,24}",
        other in "\\PC{1,24}",
        ts in 1_000_000_000i64..4_000_000_000,
        json in any::<bool>(),
    ) {
        prop_assume!(sub != parent && other != sub && other != parent);
        let signed = sign(&Scheme::Mailgun, &secrets(&[&sub, &parent]), &SignRequest::new(b"", ts).id(&token)).unwrap();
        let body = if json {
            let fields: serde_json::Map<String, serde_json::Value> =
                signed.body_fields.iter().map(|(k, v)| (k.clone(), v.clone().into())).collect();
            serde_json::json!({"signature": fields, "event-data": {}}).to_string()
        } else {
            signed.body_fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
        };
        let none = Headers::new();
        let run = |keys: &[&str]| verify(&Scheme::Mailgun, &Request::new("POST", "", &none, body.as_bytes()), &secrets(keys), &VerifyOptions::at(ts));
        prop_assert_eq!(run(&[&sub]).unwrap().secret_index, 0);
        prop_assert_eq!(run(&[&parent]).unwrap().secret_index, 0);
        prop_assert_eq!(run(&[&other, &parent]).unwrap().secret_index, 1);
        prop_assert_eq!(run(&[&other]).unwrap_err().code(), "no_match");
    }

    /// DocuSign: up to 100 numbered headers, the matching one anywhere among them,
    /// verifies; 101 is refused whatever they hold.
    #[test]
    fn docusign_numbered_headers(
        n in 1usize..=101,
        good_at in any::<usize>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let keys = secrets(&["docusign key"]);
        let good = sign(&Scheme::Docusign, &keys, &SignRequest::new(&payload, 0)).unwrap();
        let good = good.header("X-DocuSign-Signature-1").unwrap().to_owned();
        let decoy = sign(&Scheme::Docusign, &secrets(&["other"]), &SignRequest::new(&payload, 0)).unwrap();
        let decoy = decoy.header("X-DocuSign-Signature-1").unwrap().to_owned();
        let at = good_at % n;
        let headers: Headers = (0..n)
            .map(|i| (format!("X-DocuSign-Signature-{}", i + 1), if i == at { good.clone() } else { decoy.clone() }))
            .collect();
        let res = verify(&Scheme::Docusign, &Request::new("POST", "", &headers, &payload), &keys, &VerifyOptions::at(0));
        if n <= 100 {
            prop_assert_eq!(res.unwrap().secret_index, 0);
        } else {
            prop_assert_eq!(res.unwrap_err().code(), "too_many_signatures");
        }
    }

    /// Arbitrary headers and bodies never panic, for any scheme.
    #[test]
    fn arbitrary_requests_never_panic(
        headers in proptest::collection::vec(("[a-zA-Z0-9-]{1,40}", proptest::collection::vec(any::<u8>(), 0..80)), 0..8),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        url in "\\PC{0,40}",
        now in any::<i64>(),
    ) {
        let mut h: Headers = headers.iter().map(|(n, v)| (n, v)).collect();
        for case in cases() {
            // Also with every header the scheme needs present, holding the arbitrary values.
            for (name, (_, value)) in case.required.iter().zip(headers.iter().cycle()) {
                h.append(name, value);
            }
            let req = Request::new("POST", &url, &h, &body);
            let _ = verify(&case.scheme, &req, &secrets(&[&case.verify_secret]), &VerifyOptions::at(now));
        }
    }
}
