//! The TypeScript and Python SDKs (`sdks/`) against a live server, their type checks,
//! their size, and their freshness: the committed generated code is what `scripts/sdks`
//! makes from this server's `/openapi.json` now.
//!
//! The live tests start the OIDC test peer and `switchboard serve --dev` with:
//! - `acme`: an OAuth integration at the peer (its userinfo endpoint `/me` is the API the
//!   proxy reaches), connections returning to [`RETURN_ORIGIN`];
//! - `hooks`: a Standard Webhooks intake integration (the SDK tests sign as the provider
//!   with the `standardwebhooks` package);
//! - `app`: a destination at a loopback port the SDK tests listen on, signing `v1` and
//!   `v1a` (an Ed25519 pair made by Node's crypto, not by our signer);
//!
//! then run the SDK's own tests (`npm test`: tsc strict + node's test runner; pytest) with
//! the server URL, the admin key, the peer's URL, the port and the secrets in the
//! environment (`SWITCHBOARD_URL`, `SWITCHBOARD_API_KEY`, `SB_TEST_*`), failing with the
//! tool's output.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::connect;
use crate::harness::{self, Server, wait_bounded};
use crate::oidc::OidcPeer;
use crate::pipeline::whsec;

/// Where connect flows return (nothing listens; the flow stops at the redirect).
const RETURN_ORIGIN: &str = "http://127.0.0.1:9";
/// How long one SDK tool run (tests, type check, generation) may take.
const TOOL_DEADLINE: Duration = Duration::from_secs(600);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `program args` in `dir` with `envs` (and no inherited Switchboard settings,
/// `NODE_OPTIONS` or proxies); fails the test with its output unless it exits 0.
fn tool(dir: &Path, program: &str, args: &[&str], envs: &[(String, String)]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("SWITCHBOARD_")
            || n.starts_with("SB_TEST_")
            || n == "NODE_OPTIONS"
            || n == "PYTHONPATH"
            || n.to_ascii_lowercase().ends_with("_proxy")
        {
            cmd.env_remove(&name);
        }
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost")
        .env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let what = format!("{program} {}", args.join(" "));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{what}` in {}: {e}", dir.display()));
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(out).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
    let status = wait_bounded(&mut child, TOOL_DEADLINE);
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let status = status.unwrap_or_else(|| {
        panic!("`{what}` did not finish in {TOOL_DEADLINE:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}")
    });
    assert!(
        status.success(),
        "`{what}` (in {}) failed with {status}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        dir.display()
    );
    format!("{stdout}{stderr}")
}

fn ts_dir() -> PathBuf {
    repo().join("sdks/typescript")
}

fn py_dir() -> PathBuf {
    repo().join("sdks/python")
}

/// Fails with the one command to run when the SDKs' tools are not installed.
fn installed() {
    assert!(
        ts_dir()
            .join("node_modules/openapi-fetch/package.json")
            .is_file(),
        "sdks/typescript/node_modules is missing: run scripts/setup (or scripts/setup-sdks)"
    );
    assert!(
        py_dir().join(".venv/bin/pytest").is_file(),
        "sdks/python/.venv is missing: run scripts/setup (or scripts/setup-sdks)"
    );
}

/// An Ed25519 pair as Standard Webhooks writes it (`whsk_` + base64 of the seed, `whpk_`
/// + base64 of the public key), made by Node's crypto.
fn ed25519_pair() -> (String, String) {
    let script = "const k=require('crypto').generateKeyPairSync('ed25519').privateKey.export({format:'jwk'});\
                  const b=(s)=>Buffer.from(s,'base64url').toString('base64');\
                  console.log('whsk_'+b(k.d)+' whpk_'+b(k.x))";
    let out = tool(&repo(), "node", &["-e", script], &[]);
    let (sk, pk) = out
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("no key pair from node: {out}"));
    (sk.to_owned(), pk.to_owned())
}

/// A live deployment for one SDK's tests.
struct SdkEnv {
    _dir: tempfile::TempDir,
    server: Server,
    _peer: OidcPeer,
    envs: Vec<(String, String)>,
}

impl SdkEnv {
    async fn start() -> SdkEnv {
        installed();
        let peer = connect::peer(&[]);
        let dir = harness::sandbox();
        let hook_port = harness::free_port();
        let intake_secret = whsec();
        let app_secret = whsec();
        let (signing_key, public_key) = ed25519_pair();
        let config = format!(
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
allowed_return_origins = ["{RETURN_ORIGIN}"]

[[integrations]]
id = "hooks"
provider = "standard-webhooks"
webhook_secrets = ["env:HOOKS_INTAKE_SECRET"]

[[destinations]]
id = "app"
url = "http://127.0.0.1:{hook_port}/hooks"
secret = "env:APP_WEBHOOK_SECRET"
signing_key = "env:APP_SIGNING_KEY"
integrations = ["hooks"]
event_types = ["*"]
retry_schedule_secs = [0, 1, 1]
"#,
            issuer = peer.issuer,
            client_id = connect::CLIENT_ID,
        );
        std::fs::write(dir.path().join("switchboard.toml"), config).expect("write the config");
        let server = Server::start(
            dir.path(),
            &["--dev"],
            &[
                ("ACME_CLIENT_SECRET", connect::CLIENT_SECRET),
                ("HOOKS_INTAKE_SECRET", &intake_secret),
                ("APP_WEBHOOK_SECRET", &app_secret),
                ("APP_SIGNING_KEY", &signing_key),
            ],
        )
        .await;
        let envs = vec![
            ("SWITCHBOARD_URL".to_owned(), server.base.clone()),
            ("SWITCHBOARD_API_KEY".to_owned(), server.printed_admin_key()),
            ("SB_TEST_PEER_URL".to_owned(), peer.issuer.clone()),
            ("SB_TEST_RETURN_ORIGIN".to_owned(), RETURN_ORIGIN.to_owned()),
            ("SB_TEST_HOOK_PORT".to_owned(), hook_port.to_string()),
            ("SB_TEST_INTAKE_SECRET".to_owned(), intake_secret),
            ("SB_TEST_APP_SECRET".to_owned(), app_secret),
            ("SB_TEST_APP_PUBLIC_KEY".to_owned(), public_key),
        ];
        SdkEnv {
            _dir: dir,
            server,
            _peer: peer,
            envs,
        }
    }

    /// Runs the SDK's tests; on failure, the server's log tail joins the tool's output.
    fn run(&self, dir: &Path, program: &str, args: &[&str]) -> String {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            tool(dir, program, args, &self.envs)
        }));
        match result {
            Ok(out) => out,
            Err(e) => {
                let stderr = self.server.stderr();
                let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                eprintln!("--- server stderr (tail)\n{}", tail.join("\n"));
                std::panic::resume_unwind(e)
            }
        }
    }
}

#[tokio::test]
async fn sdk_typescript_against_a_live_server() {
    let env = SdkEnv::start().await;
    let out = env.run(&ts_dir(), "npm", &["test", "--silent"]);
    eprintln!("{out}");
    assert!(out.contains("fail 0"), "node's test runner:\n{out}");
}

#[tokio::test]
async fn sdk_python_against_a_live_server() {
    let env = SdkEnv::start().await;
    let py = py_dir();
    let out = env.run(
        &py,
        ".venv/bin/python",
        &["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
    );
    eprintln!("{out}");
    assert!(!out.contains(" failed"), "pytest:\n{out}");
}

/// The package as published type-checks in strict mode without Node.js types (fetch and
/// Web APIs only, so it runs on edge runtimes). With its tests and the Node types it is
/// compiled, strict, by `npm test` in the live test above.
#[test]
fn sdk_typescript_type_checks_in_strict_mode() {
    installed();
    tool(
        &ts_dir(),
        "node",
        &[
            "node_modules/typescript/bin/tsc",
            "-p",
            "tsconfig.build.json",
            "--noEmit",
        ],
        &[],
    );
}

#[test]
fn sdk_python_type_checks_with_mypy_strict() {
    installed();
    let out = tool(
        &py_dir(),
        ".venv/bin/mypy",
        &[
            "--strict",
            "--no-incremental",
            "--cache-dir",
            "/dev/null",
            "src",
            "tests",
        ],
        &[],
    );
    assert!(out.contains("Success"), "{out}");
}

/// The TypeScript runtime (the hand-written layer and openapi-fetch, bundled and
/// minified by esbuild) stays under 30 KB, and pulls in nothing else.
#[test]
fn sdk_typescript_runtime_is_small_and_has_one_dependency() {
    installed();
    let out = tool(&ts_dir(), "node", &["scripts/size.mjs", "--json"], &[]);
    let v: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("scripts/size.mjs did not print JSON ({e}): {out}"));
    let minified = v["minified"].as_u64().expect("minified bytes");
    assert!(
        minified < 30 * 1024,
        "the minified runtime is {minified} bytes: {v}"
    );
    assert_eq!(
        v["inputs"],
        serde_json::json!(["openapi-fetch", "src"]),
        "{v}"
    );
    let pkg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ts_dir().join("package.json")).unwrap())
            .unwrap();
    let deps: Vec<&String> = pkg["dependencies"].as_object().unwrap().keys().collect();
    assert_eq!(
        deps,
        ["openapi-fetch"],
        "the runtime depends on the generator's runtime only"
    );
}

/// A route change without a regeneration cannot land: `scripts/sdks` run on this
/// server's `/openapi.json` makes exactly what is committed under `sdks/`.
#[tokio::test]
async fn sdk_generated_code_matches_the_servers_openapi() {
    installed();
    let dir = harness::sandbox();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap().to_owned();
    tool(
        &repo(),
        "scripts/sdks",
        &["--openapi", &server.url("/openapi.json"), "--out", &out_dir],
        &[],
    );
    let pairs = [
        ("openapi.json", "sdks/openapi.json"),
        (
            "typescript/src/generated/schema.ts",
            "sdks/typescript/src/generated/schema.ts",
        ),
        (
            "python/src/switchboard_client/generated",
            "sdks/python/src/switchboard_client/generated",
        ),
    ];
    let mut differ = Vec::new();
    for (fresh, committed) in pairs {
        let a = files(&out.path().join(fresh));
        let b = files(&repo().join(committed));
        if a != b {
            let names = |m: &std::collections::BTreeMap<String, String>| {
                m.keys().cloned().collect::<Vec<_>>()
            };
            let changed: Vec<String> = names(&a)
                .into_iter()
                .chain(names(&b))
                .filter(|k| a.get(k) != b.get(k))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            differ.push(format!("{committed}: {changed:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "the committed SDKs differ from a fresh generation from /openapi.json; run `scripts/sdks` and commit sdks/\n{}",
        differ.join("\n")
    );
}

/// Every file under `path` (or `path` itself) by relative path, with its text; caches
/// left out.
fn files(path: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if path.is_file() {
        out.insert(String::new(), std::fs::read_to_string(path).unwrap());
        return out;
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name == "__pycache__" || name.starts_with(".") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(path).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    out
}
