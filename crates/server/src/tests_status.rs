//! `GET /api/status`: admin only, and the document's shape.

use reqwest::StatusCode;
use serde_json::Value;
use store::Store as _;

use crate::tests::start_with;

const CONFIG: &str = r#"
[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["gh-webhook-secret-0123456789abcdef"]

[[destinations]]
id = "app"
url = "https://app.example/hooks"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
integrations = ["gh"]
event_types = ["*"]
"#;

#[tokio::test]
async fn status_is_admin_only_and_has_its_shape() {
    let h = start_with(CONFIG, None).await;
    let get = |key: &str| {
        h.http
            .get(h.url("/api/status"))
            .bearer_auth(key.to_owned())
            .send()
    };
    let res = get(&h.app).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "forbidden");
    let res = h.http.get(h.url("/api/status")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = get(&h.admin).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["attention"], false, "{v}");
    assert_eq!(v["reasons"], serde_json::json!([]));
    assert_eq!(v["ready"]["ready"], true);
    assert_eq!(v["ready"]["backend"], "sqlite");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["generated_at"].is_string());
    assert_eq!(v["thresholds"]["oldest_pending_max_secs"], 300);
    let gh = &v["integrations"][0];
    assert_eq!(gh["id"], "gh");
    assert_eq!(gh["provider"], "github");
    for section in ["connections", "webhooks", "deliveries"] {
        assert_eq!(gh[section]["attention"], false, "{section}: {gh}");
    }
    assert_eq!(gh["webhooks"]["received_1h"], 0);
    assert_eq!(gh["webhooks"]["refused_by_reason"], serde_json::json!({}));
    assert_eq!(gh["deliveries"]["oldest_pending_secs"], Value::Null);
    assert_eq!(gh["destinations"][0]["id"], "app");
    assert_eq!(gh["destinations"][0]["breaker_open"], false);
    let checks: Vec<&str> = gh["checklist"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "oauth_tested",
            "webhook_secret",
            "webhook_verified",
            "destinations",
            "mappings",
            "security_findings"
        ]
    );
    assert_eq!(gh["security_findings"], 0);
}

#[tokio::test]
async fn status_says_not_ready_when_the_database_is_gone() {
    let h = start_with(CONFIG, None).await;
    // Authenticate once so the key is cached, then lose the database.
    let ok = h
        .http
        .get(h.url("/api/status"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    h.store.close().await;
    let res = h
        .http
        .get(h.url("/api/status"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    if res.status() == StatusCode::OK {
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["ready"]["ready"], false);
        assert_eq!(v["attention"], true);
    } else {
        // The key could not be checked without the database: a JSON 503, never a 500.
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
