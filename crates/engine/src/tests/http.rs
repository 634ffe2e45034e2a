//! The outbound client's SSRF guard, with a local test server on 127.0.0.1.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::http::{HostPolicy, Outbound, OutboundError, is_public, redact};

/// A canned answer of [`TestServer`]: status, extra headers, body. `None` never answers.
pub(super) type Reply = Option<(u16, Vec<(String, String)>, String)>;

type Handler = dyn Fn(&str) -> Reply + Send + Sync;

/// A minimal HTTP/1.1 server on 127.0.0.1 that counts connections and requests.
pub(super) struct TestServer {
    pub addr: SocketAddr,
    /// Connections accepted.
    pub accepted: Arc<AtomicUsize>,
    /// Request paths (with query), in order.
    pub paths: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// `http://127.0.0.1:PORT` + `path`.
    pub(super) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Requests whose path (without query) is `path`.
    pub(super) fn hits(&self, path: &str) -> usize {
        self.paths
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.split('?').next() == Some(path))
            .count()
    }
}

/// Starts a server answering each request with `handler(path)`.
pub(super) async fn serve(handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let paths = Arc::new(Mutex::new(Vec::new()));
    let handler: Arc<Handler> = Arc::new(handler);
    let (acc, ps) = (accepted.clone(), paths.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            acc.fetch_add(1, Ordering::SeqCst);
            let (handler, ps) = (handler.clone(), ps.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&buf);
                let path = text
                    .lines()
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .unwrap_or("")
                    .to_owned();
                ps.lock().unwrap().push(path.clone());
                let Some((status, headers, body)) = handler(&path) else {
                    std::future::pending::<()>().await;
                    return;
                };
                let mut resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    resp.push_str(&format!("{k}: {v}\r\n"));
                }
                resp.push_str("\r\n");
                resp.push_str(&body);
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    TestServer {
        addr,
        accepted,
        paths,
        task,
    }
}

/// A JSON 200 reply.
pub(super) fn json(body: impl Into<String>) -> Reply {
    Some((
        200,
        vec![("content-type".into(), "application/json".into())],
        body.into(),
    ))
}

pub(super) fn dev_outbound() -> Outbound {
    Outbound::new(
        HostPolicy {
            dev: true,
            allow_hosts: vec![],
        },
        Duration::from_secs(10),
    )
    .unwrap()
}

fn prod(allow: &[&str]) -> Outbound {
    Outbound::new(
        HostPolicy {
            dev: false,
            allow_hosts: allow.iter().map(|s| s.to_string()).collect(),
        },
        Duration::from_secs(10),
    )
    .unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn non_public_addresses_are_recognised() {
    for a in [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.0.1",
        "100.64.0.1",
        "100.127.255.255",
        "0.0.0.0",
        "0.1.2.3",
        "255.255.255.255",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "198.18.0.1",
        "192.0.0.8",
        "::",
        "::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fec0::1",
        "ff02::1",
        "2001:db8::1",
        "3fff::1",
        "100::1",
        "2001::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:192.168.0.1",
        "::ffff:0.0.0.0",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",
        "2002:a00:1::",
    ] {
        assert!(!is_public(ip(a)), "{a} must not be public");
    }
}

#[test]
fn public_addresses_are_recognised() {
    for a in [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "100.63.255.255",
        "100.128.0.1",
        "172.15.255.255",
        "172.32.0.1",
        "169.253.1.1",
        "11.0.0.1",
        "223.255.255.254",
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ] {
        assert!(is_public(ip(a)), "{a} must be public");
    }
}

#[test]
fn ip_literal_urls_are_refused_unless_allowed() {
    let out = prod(&[]);
    for url in [
        "https://127.0.0.1/",
        "https://127.1/x",
        "https://2130706433/",
        "https://0x7f.0.0.1/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3:8443/token",
        "https://[fd00::1]/",
        "https://0.0.0.0/",
    ] {
        let e = out.check(url).unwrap_err();
        assert!(
            matches!(e, OutboundError::NonPublicAddress { .. }),
            "{url}: {e:?}"
        );
        assert!(e.to_string().contains("allow_hosts"), "{e}");
    }
    assert!(out.check("https://8.8.8.8/dns").is_ok());
    assert!(out.check("https://[2606:4700:4700::1111]/").is_ok());

    let dev = dev_outbound();
    assert!(dev.check("https://127.0.0.1/").is_ok());
    assert!(dev.check("http://10.0.0.1:8080/x").is_ok());
    assert!(dev.check("http://[::1]:3000/").is_ok());

    let allowed = prod(&["127.0.0.1", "[::1]", "Keycloak.Internal."]);
    assert!(allowed.check("https://127.0.0.1/").is_ok());
    assert!(allowed.check("http://127.0.0.1:9000/").is_ok());
    assert!(allowed.check("https://[::1]/").is_ok());
    assert!(allowed.check("https://[0:0::1]/").is_ok());
    assert!(allowed.check("http://keycloak.internal/realms/x").is_ok());
    assert!(allowed.check("https://10.0.0.1/").is_err());
    assert!(allowed.check("http://example.com/").is_err());
}

#[test]
fn http_is_refused_for_public_hosts_without_dev() {
    let e = prod(&[]).check("http://example.com/token").unwrap_err();
    assert!(matches!(e, OutboundError::InsecureHttp { .. }), "{e:?}");
    assert!(e.to_string().contains("https"), "{e}");
    assert!(prod(&[]).check("https://example.com/token").is_ok());
    assert!(dev_outbound().check("http://example.com/token").is_ok());
}

#[test]
fn other_schemes_userinfo_and_garbage_are_refused() {
    let out = dev_outbound();
    for url in ["ftp://example.com/", "file:///etc/passwd", "gopher://x/"] {
        assert!(
            matches!(out.check(url), Err(OutboundError::Scheme { .. })),
            "{url}"
        );
    }
    let e = out
        .check("https://alice:hunter2@example.com/x")
        .unwrap_err();
    assert!(matches!(e, OutboundError::Userinfo { .. }), "{e:?}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(!e.to_string().contains("alice"), "{e}");
    assert!(matches!(
        out.check("https://token@example.com/"),
        Err(OutboundError::Userinfo { .. })
    ));
    for bad in ["", "not a url", "/relative/path", "https://"] {
        assert!(
            matches!(out.check(bad), Err(OutboundError::InvalidUrl(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn errors_never_show_the_query_string() {
    let e = prod(&[])
        .check("http://example.com/cb?access_token=SECRET123#frag")
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("http://example.com/cb"), "{text}");
    assert!(!text.contains("SECRET123"), "{text}");
    assert!(!text.contains("frag"), "{text}");
    let u = url::Url::parse("https://u:p@h.example:8443/a/b?x=1").unwrap();
    assert_eq!(redact(&u), "https://h.example:8443/a/b");
}

#[tokio::test]
async fn a_local_server_is_reachable_in_dev_only() {
    let server = serve(|_| json(r#"{"ok":true}"#)).await;
    let got = dev_outbound()
        .get_limited(&server.url("/hello?x=1"), None, 1024)
        .await
        .unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(got.body, br#"{"ok":true}"#);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);

    // Without dev: refused before any connection is made.
    let e = prod(&[])
        .get_limited(&server.url("/hello"), None, 1024)
        .await
        .unwrap_err();
    assert!(matches!(e, OutboundError::InsecureHttp { .. }), "{e:?}");
    let e = prod(&[])
        .get_limited(&format!("https://{}/hello", server.addr), None, 1024)
        .await
        .unwrap_err();
    assert!(matches!(e, OutboundError::NonPublicAddress { .. }), "{e:?}");
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);

    // Allowed explicitly.
    let got = prod(&["127.0.0.1"])
        .get_limited(&server.url("/hello"), None, 1024)
        .await
        .unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn localhost_names_are_refused_by_the_resolver() {
    let server = serve(|_| json("{}")).await;
    let port = server.addr.port();
    let out = prod(&[]);
    // https passes `check` (a name, not a literal); the resolver drops 127.0.0.1 / ::1.
    let e = out
        .get_limited(
            &format!("https://localhost:{port}/x?token=SECRET"),
            None,
            1024,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, OutboundError::NonPublicHost { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("localhost") && text.contains("allow_hosts"),
        "{text}"
    );
    assert!(!text.contains("SECRET"), "{text}");
    // The raw client (no `check`) is guarded by the resolver too.
    let raw = out
        .client()
        .get(format!("http://localhost:{port}/"))
        .send()
        .await
        .unwrap_err();
    let url = url::Url::parse(&format!("http://localhost:{port}/")).unwrap();
    assert!(
        matches!(
            OutboundError::from_reqwest(&url, raw),
            OutboundError::NonPublicHost { .. }
        ),
        "resolver must refuse localhost"
    );
    assert_eq!(server.accepted.load(Ordering::SeqCst), 0);

    // Named in allow_hosts: reachable (and http allowed).
    let got = prod(&["localhost"])
        .get_limited(&format!("http://localhost:{port}/x"), None, 1024)
        .await
        .unwrap();
    assert_eq!(got.status, 200);
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn redirects_are_returned_not_followed() {
    let server = serve(|path| {
        if path == "/start" {
            Some((
                302,
                vec![("location".into(), "http://169.254.169.254/latest".into())],
                String::new(),
            ))
        } else {
            json("{}")
        }
    })
    .await;
    let got = dev_outbound()
        .get_limited(&server.url("/start"), None, 1024)
        .await
        .unwrap();
    assert_eq!(got.status, 302);
    assert_eq!(server.paths.lock().unwrap().as_slice(), ["/start"]);
}

#[tokio::test]
async fn slow_servers_time_out_and_large_bodies_are_refused() {
    let server = serve(|path| {
        if path == "/big" {
            json("x".repeat(5000))
        } else {
            None
        }
    })
    .await;
    let out = Outbound::new(
        HostPolicy {
            dev: true,
            allow_hosts: vec![],
        },
        Duration::from_millis(300),
    )
    .unwrap();
    let e = out
        .get_limited(&server.url("/hang?code=SECRET"), None, 1024)
        .await
        .unwrap_err();
    assert!(matches!(e, OutboundError::Timeout { .. }), "{e:?}");
    assert!(!e.to_string().contains("SECRET"));
    let e = out
        .get_limited(&server.url("/big"), None, 1024)
        .await
        .unwrap_err();
    assert!(matches!(e, OutboundError::TooLarge { .. }), "{e:?}");
}

#[tokio::test]
async fn the_user_agent_names_switchboard() {
    let seen = Arc::new(Mutex::new(String::new()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = seen.clone();
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = sock.read(&mut buf).await.unwrap();
        *s.lock().unwrap() = String::from_utf8_lossy(&buf[..n]).to_lowercase();
        let _ = sock
            .write_all(b"HTTP/1.1 204 No\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
    });
    let got = dev_outbound()
        .get_limited(&format!("http://{addr}/"), None, 10)
        .await
        .unwrap();
    task.await.unwrap();
    assert_eq!(got.status, 204);
    let req = seen.lock().unwrap().clone();
    assert!(
        req.contains(&format!(
            "user-agent: switchboard/{}",
            env!("CARGO_PKG_VERSION")
        )),
        "{req}"
    );
}
