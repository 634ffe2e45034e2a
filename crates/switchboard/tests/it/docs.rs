//! The documentation cannot rot: every fenced ```sh block of `docs/runbooks/*.md` and
//! `docs/guides/*.md` runs, in order, against a fresh deployment (`docs_env`: `serve
//! --dev`, the OIDC test peer with a connection, the consumer test peer as the
//! destination), with `switchboard` on PATH and `SWITCHBOARD_URL`/`SWITCHBOARD_API_KEY`
//! set; a block fails the test with its file and line when it exits otherwise than
//! expected.
//!
//! Info-string tags on a ```sh block:
//! - `exit=N`: the block is expected to exit N (a check that finds a problem exits 1).
//!
//! A ```text output block right after a ```sh block is what the command printed: the
//! words of its first line (the table header, or the first sentence; words with a digit
//! left out, as ids and times vary) must all be in what the block printed.
//!
//! An ```html browser block is an app page: it is served in Chromium (`tests/browser`)
//! and must connect `acct-77` through a popup (see `run_page`); its
//! `https://switchboard.example.com` is the test server's URL, and its
//! `/connect-session` answers `{url, token}` of a fresh connect session.
//!
//! ```jsx blocks (React components) are shown, not run.
//!
//! `DOCS_SHOW_OUTPUT=1` prints what each block printed (to paste into a doc).
//!
//! The ```js blocks of a file are joined, in order, into one program run by Node.js, with
//! the npm package `standardwebhooks` of `tests/peers/consumer` on its module path.
//!
//! The ```ts blocks of a file are joined, in order, into one ES module that imports the
//! TypeScript SDK as `@switchboard/client`: it is type-checked with the SDK's strict
//! `tsconfig.json`, bundled by esbuild and run by Node.js. The ```python blocks are joined
//! into one program run with the Python SDK's venv (`sdks/python/.venv`). Both run after
//! the file's sh blocks, each after `acct-42` is connected again (the sh blocks end by
//! disconnecting it), with the same environment. The
//! ```rust blocks of `docs/guides/backend.md` are compiled by the doc tests of the
//! `client` crate, which includes the guide as the documentation of a module.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::docs_env::DocsEnv;
use crate::harness::{self, wait_bounded};

/// How long one block may run.
const BLOCK_DEADLINE: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One fenced block of a Markdown file.
#[derive(Debug, Clone)]
pub struct Block {
    /// The language (`sh`, `js`, `rust`, `text`, …).
    pub lang: String,
    /// The other words of the info string.
    pub tags: Vec<String>,
    /// The line of the opening fence (1-based).
    pub line: usize,
    /// The content.
    pub code: String,
    /// For a `sh` block: the `text output` block right after it.
    pub output: Option<String>,
}

impl Block {
    fn tag(&self, t: &str) -> bool {
        self.tags.iter().any(|x| x == t)
    }

    fn expected_exit(&self) -> i32 {
        self.tags
            .iter()
            .find_map(|t| t.strip_prefix("exit="))
            .map(|n| n.parse().expect("exit=N with a number"))
            .unwrap_or(0)
    }
}

/// The fenced blocks of `text` (backtick fences, possibly indented, as this project's
/// docs write them).
pub fn blocks(text: &str) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    let mut lines = text.lines().enumerate();
    let mut last_end: Option<usize> = None;
    while let Some((i, line)) = lines.next() {
        let t = line.trim_start();
        let Some(info) = t.strip_prefix("```") else {
            continue;
        };
        let indent = line.len() - t.len();
        let mut words = info.split_whitespace().map(str::to_owned);
        let lang = words.next().unwrap_or_default();
        let tags: Vec<String> = words.collect();
        let mut code = String::new();
        let mut end = i;
        for (j, l) in lines.by_ref() {
            end = j;
            if l.trim() == "```" {
                break;
            }
            code.push_str(l.get(indent..).unwrap_or(l.trim_start()));
            code.push('\n');
        }
        let adjacent = last_end.is_some_and(|e| {
            text.lines()
                .skip(e + 1)
                .take(i - e - 1)
                .all(|l| l.trim().is_empty())
        });
        if lang == "text"
            && tags.iter().any(|t| t == "output")
            && adjacent
            && let Some(prev) = out.last_mut().filter(|b| b.lang == "sh")
        {
            prev.output = Some(code);
            last_end = Some(end);
            continue;
        }
        out.push(Block {
            lang,
            tags,
            line: i + 1,
            code,
            output: None,
        });
        last_end = Some(end);
    }
    out
}

/// The words an output's first line must share with the real output.
fn key_words(output: &str) -> Vec<String> {
    let first = output
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    first
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.len() >= 3 && !w.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_owned)
        .collect()
}

/// Runs `program` with `args` under the deployment's environment, in its directory.
fn run_in(
    env: &DocsEnv,
    program: &str,
    args: &[&str],
    extra: &[(&str, String)],
) -> harness::Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(env.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        let n = name.to_string_lossy();
        if n.starts_with("SWITCHBOARD_")
            || n == "RUST_LOG"
            || n == "NODE_OPTIONS"
            || n.to_ascii_lowercase().ends_with("_proxy")
        {
            cmd.env_remove(&name);
        }
    }
    cmd.env("NO_PROXY", "127.0.0.1,localhost");
    cmd.env("NO_COLOR", "1");
    for (k, v) in env.envs() {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(out).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
    let status = wait_bounded(&mut child, BLOCK_DEADLINE);
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    let status = status.unwrap_or_else(|| {
        panic!("{program} did not finish in {BLOCK_DEADLINE:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}")
    });
    harness::Output {
        status,
        stdout,
        stderr,
        what: program.to_owned(),
    }
}

/// What running one file did.
#[derive(Debug, Default)]
pub struct Ran {
    /// `sh` blocks run.
    pub sh: usize,
    /// `js` blocks run (as one program).
    pub js: usize,
    /// `ts` blocks type-checked and run (as one program).
    pub ts: usize,
    /// `python` blocks run (as one program).
    pub python: usize,
}

/// Runs every block of `rel` (a path under the repository) against a fresh deployment.
pub async fn run_doc(rel: &str) -> Ran {
    let path = repo().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let blocks = blocks(&text);
    let env = DocsEnv::start().await;
    let mut ran = Ran::default();
    let mut js = String::new();
    let mut ts = String::new();
    let mut python = String::new();
    let mut pages = Vec::new();
    for b in &blocks {
        match b.lang.as_str() {
            "sh" => {
                let out = run_in(&env, "bash", &["-euo", "pipefail", "-c", &b.code], &[]);
                let want = b.expected_exit();
                assert_eq!(
                    out.code(),
                    Some(want),
                    "{rel}:{}: the block exited {} (expected {want})\n--- block\n{}--- stdout\n{}\n--- stderr\n{}\n--- server stderr (tail)\n{}",
                    b.line,
                    out.status,
                    b.code,
                    out.stdout,
                    out.stderr,
                    tail(&env.server.stderr(), 40),
                );
                if std::env::var_os("DOCS_SHOW_OUTPUT").is_some() {
                    eprintln!("=== {rel}:{}\n{}{}", b.line, out.stdout, out.stderr);
                }
                if let Some(shown) = &b.output {
                    let all = format!("{}{}", out.stdout, out.stderr);
                    for w in key_words(shown) {
                        assert!(
                            all.contains(&w),
                            "{rel}:{}: the output shown has {w:?}, what the block printed does not\n--- shown\n{shown}--- printed\n{all}",
                            b.line
                        );
                    }
                }
                ran.sh += 1;
            }
            "html" if b.tag("browser") => pages.push(b.clone()),
            "js" => {
                js.push_str(&format!("// {rel}:{}\n{}\n", b.line, b.code));
                ran.js += 1;
            }
            "ts" => {
                ts.push_str(&format!("// {rel}:{}\n{}\n", b.line, b.code));
                ran.ts += 1;
            }
            "python" => {
                python.push_str(&format!("# {rel}:{}\n{}\n", b.line, b.code));
                ran.python += 1;
            }
            _ => {}
        }
    }
    if !js.is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("doc.cjs");
        std::fs::write(&file, &js).unwrap();
        let modules = repo().join("tests/peers/consumer/node_modules");
        assert!(
            modules.join("standardwebhooks").is_dir(),
            "{} is missing: run scripts/setup",
            modules.display()
        );
        let out = run_in(
            &env,
            "node",
            &[file.to_str().unwrap()],
            &[("NODE_PATH", modules.to_string_lossy().into_owned())],
        );
        assert!(
            out.status.success(),
            "{rel}: the js blocks failed ({})\n--- program\n{js}--- stdout\n{}\n--- stderr\n{}",
            out.status,
            out.stdout,
            out.stderr
        );
    }
    if !ts.is_empty() {
        env.connect(crate::docs_env::CONNECTION_ID).await;
        run_ts(&env, rel, &ts);
    }
    if !python.is_empty() {
        env.connect(crate::docs_env::CONNECTION_ID).await;
        run_python(&env, rel, &python);
    }
    for page in &pages {
        run_page(&env, rel, page).await;
    }
    eprintln!(
        "{rel}: ran {} sh blocks, {} js blocks, {} ts blocks, {} python blocks and {} pages in Chromium",
        ran.sh,
        ran.js,
        ran.ts,
        ran.python,
        pages.len(),
    );
    drop(env);
    ran
}

/// Type-checks the joined ```ts blocks against the TypeScript SDK (strict), bundles them
/// with esbuild and runs them under the deployment's environment.
fn run_ts(env: &DocsEnv, rel: &str, program: &str) {
    let sdk = repo().join("sdks/typescript");
    assert!(
        sdk.join("node_modules/typescript").is_dir(),
        "sdks/typescript/node_modules is missing: run scripts/setup"
    );
    // Inside the SDK's folder, so `standardwebhooks` and the Node types resolve from its
    // node_modules.
    let dir = tempfile::Builder::new()
        .prefix(".docs-")
        .tempdir_in(&sdk)
        .unwrap();
    std::fs::write(dir.path().join("guide.mts"), program).unwrap();
    std::fs::write(
        dir.path().join("tsconfig.json"),
        r#"{"extends": "../tsconfig.json",
            "compilerOptions": {"rootDir": "..", "noEmit": true,
                                "paths": {"@switchboard/client": ["../src/index.ts"]}},
            "include": ["guide.mts"]}"#,
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let check = run_in(
        env,
        "node",
        &[
            sdk.join("node_modules/typescript/bin/tsc")
                .to_str()
                .unwrap(),
            "-p",
            &format!("{d}/tsconfig.json"),
        ],
        &[],
    );
    assert!(
        check.status.success(),
        "{rel}: the ts blocks do not type-check\n--- program\n{program}--- tsc\n{}{}",
        check.stdout,
        check.stderr
    );
    let esbuild = sdk.join("node_modules/.bin/esbuild");
    let bundle = run_in(
        env,
        esbuild.to_str().unwrap(),
        &[
            &format!("{d}/guide.mts"),
            "--bundle",
            "--platform=node",
            "--format=esm",
            "--log-level=warning",
            &format!(
                "--alias:@switchboard/client={}",
                sdk.join("src/index.ts").display()
            ),
            &format!("--outfile={d}/guide.mjs"),
        ],
        &[],
    );
    assert!(
        bundle.status.success(),
        "{rel}: esbuild could not bundle the ts blocks\n{}{}",
        bundle.stdout,
        bundle.stderr
    );
    let out = run_in(env, "node", &[&format!("{d}/guide.mjs")], &[]);
    assert!(
        out.status.success(),
        "{rel}: the ts blocks failed ({})\n--- program\n{program}--- stdout\n{}\n--- stderr\n{}\n--- server stderr (tail)\n{}",
        out.status,
        out.stdout,
        out.stderr,
        tail(&env.server.stderr(), 30)
    );
    if std::env::var_os("DOCS_SHOW_OUTPUT").is_some() {
        eprintln!("=== {rel} (ts)\n{}{}", out.stdout, out.stderr);
    }
}

/// Runs the joined ```python blocks with the Python SDK's venv.
fn run_python(env: &DocsEnv, rel: &str, program: &str) {
    let sdk = repo().join("sdks/python");
    let python = sdk.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "sdks/python/.venv is missing: run scripts/setup"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("guide.py");
    std::fs::write(&file, program).unwrap();
    let out = run_in(
        env,
        python.to_str().unwrap(),
        &[file.to_str().unwrap()],
        &[("PYTHONPATH", sdk.join("src").to_string_lossy().into_owned())],
    );
    assert!(
        out.status.success(),
        "{rel}: the python blocks failed ({})\n--- program\n{program}--- stdout\n{}\n--- stderr\n{}\n--- server stderr (tail)\n{}",
        out.status,
        out.stdout,
        out.stderr,
        tail(&env.server.stderr(), 30)
    );
    if std::env::var_os("DOCS_SHOW_OUTPUT").is_some() {
        eprintln!("=== {rel} (python)\n{}{}", out.stdout, out.stderr);
    }
}

/// Serves an ```html browser block as the app's page in Chromium
/// (`tests/browser/popup.mjs`), its `/connect-session` answering with the auth URL of a
/// fresh connect session for `acct-77` whose opener is that page; clicks `#connect`
/// and checks the page says it connected, and that the connection exists.
async fn run_page(env: &DocsEnv, rel: &str, page: &Block) {
    let origin = format!("http://127.0.0.1:{}", env.app_port);
    let (status, v) = env
        .post(
            "/api/connect-sessions",
            serde_json::json!({
                "end_user": {"id": "u77"},
                "integrations": ["acme"],
                "connection_id": "acct-77",
                "opener_origin": origin,
            }),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let auth = env.server.url(&format!(
        "/api/integrations/acme/auth?session={}",
        v["token"].as_str().unwrap()
    ));
    let html = page
        .code
        .replace("https://switchboard.example.com", &env.server.base);
    let report = crate::browser::drive(&serde_json::json!({
        "app_port": env.app_port,
        "runs": [{"name": "doc", "auth_url": auth}],
        "opener_html": html,
        "app_json": {"/connect-session": {"url": auth, "token": v["token"]}},
        "popup_click": "section[data-integration=\"acme\"] a.button",
        // Until the popup closed and the page shows its result, however long a loaded
        // machine takes (the driver's own deadline bounds it).
        "opener_wait": "#result",
        "timeout_ms": 90000,
    }))
    .await;
    let run = &report["runs"][0];
    let text = run["opener_text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Connected: acct-77") && run["popup_closed"] == true,
        "{rel}:{}: the page did not report the connection\n{run:#}\n--- server stderr\n{}",
        page.line,
        tail(&env.server.stderr(), 30)
    );
    assert_eq!(
        run["page_errors"],
        serde_json::json!([]),
        "{rel}:{}: {run:#}",
        page.line
    );
    let c = env
        .server
        .get_json("/api/connections/acct-77", &env.key)
        .await;
    assert_eq!(c["status"], "active", "{c}");
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

macro_rules! doc_tests {
    ($($name:ident => $path:literal),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let ran = run_doc($path).await;
                assert!(ran.sh + ran.js + ran.ts + ran.python > 0, "{} has no block to run", $path);
            }
        )*
        /// Every doc file with a test above.
        const DOCS: &[&str] = &[$($path),*];
    };
}

doc_tests! {
    doc_runbook_availability => "docs/runbooks/availability.md",
    doc_runbook_token_refresh_failures => "docs/runbooks/token-refresh-failures.md",
    doc_runbook_signature_mismatch => "docs/runbooks/signature-mismatch.md",
    doc_runbook_rate_limits => "docs/runbooks/rate-limits.md",
    doc_runbook_destination_down => "docs/runbooks/destination-down.md",
    doc_runbook_dead_letters => "docs/runbooks/dead-letters.md",
    doc_runbook_master_key_rotation => "docs/runbooks/master-key-rotation.md",
    doc_runbook_leaked_api_key => "docs/runbooks/leaked-api-key.md",
    doc_runbook_emergency => "docs/runbooks/emergency.md",
    doc_guide_backend => "docs/guides/backend.md",
    doc_guide_frontend => "docs/guides/frontend.md",
}

#[test]
fn every_runbook_and_guide_has_a_doc_test_and_only_known_blocks() {
    let mut files = Vec::new();
    for dir in ["docs/runbooks", "docs/guides"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".md") && name != "README.md" {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    let mut listed: Vec<String> = DOCS.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "add the new doc to doc_tests! in docs.rs");

    let mut sh = 0;
    for f in &files {
        let text = std::fs::read_to_string(repo().join(f)).unwrap();
        for b in blocks(&text) {
            match b.lang.as_str() {
                "sh" => sh += 1,
                // Only languages the harness knows, so a typo does not hide a block.
                "js" | "jsx" | "ts" | "python" | "text" | "toml" | "json" | "yaml" | "html" => {}
                l if l.starts_with("rust") => {}
                other => panic!("{f}:{}: unknown block language {other:?}", b.line),
            }
            for t in &b.tags {
                let known = t == "output"
                    || t == "browser"
                    || t.starts_with("exit=")
                    || t.starts_with("no_run")
                    || t == "ignore";
                assert!(known, "{f}:{}: unknown tag {t:?}", b.line);
            }
        }
    }
    // The Rust examples are compiled as the client crate's doc tests: only in the
    // guide it includes, and never run (they need a server).
    let client_lib = std::fs::read_to_string(repo().join("crates/client/src/lib.rs")).unwrap();
    assert!(
        client_lib.contains(r#"#[doc = include_str!("../../../docs/guides/backend.md")]"#),
        "crates/client/src/lib.rs no longer includes docs/guides/backend.md"
    );
    for f in &files {
        let text = std::fs::read_to_string(repo().join(f)).unwrap();
        for b in blocks(&text).iter().filter(|b| b.lang.starts_with("rust")) {
            assert_eq!(
                f, "docs/guides/backend.md",
                "{f}:{}: a Rust example outside the guide the client crate compiles",
                b.line
            );
            assert_eq!(
                b.lang, "rust,no_run",
                "{f}:{}: mark Rust examples rust,no_run",
                b.line
            );
        }
    }
    assert!(sh >= 30, "only {sh} sh blocks in the runbooks and guides");
}

/// The Markdown headings of `text` as GitHub anchors, outside fenced blocks.
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for l in text.lines() {
        if l.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && let Some(h) = l.strip_prefix('#') {
            out.push(crate::deploy::anchor(h.trim_start_matches('#')));
        }
    }
    out
}

/// Every relative link of the runbooks, the guides and deploy/README.md leads to a file
/// that exists, and to a heading of it when it names one.
#[test]
fn relative_links_in_the_docs_lead_somewhere() {
    let mut docs = vec![repo().join("deploy/README.md")];
    for dir in ["docs/runbooks", "docs/guides"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "md") {
                docs.push(p);
            }
        }
    }
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = &rest[..end];
            rest = &rest[end..];
            if target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                continue;
            }
            let (file, frag) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            assert!(
                path.exists(),
                "{}: the link ({target}) leads nowhere",
                doc.display()
            );
            if !frag.is_empty() && path.extension().is_some_and(|x| x == "md") {
                let found = anchors(&std::fs::read_to_string(&path).unwrap());
                assert!(
                    found.iter().any(|a| a == frag),
                    "{}: ({target}): no heading #{frag} in {} ({found:?})",
                    doc.display(),
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} links");
}

/// A block that fails is reported with its file and line (the harness catches rot):
/// here a verb that does not exist, after one that works.
#[tokio::test]
#[should_panic(expected = "rotten.md:7: the block exited exit status: 2 (expected 0)")]
async fn a_failing_block_fails_the_test_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rotten.md");
    let text = "# Rotten\n\n```sh\nswitchboard destinations list\n```\n\n```sh\nswitchboard destinations show app\n```\n";
    std::fs::write(&path, text).unwrap();
    // An absolute path: joined to the repository's, it stays itself.
    run_doc(path.to_str().unwrap()).await;
}

#[test]
fn fenced_blocks_are_read_with_their_tags_and_outputs() {
    let md = "intro\n\n```sh exit=1\nfalse\n```\n\n```text output\nID  STATUS\n```\n\n  ```sh exit=2\n  switchboard status\n  ```\n```rust,no_run\nfn main() {}\n```\n";
    let b = blocks(md);
    assert_eq!(b.len(), 3, "{b:?}");
    assert_eq!(
        (b[0].lang.as_str(), b[0].line, b[0].expected_exit()),
        ("sh", 3, 1)
    );
    assert_eq!(b[0].output.as_deref(), Some("ID  STATUS\n"));
    assert_eq!(b[1].expected_exit(), 2);
    assert_eq!(b[1].code, "switchboard status\n");
    assert_eq!(b[2].lang, "rust,no_run");
    assert_eq!(
        key_words("ID  STATUS  evt_1a  delivered\n"),
        ["STATUS", "delivered"]
    );
}

/// For writing docs: starts the deployment the docs run against, writes its environment
/// to `$DOCS_SANDBOX_ENV` (default `/tmp/switchboard-docs-env.sh`: `. ` it, then `cd
/// "$SWITCHBOARD_DOCS_DIR"`) and keeps it up for `$DOCS_SANDBOX_SECS` (default 1800).
/// `cargo test -p switchboard --test it docs_sandbox -- --ignored` (nextest would stop it
/// at its slow-test timeout).
#[tokio::test]
#[ignore = "a sandbox for writing docs, not a test"]
async fn docs_sandbox() {
    let env = DocsEnv::start().await;
    let file = std::env::var("DOCS_SANDBOX_ENV")
        .unwrap_or_else(|_| "/tmp/switchboard-docs-env.sh".to_owned());
    let mut sh = String::new();
    for (k, v) in env.envs() {
        sh.push_str(&format!("export {k}='{v}'\n"));
    }
    sh.push_str(&format!(
        "export SWITCHBOARD_DOCS_DIR='{}'\n",
        env.path().display()
    ));
    std::fs::write(&file, sh).unwrap();
    let secs = std::env::var("DOCS_SANDBOX_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1800);
    eprintln!("docs sandbox up for {secs} s: . {file}");
    tokio::time::sleep(Duration::from_secs(secs)).await;
}
