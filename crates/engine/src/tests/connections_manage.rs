//! Managing connections: direct connects (API key, basic, client credentials), listings,
//! status, disconnect, revoke-all and `oauth test`.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use store::{ConnectionFilter, ConnectionStatus, ConnectionStore};

use super::all_audit;
use super::connections::{
    H, Resp, Stub, basic_plain, conn, connected, default_route, harness, harness_with, integration,
    plain_provider, provider, put, stored_creds,
};
use crate::connections::{CredentialsInput, DirectConnectRequest};
use crate::{Actor, EngineError};

fn direct(v: Value) -> DirectConnectRequest {
    serde_json::from_value(v).unwrap()
}

fn cli() -> Actor {
    Actor::Cli { user: "ops".into() }
}

/// Integrations `key` (API key in a header), `qkey` (in the query), `basic`, `fixed`
/// (basic with a fixed user name), `cc` (client credentials), `oauth` and `hooks`.
async fn manage_harness() -> H {
    let stub = Stub::start(default_route).await;
    let b = stub.base.clone();
    let providers = vec![
        plain_provider(
            "key",
            &b,
            "api_key",
            json!({
                "api_key": {"header": "Authorization", "prefix": "Bearer "},
                "api_headers": {"X-Version": "2"},
                "placeholders": {"region": {"from": {"connection": "region"}, "kind": "segment"}},
                "webhooks": {"routing": {"event": {"pointer": "/acct"}, "connection": {"connection": "region"}}},
            }),
        ),
        plain_provider("qkey", &b, "api_key", json!({"api_key": {"query": "key"}})),
        plain_provider(
            "basic",
            &b,
            "basic",
            json!({
                "api_headers": {"X-Version": "3"},
                "webhooks": {"routing": {"event": {"pointer": "/u"}, "connection": {"connection": "username"}}},
            }),
        ),
        plain_provider("fixed", &b, "basic", json!({"basic": {"username": "api"}})),
        plain_provider(
            "noverify",
            &b,
            "api_key",
            json!({"verify": null, "webhooks": {"routing": {"event": {"pointer": "/x"}, "connection": {"token_response": "/x"}}}}),
        ),
        plain_provider(
            "tmpl",
            &b,
            "api_key",
            json!({
                "api_base_url": "https://{sub}.api.example",
                "placeholders": {"sub": {"from": {"connection": "sub"}, "kind": "label"}},
            }),
        ),
        plain_provider("ccnone", &b, "client_credentials", json!({"verify": null})),
        provider(
            "cc",
            &b,
            json!({
                "auth_mode": "client_credentials",
                "oauth2": {"authorization_url": null, "revocation": null},
                "webhooks": {"routing": {"event": {"pointer": "/t"}, "connection": {"integration": "tenant"}}},
            }),
        ),
        provider("oauth", &b, json!({})),
        plain_provider("hooks", &b, "webhook_only", json!({"verify": null})),
    ];
    let mut its = String::new();
    for id in [
        "key", "qkey", "basic", "fixed", "noverify", "tmpl", "ccnone", "oauth", "hooks",
    ] {
        its.push_str(&integration(id, id, ""));
    }
    its.push_str(&integration(
        "cc",
        "cc",
        "settings = { tenant = \"ten-1\" }\nscopes = [\"s1\"]",
    ));
    harness_with(stub, providers, &its, "").await
}

#[tokio::test]
async fn api_key_connections_are_verified_first() {
    let h = manage_harness().await;
    let v = h
        .engine
        .connect_direct(
            direct(json!({
                "integration": "key", "end_user_id": "u9", "connection_id": "k1",
                "credentials": {"api_key": "key-ok"}, "settings": {"region": "eu"},
            })),
            &cli(),
        )
        .await
        .unwrap();
    assert_eq!(v.id, "k1");
    assert_eq!(v.auth_mode, "api_key");
    assert_eq!(v.end_user_id, "u9");
    assert_eq!(v.status, ConnectionStatus::Active);
    assert_eq!(v.settings["region"], "eu");
    let r = &h.stub.reqs("/api/me")[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.header("authorization"), Some("Bearer key-ok"));
    assert_eq!(r.header("x-version"), Some("2"));
    assert_eq!(stored_creds(&h, "k1").await, json!({"api_key": "key-ok"}));
    assert_eq!(
        h.store
            .connection_by_routing_key("key", "eu")
            .await
            .unwrap()
            .as_deref(),
        Some("k1")
    );
    let t = h.engine.connection_token("k1").await.unwrap();
    assert_eq!(t.api_key.as_deref(), Some("key-ok"));
    let audit = all_audit(&h.store).await;
    let row = audit.last().unwrap();
    assert_eq!(row.entry.action, "connection.connect");
    assert_eq!(row.entry.actor, "cli:ops");
    assert_eq!(row.entry.details["auth_mode"], "api_key");
    assert!(!format!("{audit:?}").contains("key-ok"));

    // Refused: nothing stored.
    let e = h
        .engine
        .connect_direct(
            direct(json!({"integration": "key", "connection_id": "k2", "credentials": {"api_key": "wrong"}})),
            &cli(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::CredentialsRejected(_)), "{e:?}");
    assert!(h.store.get_connection("k2").await.unwrap().is_none());

    // The provider is down, or answers oddly.
    for (status, unavailable) in [(503u16, true), (429, true), (404, false)] {
        h.stub.set(move |r| match r.path.as_str() {
            "/api/me" => Resp::json(status, json!({})),
            _ => default_route(r),
        });
        let e = h
            .engine
            .connect_direct(
                direct(json!({"integration": "key", "connection_id": "k3", "credentials": {"api_key": "key-ok"}})),
                &cli(),
            )
            .await
            .unwrap_err();
        if unavailable {
            assert!(
                matches!(e, EngineError::ProviderUnavailable(_)),
                "{status}: {e:?}"
            );
        } else {
            assert!(matches!(e, EngineError::Provider(_)), "{status}: {e:?}");
        }
        assert!(h.store.get_connection("k3").await.unwrap().is_none());
    }
    h.stub.set(default_route);

    // The key in the query.
    h.engine
        .connect_direct(
            direct(json!({"integration": "qkey", "credentials": {"api_key": "q-1"}})),
            &cli(),
        )
        .await
        .unwrap_err();
    let r = h.stub.reqs("/api/me").pop().unwrap();
    assert_eq!(r.query_map()["key"], "q-1");
    assert_eq!(r.header("authorization"), None);

    // No verify request: accepted as is. Default end user: app.
    let v = h
        .engine
        .connect_direct(
            direct(json!({"integration": "noverify", "credentials": {"api_key": "anything"}})),
            &cli(),
        )
        .await
        .unwrap();
    assert_eq!(v.end_user_id, "app");
    assert!(v.id.starts_with("conn_"));
    let row = h.store.get_connection(&v.id).await.unwrap().unwrap();
    assert_eq!(row.routing_key, None, "no token response to route by");

    // A base URL that needs a setting which was not given.
    let e = h
        .engine
        .connect_direct(
            direct(json!({"integration": "tmpl", "credentials": {"api_key": "x"}})),
            &cli(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            EngineError::Invalid {
                field: "settings",
                ..
            }
        ),
        "{e:?}"
    );

    // Bad input.
    for (req, field) in [
        (json!({"integration": "key"}), "credentials.api_key"),
        (
            json!({"integration": "key", "credentials": {"api_key": "  "}}),
            "credentials.api_key",
        ),
        (
            json!({"integration": "key", "credentials": {"api_key": "k".repeat(4097)}}),
            "credentials.api_key",
        ),
        (
            json!({"integration": "key", "end_user_id": "", "credentials": {"api_key": "x"}}),
            "end_user_id",
        ),
        (
            json!({"integration": "key", "connection_id": "bad id", "credentials": {"api_key": "x"}}),
            "connection_id",
        ),
        (
            json!({"integration": "key", "settings": {"nope": "x"}, "credentials": {"api_key": "x"}}),
            "settings",
        ),
    ] {
        let e = h
            .engine
            .connect_direct(direct(req.clone()), &cli())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, EngineError::Invalid { field: f, .. } if *f == field),
            "{req}: {e:?}"
        );
    }
    let e = h
        .engine
        .connect_direct(direct(json!({"integration": "nope"})), &cli())
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }));

    // An id of another end user.
    let e = h
        .engine
        .connect_direct(
            direct(json!({"integration": "key", "connection_id": "k1", "end_user_id": "someone", "credentials": {"api_key": "key-ok"}})),
            &cli(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Conflict(_)), "{e:?}");
    assert_eq!(
        format!(
            "{:?}",
            CredentialsInput {
                api_key: Some("key-ok".into()),
                ..Default::default()
            }
        ),
        "CredentialsInput([redacted])"
    );
}

#[tokio::test]
async fn basic_connections_with_given_or_fixed_user_names() {
    let h = manage_harness().await;
    let v = h
        .engine
        .connect_direct(
            direct(json!({"integration": "basic", "connection_id": "b1", "credentials": {"username": "user", "password": "pw"}})),
            &cli(),
        )
        .await
        .unwrap();
    assert_eq!(v.auth_mode, "basic");
    assert_eq!(
        h.stub.reqs("/api/me")[0].header("authorization"),
        Some(basic_plain("user", "pw").as_str())
    );
    assert_eq!(h.stub.reqs("/api/me")[0].header("x-version"), Some("3"));
    assert_eq!(
        h.store
            .connection_by_routing_key("basic", "user")
            .await
            .unwrap()
            .as_deref(),
        Some("b1")
    );
    let t = h.engine.connection_token("b1").await.unwrap();
    assert_eq!(t.username.as_deref(), Some("user"));
    assert_eq!(t.password.as_deref(), Some("pw"));

    // The catalog's fixed user name wins over a given one.
    h.engine
        .connect_direct(
            direct(json!({"integration": "fixed", "connection_id": "f1", "credentials": {"username": "ignored", "password": "pw"}})),
            &cli(),
        )
        .await
        .unwrap();
    assert_eq!(stored_creds(&h, "f1").await["username"], "api");

    let e = h
        .engine
        .connect_direct(
            direct(json!({"integration": "basic", "credentials": {"username": "user", "password": "bad"}})),
            &cli(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::CredentialsRejected(_)), "{e:?}");
    for creds in [
        json!({"username": "user"}),
        json!({"password": "pw"}),
        json!({"username": "", "password": "pw"}),
    ] {
        let e = h
            .engine
            .connect_direct(
                direct(json!({"integration": "basic", "credentials": creds})),
                &cli(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::Invalid {
                    field: "credentials",
                    ..
                }
            ),
            "{e:?}"
        );
    }
    // Unreachable API: unavailable.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let stub = Stub::start(default_route).await;
    let p = plain_provider("basic", &format!("http://{dead}"), "basic", json!({}));
    let h = harness_with(stub, vec![p], &integration("basic", "basic", ""), "").await;
    let e = h
        .engine
        .connect_direct(
            direct(json!({"integration": "basic", "credentials": {"username": "user", "password": "pw"}})),
            &cli(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::ProviderUnavailable(_)), "{e:?}");
}

#[tokio::test]
async fn client_credentials_and_refused_modes() {
    let h = manage_harness().await;
    let v = h
        .engine
        .connect_direct(
            direct(json!({"integration": "cc", "connection_id": "cc1"})),
            &cli(),
        )
        .await
        .unwrap();
    assert_eq!(v.auth_mode, "client_credentials");
    assert_eq!(v.scopes, vec!["s1"]);
    assert!(v.expires_at.is_some());
    let r = &h.stub.reqs("/token")[0];
    assert_eq!(r.form()["grant_type"], "client_credentials");
    assert_eq!(r.form()["scope"], "s1");
    assert!(
        stored_creds(&h, "cc1").await["access_token"]
            .as_str()
            .unwrap()
            .starts_with("cc-")
    );
    let row = h.store.get_connection("cc1").await.unwrap().unwrap();
    assert!(row.next_refresh_at.is_some());
    assert_eq!(row.routing_key.as_deref(), Some("ten-1"));

    let e = h
        .engine
        .connect_direct(
            direct(json!({"integration": "cc", "credentials": {"api_key": "x"}})),
            &cli(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            EngineError::Invalid {
                field: "credentials",
                ..
            }
        ),
        "{e:?}"
    );

    for (status, body, check) in [
        (401u16, json!({"error": "invalid_client"}), "misconfigured"),
        (503, json!({}), "unavailable"),
        (400, json!({"error": "invalid_scope"}), "provider"),
    ] {
        h.stub.set(move |r| match r.path.as_str() {
            "/token" => Resp::json(status, body.clone()),
            _ => default_route(r),
        });
        let e = h
            .engine
            .connect_direct(direct(json!({"integration": "cc"})), &cli())
            .await
            .unwrap_err();
        let ok = match check {
            "misconfigured" => matches!(e, EngineError::Misconfigured(_)),
            "unavailable" => matches!(e, EngineError::ProviderUnavailable(_)),
            _ => matches!(e, EngineError::Provider(_)),
        };
        assert!(ok, "{status}: {e:?}");
    }

    // A client-credentials provider without OAuth2 settings: a configuration problem.
    let e = h
        .engine
        .connect_direct(direct(json!({"integration": "ccnone"})), &cli())
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::Misconfigured(_)), "{e:?}");
    // Nor can it revoke.
    let mut c = conn("ccn", "ccnone", "client_credentials", Some(3600));
    c.provider = "ccnone".into();
    put(&h.engine, &c, json!({"access_token": "a"})).await;
    let d = h.engine.disconnect("ccnone", "ccn", &cli()).await.unwrap();
    assert!(d.provider_error.unwrap().contains("no revocation endpoint"));

    for it in ["oauth", "hooks"] {
        let e = h
            .engine
            .connect_direct(direct(json!({"integration": it})), &cli())
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                EngineError::Invalid {
                    field: "integration",
                    ..
                }
            ),
            "{it}: {e:?}"
        );
    }
}

#[tokio::test]
async fn listing_status_and_gauges() {
    let h = manage_harness().await;
    for i in 0..5 {
        put(
            &h.engine,
            &conn(&format!("c{i}"), "oauth", "oauth2", Some(3600)),
            json!({"access_token": "a"}),
        )
        .await;
    }
    put(
        &h.engine,
        &conn("k0", "key", "api_key", None),
        json!({"api_key": "a"}),
    )
    .await;
    h.store
        .set_connection_status("c4", ConnectionStatus::NeedsReauth, Some("x"), store::now())
        .await
        .unwrap();
    let filter = ConnectionFilter {
        integration: Some("oauth".into()),
        ..ConnectionFilter::default()
    };
    let p1 = h.engine.list_connections(&filter, None, 2).await.unwrap();
    assert_eq!(
        p1.data.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c0", "c1"]
    );
    assert_eq!(p1.next_cursor.as_deref(), Some("c1"));
    let p2 = h
        .engine
        .list_connections(&filter, p1.next_cursor.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!(
        p2.data.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c2", "c3"]
    );
    let p3 = h
        .engine
        .list_connections(&filter, p2.next_cursor.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!(p3.data.len(), 1);
    assert_eq!(p3.next_cursor, None);
    let all = h
        .engine
        .list_connections(&ConnectionFilter::default(), None, 0)
        .await
        .unwrap();
    assert_eq!(all.data.len(), 1, "a limit of 0 is taken as 1");
    let e = h
        .engine
        .list_connections(&filter, Some("../x"), 2)
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        EngineError::Invalid {
            field: "cursor",
            ..
        }
    ));
    assert!(!serde_json::to_string(&p1).unwrap().contains("access_token"));

    let s = h.engine.integration_status("oauth", None).await.unwrap();
    assert_eq!(s.provider, "oauth");
    assert_eq!(s.auth_mode, "oauth2");
    assert!(s.configured);
    assert!(!s.disabled && !s.webhooks_blocked);
    assert_eq!(s.connections["active"], 4);
    assert_eq!(s.connections["needs_reauth"], 1);
    assert_eq!(s.connections["revoked"], 0);
    assert!(s.connection.is_none());
    let s = h
        .engine
        .integration_status("oauth", Some("c4"))
        .await
        .unwrap();
    assert_eq!(s.connection.unwrap().last_error.as_deref(), Some("x"));
    let e = h
        .engine
        .integration_status("oauth", Some("k0"))
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        EngineError::NotFound {
            what: "connection",
            ..
        }
    ));
    let e = h
        .engine
        .integration_status("oauth", Some("missing"))
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }));
    let s = h.engine.integration_status("key", None).await.unwrap();
    assert_eq!(s.connections["active"], 1);
    let e = h.engine.integration_status("nope", None).await.unwrap_err();
    assert!(matches!(
        e,
        EngineError::NotFound {
            what: "integration",
            ..
        }
    ));
    let e = h.engine.get_connection("missing").await.unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }));

    h.engine.refresh_connection_gauges().await;
}

#[tokio::test]
async fn disconnect_in_every_case() {
    let h = manage_harness().await;
    // OAuth, revoked at the provider.
    put(
        &h.engine,
        &conn("o1", "oauth", "oauth2", Some(3600)),
        json!({"access_token": "a", "refresh_token": "r"}),
    )
    .await;
    let d = h.engine.disconnect("oauth", "o1", &cli()).await.unwrap();
    assert!(d.deleted && d.revoked_at_provider);
    assert_eq!(d.provider_error, None);
    assert_eq!(h.stub.reqs("/revoke")[0].form()["token"], "r");
    let audit = all_audit(&h.store).await;
    let row = audit.last().unwrap();
    assert_eq!(row.entry.action, "connection.revoke");
    assert_eq!(row.entry.target, "o1");
    assert_eq!(row.entry.details["revoked_at_provider"], true);
    // Again: no credentials any more.
    let d = h.engine.disconnect("oauth", "o1", &cli()).await.unwrap();
    assert!(!d.revoked_at_provider);
    assert!(d.provider_error.unwrap().contains("no credentials"));

    // The provider fails: deleted all the same.
    h.stub.set(|r| match r.path.as_str() {
        "/revoke" => Resp::json(500, json!({})),
        _ => default_route(r),
    });
    put(
        &h.engine,
        &conn("o2", "oauth", "oauth2", Some(3600)),
        json!({"access_token": "a"}),
    )
    .await;
    let d = h.engine.disconnect("oauth", "o2", &cli()).await.unwrap();
    assert!(d.deleted && !d.revoked_at_provider);
    assert!(d.provider_error.unwrap().contains("HTTP 500"));
    assert!(
        h.store
            .get_connection_credentials("o2")
            .await
            .unwrap()
            .is_none()
    );

    // A provider without revocation, and an API key.
    put(
        &h.engine,
        &conn("cc1", "cc", "client_credentials", Some(3600)),
        json!({"access_token": "a"}),
    )
    .await;
    let d = h.engine.disconnect("cc", "cc1", &cli()).await.unwrap();
    assert!(d.deleted && !d.revoked_at_provider);
    assert!(d.provider_error.unwrap().contains("no revocation endpoint"));
    put(
        &h.engine,
        &conn("k1", "key", "api_key", None),
        json!({"api_key": "a"}),
    )
    .await;
    let d = h.engine.disconnect("key", "k1", &cli()).await.unwrap();
    assert!(
        d.provider_error
            .unwrap()
            .contains("cannot be revoked through an API")
    );
    assert_eq!(
        h.engine.get_connection("k1").await.unwrap().status,
        ConnectionStatus::Revoked
    );

    // Unknown, or of another integration.
    let e = h
        .engine
        .disconnect("oauth", "k1", &cli())
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }));
    let e = h
        .engine
        .disconnect("oauth", "none", &cli())
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }));
}

#[tokio::test]
async fn disconnect_without_a_client_id_or_a_provider() {
    let stub = Stub::start(default_route).await;
    let p = provider("p", &stub.base, json!({}));
    let k = plain_provider("k", &stub.base, "api_key", json!({}));
    let its = "\n[[integrations]]\nid = \"it\"\nprovider = \"p\"\n\n[[integrations]]\nid = \"gone\"\nprovider = \"missing\"\n\n[[integrations]]\nid = \"k\"\nprovider = \"k\"\n";
    let h = harness_with(stub, vec![p, k], its, "").await;
    assert!(
        !h.engine
            .integration_status("it", None)
            .await
            .unwrap()
            .configured
    );
    assert!(
        h.engine
            .integration_status("k", None)
            .await
            .unwrap()
            .configured
    );
    put(
        &h.engine,
        &conn("o1", "it", "oauth2", Some(3600)),
        json!({"access_token": "a"}),
    )
    .await;
    let d = h.engine.disconnect("it", "o1", &cli()).await.unwrap();
    assert!(d.provider_error.unwrap().contains("no client_id"));
    let mut c = conn("g1", "gone", "oauth2", Some(3600));
    c.provider = "missing".into();
    put(&h.engine, &c, json!({"access_token": "a"})).await;
    let d = h.engine.disconnect("gone", "g1", &cli()).await.unwrap();
    assert!(d.deleted);
    assert!(d.provider_error.unwrap().contains("not in the catalog"));
    let e = h.engine.integration_status("gone", None).await.unwrap_err();
    assert!(matches!(e, EngineError::Misconfigured(_)));
    // A refresh of a connection whose provider is gone.
    put(
        &h.engine,
        &c,
        json!({"access_token": "a", "refresh_token": "r"}),
    )
    .await;
    let e = h.engine.force_refresh("g1").await.unwrap_err();
    assert!(matches!(e, EngineError::Misconfigured(_)), "{e:?}");
    // And of one whose integration has no client id.
    put(
        &h.engine,
        &conn("o2", "it", "oauth2", Some(3600)),
        json!({"access_token": "a", "refresh_token": "r"}),
    )
    .await;
    let e = h.engine.force_refresh("o2").await.unwrap_err();
    assert!(matches!(e, EngineError::Provider(_)), "{e:?}");
}

#[tokio::test]
async fn revoke_all_reports_progress() {
    let h = manage_harness().await;
    for i in 0..4 {
        put(
            &h.engine,
            &conn(&format!("o{i}"), "oauth", "oauth2", Some(3600)),
            json!({"access_token": "a", "refresh_token": "r"}),
        )
        .await;
    }
    put(
        &h.engine,
        &conn("other", "key", "api_key", None),
        json!({"api_key": "a"}),
    )
    .await;
    h.store.revoke_connection("o3", store::now()).await.unwrap();
    h.stub.set(|r| match r.path.as_str() {
        "/revoke"
            if r.form()["token"] == "r"
                && COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 =>
        {
            Resp::json(500, json!({}))
        }
        _ => default_route(r),
    });
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let p = h
        .engine
        .revoke_all("oauth", &cli(), move |p| s.lock().unwrap().push(p))
        .await
        .unwrap();
    assert_eq!(p.total, 3);
    assert_eq!(p.done, 3);
    assert_eq!(p.revoked_at_provider, 2);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].done, 0);
    assert_eq!(
        seen.iter().map(|p| p.done).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(*seen.last().unwrap(), p);
    assert_eq!(
        h.engine.get_connection("other").await.unwrap().status,
        ConnectionStatus::Active
    );
    let e = h
        .engine
        .revoke_all("nope", &cli(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(e, EngineError::NotFound { .. }));
}

#[tokio::test]
async fn oauth_test_probes_the_token_endpoint() {
    let h = harness(json!({}), "", "").await;
    let run = |status: u16, body: Value| {
        h.stub.set(move |r| match r.path.as_str() {
            "/token" => Resp::json(status, body.clone()),
            _ => default_route(r),
        });
        h.engine.oauth_test("it")
    };
    let c = run(400, json!({"error": "invalid_grant"})).await.unwrap();
    assert!(c.ok(), "{c:?}");
    assert_eq!(c.integration, "it");
    assert_eq!(c.checks.len(), 3);
    let r = h.stub.reqs("/token").pop().unwrap();
    let f = r.form();
    assert_eq!(f["code"], "switchboard-oauth-test-bogus-code");
    assert!(f.contains_key("code_verifier"));
    let c = run(401, json!({"error": "invalid_client"})).await.unwrap();
    assert!(!c.ok());
    assert!(c.checks[2].2.contains("refused the client"));
    let c = run(200, json!({"access_token": "a"})).await.unwrap();
    assert!(!c.ok());
    assert!(c.checks[2].2.contains("accepted a bogus code"));
    let c = run(400, json!({"error": "invalid_request"})).await.unwrap();
    assert!(c.ok());
    let c = run(400, json!({"error": "invalid_scope"})).await.unwrap();
    assert!(!c.ok());
    let c = run(503, json!({})).await.unwrap();
    assert!(!c.ok());

    // No secret; an authorization URL that needs a connection setting.
    let stub = Stub::start(default_route).await;
    let p = provider(
        "p",
        &stub.base,
        json!({
            "placeholders": {"shop": {"from": {"connection": "shop"}, "kind": "label"}},
            "oauth2": {"authorization_url": "https://{shop}.shops.example/authorize", "pkce": false},
        }),
    );
    let k = plain_provider("k", &stub.base, "api_key", json!({}));
    let its = format!(
        "\n[[integrations]]\nid = \"it\"\nprovider = \"p\"\nclient_id = \"pub\"\n{}",
        integration("k", "k", "")
    );
    let h = harness_with(stub, vec![p, k], &its, "").await;
    let c = h.engine.oauth_test("it").await.unwrap();
    assert!(!c.checks[0].1, "no client secret");
    assert!(
        c.checks[1].1,
        "a missing connection setting is fine: {:?}",
        c.checks[1]
    );
    assert!(
        !h.stub.reqs("/token")[0]
            .form()
            .contains_key("code_verifier")
    );
    let e = h.engine.oauth_test("k").await.unwrap_err();
    assert!(matches!(e, EngineError::Misconfigured(_)), "{e:?}");
    let _ = connected;
}

#[tokio::test]
async fn the_last_oauth_test_is_kept_for_the_launch_checklist() {
    let h = harness(json!({}), "", "").await;
    let item = |s: &crate::status::Status| {
        s.integrations[0]
            .checklist
            .iter()
            .find(|c| c.check == "oauth_tested")
            .unwrap()
            .clone()
    };
    let s = h.engine.status().await.unwrap();
    assert_eq!(item(&s).state, "missing");
    assert!(item(&s).detail.contains("never tested"));

    h.stub.set(|r| match r.path.as_str() {
        "/token" => Resp::json(401, json!({"error": "invalid_client"})),
        _ => default_route(r),
    });
    assert!(!h.engine.oauth_test("it").await.unwrap().ok());
    let s = h.engine.status().await.unwrap();
    assert_eq!(item(&s).state, "missing");
    assert!(
        item(&s).detail.contains("failed at")
            && item(&s).detail.contains("token endpoint and client"),
        "{}",
        item(&s).detail
    );

    h.stub.set(|r| match r.path.as_str() {
        "/token" => Resp::json(400, json!({"error": "invalid_grant"})),
        _ => default_route(r),
    });
    assert!(h.engine.oauth_test("it").await.unwrap().ok());
    let s = h.engine.status().await.unwrap();
    assert_eq!(item(&s).state, "ok");
    assert!(item(&s).detail.contains("passed at"));
}
