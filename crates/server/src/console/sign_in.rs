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

/// The OpenID Connect sign-in cookie's name over plain HTTP (`__Host-` prefixed over
/// HTTPS). `SameSite=Lax`: it must come back with the provider's redirect.
const OIDC_COOKIE: &str = "sb_console_oidc";
const OIDC_PATH: &str = "/ui/sign-in/oidc";

fn oidc_cookie_name(state: &AppState) -> &'static str {
    if session::secure(state) {
        "__Host-sb_console_oidc"
    } else {
        OIDC_COOKIE
    }
}

fn oidc_cookie_path(state: &AppState) -> &'static str {
    // `__Host-` cookies must have `Path=/`.
    if session::secure(state) {
        "/"
    } else {
        OIDC_PATH
    }
}

/// Where to go after an OpenID Connect sign-in.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OidcStartQuery {
    /// A console path to open once signed in (default `/ui`).
    pub next: Option<String>,
    /// Passed on to the provider (`login_hint`), e.g. an e-mail address.
    pub login_hint: Option<String>,
}

/// Starts signing in with the configured OpenID Connect provider.
#[utoipa::path(get, path = "/ui/sign-in/oidc", tag = "console", params(OidcStartQuery),
    responses(
        (status = 303, description = "to the provider (the sign-in cookie is set)"),
        (status = 400, content_type = "text/html", body = String, description = "an unknown query parameter"),
        (status = 404, content_type = "text/html", body = String, description = "[console.oidc] is not configured"),
        (status = 503, content_type = "text/html", body = String, description = "the provider's discovery document could not be read")))]
pub async fn oidc_start(
    State(s): State<AppState>,
    ConsoleQuery(q): ConsoleQuery<OidcStartQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(q.next.as_deref());
    let start = s
        .engine
        .console_oidc_start(&next, q.login_hint.as_deref())
        .await?;
    let mut res = Redirect::to(&start.redirect_url).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie_with(
            &s,
            oidc_cookie_name(&s),
            Some(vault::ExposeSecret::expose_secret(&start.browser_secret)),
            oidc_cookie_path(&s),
            "Lax",
        ),
    );
    Ok(res)
}

/// What the provider sends back.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OidcCallbackQuery {
    /// The state sent with the authorization request.
    pub state: Option<String>,
    /// The authorization code.
    pub code: Option<String>,
    /// The provider's error (`access_denied`…).
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "ui/signed_in.html")]
struct SignedInPage {
    layout: Layout,
    next: String,
    who: String,
}

/// The provider's redirect back: finishes the sign-in.
#[utoipa::path(get, path = "/ui/sign-in/oidc/callback", tag = "console", params(OidcCallbackQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "signed in: the session cookie is set; the page goes on to the console"),
        (status = 303, description = "not signed in: to the sign-in page with the reason")))]
pub async fn oidc_callback(
    State(s): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<OidcCallbackQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    let back = |code: &str| {
        let mut res = Redirect::to(&format!("/ui/sign-in?error={code}")).into_response();
        res.headers_mut().append(
            header::SET_COOKIE,
            session::set_cookie_with(&s, oidc_cookie_name(&s), None, oidc_cookie_path(&s), "Lax"),
        );
        res
    };
    if q.error.is_some() {
        return back("oidc_denied");
    }
    let (Some(state), Some(code)) = (q.state.as_deref(), q.code.as_deref()) else {
        return back("oidc_failed");
    };
    let browser = session::cookie(&headers, oidc_cookie_name(&s)).unwrap_or_default();
    match s.engine.console_oidc_finish(state, code, browser).await {
        Ok((new, next)) => {
            let next = safe_next(Some(&next));
            let who = new.session.user.display_name.clone();
            let mut res = html(
                StatusCode::OK,
                &SignedInPage {
                    layout: Layout::anonymous("Signed in", String::new()),
                    next,
                    who,
                },
            );
            let h = res.headers_mut();
            h.append(header::SET_COOKIE, session::session_cookie(&s, &new.token));
            h.append(
                header::SET_COOKIE,
                session::set_cookie_with(
                    &s,
                    oidc_cookie_name(&s),
                    None,
                    oidc_cookie_path(&s),
                    "Lax",
                ),
            );
            res
        }
        Err(engine::EngineError::Forbidden(_)) => back("oidc_not_allowed"),
        Err(e) => {
            tracing::warn!(error = %e, "console sign-in with OpenID Connect failed");
            back("oidc_failed")
        }
    }
}

/// The routes of signing in and out.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(page, submit))
        .routes(routes!(sign_out))
        .routes(routes!(oidc_start))
        .routes(routes!(oidc_callback))
}
