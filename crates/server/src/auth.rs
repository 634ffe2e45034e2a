//! API-key authentication: `Authorization: Bearer sb_…`, 401 without a valid key, 403
//! for the wrong scope.
//!
//! The engine checks the key ([`engine::Engine::authenticate`]): the key's stored record
//! comes from a per-process cache for up to `api_key_cache_secs` (so a busy key costs no
//! database read per request), and the secret is compared against it on every request.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use engine::api_keys::Principal;
use store::Scope;
use vault::SecretString;

use crate::AppState;
use crate::error::ApiError;

async fn authenticate(
    parts: &Parts,
    state: &AppState,
    required: Scope,
) -> Result<Principal, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing API key; send Authorization: Bearer sb_…",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the Authorization header must be `Bearer <api key>`",
            )
        })?;
    let principal = state
        .engine
        .authenticate(&SecretString::from(token.to_owned()))
        .await?;
    if !principal.scope.allows(required) {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this route needs an API key with scope {}; this key has scope {}",
                required.as_str(),
                principal.scope.as_str()
            ),
        ));
    }
    Ok(principal)
}

/// A request authenticated with an admin-scoped key.
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

/// A request authenticated with an app-scoped (or admin) key.
#[derive(Debug, Clone)]
pub struct App(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, Scope::Admin).await.map(Admin)
    }
}

impl FromRequestParts<AppState> for App {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state, Scope::App).await.map(App)
    }
}
