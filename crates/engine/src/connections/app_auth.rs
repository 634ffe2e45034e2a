//! The auth modes whose tokens are bought with a JWT Switchboard signs, not with a
//! refresh token: a GitHub App's installation access tokens (`github_app`) and the
//! RFC 7523 JWT bearer grant of service accounts (`jwt_bearer`: Google, Salesforce,
//! DocuSign).
//!
//! Both renew through the same fenced single-flight path as OAuth2 refreshes
//! (`tokens.rs`): `call_refresh` hands these modes to [`Engine::signed_grant`], which
//! signs a fresh JWT each time (there is nothing to rotate or lose).
//!
//! A `jwt_bearer` connection may bring a key of its own (a customer's service account;
//! see `signing_key.rs`), which then signs its assertions with its own issuer and key
//! id; otherwise the integration's key does. A GitHub App's key is always the
//! integration's.
//!
//! Invariants:
//! - The private key exists in plaintext only in the configuration's `SecretString`
//!   (or, for a connection's own key, in a zeroize-on-drop `ConnectionKey` opened for
//!   one assertion) and, for one signature, in `jsonwebtoken`'s key; no message or log
//!   holds it, a JWT or a token.
//! - A connection made with a key of its own never signs with the integration's.
//! - Every time claim comes from the engine's clock.
//! - A GitHub App JWT is issued 60 s in the past (clock drift) and lives 9 minutes
//!   (GitHub refuses more than 10).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::{Value, json};
use store::{Connection, ConnectionStatus};
use vault::ExposeSecret;

use super::context::Ctx;
use super::credentials::Credentials;
use super::protocol::{self, TokenError, TokenSet};
use super::signing_key::{ConnectionKey, KEY_ISSUER};
use crate::{Actor, Engine, EngineError, EngineResult};

/// The grant type of RFC 7523 §2.1.
pub(crate) const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How far in the past a GitHub App JWT's `iat` is put, for clock drift (GitHub's advice).
const APP_JWT_BACKDATE_SECS: i64 = 60;
/// Lifetime of a GitHub App JWT from now (GitHub refuses more than 10 minutes).
const APP_JWT_LIFETIME_SECS: i64 = 540;

/// The connection setting that names an assertion's subject (`sub`).
pub(crate) const SUBJECT: &str = "subject";
/// The connection setting that holds a GitHub App installation's id.
pub(crate) const INSTALLATION_ID: &str = "installation_id";

/// Signs `claims` with RS256 and the integration's private key.
fn sign(ctx: &Ctx, kid: Option<&str>, claims: &Value) -> Result<String, TokenError> {
    let pem = ctx.integration.private_key.as_ref().ok_or_else(|| {
        TokenError::Request(format!(
            "integration {:?} has no private_key; set it in switchboard.toml (an RSA PEM, file:/path or env:NAME)",
            ctx.integration.id
        ))
    })?;
    sign_with(pem.expose_secret(), kid, claims).map_err(|m| {
        TokenError::Request(format!(
            "the private_key of integration {:?} {m}",
            ctx.integration.id
        ))
    })
}

fn sign_with(pem: &str, kid: Option<&str>, claims: &Value) -> Result<String, String> {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| "is not an RSA private key in PEM".to_owned())?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).map_err(|_| "cannot sign RS256".to_owned())
}

/// A GitHub App JWT: `iss` = the app id, `iat` a minute ago, `exp` in 9 minutes.
pub(crate) fn app_jwt(ctx: &Ctx, now: DateTime<Utc>) -> Result<String, TokenError> {
    let app_id = ctx.integration.app_id.as_deref().ok_or_else(|| {
        TokenError::Request(format!(
            "integration {:?} has no app_id; set it in switchboard.toml",
            ctx.integration.id
        ))
    })?;
    let iat = now.timestamp() - APP_JWT_BACKDATE_SECS;
    let claims = json!({
        "iat": iat,
        "exp": now.timestamp() + APP_JWT_LIFETIME_SECS,
        "iss": app_id,
    });
    sign(ctx, None, &claims)
}

/// A JWT bearer assertion (RFC 7523 §3) for `token_url`, signed with the connection's
/// own key (`own`, with its issuer and key id) or else the integration's; without a
/// token URL (a JWT that is itself the credential), no `aud`.
pub(crate) fn assertion(
    ctx: &Ctx,
    token_url: Option<&url::Url>,
    subject: Option<&str>,
    own: Option<&ConnectionKey>,
    now: DateTime<Utc>,
) -> Result<String, TokenError> {
    let rules = ctx.provider.jwt_bearer.as_ref().ok_or_else(|| {
        TokenError::Request(format!(
            "provider {} has no [jwt_bearer] table",
            ctx.provider.id
        ))
    })?;
    let iss = match own {
        Some(k) => k.issuer.as_str(),
        None => {
            if ctx.integration.private_key.is_none() {
                return Err(TokenError::NoKey(format!(
                    "integration {:?} has no private_key and the connection no key of its own; connect it again with credentials.private_key (the service account's key file, or a PEM), or set private_key of the integration in switchboard.toml",
                    ctx.integration.id
                )));
            }
            ctx.integration.client_id.as_deref().ok_or_else(|| {
                TokenError::Request(format!(
                    "integration {:?} has no client_id (the assertion's issuer); set it in switchboard.toml",
                    ctx.integration.id
                ))
            })?
        }
    };
    let aud = match (rules.audience, token_url) {
        (catalog::JwtAudience::None, _) | (_, None) => None,
        (catalog::JwtAudience::TokenUrl, Some(u)) => Some(u.as_str().to_owned()),
        (catalog::JwtAudience::TokenOrigin, Some(u)) => Some(u.origin().ascii_serialization()),
        (catalog::JwtAudience::TokenHost, Some(u)) => {
            Some(u.host_str().unwrap_or_default().to_owned())
        }
    };
    let jti = crate::ids::random_token().map_err(|e| TokenError::Request(e.to_string()))?;
    let mut claims = json!({
        "iat": now.timestamp(),
        "exp": now.timestamp() + rules.assertion_lifetime_secs as i64,
        "jti": jti,
    });
    claims[rules.issuer_claim.as_str()] = Value::String(iss.to_owned());
    if let Some(aud) = aud {
        claims["aud"] = Value::String(aud);
    }
    if let Some(sub) = subject {
        claims["sub"] = Value::String(sub.to_owned());
    }
    let scopes = ctx.scopes();
    if rules.scopes == catalog::JwtScopes::Claim && !scopes.is_empty() {
        claims["scope"] = Value::String(scopes.join(" "));
    }
    match own {
        Some(k) => sign_with(&k.pem, k.kid.as_deref(), &claims).map_err(|m| {
            TokenError::Request(format!(
                "the connection's own private key {m}; connect it again with a working key"
            ))
        }),
        None => sign(ctx, ctx.integration.private_key_id.as_deref(), &claims),
    }
}

/// A GitHub error body's `message`, printable and short.
pub(super) fn github_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .map(|m| protocol::clean(&m, 200))
        .unwrap_or_else(|| "no message".to_owned())
}

/// Whether `id` looks like a GitHub installation id.
/// The provider's API headers on `req`, and GitHub's JSON media type unless they name
/// an `Accept` of their own.
pub(super) fn with_api_headers(
    ctx: &Ctx,
    mut req: reqwest::RequestBuilder,
) -> reqwest::RequestBuilder {
    // An installation has no connection settings: headers take integration values.
    for (k, v) in ctx.api_headers(&BTreeMap::new()).unwrap_or_default() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            req = req.header(n, v);
        }
    }
    if !ctx
        .provider
        .api_headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("accept"))
    {
        req = req.header(ACCEPT, "application/vnd.github+json");
    }
    req
}

pub(crate) fn is_installation_id(id: &str) -> bool {
    (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

impl Engine {
    /// The API base of a GitHub App provider, without a trailing slash.
    pub(crate) fn github_api(&self, ctx: &Ctx) -> Result<String, TokenError> {
        let base = ctx.provider.api_base_url.as_deref().ok_or_else(|| {
            TokenError::Request(format!("provider {} has no api_base_url", ctx.provider.id))
        })?;
        let base = protocol::resolve(
            &ctx.provider,
            base,
            &ctx.values(&BTreeMap::new()),
            self.dev(),
        )?;
        Ok(base.trim_end_matches('/').to_owned())
    }

    /// A GitHub API request signed with a fresh app JWT.
    pub(super) async fn github_app_call(
        &self,
        ctx: &Ctx,
        method: reqwest::Method,
        path: &str,
    ) -> Result<(u16, Vec<u8>), TokenError> {
        let jwt = app_jwt(ctx, self.now())?;
        let url = format!("{}{path}", self.github_api(ctx)?);
        let http = self.outbound();
        let url = http
            .check(&url)
            .map_err(|e| TokenError::Request(e.to_string()))?;
        let mut req = http
            .client()
            .request(method, url.clone())
            .header(AUTHORIZATION, format!("Bearer {jwt}"));
        req = with_api_headers(ctx, req);
        let (status, _, body) = protocol::send(&url, req)
            .await
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
        Ok((status, body))
    }

    /// Classifies a GitHub App answer that is not a success.
    fn github_refusal(
        &self,
        ctx: &Ctx,
        installation: &str,
        status: u16,
        body: &[u8],
    ) -> TokenError {
        let message = github_message(body);
        match status {
            401 => TokenError::AssertionRefused(format!(
                "GitHub refused the app's JWT (HTTP 401: {message}); check app_id and private_key of integration {:?} (the key must be one of the app's, downloaded from its settings page) and this server's clock",
                ctx.integration.id
            )),
            403 => TokenError::Ended {
                status: ConnectionStatus::NeedsReauth,
                message: format!(
                    "GitHub refused a token for installation {installation} (HTTP 403: {message}): the installation is suspended or lacks permission; unsuspend it in the account's GitHub settings (Applications), then connect again"
                ),
            },
            404 => TokenError::Ended {
                status: ConnectionStatus::Revoked,
                message: format!(
                    "GitHub knows no installation {installation} of this app (HTTP 404: {message}): the app was uninstalled; install it again through the connect flow"
                ),
            },
            429 | 500..=599 => {
                TokenError::Unavailable(format!("GitHub answered HTTP {status}: {message}"))
            }
            _ => TokenError::Rejected {
                status,
                code: format!("http_{status}"),
            },
        }
    }

    /// An installation access token (`POST /app/installations/{id}/access_tokens`).
    pub(crate) async fn installation_token(
        &self,
        ctx: &Ctx,
        installation: &str,
    ) -> Result<TokenSet, TokenError> {
        if !is_installation_id(installation) {
            return Err(TokenError::Request(format!(
                "installation id {installation:?} is not a number"
            )));
        }
        let (status, body) = self
            .github_app_call(
                ctx,
                reqwest::Method::POST,
                &format!("/app/installations/{installation}/access_tokens"),
            )
            .await?;
        if !(200..300).contains(&status) {
            return Err(self.github_refusal(ctx, installation, status, &body));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|_| {
            TokenError::Malformed("the installation token answer is not JSON".into())
        })?;
        let token = v
            .get("token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                TokenError::Malformed("no token in the installation token answer".into())
            })?;
        let now = self.now();
        let expires_in = v
            .get("expires_at")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|e| (e.with_timezone(&Utc) - now).num_seconds().max(0) as u64)
            .or(Some(3600));
        let scopes = v.get("permissions").and_then(Value::as_object).map(|p| {
            p.iter()
                .filter_map(|(k, v)| v.as_str().map(|l| format!("{k}:{l}")))
                .collect::<Vec<_>>()
        });
        let mut credentials = Credentials::default();
        credentials.access_token = Some(token.to_owned());
        credentials.token_type = Some("Bearer".to_owned());
        Ok(TokenSet {
            credentials,
            expires_in,
            scopes,
            raw: json!({ "installation_id": installation }),
        })
    }

    /// An access token by the JWT bearer grant, for a connection with `settings`, signed
    /// with its own key (`own`) or else the integration's; or, where the JWT is itself
    /// the credential (`exchange = false`), a freshly signed JWT that lives the
    /// assertion's lifetime.
    pub(crate) async fn jwt_bearer_token(
        &self,
        ctx: &Ctx,
        settings: &BTreeMap<String, String>,
        own: Option<&ConnectionKey>,
    ) -> Result<TokenSet, TokenError> {
        if let Some(rules) = ctx.provider.jwt_bearer.as_ref().filter(|j| !j.exchange) {
            let jwt = assertion(
                ctx,
                None,
                settings.get(SUBJECT).map(String::as_str),
                own,
                self.now(),
            )?;
            let mut credentials = Credentials::default();
            credentials.access_token = Some(jwt);
            credentials.token_type = Some("Bearer".to_owned());
            return Ok(TokenSet {
                credentials,
                expires_in: Some(rules.assertion_lifetime_secs),
                scopes: None,
                raw: json!({}),
            });
        }
        let oauth = ctx.provider.oauth2.as_ref().ok_or_else(|| {
            TokenError::Request(format!("provider {} has no token_url", ctx.provider.id))
        })?;
        let url = protocol::resolve(
            &ctx.provider,
            &oauth.token_url,
            &ctx.values(settings),
            self.dev(),
        )?;
        let http = self.outbound();
        let url = http
            .check(&url)
            .map_err(|e| TokenError::Request(e.to_string()))?;
        let jwt = assertion(
            ctx,
            Some(&url),
            settings.get(SUBJECT).map(String::as_str),
            own,
            self.now(),
        )?;
        let mut form: Vec<(String, String)> = vec![
            ("grant_type".into(), JWT_BEARER_GRANT.into()),
            ("assertion".into(), jwt),
        ];
        form.extend(
            protocol::fill_params(&ctx.provider, &oauth.token_params, &ctx.values(settings))
                .map_err(TokenError::Request)?,
        );
        let req = http
            .client()
            .post(url.clone())
            .header(ACCEPT, "application/json")
            .form(&form);
        let (status, headers, body) = protocol::send(&url, req)
            .await
            .map_err(|e| TokenError::Unavailable(e.to_string()))?;
        protocol::parse_token_response(&ctx.provider, status, &headers, &body).map_err(|e| match e {
            TokenError::InvalidGrant(d) | TokenError::InvalidClient(d) => {
                let key = match own {
                    Some(k) => format!(
                        "the connection's own key (issuer {:?}; is the key still valid at the provider, and is it the issuer's?)",
                        k.issuer
                    ),
                    None => format!(
                        "client_id and private_key of integration {:?}",
                        ctx.integration.id
                    ),
                };
                TokenError::AssertionRefused(format!(
                    "the token endpoint refused the signed assertion ({d}); check {key}, the connection's subject, and this server's clock"
                ))
            }
            other => other,
        })
    }

    /// A new token for a connection of a signed-grant mode (the refresh path's call).
    pub(crate) async fn signed_grant(
        &self,
        ctx: &Ctx,
        c: &Connection,
    ) -> Option<Result<TokenSet, TokenError>> {
        match catalog::AuthMode::from_name(&c.auth_mode)? {
            catalog::AuthMode::GithubApp => Some(match c.settings.get(INSTALLATION_ID) {
                Some(id) => self.installation_token(ctx, id).await,
                None => Err(TokenError::Ended {
                    status: ConnectionStatus::NeedsReauth,
                    message: "the connection names no installation; install the app again through the connect flow".into(),
                }),
            }),
            catalog::AuthMode::JwtBearer => Some(self.connection_grant(ctx, c).await),
            _ => None,
        }
    }

    /// A new token for a `jwt_bearer` connection: signed with its own key when it has
    /// one, else the integration's. A connection made with a key of its own (its
    /// `key_issuer` setting) whose key is gone is refused, never signed for with the
    /// integration's key.
    async fn connection_grant(&self, ctx: &Ctx, c: &Connection) -> Result<TokenSet, TokenError> {
        let own = self
            .connection_key(&c.id)
            .await
            .map_err(|e| TokenError::Request(e.to_string()))?;
        if own.is_none() && c.settings.contains_key(KEY_ISSUER) {
            return Err(TokenError::NoKey(format!(
                "connection {:?} was made with a key of its own, which is not stored any more; connect it again with credentials.private_key",
                c.id
            )));
        }
        self.jwt_bearer_token(ctx, &c.settings, own.as_ref()).await
    }

    /// The provider ended the grant for good (an uninstalled or suspended GitHub App
    /// installation): the connection is marked under the fence, the app told, and a
    /// revoked one loses its credentials.
    pub(crate) async fn refresh_ended(
        &self,
        c: &Connection,
        fence: i64,
        status: ConnectionStatus,
        message: &str,
    ) -> EngineResult<()> {
        self.fail_refresh(c, fence, status, message, None).await?;
        self.count_activity(
            &c.integration,
            crate::activity::Kind::RefreshFailed,
            if status == ConnectionStatus::Revoked {
                "revoked"
            } else {
                "invalid_grant"
            },
        );
        if status == ConnectionStatus::Revoked {
            self.inner
                .store
                .revoke_connection(&c.id, self.now())
                .await?;
            self.revoked_at_provider(c, "ended_at_provider").await?;
        } else {
            self.record_needs_reauth(c, message).await?;
        }
        Ok(())
    }

    /// Disconnecting a signed-grant connection: a GitHub App installation token is
    /// revoked (`DELETE /installation/token`; the installation itself stays, as only
    /// its owner can uninstall); a service account's token expires on its own within
    /// the hour. `None` for the other modes.
    pub(crate) async fn revoke_signed(
        &self,
        ctx: &Ctx,
        c: &Connection,
        creds: &Credentials,
    ) -> Option<(bool, Option<String>)> {
        match catalog::AuthMode::from_name(&c.auth_mode)? {
            catalog::AuthMode::GithubApp => {}
            catalog::AuthMode::JwtBearer => {
                let message = match ctx.provider.jwt_bearer.as_ref().filter(|j| !j.exchange) {
                    Some(j) => format!(
                        "a signed JWT cannot be revoked; the last one expires within {} seconds",
                        j.assertion_lifetime_secs
                    ),
                    None => "service-account tokens cannot be revoked; the last one expires within the hour".into(),
                };
                return Some((false, Some(message)));
            }
            _ => return None,
        }
        let Some(token) = creds.access_token.as_deref() else {
            return Some((false, Some("the connection holds no token".into())));
        };
        let result = async {
            let http = self.outbound();
            let url = http
                .check(&format!("{}/installation/token", self.github_api(ctx)?))
                .map_err(|e| TokenError::Request(e.to_string()))?;
            let mut req = http
                .client()
                .delete(url.clone())
                .header(AUTHORIZATION, format!("Bearer {token}"));
            for (k, v) in ctx.api_headers(&BTreeMap::new()).unwrap_or_default() {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    req = req.header(n, v);
                }
            }
            protocol::send(&url, req)
                .await
                .map_err(|e| TokenError::Unavailable(e.to_string()))
        }
        .await;
        Some(match result {
            Ok((204 | 200, _, _)) => (true, None),
            // An expired or already revoked token: nothing is left to revoke.
            Ok((401, _, _)) => (true, None),
            Ok((status, _, body)) => (
                false,
                Some(format!(
                    "GitHub answered HTTP {status} to the token revocation: {}",
                    github_message(&body)
                )),
            ),
            Err(e) => (false, Some(e.to_string())),
        })
    }

    /// The installation page of a GitHub App, with our state (GitHub hands it back on
    /// the Setup URL).
    pub(crate) fn install_url(&self, ctx: &Ctx, state: &str) -> EngineResult<String> {
        let app = ctx.provider.github_app.as_ref().ok_or_else(|| {
            EngineError::Misconfigured(format!(
                "provider {} has no [github_app] table",
                ctx.provider.id
            ))
        })?;
        let slug = ctx.integration.app_slug.as_deref().ok_or_else(|| {
            EngineError::Misconfigured(format!(
                "integration {:?} has no app_slug; set it in switchboard.toml",
                ctx.integration.id
            ))
        })?;
        let mut url = url::Url::parse(&app.install_url.replace("{app_slug}", slug))
            .map_err(|e| EngineError::Misconfigured(format!("install URL: {e}")))?;
        url.query_pairs_mut().append_pair("state", state);
        Ok(url.into())
    }

    /// The account an installation belongs to (`GET /app/installations/{id}`), for the
    /// connection's settings; `None` when GitHub does not say.
    async fn installation_account(&self, ctx: &Ctx, installation: &str) -> Option<String> {
        let (status, body) = self
            .github_app_call(
                ctx,
                reqwest::Method::GET,
                &format!("/app/installations/{installation}"),
            )
            .await
            .ok()?;
        if !(200..300).contains(&status) {
            return None;
        }
        let v: Value = serde_json::from_slice(&body).ok()?;
        let login = v.pointer("/account/login")?.as_str()?;
        (!login.is_empty() && login.len() <= 100 && !login.contains(char::is_control))
            .then(|| login.to_owned())
    }

    /// A connection for a GitHub App installation: its first token proves the
    /// installation exists and belongs to this app.
    pub(crate) async fn installation_connection(
        &self,
        ctx: &Ctx,
        id: &str,
        end_user_id: &str,
        installation: &str,
        callback: &BTreeMap<String, String>,
    ) -> Result<(Connection, TokenSet), TokenError> {
        let tokens = self.installation_token(ctx, installation).await?;
        let mut settings = BTreeMap::from([(INSTALLATION_ID.to_owned(), installation.to_owned())]);
        if let Some(account) = self.installation_account(ctx, installation).await {
            settings.insert("account".to_owned(), account);
        }
        let mut callback = callback.clone();
        callback.insert(INSTALLATION_ID.to_owned(), installation.to_owned());
        let c = self
            .build_connection(ctx, id, end_user_id, settings, &tokens, &callback)
            .await
            .map_err(|e| TokenError::Request(e.to_string()))?;
        Ok((c, tokens))
    }

    /// `POST /api/connections` for the signed-grant modes: a service account's token
    /// (its `subject` in the settings; its own key in `credentials.private_key`, or the
    /// integration's), or a GitHub App installation the app backend already knows
    /// (`installation_id`). The key is read and made to sign first, and the provider
    /// is asked before anything is stored, so a malformed or wrong key, subject or
    /// installation is refused and nothing changes.
    pub(crate) async fn connect_signed(
        &self,
        ctx: &Ctx,
        req: super::DirectConnectRequest,
        actor: &Actor,
    ) -> EngineResult<super::ConnectionView> {
        let own = match ctx.provider.auth_mode {
            catalog::AuthMode::GithubApp => {
                if req.credentials.is_some() {
                    return Err(super::invalid(
                        "credentials",
                        format!(
                            "integration {:?} is a GitHub App, which signs with the app's private_key in switchboard.toml (the app is the integrator's, not the end user's); send no credentials",
                            req.integration
                        ),
                    ));
                }
                None
            }
            _ => ConnectionKey::from_input(ctx, req.credentials.as_ref())?,
        };
        if own.is_none()
            && ctx.provider.auth_mode == catalog::AuthMode::JwtBearer
            && ctx.integration.private_key.is_none()
        {
            return Err(super::invalid(
                "credentials.private_key",
                format!(
                    "is missing: integration {:?} has no private_key of its own, so every connection brings its key; give the service account's key file (JSON) or an RSA PEM",
                    req.integration
                ),
            ));
        }
        if req.settings.contains_key(KEY_ISSUER) {
            return Err(super::invalid(
                "settings",
                format!(
                    "{KEY_ISSUER} is set by Switchboard for a connection with a key of its own; give credentials.client_id instead"
                ),
            ));
        }
        let (end_user, id) = super::manage::direct_ids(&req)?;
        let mut settings = req.settings.clone();
        let (connection, tokens) = match ctx.provider.auth_mode {
            catalog::AuthMode::GithubApp => {
                let installation = settings.remove(INSTALLATION_ID).ok_or_else(|| {
                    super::invalid(
                        "settings",
                        "give settings.installation_id (the number GitHub sends to the Setup URL), or connect through a connect session",
                    )
                })?;
                if !is_installation_id(&installation) {
                    return Err(super::invalid(
                        "settings",
                        "installation_id must be GitHub's numeric installation id",
                    ));
                }
                ctx.connection_settings(settings)?;
                self.installation_connection(ctx, &id, &end_user, &installation, &BTreeMap::new())
                    .await
                    .map_err(|e| signed_failure(e, &installation))?
            }
            _ => {
                let subject = settings.remove(SUBJECT);
                let rule = ctx
                    .provider
                    .jwt_bearer
                    .as_ref()
                    .map(|j| j.subject)
                    .unwrap_or_default();
                match (&subject, rule) {
                    (None, catalog::JwtSubject::Required) => {
                        return Err(super::invalid(
                            "settings",
                            format!(
                                "provider {} needs settings.subject (the user the service account acts for)",
                                ctx.provider.id
                            ),
                        ));
                    }
                    (Some(_), catalog::JwtSubject::None) => {
                        return Err(super::invalid(
                            "settings",
                            format!("provider {} takes no subject", ctx.provider.id),
                        ));
                    }
                    (Some(s), _)
                        if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) =>
                    {
                        return Err(super::invalid(
                            "settings",
                            "subject must be 1 to 256 printable characters",
                        ));
                    }
                    _ => {}
                }
                let mut settings = ctx.connection_settings(settings)?;
                if let Some(s) = subject {
                    settings.insert(SUBJECT.to_owned(), s);
                }
                let tokens = self
                    .jwt_bearer_token(ctx, &settings, own.as_ref())
                    .await
                    .map_err(|e| signed_failure(e, ""))?;
                if let Some(k) = &own {
                    settings.insert(KEY_ISSUER.to_owned(), k.issuer.clone());
                }
                let c = self
                    .build_connection(ctx, &id, &end_user, settings, &tokens, &BTreeMap::new())
                    .await?;
                (c, tokens)
            }
        };
        let sealed_key = own
            .as_ref()
            .map(|k| k.seal(&self.inner.keyring, &connection.id))
            .transpose()?;
        self.store_direct_keyed(&connection, &tokens.credentials, sealed_key.as_ref(), actor)
            .await
    }
}

impl Engine {
    /// The Setup URL callback of a GitHub App installation (its state already taken):
    /// `installation_id` and `setup_action` from GitHub, a first installation token,
    /// then the connection. Returns the connection's id, or why it stopped.
    pub(super) async fn complete_installation(
        &self,
        ctx: &Ctx,
        params: &super::CallbackParams,
        st: &store::OAuthState,
    ) -> Result<String, super::flow::Halt> {
        use super::flow::Halt;
        if params.error.is_some() {
            return Err(Halt::refused("access_denied", "provider_error"));
        }
        // `request`: a member asked the organisation's owners to install the app;
        // there is no installation yet.
        match params.other.get("setup_action").map(String::as_str) {
            Some("install" | "update") | None => {}
            Some("request") => {
                return Err(Halt::refused("installation_requested", "provider_error"));
            }
            Some(_) => return Err(Halt::refused("invalid_request", "provider_error")),
        }
        let Some(installation) = params
            .other
            .get(INSTALLATION_ID)
            .filter(|i| is_installation_id(i))
        else {
            return Err(Halt::refused("invalid_request", "provider_error"));
        };
        // The installation id on this URL can be spoofed: it is bound only if the user
        // who came back can reach it (see `app_install`). Nothing is stored otherwise.
        if let Err(refused) = self
            .prove_installation(ctx, params.code.as_deref(), installation)
            .await
        {
            tracing::warn!(
                integration = %ctx.integration.id,
                installation = %installation,
                code = refused.code,
                reason = %refused.reason,
                "installation refused"
            );
            self.audit(
                &Actor::System,
                "connection.installation_refused",
                &st.connection_id,
                json!({
                    "integration": ctx.integration.id,
                    "installation_id": installation,
                    "error": refused.code,
                }),
            )
            .await?;
            return Err(Halt::refused(refused.code, "installation_refused"));
        }
        let (connection, tokens) = match self
            .installation_connection(
                ctx,
                &st.connection_id,
                &st.end_user_id,
                installation,
                &params.other,
            )
            .await
        {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(integration = %ctx.integration.id, error = %e, "installation token refused");
                let code = match e {
                    TokenError::Ended { .. } => "installation_not_found",
                    TokenError::AssertionRefused(_) => "invalid_client",
                    _ => "exchange_failed",
                };
                return Err(Halt::refused(code, "exchange_failed"));
            }
        };
        let origin = super::consent::ConsentOrigin {
            session_hash: Some(&st.session_hash),
            return_url: st.return_to.as_deref().or(st.opener_origin.as_deref()),
            requested: Vec::new(),
        };
        self.store_connection(&ctx.integration.id, &connection, &tokens, origin)
            .await
    }
}

/// A refused signed grant at connect time, as the caller's error.
fn signed_failure(e: TokenError, installation: &str) -> EngineError {
    match e {
        TokenError::Ended {
            status: ConnectionStatus::Revoked,
            ..
        } => EngineError::Invalid {
            field: "settings",
            message: format!(
                "GitHub knows no installation {installation} of this app; check installation_id, or install the app through a connect session"
            ),
        },
        TokenError::Ended { message, .. } | TokenError::AssertionRefused(message) => {
            EngineError::CredentialsRejected(message)
        }
        TokenError::Unavailable(m) => EngineError::ProviderUnavailable(format!(
            "the provider could not be reached ({m}); try again later"
        )),
        TokenError::Request(m) | TokenError::NoKey(m) => EngineError::Misconfigured(m),
        other => EngineError::Provider(other.to_string()),
    }
}

impl Engine {
    /// After the store revoked `c` because the provider ended it (the app was
    /// uninstalled): the change is announced, recorded as a change of consent (as a
    /// disconnect is) and audited with `reason`.
    pub(super) async fn revoked_at_provider(
        &self,
        c: &Connection,
        reason: &str,
    ) -> crate::EngineResult<()> {
        self.connection_changed(&c.id);
        let after = Connection {
            scopes: Vec::new(),
            ..c.clone()
        };
        self.record_consent(
            &after,
            store::ConsentKind::Revoke,
            super::consent::ConsentOrigin::default(),
        )
        .await?;
        self.audit(
            &Actor::System,
            "connection.revoke",
            &c.id,
            json!({ "integration": c.integration, "reason": reason }),
        )
        .await?;
        self.refresh_connection_gauges().await;
        Ok(())
    }
}
