//! Runs the real `switchboard` binary as a subprocess: one-shot CLI verbs and a `serve`
//! process with its output captured to files, readiness polling and cleanup on drop.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// How long a one-shot CLI verb may run before the test fails.
const CLI_DEADLINE: Duration = Duration::from_secs(120);
/// How long `serve` may take to answer /readyz.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long a process may take to exit after a signal.
const EXIT_DEADLINE: Duration = Duration::from_secs(30);

/// A fresh working directory for one test.
pub fn sandbox() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("switchboard-it-")
        .tempdir()
        .expect("create a temporary directory")
}

/// A command for the binary, run in `dir`, with no inherited Switchboard settings,
/// `RUST_LOG` or proxies; then `envs` set.
pub fn command(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).args(args).stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("SWITCHBOARD_")
            || n == "RUST_LOG"
            || n.to_ascii_lowercase().ends_with("_proxy")
        {
            cmd.env_remove(&name);
        }
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// The outcome of a finished process.
#[derive(Debug)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything written on stdout.
    pub stdout: String,
    /// Everything written on stderr.
    pub stderr: String,
    /// What was run, for failure messages.
    pub what: String,
}

impl Output {
    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Fails the test unless the process exited 0.
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert!(
            self.status.success(),
            "`{}` failed with {}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Fails the test unless the process exited with `code`.
    #[track_caller]
    pub fn exit_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "`{}` exited with {}, expected code {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Fails the test unless the process exited non-zero (not by a signal).
    #[track_caller]
    pub fn failure(&self) -> &Self {
        assert!(
            matches!(self.code(), Some(c) if c != 0),
            "`{}` should have failed but exited with {}\n--- stdout\n{}\n--- stderr\n{}",
            self.what,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`{}` did not print JSON ({e})\n--- stdout\n{}\n--- stderr\n{}",
                self.what, self.stdout, self.stderr
            )
        })
    }

    /// Fails the test unless stderr contains every one of `needles`.
    #[track_caller]
    pub fn stderr_has(&self, needles: &[&str]) -> &Self {
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr of `{}` should contain {n:?}\n--- stderr\n{}",
                self.what,
                self.stderr
            );
        }
        self
    }
}

fn describe(args: &[&str], envs: &[(&str, &str)]) -> String {
    let env: Vec<String> = envs.iter().map(|(k, _)| format!("{k}=…")).collect();
    format!("{} switchboard {}", env.join(" "), args.join(" "))
        .trim()
        .to_owned()
}

/// Reads a pipe to its end on a thread.
fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Waits for `child` up to `deadline`; kills it and returns `None` on timeout.
pub fn wait_bounded(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait for a child process") {
            return Some(s);
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs a one-shot verb in `dir` and captures its output. Fails the test if it runs
/// longer than two minutes.
pub fn run(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let what = describe(args, envs);
    let mut child = command(dir, args, envs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{what}`: {e}"));
    let out = drain(child.stdout.take().expect("stdout pipe"));
    let err = drain(child.stderr.take().expect("stderr pipe"));
    let status = wait_bounded(&mut child, CLI_DEADLINE);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "`{what}` did not finish in {CLI_DEADLINE:?}; killed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    };
    Output {
        status,
        stdout,
        stderr,
        what,
    }
}

/// A port that was free a moment ago, for a process that will listen on it. Chosen at
/// random below the kernel's ephemeral range (`ip_local_port_range` starts at 32768), so
/// the thousands of outgoing connections the tests make cannot take it between this
/// check and the listen, as they could take a port the kernel handed out from that range.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let mut b = [0u8; 2];
        getrandom::fill(&mut b).expect("random bytes");
        let port = 10_000 + u16::from_le_bytes(b) % 22_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

/// Sends `sig` (e.g. `TERM`, `INT`, `HUP`) to `pid` with kill(1).
pub fn send_signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {pid} failed: {status}");
}

/// An HTTP client that never uses a proxy.
pub fn http() -> reqwest::Client {
    client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build an HTTP client")
}

/// Every test client starts here: no proxy, and idle connections dropped after a
/// second, well before a Node peer closes them (its keep-alive is 5 s). A pooled
/// connection reused just as the peer closes it fails the request ("error sending
/// request"), which on a loaded machine happened.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .pool_idle_timeout(Duration::from_secs(1))
}

/// Every string in `text` shaped like a Switchboard API key
/// (`sb_` + 12 of `[a-z0-9]` + `_` + 40 of `[A-Za-z0-9]`).
pub fn find_api_keys(text: &str) -> Vec<String> {
    const LEN: usize = 3 + 12 + 1 + 40;
    let mut found = Vec::new();
    for (i, _) in text.match_indices("sb_") {
        let Some(k) = text.get(i..i + LEN) else {
            continue;
        };
        let b = k.as_bytes();
        let id_ok = b[3..15]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let secret_ok = b[16..].iter().all(u8::is_ascii_alphanumeric);
        let end_ok = text
            .as_bytes()
            .get(i + LEN)
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if id_ok && b[15] == b'_' && secret_ok && end_ok {
            found.push(k.to_owned());
        }
    }
    found
}

/// A base64 master key for tests, and its public id (hex), as the vault computes them.
pub fn master_key() -> (String, String) {
    use vault::ExposeSecret;
    let k = vault::MasterKey::generate().expect("generate a master key");
    (k.to_base64().expose_secret().to_owned(), k.id().to_string())
}

/// Polls `check` every 50 ms until it returns `Some`, for up to 30 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A connection pool on the sandbox's SQLite database (already in WAL mode).
pub async fn open_db(dir: &Path) -> SqlitePool {
    let url = format!("sqlite://{}", dir.join("switchboard.db").display());
    let opts = SqliteConnectOptions::from_str(&url)
        .expect("SQLite URL")
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"))
}

/// A running `switchboard serve`. Killed on drop if still running.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Where it listens.
    pub base: String,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    _logs: tempfile::TempDir,
    http: reqwest::Client,
    exited: Option<ExitStatus>,
}

/// Why `serve` did not become ready.
#[derive(Debug)]
pub struct StartFailure {
    /// Exit status, if it exited.
    pub status: Option<ExitStatus>,
    /// What it printed on stdout.
    pub stdout: String,
    /// What it printed on stderr.
    pub stderr: String,
}

impl Server {
    /// Starts `serve --listen 127.0.0.1:<free port> <args>` in `dir` and waits until
    /// /readyz answers 200. Fails the test with the captured stderr otherwise.
    pub async fn start(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Server {
        match Self::try_start(dir, args, envs).await {
            Ok(s) => s,
            Err(f) => panic!(
                "switchboard serve {} did not become ready (status {:?})\n--- stdout\n{}\n--- stderr\n{}",
                args.join(" "),
                f.status,
                f.stdout,
                f.stderr
            ),
        }
    }

    /// Like [`Server::start`], but returns the failure. Retries on another port if the
    /// chosen one was taken meanwhile.
    pub async fn try_start(
        dir: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<Server, StartFailure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::start_once(dir, args, envs).await {
                Err(f) if attempt < 4 && f.stderr.contains("cannot listen on") => continue,
                other => return other,
            }
        }
    }

    async fn start_once(
        dir: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Result<Server, StartFailure> {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let logs = tempfile::Builder::new()
            .prefix("switchboard-it-logs-")
            .tempdir()
            .expect("log directory");
        let stdout_path = logs.path().join("stdout");
        let stderr_path = logs.path().join("stderr");
        let mut full = vec!["serve", "--listen", &listen];
        full.extend_from_slice(args);
        let child = command(dir, &full, envs)
            .stdout(File::create(&stdout_path).expect("stdout file"))
            .stderr(File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .expect("start switchboard serve");
        let mut server = Server {
            child,
            base: format!("http://{listen}"),
            stdout_path,
            stderr_path,
            _logs: logs,
            http: http(),
            exited: None,
        };
        let start = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait().expect("poll serve") {
                server.exited = Some(status);
                return Err(StartFailure {
                    status: Some(status),
                    stdout: server.stdout(),
                    stderr: server.stderr(),
                });
            }
            let ready = server
                .http
                .get(server.url("/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return Ok(server);
            }
            if start.elapsed() > READY_DEADLINE {
                let _ = server.child.kill();
                server.exited = server.child.wait().ok();
                return Err(StartFailure {
                    status: None,
                    stdout: server.stdout(),
                    stderr: server.stderr(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Everything written on stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Everything written on stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    /// The one admin key `serve --dev` printed on stdout.
    #[track_caller]
    pub fn printed_admin_key(&self) -> String {
        let out = self.stdout();
        let keys = find_api_keys(&out);
        assert_eq!(keys.len(), 1, "expected exactly one key on stdout:\n{out}");
        keys[0].clone()
    }

    /// Sends a signal (`TERM`, `INT`, `HUP`, …).
    pub fn signal(&self, sig: &str) {
        send_signal(self.pid(), sig);
    }

    /// Waits (bounded) for the process to exit.
    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        if let Some(s) = self.exited {
            return s;
        }
        let status = wait_bounded(&mut self.child, EXIT_DEADLINE);
        let Some(status) = status else {
            panic!(
                "serve did not exit within {EXIT_DEADLINE:?}; killed\n--- stderr\n{}",
                self.stderr()
            );
        };
        self.exited = Some(status);
        status
    }

    /// SIGTERM, then waits; fails the test unless it exits 0.
    #[track_caller]
    pub fn stop(&mut self) {
        self.signal("TERM");
        let status = self.wait_exit();
        assert!(
            status.success(),
            "serve exited with {status} after SIGTERM\n--- stderr\n{}",
            self.stderr()
        );
    }

    /// GET `path`, with a bearer key if given.
    pub async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GET `path` with `key`; asserts 200 and returns the JSON body.
    pub async fn get_json(&self, path: &str, key: &str) -> Value {
        let res = self.get(path, Some(key)).await;
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// The newest audit rows, through the API.
    pub async fn audit_rows(&self, key: &str) -> Vec<Value> {
        let v = self.get_json("/api/audit?limit=500", key).await;
        v["data"].as_array().cloned().unwrap_or_default()
    }

    /// Polls stderr (bounded) until it contains `needle`.
    pub async fn wait_for_stderr(&self, needle: &str) -> String {
        eventually(&format!("{needle:?} on the server's stderr"), || async {
            let s = self.stderr();
            s.contains(needle).then_some(s)
        })
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exited.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Every row of the audit log (newest first) through the local CLI.
pub fn audit_list_local(dir: &Path, envs: &[(&str, &str)]) -> Vec<Value> {
    let out = run(dir, &["audit", "list", "--limit", "500", "--json"], envs);
    out.success();
    out.json()["data"].as_array().cloned().unwrap_or_default()
}

/// Whether `haystack` contains `needle` as bytes.
pub fn contains_bytes(haystack: &[u8], needle: impl AsRef<[u8]>) -> bool {
    let n = needle.as_ref();
    !n.is_empty() && haystack.windows(n.len()).any(|w| w == n)
}

/// The value of one series (`name{labels}` exactly as the exporter writes it, or a bare
/// name) in a Prometheus text exposition, if present.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The server's `/metrics` text.
pub async fn scrape(server: &Server) -> String {
    let res = server.get("/metrics", None).await;
    assert_eq!(res.status(), 200, "GET /metrics");
    res.text().await.expect("the /metrics body")
}

/// An app's webhook endpoint for the tests: `POST /hooks` answers the status it is set
/// to and counts the requests.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    /// The status it answers.
    pub status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    /// Requests received.
    pub hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Destination {
    /// Listens on a free loopback port; the endpoint and its URL.
    pub async fn start(status: u16) -> (Self, String) {
        use std::sync::atomic::Ordering;
        let d = Destination::default();
        d.status.store(status, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route(
                "/hooks",
                axum::routing::post(
                    |axum::extract::State(d): axum::extract::State<Destination>| async move {
                        d.hits.fetch_add(1, Ordering::SeqCst);
                        axum::http::StatusCode::from_u16(d.status.load(Ordering::SeqCst)).unwrap()
                    },
                ),
            )
            .with_state(d.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (d, format!("http://{addr}/hooks"))
    }
}
