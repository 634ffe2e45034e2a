//! The console's OpenID Connect sign-in, through the engine, against a stub provider on
//! 127.0.0.1: its discovery document, its token endpoint, a JWKS of an RSA key made
//! here, and userinfo. ID tokens are signed in the test; time is the manual clock's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::Digest as _;
use store::{AuditStore as _, ConsoleStore as _};
use store_sqlite::SqliteStore;
use vault::ExposeSecret as _;

use super::connections::{Req, Resp, Stub, config, engine_with};
use super::{key, memory_store, ring};
use crate::console_oidc::OidcStart;
use crate::ids::token_hash;
use crate::{Actor, Engine, EngineError, ManualClock};

const CLIENT: &str = "console-client";
const SECRET: &str = "console-s3cret";
const CALLBACK: &str = "https://sb.example/ui/sign-in/oidc/callback";

fn rsa() -> &'static RsaKeyPair {
    static K: OnceLock<RsaKeyPair> = OnceLock::new();
    K.get_or_init(|| RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn jwks() -> Value {
    let pk = rsa().public_key();
    json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
        "n": b64(pk.modulus().big_endian_without_leading_zero()),
        "e": b64(pk.exponent().big_endian_without_leading_zero()),
    }]})
}

/// An RS256 ID token with `claims`, signed by the key in the JWKS.
fn id_token(claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "k1"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let kp = rsa();
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

/// What the stub provider answers, changeable by the test.
#[derive(Clone)]
struct Answers {
    discovery: Value,
    token: Resp,
    userinfo: Resp,
}

/// The stub provider, an engine configured for it, its store and its clock.
struct Idp {
    stub: Stub,
    answers: Arc<Mutex<Answers>>,
    engine: Engine,
    store: SqliteStore,
    clock: ManualClock,
}

fn discovery_doc(base: &str) -> Value {
    json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize?prompt=login"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile", "groups"],
    })
}

impl Idp {
    /// `oidc` is the body of `[console.oidc]` after `issuer` (the stub's).
    async fn start(oidc: &str) -> Self {
        let answers = Arc::new(Mutex::new(Answers {
            discovery: Value::Null,
            token: Resp::json(500, json!({"error": "not set"})),
            userinfo: Resp::json(500, json!({"error": "not set"})),
        }));
        let a = answers.clone();
        let stub = Stub::start(move |req: &Req| {
            let a = a.lock().unwrap().clone();
            match req.path.as_str() {
                "/.well-known/openid-configuration" => Resp::json(200, a.discovery),
                "/jwks" => Resp::json(200, jwks()),
                "/token" => a.token,
                "/userinfo" => a.userinfo,
                _ => Resp::json(404, json!({"error": "not_found"})),
            }
        })
        .await;
        answers.lock().unwrap().discovery = discovery_doc(&stub.base);
        let top = format!("[console.oidc]\nissuer = \"{}\"\n{oidc}", stub.base);
        let store = memory_store().await;
        let clock = ManualClock::new();
        let engine = engine_with(
            Arc::new(store.clone()),
            ring(&key(), &[]),
            &[],
            config(&top, ""),
            true,
        )
        .with_clock(clock.clone());
        Self {
            stub,
            answers,
            engine,
            store,
            clock,
        }
    }

    /// A confidential client that lets in `ada@example.com`.
    async fn emails() -> Self {
        Self::start(&format!(
            "client_id = \"{CLIENT}\"\nclient_secret = \"{SECRET}\"\nallowed_emails = [\"Ada@Example.com\", \"bob@example.com\"]\n"
        ))
        .await
    }

    fn set(&self, f: impl FnOnce(&mut Answers)) {
        f(&mut self.answers.lock().unwrap());
    }

    /// Claims of a good ID token for this start.
    fn claims(&self, start: &OidcStart) -> Value {
        let now = self.clock.now().timestamp();
        json!({
            "iss": self.stub.base, "aud": CLIENT, "sub": "user-42",
            "email": "ada@example.com", "email_verified": true, "name": "Ada",
            "nonce": query(start)["nonce"], "iat": now, "exp": now + 300,
        })
    }

    /// The token endpoint issues an ID token with `claims`.
    fn issue(&self, claims: &Value) {
        let t = id_token(claims);
        self.set(|a| {
            a.token = Resp::json(
                200,
                json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 300, "id_token": t}),
            );
        });
    }

    fn userinfo(&self, v: Value) {
        self.set(|a| a.userinfo = Resp::json(200, v));
    }

    async fn finish(
        &self,
        start: &OidcStart,
    ) -> Result<(crate::console::NewConsoleSession, String), EngineError> {
        self.engine
            .console_oidc_finish(
                &query(start)["state"],
                "code-1",
                start.browser_secret.expose_secret(),
            )
            .await
    }

    /// Whether any session was started (every start is audited).
    async fn sign_ins(&self) -> Vec<store::AuditRecord> {
        self.store
            .list_audit_asc(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.entry.action == "console.sign_in")
            .collect()
    }

    /// Asserts `r` was refused as `want` and nothing was signed in.
    async fn refused<T: std::fmt::Debug>(&self, r: Result<T, EngineError>, want: &str) {
        let e = r.unwrap_err();
        assert_eq!(e.code(), want, "{e}");
        assert!(self.sign_ins().await.is_empty());
    }
}

/// The authorization URL's query.
fn query(start: &OidcStart) -> BTreeMap<String, String> {
    url::Url::parse(&start.redirect_url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn the_authorization_url_has_pkce_state_nonce_and_the_scopes() {
    let idp = Idp::emails().await;
    let s = idp
        .engine
        .console_oidc_start("/ui/connections", Some("ada@example.com"))
        .await
        .unwrap();
    let url = url::Url::parse(&s.redirect_url).unwrap();
    assert_eq!(
        url.as_str().split('?').next().unwrap(),
        format!("{}/authorize", idp.stub.base)
    );
    let q = query(&s);
    // The endpoint's own parameter is kept.
    assert_eq!(q["prompt"], "login");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT);
    assert_eq!(q["redirect_uri"], CALLBACK);
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["login_hint"], "ada@example.com");
    for k in ["state", "nonce", "code_challenge"] {
        assert_eq!(q[k].len(), 43, "{k} is 256 bits, base64url: {}", q[k]);
    }
    let secret = s.browser_secret.expose_secret().to_owned();
    assert!(
        !s.redirect_url.contains(&secret),
        "the browser secret is not in the URL"
    );
    assert_ne!(q["state"], q["nonce"]);
    assert_eq!(idp.stub.count("/.well-known/openid-configuration"), 1);
    assert_eq!(idp.stub.count("/token"), 0);

    // The store keeps the state's hash, where to go next and a 10-minute expiry.
    let login = idp
        .store
        .take_console_login(&token_hash(&q["state"]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(login.next, "/ui/connections");
    assert_eq!(login.browser_hash, token_hash(&secret));
    assert_eq!(
        login.expires_at,
        idp.clock.now() + chrono::Duration::minutes(10)
    );

    // Every start is new; an empty or overlong login hint is left out.
    let s2 = idp
        .engine
        .console_oidc_start("/ui", Some(""))
        .await
        .unwrap();
    let q2 = query(&s2);
    assert!(!q2.contains_key("login_hint"));
    assert_ne!(q2["state"], q["state"]);
    assert_ne!(q2["nonce"], q["nonce"]);
    assert_ne!(q2["code_challenge"], q["code_challenge"]);
    assert_ne!(s2.browser_secret.expose_secret(), secret);
    let long = "a".repeat(257);
    let s3 = idp
        .engine
        .console_oidc_start("/ui", Some(&long))
        .await
        .unwrap();
    assert!(!query(&s3).contains_key("login_hint"));
    let s4 = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    assert!(!query(&s4).contains_key("login_hint"));
}

#[tokio::test]
async fn the_groups_scope_is_asked_only_for_the_groups_claim() {
    let idp = Idp::start(&format!(
        "client_id = \"{CLIENT}\"\nallowed_groups = [\"ops\"]\n"
    ))
    .await;
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    assert_eq!(query(&s)["scope"], "openid email profile groups");

    let idp = Idp::start(&format!(
        "client_id = \"{CLIENT}\"\nallowed_groups = [\"ops\"]\ngroups_claim = \"roles\"\n"
    ))
    .await;
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    assert_eq!(query(&s)["scope"], "openid email profile");
}

#[tokio::test]
async fn a_verified_allowed_email_signs_in_once_with_the_pkce_verifier() {
    let idp = Idp::emails().await;
    let s = idp
        .engine
        .console_oidc_start("/ui/connections?x=1", None)
        .await
        .unwrap();
    // The provider says the address in another case: compared case-insensitively, kept
    // lowercase.
    let mut claims = idp.claims(&s);
    claims["email"] = json!("ADA@example.COM");
    idp.issue(&claims);
    let (new, next) = idp.finish(&s).await.unwrap();
    assert_eq!(next, "/ui/connections?x=1");
    let who = Actor::Oidc {
        email: "ada@example.com".into(),
    };
    assert_eq!(new.session.user.actor, who);
    assert_eq!(new.session.user.display_name, "ada@example.com");
    assert_eq!(
        new.session.csrf_token,
        crate::console::csrf_token(new.token.expose_secret())
    );
    let session = idp
        .engine
        .console_session(new.token.expose_secret())
        .await
        .unwrap();
    assert_eq!(session.user.actor, who);

    // The token request: the code, the callback, the verifier of the challenge sent,
    // the client secret in Basic authentication (not in the body).
    let reqs = idp.stub.reqs("/token");
    assert_eq!(reqs.len(), 1);
    let form = reqs[0].form();
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "code-1");
    assert_eq!(form["redirect_uri"], CALLBACK);
    assert_eq!(
        b64(&sha2::Sha256::digest(form["code_verifier"].as_bytes())),
        query(&s)["code_challenge"]
    );
    assert!(!form.contains_key("client_id"));
    assert!(!form.contains_key("client_secret"));
    assert_eq!(
        reqs[0].header("authorization"),
        Some(super::connections::basic_plain(CLIENT, SECRET).as_str())
    );
    // Everything needed was in the ID token.
    assert_eq!(idp.stub.count("/userinfo"), 0);
    let audit = idp.sign_ins().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].entry.actor, "oidc:ada@example.com");
    assert_eq!(audit[0].entry.target, "console");
    assert_eq!(audit[0].entry.details, json!({"method": "oidc"}));

    // The state is spent: the same callback again is refused without a token request.
    let again = idp.finish(&s).await.unwrap_err();
    assert!(matches!(again, EngineError::Unauthenticated(_)), "{again}");
    assert_eq!(idp.stub.count("/token"), 1);
    assert_eq!(idp.sign_ins().await.len(), 1);
}

#[tokio::test]
async fn a_public_client_sends_its_client_id_in_the_body() {
    let idp = Idp::start(&format!(
        "client_id = \"{CLIENT}\"\nallowed_emails = [\"ada@example.com\"]\n"
    ))
    .await;
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.issue(&idp.claims(&s));
    idp.finish(&s).await.unwrap();
    let req = &idp.stub.reqs("/token")[0];
    assert_eq!(req.form()["client_id"], CLIENT);
    assert_eq!(req.header("authorization"), None);
}

#[tokio::test]
async fn a_state_from_another_browser_unknown_or_malformed_is_refused() {
    let idp = Idp::emails().await;
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.issue(&idp.claims(&s));
    let state = query(&s)["state"].clone();
    let secret = s.browser_secret.expose_secret().to_owned();
    let other = idp.engine.console_oidc_start("/ui", None).await.unwrap();

    for (state, code, browser) in [
        ("", "code-1", secret.as_str()),
        (&"s".repeat(513), "code-1", &secret),
        (&state, "", &secret),
        (&state, &"c".repeat(4097), &secret),
        ("an-unknown-state", "code-1", &secret),
    ] {
        let r = idp.engine.console_oidc_finish(state, code, browser).await;
        idp.refused(r, "unauthorized").await;
    }
    // Nothing above spent the state...
    assert_eq!(idp.stub.count("/token"), 0);
    // ...but a callback in another browser (its own sign-in cookie) does: the state is
    // taken before the browser is checked, so it cannot be tried twice.
    let r = idp
        .engine
        .console_oidc_finish(&state, "code-1", other.browser_secret.expose_secret())
        .await;
    idp.refused(r, "unauthorized").await;
    idp.refused(idp.finish(&s).await, "unauthorized").await;
    assert_eq!(idp.stub.count("/token"), 0);
}

#[tokio::test]
async fn a_sign_in_older_than_ten_minutes_is_refused() {
    let idp = Idp::emails().await;
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.clock.advance(Duration::from_secs(600));
    idp.issue(&idp.claims(&s));
    idp.refused(idp.finish(&s).await, "unauthorized").await;
    assert_eq!(idp.stub.count("/token"), 0);

    // Just before, it completes.
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.clock.advance(Duration::from_secs(599));
    idp.issue(&idp.claims(&s));
    idp.finish(&s).await.unwrap();
}

#[tokio::test]
async fn bad_id_tokens_are_refused_and_sign_nobody_in() {
    let idp = Idp::emails().await;
    type Patch = fn(&mut Value);
    let cases: [(&str, Patch); 6] = [
        ("another nonce", |c| c["nonce"] = json!("not-this-browser")),
        ("no nonce", |c| {
            c.as_object_mut().unwrap().remove("nonce");
        }),
        ("another audience", |c| c["aud"] = json!("another-client")),
        ("another issuer", |c| {
            c["iss"] = json!("https://evil.example")
        }),
        ("expired", |c| {
            let iat = c["iat"].as_i64().unwrap();
            c["iat"] = json!(iat - 3600);
            c["exp"] = json!(iat - 120);
        }),
        ("issued in the future", |c| {
            let iat = c["iat"].as_i64().unwrap();
            c["iat"] = json!(iat + 3600);
            c["exp"] = json!(iat + 7200);
        }),
    ];
    for (what, patch) in cases {
        let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
        let mut claims = idp.claims(&s);
        patch(&mut claims);
        idp.issue(&claims);
        let e = idp.finish(&s).await.unwrap_err();
        assert!(matches!(e, EngineError::Unauthenticated(_)), "{what}: {e}");
        assert!(idp.sign_ins().await.is_empty(), "{what}");
    }

    // A token good when issued has expired by the time of the callback (the clock
    // moves past exp plus the 60 s leeway).
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.issue(&idp.claims(&s));
    idp.clock.advance(Duration::from_secs(361));
    idp.refused(idp.finish(&s).await, "unauthorized").await;

    // A token signed by another key, or not signed.
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    let good = id_token(&idp.claims(&s));
    let (head, _) = good.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}", b64(&[7u8; 256]));
    idp.set(|a| a.token = Resp::json(200, json!({"access_token": "at", "id_token": forged})));
    idp.refused(idp.finish(&s).await, "unauthorized").await;
}

#[tokio::test]
async fn a_refused_code_or_an_answer_without_an_id_token_is_refused() {
    let idp = Idp::emails().await;
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.set(|a| a.token = Resp::json(400, json!({"error": "invalid_grant"})));
    idp.refused(idp.finish(&s).await, "unauthorized").await;
    assert_eq!(idp.stub.count("/token"), 1);

    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.set(|a| a.token = Resp::json(200, json!({"access_token": "at", "token_type": "Bearer"})));
    idp.refused(idp.finish(&s).await, "unauthorized").await;

    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.set(|a| a.token = Resp::raw(200, "text/html", "<html>sign in</html>"));
    idp.refused(idp.finish(&s).await, "unauthorized").await;

    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.set(|a| a.token = Resp::json(200, json!({"access_token": "at", "id_token": 42})));
    idp.refused(idp.finish(&s).await, "unauthorized").await;
    assert_eq!(idp.stub.count("/token"), 4);
}

#[tokio::test]
async fn an_unverified_or_unlisted_email_is_forbidden() {
    let idp = Idp::emails().await;
    type Patch = fn(&mut Value);
    let cases: [(&str, Patch); 5] = [
        ("unverified", |c| c["email_verified"] = json!(false)),
        ("verified as a string", |c| {
            c["email_verified"] = json!("true")
        }),
        ("verification unknown", |c| {
            c.as_object_mut().unwrap().remove("email_verified");
        }),
        ("not listed", |c| c["email"] = json!("eve@example.com")),
        ("a listed address inside another", |c| {
            c["email"] = json!("ada@example.com.evil.example")
        }),
    ];
    for (what, patch) in cases {
        let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
        let mut claims = idp.claims(&s);
        patch(&mut claims);
        idp.issue(&claims);
        // userinfo would say otherwise; it is not asked, the ID token has the e-mail.
        idp.userinfo(json!({"sub": "user-42", "email_verified": true, "email": "ada@example.com"}));
        let e = idp.finish(&s).await.unwrap_err();
        assert!(matches!(e, EngineError::Forbidden(_)), "{what}: {e}");
        assert_eq!(e.code(), "forbidden");
        assert!(e.to_string().contains("may not use the console"), "{e}");
        assert!(idp.sign_ins().await.is_empty(), "{what}");
    }
    assert_eq!(idp.stub.count("/userinfo"), 0);
    // The other listed address is let in.
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    let mut claims = idp.claims(&s);
    claims["email"] = json!("bob@example.com");
    idp.issue(&claims);
    let (new, _) = idp.finish(&s).await.unwrap();
    assert_eq!(new.session.user.display_name, "bob@example.com");
}

#[tokio::test]
async fn allowed_groups_match_exactly() {
    let idp = Idp::start(&format!(
        "client_id = \"{CLIENT}\"\nallowed_groups = [\"ops\", \"sre team\"]\n"
    ))
    .await;
    type Patch = fn(&mut Value);
    let refused: [(&str, Patch); 5] = [
        ("another case", |c| c["groups"] = json!(["Ops"])),
        ("a prefix", |c| c["groups"] = json!(["op"])),
        ("padded", |c| c["groups"] = json!([" ops"])),
        ("a string, not a list", |c| c["groups"] = json!("ops")),
        ("no groups", |c| c["groups"] = json!([])),
    ];
    for (what, patch) in refused {
        let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
        let mut claims = idp.claims(&s);
        patch(&mut claims);
        idp.issue(&claims);
        let e = idp.finish(&s).await.unwrap_err();
        assert!(matches!(e, EngineError::Forbidden(_)), "{what}: {e}");
        assert!(idp.sign_ins().await.is_empty(), "{what}");
    }
    // A member is let in, even with an unverified e-mail (the group is what counts).
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    let mut claims = idp.claims(&s);
    claims["groups"] = json!(["dev", 7, "sre team"]);
    claims["email_verified"] = json!(false);
    idp.issue(&claims);
    let (new, _) = idp.finish(&s).await.unwrap();
    assert_eq!(
        new.session.user.actor,
        Actor::Oidc {
            email: "ada@example.com".into()
        }
    );

    // Without an e-mail address the user is named by subject.
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    let mut claims = idp.claims(&s);
    claims.as_object_mut().unwrap().remove("email");
    claims["groups"] = json!(["ops"]);
    idp.issue(&claims);
    idp.userinfo(json!({"sub": "user-42"}));
    let (new, _) = idp.finish(&s).await.unwrap();
    assert_eq!(new.session.user.display_name, "sub:user-42");
    let audit = idp.sign_ins().await;
    assert_eq!(audit.last().unwrap().entry.actor, "oidc:sub:user-42");
}

#[tokio::test]
async fn a_custom_groups_claim_is_read() {
    let idp = Idp::start(&format!(
        "client_id = \"{CLIENT}\"\nallowed_groups = [\"admins\"]\ngroups_claim = \"roles\"\n"
    ))
    .await;
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    let mut claims = idp.claims(&s);
    claims["groups"] = json!(["admins"]);
    idp.issue(&claims);
    let e = idp.finish(&s).await.unwrap_err();
    assert!(matches!(e, EngineError::Forbidden(_)), "{e}");

    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    let mut claims = idp.claims(&s);
    claims["roles"] = json!(["admins"]);
    idp.issue(&claims);
    idp.finish(&s).await.unwrap();
}

#[tokio::test]
async fn claims_missing_from_the_id_token_are_taken_from_userinfo_of_the_same_subject() {
    let idp = Idp::emails().await;
    // No e-mail in the ID token: userinfo gives it, with the access token.
    let no_email = |s: &OidcStart| {
        let mut c = idp.claims(s);
        for k in ["email", "email_verified"] {
            c.as_object_mut().unwrap().remove(k);
        }
        c
    };
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.issue(&no_email(&s));
    idp.userinfo(json!({"sub": "user-42", "email": "Ada@example.com", "email_verified": true}));
    let (new, _) = idp.finish(&s).await.unwrap();
    assert_eq!(new.session.user.display_name, "ada@example.com");
    let reqs = idp.stub.reqs("/userinfo");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].header("authorization"), Some("Bearer at-1"));

    // Userinfo of another subject is ignored.
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.issue(&no_email(&s));
    idp.userinfo(
        json!({"sub": "someone-else", "email": "ada@example.com", "email_verified": true}),
    );
    idp.refused_after_first(idp.finish(&s).await, 1).await;

    // The ID token's claims win over userinfo's.
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    let mut c = idp.claims(&s);
    c.as_object_mut().unwrap().remove("email");
    c["email_verified"] = json!(false);
    idp.issue(&c);
    idp.userinfo(json!({"sub": "user-42", "email": "ada@example.com", "email_verified": true}));
    idp.refused_after_first(idp.finish(&s).await, 1).await;

    // Userinfo failing, or not JSON: the user is refused, not let in.
    for answer in [
        Resp::json(401, json!({"error": "invalid_token"})),
        Resp::raw(200, "text/plain", "ok"),
    ] {
        let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
        idp.issue(&no_email(&s));
        idp.set(|a| a.userinfo = answer);
        idp.refused_after_first(idp.finish(&s).await, 1).await;
    }

    // No access token: userinfo cannot be asked.
    let before = idp.stub.count("/userinfo");
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    let mut c = idp.claims(&s);
    c.as_object_mut().unwrap().remove("email");
    let t = id_token(&c);
    idp.set(|a| a.token = Resp::json(200, json!({"id_token": t})));
    idp.userinfo(json!({"sub": "user-42", "email": "ada@example.com", "email_verified": true}));
    idp.refused_after_first(idp.finish(&s).await, 1).await;
    assert_eq!(idp.stub.count("/userinfo"), before);
}

#[tokio::test]
async fn groups_missing_from_the_id_token_are_taken_from_userinfo() {
    let idp = Idp::start(&format!(
        "client_id = \"{CLIENT}\"\nallowed_groups = [\"ops\"]\n"
    ))
    .await;
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.issue(&idp.claims(&s));
    idp.userinfo(json!({"sub": "user-42", "groups": ["ops"]}));
    let (new, _) = idp.finish(&s).await.unwrap();
    assert_eq!(new.session.user.display_name, "ada@example.com");
    assert_eq!(idp.stub.count("/userinfo"), 1);

    // Groups in the ID token: userinfo is not asked.
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    let mut c = idp.claims(&s);
    c["groups"] = json!(["dev"]);
    idp.issue(&c);
    let e = idp.finish(&s).await.unwrap_err();
    assert!(matches!(e, EngineError::Forbidden(_)), "{e}");
    assert_eq!(idp.stub.count("/userinfo"), 1);
}

impl Idp {
    /// Asserts `r` was refused as forbidden and only the first `n` sign-ins exist.
    async fn refused_after_first<T: std::fmt::Debug>(&self, r: Result<T, EngineError>, n: usize) {
        let e = r.unwrap_err();
        assert!(matches!(e, EngineError::Forbidden(_)), "{e}");
        assert_eq!(self.sign_ins().await.len(), n);
    }
}

#[tokio::test]
async fn without_console_oidc_the_sign_in_is_not_found() {
    let store = memory_store().await;
    let engine = engine_with(
        Arc::new(store.clone()),
        ring(&key(), &[]),
        &[],
        config("", ""),
        true,
    );
    let e = engine.console_oidc_start("/ui", None).await.unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }), "{e}");
    let e = engine
        .console_oidc_finish("state", "code", "secret")
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }), "{e}");
}

#[tokio::test]
async fn a_provider_without_a_usable_discovery_document_is_unavailable() {
    let idp = Idp::emails().await;
    let base = idp.stub.base.clone();
    type Patch = fn(&mut Value);
    let cases: [(&str, Patch); 3] = [
        ("jwks_uri", |d| {
            d.as_object_mut().unwrap().remove("jwks_uri");
        }),
        // Refused by the catalog already (an oauth2 provider needs one).
        ("authorization_url", |d| {
            d.as_object_mut().unwrap().remove("authorization_endpoint");
        }),
        ("issuer", |d| d["issuer"] = json!("https://another.example")),
    ];
    for (what, patch) in cases {
        let mut doc = discovery_doc(&base);
        patch(&mut doc);
        idp.set(|a| a.discovery = doc);
        let e = idp
            .engine
            .console_oidc_start("/ui", None)
            .await
            .unwrap_err();
        assert!(
            matches!(e, EngineError::ProviderUnavailable(_)),
            "{what}: {e}"
        );
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
    let mut doc = discovery_doc(&base);
    doc["authorization_endpoint"] = json!("not a url");
    idp.set(|a| a.discovery = doc);
    let e = idp
        .engine
        .console_oidc_start("/ui", None)
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::ProviderUnavailable(_)), "{e}");

    // Discovery failing at the callback: the state is spent, nobody signed in.
    idp.set(|a| a.discovery = discovery_doc(&base));
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.issue(&idp.claims(&s));
    idp.set(|a| a.discovery = json!({"error": "gone"}));
    idp.refused(idp.finish(&s).await, "provider_unavailable")
        .await;
    assert_eq!(idp.stub.count("/token"), 0);
    idp.set(|a| a.discovery = discovery_doc(&base));
    idp.refused(idp.finish(&s).await, "unauthorized").await;
}

#[tokio::test]
async fn an_unreachable_token_endpoint_is_unavailable_and_signs_nobody_in() {
    let idp = Idp::emails().await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut doc = discovery_doc(&idp.stub.base);
    doc["token_endpoint"] = json!(format!("http://{dead}/token"));
    idp.set(|a| a.discovery = doc);
    let s = idp.engine.console_oidc_start("/ui", None).await.unwrap();
    idp.refused(idp.finish(&s).await, "provider_unavailable")
        .await;
    // The state was spent on the way.
    idp.set(|a| a.discovery = discovery_doc(&idp.stub.base));
    idp.issue(&idp.claims(&s));
    idp.refused(idp.finish(&s).await, "unauthorized").await;
    assert_eq!(idp.stub.count("/token"), 0);
}
