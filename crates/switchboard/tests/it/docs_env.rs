//! The deployment the documentation's commands run against (`docs.rs`) and whose
//! `/metrics` the dashboard and the alert rules are checked against (`deploy.rs`): a
//! fresh `serve --dev` with
//!
//! - `acme`: an OAuth integration at the `oidc-provider` test peer (its userinfo
//!   endpoint, `/me`, is the API the proxy reaches), with a shared rate limit, and one
//!   connection, `acct-42` of end user `u42`, connected through the real flow;
//! - `github-main`: a webhook-only GitHub integration;
//! - `app`: a destination at the consumer test peer (which verifies every delivery with
//!   the npm package `standardwebhooks`), receiving `github-main`'s events.
//!
//! The server reads `serve.toml`; the docs' offline verbs `switchboard.toml`, the same
//! without `acme` (its issuer is http, which only `serve --dev` accepts).
//!
//! The shell the docs run in has `switchboard` first on its PATH, `SWITCHBOARD_URL` and
//! `SWITCHBOARD_API_KEY` (the admin key `serve --dev` printed), the master key and the
//! secrets the configuration names, and the server's directory (with `switchboard.toml`
//! and the SQLite database) as its working directory, so offline verbs act on the same
//! database.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::connect;
use crate::harness::{self, BIN, Server};
use crate::oidc::{OidcPeer, browse_until};
use crate::pipeline::{Consumer, whsec};

/// The GitHub webhook secret of `github-main`.
pub const GITHUB_WEBHOOK_SECRET: &str = "docs-github-webhook-secret-of-40-characters";
/// The connection the docs use.
pub const CONNECTION_ID: &str = "acct-42";
/// Where connect results go (nothing listens there; the flow stops at the redirect).
pub const APP_ORIGIN: &str = "http://127.0.0.1:9";

/// A running deployment for the docs.
pub struct DocsEnv {
    /// The server's working directory.
    pub dir: tempfile::TempDir,
    /// `serve --dev`.
    pub server: Server,
    /// The OAuth provider.
    pub peer: OidcPeer,
    /// The destination.
    pub consumer: Consumer,
    /// The admin API key.
    pub key: String,
    /// The port of the app page the frontend guide's example is served from (its origin
    /// is allowed for `acme`).
    pub app_port: u16,
    envs: Vec<(String, String)>,
}

impl DocsEnv {
    /// Starts the peers and the server, and connects `acct-42`.
    pub async fn start() -> DocsEnv {
        let peer = connect::peer(&[]);
        let app_secret = whsec();
        let consumer = Consumer::start(&app_secret);
        let dir = harness::sandbox();
        let app_port = harness::free_port();
        let (master_key, _) = harness::master_key();
        // The OAuth provider is the test peer on http://127.0.0.1, which only `serve
        // --dev` accepts: the server reads `serve.toml`, which adds it to what the docs'
        // offline verbs read from `switchboard.toml` (they would refuse an http issuer).
        let provider = format!(
            r#"[[providers]]
id = "acme"
issuer = "{issuer}"
api_base_url = "{issuer}"

[[integrations]]
id = "acme"
provider = "acme"
client_id = "{client_id}"
client_secret = "env:ACME_CLIENT_SECRET"
scopes = ["openid", "email", "api:read"]
allowed_return_origins = ["{APP_ORIGIN}", "https://app.example", "http://127.0.0.1:{app_port}"]
rate_limit = {{ per_second = 5, burst = 1, on_limit = "wait" }}
"#,
            issuer = peer.issuer,
            client_id = connect::CLIENT_ID,
        );
        let config = format!(
            r#"[[integrations]]
id = "github-main"
provider = "github"
webhook_secrets = ["env:GITHUB_WEBHOOK_SECRET"]

[[destinations]]
id = "app"
url = "{hook}"
secret = "env:APP_WEBHOOK_SECRET"
integrations = ["github-main"]
event_types = ["*"]
retry_schedule_secs = [0, 1, 1]
"#,
            hook = consumer.hook_url(),
        );
        std::fs::write(
            dir.path().join("serve.toml"),
            format!("{provider}\n{config}"),
        )
        .expect("write serve.toml");
        std::fs::write(dir.path().join("switchboard.toml"), config).expect("write the config");
        let secrets: Vec<(String, String)> = vec![
            ("SWITCHBOARD_MASTER_KEY".into(), master_key),
            ("ACME_CLIENT_SECRET".into(), connect::CLIENT_SECRET.into()),
            ("GITHUB_WEBHOOK_SECRET".into(), GITHUB_WEBHOOK_SECRET.into()),
            ("APP_WEBHOOK_SECRET".into(), app_secret),
        ];
        let env_refs: Vec<(&str, &str)> = secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let server =
            Server::start(dir.path(), &["--dev", "--config", "serve.toml"], &env_refs).await;
        let key = server.printed_admin_key();
        let mut envs = secrets;
        envs.push(("SWITCHBOARD_URL".into(), server.base.clone()));
        envs.push(("SWITCHBOARD_API_KEY".into(), key.clone()));
        let env = DocsEnv {
            dir,
            server,
            peer,
            consumer,
            key,
            app_port,
            envs,
        };
        env.connect(CONNECTION_ID).await;
        env.seed().await;
        env
    }

    /// One GitHub webhook, received and delivered to the consumer, so that the docs
    /// find an event to show and replay.
    async fn seed(&self) {
        let envs = self.envs();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        harness::run(&self.path(), &["webhook", "test", "github-main"], &envs).success();
        let delivered = crate::pipeline::until(std::time::Duration::from_secs(30), || async {
            let got = self.consumer.received().await;
            got.iter().any(crate::pipeline::is_delivery).then_some(())
        })
        .await;
        assert!(
            delivered.is_some(),
            "the seed webhook was not delivered\n{}",
            self.server.stderr()
        );
    }

    /// Connects `connection_id` for end user `u42` through the real flow.
    pub async fn connect(&self, connection_id: &str) {
        let (status, v) = self
            .post(
                "/api/connect-sessions",
                json!({
                    "end_user": {"id": "u42"},
                    "integrations": ["acme"],
                    "connection_id": connection_id,
                    "return_to": format!("{APP_ORIGIN}/done"),
                }),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        let auth = self.server.url(&format!(
            "/api/integrations/acme/auth?session={}",
            v["token"].as_str().unwrap()
        ));
        let landed = browse_until(&auth, APP_ORIGIN).await;
        assert!(
            landed.contains("status=connected"),
            "{landed}\n{}",
            self.server.stderr()
        );
    }

    /// POSTs JSON with the admin key.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .server
            .http()
            .post(self.server.url(path))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The environment a doc's commands run with: the settings and secrets, and a PATH
    /// that finds this `switchboard` first.
    pub fn envs(&self) -> Vec<(String, String)> {
        let mut envs = self.envs.clone();
        let bin_dir = Path::new(BIN).parent().expect("the binary's directory");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin_dir.to_path_buf()];
        dirs.extend(std::env::split_paths(&path));
        let joined = std::env::join_paths(dirs).expect("PATH");
        envs.push(("PATH".into(), joined.to_string_lossy().into_owned()));
        envs
    }

    /// The server's working directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}
