//! Connections end to end: the real `switchboard` binary against a real, certified
//! authorization server (`oidc-provider`, started by the test) with PKCE required,
//! refresh-token rotation, revocation and introspection.

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{self, Server};
use crate::oidc::{OidcPeer, browse_until};

pub(crate) const CLIENT_ID: &str = "switchboard";
pub(crate) const CLIENT_SECRET: &str = "peer-client-secret-for-tests";
const APP_ORIGIN: &str = "http://127.0.0.1:9";

/// A peer whose one client accepts Switchboard's callback on any loopback port (RFC 8252
/// native-app rule), so the peer can start before the server picks its port.
pub(crate) fn peer(envs: &[(&str, &str)]) -> OidcPeer {
    OidcPeer::start_with(
        json!([{
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "application_type": "native",
            "redirect_uris": [
                "http://127.0.0.1/api/integrations/acme/callback",
                "http://127.0.0.1/api/integrations/acme2/callback",
            ],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid profile email offline_access api:read api:write",
        }]),
        envs,
    )
}

pub(crate) fn config(peer: &OidcPeer, extra: &str) -> String {
    format!(
        r#"{extra}
[[providers]]
id = "acme"
issuer = "{issuer}"

[[integrations]]
id = "acme"
provider = "acme"
client_id = "{CLIENT_ID}"
client_secret = "env:ACME_CLIENT_SECRET"
scopes = ["openid", "email", "api:read"]
required_scopes = ["api:read"]
allowed_return_origins = ["{APP_ORIGIN}"]

[[integrations]]
id = "acme2"
provider = "acme"
client_id = "{CLIENT_ID}"
client_secret = "env:ACME_CLIENT_SECRET"
scopes = ["openid", "api:write"]
required_scopes = ["api:admin"]
allowed_return_origins = ["{APP_ORIGIN}"]
"#,
        issuer = peer.issuer
    )
}

/// Runs `serve --dev` in `dir` with the config written there.
async fn server(dir: &Path) -> Server {
    Server::start(dir, &["--dev"], &[("ACME_CLIENT_SECRET", CLIENT_SECRET)]).await
}

/// An HTTP client that does not follow redirects.
fn browser() -> reqwest::Client {
    crate::harness::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The app backend's side of the API: an admin key on one server.
pub(crate) struct App<'a> {
    pub(crate) server: &'a Server,
    pub(crate) key: String,
}

impl App<'_> {
    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .server
            .http()
            .post(self.server.url(path))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .server
            .http()
            .get(self.server.url(path))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A connect session for `u1`.
    async fn session(&self, integration: &str, connection_id: &str) -> String {
        let (status, v) = self
            .post(
                "/api/connect-sessions",
                json!({
                    "end_user": {"id": "u1"},
                    "integrations": [integration],
                    "connection_id": connection_id,
                    "return_to": format!("{APP_ORIGIN}/done?from=app"),
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }

    /// `GET /auth`: returns the provider URL Switchboard redirects to.
    async fn authorize(&self, integration: &str, session: &str) -> String {
        let r = browser()
            .get(self.server.url(&format!(
                "/api/integrations/{integration}/auth?session={session}"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND, "{:?}", r.text().await);
        r.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Logs in at the provider; returns the callback URL it sends the browser to.
    async fn provider_login(&self, integration: &str, auth_url: &str) -> String {
        let callback = self
            .server
            .url(&format!("/api/integrations/{integration}/callback"));
        browse_until(auth_url, &callback).await
    }

    /// Calls the callback; returns the status and the Location (or body).
    async fn callback(&self, url: &str) -> (StatusCode, String) {
        let r = browser().get(url).send().await.unwrap();
        let status = r.status();
        let loc = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, loc.unwrap_or(r.text().await.unwrap_or_default()))
    }

    /// The whole flow for `connection_id`; returns the final redirect.
    pub(crate) async fn connect(&self, integration: &str, connection_id: &str) -> String {
        let session = self.session(integration, connection_id).await;
        let auth = self.authorize(integration, &session).await;
        let cb = self.provider_login(integration, &auth).await;
        let (status, loc) = self.callback(&cb).await;
        assert_eq!(status, StatusCode::FOUND, "{loc}");
        loc
    }

    /// How many connections exist.
    async fn count(&self) -> usize {
        self.get("/api/connections").await.1["data"]
            .as_array()
            .unwrap()
            .len()
    }

    /// `GET /api/connections/{id}/token`.
    pub(crate) async fn token(&self, id: &str) -> (StatusCode, Value) {
        self.get(&format!("/api/connections/{id}/token")).await
    }
}

/// Waits until the access token of connection `id` expires within `margin_secs`, by the
/// expiry the server reports (the tests issue tokens that live just longer than that).
async fn within_margin(app: &App<'_>, id: &str, margin_secs: i64) {
    let (status, c) = app.get(&format!("/api/connections/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    let expires = chrono::DateTime::parse_from_rfc3339(c["expires_at"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("expires_at of {id}: {e}: {c}"))
        .with_timezone(&chrono::Utc);
    harness::eventually(
        "the access token to come within the refresh margin",
        || async {
            (expires - chrono::Utc::now() < chrono::Duration::seconds(margin_secs)).then_some(())
        },
    )
    .await;
}

fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn connect_token_refresh_with_rotation_revoke_against_oidc_provider() {
    let peer = peer(&[("ACCESS_TOKEN_TTL", "31")]);
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        config(
            &peer,
            "token_refresh_margin_secs = 30\nbackground_refresh_interval_secs = 3600",
        ),
    )
    .unwrap();
    // At debug level, so that the search for tokens in the logs below covers the most
    // talkative ones.
    let server = Server::start(
        dir.path(),
        &["--dev"],
        &[
            ("ACME_CLIENT_SECRET", CLIENT_SECRET),
            ("SWITCHBOARD_LOG_LEVEL", "debug"),
        ],
    )
    .await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };

    // Connect: Switchboard sends the browser to the provider with state, PKCE and nonce.
    let session = app.session("acme", "c1").await;
    let auth = app.authorize("acme", &session).await;
    assert!(auth.starts_with(&peer.url("/auth?")), "{auth}");
    for p in ["state", "code_challenge", "nonce", "redirect_uri", "scope"] {
        assert!(query_param(&auth, p).is_some(), "{p} missing in {auth}");
    }
    assert_eq!(
        query_param(&auth, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(
        query_param(&auth, "state").unwrap().len() >= 43,
        "state has 256 bits"
    );
    let cb = app.provider_login("acme", &auth).await;
    let (status, loc) = app.callback(&cb).await;
    assert_eq!(status, StatusCode::FOUND, "{loc}");
    assert!(
        loc.starts_with(&format!("{APP_ORIGIN}/done?from=app&")),
        "{loc}"
    );
    assert_eq!(query_param(&loc, "status").as_deref(), Some("connected"));
    assert_eq!(query_param(&loc, "connection_id").as_deref(), Some("c1"));

    let (status, c) = app.get("/api/connections/c1").await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "active");
    assert_eq!(c["integration"], "acme");
    assert_eq!(c["end_user_id"], "u1");
    assert!(
        c["scopes"].as_array().unwrap().contains(&json!("api:read")),
        "{c}"
    );
    assert_eq!(c["missing_scopes"], json!([]));
    assert!(c.get("access_token").is_none() && !c.to_string().contains("token\":\""));

    // A token: valid at the provider.
    let (status, t1) = app.token("c1").await;
    assert_eq!(status, StatusCode::OK, "{t1}");
    let first = t1["access_token"].as_str().unwrap().to_owned();
    assert_eq!(t1["token_type"], "Bearer");
    let info = peer.introspect(CLIENT_ID, CLIENT_SECRET, &first).await;
    assert_eq!(info["active"], true, "{info}");
    let stats = peer.stats().await;
    assert_eq!(stats["token"]["authorization_code"], 1, "{stats}");
    assert_eq!(stats["token"]["refresh_token"], 0, "{stats}");

    // (Expire) the 31 s token comes within its refresh lead (the 30 s margin, but at
    // most half its lifetime: 15.5 s): the next call refreshes first.
    peer.set_access_ttl(3600).await;
    within_margin(&app, "c1", 15).await;
    assert_eq!(
        peer.stats().await["token"]["refresh_token"],
        0,
        "nothing refreshed while the token entered the margin"
    );
    let (status, t2) = app.token("c1").await;
    assert_eq!(status, StatusCode::OK, "{t2}");
    let second = t2["access_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "refreshed");
    assert_eq!(peer.stats().await["token"]["refresh_token"], 1);
    // A fresh token is handed out as is.
    let (_, t3) = app.token("c1").await;
    assert_eq!(t3["access_token"], second);
    assert_eq!(peer.stats().await["token"]["refresh_token"], 1);

    // Rotation: a forced refresh works only if the rotated refresh token was stored
    // (the provider revokes the whole grant when a used one comes back).
    let (status, r) = app.post("/api/connections/c1/refresh", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["refreshed"], true);
    assert_eq!(r["status"], "active");
    let (_, t4) = app.token("c1").await;
    let fourth = t4["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        peer.introspect(CLIENT_ID, CLIENT_SECRET, &fourth).await["active"],
        true
    );
    assert_eq!(peer.stats().await["token"]["refresh_token"], 2);
    let (_, c) = app.get("/api/connections/c1").await;
    assert!(c["last_refresh_at"].is_string(), "{c}");

    // Disconnect: revoked at the provider (RFC 7009, refresh token first), then deleted.
    let (status, d) = app
        .post(
            "/api/integrations/acme/disconnect",
            json!({"connection_id": "c1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d, json!({"deleted": true, "revoked_at_provider": true}));
    assert_eq!(peer.stats().await["revocation"], 1);
    let info = peer.introspect(CLIENT_ID, CLIENT_SECRET, &fourth).await;
    assert_eq!(
        info["active"], false,
        "the grant is gone at the provider: {info}"
    );
    let (status, e) = app.token("c1").await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "revoked");
    let (_, c) = app.get("/api/connections/c1").await;
    assert_eq!(c["status"], "revoked");

    // The audit log has the connect and the revoke.
    let (_, audit) = app.get("/api/audit?limit=50").await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    assert!(actions.contains(&"connection.connect"), "{actions:?}");
    assert!(actions.contains(&"connection.revoke"), "{actions:?}");

    // No token the provider issued, nor the client secret, is anywhere in the database
    // files or the (debug) logs.
    let mut issued = peer.issued().await;
    assert!(issued.len() >= 6, "{issued:?}");
    assert!(
        server.stderr().contains(" DEBUG "),
        "the server did not log at debug level"
    );
    issued.push(CLIENT_SECRET.to_owned());
    let mut haystacks: Vec<(String, Vec<u8>)> =
        ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"]
            .iter()
            .filter_map(|f| {
                std::fs::read(dir.path().join(f))
                    .ok()
                    .map(|b| (f.to_string(), b))
            })
            .collect();
    haystacks.push(("stdout".into(), server.stdout().into_bytes()));
    haystacks.push(("stderr".into(), server.stderr().into_bytes()));
    for token in &issued {
        for (name, bytes) in &haystacks {
            assert!(
                !harness::contains_bytes(bytes, token),
                "a token issued by the provider (or the client secret) is in {name}"
            );
        }
    }
}

#[tokio::test]
async fn bad_callbacks_and_origins_are_refused_and_store_nothing() {
    let peer = peer(&[]);
    let dir = harness::sandbox();
    std::fs::write(dir.path().join("switchboard.toml"), config(&peer, "")).unwrap();
    let server = server(dir.path()).await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };

    // A return_to (or opener) origin that no integration allows: refused up front.
    for body in [
        json!({"end_user": {"id": "u1"}, "integrations": ["acme"], "return_to": "https://evil.example/x"}),
        json!({"end_user": {"id": "u1"}, "integrations": ["acme"], "return_to": "http://127.0.0.1:10/x"}),
        json!({"end_user": {"id": "u1"}, "integrations": ["acme"], "opener_origin": "https://evil.example"}),
        json!({"end_user": {"id": "u1"}, "integrations": ["acme"], "return_to": "javascript:alert(1)"}),
    ] {
        let (status, v) = app.post("/api/connect-sessions", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
    }

    // A wrong PKCE verifier: flow A's code presented with flow B's state (so with B's
    // verifier). The provider refuses; nothing is stored.
    let sa = app.session("acme", "wrong-verifier").await;
    let a = app.authorize("acme", &sa).await;
    let cb_a = app.provider_login("acme", &a).await;
    let sb = app.session("acme", "other").await;
    let b = app.authorize("acme", &sb).await;
    let state_b = query_param(&b, "state").unwrap();
    let mut forged = reqwest::Url::parse(&cb_a).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                state_b.clone()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);
    let (status, loc) = app.callback(forged.as_str()).await;
    assert_eq!(status, StatusCode::FOUND, "{loc}");
    assert_eq!(
        query_param(&loc, "status").as_deref(),
        Some("error"),
        "{loc}"
    );
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("exchange_failed")
    );
    assert_eq!(app.count().await, 0);
    assert_eq!(peer.stats().await["token_errors"], 1);

    // Flow A's own state, with its code: connects (the wrong verifier did not burn it).
    let (status, loc) = app.callback(&cb_a).await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(
        query_param(&loc, "status").as_deref(),
        Some("connected"),
        "{loc}"
    );
    assert_eq!(app.count().await, 1);

    // A reused state: refused with 400, nothing changes.
    let (status, body) = app.callback(&cb_a).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("already used"), "{body}");
    assert_eq!(app.count().await, 1);

    // A reused code: flow C's code presented again with a fresh state is refused by
    // the provider (and nothing is stored for it).
    let sc = app.session("acme", "reused-code").await;
    let c = app.authorize("acme", &sc).await;
    let cb_c = app.provider_login("acme", &c).await;
    let (_, loc) = app.callback(&cb_c).await;
    assert_eq!(query_param(&loc, "status").as_deref(), Some("connected"));
    let sd = app.session("acme", "code-replay").await;
    let d = app.authorize("acme", &sd).await;
    let mut replay = reqwest::Url::parse(&cb_c).unwrap();
    let state_d = query_param(&d, "state").unwrap();
    let pairs: Vec<(String, String)> = replay
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                state_d.clone()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    replay.query_pairs_mut().clear().extend_pairs(pairs);
    let (_, loc) = app.callback(replay.as_str()).await;
    assert_eq!(
        query_param(&loc, "error").as_deref(),
        Some("exchange_failed"),
        "{loc}"
    );
    let (status, _) = app.get("/api/connections/code-replay").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A state of another integration (foreign state): refused, and it is spent.
    let se = app.session("acme", "foreign").await;
    let e = app.authorize("acme", &se).await;
    let cb_e = app.provider_login("acme", &e).await;
    let foreign = cb_e.replace("/integrations/acme/", "/integrations/acme2/");
    let (status, body) = app.callback(&foreign).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app.callback(&cb_e).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a state is used once, even when refused"
    );

    // Missing or unknown state; garbage.
    for q in ["", "?code=x", "?state=nope&code=x", "?state=%00%ff&code=x"] {
        let (status, body) = app
            .callback(&server.url(&format!("/api/integrations/acme/callback{q}")))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {body}");
    }

    // The user says no at the provider: the app gets status=error&error=access_denied.
    let sf = app.session("acme", "denied").await;
    let f = app.authorize("acme", &sf).await;
    let cb_f = app
        .provider_login("acme", &format!("{f}&login_hint=deny"))
        .await;
    let (_, loc) = app.callback(&cb_f).await;
    assert_eq!(
        query_param(&loc, "status").as_deref(),
        Some("error"),
        "{loc}"
    );
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        query_param(&loc, "connection_id").as_deref(),
        Some("denied")
    );

    // A required scope the provider did not grant marks the connection.
    app.connect("acme2", "scoped").await;
    let (_, c) = app.get("/api/connections/scoped").await;
    assert_eq!(c["missing_scopes"], json!(["api:admin"]), "{c}");

    // Session misuse: unknown session, session for another integration, a session's
    // fixed connection id overridden.
    let r = browser()
        .get(server.url("/api/integrations/acme/auth?session=cs_nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let s_only_acme = app.session("acme", "fixed").await;
    let r = browser()
        .get(server.url(&format!(
            "/api/integrations/acme2/auth?session={s_only_acme}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = browser()
        .get(server.url(&format!(
            "/api/integrations/acme/auth?session={s_only_acme}&connection_id=other-id"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = browser()
        .get(server.url(&format!(
            "/api/integrations/acme/auth?session={s_only_acme}&shop=x"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "unknown setting");
}

#[tokio::test]
async fn invalid_grant_needs_reauth_and_an_outage_keeps_serving_the_old_token() {
    let peer = peer(&[("ACCESS_TOKEN_TTL", "31")]);
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        config(
            &peer,
            "token_refresh_margin_secs = 30\nbackground_refresh_interval_secs = 3600",
        ),
    )
    .unwrap();
    let server = server(dir.path()).await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    app.connect("acme", "outage").await;
    app.connect("acme", "dead").await;
    let (_, t) = app.token("outage").await;
    let old = t["access_token"].as_str().unwrap().to_owned();

    // The token endpoint is down (503) while the token is due for refresh but valid:
    // the old token is served, the connection stays active, the error is recorded.
    within_margin(&app, "outage", 15).await;
    assert_eq!(
        peer.stats().await["token"]["refresh_token"],
        0,
        "nothing refreshed while the token entered the margin"
    );
    peer.fail_next("token", 503, 5).await;
    let (status, t) = app.token("outage").await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["access_token"], old.as_str());
    let (_, c) = app.get("/api/connections/outage").await;
    assert_eq!(c["status"], "active", "{c}");
    assert!(c["last_error"].as_str().unwrap().contains("503"), "{c}");
    assert!(peer.stats().await["faults_injected"].as_u64().unwrap() >= 1);
    // While the provider is down, callers are not queued behind new attempts.
    let (status, t) = app.token("outage").await;
    assert_eq!(
        (status, t["access_token"].as_str()),
        (StatusCode::OK, Some(old.as_str()))
    );

    // The provider refuses the grant (invalid_grant): needs_reauth, an internal event for
    // the app, an audit row, and no token any more.
    peer.fail_with(json!({
        "endpoint": "token",
        "status": 400,
        "count": 1,
        "body": "{\"error\":\"invalid_grant\",\"error_description\":\"grant request is invalid\"}"
    }))
    .await;
    let (status, e) = app.post("/api/connections/dead/refresh", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "needs_reauth");
    let (_, c) = app.get("/api/connections/dead").await;
    assert_eq!(c["status"], "needs_reauth", "{c}");
    let (status, e) = app.token("dead").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(e["error"]["code"], "needs_reauth");
    let (_, events) = app.get("/api/events").await;
    let ev = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "connection.needs_reauth")
        .unwrap_or_else(|| panic!("no needs_reauth event: {events}"));
    assert_eq!(ev["connection_id"], "dead");
    let (_, st) = app.get("/api/integrations/acme/status").await;
    assert_eq!(st["connections"]["needs_reauth"], 1, "{st}");
    assert_eq!(st["connections"]["active"], 1, "{st}");

    // Connecting again brings it back.
    app.connect("acme", "dead").await;
    let (_, c) = app.get("/api/connections/dead").await;
    assert_eq!(c["status"], "active");

    // Metrics: flows, refreshes by outcome, connections by status.
    let m = server
        .http()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "switchboard_connect_flows_total{integration=\"acme\",outcome=\"connected\"}",
        "switchboard_token_refreshes_total{integration=\"acme\",outcome=\"invalid_grant\"}",
        "switchboard_token_refreshes_total{integration=\"acme\",outcome=\"provider_unavailable\"}",
        "switchboard_token_refresh_duration_seconds",
        "switchboard_connections{integration=\"acme\",status=\"active\"}",
    ] {
        assert!(m.contains(needle), "{needle} not in /metrics");
    }
    // One connection went to needs_reauth; acme2, with no connection, is there at zero.
    for (series, n) in [
        (
            r#"switchboard_connections_needs_reauth_total{integration="acme"}"#,
            1.0,
        ),
        (
            r#"switchboard_connections_needs_reauth_total{integration="acme2"}"#,
            0.0,
        ),
    ] {
        assert_eq!(harness::metric_value(&m, series), Some(n), "{series}\n{m}");
    }
}

/// The start of the SQL statement by which a process tries to take a connection's
/// refresh lease (`acquire_refresh_lease` of `store-sqlite` and of `store-postgres`,
/// which differ only in their placeholders), as sqlx logs it at debug level.
const ACQUIRE_LEASE_SQL: &str =
    "UPDATE connections SET lease_fence = lease_fence + 1, lease_until = ";

/// Lease attempts in a JSON log (sqlx statement events): (taken, found taken).
fn lease_attempts(stderr: &str) -> (usize, usize) {
    let (mut won, mut lost) = (0, 0);
    for line in stderr.lines() {
        if !line.contains(ACQUIRE_LEASE_SQL) {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if !v["db.statement"]
            .as_str()
            .is_some_and(|sql| sql.contains(ACQUIRE_LEASE_SQL))
        {
            continue;
        }
        match v["rows_returned"].as_u64() {
            Some(0) => lost += 1,
            Some(_) => won += 1,
            None => panic!("a lease statement without rows_returned: {line}"),
        }
    }
    (won, lost)
}

#[tokio::test]
async fn a_thousand_concurrent_token_requests_on_three_processes_refresh_once() {
    refresh_storm_on_three_processes(None).await;
}

#[tokio::test]
async fn a_thousand_concurrent_token_requests_on_three_processes_on_postgres_refresh_once() {
    let schema = crate::postgres::pg_schema().await;
    refresh_storm_on_three_processes(Some(&schema.url)).await;
}

/// 1,000 token requests spread over three `serve` processes on one database (the
/// sandbox's SQLite file, or `database_url` when given), after the access token has
/// expired: one refresh, counted at the provider, and every caller gets its token.
async fn refresh_storm_on_three_processes(database_url: Option<&str>) {
    // The first access token lives two seconds; no refresh margin, so the storm below
    // starts after it has expired, not merely while it is due. The refresh is held at
    // the provider for as long as the test needs, so the timeouts leave room for a slow
    // machine; the background refresher does not run during the test.
    let peer = peer(&[("ACCESS_TOKEN_TTL", "2")]);
    let dir = harness::sandbox();
    std::fs::write(
        dir.path().join("switchboard.toml"),
        config(
            &peer,
            "token_refresh_margin_secs = 0\nbackground_refresh_interval_secs = 3600\n\
             request_timeout_secs = 120\noutbound_timeout_secs = 60\nrefresh_lease_secs = 90",
        ),
    )
    .unwrap();
    // JSON logs with sqlx's statement events: they show which process took the refresh
    // lease and which found it taken.
    let mut envs = vec![
        ("ACME_CLIENT_SECRET", CLIENT_SECRET),
        ("RUST_LOG", "sqlx::query=debug,info"),
    ];
    if let Some(url) = database_url {
        envs.push(("SWITCHBOARD_DATABASE_URL", url));
    }
    let start = || Server::start(dir.path(), &["--dev", "--log-format", "json"], &envs);
    let s1 = start().await;
    let key = s1.printed_admin_key();
    let s2 = start().await;
    let s3 = start().await;
    let app = App {
        key: key.clone(),
        server: &s1,
    };
    app.connect("acme", "hot").await;
    // Wait (bounded) until the access token has expired by the expiry the server
    // reports. Tokens issued from now on live an hour, so exactly one refresh is needed.
    within_margin(&app, "hot", 0).await;
    peer.set_access_ttl(3600).await;
    peer.reset().await;
    let servers = [&s1, &s2, &s3];
    for s in servers {
        assert_eq!(lease_attempts(&s.stderr()), (0, 0), "no refresh yet");
    }
    // The one refresh that reaches the provider stays in flight there until released.
    peer.hold_next("token").await;

    let http = crate::harness::client_builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(180))
        .build()
        .unwrap();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let url = servers[i % 3].url("/api/connections/hot/token");
        let (http, key, answered) = (http.clone(), key.clone(), answered.clone());
        tasks.spawn(async move {
            let r = http.get(url).bearer_auth(key).send().await.unwrap();
            answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            (status, v["access_token"].as_str().unwrap_or("").to_owned())
        });
    }

    // The overlap: while the single refresh is held at the provider, one process holds
    // the lease and each of the two others has tried to take it and found it taken, so
    // they wait for the holder's result instead of finding it already committed.
    let logs = || servers.map(|s| lease_attempts(&s.stderr()));
    let during = harness::eventually(
        "one process holding the refresh lease and the two others waiting for it",
        || async {
            let l = logs();
            let holders = l.iter().filter(|(won, _)| *won == 1).count();
            let waiting = l
                .iter()
                .filter(|(won, lost)| *won == 0 && *lost > 0)
                .count();
            (holders == 1 && waiting == 2).then_some(l)
        },
    )
    .await;
    // The holder took the lease before it sent its request: wait for it to reach the
    // provider (where it is held), however slow the machine.
    harness::eventually("the one refresh held at the provider", || async {
        (peer.held("token").await == 1).then_some(())
    })
    .await;
    let stats = peer.stats().await;
    assert_eq!(
        (peer.held("token").await, &stats["token"]["refresh_token"]),
        (1, &json!(1)),
        "the one refresh is still in flight at the provider: {stats}"
    );
    assert_eq!(
        answered.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no caller was answered while the refresh was in flight"
    );
    eprintln!("lease attempts (taken, found taken) per process while held: {during:?}");

    assert_eq!(peer.release("token").await, 1);
    let mut tokens = std::collections::BTreeSet::new();
    while let Some(res) = tasks.join_next().await {
        let (status, token) = res.unwrap();
        assert_eq!(status, StatusCode::OK);
        tokens.insert(token);
    }
    let stats = peer.stats().await;
    assert_eq!(
        stats["token"]["refresh_token"], 1,
        "exactly one refresh at the authorization server: {stats}"
    );
    // (A waiter may still take the lease after the commit: it then finds the new
    // token_version and lets the lease go without calling the provider.)
    assert_eq!(tokens.len(), 1, "every caller got the refreshed token");
    let token = tokens.into_iter().next().unwrap();
    assert_eq!(
        peer.introspect(CLIENT_ID, CLIENT_SECRET, &token).await["active"],
        true
    );
}
