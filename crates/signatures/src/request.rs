//! The view of an incoming request that verification reads.

use std::fmt;

use crate::VerifyError;

/// HTTP headers: names compared case-insensitively, several values per name kept in
/// order, values as raw bytes (a non-UTF-8 value is reported as malformed, never a
/// panic). `Debug` shows names and value lengths only, never values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value; an existing value of the same name is kept.
    pub fn append(&mut self, name: impl AsRef<str>, value: impl AsRef<[u8]>) {
        self.entries
            .push((name.as_ref().to_ascii_lowercase(), value.as_ref().to_vec()));
    }

    /// Adds one value, builder style.
    pub fn with(mut self, name: impl AsRef<str>, value: impl AsRef<[u8]>) -> Self {
        self.append(name, value);
        self
    }

    /// Every value of `name`, in the order added.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let name = name.to_ascii_lowercase();
        self.entries
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// All (lowercased name, value) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no header.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first value of `name` as trimmed text: missing and non-UTF-8 are errors naming
    /// `display` (the provider's spelling of the header).
    pub(crate) fn text(&self, display: &str) -> Result<&str, VerifyError> {
        let raw = self
            .get(display)
            .ok_or_else(|| VerifyError::missing(display))?;
        let s =
            std::str::from_utf8(raw).map_err(|_| VerifyError::malformed(display, "not UTF-8"))?;
        let s = s.trim();
        if s.is_empty() {
            return Err(VerifyError::malformed(display, "empty"));
        }
        Ok(s)
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (n, v) in &self.entries {
            m.entry(n, &format_args!("<{} bytes>", v.len()));
        }
        m.finish()
    }
}

impl<N: AsRef<str>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut h = Self::new();
        for (n, v) in iter {
            h.append(n, v);
        }
        h
    }
}

impl From<&http::HeaderMap> for Headers {
    fn from(map: &http::HeaderMap) -> Self {
        map.iter()
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .collect()
    }
}

/// What verification reads of an incoming request.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The HTTP method as received (`POST`).
    pub method: &'a str,
    /// The full URL as the provider called it: scheme, host, path and query, exactly as
    /// configured at the provider (Twilio, Square and HubSpot sign it).
    pub url: &'a str,
    /// The headers.
    pub headers: &'a Headers,
    /// The raw body, byte for byte (never re-serialised JSON).
    pub body: &'a [u8],
    /// Already-parsed form parameters (e.g. from `multipart/form-data`). When `None`, a
    /// scheme that needs them parses the body as `application/x-www-form-urlencoded`.
    pub form: Option<&'a [(String, String)]>,
}

impl<'a> Request<'a> {
    /// A request without pre-parsed form parameters.
    pub fn new(method: &'a str, url: &'a str, headers: &'a Headers, body: &'a [u8]) -> Self {
        Self {
            method,
            url,
            headers,
            body,
            form: None,
        }
    }

    /// Supplies parsed form parameters.
    pub fn with_form(mut self, form: &'a [(String, String)]) -> Self {
        self.form = Some(form);
        self
    }

    /// The form parameters: the given ones, or the body parsed as urlencoded.
    pub(crate) fn form_params(&self) -> Vec<(String, String)> {
        match self.form {
            Some(f) => f.to_vec(),
            None => parse_urlencoded(self.body),
        }
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", self.headers)
            .field("body_len", &self.body.len())
            .field("form_params", &self.form.map(<[_]>::len))
            .finish()
    }
}

/// Parses `application/x-www-form-urlencoded` (`+` is a space, `%XX` a byte, invalid
/// escapes kept literally, invalid UTF-8 replaced), keeping order and duplicates.
pub fn parse_urlencoded(input: &[u8]) -> Vec<(String, String)> {
    input
        .split(|&b| b == b'&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| match seg.iter().position(|&b| b == b'=') {
            Some(i) => (percent_decode(&seg[..i]), percent_decode(&seg[i + 1..])),
            None => (percent_decode(seg), String::new()),
        })
        .collect()
}

fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => match (hex_val(input[i + 1]), hex_val(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The query string of a URL (between `?` and `#`), if any.
pub(crate) fn query_of(url: &str) -> Option<&str> {
    let q = url.split_once('?')?.1;
    Some(q.split_once('#').map_or(q, |(q, _)| q))
}
