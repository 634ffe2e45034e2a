//! The generic HMAC scheme with an arbitrary configuration (template, prefix, algorithm,
//! encoding, headers) and arbitrary headers.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use signatures::{
    GenericHmac, Headers, HmacAlgorithm, Request, Scheme, SecretString, SignRequest,
    SignatureEncoding, VerifyOptions, sign, verify,
};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    template: String,
    prefix: String,
    sha: u8,
    base64: bool,
    timestamp_header: bool,
    id_header: bool,
    signature: &'a [u8],
    timestamp: &'a [u8],
    id: &'a [u8],
    body: &'a [u8],
    url: &'a str,
    now: i64,
}

fuzz_target!(|i: Input<'_>| {
    let g = GenericHmac {
        template: i.template,
        prefix: i.prefix,
        algorithm: [
            HmacAlgorithm::Sha1,
            HmacAlgorithm::Sha256,
            HmacAlgorithm::Sha512,
        ][usize::from(i.sha % 3)],
        encoding: if i.base64 {
            SignatureEncoding::Base64
        } else {
            SignatureEncoding::Hex
        },
        timestamp_header: i.timestamp_header.then(|| "X-Ts".to_owned()),
        id_header: i.id_header.then(|| "X-Id".to_owned()),
        ..GenericHmac::new("X-Sig")
    };
    let valid = g.validate().is_ok();
    let scheme = Scheme::GenericHmac(g);
    let keys = [SecretString::from("k")];
    let headers = Headers::new()
        .with("X-Sig", i.signature)
        .with("X-Ts", i.timestamp)
        .with("X-Id", i.id);
    let _ = verify(
        &scheme,
        &Request::new("POST", i.url, &headers, i.body),
        &keys,
        &VerifyOptions::at(i.now),
    );

    // Whatever a valid configuration signs, it verifies.
    if valid && !i.url.trim().is_empty() && i.now >= 0 {
        let input = SignRequest::new(i.body, i.now).url(i.url).id("id-1");
        let signed = sign(&scheme, &keys, &input).expect("a valid configuration signs");
        let headers: Headers = signed.headers.iter().map(|(n, v)| (n, v)).collect();
        let req = Request::new("POST", i.url, &headers, i.body);
        verify(&scheme, &req, &keys, &VerifyOptions::at(i.now)).expect("what was signed verifies");
    }
});
