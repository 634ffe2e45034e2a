//! The `store-tests` suite, whole and unchanged, against the machine's PostgreSQL: every
//! case in a schema of its own (see `common`); the cases about two processes get two
//! stores (own pools, own event writers) on one schema.

mod common;

use common::{fresh, pair};

store_tests::suite!(fresh = fresh(), pair = pair());
