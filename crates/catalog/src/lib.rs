//! The provider catalog: what Switchboard knows about each external service.
//!
//! One TOML file per provider lives in `crates/catalog/providers/<id>.toml` and is
//! embedded in the binary at compile time; [`Catalog::builtin`] parses and validates
//! them once. The crate is pure: no I/O at run time.
//!
//! ```
//! use std::collections::BTreeMap;
//!
//! let catalog = catalog::Catalog::builtin();
//! let shopify = catalog.get("shopify").unwrap();
//! let values = BTreeMap::from([("shop".to_owned(), "acme".to_owned())]);
//! let url = shopify.resolve_url(shopify.authorization_url().unwrap(), &values).unwrap();
//! assert_eq!(url, "https://acme.myshopify.com/admin/oauth/authorize");
//! assert!(shopify.resolve_url(shopify.authorization_url().unwrap(),
//!     &BTreeMap::from([("shop".to_owned(), "evil.com/".to_owned())])).is_err());
//! ```

#![deny(missing_docs)]

mod custom;
mod error;
mod model;
mod pointer;
mod scopes;
mod template;
mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_expressible;
#[cfg(test)]
mod tests_provenance;

use std::collections::BTreeMap;
use std::sync::OnceLock;

pub use crate::custom::{CustomProvider, DiscoveryDocument};
pub use crate::error::CatalogError;
pub use crate::model::{
    ApiKey, AuthMode, Basic, BodyFormat, CLIENT_ID_PARAM, CalendarDate, ClientAuth, Expiry,
    FORM_CONTENT_TYPE, GithubApp, Handshake, HttpMethod, JwtAudience, JwtBearer, JwtScopes,
    JwtSubject, Location, OAuth2, Placeholder, Provider, RateLimit, RefreshTokens, RenderedSample,
    ResetFormat, Revocation, RevokeClientAuth, RevokeToken, Routing, SAMPLE_DATETIME,
    SAMPLE_EVENT_ID, SAMPLE_TIMESTAMP, Sources, TokenPlacement, TokenResponse, ValueKind,
    ValueSource, VerifyRequest, WebhookKeys, WebhookSample, Webhooks,
};
pub use crate::pointer::select as select_pointer;
pub use crate::scopes::{
    SCOPES_FILE, ScopeWords, described_providers, parse_scope_words, scope_description,
};
pub use crate::template::{TOKEN_PLACEHOLDER, resolve_text, resolve_url, resolve_url_with};
pub use crate::validate::is_valid_id;
pub use signatures::Scheme;

macro_rules! embedded {
    ($($id:literal),* $(,)?) => {
        /// Every embedded provider file: (id, TOML text).
        pub const EMBEDDED: &[(&str, &str)] = &[
            $(($id, include_str!(concat!("../providers/", $id, ".toml")))),*
        ];
    };
}

embedded![
    "activecampaign",
    "aircall",
    "airtable",
    "amplitude",
    "asana",
    "ashby",
    "atlassian",
    "attio",
    "auth0",
    "bamboohr",
    "basecamp",
    "bigcommerce",
    "bitbucket",
    "box",
    "brevo",
    "brex",
    "buildkite",
    "cal-com",
    "calendly",
    "canva",
    "chargebee",
    "circleci",
    "clerk",
    "clickup",
    "close",
    "coda",
    "cognito",
    "coinbase",
    "constant-contact",
    "copper",
    "customer-io",
    "datadog",
    "deel",
    "dialpad",
    "digitalocean",
    "discord",
    "docusign",
    "docusign-jwt",
    "dropbox",
    "ebay",
    "etsy",
    "figma",
    "freshbooks",
    "freshdesk",
    "front",
    "fusionauth",
    "generic-hmac",
    "github",
    "github-app",
    "gitlab",
    "google",
    "google-service-account",
    "gorgias",
    "greenhouse",
    "gusto",
    "helpscout",
    "heroku",
    "hibob",
    "hubspot",
    "intercom",
    "jumpcloud",
    "keycloak",
    "klaviyo",
    "lemon-squeezy",
    "linear",
    "linkedin",
    "mailchimp",
    "mailgun",
    "mattermost",
    "meta",
    "microsoft",
    "miro",
    "mixpanel",
    "mollie",
    "monday",
    "netlify",
    "netsuite",
    "new-relic",
    "notion",
    "okta",
    "okta-org",
    "onelogin",
    "outreach",
    "paddle",
    "pagerduty",
    "paypal",
    "personio",
    "pingone",
    "pinterest",
    "pipedrive",
    "plaid",
    "postmark",
    "productboard",
    "quickbooks",
    "ramp",
    "recurly",
    "reddit",
    "resend",
    "ringcentral",
    "sage-accounting",
    "salesforce",
    "salesforce-jwt",
    "salesloft",
    "segment",
    "sendgrid",
    "sentry",
    "servicenow",
    "shopify",
    "shortcut",
    "slack",
    "smartrecruiters",
    "smartsheet",
    "spotify",
    "square",
    "standard-webhooks",
    "strava",
    "stripe",
    "svix",
    "tiktok",
    "todoist",
    "trello",
    "twilio",
    "twitch",
    "typeform",
    "vercel",
    "vonage",
    "webex",
    "webflow",
    "wix",
    "woocommerce",
    "workable",
    "workos",
    "x",
    "xero",
    "zendesk",
    "zoho-crm",
    "zoho-desk",
    "zoom",
];

impl Provider {
    /// Parses a provider file. `file_id` is the file name without `.toml`; the `id` key
    /// must equal it. The result is validated (`dev` also allows `http://` loopback URLs).
    pub fn from_toml(file_id: &str, text: &str, dev: bool) -> Result<Self, CatalogError> {
        let p: Provider = toml::from_str(text).map_err(|e| CatalogError::Parse {
            provider: file_id.to_owned(),
            message: e.message().to_owned()
                + &e.span()
                    .map(|s| format!(" (at line {})", line_of(text, s.start)))
                    .unwrap_or_default(),
        })?;
        if p.id != file_id {
            return Err(CatalogError::invalid(
                file_id,
                "id",
                format!(
                    "is {:?} but the file is {file_id}.toml; make them equal",
                    p.id
                ),
            ));
        }
        p.validate(dev)?;
        Ok(p)
    }

    /// Checks every rule of the file format (see the crate README); `dev` also allows
    /// `http://` URLs on loopback hosts (custom providers in tests).
    pub fn validate(&self, dev: bool) -> Result<(), CatalogError> {
        validate::validate(self, dev)
    }

    /// What a built-in entry must also have, beyond [`validate`](Self::validate): a
    /// `verified` date, a source for every section present, and a `[webhooks.sample]`
    /// from which the entry's own `event_id` and `event_type` rules read a value.
    /// Custom providers from the configuration are not held to this.
    pub fn check_provenance(&self) -> Result<(), CatalogError> {
        validate::provenance(self)
    }

    /// The authorization endpoint template, if any.
    pub fn authorization_url(&self) -> Option<&str> {
        self.oauth2.as_ref()?.authorization_url.as_deref()
    }

    /// The token endpoint template, if any.
    pub fn token_url(&self) -> Option<&str> {
        self.oauth2.as_ref().map(|o| o.token_url.as_str())
    }

    /// The webhook signature scheme, if the provider signs its webhooks.
    pub fn webhook_scheme(&self) -> Option<&Scheme> {
        self.webhooks.as_ref()?.scheme.as_ref()
    }

    /// Fills one of this provider's URL templates (see [`resolve_url`]).
    pub fn resolve_url(
        &self,
        template: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<String, CatalogError> {
        resolve_url(template, &self.placeholders, values)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A set of providers by id: the built-in ones, plus custom ones if added.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    providers: BTreeMap<String, Provider>,
}

impl Catalog {
    /// The embedded providers, parsed and validated once. The files are checked by the
    /// crate's tests, so this does not fail in a released build.
    pub fn builtin() -> &'static Catalog {
        static BUILTIN: OnceLock<Catalog> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            Self::parse_builtin().unwrap_or_else(|e| panic!("embedded provider catalog: {e}"))
        })
    }

    /// Parses and validates every embedded file.
    pub fn parse_builtin() -> Result<Catalog, CatalogError> {
        let mut c = Catalog::default();
        for (id, text) in EMBEDDED {
            let p = Provider::from_toml(id, text, false)?;
            p.check_provenance()?;
            c.insert(p)?;
        }
        Ok(c)
    }

    /// Adds a provider that is already validated; refuses a second one with the same id.
    pub fn insert(&mut self, provider: Provider) -> Result<(), CatalogError> {
        if self.providers.contains_key(&provider.id) {
            return Err(CatalogError::Duplicate(provider.id));
        }
        self.providers.insert(provider.id.clone(), provider);
        Ok(())
    }

    /// The provider of that id.
    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.providers.get(id)
    }

    /// The provider of that id, or an error saying how to find the known ones.
    pub fn require(&self, id: &str) -> Result<&Provider, CatalogError> {
        self.get(id)
            .ok_or_else(|| CatalogError::UnknownProvider(id.chars().take(64).collect()))
    }

    /// Every provider, sorted by id.
    pub fn list(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }

    /// How many providers there are.
    pub fn len(&self) -> usize {
        self.providers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }
}
