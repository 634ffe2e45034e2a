//! Why a verification or a signing failed. No message ever contains a secret, a key or
//! a full signature: only header names, counts, ages and short version tags.

/// Why a webhook did not verify. Each variant names the one check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// No secret (or public key) is configured, so nothing can be checked.
    #[error("no webhook secret is configured")]
    NoSecrets,
    /// The request is signed with the app's own secret (Atlassian: a JWT in
    /// `Authorization`, from a webhook an OAuth 2.0 app registered), but none is given.
    #[error("the request is signed with the app's client secret, but none is configured")]
    NoAppSecret,
    /// A header the scheme needs is absent.
    #[error("missing header {header}")]
    MissingHeader {
        /// The header's name, as the provider spells it.
        header: String,
    },
    /// A header is present but cannot be read.
    #[error("malformed header {header}: {reason}")]
    MalformedHeader {
        /// The header's name.
        header: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A field the scheme reads from the body is absent.
    #[error("missing field {field} in the body")]
    MissingField {
        /// The field's name.
        field: &'static str,
    },
    /// A field of the body is present but cannot be read.
    #[error("malformed field {field} in the body: {reason}")]
    MalformedField {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The scheme signs a part of the request (URL, method) that was not given.
    #[error("the request {part} is part of what this scheme signs but was not given")]
    MissingRequestPart {
        /// `url` or `method`.
        part: &'static str,
    },
    /// The signed timestamp is too far from now (a replay, or a clock far off).
    #[error(
        "timestamp outside tolerance: {} {} s, tolerance {tolerance_secs} s",
        if *age_secs < 0 { "in the future by" } else { "age" },
        age_secs.unsigned_abs()
    )]
    TimestampOutsideTolerance {
        /// Now minus the signed time, in seconds; negative when it is in the future.
        age_secs: i64,
        /// The tolerance that applied, in seconds.
        tolerance_secs: u64,
    },
    /// The signed token's `exp` has passed (monday.com).
    #[error("the signed token expired {expired_secs} s ago")]
    TokenExpired {
        /// Now minus `exp`, in seconds.
        expired_secs: i64,
    },
    /// The signature header carries no signature at all.
    #[error("header {header} carries no signature")]
    NoSignatures {
        /// The header's name.
        header: String,
    },
    /// The header only carries signatures of a version or algorithm this scheme does not use.
    #[error("unsupported signature version or algorithm {found:?} in header {header}")]
    UnsupportedAlgorithm {
        /// The header's name.
        header: String,
        /// The version tag found (at most 16 characters, `?` when not printable).
        found: String,
    },
    /// More signatures than are ever checked.
    #[error("header {header} carries more than {max} signatures")]
    TooManySignatures {
        /// The header's name.
        header: String,
        /// The limit.
        max: usize,
    },
    /// The signatures are of a kind no configured key can check (e.g. only `v1a`
    /// Ed25519 signatures while only `whsec_` secrets are configured).
    #[error("no configured key can check a {version} signature")]
    NoKeyForVersion {
        /// The signature version, e.g. `v1a`.
        version: &'static str,
    },
    /// Well-formed signatures, none of which matched any configured secret.
    #[error(
        "none of the {signatures} signature(s) matched any of the {secrets} configured secret(s)"
    )]
    NoMatch {
        /// How many signatures were checked.
        signatures: usize,
        /// How many secrets were configured.
        secrets: usize,
    },
    /// A configured secret is not in the form this scheme needs.
    #[error("configured secret #{index} is not usable with this scheme: {reason}")]
    BadSecret {
        /// Its position in the configured list (0-based).
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A configured public key (Ed25519, or ECDSA P-256 for SendGrid) is not valid.
    #[error("configured public key #{index} is not a valid public key for this scheme: {reason}")]
    BadPublicKey {
        /// Its position in the configured list (0-based).
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Twilio JSON webhooks: the `bodySHA256` URL parameter does not match the body.
    #[error("the bodySHA256 URL parameter does not match the SHA-256 of the body")]
    BodyHashMismatch,
    /// The `generic-hmac` configuration cannot be used.
    #[error("invalid generic-hmac configuration: {0}")]
    InvalidConfig(&'static str),
    /// The scheme verifies with a key the provider hands out: use
    /// [`crate::verify_with_key`] (or, for any other scheme, [`crate::verify`]).
    #[error(
        "this scheme verifies with a key fetched from the provider, not with configured secrets"
    )]
    KeyNotFetched,
    /// The provider's key is outside its validity period (an expired Plaid key, a
    /// certificate not yet or no longer valid).
    #[error("the provider's key is expired or not yet valid")]
    KeyExpired,
    /// A setting of the integration that the scheme signs is not configured (PayPal's
    /// `webhook_id`).
    #[error("the integration setting {0} is not configured")]
    MissingSetting(&'static str),
}

impl VerifyError {
    /// A stable snake_case code for API errors, metrics and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoSecrets => "no_secrets",
            Self::NoAppSecret => "no_app_secret",
            Self::MissingHeader { .. } => "missing_header",
            Self::MalformedHeader { .. } => "malformed_header",
            Self::MissingField { .. } => "missing_field",
            Self::MalformedField { .. } => "malformed_field",
            Self::MissingRequestPart { .. } => "missing_request_part",
            Self::TimestampOutsideTolerance { .. } => "timestamp_outside_tolerance",
            Self::TokenExpired { .. } => "token_expired",
            Self::NoSignatures { .. } => "no_signatures",
            Self::UnsupportedAlgorithm { .. } => "unsupported_algorithm",
            Self::TooManySignatures { .. } => "too_many_signatures",
            Self::NoKeyForVersion { .. } => "no_key_for_version",
            Self::NoMatch { .. } => "no_match",
            Self::BadSecret { .. } => "bad_secret",
            Self::BadPublicKey { .. } => "bad_public_key",
            Self::BodyHashMismatch => "body_hash_mismatch",
            Self::InvalidConfig(_) => "invalid_config",
            Self::KeyNotFetched => "key_not_fetched",
            Self::KeyExpired => "key_expired",
            Self::MissingSetting(_) => "missing_setting",
        }
    }

    /// True when the fault is in the configuration (secrets, keys, generic-hmac), not in
    /// the request: the operator must act, the sender cannot.
    pub fn is_config_error(&self) -> bool {
        matches!(
            self,
            Self::NoSecrets
                | Self::NoAppSecret
                | Self::BadSecret { .. }
                | Self::BadPublicKey { .. }
                | Self::InvalidConfig(_)
                | Self::KeyNotFetched
                | Self::MissingSetting(_)
        )
    }

    pub(crate) fn missing(header: &str) -> Self {
        Self::MissingHeader {
            header: header.to_owned(),
        }
    }

    pub(crate) fn malformed(header: &str, reason: &'static str) -> Self {
        Self::MalformedHeader {
            header: header.to_owned(),
            reason,
        }
    }

    pub(crate) fn unsupported(header: &str, found: &str) -> Self {
        Self::UnsupportedAlgorithm {
            header: header.to_owned(),
            found: printable_tag(found),
        }
    }
}

/// A version tag is echoed only when short and plain, so nothing long or odd from the
/// request ends up in a log.
fn printable_tag(found: &str) -> String {
    if !found.is_empty()
        && found.len() <= 16
        && found
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        found.to_owned()
    } else {
        "?".to_owned()
    }
}

/// Why a signature could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// No secret was given.
    #[error("no secret to sign with")]
    NoSecrets,
    /// A secret is not in the form this scheme needs.
    #[error("secret #{index} cannot sign with this scheme: {reason}")]
    BadSecret {
        /// Its position in the list (0-based).
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The scheme signs an input that was not given (`id`, `url`, `method`).
    #[error("this scheme needs the {0} to sign")]
    MissingInput(&'static str),
    /// An input cannot travel in a header as it is (control characters, or spaces at
    /// either end, which HTTP drops).
    #[error("the {0} cannot be sent as a header value")]
    InvalidInput(&'static str),
    /// The timestamp cannot be written in the scheme's format.
    #[error("the timestamp is out of range for this scheme")]
    TimestampOutOfRange,
    /// The `generic-hmac` configuration cannot be used.
    #[error("invalid generic-hmac configuration: {0}")]
    InvalidConfig(&'static str),
    /// The scheme uses shared secrets, so there is no public key to derive.
    #[error("this scheme uses shared secrets, not key pairs")]
    NoPublicKey,
    /// Only the provider can sign with this scheme: its key is the provider's own
    /// (Plaid, PayPal); send a test event with the provider's simulator.
    #[error(
        "only the provider signs with this scheme (its private key is the provider's); use the provider's webhook simulator"
    )]
    ProviderKeyOnly,
}
