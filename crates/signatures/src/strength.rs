//! How strong a configured webhook secret must be, per scheme (what `switchboard
//! security audit` checks). The rule states a length, the one property of a secret that
//! can be checked without knowing how it was made.

use secrecy::{ExposeSecret, SecretString};

use crate::Scheme;
use crate::crypto::decode_key_base64;

/// What a scheme needs of each configured secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretRule {
    /// `whsec_` + base64 of at least `min_bytes` random bytes (Standard Webhooks, Svix:
    /// the specification asks for 24 to 64). `whpk_`/`whsk_` Ed25519 keys have a fixed
    /// size and always pass.
    WhsecBytes {
        /// Fewest decoded bytes.
        min_bytes: usize,
    },
    /// An HMAC key used as written: at least `min_chars` characters.
    MinChars {
        /// Fewest characters.
        min_chars: usize,
    },
    /// A public key (Discord: Ed25519; SendGrid: ECDSA P-256): fixed size and not
    /// secret, nothing to check.
    PublicKey,
}

impl SecretRule {
    /// The rule in words, for reports.
    pub fn describe(&self) -> String {
        match self {
            Self::WhsecBytes { min_bytes } => {
                format!("whsec_ followed by base64 of at least {min_bytes} random bytes")
            }
            Self::MinChars { min_chars } => format!("at least {min_chars} characters"),
            Self::PublicKey => "a public key (not a secret)".to_owned(),
        }
    }
}

/// A secret shorter than its scheme's rule: how long it is and how long it must be
/// (never the secret itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeakSecret {
    /// Its length (bytes after decoding for `whsec_`, else characters).
    pub have: usize,
    /// The rule's minimum.
    pub need: usize,
    /// `bytes` or `characters`.
    pub unit: &'static str,
}

impl Scheme {
    /// What this scheme needs of a configured secret:
    /// - Standard Webhooks and Svix: `whsec_` + at least 24 random bytes (their spec);
    /// - Discord and SendGrid: a public key, nothing to check;
    /// - Square and Zoom: at least 22 characters (the length of the keys they issue);
    ///   WorkOS and Box the same (their docs give no length for the keys they issue);
    /// - every other HMAC scheme, generic-hmac included: at least 32 characters (a
    ///   SHA-256 key's worth; GitHub, Typeform, Twitch, Calendly and generic-hmac
    ///   secrets are chosen by the operator, the others are issued at that length or
    ///   longer).
    pub fn secret_rule(&self) -> SecretRule {
        match self {
            Self::StandardWebhooks | Self::Svix => SecretRule::WhsecBytes { min_bytes: 24 },
            Self::Discord | Self::Sendgrid => SecretRule::PublicKey,
            // No configured secret at all: the key is fetched from the provider.
            Self::Plaid | Self::Paypal => SecretRule::PublicKey,
            Self::Square | Self::Zoom | Self::Workos | Self::Box => {
                SecretRule::MinChars { min_chars: 22 }
            }
            Self::Stripe
            | Self::Github
            | Self::Slack
            | Self::Shopify
            | Self::Twilio
            | Self::TwitchEventsub
            | Self::Linear
            | Self::Intercom
            | Self::HubspotV3
            | Self::Mailgun
            | Self::Calendly
            | Self::Typeform
            | Self::Docusign
            | Self::PaddleBilling
            | Self::Webflow
            | Self::Zendesk
            | Self::Buildkite
            | Self::Monday
            | Self::Fusionauth
            | Self::Trello
            | Self::Tiktok
            | Self::Atlassian
            | Self::GenericHmac(_) => SecretRule::MinChars { min_chars: 32 },
        }
    }
}

/// Checks `secret` against `scheme`'s [`SecretRule`].
pub fn check_secret_strength(scheme: &Scheme, secret: &SecretString) -> Result<(), WeakSecret> {
    let text = secret.expose_secret().trim();
    match scheme.secret_rule() {
        SecretRule::PublicKey => Ok(()),
        SecretRule::WhsecBytes { min_bytes } => {
            if text.starts_with("whpk_") || text.starts_with("whsk_") {
                return Ok(());
            }
            let b64 = text.strip_prefix("whsec_").unwrap_or(text);
            let have = decode_key_base64(b64).map_or(0, |k| k.len());
            if have >= min_bytes {
                Ok(())
            } else {
                Err(WeakSecret {
                    have,
                    need: min_bytes,
                    unit: "bytes",
                })
            }
        }
        SecretRule::MinChars { min_chars } => {
            let have = text.chars().count();
            if have >= min_chars {
                Ok(())
            } else {
                Err(WeakSecret {
                    have,
                    need: min_chars,
                    unit: "characters",
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> SecretString {
        SecretString::from(v.to_owned())
    }

    #[test]
    fn whsec_needs_24_decoded_bytes() {
        use base64::Engine as _;
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        let sw = Scheme::StandardWebhooks;
        assert_eq!(
            check_secret_strength(&sw, &s(&format!("whsec_{}", b64(24)))),
            Ok(())
        );
        assert_eq!(
            check_secret_strength(&Scheme::Svix, &s(&format!("whsec_{}", b64(16)))),
            Err(WeakSecret {
                have: 16,
                need: 24,
                unit: "bytes"
            })
        );
        // Not base64 at all counts as nothing.
        assert_eq!(
            check_secret_strength(&sw, &s("whsec_!!!")).map_err(|w| w.have),
            Err(0)
        );
        // Ed25519 keys have a fixed size.
        assert_eq!(check_secret_strength(&sw, &s("whpk_AAAA")), Ok(()));
    }

    #[test]
    fn hmac_schemes_need_their_length_in_characters() {
        let short = s("0123456789abcdef0123456789");
        assert_eq!(
            check_secret_strength(&Scheme::Github, &short),
            Err(WeakSecret {
                have: 26,
                need: 32,
                unit: "characters"
            })
        );
        assert_eq!(check_secret_strength(&Scheme::Square, &short), Ok(()));
        assert_eq!(
            check_secret_strength(&Scheme::Github, &s(&"x".repeat(32))),
            Ok(())
        );
        assert_eq!(check_secret_strength(&Scheme::Discord, &s("ab")), Ok(()));
        for scheme in Scheme::BUILT_IN {
            // Every scheme has a rule that can be said.
            assert!(!scheme.secret_rule().describe().is_empty());
        }
    }
}
