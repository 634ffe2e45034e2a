//! `switchboard migrate`: applies the database migrations and exits.

use anyhow::Context;

use super::Globals;
use crate::exit::Outcome;
use crate::local::{DbArgs, load_config, open_store};
use crate::output::print_json;

/// `switchboard migrate`
pub async fn run(db: DbArgs, g: &Globals) -> anyhow::Result<Outcome> {
    let cfg = load_config(g.config_path(), &db.overrides())?;
    let store = open_store(&cfg.database_url).await?;
    let applied = store.migrate().await.context("applying migrations")?;
    store.close().await;
    if g.json {
        print_json(&serde_json::json!({ "applied": applied, "database": store.backend() }))?;
    } else {
        println!(
            "{applied} migration(s) applied; the {} database is up to date",
            store.backend()
        );
    }
    Ok(Outcome::Success)
}
