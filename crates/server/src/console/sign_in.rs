//! Signing in and out.
//!
//! - `GET /ui/sign-in`: the form (an admin API key), and the OpenID Connect button when
//!   `[console.oidc]` is set. The form carries a double-submit token: a random value in
//!   a `SameSite=Strict` cookie of its own and in a hidden field, compared in constant
//!   time, so another site cannot sign a browser in with its own key.
//! - `POST /ui/sign-in`: checks the key (admin scope), starts a session, sets the
//!   session cookie and goes on to `next` (a console path) with 303; a wrong key gets
//!   the form again with 401, an app key 403. The key is never echoed.
//! - `POST /ui/sign-out`: ends the session on every instance and clears the cookie.

use askama::Template;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use vault::SecretString;

use super::render::{Layout, PageError, html};
use super::session::{
    self, Console, ConsoleForm, ConsoleQuery, csrf_field, form_pairs, parse_fields, safe_next,
    same_origin,
};
use crate::AppState;
use crate::routes::Routes;

/// Name of the sign-in form's double-submit cookie over plain HTTP (`__Host-` prefixed
/// over HTTPS).
const FORM_COOKIE: &str = "sb_console_form";

fn form_cookie_name(state: &AppState) -> &'static str {
    if session::secure(state) {
        "__Host-sb_console_form"
    } else {
        FORM_COOKIE
    }
}

#[derive(Template)]
#[template(path = "ui/sign_in.html")]
struct SignInPage {
    layout: Layout,
    next: String,
    next_q: String,
    error: Option<String>,
    oidc: bool,
}

/// Where to go after signing in.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SignInQuery {
    /// A console path to open once signed in (default `/ui`).
    pub next: Option<String>,
    /// Why the OpenID Connect sign-in did not succeed, shown on the form.
    pub error: Option<String>,
}

fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    next: &str,
    error: Option<String>,
) -> Response {
    let token = match engine::console::new_form_token() {
        Ok(t) => t,
        Err(e) => return PageError::from(e).into_response(),
    };
    let mut res = html(
        status,
        &SignInPage {
            layout: Layout::anonymous("Sign in", token.clone()),
            next: safe_next(Some(next)),
            next_q: session::pct(&safe_next(Some(next))),
            error,
            oidc: state.engine.config().console.oidc.is_some(),
        },
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(state, form_cookie_name(state), Some(&token), "/ui/sign-in"),
    );
    res
}

/// Messages for the `error` parameter the OpenID Connect callback sends back with.
fn oidc_error_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "oidc_denied" => "The identity provider did not sign you in.",
        "oidc_not_allowed" => {
            "Your account is not allowed to use this console; ask an administrator to add your e-mail address or group."
        }
        "oidc_failed" => "Signing in with the identity provider failed; try again.",
        _ => return None,
    })
}

/// The sign-in page.
#[utoipa::path(get, path = "/ui/sign-in", tag = "console", params(SignInQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "the sign-in form"),
        (status = 303, description = "already signed in: to the console"),
        (status = 400, content_type = "text/html", body = String, description = "an unknown query parameter")))]
pub async fn page(
    State(s): State<AppState>,
    ConsoleQuery(q): ConsoleQuery<SignInQuery>,
    req: Request,
) -> Response {
    let (mut parts, _) = req.into_parts();
    if Console::from_request_parts(&mut parts, &s).await.is_ok() {
        return Redirect::to(&safe_next(q.next.as_deref())).into_response();
    }
    let error = q
        .error
        .as_deref()
        .and_then(oidc_error_text)
        .map(str::to_owned);
    sign_in_page(
        &s,
        StatusCode::OK,
        q.next.as_deref().unwrap_or("/ui"),
        error,
    )
}

/// The sign-in form's fields (besides `csrf`, the form's token from its hidden field).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInForm {
    /// An admin API key (`sb_…`).
    pub api_key: String,
    /// A console path to open once signed in.
    pub next: Option<String>,
}

/// Signs in with an admin API key.
#[utoipa::path(post, path = "/ui/sign-in", tag = "console",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "signed in: the session cookie is set; to `next`"),
        (status = 400, content_type = "text/html", body = String, description = "a malformed form"),
        (status = 401, content_type = "text/html", body = String, description = "not a valid key (the form again)"),
        (status = 403, content_type = "text/html", body = String, description = "not an admin key, a cross-site post, or the form's token is missing or wrong"),
        (status = 415, content_type = "text/html", body = String, description = "not a form")))]
pub async fn submit(State(s): State<AppState>, req: Request) -> Result<Response, PageError> {
    same_origin(req.headers(), &s)?;
    let (parts, pairs) = form_pairs(req).await?;
    let expected = session::cookie(&parts.headers, form_cookie_name(&s)).unwrap_or_default();
    let ok = !expected.is_empty()
        && csrf_field(&pairs)
            .is_some_and(|t| vault::constant_time_eq(t.as_bytes(), expected.as_bytes()));
    if !ok {
        return Err(session::csrf_refused());
    }
    let form: SignInForm = parse_fields(&pairs)?;
    let next = safe_next(form.next.as_deref());
    let key = SecretString::from(form.api_key.trim().to_owned());
    match s.engine.console_sign_in_with_key(&key).await {
        Ok(new) => {
            let mut res = Redirect::to(&next).into_response();
            let h = res.headers_mut();
            h.append(header::SET_COOKIE, session::session_cookie(&s, &new.token));
            h.append(
                header::SET_COOKIE,
                session::set_cookie(&s, form_cookie_name(&s), None, "/ui/sign-in"),
            );
            Ok(res)
        }
        Err(engine::EngineError::Unauthenticated(_)) => Ok(sign_in_page(
            &s,
            StatusCode::UNAUTHORIZED,
            &next,
            Some("That key is not valid, or it has been revoked.".into()),
        )),
        Err(engine::EngineError::Forbidden(_)) => Ok(sign_in_page(
            &s,
            StatusCode::FORBIDDEN,
            &next,
            Some("That key has scope app; the console needs an admin key.".into()),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The sign-out form's fields: none besides `csrf`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignOutForm {}

/// Signs out: the session ends on every instance.
#[utoipa::path(post, path = "/ui/sign-out", tag = "console",
    request_body(content = SignOutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "signed out: the cookie is cleared; to the sign-in page"),
        (status = 401, content_type = "text/html", body = String, description = "not signed in"),
        (status = 403, content_type = "text/html", body = String, description = "a cross-site post, or the form's CSRF token is missing or wrong")))]
pub async fn sign_out(
    State(s): State<AppState>,
    f: ConsoleForm<SignOutForm>,
) -> Result<Response, PageError> {
    s.engine.console_sign_out(&f.console.token).await?;
    let mut res = Redirect::to("/ui/sign-in").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session::clear_session_cookie(&s));
    Ok(res)
}

/// The routes of signing in and out.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(page, submit))
        .routes(routes!(sign_out))
}
