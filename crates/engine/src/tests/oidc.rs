//! ID token validation against a JWKS served from 127.0.0.1, with keys generated here.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde_json::{Value, json};

use super::http::{TestServer, dev_outbound, serve};
use crate::http::{HostPolicy, Outbound};
use crate::oidc::{Expected, IdTokenValidator, OidcError};

const ISSUER: &str = "https://id.example.com";
const CLIENT: &str = "client-1";
const NONCE: &str = "n-0S6_WzA2Mj";

struct Keys {
    rsa: RsaKeyPair,
    ec: EcdsaKeyPair,
}

fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| Keys {
        rsa: RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(),
        ec: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_jwk(kid: &str) -> Value {
    let pk = keys().rsa.public_key();
    json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
        "n": b64(pk.modulus().big_endian_without_leading_zero()),
        "e": b64(pk.exponent().big_endian_without_leading_zero()),
    })
}

fn ec_jwk(kid: &str) -> Value {
    let point = keys().ec.public_key().as_ref().to_vec();
    assert_eq!(point.len(), 65);
    json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "kid": kid,
        "x": b64(&point[1..33]), "y": b64(&point[33..]),
    })
}

fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

fn rs256(kid: &str, claims: &Value) -> String {
    let input = signing_input(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), claims);
    let kp = &keys().rsa;
    let mut sig = vec![0; kp.public_modulus_len()];
    kp.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", b64(&sig))
}

fn es256_with_header(header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let sig = keys()
        .ec
        .sign(&SystemRandom::new(), input.as_bytes())
        .unwrap();
    format!("{input}.{}", b64(sig.as_ref()))
}

fn es256(kid: &str, claims: &Value) -> String {
    es256_with_header(&json!({"alg": "ES256", "kid": kid}), claims)
}

fn hs256(secret: &[u8], kid: &str, claims: &Value) -> String {
    use hmac::{KeyInit, Mac};
    let input = signing_input(&json!({"alg": "HS256", "kid": kid}), claims);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

fn claims() -> Value {
    let now = Utc::now().timestamp();
    json!({
        "iss": ISSUER, "aud": CLIENT, "sub": "user-42", "email": "ada@example.com",
        "name": "Ada", "nonce": NONCE, "iat": now, "exp": now + 300,
    })
}

fn with(mut c: Value, key: &str, v: Value) -> Value {
    c[key] = v;
    c
}

fn without(mut c: Value, key: &str) -> Value {
    c.as_object_mut().unwrap().remove(key);
    c
}

fn expected() -> Expected<'static> {
    Expected {
        issuer: ISSUER,
        client_id: CLIENT,
        nonce: Some(NONCE),
        now: Utc::now(),
        leeway_secs: 60,
    }
}

/// A JWKS server whose document can be replaced, and its URL.
struct Jwks {
    server: TestServer,
    doc: Arc<Mutex<(u16, String)>>,
}

impl Jwks {
    async fn start(keys: &[Value]) -> Self {
        let doc = Arc::new(Mutex::new((200, jwks(keys))));
        let d = doc.clone();
        let server = serve(move |_| {
            let (status, body) = d.lock().unwrap().clone();
            Some((status, vec![], body))
        })
        .await;
        Self { server, doc }
    }

    fn url(&self) -> String {
        self.server.url("/jwks?v=1")
    }

    fn set(&self, keys: &[Value]) {
        *self.doc.lock().unwrap() = (200, jwks(keys));
    }

    fn fetches(&self) -> usize {
        self.server.hits("/jwks")
    }
}

async fn check(
    v: &IdTokenValidator,
    jwks: &Jwks,
    token: &str,
) -> Result<crate::oidc::IdClaims, OidcError> {
    let r = v
        .validate(&dev_outbound(), &jwks.url(), token, &expected())
        .await;
    if let Err(e) = &r {
        let text = e.to_string();
        for part in token.split('.').filter(|p| p.len() > 8) {
            assert!(!text.contains(part), "error echoes the token: {text}");
        }
    }
    r
}

#[tokio::test]
async fn good_tokens_validate_and_the_jwks_is_fetched_once() {
    let jwks = Jwks::start(&[rsa_jwk("rsa-1"), ec_jwk("ec-1")]).await;
    let v = IdTokenValidator::default();
    let c = check(&v, &jwks, &rs256("rsa-1", &claims())).await.unwrap();
    assert_eq!(c.sub, "user-42");
    assert_eq!(c.email.as_deref(), Some("ada@example.com"));
    assert_eq!(c.name.as_deref(), Some("Ada"));
    assert_eq!(c.claims["nonce"], NONCE);
    assert!(c.exp > c.iat);
    let c = check(&v, &jwks, &es256("ec-1", &claims())).await.unwrap();
    assert_eq!(c.sub, "user-42");
    for _ in 0..5 {
        check(&v, &jwks, &rs256("rsa-1", &claims())).await.unwrap();
        check(&v, &jwks, &es256("ec-1", &claims())).await.unwrap();
    }
    // Clones share the cache.
    check(&v.clone(), &jwks, &rs256("rsa-1", &claims()))
        .await
        .unwrap();
    assert_eq!(jwks.fetches(), 1);
}

#[tokio::test]
async fn concurrent_validations_fetch_a_cold_jwks_once() {
    let jwks = Arc::new(Jwks::start(&[rsa_jwk("rsa-1")]).await);
    let v = IdTokenValidator::default();
    let token = rs256("rsa-1", &claims());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (v, jwks, token) = (v.clone(), jwks.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            check(&v, &jwks, &token).await.map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(jwks.fetches(), 1);
}

#[tokio::test]
async fn a_token_without_kid_uses_the_only_fitting_key() {
    let jwks = Jwks::start(&[rsa_jwk("rsa-1"), ec_jwk("ec-1")]).await;
    let v = IdTokenValidator::default();
    let token = es256_with_header(&json!({"alg": "ES256"}), &claims());
    check(&v, &jwks, &token).await.unwrap();
}

#[tokio::test]
async fn claim_checks_each_fail_with_their_own_error() {
    let jwks = Jwks::start(&[rsa_jwk("rsa-1")]).await;
    let v = IdTokenValidator::default();
    let now = Utc::now().timestamp();
    type Want = fn(&OidcError) -> bool;
    let cases: Vec<(Value, Want)> = vec![
        (
            with(claims(), "iss", json!("https://evil.example.com")),
            |e| matches!(e, OidcError::Issuer { .. }),
        ),
        (without(claims(), "iss"), |e| {
            matches!(e, OidcError::Issuer { .. })
        }),
        (with(claims(), "aud", json!("someone-else")), |e| {
            matches!(e, OidcError::Audience)
        }),
        (with(claims(), "aud", json!(["a", "b"])), |e| {
            matches!(e, OidcError::Audience)
        }),
        (without(claims(), "aud"), |e| {
            matches!(e, OidcError::Audience)
        }),
        (with(claims(), "aud", json!([CLIENT, "other"])), |e| {
            matches!(e, OidcError::Azp)
        }),
        (
            with(
                with(claims(), "aud", json!([CLIENT, "other"])),
                "azp",
                json!("other"),
            ),
            |e| matches!(e, OidcError::Azp),
        ),
        (with(claims(), "azp", json!("other")), |e| {
            matches!(e, OidcError::Azp)
        }),
        (with(claims(), "exp", json!(now - 120)), |e| {
            matches!(e, OidcError::Expired { .. })
        }),
        (without(claims(), "exp"), |e| {
            matches!(e, OidcError::Malformed(_))
        }),
        (with(claims(), "iat", json!(now + 3600)), |e| {
            matches!(e, OidcError::IssuedInFuture { .. })
        }),
        (with(claims(), "nbf", json!(now + 3600)), |e| {
            matches!(e, OidcError::NotYetValid { .. })
        }),
        (with(claims(), "nonce", json!("n-0S6_WzA2Mk")), |e| {
            matches!(e, OidcError::NonceMismatch)
        }),
        (with(claims(), "nonce", json!("n-0S6")), |e| {
            matches!(e, OidcError::NonceMismatch)
        }),
        (without(claims(), "nonce"), |e| {
            matches!(e, OidcError::NonceMissing)
        }),
        (without(claims(), "sub"), |e| {
            matches!(e, OidcError::Malformed(_))
        }),
        (with(claims(), "exp", json!("tomorrow")), |e| {
            matches!(e, OidcError::Malformed(_))
        }),
    ];
    for (i, (c, want)) in cases.into_iter().enumerate() {
        let e = check(&v, &jwks, &rs256("rsa-1", &c)).await.unwrap_err();
        assert!(want(&e), "case {i}: {e:?}");
    }
    // Within the leeway, and the allowed variants.
    for c in [
        with(claims(), "exp", json!(now - 30)),
        with(claims(), "iat", json!(now + 30)),
        with(
            with(claims(), "aud", json!([CLIENT, "other"])),
            "azp",
            json!(CLIENT),
        ),
        with(claims(), "aud", json!([CLIENT])),
    ] {
        check(&v, &jwks, &rs256("rsa-1", &c)).await.unwrap();
    }
    // No nonce expected: a token without one is fine.
    let no_nonce = Expected {
        nonce: None,
        ..expected()
    };
    v.validate(
        &dev_outbound(),
        &jwks.url(),
        &rs256("rsa-1", &without(claims(), "nonce")),
        &no_nonce,
    )
    .await
    .unwrap();
    assert_eq!(jwks.fetches(), 1);
}

#[tokio::test]
async fn none_and_hmac_algorithms_are_refused() {
    let jwks = Jwks::start(&[rsa_jwk("rsa-1")]).await;
    let v = IdTokenValidator::default();
    let none = format!(
        "{}.",
        signing_input(&json!({"alg": "none", "kid": "rsa-1"}), &claims())
    );
    let e = check(&v, &jwks, &none).await.unwrap_err();
    assert!(
        matches!(&e, OidcError::AlgNotAllowed { alg } if alg == "none"),
        "{e:?}"
    );
    let none_sig = format!("{none}c2ln");
    assert!(matches!(
        check(&v, &jwks, &none_sig).await,
        Err(OidcError::AlgNotAllowed { .. })
    ));
    // HS256 signed with the client secret (the classic key-confusion attack).
    let hs = hs256(b"the-client-secret", "rsa-1", &claims());
    let e = check(&v, &jwks, &hs).await.unwrap_err();
    assert!(
        matches!(&e, OidcError::AlgNotAllowed { alg } if alg == "HS256"),
        "{e:?}"
    );
    for alg in ["HS384", "HS512", "RSA-OAEP", "", "rs256"] {
        let t = format!(
            "{}.c2ln",
            signing_input(&json!({"alg": alg, "kid": "rsa-1"}), &claims())
        );
        assert!(
            matches!(
                check(&v, &jwks, &t).await,
                Err(OidcError::AlgNotAllowed { .. })
            ),
            "{alg}"
        );
    }
    // Refused before any key was needed.
    assert_eq!(jwks.fetches(), 0);
}

#[tokio::test]
async fn unknown_kid_refetches_once_then_fails() {
    let jwks = Jwks::start(&[rsa_jwk("rsa-1")]).await;
    let v = IdTokenValidator::default();
    check(&v, &jwks, &rs256("rsa-1", &claims())).await.unwrap();
    assert_eq!(jwks.fetches(), 1);

    // Key rotation: the provider publishes a new key; a token naming it triggers one
    // refetch and validates.
    jwks.set(&[rsa_jwk("rsa-1"), ec_jwk("ec-2")]);
    check(&v, &jwks, &es256("ec-2", &claims())).await.unwrap();
    assert_eq!(jwks.fetches(), 2);

    // An unknown kid within the cool-down: no refetch, an error.
    let e = check(&v, &jwks, &rs256("nope", &claims()))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, OidcError::UnknownKid { kid: Some(k) } if k == "nope"),
        "{e:?}"
    );
    for _ in 0..5 {
        assert!(matches!(
            check(&v, &jwks, &rs256("nope", &claims())).await,
            Err(OidcError::UnknownKid { .. })
        ));
    }
    assert_eq!(jwks.fetches(), 2);

    // Without the cool-down, each unknown kid refetches exactly once.
    let eager = IdTokenValidator::new().with_refetch_cooldown(Duration::ZERO);
    check(&eager, &jwks, &rs256("rsa-1", &claims()))
        .await
        .unwrap();
    assert_eq!(jwks.fetches(), 3);
    assert!(matches!(
        check(&eager, &jwks, &rs256("gone", &claims())).await,
        Err(OidcError::UnknownKid { .. })
    ));
    assert_eq!(jwks.fetches(), 4);
}

#[tokio::test]
async fn tampered_and_mismatched_signatures_are_refused() {
    let jwks = Jwks::start(&[rsa_jwk("rsa-1"), ec_jwk("ec-1")]).await;
    let v = IdTokenValidator::default();
    let good = rs256("rsa-1", &claims());
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = b64(with(claims(), "sub", json!("admin")).to_string().as_bytes());
    let tampered = parts.join(".");
    assert!(matches!(
        check(&v, &jwks, &tampered).await,
        Err(OidcError::Signature)
    ));
    // The signature of another token.
    let other = rs256("rsa-1", &with(claims(), "sub", json!("other")));
    let spliced = format!(
        "{}.{}",
        good.rsplit_once('.').unwrap().0,
        other.rsplit_once('.').unwrap().1
    );
    assert!(matches!(
        check(&v, &jwks, &spliced).await,
        Err(OidcError::Signature)
    ));
    // No signature.
    let unsigned = format!("{}.", good.rsplit_once('.').unwrap().0);
    assert!(matches!(
        check(&v, &jwks, &unsigned).await,
        Err(OidcError::Signature)
    ));
    // ES256 token naming the RSA key.
    let e = check(&v, &jwks, &es256("rsa-1", &claims()))
        .await
        .unwrap_err();
    assert!(matches!(e, OidcError::BadKey { .. }), "{e:?}");
    // ES256 token naming the EC key but signed by... the EC key over another header.
    let mut p: Vec<String> = es256("ec-1", &claims())
        .split('.')
        .map(str::to_owned)
        .collect();
    p[0] = b64(json!({"alg": "ES256", "kid": "ec-1", "x": 1})
        .to_string()
        .as_bytes());
    assert!(matches!(
        check(&v, &jwks, &p.join(".")).await,
        Err(OidcError::Signature)
    ));
}

#[tokio::test]
async fn garbage_is_malformed() {
    let jwks = Jwks::start(&[rsa_jwk("rsa-1")]).await;
    let v = IdTokenValidator::default();
    let junk_header = b64(b"not json");
    let array_header = b64(b"[1,2]");
    let good_claims = b64(claims().to_string().as_bytes());
    let rs_header = b64(br#"{"alg":"RS256","kid":"rsa-1"}"#);
    let long = "a".repeat(70_000);
    let cases = [
        String::new(),
        "abc".to_owned(),
        "a.b".to_owned(),
        "a.b.c".to_owned(),
        "....".to_owned(),
        "a.b.c.d.e".to_owned(),
        format!("{junk_header}.{good_claims}.c2ln"),
        format!("{array_header}.{good_claims}.c2ln"),
        format!("{rs_header}.{}.c2ln", b64(b"garbage")),
        format!("{rs_header}.!!!.c2ln"),
        format!("{}.{good_claims}.c2ln", b64(br#"{"kid":"rsa-1"}"#)),
        format!(
            "{}.{good_claims}.c2ln",
            b64(br#"{"alg":"RS256","crit":["exp"]}"#)
        ),
        long,
    ];
    for t in cases {
        let e = check(&v, &jwks, &t).await.unwrap_err();
        assert!(
            matches!(e, OidcError::Malformed(_)),
            "{:?}: {e:?}",
            t.chars().take(40).collect::<String>()
        );
    }
    assert_eq!(jwks.fetches(), 0);
}

#[tokio::test]
async fn jwks_failures_are_reported() {
    let jwks = Jwks::start(&[rsa_jwk("rsa-1")]).await;
    *jwks.doc.lock().unwrap() = (500, "oops".to_owned());
    let v = IdTokenValidator::default();
    let token = rs256("rsa-1", &claims());
    let e = check(&v, &jwks, &token).await.unwrap_err();
    assert!(matches!(e, OidcError::JwksFetch { .. }), "{e:?}");
    assert!(e.to_string().contains("500"), "{e}");
    assert!(!e.to_string().contains("v=1"), "query shown: {e}");

    *jwks.doc.lock().unwrap() = (200, "not json".to_owned());
    assert!(matches!(
        check(&v, &jwks, &token).await,
        Err(OidcError::JwksFetch { .. })
    ));

    // The outbound guard applies: a loopback JWKS without dev is refused.
    jwks.set(&[rsa_jwk("rsa-1")]);
    let prod = Outbound::new(HostPolicy::default(), Duration::from_secs(5)).unwrap();
    let before = jwks
        .server
        .accepted
        .load(std::sync::atomic::Ordering::SeqCst);
    let e = v
        .validate(&prod, &jwks.url(), &token, &expected())
        .await
        .unwrap_err();
    assert!(matches!(e, OidcError::JwksFetch { .. }), "{e:?}");
    assert!(e.to_string().contains("allow_hosts"), "{e}");
    assert_eq!(
        jwks.server
            .accepted
            .load(std::sync::atomic::Ordering::SeqCst),
        before
    );
    // And once it is served, validation recovers.
    check(&v, &jwks, &token).await.unwrap();
}

#[tokio::test]
async fn extreme_times_do_not_panic() {
    let jwks = Jwks::start(&[rsa_jwk("rsa-1")]).await;
    let v = IdTokenValidator::default();
    let far = chrono::DateTime::<Utc>::MAX_UTC.timestamp();
    check(
        &v,
        &jwks,
        &rs256("rsa-1", &with(claims(), "exp", json!(far))),
    )
    .await
    .unwrap();
    for (claim, value) in [
        ("exp", json!(i64::MAX)),
        ("exp", json!(-1e300)),
        ("exp", json!(1e300)),
        ("iat", json!(i64::MIN)),
        ("nbf", json!(u64::MAX)),
    ] {
        let r = check(&v, &jwks, &rs256("rsa-1", &with(claims(), claim, value))).await;
        assert!(r.is_err(), "{claim}");
    }
    // A huge leeway is capped, not an overflow.
    let lenient = Expected {
        leeway_secs: u64::MAX,
        ..expected()
    };
    v.validate(
        &dev_outbound(),
        &jwks.url(),
        &rs256("rsa-1", &claims()),
        &lenient,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_failed_refetch_cools_down_too() {
    let jwks = Jwks::start(&[rsa_jwk("rsa-1")]).await;
    let v = IdTokenValidator::default();
    check(&v, &jwks, &rs256("rsa-1", &claims())).await.unwrap();
    *jwks.doc.lock().unwrap() = (503, "down".to_owned());
    let e = check(&v, &jwks, &rs256("new", &claims()))
        .await
        .unwrap_err();
    assert!(matches!(e, OidcError::JwksFetch { .. }), "{e:?}");
    assert_eq!(jwks.fetches(), 2);
    for _ in 0..3 {
        assert!(matches!(
            check(&v, &jwks, &rs256("new", &claims())).await,
            Err(OidcError::UnknownKid { .. })
        ));
    }
    assert_eq!(jwks.fetches(), 2);
    // Known keys keep working meanwhile.
    check(&v, &jwks, &rs256("rsa-1", &claims())).await.unwrap();
}
