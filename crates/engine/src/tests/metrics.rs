//! `Engine::init_metrics`: every metric described, and the series alert rules count over
//! present at zero per configured integration and destination before any traffic.

use std::collections::BTreeMap;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusBuilder;
use store::DeliveryStore;

use super::{key, memory_store, ring};
use crate::Engine;
use crate::metrics::{ALL, ATTEMPT_OUTCOMES, REFRESH_OUTCOMES};

fn config() -> config::Config {
    let text = "[[integrations]]\nid = \"gh\"\nprovider = \"github\"\nwebhook_secrets = [\"gh-webhook-secret-0123456789abcdef\"]\n\n\
         [[integrations]]\nid = \"gh-oauth\"\nprovider = \"github\"\nclient_id = \"Iv1.abc\"\nclient_secret = \"s3cret-s3cret\"\n\n\
         [[destinations]]\nid = \"app\"\nurl = \"https://app.example/hooks\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
         integrations = [\"gh\"]\nevent_types = [\"*\"]\n";
    config::Config::from_toml(text, "t.toml", &BTreeMap::new(), &Default::default()).unwrap()
}

/// What the Prometheus exporter renders after `init_metrics` ran under it.
fn rendered(engine: &Engine) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(engine.init_metrics());
        });
    });
    handle.render()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_is_described_and_alert_series_start_at_zero() {
    let store = memory_store().await;
    let engine = Engine::new(Arc::new(store.clone()), ring(&key(), &[]), config());
    let text = rendered(&engine);

    let series_or_help = |name: &str| {
        text.contains(&format!("# HELP {name} ")) || text.contains(&format!("# TYPE {name} "))
    };
    for (name, _, help) in ALL {
        assert!(!help.is_empty(), "{name} has no help text");
        // Only what has a series is rendered; those rendered carry their help.
        if text.contains(&format!("\n{name}{{")) || text.contains(&format!("\n{name} ")) {
            assert!(
                series_or_help(name),
                "{name} rendered without HELP/TYPE:\n{text}"
            );
        }
    }
    // Webhooks of every integration, stored and refused for lack of a match.
    for it in ["gh", "gh-oauth"] {
        for outcome in ["stored", "no_match"] {
            let line = format!(
                "switchboard_webhooks_total{{integration=\"{it}\",outcome=\"{outcome}\"}} 0"
            );
            assert!(text.contains(&line), "missing {line}:\n{text}");
        }
    }
    // Refresh outcomes and needs_reauth only for the integration with an OAuth client.
    for outcome in REFRESH_OUTCOMES {
        let line = format!(
            "switchboard_token_refreshes_total{{integration=\"gh-oauth\",outcome=\"{outcome}\"}} 0"
        );
        assert!(text.contains(&line), "missing {line}:\n{text}");
    }
    assert!(
        text.contains("switchboard_connections_needs_reauth_total{integration=\"gh-oauth\"} 0")
    );
    assert!(!text.contains("switchboard_token_refreshes_total{integration=\"gh\","));
    // Every attempt outcome per destination, and its disabled state.
    for outcome in ATTEMPT_OUTCOMES {
        let line = format!(
            "switchboard_delivery_attempts_total{{destination=\"app\",outcome=\"{outcome}\"}} 0"
        );
        assert!(text.contains(&line), "missing {line}:\n{text}");
    }
    assert!(text.contains("switchboard_destination_disabled{destination=\"app\"} 0"));

    // A destination disabled in the store shows as 1 once the metrics are set again.
    store
        .set_destination_disabled("app", true, Some("gone"), chrono::Utc::now())
        .await
        .unwrap();
    let text = rendered(&engine);
    assert!(
        text.contains("switchboard_destination_disabled{destination=\"app\"} 1"),
        "{text}"
    );
}
