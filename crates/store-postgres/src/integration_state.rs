//! The blocked and disabled switches of each integration ([`IntegrationStateStore`]).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use store::{IntegrationFlags, IntegrationStateStore, StoreResult, to_millis};

use crate::{PgStore, err};

/// One boolean column of `integration_state`, with its statements.
#[derive(Clone, Copy)]
enum StateFlag {
    Blocked,
    Disabled,
}

impl StateFlag {
    /// Sets the flag; the WHERE makes an unchanged row count as no change.
    fn set_sql(self) -> &'static str {
        match self {
            StateFlag::Blocked => {
                "INSERT INTO integration_state (integration, blocked, updated_at)
                 VALUES ($1, true, $2)
                 ON CONFLICT (integration) DO UPDATE SET
                   blocked = true, updated_at = excluded.updated_at
                 WHERE NOT integration_state.blocked"
            }
            StateFlag::Disabled => {
                "INSERT INTO integration_state (integration, disabled, updated_at)
                 VALUES ($1, true, $2)
                 ON CONFLICT (integration) DO UPDATE SET
                   disabled = true, updated_at = excluded.updated_at
                 WHERE NOT integration_state.disabled"
            }
        }
    }

    /// Clears the flag; no row means not set, so clearing then changes nothing.
    fn clear_sql(self) -> &'static str {
        match self {
            StateFlag::Blocked => {
                "UPDATE integration_state SET blocked = false, updated_at = $2
                 WHERE integration = $1 AND blocked"
            }
            StateFlag::Disabled => {
                "UPDATE integration_state SET disabled = false, updated_at = $2
                 WHERE integration = $1 AND disabled"
            }
        }
    }

    fn list_sql(self) -> &'static str {
        match self {
            StateFlag::Blocked => {
                "SELECT integration FROM integration_state WHERE blocked ORDER BY integration"
            }
            StateFlag::Disabled => {
                "SELECT integration FROM integration_state WHERE disabled ORDER BY integration"
            }
        }
    }
}

impl PgStore {
    async fn set_flag(
        &self,
        flag: StateFlag,
        integration: &str,
        on: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let sql = if on { flag.set_sql() } else { flag.clear_sql() };
        let r = sqlx::query(sql)
            .bind(integration)
            .bind(to_millis(at))
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn flagged(&self, flag: StateFlag) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(flag.list_sql())
            .fetch_all(&self.pool)
            .await
            .map_err(err)
    }
}

#[async_trait]
impl IntegrationStateStore for PgStore {
    async fn set_integration_blocked(
        &self,
        integration: &str,
        blocked: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.set_flag(StateFlag::Blocked, integration, blocked, at)
            .await
    }

    async fn integration_flags(&self, integration: &str) -> StoreResult<IntegrationFlags> {
        let row: Option<(bool, bool)> = sqlx::query_as(
            "SELECT blocked, disabled FROM integration_state WHERE integration = $1",
        )
        .bind(integration)
        .fetch_optional(&self.pool)
        .await
        .map_err(err)?;
        Ok(
            row.map_or_else(IntegrationFlags::default, |(blocked, disabled)| {
                IntegrationFlags { blocked, disabled }
            }),
        )
    }

    async fn blocked_integrations(&self) -> StoreResult<Vec<String>> {
        self.flagged(StateFlag::Blocked).await
    }

    async fn set_integration_disabled(
        &self,
        integration: &str,
        disabled: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.set_flag(StateFlag::Disabled, integration, disabled, at)
            .await
    }

    async fn disabled_integrations(&self) -> StoreResult<Vec<String>> {
        self.flagged(StateFlag::Disabled).await
    }
}
