//! The deployment files in `deploy/` stay valid: the three-instance example passes
//! `switchboard config check` with its environment file's names set to placeholders,
//! the systemd unit passes `systemd-analyze verify` (when systemd's tools are
//! installed) and gives a stop timeout that covers the example's drain, and the
//! HAProxy configuration passes `haproxy -c` (when HAProxy and openssl are installed).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{self, BIN, master_key, run, sandbox};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn read(rel: &str) -> String {
    let path = deploy_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `NAME=value` lines of a systemd environment file (a double-quoted value without
/// its quotes).
fn env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not NAME=value: {l}"));
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Whether `tool` can be run (found on PATH).
fn installed(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

#[test]
fn the_three_instance_example_passes_config_check_with_its_env_file() {
    let example = env_file(&read("three-instances/switchboard.env.example"));
    let names: Vec<&str> = example.iter().map(|(k, _)| k.as_str()).collect();
    for name in ["SWITCHBOARD_MASTER_KEY", "SWITCHBOARD_DATABASE_URL"] {
        assert!(names.contains(&name), "{name} is not in the env example");
    }
    // Placeholders only: nothing that looks like a real secret is committed.
    for (k, v) in &example {
        assert!(v.contains("CHANGE_ME"), "{k} has no CHANGE_ME placeholder");
    }
    // Each name set to a value of the right shape; the password is one to look for.
    let (key, _) = master_key();
    let password = "placeholder-db-password";
    let values: Vec<(String, String)> = example
        .iter()
        .map(|(k, v)| {
            let value = match k.as_str() {
                "SWITCHBOARD_MASTER_KEY" => key.clone(),
                "APP_WEBHOOK_SECRET" => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
                _ => v.replace("CHANGE_ME", password),
            };
            (k.clone(), value)
        })
        .collect();
    let envs: Vec<(&str, &str)> = values
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let config = deploy_dir().join("three-instances/switchboard.toml");
    let config = config.to_str().unwrap();
    let dir = sandbox();
    let out = run(
        dir.path(),
        &["--config", config, "config", "check", "--json"],
        &envs,
    );
    out.success();
    let v = out.json();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["integrations"], serde_json::json!(["github-main"]), "{v}");
    assert_eq!(v["destinations"], serde_json::json!(["app"]), "{v}");
    let url = &v["keys"]["database_url"];
    assert_eq!(
        url["source"], "environment variable SWITCHBOARD_DATABASE_URL",
        "{v}"
    );
    assert!(
        url["value"].as_str().unwrap().starts_with("postgres://"),
        "{v}"
    );
    assert!(!out.stdout.contains(password) && !out.stderr.contains(password));
    assert!(!out.stderr.contains("ignored"), "{}", out.stderr);

    // Without the environment file the file alone does not pass: its secrets are
    // env: references (and nothing falls back to SQLite silently).
    let out = run(dir.path(), &["--config", config, "config", "check"], &[]);
    out.exit_code(1);
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_and_outlasts_the_drain() {
    let unit = read("switchboard.service");
    // The stop timeout covers the example's drain: requests, then background work, each
    // up to shutdown_grace_secs.
    let grace: u64 = read("three-instances/switchboard.toml")
        .lines()
        .find_map(|l| l.strip_prefix("shutdown_grace_secs = "))
        .expect("shutdown_grace_secs in the example")
        .trim()
        .parse()
        .unwrap();
    let stop: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("TimeoutStopSec in the unit")
        .trim()
        .parse()
        .unwrap();
    assert!(
        stop > 2 * grace,
        "TimeoutStopSec={stop} does not cover 2 x shutdown_grace_secs ({grace})"
    );
    for line in [
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "DynamicUser=yes",
        "StateDirectory=switchboard",
        "EnvironmentFile=/etc/switchboard/switchboard.env",
        "Restart=on-failure",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} is not in the unit");
    }

    if !installed("systemd-analyze") {
        eprintln!("skipped systemd-analyze verify: systemd-analyze is not installed");
        return;
    }
    // The unit as installed names /usr/local/bin/switchboard; verify checks that the
    // command exists, so it is checked here naming the binary under test.
    let dir = sandbox();
    let path = dir.path().join("switchboard.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/switchboard", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .current_dir(dir.path())
        .output()
        .expect("run systemd-analyze");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // An unknown or misspelt key is only a warning (exit 0), so any line about the unit
    // fails the test too.
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{text}"
    );
    assert!(
        !text.contains("switchboard.service"),
        "systemd-analyze verify complained:\n{text}"
    );
}

#[test]
fn the_haproxy_config_checks_readyz_and_passes_haproxy_check() {
    let cfg = read("three-instances/haproxy.cfg");
    assert!(
        cfg.contains("http-check send meth GET uri /readyz"),
        "{cfg}"
    );
    assert!(cfg.contains("http-check expect status 200"), "{cfg}");
    assert_eq!(
        cfg.lines()
            .filter(|l| l.trim_start().starts_with("server sb"))
            .count(),
        3
    );
    if !installed("haproxy") || !installed("openssl") {
        eprintln!("skipped haproxy -c: haproxy or openssl is not installed");
        return;
    }
    // A throwaway certificate where the configuration expects the real one.
    let dir = sandbox();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=switchboard.example.com", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(made.status.success(), "{made:?}");
    let pem = dir.path().join("switchboard.pem");
    let both = [std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap()].concat();
    std::fs::write(&pem, both).unwrap();
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(
        &path,
        cfg.replace("/etc/haproxy/certs/switchboard.pem", pem.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("run haproxy -c");
    assert!(
        out.status.success(),
        "haproxy -c failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- Prometheus rules and the Grafana dashboard -----------------------------------------

/// The base every alert's `runbook_url` starts with (deploy/README.md says how to
/// rewrite it).
const RUNBOOK_BASE: &str = "https://github.com/switchboard/switchboard/blob/main/docs/runbooks/";

fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// promtool, which `scripts/setup` installs (Debian package `prometheus`).
fn promtool(args: &[&str]) -> std::process::Output {
    Command::new("promtool")
        .args(args)
        .current_dir(deploy_dir().join("prometheus"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}): run scripts/setup, which installs the Debian package prometheus")
        })
}

/// One alert of the rules file, as written.
#[derive(Debug, Default)]
struct Alert {
    name: String,
    severity: String,
    summary: String,
    description: String,
    runbook_url: String,
}

/// The alerts of `switchboard-rules.yml` (read line by line: the file keeps one key per
/// line under each `- alert:`).
fn alerts() -> Vec<Alert> {
    let mut out: Vec<Alert> = Vec::new();
    for line in read("prometheus/switchboard-rules.yml").lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("- alert: ") {
            out.push(Alert {
                name: name.trim().to_owned(),
                ..Alert::default()
            });
            continue;
        }
        if t.starts_with("- name:") {
            continue;
        }
        let Some(a) = out.last_mut() else { continue };
        let value = |k: &str| {
            t.strip_prefix(k)
                .map(|v| v.trim().trim_matches('"').to_owned())
        };
        if let Some(v) = value("severity:") {
            a.severity = v;
        } else if let Some(v) = value("summary:") {
            a.summary = v;
        } else if let Some(v) = value("description:") {
            a.description = v;
        } else if let Some(v) = value("runbook_url:") {
            a.runbook_url = v;
        }
    }
    out
}

/// GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to
/// hyphens.
pub(crate) fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every `switchboard_…` metric name in `text`.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("switchboard_") {
        let start = i + at;
        let before_ok =
            start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        let mut end = start;
        while end < b.len()
            && (b[end].is_ascii_lowercase() || b[end].is_ascii_digit() || b[end] == b'_')
        {
            end += 1;
        }
        if before_ok {
            names.insert(text[start..end].to_owned());
        }
        i = end;
    }
    names
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    let out = promtool(&["check", "rules", "switchboard-rules.yml"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool check rules failed:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
    let out = promtool(&["test", "rules", "switchboard-rules.test.yml"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool test rules failed:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn every_alert_follows_the_conventions_and_links_a_runbook_section() {
    let alerts = alerts();
    assert!(alerts.len() >= 10, "{alerts:?}");
    let index = std::fs::read_to_string(repo_dir().join("docs/runbooks/README.md"))
        .expect("docs/runbooks/README.md");
    let mut seen = std::collections::BTreeSet::new();
    for a in &alerts {
        let n = &a.name;
        assert!(seen.insert(n.clone()), "{n} is defined twice");
        assert!(
            n.starts_with("Switchboard")
                && n.chars().all(|c| c.is_ascii_alphanumeric())
                && n.chars().next().is_some_and(|c| c.is_ascii_uppercase()),
            "{n} is not a CamelCase name starting with Switchboard"
        );
        assert!(
            ["critical", "warning"].contains(&a.severity.as_str()),
            "{n}: severity {:?}",
            a.severity
        );
        assert!(!a.summary.is_empty() && !a.description.is_empty(), "{a:?}");
        let rest = a
            .runbook_url
            .strip_prefix(RUNBOOK_BASE)
            .unwrap_or_else(|| panic!("{n}: runbook_url does not start with {RUNBOOK_BASE}"));
        let (file, frag) = rest
            .split_once('#')
            .unwrap_or_else(|| panic!("{n}: runbook_url has no #section"));
        let path = repo_dir().join("docs/runbooks").join(file);
        let doc = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{n}: runbook {}: {e}", path.display()));
        let anchors: Vec<String> = doc
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .map(|h| anchor(h.trim_start_matches('#')))
            .collect();
        assert!(
            anchors.iter().any(|h| h == frag),
            "{n}: {file} has no heading for #{frag} (has {anchors:?})"
        );
        assert!(
            index.contains(&format!("`{n}`")) && index.contains(&format!("({file}#{frag})")),
            "docs/runbooks/README.md does not map `{n}` to ({file}#{frag})"
        );
    }
}

#[test]
fn every_alert_fires_in_a_unit_test_and_none_on_the_healthy_deployment() {
    let tests = read("prometheus/switchboard-rules.test.yml");
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    let healthy = tests
        .split_once("- name: a healthy deployment raises no alert")
        .expect("a test named 'a healthy deployment raises no alert'")
        .1;
    for a in alerts() {
        let n = &a.name;
        // Fires: an `alertname: N` whose `exp_alerts:` is followed by an expected alert.
        let fires = lines.windows(3).any(|w| {
            w[0] == format!("alertname: {n}")
                && w[1] == "exp_alerts:"
                && w[2].starts_with("- exp_labels:")
        });
        assert!(fires, "no unit test expects {n} to fire");
        assert!(
            healthy.contains(&format!("alertname: {n}\n        exp_alerts: []")),
            "the healthy deployment test does not check that {n} stays quiet"
        );
    }
}

#[test]
fn the_dashboard_is_a_grafana_dashboard_over_a_datasource_variable() {
    let text = read("grafana/switchboard.json");
    let d: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert_eq!(d["title"], "Switchboard");
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 30),
        "{}",
        d["schemaVersion"]
    );
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no template variable {name}"))
    };
    assert_eq!(var("DS_PROMETHEUS")["type"], "datasource");
    assert_eq!(var("DS_PROMETHEUS")["query"], "prometheus");
    let integration = var("integration");
    assert_eq!(integration["type"], "query");
    assert_eq!(integration["datasource"]["uid"], "${DS_PROMETHEUS}");
    assert_eq!(integration["includeAll"], true);

    let panels = d["panels"].as_array().expect("panels");
    let mut ids = std::collections::BTreeSet::new();
    let mut exprs = 0;
    let mut titles = Vec::new();
    for p in panels {
        let title = p["title"].as_str().expect("a panel title");
        assert!(
            ids.insert(p["id"].as_u64().expect("a panel id")),
            "duplicate id at {title}"
        );
        let g = &p["gridPos"];
        for k in ["h", "w", "x", "y"] {
            assert!(g[k].is_u64(), "{title}: gridPos.{k}");
        }
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{title} is wider than the grid"
        );
        if p["type"] == "row" {
            continue;
        }
        titles.push(title.to_owned());
        assert!(
            ["timeseries", "stat"].contains(&p["type"].as_str().unwrap()),
            "{title}: {}",
            p["type"]
        );
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let unit = p["fieldConfig"]["defaults"]["unit"]
            .as_str()
            .unwrap_or_default();
        assert!(
            ["reqps", "s", "percentunit", "short", "none", "bool_on_off"].contains(&unit),
            "{title}: unit {unit:?}"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
            let e = t["expr"].as_str().expect("expr");
            assert!(e.contains("switchboard_"), "{title}: {e}");
            assert_eq!(
                e.matches('(').count(),
                e.matches(')').count(),
                "{title}: {e}"
            );
            exprs += 1;
        }
    }
    assert!(exprs >= 25, "{exprs} queries");

    // Every query parses as PromQL: each becomes a recording rule (Grafana's variables
    // given values) that `promtool check rules` reads.
    let dir = sandbox();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    let mut n = 0;
    for p in panels {
        for t in p["targets"].as_array().into_iter().flatten() {
            let e = t["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "5m")
                .replace("$integration", ".*");
            n += 1;
            rules.push_str(&format!(
                "      - record: dashboard_query_{n}\n        expr: {}\n",
                serde_json::Value::String(e)
            ));
        }
    }
    let path = dir.path().join("dashboard-queries.yml");
    std::fs::write(&path, rules).unwrap();
    let out = promtool(&["check", "rules", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "a dashboard query is not valid PromQL:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What the issue asks the dashboard to show.
    for want in [
        "Requests by route",
        "Errors by route and status",
        "Webhooks by integration and outcome",
        "Token refreshes by outcome",
        "Queue depth and oldest pending age",
        "Delivery latency (received → delivered)",
        "Dead letters",
        "Proxied requests by upstream status",
        "Proxy retries by reason",
        "Instances live",
    ] {
        assert!(
            titles.iter().any(|t| t == want),
            "no panel {want:?} in {titles:?}"
        );
    }
}

/// Every metric name the dashboard and the rules use, with where.
fn metrics_used() -> Vec<(String, &'static str)> {
    let mut used: Vec<(String, &'static str)> = Vec::new();
    let d: serde_json::Value = serde_json::from_str(&read("grafana/switchboard.json")).unwrap();
    let mut texts = vec![d["templating"].to_string()];
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            texts.push(t["expr"].as_str().unwrap_or_default().to_owned());
        }
    }
    for n in metric_names(&texts.join("\n")) {
        used.push((n, "deploy/grafana/switchboard.json"));
    }
    let rules: String = read("prometheus/switchboard-rules.yml")
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    for n in metric_names(&rules) {
        used.push((n, "deploy/prometheus/switchboard-rules.yml"));
    }
    used
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_rules_use_is_exported_by_a_live_server() {
    use crate::docs_env::{CONNECTION_ID, DocsEnv};
    let env = DocsEnv::start().await;
    let http = env.server.http();
    let envs = env.envs();
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let metrics = || async { harness::scrape(&env.server).await };

    // Before any traffic, the series the alert rules count over are there at zero.
    let m = metrics().await;
    for series in [
        r#"switchboard_webhooks_total{integration="github-main",outcome="no_match"}"#,
        r#"switchboard_token_refreshes_total{integration="acme",outcome="invalid_client"}"#,
        r#"switchboard_connections_needs_reauth_total{integration="acme"}"#,
        r#"switchboard_delivery_attempts_total{destination="app",outcome="dead"}"#,
        r#"switchboard_destination_disabled{destination="app"}"#,
    ] {
        assert_eq!(
            harness::metric_value(&m, series),
            Some(0.0),
            "{series}\n{m}"
        );
    }

    // Traffic that makes every other metric appear: a webhook stored and delivered, one
    // refused, a refresh, proxied calls (the second waits for the rate limit, the third
    // is retried after a 503).
    let dir = env.path();
    harness::run(&dir, &["webhook", "test", "github-main"], &envs).success();
    let refused = http
        .post(env.server.url("/webhooks/github-main/event"))
        .header("x-github-event", "push")
        .header("x-github-delivery", "forged-1")
        .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    harness::run(&dir, &["oauth", "refresh", CONNECTION_ID], &envs).success();
    for _ in 0..2 {
        let r = http
            .get(env.server.url(&format!("/api/proxy/{CONNECTION_ID}/me")))
            .bearer_auth(&env.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    env.peer.fail_next("userinfo", 503, 1).await;
    let r = http
        .get(env.server.url(&format!("/api/proxy/{CONNECTION_ID}/me")))
        .bearer_auth(&env.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["switchboard-attempts"], "2");

    let exported = harness::eventually("every metric the dashboard and the rules use", || async {
        let m = metrics().await;
        let names: std::collections::BTreeSet<String> = m
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(str::to_owned)
            .collect();
        let missing: Vec<_> = metrics_used()
            .into_iter()
            .filter(|(n, _)| !names.contains(n))
            .collect();
        missing.is_empty().then_some(names)
    })
    .await;
    // (On a timeout, say which ones were missing.)
    let used = metrics_used();
    for (n, file) in &used {
        assert!(
            exported.contains(n),
            "{file} uses {n}, which the server does not export"
        );
    }
    assert!(used.len() >= 20, "{used:?}");
    // Delivery latency has buckets up to a day (a delivery waits for retries), so its
    // quantiles do not stop at the request buckets' 30 s.
    let m = metrics().await;
    assert!(
        m.contains(r#"switchboard_delivery_latency_seconds_bucket{destination="app",le="86400"}"#),
        "{m}"
    );
}
