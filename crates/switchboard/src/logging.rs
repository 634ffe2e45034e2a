//! Log setup: human or JSON lines on stderr, filter reloadable on SIGHUP.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// Changes the log filter of the running process.
pub type FilterHandle = reload::Handle<EnvFilter, Registry>;

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `log_level`.
pub fn init(format: config::LogFormat, level: &str) -> anyhow::Result<FilterHandle> {
    let filter = filter(level)?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        config::LogFormat::Human => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_target(false),
            )
            .try_init(),
        config::LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    }
    .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))?;
    Ok(handle)
}

/// Parses a filter; `RUST_LOG` wins when set.
pub fn filter(level: &str) -> anyhow::Result<EnvFilter> {
    let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_owned());
    EnvFilter::try_new(&spec)
        .map_err(|e| {
            crate::exit::CliError::new(
                "invalid_config",
                format!("log_level {spec:?} is not a valid filter ({e}); use e.g. \"info\" or \"switchboard=debug,info\""),
            )
            .into()
        })
}
