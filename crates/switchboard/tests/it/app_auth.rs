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

pub(crate) const APP_ORIGIN: &str = "http://127.0.0.1:9";
pub(crate) const SA_CLIENT_ID: &str = "robot@switchboard-test.iam.example";
/// The GitHub App's OAuth client, as the peer knows it (its defaults).
const GH_CLIENT_ID: &str = "Iv1.switchboardtest";
const GH_CLIENT_SECRET: &str = "test-client-secret-1234";
const GH_WEBHOOK_SECRET: &str = "gh-webhook-secret-for-tests";

/// The running peer, killed on drop.
pub(crate) struct JwtPeer {
    pub(crate) base: String,
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
    pub(crate) fn start() -> Self {
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

    pub(crate) fn key(&self, name: &str) -> String {
        self.keys
            .path()
            .join("keys")
            .join(name)
            .display()
            .to_string()
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub(crate) async fn set(&self, v: Value) {
        let r = self
            .http
            .post(format!("{}/__test/set", self.base))
            .json(&v)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", self.stderr());
    }

    pub(crate) async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/__test/stats", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub(crate) async fn reset(&self) {
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
client_id = "{GH_CLIENT_ID}"
client_secret = "{GH_CLIENT_SECRET}"
webhook_secrets = ["{GH_WEBHOOK_SECRET}"]
allowed_return_origins = ["{APP_ORIGIN}"]

# Without the app's OAuth client: installations by id only.
[[integrations]]
id = "ghapp-noclient"
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

    // An install that lands on an installation the user cannot reach (unknown to
    // GitHub here): the app gets an error result.
    peer.set(json!({"nextInstall": "999"})).await;
    let done = install(&app, &peer, "gh-3").await;
    assert!(
        done.contains("status=error") && done.contains("error=installation_not_accessible"),
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
        !out.contains("ghs_")
            && !out.contains("ghu_")
            && !out.contains(GH_CLIENT_SECRET)
            && !out.contains("PRIVATE KEY")
            && !out.contains("eyJ"),
        "{out}"
    );
}

/// Starts an installation through a connect session and lets the peer "install": the
/// URL GitHub sends the browser back to (the callback with `installation_id`,
/// `setup_action`, the state and the user's `code`), not yet followed.
async fn setup_url(app: &App<'_>, connection_id: &str) -> reqwest::Url {
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
    let to_github = location(&app.server.url(&format!(
        "/api/integrations/ghapp/auth?session={}",
        s["token"].as_str().unwrap()
    )))
    .await;
    reqwest::Url::parse(&location(&to_github).await).unwrap()
}

/// `url` with query parameter `name` set to `value`, or removed (`None`).
fn with_param(url: &reqwest::Url, name: &str, value: Option<&str>) -> String {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut out = url.clone();
    {
        let mut q = out.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    out.into()
}

#[tokio::test]
async fn github_app_installs_only_what_the_installing_user_can_reach() {
    let (peer, dir, server) = setup().await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    peer.set(json!({"setupUrl": server.url("/api/integrations/ghapp/callback")}))
        .await;

    // The happy path: the code buys a user token, the installation is on the second
    // page of the user's installations, the connection is made, the user token revoked.
    peer.reset().await;
    let done = install(&app, &peer, "gh-ok").await;
    assert!(
        done.contains("status=connected"),
        "{done}\n{}",
        peer.stderr()
    );
    let (status, c) = app.get("/api/connections/gh-ok").await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["settings"]["installation_id"], "101");
    let stats = peer.stats().await;
    assert_eq!(stats["user_tokens"], 1, "{stats}");
    assert_eq!(stats["user_installation_pages"], 2, "{stats}");
    assert_eq!(stats["user_tokens_revoked"], 1, "{stats}");
    // The code is no setting of the connection.
    assert!(c["settings"].get("code").is_none(), "{c}");

    // A spoofed installation id: a real code for this user, but another organisation's
    // installation (202 exists and is active at GitHub) written into the URL. Refused,
    // nothing stored, the user token revoked all the same.
    peer.reset().await;
    let url = setup_url(&app, "gh-spoof").await;
    let back = location(&with_param(&url, "installation_id", Some("202"))).await;
    assert!(
        back.contains("status=error") && back.contains("error=installation_not_accessible"),
        "{back}"
    );
    let (status, _) = app.get("/api/connections/gh-spoof").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stats = peer.stats().await;
    assert_eq!(stats["user_tokens"], 1, "{stats}");
    assert_eq!(stats["user_tokens_revoked"], 1, "{stats}");
    assert_eq!(
        stats["app_tokens"], 0,
        "no installation token for a refused id: {stats}"
    );

    // A user who reaches one installation (one page, without 202): refused too.
    peer.set(json!({"userInstallations": ["101"]})).await;
    let url = setup_url(&app, "gh-spoof-2").await;
    let back = location(&with_param(&url, "installation_id", Some("202"))).await;
    assert!(back.contains("error=installation_not_accessible"), "{back}");
    let (status, _) = app.get("/api/connections/gh-spoof-2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // No code (the app does not request user authorization): refused, nothing stored.
    let url = setup_url(&app, "gh-nocode").await;
    let back = location(&with_param(&url, "code", None)).await;
    assert!(back.contains("error=installation_not_accessible"), "{back}");
    let (status, _) = app.get("/api/connections/gh-nocode").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An empty code is no code.
    let url = setup_url(&app, "gh-nocode").await;
    let back = location(&with_param(&url, "code", Some(""))).await;
    assert!(back.contains("error=installation_not_accessible"), "{back}");

    // A code GitHub does not know, and a code used twice: refused.
    peer.reset().await;
    let url = setup_url(&app, "gh-badcode").await;
    let back = location(&with_param(&url, "code", Some("not-a-code"))).await;
    assert!(back.contains("error=installation_not_accessible"), "{back}");
    assert_eq!(peer.stats().await["user_token_refused"], 1);
    let (status, _) = app.get("/api/connections/gh-badcode").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let url = setup_url(&app, "gh-twice").await;
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let first = location(url.as_str()).await;
    assert!(first.contains("status=connected"), "{first}");
    let url = setup_url(&app, "gh-twice-2").await;
    let back = location(&with_param(&url, "code", Some(&code))).await;
    assert!(back.contains("error=installation_not_accessible"), "{back}");
    let (status, _) = app.get("/api/connections/gh-twice-2").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Odd inputs on the callback: an error result for the app, nothing stored.
    for (name, value) in [
        ("code", "x".repeat(600)),
        ("code", "\u{0}".to_owned()),
        ("installation_id", "-1".to_owned()),
        ("installation_id", "1e3".to_owned()),
        ("installation_id", "9".repeat(40)),
    ] {
        let url = setup_url(&app, "gh-odd").await;
        let r = no_redirects()
            .get(with_param(&url, name, Some(&value)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND, "{name}={value:?}");
        let back = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(back.contains("status=error"), "{name}: {back}");
        let (status, _) = app.get("/api/connections/gh-odd").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // A callback without a state: the browser's 400, nothing changes.
    let r = no_redirects()
        .get(server.url(
            "/api/integrations/ghapp/callback?installation_id=101&setup_action=install&code=abc",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // An integration without the app's OAuth client cannot install through a connect
    // session (the installation id could not be checked), and says what to set; the
    // backend may still connect an installation it knows.
    let (status, v) = app
        .post(
            "/api/connect-sessions",
            json!({"end_user": {"id": "u"}, "integrations": ["ghapp-noclient"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("client_id and client_secret")
            && msg.contains("Request user authorization (OAuth) during installation"),
        "{msg}"
    );
    let (status, c) = app
        .post(
            "/api/connections",
            json!({"integration": "ghapp-noclient", "connection_id": "gh-direct", "settings": {"installation_id": "202"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    // `config check` warns about it (and passes); so does serve.
    let out = harness::run(dir.path(), &["config", "check", "--dev"], &[]);
    out.success();
    out.stderr_has(&[
        "integration \"ghapp-noclient\"",
        "Request user authorization (OAuth) during installation",
    ]);
    assert!(
        !out.stderr.contains("integration \"ghapp\" "),
        "{}",
        out.stderr
    );
    let logs = format!("{}{}", server.stdout(), server.stderr());
    assert!(logs.contains("ghapp-noclient"), "{logs}");

    // Every user token issued was revoked; none was written anywhere.
    let stats = peer.stats().await;
    assert_eq!(
        stats["user_tokens"], stats["user_tokens_revoked"],
        "{stats}"
    );
    let out = format!("{}{}", server.stdout(), server.stderr());
    assert!(
        !out.contains("ghu_") && !out.contains(GH_CLIENT_SECRET),
        "{out}"
    );
}

/// Delivers a GitHub webhook from the peer (signed there with node's crypto HMAC).
async fn deliver(peer: &JwtPeer, body: Value) -> (u16, String) {
    let r = peer
        .http
        .post(format!("{}/__test/deliver", peer.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", peer.stderr());
    let v: Value = r.json().await.unwrap();
    (
        v["status"].as_u64().unwrap() as u16,
        v["body"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn github_app_installation_webhooks_change_the_bound_connections() {
    let (peer, _dir, server) = setup().await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    peer.set(json!({
        "setupUrl": server.url("/api/integrations/ghapp/callback"),
        "webhookUrl": server.url("/webhooks/ghapp/event"),
        "webhookSecret": GH_WEBHOOK_SECRET,
    }))
    .await;
    // Two connections bound to installation 101 (one installed, one by id), one to 202.
    let done = install(&app, &peer, "w-1").await;
    assert!(done.contains("status=connected"), "{done}");
    for (id, inst) in [("w-2", "101"), ("w-3", "202")] {
        let (status, c) = app
            .post(
                "/api/connections",
                json!({"integration": "ghapp", "connection_id": id, "settings": {"installation_id": inst}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{c}");
    }
    let status_of = |id: &'static str| {
        let app = &app;
        async move {
            let (_, c) = app.get(&format!("/api/connections/{id}")).await;
            c["status"].as_str().unwrap_or_default().to_owned()
        }
    };
    let events = || async {
        let (status, v) = app.get("/api/events?integration=ghapp&limit=500").await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["data"].as_array().unwrap().len()
    };

    // Suspended: both connections of 101 need the account again, 202's does not; the
    // event is stored as any other.
    peer.set(json!({"installations": {"101": "suspended"}}))
        .await;
    let (status, body) = deliver(
        &peer,
        json!({"event": "installation", "action": "suspend", "installationId": 101}),
    )
    .await;
    assert!((200..300).contains(&status), "{status} {body}");
    let stored = events().await;
    assert!(stored >= 1, "{stored}");
    for id in ["w-1", "w-2"] {
        assert_eq!(status_of(id).await, "needs_reauth", "{id}");
    }
    assert_eq!(status_of("w-3").await, "active");
    let (status, _) = app.get("/api/connections/w-1/token").await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, c) = app.get("/api/connections/w-1").await;
    assert!(c["last_error"].as_str().unwrap().contains("suspend"), "{c}");

    // Unsuspended while GitHub still refuses tokens: stays needs_reauth.
    let (status, _) = deliver(
        &peer,
        json!({"event": "installation", "action": "unsuspend", "installationId": 101}),
    )
    .await;
    assert!((200..300).contains(&status));
    assert_eq!(status_of("w-1").await, "needs_reauth");
    // Unsuspended for real: a fresh installation token, active again, and it works.
    peer.set(json!({"installations": {"101": "active"}})).await;
    peer.reset().await;
    let (status, _) = deliver(
        &peer,
        json!({"event": "installation", "action": "unsuspend", "installationId": 101}),
    )
    .await;
    assert!((200..300).contains(&status));
    for id in ["w-1", "w-2"] {
        assert_eq!(status_of(id).await, "active", "{id}");
    }
    assert_eq!(peer.stats().await["app_tokens"], 2);
    let (status, t) = app.get("/api/connections/w-1/token").await;
    assert_eq!(status, StatusCode::OK, "{t}");
    let (_, c) = app.get("/api/connections/w-1").await;
    assert_eq!(c["last_error"], Value::Null, "{c}");
    // A suspend delivered late (after the unsuspend, as GitHub may): GitHub, asked, says
    // the installation is not suspended, so nothing changes.
    let (status, _) = deliver(
        &peer,
        json!({"event": "installation", "action": "suspend", "installationId": 101}),
    )
    .await;
    assert!((200..300).contains(&status));
    for id in ["w-1", "w-2"] {
        assert_eq!(status_of(id).await, "active", "{id}");
    }
    assert_eq!(
        peer.stats().await["installation_reads"],
        2,
        "asked once per webhook"
    );

    // Nothing changes for: an installation no connection is bound to, a user's
    // authorization revoked (connections hold no user tokens), other installation
    // actions, a payload without an installation id or with a malformed one, a body
    // that is not JSON, another event type.
    for body in [
        json!({"event": "installation", "action": "deleted", "installationId": 777}),
        json!({"event": "github_app_authorization", "payload": {"action": "revoked", "sender": {"login": "octocat"}}}),
        json!({"event": "installation", "action": "new_permissions_accepted", "installationId": 101}),
        json!({"event": "installation", "payload": {"action": "deleted"}}),
        json!({"event": "installation", "payload": {"action": "deleted", "installation": {"id": "abc"}}}),
        json!({"event": "installation", "payload": {"action": "deleted", "installation": {"id": -101}}}),
        json!({"event": "installation", "payload": {"action": "deleted", "installation": {"id": 101.5}}}),
        json!({"event": "installation", "payload": "not json {"}),
        json!({"event": "ping", "payload": {"zen": "Design for failure.", "installation": {"id": 101}, "action": "deleted"}}),
    ] {
        let (status, text) = deliver(&peer, body.clone()).await;
        assert!((200..300).contains(&status), "{body}: {status} {text}");
    }
    for id in ["w-1", "w-2", "w-3"] {
        assert_eq!(status_of(id).await, "active", "{id}");
    }

    // A bad signature: 401, nothing stored, nothing changed.
    let before = events().await;
    let (status, _) = deliver(
        &peer,
        json!({"event": "installation", "action": "deleted", "installationId": 101, "wrongSecret": true}),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(events().await, before);
    assert_eq!(status_of("w-1").await, "active");

    // Uninstalled: the connections of 101 end, their tokens gone; 202's stays. A
    // redelivery of the same event is a duplicate and changes nothing more.
    let (status, _) = deliver(
        &peer,
        json!({"event": "installation", "action": "deleted", "installationId": 101, "delivery": "d-deleted-1"}),
    )
    .await;
    assert!((200..300).contains(&status));
    for id in ["w-1", "w-2"] {
        assert_eq!(status_of(id).await, "revoked", "{id}");
        let (status, _) = app.get(&format!("/api/connections/{id}/token")).await;
        assert_eq!(status, StatusCode::CONFLICT, "{id}");
    }
    assert_eq!(status_of("w-3").await, "active");
    let (_, c) = app.get("/api/connections/w-1").await;
    assert!(
        c["last_error"].as_str().unwrap().contains("uninstalled"),
        "{c}"
    );
    let (status, _) = deliver(
        &peer,
        json!({"event": "installation", "action": "deleted", "installationId": 101, "delivery": "d-deleted-1"}),
    )
    .await;
    assert!((200..300).contains(&status));
    // The proxy no longer sends a token for it.
    let r = server
        .http()
        .get(server.url("/api/proxy/w-1/api/whoami"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    // Suspending or unsuspending a revoked connection does nothing.
    for action in ["suspend", "unsuspend"] {
        let (status, _) = deliver(
            &peer,
            json!({"event": "installation", "action": action, "installationId": 101}),
        )
        .await;
        assert!((200..300).contains(&status));
        assert_eq!(status_of("w-1").await, "revoked", "{action}");
    }
    // The audit log says why.
    let (status, a) = app.get("/api/audit?limit=200").await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert!(a.to_string().contains("installation_deleted"), "{a}");
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
            "not an API key",
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

/// A JWT that is itself the credential (`jwt_bearer.exchange = false`, Vonage's way):
/// connected without asking anyone; every proxied call carries the JWT, which the peer
/// checks with `jose` (RS256 under the application's key, `application_id`, `iat`,
/// `exp`, `jti`, no token endpoint involved); the JWT is kept while it lives, a forced
/// renewal signs a new one; a wrong key is a 401 from the provider; a disconnect has
/// nothing to revoke.
#[tokio::test]
async fn a_self_signed_jwt_is_the_credential_of_every_call() {
    const APPLICATION_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";
    let peer = JwtPeer::start();
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!(
            r#"
background_refresh_interval_secs = 3600

[[providers]]
id = "calls"
auth_mode = "jwt_bearer"
docs_url = "{base}/docs"
api_base_url = "{base}/signed"
jwt_bearer = {{ exchange = false, issuer_claim = "application_id", audience = "none", scopes = "none", assertion_lifetime_secs = 900 }}

[[integrations]]
id = "vg"
provider = "calls"
client_id = "{APPLICATION_ID}"
private_key = "file:{sa}"

[[integrations]]
id = "vg-wrong"
provider = "calls"
client_id = "{APPLICATION_ID}"
private_key = "file:{wrong}"
"#,
            base = peer.base,
            sa = peer.key("sa.pem"),
            wrong = peer.key("wrong.pem"),
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
            json!({"integration": "vg", "connection_id": "vg-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["auth_mode"], "jwt_bearer");
    let stats = peer.stats().await;
    assert_eq!(stats["jwt_tokens"], 0, "no token endpoint: {stats}");
    assert_eq!(stats["signed_api"], 0);

    let whoami = |id: &'static str| {
        server
            .http()
            .get(server.url(&format!("/api/proxy/{id}/whoami")))
            .bearer_auth(&app.key)
            .send()
    };
    let r = whoami("vg-1").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", peer.stderr());
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["application_id"], APPLICATION_ID);
    assert_eq!(first["sub"], Value::Null);
    let again: Value = whoami("vg-1").await.unwrap().json().await.unwrap();
    assert_eq!(again["jti"], first["jti"], "the JWT is used while it lives");

    let (status, r) = app.post("/api/connections/vg-1/refresh", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let renewed: Value = whoami("vg-1").await.unwrap().json().await.unwrap();
    assert_ne!(renewed["jti"], first["jti"], "a renewal signs a new JWT");
    assert_eq!(renewed["jtis_seen"], 2);
    assert_eq!(peer.stats().await["signed_api"], 3);

    // Signed with a key the provider does not know: its 401 comes back (after the one
    // renewal a 401 triggers, refused as well).
    let (status, c) = app
        .post(
            "/api/connections",
            json!({"integration": "vg-wrong", "connection_id": "vg-2"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let r = whoami("vg-2").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(peer.stats().await["signed_refused"].as_u64().unwrap() >= 1);

    let (status, d) = app
        .post(
            "/api/integrations/vg/disconnect",
            json!({"connection_id": "vg-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["deleted"], true);
    assert_eq!(d["revoked_at_provider"], false);
    assert!(
        d["provider_error"]
            .as_str()
            .unwrap()
            .contains("900 seconds"),
        "{d}"
    );
}
