//! The `switchboard` binary: command-line parsing and wiring. It is the one place that
//! picks a store implementation; every decision lives in the engine.

mod admin;
mod destinations;
mod events;
mod keys;
mod logging;
mod oauth;
mod providers;
mod serve;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Check the configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Master keys: generate one, or re-encrypt every secret under the primary key.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// API keys for the admin and app APIs.
    #[command(subcommand, name = "api-key")]
    ApiKey(ApiKeyCmd),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// The provider catalog: built-in and custom providers.
    #[command(subcommand)]
    Providers(providers::ProvidersCmd),
    /// Integrations: their state; disable or enable one as a whole.
    #[command(subcommand)]
    Integration(IntegrationCmd),
    /// Webhooks: check a captured request offline.
    #[command(subcommand)]
    Webhook(WebhookCmd),
    /// OAuth: test an integration's set-up; refresh or revoke a connection (via the server).
    #[command(subcommand)]
    Oauth(oauth::OauthCmd),
    /// Tokens: revoke every connection of an integration (via the server).
    #[command(subcommand)]
    Tokens(oauth::TokensCmd),
    /// Connections: list them or show one, never secrets (via the server).
    #[command(subcommand)]
    Connections(oauth::ConnectionsCmd),
    /// Stored events: list them or show one with its mapping and deliveries (via the
    /// server). Replay with `webhook replay`.
    #[command(subcommand)]
    Events(events::EventsCmd),
    /// Destinations: list them with their queue; enable or disable one (via the server).
    #[command(subcommand)]
    Destinations(destinations::DestinationsCmd),
}

#[derive(Debug, Subcommand)]
enum IntegrationCmd {
    /// List configured integrations with their provider and state.
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Disable an integration: it refuses webhooks (403) until enabled.
    Disable {
        /// The integration id.
        integration: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Enable a disabled integration.
    Enable {
        /// The integration id.
        integration: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
enum WebhookCmd {
    /// Verify a captured webhook against an integration's scheme and secrets, offline;
    /// says which check failed and exits 1 if one did.
    Verify(webhook::VerifyArgs),
    /// Send a correctly signed sample webhook to a running server.
    Test(webhook::TestArgs),
    /// Replay one event, or every event a filter selects (a dry run and a confirmation
    /// first), via the server; --wait follows the deliveries.
    Replay(events::ReplayArgs),
    /// Refuse every webhook of an integration (403) until unblocked; stores nothing.
    Block {
        /// The integration id.
        integration: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Accept webhooks of an integration again.
    Unblock {
        /// The integration id.
        integration: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Development mode: creates and uses a local key file when no master key is set,
    /// and creates a first admin API key.
    #[arg(long)]
    dev: bool,
    /// Listen address, IP:PORT.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    #[command(flatten)]
    db: DbArgs,
    /// Log format: human or json.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
}

#[derive(Debug, Args, Clone, Default)]
struct DbArgs {
    /// Database URL (sqlite://PATH).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum ConfigCmd {
    /// Validate the configuration exactly as `serve` would, and show where each value
    /// comes from (never secret values).
    Check {
        /// Check as `serve --dev` would (allows http:// loopback custom providers).
        #[arg(long)]
        dev: bool,
    },
    /// Print the documented default configuration file.
    Default,
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Print a new random master key (base64 of 32 bytes).
    Generate,
    /// Re-encrypt every stored secret under the primary master key. Resumable: run it
    /// again after an interruption. Keep the old key in old_master_keys until it ends.
    Rotate {
        #[command(flatten)]
        db: DbArgs,
        /// Secrets per batch.
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        batch_size: u32,
    },
}

/// Where admin verbs act: a running server (with an API key) or the local database.
#[derive(Debug, Args, Clone)]
struct Target {
    /// Server to talk to.
    #[arg(
        long,
        env = "SWITCHBOARD_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// Admin API key; when set the verb goes through the server's API, otherwise it acts
    /// on the local database directly.
    #[arg(
        long,
        env = "SWITCHBOARD_API_KEY",
        hide_env_values = true,
        global = true
    )]
    api_key: Option<String>,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Subcommand)]
enum ApiKeyCmd {
    /// Create a key; it is printed once.
    Create {
        /// A name for the key (who or what uses it).
        name: String,
        /// admin (everything) or app (the app backend's routes).
        #[arg(long, default_value = "app", value_parser = ["admin", "app"])]
        scope: String,
        #[command(flatten)]
        target: Target,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a key by id; it stops working at once.
    Revoke {
        /// The key's id (the 12 characters after `sb_`).
        id: String,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCmd {
    /// Show the newest audit rows.
    List {
        /// How many rows.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue from a previous listing's next cursor.
        #[arg(long)]
        cursor: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Verify the hash chain; names the first bad row and exits 1 if there is one.
    Verify {
        #[command(flatten)]
        target: Target,
    },
}

/// mimalloc instead of glibc's allocator: the server allocates per request on several
/// threads, where glibc's arenas cost measurably (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let json = cli.json;
    let config_path = cli.config.clone();
    match cli.command {
        Command::Serve(args) => serve::run(config_path, args).await,
        Command::Migrate(db) => admin::migrate(config_path, db, json).await,
        Command::Config(ConfigCmd::Check { dev }) => admin::config_check(config_path, dev, json),
        Command::Providers(cmd) => providers::run(config_path.as_deref(), cmd, json),
        Command::Config(ConfigCmd::Default) => {
            print!("{}", config::DEFAULT_FILE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCmd::Generate) => keys::generate(),
        Command::Keys(KeysCmd::Rotate { db, batch_size }) => {
            admin::rotate(config_path, db, batch_size, json).await
        }
        Command::ApiKey(cmd) => admin::api_key(config_path, cmd, json).await,
        Command::Oauth(cmd) => oauth::oauth(cmd, json).await,
        Command::Tokens(cmd) => oauth::tokens(cmd, json).await,
        Command::Connections(cmd) => oauth::connections(cmd, json).await,
        Command::Events(cmd) => events::events(cmd, json).await,
        Command::Destinations(cmd) => destinations::run(cmd, json).await,
        Command::Webhook(WebhookCmd::Replay(args)) => events::replay(args, json).await,
        Command::Audit(cmd) => admin::audit(config_path, cmd, json).await,
        Command::Webhook(WebhookCmd::Verify(args)) => {
            webhook::verify(config_path.as_deref(), args, json)
        }
        Command::Integration(IntegrationCmd::List { db }) => {
            admin::integrations(config_path, db, json).await
        }
        Command::Integration(IntegrationCmd::Disable { integration, db }) => {
            admin::set_flag(
                config_path,
                db,
                &integration,
                admin::Flag::Disabled,
                true,
                json,
            )
            .await
        }
        Command::Integration(IntegrationCmd::Enable { integration, db }) => {
            admin::set_flag(
                config_path,
                db,
                &integration,
                admin::Flag::Disabled,
                false,
                json,
            )
            .await
        }
        Command::Webhook(WebhookCmd::Test(args)) => {
            webhook::test(config_path.as_deref(), args, json).await
        }
        Command::Webhook(WebhookCmd::Block { integration, db }) => {
            admin::set_flag(
                config_path,
                db,
                &integration,
                admin::Flag::WebhooksBlocked,
                true,
                json,
            )
            .await
        }
        Command::Webhook(WebhookCmd::Unblock { integration, db }) => {
            admin::set_flag(
                config_path,
                db,
                &integration,
                admin::Flag::WebhooksBlocked,
                false,
                json,
            )
            .await
        }
    }
}
