//! The `switchboard` binary: parses the command line and hands it to the verb's module
//! under [`cmd`]; [`exit::finish`] turns the verb's result into the exit code. It is the
//! one place that picks a store implementation ([`local::store_for`]); every decision
//! lives in the engine.

mod cmd;
mod exit;
mod local;
mod logging;
mod master_key;
mod output;
mod remote;
mod switches;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cmd::Globals;
use exit::Outcome;

/// Self-hosted integration gateway: connections, API proxy, webhooks.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, propagate_version = true)]
struct Cli {
    /// Config file (default: switchboard.toml if present).
    #[arg(long, global = true, env = "SWITCHBOARD_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print machine-readable JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

/// The top-level verbs; each one's subcommands and `run` are in `cmd::<verb>`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(cmd::serve::ServeArgs),
    /// The deployment's health at a glance, per integration (via the server, admin key);
    /// exit 1 when something needs a person.
    Status(cmd::status::StatusArgs),
    /// Apply database migrations and exit.
    Migrate(local::DbArgs),
    /// Databases: copy every row of one into another (SQLite to PostgreSQL, or back).
    #[command(subcommand)]
    Db(cmd::db::DbCmd),
    /// Check the configuration.
    #[command(subcommand)]
    Config(cmd::config::ConfigCmd),
    /// Master keys: generate one, or re-encrypt every secret under the primary key.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCmd),
    /// API keys for the admin and app APIs.
    #[command(subcommand, name = "api-key")]
    ApiKey(cmd::api_key::ApiKeyCmd),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(cmd::audit::AuditCmd),
    /// The provider catalog: built-in and custom providers.
    #[command(subcommand)]
    Providers(cmd::providers::ProvidersCmd),
    /// Integrations: their state; disable or enable one as a whole.
    #[command(subcommand)]
    Integration(cmd::integration::IntegrationCmd),
    /// Webhooks: check a captured request offline.
    #[command(subcommand)]
    Webhook(cmd::webhook::WebhookCmd),
    /// OAuth: test an integration's set-up; refresh or revoke a connection (via the server).
    #[command(subcommand)]
    Oauth(cmd::oauth::OauthCmd),
    /// Tokens: revoke every connection of an integration (via the server).
    #[command(subcommand)]
    Tokens(cmd::tokens::TokensCmd),
    /// Connections: list them, show one, create one without a browser, check one's
    /// credentials at the provider now; never secrets (via the server).
    #[command(subcommand)]
    Connections(cmd::connections::ConnectionsCmd),
    /// Stored events: list them or show one with its mapping and deliveries (via the
    /// server). Replay with `webhook replay`.
    #[command(subcommand)]
    Events(cmd::events::EventsCmd),
    /// Destinations: list them with their queue; enable or disable one (via the server).
    #[command(subcommand)]
    Destinations(cmd::destinations::DestinationsCmd),
    /// Security: audit this deployment's configuration, files and database (offline).
    #[command(subcommand)]
    Security(cmd::security::SecurityCmd),
    /// Secrets: scan files and folders for leaked ones (offline).
    #[command(subcommand)]
    Secrets(cmd::secrets::SecretsCmd),
    /// Payload retention: remove expired webhook payloads now (via the server).
    #[command(subcommand)]
    Retention(cmd::retention::RetentionCmd),
    /// End users' personal data: erase or export one (via the server).
    #[command(subcommand)]
    User(cmd::user::UserCmd),
}

/// mimalloc instead of glibc's allocator: the server allocates per request on several
/// threads, where glibc's arenas cost measurably (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return exit::usage(e),
    };
    let g = Globals {
        config: cli.config,
        json: cli.json,
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::Error::new(e).context("cannot start the async runtime"))
        .and_then(|runtime| runtime.block_on(run(cli.command, &g)));
    exit::finish(result, g.json)
}

/// Runs the verb.
async fn run(command: Command, g: &Globals) -> anyhow::Result<Outcome> {
    match command {
        Command::Serve(args) => cmd::serve::run(args, g).await,
        Command::Status(args) => cmd::status::run(args, g).await,
        Command::Migrate(db) => cmd::migrate::run(db, g).await,
        Command::Db(c) => cmd::db::run(c, g).await,
        Command::Config(c) => cmd::config::run(c, g).await,
        Command::Keys(c) => cmd::keys::run(c, g).await,
        Command::ApiKey(c) => cmd::api_key::run(c, g).await,
        Command::Audit(c) => cmd::audit::run(c, g).await,
        Command::Providers(c) => cmd::providers::run(c, g).await,
        Command::Integration(c) => cmd::integration::run(c, g).await,
        Command::Webhook(c) => cmd::webhook::run(c, g).await,
        Command::Oauth(c) => cmd::oauth::run(c, g).await,
        Command::Tokens(c) => cmd::tokens::run(c, g).await,
        Command::Connections(c) => cmd::connections::run(c, g).await,
        Command::Events(c) => cmd::events::run(c, g).await,
        Command::Destinations(c) => cmd::destinations::run(c, g).await,
        Command::Security(c) => cmd::security::run(c, g).await,
        Command::Secrets(c) => cmd::secrets::run(c, g).await,
        Command::Retention(c) => cmd::retention::run(c, g).await,
        Command::User(c) => cmd::user::run(c, g).await,
    }
}
