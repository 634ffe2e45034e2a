//! The connection verbs of the CLI (`oauth test|refresh|revoke`, `tokens revoke-all`,
//! `connections list|show`) against a running server and the real `oidc-provider` peer.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{self, Output, Server};
use crate::oidc::{OidcPeer, browse_until};

const CLIENT_ID: &str = "switchboard";
const CLIENT_SECRET: &str = "peer-client-secret-for-cli-tests";
const APP_ORIGIN: &str = "http://127.0.0.1:9";

/// A peer whose one client accepts Switchboard's callback on any loopback port.
fn peer() -> OidcPeer {
    OidcPeer::start(json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "application_type": "native",
        "redirect_uris": [
            "http://127.0.0.1/api/integrations/acme/callback",
            "http://127.0.0.1/api/integrations/acme2/callback",
        ],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid profile email offline_access api:read api:write",
    }]))
}

fn write_config(dir: &Path, peer: &OidcPeer) {
    let text = format!(
        r#"
[[providers]]
id = "acme"
issuer = "{issuer}"

[[integrations]]
id = "acme"
provider = "acme"
client_id = "{CLIENT_ID}"
client_secret = "env:ACME_CLIENT_SECRET"
scopes = ["openid", "offline_access", "api:read"]
allowed_return_origins = ["{APP_ORIGIN}"]

[[integrations]]
id = "acme2"
provider = "acme"
client_id = "{CLIENT_ID}"
client_secret = "env:ACME_CLIENT_SECRET"
scopes = ["openid", "offline_access", "api:write"]
allowed_return_origins = ["{APP_ORIGIN}"]
"#,
        issuer = peer.issuer
    );
    std::fs::write(dir.join("switchboard.toml"), text).unwrap();
}

/// `serve --dev` in `dir` with `secret` as the integrations' client secret.
async fn server(dir: &Path, secret: &str) -> Server {
    Server::start(dir, &["--dev"], &[("ACME_CLIENT_SECRET", secret)]).await
}

/// The app backend: an admin key on a running server, and the browser side of a flow.
struct App<'a> {
    server: &'a Server,
    key: String,
    dir: &'a Path,
}

impl App<'_> {
    fn browser() -> reqwest::Client {
        crate::harness::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let r = req.bearer_auth(&self.key).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(self.server.http().get(self.server.url(path)))
            .await
    }

    /// The whole connect flow for `connection_id` (end user `u1`).
    async fn connect(&self, integration: &str, connection_id: &str) {
        let (status, v) = self
            .call(
                self.server
                    .http()
                    .post(self.server.url("/api/connect-sessions"))
                    .json(&json!({
                        "end_user": {"id": "u1"},
                        "integrations": [integration],
                        "connection_id": connection_id,
                        "return_to": format!("{APP_ORIGIN}/done"),
                    })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let session = v["token"].as_str().unwrap();
        let r = Self::browser()
            .get(self.server.url(&format!(
                "/api/integrations/{integration}/auth?session={session}"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        let auth = r.headers()["location"].to_str().unwrap().to_owned();
        let callback = self
            .server
            .url(&format!("/api/integrations/{integration}/callback"));
        let cb = browse_until(&auth, &callback).await;
        let r = Self::browser().get(&cb).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(loc.contains("status=connected"), "{loc}");
    }

    /// A valid access token of a connection, through the API.
    async fn access_token(&self, id: &str) -> String {
        let (status, t) = self.get(&format!("/api/connections/{id}/token")).await;
        assert_eq!(status, StatusCode::OK, "{t}");
        t["access_token"].as_str().unwrap().to_owned()
    }

    /// Runs a CLI verb against this server.
    fn cli(&self, args: &[&str]) -> Output {
        harness::run(
            self.dir,
            args,
            &[
                ("SWITCHBOARD_URL", self.server.base.as_str()),
                ("SWITCHBOARD_API_KEY", self.key.as_str()),
            ],
        )
    }
}

#[tokio::test]
async fn oauth_test_passes_with_the_right_secret_and_fails_with_a_wrong_one() {
    let peer = peer();
    let good_dir = harness::sandbox();
    write_config(good_dir.path(), &peer);
    let good = server(good_dir.path(), CLIENT_SECRET).await;
    let app = App {
        key: good.printed_admin_key(),
        server: &good,
        dir: good_dir.path(),
    };

    let out = app.cli(&["oauth", "test", "acme"]);
    out.success();
    assert!(out.stdout.contains("OAuth set-up OK"), "{}", out.stdout);
    assert!(out.stdout.contains("RESULT"), "a table: {}", out.stdout);
    let out = app.cli(&["oauth", "test", "acme", "--json"]);
    out.success();
    let v = out.json();
    assert_eq!(v["integration"], "acme");
    assert_eq!(v["ok"], true, "{v}");
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() >= 2, "{v}");
    assert!(checks.iter().all(|c| c["ok"] == true), "{v}");

    // An unknown integration: the server's error, exit 2 (an error, not a failed check).
    let out = app.cli(&["oauth", "test", "nope"]);
    out.exit_code(2).stderr_has(&["not_found"]);

    // A second server whose configuration has a wrong client secret.
    let bad_dir = harness::sandbox();
    write_config(bad_dir.path(), &peer);
    let bad = server(bad_dir.path(), "not-the-client-secret").await;
    let bad_app = App {
        key: bad.printed_admin_key(),
        server: &bad,
        dir: bad_dir.path(),
    };
    let out = bad_app.cli(&["oauth", "test", "acme"]);
    out.exit_code(1)
        .stderr_has(&["OAuth test of integration acme failed", "client_secret"]);
    assert!(out.stdout.contains("FAIL"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("not-the-client-secret")
            && !out.stderr.contains("not-the-client-secret"),
        "the secret is never printed"
    );
    let out = bad_app.cli(&["oauth", "test", "acme", "--json"]);
    out.exit_code(1);
    assert!(
        out.stderr.is_empty(),
        "the JSON report says it all: {}",
        out.stderr
    );
    let v = out.json();
    assert_eq!(v["ok"], false, "{v}");
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["ok"] == false),
        "{v}"
    );
}

#[tokio::test]
async fn oauth_refresh_and_revoke_and_connections_list_and_show() {
    let peer = peer();
    let dir = harness::sandbox();
    write_config(dir.path(), &peer);
    let server = server(dir.path(), CLIENT_SECRET).await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
        dir: dir.path(),
    };
    app.connect("acme", "c1").await;
    app.connect("acme2", "c2").await;

    // connections list / show: never secrets.
    let out = app.cli(&["connections", "list", "--json"]);
    out.success();
    let v = out.json();
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c1", "c2"], "{v}");
    assert!(!out.stdout.contains("access_token"), "{}", out.stdout);
    let out = app.cli(&["connections", "list", "--integration", "acme2", "--json"]);
    out.success();
    assert_eq!(out.json()["data"].as_array().unwrap().len(), 1);
    assert_eq!(out.json()["data"][0]["id"], "c2");
    let out = app.cli(&["connections", "list", "--status", "revoked", "--json"]);
    out.success();
    assert_eq!(out.json()["data"], json!([]));
    let out = app.cli(&["connections", "list", "--end-user", "u1"]);
    out.success();
    assert!(out.stdout.contains("INTEGRATION"), "{}", out.stdout);
    assert!(
        out.stdout.contains("c1") && out.stdout.contains("c2"),
        "{}",
        out.stdout
    );
    let out = app.cli(&["connections", "show", "c1"]);
    out.success();
    assert!(out.stdout.contains("active"), "{}", out.stdout);
    let out = app.cli(&["connections", "show", "c1", "--json"]);
    out.success();
    assert_eq!(out.json()["integration"], "acme");
    app.cli(&["connections", "show", "nope"])
        .exit_code(2)
        .stderr_has(&["not_found"]);
    app.cli(&["connections", "list", "--status", "sleepy"])
        .exit_code(2);

    // oauth refresh: one refresh at the provider; the new token is valid there.
    let before = peer.stats().await["token"]["refresh_token"]
        .as_u64()
        .unwrap();
    let out = app.cli(&["oauth", "refresh", "c1", "--json"]);
    out.success();
    let v = out.json();
    assert_eq!(v["refreshed"], true, "{v}");
    assert_eq!(v["status"], "active", "{v}");
    assert!(v["expires_at"].is_string(), "{v}");
    assert!(v.get("access_token").is_none(), "{v}");
    assert_eq!(
        peer.stats().await["token"]["refresh_token"],
        before + 1,
        "one refresh at the provider"
    );
    let out = app.cli(&["oauth", "refresh", "c1"]);
    out.success();
    assert!(
        out.stdout
            .contains("connection c1 (acme): refreshed; status active"),
        "{}",
        out.stdout
    );
    assert_eq!(peer.stats().await["token"]["refresh_token"], before + 2);
    let token = app.access_token("c1").await;
    assert_eq!(
        peer.introspect(CLIENT_ID, CLIENT_SECRET, &token).await["active"],
        true
    );

    // oauth revoke: looks up the integration, revokes at the provider, deletes.
    let out = app.cli(&["oauth", "revoke", "c1", "--json"]);
    out.success();
    let v = out.json();
    assert_eq!(v["connection_id"], "c1");
    assert_eq!(v["integration"], "acme");
    assert_eq!(v["deleted"], true, "{v}");
    assert_eq!(v["revoked_at_provider"], true, "{v}");
    assert!(v["provider_error"].is_null(), "{v}");
    let info = peer.introspect(CLIENT_ID, CLIENT_SECRET, &token).await;
    assert_eq!(info["active"], false, "revoked at the provider: {info}");
    let (_, c) = app.get("/api/connections/c1").await;
    assert_eq!(c["status"], "revoked");
    // Human output, for the other integration's connection.
    let out = app.cli(&["oauth", "revoke", "c2"]);
    out.success();
    assert!(
        out.stdout
            .contains("connection c2 (acme2): credentials deleted; revoked at the provider: yes"),
        "{}",
        out.stdout
    );
    // Refreshing a revoked connection: the server's code, exit 2.
    app.cli(&["oauth", "refresh", "c1"])
        .exit_code(2)
        .stderr_has(&["revoked"]);
    app.cli(&["oauth", "revoke", "nope"])
        .exit_code(2)
        .stderr_has(&["not_found"]);
}

#[tokio::test]
async fn tokens_revoke_all_disconnects_every_connection_of_the_integration() {
    let peer = peer();
    let dir = harness::sandbox();
    write_config(dir.path(), &peer);
    let server = server(dir.path(), CLIENT_SECRET).await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
        dir: dir.path(),
    };
    for id in ["r1", "r2", "r3"] {
        app.connect("acme", id).await;
    }
    app.connect("acme2", "other").await;
    let tokens = [
        app.access_token("r1").await,
        app.access_token("r2").await,
        app.access_token("r3").await,
    ];
    peer.reset().await;

    // Without --yes and without a terminal: refused, nothing revoked.
    let out = app.cli(&["tokens", "revoke-all", "--integration", "acme"]);
    out.exit_code(2).stderr_has(&["--yes", "3 connection(s)"]);
    assert_eq!(peer.stats().await["revocation"], 0);

    // An unknown integration is an error, not "nothing to do".
    app.cli(&["tokens", "revoke-all", "--integration", "acmee", "--yes"])
        .exit_code(2)
        .stderr_has(&["not_found"]);

    let out = app.cli(&[
        "tokens",
        "revoke-all",
        "--integration",
        "acme",
        "--yes",
        "--json",
    ]);
    out.success();
    let v = out.json();
    assert_eq!(
        v,
        json!({
            "integration": "acme",
            "total": 3,
            "disconnected": 3,
            "revoked_at_provider": 3,
            "provider_errors": 0,
            "failed": [],
        })
    );
    assert_eq!(peer.stats().await["revocation"], 3);
    for t in &tokens {
        assert_eq!(
            peer.introspect(CLIENT_ID, CLIENT_SECRET, t).await["active"],
            false
        );
    }
    let (_, list) = app.get("/api/connections?integration=acme").await;
    let statuses: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["revoked", "revoked", "revoked"], "{list}");
    let (_, other) = app.get("/api/connections/other").await;
    assert_eq!(
        other["status"], "active",
        "another integration is untouched"
    );

    // Again: nothing left to revoke (revoked connections are skipped); human output.
    let out = app.cli(&["tokens", "revoke-all", "--integration", "acme"]);
    out.success();
    assert!(
        out.stdout
            .contains("integration acme: no connection to revoke"),
        "{}",
        out.stdout
    );
    assert_eq!(peer.stats().await["revocation"], 3);
}

#[test]
fn connection_verbs_without_an_api_key_name_the_variable() {
    let dir = harness::sandbox();
    for args in [
        &["oauth", "test", "acme"][..],
        &["oauth", "refresh", "c1"],
        &["oauth", "revoke", "c1"],
        &["tokens", "revoke-all", "--integration", "acme", "--yes"],
        &["connections", "list"],
        &["connections", "show", "c1"],
    ] {
        let out = harness::run(
            dir.path(),
            args,
            &[("SWITCHBOARD_URL", "http://127.0.0.1:9")],
        );
        out.exit_code(2)
            .stderr_has(&["SWITCHBOARD_API_KEY is not set", "api-key create"]);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    // A key but no server: says which URL it tried.
    let out = harness::run(
        dir.path(),
        &["connections", "list"],
        &[
            ("SWITCHBOARD_URL", "http://127.0.0.1:9"),
            ("SWITCHBOARD_API_KEY", "sb_x"),
        ],
    );
    out.exit_code(2)
        .stderr_has(&["cannot reach Switchboard at http://127.0.0.1:9"]);
}
