//! `switchboard security audit`: how safely this deployment is set up, from its
//! configuration, its files and its database, offline. The engine makes the findings
//! that need only the configuration and the store ([`engine::security`]); this module
//! adds those about files on this machine (permissions, secrets written literally in
//! the config file, the development key file) and prints them all. Exit 1 on any high
//! finding; 2 when the configuration or the database cannot be read. Nothing is
//! written: the database is opened but never migrated.

use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;
use engine::Engine;
use engine::security::{Finding, Severity};
use serde::Serialize;
use store::Store;
use store::transfer::SchemaGap;
use vault::{ExposeSecret, Keyring, MasterKey};

use super::Globals;
use crate::exit::{CliError, Outcome};
use crate::local::{self, Backend, DbArgs};
use crate::output::print_json;

/// `switchboard security …`
#[derive(Debug, Subcommand)]
pub enum SecurityCmd {
    /// Check the configuration, its files and the database for weak settings; exits 1
    /// on any high finding.
    Audit {
        /// Audit as for `serve --dev`: http:// and loopback addresses are expected, and
        /// the development key is only worth knowing.
        #[arg(long)]
        dev: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Report {
    /// No high finding.
    ok: bool,
    /// Findings per severity.
    counts: Counts,
    /// Most severe first.
    findings: Vec<Finding>,
}

#[derive(Debug, Default, Serialize)]
struct Counts {
    high: usize,
    medium: usize,
    low: usize,
    info: usize,
}

/// `switchboard security …`
pub async fn run(cmd: SecurityCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let SecurityCmd::Audit { dev, db } = cmd;
    let cfg = local::load_config(g.config_path(), &db.overrides())?;
    let mut findings = file_findings(&cfg, dev)?;
    let (keyring, key_known) = keyring(&cfg)?;
    let store = open_store(&cfg).await?;
    // The most permissive catalog: what a production start would refuse is reported,
    // not an error.
    let catalog = local::catalog_of(&cfg, true)?;
    let engine = Engine::new(store.clone(), keyring, cfg)
        .with_catalog(catalog)
        .with_dev(dev);
    let from_engine = engine.security_findings().await;
    store.close().await;
    findings.extend(
        from_engine?
            .into_iter()
            // Without any key, nothing sealed can be judged against it.
            .filter(|f| key_known || !matches!(f.code, "SB-KEY-005" | "SB-KEY-006")),
    );
    engine::security::sort(&mut findings);
    let mut counts = Counts::default();
    for f in &findings {
        match f.severity {
            Severity::High => counts.high += 1,
            Severity::Medium => counts.medium += 1,
            Severity::Low => counts.low += 1,
            Severity::Info => counts.info += 1,
        }
    }
    let ok = counts.high == 0;
    if g.json {
        print_json(&Report {
            ok,
            counts,
            findings,
        })?;
    } else {
        print_findings(&findings, &counts);
    }
    Ok(Outcome::from_ok(ok))
}

/// The key ring to judge sealed values by: the configured keys, or the development key
/// file (read whatever its mode, which is a finding of its own, not an error); `false`
/// when there is no key at all (a throwaway one stands in).
fn keyring(cfg: &config::Config) -> anyhow::Result<(Keyring, bool)> {
    let (primary, old) = crate::master_key::configured_keys(cfg)?;
    if let Some(primary) = primary {
        return Ok((Keyring::new(primary, old), true));
    }
    if cfg.dev_key_file.is_file() {
        let key = crate::master_key::read_dev_key_file(&cfg.dev_key_file)?;
        return Ok((Keyring::new(key, old), true));
    }
    Ok((Keyring::new(MasterKey::generate()?, old), false))
}

/// Opens the database `database_url` names without creating or migrating it: a SQLite
/// file must exist and be a SQLite database, and the schema must be this build's.
async fn open_store(cfg: &config::Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = &cfg.database_url;
    let shown = local::shown_url(url);
    if Backend::of(url) == Some(Backend::Sqlite)
        && let Some(path) = super::db::sqlite_file(url)
    {
        if !path.is_file() {
            return Err(CliError::new(
                "not_found",
                format!(
                    "there is no database file at {} (database_url); check the setting, or create it with `switchboard migrate`",
                    path.display()
                ),
            )
            .into());
        }
        // The header says whether this is a SQLite database (the magic string) in WAL
        // mode (bytes 18 and 19 are 2), as every Switchboard database is: anything else
        // is refused before opening it, since opening sets WAL mode, which would change
        // the file.
        let mut header = [0u8; 20];
        let read = std::fs::File::open(&path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
            .map(|()| {
                (
                    &header[..16] == b"SQLite format 3\0",
                    header[18] == 2 && header[19] == 2,
                )
            });
        let problem = match read {
            Ok((true, true)) => None,
            Ok((true, false)) => Some(
                "is a SQLite database but not a Switchboard one (it is not in WAL mode); check database_url",
            ),
            Ok((false, _)) | Err(_) => {
                Some("is not a SQLite database, or cannot be read; check database_url and the file")
            }
        };
        if let Some(problem) = problem {
            return Err(CliError::new("database", format!("{} {problem}", path.display())).into());
        }
    }
    let store = local::store_for(url, &local::pg_settings(cfg))
        .await
        .with_context(|| format!("cannot open the database that database_url names ({shown})"))?;
    let version = store
        .transfer()
        .schema_version()
        .await
        .with_context(|| format!("reading which migrations {shown} has applied"))?;
    if let Some(gap) = version.gap() {
        let message = match gap {
            SchemaGap::Newer(_) => {
                format!("{shown} was migrated by a newer switchboard; audit it with that version")
            }
            SchemaGap::Unmigrated => format!(
                "{shown} has no Switchboard schema; check database_url, or run `switchboard migrate`"
            ),
            SchemaGap::Behind { applied, known } => format!(
                "{shown} is not fully migrated ({applied} of {known} migrations); run `switchboard migrate` first"
            ),
        };
        store.close().await;
        return Err(CliError::new("schema_mismatch", message).into());
    }
    Ok(store)
}

/// Whether a secret value is a reference (`env:NAME`, `file:PATH`) rather than the
/// secret itself.
fn is_reference(v: &str) -> bool {
    v.starts_with("env:") || v.starts_with("file:")
}

/// The config file as a TOML table, when the configuration came from one.
fn raw_file(cfg: &config::Config) -> anyhow::Result<Option<toml::Table>> {
    let Some(path) = &cfg.file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    // It parsed as a configuration a moment ago.
    Ok(toml::from_str(&text).ok())
}

/// The values of a top-level secret key as written where its value came from (the
/// file or the environment), before `env:`/`file:` were resolved.
fn written(cfg: &config::Config, raw: Option<&toml::Table>, key: &str) -> Vec<(String, bool)> {
    match cfg.sources.get(key) {
        Some(config::Source::Env(var)) => std::env::var(var)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| (s.to_owned(), false))
                    .collect()
            })
            .unwrap_or_default(),
        Some(config::Source::File(_)) => match raw.and_then(|t| t.get(key)) {
            Some(toml::Value::String(s)) => vec![(s.clone(), true)],
            Some(toml::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(|s| (s.to_owned(), true)))
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Group/other permission bits of `path`, if it exists.
fn loose_mode(path: &Path) -> Option<u32> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

/// The findings about files: literal secrets in the config file, key and database file
/// permissions, the development key.
fn file_findings(cfg: &config::Config, dev: bool) -> anyhow::Result<Vec<Finding>> {
    let mut out = Vec::new();
    let raw = raw_file(cfg)?;
    let raw = raw.as_ref();
    let config_name = cfg
        .file
        .as_deref()
        .map_or_else(|| "the config file".to_owned(), |p| p.display().to_string());

    // Master keys: written literally in the file, or in files others can read.
    let mut key_files: Vec<PathBuf> = Vec::new();
    for key in ["master_key", "old_master_keys"] {
        for (i, (value, in_file)) in written(cfg, raw, key).into_iter().enumerate() {
            let name = if key == "master_key" {
                key.to_owned()
            } else {
                format!("{key}[{i}]")
            };
            if let Some(path) = value.strip_prefix("file:") {
                key_files.push(PathBuf::from(path));
            } else if in_file && !is_reference(&value) {
                out.push(
                    Finding::new(
                        "SB-KEY-001",
                        format!("{name} is written literally in {config_name}: anyone who can read the file, its backups or its history holds the key to every secret"),
                        format!("move the key out of the file: put it in a file only switchboard reads (`chmod 600`) and write {name} = \"file:/path/to/key\", or give it as an environment variable and write \"env:NAME\"; then rotate it (`switchboard keys generate`, the old key in old_master_keys, `switchboard keys rotate`), since the file has held it"),
                    )
                    .subject(format!("config:{name}")),
                );
            }
        }
    }
    let dev_key_in_use = cfg.master_key.is_none();
    if cfg.dev_key_file.is_file() {
        key_files.push(cfg.dev_key_file.clone());
    }
    key_files.dedup();
    for path in &key_files {
        if let Some(mode) = loose_mode(path) {
            out.push(
                Finding::new(
                    "SB-KEY-002",
                    format!(
                        "the master key file {} can be read by other users (mode {mode:o})",
                        path.display()
                    ),
                    format!("chmod 600 {}", path.display()),
                )
                .subject(format!("file:{}", path.display())),
            );
        }
    }

    // The development key.
    if let Ok(dev_key) = crate::master_key::read_dev_key_file(&cfg.dev_key_file)
        && let Some(k) = &cfg.master_key
        && MasterKey::from_base64(k.expose_secret()).is_ok_and(|m| m.id() == dev_key.id())
    {
        out.push(
            Finding::new(
                "SB-KEY-003",
                format!("the configured master_key is the development key of {} (made by `serve --dev`, kept beside the data)", cfg.dev_key_file.display()),
                "make a real key with `switchboard keys generate`, set it as master_key (env: or file:), put the development key in old_master_keys, run `switchboard keys rotate`, then delete the development key file",
            )
            .subject(format!("file:{}", cfg.dev_key_file.display())),
        );
    }
    if dev_key_in_use {
        let f = Finding::new(
            "SB-KEY-004",
            format!(
                "no master_key is configured: `serve` starts only with --dev, which encrypts with the development key file {}",
                cfg.dev_key_file.display()
            ),
            "for production: `switchboard keys generate`, set SWITCHBOARD_MASTER_KEY (or master_key = \"file:/path\") to it, list the development key in old_master_keys, run `switchboard keys rotate`, and serve without --dev",
        )
        .subject("config:master_key");
        out.push(if dev { f.severity(Severity::Info) } else { f });
    }

    // Other secrets written literally in the file.
    let literal = |v: Option<&toml::Value>| {
        v.and_then(toml::Value::as_str)
            .is_some_and(|s| !is_reference(s))
    };
    let secret_fix = |what: &str| {
        format!(
            "write {what} as \"env:NAME\" or \"file:/path\" instead of the value, and rotate the secret if the file was ever shared or committed"
        )
    };
    if let Some(t) = raw {
        if cfg
            .sources
            .get("metrics_key")
            .is_some_and(|s| matches!(s, config::Source::File(_)))
            && literal(t.get("metrics_key"))
        {
            out.push(
                Finding::new(
                    "SB-CFG-001",
                    format!("metrics_key is written literally in {config_name}"),
                    secret_fix("metrics_key"),
                )
                .subject("config:metrics_key"),
            );
        }
        let tables = |name: &str| -> Vec<toml::Table> {
            t.get(name)
                .and_then(toml::Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_table().cloned()).collect())
                .unwrap_or_default()
        };
        for (i, it) in tables("integrations").iter().enumerate() {
            let id = it
                .get("id")
                .and_then(toml::Value::as_str)
                .unwrap_or_default();
            let mut fields = Vec::new();
            if literal(it.get("client_secret")) {
                fields.push("client_secret".to_owned());
            }
            if let Some(list) = it.get("webhook_secrets").and_then(toml::Value::as_array) {
                for (j, v) in list.iter().enumerate() {
                    if literal(Some(v)) {
                        fields.push(format!("webhook_secrets[{j}]"));
                    }
                }
            }
            for field in fields {
                let what = format!("integrations[{i}].{field}");
                out.push(
                    Finding::new(
                        "SB-CFG-001",
                        format!(
                            "{field} of integration {id} is written literally in {config_name}"
                        ),
                        secret_fix(&what),
                    )
                    .integration(id),
                );
            }
        }
        for (i, d) in tables("destinations").iter().enumerate() {
            let id = d
                .get("id")
                .and_then(toml::Value::as_str)
                .unwrap_or_default();
            for field in ["secret", "signing_key"] {
                if literal(d.get(field)) {
                    let what = format!("destinations[{i}].{field}");
                    out.push(
                        Finding::new(
                            "SB-CFG-001",
                            format!(
                                "{field} of destination {id} is written literally in {config_name}"
                            ),
                            secret_fix(&what),
                        )
                        .subject(format!("destination:{id}")),
                    );
                }
            }
        }
    }

    // The database: a SQLite file others can read, a PostgreSQL password in the file.
    match Backend::of(&cfg.database_url) {
        Some(Backend::Sqlite) => {
            if let Some(db) = super::db::sqlite_file(&cfg.database_url) {
                let mut files = vec![db.clone()];
                for suffix in ["-wal", "-shm"] {
                    let mut p = db.clone().into_os_string();
                    p.push(suffix);
                    files.push(PathBuf::from(p));
                }
                let loose: Vec<(PathBuf, u32)> = files
                    .into_iter()
                    .filter_map(|p| loose_mode(&p).map(|m| (p, m)))
                    .collect();
                if !loose.is_empty() {
                    let others = loose.iter().any(|(_, m)| m & 0o007 != 0);
                    let listed: Vec<String> = loose
                        .iter()
                        .map(|(p, m)| format!("{} ({m:o})", p.display()))
                        .collect();
                    let paths: Vec<String> =
                        loose.iter().map(|(p, _)| p.display().to_string()).collect();
                    let f = Finding::new(
                        "SB-DB-001",
                        format!(
                            "the database can be read by {}: {}; it holds webhook payloads, hashed keys and sealed secrets",
                            if others { "every user" } else { "its group" },
                            listed.join(", ")
                        ),
                        format!("chmod 600 {} (and keep the directory private)", paths.join(" ")),
                    )
                    .subject(format!("file:{}", db.display()));
                    out.push(if others {
                        f
                    } else {
                        f.severity(Severity::Medium)
                    });
                }
            }
        }
        Some(Backend::Postgres) => {
            let from_file = matches!(
                cfg.sources.get("database_url"),
                Some(config::Source::File(_))
            );
            let password = url::Url::parse(&cfg.database_url)
                .ok()
                .is_some_and(|u| u.password().is_some_and(|p| !p.is_empty()));
            if from_file && password {
                out.push(
                    Finding::new(
                        "SB-DB-002",
                        format!("database_url in {config_name} holds the PostgreSQL password"),
                        "remove database_url from the file and set SWITCHBOARD_DATABASE_URL in the service's environment (or use a password file: passfile=/path in the URL, or a client certificate)",
                    )
                    .subject("config:database_url"),
                );
            }
        }
        None => {}
    }
    Ok(out)
}

/// The symbol, word and colour of a severity.
fn look(s: Severity) -> (&'static str, anstyle::Style) {
    use anstyle::{AnsiColor, Style};
    match s {
        Severity::High => (
            "✖",
            Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
        ),
        Severity::Medium => ("▲", Style::new().fg_color(Some(AnsiColor::Yellow.into()))),
        Severity::Low => ("●", Style::new().fg_color(Some(AnsiColor::Blue.into()))),
        Severity::Info => ("ℹ", Style::new().dimmed()),
    }
}

/// Whether to colour: stdout is a terminal and `NO_COLOR` is not set (no-color.org).
fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The findings as a table for people, each with its fix under it.
fn print_findings(findings: &[Finding], counts: &Counts) {
    let colour = colour();
    if findings.is_empty() {
        println!("no findings");
        return;
    }
    let cells: Vec<[String; 4]> = findings
        .iter()
        .map(|f| {
            let (symbol, _) = look(f.severity);
            [
                format!("{symbol} {}", f.severity),
                f.code.to_owned(),
                f.subject.clone().unwrap_or_else(|| "-".into()),
                f.title.clone(),
            ]
        })
        .collect();
    let headers = ["SEVERITY", "CODE", "SUBJECT", "FINDING"];
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    println!(
        "{}  {}  {}  {}",
        pad(headers[0], widths[0]),
        pad(headers[1], widths[1]),
        pad(headers[2], widths[2]),
        headers[3]
    );
    let indent = widths[0] + 2;
    for (f, row) in findings.iter().zip(&cells) {
        let severity = pad(&row[0], widths[0]);
        let severity = if colour {
            let (_, style) = look(f.severity);
            format!("{}{severity}{}", style.render(), style.render_reset())
        } else {
            severity
        };
        println!(
            "{severity}  {}  {}  {}",
            pad(&row[1], widths[1]),
            pad(&row[2], widths[2]),
            row[3]
        );
        println!("{}fix: {}", " ".repeat(indent), f.fix);
    }
    println!(
        "\n{} finding{}: {} high, {} medium, {} low, {} info",
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        counts.high,
        counts.medium,
        counts.low,
        counts.info
    );
}
