//! Stand-in for the console framework's sign-in and CSRF check, so the pages build and
//! their tests run before the framework is merged: an admin API key signs in, and the
//! CSRF token is the empty string. Replaced by the framework's extractor at the merge.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use engine::Actor;

use crate::AppState;
use crate::auth::Admin;
use crate::routes::ui_pages::PageError;

/// The signed-in console user.
#[derive(Debug, Clone)]
pub struct ConsoleUser(Actor);

impl ConsoleUser {
    /// Who acts, for the audit log.
    pub fn actor(&self) -> Actor {
        self.0.clone()
    }

    /// The CSRF token forms must send back.
    pub fn csrf(&self) -> &str {
        ""
    }
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = PageError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let Admin(p) = Admin::from_request_parts(parts, state)
            .await
            .map_err(|e| PageError {
                status: e.status,
                message: e.message,
            })?;
        Ok(Self(p.actor()))
    }
}

/// Refuses a form whose CSRF token is not the session's (403, nothing changes).
pub fn check_csrf(user: &ConsoleUser, token: &str) -> Result<(), PageError> {
    if token == user.csrf() {
        Ok(())
    } else {
        Err(PageError {
            status: StatusCode::FORBIDDEN,
            message: "the form is out of date; reload the page and try again".into(),
        })
    }
}
