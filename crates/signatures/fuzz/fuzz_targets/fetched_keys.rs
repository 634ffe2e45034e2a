//! The fetched-key schemes (Plaid, PayPal): arbitrary key answers from the provider, and
//! arbitrary headers checked with keys that parse (the committed vectors' keys).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use signatures::{
    Headers, KeyContext, ProviderKey, Request, Scheme, VerifyOptions, key_request, verify_with_key,
};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    answer: &'a [u8],
    token: &'a [u8],
    id: &'a [u8],
    time: &'a [u8],
    sig: &'a [u8],
    url: &'a [u8],
    algo: &'a [u8],
    webhook_id: &'a str,
    body: &'a [u8],
    now: i64,
}

fn vector_keys() -> (ProviderKey, ProviderKey) {
    let plaid: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/vectors/plaid-jose.json")).unwrap();
    let paypal: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/vectors/paypal.json")).unwrap();
    let p = ProviderKey::plaid(plaid["vectors"][0]["answer"].to_string().as_bytes()).unwrap();
    let c = ProviderKey::paypal(paypal["vectors"][0]["pem"].as_str().unwrap().as_bytes()).unwrap();
    (p, c)
}

fuzz_target!(|i: Input<'_>| {
    let _ = ProviderKey::plaid(i.answer);
    let _ = ProviderKey::paypal(i.answer);
    let (plaid, paypal) = vector_keys();
    let headers = Headers::new()
        .with("Plaid-Verification", i.token)
        .with("PAYPAL-TRANSMISSION-ID", i.id)
        .with("PAYPAL-TRANSMISSION-TIME", i.time)
        .with("PAYPAL-TRANSMISSION-SIG", i.sig)
        .with("PAYPAL-CERT-URL", i.url)
        .with("PAYPAL-AUTH-ALGO", i.algo);
    let req = Request::new("POST", "", &headers, i.body);
    let ctx = KeyContext {
        webhook_id: Some(i.webhook_id),
    };
    let opts = VerifyOptions::at(i.now);
    for (scheme, key) in [(Scheme::Plaid, &plaid), (Scheme::Paypal, &paypal)] {
        let _ = key_request(&scheme, &req);
        let _ = verify_with_key(&scheme, &req, key, &ctx, &opts);
    }
});
