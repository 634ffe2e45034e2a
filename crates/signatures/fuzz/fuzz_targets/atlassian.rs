//! Atlassian's two kinds of webhook: arbitrary `Authorization` and `X-Hub-Signature`
//! values never panic, a JWT is never accepted with a webhook secret nor an HMAC with the
//! app's secret, and what the app's secret signs verifies.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use signatures::{
    Headers, KeyRole, Keys, Request, Scheme, SecretString, SignRequest, VerifyOptions, sign_with,
    verify_with,
};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    authorization: Option<&'a [u8]>,
    hub_signature: Option<&'a [u8]>,
    body: &'a [u8],
    now: i64,
    timestamp: u32,
    webhook_secret: String,
    app_secret: String,
}

fuzz_target!(|i: Input<'_>| {
    let webhook = [SecretString::from(i.webhook_secret.as_str())];
    let app = [SecretString::from(i.app_secret.as_str())];
    let mut headers = Headers::new();
    if let Some(a) = i.authorization {
        headers = headers.with("Authorization", a);
    }
    if let Some(h) = i.hub_signature {
        headers = headers.with("X-Hub-Signature", h);
    }
    let req = Request::new("POST", "https://example.com/hooks", &headers, i.body);
    let keys = Keys::webhook(&webhook).with_app(&app);
    if let Ok(v) = verify_with(&Scheme::Atlassian, &req, keys, &VerifyOptions::at(i.now)) {
        // Whichever matched, it was the kind the request's headers call for.
        let expected = if i.hub_signature.is_some() {
            KeyRole::Webhook
        } else {
            KeyRole::App
        };
        assert_eq!(v.key, expected);
    }
    // What the app's secret signs verifies with it, and only as the app's.
    if i.app_secret.is_empty() {
        return;
    }
    let ts = i64::from(i.timestamp);
    let Ok(signed) = sign_with(
        &Scheme::Atlassian,
        Keys::default().with_app(&app),
        &SignRequest::new(i.body, ts),
    ) else {
        return;
    };
    let headers: Headers = signed.headers.iter().map(|(n, v)| (n, v)).collect();
    let req = Request::new("POST", "https://example.com/hooks", &headers, i.body);
    let v = verify_with(
        &Scheme::Atlassian,
        &req,
        Keys::default().with_app(&app),
        &VerifyOptions::at(ts),
    )
    .expect("what the app's secret signed verifies");
    assert_eq!(v.key, KeyRole::App);
    assert!(
        verify_with(&Scheme::Atlassian, &req, Keys::webhook(&app), &VerifyOptions::at(ts)).is_err(),
        "a JWT never verifies with a webhook secret"
    );
});
