//! Providers the catalog could not express before, as their entries have them, pointed
//! at a stub: the exact URLs and bodies each quirk produces (TikTok's `client_key`,
//! Basecamp's account from the Launchpad accounts list, Trello's key and token in the
//! query, Wix's instance id in the client-credentials grant).

use std::collections::BTreeMap;

use serde_json::json;

use super::connections::{
    CLIENT_ID, Stub, conn, connect, default_route, harness_with, integration, put, stored_creds,
};

/// A built-in entry with its endpoints moved to the stub at `base`.
fn builtin_at(id: &str, base: &str) -> catalog::Provider {
    let mut p = catalog::Catalog::builtin().get(id).unwrap().clone();
    if let Some(o) = p.oauth2.as_mut() {
        o.token_url = format!("{base}/token");
        o.refresh_url = None;
        o.userinfo_url = o.userinfo_url.as_ref().map(|_| format!("{base}/userinfo"));
        if let Some(r) = o.revocation.as_mut() {
            r.url = format!("{base}/revoke");
        }
    }
    p
}

fn keys(m: &BTreeMap<String, String>) -> Vec<&str> {
    m.keys().map(String::as_str).collect()
}

/// TikTok names the client id `client_key` everywhere: in the authorization URL (with
/// comma-separated scopes and no PKCE), in the code exchange, the refresh and the
/// revocation; `client_id` is never sent.
#[tokio::test]
async fn tiktok_sends_client_key_in_every_request() {
    let stub = Stub::start(default_route).await;
    let tiktok = builtin_at("tiktok", &stub.base);
    let h = harness_with(
        stub,
        vec![tiktok],
        &integration(
            "tt",
            "tiktok",
            "scopes = [\"user.info.basic\", \"video.list\"]",
        ),
        "",
    )
    .await;
    let (out, q) = connect(&h, "tt", json!({}), None, BTreeMap::new()).await;
    assert_eq!(out.error, None, "{out:?}");
    assert_eq!(
        keys(&q),
        [
            "client_key",
            "redirect_uri",
            "response_type",
            "scope",
            "state"
        ],
        "{q:?}"
    );
    assert_eq!(q["client_key"], CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["scope"], "user.info.basic,video.list");
    assert_eq!(
        q["redirect_uri"],
        "https://sb.example/api/integrations/tt/callback"
    );

    let exchange = &h.stub.reqs("/token")[0];
    assert_eq!(exchange.method, "POST");
    assert_eq!(
        exchange.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(exchange.header("authorization"), None);
    let f = exchange.form();
    assert_eq!(
        keys(&f),
        [
            "client_key",
            "client_secret",
            "code",
            "grant_type",
            "redirect_uri"
        ],
        "{f:?}"
    );
    assert_eq!(f["client_key"], CLIENT_ID);
    assert_eq!(f["client_secret"], "s3cr et/+");
    assert_eq!(f["code"], "the-code");
    assert_eq!(f["grant_type"], "authorization_code");

    let id = out.connection_id.unwrap();
    h.engine.force_refresh(&id).await.unwrap();
    let refresh = &h.stub.reqs("/token")[1];
    let f = refresh.form();
    assert_eq!(
        keys(&f),
        ["client_key", "client_secret", "grant_type", "refresh_token"],
        "{f:?}"
    );
    assert_eq!(f["grant_type"], "refresh_token");
    let creds = stored_creds(&h, &id).await;
    let access = creds["access_token"].as_str().unwrap().to_owned();

    let d = h
        .engine
        .disconnect("tt", &id, &crate::Actor::System)
        .await
        .unwrap();
    assert!(d.revoked_at_provider, "{d:?}");
    let revoke = &h.stub.reqs("/revoke")[0];
    assert_eq!(revoke.method, "POST");
    assert_eq!(revoke.header("authorization"), None);
    let f = revoke.form();
    assert_eq!(keys(&f), ["client_key", "client_secret", "token"], "{f:?}");
    assert_eq!(f["client_key"], CLIENT_ID);
    assert_eq!(f["token"], access, "the access token is revoked");
}

/// A connection stored by hand revokes the same way (no flow needed): `client_key`, not
/// `client_id`, with the access token.
#[tokio::test]
async fn tiktok_revocation_of_a_stored_connection() {
    let stub = Stub::start(default_route).await;
    let tiktok = builtin_at("tiktok", &stub.base);
    let h = harness_with(stub, vec![tiktok], &integration("tt", "tiktok", ""), "").await;
    put(
        &h.engine,
        &conn("c1", "tt", "oauth2", Some(3600)),
        json!({"access_token": "act.1", "refresh_token": "rft.1"}),
    )
    .await;
    let d = h
        .engine
        .disconnect("tt", "c1", &crate::Actor::System)
        .await
        .unwrap();
    assert!(d.revoked_at_provider);
    let f = h.stub.reqs("/revoke")[0].form();
    assert_eq!(f["token"], "act.1");
    assert!(!f.contains_key("client_id"), "{f:?}");
}

/// The Launchpad answer: the user's accounts, a Basecamp 2 one first.
fn launchpad(req: &super::connections::Req) -> super::connections::Resp {
    use super::connections::Resp;
    match req.path.as_str() {
        "/userinfo"
            if req
                .header("authorization")
                .is_some_and(|a| a.starts_with("Bearer at-")) =>
        {
            Resp::json(
                200,
                json!({
                    "expires_at": "2026-12-20T12:00:00Z",
                    "identity": {"id": 9_999_999, "first_name": "Jason", "email_address": "j@example.com"},
                    "accounts": [
                        {"product": "bcx", "id": 11_111_111, "name": "Old", "href": "https://basecamp.com/11111111/api/v1"},
                        {"product": "bc3", "id": 99_999_999, "name": "Honcho Design", "href": "https://3.basecampapi.com/99999999"},
                        {"product": "bc3", "id": 88_888_888, "name": "Second", "href": "https://3.basecampapi.com/88888888"},
                    ],
                }),
            )
        }
        "/userinfo" => Resp::json(401, json!({"error": "unauthorized"})),
        p if p.starts_with("/bc/") => Resp::json(200, json!({"path": p})),
        _ => default_route(req),
    }
}

/// Basecamp: standard parameters with client_id and client_secret in the body, no scope
/// and no PKCE; the account the API base needs is the first Basecamp 4 (`bc3`) account
/// of Launchpad's list, wherever it sits; the proxy sends calls under it.
#[tokio::test]
async fn basecamp_takes_the_first_bc3_account_from_launchpad() {
    let stub = Stub::start(launchpad).await;
    let mut basecamp = builtin_at("basecamp", &stub.base);
    basecamp.api_base_url = Some(format!("{}/bc/{{account_id}}", stub.base));
    let h = harness_with(stub, vec![basecamp], &integration("bc", "basecamp", ""), "").await;
    let (out, q) = connect(&h, "bc", json!({}), None, BTreeMap::new()).await;
    assert_eq!(out.error, None, "{out:?}");
    assert_eq!(
        keys(&q),
        ["client_id", "redirect_uri", "response_type", "state"],
        "{q:?}"
    );
    let f = h.stub.reqs("/token")[0].form();
    assert_eq!(
        keys(&f),
        [
            "client_id",
            "client_secret",
            "code",
            "grant_type",
            "redirect_uri"
        ],
        "{f:?}"
    );
    assert_eq!(h.stub.count("/userinfo"), 1);
    let id = out.connection_id.unwrap();
    let c = h.engine.get_connection(&id).await.unwrap();
    assert_eq!(
        c.settings.get("account_id").map(String::as_str),
        Some("99999999")
    );

    let resp = h
        .engine
        .proxy(crate::proxy::ProxyRequest {
            connection_id: id.clone(),
            method: reqwest::Method::GET,
            path: "/projects.json".into(),
            query: None,
            headers: reqwest::header::HeaderMap::new(),
            body: crate::proxy::ProxyBody::Empty,
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let api = h.stub.reqs("/bc/99999999/projects.json");
    assert_eq!(api.len(), 1);
    assert!(
        api[0]
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer at-")),
        "{:?}",
        api[0].headers
    );
}

/// A user with no Basecamp 4 account: the connection is made (the token is good) but
/// has no account id, and the proxy says which value is missing instead of calling a
/// wrong URL.
#[tokio::test]
async fn basecamp_without_a_bc3_account_has_no_api_base() {
    let stub = Stub::start(|req| {
        use super::connections::Resp;
        match req.path.as_str() {
            "/userinfo" => Resp::json(
                200,
                json!({"identity": {"id": 1}, "accounts": [{"product": "bcx", "id": 5}]}),
            ),
            _ => default_route(req),
        }
    })
    .await;
    let mut basecamp = builtin_at("basecamp", &stub.base);
    basecamp.api_base_url = Some(format!("{}/bc/{{account_id}}", stub.base));
    let h = harness_with(stub, vec![basecamp], &integration("bc", "basecamp", ""), "").await;
    let (out, _) = connect(&h, "bc", json!({}), None, BTreeMap::new()).await;
    let id = out.connection_id.unwrap();
    let c = h.engine.get_connection(&id).await.unwrap();
    assert!(!c.settings.contains_key("account_id"), "{:?}", c.settings);
    let e = match h
        .engine
        .proxy(crate::proxy::ProxyRequest {
            connection_id: id,
            method: reqwest::Method::GET,
            path: "/projects.json".into(),
            query: None,
            headers: reqwest::header::HeaderMap::new(),
            body: crate::proxy::ProxyBody::Empty,
        })
        .await
    {
        Ok(_) => panic!("proxied without an account"),
        Err(e) => e,
    };
    assert!(e.to_string().contains("account_id"), "{e}");
    assert_eq!(
        h.stub.total() - h.stub.count("/token") - h.stub.count("/userinfo"),
        0
    );
}

/// Trello's API as documented: `key` and `token` in the query, `/members/me` answering
/// only when both are right.
fn trello_api(req: &super::connections::Req) -> super::connections::Resp {
    use super::connections::Resp;
    let q = req.query_map();
    let ok = q.get("key").map(String::as_str) == Some(CLIENT_ID)
        && q.get("token").map(String::as_str) == Some("trello-token");
    match req.path.as_str() {
        _ if !ok => Resp::raw(401, "text/plain", "invalid key"),
        "/trello/1/members/me" => Resp::json(200, json!({"id": "m1", "username": "sample"})),
        p if p.starts_with("/trello/1/") => Resp::json(200, json!({"query": req.query})),
        _ => Resp::json(404, json!({})),
    }
}

async fn trello_harness() -> super::connections::H {
    let stub = Stub::start(trello_api).await;
    let mut trello = catalog::Catalog::builtin().get("trello").unwrap().clone();
    trello.api_base_url = Some(format!("{}/trello/1", stub.base));
    harness_with(
        stub,
        vec![trello],
        "\n[[integrations]]\nid = \"tr\"\nprovider = \"trello\"\nclient_id = \"client:1\"\n",
        "",
    )
    .await
}

fn direct(token: &str) -> crate::connections::DirectConnectRequest {
    serde_json::from_value(json!({
        "integration": "tr", "end_user_id": "u1", "connection_id": "t1",
        "credentials": {"api_key": token},
    }))
    .unwrap()
}

/// Trello: the user's token and the integration's API key (its client_id) both travel
/// in the query, for the verify request at connect time and for every proxied call; a
/// caller's own `key` or `token` parameter is replaced, never sent beside them.
#[tokio::test]
async fn trello_sends_the_key_and_the_token_in_the_query() {
    let h = trello_harness().await;
    let e = h
        .engine
        .connect_direct(direct("wrong"), &crate::Actor::System)
        .await
        .unwrap_err();
    assert!(
        matches!(e, crate::EngineError::CredentialsRejected(_)),
        "{e:?}"
    );
    let v = h
        .engine
        .connect_direct(direct("trello-token"), &crate::Actor::System)
        .await
        .unwrap();
    assert_eq!(v.auth_mode, "api_key");
    let verify = h.stub.reqs("/trello/1/members/me").pop().unwrap();
    assert_eq!(verify.header("authorization"), None);
    let q = verify.query_map();
    assert_eq!(keys(&q), ["key", "token"], "{q:?}");
    assert_eq!(q["key"], CLIENT_ID);

    let resp = h
        .engine
        .proxy(crate::proxy::ProxyRequest {
            connection_id: "t1".into(),
            method: reqwest::Method::GET,
            path: "/boards/b1/cards".into(),
            query: Some("key=evil&fields=name&token=evil".into()),
            headers: reqwest::header::HeaderMap::new(),
            body: crate::proxy::ProxyBody::Empty,
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let call = h.stub.reqs("/trello/1/boards/b1/cards").pop().unwrap();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(call.query.as_bytes())
        .into_owned()
        .collect();
    let mut names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["fields", "key", "token"], "{pairs:?}");
    assert!(
        pairs.contains(&("key".into(), CLIENT_ID.into()))
            && pairs.contains(&("token".into(), "trello-token".into())),
        "{pairs:?}"
    );
}

/// Without a client_id the key cannot be filled: the proxy refuses with the name of the
/// missing value, and no request reaches Trello.
#[tokio::test]
async fn trello_without_a_key_is_refused_before_any_call() {
    let stub = Stub::start(trello_api).await;
    let mut trello = catalog::Catalog::builtin().get("trello").unwrap().clone();
    trello.api_base_url = Some(format!("{}/trello/1", stub.base));
    let h = harness_with(
        stub,
        vec![trello],
        "\n[[integrations]]\nid = \"tr\"\nprovider = \"trello\"\n",
        "",
    )
    .await;
    let e = h
        .engine
        .connect_direct(direct("trello-token"), &crate::Actor::System)
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("key") && msg.contains("client_id"), "{msg}");
    put(
        &h.engine,
        &conn("t2", "tr", "api_key", None),
        json!({"api_key": "trello-token"}),
    )
    .await;
    let e = match h
        .engine
        .proxy(crate::proxy::ProxyRequest {
            connection_id: "t2".into(),
            method: reqwest::Method::GET,
            path: "/members/me".into(),
            query: None,
            headers: reqwest::header::HeaderMap::new(),
            body: crate::proxy::ProxyBody::Empty,
        })
        .await
    {
        Ok(_) => panic!("proxied without the key"),
        Err(e) => e,
    };
    assert!(e.to_string().contains("client_id"), "{e}");
    assert_eq!(h.stub.total(), 0);
}

/// An integration setting `client_id` falls back to the integration's client_id, so
/// GitHub's grant revocation URL (`/applications/{client_id}/grant`) resolves without
/// the operator repeating it under `settings`.
#[tokio::test]
async fn github_revocation_names_the_integrations_client_id() {
    let stub = Stub::start(|r| {
        if r.path.starts_with("/applications/") {
            super::connections::Resp::raw(204, "text/plain", "")
        } else {
            default_route(r)
        }
    })
    .await;
    let mut gh = catalog::Catalog::builtin().get("github").unwrap().clone();
    let o = gh.oauth2.as_mut().unwrap();
    o.token_url = format!("{}/token", stub.base);
    let r = o.revocation.as_mut().unwrap();
    r.url = format!("{}/applications/{{client_id}}/grant", stub.base);
    let h = harness_with(stub, vec![gh], &integration("gh", "github", ""), "").await;
    put(
        &h.engine,
        &conn("g1", "gh", "oauth2", Some(3600)),
        json!({"access_token": "gho_1"}),
    )
    .await;
    let d = h
        .engine
        .disconnect("gh", "g1", &crate::Actor::System)
        .await
        .unwrap();
    assert_eq!(d.provider_error, None, "{d:?}");
    let reqs = h.stub.reqs("/applications/client%3A1/grant");
    assert_eq!(reqs.len(), 1, "{:?}", h.stub.total());
    assert_eq!(reqs[0].method, "DELETE");
    assert_eq!(reqs[0].json()["access_token"], "gho_1");
}

fn hmac_sha256_hex(secret: &str, msg: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(msg);
    hex::encode(m.finalize().into_bytes())
}

/// TikTok's webhooks: `TikTok-Signature: t=…,s=…` checked with the client secret, no
/// event id (the body's digest stands in, so a redelivery is a duplicate), and the
/// event routed to the connection whose token response gave the same `open_id`.
#[tokio::test]
async fn tiktok_webhooks_route_by_open_id() {
    const SECRET: &str = "tiktok-client-secret-0123456789ab";
    let stub = Stub::start(|r| match r.path.as_str() {
        "/token" => super::connections::Resp::json(
            200,
            json!({
                "access_token": "act.1", "expires_in": 7200, "open_id": "open-42",
                "refresh_token": "rft.1", "refresh_expires_in": 15_552_000,
                "scope": "user.info.basic", "token_type": "Bearer",
            }),
        ),
        _ => default_route(r),
    })
    .await;
    let tiktok = builtin_at("tiktok", &stub.base);
    let h = harness_with(
        stub,
        vec![tiktok],
        &integration("tt", "tiktok", &format!("webhook_secrets = [\"{SECRET}\"]")),
        "",
    )
    .await;
    let (out, _) = connect(&h, "tt", json!({}), None, BTreeMap::new()).await;
    let id = out.connection_id.unwrap();

    let ts = h.engine.now().timestamp();
    let body = format!(
        r#"{{"client_key": "ck", "event": "authorization.removed", "create_time": {ts}, "user_openid": "open-42", "content": "{{\"reason\": 1 }}"}}"#
    );
    let sig = hmac_sha256_hex(SECRET, format!("{ts}.{body}").as_bytes());
    let send = |headers: signatures::Headers| {
        let body = body.clone();
        let engine = h.engine.clone();
        async move {
            engine
                .intake(crate::webhooks::Incoming {
                    integration: "tt",
                    method: "POST",
                    url: "https://sb.example/webhooks/tt/event",
                    query: "",
                    headers: &headers,
                    body: body.as_bytes(),
                })
                .await
        }
    };
    let stored =
        send(signatures::Headers::new().with("TikTok-Signature", format!("t={ts},s={sig}")))
            .await
            .unwrap();
    let crate::webhooks::Intake::Stored { id: event } = stored else {
        panic!("not stored: {stored:?}");
    };
    let e = store::EventStore::get_event(&h.store, &event)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.event_type.as_deref(), Some("authorization.removed"));
    assert_eq!(e.routing_key.as_deref(), Some("open-42"));
    assert_eq!(e.connection_id.as_deref(), Some(id.as_str()));
    assert!(
        e.provider_event_id
            .as_deref()
            .is_some_and(|p| p.starts_with("sha256:")),
        "{:?}",
        e.provider_event_id
    );
    // The same delivery again is a duplicate.
    let again =
        send(signatures::Headers::new().with("TikTok-Signature", format!("t={ts},s={sig}")))
            .await
            .unwrap();
    assert!(
        matches!(again, crate::webhooks::Intake::Duplicate { .. }),
        "{again:?}"
    );
    // Signed with another secret, or as Stripe would (v1=): refused.
    let forged = hmac_sha256_hex(
        "another-secret-0123456789abcdefgh",
        format!("{ts}.{body}").as_bytes(),
    );
    for header in [format!("t={ts},s={forged}"), format!("t={ts},v1={sig}")] {
        let e = send(signatures::Headers::new().with("TikTok-Signature", header.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(e, crate::EngineError::BadSignature { .. }),
            "{header}: {e:?}"
        );
    }
}

/// Trello's webhook creation check: a HEAD to the callback URL is answered 200 with
/// nothing stored; any other unsigned request is refused.
#[tokio::test]
async fn trello_answers_the_head_check_and_nothing_else_unsigned() {
    let stub = Stub::start(default_route).await;
    let trello = catalog::Catalog::builtin().get("trello").unwrap().clone();
    let h = harness_with(
        stub,
        vec![trello],
        "\n[[integrations]]\nid = \"tr\"\nprovider = \"trello\"\nclient_id = \"k\"\nwebhook_secrets = [\"0f5c3a1b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b\"]\n",
        "",
    )
    .await;
    let empty = signatures::Headers::new();
    let call = |method: &'static str| {
        let engine = h.engine.clone();
        let empty = empty.clone();
        async move {
            engine
                .intake(crate::webhooks::Incoming {
                    integration: "tr",
                    method,
                    url: "https://sb.example/webhooks/tr/event",
                    query: "",
                    headers: &empty,
                    body: b"",
                })
                .await
        }
    };
    match call("HEAD").await.unwrap() {
        crate::webhooks::Intake::Handshake(r) => {
            assert_eq!(r.status, 200);
            assert!(r.body.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(call("GET").await.is_err());
    assert!(matches!(
        call("POST").await.unwrap_err(),
        crate::EngineError::BadSignature { .. }
    ));
    assert_eq!(
        store::EventStore::count_events(&h.store, None)
            .await
            .unwrap(),
        0
    );
}

/// Wix: a client-credentials token per app instance. The JSON token request carries the
/// connection's `instance_id`; without one the connect is refused before Wix is asked;
/// a renewal asks again for the same instance; API calls send the token bare in
/// `Authorization`.
#[tokio::test]
async fn wix_buys_a_token_per_app_instance() {
    let stub = Stub::start(|r| {
        use super::connections::Resp;
        match r.path.as_str() {
            "/token" => Resp::json(
                200,
                json!({"access_token": format!("wix-{}", r.json()["instance_id"].as_str().unwrap_or("?")), "token_type": "Bearer", "expires_in": 14_400}),
            ),
            p if p.starts_with("/wix/") => Resp::json(200, json!({"ok": true})),
            _ => default_route(r),
        }
    })
    .await;
    let mut wix = builtin_at("wix", &stub.base);
    wix.api_base_url = Some(format!("{}/wix", stub.base));
    let h = harness_with(stub, vec![wix], &integration("wx", "wix", ""), "").await;
    let direct = |settings: serde_json::Value| {
        serde_json::from_value::<crate::connections::DirectConnectRequest>(json!({
            "integration": "wx", "connection_id": "site-1", "settings": settings,
        }))
        .unwrap()
    };

    let e = h
        .engine
        .connect_direct(direct(json!({})), &crate::Actor::System)
        .await
        .unwrap_err();
    assert_eq!(super::connections::invalid_field(&e), "settings", "{e:?}");
    assert!(e.to_string().contains("instance_id"), "{e}");
    let e = h
        .engine
        .connect_direct(direct(json!({"site": "x"})), &crate::Actor::System)
        .await
        .unwrap_err();
    assert_eq!(super::connections::invalid_field(&e), "settings", "{e:?}");
    assert_eq!(h.stub.total(), 0, "nothing reached Wix");

    let v = h
        .engine
        .connect_direct(
            direct(json!({"instance_id": "inst-1"})),
            &crate::Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(v.auth_mode, "client_credentials");
    assert!(v.expires_at.is_some());
    let req = &h.stub.reqs("/token")[0];
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("authorization"), None);
    assert_eq!(
        req.json(),
        json!({
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": "s3cr et/+",
            "instance_id": "inst-1",
        })
    );

    h.engine.force_refresh("site-1").await.unwrap();
    assert_eq!(h.stub.reqs("/token")[1].json()["instance_id"], "inst-1");

    let resp = h
        .engine
        .proxy(crate::proxy::ProxyRequest {
            connection_id: "site-1".into(),
            method: reqwest::Method::GET,
            path: "/apps/v1/instance".into(),
            query: None,
            headers: reqwest::header::HeaderMap::new(),
            body: crate::proxy::ProxyBody::Empty,
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let call = h.stub.reqs("/wix/apps/v1/instance").pop().unwrap();
    assert_eq!(call.header("authorization"), Some("wix-inst-1"));
}

/// An RSA private key in PKCS#8 PEM, made for the test run.
fn rsa_pem() -> String {
    use aws_lc_rs::encoding::AsDer;
    use base64::Engine as _;
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(kp.as_der().unwrap().as_ref());
    let body: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.join("\n")
    )
}

fn jwt_claims(jwt: &str) -> (serde_json::Value, serde_json::Value) {
    let d = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(jwt).unwrap();
    (serde_json::to_value(&d.header).unwrap(), d.claims)
}

/// Vonage: no token endpoint; the JWT the integration's key signs is the credential.
/// A connection is made without asking anyone; its token is a JWT with the application
/// id in `application_id` (no `iss`, no `aud`), living 15 minutes; API calls carry it as
/// a bearer; a renewal signs a new one (a new `jti`); a disconnect has nothing to revoke.
#[tokio::test]
async fn vonage_sends_a_jwt_it_signs_itself() {
    const APP: &str = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";
    let stub = Stub::start(|r| super::connections::Resp::json(200, json!({"path": r.path}))).await;
    let mut vonage = catalog::Catalog::builtin().get("vonage").unwrap().clone();
    vonage.api_base_url = Some(format!("{}/vonage", stub.base));
    let env = BTreeMap::from([("KEY".to_owned(), rsa_pem())]);
    let text = format!(
        "public_url = \"https://sb.example\"\n[[integrations]]\nid = \"vg\"\nprovider = \"vonage\"\nclient_id = \"{APP}\"\nprivate_key = \"env:KEY\"\n"
    );
    let cfg = config::Config::from_toml(&text, "t.toml", &env, &Default::default()).unwrap();
    let store = super::memory_store().await;
    let engine = super::connections::engine_with(
        std::sync::Arc::new(store.clone()),
        super::ring(&super::key(), &[]),
        &[vonage],
        cfg,
        true,
    );
    let before = engine.now().timestamp();
    let v = engine
        .connect_direct(
            serde_json::from_value(json!({"integration": "vg", "connection_id": "v1"})).unwrap(),
            &crate::Actor::System,
        )
        .await
        .unwrap();
    assert_eq!(v.auth_mode, "jwt_bearer");
    assert_eq!(stub.total(), 0, "nothing is asked of Vonage to connect");
    let t = engine.connection_token("v1").await.unwrap();
    assert_eq!(t.token_type.as_deref(), Some("Bearer"));
    let jwt = t.access_token.clone().unwrap();
    let (header, claims) = jwt_claims(&jwt);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["application_id"], APP);
    let obj = claims.as_object().unwrap();
    let mut names: Vec<&str> = obj.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["application_id", "exp", "iat", "jti"], "{claims}");
    let iat = claims["iat"].as_i64().unwrap();
    assert!(iat >= before, "{claims}");
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 900);
    assert!(claims["jti"].as_str().unwrap().len() >= 32);
    let expires = t.expires_at.unwrap().timestamp();
    assert_eq!(expires, claims["exp"].as_i64().unwrap());

    let resp = engine
        .proxy(crate::proxy::ProxyRequest {
            connection_id: "v1".into(),
            method: reqwest::Method::GET,
            path: "/v1/calls".into(),
            query: None,
            headers: reqwest::header::HeaderMap::new(),
            body: crate::proxy::ProxyBody::Empty,
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let call = stub.reqs("/vonage/v1/calls").pop().unwrap();
    assert_eq!(
        call.header("authorization"),
        Some(format!("Bearer {jwt}").as_str())
    );

    engine.force_refresh("v1").await.unwrap();
    let renewed = engine.connection_token("v1").await.unwrap();
    let (_, again) = jwt_claims(renewed.access_token.as_deref().unwrap());
    assert_ne!(again["jti"], claims["jti"]);

    let d = engine
        .disconnect("vg", "v1", &crate::Actor::System)
        .await
        .unwrap();
    assert!(d.deleted && !d.revoked_at_provider);
    assert!(
        d.provider_error
            .as_deref()
            .is_some_and(|m| m.contains("900 seconds")),
        "{d:?}"
    );
    assert_eq!(stub.total(), 1, "only the proxied call reached the stub");
}
