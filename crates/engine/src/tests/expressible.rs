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
