//! Mapping: a stored event becomes the app's event `{type, data}`.
//!
//! - Internal events (scheme `internal`, e.g. `connection.needs_reauth`) already are
//!   `{type, data}` and pass through as they are.
//! - An event with a `[[mappings]]` entry for its integration and provider type (or
//!   `*`) runs the entry's jq program on the payload. The program must produce one
//!   object `{type: "<string>", data: …}` (checked against the entry's JSON Schema when
//!   it has one); no output drops the event; anything else fails the mapping with the
//!   error and its location (`mappings[i] …`), and the event is kept as `mapping_failed`
//!   until a replay maps it again.
//! - Other events pass through as `{type: "<provider>.<event type>", data: <payload>}`.
//!
//! The payload is the body as JSON, or, for form-encoded bodies (Twilio, Slack slash
//! commands), an object of its fields, or else the body as a string.

use config::{Config, JqData, JqValue, Mapping};
use jaq_core::{Ctx, Vars, unwrap_valr};
use serde_json::Value;
use store::{Event, Mapped};

/// Longest error text kept with an event.
const MAX_ERROR: usize = 1024;

/// The payload a program sees.
pub fn payload(event: &Event) -> Value {
    if let Ok(v) = serde_json::from_slice::<Value>(&event.body) {
        return v;
    }
    let form = signatures::parse_urlencoded(&event.body);
    let text = String::from_utf8_lossy(&event.body);
    if !form.is_empty() && !text.trim_start().starts_with(['{', '[']) && text.contains('=') {
        return Value::Object(
            form.into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        );
    }
    Value::String(text.into_owned())
}

/// The mapping entry for an event: its exact type first, then `*`.
pub fn mapping_for<'c>(cfg: &'c Config, event: &Event) -> Option<&'c Mapping> {
    let of_integration = || {
        cfg.mappings
            .iter()
            .filter(|m| m.integration == event.integration)
    };
    of_integration()
        .find(|m| Some(m.event_type.as_str()) == event.event_type.as_deref())
        .or_else(|| of_integration().find(|m| m.event_type == "*"))
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_ERROR {
        let mut end = MAX_ERROR;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// Maps one event under `cfg`. `provider` is the integration's provider id (for the
/// pass-through type).
pub fn map_event(cfg: &Config, provider: &str, event: &Event) -> Mapped {
    map_event_with(cfg, provider, event, None)
}

/// [`map_event`] with the payload already parsed (intake has it); `None` parses it.
pub fn map_event_with(
    cfg: &Config,
    provider: &str,
    event: &Event,
    parsed: Option<Value>,
) -> Mapped {
    if event.scheme == "internal" {
        return internal(event);
    }
    let Some(m) = mapping_for(cfg, event) else {
        // A JSON body passes through as it came: no re-serialisation, and the store keeps
        // it once (the event's body) instead of twice.
        let is_json = parsed.is_some()
            || serde_json::from_slice::<serde::de::IgnoredAny>(&event.body).is_ok();
        let data = match std::str::from_utf8(&event.body) {
            Ok(text) if is_json => text.to_owned(),
            _ => parsed.unwrap_or_else(|| payload(event)).to_string(),
        };
        return Mapped::Mapped {
            event_type: format!(
                "{provider}.{}",
                event.event_type.as_deref().unwrap_or("event")
            ),
            data,
        };
    };
    let input = parsed.unwrap_or_else(|| payload(event));
    let place = format!(
        "{} (integration {:?}, event type {:?})",
        m.key, m.integration, m.event_type
    );
    match run(m, input) {
        Ok(Some((event_type, data))) => Mapped::Mapped { event_type, data },
        Ok(None) => Mapped::Dropped,
        Err(e) => Mapped::Failed {
            error: cut(format!("{place}: {e}")),
        },
    }
}

fn internal(event: &Event) -> Mapped {
    let parsed: Option<(String, Value)> = serde_json::from_slice::<Value>(&event.body)
        .ok()
        .and_then(|v| {
            let ty = v.get("type")?.as_str()?.to_owned();
            Some((ty, v.get("data").cloned().unwrap_or(Value::Null)))
        });
    match parsed {
        Some((event_type, data)) => Mapped::Mapped {
            event_type,
            data: data.to_string(),
        },
        None => Mapped::Failed {
            error: "internal event: the body is not {type, data}".into(),
        },
    }
}

/// Runs a mapping's program: `Ok(None)` when it produced nothing.
pub fn run(m: &Mapping, input: Value) -> Result<Option<(String, String)>, String> {
    let input: JqValue = serde_json::from_value(input)
        .map_err(|e| format!("the payload cannot be given to jq: {e}"))?;
    let filter = &m.jq.filter;
    let ctx = Ctx::<JqData>::new(&filter.lut, Vars::new([]));
    let mut outputs = filter.id.run((ctx, input)).map(unwrap_valr);
    let first = match outputs.next() {
        None => return Ok(None),
        Some(Err(e)) => return Err(format!("jq error: {e}")),
        Some(Ok(v)) => v,
    };
    if outputs.next().is_some() {
        return Err(
            "jq produced more than one output; make the program produce one {type, data} object (or none to drop the event)"
                .into(),
        );
    }
    let out: Value = serde_json::from_str(&first.to_string())
        .map_err(|e| format!("jq output is not JSON: {e}"))?;
    let Some(obj) = out.as_object() else {
        return Err(format!(
            "jq output must be an object {{type, data}}, got {}",
            kind(&out)
        ));
    };
    let Some(ty) = obj
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty() && t.len() <= 256 && !t.contains(char::is_whitespace))
    else {
        return Err("jq output has no \"type\" string (1 to 256 characters, no spaces)".into());
    };
    let data = obj.get("data").cloned().unwrap_or(Value::Null);
    if let Some(schema) = &m.schema {
        let validator = jsonschema::validator_for(schema)
            .map_err(|e| format!("the schema cannot be used: {e}"))?;
        let errors: Vec<String> = validator
            .iter_errors(&data)
            .take(3)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if !errors.is_empty() {
            return Err(format!(
                "data does not match the schema: {}",
                errors.join("; ")
            ));
        }
    }
    Ok(Some((ty.to_owned(), data.to_string())))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether an event type matches a destination pattern (`*`, `payment.*`, exact).
pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    pattern == "*"
        || pattern == event_type
        || pattern
            .strip_suffix('*')
            .is_some_and(|prefix| prefix.ends_with('.') && event_type.starts_with(prefix))
}

/// The destinations of `cfg` that take an event of `integration` mapped to `event_type`.
pub fn destinations_for<'c>(
    cfg: &'c Config,
    integration: &str,
    event_type: &str,
) -> impl Iterator<Item = &'c config::Destination> {
    cfg.destinations.iter().filter(move |d| {
        (d.integrations.is_empty() || d.integrations.iter().any(|i| i == integration))
            && d.event_types.iter().any(|p| type_matches(p, event_type))
    })
}
