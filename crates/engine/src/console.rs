//! The admin console's sign-in and sessions.
//!
//! A session id is 256 random bits held by the browser in an HttpOnly cookie; the store
//! keeps only its SHA-256 ([`store::ConsoleStore`]), so every instance sharing the
//! database recognises it and signing out ends it everywhere. A session ends when it has
//! been unused for `[console] session_idle_secs`, at `session_absolute_secs` after
//! sign-in, when it is signed out, and (signed in with an API key) when that key is
//! revoked. Every expiry is read on the engine's clock.
//!
//! Each session has a CSRF token derived from its id (a domain-separated SHA-256, so it
//! is neither stored nor computable from the stored hash); every console form carries it
//! and [`csrf_matches`] compares it in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sha2::{Digest as _, Sha256};
use store::{ConsoleSessionRecord, Scope};
use vault::{ExposeSecret, SecretString};

use crate::ids::{random_token, token_hash};
use crate::{Actor, Engine, EngineError, EngineResult};

/// Longest session id accepted from a cookie (a real one is 43 characters).
const MAX_TOKEN_LEN: usize = 128;

/// The message of every refused session: what to do, never why (expired, revoked,
/// unknown all look the same).
pub const SIGN_IN_AGAIN: &str = "not signed in, or the session ended; sign in again";

/// Who is signed in to the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    /// The audit actor (`api-key:<id>` or `oidc:<e-mail>`).
    pub actor: Actor,
    /// What the console shows: the key's name or the e-mail address.
    pub display_name: String,
}

/// A valid console session.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// Who.
    pub user: ConsoleUser,
    /// The token every form of this session carries.
    pub csrf_token: String,
    /// When the session ends at the latest.
    pub expires_at: DateTime<Utc>,
}

/// A session just started: the id for the browser's cookie (shown nowhere else), and
/// the session.
#[derive(Debug)]
pub struct NewConsoleSession {
    /// The session id.
    pub token: SecretString,
    /// The session.
    pub session: ConsoleSession,
}

/// The CSRF token of the session with this id.
pub fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"switchboard.console.csrf.v1\0")
        .chain_update(session_token.as_bytes())
        .finalize();
    URL_SAFE_NO_PAD.encode(digest)
}

/// Whether `presented` is the CSRF token of the session with this id (constant time).
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    vault::constant_time_eq(csrf_token(session_token).as_bytes(), presented.as_bytes())
}

fn actor_of(r: &ConsoleSessionRecord) -> EngineResult<Actor> {
    if let Some(id) = &r.api_key_id {
        return Ok(Actor::ApiKey { id: id.clone() });
    }
    r.actor
        .strip_prefix("oidc:")
        .map(|e| Actor::Oidc {
            email: e.to_owned(),
        })
        .ok_or_else(|| {
            EngineError::Store(store::StoreError::Corrupt(format!(
                "console session actor {:?}",
                r.actor
            )))
        })
}

impl Engine {
    /// Starts a console session for an admin API key. A key that is not valid is
    /// refused as [`EngineError::Unauthenticated`], one of another scope as
    /// [`EngineError::Forbidden`]. Audited as `console.sign_in`.
    pub async fn console_sign_in_with_key(
        &self,
        key: &SecretString,
    ) -> EngineResult<NewConsoleSession> {
        let principal = self.authenticate(key).await?;
        if principal.scope != Scope::Admin {
            return Err(EngineError::Forbidden(
                "the console needs an admin API key; this key has scope app".into(),
            ));
        }
        let user = ConsoleUser {
            actor: principal.actor(),
            display_name: principal.name.clone(),
        };
        self.start_console_session(user, Some(principal.key_id), "api_key")
            .await
    }

    /// Starts a session for `user` (the sign-in is checked already) and audits it.
    pub(crate) async fn start_console_session(
        &self,
        user: ConsoleUser,
        api_key_id: Option<String>,
        method: &str,
    ) -> EngineResult<NewConsoleSession> {
        let cfg = self.config();
        let now = self.now();
        let token = random_token()?;
        let expires_at = now + secs(cfg.console.session_absolute_secs);
        self.inner
            .store
            .insert_console_session(&ConsoleSessionRecord {
                id_hash: token_hash(&token),
                actor: user.actor.to_string(),
                display_name: user.display_name.clone(),
                api_key_id,
                created_at: now,
                last_seen_at: now,
                expires_at,
            })
            .await?;
        self.audit(
            &user.actor,
            "console.sign_in",
            "console",
            serde_json::json!({ "method": method }),
        )
        .await?;
        Ok(NewConsoleSession {
            session: ConsoleSession {
                user,
                csrf_token: csrf_token(&token),
                expires_at,
            },
            token: SecretString::from(token),
        })
    }

    /// The session with this id, if it is still valid; records its use. Anything else
    /// is [`EngineError::Unauthenticated`] ([`SIGN_IN_AGAIN`]); an ended session's row is
    /// removed on the way.
    pub async fn console_session(&self, token: &str) -> EngineResult<ConsoleSession> {
        let refused = EngineError::Unauthenticated(SIGN_IN_AGAIN);
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(refused);
        }
        let hash = token_hash(token);
        let Some(r) = self.inner.store.get_console_session(&hash).await? else {
            return Err(refused);
        };
        let cfg = self.config();
        let now = self.now();
        let idle = secs(cfg.console.session_idle_secs);
        let mut ended = now >= r.expires_at || now - r.last_seen_at >= idle;
        if !ended && let Some(id) = &r.api_key_id {
            ended = self
                .inner
                .store
                .get_api_key(id)
                .await?
                .is_none_or(|k| k.revoked_at.is_some() || k.scope != Scope::Admin);
        }
        if ended {
            self.inner.store.delete_console_session(&hash).await?;
            return Err(refused);
        }
        // Written at most once a minute (more often for very short idle times), so a
        // busy console is not a write per request.
        let every = (idle / 2).min(ChronoDuration::seconds(60));
        if now - r.last_seen_at >= every {
            self.inner.store.touch_console_session(&hash, now).await?;
        }
        Ok(ConsoleSession {
            user: ConsoleUser {
                actor: actor_of(&r)?,
                display_name: r.display_name,
            },
            csrf_token: csrf_token(token),
            expires_at: r.expires_at,
        })
    }

    /// Ends the session with this id on every instance; audited as `console.sign_out`.
    /// Ending a session that is gone already is not an error.
    pub async fn console_sign_out(&self, token: &SecretString) -> EngineResult<()> {
        let token = token.expose_secret();
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Ok(());
        }
        let hash = token_hash(token);
        let Some(r) = self.inner.store.get_console_session(&hash).await? else {
            return Ok(());
        };
        if self.inner.store.delete_console_session(&hash).await? {
            self.audit(
                &actor_of(&r)?,
                "console.sign_out",
                "console",
                serde_json::json!({}),
            )
            .await?;
        }
        Ok(())
    }

    /// Removes ended sessions and expired sign-ins (the background refresher calls it).
    pub async fn purge_console_sessions(&self) -> EngineResult<u64> {
        let now = self.now();
        let idle = secs(self.config().console.session_idle_secs);
        Ok(self
            .inner
            .store
            .purge_console_sessions(now, now - idle)
            .await?)
    }
}

fn secs(n: u64) -> ChronoDuration {
    ChronoDuration::seconds(i64::try_from(n).unwrap_or(i64::MAX / 1000))
}

/// A fresh random value (256 bits, base64url) for the sign-in form's double-submit
/// token.
pub fn new_form_token() -> EngineResult<String> {
    random_token()
}

/// One hour of the console overview's charts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HourPoint {
    /// The start of the hour.
    pub hour: DateTime<Utc>,
    /// Webhooks accepted.
    pub received: u64,
    /// Webhooks refused.
    pub refused: u64,
    /// Deliveries that succeeded.
    pub delivered: u64,
    /// The 95th percentile of their time from enqueue to success, in milliseconds.
    pub p95_ms: Option<u64>,
    /// Token refreshes that failed.
    pub refresh_failed: u64,
}

/// The nearest-rank 95th percentile of ascending values.
pub fn p95(sorted: &[u64]) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * 95).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

impl Engine {
    /// The last `hours` hours (the current one last), every hour present, for the
    /// console's overview: webhooks received and refused, deliveries and their p95
    /// latency, refresh failures. Counts this process has not flushed yet are added
    /// first, so the current hour is up to date.
    pub async fn console_activity(&self, hours: u32) -> EngineResult<Vec<HourPoint>> {
        const HOUR_MS: i64 = store::console::HOUR_MS;
        self.flush_activity().await?;
        let now = self.now();
        let current = now.timestamp_millis().div_euclid(HOUR_MS) * HOUR_MS;
        let first = current - i64::from(hours.saturating_sub(1)) * HOUR_MS;
        let since = DateTime::<Utc>::from_timestamp_millis(first).unwrap_or(now);
        let stored = self.inner.store.activity_by_hour(since).await?;
        let mut out = Vec::with_capacity(hours as usize);
        let mut it = stored.into_iter().peekable();
        let mut h = first;
        while h <= current {
            let hour = DateTime::<Utc>::from_timestamp_millis(h).unwrap_or(now);
            while it.peek().is_some_and(|a| a.hour < hour) {
                it.next();
            }
            let point = match it.peek() {
                Some(a) if a.hour == hour => HourPoint {
                    hour,
                    received: a.received,
                    refused: a.refused,
                    delivered: a.delivered,
                    p95_ms: p95(&a.latencies_ms),
                    refresh_failed: a.refresh_failed,
                },
                _ => HourPoint {
                    hour,
                    ..HourPoint::default()
                },
            };
            out.push(point);
            h += HOUR_MS;
        }
        Ok(out)
    }
}
