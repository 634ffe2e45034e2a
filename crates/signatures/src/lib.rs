//! Webhook signature schemes: verify what a provider sent, and sign what a provider
//! would send.
//!
//! The crate is pure: no I/O, no clock (the current time is a parameter), no
//! environment, no randomness. Secrets are [`SecretString`]s (never printed), signatures
//! are compared in constant time, and no error message contains a secret or a full
//! signature.
//!
//! ```
//! use signatures::{Headers, Request, Scheme, SecretString, SignRequest, VerifyOptions, sign, verify};
//!
//! let secrets = [SecretString::from("It's a Secret to Everybody")];
//! let body = b"Hello, World!";
//! let signed = sign(&Scheme::Github, &secrets, &SignRequest::new(body, 0)).unwrap();
//! let headers: Headers = signed.headers.iter().map(|(n, v)| (n, v)).collect();
//! let req = Request::new("POST", "https://example.com/hook", &headers, body);
//! let ok = verify(&Scheme::Github, &req, &secrets, &VerifyOptions::at(1_700_000_000)).unwrap();
//! assert_eq!(ok.secret_index, 0);
//! ```
//!
//! Several secrets may be configured at once (rotation): [`Verified::secret_index`] says
//! which one matched. A scheme that checks two kinds of request, each signed with its own
//! key ([`Scheme::Atlassian`]: admin webhooks with the webhook secret, webhooks an OAuth
//! 2.0 app registered with the app's client secret), takes both through [`Keys`] and
//! [`verify_with`]; [`Verified::key`] says which kind matched, and a key is never tried
//! for the other kind. For public-key schemes (Discord and Standard Webhooks `v1a`:
//! Ed25519; SendGrid: ECDSA P-256) the configured values are public keys for verifying
//! and secret keys for signing; FusionAuth takes either a shared secret or a PEM public
//! key (RSA, EC or Ed25519), each checking only its own algorithms.

#![deny(missing_docs)]

mod crypto;
mod error;
mod fetched;
mod generic;
mod keys;
mod request;
mod schemes;
mod strength;
mod time;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::crypto::{HmacAlgorithm, KeyEncoding, SignatureEncoding};
pub use crate::error::{SignError, VerifyError};
pub use crate::fetched::{
    KeyContext, KeyError, KeyRequest, ProviderKey, key_request, verify_with_key,
};
pub use crate::generic::GenericHmac;
pub use crate::request::{Headers, Request, parse_urlencoded};
pub use crate::strength::{SecretRule, WeakSecret, check_secret_strength};
pub use secrecy::{ExposeSecret, SecretString};

/// A webhook signature scheme. Deserialises from its kebab-case name
/// (`webhook_scheme = "stripe"`); `generic-hmac` takes its settings as a table
/// (`webhook_scheme = { generic-hmac = { header = "X-Signature" } }`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Scheme {
    /// Standard Webhooks: `webhook-id`/`webhook-timestamp`/`webhook-signature`, `v1`
    /// HMAC-SHA256 with `whsec_` secrets and `v1a` Ed25519 with `whpk_`/`whsk_` keys.
    StandardWebhooks,
    /// Svix: the same algorithm with `svix-` headers (`webhook-` accepted too).
    Svix,
    /// Stripe: `Stripe-Signature: t=…,v1=…`.
    Stripe,
    /// GitHub: `X-Hub-Signature-256: sha256=…`, or the legacy `X-Hub-Signature: sha1=…`.
    Github,
    /// Slack: `X-Slack-Signature: v0=…` over `v0:{ts}:{body}`.
    Slack,
    /// Shopify: `X-Shopify-Hmac-Sha256`, base64 HMAC-SHA256 of the body.
    Shopify,
    /// Twilio: `X-Twilio-Signature`, HMAC-SHA1 of the URL and sorted form parameters.
    Twilio,
    /// Square: `x-square-hmacsha256-signature` over notification URL + body.
    Square,
    /// Zoom: `x-zm-signature: v0=…` over `v0:{ts}:{body}`.
    Zoom,
    /// Discord interactions: Ed25519 over timestamp + body.
    Discord,
    /// Twitch EventSub: HMAC-SHA256 over message id + timestamp + body.
    #[serde(alias = "twitch")]
    TwitchEventsub,
    /// Linear: `Linear-Signature` over the body, plus `webhookTimestamp` in the body.
    Linear,
    /// Intercom: `X-Hub-Signature: sha1=…` of the body.
    Intercom,
    /// HubSpot signature v3: method + URI + body + timestamp, base64.
    #[serde(alias = "hubspot")]
    HubspotV3,
    /// Mailgun: `timestamp`, `token`, `signature` (and, for subaccounts,
    /// `parent-signature`) inside the body.
    Mailgun,
    /// Calendly: `Calendly-Webhook-Signature: t=…,v1=…`.
    Calendly,
    /// Typeform: `Typeform-Signature: sha256=…` (base64).
    Typeform,
    /// DocuSign Connect: `X-DocuSign-Signature-1..N`, base64 HMAC-SHA256 of the body.
    Docusign,
    /// Paddle Billing: `Paddle-Signature: ts=…;h1=…`.
    #[serde(alias = "paddle")]
    PaddleBilling,
    /// Webflow: `x-webflow-signature`, hex HMAC-SHA256 of `{ts}:{body}` with the
    /// millisecond `x-webflow-timestamp`.
    Webflow,
    /// WorkOS: `WorkOS-Signature: t=<milliseconds>, v1=…` over `{t}.{body}`.
    Workos,
    /// Zendesk: `X-Zendesk-Webhook-Signature`, base64 HMAC-SHA256 of `{ts}{body}` with the
    /// RFC 3339 `X-Zendesk-Webhook-Signature-Timestamp`.
    Zendesk,
    /// Box: `BOX-SIGNATURE-PRIMARY`/`-SECONDARY`, base64 HMAC-SHA256 of the body followed
    /// by the RFC 3339 `BOX-DELIVERY-TIMESTAMP`, one per signature key.
    Box,
    /// Twilio SendGrid's signed Event Webhook: ECDSA P-256 (SHA-256) over `{ts}{body}`;
    /// configured values are base64 SubjectPublicKeyInfo DER public keys.
    Sendgrid,
    /// Buildkite: `X-Buildkite-Signature: timestamp=…,signature=…`, hex HMAC-SHA256 of
    /// `{timestamp}.{body}` keyed by the webhook token.
    Buildkite,
    /// monday.com: `Authorization: <JWT>`, HS256 with the app's signing secret; `exp` and
    /// `iat` are checked (the body is not signed).
    Monday,
    /// FusionAuth: `X-FusionAuth-Signature-JWT`, a JWT whose `request_body_sha256` claim is
    /// the body's SHA-256 (standard base64), signed with an HMAC secret (HS256/384/512) or
    /// an RSA, EC or Ed25519 key pair (configured as a PEM public key); `exp` and `iat` are
    /// checked.
    Fusionauth,
    /// Trello: `X-Trello-Webhook`, base64 HMAC-SHA1 of the body followed by the callback
    /// URL, keyed by the app's secret.
    Trello,
    /// TikTok: `TikTok-Signature: t=…,s=…`, hex HMAC-SHA256 of `{t}.{body}` keyed by the
    /// app's client secret.
    Tiktok,
    /// Atlassian (Jira Cloud), two kinds of webhook at one URL, told apart by their
    /// headers: admin webhooks (Jira's settings, or `/rest/webhooks/1.0/webhook`) carry
    /// `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>` made with the webhook
    /// secret; webhooks an OAuth 2.0 (3LO) app registers with `POST /rest/api/3/webhook`
    /// carry `Authorization: Bearer <JWT>`, HS256 with the app's client secret (given as
    /// [`Keys::app`]), whose `exp` is required and checked, and `iat` when present. The
    /// JWT does not cover the body: it proves that Atlassian sent the request while the
    /// token is valid, not what the body says.
    Atlassian,
    /// Plaid: `Plaid-Verification`, an ES256 JWT whose key Plaid hands out by `kid`; `iat`
    /// at most 5 minutes old, `request_body_sha256` the body's hex SHA-256. The key is
    /// fetched, never configured: see [`key_request`].
    Plaid,
    /// PayPal: `PAYPAL-TRANSMISSION-SIG`, SHA256withRSA over the transmission id, time,
    /// webhook id and the body's CRC-32, with the certificate at `PAYPAL-CERT-URL`. The
    /// key is fetched, never configured: see [`key_request`].
    Paypal,
    /// A configurable HMAC scheme for services not listed.
    GenericHmac(GenericHmac),
}

impl Scheme {
    /// Every built-in scheme (all but [`Scheme::GenericHmac`]).
    pub const BUILT_IN: &'static [Scheme] = &[
        Scheme::StandardWebhooks,
        Scheme::Svix,
        Scheme::Stripe,
        Scheme::Github,
        Scheme::Slack,
        Scheme::Shopify,
        Scheme::Twilio,
        Scheme::Square,
        Scheme::Zoom,
        Scheme::Discord,
        Scheme::TwitchEventsub,
        Scheme::Linear,
        Scheme::Intercom,
        Scheme::HubspotV3,
        Scheme::Mailgun,
        Scheme::Calendly,
        Scheme::Typeform,
        Scheme::Docusign,
        Scheme::PaddleBilling,
        Scheme::Webflow,
        Scheme::Workos,
        Scheme::Zendesk,
        Scheme::Box,
        Scheme::Sendgrid,
        Scheme::Buildkite,
        Scheme::Monday,
        Scheme::Fusionauth,
        Scheme::Trello,
        Scheme::Tiktok,
        Scheme::Atlassian,
    ];

    /// The schemes whose verification key is fetched from the provider (see
    /// [`key_request`]); they are not in [`Scheme::BUILT_IN`], whose schemes all verify
    /// with configured secrets.
    pub const FETCHED_KEY: &'static [Scheme] = &[Scheme::Plaid, Scheme::Paypal];

    /// The kebab-case name used in configuration.
    pub fn name(&self) -> &'static str {
        match self {
            Self::StandardWebhooks => "standard-webhooks",
            Self::Svix => "svix",
            Self::Stripe => "stripe",
            Self::Github => "github",
            Self::Slack => "slack",
            Self::Shopify => "shopify",
            Self::Twilio => "twilio",
            Self::Square => "square",
            Self::Zoom => "zoom",
            Self::Discord => "discord",
            Self::TwitchEventsub => "twitch-eventsub",
            Self::Linear => "linear",
            Self::Intercom => "intercom",
            Self::HubspotV3 => "hubspot-v3",
            Self::Mailgun => "mailgun",
            Self::Calendly => "calendly",
            Self::Typeform => "typeform",
            Self::Docusign => "docusign",
            Self::PaddleBilling => "paddle-billing",
            Self::Webflow => "webflow",
            Self::Workos => "workos",
            Self::Zendesk => "zendesk",
            Self::Box => "box",
            Self::Sendgrid => "sendgrid",
            Self::Buildkite => "buildkite",
            Self::Monday => "monday",
            Self::Fusionauth => "fusionauth",
            Self::Trello => "trello",
            Self::Tiktok => "tiktok",
            Self::Atlassian => "atlassian",
            Self::Plaid => "plaid",
            Self::Paypal => "paypal",
            Self::GenericHmac(_) => "generic-hmac",
        }
    }

    /// How far the signed timestamp may be from now, in seconds, unless
    /// [`VerifyOptions::tolerance_secs`] overrides it; `None` when the scheme signs no
    /// timestamp.
    pub fn default_tolerance_secs(&self) -> Option<u64> {
        match self {
            Self::StandardWebhooks | Self::Svix | Self::Stripe | Self::Slack => Some(300),
            Self::HubspotV3 | Self::Zoom | Self::Discord | Self::Mailgun => Some(300),
            Self::Webflow | Self::Zendesk | Self::Sendgrid => Some(300),
            Self::Buildkite | Self::Monday | Self::Fusionauth | Self::Tiktok | Self::Atlassian => {
                Some(300)
            }
            Self::Plaid => Some(300),
            Self::Box => Some(600),
            Self::Workos => Some(180),
            Self::TwitchEventsub => Some(600),
            Self::Calendly => Some(180),
            Self::Linear => Some(60),
            Self::PaddleBilling => Some(5),
            Self::GenericHmac(g) => g.default_tolerance_secs(),
            Self::Github
            | Self::Shopify
            | Self::Twilio
            | Self::Square
            | Self::Intercom
            | Self::Typeform
            | Self::Docusign
            | Self::Trello
            | Self::Paypal => None,
        }
    }
}

impl Scheme {
    /// Whether the scheme also checks requests signed with the app's own secret (an OAuth
    /// client secret, given as [`Keys::app`]): [`Scheme::Atlassian`] only.
    pub fn takes_app_secret(&self) -> bool {
        matches!(self, Self::Atlassian)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not a built-in scheme (or is `generic-hmac`, which needs settings).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown webhook scheme {0:?}")]
pub struct UnknownScheme(pub String);

impl FromStr for Scheme {
    type Err = UnknownScheme;

    /// Parses a built-in scheme's name (aliases `twitch`, `hubspot`, `paddle` too).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let alias = match s {
            "twitch" => Some(Self::TwitchEventsub),
            "hubspot" => Some(Self::HubspotV3),
            "paddle" => Some(Self::PaddleBilling),
            _ => None,
        };
        alias
            .or_else(|| {
                Self::BUILT_IN
                    .iter()
                    .chain(Self::FETCHED_KEY)
                    .find(|b| b.name() == s)
                    .cloned()
            })
            .ok_or_else(|| UnknownScheme(s.chars().take(64).collect()))
    }
}

/// When verification happens and how much clock difference it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The current time, seconds since the Unix epoch.
    pub now_unix: i64,
    /// Overrides the scheme's [default tolerance](Scheme::default_tolerance_secs);
    /// `Some(u64::MAX)` effectively disables the timestamp check.
    pub tolerance_secs: Option<u64>,
}

impl VerifyOptions {
    /// Verification at `now_unix` with the scheme's default tolerance.
    pub fn at(now_unix: i64) -> Self {
        Self {
            now_unix,
            tolerance_secs: None,
        }
    }

    /// Overrides the tolerance.
    pub fn with_tolerance(mut self, secs: u64) -> Self {
        self.tolerance_secs = Some(secs);
        self
    }
}

/// The keys one verification may use, by what they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys<'a> {
    /// The integration's webhook secrets (or public keys): what every scheme checks with.
    pub webhook: &'a [SecretString],
    /// The app's own secret (an OAuth client secret), for the schemes that
    /// [take one](Scheme::takes_app_secret); every other scheme ignores it.
    pub app: &'a [SecretString],
}

impl<'a> Keys<'a> {
    /// The webhook secrets alone.
    pub fn webhook(secrets: &'a [SecretString]) -> Self {
        Self {
            webhook: secrets,
            app: &[],
        }
    }

    /// Adds the app's secret(s).
    pub fn with_app(mut self, app: &'a [SecretString]) -> Self {
        self.app = app;
        self
    }
}

/// Which kind of key a verification matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRole {
    /// One of the webhook secrets ([`Keys::webhook`]).
    Webhook,
    /// The app's own secret ([`Keys::app`]).
    App,
    /// A key the provider hands out, fetched ([`verify_with_key`]: Plaid, PayPal).
    Provider,
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// Index of the configured secret (or public key) that matched, in the list of its
    /// [kind](Verified::key).
    pub secret_index: usize,
    /// Whether a webhook secret or the app's secret matched.
    pub key: KeyRole,
    /// The signed timestamp, seconds since the epoch, when the scheme signs one.
    pub timestamp: Option<i64>,
    /// The signed message id (Standard Webhooks, Svix, Twitch) or token (Mailgun), usable
    /// for deduplication.
    pub id: Option<String>,
}

/// What to sign, as a provider would.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    /// The HTTP method (HubSpot signs it).
    pub method: &'a str,
    /// The URL the request will be sent to (Twilio, Square, HubSpot, Trello sign it).
    pub url: &'a str,
    /// The raw body.
    pub body: &'a [u8],
    /// Form parameters (Twilio form webhooks). `None` with a non-empty body makes a
    /// Twilio JSON webhook (`bodySHA256` in the URL).
    pub form: Option<&'a [(String, String)]>,
    /// Seconds since the epoch to put in the signature (not negative).
    pub timestamp: i64,
    /// The message id (Standard Webhooks, Svix, Twitch) or token (Mailgun).
    pub id: Option<&'a str>,
}

impl<'a> SignRequest<'a> {
    /// A `POST` of `body` at `timestamp`, with no URL, form or id.
    pub fn new(body: &'a [u8], timestamp: i64) -> Self {
        Self {
            method: "POST",
            url: "",
            body,
            form: None,
            timestamp,
            id: None,
        }
    }

    /// Sets the URL.
    pub fn url(mut self, url: &'a str) -> Self {
        self.url = url;
        self
    }

    /// Sets the method.
    pub fn method(mut self, method: &'a str) -> Self {
        self.method = method;
        self
    }

    /// Sets the message id (or Mailgun token).
    pub fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the form parameters.
    pub fn form(mut self, form: &'a [(String, String)]) -> Self {
        self.form = Some(form);
        self
    }
}

/// What a provider would send.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signed {
    /// Headers to add, spelled as the provider spells them.
    pub headers: Vec<(String, String)>,
    /// The URL to call (differs from the input only for Twilio JSON webhooks, which
    /// carry `bodySHA256`).
    pub url: String,
    /// Fields to put in the body (Mailgun: `timestamp`, `token`, `signature` and maybe
    /// `parent-signature`, either as form fields or inside a JSON `signature` object).
    pub body_fields: Vec<(String, String)>,
}

impl fmt::Debug for Signed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        let fields: Vec<&str> = self.body_fields.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Signed")
            .field("headers", &names)
            .field("url", &self.url)
            .field("body_fields", &fields)
            .finish()
    }
}

impl Signed {
    pub(crate) fn headers(headers: Vec<(String, String)>, url: &str) -> Self {
        Self {
            headers,
            url: url.to_owned(),
            body_fields: Vec::new(),
        }
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Verifies `req` with the scheme, trying each configured secret (or public key).
pub fn verify(
    scheme: &Scheme,
    req: &Request<'_>,
    secrets: &[SecretString],
    opts: &VerifyOptions,
) -> Result<Verified, VerifyError> {
    verify_with(scheme, req, Keys::webhook(secrets), opts)
}

/// Verifies `req` with the scheme and keys of each kind: the webhook secrets, and the
/// app's secret for a scheme that [takes one](Scheme::takes_app_secret) (ignored by the
/// others). Each kind of signature is checked only with its own kind of key.
pub fn verify_with(
    scheme: &Scheme,
    req: &Request<'_>,
    keys: Keys<'_>,
    opts: &VerifyOptions,
) -> Result<Verified, VerifyError> {
    let app: &[SecretString] = if scheme.takes_app_secret() {
        keys.app
    } else {
        &[]
    };
    if scheme.fetches_keys() {
        return Err(VerifyError::KeyNotFetched);
    }
    if keys.webhook.is_empty() && app.is_empty() {
        return Err(VerifyError::NoSecrets);
    }
    let ctx = schemes::Ctx {
        req,
        secrets: keys.webhook,
        app,
        now: opts.now_unix,
        tolerance: opts
            .tolerance_secs
            .or_else(|| scheme.default_tolerance_secs()),
    };
    schemes::verify(scheme, &ctx)
}

/// Produces what the provider would send for `input`. Schemes that carry several
/// signatures (Standard Webhooks, Svix, Stripe, Paddle, DocuSign, `generic-hmac` with a
/// `separator`) sign with every
/// secret given; Box signs with the first as its primary key and the second, when
/// given, as its secondary; Mailgun signs with the first and, when a second is given, adds
/// `parent-signature` made with it (a subaccount's event); the others sign with the first.
pub fn sign(
    scheme: &Scheme,
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    if scheme.fetches_keys() {
        return Err(SignError::ProviderKeyOnly);
    }
    if secrets.is_empty() {
        return Err(SignError::NoSecrets);
    }
    if input.timestamp < 0 {
        return Err(SignError::TimestampOutOfRange);
    }
    schemes::sign(scheme, secrets, input)
}

/// Produces what the provider would send, as [`sign`] does with the webhook secrets; a
/// scheme that [takes the app's secret](Scheme::takes_app_secret) and has no webhook
/// secret signs as the provider does with the app's (Atlassian: the JWT of a webhook an
/// OAuth 2.0 app registered).
pub fn sign_with(
    scheme: &Scheme,
    keys: Keys<'_>,
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    if !keys.webhook.is_empty() || !scheme.takes_app_secret() {
        return sign(scheme, keys.webhook, input);
    }
    if keys.app.is_empty() {
        return Err(SignError::NoSecrets);
    }
    if input.timestamp < 0 {
        return Err(SignError::TimestampOutOfRange);
    }
    schemes::sign_app(scheme, keys.app, input)
}

/// The public key to configure for verifying what `secret_key` signs: `whpk_…` for a
/// Standard Webhooks `whsk_…` key, hex for a Discord (hex) key, base64
/// SubjectPublicKeyInfo DER for a SendGrid (base64 PKCS#8 DER) key.
pub fn public_key(scheme: &Scheme, secret_key: &SecretString) -> Result<String, SignError> {
    let bad = |reason| SignError::BadSecret { index: 0, reason };
    match scheme {
        Scheme::Discord => Ok(hex::encode(
            keys::hex_signing_key(secret_key)
                .map_err(bad)?
                .verifying_key()
                .as_bytes(),
        )),
        Scheme::Sendgrid => schemes::sendgrid::public_key_of(secret_key).map_err(bad),
        Scheme::StandardWebhooks | Scheme::Svix => match keys::std_key(secret_key) {
            Ok(keys::StdKey::Secret(k)) => Ok(format!(
                "whpk_{}",
                crypto::encode_base64(k.verifying_key().as_bytes())
            )),
            Ok(keys::StdKey::Public(_)) => Err(bad("already a public key (whpk_)")),
            Ok(keys::StdKey::Hmac(_)) => Err(SignError::NoPublicKey),
            Err(keys::KeyFault::Secret(r) | keys::KeyFault::Public(r)) => Err(bad(r)),
        },
        _ => Err(SignError::NoPublicKey),
    }
}
