//! The deployment files in `deploy/` stay valid: the three-instance example passes
//! `switchboard config check` with its environment file's names set to placeholders,
//! the systemd unit passes `systemd-analyze verify` (when systemd's tools are
//! installed) and gives a stop timeout that covers the example's drain, and the
//! HAProxy configuration passes `haproxy -c` (when HAProxy and openssl are installed).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{BIN, master_key, run, sandbox};

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
