//! The matching half of `switchboard secrets check`, pure: no I/O. The binary walks the
//! tree and reads the files; this crate says what is in one buffer.
//!
//! - [`Rules`]: the formats to look for, as data (`rules.toml`, embedded; more from a
//!   file), each with a regex, prefilter keywords, a least entropy, an allow list of
//!   documented examples, and where the format is documented.
//! - [`ConfiguredSecrets`]: the deployment's own secret values by name, found
//!   literally and reported by name only.
//! - [`Scanner::scan`]: every finding in a buffer, with its line and column, never its
//!   value.
//!
//! A buffer is matched in two steps: one Aho-Corasick pass over every rule's keywords
//! (ASCII case-insensitive) picks the rules that can match, and only those run their
//! regex; each configured secret is a memmem search. A match is kept when its secret
//! part reaches the rule's entropy, is not mostly runs (`aaaa`, `abcd`), does not
//! decode from base64 to runs or plain text (test vectors), matches no
//! allow pattern, passes the rule's check, and its line has no
//! [`ALLOW_MARKER`]. Overlapping findings are reported once: a configured secret wins
//! over a format rule (it names what leaked), else the earlier and longer match.

mod rules;
mod secrets;
#[cfg(test)]
mod tests;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;
use memchr::memmem;

pub use rules::{BUILTIN_RULES, Check, Rule, Rules};
pub use secrets::{Added, ConfiguredSecrets, MIN_SECRET_LEN};

/// The rule id of configured-secret findings; their kind is
/// `configured-secret:<name>`.
pub const CONFIGURED_RULE: &str = "configured-secret";

/// A line holding this text has no findings (for test fixtures that must look real).
pub const ALLOW_MARKER: &[u8] = b"switchboard:allow-secret";

/// How many leading bytes [`looks_binary`] reads.
pub const BINARY_SNIFF_BYTES: usize = 8192;

/// Errors of this crate: rule files that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The rule file is not valid TOML of the expected shape.
    #[error("{origin}: {message}")]
    Rules {
        /// Which file.
        origin: String,
        /// What is wrong.
        message: String,
    },
    /// One rule is wrong.
    #[error("{origin}: rule {id:?}: {message}")]
    Rule {
        /// Which file.
        origin: String,
        /// The rule's id.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// The keyword prefilter could not be built.
    #[error("keyword prefilter: {0}")]
    Prefilter(String),
}

/// One finding. It holds where and what kind, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's id, or [`CONFIGURED_RULE`].
    pub rule: String,
    /// The rule's id, or `configured-secret:<name>`.
    pub kind: String,
    /// What was found, for people.
    pub description: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters (UTF-8; a byte that is not UTF-8 counts as one).
    pub column: usize,
    /// Byte offset of the match's start.
    pub start: usize,
    /// Byte offset just past the match.
    pub end: usize,
}

/// Whether a file is binary: a NUL byte in its first [`BINARY_SNIFF_BYTES`] (as git and
/// ripgrep decide).
pub fn looks_binary(buf: &[u8]) -> bool {
    memchr::memchr(0, &buf[..buf.len().min(BINARY_SNIFF_BYTES)]).is_some()
}

/// Shannon entropy of `s` in bits per byte (0 for an empty slice).
pub fn shannon_entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether `s` is mostly runs: at least half of its neighbouring pairs repeat a
/// character or step by one (`aaaa`, `abcdef`, `123456`, `ZYXW`). Random tokens almost
/// never are; placeholders people type often are, even when their entropy is high
/// (`ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn`).
pub fn mostly_runs(s: &[u8]) -> bool {
    if s.len() < 2 {
        return false;
    }
    let runs = s.windows(2).filter(|w| w[0].abs_diff(w[1]) <= 1).count();
    runs * 2 >= s.len() - 1
}

/// Whether `s` is base64 (standard or URL-safe, padded or not) of at least 12 bytes
/// that a person chose rather than drew: mostly runs (`01 02 03 …`, `07 07 07 …`) or
/// all printable text (`secret-value-that-is-too-short`). Random key bytes are
/// neither (printable for 12 bytes: about one chance in 3 × 10⁷).
pub fn decodes_to_placeholder(s: &[u8]) -> bool {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let Some(bytes) = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
    else {
        return false;
    };
    bytes.len() >= 12 && (mostly_runs(&bytes) || bytes.iter().all(|b| (0x20..0x7f).contains(b)))
}

/// Whether `token` passes RFC 7515's shape: three dot-separated base64url parts whose
/// first decodes to a JSON object with a string `alg`.
pub fn is_jwt(token: &[u8]) -> bool {
    let mut parts = token.split(|&b| b == b'.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let header = header.strip_suffix(b"==").unwrap_or(header);
    let header = header.strip_suffix(b"=").unwrap_or(header);
    let Ok(json) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&json)
        .ok()
        .and_then(|v| v.get("alg").map(serde_json::Value::is_string))
        .unwrap_or(false)
}

/// The rules and the configured secrets, ready to scan buffers. Shareable across
/// threads; the secrets are borrowed, not copied. Its `Debug` shows their names only.
pub struct Scanner<'s> {
    rules: Rules,
    /// Every rule's keywords; pattern i belongs to `keyword_rule[i]`.
    prefilter: Option<AhoCorasick>,
    keyword_rule: Vec<usize>,
    /// Rules without keywords: they run on every buffer.
    always: Vec<usize>,
    secrets: Vec<(&'s str, memmem::Finder<'s>)>,
}

impl std::fmt::Debug for Scanner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the finders: theirs would print the needles, the secrets themselves.
        f.debug_struct("Scanner")
            .field(
                "rules",
                &self.rules.iter().map(|r| &r.id).collect::<Vec<_>>(),
            )
            .field(
                "secrets",
                &self.secrets.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<'s> Scanner<'s> {
    /// A scanner for `rules` and `secrets`.
    pub fn new(rules: Rules, secrets: &'s ConfiguredSecrets) -> Result<Self, ScanError> {
        let mut keywords = Vec::new();
        let mut keyword_rule = Vec::new();
        let mut always = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.keywords.is_empty() {
                always.push(i);
            }
            for k in &r.keywords {
                keywords.push(k.clone());
                keyword_rule.push(i);
            }
        }
        let prefilter = if keywords.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&keywords)
                    .map_err(|e| ScanError::Prefilter(e.to_string()))?,
            )
        };
        let secrets = secrets
            .iter()
            .map(|(name, value)| (name, memmem::Finder::new(value)))
            .collect();
        Ok(Self {
            rules,
            prefilter,
            keyword_rule,
            always,
            secrets,
        })
    }

    /// The rules in use.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Every finding in `buf`, in order of position.
    pub fn scan(&self, buf: &[u8]) -> Vec<Finding> {
        let mut found: Vec<Raw> = Vec::new();

        for (name, finder) in &self.secrets {
            for start in finder.find_iter(buf) {
                found.push(Raw {
                    start,
                    end: start + finder.needle().len(),
                    what: What::Configured(name),
                });
            }
        }

        let mut candidates = vec![false; self.rules.len()];
        for &i in &self.always {
            candidates[i] = true;
        }
        if let Some(ac) = &self.prefilter {
            let mut left = self.keyword_rule.len();
            for m in ac.find_overlapping_iter(buf) {
                let rule = self.keyword_rule[m.pattern().as_usize()];
                if !candidates[rule] {
                    candidates[rule] = true;
                    left -= 1;
                    if left == 0 {
                        break;
                    }
                }
            }
        }
        for (i, _) in candidates.iter().enumerate().filter(|(_, c)| **c) {
            self.match_rule(i, buf, &mut found);
        }

        found.retain(|f| !line_has_marker(buf, f.start));
        let kept = dedupe(found);
        let mut pos = Position::default();
        kept.into_iter()
            .map(|f| {
                let (line, column) = pos.advance(buf, f.start);
                let (rule, kind, description) = match f.what {
                    What::Configured(name) => (
                        CONFIGURED_RULE.to_owned(),
                        format!("{CONFIGURED_RULE}:{name}"),
                        "a secret of this deployment's configuration".to_owned(),
                    ),
                    What::Rule(i) => {
                        let r = self.rules.get(i);
                        (r.id.clone(), r.id.clone(), r.description.clone())
                    }
                };
                Finding {
                    rule,
                    kind,
                    description,
                    line,
                    column,
                    start: f.start,
                    end: f.end,
                }
            })
            .collect()
    }

    fn match_rule(&self, i: usize, buf: &[u8], found: &mut Vec<Raw<'s>>) {
        let rule = self.rules.get(i);
        let mut locs = rule.regex.capture_locations();
        let mut at = 0;
        while at <= buf.len() {
            let Some(m) = rule.regex.captures_read_at(&mut locs, buf, at) else {
                break;
            };
            at = if m.end() > m.start() {
                m.end()
            } else {
                m.end() + 1
            };
            let secret = rule
                .secret_group
                .and_then(|g| locs.get(g))
                .map_or(m.as_bytes(), |(s, e)| &buf[s..e]);
            if shannon_entropy(secret) < rule.entropy
                || mostly_runs(secret)
                || decodes_to_placeholder(secret)
                || rule.allow.iter().any(|a| a.is_match(secret))
            {
                continue;
            }
            if rule.check == Some(Check::Jwt) && !is_jwt(secret) {
                continue;
            }
            found.push(Raw {
                start: m.start(),
                end: m.end(),
                what: What::Rule(i),
            });
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum What<'s> {
    Configured(&'s str),
    Rule(usize),
}

#[derive(Debug, Clone, Copy)]
struct Raw<'s> {
    start: usize,
    end: usize,
    what: What<'s>,
}

/// One finding per place: configured secrets first, then rule matches that overlap
/// nothing kept (earlier, then longer, first).
fn dedupe(mut found: Vec<Raw<'_>>) -> Vec<Raw<'_>> {
    found.sort_by_key(|f| {
        (
            !matches!(f.what, What::Configured(_)),
            f.start,
            std::cmp::Reverse(f.end),
        )
    });
    let mut kept: Vec<Raw<'_>> = Vec::with_capacity(found.len());
    for f in found {
        if !kept.iter().any(|k| f.start < k.end && k.start < f.end) {
            kept.push(f);
        }
    }
    kept.sort_by_key(|f| (f.start, f.end));
    kept
}

/// Whether the line holding `offset` contains [`ALLOW_MARKER`].
fn line_has_marker(buf: &[u8], offset: usize) -> bool {
    let start = memchr::memrchr(b'\n', &buf[..offset]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &buf[offset..]).map_or(buf.len(), |i| offset + i);
    memmem::find(&buf[start..end], ALLOW_MARKER).is_some()
}

/// Line and column of increasing offsets, counted incrementally.
#[derive(Debug, Default)]
struct Position {
    offset: usize,
    line: usize,
    line_start: usize,
}

impl Position {
    fn advance(&mut self, buf: &[u8], to: usize) -> (usize, usize) {
        debug_assert!(to >= self.offset);
        for nl in memchr::memchr_iter(b'\n', &buf[self.offset..to]) {
            self.line += 1;
            self.line_start = self.offset + nl + 1;
        }
        self.offset = to;
        let column = buf[self.line_start..to]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        (self.line + 1, column + 1)
    }
}
