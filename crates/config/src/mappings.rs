//! The `[[mappings]]` table: per integration and provider event type, a jq program that
//! turns the provider's payload into the app's event `{type, data}`, optionally checked
//! against a JSON Schema.
//!
//! Programs are compiled here, when the file is loaded, so that a typo is a startup (or
//! reload) error naming the key, never a surprise at delivery time. The compiled program
//! is kept with the mapping; the engine runs it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use jaq_core::load::{Arena, File, Loader};
use serde::Deserialize;

use crate::{ConfigError, Source};

/// The value type jq programs run on.
pub type JqValue = jaq_json::Val;

/// The data a program runs with (its look-up table only).
pub type JqData = jaq_core::data::JustLut<JqValue>;

/// A compiled jq program.
pub type JqFilter = jaq_core::compile::Filter<jaq_core::Native<JqData>>;

/// Longest jq program accepted.
const MAX_JQ_LEN: usize = 64 * 1024;

/// A mapping as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMapping {
    integration: String,
    event_type: String,
    jq: String,
    schema: Option<String>,
}

/// A compiled jq program with its source text.
#[derive(Clone)]
pub struct JqProgram {
    /// The program as written.
    pub source: String,
    /// The compiled program.
    pub filter: Arc<JqFilter>,
}

impl fmt::Debug for JqProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JqProgram")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// How one integration's events of one type become the app's events.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// The integration whose events this maps.
    pub integration: String,
    /// The provider's event type (`payment_intent.succeeded`), or `*` for every type
    /// without a mapping of its own.
    pub event_type: String,
    /// The program; its input is the provider's payload, its output `{type, data}`.
    pub jq: JqProgram,
    /// JSON Schema the output's `data` must satisfy.
    pub schema: Option<Arc<serde_json::Value>>,
    /// Where the mapping was defined (`mappings[2]`), for error locations.
    pub key: String,
}

impl Mapping {
    /// Whether two mappings are configured identically.
    pub fn same(&self, o: &Mapping) -> bool {
        self.integration == o.integration
            && self.event_type == o.event_type
            && self.jq.source == o.jq.source
            && self.schema == o.schema
    }
}

/// Compiles a jq program with jq's standard library (the `jaq` dialect). The error says
/// where the program is wrong (line and column) and what was expected.
pub fn compile_jq(code: &str) -> Result<JqFilter, String> {
    if code.len() > MAX_JQ_LEN {
        return Err(format!(
            "the program is longer than {MAX_JQ_LEN} bytes; move logic to the app"
        ));
    }
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errs| {
            let mut out = Vec::new();
            for (_, e) in errs {
                match e {
                    jaq_core::load::Error::Io(v) => {
                        out.extend(v.into_iter().map(|(_, m)| format!("cannot load: {m}")));
                    }
                    jaq_core::load::Error::Lex(v) => out.extend(
                        v.into_iter()
                            .map(|(exp, at)| at_position(code, at, exp.as_str())),
                    ),
                    jaq_core::load::Error::Parse(v) => out.extend(
                        v.into_iter()
                            .map(|(exp, at)| at_position(code, at, exp.as_str())),
                    ),
                }
            }
            format!("jq syntax error: {}", out.join("; "))
        })?;
    jaq_core::Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errs| {
            let out: Vec<String> = errs
                .into_iter()
                .flat_map(|(_, v)| v)
                .map(|(name, what)| {
                    let (line, col) = line_col(code, name);
                    format!("undefined {what:?} {name:?} at line {line}, column {col}")
                })
                .collect();
            format!("jq error: {}", out.join("; "))
        })
}

/// 1-based line and column of `part`, a slice of `code`.
fn line_col(code: &str, part: &str) -> (usize, usize) {
    let offset = (part.as_ptr() as usize)
        .saturating_sub(code.as_ptr() as usize)
        .min(code.len());
    let mut offset = offset;
    while !code.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &code[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn at_position(code: &str, at: &str, expected: &str) -> String {
    let (line, col) = line_col(code, at);
    format!("expected {expected} at line {line}, column {col}")
}

fn invalid(key: String, src: &Source, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        origin: src.to_string(),
        message: message.into(),
    }
}

/// Reads a `schema` value: inline JSON (starting with `{`) or a path, relative to the
/// configuration file's folder.
fn load_schema(
    text: &str,
    key: &str,
    src: &Source,
    file: Option<&Path>,
) -> Result<serde_json::Value, ConfigError> {
    let trimmed = text.trim_start();
    let json = if trimmed.starts_with('{') {
        trimmed.to_owned()
    } else {
        let path = Path::new(text);
        let path = match file.and_then(Path::parent) {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        };
        std::fs::read_to_string(&path).map_err(|e| {
            invalid(
                key.to_owned(),
                src,
                format!(
                    "cannot read the schema file {}: {e}; give a readable path or inline JSON",
                    path.display()
                ),
            )
        })?
    };
    let value: serde_json::Value = serde_json::from_str(&json).map_err(|e| {
        invalid(
            key.to_owned(),
            src,
            format!("is not JSON ({e}); give a JSON Schema object"),
        )
    })?;
    jsonschema::validator_for(&value).map_err(|e| {
        invalid(
            key.to_owned(),
            src,
            format!("is not a valid JSON Schema: {e}"),
        )
    })?;
    Ok(value)
}

pub(crate) fn mappings(
    raw: Vec<RawMapping>,
    integrations: &[crate::Integration],
    src: &Source,
    file: Option<&Path>,
) -> Result<Vec<Mapping>, ConfigError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let key = |field: &str| format!("mappings[{i}].{field}");
        if !integrations.iter().any(|it| it.id == r.integration) {
            return Err(invalid(
                key("integration"),
                src,
                format!(
                    "no integration has id {:?}; use an id from [[integrations]]",
                    r.integration
                ),
            ));
        }
        let t = r.event_type.trim();
        if t.is_empty() || t.len() > 256 || t.contains(char::is_whitespace) {
            return Err(invalid(
                key("event_type"),
                src,
                "give the provider's event type, e.g. payment_intent.succeeded, or \"*\"",
            ));
        }
        if !seen.insert((r.integration.clone(), r.event_type.clone())) {
            return Err(invalid(
                key("event_type"),
                src,
                format!(
                    "integration {:?} already has a mapping for {:?}; keep one",
                    r.integration, r.event_type
                ),
            ));
        }
        let filter = compile_jq(&r.jq).map_err(|m| invalid(key("jq"), src, m))?;
        let schema = r
            .schema
            .as_deref()
            .map(|s| load_schema(s, &key("schema"), src, file))
            .transpose()?;
        out.push(Mapping {
            integration: r.integration,
            event_type: r.event_type,
            jq: JqProgram {
                source: r.jq,
                filter: Arc::new(filter),
            },
            schema: schema.map(Arc::new),
            key: format!("mappings[{i}]"),
        });
    }
    Ok(out)
}
