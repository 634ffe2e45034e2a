//! The provider side of OAuth2: token-endpoint requests (authorization code, refresh,
//! client credentials) with the catalog's client authentication and quirks, parsing of
//! token responses, revocation (RFC 7009 or the provider's own way), and credential
//! placement on API requests.
//!
//! Written on `reqwest` rather than the `oauth2` crate: the catalog describes token
//! responses by JSON pointer (Slack's `authed_user`), 200 responses that are failures
//! (`"ok": false`), JSON request bodies and separate refresh endpoints, none of which
//! fit `oauth2`'s fixed request and response types.

use std::collections::BTreeMap;

use base64::Engine as _;
use catalog::{
    ApiKey, BodyFormat, ClientAuth, Expiry, HttpMethod, Provider, RevokeClientAuth, RevokeToken,
    TokenPlacement,
};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use vault::ExposeSecret;

use super::credentials::Credentials;
use crate::http::{Outbound, OutboundError, redact};

/// The largest token, revocation or userinfo response read.
const MAX_RESPONSE: usize = 1024 * 1024;

/// A grant sent to the token endpoint.
pub(crate) enum Grant<'a> {
    AuthorizationCode {
        code: &'a str,
        redirect_uri: &'a str,
        verifier: Option<&'a str>,
    },
    Refresh {
        refresh_token: &'a str,
    },
    ClientCredentials {
        scopes: &'a [String],
    },
}

impl Grant<'_> {
    fn name(&self) -> &'static str {
        match self {
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::Refresh { .. } => "refresh_token",
            Grant::ClientCredentials { .. } => "client_credentials",
        }
    }
}

/// What a token endpoint returned.
pub(crate) struct TokenSet {
    pub credentials: Credentials,
    pub expires_in: Option<u64>,
    /// Granted scopes, when the response says.
    pub scopes: Option<Vec<String>>,
    /// The whole response, for placeholders and routing keys read by JSON pointer. Holds
    /// the tokens: never log it.
    pub raw: Value,
}

/// Why a token request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// The grant is dead (`invalid_grant` and the like): the user must connect again.
    InvalidGrant(String),
    /// The client credentials were refused: a configuration problem.
    InvalidClient(String),
    /// Any other refusal.
    Rejected { status: u16, code: String },
    /// The provider is down, slow or throttling: try again later.
    Unavailable(String),
    /// The response could not be understood.
    Malformed(String),
    /// The request could not be made (bad URL, refused host).
    Request(String),
    /// No key signs the connection's assertions: neither one of its own nor the
    /// integration's. The message says which to give.
    NoKey(String),
    /// A JWT Switchboard signed was refused (a wrong key, issuer, subject or clock): a
    /// configuration problem the message names.
    AssertionRefused(String),
    /// The provider ended the grant for good (a GitHub App uninstalled or suspended):
    /// the connection takes `status`.
    Ended {
        status: store::ConnectionStatus,
        message: String,
    },
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::InvalidGrant(d) => write!(f, "the provider refused the grant ({d})"),
            TokenError::InvalidClient(d) => write!(
                f,
                "the provider refused the client credentials ({d}); check client_id and client_secret"
            ),
            TokenError::Rejected { status, code } => {
                write!(f, "the provider refused the request: HTTP {status}, {code}")
            }
            TokenError::Unavailable(d) => write!(f, "the provider is unavailable: {d}"),
            TokenError::Malformed(d) => write!(f, "the provider's response is malformed: {d}"),
            TokenError::Request(d) | TokenError::NoKey(d) => write!(f, "{d}"),
            TokenError::AssertionRefused(d) => write!(f, "{d}"),
            TokenError::Ended { message, .. } => write!(f, "{message}"),
        }
    }
}

impl TokenError {
    /// A short stable code for metrics, audit rows and callback results.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::InvalidGrant(_) => "invalid_grant",
            TokenError::InvalidClient(_) => "invalid_client",
            TokenError::Rejected { .. } => "rejected",
            TokenError::Unavailable(_) => "provider_unavailable",
            TokenError::Malformed(_) => "malformed_response",
            TokenError::Request(_) => "request_failed",
            TokenError::NoKey(_) => "no_signing_key",
            TokenError::AssertionRefused(_) => "assertion_refused",
            TokenError::Ended { .. } => "grant_ended",
        }
    }
}

/// Keeps a provider-supplied code or description printable and short.
pub(crate) fn clean(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// An OAuth2 error code as given by the provider, if it looks like one.
fn error_code(v: &Value) -> Option<String> {
    let code = v.get("error")?.as_str()?;
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    ok.then(|| code.to_owned())
}

/// Error codes that mean the grant itself is gone (RFC 6749 `invalid_grant`, and the
/// names some providers use in 200 `ok: false` responses).
fn is_dead_grant(code: &str) -> bool {
    matches!(
        code,
        "invalid_grant"
            | "invalid_refresh_token"
            | "token_revoked"
            | "token_expired"
            | "invalid_auth"
            | "account_inactive"
    )
}

/// Fills a catalog URL template from the connection's and integration's settings.
pub(crate) fn resolve(
    provider: &Provider,
    template: &str,
    values: &BTreeMap<String, String>,
    dev: bool,
) -> Result<String, TokenError> {
    catalog::resolve_url_with(template, &provider.placeholders, values, dev)
        .map_err(|e| TokenError::Request(e.to_string()))
}

/// A table of extra OAuth2 parameters with their placeholders filled from `values`
/// (`Err` names the parameter and the missing or refused value).
pub(crate) fn fill_params(
    provider: &Provider,
    params: &BTreeMap<String, String>,
    values: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, String> {
    params
        .iter()
        .map(|(k, v)| {
            catalog::resolve_text(v, &provider.placeholders, values)
                .map(|v| (k.clone(), v))
                .map_err(|e| format!("parameter {k}: {e}"))
        })
        .collect()
}

/// Sends a request and reads the body up to [`MAX_RESPONSE`].
pub(crate) async fn send(
    url: &url::Url,
    req: reqwest::RequestBuilder,
) -> Result<(u16, HeaderMap, Vec<u8>), OutboundError> {
    let mut resp = req
        .send()
        .await
        .map_err(|e| OutboundError::from_reqwest(url, e))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| OutboundError::from_reqwest(url, e))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE {
            return Err(OutboundError::TooLarge {
                url: redact(url),
                limit: MAX_RESPONSE,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

fn unavailable(e: OutboundError) -> TokenError {
    match e {
        OutboundError::Timeout { .. }
        | OutboundError::Connect { .. }
        | OutboundError::Request { .. }
        | OutboundError::Resolve { .. } => TokenError::Unavailable(e.to_string()),
        OutboundError::TooLarge { .. } => TokenError::Malformed(e.to_string()),
        other => TokenError::Request(other.to_string()),
    }
}

/// `Authorization: Basic` per RFC 6749 §2.3.1 (both parts form-encoded first).
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

/// Parses a JSON body, or a form-encoded one (old GitHub-style token responses).
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Option<Value> {
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if form {
        let map: serde_json::Map<String, Value> = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        return Some(Value::Object(map));
    }
    serde_json::from_slice(body).ok()
}

fn string_at(v: &Value, pointer: &str) -> Option<String> {
    match v.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads a token response with the provider's quirks.
pub(crate) fn parse_token_response(
    provider: &Provider,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenSet, TokenError> {
    let oauth = provider.oauth2.as_ref().ok_or_else(|| {
        TokenError::Request(format!("provider {} has no OAuth2 settings", provider.id))
    })?;
    let quirks = &oauth.token_response;
    let parsed = parse_body(headers, body);
    if !(200..300).contains(&status) {
        let code = parsed.as_ref().and_then(error_code);
        let desc = parsed
            .as_ref()
            .and_then(|v| v.get("error_description"))
            .and_then(Value::as_str)
            .map(|d| clean(d, 200));
        let what = match (&code, &desc) {
            (Some(c), Some(d)) => format!("{c}: {d}"),
            (Some(c), None) => c.clone(),
            _ => format!("HTTP {status}"),
        };
        return Err(match code.as_deref() {
            _ if status == 429 || status >= 500 => {
                TokenError::Unavailable(format!("token endpoint answered HTTP {status}"))
            }
            Some(c) if is_dead_grant(c) => TokenError::InvalidGrant(what),
            Some("invalid_client" | "unauthorized_client") => TokenError::InvalidClient(what),
            Some(c) => TokenError::Rejected {
                status,
                code: c.to_owned(),
            },
            None => TokenError::Rejected {
                status,
                code: format!("http_{status}"),
            },
        });
    }
    let v = parsed.ok_or_else(|| {
        TokenError::Malformed("the token response is neither JSON nor a form".into())
    })?;
    if let Some(flag) = &quirks.ok_flag
        && v.pointer(flag) == Some(&Value::Bool(false))
    {
        let code = error_code(&v).unwrap_or_else(|| "error".to_owned());
        return Err(if is_dead_grant(&code) {
            TokenError::InvalidGrant(code)
        } else {
            TokenError::Rejected { status, code }
        });
    }
    if let Some(code) = error_code(&v)
        && string_at(&v, &quirks.access_token).is_none()
    {
        // Some providers answer errors with 200 (GitHub does).
        return Err(if is_dead_grant(&code) {
            TokenError::InvalidGrant(code)
        } else if code == "incorrect_client_credentials" {
            TokenError::InvalidClient(code)
        } else {
            TokenError::Rejected { status, code }
        });
    }
    let access_token = string_at(&v, &quirks.access_token).ok_or_else(|| {
        TokenError::Malformed(format!(
            "no access token at {} in the token response",
            quirks.access_token
        ))
    })?;
    let expires_in = match v.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let expires_in = match quirks.expiry {
        Expiry::Unknown => None,
        Expiry::Never | Expiry::ExpiresIn => expires_in,
    };
    let separator = quirks
        .scope_separator
        .as_deref()
        .unwrap_or(&oauth.scope_separator);
    let scopes = match v.pointer(&quirks.scope) {
        Some(Value::String(s)) => Some(split_scopes(s, separator)),
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    };
    let mut credentials = Credentials::default();
    credentials.access_token = Some(access_token);
    credentials.refresh_token = string_at(&v, &quirks.refresh_token);
    credentials.token_type = string_at(&v, "/token_type");
    credentials.id_token = string_at(&v, "/id_token");
    credentials.user_access_token = quirks
        .user_access_token
        .as_deref()
        .and_then(|p| string_at(&v, p));
    Ok(TokenSet {
        credentials,
        expires_in,
        scopes,
        raw: v,
    })
}

/// Splits a granted-scope string on the separator (and on spaces, which every provider
/// that uses another separator also tolerates).
pub(crate) fn split_scopes(s: &str, separator: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in s.split(separator).flat_map(|p| p.split(' ')) {
        let p = part.trim();
        if !p.is_empty() && !out.iter().any(|x| x == p) {
            out.push(p.to_owned());
        }
    }
    out
}

/// The client id and secret of an integration.
pub(crate) struct Client<'a> {
    pub id: &'a str,
    pub secret: Option<&'a vault::SecretString>,
}

/// Calls the token endpoint.
pub(crate) async fn token_request(
    http: &Outbound,
    provider: &Provider,
    client: &Client<'_>,
    values: &BTreeMap<String, String>,
    grant: Grant<'_>,
    dev: bool,
) -> Result<TokenSet, TokenError> {
    let oauth = provider.oauth2.as_ref().ok_or_else(|| {
        TokenError::Request(format!("provider {} has no OAuth2 settings", provider.id))
    })?;
    let template = match (&grant, &oauth.refresh_url) {
        (Grant::Refresh { .. }, Some(r)) => r.as_str(),
        _ => oauth.token_url.as_str(),
    };
    let url = resolve(provider, template, values, dev)?;
    let url = http
        .check(&url)
        .map_err(|e| TokenError::Request(e.to_string()))?;
    let mut params: Vec<(String, String)> = vec![("grant_type".into(), grant.name().into())];
    match &grant {
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            verifier,
        } => {
            params.push(("code".into(), (*code).to_owned()));
            params.push(("redirect_uri".into(), (*redirect_uri).to_owned()));
            if let Some(v) = verifier {
                params.push(("code_verifier".into(), (*v).to_owned()));
            }
            params.extend(
                fill_params(provider, &oauth.code_params, values).map_err(TokenError::Request)?,
            );
        }
        Grant::Refresh { refresh_token } => {
            params.push(("refresh_token".into(), (*refresh_token).to_owned()));
        }
        Grant::ClientCredentials { scopes } => {
            if !scopes.is_empty() {
                params.push(("scope".into(), scopes.join(&oauth.scope_separator)));
            }
        }
    }
    params.extend(fill_params(provider, &oauth.token_params, values).map_err(TokenError::Request)?);
    let mut req = http
        .client()
        .post(url.clone())
        .header(ACCEPT, "application/json");
    match (oauth.client_auth, client.secret) {
        (ClientAuth::Basic, Some(secret)) => {
            req = req.header(AUTHORIZATION, basic(client.id, secret.expose_secret()));
        }
        (_, secret) => {
            params.push((oauth.client_id_param.clone(), client.id.to_owned()));
            if let Some(s) = secret {
                params.push(("client_secret".into(), s.expose_secret().to_owned()));
            }
        }
    }
    for (k, v) in &oauth.token_headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            req = req.header(name, value);
        }
    }
    req = match oauth.token_request {
        BodyFormat::Form => req.form(&params),
        BodyFormat::Json => {
            let map: serde_json::Map<String, Value> = params
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            req.json(&map)
        }
    };
    let (status, headers, body) = send(&url, req).await.map_err(unavailable)?;
    parse_token_response(provider, status, &headers, &body)
}

/// Puts a credential on an API request the way `how` says (default: bearer).
pub(crate) fn apply_credential(
    req: reqwest::RequestBuilder,
    how: Option<&ApiKey>,
    value: &str,
) -> reqwest::RequestBuilder {
    match how {
        Some(ApiKey { query: Some(q), .. }) => req.query(&[(q.as_str(), value)]),
        Some(ApiKey {
            header: Some(h),
            prefix,
            ..
        }) => req.header(h.as_str(), format!("{prefix}{value}")),
        _ => req.header(AUTHORIZATION, format!("Bearer {value}")),
    }
}

/// Revokes at the provider as its catalog entry says. `Ok(false)` when the provider has
/// no way to revoke.
pub(crate) async fn revoke(
    http: &Outbound,
    provider: &Provider,
    client: &Client<'_>,
    values: &BTreeMap<String, String>,
    creds: &Credentials,
    dev: bool,
) -> Result<bool, String> {
    let Some(oauth) = provider.oauth2.as_ref() else {
        return Ok(false);
    };
    let Some(rev) = oauth.revocation.as_ref() else {
        return Ok(false);
    };
    let (token, hint) = match rev.token {
        RevokeToken::RefreshFirst => match (&creds.refresh_token, &creds.access_token) {
            (Some(r), _) => (r.as_str(), "refresh_token"),
            (None, Some(a)) => (a.as_str(), "access_token"),
            (None, None) => return Err("the connection holds no token to revoke".into()),
        },
        RevokeToken::Access => (
            creds
                .access_token
                .as_deref()
                .ok_or("the connection holds no access token to revoke")?,
            "access_token",
        ),
        RevokeToken::Refresh => (
            creds
                .refresh_token
                .as_deref()
                .ok_or("the connection holds no refresh token to revoke")?,
            "refresh_token",
        ),
    };
    let mut vals = values.clone();
    if rev.send == TokenPlacement::Path {
        vals.insert(catalog::TOKEN_PLACEHOLDER.to_owned(), token.to_owned());
    }
    let url = resolve(provider, &rev.url, &vals, dev).map_err(|e| e.to_string())?;
    let url = http.check(&url).map_err(|e| e.to_string())?;
    let method = match rev.method {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Delete => reqwest::Method::DELETE,
    };
    let mut req = http
        .client()
        .request(method, url.clone())
        .header(ACCEPT, "application/json");
    let mut params: Vec<(String, String)> = Vec::new();
    match rev.send {
        TokenPlacement::Form | TokenPlacement::Json | TokenPlacement::Query => {
            params.push((rev.param.clone(), token.to_owned()));
        }
        TokenPlacement::Bearer => req = req.header(AUTHORIZATION, format!("Bearer {token}")),
        TokenPlacement::ApiAuth => req = apply_credential(req, oauth.api_auth.as_ref(), token),
        TokenPlacement::Path => {}
    }
    if rev.type_hint {
        params.push(("token_type_hint".into(), hint.into()));
    }
    let auth = rev.client_auth.unwrap_or(match oauth.client_auth {
        ClientAuth::Basic => RevokeClientAuth::Basic,
        ClientAuth::Body => RevokeClientAuth::Body,
    });
    match (auth, client.secret) {
        (RevokeClientAuth::Basic, Some(s)) => {
            req = req.header(AUTHORIZATION, basic(client.id, s.expose_secret()));
        }
        (RevokeClientAuth::Body, Some(s)) => {
            params.push((oauth.client_id_param.clone(), client.id.to_owned()));
            params.push(("client_secret".into(), s.expose_secret().to_owned()));
        }
        (RevokeClientAuth::None, _) => {}
        _ => params.push((oauth.client_id_param.clone(), client.id.to_owned())),
    }
    if !params.is_empty() {
        req = match rev.send {
            TokenPlacement::Json => {
                let map: serde_json::Map<String, Value> = params
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                req.json(&map)
            }
            TokenPlacement::Query => req.query(&params),
            _ if matches!(rev.method, HttpMethod::Get) => req.query(&params),
            _ => req.form(&params),
        };
    }
    let (status, headers, body) = send(&url, req).await.map_err(|e| e.to_string())?;
    let parsed = parse_body(&headers, &body);
    if (200..300).contains(&status) {
        if let Some(v) = &parsed
            && v.get("ok") == Some(&Value::Bool(false))
        {
            let code = error_code(v).unwrap_or_else(|| "error".into());
            return Err(format!("the provider refused the revocation: {code}"));
        }
        return Ok(true);
    }
    let code = parsed
        .as_ref()
        .and_then(error_code)
        .unwrap_or_else(|| format!("HTTP {status}"));
    Err(format!(
        "the revocation endpoint answered HTTP {status} ({code})"
    ))
}

/// GETs a JSON document with the access token (userinfo, or the catalog's verify
/// request). Returns the status and the parsed body (if JSON).
pub(crate) async fn get_with_credential(
    http: &Outbound,
    url: &str,
    how: Option<&ApiKey>,
    value: &str,
    extra_headers: &BTreeMap<String, String>,
) -> Result<(u16, Option<Value>), OutboundError> {
    let parsed = http.check(url)?;
    let mut req = http
        .client()
        .get(parsed.clone())
        .header(ACCEPT, "application/json");
    for (k, v) in extra_headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            req = req.header(name, value);
        }
    }
    req = apply_credential(req, how, value);
    let (status, headers, body) = send(&parsed, req).await?;
    Ok((status, parse_body(&headers, &body)))
}

/// GETs with HTTP basic authentication (the verify request of basic-auth providers).
/// Returns the status and the parsed body (if JSON).
pub(crate) async fn get_with_basic(
    http: &Outbound,
    url: &str,
    username: &str,
    password: &str,
    extra_headers: &BTreeMap<String, String>,
) -> Result<(u16, Option<Value>), OutboundError> {
    let parsed = http.check(url)?;
    let mut req = http
        .client()
        .get(parsed.clone())
        .header(AUTHORIZATION, basic_plain(username, password));
    for (k, v) in extra_headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            req = req.header(name, value);
        }
    }
    let (status, headers, body) = send(&parsed, req).await?;
    Ok((status, parse_body(&headers, &body)))
}

/// `Authorization: Basic` as RFC 7617 has it (no form-encoding), for API calls.
pub(crate) fn basic_plain(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}
