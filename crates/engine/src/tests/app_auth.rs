//! The JWTs of the `github_app` and `jwt_bearer` modes: their claims and headers, from
//! the engine's clock (the signatures are checked by the end-to-end tests' peer, with an
//! independent JOSE library).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::connections::app_auth::{app_jwt, assertion, is_installation_id};
use crate::connections::context::Ctx;

/// An RSA private key in PKCS#8 PEM, made for the test run.
fn rsa_pem() -> String {
    use aws_lc_rs::encoding::AsDer;
    use base64::Engine as _;
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(kp.as_der().unwrap().as_ref());
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.join("\n")
    )
}

fn ctx(provider: &str, extra: &str) -> Ctx {
    let pem = rsa_pem();
    let env = BTreeMap::from([("KEY".to_owned(), pem)]);
    let text = format!(
        "[[integrations]]\nid = \"it\"\nprovider = \"{provider}\"\nprivate_key = \"env:KEY\"\n{extra}"
    );
    let cfg = config::Config::from_toml(&text, "t.toml", &env, &Default::default()).unwrap();
    let (cat, _) = cfg.catalog(false).unwrap();
    Ctx {
        integration: cfg.integration("it").unwrap().clone(),
        provider: cat.get(provider).unwrap().clone(),
    }
}

fn parts(jwt: &str) -> (Value, Value) {
    let d = jsonwebtoken::dangerous::insecure_decode::<Value>(jwt).unwrap();
    (serde_json::to_value(&d.header).unwrap(), d.claims)
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap()
}

#[test]
fn a_github_app_jwt_is_backdated_and_short() {
    let c = ctx("github-app", "app_id = \"4242\"\napp_slug = \"my-app\"\n");
    let (header, claims) = parts(&app_jwt(&c, at()).unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], "4242");
    let now = at().timestamp();
    assert_eq!(claims["iat"], now - 60);
    assert_eq!(claims["exp"], now + 540);
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 600);
    assert_eq!(claims.as_object().unwrap().len(), 3, "{claims}");
}

#[test]
fn assertions_carry_what_each_provider_wants() {
    let now = at().timestamp();
    // Google: aud = the token URL, scope claim, optional sub, kid.
    let g = ctx(
        "google-service-account",
        "client_id = \"robot@p.iam.gserviceaccount.com\"\nprivate_key_id = \"k1\"\nscopes = [\"a\", \"b\"]\n",
    );
    let url = url::Url::parse("https://oauth2.googleapis.com/token").unwrap();
    let (header, claims) =
        parts(&assertion(&g, Some(&url), Some("alice@x.example"), None, at()).unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], "k1");
    assert_eq!(claims["iss"], "robot@p.iam.gserviceaccount.com");
    assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
    assert_eq!(claims["sub"], "alice@x.example");
    assert_eq!(claims["scope"], "a b");
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["exp"], now + 3600);
    assert!(claims["jti"].as_str().unwrap().len() >= 32);
    let (_, again) = parts(&assertion(&g, Some(&url), None, None, at()).unwrap());
    assert_ne!(again["jti"], claims["jti"]);
    assert!(again.get("sub").is_none());

    // Salesforce: aud = the login origin, no scope.
    let s = ctx("salesforce-jwt", "client_id = \"3MVG9\"\n");
    let url = url::Url::parse("https://login.salesforce.com/services/oauth2/token").unwrap();
    let (_, claims) = parts(&assertion(&s, Some(&url), Some("u@org.example"), None, at()).unwrap());
    assert_eq!(claims["aud"], "https://login.salesforce.com");
    assert!(claims.get("scope").is_none(), "{claims}");
    assert_eq!(claims["exp"], now + 180);

    // DocuSign: aud = the account host.
    let d = ctx("docusign-jwt", "client_id = \"ik-1\"\n");
    let url = url::Url::parse("https://account-d.docusign.com/oauth/token").unwrap();
    let (_, claims) = parts(&assertion(&d, Some(&url), Some("user-guid"), None, at()).unwrap());
    assert_eq!(claims["aud"], "account-d.docusign.com");
    assert_eq!(claims["scope"], "signature impersonation");
}

#[test]
fn installation_ids_are_numbers() {
    for ok in ["1", "101", "12345678901234567890"] {
        assert!(is_installation_id(ok), "{ok}");
    }
    for bad in ["", "abc", "-1", "1 2", "123456789012345678901", "١٢"] {
        assert!(!is_installation_id(bad), "{bad}");
    }
}

#[test]
fn installation_webhooks_name_their_change_and_installation() {
    use crate::Engine;
    use crate::connections::app_install::{Lifecycle, LifecycleEvent};
    let lifecycle_of = Engine::installation_lifecycle_of;
    let ev =
        |action: &str, id: Value| serde_json::json!({"action": action, "installation": {"id": id}});
    let event = |change, id: &str| {
        Some(LifecycleEvent {
            change,
            installation: id.to_owned(),
            at: None,
        })
    };
    assert_eq!(
        lifecycle_of(Some("installation"), Some(&ev("deleted", 101.into()))),
        event(Lifecycle::Deleted, "101")
    );
    assert_eq!(
        lifecycle_of(Some("installation"), Some(&ev("suspend", "202".into()))),
        event(Lifecycle::Suspended, "202")
    );
    assert_eq!(
        lifecycle_of(Some("installation"), Some(&ev("unsuspend", 7.into()))),
        event(Lifecycle::Unsuspended, "7")
    );
    // The time: a suspension's suspended_at, else updated_at, as RFC 3339 or Unix
    // seconds; an unreadable one is no time.
    let t = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let timed = |action: &str, installation: Value| {
        lifecycle_of(
            Some("installation"),
            Some(&serde_json::json!({"action": action, "installation": installation})),
        )
        .unwrap()
        .at
    };
    assert_eq!(
        timed(
            "suspend",
            serde_json::json!({"id": 1, "suspended_at": "2026-12-05T12:00:00Z", "updated_at": "2026-12-05T13:00:00Z"})
        ),
        Some(t("2026-12-05T12:00:00Z"))
    );
    assert_eq!(
        timed(
            "unsuspend",
            serde_json::json!({"id": 1, "suspended_at": null, "updated_at": "2026-12-05T13:00:00+01:00"})
        ),
        Some(t("2026-12-05T12:00:00Z"))
    );
    assert_eq!(
        timed(
            "suspend",
            serde_json::json!({"id": 1, "suspended_at": "yesterday", "updated_at": 1_796_472_000})
        ),
        Some(t("2026-12-05T12:00:00Z"))
    );
    assert_eq!(
        timed(
            "deleted",
            serde_json::json!({"id": 1, "suspended_at": "2026-12-05T12:00:00Z"})
        ),
        None
    );
    for bad in [
        serde_json::json!("noon"),
        serde_json::json!(true),
        serde_json::json!({}),
        serde_json::json!(1.5),
        serde_json::json!(u64::MAX),
    ] {
        assert_eq!(
            timed("unsuspend", serde_json::json!({"id": 1, "updated_at": bad})),
            None,
            "{bad}"
        );
    }
    // Other events, actions and malformed ids change nothing.
    for (ty, body) in [
        (None, ev("deleted", 101.into())),
        (Some("ping"), ev("deleted", 101.into())),
        (
            Some("github_app_authorization"),
            serde_json::json!({"action": "revoked"}),
        ),
        (Some("installation"), ev("created", 101.into())),
        (
            Some("installation"),
            ev("new_permissions_accepted", 101.into()),
        ),
        (Some("installation"), ev("deleted", (-1).into())),
        (Some("installation"), ev("deleted", 1.5.into())),
        (Some("installation"), ev("deleted", "abc".into())),
        (Some("installation"), ev("deleted", "".into())),
        (Some("installation"), ev("deleted", Value::Null)),
        (
            Some("installation"),
            serde_json::json!({"action": "deleted"}),
        ),
        (
            Some("installation"),
            serde_json::json!({"action": 3, "installation": {"id": 1}}),
        ),
        (Some("installation"), serde_json::json!([1, 2])),
    ] {
        assert_eq!(lifecycle_of(ty, Some(&body)), None, "{ty:?} {body}");
    }
    assert_eq!(lifecycle_of(Some("installation"), None), None);
}

#[test]
fn the_user_token_endpoint_is_the_install_pages_origins_unless_named() {
    let app = catalog::GithubApp {
        install_url: "https://ghe.example/github-apps/{app_slug}/installations/new".into(),
        token_url: None,
    };
    assert_eq!(
        app.user_token_url().as_deref(),
        Some("https://ghe.example/login/oauth/access_token")
    );
    let named = catalog::GithubApp {
        token_url: Some("https://github.com/login/oauth/access_token".into()),
        ..app
    };
    assert_eq!(
        named.user_token_url().as_deref(),
        Some("https://github.com/login/oauth/access_token")
    );
    let builtin = catalog::Catalog::builtin();
    let gh = builtin.get("github-app").unwrap();
    assert_eq!(
        gh.github_app.as_ref().unwrap().user_token_url().as_deref(),
        Some("https://github.com/login/oauth/access_token")
    );
}
