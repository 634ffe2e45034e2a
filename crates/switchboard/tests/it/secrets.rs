//! `switchboard secrets check`: a fixture tree with one of each kind finds each exactly
//! once; ignored, binary and `.git/` files are skipped; configured secrets are found by
//! name and never printed; exit codes; the project's own tree is clean.
//!
//! Every secret-shaped string is drawn at run time and assembled by concatenation: the
//! scanner runs on this file too.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;

use crate::harness::{Output, master_key, run, sandbox};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_DIGITS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DIGITS: &[u8] = b"0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("random bytes");
    b
}

/// `n` random characters of `alphabet`.
fn draw(alphabet: &[u8], n: usize) -> String {
    random_bytes(n)
        .into_iter()
        .map(|b| alphabet[b as usize % alphabet.len()] as char)
        .collect()
}

fn write(root: &Path, rel: &str, content: impl AsRef<[u8]>) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// A fixture tree: each file holds one secret of one kind, plus the files that must be
/// skipped. Returns every secret value written (none may be printed) and what must be
/// found: kind → path.
struct Fixture {
    values: Vec<String>,
    expected: BTreeMap<String, String>,
    /// The environment the configuration's `env:` references read.
    envs: Vec<(&'static str, String)>,
}

fn fixture(dir: &Path) -> Fixture {
    let tree = dir.join("tree");
    let mut values = Vec::new();
    let mut expected = BTreeMap::new();
    let mut one = |kind: &str, rel: &str, value: String, text: String| {
        write(&tree, rel, text);
        values.push(value);
        assert!(
            expected.insert(kind.to_owned(), rel.to_owned()).is_none(),
            "{kind} twice"
        );
    };

    // Switchboard's own formats.
    let api_key = format!("sb_{}_{}", draw(LOWER_DIGITS, 12), draw(ALNUM, 40));
    one(
        "switchboard-api-key",
        "ops/curl.sh",
        api_key.clone(),
        format!("#!/bin/sh\ncurl -H \"Authorization: Bearer {api_key}\" $URL\n"),
    );
    let other_master = STANDARD.encode(random_bytes(32));
    one(
        "switchboard-master-key",
        "old/switchboard.toml",
        other_master.clone(),
        format!("# the old server\nmaster_key = \"{other_master}\"\n"),
    );
    let key_file = STANDARD.encode(random_bytes(32));
    one(
        "switchboard-master-key-file",
        "keys/prod.key",
        key_file.clone(),
        format!("{key_file}\n"),
    );

    // Well-known formats.
    let ghp = ["gh", "p_"].concat() + &draw(ALNUM, 36);
    one(
        "github-pat",
        ".env",
        ghp.clone(),
        format!("GITHUB_TOKEN={ghp}\n"),
    );
    for (kind, prefix, file) in [
        ("github-oauth-token", "gho_", "gh/oauth.json"),
        ("github-user-to-server-token", "ghu_", "gh/user.json"),
        ("github-server-to-server-token", "ghs_", "gh/install.json"),
        ("github-refresh-token", "ghr_", "gh/refresh.json"),
    ] {
        let t = format!("{prefix}{}", draw(ALNUM, 36));
        one(kind, file, t.clone(), format!("{{\"token\": \"{t}\"}}\n"));
    }
    let fine = ["github", "_pat_"].concat() + &draw(ALNUM, 22) + "_" + &draw(ALNUM, 59);
    one(
        "github-fine-grained-pat",
        "ci/env.yml",
        fine.clone(),
        format!("env:\n  GH_TOKEN: {fine}\n"),
    );
    let slack = format!(
        "{}-{}-{}-{}",
        ["xo", "xb"].concat(),
        draw(DIGITS, 11),
        draw(DIGITS, 12),
        draw(ALNUM, 24)
    );
    one(
        "slack-token",
        "bots/slack.py",
        slack.clone(),
        format!("SLACK = \"{slack}\"\n"),
    );
    let xapp = format!(
        "{}-1-A{}-{}-{}",
        ["xa", "pp"].concat(),
        draw(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10),
        draw(DIGITS, 13),
        draw(HEX, 64)
    );
    one(
        "slack-app-token",
        "bots/socket.py",
        xapp.clone(),
        format!("APP_TOKEN = '{xapp}'\n"),
    );
    let sk = ["sk_", "live_"].concat() + &draw(ALNUM, 24);
    one(
        "stripe-secret-key",
        "billing/stripe.rb",
        sk.clone(),
        format!("Stripe.api_key = '{sk}'\n"),
    );
    let rk = ["rk_", "test_"].concat() + &draw(ALNUM, 24);
    one(
        "stripe-restricted-key",
        "billing/reports.rb",
        rk.clone(),
        format!("KEY = '{rk}'\n"),
    );
    let whsec = ["wh", "sec_"].concat() + &STANDARD.encode(random_bytes(32));
    one(
        "webhook-signing-secret",
        "hooks/README.md",
        whsec.clone(),
        format!("Use `{whsec}` to verify.\n"),
    );
    let whsk = ["wh", "sk_"].concat() + &STANDARD.encode(random_bytes(32));
    one(
        "webhook-signing-key",
        "hooks/sign.toml",
        whsk.clone(),
        format!("signing_key = \"{whsk}\"\n"),
    );
    let aiza = ["AI", "za"].concat() + &draw(URLSAFE, 35);
    one(
        "google-api-key",
        "web/maps.js",
        aiza.clone(),
        format!("const key = \"{aiza}\";\n"),
    );
    let ya29 = ["ya", "29."].concat() + &draw(URLSAFE, 120);
    one(
        "google-oauth-access-token",
        "web/gapi.txt",
        ya29.clone(),
        format!("Authorization: Bearer {ya29}\n"),
    );
    let akia = ["AK", "IA"].concat() + &draw(BASE32, 16);
    one(
        "aws-access-key-id",
        "infra/aws.ini",
        akia.clone(),
        format!("[default]\naws_access_key_id = {akia}\n"),
    );
    let aws_secret = draw(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        40,
    );
    one(
        "aws-secret-access-key",
        "infra/aws.env",
        aws_secret.clone(),
        format!("AWS_SECRET_ACCESS_KEY={aws_secret}\n"),
    );
    let body = STANDARD.encode(random_bytes(192));
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    one(
        "private-key",
        "infra/id_rsa",
        lines[0].to_owned(),
        format!(
            "{}\n{}\n-----END RSA PRIVATE KEY-----\n",
            ["-----BEGIN RSA ", "PRIVATE KEY-----"].concat(),
            lines.join("\n")
        ),
    );
    let jwt = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"sub":"u42","exp":1900000000}"#),
        URL_SAFE_NO_PAD.encode(random_bytes(32))
    );
    one(
        "jwt",
        "logs/request.log",
        jwt.clone(),
        format!("GET /api 200 authorization=Bearer {jwt}\n"),
    );

    // The deployment's own secrets: a literal in its config file (found there), values
    // from env: and file: references (found where they leaked), and the master key
    // from the environment, which the master-key rule also matches: reported once, by
    // name.
    let client_secret = draw(ALNUM, 40);
    let hook_secret = draw(ALNUM, 32);
    let dest_secret = ["wh", "sec_"].concat() + &STANDARD.encode(random_bytes(24));
    let (master, _) = master_key();
    std::fs::write(dir.join("dest.secret"), format!("{dest_secret}\n")).unwrap();
    one(
        "configured-secret:integrations.github-main.client_secret",
        "deploy/switchboard.toml",
        client_secret.clone(),
        format!(
            "metrics_key = \"env:SB_METRICS_KEY\"\n\n[[integrations]]\nid = \"github-main\"\nprovider = \"github\"\nclient_id = \"Iv1.abc\"\n\
             client_secret = \"{client_secret}\"\nwebhook_secrets = [\"env:GH_HOOK_SECRET\"]\n\n\
             [[destinations]]\nid = \"app\"\nurl = \"https://app.example/hooks\"\n\
             secret = \"file:{}\"\nintegrations = [\"github-main\"]\n",
            dir.join("dest.secret").display()
        ),
    );
    one(
        "configured-secret:integrations.github-main.webhook_secrets[0]",
        "logs/debug.log",
        hook_secret.clone(),
        format!("2026-01-01 loaded secret {hook_secret} for github\n"),
    );
    one(
        "configured-secret:destinations.app.secret",
        "docs/app.md",
        dest_secret.clone(),
        format!("The app verifies with\n\n    {dest_secret}\n"),
    );
    let metrics_key = draw(ALNUM, 32);
    one(
        "configured-secret:metrics_key",
        "ops/prometheus.yml",
        metrics_key.clone(),
        format!(
            "scrape_configs:\n  - job_name: switchboard\n    authorization:\n      credentials: {metrics_key}\n"
        ),
    );
    one(
        "configured-secret:master_key",
        "ops/deploy.sh",
        master.clone(),
        format!("export SWITCHBOARD_MASTER_KEY={master}\n"),
    );

    // What must be skipped: ignored by .gitignore, by our own ignore file, binary, and
    // under .git/.
    let skipped = ["gh", "p_"].concat() + &draw(ALNUM, 36);
    values.push(skipped.clone());
    write(&tree, ".gitignore", "ignored.txt\nbuild/\n");
    write(&tree, ".switchboard-secrets-ignore", "vendor/\n");
    write(&tree, "ignored.txt", format!("{skipped}\n"));
    write(&tree, "build/out.js", format!("x=\"{skipped}\"\n"));
    write(&tree, "vendor/lib.txt", format!("{skipped}\n"));
    let mut blob = b"\x7fELF\x02\x01\x01\0\0\0".to_vec();
    blob.extend_from_slice(skipped.as_bytes());
    write(&tree, "bin/tool", blob);
    write(&tree, ".git/config", format!("token = {skipped}\n"));
    // And text that only looks like secrets.
    write(
        &tree,
        "docs/examples.md",
        format!(
            "{}\n{}\n{}\n{}\n",
            ["gh", "p_"].concat() + &"x".repeat(36),
            ["sk_", "test_your_key_here"].concat(),
            ["AKIA", "IOSFODNN7", "EXAMPLE"].concat(),
            [
                "sb_",
                "abcdefghijkl_",
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
            ]
            .concat(),
        ),
    );

    Fixture {
        values,
        expected,
        envs: vec![
            ("GH_HOOK_SECRET", hook_secret),
            ("SWITCHBOARD_MASTER_KEY", master),
            ("SB_METRICS_KEY", metrics_key),
        ],
    }
}

fn check(dir: &Path, args: &[&str], envs: &[(&str, String)]) -> Output {
    let mut all = vec!["secrets", "check"];
    all.extend_from_slice(args);
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(dir, &all, &envs)
}

#[track_caller]
fn never_printed(out: &Output, values: &[String]) {
    for v in values {
        assert!(
            !out.stdout.contains(v.as_str()) && !out.stderr.contains(v.as_str()),
            "a secret value was printed by `{}`",
            out.what
        );
    }
}

fn found(report: &Value) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in report["findings"].as_array().unwrap() {
        m.entry(f["kind"].as_str().unwrap().to_owned())
            .or_default()
            .push(f["path"].as_str().unwrap().to_owned());
    }
    m
}

#[test]
fn a_tree_with_one_of_each_kind_finds_each_exactly_once() {
    let dir = sandbox();
    let fx = fixture(dir.path());
    let out = check(
        dir.path(),
        &["--json", "--config", "tree/deploy/switchboard.toml", "tree"],
        &fx.envs,
    );
    out.exit_code(1);
    never_printed(&out, &fx.values);
    let report = out.json();
    let got = found(&report);
    let want: BTreeMap<String, Vec<String>> = fx
        .expected
        .iter()
        .map(|(k, p)| (k.clone(), vec![format!("tree/{p}")]))
        .collect();
    assert_eq!(got, want, "{report:#}");
    // Every rule of the built-in file has a fixture here.
    let rules = report["rules"].as_u64().unwrap() as usize;
    let rule_kinds = want
        .keys()
        .filter(|k| !k.starts_with("configured-secret:"))
        .count();
    assert_eq!(rule_kinds, rules);

    // The shape scripts read.
    assert_eq!(report["ok"], false);
    let f = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "github-pat")
        .unwrap();
    let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["column", "description", "kind", "line", "path", "rule"]
    );
    assert_eq!(
        (f["path"].as_str(), f["line"].as_u64(), f["column"].as_u64()),
        (Some("tree/.env"), Some(1), Some(14))
    );
    let c = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "configured-secret:integrations.github-main.webhook_secrets[0]")
        .unwrap();
    assert_eq!(c["rule"], "configured-secret");
    assert_eq!(
        (c["line"].as_u64(), c["column"].as_u64()),
        (Some(1), Some(26))
    );
    // Skipped: the binary file (ignored files are not walked at all, .git is not entered).
    assert_eq!(report["skipped"]["binary"], 1, "{report:#}");
    assert_eq!(report["skipped"]["max_file_size"], 10 * 1024 * 1024);
    assert!(report["files_scanned"].as_u64().unwrap() >= fx.expected.len() as u64);
    assert!(report["bytes_scanned"].as_u64().unwrap() > 0);
    assert!(report["elapsed_ms"].is_u64());
    assert_eq!(report["unreadable"], serde_json::json!([]));
    assert_eq!(report["config_file"], "tree/deploy/switchboard.toml");
    let names: Vec<&str> = report["configured_secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len(), "each name once: {names:?}");
    for n in [
        "master_key",
        "metrics_key",
        "integrations.github-main.client_secret",
        "integrations.github-main.webhook_secrets[0]",
        "destinations.app.secret",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
}

#[test]
fn people_get_a_table_and_a_summary_without_values() {
    let dir = sandbox();
    let fx = fixture(dir.path());
    let out = check(
        dir.path(),
        &["--config", "tree/deploy/switchboard.toml", "tree"],
        &fx.envs,
    );
    out.exit_code(1);
    never_printed(&out, &fx.values);
    let first = out.stdout.lines().next().unwrap();
    for h in ["FILE", "LINE", "COL", "KIND", "WHAT"] {
        assert!(first.contains(h), "{first}");
    }
    assert!(out.stdout.contains("tree/.env"), "{}", out.stdout);
    assert!(
        out.stdout.contains("configured-secret:master_key"),
        "{}",
        out.stdout
    );
    let n = fx.expected.len();
    assert!(
        out.stdout.contains(&format!("{n} findings in ")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("skipped 1 binary"), "{}", out.stdout);
}

#[test]
fn ignore_files_are_honoured_unless_told_otherwise() {
    let dir = sandbox();
    let fx = fixture(dir.path());
    let out = check(
        dir.path(),
        &["--json", "--no-config", "--no-ignore", "tree"],
        &[],
    );
    out.exit_code(1);
    never_printed(&out, &fx.values);
    let got = found(&out.json());
    let mut pats = got["github-pat"].clone();
    pats.sort();
    // .git/ stays skipped; the binary file too.
    assert_eq!(
        pats,
        [
            "tree/.env",
            "tree/build/out.js",
            "tree/ignored.txt",
            "tree/vendor/lib.txt"
        ]
    );
}

#[test]
fn a_clean_tree_exits_0_and_a_file_given_is_scanned_even_if_ignored() {
    let dir = sandbox();
    write(dir.path(), "clean/a.txt", "nothing to see\n");
    write(dir.path(), "clean/.gitignore", "b.txt\n");
    let token = ["gh", "p_"].concat() + &draw(ALNUM, 36);
    write(dir.path(), "clean/b.txt", format!("{token}\n"));
    let out = check(dir.path(), &["--json", "clean"], &[]);
    out.success();
    let r = out.json();
    assert_eq!(r["ok"], true);
    assert_eq!(r["findings"], serde_json::json!([]));
    assert_eq!(r["files_scanned"], 2, "{r:#}");
    // Named on the command line, an ignored file is scanned.
    let out = check(dir.path(), &["--json", "clean/b.txt"], &[]);
    out.exit_code(1);
    never_printed(&out, &[token]);
    // The default path is the current folder.
    let out = check(&dir.path().join("clean"), &["--json"], &[]);
    out.success();
}

#[test]
fn an_unreadable_path_is_an_error() {
    let dir = sandbox();
    let out = check(dir.path(), &["--json", "no/such/place"], &[]);
    out.exit_code(2);
    let v = out.json();
    assert_eq!(v["error"]["code"], "unreadable_file");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no/such/place")
    );
    let out = check(dir.path(), &["no/such/place"], &[]);
    out.exit_code(2)
        .stderr_has(&["error: ", "cannot read no/such/place"]);
    assert!(out.stdout.is_empty());
    // Neither a file nor a folder: refused, never opened (a pipe would block).
    let out = check(dir.path(), &["--json", "/dev/null"], &[]);
    out.exit_code(2);
    let v = out.json();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a file or a folder"),
        "{v}"
    );
}

#[test]
fn a_config_that_does_not_load_is_an_error_and_no_config_skips_it() {
    let dir = sandbox();
    write(dir.path(), "tree/a.txt", "hello\n");
    write(
        dir.path(),
        "bad.toml",
        "[[integrations]]\nid = \"x\"\nprovider = \"github\"\nwebhook_secrets = [\"env:NOT_SET_ANYWHERE\"]\n",
    );
    let out = check(dir.path(), &["--json", "--config", "bad.toml", "tree"], &[]);
    out.exit_code(2);
    let v = out.json();
    assert_eq!(v["error"]["code"], "invalid_config", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("NOT_SET_ANYWHERE")
    );
    let out = check(
        dir.path(),
        &["--json", "--config", "missing.toml", "tree"],
        &[],
    );
    out.exit_code(2);
    // --no-config: formats only.
    write(dir.path(), "switchboard.toml", "this is not toml [\n");
    check(dir.path(), &["--no-config", "tree"], &[]).success();
    // Even when the environment names a configuration.
    let bad = [("SWITCHBOARD_CONFIG", "bad.toml".to_owned())];
    check(dir.path(), &["--no-config", "tree"], &bad).success();
    check(dir.path(), &["tree"], &bad).exit_code(2);
    check(dir.path(), &["tree"], &[]).exit_code(2);
}

#[test]
fn extra_rules_add_formats_and_bad_ones_are_errors() {
    let dir = sandbox();
    let token = format!("acme_{}", draw(LOWER_DIGITS, 24));
    write(dir.path(), "tree/a.txt", format!("ACME={token}\n"));
    write(
        dir.path(),
        "acme.toml",
        "[[rules]]\nid = \"acme-token\"\ndescription = \"Acme token\"\n\
         regex = '''\\bacme_(?P<secret>[a-z0-9]{24})\\b'''\nkeywords = [\"acme_\"]\n\
         entropy = 3.0\nsource = \"Acme's API docs\"\n",
    );
    let out = check(
        dir.path(),
        &["--json", "--no-config", "--rules", "acme.toml", "tree"],
        &[],
    );
    out.exit_code(1);
    never_printed(&out, std::slice::from_ref(&token));
    assert_eq!(found(&out.json())["acme-token"], ["tree/a.txt"]);

    write(
        dir.path(),
        "bad.toml",
        "[[rules]]\nid = \"x\"\ndescription = \"d\"\nsource = \"s\"\nregex = '(' \n",
    );
    let out = check(
        dir.path(),
        &["--json", "--no-config", "--rules", "bad.toml", "tree"],
        &[],
    );
    out.exit_code(2);
    let v = out.json();
    assert_eq!(v["error"]["code"], "invalid_rules");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("bad.toml"),
        "{v}"
    );
    let out = check(
        dir.path(),
        &["--json", "--no-config", "--rules", "nope.toml", "tree"],
        &[],
    );
    out.exit_code(2);
    assert_eq!(out.json()["error"]["code"], "unreadable_file");
}

#[test]
fn large_files_are_skipped_and_counted() {
    let dir = sandbox();
    let token = ["gh", "p_"].concat() + &draw(ALNUM, 36);
    write(
        dir.path(),
        "tree/big.txt",
        format!("{}{token}\n", "a ".repeat(600)),
    );
    let out = check(
        dir.path(),
        &["--json", "--no-config", "--max-file-size", "1000", "tree"],
        &[],
    );
    out.success();
    let r = out.json();
    assert_eq!(r["skipped"]["too_large"], 1);
    assert_eq!(r["skipped"]["max_file_size"], 1000);
}

#[test]
fn the_projects_own_tree_finds_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap();
    let dir = sandbox();
    let out = check(dir.path(), &["--json", root.to_str().unwrap()], &[]);
    let r = out.json();
    assert_eq!(
        r["findings"],
        serde_json::json!([]),
        "the repository has findings; fix the fixture (build it at run time) or mark the line with switchboard:allow-secret:\n{r:#}"
    );
    out.success();
    assert!(r["files_scanned"].as_u64().unwrap() > 100, "{r:#}");
}
