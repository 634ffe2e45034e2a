//! How a command ends. Every verb returns `anyhow::Result<Outcome>`, and [`finish`] is
//! the one place that turns it into the process's exit code and prints the error:
//!
//! | code | when | what is printed |
//! |---|---|---|
//! | 0 | the verb did what was asked; a check passed | its output |
//! | 1 | the verb ran to the end and its report shows a problem (a check that failed, work that finished only in part) | its report (`ok: false`, the failures) |
//! | 2 | an error or misuse: bad arguments, a configuration error, an unreachable server, an error answer from the API, an unreadable file | `error: …` on stderr; under `--json`, `{"error": {"code", "message"}}` on stdout |
//!
//! Under `--json`, stdout always holds exactly one JSON document (the result, the report
//! or the error); stderr only carries progress bars and warnings.

use std::fmt;
use std::process::ExitCode;

/// Exit code of a check that found a problem.
pub const PROBLEM: u8 = 1;
/// Exit code of an error or misuse (clap's own usage errors use it too).
pub const ERROR: u8 = 2;

/// How a verb that ran to the end came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; the check passed (exit 0).
    Success,
    /// The report shows a problem: a failed check, work that finished only in part
    /// (exit 1).
    Problem,
}

impl Outcome {
    /// `Success` when `ok`, `Problem` otherwise.
    pub fn from_ok(ok: bool) -> Self {
        if ok { Self::Success } else { Self::Problem }
    }
}

/// An error whose code the CLI chooses itself (a usage mistake, a refusal), for errors
/// that no library type describes.
#[derive(Debug)]
pub struct CliError {
    code: &'static str,
    message: String,
}

impl CliError {
    /// An error with this stable `code`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The arguments do not make sense together (code `usage`).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new("usage", message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// A client error with what was being done and a hint on what to do next; its code is
/// the client error's.
#[derive(Debug)]
pub struct ApiError {
    /// What was being done (`events list`, `event evt_…`).
    pub what: String,
    /// The client's error.
    pub error: client::ClientError,
    /// What to do next, starting with `; ` (or empty).
    pub hint: &'static str,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}{}", self.what, self.error, self.hint)
    }
}

impl std::error::Error for ApiError {}

fn client_code(e: &client::ClientError) -> String {
    match e {
        client::ClientError::Api { code, .. } => code.clone(),
        client::ClientError::Transport { .. } => "unreachable".into(),
        client::ClientError::Decode(_) => "unexpected_answer".into(),
        client::ClientError::BadUrl(_) => "usage".into(),
    }
}

/// The stable code of an error: the first cause in its chain of a type that has one.
pub fn error_code(e: &anyhow::Error) -> String {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<CliError>() {
            return c.code.into();
        }
        if let Some(c) = cause.downcast_ref::<ApiError>() {
            return client_code(&c.error);
        }
        if let Some(c) = cause.downcast_ref::<client::ClientError>() {
            return client_code(c);
        }
        if let Some(c) = cause.downcast_ref::<engine::EngineError>() {
            return c.code().into();
        }
        if let Some(c) = cause.downcast_ref::<config::ConfigError>() {
            return match c {
                config::ConfigError::Unreadable { .. } => "unreadable_file",
                _ => "invalid_config",
            }
            .into();
        }
        if cause
            .downcast_ref::<engine::discovery::DiscoveryError>()
            .is_some()
        {
            return "invalid_config".into();
        }
        if let Some(c) = cause.downcast_ref::<catalog::CatalogError>() {
            return match c {
                catalog::CatalogError::UnknownProvider(_) => "not_found",
                _ => "invalid_config",
            }
            .into();
        }
        if cause.downcast_ref::<store::StoreError>().is_some() {
            return "database".into();
        }
        if cause.downcast_ref::<reqwest::Error>().is_some() {
            return "unreachable".into();
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return "unreadable_file".into();
        }
    }
    "internal".into()
}

/// Prints an error: `error: MESSAGE` on stderr, or under `--json` the JSON error on
/// stdout.
fn report(code: &str, message: &str, json: bool) {
    if json {
        let v = serde_json::json!({ "error": { "code": code, "message": message } });
        println!("{v:#}");
    } else {
        eprintln!("error: {message}");
    }
}

/// The exit code of a verb's result; prints the error if there is one.
pub fn finish(result: anyhow::Result<Outcome>, json: bool) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Problem) => ExitCode::from(PROBLEM),
        Err(e) => {
            report(&error_code(&e), &format!("{e:#}"), json);
            ExitCode::from(ERROR)
        }
    }
}

/// Ends a command line clap refused: help and version as clap prints them (exit 0), a
/// usage error as clap prints it (exit 2), or, when `--json` was given, as the JSON
/// error with code `usage` (exit 2).
pub fn usage(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json");
    if !json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let text = e.render().to_string();
    let message = text.trim().trim_start_matches("error: ");
    report("usage", message, true);
    ExitCode::from(ERROR)
}
