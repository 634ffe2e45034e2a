//! The PostgreSQL settings of the binary: TLS as `sslmode` in `database_url` asks for it
//! (a TLS problem stops startup with exit 2, naming `database_url` and the problem,
//! never the password), and the pool keys (`database_max_connections`, …) reaching the
//! store, or warned about when the database is SQLite.
//!
//! A server without TLS is stood in for by a relay to the test server that answers
//! PostgreSQL's TLS request with `N` ("no TLS here"), as a server with `ssl = off` does;
//! the test server's own TLS (when it has it) is used for the cases that need one.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Server, run, sandbox};
use crate::postgres::{PgSchema, pg_schema};

/// The 8 bytes of PostgreSQL's SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// `n` random bytes as hex.
fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("random bytes");
    hex::encode(b)
}

/// `host:port` of a PostgreSQL URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}

/// A relay to `target` that refuses TLS as a server with `ssl = off` does (answers the
/// SSLRequest with `N`, then relays the plain connection); returns its port.
async fn relay_without_tls(target: String) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let mut first = [0u8; 8];
                if inbound.read_exact(&mut first).await.is_err() {
                    return;
                }
                let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                if first == SSL_REQUEST {
                    if inbound.write_all(b"N").await.is_err() {
                        return;
                    }
                } else if outbound.write_all(&first).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    port
}

/// The schema's URL with a password in it (the test server trusts local logins and
/// ignores it) and `sslmode`, reached through `host_port` instead of the server itself.
fn url_with(schema: &PgSchema, host_port_now: &str, password: &str, sslmode: &str) -> String {
    let server = host_port(&schema.url);
    let mut u = url::Url::parse(&schema.url.replacen(&server, host_port_now, 1)).unwrap();
    if u.username().is_empty() {
        u.set_username("postgres").unwrap();
    }
    u.set_password(Some(password)).unwrap();
    u.query_pairs_mut().append_pair("sslmode", sslmode);
    u.to_string()
}

#[track_caller]
fn assert_no_password(password: &str, stdout: &str, stderr: &str) {
    assert!(
        !stdout.contains(password) && !stderr.contains(password),
        "the password was printed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_without_tls_stops_startup_and_disable_or_prefer_work() {
    let schema = pg_schema().await;
    let relay = relay_without_tls(host_port(&schema.url)).await;
    let via = format!("127.0.0.1:{relay}");
    let password = format!("pw-{}", random_hex(8));
    let dir = sandbox();

    // require: the server offers no TLS, so startup stops, naming the setting and TLS.
    let require = url_with(&schema, &via, &password, "require");
    let out = run(
        dir.path(),
        &["serve", "--dev", "--listen", "127.0.0.1:0"],
        &[("SWITCHBOARD_DATABASE_URL", &require)],
    );
    out.exit_code(2).stderr_has(&[
        "database_url",
        "SWITCHBOARD_DATABASE_URL",
        "TLS",
        "sslmode=require",
    ]);
    assert_no_password(&password, &out.stdout, &out.stderr);
    // The same from the file, as `migrate --json`: one JSON error naming the file.
    std::fs::write(
        dir.path().join("switchboard.toml"),
        format!("database_url = {require:?}\n"),
    )
    .unwrap();
    let out = run(dir.path(), &["migrate", "--json"], &[]);
    out.exit_code(2);
    let v = out.json();
    let message = v["error"]["message"].as_str().unwrap();
    for needle in ["database_url", "switchboard.toml", "TLS"] {
        assert!(message.contains(needle), "{needle:?} not in {message}");
    }
    assert_no_password(&password, &out.stdout, &out.stderr);
    std::fs::remove_file(dir.path().join("switchboard.toml")).unwrap();
    // Nothing was created: no tables in the schema, no SQLite file as a fallback.
    assert_eq!(
        schema
            .count(&format!(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{}'",
                schema.name
            ))
            .await,
        0
    );
    assert!(!dir.path().join("switchboard.db").exists());

    // prefer falls back to plain TCP; disable never asks.
    let prefer = url_with(&schema, &via, &password, "prefer");
    let out = run(
        dir.path(),
        &["migrate", "--json"],
        &[("SWITCHBOARD_DATABASE_URL", &prefer)],
    );
    out.success();
    assert_eq!(out.json()["database"], "postgres");
    let disable = url_with(&schema, &via, &password, "disable");
    let mut server = Server::start(
        dir.path(),
        &["--dev"],
        &[("SWITCHBOARD_DATABASE_URL", &disable)],
    )
    .await;
    let health = server.get("/readyz", None).await;
    assert_eq!(health.status(), 200);
    server.stop();
    assert_no_password(&password, &server.stdout(), &server.stderr());
}

/// Whether the test server offers TLS (`ssl = on`).
async fn server_has_tls(schema: &PgSchema) -> bool {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&schema.url).await.unwrap();
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
    ssl == "on"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_and_verify_ca_use_the_servers_tls_and_verify_full_checks_the_name() {
    let schema = pg_schema().await;
    if !server_has_tls(&schema).await {
        eprintln!(
            "skipped: the test PostgreSQL has ssl = off; the TLS-on cases need a server with \
             TLS (the relay test covers a server without it)"
        );
        return;
    }
    let server = host_port(&schema.url);
    let password = format!("pw-{}", random_hex(8));
    let dir = sandbox();

    let require = url_with(&schema, &server, &password, "require");
    let out = run(
        dir.path(),
        &["migrate", "--json"],
        &[("SWITCHBOARD_DATABASE_URL", &require)],
    );
    out.success();

    // verify-ca with the server's own (self-signed) certificate as the root: the chain
    // is checked, the host name is not. (This once panicked inside rustls: two crypto
    // providers compiled in and none chosen.)
    if let Some(cert) = readable_server_cert(&schema).await {
        let mut ca = url::Url::parse(&url_with(&schema, &server, &password, "verify-ca")).unwrap();
        ca.query_pairs_mut().append_pair("sslrootcert", &cert);
        let out = run(
            dir.path(),
            &["migrate", "--json"],
            &[("SWITCHBOARD_DATABASE_URL", ca.as_str())],
        );
        out.success();
        assert_no_password(&password, &out.stdout, &out.stderr);
    } else {
        eprintln!("verify-ca skipped: the server's certificate file cannot be read here");
    }

    // A test server's certificate is Debian's self-signed snakeoil, made for the host's
    // name: it does not name 127.0.0.1 (nor does an OS root sign it), so verify-full must
    // refuse it, and say that TLS is the problem.
    let verify = url_with(&schema, &server, &password, "verify-full");
    let out = run(
        dir.path(),
        &["serve", "--dev", "--listen", "127.0.0.1:0"],
        &[("SWITCHBOARD_DATABASE_URL", &verify)],
    );
    out.exit_code(2)
        .stderr_has(&["database_url", "TLS", "sslmode=verify-full"]);
    assert_no_password(&password, &out.stdout, &out.stderr);
}

/// The server's certificate file, if this process can read it.
async fn readable_server_cert(schema: &PgSchema) -> Option<String> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&schema.url).await.ok()?;
    let path: String = sqlx::query_scalar("SHOW ssl_cert_file")
        .fetch_one(&mut conn)
        .await
        .ok()?;
    let _ = conn.close().await;
    let path = std::path::Path::new(&path);
    // A relative path is relative to the server's data directory, not ours.
    (path.is_absolute() && std::fs::read(path).is_ok()).then(|| path.display().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_keys_bound_the_connections_serve_opens() {
    let schema = pg_schema().await;
    let app = format!("sb_it_{}", random_hex(6));
    let mut u = url::Url::parse(&schema.url).unwrap();
    u.query_pairs_mut().append_pair("application_name", &app);
    let url = u.to_string();
    let dir = sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "database_max_connections = 2\ndatabase_statement_timeout_secs = 7\n\
         [[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"s\"]\n",
    )
    .unwrap();
    let envs = [
        ("SWITCHBOARD_DATABASE_URL", url.as_str()),
        ("SWITCHBOARD_DATABASE_ACQUIRE_TIMEOUT_SECS", "20"),
    ];
    // `config check` shows where each came from.
    let out = run(dir.path(), &["config", "check", "--json"], &envs);
    out.success();
    let v = out.json();
    assert_eq!(v["keys"]["database_max_connections"]["value"], "2", "{v}");
    assert_eq!(
        v["keys"]["database_acquire_timeout_secs"]["source"],
        "environment variable SWITCHBOARD_DATABASE_ACQUIRE_TIMEOUT_SECS"
    );
    assert!(!out.stderr.contains("ignored"), "{}", out.stderr);

    let server = Server::start(dir.path(), &["--dev"], &envs).await;
    let key = server.printed_admin_key();
    // Concurrent requests that each need the database: unbounded, the pool would grow
    // past two connections (the two event writers and the API requests together).
    let mut tasks = Vec::new();
    for n in 0..40 {
        let (http, url, key) = (
            server.http().clone(),
            server.url("/api/events"),
            key.clone(),
        );
        let hook = server.url("/webhooks/gh/event");
        tasks.push(tokio::spawn(async move {
            let _ = http.get(&url).bearer_auth(&key).send().await;
            // Unsigned: refused (401) after the integration's state is read.
            let _ = http
                .post(&hook)
                .header("X-GitHub-Delivery", format!("d{n}"))
                .body("{}")
                .send()
                .await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let open = schema
        .count(&format!(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = '{app}'"
        ))
        .await;
    // The pool's two, and the change feed's own LISTEN connection beside it.
    assert!(
        (1..=3).contains(&open),
        "{open} connections open with database_max_connections = 2 (2 pooled + 1 for the change feed)"
    );
    let res = server.get("/readyz", None).await;
    assert_eq!(res.status(), 200);
}

#[test]
fn pool_keys_with_sqlite_are_warned_about_not_refused() {
    let dir = sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "database_max_connections = 4\n",
    )
    .unwrap();
    let envs = [("SWITCHBOARD_DATABASE_STATEMENT_TIMEOUT_SECS", "5")];
    let out = run(dir.path(), &["config", "check", "--json"], &envs);
    out.success();
    assert_eq!(out.json()["ok"], true);
    out.stderr_has(&[
        "warning",
        "database_max_connections",
        "database_statement_timeout_secs",
        "ignored",
    ]);
    // A bad value is refused whatever the backend, naming the key.
    let out = run(
        dir.path(),
        &["serve", "--dev", "--listen", "127.0.0.1:0"],
        &[("SWITCHBOARD_DATABASE_MAX_CONNECTIONS", "1")],
    );
    out.exit_code(2).stderr_has(&[
        "database_max_connections",
        "SWITCHBOARD_DATABASE_MAX_CONNECTIONS",
        "out of range",
    ]);
    assert!(!dir.path().join("switchboard.db").exists());
}
