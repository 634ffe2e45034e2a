//! Schemes that sign the URL (and method): Twilio (form and `bodySHA256`), HubSpot v3,
//! Square, Trello.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use signatures::{Headers, Request, Scheme, SecretString, VerifyOptions, verify};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: &'a str,
    url: &'a str,
    signature: &'a [u8],
    timestamp: &'a [u8],
    body: &'a [u8],
    form: Option<Vec<(String, String)>>,
    now: i64,
}

fuzz_target!(|i: Input<'_>| {
    let keys = [SecretString::from("token")];
    for (scheme, sig, ts) in [
        (Scheme::Twilio, "X-Twilio-Signature", ""),
        (
            Scheme::HubspotV3,
            "X-HubSpot-Signature-v3",
            "X-HubSpot-Request-Timestamp",
        ),
        (Scheme::Square, "x-square-hmacsha256-signature", ""),
        (Scheme::Trello, "X-Trello-Webhook", ""),
    ] {
        let mut headers = Headers::new().with(sig, i.signature);
        if !ts.is_empty() {
            headers.append(ts, i.timestamp);
        }
        let mut req = Request::new(i.method, i.url, &headers, i.body);
        if let Some(form) = &i.form {
            req = req.with_form(form);
        }
        let _ = verify(&scheme, &req, &keys, &VerifyOptions::at(i.now));
    }
});
