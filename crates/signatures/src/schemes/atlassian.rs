//! Atlassian (Jira Cloud): two kinds of webhook may come to one URL, and each is checked
//! only with its own key.
//!
//! - Admin webhooks (made in Jira's settings or with `/rest/webhooks/1.0/webhook`) with a
//!   secret carry `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`; the key is the
//!   webhook secret.
//! - Webhooks an OAuth 2.0 (3LO) app registers with `POST /rest/api/3/webhook` ("dynamic
//!   webhooks") carry `Authorization: Bearer <JWT>`, HS256 with the app's client secret.
//!   The token covers no part of the request: it proves Atlassian sent a request while
//!   the token is valid (`exp`, required), not what the body says. Its other claims are
//!   not documented by Atlassian, so none is required.
//!
//! A request with `X-Hub-Signature` is an admin webhook, whatever else it carries: its
//! HMAC is checked with the webhook secrets, never with the client secret, and an
//! `Authorization` beside it is not read. Without it, the JWT is checked with the client
//! secret, never with a webhook secret. A request with neither is refused.

use secrecy::SecretString;

use super::{Ctx, body, jwt};
use crate::{KeyRole, SignError, SignRequest, Signed, Verified, VerifyError};

pub(crate) fn verify(ctx: &Ctx<'_>) -> Result<Verified, VerifyError> {
    let headers = ctx.req.headers;
    if headers.get(body::ATLASSIAN_ADMIN_HEADER).is_some() {
        if ctx.secrets.is_empty() {
            return Err(VerifyError::NoSecrets);
        }
        return body::verify(&body::ATLASSIAN_ADMIN, ctx);
    }
    if headers.get(jwt::ATLASSIAN_HEADER).is_none() {
        return Err(VerifyError::missing(&format!(
            "{} or {}",
            body::ATLASSIAN_ADMIN_HEADER,
            jwt::ATLASSIAN_HEADER
        )));
    }
    if ctx.app.is_empty() {
        return Err(VerifyError::NoAppSecret);
    }
    let app = Ctx {
        req: ctx.req,
        secrets: ctx.app,
        app: &[],
        now: ctx.now,
        tolerance: ctx.tolerance,
    };
    let mut v = jwt::verify(&jwt::ATLASSIAN, &app)?;
    v.key = KeyRole::App;
    Ok(v)
}

/// An admin webhook, signed with the first webhook secret.
pub(crate) fn sign_admin(
    secrets: &[SecretString],
    input: &SignRequest<'_>,
) -> Result<Signed, SignError> {
    body::sign(&body::ATLASSIAN_ADMIN, secrets, input)
}

/// A webhook an OAuth 2.0 app registered: the JWT, signed with the app's client secret.
pub(crate) fn sign_app(app: &[SecretString], input: &SignRequest<'_>) -> Result<Signed, SignError> {
    jwt::sign(&jwt::ATLASSIAN, app, input)
}
