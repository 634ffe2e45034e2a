//! The console's integrations, connections, events and destinations pages over HTTP:
//! what they show (never a secret), their filters and pages, their actions (audited
//! with the console user, CSRF-checked), and bad input on every filter and form (a 4xx
//! page, nothing changed).

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use store::{DeliveryStatus, DeliveryStore, Event, EventStore, Failure};
use vault::{ExposeSecret, SecretString};

use crate::tests::Harness;

const CONFIG: &str = r#"
public_url = "https://sb.example"

[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["gh-webhook-secret-0123456789abcdef"]
redact_fields = ["/customer/email"]

[[integrations]]
id = "other"
provider = "github"

[[destinations]]
id = "app"
url = "https://app.example/hooks?token=tok-SECRET&x=1"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
integrations = ["gh"]
"#;

struct H {
    h: Harness,
    cookie: String,
    csrf: String,
    http: reqwest::Client,
}

async fn start() -> H {
    let h = crate::tests::start_with(CONFIG, None).await;
    let s = h
        .engine
        .console_sign_in_with_key(&SecretString::from(h.admin.clone()))
        .await
        .unwrap();
    // public_url is https: the cookie has the __Host- prefix.
    let cookie = format!(
        "{}={}",
        crate::console::session::SECURE_COOKIE,
        s.token.expose_secret()
    );
    H {
        cookie,
        csrf: s.session.csrf_token,
        h,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

impl H {
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let res = self
            .http
            .get(self.h.url(path))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        let body = res.text().await.unwrap();
        assert!(!body.contains("SECRET"), "{path} shows a secret");
        assert!(!body.contains(&self.h.admin), "{path} shows the API key");
        (status, body)
    }

    async fn ok(&self, path: &str) -> String {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.len() < 100 * 1024, "{path}: {} bytes", body.len());
        body
    }

    async fn bad(&self, path: &str, status: StatusCode, says: &str) {
        let (got, body) = self.get(path).await;
        assert_eq!(got, status, "{path}");
        assert!(body.contains(says), "{path}: {body}");
    }

    /// Posts a form with the session's CSRF token (or `csrf` when given).
    async fn post(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        csrf: Option<&str>,
    ) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.unwrap_or(&self.csrf))];
        all.extend_from_slice(fields);
        self.http
            .post(self.h.url(path))
            .header(COOKIE, &self.cookie)
            .form(&all)
            .send()
            .await
            .unwrap()
    }

    async fn audit(&self) -> Vec<(String, String, String)> {
        self.h
            .engine
            .list_audit(None, 500)
            .await
            .unwrap()
            .data
            .into_iter()
            .map(|r| (r.entry.actor, r.entry.action, r.entry.target))
            .collect()
    }

    /// Stores a GitHub event with secrets in its payload, routed; returns its id.
    async fn event(&self, n: u32) -> String {
        let body = serde_json::json!({
            "action": "opened",
            "number": n,
            "installation": {"access_token": "ghs_SECRET"},
            "customer": {"email": "someone-SECRET@example.com"},
            "config": {"secret": "cfg-SECRET", "url": "https://example.com/x"}
        });
        let e = Event {
            id: engine::ids::new_event_id(),
            integration: "gh".into(),
            received_at: store::now(),
            provider_event_id: Some(format!("d-{n}")),
            event_type: Some("pull_request".into()),
            scheme: "github".into(),
            headers: vec![("x-hub-signature-256".into(), "sha256=SECRET".into())],
            body: body.to_string().into_bytes(),
            connection_id: None,
            routing_key: None,
        };
        self.h.store.insert_event(&e).await.unwrap();
        self.h.engine.route_pending().await.unwrap();
        e.id
    }

    /// Makes every due delivery dead.
    async fn kill_all(&self) {
        let t = store::now();
        for c in self
            .h
            .store
            .claim_deliveries("w", 500, t, t + chrono::Duration::seconds(60), &[])
            .await
            .unwrap()
        {
            let f = Failure {
                retry_at: None,
                status: Some(500),
                error: "HTTP 500".into(),
            };
            self.h
                .store
                .fail_delivery(&c.id, c.fence, &f)
                .await
                .unwrap();
        }
    }

    async fn statuses(&self) -> Vec<DeliveryStatus> {
        self.h
            .store
            .list_deliveries(&Default::default(), 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.status)
            .collect()
    }
}

fn location(res: &reqwest::Response) -> String {
    res.headers()[LOCATION].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_pages_need_a_session() {
    let h = start().await;
    for path in [
        "/ui/integrations",
        "/ui/connections",
        "/ui/events",
        "/ui/destinations",
    ] {
        let res = h.http.get(h.h.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(location(&res).starts_with("/ui/sign-in"), "{path}");
        // A form without a session changes nothing.
        let res = h
            .http
            .post(h.h.url("/ui/integrations/gh/block"))
            .form(&[("csrf", h.csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(!h.h.engine.integration_states().await.unwrap()[0].webhooks_blocked);
}

#[tokio::test]
async fn events_are_listed_filtered_and_paged_and_bad_filters_are_refused() {
    let h = start().await;
    let mut ids = Vec::new();
    for n in 0..55 {
        ids.push(h.event(n).await);
    }
    let page = h.ok("/ui/events").await;
    assert!(
        page.contains(&ids[54]) && !page.contains(&ids[0]),
        "50 a page, newest first"
    );
    assert!(page.contains("rel=\"next\""));
    let next = page
        .split("href=\"/ui/events?")
        .find_map(|s| {
            s.split_once("\" rel=\"next\"")
                .map(|(q, _)| q.replace("&amp;", "&"))
        })
        .unwrap();
    let older = h.ok(&format!("/ui/events?{next}")).await;
    assert!(older.contains(&ids[0]) && !older.contains(&ids[54]));
    assert!(!older.contains("rel=\"next\""));
    // Filters.
    assert!(
        h.ok("/ui/events?integration=other")
            .await
            .contains("No events match")
    );
    assert!(h.ok("/ui/events?integration=gh&type=pull_request&verification=verified&mapping=mapped&delivery=pending&since=2000-01-01T00:00&until=").await.contains(&ids[54]));
    assert!(
        h.ok("/ui/events?verification=internal")
            .await
            .contains("No events match")
    );
    assert!(
        h.ok("/ui/events?since=2999-01-01T00:00")
            .await
            .contains("No events match")
    );
    // Bad filters: 400 naming the field.
    let long = "t".repeat(300);
    for (q, says) in [
        ("nope=1", "nope"),
        ("integration=missing", "integration"),
        ("mapping=bogus", "mapping"),
        ("delivery=gone", "delivery"),
        ("verification=maybe", "verification"),
        ("since=yesterday", "since"),
        ("since=2026-01-02T00:00&until=2026-01-01T00:00", "since"),
        (&format!("type={long}"), "type"),
        ("cursor=not-a-cursor", "cursor"),
    ] {
        h.bad(&format!("/ui/events?{q}"), StatusCode::BAD_REQUEST, says)
            .await;
    }
}

#[tokio::test]
async fn an_event_is_shown_with_its_payload_redacted() {
    let h = start().await;
    let id = h.event(1).await;
    let page = h.ok(&format!("/ui/events/{id}")).await;
    // h.ok already checks that no SECRET shows; the redacted fields are marked.
    assert!(page.contains("[redacted]") && page.contains("https://example.com/x"));
    assert!(!page.contains("someone"), "redact_fields applies");
    assert!(page.contains("pull_request") && page.contains("verified (github)"));
    assert!(page.contains("What the destinations receive"));
    h.bad("/ui/events/evt_nope", StatusCode::BAD_REQUEST, "event id")
        .await;
    h.bad(
        &format!("/ui/events/evt_{:032x}", 7),
        StatusCode::NOT_FOUND,
        "event",
    )
    .await;
}

#[tokio::test]
async fn a_dead_event_is_replayed_by_its_button_and_by_a_filter_after_a_count() {
    let h = start().await;
    let id = h.event(1).await;
    let id2 = h.event(2).await;
    h.kill_all().await;
    assert_eq!(h.statuses().await, [DeliveryStatus::Dead; 2]);
    // Bad forms change nothing.
    let path = format!("/ui/events/{id}/replay");
    let res = h.post(&path, &[], Some("wrong")).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = h.post(&path, &[("destination", "nope")], None).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = h.post(&path, &[("surprise", "1")], None).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = h.post("/ui/events/evt_bad/replay", &[], None).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(h.statuses().await, [DeliveryStatus::Dead; 2]);
    // The button.
    let res = h.post(&path, &[("destination", "app")], None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let progress = location(&res);
    assert!(
        progress.starts_with("/ui/events/replay/progress?"),
        "{progress}"
    );
    let page = h.ok(&progress).await;
    assert!(
        page.contains("<strong>0</strong> of <strong>1</strong>"),
        "{page}"
    );
    assert!(page.contains("data-refresh"));
    let actor = h.audit().await;
    assert!(
        actor
            .iter()
            .any(|(who, what, target)| who.starts_with("api-key:")
                && what == "events.replay"
                && *target == id),
        "{actor:?}"
    );
    // The bulk replay: a count first, then the confirmed post.
    let count = h.ok("/ui/events/replay?integration=gh&delivery=dead").await;
    assert!(count.contains("<strong>1</strong> event(s)"), "{count}");
    for (fields, status) in [
        (
            vec![("integration", "gh"), ("delivery", "dead")],
            StatusCode::BAD_REQUEST,
        ), // not confirmed
        (vec![("confirm", "yes")], StatusCode::BAD_REQUEST), // no filter
        (
            vec![("confirm", "yes"), ("verification", "verified")],
            StatusCode::BAD_REQUEST,
        ),
        (
            vec![("confirm", "yes"), ("delivery", "in_flight")],
            StatusCode::BAD_REQUEST,
        ),
        (
            vec![("confirm", "yes"), ("mapping", "mapped")],
            StatusCode::BAD_REQUEST,
        ),
        (
            vec![("confirm", "yes"), ("integration", "nope")],
            StatusCode::BAD_REQUEST,
        ),
        (
            vec![("confirm", "yes"), ("bogus", "x")],
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let res = h.post("/ui/events/replay", &fields, None).await;
        assert_eq!(res.status(), status, "{fields:?}");
    }
    h.bad("/ui/events/replay", StatusCode::BAD_REQUEST, "filter")
        .await;
    h.bad(
        "/ui/events/replay?verification=internal",
        StatusCode::BAD_REQUEST,
        "verification",
    )
    .await;
    let dead_left =
        h.h.store
            .list_deliveries(
                &store::DeliveryFilter {
                    status: Some(DeliveryStatus::Dead),
                    ..Default::default()
                },
                10,
            )
            .await
            .unwrap();
    assert_eq!(dead_left.len(), 1);
    assert_eq!(dead_left[0].event_id, id2);
    let res = h
        .post(
            "/ui/events/replay",
            &[
                ("integration", "gh"),
                ("delivery", "dead"),
                ("confirm", "yes"),
            ],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        h.statuses()
            .await
            .iter()
            .all(|s| *s == DeliveryStatus::Pending)
    );
    let page = h.ok(&location(&res)).await;
    assert!(page.contains("of <strong>"), "{page}");
    // Progress with bad fields.
    h.bad("/ui/events/replay/progress", StatusCode::BAD_REQUEST, "at")
        .await;
    h.bad(
        "/ui/events/replay/progress?at=soon",
        StatusCode::BAD_REQUEST,
        "at",
    )
    .await;
    h.bad(
        "/ui/events/replay/progress?at=1&event=x",
        StatusCode::BAD_REQUEST,
        "event",
    )
    .await;
    h.bad(
        "/ui/events/replay/progress?at=1&destination=nope",
        StatusCode::BAD_REQUEST,
        "destination",
    )
    .await;
}

#[tokio::test]
async fn destinations_show_queues_and_dead_letters_and_enable_after_a_410() {
    let h = start().await;
    let id = h.event(1).await;
    h.kill_all().await;
    h.h.engine
        .set_destination_disabled(
            "app",
            true,
            Some("answered 410 Gone"),
            &engine::Actor::System,
        )
        .await
        .unwrap();
    let page = h.ok("/ui/destinations").await;
    assert!(
        page.contains("1 dead") && page.contains("answered 410 Gone"),
        "{page}"
    );
    assert!(
        page.contains("https://app.example/hooks?token=***"),
        "URL redacted"
    );
    let dead = h.ok("/ui/destinations/app/dead").await;
    assert!(dead.contains(&id) && dead.contains("HTTP 500"));
    h.bad(
        "/ui/destinations/app/dead?cursor=x",
        StatusCode::BAD_REQUEST,
        "cursor",
    )
    .await;
    h.bad(
        "/ui/destinations/app/dead?page=2",
        StatusCode::BAD_REQUEST,
        "page",
    )
    .await;
    h.bad(
        "/ui/destinations/nope/dead",
        StatusCode::NOT_FOUND,
        "destination",
    )
    .await;
    h.bad(
        "/ui/destinations/nope/replay-dead",
        StatusCode::BAD_REQUEST,
        "destination",
    )
    .await;
    let count = h.ok("/ui/destinations/app/replay-dead").await;
    assert!(
        count.contains("<strong>1</strong> dead delivery"),
        "{count}"
    );
    // Enable: bad token, unknown destination, then for real.
    assert_eq!(
        h.post("/ui/destinations/app/enable", &[], Some("x"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.post("/ui/destinations/nope/enable", &[], None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(!h.h.engine.destination("app").await.unwrap().enabled);
    let res = h.post("/ui/destinations/app/enable", &[], None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(h.h.engine.destination("app").await.unwrap().enabled);
    assert!(
        h.audit()
            .await
            .iter()
            .any(|(who, what, t)| who.starts_with("api-key:")
                && what == "destination.enable"
                && t == "app")
    );
    // Replay all dead: not confirmed, then confirmed.
    assert_eq!(
        h.post("/ui/destinations/app/replay-dead", &[], None)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(h.statuses().await, [DeliveryStatus::Dead]);
    let res = h
        .post(
            "/ui/destinations/app/replay-dead",
            &[("confirm", "yes")],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(h.statuses().await, [DeliveryStatus::Pending]);
    h.ok(&location(&res)).await;
}

#[tokio::test]
async fn integrations_show_the_webhook_url_and_switch_with_an_audit_row() {
    let h = start().await;
    let page = h.ok("/ui/integrations").await;
    assert!(
        page.contains("https://sb.example/webhooks/gh/event"),
        "{page}"
    );
    assert!(page.contains("data-copy=\"url-gh\""));
    for (path, status) in [
        ("/ui/integrations/gh/explode", StatusCode::BAD_REQUEST),
        ("/ui/integrations/nope/block", StatusCode::NOT_FOUND),
    ] {
        assert_eq!(h.post(path, &[], None).await.status(), status, "{path}");
    }
    assert_eq!(
        h.post("/ui/integrations/gh/block", &[], Some(""))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.post("/ui/integrations/gh/block", &[("x", "1")], None)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let flags = h.h.engine.integration_states().await.unwrap();
    assert!(!flags[0].webhooks_blocked && !flags[0].disabled);
    for action in ["block", "disable"] {
        let res = h
            .post(&format!("/ui/integrations/gh/{action}"), &[], None)
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), format!("/ui/integrations?done={action}"));
    }
    let flags = h.h.engine.integration_states().await.unwrap();
    assert!(flags[0].webhooks_blocked && flags[0].disabled);
    let page = h.ok("/ui/integrations?done=block").await;
    assert!(page.contains("Unblock webhooks") && page.contains("Enable"));
    let audit = h.audit().await;
    for action in ["webhook.block", "integration.disable"] {
        assert!(
            audit
                .iter()
                .any(|(who, what, t)| who.starts_with("api-key:") && what == action && t == "gh"),
            "{audit:?}"
        );
    }
    h.bad(
        "/ui/integrations?done=x&more=1",
        StatusCode::BAD_REQUEST,
        "more",
    )
    .await;
}

#[tokio::test]
async fn connections_filter_and_refuse_bad_input() {
    let h = start().await;
    let page = h
        .ok("/ui/connections?integration=gh&status=active&end_user=u-1")
        .await;
    assert!(page.contains("No connections match"));
    for (q, status, says) in [
        ("status=asleep", StatusCode::BAD_REQUEST, "status"),
        ("integration=nope", StatusCode::BAD_REQUEST, "integration"),
        ("end_user=%00", StatusCode::BAD_REQUEST, "end_user"),
        ("cursor=%2F%2F", StatusCode::BAD_REQUEST, "cursor"),
        ("other=1", StatusCode::BAD_REQUEST, "other"),
    ] {
        h.bad(&format!("/ui/connections?{q}"), status, says).await;
    }
    h.bad(
        "/ui/connections/nope/disconnect",
        StatusCode::NOT_FOUND,
        "connection",
    )
    .await;
    h.bad(
        "/ui/connections/%2Fbad/disconnect",
        StatusCode::BAD_REQUEST,
        "connection id",
    )
    .await;
    for (path, fields, status) in [
        (
            "/ui/connections/nope/disconnect",
            vec![("confirm", "yes")],
            StatusCode::NOT_FOUND,
        ),
        (
            "/ui/connections/nope/disconnect",
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ui/connections/nope/refresh",
            vec![],
            StatusCode::NOT_FOUND,
        ),
        (
            "/ui/connections/nope/refresh",
            vec![("x", "1")],
            StatusCode::BAD_REQUEST,
        ),
        ("/ui/connections/nope/check", vec![], StatusCode::NOT_FOUND),
        (
            "/ui/connections/nope/check",
            vec![("x", "1")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ui/connections/%2Fbad/check",
            vec![],
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_eq!(
            h.post(path, &fields, None).await.status(),
            status,
            "{path} {fields:?}"
        );
    }
}

#[tokio::test]
async fn an_event_page_lists_each_attempt_escaped_and_capped() {
    let h = start().await;
    let id = h.event(1).await;
    let t = store::now();
    let attempt = |ms: u64, status: Option<u16>, outcome: &str, excerpt: &str| store::NewAttempt {
        started_at: t,
        duration_ms: ms,
        status,
        outcome: outcome.into(),
        excerpt: Some(excerpt.into()),
    };
    let claim = |at: chrono::DateTime<chrono::Utc>| {
        let s = h.h.store.clone();
        async move {
            s.claim_deliveries("w", 1, at, at + chrono::Duration::seconds(60), &[])
                .await
                .unwrap()
                .remove(0)
        }
    };
    let retry = Failure {
        retry_at: Some(t),
        status: Some(502),
        error: "HTTP 502".into(),
    };
    let c = claim(t).await;
    let long = format!("<b>{}", "x".repeat(2000));
    h.h.store
        .fail_attempt(
            &c.id,
            c.fence,
            &retry,
            &attempt(1234, Some(502), "http_error", &long),
        )
        .await
        .unwrap();
    let c = claim(t).await;
    let no_answer = Failure {
        status: None,
        error: "connection refused".into(),
        ..retry.clone()
    };
    h.h.store
        .fail_attempt(
            &c.id,
            c.fence,
            &no_answer,
            &store::NewAttempt {
                excerpt: None,
                ..attempt(7, None, "network", "")
            },
        )
        .await
        .unwrap();
    let c = claim(t).await;
    h.h.store
        .complete_attempt(
            &c.id,
            c.fence,
            200,
            t,
            &attempt(56, Some(200), "delivered", "<script>alert(1)</script>"),
        )
        .await
        .unwrap();

    let page = h.ok(&format!("/ui/events/{id}")).await;
    assert!(page.contains("<caption id=\"attempts-1\">Attempts to app, oldest first</caption>"));
    assert!(!page.contains("<script>alert(1)"), "escaped");
    assert!(
        page.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || page.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    assert!(!page.contains("<b>x"), "escaped");
    // Capped at 1 KiB: "<b>" then 1021 x, never more.
    assert!(page.contains(&"x".repeat(1021)) && !page.contains(&"x".repeat(1022)));
    for cell in [
        "<td class=\"num\">1234</td>",
        "<td class=\"num\">7</td>",
        "<td class=\"num\">56</td>",
        "<td>502</td>",
        "<td>200</td>",
        "no answer",
        "HTTP error",
    ] {
        assert!(page.contains(cell), "{cell}");
    }
    for n in 1..=3 {
        assert!(page.contains(&format!("<th scope=\"row\" class=\"num\">{n}</th>")));
    }

    // The API shows them too, per delivery.
    let v: serde_json::Value =
        h.h.http
            .get(h.h.url(&format!("/api/events/{id}")))
            .bearer_auth(&h.h.app)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let a = v["deliveries"][0]["attempt_history"].as_array().unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(
        a.iter()
            .map(|x| (
                x["number"].as_u64(),
                x["status"].as_u64(),
                x["duration_ms"].as_u64()
            ))
            .collect::<Vec<_>>(),
        [
            (Some(1), Some(502), Some(1234)),
            (Some(2), None, Some(7)),
            (Some(3), Some(200), Some(56)),
        ]
    );
    assert_eq!(a[1]["outcome"], "network");
    assert_eq!(a[0]["excerpt"].as_str().unwrap().len(), 1024);
}

/// An OAuth2 connection of `gh` stored as the engine would after a connect flow, its
/// credentials sealed (tokens that must never show), with a health check.
async fn store_connection(h: &H, id: &str, end_user: &str) {
    let now = store::now();
    let c = store::Connection {
        id: id.into(),
        integration: "gh".into(),
        provider: "github".into(),
        end_user_id: end_user.into(),
        auth_mode: "oauth2".into(),
        status: store::ConnectionStatus::Active,
        scopes: vec!["repo".into(), "read:org".into()],
        missing_scopes: vec!["admin:repo_hook".into()],
        settings: [("shop".to_owned(), "acme <b>".to_owned())].into(),
        routing_key: None,
        expires_at: Some(now + chrono::Duration::hours(1)),
        created_at: now,
        updated_at: now,
        last_refresh_at: Some(now),
        last_error: Some("the provider said <slow down>".into()),
        refresh_failures: 0,
        next_refresh_at: None,
        token_version: 1,
        token_obtained_at: Some(now),
        health: Some(store::HealthCheck {
            checked_at: now,
            result: store::HealthResult::Unavailable,
            detail: Some("HTTP 503 from the provider".into()),
        }),
    };
    let slot = store::credentials_slot(id);
    let ciphertext = h
        .h
        .engine
        .keyring()
        .seal(
            serde_json::json!({"access_token": "gho_SECRET_access", "refresh_token": "SECRET_refresh"})
                .to_string()
                .as_bytes(),
            vault::Aad::new(&slot.owner, &slot.name, &slot.owner_id),
        )
        .unwrap();
    let sealed = store::SealedCredentials {
        key_id: h.h.engine.keyring().primary().id().to_string(),
        ciphertext,
    };
    store::ConnectionStore::upsert_connection(&h.h.store, &c, &sealed)
        .await
        .unwrap();
    let check = c.health.clone().unwrap();
    assert!(
        store::ConnectionStore::record_health_check(&h.h.store, id, &check)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_connection_page_shows_its_facts_and_events_and_never_a_token() {
    let h = start().await;
    store_connection(&h, "conn-1", "user one").await;
    store_connection(&h, "conn-2", "user two").await;
    let mut mine = Vec::new();
    for (n, conn) in [(1, "conn-1"), (2, "conn-2"), (3, "conn-1")] {
        let mut e = Event {
            id: engine::ids::new_event_id(),
            integration: "gh".into(),
            received_at: store::now(),
            provider_event_id: Some(format!("c-{n}")),
            event_type: Some("issues".into()),
            scheme: "github".into(),
            headers: vec![],
            body: br#"{"action":"opened"}"#.to_vec(),
            connection_id: Some(conn.into()),
            routing_key: None,
        };
        h.h.store.insert_event(&e).await.unwrap();
        if conn == "conn-1" {
            mine.push(std::mem::take(&mut e.id));
        }
    }
    // The list links to it.
    let list = h.ok("/ui/connections").await;
    assert!(list.contains(r#"href="/ui/connections/conn-1""#), "{list}");

    let page = h.ok("/ui/connections/conn-1").await;
    for shown in [
        "user one",
        "github, oauth2",
        "repo read:org",
        "admin:repo_hook",
        "acme &#60;b&#62;",
        "the provider said &#60;slow down&#62;",
        "unavailable at ",
        "HTTP 503 from the provider",
        "Token obtained",
        "Token expires",
        r#"action="/ui/connections/conn-1/refresh""#,
        r#"action="/ui/connections/conn-1/check""#,
        r#"action="/ui/connections/conn-1/disconnect""#,
        r#"name="confirm""#,
        "end_user=user+one",
    ] {
        assert!(page.contains(shown), "{shown}: {page}");
    }
    // Its own events, newest first, and not the other connection's.
    let (a, b) = (page.find(&mine[1]).unwrap(), page.find(&mine[0]).unwrap());
    assert!(a < b, "newest first");
    assert_eq!(page.matches("href=\"/ui/events/evt_").count(), 2, "{page}");
    // `get` checked that no SECRET (the sealed tokens) shows.

    // The disconnect from this page asks for the box like the confirmation page.
    let res = h.post("/ui/connections/conn-1/disconnect", &[], None).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(h.ok("/ui/connections/conn-1").await.contains("active"));

    h.bad("/ui/connections/nope", StatusCode::NOT_FOUND, "connection")
        .await;
    h.bad(
        "/ui/connections/%2Fbad",
        StatusCode::BAD_REQUEST,
        "connection id",
    )
    .await;
    // Signed out: a malformed id is still a 400; a good one goes to sign in.
    let res = h
        .http
        .get(h.h.url("/ui/connections/conn-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(location(&res).starts_with("/ui/sign-in"));
}

#[tokio::test]
async fn the_audit_page_checks_from_its_checkpoint_and_says_when_earlier_rows_were_verified() {
    let h = start().await;
    let first = h.ok("/ui/audit").await;
    assert!(first.contains("walked the whole chain just now"), "{first}");
    h.h.engine
        .audit(
            &engine::Actor::System,
            "test.row",
            "t",
            serde_json::json!({}),
        )
        .await
        .unwrap();
    let next = h.ok("/ui/audit").await;
    assert!(
        next.contains("were verified by a walk of the whole chain on"),
        "{next}"
    );
    assert!(next.contains("as they were added"), "{next}");
    assert!(next.contains("intact"));

    // A row before the checkpoint edited behind the application's back: a check from
    // the checkpoint does not read it, and does not claim to have.
    sqlx::query("DROP TRIGGER audit_log_no_update")
        .execute(h.h.store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET action = 'edited' WHERE seq = 1")
        .execute(h.h.store.pool())
        .await
        .unwrap();
    let after = h.ok("/ui/audit").await;
    assert!(
        after.contains("a row edited since its check shows at the next walk"),
        "{after}"
    );

    // Without the CSRF token the button does nothing.
    assert_eq!(
        h.post("/ui/audit/verify", &[], Some("wrong"))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.post("/ui/audit/verify", &[("x", "1")], None)
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    // The button walks the whole chain and finds it; every load after says so.
    let res = h.post("/ui/audit/verify", &[], None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/ui/audit?done=verified");
    for _ in 0..2 {
        let page = h.ok("/ui/audit?done=verified").await;
        assert!(page.contains("broken"), "{page}");
        assert!(
            page.contains("row 1: its content does not match its hash"),
            "{page}"
        );
        assert!(!page.contains("badge ok"), "{page}");
    }
}
