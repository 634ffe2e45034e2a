//! The per-integration switches that `webhook block|unblock` and `integration
//! disable|enable` turn. They act on the database, so every server sharing it follows on
//! its next request.

use std::path::Path;

use crate::exit::Outcome;
use crate::local::{self, DbArgs};
use crate::output::print_json;

/// Which per-integration switch [`set`] turns.
#[derive(Debug, Clone, Copy)]
pub enum Switch {
    /// `webhook block|unblock`
    WebhooksBlocked,
    /// `integration disable|enable`
    Disabled,
}

/// Turns `switch` of `integration` on or off, and says whether it changed.
pub async fn set(
    config_path: Option<&Path>,
    db: &DbArgs,
    integration: &str,
    switch: Switch,
    on: bool,
    json: bool,
) -> anyhow::Result<Outcome> {
    let engine = local::engine(config_path, db).await?;
    let actor = local::cli_actor();
    let r = match switch {
        Switch::WebhooksBlocked => engine.set_webhooks_blocked(integration, on, &actor).await,
        Switch::Disabled => {
            engine
                .set_integration_disabled(integration, on, &actor)
                .await
        }
    };
    engine.store().close().await;
    let changed = r?;
    let (key, state) = match (switch, on) {
        (Switch::WebhooksBlocked, true) => ("blocked", "blocked"),
        (Switch::WebhooksBlocked, false) => ("blocked", "accepting webhooks"),
        (Switch::Disabled, true) => ("disabled", "disabled"),
        (Switch::Disabled, false) => ("disabled", "enabled"),
    };
    if json {
        print_json(
            &serde_json::json!({ "integration": integration, key: on, "changed": changed }),
        )?;
    } else if changed {
        println!("integration {integration} is now {state}");
    } else {
        println!("integration {integration} was already {state}");
    }
    Ok(Outcome::Success)
}
