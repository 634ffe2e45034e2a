//! Personal data: payload retention, erasure and export of one end user, consent
//! records.
//!
//! - **Retention.** After `payload_retention_days` (an integration's own, else the
//!   top-level one; 0 keeps forever) an event's body, kept headers and mapped data are
//!   removed, its metadata kept ([`store::PrivacyStore::purge_expired_payloads`]). The
//!   sweep ([`Engine::run_retention_sweep`]) runs in every `serve` every
//!   `retention_sweep_interval_secs`, in batches of
//!   [`SWEEP_BATCH`] with [`SWEEP_PAUSE`] between them on the engine's clock, so that
//!   intake keeps the write lock most of the time; batches are idempotent, so instances
//!   sweeping at once only share the work. `retention purge` runs it at once
//!   ([`Engine::purge_payloads`]).
//! - **Erasure** ([`Engine::erase_end_user`]): every connection of the end user is
//!   revoked at the provider (best effort, as a disconnect) and deleted with its sealed
//!   credentials, the events routed to them lose their payload and their link to the
//!   connection, connect sessions and states in flight go, consent records are rewritten
//!   without personal data, and an audit row and an `erasures` row keep the subject's
//!   keyed hash and counts. The database files are then scrubbed as far as the backend
//!   can ([`store::PrivacyStore::scrub_freed_space`]).
//! - **Subject hash.** HMAC-SHA256 of the end user id under a random 256-bit salt made
//!   once per deployment and kept sealed in `secrets` (so key rotation covers it and
//!   `db copy` carries it). An id such as `u42` or an email address is easy to guess, so a
//!   plain SHA-256 in the audit log could be reversed by trying candidates; the keyed
//!   hash can only be recomputed by whoever runs the deployment, which is what proving
//!   an erasure needs ("was u42 erased, and when?").

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use store::{
    ConnectionFilter, ConsentKind, ConsentRecord, Delivery, DeliveryFilter, ErasureRecord,
    EventRef, PurgeReason, PurgeSelection,
};

use crate::connections::ConnectionView;
use crate::ids::{is_end_user_id, new_consent_id};
use crate::{Actor, Engine, EngineError, EngineResult};

/// Events purged per retention transaction (the sweep's and `retention purge`'s).
pub const SWEEP_BATCH: u32 = 100;
/// The sweep's pause between two batches, so that intake gets the write lock.
pub const SWEEP_PAUSE: Duration = Duration::from_millis(300);
/// The most events one `retention purge` call takes.
pub const MAX_PURGE_LIMIT: u32 = 100_000;
/// Events erased per transaction.
pub const ERASE_BATCH: u32 = 200;
/// The most events an export lists.
pub const MAX_EXPORT_EVENTS: usize = 100_000;
/// Counter of payloads removed, by reason (`retention`, `erasure`).
pub const PAYLOADS_PURGED: &str = "switchboard_payloads_purged_total";

/// What one `retention purge` call did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Events whose payload was removed (would be).
    pub events: u64,
    /// Whether more expired payloads remain (call again).
    pub more: bool,
}

/// What an erasure removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErasureCounts {
    /// Connections deleted, with their sealed credentials.
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

/// A connection an erasure takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasedConnection {
    /// Its id.
    pub id: String,
    /// Its integration.
    pub integration: String,
    /// Whether the provider confirmed the revocation (always false in a dry run).
    pub revoked_at_provider: bool,
}

/// The answer to an erasure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Whether this end user had been erased before and nothing was left: nothing was
    /// done this time.
    pub already_erased: bool,
    /// The keyed hash of the end user id that the audit row keeps.
    pub subject_hash: String,
    /// The connections taken.
    pub connections: Vec<ErasedConnection>,
    /// Counts.
    pub counts: ErasureCounts,
}

/// A delivery's outcome, as an export shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedDelivery {
    /// `dlv_…`.
    pub id: String,
    /// The destination.
    pub destination: String,
    /// `pending`, `in_flight`, `delivered` or `dead`.
    pub status: store::DeliveryStatus,
    /// Attempts.
    pub attempts: u32,
    /// Last HTTP status.
    pub last_status: Option<u16>,
    /// When delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<Delivery> for ExportedDelivery {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id,
            destination: d.destination,
            status: d.status,
            attempts: d.attempts,
            last_status: d.last_status,
            delivered_at: d.delivered_at,
        }
    }
}

/// An event of the end user with its payload (while kept) and delivery outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedEvent {
    /// Its metadata.
    #[serde(flatten)]
    pub event: EventRef,
    /// The body as text, when it is UTF-8 and still kept.
    pub body: Option<String>,
    /// The body in base64, when it is not UTF-8.
    pub body_base64: Option<String>,
    /// Its deliveries.
    pub deliveries: Vec<ExportedDelivery>,
}

/// Everything held about one end user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndUserExport {
    /// The end user.
    pub end_user_id: String,
    /// When this export was made.
    pub exported_at: DateTime<Utc>,
    /// Connections, without secrets (granted scopes on each).
    pub connections: Vec<ConnectionView>,
    /// Consent records: scopes requested and granted, when, and each later change.
    pub consent_records: Vec<ConsentRecord>,
    /// Events routed to the connections, oldest first.
    pub events: Vec<ExportedEvent>,
}

fn check_end_user(id: &str) -> EngineResult<()> {
    if is_end_user_id(id) {
        Ok(())
    } else {
        Err(EngineError::Invalid {
            field: "end_user_id",
            message: "must be 1 to 256 printable characters".into(),
        })
    }
}

impl Engine {
    /// The retention selections in force now: one per integration with its own
    /// retention, then the top-level one for every other integration (configured or not).
    pub fn retention_selections(&self) -> Vec<PurgeSelection> {
        let cfg = self.config();
        let now = self.now();
        let cutoff = |days: u64| now - chrono::Duration::days(days as i64);
        let mut out = Vec::new();
        let mut own = Vec::new();
        for i in &cfg.integrations {
            if let Some(days) = i.payload_retention_days {
                own.push(i.id.clone());
                if days > 0 {
                    out.push(PurgeSelection {
                        integration: Some(i.id.clone()),
                        except: Vec::new(),
                        received_before: cutoff(days),
                    });
                }
            }
        }
        if cfg.payload_retention_days > 0 {
            out.push(PurgeSelection {
                integration: None,
                except: own,
                received_before: cutoff(cfg.payload_retention_days),
            });
        }
        out
    }

    /// Removes up to `limit` expired payloads now, in batches of [`SWEEP_BATCH`] (each
    /// its own short transaction); with `dry_run`, counts up to `limit`. Audited as
    /// `retention.purge` when something was removed and `actor` is given.
    pub async fn purge_payloads(
        &self,
        dry_run: bool,
        limit: u32,
        actor: Option<&Actor>,
    ) -> EngineResult<PurgeReport> {
        if limit == 0 || limit > MAX_PURGE_LIMIT {
            return Err(EngineError::Invalid {
                field: "limit",
                message: format!("must be 1 to {MAX_PURGE_LIMIT}"),
            });
        }
        let mut report = PurgeReport {
            dry_run,
            ..Default::default()
        };
        let mut left = limit;
        for sel in self.retention_selections() {
            if left == 0 {
                report.more = true;
                break;
            }
            if dry_run {
                let b = self
                    .inner
                    .store
                    .purge_expired_payloads(&sel, left, true, self.now())
                    .await?;
                report.events += b.events;
                left -= b.events as u32;
                report.more |= b.more;
                continue;
            }
            loop {
                let take = left.min(SWEEP_BATCH);
                let b = self
                    .inner
                    .store
                    .purge_expired_payloads(&sel, take, false, self.now())
                    .await?;
                report.events += b.events;
                left = left.saturating_sub(b.events as u32);
                if !b.more {
                    break;
                }
                if left == 0 {
                    report.more = true;
                    break;
                }
            }
        }
        if !dry_run && report.events > 0 {
            metrics::counter!(PAYLOADS_PURGED, "reason" => "retention").increment(report.events);
            if let Some(actor) = actor {
                self.audit(
                    actor,
                    "retention.purge",
                    "events",
                    serde_json::json!({ "events": report.events, "more": report.more }),
                )
                .await?;
            }
        }
        Ok(report)
    }

    /// One pass of the background sweep: every selection, batch after batch with
    /// [`SWEEP_PAUSE`] between them, until nothing expired is left. Returns how many
    /// payloads went, or `None` when `shutdown` came first.
    async fn sweep_pass(
        &self,
        shutdown: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    ) -> Option<EngineResult<u64>> {
        let mut total = 0;
        for sel in self.retention_selections() {
            loop {
                let b = match self
                    .inner
                    .store
                    .purge_expired_payloads(&sel, SWEEP_BATCH, false, self.now())
                    .await
                {
                    Ok(b) => b,
                    Err(e) => return Some(Err(e.into())),
                };
                total += b.events;
                if b.events > 0 {
                    metrics::counter!(PAYLOADS_PURGED, "reason" => "retention").increment(b.events);
                }
                if !b.more {
                    break;
                }
                tokio::select! {
                    _ = shutdown.as_mut() => return None,
                    _ = self.clock().sleep(SWEEP_PAUSE) => {}
                }
            }
        }
        Some(Ok(total))
    }

    /// The background retention sweep, until `shutdown`: a pass at start, then one
    /// every `retention_sweep_interval_secs` on the engine's clock. A pass that removed something is
    /// audited (`retention.purge`, actor `system`); a failed one is logged and retried
    /// at the next interval.
    pub async fn run_retention_sweep(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            match self.sweep_pass(&mut shutdown).await {
                None => return,
                Some(Ok(0)) => {}
                Some(Ok(n)) => {
                    tracing::info!(events = n, "retention sweep removed expired payloads");
                    if let Err(e) = self
                        .audit(
                            &Actor::System,
                            "retention.purge",
                            "events",
                            serde_json::json!({ "events": n, "more": false }),
                        )
                        .await
                    {
                        tracing::warn!(error = %e, "cannot audit the retention sweep");
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "retention sweep failed; retrying at the next interval");
                }
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.clock().sleep(Duration::from_secs(self.config().retention_sweep_interval_secs)) => {}
            }
        }
    }

    /// Why an event's payload is gone, as the error a replay of it gets; `Ok` when it is
    /// there.
    pub(crate) async fn check_payload_kept(&self, event_id: &str) -> EngineResult<()> {
        match self.inner.store.event_purge_state(event_id).await? {
            None => Ok(()),
            Some(p) => Err(EngineError::PayloadPurged {
                id: event_id.to_owned(),
                reason: p.reason,
                at: p.at,
            }),
        }
    }

    /// Every connection of the end user.
    async fn connections_of(&self, end_user_id: &str) -> EngineResult<Vec<store::Connection>> {
        let filter = ConnectionFilter {
            end_user_id: Some(end_user_id.to_owned()),
            ..Default::default()
        };
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .inner
                .store
                .list_connections(&filter, after.as_deref(), 500)
                .await?;
            let done = page.len() < 500;
            after = page.last().map(|c| c.id.clone());
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }

    /// Every event routed to these connections, oldest first (at most `max`).
    async fn events_of(&self, ids: &[String], max: usize) -> EngineResult<Vec<EventRef>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        while out.len() < max {
            let page = self
                .inner
                .store
                .events_of_connections(ids, after.as_deref(), 1000)
                .await?;
            let done = page.len() < 1000;
            after = page.last().map(|e| e.id.clone());
            out.extend(page);
            if done {
                break;
            }
        }
        out.truncate(max);
        Ok(out)
    }

    /// Erases everything held about an end user (see the module's doc); `dry_run` only
    /// lists it. An end user never seen (no connection, consent record, erasure or flow
    /// in progress) is [`EngineError::UnknownEndUser`] and nothing changes; one erased
    /// before with nothing left answers `already_erased` and does nothing.
    pub async fn erase_end_user(
        &self,
        end_user_id: &str,
        dry_run: bool,
        actor: &Actor,
    ) -> EngineResult<ErasureReport> {
        check_end_user(end_user_id)?;
        let hash = self.subject_hash(end_user_id).await?;
        let conns = self.connections_of(end_user_id).await?;
        let consent = self.inner.store.consent_records_of(end_user_id).await?;
        let ids: Vec<String> = conns.iter().map(|c| c.id.clone()).collect();
        let mut report = ErasureReport {
            dry_run,
            already_erased: false,
            subject_hash: hash.clone(),
            connections: conns
                .iter()
                .map(|c| ErasedConnection {
                    id: c.id.clone(),
                    integration: c.integration.clone(),
                    revoked_at_provider: false,
                })
                .collect(),
            counts: ErasureCounts {
                connections: conns.len() as u64,
                consent_records: consent.len() as u64,
                ..Default::default()
            },
        };
        if conns.is_empty() && consent.is_empty() {
            let erased = self.inner.store.get_erasure(&hash).await?.is_some();
            let flows = if dry_run || erased {
                0
            } else {
                self.inner.store.delete_flows_of(end_user_id).await?
            };
            if flows == 0 {
                if erased {
                    report.already_erased = true;
                    return Ok(report);
                }
                return Err(EngineError::UnknownEndUser(end_user_id.to_owned()));
            }
            report.counts.flows = flows;
        }
        if dry_run {
            report.counts.events = self.events_of(&ids, usize::MAX).await?.len() as u64;
            return Ok(report);
        }
        // Revoke first, while the credentials are there (best effort, as a disconnect).
        for (c, out) in conns.iter().zip(report.connections.iter_mut()) {
            if let Some((_, sealed)) = self.inner.store.get_connection_credentials(&c.id).await? {
                match super::connections::credentials::Credentials::open(
                    &self.inner.keyring,
                    &c.id,
                    &sealed,
                ) {
                    Ok(creds) => {
                        let (revoked, _) = self.revoke_at_provider(c, &creds).await;
                        out.revoked_at_provider = revoked;
                    }
                    Err(e) => {
                        tracing::warn!(connection = %c.id, error = %e, "cannot open credentials to revoke them; deleting them anyway");
                    }
                }
            }
        }
        report.counts.revoked_at_provider = report
            .connections
            .iter()
            .filter(|c| c.revoked_at_provider)
            .count() as u64;
        // Payloads before connections: a run stopped half-way still finds the
        // connections next time, and so the events.
        report.counts.events += self.erase_events(&ids).await?;
        for c in &conns {
            self.inner.store.delete_connection(&c.id).await?;
            self.connection_changed(&c.id);
        }
        // Any event stored for them while the connections were being deleted.
        report.counts.events += self.erase_events(&ids).await?;
        report.counts.flows += self.inner.store.delete_flows_of(end_user_id).await?;
        report.counts.consent_records = self
            .inner
            .store
            .anonymize_consent_records(end_user_id, &hash)
            .await?;
        for c in &conns {
            self.inner
                .store
                .insert_consent_record(&ConsentRecord {
                    id: new_consent_id(),
                    connection_id: None,
                    end_user_id: None,
                    subject_hash: Some(hash.clone()),
                    integration: c.integration.clone(),
                    kind: ConsentKind::Erasure,
                    scopes_requested: Vec::new(),
                    scopes_granted: Vec::new(),
                    connect_session: None,
                    return_origin: None,
                    at: self.now(),
                })
                .await?;
        }
        let counts = serde_json::to_value(report.counts).unwrap_or_default();
        self.inner
            .store
            .record_erasure(&ErasureRecord {
                subject_hash: hash.clone(),
                erased_at: self.now(),
                counts: counts.clone(),
            })
            .await?;
        self.audit(actor, "end_user.erase", &format!("subject:{hash}"), counts)
            .await?;
        if report.counts.events > 0 {
            metrics::counter!(PAYLOADS_PURGED, "reason" => PurgeReason::Erasure.as_str())
                .increment(report.counts.events);
        }
        if let Err(e) = self.inner.store.scrub_freed_space().await {
            tracing::warn!(error = %e, "scrubbing the database files after an erasure failed; run the erasure again to finish it");
            return Err(e.into());
        }
        self.refresh_connection_gauges().await;
        Ok(report)
    }

    async fn erase_events(&self, ids: &[String]) -> EngineResult<u64> {
        let mut n = 0;
        loop {
            let b = self
                .inner
                .store
                .erase_connection_events(ids, ERASE_BATCH, self.now())
                .await?;
            n += b.events;
            if !b.more {
                return Ok(n);
            }
        }
    }

    /// Everything held about an end user as one document; an end user with nothing
    /// held is [`EngineError::UnknownEndUser`].
    pub async fn export_end_user(&self, end_user_id: &str) -> EngineResult<EndUserExport> {
        check_end_user(end_user_id)?;
        let conns = self.connections_of(end_user_id).await?;
        let consent_records = self.inner.store.consent_records_of(end_user_id).await?;
        if conns.is_empty() && consent_records.is_empty() {
            return Err(EngineError::UnknownEndUser(end_user_id.to_owned()));
        }
        let ids: Vec<String> = conns.iter().map(|c| c.id.clone()).collect();
        let mut events = Vec::new();
        for e in self.events_of(&ids, MAX_EXPORT_EVENTS).await? {
            let (body, body_base64) = match self.inner.store.get_event(&e.id).await? {
                Some(full) if !full.body.is_empty() => match String::from_utf8(full.body) {
                    Ok(s) => (Some(s), None),
                    Err(b) => (
                        None,
                        Some(base64::engine::general_purpose::STANDARD.encode(b.as_bytes())),
                    ),
                },
                _ => (None, None),
            };
            let deliveries = self
                .inner
                .store
                .list_deliveries(
                    &DeliveryFilter {
                        event_id: Some(e.id.clone()),
                        ..Default::default()
                    },
                    1000,
                )
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
            events.push(ExportedEvent {
                event: e,
                body,
                body_base64,
                deliveries,
            });
        }
        Ok(EndUserExport {
            end_user_id: end_user_id.to_owned(),
            exported_at: self.now(),
            connections: conns.into_iter().map(Into::into).collect(),
            consent_records,
            events,
        })
    }
}
