//! The `atlassian` scheme: admin webhooks (`X-Hub-Signature`, the webhook secret) and
//! webhooks of OAuth 2.0 apps (`Authorization: Bearer <JWT>`, the app's client secret)
//! at one URL, each checked only with its own key. The JWTs come from npm `jose`
//! (`vectors/atlassian.mjs`), the HMACs from the `hmac` crate directly, not from the
//! crate's signer.

use hmac::{KeyInit, Mac};
use serde_json::Value;
use signatures::{
    Headers, KeyRole, Keys, Request, Scheme, SecretString, SignRequest, VerifyError, VerifyOptions,
    sign_with, verify, verify_with,
};

const TS: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"timestamp":1700000000000,"webhookEvent":"jira:issue_created"}"#;
const ADMIN_SECRET: &str = "atlassian-admin-webhook-secret-0123456789";

fn jose() -> Value {
    serde_json::from_str(include_str!("vectors/atlassian-jose.json")).unwrap()
}

fn token(name: &str) -> String {
    jose()["tokens"][name].as_str().unwrap().to_owned()
}

fn client_secret() -> String {
    jose()["client_secret"].as_str().unwrap().to_owned()
}

fn keys(list: &[&str]) -> Vec<SecretString> {
    list.iter().map(|s| SecretString::from(*s)).collect()
}

fn hub(secret: &str, body: &[u8]) -> String {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// Verifies a request with `headers` and `body` with the webhook and app keys given.
fn check(
    headers: &Headers,
    body: &[u8],
    webhook: &[&str],
    app: &[&str],
    now: i64,
) -> Result<signatures::Verified, VerifyError> {
    let req = Request::new(
        "POST",
        "https://sb.example/webhooks/jira/event",
        headers,
        body,
    );
    let (w, a) = (keys(webhook), keys(app));
    verify_with(
        &Scheme::Atlassian,
        &req,
        Keys::webhook(&w).with_app(&a),
        &VerifyOptions::at(now),
    )
}

fn bearer(t: &str) -> Headers {
    Headers::new().with("Authorization", format!("Bearer {t}"))
}

#[test]
fn an_oauth_app_jwt_verifies_with_the_client_secret_and_says_so() {
    let cs = client_secret();
    let ok = check(
        &bearer(&token("valid")),
        BODY,
        &[ADMIN_SECRET],
        &[&cs],
        TS + 3,
    )
    .unwrap();
    assert_eq!(ok.key, KeyRole::App);
    assert_eq!(ok.secret_index, 0);
    assert_eq!(ok.timestamp, Some(TS), "iat");
    // With only the client secret (no admin webhooks configured).
    assert!(check(&bearer(&token("valid")), BODY, &[], &[&cs], TS + 3).is_ok());
    // Rotation of the client secret: the second matches.
    let ok = check(
        &bearer(&token("valid")),
        BODY,
        &[],
        &["old-client-secret", &cs],
        TS,
    )
    .unwrap();
    assert_eq!((ok.key, ok.secret_index), (KeyRole::App, 1));
    // Until exp (iat + 180), not after.
    assert!(check(&bearer(&token("valid")), BODY, &[], &[&cs], TS + 180).is_ok());
    let err = check(&bearer(&token("valid")), BODY, &[], &[&cs], TS + 181).unwrap_err();
    assert_eq!(err, VerifyError::TokenExpired { expired_secs: 1 });
}

#[test]
fn the_jwt_does_not_cover_the_body() {
    // Atlassian's token has no claim about the body: any body verifies with it while it
    // is valid. This pins that limit, so that nobody believes the body is checked.
    let cs = client_secret();
    for body in [&b""[..], b"{}", b"anything at all"] {
        assert!(check(&bearer(&token("valid")), body, &[], &[&cs], TS).is_ok());
    }
}

#[test]
fn a_jwt_is_never_checked_with_a_webhook_secret() {
    let cs = client_secret();
    // The client secret configured as a webhook secret does not make the JWT pass.
    let err = check(&bearer(&token("valid")), BODY, &[&cs], &[], TS).unwrap_err();
    assert_eq!(err, VerifyError::NoAppSecret);
    assert!(err.is_config_error());
    assert_eq!(err.code(), "no_app_secret");
    // Nor through the plain API, which gives webhook secrets only.
    let headers = bearer(&token("valid"));
    let req = Request::new("POST", "https://sb.example/h", &headers, BODY);
    let err = verify(
        &Scheme::Atlassian,
        &req,
        &keys(&[&cs]),
        &VerifyOptions::at(TS),
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::NoAppSecret);
}

#[test]
fn an_admin_signature_is_never_checked_with_the_client_secret() {
    let cs = client_secret();
    // X-Hub-Signature made with the client secret: refused, whatever the app key is.
    let forged = Headers::new().with("X-Hub-Signature", hub(&cs, BODY));
    let err = check(&forged, BODY, &[ADMIN_SECRET], &[&cs], TS).unwrap_err();
    assert_eq!(err.code(), "no_match");
    let err = check(&forged, BODY, &[], &[&cs], TS).unwrap_err();
    assert_eq!(err, VerifyError::NoSecrets);
    // The genuine one verifies with the webhook secret, and says so.
    let genuine = Headers::new().with("X-Hub-Signature", hub(ADMIN_SECRET, BODY));
    let ok = check(&genuine, BODY, &["other", ADMIN_SECRET], &[&cs], TS).unwrap();
    assert_eq!(
        (ok.key, ok.secret_index, ok.timestamp),
        (KeyRole::Webhook, 1, None)
    );
    // Its body is signed.
    let err = check(&genuine, b"{\"tampered\":1}", &[ADMIN_SECRET], &[&cs], TS).unwrap_err();
    assert_eq!(err.code(), "no_match");
}

#[test]
fn with_both_headers_the_admin_signature_decides() {
    let cs = client_secret();
    // A valid JWT does not rescue a wrong X-Hub-Signature.
    let headers = bearer(&token("valid")).with("X-Hub-Signature", hub("not the secret", BODY));
    let err = check(&headers, BODY, &[ADMIN_SECRET], &[&cs], TS).unwrap_err();
    assert_eq!(err.code(), "no_match");
    let headers = bearer(&token("valid")).with("X-Hub-Signature", hub(ADMIN_SECRET, BODY));
    let ok = check(&headers, BODY, &[ADMIN_SECRET], &[&cs], TS).unwrap();
    assert_eq!(ok.key, KeyRole::Webhook);
}

#[test]
fn a_request_with_neither_header_is_refused() {
    let cs = client_secret();
    for headers in [
        Headers::new(),
        Headers::new().with("X-Hub-Signature-256", hub(ADMIN_SECRET, BODY)),
        Headers::new().with("X-Atlassian-Webhook-Identifier", "1"),
    ] {
        let err = check(&headers, BODY, &[ADMIN_SECRET], &[&cs], TS).unwrap_err();
        assert_eq!(err.code(), "missing_header", "{err}");
        assert!(
            err.to_string().contains("X-Hub-Signature or Authorization"),
            "{err}"
        );
    }
    // And nothing at all configured.
    let err = check(&bearer(&token("valid")), BODY, &[], &[], TS).unwrap_err();
    assert_eq!(err, VerifyError::NoSecrets);
}

#[test]
fn bad_jwts_are_refused_one_check_each() {
    let cs = client_secret();
    let refused = |t: &str, now: i64| check(&bearer(t), BODY, &[], &[&cs], now).unwrap_err();
    assert_eq!(refused(&token("wrong_secret"), TS).code(), "no_match");
    assert_eq!(
        refused(&token("expired"), TS),
        VerifyError::TokenExpired { expired_secs: 60 }
    );
    let e = refused(&token("no_exp"), TS);
    assert_eq!(e.code(), "malformed_header");
    assert!(e.to_string().contains("no exp"), "{e}");
    // Algorithm confusion: an RSA signature, another HMAC size, and alg none (which the
    // JWT reader does not even parse as a signed token).
    for (name, alg) in [("rs256", "RS256"), ("hs512", "HS512")] {
        let e = refused(&token(name), TS);
        assert_eq!(e.code(), "unsupported_algorithm", "{name}: {e}");
        assert!(e.to_string().contains(alg), "{name}: {e}");
    }
    let e = refused(&token("alg_none"), TS);
    assert_eq!(e.code(), "malformed_header", "{e}");
    // iat an hour ahead: outside the 300 s tolerance.
    assert_eq!(
        refused(&token("future_iat"), TS).code(),
        "timestamp_outside_tolerance"
    );
    // Tampered: another token's claims under this token's signature.
    let valid = token("valid");
    let expired = token("expired");
    let v: Vec<&str> = valid.split('.').collect();
    let x: Vec<&str> = expired.split('.').collect();
    let spliced = format!("{}.{}.{}", v[0], x[1], v[2]);
    assert_eq!(refused(&spliced, TS).code(), "no_match");
    // Not a JWT, an empty bearer, an oversized one.
    for bad in ["not.a.jwt", "Basic dXNlcjpwdw==", "", "e30"] {
        let headers = Headers::new().with("Authorization", bad);
        let e = check(&headers, BODY, &[], &[&cs], TS).unwrap_err();
        assert!(
            ["malformed_header", "no_signatures"].contains(&e.code()),
            "{bad:?}: {e}"
        );
    }
    let huge = format!("Bearer {}", "a".repeat(9000));
    let headers = Headers::new().with("Authorization", &huge);
    assert_eq!(
        check(&headers, BODY, &[], &[&cs], TS).unwrap_err().code(),
        "malformed_header"
    );
}

#[test]
fn other_schemes_ignore_the_app_secret() {
    let headers = Headers::new().with("X-Hub-Signature-256", hub("gh", BODY));
    let req = Request::new("POST", "https://sb.example/h", &headers, BODY);
    let app = keys(&["gh"]);
    let err = verify_with(
        &Scheme::Github,
        &req,
        Keys::default().with_app(&app),
        &VerifyOptions::at(TS),
    )
    .unwrap_err();
    assert_eq!(err, VerifyError::NoSecrets);
    assert!(Scheme::Atlassian.takes_app_secret());
    assert!(!Scheme::Github.takes_app_secret());
}

#[test]
fn signing_makes_either_kind() {
    let cs = client_secret();
    let (w, a) = (keys(&[ADMIN_SECRET]), keys(&[&cs]));
    let input = SignRequest::new(BODY, TS).url("https://sb.example/webhooks/jira/event");
    // With a webhook secret: an admin webhook, as Atlassian signs it.
    let admin = sign_with(&Scheme::Atlassian, Keys::webhook(&w).with_app(&a), &input).unwrap();
    assert_eq!(
        admin.header("X-Hub-Signature"),
        Some(hub(ADMIN_SECRET, BODY).as_str())
    );
    assert_eq!(admin.header("Authorization"), None);
    // With only the client secret: an OAuth app's webhook, whose JWT verifies (and has no aud).
    let app = sign_with(&Scheme::Atlassian, Keys::default().with_app(&a), &input).unwrap();
    let auth = app.header("Authorization").unwrap();
    assert!(auth.starts_with("Bearer "), "{auth}");
    let headers: Headers = app.headers.iter().map(|(n, v)| (n, v)).collect();
    let ok = check(&headers, BODY, &[], &[&cs], TS + 1).unwrap();
    assert_eq!((ok.key, ok.timestamp), (KeyRole::App, Some(TS)));
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(
                auth.trim_start_matches("Bearer ")
                    .split('.')
                    .nth(1)
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["exp"], TS + 300);
    assert!(claims.get("aud").is_none(), "{claims}");
    // Nothing to sign with.
    assert!(sign_with(&Scheme::Atlassian, Keys::default(), &input).is_err());
}
