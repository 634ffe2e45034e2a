//! The mechanisms that let the catalog express TikTok, Basecamp, Trello and Wix: a
//! client id parameter of another name, array selection in value pointers, templated
//! API headers and query parameters, and templated token parameters. Each with the
//! entries that use it and the refusals of a bad file or custom provider.

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
