//! Vectors produced by `tests/vectors/generate.py`, an independent implementation of every
//! scheme written from the providers' documentation (Python standard library +
//! `cryptography`). Each must verify, with the expected secret index, and the crate's own
//! signer must reproduce its headers exactly.

use serde::Deserialize;
use signatures::{
    Headers, KeyRole, Keys, Request, Scheme, SecretString, SignRequest, VerifyOptions, sign,
    verify_with,
};

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    scheme: Scheme,
    signing_secret: String,
    verify_secrets: Vec<String>,
    expect_index: usize,
    method: String,
    url: String,
    sign_url: String,
    body: String,
    form: Option<Vec<(String, String)>>,
    headers: Vec<(String, String)>,
    body_fields: Vec<(String, String)>,
    timestamp: i64,
    id: String,
    now: i64,
    check_sign: bool,
    /// Further keys the signer was given (Mailgun: the parent account's key, which makes
    /// `parent-signature`).
    #[serde(default)]
    extra_signing_secrets: Vec<String>,
    /// `app`: the keys are the app's own secret (Atlassian's OAuth 2.0 apps), not webhook
    /// secrets.
    #[serde(default)]
    key_role: Option<String>,
    /// Whether a signed time comes back; default: the scheme has a tolerance.
    #[serde(default)]
    timestamp_signed: Option<bool>,
}

impl Vector {
    fn role(&self) -> KeyRole {
        match self.key_role.as_deref() {
            None | Some("webhook") => KeyRole::Webhook,
            Some("app") => KeyRole::App,
            Some(other) => panic!("{}: key_role {other:?}", self.name),
        }
    }
}

/// Verifies with `list` in the vector's role: webhook secrets, or the app's secret.
fn verify(
    v: &Vector,
    req: &Request<'_>,
    list: &[SecretString],
    opts: &VerifyOptions,
) -> Result<signatures::Verified, signatures::VerifyError> {
    let keys = match v.role() {
        KeyRole::App => Keys::default().with_app(list),
        _ => Keys::webhook(list),
    };
    verify_with(&v.scheme, req, keys, opts)
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(include_str!("vectors/vectors.json")).expect("vectors.json parses")
}

fn keys(list: &[String]) -> Vec<SecretString> {
    list.iter()
        .map(|s| SecretString::from(s.as_str()))
        .collect()
}

#[test]
fn every_scheme_has_independent_vectors() {
    let v = vectors();
    for scheme in Scheme::BUILT_IN {
        let n = v.iter().filter(|x| &x.scheme == scheme).count();
        assert!(n >= 2, "{scheme} has {n} vectors");
    }
    assert!(v.iter().any(|x| matches!(x.scheme, Scheme::GenericHmac(_))));
    // Mailgun subaccount events, verified with the parent account's key.
    let parent = v
        .iter()
        .filter(|x| x.scheme == Scheme::Mailgun && x.body.contains("parent-signature"))
        .count();
    assert_eq!(parent, 4);
}

#[test]
fn independent_vectors_verify() {
    for v in vectors() {
        let headers: Headers = v.headers.iter().map(|(n, val)| (n, val)).collect();
        let req = Request::new(&v.method, &v.url, &headers, v.body.as_bytes());
        let ok = verify(
            &v,
            &req,
            &keys(&v.verify_secrets),
            &VerifyOptions::at(v.now),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(ok.secret_index, v.expect_index, "{}", v.name);
        assert_eq!(ok.key, v.role(), "{}", v.name);
        if v.timestamp_signed
            .unwrap_or(v.scheme.default_tolerance_secs().is_some())
        {
            assert_eq!(ok.timestamp, Some(v.timestamp), "{}", v.name);
        } else {
            assert_eq!(ok.timestamp, None, "{}", v.name);
        }
        // Every key the request was signed with verifies it on its own (Mailgun: the
        // subaccount's key through `signature`, the parent's through `parent-signature`).
        let signers = std::iter::once(&v.signing_secret).chain(&v.extra_signing_secrets);
        for key in signers.filter(|_| !v.extra_signing_secrets.is_empty()) {
            let ok = verify(
                &v,
                &req,
                &keys(std::slice::from_ref(key)),
                &VerifyOptions::at(v.now),
            );
            assert!(
                ok.is_ok(),
                "{}: signed with one of its keys: {ok:?}",
                v.name
            );
        }
        // The form given explicitly gives the same answer as the body parsed.
        if let Some(form) = &v.form {
            let again = verify(
                &v,
                &req.with_form(form),
                &keys(&v.verify_secrets),
                &VerifyOptions::at(v.now),
            );
            assert_eq!(again.unwrap().secret_index, v.expect_index, "{}", v.name);
        }
    }
}

#[test]
fn independent_vectors_fail_with_the_other_key_only() {
    // Each rotation vector's first key is a decoy: alone, it must not verify.
    for v in vectors().into_iter().filter(|v| v.expect_index == 1) {
        let headers: Headers = v.headers.iter().map(|(n, val)| (n, val)).collect();
        let req = Request::new(&v.method, &v.url, &headers, v.body.as_bytes());
        let err = verify(
            &v,
            &req,
            &keys(&v.verify_secrets[..1]),
            &VerifyOptions::at(v.now),
        )
        .unwrap_err();
        assert_eq!(err.code(), "no_match", "{}: {err}", v.name);
    }
}

#[test]
fn our_signer_reproduces_independent_vectors() {
    for v in vectors()
        .into_iter()
        .filter(|v| v.check_sign && v.expect_index == 0)
    {
        let secret = keys(
            &std::iter::once(v.signing_secret.clone())
                .chain(v.extra_signing_secrets.iter().cloned())
                .collect::<Vec<_>>(),
        );
        let mut input = SignRequest::new(v.body.as_bytes(), v.timestamp)
            .url(&v.sign_url)
            .method(&v.method)
            .id(&v.id);
        if let Some(form) = &v.form {
            input = input.form(form);
        }
        let signed = sign(&v.scheme, &secret, &input).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        for (name, value) in &v.headers {
            assert_eq!(
                signed.header(name),
                Some(value.as_str()),
                "{}: header {name}",
                v.name
            );
        }
        assert_eq!(signed.url, v.url, "{}", v.name);
        assert_eq!(signed.body_fields, v.body_fields, "{}", v.name);
    }
}

#[test]
fn sendgrid_public_key_matches_nodes() {
    // The key pair sendgrid.js made with Node: the crate derives the same public key.
    let node: serde_json::Value =
        serde_json::from_str(include_str!("vectors/sendgrid-node.json")).unwrap();
    let derived = signatures::public_key(
        &Scheme::Sendgrid,
        &SecretString::from(node["private_key"].as_str().unwrap()),
    )
    .unwrap();
    assert_eq!(derived, node["public_key"].as_str().unwrap());
}
