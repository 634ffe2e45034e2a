//! The `github_app` and `jwt_bearer` auth modes end to end: the real binary against
//! `tests/peers/jwt-grant`, a GitHub App API and an RFC 7523 token endpoint that verify
//! every JWT Switchboard signs with the npm package `jose`. The private keys are made
//! by the peer at start (none is in the repository).
//!
//! Clock skew is played on the peer's side (`skewSecs`: its clock runs ahead or behind),
//! as the server has no clock setting for tests; the peer checks times with a 30 s
//! leeway.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::connect::App;
use crate::harness::{self, Server};

const APP_ORIGIN: &str = "http://127.0.0.1:9";
const SA_CLIENT_ID: &str = "robot@switchboard-test.iam.example";

/// The running peer, killed on drop.
struct JwtPeer {
    base: String,
    keys: tempfile::TempDir,
    child: Child,
    stderr_path: std::path::PathBuf,
    http: reqwest::Client,
}

impl Drop for JwtPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl JwtPeer {
    fn start() -> Self {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/jwt-grant");
        assert!(
            dir.join("node_modules/jose/package.json").is_file(),
            "the JWT grant test peer is not installed ({}/node_modules is missing): run scripts/setup",
            dir.display()
        );
        let keys = tempfile::Builder::new()
            .prefix("switchboard-it-jwt-")
            .tempdir()
            .unwrap();
        let stderr_path = keys.path().join("peer.stderr");
        let mut cmd = Command::new("node");
        cmd.current_dir(&dir)
            .arg("server.mjs")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .env_remove("NODE_OPTIONS")
            .env("PORT", "0")
            .env("KEY_DIR", keys.path().join("keys"));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the JWT grant peer with `node` ({e})"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(p) = line.strip_prefix("LISTENING ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(p.trim().parse::<u16>().unwrap());
                }
            }
        });
        let start = Instant::now();
        let port = loop {
            if let Ok(p) = rx.recv_timeout(Duration::from_millis(50)) {
                break p;
            }
            if let Some(s) = child.try_wait().unwrap() {
                panic!(
                    "the JWT grant peer exited with {s}: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the JWT grant peer did not start"
            );
        };
        JwtPeer {
            base: format!("http://127.0.0.1:{port}"),
            keys,
            child,
            stderr_path,
            http: harness::http(),
        }
    }

    fn key(&self, name: &str) -> String {
        self.keys
            .path()
            .join("keys")
            .join(name)
            .display()
            .to_string()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    async fn set(&self, v: Value) {
        let r = self
            .http
            .post(format!("{}/__test/set", self.base))
            .json(&v)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", self.stderr());
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/__test/stats", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn reset(&self) {
        self.http
            .post(format!("{}/__test/reset", self.base))
            .send()
            .await
            .unwrap();
    }
}

fn config(peer: &JwtPeer) -> String {
    let base = &peer.base;
    format!(
        r#"
# The background refresher would race the tests' own renewals.
background_refresh_interval_secs = 3600

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
id = "ghapp"
provider = "ghapp"
app_id = "4242"
app_slug = "switchboard-test"
private_key = "file:{app}"
allowed_return_origins = ["{APP_ORIGIN}"]

[[integrations]]
id = "ghapp-wrong"
provider = "ghapp"
app_id = "4242"
app_slug = "switchboard-test"
private_key = "file:{wrong}"

[[integrations]]
id = "sa"
provider = "svc"
client_id = "{SA_CLIENT_ID}"
private_key = "file:{sa}"
private_key_id = "k1"
scopes = ["api.read", "api.write"]

[[integrations]]
id = "sa-wrong"
provider = "svc"
client_id = "{SA_CLIENT_ID}"
private_key = "file:{wrong}"
"#,
        app = peer.key("app.pem"),
        sa = peer.key("sa.pem"),
        wrong = peer.key("wrong.pem"),
    )
}

async fn setup() -> (JwtPeer, tempfile::TempDir, Server) {
    let peer = JwtPeer::start();
    let dir = harness::sandbox();
    std::fs::write(dir.path().join("switchboard.toml"), config(&peer)).unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    (peer, dir, server)
}

fn no_redirects() -> reqwest::Client {
    crate::harness::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn location(url: &str) -> String {
    let r = no_redirects().get(url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "{url}");
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Installs the app through a connect session, as a browser would; returns where the
/// app's `return_to` was reached.
async fn install(app: &App<'_>, peer: &JwtPeer, connection_id: &str) -> String {
    let (status, s) = app
        .post(
            "/api/connect-sessions",
            json!({
                "end_user": {"id": "org-owner"},
                "integrations": ["ghapp"],
                "connection_id": connection_id,
                "return_to": format!("{APP_ORIGIN}/done"),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    let token = s["token"].as_str().unwrap();
    let to_github = location(
        &app.server
            .url(&format!("/api/integrations/ghapp/auth?session={token}")),
    )
    .await;
    assert!(
        to_github.starts_with(&format!(
            "{}/apps/switchboard-test/installations/new?state=",
            peer.base
        )),
        "{to_github}"
    );
    let setup = location(&to_github).await;
    assert!(
        setup.contains("installation_id=") && setup.contains("setup_action=install"),
        "{setup}"
    );
    location(&setup).await
}

async fn get_as(app: &App<'_>, path: &str) -> (StatusCode, Value) {
    app.get(path).await
}

#[tokio::test]
async fn github_app_installs_proxies_renews_once_and_follows_the_installation() {
    let (peer, _dir, server) = setup().await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    peer.set(json!({
        "setupUrl": server.url("/api/integrations/ghapp/callback"),
        "ttlSecs": 1,
    }))
    .await;

    // The install flow: connect session → GitHub's install page → Setup URL → the app.
    let done = install(&app, &peer, "gh-1").await;
    assert!(
        done.starts_with(APP_ORIGIN)
            && done.contains("status=connected")
            && done.contains("connection_id=gh-1"),
        "{done}\n{}",
        peer.stderr()
    );
    let (status, c) = get_as(&app, "/api/connections/gh-1").await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["auth_mode"], "github_app");
    assert_eq!(c["status"], "active");
    assert_eq!(c["settings"]["installation_id"], "101");
    assert_eq!(c["settings"]["account"], "org-101");
    assert_eq!(c["scopes"], json!(["contents:read", "metadata:read"]));

    // The token expires within the refresh margin: 40 concurrent token requests make
    // one installation token request at the peer (the single-flight refresh path).
    peer.set(json!({"ttlSecs": 3600, "delayMs": 300})).await;
    peer.reset().await;
    let mut calls = Vec::new();
    for _ in 0..40 {
        calls.push(app.get("/api/connections/gh-1/token"));
    }
    let answers = futures_util::future::join_all(calls).await;
    let first = answers[0].1["access_token"].as_str().unwrap().to_owned();
    assert!(first.starts_with("ghs_"), "{first}");
    for (status, v) in &answers {
        assert_eq!(*status, StatusCode::OK, "{v}");
        assert_eq!(v["access_token"], first.as_str());
    }
    assert_eq!(peer.stats().await["app_tokens"], 1, "{}", peer.stderr());
    peer.set(json!({"delayMs": 0})).await;

    // The proxy sends the installation token; a 401 (tokens forgotten at the peer) buys
    // a new one and the call is retried.
    let proxied = |path: &'static str| {
        let server = &server;
        let key = app.key.clone();
        async move {
            let r = server
                .http()
                .get(server.url(path))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            let s = r.status();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, me) = proxied("/api/proxy/gh-1/api/whoami").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me,
        json!({"kind": "installation", "who": "101", "scope": "contents:read metadata:read"})
    );
    peer.set(json!({"revokeTokens": true})).await;
    let (status, me) = proxied("/api/proxy/gh-1/api/whoami").await;
    assert_eq!(status, StatusCode::OK, "{me}");

    // Clock drift: the peer's clock 80 s behind still accepts the app JWT (its iat is
    // put 60 s in the past, and the peer allows 30 s); 15 minutes ahead, the JWT has
    // expired for it and the refusal says what to check.
    peer.set(json!({"skewSecs": -80})).await;
    let (status, v) = app.post("/api/connections/gh-1/refresh", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}\n{}", peer.stderr());
    peer.set(json!({"skewSecs": 900})).await;
    let (status, v) = app.post("/api/connections/gh-1/refresh", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("app_id and private_key") && msg.contains("clock"),
        "{msg}"
    );
    peer.set(json!({"skewSecs": 0})).await;

    // A key the provider no longer trusts: refused, the connection keeps its status
    // with the reason on it, and works again once the key is right.
    peer.set(json!({"appKey": "wrong"})).await;
    let (status, v) = app.post("/api/connections/gh-1/refresh", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{v}");
    let (_, c) = get_as(&app, "/api/connections/gh-1").await;
    assert_eq!(c["status"], "active", "{c}");
    assert!(
        c["last_error"]
            .as_str()
            .unwrap()
            .contains("check app_id and private_key of integration \"ghapp\""),
        "{c}"
    );
    peer.set(json!({"appKey": "own"})).await;
    let (status, v) = app.post("/api/connections/gh-1/refresh", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["connection"]["last_error"], Value::Null, "{v}");

    // Suspended: needs_reauth, and the app is told so.
    peer.set(json!({"installations": {"101": "suspended"}}))
        .await;
    let (status, v) = app.post("/api/connections/gh-1/refresh", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    let (_, c) = get_as(&app, "/api/connections/gh-1").await;
    assert_eq!(c["status"], "needs_reauth", "{c}");
    assert!(
        c["last_error"].as_str().unwrap().contains("suspended"),
        "{c}"
    );
    let (status, _) = app.get("/api/connections/gh-1/token").await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Installed again (setup_action=update brings the same installation back).
    peer.set(json!({"installations": {"101": "active"}})).await;
    let done = install(&app, &peer, "gh-1").await;
    assert!(done.contains("status=connected"), "{done}");
    let (_, c) = get_as(&app, "/api/connections/gh-1").await;
    assert_eq!(c["status"], "active", "{c}");

    // A connection by installation id (the app backend knows it), then uninstalled:
    // revoked, its credentials gone.
    let (status, c) = app
        .post(
            "/api/connections",
            json!({"integration": "ghapp", "connection_id": "gh-2", "settings": {"installation_id": "202"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["settings"]["account"], "org-202");
    peer.set(json!({"installations": {"202": "uninstalled"}}))
        .await;
    let (status, v) = app.post("/api/connections/gh-2/refresh", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("uninstalled"),
        "{v}"
    );
    let (_, c) = get_as(&app, "/api/connections/gh-2").await;
    assert_eq!(c["status"], "revoked", "{c}");
    assert!(
        c["last_error"].as_str().unwrap().contains("uninstalled"),
        "{c}"
    );

    // An install that lands on an unknown installation: the app gets an error result.
    peer.set(json!({"nextInstall": "999"})).await;
    let done = install(&app, &peer, "gh-3").await;
    assert!(
        done.contains("status=error") && done.contains("error=installation_not_found"),
        "{done}"
    );
    let (status, _) = get_as(&app, "/api/connections/gh-3").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Bad inputs: clear 4xx, nothing stored.
    for (body, want, needle) in [
        (
            json!({"integration": "ghapp", "connection_id": "bad-1", "settings": {"installation_id": "999"}}),
            StatusCode::BAD_REQUEST,
            "knows no installation 999",
        ),
        (
            json!({"integration": "ghapp", "connection_id": "bad-2", "settings": {"installation_id": "abc"}}),
            StatusCode::BAD_REQUEST,
            "numeric",
        ),
        (
            json!({"integration": "ghapp", "connection_id": "bad-3"}),
            StatusCode::BAD_REQUEST,
            "installation_id",
        ),
        (
            json!({"integration": "ghapp", "connection_id": "bad-4", "settings": {"installation_id": "101"}, "credentials": {"api_key": "x"}}),
            StatusCode::BAD_REQUEST,
            "send no credentials",
        ),
        (
            json!({"integration": "ghapp-wrong", "connection_id": "bad-5", "settings": {"installation_id": "101"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "check app_id and private_key of integration \"ghapp-wrong\"",
        ),
    ] {
        let (status, v) = app.post("/api/connections", body.clone()).await;
        assert_eq!(status, want, "{body}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
        let id = body["connection_id"].as_str().unwrap();
        let (status, _) = get_as(&app, &format!("/api/connections/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
    // A callback without an installation id or with a `request` action: an error for the
    // app, nothing stored.
    let (status, s) = app
        .post(
            "/api/connect-sessions",
            json!({"end_user": {"id": "u"}, "integrations": ["ghapp"], "connection_id": "gh-4", "return_to": format!("{APP_ORIGIN}/done")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let to_github = location(&server.url(&format!(
        "/api/integrations/ghapp/auth?session={}",
        s["token"].as_str().unwrap()
    )))
    .await;
    let state = reqwest::Url::parse(&to_github)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let back = location(&server.url(&format!(
        "/api/integrations/ghapp/callback?setup_action=request&state={state}"
    )))
    .await;
    assert!(back.contains("error=installation_requested"), "{back}");
    let (status, _) = get_as(&app, "/api/connections/gh-4").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Disconnecting revokes the installation token at GitHub.
    peer.reset().await;
    let (status, v) = app
        .post(
            "/api/integrations/ghapp/disconnect",
            json!({"connection_id": "gh-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["revoked_at_provider"], true, "{v}");
    assert_eq!(peer.stats().await["revoked"], 1);

    // No app JWT, installation token or key in what the server wrote.
    let out = format!("{}{}", server.stdout(), server.stderr());
    assert!(
        !out.contains("ghs_") && !out.contains("PRIVATE KEY") && !out.contains("eyJ"),
        "{out}"
    );
}

#[tokio::test]
async fn jwt_bearer_service_accounts_connect_without_a_browser_and_renew_once() {
    let (peer, dir, server) = setup().await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    peer.set(json!({"ttlSecs": 1})).await;
    let (status, c) = app
        .post(
            "/api/connections",
            json!({"integration": "sa", "connection_id": "sa-1", "settings": {"subject": "alice@example.test"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}\n{}", peer.stderr());
    assert_eq!(c["auth_mode"], "jwt_bearer");
    assert_eq!(c["settings"]["subject"], "alice@example.test");
    assert_eq!(c["scopes"], json!(["api.read", "api.write"]));

    // One assertion for 40 concurrent token requests of an expired token. (A token is
    // served until half its life is left, so the 1 s token must be past its expiry.)
    peer.set(json!({"ttlSecs": 3600, "delayMs": 300})).await;
    peer.reset().await;
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let calls: Vec<_> = (0..40)
        .map(|_| app.get("/api/connections/sa-1/token"))
        .collect();
    let answers = futures_util::future::join_all(calls).await;
    let first = answers[0].1["access_token"].as_str().unwrap().to_owned();
    for (status, v) in &answers {
        assert_eq!(*status, StatusCode::OK, "{v}");
        assert_eq!(v["access_token"], first.as_str());
    }
    assert_eq!(peer.stats().await["jwt_tokens"], 1, "{}", peer.stderr());
    peer.set(json!({"delayMs": 0})).await;

    // Through the proxy, as alice, with the scopes in the assertion.
    let r = server
        .http()
        .get(server.url("/api/proxy/sa-1/whoami"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        me,
        json!({"kind": "service_account", "who": "alice@example.test", "scope": "api.read api.write"})
    );

    // The CLI verb, without a subject (the service account as itself).
    let out = harness::run(
        dir.path(),
        &[
            "connections",
            "create",
            "--integration",
            "sa",
            "--connection-id",
            "sa-cli",
            "--json",
        ],
        &[
            ("SWITCHBOARD_URL", server.base.as_str()),
            ("SWITCHBOARD_API_KEY", app.key.as_str()),
        ],
    );
    out.success();
    assert_eq!(out.json()["id"], "sa-cli");

    // Clock skew within the leeway is accepted; beyond it, refused with what to check.
    peer.set(json!({"skewSecs": 20})).await;
    let (status, v) = app
        .post(
            "/api/connections",
            json!({"integration": "sa", "connection_id": "sa-2"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    peer.set(json!({"skewSecs": 900})).await;
    let (status, v) = app
        .post(
            "/api/connections",
            json!({"integration": "sa", "connection_id": "sa-3"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("clock"),
        "{v}"
    );
    peer.set(json!({"skewSecs": 0})).await;

    // The key is no longer trusted: a refresh is refused and the connection says why.
    peer.set(json!({"saKey": "wrong"})).await;
    let (status, v) = app.post("/api/connections/sa-1/refresh", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{v}");
    let (_, c) = app.get("/api/connections/sa-1").await;
    assert_eq!(c["status"], "active");
    assert!(
        c["last_error"]
            .as_str()
            .unwrap()
            .contains("check client_id and private_key of integration \"sa\""),
        "{c}"
    );
    peer.set(json!({"saKey": "own"})).await;
    let (status, _) = app.post("/api/connections/sa-1/refresh", json!({})).await;
    assert_eq!(status, StatusCode::OK);

    // Bad inputs: clear 4xx, nothing stored.
    for (body, want, needle) in [
        (
            json!({"integration": "sa", "connection_id": "bad-1", "settings": {"subject": "mallory@example.test"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "subject",
        ),
        (
            json!({"integration": "sa-wrong", "connection_id": "bad-2"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "private_key of integration \"sa-wrong\"",
        ),
        (
            json!({"integration": "sa", "connection_id": "bad-3", "settings": {"subject": ""}}),
            StatusCode::BAD_REQUEST,
            "subject",
        ),
        (
            json!({"integration": "sa", "connection_id": "bad-4", "settings": {"shop": "x"}}),
            StatusCode::BAD_REQUEST,
            "setting",
        ),
        (
            json!({"integration": "sa", "connection_id": "bad-5", "credentials": {"api_key": "x"}}),
            StatusCode::BAD_REQUEST,
            "send no credentials",
        ),
    ] {
        let (status, v) = app.post("/api/connections", body.clone()).await;
        assert_eq!(status, want, "{body}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
        let id = body["connection_id"].as_str().unwrap();
        let (status, _) = app.get(&format!("/api/connections/{id}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
    // Nor an OAuth2 client for `oauth test`.
    let (status, v) = app.post("/api/integrations/sa/oauth-test", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("signs its own JWTs"),
        "{v}"
    );
    // A service account has no browser flow.
    let (status, v) = app
        .post(
            "/api/connect-sessions",
            json!({"end_user": {"id": "u"}, "integrations": ["sa"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("POST /api/connections"),
        "{v}"
    );

    let (status, v) = app
        .post(
            "/api/integrations/sa/disconnect",
            json!({"connection_id": "sa-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["revoked_at_provider"], false, "{v}");
    assert!(
        v["provider_error"]
            .as_str()
            .unwrap()
            .contains("expires within the hour"),
        "{v}"
    );

    let out = format!("{}{}", server.stdout(), server.stderr());
    assert!(
        !out.contains("ya29.") && !out.contains("PRIVATE KEY") && !out.contains("eyJ"),
        "{out}"
    );
}

/// Google's service-account key file (JSON) as `private_key`: the issuer and the `kid`
/// come from the file, so a file whose key id the provider does not know is refused.
#[tokio::test]
async fn a_service_account_key_file_signs_with_its_own_issuer_and_key_id() {
    let peer = JwtPeer::start();
    let dir = harness::sandbox();
    let pem = std::fs::read_to_string(peer.key("sa.pem")).unwrap();
    let key_file = |kid: &str| {
        let path = dir.path().join(format!("sa-{kid}.json"));
        let file = json!({
            "type": "service_account",
            "project_id": "switchboard-test",
            "private_key_id": kid,
            "private_key": pem,
            "client_email": SA_CLIENT_ID,
            "token_uri": format!("{}/token", peer.base),
        });
        std::fs::write(&path, file.to_string()).unwrap();
        path.display().to_string()
    };
    let base = &peer.base;
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            r#"
[[providers]]
id = "svc"
auth_mode = "jwt_bearer"
token_url = "{base}/token"
api_base_url = "{base}/api"
jwt_bearer = {{ audience = "token_url", subject = "optional", scopes = "claim" }}

[[integrations]]
id = "sa-file"
provider = "svc"
private_key = "file:{good}"
scopes = ["api.read"]

[[integrations]]
id = "sa-file-unknown-kid"
provider = "svc"
private_key = "file:{unknown}"
"#,
            good = key_file("k1"),
            unknown = key_file("k9"),
        ),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    let (status, c) = app
        .post(
            "/api/connections",
            json!({"integration": "sa-file", "connection_id": "sa-f", "settings": {"subject": "alice@example.test"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}\n{}", peer.stderr());
    let r = server
        .http()
        .get(server.url("/api/proxy/sa-f/whoami"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["who"], "alice@example.test", "{me}");

    let (status, v) = app
        .post(
            "/api/connections",
            json!({"integration": "sa-file-unknown-kid", "connection_id": "sa-k9"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        peer.stderr().contains("unknown kid k9"),
        "{}",
        peer.stderr()
    );
    let (status, _) = app.get("/api/connections/sa-k9").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing stored");
    let out = server.stderr();
    assert!(!out.contains("PRIVATE KEY"), "{out}");
}
