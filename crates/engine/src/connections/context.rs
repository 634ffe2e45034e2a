//! The integration and provider a connection request works with, looked up once per
//! request: the connect flow, the session connects, refreshes and the proxy all start
//! from it.

use std::collections::BTreeMap;

use crate::{Engine, EngineError, EngineResult};

/// An integration with its provider, as one request needs them.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub integration: config::Integration,
    pub provider: catalog::Provider,
}

impl Ctx {
    pub fn oauth2(&self) -> EngineResult<&catalog::OAuth2> {
        self.provider.oauth2.as_ref().ok_or_else(|| {
            EngineError::Misconfigured(format!(
                "provider {} has no OAuth2 settings",
                self.provider.id
            ))
        })
    }

    pub fn client_id(&self) -> EngineResult<&str> {
        self.integration.client_id.as_deref().ok_or_else(|| {
            EngineError::Misconfigured(format!(
                "integration {:?} has no client_id; set client_id and client_secret in switchboard.toml",
                self.integration.id
            ))
        })
    }

    /// The scopes to request: the integration's, else the provider's defaults.
    pub fn scopes(&self) -> Vec<String> {
        if !self.integration.scopes.is_empty() {
            return self.integration.scopes.clone();
        }
        self.provider
            .oauth2
            .as_ref()
            .map(|o| o.default_scopes.clone())
            .unwrap_or_default()
    }

    /// The values of the provider's placeholders for a connection with `settings`. An
    /// integration setting `client_id` that the integration's `settings` do not give is
    /// its `client_id` (GitHub's grant URL, Trello's key, Twitch's `Client-Id`).
    pub fn values(&self, settings: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, ph) in &self.provider.placeholders {
            let v = match &ph.from {
                catalog::ValueSource::Integration(k) => {
                    self.integration.settings.get(k).or_else(|| {
                        (k == catalog::CLIENT_ID_PARAM)
                            .then_some(self.integration.client_id.as_ref())
                            .flatten()
                    })
                }
                catalog::ValueSource::Connection(k) => settings.get(k),
                _ => settings.get(name),
            };
            if let Some(v) = v {
                out.insert(name.clone(), v.clone());
            }
        }
        out
    }

    /// The provider's `api_headers` for a connection with `settings`, their
    /// placeholders filled. An error names the header and the missing or refused value.
    pub fn api_headers(
        &self,
        settings: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, String> {
        self.fill(&self.provider.api_headers, settings, "API header")
    }

    /// The provider's `api_query` parameters for a connection with `settings`, their
    /// placeholders filled.
    pub fn api_query(
        &self,
        settings: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, String)>, String> {
        Ok(self
            .fill(&self.provider.api_query, settings, "API query parameter")?
            .into_iter()
            .collect())
    }

    /// `url` with the provider's `api_query` parameters appended (requests under the API
    /// base that Switchboard makes itself: the verify request, health checks).
    pub fn with_api_query(
        &self,
        url: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<String, String> {
        let query = self.api_query(settings)?;
        if query.is_empty() {
            return Ok(url.to_owned());
        }
        let mut u = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
        u.query_pairs_mut().extend_pairs(&query);
        Ok(u.into())
    }

    fn fill(
        &self,
        templates: &BTreeMap<String, String>,
        settings: &BTreeMap<String, String>,
        what: &str,
    ) -> Result<BTreeMap<String, String>, String> {
        if templates.is_empty() {
            return Ok(BTreeMap::new());
        }
        let values = self.values(settings);
        templates
            .iter()
            .map(|(k, t)| {
                catalog::resolve_text(t, &self.provider.placeholders, &values)
                    .map(|v| (k.clone(), v))
                    .map_err(|e| format!("{what} {k}: {e}"))
            })
            .collect()
    }

    /// Checks settings given at connect time: only the provider's `connection`
    /// placeholders, with bounded values.
    pub fn connection_settings(
        &self,
        given: BTreeMap<String, String>,
    ) -> EngineResult<BTreeMap<String, String>> {
        let routing = self
            .provider
            .webhooks
            .as_ref()
            .and_then(|w| w.routing.as_ref())
            .and_then(|r| match &r.connection {
                catalog::ValueSource::Connection(k) if k != "username" => Some(k.as_str()),
                _ => None,
            });
        let known: Vec<&str> = self
            .provider
            .placeholders
            .values()
            .filter_map(|p| match &p.from {
                catalog::ValueSource::Connection(k) => Some(k.as_str()),
                _ => None,
            })
            .chain(routing)
            .collect();
        for (k, v) in &given {
            if !known.contains(&k.as_str()) {
                return Err(EngineError::Invalid {
                    field: "settings",
                    message: format!(
                        "provider {} takes no setting {k:?}{}",
                        self.provider.id,
                        if known.is_empty() {
                            String::new()
                        } else {
                            format!("; it takes {}", known.join(", "))
                        }
                    ),
                });
            }
            if v.is_empty() || v.len() > 512 || v.chars().any(char::is_control) {
                return Err(EngineError::Invalid {
                    field: "settings",
                    message: format!("setting {k:?} must be 1 to 512 printable characters"),
                });
            }
        }
        Ok(given)
    }
}

impl Engine {
    /// The integration and its provider.
    pub(crate) fn connect_context(&self, integration: &str) -> EngineResult<Ctx> {
        let cfg = self.config();
        let it = cfg
            .integration(integration)
            .ok_or_else(|| EngineError::NotFound {
                what: "integration",
                id: integration.to_owned(),
            })?;
        let provider = self.catalog().get(&it.provider).ok_or_else(|| {
            EngineError::Misconfigured(format!(
                "integration {integration:?} names provider {:?}, which is not in the catalog",
                it.provider
            ))
        })?;
        Ok(Ctx {
            integration: it.clone(),
            provider: provider.clone(),
        })
    }
}
