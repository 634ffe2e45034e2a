//! Custom providers from `switchboard.toml` (`[[providers]]`), and the pure half of
//! OIDC / RFC 8414 discovery: turning a fetched document into a [`Provider`].

use serde::{Deserialize, Serialize};
use signatures::Scheme;

use crate::error::CatalogError;
use crate::model::{
    AuthMode, ClientAuth, GithubApp, JwtBearer, OAuth2, Provider, Revocation, TokenResponse,
    Webhooks,
};
use crate::validate::is_valid_id;

/// A `[[providers]]` entry: an OIDC issuer (discovery), explicit endpoints, or both
/// (explicit endpoints override discovered ones).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomProvider {
    /// Lowercase kebab-case id, distinct from every built-in provider.
    pub id: String,
    /// Display name (default: the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// OIDC / RFC 8414 issuer; its discovery document supplies the endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    /// Token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// RFC 7009 revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_url: Option<String>,
    /// Userinfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_url: Option<String>,
    /// Base URL of the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Documentation link (default: the issuer or the token endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    /// Scopes requested when an integration lists none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_scopes: Option<Vec<String>>,
    /// Scope separator (default a space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_separator: Option<String>,
    /// PKCE (default on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce: Option<bool>,
    /// Token-endpoint client authentication (default from discovery, else `basic`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<ClientAuth>,
    /// The name of the client id parameter when the provider does not call it
    /// `client_id` (TikTok `client_key`), as `oauth2.client_id_param` in a catalog file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id_param: Option<String>,
    /// `oauth2` (default), `client_credentials`, `github_app` or `jwt_bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_mode: Option<AuthMode>,
    /// Where a GitHub App is installed (`github_app`, for GitHub Enterprise Server);
    /// `{app_slug}` is the integration's `app_slug`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_url: Option<String>,
    /// The JWT bearer grant's claims (`jwt_bearer`), as in a catalog file
    /// (`[providers.jwt_bearer]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_bearer: Option<JwtBearer>,
    /// Webhook signature scheme of the provider, if it sends webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_scheme: Option<Scheme>,
    /// Extra token-request parameters, as `oauth2.token_params` in a catalog file; values
    /// may hold placeholders (`instance_id = "{instance_id}"`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub token_params: std::collections::BTreeMap<String, String>,
    /// How the token request body is encoded (`form`, the default, or `json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_request: Option<crate::model::BodyFormat>,
    /// Headers every API call carries, as `api_headers` in a catalog file; values may
    /// hold placeholders (`Client-Id = "{client_id}"`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub api_headers: std::collections::BTreeMap<String, String>,
    /// Query parameters every API call carries, as `api_query` in a catalog file.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub api_query: std::collections::BTreeMap<String, String>,
    /// Its webhooks described in full, as in a catalog file (`[providers.webhooks]`:
    /// scheme, event id and type, and for a scheme whose keys are fetched, where from:
    /// `[providers.webhooks.keys]`). Instead of `webhook_scheme`. With it, `auth_mode`
    /// may be `webhook_only` (no token URL then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<Webhooks>,
    /// Placeholders its URL templates use (`{tenant}`…), declared as in a catalog file
    /// (`[providers.placeholders.tenant]`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub placeholders: std::collections::BTreeMap<String, crate::model::Placeholder>,
}

/// The fields of an OpenID Provider Metadata / RFC 8414 document that Switchboard uses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiscoveryDocument {
    /// Must equal the configured issuer exactly.
    pub issuer: String,
    /// `authorization_endpoint`.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint`.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// `revocation_endpoint` (RFC 7009).
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// `userinfo_endpoint` (OpenID).
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// `jwks_uri`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// `scopes_supported`.
    #[serde(default)]
    pub scopes_supported: Option<Vec<String>>,
    /// `code_challenge_methods_supported`.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// `token_endpoint_auth_methods_supported`.
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

impl CustomProvider {
    fn err(&self, key: &str, msg: impl Into<String>) -> CatalogError {
        CatalogError::invalid(&self.id, key, msg)
    }

    /// The URLs to fetch for discovery, in order: OpenID
    /// (`{issuer}/.well-known/openid-configuration`) then RFC 8414
    /// (`/.well-known/oauth-authorization-server{path}`).
    pub fn discovery_urls(&self) -> Option<Vec<String>> {
        let issuer = self.issuer.as_deref()?;
        let trimmed = issuer.trim_end_matches('/');
        let openid = format!("{trimmed}/.well-known/openid-configuration");
        let rfc8414 = match url::Url::parse(issuer) {
            Ok(u) => {
                let path = u.path().trim_end_matches('/');
                let mut base = u.clone();
                base.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
                base.set_query(None);
                base.to_string()
            }
            Err(_) => format!("{trimmed}/.well-known/oauth-authorization-server"),
        };
        Some(vec![openid, rfc8414])
    }

    /// Whether the provider has a token endpoint to name: every mode but a GitHub App and
    /// a JWT that is itself the credential (`jwt_bearer.exchange = false`).
    fn takes_token_url(&self) -> bool {
        let self_signed = self.auth_mode == Some(AuthMode::JwtBearer)
            && self.jwt_bearer.as_ref().is_some_and(|j| !j.exchange);
        let tokenless = matches!(
            self.auth_mode,
            Some(AuthMode::GithubApp | AuthMode::WebhookOnly)
        );
        !tokenless && !self_signed
    }

    /// Whether the endpoints must come from discovery (an issuer without explicit
    /// token URL).
    pub fn needs_discovery(&self) -> bool {
        self.issuer.is_some() && self.token_url.is_none()
    }

    /// Checks the entry on its own; `dev` allows `http://` loopback URLs.
    pub fn validate(&self, dev: bool) -> Result<(), CatalogError> {
        if !is_valid_id(&self.id) {
            return Err(self.err(
                "id",
                "must be lowercase kebab-case (`[a-z0-9]` words joined by `-`)",
            ));
        }
        if let Some(i) = &self.issuer {
            crate::template::check_url(i, dev)
                .map_err(|m| self.err("issuer", format!("{m}; give the issuer's URL")))?;
        } else if self.token_url.is_none() && self.takes_token_url() {
            return Err(self.err(
                "token_url",
                "is missing; give `issuer` (for discovery) or the explicit endpoints",
            ));
        }
        if self.needs_discovery() {
            return Ok(());
        }
        self.to_provider(None, dev).map(|_| ())
    }

    /// The provider from explicit endpoints only (no discovery).
    pub fn to_provider_explicit(&self, dev: bool) -> Result<Provider, CatalogError> {
        if self.token_url.is_none() && self.takes_token_url() {
            return Err(self.err(
                "token_url",
                "is missing; fetch the issuer's discovery document and use `from_discovery`, or give the endpoints",
            ));
        }
        self.to_provider(None, dev)
    }

    /// Turns a fetched discovery document (JSON text) into a provider. The document's
    /// `issuer` must equal the configured one exactly (OpenID Discovery §4.3, RFC 8414
    /// §3.3); explicit endpoints in the entry override the document's.
    pub fn from_discovery(&self, json: &str, dev: bool) -> Result<Provider, CatalogError> {
        let issuer = self
            .issuer
            .as_deref()
            .ok_or_else(|| self.err("issuer", "is missing; discovery needs the issuer URL"))?;
        let derr = |message: String| CatalogError::Discovery {
            provider: self.id.clone(),
            issuer: issuer.to_owned(),
            message,
        };
        let doc: DiscoveryDocument = serde_json::from_str(json)
            .map_err(|e| derr(format!("is not a discovery document ({e})")))?;
        if doc.issuer != issuer {
            return Err(derr(format!(
                "names issuer {:?}, not the configured one; refusing it (a mismatch can mean a mix-up attack); configure the issuer exactly as the provider publishes it",
                doc.issuer.chars().take(200).collect::<String>()
            )));
        }
        if doc.token_endpoint.is_none() && self.token_url.is_none() {
            return Err(derr(
                "has no token_endpoint; give token_url in the entry".to_owned(),
            ));
        }
        self.to_provider(Some(&doc), dev)
    }

    fn to_provider(
        &self,
        doc: Option<&DiscoveryDocument>,
        dev: bool,
    ) -> Result<Provider, CatalogError> {
        let pick = |own: &Option<String>, found: Option<&Option<String>>| {
            own.clone().or_else(|| found.cloned().flatten())
        };
        let auth_mode = self.auth_mode.unwrap_or(AuthMode::Oauth2);
        let token_url = pick(&self.token_url, doc.map(|d| &d.token_endpoint));
        if self.webhooks.is_some() && self.webhook_scheme.is_some() {
            return Err(self.err(
                "webhook_scheme",
                "goes inside [providers.webhooks] (scheme = …) when that table is given; keep one",
            ));
        }
        if auth_mode == AuthMode::WebhookOnly {
            if self.webhooks.is_none() {
                return Err(self.err(
                    "webhooks",
                    "is missing; a webhook_only provider is described by its [providers.webhooks] table",
                ));
            }
            if token_url.is_some() {
                return Err(self.err(
                    "token_url",
                    "applies to providers that issue tokens; a webhook_only provider has none",
                ));
            }
        } else if token_url.is_none() && self.takes_token_url() {
            return Err(self.err("token_url", "is missing"));
        }
        let supports = |list: Option<&Option<Vec<String>>>, what: &str| {
            list.and_then(|l| l.as_ref())
                .map(|l| l.iter().any(|m| m == what))
        };
        let pkce = self.pkce.unwrap_or_else(|| {
            supports(doc.map(|d| &d.code_challenge_methods_supported), "S256").unwrap_or(true)
        });
        let methods = doc.map(|d| &d.token_endpoint_auth_methods_supported);
        let client_auth = self.client_auth.unwrap_or(
            match (
                supports(methods, "client_secret_basic"),
                supports(methods, "client_secret_post"),
            ) {
                (Some(false), Some(true)) => ClientAuth::Body,
                _ => ClientAuth::Basic,
            },
        );
        let default_scopes = self.default_scopes.clone().unwrap_or_else(|| {
            match supports(doc.map(|d| &d.scopes_supported), "openid") {
                Some(true) => vec!["openid".to_owned()],
                _ => Vec::new(),
            }
        });
        if !matches!(
            auth_mode,
            AuthMode::Oauth2
                | AuthMode::ClientCredentials
                | AuthMode::GithubApp
                | AuthMode::JwtBearer
                | AuthMode::WebhookOnly
        ) {
            return Err(self.err(
                "auth_mode",
                "must be oauth2, client_credentials, github_app, jwt_bearer or webhook_only for a custom provider",
            ));
        }
        let github_app = match (auth_mode, &self.install_url) {
            (AuthMode::GithubApp, Some(u)) => Some(GithubApp {
                install_url: u.clone(),
                // The user access token endpoint is the install URL's origin's
                // (GitHub Enterprise Server: `https://HOST/login/oauth/access_token`).
                token_url: None,
            }),
            (AuthMode::GithubApp, None) => {
                return Err(self.err(
                    "install_url",
                    "is missing; a github_app provider needs the URL where the app is installed",
                ));
            }
            (_, Some(_)) => {
                return Err(self.err("install_url", "applies to auth_mode github_app only"));
            }
            (_, None) => None,
        };
        let jwt_bearer = match (auth_mode, &self.jwt_bearer) {
            (AuthMode::JwtBearer, j) => Some(j.clone().unwrap_or(JwtBearer {
                exchange: true,
                issuer_claim: "iss".to_owned(),
                audience: Default::default(),
                subject: Default::default(),
                scopes: Default::default(),
                assertion_lifetime_secs: 300,
            })),
            (_, Some(_)) => {
                return Err(self.err("jwt_bearer", "applies to auth_mode jwt_bearer only"));
            }
            (_, None) => None,
        };
        let docs_url = self
            .docs_url
            .clone()
            .or_else(|| self.issuer.clone())
            .or_else(|| {
                token_url
                    .clone()
                    .filter(|t| !t.contains('{'))
                    .or_else(|| self.install_url.clone().filter(|u| !u.contains('{')))
            })
            .ok_or_else(|| {
                self.err(
                    "docs_url",
                    "is missing; give the provider's documentation URL (the token URL holds placeholders, so it cannot stand in)",
                )
            })?;
        let provider = Provider {
            id: self.id.clone(),
            name: self.name.clone().unwrap_or_else(|| self.id.clone()),
            docs_url,
            auth_mode,
            api_base_url: self.api_base_url.clone(),
            placeholders: self.placeholders.clone(),
            oauth2: token_url.map(|token_url| OAuth2 {
                authorization_url: pick(
                    &self.authorization_url,
                    doc.map(|d| &d.authorization_endpoint),
                ),
                token_url,
                refresh_url: None,
                userinfo_url: pick(&self.userinfo_url, doc.map(|d| &d.userinfo_endpoint)),
                revocation: pick(&self.revocation_url, doc.map(|d| &d.revocation_endpoint)).map(
                    |url| Revocation {
                        url,
                        method: Default::default(),
                        token: Default::default(),
                        send: Default::default(),
                        param: "token".to_owned(),
                        type_hint: true,
                        client_auth: None,
                    },
                ),
                issuer: doc.map(|d| d.issuer.clone()),
                jwks_url: doc.and_then(|d| d.jwks_uri.clone()),
                default_scopes,
                scope_separator: self
                    .scope_separator
                    .clone()
                    .unwrap_or_else(|| " ".to_owned()),
                pkce,
                client_auth,
                client_id_param: self
                    .client_id_param
                    .clone()
                    .unwrap_or_else(|| crate::model::CLIENT_ID_PARAM.to_owned()),
                authorization_params: Default::default(),
                token_params: self.token_params.clone(),
                code_params: Default::default(),
                token_headers: Default::default(),
                token_request: self.token_request.unwrap_or_default(),
                api_auth: None,
                token_response: TokenResponse::default(),
            }),
            api_key: None,
            basic: None,
            api_headers: self.api_headers.clone(),
            api_query: self.api_query.clone(),
            verify: None,
            rate_limit: None,
            webhooks: if let Some(w) = &self.webhooks {
                Some(w.clone())
            } else if auth_mode == AuthMode::GithubApp {
                // A GitHub App (GitHub Enterprise Server) delivers as github.com does:
                // its events name the installation they concern, which is what ties them
                // to a connection (and installation lifecycle events to its status).
                Some(github_app_webhooks(self.webhook_scheme.clone()))
            } else {
                None
            }
            .or_else(|| {
                self.webhook_scheme.clone().map(|s| Webhooks {
                    scheme: Some(s),
                    scheme_configurable: false,
                    event_id: None,
                    event_type: None,
                    routing: None,
                    handshake: None,
                    header_alternatives: Default::default(),
                    sample: None,
                    keys: None,
                })
            }),
            github_app,
            jwt_bearer,
            // Custom providers are the operator's own: no provenance is asked of them.
            verified: None,
            sources: Default::default(),
        };
        provider.validate(dev)?;
        Ok(provider)
    }
}

/// The webhooks of a custom GitHub App provider: GitHub's headers and routing by
/// installation, signed as `scheme` says (GitHub's `X-Hub-Signature-256` by default).
fn github_app_webhooks(scheme: Option<Scheme>) -> Webhooks {
    use crate::model::{Location, Routing, ValueSource};
    Webhooks {
        scheme: Some(scheme.unwrap_or(Scheme::Github)),
        scheme_configurable: false,
        event_id: Some(Location::Header("X-GitHub-Delivery".to_owned())),
        event_type: Some(Location::Header("X-GitHub-Event".to_owned())),
        routing: Some(Routing {
            event: Location::Pointer("/installation/id".to_owned()),
            connection: ValueSource::CallbackQuery("installation_id".to_owned()),
        }),
        handshake: None,
        header_alternatives: Default::default(),
        sample: None,
        keys: None,
    }
}
