//! In-process tests of the event and destination routes (`routes/events.rs`,
//! `routes/destinations.rs`): real sockets, real SQLite (in memory), reqwest. Events are
//! received through the live intake route (GitHub's published signature example) and
//! routed with [`engine::Engine::route_pending`]; delivery outcomes are written through the store.
//!
//! Every bad input gets a clear 4xx with the JSON error shape and changes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use store::{DeliveryStore, Failure};

const CONFIG: &str = r#"
max_body_bytes = 4096

[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["It's a Secret to Everybody"]

[[integrations]]
id = "other"
provider = "github"
webhook_secrets = ["It's a Secret to Everybody"]

[[mappings]]
integration = "gh"
event_type = "ping"
jq = 'error("boom")'

[[destinations]]
id = "app"
url = "https://app.example/hooks?token=tok-SECRET&x=1"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
integrations = ["gh"]
event_types = ["*"]

[[destinations]]
id = "audit-sink"
url = "https://sink.example/in"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
event_types = ["github.push"]
"#;

/// GitHub's published example: this signature over `Hello, World!`.
const SIG: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

use crate::tests::Harness as H;

async fn start() -> H {
    crate::tests::start_with(CONFIG, None).await
}

impl H {
    /// Receives one GitHub event; returns its id.
    async fn receive(&self, integration: &str, delivery: &str, event_type: &str) -> String {
        let res = self
            .http
            .post(self.url(&format!("/webhooks/{integration}/event")))
            .header("X-GitHub-Delivery", delivery)
            .header("X-GitHub-Event", event_type)
            .header("X-Hub-Signature-256", SIG)
            .header("X-Custom-Token", "hdr-SECRET")
            .body("Hello, World!")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        v["id"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(&self.app)
            .send()
            .await
            .unwrap()
    }

    async fn get_json(&self, path: &str) -> Value {
        let res = self.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        res.json().await.unwrap()
    }

    async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.app)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.app)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn audit_rows(&self) -> Vec<(String, String)> {
        self.engine
            .list_audit(None, 500)
            .await
            .unwrap()
            .data
            .into_iter()
            .map(|r| (r.entry.action, r.entry.target))
            .collect()
    }

    /// Every delivery's (id, status, attempts).
    async fn deliveries(&self) -> Vec<(String, &'static str, u32)> {
        let mut v: Vec<_> = self
            .store
            .list_deliveries(&Default::default(), 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.id, d.status.as_str(), d.attempts))
            .collect();
        v.sort();
        v
    }

    /// Claims every due delivery of `event` and records `delivered` or `dead`.
    async fn finish(&self, event: &str, delivered: bool) {
        let now = store::now();
        let claimed = self
            .store
            .claim_deliveries("test", 100, now, now + chrono::Duration::seconds(60), &[])
            .await
            .unwrap();
        for c in claimed {
            if c.event_id != event {
                assert!(
                    self.store
                        .release_delivery(&c.id, c.fence, now)
                        .await
                        .unwrap()
                );
                continue;
            }
            if delivered {
                assert!(
                    self.store
                        .complete_delivery(&c.id, c.fence, 204, now)
                        .await
                        .unwrap()
                );
            } else {
                let f = Failure {
                    retry_at: None,
                    status: Some(500),
                    error: "HTTP 500".into(),
                };
                assert!(self.store.fail_delivery(&c.id, c.fence, &f).await.unwrap());
            }
        }
    }
}

/// Asserts the JSON error shape and returns (code, message).
async fn error(res: reqwest::Response, status: StatusCode) -> (String, String) {
    assert_eq!(res.status(), status);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v.as_object().unwrap().len(), 1, "only `error`: {v}");
    let code = v["error"]["code"].as_str().unwrap().to_owned();
    let message = v["error"]["message"].as_str().unwrap().to_owned();
    assert!(!message.is_empty());
    (code, message)
}

/// Three events: `a` delivered, `b` dead, `c` pending; `f` failed its mapping; `o` went
/// to the other integration (its push reaches `audit-sink` only).
struct Fixture {
    a: String,
    b: String,
    c: String,
    f: String,
    o: String,
}

async fn fixture(h: &H) -> Fixture {
    let a = h.receive("gh", "d-a", "push").await;
    let b = h.receive("gh", "d-b", "push").await;
    let c = h.receive("gh", "d-c", "push").await;
    let f = h.receive("gh", "d-f", "ping").await;
    let o = h.receive("other", "d-o", "issues").await;
    while h.engine.route_pending().await.unwrap() > 0 {}
    h.finish(&a, true).await;
    h.finish(&b, false).await;
    Fixture { a, b, c, f, o }
}

#[tokio::test]
async fn listing_shows_mapping_and_deliveries_and_filters() {
    let h = start().await;
    // Replayed, so unrouted (waiting to be mapped again): mapping null.
    let a = h.receive("gh", "d-0", "push").await;
    let res = h
        .post_json(&format!("/api/events/{a}/replay"), json!({}))
        .await;
    assert_eq!(res.status(), 200);
    let v = h.get_json("/api/events").await;
    assert_eq!(v["data"][0]["id"], a.as_str());
    assert_eq!(v["data"][0]["mapping"], Value::Null);
    assert_eq!(v["data"][0]["deliveries"]["dead"], 0);
    assert_eq!(v["data"][0]["deliveries"]["delivered"], 0);
    assert_eq!(v["next_cursor"], Value::Null);
    let v = h.get_json("/api/events?status=unrouted").await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);

    let fx = fixture(&h).await;
    let v = h.get_json("/api/events?integration=gh").await;
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 5);
    let item = |id: &str| data.iter().find(|e| e["id"] == id).unwrap().clone();
    // The existing fields are kept.
    let ea = item(&fx.a);
    assert_eq!(ea["integration"], "gh");
    assert_eq!(ea["provider_event_id"], "d-a");
    assert_eq!(ea["event_type"], "push");
    assert_eq!(ea["scheme"], "github");
    assert_eq!(ea["body_bytes"], 13);
    assert!(ea.get("body").is_none() && ea.get("headers").is_none());
    // Mapped (passthrough) to both destinations that take github.push.
    assert_eq!(
        ea["mapping"],
        json!({"status": "mapped", "type": "github.push", "error": null})
    );
    assert_eq!(
        ea["deliveries"],
        json!({"pending": 0, "in_flight": 0, "delivered": 2, "dead": 0})
    );
    assert_eq!(item(&fx.b)["deliveries"]["dead"], 2);
    assert_eq!(item(&fx.c)["deliveries"]["pending"], 2);
    let ef = item(&fx.f);
    assert_eq!(ef["mapping"]["status"], "failed");
    assert!(ef["mapping"]["error"].as_str().unwrap().contains("boom"));
    assert_eq!(ef["deliveries"]["pending"], 0);

    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for (q, want) in [
        ("status=dead", vec![fx.b.clone()]),
        ("status=delivered", vec![fx.a.clone()]),
        ("status=pending", vec![fx.c.clone(), a.clone()]),
        ("status=mapping_failed", vec![fx.f.clone()]),
        ("status=unrouted", vec![]),
        ("integration=other", vec![fx.o.clone()]),
        ("type=issues", vec![fx.o.clone()]),
        ("type=github.issues", vec![fx.o.clone()]),
        ("type=nope", vec![]),
        ("integration=nope", vec![]),
        ("status=dead&integration=other", vec![]),
    ] {
        let mut got = ids(&h.get_json(&format!("/api/events?{q}")).await);
        got.sort();
        let mut want = want;
        want.sort();
        assert_eq!(got, want, "{q}");
    }
    // Pages, newest first.
    let p1 = h.get_json("/api/events?limit=4").await;
    assert_eq!(p1["data"].as_array().unwrap().len(), 4);
    assert_eq!(p1["data"][0]["id"], fx.o.as_str());
    let cursor = p1["next_cursor"].as_str().unwrap().to_owned();
    let p2 = h
        .get_json(&format!("/api/events?limit=4&cursor={cursor}"))
        .await;
    assert_eq!(ids(&p2), vec![fx.a.clone(), a.clone()]);
    assert_eq!(p2["next_cursor"], Value::Null);
}

#[tokio::test]
async fn listing_refuses_bad_input() {
    let h = start().await;
    let res = h.http.get(h.url("/api/events")).send().await.unwrap();
    assert_eq!(error(res, StatusCode::UNAUTHORIZED).await.0, "unauthorized");
    for q in [
        "status=nope",
        "status=",
        "limit=abc",
        "limit=-1",
        "cursor=zzz",
        "type=",
        &format!("type={}", "t".repeat(300)),
        "unknown=1",
    ] {
        let (code, message) = error(
            h.get(&format!("/api/events?{q}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(code, "invalid_request", "{q}");
        if q.starts_with("status") {
            assert!(message.contains("mapping_failed"), "{message}");
        }
    }
}

#[tokio::test]
async fn event_detail_has_mapping_and_deliveries_but_no_headers() {
    let h = start().await;
    let fx = fixture(&h).await;
    let v = h.get_json(&format!("/api/events/{}", fx.b)).await;
    assert_eq!(v["id"], fx.b.as_str());
    assert_eq!(v["integration"], "gh");
    assert_eq!(v["event_type"], "push");
    assert_eq!(v["body_bytes"], 13);
    assert!(v["routed_at"].is_string());
    assert_eq!(v["mapping"]["status"], "mapped");
    assert_eq!(v["mapping"]["type"], "github.push");
    assert_eq!(v["mapping"]["data"], "Hello, World!");
    let text = v.to_string();
    assert!(
        !text.contains("hdr-SECRET") && !text.contains("X-Custom-Token"),
        "{text}"
    );
    assert!(v.get("headers").is_none() && v.get("body").is_none());
    let ds = v["deliveries"].as_array().unwrap();
    assert_eq!(ds.len(), 2);
    let mut dests: Vec<&str> = ds
        .iter()
        .map(|d| d["destination"].as_str().unwrap())
        .collect();
    dests.sort();
    assert_eq!(dests, ["app", "audit-sink"]);
    for d in ds {
        assert!(d["id"].as_str().unwrap().starts_with("dlv_"));
        assert_eq!(d["status"], "dead");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["last_status"], 500);
        assert_eq!(d["last_error"], "HTTP 500");
        assert_eq!(d["delivered_at"], Value::Null);
        assert!(d["next_attempt_at"].is_string());
    }
    let v = h.get_json(&format!("/api/events/{}", fx.a)).await;
    assert!(v["deliveries"][0]["delivered_at"].is_string());
    assert_eq!(v["deliveries"][0]["last_status"], 204);
    // Failed mapping: the error, no data.
    let v = h.get_json(&format!("/api/events/{}", fx.f)).await;
    assert_eq!(v["mapping"]["status"], "failed");
    assert!(v["mapping"]["error"].as_str().unwrap().contains("boom"));
    assert_eq!(v["mapping"]["data"], Value::Null);
    assert_eq!(v["deliveries"], json!([]));

    // Bad ids: 400; unknown: 404; no key: 401.
    for bad in ["nope", "evt_XYZ", "evt_0123", "replay%20x"] {
        let (code, _) = error(
            h.get(&format!("/api/events/{bad}")).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(code, "invalid_request", "{bad}");
    }
    let unknown = format!("evt_{}", "0".repeat(32));
    let (code, _) = error(
        h.get(&format!("/api/events/{unknown}")).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "not_found");
    let res = h
        .http
        .get(h.url(&format!("/api/events/{}", fx.a)))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn single_replay_counts_requeues_and_audits() {
    let h = start().await;
    let fx = fixture(&h).await;
    let path = format!("/api/events/{}/replay", fx.b);
    let before = h.deliveries().await;
    let audit = h.audit_rows().await.len();

    // Dry run: the count, nothing changed.
    let res = h.post_json(&path, json!({"dry_run": true})).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({"events": 1, "deliveries": 2, "skipped_purged": 0, "dry_run": true})
    );
    assert_eq!(h.deliveries().await, before);
    assert_eq!(h.audit_rows().await.len(), audit);

    // Bad bodies: 4xx, nothing changed.
    for (ct, body, status) in [
        (
            "application/json",
            r#"{"dry_run": "yes"}"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            r#"{"dry_run": true, "x": 1}"#,
            StatusCode::BAD_REQUEST,
        ),
        ("application/json", "[true]", StatusCode::BAD_REQUEST),
        ("application/json", "not json", StatusCode::BAD_REQUEST),
        (
            "application/json",
            r#"{"dry_run": tru"#,
            StatusCode::BAD_REQUEST,
        ),
        (
            "text/plain",
            r#"{"dry_run": true}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ] {
        let (code, message) = error(h.post_raw(&path, ct, body).await, status).await;
        assert!(
            code == "invalid_request" || code == "unsupported_media_type",
            "{body}"
        );
        assert!(!message.contains("yes"), "values are not echoed: {message}");
    }
    // Bad and unknown ids.
    let (code, _) = error(
        h.post_json("/api/events/evt_nope/replay", json!({})).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "invalid_request");
    let unknown = format!("/api/events/evt_{}/replay", "a".repeat(32));
    let (code, _) = error(
        h.post_json(&unknown, json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(code, "not_found");
    // No key.
    let res = h.http.post(h.url(&path)).send().await.unwrap();
    error(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(h.deliveries().await, before);
    assert_eq!(h.audit_rows().await.len(), audit);

    // No body at all: a real replay. Both dead deliveries are pending again, with fresh
    // attempts; the event waits to be mapped again.
    let res = h
        .http
        .post(h.url(&path))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({"events": 1, "deliveries": 2, "skipped_purged": 0, "dry_run": false})
    );
    let v = h.get_json(&format!("/api/events/{}", fx.b)).await;
    assert_eq!(v["mapping"], Value::Null);
    assert_eq!(v["routed_at"], Value::Null);
    for d in v["deliveries"].as_array().unwrap() {
        assert_eq!(
            (d["status"].as_str(), d["attempts"].as_u64()),
            (Some("pending"), Some(0))
        );
    }
    let rows = h.audit_rows().await;
    assert_eq!(rows.len(), audit + 1);
    assert_eq!(rows[0], ("events.replay".to_owned(), fx.b.clone()));
    // An empty JSON object works too (a replay of an undelivered event).
    let res = h
        .post_json(&format!("/api/events/{}/replay", fx.c), json!({}))
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn bulk_replay_needs_a_filter_and_checks_every_field() {
    let h = start().await;
    let fx = fixture(&h).await;
    let before = h.deliveries().await;
    let audit = h.audit_rows().await.len();

    let bad: Vec<(Value, &str)> = vec![
        (json!({}), "all"),
        (json!({"dry_run": true}), "all"),
        (json!({"all": false}), "all"),
        (json!({"integration": "nope"}), "integration"),
        (json!({"destination": "nope"}), "destination"),
        (json!({"status": "lost"}), "status"),
        (json!({"status": "in_flight"}), "status"),
        (json!({"since": "yesterday"}), "since"),
        (json!({"until": 12}), "until"),
        (
            json!({"since": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}),
            "since",
        ),
        (json!({"event_type": ""}), "event_type"),
        (json!({"integration": "gh", "colour": "red"}), "colour"),
        (json!({"integration": 7}), "integration"),
        (json!({"all": "yes"}), "all"),
    ];
    for (body, field) in bad {
        let (code, message) = error(
            h.post_json("/api/events/replay", body.clone()).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(code, "invalid_request", "{body}");
        assert!(message.contains(field), "{body}: {message}");
    }
    // No body is an empty filter too; a non-object, non-JSON or non-JSON type is refused.
    let res = h
        .http
        .post(h.url("/api/events/replay"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap();
    assert!(error(res, StatusCode::BAD_REQUEST).await.1.contains("all"));
    error(
        h.post_raw("/api/events/replay", "application/json", "[]")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    error(
        h.post_raw(
            "/api/events/replay",
            "application/x-www-form-urlencoded",
            "all=true",
        )
        .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    let res = h
        .http
        .post(h.url("/api/events/replay"))
        .json(&json!({"all": true}))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::UNAUTHORIZED).await;
    assert_eq!(h.deliveries().await, before, "nothing changed");
    assert_eq!(h.audit_rows().await.len(), audit);

    // Dry runs count and change nothing.
    let count = |body: Value| {
        let h = &h;
        async move {
            let res = h.post_json("/api/events/replay", body.clone()).await;
            assert_eq!(res.status(), 200, "{body}");
            let v: Value = res.json().await.unwrap();
            (
                v["events"].as_u64().unwrap(),
                v["deliveries"].as_u64().unwrap(),
            )
        }
    };
    assert_eq!(count(json!({"all": true, "dry_run": true})).await, (5, 6));
    assert_eq!(
        count(json!({"status": "dead", "dry_run": true})).await,
        (1, 2)
    );
    assert_eq!(
        count(json!({"status": "dead", "destination": "app", "dry_run": true})).await,
        (1, 1)
    );
    assert_eq!(
        count(json!({"status": "mapping_failed", "dry_run": true})).await,
        (1, 0)
    );
    assert_eq!(
        count(json!({"integration": "other", "dry_run": true})).await,
        (1, 0)
    );
    assert_eq!(
        count(json!({"event_type": "github.push", "dry_run": true})).await,
        (3, 6)
    );
    assert_eq!(
        count(json!({"until": "2000-01-01T00:00:00Z", "dry_run": true})).await,
        (0, 0)
    );
    assert_eq!(
        count(json!({"since": "2000-01-01T00:00:00+02:00", "dry_run": true})).await,
        (5, 6)
    );
    assert_eq!(h.deliveries().await, before);
    assert_eq!(h.audit_rows().await.len(), audit);

    // A real replay of the dead ones: requeued, audited, answered with the counts.
    let res = h
        .post_json("/api/events/replay", json!({"status": "dead"}))
        .await;
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({"events": 1, "deliveries": 2, "skipped_purged": 0, "dry_run": false})
    );
    let v = h.get_json(&format!("/api/events/{}", fx.b)).await;
    assert!(
        v["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "pending")
    );
    let rows = h.audit_rows().await;
    assert_eq!(rows.len(), audit + 1);
    assert_eq!(rows[0], ("events.replay".to_owned(), "*".to_owned()));
    // `all` replays everything.
    assert_eq!(count(json!({"all": true})).await.0, 5);
    let _ = (fx.a, fx.c, fx.f, fx.o);
}

#[tokio::test]
async fn destinations_list_disable_enable() {
    let h = start().await;
    let fx = fixture(&h).await;
    let v = h.get_json("/api/destinations").await;
    assert_eq!(v["next_cursor"], Value::Null);
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let app = &data[0];
    assert_eq!(app["id"], "app");
    let url = app["url"].as_str().unwrap();
    assert!(
        !url.contains("hunter2") && !url.contains("tok-SECRET"),
        "{url}"
    );
    assert!(
        url == "https://app.example/hooks?token=%2A%2A%2A&x=%2A%2A%2A"
            || url == "https://app.example/hooks?token=***&x=***",
        "{url}"
    );
    assert_eq!(app["integrations"], json!(["gh"]));
    assert_eq!(app["event_types"], json!(["*"]));
    assert_eq!(app["enabled"], true);
    assert_eq!(app["disabled_reason"], Value::Null);
    assert_eq!(
        app["queue"],
        json!({"pending": 1, "in_flight": 0, "dead": 1})
    );
    let text = v.to_string();
    assert!(!text.contains("whsec_"), "never the signing secret");
    assert_eq!(data[1]["id"], "audit-sink");
    assert_eq!(
        data[1]["queue"],
        json!({"pending": 1, "in_flight": 0, "dead": 1})
    );

    let audit = h.audit_rows().await.len();
    // Bad input: 4xx, nothing changed.
    for (body, status, word) in [
        (json!({"reason": ""}), StatusCode::BAD_REQUEST, "reason"),
        (
            json!({"reason": "x".repeat(501)}),
            StatusCode::BAD_REQUEST,
            "reason",
        ),
        (json!({"reason": "a\nb"}), StatusCode::BAD_REQUEST, "reason"),
        (json!({"reason": 5}), StatusCode::BAD_REQUEST, "reason"),
        (json!({"why": "x"}), StatusCode::BAD_REQUEST, "why"),
    ] {
        let (code, message) = error(
            h.post_json("/api/destinations/app/disable", body.clone())
                .await,
            status,
        )
        .await;
        assert_eq!(code, "invalid_request", "{body}");
        assert!(message.contains(word), "{body}: {message}");
    }
    let (code, _) = error(
        h.post_json("/api/destinations/app/enable", json!({"reason": "x"}))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(code, "invalid_request");
    for path in [
        "/api/destinations/nope/disable",
        "/api/destinations/nope/enable",
    ] {
        let (code, _) = error(h.post_json(path, json!({})).await, StatusCode::NOT_FOUND).await;
        assert_eq!(code, "not_found");
    }
    let res = h
        .http
        .post(h.url("/api/destinations/app/disable"))
        .send()
        .await
        .unwrap();
    error(res, StatusCode::UNAUTHORIZED).await;
    let res = h.http.get(h.url("/api/destinations")).send().await.unwrap();
    error(res, StatusCode::UNAUTHORIZED).await;
    assert!(h.store.disabled_destinations().await.unwrap().is_empty());
    assert_eq!(h.audit_rows().await.len(), audit);

    // Disable with a reason: audited once; a second disable changes nothing.
    let res = h
        .post_json(
            "/api/destinations/app/disable",
            json!({"reason": "  maintenance window  "}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["id"], "app");
    assert_eq!(v["changed"], true);
    assert_eq!(v["enabled"], false);
    assert_eq!(v["disabled_reason"], "maintenance window");
    let v: Value = h
        .post_json("/api/destinations/app/disable", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["changed"].as_bool(), v["disabled_reason"].as_str()),
        (Some(false), Some("maintenance window"))
    );
    let rows = h.audit_rows().await;
    assert_eq!(rows.len(), audit + 1);
    assert_eq!(
        rows[0],
        ("destination.disable".to_owned(), "app".to_owned())
    );
    let v = h.get_json("/api/destinations").await;
    assert_eq!(v["data"][0]["enabled"], false);
    // A disabled destination's deliveries are not claimed.
    let now = store::now();
    let claimed = h
        .store
        .claim_deliveries("t", 10, now, now + chrono::Duration::seconds(9), &[])
        .await
        .unwrap();
    assert!(
        claimed.iter().all(|c| c.destination != "app"),
        "{claimed:?}"
    );
    for c in claimed {
        h.store.release_delivery(&c.id, c.fence, now).await.unwrap();
    }

    // Enable (no body): audited; again: unchanged. The admin key works too.
    let res = h
        .http
        .post(h.url("/api/destinations/app/enable"))
        .bearer_auth(&h.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        (v["changed"].as_bool(), v["enabled"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(v["disabled_reason"], Value::Null);
    let v: Value = h
        .post_json("/api/destinations/app/enable", json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["changed"], false);
    let rows = h.audit_rows().await;
    assert_eq!(rows.len(), audit + 2);
    assert_eq!(rows[0], ("destination.enable".to_owned(), "app".to_owned()));
    // A disable without a body gets the default reason.
    let v: Value = h
        .http
        .post(h.url("/api/destinations/audit-sink/disable"))
        .bearer_auth(&h.app)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["disabled_reason"], "disabled by an operator");
    let _ = fx;
}

#[tokio::test]
async fn openapi_describes_the_event_routes() {
    let h = start().await;
    let doc: Value = h
        .http
        .get(h.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (p, m) in [
        ("/api/events", "get"),
        ("/api/events/{id}", "get"),
        ("/api/events/{id}/replay", "post"),
        ("/api/events/replay", "post"),
        ("/api/destinations", "get"),
        ("/api/destinations/{id}/disable", "post"),
        ("/api/destinations/{id}/enable", "post"),
    ] {
        assert!(doc["paths"][p].get(m).is_some(), "openapi lacks {m} {p}");
    }
    let params = doc["paths"]["/api/events"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for n in ["integration", "status", "type", "limit", "cursor"] {
        assert!(names.contains(&n), "{names:?}");
    }
}

/// The Rust client against the live routes: every typed method decodes the real answers.
#[tokio::test]
async fn rust_client_covers_the_event_routes() {
    use client::{EventFilter, EventStatus, ReplayFilter, ReplayStatus};
    let h = start().await;
    let fx = fixture(&h).await;
    let sb = client::Client::new(&h.base, h.app.clone().into()).unwrap();

    let page = sb
        .list_events(&EventFilter::default().status(EventStatus::Dead), None)
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].id, fx.b);
    assert_eq!(page.data[0].deliveries.dead, 2);
    let m = page.data[0].mapping.as_ref().unwrap();
    assert_eq!(m.event_type.as_deref(), Some("github.push"));
    let page = sb
        .list_events(&EventFilter::default().integration("gh").limit(2), None)
        .await
        .unwrap();
    assert_eq!(page.data.len(), 2);
    let next = sb
        .list_events(
            &EventFilter::default().integration("gh").limit(2),
            page.next_cursor.as_deref(),
        )
        .await
        .unwrap();
    assert_eq!(next.data.len(), 2);

    let d = sb.get_event(&fx.a).await.unwrap();
    assert_eq!(d.deliveries.len(), 2);
    assert!(d.deliveries.iter().all(|x| x.status == "delivered"));
    assert_eq!(
        d.mapping.unwrap().data,
        Some(Value::String("Hello, World!".into()))
    );
    let e = sb.get_event("evt_nope").await.unwrap_err();
    assert_eq!(e.status(), Some(400));
    let e = sb
        .get_event(&format!("evt_{}", "0".repeat(32)))
        .await
        .unwrap_err();
    assert!(e.is_not_found());

    let c = sb.replay_event(&fx.b, true).await.unwrap();
    assert_eq!((c.events, c.deliveries, c.dry_run), (1, 2, true));
    let f = ReplayFilter::default()
        .destination("app")
        .status(ReplayStatus::Dead);
    let c = sb.replay(&f, true).await.unwrap();
    assert_eq!((c.events, c.deliveries), (1, 1));
    let e = sb.replay(&ReplayFilter::default(), true).await.unwrap_err();
    assert_eq!(e.error_code(), Some(client::ErrorCode::InvalidRequest));
    let c = sb
        .replay(&ReplayFilter::default().all(), true)
        .await
        .unwrap();
    assert_eq!(c.events, 5);
    let c = sb.replay(&f, false).await.unwrap();
    assert_eq!((c.events, c.deliveries, c.dry_run), (1, 1, false));

    let ds = sb.list_destinations().await.unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds[0].queue.pending, 2, "c's and the replayed one");
    let ch = sb
        .disable_destination("app", Some("maintenance"))
        .await
        .unwrap();
    assert!(ch.changed && !ch.destination.enabled);
    assert_eq!(
        ch.destination.disabled_reason.as_deref(),
        Some("maintenance")
    );
    let ch = sb.disable_destination("app", None).await.unwrap();
    assert!(!ch.changed);
    let ch = sb.enable_destination("app").await.unwrap();
    assert!(ch.changed && ch.destination.enabled);
    assert!(
        sb.enable_destination("nope")
            .await
            .unwrap_err()
            .is_not_found()
    );
}
