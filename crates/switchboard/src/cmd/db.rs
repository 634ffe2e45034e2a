//! `switchboard db copy --from URL --to URL`: moves every row of one database into
//! another, SQLite to PostgreSQL (a team outgrowing one machine) or back.
//!
//! Rows travel as stored ([`store::transfer`]): secrets stay sealed (no master key is
//! needed or read), ids, timestamps, versions and the audit chain's hashes are kept. The
//! source is only read: it must be at this build's schema (`migrate` it first); the
//! target is migrated like `migrate` does, and must then be empty unless `--resume` says
//! that an earlier copy into it was interrupted. Tables go in foreign-key order, each in
//! key order, in batches that each commit on their own; a write skips rows whose key is
//! there already, so running the copy again with `--resume` finishes it without
//! duplicates. When every table's rows are on the target, the copy appends one audit
//! entry there (`db.copy`: the source backend and the row counts, no URL).
//!
//! `serve` should be stopped (or intake blocked and the queue drained) during the
//! copy: a row changed on the source after it was copied is not copied again, and
//! `--resume` adds rows added meanwhile but leaves rows it already copied as they are.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use store::transfer::{SchemaGap, TABLES, Value};
use store::{AuditEntry, Store};

use super::Globals;
use crate::exit::{CliError, Outcome};
use crate::local::{self, Backend, shown_url};
use crate::output::{print_json, print_table, progress};

/// `switchboard db …`
#[derive(Debug, Subcommand)]
pub enum DbCmd {
    /// Copy every row of one database into another (SQLite to PostgreSQL, or back),
    /// secrets still sealed, ids, timestamps and the audit chain kept. Stop `serve`
    /// first. Resumable with --resume.
    Copy(CopyArgs),
}

/// `switchboard db copy` arguments.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to copy from (sqlite://PATH or postgres://…); only read, and it must
    /// be at this version's schema (run `migrate` on it first).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The database to copy into (sqlite://PATH or postgres://…); migrated first, and it
    /// must be empty unless --resume is given.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// The target has rows because an earlier copy into it was interrupted: continue,
    /// adding what is missing.
    #[arg(long)]
    pub resume: bool,
    /// Rows per read and per write transaction.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
}

/// `switchboard db …`
pub async fn run(cmd: DbCmd, g: &Globals) -> anyhow::Result<Outcome> {
    match cmd {
        DbCmd::Copy(args) => copy(args, g).await,
    }
}

/// One table of the summary.
#[derive(Debug, Serialize)]
struct TableSummary {
    table: &'static str,
    /// Rows the source has, counted after the copy.
    source_rows: u64,
    /// Rows this run wrote (the rest were there already).
    copied: u64,
    /// Rows the target has, counted after the copy.
    target_rows: u64,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Summary {
    from: Side,
    to: Side,
    resumed: bool,
    /// Whether every source row is on the target.
    ok: bool,
    tables: Vec<TableSummary>,
    /// The sequence number of the `db.copy` audit entry on the target.
    audit_seq: Option<i64>,
}

/// A database as printed: its backend and its URL without a password.
#[derive(Debug, Serialize)]
struct Side {
    backend: &'static str,
    url: String,
}

/// The backend `url` names, or a usage error naming `flag`.
fn backend_of(flag: &str, url: &str) -> anyhow::Result<Backend> {
    Backend::of(url).ok_or_else(|| {
        CliError::usage(format!(
            "{flag}: unsupported scheme in {:?}; use sqlite://PATH or \
             postgres://USER:PASSWORD@HOST:PORT/DATABASE",
            shown_url(url)
        ))
        .into()
    })
}

/// The file a SQLite URL names (`None` for an in-memory database).
pub(crate) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

/// What identifies a database behind a URL, to refuse copying one onto itself.
fn identity(backend: Backend, url: &str) -> String {
    match backend {
        Backend::Sqlite => match sqlite_file(url) {
            Some(path) => {
                let absolute = std::path::absolute(&path).unwrap_or(path);
                // The file may not exist yet (a new target): resolve its directory.
                let resolved = match (absolute.parent(), absolute.file_name()) {
                    (Some(dir), Some(name)) => dir
                        .canonicalize()
                        .map(|d| d.join(name))
                        .unwrap_or(absolute.clone()),
                    _ => absolute,
                };
                format!("sqlite:{}", resolved.display())
            }
            None => url.to_owned(),
        },
        Backend::Postgres => match reqwest::Url::parse(url) {
            Ok(u) => {
                let param = |name: &str| {
                    u.query_pairs()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                format!(
                    "postgres:{}:{}{}?{}&{}",
                    u.host_str().unwrap_or(&param("host")),
                    u.port().unwrap_or(5432),
                    u.path(),
                    param("options"),
                    param("options[search_path]"),
                )
            }
            Err(_) => url.to_owned(),
        },
    }
}

/// Opens one side of the copy, naming its flag in errors. The copy reads no
/// configuration file, so a PostgreSQL side gets the default pool (16 connections, the
/// server's own statement timeout: a large batch may take its time).
async fn open(flag: &str, url: &str) -> anyhow::Result<Arc<dyn Store>> {
    local::store_for(url, &store_postgres::PgSettings::default())
        .await
        .with_context(|| format!("{flag}: cannot open {}", shown_url(url)))
}

/// Where the target's audit chain parts from the source's, if it does: the hash of the
/// last row both have must be the same (it covers every row before it). Audit rows are
/// kept by sequence number, so a target whose log went on by itself (a copy into it
/// that finished and recorded itself) would keep its own row where the source has a
/// newer one.
async fn audit_diverges(source: &dyn Store, target: &dyn Store) -> anyhow::Result<Option<i64>> {
    let (Some((theirs, _)), Some((ours, _))) =
        (source.audit_head().await?, target.audit_head().await?)
    else {
        return Ok(None);
    };
    let seq = theirs.min(ours);
    let a = source.list_audit_asc(seq - 1, 1).await?;
    let b = target.list_audit_asc(seq - 1, 1).await?;
    let same =
        matches!((a.first(), b.first()), (Some(a), Some(b)) if a.seq == seq && a.hash == b.hash);
    Ok((!same).then_some(seq))
}

fn diverged(to_shown: &str, seq: i64) -> CliError {
    CliError::new(
        "audit_diverged",
        format!(
            "--to: the audit log of {to_shown} differs from the source's at seq {seq}: the \
             target's log went on by itself (a copy into it finished earlier) before the \
             source's newest entries were made, and one chain cannot hold both; copy into \
             an empty database"
        ),
    )
}

/// `switchboard db copy`
async fn copy(args: CopyArgs, g: &Globals) -> anyhow::Result<Outcome> {
    let from_backend = backend_of("--from", &args.from)?;
    let to_backend = backend_of("--to", &args.to)?;
    let (from_shown, to_shown) = (shown_url(&args.from), shown_url(&args.to));
    if identity(from_backend, &args.from) == identity(to_backend, &args.to) {
        return Err(CliError::usage(format!(
            "--from and --to name the same database ({to_shown}); copy into another one"
        ))
        .into());
    }
    if from_backend == Backend::Sqlite {
        match sqlite_file(&args.from) {
            None => {
                return Err(CliError::usage(
                    "--from: an in-memory SQLite database has nothing to copy; give the \
                     database file (sqlite://PATH)",
                )
                .into());
            }
            // Opening a SQLite URL creates a missing file: check first.
            Some(path) if !path.is_file() => {
                return Err(CliError::new(
                    "not_found",
                    format!(
                        "--from: there is no database file at {}; check the path",
                        path.display()
                    ),
                )
                .into());
            }
            Some(_) => {}
        }
    }

    let source = open("--from", &args.from).await?;
    let version =
        source.transfer().schema_version().await.with_context(|| {
            format!("--from: reading which migrations {from_shown} has applied")
        })?;
    if let Some(gap) = version.gap() {
        let message = match gap {
            SchemaGap::Newer(unknown) => format!(
                "--from: {from_shown} was migrated by a newer switchboard (migrations \
                 {unknown:?} are unknown to this one); copy with that version"
            ),
            SchemaGap::Unmigrated => {
                format!("--from: {from_shown} has no Switchboard schema; check the URL")
            }
            SchemaGap::Behind { applied, known } => format!(
                "--from: {from_shown} is not fully migrated ({applied} of {known} migrations applied); \
                 run `switchboard migrate --database-url <the --from URL>` first (with \
                 serve stopped), then copy"
            ),
        };
        return Err(CliError::new("schema_mismatch", message).into());
    }

    let target = open("--to", &args.to).await?;
    let unknown = target
        .transfer()
        .schema_version()
        .await
        .with_context(|| format!("--to: reading which migrations {to_shown} has applied"))?
        .unknown();
    if !unknown.is_empty() {
        return Err(CliError::new(
            "schema_mismatch",
            format!(
                "--to: {to_shown} was migrated by a newer switchboard (migrations \
                 {unknown:?} are unknown to this one); copy with that version, or into an \
                 empty database"
            ),
        )
        .into());
    }
    target
        .migrate()
        .await
        .with_context(|| format!("--to: applying migrations to {to_shown}"))?;
    let mut there = Vec::new();
    for t in TABLES {
        let n = target.transfer().count(t).await?;
        if n > 0 {
            there.push(format!("{}: {n}", t.name));
        }
    }
    if !there.is_empty() && !args.resume {
        return Err(CliError::new(
            "not_empty",
            format!(
                "--to: {to_shown} is not empty ({}); pass --resume to finish a copy into it \
                 that was interrupted, or copy into an empty database",
                there.join(", ")
            ),
        )
        .into());
    }

    if let Some(seq) = audit_diverges(&*source, &*target).await? {
        return Err(diverged(&to_shown, seq).into());
    }

    let mut copied: BTreeMap<&'static str, u64> = BTreeMap::new();
    for t in TABLES {
        let total = source.transfer().count(t).await?;
        let bar = progress(total, "{prefix:>18} [{bar:30}] {pos}/{len} rows", g.json);
        bar.set_prefix(t.name);
        let mut after: Option<Vec<Value>> = None;
        let (mut read, mut written) = (0u64, 0u64);
        loop {
            let rows = source
                .transfer()
                .read(t, after.as_deref(), args.batch_size)
                .await
                .with_context(|| format!("--from: reading {}", t.name))?;
            if rows.is_empty() {
                break;
            }
            written += target
                .transfer()
                .write(t, &rows)
                .await
                .with_context(|| format!("--to: writing {}", t.name))?;
            read += rows.len() as u64;
            after = rows.last().map(|r| t.key_of(r));
            if read > bar.length().unwrap_or(0) {
                bar.set_length(read);
            }
            bar.set_position(read);
        }
        bar.finish();
        copied.insert(t.name, written);
    }
    target
        .transfer()
        .finish()
        .await
        .with_context(|| format!("--to: finishing the copy into {to_shown}"))?;

    let mut tables = Vec::new();
    for t in TABLES {
        tables.push(TableSummary {
            table: t.name,
            source_rows: source.transfer().count(t).await?,
            copied: copied.get(t.name).copied().unwrap_or(0),
            target_rows: target.transfer().count(t).await?,
        });
    }
    let short: Vec<String> = tables
        .iter()
        .filter(|t| t.target_rows < t.source_rows)
        .map(|t| format!("{}: {} of {}", t.table, t.target_rows, t.source_rows))
        .collect();
    if let Some(seq) = audit_diverges(&*source, &*target).await? {
        return Err(diverged(&to_shown, seq).into());
    }
    let ok = short.is_empty();
    let audit_seq = if ok {
        let rows: serde_json::Map<String, serde_json::Value> = tables
            .iter()
            .map(|t| (t.table.to_owned(), t.source_rows.into()))
            .collect();
        let entry = AuditEntry {
            at: store::now(),
            actor: local::cli_actor().to_string(),
            action: "db.copy".into(),
            target: target.backend().into(),
            details: serde_json::json!({
                "from_backend": source.backend(),
                "resumed": !there.is_empty(),
                "rows": rows,
            }),
        };
        let record = target
            .append_audit(&entry)
            .await
            .with_context(|| format!("--to: recording the copy in the audit log of {to_shown}"))?;
        Some(record.seq)
    } else {
        None
    };
    source.close().await;
    target.close().await;

    let summary = Summary {
        from: Side {
            backend: source.backend(),
            url: from_shown,
        },
        to: Side {
            backend: target.backend(),
            url: to_shown,
        },
        resumed: !there.is_empty(),
        ok,
        tables,
        audit_seq,
    };
    if g.json {
        print_json(&summary)?;
    } else {
        let rows: Vec<Vec<String>> = summary
            .tables
            .iter()
            .map(|t| {
                vec![
                    t.table.to_owned(),
                    t.source_rows.to_string(),
                    t.copied.to_string(),
                    t.target_rows.to_string(),
                ]
            })
            .collect();
        print_table(&["table", "source rows", "copied", "target rows"], &rows);
        if ok {
            println!(
                "copied {} ({}) to {} ({}); audit entry {} records it. Point every \
                 instance at the new database with the same master key, then run \
                 `switchboard audit verify` and `switchboard config check` there",
                summary.from.url,
                summary.from.backend,
                summary.to.url,
                summary.to.backend,
                audit_seq.unwrap_or_default()
            );
        } else {
            println!(
                "the target has fewer rows than the source ({}): rows were added to the \
                 source during the copy, or clash with rows the target had; stop serve and \
                 run the copy again with --resume",
                short.join(", ")
            );
        }
    }
    Ok(Outcome::from_ok(ok))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://a/b.db"),
            Some(PathBuf::from("a/b.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:b.db?mode=rwc"),
            Some(PathBuf::from("b.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x/y"), None);
    }

    #[test]
    fn the_same_database_is_recognised_behind_different_urls() {
        let dir = tempfile_dir();
        let a = format!("sqlite://{}/sb.db", dir.display());
        let b = format!("sqlite:{}/./sb.db?mode=rwc", dir.display());
        assert_eq!(identity(Backend::Sqlite, &a), identity(Backend::Sqlite, &b));
        let pg = |u: &str| identity(Backend::Postgres, u);
        assert_eq!(
            pg("postgres://u:secret@db:5432/sb"),
            pg("postgresql://other@db/sb")
        );
        assert_ne!(pg("postgres://db/sb"), pg("postgres://db/sb2"));
        assert_ne!(
            pg("postgres://db/sb?options[search_path]=a"),
            pg("postgres://db/sb?options[search_path]=b")
        );
    }

    fn tempfile_dir() -> PathBuf {
        std::env::temp_dir().canonicalize().unwrap()
    }
}
