//! Unit tests: the embedded files, the key facts of the required providers, template
//! resolution and injection, validation failures, custom providers and discovery.

use std::collections::BTreeMap;

use super::*;

fn vals(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn cat() -> &'static Catalog {
    Catalog::builtin()
}

fn p(id: &str) -> &'static Provider {
    cat().require(id).unwrap()
}

// ---------------------------------------------------------------- embedded files

#[test]
fn every_embedded_file_parses_and_validates() {
    let c = Catalog::parse_builtin().unwrap();
    assert_eq!(c.len(), EMBEDDED.len());
    assert!(c.len() >= 120, "only {} providers", c.len());
    for (id, text) in EMBEDDED {
        let p = Provider::from_toml(id, text, false).unwrap();
        assert_eq!(&p.id, id);
        p.validate(false).unwrap();
    }
}

#[test]
fn every_file_in_the_folder_is_embedded() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/providers");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".toml").map(str::to_owned))
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = EMBEDDED.iter().map(|(id, _)| (*id).to_owned()).collect();
    embedded.sort();
    assert_eq!(
        on_disk, embedded,
        "add new files to the embedded! list in lib.rs"
    );
}

#[test]
fn builtin_is_parsed_once_and_sorted() {
    assert!(std::ptr::eq(Catalog::builtin(), Catalog::builtin()));
    let ids: Vec<&str> = cat().list().map(|p| p.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert!(!cat().is_empty());
}

#[test]
fn providers_round_trip_through_toml() {
    for p in cat().list() {
        let text = toml::to_string(p).unwrap();
        let again = Provider::from_toml(&p.id, &text, false).unwrap();
        assert_eq!(&again, p, "{}", p.id);
    }
}

#[test]
fn required_providers_exist() {
    let required = [
        "github",
        "gitlab",
        "bitbucket",
        "google",
        "microsoft",
        "slack",
        "discord",
        "zoom",
        "notion",
        "linear",
        "atlassian",
        "asana",
        "figma",
        "dropbox",
        "box",
        "salesforce",
        "hubspot",
        "pipedrive",
        "zendesk",
        "intercom",
        "stripe",
        "shopify",
        "quickbooks",
        "xero",
        "spotify",
        "twitch",
        "linkedin",
        "mailchimp",
        "calendly",
        "docusign",
        "airtable",
        "clickup",
        "monday",
        "okta",
        "auth0",
        "standard-webhooks",
        "svix",
        "generic-hmac",
        "twilio",
        "square",
        "paddle",
        "typeform",
        "mailgun",
        "meta",
    ];
    for id in required {
        assert!(cat().get(id).is_some(), "missing provider {id}");
    }
}

// ---------------------------------------------------------------- key facts

fn o(id: &str) -> &'static OAuth2 {
    p(id).oauth2.as_ref().unwrap()
}

fn wh(id: &str) -> &'static Webhooks {
    p(id).webhooks.as_ref().unwrap()
}

#[test]
fn key_facts() {
    // Google: offline access with consent, OIDC.
    let g = o("google");
    assert_eq!(g.authorization_params["access_type"], "offline");
    assert_eq!(g.authorization_params["prompt"], "consent");
    assert!(g.pkce);
    assert_eq!(g.issuer.as_deref(), Some("https://accounts.google.com"));
    assert_eq!(
        g.revocation.as_ref().unwrap().url,
        "https://oauth2.googleapis.com/revoke"
    );

    // Slack: authed_user, ok flag, comma scopes, webhook routing and handshake.
    let s = o("slack");
    assert_eq!(
        s.token_response.user_access_token.as_deref(),
        Some("/authed_user/access_token")
    );
    assert_eq!(s.token_response.ok_flag.as_deref(), Some("/ok"));
    assert_eq!(s.scope_separator, ",");
    let sw = wh("slack");
    assert_eq!(sw.scheme, Some(Scheme::Slack));
    assert_eq!(sw.handshake, Some(Handshake::SlackUrlVerification));
    let r = sw.routing.as_ref().unwrap();
    assert_eq!(r.event, Location::Pointer("/team_id".into()));
    assert_eq!(r.connection, ValueSource::TokenResponse("/team/id".into()));

    // GitHub: scheme, delivery id, event header, installation routing, grant revocation.
    let gw = wh("github");
    assert_eq!(gw.scheme, Some(Scheme::Github));
    assert_eq!(
        gw.event_id,
        Some(Location::Header("X-GitHub-Delivery".into()))
    );
    assert_eq!(
        gw.event_type,
        Some(Location::Header("X-GitHub-Event".into()))
    );
    assert_eq!(
        gw.routing.as_ref().unwrap().event,
        Location::Pointer("/installation/id".into())
    );
    let gr = o("github").revocation.as_ref().unwrap();
    assert_eq!(gr.method, HttpMethod::Delete);
    assert_eq!(gr.client_auth, Some(RevokeClientAuth::Basic));
    assert_eq!(o("github").token_headers["Accept"], "application/json");

    // Stripe: API key as a bearer, events routed by account.
    let st = p("stripe");
    assert_eq!(st.auth_mode, AuthMode::ApiKey);
    assert_eq!(st.api_key.as_ref().unwrap().prefix, "Bearer ");
    assert_eq!(
        wh("stripe").routing.as_ref().unwrap().event,
        Location::Pointer("/account".into())
    );
    assert_eq!(wh("stripe").event_id, Some(Location::Pointer("/id".into())));

    // Templates: Shopify shop, Zendesk subdomain, Salesforce instance URL.
    assert_eq!(p("shopify").placeholders["shop"].kind, ValueKind::Label);
    assert_eq!(
        p("shopify").authorization_url(),
        Some("https://{shop}.myshopify.com/admin/oauth/authorize")
    );
    assert_eq!(
        p("zendesk").placeholders["subdomain"].kind,
        ValueKind::Label
    );
    let sf = &p("salesforce").placeholders["instance_url"];
    assert_eq!(sf.from, ValueSource::TokenResponse("/instance_url".into()));
    assert_eq!(sf.kind, ValueKind::Origin);
    assert_eq!(o("salesforce").token_response.expiry, Expiry::Unknown);

    // Tenants and domains.
    assert_eq!(
        p("microsoft").placeholders["tenant"].default.as_deref(),
        Some("common")
    );
    assert_eq!(p("okta").placeholders["domain"].kind, ValueKind::Host);
    assert_eq!(p("auth0").placeholders["domain"].kind, ValueKind::Host);

    // Quirks.
    // HubSpot's dated OAuth API revokes with a form POST (the v1 DELETE with the token
    // in the path is deprecated).
    assert_eq!(
        o("hubspot").revocation.as_ref().unwrap().send,
        TokenPlacement::Form
    );
    assert_eq!(
        o("hubspot").token_url,
        "https://api.hubapi.com/oauth/2026-03/token"
    );
    assert_eq!(o("notion").token_request, BodyFormat::Json);
    assert_eq!(o("notion").token_response.expiry, Expiry::ExpiresIn);
    // Expiring offline tokens: an hour, and each refresh replaces the refresh token.
    assert_eq!(o("shopify").token_response.expiry, Expiry::ExpiresIn);
    assert_eq!(
        o("shopify").token_response.refresh_tokens,
        RefreshTokens::Rotating
    );
    // Asked for when the code is exchanged; a refresh does not send it.
    assert_eq!(o("shopify").code_params["expiring"], "1");
    assert!(!o("shopify").token_params.contains_key("expiring"));
    assert_eq!(
        o("xero").token_response.refresh_tokens,
        RefreshTokens::Rotating
    );
    assert_eq!(
        o("dropbox").authorization_params["token_access_type"],
        "offline"
    );
    assert_eq!(
        o("shopify").api_auth.as_ref().unwrap().header.as_deref(),
        Some("X-Shopify-Access-Token")
    );
    assert_eq!(
        p("quickbooks").placeholders["realm_id"].from,
        ValueSource::CallbackQuery("realmId".into())
    );
    assert_eq!(
        p("mailgun").basic.as_ref().unwrap().username.as_deref(),
        Some("api")
    );

    assert_eq!(
        o("figma").refresh_url.as_deref(),
        Some("https://api.figma.com/v1/oauth/refresh")
    );
    assert_eq!(
        o("discord").jwks_url.as_deref(),
        Some("https://discord.com/api/oauth2/keys")
    );

    // Handshakes.
    assert_eq!(wh("zoom").handshake, Some(Handshake::ZoomUrlValidation));
    assert_eq!(
        wh("twitch").handshake,
        Some(Handshake::TwitchCallbackVerification)
    );
    assert_eq!(
        wh("microsoft").handshake,
        Some(Handshake::MicrosoftGraphValidationToken)
    );
    assert_eq!(wh("meta").handshake, Some(Handshake::MetaHubChallenge));

    // Webhook-only generic entries.
    for id in ["standard-webhooks", "svix", "generic-hmac"] {
        assert_eq!(p(id).auth_mode, AuthMode::WebhookOnly);
    }
    assert_eq!(
        wh("standard-webhooks").scheme,
        Some(Scheme::StandardWebhooks)
    );
    assert_eq!(
        wh("standard-webhooks").event_id,
        Some(Location::Header("webhook-id".into()))
    );
    assert!(wh("generic-hmac").scheme_configurable);
    assert!(matches!(
        wh("bitbucket").scheme,
        Some(Scheme::GenericHmac(_))
    ));

    // Rate limits.
    let rl = p("github").rate_limit.as_ref().unwrap();
    assert_eq!(rl.reset_format, ResetFormat::UnixSeconds);
    assert_eq!(p("github").webhook_scheme(), Some(&Scheme::Github));
    assert_eq!(p("google").webhook_scheme(), None);
    assert_eq!(p("stripe").token_url(), None);
    assert_eq!(p("stripe").authorization_url(), None);
}

#[test]
fn catalog_covers_the_common_categories() {
    // At least a few entries from each category product teams integrate most.
    let categories: [(&str, &[&str]); 12] = [
        (
            "crm",
            &[
                "attio",
                "close",
                "copper",
                "zoho-crm",
                "outreach",
                "salesloft",
            ],
        ),
        (
            "support",
            &[
                "freshdesk",
                "helpscout",
                "front",
                "gorgias",
                "zoho-desk",
                "servicenow",
            ],
        ),
        (
            "chat and calls",
            &["mattermost", "webex", "ringcentral", "aircall", "dialpad"],
        ),
        (
            "payments",
            &[
                "paypal",
                "mollie",
                "coinbase",
                "chargebee",
                "recurly",
                "lemon-squeezy",
            ],
        ),
        (
            "spend and accounting",
            &["brex", "ramp", "freshbooks", "sage-accounting", "netsuite"],
        ),
        (
            "e-commerce",
            &["woocommerce", "bigcommerce", "etsy", "ebay", "webflow"],
        ),
        (
            "dev tools",
            &[
                "sentry",
                "pagerduty",
                "vercel",
                "netlify",
                "digitalocean",
                "heroku",
                "circleci",
                "buildkite",
                "shortcut",
                "datadog",
                "new-relic",
            ],
        ),
        (
            "hr and ats",
            &[
                "greenhouse",
                "bamboohr",
                "gusto",
                "deel",
                "personio",
                "hibob",
                "ashby",
                "workable",
                "smartrecruiters",
            ],
        ),
        (
            "marketing",
            &[
                "klaviyo",
                "activecampaign",
                "constant-contact",
                "brevo",
                "postmark",
                "resend",
                "customer-io",
                "segment",
                "mixpanel",
                "amplitude",
            ],
        ),
        (
            "productivity",
            &[
                "todoist",
                "miro",
                "canva",
                "smartsheet",
                "coda",
                "productboard",
                "cal-com",
            ],
        ),
        (
            "identity",
            &[
                "keycloak",
                "pingone",
                "onelogin",
                "cognito",
                "fusionauth",
                "clerk",
                "workos",
                "jumpcloud",
            ],
        ),
        (
            "social and fitness",
            &["x", "reddit", "pinterest", "strava"],
        ),
    ];
    for (category, ids) in categories {
        for id in ids {
            assert!(cat().get(id).is_some(), "{category}: missing provider {id}");
        }
    }
}

#[test]
fn key_facts_of_the_wider_catalog() {
    // Zoho: the token endpoint is the user's data centre, from the callback.
    let z = o("zoho-crm");
    assert_eq!(z.token_url, "{accounts_server}/oauth/v2/token");
    assert_eq!(
        p("zoho-crm").placeholders["accounts_server"].from,
        ValueSource::CallbackQuery("accounts-server".into())
    );
    assert_eq!(z.scope_separator, ",");
    assert_eq!(z.authorization_params["access_type"], "offline");
    let url = p("zoho-crm")
        .resolve_url(
            &z.token_url,
            &vals(&[("accounts_server", "https://accounts.zoho.eu")]),
        )
        .unwrap();
    assert_eq!(url, "https://accounts.zoho.eu/oauth/v2/token");
    assert!(
        p("zoho-crm")
            .resolve_url(
                &z.token_url,
                &vals(&[("accounts_server", "https://accounts.evil.example")]),
            )
            .is_err()
    );

    // PayPal and Personio: client credentials, no authorization endpoint.
    for id in ["paypal", "personio"] {
        assert_eq!(p(id).auth_mode, AuthMode::ClientCredentials);
        assert_eq!(p(id).authorization_url(), None);
        assert_eq!(o(id).token_response.refresh_tokens, RefreshTokens::None);
    }

    // PKCE-required providers keep it on; X, Klaviyo, Canva rotate or reuse as documented.
    for id in ["x", "etsy", "klaviyo", "canva"] {
        assert!(o(id).pkce, "{id} requires PKCE");
    }
    assert_eq!(
        o("x").token_response.refresh_tokens,
        RefreshTokens::Rotating
    );
    assert_eq!(o("reddit").authorization_params["duration"], "permanent");

    // Tokens that never expire.
    for id in ["attio", "webflow", "aircall", "copper", "todoist"] {
        assert_eq!(o(id).token_response.expiry, Expiry::Never, "{id}");
    }

    // Webhooks described with generic-hmac settings taken from the providers' docs.
    let Some(Scheme::GenericHmac(g)) = wh("customer-io").scheme.as_ref() else {
        panic!("customer-io uses generic-hmac");
    };
    assert_eq!(g.template, "v0:{timestamp}:{body}");
    assert_eq!(g.timestamp_header.as_deref(), Some("X-CIO-Timestamp"));
    let Some(Scheme::GenericHmac(g)) = wh("woocommerce").scheme.as_ref() else {
        panic!("woocommerce uses generic-hmac");
    };
    assert_eq!(g.header, "X-WC-Webhook-Signature");
    assert_eq!(
        wh("woocommerce").event_id,
        Some(Location::Header("X-WC-Webhook-Delivery-ID".into()))
    );
    assert_eq!(wh("resend").scheme, Some(Scheme::Svix));
    assert_eq!(wh("clerk").scheme, Some(Scheme::Svix));

    // The generic-hmac settings the signatures crate's independent vectors are made for
    // (tests/vectors/generate.py: CLOSE, AIRTABLE, PAGERDUTY): only the secret is left
    // to configure.
    use signatures::{GenericHmac, KeyEncoding};
    let expected = [
        (
            "close",
            GenericHmac {
                template: "{timestamp}{body}".into(),
                timestamp_header: Some("close-sig-timestamp".into()),
                key_encoding: KeyEncoding::Hex,
                ..GenericHmac::new("close-sig-hash")
            },
        ),
        (
            "airtable",
            GenericHmac {
                prefix: "hmac-sha256=".into(),
                key_encoding: KeyEncoding::Base64,
                ..GenericHmac::new("X-Airtable-Content-MAC")
            },
        ),
        (
            "pagerduty",
            GenericHmac {
                prefix: "v1=".into(),
                separator: Some(",".into()),
                ..GenericHmac::new("X-PagerDuty-Signature")
            },
        ),
    ];
    for (id, g) in expected {
        assert_eq!(wh(id).scheme, Some(Scheme::GenericHmac(g)), "{id}");
        assert!(!wh(id).scheme_configurable, "{id}");
    }
    assert_eq!(wh("buildkite").scheme, Some(Scheme::Buildkite));
    assert_eq!(wh("monday").scheme, Some(Scheme::Monday));
    assert_eq!(wh("fusionauth").scheme, Some(Scheme::Fusionauth));
    assert_eq!(wh("brex").scheme, Some(Scheme::StandardWebhooks));

    // [verify] scopes only where the provider's own spec names the request's scope.
    assert_eq!(
        p("dropbox").verify.as_ref().unwrap().scopes,
        vec!["account_info.read".to_owned()]
    );
    let with_scopes: Vec<&str> = Catalog::builtin()
        .list()
        .filter(|p| p.verify.as_ref().is_some_and(|v| !v.scopes.is_empty()))
        .map(|p| p.id.as_str())
        .collect();
    // TikTok's /v2/user/info needs user.info.basic, which no broader scope includes.
    assert_eq!(with_scopes, ["dropbox", "tiktok"]);

    // Placeholders: account hosts are narrow.
    let pd = p("pingone");
    let url = pd
        .resolve_url(
            pd.authorization_url().unwrap(),
            &vals(&[("environment_id", "abc-123")]),
        )
        .unwrap();
    assert_eq!(url, "https://auth.pingone.com/abc-123/as/authorize");
    assert!(
        pd.resolve_url(
            pd.authorization_url().unwrap(),
            &vals(&[
                ("auth_domain", "auth.evil.example"),
                ("environment_id", "x")
            ]),
        )
        .is_err()
    );
}

#[test]
fn every_scheme_is_used_by_some_provider() {
    for s in Scheme::BUILT_IN.iter().chain(Scheme::FETCHED_KEY) {
        assert!(
            cat().list().any(|p| p.webhook_scheme() == Some(s)),
            "no provider uses {s}"
        );
    }
}

// ---------------------------------------------------------------- templates

#[test]
fn resolve_happy_paths() {
    let shop = p("shopify");
    assert_eq!(
        shop.resolve_url(shop.token_url().unwrap(), &vals(&[("shop", "Acme-Store")]))
            .unwrap(),
        "https://acme-store.myshopify.com/admin/oauth/access_token"
    );
    let z = p("zendesk");
    assert_eq!(
        z.resolve_url(
            z.api_base_url.as_deref().unwrap(),
            &vals(&[("subdomain", "acme")])
        )
        .unwrap(),
        "https://acme.zendesk.com/api/v2"
    );
    let ms = p("microsoft");
    assert_eq!(
        ms.resolve_url(ms.authorization_url().unwrap(), &BTreeMap::new())
            .unwrap(),
        "https://login.microsoftonline.com/common/oauth2/v2.0/authorize"
    );
    assert_eq!(
        ms.resolve_url(
            ms.token_url().unwrap(),
            &vals(&[("tenant", "contoso.onmicrosoft.com")])
        )
        .unwrap(),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    );
    let okta = p("okta");
    assert_eq!(
        okta.resolve_url(
            okta.token_url().unwrap(),
            &vals(&[("domain", "dev-1.okta.com")])
        )
        .unwrap(),
        "https://dev-1.okta.com/oauth2/default/v1/token"
    );
    let sf = p("salesforce");
    assert_eq!(
        sf.resolve_url(
            sf.api_base_url.as_deref().unwrap(),
            &vals(&[("instance_url", "https://acme.my.salesforce.com/")])
        )
        .unwrap(),
        "https://acme.my.salesforce.com/services/data/v62.0"
    );
    // A token in a path is percent-encoded like any segment.
    assert_eq!(
        resolve_url(
            "https://api.example.com/tokens/{token}",
            &BTreeMap::new(),
            &vals(&[("token", "a/b?c")])
        )
        .unwrap(),
        "https://api.example.com/tokens/a%2Fb%3Fc"
    );
}

#[test]
fn label_injection_is_refused() {
    let shop = p("shopify");
    let t = shop.authorization_url().unwrap();
    for evil in [
        "evil.com/",
        "evil.com",
        "evil.com#",
        "a@evil.com",
        "evil?x=",
        "evil#x",
        "a/b",
        "a:443",
        "",
        "-acme",
        "acme-",
        "ac me",
        "ac%2Fme",
        "acmé",
        "a\nb",
        &"a".repeat(64),
    ] {
        let e = shop.resolve_url(t, &vals(&[("shop", evil)])).unwrap_err();
        assert!(
            matches!(e, CatalogError::BadValue { .. }),
            "{evil:?} gave {e}"
        );
        assert!(
            !evil.is_empty() && !e.to_string().contains(evil) || evil.is_empty() || evil == "a"
        );
    }
}

#[test]
fn host_injection_is_refused() {
    let okta = p("okta");
    let t = okta.token_url().unwrap();
    for evil in [
        "evil.com/x",
        "a@evil.com",
        "evil.com?",
        "evil.com#",
        "evil.com:8443",
        "localhost",
        "127.0.0.1",
        "a..b",
        ".okta.com",
        "okta.com.",
        "-a.okta.com",
        &format!("{}.com", "a.".repeat(130)),
    ] {
        let e = okta.resolve_url(t, &vals(&[("domain", evil)])).unwrap_err();
        assert!(
            matches!(e, CatalogError::BadValue { .. }),
            "{evil:?} gave {e}"
        );
    }
}

#[test]
fn origin_injection_is_refused() {
    let sf = p("salesforce");
    let t = sf.api_base_url.as_deref().unwrap();
    for evil in [
        "https://evil.com",
        "https://salesforce.com.evil.com",
        "https://.salesforce.com",
        "http://acme.my.salesforce.com",
        "https://user@acme.my.salesforce.com",
        "https://u:p@acme.my.salesforce.com",
        "https://acme.my.salesforce.com/path",
        "https://acme.my.salesforce.com?x=1",
        "https://acme.my.salesforce.com#x",
        "https://acme.my.salesforce.com:8443",
        "https://1.2.3.4",
        "acme.my.salesforce.com",
        "https://acme.my.salesforce.com /x",
        "javascript:alert(1)",
    ] {
        let e = sf
            .resolve_url(t, &vals(&[("instance_url", evil)]))
            .unwrap_err();
        assert!(
            matches!(e, CatalogError::BadValue { .. }),
            "{evil:?} gave {e}"
        );
    }
}

#[test]
fn segment_values_are_encoded_and_dots_refused() {
    let ms = p("microsoft");
    let t = ms.token_url().unwrap();
    let url = ms
        .resolve_url(t, &vals(&[("tenant", "a/b?c#d@e f")]))
        .unwrap();
    assert_eq!(
        url,
        "https://login.microsoftonline.com/a%2Fb%3Fc%23d%40e%20f/oauth2/v2.0/token"
    );
    for evil in [".", ".."] {
        assert!(matches!(
            ms.resolve_url(t, &vals(&[("tenant", evil)])),
            Err(CatalogError::BadValue { .. })
        ));
    }
}

#[test]
fn missing_and_undeclared_values() {
    let shop = p("shopify");
    let e = shop
        .resolve_url(shop.authorization_url().unwrap(), &BTreeMap::new())
        .unwrap_err();
    assert!(matches!(e, CatalogError::MissingValue { .. }));
    assert!(e.to_string().contains("connection setting \"shop\""), "{e}");
    let e = shop
        .resolve_url("https://{nope}.example.com", &BTreeMap::new())
        .unwrap_err();
    assert!(e.to_string().contains("not declared"), "{e}");
    let e = p("hubspot")
        .resolve_url("https://api.hubapi.com/{token}", &BTreeMap::new())
        .unwrap_err();
    assert!(matches!(e, CatalogError::MissingValue { .. }));
}

#[test]
fn malformed_templates() {
    let none: BTreeMap<String, Placeholder> = BTreeMap::new();
    let nov: BTreeMap<String, String> = BTreeMap::new();
    for (t, needle) in [
        ("https://x.example/{a", "without its `}`"),
        ("https://x.example/a}", "without its `{`"),
        ("https://x.example/{A}", "not a name"),
        ("https://x.example/{}", "not a name"),
        ("https://x.example/{1a}", "not a name"),
    ] {
        let e = resolve_url(t, &none, &nov).unwrap_err();
        assert!(e.to_string().contains(needle), "{t}: {e}");
    }
    assert_eq!(
        resolve_url("https://x.example/a", &none, &nov).unwrap(),
        "https://x.example/a"
    );
    let e = resolve_url("http://x.example/a", &none, &nov).unwrap_err();
    assert!(e.to_string().contains("https"), "{e}");
    assert_eq!(
        resolve_url_with("http://127.0.0.1:9/a", &none, &nov, true).unwrap(),
        "http://127.0.0.1:9/a"
    );
}

// ---------------------------------------------------------------- validation

const BASE: &str = r#"
id = "acme"
name = "Acme"
docs_url = "https://docs.acme.example"
auth_mode = "oauth2"
api_base_url = "https://api.acme.example"

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

#[test]
fn base_is_valid() {
    let p = parse(BASE).unwrap();
    assert!(p.oauth2.as_ref().unwrap().pkce);
    assert_eq!(p.oauth2.as_ref().unwrap().client_auth, ClientAuth::Basic);
    assert_eq!(p.oauth2.as_ref().unwrap().scope_separator, " ");
}

#[test]
fn unknown_keys_are_refused_with_their_name() {
    fails(&format!("colour = \"red\"\n{BASE}"), &["colour", "line"]);
    fails(
        &format!("{BASE}tokenurl = \"https://x.example\"\n"),
        &["tokenurl"],
    );
    fails(
        &format!("{BASE}[oauth2.token_response]\nexpires = \"never\"\n"),
        &["expires"],
    );
    fails(
        &format!("{BASE}[webhooks]\nevent_id = {{ cookie = \"x\" }}\n"),
        &["cookie"],
    );
    fails(
        &format!("{BASE}[rate_limit]\nreset_format = \"weekly\"\n"),
        &["weekly"],
    );
}

#[test]
fn http_urls_are_refused_unless_dev_loopback() {
    let http = BASE.replace("https://acme.example/token", "http://acme.example/token");
    fails(&http, &["oauth2.token_url", "https"]);
    let local = BASE.replace("https://acme.example/token", "http://127.0.0.1:8080/token");
    fails(&local, &["oauth2.token_url"]);
    assert!(Provider::from_toml("acme", &local, true).is_ok());
    let localhost = BASE.replace("https://acme.example/token", "http://localhost:8080/token");
    assert!(Provider::from_toml("acme", &localhost, true).is_ok());
    let v6 = BASE.replace("https://acme.example/token", "http://[::1]:8080/token");
    assert!(Provider::from_toml("acme", &v6, true).is_ok());
    let e = Provider::from_toml("acme", &http, true).unwrap_err();
    assert!(e.to_string().contains("loopback"), "{e}");
    fails(
        &BASE.replace("https://docs.acme.example", "ftp://docs.acme.example"),
        &["docs_url"],
    );
    fails(
        &BASE.replace("https://docs.acme.example", "not a url"),
        &["docs_url"],
    );
    fails(
        &BASE.replace("https://docs.acme.example", "https://u@docs.acme.example"),
        &["user info"],
    );
    fails(
        &BASE.replace("https://docs.acme.example", "https://docs.acme.example/#x"),
        &["fragment"],
    );
    fails(
        &BASE.replace("https://docs.acme.example", "https://{x}.example"),
        &["placeholders"],
    );
}

#[test]
fn ids_must_be_kebab_case_and_match_the_file() {
    fails(
        &BASE.replace("id = \"acme\"", "id = \"other\""),
        &["other", "acme.toml"],
    );
    for bad in ["Acme", "ac_me", "-acme", "acme-", "ac--me", ""] {
        assert!(!is_valid_id(bad), "{bad}");
        let text = BASE.replace("id = \"acme\"", &format!("id = \"{bad}\""));
        assert!(Provider::from_toml(bad, &text, false).is_err(), "{bad}");
    }
    assert!(is_valid_id("standard-webhooks"));
    assert!(!is_valid_id(&"a".repeat(65)));
}

#[test]
fn placeholders_must_be_declared_known_and_in_place() {
    fails(
        &BASE.replace(
            "https://acme.example/token",
            "https://{tenant}.acme.example/token",
        ),
        &["oauth2.token_url", "[placeholders.tenant]"],
    );
    let ph =
        |from: &str, kind: &str| format!("\n[placeholders.x]\nfrom = {from}\nkind = \"{kind}\"\n");
    // A token-response value cannot be used before there is a token.
    fails(
        &format!(
            "{}{}",
            BASE.replace("https://acme.example/authorize", "{x}/authorize"),
            ph("{ token_response = \"/instance_url\" }", "origin")
        ),
        &["oauth2.authorization_url", "not known yet"],
    );
    fails(
        &format!(
            "{}{}",
            BASE.replace(
                "https://acme.example/token",
                "https://acme.example/{x}/token"
            ),
            ph("{ userinfo = \"/id\" }", "segment")
        ),
        &["oauth2.token_url", "not known yet"],
    );
    // Kinds must fit their position.
    fails(
        &format!(
            "{}{}",
            BASE.replace("https://acme.example/token", "https://acme.example/{x}"),
            ph("{ connection = \"x\" }", "label")
        ),
        &["does not fit"],
    );
    fails(
        &format!(
            "{}{}",
            BASE.replace("https://acme.example/token", "https://{x}.example/token"),
            ph("{ connection = \"x\" }", "segment")
        ),
        &["does not fit"],
    );
    fails(
        &format!(
            "{}{}",
            BASE.replace("https://acme.example/token", "https://a.example/{x}"),
            ph("{ connection = \"x\" }", "origin")
        ),
        &["does not fit"],
    );
    // Declared but unused.
    fails(
        &format!("{BASE}{}", ph("{ connection = \"x\" }", "label")),
        &["placeholders.x", "no URL uses it"],
    );
    // A callback value is fine in the token URL.
    assert!(
        parse(&format!(
            "{}{}",
            BASE.replace(
                "https://acme.example/token",
                "https://acme.example/{x}/token"
            ),
            ph("{ callback_query = \"realm\" }", "segment")
        ))
        .is_ok()
    );
    // Bad sources, suffixes, defaults and names.
    fails(
        &format!(
            "{}{}",
            BASE.replace("https://api.acme.example", "{x}"),
            ph("{ token_response = \"instance_url\" }", "origin")
        ),
        &["JSON pointer"],
    );
    fails(
        &format!(
            "{}{}",
            BASE.replace("https://api.acme.example", "https://{x}.example"),
            ph("{ connection = \"a b\" }", "label")
        ),
        &["no spaces"],
    );
    fails(
        &format!(
            "{}{}host_suffixes = [\"example.com\"]\n",
            BASE.replace("https://api.acme.example", "https://{x}"),
            ph("{ connection = \"x\" }", "host")
        ),
        &["host_suffixes"],
    );
    fails(
        &format!(
            "{}{}default = \"a/b\"\n",
            BASE.replace("https://api.acme.example", "https://{x}.example"),
            ph("{ connection = \"x\" }", "label")
        ),
        &["placeholders.x.default"],
    );
    fails(
        &format!(
            "{}\n[placeholders.token]\nfrom = {{ connection = \"t\" }}\nkind = \"segment\"\n",
            BASE.replace(
                "https://api.acme.example",
                "https://api.acme.example/{token}"
            )
        ),
        &["placeholders.token"],
    );
    fails(
        &BASE.replace(
            "https://api.acme.example",
            "https://api.acme.example/{token}",
        ),
        &["api_base_url", "{token}"],
    );
    // Suffixed hosts validate with a sample inside the suffix.
    assert!(
        parse(&format!(
            "{}{}host_suffixes = [\".acme.example\"]\n",
            BASE.replace("https://api.acme.example", "https://{x}/api"),
            ph("{ integration = \"domain\" }", "host")
        ))
        .is_ok()
    );
}

#[test]
fn auth_modes_need_their_tables() {
    let no_oauth = BASE.split("[oauth2]").next().unwrap().to_owned();
    fails(&no_oauth, &["oauth2", "is missing"]);
    fails(
        &no_oauth.replace("oauth2", "client_credentials"),
        &["oauth2"],
    );
    fails(&no_oauth.replace("\"oauth2\"", "\"api_key\""), &["api_key"]);
    fails(&no_oauth.replace("\"oauth2\"", "\"basic\""), &["basic"]);
    fails(
        &no_oauth.replace("\"oauth2\"", "\"webhook_only\""),
        &["webhooks"],
    );
    fails(
        &format!(
            "{}[webhooks]\nscheme = \"svix\"\n",
            BASE.replace("\"oauth2\"", "\"webhook_only\"")
        ),
        &["auth_mode", "webhook_only"],
    );
    fails(
        &BASE.replace(
            "authorization_url = \"https://acme.example/authorize\"\n",
            "",
        ),
        &["oauth2.authorization_url", "missing"],
    );
    let cc = BASE
        .replace("\"oauth2\"", "\"client_credentials\"")
        .replace(
            "authorization_url = \"https://acme.example/authorize\"\n",
            "",
        );
    assert!(parse(&cc).is_ok());
    assert_eq!(
        AuthMode::ClientCredentials.to_string(),
        "client_credentials"
    );
    for m in [
        AuthMode::Oauth2,
        AuthMode::ApiKey,
        AuthMode::Basic,
        AuthMode::WebhookOnly,
    ] {
        assert_eq!(m.to_string(), m.name());
    }
}

#[test]
fn api_keys_and_verification() {
    let head = BASE
        .split("[oauth2]")
        .next()
        .unwrap()
        .replace("\"oauth2\"", "\"api_key\"");
    assert!(
        parse(&format!(
            "{head}[api_key]\nquery = \"key\"\n[verify]\npath = \"/me\"\n"
        ))
        .is_ok()
    );
    fails(&format!("{head}[api_key]\n"), &["exactly one"]);
    fails(
        &format!("{head}[api_key]\nheader = \"X\"\nquery = \"k\"\n"),
        &["exactly one"],
    );
    fails(
        &format!("{head}[api_key]\nquery = \"k\"\nprefix = \"B \"\n"),
        &["prefix"],
    );
    fails(
        &format!("{head}[api_key]\nheader = \"X Key\"\n"),
        &["api_key.header", "header name"],
    );
    fails(
        &format!("{head}[api_key]\nheader = \"X\"\n[verify]\npath = \"me\"\n"),
        &["verify.path"],
    );
    let p = parse(&format!(
        "{head}[api_key]\nheader = \"X\"\n[verify]\npath = \"/me\"\nscopes = [\"users:read\"]\n"
    ))
    .unwrap();
    assert_eq!(p.verify.unwrap().scopes, vec!["users:read".to_owned()]);
    fails(
        &format!("{head}[api_key]\nheader = \"X\"\n[verify]\npath = \"/me\"\nscopes = [\"a b\"]\n"),
        &["verify.scopes[0]"],
    );
    let no_base = head.replace("api_base_url = \"https://api.acme.example\"\n", "");
    fails(
        &format!("{no_base}[api_key]\nheader = \"X\"\n[verify]\npath = \"/me\"\n"),
        &["verify", "api_base_url"],
    );
    fails(
        &format!("{BASE}[api_headers]\n\"Bad Header\" = \"1\"\n"),
        &["api_headers"],
    );
    fails(
        &format!("{BASE}[rate_limit]\nlimit = \"X:Limit\"\n"),
        &["rate_limit.limit"],
    );
}

#[test]
fn oauth2_rules() {
    fails(
        &format!("{BASE}scope_separator = \"\"\n"),
        &["scope_separator"],
    );
    fails(
        &format!("{BASE}default_scopes = [\"a b\"]\n"),
        &["default_scopes[0]"],
    );
    fails(
        &format!("{BASE}authorization_params = {{ state = \"x\" }}\n"),
        &["state", "Switchboard"],
    );
    fails(
        &format!("{BASE}token_params = {{ grant_type = \"x\" }}\n"),
        &["grant_type"],
    );
    fails(
        &format!("{BASE}token_headers = {{ \"A B\" = \"x\" }}\n"),
        &["token_headers"],
    );
    fails(&format!("{BASE}api_auth = {{ }}\n"), &["oauth2.api_auth"]);
    fails(
        &format!("{BASE}issuer = \"http://acme.example\"\n"),
        &["oauth2.issuer"],
    );
    fails(
        &format!("{BASE}jwks_url = \"http://acme.example\"\n"),
        &["oauth2.jwks_url"],
    );
    fails(
        &format!("{BASE}userinfo_url = \"http://acme.example\"\n"),
        &["oauth2.userinfo_url"],
    );
    fails(
        &format!("{BASE}refresh_url = \"http://acme.example\"\n"),
        &["oauth2.refresh_url"],
    );
    let rev = |body: &str| format!("{BASE}[oauth2.revocation]\n{body}\n");
    assert!(parse(&rev("url = \"https://acme.example/revoke\"")).is_ok());
    fails(
        &rev("url = \"https://acme.example/revoke\"\nsend = \"path\""),
        &["{token}"],
    );
    fails(
        &rev("url = \"https://acme.example/{token}\"\nsend = \"form\""),
        &["{token}"],
    );
    fails(
        &rev("url = \"https://{token}.example/\"\nsend = \"path\""),
        &["outside the path"],
    );
    fails(
        &rev("url = \"https://acme.example/r\"\nparam = \"\""),
        &["param"],
    );
    fails(
        &rev("url = \"https://acme.example/r\"\nsend = \"api_auth\""),
        &["api_auth"],
    );
    fails(
        &rev("url = \"https://acme.example/r\"\nmethod = \"PATCH\""),
        &["PATCH"],
    );
    let tr = |body: &str| format!("{BASE}[oauth2.token_response]\n{body}\n");
    fails(
        &tr("access_token = \"access_token\""),
        &["token_response.access_token"],
    );
    fails(
        &tr("refresh_token = \"~2\""),
        &["token_response.refresh_token"],
    );
    fails(&tr("scope = \"/a~\""), &["token_response.scope"]);
    fails(&tr("ok_flag = \"ok\""), &["ok_flag"]);
    fails(&tr("user_access_token = \"x\""), &["user_access_token"]);
    fails(&tr("scope_separator = \"\""), &["scope_separator"]);
    assert!(parse(&tr("access_token = \"/a~0b~1c\"")).is_ok());
}

#[test]
fn webhook_rules() {
    let w = |body: &str| format!("{BASE}[webhooks]\n{body}\n");
    assert!(parse(&w("scheme = \"twitch\"")).is_ok());
    assert_eq!(
        parse(&w("scheme = \"hubspot\"")).unwrap().webhook_scheme(),
        Some(&Scheme::HubspotV3)
    );
    fails(&w("scheme = \"nope\""), &["nope"]);
    fails(&w("scheme = \"generic-hmac\""), &["generic-hmac"]);
    fails(
        &w("scheme = { generic-hmac = { prefix = \"x\" } }"),
        &["header"],
    );
    fails(
        &w("scheme = { generic-hmac = { header = \"X\", colour = 1 } }"),
        &["colour"],
    );
    fails(&w("scheme_configurable = true"), &["scheme_configurable"]);
    fails(
        &w("event_id = { header = \"Bad Header\" }"),
        &["webhooks.event_id"],
    );
    fails(
        &w("event_type = { pointer = \"type\" }"),
        &["webhooks.event_type"],
    );
    fails(
        &w("routing = { event = { pointer = \"x\" }, connection = { connection = \"a\" } }"),
        &["webhooks.routing.event"],
    );
    fails(
        &w("routing = { event = { pointer = \"/x\" }, connection = { token_response = \"x\" } }"),
        &["webhooks.routing.connection"],
    );
    fails(&w("handshake = \"carrier-pigeon\""), &["carrier-pigeon"]);
}

#[test]
fn value_sources_describe_themselves() {
    let all = [
        (
            ValueSource::Connection("shop".into()),
            "connection setting",
            true,
            true,
        ),
        (
            ValueSource::Integration("domain".into()),
            "integration setting",
            true,
            true,
        ),
        (
            ValueSource::TokenResponse("/a".into()),
            "token response",
            false,
            false,
        ),
        (ValueSource::Userinfo("/a".into()), "userinfo", false, false),
        (
            ValueSource::CallbackQuery("realmId".into()),
            "callback",
            false,
            true,
        ),
    ];
    for (s, text, auth, token) in all {
        assert!(s.describe().contains(text));
        assert_eq!(s.known_before_authorization(), auth);
        assert_eq!(s.known_at_token_exchange(), token);
    }
}

// ---------------------------------------------------------------- catalog

#[test]
fn catalog_insert_get_require() {
    let mut c = Catalog::default();
    assert!(c.is_empty());
    let acme = parse(BASE).unwrap();
    c.insert(acme.clone()).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c.get("acme"), Some(&acme));
    let e = c.insert(acme).unwrap_err();
    assert_eq!(e, CatalogError::Duplicate("acme".into()));
    assert!(e.to_string().contains("another id"));
    let e = c.require("nope").unwrap_err();
    assert!(e.to_string().contains("providers list"), "{e}");
}

// ---------------------------------------------------------------- custom providers

fn custom(text: &str) -> CustomProvider {
    toml::from_str(text).unwrap()
}

const DISCOVERY: &str = r#"{
    "issuer": "https://id.acme.example",
    "authorization_endpoint": "https://id.acme.example/authorize",
    "token_endpoint": "https://id.acme.example/token",
    "revocation_endpoint": "https://id.acme.example/revoke",
    "userinfo_endpoint": "https://id.acme.example/userinfo",
    "jwks_uri": "https://id.acme.example/jwks",
    "scopes_supported": ["openid", "email"],
    "code_challenge_methods_supported": ["S256"],
    "token_endpoint_auth_methods_supported": ["client_secret_post"],
    "response_types_supported": ["code"]
}"#;

#[test]
fn custom_provider_with_explicit_endpoints() {
    let c = custom(
        r#"
        id = "acme"
        authorization_url = "https://acme.example/authorize"
        token_url = "https://acme.example/token"
        revocation_url = "https://acme.example/revoke"
        userinfo_url = "https://acme.example/me"
        api_base_url = "https://api.acme.example"
        webhook_scheme = "standard-webhooks"
        "#,
    );
    c.validate(false).unwrap();
    assert!(!c.needs_discovery());
    assert_eq!(c.discovery_urls(), None);
    let p = c.to_provider_explicit(false).unwrap();
    assert_eq!(p.name, "acme");
    assert_eq!(p.docs_url, "https://acme.example/token");
    let o = p.oauth2.as_ref().unwrap();
    assert!(o.pkce);
    assert_eq!(o.client_auth, ClientAuth::Basic);
    let r = o.revocation.as_ref().unwrap();
    assert_eq!(r.url, "https://acme.example/revoke");
    assert!(r.type_hint);
    assert_eq!(p.webhook_scheme(), Some(&Scheme::StandardWebhooks));
}

#[test]
fn custom_provider_refusals() {
    let e = custom("id = \"Acme\"\ntoken_url = \"https://a.example/t\"")
        .validate(false)
        .unwrap_err();
    assert!(e.to_string().contains("`id`"), "{e}");
    let e = custom("id = \"acme\"").validate(false).unwrap_err();
    assert!(e.to_string().contains("issuer"), "{e}");
    let e = custom("id = \"acme\"\nissuer = \"http://id.acme.example\"")
        .validate(false)
        .unwrap_err();
    assert!(e.to_string().contains("`issuer`"), "{e}");
    custom("id = \"acme\"\nissuer = \"http://127.0.0.1:3000\"")
        .validate(true)
        .unwrap();
    let http = custom(
        "id = \"acme\"\nauthorization_url = \"http://127.0.0.1:3000/a\"\ntoken_url = \"http://127.0.0.1:3000/t\"",
    );
    assert!(http.validate(false).is_err());
    http.validate(true).unwrap();
    let e = custom("id = \"acme\"\nissuer = \"https://id.acme.example\"")
        .to_provider_explicit(false)
        .unwrap_err();
    assert!(e.to_string().contains("from_discovery"), "{e}");
    let e = custom("id = \"acme\"\ntoken_url = \"https://a.example/t\"\nauth_mode = \"basic\"")
        .validate(false)
        .unwrap_err();
    assert!(e.to_string().contains("auth_mode"), "{e}");
    let e = custom("id = \"acme\"\ntoken_url = \"https://a.example/t\"")
        .validate(false)
        .unwrap_err();
    assert!(e.to_string().contains("authorization_url"), "{e}");
    custom(
        "id = \"acme\"\ntoken_url = \"https://a.example/t\"\nauth_mode = \"client_credentials\"",
    )
    .validate(false)
    .unwrap();
    let e = toml::from_str::<CustomProvider>("id = \"acme\"\nclient_secret = \"x\"").unwrap_err();
    assert!(e.to_string().contains("client_secret"), "{e}");
}

#[test]
fn discovery_document_becomes_a_provider() {
    let c = custom("id = \"acme\"\nissuer = \"https://id.acme.example\"");
    assert!(c.needs_discovery());
    c.validate(false).unwrap();
    assert_eq!(
        c.discovery_urls().unwrap(),
        vec![
            "https://id.acme.example/.well-known/openid-configuration".to_owned(),
            "https://id.acme.example/.well-known/oauth-authorization-server".to_owned(),
        ]
    );
    let p = c.from_discovery(DISCOVERY, false).unwrap();
    let o = p.oauth2.as_ref().unwrap();
    assert_eq!(
        o.authorization_url.as_deref(),
        Some("https://id.acme.example/authorize")
    );
    assert_eq!(o.token_url, "https://id.acme.example/token");
    assert_eq!(
        o.userinfo_url.as_deref(),
        Some("https://id.acme.example/userinfo")
    );
    assert_eq!(o.jwks_url.as_deref(), Some("https://id.acme.example/jwks"));
    assert_eq!(o.issuer.as_deref(), Some("https://id.acme.example"));
    assert_eq!(
        o.revocation.as_ref().unwrap().url,
        "https://id.acme.example/revoke"
    );
    assert_eq!(o.default_scopes, vec!["openid".to_owned()]);
    assert_eq!(o.client_auth, ClientAuth::Body);
    assert!(o.pkce);
    assert_eq!(p.docs_url, "https://id.acme.example");

    // Explicit settings win over the document.
    let c2 = custom(
        r#"
        id = "acme"
        name = "Acme ID"
        issuer = "https://id.acme.example"
        userinfo_url = "https://api.acme.example/me"
        default_scopes = ["read"]
        pkce = false
        client_auth = "basic"
        scope_separator = ","
        docs_url = "https://docs.acme.example"
        "#,
    );
    let p2 = c2.from_discovery(DISCOVERY, false).unwrap();
    let o2 = p2.oauth2.as_ref().unwrap();
    assert_eq!(
        o2.userinfo_url.as_deref(),
        Some("https://api.acme.example/me")
    );
    assert_eq!(o2.default_scopes, vec!["read".to_owned()]);
    assert!(!o2.pkce);
    assert_eq!(o2.client_auth, ClientAuth::Basic);
    assert_eq!(p2.name, "Acme ID");

    // Without S256 in the list, no PKCE; RFC 8414 paths keep the issuer's path.
    let doc = r#"{"issuer": "https://id.acme.example/tenant/1",
        "authorization_endpoint": "https://id.acme.example/a",
        "token_endpoint": "https://id.acme.example/t",
        "code_challenge_methods_supported": ["plain"]}"#;
    let c3 = custom("id = \"acme\"\nissuer = \"https://id.acme.example/tenant/1\"");
    assert_eq!(
        c3.discovery_urls().unwrap()[1],
        "https://id.acme.example/.well-known/oauth-authorization-server/tenant/1"
    );
    let o3 = c3.from_discovery(doc, false).unwrap().oauth2.unwrap();
    assert!(!o3.pkce);
    assert!(o3.default_scopes.is_empty());
    assert_eq!(o3.client_auth, ClientAuth::Basic);
}

#[test]
fn discovery_refusals() {
    let c = custom("id = \"acme\"\nissuer = \"https://id.acme.example\"");
    let mismatch = DISCOVERY.replace("\"https://id.acme.example\",", "\"https://evil.example\",");
    let e = c.from_discovery(&mismatch, false).unwrap_err();
    assert!(matches!(e, CatalogError::Discovery { .. }));
    assert!(e.to_string().contains("https://evil.example"), "{e}");
    assert!(e.to_string().contains("not the configured one"), "{e}");
    // A trailing slash is a different issuer.
    let slash = DISCOVERY.replace(
        "\"https://id.acme.example\",",
        "\"https://id.acme.example/\",",
    );
    assert!(c.from_discovery(&slash, false).is_err());
    let e = c.from_discovery("not json", false).unwrap_err();
    assert!(e.to_string().contains("not a discovery document"), "{e}");
    let e = c
        .from_discovery(r#"{"issuer": "https://id.acme.example"}"#, false)
        .unwrap_err();
    assert!(e.to_string().contains("token_endpoint"), "{e}");
    let http = DISCOVERY.replace(
        "https://id.acme.example/token",
        "http://id.acme.example/token",
    );
    let e = c.from_discovery(&http, false).unwrap_err();
    assert!(e.to_string().contains("oauth2.token_url"), "{e}");
    let e = custom("id = \"acme\"\ntoken_url = \"https://a.example/t\"")
        .from_discovery(DISCOVERY, false)
        .unwrap_err();
    assert!(e.to_string().contains("issuer"), "{e}");
}

#[test]
fn errors_name_provider_and_key() {
    let e = CatalogError::invalid("acme", "oauth2.token_url", "must use https");
    assert_eq!(
        e.to_string(),
        "provider \"acme\": `oauth2.token_url` must use https"
    );
    let e = CatalogError::bad_value("shop", "it is empty");
    assert_eq!(e.to_string(), "value for {shop} refused: it is empty");
}

#[test]
fn no_character_escapes_its_place() {
    let shop = p("shopify");
    let ms = p("microsoft");
    for b in 0u8..=127 {
        let c = b as char;
        let v = format!("a{c}b");
        let label = shop.resolve_url(shop.authorization_url().unwrap(), &vals(&[("shop", &v)]));
        if c.is_ascii_alphanumeric() || c == '-' {
            let url = label.unwrap();
            assert!(url.starts_with(&format!(
                "https://{}.myshopify.com/",
                v.to_ascii_lowercase()
            )));
        } else {
            assert!(label.is_err(), "{c:?} accepted in a label");
        }
        let url = ms
            .resolve_url(ms.token_url().unwrap(), &vals(&[("tenant", &v)]))
            .unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        assert_eq!(
            parsed.host_str(),
            Some("login.microsoftonline.com"),
            "{c:?}"
        );
        assert_eq!(parsed.query(), None, "{c:?}");
        assert_eq!(parsed.fragment(), None, "{c:?}");
        assert_eq!(parsed.path_segments().unwrap().count(), 4, "{c:?}");
    }
}

#[test]
fn custom_providers_declare_placeholders_like_catalog_files() {
    let p = custom(
        r#"
id = "acme"
docs_url = "https://docs.acme.example"
authorization_url = "https://{tenant}.acme.example/authorize"
token_url = "https://{tenant}.acme.example/token"
api_base_url = "https://{tenant}.acme.example/api"

[placeholders.tenant]
from = { integration = "tenant" }
kind = "label"
description = "Your Acme tenant."
"#,
    )
    .to_provider_explicit(false)
    .unwrap();
    assert_eq!(p.placeholders["tenant"].kind, ValueKind::Label);
    let values = BTreeMap::from([("tenant".to_owned(), "blue".to_owned())]);
    assert_eq!(
        p.resolve_url(p.token_url().unwrap(), &values).unwrap(),
        "https://blue.acme.example/token"
    );
    // A value that is not a DNS label is refused, as for built-in providers.
    let bad = BTreeMap::from([("tenant".to_owned(), "evil.example/x".to_owned())]);
    assert!(p.resolve_url(p.token_url().unwrap(), &bad).is_err());
    // A template naming a placeholder that is not declared is refused at load.
    let e = custom("id = \"acme\"\ndocs_url = \"https://docs.acme.example\"\nauthorization_url = \"https://acme.example/authorize\"\ntoken_url = \"https://{tenant}.acme.example/token\"\n")
        .to_provider_explicit(false)
        .unwrap_err();
    assert!(e.to_string().contains("tenant"), "{e}");
}

#[test]
fn a_custom_provider_with_a_templated_token_url_needs_docs_url() {
    let e = custom("id = \"acme\"\nauthorization_url = \"https://acme.example/authorize\"\ntoken_url = \"https://{tenant}.acme.example/token\"\n[placeholders.tenant]\nfrom = { integration = \"tenant\" }\nkind = \"label\"\n")
        .to_provider_explicit(false)
        .unwrap_err();
    assert!(e.to_string().contains("docs_url"), "{e}");
}

// ---------------------------------------------------------------- header alternatives

fn shopify_headers(pairs: &[(&str, &str)]) -> signatures::Headers {
    pairs.iter().map(|(n, v)| (*n, *v)).collect()
}

/// Shopify's newer deliveries name the headers without `X-`: the event id, topic and shop
/// domain are read under either name, the `X-` one first.
#[test]
fn shopify_reads_unprefixed_headers() {
    let w = wh("shopify");
    assert_eq!(
        w.event_id,
        Some(Location::Header("X-Shopify-Webhook-Id".into()))
    );
    assert_eq!(
        w.header_names("X-Shopify-Webhook-Id").collect::<Vec<_>>(),
        [
            "X-Shopify-Webhook-Id",
            "Shopify-Webhook-Id",
            "Shopify-Event-Id"
        ]
    );
    // Names compare case-insensitively, as HTTP header names do.
    assert_eq!(
        w.header_names("x-shopify-topic").collect::<Vec<_>>(),
        ["x-shopify-topic", "Shopify-Topic"]
    );
    assert_eq!(
        w.header_names("X-Shopify-Shop-Domain").collect::<Vec<_>>(),
        ["X-Shopify-Shop-Domain", "Shopify-Shop-Domain"]
    );
    // A header with no alternatives is read under its own name only.
    assert_eq!(
        w.header_names("X-Shopify-Hmac-Sha256").collect::<Vec<_>>(),
        ["X-Shopify-Hmac-Sha256"]
    );

    let legacy = shopify_headers(&[
        ("X-Shopify-Webhook-Id", "wh-1"),
        ("X-Shopify-Topic", "orders/create"),
        ("X-Shopify-Shop-Domain", "acme.myshopify.com"),
    ]);
    let newer = shopify_headers(&[
        ("shopify-webhook-id", "wh-2"),
        ("shopify-event-id", "ev-2"),
        ("shopify-topic", "products/update"),
        ("shopify-shop-domain", "acme.myshopify.com"),
    ]);
    let id_only_event = shopify_headers(&[("Shopify-Event-Id", "ev-3")]);
    let both = shopify_headers(&[
        ("Shopify-Topic", "products/update"),
        ("X-Shopify-Topic", "orders/create"),
    ]);
    let read = |h: &signatures::Headers, name: &str| {
        w.header(h, name)
            .map(|v| String::from_utf8(v.to_vec()).unwrap())
    };
    let id = "X-Shopify-Webhook-Id";
    assert_eq!(read(&legacy, id).as_deref(), Some("wh-1"));
    assert_eq!(read(&newer, id).as_deref(), Some("wh-2"));
    assert_eq!(read(&id_only_event, id).as_deref(), Some("ev-3"));
    assert_eq!(
        read(&newer, "X-Shopify-Topic").as_deref(),
        Some("products/update")
    );
    assert_eq!(
        read(&newer, "X-Shopify-Shop-Domain").as_deref(),
        Some("acme.myshopify.com")
    );
    // The `X-` name wins when both are sent, whatever their order.
    assert_eq!(
        read(&both, "X-Shopify-Topic").as_deref(),
        Some("orders/create")
    );
    assert_eq!(read(&shopify_headers(&[]), id), None);
    // Only Shopify declares alternatives so far; others read their one name.
    for p in cat().list() {
        if let Some(w) = &p.webhooks {
            assert_eq!(
                w.header_alternatives.is_empty(),
                p.id != "shopify",
                "{}",
                p.id
            );
        }
    }
}

#[test]
fn header_alternatives_rules() {
    let w = |body: &str| {
        format!(
            "{BASE}[webhooks]\nevent_id = {{ header = \"X-Acme-Id\" }}\nevent_type = {{ pointer = \"/type\" }}\nrouting = {{ event = {{ header = \"X-Acme-Account\" }}, connection = {{ connection = \"a\" }} }}\n[webhooks.header_alternatives]\n{body}\n"
        )
    };
    let ok = parse(&w(
        "\"X-Acme-Id\" = [\"Acme-Id\", \"Acme-Delivery\"]\n\"x-acme-account\" = [\"Acme-Account\"]",
    ))
    .unwrap();
    let hooks = ok.webhooks.as_ref().unwrap();
    assert_eq!(
        hooks.header_names("x-acme-id").collect::<Vec<_>>(),
        ["x-acme-id", "Acme-Id", "Acme-Delivery"]
    );
    assert_eq!(
        hooks.header_names("X-Acme-Account").collect::<Vec<_>>(),
        ["X-Acme-Account", "Acme-Account"]
    );
    // It survives a round trip, and is left out when empty.
    let text = toml::to_string(&ok).unwrap();
    assert_eq!(Provider::from_toml("acme", &text, false).unwrap(), ok);
    assert!(
        !toml::to_string(&parse(&format!("{BASE}[webhooks]\nscheme = \"github\"\n")).unwrap())
            .unwrap()
            .contains("header_alternatives")
    );

    // The key must be a header some location reads (not a pointer, not a stray name).
    fails(
        &w("\"X-Other\" = [\"Other\"]"),
        &["webhooks.header_alternatives.X-Other", "names no header"],
    );
    fails(
        &w("\"/type\" = [\"Type\"]"),
        &[
            "webhooks.header_alternatives./type",
            "not an HTTP header name",
        ],
    );
    fails(
        &w("\"X-Acme-Id\" = []"),
        &["webhooks.header_alternatives.X-Acme-Id", "is empty"],
    );
    fails(
        &w("\"X-Acme-Id\" = [\"Bad Header\"]"),
        &["webhooks.header_alternatives.X-Acme-Id", "Bad Header"],
    );
    fails(
        &w("\"X-Acme-Id\" = [\"x-acme-id\"]"),
        &["webhooks.header_alternatives.X-Acme-Id", "repeats"],
    );
    fails(
        &w("\"X-Acme-Id\" = [\"Acme-Id\", \"ACME-ID\"]"),
        &["webhooks.header_alternatives.X-Acme-Id", "repeats"],
    );
    fails(
        &w("\"X-Acme-Id\" = [\"A\"]\n\"x-acme-id\" = [\"B\"]"),
        &["header_alternatives", "listed twice"],
    );
    fails(&w("\"X-Acme-Id\" = \"Acme-Id\""), &["expected a sequence"]);
}

#[test]
fn signed_grant_modes_need_their_tables() {
    let bad = |text: &str, key: &str| {
        let e = Provider::from_toml("x", text, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains(key), "{text}: {e}");
    };
    let head = "id = \"x\"\nname = \"X\"\ndocs_url = \"https://x.example/docs\"\n";
    bad(
        &format!("{head}auth_mode = \"github_app\"\napi_base_url = \"https://api.x.example\"\n"),
        "github_app",
    );
    bad(
        &format!(
            "{head}auth_mode = \"github_app\"\n[github_app]\ninstall_url = \"https://x.example/apps/{{app_slug}}/installations/new\"\n"
        ),
        "github_app",
    );
    bad(
        &format!(
            "{head}auth_mode = \"jwt_bearer\"\n[oauth2]\ntoken_url = \"https://x.example/token\"\n"
        ),
        "jwt_bearer",
    );
    bad(
        &format!("{head}auth_mode = \"jwt_bearer\"\n[jwt_bearer]\n"),
        "jwt_bearer",
    );
    bad(
        &format!(
            "{head}auth_mode = \"jwt_bearer\"\n[oauth2]\ntoken_url = \"https://x.example/token\"\n[jwt_bearer]\nassertion_lifetime_secs = 7200\n"
        ),
        "assertion_lifetime_secs",
    );
    bad(
        &format!(
            "{head}auth_mode = \"oauth2\"\n[oauth2]\nauthorization_url = \"https://x.example/a\"\ntoken_url = \"https://x.example/token\"\n[jwt_bearer]\n"
        ),
        "jwt_bearer",
    );
    bad(
        &format!(
            "{head}auth_mode = \"github_app\"\napi_base_url = \"https://api.x.example\"\n[github_app]\ninstall_url = \"http://x.example/apps/{{app_slug}}/installations/new\"\n"
        ),
        "install_url",
    );
    let ok = Provider::from_toml(
        "x",
        &format!("{head}auth_mode = \"jwt_bearer\"\n[oauth2]\ntoken_url = \"https://x.example/token\"\n[jwt_bearer]\naudience = \"token_host\"\nsubject = \"required\"\n"),
        false,
    )
    .unwrap();
    let j = ok.jwt_bearer.unwrap();
    assert_eq!(j.audience, crate::JwtAudience::TokenHost);
    assert_eq!(j.scopes, crate::JwtScopes::Claim);
    assert_eq!(j.assertion_lifetime_secs, 300);
    assert!(
        AuthMode::JwtBearer.renews_tokens() && AuthMode::GithubApp.renews_without_refresh_token()
    );
    assert!(!AuthMode::ApiKey.renews_tokens());
    for m in [
        "oauth2",
        "api_key",
        "basic",
        "client_credentials",
        "webhook_only",
        "github_app",
        "jwt_bearer",
    ] {
        assert_eq!(AuthMode::from_name(m).unwrap().name(), m);
    }
    assert_eq!(AuthMode::from_name("nope"), None);
}

#[test]
fn custom_github_apps_need_an_install_url() {
    let e = custom(
        "id = \"ghe\"\nauth_mode = \"github_app\"\napi_base_url = \"https://ghe.example/api/v3\"\n",
    )
    .to_provider_explicit(false)
    .unwrap_err()
    .to_string();
    assert!(e.contains("install_url"), "{e}");
    let p = custom("id = \"ghe\"\nauth_mode = \"github_app\"\napi_base_url = \"https://ghe.example/api/v3\"\ninstall_url = \"https://ghe.example/github-apps/{app_slug}/installations/new\"\ndocs_url = \"https://ghe.example/docs\"\n")
        .to_provider_explicit(false)
        .unwrap();
    assert_eq!(p.auth_mode, AuthMode::GithubApp);
    assert!(p.oauth2.is_none());
    let e = custom("id = \"acme\"\ntoken_url = \"https://acme.example/token\"\ninstall_url = \"https://acme.example/i\"\n")
        .to_provider_explicit(false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("install_url"), "{e}");
}

// ---------------------------------------------------------------- fetched webhook keys

const HOOKS: &str = r#"
id = "acme"
name = "Acme"
docs_url = "https://docs.acme.example"
auth_mode = "webhook_only"

[placeholders.environment]
from = { integration = "environment" }
kind = "label"
allowed = ["sandbox", "production"]

[webhooks]
event_id = "none"
event_type = { join = ["/webhook_type", "/webhook_code"] }
"#;

#[test]
fn fetched_key_schemes_say_where_their_keys_are() {
    let plaid = format!(
        "{HOOKS}scheme = \"plaid\"\n[webhooks.keys]\nkey_url = \"https://{{environment}}.acme.example/key\"\n"
    );
    let p = parse(&plaid).unwrap();
    let keys = p.webhooks.as_ref().unwrap().keys.as_ref().unwrap();
    assert_eq!(
        keys.key_url.as_deref(),
        Some("https://{environment}.acme.example/key")
    );
    fails(
        &format!("{HOOKS}scheme = \"plaid\"\n"),
        &["webhooks.keys", "is missing"],
    );
    fails(
        &format!(
            "{HOOKS}scheme = \"plaid\"\n[webhooks.keys]\ncert_url_prefixes = [\"https://a.example/c/\"]\n"
        ),
        &["webhooks.keys.key_url", "is missing"],
    );
    fails(
        &format!(
            "{HOOKS}scheme = \"stripe\"\n[webhooks.keys]\nkey_url = \"https://a.example/k\"\n"
        ),
        &["webhooks.keys", "plaid, paypal"],
    );
    // A key URL is fetched from the provider's https host only.
    fails(
        &format!(
            "{HOOKS}scheme = \"plaid\"\n[webhooks.keys]\nkey_url = \"http://{{environment}}.acme.example/key\"\n"
        ),
        &["webhooks.keys.key_url"],
    );
    for bad in [
        "http://api.acme.example/certs/",
        "https://api.acme.example/certs",
        "https://api.acme.example/certs/?a=1",
        "https://user@api.acme.example/certs/",
        "https://api.acme.example/a/../certs/",
    ] {
        fails(
            &format!(
                "{HOOKS}scheme = \"paypal\"\n[webhooks.keys]\ncert_url_prefixes = [\"{bad}\"]\n"
            ),
            &["webhooks.keys.cert_url_prefixes[0]"],
        );
    }
    fails(
        &format!(
            "{HOOKS}scheme = \"paypal\"\n[webhooks.keys]\nsettings = [\"Webhook-Id\"]\ncert_url_prefixes = [\"https://a.example/c/\"]\n"
        ),
        &["webhooks.keys.settings[0]"],
    );
}

#[test]
fn a_certificate_url_must_be_a_pinned_prefix_and_one_plain_segment() {
    let keys = &p("paypal")
        .webhooks
        .as_ref()
        .unwrap()
        .keys
        .as_ref()
        .unwrap()
        .clone();
    let good =
        "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77";
    assert_eq!(keys.pinned_cert_url(good), Some(good));
    assert!(
        keys.pinned_cert_url("https://api.paypal.com/v1/notifications/certs/CERT-1")
            .is_some()
    );
    for bad in [
        "http://api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1",
        "https://api.paypal.com@evil.example/v1/notifications/certs/CERT-1",
        "https://evil.example/v1/notifications/certs/CERT-1",
        "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
        "https://api.paypal.com/v1/notifications/certs/",
        "https://api.paypal.com/v1/notifications/certs/..",
        "https://api.paypal.com/v1/notifications/certs/a/b",
        "https://api.paypal.com/v1/notifications/certs/a?b",
        "https://api.paypal.com/v1/notifications/certs/a#b",
        "https://api.paypal.com/v1/notifications/certs/%2e%2e",
        "https://api.paypal.com/v1/notifications/certs/a@evil.example",
        "https://api.paypal.com/v1/notifications/other/CERT-1",
        "HTTPS://API.PAYPAL.COM/v1/notifications/certs/CERT-1",
    ] {
        assert_eq!(keys.pinned_cert_url(bad), None, "{bad}");
    }
    let long = format!(
        "https://api.paypal.com/v1/notifications/certs/{}",
        "a".repeat(129)
    );
    assert_eq!(keys.pinned_cert_url(&long), None);
}

#[test]
fn a_joined_type_reads_every_pointer_or_nothing() {
    let plaid = p("plaid");
    let hooks = plaid.webhooks.as_ref().unwrap();
    let loc = hooks.event_type.as_ref().unwrap();
    let h = signatures::Headers::new();
    let json: serde_json::Value =
        serde_json::from_str(r#"{"webhook_type":"ITEM","webhook_code":"ERROR"}"#).unwrap();
    assert_eq!(
        hooks.read(loc, &h, Some(&json), b"").as_deref(),
        Some("ITEM.ERROR")
    );
    let half: serde_json::Value = serde_json::from_str(r#"{"webhook_type":"ITEM"}"#).unwrap();
    assert_eq!(hooks.read(loc, &h, Some(&half), b""), None);
    fails(
        &HOOKS.replace(
            "event_type = { join = [\"/webhook_type\", \"/webhook_code\"] }",
            "event_type = { join = [\"/webhook_type\"] }",
        ),
        &["webhooks.event_type", "2 to 4"],
    );
    fails(
        &HOOKS.replace(
            "event_id = \"none\"",
            "event_id = { join = [\"/a\", \"/b\"] }",
        ),
        &["webhooks.event_id", "only event_type"],
    );
}

#[test]
fn a_custom_provider_may_describe_its_webhooks_in_full() {
    let c = custom(
        r#"
        id = "acme-plaid"
        auth_mode = "webhook_only"
        docs_url = "https://docs.acme.example"
        [placeholders.environment]
        from = { integration = "environment" }
        kind = "segment"
        [webhooks]
        scheme = "plaid"
        event_id = "none"
        event_type = { join = ["/webhook_type", "/webhook_code"] }
        [webhooks.keys]
        key_url = "http://127.0.0.1:9/{environment}/webhook_verification_key/get"
        "#,
    );
    // http on loopback only under dev.
    assert!(c.to_provider_explicit(false).is_err());
    let p = c.to_provider_explicit(true).unwrap();
    assert_eq!(p.auth_mode, AuthMode::WebhookOnly);
    assert!(p.oauth2.is_none());
    assert_eq!(p.webhook_scheme(), Some(&Scheme::Plaid));
    let both = custom(
        r#"
        id = "acme"
        auth_mode = "webhook_only"
        docs_url = "https://docs.acme.example"
        webhook_scheme = "github"
        [webhooks]
        scheme = "github"
        "#,
    );
    assert!(
        both.to_provider_explicit(true)
            .unwrap_err()
            .to_string()
            .contains("webhook_scheme")
    );
    let none = custom(
        r#"
        id = "acme"
        auth_mode = "webhook_only"
        docs_url = "https://docs.acme.example"
        "#,
    );
    assert!(
        none.to_provider_explicit(true)
            .unwrap_err()
            .to_string()
            .contains("webhooks")
    );
}
