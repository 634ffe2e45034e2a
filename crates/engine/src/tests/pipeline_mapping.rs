//! Mapping of stored events to the app's `{type, data}`: payload decoding (JSON, form,
//! text), the choice of mapping entry, pass-through, internal events, and every way a
//! program's output can fail the mapping (each naming the mapping entry).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use store::{Event, Mapped};

use crate::pipeline::mapping::{destinations_for, map_event, mapping_for, payload, run};

const PLACE: &str = "mappings[0] (integration \"stripe-main\", event type \"charge.succeeded\")";

fn config_with(mappings: &str) -> config::Config {
    let text = format!(
        "[[integrations]]\nid = \"stripe-main\"\nprovider = \"stripe\"\n\
         [[integrations]]\nid = \"other\"\nprovider = \"stripe\"\n{mappings}"
    );
    config::Config::from_toml(&text, "t.toml", &BTreeMap::new(), &Default::default()).unwrap()
}

/// One mapping for `stripe-main` / `charge.succeeded` with program `jq`.
fn one(jq: &str) -> config::Config {
    config_with(&format!(
        "[[mappings]]\nintegration = \"stripe-main\"\nevent_type = \"charge.succeeded\"\njq = '{jq}'\n"
    ))
}

fn event(event_type: Option<&str>, body: &[u8]) -> Event {
    Event {
        id: crate::ids::new_event_id(),
        integration: "stripe-main".into(),
        received_at: store::now(),
        provider_event_id: None,
        event_type: event_type.map(str::to_owned),
        scheme: "stripe".into(),
        headers: vec![],
        body: body.to_vec(),
        connection_id: None,
        routing_key: None,
    }
}

fn charge(body: Value) -> Event {
    event(Some("charge.succeeded"), body.to_string().as_bytes())
}

fn mapped(m: Mapped) -> (String, Value) {
    match m {
        Mapped::Mapped { event_type, data } => (event_type, serde_json::from_str(&data).unwrap()),
        other => panic!("expected Mapped, got {other:?}"),
    }
}

fn failed(m: Mapped) -> String {
    match m {
        Mapped::Failed { error } => error,
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn payload_of_a_json_body_is_the_json() {
    let e = event(None, br#"{"a":[1,2]}"#);
    assert_eq!(payload(&e), json!({"a": [1, 2]}));
    assert_eq!(payload(&event(None, b"42")), json!(42));
}

#[test]
fn payload_of_a_form_body_is_an_object_of_its_fields() {
    let e = event(None, b"From=%2B15551234567&Body=hello+world&To=x");
    assert_eq!(
        payload(&e),
        json!({"From": "+15551234567", "Body": "hello world", "To": "x"})
    );
}

#[test]
fn payload_of_other_bodies_is_the_text() {
    // Broken JSON that happens to contain '=' stays text, not a form.
    assert_eq!(payload(&event(None, b"{not json=1")), json!("{not json=1"));
    assert_eq!(payload(&event(None, b"[a=1")), json!("[a=1"));
    // No '=' at all.
    assert_eq!(payload(&event(None, b"hello there")), json!("hello there"));
    // Empty body.
    assert_eq!(payload(&event(None, b"")), json!(""));
    // Invalid UTF-8 is decoded lossily.
    assert_eq!(payload(&event(None, b"ab\xffcd")), json!("ab\u{fffd}cd"));
}

#[test]
fn form_body_is_given_to_the_program_as_an_object() {
    let cfg = one("{type: \"sms.received\", data: {from: .From, text: .Body}}");
    let e = event(Some("charge.succeeded"), b"From=alice&Body=hi%21");
    let (t, d) = mapped(map_event(&cfg, "stripe", &e));
    assert_eq!(t, "sms.received");
    assert_eq!(d, json!({"from": "alice", "text": "hi!"}));
}

#[test]
fn text_body_is_given_to_the_program_as_a_string() {
    let cfg = one("{type: \"text\", data: {len: length, s: .}}");
    let e = event(Some("charge.succeeded"), b"plain words");
    let (t, d) = mapped(map_event(&cfg, "stripe", &e));
    assert_eq!(t, "text");
    assert_eq!(d, json!({"len": 11, "s": "plain words"}));
}

#[test]
fn no_output_drops_the_event() {
    assert_eq!(
        map_event(&one("empty"), "stripe", &charge(json!({}))),
        Mapped::Dropped
    );
    // A select that filters the event out drops it too.
    let cfg = one("select(.live) | {type: \"x\", data: .}");
    assert_eq!(
        map_event(&cfg, "stripe", &charge(json!({"live": false}))),
        Mapped::Dropped
    );
    let (t, d) = mapped(map_event(&cfg, "stripe", &charge(json!({"live": true}))));
    assert_eq!((t.as_str(), d), ("x", json!({"live": true})));
}

#[test]
fn several_outputs_fail_the_mapping() {
    let cfg = one("{type: \"a\", data: 1}, {type: \"b\", data: 2}");
    let error = failed(map_event(&cfg, "stripe", &charge(json!({}))));
    assert!(error.starts_with(PLACE), "{error}");
    assert!(error.contains("more than one output"), "{error}");
}

#[test]
fn non_object_outputs_fail_the_mapping_naming_the_kind() {
    for (jq, kind) in [
        ("null", "null"),
        ("true", "a boolean"),
        ("1", "a number"),
        ("\"s\"", "a string"),
        ("[1]", "an array"),
    ] {
        let error = failed(map_event(&one(jq), "stripe", &charge(json!({}))));
        assert!(error.starts_with(PLACE), "{jq}: {error}");
        assert!(
            error.ends_with(&format!(
                "jq output must be an object {{type, data}}, got {kind}"
            )),
            "{jq}: {error}"
        );
    }
}

#[test]
fn outputs_without_a_usable_type_fail_the_mapping() {
    let long = "a".repeat(257);
    for jq in [
        "{data: 1}".to_owned(),
        "{type: 5, data: 1}".to_owned(),
        "{type: null, data: 1}".to_owned(),
        "{type: \"\", data: 1}".to_owned(),
        "{type: \"has space\", data: 1}".to_owned(),
        "{type: \"tab\\there\", data: 1}".to_owned(),
        format!("{{type: \"{long}\", data: 1}}"),
    ] {
        let error = failed(map_event(&one(&jq), "stripe", &charge(json!({}))));
        assert!(error.starts_with(PLACE), "{jq}: {error}");
        assert!(error.contains("no \"type\" string"), "{jq}: {error}");
    }
    // 256 characters is still fine.
    let ok = "b".repeat(256);
    let (t, _) = mapped(map_event(
        &one(&format!("{{type: \"{ok}\", data: 1}}")),
        "stripe",
        &charge(json!({})),
    ));
    assert_eq!(t, ok);
}

#[test]
fn missing_data_maps_to_null() {
    let (t, d) = mapped(map_event(
        &one("{type: \"only.type\"}"),
        "stripe",
        &charge(json!({"x": 1})),
    ));
    assert_eq!(t, "only.type");
    assert_eq!(d, Value::Null);
}

#[test]
fn a_jq_runtime_error_fails_the_mapping() {
    let cfg = one("{type: \"x\", data: (.a + 1)}");
    let error = failed(map_event(&cfg, "stripe", &charge(json!({"a": "text"}))));
    assert!(error.starts_with(&format!("{PLACE}: jq error")), "{error}");

    let cfg = one("error(\"custom failure\")");
    let error = failed(map_event(&cfg, "stripe", &charge(json!({}))));
    assert!(error.starts_with(&format!("{PLACE}: jq error")), "{error}");
    assert!(error.contains("custom failure"), "{error}");
}

#[test]
fn a_long_error_is_cut_at_a_character_boundary() {
    // 'é' is two bytes; the cut at 1024 bytes falls inside one of them for some prefix
    // lengths, and must step back to a boundary.
    let cfg = one(&format!("error(\"{}\")", "é".repeat(2000)));
    let error = failed(map_event(&cfg, "stripe", &charge(json!({}))));
    assert!(error.ends_with('…'), "{error}");
    let body = error.strip_suffix('…').unwrap();
    assert!(body.len() <= 1024 && body.len() > 1000, "{}", body.len());
    assert!(error.starts_with(PLACE));
}

#[test]
fn short_errors_are_kept_whole() {
    let error = failed(map_event(&one("1"), "stripe", &charge(json!({}))));
    assert!(!error.ends_with('…'), "{error}");
}

#[test]
fn inline_schema_failure_fails_the_mapping_and_lists_the_errors() {
    let cfg = config_with(
        "[[mappings]]\nintegration = \"stripe-main\"\nevent_type = \"charge.succeeded\"\n\
         jq = '{type: \"c\", data: .}'\n\
         schema = '{\"type\": \"object\", \"required\": [\"id\"], \"properties\": {\"amount\": {\"type\": \"integer\"}}}'\n",
    );
    let (t, d) = mapped(map_event(
        &cfg,
        "stripe",
        &charge(json!({"id": "ch_1", "amount": 5})),
    ));
    assert_eq!((t.as_str(), d), ("c", json!({"id": "ch_1", "amount": 5})));

    let error = failed(map_event(&cfg, "stripe", &charge(json!({"amount": "5"}))));
    assert!(
        error.starts_with(&format!("{PLACE}: data does not match the schema: ")),
        "{error}"
    );
    assert!(error.contains("/amount"), "{error}");
    assert!(error.contains("id"), "{error}");
}

#[test]
fn schema_lists_at_most_three_errors() {
    let cfg = config_with(
        "[[mappings]]\nintegration = \"stripe-main\"\nevent_type = \"charge.succeeded\"\n\
         jq = '{type: \"c\", data: .}'\n\
         schema = '{\"type\": \"object\", \"additionalProperties\": {\"type\": \"string\"}}'\n",
    );
    let error = failed(map_event(
        &cfg,
        "stripe",
        &charge(json!({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})),
    ));
    assert!(error.contains("data does not match the schema"), "{error}");
    assert_eq!(error.matches("; ").count(), 2, "{error}");
}

#[test]
fn schema_from_a_file_is_applied() {
    let db = super::TempDb::new();
    // TempDb's folder is a private temporary directory; put the schema beside the config.
    let dir = std::path::PathBuf::from(db.url().trim_start_matches("sqlite://"))
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::write(
        dir.join("charge.schema.json"),
        r#"{"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number"}}}"#,
    )
    .unwrap();
    let text = "[[integrations]]\nid = \"stripe-main\"\nprovider = \"stripe\"\n\
         [[mappings]]\nintegration = \"stripe-main\"\nevent_type = \"charge.succeeded\"\n\
         jq = '{type: \"c\", data: .}'\nschema = \"charge.schema.json\"\n";
    let path = dir.join("switchboard.toml");
    let cfg = config::Config::from_toml(
        text,
        path.to_str().unwrap(),
        &BTreeMap::new(),
        &Default::default(),
    )
    .unwrap();
    assert!(cfg.mappings[0].schema.is_some());

    let (t, _) = mapped(map_event(&cfg, "stripe", &charge(json!({"amount": 1}))));
    assert_eq!(t, "c");
    let error = failed(map_event(
        &cfg,
        "stripe",
        &charge(json!({"currency": "usd"})),
    ));
    assert!(error.starts_with(PLACE), "{error}");
    assert!(error.contains("data does not match the schema"), "{error}");
    assert!(error.contains("amount"), "{error}");
}

#[test]
fn the_exact_mapping_wins_over_star_whatever_the_order() {
    for star_first in [true, false] {
        let star = "[[mappings]]\nintegration = \"stripe-main\"\nevent_type = \"*\"\n\
                    jq = '{type: \"star\", data: null}'\n";
        let exact = "[[mappings]]\nintegration = \"stripe-main\"\nevent_type = \"charge.succeeded\"\n\
                     jq = '{type: \"exact\", data: null}'\n";
        let cfg = if star_first {
            config_with(&format!("{star}{exact}"))
        } else {
            config_with(&format!("{exact}{star}"))
        };
        let (t, _) = mapped(map_event(&cfg, "stripe", &charge(json!({}))));
        assert_eq!(t, "exact", "star first: {star_first}");

        // Another type, and an event without a type, fall back to `*`.
        let (t, _) = mapped(map_event(
            &cfg,
            "stripe",
            &event(Some("charge.refunded"), b"{}"),
        ));
        assert_eq!(t, "star");
        let (t, _) = mapped(map_event(&cfg, "stripe", &event(None, b"{}")));
        assert_eq!(t, "star");

        let m = mapping_for(&cfg, &charge(json!({}))).unwrap();
        assert_eq!(m.event_type, "charge.succeeded");
    }
}

#[test]
fn mappings_of_another_integration_do_not_apply() {
    let cfg = config_with(
        "[[mappings]]\nintegration = \"other\"\nevent_type = \"*\"\n\
         jq = '{type: \"other\", data: null}'\n",
    );
    let e = charge(json!({"k": 1}));
    assert!(mapping_for(&cfg, &e).is_none());
    let (t, d) = mapped(map_event(&cfg, "stripe", &e));
    assert_eq!(t, "stripe.charge.succeeded");
    assert_eq!(d, json!({"k": 1}));
    // The other integration's events do use it.
    let other = Event {
        integration: "other".into(),
        ..charge(json!({}))
    };
    let (t, _) = mapped(map_event(&cfg, "stripe", &other));
    assert_eq!(t, "other");
}

#[test]
fn unmapped_events_pass_through_as_provider_dot_type() {
    let cfg = config_with("");
    let (t, d) = mapped(map_event(&cfg, "stripe", &charge(json!({"id": "evt_1"}))));
    assert_eq!(t, "stripe.charge.succeeded");
    assert_eq!(d, json!({"id": "evt_1"}));

    // The provider id is the one given, not the integration id.
    let (t, _) = mapped(map_event(&cfg, "acme", &charge(json!({}))));
    assert_eq!(t, "acme.charge.succeeded");
}

#[test]
fn unmapped_event_without_a_type_is_provider_dot_event() {
    let cfg = config_with("");
    let (t, d) = mapped(map_event(&cfg, "stripe", &event(None, b"a=1&b=2")));
    assert_eq!(t, "stripe.event");
    assert_eq!(d, json!({"a": "1", "b": "2"}));
}

#[test]
fn unmapped_non_json_body_passes_through_as_a_string() {
    let cfg = config_with("");
    let (t, d) = mapped(map_event(&cfg, "stripe", &event(Some("ping"), b"pong")));
    assert_eq!(t, "stripe.ping");
    assert_eq!(d, json!("pong"));
}

#[test]
fn internal_events_pass_through_without_mapping() {
    // Even a `*` mapping of the integration does not apply to internal events.
    let cfg = config_with(
        "[[mappings]]\nintegration = \"stripe-main\"\nevent_type = \"*\"\njq = 'empty'\n",
    );
    let internal = |body: &[u8]| Event {
        scheme: "internal".into(),
        event_type: Some("connection.needs_reauth".into()),
        ..event(None, body)
    };
    let (t, d) = mapped(map_event(
        &cfg,
        "stripe",
        &internal(br#"{"type":"connection.needs_reauth","data":{"connection_id":"c1"}}"#),
    ));
    assert_eq!(t, "connection.needs_reauth");
    assert_eq!(d, json!({"connection_id": "c1"}));

    // No data: null.
    let (t, d) = mapped(map_event(&cfg, "stripe", &internal(br#"{"type":"x.y"}"#)));
    assert_eq!((t.as_str(), d), ("x.y", Value::Null));

    for bad in [
        &b"not json"[..],
        br#"{"data":1}"#,
        br#"{"type":7,"data":1}"#,
        br#"[1,2]"#,
    ] {
        let error = failed(map_event(&cfg, "stripe", &internal(bad)));
        assert_eq!(error, "internal event: the body is not {type, data}");
    }
}

#[test]
fn run_reports_none_for_no_output_and_the_pair_otherwise() {
    let cfg = one("if .n > 1 then {type: \"big\", data: .n} else empty end");
    let m = &cfg.mappings[0];
    assert_eq!(run(m, json!({"n": 0})), Ok(None));
    assert_eq!(
        run(m, json!({"n": 5})),
        Ok(Some(("big".to_owned(), "5".to_owned())))
    );
}

#[test]
fn destinations_for_filters_by_integration_and_pattern() {
    let text = "[[integrations]]\nid = \"stripe-main\"\nprovider = \"stripe\"\n\
         [[integrations]]\nid = \"other\"\nprovider = \"stripe\"\n\
         [[destinations]]\nid = \"all\"\nurl = \"http://127.0.0.1:1/a\"\nsecret = \"env:S\"\n\
         [[destinations]]\nid = \"payments\"\nurl = \"http://127.0.0.1:1/b\"\nsecret = \"env:S\"\n\
         event_types = [\"payment.*\"]\nintegrations = [\"stripe-main\"]\n";
    let env = BTreeMap::from([(
        "S".to_owned(),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
    )]);
    let cfg = config::Config::from_toml(text, "t.toml", &env, &Default::default()).unwrap();
    let ids = |i: &str, t: &str| -> Vec<String> {
        destinations_for(&cfg, i, t).map(|d| d.id.clone()).collect()
    };
    assert_eq!(ids("stripe-main", "payment.completed"), ["all", "payments"]);
    assert_eq!(ids("other", "payment.completed"), ["all"]);
    assert_eq!(ids("stripe-main", "user.created"), ["all"]);
    assert_eq!(ids("stripe-main", "paymentx.y"), ["all"]);
}
