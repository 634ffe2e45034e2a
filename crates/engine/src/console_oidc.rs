//! Signing in to the admin console with an OpenID Connect provider (`[console.oidc]`).
//!
//! The authorization-code flow with PKCE (S256), a `state` and a `nonce`, reusing the
//! connections' discovery ([`crate::discovery`]) and ID-token validation
//! ([`crate::oidc`]). The start gives the browser a random secret (its sign-in cookie);
//! the store keeps the SHA-256 of the state and of that secret, so only the browser that
//! started can finish, once, within 10 minutes. The PKCE verifier and the nonce are
//! derived from the browser's secret and never stored. The ID token must come from the
//! configured issuer for this client, with this nonce; the user is let in when the
//! provider verified an e-mail address listed in `allowed_emails`, or when the
//! `groups_claim` lists a group of `allowed_groups`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration as ChronoDuration;
use sha2::{Digest as _, Sha256};
use store::ConsoleLoginRecord;
use vault::{ExposeSecret, SecretString};

use crate::console::{ConsoleUser, NewConsoleSession};
use crate::ids::{random_token, token_hash};
use crate::oidc::Expected;
use crate::{Actor, Engine, EngineError, EngineResult};

/// The path of the callback, under `public_url`.
pub const CALLBACK_PATH: &str = "/ui/sign-in/oidc/callback";
const LOGIN_TTL_MINUTES: i64 = 10;

/// Where to send the browser, and the secret for its sign-in cookie.
#[derive(Debug)]
pub struct OidcStart {
    /// The provider's authorization URL with every parameter.
    pub redirect_url: String,
    /// The browser's secret (its cookie, HttpOnly).
    pub browser_secret: SecretString,
}

fn derive(secret: &str, what: &str) -> String {
    URL_SAFE_NO_PAD.encode(
        Sha256::new()
            .chain_update(b"switchboard.console.oidc.v1\0")
            .chain_update(what.as_bytes())
            .chain_update(b"\0")
            .chain_update(secret.as_bytes())
            .finalize(),
    )
}

/// What the provider's discovery document gave.
struct Endpoints {
    authorization_url: String,
    token_url: String,
    jwks_url: String,
    issuer: String,
    userinfo_url: Option<String>,
}

fn not_configured() -> EngineError {
    EngineError::NotFound {
        what: "console OpenID Connect sign-in",
        id: "[console.oidc]".into(),
    }
}

fn refused() -> EngineError {
    EngineError::Unauthenticated("the sign-in did not complete; start it again")
}

impl Engine {
    async fn console_oidc_endpoints(&self) -> EngineResult<Endpoints> {
        let cfg = self.config();
        let oidc = cfg.console.oidc.as_ref().ok_or_else(not_configured)?;
        let custom = catalog::CustomProvider {
            id: "console-oidc".into(),
            issuer: Some(oidc.issuer.clone()),
            ..Default::default()
        };
        let found = crate::discovery::discover(&self.outbound(), &[custom], self.dev())
            .await
            .map_err(|e| EngineError::ProviderUnavailable(e.to_string()))?;
        let oauth = found
            .into_iter()
            .next()
            .and_then(|p| p.oauth2)
            .ok_or_else(|| {
                EngineError::ProviderUnavailable(
                    "the console's OpenID Connect provider has no OAuth2 endpoints".into(),
                )
            })?;
        let missing = |what: &str| {
            EngineError::ProviderUnavailable(format!(
                "the console's OpenID Connect provider's discovery document has no {what}"
            ))
        };
        Ok(Endpoints {
            authorization_url: oauth
                .authorization_url
                .clone()
                .ok_or_else(|| missing("authorization_endpoint"))?,
            token_url: oauth.token_url.clone(),
            jwks_url: oauth.jwks_url.clone().ok_or_else(|| missing("jwks_uri"))?,
            issuer: oauth.issuer.clone().unwrap_or_else(|| oidc.issuer.clone()),
            userinfo_url: oauth.userinfo_url.clone(),
        })
    }

    fn console_redirect_uri(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.config().public_url)
    }

    /// Starts a sign-in: stores the state, returns the provider's URL and the browser's
    /// secret. `next` is where the console goes afterwards (checked by the caller).
    pub async fn console_oidc_start(
        &self,
        next: &str,
        login_hint: Option<&str>,
    ) -> EngineResult<OidcStart> {
        let cfg = self.config();
        let oidc = cfg.console.oidc.as_ref().ok_or_else(not_configured)?;
        let ep = self.console_oidc_endpoints().await?;
        let state = random_token()?;
        let secret = random_token()?;
        self.inner
            .store
            .insert_console_login(&ConsoleLoginRecord {
                state_hash: token_hash(&state),
                browser_hash: token_hash(&secret),
                next: next.to_owned(),
                expires_at: self.now() + ChronoDuration::minutes(LOGIN_TTL_MINUTES),
            })
            .await?;
        let verifier = derive(&secret, "pkce");
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let mut url = url::Url::parse(&ep.authorization_url).map_err(|_| {
            EngineError::ProviderUnavailable("the authorization endpoint is not a URL".into())
        })?;
        let mut scope = "openid email profile".to_owned();
        if !oidc.allowed_groups.is_empty() && oidc.groups_claim == "groups" {
            scope.push_str(" groups");
        }
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &oidc.client_id)
                .append_pair("redirect_uri", &self.console_redirect_uri())
                .append_pair("scope", &scope)
                .append_pair("state", &state)
                .append_pair("nonce", &derive(&secret, "nonce"))
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(h) = login_hint.filter(|h| !h.is_empty() && h.len() <= 256) {
                q.append_pair("login_hint", h);
            }
        }
        Ok(OidcStart {
            redirect_url: url.into(),
            browser_secret: SecretString::from(secret),
        })
    }

    /// Finishes a sign-in at the callback: takes the state (once), checks it belongs to
    /// this browser, exchanges the code, validates the ID token, checks who may sign in,
    /// and starts a session (audited `console.sign_in`, actor `oidc:<e-mail>`). Returns
    /// the session and where to go next. A state that is unknown, used, expired or of
    /// another browser is [`EngineError::Unauthenticated`]; a user not allowed is
    /// [`EngineError::Forbidden`].
    pub async fn console_oidc_finish(
        &self,
        state: &str,
        code: &str,
        browser_secret: &str,
    ) -> EngineResult<(NewConsoleSession, String)> {
        let cfg = self.config();
        let oidc = cfg.console.oidc.as_ref().ok_or_else(not_configured)?;
        if state.is_empty() || state.len() > 512 || code.is_empty() || code.len() > 4096 {
            return Err(refused());
        }
        let Some(login) = self
            .inner
            .store
            .take_console_login(&token_hash(state))
            .await?
        else {
            return Err(refused());
        };
        if !vault::constant_time_eq(&login.browser_hash, &token_hash(browser_secret))
            || self.now() >= login.expires_at
        {
            return Err(refused());
        }
        let ep = self.console_oidc_endpoints().await?;
        let outbound = self.outbound();
        let token_url = outbound
            .check(&ep.token_url)
            .map_err(|e| EngineError::ProviderUnavailable(e.to_string()))?;
        let verifier = derive(browser_secret, "pkce");
        let redirect_uri = self.console_redirect_uri();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let mut req = outbound.client().post(token_url.clone());
        match &oidc.client_secret {
            Some(s) => req = req.basic_auth(&oidc.client_id, Some(s.expose_secret())),
            None => form.push(("client_id", oidc.client_id.as_str())),
        }
        let resp = req.form(&form).send().await.map_err(|e| {
            EngineError::ProviderUnavailable(
                crate::http::OutboundError::from_reqwest(&token_url, e).to_string(),
            )
        })?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        if !status.is_success() {
            tracing::warn!(status = status.as_u16(), error = ?body.get("error"), "the console's OpenID Connect provider refused the code");
            return Err(refused());
        }
        let id_token = body
            .get("id_token")
            .and_then(|v| v.as_str())
            .ok_or_else(refused)?;
        let nonce = derive(browser_secret, "nonce");
        let claims = self
            .inner
            .id_tokens
            .validate(
                &outbound,
                &ep.jwks_url,
                id_token,
                &Expected {
                    issuer: &ep.issuer,
                    client_id: &oidc.client_id,
                    nonce: Some(&nonce),
                    now: self.now(),
                    leeway_secs: 60,
                },
            )
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "console sign-in: the ID token was refused");
                refused()
            })?;
        // Providers may keep e-mail and groups out of the ID token and hand them out at
        // userinfo (for the same subject) instead.
        let mut facts = claims.claims.clone();
        let wants_userinfo = claims.email.is_none()
            || (!oidc.allowed_groups.is_empty() && facts.get(&oidc.groups_claim).is_none());
        if wants_userinfo
            && let (Some(url), Some(access)) = (
                ep.userinfo_url.as_deref(),
                body.get("access_token").and_then(|v| v.as_str()),
            )
            && let Ok(url) = outbound.check(url)
        {
            let info: serde_json::Value =
                match outbound.client().get(url).bearer_auth(access).send().await {
                    Ok(r) if r.status().is_success() => r.json().await.unwrap_or_default(),
                    _ => serde_json::Value::Null,
                };
            if info.get("sub").and_then(|v| v.as_str()) == Some(claims.sub.as_str())
                && let (Some(obj), Some(extra)) = (facts.as_object_mut(), info.as_object())
            {
                for (k, v) in extra {
                    obj.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        let email = facts
            .get("email")
            .and_then(|v| v.as_str())
            .map(str::to_ascii_lowercase);
        let verified = facts.get("email_verified") == Some(&serde_json::Value::Bool(true));
        let by_email = verified
            && email
                .as_deref()
                .is_some_and(|e| oidc.allowed_emails.iter().any(|a| a == e));
        let by_group = facts
            .get(&oidc.groups_claim)
            .and_then(|g| g.as_array())
            .is_some_and(|gs| {
                gs.iter()
                    .filter_map(|g| g.as_str())
                    .any(|g| oidc.allowed_groups.iter().any(|a| a == g))
            });
        let who = email
            .clone()
            .unwrap_or_else(|| format!("sub:{}", claims.sub));
        if !(by_email || by_group) {
            tracing::warn!(user = %who, "console sign-in refused: not in allowed_emails or allowed_groups");
            return Err(EngineError::Forbidden(
                "this account may not use the console".into(),
            ));
        }
        let user = ConsoleUser {
            actor: Actor::Oidc { email: who.clone() },
            display_name: who,
        };
        let new = self.start_console_session(user, None, "oidc").await?;
        Ok((new, login.next))
    }
}
