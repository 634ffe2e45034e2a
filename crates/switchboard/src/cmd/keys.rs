//! `switchboard keys generate|rotate`: make a master key; re-encrypt every sealed value
//! (stored secrets and the authorizations in progress) under the primary one.

use clap::Subcommand;
use vault::{ExposeSecret, MasterKey};

use super::Globals;
use crate::exit::Outcome;
use crate::local::{self, DbArgs};
use crate::output::{print_json, progress};

/// `switchboard keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Print a new random master key (base64 of 32 bytes).
    Generate,
    /// Re-encrypt every stored secret, and the sealed state of every authorization in
    /// progress, under the primary master key. Resumable: run it again after an
    /// interruption. Keep the old key in old_master_keys until it ends.
    Rotate {
        #[command(flatten)]
        db: DbArgs,
        /// Sealed values per batch.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
    },
}

/// `switchboard keys …`
pub async fn run(cmd: KeysCmd, g: &Globals) -> anyhow::Result<Outcome> {
    match cmd {
        KeysCmd::Generate => generate(),
        KeysCmd::Rotate { db, batch_size } => rotate(g, &db, batch_size).await,
    }
}

/// `switchboard keys generate`
fn generate() -> anyhow::Result<Outcome> {
    let key = MasterKey::generate()?;
    println!("{}", key.to_base64().expose_secret());
    eprintln!(
        "key id {}: set it as SWITCHBOARD_MASTER_KEY (or master_key = \"file:/path\"); keep a copy, secrets cannot be recovered without it",
        key.id()
    );
    Ok(Outcome::Success)
}

/// `switchboard keys rotate`
async fn rotate(g: &Globals, db: &DbArgs, batch: u32) -> anyhow::Result<Outcome> {
    let engine = local::engine(g.config_path(), db).await?;
    let bar = progress(
        0,
        "{spinner} re-encrypting [{bar:40}] {pos}/{len} sealed values ({eta} left)",
        g.json,
    );
    let result = engine
        .rotate_keys(batch, &local::cli_actor(), &|p| {
            bar.set_length(p.total);
            bar.set_position(p.rewritten + p.skipped);
        })
        .await;
    bar.finish_and_clear();
    engine.store().close().await;
    let p = result?;
    let primary = engine.keyring().primary().id().to_string();
    if g.json {
        print_json(&serde_json::json!({
            "primary_key_id": primary,
            "rewritten": p.rewritten,
            "skipped": p.skipped,
            "oauth_states_rewritten": p.oauth_states_rewritten,
            "oauth_states_skipped": p.oauth_states_skipped,
        }))?;
    } else {
        println!(
            "every sealed value is now under key {primary} ({} re-encrypted, of which {} authorizations in progress; {} already rewritten by others or used meanwhile); old_master_keys can be removed",
            p.rewritten, p.oauth_states_rewritten, p.skipped
        );
    }
    Ok(Outcome::Success)
}
