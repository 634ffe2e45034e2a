//! A configurable HMAC scheme for services without a built-in one.

use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::crypto::{self, HmacAlgorithm, KeyEncoding, SignatureEncoding, parse_timestamp};
use crate::schemes::{Ctx, check_count, decode_sig, prefixed_sig};
use crate::{SignError, SignRequest, Signed, Verified, VerifyError};

/// Settings of the `generic-hmac` scheme:
/// `{prefix}{encode(HMAC(secret, template))}` in `header`.
///
/// The template's placeholders are `{body}`, `{timestamp}`, `{id}`, `{url}`, `{method}`;
/// `{{` and `}}` stand for literal braces. `{timestamp}` needs `timestamp_header` (Unix
/// seconds, checked against the tolerance), `{id}` needs `id_header`. Several values of
/// `header` are all tried (rotation), and so are the parts of one value when `separator`
/// is set. `key_encoding` says how a configured secret becomes the key (as written, hex
/// or base64).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericHmac {
    /// The header carrying the signature, e.g. `X-Signature`.
    pub header: String,
    /// Text before the encoded signature, e.g. `sha256=`.
    #[serde(default)]
    pub prefix: String,
    /// The hash under the HMAC (default SHA-256).
    #[serde(default)]
    pub algorithm: HmacAlgorithm,
    /// How the signature is encoded (default hex).
    #[serde(default)]
    pub encoding: SignatureEncoding,
    /// What is signed (default `{body}`).
    #[serde(default = "default_template")]
    pub template: String,
    /// The header carrying the Unix timestamp, when one is signed.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// The header carrying a message id, when one is signed.
    #[serde(default)]
    pub id_header: Option<String>,
    /// Tolerance for the timestamp, in seconds (default 300 when there is a timestamp).
    #[serde(default)]
    pub tolerance_secs: Option<u64>,
    /// How each configured secret becomes the HMAC key (default `raw`: its bytes as
    /// written; `hex` and `base64` decode it first).
    #[serde(default, skip_serializing_if = "is_raw")]
    pub key_encoding: KeyEncoding,
    /// When set, one header value carries several signatures separated by it (e.g. `,`
    /// while a secret rotates); parts without `prefix` (other versions) are skipped, and
    /// signing with several secrets writes one part per secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
}

fn is_raw(k: &KeyEncoding) -> bool {
    *k == KeyEncoding::Raw
}

/// An HTTP field name: one or more token characters (RFC 9110).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn default_template() -> String {
    "{body}".to_owned()
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Body,
    Timestamp,
    Id,
    Url,
    Method,
}

/// The values a template can refer to.
struct Values<'a> {
    body: &'a [u8],
    timestamp: &'a str,
    id: &'a str,
    url: &'a str,
    method: &'a str,
}

impl GenericHmac {
    /// Settings with defaults: hex HMAC-SHA256 of the body in `header`.
    pub fn new(header: impl Into<String>) -> Self {
        Self {
            header: header.into(),
            prefix: String::new(),
            algorithm: HmacAlgorithm::default(),
            encoding: SignatureEncoding::default(),
            template: default_template(),
            timestamp_header: None,
            id_header: None,
            tolerance_secs: None,
            key_encoding: KeyEncoding::Raw,
            separator: None,
        }
    }

    /// The default tolerance: the configured one, else 300 s when a timestamp is signed.
    pub fn default_tolerance_secs(&self) -> Option<u64> {
        self.timestamp_header
            .as_ref()
            .map(|_| self.tolerance_secs.unwrap_or(300))
    }

    /// Checks the settings: a header name, a template whose placeholders are known and
    /// whose `{timestamp}`/`{id}` have a header to come from.
    pub fn validate(&self) -> Result<(), &'static str> {
        self.pieces().map(|_| ())
    }

    fn pieces(&self) -> Result<Vec<Piece>, &'static str> {
        if self.header.trim().is_empty() {
            return Err("header is empty");
        }
        let names = [
            Some(&self.header),
            self.timestamp_header.as_ref(),
            self.id_header.as_ref(),
        ];
        if !names.into_iter().flatten().all(|n| is_header_name(n)) {
            return Err("a header name has characters HTTP does not allow");
        }
        if self.prefix.trim_start() != self.prefix || self.prefix.chars().any(char::is_control) {
            return Err("prefix starts with a space or has control characters");
        }
        if let Some(sep) = &self.separator
            && (sep.trim().is_empty() || sep.chars().any(char::is_control))
        {
            return Err("separator is empty, blank or has control characters");
        }
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut chars = self.template.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err("unclosed '{' in template (write '{{' for a literal one)");
                    }
                    let piece = match name.as_str() {
                        "body" => Piece::Body,
                        "timestamp" if self.timestamp_header.is_some() => Piece::Timestamp,
                        "timestamp" => {
                            return Err("{timestamp} is used but timestamp_header is not set");
                        }
                        "id" if self.id_header.is_some() => Piece::Id,
                        "id" => return Err("{id} is used but id_header is not set"),
                        "url" => Piece::Url,
                        "method" => Piece::Method,
                        _ => return Err("unknown placeholder in template"),
                    };
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(piece);
                }
                '}' => return Err("unmatched '}' in template (write '}}' for a literal one)"),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        if pieces.is_empty() {
            return Err("template is empty");
        }
        Ok(pieces)
    }

    fn content<'a>(pieces: &'a [Piece], v: &Values<'a>) -> Vec<&'a [u8]> {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_bytes(),
                Piece::Body => v.body,
                Piece::Timestamp => v.timestamp.as_bytes(),
                Piece::Id => v.id.as_bytes(),
                Piece::Url => v.url.as_bytes(),
                Piece::Method => v.method.as_bytes(),
            })
            .collect()
    }

    pub(crate) fn verify(&self, ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
        let pieces = self.pieces().map_err(VerifyError::InvalidConfig)?;
        let h = ctx.req.headers;
        let header = self.header.as_str();
        let mut sigs = Vec::new();
        let mut other = None;
        let mut header_values = 0;
        for raw in h.get_all(header) {
            header_values += 1;
            check_count(header, header_values)?;
            let text = std::str::from_utf8(raw)
                .map_err(|_| VerifyError::malformed(header, "not UTF-8"))?
                .trim();
            if text.is_empty() {
                return Err(VerifyError::malformed(header, "empty"));
            }
            let Some(sep) = self.separator.as_deref() else {
                sigs.push(prefixed_sig(header, text, &self.prefix, self.encoding)?);
                continue;
            };
            for part in text.split(sep).map(str::trim).filter(|p| !p.is_empty()) {
                match part.strip_prefix(self.prefix.as_str()) {
                    Some(sig) => {
                        check_count(header, sigs.len() + 1)?;
                        sigs.push(decode_sig(header, sig, self.encoding)?);
                    }
                    // Another version: skipped, named if nothing else is there.
                    None => other = other.or(part.split_once(['=', ',']).map(|(t, _)| t)),
                }
            }
        }
        if header_values == 0 {
            return Err(VerifyError::missing(header));
        }
        if sigs.is_empty() {
            return Err(match other {
                Some(tag) => VerifyError::unsupported(header, tag),
                None => VerifyError::NoSignatures {
                    header: header.to_owned(),
                },
            });
        }
        let id = self.id_header.as_deref().map(|n| h.text(n)).transpose()?;
        let (ts_text, ts) = match self.timestamp_header.as_deref() {
            Some(name) => {
                let text = h.text(name)?;
                let ts = parse_timestamp(name, text)?;
                ctx.check_time(ts)?;
                (text, Some(ts))
            }
            None => ("", None),
        };
        let needs = |p: Piece| pieces.contains(&p);
        let url = if needs(Piece::Url) {
            ctx.url()?
        } else {
            ctx.req.url
        };
        let values = Values {
            body: ctx.req.body,
            timestamp: ts_text,
            id: id.unwrap_or(""),
            url,
            method: ctx.req.method,
        };
        let content = Self::content(&pieces, &values);
        let mut secret_index = None;
        for (index, secret) in ctx.secrets.iter().enumerate() {
            let key = self
                .key_encoding
                .key(secret.expose_secret())
                .map_err(|reason| VerifyError::BadSecret { index, reason })?;
            if crypto::find_match(&crypto::hmac(self.algorithm, &key, &content), &sigs) {
                secret_index = Some(index);
                break;
            }
        }
        let secret_index = secret_index.ok_or(VerifyError::NoMatch {
            signatures: sigs.len(),
            secrets: ctx.secrets.len(),
        })?;
        Ok(Verified {
            secret_index,
            timestamp: ts,
            id: id.map(str::to_owned),
            key: crate::KeyRole::Webhook,
        })
    }

    pub(crate) fn sign(
        &self,
        secrets: &[SecretString],
        input: &SignRequest<'_>,
    ) -> Result<Signed, SignError> {
        let pieces = self.pieces().map_err(SignError::InvalidConfig)?;
        let ts = input.timestamp.to_string();
        let id = match &self.id_header {
            Some(_) => crate::schemes::sign_id(input)?,
            None => "",
        };
        if pieces.contains(&Piece::Url) && input.url.trim().is_empty() {
            return Err(SignError::MissingInput("url"));
        }
        let values = Values {
            body: input.body,
            timestamp: &ts,
            id,
            url: input.url.trim(),
            method: input.method,
        };
        let content = Self::content(&pieces, &values);
        // One signature, or one per secret when the header can carry several.
        let signers = if self.separator.is_some() {
            secrets
        } else {
            &secrets[..1]
        };
        let mut sigs = Vec::with_capacity(signers.len());
        for (index, secret) in signers.iter().enumerate() {
            let key = self
                .key_encoding
                .key(secret.expose_secret())
                .map_err(|reason| SignError::BadSecret { index, reason })?;
            let mac = crypto::hmac(self.algorithm, &key, &content);
            sigs.push(format!(
                "{}{}",
                self.prefix,
                crypto::encode(self.encoding, &mac)
            ));
        }
        let sig = sigs.join(self.separator.as_deref().unwrap_or(""));
        let mut headers = Vec::new();
        if let Some(name) = &self.id_header {
            headers.push((name.clone(), id.to_owned()));
        }
        if let Some(name) = &self.timestamp_header {
            headers.push((name.clone(), ts));
        }
        headers.push((self.header.clone(), sig));
        Ok(Signed::headers(headers, input.url))
    }
}
