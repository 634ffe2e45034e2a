//! Configuration reload.

use std::collections::BTreeMap;

use vault::ExposeSecret;

use super::{all_audit, setup};
use crate::Actor;

fn config_from(text: &str, name: &str) -> config::Config {
    config::Config::from_toml(text, name, &BTreeMap::new(), &Default::default()).unwrap()
}

#[tokio::test]
async fn reload_reports_changes_and_keeps_listen_and_database_url() {
    let (engine, store) = setup().await;
    let old = engine.config();
    let new = config_from(
        r#"
listen = "127.0.0.1:9999"
database_url = "sqlite://other.db"
public_url = "https://sb.example.com"
log_level = "debug"
log_format = "json"
max_body_bytes = 4096
allow_hosts = ["h.example.com"]
"#,
        "new.toml",
    );
    let (changed, restart) = engine
        .reload_config(new, &Actor::Signal("SIGHUP"))
        .await
        .unwrap();
    assert_eq!(
        changed,
        vec![
            "listen",
            "database_url",
            "public_url",
            "log_format",
            "log_level",
            "max_body_bytes",
            "allow_hosts"
        ]
    );
    assert_eq!(
        restart,
        vec!["listen", "database_url", "log_format", "max_body_bytes"]
    );

    let now = engine.config();
    assert_eq!(now.listen, old.listen, "listen keeps its running value");
    assert_eq!(now.database_url, old.database_url);
    assert_eq!(now.public_url, "https://sb.example.com");
    assert_eq!(now.log_level, "debug");
    assert_eq!(now.allow_hosts, vec!["h.example.com"]);
    assert_eq!(now.file.as_deref(), Some(std::path::Path::new("new.toml")));

    let rows = all_audit(&store).await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(r.entry.action, "config.reload");
    assert_eq!(r.entry.actor, "signal:SIGHUP");
    assert_eq!(r.entry.target, "t.toml", "the file that was in force");
    assert_eq!(
        r.entry.details,
        serde_json::json!({ "changed": changed, "needs_restart": restart })
    );
}

#[tokio::test]
async fn reload_without_changes_is_still_audited() {
    let (engine, store) = setup().await;
    let (changed, restart) = engine
        .reload_config(config_from("", "t.toml"), &Actor::Signal("SIGHUP"))
        .await
        .unwrap();
    assert!(changed.is_empty() && restart.is_empty());
    let rows = all_audit(&store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].entry.details,
        serde_json::json!({ "changed": [], "needs_restart": [] })
    );
}

#[tokio::test]
async fn reload_only_of_live_keys_needs_no_restart() {
    let (engine, _) = setup().await;
    let (changed, restart) = engine
        .reload_config(
            config_from("log_level = \"warn\"\nshutdown_grace_secs = 5", "t.toml"),
            &Actor::Cli { user: "ops".into() },
        )
        .await
        .unwrap();
    assert_eq!(changed, vec!["log_level", "shutdown_grace_secs"]);
    assert!(restart.is_empty());
    assert_eq!(engine.config().shutdown_grace_secs, 5);
}

#[tokio::test]
async fn reload_never_records_secret_values() {
    let (engine, store) = setup().await;
    let k1 = vault::MasterKey::generate().unwrap().to_base64();
    let k2 = vault::MasterKey::generate().unwrap().to_base64();
    let (k1, k2) = (k1.expose_secret(), k2.expose_secret());
    let new = config_from(
        &format!("master_key = {k1:?}\nold_master_keys = [{k2:?}]"),
        "t.toml",
    );
    let (changed, restart) = engine
        .reload_config(new, &Actor::Signal("SIGHUP"))
        .await
        .unwrap();
    assert_eq!(changed, vec!["master_key", "old_master_keys"]);
    assert_eq!(restart, changed);
    let json = serde_json::to_string(&all_audit(&store).await).unwrap();
    assert!(!json.contains(k1) && !json.contains(k2), "{json}");
}

/// With no explicit public_url, it follows listen. A reload that changes listen keeps
/// the old listen address (it needs a restart) but applies the public_url derived from
/// the new one at once, so callback URLs point at a port nothing listens on.
#[tokio::test]
async fn derived_public_url_follows_the_listen_in_force() {
    let (engine, _) = setup().await;
    engine
        .reload_config(
            config_from("listen = \"127.0.0.1:9999\"", "t.toml"),
            &Actor::Signal("SIGHUP"),
        )
        .await
        .unwrap();
    let now = engine.config();
    assert_eq!(now.public_url, format!("http://{}", now.listen));
}
