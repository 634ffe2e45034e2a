//! What verbs print: JSON (`--json`), aligned tables, times, progress bars, and the
//! confirmation prompt of verbs that change many things at once.

use std::io::{BufRead, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::exit::CliError;

/// Prints a value as pretty JSON (`--json`).
pub fn print_json<T: Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Prints rows as an aligned table.
pub fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!(
        "{}",
        line(headers.iter().map(|h| h.to_uppercase()).collect())
    );
    for r in rows {
        println!("{}", line(r.clone()));
    }
}

/// A time for a table cell (`-` when absent).
pub fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// A progress bar on stderr drawn with `template`, hidden under `--json`.
pub fn progress(len: u64, template: &str, json: bool) -> ProgressBar {
    let bar = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len)
    };
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Goes on only when confirmed: at once with `yes` (`--yes`), else when the person at
/// the terminal answers yes to `question`. Without a terminal it refuses with `refusal`
/// (code `not_confirmed`), so that a script never waits on a prompt; an answer other
/// than yes is the error `cancelled` saying `nothing_done`.
pub fn confirm(
    yes: bool,
    question: &str,
    refusal: impl FnOnce() -> String,
    nothing_done: &str,
) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new("not_confirmed", refusal()).into());
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if matches!(line.trim().to_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::new("cancelled", format!("not confirmed: {nothing_done}")).into())
    }
}
