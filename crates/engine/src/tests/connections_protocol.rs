//! The provider side: token requests and responses with every catalog quirk, error
//! classes, revocation in every placement, response size limit and the SSRF guard.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use store::{ConnectionStatus, ConnectionStore};

use super::connections::{
    CLIENT_ID, H, Resp, Stub, cb, client_basic, config, conn, connect, connected, default_route,
    engine_with, harness, harness_with, integration, provider, put, query_of, session,
    stored_creds,
};
use super::{all_audit, key, memory_store, ring};
use crate::EngineError;

/// A connection `id` of `it` with a valid token and a refresh token.
async fn refreshable(h: &H, id: &str) {
    put(
        &h.engine,
        &conn(id, "it", "oauth2", Some(3600)),
        json!({"access_token": "old-at", "refresh_token": "old-rt", "user_access_token": "old-user"}),
    )
    .await;
}

/// Forces a refresh of a new connection `id` while the token endpoint answers `resp`.
async fn refresh_with(
    h: &H,
    id: &str,
    resp: Resp,
) -> Result<crate::connections::RefreshOutcome, EngineError> {
    refreshable(h, id).await;
    h.stub.set(move |r| match r.path.as_str() {
        "/token" | "/refresh" => resp.clone(),
        _ => default_route(r),
    });
    h.engine.force_refresh(id).await
}

fn provider_message(e: &EngineError) -> String {
    match e {
        EngineError::Provider(m) => m.clone(),
        other => panic!("expected Provider, got {other:?}"),
    }
}

#[tokio::test]
async fn token_error_classes() {
    let h = harness(json!({}), "", "").await;

    // invalid_grant (and its description, cleaned) ends the connection.
    let e = refresh_with(
        &h,
        "g1",
        Resp::json(
            400,
            json!({"error": "invalid_grant", "error_description": "gone\u{7} away"}),
        ),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            EngineError::ConnectionState {
                status: ConnectionStatus::NeedsReauth,
                ..
            }
        ),
        "{e:?}"
    );
    let c = h.engine.get_connection("g1").await.unwrap();
    assert_eq!(c.status, ConnectionStatus::NeedsReauth);
    assert!(c.last_error.unwrap().contains("invalid_grant: gone away"));

    // Refused client credentials.
    for (i, code) in ["invalid_client", "unauthorized_client"].iter().enumerate() {
        let e = refresh_with(
            &h,
            &format!("c{i}"),
            Resp::json(401, json!({"error": code})),
        )
        .await
        .unwrap_err();
        let m = provider_message(&e);
        assert!(m.contains("refused the client credentials"), "{m}");
        assert!(m.contains(code), "{m}");
    }

    // Throttling and outages.
    for (i, status) in [429u16, 500, 503].iter().enumerate() {
        let e = refresh_with(
            &h,
            &format!("u{i}"),
            Resp::json(*status, json!({"error": "invalid_grant"})),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(e, EngineError::ProviderUnavailable(_)),
            "{status}: {e:?}"
        );
        let c = h.engine.get_connection(&format!("u{i}")).await.unwrap();
        assert_eq!(
            c.status,
            ConnectionStatus::Active,
            "an outage is not a dead grant"
        );
    }

    // Other refusals: with an OAuth code, without one, with a code that is not one.
    let e = refresh_with(&h, "r1", Resp::json(400, json!({"error": "invalid_scope"})))
        .await
        .unwrap_err();
    assert!(
        provider_message(&e).contains("HTTP 400, invalid_scope"),
        "{e}"
    );
    let e = refresh_with(&h, "r2", Resp::raw(403, "text/html", "<h1>no</h1>"))
        .await
        .unwrap_err();
    assert!(provider_message(&e).contains("HTTP 403, http_403"), "{e}");
    let e = refresh_with(&h, "r3", Resp::json(400, json!({"error": "not a code!"})))
        .await
        .unwrap_err();
    assert!(provider_message(&e).contains("http_400"), "{e}");

    // Errors in 200 responses (GitHub).
    let e = refresh_with(
        &h,
        "gh1",
        Resp::json(200, json!({"error": "bad_verification_code"})),
    )
    .await
    .unwrap_err();
    assert!(
        provider_message(&e).contains("HTTP 200, bad_verification_code"),
        "{e}"
    );
    let e = refresh_with(
        &h,
        "gh2",
        Resp::json(200, json!({"error": "incorrect_client_credentials"})),
    )
    .await
    .unwrap_err();
    assert!(
        provider_message(&e).contains("refused the client credentials"),
        "{e}"
    );
    let e = refresh_with(
        &h,
        "gh3",
        Resp::json(200, json!({"error": "token_revoked"})),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, EngineError::ConnectionState { .. }), "{e:?}");

    // Malformed answers.
    let e = refresh_with(&h, "m1", Resp::json(200, json!({"token_type": "bearer"})))
        .await
        .unwrap_err();
    assert!(
        provider_message(&e).contains("no access token at /access_token"),
        "{e}"
    );
    let e = refresh_with(&h, "m2", Resp::raw(200, "text/plain", "surprise"))
        .await
        .unwrap_err();
    assert!(
        provider_message(&e).contains("neither JSON nor a form"),
        "{e}"
    );
    let e = refresh_with(&h, "m3", Resp::json(200, json!({"access_token": ""})))
        .await
        .unwrap_err();
    assert!(provider_message(&e).contains("malformed"), "{e}");

    // Every failure is audited with its code; none with a token.
    let audit = all_audit(&h.store).await;
    let codes: Vec<&str> = audit
        .iter()
        .filter(|r| r.entry.action == "connection.refresh_failed")
        .map(|r| r.entry.details["error"].as_str().unwrap())
        .collect();
    for code in [
        "invalid_client",
        "provider_unavailable",
        "rejected",
        "malformed_response",
    ] {
        assert!(codes.contains(&code), "{codes:?}");
    }
    assert!(!format!("{audit:?}").contains("old-rt"));
}

#[tokio::test]
async fn a_response_over_one_mib_is_refused() {
    let h = harness(json!({}), "", "").await;
    let big = format!("{{\"access_token\": \"{}\"}}", "a".repeat(1024 * 1024 + 10));
    let e = refresh_with(&h, "big", Resp::raw(200, "application/json", big))
        .await
        .unwrap_err();
    let m = provider_message(&e);
    assert!(m.contains("malformed"), "{m}");
    assert_eq!(stored_creds(&h, "big").await["access_token"], "old-at");
}

#[tokio::test]
async fn slow_and_unreachable_token_endpoints_are_unavailable() {
    let h = harness(
        json!({}),
        "",
        "outbound_timeout_secs = 1\nrefresh_lease_secs = 10",
    )
    .await;
    let started = std::time::Instant::now();
    let e = refresh_with(
        &h,
        "slow",
        Resp::json(200, json!({"access_token": "late"})).delayed(Duration::from_secs(3)),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, EngineError::ProviderUnavailable(_)), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(3));

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let stub = Stub::start(default_route).await;
    let p = provider(
        "p",
        &stub.base,
        json!({"oauth2": {"token_url": format!("http://{dead}/token")}}),
    );
    let h = harness_with(stub, vec![p], &integration("it", "p", ""), "").await;
    refreshable(&h, "x").await;
    let e = h.engine.force_refresh("x").await.unwrap_err();
    assert!(matches!(e, EngineError::ProviderUnavailable(_)), "{e:?}");
}

#[tokio::test]
async fn token_response_quirks() {
    // Form-encoded response, comma-separated granted scopes, expires_in as a string.
    let h = harness(
        json!({"oauth2": {"token_response": {"scope_separator": ","}}}),
        "",
        "",
    )
    .await;
    let out = refresh_with(
        &h,
        "form",
        Resp::raw(
            200,
            "application/x-www-form-urlencoded; charset=utf-8",
            "access_token=new-at&scope=repo%2Cuser&token_type=bearer&expires_in=120",
        ),
    )
    .await
    .unwrap();
    assert!(out.refreshed);
    assert_eq!(out.connection.scopes, vec!["repo", "user"]);
    let left = (out.connection.expires_at.unwrap() - Utc::now()).num_seconds();
    assert!((110..=120).contains(&left), "{left}");
    let creds = stored_creds(&h, "form").await;
    assert_eq!(creds["access_token"], "new-at");
    assert_eq!(creds["token_type"], "bearer");
    // No refresh token in the response: the old one stays.
    assert_eq!(creds["refresh_token"], "old-rt");
    assert_eq!(creds["user_access_token"], "old-user");

    // Scopes as a space list (duplicates dropped) and as an array.
    let out = refresh_with(
        &h,
        "sp",
        Resp::json(200, json!({"access_token": "a", "scope": "x y,z  x"})),
    )
    .await
    .unwrap();
    assert_eq!(out.connection.scopes, vec!["x", "y", "z"]);
    let out = refresh_with(
        &h,
        "arr",
        Resp::json(200, json!({"access_token": "a", "scope": ["p", 3, "q"]})),
    )
    .await
    .unwrap();
    assert_eq!(out.connection.scopes, vec!["p", "q"]);
    // No scope in the response: the connection keeps its scopes; no expiry: none.
    let out = refresh_with(&h, "none", Resp::json(200, json!({"access_token": 12345})))
        .await
        .unwrap();
    assert_eq!(out.connection.scopes, vec!["read"]);
    assert_eq!(out.connection.expires_at, None);
    assert_eq!(stored_creds(&h, "none").await["access_token"], "12345");

    // expiry = "unknown" ignores expires_in; "never" honours one that appears.
    let h = harness(
        json!({"oauth2": {"token_response": {"expiry": "unknown"}}}),
        "",
        "",
    )
    .await;
    let out = refresh_with(
        &h,
        "u",
        Resp::json(200, json!({"access_token": "a", "expires_in": 60})),
    )
    .await
    .unwrap();
    assert_eq!(out.connection.expires_at, None);
    let h = harness(
        json!({"oauth2": {"token_response": {"expiry": "never"}}}),
        "",
        "",
    )
    .await;
    let out = refresh_with(
        &h,
        "n",
        Resp::json(200, json!({"access_token": "a", "expires_in": "60"})),
    )
    .await
    .unwrap();
    assert!(out.connection.expires_at.is_some());
}

#[tokio::test]
async fn slack_style_ok_flag_and_user_token() {
    let slack = json!({
        "placeholders": {"flag": {"from": {"token_response": "/ok"}, "kind": "segment"}},
        "oauth2": {
        "scope_separator": ",",
        "token_response": {
            "user_access_token": "/authed_user/access_token",
            "ok_flag": "/ok",
            "scope_separator": ",",
            "expiry": "never",
        },
    }});
    let h = harness(slack, "", "").await;
    h.stub.set(|r| match r.path.as_str() {
        "/token" => Resp::json(
            200,
            json!({
                "ok": true, "access_token": "xoxb-1", "scope": "chat:write,channels:read",
                "authed_user": {"id": "U1", "access_token": "xoxp-1"}, "team": {"id": "T1"},
            }),
        ),
        _ => default_route(r),
    });
    let id = connected(&h).await;
    let creds = stored_creds(&h, &id).await;
    assert_eq!(creds["access_token"], "xoxb-1");
    assert_eq!(creds["user_access_token"], "xoxp-1");
    let c = h.engine.get_connection(&id).await.unwrap();
    assert_eq!(c.scopes, vec!["chat:write", "channels:read"]);
    assert_eq!(c.expires_at, None);
    assert!(
        !c.settings.contains_key("flag"),
        "a boolean is not a setting"
    );

    // 200 with ok: false.
    for (id, body, dead) in [
        ("s1", json!({"ok": false, "error": "invalid_auth"}), true),
        (
            "s2",
            json!({"ok": false, "error": "account_inactive"}),
            true,
        ),
        ("s3", json!({"ok": false, "error": "ratelimited"}), false),
        ("s4", json!({"ok": false}), false),
    ] {
        let e = refresh_with(&h, id, Resp::json(200, body))
            .await
            .unwrap_err();
        if dead {
            assert!(
                matches!(e, EngineError::ConnectionState { .. }),
                "{id}: {e:?}"
            );
        } else {
            let m = provider_message(&e);
            assert!(m.contains("HTTP 200"), "{m}");
        }
    }
    let e = refresh_with(
        &h,
        "s5",
        Resp::json(200, json!({"ok": false, "error": "ratelimited"})),
    )
    .await
    .unwrap_err();
    assert!(provider_message(&e).contains("ratelimited"));
}

#[tokio::test]
async fn client_secret_basic_is_form_encoded_and_body_auth_puts_it_in_the_body() {
    // Basic (the default): the exchange and the refresh.
    let h = harness(json!({}), "", "").await;
    let id = connected(&h).await;
    h.engine.force_refresh(&id).await.unwrap();
    let reqs = h.stub.reqs("/token");
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some(client_basic().as_str()));
        assert!(!r.form().contains_key("client_secret"));
    }
    let f = reqs[1].form();
    assert_eq!(f["grant_type"], "refresh_token");
    assert!(f["refresh_token"].starts_with("rt-"));

    // client_secret_post.
    let h = harness(json!({"oauth2": {"client_auth": "body"}}), "", "").await;
    connected(&h).await;
    let r = &h.stub.reqs("/token")[0];
    assert_eq!(r.header("authorization"), None);
    let f = r.form();
    assert_eq!(f["client_id"], CLIENT_ID);
    assert_eq!(f["client_secret"], "s3cr et/+");

    // A public client (no secret): client_id in the body whatever client_auth says.
    let stub = Stub::start(default_route).await;
    let p = provider("p", &stub.base, json!({}));
    let public = "\n[[integrations]]\nid = \"it\"\nprovider = \"p\"\nclient_id = \"pub-1\"\n";
    let h = harness_with(stub, vec![p], public, "").await;
    connected(&h).await;
    let r = &h.stub.reqs("/token")[0];
    assert_eq!(r.header("authorization"), None);
    let f = r.form();
    assert_eq!(f["client_id"], "pub-1");
    assert!(!f.contains_key("client_secret"));
}

#[tokio::test]
async fn json_token_requests_extra_params_headers_and_refresh_url() {
    let stub = Stub::start(default_route).await;
    let base = stub.base.clone();
    let p = provider(
        "p",
        &base,
        json!({"oauth2": {
            "token_request": "json",
            "client_auth": "body",
            "refresh_url": format!("{base}/refresh"),
            "token_params": {"audience": "api://x"},
            "token_headers": {"X-Client": "switchboard", "bad header": "ignored", "X-Bad-Value": "a\nb"},
        }}),
    );
    let h = harness_with(stub, vec![p], &integration("it", "p", ""), "").await;
    let id = connected(&h).await;
    let r = &h.stub.reqs("/token")[0];
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-client"), Some("switchboard"));
    assert_eq!(r.header("x-bad-value"), None);
    let j: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(j["grant_type"], "authorization_code");
    assert_eq!(j["code"], "the-code");
    assert_eq!(j["audience"], "api://x");
    assert_eq!(j["client_id"], CLIENT_ID);
    assert_eq!(j["client_secret"], "s3cr et/+");
    assert!(j["code_verifier"].is_string());

    h.engine.force_refresh(&id).await.unwrap();
    assert_eq!(h.stub.count("/token"), 1);
    let r = &h.stub.reqs("/refresh")[0];
    let j: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(j["grant_type"], "refresh_token");
    assert!(j["refresh_token"].as_str().unwrap().starts_with("rt-"));
}

#[tokio::test]
async fn the_ssrf_guard_holds_outside_dev_mode() {
    let stub = Stub::start(default_route).await;
    let port = stub.base.rsplit(':').next().unwrap().to_owned();
    // https to a loopback address passes the template check but not the outbound guard.
    let p = provider(
        "p",
        &stub.base,
        json!({"oauth2": {
            "token_url": format!("https://127.0.0.1:{port}/token"),
            "revocation": {"url": format!("https://127.0.0.1:{port}/revoke")},
        }}),
    );
    let plain = provider("plain", "http://example.com", json!({}));
    let store = memory_store().await;
    let cfg = config(
        "",
        &format!(
            "{}{}",
            integration("it", "p", ""),
            integration("plain", "plain", "")
        ),
    );
    let engine = engine_with(
        Arc::new(store.clone()),
        ring(&key(), &[]),
        &[p, plain],
        cfg,
        false,
    );
    let h = H {
        engine,
        store,
        stub,
    };
    assert!(!h.engine.dev());

    // The code exchange is refused before any request.
    let token = session(
        &h,
        json!({"end_user": {"id": "u1"}, "integrations": ["it", "plain"]}),
    )
    .await;
    let st = h
        .engine
        .start_authorization("it", &token, None, BTreeMap::new())
        .await
        .unwrap();
    let out = h
        .engine
        .finish_authorization("it", cb(Some("c"), Some(&query_of(&st.url)["state"])))
        .await
        .unwrap();
    assert_eq!(out.error.as_deref(), Some("exchange_failed"));

    // So are refreshes (http to a public host, https to loopback) and revocations.
    refreshable(&h, "r1").await;
    let e = h.engine.force_refresh("r1").await.unwrap_err();
    assert!(matches!(e, EngineError::Provider(_)), "{e:?}");
    let mut c = conn("r2", "plain", "oauth2", Some(3600));
    c.provider = "plain".into();
    put(
        &h.engine,
        &c,
        json!({"access_token": "a", "refresh_token": "r"}),
    )
    .await;
    let e = h.engine.force_refresh("r2").await.unwrap_err();
    assert!(matches!(e, EngineError::Provider(_)), "{e:?}");
    let d = h
        .engine
        .disconnect("it", "r1", &crate::Actor::System)
        .await
        .unwrap();
    assert!(d.deleted && !d.revoked_at_provider);
    assert!(d.provider_error.is_some());
    assert_eq!(h.stub.total(), 0, "nothing reached the loopback server");
}

// ---------------------------------------------------------------------------------------
// Revocation
// ---------------------------------------------------------------------------------------

/// Disconnects a connection holding `creds` from a provider whose revocation is
/// `revocation` (patched into the default), with the revoke endpoint answering `resp`.
async fn revoke_with(
    revocation: Value,
    oauth_extra: Value,
    it_extra: &str,
    creds: Value,
    resp: Resp,
) -> (
    crate::connections::Disconnected,
    Vec<super::connections::Req>,
) {
    let stub = Stub::start(default_route).await;
    let base = stub.base.clone();
    let mut oauth = json!({"revocation": revocation});
    super::connections::merge(&mut oauth, oauth_extra);
    let mut patch = json!({"oauth2": oauth});
    // URLs are written relative to the stub.
    if let Some(url) = patch["oauth2"]["revocation"]["url"].as_str() {
        let u = url.replace("BASE", &base);
        patch["oauth2"]["revocation"]["url"] = json!(u);
    }
    let p = provider("p", &base, patch);
    let integrations = if it_extra == "public" {
        "\n[[integrations]]\nid = \"it\"\nprovider = \"p\"\nclient_id = \"pub-1\"\n".to_owned()
    } else {
        integration("it", "p", it_extra)
    };
    let h = harness_with(stub, vec![p], &integrations, "").await;
    h.stub.set(move |r| {
        if r.path.starts_with("/revoke") {
            resp.clone()
        } else {
            default_route(r)
        }
    });
    put(&h.engine, &conn("c1", "it", "oauth2", Some(3600)), creds).await;
    let d = h
        .engine
        .disconnect("it", "c1", &crate::Actor::System)
        .await
        .unwrap();
    assert!(d.deleted);
    let c = h.engine.get_connection("c1").await.unwrap();
    assert_eq!(c.status, ConnectionStatus::Revoked);
    assert!(
        h.store
            .get_connection_credentials("c1")
            .await
            .unwrap()
            .is_none()
    );
    let reqs: Vec<_> = h
        .stub
        .reqs("/revoke")
        .into_iter()
        .chain(h.stub.reqs("/revoke/old-rt"))
        .collect();
    (d, reqs)
}

fn both() -> Value {
    json!({"access_token": "old-at", "refresh_token": "old-rt"})
}

fn ok() -> Resp {
    Resp::raw(200, "text/plain", "")
}

#[tokio::test]
async fn rfc7009_revocation_of_the_refresh_token_with_basic_auth() {
    let (d, reqs) = revoke_with(json!({"url": "BASE/revoke"}), json!({}), "", both(), ok()).await;
    assert!(d.revoked_at_provider);
    assert_eq!(d.provider_error, None);
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("authorization"), Some(client_basic().as_str()));
    let f = r.form();
    assert_eq!(f.get("token").map(String::as_str), Some("old-rt"));
    assert!(!f.contains_key("token_type_hint"));
    assert!(!f.contains_key("client_id"));

    // Only an access token: that one.
    let (d, reqs) = revoke_with(
        json!({"url": "BASE/revoke", "type_hint": true}),
        json!({}),
        "",
        json!({"access_token": "old-at"}),
        ok(),
    )
    .await;
    assert!(d.revoked_at_provider);
    let f = reqs[0].form();
    assert_eq!(f["token"], "old-at");
    assert_eq!(f["token_type_hint"], "access_token");
}

#[tokio::test]
async fn revocation_with_body_client_auth_and_type_hint() {
    let (d, reqs) = revoke_with(
        json!({"url": "BASE/revoke", "type_hint": true}),
        json!({"client_auth": "body"}),
        "",
        both(),
        ok(),
    )
    .await;
    assert!(d.revoked_at_provider);
    let r = &reqs[0];
    assert_eq!(r.header("authorization"), None);
    let f = r.form();
    assert_eq!(f["token"], "old-rt");
    assert_eq!(f["token_type_hint"], "refresh_token");
    assert_eq!(f["client_id"], CLIENT_ID);
    assert_eq!(f["client_secret"], "s3cr et/+");
}

#[tokio::test]
async fn slack_style_bearer_revocation_and_ok_false() {
    let rev =
        json!({"url": "BASE/revoke", "token": "access", "send": "bearer", "client_auth": "none"});
    let (d, reqs) = revoke_with(
        rev.clone(),
        json!({}),
        "",
        both(),
        Resp::json(200, json!({"ok": true, "revoked": true})),
    )
    .await;
    assert!(d.revoked_at_provider);
    let r = &reqs[0];
    assert_eq!(r.header("authorization"), Some("Bearer old-at"));
    assert_eq!(r.body, "");
    // A 200 that says no.
    let (d, _) = revoke_with(
        rev.clone(),
        json!({}),
        "",
        both(),
        Resp::json(200, json!({"ok": false, "error": "invalid_auth"})),
    )
    .await;
    assert!(!d.revoked_at_provider);
    assert!(
        d.provider_error
            .unwrap()
            .contains("refused the revocation: invalid_auth")
    );
    let (d, _) = revoke_with(
        rev,
        json!({}),
        "",
        both(),
        Resp::json(200, json!({"ok": false})),
    )
    .await;
    assert!(
        d.provider_error
            .unwrap()
            .contains("refused the revocation: error")
    );
}

#[tokio::test]
async fn revocation_in_the_query_json_path_and_api_auth() {
    // Query, DELETE, client id only.
    let (d, reqs) = revoke_with(
        json!({"url": "BASE/revoke", "send": "query", "method": "DELETE", "client_auth": "client_id", "param": "t"}),
        json!({}),
        "",
        both(),
        ok(),
    )
    .await;
    assert!(d.revoked_at_provider);
    let r = &reqs[0];
    assert_eq!(r.method, "DELETE");
    let q = r.query_map();
    assert_eq!(q["t"], "old-rt");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(r.header("authorization"), None);

    // JSON body with the client in it.
    let (d, reqs) = revoke_with(
        json!({"url": "BASE/revoke", "send": "json", "token": "refresh", "client_auth": "body", "param": "refresh_token"}),
        json!({}),
        "",
        both(),
        ok(),
    )
    .await;
    assert!(d.revoked_at_provider);
    let j = reqs[0].json();
    assert_eq!(j["refresh_token"], "old-rt");
    assert_eq!(j["client_id"], CLIENT_ID);
    assert_eq!(j["client_secret"], "s3cr et/+");

    // In the path, DELETE, basic auth, no body.
    let (d, reqs) = revoke_with(
        json!({"url": "BASE/revoke/{token}", "send": "path", "method": "DELETE", "client_auth": "basic"}),
        json!({}),
        "",
        both(),
        ok(),
    )
    .await;
    assert!(d.revoked_at_provider, "{d:?}");
    let r = &reqs[0];
    assert_eq!(r.path, "/revoke/old-rt");
    assert_eq!(r.header("authorization"), Some(client_basic().as_str()));
    assert_eq!(r.body, "");

    // As API calls send it, with GET: the parameters go in the query.
    let (d, reqs) = revoke_with(
        json!({"url": "BASE/revoke", "send": "api_auth", "method": "GET", "token": "access", "type_hint": true, "client_auth": "client_id"}),
        json!({"api_auth": {"header": "X-Token", "prefix": "tok "}}),
        "",
        both(),
        ok(),
    )
    .await;
    assert!(d.revoked_at_provider);
    let r = &reqs[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.header("x-token"), Some("tok old-at"));
    let q = r.query_map();
    assert_eq!(q["token_type_hint"], "access_token");
    assert_eq!(q["client_id"], CLIENT_ID);

    // api_auth in the query.
    let (_, reqs) = revoke_with(
        json!({"url": "BASE/revoke", "send": "api_auth", "token": "access", "client_auth": "none"}),
        json!({"api_auth": {"query": "access_token"}}),
        "",
        both(),
        ok(),
    )
    .await;
    assert_eq!(reqs[0].query_map()["access_token"], "old-at");
    // api_auth absent: bearer.
    let (_, reqs) = revoke_with(
        json!({"url": "BASE/revoke", "send": "api_auth", "token": "access", "client_auth": "none"}),
        json!({}),
        "",
        both(),
        ok(),
    )
    .await;
    assert_eq!(reqs[0].header("authorization"), Some("Bearer old-at"));

    // A public client with basic: only its id.
    let (_, reqs) = revoke_with(
        json!({"url": "BASE/revoke"}),
        json!({}),
        "public",
        both(),
        ok(),
    )
    .await;
    let f = reqs[0].form();
    assert_eq!(f["client_id"], "pub-1");
    assert_eq!(reqs[0].header("authorization"), None);
}

#[tokio::test]
async fn revocation_failures_still_delete() {
    let (d, _) = revoke_with(
        json!({"url": "BASE/revoke"}),
        json!({}),
        "",
        both(),
        Resp::json(400, json!({"error": "unsupported_token_type"})),
    )
    .await;
    assert!(!d.revoked_at_provider);
    assert_eq!(
        d.provider_error.as_deref(),
        Some("the revocation endpoint answered HTTP 400 (unsupported_token_type)")
    );
    let (d, _) = revoke_with(
        json!({"url": "BASE/revoke"}),
        json!({}),
        "",
        both(),
        Resp::raw(503, "text/html", "down"),
    )
    .await;
    assert_eq!(
        d.provider_error.as_deref(),
        Some("the revocation endpoint answered HTTP 503 (HTTP 503)")
    );
    // No token of the kind to revoke.
    let (d, reqs) = revoke_with(
        json!({"url": "BASE/revoke", "token": "refresh"}),
        json!({}),
        "",
        json!({"access_token": "only-at"}),
        ok(),
    )
    .await;
    assert!(reqs.is_empty());
    assert!(d.provider_error.unwrap().contains("no refresh token"));
    let (d, _) = revoke_with(
        json!({"url": "BASE/revoke", "token": "access"}),
        json!({}),
        "",
        json!({"refresh_token": "only-rt"}),
        ok(),
    )
    .await;
    assert!(d.provider_error.unwrap().contains("no access token"));
    let (d, _) = revoke_with(
        json!({"url": "BASE/revoke"}),
        json!({}),
        "",
        json!({}),
        ok(),
    )
    .await;
    assert!(d.provider_error.unwrap().contains("no token to revoke"));
    // An unreachable endpoint.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (d, _) = revoke_with(
        json!({"url": format!("http://{dead}/revoke")}),
        json!({}),
        "",
        both(),
        ok(),
    )
    .await;
    assert!(!d.revoked_at_provider);
    assert!(d.provider_error.is_some());
}

/// Shopify's catalog entry, pointed at a stub: the code exchange asks for an expiring
/// offline token (`expiring=1`), and a refresh sends only what Shopify's refresh
/// request takes (no `expiring`): the exact form bodies.
#[tokio::test]
async fn shopify_sends_expiring_on_the_code_exchange_and_not_on_refresh() {
    let stub = Stub::start(default_route).await;
    let mut shopify = catalog::Catalog::builtin().get("shopify").unwrap().clone();
    let o = shopify.oauth2.as_mut().unwrap();
    assert_eq!(o.code_params.get("expiring").map(String::as_str), Some("1"));
    assert!(o.token_params.is_empty(), "{:?}", o.token_params);
    o.authorization_url = Some(format!("{}/authorize", stub.base));
    o.token_url = format!("{}/token", stub.base);
    o.revocation = None;
    shopify.api_base_url = Some(format!("{}/api", stub.base));
    let h = harness_with(stub, vec![shopify], &integration("it", "shopify", ""), "").await;
    let (out, _) = connect(
        &h,
        "it",
        json!({}),
        None,
        BTreeMap::from([("shop".to_owned(), "acme".to_owned())]),
    )
    .await;
    assert_eq!(out.error, None, "{out:?}");
    let id = out.connection_id.unwrap();
    let exchange = &h.stub.reqs("/token")[0];
    assert_eq!(
        exchange.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let f = exchange.form();
    let keys: Vec<&str> = f.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "client_id",
            "client_secret",
            "code",
            "code_verifier",
            "expiring",
            "grant_type",
            "redirect_uri"
        ],
        "{f:?}"
    );
    assert_eq!(f["grant_type"], "authorization_code");
    assert_eq!(f["expiring"], "1");
    assert_eq!(f["client_id"], CLIENT_ID);

    h.engine.force_refresh(&id).await.unwrap();
    let refresh = &h.stub.reqs("/token")[1];
    let f = refresh.form();
    let keys: Vec<&str> = f.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["client_id", "client_secret", "grant_type", "refresh_token"],
        "{f:?}"
    );
    assert_eq!(f["grant_type"], "refresh_token");
    assert!(f["refresh_token"].starts_with("rt-"), "{f:?}");
}
