//! Smoke tests of the OIDC test peer itself (plain reqwest, no Switchboard): discovery,
//! the authorization code flow with PKCE, refresh-token rotation, revocation,
//! introspection, a denied login, the request counters and fault injection.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{StatusCode, Url};
use serde_json::{Value, json};

use crate::harness;
use crate::oidc::{OidcPeer, browse_until, pkce};

const CLIENT_ID: &str = "switchboard-test";
const CLIENT_SECRET: &str = "s3cret-for-tests";

/// A peer with one confidential client; returns it and the client's redirect URI.
fn peer() -> (OidcPeer, String) {
    let redirect_uri = format!("http://127.0.0.1:{}/cb", harness::free_port());
    let peer = OidcPeer::start(json!([{
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid profile email offline_access api:read api:write",
    }]));
    (peer, redirect_uri)
}

fn auth_url(
    peer: &OidcPeer,
    redirect_uri: &str,
    state: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = Url::parse(&peer.url("/auth")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", "openid email profile api:read")
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .extend_pairs(extra);
    url.into()
}

fn query(url: &str) -> Vec<(String, String)> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Runs the browser part of the code flow; returns (code, verifier).
async fn authorize(peer: &OidcPeer, redirect_uri: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let landed = browse_until(
        &auth_url(peer, redirect_uri, "st-1", &challenge, &[]),
        redirect_uri,
    )
    .await;
    assert_eq!(param(&landed, "state").as_deref(), Some("st-1"), "{landed}");
    assert_eq!(
        param(&landed, "iss").as_deref(),
        Some(peer.issuer.as_str()),
        "{landed}"
    );
    let code = param(&landed, "code").unwrap_or_else(|| panic!("no code in {landed}"));
    (code, verifier)
}

/// POSTs a form to the token endpoint with HTTP Basic client authentication.
async fn token(peer: &OidcPeer, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = harness::http()
        .post(peer.url("/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("token response is not JSON ({e}): {text}"));
    (status, body)
}

async fn exchange(
    peer: &OidcPeer,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    token(
        peer,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn refresh(peer: &OidcPeer, refresh_token: &str) -> (StatusCode, Value) {
    token(
        peer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

fn jwt_part(jwt: &str, i: usize) -> Value {
    let part = jwt
        .split('.')
        .nth(i)
        .unwrap_or_else(|| panic!("not a JWT: {jwt}"));
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn oidc_peer_discovery_and_code_flow_with_pkce() {
    let (peer, redirect_uri) = peer();

    let disco = peer.discovery().await;
    assert_eq!(peer.issuer, format!("http://127.0.0.1:{}", peer.port));
    assert_eq!(disco["issuer"], peer.issuer);
    assert_eq!(disco["token_endpoint"], peer.url("/token"));
    assert_eq!(disco["revocation_endpoint"], peer.url("/token/revocation"));
    assert_eq!(
        disco["introspection_endpoint"],
        peer.url("/token/introspection")
    );
    assert_eq!(disco["code_challenge_methods_supported"], json!(["S256"]));

    let (code, verifier) = authorize(&peer, &redirect_uri).await;

    // A wrong verifier is refused (and does not burn the code).
    let (wrong, _) = pkce();
    let (status, body) = exchange(&peer, &redirect_uri, &code, &wrong).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");

    let (status, tokens) = exchange(&peer, &redirect_uri, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}\n{}", peer.stderr());
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], "openid email profile api:read");
    let access = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token without offline_access");
    let id_token = tokens["id_token"].as_str().expect("an id_token");
    assert_eq!(jwt_part(id_token, 0)["alg"], "RS256");
    let claims = jwt_part(id_token, 1);
    assert_eq!(claims["iss"], peer.issuer);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], CLIENT_ID);

    let me: Value = harness::http()
        .get(peer.url("/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["sub"], "alice");
    assert_eq!(me["email"], "alice@example.test");

    let info = peer.introspect(CLIENT_ID, CLIENT_SECRET, access).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["client_id"], CLIENT_ID);

    // Reusing the code is refused, and oidc-provider then revokes the whole grant: the
    // tokens issued for that code die too.
    let (status, body) = exchange(&peer, &redirect_uri, &code, &verifier).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    for t in [access, refresh_token] {
        let info = peer.introspect(CLIENT_ID, CLIENT_SECRET, t).await;
        assert_eq!(info, json!({"active": false}));
    }

    // Another account via login_hint.
    let (_, challenge) = pkce();
    let landed = browse_until(
        &auth_url(
            &peer,
            &redirect_uri,
            "st-bob",
            &challenge,
            &[("login_hint", "bob")],
        ),
        &redirect_uri,
    )
    .await;
    assert!(param(&landed, "code").is_some(), "{landed}");
}

#[tokio::test]
async fn oidc_peer_refresh_rotation_reuse_and_revocation() {
    let (peer, redirect_uri) = peer();

    let (code, verifier) = authorize(&peer, &redirect_uri).await;
    let (status, tokens) = exchange(&peer, &redirect_uri, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let rt1 = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Rotation: a new refresh token every time.
    let (status, refreshed) = refresh(&peer, &rt1).await;
    assert_eq!(status, 200, "{refreshed}");
    let rt2 = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    assert!(refreshed["access_token"].is_string());
    assert!(refreshed["id_token"].is_string());

    // The old one is refused; reuse revokes the whole grant, the new one included.
    let (status, body) = refresh(&peer, &rt1).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let info = peer.introspect(CLIENT_ID, CLIENT_SECRET, &rt2).await;
    assert_eq!(info["active"], false, "{info}");
    let (status, body) = refresh(&peer, &rt2).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );

    // RFC 7009 revocation of a live refresh token.
    let (code, verifier) = authorize(&peer, &redirect_uri).await;
    let (_, tokens) = exchange(&peer, &redirect_uri, &code, &verifier).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let info = peer.introspect(CLIENT_ID, CLIENT_SECRET, rt).await;
    assert_eq!(info["active"], true, "{info}");
    // (oidc-provider leaves token_type out when introspecting a refresh token.)
    assert_eq!(info["sub"], "alice", "{info}");
    let resp = harness::http()
        .post(peer.url("/token/revocation"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", rt), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let info = peer.introspect(CLIENT_ID, CLIENT_SECRET, rt).await;
    assert_eq!(info, json!({"active": false}));
    let (status, body) = refresh(&peer, rt).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
}

#[tokio::test]
async fn oidc_peer_denied_login_redirects_with_access_denied() {
    let (peer, redirect_uri) = peer();
    let (_, challenge) = pkce();
    let url = auth_url(
        &peer,
        &redirect_uri,
        "st-deny",
        &challenge,
        &[("login_hint", "deny")],
    );
    let landed = browse_until(&url, &redirect_uri).await;
    assert_eq!(
        param(&landed, "error").as_deref(),
        Some("access_denied"),
        "{landed}"
    );
    assert_eq!(
        param(&landed, "state").as_deref(),
        Some("st-deny"),
        "{landed}"
    );
    assert_eq!(param(&landed, "code"), None, "{landed}");

    // Without PKCE the request is refused at the client, too.
    let mut url = Url::parse(&url).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !k.starts_with("code_challenge") && k != "login_hint")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let landed = browse_until(url.as_str(), &redirect_uri).await;
    assert_eq!(
        param(&landed, "error").as_deref(),
        Some("invalid_request"),
        "{landed}"
    );
}

#[tokio::test]
async fn oidc_peer_counts_requests_and_injects_faults() {
    let (peer, redirect_uri) = peer();
    peer.discovery().await;

    let (code, verifier) = authorize(&peer, &redirect_uri).await;
    let (status, tokens) = exchange(&peer, &redirect_uri, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let (status, body) = exchange(&peer, &redirect_uri, &code, &verifier).await; // reuse
    assert_eq!(status, 400, "{body}");

    // A wrong client secret: invalid_client, 401, still counted.
    let resp = harness::http()
        .post(peer.url("/token"))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{body}");

    let (status, cc) = token(
        &peer,
        &[("grant_type", "client_credentials"), ("scope", "api:read")],
    )
    .await;
    assert_eq!(status, 200, "{cc}");
    assert_eq!(cc["scope"], "api:read");
    assert!(cc.get("refresh_token").is_none(), "{cc}");
    let info = peer
        .introspect(
            CLIENT_ID,
            CLIENT_SECRET,
            cc["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(info["active"], true, "{info}");

    let stats = peer.stats().await;
    assert_eq!(
        stats["token"],
        json!({"authorization_code": 2, "refresh_token": 0, "client_credentials": 2}),
        "{stats}"
    );
    assert_eq!(stats["token_errors"], 2, "{stats}");
    assert_eq!(stats["introspection"], 1, "{stats}");
    assert_eq!(stats["revocation"], 0, "{stats}");
    assert_eq!(stats["userinfo"], 0, "{stats}");
    assert_eq!(stats["authorization"], 1, "{stats}");

    peer.reset().await;
    let stats = peer.stats().await;
    assert_eq!(stats["token"]["authorization_code"], 0, "{stats}");
    assert_eq!(stats["authorization"], 0, "{stats}");

    // Fault injection at the real server: the next token request gets 503, the one after works.
    peer.fail_next("token", 503, 1).await;
    let (status, body) = token(&peer, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    let (status, body) = token(&peer, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "{body}");

    // A custom body, on userinfo.
    peer.fail_with(json!({"endpoint": "userinfo", "status": 500, "count": 1, "body": "boom"}))
        .await;
    let resp = harness::http()
        .get(peer.url("/me"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(resp.text().await.unwrap(), "boom");

    let stats = peer.stats().await;
    assert_eq!(stats["token"]["client_credentials"], 2, "{stats}");
    assert_eq!(stats["token_errors"], 1, "{stats}");
    assert_eq!(stats["userinfo"], 1, "{stats}");
    assert_eq!(stats["faults_injected"], 2, "{stats}");
}
