//! One signature header (with a prefix such as `sha256=` or `v0=`), maybe a timestamp and
//! an id header: GitHub, Intercom, Shopify, Typeform, Linear, Square, DocuSign, Slack,
//! Zoom, Twitch EventSub, Webflow.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use signatures::{Headers, Request, Scheme, SecretString, VerifyOptions, verify};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    signature: &'a [u8],
    timestamp: &'a [u8],
    id: &'a [u8],
    body: &'a [u8],
    now: i64,
    /// How many `X-DocuSign-Signature-N` headers to send (up to 120, past the limit of 100).
    docusign_headers: u8,
}

const SCHEMES: &[(Scheme, &str, &str, &str)] = &[
    (Scheme::Github, "X-Hub-Signature-256", "X-Hub-Signature", ""),
    (Scheme::Intercom, "X-Hub-Signature", "", ""),
    (Scheme::Shopify, "X-Shopify-Hmac-Sha256", "", ""),
    (Scheme::Typeform, "Typeform-Signature", "", ""),
    (Scheme::Linear, "Linear-Signature", "", ""),
    (Scheme::Square, "x-square-hmacsha256-signature", "", ""),
    (
        Scheme::Docusign,
        "X-DocuSign-Signature-1",
        "X-DocuSign-Signature-2",
        "",
    ),
    (
        Scheme::Slack,
        "X-Slack-Signature",
        "X-Slack-Request-Timestamp",
        "",
    ),
    (Scheme::Zoom, "x-zm-signature", "x-zm-request-timestamp", ""),
    (Scheme::Webflow, "x-webflow-signature", "x-webflow-timestamp", ""),
    (
        Scheme::Zendesk,
        "X-Zendesk-Webhook-Signature",
        "X-Zendesk-Webhook-Signature-Timestamp",
        "",
    ),
    (Scheme::Box, "BOX-SIGNATURE-PRIMARY", "BOX-DELIVERY-TIMESTAMP", ""),
    (
        Scheme::TwitchEventsub,
        "Twitch-Eventsub-Message-Signature",
        "Twitch-Eventsub-Message-Timestamp",
        "Twitch-Eventsub-Message-Id",
    ),
];

fuzz_target!(|i: Input<'_>| {
    let keys = [SecretString::from("secret")];
    for (scheme, sig, ts, id) in SCHEMES {
        let mut headers = Headers::new().with(sig, i.signature);
        if !ts.is_empty() {
            headers.append(ts, i.timestamp);
        }
        if !id.is_empty() {
            headers.append(id, i.id);
        }
        let req = Request::new("POST", "https://example.com/hook", &headers, i.body);
        let _ = verify(scheme, &req, &keys, &VerifyOptions::at(i.now));
    }

    // DocuSign with many numbered headers, each holding the fuzzed value.
    let n = usize::from(i.docusign_headers % 121);
    let headers: Headers = (1..=n)
        .map(|k| (format!("X-DocuSign-Signature-{k}"), i.signature))
        .collect();
    let req = Request::new("POST", "https://example.com/hook", &headers, i.body);
    // More than 100 never verifies; 100 or fewer is never refused for their number (an
    // earlier malformed header may be reported first).
    match verify(&Scheme::Docusign, &req, &keys, &VerifyOptions::at(i.now)) {
        Ok(_) => assert!(n <= 100, "{n} headers verified"),
        Err(e) => assert!(n > 100 || e.code() != "too_many_signatures", "{n}: {e}"),
    }
});
