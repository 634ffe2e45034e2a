//! Behaviour tests for configuration loading. The process environment is never read
//! or changed: every test passes a `BTreeMap` as the [`Env`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vault::{ExposeSecret, SecretString};

use super::*;

// ---------------------------------------------------------------------------------------
// helpers

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, "t.toml", &no_env(), &Overrides::default())
}

fn parse_env(text: &str, pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_toml(text, "t.toml", &env(pairs), &Overrides::default())
}

fn ok(text: &str) -> Config {
    parse(text).unwrap_or_else(|e| panic!("{text:?} should be accepted: {e}"))
}

/// The parts of an `Invalid` error; panics on any other result.
fn invalid(r: Result<Config, ConfigError>) -> (String, String, String) {
    match r {
        Err(ConfigError::Invalid {
            key,
            origin,
            message,
        }) => (key, origin, message),
        Err(other) => panic!("expected Invalid, got {other:?}"),
        Ok(c) => panic!("expected Invalid, got a config: {c:?}"),
    }
}

/// The message of a `Parse` error; panics on any other result.
fn parse_error(r: Result<Config, ConfigError>) -> (String, String) {
    match r {
        Err(ConfigError::Parse { path, message }) => (path, message),
        Err(other) => panic!("expected Parse, got {other:?}"),
        Ok(c) => panic!("expected Parse, got a config: {c:?}"),
    }
}

fn new_key() -> String {
    vault::MasterKey::generate()
        .unwrap()
        .to_base64()
        .expose_secret()
        .to_owned()
}

/// A temporary file with `contents`, kept alive with its directory.
fn temp_file(contents: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file");
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

fn file_ref(p: &Path) -> String {
    format!("file:{}", p.display())
}

// ---------------------------------------------------------------------------------------
// defaults

#[test]
fn defaults_when_nothing_is_given() {
    let c = ok("");
    assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.database_url, "sqlite://switchboard.db");
    assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
    assert_eq!(c.public_url, "http://127.0.0.1:8080");
    assert!(c.master_key.is_none());
    assert!(c.old_master_keys.is_empty());
    assert_eq!(c.dev_key_file, PathBuf::from("switchboard.dev.key"));
    assert_eq!(c.dev_key_file, PathBuf::from(DEFAULT_DEV_KEY_FILE));
    assert_eq!(c.log_format, LogFormat::Human);
    assert_eq!(c.log_format, LogFormat::default());
    assert_eq!(c.log_level, "info");
    assert_eq!(c.request_timeout_secs, 30);
    assert_eq!(c.shutdown_grace_secs, 30);
    assert_eq!(c.max_body_bytes, 1024 * 1024);
    assert!(c.allow_hosts.is_empty());
    assert_eq!(c.file, Some(PathBuf::from("t.toml")));
}

#[test]
fn defaults_record_every_key_as_default_source() {
    let c = ok("");
    let keys: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
    let recorded: Vec<&str> = c.sources.keys().copied().collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(recorded, sorted, "every key has a recorded source");
    for (k, src) in &c.sources {
        assert_eq!(*src, Source::Default, "{k}");
    }
}

#[test]
fn public_url_default_follows_listen() {
    let c = ok("listen = \"0.0.0.0:9000\"");
    assert_eq!(c.public_url, "http://0.0.0.0:9000");
    let c = ok("listen = \"[::1]:9001\"");
    assert_eq!(c.public_url, "http://[::1]:9001");
}

#[test]
fn empty_public_url_source_is_default_even_with_env_for_others() {
    let c = parse_env("", &[("SWITCHBOARD_LOG_LEVEL", "debug")]).unwrap();
    assert_eq!(c.sources["public_url"], Source::Default);
    assert_eq!(
        c.sources["log_level"],
        Source::Env("SWITCHBOARD_LOG_LEVEL".into())
    );
}

// ---------------------------------------------------------------------------------------
// the documented default file and KEYS

#[test]
fn default_file_parses_and_equals_the_built_in_defaults() {
    let from_file = Config::from_toml(
        DEFAULT_FILE,
        "switchboard.default.toml",
        &no_env(),
        &Overrides::default(),
    )
    .unwrap();
    let builtin = ok("");
    assert_eq!(
        from_file.changed_keys(&builtin),
        Vec::<&str>::new(),
        "the default file documents the built-in defaults"
    );
    // The uncommented keys are recorded as coming from the file.
    for key in [
        "listen",
        "database_url",
        "database_max_connections",
        "database_acquire_timeout_secs",
        "database_statement_timeout_secs",
        "old_master_keys",
        "dev_key_file",
        "log_format",
        "log_level",
        "request_timeout_secs",
        "shutdown_grace_secs",
        "max_body_bytes",
        "allow_hosts",
    ] {
        assert_eq!(
            from_file.sources[key],
            Source::File("switchboard.default.toml".into()),
            "{key}"
        );
    }
    assert_eq!(from_file.sources["public_url"], Source::Default);
    assert_eq!(from_file.sources["master_key"], Source::Default);
}

#[test]
fn every_key_is_documented_in_the_default_file() {
    for (key, _) in KEYS {
        let documented = DEFAULT_FILE.lines().any(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("# ").unwrap_or(line);
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        assert!(
            documented,
            "{key} is missing from switchboard.default.toml (as `{key} =` or `# {key} =`)"
        );
    }
}

#[test]
fn every_key_assignment_in_the_default_file_is_a_known_key() {
    let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
    // Top-level keys come before the first table; table keys are tested elsewhere.
    for line in DEFAULT_FILE
        .lines()
        .take_while(|l| !l.trim_start_matches("# ").starts_with("[["))
    {
        let l = line.trim_start();
        let l = l.strip_prefix("# ").unwrap_or(l);
        let Some((lhs, _)) = l.split_once(" = ") else {
            continue;
        };
        if lhs
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            assert!(known.contains(&lhs), "{lhs} is documented but not in KEYS");
        }
    }
}

/// The fields of [`RawConfig`], written out. The exhaustive destructuring below stops
/// compiling when a field is added or renamed, so this list cannot go stale.
const RAW_FIELDS: &[&str] = &[
    "listen",
    "database_url",
    "database_max_connections",
    "database_acquire_timeout_secs",
    "database_statement_timeout_secs",
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
    "outbound_timeout_secs",
    "token_refresh_margin_secs",
    "refresh_lease_secs",
    "connect_session_ttl_secs",
    "background_refresh_interval_secs",
    "background_refresh_concurrency",
    "proxy_max_wait_secs",
    "proxy_max_body_bytes",
    "proxy_redact_query",
    "api_key_cache_secs",
    "instance_heartbeat_ms",
    "metrics_listen",
    "metrics_key",
    "payload_retention_days",
    "retention_sweep_interval_secs",
];

#[test]
fn every_file_field_is_in_keys_and_back() {
    let RawConfig {
        listen: _,
        database_url: _,
        database_max_connections: _,
        database_acquire_timeout_secs: _,
        database_statement_timeout_secs: _,
        public_url: _,
        master_key: _,
        old_master_keys: _,
        dev_key_file: _,
        log_format: _,
        log_level: _,
        request_timeout_secs: _,
        shutdown_grace_secs: _,
        max_body_bytes: _,
        allow_hosts: _,
        providers: _,
        integrations: _,
        destinations: _,
        mappings: _,
        outbound_timeout_secs: _,
        token_refresh_margin_secs: _,
        refresh_lease_secs: _,
        connect_session_ttl_secs: _,
        background_refresh_interval_secs: _,
        background_refresh_concurrency: _,
        proxy_max_wait_secs: _,
        proxy_max_body_bytes: _,
        proxy_redact_query: _,
        api_key_cache_secs: _,
        instance_heartbeat_ms: _,
        metrics_listen: _,
        metrics_key: _,
        payload_retention_days: _,
        retention_sweep_interval_secs: _,
        branding: _,
        // `[console]`: a section of its own, from the file only (tested below).
        console: _,
    } = RawConfig::default();
    let keys: Vec<&str> = KEYS
        .iter()
        .map(|(k, _)| *k)
        .chain(TABLES.iter().copied())
        .collect();
    let fields: Vec<&str> = RAW_FIELDS.iter().chain(TABLES).copied().collect();
    assert_eq!(
        keys, fields,
        "KEYS and the file's fields are the same, in order"
    );
}

#[test]
fn keys_kinds_match_the_file_types() {
    // A document that gives every key a value of its KEYS kind parses, so the kinds
    // agree with the field types (deny_unknown_fields also proves the names exist).
    let key = new_key();
    let mut doc = String::new();
    for (k, kind) in KEYS {
        let v = match (*k, kind) {
            ("listen", _) => "\"127.0.0.1:1\"".to_owned(),
            ("database_url", _) => "\"sqlite://x.db\"".to_owned(),
            ("public_url", _) => "\"https://h.example\"".to_owned(),
            ("master_key", _) => format!("{key:?}"),
            ("old_master_keys", _) => format!("[{key:?}]"),
            ("log_format", _) => "\"json\"".to_owned(),
            ("metrics_listen", _) => "\"127.0.0.1:2\"".to_owned(),
            ("metrics_key", _) => "\"0123456789abcdef0123\"".to_owned(),
            (_, Kind::Str) => "\"x\"".to_owned(),
            ("outbound_timeout_secs", _) => "20".to_owned(),
            ("refresh_lease_secs" | "background_refresh_concurrency", _) => "60".to_owned(),
            (_, Kind::Int) => "3000".to_owned(),
            (_, Kind::List) => "[\"h\"]".to_owned(),
        };
        doc.push_str(&format!("{k} = {v}\n"));
    }
    let c = ok(&doc);
    for (k, _) in KEYS {
        assert_eq!(c.sources[k], Source::File("t.toml".into()), "{k}");
    }
    assert_eq!(c.max_body_bytes, 3000);
    assert_eq!(c.allow_hosts, vec!["h".to_owned()]);
}

#[test]
fn env_name_is_prefixed_upper_case() {
    assert_eq!(env_name("listen"), "SWITCHBOARD_LISTEN");
    assert_eq!(env_name("old_master_keys"), "SWITCHBOARD_OLD_MASTER_KEYS");
    assert_eq!(
        env_name("request_timeout_secs"),
        "SWITCHBOARD_REQUEST_TIMEOUT_SECS"
    );
}

// ---------------------------------------------------------------------------------------
// precedence and sources

#[test]
fn file_values_win_over_defaults() {
    let c = ok(r#"
listen = "0.0.0.0:9000"
database_url = "sqlite://other.db"
public_url = "https://sb.example.com"
dev_key_file = "/tmp/dev.key"
log_format = "json"
log_level = "debug"
request_timeout_secs = 10
shutdown_grace_secs = 0
max_body_bytes = 2048
allow_hosts = ["localhost", "10.0.0.1"]
"#);
    assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(c.database_url, "sqlite://other.db");
    assert_eq!(c.public_url, "https://sb.example.com");
    assert_eq!(c.dev_key_file, PathBuf::from("/tmp/dev.key"));
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.log_level, "debug");
    assert_eq!(c.request_timeout_secs, 10);
    assert_eq!(c.shutdown_grace_secs, 0);
    assert_eq!(c.max_body_bytes, 2048);
    assert_eq!(c.allow_hosts, vec!["localhost", "10.0.0.1"]);
    for k in [
        "listen",
        "database_url",
        "public_url",
        "dev_key_file",
        "log_format",
        "log_level",
        "request_timeout_secs",
        "shutdown_grace_secs",
        "max_body_bytes",
        "allow_hosts",
    ] {
        assert_eq!(c.sources[k], Source::File("t.toml".into()), "{k}");
    }
    assert_eq!(c.sources["master_key"], Source::Default);
}

#[test]
fn env_wins_over_file() {
    let file = r#"
listen = "0.0.0.0:9000"
database_url = "sqlite://file.db"
public_url = "https://file.example.com"
dev_key_file = "file.key"
log_format = "json"
log_level = "debug"
request_timeout_secs = 10
shutdown_grace_secs = 11
max_body_bytes = 2048
allow_hosts = ["file.example.com"]
database_max_connections = 9
"#;
    let c = parse_env(
        file,
        &[
            ("SWITCHBOARD_LISTEN", "127.0.0.1:7000"),
            ("SWITCHBOARD_DATABASE_URL", "postgres://db/sb"),
            ("SWITCHBOARD_DATABASE_MAX_CONNECTIONS", "24"),
            ("SWITCHBOARD_DATABASE_ACQUIRE_TIMEOUT_SECS", "25"),
            ("SWITCHBOARD_DATABASE_STATEMENT_TIMEOUT_SECS", "26"),
            ("SWITCHBOARD_PUBLIC_URL", "https://env.example.com"),
            ("SWITCHBOARD_DEV_KEY_FILE", "env.key"),
            ("SWITCHBOARD_LOG_FORMAT", "human"),
            ("SWITCHBOARD_LOG_LEVEL", "warn"),
            ("SWITCHBOARD_REQUEST_TIMEOUT_SECS", "20"),
            ("SWITCHBOARD_SHUTDOWN_GRACE_SECS", "21"),
            ("SWITCHBOARD_MAX_BODY_BYTES", "4096"),
            ("SWITCHBOARD_ALLOW_HOSTS", "env.example.com"),
            ("SWITCHBOARD_OUTBOUND_TIMEOUT_SECS", "12"),
            ("SWITCHBOARD_TOKEN_REFRESH_MARGIN_SECS", "13"),
            ("SWITCHBOARD_REFRESH_LEASE_SECS", "14"),
            ("SWITCHBOARD_CONNECT_SESSION_TTL_SECS", "150"),
            ("SWITCHBOARD_BACKGROUND_REFRESH_INTERVAL_SECS", "16"),
            ("SWITCHBOARD_BACKGROUND_REFRESH_CONCURRENCY", "17"),
            ("SWITCHBOARD_PROXY_MAX_WAIT_SECS", "18"),
            ("SWITCHBOARD_PROXY_MAX_BODY_BYTES", "19000"),
            ("SWITCHBOARD_PROXY_REDACT_QUERY", "sig"),
            ("SWITCHBOARD_API_KEY_CACHE_SECS", "22"),
            ("SWITCHBOARD_INSTANCE_HEARTBEAT_MS", "230"),
            ("SWITCHBOARD_METRICS_LISTEN", "127.0.0.1:9464"),
            ("SWITCHBOARD_METRICS_KEY", "metrics-key-from-the-env"),
            ("SWITCHBOARD_PAYLOAD_RETENTION_DAYS", "7"),
            ("SWITCHBOARD_RETENTION_SWEEP_INTERVAL_SECS", "60"),
        ],
    )
    .unwrap();
    assert_eq!((c.proxy_max_wait_secs, c.proxy_max_body_bytes), (18, 19000));
    assert_eq!(c.api_key_cache_secs, 22);
    assert_eq!(c.instance_heartbeat_ms, 230);
    assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
    assert!(c.metrics_key.is_some());
    assert_eq!(c.payload_retention_days, 7);
    assert_eq!(c.retention_sweep_interval_secs, 60);
    assert_eq!(c.proxy_redact_query, ["sig"]);
    assert_eq!(c.listen.to_string(), "127.0.0.1:7000");
    assert_eq!(c.database_url, "postgres://db/sb");
    assert_eq!(
        (
            c.database_max_connections,
            c.database_acquire_timeout_secs,
            c.database_statement_timeout_secs
        ),
        (24, 25, 26)
    );
    assert_eq!(c.public_url, "https://env.example.com");
    assert_eq!(c.dev_key_file, PathBuf::from("env.key"));
    assert_eq!(c.log_format, LogFormat::Human);
    assert_eq!(c.log_level, "warn");
    assert_eq!(c.request_timeout_secs, 20);
    assert_eq!(c.shutdown_grace_secs, 21);
    assert_eq!(c.max_body_bytes, 4096);
    assert_eq!(c.allow_hosts, vec!["env.example.com"]);
    assert_eq!(
        (
            c.outbound_timeout_secs,
            c.token_refresh_margin_secs,
            c.refresh_lease_secs,
            c.connect_session_ttl_secs,
            c.background_refresh_interval_secs,
            c.background_refresh_concurrency
        ),
        (12, 13, 14, 150, 16, 17)
    );
    for (k, _) in KEYS {
        if *k == "master_key" || *k == "old_master_keys" {
            continue;
        }
        assert_eq!(c.sources[k], Source::Env(env_name(k)), "{k}");
    }
}

#[test]
fn flags_win_over_env_and_file() {
    let ov = Overrides {
        listen: Some("127.0.0.1:6000".into()),
        database_url: Some("sqlite://flag.db".into()),
        log_format: Some("json".into()),
    };
    let e = env(&[
        ("SWITCHBOARD_LISTEN", "127.0.0.1:7000"),
        ("SWITCHBOARD_DATABASE_URL", "sqlite://env.db"),
        ("SWITCHBOARD_LOG_FORMAT", "human"),
    ]);
    let c = Config::from_toml(
        "listen = \"127.0.0.1:8000\"\ndatabase_url = \"sqlite://file.db\"\nlog_format = \"human\"\n",
        "t.toml",
        &e,
        &ov,
    )
    .unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:6000");
    assert_eq!(c.database_url, "sqlite://flag.db");
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.sources["listen"], Source::Flag("--listen".into()));
    assert_eq!(
        c.sources["database_url"],
        Source::Flag("--database-url".into())
    );
    assert_eq!(c.sources["log_format"], Source::Flag("--log-format".into()));
    // The default public_url follows the winning listen address.
    assert_eq!(c.public_url, "http://127.0.0.1:6000");
}

#[test]
fn precedence_layer_by_layer_for_one_key() {
    let file = "listen = \"127.0.0.1:8001\"";
    let e = env(&[("SWITCHBOARD_LISTEN", "127.0.0.1:8002")]);
    let flag = Overrides {
        listen: Some("127.0.0.1:8003".into()),
        ..Overrides::default()
    };
    let none = Overrides::default();

    let c = Config::from_toml("", "t.toml", &no_env(), &none).unwrap();
    assert_eq!(
        (c.listen.port(), &c.sources["listen"]),
        (8080, &Source::Default)
    );
    let c = Config::from_toml(file, "t.toml", &no_env(), &none).unwrap();
    assert_eq!(
        (c.listen.port(), &c.sources["listen"]),
        (8001, &Source::File("t.toml".into()))
    );
    let c = Config::from_toml(file, "t.toml", &e, &none).unwrap();
    assert_eq!(
        (c.listen.port(), &c.sources["listen"]),
        (8002, &Source::Env("SWITCHBOARD_LISTEN".into()))
    );
    let c = Config::from_toml(file, "t.toml", &e, &flag).unwrap();
    assert_eq!(
        (c.listen.port(), &c.sources["listen"]),
        (8003, &Source::Flag("--listen".into()))
    );
    // A flag alone (no env, no file) also wins over the default.
    let c = Config::from_toml("", "t.toml", &no_env(), &flag).unwrap();
    assert_eq!(c.listen.port(), 8003);
}

#[test]
fn env_for_unrelated_names_is_ignored() {
    let c = parse_env(
        "",
        &[
            ("LISTEN", "127.0.0.1:1"),
            ("switchboard_listen", "127.0.0.1:2"),
            ("SWITCHBOARD_LISTEN_X", "127.0.0.1:3"),
        ],
    )
    .unwrap();
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
}

#[test]
fn source_display_names_the_origin() {
    assert_eq!(Source::Default.to_string(), "default");
    assert_eq!(
        Source::File("/etc/sb.toml".into()).to_string(),
        "/etc/sb.toml"
    );
    assert_eq!(
        Source::Env("SWITCHBOARD_LISTEN".into()).to_string(),
        "environment variable SWITCHBOARD_LISTEN"
    );
    assert_eq!(Source::Flag("--listen".into()).to_string(), "flag --listen");
}

#[test]
fn process_env_reads_the_real_environment() {
    // Reading only; the environment is never changed.
    assert_eq!(ProcessEnv.var("PATH"), std::env::var("PATH").ok());
    assert_eq!(ProcessEnv.var("SWITCHBOARD_TEST_SURELY_UNSET_7F3A9C"), None);
}

#[test]
fn btreemap_env_returns_values() {
    let e = env(&[("A", "1"), ("EMPTY", "")]);
    assert_eq!(e.var("A").as_deref(), Some("1"));
    assert_eq!(e.var("EMPTY").as_deref(), Some(""));
    assert_eq!(e.var("B"), None);
}

// ---------------------------------------------------------------------------------------
// parse errors

#[test]
fn unknown_key_names_the_key_and_line_and_says_to_fix_spelling() {
    let text = "listen = \"127.0.0.1:8080\"\n\nlisten_adress = \"x\"\n";
    let (path, message) = parse_error(parse(text));
    assert_eq!(path, "t.toml");
    assert!(message.contains("listen_adress"), "{message}");
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("fix its spelling"), "{message}");
    assert!(message.contains("switchboard.default.toml"), "{message}");
    let shown = ConfigError::Parse {
        path: path.clone(),
        message: message.clone(),
    }
    .to_string();
    assert!(shown.starts_with("t.toml: "), "{shown}");
}

#[test]
fn unknown_key_on_the_first_line() {
    let (_, message) = parse_error(parse("colour = 1"));
    assert!(message.contains("line 1"), "{message}");
    assert!(message.contains("colour"), "{message}");
}

#[test]
fn wrong_type_is_a_parse_error_with_the_line() {
    for (text, line) in [
        ("listen = 5", 1),
        ("\nrequest_timeout_secs = \"ten\"", 2),
        ("\n\nmax_body_bytes = -1", 3),
        ("allow_hosts = \"a.example.com\"", 1),
        ("log_level = true", 1),
    ] {
        let (path, m) = parse_error(parse(text));
        assert_eq!(path, "t.toml");
        assert!(m.contains(&format!("line {line}")), "{text}: {m}");
        assert!(m.contains("wrong type, expected"), "{text}: {m}");
        assert!(!m.contains("fix its spelling"), "{m}");
    }
}

/// The message points at the value (`line 1, `5`: invalid type: integer `5`, expected a
/// string`) and never says which key it belongs to, although `ConfigError::Parse`
/// promises "the parser's message, which names the key and the line".
#[test]
fn wrong_type_names_the_key() {
    for (text, key) in [
        ("listen = 5", "listen"),
        ("request_timeout_secs = \"ten\"", "request_timeout_secs"),
        ("max_body_bytes = -1", "max_body_bytes"),
        ("allow_hosts = \"a.example.com\"", "allow_hosts"),
    ] {
        let (_, m) = parse_error(parse(text));
        assert!(m.contains(key), "{text}: {m}");
    }
}

#[test]
fn invalid_toml_is_a_parse_error_with_a_line() {
    let (path, m) = parse_error(parse("listen = \"127.0.0.1:8080\"\nlog_level = \n"));
    assert_eq!(path, "t.toml");
    assert!(m.contains("line 2"), "{m}");
    let (_, m) = parse_error(parse("listen = \"unterminated"));
    assert!(m.contains("line 1"), "{m}");
    let (_, m) = parse_error(parse("[section\n"));
    assert!(!m.is_empty());
    // A duplicate key is invalid TOML too.
    let (_, m) = parse_error(parse("log_level = \"a\"\nlog_level = \"b\"\n"));
    assert!(m.contains("line 2"), "{m}");
}

#[test]
fn parse_error_of_a_wrong_type_secret_does_not_show_the_secret() {
    // A common mistake: one key as a string where a list is expected.
    let key = new_key();
    let text = format!("old_master_keys = {key:?}\n");
    let err = parse(&text).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }));
    assert!(
        !err.to_string().contains(&key),
        "the parse error prints the key: {err}"
    );
}

#[test]
fn parse_error_of_a_wrong_type_master_key_does_not_show_the_secret() {
    let key = new_key();
    let text = format!("master_key = [{key:?}]\n");
    let err = parse(&text).unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }));
    assert!(
        !err.to_string().contains(&key),
        "the parse error prints the key: {err}"
    );
}

// ---------------------------------------------------------------------------------------
// validation

#[test]
fn bad_listen_names_listen_and_its_origin() {
    let (key, origin, m) = invalid(parse("listen = \"localhost:8080\""));
    assert_eq!(key, "listen");
    assert_eq!(origin, "t.toml");
    assert!(m.contains("localhost:8080") && m.contains("IP:PORT"), "{m}");

    let (key, origin, _) = invalid(parse_env("", &[("SWITCHBOARD_LISTEN", "8080")]));
    assert_eq!(key, "listen");
    assert_eq!(origin, "environment variable SWITCHBOARD_LISTEN");

    let (_, origin, _) = invalid(Config::from_toml(
        "",
        "t.toml",
        &no_env(),
        &Overrides {
            listen: Some("nope".into()),
            ..Overrides::default()
        },
    ));
    assert_eq!(origin, "flag --listen");

    for bad in ["", "127.0.0.1", "127.0.0.1:99999", "::1:80", "1.2.3.4:-1"] {
        let (key, _, _) = invalid(parse(&format!("listen = {bad:?}")));
        assert_eq!(key, "listen", "{bad:?}");
    }
}

#[test]
fn invalid_display_has_key_origin_and_message() {
    let err = parse_env("", &[("SWITCHBOARD_LISTEN", "nope")]).unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.starts_with("listen (from environment variable SWITCHBOARD_LISTEN): "),
        "{shown}"
    );
}

#[test]
fn database_url_scheme_is_checked() {
    for good in [
        "sqlite://switchboard.db",
        "sqlite::memory:",
        "sqlite:relative.db",
        "postgres://u@h/db",
        "postgresql://u@h/db",
    ] {
        let c = ok(&format!("database_url = {good:?}"));
        assert_eq!(c.database_url, good);
    }
    for bad in [
        "mysql://h/db",
        "switchboard.db",
        "",
        "SQLITE://x",
        "postgres:/x",
    ] {
        let (key, origin, m) = invalid(parse(&format!("database_url = {bad:?}")));
        assert_eq!(key, "database_url", "{bad:?}");
        assert_eq!(origin, "t.toml");
        assert!(m.contains("sqlite://") && m.contains("postgres://"), "{m}");
    }
    let (_, origin, _) = invalid(Config::from_toml(
        "",
        "t.toml",
        &no_env(),
        &Overrides {
            database_url: Some("mongodb://x".into()),
            ..Overrides::default()
        },
    ));
    assert_eq!(origin, "flag --database-url");
}

#[test]
fn database_pool_keys_default_and_are_read_from_every_layer() {
    let c = ok("");
    assert_eq!(c.database_max_connections, 16);
    assert_eq!(c.database_acquire_timeout_secs, 15);
    assert_eq!(c.database_statement_timeout_secs, 30);
    let c = parse_env(
        "database_url = \"postgres://u@h/db\"\ndatabase_max_connections = 40\n\
         database_statement_timeout_secs = 0\n",
        &[
            ("SWITCHBOARD_DATABASE_MAX_CONNECTIONS", "8"),
            ("SWITCHBOARD_DATABASE_ACQUIRE_TIMEOUT_SECS", " 5 "),
        ],
    )
    .unwrap();
    // The environment wins over the file; 0 keeps the server's statement timeout.
    assert_eq!(c.database_max_connections, 8);
    assert_eq!(c.database_acquire_timeout_secs, 5);
    assert_eq!(c.database_statement_timeout_secs, 0);
    assert_eq!(
        c.sources["database_max_connections"],
        Source::Env("SWITCHBOARD_DATABASE_MAX_CONNECTIONS".into())
    );
    assert_eq!(
        c.sources["database_statement_timeout_secs"],
        Source::File("t.toml".into())
    );
}

#[test]
fn bad_database_pool_values_name_the_key_and_the_range() {
    for (line, key, needle) in [
        (
            "database_max_connections = 0",
            "database_max_connections",
            "2..=10000",
        ),
        (
            "database_max_connections = 1",
            "database_max_connections",
            "2..=10000",
        ),
        (
            "database_max_connections = 10001",
            "database_max_connections",
            "2..=10000",
        ),
        (
            "database_acquire_timeout_secs = 0",
            "database_acquire_timeout_secs",
            "1..=3600",
        ),
        (
            "database_statement_timeout_secs = 86401",
            "database_statement_timeout_secs",
            "0..=86400",
        ),
    ] {
        // On PostgreSQL, and on SQLite too (a bad value must not wait for the day the
        // URL changes).
        for url in ["postgres://u@h/db", "sqlite://x.db"] {
            let (k, origin, m) = invalid(parse(&format!("database_url = {url:?}\n{line}")));
            assert_eq!(k, key, "{line}");
            assert_eq!(origin, "t.toml", "{line}");
            assert!(m.contains("out of range") && m.contains(needle), "{m}");
        }
    }
    // A wrong type in the file names the key and line, never the value.
    let (_, m) = parse_error(parse("database_statement_timeout_secs = \"15s\""));
    assert!(m.contains("database_statement_timeout_secs"), "{m}");
    assert!(!m.contains("15s"), "{m}");
    // From the environment: the variable is named.
    let (k, origin, m) = invalid(parse_env(
        "",
        &[("SWITCHBOARD_DATABASE_STATEMENT_TIMEOUT_SECS", "15s")],
    ));
    assert_eq!(k, "database_statement_timeout_secs");
    assert_eq!(
        origin,
        "environment variable SWITCHBOARD_DATABASE_STATEMENT_TIMEOUT_SECS"
    );
    assert!(m.contains("not a whole number"), "{m}");
    // A negative number is refused too.
    let (k, _, _) = invalid(parse_env(
        "",
        &[("SWITCHBOARD_DATABASE_MAX_CONNECTIONS", "-4")],
    ));
    assert_eq!(k, "database_max_connections");
}

#[test]
fn database_pool_keys_set_for_sqlite_are_reported_as_ignored() {
    // Defaults are not "set": nothing to report.
    assert!(ok("").ignored_database_keys().is_empty());
    let text = "database_max_connections = 4\ndatabase_statement_timeout_secs = 5\n";
    let sqlite = ok(text);
    assert!(!sqlite.is_postgres());
    assert_eq!(
        sqlite.ignored_database_keys(),
        vec![
            "database_max_connections",
            "database_statement_timeout_secs"
        ]
    );
    let from_env = parse_env("", &[("SWITCHBOARD_DATABASE_ACQUIRE_TIMEOUT_SECS", "3")]).unwrap();
    assert_eq!(
        from_env.ignored_database_keys(),
        vec!["database_acquire_timeout_secs"]
    );
    for url in ["postgres://u@h/db", "postgresql://u@h/db"] {
        let pg = ok(&format!("database_url = {url:?}\n{text}"));
        assert!(pg.is_postgres());
        assert!(pg.ignored_database_keys().is_empty(), "{url}");
    }
    for k in DATABASE_POOL_KEYS {
        assert!(KEYS.iter().any(|(key, _)| key == k), "{k} is not in KEYS");
    }
}

#[test]
fn public_url_without_scheme_is_refused() {
    let (key, origin, m) = invalid(parse("public_url = \"switchboard.example.com\""));
    assert_eq!(key, "public_url");
    assert_eq!(origin, "t.toml");
    assert!(m.contains("is not a URL"), "{m}");
    assert!(m.contains("https://switchboard.example.com"), "{m}");
    // `host:port` parses as a URL whose scheme is the host: refused too.
    let (key, _, m) = invalid(parse("public_url = \"localhost:8080\""));
    assert_eq!(key, "public_url");
    assert!(m.contains("http:// or https://"), "{m}");
}

#[test]
fn public_url_must_be_http_or_https_with_a_host() {
    for bad in [
        "ftp://files.example.com",
        "file:///etc/passwd",
        "mailto:a@example.com",
        "data:text/plain,hi",
    ] {
        let (key, _, m) = invalid(parse(&format!("public_url = {bad:?}")));
        assert_eq!(key, "public_url", "{bad}");
        assert!(m.contains("http:// or https://"), "{bad}: {m}");
    }
    let (_, _, m) = invalid(parse("public_url = \"http://\""));
    assert!(m.contains("is not a URL"), "{m}");
}

#[test]
fn public_url_must_not_have_query_or_fragment() {
    for bad in [
        "https://sb.example.com/?a=1",
        "https://sb.example.com?",
        "https://sb.example.com/#frag",
    ] {
        let (key, _, m) = invalid(parse(&format!("public_url = {bad:?}")));
        assert_eq!(key, "public_url");
        assert!(m.contains("query or fragment"), "{bad}: {m}");
    }
}

#[test]
fn public_url_trailing_slash_is_removed() {
    assert_eq!(
        ok("public_url = \"https://sb.example.com/\"").public_url,
        "https://sb.example.com"
    );
    assert_eq!(
        ok("public_url = \"https://sb.example.com/base//\"").public_url,
        "https://sb.example.com/base"
    );
    assert_eq!(
        ok("public_url = \"http://127.0.0.1:9000\"").public_url,
        "http://127.0.0.1:9000"
    );
    let c = parse_env(
        "",
        &[("SWITCHBOARD_PUBLIC_URL", "https://env.example.com/sb/")],
    )
    .unwrap();
    assert_eq!(c.public_url, "https://env.example.com/sb");
    assert_eq!(
        c.sources["public_url"],
        Source::Env("SWITCHBOARD_PUBLIC_URL".into())
    );
}

#[test]
fn log_format_is_checked() {
    assert_eq!(ok("log_format = \"json\"").log_format, LogFormat::Json);
    assert_eq!(ok("log_format = \"human\"").log_format, LogFormat::Human);
    for bad in ["JSON", "text", "", "pretty"] {
        let (key, origin, m) = invalid(parse(&format!("log_format = {bad:?}")));
        assert_eq!(key, "log_format");
        assert_eq!(origin, "t.toml");
        assert!(m.contains("\"human\" or \"json\""), "{m}");
    }
    let (_, origin, _) = invalid(parse_env("", &[("SWITCHBOARD_LOG_FORMAT", "xml")]));
    assert_eq!(origin, "environment variable SWITCHBOARD_LOG_FORMAT");
    let (_, origin, _) = invalid(Config::from_toml(
        "",
        "t.toml",
        &no_env(),
        &Overrides {
            log_format: Some("xml".into()),
            ..Overrides::default()
        },
    ));
    assert_eq!(origin, "flag --log-format");
}

#[test]
fn log_format_parse() {
    assert_eq!(LogFormat::parse("human"), Some(LogFormat::Human));
    assert_eq!(LogFormat::parse("json"), Some(LogFormat::Json));
    assert_eq!(LogFormat::parse("Json"), None);
}

#[test]
fn empty_log_level_is_refused() {
    for bad in ["", "   ", "\t"] {
        let (key, origin, m) = invalid(parse(&format!("log_level = {bad:?}")));
        assert_eq!(key, "log_level");
        assert_eq!(origin, "t.toml");
        assert!(m.contains("is empty"), "{m}");
    }
    let (_, origin, _) = invalid(parse_env("", &[("SWITCHBOARD_LOG_LEVEL", "")]));
    assert_eq!(origin, "environment variable SWITCHBOARD_LOG_LEVEL");
    assert_eq!(
        ok("log_level = \"switchboard=debug,info\"").log_level,
        "switchboard=debug,info"
    );
}

#[test]
fn int_ranges_are_enforced() {
    // (key, lowest ok, highest ok)
    let cases = [
        ("request_timeout_secs", 1u64, 3600u64),
        ("shutdown_grace_secs", 0, 3600),
        ("max_body_bytes", 1024, 1024 * 1024 * 1024),
        ("instance_heartbeat_ms", 100, 60_000),
    ];
    assert_eq!(ok("").instance_heartbeat_ms, 1000);
    for (key, lo, hi) in cases {
        ok(&format!("{key} = {lo}"));
        ok(&format!("{key} = {hi}"));
        let (k, origin, m) = invalid(parse(&format!("{key} = {}", hi + 1)));
        assert_eq!((k.as_str(), origin.as_str()), (key, "t.toml"));
        assert!(
            m.contains("out of range") && m.contains(&format!("{lo}..={hi}")),
            "{m}"
        );
        if lo > 0 {
            let (k, _, m) = invalid(parse(&format!("{key} = {}", lo - 1)));
            assert_eq!(k, key);
            assert!(m.contains("out of range"), "{m}");
        }
        // The same bounds apply to values from the environment.
        let var = env_name(key);
        let (k, origin, _) = invalid(parse_env("", &[(&var, &(hi + 1).to_string())]));
        assert_eq!(k, key);
        assert_eq!(origin, format!("environment variable {var}"));
    }
}

#[test]
fn int_values_from_env_are_parsed_and_trimmed() {
    let c = parse_env(
        "request_timeout_secs = 5",
        &[
            ("SWITCHBOARD_REQUEST_TIMEOUT_SECS", " 45 "),
            ("SWITCHBOARD_SHUTDOWN_GRACE_SECS", "0"),
            ("SWITCHBOARD_MAX_BODY_BYTES", "65536"),
        ],
    )
    .unwrap();
    assert_eq!(c.request_timeout_secs, 45);
    assert_eq!(c.shutdown_grace_secs, 0);
    assert_eq!(c.max_body_bytes, 65536);
}

#[test]
fn non_numeric_env_values_name_the_variable() {
    for (key, _) in KEYS.iter().filter(|(_, k)| *k == Kind::Int) {
        let var = env_name(key);
        for bad in ["abc", "-1", "1e3", "", "12.5", "99999999999999999999999"] {
            let (k, origin, m) = invalid(parse_env("", &[(&var, bad)]));
            assert_eq!(k, *key, "{bad:?}");
            assert_eq!(origin, format!("environment variable {var}"));
            assert!(m.contains("is not a whole number"), "{m}");
            assert!(m.contains(&format!("{bad:?}")), "{m}");
            let shown = ConfigError::Invalid {
                key: k,
                origin,
                message: m,
            }
            .to_string();
            assert!(shown.contains(&var), "{shown}");
        }
    }
}

#[test]
fn allow_hosts_entries_are_checked() {
    let c = ok("allow_hosts = [\"api.example.com\", \"127.0.0.1\", \"localhost\"]");
    assert_eq!(
        c.allow_hosts,
        vec!["api.example.com", "127.0.0.1", "localhost"]
    );
    for (list, index) in [
        ("[\"https://api.example.com\"]", 0),
        ("[\"ok.example.com\", \"a/b\"]", 1),
        ("[\"ok.example.com\", \"ok2\", \"bad host\"]", 2),
        ("[\"tab\\there\"]", 0),
        ("[\"\"]", 0),
    ] {
        let (key, _, m) = invalid(parse(&format!("allow_hosts = {list}")));
        assert_eq!(key, format!("allow_hosts[{index}]"), "{list}");
        assert!(m.contains("not a host name"), "{m}");
    }
}

#[test]
fn allow_hosts_error_from_env_names_the_variable() {
    let (key, origin, _) = invalid(parse_env(
        "",
        &[("SWITCHBOARD_ALLOW_HOSTS", "good.example.com, bad/host")],
    ));
    assert_eq!(key, "allow_hosts[1]");
    assert_eq!(origin, "environment variable SWITCHBOARD_ALLOW_HOSTS");
}

#[test]
fn allow_hosts_error_from_file_names_the_file() {
    let (key, origin, _) = invalid(parse("allow_hosts = [\"a/b\"]"));
    assert_eq!(key, "allow_hosts[0]");
    assert_eq!(origin, "t.toml");
}

#[test]
fn list_keys_from_env_are_comma_separated() {
    let k1 = new_key();
    let k2 = new_key();
    let c = parse_env(
        "allow_hosts = [\"file.example.com\"]",
        &[
            (
                "SWITCHBOARD_ALLOW_HOSTS",
                " a.example.com, b.example.com,,c ,",
            ),
            ("SWITCHBOARD_OLD_MASTER_KEYS", &format!("{k1}, {k2}")),
        ],
    )
    .unwrap();
    assert_eq!(c.allow_hosts, vec!["a.example.com", "b.example.com", "c"]);
    assert_eq!(
        c.sources["allow_hosts"],
        Source::Env("SWITCHBOARD_ALLOW_HOSTS".into())
    );
    let olds: Vec<&str> = c
        .old_master_keys
        .iter()
        .map(|s| s.expose_secret())
        .collect();
    assert_eq!(olds, vec![k1.as_str(), k2.as_str()]);
    assert_eq!(
        c.sources["old_master_keys"],
        Source::Env("SWITCHBOARD_OLD_MASTER_KEYS".into())
    );
    // An empty env value is an empty list and still wins over the file.
    let c = parse_env(
        "allow_hosts = [\"file.example.com\"]",
        &[("SWITCHBOARD_ALLOW_HOSTS", "")],
    )
    .unwrap();
    assert!(c.allow_hosts.is_empty());
}

#[test]
fn list_keys_from_file_record_the_file() {
    let k = new_key();
    let c = ok(&format!(
        "old_master_keys = [{k:?}]\nallow_hosts = [\"h.example.com\"]"
    ));
    assert_eq!(c.old_master_keys.len(), 1);
    assert_eq!(c.old_master_keys[0].expose_secret(), k);
    assert_eq!(c.sources["old_master_keys"], Source::File("t.toml".into()));
    assert_eq!(c.sources["allow_hosts"], Source::File("t.toml".into()));
    let c = ok("old_master_keys = []\nallow_hosts = []");
    assert!(c.old_master_keys.is_empty() && c.allow_hosts.is_empty());
    assert_eq!(c.sources["old_master_keys"], Source::File("t.toml".into()));
}

// ---------------------------------------------------------------------------------------
// secrets

fn resolve(value: &str, e: &BTreeMap<String, String>) -> Result<SecretString, ConfigError> {
    resolve_secret("k", &Source::File("t.toml".into()), value, e)
}

fn resolve_err(value: &str, e: &BTreeMap<String, String>) -> String {
    match resolve(value, e) {
        Err(ConfigError::Invalid {
            key,
            origin,
            message,
        }) => {
            assert_eq!(key, "k");
            assert_eq!(origin, "t.toml");
            message
        }
        Err(other) => panic!("expected Invalid, got {other:?}"),
        Ok(_) => panic!("{value:?} should not resolve"),
    }
}

#[test]
fn secret_from_env_reference() {
    let e = env(&[("MY_SECRET", "hunter2-value"), ("EMPTY_SECRET", "")]);
    assert_eq!(
        resolve("env:MY_SECRET", &e).unwrap().expose_secret(),
        "hunter2-value"
    );
    let m = resolve_err("env:MISSING_SECRET", &e);
    assert!(
        m.contains("MISSING_SECRET") && m.contains("is not set"),
        "{m}"
    );
    let m = resolve_err("env:EMPTY_SECRET", &e);
    assert!(m.contains("EMPTY_SECRET") && m.contains("is empty"), "{m}");
    let m = resolve_err("env:", &e);
    assert!(m.contains("needs a variable name"), "{m}");
}

#[test]
fn secret_from_file_reference() {
    let (_d1, p) = temp_file("file-secret-value\n");
    assert_eq!(
        resolve(&file_ref(&p), &no_env()).unwrap().expose_secret(),
        "file-secret-value"
    );
    let (_d2, p) = temp_file("crlf-value\r\n\n");
    assert_eq!(
        resolve(&file_ref(&p), &no_env()).unwrap().expose_secret(),
        "crlf-value"
    );
    // Only line endings are trimmed; other whitespace is part of the value.
    let (_d3, p) = temp_file(" spaced \n");
    assert_eq!(
        resolve(&file_ref(&p), &no_env()).unwrap().expose_secret(),
        " spaced "
    );
}

#[test]
fn secret_file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let m = resolve_err(&file_ref(&missing), &no_env());
    assert!(m.contains("cannot read secret file"), "{m}");
    assert!(m.contains(&missing.display().to_string()), "{m}");

    let (_d, empty) = temp_file("");
    let m = resolve_err(&file_ref(&empty), &no_env());
    assert!(m.contains("is empty"), "{m}");
    let (_d, newline_only) = temp_file("\n");
    let m = resolve_err(&file_ref(&newline_only), &no_env());
    assert!(m.contains("is empty"), "{m}");

    let m = resolve_err("file:", &no_env());
    assert!(m.contains("needs a path"), "{m}");
}

#[test]
fn secret_literal_and_empty() {
    assert_eq!(
        resolve("plain-literal", &no_env()).unwrap().expose_secret(),
        "plain-literal"
    );
    // Only the exact prefixes are references.
    assert_eq!(
        resolve("ENV:X", &no_env()).unwrap().expose_secret(),
        "ENV:X"
    );
    let m = resolve_err("", &no_env());
    assert!(m.contains("is empty"), "{m}");
}

#[test]
fn master_key_literal_env_and_file() {
    let key = new_key();
    let c = ok(&format!("master_key = {key:?}"));
    assert_eq!(c.master_key.as_ref().unwrap().expose_secret(), key);
    assert_eq!(c.sources["master_key"], Source::File("t.toml".into()));

    let c = parse_env("master_key = \"env:MK\"", &[("MK", key.as_str())]).unwrap();
    assert_eq!(c.master_key.as_ref().unwrap().expose_secret(), key);

    let (_d, p) = temp_file(&format!("{key}\n"));
    let c = ok(&format!("master_key = {:?}", file_ref(&p)));
    assert_eq!(c.master_key.as_ref().unwrap().expose_secret(), key);

    // SWITCHBOARD_MASTER_KEY may itself hold a reference.
    let c = parse_env(
        "",
        &[
            ("SWITCHBOARD_MASTER_KEY", "env:OTHER"),
            ("OTHER", key.as_str()),
        ],
    )
    .unwrap();
    assert_eq!(c.master_key.as_ref().unwrap().expose_secret(), key);
    assert_eq!(
        c.sources["master_key"],
        Source::Env("SWITCHBOARD_MASTER_KEY".into())
    );
}

#[test]
fn master_key_must_be_base64_of_32_bytes() {
    let short = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="; // 31 bytes
    for bad in ["not base64 !!", short, "c2hvcnQ="] {
        let (key, origin, m) = invalid(parse(&format!("master_key = {bad:?}")));
        assert_eq!(key, "master_key", "{bad:?}");
        assert_eq!(origin, "t.toml");
        assert!(m.contains("invalid master key"), "{m}");
    }
    let (key, _, m) = invalid(parse("master_key = \"\""));
    assert_eq!(key, "master_key");
    assert!(m.contains("is empty"), "{m}");
    let (key, origin, m) = invalid(parse("master_key = \"env:NOT_SET_ANYWHERE\""));
    assert_eq!(key, "master_key");
    assert_eq!(origin, "t.toml");
    assert!(m.contains("NOT_SET_ANYWHERE"), "{m}");
}

#[test]
fn old_master_keys_errors_name_the_index() {
    let good = new_key();
    let (key, origin, m) = invalid(parse(&format!(
        "old_master_keys = [{good:?}, \"not-a-key\"]"
    )));
    assert_eq!(key, "old_master_keys[1]");
    assert_eq!(origin, "t.toml");
    assert!(m.contains("invalid master key"), "{m}");

    let (key, _, m) = invalid(parse("old_master_keys = [\"env:GONE\"]"));
    assert_eq!(key, "old_master_keys[0]");
    assert!(m.contains("GONE") && m.contains("is not set"), "{m}");

    let (key, origin, _) = invalid(parse_env(
        "",
        &[(
            "SWITCHBOARD_OLD_MASTER_KEYS",
            &format!("{good},{good},file:"),
        )],
    ));
    assert_eq!(key, "old_master_keys[2]");
    assert_eq!(origin, "environment variable SWITCHBOARD_OLD_MASTER_KEYS");

    let (key, _, _) = invalid(parse("old_master_keys = [\"\"]"));
    assert_eq!(key, "old_master_keys[0]");
}

#[test]
fn old_master_keys_resolve_references() {
    let (k1, k2) = (new_key(), new_key());
    let (_d, p) = temp_file(&format!("{k2}\n"));
    let c = parse_env(
        &format!("old_master_keys = [\"env:OLD1\", {:?}]", file_ref(&p)),
        &[("OLD1", k1.as_str())],
    )
    .unwrap();
    let olds: Vec<&str> = c
        .old_master_keys
        .iter()
        .map(|s| s.expose_secret())
        .collect();
    assert_eq!(olds, vec![k1.as_str(), k2.as_str()]);
}

#[test]
fn errors_never_show_secret_values() {
    // Values that look like secrets but are not valid keys, given every way.
    let bad_secret = "s3cr3t-VALUE-that-must-not-leak";
    let (_d, p) = temp_file(&format!("{bad_secret}\n"));
    let attempts: Vec<Result<Config, ConfigError>> = vec![
        parse(&format!("master_key = {bad_secret:?}")),
        parse_env("master_key = \"env:MK\"", &[("MK", bad_secret)]),
        parse(&format!("master_key = {:?}", file_ref(&p))),
        parse_env("", &[("SWITCHBOARD_MASTER_KEY", bad_secret)]),
        parse(&format!("old_master_keys = [{bad_secret:?}]")),
        parse_env("", &[("SWITCHBOARD_OLD_MASTER_KEYS", bad_secret)]),
        parse_env("old_master_keys = [\"env:OLD\"]", &[("OLD", bad_secret)]),
    ];
    for (i, r) in attempts.into_iter().enumerate() {
        let err = r.expect_err("a bad key is refused");
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains(bad_secret), "attempt {i} leaks: {shown}");
        assert!(shown.contains("master_key"), "attempt {i}: {shown}");
    }
}

#[test]
fn config_debug_does_not_show_secrets() {
    let (k1, k2) = (new_key(), new_key());
    let c = ok(&format!("master_key = {k1:?}\nold_master_keys = [{k2:?}]"));
    let shown = format!("{c:?}");
    assert!(!shown.contains(&k1) && !shown.contains(&k2), "{shown}");
}

// ---------------------------------------------------------------------------------------
// Config::load

#[test]
fn load_explicit_missing_path_is_unreadable_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let err = Config::load(Some(&path), &no_env(), &Overrides::default()).unwrap_err();
    match &err {
        ConfigError::Unreadable { path: p, reason } => {
            assert_eq!(*p, path.display().to_string());
            assert!(!reason.is_empty());
        }
        other => panic!("expected Unreadable, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(shown.contains(&path.display().to_string()), "{shown}");
    assert!(shown.contains("check the path"), "{shown}");
}

#[test]
fn load_reads_an_explicit_file() {
    let (_d, path) = temp_file("listen = \"127.0.0.1:9100\"\nlog_level = \"debug\"\n");
    let c = Config::load(Some(&path), &no_env(), &Overrides::default()).unwrap();
    assert_eq!(c.listen.port(), 9100);
    assert_eq!(c.log_level, "debug");
    assert_eq!(c.file.as_deref(), Some(path.as_path()));
    assert_eq!(
        c.sources["listen"],
        Source::File(path.display().to_string())
    );
    assert_eq!(c.sources["database_url"], Source::Default);
}

#[test]
fn load_uses_switchboard_config_from_the_env() {
    let (_d, path) = temp_file("listen = \"127.0.0.1:9200\"\n");
    let e = env(&[("SWITCHBOARD_CONFIG", path.to_str().unwrap())]);
    let c = Config::load(None, &e, &Overrides::default()).unwrap();
    assert_eq!(c.listen.port(), 9200);
    assert_eq!(c.file.as_deref(), Some(path.as_path()));

    // An explicit path wins over SWITCHBOARD_CONFIG.
    let (_d2, other) = temp_file("listen = \"127.0.0.1:9300\"\n");
    let c = Config::load(Some(&other), &e, &Overrides::default()).unwrap();
    assert_eq!(c.listen.port(), 9300);

    // A SWITCHBOARD_CONFIG that does not exist is an error, not a silent default.
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone.toml");
    let e = env(&[("SWITCHBOARD_CONFIG", gone.to_str().unwrap())]);
    let err = Config::load(None, &e, &Overrides::default()).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Unreadable { path, .. } if *path == gone.display().to_string()),
        "{err:?}"
    );
}

#[test]
fn load_reports_parse_errors_with_the_path() {
    let (_d, path) = temp_file("listen = \"127.0.0.1:1\"\nbogus_key = 1\n");
    let err = Config::load(Some(&path), &no_env(), &Overrides::default()).unwrap_err();
    match err {
        ConfigError::Parse { path: p, message } => {
            assert_eq!(p, path.display().to_string());
            assert!(
                message.contains("bogus_key") && message.contains("line 2"),
                "{message}"
            );
        }
        other => panic!("expected Parse, got {other:?}"),
    }
}

#[test]
fn load_applies_env_and_flags_over_the_file() {
    let (_d, path) = temp_file("listen = \"127.0.0.1:9400\"\nlog_level = \"debug\"\n");
    let e = env(&[("SWITCHBOARD_LOG_LEVEL", "trace")]);
    let ov = Overrides {
        listen: Some("127.0.0.1:9401".into()),
        ..Overrides::default()
    };
    let c = Config::load(Some(&path), &e, &ov).unwrap();
    assert_eq!(c.listen.port(), 9401);
    assert_eq!(c.log_level, "trace");
}

#[test]
fn load_without_any_file_gives_defaults() {
    // The tests run in the crate directory, which has no switchboard.toml.
    assert!(
        !Path::new(DEFAULT_CONFIG_FILE).exists(),
        "unexpected {DEFAULT_CONFIG_FILE} in the test's working directory"
    );
    let c = Config::load(None, &no_env(), &Overrides::default()).unwrap();
    assert_eq!(c.file, None);
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    assert!(c.sources.values().all(|s| *s == Source::Default));
}

// ---------------------------------------------------------------------------------------
// changed_keys and RESTART_KEYS

#[test]
fn changed_keys_is_empty_for_equal_configs() {
    let a = ok("");
    let b = ok("");
    assert!(a.changed_keys(&b).is_empty());
    // Where a value came from is not a change.
    let c = parse_env("", &[("SWITCHBOARD_LOG_LEVEL", "info")]).unwrap();
    assert!(a.changed_keys(&c).is_empty());
}

#[test]
fn changed_keys_reports_each_key_by_name_only() {
    let base_key = new_key();
    let other_key = new_key();
    // public_url is explicit so that changing listen does not change it too.
    let base_text = format!(
        "master_key = {base_key:?}\nold_master_keys = [{base_key:?}]\npublic_url = \"https://b.example.com\"\n"
    );
    let base = ok(&base_text);
    let variants: Vec<(&str, String)> = vec![
        ("listen", "listen = \"127.0.0.1:1\"".into()),
        ("database_url", "database_url = \"sqlite://o.db\"".into()),
        (
            "database_max_connections",
            "database_max_connections = 5".into(),
        ),
        (
            "database_acquire_timeout_secs",
            "database_acquire_timeout_secs = 5".into(),
        ),
        (
            "database_statement_timeout_secs",
            "database_statement_timeout_secs = 5".into(),
        ),
        (
            "public_url",
            "public_url = \"https://o.example.com\"".into(),
        ),
        ("master_key", format!("master_key = {other_key:?}")),
        (
            "old_master_keys",
            format!("old_master_keys = [{other_key:?}]"),
        ),
        ("dev_key_file", "dev_key_file = \"o.key\"".into()),
        ("log_format", "log_format = \"json\"".into()),
        ("log_level", "log_level = \"debug\"".into()),
        ("request_timeout_secs", "request_timeout_secs = 5".into()),
        ("shutdown_grace_secs", "shutdown_grace_secs = 5".into()),
        ("max_body_bytes", "max_body_bytes = 5000".into()),
        ("allow_hosts", "allow_hosts = [\"h\"]".into()),
        ("outbound_timeout_secs", "outbound_timeout_secs = 5".into()),
        (
            "token_refresh_margin_secs",
            "token_refresh_margin_secs = 5".into(),
        ),
        ("refresh_lease_secs", "refresh_lease_secs = 50".into()),
        (
            "connect_session_ttl_secs",
            "connect_session_ttl_secs = 500".into(),
        ),
        (
            "background_refresh_interval_secs",
            "background_refresh_interval_secs = 5".into(),
        ),
        (
            "background_refresh_concurrency",
            "background_refresh_concurrency = 5".into(),
        ),
        ("proxy_max_wait_secs", "proxy_max_wait_secs = 5".into()),
        ("proxy_max_body_bytes", "proxy_max_body_bytes = 5000".into()),
        (
            "proxy_redact_query",
            "proxy_redact_query = [\"sig\"]".into(),
        ),
        ("api_key_cache_secs", "api_key_cache_secs = 5".into()),
        (
            "instance_heartbeat_ms",
            "instance_heartbeat_ms = 500".into(),
        ),
        (
            "metrics_listen",
            "metrics_listen = \"127.0.0.1:9464\"".into(),
        ),
        (
            "metrics_key",
            "metrics_key = \"0123456789abcdef0123\"".into(),
        ),
        (
            "payload_retention_days",
            "payload_retention_days = 5".into(),
        ),
        (
            "retention_sweep_interval_secs",
            "retention_sweep_interval_secs = 5".into(),
        ),
    ];
    let mut covered = Vec::new();
    for (key, line) in &variants {
        // The variant replaces the base's line for the same key, if any.
        let text = if key.contains("master_key") {
            let kept: String = base_text
                .lines()
                .filter(|l| !l.starts_with(&format!("{key} =")))
                .map(|l| format!("{l}\n"))
                .collect();
            format!("{kept}{line}\n")
        } else if *key == "public_url" {
            format!("master_key = {base_key:?}\nold_master_keys = [{base_key:?}]\n{line}\n")
        } else {
            format!("{base_text}{line}\n")
        };
        let changed = ok(&text);
        assert_eq!(base.changed_keys(&changed), vec![*key], "{key}");
        assert_eq!(changed.changed_keys(&base), vec![*key], "{key}");
        covered.push(*key);
    }
    let all: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
    assert_eq!(covered, all, "every key is covered, in KEYS order");
}

#[test]
fn changed_keys_for_secret_presence_and_list_length() {
    let k = new_key();
    let none = ok("");
    let some = ok(&format!("master_key = {k:?}"));
    assert_eq!(none.changed_keys(&some), vec!["master_key"]);
    assert_eq!(some.changed_keys(&none), vec!["master_key"]);

    let one = ok(&format!("old_master_keys = [{k:?}]"));
    let two = ok(&format!("old_master_keys = [{k:?}, {k:?}]"));
    assert_eq!(one.changed_keys(&two), vec!["old_master_keys"]);
    assert_eq!(none.changed_keys(&one), vec!["old_master_keys"]);
    assert!(two.changed_keys(&two.clone()).is_empty());
}

#[test]
fn changed_keys_reports_several_keys_in_keys_order_without_values() {
    let (k1, k2) = (new_key(), new_key());
    let a = ok(&format!("master_key = {k1:?}\nlog_level = \"info\""));
    let b = ok(&format!(
        "master_key = {k2:?}\nlog_level = \"debug\"\nlisten = \"127.0.0.1:1\""
    ));
    let changed = a.changed_keys(&b);
    // public_url follows listen by default, so it changed too.
    assert_eq!(
        changed,
        vec!["listen", "public_url", "master_key", "log_level"]
    );
    let shown = format!("{changed:?}");
    assert!(!shown.contains(&k1) && !shown.contains(&k2));
}

#[test]
fn restart_keys_content() {
    assert_eq!(
        Config::RESTART_KEYS,
        &[
            "listen",
            "database_url",
            "database_max_connections",
            "database_acquire_timeout_secs",
            "database_statement_timeout_secs",
            "master_key",
            "old_master_keys",
            "dev_key_file",
            "log_format",
            "max_body_bytes",
            "request_timeout_secs",
            "metrics_listen",
            "providers",
        ]
    );
    let all: Vec<&str> = KEYS
        .iter()
        .map(|(k, _)| *k)
        .chain(TABLES.iter().copied())
        .collect();
    for k in Config::RESTART_KEYS {
        assert!(all.contains(k), "{k} is not a key");
    }
    // These take effect at once on reload.
    for k in [
        "public_url",
        "log_level",
        "shutdown_grace_secs",
        "allow_hosts",
    ] {
        assert!(!Config::RESTART_KEYS.contains(&k), "{k}");
    }
}

// ---------------------------------------------------------------------------------------
// error type

#[test]
fn config_error_display_and_equality() {
    let u = ConfigError::Unreadable {
        path: "/x.toml".into(),
        reason: "No such file".into(),
    };
    assert_eq!(
        u.to_string(),
        "cannot read config file /x.toml: No such file; check the path and its permissions"
    );
    let i = ConfigError::Invalid {
        key: "listen".into(),
        origin: "default".into(),
        message: "bad".into(),
    };
    assert_eq!(i.to_string(), "listen (from default): bad");
    assert_ne!(u, i);
}

// ---------------------------------------------------------------------------------------
// [[integrations]] and [[destinations]]
// ---------------------------------------------------------------------------------------

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn tables_env() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "GITHUB_CLIENT_SECRET".to_owned(),
            "gh-client-secret-value".to_owned(),
        ),
        (
            "GITHUB_WEBHOOK_SECRET".to_owned(),
            "gh-webhook-secret-value".to_owned(),
        ),
        ("APP_WEBHOOK_SECRET".to_owned(), WHSEC.to_owned()),
        ("APP_SIGNING_KEY".to_owned(), SIGNING_KEY.to_owned()),
        ("APP_PUBLIC_KEY".to_owned(), PUBLIC_KEY.to_owned()),
        ("GITHUB_APP_PRIVATE_KEY".to_owned(), rsa_pem().to_owned()),
        (
            "GITHUB_APP_CLIENT_SECRET".to_owned(),
            "gh-app-client-secret-value".to_owned(),
        ),
        ("GCP_SA_PRIVATE_KEY".to_owned(), rsa_pem().to_owned()),
    ])
}

/// An RSA private key in PKCS#8 PEM, made once per test run (the repository holds no
/// key, so that the secret scanner finds none).
fn rsa_pem() -> &'static str {
    static PEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PEM.get_or_init(|| {
        use aws_lc_rs::encoding::AsDer;
        use base64::Engine as _;
        let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = kp.as_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        )
    })
}

/// A Standard Webhooks Ed25519 secret key (the RFC 8032 test 1 seed) and its public key.
const SIGNING_KEY: &str = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
const PUBLIC_KEY: &str = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

fn parse_tables(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, "t.toml", &tables_env(), &Overrides::default())
}

/// The commented table examples of the default file, uncommented.
fn default_file_tables() -> String {
    DEFAULT_FILE
        .lines()
        .skip_while(|l| !l.starts_with("# [[integrations]]"))
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| {
            l.starts_with('[')
                || l.split_once(" = ")
                    .is_some_and(|(k, _)| k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_documented_table_examples_parse() {
    let text = default_file_tables();
    assert!(text.contains("[[destinations]]"), "{text}");
    let c = parse_tables(&text).unwrap();
    assert_eq!(c.integrations.len(), 4);
    // Every connection of this one brings its own key.
    assert!(
        c.integration("gcp-customers")
            .unwrap()
            .private_key
            .is_none()
    );
    c.catalog(false).unwrap();
    let app = c.integration("github-app").unwrap();
    assert_eq!(app.app_id.as_deref(), Some("123456"));
    assert_eq!(app.app_slug.as_deref(), Some("my-app"));
    assert!(app.private_key.is_some());
    let sa = c.integration("gcp").unwrap();
    assert_eq!(sa.private_key_id.as_deref(), Some("0123abcd"));
    let i = c.integration("github-main").unwrap();
    assert_eq!(i.provider, "github");
    assert_eq!(i.client_id.as_deref(), Some("Iv1.abc"));
    assert_eq!(
        i.client_secret.as_ref().unwrap().expose_secret(),
        "gh-client-secret-value"
    );
    assert_eq!(i.scopes, ["repo", "read:user"]);
    assert_eq!(i.allowed_return_origins, ["https://app.example"]);
    assert_eq!(i.webhook_secrets.len(), 1);
    assert_eq!(i.webhook_scheme, Some(signatures::Scheme::StandardWebhooks));
    assert_eq!(i.webhook_tolerance_secs, Some(300));
    assert_eq!(i.health_check_interval_secs, Some(3600));
    assert_eq!(i.redact_fields, ["/data/card/number", "/customer/email"]);
    assert!(c.integration("nope").is_none());
    let d = &c.destinations[0];
    assert_eq!(
        (d.id.as_str(), d.url.as_str()),
        ("app", "https://app.example/hooks")
    );
    assert_eq!(d.secret.as_ref().unwrap().expose_secret(), WHSEC);
    assert_eq!(d.signing_key.as_ref().unwrap().expose_secret(), SIGNING_KEY);
    assert_eq!(d.public_key().as_deref(), Some(PUBLIC_KEY));
    assert_eq!(d.integrations, ["github-main"]);
    assert_eq!(d.event_types, ["*"]);
    assert_eq!(c.branding.app_name.as_deref(), Some("Acme CRM"));
    assert_eq!(c.branding.accent_color, Rgb(0x24, 0x57, 0xc5));
    assert_eq!(c.branding.logo, None);
    assert_eq!(
        d.rate_limit.map(|l| (l.per_second, l.burst)),
        Some((50, 100))
    );
}

#[test]
fn webhook_only_integration_and_defaults() {
    let c = parse_tables(
        "[[integrations]]\nid = \"hooks\"\nprovider = \"stripe\"\nwebhook_secrets = [\"whsec_a\", \"env:GITHUB_WEBHOOK_SECRET\"]\n\
         [[destinations]]\nid = \"d\"\nurl = \"http://127.0.0.1:9000/x\"\nsecret = \"env:APP_WEBHOOK_SECRET\"\n",
    )
    .unwrap();
    let i = &c.integrations[0];
    assert!(i.client_id.is_none() && i.client_secret.is_none() && i.scopes.is_empty());
    assert_eq!(i.webhook_secrets.len(), 2);
    assert_eq!(
        i.webhook_secrets[1].expose_secret(),
        "gh-webhook-secret-value"
    );
    assert!(c.destinations[0].integrations.is_empty());
    assert_eq!(c.destinations[0].event_types, ["*"]);
}

#[test]
fn origins_are_normalised() {
    let c = parse_tables(
        "[[integrations]]\nid = \"a\"\nprovider = \"github\"\nallowed_return_origins = [\"HTTPS://App.Example:443\", \"http://localhost:3000/\"]\n",
    )
    .unwrap();
    assert_eq!(
        c.integrations[0].allowed_return_origins,
        ["https://app.example", "http://localhost:3000"]
    );
}

#[test]
fn generic_hmac_scheme_is_configurable() {
    let c = parse_tables(
        "[[integrations]]\nid = \"own\"\nprovider = \"generic-hmac\"\nwebhook_secrets = [\"s\"]\n\
         webhook_scheme = { generic-hmac = { header = \"X-Signature\" } }\n",
    )
    .unwrap();
    assert!(matches!(
        c.integrations[0].webhook_scheme,
        Some(signatures::Scheme::GenericHmac(_))
    ));
}

#[test]
fn table_errors_name_the_key() {
    let integ =
        |extra: &str| format!("[[integrations]]\nid = \"a\"\nprovider = \"github\"\n{extra}\n");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "[[integrations]]\nid = \"Bad_Id\"\nprovider = \"x\"\n".into(),
            "integrations[0].id",
            "lowercase",
        ),
        (
            "[[integrations]]\nid = \"-a\"\nprovider = \"x\"\n".into(),
            "integrations[0].id",
            "lowercase",
        ),
        (
            format!(
                "{}[[integrations]]\nid = \"a\"\nprovider = \"y\"\n",
                integ("")
            ),
            "integrations[1].id",
            "unique",
        ),
        (
            "[[integrations]]\nid = \"a\"\nprovider = \" \"\n".into(),
            "integrations[0].provider",
            "providers list",
        ),
        (
            integ("client_secret = \"s\""),
            "integrations[0].client_id",
            "both or neither",
        ),
        (
            integ("client_id = \"\""),
            "integrations[0].client_id",
            "empty",
        ),
        (
            integ("client_id = \"x\"\nclient_secret = \"env:MISSING_ONE\""),
            "integrations[0].client_secret",
            "MISSING_ONE",
        ),
        (
            integ("scopes = [\"a b\"]"),
            "integrations[0].scopes[0]",
            "without spaces",
        ),
        (
            integ("allowed_return_origins = [\"https://app.example/path\"]"),
            "integrations[0].allowed_return_origins[0]",
            "origin",
        ),
        (
            integ("allowed_return_origins = [\"javascript:alert(1)\"]"),
            "integrations[0].allowed_return_origins[0]",
            "origin",
        ),
        (
            integ("allowed_return_origins = [\"https://u:p@app.example\"]"),
            "integrations[0].allowed_return_origins[0]",
            "origin",
        ),
        (
            integ("webhook_secrets = [\"file:/nonexistent/s\"]"),
            "integrations[0].webhook_secrets[0]",
            "/nonexistent/s",
        ),
        (
            integ("webhook_tolerance_secs = 0"),
            "integrations[0].webhook_tolerance_secs",
            "out of range",
        ),
        (
            integ("health_check_interval_secs = 0"),
            "integrations[0].health_check_interval_secs",
            "out of range",
        ),
        (
            integ("health_check_interval_secs = 59"),
            "integrations[0].health_check_interval_secs",
            "60..=2592000",
        ),
        (
            integ("health_check_interval_secs = 2592001"),
            "integrations[0].health_check_interval_secs",
            "out of range",
        ),
    ];
    let dest = |extra: &str| format!("{}[[destinations]]\nid = \"d\"\n{extra}\n", integ(""));
    let more: Vec<(String, &str, &str)> = vec![
        (
            dest("url = \"ftp://x\"\nsecret = \"env:APP_WEBHOOK_SECRET\""),
            "destinations[0].url",
            "http(s)",
        ),
        (
            dest("url = \"https://u:p@x\"\nsecret = \"env:APP_WEBHOOK_SECRET\""),
            "destinations[0].url",
            "credentials",
        ),
        (
            dest("url = \"https://x\"\nsecret = \"not-whsec\""),
            "destinations[0].secret",
            "whsec_",
        ),
        (
            dest("url = \"https://x\"\nsecret = \"whsec_AAAA\""),
            "destinations[0].secret",
            "whsec_",
        ),
        (
            dest(
                "url = \"https://x\"\nsecret = \"env:APP_WEBHOOK_SECRET\"\nintegrations = [\"nope\"]",
            ),
            "destinations[0].integrations[0]",
            "no integration",
        ),
        (
            dest("url = \"https://x\"\nsecret = \"env:APP_WEBHOOK_SECRET\"\nevent_types = []"),
            "destinations[0].event_types",
            "empty",
        ),
        (
            dest(
                "url = \"https://x\"\nsecret = \"env:APP_WEBHOOK_SECRET\"\nevent_types = [\"pay*ment\"]",
            ),
            "destinations[0].event_types[0]",
            "pattern",
        ),
        (
            dest(
                "url = \"https://x\"\nsecret = \"env:APP_WEBHOOK_SECRET\"\nevent_types = [\"a b\"]",
            ),
            "destinations[0].event_types[0]",
            "pattern",
        ),
        (
            format!(
                "{}id = \"d\"\nurl = \"https://y\"\nsecret = \"{WHSEC}\"\n",
                dest(&format!(
                    "url = \"https://x\"\nsecret = \"{WHSEC}\"\n[[destinations]]"
                ))
            ),
            "destinations[1].id",
            "unique",
        ),
        (
            "[[destinations]]\nid = \"D\"\nurl = \"https://x\"\nsecret = \"s\"\n".into(),
            "destinations[0].id",
            "lowercase",
        ),
        (
            dest("url = \"https://x\""),
            "destinations[0].secret",
            "signing_key",
        ),
        (
            dest("url = \"https://x\"\nsigning_key = \"env:APP_PUBLIC_KEY\""),
            "destinations[0].signing_key",
            "public key",
        ),
        (
            dest("url = \"https://x\"\nsigning_key = \"env:APP_WEBHOOK_SECRET\""),
            "destinations[0].signing_key",
            "whsk_",
        ),
        (
            dest("url = \"https://x\"\nsigning_key = \"whsk_AAAA\""),
            "destinations[0].signing_key",
            "32-byte seed",
        ),
        (
            dest("url = \"https://x\"\nsigning_key = \"env:NOT_SET_KEY\""),
            "destinations[0].signing_key",
            "NOT_SET_KEY",
        ),
        (
            dest(
                "url = \"https://x\"\nsecret = \"env:APP_WEBHOOK_SECRET\"\nrate_limit = { burst = 5 }",
            ),
            "destinations[0].rate_limit.per_second",
            "missing",
        ),
        (
            dest(
                "url = \"https://x\"\nsecret = \"env:APP_WEBHOOK_SECRET\"\nrate_limit = { per_second = 0 }",
            ),
            "destinations[0].rate_limit.per_second",
            "out of range",
        ),
        (
            dest(
                "url = \"https://x\"\nsecret = \"env:APP_WEBHOOK_SECRET\"\nrate_limit = { per_second = 5, burst = 2000000 }",
            ),
            "destinations[0].rate_limit.burst",
            "out of range",
        ),
    ];
    for (text, key, hint) in cases.into_iter().chain(more) {
        match parse_tables(&text) {
            Err(ConfigError::Invalid {
                key: k,
                origin,
                message,
            }) => {
                assert_eq!(k, key, "{text}");
                assert_eq!(origin, "t.toml");
                assert!(message.contains(hint), "{text}: {message}");
            }
            other => panic!("{text}: expected Invalid for {key}, got {other:?}"),
        }
    }
}

#[test]
fn destinations_sign_with_a_secret_a_signing_key_or_both_and_may_be_rate_limited() {
    let base = "[[destinations]]\nid = \"d\"\nurl = \"https://app.example/h\"\n";
    let c = parse_tables(&format!("{base}signing_key = \"env:APP_SIGNING_KEY\"\n")).unwrap();
    let d = &c.destinations[0];
    assert!(d.secret.is_none());
    assert_eq!(d.public_key().as_deref(), Some(PUBLIC_KEY));
    assert!(d.rate_limit.is_none(), "no rate limit by default");
    // The 64-byte seed + public key form is accepted too.
    let pair = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut bytes = b64.decode(&SIGNING_KEY[5..]).unwrap();
        bytes.extend(b64.decode(&PUBLIC_KEY[5..]).unwrap());
        format!("whsk_{}", b64.encode(bytes))
    };
    let c = parse_tables(&format!("{base}signing_key = \"{pair}\"\n")).unwrap();
    assert_eq!(c.destinations[0].public_key().as_deref(), Some(PUBLIC_KEY));
    let c = parse_tables(&format!(
        "{base}secret = \"env:APP_WEBHOOK_SECRET\"\nrate_limit = {{ per_second = 5 }}\n"
    ))
    .unwrap();
    let d = &c.destinations[0];
    assert!(d.signing_key.is_none() && d.public_key().is_none());
    assert_eq!(
        d.rate_limit.map(|l| (l.per_second, l.burst)),
        Some((5, 5)),
        "burst defaults to per_second"
    );
    // A changed key or limit is a changed destination.
    let a = parse_tables(&format!("{base}signing_key = \"env:APP_SIGNING_KEY\"\n")).unwrap();
    let b = parse_tables(&format!("{base}signing_key = \"{pair}\"\n")).unwrap();
    let e = parse_tables(&format!(
        "{base}signing_key = \"env:APP_SIGNING_KEY\"\nrate_limit = {{ per_second = 1 }}\n"
    ))
    .unwrap();
    assert!(a.destinations[0].same(&a.destinations[0]));
    assert!(!a.destinations[0].same(&b.destinations[0]));
    assert!(!a.destinations[0].same(&e.destinations[0]));
    assert_eq!(a.changed_keys(&e), ["destinations"]);
}

#[test]
fn bad_signing_keys_are_never_echoed() {
    for value in [
        "whsk_c2VjcmV0LXZhbHVlLXRoYXQtaXMtdG9vLXNob3J0",
        "whsk_!!!secret-value-not-base64!!!",
        "secret-value-without-prefix",
        "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    ] {
        let text = format!(
            "[[destinations]]\nid = \"d\"\nurl = \"https://x\"\nsigning_key = \"{value}\"\n"
        );
        let err = parse_tables(&text).unwrap_err();
        let m = format!("{err} {err:?}");
        assert!(m.contains("destinations[0].signing_key"), "{m}");
        assert!(!m.contains(&value[5..]), "{m}");
    }
    let c = parse_tables(
        "[[destinations]]\nid = \"d\"\nurl = \"https://x\"\nsigning_key = \"env:APP_SIGNING_KEY\"\n",
    )
    .unwrap();
    let shown = format!("{:?}", c.destinations[0]);
    assert!(!shown.contains(&SIGNING_KEY[5..]), "{shown}");
}

#[test]
fn table_parse_errors_name_the_key_and_hide_values() {
    for (text, key) in [
        (
            "[[integrations]]\nid = \"a\"\nprovider = \"x\"\nwebhook_secrets = \"super-secret-value\"\n",
            "webhook_secrets",
        ),
        (
            "[[integrations]]\nid = \"a\"\nprovider = \"x\"\nclient_secret = [\"super-secret-value\"]\n",
            "client_secret",
        ),
        (
            "[[integrations]]\nid = \"a\"\nprovider = \"x\"\nwebhok_secrets = []\n",
            "webhok_secrets",
        ),
        (
            "[[integrations]]\nid = \"a\"\nprovider = \"x\"\nwebhook_scheme = \"strpe\"\n",
            "webhook_scheme",
        ),
        (
            "[[destinations]]\nid = \"a\"\nurl = \"https://x\"\nsecret = 5\n",
            "secret",
        ),
        (
            "[[destinations]]\nid = \"a\"\nurl = \"https://x\"\nsigning_key = [\"super-secret-value\"]\n",
            "signing_key",
        ),
        (
            "[[destinations]]\nid = \"a\"\nurl = \"https://x\"\nsecret = \"env:APP_WEBHOOK_SECRET\"\nrate_limit = { per_second = 1, on_limit = \"reject\" }\n",
            "on_limit",
        ),
    ] {
        let err = parse_tables(text).unwrap_err();
        let m = err.to_string();
        assert!(matches!(err, ConfigError::Parse { .. }), "{m}");
        assert!(m.contains(key), "{text}: {m}");
        assert!(!m.contains("super-secret-value"), "{m}");
    }
}

#[test]
fn changed_keys_sees_table_changes_without_values() {
    let base = default_file_tables();
    let a = parse_tables(&base).unwrap();
    assert!(a.changed_keys(&parse_tables(&base).unwrap()).is_empty());
    let scopes = parse_tables(&base.replace("\"repo\", ", "")).unwrap();
    assert_eq!(a.changed_keys(&scopes), ["integrations"]);
    let rotated = Config::from_toml(
        &base,
        "t.toml",
        &{
            let mut e = tables_env();
            e.insert("GITHUB_WEBHOOK_SECRET".into(), "rotated".into());
            e
        },
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(a.changed_keys(&rotated), ["integrations"]);
    let moved =
        parse_tables(&base.replace("https://app.example/hooks", "https://app.example/other"))
            .unwrap();
    assert_eq!(a.changed_keys(&moved), ["destinations"]);
    let fewer = parse_tables(&base[..base.find("[[destinations]]").unwrap()]).unwrap();
    assert_eq!(
        a.changed_keys(&fewer),
        ["branding", "destinations", "mappings"]
    );
    let remapped = parse_tables(&base.replace("user.created", "user.added")).unwrap();
    assert_eq!(a.changed_keys(&remapped), ["mappings"]);
}

#[test]
fn ids_rule() {
    for ok in ["a", "github-main", "x1", &"a".repeat(64)] {
        assert!(valid_id(ok), "{ok}");
    }
    for bad in ["", "A", "a_b", "a b", "-a", "a-", "é", &"a".repeat(65)] {
        assert!(!valid_id(bad), "{bad}");
    }
}

// ---------------------------------------------------------------------------------------
// [[providers]] and the effective catalog
// ---------------------------------------------------------------------------------------

const ACME: &str = "[[providers]]\nid = \"acme\"\nauthorization_url = \"https://id.acme.example/authorize\"\ntoken_url = \"https://id.acme.example/token\"\n";

#[test]
fn custom_providers_join_the_catalog() {
    let c = parse_tables(&format!(
        "{ACME}[[providers]]\nid = \"corp\"\nissuer = \"https://login.corp.example\"\n\
         [[integrations]]\nid = \"a\"\nprovider = \"acme\"\n[[integrations]]\nid = \"c\"\nprovider = \"corp\"\n\
         [[integrations]]\nid = \"g\"\nprovider = \"github\"\nwebhook_secrets = [\"s\"]\n"
    ))
    .unwrap();
    assert_eq!(c.providers.len(), 2);
    let (cat, pending) = c.catalog(false).unwrap();
    assert!(cat.get("acme").is_some() && cat.get("github").is_some());
    assert_eq!(pending, ["corp"]);
    assert!(cat.len() > catalog::Catalog::builtin().len());
}

#[test]
fn provider_and_catalog_errors_name_the_key() {
    // A built-in id, a bad id, a duplicate, and an entry without endpoints: at load.
    for (text, key) in [
        (
            "[[providers]]\nid = \"github\"\ntoken_url = \"https://x.example/t\"\n".to_owned(),
            "providers[0].id",
        ),
        (
            "[[providers]]\nid = \"Acme\"\ntoken_url = \"https://x.example/t\"\n".to_owned(),
            "providers[0].id",
        ),
        (format!("{ACME}{ACME}"), "providers[1].id"),
        ("[[providers]]\nid = \"acme\"\n".to_owned(), "providers[0]"),
    ] {
        match parse_tables(&text) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    // Rules that need the catalog or the --dev flag: at `catalog()`.
    let local = "[[providers]]\nid = \"local\"\nauthorization_url = \"http://127.0.0.1:3000/auth\"\ntoken_url = \"http://127.0.0.1:3000/token\"\n";
    let c = parse_tables(local).unwrap();
    match c.catalog(false) {
        Err(ConfigError::Invalid { key, message, .. }) => {
            assert_eq!(key, "providers[0]");
            assert!(message.contains("https"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(c.catalog(true).unwrap().0.get("local").is_some());
    for (text, key, hint) in [
        (
            "[[integrations]]\nid = \"a\"\nprovider = \"nope\"\n",
            "integrations[0].provider",
            "providers list",
        ),
        (
            "[[integrations]]\nid = \"a\"\nprovider = \"gitlab\"\nwebhook_secrets = [\"s\"]\n",
            "integrations[0].webhook_scheme",
            "no webhook signature scheme",
        ),
        (
            "[[integrations]]\nid = \"a\"\nprovider = \"github\"\nwebhook_secret_handshake = true\n",
            "integrations[0].webhook_secret_handshake",
            "it is for asana",
        ),
        (
            "[[integrations]]\nid = \"a\"\nprovider = \"asana\"\nwebhook_secret_handshake = true\nwebhook_secrets = [\"s\"]\n",
            "integrations[0].webhook_secret_handshake",
            "keep one",
        ),
    ] {
        match parse_tables(text).unwrap().catalog(false) {
            Err(ConfigError::Invalid {
                key: k, message, ..
            }) => {
                assert_eq!(k, key, "{text}");
                assert!(message.contains(hint), "{message}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    // An override makes a scheme-less provider usable for webhooks.
    let ok = parse_tables(
        "[[integrations]]\nid = \"a\"\nprovider = \"gitlab\"\nwebhook_secrets = [\"s\"]\nwebhook_scheme = \"generic-hmac\"\n",
    );
    // generic-hmac needs its settings table, so the bare name is refused at parse time;
    // a full override works.
    assert!(ok.is_err());
    let ok = parse_tables(
        "[[integrations]]\nid = \"a\"\nprovider = \"gitlab\"\nwebhook_secrets = [\"s\"]\nwebhook_scheme = { generic-hmac = { header = \"X-Gitlab-Token\" } }\n",
    )
    .unwrap();
    assert!(ok.catalog(false).is_ok());
    // The handshake switch: off by default, on for asana alone.
    let asana = parse_tables("[[integrations]]\nid = \"a\"\nprovider = \"asana\"\n").unwrap();
    assert!(!asana.integrations[0].webhook_secret_handshake);
    let on = parse_tables(
        "[[integrations]]\nid = \"a\"\nprovider = \"asana\"\nwebhook_secret_handshake = true\n",
    )
    .unwrap();
    assert!(on.integrations[0].webhook_secret_handshake);
    assert!(on.catalog(false).is_ok());
    let bad = parse_tables(
        "[[integrations]]\nid = \"a\"\nprovider = \"asana\"\nwebhook_secret_handshake = \"yes\"\n",
    );
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("webhook_secret_handshake")
    );
}

#[test]
fn changed_keys_sees_providers() {
    let a = parse_tables(ACME).unwrap();
    let b = parse_tables(&ACME.replace("/token", "/oauth/token")).unwrap();
    assert_eq!(a.changed_keys(&b), ["providers"]);
}

#[test]
fn a_refresh_lease_must_outlast_an_outbound_call() {
    let (key, _, msg) = invalid(parse(
        "outbound_timeout_secs = 60\nrefresh_lease_secs = 60\n",
    ));
    assert_eq!(key, "refresh_lease_secs");
    assert!(msg.contains("longer than outbound_timeout_secs"), "{msg}");
    let c = ok("outbound_timeout_secs = 60\nrefresh_lease_secs = 61\n");
    assert_eq!((c.outbound_timeout_secs, c.refresh_lease_secs), (60, 61));
}

#[test]
fn integrations_take_required_scopes_and_settings() {
    let c = ok(
        "[[integrations]]\nid = \"okta\"\nprovider = \"okta\"\nrequired_scopes = [\"openid\"]\nsettings = { domain = \"dev-1.okta.com\" }\n",
    );
    let i = &c.integrations[0];
    assert_eq!(i.required_scopes, vec!["openid"]);
    assert_eq!(i.settings["domain"], "dev-1.okta.com");
    let (key, _, _) = invalid(parse(
        "[[integrations]]\nid = \"a\"\nprovider = \"github\"\nrequired_scopes = [\"a b\"]\n",
    ));
    assert_eq!(key, "integrations[0].required_scopes[0]");
    let (key, _, _) = invalid(parse(
        "[[integrations]]\nid = \"a\"\nprovider = \"github\"\nsettings = { domain = \"\" }\n",
    ));
    assert_eq!(key, "integrations[0].settings.domain");
}

// ---------------------------------------------------------------------------------------
// the API proxy's keys

#[test]
fn proxy_defaults() {
    let c = ok("");
    assert_eq!(c.proxy_max_wait_secs, 30);
    assert_eq!(c.proxy_max_body_bytes, 1024 * 1024 * 1024);
    assert_eq!(
        c.proxy_redact_query,
        ["api_key", "token", "access_token", "key", "signature"]
    );
}

#[test]
fn proxy_redact_query_entries_are_checked() {
    let (k, _, m) = invalid(parse("proxy_redact_query = [\"ok\", \"a=b\"]"));
    assert_eq!(k, "proxy_redact_query[1]");
    assert!(m.contains("not a query parameter name"), "{m}");
    let c = parse_env("", &[("SWITCHBOARD_PROXY_REDACT_QUERY", "sig, code")]).unwrap();
    assert_eq!(c.proxy_redact_query, ["sig", "code"]);
}

fn with_limit(limit: &str) -> Result<Config, ConfigError> {
    parse(&format!(
        "[[integrations]]\nid = \"a\"\nprovider = \"github\"\nrate_limit = {{ {limit} }}\n"
    ))
}

#[test]
fn integration_rate_limit_parses() {
    let c = with_limit(
        "per_second = 10, burst = 20, per_connection_per_second = 2, per_connection_burst = 5, on_limit = \"reject\"",
    )
    .unwrap();
    let l = c.integrations[0].rate_limit.unwrap();
    assert_eq!(l.per_second, Some(10));
    assert_eq!(l.burst, Some(20));
    assert_eq!(l.per_connection_per_second, Some(2));
    assert_eq!(l.per_connection_burst, Some(5));
    assert_eq!(l.on_limit, OnLimit::Reject);
    let c = with_limit("per_second = 1").unwrap();
    assert_eq!(
        c.integrations[0].rate_limit.unwrap().on_limit,
        OnLimit::Wait
    );
    assert!(
        ok("[[integrations]]\nid = \"a\"\nprovider = \"github\"\n").integrations[0]
            .rate_limit
            .is_none()
    );
}

#[test]
fn integration_rate_limit_errors_name_the_key() {
    for (text, key, says) in [
        (
            "per_second = 0",
            "integrations[0].rate_limit.per_second",
            "out of range",
        ),
        (
            "burst = 5",
            "integrations[0].rate_limit.burst",
            "needs per_second",
        ),
        (
            "per_connection_burst = 5",
            "integrations[0].rate_limit.per_connection_burst",
            "needs per_connection_per_second",
        ),
        (
            "on_limit = \"drop\"",
            "integrations[0].rate_limit.on_limit",
            "\"wait\" or \"reject\"",
        ),
        ("", "integrations[0].rate_limit.per_second", "sets no limit"),
    ] {
        let (k, _, m) = invalid(with_limit(text));
        assert_eq!(k, key, "{text}");
        assert!(m.contains(says), "{text}: {m}");
    }
    // Unknown keys inside the table are refused too.
    assert!(with_limit("per_minute = 5").is_err());
}

// ---------------------------------------------------------------------------------------
// [[mappings]] and the delivery keys of [[destinations]]

fn with_mapping(extra: &str) -> String {
    format!(
        "[[integrations]]\nid = \"stripe-main\"\nprovider = \"stripe\"\n[[mappings]]\n{extra}\n"
    )
}

#[test]
fn mappings_compile_at_load() {
    let c = parse_tables(&with_mapping(
        "integration = \"stripe-main\"\nevent_type = \"payment_intent.succeeded\"\njq = '{type: \"payment.completed\", data: .data.object}'\nschema = '{\"type\": \"object\"}'",
    ))
    .unwrap();
    let m = &c.mappings[0];
    assert_eq!(
        (
            m.integration.as_str(),
            m.event_type.as_str(),
            m.key.as_str()
        ),
        ("stripe-main", "payment_intent.succeeded", "mappings[0]")
    );
    assert_eq!(
        m.schema.as_deref(),
        Some(&serde_json::json!({"type": "object"}))
    );
    // The defaults of the delivery keys.
    let d = parse_tables(&format!(
        "{}[[destinations]]\nid = \"d\"\nurl = \"https://x.example\"\nsecret = \"{WHSEC}\"\n",
        with_mapping("integration = \"stripe-main\"\nevent_type = \"*\"\njq = \".\"")
    ))
    .unwrap();
    let d = &d.destinations[0];
    assert_eq!(d.timeout_secs, 15);
    assert_eq!(d.retry_schedule_secs, crate::DEFAULT_RETRY_SCHEDULE_SECS);
    assert_eq!(d.max_attempts, 8);
    assert_eq!(d.max_concurrency, 8);
}

#[test]
fn mapping_errors_name_the_key_and_the_place() {
    for (extra, key, needle) in [
        (
            "integration = \"nope\"\nevent_type = \"x\"\njq = \".\"",
            "mappings[0].integration",
            "no integration has id",
        ),
        (
            "integration = \"stripe-main\"\nevent_type = \"\"\njq = \".\"",
            "mappings[0].event_type",
            "event type",
        ),
        (
            "integration = \"stripe-main\"\nevent_type = \"a\"\njq = '''{type: \"x\",\n data: (.a | }'''",
            "mappings[0].jq",
            "line 2",
        ),
        (
            "integration = \"stripe-main\"\nevent_type = \"a\"\njq = \"nosuchfunction(1)\"",
            "mappings[0].jq",
            "nosuchfunction",
        ),
        (
            "integration = \"stripe-main\"\nevent_type = \"a\"\njq = \".\"\nschema = '{\"type\": 5}'",
            "mappings[0].schema",
            "not a valid JSON Schema",
        ),
        (
            "integration = \"stripe-main\"\nevent_type = \"a\"\njq = \".\"\nschema = \"missing/schema.json\"",
            "mappings[0].schema",
            "cannot read the schema file",
        ),
        (
            "integration = \"stripe-main\"\nevent_type = \"a\"\njq = \".\"\n[[mappings]]\nintegration = \"stripe-main\"\nevent_type = \"a\"\njq = \".\"",
            "mappings[1].event_type",
            "already has a mapping",
        ),
    ] {
        let err = parse_tables(&with_mapping(extra)).unwrap_err();
        let m = err.to_string();
        assert!(m.contains(key), "{extra}: {m}");
        assert!(m.contains(needle), "{extra}: {m}");
    }
}

#[test]
fn mapping_schema_file_is_read_relative_to_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.json"),
        r#"{"type": "object", "required": ["id"]}"#,
    )
    .unwrap();
    let text = with_mapping(
        "integration = \"stripe-main\"\nevent_type = \"a\"\njq = \".\"\nschema = \"s.json\"",
    );
    let path = dir.path().join("switchboard.toml");
    let c = Config::from_toml(
        &text,
        path.to_str().unwrap(),
        &tables_env(),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(
        c.mappings[0].schema.as_deref(),
        Some(&serde_json::json!({"type": "object", "required": ["id"]}))
    );
}

#[test]
fn destination_delivery_keys_are_checked() {
    let dest = |extra: &str| {
        format!(
            "[[destinations]]\nid = \"d\"\nurl = \"https://x.example\"\nsecret = \"{WHSEC}\"\n{extra}\n"
        )
    };
    let c = parse_tables(&dest(
        "timeout_secs = 3\nretry_schedule_secs = [0, 1]\nmax_concurrency = 2",
    ))
    .unwrap();
    let d = &c.destinations[0];
    assert_eq!(
        (d.timeout_secs, d.max_attempts, d.max_concurrency),
        (3, 2, 2)
    );
    assert_eq!(d.retry_schedule_secs, [0, 1]);
    for (extra, key) in [
        ("timeout_secs = 0", "destinations[0].timeout_secs"),
        ("timeout_secs = 301", "destinations[0].timeout_secs"),
        (
            "retry_schedule_secs = []",
            "destinations[0].retry_schedule_secs",
        ),
        (
            "retry_schedule_secs = [0, 99999999]",
            "destinations[0].retry_schedule_secs[1]",
        ),
        ("max_attempts = 0", "destinations[0].max_attempts"),
        ("max_concurrency = 1000", "destinations[0].max_concurrency"),
    ] {
        let m = parse_tables(&dest(extra)).unwrap_err().to_string();
        assert!(m.contains(key), "{extra}: {m}");
    }
}

// ---------------------------------------------------------------------------------------
// metrics_listen and metrics_key

#[test]
fn metrics_keys_default_to_none() {
    let c = ok("");
    assert_eq!(c.metrics_listen, None);
    assert!(c.metrics_key.is_none());
}

#[test]
fn metrics_listen_is_an_address_other_than_listen() {
    let c = ok("metrics_listen = \"127.0.0.1:9464\"");
    assert_eq!(c.metrics_listen, Some("127.0.0.1:9464".parse().unwrap()));
    let (key, _, message) = invalid(parse("metrics_listen = \"localhost\""));
    assert_eq!(key, "metrics_listen");
    assert!(message.contains("IP:PORT"), "{message}");
    let (key, _, message) = invalid(parse(
        "listen = \"127.0.0.1:9000\"\nmetrics_listen = \"127.0.0.1:9000\"",
    ));
    assert_eq!(key, "metrics_listen");
    assert!(message.contains("another port"), "{message}");
}

#[test]
fn metrics_key_resolves_references_and_refuses_short_values_without_echoing() {
    let c = parse_env(
        "metrics_key = \"env:MK\"",
        &[("MK", "a-long-enough-metrics-key")],
    )
    .unwrap();
    assert_eq!(
        c.metrics_key.as_ref().map(|k| k.expose_secret().to_owned()),
        Some("a-long-enough-metrics-key".to_owned())
    );
    let (key, _, message) = invalid(parse("metrics_key = \"short-secret\""));
    assert_eq!(key, "metrics_key");
    assert!(message.contains("16 characters"), "{message}");
    assert!(!message.contains("short-secret"), "{message}");
}

// ---------------------------------------------------------------------------------------
// [branding]

#[test]
fn branding_defaults_and_valid_values() {
    let c = ok("");
    assert_eq!(c.branding, Branding::default());
    assert_eq!(c.branding.accent_color, DEFAULT_ACCENT);
    let dir = tempfile::tempdir().unwrap();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    std::fs::write(dir.path().join("logo.png"), png).unwrap();
    std::fs::write(
        dir.path().join("logo.svg"),
        "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    let file = dir.path().join("switchboard.toml");
    std::fs::write(
        &file,
        "[branding]\napp_name = \"  Acme <CRM> \"\naccent_color = \"#FFcc00\"\nlogo = \"file:logo.png\"\n",
    )
    .unwrap();
    let c = Config::load(Some(&file), &no_env(), &Overrides::default()).unwrap();
    assert_eq!(c.branding.app_name.as_deref(), Some("Acme <CRM>"));
    assert_eq!(c.branding.accent_color, Rgb(0xff, 0xcc, 0x00));
    let logo = c.branding.logo.as_ref().unwrap();
    assert_eq!(
        (logo.content_type, logo.bytes.as_slice()),
        ("image/png", &png[..])
    );
    assert_eq!(format!("{logo:?}"), "Logo(image/png, 16 bytes)");
    let abs = format!(
        "[branding]\nlogo = \"file:{}\"\n",
        dir.path().join("logo.svg").display()
    );
    assert_eq!(
        ok(&abs).branding.logo.unwrap().content_type,
        "image/svg+xml"
    );
    // A change of branding is a change of the configuration.
    assert_eq!(ok(&abs).changed_keys(&ok("")), ["branding"]);
}

#[test]
fn bad_branding_is_refused_with_the_key_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    std::fs::write(
        dir.path().join("big.png"),
        [b"\x89PNG\r\n\x1a\n".as_slice(), &vec![0u8; MAX_LOGO_BYTES]].concat(),
    )
    .unwrap();
    let d = dir.path().display();
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "accent_color = \"blue\"".into(),
            "branding.accent_color",
            "#RRGGBB",
        ),
        (
            "accent_color = \"#12345\"".into(),
            "branding.accent_color",
            "#RRGGBB",
        ),
        (
            "accent_color = \"#1234567\"".into(),
            "branding.accent_color",
            "#RRGGBB",
        ),
        (
            "accent_color = \"#12345g\"".into(),
            "branding.accent_color",
            "#RRGGBB",
        ),
        (
            "accent_color = \"red; background:url(x)\"".into(),
            "branding.accent_color",
            "#RRGGBB",
        ),
        (
            "accent_color = \"123456\"".into(),
            "branding.accent_color",
            "#RRGGBB",
        ),
        (
            "app_name = \"  \"".into(),
            "branding.app_name",
            "1 to 80 characters",
        ),
        (
            format!("app_name = \"{}\"", "x".repeat(81)),
            "branding.app_name",
            "1 to 80",
        ),
        (
            "app_name = \"a\\u0007b\"".into(),
            "branding.app_name",
            "control",
        ),
        (
            "logo = \"https://cdn.example/logo.png\"".into(),
            "branding.logo",
            "file:PATH",
        ),
        ("logo = \"file:\"".into(), "branding.logo", "file:PATH"),
        (
            format!("logo = \"file:{d}/missing.png\""),
            "branding.logo",
            "cannot read",
        ),
        (
            format!("logo = \"file:{d}/notes.txt\""),
            "branding.logo",
            "not a PNG, JPEG, GIF, WebP or SVG",
        ),
        (
            format!("logo = \"file:{d}/big.png\""),
            "branding.logo",
            "at most 256 KiB",
        ),
    ];
    for (line, key, words) in cases {
        let (k, origin, message) = invalid(parse(&format!("[branding]\n{line}\n")));
        assert_eq!(k, key, "{line}");
        assert_eq!(origin, "t.toml", "{line}");
        assert!(message.contains(words), "{line}: {message}");
    }
    // Unknown keys and wrong types are the parser's errors, naming the key.
    let (_, m) = parse_error(parse("[branding]\ncolour = \"#000000\"\n"));
    assert!(m.contains("colour"), "{m}");
    let (_, m) = parse_error(parse("[branding]\naccent_color = 3\n"));
    assert!(m.contains("accent_color"), "{m}");
}

#[test]
fn accent_text_keeps_wcag_aa_contrast_for_every_colour() {
    assert_eq!(Rgb::parse("#2457c5").unwrap().text_on(), Rgb(255, 255, 255));
    assert_eq!(Rgb::parse("#ffcc00").unwrap().text_on(), Rgb(0, 0, 0));
    assert_eq!(Rgb::parse("#FFFFFF").unwrap().hex(), "#ffffff");
    assert!((Rgb(0, 0, 0).contrast(Rgb(255, 255, 255)) - 21.0).abs() < 1e-9);
    let mut worst = f64::MAX;
    for r in (0..=255).step_by(5) {
        for g in (0..=255).step_by(5) {
            for b in (0..=255).step_by(5) {
                let c = Rgb(r as u8, g as u8, b as u8);
                worst = worst.min(c.contrast(c.text_on()));
            }
        }
    }
    assert!(worst >= 4.5, "worst contrast {worst}");
}

// GitHub App and JWT bearer integrations

#[test]
fn app_keys_are_checked_when_loading() {
    let app = "[[integrations]]\nid = \"gh\"\nprovider = \"github-app\"\n";
    let good = format!(
        "{app}app_id = \"42\"\napp_slug = \"my-app\"\nprivate_key = \"env:GITHUB_APP_PRIVATE_KEY\"\n"
    );
    let c = parse_tables(&good).unwrap();
    c.catalog(false).unwrap();
    for (text, key, needle) in [
        (
            good.replace("env:GITHUB_APP_PRIVATE_KEY", "not a key at all"),
            "private_key",
            "is not a PEM key",
        ),
        (
            good.replace(
                "env:GITHUB_APP_PRIVATE_KEY",
                "-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----",
            ),
            "private_key",
            "RSA",
        ),
        (
            good.replace("app_id = \"42\"", "app_id = \"Iv1.abc\""),
            "app_id",
            "numeric id",
        ),
        (
            good.replace("app_slug = \"my-app\"", "app_slug = \"My App\""),
            "app_slug",
            "slug",
        ),
    ] {
        let err = parse_tables(&text).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(needle), "{text}: {err}");
        assert!(
            !err.contains("AAAA") && !err.contains("not a key at all"),
            "{err}"
        );
    }
    for (text, key) in [
        (good.replace("app_id = \"42\"\n", ""), "app_id"),
        (good.replace("app_slug = \"my-app\"\n", ""), "app_slug"),
        (
            good.replace("private_key = \"env:GITHUB_APP_PRIVATE_KEY\"\n", ""),
            "private_key",
        ),
        (format!("{good}private_key_id = \"k1\"\n"), "private_key_id"),
    ] {
        let c = parse_tables(&text).unwrap();
        let err = c.catalog(false).unwrap_err().to_string();
        assert!(
            err.contains(&format!("integrations[0].{key}")),
            "{text}: {err}"
        );
    }
    // A JWT bearer integration with a private_key needs client_id (its issuer); one
    // without a key is fine (every connection brings its own), with or without a
    // default issuer, but not with a key id of a key it does not have. Other modes
    // take neither key.
    let sa = "[[integrations]]\nid = \"sa\"\nprovider = \"google-service-account\"\nclient_id = \"robot@p.iam.gserviceaccount.com\"\nprivate_key = \"env:GCP_SA_PRIVATE_KEY\"\n";
    parse_tables(sa).unwrap().catalog(false).unwrap();
    let keyless = sa.replace("private_key = \"env:GCP_SA_PRIVATE_KEY\"\n", "");
    parse_tables(&keyless).unwrap().catalog(false).unwrap();
    let bare = keyless.replace("client_id = \"robot@p.iam.gserviceaccount.com\"\n", "");
    let c = parse_tables(&bare).unwrap();
    c.catalog(false).unwrap();
    assert!(c.integration("sa").unwrap().private_key.is_none());
    for (text, key) in [
        (sa.replace("client_id = \"robot@p.iam.gserviceaccount.com\"\n", ""), "client_id"),
        (format!("{keyless}private_key_id = \"k1\"\n"), "private_key_id"),
        (format!("{sa}app_id = \"1\"\n"), "app_id"),
        (
            "[[integrations]]\nid = \"g\"\nprovider = \"github\"\nclient_id = \"x\"\nclient_secret = \"y\"\nprivate_key = \"env:GCP_SA_PRIVATE_KEY\"\n".to_owned(),
            "private_key",
        ),
    ] {
        let c = parse_tables(&text).unwrap();
        let err = c.catalog(false).unwrap_err().to_string();
        assert!(err.contains(&format!("integrations[0].{key}")), "{text}: {err}");
    }
}

/// Google's service-account key file (JSON) as `private_key`: the PEM, the issuer
/// (`client_email`) and the key id come from it; what the table says must agree.
#[test]
fn a_google_service_account_key_file_gives_key_issuer_and_key_id() {
    let file = serde_json::json!({
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "0123abcd",
        "private_key": rsa_pem(),
        "client_email": "robot@p.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    let with = |json: &serde_json::Value, extra: &str| {
        parse_env(
            &format!(
                "[[integrations]]\nid = \"sa\"\nprovider = \"google-service-account\"\nprivate_key = \"env:SA_KEY\"\n{extra}"
            ),
            &[("SA_KEY", &json.to_string())],
        )
    };
    let c = with(&file, "").unwrap();
    c.catalog(false).unwrap();
    let sa = c.integration("sa").unwrap();
    assert_eq!(
        sa.client_id.as_deref(),
        Some("robot@p.iam.gserviceaccount.com")
    );
    assert_eq!(sa.private_key_id.as_deref(), Some("0123abcd"));
    assert_eq!(sa.private_key.as_ref().unwrap().expose_secret(), rsa_pem());
    assert!(
        !format!("{c:?}").contains("PRIVATE KEY"),
        "the key never prints"
    );
    // The same values in the table are fine; other ones are refused by name.
    with(
        &file,
        "client_id = \"robot@p.iam.gserviceaccount.com\"\nprivate_key_id = \"0123abcd\"\n",
    )
    .unwrap();
    for (extra, key) in [
        (
            "client_id = \"other@p.iam.gserviceaccount.com\"\n",
            "client_id",
        ),
        ("private_key_id = \"ffff\"\n", "private_key_id"),
    ] {
        let err = with(&file, extra).unwrap_err().to_string();
        assert!(
            err.contains(&format!("integrations[0].{key}")) && err.contains("key file says"),
            "{err}"
        );
    }
    // A file without a key id leaves the table's (or none).
    let mut no_kid = file.clone();
    no_kid.as_object_mut().unwrap().remove("private_key_id");
    assert_eq!(
        with(&no_kid, "")
            .unwrap()
            .integration("sa")
            .unwrap()
            .private_key_id,
        None
    );
    // Files that are not a service account's key: refused, and the error quotes none of it.
    let mut user_creds = file.clone();
    user_creds["type"] = "authorized_user".into();
    let mut no_email = file.clone();
    no_email.as_object_mut().unwrap().remove("client_email");
    let mut bad_pem = file.clone();
    bad_pem["private_key"] = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".into();
    for (json, needle) in [
        (user_creds, "service_account"),
        (no_email, "without private_key or client_email"),
        (bad_pem, "RSA"),
    ] {
        let err = with(&json, "").unwrap_err().to_string();
        assert!(
            err.contains("integrations[0].private_key") && err.contains(needle),
            "{err}"
        );
        assert!(!err.contains("AAAA") && !err.contains("BEGIN"), "{err}");
    }
    let err = parse_env(
        "[[integrations]]\nid = \"sa\"\nprovider = \"google-service-account\"\nprivate_key = \"env:SA_KEY\"\n",
        &[("SA_KEY", "{\"type\": \"service_account\", \"private_key\": \"-----BEGIN secret")],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 1") && !err.contains("secret\""), "{err}");
}

#[test]
fn a_github_app_without_its_oauth_client_is_a_warning_and_half_a_client_an_error() {
    let app = "[[integrations]]\nid = \"gh\"\nprovider = \"github-app\"\napp_id = \"42\"\napp_slug = \"my-app\"\nprivate_key = \"env:GITHUB_APP_PRIVATE_KEY\"\n";
    // Without client_id and client_secret: it loads, with a warning saying what to set.
    let c = parse_tables(app).unwrap();
    let (cat, _) = c.catalog(false).unwrap();
    let warnings = c.integration_warnings(&cat);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("integration \"gh\"")
            && warnings[0].contains("client_id and client_secret")
            && warnings[0].contains("Request user authorization (OAuth) during installation"),
        "{}",
        warnings[0]
    );
    // With both: no warning, and the secret is sealed as every secret.
    let both = format!("{app}client_id = \"Iv1.abc\"\nclient_secret = \"s3cret-value\"\n");
    let c = parse_tables(&both).unwrap();
    let (cat, _) = c.catalog(false).unwrap();
    assert!(c.integration_warnings(&cat).is_empty());
    assert!(!format!("{:?}", c.integration("gh").unwrap()).contains("s3cret-value"));
    // Half a client is an error naming the missing key.
    let half = format!("{app}client_id = \"Iv1.abc\"\n");
    let err = parse_tables(&half)
        .unwrap()
        .catalog(false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("integrations[0].client_secret") && err.contains("GitHub App"),
        "{err}"
    );
    // Other modes are not warned about.
    let oauth = "[[integrations]]\nid = \"g\"\nprovider = \"github\"\nclient_id = \"x\"\nclient_secret = \"y\"\n";
    let c = parse_tables(oauth).unwrap();
    let (cat, _) = c.catalog(false).unwrap();
    assert!(c.integration_warnings(&cat).is_empty());
}

// [console]

#[test]
fn console_defaults_and_values() {
    let c = ok("");
    assert_eq!(c.console.session_idle_secs, 1800);
    assert_eq!(c.console.session_absolute_secs, 43_200);
    assert!(c.console.oidc.is_none());
    let c = parse_env(
        "[console]\nsession_idle_secs = 60\nsession_absolute_secs = 120\n[console.oidc]\nissuer = \"https://id.example/\"\nclient_id = \"c\"\nclient_secret = \"env:S\"\nallowed_emails = [\" Ops@Example.com \"]\n",
        &[("S", "shh")],
    )
    .unwrap();
    assert_eq!(c.console.session_idle_secs, 60);
    let o = c.console.oidc.as_ref().unwrap();
    assert_eq!(o.issuer, "https://id.example");
    assert_eq!(o.allowed_emails, ["ops@example.com"]);
    assert_eq!(o.groups_claim, "groups");
    assert!(!format!("{c:?}").contains("shh"), "the secret never prints");
}

#[test]
fn console_bad_values_name_the_key() {
    for (text, key) in [
        (
            "[console]\nsession_idle_secs = 0\n",
            "console.session_idle_secs",
        ),
        (
            "[console]\nsession_absolute_secs = 99999999\n",
            "console.session_absolute_secs",
        ),
        (
            "[console]\nsession_idle_secs = 100\nsession_absolute_secs = 50\n",
            "console.session_absolute_secs",
        ),
        (
            "[console.oidc]\nissuer = \"http://id.example\"\nclient_id = \"c\"\nallowed_emails = [\"a@b\"]\n",
            "console.oidc.issuer",
        ),
        (
            "[console.oidc]\nissuer = \"https://id.example\"\nclient_id = \" \"\nallowed_emails = [\"a@b\"]\n",
            "console.oidc.client_id",
        ),
        (
            "[console.oidc]\nissuer = \"https://id.example\"\nclient_id = \"c\"\n",
            "console.oidc",
        ),
        (
            "[console.oidc]\nissuer = \"https://id.example\"\nclient_id = \"c\"\nallowed_emails = [\"nope\"]\n",
            "console.oidc.allowed_emails[0]",
        ),
        (
            "[console.oidc]\nissuer = \"https://id.example\"\nclient_id = \"c\"\nallowed_groups = [\"\"]\n",
            "console.oidc.allowed_groups[0]",
        ),
        (
            "[console.oidc]\nissuer = \"https://id.example\"\nclient_id = \"c\"\nallowed_groups = [\"g\"]\ngroups_claim = \"\"\n",
            "console.oidc.groups_claim",
        ),
        (
            "[console.oidc]\nissuer = \"https://id.example\"\nclient_id = \"c\"\nallowed_groups = [\"g\"]\nclient_secret = \"env:MISSING\"\n",
            "console.oidc.client_secret",
        ),
    ] {
        match parse_env(text, &[]) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
    assert!(matches!(
        parse_env("[console]\nnope = 1\n", &[]),
        Err(ConfigError::Parse { .. })
    ));
    // http:// is accepted for a loopback issuer (a provider on this machine).
    assert!(parse_env("[console.oidc]\nissuer = \"http://127.0.0.1:9000\"\nclient_id = \"c\"\nallowed_groups = [\"g\"]\n", &[]).is_ok());
}

#[test]
fn redact_fields_are_json_pointers() {
    let integ = |extra: &str| {
        parse_tables(&format!(
            "[[integrations]]\nid = \"a\"\nprovider = \"github\"\n{extra}\n"
        ))
    };
    let c = integ("redact_fields = [\"/data/card/number\", \"/a~1b/~0c\", \"/items/0\"]").unwrap();
    assert_eq!(
        c.integrations[0].redact_fields,
        ["/data/card/number", "/a~1b/~0c", "/items/0"]
    );
    assert!(integ("").unwrap().integrations[0].redact_fields.is_empty());
    for (bad, why) in [
        ("\"data/card\"", "start with /"),
        ("\"\"", "whole payload"),
        ("\"/\"", "whole payload"),
        ("\"/a~2\"", "~ must be followed"),
        ("\"/a~\"", "~ must be followed"),
        ("\"/a\\u0007\"", "control character"),
    ] {
        let (k, _, m) = invalid(integ(&format!("redact_fields = [\"/ok\", {bad}]")));
        assert_eq!(k, "integrations[0].redact_fields[1]", "{bad}");
        assert!(m.contains(why) && m.contains("JSON pointer"), "{bad}: {m}");
    }
    let long = format!("\"/{}\"", "a".repeat(600));
    let (k, _, m) = invalid(integ(&format!("redact_fields = [{long}]")));
    assert_eq!(k, "integrations[0].redact_fields[0]");
    assert!(m.contains("512"), "{m}");
    assert!(
        integ("redact_fields = \"/a\"").is_err(),
        "a list, not a string"
    );
    // A change is a change (reload sees it).
    let a = integ("redact_fields = [\"/a\"]").unwrap();
    let b = integ("redact_fields = [\"/b\"]").unwrap();
    assert!(!a.integrations[0].same(&b.integrations[0]));
}

// ---------------------------------------------------------------------------------------
// webhooks verified with keys fetched from the provider (plaid, paypal)

/// The key and message `text` is refused with, when read or at `catalog()`.
fn catalog_refusal(text: &str) -> (String, String) {
    match parse_tables(text).and_then(|c| c.catalog(false).map(|_| c)) {
        Err(ConfigError::Invalid { key, message, .. }) => (key, message),
        other => panic!("{text}: expected Invalid, got {other:?}"),
    }
}

#[test]
fn fetched_key_integrations_are_accepted_with_what_their_provider_needs() {
    for text in [
        "[[integrations]]\nid = \"p\"\nprovider = \"plaid\"\nclient_id = \"cid\"\nclient_secret = \"sec\"\nsettings = { environment = \"sandbox\" }\n",
        "[[integrations]]\nid = \"p\"\nprovider = \"plaid\"\nclient_id = \"cid\"\nclient_secret = \"sec\"\nsettings = { environment = \"production\" }\n",
        "[[integrations]]\nid = \"pp\"\nprovider = \"paypal\"\nclient_id = \"cid\"\nclient_secret = \"sec\"\nsettings = { webhook_id = \"8PT597110X687430LKGECATA\" }\n",
    ] {
        let c = parse_tables(text).unwrap();
        assert!(
            c.catalog(false).is_ok(),
            "{text}: {:?}",
            c.catalog(false).err()
        );
    }
}

#[test]
fn fetched_key_integrations_without_what_they_need_are_refused_naming_the_key() {
    const PLAID_OK: &str =
        "client_id = \"cid\"\nclient_secret = \"sec\"\nsettings = { environment = \"sandbox\" }\n";
    let plaid = |rest: &str| format!("[[integrations]]\nid = \"p\"\nprovider = \"plaid\"\n{rest}");
    let paypal = |rest: &str| {
        format!(
            "[[integrations]]\nid = \"pp\"\nprovider = \"paypal\"\nclient_id = \"cid\"\nclient_secret = \"sec\"\n{rest}"
        )
    };
    for (text, key, hints) in [
        // PayPal signs with the registered webhook's id: without it nothing verifies.
        (
            paypal(""),
            "integrations[0].settings.webhook_id",
            &["is missing", "paypal"][..],
        ),
        (
            paypal("settings = { webhook_id = \"has space\" }\n"),
            "integrations[0].settings.webhook_id",
            &["without spaces"],
        ),
        // Plaid's key endpoint answers only the app's own credentials.
        (
            plaid("settings = { environment = \"sandbox\" }\n"),
            "integrations[0].client_id",
            &["is missing", "plaid", "client_id and secret"],
        ),
        // One without the other is refused as soon as the file is read.
        (
            plaid("client_secret = \"sec\"\nsettings = { environment = \"sandbox\" }\n"),
            "integrations[0].client_id",
            &["is missing"],
        ),
        (
            plaid("client_id = \"cid\"\nsettings = { environment = \"sandbox\" }\n"),
            "integrations[0].client_secret",
            &["is missing"],
        ),
        // Shared secrets do not apply to either.
        (
            plaid(&format!("{PLAID_OK}webhook_secrets = [\"s\"]\n")),
            "integrations[0].webhook_secrets",
            &["remove webhook_secrets", "plaid"],
        ),
        (
            paypal("settings = { webhook_id = \"W1\" }\nwebhook_secrets = [\"s\"]\n"),
            "integrations[0].webhook_secrets",
            &["remove webhook_secrets", "paypal"],
        ),
        // Plaid's environment picks the key endpoint's host: sandbox or production only.
        (
            plaid(
                "client_id = \"cid\"\nclient_secret = \"sec\"\nsettings = { environment = \"development\" }\n",
            ),
            "integrations[0].settings.environment",
            &["{environment}", "sandbox, production"],
        ),
        (
            plaid(
                "client_id = \"cid\"\nclient_secret = \"sec\"\nsettings = { environment = \"evil.example/x\" }\n",
            ),
            "integrations[0].settings.environment",
            &["{environment}"],
        ),
        (
            plaid("client_id = \"cid\"\nclient_secret = \"sec\"\n"),
            "integrations[0].settings.environment",
            &["no value for {environment}"],
        ),
    ] {
        let (k, message) = catalog_refusal(&text);
        assert_eq!(k, key, "{text}: {message}");
        for hint in hints {
            assert!(message.contains(hint), "{text}: {message:?} lacks {hint:?}");
        }
    }
}
/// `pem` of `label` around `der`, as openssl writes it.
fn pem_of(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The key reader the configuration and the engine share: a PEM or a Google key file;
/// every other kind of key or file is named in the refusal, which never quotes it.
#[test]
fn signing_keys_are_read_from_a_pem_or_a_key_file_and_other_keys_are_named() {
    use crate::keys::{MAX_KEY_BYTES, read_signing_key};
    let read = |s: &str| read_signing_key(&SecretString::from(s.to_owned()));
    let k = read(rsa_pem()).unwrap();
    assert_eq!(k.pem.expose_secret(), rsa_pem());
    assert_eq!((k.client_email, k.key_id), (None, None));
    let file = serde_json::json!({
        "type": "service_account",
        "private_key_id": "kid-1",
        "private_key": rsa_pem(),
        "client_email": "robot@p.iam.gserviceaccount.com",
    })
    .to_string();
    let k = read(&file).unwrap();
    assert_eq!(k.pem.expose_secret(), rsa_pem());
    assert_eq!(
        k.client_email.as_deref(),
        Some("robot@p.iam.gserviceaccount.com")
    );
    assert_eq!(k.key_id.as_deref(), Some("kid-1"));
    assert!(!format!("{k:?}").contains("PRIVATE"), "{k:?}");

    let rng = aws_lc_rs::rand::SystemRandom::new();
    let ec = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap();
    let ed = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ec_pem = pem_of("PRIVATE KEY", ec.as_ref());
    let ed_pem = pem_of("PRIVATE KEY", ed.as_ref());
    let mut ec_file: serde_json::Value = serde_json::from_str(&file).unwrap();
    ec_file["private_key"] = ec_pem.clone().into();
    let mut no_key: serde_json::Value = serde_json::from_str(&file).unwrap();
    no_key.as_object_mut().unwrap().remove("private_key");
    let big = format!("{}{}", rsa_pem(), "#".repeat(MAX_KEY_BYTES));
    for (text, needle) in [
        ("not a key", "is not a PEM key".to_owned()),
        (ec_pem.as_str(), "is an EC key".to_owned()),
        (&ec_file.to_string(), "is an EC key".to_owned()),
        (ed_pem.as_str(), "is an Ed25519 key".to_owned()),
        (
            &pem_of("ENCRYPTED PRIVATE KEY", b"xxxx"),
            "encrypted".to_owned(),
        ),
        (&pem_of("PUBLIC KEY", b"xxxx"), "is a public key".to_owned()),
        (
            &pem_of("CERTIFICATE", b"xxxx"),
            "is a certificate".to_owned(),
        ),
        (&no_key.to_string(), "without private_key".to_owned()),
        ("{\"type\": \"service_account\",", "line 1".to_owned()),
        (big.as_str(), format!("{MAX_KEY_BYTES} at most")),
    ] {
        let err = read(text).unwrap_err();
        assert!(err.contains(&needle), "{needle}: {err}");
        assert!(
            !err.contains("-----END") && !err.contains("MII") && !err.contains("kid-1"),
            "{err}"
        );
    }
}
