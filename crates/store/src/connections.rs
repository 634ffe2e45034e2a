//! Connections (one end user's credentials for one integration), connect sessions and
//! in-flight OAuth2 authorization states.
//!
//! Credentials are one sealed blob per connection, kept in the `secrets` table (slot
//! [`credentials_slot`]) so that key rotation treats them like every other secret; the
//! store writes them in the same transaction as the connection's row, so the tokens,
//! their expiry and the fencing counters always change together. A refresh is
//! fenced: whoever refreshes first takes a lease ([`ConnectionStore::acquire_refresh_lease`])
//! that increments `lease_fence`; the result is written only if the fence is unchanged
//! ([`ConnectionStore::commit_refresh`]). The fence, not the clock, decides: a refresher
//! whose lease expired and was taken over (or whose connection was reconnected, revoked
//! or deleted meanwhile) can never overwrite newer tokens, even from another process;
//! one whose lease merely expired, with nobody taking it over, still commits, so a
//! refresh token the provider has already rotated is never dropped.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{SecretSlot, StoreResult};

/// The secret slot of a connection's credentials; sealed with this slot as associated
/// data.
pub fn credentials_slot(connection_id: &str) -> SecretSlot {
    SecretSlot::new("connections", connection_id, "credentials")
}

/// The secret slot of a connection's own signing key: the private key (with its issuer
/// and key id) that a `jwt_bearer` connection brings instead of signing with its
/// integration's. Sealed with this slot as associated data; written or removed with the
/// connection's row ([`ConnectionStore::upsert_connection_keyed`]), and deleted with the
/// credentials by a revoke or a delete, since both remove every secret of the
/// connection.
pub fn signing_key_slot(connection_id: &str) -> SecretSlot {
    SecretSlot::new("connections", connection_id, "signing_key")
}

/// The state of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Credentials work (as far as Switchboard knows).
    Active,
    /// The provider refused the grant (`invalid_grant`); the end user must connect again.
    NeedsReauth,
    /// Revoked; kept only until deleted.
    Revoked,
    /// Something else is wrong (see `last_error`).
    Error,
}

impl ConnectionStatus {
    /// All statuses, for metrics and listings.
    pub const ALL: [ConnectionStatus; 4] = [
        ConnectionStatus::Active,
        ConnectionStatus::NeedsReauth,
        ConnectionStatus::Revoked,
        ConnectionStatus::Error,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::NeedsReauth => "needs_reauth",
            ConnectionStatus::Revoked => "revoked",
            ConnectionStatus::Error => "error",
        }
    }

    /// Parses a stored or user-given name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A connection as stored (without its credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Unique within the deployment; chosen by the app or generated (`conn_…`).
    pub id: String,
    /// The integration it belongs to.
    pub integration: String,
    /// The integration's provider when the connection was made.
    pub provider: String,
    /// The app's id of the end user.
    pub end_user_id: String,
    /// `oauth2`, `api_key`, `basic` or `client_credentials`.
    pub auth_mode: String,
    /// Current state.
    pub status: ConnectionStatus,
    /// Scopes the provider granted.
    pub scopes: Vec<String>,
    /// Required scopes that were not granted.
    pub missing_scopes: Vec<String>,
    /// Values for the provider's URL placeholders and routing (shop, instance URL…).
    pub settings: BTreeMap<String, String>,
    /// The value webhooks are routed by (Slack team id…), when the provider routes.
    pub routing_key: Option<String>,
    /// When the access token expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change of any kind.
    pub updated_at: DateTime<Utc>,
    /// Last successful refresh.
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// What went wrong last (no secrets), cleared by a success.
    pub last_error: Option<String>,
    /// Refresh failures in a row (for backoff); 0 after a success.
    pub refresh_failures: u32,
    /// When the background refresher should look at it next.
    pub next_refresh_at: Option<DateTime<Utc>>,
    /// Incremented by every write of the credentials.
    pub token_version: i64,
    /// When the current access token was obtained: set by the store to the time of the
    /// write that stored the credentials (`updated_at` of an upsert, `at` of a committed
    /// refresh); ignored on input. With `expires_at` it gives the token's lifetime.
    pub token_obtained_at: Option<DateTime<Utc>>,
    /// The last credential health check, if any (set by
    /// [`ConnectionStore::record_health_check`], cleared by a reconnect); ignored on input.
    pub health: Option<HealthCheck>,
}

/// What a credential health check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthResult {
    /// The provider accepted the credentials.
    Ok,
    /// The provider refused them (401, after a refresh where the credentials refresh):
    /// the connection was marked `needs_reauth`.
    Rejected,
    /// The provider answered 403: the credentials authenticate but may not make the
    /// check request (a missing scope, a plan limit); the connection stays active.
    Forbidden,
    /// The provider could not be asked (5xx, 429, timeout, refused connection); nothing
    /// changed.
    Unavailable,
    /// Another answer (a 404, an odd body); nothing changed.
    Error,
}

impl HealthResult {
    /// All results.
    pub const ALL: [HealthResult; 5] = [
        HealthResult::Ok,
        HealthResult::Rejected,
        HealthResult::Forbidden,
        HealthResult::Unavailable,
        HealthResult::Error,
    ];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthResult::Ok => "ok",
            HealthResult::Rejected => "rejected",
            HealthResult::Forbidden => "forbidden",
            HealthResult::Unavailable => "unavailable",
            HealthResult::Error => "error",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// One credential health check's outcome, as kept on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// When the check ended.
    pub checked_at: DateTime<Utc>,
    /// What it found.
    pub result: HealthResult,
    /// A short explanation (the provider's status, the error); never a secret.
    pub detail: Option<String>,
}

/// A connection's sealed credentials, or its sealed signing key (the vault's bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCredentials {
    /// Hex id of the key that sealed them.
    pub key_id: String,
    /// The sealed bytes.
    pub ciphertext: Vec<u8>,
}

/// A held refresh lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The fencing value; a commit must present it.
    pub fence: i64,
    /// The credentials version when the lease was taken.
    pub token_version: i64,
}

/// The result of a refresh (or a failed one), written under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshCommit {
    /// New credentials; `None` leaves them as they are (a failure).
    pub credentials: Option<SealedCredentials>,
    /// New expiry (ignored when `credentials` is `None`).
    pub expires_at: Option<DateTime<Utc>>,
    /// New granted scopes (ignored when `credentials` is `None`).
    pub scopes: Vec<String>,
    /// New status.
    pub status: ConnectionStatus,
    /// New last error.
    pub last_error: Option<String>,
    /// Set on success.
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// Failures in a row.
    pub refresh_failures: u32,
    /// When to look again.
    pub next_refresh_at: Option<DateTime<Utc>>,
    /// When this is written.
    pub at: DateTime<Utc>,
}

/// Filters of a connection listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionFilter {
    /// Only this integration.
    pub integration: Option<String>,
    /// Only this end user.
    pub end_user_id: Option<String>,
    /// Only this status.
    pub status: Option<ConnectionStatus>,
}

/// What [`ConnectionStore::upsert_connection`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upsert {
    /// A new connection.
    Created(Connection),
    /// An existing connection of the same integration and end user got new credentials.
    Replaced(Connection),
    /// The id is taken by another integration or end user; nothing changed.
    Taken,
}

/// A short-lived permission for one end user to connect some integrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectSession {
    /// SHA-256 of the session token.
    pub token_hash: Vec<u8>,
    /// The app's id of the end user.
    pub end_user_id: String,
    /// Integrations the user may connect.
    pub integrations: Vec<String>,
    /// The connection id to create, when the app chose one.
    pub connection_id: Option<String>,
    /// Where the browser goes at the end.
    pub return_to: Option<String>,
    /// The opener window's origin, for a `postMessage` result.
    pub opener_origin: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// One authorization in flight: created when the browser is sent to the provider,
/// consumed (once) by the callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthState {
    /// SHA-256 of the `state` parameter.
    pub state_hash: Vec<u8>,
    /// The integration.
    pub integration: String,
    /// The connection to create or replace.
    pub connection_id: String,
    /// The end user.
    pub end_user_id: String,
    /// SHA-256 of the connect session's token.
    pub session_hash: Vec<u8>,
    /// Where the browser goes at the end.
    pub return_to: Option<String>,
    /// The opener's origin for `postMessage`.
    pub opener_origin: Option<String>,
    /// Connection settings given at the start (placeholders).
    pub settings: BTreeMap<String, String>,
    /// The sealed PKCE verifier and nonce.
    pub sealed: Vec<u8>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// The sealed part of an unexpired authorization state, as key rotation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedOAuthState {
    /// SHA-256 of the `state` parameter (the row, and the sealed value's associated data).
    pub state_hash: Vec<u8>,
    /// Hex id of the key that sealed it, read from the sealed value's header.
    pub key_id: String,
    /// The sealed PKCE verifier and nonce.
    pub sealed: Vec<u8>,
}

/// Connections, connect sessions and authorization states.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Creates the connection, or replaces the credentials and details of an existing one
    /// with the same id, integration and end user (a reconnect: status back to what
    /// `c` says, `token_version` incremented, any lease dropped). A signing key of its
    /// own that the connection had is removed: it is
    /// [`ConnectionStore::upsert_connection_keyed`] without one.
    async fn upsert_connection(
        &self,
        c: &Connection,
        credentials: &SealedCredentials,
    ) -> StoreResult<Upsert> {
        self.upsert_connection_keyed(c, credentials, None).await
    }
    /// [`ConnectionStore::upsert_connection`], and in the same transaction the
    /// connection's own signing key ([`signing_key_slot`]): written when `Some`, removed
    /// when `None` (the connection signs with its integration's key again). Nothing is
    /// written when the id is [`Upsert::Taken`].
    async fn upsert_connection_keyed(
        &self,
        c: &Connection,
        credentials: &SealedCredentials,
        signing_key: Option<&SealedCredentials>,
    ) -> StoreResult<Upsert>;
    /// The connection.
    async fn get_connection(&self, id: &str) -> StoreResult<Option<Connection>>;
    /// The connection with its sealed credentials, in one read.
    async fn get_connection_credentials(
        &self,
        id: &str,
    ) -> StoreResult<Option<(Connection, SealedCredentials)>>;
    /// Connections ordered by id, strictly after `after` when given.
    async fn list_connections(
        &self,
        filter: &ConnectionFilter,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Connection>>;
    /// Number of connections by integration and status.
    async fn count_connections(&self) -> StoreResult<Vec<(String, ConnectionStatus, u64)>>;
    /// The connection whose routing key in `integration` is `key`, if exactly one.
    async fn connection_by_routing_key(
        &self,
        integration: &str,
        key: &str,
    ) -> StoreResult<Option<String>>;
    /// Every connection whose routing key in `integration` is `key` (a GitHub App
    /// installation bound to several connections), ordered by id, at most `limit`.
    async fn connections_by_routing_key(
        &self,
        integration: &str,
        key: &str,
        limit: u32,
    ) -> StoreResult<Vec<Connection>>;
    /// Takes the refresh lease until `until` if nobody holds an unexpired one; `None`
    /// when somebody does.
    async fn acquire_refresh_lease(
        &self,
        id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Option<Lease>>;
    /// Writes a refresh's outcome and releases the lease, only if `fence` is still the
    /// connection's; false (nothing written) when the lease was lost.
    ///
    /// "Lost" means the fence moved: another refresher took the lease over after it
    /// expired, or a reconnect, revoke, release, commit or delete bumped the fence. The
    /// lease's end time alone does not refuse a commit: a holder whose lease expired
    /// while nobody took it over still commits (true), so tokens the provider already
    /// issued (a rotated refresh token) are kept. Every backend behaves so; the
    /// `store-tests` cases `lease_lapsed_but_not_taken_over_still_commits` and
    /// `lease_lapsed_and_taken_over_refuses_the_old_holder` pin both.
    async fn commit_refresh(
        &self,
        id: &str,
        fence: i64,
        commit: &RefreshCommit,
    ) -> StoreResult<bool>;
    /// Gives the lease back without writing anything (somebody else refreshed meanwhile);
    /// false when it was already lost.
    async fn release_refresh_lease(&self, id: &str, fence: i64) -> StoreResult<bool>;
    /// Records, for the holder of lease `fence`, that the provider-side state of
    /// connection `id` (a GitHub App installation suspended or not) is known as of `at`,
    /// if `at` is later than the time recorded so far (none at first): the
    /// compare-and-set that puts installation webhooks delivered out of order back in
    /// the order of the provider's time. True when `at` was recorded; false when an equal
    /// or later time was already recorded, the fence moved (the lease was lost), or
    /// there is no such connection. Changes nothing else: not the lease, not
    /// `updated_at`; an upsert (reconnect) keeps the time.
    async fn advance_lifecycle_at(
        &self,
        id: &str,
        fence: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Marks the connection revoked and deletes its credentials (disconnect); false if
    /// there was none.
    async fn revoke_connection(&self, id: &str, at: DateTime<Utc>) -> StoreResult<bool>;
    /// Sets status and last error (outside a refresh).
    async fn set_connection_status(
        &self,
        id: &str,
        status: ConnectionStatus,
        last_error: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deletes the connection and its credentials; false if there was none.
    async fn delete_connection(&self, id: &str) -> StoreResult<bool>;
    /// Active connections with `next_refresh_at` at or before `due`, soonest first.
    async fn connections_due(&self, due: DateTime<Utc>, limit: u32)
    -> StoreResult<Vec<Connection>>;
    /// Claims up to `limit` active connections of `integration` whose credential health
    /// check is due at `now` (never claimed since their credentials were stored, or
    /// claimed for a time at or before `now`), the never-claimed first, then the longest
    /// due, then by id; moves their next check to `next` in the same statement and
    /// returns them. A connection claimed for `next` is not claimed again before then,
    /// whichever process asks: one check per interval across instances.
    async fn claim_health_checks(
        &self,
        integration: &str,
        now: DateTime<Utc>,
        next: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Connection>>;
    /// Keeps the outcome of a connection's health check (shown as `health`); false when
    /// there is no such connection. Changes nothing else.
    async fn record_health_check(&self, id: &str, check: &HealthCheck) -> StoreResult<bool>;

    /// Stores a connect session.
    async fn insert_connect_session(&self, s: &ConnectSession) -> StoreResult<()>;
    /// The session with this token hash, expired or not.
    async fn get_connect_session(&self, token_hash: &[u8]) -> StoreResult<Option<ConnectSession>>;
    /// Stores an authorization state.
    async fn insert_oauth_state(&self, s: &OAuthState) -> StoreResult<()>;
    /// Removes and returns the state (at most one caller ever gets it), expired or not.
    async fn take_oauth_state(&self, state_hash: &[u8]) -> StoreResult<Option<OAuthState>>;
    /// Deletes sessions and states that expired before `now`; returns how many.
    async fn purge_expired_flows(&self, now: DateTime<Utc>) -> StoreResult<u64>;
    /// How many states not expired at `now` (those `purge_expired_flows(now)` keeps) are
    /// sealed under each key id, ordered by key id. The key id is the one in each sealed
    /// value's header (vault format 1: a version byte, then the 8-byte key id, as lowercase
    /// hex), so states written by any version are counted.
    async fn oauth_state_key_ids(&self, now: DateTime<Utc>) -> StoreResult<Vec<(String, u64)>>;
    /// Up to `limit` states not expired at `now` whose sealed value is not under `key_id`,
    /// ordered by state hash (bytewise), strictly after `after` when given (a cursor, as
    /// for secrets).
    async fn oauth_states_not_under(
        &self,
        key_id: &str,
        now: DateTime<Utc>,
        after: Option<&[u8]>,
        limit: u32,
    ) -> StoreResult<Vec<SealedOAuthState>>;
    /// Replaces a state's sealed value only if it is still exactly `expected`; false if the
    /// state was used, purged or rewritten meanwhile (nothing is written then).
    async fn replace_oauth_state_sealed_if(
        &self,
        state_hash: &[u8],
        expected: &[u8],
        sealed: &[u8],
    ) -> StoreResult<bool>;
}
