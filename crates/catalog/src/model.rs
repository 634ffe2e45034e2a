//! The provider file format as Rust types. Every struct refuses unknown keys.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use signatures::Scheme;

/// One external service: its endpoints, auth style, API, rate-limit headers and webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// Lowercase kebab-case id, equal to the file name (`github`).
    pub id: String,
    /// Display name (`GitHub`).
    pub name: String,
    /// The provider's developer documentation.
    pub docs_url: String,
    /// How end users (or the deployment) authenticate.
    pub auth_mode: AuthMode,
    /// Base URL of the provider's API (the proxy's target); may hold placeholders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Placeholders used by the URL templates, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub placeholders: BTreeMap<String, Placeholder>,
    /// OAuth2 endpoints and behaviour (`oauth2` and `client_credentials` modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2>,
    /// Where an API key goes (`api_key` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKey>,
    /// Basic-auth labels (`basic` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<Basic>,
    /// Headers every API call needs (`Notion-Version`, `X-GitHub-Api-Version`); a value
    /// may hold placeholders (Twitch `Client-Id = "{client_id}"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub api_headers: BTreeMap<String, String>,
    /// Query parameters every API call carries besides the credential; a value may hold
    /// placeholders (Trello `key = "{api_key}"`, the integration's key beside the user's
    /// token).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub api_query: BTreeMap<String, String>,
    /// A request that proves credentials work (made at connect time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifyRequest>,
    /// Rate-limit response headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Webhook signature scheme, event id, type, routing and handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Webhooks>,
    /// GitHub App installations (`github_app` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_app: Option<GithubApp>,
    /// The RFC 7523 JWT bearer grant's claims (`jwt_bearer` mode; the token endpoint is
    /// `oauth2.token_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_bearer: Option<JwtBearer>,
    /// When every fact of the entry was last checked against the provider's documentation
    /// (a TOML date, `verified = 2026-12-05`). Required of built-in entries; custom
    /// providers from the configuration have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<CalendarDate>,
    /// Where each group of facts comes from (the provider's own developer docs).
    /// Required of built-in entries for every section they have.
    #[serde(default, skip_serializing_if = "Sources::is_empty")]
    pub sources: Sources,
}

/// A calendar date (`2026-12-05`), written in files as a TOML local date and shown as
/// `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CalendarDate {
    /// Year (1970–9999).
    pub year: u16,
    /// Month (1–12).
    pub month: u8,
    /// Day of the month (1–31, checked against the month).
    pub day: u8,
}

impl CalendarDate {
    /// A valid date, or `None` (February 30th, month 13…).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        let leap =
            (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        ((1970..=9999).contains(&year) && (1..=days).contains(&day)).then_some(Self {
            year,
            month,
            day,
        })
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u16> {
            let s = &text[r];
            s.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| s.parse().ok())?
        };
        Self::new(
            num(0..4)?,
            u8::try_from(num(5..7)?).ok()?,
            u8::try_from(num(8..10)?).ok()?,
        )
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for CalendarDate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CalendarDate {
    /// A TOML local date (`2026-12-05`), or the same as a string (JSON); a date-time or
    /// an offset is refused.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DateVisitor)
    }
}

struct DateVisitor;

impl<'de> serde::de::Visitor<'de> for DateVisitor {
    type Value = CalendarDate;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date: verified = 2026-12-05")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<CalendarDate, E> {
        CalendarDate::parse(text).ok_or_else(|| {
            E::custom(format!(
                "{text:?} is not a date; write it as a TOML date: verified = 2026-12-05"
            ))
        })
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<CalendarDate, A::Error> {
        use serde::de::Error;
        let dt =
            toml::value::Datetime::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        if dt.time.is_some() || dt.offset.is_some() {
            return Err(A::Error::custom(format!(
                "{dt} is not a plain date; write the day only: verified = 2026-12-05"
            )));
        }
        self.visit_str(&dt.to_string())
    }
}

/// Where each group of an entry's facts comes from: https links to the provider's own
/// developer documentation. The keys are a fixed list; every other key is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    /// `[oauth2]`: endpoints, PKCE, client authentication, scopes, token response,
    /// revocation (required when `[oauth2]` is present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<String>,
    /// `api_base_url`, `api_headers`, `api_query`, `[api_key]`, `[basic]`, `[verify]`
    /// (required when any is present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// `[rate_limit]` (required when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    /// `[webhooks]`: scheme, event id and type, routing, handshake, sample (required when
    /// present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<String>,
    /// Revocation, when documented apart from the rest of OAuth2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<String>,
    /// Scopes, when documented apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
    /// Token lifetimes and refresh-token rotation, when documented apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<String>,
    /// The pinned API version (`api_headers`, a version in `api_base_url`) and its
    /// support window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The webhook signature scheme, when documented apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The webhook handshake, when documented apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<String>,
    /// The `[webhooks.sample]`, when taken from another page than `webhooks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_sample: Option<String>,
    /// Environments and regions (sandbox hosts, regional API hosts) in `[placeholders]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<String>,
}

impl Sources {
    /// Every key with its link, in file order.
    pub fn entries(&self) -> Vec<(&'static str, &str)> {
        [
            ("oauth2", &self.oauth2),
            ("api", &self.api),
            ("rate_limit", &self.rate_limit),
            ("webhooks", &self.webhooks),
            ("revocation", &self.revocation),
            ("scopes", &self.scopes),
            ("tokens", &self.tokens),
            ("api_version", &self.api_version),
            ("signature", &self.signature),
            ("handshake", &self.handshake),
            ("webhook_sample", &self.webhook_sample),
            ("environments", &self.environments),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }

    /// No source at all.
    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }
}

/// How credentials are obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// OAuth2 authorization code (with PKCE unless the provider breaks with it).
    Oauth2,
    /// A key the user pastes; see [`ApiKey`].
    ApiKey,
    /// HTTP basic authentication; see [`Basic`].
    Basic,
    /// OAuth2 client credentials: one app-level token.
    ClientCredentials,
    /// No credentials: the provider only sends webhooks.
    WebhookOnly,
    /// A GitHub App: an RS256 app JWT buys installation access tokens; a connection is
    /// one installation. See [`GithubApp`].
    GithubApp,
    /// The RFC 7523 JWT bearer grant (service accounts): a signed assertion buys an
    /// access token, no refresh token; or, with `exchange = false`, the signed JWT is
    /// itself the credential (Vonage). See [`JwtBearer`].
    JwtBearer,
}

impl AuthMode {
    /// The name used in files (`api_key`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Oauth2 => "oauth2",
            Self::ApiKey => "api_key",
            Self::Basic => "basic",
            Self::ClientCredentials => "client_credentials",
            Self::WebhookOnly => "webhook_only",
            Self::GithubApp => "github_app",
            Self::JwtBearer => "jwt_bearer",
        }
    }

    /// Whether connections of this mode hold an access token that Switchboard renews
    /// before it expires (by a refresh token, or by a new grant each time).
    pub fn renews_tokens(self) -> bool {
        matches!(
            self,
            Self::Oauth2 | Self::ClientCredentials | Self::GithubApp | Self::JwtBearer
        )
    }

    /// Whether the token is renewed by a new grant rather than by a refresh token
    /// (client credentials, a GitHub App installation, a JWT assertion).
    pub fn renews_without_refresh_token(self) -> bool {
        matches!(
            self,
            Self::ClientCredentials | Self::GithubApp | Self::JwtBearer
        )
    }

    /// The mode of a stored connection's `auth_mode` column.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Oauth2,
            Self::ApiKey,
            Self::Basic,
            Self::ClientCredentials,
            Self::WebhookOnly,
            Self::GithubApp,
            Self::JwtBearer,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }
}

/// How a GitHub App's installations are made and their tokens bought.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubApp {
    /// Where the user installs the app; `{app_slug}` is the integration's `app_slug`
    /// (`https://github.com/apps/{app_slug}/installations/new`).
    pub install_url: String,
    /// Where the `code` GitHub sends to the Setup URL (when the app requests user
    /// authorization during installation) is exchanged for a user access token, which
    /// proves the installation belongs to the user who came back. Default: the install
    /// URL's origin + `/login/oauth/access_token` (GitHub and GitHub Enterprise Server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
}

impl GithubApp {
    /// The user access token endpoint: [`GithubApp::token_url`], else the install URL's
    /// origin + `/login/oauth/access_token`.
    pub fn user_token_url(&self) -> Option<String> {
        if let Some(t) = &self.token_url {
            return Some(t.clone());
        }
        let sample = self.install_url.replace("{app_slug}", "app");
        let u = url::Url::parse(&sample).ok()?;
        Some(format!(
            "{}/login/oauth/access_token",
            u.origin().ascii_serialization()
        ))
    }
}

/// What a JWT bearer assertion (RFC 7523) holds beside `iss` (the integration's
/// `client_id`), `iat`, `exp` and `jti`, and whether it is traded for a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtBearer {
    /// Whether the signed JWT is traded at `oauth2.token_url` for an access token
    /// (RFC 7523, the default). `false`: there is no token endpoint; the JWT itself is
    /// the API credential (`Authorization: Bearer`), signed afresh before it expires
    /// (Vonage).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub exchange: bool,
    /// The claim that names the integration's `client_id`: `iss` (RFC 7523), or the
    /// provider's own (Vonage `application_id`).
    #[serde(default = "p_iss", skip_serializing_if = "is_iss")]
    pub issuer_claim: String,
    /// The `aud` claim: the token URL (Google), its origin (Salesforce's login URL) or
    /// its host (DocuSign's `account-d.docusign.com`); `none` without a token endpoint.
    #[serde(default)]
    pub audience: JwtAudience,
    /// Whether a connection names a `sub` (the user acted for): Salesforce's user name,
    /// DocuSign's user id, a Google Workspace user for domain-wide delegation.
    #[serde(default)]
    pub subject: JwtSubject,
    /// Where the requested scopes go: a `scope` claim (Google, DocuSign) or nowhere.
    #[serde(default)]
    pub scopes: JwtScopes,
    /// Lifetime of an assertion in seconds (at most 3600; default 300).
    #[serde(default = "assertion_secs")]
    pub assertion_lifetime_secs: u64,
}

fn assertion_secs() -> u64 {
    300
}

fn is_true(b: &bool) -> bool {
    *b
}

fn p_iss() -> String {
    "iss".to_owned()
}

fn is_iss(c: &str) -> bool {
    c == "iss"
}

/// The `aud` claim of a JWT bearer assertion, from the resolved token URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JwtAudience {
    /// The token URL itself.
    #[default]
    TokenUrl,
    /// `https://host` of the token URL.
    TokenOrigin,
    /// The host of the token URL.
    TokenHost,
    /// No `aud` claim: for a JWT that is not traded at a token endpoint
    /// (`exchange = false`).
    None,
}

/// Whether an assertion carries a subject.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JwtSubject {
    /// A connection may name one (setting `subject`).
    #[default]
    Optional,
    /// Every connection names one.
    Required,
    /// Never.
    None,
}

/// Where the scopes of a JWT bearer grant go.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JwtScopes {
    /// A `scope` claim, space-separated.
    #[default]
    Claim,
    /// Not sent (the connected app's policy decides).
    None,
}

impl fmt::Display for AuthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `{name}` in a URL template: where its value comes from and what shape it must have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placeholder {
    /// Where the value comes from.
    pub from: ValueSource,
    /// What the value must look like; decides how it is checked and encoded.
    pub kind: ValueKind,
    /// Used when the source has no value (Microsoft `tenant = "common"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// For `host` and `origin` values: the host must end with one of these
    /// (`.salesforce.com`); empty allows any host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_suffixes: Vec<String>,
    /// The only values taken, when not empty (environments and regions:
    /// `["api.intercom.io", "api.eu.intercom.io", "api.au.intercom.io"]`); compared
    /// case-insensitively for `label` and `host` kinds, exactly otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    /// A sentence for people (shown on the Connect page and by `providers show`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Where a value comes from. Written as a one-key table: `{ connection = "shop" }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ValueSource {
    /// A setting the end user (or app) gives when connecting (Shopify shop).
    Connection(String),
    /// A setting of the integration in `switchboard.toml` (Okta domain, client id).
    Integration(String),
    /// A JSON pointer into the token response (Salesforce `/instance_url`); a token
    /// `[name=value]` selects in an array (see [`crate::select_pointer`]).
    TokenResponse(String),
    /// A JSON pointer into the userinfo / metadata response (Mailchimp `/api_endpoint`,
    /// Basecamp `/accounts/[product=bc3]/id`).
    Userinfo(String),
    /// A query parameter of the OAuth2 callback (QuickBooks `realmId`).
    CallbackQuery(String),
}

impl ValueSource {
    /// `connection setting "shop"`, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Connection(k) => format!("connection setting {k:?}"),
            Self::Integration(k) => format!("integration setting {k:?}"),
            Self::TokenResponse(p) => format!("the token response at {p:?}"),
            Self::Userinfo(p) => format!("the userinfo response at {p:?}"),
            Self::CallbackQuery(q) => format!("the callback query parameter {q:?}"),
        }
    }

    /// Known before the user is sent to the provider (usable in the authorization URL).
    pub fn known_before_authorization(&self) -> bool {
        matches!(self, Self::Connection(_) | Self::Integration(_))
    }

    /// Known when the code is exchanged (usable in the token URL).
    pub fn known_at_token_exchange(&self) -> bool {
        self.known_before_authorization() || matches!(self, Self::CallbackQuery(_))
    }
}

/// The shape of a placeholder's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// One DNS label (`acme` in `acme.myshopify.com`); only in the host.
    Label,
    /// A DNS host name of two labels or more (`dev-1.okta.com`); only in the host.
    Host,
    /// An `https://host` origin; only at the very start of a template.
    Origin,
    /// One path segment or query value, percent-encoded (`common`, a tenant GUID).
    Segment,
}

/// OAuth2 endpoints and behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    /// Authorization endpoint (required in `oauth2` mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    /// Token endpoint.
    pub token_url: String,
    /// Endpoint for the `refresh_token` grant, when not the token endpoint (Figma).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_url: Option<String>,
    /// Userinfo (or "who am I") endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_url: Option<String>,
    /// How to revoke a grant; absent when the provider has no way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
    /// OpenID Connect issuer, when ID tokens are validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// JWKS of the ID-token signing keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    /// Scopes requested when the integration lists none.
    #[serde(default)]
    pub default_scopes: Vec<String>,
    /// Joins scopes in the `scope` parameter (a space unless the provider wants another).
    #[serde(default = "space")]
    pub scope_separator: String,
    /// Send a PKCE S256 challenge (on unless the provider breaks with it).
    #[serde(default = "yes")]
    pub pkce: bool,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// The name of the parameter that carries the client id: in the authorization URL,
    /// in token requests that send it in the body (`client_auth = "body"`) and in
    /// revocation requests (`body` or `client_id`). `client_id` unless the provider
    /// names it otherwise (TikTok `client_key`).
    #[serde(default = "p_client_id", skip_serializing_if = "is_client_id")]
    pub client_id_param: String,
    /// Extra authorization parameters (Google `access_type = "offline"`); values may hold
    /// placeholders known before the user is sent away.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub authorization_params: BTreeMap<String, String>,
    /// Extra token-request parameters (every grant: code exchange, refresh, client
    /// credentials); values may hold placeholders known at the code exchange (Wix
    /// `instance_id = "{instance_id}"`, a connection setting).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_params: BTreeMap<String, String>,
    /// Extra parameters of the authorization-code exchange only, not sent on refresh
    /// (Shopify `expiring = "1"`, which asks for an expiring offline token).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub code_params: BTreeMap<String, String>,
    /// Extra token-request headers (GitHub `Accept = "application/json"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub token_headers: BTreeMap<String, String>,
    /// How the token request body is encoded.
    #[serde(default)]
    pub token_request: BodyFormat,
    /// How the access token is sent to the API (default `Authorization: Bearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_auth: Option<ApiKey>,
    /// How the token response differs from RFC 6749.
    #[serde(default)]
    pub token_response: TokenResponse,
}

fn space() -> String {
    " ".to_owned()
}

/// The parameter name RFC 6749 gives the client id.
pub const CLIENT_ID_PARAM: &str = "client_id";

fn p_client_id() -> String {
    CLIENT_ID_PARAM.to_owned()
}

fn is_client_id(name: &str) -> bool {
    name == CLIENT_ID_PARAM
}

fn yes() -> bool {
    true
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded` (RFC 6749).
    #[default]
    Form,
    /// `application/json`.
    Json,
}

/// Token-endpoint client authentication.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Basic` with client id and secret (`client_secret_basic`).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Body,
}

/// Where the token response keeps things, when not where RFC 6749 puts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    /// JSON pointer of the access token (default `/access_token`; Slack user tokens:
    /// `/authed_user/access_token`).
    #[serde(default = "p_access")]
    pub access_token: String,
    /// JSON pointer of a second, user-level token (Slack `/authed_user/access_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_access_token: Option<String>,
    /// JSON pointer of the refresh token.
    #[serde(default = "p_refresh")]
    pub refresh_token: String,
    /// JSON pointer of the granted scopes.
    #[serde(default = "p_scope")]
    pub scope: String,
    /// Separator of the granted scopes, when it differs from the request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_separator: Option<String>,
    /// Whether and how the response says when the access token expires.
    #[serde(default)]
    pub expiry: Expiry,
    /// What a refresh does to the refresh token.
    #[serde(default)]
    pub refresh_tokens: RefreshTokens,
    /// JSON pointer of a boolean that is `false` on failure in a 200 response
    /// (Slack `/ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_flag: Option<String>,
}

impl Default for TokenResponse {
    fn default() -> Self {
        Self {
            access_token: p_access(),
            user_access_token: None,
            refresh_token: p_refresh(),
            scope: p_scope(),
            scope_separator: None,
            expiry: Expiry::default(),
            refresh_tokens: RefreshTokens::default(),
            ok_flag: None,
        }
    }
}

fn p_access() -> String {
    "/access_token".to_owned()
}
fn p_refresh() -> String {
    "/refresh_token".to_owned()
}
fn p_scope() -> String {
    "/scope".to_owned()
}

/// How the expiry of an access token is known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    /// `expires_in` seconds in the response (RFC 6749); a response without it is taken
    /// as a token that does not expire.
    #[default]
    ExpiresIn,
    /// Tokens do not expire; there is normally no `expires_in` (one that appears is
    /// honoured).
    Never,
    /// Tokens expire but the response does not say when: refresh on 401.
    Unknown,
}

/// What refreshing does to the refresh token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokens {
    /// The old refresh token stays valid (a response without one keeps it).
    #[default]
    Reused,
    /// Each refresh returns a new refresh token and invalidates the old one.
    Rotating,
    /// The provider issues no refresh tokens.
    None,
}

/// How to revoke at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// Endpoint; may hold placeholders, and `{token}` when `send = "path"`.
    pub url: String,
    /// HTTP method.
    #[serde(default)]
    pub method: HttpMethod,
    /// Which token to revoke.
    #[serde(default)]
    pub token: RevokeToken,
    /// Where the token goes.
    #[serde(default)]
    pub send: TokenPlacement,
    /// Parameter (form, query or JSON field) name for the token.
    #[serde(default = "p_token")]
    pub param: String,
    /// Send `token_type_hint` (RFC 7009).
    #[serde(default)]
    pub type_hint: bool,
    /// Client authentication (default: as at the token endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<RevokeClientAuth>,
}

fn p_token() -> String {
    "token".to_owned()
}

/// An HTTP method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET.
    Get,
    /// POST.
    #[default]
    Post,
    /// DELETE.
    Delete,
}

/// Which token a revocation sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeToken {
    /// The refresh token when there is one (revoking the grant), else the access token.
    #[default]
    RefreshFirst,
    /// The access token.
    Access,
    /// The refresh token only.
    Refresh,
}

/// Where the token goes in a revocation request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPlacement {
    /// Form body parameter `param` (RFC 7009).
    #[default]
    Form,
    /// JSON body field `param`.
    Json,
    /// Query parameter `param`.
    Query,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// In the URL path as `{token}`.
    Path,
    /// The way API calls send it (see `oauth2.api_auth`).
    ApiAuth,
}

/// Client authentication of a revocation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeClientAuth {
    /// HTTP basic with client id and secret.
    Basic,
    /// `client_id` and `client_secret` in the body.
    Body,
    /// Only `client_id` in the body.
    ClientId,
    /// None.
    None,
}

/// Where an API key goes. Exactly one of `header` and `query`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// Header name (`Authorization`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Text before the key in the header (`Bearer `).
    #[serde(default)]
    pub prefix: String,
    /// Query parameter name, for providers that take the key in the URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// What the provider calls the key (shown on the Connect page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// HTTP basic authentication.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Basic {
    /// A fixed user name (Mailgun `api`); absent when the user gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// What the provider calls the user name (`Account SID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_label: Option<String>,
    /// What the provider calls the password (`Auth token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_label: Option<String>,
}

/// A request that succeeds (2xx) only with valid credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// HTTP method.
    #[serde(default = "get")]
    pub method: HttpMethod,
    /// Path under `api_base_url`, starting with `/`.
    pub path: String,
    /// Scopes the request needs (OAuth2 providers): when a credential health check gets
    /// a 403, those of them the connection was not granted are reported as its
    /// `missing_scopes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

fn get() -> HttpMethod {
    HttpMethod::Get
}

/// Rate-limit response headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Header with the request quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// Header with the requests left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining: Option<String>,
    /// Header saying when the quota resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<String>,
    /// How `reset` is written.
    #[serde(default)]
    pub reset_format: ResetFormat,
}

/// How a rate-limit reset header is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetFormat {
    /// Unix time in seconds.
    UnixSeconds,
    /// Unix time in milliseconds.
    UnixMillis,
    /// Seconds from now.
    #[default]
    DeltaSeconds,
    /// Milliseconds from now.
    DeltaMillis,
    /// An RFC 3339 / ISO 8601 date-time.
    Rfc3339,
    /// An HTTP date.
    HttpDate,
}

/// What the webhook intake needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhooks {
    /// The signature scheme (a `signatures::Scheme` name or a `generic-hmac` table);
    /// absent when the provider does not sign.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "scheme_de"
    )]
    pub scheme: Option<Scheme>,
    /// The integration must configure `webhook_scheme` itself (generic entries).
    #[serde(default)]
    pub scheme_configurable: bool,
    /// Where the provider's event id is (for deduplication).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Location>,
    /// Where the event type is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<Location>,
    /// How an event is attached to a connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    /// A handshake the intake must answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handshake: Option<Handshake>,
    /// Other names a header read above (`event_id`, `event_type`, `routing.event`) may
    /// arrive under, tried in order when it is absent: Shopify's newer deliveries send
    /// `Shopify-Topic` for `X-Shopify-Topic`. Keyed by the name the location gives.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header_alternatives: BTreeMap<String, Vec<String>>,
    /// What `switchboard webhook test` sends for this provider, from a sample in its
    /// docs. Required of built-in entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<WebhookSample>,
    /// Where the verification keys of a scheme that fetches them (`plaid`, `paypal`)
    /// come from. Required with such a scheme, refused with any other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<WebhookKeys>,
}

/// Where a provider hands out the keys its webhooks are signed with. Each URL is data
/// here, so that the engine fetches from nowhere else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookKeys {
    /// The endpoint that hands out one key by id (Plaid's
    /// `/webhook_verification_key/get`: a `POST` of `{client_id, secret, key_id}` with
    /// the integration's `client_id` and `client_secret`). A template: its placeholders
    /// come from integration settings (Plaid's `environment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_url: Option<String>,
    /// The only places a signing certificate is fetched from (PayPal's
    /// `PAYPAL-CERT-URL`): each an `https://host/path/` prefix, and a request's URL must
    /// be one of them followed by one path segment of letters, digits, `-`, `_` and `.`
    /// (no query, no userinfo, no other port); anything else is refused before any fetch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cert_url_prefixes: Vec<String>,
    /// Integration settings the scheme signs or needs (PayPal's `webhook_id`), required
    /// of every integration of the provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
}

/// Longest certificate file name taken after a pinned prefix.
const MAX_CERT_NAME: usize = 128;

impl WebhookKeys {
    /// `url` when it is one of [`cert_url_prefixes`](Self::cert_url_prefixes) followed
    /// by one plain path segment; `None` otherwise (the sender named somewhere else).
    pub fn pinned_cert_url<'u>(&self, url: &'u str) -> Option<&'u str> {
        self.cert_url_prefixes.iter().find_map(|prefix| {
            let rest = url.strip_prefix(prefix.as_str())?;
            let plain = !rest.is_empty()
                && rest.len() <= MAX_CERT_NAME
                && rest != "."
                && rest != ".."
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            plain.then_some(url)
        })
    }
}

/// A sample webhook as the provider sends it. `{event_id}` (fresh per sample),
/// `{timestamp}` (unix seconds) and `{datetime}` (the same time as RFC 3339 UTC) are
/// substituted in header values and the body; no other text is touched (JSON braces stay
/// as they are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSample {
    /// Headers the provider sends besides its signature (the signature is made when the
    /// sample is sent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The body: JSON, unless `content_type` says it is a form.
    pub body: String,
    /// `application/x-www-form-urlencoded` for form bodies; absent for JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// The placeholder of a sample replaced by a fresh event id: decimal digits only, so
/// that it fits in a JSON string, a JSON number (HubSpot `eventId`) and a header alike.
pub const SAMPLE_EVENT_ID: &str = "{event_id}";
/// The placeholder of a sample replaced by the unix time in seconds.
pub const SAMPLE_TIMESTAMP: &str = "{timestamp}";
/// The placeholder of a sample replaced by the same time as RFC 3339 UTC
/// (`2026-12-05T23:02:00Z`), for providers that write dates that way.
pub const SAMPLE_DATETIME: &str = "{datetime}";

/// `2026-12-05T23:02:00Z` for unix seconds (proleptic Gregorian, UTC).
fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}
/// The content type of form bodies.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// A sample with its placeholders substituted, ready to sign and send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedSample {
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// `application/json` or the sample's own content type.
    pub content_type: String,
}

impl WebhookSample {
    /// The sample with `{event_id}` and `{timestamp}` substituted.
    pub fn render(&self, event_id: &str, timestamp: i64) -> RenderedSample {
        let ts = timestamp.to_string();
        let dt = rfc3339(timestamp);
        let fill = |t: &str| {
            t.replace(SAMPLE_EVENT_ID, event_id)
                .replace(SAMPLE_TIMESTAMP, &ts)
                .replace(SAMPLE_DATETIME, &dt)
        };
        RenderedSample {
            headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), fill(v)))
                .collect(),
            body: fill(&self.body).into_bytes(),
            content_type: self
                .content_type
                .clone()
                .unwrap_or_else(|| "application/json".to_owned()),
        }
    }

    /// Whether the body is a form (else JSON).
    pub fn is_form(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(FORM_CONTENT_TYPE))
    }
}

impl Webhooks {
    /// The names a header located at `name` may arrive under, in the order to try them:
    /// `name` itself, then its [`header_alternatives`](Self::header_alternatives) (names
    /// compare case-insensitively).
    pub fn header_names<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let alternatives = self
            .header_alternatives
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .unwrap_or_default();
        std::iter::once(name).chain(alternatives.iter().map(String::as_str))
    }

    /// The value of the header located at `name`: the first of its
    /// [names](Self::header_names) that the request carries.
    pub fn header<'h>(&self, headers: &'h signatures::Headers, name: &str) -> Option<&'h [u8]> {
        self.header_names(name).find_map(|n| headers.get(n))
    }

    /// Reads an id, type or routing key at `loc` in a request: a header (under its
    /// [names](Self::header_names)), a JSON pointer into the body (`json` is the parsed
    /// body; a top-level field for form bodies), a fixed value, or the body's SHA-256.
    /// Trimmed; `None` when absent, empty, or not a string or number.
    pub fn read(
        &self,
        loc: &Location,
        headers: &signatures::Headers,
        json: Option<&serde_json::Value>,
        body: &[u8],
    ) -> Option<String> {
        let raw = match loc {
            Location::Header(name) => std::str::from_utf8(self.header(headers, name)?)
                .ok()?
                .trim()
                .to_owned(),
            Location::Pointer(p) => match json {
                Some(v) => match crate::pointer::select(v, p)? {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    _ => return None,
                },
                None => {
                    let field = p.trim_start_matches('/');
                    signatures::parse_urlencoded(body)
                        .into_iter()
                        .find(|(k, _)| k == field)
                        .map(|(_, v)| v)?
                }
            },
            Location::Value(v) => v.clone(),
            Location::Join(pointers) => {
                let parts: Option<Vec<String>> = pointers
                    .iter()
                    .map(|p| self.read(&Location::Pointer(p.clone()), headers, json, body))
                    .collect();
                parts?.join(".")
            }
            Location::None => return None,
            Location::BodySha256 => {
                use sha2::Digest;
                format!("sha256:{}", hex::encode(sha2::Sha256::digest(body)))
            }
        };
        (!raw.is_empty()).then_some(raw)
    }
}

/// Reads a scheme by name (aliases too) or as a `{ generic-hmac = { … } }` table, with
/// messages that say what to write.
fn scheme_de<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Scheme>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(name) if name == "generic-hmac" => Err(D::Error::custom(
            "webhook scheme `generic-hmac` needs its settings: scheme = { generic-hmac = { header = \"X-Signature\" } }",
        )),
        serde_json::Value::String(name) => name.parse().map(Some).map_err(|e| {
            D::Error::custom(format!(
                "{e}; use one of the names in crates/signatures/README.md"
            ))
        }),
        other => serde_json::from_value(other)
            .map(Some)
            .map_err(|e| D::Error::custom(format!("webhook scheme: {e}"))),
    }
}

/// A place in a webhook request. Written as a one-key table: `{ header = "X-GitHub-Event" }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Location {
    /// A request header.
    Header(String),
    /// A JSON pointer into the body (`/data/id`); for form bodies, a top-level field.
    Pointer(String),
    /// A fixed value, for an `event_type` of a provider that sends one kind of
    /// notification (Dropbox `{ value = "list_folder" }`). Not for ids.
    Value(String),
    /// The values at several JSON pointers joined with `.`, for a provider whose event
    /// type comes in two fields (Plaid `{ join = ["/webhook_type", "/webhook_code"] }`
    /// reads `TRANSACTIONS.SYNC_UPDATES_AVAILABLE`); absent when any one is. Only for
    /// types.
    Join(Vec<String>),
    /// `event_id = "none"`: the provider sends no id and two deliveries may carry the
    /// same body for different changes (Dropbox, Microsoft Graph), so nothing may be
    /// deduplicated; every delivery is stored. Not for types or routing.
    None,
    /// `event_id = "body_sha256"`: the hex SHA-256 of the body, for a provider whose
    /// deliveries carry no id but whose bodies differ from one event to the next (a
    /// timestamp in each); a redelivery of the same body is then a duplicate. Not for
    /// types or routing.
    BodySha256,
}

/// Attaches an event to the connection whose value matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// Where the key is in the event (Slack `/team_id`).
    pub event: Location,
    /// Where the connection's value comes from (Slack `{ token_response = "/team/id" }`).
    pub connection: ValueSource,
}

/// A handshake the provider performs on the webhook URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Handshake {
    /// Slack Events API `url_verification`: answer the `challenge`.
    SlackUrlVerification,
    /// Zoom `endpoint.url_validation`: answer the plain token and its HMAC.
    ZoomUrlValidation,
    /// Twitch EventSub `webhook_callback_verification`: answer the challenge as text.
    TwitchCallbackVerification,
    /// Microsoft Graph subscriptions: echo `validationToken` as text.
    MicrosoftGraphValidationToken,
    /// Meta (Facebook, Instagram, WhatsApp) `GET ?hub.challenge=` with `hub.verify_token`.
    MetaHubChallenge,
    /// Dropbox `GET ?challenge=`: echo it.
    DropboxChallenge,
    /// Discord interactions `PING` (type 1): answer type 1.
    DiscordPing,
    /// Asana `X-Hook-Secret`: echo the header, keep its value as the secret.
    AsanaHookSecret,
    /// monday.com `{"challenge"}`: echo it as JSON.
    MondayChallenge,
    /// Okta event hooks `X-Okta-Verification-Challenge`: echo it as `{"verification"}`.
    OktaVerificationChallenge,
    /// Trello checks a new webhook's callback URL with a `HEAD` request: answer 200.
    TrelloHead,
}
