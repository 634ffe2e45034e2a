//! The API keys page: list, create (the key is shown once, in the response to the
//! form, never in a URL), revoke after a confirmation page.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use engine::api_keys::ApiKeyInfo;
use serde::Deserialize;
use store::Scope;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use vault::ExposeSecret;

use super::render::{Layout, PageError, html};
use super::session::{Console, ConsoleForm, ConsoleQuery};
use crate::AppState;
use crate::error::PathParams;
use crate::routes::Routes;

const PATH: &str = "/ui/api-keys";

/// A key as the page shows it.
#[derive(Debug)]
pub struct KeyRow {
    id: String,
    name: String,
    scope: &'static str,
    created: String,
    last_used: String,
    revoked: Option<String>,
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl From<ApiKeyInfo> for KeyRow {
    fn from(k: ApiKeyInfo) -> Self {
        Self {
            id: k.id,
            name: k.name,
            scope: k.scope.as_str(),
            created: when(k.created_at),
            last_used: k.last_used_at.map_or_else(|| "never".into(), when),
            revoked: k.revoked_at.map(when),
        }
    }
}

#[derive(Template)]
#[template(path = "ui/api_keys.html")]
struct KeysPage {
    layout: Layout,
    keys: Vec<KeyRow>,
    notice: Option<String>,
    error: Option<String>,
    name: String,
    created: Option<(KeyRow, String)>,
}

/// What the list page shows after an action.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KeysQuery {
    /// The id of a key just revoked.
    #[param(pattern = "^([a-z0-9]{12})?$")]
    pub revoked: Option<String>,
}

async fn keys_page(
    s: &AppState,
    c: &Console,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    name: String,
    created: Option<(KeyRow, String)>,
) -> Result<Response, PageError> {
    let keys = s
        .engine
        .list_api_keys()
        .await?
        .into_iter()
        .map(KeyRow::from)
        .collect();
    Ok(html(
        status,
        &KeysPage {
            layout: Layout::new(c, "API keys", PATH),
            keys,
            notice,
            error,
            name,
            created,
        },
    ))
}

/// The API keys page.
#[utoipa::path(get, path = "/ui/api-keys", tag = "console", params(KeysQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the keys and the form to create one"),
        (status = 303, description = "not signed in: to the sign-in page"),
        (status = 400, content_type = "text/html", body = String, description = "a malformed query parameter")))]
pub async fn page(
    State(s): State<AppState>,
    ConsoleQuery(q): ConsoleQuery<KeysQuery>,
    signed_in: Result<Console, super::session::NotSignedIn>,
) -> Result<Response, PageError> {
    // A malformed query is a 400 whoever asks; the session is checked after it.
    let notice = match q.revoked.filter(|id| !id.is_empty()) {
        Some(id)
            if id.len() == 12
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            Some(format!("Key {id} is revoked; it stopped working at once."))
        }
        Some(_) => return Err(PageError::bad_request("revoked is not a key id; remove it")),
        None => None,
    };
    let c = match signed_in {
        Ok(c) => c,
        Err(refused) => return Ok(refused.into_response()),
    };
    keys_page(&s, &c, StatusCode::OK, notice, None, String::new(), None).await
}

/// The create form's fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyForm {
    /// 1 to 64 letters, digits, spaces, `-`, `_`, `.`.
    pub name: String,
    /// `admin` or `app`.
    pub scope: String,
}

/// Creates a key and shows it once.
#[utoipa::path(post, path = "/ui/api-keys", tag = "console",
    request_body(content = CreateKeyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, content_type = "text/html", body = String, description = "created: the page shows the key this once"),
        (status = 400, content_type = "text/html", body = String, description = "a bad name or scope (the form again)"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a cross-site post, or the form's CSRF token is missing or wrong")))]
pub async fn create(
    State(s): State<AppState>,
    f: ConsoleForm<CreateKeyForm>,
) -> Result<Response, PageError> {
    let c = &f.console;
    let Some(scope) = Scope::parse(f.form.scope.trim()) else {
        return keys_page(
            &s,
            c,
            StatusCode::BAD_REQUEST,
            None,
            Some("Choose the scope admin or app.".into()),
            f.form.name,
            None,
        )
        .await;
    };
    match s
        .engine
        .create_api_key(&f.form.name, scope, c.actor())
        .await
    {
        Ok(k) => {
            let key = k.key.expose_secret().to_owned();
            keys_page(
                &s,
                c,
                StatusCode::CREATED,
                None,
                None,
                String::new(),
                Some((k.info.into(), key)),
            )
            .await
        }
        Err(engine::EngineError::Invalid { message, .. }) => {
            keys_page(
                &s,
                c,
                StatusCode::BAD_REQUEST,
                None,
                Some(format!("The name {message}.")),
                f.form.name,
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "ui/api_key_revoke.html")]
struct RevokePage {
    layout: Layout,
    key: KeyRow,
}

async fn find_key(s: &AppState, id: &str) -> Result<ApiKeyInfo, PageError> {
    s.engine
        .list_api_keys()
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| {
            PageError::not_found(format!("there is no API key {id:?}; see the list of keys"))
        })
}

/// The confirmation before revoking a key.
#[utoipa::path(get, path = "/ui/api-keys/{id}/revoke", tag = "console",
    params(("id" = String, Path, description = "the key's id")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "asks to confirm"),
        (status = 303, description = "not signed in: to the sign-in page"),
        (status = 404, content_type = "text/html", body = String, description = "no such key"),
        (status = 409, content_type = "text/html", body = String, description = "revoked already")))]
pub async fn confirm_revoke(
    State(s): State<AppState>,
    c: Console,
    PathParams(id): PathParams<String>,
) -> Result<Response, PageError> {
    let key = find_key(&s, &id).await?;
    if key.revoked_at.is_some() {
        return Err(PageError::new(
            StatusCode::CONFLICT,
            format!("key {id} is revoked already"),
        ));
    }
    Ok(html(
        StatusCode::OK,
        &RevokePage {
            layout: Layout::new(&c, "Revoke an API key", PATH),
            key: key.into(),
        },
    ))
}

/// The revoke form's fields: none besides `csrf`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeForm {}

/// Revokes a key; it stops working at once.
#[utoipa::path(post, path = "/ui/api-keys/{id}/revoke", tag = "console",
    params(("id" = String, Path, description = "the key's id")),
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "revoked: back to the list"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a cross-site post, or the form's CSRF token is missing or wrong"),
        (status = 404, content_type = "text/html", body = String, description = "no such key"),
        (status = 409, content_type = "text/html", body = String, description = "revoked already")))]
pub async fn revoke(
    State(s): State<AppState>,
    PathParams(id): PathParams<String>,
    f: ConsoleForm<RevokeForm>,
) -> Result<Response, PageError> {
    s.engine.revoke_api_key(&id, f.console.actor()).await?;
    Ok(Redirect::to(&format!("{PATH}?revoked={id}")).into_response())
}

/// The routes of the API keys page.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(page, create))
        .routes(routes!(confirm_revoke, revoke))
}
