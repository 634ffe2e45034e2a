//! `switchboard webhook test --count N --concurrency C`: a load test against a running
//! server that delivers to a small in-test destination. 200 events at concurrency 8
//! are all accepted and delivered, with percentiles; an integration with destinations
//! is refused without `--yes`; bad values exit 2 and send nothing; `--count 1` keeps
//! the single test's output.

use std::path::Path;
use std::sync::atomic::Ordering;

use serde_json::Value;

use crate::harness::{self, Destination, Output, Server};

const SECRET: &str = "load-webhook-secret";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `gh` delivers to `app`; `solo` has no destination.
fn write_config(dir: &Path, url: &str) {
    std::fs::write(
        dir.join("switchboard.toml"),
        format!(
            r#"
[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["{SECRET}"]

[[integrations]]
id = "solo"
provider = "github"
webhook_secrets = ["{SECRET}"]

[[destinations]]
id = "app"
url = "{url}"
secret = "{WHSEC}"
integrations = ["gh"]
event_types = ["*"]
"#
        ),
    )
    .unwrap();
}

/// Runs the CLI off the async threads (the in-test destination must keep answering).
async fn cli(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        harness::run(&dir, &args, &envs)
    })
    .await
    .unwrap()
}

async fn event_count(server: &Server, key: &str, integration: &str) -> usize {
    let v = server
        .get_json(
            &format!("/api/events?integration={integration}&limit=500"),
            key,
        )
        .await;
    v["data"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_events_at_concurrency_eight_are_accepted_and_delivered() {
    let (dest, url) = Destination::start(200).await;
    let hits = &dest.hits;
    let dir = harness::sandbox();
    write_config(dir.path(), &url);
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    let key = server.printed_admin_key();
    let d = dir.path();
    let env = [
        ("SWITCHBOARD_URL", server.base.as_str()),
        ("SWITCHBOARD_API_KEY", key.as_str()),
    ];

    // Destinations downstream: refused without --yes, nothing sent.
    let out = cli(
        d,
        &[
            "webhook",
            "test",
            "gh",
            "--count",
            "200",
            "--concurrency",
            "8",
        ],
        &env,
    )
    .await;
    out.exit_code(2)
        .stderr_has(&["app (", "--yes", "200 sample events"]);
    let v = cli(
        d,
        &["webhook", "test", "gh", "--count", "5", "--json"],
        &env,
    )
    .await
    .exit_code(2)
    .json();
    assert_eq!(v["error"]["code"], "live_destinations");

    // Bad values: exit 2, nothing sent.
    for bad in [
        &["--count", "0"][..],
        &["--concurrency", "0"],
        &["--count", "x"],
        &["--count", "3", "--wait-secs", "-1"],
    ] {
        let mut args = vec!["webhook", "test", "solo"];
        args.extend_from_slice(bad);
        cli(d, &args, &env).await.exit_code(2);
        args.push("--json");
        let v = cli(d, &args, &env).await.exit_code(2).json();
        assert_eq!(v["error"]["code"], "usage", "{bad:?}");
    }
    // Following deliveries needs a key.
    cli(
        d,
        &["webhook", "test", "solo", "--count", "2"],
        &[("SWITCHBOARD_URL", server.base.as_str())],
    )
    .await
    .exit_code(2)
    .stderr_has(&["SWITCHBOARD_API_KEY", "--wait-secs 0"]);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(event_count(&server, &key, "gh").await, 0);
    assert_eq!(event_count(&server, &key, "solo").await, 0);

    // The load test itself.
    let out = cli(
        d,
        &[
            "webhook",
            "test",
            "gh",
            "--count",
            "200",
            "--concurrency",
            "8",
            "--yes",
            "--json",
        ],
        &env,
    )
    .await;
    out.success();
    let r = out.json();
    assert_eq!(r["count"], 200);
    assert_eq!(r["concurrency"], 8);
    assert_eq!(r["accepted"], 200, "{r}");
    assert_eq!(r["refused"], serde_json::json!({}));
    assert_eq!(r["ok"], true);
    assert_eq!(r["deliveries"]["delivered"], 200, "{r}");
    assert_eq!(r["deliveries"]["dead"], 0);
    assert_eq!(r["deliveries"]["pending"], 0);
    assert_eq!(r["deliveries"]["timed_out"], false);
    for lat in ["intake_latency_ms", "end_to_end_latency_ms"] {
        let p = &r[lat];
        let (p50, p90, p99, max) = (
            p["p50"].as_f64().unwrap(),
            p["p90"].as_f64().unwrap(),
            p["p99"].as_f64().unwrap(),
            p["max"].as_f64().unwrap(),
        );
        assert!(p50 <= p90 && p90 <= p99 && p99 <= max, "{lat}: {p}");
        assert!(p50 >= 0.0, "{lat}: {p}");
    }
    assert!(r["throughput_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(hits.load(Ordering::SeqCst), 200);
    assert_eq!(
        event_count(&server, &key, "gh").await,
        200,
        "each sample its own id"
    );
    let numbers: Value = r.clone();
    eprintln!("load test report: {numbers}");

    // For people: the same numbers as lines; an integration without destinations
    // needs no --yes.
    let out = cli(
        d,
        &[
            "webhook",
            "test",
            "solo",
            "--count",
            "3",
            "--concurrency",
            "2",
        ],
        &env,
    )
    .await;
    out.success();
    for needle in [
        "load test of solo",
        "3 accepted · 0 refused",
        "intake     p50",
        "3 events without a destination",
        "ok",
    ] {
        assert!(out.stdout.contains(needle), "{needle}: {}", out.stdout);
    }

    // --count 1 without --concurrency: the single test, its output unchanged.
    let out = cli(d, &["webhook", "test", "gh"], &env).await;
    out.success();
    assert!(
        out.stdout
            .starts_with("accepted: github webhook stored as evt_"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_samples_are_counted_by_status_and_exit_1() {
    let dir = harness::sandbox();
    // The CLI signs with a secret the server does not have.
    std::fs::write(
        dir.path().join("switchboard.toml"),
        "[[integrations]]\nid = \"solo\"\nprovider = \"github\"\nwebhook_secrets = [\"server-secret\"]\n",
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--dev"], &[]).await;
    std::fs::write(
        dir.path().join("client.toml"),
        "[[integrations]]\nid = \"solo\"\nprovider = \"github\"\nwebhook_secrets = [\"wrong-secret\"]\n",
    )
    .unwrap();
    let key = server.printed_admin_key();
    let out = cli(
        dir.path(),
        &[
            "--config",
            "client.toml",
            "webhook",
            "test",
            "solo",
            "--count",
            "4",
            "--concurrency",
            "2",
            "--json",
        ],
        &[
            ("SWITCHBOARD_URL", server.base.as_str()),
            ("SWITCHBOARD_API_KEY", key.as_str()),
        ],
    )
    .await;
    out.exit_code(1);
    let r = out.json();
    assert_eq!(r["accepted"], 0);
    assert_eq!(r["refused"]["401"], 4, "{r}");
    assert_eq!(r["ok"], false);
    assert!(r["intake_latency_ms"]["p50"].is_number());
    assert_eq!(r["end_to_end_latency_ms"], Value::Null);
}
