//! Rate limits across instances: three `switchboard serve` processes on one PostgreSQL
//! schema, in front of one local upstream that counts arrivals, keep an integration's
//! `rate_limit` for all of them together, not for each.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{self, Server, eventually};
use crate::postgres::pg_schema;

/// The integration's limit, per second (its burst is the same).
const LIMIT: u32 = 20;
/// Concurrent callers on each instance.
const CALLERS: usize = 6;
/// Callers run this long before counting starts (startup bursts, first rebalances).
const WARM_UP: Duration = Duration::from_secs(3);
/// Arrivals are counted over this window.
const WINDOW: Duration = Duration::from_secs(6);

/// When each proxied request reached the upstream.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<Instant>>>);

impl Arrivals {
    fn between(&self, from: Instant, to: Instant) -> usize {
        let seen = self.0.lock().unwrap();
        seen.iter().filter(|t| **t >= from && **t < to).count()
    }
}

async fn start_upstream() -> (String, Arrivals) {
    let arrivals = Arrivals::default();
    let seen = arrivals.clone();
    let app = axum::Router::new()
        .route(
            "/token",
            axum::routing::post(|| async {
                axum::Json(
                    json!({"access_token": "rl-token", "token_type": "Bearer", "expires_in": 3600}),
                )
            }),
        )
        .fallback(move || {
            let seen = seen.clone();
            async move {
                seen.0.lock().unwrap().push(Instant::now());
                "ok"
            }
        });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (base, arrivals)
}

/// The live-instances gauge on `server`'s `/metrics`.
async fn live_instances(server: &Server) -> Option<u64> {
    let m = server.get("/metrics", None).await.text().await.ok()?;
    m.lines()
        .find_map(|l| l.strip_prefix("switchboard_instances_live "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

/// Three instances on one PostgreSQL schema, each with six callers looping on one
/// connection of an integration limited to 20 requests/s (`on_limit = "wait"`: callers
/// queue, so every instance always wants more than its share), for 3 s of warm-up and
/// then 6 s counted at the upstream. Without shared limits the upstream would see about
/// 60/s.
///
/// Tolerance: arrivals ≤ 20 × 6 + 20 + 12, i.e. the limit over the window, plus one
/// whole burst (tokens the instances' buckets may hold when counting starts; their
/// bursts are split like the rate, so together they hold at most 20), plus 10 % of the
/// window's budget for rebalancing (shares follow demand at each 200 ms heartbeat; a
/// share that shrinks applies at once, one that grows a heartbeat later, so the sum of
/// shares only exceeds the limit while instances' snapshots differ by a beat). And not
/// starved: at least 60 % of 20/s, so the test proves the limit is split, not that
/// everything is blocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_on_one_database_keep_an_integration_rate_limit_together() {
    let schema = pg_schema().await;
    let (up, arrivals) = start_upstream().await;
    let (master_key, _) = harness::master_key();
    let config = format!(
        r#"
instance_heartbeat_ms = 200

[[providers]]
id = "local"
auth_mode = "client_credentials"
token_url = "{up}/token"
api_base_url = "{up}/api"

[[integrations]]
id = "shared"
provider = "local"
client_id = "local-client"
client_secret = "env:LOCAL_CLIENT_SECRET"
rate_limit = {{ per_second = {LIMIT}, burst = {LIMIT}, on_limit = "wait" }}
"#
    );
    let envs = [
        ("SWITCHBOARD_DATABASE_URL", schema.url.as_str()),
        ("SWITCHBOARD_MASTER_KEY", master_key.as_str()),
        ("LOCAL_CLIENT_SECRET", "local-secret-value"),
    ];
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| harness::sandbox()).collect();
    let mut servers = Vec::new();
    for dir in &dirs {
        std::fs::write(dir.path().join("switchboard.toml"), &config).unwrap();
        servers.push(Server::start(dir.path(), &["--dev"], &envs).await);
    }
    // The first instance made the one admin key; it works on all three (one database).
    let key = servers[0].printed_admin_key();
    let r = servers[0]
        .http()
        .post(servers[0].url("/api/connections"))
        .bearer_auth(&key)
        .json(&json!({"integration": "shared", "connection_id": "c1", "end_user_id": "u1"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    for s in &servers {
        eventually("every instance to see three live instances", || async {
            (live_instances(s).await == Some(3)).then_some(())
        })
        .await;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = tokio::task::JoinSet::new();
    for s in &servers {
        for _ in 0..CALLERS {
            let (http, url, key, stop) = (
                s.http().clone(),
                s.url("/api/proxy/c1/limited"),
                key.clone(),
                stop.clone(),
            );
            callers.spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let r = http
                        .get(&url)
                        .bearer_auth(&key)
                        .timeout(Duration::from_secs(60))
                        .send()
                        .await
                        .unwrap();
                    statuses.push(r.status().as_u16());
                }
                statuses
            });
        }
    }
    tokio::time::sleep(WARM_UP).await;
    let from = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let to = Instant::now();
    stop.store(true, Ordering::SeqCst);
    let mut answered = 0usize;
    while let Some(statuses) = callers.join_next().await {
        let statuses = statuses.unwrap();
        assert!(
            statuses.iter().all(|s| *s == 200),
            "callers wait for their turn, they are not refused: {statuses:?}"
        );
        answered += statuses.len();
    }

    let counted = arrivals.between(from, to);
    let secs = (to - from).as_secs_f64();
    let budget = f64::from(LIMIT) * secs;
    let most = budget + f64::from(LIMIT) + 0.1 * budget;
    let least = 0.6 * budget;
    eprintln!(
        "upstream saw {counted} requests in {secs:.2} s ({:.1}/s; limit {LIMIT}/s, bounds {least:.0}..={most:.0}); callers were answered {answered} times",
        counted as f64 / secs
    );
    assert!(
        (counted as f64) <= most,
        "the upstream saw {counted} requests in {secs:.2} s: more than {LIMIT}/s across the three instances (at most {most:.0})"
    );
    assert!(
        (counted as f64) >= least,
        "the upstream saw only {counted} requests in {secs:.2} s: the instances starved each other (at least {least:.0})"
    );
    // Each instance reports its share of the limit.
    for s in &servers {
        let m = s.get("/metrics", None).await.text().await.unwrap();
        assert!(
            m.contains("switchboard_rate_limit_share{kind=\"integration\",id=\"shared\"}"),
            "{m}"
        );
    }
    // A graceful stop leaves the instances table at once.
    let mut last = servers.pop().unwrap();
    last.stop();
    for s in &servers {
        eventually("the others to see two live instances", || async {
            (live_instances(s).await == Some(2)).then_some(())
        })
        .await;
    }
}
