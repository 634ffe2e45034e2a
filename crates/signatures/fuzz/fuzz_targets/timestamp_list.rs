//! `t=…,v1=…` style headers: Stripe, Calendly, Paddle Billing, WorkOS, Buildkite, TikTok.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use signatures::{Headers, Request, Scheme, SecretString, VerifyOptions, verify};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    header: &'a [u8],
    body: &'a [u8],
    now: i64,
    tolerance: Option<u64>,
}

fuzz_target!(|i: Input<'_>| {
    let keys = [
        SecretString::from("whsec_test"),
        SecretString::from("second"),
    ];
    for (scheme, name) in [
        (Scheme::Stripe, "Stripe-Signature"),
        (Scheme::Calendly, "Calendly-Webhook-Signature"),
        (Scheme::PaddleBilling, "Paddle-Signature"),
        (Scheme::Workos, "WorkOS-Signature"),
        (Scheme::Buildkite, "X-Buildkite-Signature"),
        (Scheme::Tiktok, "TikTok-Signature"),
    ] {
        let headers = Headers::new().with(name, i.header);
        let req = Request::new("POST", "", &headers, i.body);
        let opts = VerifyOptions {
            now_unix: i.now,
            tolerance_secs: i.tolerance,
        };
        let _ = verify(&scheme, &req, &keys, &opts);
    }
});
