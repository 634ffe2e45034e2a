//! `jwt_bearer` connections that bring their own key (a customer's Google service-account
//! key file, a PEM with its issuer) through the engine's public API, against a stub token
//! endpoint on 127.0.0.1 that trusts each issuer's own public key: each connection signs
//! with its own key, issuer and key id; bad keys are refused before the provider is
//! asked and refused keys store nothing; the key is sealed in the connection's own slot,
//! never shown, removed with the connection, rotated with the master key, and never
//! replaced by the integration's key.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use store::{ConnectionStore, SecretStore, signing_key_slot};
use store_sqlite::SqliteStore;
use vault::MasterKey;

use super::connections::{Req, Resp, Stub};
use super::connections_signed::{RsaKey, direct, ops, rsa_key, start, verified};
use super::{all_audit, key, memory_store, ring};
use crate::connections::{CredentialsInput, DirectConnectRequest};
use crate::{Engine, EngineError, ManualClock};

const SA_CLIENT_ID: &str = "robot@integrator.iam.example";
const A_EMAIL: &str = "robot@customer-a.iam.example";
const B_ISSUER: &str = "3MVG9-customer-b-consumer-key";

/// The keys of one test: the integration's, two customers', one nobody trusts.
struct Keys {
    integration: RsaKey,
    a: RsaKey,
    b: RsaKey,
    wrong: RsaKey,
}

/// Who the stub token endpoint trusts: issuer → (public key, the `kid` it must carry).
type Trust = Arc<Mutex<Vec<(String, jsonwebtoken::DecodingKey, Option<String>)>>>;

/// A token for an assertion whose issuer is trusted, signed by that issuer's key (with
/// its `kid`, when the issuer has one); `invalid_grant` with the reason otherwise.
fn token_endpoint(trust: Trust) -> impl Fn(&Req) -> Resp + Send + Sync + 'static {
    let n = Arc::new(std::sync::atomic::AtomicU32::new(0));
    move |r: &Req| {
        if r.path != "/token" {
            return Resp::json(404, json!({}));
        }
        let f = r.form();
        let assertion = f.get("assertion").cloned().unwrap_or_default();
        let Ok(unverified) = jsonwebtoken::dangerous::insecure_decode::<Value>(&assertion) else {
            return Resp::json(
                400,
                json!({"error": "invalid_grant", "error_description": "not a JWT"}),
            );
        };
        let iss = unverified.claims["iss"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let trusted = trust.lock().unwrap();
        let Some((_, public, kid)) = trusted.iter().find(|(i, _, _)| *i == iss) else {
            return Resp::json(
                400,
                json!({"error": "invalid_grant", "error_description": format!("Invalid issuer {iss}")}),
            );
        };
        if kid.is_some() && unverified.header.kid != *kid {
            return Resp::json(
                400,
                json!({"error": "invalid_grant", "error_description": "Invalid JWT: unknown kid"}),
            );
        }
        if verified(&assertion, public).is_none() {
            return Resp::json(
                400,
                json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
            );
        }
        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        Resp::json(
            200,
            json!({"access_token": format!("tok-{iss}-{i}"), "expires_in": 3600, "token_type": "Bearer"}),
        )
    }
}

fn toml(base: &str) -> String {
    format!(
        r#"
public_url = "https://sb.example"

[[providers]]
id = "svc"
auth_mode = "jwt_bearer"
token_url = "{base}/token"
api_base_url = "{base}/api"
jwt_bearer = {{ audience = "token_url", subject = "optional", scopes = "claim" }}

[[providers]]
id = "ghapp"
auth_mode = "github_app"
docs_url = "{base}/docs"
api_base_url = "{base}"
install_url = "{base}/apps/{{app_slug}}/installations/new"

# Every connection brings its key.
[[integrations]]
id = "byo"
provider = "svc"
scopes = ["api.read"]
allowed_return_origins = ["https://app.example"]

# Every connection brings its key; a bare PEM's issuer defaults to this client_id.
[[integrations]]
id = "byo-default"
provider = "svc"
client_id = "{B_ISSUER}"

# The integrator's own service account, which a connection may replace with its own.
[[integrations]]
id = "sa"
provider = "svc"
client_id = "{SA_CLIENT_ID}"
private_key = "env:SA_KEY"
private_key_id = "k1"
allowed_return_origins = ["https://app.example"]

[[integrations]]
id = "gh"
provider = "ghapp"
app_id = "4242"
app_slug = "sb-test"
private_key = "env:SA_KEY"
"#
    )
}

/// The engine, its store, the stub, the keys and who the stub trusts.
struct K {
    engine: Engine,
    store: SqliteStore,
    stub: Stub,
    keys: Keys,
    master: MasterKey,
    cfg: config::Config,
    cat: catalog::Catalog,
    clock: ManualClock,
}

async fn setup() -> K {
    let keys = Keys {
        integration: rsa_key(),
        a: rsa_key(),
        b: rsa_key(),
        wrong: rsa_key(),
    };
    let trust: Trust = Arc::new(Mutex::new(vec![
        (
            SA_CLIENT_ID.to_owned(),
            keys.integration.public.clone(),
            Some("k1".to_owned()),
        ),
        (
            A_EMAIL.to_owned(),
            keys.a.public.clone(),
            Some("ka".to_owned()),
        ),
        (B_ISSUER.to_owned(), keys.b.public.clone(), None),
    ]));
    let stub = Stub::start(token_endpoint(trust)).await;
    let env = BTreeMap::from([("SA_KEY".to_owned(), keys.integration.pem.clone())]);
    let cfg =
        config::Config::from_toml(&toml(&stub.base), "t.toml", &env, &Default::default()).unwrap();
    let (cat, _) = cfg.catalog(true).unwrap();
    let store = memory_store().await;
    let master = key();
    let clock = ManualClock::starting_at(start());
    let engine = Engine::new(Arc::new(store.clone()), ring(&master, &[]), cfg.clone())
        .with_catalog(cat.clone())
        .with_dev(true)
        .with_clock(clock.clone());
    K {
        engine,
        store,
        stub,
        keys,
        master,
        cfg,
        cat,
        clock,
    }
}

impl K {
    /// Another engine on the same store with `keyring`.
    fn engine_with(&self, keyring: vault::Keyring) -> Engine {
        Engine::new(Arc::new(self.store.clone()), keyring, self.cfg.clone())
            .with_catalog(self.cat.clone())
            .with_dev(true)
            .with_clock(self.clock.clone())
    }

    /// The assertions the stub received, verified with `public`: (kid, claims).
    fn assertions(&self, public: &jsonwebtoken::DecodingKey) -> Vec<(Option<String>, Value)> {
        self.stub
            .reqs("/token")
            .iter()
            .filter_map(|r| verified(&r.form()["assertion"], public))
            .map(|(h, c)| (h.kid, c))
            .collect()
    }

    async fn connect(
        &self,
        body: Value,
    ) -> Result<crate::connections::ConnectionView, EngineError> {
        self.engine.connect_direct(direct(body), &ops()).await
    }

    async fn has_key(&self, id: &str) -> bool {
        self.store
            .get_secret(&signing_key_slot(id))
            .await
            .unwrap()
            .is_some()
    }
}

/// Customer A's key as Google hands it out (a JSON key file).
fn key_file(pem: &str, email: &str, kid: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "customer-a",
        "private_key_id": kid,
        "private_key": pem,
        "client_email": email,
        "client_id": "10987654321",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
    .to_string()
}

/// The body of the PEM (what must never leave the sealed slot), without its armour.
fn pem_body(pem: &str) -> String {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .take(3)
        .collect()
}

#[tokio::test]
async fn two_connections_of_one_integration_sign_with_their_own_keys() {
    let k = setup().await;
    let a = k
        .connect(
            json!({"integration": "byo", "end_user_id": "cust-a", "connection_id": "a-1",
            "settings": {"subject": "alice@customer-a.example"},
            "credentials": {"private_key": key_file(&k.keys.a.pem, A_EMAIL, "ka")}}),
        )
        .await
        .unwrap();
    let b = k
        .connect(
            json!({"integration": "byo", "end_user_id": "cust-b", "connection_id": "b-1",
            "credentials": {"private_key": k.keys.b.pem, "client_id": B_ISSUER}}),
        )
        .await
        .unwrap();
    // Which key signs is visible (the issuer), the key itself is not.
    assert_eq!(a.settings["key_issuer"], A_EMAIL);
    assert_eq!(a.settings["subject"], "alice@customer-a.example");
    assert_eq!(b.settings["key_issuer"], B_ISSUER);
    for v in [&a, &b] {
        let text = serde_json::to_string(v).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "{text}");
    }
    // Each assertion is signed by its own key, with its issuer and key id.
    let by_a = k.assertions(&k.keys.a.public);
    assert_eq!(by_a.len(), 1);
    assert_eq!(by_a[0].0.as_deref(), Some("ka"));
    assert_eq!(by_a[0].1["iss"], A_EMAIL);
    assert_eq!(by_a[0].1["sub"], "alice@customer-a.example");
    assert_eq!(by_a[0].1["scope"], "api.read");
    let by_b = k.assertions(&k.keys.b.public);
    assert_eq!(by_b.len(), 1);
    assert_eq!(
        by_b[0].0, None,
        "a bare PEM without private_key_id has no kid"
    );
    assert_eq!(by_b[0].1["iss"], B_ISSUER);
    assert!(k.assertions(&k.keys.integration.public).is_empty());
    let ta = k.engine.connection_token("a-1").await.unwrap();
    let tb = k.engine.connection_token("b-1").await.unwrap();
    assert!(
        ta.access_token
            .as_deref()
            .unwrap()
            .starts_with(&format!("tok-{A_EMAIL}-")),
        "{:?}",
        ta.access_token
    );
    assert!(
        tb.access_token
            .as_deref()
            .unwrap()
            .starts_with(&format!("tok-{B_ISSUER}-")),
        "{:?}",
        tb.access_token
    );

    // Renewals sign with the same keys again.
    k.clock.advance(std::time::Duration::from_secs(600));
    assert!(k.engine.force_refresh("a-1").await.unwrap().refreshed);
    assert!(k.engine.force_refresh("b-1").await.unwrap().refreshed);
    assert_eq!(k.assertions(&k.keys.a.public).len(), 2);
    assert_eq!(k.assertions(&k.keys.b.public).len(), 2);

    // Sealed in the connection's own slot; the stored bytes hold no part of the key, the
    // audit says only that the connection has a key of its own.
    for (id, pem) in [("a-1", &k.keys.a.pem), ("b-1", &k.keys.b.pem)] {
        let sealed = k
            .store
            .get_secret(&signing_key_slot(id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sealed.key_id, k.master.id().to_string());
        let body = pem_body(pem);
        assert!(
            !sealed
                .ciphertext
                .windows(body.len())
                .any(|w| w == body.as_bytes()),
            "{id}"
        );
    }
    let audit = all_audit(&k.store).await;
    let connects: Vec<&Value> = audit
        .iter()
        .filter(|r| r.entry.action == "connection.connect")
        .map(|r| &r.entry.details)
        .collect();
    assert_eq!(connects.len(), 2);
    assert!(
        connects.iter().all(|d| d["own_key"] == true),
        "{connects:?}"
    );
    let text = format!("{audit:?}");
    assert!(!text.contains("PRIVATE KEY") && !text.contains(&pem_body(&k.keys.a.pem)));
}

#[tokio::test]
async fn a_connections_key_replaces_the_integrations_and_a_reconnect_without_one_removes_it() {
    let k = setup().await;
    // The integration's own key, as before.
    let plain = k
        .connect(json!({"integration": "sa", "connection_id": "sa-1"}))
        .await
        .unwrap();
    assert!(!plain.settings.contains_key("key_issuer"));
    assert!(!k.has_key("sa-1").await);
    let by_integration = k.assertions(&k.keys.integration.public);
    assert_eq!(by_integration.len(), 1);
    assert_eq!(by_integration[0].0.as_deref(), Some("k1"));
    assert_eq!(by_integration[0].1["iss"], SA_CLIENT_ID);

    // A connection of the same integration with a key of its own: its issuer and kid,
    // never the integration's kid.
    let own = k
        .connect(json!({"integration": "sa", "connection_id": "sa-2",
            "credentials": {"private_key": key_file(&k.keys.a.pem, A_EMAIL, "ka")}}))
        .await
        .unwrap();
    assert_eq!(own.settings["key_issuer"], A_EMAIL);
    assert!(k.has_key("sa-2").await);
    let by_a = k.assertions(&k.keys.a.public);
    assert_eq!(by_a.len(), 1);
    assert_eq!(by_a[0].0.as_deref(), Some("ka"));

    // Reconnected with another key: replaced.
    k.connect(json!({"integration": "sa", "connection_id": "sa-2",
        "credentials": {"private_key": k.keys.b.pem, "client_id": B_ISSUER}}))
        .await
        .unwrap();
    assert_eq!(
        k.engine.get_connection("sa-2").await.unwrap().settings["key_issuer"],
        B_ISSUER
    );
    k.engine.force_refresh("sa-2").await.unwrap();
    assert_eq!(k.assertions(&k.keys.b.public).len(), 2);
    assert_eq!(k.assertions(&k.keys.a.public).len(), 1);

    // Reconnected without one: the integration's key signs again, and the old key is
    // gone from the store.
    let back = k
        .connect(json!({"integration": "sa", "connection_id": "sa-2"}))
        .await
        .unwrap();
    assert!(!back.settings.contains_key("key_issuer"), "{back:?}");
    assert!(!k.has_key("sa-2").await);
    assert_eq!(k.assertions(&k.keys.integration.public).len(), 2);
}

#[tokio::test]
async fn bad_connection_keys_are_refused_before_the_provider_is_asked() {
    let k = setup().await;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let ec = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap();
    let ec_pem = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(ec.as_ref());
        format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
    };
    let a_file = key_file(&k.keys.a.pem, A_EMAIL, "ka");
    let mut no_key: Value = serde_json::from_str(&a_file).unwrap();
    no_key.as_object_mut().unwrap().remove("private_key");
    let mut user_file: Value = serde_json::from_str(&a_file).unwrap();
    user_file["type"] = "authorized_user".into();
    let big = format!(
        "{}{}",
        k.keys.a.pem,
        " ".repeat(config::keys::MAX_KEY_BYTES)
    );
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"integration": "byo", "credentials": {"private_key": "hello"}}),
            "credentials.private_key",
            "is not a PEM key",
        ),
        (
            json!({"integration": "byo", "credentials": {"private_key": ec_pem}}),
            "credentials.private_key",
            "is an EC key",
        ),
        (
            json!({"integration": "byo", "credentials": {"private_key": no_key.to_string()}}),
            "credentials.private_key",
            "without private_key",
        ),
        (
            json!({"integration": "byo", "credentials": {"private_key": user_file.to_string()}}),
            "credentials.private_key",
            "service_account",
        ),
        (
            json!({"integration": "byo", "credentials": {"private_key": "{\"type\": "}}),
            "credentials.private_key",
            "not a readable key file",
        ),
        (
            json!({"integration": "byo", "credentials": {"private_key": big}}),
            "credentials.private_key",
            "at most",
        ),
        // A bare PEM names no issuer, and the integration has none to fall back on.
        (
            json!({"integration": "byo", "credentials": {"private_key": k.keys.b.pem}}),
            "credentials.client_id",
            "is missing",
        ),
        (
            json!({"integration": "byo", "credentials": {"private_key": a_file, "client_id": "other@x.example"}}),
            "credentials.client_id",
            "key file says",
        ),
        (
            json!({"integration": "byo", "credentials": {"private_key": a_file, "private_key_id": "k9"}}),
            "credentials.private_key_id",
            "key file says",
        ),
        (
            json!({"integration": "byo", "credentials": {"private_key": k.keys.b.pem, "client_id": "a\nb"}}),
            "credentials.client_id",
            "printable",
        ),
        (
            json!({"integration": "byo", "credentials": {"private_key": k.keys.b.pem, "client_id": "x", "private_key_id": ""}}),
            "credentials.private_key_id",
            "printable",
        ),
        (
            json!({"integration": "byo", "credentials": {"client_id": "x"}}),
            "credentials.private_key",
            "is missing",
        ),
        (
            json!({"integration": "byo", "credentials": {"api_key": "k"}}),
            "credentials",
            "not an API key",
        ),
        // Without a key of its own and without the integration's.
        (
            json!({"integration": "byo"}),
            "credentials.private_key",
            "is missing",
        ),
        (
            json!({"integration": "byo", "credentials": {}}),
            "credentials.private_key",
            "is missing",
        ),
        // Switchboard's own setting.
        (
            json!({"integration": "sa", "settings": {"key_issuer": "x"}}),
            "settings",
            "key_issuer",
        ),
        // A GitHub App's key is the integration's.
        (
            json!({"integration": "gh", "settings": {"installation_id": "101"}, "credentials": {"private_key": k.keys.a.pem}}),
            "credentials",
            "GitHub App",
        ),
    ];
    for (i, (mut body, field, needle)) in cases.into_iter().enumerate() {
        let id = format!("bad-{i}");
        body["connection_id"] = id.clone().into();
        let e = k.connect(body.clone()).await.unwrap_err();
        let EngineError::Invalid { field: f, message } = &e else {
            panic!("{i}: {e:?}")
        };
        assert_eq!(*f, field, "{i}: {message}");
        assert!(message.contains(needle), "{i}: {message}");
        for pem in [&k.keys.a.pem, &k.keys.b.pem] {
            assert!(!message.contains(&pem_body(pem)), "{i}: {message}");
        }
        assert!(!message.contains("-----END"), "{i}: {message}");
        assert!(k.store.get_connection(&id).await.unwrap().is_none(), "{i}");
        assert!(!k.has_key(&id).await, "{i}");
    }
    assert_eq!(k.stub.total(), 0, "no bad key reached the provider");

    // A bare PEM on an integration with a client_id takes it as its issuer.
    let v = k
        .connect(json!({"integration": "byo-default", "connection_id": "b-2",
            "credentials": {"private_key": k.keys.b.pem}}))
        .await
        .unwrap();
    assert_eq!(v.settings["key_issuer"], B_ISSUER);
}

#[tokio::test]
async fn a_key_the_provider_refuses_is_rejected_with_its_reason_and_stores_nothing() {
    let k = setup().await;
    // The right issuer, the wrong key.
    let e = k
        .connect(json!({"integration": "byo", "connection_id": "a-1",
            "credentials": {"private_key": key_file(&k.keys.wrong.pem, A_EMAIL, "ka")}}))
        .await
        .unwrap_err();
    let EngineError::CredentialsRejected(m) = &e else {
        panic!("{e:?}")
    };
    assert!(
        m.contains("Invalid JWT Signature"),
        "the provider's reason: {m}"
    );
    assert!(m.contains("the connection's own key"), "{m}");
    assert!(m.contains(A_EMAIL), "{m}");
    assert!(!m.contains("integration \"byo\""), "{m}");
    assert_eq!(k.stub.count("/token"), 1);
    assert!(k.store.get_connection("a-1").await.unwrap().is_none());
    assert!(!k.has_key("a-1").await);
    // An issuer the provider does not know.
    let e = k
        .connect(json!({"integration": "byo", "connection_id": "a-1",
            "credentials": {"private_key": k.keys.a.pem, "client_id": "stranger@x.example"}}))
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::CredentialsRejected(_)), "{e:?}");
    assert!(k.store.get_connection("a-1").await.unwrap().is_none());
    assert!(!k.has_key("a-1").await);
    let audit = all_audit(&k.store).await;
    assert!(audit.iter().all(|r| r.entry.action != "connection.connect"));
}

#[tokio::test]
async fn disconnect_and_erasure_remove_the_key() {
    let k = setup().await;
    for (user, id) in [("cust-a", "a-1"), ("cust-a", "a-2"), ("cust-b", "b-1")] {
        k.connect(
            json!({"integration": "byo", "end_user_id": user, "connection_id": id,
            "credentials": {"private_key": key_file(&k.keys.a.pem, A_EMAIL, "ka")}}),
        )
        .await
        .unwrap();
        assert!(k.has_key(id).await);
    }
    k.engine.disconnect("byo", "a-1", &ops()).await.unwrap();
    assert!(!k.has_key("a-1").await);
    // A revoked connection asks for no token, with or without its key.
    assert!(k.engine.connection_token("a-1").await.is_err());

    let report = k
        .engine
        .erase_end_user("cust-a", false, &ops())
        .await
        .unwrap();
    assert_eq!(report.counts.connections, 2, "{report:?}");
    assert!(!k.has_key("a-2").await);
    assert!(k.store.get_connection("a-2").await.unwrap().is_none());
    assert!(k.has_key("b-1").await, "another end user's key stays");
}

#[tokio::test]
async fn key_rotation_reseals_a_connections_key_and_it_still_signs() {
    let k = setup().await;
    k.connect(json!({"integration": "byo", "connection_id": "a-1",
        "credentials": {"private_key": key_file(&k.keys.a.pem, A_EMAIL, "ka")}}))
        .await
        .unwrap();
    let new = key();
    let both = k.engine_with(ring(&new, &[&k.master]));
    let p = both.rotate_keys(10, &ops(), &|_| {}).await.unwrap();
    assert!(p.rewritten >= 2, "the credentials and the key: {p:?}");
    let sealed = k
        .store
        .get_secret(&signing_key_slot("a-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sealed.key_id, new.id().to_string());
    // A server with the new master key alone opens it and signs.
    let only_new = k.engine_with(ring(&new, &[]));
    assert!(only_new.force_refresh("a-1").await.unwrap().refreshed);
    assert_eq!(k.assertions(&k.keys.a.public).len(), 2);
}

#[tokio::test]
async fn without_a_key_a_token_is_refused_saying_what_to_do_never_signed_with_the_integrations() {
    let k = setup().await;
    // Made with a key of its own, whose key then went missing: the integration has a
    // key, but it never signs for this connection.
    k.connect(json!({"integration": "sa", "connection_id": "sa-1",
        "credentials": {"private_key": key_file(&k.keys.a.pem, A_EMAIL, "ka")}}))
        .await
        .unwrap();
    assert!(
        k.store
            .delete_secret(&signing_key_slot("sa-1"))
            .await
            .unwrap()
    );
    let before = k.stub.count("/token");
    let e = k.engine.force_refresh("sa-1").await.unwrap_err();
    let EngineError::Misconfigured(m) = &e else {
        panic!("{e:?}")
    };
    assert!(m.contains("credentials.private_key"), "{m}");
    assert_eq!(k.stub.count("/token"), before, "nothing was signed");
    let c = k.store.get_connection("sa-1").await.unwrap().unwrap();
    assert!(c.last_error.unwrap().contains("key of its own"));

    // A connection of an integration without a key (its key was removed from the
    // configuration since): the same 422, naming both ways out.
    let mut c = k.store.get_connection("sa-1").await.unwrap().unwrap();
    c.id = "byo-1".into();
    c.integration = "byo".into();
    c.settings.clear();
    let sealed = crate::connections::credentials::Credentials::default()
        .seal(k.engine.keyring(), "byo-1")
        .unwrap();
    k.store.upsert_connection(&c, &sealed).await.unwrap();
    let e = k.engine.force_refresh("byo-1").await.unwrap_err();
    let EngineError::Misconfigured(m) = &e else {
        panic!("{e:?}")
    };
    assert!(
        m.contains("has no private_key") && m.contains("credentials.private_key"),
        "{m}"
    );
    assert_eq!(k.stub.count("/token"), before);
}

#[tokio::test]
async fn end_users_paste_their_key_on_the_connect_page_of_a_keyless_integration() {
    let k = setup().await;
    // An integration whose connections sign with the integrator's key is not offered.
    let e = k
        .engine
        .create_connect_session(
            serde_json::from_value(json!({"end_user": {"id": "u1"}, "integrations": ["sa"]}))
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, EngineError::Invalid { field: "integrations", message } if message.contains("without private_key")),
        "{e:?}"
    );
    let s = k
        .engine
        .create_connect_session(
            serde_json::from_value(json!({"end_user": {"id": "u1"}, "integrations": ["byo"]}))
                .unwrap(),
        )
        .await
        .unwrap();
    let page = k.engine.connect_page(&s.token).await.unwrap();
    assert_eq!(page.options.len(), 1);
    assert_eq!(page.options[0].auth_mode, "jwt_bearer");
    assert_eq!(
        page.options[0].subject,
        Some(crate::connections::SubjectInput { required: false })
    );
    // No key: refused without asking the provider.
    let e = k
        .engine
        .connect_with_session(
            &s.token,
            "byo",
            CredentialsInput::default(),
            BTreeMap::new(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            EngineError::Invalid {
                field: "credentials.private_key",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(k.stub.total(), 0);
    let (v, outcome) = k
        .engine
        .connect_with_session(
            &s.token,
            "byo",
            CredentialsInput {
                private_key: Some(key_file(&k.keys.a.pem, A_EMAIL, "ka")),
                ..CredentialsInput::default()
            },
            BTreeMap::from([("subject".to_owned(), "alice@customer-a.example".to_owned())]),
        )
        .await
        .unwrap();
    assert_eq!(outcome.error, None);
    assert_eq!(v.end_user_id, "u1");
    assert_eq!(v.settings["key_issuer"], A_EMAIL);
    assert!(k.has_key(&v.id).await);
    assert_eq!(
        k.assertions(&k.keys.a.public)[0].1["sub"],
        "alice@customer-a.example"
    );

    // A session cannot connect the integrator's service account, whatever it sends.
    let direct_to_sa = k
        .engine
        .connect_with_session(&s.token, "sa", CredentialsInput::default(), BTreeMap::new())
        .await
        .unwrap_err();
    assert!(
        matches!(direct_to_sa, EngineError::Forbidden(_)),
        "{direct_to_sa:?}"
    );
}

/// `DirectConnectRequest` takes the new fields only inside `credentials`, and its
/// `Debug` shows none of them.
#[test]
fn the_request_names_the_key_fields_and_never_prints_them() {
    let r: DirectConnectRequest = serde_json::from_value(json!({
        "integration": "byo",
        "credentials": {"private_key": "-----BEGIN PRIVATE KEY-----\nMIIsecret", "client_id": "c", "private_key_id": "k"},
    }))
    .unwrap();
    let printed = format!("{r:?}");
    assert!(!printed.contains("MIIsecret"), "{printed}");
    assert!(
        serde_json::from_value::<DirectConnectRequest>(json!({
            "integration": "byo", "credentials": {"private_key": "x", "kid": "k"},
        }))
        .is_err(),
        "unknown fields are refused"
    );
}
