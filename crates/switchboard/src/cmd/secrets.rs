//! `switchboard secrets check [PATH…]`: find leaked secrets in files and folders,
//! offline. The walk (ripgrep's `ignore` walker: parallel, `.gitignore` and `.ignore`
//! honoured, hidden files scanned, `.git/` skipped) and the reading are here; what is in
//! a file is the `scan` crate's to say. Findings name the file, line, column and kind,
//! never the value.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::Subcommand;
use ignore::{WalkBuilder, WalkState};
use scan::{Added, ConfiguredSecrets, Rules, Scanner};
use serde::Serialize;
use vault::{ExposeSecret, MasterKey, SecretString};

use super::Globals;
use crate::exit::{CliError, Outcome};
use crate::local;
use crate::output::{print_json, print_table};

/// Files larger than this are skipped unless `--max-file-size` says otherwise.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;

/// Our own ignore file (gitignore syntax): paths listed in it are not scanned.
pub const IGNORE_FILE: &str = ".switchboard-secrets-ignore";

/// `switchboard secrets …`
#[derive(Debug, Subcommand)]
pub enum SecretsCmd {
    /// Scan files and folders for leaked secrets: Switchboard API and master keys, this
    /// deployment's own configured secrets (found by name, never printed), and
    /// well-known token formats. Exit 1 when anything is found.
    Check(CheckArgs),
}

/// `switchboard secrets check` arguments.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Files and folders to scan (default: the current folder).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// More rules (TOML, the shape of the built-in rules.toml); a rule with a built-in
    /// id replaces it. May be given more than once.
    #[arg(long, value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// Do not load any configuration (not even one --config or SWITCHBOARD_CONFIG
    /// names): look for the rules' formats only.
    #[arg(long)]
    no_config: bool,
    /// Also scan what .gitignore, .ignore and .switchboard-secrets-ignore exclude.
    #[arg(long)]
    no_ignore: bool,
    /// Skip files larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FILE_SIZE)]
    max_file_size: u64,
}

/// `switchboard secrets …`
pub async fn run(cmd: SecretsCmd, g: &Globals) -> anyhow::Result<Outcome> {
    match cmd {
        SecretsCmd::Check(args) => check(args, g),
    }
}

/// One finding as printed: where and what kind, never the value.
#[derive(Debug, Serialize)]
struct Found {
    path: String,
    line: usize,
    column: usize,
    rule: String,
    kind: String,
    description: String,
}

/// A file that could not be read during the walk.
#[derive(Debug, Serialize)]
struct Unreadable {
    path: String,
    error: String,
}

/// What was skipped.
#[derive(Debug, Serialize)]
struct Skipped {
    binary: u64,
    too_large: u64,
    max_file_size: u64,
}

/// The report (`--json`).
#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    findings: Vec<Found>,
    files_scanned: u64,
    bytes_scanned: u64,
    elapsed_ms: u64,
    skipped: Skipped,
    unreadable: Vec<Unreadable>,
    rules: usize,
    config_file: Option<String>,
    configured_secrets: Vec<String>,
}

/// `switchboard secrets check`
fn check(args: CheckArgs, g: &Globals) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    // Every path given must be there and readable: a typo is an error, not a clean scan.
    for p in &paths {
        std::fs::metadata(p)
            .and_then(|m| {
                if m.is_dir() {
                    std::fs::read_dir(p).map(drop)
                } else if m.is_file() {
                    std::fs::File::open(p).map(drop)
                } else {
                    // A pipe or a device: opening one may block, and it holds no file.
                    Err(std::io::Error::other("not a file or a folder"))
                }
            })
            .map_err(|e| {
                CliError::new(
                    "unreadable_file",
                    format!(
                        "cannot read {}: {e}; give files or folders that exist and that this user may read",
                        p.display()
                    ),
                )
            })?;
    }

    let mut rules = Rules::builtin().context("built-in rules")?;
    for file in &args.rules {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read rule file {}", file.display()))?;
        rules
            .add_file(&text, &file.display().to_string())
            .map_err(|e| CliError::new("invalid_rules", e.to_string()))?;
    }

    let (secrets, config_file) = if args.no_config {
        (ConfiguredSecrets::new(), None)
    } else {
        let cfg = local::load_config(g.config_path(), &config::Overrides::default())?;
        let file = cfg.file.as_ref().map(|p| p.display().to_string());
        (configured_secrets(&cfg), file)
    };
    let configured: Vec<String> = secrets.names().into_iter().map(str::to_owned).collect();
    let n_rules = rules.len();
    let scanner = Scanner::new(rules, &secrets).context("building the scanner")?;

    let walk = walk(&scanner, &paths, &args);
    let mut findings = walk
        .findings
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    findings.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    let mut unreadable = walk
        .unreadable
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    unreadable.sort_by(|a, b| a.path.cmp(&b.path));
    let report = Report {
        ok: findings.is_empty() && unreadable.is_empty(),
        findings,
        files_scanned: walk.files.into_inner(),
        bytes_scanned: walk.bytes.into_inner(),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        skipped: Skipped {
            binary: walk.binary.into_inner(),
            too_large: walk.too_large.into_inner(),
            max_file_size: args.max_file_size,
        },
        unreadable,
        rules: n_rules,
        config_file,
        configured_secrets: configured,
    };
    if g.json {
        print_json(&report)?;
    } else {
        print_human(&report, started.elapsed().as_secs_f64());
    }
    Ok(Outcome::from_ok(report.ok))
}

fn print_human(r: &Report, secs: f64) {
    if !r.findings.is_empty() {
        let rows: Vec<Vec<String>> = r
            .findings
            .iter()
            .map(|f| {
                vec![
                    f.path.clone(),
                    f.line.to_string(),
                    f.column.to_string(),
                    f.kind.clone(),
                    f.description.clone(),
                ]
            })
            .collect();
        print_table(&["file", "line", "col", "kind", "what"], &rows);
        println!();
    }
    for u in &r.unreadable {
        eprintln!("warning: cannot read {}: {}", u.path, u.error);
    }
    let secrets = match (&r.config_file, r.configured_secrets.len()) {
        (_, 0) => String::new(),
        (Some(f), n) => format!(", {n} configured secrets from {f}"),
        (None, n) => format!(", {n} configured secrets"),
    };
    println!(
        "{} finding{} in {} files ({:.1} MB) in {secs:.2} s; {} rules{secrets}; skipped {} binary, {} over {} bytes{}",
        r.findings.len(),
        if r.findings.len() == 1 { "" } else { "s" },
        r.files_scanned,
        r.bytes_scanned as f64 / 1e6,
        r.rules,
        r.skipped.binary,
        r.skipped.too_large,
        r.skipped.max_file_size,
        if r.unreadable.is_empty() {
            String::new()
        } else {
            format!("; {} could not be read", r.unreadable.len())
        },
    );
}

/// What the walk gathered, from every thread.
#[derive(Debug, Default)]
struct Walked {
    findings: Mutex<Vec<Found>>,
    unreadable: Mutex<Vec<Unreadable>>,
    files: AtomicU64,
    bytes: AtomicU64,
    binary: AtomicU64,
    too_large: AtomicU64,
}

/// A path as printed: without a leading `./`.
fn shown(p: &Path) -> String {
    let p = p.strip_prefix(".").unwrap_or(p);
    p.to_string_lossy().into_owned()
}

fn walk(scanner: &Scanner<'_>, paths: &[PathBuf], args: &CheckArgs) -> Walked {
    let mut b = WalkBuilder::new(&paths[0]);
    for p in &paths[1..] {
        b.add(p);
    }
    let honour = !args.no_ignore;
    // The tree's own ignore files only, not the user's global excludes file: the same
    // tree gives the same findings on every machine (and a personal global ignore of
    // `.env` must not hide one).
    b.hidden(false)
        .git_ignore(honour)
        .git_exclude(honour)
        .git_global(false)
        .ignore(honour)
        .parents(honour)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|e| e.file_name() != ".git");
    if honour {
        b.add_custom_ignore_filename(IGNORE_FILE);
    }
    let out = Walked::default();
    let max = args.max_file_size;
    b.build_parallel().run(|| {
        let out = &out;
        let mut buf = Vec::new();
        Box::new(move |entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = match &e {
                        ignore::Error::WithPath { path, .. } => shown(path),
                        _ => String::new(),
                    };
                    push(
                        &out.unreadable,
                        Unreadable {
                            path,
                            error: e.to_string(),
                        },
                    );
                    return WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            let path = entry.path();
            match read(path, max, &mut buf) {
                Ok(Got::TooLarge) => {
                    out.too_large.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Got::Binary) => {
                    out.binary.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Got::Text) => {
                    out.files.fetch_add(1, Ordering::Relaxed);
                    out.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
                    let found = scanner.scan(&buf);
                    if !found.is_empty() {
                        let p = shown(path);
                        let mut all = out.findings.lock().unwrap_or_else(|e| e.into_inner());
                        all.extend(found.into_iter().map(|f| Found {
                            path: p.clone(),
                            line: f.line,
                            column: f.column,
                            rule: f.rule,
                            kind: f.kind,
                            description: f.description,
                        }));
                    }
                }
                Err(e) => push(
                    &out.unreadable,
                    Unreadable {
                        path: shown(path),
                        error: e.to_string(),
                    },
                ),
            }
            WalkState::Continue
        })
    });
    out
}

fn push<T>(v: &Mutex<Vec<T>>, item: T) {
    v.lock().unwrap_or_else(|e| e.into_inner()).push(item);
}

/// What reading a file gave.
enum Got {
    /// Its text is in the buffer.
    Text,
    /// A NUL byte in its first 8 KiB.
    Binary,
    /// Over the size limit.
    TooLarge,
}

fn read(path: &Path, max: u64, buf: &mut Vec<u8>) -> std::io::Result<Got> {
    buf.clear();
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    if len > max {
        return Ok(Got::TooLarge);
    }
    // The file may grow while it is read: never read more than the limit allows.
    let mut rest = f.take(max.saturating_add(1));
    // A binary file is known by its head; the rest of it is never read.
    (&mut rest)
        .take(scan::BINARY_SNIFF_BYTES as u64)
        .read_to_end(buf)?;
    if scan::looks_binary(buf) {
        return Ok(Got::Binary);
    }
    buf.reserve(usize::try_from(len).unwrap_or(0).saturating_sub(buf.len()));
    rest.read_to_end(buf)?;
    if buf.len() as u64 > max {
        return Ok(Got::TooLarge);
    }
    Ok(Got::Text)
}

/// Every secret value the configuration resolves, by the name of its key. Values from
/// `env:` and `file:` references count: finding them in files is the point.
fn configured_secrets(cfg: &config::Config) -> ConfiguredSecrets {
    let mut s = ConfiguredSecrets::new();
    let mut add = |name: String, value: &SecretString| match s.add(name.clone(), value.clone()) {
        Added::TooShort => eprintln!(
            "warning: {name} is shorter than {} characters: not searched for",
            scan::MIN_SECRET_LEN
        ),
        Added::Searched | Added::SameAs(_) => {}
    };
    let mut master = |name: String, text: &SecretString| {
        add(name.clone(), text);
        // The same key in its other base64 spellings (standard or URL-safe, without
        // padding, which also finds the padded ones).
        if let Ok(key) = MasterKey::from_base64(text.expose_secret()) {
            let standard = key.to_base64();
            let bare = standard.expose_secret().trim_end_matches('=');
            let url = bare.replace('+', "-").replace('/', "_");
            for v in [bare.to_owned(), url] {
                add(name.clone(), &SecretString::from(v));
            }
        }
    };
    if let Some(k) = &cfg.master_key {
        master("master_key".into(), k);
    } else if let Ok(text) = std::fs::read_to_string(&cfg.dev_key_file) {
        // No configured key: the development key file is the key in use.
        let text = SecretString::from(text.trim().to_owned());
        if MasterKey::from_base64(text.expose_secret()).is_ok() {
            master("dev_key_file".into(), &text);
        }
    }
    for (i, k) in cfg.old_master_keys.iter().enumerate() {
        master(format!("old_master_keys[{i}]"), k);
    }
    if let Some(p) = database_password(&cfg.database_url) {
        add("database_url.password".into(), &p);
    }
    if let Some(k) = &cfg.metrics_key {
        add("metrics_key".into(), k);
    }
    for it in &cfg.integrations {
        if let Some(v) = &it.client_secret {
            add(format!("integrations.{}.client_secret", it.id), v);
        }
        for (i, v) in it.webhook_secrets.iter().enumerate() {
            add(format!("integrations.{}.webhook_secrets[{i}]", it.id), v);
        }
    }
    for d in &cfg.destinations {
        if let Some(v) = &d.secret {
            add(format!("destinations.{}.secret", d.id), v);
        }
        if let Some(v) = &d.signing_key {
            add(format!("destinations.{}.signing_key", d.id), v);
        }
    }
    s
}

/// The password in a `postgres://user:password@host/db` URL, as written.
fn database_password(url: &str) -> Option<SecretString> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| SecretString::from(password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_password_is_read_from_the_url() {
        let p = |u: &str| database_password(u).map(|s| s.expose_secret().to_owned());
        assert_eq!(p("postgres://sb:pa:ss@db:5432/x").as_deref(), Some("pa:ss"));
        assert_eq!(
            p("postgresql://sb:pw@db/x?sslmode=require").as_deref(),
            Some("pw")
        );
        assert_eq!(p("postgres://sb@db/x"), None);
        assert_eq!(p("postgres://db/x"), None);
        assert_eq!(p("sqlite://switchboard.db"), None);
    }

    #[test]
    fn paths_are_shown_without_a_leading_dot() {
        assert_eq!(shown(Path::new("./a/b")), "a/b");
        assert_eq!(shown(Path::new("/x/y")), "/x/y");
        assert_eq!(shown(Path::new("a")), "a");
    }
}
