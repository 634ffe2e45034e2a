//! What the admin console shows of a stored payload: a copy with the values of keys that
//! look secret (`token`, `secret`, `password`, `api_key`, `authorization`…) and the
//! fields an integration lists in `redact_fields` (JSON pointers, `*` for every key or
//! index) replaced by [`REDACTED`]. JSON bodies are shown redacted, form bodies as their
//! fields redacted, anything else not at all (it cannot be checked). Storage and
//! delivery never go through here: this is for display only.

use serde_json::Value;

use super::admin::EventDetail;
use crate::{Engine, EngineResult};

/// What a redacted value reads as.
pub const REDACTED: &str = "[redacted]";

/// Longest shown text; a larger payload is cut (the page stays small).
pub const MAX_SHOWN_BYTES: usize = 16 * 1024;

/// Parts of key names (lowercase, without `-`, `_`, `.` and spaces) whose values are
/// never shown.
const SECRET_PARTS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "apikey",
    "authorization",
    "credential",
    "signature",
    "cookie",
    "privatekey",
    "accesskey",
    "sessionid",
];

/// Whole key names (normalised as above) whose values are never shown.
const SECRET_NAMES: &[&str] = &["auth", "key", "pin", "cvv", "cvc", "otp", "ssn"];

/// Whether a key's value should never be shown.
pub fn is_secret_key(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_NAMES.contains(&k.as_str()) || SECRET_PARTS.iter().any(|p| k.contains(p))
}

/// Replaces, in place, the values of secret-looking keys (at any depth) and the fields
/// `pointers` select. A pointer that selects nothing is ignored.
pub fn redact_value(v: &mut Value, pointers: &[String]) {
    for p in pointers {
        let segments: Vec<String> = p
            .split('/')
            .skip(1)
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        redact_pointer(v, &segments);
    }
    redact_keys(v);
}

fn redact_pointer(v: &mut Value, segments: &[String]) {
    let Some((first, rest)) = segments.split_first() else {
        *v = Value::String(REDACTED.to_owned());
        return;
    };
    match v {
        Value::Object(m) if first == "*" => m.values_mut().for_each(|x| redact_pointer(x, rest)),
        Value::Object(m) => {
            if let Some(x) = m.get_mut(first) {
                redact_pointer(x, rest);
            }
        }
        Value::Array(a) if first == "*" => a.iter_mut().for_each(|x| redact_pointer(x, rest)),
        Value::Array(a) => {
            if let Some(x) = first.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                redact_pointer(x, rest);
            }
        }
        _ => {}
    }
}

fn redact_keys(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if is_secret_key(k) {
                    *x = Value::String(REDACTED.to_owned());
                } else {
                    redact_keys(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_keys),
        _ => {}
    }
}

/// A payload as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// Nothing stored (empty body, or removed by retention or erasure).
    Empty,
    /// JSON, redacted and pretty-printed; `truncated` when cut at [`MAX_SHOWN_BYTES`].
    Json {
        /// The text.
        text: String,
        /// Whether it was cut.
        truncated: bool,
    },
    /// Form fields (`a=b&c=d`) as a JSON object, redacted (a field holding a JSON object
    /// or array, like Slack's `payload`, is shown parsed and redacted too).
    Form {
        /// The text.
        text: String,
        /// Whether it was cut.
        truncated: bool,
    },
    /// Neither JSON nor form data: not shown, since it cannot be checked for secrets.
    Hidden {
        /// Its size.
        bytes: usize,
    },
}

fn pretty(v: &Value) -> (String, bool) {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    if text.len() <= MAX_SHOWN_BYTES {
        return (text, false);
    }
    let mut end = MAX_SHOWN_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_owned(), true)
}

/// A stored body as the console shows it, redacted with `pointers`.
pub fn show_body(body: &[u8], pointers: &[String]) -> Shown {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Shown::Empty;
    }
    if let Ok(mut v) = serde_json::from_slice::<Value>(body) {
        redact_value(&mut v, pointers);
        let (text, truncated) = pretty(&v);
        return Shown::Json { text, truncated };
    }
    if let Some(mut v) = form_fields(body) {
        redact_value(&mut v, pointers);
        let (text, truncated) = pretty(&v);
        return Shown::Form { text, truncated };
    }
    Shown::Hidden { bytes: body.len() }
}

/// `a=b&c=d` as `{"a": "b", "c": "d"}` (a repeated name keeps its values in a list; a
/// value that is a JSON object or array is parsed), or `None` if `body` is not form
/// data.
fn form_fields(body: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(body).ok()?;
    if text.contains(char::is_whitespace) || !text.contains('=') {
        return None;
    }
    let mut out = serde_json::Map::new();
    for (k, val) in form_urlencoded::parse(text.as_bytes()) {
        if k.is_empty() {
            return None;
        }
        let val = match serde_json::from_str::<Value>(&val) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
            _ => Value::String(val.into_owned()),
        };
        match out.get_mut(k.as_ref()) {
            Some(Value::Array(a)) => a.push(val),
            Some(prev) => *prev = Value::Array(vec![prev.take(), val]),
            None => {
                out.insert(k.into_owned(), val);
            }
        }
    }
    Some(Value::Object(out))
}

/// An event as the console shows it: its detail without body or headers, and its
/// payload and mapped data redacted.
#[derive(Debug, Clone)]
pub struct EventDisplay {
    /// The event's metadata, mapping and deliveries; its body and headers are emptied
    /// and its mapped data removed (see `payload` and `mapped`).
    pub detail: EventDetail,
    /// The received payload, redacted.
    pub payload: Shown,
    /// The data destinations receive, redacted; `None` unless mapped.
    pub mapped: Option<Shown>,
}

impl Engine {
    /// One event for display: [`Engine::event_detail`] with the payload and the mapped
    /// data redacted by the secret-looking keys and the integration's `redact_fields`.
    pub async fn event_display(&self, id: &str) -> EngineResult<EventDisplay> {
        let mut detail = self.event_detail(id).await?;
        let pointers = self
            .config()
            .integration(&detail.event.integration)
            .map(|i| i.redact_fields.clone())
            .unwrap_or_default();
        let payload = show_body(&detail.event.body, &pointers);
        let mapped = match &mut detail.routing.mapped {
            Some(store::Mapped::Mapped { data, .. }) => {
                let shown = show_body(data.as_bytes(), &pointers);
                data.clear();
                Some(shown)
            }
            _ => None,
        };
        detail.event.body = Vec::new();
        detail.event.headers = Vec::new();
        Ok(EventDisplay {
            detail,
            payload,
            mapped,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_looking_keys_are_redacted_at_any_depth() {
        let mut v = json!({
            "id": "evt_1",
            "access_token": "at-SECRET",
            "data": {
                "object": {"amount": 5, "client_secret": "pi_SECRET", "X-Api-Key": "k-SECRET"},
                "list": [{"password": "pw-SECRET", "name": "ok"}, {"Authorization": "Bearer SECRET"}],
                "auth": {"nested": "SECRET"},
                "author": "kept",
                "keys": "kept",
                "tokenizer": {"nested": "SECRET"}
            }
        });
        redact_value(&mut v, &[]);
        let text = v.to_string();
        assert!(!text.contains("SECRET"), "{text}");
        assert_eq!(v["data"]["author"], "kept");
        assert_eq!(v["data"]["keys"], "kept");
        assert_eq!(v["data"]["object"]["amount"], 5);
        assert_eq!(v["data"]["list"][0]["name"], "ok");
        assert_eq!(v["access_token"], REDACTED);
    }

    #[test]
    fn configured_pointers_are_redacted_with_wildcards_and_escapes() {
        let mut v = json!({
            "data": {"card": {"number": "4242-SECRET", "brand": "visa"}},
            "items": [{"email": "a-SECRET"}, {"email": "b-SECRET"}],
            "a/b": {"~c": "SECRET"},
            "first": ["SECRET", "kept"]
        });
        let pointers: Vec<String> = [
            "/data/card/number",
            "/items/*/email",
            "/a~1b/~0c",
            "/first/0",
            "/missing/path",
            "/first/9",
            "/data/card/number/deeper",
        ]
        .map(String::from)
        .to_vec();
        redact_value(&mut v, &pointers);
        assert!(!v.to_string().contains("SECRET"), "{v}");
        assert_eq!(v["data"]["card"]["brand"], "visa");
        assert_eq!(v["first"][1], "kept");
    }

    #[test]
    fn bodies_are_shown_as_json_form_fields_or_not_at_all() {
        let Shown::Json { text, truncated } = show_body(br#"{"token":"t-SECRET","n":1}"#, &[])
        else {
            panic!()
        };
        assert!(!text.contains("SECRET") && text.contains("\"n\": 1") && !truncated);
        let Shown::Form { text, .. } = show_body(
            b"token=t-SECRET&text=hi+there&payload=%7B%22api_key%22%3A%22k-SECRET%22%2C%22ok%22%3A1%7D&x=1&x=2",
            &[],
        ) else {
            panic!()
        };
        assert!(!text.contains("SECRET"), "{text}");
        assert!(
            text.contains("hi there") && text.contains("\"ok\": 1"),
            "{text}"
        );
        assert!(text.contains("\"1\"") && text.contains("\"2\""), "{text}");
        assert_eq!(
            show_body(b"<xml>SECRET</xml>", &[]),
            Shown::Hidden { bytes: 17 }
        );
        assert_eq!(show_body(b"\xff\xfe=", &[]), Shown::Hidden { bytes: 3 });
        assert_eq!(show_body(b"", &[]), Shown::Empty);
        assert_eq!(show_body(b"  \n", &[]), Shown::Empty);
    }

    #[test]
    fn large_payloads_are_cut_on_a_character_boundary() {
        let body = serde_json::to_vec(&json!({"s": "é".repeat(MAX_SHOWN_BYTES)})).unwrap();
        let Shown::Json { text, truncated } = show_body(&body, &[]) else {
            panic!()
        };
        assert!(truncated && text.len() <= MAX_SHOWN_BYTES);
    }

    #[test]
    fn key_names_are_normalised() {
        for k in [
            "token",
            "Refresh-Token",
            "API_KEY",
            "x.api.key",
            "ClientSecret",
            "PASSWORD",
            "set-cookie",
            "Key",
            "stripe_signature",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "id", "type", "author", "monkey", "keyboard", "data", "amount",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
