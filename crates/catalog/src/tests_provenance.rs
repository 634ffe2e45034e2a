//! Provenance of built-in entries: `verified`, `[sources]`, `[webhooks.sample]`.

use super::*;

/// A valid entry with every kind of section, to break one rule at a time.
const FULL: &str = r#"
id = "acme"
name = "Acme"
docs_url = "https://docs.acme.example"
auth_mode = "oauth2"
api_base_url = "https://api.acme.example"
verified = 2026-12-05

[sources]
oauth2 = "https://docs.acme.example/oauth"
api = "https://docs.acme.example/api"
rate_limit = "https://docs.acme.example/limits"
webhooks = "https://docs.acme.example/webhooks"

[oauth2]
authorization_url = "https://acme.example/authorize"
token_url = "https://acme.example/token"

[rate_limit]
remaining = "X-RateLimit-Remaining"

[webhooks]
scheme = "github"
event_id = { header = "X-Acme-Delivery" }
event_type = { pointer = "/type" }

[webhooks.sample]
headers = { "X-Acme-Delivery" = "{event_id}" }
body = '''{"type": "thing.created", "at": {timestamp}, "when": "{datetime}"}'''
"#;

fn parse(text: &str) -> Result<Provider, CatalogError> {
    let p = Provider::from_toml("acme", text, false)?;
    p.check_provenance()?;
    Ok(p)
}

fn fails(text: &str, needles: &[&str]) {
    let msg = parse(text).expect_err(text).to_string();
    for n in needles {
        assert!(msg.contains(n), "{msg:?} lacks {n:?}");
    }
}

#[test]
fn every_builtin_entry_has_its_provenance() {
    // All gaps at once, so that a new entry's author sees the whole list.
    let mut gaps = Vec::new();
    for (id, text) in EMBEDDED {
        match Provider::from_toml(id, text, false).and_then(|p| p.check_provenance()) {
            Ok(()) => {}
            Err(e) => gaps.push(e.to_string()),
        }
    }
    assert!(gaps.is_empty(), "{}", gaps.join("\n"));
    for p in Catalog::builtin().list() {
        assert!(p.verified.is_some(), "{}", p.id);
        if let Some(w) = &p.webhooks {
            let s = w.sample.as_ref().expect("sample");
            // The sample reads back the id it was given (or a digest of the body).
            let r = s.render("123456789", 1_765_000_000);
            let mut h = signatures::Headers::new();
            for (n, v) in &r.headers {
                h.append(n, v);
            }
            let json: Option<serde_json::Value> = serde_json::from_slice(&r.body).ok();
            let ty = w.read(w.event_type.as_ref().unwrap(), &h, json.as_ref(), &r.body);
            assert!(ty.is_some(), "{}: no event type", p.id);
            match w.event_id.as_ref().unwrap() {
                Location::None | Location::BodySha256 => {}
                loc => {
                    let id = w.read(loc, &h, json.as_ref(), &r.body).unwrap();
                    assert!(id.contains("123456789"), "{}: id {id:?}", p.id);
                }
            }
        }
    }
}

#[test]
fn a_full_entry_is_valid() {
    let p = parse(FULL).unwrap();
    assert_eq!(p.verified.unwrap().to_string(), "2026-12-05");
    assert_eq!(
        p.sources.entries().first(),
        Some(&("oauth2", "https://docs.acme.example/oauth"))
    );
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["verified"], "2026-12-05");
    let again: Provider = serde_json::from_value(json).unwrap();
    assert_eq!(again, p);
}

#[test]
fn verified_is_required_and_a_plain_date() {
    fails(
        &FULL.replace("verified = 2026-12-05\n", ""),
        &["acme", "verified", "is missing"],
    );
    fails(
        &FULL.replace("2026-12-05", "2026-02-30"),
        &["acme", "date", "line 7"],
    );
    fails(
        &FULL.replace("2026-12-05", "2026-12-05T10:00:00Z"),
        &["verified", "plain date"],
    );
    fails(&FULL.replace("2026-12-05", "\"soon\""), &["verified"]);
    fails(&FULL.replace("2026-12-05", "20261205"), &["verified"]);
}

#[test]
fn every_present_section_needs_its_source() {
    for (line, key) in [
        (
            "oauth2 = \"https://docs.acme.example/oauth\"\n",
            "sources.oauth2",
        ),
        ("api = \"https://docs.acme.example/api\"\n", "sources.api"),
        (
            "rate_limit = \"https://docs.acme.example/limits\"\n",
            "sources.rate_limit",
        ),
        (
            "webhooks = \"https://docs.acme.example/webhooks\"\n",
            "sources.webhooks",
        ),
    ] {
        fails(&FULL.replace(line, ""), &[key, "is missing"]);
    }
    // A section that is absent needs no source.
    let no_limits = FULL
        .replace("rate_limit = \"https://docs.acme.example/limits\"\n", "")
        .replace("[rate_limit]\nremaining = \"X-RateLimit-Remaining\"\n", "");
    parse(&no_limits).unwrap();
}

#[test]
fn sources_are_a_fixed_list_of_https_links() {
    fails(
        &FULL.replace("[sources]\n", "[sources]\nblog = \"https://x.example\"\n"),
        &["blog"],
    );
    fails(
        &FULL.replace(
            "https://docs.acme.example/api",
            "http://docs.acme.example/api",
        ),
        &["sources.api"],
    );
    fails(
        &FULL.replace("https://docs.acme.example/api", "not a url"),
        &["sources.api"],
    );
    parse(&FULL.replace(
        "[sources]\n",
        "[sources]\nrevocation = \"https://docs.acme.example/revoke\"\nscopes = \"https://docs.acme.example/scopes\"\ntokens = \"https://docs.acme.example/t\"\napi_version = \"https://docs.acme.example/v\"\nsignature = \"https://docs.acme.example/s\"\nhandshake = \"https://docs.acme.example/h\"\nwebhook_sample = \"https://docs.acme.example/x\"\nenvironments = \"https://docs.acme.example/e\"\n",
    ))
    .unwrap();
}

#[test]
fn webhooks_need_a_sample_whose_id_and_type_read_back() {
    let no_sample = &FULL[..FULL.find("[webhooks.sample]").unwrap()];
    fails(no_sample, &["webhooks.sample", "is missing"]);
    // The type is not where the entry reads it.
    fails(
        &FULL.replace("\"type\": \"thing.created\"", "\"kind\": \"thing.created\""),
        &["webhooks.sample", "event_type"],
    );
    // The id header is not sent.
    fails(
        &FULL.replace("headers = { \"X-Acme-Delivery\" = \"{event_id}\" }\n", ""),
        &["webhooks.sample", "event_id"],
    );
    // The same id every time.
    fails(
        &FULL.replace(
            "\"X-Acme-Delivery\" = \"{event_id}\"",
            "\"X-Acme-Delivery\" = \"42\"",
        ),
        &["webhooks.sample", "same event id"],
    );
    // No rule for the id or the type.
    fails(
        &FULL.replace("event_id = { header = \"X-Acme-Delivery\" }\n", ""),
        &["webhooks.event_id", "is missing"],
    );
    fails(
        &FULL.replace("event_type = { pointer = \"/type\" }\n", ""),
        &["webhooks.event_type", "is missing"],
    );
}

#[test]
fn sample_bodies_and_headers_are_checked() {
    fails(
        &FULL.replace(
            "body = '''{\"type\": \"thing.created\", \"at\": {timestamp}, \"when\": \"{datetime}\"}'''",
            "body = '''{\"type\": '''",
        ),
        &["webhooks.sample.body", "not JSON"],
    );
    fails(
        &FULL.replace(
            "\"X-Acme-Delivery\" = \"{event_id}\"",
            "\"X Acme\" = \"{event_id}\"",
        ),
        &["webhooks.sample.headers"],
    );
    fails(
        &FULL.replace(
            "\"X-Acme-Delivery\" = \"{event_id}\"",
            "\"X-Acme-Delivery\" = \"{event_id}\", \"Content-Type\" = \"text/plain\"",
        ),
        &["content_type"],
    );
    fails(
        &FULL.replace(
            "\"X-Acme-Delivery\" = \"{event_id}\"",
            "\"X-Acme-Delivery\" = \"a\\nb{event_id}\"",
        ),
        &["control character"],
    );
    fails(
        &format!("{FULL}content_type = \"text/xml\"\n"),
        &["webhooks.sample.content_type"],
    );
    fails(&format!("{FULL}signature = \"abc\"\n"), &["signature"]);
    // A form body with its content type.
    let form = FULL
        .replace(
            "body = '''{\"type\": \"thing.created\", \"at\": {timestamp}, \"when\": \"{datetime}\"}'''",
            "body = '''type=thing.created&at={timestamp}'''\ncontent_type = \"application/x-www-form-urlencoded\"",
        );
    let p = parse(&form).unwrap();
    assert!(p.webhooks.unwrap().sample.unwrap().is_form());
    // A sample without [webhooks] is an unknown key of the entry.
    fails(
        "id = \"acme\"\nname = \"A\"\ndocs_url = \"https://a.example\"\nauth_mode = \"api_key\"\n[sample]\nbody = \"{}\"\n",
        &["sample"],
    );
}

#[test]
fn fixed_values_and_digests_only_where_they_fit() {
    parse(&FULL.replace(
        "event_type = { pointer = \"/type\" }",
        "event_type = { value = \"thing\" }",
    ))
    .unwrap();
    fails(
        &FULL.replace(
            "event_id = { header = \"X-Acme-Delivery\" }",
            "event_id = { value = \"same\" }",
        ),
        &["webhooks.event_id", "fixed value"],
    );
    fails(
        &FULL.replace(
            "event_type = { pointer = \"/type\" }",
            "event_type = \"body_sha256\"",
        ),
        &["webhooks.event_type", "body_sha256"],
    );
    fails(
        &FULL.replace(
            "event_type = { pointer = \"/type\" }",
            "event_type = { value = \" \" }",
        ),
        &["webhooks.event_type"],
    );
    // A digest follows the body: {timestamp} in the body makes each sample new.
    parse(&FULL.replace(
        "event_id = { header = \"X-Acme-Delivery\" }",
        "event_id = \"body_sha256\"",
    ))
    .unwrap();
    parse(&FULL.replace(
        "event_id = { header = \"X-Acme-Delivery\" }",
        "event_id = \"none\"",
    ))
    .unwrap();
}

#[test]
fn samples_render_their_placeholders() {
    let s = WebhookSample {
        headers: [("X-Id".to_owned(), "{event_id}".to_owned())].into(),
        body: r#"{"id": {event_id}, "at": {timestamp}, "when": "{datetime}", "x": {"y": 1}}"#
            .to_owned(),
        content_type: None,
    };
    let r = s.render("42", 1_765_000_920);
    assert_eq!(r.headers, vec![("X-Id".to_owned(), "42".to_owned())]);
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        r#"{"id": 42, "at": 1765000920, "when": "2025-12-06T06:02:00Z", "x": {"y": 1}}"#
    );
    assert_eq!(r.content_type, "application/json");
    for (unix, text) in [
        (0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_798_761_599, "2026-12-31T23:59:59Z"),
    ] {
        let s = WebhookSample {
            headers: Default::default(),
            body: "{datetime}".to_owned(),
            content_type: None,
        };
        assert_eq!(s.render("1", unix).body, text.as_bytes(), "{unix}");
    }
}

#[test]
fn calendar_dates() {
    assert_eq!(
        CalendarDate::parse("2024-02-29").unwrap().to_string(),
        "2024-02-29"
    );
    for bad in [
        "2023-02-29",
        "2026-13-01",
        "2026-00-10",
        "2026-1-01",
        "+026-01-01",
        "1969-12-31",
    ] {
        assert!(CalendarDate::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn custom_providers_need_no_provenance() {
    let c: CustomProvider = toml::from_str(
        "id = \"corp\"\nauthorization_url = \"https://corp.example/a\"\ntoken_url = \"https://corp.example/t\"\n",
    )
    .unwrap();
    let p = c.to_provider_explicit(false).unwrap();
    assert!(p.verified.is_none() && p.sources.is_empty());
}

// ---------------------------------------------------------------- environments

fn resolve(id: &str, template: &str, settings: &[(&str, &str)]) -> Result<String, CatalogError> {
    let p = Catalog::builtin().require(id).unwrap();
    let values = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    p.resolve_url(template, &values)
}

#[test]
fn environments_and_regions_are_integration_settings() {
    let sf = Catalog::builtin().require("salesforce").unwrap();
    let auth = sf.authorization_url().unwrap();
    let token = sf.token_url().unwrap();
    assert_eq!(
        resolve("salesforce", auth, &[]).unwrap(),
        "https://login.salesforce.com/services/oauth2/authorize"
    );
    assert_eq!(
        resolve(
            "salesforce",
            token,
            &[("login_host", "test.salesforce.com")]
        )
        .unwrap(),
        "https://test.salesforce.com/services/oauth2/token"
    );
    assert_eq!(
        resolve(
            "salesforce",
            auth,
            &[("login_host", "acme--dev.sandbox.my.salesforce.com")]
        )
        .unwrap(),
        "https://acme--dev.sandbox.my.salesforce.com/services/oauth2/authorize"
    );
    let issuer = sf.oauth2.as_ref().unwrap().issuer.as_deref().unwrap();
    assert_eq!(
        resolve(
            "salesforce",
            issuer,
            &[("login_host", "test.salesforce.com")]
        )
        .unwrap(),
        "https://test.salesforce.com"
    );

    let qb = Catalog::builtin().require("quickbooks").unwrap();
    let api = qb.api_base_url.as_deref().unwrap();
    assert_eq!(
        resolve("quickbooks", api, &[("realm_id", "4620816365")]).unwrap(),
        "https://quickbooks.api.intuit.com/v3/company/4620816365"
    );
    assert_eq!(
        resolve(
            "quickbooks",
            api,
            &[
                ("realm_id", "4620816365"),
                ("api_host", "sandbox-quickbooks.api.intuit.com")
            ]
        )
        .unwrap(),
        "https://sandbox-quickbooks.api.intuit.com/v3/company/4620816365"
    );

    let ds = Catalog::builtin().require("docusign").unwrap();
    assert_eq!(
        resolve(
            "docusign",
            ds.token_url().unwrap(),
            &[("account_host", "account-d.docusign.com")]
        )
        .unwrap(),
        "https://account-d.docusign.com/oauth/token"
    );
    assert_eq!(
        resolve("docusign", ds.authorization_url().unwrap(), &[]).unwrap(),
        "https://account.docusign.com/oauth/auth"
    );
    assert_eq!(
        resolve(
            "docusign",
            ds.api_base_url.as_deref().unwrap(),
            &[("base_uri", "https://demo.docusign.net")]
        )
        .unwrap(),
        "https://demo.docusign.net/restapi"
    );

    let ic = Catalog::builtin().require("intercom").unwrap();
    let api = ic.api_base_url.as_deref().unwrap();
    for (host, want) in [
        (None, "https://api.intercom.io"),
        (Some("api.eu.intercom.io"), "https://api.eu.intercom.io"),
        (Some("API.AU.intercom.io"), "https://api.au.intercom.io"),
    ] {
        let settings: Vec<(&str, &str)> = host.map(|h| ("api_host", h)).into_iter().collect();
        assert_eq!(resolve("intercom", api, &settings).unwrap(), want);
    }
}

#[test]
fn environment_settings_refuse_other_values() {
    let qb = Catalog::builtin().require("quickbooks").unwrap();
    let api = qb.api_base_url.as_deref().unwrap();
    for bad in [
        "evil.example",
        "evil.intuit.com",
        "quickbooks.api.intuit.com.evil.example",
    ] {
        let e = resolve("quickbooks", api, &[("realm_id", "1"), ("api_host", bad)]).unwrap_err();
        assert!(e.to_string().contains("allowed values"), "{bad}: {e}");
    }
    let ic = Catalog::builtin().require("intercom").unwrap();
    assert!(
        resolve(
            "intercom",
            ic.api_base_url.as_deref().unwrap(),
            &[("api_host", "api.xx.intercom.io")]
        )
        .is_err()
    );
    let ds = Catalog::builtin().require("docusign").unwrap();
    assert!(
        resolve(
            "docusign",
            ds.token_url().unwrap(),
            &[("account_host", "account-x.docusign.com")]
        )
        .is_err()
    );
    // Salesforce takes any host under .salesforce.com (My Domain), nothing else.
    let sf = Catalog::builtin().require("salesforce").unwrap();
    for bad in [
        "login.salesforce.com.evil.example",
        "evil.example",
        "salesforce.com@evil.example",
    ] {
        assert!(
            resolve(
                "salesforce",
                sf.token_url().unwrap(),
                &[("login_host", bad)]
            )
            .is_err(),
            "{bad}"
        );
    }
}

#[test]
fn allowed_values_are_checked_in_the_file() {
    let base = "id = \"acme\"\nname = \"A\"\ndocs_url = \"https://a.example\"\nauth_mode = \"api_key\"\napi_base_url = \"https://{host}/v1\"\n[api_key]\nheader = \"X-Key\"\n[placeholders.host]\nfrom = { integration = \"host\" }\nkind = \"host\"\n";
    Provider::from_toml(
        "acme",
        &format!("{base}allowed = [\"api.a.example\", \"eu.a.example\"]\n"),
        false,
    )
    .unwrap();
    let e = Provider::from_toml(
        "acme",
        &format!("{base}allowed = [\"not a host\"]\n"),
        false,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("placeholders.host.allowed[0]"),
        "{e}"
    );
    let e = Provider::from_toml(
        "acme",
        &format!("{base}allowed = [\"api.a.example\"]\ndefault = \"eu.a.example\"\n"),
        false,
    )
    .unwrap_err();
    assert!(e.to_string().contains("placeholders.host.default"), "{e}");
}
