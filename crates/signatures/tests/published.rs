//! The examples the providers (or the specification's reference libraries) publish,
//! as literal vectors.

use signatures::{
    Headers, Request, Scheme, SecretString, SignRequest, VerifyOptions, sign, verify,
};

fn one(secret: &str) -> Vec<SecretString> {
    vec![SecretString::from(secret)]
}

/// Standard Webhooks reference libraries' test vector (also Svix's).
#[test]
fn standard_webhooks_reference_vector() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = br#"{"test": 2432232314}"#;
    let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    for (scheme, prefix) in [
        (Scheme::StandardWebhooks, "webhook"),
        (Scheme::Svix, "svix"),
    ] {
        let headers = Headers::new()
            .with(format!("{prefix}-id"), "msg_p5jXN8AQM9LWM0D4loKWxJek")
            .with(format!("{prefix}-timestamp"), "1614265330")
            .with(format!("{prefix}-signature"), expected);
        let req = Request::new("POST", "https://example.com/", &headers, body);
        let ok = verify(
            &scheme,
            &req,
            &one(secret),
            &VerifyOptions::at(1_614_265_330),
        )
        .unwrap();
        assert_eq!(ok.secret_index, 0);
        assert_eq!(ok.timestamp, Some(1_614_265_330));
        assert_eq!(ok.id.as_deref(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));

        let input = SignRequest::new(body, 1_614_265_330).id("msg_p5jXN8AQM9LWM0D4loKWxJek");
        let signed = sign(&scheme, &one(secret), &input).unwrap();
        assert_eq!(
            signed.header(&format!("{prefix}-signature")),
            Some(expected)
        );
    }
}

/// Svix white-labels the headers as `webhook-*`: the Svix scheme accepts those too.
#[test]
fn svix_accepts_webhook_prefixed_headers() {
    let headers = Headers::new()
        .with("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
        .with("webhook-timestamp", "1614265330")
        .with(
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
    let req = Request::new("POST", "", &headers, br#"{"test": 2432232314}"#);
    let secret = one("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert!(
        verify(
            &Scheme::Svix,
            &req,
            &secret,
            &VerifyOptions::at(1_614_265_330)
        )
        .is_ok()
    );
}

/// GitHub docs, "Validating webhook deliveries".
#[test]
fn github_docs_example() {
    let headers = Headers::new().with(
        "X-Hub-Signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    );
    let req = Request::new("POST", "https://example.com/", &headers, b"Hello, World!");
    let ok = verify(
        &Scheme::Github,
        &req,
        &one("It's a Secret to Everybody"),
        &VerifyOptions::at(0),
    )
    .unwrap();
    assert_eq!(ok.secret_index, 0);
    assert_eq!(ok.timestamp, None);

    let signed = sign(
        &Scheme::Github,
        &one("It's a Secret to Everybody"),
        &SignRequest::new(b"Hello, World!", 0),
    );
    assert_eq!(
        signed.unwrap().header("X-Hub-Signature-256"),
        Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    );
}

const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";

/// Slack docs, "Verifying requests from Slack".
#[test]
fn slack_docs_example() {
    let headers = Headers::new()
        .with("X-Slack-Request-Timestamp", "1531420618")
        .with(
            "X-Slack-Signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        );
    let req = Request::new(
        "POST",
        "https://example.com/slack",
        &headers,
        SLACK_BODY.as_bytes(),
    );
    let secret = one("8f742231b10e8888abcd99yyyzzz85a5");
    let ok = verify(
        &Scheme::Slack,
        &req,
        &secret,
        &VerifyOptions::at(1_531_420_618 + 60),
    )
    .unwrap();
    assert_eq!(ok.timestamp, Some(1_531_420_618));
    // The example is from 2018: today it is a replay.
    let err = verify(
        &Scheme::Slack,
        &req,
        &secret,
        &VerifyOptions::at(1_700_000_000),
    )
    .unwrap_err();
    assert_eq!(err.code(), "timestamp_outside_tolerance");

    let signed = sign(
        &Scheme::Slack,
        &secret,
        &SignRequest::new(SLACK_BODY.as_bytes(), 1_531_420_618),
    )
    .unwrap();
    assert_eq!(
        signed.header("X-Slack-Signature"),
        Some("v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
    );
}

/// Twilio docs, request validation example (form parameters).
#[test]
fn twilio_docs_example() {
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let form: Vec<(String, String)> = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let body = "CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
    let headers = Headers::new().with("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    let secret = one("12345");
    // From the body as received, and from parameters the framework already parsed.
    let req = Request::new("POST", url, &headers, body.as_bytes());
    assert_eq!(
        verify(&Scheme::Twilio, &req, &secret, &VerifyOptions::at(0))
            .unwrap()
            .secret_index,
        0
    );
    let req = Request::new("POST", url, &headers, b"").with_form(&form);
    assert!(verify(&Scheme::Twilio, &req, &secret, &VerifyOptions::at(0)).is_ok());
    // The URL is signed: http instead of https fails.
    let req = Request::new(
        "POST",
        "http://mycompany.com/myapp.php?foo=1&bar=2",
        &headers,
        body.as_bytes(),
    );
    assert_eq!(
        verify(&Scheme::Twilio, &req, &secret, &VerifyOptions::at(0))
            .unwrap_err()
            .code(),
        "no_match"
    );

    let signed = sign(
        &Scheme::Twilio,
        &secret,
        &SignRequest::new(b"", 0).url(url).form(&form),
    )
    .unwrap();
    assert_eq!(
        signed.header("X-Twilio-Signature"),
        Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    );
    assert_eq!(signed.url, url);
}

/// Mailgun docs, "Securing Webhooks" (documentation.mailgun.com, user manual → webhooks):
/// the `signature` object of a subaccount's event, with `parent-signature`. The page's
/// hex values are placeholders (they end in `12345` and `54321`) and its signing key is not
/// given, so no key verifies them: this checks that the documented shape is read, both
/// signatures counted, and nothing is reported malformed.
#[test]
fn mailgun_docs_subaccount_example_shape() {
    let body = r#"{"signature": {
        "token": "e0b5477167110d68991efc6b9f89f0a11066af27834600e123",
        "timestamp": "1770920772",
        "signature": "12d99f5a15355c180971bed7494d578b093c958f57766f3fe750761baed12345",
        "parent-signature": "13d99f5a15355c180971bed7494d578b093c958f57766f3fe750761baed54321"
    }, "event-data": {"event": "delivered"}}"#;
    let headers = Headers::new();
    let req = Request::new(
        "POST",
        "https://example.com/mailgun",
        &headers,
        body.as_bytes(),
    );
    let err = verify(
        &Scheme::Mailgun,
        &req,
        &one("key-unknown"),
        &VerifyOptions::at(1_770_920_772),
    )
    .unwrap_err();
    assert_eq!(
        err,
        signatures::VerifyError::NoMatch {
            signatures: 2,
            secrets: 1
        }
    );
    // What the same timestamp and token look like when signed for real (subaccount key,
    // then parent key): both keys verify, each through its own field.
    let signed = sign(
        &Scheme::Mailgun,
        &[
            SecretString::from("subaccount key"),
            SecretString::from("parent key"),
        ],
        &SignRequest::new(b"", 1_770_920_772)
            .id("e0b5477167110d68991efc6b9f89f0a11066af27834600e123"),
    )
    .unwrap();
    let fields: serde_json::Map<String, serde_json::Value> = signed
        .body_fields
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    assert_eq!(fields.len(), 4);
    let body = serde_json::json!({"signature": fields}).to_string();
    let req = Request::new(
        "POST",
        "https://example.com/mailgun",
        &headers,
        body.as_bytes(),
    );
    for key in ["subaccount key", "parent key"] {
        assert!(
            verify(
                &Scheme::Mailgun,
                &req,
                &one(key),
                &VerifyOptions::at(1_770_920_772)
            )
            .is_ok(),
            "{key}"
        );
    }
}

/// SendGrid's own SDKs (Node, Python, Ruby, Go, Java, C#) all test with this key,
/// signature, timestamp and payload.
#[test]
fn sendgrid_sdk_example() {
    let public_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
    let other_key = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";
    let body = br#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
    let headers = Headers::new()
        .with(
            "X-Twilio-Email-Event-Webhook-Signature",
            "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=",
        )
        .with("X-Twilio-Email-Event-Webhook-Timestamp", "1588788367");
    let req = Request::new("POST", "https://example.com/", &headers, body);
    let at = VerifyOptions::at(1_588_788_367);
    let ok = verify(&Scheme::Sendgrid, &req, &one(public_key), &at).unwrap();
    assert_eq!(ok.secret_index, 0);
    assert_eq!(ok.timestamp, Some(1_588_788_367));
    // The SDKs' "bad key" and "bad payload" cases.
    let err = verify(&Scheme::Sendgrid, &req, &one(other_key), &at).unwrap_err();
    assert_eq!(err.code(), "no_match");
    let req = Request::new("POST", "https://example.com/", &headers, b"payload");
    let err = verify(&Scheme::Sendgrid, &req, &one(public_key), &at).unwrap_err();
    assert_eq!(err.code(), "no_match");
}
