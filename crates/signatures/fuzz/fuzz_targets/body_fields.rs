//! Signatures and timestamps inside the body: Mailgun (JSON or form), Linear
//! (`webhookTimestamp`). The Linear signature is made valid so the JSON is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signatures::{
    Headers, Request, Scheme, SecretString, SignRequest, VerifyOptions, parse_urlencoded, sign,
    verify,
};

fuzz_target!(|body: &[u8]| {
    let keys = [SecretString::from("key")];
    let empty = Headers::new();
    let _ = verify(
        &Scheme::Mailgun,
        &Request::new("POST", "", &empty, body),
        &keys,
        &VerifyOptions::at(1_700_000_000),
    );
    let _ = parse_urlencoded(body);

    let signed =
        sign(&Scheme::Linear, &keys, &SignRequest::new(body, 0)).expect("Linear signs any body");
    let headers: Headers = signed.headers.iter().map(|(n, v)| (n, v)).collect();
    let res = verify(
        &Scheme::Linear,
        &Request::new("POST", "", &headers, body),
        &keys,
        &VerifyOptions::at(1_700_000_000),
    );
    if let Err(e) = res {
        // A valid signature: only the body's timestamp can be at fault.
        assert!(
            matches!(
                e.code(),
                "missing_field" | "malformed_field" | "timestamp_outside_tolerance"
            ),
            "{e}"
        );
    }
});
