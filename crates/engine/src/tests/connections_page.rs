//! The hosted connect page: what it offers for each integration of a connect session,
//! the end user's connections, and typed credentials sent through the session.

use std::collections::BTreeMap;

use serde_json::json;
use store::ConnectionStatus;

use super::connections::{
    H, Stub, conn, default_route, harness_with, integration, invalid_field, plain_provider,
    provider, put, session,
};
use crate::EngineError;
use crate::connections::{CredentialsInput, Delivery, Via};

async fn page_harness() -> H {
    let stub = Stub::start(default_route).await;
    let b = stub.base.clone();
    let providers = vec![
        plain_provider(
            "key",
            &b,
            "api_key",
            json!({
                "api_key": {"header": "Authorization", "prefix": "Bearer "},
                "placeholders": {
                    "region": {"from": {"connection": "region"}, "kind": "segment", "description": "Your region"},
                    "team": {"from": {"connection": "team"}, "kind": "segment", "default": "main"},
                },
            }),
        ),
        plain_provider("basic", &b, "basic", json!({"basic": {}})),
        plain_provider("fixed", &b, "basic", json!({"basic": {"username": "api"}})),
        provider("oauth", &b, json!({})),
    ];
    let mut its = String::new();
    for id in ["key", "basic", "fixed", "oauth"] {
        its.push_str(&integration(id, id, ""));
    }
    harness_with(stub, providers, &its, "").await
}

fn key(k: &str) -> CredentialsInput {
    CredentialsInput {
        api_key: Some(k.into()),
        ..CredentialsInput::default()
    }
}

fn settings(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn the_page_offers_each_integrations_form_and_the_users_connections() {
    let h = page_harness().await;
    // The end user's connections: a revoked one is not shown, another user's neither.
    put(
        &h.engine,
        &conn("mine", "oauth", "oauth2", Some(3600)),
        json!({"access_token": "a", "refresh_token": "r"}),
    )
    .await;
    let mut gone = conn("gone", "oauth", "oauth2", Some(3600));
    gone.status = ConnectionStatus::Revoked;
    put(&h.engine, &gone, json!({"access_token": "a"})).await;
    let mut theirs = conn("theirs", "oauth", "oauth2", Some(3600));
    theirs.end_user_id = "u2".into();
    put(&h.engine, &theirs, json!({"access_token": "a"})).await;

    let token = session(
        &h,
        json!({
            "end_user": {"id": "u1"},
            "integrations": ["key", "basic", "fixed", "oauth"],
            "return_to": "https://app.example/done?x=1",
        }),
    )
    .await;
    let page = h.engine.connect_page(&token).await.unwrap();
    assert_eq!(page.end_user_id, "u1");
    assert_eq!(page.connection_id, None);
    assert_eq!(page.return_origin.as_deref(), Some("https://app.example"));
    assert_eq!(page.opener_origin, None);
    let by: BTreeMap<_, _> = page
        .options
        .iter()
        .map(|o| (o.integration.as_str(), o))
        .collect();
    assert_eq!(
        by.keys().copied().collect::<Vec<_>>(),
        ["basic", "fixed", "key", "oauth"]
    );
    let k = by["key"];
    assert_eq!(k.auth_mode, "api_key");
    assert_eq!(k.api_key_label.as_deref(), Some("API key"));
    // Only settings without a default are asked for, with their description.
    assert_eq!(
        k.settings,
        vec![("region".to_owned(), "Your region".to_owned())]
    );
    assert_eq!(k.username_label, None);
    assert_eq!(k.password_label, None);
    assert!(k.scopes.is_empty());
    assert_eq!(k.docs_url, "https://docs.example.com");
    let b = by["basic"];
    assert_eq!(b.username_label.as_deref(), Some("User name"));
    assert_eq!(b.password_label.as_deref(), Some("Password"));
    assert_eq!(b.api_key_label, None);
    // A fixed user name is not asked for.
    let f = by["fixed"];
    assert_eq!(f.username_label, None);
    assert_eq!(f.password_label.as_deref(), Some("Password"));
    let o = by["oauth"];
    assert_eq!(o.auth_mode, "oauth2");
    assert_eq!(
        o.scopes
            .iter()
            .map(|s| s.scope.as_str())
            .collect::<Vec<_>>(),
        ["read", "write"]
    );
    assert_eq!(
        page.existing
            .iter()
            .map(|c| (c.id.as_str(), c.integration.as_str(), c.status.as_str()))
            .collect::<Vec<_>>(),
        [("mine", "oauth", "active")]
    );

    // An unknown session is refused.
    let e = h.engine.connect_page("cs_nope").await.unwrap_err();
    assert_eq!(invalid_field(&e), "session");
}

#[tokio::test]
async fn typed_credentials_through_the_session_connect_its_end_user() {
    let h = page_harness().await;
    let token = session(
        &h,
        json!({
            "end_user": {"id": "u1"},
            "integrations": ["key", "basic", "oauth"],
            "return_to": "https://app.example/done?x=1",
        }),
    )
    .await;
    let (view, outcome) = h
        .engine
        .connect_with_session(&token, "key", key("key-ok"), settings(&[("region", "eu")]))
        .await
        .unwrap();
    assert_eq!(view.integration, "key");
    assert_eq!(view.end_user_id, "u1");
    assert_eq!(view.status, ConnectionStatus::Active);
    assert_eq!(outcome.connection_id.as_deref(), Some(view.id.as_str()));
    assert_eq!(outcome.error, None);
    match &outcome.delivery {
        Delivery::Redirect(u) => {
            assert!(u.starts_with("https://app.example/done?x=1&"), "{u}");
            assert!(u.contains(&view.id), "{u}");
        }
        other => panic!("expected a redirect, got {other:?}"),
    }
    // Shown on the page now.
    let page = h.engine.connect_page(&token).await.unwrap();
    assert!(page.existing.iter().any(|c| c.id == view.id));

    // A wrong key is refused by the provider; nothing is stored.
    let before = h.engine.connect_page(&token).await.unwrap().existing.len();
    h.engine
        .connect_with_session(
            &token,
            "key",
            key("key-wrong"),
            settings(&[("region", "eu")]),
        )
        .await
        .unwrap_err();
    assert_eq!(
        h.engine.connect_page(&token).await.unwrap().existing.len(),
        before
    );

    // An OAuth2 integration takes no typed credentials.
    let e = h
        .engine
        .connect_with_session(&token, "oauth", key("key-ok"), BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "integration");
    // An integration not in the session is refused.
    let e = h
        .engine
        .connect_with_session(&token, "fixed", key("key-ok"), BTreeMap::new())
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Forbidden(_)), "{e:?}");
}

#[tokio::test]
async fn a_connection_id_given_with_typed_credentials_is_checked() {
    let h = page_harness().await;
    let mut theirs = conn("taken", "key", "api_key", None);
    theirs.end_user_id = "u2".into();
    put(&h.engine, &theirs, json!({"api_key": "key-ok"})).await;
    let token = session(
        &h,
        json!({"end_user": {"id": "u1"}, "integrations": ["key"], "opener_origin": "https://app.example"}),
    )
    .await;
    let via = |id: Option<&'static str>| {
        let e = h.engine.clone();
        let t = token.clone();
        async move {
            e.connect_with_session_via(
                &t,
                "key",
                id,
                key("key-ok"),
                settings(&[("region", "eu")]),
                Via::Popup,
            )
            .await
        }
    };
    let e = via(Some("has space")).await.unwrap_err();
    assert_eq!(invalid_field(&e), "connection_id");
    let e = via(Some("taken")).await.unwrap_err();
    assert!(matches!(e, EngineError::Conflict(_)), "{e:?}");
    let (view, outcome) = via(Some("chosen-1")).await.unwrap();
    assert_eq!(view.id, "chosen-1");
    assert_eq!(
        outcome.delivery,
        Delivery::PostMessage {
            origin: "https://app.example".into()
        }
    );

    // A session for a fixed connection id refuses another.
    let token = session(
        &h,
        json!({"end_user": {"id": "u1"}, "integrations": ["key"], "connection_id": "fixed-1"}),
    )
    .await;
    let e = h
        .engine
        .connect_with_session_via(
            &token,
            "key",
            Some("other-1"),
            key("key-ok"),
            settings(&[("region", "eu")]),
            Via::Any,
        )
        .await
        .unwrap_err();
    assert_eq!(invalid_field(&e), "connection_id");
    let (view, outcome) = h
        .engine
        .connect_with_session(&token, "key", key("key-ok"), settings(&[("region", "eu")]))
        .await
        .unwrap();
    assert_eq!(view.id, "fixed-1");
    assert_eq!(outcome.delivery, Delivery::Page);
}

#[tokio::test]
async fn a_session_with_both_ways_back_uses_the_one_the_page_runs_in() {
    assert_eq!(Via::parse("popup"), Some(Via::Popup));
    assert_eq!(Via::parse("redirect"), Some(Via::Redirect));
    assert_eq!(Via::parse("Popup"), None);
    assert_eq!(Via::parse(""), None);

    let h = page_harness().await;
    let both = json!({
        "end_user": {"id": "u1"},
        "integrations": ["key"],
        "return_to": "https://app.example/done",
        "opener_origin": "https://app.example",
    });
    for (via, popup) in [(Via::Popup, true), (Via::Redirect, false)] {
        let token = session(&h, both.clone()).await;
        let (_, outcome) = h
            .engine
            .connect_with_session_via(
                &token,
                "key",
                None,
                key("key-ok"),
                settings(&[("region", "eu")]),
                via,
            )
            .await
            .unwrap();
        assert_eq!(
            matches!(outcome.delivery, Delivery::PostMessage { .. }),
            popup,
            "{:?}",
            outcome.delivery
        );
        assert_eq!(
            matches!(outcome.delivery, Delivery::Redirect(_)),
            !popup,
            "{:?}",
            outcome.delivery
        );
    }
}
