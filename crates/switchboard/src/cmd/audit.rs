//! `switchboard audit list|verify`: the tamper-evident audit log, through a running
//! server when an admin key is given, on the local database otherwise. `verify` is a
//! check: exit 1 when the chain is broken.

use clap::Subcommand;
use indicatif::ProgressBar;

use super::Globals;
use crate::exit::Outcome;
use crate::local::{self, as_wire};
use crate::output::{print_json, print_table, time};
use crate::remote::Target;

/// `switchboard audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Show the newest audit rows.
    List {
        /// How many rows.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue from a previous listing's next cursor.
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Verify the hash chain; names the first bad row and exits 1 if there is one.
    Verify {
        #[command(flatten)]
        target: Target,
    },
}

/// `switchboard audit …`
pub async fn run(cmd: AuditCmd, g: &Globals) -> anyhow::Result<Outcome> {
    let (config_path, json) = (g.config_path(), g.json);
    match cmd {
        AuditCmd::List {
            limit,
            cursor,
            target,
        } => {
            let (rows, next): (Vec<client::AuditRow>, Option<String>) = match target.client()? {
                Some(c) => {
                    let p = c.audit(limit, cursor.as_deref()).await?;
                    (p.data, p.next_cursor)
                }
                None => {
                    let engine = local::engine(config_path, &target.db).await?;
                    let p = engine.list_audit(cursor.as_deref(), limit).await;
                    engine.store().close().await;
                    let p = p?;
                    let rows = as_wire(&p.data)?;
                    (rows, p.next_cursor)
                }
            };
            if json {
                print_json(&serde_json::json!({ "data": rows, "next_cursor": next }))?;
            } else {
                let cells: Vec<Vec<String>> = rows
                    .into_iter()
                    .map(|r| {
                        vec![
                            r.seq.to_string(),
                            time(Some(r.at)),
                            r.actor,
                            r.action,
                            r.target,
                            r.details.to_string(),
                        ]
                    })
                    .collect();
                print_table(
                    &["seq", "at", "actor", "action", "target", "details"],
                    &cells,
                );
                if let Some(n) = next {
                    println!("(more: --cursor {n})");
                }
            }
            Ok(Outcome::Success)
        }
        AuditCmd::Verify { target } => {
            let v: client::AuditVerification = match target.client()? {
                Some(c) => c.verify_audit().await?,
                None => {
                    let engine = local::engine(config_path, &target.db).await?;
                    let bar = if json {
                        ProgressBar::hidden()
                    } else {
                        ProgressBar::new_spinner()
                    };
                    let r = engine
                        .verify_audit(&|n| bar.set_message(format!("{n} rows checked")))
                        .await;
                    bar.finish_and_clear();
                    engine.store().close().await;
                    let r = r?;
                    as_wire(&r)?
                }
            };
            if json {
                print_json(&v)?;
            } else if v.ok {
                println!("audit log intact: {} rows verified", v.rows_checked);
            } else {
                println!(
                    "audit log TAMPERED: first bad row is seq {} ({}); {} rows checked",
                    v.first_bad_seq.unwrap_or_default(),
                    v.problem.map(|p| p.to_string()).unwrap_or_default(),
                    v.rows_checked
                );
            }
            Ok(Outcome::from_ok(v.ok))
        }
    }
}
