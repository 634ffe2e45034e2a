//! Standard Webhooks and Svix: arbitrary id, timestamp, signature list and body, with
//! HMAC and Ed25519 keys configured.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use signatures::{Headers, Request, Scheme, SecretString, VerifyOptions, verify};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    id: &'a [u8],
    timestamp: &'a [u8],
    signature: &'a [u8],
    body: &'a [u8],
    now: i64,
    svix: bool,
}

fuzz_target!(|i: Input<'_>| {
    let (scheme, prefix) = if i.svix {
        (Scheme::Svix, "svix")
    } else {
        (Scheme::StandardWebhooks, "webhook")
    };
    let headers = Headers::new()
        .with(format!("{prefix}-id"), i.id)
        .with(format!("{prefix}-timestamp"), i.timestamp)
        .with(format!("{prefix}-signature"), i.signature);
    let keys = [
        SecretString::from("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        SecretString::from("whpk_6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw="),
    ];
    let req = Request::new("POST", "https://example.com/", &headers, i.body);
    let _ = verify(&scheme, &req, &keys, &VerifyOptions::at(i.now));
});
