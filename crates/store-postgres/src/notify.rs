//! The change feed ([`store::changes`]) over `LISTEN/NOTIFY`.
//!
//! Migration `0005_notify.sql` makes the tables announce what other instances cache or
//! wait for on one channel per schema (`switchboard_channel(current_schema())`). Each
//! [`Store::subscribe`](store::Store::subscribe) starts one task that `LISTEN`s on a
//! connection of its own (a `PgListener` over a pool of one, outside the store's pool,
//! so it never takes a connection a request needs) and turns each notification into a
//! [`Change`]. The task waits on the socket: an idle instance costs nothing.
//!
//! Whenever it starts listening, and again after any loss of its connection (sqlx's
//! listener reconnects and listens again; an error drops the connection and a new one is
//! made after a pause that doubles from [`RETRY_MIN`] to [`RETRY_MAX`]), it sends
//! [`Change::Resync`], since notifications sent meanwhile are lost. It stops when the
//! feed is dropped.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use store::changes::{self, Change, ChangeFeed, ChangeSender};

/// First pause before listening again after an error.
pub const RETRY_MIN: Duration = Duration::from_millis(100);
/// Longest pause before listening again.
pub const RETRY_MAX: Duration = Duration::from_secs(10);

/// The change a notification's payload (`kind:id`) announces; `None` for one this
/// version does not know (a newer instance's), which is ignored.
pub(crate) fn parse(payload: &str) -> Option<Change> {
    let (kind, id) = payload.split_once(':')?;
    let id = id.to_owned();
    Some(match kind {
        "deliveries" => Change::DeliveriesDue,
        "resync" => Change::Resync,
        _ if id.is_empty() => return None,
        "connection" => Change::Connection(id),
        "api_key" => Change::ApiKey(id),
        "integration" => Change::IntegrationState(id),
        "destination" => Change::Destination(id),
        _ => return None,
    })
}

/// Starts listening for the schema of `options` (its `search_path`); see the module
/// documentation. The feed ends when `store` (the store's pool) is closed.
pub(crate) fn subscribe(options: PgConnectOptions, store: PgPool) -> ChangeFeed {
    let (tx, feed) = changes::feed();
    tokio::spawn(async move {
        tokio::select! {
            () = store.close_event() => {}
            () = run(options, tx) => {}
        }
    });
    feed
}

async fn run(options: PgConnectOptions, tx: ChangeSender) {
    let mut pause = RETRY_MIN;
    loop {
        let ended = tokio::select! {
            () = tx.closed() => return,
            ended = listen(&options, &tx, &mut pause) => ended,
        };
        match ended {
            // The feed was dropped.
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %crate::err(e), retry_in_ms = pause.as_millis() as u64,
                    "listening for other instances' changes failed; until it works again they \
                     are seen by polling");
            }
        }
        tokio::select! {
            () = tx.closed() => return,
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(RETRY_MAX);
    }
}

/// Listens until the feed is dropped (`Ok`) or the connection fails in a way the
/// listener does not repair itself (`Err`).
async fn listen(
    options: &PgConnectOptions,
    tx: &ChangeSender,
    pause: &mut Duration,
) -> Result<(), sqlx::Error> {
    // A pool of one, only for the listener's connection (and its reconnections): no
    // timeouts, since the connection is meant to sit idle.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(30))
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    let channel: Option<String> =
        sqlx::query_scalar("SELECT switchboard_channel(current_schema())")
            .fetch_one(&mut listener)
            .await?;
    let Some(channel) = channel else {
        return Err(sqlx::Error::Configuration(
            "the connection's search_path names no schema that exists, so there is no \
             channel to listen on; set search_path to Switchboard's schema"
                .into(),
        ));
    };
    listener.listen(&channel).await?;
    *pause = RETRY_MIN;
    if !tx.send(Change::Resync) {
        return Ok(());
    }
    loop {
        let change = match listener.try_recv().await? {
            Some(n) => match parse(n.payload()) {
                Some(c) => c,
                None => continue,
            },
            // The connection was lost and is listening again: what came meanwhile is
            // lost.
            None => Change::Resync,
        };
        if !tx.send(change) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_their_change() {
        assert_eq!(parse("deliveries:"), Some(Change::DeliveriesDue));
        assert_eq!(parse("resync:"), Some(Change::Resync));
        assert_eq!(
            parse("connection:c:1"),
            Some(Change::Connection("c:1".into()))
        );
        assert_eq!(parse("api_key:abc"), Some(Change::ApiKey("abc".into())));
        assert_eq!(
            parse("integration:gh"),
            Some(Change::IntegrationState("gh".into()))
        );
        assert_eq!(
            parse("destination:app"),
            Some(Change::Destination("app".into()))
        );
        for unknown in ["", "nothing", "connection:", "future_kind:x", "api_key"] {
            assert_eq!(parse(unknown), None, "{unknown}");
        }
    }
}
