//! The admin console in headless Chromium (`tests/browser/console.mjs`, playwright-core
//! and axe-core): sign-in with a wrong key and a right one, every page of
//! `server::console::PAGES` and every console page linked from them checked for
//! accessibility (axe-core: no serious or critical violation, light and dark), CSP
//! violations, known secrets in the HTML, and weight (under 100 KB transferred);
//! screenshots at 1280 and 360 px, light and dark, written to `$SWITCHBOARD_ARTIFACTS`
//! (default `target/screenshots/console`); a forged form post; sign-out ending the
//! session on the server; and a session ended by its (configured, tiny) idle time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::drive_script;
use crate::harness::{self, Server};

const DEADLINE: Duration = Duration::from_secs(300);
const WEBHOOK_SECRET: &str = "gh-webhook-secret-for-the-console-0123456789";

fn artifacts() -> PathBuf {
    std::env::var_os("SWITCHBOARD_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots"))
        .join("console")
}

/// Data for the pages to show: an app key (its secret must appear nowhere), a webhook.
/// Pages that need rows of their own add them here.
async fn seed(server: &Server, admin: &str) -> (String, String) {
    let r = server
        .http()
        .post(server.url("/api/api-keys"))
        .bearer_auth(admin)
        .json(&json!({"name": "victim app", "scope": "app"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    seed_pipeline(server, admin).await;
    (
        v["id"].as_str().unwrap().to_owned(),
        v["key"].as_str().unwrap().to_owned(),
    )
}

/// A token that must never show: it is in the seeded webhook's payload.
const PAYLOAD_TOKEN: &str = "ghs_payloadSecretNeverShown0123456789";

/// The events, destinations and dead-letter pages' rows: a destination that refuses
/// everything (one attempt, then dead) and a webhook whose payload carries a token, so
/// the crawl reaches an event page, a dead-letter page and a replay count.
/// The destination of the seeded event, at `url`: one attempt, dead.
fn pages_config(url: &str) -> String {
    format!(
        "[[destinations]]\nid = \"app\"\nurl = \"{url}\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nretry_schedule_secs = [0]\nmax_attempts = 1\n"
    )
}

/// A token the seeded destination echoes in its answer: the attempt's excerpt redacts it.
const ANSWER_TOKEN: &str = "answer-token-8c1f0e2d9b7a";

/// A destination that answers 500 with a long one-line body (the attempt's excerpt must
/// stay inside a 360 px page) holding [`ANSWER_TOKEN`]; its URL.
async fn failing_destination() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = format!(
        "upstream failed <b>bold</b> token={ANSWER_TOKEN} {}",
        "a-very-long-unbroken-word-".repeat(100)
    );
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let body = body.clone();
            async move { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, body) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/hooks")
}

async fn seed_pipeline(server: &Server, admin: &str) {
    use hmac::{KeyInit, Mac};
    let body = json!({"action": "opened", "installation": {"access_token": PAYLOAD_TOKEN}, "sender": {"login": "octocat"}}).to_string();
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    m.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(m.finalize().into_bytes()));
    let r = server
        .http()
        .post(server.url("/webhooks/gh/event"))
        .header("X-GitHub-Delivery", "console-seed-1")
        .header("X-GitHub-Event", "pull_request")
        .header("X-Hub-Signature-256", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    harness::eventually("the seeded delivery dead", || async {
        let v = server.get_json("/api/events?status=dead", admin).await;
        v["data"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
            .then_some(())
    })
    .await;
}

fn config(extra: &str) -> String {
    format!(
        "{extra}\n[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"{WEBHOOK_SECRET}\"]\n"
    )
}

#[tokio::test]
async fn the_console_in_headless_chromium() {
    let dir = harness::sandbox();
    let dest = failing_destination().await;
    std::fs::write(
        dir.path().join("switchboard.toml"),
        config(&pages_config(&dest)),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let admin = server.printed_admin_key();
    let (victim_id, victim_key) = seed(&server, &admin).await;
    let pages: Vec<&str> = server::console::PAGES.iter().map(|p| p.path).collect();
    let input = json!({
        "base": server.base,
        "key": admin,
        "wrong_key": format!("sb_{}_{}", "a".repeat(12), "B".repeat(40)),
        "pages": pages,
        "secrets": [admin, victim_key, WEBHOOK_SECRET, PAYLOAD_TOKEN, ANSWER_TOKEN],
        "artifacts": artifacts(),
        "forge": {"path": format!("/ui/api-keys/{victim_id}/revoke"), "fields": {}},
    });
    let report = drive_script("console.mjs", &input, DEADLINE).await;
    let ctx = || format!("{report:#}\n--- switchboard stderr\n{}", server.stderr());

    assert_eq!(report["wrong"]["status"], 401, "{}", ctx());
    assert!(
        report["wrong"]["url"]
            .as_str()
            .unwrap()
            .contains("/ui/sign-in"),
        "{}",
        ctx()
    );
    assert!(
        report["signed_in"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/ui"),
        "{}",
        ctx()
    );

    let visited = report["pages"].as_array().unwrap();
    for p in &pages {
        assert!(
            visited.iter().any(|v| v["path"] == *p),
            "{p} not visited: {}",
            ctx()
        );
    }
    for v in visited {
        let path = v["path"].as_str().unwrap();
        assert_eq!(v["status"], 200, "{path}: {v}");
        assert_eq!(v["secrets_found"], 0, "{path} shows a secret");
        assert_eq!(v["csp_violations"], json!([]), "{path}: {v}");
        assert_eq!(v["axe_serious"], json!([]), "{path}: axe-core: {v:#}");
        assert!(
            v["bytes"].as_u64().unwrap() < 100_000,
            "{path} weighs {}",
            v["bytes"]
        );
    }

    // The forged revoke was refused and the key still works.
    assert_eq!(report["forged"]["status"], 403, "{}", ctx());
    let r = server
        .http()
        .get(server.url("/api/connections"))
        .bearer_auth(&victim_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the forged post changed nothing"
    );

    // Sign-out ended the session on the server: the old cookie is refused.
    assert!(
        report["after_sign_out"]
            .as_str()
            .unwrap()
            .contains("/ui/sign-in"),
        "{}",
        ctx()
    );
    let old = report["session_cookie"].as_str().expect("a session cookie");
    let r = crate::harness::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(server.url("/ui"))
        .header("cookie", format!("sb_console={old}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/ui/sign-in")
    );
}

#[tokio::test]
async fn an_idle_console_session_ends_in_headless_chromium() {
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        config("[console]\nsession_idle_secs = 1\nsession_absolute_secs = 600\n"),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let input = json!({
        "base": server.base,
        "key": server.printed_admin_key(),
        "mode": "expiry",
        "wait_ms": 2500,
    });
    let report = drive_script("console.mjs", &input, DEADLINE).await;
    assert!(
        report["sign_in"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/ui/audit")
            || report["sign_in"]["url"].as_str().unwrap().ends_with("/ui"),
        "{report}"
    );
    assert!(
        report["after_wait"]["url"]
            .as_str()
            .unwrap()
            .contains("/ui/sign-in"),
        "{report}"
    );
}

/// A server whose console signs in with the oidc-provider test peer, admitting by
/// `admission` (the `allowed_emails`/`allowed_groups` lines of `[console.oidc]`).
struct OidcConsole {
    _peer: crate::oidc::OidcPeer,
    issuer: String,
    server: Server,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl OidcConsole {
    async fn start(scope: &str, admission: &str) -> Self {
        let peer = crate::oidc::OidcPeer::start(json!([{
            "client_id": "console",
            "client_secret": "console-secret-for-tests",
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/ui/sign-in/oidc/callback"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": scope,
        }]));
        let dir = harness::sandbox();
        std::fs::write(
            dir.path().join("switchboard.toml"),
            config(&format!(
                "[console.oidc]\nissuer = \"{}\"\nclient_id = \"console\"\nclient_secret = \"env:CONSOLE_OIDC_SECRET\"\n{admission}\n",
                peer.issuer
            )),
        )
        .unwrap();
        let server = Server::start(
            dir.path(),
            &["--dev"],
            &[("CONSOLE_OIDC_SECRET", "console-secret-for-tests")],
        )
        .await;
        let http = crate::harness::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            issuer: peer.issuer.clone(),
            _peer: peer,
            server,
            http,
            _dir: dir,
        }
    }

    fn cookie_of(r: &reqwest::Response, name: &str) -> Option<String> {
        r.headers().get_all("set-cookie").iter().find_map(|v| {
            let v = v.to_str().ok()?;
            let (k, rest) = v.split_once('=')?;
            (k == name).then(|| rest.split(';').next().unwrap_or_default().to_owned())
        })
    }

    fn callback_prefix(&self) -> String {
        self.server.url("/ui/sign-in/oidc/callback")
    }

    /// Starts a sign-in as the peer's account `hint`, landing on `/ui/audit` once done.
    async fn start_sign_in(&self, hint: &str) -> reqwest::Response {
        let url = self.server.url(&format!(
            "/ui/sign-in/oidc?next=%2Fui%2Faudit&login_hint={hint}"
        ));
        self.http.get(url).send().await.unwrap()
    }

    /// The callback URL the provider sent the browser to, opened with `browser`'s cookie.
    async fn finish(&self, landed: String, browser: Option<String>) -> reqwest::Response {
        let mut r = self.http.get(landed);
        if let Some(b) = browser {
            r = r.header("cookie", format!("sb_console_oidc={b}"));
        }
        r.send().await.unwrap()
    }

    /// The whole sign-in of `hint` in one browser: the callback's answer.
    async fn sign_in(&self, hint: &str) -> reqwest::Response {
        let r = self.start_sign_in(hint).await;
        let browser = Self::cookie_of(&r, "sb_console_oidc").expect("a sign-in cookie");
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let landed = crate::oidc::browse_until(&to, &self.callback_prefix()).await;
        self.finish(landed, Some(browser)).await
    }

    /// Who the audit page says the session `r` signed in.
    async fn audit_page(&self, r: reqwest::Response) -> String {
        assert_eq!(r.status(), StatusCode::OK, "{}", self.server.stderr());
        let session = Self::cookie_of(&r, "sb_console").expect("a session");
        let html = r.text().await.unwrap();
        assert!(html.contains("url=/ui/audit"), "{html}");
        let r = self
            .http
            .get(self.server.url("/ui/audit"))
            .header("cookie", format!("sb_console={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.text().await.unwrap()
    }
}

/// Sign-in with a real OpenID Connect provider (`tests/peers/oidc-provider`): an allowed
/// verified e-mail gets a session audited as `oidc:<e-mail>`; another user is refused; a
/// callback replayed, or finished by another browser, signs nobody in.
#[tokio::test]
async fn console_sign_in_with_openid_connect() {
    let c = OidcConsole::start(
        "openid profile email",
        "allowed_emails = [\"Alice@example.test\"]",
    )
    .await;
    // The sign-in page offers it.
    let page = c
        .http
        .get(c.server.url("/ui/sign-in"))
        .send()
        .await
        .unwrap();
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("/ui/sign-in/oidc?next=")
    );

    // alice: allowed.
    let r = c.start_sign_in("alice").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", c.server.stderr());
    let browser = OidcConsole::cookie_of(&r, "sb_console_oidc").expect("a sign-in cookie");
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with(&c.issuer)
            && to.contains("code_challenge_method=S256")
            && to.contains("nonce=")
    );
    let landed = crate::oidc::browse_until(&to, &c.callback_prefix()).await;
    // Another browser (no cookie, or another cookie) cannot use it, and it is spent.
    let r = c.finish(landed.clone(), None).await;
    assert_eq!(r.headers()["location"], "/ui/sign-in?error=oidc_failed");
    let r = c.finish(landed.clone(), Some(browser.clone())).await;
    assert_eq!(
        r.headers()["location"],
        "/ui/sign-in?error=oidc_failed",
        "a state is used once"
    );

    let html = c.audit_page(c.sign_in("alice").await).await;
    assert!(
        html.contains("oidc:alice@example.test"),
        "audited with the e-mail"
    );

    // bob: a verified e-mail, but not allowed.
    let r = c.sign_in("bob").await;
    assert_eq!(
        r.headers()["location"],
        "/ui/sign-in?error=oidc_not_allowed"
    );
    assert!(OidcConsole::cookie_of(&r, "sb_console").is_none());

    // The user denies at the provider.
    let r = c.sign_in("deny").await;
    assert_eq!(r.headers()["location"], "/ui/sign-in?error=oidc_denied");

    // Bad input at the callback: nothing but a way back.
    for q in [
        "",
        "?state=x",
        "?code=y",
        "?state=x&code=y",
        &format!("?state={}&code=y", "s".repeat(5000)),
    ] {
        let r = c
            .finish(format!("{}{q}", c.callback_prefix()), Some("z".into()))
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{q}");
    }
    let r = c
        .http
        .get(c.server.url("/ui/sign-in/oidc?bad=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

/// Admission by group: the peer hands out a `groups` claim (at userinfo, not in the ID
/// token) for the `groups` scope; a member of an allowed group signs in whatever their
/// e-mail, a user in other groups only is refused, and a group name that differs only
/// by case is not a match.
#[tokio::test]
async fn console_admits_members_of_allowed_groups() {
    let c = OidcConsole::start(
        "openid profile email groups",
        "allowed_groups = [\"switchboard-admins\"]",
    )
    .await;
    let r = c.start_sign_in("ops-carol").await;
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.contains("groups"), "the groups scope is asked for: {to}");

    let html = c.audit_page(c.sign_in("ops-carol").await).await;
    assert!(html.contains("oidc:ops-carol@example.test"), "{html}");

    // alice is in `staff` only; `Switchboard-Admins` is another group.
    for hint in ["alice", "case-dave"] {
        let r = c.sign_in(hint).await;
        assert_eq!(
            r.headers()["location"],
            "/ui/sign-in?error=oidc_not_allowed",
            "{hint}"
        );
        assert!(OidcConsole::cookie_of(&r, "sb_console").is_none(), "{hint}");
    }
}
