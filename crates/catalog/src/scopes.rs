//! What OAuth2 scopes let an app do, in plain words (`scopes.toml`, embedded), for the
//! Connect page: provider id → scope → a sentence that completes "The app will be able
//! to …". A scope the file does not know is shown as its code.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The embedded file.
pub const SCOPES_FILE: &str = include_str!("../scopes.toml");

/// provider → scope → words.
pub type ScopeWords = BTreeMap<String, BTreeMap<String, String>>;

/// Parses a scopes file (the embedded one is checked by the crate's tests).
pub fn parse_scope_words(text: &str) -> Result<ScopeWords, toml::de::Error> {
    toml::from_str(text)
}

fn words() -> &'static ScopeWords {
    static WORDS: OnceLock<ScopeWords> = OnceLock::new();
    WORDS.get_or_init(|| {
        parse_scope_words(SCOPES_FILE).unwrap_or_else(|e| panic!("embedded scopes.toml: {e}"))
    })
}

/// The scopes OpenID Connect Core (section 5.4, and 11 for `offline_access`) defines
/// for every provider: described for any provider the file does not cover.
const OPENID_SCOPES: &[(&str, &str)] = &[
    ("openid", "confirm who you are"),
    ("email", "see your email address"),
    ("profile", "see your name and profile"),
    ("offline_access", "keep access when you are not using it"),
    ("address", "see your postal address"),
    ("phone", "see your phone number"),
];

/// What `scope` of `provider` lets the app do, if the catalog knows: the provider's
/// own words, else those of the standard OpenID Connect scopes.
pub fn scope_description(provider: &str, scope: &str) -> Option<&'static str> {
    words()
        .get(provider)
        .and_then(|m| m.get(scope))
        .map(String::as_str)
        .or_else(|| {
            OPENID_SCOPES
                .iter()
                .find(|(s, _)| *s == scope)
                .map(|(_, w)| *w)
        })
}

/// Every provider the scopes file describes.
pub fn described_providers() -> impl Iterator<Item = &'static str> {
    words().keys().map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;

    #[test]
    fn every_provider_of_the_scopes_file_exists_and_no_sentence_is_empty() {
        let parsed = parse_scope_words(SCOPES_FILE).expect("scopes.toml parses");
        let catalog = Catalog::builtin();
        for (provider, scopes) in &parsed {
            let p = catalog
                .get(provider)
                .unwrap_or_else(|| panic!("scopes.toml: no provider {provider:?} in the catalog"));
            assert!(
                p.oauth2.is_some(),
                "scopes.toml: {provider} has no OAuth2 settings"
            );
            assert!(!scopes.is_empty(), "scopes.toml: [{provider}] is empty");
            for (scope, words) in scopes {
                let w = words.trim();
                assert!(!w.is_empty(), "scopes.toml: {provider}.{scope} is empty");
                assert!(
                    !w.ends_with('.') && w.chars().next().is_some_and(char::is_lowercase),
                    "scopes.toml: {provider}.{scope}: lower case, no final full stop: {w:?}"
                );
            }
        }
    }

    #[test]
    fn the_required_providers_are_described_with_their_default_scopes() {
        let catalog = Catalog::builtin();
        for id in [
            "github",
            "google",
            "microsoft",
            "slack",
            "hubspot",
            "salesforce",
            "notion",
            "linear",
            "gitlab",
            "atlassian",
            "zoom",
            "dropbox",
        ] {
            assert!(
                described_providers().any(|p| p == id),
                "scopes.toml does not describe {id}"
            );
            let p = catalog.get(id).unwrap();
            for s in &p.oauth2.as_ref().unwrap().default_scopes {
                assert!(
                    scope_description(id, s).is_some(),
                    "scopes.toml: {id}'s default scope {s:?} is not described"
                );
            }
        }
        assert_eq!(
            scope_description("github", "repo").map(|s| &s[..8]),
            Some("read and")
        );
        assert_eq!(scope_description("github", "no-such-scope"), None);
        assert_eq!(scope_description("no-such-provider", "repo"), None);
        // The standard OpenID Connect scopes are described for any provider.
        assert_eq!(
            scope_description("a-custom-provider", "openid"),
            Some("confirm who you are")
        );
        assert_eq!(
            scope_description("github", "email"),
            Some("see your email address")
        );
    }

    #[test]
    fn a_bad_scopes_file_is_refused() {
        assert!(parse_scope_words("[github]\nrepo = 3\n").is_err());
        assert!(parse_scope_words("github = \"x\"\n").is_err());
    }
}
