//! Atlassian's two kinds of webhook through a real server: admin webhooks
//! (`X-Hub-Signature`, the webhook secret) and webhooks an OAuth 2.0 app registered
//! (`Authorization: Bearer <JWT>`, the integration's client secret). The JWTs are made at
//! run time by npm `jose` (the pinned copy of tests/peers/jwt-grant), the HMACs by the
//! `hmac` crate: neither by Switchboard's signer.

use std::path::Path;
use std::process::Command;

use hmac::{KeyInit, Mac};

use crate::harness::{Server, run, sandbox};

const CLIENT_SECRET: &str = "e2e-atlassian-client-secret-0123456789abcdef";
const ADMIN_SECRET: &str = "e2e-atlassian-admin-webhook-secret-0123456789";
const BODY: &str = r#"{"timestamp":1700000000000,"webhookEvent":"jira:issue_updated","issue":{"id":"10002","key":"SB-2"}}"#;

/// JWTs from `jose`, as `name=token` lines: `valid` (HS256 with the client secret, iat
/// now, exp in 3 minutes), `admin_key` (HS256 with the webhook secret), `expired`,
/// `rs256` (another algorithm).
fn jose_tokens() -> std::collections::BTreeMap<String, String> {
    let peer = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/jwt-grant");
    assert!(
        peer.join("node_modules/jose/package.json").is_file(),
        "the JWT grant test peer is not installed ({}/node_modules is missing): run scripts/setup",
        peer.display()
    );
    let script = r#"
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import crypto from "node:crypto";
const jose = await import(pathToFileURL(createRequire(process.cwd() + "/package.json").resolve("jose")).href);
const now = Math.floor(Date.now() / 1000);
const claims = { iss: "e2e-client-id", sub: "557058:e2e", jti: crypto.randomUUID() };
const hs = (secret, iat, exp) => new jose.SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setIssuedAt(iat).setExpirationTime(exp).sign(new TextEncoder().encode(secret));
const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
const out = {
  valid: await hs(process.env.CLIENT_SECRET, now, now + 180),
  admin_key: await hs(process.env.ADMIN_SECRET, now, now + 180),
  expired: await hs(process.env.CLIENT_SECRET, now - 600, now - 300),
  rs256: await new jose.SignJWT(claims).setProtectedHeader({ alg: "RS256" }).setIssuedAt(now)
    .setExpirationTime(now + 180).sign(privateKey),
};
for (const [k, v] of Object.entries(out)) console.log(`${k}=${v}`);
"#;
    let out = Command::new("node")
        .current_dir(&peer)
        .args(["--input-type=module", "-e", script])
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("ADMIN_SECRET", ADMIN_SECRET)
        .output()
        .expect("node runs (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn hub(secret: &str, body: &[u8]) -> String {
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

fn write_config(dir: &Path) {
    std::fs::write(
        dir.join("switchboard.toml"),
        r#"
[[integrations]]
id = "jira"
provider = "atlassian"
client_id = "e2e-client-id"
client_secret = "env:JIRA_CLIENT_SECRET"
webhook_secrets = ["env:JIRA_WEBHOOK_SECRET"]

# Webhooks the app registered only: no webhook secret.
[[integrations]]
id = "jira-app"
provider = "atlassian"
client_id = "e2e-client-id"
client_secret = "env:JIRA_CLIENT_SECRET"
"#,
    )
    .unwrap();
}

const ENV: &[(&str, &str)] = &[
    ("JIRA_CLIENT_SECRET", CLIENT_SECRET),
    ("JIRA_WEBHOOK_SECRET", ADMIN_SECRET),
];

#[tokio::test]
async fn admin_and_app_registered_webhooks_each_verify_with_their_own_secret() {
    let dir = sandbox();
    write_config(dir.path());
    let tokens = jose_tokens();
    let server = Server::start(dir.path(), &["--dev"], ENV).await;
    let post = |integration: &str, headers: Vec<(&'static str, String)>| {
        let mut rb = server
            .http()
            .post(server.url(&format!("/webhooks/{integration}/event")))
            .header("Content-Type", "application/json");
        for (n, v) in headers {
            rb = rb.header(n, v);
        }
        rb.body(BODY).send()
    };
    let bearer = |name: &str| format!("Bearer {}", tokens[name]);

    // A webhook the app registered: stored once, its redelivery a duplicate.
    for (integration, delivery) in [("jira", "dyn-1"), ("jira-app", "dyn-2")] {
        let r = post(
            integration,
            vec![
                ("Authorization", bearer("valid")),
                ("X-Atlassian-Webhook-Identifier", delivery.to_owned()),
            ],
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200, "{integration}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["duplicate"], false, "{v}");
    }
    let again = post(
        "jira",
        vec![
            ("Authorization", bearer("valid")),
            ("X-Atlassian-Webhook-Identifier", "dyn-1".to_owned()),
        ],
    )
    .await
    .unwrap();
    let v: serde_json::Value = again.json().await.unwrap();
    assert_eq!(v["duplicate"], true, "{v}");

    // An admin webhook with its secret.
    let r = post(
        "jira",
        vec![
            ("X-Hub-Signature", hub(ADMIN_SECRET, BODY.as_bytes())),
            ("X-Atlassian-Webhook-Identifier", "adm-1".to_owned()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);

    // Refused, each with 401: a JWT made with the webhook secret, an HMAC made with the
    // client secret, an expired JWT, another algorithm, neither header.
    let refused: Vec<(&str, Vec<(&'static str, String)>)> = vec![
        ("jira", vec![("Authorization", bearer("admin_key"))]),
        (
            "jira",
            vec![("X-Hub-Signature", hub(CLIENT_SECRET, BODY.as_bytes()))],
        ),
        (
            "jira-app",
            vec![("X-Hub-Signature", hub(CLIENT_SECRET, BODY.as_bytes()))],
        ),
        ("jira", vec![("Authorization", bearer("expired"))]),
        ("jira", vec![("Authorization", bearer("rs256"))]),
        ("jira", vec![]),
    ];
    for (i, (integration, headers)) in refused.into_iter().enumerate() {
        let r = post(integration, headers).await.unwrap();
        assert_eq!(r.status(), 401, "case {i}");
    }
    let db = crate::harness::open_db(dir.path()).await;
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT provider_event_id, scheme FROM events ORDER BY provider_event_id")
            .fetch_all(&db)
            .await
            .unwrap();
    assert_eq!(
        stored,
        [
            ("adm-1".to_owned(), "atlassian".to_owned()),
            ("dyn-1".to_owned(), "atlassian".to_owned()),
            ("dyn-2".to_owned(), "atlassian".to_owned()),
        ]
    );

    // `webhook verify` says which secret matched a captured request.
    std::fs::write(dir.path().join("body.txt"), BODY).unwrap();
    std::fs::write(
        dir.path().join("headers.txt"),
        format!("Authorization: {}\n", bearer("valid")),
    )
    .unwrap();
    let out = run(
        dir.path(),
        &[
            "webhook",
            "verify",
            "jira",
            "--headers",
            "headers.txt",
            "--body",
            "body.txt",
        ],
        ENV,
    );
    out.success();
    assert!(
        out.stdout
            .contains("valid: atlassian signature matched the integration's client_secret"),
        "{}",
        out.stdout
    );

    // `webhook test`: with a webhook secret, an admin webhook; with the client secret
    // alone, a webhook the app registered. Both accepted by the server.
    let listen = server.base.trim_start_matches("http://").to_owned();
    let mut env = ENV.to_vec();
    env.push(("SWITCHBOARD_URL", server.base.as_str()));
    env.push(("SWITCHBOARD_LISTEN", listen.as_str()));
    for integration in ["jira", "jira-app"] {
        let out = run(
            dir.path(),
            &["--json", "webhook", "test", integration],
            &env,
        );
        let v: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
        assert_eq!(
            v["status"], 200,
            "{integration}: {} {}",
            out.stdout, out.stderr
        );
    }
}
