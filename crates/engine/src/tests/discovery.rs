//! Discovery of custom providers against a local server serving discovery documents.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;

use super::http::{Reply, TestServer, dev_outbound, json as json_reply, serve};
use crate::discovery::{DiscoveryError, discover, discover_with_timeout, effective_catalog};
use crate::http::{HostPolicy, Outbound};

const OPENID: &str = "/.well-known/openid-configuration";
const RFC8414: &str = "/.well-known/oauth-authorization-server";

fn document(issuer: &str) -> String {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "scopes_supported": ["openid", "email"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    })
    .to_string()
}

fn custom(id: &str, issuer: &str) -> catalog::CustomProvider {
    catalog::CustomProvider {
        id: id.to_owned(),
        issuer: Some(issuer.to_owned()),
        ..Default::default()
    }
}

/// A server whose replies are chosen by `route(path, issuer)`, where `issuer` is the
/// server's own base URL.
async fn server_with(route: fn(&str, &str) -> Reply) -> TestServer {
    // The handler needs the server's address, known only after binding: pass it through
    // a cell set right after.
    let base = std::sync::Arc::new(std::sync::OnceLock::<String>::new());
    let b = base.clone();
    let server = serve(move |path| route(path, b.get().map(String::as_str).unwrap_or(""))).await;
    base.set(server.url("")).unwrap();
    server
}

#[tokio::test]
async fn an_openid_document_gives_the_provider() {
    let server = server_with(|path, base| match path {
        OPENID => json_reply(document(base)),
        _ => Some((404, vec![], String::new())),
    })
    .await;
    let issuer = server.url("");
    let providers = [
        custom("acme", &issuer),
        // Explicit endpoints: nothing to discover, skipped.
        catalog::CustomProvider {
            id: "explicit".into(),
            token_url: Some("https://explicit.example/token".into()),
            ..Default::default()
        },
    ];
    let found = discover(&dev_outbound(), &providers, true).await.unwrap();
    assert_eq!(found.len(), 1);
    let p = &found[0];
    assert_eq!(p.id, "acme");
    let o = p.oauth2.as_ref().unwrap();
    assert_eq!(o.token_url, format!("{issuer}/token"));
    assert_eq!(
        o.authorization_url.as_deref(),
        Some(&*format!("{issuer}/authorize"))
    );
    assert_eq!(o.jwks_url.as_deref(), Some(&*format!("{issuer}/jwks")));
    assert_eq!(o.issuer.as_deref(), Some(issuer.as_str()));
    assert_eq!(server.hits(OPENID), 1);
    assert_eq!(server.hits(RFC8414), 0);
}

#[tokio::test]
async fn an_issuer_mismatch_is_refused() {
    let server = server_with(|path, _| match path {
        OPENID => json_reply(document("https://evil.example.com")),
        _ => Some((404, vec![], String::new())),
    })
    .await;
    let e = discover(&dev_outbound(), &[custom("acme", &server.url(""))], true)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            DiscoveryError::Invalid(catalog::CatalogError::Discovery { .. })
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.contains("acme") && text.contains("issuer"), "{text}");
    // A mismatch is not retried at the RFC 8414 URL.
    assert_eq!(server.hits(RFC8414), 0);
}

#[tokio::test]
async fn a_404_on_the_openid_url_falls_back_to_rfc_8414() {
    let server = server_with(|path, base| {
        if path == format!("{RFC8414}/tenant-1") {
            json_reply(document(&format!("{base}/tenant-1")))
        } else {
            Some((404, vec![], "not found".into()))
        }
    })
    .await;
    let issuer = server.url("/tenant-1");
    let found = discover(&dev_outbound(), &[custom("acme", &issuer)], true)
        .await
        .unwrap();
    assert_eq!(
        found[0].oauth2.as_ref().unwrap().token_url,
        format!("{issuer}/token")
    );
    assert_eq!(server.hits(&format!("/tenant-1{OPENID}")), 1);
    assert_eq!(server.hits(&format!("{RFC8414}/tenant-1")), 1);
}

#[tokio::test]
async fn non_json_documents_fail_naming_the_provider_and_urls() {
    let server = server_with(|_, _| {
        Some((
            200,
            vec![("content-type".into(), "text/html".into())],
            "<html>login</html>".into(),
        ))
    })
    .await;
    let e = discover(&dev_outbound(), &[custom("acme", &server.url("/t"))], true)
        .await
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::Fetch { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("\"acme\""), "{text}");
    assert!(
        text.contains("/t/.well-known/openid-configuration"),
        "{text}"
    );
    assert!(
        text.contains("/.well-known/oauth-authorization-server/t"),
        "{text}"
    );
    assert!(text.contains("explicitly"), "{text}");
    // An issuer with a query (invalid, but possible in config): the query is not shown.
    let issuer = format!("{}?tenant=SECRET", server.url("/t"));
    let e = discover(&dev_outbound(), &[custom("acme", &issuer)], true)
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("SECRET"), "query shown: {e}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let server = server_with(|_, _| None).await;
    let started = Instant::now();
    let e = discover_with_timeout(
        &dev_outbound(),
        &[custom("acme", &server.url(""))],
        true,
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(e, DiscoveryError::Fetch { .. }), "{e:?}");
    assert!(e.to_string().contains("timed out"), "{e}");
    // Not retried on the same host.
    assert_eq!(server.paths.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_outbound_guard_applies_to_discovery() {
    let server = server_with(|_, base| json_reply(document(base))).await;
    let prod = Outbound::new(HostPolicy::default(), Duration::from_secs(5)).unwrap();
    let e = discover(&prod, &[custom("acme", &server.url(""))], true)
        .await
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::Refused { .. }), "{e:?}");
    assert_eq!(server.accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
}

fn config(text: &str) -> config::Config {
    config::Config::from_toml(text, "t.toml", &BTreeMap::new(), &Default::default()).unwrap()
}

#[tokio::test]
async fn the_effective_catalog_has_builtin_explicit_and_discovered_providers() {
    let server = server_with(|path, base| match path {
        OPENID => json_reply(document(base)),
        _ => Some((404, vec![], String::new())),
    })
    .await;
    let cfg = config(&format!(
        r#"
[[providers]]
id = "acme"
issuer = "{}"

[[providers]]
id = "explicit"
authorization_url = "https://explicit.example/authorize"
token_url = "https://explicit.example/token"

[[integrations]]
id = "acme-main"
provider = "acme"
client_id = "abc"
"#,
        server.url("")
    ));
    let cat = effective_catalog(&cfg, &dev_outbound(), true)
        .await
        .unwrap();
    assert!(cat.get("github").is_some(), "built-in providers kept");
    assert!(cat.get("explicit").is_some());
    let acme = cat.get("acme").unwrap();
    assert_eq!(
        acme.oauth2.as_ref().unwrap().token_url,
        format!("{}/token", server.url(""))
    );
    assert_eq!(cat.len(), catalog::Catalog::builtin().len() + 2);

    // Discovery failing fails the catalog.
    let cfg = config(&format!(
        "[[providers]]\nid = \"acme\"\nissuer = \"{}\"\n",
        server.url("/missing")
    ));
    let e = effective_catalog(&cfg, &dev_outbound(), true)
        .await
        .unwrap_err();
    assert!(matches!(e, DiscoveryError::Fetch { .. }), "{e:?}");
}
