//! URL templates: `https://{shop}.myshopify.com/admin/oauth/authorize`.
//!
//! A placeholder is `{name}` with `name` in `[a-z_][a-z0-9_]*`. Values are checked
//! against the placeholder's [`ValueKind`] before they are substituted, so no value can
//! add a `/`, `@`, `?`, `#`, port or user info, and the result must parse as an
//! `https` URL.

use std::collections::BTreeMap;

use url::Url;

use crate::error::CatalogError;
use crate::model::{Placeholder, ValueKind};

/// The reserved placeholder standing for the token in a revocation URL.
pub const TOKEN_PLACEHOLDER: &str = "token";

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Where a placeholder sits in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// The whole `scheme://host` part (at offset 0).
    Origin,
    /// Inside the host.
    Host,
    /// In the path or query.
    Rest,
}

fn template_err(template: &str, message: impl Into<String>) -> CatalogError {
    CatalogError::Template {
        template: template.to_owned(),
        message: message.into(),
    }
}

fn is_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// Splits a template into text and placeholders.
pub(crate) fn parse(template: &str) -> Result<Vec<Piece<'_>>, CatalogError> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find(['{', '}']) {
            None => {
                pieces.push(Piece::Text(rest));
                break;
            }
            Some(i) if rest.as_bytes()[i] == b'}' => {
                return Err(template_err(template, "a `}` without its `{`"));
            }
            Some(i) => {
                if i > 0 {
                    pieces.push(Piece::Text(&rest[..i]));
                }
                let after = &rest[i + 1..];
                let end = after
                    .find('}')
                    .ok_or_else(|| template_err(template, "a `{` without its `}`"))?;
                let name = &after[..end];
                if !is_name(name) {
                    return Err(template_err(
                        template,
                        format!(
                            "placeholder {{{name}}} is not a name; use lowercase letters, digits and `_`"
                        ),
                    ));
                }
                pieces.push(Piece::Var(name));
                rest = &after[end + 1..];
            }
        }
    }
    Ok(pieces)
}

/// The placeholders of a template with their position.
pub(crate) fn placeholders(template: &str) -> Result<Vec<(&str, Position)>, CatalogError> {
    let pieces = parse(template)?;
    let mut out = Vec::new();
    let mut offset = 0usize;
    // The host ends at the first `/`, `?` or `#` after `scheme://`.
    let authority_start = template.find("://").map(|i| i + 3);
    let host_end = authority_start.map(|s| {
        template[s..]
            .find(['/', '?', '#'])
            .map_or(template.len(), |e| s + e)
    });
    for piece in pieces {
        match piece {
            Piece::Text(t) => offset += t.len(),
            Piece::Var(name) => {
                let pos = if offset == 0 {
                    Position::Origin
                } else if let (Some(s), Some(e)) = (authority_start, host_end)
                    && offset >= s
                    && offset < e
                {
                    Position::Host
                } else {
                    Position::Rest
                };
                out.push((name, pos));
                offset += name.len() + 2;
            }
        }
    }
    Ok(out)
}

/// Checks that a value fits a placeholder and returns the text to substitute.
pub(crate) fn encode_value(
    name: &str,
    placeholder: &Placeholder,
    value: &str,
) -> Result<String, CatalogError> {
    let bad = |reason: &str| CatalogError::bad_value(name, reason);
    if value.is_empty() {
        return Err(bad("it is empty"));
    }
    if !placeholder.allowed.is_empty() {
        let host_like = matches!(placeholder.kind, ValueKind::Label | ValueKind::Host);
        let ok = placeholder.allowed.iter().any(|a| {
            if host_like {
                a.eq_ignore_ascii_case(value)
            } else {
                a == value
            }
        });
        if !ok {
            return Err(bad(&format!(
                "it is not one of the allowed values: {}",
                placeholder.allowed.join(", ")
            )));
        }
    }
    match placeholder.kind {
        ValueKind::Label => {
            let v = value.to_ascii_lowercase();
            check_label(&v).map_err(bad)?;
            Ok(v)
        }
        ValueKind::Host => {
            let v = value.to_ascii_lowercase();
            check_host(&v).map_err(bad)?;
            check_suffix(&v, &placeholder.host_suffixes).map_err(bad)?;
            Ok(v)
        }
        ValueKind::Origin => {
            if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(bad("it contains spaces or control characters"));
            }
            let url = Url::parse(value).map_err(|_| bad("it is not an https URL"))?;
            if url.scheme() != "https" {
                return Err(bad("it is not an https URL"));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(bad("it carries user info (`@`)"));
            }
            if url.query().is_some() || url.fragment().is_some() || url.path() != "/" {
                return Err(bad(
                    "it must be an origin (`https://host`), without path, query or fragment",
                ));
            }
            if url.port().is_some() {
                return Err(bad("it must not name a port"));
            }
            let host = url.host_str().unwrap_or_default();
            check_host(host).map_err(bad)?;
            check_suffix(host, &placeholder.host_suffixes).map_err(bad)?;
            Ok(format!("https://{host}"))
        }
        ValueKind::Segment => {
            if value == "." || value == ".." {
                return Err(bad("`.` and `..` are not path segments"));
            }
            Ok(percent_encode(value))
        }
    }
}

fn check_label(v: &str) -> Result<(), &'static str> {
    if v.len() > 63 {
        return Err("a DNS label is at most 63 characters");
    }
    if !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("it must be a bare DNS label: letters, digits and `-` only");
    }
    if v.starts_with('-') || v.ends_with('-') {
        return Err("a DNS label neither starts nor ends with `-`");
    }
    Ok(())
}

fn check_host(v: &str) -> Result<(), &'static str> {
    if v.len() > 253 {
        return Err("a host name is at most 253 characters");
    }
    let labels: Vec<&str> = v.split('.').collect();
    if labels.len() < 2 {
        return Err("it must be a host name with a dot (`example.com`)");
    }
    for label in &labels {
        if label.is_empty() {
            return Err("it has an empty label (`..` or a leading or trailing dot)");
        }
        check_label(label).map_err(|_| "it must be a host name: letters, digits, `-` and `.`")?;
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("it must be a host name, not an IP address");
    }
    Ok(())
}

fn check_suffix(host: &str, suffixes: &[String]) -> Result<(), &'static str> {
    if suffixes.is_empty()
        || suffixes
            .iter()
            .any(|s| host.ends_with(s.as_str()) && host.len() > s.len())
    {
        Ok(())
    } else {
        Err("its host is not one this provider uses")
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks a finished URL: it parses, it is `https` (or, with `dev`, `http` on a loopback
/// host), and it has a host and no user info.
pub(crate) fn check_url(url: &str, dev: bool) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("is not a URL ({e})"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry user info (`user@`)".to_owned());
    }
    if parsed.fragment().is_some() {
        return Err("must not have a fragment (`#`)".to_owned());
    }
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "https" if !host.is_empty() => Ok(parsed),
        "http" if dev && is_loopback(&parsed) => Ok(parsed),
        "http" if dev => {
            Err("must use https (http is allowed only for loopback hosts in dev mode)".to_owned())
        }
        "http" => Err(
            "must use https (http is allowed only for loopback hosts with `serve --dev`)"
                .to_owned(),
        ),
        _ => Err("must be an https URL".to_owned()),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Fills a template's placeholders from `values` (or their defaults) and returns the URL.
///
/// Each value is checked against its placeholder's kind: a `label` must be a bare DNS
/// label, a `host` a host name, an `origin` an `https://host`, and a `segment` is
/// percent-encoded. The result must be an `https` URL whose host is the template's.
pub fn resolve_url(
    template: &str,
    placeholders: &BTreeMap<String, Placeholder>,
    values: &BTreeMap<String, String>,
) -> Result<String, CatalogError> {
    resolve_url_with(template, placeholders, values, false)
}

/// [`resolve_url`], where `dev` also accepts an `http://` result on a loopback host
/// (custom providers under `serve --dev`).
pub fn resolve_url_with(
    template: &str,
    placeholders: &BTreeMap<String, Placeholder>,
    values: &BTreeMap<String, String>,
    dev: bool,
) -> Result<String, CatalogError> {
    let mut out = String::with_capacity(template.len() + 32);
    for piece in parse(template)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => {
                let value = values.get(name);
                if name == TOKEN_PLACEHOLDER {
                    let v = value.ok_or_else(|| CatalogError::MissingValue {
                        placeholder: name.to_owned(),
                        source_name: "the token being revoked".to_owned(),
                    })?;
                    out.push_str(&encode_value(name, &segment(), v)?);
                    continue;
                }
                let ph = placeholders.get(name).ok_or_else(|| {
                    template_err(
                        template,
                        format!("placeholder {{{name}}} is not declared under [placeholders]"),
                    )
                })?;
                let value =
                    value
                        .or(ph.default.as_ref())
                        .ok_or_else(|| CatalogError::MissingValue {
                            placeholder: name.to_owned(),
                            source_name: ph.from.describe(),
                        })?;
                out.push_str(&encode_value(name, ph, value)?);
            }
        }
    }
    check_url(&out, dev).map_err(|m| template_err(template, format!("the result {m}")))?;
    Ok(out)
}

/// The longest value substituted into a text template.
const MAX_TEXT_VALUE: usize = 512;

/// Fills a text template (an API header value, an API query parameter or a token
/// parameter, not a URL): each `{name}` is replaced by its value as it is, once the
/// value is checked against its placeholder's kind (a `segment` is any text). No value
/// may be empty, longer than 512 characters or hold a control character, so a header
/// value can never be split. `{token}` is not a text placeholder.
pub fn resolve_text(
    template: &str,
    placeholders: &BTreeMap<String, Placeholder>,
    values: &BTreeMap<String, String>,
) -> Result<String, CatalogError> {
    let mut out = String::with_capacity(template.len() + 32);
    for piece in parse(template)? {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => {
                let ph = placeholders.get(name).ok_or_else(|| {
                    template_err(
                        template,
                        format!("placeholder {{{name}}} is not declared under [placeholders]"),
                    )
                })?;
                let value = values.get(name).or(ph.default.as_ref()).ok_or_else(|| {
                    CatalogError::MissingValue {
                        placeholder: name.to_owned(),
                        source_name: ph.from.describe(),
                    }
                })?;
                if value.chars().count() > MAX_TEXT_VALUE || value.chars().any(char::is_control) {
                    return Err(CatalogError::bad_value(
                        name,
                        "it is longer than 512 characters or holds a control character",
                    ));
                }
                // The kind's checks (allowed values, labels, hosts, origins); the value
                // goes in as it is, not percent-encoded.
                let checked = encode_value(name, ph, value)?;
                match ph.kind {
                    ValueKind::Segment => out.push_str(value),
                    _ => out.push_str(&checked),
                }
            }
        }
    }
    Ok(out)
}

fn segment() -> Placeholder {
    Placeholder {
        from: crate::model::ValueSource::Connection(TOKEN_PLACEHOLDER.to_owned()),
        kind: ValueKind::Segment,
        default: None,
        host_suffixes: Vec::new(),
        allowed: Vec::new(),
        description: None,
    }
}

/// A harmless value of each kind, to check that a template makes a URL.
pub(crate) fn sample(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Label => "sample",
        ValueKind::Host => "sample.example",
        ValueKind::Origin => "https://sample.example",
        ValueKind::Segment => "sample",
    }
}
