//! The mechanisms that let the catalog express TikTok, Basecamp, Trello and Wix: a
//! client id parameter of another name, array selection in value pointers, templated
//! API headers and query parameters, and templated token parameters. Each with the
//! entries that use it and the refusals of a bad file or custom provider.

use std::collections::BTreeMap;

use super::*;

const BASE: &str = r#"
id = "acme"
name = "Acme"
docs_url = "https://acme.example/docs"
auth_mode = "oauth2"

[oauth2]
authorization_url = "https://acme.example/authorize"
token_url = "https://acme.example/token"
"#;

fn parse(text: &str) -> Result<Provider, CatalogError> {
    Provider::from_toml("acme", text, false)
}

fn fails(text: &str, needles: &[&str]) {
    let e = parse(text).expect_err(text);
    let msg = e.to_string();
    for n in needles {
        assert!(msg.contains(n), "{msg:?} lacks {n:?}");
    }
    assert!(msg.contains("acme"), "{msg:?} does not name the provider");
}

fn builtin(id: &str) -> &'static Provider {
    Catalog::builtin().require(id).unwrap()
}

fn oauth(id: &str) -> &'static OAuth2 {
    builtin(id).oauth2.as_ref().unwrap()
}

// ------------------------------------------------------------------ client_id_param

#[test]
fn the_client_id_parameter_defaults_to_client_id_and_is_not_printed_then() {
    let p = parse(BASE).unwrap();
    assert_eq!(p.oauth2.as_ref().unwrap().client_id_param, "client_id");
    assert_eq!(CLIENT_ID_PARAM, "client_id");
    let printed = toml::to_string(&p).unwrap();
    assert!(!printed.contains("client_id_param"), "{printed}");
    // Every entry but TikTok keeps the RFC 6749 name.
    for p in Catalog::builtin().list() {
        if let Some(o) = &p.oauth2
            && p.id != "tiktok"
        {
            assert_eq!(o.client_id_param, "client_id", "{}", p.id);
        }
    }
}

#[test]
fn a_client_id_parameter_of_another_name_is_kept_and_printed() {
    let p = parse(&format!("{BASE}client_id_param = \"client_key\"\n")).unwrap();
    assert_eq!(p.oauth2.as_ref().unwrap().client_id_param, "client_key");
    let printed = toml::to_string(&p).unwrap();
    assert!(
        printed.contains("client_id_param = \"client_key\""),
        "{printed}"
    );
    assert_eq!(parse(&printed.replace("verified", "#")).unwrap(), p);
}

#[test]
fn bad_client_id_parameters_are_refused() {
    for bad in ["", "client key", "a&b", "x=y", "é", &"k".repeat(65)] {
        fails(
            &format!("{BASE}client_id_param = {bad:?}\n"),
            &["oauth2.client_id_param", "parameter name"],
        );
    }
    // A name Switchboard sets for something else.
    for taken in ["client_secret", "redirect_uri", "state", "code", "scope"] {
        fails(
            &format!("{BASE}client_id_param = {taken:?}\n"),
            &["oauth2.client_id_param", taken, "client_key"],
        );
    }
    // An extra parameter may not carry the client id parameter's name.
    fails(
        &format!(
            "{BASE}client_id_param = \"client_key\"\nauthorization_params = {{ client_key = \"x\" }}\n"
        ),
        &["client_key", "Switchboard itself"],
    );
    fails(
        &format!(
            "{BASE}client_id_param = \"client_key\"\ntoken_params = {{ client_key = \"x\" }}\n"
        ),
        &["client_key"],
    );
}

#[test]
fn custom_providers_take_client_id_param_and_are_checked_at_load() {
    let c: CustomProvider = toml::from_str(
        r#"
        id = "vid"
        authorization_url = "https://vid.example/authorize"
        token_url = "https://vid.example/token"
        client_id_param = "client_key"
        client_auth = "body"
        "#,
    )
    .unwrap();
    c.validate(false).unwrap();
    let p = c.to_provider_explicit(false).unwrap();
    assert_eq!(p.oauth2.as_ref().unwrap().client_id_param, "client_key");
    let bad: CustomProvider = toml::from_str(
        r#"
        id = "vid"
        authorization_url = "https://vid.example/authorize"
        token_url = "https://vid.example/token"
        client_id_param = "client_secret"
        "#,
    )
    .unwrap();
    let e = bad.validate(false).unwrap_err().to_string();
    assert!(e.contains("client_id_param") && e.contains("vid"), "{e}");
    // Without it, the usual name.
    let plain: CustomProvider =
        toml::from_str("id = \"vid\"\nauthorization_url = \"https://vid.example/a\"\ntoken_url = \"https://vid.example/token\"")
            .unwrap();
    let p = plain.to_provider_explicit(false).unwrap();
    assert_eq!(p.oauth2.as_ref().unwrap().client_id_param, "client_id");
}

#[test]
fn tiktok_key_facts() {
    let p = builtin("tiktok");
    let o = oauth("tiktok");
    assert_eq!(p.auth_mode, AuthMode::Oauth2);
    assert_eq!(
        o.authorization_url.as_deref(),
        Some("https://www.tiktok.com/v2/auth/authorize/")
    );
    assert_eq!(o.token_url, "https://open.tiktokapis.com/v2/oauth/token/");
    assert_eq!(o.client_id_param, "client_key");
    assert_eq!(o.client_auth, ClientAuth::Body);
    assert_eq!(o.scope_separator, ",");
    assert!(!o.pkce, "the web flow takes no PKCE");
    assert_eq!(o.default_scopes, ["user.info.basic"]);
    assert_eq!(o.token_response.refresh_tokens, RefreshTokens::Rotating);
    assert_eq!(o.token_response.expiry, Expiry::ExpiresIn);
    assert_eq!(o.token_response.scope_separator.as_deref(), Some(","));
    let r = o.revocation.as_ref().unwrap();
    assert_eq!(r.url, "https://open.tiktokapis.com/v2/oauth/revoke/");
    assert_eq!(r.token, RevokeToken::Access);
    assert_eq!(r.send, TokenPlacement::Form);
    assert_eq!(r.param, "token");
    assert_eq!(r.client_auth, None, "as at the token endpoint: the body");
    assert_eq!(
        p.api_base_url.as_deref(),
        Some("https://open.tiktokapis.com")
    );
    assert_eq!(p.verified, CalendarDate::new(2026, 12, 6));
    assert!(scope_description("tiktok", "user.info.basic").is_some());
}

// ------------------------------------------------------------ selection in pointers

#[test]
fn pointers_select_in_arrays_by_member() {
    let doc = serde_json::json!({
        "identity": {"id": 9},
        "accounts": [
            {"product": "bcx", "id": 1, "name": "Old"},
            {"product": "hey", "id": 2},
            {"product": "bc3", "id": 3, "name": "First"},
            {"product": "bc3", "id": 4, "name": "Second"},
            "not an object",
            {"product": 7, "id": 5, "active": true},
        ],
        "a/b": {"~": "escaped"},
        "[product=bc3]": "a key that looks like a selector",
    });
    let s = |p: &str| select_pointer(&doc, p).cloned();
    assert_eq!(s("/accounts/[product=bc3]/id"), Some(serde_json::json!(3)));
    assert_eq!(
        s("/accounts/[product=bc3]/name"),
        Some(serde_json::json!("First"))
    );
    // Numbers and booleans compare as they are written.
    assert_eq!(s("/accounts/[product=7]/id"), Some(serde_json::json!(5)));
    assert_eq!(s("/accounts/[active=true]/id"), Some(serde_json::json!(5)));
    // Plain RFC 6901 still: indexes, escapes, the whole document.
    assert_eq!(s("/accounts/1/id"), Some(serde_json::json!(2)));
    assert_eq!(s("/a~1b/~0"), Some(serde_json::json!("escaped")));
    assert_eq!(s(""), Some(doc.clone()));
    // On an object a selector-looking token is a member name.
    assert_eq!(
        s("/[product=bc3]"),
        Some(serde_json::json!("a key that looks like a selector"))
    );
    // Nothing there.
    for missing in [
        "/accounts/[product=basecamp]/id",
        "/accounts/[nope=bc3]/id",
        "/accounts/01/id",
        "/accounts/+1/id",
        "/accounts/9/id",
        "/accounts/[product=bc3]/missing",
        "/identity/id/deeper",
        "accounts",
    ] {
        assert_eq!(s(missing), None, "{missing}");
    }
}

#[test]
fn selectors_are_checked_in_files() {
    let with = |from: &str| {
        format!(
            "{BASE}userinfo_url = \"https://acme.example/me\"\n\n[placeholders.account]\nfrom = {from}\nkind = \"segment\"\n"
        )
        .replace(
            "auth_mode = \"oauth2\"\n",
            "auth_mode = \"oauth2\"\napi_base_url = \"https://acme.example/{account}\"\n",
        )
    };
    let ok = parse(&with("{ userinfo = \"/accounts/[product=bc3]/id\" }")).unwrap();
    assert_eq!(
        ok.placeholders["account"].from,
        ValueSource::Userinfo("/accounts/[product=bc3]/id".into())
    );
    for bad in ["/accounts/[=bc3]/id", "/accounts/[product]/id"] {
        fails(
            &with(&format!("{{ userinfo = {bad:?} }}")),
            &["placeholders.account.from", "selector", "[product=bc3]"],
        );
    }
    fails(
        &with("{ token_response = \"/a/[]\" }"),
        &["placeholders.account.from", "selector"],
    );
    // Webhook pointers are checked the same way.
    let hooks = format!("{BASE}\n[webhooks]\nevent_id = {{ pointer = \"/items/[=x]/id\" }}\n");
    fails(&hooks, &["webhooks.event_id", "selector"]);
}

#[test]
fn webhook_locations_select_too() {
    let p = parse(&format!(
        "{BASE}\n[webhooks]\nevent_id = {{ pointer = \"/events/[kind=primary]/id\" }}\n"
    ))
    .unwrap();
    let w = p.webhooks.as_ref().unwrap();
    let body = br#"{"events": [{"kind": "echo", "id": "e0"}, {"kind": "primary", "id": "e1"}]}"#;
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    let id = w.read(
        w.event_id.as_ref().unwrap(),
        &signatures::Headers::new(),
        Some(&json),
        body,
    );
    assert_eq!(id.as_deref(), Some("e1"));
}

#[test]
fn basecamp_key_facts() {
    let p = builtin("basecamp");
    let o = oauth("basecamp");
    assert_eq!(
        o.authorization_url.as_deref(),
        Some("https://launchpad.37signals.com/authorization/new")
    );
    assert_eq!(
        o.token_url,
        "https://launchpad.37signals.com/authorization/token"
    );
    assert_eq!(
        o.userinfo_url.as_deref(),
        Some("https://launchpad.37signals.com/authorization.json")
    );
    assert_eq!(o.client_auth, ClientAuth::Body);
    assert!(o.default_scopes.is_empty());
    assert!(o.authorization_params.is_empty() && o.token_params.is_empty());
    assert!(o.revocation.is_none());
    assert_eq!(
        p.api_base_url.as_deref(),
        Some("https://3.basecampapi.com/{account_id}")
    );
    assert_eq!(
        p.placeholders["account_id"].from,
        ValueSource::Userinfo("/accounts/[product=bc3]/id".into())
    );
    // The account id from the documented authorization.json sample.
    let sample = serde_json::json!({
        "expires_at": "2026-02-16T12:00:00-06:00",
        "identity": {"id": 9999999, "first_name": "Jason"},
        "accounts": [
            {"product": "bcx", "id": 11111111, "href": "https://basecamp.com/11111111/api/v1"},
            {"product": "bc3", "id": 99999999, "href": "https://3.basecampapi.com/99999999"},
        ],
    });
    let id = select_pointer(&sample, "/accounts/[product=bc3]/id").unwrap();
    let url = p
        .resolve_url(
            p.api_base_url.as_deref().unwrap(),
            &BTreeMap::from([("account_id".to_owned(), id.to_string())]),
        )
        .unwrap();
    assert_eq!(url, "https://3.basecampapi.com/99999999");
    assert_eq!(p.verify.as_ref().unwrap().path, "/my/profile.json");
}

// ------------------------------------------------- templated API headers and query

const KEYED: &str = r#"
id = "acme"
name = "Acme"
docs_url = "https://acme.example/docs"
auth_mode = "api_key"
api_base_url = "https://api.acme.example/1"

[api_key]
query = "token"
"#;

#[test]
fn api_query_and_header_values_take_placeholders() {
    let p = parse(&format!(
        "{KEYED}\n[placeholders.app_key]\nfrom = {{ integration = \"client_id\" }}\nkind = \"segment\"\n\n[placeholders.tenant]\nfrom = {{ connection = \"tenant\" }}\nkind = \"label\"\n\n[api_query]\nkey = \"{{app_key}}\"\n\n[api_headers]\nX-Tenant = \"t-{{tenant}}\"\nX-Fixed = \"1\"\n"
    ))
    .unwrap();
    assert_eq!(p.api_query["key"], "{app_key}");
    let values = BTreeMap::from([
        ("app_key".to_owned(), "k y/é".to_owned()),
        ("tenant".to_owned(), "Acme".to_owned()),
    ]);
    // As it is for a segment (the HTTP client encodes the query), checked for a label.
    assert_eq!(
        resolve_text(&p.api_query["key"], &p.placeholders, &values).unwrap(),
        "k y/é"
    );
    assert_eq!(
        resolve_text(&p.api_headers["X-Tenant"], &p.placeholders, &values).unwrap(),
        "t-acme"
    );
    assert_eq!(
        resolve_text("1", &p.placeholders, &BTreeMap::new()).unwrap(),
        "1"
    );
    // Values that would split a header, are too long, missing or refused by their kind.
    for (v, needle) in [
        ("a\r\nX-Evil: 1", "control character"),
        (&"x".repeat(513), "512"),
        ("", "empty"),
    ] {
        let e = resolve_text(
            &p.api_query["key"],
            &p.placeholders,
            &BTreeMap::from([("app_key".to_owned(), v.to_owned())]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(needle), "{e}");
        assert!(!e.contains("Evil"), "the value is not echoed: {e}");
    }
    let e = resolve_text(&p.api_query["key"], &p.placeholders, &BTreeMap::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("app_key") && e.contains("client_id"), "{e}");
    let e = resolve_text(
        &p.api_headers["X-Tenant"],
        &p.placeholders,
        &BTreeMap::from([("tenant".to_owned(), "a.b".to_owned())]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("tenant"), "{e}");
}

#[test]
fn api_query_and_templated_headers_are_checked_in_files() {
    let ph =
        "\n[placeholders.app_key]\nfrom = { integration = \"client_id\" }\nkind = \"segment\"\n";
    // Undeclared, or a placeholder known only later than the call.
    fails(
        &format!("{KEYED}\n[api_query]\nkey = \"{{nope}}\"\n"),
        &["api_query.key", "{nope}", "not declared"],
    );
    fails(
        &format!("{KEYED}\n[api_headers]\nX-Key = \"{{nope}}\"\n"),
        &["api_headers.X-Key", "not declared"],
    );
    fails(
        &format!("{KEYED}\n[api_query]\nkey = \"{{token}}\"\n"),
        &["api_query.key"],
    );
    // Bad names and values.
    for bad in ["a b", "a&b", "x=y", ""] {
        fails(
            &format!("{KEYED}{ph}\n[api_query]\n{bad:?} = \"{{app_key}}\"\n"),
            &["api_query", "query parameter name"],
        );
    }
    fails(
        &format!("{KEYED}{ph}\n[api_query]\ntoken = \"{{app_key}}\"\n"),
        &["api_query.token", "credential"],
    );
    fails(
        &format!("{KEYED}{ph}\n[api_query]\nkey = \"{{app_key\"\n"),
        &["api_query.key"],
    );
    fails(
        &format!("{KEYED}{ph}\n[api_headers]\nX-Key = \"a\\nb\"\n"),
        &["api_headers.X-Key", "control character"],
    );
    // A placeholder only a header or a parameter uses counts as used; one nothing uses
    // is still refused.
    assert!(
        parse(&format!(
            "{KEYED}{ph}\n[api_query]\nkey = \"{{app_key}}\"\n"
        ))
        .is_ok()
    );
    fails(&format!("{KEYED}{ph}"), &["placeholders.app_key", "no URL"]);
    // api_query goes with an API.
    fails(
        &format!(
            "{}{ph}\n[api_query]\nkey = \"{{app_key}}\"\n",
            KEYED.replace("api_base_url = \"https://api.acme.example/1\"\n", "")
        ),
        &["api_query", "api_base_url"],
    );
}

#[test]
fn trello_key_facts() {
    let p = builtin("trello");
    assert_eq!(p.auth_mode, AuthMode::ApiKey);
    assert_eq!(p.api_base_url.as_deref(), Some("https://api.trello.com/1"));
    let k = p.api_key.as_ref().unwrap();
    assert_eq!(k.query.as_deref(), Some("token"));
    assert_eq!(k.header, None);
    assert_eq!(p.api_query["key"], "{api_key}");
    assert_eq!(
        p.placeholders["api_key"].from,
        ValueSource::Integration("client_id".into())
    );
    assert_eq!(p.verify.as_ref().unwrap().path, "/members/me");
    let w = p.webhooks.as_ref().unwrap();
    assert_eq!(w.scheme, Some(Scheme::Trello));
    assert_eq!(w.handshake, Some(Handshake::TrelloHead));
    assert_eq!(w.event_id, Some(Location::Pointer("/action/id".into())));
    assert_eq!(w.event_type, Some(Location::Pointer("/action/type".into())));
    let printed = toml::to_string(p).unwrap();
    assert!(printed.contains("[api_query]"), "{printed}");
}

#[test]
fn tiktok_webhooks() {
    let w = builtin("tiktok").webhooks.as_ref().unwrap();
    assert_eq!(w.scheme, Some(Scheme::Tiktok));
    assert_eq!(w.event_id, Some(Location::BodySha256));
    assert_eq!(w.event_type, Some(Location::Pointer("/event".into())));
    let r = w.routing.as_ref().unwrap();
    assert_eq!(r.event, Location::Pointer("/user_openid".into()));
    assert_eq!(r.connection, ValueSource::TokenResponse("/open_id".into()));
    let sample = w.sample.as_ref().unwrap().render("1", 1_700_000_000);
    let v: serde_json::Value = serde_json::from_slice(&sample.body).unwrap();
    assert_eq!(v["create_time"], 1_700_000_000);
    assert_eq!(v["content"], "{\"reason\": 1 }");
}

#[test]
fn custom_providers_take_api_headers_and_api_query() {
    let c: CustomProvider = toml::from_str(
        r#"
        id = "helix"
        authorization_url = "https://id.helix.example/authorize"
        token_url = "https://id.helix.example/token"
        api_base_url = "https://api.helix.example"
        api_headers = { Client-Id = "{client_id}" }
        api_query = { app = "{client_id}" }

        [placeholders.client_id]
        from = { integration = "client_id" }
        kind = "segment"
        "#,
    )
    .unwrap();
    c.validate(false).unwrap();
    let p = c.to_provider_explicit(false).unwrap();
    assert_eq!(p.api_headers["Client-Id"], "{client_id}");
    assert_eq!(p.api_query["app"], "{client_id}");
    // Checked as in a catalog file: an undeclared placeholder is refused at load.
    let bad: CustomProvider = toml::from_str(
        r#"
        id = "helix"
        authorization_url = "https://id.helix.example/authorize"
        token_url = "https://id.helix.example/token"
        api_base_url = "https://api.helix.example"
        api_headers = { Client-Id = "{client_id}" }
        "#,
    )
    .unwrap();
    let e = bad.validate(false).unwrap_err().to_string();
    assert!(
        e.contains("api_headers.Client-Id") && e.contains("not declared"),
        "{e}"
    );
}

#[test]
fn twitch_sends_its_client_id_with_every_api_call() {
    let p = builtin("twitch");
    assert_eq!(p.api_headers["Client-Id"], "{client_id}");
    assert_eq!(
        p.placeholders["client_id"].from,
        ValueSource::Integration("client_id".into())
    );
    let v = BTreeMap::from([("client_id".to_owned(), "abc123".to_owned())]);
    assert_eq!(
        resolve_text(&p.api_headers["Client-Id"], &p.placeholders, &v).unwrap(),
        "abc123"
    );
}

// ------------------------------------------------------ templated OAuth2 parameters

#[test]
fn oauth2_parameters_take_placeholders_known_when_sent() {
    let with = |from: &str, table: &str| {
        format!(
            "{BASE}{table} = {{ instance_id = \"{{inst}}\" }}\n\n[placeholders.inst]\nfrom = {from}\nkind = \"segment\"\n"
        )
    };
    for table in ["authorization_params", "token_params", "code_params"] {
        let p = parse(&with("{ connection = \"instance_id\" }", table)).unwrap();
        assert!(p.placeholders.contains_key("inst"));
    }
    // A callback value is known at the code exchange, not before the redirect.
    assert!(parse(&with("{ callback_query = \"inst\" }", "token_params")).is_ok());
    fails(
        &with("{ callback_query = \"inst\" }", "authorization_params"),
        &["oauth2.authorization_params.instance_id", "not known yet"],
    );
    // Token-response values are not known when the token is asked for.
    fails(
        &with("{ token_response = \"/inst\" }", "token_params"),
        &["oauth2.token_params.instance_id", "not known yet"],
    );
    fails(
        &format!("{BASE}token_params = {{ instance_id = \"{{nope}}\" }}\n"),
        &["oauth2.token_params.instance_id", "not declared"],
    );
}

#[test]
fn wix_key_facts() {
    let p = builtin("wix");
    let o = oauth("wix");
    assert_eq!(p.auth_mode, AuthMode::ClientCredentials);
    assert_eq!(o.token_url, "https://www.wixapis.com/oauth2/token");
    assert_eq!(o.token_request, BodyFormat::Json);
    assert_eq!(o.client_auth, ClientAuth::Body);
    assert_eq!(o.token_params["instance_id"], "{instance_id}");
    assert_eq!(
        p.placeholders["instance_id"].from,
        ValueSource::Connection("instance_id".into())
    );
    let auth = o.api_auth.as_ref().unwrap();
    assert_eq!(auth.header.as_deref(), Some("Authorization"));
    assert_eq!(auth.prefix, "", "Wix takes the token without Bearer");
    assert_eq!(o.token_response.refresh_tokens, RefreshTokens::None);
    assert_eq!(p.api_base_url.as_deref(), Some("https://www.wixapis.com"));
    assert_eq!(p.verify.as_ref().unwrap().path, "/apps/v1/instance");
    assert!(p.webhooks.is_none());
}

#[test]
fn custom_providers_take_token_params_and_token_request() {
    let c: CustomProvider = toml::from_str(
        r#"
        id = "sites"
        auth_mode = "client_credentials"
        token_url = "https://api.sites.example/oauth2/token"
        token_request = "json"
        token_params = { instance_id = "{instance_id}" }

        [placeholders.instance_id]
        from = { connection = "instance_id" }
        kind = "segment"
        "#,
    )
    .unwrap();
    c.validate(false).unwrap();
    let p = c.to_provider_explicit(false).unwrap();
    let o = p.oauth2.as_ref().unwrap();
    assert_eq!(o.token_request, BodyFormat::Json);
    assert_eq!(o.token_params["instance_id"], "{instance_id}");
    // A value the token request cannot know is refused at load.
    let bad: CustomProvider = toml::from_str(
        r#"
        id = "sites"
        auth_mode = "client_credentials"
        token_url = "https://api.sites.example/oauth2/token"
        token_params = { instance_id = "{instance_id}" }

        [placeholders.instance_id]
        from = { token_response = "/instance" }
        kind = "segment"
        "#,
    )
    .unwrap();
    let e = bad.validate(false).unwrap_err().to_string();
    assert!(e.contains("oauth2.token_params.instance_id"), "{e}");
}

// ------------------------------------------------- a JWT that is itself the credential

const SIGNED: &str = r#"
id = "acme"
name = "Acme"
docs_url = "https://acme.example/docs"
auth_mode = "jwt_bearer"
api_base_url = "https://api.acme.example"

[jwt_bearer]
exchange = false
issuer_claim = "application_id"
audience = "none"
"#;

#[test]
fn a_jwt_without_a_token_endpoint() {
    let p = parse(SIGNED).unwrap();
    let j = p.jwt_bearer.as_ref().unwrap();
    assert!(!j.exchange);
    assert_eq!(j.issuer_claim, "application_id");
    assert_eq!(j.audience, JwtAudience::None);
    assert!(p.oauth2.is_none());
    let printed = toml::to_string(&p).unwrap();
    assert!(printed.contains("exchange = false"), "{printed}");
    // The defaults keep the RFC 7523 entries as they were, and are not printed.
    let g = builtin("google-service-account")
        .jwt_bearer
        .as_ref()
        .unwrap();
    assert!(g.exchange);
    assert_eq!(g.issuer_claim, "iss");
    let printed = toml::to_string(builtin("google-service-account")).unwrap();
    assert!(
        !printed.contains("exchange") && !printed.contains("issuer_claim"),
        "{printed}"
    );
}

#[test]
fn bad_jwt_tables_are_refused() {
    // Without a token endpoint: no audience, no [oauth2], an API to call.
    fails(
        &SIGNED.replace("audience = \"none\"", "audience = \"token_url\""),
        &["jwt_bearer.audience", "none"],
    );
    fails(
        &format!("{SIGNED}\n[oauth2]\ntoken_url = \"https://acme.example/token\"\n"),
        &["oauth2", "no token endpoint"],
    );
    fails(
        &SIGNED.replace("api_base_url = \"https://api.acme.example\"\n", ""),
        &["api_base_url", "exchange = false"],
    );
    // With one: a named audience, and [oauth2].
    fails(
        &SIGNED.replace("exchange = false\n", ""),
        &["oauth2", "exchange = false"],
    );
    fails(
        &format!(
            "{}\n[oauth2]\ntoken_url = \"https://acme.example/token\"\n",
            SIGNED.replace("exchange = false\n", "")
        ),
        &["jwt_bearer.audience", "RFC 7523"],
    );
    for bad in ["", "exp", "aud", "jti", "a-b", "sub"] {
        fails(
            &SIGNED.replace("\"application_id\"", &format!("{bad:?}")),
            &["jwt_bearer.issuer_claim"],
        );
    }
}

#[test]
fn custom_providers_may_sign_their_own_credential() {
    let c: CustomProvider = toml::from_str(
        r#"
        id = "calls"
        auth_mode = "jwt_bearer"
        docs_url = "https://calls.example/docs"
        api_base_url = "https://api.calls.example"
        jwt_bearer = { exchange = false, issuer_claim = "application_id", audience = "none" }
        "#,
    )
    .unwrap();
    c.validate(false).unwrap();
    let p = c.to_provider_explicit(false).unwrap();
    assert!(p.oauth2.is_none());
    assert!(!p.jwt_bearer.as_ref().unwrap().exchange);
    // The RFC 7523 grant still needs its token endpoint.
    let rfc: CustomProvider = toml::from_str(
        "id = \"calls\"\nauth_mode = \"jwt_bearer\"\ndocs_url = \"https://calls.example/docs\"\n",
    )
    .unwrap();
    let e = rfc.validate(false).unwrap_err().to_string();
    assert!(e.contains("token_url"), "{e}");
}

#[test]
fn vonage_key_facts() {
    let p = builtin("vonage");
    assert_eq!(p.auth_mode, AuthMode::JwtBearer);
    assert!(p.oauth2.is_none());
    assert_eq!(p.api_base_url.as_deref(), Some("https://api.nexmo.com"));
    let j = p.jwt_bearer.as_ref().unwrap();
    assert!(!j.exchange);
    assert_eq!(j.issuer_claim, "application_id");
    assert_eq!(j.audience, JwtAudience::None);
    assert_eq!(j.scopes, JwtScopes::None);
    assert_eq!(j.subject, JwtSubject::Optional);
    assert_eq!(j.assertion_lifetime_secs, 900);
    assert!(p.webhooks.is_none());
}
