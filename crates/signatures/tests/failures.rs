//! Every way a verification must fail, for every scheme, and the exact reason reported.

mod common;

use common::{Built, Case, ID, TS, build, build_at, cases, check, check_with, secrets};
use signatures::{Headers, Request, Scheme, VerifyError, VerifyOptions, verify};

/// Replaces the character at `i` by another of the same alphabet (hex digit by hex digit,
/// base64 by base64), so the encoding stays valid and only the value changes.
fn tweak_char(s: &str, i: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    b[i] = match b[i] {
        b'0'..=b'8' | b'a'..=b'e' | b'A'..=b'Y' => b[i] + 1,
        b'9' => b'0',
        b'f' => b'a',
        b'Z' => b'A',
        b'g'..=b'y' => b[i] + 1,
        b'z' => b'a',
        b'+' => b'/',
        b'/' => b'+',
        other => panic!("not a signature character: {other}"),
    };
    String::from_utf8(b).unwrap()
}

/// The request with one signature character changed (well inside the signature).
fn tweak_signature(case: &Case, built: &Built) -> Built {
    let h = case.sig_header.unwrap();
    let v = built.header(h);
    // 6 from the end is inside the last signature for every scheme (past any `=` padding).
    built.with_header(h, tweak_char(&v, v.len() - 6))
}

fn is_timestamped(case: &Case) -> bool {
    case.tolerance().is_some()
}

#[test]
fn a_signed_request_verifies_for_every_scheme() {
    for case in cases() {
        let built = build(&case, b"{\"hello\":\"world\"}");
        let ok = check(&case, &built).unwrap_or_else(|e| panic!("{}: {e}", case.label));
        assert_eq!(ok.secret_index, 0, "{}", case.label);
        assert_eq!(
            ok.timestamp,
            is_timestamped(&case).then_some(TS),
            "{}",
            case.label
        );
        let has_id = matches!(
            case.scheme,
            Scheme::StandardWebhooks | Scheme::Svix | Scheme::TwitchEventsub | Scheme::Mailgun
        ) || case.label == "generic-hmac full";
        assert_eq!(ok.id.as_deref(), has_id.then_some(ID), "{}", case.label);
    }
}

#[test]
fn wrong_secret_is_no_match() {
    for case in cases() {
        let built = build(&case, b"payload");
        let err =
            check_with(&case, &built, &[&case.wrong_secret], VerifyOptions::at(TS)).unwrap_err();
        assert_eq!(
            err,
            VerifyError::NoMatch {
                signatures: 1,
                secrets: 1
            },
            "{}",
            case.label
        );
    }
}

#[test]
fn rotation_reports_which_secret_matched() {
    for case in cases() {
        let built = build(&case, b"payload");
        let second = check_with(
            &case,
            &built,
            &[&case.wrong_secret, &case.verify_secret],
            VerifyOptions::at(TS),
        );
        assert_eq!(second.unwrap().secret_index, 1, "{}", case.label);
        let first = check_with(
            &case,
            &built,
            &[&case.verify_secret, &case.wrong_secret],
            VerifyOptions::at(TS),
        );
        assert_eq!(first.unwrap().secret_index, 0, "{}", case.label);
        let err = check_with(
            &case,
            &built,
            &[&case.wrong_secret, &case.wrong_secret],
            VerifyOptions::at(TS),
        );
        assert_eq!(
            err.unwrap_err(),
            VerifyError::NoMatch {
                signatures: 1,
                secrets: 2
            },
            "{}",
            case.label
        );
    }
}

#[test]
fn no_secret_configured() {
    for case in cases() {
        let built = build(&case, b"payload");
        assert_eq!(
            check_with(&case, &built, &[], VerifyOptions::at(TS)),
            Err(VerifyError::NoSecrets)
        );
    }
}

#[test]
fn one_changed_body_byte_fails() {
    for case in cases() {
        let mut built = build(&case, b"{\"amount\":100}");
        if !case.body_signed {
            // Mailgun signs only timestamp + token: the rest of the body is not covered.
            let body = String::from_utf8(built.body.clone())
                .unwrap()
                .replace("amount", "bmount");
            built.body = body.into_bytes();
            assert!(check(&case, &built).is_ok(), "{}", case.label);
            continue;
        }
        let last = built.body.len() - 1;
        built.body[last] ^= 1;
        let res = check(&case, &built);
        let code = res.unwrap_err().code();
        let expected = if case.label == "twilio json" {
            "body_hash_mismatch"
        } else {
            "no_match"
        };
        assert_eq!(code, expected, "{}", case.label);
    }
}

#[test]
fn one_changed_signature_character_fails() {
    for case in cases().into_iter().filter(|c| c.sig_header.is_some()) {
        let built = build(&case, b"payload");
        let err = check(&case, &tweak_signature(&case, &built)).unwrap_err();
        assert_eq!(err.code(), "no_match", "{}: {err}", case.label);
    }
}

/// Moves the signed timestamp by one second (one millisecond for HubSpot), in whichever
/// header carries it.
fn bump_timestamp(case: &Case, built: &Built) -> Built {
    for (name, value) in built.headers.iter() {
        let v = String::from_utf8(value.to_vec()).unwrap();
        let is_sig = case
            .sig_header
            .is_some_and(|h| h.eq_ignore_ascii_case(name));
        let stamped = ["t=", "ts=", "timestamp="];
        if is_sig && !stamped.iter().any(|p| v.starts_with(p)) {
            continue;
        }
        let bumped = if v.contains("T22:13:20Z") {
            v.replace("T22:13:20Z", "T22:13:21Z")
        } else if v.contains("1700000000000") {
            v.replace("1700000000000", "1700000000001")
        } else if v.contains("1700000000") {
            v.replacen("1700000000", "1700000001", 1)
        } else {
            continue;
        };
        return built.with_header(name, bumped);
    }
    panic!("{}: no timestamp header", case.label)
}

#[test]
fn one_changed_timestamp_fails() {
    for case in cases() {
        let built = build(&case, b"payload");
        let err = match case.scheme {
            Scheme::Linear | Scheme::Mailgun => {
                let body = String::from_utf8(built.body.clone()).unwrap().replacen(
                    "1700000000",
                    "1700000001",
                    1,
                );
                check(
                    &case,
                    &Built {
                        body: body.into_bytes(),
                        ..built.clone()
                    },
                )
            }
            _ if !is_timestamped(&case) => continue,
            _ => check(&case, &bump_timestamp(&case, &built)),
        }
        .unwrap_err();
        assert_eq!(err.code(), "no_match", "{}: {err}", case.label);
    }
}

#[test]
fn stale_and_future_timestamps_are_outside_tolerance() {
    for case in cases().into_iter().filter(is_timestamped) {
        let tol = case.tolerance().unwrap();
        let built = build(&case, b"payload");
        let key = [case.verify_secret.as_str()];
        let at = |now: i64| check_with(&case, &built, &key, VerifyOptions::at(now));

        assert!(
            at(TS + tol as i64).is_ok(),
            "{}: at the edge (late)",
            case.label
        );
        assert!(
            at(TS - tol as i64).is_ok(),
            "{}: at the edge (early)",
            case.label
        );
        let stale = at(TS + tol as i64 + 1).unwrap_err();
        assert_eq!(
            stale,
            VerifyError::TimestampOutsideTolerance {
                age_secs: tol as i64 + 1,
                tolerance_secs: tol
            },
            "{}",
            case.label
        );
        let future = at(TS - tol as i64 - 1).unwrap_err();
        assert_eq!(
            future,
            VerifyError::TimestampOutsideTolerance {
                age_secs: -(tol as i64) - 1,
                tolerance_secs: tol
            },
            "{}",
            case.label
        );
        assert!(future.to_string().contains("in the future"), "{future}");
        assert!(
            stale
                .to_string()
                .contains(&format!("age {} s, tolerance {tol} s", tol + 1)),
            "{stale}"
        );
    }
}

#[test]
fn tolerance_can_be_overridden() {
    for case in cases().into_iter().filter(is_timestamped) {
        let built = build(&case, b"payload");
        let key = [case.verify_secret.as_str()];
        let ancient = VerifyOptions::at(TS + 10 * 365 * 86_400).with_tolerance(u64::MAX);
        assert!(
            check_with(&case, &built, &key, ancient).is_ok(),
            "{}",
            case.label
        );
        let strict = check_with(
            &case,
            &built,
            &key,
            VerifyOptions::at(TS + 2).with_tolerance(1),
        )
        .unwrap_err();
        assert_eq!(
            strict,
            VerifyError::TimestampOutsideTolerance {
                age_secs: 2,
                tolerance_secs: 1
            },
            "{}",
            case.label
        );
    }
}

#[test]
fn untimestamped_schemes_ignore_the_clock() {
    for case in cases().into_iter().filter(|c| !is_timestamped(c)) {
        let built = build(&case, b"payload");
        let key = [case.verify_secret.as_str()];
        assert!(
            check_with(&case, &built, &key, VerifyOptions::at(i64::MAX)).is_ok(),
            "{}",
            case.label
        );
        assert!(
            check_with(&case, &built, &key, VerifyOptions::at(i64::MIN)).is_ok(),
            "{}",
            case.label
        );
    }
}

#[test]
fn missing_headers_are_named() {
    for case in cases() {
        let built = build(&case, b"payload");
        // GitHub falls back to the legacy header when the SHA-256 one is absent.
        let built = if case.scheme == Scheme::Github {
            built.without("X-Hub-Signature")
        } else {
            built
        };
        for header in &case.required {
            let err = check(&case, &built.without(header)).unwrap_err();
            match &err {
                VerifyError::MissingHeader { header: h } => {
                    assert!(
                        h.eq_ignore_ascii_case(header),
                        "{}: {h} for {header}",
                        case.label
                    )
                }
                other => panic!("{}: removing {header} gave {other}", case.label),
            }
        }
    }
}

#[test]
fn non_utf8_and_empty_headers_are_malformed() {
    for case in cases() {
        let built = build(&case, b"payload");
        for header in &case.required {
            for value in [&b"\xff\xfe\xfd"[..], b"", b"   "] {
                let err = check(&case, &built.with_header(header, value)).unwrap_err();
                assert!(
                    matches!(&err, VerifyError::MalformedHeader { header: h, .. } if h.eq_ignore_ascii_case(header))
                        || matches!(err, VerifyError::NoSignatures { .. }),
                    "{}: {header}={value:?} gave {err}",
                    case.label
                );
            }
        }
    }
}

#[test]
fn garbage_in_every_header_is_an_error_not_a_panic() {
    let garbage: &[&[u8]] = &[
        b"=",
        b",",
        b";",
        b"v1,",
        b"t=",
        b"sha256=",
        b"v0=",
        b"ts=;h1=",
        b"t=1,v1=zz",
        b"%%%",
        b"\x00\x01",
        b"sha256=not-hex!",
        b"v1,@@@@",
        b"99999999999999999999999",
        b"-5",
        b"2023-13-45T99:99:99Z",
        "é✓".as_bytes(),
    ];
    for case in cases() {
        let built = build(&case, b"payload");
        for header in &case.required {
            for g in garbage {
                assert!(
                    check(&case, &built.with_header(header, g)).is_err(),
                    "{}: {header}={g:?}",
                    case.label
                );
            }
        }
    }
}

#[test]
fn huge_inputs_never_panic() {
    let big = vec![b'a'; 1 << 20];
    let big_header = "A".repeat(256 << 10);
    for case in cases() {
        // A big body still verifies.
        let built = build(&case, &big);
        assert!(check(&case, &built).is_ok(), "{}", case.label);
        // Huge header values are refused, whichever header it is.
        for header in &case.required {
            assert!(
                check(&case, &built.with_header(header, &big_header)).is_err(),
                "{}",
                case.label
            );
        }
        // Non-UTF-8 bodies are only bytes.
        let built = build(&case, &[0xff, 0xfe, 0x00, 0x80]);
        let res = check(&case, &built);
        assert!(
            res.is_ok() || matches!(case.scheme, Scheme::Linear),
            "{}: {res:?}",
            case.label
        );
    }
}

#[test]
fn error_messages_contain_no_secret_and_no_signature() {
    for case in cases() {
        let built = build(&case, b"payload");
        let mut errors = vec![
            check_with(&case, &built, &[&case.wrong_secret], VerifyOptions::at(TS)).unwrap_err(),
        ];
        if let Err(e) = check_with(
            &case,
            &built,
            &[&case.verify_secret],
            VerifyOptions::at(TS + 100_000),
        ) {
            errors.push(e);
        }
        if let Some(h) = case.sig_header {
            errors.push(check(&case, &tweak_signature(&case, &built)).unwrap_err());
            errors.push(check(&case, &built.with_header(h, "v9,AAAA sha9=zz")).unwrap_err());
        }
        for err in &errors {
            let msg = format!("{err} {err:?}");
            for secret in [&case.sign_secret, &case.verify_secret, &case.wrong_secret] {
                assert!(
                    secret.is_empty() || !msg.contains(secret.as_str()),
                    "{}: {msg}",
                    case.label
                );
            }
            for (_, value) in built.headers.iter() {
                let v = String::from_utf8_lossy(value);
                // No 16-character run of any header value (signatures are longer).
                if v.len() >= 16 {
                    for w in v.as_bytes().windows(16) {
                        let w = String::from_utf8_lossy(w);
                        assert!(
                            !msg.contains(w.as_ref()),
                            "{}: {msg} contains {w}",
                            case.label
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn headers_are_case_insensitive_and_debug_hides_values() {
    let case = cases()
        .into_iter()
        .find(|c| c.scheme == Scheme::Stripe)
        .unwrap();
    let built = build(&case, b"payload");
    let shouted: Headers = built
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_uppercase(), v))
        .collect();
    let req = Request::new("POST", &built.url, &shouted, &built.body);
    let keys = secrets(&[&case.verify_secret]);
    assert!(verify(&case.scheme, &req, &keys, &VerifyOptions::at(TS)).is_ok());
    let dbg = format!("{shouted:?} {req:?}");
    assert!(
        dbg.contains("stripe-signature") && !dbg.contains("v1="),
        "{dbg}"
    );
    assert_eq!(shouted.len(), 1);
    assert!(!shouted.is_empty() && Headers::new().is_empty());
    assert_eq!(shouted.get_all("Stripe-Signature").count(), 1);
}

#[test]
fn http_header_maps_convert() {
    let case = cases()
        .into_iter()
        .find(|c| c.scheme == Scheme::Github)
        .unwrap();
    let built = build(&case, b"payload");
    let mut map = http::HeaderMap::new();
    for (n, v) in built.headers.iter() {
        map.append(
            http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(v).unwrap(),
        );
    }
    let headers = Headers::from(&map);
    let req = Request::new("POST", &built.url, &headers, &built.body);
    assert!(
        verify(
            &case.scheme,
            &req,
            &secrets(&[&case.verify_secret]),
            &VerifyOptions::at(TS)
        )
        .is_ok()
    );
}

#[test]
fn signing_with_a_second_timestamp_still_verifies_at_that_time() {
    for case in cases().into_iter().filter(is_timestamped) {
        let built = build_at(&case, b"later", TS + 1000);
        let ok = check_with(
            &case,
            &built,
            &[&case.verify_secret],
            VerifyOptions::at(TS + 1000),
        )
        .unwrap();
        assert_eq!(ok.timestamp, Some(TS + 1000), "{}", case.label);
    }
}
