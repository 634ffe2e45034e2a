//! The catalog's errors. Messages name the provider, the key and what to do; they never
//! contain a substituted value (a value may be a token, as in HubSpot's revocation URL).

/// Everything that can go wrong reading, validating or using a provider definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The TOML (or JSON) text does not parse or has a key the format does not know.
    #[error("provider {provider:?}: {message}; see crates/catalog/README.md for the file format")]
    Parse {
        /// The provider (file name or configured id).
        provider: String,
        /// The parser's message, naming the key and its line.
        message: String,
    },
    /// A key holds a value that is not allowed.
    #[error("provider {provider:?}: `{key}` {message}")]
    Invalid {
        /// The provider.
        provider: String,
        /// The key, dotted (`oauth2.token_url`).
        key: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// No provider of that id.
    #[error(
        "unknown provider {0:?}; `switchboard providers list` shows the built-in ones, or declare it under [[providers]]"
    )]
    UnknownProvider(String),
    /// Two providers share an id.
    #[error(
        "provider {0:?} is defined twice; give the custom provider another id (built-in providers need no entry)"
    )]
    Duplicate(String),
    /// A URL template is malformed or names a placeholder that is not declared.
    #[error("URL template {template:?}: {message}")]
    Template {
        /// The template.
        template: String,
        /// What is wrong.
        message: String,
    },
    /// A value given for a placeholder is refused (the value itself is never shown).
    #[error("value for {{{placeholder}}} refused: {reason}")]
    BadValue {
        /// The placeholder's name.
        placeholder: String,
        /// Why it was refused.
        reason: String,
    },
    /// A placeholder has no value and no default.
    #[error(
        "no value for {{{placeholder}}}; it comes from {source_name}, set it there before using this URL"
    )]
    MissingValue {
        /// The placeholder's name.
        placeholder: String,
        /// Where its value should come from (`connection setting "shop"`…).
        source_name: String,
    },
    /// An OpenID / RFC 8414 discovery document cannot be used.
    #[error("provider {provider:?}: discovery document from {issuer:?}: {message}")]
    Discovery {
        /// The custom provider's id.
        provider: String,
        /// The configured issuer.
        issuer: String,
        /// What is wrong and what to do.
        message: String,
    },
}

impl CatalogError {
    pub(crate) fn invalid(
        provider: &str,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            provider: provider.to_owned(),
            key: key.into(),
            message: message.into(),
        }
    }

    pub(crate) fn bad_value(placeholder: &str, reason: impl Into<String>) -> Self {
        Self::BadValue {
            placeholder: placeholder.to_owned(),
            reason: reason.into(),
        }
    }
}
