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
