//! The security self-audit's engine half: one test per finding it makes, and a clean
//! configuration that makes none.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use store::{Scope, SecretSlot};
use vault::SecretString;

use super::{TamperStore, key, memory_store, ring};
use crate::security::{CODES, Checks, Finding, Severity};
use crate::{Actor, Engine, ManualClock};

const WHSEC_32: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const GH_SECRET: &str = "0123456789abcdef0123456789abcdef-long";

fn cfg(text: &str) -> config::Config {
    config::Config::from_toml(text, "t.toml", &BTreeMap::new(), &Default::default())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// An engine over a fresh memory store with `text` as its configuration, on a manual
/// clock, in production mode unless `dev`.
async fn engine_with(text: &str, dev: bool) -> (Engine, ManualClock) {
    let clock = ManualClock::new();
    let store = memory_store().await;
    let c = cfg(text);
    // The most permissive catalog (http:// providers are refused outside dev when the
    // server starts), so that the audit reports what a production start would refuse.
    let (catalog, _) = c.catalog(true).unwrap();
    let e = Engine::new(Arc::new(store), ring(&key(), &[]), c)
        .with_catalog(catalog)
        .with_dev(dev)
        .with_clock(clock.clone());
    (e, clock)
}

async fn findings(text: &str) -> Vec<Finding> {
    let (e, _) = engine_with(text, false).await;
    e.security_findings().await.unwrap()
}

fn codes(f: &[Finding]) -> Vec<&'static str> {
    f.iter().map(|f| f.code).collect()
}

fn only<'a>(f: &'a [Finding], code: &str) -> Vec<&'a Finding> {
    f.iter().filter(|f| f.code == code).collect()
}

/// A production-like configuration with nothing to find.
const CLEAN: &str = r#"
listen = "127.0.0.1:8080"
public_url = "https://sb.example.com"

[[integrations]]
id = "github-main"
provider = "github"
client_id = "Iv1.abc"
client_secret = "client-secret-value"
allowed_return_origins = ["https://app.example", "http://localhost:3000"]
webhook_secrets = ["0123456789abcdef0123456789abcdef-long"]

[[destinations]]
id = "app"
url = "https://app.example/hooks"
secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
"#;

#[tokio::test]
async fn a_clean_configuration_has_no_finding() {
    let f = findings(CLEAN).await;
    assert!(f.is_empty(), "{f:#?}");
}

#[tokio::test]
async fn every_code_made_here_is_documented_and_unique() {
    let mut seen = std::collections::BTreeSet::new();
    for c in CODES {
        assert!(seen.insert(c.code), "{} twice", c.code);
        assert!(c.code.starts_with("SB-"), "{}", c.code);
        assert!(matches!(c.made_by, "engine" | "files"));
    }
    let f = Finding::new("SB-WH-002", "t", "f");
    assert_eq!(f.severity, Severity::Medium);
}

#[tokio::test]
async fn http_and_private_addresses_are_flagged_outside_dev() {
    let text = r#"
[[providers]]
id = "acme"
authorization_url = "http://127.0.0.1:9001/authorize"
token_url = "https://10.1.2.3/token"

[[integrations]]
id = "acme-main"
provider = "acme"
client_id = "c"
settings = {}

[[destinations]]
id = "local"
url = "http://127.0.0.1:9000/hooks"
secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
"#;
    let f = findings(text).await;
    let net1 = only(&f, "SB-NET-001");
    let net2 = only(&f, "SB-NET-002");
    assert_eq!(net1.len(), 2, "{f:#?}");
    assert!(net1.iter().all(|f| f.severity == Severity::High));
    assert!(
        net1.iter()
            .any(|f| f.integration.as_deref() == Some("acme-main")
                && f.title.contains("authorization_url"))
    );
    assert!(
        net1.iter()
            .any(|f| f.subject.as_deref() == Some("destination:local"))
    );
    assert_eq!(net2.len(), 3, "{f:#?}");
    assert!(net2.iter().any(|f| f.title.contains("10.1.2.3")));
    assert!(
        net2.iter()
            .any(|f| f.subject.as_deref() == Some("destination:local"))
    );

    // Under --dev they are what development looks like.
    let (e, _) = engine_with(text, true).await;
    let f = e.security_findings().await.unwrap();
    assert!(
        only(&f, "SB-NET-001").is_empty() && only(&f, "SB-NET-002").is_empty(),
        "{f:#?}"
    );
}

#[tokio::test]
async fn integration_settings_naming_private_hosts_are_flagged() {
    let f = findings(
        r#"
[[integrations]]
id = "okta-main"
provider = "okta"
client_id = "c"
settings = { domain = "192.168.1.20" }
"#,
    )
    .await;
    let net = only(&f, "SB-NET-002");
    assert_eq!(net.len(), 1, "{f:#?}");
    assert_eq!(net[0].integration.as_deref(), Some("okta-main"));
}

#[tokio::test]
async fn allow_hosts_in_private_ranges_are_flagged_metadata_as_high() {
    let f = findings(
        r#"allow_hosts = ["api.partner.example", "127.0.0.1", "10.0.0.8", "169.254.169.254", "fd00::1", "localhost"]"#,
    )
    .await;
    let net = only(&f, "SB-NET-003");
    let subjects: Vec<&str> = net.iter().filter_map(|f| f.subject.as_deref()).collect();
    assert_eq!(net.len(), 5, "{f:#?}");
    assert!(!subjects.contains(&"config:allow_hosts[0]"));
    let metadata = net
        .iter()
        .find(|f| f.subject.as_deref() == Some("config:allow_hosts[3]"))
        .unwrap();
    assert_eq!(metadata.severity, Severity::High);
    assert!(metadata.title.contains("metadata"));
    assert!(
        net.iter()
            .filter(|f| f.subject.as_deref() != Some("config:allow_hosts[3]"))
            .all(|f| f.severity == Severity::Medium)
    );
}

#[tokio::test]
async fn an_integration_receiving_webhooks_without_a_secret_is_flagged() {
    let f = findings(
        r#"
[[integrations]]
id = "hooks"
provider = "standard-webhooks"

[[integrations]]
id = "gh-oauth-only"
provider = "github"
client_id = "c"
"#,
    )
    .await;
    let wh = only(&f, "SB-WH-001");
    assert_eq!(wh.len(), 1, "{f:#?}");
    assert_eq!(wh[0].integration.as_deref(), Some("hooks"));
}

#[tokio::test]
async fn a_tolerance_over_15_minutes_is_flagged() {
    let text = |t: u64| {
        format!(
            "[[integrations]]\nid = \"hooks\"\nprovider = \"standard-webhooks\"\nwebhook_secrets = [\"{WHSEC_32}\"]\nwebhook_tolerance_secs = {t}\n"
        )
    };
    assert!(only(&findings(&text(900)).await, "SB-WH-002").is_empty());
    let f = findings(&text(901)).await;
    let wh = only(&f, "SB-WH-002");
    assert_eq!(wh.len(), 1, "{f:#?}");
    assert!(wh[0].title.contains("901"));
    assert_eq!(wh[0].integration.as_deref(), Some("hooks"));
}

#[tokio::test]
async fn short_webhook_secrets_are_flagged_by_their_schemes_rule() {
    let f = findings(&format!(
        r#"
[[integrations]]
id = "gh"
provider = "github"
webhook_secrets = ["{GH_SECRET}", "short-secret"]

[[integrations]]
id = "hooks"
provider = "standard-webhooks"
webhook_secrets = ["whsec_MDEyMzQ1Njc4OWFiY2RlZg=="]
"#
    ))
    .await;
    let wh = only(&f, "SB-WH-003");
    assert_eq!(wh.len(), 2, "{f:#?}");
    let gh = wh
        .iter()
        .find(|f| f.integration.as_deref() == Some("gh"))
        .unwrap();
    assert!(
        gh.title.contains("webhook_secrets[1]") && gh.title.contains("12 characters"),
        "{}",
        gh.title
    );
    assert!(gh.title.contains("at least 32 characters"), "{}", gh.title);
    let sw = wh
        .iter()
        .find(|f| f.integration.as_deref() == Some("hooks"))
        .unwrap();
    assert!(sw.title.contains("16 bytes"), "{}", sw.title);
    // No value in any finding.
    for f in &f {
        assert!(!format!("{f:?}").contains("short-secret"));
    }
}

#[tokio::test]
async fn short_destination_secrets_are_flagged() {
    // The configuration refuses a destination secret under 24 bytes, so the engine is
    // given one directly, as a future relaxed loader might.
    let (e, _) = engine_with(CLEAN, false).await;
    let mut c = (*e.config()).clone();
    c.destinations[0].secret = Some(SecretString::from("whsec_MDEyMzQ1Njc4OWFi".to_owned()));
    e.reload_config(c, &Actor::System).await.unwrap();
    let f = e.security_findings().await.unwrap();
    let d = only(&f, "SB-DEST-001");
    assert_eq!(d.len(), 1, "{f:#?}");
    assert_eq!(d[0].subject.as_deref(), Some("destination:app"));
}

#[tokio::test]
async fn return_origins_with_wildcards_or_plain_http_are_flagged() {
    let f = findings(
        r#"
[[integrations]]
id = "gh"
provider = "github"
client_id = "c"
allowed_return_origins = ["https://*.app.example", "http://app.example", "http://127.0.0.1:3000", "https://app.example"]
"#,
    )
    .await;
    let wild = only(&f, "SB-ORIGIN-001");
    let http = only(&f, "SB-ORIGIN-002");
    assert_eq!((wild.len(), http.len()), (1, 1), "{f:#?}");
    assert_eq!(wild[0].severity, Severity::High);
    assert!(http[0].title.contains("http://app.example"));
    assert_eq!(http[0].integration.as_deref(), Some("gh"));
}

#[tokio::test]
async fn pkce_turned_off_for_a_custom_provider_is_flagged() {
    let f = findings(
        r#"
[[providers]]
id = "acme"
token_url = "https://id.acme.example/token"
authorization_url = "https://id.acme.example/authorize"
pkce = false

[[integrations]]
id = "acme-main"
provider = "acme"
client_id = "c"
"#,
    )
    .await;
    let p = only(&f, "SB-PKCE-001");
    assert_eq!(p.len(), 1, "{f:#?}");
    assert_eq!(p[0].integration.as_deref(), Some("acme-main"));
    assert_eq!(p[0].severity, Severity::Medium);
}

#[tokio::test]
async fn api_keys_unused_for_90_days_or_older_than_a_year_are_flagged() {
    let (e, clock) = engine_with(CLEAN, false).await;
    let actor = Actor::System;
    let used = e
        .create_api_key("used", Scope::Admin, &actor)
        .await
        .unwrap();
    let idle = e.create_api_key("idle", Scope::App, &actor).await.unwrap();
    let revoked = e.create_api_key("gone", Scope::App, &actor).await.unwrap();
    e.revoke_api_key(&revoked.info.id, &actor).await.unwrap();

    clock.advance(Duration::from_secs(89 * 86_400));
    e.authenticate(&used.key).await.unwrap();
    assert!(e.security_findings().await.unwrap().is_empty());

    clock.advance(Duration::from_secs(2 * 86_400));
    let f = e.security_findings().await.unwrap();
    let unused = only(&f, "SB-APIKEY-001");
    assert_eq!(unused.len(), 1, "{f:#?}");
    assert_eq!(unused[0].subject, Some(format!("api_key:{}", idle.info.id)));
    assert!(unused[0].title.contains("never used"));
    assert!(
        unused[0]
            .fix
            .contains(&format!("switchboard api-key revoke {}", idle.info.id))
    );

    // A year on, both live keys are due for rotation; the revoked one is never listed.
    clock.advance(Duration::from_secs(275 * 86_400));
    e.authenticate(&used.key).await.unwrap();
    let f = e.security_findings().await.unwrap();
    let old = only(&f, "SB-APIKEY-002");
    assert_eq!(old.len(), 2, "{f:#?}");
    assert!(old.iter().all(|f| f.severity == Severity::Low));
    assert!(
        !f.iter()
            .any(|f| f.subject == Some(format!("api_key:{}", revoked.info.id)))
    );
}

#[tokio::test]
async fn secrets_under_an_old_or_unknown_key_are_flagged() {
    let sqlite = memory_store().await;
    let (a, b, c) = (key(), key(), key());
    let slot = |n: &str| SecretSlot {
        owner: "test".into(),
        owner_id: n.into(),
        name: "s".into(),
    };
    let ea = Engine::new(Arc::new(sqlite.clone()), ring(&a, &[]), cfg(CLEAN));
    ea.put_secret(&slot("1"), &SecretString::from("v".to_owned()))
        .await
        .unwrap();
    let ec = Engine::new(Arc::new(sqlite.clone()), ring(&c, &[]), cfg(CLEAN));
    ec.put_secret(&slot("2"), &SecretString::from("v".to_owned()))
        .await
        .unwrap();

    // b is primary, a an old key still holding a secret, c not configured at all.
    let eb = Engine::new(Arc::new(sqlite.clone()), ring(&b, &[&a]), cfg(CLEAN));
    let f = eb.security_findings().await.unwrap();
    let old = only(&f, "SB-KEY-005");
    let unknown = only(&f, "SB-KEY-006");
    assert_eq!((old.len(), unknown.len()), (1, 1), "{f:#?}");
    assert!(old[0].title.contains(&a.id().to_string()));
    assert!(old[0].fix.contains("switchboard keys rotate"));
    assert_eq!(unknown[0].severity, Severity::High);
    assert!(unknown[0].title.contains(&c.id().to_string()));
    // High first.
    assert_eq!(f[0].code, "SB-KEY-006");

    // Rotation finished: nothing under a (c still is).
    eb.rotate_keys(10, &Actor::System, &|_| {}).await.ok();
    let ec2 = Engine::new(Arc::new(sqlite.clone()), ring(&b, &[&a, &c]), cfg(CLEAN));
    ec2.rotate_keys(10, &Actor::System, &|_| {}).await.unwrap();
    assert!(only(&ec2.security_findings().await.unwrap(), "SB-KEY-005").is_empty());
}

#[tokio::test]
async fn a_broken_audit_chain_is_flagged_unless_skipped() {
    let sqlite = memory_store().await;
    let t = TamperStore::new(sqlite);
    let e = Engine::new(t.clone(), ring(&key(), &[]), cfg(CLEAN));
    for i in 0..3 {
        e.audit(
            &Actor::System,
            "test.row",
            &format!("t{i}"),
            serde_json::json!({}),
        )
        .await
        .unwrap();
    }
    assert!(e.security_findings().await.unwrap().is_empty());
    t.set(|t| {
        t.edited.insert(2);
    });
    let f = e.security_findings().await.unwrap();
    let a = only(&f, "SB-AUDIT-001");
    assert_eq!(a.len(), 1, "{f:#?}");
    assert!(a[0].title.contains("row 2"), "{}", a[0].title);
    assert_eq!(a[0].severity, Severity::High);
    let quick = e
        .security_findings_with(Checks { audit_chain: false })
        .await
        .unwrap();
    assert!(quick.is_empty(), "{quick:#?}");
}

#[tokio::test]
async fn metrics_on_a_public_listener_without_protection_are_flagged() {
    let public = "listen = \"0.0.0.0:8080\"\npublic_url = \"https://sb.example.com\"\n";
    let f = findings(public).await;
    assert_eq!(codes(&f), ["SB-METRICS-001"], "{f:#?}");
    assert!(
        findings(&format!("{public}metrics_listen = \"127.0.0.1:9464\""))
            .await
            .is_empty()
    );
    assert!(
        findings(&format!("{public}metrics_key = \"0123456789abcdef0123\""))
            .await
            .is_empty()
    );
    assert!(findings("listen = \"[::1]:8080\"").await.is_empty());
}

#[test]
fn the_readme_documents_every_code() {
    let readme = include_str!("../../../../README.md");
    for c in CODES {
        assert!(
            readme.contains(&format!("| `{}` |", c.code)),
            "README.md's Security self-audit table lacks {}",
            c.code
        );
    }
}

#[tokio::test]
async fn a_public_url_over_plain_http_is_flagged_unless_loopback_or_dev() {
    let f = findings("public_url = \"http://sb.example.com\"").await;
    let n = only(&f, "SB-NET-004");
    assert_eq!(n.len(), 1, "{f:#?}");
    assert_eq!(n[0].subject.as_deref(), Some("config:public_url"));
    assert!(
        findings("public_url = \"http://localhost:8080\"")
            .await
            .is_empty()
    );
    assert!(findings("").await.is_empty(), "the default is loopback");
    let (e, _) = engine_with("public_url = \"http://sb.example.com\"", true).await;
    assert!(e.security_findings().await.unwrap().is_empty());
}

#[tokio::test]
async fn pkce_turned_off_for_an_unused_provider_is_low() {
    let f = findings(
        r#"
[[providers]]
id = "acme"
token_url = "https://id.acme.example/token"
authorization_url = "https://id.acme.example/authorize"
pkce = false
"#,
    )
    .await;
    let p = only(&f, "SB-PKCE-001");
    assert_eq!(p.len(), 1, "{f:#?}");
    assert_eq!(p[0].severity, Severity::Low);
    assert_eq!(p[0].integration, None);
    assert_eq!(p[0].subject.as_deref(), Some("provider:acme"));
    assert!(
        p[0].title.contains("no integration uses it yet"),
        "{}",
        p[0].title
    );
}

#[test]
fn severities_are_named_in_lowercase() {
    let all = [
        (Severity::High, "high"),
        (Severity::Medium, "medium"),
        (Severity::Low, "low"),
        (Severity::Info, "info"),
    ];
    for (s, name) in all {
        assert_eq!(s.as_str(), name);
        assert_eq!(s.to_string(), name);
    }
}
