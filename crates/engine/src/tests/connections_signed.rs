//! The signed-grant modes through the engine's public API, against a stub GitHub and a
//! stub token endpoint on 127.0.0.1: a GitHub App's installation tokens (bought with an
//! app JWT, renewed before the hour, ended by GitHub's 404 and 403), the installation
//! callback that proves the returning user can reach the installation, the installation
//! lifecycle webhooks, and JWT bearer service accounts.
//!
//! Every JWT the stub receives is checked against the public half of the key the test
//! generated, and its time claims against the engine's manual clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use signatures::Headers;
use store::{ConnectionStatus, ConnectionStore};
use store_sqlite::SqliteStore;

use super::connections::{Req, Resp, Stub, query_of};
use super::{all_audit, key, memory_store, ring};
use crate::connections::{CallbackParams, DirectConnectRequest};
use crate::webhooks::{Incoming, Intake};
use crate::{Actor, Engine, EngineError, ManualClock};

const APP_ID: &str = "4242";
const GH_CLIENT_ID: &str = "Iv1.test client";
const GH_CLIENT_SECRET: &str = "gh-client-secret";
const WEBHOOK_SECRET: &str = "gh-webhook-secret";
const SA_CLIENT_ID: &str = "robot@project.iam.example";
const INSTALLATION: &str = "101";

/// An RSA key pair made for the test run: the private key in PKCS#8 PEM, the public key
/// as a `jsonwebtoken` decoding key.
pub(super) struct RsaKey {
    pub(super) pem: String,
    pub(super) public: jsonwebtoken::DecodingKey,
}

pub(super) fn rsa_key() -> RsaKey {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair as _;
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(kp.as_der().unwrap().as_ref());
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    RsaKey {
        pem: format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            body.join("\n")
        ),
        public: jsonwebtoken::DecodingKey::from_rsa_der(kp.public_key().as_ref()),
    }
}

/// The keys of one test: the GitHub App's, the service account's, and one neither
/// provider trusts.
struct Keys {
    app: RsaKey,
    sa: RsaKey,
}

/// The claims of `jwt`, after its RS256 signature checked out against `key` (times are
/// asserted by the tests, from the manual clock, not by the validation).
pub(super) fn verified(
    jwt: &str,
    key: &jsonwebtoken::DecodingKey,
) -> Option<(jsonwebtoken::Header, Value)> {
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(jwt, key, &v)
        .ok()
        .map(|d| (d.header, d.claims))
}

fn bearer(r: &Req) -> &str {
    r.header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default()
}

/// The engine, its store, the stub and the manual clock.
struct G {
    engine: Engine,
    store: SqliteStore,
    stub: Stub,
    clock: ManualClock,
    keys: Arc<Keys>,
}

pub(super) fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 5, 12, 0, 0).unwrap()
}

/// What the stub GitHub knows: the installations and how their token requests end,
/// which installations the returning user can reach (by page), and the user token
/// endpoint's answer.
#[derive(Clone)]
struct World {
    /// Status answered to `POST /app/installations/{id}/access_tokens` (201 = a token).
    token_status: u16,
    /// A body answered instead of a token with `token_status` (a malformed answer).
    token_body: Option<Value>,
    /// Status answered to `DELETE /installation/token`.
    revoke_status: u16,
    /// Pages of `GET /user/installations`.
    pages: Vec<Vec<Value>>,
    /// The body of `POST /login/oauth/access_token`.
    user_token: Value,
    /// Status answered to `GET /app/installations/{id}` (200 = the installation).
    installation_status: u16,
    /// The installation's `suspended_at` in that answer (`None`: null, not suspended).
    suspended_at: Option<&'static str>,
}

impl Default for World {
    fn default() -> Self {
        Self {
            token_status: 201,
            token_body: None,
            revoke_status: 204,
            pages: vec![vec![json!({"id": 7})], vec![json!({"id": 101})]],
            user_token: json!({"access_token": "ghu_user_token", "token_type": "bearer"}),
            installation_status: 200,
            suspended_at: None,
        }
    }
}

/// The stub's answers for `world`; the app JWT is checked against `keys.app`, and
/// installation tokens are numbered by the calls so far and expire in an hour of
/// `clock`'s time.
fn github(
    world: World,
    keys: Arc<Keys>,
    clock: ManualClock,
) -> impl Fn(&Req) -> Resp + Send + Sync + 'static {
    let n = Arc::new(std::sync::atomic::AtomicU32::new(0));
    move |r: &Req| {
        let path = r.path.as_str();
        if let Some(rest) = path.strip_prefix("/app/installations/") {
            if verified(bearer(r), &keys.app.public).is_none() {
                return Resp::json(
                    401,
                    json!({"message": "A JSON web token could not be decoded"}),
                );
            }
            if let Some(id) = rest.strip_suffix("/access_tokens") {
                if let Some(body) = &world.token_body {
                    return Resp::json(world.token_status, body.clone());
                }
                return match world.token_status {
                    201 => {
                        let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                        let exp = clock.now() + chrono::Duration::hours(1);
                        Resp::json(
                            201,
                            json!({
                                "token": format!("ghs_{id}_{i}"),
                                "expires_at": exp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                                "permissions": {"contents": "read", "issues": "write"},
                            }),
                        )
                    }
                    s => Resp::json(s, json!({"message": format!("stub says {s}")})),
                };
            }
            if world.installation_status != 200 {
                return Resp::json(
                    world.installation_status,
                    json!({"message": format!("stub says {}", world.installation_status)}),
                );
            }
            return Resp::json(
                200,
                json!({
                    "id": rest.parse::<u64>().unwrap_or(0),
                    "account": {"login": "octo-org"},
                    "suspended_at": world.suspended_at,
                    "suspended_by": world.suspended_at.map(|_| json!({"login": "octo-owner"})),
                }),
            );
        }
        match path {
            "/login/oauth/access_token" => Resp::json(200, world.user_token.clone()),
            "/user/installations" => {
                if bearer(r) != "ghu_user_token" {
                    return Resp::json(401, json!({"message": "Bad credentials"}));
                }
                let page: usize = r.query_map()["page"].parse().unwrap();
                let list = world.pages.get(page - 1).cloned().unwrap_or_default();
                let resp = Resp::json(200, json!({"total_count": 2, "installations": list}));
                if page < world.pages.len() {
                    resp.with_header(
                        "link",
                        &format!("<https://x/user/installations?page={}>; rel=\"next\", <https://x/user/installations?page=1>; rel=\"first\"", page + 1),
                    )
                } else {
                    resp
                }
            }
            "/installation/token" => Resp::json(world.revoke_status, json!({"message": "stub"})),
            p if p.starts_with("/applications/") => Resp::raw(204, "text/plain", ""),
            "/token" => service_account_token(r, &keys),
            _ => Resp::json(404, json!({"message": "Not Found"})),
        }
    }
}

/// The service account's token endpoint: a token for an assertion signed by `keys.sa`,
/// `invalid_grant` for any other.
fn service_account_token(r: &Req, keys: &Keys) -> Resp {
    let f = r.form();
    if f.get("grant_type").map(String::as_str)
        != Some(crate::connections::app_auth::JWT_BEARER_GRANT)
    {
        return Resp::json(400, json!({"error": "unsupported_grant_type"}));
    }
    match f
        .get("assertion")
        .and_then(|a| verified(a, &keys.sa.public))
    {
        Some(_) => Resp::json(
            200,
            json!({"access_token": "sa-token", "expires_in": 3600, "token_type": "Bearer"}),
        ),
        None => Resp::json(
            400,
            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
        ),
    }
}

fn toml(base: &str) -> String {
    format!(
        r#"
public_url = "https://sb.example"
token_refresh_margin_secs = 300

[[providers]]
id = "ghapp"
auth_mode = "github_app"
docs_url = "{base}/docs"
api_base_url = "{base}"
install_url = "{base}/apps/{{app_slug}}/installations/new"

[[providers]]
id = "svc"
auth_mode = "jwt_bearer"
token_url = "{base}/token"
api_base_url = "{base}/api"
jwt_bearer = {{ audience = "token_url", subject = "optional", scopes = "claim" }}

[[integrations]]
id = "gh"
provider = "ghapp"
app_id = "{APP_ID}"
app_slug = "sb-test"
private_key = "env:APP_KEY"
client_id = "{GH_CLIENT_ID}"
client_secret = "{GH_CLIENT_SECRET}"
webhook_secrets = ["{WEBHOOK_SECRET}"]
allowed_return_origins = ["https://app.example"]

# The app's key is not this one.
[[integrations]]
id = "gh-wrong"
provider = "ghapp"
app_id = "{APP_ID}"
app_slug = "sb-test"
private_key = "env:WRONG_KEY"

[[integrations]]
id = "sa"
provider = "svc"
client_id = "{SA_CLIENT_ID}"
private_key = "env:SA_KEY"
private_key_id = "k1"
scopes = ["api.read", "api.write"]

[[integrations]]
id = "sa-wrong"
provider = "svc"
client_id = "{SA_CLIENT_ID}"
private_key = "env:WRONG_KEY"
"#
    )
}

async fn setup(world: World) -> G {
    let keys = Arc::new(Keys {
        app: rsa_key(),
        sa: rsa_key(),
    });
    let wrong = rsa_key();
    let clock = ManualClock::starting_at(start());
    let stub = Stub::start(github(world, keys.clone(), clock.clone())).await;
    let env = BTreeMap::from([
        ("APP_KEY".to_owned(), keys.app.pem.clone()),
        ("SA_KEY".to_owned(), keys.sa.pem.clone()),
        ("WRONG_KEY".to_owned(), wrong.pem),
    ]);
    let cfg =
        config::Config::from_toml(&toml(&stub.base), "t.toml", &env, &Default::default()).unwrap();
    let (cat, _) = cfg.catalog(true).unwrap();
    let store = memory_store().await;
    let engine = Engine::new(Arc::new(store.clone()), ring(&key(), &[]), cfg)
        .with_catalog(cat)
        .with_dev(true)
        .with_clock(clock.clone());
    G {
        engine,
        store,
        stub,
        clock,
        keys,
    }
}

impl G {
    fn world(&self, world: World) {
        self.stub
            .set(github(world, self.keys.clone(), self.clock.clone()));
    }

    async fn status(&self, id: &str) -> (ConnectionStatus, Option<String>) {
        let c = self.store.get_connection(id).await.unwrap().unwrap();
        (c.status, c.last_error)
    }

    /// The requests to `path` whose method is `method`.
    fn reqs(&self, method: &str, path: &str) -> Vec<Req> {
        self.stub
            .reqs(path)
            .into_iter()
            .filter(|r| r.method == method)
            .collect()
    }
}

pub(super) fn direct(v: Value) -> DirectConnectRequest {
    serde_json::from_value(v).unwrap()
}

pub(super) fn ops() -> Actor {
    Actor::Cli { user: "ops".into() }
}

/// Connects installation `installation` of `gh` by id, as the app's backend does.
async fn by_id(g: &G, id: &str, installation: &str) -> crate::connections::ConnectionView {
    g.engine
        .connect_direct(
            direct(
                json!({"integration": "gh", "end_user_id": "u1", "connection_id": id,
                "settings": {"installation_id": installation}}),
            ),
            &ops(),
        )
        .await
        .unwrap()
}

const TOKENS: &str = "/app/installations/101/access_tokens";

// ---------------------------------------------------------------------------------------
// GitHub App: installation tokens
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_installation_token_is_bought_with_an_app_jwt_from_the_engines_clock() {
    let g = setup(World::default()).await;
    let v = by_id(&g, "c1", INSTALLATION).await;
    assert_eq!(v.status, ConnectionStatus::Active);
    assert_eq!(v.auth_mode, "github_app");
    assert_eq!(v.settings["installation_id"], INSTALLATION);
    assert_eq!(v.settings["account"], "octo-org");
    assert_eq!(v.expires_at, Some(start() + chrono::Duration::hours(1)));
    assert_eq!(v.scopes, vec!["contents:read", "issues:write"]);

    let posts = g.reqs("POST", TOKENS);
    assert_eq!(posts.len(), 1);
    let r = &posts[0];
    assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
    let (header, claims) = verified(bearer(r), &g.keys.app.public).expect("signed by the app key");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(claims["iss"], APP_ID);
    assert_eq!(claims["iat"], start().timestamp() - 60);
    assert_eq!(claims["exp"], start().timestamp() + 540);
    // The account lookup is signed the same way.
    let gets = g.reqs("GET", "/app/installations/101");
    assert_eq!(gets.len(), 1);
    assert!(verified(bearer(&gets[0]), &g.keys.app.public).is_some());

    let creds = stored_creds_of(&g, "c1").await;
    assert_eq!(creds["access_token"], "ghs_101_1");
    let t = g.engine.connection_token("c1").await.unwrap();
    assert_eq!(t.access_token.as_deref(), Some("ghs_101_1"));
    assert_eq!(
        g.reqs("POST", TOKENS).len(),
        1,
        "a fresh token is served as is"
    );
}

async fn stored_creds_of(g: &G, id: &str) -> Value {
    let (_, sealed) = g
        .store
        .get_connection_credentials(id)
        .await
        .unwrap()
        .unwrap();
    super::connections::open(&g.engine, id, &sealed)
}

#[tokio::test]
async fn an_installation_token_is_renewed_before_the_hour_with_a_new_jwt() {
    let g = setup(World::default()).await;
    by_id(&g, "c1", INSTALLATION).await;
    // Half an hour on: still fresh.
    g.clock.advance(Duration::from_secs(1800));
    let t = g.engine.connection_token("c1").await.unwrap();
    assert_eq!(t.access_token.as_deref(), Some("ghs_101_1"));
    assert_eq!(g.reqs("POST", TOKENS).len(), 1);
    // Within the 5-minute margin, before the hour: renewed once.
    g.clock.advance(Duration::from_secs(1800 - 200));
    let renewed_at = g.clock.now();
    let t = g.engine.connection_token("c1").await.unwrap();
    assert_eq!(t.access_token.as_deref(), Some("ghs_101_2"));
    let posts = g.reqs("POST", TOKENS);
    assert_eq!(posts.len(), 2);
    let (_, claims) = verified(bearer(&posts[1]), &g.keys.app.public).unwrap();
    assert_eq!(claims["iat"], renewed_at.timestamp() - 60);
    assert_eq!(claims["exp"], renewed_at.timestamp() + 540);
    assert_ne!(bearer(&posts[0]), bearer(&posts[1]));
    let c = g.store.get_connection("c1").await.unwrap().unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(c.expires_at, Some(renewed_at + chrono::Duration::hours(1)));
    assert_eq!(stored_creds_of(&g, "c1").await["access_token"], "ghs_101_2");
    // Served again without a call.
    g.engine.connection_token("c1").await.unwrap();
    assert_eq!(g.reqs("POST", TOKENS).len(), 2);
}

#[tokio::test]
async fn an_uninstalled_app_revokes_the_connection_on_renewal() {
    let g = setup(World::default()).await;
    by_id(&g, "c1", INSTALLATION).await;
    g.world(World {
        token_status: 404,
        ..World::default()
    });
    let e = g.engine.force_refresh("c1").await.unwrap_err();
    assert!(e.to_string().contains("uninstalled"), "{e}");
    let (status, last_error) = g.status("c1").await;
    assert_eq!(status, ConnectionStatus::Revoked);
    assert!(
        last_error.unwrap().contains("knows no installation 101"),
        "the message names the installation"
    );
    // The credentials are gone; the token is no longer served.
    assert!(
        g.store
            .get_connection_credentials("c1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(g.engine.connection_token("c1").await.is_err());
    let audit = all_audit_actions(&g).await;
    assert!(audit.iter().any(|a| a == "connection.revoke"), "{audit:?}");
}

async fn all_audit_actions(g: &G) -> Vec<String> {
    all_audit(&g.store)
        .await
        .into_iter()
        .map(|r| r.entry.action)
        .collect()
}

#[tokio::test]
async fn a_suspended_installation_needs_reauth_on_renewal() {
    let g = setup(World::default()).await;
    by_id(&g, "c1", INSTALLATION).await;
    g.world(World {
        token_status: 403,
        ..World::default()
    });
    g.engine.force_refresh("c1").await.unwrap_err();
    let (status, last_error) = g.status("c1").await;
    assert_eq!(status, ConnectionStatus::NeedsReauth);
    assert!(last_error.unwrap().contains("suspended"));
    // Credentials are kept (the installation may come back).
    assert!(
        g.store
            .get_connection_credentials("c1")
            .await
            .unwrap()
            .is_some()
    );
    let e = g.engine.connection_token("c1").await.unwrap_err();
    assert!(!matches!(e, EngineError::NotFound { .. }), "{e:?}");
}

#[tokio::test]
async fn a_refused_app_jwt_leaves_the_connection_active_with_its_error() {
    let g = setup(World::default()).await;
    by_id(&g, "c1", INSTALLATION).await;
    g.world(World {
        token_status: 401,
        ..World::default()
    });
    let e = g.engine.force_refresh("c1").await.unwrap_err();
    assert!(matches!(e, EngineError::Provider(_)), "{e:?}");
    let c = g.store.get_connection("c1").await.unwrap().unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(c.refresh_failures, 1);
    let err = c.last_error.unwrap();
    assert!(err.contains("check app_id and private_key"), "{err}");
    assert!(err.contains("\"gh\""), "{err}");
    // The old token is still there and still served until it expires.
    assert_eq!(stored_creds_of(&g, "c1").await["access_token"], "ghs_101_1");
    let t = g.engine.connection_token("c1").await.unwrap();
    assert_eq!(t.access_token.as_deref(), Some("ghs_101_1"));
}

#[tokio::test]
async fn connecting_by_id_refuses_what_github_refuses_and_stores_nothing() {
    let g = setup(World::default()).await;
    // Not a number, no installation, credentials sent: refused before GitHub is asked.
    for (body, field) in [
        (
            json!({"integration": "gh", "connection_id": "c1", "settings": {"installation_id": "abc"}}),
            "settings",
        ),
        (
            json!({"integration": "gh", "connection_id": "c1"}),
            "settings",
        ),
        (
            json!({"integration": "gh", "connection_id": "c1",
                "settings": {"installation_id": "101"}, "credentials": {"api_key": "x"}}),
            "credentials",
        ),
    ] {
        let e = g
            .engine
            .connect_direct(direct(body.clone()), &ops())
            .await
            .unwrap_err();
        assert!(
            matches!(e, EngineError::Invalid { field: f, .. } if f == field),
            "{body}: {e:?}"
        );
    }
    assert_eq!(g.stub.total(), 0);

    // A key the app does not have: GitHub answers 401.
    let e = g
        .engine
        .connect_direct(
            direct(json!({"integration": "gh-wrong", "connection_id": "c1", "settings": {"installation_id": "101"}})),
            &ops(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, EngineError::CredentialsRejected(ref m) if m.contains("private_key")),
        "{e:?}"
    );
    for (status, check) in [(404u16, "settings"), (403, "rejected")] {
        g.world(World {
            token_status: status,
            ..World::default()
        });
        let e = g
            .engine
            .connect_direct(
                direct(json!({"integration": "gh", "connection_id": "c1", "settings": {"installation_id": "101"}})),
                &ops(),
            )
            .await
            .unwrap_err();
        match check {
            "settings" => assert!(
                matches!(
                    e,
                    EngineError::Invalid {
                        field: "settings",
                        ..
                    }
                ),
                "{e:?}"
            ),
            _ => assert!(matches!(e, EngineError::CredentialsRejected(_)), "{e:?}"),
        }
    }
    assert!(g.store.get_connection("c1").await.unwrap().is_none());
}

#[tokio::test]
async fn disconnecting_revokes_the_installation_token_with_itself() {
    let g = setup(World::default()).await;
    by_id(&g, "c1", INSTALLATION).await;
    let d = g.engine.disconnect("gh", "c1", &ops()).await.unwrap();
    let deletes = g.reqs("DELETE", "/installation/token");
    assert_eq!(deletes.len(), 1);
    assert_eq!(bearer(&deletes[0]), "ghs_101_1");
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["revoked_at_provider"], true, "{v}");
}

// ---------------------------------------------------------------------------------------
// GitHub App: the installation callback (app_install.rs)
// ---------------------------------------------------------------------------------------

/// A connect session for `gh`, its installation page, and the callback GitHub would
/// make with `code`, `installation_id` and `setup_action`.
async fn install(
    g: &G,
    code: Option<&str>,
    installation: Option<&str>,
    setup_action: Option<&str>,
) -> crate::connections::CallbackOutcome {
    let token = g
        .engine
        .create_connect_session(
            serde_json::from_value(json!({"end_user": {"id": "u1"}, "integrations": ["gh"]}))
                .unwrap(),
        )
        .await
        .unwrap()
        .token;
    let start = g
        .engine
        .start_authorization("gh", &token, Some("conn-i"), BTreeMap::new())
        .await
        .unwrap();
    assert!(
        start
            .url
            .starts_with(&format!("{}/apps/sb-test/installations/new?", g.stub.base)),
        "{}",
        start.url
    );
    let q = query_of(&start.url);
    let mut other = BTreeMap::new();
    if let Some(i) = installation {
        other.insert("installation_id".to_owned(), i.to_owned());
    }
    if let Some(a) = setup_action {
        other.insert("setup_action".to_owned(), a.to_owned());
    }
    let params = CallbackParams {
        code: code.map(str::to_owned),
        state: Some(q["state"].clone()),
        other,
        ..CallbackParams::default()
    };
    g.engine.finish_authorization("gh", params).await.unwrap()
}

/// The user token exchange: the app's client and the code, in a form.
fn assert_exchanged(g: &G, code: &str) {
    let ex = g.reqs("POST", "/login/oauth/access_token");
    assert_eq!(ex.len(), 1);
    let f = ex[0].form();
    assert_eq!(f["client_id"], GH_CLIENT_ID);
    assert_eq!(f["client_secret"], GH_CLIENT_SECRET);
    assert_eq!(f["code"], code);
}

/// The user token was revoked with the app's client, in a path segment of its own.
fn assert_user_token_revoked(g: &G) {
    let path = "/applications/Iv1.test%20client/token";
    let del = g.reqs("DELETE", path);
    assert_eq!(del.len(), 1, "{path} not called");
    assert_eq!(
        del[0].header("authorization"),
        Some(super::connections::basic_plain(GH_CLIENT_ID, GH_CLIENT_SECRET).as_str())
    );
    assert_eq!(del[0].json(), json!({"access_token": "ghu_user_token"}));
}

#[tokio::test]
async fn an_installation_the_user_reaches_on_a_later_page_is_connected() {
    let g = setup(World::default()).await;
    let out = install(&g, Some("gh-code"), Some(INSTALLATION), Some("install")).await;
    assert_eq!(out.error, None, "{out:?}");
    assert_eq!(out.connection_id.as_deref(), Some("conn-i"));
    assert_exchanged(&g, "gh-code");
    // Both pages were read with the user's token, 100 at a time.
    let pages = g.reqs("GET", "/user/installations");
    assert_eq!(pages.len(), 2);
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(bearer(p), "ghu_user_token");
        let q = p.query_map();
        assert_eq!(q["per_page"], "100");
        assert_eq!(q["page"], (i + 1).to_string());
    }
    assert_user_token_revoked(&g);
    let c = g.store.get_connection("conn-i").await.unwrap().unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(c.auth_mode, "github_app");
    assert_eq!(c.settings["installation_id"], INSTALLATION);
    assert_eq!(c.routing_key.as_deref(), Some(INSTALLATION));
    assert_eq!(
        stored_creds_of(&g, "conn-i").await["access_token"],
        "ghs_101_1"
    );
    // The user token is nowhere in what was stored.
    let creds = stored_creds_of(&g, "conn-i").await.to_string();
    assert!(!creds.contains("ghu_"), "{creds}");
}

/// A refused installation: the app's code, nothing stored, no installation token bought.
async fn refused(g: &G, out: &crate::connections::CallbackOutcome, code: &str) {
    assert_eq!(out.error.as_deref(), Some(code), "{out:?}");
    assert!(g.store.get_connection("conn-i").await.unwrap().is_none());
    assert_eq!(g.reqs("POST", TOKENS).len(), 0);
}

#[tokio::test]
async fn an_installation_the_user_cannot_reach_is_refused_and_the_user_token_revoked() {
    let g = setup(World {
        pages: vec![vec![json!({"id": 7})], vec![json!({"id": "8"})]],
        ..World::default()
    })
    .await;
    let out = install(&g, Some("gh-code"), Some(INSTALLATION), None).await;
    refused(&g, &out, "installation_not_accessible").await;
    assert_eq!(g.reqs("GET", "/user/installations").len(), 2);
    assert_user_token_revoked(&g);
    let audit = all_audit(&g.store).await;
    let row = audit
        .iter()
        .find(|r| r.entry.action == "connection.installation_refused")
        .expect("the refusal is audited");
    let details = serde_json::to_string(&row.entry.details).unwrap();
    assert!(details.contains("installation_not_accessible"), "{details}");
    assert!(!details.contains("ghu_"), "{details}");
}

#[tokio::test]
async fn an_installation_callback_without_a_code_is_refused_without_calls() {
    let g = setup(World::default()).await;
    let out = install(&g, None, Some(INSTALLATION), Some("install")).await;
    refused(&g, &out, "installation_not_accessible").await;
    assert_eq!(g.stub.total(), 0, "GitHub is not asked");
}

#[tokio::test]
async fn a_refused_code_is_refused_and_nothing_is_revoked() {
    let g = setup(World {
        user_token: json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}),
        ..World::default()
    })
    .await;
    let out = install(&g, Some("stale"), Some(INSTALLATION), None).await;
    refused(&g, &out, "installation_not_accessible").await;
    assert_exchanged(&g, "stale");
    assert_eq!(g.reqs("GET", "/user/installations").len(), 0);
    assert_eq!(
        g.stub.reqs("/applications/Iv1.test%20client/token").len(),
        0
    );
}

#[tokio::test]
async fn a_refused_app_client_is_refused_as_invalid_client() {
    let g = setup(World {
        user_token: json!({"error": "incorrect_client_credentials"}),
        ..World::default()
    })
    .await;
    let out = install(&g, Some("gh-code"), Some(INSTALLATION), None).await;
    refused(&g, &out, "invalid_client").await;
    assert_eq!(g.reqs("GET", "/user/installations").len(), 0);
}

#[tokio::test]
async fn installation_callbacks_github_did_not_complete_are_refused() {
    let g = setup(World::default()).await;
    // A member asked the owners to install: there is no installation yet.
    let out = install(&g, Some("gh-code"), Some(INSTALLATION), Some("request")).await;
    refused(&g, &out, "installation_requested").await;
    for (installation, action) in [
        (Some(INSTALLATION), Some("explode")),
        (None, Some("install")),
        (Some("12ab"), Some("install")),
    ] {
        let out = install(&g, Some("gh-code"), installation, action).await;
        refused(&g, &out, "invalid_request").await;
    }
    assert_eq!(g.stub.total(), 0);
}

#[tokio::test]
async fn a_listed_installation_github_gives_no_token_for_is_refused() {
    let g = setup(World::default()).await;
    g.world(World {
        token_status: 404,
        ..World::default()
    });
    let out = install(&g, Some("gh-code"), Some(INSTALLATION), None).await;
    assert_eq!(
        out.error.as_deref(),
        Some("installation_not_found"),
        "{out:?}"
    );
    assert!(g.store.get_connection("conn-i").await.unwrap().is_none());
    assert_user_token_revoked(&g);
}

// ---------------------------------------------------------------------------------------
// GitHub App: installation webhooks
// ---------------------------------------------------------------------------------------

/// Delivers an `installation` webhook for `installation` with `action`, signed.
async fn hook(g: &G, delivery: &str, action: &str, installation: u64) -> Intake {
    hook_with(
        g,
        delivery,
        action,
        json!({"id": installation, "account": {"login": "octo-org"}}),
    )
    .await
}

/// Delivers an `installation` webhook whose `installation` object is `installation`,
/// signed, a second after the last one (as real clocks move between deliveries).
async fn hook_with(g: &G, delivery: &str, action: &str, installation: Value) -> Intake {
    g.clock.advance(Duration::from_secs(1));
    let body = json!({"action": action, "installation": installation}).to_string();
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    m.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(m.finalize().into_bytes()));
    let headers = Headers::new()
        .with("X-Hub-Signature-256", &sig)
        .with("X-GitHub-Delivery", delivery)
        .with("X-GitHub-Event", "installation");
    g.engine
        .intake(Incoming {
            integration: "gh",
            method: "POST",
            url: "https://sb.example/webhooks/gh/event",
            query: "",
            headers: &headers,
            body: body.as_bytes(),
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn installation_webhooks_suspend_unsuspend_and_delete_the_bound_connections() {
    let g = setup(World::default()).await;
    by_id(&g, "w-1", "101").await;
    by_id(&g, "w-2", "101").await;
    by_id(&g, "w-3", "202").await;
    let bought = |g: &G| g.stub.reqs("/app/installations/101/access_tokens").len();
    assert_eq!(bought(&g), 2);

    // Actions that change nothing, and an installation nobody is bound to.
    for (i, action) in ["created", "new_permissions_accepted", "unsuspend"]
        .iter()
        .enumerate()
    {
        let out = hook(&g, &format!("noop-{i}"), action, 101).await;
        assert!(matches!(out, Intake::Stored { .. }), "{out:?}");
    }
    hook(&g, "other", "deleted", 999).await;
    for id in ["w-1", "w-2", "w-3"] {
        assert_eq!(g.status(id).await.0, ConnectionStatus::Active, "{id}");
    }
    assert_eq!(
        bought(&g),
        2,
        "unsuspend of an active connection buys nothing"
    );

    // GitHub is asked each time: the webhook prompts, GitHub's answer decides.
    let asked = g.reqs("GET", "/app/installations/101").len();
    g.world(World {
        suspended_at: Some("2026-12-05T11:59:00Z"),
        ..World::default()
    });
    hook(&g, "s-1", "suspend", 101).await;
    assert_eq!(g.reqs("GET", "/app/installations/101").len(), asked + 1);
    for id in ["w-1", "w-2"] {
        let (s, e) = g.status(id).await;
        assert_eq!(s, ConnectionStatus::NeedsReauth, "{id}");
        let e = e.unwrap();
        assert!(
            e.contains("GitHub reports installation 101 suspended"),
            "{e}"
        );
        assert!(e.contains("installation.suspend webhook"), "{e}");
    }
    assert_eq!(g.status("w-3").await.0, ConnectionStatus::Active);
    // A redelivery is a duplicate and changes nothing.
    let again = hook(&g, "s-1", "suspend", 101).await;
    assert!(!matches!(again, Intake::Stored { .. }), "{again:?}");

    // Unsuspended, but GitHub still refuses a token: stays needs_reauth.
    g.world(World {
        token_status: 403,
        ..World::default()
    });
    hook(&g, "u-1", "unsuspend", 101).await;
    assert_eq!(g.status("w-1").await.0, ConnectionStatus::NeedsReauth);
    // Unsuspended for real: a fresh token each, active again.
    g.world(World::default());
    hook(&g, "u-2", "unsuspend", 101).await;
    for id in ["w-1", "w-2"] {
        let (s, e) = g.status(id).await;
        assert_eq!(s, ConnectionStatus::Active, "{id}");
        assert_eq!(e, None);
        let t = stored_creds_of(&g, id).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(t.starts_with("ghs_101_"), "{t}");
    }
    let audit = all_audit_actions(&g).await;
    assert_eq!(
        audit
            .iter()
            .filter(|a| *a == "connection.reactivate")
            .count(),
        2,
        "{audit:?}"
    );

    hook(&g, "d-1", "deleted", 101).await;
    for id in ["w-1", "w-2"] {
        let (s, e) = g.status(id).await;
        assert_eq!(s, ConnectionStatus::Revoked, "{id}");
        assert!(e.unwrap().contains("installation.deleted webhook"));
        assert!(
            g.store
                .get_connection_credentials(id)
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(g.status("w-3").await.0, ConnectionStatus::Active);
    // Deleted again, or suspended once revoked: nothing more happens.
    let revokes = all_audit_actions(&g)
        .await
        .iter()
        .filter(|a| *a == "connection.revoke")
        .count();
    assert_eq!(revokes, 2);
    hook(&g, "d-2", "deleted", 101).await;
    hook(&g, "s-2", "suspend", 101).await;
    assert_eq!(g.status("w-1").await.0, ConnectionStatus::Revoked);
    let revokes_after = all_audit_actions(&g)
        .await
        .iter()
        .filter(|a| *a == "connection.revoke")
        .count();
    assert_eq!(revokes_after, 2);
}

/// The number of audit rows with `action`.
async fn audited(g: &G, action: &str) -> usize {
    all_audit_actions(g)
        .await
        .iter()
        .filter(|a| *a == action)
        .count()
}

/// A time `secs` after the test's start, as GitHub writes it in a payload.
fn gh_time(secs: i64) -> String {
    (start() + chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[tokio::test]
async fn reordered_and_redelivered_installation_webhooks_converge_to_githubs_state() {
    let g = setup(World::default()).await;
    by_id(&g, "r-1", INSTALLATION).await;
    let asked = |g: &G| g.reqs("GET", "/app/installations/101").len();
    let bought = |g: &G| g.reqs("POST", TOKENS).len();
    let (asked0, bought0) = (asked(&g), bought(&g));

    // The owner suspended, then unsuspended; the unsuspend is delivered first and the
    // suspend last. GitHub says active: nothing changes, whatever the order.
    let suspended = json!({"id": 101, "suspended_at": gh_time(10), "updated_at": gh_time(10)});
    let resumed = json!({"id": 101, "suspended_at": null, "updated_at": gh_time(20)});
    hook_with(&g, "u-1", "unsuspend", resumed.clone()).await;
    hook_with(&g, "s-1", "suspend", suspended.clone()).await;
    assert_eq!(g.status("r-1").await, (ConnectionStatus::Active, None));
    assert_eq!(asked(&g), asked0 + 2, "GitHub was asked for each");
    assert_eq!(bought(&g), bought0, "an active connection buys no token");
    assert_eq!(audited(&g, "connection.needs_reauth").await, 0);

    // Suspended again: a late unsuspend is the first to arrive; GitHub says suspended,
    // and that is what applies.
    g.world(World {
        suspended_at: Some("2026-12-05T12:00:30Z"),
        ..World::default()
    });
    hook_with(&g, "u-0", "unsuspend", resumed.clone()).await;
    let (status, e) = g.status("r-1").await;
    assert_eq!(status, ConnectionStatus::NeedsReauth);
    let e = e.unwrap();
    assert!(
        e.contains("GitHub reports installation 101 suspended"),
        "{e}"
    );
    assert!(e.contains("installation.unsuspend webhook"), "{e}");
    assert_eq!(audited(&g, "connection.needs_reauth").await, 1);
    // Its suspend follows: already applied, nothing more (no second event for the app).
    hook_with(
        &g,
        "s-2",
        "suspend",
        json!({"id": 101, "suspended_at": gh_time(30)}),
    )
    .await;
    assert_eq!(g.status("r-1").await.0, ConnectionStatus::NeedsReauth);
    assert_eq!(audited(&g, "connection.needs_reauth").await, 1);

    // A redelivery (the same delivery id) is a duplicate: GitHub is not even asked.
    let before = asked(&g);
    let again = hook_with(&g, "u-0", "unsuspend", resumed.clone()).await;
    assert!(!matches!(again, Intake::Stored { .. }), "{again:?}");
    assert_eq!(asked(&g), before);
    assert_eq!(g.status("r-1").await.0, ConnectionStatus::NeedsReauth);

    // Unsuspended at GitHub: any installation webhook, even an old suspend delivered
    // anew, brings the connection back, with a fresh token.
    g.world(World::default());
    hook_with(&g, "s-1-again", "suspend", suspended.clone()).await;
    assert_eq!(g.status("r-1").await, (ConnectionStatus::Active, None));
    assert_eq!(bought(&g), bought0 + 1);
    let audit = all_audit(&g.store).await;
    let reactivated: Vec<_> = audit
        .iter()
        .filter(|r| r.entry.action == "connection.reactivate")
        .collect();
    assert_eq!(reactivated.len(), 1);
    assert_eq!(reactivated[0].entry.details["source"], "github");
    // Delivered anew once more: nothing changes, nothing is bought.
    hook_with(&g, "s-1-third", "suspend", suspended).await;
    hook_with(&g, "u-1-again", "unsuspend", resumed).await;
    assert_eq!(g.status("r-1").await, (ConnectionStatus::Active, None));
    assert_eq!(bought(&g), bought0 + 1);
    assert_eq!(audited(&g, "connection.reactivate").await, 1);
    assert_eq!(audited(&g, "connection.needs_reauth").await, 1);

    // GitHub no longer knows the installation: whatever the webhook says, it is gone.
    g.world(World {
        installation_status: 404,
        ..World::default()
    });
    hook(&g, "u-2", "unsuspend", 101).await;
    let (status, e) = g.status("r-1").await;
    assert_eq!(status, ConnectionStatus::Revoked);
    assert!(e.unwrap().contains("GitHub knows no installation 101"));
    assert!(
        g.store
            .get_connection_credentials("r-1")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn while_github_cannot_be_asked_an_installation_webhook_applies_only_if_newer() {
    let g = setup(World::default()).await;
    // Made at the start: its installation token is from then.
    by_id(&g, "d-1", INSTALLATION).await;
    // GitHub is down, for the installation's state and for tokens alike. The webhooks
    // below arrive five hours on, their times in the past.
    g.world(World {
        installation_status: 503,
        token_status: 503,
        ..World::default()
    });
    g.clock.advance(Duration::from_secs(5 * 3600));
    let bought = |g: &G| g.reqs("POST", TOKENS).len();
    let bought0 = bought(&g);
    const H: i64 = 3600;

    // A suspension from before the connection's token: GitHub gave a token after it, so
    // it was over by then.
    hook_with(
        &g,
        "s-old",
        "suspend",
        json!({"id": 101, "suspended_at": gh_time(-H)}),
    )
    .await;
    assert_eq!(g.status("d-1").await, (ConnectionStatus::Active, None));
    // An unsuspension at +2 h on an active connection changes nothing but is kept in
    // mind: the suspension at +1 h, delivered after it, is older and changes nothing.
    hook_with(
        &g,
        "u-2h",
        "unsuspend",
        json!({"id": 101, "suspended_at": null, "updated_at": gh_time(2 * H)}),
    )
    .await;
    hook_with(
        &g,
        "s-1h",
        "suspend",
        json!({"id": 101, "suspended_at": gh_time(H)}),
    )
    .await;
    assert_eq!(g.status("d-1").await, (ConnectionStatus::Active, None));
    // A suspension without a readable time cannot be ordered: nothing changes.
    hook_with(
        &g,
        "s-none",
        "suspend",
        json!({"id": 101, "suspended_at": "soon"}),
    )
    .await;
    hook(&g, "s-bare", "suspend", 101).await;
    assert_eq!(g.status("d-1").await, (ConnectionStatus::Active, None));
    assert_eq!(audited(&g, "connection.needs_reauth").await, 0);

    // A suspension at +3 h is the newest: it applies, and says where it comes from.
    hook_with(
        &g,
        "s-3h",
        "suspend",
        json!({"id": 101, "suspended_at": gh_time(3 * H), "updated_at": gh_time(3 * H)}),
    )
    .await;
    let (status, e) = g.status("d-1").await;
    assert_eq!(status, ConnectionStatus::NeedsReauth);
    let e = e.unwrap();
    assert!(e.contains("at 2026-12-05T15:00:00Z"), "{e}");
    assert!(e.contains("GitHub could not be asked"), "{e}");
    assert!(e.contains("HTTP 503"), "{e}");
    assert_eq!(audited(&g, "connection.needs_reauth").await, 1);
    // Redelivered under a new id: the same time, not newer; nothing more.
    hook_with(
        &g,
        "s-3h-again",
        "suspend",
        json!({"id": 101, "suspended_at": gh_time(3 * H)}),
    )
    .await;
    assert_eq!(audited(&g, "connection.needs_reauth").await, 1);

    // The unsuspension at +2 h, delivered again: older than the suspension applied, so
    // not even a token is tried.
    hook_with(
        &g,
        "u-2h-again",
        "unsuspend",
        json!({"id": 101, "suspended_at": null, "updated_at": gh_time(2 * H)}),
    )
    .await;
    assert_eq!(bought(&g), bought0);
    // One at +4 h is newer, but only a token makes the connection active, and GitHub
    // gives none yet.
    let resumed = json!({"id": 101, "suspended_at": null, "updated_at": gh_time(4 * H)});
    hook_with(&g, "u-4h", "unsuspend", resumed.clone()).await;
    assert_eq!(bought(&g), bought0 + 1);
    assert_eq!(g.status("d-1").await.0, ConnectionStatus::NeedsReauth);
    assert_eq!(audited(&g, "connection.reactivate").await, 0);

    // GitHub is back (not suspended): the next delivery is settled by its answer, asked
    // now, which is newer than any webhook's time.
    g.world(World::default());
    hook_with(&g, "u-4h-again", "unsuspend", resumed).await;
    assert_eq!(g.status("d-1").await, (ConnectionStatus::Active, None));
    assert_eq!(bought(&g), bought0 + 2);
    let audit = all_audit(&g.store).await;
    let r = audit
        .iter()
        .find(|r| r.entry.action == "connection.reactivate")
        .unwrap();
    assert_eq!(r.entry.details["source"], "github");
}

#[tokio::test]
async fn while_github_cannot_be_asked_an_unsuspension_with_a_token_reactivates_from_the_webhook() {
    let g = setup(World::default()).await;
    by_id(&g, "d-2", INSTALLATION).await;
    g.world(World {
        suspended_at: Some("2026-12-05T12:00:00Z"),
        ..World::default()
    });
    hook(&g, "s-1", "suspend", 101).await;
    assert_eq!(g.status("d-2").await.0, ConnectionStatus::NeedsReauth);
    // GitHub's installation endpoint refuses (an outage of that one), tokens come.
    g.world(World {
        installation_status: 502,
        ..World::default()
    });
    g.clock.advance(Duration::from_secs(600));
    hook_with(
        &g,
        "u-1",
        "unsuspend",
        json!({"id": 101, "suspended_at": null, "updated_at": gh_time(300)}),
    )
    .await;
    assert_eq!(g.status("d-2").await, (ConnectionStatus::Active, None));
    let audit = all_audit(&g.store).await;
    let r = audit
        .iter()
        .find(|r| r.entry.action == "connection.reactivate")
        .unwrap();
    assert_eq!(r.entry.details["source"], "webhook");
}

// ---------------------------------------------------------------------------------------
// JWT bearer service accounts
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_service_account_signs_an_assertion_and_stores_its_token() {
    let g = setup(World::default()).await;
    let v = g
        .engine
        .connect_direct(
            direct(json!({"integration": "sa", "connection_id": "sa-1", "settings": {"subject": "alice@example.com"}})),
            &ops(),
        )
        .await
        .unwrap();
    assert_eq!(v.status, ConnectionStatus::Active);
    assert_eq!(v.auth_mode, "jwt_bearer");
    assert_eq!(v.settings["subject"], "alice@example.com");
    assert_eq!(v.expires_at, Some(start() + chrono::Duration::hours(1)));
    let posts = g.reqs("POST", "/token");
    assert_eq!(posts.len(), 1);
    let f = posts[0].form();
    assert_eq!(
        f["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let (header, claims) = verified(&f["assertion"], &g.keys.sa.public).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some("k1"));
    assert_eq!(claims["iss"], SA_CLIENT_ID);
    assert_eq!(claims["sub"], "alice@example.com");
    assert_eq!(claims["aud"], format!("{}/token", g.stub.base));
    assert_eq!(claims["scope"], "api.read api.write");
    assert_eq!(claims["iat"], start().timestamp());
    // A custom provider's assertions live 5 minutes.
    assert_eq!(claims["exp"], start().timestamp() + 300);
    let jti = claims["jti"].as_str().unwrap().to_owned();
    assert!(jti.len() >= 32, "{jti}");
    assert_eq!(
        stored_creds_of(&g, "sa-1").await["access_token"],
        "sa-token"
    );

    // A renewal signs a new assertion (new jti, new times).
    g.clock.advance(Duration::from_secs(600));
    let out = g.engine.force_refresh("sa-1").await.unwrap();
    assert!(out.refreshed);
    let posts = g.reqs("POST", "/token");
    assert_eq!(posts.len(), 2);
    let (_, again) = verified(&posts[1].form()["assertion"], &g.keys.sa.public).unwrap();
    assert_ne!(again["jti"].as_str().unwrap(), jti);
    assert_eq!(again["iat"], start().timestamp() + 600);
    assert_eq!(again["sub"], "alice@example.com");

    // Disconnecting: nothing to revoke at the provider, said so.
    let d = g.engine.disconnect("sa", "sa-1", &ops()).await.unwrap();
    let d = serde_json::to_value(&d).unwrap();
    assert_eq!(d["revoked_at_provider"], false, "{d}");
    assert_eq!(g.reqs("POST", "/token").len(), 2);
}

#[tokio::test]
async fn a_refused_service_account_key_names_client_id_and_private_key() {
    let g = setup(World::default()).await;
    let e = g
        .engine
        .connect_direct(
            direct(json!({"integration": "sa-wrong", "connection_id": "sa-1"})),
            &ops(),
        )
        .await
        .unwrap_err();
    let EngineError::CredentialsRejected(m) = &e else {
        panic!("{e:?}")
    };
    assert!(m.contains("client_id") && m.contains("private_key"), "{m}");
    assert!(m.contains("\"sa-wrong\""), "{m}");
    assert!(m.contains("clock"), "{m}");
    assert_eq!(g.reqs("POST", "/token").len(), 1);
    assert!(g.store.get_connection("sa-1").await.unwrap().is_none());
}

#[tokio::test]
async fn a_refused_renewal_of_a_service_account_keeps_it_active_with_its_error() {
    let g = setup(World::default()).await;
    g.engine
        .connect_direct(
            direct(json!({"integration": "sa", "connection_id": "sa-1"})),
            &ops(),
        )
        .await
        .unwrap();
    // The provider now refuses every assertion (the key was deleted on its side, or
    // this server's clock is off).
    g.stub.set(move |r| {
        if r.path == "/token" {
            Resp::json(400, json!({"error": "invalid_grant", "error_description": "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe"}))
        } else {
            Resp::json(404, json!({}))
        }
    });
    let e = g.engine.force_refresh("sa-1").await.unwrap_err();
    assert!(matches!(e, EngineError::Provider(_)), "{e:?}");
    let c = g.store.get_connection("sa-1").await.unwrap().unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    let err = c.last_error.unwrap();
    assert!(err.contains("reasonable timeframe"), "{err}");
    assert!(err.contains("this server's clock"), "{err}");
    assert_eq!(
        stored_creds_of(&g, "sa-1").await["access_token"],
        "sa-token"
    );
}

#[tokio::test]
async fn service_account_subjects_are_checked_before_the_provider_is_asked() {
    let g = setup(World::default()).await;
    for subject in ["", "a\nb", &"x".repeat(257)] {
        let e = g
            .engine
            .connect_direct(
                direct(json!({"integration": "sa", "connection_id": "sa-1", "settings": {"subject": subject}})),
                &ops(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::Invalid {
                    field: "settings",
                    ..
                }
            ),
            "{e:?}"
        );
    }
    assert_eq!(g.stub.total(), 0);
    assert!(g.store.get_connection("sa-1").await.unwrap().is_none());
}

#[tokio::test]
async fn other_installation_token_answers_leave_the_connection_active() {
    let g = setup(World::default()).await;
    by_id(&g, "c1", INSTALLATION).await;
    for (status, body, expect) in [
        (500u16, None, "unavailable"),
        (429, None, "unavailable"),
        (422, None, "http_422"),
        (
            201,
            Some(json!({"expires_at": "2026-12-05T13:00:00Z"})),
            "no token",
        ),
        (201, Some(json!("not an object")), "no token"),
    ] {
        g.world(World {
            token_status: status,
            token_body: body,
            ..World::default()
        });
        let e = g.engine.force_refresh("c1").await.unwrap_err();
        let (s, last_error) = g.status("c1").await;
        assert_eq!(s, ConnectionStatus::Active, "{status}: {e:?}");
        let last_error = last_error.unwrap();
        assert!(
            last_error.to_ascii_lowercase().contains(expect)
                || e.to_string().to_ascii_lowercase().contains(expect),
            "{status}: {e} / {last_error}"
        );
        assert_eq!(stored_creds_of(&g, "c1").await["access_token"], "ghs_101_1");
    }
    let c = g.store.get_connection("c1").await.unwrap().unwrap();
    assert_eq!(c.refresh_failures, 5);
}

#[tokio::test]
async fn a_github_app_connection_without_an_installation_needs_reauth() {
    let g = setup(World::default()).await;
    let mut c = super::connections::conn("c9", "gh", "github_app", Some(60));
    c.provider = "ghapp".into();
    super::connections::put(&g.engine, &c, json!({"access_token": "ghs_old"})).await;
    let e = g.engine.force_refresh("c9").await.unwrap_err();
    assert!(e.to_string().contains("needs_reauth"), "{e}");
    let (s, last_error) = g.status("c9").await;
    assert_eq!(s, ConnectionStatus::NeedsReauth);
    let last_error = last_error.unwrap();
    assert!(last_error.contains("names no installation"), "{last_error}");
    assert_eq!(g.stub.total(), 0);
}

#[tokio::test]
async fn a_github_app_without_its_oauth_client_cannot_install_through_a_session() {
    let g = setup(World::default()).await;
    let e = g
        .engine
        .create_connect_session(
            serde_json::from_value(json!({"end_user": {"id": "u1"}, "integrations": ["gh-wrong"]}))
                .unwrap(),
        )
        .await
        .unwrap_err();
    let EngineError::Invalid { field, message } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(*field, "integrations");
    assert!(message.contains("client_id and client_secret"), "{message}");
    // Service accounts connect without a browser, never through a session.
    let e = g
        .engine
        .create_connect_session(
            serde_json::from_value(json!({"end_user": {"id": "u1"}, "integrations": ["sa"]}))
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            EngineError::Invalid {
                field: "integrations",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(g.stub.total(), 0);
}

#[tokio::test]
async fn a_failed_installation_list_refuses_the_installation() {
    for (pages_status, body) in [
        (500u16, json!({"message": "boom"})),
        (200, json!({"total_count": 0})),
    ] {
        let g = setup(World::default()).await;
        let keys = g.keys.clone();
        let clock = g.clock.clone();
        let inner = github(World::default(), keys, clock);
        let body2 = body.clone();
        g.stub.set(move |r| {
            if r.path == "/user/installations" {
                Resp::json(pages_status, body2.clone())
            } else {
                inner(r)
            }
        });
        let out = install(&g, Some("gh-code"), Some(INSTALLATION), None).await;
        refused(&g, &out, "installation_not_accessible").await;
        assert_eq!(g.reqs("GET", "/user/installations").len(), 1, "{body}");
        assert_user_token_revoked(&g);
    }
}

#[tokio::test]
async fn disconnecting_a_github_app_connection_reports_what_github_answered() {
    for (status, revoked) in [(401u16, true), (500, false)] {
        let g = setup(World::default()).await;
        by_id(&g, "c1", INSTALLATION).await;
        g.world(World {
            revoke_status: status,
            ..World::default()
        });
        let d = g.engine.disconnect("gh", "c1", &ops()).await.unwrap();
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["revoked_at_provider"], revoked, "{status}: {v}");
        if !revoked {
            assert!(v.to_string().contains("HTTP 500"), "{v}");
        }
        // The credentials are gone whatever GitHub answered.
        assert!(
            g.store
                .get_connection_credentials("c1")
                .await
                .unwrap()
                .is_none()
        );
    }
}
