//! The pipeline's operator API: events with their mapping and deliveries, checked
//! replays (one event, or a filter that must name what it takes), and destinations
//! with their state and queue, disabled and enabled with an audit row.

use chrono::{DateTime, Utc};
use serde::Serialize;
use store::deliveries::{DeliveryCounts, EventListFilter, EventSummary};
use store::{
    Delivery, DeliveryFilter, DeliveryStatus, Event, EventRouting, ReplayCount, ReplayFilter,
};

use crate::ids::{check_event_id, is_delivery_id, is_event_id};
use crate::{Actor, Engine, EngineError, EngineResult};

/// Longest event type accepted in a filter.
const MAX_TYPE_LEN: usize = 256;
/// Longest reason accepted when disabling a destination.
pub const MAX_REASON_LEN: usize = 500;
/// Deliveries shown with one event (one per destination, so far more than enough).
const EVENT_DELIVERIES: u32 = 1000;
/// Attempts shown with one event (a delivery makes at most its `max_attempts` per
/// replay).
pub const EVENT_ATTEMPTS: u32 = 1000;

/// One event with everything the pipeline knows about it.
#[derive(Debug, Clone)]
pub struct EventDetail {
    /// The event as stored (the caller decides what of it to show; never the headers).
    pub event: Event,
    /// Its mapping (`mapped` is `None` while unrouted).
    pub routing: EventRouting,
    /// Its deliveries, newest first.
    pub deliveries: Vec<Delivery>,
    /// The recorded attempts of those deliveries, by delivery id then number (at most
    /// [`EVENT_ATTEMPTS`]; none once the payload was removed).
    pub attempts: Vec<store::Attempt>,
    /// When and why its payload was removed, if it was.
    pub purged: Option<store::PurgeState>,
}

/// A configured destination with its state and queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestinationStatus {
    /// Its id.
    pub id: String,
    /// Where events are POSTed, with any password and query values redacted.
    pub url: String,
    /// Integrations whose events go there (empty: all).
    pub integrations: Vec<String>,
    /// Event type patterns.
    pub event_types: Vec<String>,
    /// Whether deliveries are sent (false after a 410 Gone or `disable`).
    pub enabled: bool,
    /// Why it is disabled.
    pub disabled_reason: Option<String>,
    /// Deliveries pending, in flight and dead (delivered ones are not counted).
    pub queue: DeliveryCounts,
}

/// A destination URL for display: user name kept, password and query values replaced
/// by `***` (a URL may carry a token); an unparsable URL is hidden entirely.
pub fn redact_url(raw: &str) -> String {
    let Ok(mut url) = reqwest::Url::parse(raw) else {
        return "***".to_owned();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, _)| (k.into_owned(), "***".to_owned()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.set_fragment(None);
    url.to_string()
}

fn check_type(t: Option<&str>, field: &'static str) -> EngineResult<()> {
    match t {
        Some(t) if t.is_empty() || t.len() > MAX_TYPE_LEN => Err(EngineError::Invalid {
            field,
            message: format!("must be 1 to {MAX_TYPE_LEN} bytes"),
        }),
        _ => Ok(()),
    }
}

impl Engine {
    /// Events with their mapping and delivery counts, newest first; `filter.before` is
    /// the cursor (the previous page's last id). Returns the page and the next cursor.
    pub async fn list_event_summaries(
        &self,
        filter: &EventListFilter,
        limit: u32,
    ) -> EngineResult<(Vec<EventSummary>, Option<String>)> {
        if let Some(c) = &filter.before
            && !is_event_id(c)
        {
            return Err(EngineError::Invalid {
                field: "cursor",
                message: "not a cursor from a previous page; omit it to start at the newest".into(),
            });
        }
        check_type(filter.event_type.as_deref(), "type")?;
        if let (Some(a), Some(b)) = (filter.since, filter.until)
            && a >= b
        {
            return Err(EngineError::Invalid {
                field: "since",
                message: "must be before until".into(),
            });
        }
        let limit = limit.clamp(1, 500);
        let data = self.inner.store.list_event_summaries(filter, limit).await?;
        let next = (data.len() as u32 == limit)
            .then(|| data.last().map(|e| e.id.clone()))
            .flatten();
        Ok((data, next))
    }

    /// One event, its mapping and its deliveries. A malformed id is `Invalid`, an
    /// unknown one `NotFound`.
    pub async fn event_detail(&self, id: &str) -> EngineResult<EventDetail> {
        check_event_id(id)?;
        let not_found = || EngineError::NotFound {
            what: "event",
            id: id.to_owned(),
        };
        let event = self
            .inner
            .store
            .get_event(id)
            .await?
            .ok_or_else(not_found)?;
        let routing = self
            .inner
            .store
            .event_routing(id)
            .await?
            .ok_or_else(not_found)?;
        let routing = if routing.routed_at.is_none() {
            // Unrouted (new, or replayed): the stored mapping is stale until the router
            // maps it again.
            EventRouting {
                mapped: None,
                routed_at: None,
            }
        } else {
            routing
        };
        let deliveries = self
            .inner
            .store
            .list_deliveries(
                &DeliveryFilter {
                    event_id: Some(id.to_owned()),
                    ..Default::default()
                },
                EVENT_DELIVERIES,
            )
            .await?;
        let attempts = self.inner.store.list_attempts(id, EVENT_ATTEMPTS).await?;
        let purged = self.inner.store.event_purge_state(id).await?;
        Ok(EventDetail {
            event,
            routing,
            deliveries,
            attempts,
            purged,
        })
    }

    /// Replays one event (see [`Engine::replay`]); `NotFound` if it does not exist.
    pub async fn replay_event(
        &self,
        id: &str,
        dry_run: bool,
        actor: &Actor,
    ) -> EngineResult<ReplayCount> {
        Ok(self.replay_event_at(id, None, dry_run, actor).await?.0)
    }

    /// [`Engine::replay_event`], narrowed to one destination's deliveries when
    /// `destination` is given (it must be configured), also returning when it was made.
    pub async fn replay_event_at(
        &self,
        id: &str,
        destination: Option<&str>,
        dry_run: bool,
        actor: &Actor,
    ) -> EngineResult<(ReplayCount, DateTime<Utc>)> {
        check_event_id(id)?;
        if let Some(d) = destination {
            self.check_destination(d)?;
        }
        if self.inner.store.get_event(id).await?.is_none() {
            return Err(EngineError::NotFound {
                what: "event",
                id: id.to_owned(),
            });
        }
        self.check_payload_kept(id).await?;
        let filter = ReplayFilter {
            event_id: Some(id.to_owned()),
            destination: destination.map(str::to_owned),
            ..Default::default()
        };
        self.replay_at(&filter, dry_run, actor).await
    }

    fn check_destination(&self, d: &str) -> EngineResult<()> {
        if self.config().destinations.iter().any(|x| x.id == d) {
            Ok(())
        } else {
            Err(EngineError::Invalid {
                field: "destination",
                message: "no such destination in the configuration".into(),
            })
        }
    }

    /// Replays what `filter` selects, after checking it: the integration and destination
    /// must be configured, and an empty filter (everything) needs `all`.
    pub async fn replay_checked(
        &self,
        filter: &ReplayFilter,
        all: bool,
        dry_run: bool,
        actor: &Actor,
    ) -> EngineResult<ReplayCount> {
        Ok(self.replay_checked_at(filter, all, dry_run, actor).await?.0)
    }

    /// [`Engine::replay_checked`], also returning when it was made (for
    /// [`Engine::replay_progress`]).
    pub async fn replay_checked_at(
        &self,
        filter: &ReplayFilter,
        all: bool,
        dry_run: bool,
        actor: &Actor,
    ) -> EngineResult<(ReplayCount, DateTime<Utc>)> {
        self.check_replay_filter(filter, all)?;
        self.replay_at(filter, dry_run, actor).await
    }

    /// How far a replay made at `at` with `filter` has come (see
    /// [`store::DeliveryStore::replay_progress`]); the filter is checked as a replay's.
    pub async fn replay_progress(
        &self,
        filter: &ReplayFilter,
        at: DateTime<Utc>,
    ) -> EngineResult<DeliveryCounts> {
        if let Some(id) = &filter.event_id {
            check_event_id(id)?;
        }
        self.check_replay_filter(filter, true)?;
        Ok(self.inner.store.replay_progress(filter, at).await?)
    }

    /// Dead deliveries to a configured destination, newest first; `before` is the
    /// previous page's cursor. Returns the page and the next cursor.
    pub async fn dead_deliveries(
        &self,
        destination: &str,
        before: Option<&str>,
        limit: u32,
    ) -> EngineResult<(Vec<Delivery>, Option<String>)> {
        if !self
            .config()
            .destinations
            .iter()
            .any(|d| d.id == destination)
        {
            return Err(EngineError::NotFound {
                what: "destination",
                id: destination.to_owned(),
            });
        }
        if let Some(b) = before
            && !is_delivery_id(b)
        {
            return Err(EngineError::Invalid {
                field: "cursor",
                message: "not a cursor from a previous page; omit it to start at the newest".into(),
            });
        }
        let limit = limit.clamp(1, 500);
        let mut rows = self
            .inner
            .store
            .list_deliveries(
                &DeliveryFilter {
                    destination: Some(destination.to_owned()),
                    status: Some(DeliveryStatus::Dead),
                    before: before.map(str::to_owned),
                    ..Default::default()
                },
                limit + 1,
            )
            .await?;
        let next = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|d| d.id.clone())
        } else {
            None
        };
        Ok((rows, next))
    }

    /// Checks a replay filter: the integration and destination must be configured, the
    /// type sensible, and an empty filter needs `all`.
    fn check_replay_filter(&self, filter: &ReplayFilter, all: bool) -> EngineResult<()> {
        let cfg = self.config();
        if let Some(i) = &filter.integration
            && cfg.integration(i).is_none()
        {
            return Err(EngineError::Invalid {
                field: "integration",
                message: "no such integration in the configuration".into(),
            });
        }
        if let Some(d) = &filter.destination
            && !cfg.destinations.iter().any(|x| x.id == *d)
        {
            return Err(EngineError::Invalid {
                field: "destination",
                message: "no such destination in the configuration".into(),
            });
        }
        check_type(filter.event_type.as_deref(), "event_type")?;
        if *filter == ReplayFilter::default() && !all {
            return Err(EngineError::Invalid {
                field: "all",
                message: "an empty filter replays every event: narrow it (integration, destination, status, event_type, since, until) or pass \"all\": true".into(),
            });
        }
        Ok(())
    }

    /// Every configured destination with its state and queue counts.
    pub async fn destinations(&self) -> EngineResult<Vec<DestinationStatus>> {
        let disabled = self.inner.store.disabled_destinations().await?;
        let counts = self.inner.store.destination_queue_counts().await?;
        Ok(self
            .config()
            .destinations
            .iter()
            .map(|d| {
                let off = disabled.iter().find(|(id, _)| *id == d.id);
                DestinationStatus {
                    id: d.id.clone(),
                    url: redact_url(&d.url),
                    integrations: d.integrations.clone(),
                    event_types: d.event_types.clone(),
                    enabled: off.is_none(),
                    disabled_reason: off.and_then(|(_, r)| r.clone()),
                    queue: counts
                        .iter()
                        .find(|(id, _)| *id == d.id)
                        .map(|(_, c)| *c)
                        .unwrap_or_default(),
                }
            })
            .collect())
    }

    /// One configured destination with its state; `NotFound` if not configured.
    pub async fn destination(&self, id: &str) -> EngineResult<DestinationStatus> {
        self.destinations()
            .await?
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| EngineError::NotFound {
                what: "destination",
                id: id.to_owned(),
            })
    }

    /// Disables (with an optional reason) or enables a configured destination; audits
    /// `destination.disable` / `destination.enable` when the state changed, and wakes the
    /// pipeline on enable. Returns whether the state changed.
    pub async fn set_destination_disabled(
        &self,
        id: &str,
        disabled: bool,
        reason: Option<&str>,
        actor: &Actor,
    ) -> EngineResult<bool> {
        if !self.config().destinations.iter().any(|d| d.id == id) {
            return Err(EngineError::NotFound {
                what: "destination",
                id: id.to_owned(),
            });
        }
        let reason = reason.map(str::trim);
        if let Some(r) = reason
            && (r.is_empty()
                || r.chars().count() > MAX_REASON_LEN
                || r.chars().any(char::is_control))
        {
            return Err(EngineError::Invalid {
                field: "reason",
                message: format!(
                    "must be 1 to {MAX_REASON_LEN} characters without control characters"
                ),
            });
        }
        let reason = if disabled {
            Some(reason.unwrap_or("disabled by an operator"))
        } else {
            None
        };
        let changed = self
            .inner
            .store
            .set_destination_disabled(id, disabled, reason, self.now())
            .await?;
        if changed {
            let (action, details) = if disabled {
                (
                    "destination.disable",
                    serde_json::json!({ "reason": reason }),
                )
            } else {
                ("destination.enable", serde_json::json!({}))
            };
            self.audit(actor, action, id, details).await?;
            self.publish_destination_states().await;
        }
        if !disabled {
            self.poke_pipeline();
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn urls_are_shown_without_passwords_or_query_values() {
        assert_eq!(
            redact_url("https://app.example/hooks"),
            "https://app.example/hooks"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9000/in"),
            "http://127.0.0.1:9000/in"
        );
        let r = redact_url("https://bob:pw-SECRET@app.example/h?token=t-SECRET&x=1#frag");
        assert!(!r.contains("SECRET") && !r.contains("frag"), "{r}");
        assert!(r.starts_with("https://bob:***@app.example/h?token="), "{r}");
        assert_eq!(redact_url("not a url with SECRET"), "***");
    }
}
