//! In-process tests of the privacy routes (`routes/privacy.rs`): retention purge, erasure
//! and export of an end user, over real sockets and an in-memory SQLite store. Every bad
//! input (unknown end user, bad JSON, an app key) gets a clear 4xx and changes nothing.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::{Value, json};
use store::{ConnectionStatus, ConnectionStore, EventStore, Mapped, PrivacyStore, Routing};

use crate::tests::Harness as H;

const CONFIG: &str = r#"
payload_retention_days = 7

[[integrations]]
id = "hooks"
provider = "standard-webhooks"
webhook_secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
"#;

async fn start() -> H {
    crate::tests::start_with(CONFIG, None).await
}

impl H {
    async fn post_as(&self, key: &str, path: &str, body: Option<&str>) -> reqwest::Response {
        let mut req = self.http.post(self.url(path)).bearer_auth(key);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        req.send().await.unwrap()
    }

    /// An event of `hooks` received `days_ago` days ago, routed (dropped), for
    /// `connection`.
    async fn stored_event(&self, n: u32, days_ago: i64, connection: Option<&str>) -> String {
        let e = store::Event {
            id: format!("evt_{n:032x}"),
            integration: "hooks".into(),
            received_at: store::now() - chrono::Duration::days(days_ago),
            provider_event_id: None,
            event_type: Some("t".into()),
            scheme: "standard-webhooks".into(),
            headers: vec![],
            body: br#"{"name":"Ada Lovelace"}"#.to_vec(),
            connection_id: connection.map(str::to_owned),
            routing_key: None,
        };
        let r = Routing {
            event_id: e.id.clone(),
            mapped: Mapped::Dropped,
            deliveries: vec![],
        };
        self.store.insert_routed_event(&e, &r).await.unwrap();
        e.id
    }

    async fn connection_of(&self, id: &str, user: &str) {
        let now = store::now();
        let c = store::Connection {
            id: id.into(),
            integration: "hooks".into(),
            provider: "standard-webhooks".into(),
            end_user_id: user.into(),
            auth_mode: "api_key".into(),
            status: ConnectionStatus::Active,
            scopes: vec![],
            missing_scopes: vec![],
            settings: BTreeMap::new(),
            routing_key: None,
            expires_at: None,
            created_at: now,
            updated_at: now,
            last_refresh_at: None,
            last_error: None,
            refresh_failures: 0,
            next_refresh_at: None,
            token_version: 0,
            token_obtained_at: None,
            health: None,
        };
        let sealed = store::SealedCredentials {
            key_id: "00".into(),
            ciphertext: b"sealed-bytes".to_vec(),
        };
        self.store.upsert_connection(&c, &sealed).await.unwrap();
    }
}

#[tokio::test]
async fn retention_purge_runs_in_bounded_calls_and_replay_of_a_purged_event_is_409() {
    let h = start().await;
    let old: Vec<String> = futures_join(&h, 1..=3, 10).await;
    let young = h.stored_event(9, 1, None).await;

    let dry = h
        .post_as(
            &h.admin,
            "/api/retention/purge",
            Some(r#"{"dry_run":true}"#),
        )
        .await;
    assert_eq!(dry.status(), StatusCode::OK);
    let v: Value = dry.json().await.unwrap();
    assert_eq!(v, json!({"dry_run": true, "events": 3, "more": false}));

    // A whole number written as a float is a whole number (JSON Schema's `integer`).
    let first = h
        .post_as(&h.admin, "/api/retention/purge", Some(r#"{"limit":2.0}"#))
        .await;
    let v: Value = first.json().await.unwrap();
    assert_eq!(v, json!({"dry_run": false, "events": 2, "more": true}));
    // No body: the default limit.
    let second = h.post_as(&h.admin, "/api/retention/purge", None).await;
    let v: Value = second.json().await.unwrap();
    assert_eq!(v, json!({"dry_run": false, "events": 1, "more": false}));

    // Listing and detail say when.
    let list: Value = h
        .http
        .get(h.url("/api/events?integration=hooks"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for e in list["data"].as_array().unwrap() {
        let purged = e["purged_at"].is_string();
        assert_eq!(
            purged,
            old.contains(&e["id"].as_str().unwrap().to_owned()),
            "{e}"
        );
    }
    let detail: Value = h
        .http
        .get(h.url(&format!("/api/events/{}", old[0])))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            detail["purge_reason"].as_str(),
            detail["body_bytes"].as_u64()
        ),
        (Some("retention"), Some(0))
    );

    let replay = h
        .post_as(&h.app, &format!("/api/events/{}/replay", old[0]), None)
        .await;
    assert_eq!(replay.status(), StatusCode::CONFLICT);
    let v: Value = replay.json().await.unwrap();
    assert_eq!(v["error"]["code"], "payload_purged");
    let bulk = h
        .post_as(
            &h.app,
            "/api/events/replay",
            Some(r#"{"integration":"hooks"}"#),
        )
        .await;
    let v: Value = bulk.json().await.unwrap();
    assert_eq!(
        (v["events"].as_u64(), v["skipped_purged"].as_u64()),
        (Some(1), Some(3)),
        "{v}"
    );
    assert!(h.store.event_purge_state(&young).await.unwrap().is_none());
}

async fn futures_join(h: &H, ns: std::ops::RangeInclusive<u32>, days_ago: i64) -> Vec<String> {
    let mut out = Vec::new();
    for n in ns {
        out.push(h.stored_event(n, days_ago, None).await);
    }
    out
}

#[tokio::test]
async fn bad_input_to_the_privacy_routes_is_a_clear_4xx_and_changes_nothing() {
    let h = start().await;
    let old = h.stored_event(1, 30, None).await;
    h.connection_of("c-u1", "u1").await;
    let cases: Vec<(&str, &str, Option<&str>, StatusCode, &str)> = vec![
        (
            "app",
            "/api/retention/purge",
            None,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "app",
            "/api/end-users/u1/erase",
            None,
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "admin",
            "/api/retention/purge",
            Some("{"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "admin",
            "/api/retention/purge",
            Some(r#"{"limit":0}"#),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "admin",
            "/api/retention/purge",
            Some(r#"{"limit":100001}"#),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "admin",
            "/api/retention/purge",
            Some(r#"{"limit":2.5}"#),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "admin",
            "/api/retention/purge",
            Some(r#"{"limit":-1}"#),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "admin",
            "/api/retention/purge",
            Some(r#"{"dry":true}"#),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "admin",
            "/api/retention/purge",
            Some("[]"),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "admin",
            "/api/end-users/u1/erase",
            Some(r#"{"dry_run":"yes"}"#),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "admin",
            "/api/end-users/nobody/erase",
            None,
            StatusCode::NOT_FOUND,
            "end_user_not_found",
        ),
        (
            "admin",
            "/api/end-users/nobody/erase",
            Some(r#"{"dry_run":true}"#),
            StatusCode::NOT_FOUND,
            "end_user_not_found",
        ),
    ];
    for (who, path, body, status, code) in cases {
        let key = if who == "app" { &h.app } else { &h.admin };
        let res = h.post_as(key, path, body).await;
        assert_eq!(res.status(), status, "{who} {path} {body:?}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{path} {body:?}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().len() > 10);
    }
    // The export: admin only, unknown end user is 404.
    let get = |key: String, path: &'static str| {
        let h = &h;
        async move {
            h.http
                .get(h.url(path))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        get(h.app.clone(), "/api/end-users/u1/export")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let r = get(h.admin.clone(), "/api/end-users/nobody/export").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "end_user_not_found");
    // Nothing changed.
    assert!(h.store.event_purge_state(&old).await.unwrap().is_none());
    assert!(h.store.get_connection("c-u1").await.unwrap().is_some());
}

#[tokio::test]
async fn erase_and_export_of_an_end_user() {
    let h = start().await;
    h.connection_of("c-u1", "u1").await;
    h.connection_of("c-u2", "u2").await;
    let mine = h.stored_event(1, 0, Some("c-u1")).await;
    let theirs = h.stored_event(2, 0, Some("c-u2")).await;

    let export = h
        .http
        .get(h.url("/api/end-users/u1/export"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    let v: Value = export.json().await.unwrap();
    assert_eq!(v["end_user_id"], "u1");
    assert_eq!(v["connections"][0]["id"], "c-u1");
    assert_eq!(v["events"][0]["id"], mine.as_str());
    assert_eq!(v["events"][0]["body"], r#"{"name":"Ada Lovelace"}"#);
    assert!(!v.to_string().contains("sealed-bytes"));

    let dry: Value = h
        .post_as(
            &h.admin,
            "/api/end-users/u1/erase",
            Some(r#"{"dry_run":true}"#),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["counts"]["connections"], 1);
    assert_eq!(dry["counts"]["events"], 1);
    assert!(h.store.get_connection("c-u1").await.unwrap().is_some());

    let done = h.post_as(&h.admin, "/api/end-users/u1/erase", None).await;
    assert_eq!(done.status(), StatusCode::OK);
    let v: Value = done.json().await.unwrap();
    assert_eq!(
        (
            v["already_erased"].as_bool(),
            v["counts"]["events"].as_u64()
        ),
        (Some(false), Some(1))
    );
    assert_eq!(v["connections"][0]["id"], "c-u1");
    assert!(h.store.get_connection("c-u1").await.unwrap().is_none());
    assert!(
        h.store
            .get_event(&mine)
            .await
            .unwrap()
            .unwrap()
            .body
            .is_empty()
    );
    assert!(
        !h.store
            .get_event(&theirs)
            .await
            .unwrap()
            .unwrap()
            .body
            .is_empty()
    );

    let again: Value = h
        .post_as(&h.admin, "/api/end-users/u1/erase", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["already_erased"], true);
    assert_eq!(again["subject_hash"], v["subject_hash"]);
    // An id with characters a path must escape.
    h.connection_of("c-mail", "ada@example.com").await;
    let r = h
        .post_as(&h.admin, "/api/end-users/ada%40example.com/erase", None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(h.store.get_connection("c-mail").await.unwrap().is_none());
}
