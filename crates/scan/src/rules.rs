//! Rules as data: the embedded `rules.toml`, and more from a file.

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::ScanError;

/// The built-in rules' text (`crates/scan/rules.toml`).
pub const BUILTIN_RULES: &str = include_str!("../rules.toml");

/// Largest compiled size of one rule's regex.
const REGEX_SIZE_LIMIT: usize = 4 << 20;

/// A rule file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rules: Vec<RawRule>,
}

/// One `[[rules]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    description: String,
    regex: String,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    entropy: f64,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    check: Option<Check>,
    source: String,
}

/// An extra check a match must pass, beyond its regex, entropy and allow list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// The first dot-separated part is base64url of a JSON object with a string `alg`
    /// (RFC 7515's protected header).
    Jwt,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable id (`github-pat`), the finding's kind.
    pub id: String,
    /// What it finds, for people.
    pub description: String,
    /// Where the format is documented.
    pub source: String,
    /// Prefilter keywords, lowercase.
    pub keywords: Vec<String>,
    /// Least Shannon entropy (bits per character) of the secret.
    pub entropy: f64,
    /// The extra check, if any.
    pub check: Option<Check>,
    pub(crate) regex: Regex,
    /// Index of the `secret` group, if the regex has one.
    pub(crate) secret_group: Option<usize>,
    pub(crate) allow: Vec<Regex>,
}

/// An ordered set of rules, unique by id.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// No rules (configured secrets only).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The built-in rules.
    pub fn builtin() -> Result<Self, ScanError> {
        let mut r = Self::empty();
        r.add_file(BUILTIN_RULES, "built-in rules.toml")?;
        Ok(r)
    }

    /// Adds the rules of a TOML rule file (`origin` names it in errors). A rule whose
    /// id is already there replaces it, in place.
    pub fn add_file(&mut self, text: &str, origin: &str) -> Result<(), ScanError> {
        let file: RuleFile = toml::from_str(text).map_err(|e| ScanError::Rules {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        let mut seen = std::collections::BTreeSet::new();
        for raw in file.rules {
            if !seen.insert(raw.id.clone()) {
                return Err(ScanError::Rule {
                    origin: origin.to_owned(),
                    id: raw.id,
                    message: "is defined twice in this file".into(),
                });
            }
            let rule = compile(raw, origin)?;
            match self.rules.iter_mut().find(|r| r.id == rule.id) {
                Some(old) => *old = rule,
                None => self.rules.push(rule),
            }
        }
        Ok(())
    }

    /// The rules, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub(crate) fn get(&self, i: usize) -> &Rule {
        &self.rules[i]
    }
}

fn build(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
}

fn compile(raw: RawRule, origin: &str) -> Result<Rule, ScanError> {
    let err = |message: String| ScanError::Rule {
        origin: origin.to_owned(),
        id: raw.id.clone(),
        message,
    };
    let id_ok = !raw.id.is_empty()
        && raw.id.len() <= 64
        && raw
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err(err(
            "id: use 1 to 64 of lowercase letters, digits and -".into()
        ));
    }
    if raw.id == crate::CONFIGURED_RULE {
        return Err(err(format!(
            "id: {} is reserved for the configured secrets",
            crate::CONFIGURED_RULE
        )));
    }
    if raw.description.trim().is_empty() {
        return Err(err("description: say what the rule finds".into()));
    }
    if raw.source.trim().is_empty() {
        return Err(err("source: say where the format is documented".into()));
    }
    if !(0.0..=8.0).contains(&raw.entropy) {
        return Err(err("entropy: bits per character, from 0 to 8".into()));
    }
    let regex = build(&raw.regex).map_err(|e| err(format!("regex: {e}")))?;
    if regex.is_match(b"") {
        return Err(err("regex: it matches the empty string".into()));
    }
    let secret_group = regex.capture_names().position(|n| n == Some("secret"));
    let allow = raw
        .allow
        .iter()
        .map(|a| build(a).map_err(|e| err(format!("allow {a:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let keywords = raw
        .keywords
        .iter()
        .map(|k| {
            if k.is_empty() || !k.is_ascii() {
                Err(err("keywords: each is a non-empty ASCII string".into()))
            } else {
                Ok(k.to_ascii_lowercase())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule {
        id: raw.id,
        description: raw.description,
        source: raw.source,
        keywords,
        entropy: raw.entropy,
        check: raw.check,
        regex,
        secret_group,
        allow,
    })
}
