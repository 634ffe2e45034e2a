//! `switchboard status`: the deployment's health at a glance, through the running server
//! (`SWITCHBOARD_URL`, `SWITCHBOARD_API_KEY` with an admin key). For people: one block
//! per integration with ✓ (fine), ! (worth a look) and ✗ (needs a person), in colour on
//! a terminal (not when `NO_COLOR` is set or the output is not a terminal: `anstream`
//! decides). `--json` prints the API's document. Exit 1 when something needs a person,
//! 0 otherwise, 2 on an error (server unreachable, bad key).

use anstyle::{AnsiColor, Style};
use clap::Args;
use client::{IntegrationHealth, Status};

use super::Globals;
use crate::exit::Outcome;
use crate::output::print_json;
use crate::remote::{Remote, explain};

/// `switchboard status`
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    remote: Remote,
}

const GREEN: Style = AnsiColor::Green.on_default();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const RED: Style = AnsiColor::Red.on_default().bold();
const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

/// `✓`, `!` or `✗`, coloured.
fn mark(ok: bool, warn: bool) -> String {
    if !ok {
        format!("{RED}✗{RED:#}")
    } else if warn {
        format!("{YELLOW}!{YELLOW:#}")
    } else {
        format!("{GREEN}✓{GREEN:#}")
    }
}

fn paint(style: Style, text: &str) -> String {
    format!("{style}{text}{style:#}")
}

/// `switchboard status`
pub async fn run(args: StatusArgs, g: &Globals) -> anyhow::Result<Outcome> {
    let c = args.remote.client("status")?;
    let status = c.status().await.map_err(|e| explain(e, "status"))?;
    if g.json {
        print_json(&status)?;
    } else {
        print_status(&status);
    }
    Ok(Outcome::from_ok(!status.attention))
}

fn print_status(s: &Status) {
    let ready = if s.ready.ready {
        format!("{} ready", mark(true, false))
    } else {
        format!(
            "{} NOT READY: {}",
            mark(false, false),
            s.ready
                .error
                .as_deref()
                .unwrap_or("the database does not answer")
        )
    };
    anstream::println!(
        "{} {} · {} · {ready} · {}",
        paint(BOLD, "switchboard"),
        s.version,
        s.ready.backend,
        paint(
            DIM,
            &s.generated_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        )
    );
    if s.attention {
        anstream::println!(
            "{} {} thing(s) need a person:",
            mark(false, false),
            s.reasons.len()
        );
        for r in &s.reasons {
            anstream::println!("    {r}");
        }
    } else {
        anstream::println!("{} nothing needs a person", mark(true, false));
    }
    if s.security_findings > 0 {
        anstream::println!(
            "{} {} open security finding(s): `switchboard security audit`",
            mark(true, true),
            s.security_findings
        );
    }
    for h in &s.integrations {
        anstream::println!();
        print_integration(h);
    }
    if s.integrations.is_empty() && s.ready.ready {
        anstream::println!("\nno integrations configured");
    }
}

fn print_integration(h: &IntegrationHealth) {
    let mut flags = Vec::new();
    if h.disabled {
        flags.push("DISABLED");
    }
    if h.webhooks_blocked {
        flags.push("webhooks BLOCKED");
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", flags.join(", "))
    };
    anstream::println!(
        "{} {} ({}){flags}",
        mark(!h.attention, h.disabled || h.webhooks_blocked),
        paint(BOLD, &h.id),
        h.provider
    );
    let line = |ok: bool, warn: bool, label: &str, text: String, reason: &Option<String>| {
        let why = reason
            .as_deref()
            .map(|r| format!("\n      {}", paint(if ok { YELLOW } else { RED }, r)))
            .unwrap_or_default();
        anstream::println!("  {} {label:<13} {text}{why}", mark(ok, warn));
    };
    let c = &h.connections;
    line(
        !c.attention,
        c.refresh_failures_24h > 0 || c.needs_reauth > 0,
        "connections",
        format!(
            "{} active · {} needs_reauth · {} revoked · {} error · refresh failures 24 h: {} ({} needs_reauth)",
            c.active,
            c.needs_reauth,
            c.revoked,
            c.error,
            c.refresh_failures_24h,
            c.needs_reauth_24h
        ),
        &c.reason,
    );
    let w = &h.webhooks;
    let refused = if w.refused_by_reason.is_empty() {
        String::new()
    } else {
        let by: Vec<String> = w
            .refused_by_reason
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        format!(" ({})", by.join(", "))
    };
    line(
        !w.attention,
        w.refused_1h > 0,
        "webhooks 1 h",
        format!(
            "{} received · {} refused{refused} · last verified {}",
            w.received_1h,
            w.refused_1h,
            w.last_received_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| "never".into())
        ),
        &w.reason,
    );
    let d = &h.deliveries;
    line(
        !d.attention,
        d.pending > 0,
        "deliveries",
        format!(
            "{} pending ({} in flight) · oldest {} · {} dead",
            d.pending,
            d.in_flight,
            d.oldest_pending_secs
                .map(|s| format!("{s} s"))
                .unwrap_or_else(|| "-".into()),
            d.dead
        ),
        &d.reason,
    );
    if h.destinations.is_empty() {
        line(true, false, "destinations", "none".into(), &None);
    }
    for dest in &h.destinations {
        let state = if !dest.enabled {
            format!(
                "DISABLED ({})",
                dest.disabled_reason.as_deref().unwrap_or("no reason given")
            )
        } else if dest.breaker_open {
            format!("breaker OPEN after {} failures", dest.breaker_failures)
        } else if dest.breaker_failures > 0 {
            format!("enabled · {} failures in a row", dest.breaker_failures)
        } else {
            "enabled".into()
        };
        line(
            !dest.attention,
            dest.breaker_failures > 0,
            "destination",
            format!("{} {state}", dest.id),
            &dest.reason,
        );
    }
    anstream::println!("  {}", paint(DIM, "launch checklist"));
    for item in &h.checklist {
        let m = match item.state.as_str() {
            "ok" => mark(true, false),
            "not_applicable" => paint(DIM, "-"),
            _ if item.attention => mark(false, false),
            _ => mark(true, true),
        };
        anstream::println!("    {m} {:<18} {}", item.check, item.detail);
    }
}
