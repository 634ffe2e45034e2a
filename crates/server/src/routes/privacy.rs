//! Personal data (admin scope): `POST /api/retention/purge` (the retention sweep, now,
//! bounded), `POST /api/end-users/{id}/erase` and `GET /api/end-users/{id}/export`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use engine::privacy::{EndUserExport, ErasureReport, ExportedEvent, PurgeReport};
use serde::{Deserialize, Serialize};
use store::ConsentRecord;
use utoipa::ToSchema;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody, PathParams};
use crate::routes::Routes;
use crate::routes::connections::ConnectionBody;
use crate::routes::events::OptionalJson;

/// Options of `POST /api/retention/purge`; the body may be omitted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    /// Only count what would be removed.
    #[serde(default)]
    pub dry_run: bool,
    /// The most events to take in this call (default 1000, at most 100000); call again
    /// while `more` is true.
    #[schema(minimum = 1, maximum = 100000)]
    #[serde(default, deserialize_with = "whole_number")]
    pub limit: Option<u32>,
}

/// A JSON whole number as `u32`, written `80` or `80.0` (JSON Schema's `integer` admits
/// both, and some JSON encoders write every number as a float).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(f))
            .map(|f| f as u64)
    });
    whole
        .and_then(|v| u32::try_from(v).ok())
        .map(Some)
        .ok_or_else(|| {
            D::Error::custom(format!("{n} is not a whole number from 0 to {}", u32::MAX))
        })
}

/// What a purge did (or, with `dry_run`, would do).
#[derive(Debug, Serialize, ToSchema)]
pub struct PurgeAnswer {
    /// Whether this was only a count.
    pub dry_run: bool,
    /// Events whose payload was removed (would be).
    pub events: u64,
    /// Whether more expired payloads remain: call again.
    pub more: bool,
}

impl From<PurgeReport> for PurgeAnswer {
    fn from(r: PurgeReport) -> Self {
        Self {
            dry_run: r.dry_run,
            events: r.events,
            more: r.more,
        }
    }
}

/// Remove the payloads (body, kept headers, mapped data) of events past their
/// integration's `payload_retention_days`, now, up to `limit`; their metadata stays.
/// The same work as the background sweep, in short transactions.
#[utoipa::path(post, path = "/api/retention/purge", tag = "privacy", security(("api_key" = [])),
    request_body(content = Option<PurgeRequest>, description = "optional"),
    responses(
        (status = 200, body = PurgeAnswer),
        (status = 400, body = ErrorBody, description = "a bad body or limit"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn purge(
    State(s): State<AppState>,
    Admin(who): Admin,
    OptionalJson(r): OptionalJson<PurgeRequest>,
) -> Result<Json<PurgeAnswer>, ApiError> {
    let report = s
        .engine
        .purge_payloads(r.dry_run, r.limit.unwrap_or(1000), Some(&who.actor()))
        .await?;
    Ok(Json(report.into()))
}

/// Options of an erasure; the body may be omitted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// Only list what would go.
    #[serde(default)]
    pub dry_run: bool,
}

/// A connection an erasure takes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasedConnectionView {
    /// Its id.
    pub id: String,
    /// Its integration.
    pub integration: String,
    /// Whether the provider confirmed the revocation.
    pub revoked_at_provider: bool,
}

/// What an erasure removed (would remove).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureCountsView {
    /// Connections deleted with their sealed credentials.
    pub connections: u64,
    /// Of which the provider confirmed the revocation.
    pub revoked_at_provider: u64,
    /// Events whose payload was removed.
    pub events: u64,
    /// Consent records rewritten without personal data.
    pub consent_records: u64,
    /// Connect sessions and authorization states in flight deleted (not counted in a
    /// dry run).
    pub flows: u64,
}

/// The answer to an erasure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureAnswer {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Erased before, nothing left: nothing was done.
    pub already_erased: bool,
    /// The deployment's keyed hash of the end user id, which the audit row keeps.
    pub subject_hash: String,
    /// The connections taken.
    pub connections: Vec<ErasedConnectionView>,
    /// Counts.
    pub counts: ErasureCountsView,
}

impl From<ErasureReport> for ErasureAnswer {
    fn from(r: ErasureReport) -> Self {
        Self {
            dry_run: r.dry_run,
            already_erased: r.already_erased,
            subject_hash: r.subject_hash,
            connections: r
                .connections
                .into_iter()
                .map(|c| ErasedConnectionView {
                    id: c.id,
                    integration: c.integration,
                    revoked_at_provider: c.revoked_at_provider,
                })
                .collect(),
            counts: ErasureCountsView {
                connections: r.counts.connections,
                revoked_at_provider: r.counts.revoked_at_provider,
                events: r.counts.events,
                consent_records: r.counts.consent_records,
                flows: r.counts.flows,
            },
        }
    }
}

/// Erase an end user: revoke (best effort) and delete every connection with its
/// credentials, remove the payloads of the events routed to them, delete flows in
/// progress, strip consent records of personal data, and keep an audit row with the
/// keyed hash of the id and counts. Idempotent; `dry_run` lists what would go.
#[utoipa::path(post, path = "/api/end-users/{id}/erase", tag = "privacy", security(("api_key" = [])),
    params(("id" = String, Path, description = "the app's end-user id", pattern = r"^[^\u0000-\u001f\u007f-\u009f]{1,256}$")),
    request_body(content = Option<EraseRequest>, description = "optional"),
    responses(
        (status = 200, body = ErasureAnswer),
        (status = 400, body = ErrorBody, description = "a bad body or id"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "end_user_not_found: nothing is held about this end user")))]
pub async fn erase(
    State(s): State<AppState>,
    Admin(who): Admin,
    PathParams(id): PathParams<String>,
    OptionalJson(r): OptionalJson<EraseRequest>,
) -> Result<Json<ErasureAnswer>, ApiError> {
    let report = s
        .engine
        .erase_end_user(&id, r.dry_run, &who.actor())
        .await?;
    Ok(Json(report.into()))
}

/// One change of a connection's consent.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    /// `cns_…`.
    pub id: String,
    /// The connection.
    pub connection_id: Option<String>,
    /// The integration.
    pub integration: String,
    /// `connect`, `reconnect`, `scope_loss`, `revoke` or `erasure`.
    #[schema(pattern = "^(connect|reconnect|scope_loss|revoke|erasure)$")]
    pub kind: String,
    /// Scopes asked for.
    pub scopes_requested: Vec<String>,
    /// Scopes granted after the change.
    pub scopes_granted: Vec<String>,
    /// The connect session (a reference, never its token).
    pub connect_session: Option<String>,
    /// The origin the browser returned to.
    pub return_origin: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

impl From<ConsentRecord> for ConsentView {
    fn from(r: ConsentRecord) -> Self {
        Self {
            id: r.id,
            connection_id: r.connection_id,
            integration: r.integration,
            kind: r.kind.as_str().to_owned(),
            scopes_requested: r.scopes_requested,
            scopes_granted: r.scopes_granted,
            connect_session: r.connect_session,
            return_origin: r.return_origin,
            at: r.at,
        }
    }
}

/// A delivery's outcome.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedDeliveryView {
    /// `dlv_…`.
    pub id: String,
    /// The destination.
    pub destination: String,
    /// `pending`, `in_flight`, `delivered` or `dead`.
    pub status: String,
    /// Attempts.
    pub attempts: u32,
    /// Last HTTP status.
    pub last_status: Option<u16>,
    /// When delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// An event of the end user.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedEventView {
    /// `evt_…`.
    pub id: String,
    /// Its integration.
    pub integration: String,
    /// Its connection.
    pub connection_id: Option<String>,
    /// When received.
    pub received_at: DateTime<Utc>,
    /// The provider's event id.
    pub provider_event_id: Option<String>,
    /// The provider's event type.
    pub event_type: Option<String>,
    /// The app's event type, when mapped.
    pub mapped_type: Option<String>,
    /// The body as text (UTF-8), while kept.
    pub body: Option<String>,
    /// The body in base64 when it is not UTF-8.
    pub body_base64: Option<String>,
    /// When its payload was removed.
    pub payload_purged_at: Option<DateTime<Utc>>,
    /// Its deliveries.
    pub deliveries: Vec<ExportedDeliveryView>,
}

impl From<ExportedEvent> for ExportedEventView {
    fn from(e: ExportedEvent) -> Self {
        Self {
            id: e.event.id,
            integration: e.event.integration,
            connection_id: e.event.connection_id,
            received_at: e.event.received_at,
            provider_event_id: e.event.provider_event_id,
            event_type: e.event.event_type,
            mapped_type: e.event.mapped_type,
            body: e.body,
            body_base64: e.body_base64,
            payload_purged_at: e.event.payload_purged_at,
            deliveries: e
                .deliveries
                .into_iter()
                .map(|d| ExportedDeliveryView {
                    id: d.id,
                    destination: d.destination,
                    status: d.status.as_str().to_owned(),
                    attempts: d.attempts,
                    last_status: d.last_status,
                    delivered_at: d.delivered_at,
                })
                .collect(),
        }
    }
}

/// Everything held about one end user.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndUserExportBody {
    /// The end user.
    pub end_user_id: String,
    /// When this export was made.
    pub exported_at: DateTime<Utc>,
    /// Connections, never secrets (granted scopes on each).
    pub connections: Vec<ConnectionBody>,
    /// Consent records: scopes requested and granted, when, and each later change.
    pub consent_records: Vec<ConsentView>,
    /// Events routed to the connections, oldest first, with delivery outcomes.
    pub events: Vec<ExportedEventView>,
}

impl From<EndUserExport> for EndUserExportBody {
    fn from(x: EndUserExport) -> Self {
        Self {
            end_user_id: x.end_user_id,
            exported_at: x.exported_at,
            connections: x.connections.into_iter().map(Into::into).collect(),
            consent_records: x.consent_records.into_iter().map(Into::into).collect(),
            events: x.events.into_iter().map(Into::into).collect(),
        }
    }
}

/// Everything held about an end user, as one JSON document (connections without
/// secrets, consent records, events with their payloads while kept and delivery
/// outcomes).
#[utoipa::path(get, path = "/api/end-users/{id}/export", tag = "privacy", security(("api_key" = [])),
    params(("id" = String, Path, description = "the app's end-user id", pattern = r"^[^\u0000-\u001f\u007f-\u009f]{1,256}$")),
    responses(
        (status = 200, body = EndUserExportBody),
        (status = 400, body = ErrorBody, description = "a bad id"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "end_user_not_found: nothing is held about this end user")))]
pub async fn export(
    State(s): State<AppState>,
    _: Admin,
    PathParams(id): PathParams<String>,
) -> Result<Json<EndUserExportBody>, ApiError> {
    Ok(Json(s.engine.export_end_user(&id).await?.into()))
}

/// The routes of this module.
pub fn router() -> Routes {
    Routes::new()
        .routes(routes!(purge))
        .routes(routes!(erase))
        .routes(routes!(export))
}
