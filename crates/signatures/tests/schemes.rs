//! Scheme-specific rules: header formats, rotation inside one header, body fields, URLs,
//! configuration and signing errors.

mod common;

use common::{Built, ID, TS, build, cases, check, check_with, secrets, whsec, whsk};
use signatures::{
    GenericHmac, Headers, HmacAlgorithm, KeyEncoding, Request, Scheme, SecretString, SignError,
    SignRequest, SignatureEncoding, VerifyError, VerifyOptions, public_key, sign, verify,
};

fn case(label: &str) -> common::Case {
    cases()
        .into_iter()
        .find(|c| c.label == label)
        .unwrap_or_else(|| panic!("no case {label}"))
}

fn malformed(header: &str) -> impl Fn(&VerifyError) -> bool + '_ {
    move |e| matches!(e, VerifyError::MalformedHeader { header: h, .. } if h.eq_ignore_ascii_case(header))
}

fn at(now: i64) -> VerifyOptions {
    VerifyOptions::at(now)
}

// --- Standard Webhooks and Svix ---------------------------------------------------------

#[test]
fn standard_webhooks_signature_lists() {
    let c = case("standard-webhooks");
    let built = build(&c, b"payload");
    let good = built.header("webhook-signature");
    let other = build(
        &common::Case {
            sign_secret: whsec(9),
            ..c.clone()
        },
        b"payload",
    )
    .header("webhook-signature");
    let with = |v: &str| check(&c, &built.with_header("webhook-signature", v));

    // The valid one may come anywhere in the list; unknown versions are skipped.
    assert!(with(&format!("{other} {good}")).is_ok());
    assert!(with(&format!("v2,AAAA {good} v1,!!!")).is_ok());
    assert!(with(&format!("  {good}  ")).is_ok());
    assert_eq!(
        with(&other).unwrap_err(),
        VerifyError::NoMatch {
            signatures: 1,
            secrets: 1
        }
    );
    assert_eq!(
        with(&format!("{other} {other}")).unwrap_err(),
        VerifyError::NoMatch {
            signatures: 2,
            secrets: 1
        }
    );
    // Nothing usable.
    assert_eq!(
        with("v2,AAAA v3,BBBB").unwrap_err(),
        VerifyError::UnsupportedAlgorithm {
            header: "webhook-signature".into(),
            found: "v2".into()
        }
    );
    assert!(malformed("webhook-signature")(
        &with("v1,not*base64").unwrap_err()
    ));
    assert!(malformed("webhook-signature")(
        &with("nocomma").unwrap_err()
    ));
    assert!(
        malformed("webhook-signature")(&with("v1a,AAAA").unwrap_err()),
        "v1a must be 64 bytes"
    );
    assert_eq!(
        with(&vec![good.as_str(); 33].join(" ")).unwrap_err(),
        VerifyError::TooManySignatures {
            header: "webhook-signature".into(),
            max: 32
        }
    );
    assert!(with(&vec![good.as_str(); 32].join(" ")).is_ok());
    // A very long tag is not echoed.
    let err = with(&format!("{},AAAA", "v".repeat(40))).unwrap_err();
    assert_eq!(
        err,
        VerifyError::UnsupportedAlgorithm {
            header: "webhook-signature".into(),
            found: "?".into()
        }
    );
}

#[test]
fn standard_webhooks_mixes_hmac_and_ed25519() {
    let hmac = case("standard-webhooks");
    let ed = case("standard-webhooks v1a");
    let h_built = build(&hmac, b"payload");
    let e_built = build(&ed, b"payload");
    let both = format!(
        "{} {}",
        h_built.header("webhook-signature"),
        e_built.header("webhook-signature")
    );
    let built = h_built.with_header("webhook-signature", &both);
    // Each key kind finds its own signature; the index is the configured position.
    let r = check_with(
        &hmac,
        &built,
        &[&ed.verify_secret, &hmac.verify_secret],
        at(TS),
    )
    .unwrap();
    assert_eq!(r.secret_index, 1);
    let r = check_with(
        &hmac,
        &built,
        &[&ed.wrong_secret, &ed.verify_secret],
        at(TS),
    )
    .unwrap();
    assert_eq!(r.secret_index, 1);
    // A whsk_ secret key verifies too (its public half is used).
    assert_eq!(
        check_with(&ed, &e_built, &[&ed.sign_secret], at(TS))
            .unwrap()
            .secret_index,
        0
    );
    // Only one kind of signature, only the other kind of key.
    assert_eq!(
        check_with(&hmac, &h_built, &[&ed.verify_secret], at(TS)).unwrap_err(),
        VerifyError::NoKeyForVersion { version: "v1" }
    );
    assert_eq!(
        check_with(&ed, &e_built, &[&hmac.verify_secret], at(TS)).unwrap_err(),
        VerifyError::NoKeyForVersion { version: "v1a" }
    );
    // Signing with both kinds at once gives both signatures.
    let signed = sign(
        &Scheme::StandardWebhooks,
        &secrets(&[&hmac.sign_secret, &ed.sign_secret]),
        &SignRequest::new(b"payload", TS).id(ID),
    )
    .unwrap();
    assert_eq!(signed.header("webhook-signature"), Some(both.as_str()));
}

#[test]
fn standard_webhooks_key_errors() {
    let c = case("standard-webhooks");
    let built = build(&c, b"payload");
    let cases: &[(&str, VerifyError)] = &[
        (
            "whsec_!!!",
            VerifyError::BadSecret {
                index: 1,
                reason: "not base64 after whsec_",
            },
        ),
        (
            "whsec_",
            VerifyError::BadSecret {
                index: 1,
                reason: "empty",
            },
        ),
        (
            "whsk_%%",
            VerifyError::BadSecret {
                index: 1,
                reason: "not base64 after whsk_",
            },
        ),
        (
            "whsk_AAAA",
            VerifyError::BadSecret {
                index: 1,
                reason: "not a 32-byte seed or a 64-byte key pair",
            },
        ),
        (
            "whpk_%%",
            VerifyError::BadPublicKey {
                index: 1,
                reason: "not base64 after whpk_",
            },
        ),
        (
            "whpk_AAAA",
            VerifyError::BadPublicKey {
                index: 1,
                reason: "not 32 bytes",
            },
        ),
        // The identity point: small order.
        (
            "whpk_AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            VerifyError::BadPublicKey {
                index: 1,
                reason: "a weak (small-order) key",
            },
        ),
    ];
    for (bad, expected) in cases {
        // Keys are all read before matching: a broken key is reported, not skipped.
        let err = check_with(&c, &built, &[&c.wrong_secret, bad], at(TS)).unwrap_err();
        assert_eq!(&err, expected, "{bad}");
        assert!(err.is_config_error());
    }
    // A 64-byte key pair works; one whose public half does not match is refused.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let seed = [7u8; 32];
    let whpk = public_key(&Scheme::StandardWebhooks, &SecretString::from(whsk(7))).unwrap();
    let pk = b64.decode(whpk.strip_prefix("whpk_").unwrap());
    let pair = [&seed[..], &pk.unwrap()[..]].concat();
    let ed = case("standard-webhooks v1a");
    let e_built = build(&ed, b"payload");
    let pair_key = format!("whsk_{}", b64.encode(&pair));
    assert!(check_with(&ed, &e_built, &[&pair_key], at(TS)).is_ok());
    let bad_pair = format!("whsk_{}", b64.encode([&seed[..], &[1u8; 32][..]].concat()));
    assert_eq!(
        check_with(&ed, &e_built, &[&bad_pair], at(TS)).unwrap_err(),
        VerifyError::BadSecret {
            index: 0,
            reason: "public half does not match the seed"
        }
    );
    // A secret without the whsec_ prefix is read as bare base64, as the reference libraries do.
    let bare = whsec(1)[6..].to_owned();
    assert!(check_with(&c, &built, &[&bare], at(TS)).is_ok());
}

#[test]
fn svix_prefers_its_own_headers() {
    let c = case("svix");
    let built = build(&c, b"payload");
    // Also present under webhook- names with garbage: the svix- ones are used.
    let mut h = built.headers.clone();
    h.append("webhook-id", "other");
    h.append("webhook-timestamp", "1");
    h.append("webhook-signature", "v1,AAAA");
    assert!(
        check(
            &c,
            &Built {
                headers: h,
                ..built.clone()
            }
        )
        .is_ok()
    );
    // Nothing at all: named by the svix- header.
    assert_eq!(
        check(&c, &built.without("svix-id")).unwrap_err(),
        VerifyError::MissingHeader {
            header: "svix-id".into()
        }
    );
}

// --- Stripe, Calendly, Paddle -----------------------------------------------------------

#[test]
fn stripe_header_elements() {
    let c = case("stripe");
    let built = build(&c, b"payload");
    let good = built.header("Stripe-Signature");
    let sig = good.split_once(",v1=").unwrap().1.to_owned();
    let with = |v: String| check(&c, &built.with_header("Stripe-Signature", v));
    let h = "Stripe-Signature";

    assert!(
        with(format!(
            "t={TS},v1={},v1={sig},v0={}",
            "0".repeat(64),
            "1".repeat(64)
        ))
        .is_ok()
    );
    assert!(
        with(format!("t={TS}, v1={sig}")).is_ok(),
        "spaces around elements"
    );
    assert!(with(format!("v1={sig},t={TS}")).is_ok(), "any order");
    assert_eq!(
        with(format!("t={TS},v0={sig}")).unwrap_err(),
        VerifyError::UnsupportedAlgorithm {
            header: h.into(),
            found: "v0".into()
        }
    );
    assert_eq!(
        with(format!("t={TS}")).unwrap_err(),
        VerifyError::NoSignatures { header: h.into() }
    );
    assert_eq!(
        with(format!("t={TS},v1=")).unwrap_err(),
        VerifyError::NoSignatures { header: h.into() }
    );
    assert!(
        malformed(h)(&with(format!("v1={sig}")).unwrap_err()),
        "no t"
    );
    assert!(
        malformed(h)(&with(format!("t={TS},t={TS},v1={sig}")).unwrap_err()),
        "two t"
    );
    assert!(
        malformed(h)(&with(format!("t={TS},junk,v1={sig}")).unwrap_err()),
        "not key=value"
    );
    assert!(
        malformed(h)(&with(format!("t={TS},v1=xyz")).unwrap_err()),
        "not hex"
    );
    assert!(
        malformed(h)(&with(format!("t=-{TS},v1={sig}")).unwrap_err()),
        "negative t"
    );
    assert!(
        malformed(h)(&with(format!("t=12a,v1={sig}")).unwrap_err()),
        "t not digits"
    );
    let many = vec![format!("v1={sig}"); 40].join(",");
    assert_eq!(
        with(format!("t={TS},{many}")).unwrap_err(),
        VerifyError::TooManySignatures {
            header: h.into(),
            max: 32
        }
    );
}

// --- Millisecond timestamps: Webflow, WorkOS ---------------------------------------------

#[test]
fn webflow_signs_millisecond_timestamp_colon_body() {
    let c = case("webflow");
    let built = build(&c, b"{\"triggerType\":\"form_submission\"}");
    let ts = built.header("x-webflow-timestamp");
    assert_eq!(ts, format!("{}", TS * 1000), "Unix milliseconds");
    let sig = built.header("x-webflow-signature");
    assert_eq!(sig.len(), 64, "bare lowercase hex, no prefix");
    assert!(
        sig.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );

    // The reported timestamp is in seconds.
    assert_eq!(check(&c, &built).unwrap().timestamp, Some(TS));
    // Uppercase hex decodes to the same bytes.
    let upper = built.with_header("x-webflow-signature", sig.to_uppercase());
    assert!(check(&c, &upper).is_ok());
    // A `sha256=` prefix is not Webflow's format.
    let prefixed = built.with_header("x-webflow-signature", format!("sha256={sig}"));
    assert!(check(&c, &prefixed).is_err());
    // The same signature with the timestamp written in seconds no longer matches and is
    // far outside the tolerance once read as milliseconds.
    let seconds = built.with_header("x-webflow-timestamp", TS.to_string());
    assert!(matches!(
        check(&c, &seconds).unwrap_err(),
        VerifyError::TimestampOutsideTolerance { .. }
    ));
    let h = "x-webflow-timestamp";
    assert!(malformed(h)(
        &check(&c, &built.with_header(h, "1.7e12")).unwrap_err()
    ));
}

#[test]
fn webflow_and_workos_tolerance_is_checked_in_milliseconds() {
    for (label, tolerance) in [("webflow", 300), ("workos", 180)] {
        let c = case(label);
        assert_eq!(c.tolerance(), Some(tolerance), "{label}");
        let built = build(&c, b"payload");
        let key = [c.verify_secret.as_str()];
        // Signed at TS (whole seconds): exactly at the edge on both sides passes.
        let edge = TS + i64::try_from(tolerance).unwrap();
        assert!(check_with(&c, &built, &key, at(edge)).is_ok(), "{label}");
        assert!(check_with(&c, &built, &key, at(TS - i64::try_from(tolerance).unwrap())).is_ok());
        assert!(matches!(
            check_with(&c, &built, &key, at(edge + 1)).unwrap_err(),
            VerifyError::TimestampOutsideTolerance { .. }
        ));
    }
    // One millisecond past the edge is already outside (the check is not rounded to
    // seconds): sign at TS, hand-write a timestamp 1 ms later and re-sign it.
    let c = case("webflow");
    let secret = c.verify_secret.clone();
    let late_ms = (TS + 300) * 1000 + 1;
    let body = b"payload";
    let mut content = late_ms.to_string().into_bytes();
    content.push(b':');
    content.extend_from_slice(body);
    let sig = hmac_sha256_hex(secret.as_bytes(), &content);
    let headers: Headers = [
        ("x-webflow-timestamp", late_ms.to_string()),
        ("x-webflow-signature", sig),
    ]
    .into_iter()
    .collect();
    let req = Request::new("POST", "https://example.com/hooks", &headers, body);
    let keys = secrets(&[&secret]);
    assert!(matches!(
        verify(&c.scheme, &req, &keys, &at(TS)).unwrap_err(),
        VerifyError::TimestampOutsideTolerance { .. }
    ));
    assert!(verify(&c.scheme, &req, &keys, &at(TS + 1)).is_ok());
}

/// HMAC-SHA256 written out from RFC 2104 over `sha2`, independent of the crate's signer.
fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

#[test]
fn workos_header_elements() {
    let c = case("workos");
    let built = build(&c, b"{\"event\":\"user.created\"}");
    let good = built.header("WorkOS-Signature");
    let ms = TS * 1000;
    assert!(
        good.starts_with(&format!("t={ms}, v1=")),
        "WorkOS's own layout: {good}"
    );
    let sig = good.split_once("v1=").unwrap().1.to_owned();
    let with = |v: String| check(&c, &built.with_header("WorkOS-Signature", v));
    let h = "WorkOS-Signature";

    assert_eq!(with(good.clone()).unwrap().timestamp, Some(TS));
    assert!(with(format!("t={ms},v1={sig}")).is_ok(), "no space");
    assert!(with(format!("v1={sig}, t={ms}")).is_ok(), "any order");
    assert!(
        with(format!("t={ms}, v1={}, v1={sig}", "0".repeat(64))).is_ok(),
        "several signatures"
    );
    assert!(matches!(
        with(format!("t={TS}, v1={sig}")).unwrap_err(),
        VerifyError::TimestampOutsideTolerance { .. }
    ));
    assert_eq!(
        with(format!("t={ms}")).unwrap_err(),
        VerifyError::NoSignatures { header: h.into() }
    );
    assert!(
        malformed(h)(&with(format!("v1={sig}")).unwrap_err()),
        "no t"
    );
    assert!(
        malformed(h)(&with(format!("t={ms}, v1=zz")).unwrap_err()),
        "not hex"
    );
    assert!(
        malformed(h)(&with(format!("t={ms}, t={ms}, v1={sig}")).unwrap_err()),
        "two t"
    );

    // Several secrets: WorkOS sends one signature, made with the first.
    let input = SignRequest::new(b"payload", TS);
    let signed = sign(&Scheme::Workos, &secrets(&["one", "two"]), &input).unwrap();
    assert_eq!(
        signed
            .header("WorkOS-Signature")
            .unwrap()
            .matches("v1=")
            .count(),
        1
    );
    // A timestamp whose milliseconds overflow cannot be signed.
    assert_eq!(
        sign(
            &Scheme::Workos,
            &secrets(&["one"]),
            &SignRequest::new(b"payload", i64::MAX)
        )
        .unwrap_err(),
        SignError::TimestampOutOfRange
    );
    assert_eq!(
        sign(
            &Scheme::Webflow,
            &secrets(&["one"]),
            &SignRequest::new(b"payload", i64::MAX)
        )
        .unwrap_err(),
        SignError::TimestampOutOfRange
    );
}

#[test]
fn stripe_and_paddle_sign_every_secret_calendly_the_first() {
    let input = SignRequest::new(b"payload", TS);
    let keys = secrets(&["one", "two"]);
    let stripe = sign(&Scheme::Stripe, &keys, &input).unwrap();
    assert_eq!(
        stripe
            .header("stripe-signature")
            .unwrap()
            .matches("v1=")
            .count(),
        2
    );
    let paddle = sign(&Scheme::PaddleBilling, &keys, &input).unwrap();
    let value = paddle.header("Paddle-Signature").unwrap();
    assert!(
        value.starts_with(&format!("ts={TS};h1=")) && value.matches(";h1=").count() == 2,
        "{value}"
    );
    let calendly = sign(&Scheme::Calendly, &keys, &input).unwrap();
    assert_eq!(
        calendly
            .header("Calendly-Webhook-Signature")
            .unwrap()
            .matches("v1=")
            .count(),
        1
    );
    let docusign = sign(&Scheme::Docusign, &keys, &input).unwrap();
    assert!(docusign.header("X-DocuSign-Signature-2").is_some());

    // Each of Paddle's signatures verifies with its own secret.
    let headers: Headers = paddle.headers.iter().map(|(n, v)| (n, v)).collect();
    let req = Request::new("POST", "", &headers, b"payload");
    for (i, k) in ["one", "two"].iter().enumerate() {
        let ok = verify(
            &Scheme::PaddleBilling,
            &req,
            &secrets(&["zero", k]),
            &at(TS),
        )
        .unwrap();
        assert_eq!(ok.secret_index, 1, "{i}");
    }
}

// --- Body HMACs ---------------------------------------------------------------------------

#[test]
fn github_headers() {
    let c = case("github");
    let built = build(&c, b"payload");
    let legacy = built.header("X-Hub-Signature");
    let modern = built.header("X-Hub-Signature-256");
    // Only the legacy SHA-1 header.
    assert!(check(&c, &built.without("X-Hub-Signature-256")).is_ok());
    // Both present: SHA-256 is the one checked, a broken one is not rescued by SHA-1.
    let broken = built.with_header("X-Hub-Signature-256", format!("sha256={}", "0".repeat(64)));
    assert_eq!(check(&c, &broken).unwrap_err().code(), "no_match");
    assert_eq!(
        check(
            &c,
            &built.with_header("X-Hub-Signature-256", legacy.replace("sha1", "sha512"))
        )
        .unwrap_err(),
        VerifyError::UnsupportedAlgorithm {
            header: "X-Hub-Signature-256".into(),
            found: "sha512".into()
        }
    );
    assert_eq!(
        check(&c, &built.with_header("X-Hub-Signature-256", &modern[7..])).unwrap_err(),
        VerifyError::UnsupportedAlgorithm {
            header: "X-Hub-Signature-256".into(),
            found: "?".into()
        },
        "no prefix"
    );
    assert_eq!(
        check(&c, &built.with_header("X-Hub-Signature-256", "sha256=")).unwrap_err(),
        VerifyError::NoSignatures {
            header: "X-Hub-Signature-256".into()
        }
    );
    assert!(malformed("X-Hub-Signature-256")(
        &check(&c, &built.with_header("X-Hub-Signature-256", "sha256=abc")).unwrap_err()
    ));
}

#[test]
fn docusign_headers() {
    let c = case("docusign");
    let built = build(&c, b"payload");
    let good = built.header("X-DocuSign-Signature-1");
    let moved = built.without("X-DocuSign-Signature-1");
    let two = Built {
        headers: moved
            .headers
            .clone()
            .with("X-DocuSign-Signature-1", "AAAA")
            .with("X-DocuSign-Signature-2", &good),
        ..built.clone()
    };
    assert_eq!(check(&c, &two).unwrap().secret_index, 0);
    // Names that only look alike are not signatures.
    let lookalikes = Built {
        headers: moved
            .headers
            .clone()
            .with("X-DocuSign-Signature-", &good)
            .with("X-DocuSign-Signature-x", &good),
        ..built.clone()
    };
    assert_eq!(
        check(&c, &lookalikes).unwrap_err(),
        VerifyError::MissingHeader {
            header: "X-DocuSign-Signature-1".into()
        }
    );
    // DocuSign allows 100 Connect keys per account, one header each: 100 headers are read,
    // and the matching one may be the last.
    let decoy = build(
        &common::Case {
            sign_secret: "a key of another account".into(),
            ..c.clone()
        },
        b"payload",
    )
    .header("X-DocuSign-Signature-1");
    let numbered = |n: usize, good_at: usize| {
        let mut h = moved.headers.clone();
        for i in 1..=n {
            h.append(
                format!("X-DocuSign-Signature-{i}"),
                if i == good_at { &good } else { &decoy },
            );
        }
        Built {
            headers: h,
            ..built.clone()
        }
    };
    assert_eq!(check(&c, &numbered(100, 100)).unwrap().secret_index, 0);
    assert_eq!(
        check(&c, &numbered(100, 0)).unwrap_err(),
        VerifyError::NoMatch {
            signatures: 100,
            secrets: 1
        }
    );
    // A 101st is refused before anything is checked, wherever the good one is.
    for good_at in [1, 101] {
        assert_eq!(
            check(&c, &numbered(101, good_at)).unwrap_err(),
            VerifyError::TooManySignatures {
                header: "X-DocuSign-Signature-".into(),
                max: 100
            }
        );
    }
    // A value longer than any signature is refused before it is decoded.
    let long = Built {
        headers: moved
            .headers
            .clone()
            .with("X-DocuSign-Signature-1", "A".repeat(132))
            .with("X-DocuSign-Signature-2", &good),
        ..built.clone()
    };
    assert_eq!(
        check(&c, &long).unwrap_err(),
        VerifyError::MalformedHeader {
            header: "X-DocuSign-Signature-1".into(),
            reason: "signature is too long"
        }
    );
    // Padding and surrounding spaces are fine; 128 characters is still read (and fails).
    let spaced = Built {
        headers: moved
            .headers
            .clone()
            .with("X-DocuSign-Signature-1", format!("  {good}  ")),
        ..built.clone()
    };
    assert_eq!(check(&c, &spaced).unwrap().secret_index, 0);
    let edge = Built {
        headers: moved
            .headers
            .clone()
            .with("X-DocuSign-Signature-1", "A".repeat(128)),
        ..built.clone()
    };
    assert_eq!(check(&c, &edge).unwrap_err().code(), "no_match");
    let bad = Built {
        headers: moved
            .headers
            .clone()
            .with("X-DocuSign-Signature-7", b"\xff"),
        ..built.clone()
    };
    assert!(malformed("X-DocuSign-Signature-7")(
        &check(&c, &bad).unwrap_err()
    ));
}

#[test]
fn square_and_hubspot_sign_the_url() {
    for label in [
        "square",
        "hubspot-v3",
        "twilio json",
        "trello",
        "generic-hmac full",
    ] {
        let c = case(label);
        let built = build(&c, b"payload");
        let moved = Built {
            url: format!("{}&y=2", built.url),
            ..built.clone()
        };
        assert!(
            matches!(
                check(&c, &moved).unwrap_err().code(),
                "no_match" | "body_hash_mismatch"
            ),
            "{label}"
        );
        let none = Built {
            url: "  ".into(),
            ..built.clone()
        };
        assert_eq!(
            check(&c, &none).unwrap_err(),
            VerifyError::MissingRequestPart { part: "url" },
            "{label}"
        );
        let signed = sign(
            &c.scheme,
            &secrets(&[&c.sign_secret]),
            &SignRequest::new(b"p", TS).id(ID),
        );
        assert_eq!(
            signed.unwrap_err(),
            SignError::MissingInput("url"),
            "{label}"
        );
    }
}

#[test]
fn hubspot_method_and_uri_decoding() {
    let c = case("hubspot-v3");
    let key = secrets(&[&c.sign_secret]);
    let url = "https://example.com/a%3Ab%2Fc%3Fd%40e%21f%24g%27h%28i%29j%2Ak%2Cl%3Bm%20n%3a";
    let signed = sign(
        &c.scheme,
        &key,
        &SignRequest::new(b"{}", TS).url(url).method("POST"),
    )
    .unwrap();
    let headers: Headers = signed.headers.iter().map(|(n, v)| (n, v)).collect();
    let decoded = "https://example.com/a:b/c?d@e!f$g'h(i)j*k,l;m%20n:";
    for u in [url, decoded] {
        let req = Request::new("POST", u, &headers, b"{}");
        assert!(verify(&c.scheme, &req, &key, &at(TS)).is_ok(), "{u}");
    }
    // %20 is not in HubSpot's list: it stays encoded, so decoding it changes the signature.
    let req = Request::new(
        "POST",
        "https://example.com/a:b/c?d@e!f$g'h(i)j*k,l;m n:",
        &headers,
        b"{}",
    );
    assert_eq!(
        verify(&c.scheme, &req, &key, &at(TS)).unwrap_err().code(),
        "no_match"
    );
    let req = Request::new("GET", url, &headers, b"{}");
    assert_eq!(
        verify(&c.scheme, &req, &key, &at(TS)).unwrap_err().code(),
        "no_match"
    );
    let req = Request::new("", url, &headers, b"{}");
    assert_eq!(
        verify(&c.scheme, &req, &key, &at(TS)).unwrap_err(),
        VerifyError::MissingRequestPart { part: "method" }
    );
    let err = sign(
        &c.scheme,
        &key,
        &SignRequest::new(b"{}", TS).url(url).method(" "),
    )
    .unwrap_err();
    assert_eq!(err, SignError::MissingInput("method"));
    let err = sign(&c.scheme, &key, &SignRequest::new(b"{}", i64::MAX).url(url)).unwrap_err();
    assert_eq!(err, SignError::TimestampOutOfRange);
    // A millisecond timestamp 400 ms in the future is within tolerance; 300.5 s is not.
    let ms = |ms: i64| {
        let h = headers.iter().map(|(n, v)| {
            if n == "x-hubspot-request-timestamp" {
                (n, ms.to_string().into_bytes())
            } else {
                (n, v.to_vec())
            }
        });
        h.collect::<Headers>()
    };
    let h = ms(TS * 1000 + 300_500);
    let err = verify(
        &c.scheme,
        &Request::new("POST", url, &h, b"{}"),
        &key,
        &at(TS),
    )
    .unwrap_err();
    assert_eq!(
        err,
        VerifyError::TimestampOutsideTolerance {
            age_secs: -301,
            tolerance_secs: 300
        }
    );
}

#[test]
fn twilio_modes() {
    let c = case("twilio json");
    let built = build(&c, b"{\"a\":1}");
    assert!(built.url.contains("bodySHA256="));
    // Uppercase hex in the URL parameter is accepted (and signed as such).
    let key = secrets(&[&c.sign_secret]);
    let upper = {
        let (base, hash) = built.url.split_once("bodySHA256=").unwrap();
        format!("{base}bodySHA256={}", hash.to_ascii_uppercase())
    };
    let signed = sign(&c.scheme, &key, &SignRequest::new(b"", TS).url(&upper)).unwrap();
    let headers: Headers = signed.headers.iter().map(|(n, v)| (n, v)).collect();
    assert!(
        verify(
            &c.scheme,
            &Request::new("POST", &upper, &headers, b"{\"a\":1}"),
            &key,
            &at(TS)
        )
        .is_ok()
    );
    // Without a body and without a form, the URL alone is signed (GET callbacks).
    let signed = sign(
        &c.scheme,
        &key,
        &SignRequest::new(b"", TS).url("https://e.com/cb?x=1"),
    )
    .unwrap();
    assert_eq!(signed.url, "https://e.com/cb?x=1");
    let headers: Headers = signed.headers.iter().map(|(n, v)| (n, v)).collect();
    assert!(
        verify(
            &c.scheme,
            &Request::new("GET", "https://e.com/cb?x=1", &headers, b""),
            &key,
            &at(TS)
        )
        .is_ok()
    );
    // A URL without a query gets one.
    let signed = sign(
        &c.scheme,
        &key,
        &SignRequest::new(b"{}", TS).url("https://e.com/cb"),
    )
    .unwrap();
    assert!(signed.url.starts_with("https://e.com/cb?bodySHA256="));

    // Form mode: the order of the parameters does not matter, their values do.
    let f = case("twilio form");
    let built = build(&f, b"");
    let form = f.form.clone().unwrap();
    let mut reversed = form.clone();
    reversed.reverse();
    let key = secrets(&[&f.verify_secret]);
    let req = Request::new("POST", &built.url, &built.headers, b"").with_form(&reversed);
    assert!(verify(&f.scheme, &req, &key, &at(TS)).is_ok());
    let mut changed = form.clone();
    changed[0].1.push('1');
    let req = Request::new("POST", &built.url, &built.headers, b"").with_form(&changed);
    assert_eq!(
        verify(&f.scheme, &req, &key, &at(TS)).unwrap_err().code(),
        "no_match"
    );
}

#[test]
fn linear_webhook_timestamp() {
    let c = case("linear");
    let key = secrets(&[&c.sign_secret]);
    let run = |body: &str| {
        let signed = sign(&c.scheme, &key, &SignRequest::new(body.as_bytes(), TS)).unwrap();
        let headers: Headers = signed.headers.iter().map(|(n, v)| (n, v)).collect();
        verify(
            &c.scheme,
            &Request::new("POST", "", &headers, body.as_bytes()),
            &key,
            &at(TS),
        )
    };
    let ok = run(&format!("{{\"webhookTimestamp\":{}}}", TS * 1000 + 999)).unwrap();
    assert_eq!(ok.timestamp, Some(TS));
    let field = "webhookTimestamp";
    assert_eq!(run("{}").unwrap_err(), VerifyError::MissingField { field });
    assert_eq!(run("[1]").unwrap_err(), VerifyError::MissingField { field });
    assert_eq!(
        run("not json").unwrap_err(),
        VerifyError::MalformedField {
            field,
            reason: "the body is not JSON"
        }
    );
    for v in ["\"1700000000000\"", "-1", "1.5", "null"] {
        let err = run(&format!("{{\"webhookTimestamp\":{v}}}")).unwrap_err();
        assert_eq!(
            err,
            VerifyError::MalformedField {
                field,
                reason: "not a number of milliseconds"
            },
            "{v}"
        );
    }
    assert_eq!(
        run(&format!("{{\"webhookTimestamp\":{}}}", (TS - 61) * 1000)).unwrap_err(),
        VerifyError::TimestampOutsideTolerance {
            age_secs: 61,
            tolerance_secs: 60
        }
    );
}

#[test]
fn mailgun_body_fields() {
    let c = case("mailgun");
    let key = secrets(&[&c.sign_secret]);
    let signed = sign(&c.scheme, &key, &SignRequest::new(b"", TS).id("tok123")).unwrap();
    assert!(signed.headers.is_empty());
    let field = |name: &str| {
        signed
            .body_fields
            .iter()
            .find(|(k, _)| k == name)
            .unwrap()
            .1
            .clone()
    };
    let (ts, token, sig) = (field("timestamp"), field("token"), field("signature"));
    let none = Headers::new();
    let run = |body: String| {
        verify(
            &c.scheme,
            &Request::new("POST", "", &none, body.as_bytes()),
            &key,
            &at(TS),
        )
    };

    // JSON, with the timestamp as a string or as a number.
    let ok = run(format!(
        r#"{{"signature":{{"timestamp":"{ts}","token":"{token}","signature":"{sig}"}}}}"#
    ))
    .unwrap();
    assert_eq!((ok.timestamp, ok.id.as_deref()), (Some(TS), Some("tok123")));
    assert!(
        run(format!(
            r#"{{"signature":{{"timestamp":{ts},"token":"{token}","signature":"{sig}"}}}}"#
        ))
        .is_ok()
    );
    // Form fields, from the body or given already parsed (multipart).
    assert!(
        run(format!(
            "timestamp={ts}&token={token}&signature={sig}&event=opened"
        ))
        .is_ok()
    );
    let form: Vec<(String, String)> = [("timestamp", &ts), ("token", &token), ("signature", &sig)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let req = Request::new("POST", "", &none, b"--multipart--").with_form(&form);
    assert!(verify(&c.scheme, &req, &key, &at(TS)).is_ok());

    let err = |body: String| run(body).unwrap_err();
    assert_eq!(
        err(r#"{"event-data":{}}"#.into()),
        VerifyError::MissingField { field: "signature" }
    );
    assert_eq!(
        err(r#"{"signature":"abc"}"#.into()),
        VerifyError::MalformedField {
            field: "signature",
            reason: "not an object"
        }
    );
    assert_eq!(
        err(format!(
            r#"{{"signature":{{"timestamp":"{ts}","signature":"{sig}"}}}}"#
        )),
        VerifyError::MissingField { field: "token" }
    );
    assert_eq!(
        err(format!(
            r#"{{"signature":{{"timestamp":"{ts}","token":[],"signature":"{sig}"}}}}"#
        )),
        VerifyError::MalformedField {
            field: "token",
            reason: "not a string"
        }
    );
    assert_eq!(
        err(format!("timestamp={ts}&token={token}&signature=zz")),
        VerifyError::MalformedField {
            field: "signature",
            reason: "not hex"
        }
    );
    assert_eq!(
        err(format!("timestamp={ts}&token={token}&signature=")),
        VerifyError::MalformedField {
            field: "signature",
            reason: "not hex"
        }
    );
    assert_eq!(
        err(format!("timestamp=soon&token={token}&signature={sig}")),
        VerifyError::MalformedField {
            field: "timestamp",
            reason: "not a decimal integer"
        }
    );
    assert_eq!(
        err(format!("token={token}&signature={sig}")),
        VerifyError::MissingField { field: "timestamp" }
    );
    assert_eq!(
        err(format!("timestamp={ts}&token=other&signature={sig}")).code(),
        "no_match"
    );
    assert_eq!(
        err(String::new()),
        VerifyError::MissingField { field: "timestamp" }
    );
    // The token is required to sign.
    assert_eq!(
        sign(&c.scheme, &key, &SignRequest::new(b"", TS)).unwrap_err(),
        SignError::MissingInput("id")
    );
}

/// Subaccount events carry `parent-signature` (HMAC of the same timestamp + token with
/// the parent account's key): either signature may match a configured key.
#[test]
fn mailgun_parent_signature() {
    let c = case("mailgun");
    let (sub, parent) = ("subaccount signing key", "parent account signing key");
    let signed = sign(
        &c.scheme,
        &secrets(&[sub, parent]),
        &SignRequest::new(b"", TS).id("tok123"),
    )
    .unwrap();
    let field = |name: &str| {
        signed
            .body_fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let (ts, sig, psig) = (
        field("timestamp"),
        field("signature"),
        field("parent-signature"),
    );
    assert_ne!(sig, psig);
    // One key alone signs no parent-signature.
    let alone = sign(
        &c.scheme,
        &secrets(&[sub]),
        &SignRequest::new(b"", TS).id("tok123"),
    )
    .unwrap();
    assert!(
        alone
            .body_fields
            .iter()
            .all(|(k, _)| k != "parent-signature")
    );

    let none = Headers::new();
    let run = |body: &str, keys: &[&str], now: i64| {
        verify(
            &c.scheme,
            &Request::new("POST", "", &none, body.as_bytes()),
            &secrets(keys),
            &at(now),
        )
    };
    let json = |s: &str, p: &str| {
        format!(
            r#"{{"signature":{{"token":"tok123","timestamp":"{ts}","signature":"{s}","parent-signature":"{p}"}},"event-data":{{"event":"delivered"}}}}"#
        )
    };
    let form = |s: &str, p: &str| {
        format!("timestamp={ts}&token=tok123&signature={s}&parent-signature={p}&event=opened")
    };
    let bad = "00".repeat(32);
    for body in [json(&sig, &psig), form(&sig, &psig)] {
        // The subaccount's key, the parent's key, or both, in any order.
        for (keys, index) in [
            (&[sub][..], 0),
            (&[parent][..], 0),
            (&["other", parent][..], 1),
            (&[parent, sub][..], 0),
            (&["other", "another", sub][..], 2),
        ] {
            let ok = run(&body, keys, TS).unwrap_or_else(|e| panic!("{keys:?}: {e}"));
            assert_eq!(ok.secret_index, index, "{keys:?}");
            assert_eq!((ok.timestamp, ok.id.as_deref()), (Some(TS), Some("tok123")));
        }
        assert_eq!(
            run(&body, &["other"], TS).unwrap_err(),
            VerifyError::NoMatch {
                signatures: 2,
                secrets: 1
            }
        );
        // The tolerance applies whichever signature matches.
        for keys in [&[sub][..], &[parent][..]] {
            assert_eq!(
                run(&body, keys, TS + 301).unwrap_err(),
                VerifyError::TimestampOutsideTolerance {
                    age_secs: 301,
                    tolerance_secs: 300
                }
            );
            assert_eq!(
                run(&body, keys, TS - 301).unwrap_err(),
                VerifyError::TimestampOutsideTolerance {
                    age_secs: -301,
                    tolerance_secs: 300
                }
            );
        }
    }
    // Each signature only vouches for its own key: a wrong parent-signature leaves the
    // subaccount's key working and the parent's key failing, and the other way round.
    for body in [json(&sig, &bad), form(&sig, &bad)] {
        assert!(run(&body, &[sub], TS).is_ok());
        assert_eq!(run(&body, &[parent], TS).unwrap_err().code(), "no_match");
    }
    for body in [json(&bad, &psig), form(&bad, &psig)] {
        assert!(run(&body, &[parent], TS).is_ok());
        assert_eq!(run(&body, &[sub], TS).unwrap_err().code(), "no_match");
    }
    // The parent's signature does not stand in for a missing or broken `signature`.
    let no_sig = format!(
        r#"{{"signature":{{"token":"tok123","timestamp":"{ts}","parent-signature":"{psig}"}}}}"#
    );
    assert_eq!(
        run(&no_sig, &[parent], TS).unwrap_err(),
        VerifyError::MissingField { field: "signature" }
    );
    assert_eq!(
        run(&json("zz", &psig), &[parent], TS).unwrap_err(),
        VerifyError::MalformedField {
            field: "signature",
            reason: "not hex"
        }
    );
    // A parent-signature that is present must be well formed.
    for body in [
        json(&sig, "zz"),
        json(&sig, ""),
        form(&sig, "zz"),
        form(&sig, ""),
    ] {
        assert_eq!(
            run(&body, &[sub], TS).unwrap_err(),
            VerifyError::MalformedField {
                field: "parent-signature",
                reason: "not hex"
            },
            "{body}"
        );
    }
    let number = format!(
        r#"{{"signature":{{"token":"tok123","timestamp":"{ts}","signature":"{sig}","parent-signature":12}}}}"#
    );
    assert_eq!(
        run(&number, &[sub], TS).unwrap_err(),
        VerifyError::MalformedField {
            field: "parent-signature",
            reason: "not a string"
        }
    );
    // null is taken as absent.
    let null = format!(
        r#"{{"signature":{{"token":"tok123","timestamp":"{ts}","signature":"{sig}","parent-signature":null}}}}"#
    );
    assert_eq!(run(&null, &[sub], TS).unwrap().secret_index, 0);
    assert_eq!(
        run(&null, &[parent], TS).unwrap_err(),
        VerifyError::NoMatch {
            signatures: 1,
            secrets: 1
        }
    );
}

#[test]
fn discord_keys_and_signatures() {
    let c = case("discord");
    let built = build(&c, b"{\"type\":1}");
    let h = "X-Signature-Ed25519";
    let sig = built.header(h);
    assert!(
        malformed(h)(&check(&c, &built.with_header(h, &sig[..126])).unwrap_err()),
        "63 bytes"
    );
    assert!(
        malformed(h)(&check(&c, &built.with_header(h, format!("{sig}zz"))).unwrap_err()),
        "not hex"
    );
    // A non-canonical signature (S >= L) is refused by the strict check.
    let mut bytes = hex::decode(&sig).unwrap();
    bytes[63] |= 0xf0;
    assert_eq!(
        check(&c, &built.with_header(h, hex::encode(&bytes)))
            .unwrap_err()
            .code(),
        "no_match"
    );
    for (bad, reason) in [
        ("zz", "not hex"),
        ("abcd", "not 32 bytes"),
        (&"0".repeat(64)[..], "a weak (small-order) key"),
    ] {
        let err = check_with(&c, &built, &[bad], at(TS)).unwrap_err();
        assert_eq!(err, VerifyError::BadPublicKey { index: 0, reason }, "{bad}");
    }
    let key = secrets(&["not hex"]);
    let err = sign(&c.scheme, &key, &SignRequest::new(b"", TS)).unwrap_err();
    assert_eq!(
        err,
        SignError::BadSecret {
            index: 0,
            reason: "not hex"
        }
    );
    // A 64-byte key pair signs like its seed.
    let seed = hex::decode(&c.sign_secret).unwrap();
    let pair = hex::encode([&seed[..], &hex::decode(&c.verify_secret).unwrap()[..]].concat());
    let a = sign(&c.scheme, &secrets(&[&pair]), &SignRequest::new(b"x", TS)).unwrap();
    let b = sign(
        &c.scheme,
        &secrets(&[&c.sign_secret]),
        &SignRequest::new(b"x", TS),
    )
    .unwrap();
    assert_eq!(a, b);
}

#[test]
fn twitch_timestamps() {
    let c = case("twitch-eventsub");
    let key = secrets(&[&c.sign_secret]);
    let built = build(&c, b"{}");
    let ts_h = "Twitch-Eventsub-Message-Timestamp";
    assert_eq!(built.header(ts_h), "2023-11-14T22:13:20Z");
    assert!(malformed(ts_h)(
        &check(&c, &built.with_header(ts_h, "1700000000")).unwrap_err()
    ));
    // Offsets and fractions are honoured: each spelling of the same instant verifies (when
    // signed as sent) and reads as the same time.
    for stamp in [
        "2023-11-15T00:13:20.5+02:00",
        "2023-11-14t20:13:20-02:00",
        "2023-11-14T22:13:20.000000001z",
    ] {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(c.sign_secret.as_bytes()).unwrap();
        mac.update(format!("{ID}{stamp}{{}}").as_bytes());
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let b = built
            .with_header(ts_h, stamp)
            .with_header("Twitch-Eventsub-Message-Signature", sig);
        assert_eq!(check(&c, &b).unwrap().timestamp, Some(TS), "{stamp}");
    }
    assert_eq!(
        sign(
            &c.scheme,
            &key,
            &SignRequest::new(b"", 253_402_300_800).id("x")
        )
        .unwrap_err(),
        SignError::TimestampOutOfRange
    );
    assert_eq!(
        sign(&c.scheme, &key, &SignRequest::new(b"", TS)).unwrap_err(),
        SignError::MissingInput("id")
    );
}

// --- Generic HMAC -------------------------------------------------------------------------

#[test]
fn generic_hmac_configuration_errors() {
    let bad: &[(GenericHmac, &str)] = &[
        (GenericHmac::new(" "), "header is empty"),
        (
            GenericHmac::new("X Sig"),
            "a header name has characters HTTP does not allow",
        ),
        (
            GenericHmac {
                timestamp_header: Some("T:".into()),
                ..GenericHmac::new("X")
            },
            "a header name has characters HTTP does not allow",
        ),
        (
            GenericHmac {
                id_header: Some(String::new()),
                ..GenericHmac::new("X")
            },
            "a header name has characters HTTP does not allow",
        ),
        (
            GenericHmac {
                prefix: " v=".into(),
                ..GenericHmac::new("X")
            },
            "prefix starts with a space or has control characters",
        ),
        (
            GenericHmac {
                prefix: "v=\u{0}".into(),
                ..GenericHmac::new("X")
            },
            "prefix starts with a space or has control characters",
        ),
        (
            GenericHmac {
                template: "{nope}".into(),
                ..GenericHmac::new("X")
            },
            "unknown placeholder in template",
        ),
        (
            GenericHmac {
                template: "{body".into(),
                ..GenericHmac::new("X")
            },
            "unclosed '{' in template (write '{{' for a literal one)",
        ),
        (
            GenericHmac {
                template: "a}b".into(),
                ..GenericHmac::new("X")
            },
            "unmatched '}' in template (write '}}' for a literal one)",
        ),
        (
            GenericHmac {
                template: "".into(),
                ..GenericHmac::new("X")
            },
            "template is empty",
        ),
        (
            GenericHmac {
                template: "{timestamp}".into(),
                ..GenericHmac::new("X")
            },
            "{timestamp} is used but timestamp_header is not set",
        ),
        (
            GenericHmac {
                template: "{id}".into(),
                ..GenericHmac::new("X")
            },
            "{id} is used but id_header is not set",
        ),
    ];
    let headers = Headers::new().with("X", "abcd");
    for (g, reason) in bad {
        assert_eq!(g.validate(), Err(*reason));
        let scheme = Scheme::GenericHmac(g.clone());
        let err = verify(
            &scheme,
            &Request::new("POST", "u", &headers, b""),
            &secrets(&["k"]),
            &at(0),
        )
        .unwrap_err();
        assert_eq!(err, VerifyError::InvalidConfig(reason));
        assert!(err.is_config_error());
        let err = sign(&scheme, &secrets(&["k"]), &SignRequest::new(b"", 0)).unwrap_err();
        assert_eq!(err, SignError::InvalidConfig(reason));
    }
    assert_eq!(GenericHmac::new("X").validate(), Ok(()));
}

#[test]
fn generic_hmac_templates_and_rotation() {
    let g = GenericHmac {
        template: "{{literal}}|{method}|{body}|end".into(),
        algorithm: HmacAlgorithm::Sha1,
        encoding: SignatureEncoding::Base64,
        prefix: "v=".into(),
        ..GenericHmac::new("X-Sig")
    };
    let scheme = Scheme::GenericHmac(g);
    let a = sign(
        &scheme,
        &secrets(&["a"]),
        &SignRequest::new(b"body", 0).method("PUT"),
    )
    .unwrap();
    let b = sign(
        &scheme,
        &secrets(&["b"]),
        &SignRequest::new(b"body", 0).method("PUT"),
    )
    .unwrap();
    // Several values of the header: any may match.
    let headers = Headers::new()
        .with("X-Sig", b.header("X-Sig").unwrap())
        .with("x-sig", a.header("X-Sig").unwrap());
    let req = Request::new("PUT", "", &headers, b"body");
    assert_eq!(
        verify(&scheme, &req, &secrets(&["a"]), &at(0))
            .unwrap()
            .secret_index,
        0
    );
    assert_eq!(
        verify(&scheme, &req, &secrets(&["c", "b"]), &at(0))
            .unwrap()
            .secret_index,
        1
    );
    let req = Request::new("POST", "", &headers, b"body");
    assert_eq!(
        verify(&scheme, &req, &secrets(&["a"]), &at(0))
            .unwrap_err()
            .code(),
        "no_match"
    );
    // Without the header, or with a wrong prefix.
    let empty = Headers::new();
    let req = Request::new("PUT", "", &empty, b"body");
    assert_eq!(
        verify(&scheme, &req, &secrets(&["a"]), &at(0))
            .unwrap_err()
            .code(),
        "missing_header"
    );
    let h = Headers::new().with("X-Sig", "w=AAAA");
    let err = verify(
        &scheme,
        &Request::new("PUT", "", &h, b"body"),
        &secrets(&["a"]),
        &at(0),
    )
    .unwrap_err();
    assert_eq!(
        err,
        VerifyError::UnsupportedAlgorithm {
            header: "X-Sig".into(),
            found: "w".into()
        }
    );
    let h: Headers = (0..33).map(|_| ("X-Sig", "v=AAAA")).collect();
    let err = verify(
        &scheme,
        &Request::new("PUT", "", &h, b"body"),
        &secrets(&["a"]),
        &at(0),
    )
    .unwrap_err();
    assert_eq!(err.code(), "too_many_signatures");
    // Default tolerance: 300 s with a timestamp header, the configured one if set.
    assert_eq!(GenericHmac::new("X").default_tolerance_secs(), None);
    let t = GenericHmac {
        timestamp_header: Some("T".into()),
        ..GenericHmac::new("X")
    };
    assert_eq!(t.default_tolerance_secs(), Some(300));
    assert_eq!(common::generic_full().default_tolerance_secs(), Some(120));
    // The id is required to sign when the template signs it.
    let full = Scheme::GenericHmac(common::generic_full());
    let err = sign(
        &full,
        &secrets(&["k"]),
        &SignRequest::new(b"", 0).url("https://e"),
    )
    .unwrap_err();
    assert_eq!(err, SignError::MissingInput("id"));
}

// --- Signing errors and keys ----------------------------------------------------------------

#[test]
fn signing_errors() {
    for scheme in Scheme::BUILT_IN {
        assert_eq!(
            sign(scheme, &[], &SignRequest::new(b"", TS)).unwrap_err(),
            SignError::NoSecrets,
            "{scheme}"
        );
    }
    for scheme in [
        Scheme::StandardWebhooks,
        Scheme::Svix,
        Scheme::TwitchEventsub,
        Scheme::Mailgun,
    ] {
        let key = secrets(&[&whsec(1)]);
        let err = sign(&scheme, &key, &SignRequest::new(b"", TS).id("")).unwrap_err();
        assert_eq!(err, SignError::MissingInput("id"), "{scheme}");
    }
    for id in [" x", "x\n", "a\u{0}b", "\t"] {
        let input = SignRequest::new(b"", TS).id(id);
        let err = sign(&Scheme::TwitchEventsub, &secrets(&["k"]), &input).unwrap_err();
        assert_eq!(err, SignError::InvalidInput("id"), "{id:?}");
    }
    let err = sign(
        &Scheme::Stripe,
        &secrets(&["k"]),
        &SignRequest::new(b"", -1),
    )
    .unwrap_err();
    assert_eq!(err, SignError::TimestampOutOfRange);
    let sw = Scheme::StandardWebhooks;
    let input = SignRequest::new(b"", TS).id(ID);
    let pk = public_key(&sw, &SecretString::from(whsk(1))).unwrap();
    assert_eq!(
        sign(&sw, &secrets(&[&whsec(1), &pk]), &input).unwrap_err(),
        SignError::BadSecret {
            index: 1,
            reason: "a public key (whpk_) cannot sign"
        }
    );
    assert_eq!(
        sign(&sw, &secrets(&["whsec_***"]), &input).unwrap_err(),
        SignError::BadSecret {
            index: 0,
            reason: "not base64 after whsec_"
        }
    );
    assert_eq!(
        sign(&sw, &secrets(&["whpk_***"]), &input).unwrap_err(),
        SignError::BadSecret {
            index: 0,
            reason: "not base64 after whpk_"
        }
    );
    for scheme in [
        Scheme::Github,
        Scheme::Stripe,
        Scheme::Docusign,
        Scheme::Slack,
    ] {
        let err = sign(&scheme, &secrets(&[""]), &input).unwrap_err();
        assert_eq!(
            err,
            SignError::BadSecret {
                index: 0,
                reason: "empty"
            },
            "{scheme}"
        );
    }
    // Verification with an empty raw secret says which one.
    let c = case("stripe");
    let built = build(&c, b"x");
    assert_eq!(
        check_with(&c, &built, &["nope", ""], at(TS)).unwrap_err(),
        VerifyError::BadSecret {
            index: 1,
            reason: "empty"
        }
    );
}

#[test]
fn public_keys() {
    let sw = Scheme::StandardWebhooks;
    let pk = public_key(&sw, &SecretString::from(whsk(7))).unwrap();
    assert!(pk.starts_with("whpk_"));
    assert_eq!(
        public_key(&Scheme::Svix, &SecretString::from(whsk(7))).unwrap(),
        pk
    );
    assert_eq!(
        public_key(&sw, &SecretString::from(pk.clone())).unwrap_err(),
        SignError::BadSecret {
            index: 0,
            reason: "already a public key (whpk_)"
        }
    );
    assert_eq!(
        public_key(&sw, &SecretString::from(whsec(1))).unwrap_err(),
        SignError::NoPublicKey
    );
    assert_eq!(
        public_key(&sw, &SecretString::from("whsk_!")).unwrap_err(),
        SignError::BadSecret {
            index: 0,
            reason: "not base64 after whsk_"
        }
    );
    assert_eq!(
        public_key(&Scheme::Github, &SecretString::from("x")).unwrap_err(),
        SignError::NoPublicKey
    );
    let d = public_key(
        &Scheme::Discord,
        &SecretString::from(hex::encode([1u8; 32])),
    )
    .unwrap();
    assert_eq!(d.len(), 64);
    assert!(public_key(&Scheme::Discord, &SecretString::from("xyz")).is_err());
}

// --- Names and configuration -----------------------------------------------------------------

#[test]
fn scheme_names_round_trip() {
    #[derive(serde::Deserialize)]
    struct Config {
        webhook_scheme: Scheme,
    }
    for scheme in Scheme::BUILT_IN {
        let toml = format!("webhook_scheme = \"{}\"", scheme.name());
        assert_eq!(
            &toml::from_str::<Config>(&toml).unwrap().webhook_scheme,
            scheme
        );
        assert_eq!(&scheme.name().parse::<Scheme>().unwrap(), scheme);
        assert_eq!(scheme.to_string(), scheme.name());
        assert_eq!(
            serde_json::to_string(scheme).unwrap(),
            format!("\"{}\"", scheme.name())
        );
    }
    for (alias, scheme) in [
        ("twitch", Scheme::TwitchEventsub),
        ("hubspot", Scheme::HubspotV3),
        ("paddle", Scheme::PaddleBilling),
    ] {
        assert_eq!(alias.parse::<Scheme>().unwrap(), scheme);
        let toml = format!("webhook_scheme = \"{alias}\"");
        assert_eq!(
            toml::from_str::<Config>(&toml).unwrap().webhook_scheme,
            scheme
        );
    }
    assert_eq!(
        "generic-hmac".parse::<Scheme>().unwrap_err().to_string(),
        "unknown webhook scheme \"generic-hmac\""
    );
    assert!("nope".parse::<Scheme>().is_err());
    assert!(toml::from_str::<Config>("webhook_scheme = \"nope\"").is_err());

    let toml = r#"webhook_scheme = { generic-hmac = { header = "X-Sig", prefix = "sha256=", algorithm = "sha-256", encoding = "base64", template = "{timestamp}.{body}", timestamp_header = "X-Ts" } }"#;
    let scheme = toml::from_str::<Config>(toml).unwrap().webhook_scheme;
    let Scheme::GenericHmac(g) = &scheme else {
        panic!("{scheme:?}")
    };
    assert_eq!(g.encoding, SignatureEncoding::Base64);
    assert_eq!(scheme.name(), "generic-hmac");
    assert_eq!(scheme.default_tolerance_secs(), Some(300));
    assert!(
        toml::from_str::<Config>(
            r#"webhook_scheme = { generic-hmac = { header = "X", nope = 1 } }"#
        )
        .is_err()
    );
    // Serialised form parses back.
    let json = serde_json::to_string(&scheme).unwrap();
    assert_eq!(serde_json::from_str::<Scheme>(&json).unwrap(), scheme);
}

#[test]
fn errors_have_stable_codes() {
    let all = [
        VerifyError::NoSecrets,
        VerifyError::MissingHeader { header: "h".into() },
        VerifyError::MalformedHeader {
            header: "h".into(),
            reason: "r",
        },
        VerifyError::MissingField { field: "f" },
        VerifyError::MalformedField {
            field: "f",
            reason: "r",
        },
        VerifyError::MissingRequestPart { part: "url" },
        VerifyError::TimestampOutsideTolerance {
            age_secs: 1,
            tolerance_secs: 0,
        },
        VerifyError::TokenExpired { expired_secs: 1 },
        VerifyError::NoSignatures { header: "h".into() },
        VerifyError::UnsupportedAlgorithm {
            header: "h".into(),
            found: "v".into(),
        },
        VerifyError::TooManySignatures {
            header: "h".into(),
            max: 1,
        },
        VerifyError::NoKeyForVersion { version: "v1" },
        VerifyError::NoMatch {
            signatures: 1,
            secrets: 1,
        },
        VerifyError::BadSecret {
            index: 0,
            reason: "r",
        },
        VerifyError::BadPublicKey {
            index: 0,
            reason: "r",
        },
        VerifyError::BodyHashMismatch,
        VerifyError::InvalidConfig("r"),
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(VerifyError::code).collect();
    assert_eq!(codes.len(), all.len());
    let config: Vec<_> = all
        .iter()
        .filter(|e| e.is_config_error())
        .map(VerifyError::code)
        .collect();
    assert_eq!(
        config,
        [
            "no_secrets",
            "bad_secret",
            "bad_public_key",
            "invalid_config"
        ]
    );
    for e in &all {
        assert!(!e.to_string().is_empty());
    }
    let sign_errors = [
        SignError::NoSecrets,
        SignError::BadSecret {
            index: 0,
            reason: "r",
        },
        SignError::MissingInput("id"),
        SignError::InvalidInput("id"),
        SignError::TimestampOutOfRange,
        SignError::InvalidConfig("r"),
        SignError::NoPublicKey,
    ];
    for e in &sign_errors {
        assert!(!e.to_string().is_empty());
    }
    // Debug of what sign returns lists header names, not values.
    let s = sign(
        &Scheme::Github,
        &secrets(&["k"]),
        &SignRequest::new(b"x", 0),
    )
    .unwrap();
    let dbg = format!("{s:?}");
    assert!(
        dbg.contains("X-Hub-Signature-256") && !dbg.contains("sha256="),
        "{dbg}"
    );
}

// --- Shopify ------------------------------------------------------------------------------

#[test]
fn shopify_accepts_the_header_without_x_prefix() {
    // Signature computed with Python's hmac/base64 (independent of our signer).
    let body = br#"{"id":820982911946154508}"#;
    let sig = "5A3oQQfW+WMeNQwhapvpG0xvKI5Ip4Bp9W/9ifwwyGk=";
    let keys = [SecretString::from("shopify-secret")];
    for header in ["X-Shopify-Hmac-Sha256", "Shopify-Hmac-Sha256"] {
        let h = Headers::new().with(header, sig);
        let req = Request::new("POST", "https://sb.example/webhooks/shop/event", &h, body);
        assert!(
            verify(&Scheme::Shopify, &req, &keys, &at(0)).is_ok(),
            "{header}"
        );
    }
    // With both present, the X- header is the one checked.
    let h = Headers::new()
        .with("X-Shopify-Hmac-Sha256", "AAAA")
        .with("Shopify-Hmac-Sha256", sig);
    let req = Request::new("POST", "https://sb.example/webhooks/shop/event", &h, body);
    assert!(verify(&Scheme::Shopify, &req, &keys, &at(0)).is_err());
    // Neither: the error names the documented header.
    let h = Headers::new();
    let req = Request::new("POST", "https://sb.example/webhooks/shop/event", &h, body);
    let e = verify(&Scheme::Shopify, &req, &keys, &at(0)).unwrap_err();
    assert!(e.to_string().contains("X-Shopify-Hmac-Sha256"), "{e}");
}

// --- Zendesk, Box, SendGrid -------------------------------------------------------------

#[test]
fn zendesk_signs_rfc3339_timestamp_then_body_in_base64() {
    let c = case("zendesk");
    let built = build(&c, b"payload");
    assert_eq!(
        built.header("X-Zendesk-Webhook-Signature-Timestamp"),
        "2023-11-14T22:13:20Z"
    );
    let sig = built.header("X-Zendesk-Webhook-Signature");
    assert_eq!(sig.len(), 44, "base64 of 32 bytes: {sig}");
    // Unix seconds are not what Zendesk sends.
    let err = check(
        &c,
        &built.with_header("X-Zendesk-Webhook-Signature-Timestamp", "1700000000"),
    )
    .unwrap_err();
    assert!(
        malformed("X-Zendesk-Webhook-Signature-Timestamp")(&err),
        "{err}"
    );
    // A hex signature is not base64 of the right thing.
    let err = check(
        &c,
        &built.with_header("X-Zendesk-Webhook-Signature", "zz-not-base64"),
    )
    .unwrap_err();
    assert!(malformed("X-Zendesk-Webhook-Signature")(&err), "{err}");
}

#[test]
fn box_primary_and_secondary_keys_rotate() {
    let c = case("box");
    let (old, new) = ("box primary signature key", "box secondary signature key");
    let signed = sign(
        &Scheme::Box,
        &secrets(&[old, new]),
        &SignRequest::new(b"{\"trigger\":\"FILE.UPLOADED\"}", TS),
    )
    .unwrap();
    let headers: Headers = signed.headers.iter().map(|(n, v)| (n, v)).collect();
    let req = Request::new("POST", c.url, &headers, b"{\"trigger\":\"FILE.UPLOADED\"}");
    let run = |keys: &[&str]| verify(&Scheme::Box, &req, &secrets(keys), &at(TS + 1));
    assert_eq!(run(&[old]).unwrap().secret_index, 0);
    assert_eq!(run(&[new]).unwrap().secret_index, 0);
    assert_eq!(run(&["other", new]).unwrap().secret_index, 1);
    assert_eq!(run(&["other"]).unwrap_err().code(), "no_match");
    // Only the secondary signature sent (the primary key was removed): still verifies.
    let built = Built {
        headers,
        url: c.url.to_owned(),
        body: b"{\"trigger\":\"FILE.UPLOADED\"}".to_vec(),
        form: None,
    };
    let only_secondary = built.without("BOX-SIGNATURE-PRIMARY");
    let ok = check_with(&c, &only_secondary, &[new], at(TS)).unwrap();
    assert_eq!(ok.timestamp, Some(TS));
    assert_eq!(
        check_with(&c, &only_secondary, &[old], at(TS))
            .unwrap_err()
            .code(),
        "no_match"
    );
    // Neither: the primary is named as missing.
    let err = check_with(
        &c,
        &only_secondary.without("BOX-SIGNATURE-SECONDARY"),
        &[new],
        at(TS),
    )
    .unwrap_err();
    assert_eq!(
        err,
        VerifyError::MissingHeader {
            header: "BOX-SIGNATURE-PRIMARY".into()
        }
    );
}

#[test]
fn box_version_algorithm_and_window() {
    let c = case("box");
    let built = build(&c, b"payload");
    assert_eq!(built.header("BOX-SIGNATURE-VERSION"), "1");
    assert_eq!(built.header("BOX-SIGNATURE-ALGORITHM"), "HmacSHA256");
    // Absent version and algorithm headers are taken as the documented ones.
    let bare = built
        .without("BOX-SIGNATURE-VERSION")
        .without("BOX-SIGNATURE-ALGORITHM");
    assert!(check(&c, &bare).is_ok());
    for (h, v) in [
        ("BOX-SIGNATURE-VERSION", "2"),
        ("BOX-SIGNATURE-ALGORITHM", "HmacSHA1"),
    ] {
        let err = check(&c, &built.with_header(h, v)).unwrap_err();
        assert_eq!(err.code(), "unsupported_algorithm", "{h}: {err}");
    }
    // Ten minutes, both ways.
    assert_eq!(c.tolerance(), Some(600));
    assert!(check_with(&c, &built, &[&c.verify_secret], at(TS + 9 * 60)).is_ok());
    let err = check_with(&c, &built, &[&c.verify_secret], at(TS + 11 * 60)).unwrap_err();
    assert_eq!(err.code(), "timestamp_outside_tolerance");
    // Box's documented example is written with an offset: the text as sent is signed.
    let err = check(
        &c,
        &built.with_header("BOX-DELIVERY-TIMESTAMP", "2023-11-14T15:13:20-07:00"),
    )
    .unwrap_err();
    assert_eq!(err.code(), "no_match", "same instant, other text: {err}");
    let err = check(
        &c,
        &built.with_header("BOX-DELIVERY-TIMESTAMP", "2023-11-14 22:13:20"),
    )
    .unwrap_err();
    assert!(malformed("BOX-DELIVERY-TIMESTAMP")(&err), "{err}");
}

#[test]
fn sendgrid_keys_and_signatures() {
    let c = case("sendgrid");
    let built = build(&c, b"[{\"event\":\"processed\"}]");
    // The public key is the base64 SubjectPublicKeyInfo DER SendGrid shows; PEM armour
    // and line breaks are accepted too.
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
        &c.verify_secret[..64],
        &c.verify_secret[64..]
    );
    assert!(check_with(&c, &built, &[&pem], at(TS)).is_ok());
    // Signing is deterministic (RFC 6979).
    assert_eq!(
        build(&c, b"[{\"event\":\"processed\"}]").header("X-Twilio-Email-Event-Webhook-Signature"),
        built.header("X-Twilio-Email-Event-Webhook-Signature")
    );
    // A configured value that is not a P-256 public key is the operator's fault.
    for bad in ["not base64!", "AAAA", c.sign_secret.as_str()] {
        let err = check_with(&c, &built, &[bad], at(TS)).unwrap_err();
        assert_eq!(err.code(), "bad_public_key", "{bad}: {err}");
        assert!(err.is_config_error());
    }
    // A signature that is base64 but not DER.
    let err = check(
        &c,
        &built.with_header("X-Twilio-Email-Event-Webhook-Signature", "AAAAAAAA"),
    )
    .unwrap_err();
    assert!(
        malformed("X-Twilio-Email-Event-Webhook-Signature")(&err),
        "{err}"
    );
    // A public key cannot sign; the secret key gives its public key.
    let err = sign(
        &Scheme::Sendgrid,
        &secrets(&[&c.verify_secret]),
        &SignRequest::new(b"x", TS),
    )
    .unwrap_err();
    assert!(
        matches!(err, SignError::BadSecret { index: 0, .. }),
        "{err}"
    );
    assert_eq!(
        public_key(
            &Scheme::Sendgrid,
            &SecretString::from(c.sign_secret.clone())
        )
        .unwrap(),
        c.verify_secret
    );
}

// --- Buildkite ----------------------------------------------------------------------------

#[test]
fn buildkite_signature_header() {
    let c = case("buildkite");
    let built = build(&c, b"{\"event\":\"build.finished\"}");
    let value = built.header("X-Buildkite-Signature");
    assert!(
        value.starts_with(&format!("timestamp={TS},signature=")),
        "{value}"
    );
    // The order of the two elements does not matter; spaces after the comma are read.
    let (ts, sig) = value.split_once(',').unwrap();
    assert!(
        check(
            &c,
            &built.with_header("X-Buildkite-Signature", format!("{sig}, {ts}"))
        )
        .is_ok()
    );
    for (bad, code) in [
        ("signature=abcd", "malformed_header"),
        (&*format!("timestamp={TS}"), "no_signatures"),
        (&*format!("timestamp={TS},v1=abcd"), "unsupported_algorithm"),
        (&*format!("timestamp={TS},signature=zz"), "malformed_header"),
        (&*format!("timestamp=soon,{sig}"), "malformed_header"),
        ("timestamp", "malformed_header"),
    ] {
        let err = check(&c, &built.with_header("X-Buildkite-Signature", bad)).unwrap_err();
        assert_eq!(err.code(), code, "{bad}: {err}");
    }
    // The plain X-Buildkite-Token mode is not a signature: refused as missing.
    let token_only = built
        .without("X-Buildkite-Signature")
        .with_header("X-Buildkite-Token", "buildkite webhook token");
    let err = check(&c, &token_only).unwrap_err();
    assert_eq!(err.code(), "missing_header", "{err}");
}

// --- monday.com ---------------------------------------------------------------------------

const MONDAY_SECRET: &str = "monday-app-signing-secret-0123456789";

/// A token made by hand (hmac + base64url), not by the crate's signer.
fn monday_token(secret: &str, header: &str, claims: &str) -> String {
    use base64::Engine as _;
    use hmac::{KeyInit, Mac};
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&mac.finalize().into_bytes()))
}

fn monday(token: &str, keys: &[&str], now: i64) -> Result<signatures::Verified, VerifyError> {
    let headers = Headers::new().with("Authorization", token);
    let req = Request::new("POST", "https://example.com/hooks", &headers, b"{}");
    verify(&Scheme::Monday, &req, &secrets(keys), &at(now))
}

const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

#[test]
fn monday_jwt_verifies_with_the_signing_secret() {
    let claims = format!(
        r#"{{"accountId":1,"userId":2,"aud":"https://example.com/hooks","exp":{},"iat":{TS}}}"#,
        TS + 300
    );
    let token = monday_token(MONDAY_SECRET, HS256, &claims);
    let ok = monday(&token, &[MONDAY_SECRET], TS + 1).unwrap();
    assert_eq!((ok.secret_index, ok.timestamp), (0, Some(TS)));
    // With a Bearer prefix too.
    assert!(monday(&format!("Bearer {token}"), &[MONDAY_SECRET], TS + 1).is_ok());
    // Rotation: the matching secret is found second.
    let ok = monday(
        &token,
        &["another-app-signing-secret-000000", MONDAY_SECRET],
        TS,
    )
    .unwrap();
    assert_eq!(ok.secret_index, 1);
    // Wrong secret.
    let err = monday(&token, &["another-app-signing-secret-000000"], TS).unwrap_err();
    assert_eq!(err.code(), "no_match", "{err}");
    // One changed claim character (the signature no longer covers it).
    let (head, rest) = token.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let mut p = payload.as_bytes().to_vec();
    p[3] = if p[3] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{head}.{}.{sig}", String::from_utf8(p).unwrap());
    assert!(monday(&tampered, &[MONDAY_SECRET], TS).is_err());
    // Our signer's token verifies, and is HS256 with iat, exp 300 s later and aud.
    let signed = sign(
        &Scheme::Monday,
        &secrets(&[MONDAY_SECRET]),
        &SignRequest::new(b"{}", TS).url("https://example.com/hooks"),
    )
    .unwrap();
    let ours = signed.header("Authorization").unwrap();
    assert_eq!(
        monday(ours, &[MONDAY_SECRET], TS + 299).unwrap().timestamp,
        Some(TS)
    );
    assert_eq!(
        monday(ours, &[MONDAY_SECRET], TS + 301).unwrap_err().code(),
        "token_expired"
    );
}

#[test]
fn monday_times_are_checked_with_the_callers_clock() {
    let token = |claims: &str| monday_token(MONDAY_SECRET, HS256, claims);
    let both = token(&format!(r#"{{"exp":{},"iat":{TS}}}"#, TS + 60));
    // Expired: the caller's clock, not the system's, decides.
    assert!(monday(&both, &[MONDAY_SECRET], TS + 60).is_ok());
    let err = monday(&both, &[MONDAY_SECRET], TS + 61).unwrap_err();
    assert_eq!(err, VerifyError::TokenExpired { expired_secs: 1 });
    assert_eq!(err.code(), "token_expired");
    // iat further in the future than the tolerance.
    let err = monday(&both, &[MONDAY_SECRET], TS - 301).unwrap_err();
    assert_eq!(
        err,
        VerifyError::TimestampOutsideTolerance {
            age_secs: -301,
            tolerance_secs: 300
        }
    );
    // iat older than the tolerance, even without exp.
    let old = token(&format!(r#"{{"iat":{TS}}}"#));
    assert!(monday(&old, &[MONDAY_SECRET], TS + 300).is_ok());
    let err = monday(&old, &[MONDAY_SECRET], TS + 301).unwrap_err();
    assert_eq!(err.code(), "timestamp_outside_tolerance");
    // Neither claim: only the signature is checked.
    let bare = token(r#"{"accountId":1}"#);
    let ok = monday(&bare, &[MONDAY_SECRET], i64::MAX).unwrap();
    assert_eq!(ok.timestamp, None);
    // Claims that are not whole seconds.
    for claims in [r#"{"exp":"soon"}"#, r#"{"iat":1.5}"#] {
        let err = monday(&token(claims), &[MONDAY_SECRET], TS).unwrap_err();
        assert_eq!(err.code(), "malformed_header", "{claims}: {err}");
    }
}

#[test]
fn monday_malformed_tokens_are_clear_errors() {
    let claims = format!(r#"{{"iat":{TS}}}"#);
    // Another algorithm (or none) is refused by name before any key is tried.
    for (alg, found) in [
        (r#"{"alg":"HS512","typ":"JWT"}"#, "HS512"),
        (r#"{"alg":"RS256"}"#, "RS256"),
    ] {
        let t = monday_token(MONDAY_SECRET, alg, &claims);
        let err = monday(&t, &[MONDAY_SECRET], TS).unwrap_err();
        assert_eq!(
            err,
            VerifyError::UnsupportedAlgorithm {
                header: "Authorization".into(),
                found: found.into()
            }
        );
    }
    let none = monday_token(MONDAY_SECRET, r#"{"alg":"none"}"#, &claims);
    let err = monday(&none, &[MONDAY_SECRET], TS).unwrap_err();
    assert!(malformed("Authorization")(&err), "{err}");
    for bad in ["x", "a.b.c", "Bearer ", "....", &"A".repeat(9000), "é.é.é"] {
        let err = monday(bad, &[MONDAY_SECRET], TS).unwrap_err();
        assert!(
            matches!(err.code(), "malformed_header" | "no_signatures"),
            "{bad:.20}: {err}"
        );
    }
    let headers = Headers::new();
    let req = Request::new("POST", "", &headers, b"");
    let err = verify(&Scheme::Monday, &req, &secrets(&[MONDAY_SECRET]), &at(TS)).unwrap_err();
    assert_eq!(err.code(), "missing_header");
    // An empty configured secret is the operator's fault.
    let t = monday_token(MONDAY_SECRET, HS256, &claims);
    assert_eq!(monday(&t, &[""], TS).unwrap_err().code(), "bad_secret");
}

// --- generic-hmac: key encodings and separated signatures (Close, Airtable, PagerDuty) ----

#[test]
fn generic_hmac_decodes_hex_and_base64_keys() {
    for (label, bad) in [
        ("generic-hmac hex key", "not hex!"),
        ("generic-hmac base64 key", "not base64!"),
    ] {
        let c = case(label);
        let built = build(&c, b"{\"event\":{}}");
        assert!(check(&c, &built).is_ok(), "{label}");
        // The same text used as a raw key does not verify: the key is what it decodes to.
        let Scheme::GenericHmac(g) = &c.scheme else {
            unreachable!()
        };
        let raw = common::Case {
            scheme: Scheme::GenericHmac(GenericHmac {
                key_encoding: KeyEncoding::Raw,
                ..g.clone()
            }),
            ..c.clone()
        };
        assert_eq!(
            check(&raw, &built).unwrap_err().code(),
            "no_match",
            "{label}"
        );
        let err = check_with(&c, &built, &[bad], at(TS)).unwrap_err();
        assert!(
            matches!(err, VerifyError::BadSecret { index: 0, .. }),
            "{label}: {err}"
        );
        let err = sign(&c.scheme, &secrets(&[bad]), &SignRequest::new(b"x", TS)).unwrap_err();
        assert!(
            matches!(err, SignError::BadSecret { index: 0, .. }),
            "{label}: {err}"
        );
    }
    // Hex keys are read in either case.
    let c = case("generic-hmac hex key");
    let built = build(&c, b"x");
    assert!(check_with(&c, &built, &[&c.verify_secret.to_uppercase()], at(TS)).is_ok());
    // The settings read from configuration, with the defaults left out when written.
    let g: GenericHmac = serde_json::from_str(
        r#"{"header":"close-sig-hash","template":"{timestamp}{body}","timestamp_header":"close-sig-timestamp","key_encoding":"hex"}"#,
    )
    .unwrap();
    assert_eq!(g, common::generic_close());
    let plain = serde_json::to_string(&GenericHmac::new("X-Sig")).unwrap();
    assert!(
        !plain.contains("key_encoding") && !plain.contains("separator"),
        "{plain}"
    );
    assert!(
        serde_json::from_str::<GenericHmac>(r#"{"header":"h","key_encoding":"rot13"}"#).is_err()
    );
}

#[test]
fn generic_hmac_separator_reads_every_signature() {
    let c = case("generic-hmac separator");
    let body = b"{\"event\":{\"id\":\"01\"}}";
    // Signing with two secrets writes both, comma-separated; either verifies alone.
    let keys = secrets(&["pagerduty secret", "pagerduty new secret"]);
    let signed = sign(&c.scheme, &keys, &SignRequest::new(body, TS)).unwrap();
    let value = signed.header("X-PagerDuty-Signature").unwrap().to_owned();
    assert_eq!(value.matches("v1=").count(), 2, "{value}");
    assert!(value.contains(",v1="), "{value}");
    let headers = Headers::new().with("X-PagerDuty-Signature", value.as_str());
    let req = Request::new("POST", "", &headers, body);
    for (i, k) in ["pagerduty secret", "pagerduty new secret"]
        .iter()
        .enumerate()
    {
        let ok = verify(&c.scheme, &req, &secrets(&["other", k]), &at(TS)).unwrap();
        assert_eq!(ok.secret_index, 1, "{i}");
    }
    let err = verify(&c.scheme, &req, &secrets(&["other"]), &at(TS)).unwrap_err();
    assert_eq!(
        err,
        VerifyError::NoMatch {
            signatures: 2,
            secrets: 1
        }
    );
    let one = build(&c, body);
    let sig = one.header("X-PagerDuty-Signature");
    for (bad, code) in [
        ("v2=abcd", "unsupported_algorithm"),
        (",, ,", "no_signatures"),
        ("v1=zz", "malformed_header"),
        (&*format!("{sig},v1=not-hex"), "malformed_header"),
        (&*format!("{sig},v1="), "no_signatures"),
    ] {
        let err = check(&c, &one.with_header("X-PagerDuty-Signature", bad)).unwrap_err();
        assert_eq!(err.code(), code, "{bad}: {err}");
    }
    // Other versions beside v1 are skipped; spaces around parts are read.
    assert!(
        check(
            &c,
            &one.with_header("X-PagerDuty-Signature", format!("v2=abcd , {sig}"))
        )
        .is_ok()
    );
    // More than 32 signatures are refused, not checked.
    let many = vec![sig.as_str(); 33].join(",");
    let err = check(&c, &one.with_header("X-PagerDuty-Signature", many)).unwrap_err();
    assert_eq!(err.code(), "too_many_signatures");
    // A blank separator is a configuration error.
    for sep in ["", " ", "\n"] {
        let g = GenericHmac {
            separator: Some(sep.into()),
            ..common::generic_pagerduty()
        };
        assert!(g.validate().is_err(), "{sep:?}");
    }
}

// --- FusionAuth -----------------------------------------------------------------------------

const FA_SECRET: &str = "fusionauth-hmac-signing-key-0123456789";

/// PEM armour around base64 DER, 64 characters a line.
fn pem(label: &str, b64: &str) -> String {
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn fusionauth_claims(body: &[u8], extra: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body));
    format!(
        r#"{{"iat":{TS},"exp":{},"request_body_sha256":"{hash}"{extra}}}"#,
        TS + 600
    )
}

fn fusionauth(
    token: &str,
    body: &[u8],
    keys: &[&str],
    now: i64,
) -> Result<signatures::Verified, VerifyError> {
    let headers = Headers::new().with("X-FusionAuth-Signature-JWT", token);
    let req = Request::new("POST", "https://example.com/hooks", &headers, body);
    verify(&Scheme::Fusionauth, &req, &secrets(keys), &at(now))
}

#[test]
fn fusionauth_checks_the_body_hash_and_times() {
    let body = br#"{"event":{"type":"user.create"}}"#;
    let token = monday_token(FA_SECRET, HS256, &fusionauth_claims(body, ""));
    let ok = fusionauth(&token, body, &[FA_SECRET], TS + 1).unwrap();
    assert_eq!((ok.secret_index, ok.timestamp), (0, Some(TS)));
    // Rotation and a wrong key.
    assert_eq!(
        fusionauth(
            &token,
            body,
            &["other-key-000000000000000000000000", FA_SECRET],
            TS
        )
        .unwrap()
        .secret_index,
        1
    );
    assert_eq!(
        fusionauth(&token, body, &["other-key-000000000000000000000000"], TS)
            .unwrap_err()
            .code(),
        "no_match"
    );
    // One changed body byte: the signed hash no longer matches.
    let err = fusionauth(
        &token,
        br#"{"event":{"type":"user.delete"}}"#,
        &[FA_SECRET],
        TS,
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::BodyHashMismatch);
    // The claim is the base64 digest FusionAuth sends; the same digest in hex, or in
    // unpadded or URL-safe base64, is not it.
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(body);
    for other in [
        hex::encode(digest),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest),
        base64::engine::general_purpose::URL_SAFE.encode(digest),
    ] {
        let claims = format!(r#"{{"iat":{TS},"request_body_sha256":"{other}"}}"#);
        assert_eq!(
            fusionauth(
                &monday_token(FA_SECRET, HS256, &claims),
                body,
                &[FA_SECRET],
                TS
            )
            .unwrap_err(),
            VerifyError::BodyHashMismatch,
            "{other}"
        );
    }
    // No hash claim: the token does not vouch for the body.
    let bare = monday_token(FA_SECRET, HS256, &format!(r#"{{"iat":{TS}}}"#));
    let err = fusionauth(&bare, body, &[FA_SECRET], TS).unwrap_err();
    assert!(malformed("X-FusionAuth-Signature-JWT")(&err), "{err}");
    // Expired, and issued too far in the future.
    assert_eq!(
        fusionauth(&token, body, &[FA_SECRET], TS + 601)
            .unwrap_err()
            .code(),
        "token_expired"
    );
    assert_eq!(
        fusionauth(&token, body, &[FA_SECRET], TS - 301)
            .unwrap_err()
            .code(),
        "timestamp_outside_tolerance"
    );
    // Our signer's token verifies, and covers the body.
    let signed = sign(
        &Scheme::Fusionauth,
        &secrets(&[FA_SECRET]),
        &SignRequest::new(body, TS),
    )
    .unwrap();
    let ours = signed.header("X-FusionAuth-Signature-JWT").unwrap();
    assert!(fusionauth(ours, body, &[FA_SECRET], TS).is_ok());
    assert_eq!(
        fusionauth(ours, b"{}", &[FA_SECRET], TS).unwrap_err(),
        VerifyError::BodyHashMismatch
    );
}

/// FusionAuth's OKP keys: an Ed25519 pair made by Python's `cryptography` (the
/// `fusionauth EdDSA` vector's). Our signer's EdDSA token verifies with the public key
/// alone, and neither an HMAC secret nor an EC public key is tried for it.
#[test]
fn fusionauth_ed25519_keys_sign_and_verify() {
    let vectors: serde_json::Value =
        serde_json::from_str(include_str!("vectors/vectors.json")).unwrap();
    let v = vectors
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "fusionauth EdDSA")
        .unwrap();
    let private = pem("PRIVATE KEY", v["signing_secret"].as_str().unwrap());
    let public = v["verify_secrets"][0].as_str().unwrap();
    let ec_public = pem("PUBLIC KEY", &case("sendgrid").verify_secret);
    let body = br#"{"event":{"type":"user.update"}}"#;
    let signed = sign(
        &Scheme::Fusionauth,
        &secrets(&[&private]),
        &SignRequest::new(body, TS),
    )
    .unwrap();
    let token = signed
        .header("X-FusionAuth-Signature-JWT")
        .unwrap()
        .to_owned();
    let ok = fusionauth(&token, body, &[FA_SECRET, &ec_public, public], TS).unwrap();
    assert_eq!((ok.secret_index, ok.timestamp), (2, Some(TS)));
    assert_eq!(
        fusionauth(&token, body, &[FA_SECRET, &ec_public], TS).unwrap_err(),
        VerifyError::NoKeyForVersion { version: "EdDSA" }
    );
    assert_eq!(
        fusionauth(&token, b"{}", &[public], TS).unwrap_err(),
        VerifyError::BodyHashMismatch
    );
    // Another Ed25519 key (the rotation vector's decoy) does not verify it.
    let decoy = vectors
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "fusionauth EdDSA (rotation)")
        .unwrap()["verify_secrets"][0]
        .as_str()
        .unwrap();
    assert_eq!(
        fusionauth(&token, body, &[decoy], TS).unwrap_err().code(),
        "no_match"
    );
}

#[test]
fn fusionauth_keys_check_only_their_own_algorithms() {
    let c = case("sendgrid");
    // A P-256 key pair (the SendGrid fixture's), armoured as PEM at run time.
    let ec_private = pem("PRIVATE KEY", &c.sign_secret);
    let ec_public = pem("PUBLIC KEY", &c.verify_secret);
    let body = br#"{"event":{"type":"user.login.success"}}"#;
    let signed = sign(
        &Scheme::Fusionauth,
        &secrets(&[&ec_private]),
        &SignRequest::new(body, TS),
    )
    .unwrap();
    let token = signed
        .header("X-FusionAuth-Signature-JWT")
        .unwrap()
        .to_owned();
    assert!(token.starts_with("eyJ"), "{token}");
    let ok = fusionauth(&token, body, &[FA_SECRET, &ec_public], TS).unwrap();
    assert_eq!(
        ok.secret_index, 1,
        "the HMAC secret is skipped for an ES256 token"
    );
    // Only HMAC secrets configured: no key can check ES256.
    let err = fusionauth(&token, body, &[FA_SECRET], TS).unwrap_err();
    assert_eq!(err, VerifyError::NoKeyForVersion { version: "ES256" });
    // Algorithm confusion: an HS256 token keyed with the public key's text is never
    // checked against the configured public key.
    let forged = monday_token(&ec_public, HS256, &fusionauth_claims(body, ""));
    let err = fusionauth(&forged, body, &[&ec_public], TS).unwrap_err();
    assert_eq!(err, VerifyError::NoKeyForVersion { version: "HS256" });
    // A PEM that is no public key is the operator's fault.
    let err = fusionauth(&token, body, &[&pem("PUBLIC KEY", "AAAA")], TS).unwrap_err();
    assert!(
        matches!(err, VerifyError::BadPublicKey { index: 0, .. }),
        "{err}"
    );
    // An EdDSA token with only an HMAC secret configured: no key of its family. `none` is
    // not an algorithm jsonwebtoken reads: the header is malformed.
    for (alg, code) in [
        (r#"{"alg":"EdDSA"}"#, "no_key_for_version"),
        (r#"{"alg":"none"}"#, "malformed_header"),
    ] {
        let t = monday_token(FA_SECRET, alg, &fusionauth_claims(body, ""));
        let err = fusionauth(&t, body, &[FA_SECRET], TS).unwrap_err();
        assert_eq!(err.code(), code, "{alg}: {err}");
    }
    for bad in ["", "x.y", &"e".repeat(9000)] {
        let err = fusionauth(bad, body, &[FA_SECRET], TS).unwrap_err();
        assert!(
            matches!(err.code(), "malformed_header" | "no_signatures"),
            "{bad:.10}: {err}"
        );
    }
    let err = sign(
        &Scheme::Fusionauth,
        &secrets(&[&ec_public]),
        &SignRequest::new(body, TS),
    )
    .unwrap_err();
    assert!(
        matches!(err, SignError::BadSecret { index: 0, .. }),
        "{err}"
    );
}
