//! Public-key schemes with arbitrary signatures and public keys: Discord, Standard Webhooks
//! `v1a` (Ed25519), SendGrid (ECDSA P-256).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use signatures::{Headers, Request, Scheme, SecretString, VerifyOptions, verify};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    signature: &'a [u8],
    timestamp: &'a [u8],
    key: String,
    body: &'a [u8],
    now: i64,
}

fuzz_target!(|i: Input<'_>| {
    let key = [SecretString::from(i.key.as_str())];
    let headers = Headers::new()
        .with("X-Signature-Ed25519", i.signature)
        .with("X-Signature-Timestamp", i.timestamp);
    let req = Request::new("POST", "", &headers, i.body);
    let _ = verify(&Scheme::Discord, &req, &key, &VerifyOptions::at(i.now));

    let key = [SecretString::from(format!("whpk_{}", i.key))];
    let headers = Headers::new()
        .with("webhook-id", "msg_1")
        .with("webhook-timestamp", i.timestamp)
        .with("webhook-signature", i.signature);
    let req = Request::new("POST", "", &headers, i.body);
    let _ = verify(
        &Scheme::StandardWebhooks,
        &req,
        &key,
        &VerifyOptions::at(i.now),
    );

    // SendGrid (ECDSA P-256): arbitrary keys, signatures and timestamps.
    let key = [SecretString::from(i.key.as_str())];
    let headers = Headers::new()
        .with("X-Twilio-Email-Event-Webhook-Signature", i.signature)
        .with("X-Twilio-Email-Event-Webhook-Timestamp", i.timestamp);
    let req = Request::new("POST", "", &headers, i.body);
    let _ = verify(&Scheme::Sendgrid, &req, &key, &VerifyOptions::at(i.now));
});
