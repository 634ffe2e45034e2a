use store::StoreError;
use vault::VaultError;

/// Why an engine operation failed. Each variant maps to one HTTP status and one stable
/// error code; messages say what to do and never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No credentials, or credentials that do not authenticate.
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// The thing does not exist.
    #[error("{what} {} not found", short(id))]
    NotFound {
        /// Kind of thing.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The input is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
    /// No connection, consent record or erasure of this end user is held.
    #[error("end user {} not found: no connection or consent record is held for it; check the id (it is the app's own end-user id)", short(.0))]
    UnknownEndUser(String),
    /// The event's payload was removed (retention or erasure): nothing to send again.
    #[error("event {id:?} cannot be replayed: its payload was removed ({}) at {at}", reason.as_str())]
    PayloadPurged {
        /// The event.
        id: String,
        /// Why.
        reason: store::PurgeReason,
        /// When.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// The state does not allow it (already revoked, …).
    #[error("{0}")]
    Conflict(String),
    /// A webhook failed verification. The reason (a stable code such as `no_match` or
    /// `timestamp_outside_tolerance`) is for metrics and logs; the sender gets a generic
    /// message.
    #[error("webhook signature verification failed")]
    BadSignature {
        /// Which check failed.
        reason: &'static str,
    },
    /// The connection cannot hand out credentials in its state.
    #[error("connection {id:?} is {}: {hint}", status.as_str())]
    ConnectionState {
        /// The connection.
        id: String,
        /// Its status.
        status: store::ConnectionStatus,
        /// What to do.
        hint: &'static str,
    },
    /// The provider is down, slow or throttling; nothing was changed.
    #[error("{0}")]
    ProviderUnavailable(String),
    /// The provider answered in a way that is not a success (502 to the caller).
    #[error("{0}")]
    Provider(String),
    /// The provider refused the credentials given at connect time.
    #[error("{0}")]
    CredentialsRejected(String),
    /// The deployment's configuration does not allow it (integration misconfigured).
    #[error("{0}")]
    Misconfigured(String),
    /// A stored secret could not be opened.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An id as messages quote it: at most 128 characters (a client can send a huge one).
fn short(id: &str) -> String {
    match id.char_indices().nth(128) {
        Some((at, _)) => format!("{:?}…", &id[..at]),
        None => format!("{id:?}"),
    }
}

impl EngineError {
    /// Stable machine-readable code for the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::Unauthenticated(_) => "unauthorized",
            EngineError::BadSignature { .. } => "invalid_signature",
            EngineError::Forbidden(_) => "forbidden",
            EngineError::NotFound { .. } => "not_found",
            EngineError::Invalid { .. } => "invalid_request",
            EngineError::Conflict(_) => "conflict",
            EngineError::UnknownEndUser(_) => "end_user_not_found",
            EngineError::PayloadPurged { .. } => "payload_purged",
            EngineError::ConnectionState { status, .. } => match status {
                store::ConnectionStatus::NeedsReauth => "needs_reauth",
                store::ConnectionStatus::Revoked => "revoked",
                store::ConnectionStatus::Error => "connection_error",
                store::ConnectionStatus::Active => "conflict",
            },
            EngineError::ProviderUnavailable(_) => "provider_unavailable",
            EngineError::Provider(_) => "provider_error",
            EngineError::CredentialsRejected(_) => "credentials_rejected",
            EngineError::Misconfigured(_) => "misconfigured",
            EngineError::Vault(VaultError::UnknownKey(_)) => "key_unavailable",
            EngineError::Vault(_) => "internal",
            EngineError::Store(StoreError::Unavailable(_)) => "unavailable",
            EngineError::Store(StoreError::Conflict(_)) => "conflict",
            EngineError::Store(_) => "internal",
        }
    }

    /// Whether the details are for the operator's log only (the client gets a generic
    /// message).
    pub fn is_internal(&self) -> bool {
        matches!(self.code(), "internal" | "unavailable")
    }

    /// Whether the operator must act on this failure (it is logged as an error even when
    /// the client is told what happened): a value sealed under a master key that this
    /// server does not have.
    pub fn needs_operator(&self) -> bool {
        matches!(self, EngineError::Vault(VaultError::UnknownKey(_)))
    }
}
