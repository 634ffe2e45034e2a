//! Webhook intake: verify, answer handshakes, deduplicate, and store durably before the
//! caller answers 2xx.
//!
//! The order matters. Unsigned handshakes (Microsoft Graph, Meta, Dropbox) are answered
//! before verification because the provider does not sign them, and they store nothing.
//! Everything else is verified with the integration's scheme and secrets first; signed
//! handshakes (Slack, Zoom, Twitch, Discord) are answered only after their signature
//! checked out. An event is acknowledged only once
//! [`store::EventStore::insert_routed_event`] has committed it, with its mapping and its
//! deliveries when it has any.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use catalog::{Handshake, Location};
use hmac::{KeyInit, Mac};
use signatures::{Headers, Request, Scheme, VerifyOptions};
use store::{Event, InsertOutcome, IntegrationFlags};
use vault::{ExposeSecret, constant_time_eq};

use crate::ids::{is_event_id, new_event_id};
use crate::ttl_cache::TtlCache;
use crate::{Actor, Engine, EngineError, EngineResult};

/// Counter of webhooks by integration and outcome.
pub const WEBHOOKS_TOTAL: &str = "switchboard_webhooks_total";

/// Headers never stored with an event.
const DROPPED_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
];
const MAX_KEPT_HEADERS: usize = 64;
const MAX_KEPT_HEADER_BYTES: usize = 8 * 1024;
/// Longest provider event id or event type kept (longer ones are cut).
const MAX_ID_LEN: usize = 256;

/// A webhook request as the server received it.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The integration id from the path.
    pub integration: &'a str,
    /// `POST`, or `GET` for handshakes.
    pub method: &'a str,
    /// The URL as the provider called it (public URL + path + query); some schemes sign it.
    pub url: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// The headers.
    pub headers: &'a Headers,
    /// The raw body.
    pub body: &'a [u8],
}

/// What to answer the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    /// Stored (committed) as a new event.
    Stored {
        /// The event's id.
        id: String,
    },
    /// Seen before (same provider event id): nothing stored.
    Duplicate {
        /// The id of the event stored the first time.
        id: String,
    },
    /// A handshake; answer exactly this. Nothing was stored.
    Handshake(HandshakeReply),
}

/// An integration as listed by `integration list`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IntegrationStatus {
    /// Its id.
    pub id: String,
    /// Its provider.
    pub provider: String,
    /// Disabled as a whole.
    pub disabled: bool,
    /// Webhook intake blocked.
    pub webhooks_blocked: bool,
    /// Has webhook secrets configured, or a scheme whose keys are fetched from the provider.
    pub accepts_webhooks: bool,
}

/// The answer to a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeReply {
    /// HTTP status.
    pub status: u16,
    /// Content type of `body`.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
    /// Headers to answer with (Asana: `X-Hook-Secret` echoed).
    pub headers: Vec<(&'static str, String)>,
}

impl HandshakeReply {
    fn text(body: &str) -> Self {
        Self {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
            headers: Vec::new(),
        }
    }

    fn json(v: serde_json::Value) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: v.to_string().into_bytes(),
            headers: Vec::new(),
        }
    }
}

/// The header of Asana's handshake, which carries the secret of later signatures.
pub const HOOK_SECRET_HEADER: &str = "X-Hook-Secret";
/// Longest `X-Hook-Secret` taken.
const MAX_HOOK_SECRET_LEN: usize = 512;
/// Shortest `X-Hook-Secret` taken (a secret shorter than this is no secret).
const MIN_HOOK_SECRET_LEN: usize = 16;

/// Where an integration's handshake secret is sealed.
pub fn handshake_secret_slot(integration: &str) -> store::SecretSlot {
    store::SecretSlot::new("integrations", integration, "webhook_secret")
}

/// Logs rejected webhooks at most once per interval per integration, so that an attacker
/// cannot flood the log; the metrics still count every one.
#[derive(Debug, Default)]
pub(crate) struct RejectLog {
    /// Per integration: when a rejection was last logged, and how many were not logged
    /// since.
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl RejectLog {
    const INTERVAL: Duration = Duration::from_secs(10);

    /// Notes a rejection at `now`, logging it unless one was logged less than
    /// [`Self::INTERVAL`] ago. Returns how many went unlogged before it when it was
    /// logged, `None` when it was only counted.
    ///
    /// An integration's first rejection is always logged. That is decided by its
    /// absence from the map, not by pretending one was logged an interval before
    /// `now`: `now - INTERVAL` does not exist when the clock's origin is less than an
    /// interval before `now` (an `Instant` can be the time since boot), and subtracting
    /// panicked there.
    pub(crate) fn note(&self, integration: &str, reason: &str, now: Instant) -> Option<u64> {
        let Ok(mut map) = self.last.lock() else {
            return None;
        };
        if map.len() > 10_000 {
            map.clear();
        }
        let suppressed = match map.get_mut(integration) {
            Some((last, suppressed)) => {
                if now.saturating_duration_since(*last) < Self::INTERVAL {
                    *suppressed += 1;
                    return None;
                }
                *suppressed
            }
            None => 0,
        };
        tracing::warn!(
            integration,
            reason,
            suppressed,
            "webhook rejected (further rejections for this integration are counted in metrics, logged every 10 s)"
        );
        map.insert(integration.to_owned(), (now, 0));
        Some(suppressed)
    }
}

/// Integration switches (disabled, blocked) as last read, for at most
/// [`FlagsCache::TTL`]: the intake reads them on every webhook, and a database round trip
/// per request halved its throughput. A switch flipped by this process applies at once;
/// one flipped by another process sharing the database applies when the store's change
/// feed tells of it ([`crate::changes`]), or else within the TTL. A [`TtlCache`], so a
/// read made before a switch was flipped cannot put the old state back after it.
#[derive(Debug)]
pub(crate) struct FlagsCache(TtlCache<IntegrationFlags>);

impl Default for FlagsCache {
    fn default() -> Self {
        Self(TtlCache::new("FlagsCache", Self::MAX))
    }
}

impl FlagsCache {
    /// How long a read is trusted.
    pub(crate) const TTL: Duration = Duration::from_secs(1);
    /// At most this many integrations are kept.
    const MAX: usize = 10_000;

    fn get(&self, integration: &str, now: Instant) -> Option<IntegrationFlags> {
        self.0.get(integration, Self::TTL, now)
    }

    /// Keeps switches read when the epoch was `epoch`, as of `read_at`.
    fn put(&self, integration: &str, flags: IntegrationFlags, epoch: u64, read_at: Instant) {
        self.0.put(integration, flags, epoch, Self::TTL, read_at);
    }

    /// Forgets one integration's switches, and fences out reads in flight.
    pub(crate) fn forget(&self, integration: &str) {
        self.0.invalidate(integration);
    }

    /// Forgets every integration's switches.
    pub(crate) fn clear(&self) {
        self.0.clear();
    }
}

fn count(integration: &str, outcome: &'static str) {
    metrics::counter!(WEBHOOKS_TOTAL, "integration" => integration.to_owned(), "outcome" => outcome)
        .increment(1);
}

impl Engine {
    /// Counts a webhook of a configured integration in the metric and in the activity
    /// counters of `switchboard status` (accepted, refused by reason; handshakes only in
    /// the metric).
    fn count_webhook(&self, integration: &str, outcome: &'static str) {
        count(integration, outcome);
        let kind = match outcome {
            "stored" | "duplicate" => crate::activity::Kind::WebhookReceived,
            "handshake" => return,
            _ => crate::activity::Kind::WebhookRefused,
        };
        self.count_activity(integration, kind, outcome);
    }
}

fn query_param(query: &str, name: &str) -> Option<String> {
    signatures::parse_urlencoded(query.as_bytes())
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Reads an id, type or routing key where the catalog says it is (see
/// [`catalog::Webhooks::read`]), cut to [`MAX_ID_LEN`] characters.
fn read_location(
    hooks: &catalog::Webhooks,
    loc: &Location,
    headers: &Headers,
    json: Option<&serde_json::Value>,
    body: &[u8],
) -> Option<String> {
    let raw = hooks.read(loc, headers, json, body)?;
    Some(raw.chars().take(MAX_ID_LEN).collect())
}

fn kept_headers(headers: &Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(n, _)| !DROPPED_HEADERS.contains(&n.to_ascii_lowercase().as_str()))
        .filter(|(_, v)| v.len() <= MAX_KEPT_HEADER_BYTES)
        .filter_map(|(n, v)| Some((n.to_owned(), std::str::from_utf8(v).ok()?.to_owned())))
        .take(MAX_KEPT_HEADERS)
        .collect()
}

impl Engine {
    /// The scheme an integration's webhooks are verified with: its `webhook_scheme`, else
    /// its provider's.
    pub(crate) fn integration_scheme(&self, i: &config::Integration) -> Option<Scheme> {
        let hooks = self
            .inner
            .catalog
            .get(&i.provider)
            .and_then(|p| p.webhooks.as_ref());
        own_or_provider_scheme(i, hooks)
    }

    /// Takes one webhook: see the module documentation for the order of the checks.
    /// The steps: the integration and its switches, an unsigned handshake, the
    /// signature, a signed handshake, then the event built and stored (with its
    /// deliveries) before anything is acknowledged.
    pub async fn intake(&self, req: Incoming<'_>) -> EngineResult<Intake> {
        let cfg = self.config();
        let Some(integration) = cfg.integration(req.integration) else {
            count("unknown", "unknown_integration");
            return Err(EngineError::NotFound {
                what: "integration",
                id: req.integration.to_owned(),
            });
        };
        let id = integration.id.as_str();
        // The operator's switches before any work on the request: a disabled or blocked
        // integration costs no signature check, whatever an attacker sends.
        self.intake_open(id).await?;
        let provider = self.inner.catalog.get(&integration.provider);
        let hooks = provider.and_then(|p| p.webhooks.as_ref());
        let handshake = hooks.and_then(|h| h.handshake.as_ref());

        // A handshake that hands over the secret (Asana), only where the operator turned
        // it on and no secret is stored yet: otherwise the request goes on to be
        // verified like any other (and an unsigned one is refused).
        let stored = self.handshake_secret(integration, handshake).await?;
        if stored.is_none()
            && integration.webhook_secret_handshake
            && handshake == Some(&Handshake::AsanaHookSecret)
            && let Some(value) = req.headers.get(HOOK_SECRET_HEADER)
        {
            return self.take_hook_secret(id, &req, value).await;
        }

        // Unsigned handshakes come before verification: the provider does not sign
        // them, and they store nothing.
        if let Some(reply) = unsigned_handshake(handshake, &req, &integration.webhook_secrets) {
            self.count_webhook(id, "handshake");
            return Ok(Intake::Handshake(reply));
        }
        if req.method != "POST" {
            self.count_webhook(id, "method_not_allowed");
            return Err(EngineError::Invalid {
                field: "method",
                message: "webhooks are delivered with POST".into(),
            });
        }
        let secrets: std::borrow::Cow<'_, [vault::SecretString]> = match stored {
            Some(s) => std::borrow::Cow::Owned(vec![s]),
            None => std::borrow::Cow::Borrowed(&integration.webhook_secrets),
        };
        let scheme = self.scheme_of(integration, hooks)?;
        let verified = if scheme.fetches_keys() {
            self.verify_with_fetched_key(integration, hooks, &scheme, &req)
                .await?
        } else {
            self.verify_webhook(integration, &secrets, &scheme, &req)?
        };

        let json: Option<serde_json::Value> = serde_json::from_slice(req.body).ok();
        // Signed handshakes are answered only now that the signature checked out; the
        // answer uses the webhook secret that verified the request (none when the app's
        // own secret did: no handshake is signed with it).
        let matched: &[vault::SecretString] = match verified.key {
            signatures::KeyRole::Webhook => secrets
                .get(verified.secret_index..=verified.secret_index)
                .unwrap_or_default(),
            signatures::KeyRole::App | signatures::KeyRole::Provider => &[],
        };
        if let Some(reply) = signed_handshake(handshake, &req, json.as_ref(), matched) {
            self.count_webhook(id, "handshake");
            return Ok(Intake::Handshake(reply));
        }

        let event = self.event_from(id, hooks, &scheme, &req, json.as_ref(), verified.id);
        // A GitHub App's installation lifecycle (uninstalled, suspended, unsuspended)
        // changes the connections bound to the installation, once the event is stored
        // (it is delivered as any other); a redelivery (a duplicate) changes nothing.
        let lifecycle = provider
            .filter(|p| p.auth_mode == catalog::AuthMode::GithubApp)
            .and_then(|_| {
                Self::installation_lifecycle_of(event.event_type.as_deref(), json.as_ref())
            });
        let intake = self
            .store_event(&cfg, &integration.provider, event, json)
            .await?;
        if let (Intake::Stored { .. }, Some(lifecycle)) = (&intake, lifecycle) {
            self.installation_lifecycle(id, &lifecycle).await;
        }
        Ok(intake)
    }

    /// The secret an earlier handshake handed over, for an integration that takes its
    /// secret that way (`webhook_secret_handshake`); `None` otherwise.
    async fn handshake_secret(
        &self,
        integration: &config::Integration,
        handshake: Option<&Handshake>,
    ) -> EngineResult<Option<vault::SecretString>> {
        if !integration.webhook_secret_handshake || handshake != Some(&Handshake::AsanaHookSecret) {
            return Ok(None);
        }
        self.get_secret(&handshake_secret_slot(&integration.id))
            .await
    }

    /// Asana's handshake: a `POST` whose `X-Hook-Secret` is the secret of every later
    /// `X-Hook-Signature`. Sealed only if the integration has none yet (of two racing
    /// handshakes one wins; the other is refused), then echoed with a 200.
    async fn take_hook_secret(
        &self,
        id: &str,
        req: &Incoming<'_>,
        value: &[u8],
    ) -> EngineResult<Intake> {
        if req.method != "POST" {
            self.count_webhook(id, "method_not_allowed");
            return Err(EngineError::Invalid {
                field: "method",
                message: "the X-Hook-Secret handshake is a POST".into(),
            });
        }
        let secret = std::str::from_utf8(value)
            .ok()
            .map(str::trim)
            .filter(|s| {
                (MIN_HOOK_SECRET_LEN..=MAX_HOOK_SECRET_LEN).contains(&s.len())
                    && s.bytes().all(|b| b.is_ascii_graphic())
            })
            .ok_or_else(|| {
                self.count_webhook(id, "bad_handshake");
                EngineError::Invalid {
                    field: "X-Hook-Secret",
                    message: format!(
                        "must be {MIN_HOOK_SECRET_LEN} to {MAX_HOOK_SECRET_LEN} visible ASCII characters"
                    ),
                }
            })?
            .to_owned();
        let sealed = vault::SecretString::from(secret.clone());
        if !self
            .insert_secret_if_absent(&handshake_secret_slot(id), &sealed)
            .await?
        {
            // Another handshake won the race: this one is an unsigned request.
            self.count_webhook(id, "bad_signature");
            self.inner
                .reject_log
                .note(id, "handshake_after_secret", self.instant());
            return Err(EngineError::BadSignature {
                reason: "handshake_after_secret",
            });
        }
        self.count_webhook(id, "handshake");
        self.audit(
            &Actor::System,
            "webhook.handshake_secret",
            id,
            serde_json::json!({ "header": HOOK_SECRET_HEADER }),
        )
        .await?;
        Ok(Intake::Handshake(HandshakeReply {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: Vec::new(),
            headers: vec![(HOOK_SECRET_HEADER, secret)],
        }))
    }

    /// Refuses a webhook for a disabled integration, or one whose intake is blocked.
    /// The switches are read through [`FlagsCache`]: this runs on every webhook.
    async fn intake_open(&self, id: &str) -> EngineResult<()> {
        let flags = match self.inner.flags.get(id, self.instant()) {
            Some(f) => f,
            None => {
                let epoch = self.inner.flags.0.epoch();
                let read_at = self.instant();
                let f = self.inner.store.integration_flags(id).await?;
                self.inner.flags.put(id, f, epoch, read_at);
                f
            }
        };
        if flags.disabled {
            self.count_webhook(id, "disabled");
            return Err(EngineError::Forbidden(format!(
                "integration {id:?} is disabled; run `switchboard integration enable {id}` to use it again"
            )));
        }
        if flags.blocked {
            self.count_webhook(id, "blocked");
            return Err(EngineError::Forbidden(format!(
                "webhook intake for integration {id:?} is blocked; run `switchboard webhook unblock {id}` to accept webhooks again"
            )));
        }
        Ok(())
    }

    /// Checks the request's signature with the integration's scheme (its own, else the
    /// catalog's) and secrets, within its tolerance window on the engine's clock.
    /// Returns the scheme (stored with the event) and what the signature vouched for.
    /// A refusal is counted on every request but logged at most every 10 s per
    /// integration ([`RejectLog`]), so a flood cannot flood the log.
    fn verify_webhook(
        &self,
        integration: &config::Integration,
        secrets: &[vault::SecretString],
        scheme: &Scheme,
        req: &Incoming<'_>,
    ) -> EngineResult<signatures::Verified> {
        let id = integration.id.as_str();
        // A scheme that also checks webhooks signed with the app's own secret (Atlassian:
        // those an OAuth 2.0 app registered) gets the integration's client secret for
        // them, and only for them.
        let app: &[vault::SecretString] = match &integration.client_secret {
            Some(cs) if scheme.takes_app_secret() => std::slice::from_ref(cs),
            _ => &[],
        };
        if secrets.is_empty() && app.is_empty() {
            self.count_webhook(id, "not_configured");
            return Err(EngineError::NotFound {
                what: "webhook secrets of integration",
                id: id.to_owned(),
            });
        }
        let mut opts = VerifyOptions::at(self.now().timestamp());
        if let Some(t) = integration.webhook_tolerance_secs {
            opts = opts.with_tolerance(t);
        }
        let sreq = Request::new(req.method, req.url, req.headers, req.body);
        let keys = signatures::Keys::webhook(secrets).with_app(app);
        signatures::verify_with(scheme, &sreq, keys, &opts).map_err(|e| self.refused(id, &e))
    }

    /// Counts and (at most every 10 s) logs a refused signature; the answer is a 401.
    fn refused(&self, id: &str, e: &signatures::VerifyError) -> EngineError {
        let reason = e.code();
        self.refused_for(id, reason);
        // A scheme that cannot verify anything (a bad key in the configuration) is the
        // operator's to fix: always logged, as an error.
        if e.is_config_error() {
            tracing::error!(
                integration = id,
                reason,
                "webhook verification cannot work: {e}"
            );
        }
        EngineError::BadSignature { reason }
    }

    fn refused_for(&self, id: &str, reason: &'static str) -> EngineError {
        self.count_webhook(id, reason);
        self.inner.reject_log.note(id, reason, self.instant());
        EngineError::BadSignature { reason }
    }

    /// The integration's webhook scheme: its own, else its provider's.
    fn scheme_of(
        &self,
        integration: &config::Integration,
        hooks: Option<&catalog::Webhooks>,
    ) -> EngineResult<Scheme> {
        own_or_provider_scheme(integration, hooks).ok_or_else(|| EngineError::NotFound {
            what: "webhook scheme of integration",
            id: integration.id.clone(),
        })
    }

    /// Verifies with a key the provider hands out (Plaid, PayPal): what needs no key is
    /// checked first, a certificate URL must be one the provider's entry pins, then the
    /// key comes from the cache or one fetch ([`crate::webhook_keys`]). A key the
    /// provider does not know is a 401 like any bad signature; a key endpoint that is
    /// down (or asked too often lately) is a 503, so that the provider sends the webhook
    /// again later: nothing is stored, nothing acknowledged.
    async fn verify_with_fetched_key(
        &self,
        integration: &config::Integration,
        hooks: Option<&catalog::Webhooks>,
        scheme: &Scheme,
        req: &Incoming<'_>,
    ) -> EngineResult<signatures::Verified> {
        use crate::webhook_keys::{KeyFailure, Source};
        use signatures::KeyRequest;
        let id = integration.id.as_str();
        let sreq = Request::new(req.method, req.url, req.headers, req.body);
        let need = signatures::key_request(scheme, &sreq).map_err(|e| self.refused(id, &e))?;
        let cfg_error = |what: String| {
            self.count_webhook(id, "not_configured");
            tracing::error!(integration = id, "webhook verification cannot work: {what}");
            EngineError::Misconfigured(format!(
                "integration {id:?} cannot verify its webhooks: {what}"
            ))
        };
        let Some(keys) = hooks
            .filter(|h| h.scheme.as_ref() == Some(scheme))
            .and_then(|h| h.keys.as_ref())
        else {
            return Err(cfg_error(format!(
                "its provider's entry does not say where {scheme} keys come from"
            )));
        };
        let source = match &need {
            KeyRequest::CertUrl(url) => {
                if keys.pinned_cert_url(url).is_none() {
                    return Err(self.refused_for(id, "cert_url_not_pinned"));
                }
                Source::Certificate
            }
            KeyRequest::KeyId(_) => {
                let Some(template) = &keys.key_url else {
                    return Err(cfg_error("no key endpoint".into()));
                };
                let placeholders = self
                    .inner
                    .catalog
                    .get(&integration.provider)
                    .map(|p| p.placeholders.clone())
                    .unwrap_or_default();
                let url = catalog::resolve_url_with(
                    template,
                    &placeholders,
                    &integration.settings,
                    self.dev(),
                )
                .map_err(|e| cfg_error(e.to_string()))?;
                let (Some(client_id), Some(secret)) =
                    (&integration.client_id, &integration.client_secret)
                else {
                    return Err(cfg_error("client_id and client_secret are missing".into()));
                };
                Source::KeyEndpoint {
                    url,
                    client_id: client_id.clone(),
                    secret: secret.clone(),
                }
            }
            _ => return Err(self.refused_for(id, "unknown_key")),
        };
        let key = match self
            .inner
            .webhook_keys
            .get(&self.outbound(), id, &source, &need, self.clock())
            .await
        {
            Ok(key) => key,
            Err(KeyFailure::Unknown { reason }) => return Err(self.refused_for(id, reason)),
            Err(KeyFailure::Unavailable { reason, detail }) => {
                self.count_webhook(id, reason);
                if self
                    .inner
                    .reject_log
                    .note(id, reason, self.instant())
                    .is_some()
                {
                    tracing::warn!(
                        integration = id,
                        reason,
                        "webhook answered 503 for the provider to retry: {detail}"
                    );
                }
                return Err(EngineError::ProviderUnavailable(
                    "the key this webhook is signed with cannot be fetched from the provider right now; the provider will send it again".into(),
                ));
            }
        };
        let mut opts = VerifyOptions::at(self.now().timestamp());
        if let Some(t) = integration.webhook_tolerance_secs {
            opts = opts.with_tolerance(t);
        }
        let context = signatures::KeyContext {
            webhook_id: keys
                .settings
                .iter()
                .any(|s| s == "webhook_id")
                .then(|| integration.settings.get("webhook_id").map(String::as_str))
                .flatten(),
        };
        signatures::verify_with_key(scheme, &sreq, &key, &context, &opts)
            .map_err(|e| self.refused(id, &e))
    }

    /// The event to store: a new id, and what the catalog says where to find in the
    /// request (the provider's event id, else the id the signature vouched for; the
    /// event type; the routing key). Only the headers worth keeping are kept.
    fn event_from(
        &self,
        id: &str,
        hooks: Option<&catalog::Webhooks>,
        scheme: &Scheme,
        req: &Incoming<'_>,
        json: Option<&serde_json::Value>,
        verified_id: Option<String>,
    ) -> Event {
        let read = |loc: Option<&Location>| {
            let h = hooks?;
            read_location(h, loc?, req.headers, json, req.body)
        };
        let provider_event_id = read(hooks.and_then(|h| h.event_id.as_ref())).or(verified_id);
        let event_type = read(hooks.and_then(|h| h.event_type.as_ref()));
        // Routing: the catalog names where the event carries the key (Slack `team_id`,
        // GitHub `installation.id`…) that a connection recorded when it was made; the
        // store attaches the connection with that key in the insert itself.
        let routing_key = read(hooks.and_then(|h| h.routing.as_ref()).map(|r| &r.event));
        Event {
            id: new_event_id(),
            integration: id.to_owned(),
            received_at: self.now(),
            provider_event_id,
            event_type,
            scheme: scheme.name().to_owned(),
            headers: kept_headers(req.headers),
            body: req.body.to_vec(),
            connection_id: None,
            routing_key,
        }
    }

    /// Stores the event with its deliveries, deduplicated on the provider's event id;
    /// the caller acknowledges only once this has committed.
    ///
    /// Mapped here and written with the event in its own group commit: intake stays the
    /// only writer on its hot path (a separate routing transaction per batch halved
    /// intake throughput), and the worker is woken only when there is a delivery to
    /// make.
    async fn store_event(
        &self,
        cfg: &config::Config,
        provider: &str,
        event: Event,
        json: Option<serde_json::Value>,
    ) -> EngineResult<Intake> {
        let id = event.integration.as_str();
        let routing = crate::pipeline::route_one(cfg, provider, &event, json);
        match self
            .inner
            .store
            .insert_routed_event(&event, &routing)
            .await?
        {
            InsertOutcome::Inserted => {
                self.count_webhook(id, "stored");
                if !routing.deliveries.is_empty() {
                    self.poke_pipeline();
                }
                Ok(Intake::Stored { id: event.id })
            }
            InsertOutcome::Duplicate { existing_id } => {
                self.count_webhook(id, "duplicate");
                Ok(Intake::Duplicate { id: existing_id })
            }
        }
    }

    /// Blocks (or unblocks) webhook intake for an integration, and audits it. Returns
    /// whether the state changed.
    pub async fn set_webhooks_blocked(
        &self,
        integration: &str,
        blocked: bool,
        actor: &Actor,
    ) -> EngineResult<bool> {
        let action = if blocked {
            "webhook.block"
        } else {
            "webhook.unblock"
        };
        self.set_integration_flag(integration, actor, action, async {
            self.inner
                .store
                .set_integration_blocked(integration, blocked, self.now())
                .await
        })
        .await
    }

    /// Forgets the secret an integration's webhook handshake handed over
    /// (`webhook_secret_handshake`, Asana's `X-Hook-Secret`), so that the provider's next
    /// handshake (the webhook created again at the provider) is taken and its secret
    /// sealed. Until then, every event of the integration is refused as unsigned.
    /// Audited as `webhook.handshake_reset` with `actor`, also when no secret was stored.
    /// Returns whether one was.
    pub async fn reset_handshake_secret(
        &self,
        integration: &str,
        actor: &Actor,
    ) -> EngineResult<bool> {
        let Some(it) = self.config().integration(integration).cloned() else {
            return Err(EngineError::NotFound {
                what: "integration",
                id: integration.to_owned(),
            });
        };
        if !it.webhook_secret_handshake {
            return Err(EngineError::Invalid {
                field: "integration",
                message: format!(
                    "integration {integration:?} does not take its webhook secret from a handshake (webhook_secret_handshake is off): there is no handshake secret to reset"
                ),
            });
        }
        let removed = self
            .inner
            .store
            .delete_secret(&handshake_secret_slot(integration))
            .await?;
        self.audit(
            actor,
            "webhook.handshake_reset",
            integration,
            serde_json::json!({ "removed": removed }),
        )
        .await?;
        tracing::warn!(integration, removed, actor = %actor, "webhook handshake secret reset: the next handshake is taken");
        Ok(removed)
    }

    /// Disables (or enables) an integration as a whole, and audits it. A disabled
    /// integration refuses webhooks.
    pub async fn set_integration_disabled(
        &self,
        integration: &str,
        disabled: bool,
        actor: &Actor,
    ) -> EngineResult<bool> {
        let action = if disabled {
            "integration.disable"
        } else {
            "integration.enable"
        };
        self.set_integration_flag(integration, actor, action, async {
            self.inner
                .store
                .set_integration_disabled(integration, disabled, self.now())
                .await
        })
        .await
    }

    /// Checks that the integration is configured, applies `write`, and audits `action`
    /// if the state changed.
    async fn set_integration_flag(
        &self,
        integration: &str,
        actor: &Actor,
        action: &str,
        write: impl std::future::Future<Output = store::StoreResult<bool>>,
    ) -> EngineResult<bool> {
        if self.config().integration(integration).is_none() {
            return Err(EngineError::NotFound {
                what: "integration",
                id: integration.to_owned(),
            });
        }
        let changed = write.await;
        self.inner.flags.forget(integration);
        let changed = changed?;
        if changed {
            self.audit(actor, action, integration, serde_json::json!({}))
                .await?;
        }
        Ok(changed)
    }

    /// Every configured integration with its provider and state.
    pub async fn integration_states(&self) -> EngineResult<Vec<IntegrationStatus>> {
        let blocked = self.inner.store.blocked_integrations().await?;
        let disabled = self.inner.store.disabled_integrations().await?;
        Ok(self
            .config()
            .integrations
            .iter()
            .map(|i| IntegrationStatus {
                id: i.id.clone(),
                provider: i.provider.clone(),
                disabled: disabled.contains(&i.id),
                webhooks_blocked: blocked.contains(&i.id),
                accepts_webhooks: !i.webhook_secrets.is_empty()
                    || self.integration_scheme(i).is_some_and(|s| {
                        s.fetches_keys() || (i.client_secret.is_some() && s.takes_app_secret())
                    }),
            })
            .collect())
    }

    /// Stored events, newest first; `before` is the last id of the previous page.
    pub async fn list_events(
        &self,
        integration: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> EngineResult<(Vec<Event>, Option<String>)> {
        if let Some(c) = before
            && !is_event_id(c)
        {
            return Err(EngineError::Invalid {
                field: "cursor",
                message: "not a cursor from a previous page; omit it to start at the newest".into(),
            });
        }
        let limit = limit.clamp(1, 500);
        let data = self
            .inner
            .store
            .list_events(integration, before, limit)
            .await?;
        let next = (data.len() as u32 == limit)
            .then(|| data.last().map(|e| e.id.clone()))
            .flatten();
        Ok((data, next))
    }
}

fn unsigned_handshake(
    kind: Option<&Handshake>,
    req: &Incoming<'_>,
    secrets: &[vault::SecretString],
) -> Option<HandshakeReply> {
    match kind? {
        Handshake::MicrosoftGraphValidationToken => {
            query_param(req.query, "validationToken").map(|t| HandshakeReply::text(&t))
        }
        Handshake::DropboxChallenge if req.method == "GET" => {
            query_param(req.query, "challenge").map(|c| HandshakeReply::text(&c))
        }
        Handshake::MetaHubChallenge if req.method == "GET" => {
            let mode = query_param(req.query, "hub.mode")?;
            let token = query_param(req.query, "hub.verify_token")?;
            let challenge = query_param(req.query, "hub.challenge")?;
            let known = secrets
                .iter()
                .any(|s| constant_time_eq(s.expose_secret().as_bytes(), token.as_bytes()));
            (mode == "subscribe" && known).then(|| HandshakeReply::text(&challenge))
        }
        // Okta event hooks verify the URL once with a GET carrying a challenge header.
        Handshake::OktaVerificationChallenge if req.method == "GET" => {
            let c = std::str::from_utf8(req.headers.get("X-Okta-Verification-Challenge")?)
                .ok()?
                .trim();
            (!c.is_empty() && c.len() <= 512)
                .then(|| HandshakeReply::json(serde_json::json!({ "verification": c })))
        }
        // Trello checks a new webhook's callback URL with a HEAD and creates the webhook
        // only on a 200; the request carries nothing to sign or echo.
        Handshake::TrelloHead if req.method == "HEAD" => Some(HandshakeReply::text("")),
        // monday.com checks a new webhook URL with `{"challenge": "…"}` and expects it
        // back; the request is not signed, and echoing stores nothing.
        Handshake::MondayChallenge if req.method == "POST" => {
            let v: serde_json::Value = serde_json::from_slice(req.body).ok()?;
            let obj = v.as_object()?;
            let c = obj.get("challenge")?.as_str()?;
            (obj.len() == 1 && !c.is_empty() && c.len() <= 512)
                .then(|| HandshakeReply::json(serde_json::json!({ "challenge": c })))
        }
        _ => None,
    }
}

fn signed_handshake(
    kind: Option<&Handshake>,
    req: &Incoming<'_>,
    json: Option<&serde_json::Value>,
    secrets: &[vault::SecretString],
) -> Option<HandshakeReply> {
    let str_at = |p: &str| json?.pointer(p)?.as_str().map(str::to_owned);
    match kind? {
        Handshake::SlackUrlVerification
            if str_at("/type").as_deref() == Some("url_verification") =>
        {
            Some(HandshakeReply::json(
                serde_json::json!({ "challenge": str_at("/challenge")? }),
            ))
        }
        Handshake::ZoomUrlValidation
            if str_at("/event").as_deref() == Some("endpoint.url_validation") =>
        {
            let plain = str_at("/payload/plainToken")?;
            let secret = secrets.first()?;
            let mut mac =
                hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.expose_secret().as_bytes())
                    .ok()?;
            mac.update(plain.as_bytes());
            let encrypted = hex::encode(mac.finalize().into_bytes());
            Some(HandshakeReply::json(
                serde_json::json!({ "plainToken": plain, "encryptedToken": encrypted }),
            ))
        }
        Handshake::TwitchCallbackVerification => {
            let kind = req.headers.get("Twitch-Eventsub-Message-Type")?;
            (kind == b"webhook_callback_verification")
                .then(|| str_at("/challenge").map(|c| HandshakeReply::text(&c)))?
        }
        Handshake::DiscordPing if json?.pointer("/type")?.as_i64() == Some(1) => {
            Some(HandshakeReply::json(serde_json::json!({ "type": 1 })))
        }
        _ => None,
    }
}

/// An integration's webhook scheme: its own `webhook_scheme`, else its provider's
/// (`hooks`, the provider's webhooks table).
fn own_or_provider_scheme(
    integration: &config::Integration,
    hooks: Option<&catalog::Webhooks>,
) -> Option<Scheme> {
    integration
        .webhook_scheme
        .clone()
        .or_else(|| hooks.and_then(|h| h.scheme.clone()))
}
