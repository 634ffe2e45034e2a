//! `[console]`: the admin console's sessions and its OpenID Connect sign-in.

use serde::Deserialize;
use vault::SecretString;

use crate::{ConfigError, Env, Source, resolve_secret};

/// `[console]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConsole {
    session_idle_secs: Option<u64>,
    session_absolute_secs: Option<u64>,
    oidc: Option<RawConsoleOidc>,
}

/// `[console.oidc]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConsoleOidc {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    #[serde(default)]
    allowed_emails: Vec<String>,
    #[serde(default)]
    allowed_groups: Vec<String>,
    groups_claim: Option<String>,
}

/// The admin console's settings.
#[derive(Debug, Clone)]
pub struct Console {
    /// A session unused for this long ends.
    pub session_idle_secs: u64,
    /// A session ends this long after sign-in, whatever its use.
    pub session_absolute_secs: u64,
    /// Sign-in with an OpenID Connect provider, besides admin API keys.
    pub oidc: Option<ConsoleOidc>,
}

impl Default for Console {
    fn default() -> Self {
        Self {
            session_idle_secs: DEFAULT_IDLE_SECS,
            session_absolute_secs: DEFAULT_ABSOLUTE_SECS,
            oidc: None,
        }
    }
}

/// Who may sign in to the console with an OpenID Connect provider.
#[derive(Debug, Clone)]
pub struct ConsoleOidc {
    /// The provider's issuer (its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    /// This console's client id at the provider.
    pub client_id: String,
    /// The client secret, if the client is confidential (PKCE is used either way).
    pub client_secret: Option<SecretString>,
    /// E-mail addresses (lowercase) that may sign in, when the provider verified them.
    pub allowed_emails: Vec<String>,
    /// Groups whose members may sign in.
    pub allowed_groups: Vec<String>,
    /// The ID token claim that lists the user's groups.
    pub groups_claim: String,
}

impl Console {
    /// Whether two settings are the same (secrets compared in constant time).
    pub fn same(&self, other: &Console) -> bool {
        self.session_idle_secs == other.session_idle_secs
            && self.session_absolute_secs == other.session_absolute_secs
            && match (&self.oidc, &other.oidc) {
                (None, None) => true,
                (Some(a), Some(b)) => {
                    a.issuer == b.issuer
                        && a.client_id == b.client_id
                        && a.allowed_emails == b.allowed_emails
                        && a.allowed_groups == b.allowed_groups
                        && a.groups_claim == b.groups_claim
                        && match (&a.client_secret, &b.client_secret) {
                            (None, None) => true,
                            (Some(x), Some(y)) => vault::secrets_equal(x, y),
                            _ => false,
                        }
                }
                _ => false,
            }
    }
}

const DEFAULT_IDLE_SECS: u64 = 1800;
const DEFAULT_ABSOLUTE_SECS: u64 = 43_200;
const MAX_SECS: u64 = 30 * 86_400;

/// Validates `[console]`.
pub(crate) fn console(
    raw: Option<RawConsole>,
    src: &Source,
    env: &dyn Env,
) -> Result<Console, ConfigError> {
    let raw = raw.unwrap_or_default();
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("console.{key}"),
        origin: src.to_string(),
        message,
    };
    let idle = raw.session_idle_secs.unwrap_or(DEFAULT_IDLE_SECS);
    if !(1..=MAX_SECS).contains(&idle) {
        return Err(invalid(
            "session_idle_secs",
            format!("{idle} is out of range; use 1..={MAX_SECS}"),
        ));
    }
    let absolute = raw.session_absolute_secs.unwrap_or(DEFAULT_ABSOLUTE_SECS);
    if !(1..=MAX_SECS).contains(&absolute) {
        return Err(invalid(
            "session_absolute_secs",
            format!("{absolute} is out of range; use 1..={MAX_SECS}"),
        ));
    }
    if absolute < idle {
        return Err(invalid(
            "session_absolute_secs",
            format!(
                "{absolute} is shorter than session_idle_secs ({idle}); a session's absolute end must not come before its idle end"
            ),
        ));
    }
    let oidc = raw.oidc.map(|o| oidc(o, src, env, &invalid)).transpose()?;
    Ok(Console {
        session_idle_secs: idle,
        session_absolute_secs: absolute,
        oidc,
    })
}

fn oidc(
    o: RawConsoleOidc,
    src: &Source,
    env: &dyn Env,
    invalid: &dyn Fn(&str, String) -> ConfigError,
) -> Result<ConsoleOidc, ConfigError> {
    let issuer = o.issuer.trim().trim_end_matches('/').to_owned();
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| {
            issuer
                .strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        });
    if !(issuer.starts_with("https://") && issuer.len() > "https://".len() || loopback) {
        return Err(invalid(
            "oidc.issuer",
            format!(
                "{issuer:?} is not an https:// URL (http:// is accepted for loopback hosts only)"
            ),
        ));
    }
    if o.client_id.trim().is_empty() {
        return Err(invalid(
            "oidc.client_id",
            "is empty; give the console's client id at the provider".into(),
        ));
    }
    let client_secret = o
        .client_secret
        .map(|v| resolve_secret("console.oidc.client_secret", src, &v, env))
        .transpose()?;
    let mut allowed_emails = Vec::new();
    for (i, e) in o.allowed_emails.iter().enumerate() {
        let e = e.trim().to_ascii_lowercase();
        let ok = e
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
            && !e.contains(char::is_whitespace);
        if !ok {
            return Err(invalid(
                &format!("oidc.allowed_emails[{i}]"),
                format!("{e:?} is not an e-mail address"),
            ));
        }
        allowed_emails.push(e);
    }
    let allowed_groups: Vec<String> = o
        .allowed_groups
        .iter()
        .map(|g| g.trim().to_owned())
        .collect();
    if let Some(i) = allowed_groups.iter().position(String::is_empty) {
        return Err(invalid(
            &format!("oidc.allowed_groups[{i}]"),
            "is empty; remove it or name a group".into(),
        ));
    }
    if allowed_emails.is_empty() && allowed_groups.is_empty() {
        return Err(invalid(
            "oidc",
            "allows nobody; list allowed_emails, allowed_groups or both".into(),
        ));
    }
    let groups_claim = o.groups_claim.unwrap_or_else(|| "groups".into());
    if groups_claim.trim().is_empty() {
        return Err(invalid(
            "oidc.groups_claim",
            "is empty; name the ID token claim that lists groups (default: groups)".into(),
        ));
    }
    Ok(ConsoleOidc {
        issuer,
        client_id: o.client_id.trim().to_owned(),
        client_secret,
        allowed_emails,
        allowed_groups,
        groups_claim,
    })
}
