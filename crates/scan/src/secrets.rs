//! The deployment's own secrets, held by name and found literally.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// Shortest configured secret that is searched for: a shorter one would be found in
/// ordinary text (and is too weak to be a secret; `security audit` says so).
pub const MIN_SECRET_LEN: usize = 8;

/// What [`ConfiguredSecrets::add`] did with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    /// It will be searched for under this name.
    Searched,
    /// Shorter than [`MIN_SECRET_LEN`] bytes: not searched for.
    TooShort,
    /// The same value was added before under the name given: found under that name.
    SameAs(String),
}

/// Named secret values. The values stay in [`SecretString`]s (never printed, zeroed on
/// drop); only the names ever leave this type, in findings.
#[derive(Debug, Default)]
pub struct ConfiguredSecrets {
    items: Vec<(String, SecretString)>,
}

impl ConfiguredSecrets {
    /// None yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` under `name` (`integrations.github-main.webhook_secrets[0]`).
    pub fn add(&mut self, name: impl Into<String>, value: SecretString) -> Added {
        let v = value.expose_secret().as_bytes();
        if v.len() < MIN_SECRET_LEN {
            return Added::TooShort;
        }
        if let Some((first, _)) = self
            .items
            .iter()
            .find(|(_, s)| bool::from(s.expose_secret().as_bytes().ct_eq(v)))
        {
            return Added::SameAs(first.clone());
        }
        self.items.push((name.into(), value));
        Added::Searched
    }

    /// The names, in the order they were first added, each once (a name may hold
    /// several spellings of one secret).
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for (n, _) in &self.items {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
        names
    }

    /// How many values are searched for.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.items
            .iter()
            .map(|(n, s)| (n.as_str(), s.expose_secret().as_bytes()))
    }
}
