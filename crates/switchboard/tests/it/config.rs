//! Configuration errors stop startup and name the key; `config check` and
//! `config default`.

use std::path::Path;

use crate::harness::{free_port, master_key, run, sandbox};

/// A broken configuration and what its error message must name.
struct Broken {
    name: &'static str,
    /// Content of switchboard.toml in the working directory, if any.
    file: Option<&'static str>,
    envs: Vec<(&'static str, String)>,
    /// `--config` value; `{dir}` is replaced by the sandbox path.
    config_flag: Option<String>,
    needles: Vec<String>,
    /// The file cannot be read at all (an error, exit 2), rather than read and found
    /// wrong (a problem `config check` reports, exit 1).
    unreadable: bool,
}

fn broken_cases() -> Vec<Broken> {
    vec![
        Broken {
            name: "unknown key",
            file: Some("lisen = \"x\"\n"),
            envs: vec![],
            config_flag: None,
            needles: vec!["lisen".into(), "switchboard.toml".into()],
            unreadable: false,
        },
        Broken {
            name: "wrong type",
            file: Some("listen = 5\n"),
            envs: vec![],
            config_flag: None,
            needles: vec!["listen".into()],
            unreadable: false,
        },
        Broken {
            name: "bad log format",
            file: Some("log_format = \"xml\"\n"),
            envs: vec![],
            config_flag: None,
            needles: vec!["log_format".into(), "human".into()],
            unreadable: false,
        },
        Broken {
            name: "master key from an unset variable",
            file: Some("master_key = \"env:NOPE_NOT_SET\"\n"),
            envs: vec![],
            config_flag: None,
            needles: vec!["master_key".into(), "NOPE_NOT_SET".into()],
            unreadable: false,
        },
        Broken {
            name: "master key from a missing file",
            file: Some("master_key = \"file:/nonexistent/k\"\n"),
            envs: vec![],
            config_flag: None,
            needles: vec!["master_key".into(), "/nonexistent/k".into()],
            unreadable: false,
        },
        Broken {
            name: "master key not base64",
            file: None,
            envs: vec![("SWITCHBOARD_MASTER_KEY", "not a key!".into())],
            config_flag: None,
            needles: vec!["master_key".into(), "SWITCHBOARD_MASTER_KEY".into()],
            unreadable: false,
        },
        Broken {
            name: "bad number in the environment",
            file: None,
            envs: vec![("SWITCHBOARD_SHUTDOWN_GRACE_SECS", "abc".into())],
            config_flag: None,
            needles: vec![
                "SWITCHBOARD_SHUTDOWN_GRACE_SECS".into(),
                "shutdown_grace_secs".into(),
            ],
            unreadable: false,
        },
        Broken {
            name: "missing --config file",
            file: None,
            envs: vec![],
            config_flag: Some("{dir}/missing/switchboard.toml".into()),
            needles: vec!["{dir}/missing/switchboard.toml".into()],
            unreadable: true,
        },
        Broken {
            name: "--config is a directory",
            file: None,
            envs: vec![],
            config_flag: Some("{dir}".into()),
            needles: vec!["cannot read config file".into(), "{dir}".into()],
            unreadable: true,
        },
        Broken {
            name: "missing SWITCHBOARD_CONFIG file",
            file: None,
            envs: vec![("SWITCHBOARD_CONFIG", "/nonexistent/sb.toml".into())],
            config_flag: None,
            needles: vec!["/nonexistent/sb.toml".into()],
            unreadable: true,
        },
    ]
}

fn setup(dir: &Path, c: &Broken) -> (Vec<String>, Vec<(&'static str, String)>) {
    let _ = std::fs::remove_file(dir.join("switchboard.toml"));
    if let Some(text) = c.file {
        std::fs::write(dir.join("switchboard.toml"), text).unwrap();
    }
    let d = dir.display().to_string();
    let flag = c
        .config_flag
        .as_ref()
        .map(|f| vec!["--config".to_owned(), f.replace("{dir}", &d)])
        .unwrap_or_default();
    (flag, c.envs.clone())
}

#[test]
fn config_errors_stop_serve_and_name_the_key() {
    let dir = sandbox();
    let d = dir.path().display().to_string();
    for c in broken_cases() {
        let (flag, envs) = setup(dir.path(), &c);
        let listen = format!("127.0.0.1:{}", free_port());
        let mut args: Vec<&str> = vec!["serve", "--dev", "--listen", &listen];
        args.extend(flag.iter().map(String::as_str));
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let out = run(dir.path(), &args, &envs);
        assert!(
            matches!(out.code(), Some(c) if c != 0),
            "{}: serve should fail, exited {}\n{}",
            c.name,
            out.status,
            out.stderr
        );
        for n in &c.needles {
            let n = n.replace("{dir}", &d);
            assert!(
                out.stderr.contains(&n),
                "{}: serve's stderr should name {n:?}:\n{}",
                c.name,
                out.stderr
            );
        }
        assert!(
            !dir.path().join("switchboard.dev.key").exists()
                && !dir.path().join("switchboard.db").exists(),
            "{}: serve went on after a configuration error",
            c.name
        );
    }
}

#[test]
fn config_check_reports_the_same_errors_as_problems_or_errors() {
    let dir = sandbox();
    let d = dir.path().display().to_string();
    for c in broken_cases() {
        let (flag, envs) = setup(dir.path(), &c);
        let mut args: Vec<&str> = vec!["config", "check"];
        args.extend(flag.iter().map(String::as_str));
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // A configuration read and found wrong is what the check is for (exit 1); a
        // file that cannot be read is an error (exit 2).
        let code = if c.unreadable { 2 } else { 1 };
        let out = run(dir.path(), &args, &envs);
        assert_eq!(
            out.code(),
            Some(code),
            "{}: config check exited {}\n{}",
            c.name,
            out.status,
            out.stderr
        );
        let needles: Vec<String> = c.needles.iter().map(|n| n.replace("{dir}", &d)).collect();
        for n in &needles {
            assert!(
                out.stderr.contains(n.as_str()),
                "{}: config check's stderr should name {n:?}:\n{}",
                c.name,
                out.stderr
            );
        }

        // The same through --json, on stdout: the check's report, or the CLI's JSON
        // error.
        args.push("--json");
        let out = run(dir.path(), &args, &envs);
        out.exit_code(code);
        let v = out.json();
        if c.unreadable {
            assert!(v.get("ok").is_none(), "{}: {v}", c.name);
            assert_eq!(v["error"]["code"], "unreadable_file", "{}: {v}", c.name);
        } else {
            assert_eq!(v["ok"], false, "{}: {v}", c.name);
            assert_eq!(v["error"]["code"], "invalid_config", "{}: {v}", c.name);
        }
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        for n in &needles {
            assert!(msg.contains(n.as_str()), "{}: {msg:?} lacks {n:?}", c.name);
        }
    }
}

#[test]
fn config_check_lists_sources_and_hides_the_master_key() {
    let dir = sandbox();
    let (mk, _) = master_key();
    let mk_nopad = mk.trim_end_matches('=').to_owned();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "log_level = \"debug\"\nmax_body_bytes = 4096\n",
    )
    .unwrap();
    let (old_mk, _) = master_key();
    let envs = [
        ("SWITCHBOARD_MASTER_KEY", mk.as_str()),
        ("SWITCHBOARD_OLD_MASTER_KEYS", old_mk.as_str()),
    ];
    let out = run(dir.path(), &["config", "check"], &envs);
    out.success();
    let line = |key: &str| -> String {
        out.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(key))
            .unwrap_or_else(|| panic!("no line for {key}:\n{}", out.stdout))
            .to_owned()
    };
    for key in [
        "listen",
        "database_url",
        "public_url",
        "master_key",
        "old_master_keys",
        "dev_key_file",
        "log_format",
        "log_level",
        "request_timeout_secs",
        "shutdown_grace_secs",
        "max_body_bytes",
        "allow_hosts",
    ] {
        line(key);
    }
    assert!(line("log_level").contains("debug") && line("log_level").contains("switchboard.toml"));
    assert!(line("max_body_bytes").contains("4096"));
    assert!(line("listen").contains("default"), "{}", line("listen"));
    assert!(
        line("master_key").contains("environment variable SWITCHBOARD_MASTER_KEY"),
        "{}",
        line("master_key")
    );
    assert!(
        line("old_master_keys").contains("(1 set)"),
        "{}",
        line("old_master_keys")
    );
    let old_nopad = old_mk.trim_end_matches('=');
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains(&mk_nopad) && !text.contains(old_nopad),
            "master key printed:\n{text}"
        );
    }

    let out = run(dir.path(), &["config", "check", "--json"], &envs);
    out.success();
    let v = out.json();
    assert_eq!(v["ok"], true);
    assert_eq!(
        v["keys"].as_object().map(|o| o.len()),
        Some(config::KEYS.len()),
        "{v}"
    );
    for (k, _) in config::KEYS {
        if *k != "allow_hosts" {
            assert_ne!(v["keys"][k]["value"], "", "{k} shows its value: {v}");
        }
    }
    assert_eq!(
        v["keys"]["master_key"]["source"],
        "environment variable SWITCHBOARD_MASTER_KEY"
    );
    assert_eq!(v["keys"]["log_level"]["value"], "debug");
    assert_eq!(v["keys"]["log_level"]["source"], "switchboard.toml");
    assert_eq!(v["keys"]["listen"]["source"], "default");
    assert!(!out.stdout.contains(&mk_nopad) && !out.stderr.contains(&mk_nopad));

    // Nor through a file reference or a literal in the file.
    let key_path = dir.path().join("mk.txt");
    std::fs::write(&key_path, format!("{mk}\n")).unwrap();
    for file in [
        format!("master_key = \"file:{}\"\n", key_path.display()),
        format!("master_key = \"{mk}\"\n"),
    ] {
        std::fs::write(dir.path().join("switchboard.toml"), &file).unwrap();
        for args in [&["config", "check"][..], &["config", "check", "--json"][..]] {
            let out = run(dir.path(), args, &[]);
            out.success();
            assert!(
                !out.stdout.contains(&mk_nopad) && !out.stderr.contains(&mk_nopad),
                "master key printed for {file:?}:\n{}{}",
                out.stdout,
                out.stderr
            );
        }
    }
}

#[test]
fn config_errors_never_echo_a_mistyped_secret() {
    let dir = sandbox();
    for file in [
        "master_key = 98765432123456789\n",
        "master_key = [\"s3cr3t-v4lue\"]\n",
        "old_master_keys = \"s3cr3t-v4lue\"\n",
        "master_key = \"s3cr3t-v4lue\"\n",
        "old_master_keys = [\"s3cr3t-v4lue\"]\n",
    ] {
        std::fs::write(dir.path().join("switchboard.toml"), file).unwrap();
        let out = run(dir.path(), &["config", "check"], &[]);
        out.exit_code(1);
        assert!(out.stderr.contains("master_key"), "{file}: {}", out.stderr);
        for text in [&out.stdout, &out.stderr] {
            assert!(
                !text.contains("98765432123456789") && !text.contains("s3cr3t-v4lue"),
                "{file}: the value is echoed: {text}"
            );
        }
    }
}

#[test]
fn config_default_prints_the_documented_file_and_it_is_valid() {
    let dir = sandbox();
    let out = run(dir.path(), &["config", "default"], &[]);
    out.success();
    assert!(out.stdout.contains("listen ="), "{}", out.stdout);
    assert_eq!(
        out.stdout,
        include_str!("../../../../switchboard.default.toml")
    );
    std::fs::write(dir.path().join("switchboard.toml"), &out.stdout).unwrap();
    let check = run(dir.path(), &["config", "check", "--json"], &[]);
    check.success();
    assert_eq!(check.json()["keys"]["listen"]["source"], "switchboard.toml");
}
