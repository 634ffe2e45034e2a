//! Webhooks verified with keys fetched from the provider (Plaid, PayPal), on the real
//! binary: custom providers using the `plaid` and `paypal` schemes point at a key server
//! on 127.0.0.1 that counts its requests, and every webhook is signed at the current time
//! by independent code (tests/peers/webhook-signers: npm `jose` for Plaid, Python
//! `cryptography` for PayPal). Valid webhooks are stored, tampered ones refused with
//! nothing stored, a new key is fetched once however many webhooks name it at once, a key
//! server that is down makes a 503 (the provider retries) and nothing stored, and a
//! certificate URL off the pinned prefix is refused without any request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::harness::{Server, eventually, open_db, sandbox};

const CLIENT_ID: &str = "plaid-client-1";
const CLIENT_SECRET: &str = "plaid-secret-1";
const WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";
const CERT_NAME: &str = "CERT-local-360caa42";

fn signers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/webhook-signers")
}

/// Runs an independent signer with `input` on stdin; its JSON output.
fn sign(program: &str, args: &[&Path], input: &Value) -> Value {
    use std::io::Write as _;
    let mut child = Command::new(program)
        .args(args)
        .env_remove("NODE_OPTIONS")
        .env_remove("PYTHONPATH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): run scripts/setup"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Plaid tokens made by npm `jose`: `(answers by kid, one token per webhook)`.
fn plaid_sign(kids: &[&str], webhooks: &[(&str, String)]) -> (HashMap<String, Value>, Vec<String>) {
    assert!(
        signers()
            .join("../jwt-grant/node_modules/jose/package.json")
            .is_file(),
        "npm jose is not installed in tests/peers/jwt-grant: run scripts/setup"
    );
    let input = json!({
        "kids": kids,
        "webhooks": webhooks.iter().map(|(kid, body)| json!({"kid": kid, "body": body})).collect::<Vec<_>>(),
    });
    let out = sign("node", &[&signers().join("plaid.mjs")], &input);
    let answers = out["answers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let tokens = out["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_owned())
        .collect();
    (answers, tokens)
}

/// PayPal signatures made by Python `cryptography`: `(certificate PEM, headers per
/// webhook)`.
fn paypal_sign(
    cert_url: &str,
    webhooks: &[(&str, String)],
) -> (String, Vec<Vec<(String, String)>>) {
    let python = signers().join(".venv/bin/python");
    assert!(
        python.is_file(),
        "tests/peers/webhook-signers/.venv is missing: run scripts/setup"
    );
    let input = json!({
        "webhook_id": WEBHOOK_ID,
        "cert_url": cert_url,
        "webhooks": webhooks.iter().map(|(id, body)| json!({"transmission_id": id, "body": body})).collect::<Vec<_>>(),
    });
    let out = sign(
        python.to_str().unwrap(),
        &[&signers().join("paypal.py")],
        &input,
    );
    let headers = out["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            h.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .collect();
    (out["pem"].as_str().unwrap().to_owned(), headers)
}

/// What the key server hands out and what it was asked.
#[derive(Default)]
struct Keys {
    /// Plaid's answers by kid.
    plaid: HashMap<String, Value>,
    /// PayPal's certificate, served at `/v1/notifications/certs/{CERT_NAME}`.
    pem: String,
    /// Every request: `plaid:{kid}` or the path of a GET.
    asked: Vec<String>,
}

/// A provider's key server on 127.0.0.1 that can be stopped (its port closed) and
/// started again on the same port. Every answer says `Connection: close`, so no pooled
/// connection outlives a stop.
struct KeyServer {
    addr: SocketAddr,
    keys: Arc<Mutex<Keys>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl KeyServer {
    async fn start(keys: Keys) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut s = KeyServer {
            addr: listener.local_addr().unwrap(),
            keys: Arc::new(Mutex::new(keys)),
            task: None,
        };
        s.serve(listener);
        s
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        use axum::http::{Method, StatusCode, Uri, header};
        let keys = self.keys.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, body: axum::body::Bytes| {
                let keys = keys.clone();
                async move {
                    let mut k = keys.lock().unwrap();
                    let path = uri.path().to_owned();
                    let (status, answer) = if method == Method::POST
                        && path == "/sandbox/webhook_verification_key/get"
                    {
                        let req: Value = serde_json::from_slice(&body).unwrap_or_default();
                        let kid = req["key_id"].as_str().unwrap_or_default().to_owned();
                        k.asked.push(format!("plaid:{kid}"));
                        if req["client_id"] != CLIENT_ID || req["secret"] != CLIENT_SECRET {
                            (StatusCode::UNAUTHORIZED, "{}".to_owned())
                        } else if let Some(a) = k.plaid.get(&kid) {
                            (StatusCode::OK, a.to_string())
                        } else {
                            (
                                StatusCode::BAD_REQUEST,
                                r#"{"error_code":"INVALID_WEBHOOK_VERIFICATION_KEY_ID"}"#
                                    .to_owned(),
                            )
                        }
                    } else if method == Method::GET {
                        k.asked.push(path.clone());
                        if path == format!("/v1/notifications/certs/{CERT_NAME}") {
                            (StatusCode::OK, k.pem.clone())
                        } else {
                            (StatusCode::NOT_FOUND, String::new())
                        }
                    } else {
                        (StatusCode::NOT_FOUND, String::new())
                    };
                    (status, [(header::CONNECTION, "close")], answer)
                }
            },
        );
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    /// Closes the port: fetches fail to connect.
    async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listens again on the same port.
    async fn restart(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn asked(&self) -> Vec<String> {
        self.keys.lock().unwrap().asked.clone()
    }

    fn asked_for(&self, what: &str) -> usize {
        self.asked().iter().filter(|a| *a == what).count()
    }
}

/// `switchboard serve --dev` with custom Plaid- and PayPal-like providers whose keys
/// come from `keys`.
async fn start_switchboard(dir: &Path, keys: &KeyServer) -> Server {
    let base = keys.url("");
    std::fs::write(
        dir.join("switchboard.toml"),
        format!(
            r#"
[[providers]]
id = "plaid-local"
auth_mode = "webhook_only"
docs_url = "https://plaid.com/docs/api/webhooks/"
[providers.placeholders.environment]
from = {{ integration = "environment" }}
kind = "segment"
[providers.webhooks]
scheme = "plaid"
event_id = "none"
event_type = {{ join = ["/webhook_type", "/webhook_code"] }}
[providers.webhooks.keys]
key_url = "{base}/{{environment}}/webhook_verification_key/get"

[[providers]]
id = "paypal-local"
auth_mode = "webhook_only"
docs_url = "https://developer.paypal.com/api/rest/webhooks/rest/"
[providers.webhooks]
scheme = "paypal"
event_id = {{ pointer = "/id" }}
event_type = {{ pointer = "/event_type" }}
[providers.webhooks.keys]
cert_url_prefixes = ["{base}/v1/notifications/certs/"]
settings = ["webhook_id"]

[[integrations]]
id = "plaid"
provider = "plaid-local"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
settings = {{ environment = "sandbox" }}

[[integrations]]
id = "paypal"
provider = "paypal-local"
settings = {{ webhook_id = "{WEBHOOK_ID}" }}
"#
        ),
    )
    .unwrap();
    Server::start(dir, &["--dev"], &[]).await
}

async fn post(server: &Server, integration: &str, headers: &[(String, String)], body: &str) -> u16 {
    let mut req = server
        .http()
        .post(server.url(&format!("/webhooks/{integration}/event")))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (n, v) in headers {
        req = req.header(n.as_str(), v.as_str());
    }
    req.send().await.unwrap().status().as_u16()
}

fn plaid_header(token: &str) -> Vec<(String, String)> {
    vec![("Plaid-Verification".to_owned(), token.to_owned())]
}

/// `(provider event id, type)` of the integration's stored events.
async fn stored(dir: &Path, integration: &str) -> Vec<(Option<String>, Option<String>)> {
    let db = open_db(dir).await;
    let rows = sqlx::query_as(
        "SELECT provider_event_id, event_type FROM events WHERE integration = ? ORDER BY id",
    )
    .bind(integration)
    .fetch_all(&db)
    .await
    .unwrap();
    db.close().await;
    rows
}

fn plaid_body(code: &str, item: usize) -> String {
    format!(
        r#"{{"webhook_type":"TRANSACTIONS","webhook_code":"{code}","item_id":"item-{item}","initial_update_complete":true,"historical_update_complete":false,"environment":"sandbox"}}"#
    )
}

#[tokio::test]
async fn plaid_webhook_keys_are_fetched_once_and_an_outage_is_a_503() {
    let dir = sandbox();
    // k1: the first webhook; k2: twenty at once; k3: during an outage.
    let mut webhooks = vec![("k1", plaid_body("SYNC_UPDATES_AVAILABLE", 0))];
    webhooks.extend((1..=20).map(|i| ("k2", plaid_body("DEFAULT_UPDATE", i))));
    webhooks.push(("k3", plaid_body("INITIAL_UPDATE", 21)));
    let (answers, tokens) = plaid_sign(&["k1", "k2", "k3"], &webhooks);
    let mut keys = KeyServer::start(Keys {
        plaid: answers,
        ..Default::default()
    })
    .await;
    let server = start_switchboard(dir.path(), &keys).await;

    // Valid: stored, with its type from the two fields.
    let status = post(&server, "plaid", &plaid_header(&tokens[0]), &webhooks[0].1).await;
    assert!(
        (200..300).contains(&status),
        "valid webhook answered {status}"
    );
    assert_eq!(
        stored(dir.path(), "plaid").await,
        [(None, Some("TRANSACTIONS.SYNC_UPDATES_AVAILABLE".to_owned()))]
    );
    assert_eq!(keys.asked(), ["plaid:k1"]);

    // Tampered body: 401, nothing more stored, the cached key used.
    let tampered = webhooks[0].1.replace("item-0", "item-9");
    assert_eq!(
        post(&server, "plaid", &plaid_header(&tokens[0]), &tampered).await,
        401
    );
    assert_eq!(stored(dir.path(), "plaid").await.len(), 1);

    // Twenty at once naming a new key: one fetch.
    let headers: Vec<_> = tokens.iter().map(|t| plaid_header(t)).collect();
    let sends = (1..=20).map(|i| post(&server, "plaid", &headers[i], &webhooks[i].1));
    for status in futures_util::future::join_all(sends).await {
        assert!((200..300).contains(&status), "answered {status}");
    }
    assert_eq!(keys.asked_for("plaid:k2"), 1, "{:?}", keys.asked());
    assert_eq!(stored(dir.path(), "plaid").await.len(), 21);

    // The key server down: 503 (the provider sends it again), nothing stored.
    keys.stop().await;
    let (token, body) = (&tokens[21], &webhooks[21].1);
    assert_eq!(
        post(&server, "plaid", &plaid_header(token), body).await,
        503
    );
    assert_eq!(stored(dir.path(), "plaid").await.len(), 21);
    assert_eq!(keys.asked_for("plaid:k3"), 0);

    // Back: the provider's retry is accepted (once the outage is no longer remembered),
    // with one fetch however many retries came meanwhile.
    keys.restart().await;
    eventually("the retry after the outage to be accepted", || async {
        let status = post(&server, "plaid", &plaid_header(token), body).await;
        assert!(matches!(status, 200..300 | 503), "answered {status}");
        (status < 300).then_some(())
    })
    .await;
    assert_eq!(keys.asked_for("plaid:k3"), 1, "{:?}", keys.asked());
    let rows = stored(dir.path(), "plaid").await;
    assert_eq!(rows.len(), 22);
    assert_eq!(
        rows.last().unwrap().1.as_deref(),
        Some("TRANSACTIONS.INITIAL_UPDATE")
    );
}

fn paypal_body(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","event_version":"1.0","create_time":"2026-12-05T10:00:00.000Z","resource_type":"capture","event_type":"PAYMENT.CAPTURE.COMPLETED","summary":"Payment completed for $ 10.0 USD","resource":{{"id":"42311647XV020574X","status":"COMPLETED","amount":{{"currency_code":"USD","value":"10.00"}}}}}}"#
    )
}

fn with_cert_url(headers: &[(String, String)], url: &str) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            if n == "PAYPAL-CERT-URL" {
                (n.clone(), url.to_owned())
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect()
}

#[tokio::test]
async fn paypal_webhooks_verify_with_the_certificate_at_a_pinned_url_only() {
    let dir = sandbox();
    let keys = KeyServer::start(Keys::default()).await;
    let cert_url = keys.url(&format!("/v1/notifications/certs/{CERT_NAME}"));
    let webhooks = [
        (
            "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
            paypal_body("WH-LOCAL-1"),
        ),
        (
            "69cd13f0-d67a-11e5-baa3-778b53f4ae56",
            paypal_body("WH-LOCAL-2"),
        ),
    ];
    let (pem, headers) = paypal_sign(&cert_url, &webhooks);
    keys.keys.lock().unwrap().pem = pem;
    let server = start_switchboard(dir.path(), &keys).await;

    // Off the pinned prefix (another path, another port, another host, a path that
    // climbs out): 401 before any request reaches the key server.
    let port = keys.addr.port();
    for bad in [
        keys.url(&format!("/v1/other/{CERT_NAME}")),
        keys.url(&format!("/v1/notifications/certs/../other/{CERT_NAME}")),
        format!(
            "http://127.0.0.1:{}/v1/notifications/certs/{CERT_NAME}",
            port + 1
        ),
        format!("https://api.paypal.com.evil.example/v1/notifications/certs/{CERT_NAME}"),
    ] {
        let status = post(
            &server,
            "paypal",
            &with_cert_url(&headers[0], &bad),
            &webhooks[0].1,
        )
        .await;
        assert_eq!(status, 401, "{bad}");
    }
    assert_eq!(keys.asked(), Vec::<String>::new());
    assert!(stored(dir.path(), "paypal").await.is_empty());

    // Valid: stored with PayPal's event id and type.
    let status = post(&server, "paypal", &headers[0], &webhooks[0].1).await;
    assert!(
        (200..300).contains(&status),
        "valid webhook answered {status}"
    );
    let want = (
        Some("WH-LOCAL-1".to_owned()),
        Some("PAYMENT.CAPTURE.COMPLETED".to_owned()),
    );
    assert_eq!(
        stored(dir.path(), "paypal").await,
        std::slice::from_ref(&want)
    );

    // Tampered body: 401, nothing more stored.
    let tampered = webhooks[1].1.replace("10.00", "99.00");
    assert_eq!(post(&server, "paypal", &headers[1], &tampered).await, 401);
    assert_eq!(stored(dir.path(), "paypal").await, [want]);

    // The second webhook, untouched: stored with the cached certificate.
    let status = post(&server, "paypal", &headers[1], &webhooks[1].1).await;
    assert!((200..300).contains(&status), "answered {status}");
    assert_eq!(stored(dir.path(), "paypal").await.len(), 2);
    assert_eq!(
        keys.asked(),
        [format!("/v1/notifications/certs/{CERT_NAME}")]
    );
}
