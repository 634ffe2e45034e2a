//! Short-lived tokens and credential health checks against the real authorization
//! server (`oidc-provider`): tokens living 6 s under the default 300 s refresh margin,
//! and a grant revoked at the provider behind Switchboard's back.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::connect::{App, CLIENT_ID, CLIENT_SECRET, config, peer};
use crate::harness::{self, Server};

/// The expiry of connection `id` as the server reports it.
async fn expires_at(app: &App<'_>, id: &str) -> chrono::DateTime<chrono::Utc> {
    let (status, c) = app.get(&format!("/api/connections/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{c}");
    chrono::DateTime::parse_from_rfc3339(c["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[tokio::test]
async fn six_second_tokens_under_the_default_margin_refresh_once_on_three_processes() {
    short_tokens_on_three_processes(None).await;
}

#[tokio::test]
async fn six_second_tokens_under_the_default_margin_refresh_once_on_postgres() {
    let schema = crate::postgres::pg_schema().await;
    short_tokens_on_three_processes(Some(&schema.url)).await;
}

/// Every access token lives 6 s and the margin is the default 300 s. After the first
/// expires, 1,000 concurrent token requests over three processes cause exactly one
/// refresh at the provider (counted there), and the calls that follow while the new
/// token is in the first half of its life cause none.
async fn short_tokens_on_three_processes(database_url: Option<&str>) {
    let peer = peer(&[("ACCESS_TOKEN_TTL", "6")]);
    let dir = harness::sandbox();
    // The default token_refresh_margin_secs (300); the background refresher is kept out
    // of the count; generous timeouts for a slow machine while the refresh is held.
    std::fs::write(
        dir.path().join("switchboard.toml"),
        config(
            &peer,
            "background_refresh_interval_secs = 3600\nrequest_timeout_secs = 120\n\
             outbound_timeout_secs = 60\nrefresh_lease_secs = 90",
        ),
    )
    .unwrap();
    let mut envs = vec![("ACME_CLIENT_SECRET", CLIENT_SECRET)];
    if let Some(url) = database_url {
        envs.push(("SWITCHBOARD_DATABASE_URL", url));
    }
    let start = || Server::start(dir.path(), &["--dev"], &envs);
    let s1 = start().await;
    let key = s1.printed_admin_key();
    let s2 = start().await;
    let s3 = start().await;
    let app = App {
        key: key.clone(),
        server: &s1,
    };
    app.connect("acme", "hot").await;
    let first_expiry = expires_at(&app, "hot").await;
    harness::eventually("the first 6 s token to expire", || async {
        (chrono::Utc::now() > first_expiry).then_some(())
    })
    .await;
    peer.reset().await;
    // The one refresh that reaches the provider is held there until every caller has
    // arrived and waits for it.
    peer.hold_next("token").await;
    let servers = [&s1, &s2, &s3];
    let http = crate::harness::client_builder()
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
    harness::eventually("the one refresh held at the provider", || async {
        (peer.held("token").await == 1).then_some(())
    })
    .await;
    // Let the last callers reach the servers (they queue behind the lease holder).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        answered.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no caller was answered while the refresh was in flight"
    );
    assert_eq!(peer.release("token").await, 1);
    let released = Instant::now();
    let mut tokens = std::collections::BTreeSet::new();
    while let Some(res) = tasks.join_next().await {
        let (status, token) = res.unwrap();
        assert_eq!(status, StatusCode::OK);
        tokens.insert(token);
    }
    let stats = peer.stats().await;
    eprintln!(
        "1,000 callers after expiry: {} refresh(es) at the provider, {} distinct token(s), answered {:?} after the release",
        stats["token"]["refresh_token"],
        tokens.len(),
        released.elapsed()
    );
    assert_eq!(
        stats["token"]["refresh_token"], 1,
        "exactly one refresh at the authorization server: {stats}"
    );
    assert_eq!(tokens.len(), 1, "every caller got the refreshed token");

    // The new token lives 6 s: it is served as it is for the first half of its life.
    // Up to 100 sequential calls within 2 s of its issue (as many as the machine
    // makes in that time), spread over the three processes.
    let new_expiry = expires_at(&app, "hot").await;
    let issued = new_expiry - chrono::Duration::seconds(6);
    let mut calls = 0;
    for i in 0..100 {
        if chrono::Utc::now() >= issued + chrono::Duration::seconds(2) {
            break;
        }
        let r = http
            .get(servers[i % 3].url("/api/connections/hot/token"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        calls += 1;
    }
    let stats = peer.stats().await;
    eprintln!(
        "{calls} sequential calls within 2 s of the refresh: {} more refresh(es)",
        stats["token"]["refresh_token"].as_u64().unwrap() - 1
    );
    assert!(calls > 0, "no call made within 2 s of the refresh");
    assert_eq!(
        stats["token"]["refresh_token"], 1,
        "a token just obtained is served: {stats}"
    );
}

/// RFC 7009 revocation at the peer itself, as a user removing the app would cause.
async fn revoke_at_peer(peer: &crate::oidc::OidcPeer, token: &str) {
    let r = harness::http()
        .post(peer.url("/token/revocation"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);
}

/// A grant revoked at the provider behind Switchboard's back: the health check (the
/// userinfo request, a forced refresh that gets `invalid_grant`) marks the connection
/// `needs_reauth` with the internal event, while the other connection checks `ok`;
/// `GET /api/connections/{id}` and `connections show` say when and what.
#[tokio::test]
async fn a_grant_revoked_at_the_provider_is_found_by_the_health_check() {
    let peer = peer(&[]);
    let dir = harness::sandbox();
    let text = config(&peer, "").replacen(
        "provider = \"acme\"\n",
        "provider = \"acme\"\nhealth_check_interval_secs = 60\n",
        1,
    );
    std::fs::write(dir.path().join("switchboard.toml"), text).unwrap();
    let server = Server::start(
        dir.path(),
        &["--dev"],
        &[("ACME_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    app.connect("acme", "kept").await;
    app.connect("acme", "removed").await;
    // The tokens issued last are the second connection's.
    let issued = peer.issued_with_kind().await;
    let last = |kind: &str| {
        issued
            .iter()
            .rev()
            .find(|(k, _)| k == kind)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {kind} issued: {issued:?}"))
    };
    revoke_at_peer(&peer, &last("refresh_token")).await;
    revoke_at_peer(&peer, &last("access_token")).await;

    // The first check comes within a pass (10 s ± 20 %); if one ran between the connect
    // and the revocation, the next comes an interval (60 s) later.
    let deadline = Instant::now() + Duration::from_secs(150);
    let (removed, kept) = loop {
        let (_, removed) = app.get("/api/connections/removed").await;
        let (_, kept) = app.get("/api/connections/kept").await;
        if removed["health_result"] == "rejected" && kept["health_result"] == "ok" {
            break (removed, kept);
        }
        assert!(
            Instant::now() < deadline,
            "no health check found the revoked grant: {removed} {kept}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(removed["status"], "needs_reauth", "{removed}");
    assert!(removed["health_checked_at"].is_string(), "{removed}");
    assert_eq!(kept["status"], "active", "{kept}");
    assert!(kept["health_checked_at"].is_string(), "{kept}");
    let (_, events) = app.get("/api/events").await;
    assert!(
        events["data"].as_array().unwrap().iter().any(|e| {
            e["event_type"] == "connection.needs_reauth" && e["connection_id"] == "removed"
        }),
        "{events}"
    );
    // The kept connection still hands out its token.
    let (status, _) = app.token("kept").await;
    assert_eq!(status, StatusCode::OK);

    let cli = |args: &[&str]| {
        harness::run(
            dir.path(),
            args,
            &[
                ("SWITCHBOARD_URL", server.base.as_str()),
                ("SWITCHBOARD_API_KEY", app.key.as_str()),
            ],
        )
    };
    let out = cli(&["connections", "show", "removed"]);
    out.success();
    assert!(out.stdout.contains("last checked"), "{}", out.stdout);
    assert!(out.stdout.contains("rejected"), "{}", out.stdout);
    let out = cli(&["connections", "show", "kept", "--json"]);
    out.success();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["health_result"], json!("ok"), "{v}");
}

/// Check now against the real provider (`POST /api/connections/{id}/check` and
/// `connections check`, no background checker): a grant revoked behind Switchboard's
/// back is found at once (`rejected`, `needs_reauth`, the same event as
/// `invalid_grant`), while a 403 at userinfo (a fault armed at the peer, as a provider
/// refusing for a missing scope would answer) leaves the connection active with
/// `forbidden` and the provider's message, redacted. The CLI exits 0 for `ok`, 1 for
/// a problem, 2 for a connection that cannot be checked.
#[tokio::test]
async fn check_now_finds_a_revoked_grant_and_leaves_a_403_active() {
    let peer = peer(&[]);
    let dir = harness::sandbox();
    std::fs::write(dir.path().join("switchboard.toml"), config(&peer, "")).unwrap();
    let server = Server::start(
        dir.path(),
        &["--dev"],
        &[("ACME_CLIENT_SECRET", CLIENT_SECRET)],
    )
    .await;
    let app = App {
        key: server.printed_admin_key(),
        server: &server,
    };
    app.connect("acme", "kept").await;
    app.connect("acme", "removed").await;
    let issued = peer.issued_with_kind().await;
    let last = |kind: &str| {
        issued
            .iter()
            .rev()
            .find(|(k, _)| k == kind)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {kind} issued: {issued:?}"))
    };
    revoke_at_peer(&peer, &last("refresh_token")).await;
    revoke_at_peer(&peer, &last("access_token")).await;
    let cli = |args: &[&str]| {
        harness::run(
            dir.path(),
            args,
            &[
                ("SWITCHBOARD_URL", server.base.as_str()),
                ("SWITCHBOARD_API_KEY", app.key.as_str()),
            ],
        )
    };

    let out = cli(&["connections", "check", "kept"]);
    out.success();
    assert!(out.stdout.contains("result"), "{}", out.stdout);
    let out = cli(&["connections", "check", "removed", "--json"]);
    out.exit_code(1);
    let v = out.json();
    assert_eq!(v["result"], "rejected", "{v}");
    assert_eq!(v["status"], "needs_reauth", "{v}");
    assert_eq!(v["connection"]["health_result"], "rejected", "{v}");
    let (_, events) = app.get("/api/events").await;
    assert!(
        events["data"].as_array().unwrap().iter().any(|e| {
            e["event_type"] == "connection.needs_reauth" && e["connection_id"] == "removed"
        }),
        "{events}"
    );
    // Not active any more: a 409 that says so, exit code 2.
    let (status, body) = app.post("/api/connections/removed/check", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "needs_reauth", "{body}");
    cli(&["connections", "check", "removed"]).exit_code(2);
    let (status, _) = app.post("/api/connections/nobody/check", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A 403 at userinfo: forbidden, still active, no refresh tried, the token served.
    let before = peer.stats().await["token"]["refresh_token"].clone();
    peer.fail_with(json!({
        "endpoint": "userinfo", "status": 403, "count": 1,
        "content_type": "application/json",
        "body": json!({
            "error": "insufficient_scope",
            "error_description": "this plan does not allow the userinfo endpoint; access_token=at-SECRET-1",
        }).to_string(),
    }))
    .await;
    let (status, v) = app.post("/api/connections/kept/check", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["result"], "forbidden", "{v}");
    assert_eq!(v["status"], "active", "{v}");
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("HTTP 403: this plan does not allow the userinfo endpoint"),
        "{v}"
    );
    assert!(!detail.contains("SECRET"), "redacted: {v}");
    assert_eq!(v["missing_scopes"], json!([]), "openid was granted: {v}");
    assert_eq!(peer.stats().await["token"]["refresh_token"], before);
    let (status, _) = app.token("kept").await;
    assert_eq!(status, StatusCode::OK);
    let out = cli(&["connections", "show", "kept"]);
    out.success();
    assert!(out.stdout.contains("forbidden"), "{}", out.stdout);
    // The next check (no fault armed) is ok again.
    cli(&["connections", "check", "kept"]).success();
}
