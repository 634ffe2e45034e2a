//! The schemes, grouped by family, and the helpers they share.

mod atlassian;
mod body;
mod boxsig;
mod discord;
mod hubspot;
#[cfg(test)]
pub(crate) use hubspot::decode_uri as hubspot_decode_uri;
mod jwt;
mod mailgun;
pub(crate) mod paypal;
pub(crate) mod plaid;
pub(crate) mod sendgrid;
mod stamped;
mod standard;
mod tlist;
mod twilio;

use secrecy::SecretString;

use crate::crypto::{self, HmacAlgorithm, MAX_SIGNATURES, SignatureEncoding};
use crate::keys::raw_key;
use crate::{Request, Scheme, SignError, SignRequest, Signed, Verified, VerifyError};

/// Everything a scheme's verification reads.
pub(crate) struct Ctx<'a> {
    pub req: &'a Request<'a>,
    /// The webhook secrets (or public keys); empty only for a scheme that takes the
    /// app's secret, when that is all there is.
    pub secrets: &'a [SecretString],
    /// The app's own secret(s), for the schemes that take one; empty for the others.
    pub app: &'a [SecretString],
    pub now: i64,
    /// The tolerance in force (override or scheme default); `None` when none applies.
    pub tolerance: Option<u64>,
}

impl Ctx<'_> {
    /// Checks a signed timestamp in seconds against the tolerance in force.
    pub fn check_time(&self, ts: i64) -> Result<(), VerifyError> {
        match self.tolerance {
            Some(t) => crypto::check_tolerance(self.now, ts, t),
            None => Ok(()),
        }
    }

    /// Checks a signed timestamp in milliseconds against the tolerance in force.
    pub fn check_time_ms(&self, ts_ms: i64) -> Result<(), VerifyError> {
        match self.tolerance {
            Some(t) => {
                crypto::check_tolerance_ms(i128::from(self.now) * 1000, i128::from(ts_ms), t)
            }
            None => Ok(()),
        }
    }

    /// The request URL, which the scheme signs.
    pub fn url(&self) -> Result<&str, VerifyError> {
        let url = self.req.url.trim();
        if url.is_empty() {
            return Err(VerifyError::MissingRequestPart { part: "url" });
        }
        Ok(url)
    }

    /// Finds the secret whose HMAC (of `alg`, over `parts`, keyed by the secret's bytes)
    /// equals one of `candidates`.
    pub fn match_raw(
        &self,
        alg: HmacAlgorithm,
        parts: &[&[u8]],
        candidates: &[Vec<u8>],
    ) -> Result<usize, VerifyError> {
        for (index, secret) in self.secrets.iter().enumerate() {
            let key = raw_key(secret).map_err(|reason| VerifyError::BadSecret { index, reason })?;
            if crypto::find_match(&crypto::hmac(alg, key, parts), candidates) {
                return Ok(index);
            }
        }
        Err(VerifyError::NoMatch {
            signatures: candidates.len(),
            secrets: self.secrets.len(),
        })
    }
}

/// A verification result with no timestamp or id.
pub(crate) fn verified(secret_index: usize) -> Verified {
    Verified {
        secret_index,
        timestamp: None,
        id: None,
        key: crate::KeyRole::Webhook,
    }
}

/// Reads `{prefix}{encoded signature}` from a header value.
pub(crate) fn prefixed_sig(
    header: &str,
    value: &str,
    prefix: &str,
    enc: SignatureEncoding,
) -> Result<Vec<u8>, VerifyError> {
    let Some(sig) = value.strip_prefix(prefix) else {
        let tag = value.split_once(['=', ',']).map_or("", |(t, _)| t);
        return Err(VerifyError::unsupported(header, tag));
    };
    decode_sig(header, sig, enc)
}

/// Decodes one signature, naming the header when it is not valid.
pub(crate) fn decode_sig(
    header: &str,
    sig: &str,
    enc: SignatureEncoding,
) -> Result<Vec<u8>, VerifyError> {
    if sig.is_empty() {
        return Err(VerifyError::NoSignatures {
            header: header.to_owned(),
        });
    }
    crypto::decode(enc, sig).ok_or_else(|| {
        VerifyError::malformed(
            header,
            match enc {
                SignatureEncoding::Hex => "signature is not hex",
                SignatureEncoding::Base64 => "signature is not base64",
            },
        )
    })
}

/// Refuses more signatures than are ever checked.
pub(crate) fn check_count(header: &str, n: usize) -> Result<(), VerifyError> {
    if n > MAX_SIGNATURES {
        return Err(VerifyError::TooManySignatures {
            header: header.to_owned(),
            max: MAX_SIGNATURES,
        });
    }
    Ok(())
}

/// HMAC with the first secret's raw bytes, encoded.
pub(crate) fn sign_raw(
    secrets: &[SecretString],
    alg: HmacAlgorithm,
    parts: &[&[u8]],
    enc: SignatureEncoding,
) -> Result<String, SignError> {
    let key = raw_key(&secrets[0]).map_err(|reason| SignError::BadSecret { index: 0, reason })?;
    Ok(crypto::encode(enc, &crypto::hmac(alg, key, parts)))
}

/// HMAC with every secret's raw bytes, encoded, in order.
pub(crate) fn sign_raw_all(
    secrets: &[SecretString],
    alg: HmacAlgorithm,
    parts: &[&[u8]],
    enc: SignatureEncoding,
) -> Result<Vec<String>, SignError> {
    secrets
        .iter()
        .enumerate()
        .map(|(index, s)| {
            let key = raw_key(s).map_err(|reason| SignError::BadSecret { index, reason })?;
            Ok(crypto::encode(enc, &crypto::hmac(alg, key, parts)))
        })
        .collect()
}

/// The signing URL, required by the scheme.
pub(crate) fn sign_url<'a>(input: &SignRequest<'a>) -> Result<&'a str, SignError> {
    let url = input.url.trim();
    if url.is_empty() {
        return Err(SignError::MissingInput("url"));
    }
    Ok(url)
}

/// The signing id, required by the scheme, and sendable as a header value.
pub(crate) fn sign_id<'a>(input: &SignRequest<'a>) -> Result<&'a str, SignError> {
    let id = input
        .id
        .filter(|s| !s.is_empty())
        .ok_or(SignError::MissingInput("id"))?;
    if id.trim() != id || id.chars().any(char::is_control) {
        return Err(SignError::InvalidInput("id"));
    }
    Ok(id)
}

pub(crate) fn verify(scheme: &Scheme, ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    match scheme {
        Scheme::StandardWebhooks => standard::verify(standard::STANDARD, ctx),
        Scheme::Svix => standard::verify(standard::SVIX, ctx),
        Scheme::Stripe => tlist::verify(&tlist::STRIPE, ctx),
        Scheme::Calendly => tlist::verify(&tlist::CALENDLY, ctx),
        Scheme::PaddleBilling => tlist::verify(&tlist::PADDLE, ctx),
        Scheme::Workos => tlist::verify(&tlist::WORKOS, ctx),
        Scheme::Buildkite => tlist::verify(&tlist::BUILDKITE, ctx),
        Scheme::Monday => jwt::verify(&jwt::MONDAY, ctx),
        Scheme::Fusionauth => jwt::verify(&jwt::FUSIONAUTH, ctx),
        Scheme::Atlassian => atlassian::verify(ctx),
        Scheme::Github => body::verify_github(ctx),
        Scheme::Intercom => body::verify(&body::INTERCOM, ctx),
        Scheme::Shopify => body::verify_shopify(ctx),
        Scheme::Typeform => body::verify(&body::TYPEFORM, ctx),
        Scheme::Linear => body::verify_linear(ctx),
        Scheme::Square => body::verify_square(ctx),
        Scheme::Trello => body::verify_trello(ctx),
        Scheme::Tiktok => tlist::verify(&tlist::TIKTOK, ctx),
        Scheme::Docusign => body::verify_docusign(ctx),
        Scheme::Slack => stamped::verify(&stamped::SLACK, ctx),
        Scheme::Zoom => stamped::verify(&stamped::ZOOM, ctx),
        Scheme::TwitchEventsub => stamped::verify(&stamped::TWITCH, ctx),
        Scheme::Webflow => stamped::verify(&stamped::WEBFLOW, ctx),
        Scheme::Zendesk => stamped::verify(&stamped::ZENDESK, ctx),
        Scheme::Box => boxsig::verify(ctx),
        Scheme::Sendgrid => sendgrid::verify(ctx),
        Scheme::Discord => discord::verify(ctx),
        Scheme::Twilio => twilio::verify(ctx),
        Scheme::HubspotV3 => hubspot::verify(ctx),
        Scheme::Mailgun => mailgun::verify(ctx),
        Scheme::GenericHmac(g) => g.verify(ctx),
        Scheme::Plaid | Scheme::Paypal => Err(VerifyError::KeyNotFetched),
    }
}

pub(crate) fn sign(
    scheme: &Scheme,
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    match scheme {
        Scheme::StandardWebhooks => standard::sign(standard::STANDARD, secrets, input),
        Scheme::Svix => standard::sign(standard::SVIX, secrets, input),
        Scheme::Stripe => tlist::sign(&tlist::STRIPE, secrets, input),
        Scheme::Calendly => tlist::sign(&tlist::CALENDLY, secrets, input),
        Scheme::PaddleBilling => tlist::sign(&tlist::PADDLE, secrets, input),
        Scheme::Workos => tlist::sign(&tlist::WORKOS, secrets, input),
        Scheme::Buildkite => tlist::sign(&tlist::BUILDKITE, secrets, input),
        Scheme::Monday => jwt::sign(&jwt::MONDAY, secrets, input),
        Scheme::Fusionauth => jwt::sign(&jwt::FUSIONAUTH, secrets, input),
        Scheme::Atlassian => atlassian::sign_admin(secrets, input),
        Scheme::Github => body::sign_github(secrets, input),
        Scheme::Intercom => body::sign(&body::INTERCOM, secrets, input),
        Scheme::Shopify => body::sign(&body::SHOPIFY, secrets, input),
        Scheme::Typeform => body::sign(&body::TYPEFORM, secrets, input),
        Scheme::Linear => body::sign(&body::LINEAR, secrets, input),
        Scheme::Square => body::sign_square(secrets, input),
        Scheme::Trello => body::sign_trello(secrets, input),
        Scheme::Tiktok => tlist::sign(&tlist::TIKTOK, secrets, input),
        Scheme::Docusign => body::sign_docusign(secrets, input),
        Scheme::Slack => stamped::sign(&stamped::SLACK, secrets, input),
        Scheme::Zoom => stamped::sign(&stamped::ZOOM, secrets, input),
        Scheme::TwitchEventsub => stamped::sign(&stamped::TWITCH, secrets, input),
        Scheme::Webflow => stamped::sign(&stamped::WEBFLOW, secrets, input),
        Scheme::Zendesk => stamped::sign(&stamped::ZENDESK, secrets, input),
        Scheme::Box => boxsig::sign(secrets, input),
        Scheme::Sendgrid => sendgrid::sign(secrets, input),
        Scheme::Discord => discord::sign(secrets, input),
        Scheme::Twilio => twilio::sign(secrets, input),
        Scheme::HubspotV3 => hubspot::sign(secrets, input),
        Scheme::Mailgun => mailgun::sign(secrets, input),
        Scheme::GenericHmac(g) => g.sign(secrets, input),
        Scheme::Plaid | Scheme::Paypal => Err(SignError::ProviderKeyOnly),
    }
}

/// Signs with the app's own secret, for the schemes that take one.
pub(crate) fn sign_app(
    scheme: &Scheme,
    app: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    match scheme {
        Scheme::Atlassian => atlassian::sign_app(app, input),
        _ => sign(scheme, app, input),
    }
}
