//! What the console's operational pages (integrations, connections, events,
//! destinations) share: reading filter forms (an empty field is no filter; an unknown
//! field or a bad value is a 400 page that names the field) and times as the pages show
//! and take them (UTC).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::render::PageError;

/// Rows per page of every listing: 10,000 events stay fast and each page small.
pub const PAGE_SIZE: u32 = 50;

/// A 400 about one field.
pub fn field_error(field: &str, message: impl std::fmt::Display) -> PageError {
    PageError::bad_request(format!("{field}: {message}"))
}

/// The form of an action that asks first: the ticked confirmation box (the CSRF token
/// is checked by `ConsoleForm`).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmForm {
    /// Must be ticked (`yes` or `on`).
    #[serde(default)]
    pub confirm: Option<String>,
}

impl ConfirmForm {
    /// A 400 naming the box unless it is ticked; `what` ends "tick the box to confirm …".
    pub fn require(&self, what: &str) -> Result<(), PageError> {
        if matches!(self.confirm.as_deref(), Some("yes" | "on")) {
            Ok(())
        } else {
            Err(field_error(
                "confirm",
                format!("tick the box to confirm {what}"),
            ))
        }
    }
}

/// A filter form as submitted: each known field once, empty ones dropped.
#[derive(Debug, Default)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    /// Reads `raw`, refusing a field not in `known` (a 400 naming it).
    pub fn read(raw: BTreeMap<String, String>, known: &[&str]) -> Result<Self, PageError> {
        for k in raw.keys() {
            if !known.contains(&k.as_str()) {
                return Err(field_error(
                    &k.chars().take(40).collect::<String>(),
                    format!("not a field of this form; use {}", known.join(", ")),
                ));
            }
        }
        Ok(Self(
            raw.into_iter()
                .map(|(k, v)| (k, v.trim().to_owned()))
                .filter(|(_, v)| !v.is_empty())
                .collect(),
        ))
    }

    /// A field's value, if given (at most `max` characters, no control characters).
    pub fn text(&self, name: &str, max: usize) -> Result<Option<String>, PageError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) if v.chars().count() > max || v.chars().any(char::is_control) => {
                Err(field_error(
                    name,
                    format!("at most {max} characters, no control characters"),
                ))
            }
            Some(v) => Ok(Some(v.clone())),
        }
    }

    /// A field that must be one of `allowed`.
    pub fn choice(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, PageError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v.clone())),
            Some(_) => Err(field_error(
                name,
                format!("choose one of {}", allowed.join(", ")),
            )),
        }
    }

    /// A time as the form's `datetime-local` field sends it (UTC), or RFC 3339.
    pub fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, PageError> {
        self.0
            .get(name)
            .map(|v| {
                parse_time(v)
                    .ok_or_else(|| field_error(name, "a time such as 2026-01-31T13:45 (UTC)"))
            })
            .transpose()
    }

    /// Whether a checkbox was ticked (`on`, `yes`, `true` or `1`).
    pub fn ticked(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| matches!(v.as_str(), "on" | "yes" | "true" | "1"))
    }

    /// The raw value, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// A `datetime-local` value (`2026-01-31T13:45`, seconds optional) as UTC, or RFC 3339.
pub fn parse_time(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
        .map(|n| n.and_utc())
}

/// A time as the pages show it: `2026-01-31 13:45:07 UTC`.
pub fn show_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// An optional time as the pages show it (`—` when absent).
pub fn show_opt_time(t: Option<&DateTime<Utc>>) -> String {
    t.map_or_else(|| "—".to_owned(), show_time)
}

/// A time as a `datetime-local` field takes it back.
pub fn form_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

/// `a=b&c=d` of the given pairs (empty values left out), for links that keep a filter.
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_utc_and_shown_the_same_way() {
        let t = parse_time("2026-01-31T13:45").unwrap();
        assert_eq!(show_time(&t), "2026-01-31 13:45:00 UTC");
        assert_eq!(form_time(&t), "2026-01-31T13:45");
        assert_eq!(
            parse_time("2026-01-31T13:45:07+01:00")
                .map(|t| show_time(&t))
                .as_deref(),
            Some("2026-01-31 12:45:07 UTC")
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00",
            "2026-01-31T25:00",
            "1e9",
        ] {
            assert!(parse_time(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn fields_refuse_unknown_names_and_bad_values() {
        let raw = |p: &[(&str, &str)]| -> BTreeMap<String, String> {
            p.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let e = Fields::read(raw(&[("nope", "1")]), &["a"]).unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("nope:"), "{}", e.message);
        let f = Fields::read(
            raw(&[("a", "  "), ("b", "x\u{7}"), ("c", "dead")]),
            &["a", "b", "c"],
        )
        .unwrap();
        assert_eq!(f.text("a", 10).unwrap(), None, "empty is no filter");
        assert!(f.text("b", 10).is_err());
        assert_eq!(f.choice("c", &["dead"]).unwrap().as_deref(), Some("dead"));
        assert!(f.choice("c", &["pending"]).is_err());
        assert_eq!(
            query(&[("a", Some("x y")), ("b", None), ("c", Some(""))]),
            "a=x+y"
        );
    }
}
