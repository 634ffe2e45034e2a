//! `switchboard migrate`: applies the database migrations and exits.

use super::Globals;
use crate::exit::Outcome;
use crate::local::{DbArgs, load_config, open_database};
use crate::output::print_json;

/// `switchboard migrate`
pub async fn run(db: DbArgs, g: &Globals) -> anyhow::Result<Outcome> {
    let cfg = load_config(g.config_path(), &db.overrides())?;
    let (store, applied) = open_database(&cfg).await?;
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
