//! Times and values the cases share.

use chrono::{DateTime, Utc};
use store::from_millis;

/// A fixed, millisecond-precise instant (2023-11-14) that relative times start from.
pub(crate) const T0: i64 = 1_700_000_000_000;
/// One second in milliseconds.
pub(crate) const SEC: i64 = 1_000;
/// One minute in milliseconds.
pub(crate) const MIN: i64 = 60 * SEC;

/// The instant `millis` after the Unix epoch.
pub(crate) fn ms(millis: i64) -> DateTime<Utc> {
    from_millis(millis).unwrap()
}

/// `T0 + offset_ms`.
pub(crate) fn at(offset_ms: i64) -> DateTime<Utc> {
    ms(T0 + offset_ms)
}
