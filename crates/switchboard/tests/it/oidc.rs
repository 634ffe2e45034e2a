//! A real OAuth 2.0 / OpenID Connect authorization server as a test peer: the npm package
//! `oidc-provider` run by `tests/peers/oidc-provider/server.mjs` (see its README for the
//! configuration and the `/__test/` control endpoints), as a child process on 127.0.0.1
//! with its stderr captured to a file and the process killed on drop.
//!
//! Interactions complete on their own: the peer logs in the `login_hint` account (`alice`
//! by default) and grants everything requested, so [`browse_until`] can walk an
//! authorization URL to the client's redirect URI with plain redirects and cookies;
//! `login_hint=deny` ends with `error=access_denied`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness;

/// How long the peer may take to print `LISTENING <port>`.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// At most this many redirects in [`browse_until`].
const MAX_HOPS: usize = 20;

/// Where the peer lives in the workspace.
pub fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/oidc-provider")
}

/// A running `oidc-provider` peer. Killed on drop.
#[derive(Debug)]
pub struct OidcPeer {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// `http://127.0.0.1:<port>`, exactly as in its discovery document and tokens.
    pub issuer: String,
    child: Child,
    stderr_path: PathBuf,
    _logs: tempfile::TempDir,
    http: reqwest::Client,
}

impl OidcPeer {
    /// Starts the peer with `clients` (a JSON array of oidc-provider client metadata:
    /// `client_id`, `client_secret`, `redirect_uris`, `grant_types`,
    /// `token_endpoint_auth_method`, `response_types`, `scope`, …) and default settings.
    pub fn start(clients: Value) -> OidcPeer {
        Self::start_with(clients, &[])
    }

    /// Like [`OidcPeer::start`], with extra environment variables for the peer, e.g.
    /// `ACCESS_TOKEN_TTL` or `REFRESH_TOKEN_TTL` (seconds).
    pub fn start_with(clients: Value, envs: &[(&str, &str)]) -> OidcPeer {
        assert!(clients.is_array(), "OIDC clients must be a JSON array");
        let dir = peer_dir();
        assert!(
            dir.join("node_modules/oidc-provider/package.json")
                .is_file(),
            "the OIDC test peer is not installed ({}/node_modules is missing): run scripts/setup",
            dir.display()
        );
        let logs = tempfile::Builder::new()
            .prefix("switchboard-it-oidc-")
            .tempdir()
            .expect("log directory");
        let stderr_path = logs.path().join("stderr");
        let mut cmd = Command::new("node");
        cmd.current_dir(&dir)
            .arg("server.mjs")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr_path).expect("stderr file"));
        for (name, _) in std::env::vars_os() {
            let n = name.to_string_lossy();
            if n == "NODE_OPTIONS" || n.to_ascii_lowercase().ends_with("_proxy") {
                cmd.env_remove(&name);
            }
        }
        cmd.env("PORT", "0")
            .env("OIDC_CLIENTS", clients.to_string())
            .env("NO_COLOR", "1");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start the OIDC test peer with `node` ({e}): install Node.js 20.19+ and run scripts/setup")
        });

        // Read stdout on a thread: the first `LISTENING <port>` line is the readiness
        // signal; the rest is drained so the peer never blocks on a full pipe.
        let stdout = child.stdout.take().expect("stdout pipe");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("LISTENING ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(port.trim().parse::<u16>());
                }
            }
        });

        let start = Instant::now();
        let port = loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Ok(port)) => break port,
                Ok(Err(e)) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "the OIDC test peer printed a bad LISTENING line ({e})\n--- stderr\n{}",
                        read(&stderr_path)
                    );
                }
                Err(_) => {}
            }
            if let Some(status) = child.try_wait().expect("poll the OIDC test peer") {
                panic!(
                    "the OIDC test peer exited with {status} before listening\n--- stderr\n{}",
                    read(&stderr_path)
                );
            }
            if start.elapsed() > START_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the OIDC test peer did not print LISTENING within {START_DEADLINE:?}\n--- stderr\n{}",
                    read(&stderr_path)
                );
            }
        };
        OidcPeer {
            port,
            issuer: format!("http://127.0.0.1:{port}"),
            child,
            stderr_path,
            _logs: logs,
            http: harness::http(),
        }
    }

    /// `issuer` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Everything the peer wrote on stderr so far (its log), for failure messages.
    pub fn stderr(&self) -> String {
        read(&self.stderr_path)
    }

    async fn control(&self, req: reqwest::RequestBuilder, what: &str) -> Value {
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}\n--- peer stderr\n{}", self.stderr()));
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "{what}: HTTP {status}: {text}\n--- peer stderr\n{}",
            self.stderr()
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"))
    }

    /// The discovery document (`/.well-known/openid-configuration`).
    pub async fn discovery(&self) -> Value {
        let req = self.http.get(self.url("/.well-known/openid-configuration"));
        self.control(req, "GET discovery").await
    }

    /// Request counts since start or the last [`OidcPeer::reset`]:
    /// `{"token": {"authorization_code", "refresh_token", "client_credentials"},
    /// "token_other", "token_errors", "revocation", "introspection", "userinfo",
    /// "authorization", "faults_injected"}`.
    pub async fn stats(&self) -> Value {
        let req = self.http.get(self.url("/__test/stats"));
        self.control(req, "GET /__test/stats").await
    }

    /// Zeroes the counts (armed faults stay armed).
    pub async fn reset(&self) {
        let req = self.http.post(self.url("/__test/reset"));
        self.control(req, "POST /__test/reset").await;
    }

    /// The next `count` requests to `endpoint` (`token`, `userinfo`, `revocation`,
    /// `introspection`) get HTTP `status` with an OAuth error body
    /// (`temporarily_unavailable`) instead of reaching the provider.
    pub async fn fail_next(&self, endpoint: &str, status: u16, count: u32) {
        self.fail_with(json!({"endpoint": endpoint, "status": status, "count": count}))
            .await;
    }

    /// Arms a fault with every option: `{"endpoint", "status" (0 = only delay, then the
    /// provider answers), "count", "body"?, "content_type"?, "delay_ms"?, "hold"?}`.
    pub async fn fail_with(&self, spec: Value) {
        let req = self.http.post(self.url("/__test/fail")).json(&spec);
        self.control(req, "POST /__test/fail").await;
    }

    /// Stops the next request to `endpoint` at the peer until [`OidcPeer::release`]
    /// (then the provider answers it): the test knows it is in flight for as long as it
    /// needs.
    pub async fn hold_next(&self, endpoint: &str) {
        self.fail_with(json!({"endpoint": endpoint, "status": 0, "count": 1, "hold": true}))
            .await;
    }

    /// How many requests to `endpoint` are held at the peer now.
    pub async fn held(&self, endpoint: &str) -> u64 {
        let req = self.http.get(self.url("/__test/held"));
        let v = self.control(req, "GET /__test/held").await;
        v[endpoint]
            .as_u64()
            .unwrap_or_else(|| panic!("GET /__test/held: no count for {endpoint}: {v}"))
    }

    /// Lets every held request to `endpoint` go on; returns how many there were.
    pub async fn release(&self, endpoint: &str) -> u64 {
        let req = self
            .http
            .post(self.url("/__test/release"))
            .json(&json!({ "endpoint": endpoint }));
        let v = self.control(req, "POST /__test/release").await;
        v["released"].as_u64().unwrap_or(0)
    }

    /// Access tokens issued from now on live `secs` seconds.
    pub async fn set_access_ttl(&self, secs: u64) {
        let req = self
            .http
            .post(self.url("/__test/ttl"))
            .json(&json!({ "access_token": secs }));
        self.control(req, "POST /__test/ttl").await;
    }

    /// Every token value (access, refresh, ID) the token endpoint has handed out.
    pub async fn issued(&self) -> Vec<String> {
        let req = self.http.get(self.url("/__test/issued"));
        let v = self.control(req, "GET /__test/issued").await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t["value"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every token the token endpoint has handed out, as (kind, value): kind is
    /// `access_token`, `refresh_token` or `id_token`.
    pub async fn issued_with_kind(&self) -> Vec<(String, String)> {
        let req = self.http.get(self.url("/__test/issued"));
        let v = self.control(req, "GET /__test/issued").await;
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| {
                        Some((
                            t["kind"].as_str()?.to_owned(),
                            t["value"].as_str()?.to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// RFC 7662 introspection of `token`, authenticated with HTTP Basic.
    pub async fn introspect(&self, client_id: &str, client_secret: &str, token: &str) -> Value {
        let req = self
            .http
            .post(self.url("/token/introspection"))
            .basic_auth(client_id, Some(client_secret))
            .form(&[("token", token)]);
        self.control(req, "POST /token/introspection").await
    }
}

impl Drop for OidcPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A PKCE pair: a random `code_verifier` (43 characters) and its S256 `code_challenge`.
pub fn pkce() -> (String, String) {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("random bytes");
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A cookie jar that is just enough for oidc-provider: cookies keyed by name and path,
/// sent to requests whose path is under the cookie's path, removed when cleared.
#[derive(Debug, Default)]
struct Jar {
    cookies: BTreeMap<(String, String), String>,
}

impl Jar {
    fn store(&mut self, url: &Url, set_cookie: &str) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
        let mut path = None;
        let mut removed = value.is_empty();
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "path" => path = Some(v.trim().to_owned()),
                "max-age" => removed |= v.trim().parse::<i64>().is_ok_and(|s| s <= 0),
                "expires" => removed |= v.contains("1970"),
                _ => {}
            }
        }
        let path = path.filter(|p| p.starts_with('/')).unwrap_or_else(|| {
            // RFC 6265 default path: the request path up to its last `/`.
            let p = url.path();
            match p.rfind('/') {
                Some(0) | None => "/".to_owned(),
                Some(i) => p[..i].to_owned(),
            }
        });
        if removed {
            self.cookies.remove(&(name, path));
        } else {
            self.cookies.insert((name, path), value);
        }
    }

    fn header(&self, url: &Url) -> Option<String> {
        let req_path = url.path();
        let on_path = |p: &str| {
            p == "/"
                || req_path == p
                || (req_path.starts_with(p)
                    && (p.ends_with('/') || req_path.as_bytes().get(p.len()) == Some(&b'/')))
        };
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|((_, path), _)| on_path(path))
            .map(|((name, _), value)| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

/// Follows the browser redirects from `auth_url` (keeping cookies) until a redirect goes
/// to a URL starting with `stop_prefix` (the client's redirect URI); returns that URL
/// without requesting it. Fails the test on any non-redirect answer on the way.
pub async fn browse_until(auth_url: &str, stop_prefix: &str) -> String {
    let http = crate::harness::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build an HTTP client");
    let mut jar = Jar::default();
    let mut url = Url::parse(auth_url).unwrap_or_else(|e| panic!("bad URL {auth_url}: {e}"));
    let mut trail = Vec::new();
    for _ in 0..MAX_HOPS {
        if url.as_str().starts_with(stop_prefix) {
            return url.into();
        }
        trail.push(url.path().to_owned());
        let mut req = http.get(url.clone());
        if let Some(cookie) = jar.header(&url) {
            req = req.header(reqwest::header::COOKIE, cookie);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        for sc in resp.headers().get_all(reqwest::header::SET_COOKIE) {
            if let Ok(sc) = sc.to_str() {
                jar.store(&url, sc);
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let Some(location) = location.filter(|_| status.is_redirection()) else {
            let body = resp.text().await.unwrap_or_default();
            panic!(
                "GET {url} answered {status} instead of a redirect (on the way to {stop_prefix}; visited {trail:?})\n{body}"
            );
        };
        url = url
            .join(&location)
            .unwrap_or_else(|e| panic!("bad Location {location:?} from {url}: {e}"));
    }
    panic!(
        "more than {MAX_HOPS} redirects from {auth_url} without reaching {stop_prefix}: {trail:?}"
    );
}
