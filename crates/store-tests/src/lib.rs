//! The behaviour suite of Switchboard's store: every backend runs it, unchanged.
//!
//! Each case is a `pub async fn` written against the [`store`] traits only (no SQL, no
//! pool, nothing of one backend) that takes a fresh, migrated, empty store and panics
//! (`assert!`) when the backend misbehaves. A few cases take two handles on one
//! database, as two processes would have, to check what must hold across processes
//! (exactly one lease winner, exclusive claims, a state handed out once), and a few take
//! two fresh stores, two databases, to copy rows from one into the other.
//!
//! # Running it from a backend
//!
//! Add the crate (and `tokio`, with `macros` and `rt-multi-thread`) as dev-dependencies,
//! and write one integration test file, e.g. `crates/store-postgres/tests/suite.rs`:
//!
//! ```ignore
//! use std::sync::Arc;
//! use store::Store;
//!
//! /// A fresh, migrated, empty store (its own database or schema).
//! async fn fresh() -> Arc<dyn Store> {
//!     let s = store_postgres::PgStore::connect(&fresh_database_url()).await.unwrap();
//!     s.migrate().await.unwrap();
//!     Arc::new(s)
//! }
//!
//! /// Two independent handles (own pools) on one fresh database.
//! async fn pair() -> (Arc<dyn Store>, Arc<dyn Store>) {
//!     let url = fresh_database_url();
//!     let a = store_postgres::PgStore::connect(&url).await.unwrap();
//!     a.migrate().await.unwrap();
//!     let b = store_postgres::PgStore::connect(&url).await.unwrap();
//!     (Arc::new(a), Arc::new(b))
//! }
//!
//! store_tests::suite!(fresh = fresh(), pair = pair());
//! ```
//!
//! A factory may also yield `(store, guard)` (`(a, b, guard)` for a pair): the guard,
//! say a temporary directory or a handle that drops the case's database, is dropped
//! after the case has finished.
//!
//! [`suite!`] expands to one `#[tokio::test]` per case, grouped in one module per trait
//! (`api_keys::revoke_once`, `connections::lease_lapsed_but_not_taken_over_still_commits`;
//! the two-handle cases in `connections_across_handles` and the like), so the test runner reports each case on its own and runs them in parallel. Both
//! factory expressions are evaluated once per case: every case gets its own database. A
//! case must not depend on another's data, on wall-clock timing beyond "later than", or
//! on the backend's name.
//!
//! What only one backend has (SQLite's writer thread, pragmas, files; PostgreSQL's
//! schemas or advisory locks) and rows that only raw SQL can make (a corrupt column)
//! stay in that backend's own tests.
//!
//! # Fixtures for a backend's own tests
//!
//! The records the cases build (events, routings, connections, sessions, keys, audit
//! entries) and their checks are public in [`fixtures`]: a backend's own tests use them
//! instead of copies, and a backend test that adds to a case (say, reopening the file
//! after it) calls the case function itself, then checks only what is its own:
//!
//! ```ignore
//! let s = file_store(&path).await;
//! store_tests::events::five_hundred_concurrent_inserts_are_all_acknowledged_and_stored(
//!     Arc::new(s.clone()),
//! )
//! .await;
//! s.close().await;
//! assert_eq!(file_store(&path).await.count_events(None).await.unwrap(), 500);
//! ```
//!
//! A new case goes in the module of its trait as a `pub async fn` and in the list of
//! [`suite!`]; the test `every_case_is_listed` fails when one is missing from the list.

pub mod api_keys;
pub mod audit;
pub mod changes;
pub mod connections;
pub mod console;
pub mod deliveries;
pub mod events;
pub mod instances;
pub mod integration_state;
pub mod lifecycle;
pub mod privacy;
pub mod routed;
pub mod secrets;
pub mod status;
pub mod transfer;

pub mod fixtures;

use std::any::Any;
use std::sync::Arc;

use store::Store;

/// What a `fresh` factory of [`suite!`] yields: a fresh store, alone or with a guard
/// that lives until the case has finished (a temporary directory, a database to drop).
pub trait Fresh {
    /// The store, and what to drop once the case is done.
    fn into_parts(self) -> (Arc<dyn Store>, Box<dyn Any + Send>);
}

impl Fresh for Arc<dyn Store> {
    fn into_parts(self) -> (Arc<dyn Store>, Box<dyn Any + Send>) {
        (self, Box::new(()))
    }
}

impl<G: Send + 'static> Fresh for (Arc<dyn Store>, G) {
    fn into_parts(self) -> (Arc<dyn Store>, Box<dyn Any + Send>) {
        (self.0, Box::new(self.1))
    }
}

/// What a `pair` factory of [`suite!`] yields: two independent handles (own pools) on
/// one fresh database, alone or with a guard that lives until the case has finished.
pub trait FreshPair {
    /// The two handles, and what to drop once the case is done.
    fn into_parts(self) -> (Arc<dyn Store>, Arc<dyn Store>, Box<dyn Any + Send>);
}

impl FreshPair for (Arc<dyn Store>, Arc<dyn Store>) {
    fn into_parts(self) -> (Arc<dyn Store>, Arc<dyn Store>, Box<dyn Any + Send>) {
        (self.0, self.1, Box::new(()))
    }
}

impl<G: Send + 'static> FreshPair for (Arc<dyn Store>, Arc<dyn Store>, G) {
    fn into_parts(self) -> (Arc<dyn Store>, Arc<dyn Store>, Box<dyn Any + Send>) {
        (self.0, self.1, Box::new(self.2))
    }
}

/// Expands to one `#[tokio::test]` per case of the suite.
///
/// `fresh` is an expression whose `.await` yields a fresh, migrated, empty store (see
/// [`Fresh`]); `pair` one whose `.await` yields two independent handles on one fresh,
/// migrated database (see [`FreshPair`]). Both are evaluated anew for every case. The tests live in modules named like the suite's
/// (`api_keys`, `connections`, …) that `use super::*`, so the expressions may call
/// private helpers of the invoking module. The invoking crate needs `tokio` (features
/// `macros`, `rt-multi-thread`).
#[macro_export]
macro_rules! suite {
    (fresh = $fresh:expr, pair = $pair:expr $(,)?) => {
        $crate::__cases!(lifecycle, $fresh;
            ping_answers_and_the_backend_has_a_name,
            migrate_again_applies_nothing,
            closed_store_is_unavailable,
            insert_after_close_is_an_error_not_a_hang,
            timestamps_round_trip_at_millisecond_precision,
            timestamps_at_the_edges_round_trip,
            sub_millisecond_precision_is_truncated_on_store,
            secret_updated_at_is_set_by_the_store_at_millisecond_precision,
        );
        $crate::__cases!(api_keys, $fresh;
            insert_and_get_round_trip,
            duplicate_id_is_a_conflict,
            list_oldest_first_then_by_id,
            revoke_once,
            touch_records_last_use,
            count_active_excludes_revoked,
        );
        $crate::__cases!(secrets, $fresh;
            put_secret_versions_increment_on_overwrite,
            get_secret_matches_the_whole_slot,
            secret_bytes_and_unicode_slots_round_trip,
            delete_secret_once,
            delete_secrets_of_removes_one_owner_row_only,
            secret_key_ids_and_count_not_under,
            secrets_not_under_pages_in_slot_order_with_a_cursor,
            replace_secret_if_only_at_the_expected_version,
            replace_secret_if_does_not_overwrite_a_concurrent_write,
            insert_secret_if_absent_writes_once,
            concurrent_insert_secret_if_absent_has_one_winner,
        );
        $crate::__cases!(audit, $fresh;
            append_builds_a_chain,
            identical_entries_get_distinct_hashes,
            details_round_trip_including_key_order_and_nesting,
            lists_with_cursors,
            concurrent_appends_form_one_gap_free_chain,
            checkpoint_moves_only_from_where_a_check_started_and_clears,
        );
        $crate::__pair_module!(audit_across_handles, audit, $pair;
            concurrent_appends_from_two_handles_form_one_gap_free_chain,
        );
        $crate::__cases!(events, $fresh;
            insert_and_get_round_trip_byte_for_byte,
            received_at_is_truncated_to_milliseconds,
            deduplicate_by_provider_id_within_an_integration,
            an_existing_id_is_a_conflict_and_does_not_fail_others,
            five_hundred_concurrent_inserts_are_all_acknowledged_and_stored,
            list_newest_first_with_cursor_filter_and_limit,
            count_overall_and_per_integration,
            a_routing_key_attaches_the_one_connection_with_it,
        );
        $crate::__cases!(integration_state, $fresh;
            block_and_unblock_report_changes,
            disable_and_enable_are_independent_of_block,
        );
        $crate::__cases!(connections, $fresh;
            upsert_creates_with_version_one_and_credentials_in_the_secrets_table,
            upsert_with_the_same_owner_replaces_keeps_created_at_and_drops_the_lease,
            upsert_replaced_fences_out_the_old_lease_holder,
            upsert_with_another_end_user_or_integration_is_taken_and_changes_nothing,
            unknown_ids_read_as_none,
            list_filters_by_integration_end_user_and_status,
            list_pages_by_id_with_a_cursor_and_a_limit,
            count_by_integration_and_status,
            by_routing_key_needs_exactly_one_match_in_the_integration,
            all_by_routing_key_lists_every_match_of_the_integration,
            lease_is_exclusive_until_it_expires_then_taken_over_with_a_higher_fence,
            lease_is_free_at_exactly_its_expiry,
            commit_with_a_stale_fence_writes_nothing_and_the_current_one_wins,
            lease_lapsed_but_not_taken_over_still_commits,
            lease_lapsed_and_taken_over_refuses_the_old_holder,
            failed_refresh_commit_writes_state_but_keeps_credentials_and_version,
            release_frees_the_lease_only_for_its_holder,
            commit_for_a_deleted_connection_is_refused_and_writes_no_secret,
            commit_after_revoke_does_not_resurrect_the_connection,
            revoke_marks_revoked_deletes_credentials_and_bumps_the_version,
            delete_removes_the_row_and_its_secrets_once,
            a_signing_key_goes_with_the_connections_row,
            set_status_writes_status_error_and_time_only,
            due_are_active_due_ones_soonest_first,
            connect_sessions_round_trip_by_hash_and_refuse_duplicates,
            oauth_state_is_taken_once,
            purge_removes_only_expired_sessions_and_states,
            rotation_sees_connection_credentials_and_never_overwrites_a_newer_refresh,
            oauth_state_key_ids_count_unexpired_states_by_the_key_in_their_header,
            oauth_states_not_under_pages_in_hash_order_with_a_cursor,
            replace_oauth_state_sealed_if_only_while_the_sealed_value_is_unchanged,
            token_obtained_at_follows_every_write_of_the_credentials,
            health_claims_take_due_active_connections_once_per_interval,
            health_records_read_back_and_a_reconnect_clears_them,
            lifecycle_at_only_moves_forward_under_the_lease,
        );
        $crate::__pair_module!(connections_across_handles, connections, $pair;
            two_handles_race_for_a_lease_and_exactly_one_wins,
            concurrent_commits_from_two_handles_write_once,
            concurrent_takes_from_two_handles_hand_a_state_out_once,
            a_take_racing_a_rewrite_gets_one_value_and_the_rewrite_reports_it,
            two_handles_claiming_health_checks_never_share_a_connection,
        );
        $crate::__cases!(deliveries, $fresh;
            new_events_are_unrouted_until_routed_once,
            a_failed_mapping_is_kept_with_its_error_and_enqueues_nothing,
            an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_off,
            failures_retry_at_the_given_time_then_die_and_release_gives_the_attempt_back,
            disabled_and_skipped_destinations_are_not_claimed,
            queue_stats_count_depth_and_age,
            replay_filters_count_in_a_dry_run_and_requeue_for_real,
            replay_of_mapping_failed_events_routes_them_again,
            a_remap_that_now_fails_kills_the_pending_deliveries,
            a_replay_leaves_in_flight_deliveries_to_their_worker,
            event_summaries_carry_mapping_and_delivery_counts_and_filter,
            destination_queue_counts_group_waiting_and_dead_deliveries,
            event_summaries_filter_by_delivery_origin_and_time,
            deliveries_page_by_id_before_a_cursor,
            replay_progress_counts_the_deliveries_a_replay_touched,
            attempts_are_recorded_with_the_outcome_and_listed_per_event,
            event_summaries_of_one_connection,
        );
        $crate::__pair_module!(deliveries_across_handles, deliveries, $pair;
            claims_are_exclusive_across_two_handles,
        );
        $crate::__pair_module!(changes_across_handles, changes, $pair;
            changes_through_one_handle_reach_the_other_handles_feed,
        );
        $crate::__cases!(instances, $fresh;
            a_beat_registers_and_reads_back_the_live_instances,
            an_instance_is_live_until_it_expires_then_its_row_is_removed,
            leave_removes_the_instance_at_once_and_once,
        );
        $crate::__pair_module!(instances_across_handles, instances, $pair;
            beats_from_two_handles_see_each_other,
        );
        $crate::__cases!(status, $fresh;
            counters_add_up_per_bucket_sum_over_a_window_and_prune,
            the_last_oauth_test_replaces_the_one_before,
            integration_queues_count_deliveries_by_their_events_integration,
            last_external_event_skips_internal_events,
            failing_connections_count_recent_refresh_failures,
        );
        $crate::__cases!(console, $fresh;
            sessions_round_trip_touch_forward_delete_once_and_purge,
            a_sign_in_is_taken_once_and_expired_ones_are_purged,
            activity_adds_counters_up_per_hour,
        );
        $crate::__pair_module!(status_across_handles, status, $pair;
            counters_from_two_handles_add_up,
        );
        $crate::__cases!(routed, $fresh;
            a_routed_event_is_stored_mapped_with_its_deliveries_due_at_once,
            a_duplicate_writes_neither_mapping_nor_deliveries,
            dropped_and_failed_mappings_are_recorded_without_deliveries,
            an_unrouted_insert_is_left_for_the_sweep,
            a_routing_of_another_event_is_refused,
            a_passthrough_mapping_reads_back_as_the_body,
            a_routing_with_a_repeated_delivery_id_stores_nothing,
        );
        $crate::__cases!(privacy, $fresh;
            purge_keeps_metadata_and_takes_only_finished_old_events,
            purge_batches_are_bounded_idempotent_and_dry_runs_change_nothing,
            purge_selection_by_integration_and_exceptions,
            erase_connection_events_clears_payload_and_link,
            consent_records_erasures_and_flows_of_an_end_user,
            attempts_go_with_the_payload_and_none_is_recorded_after_an_erasure,
        );
        $crate::__pair_module!(privacy_across_handles, privacy, $pair;
            concurrent_purges_from_two_handles_take_each_event_once,
        );
        $crate::__cases!(transfer, $fresh;
            a_fresh_store_is_empty_in_every_table,
            reads_page_in_key_order_after_a_cursor,
            writing_rows_that_are_there_changes_nothing,
            a_row_that_does_not_fit_writes_nothing_of_its_batch,
        );
        $crate::__two_stores_module!(transfer_between_stores, transfer, $fresh;
            a_copy_keeps_every_record_and_the_audit_chain_goes_on,
            a_copy_run_again_adds_only_what_is_missing,
        );
    };
}

/// One test module of single-store cases (see [`suite!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __cases {
    ($module:ident, $fresh:expr; $($case:ident),+ $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (store, guard) = $crate::Fresh::into_parts($fresh.await);
                    $crate::$module::$case(store).await;
                    drop(guard);
                }
            )+
        }
    };
}

/// One test module of cases that take two handles on one database (see [`suite!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __pair_module {
    ($test_module:ident, $module:ident, $pair:expr; $($case:ident),+ $(,)?) => {
        mod $test_module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let (a, b, guard) = $crate::FreshPair::into_parts($pair.await);
                    $crate::$module::$case(a, b).await;
                    drop(guard);
                }
            )+
        }
    };
}

/// One test module of cases that take two fresh stores, two databases (see [`suite!`]):
/// `fresh` is evaluated twice.
#[doc(hidden)]
#[macro_export]
macro_rules! __two_stores_module {
    ($test_module:ident, $module:ident, $fresh:expr; $($case:ident),+ $(,)?) => {
        mod $test_module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (a, guard_a) = $crate::Fresh::into_parts($fresh.await);
                    let (b, guard_b) = $crate::Fresh::into_parts($fresh.await);
                    $crate::$module::$case(a, b).await;
                    drop((guard_a, guard_b));
                }
            )+
        }
    };
}

#[cfg(test)]
mod tests {
    /// Every `pub async fn` of a case module is in the list of [`suite!`], so that no
    /// case is written and then silently never run.
    #[test]
    fn every_case_is_listed() {
        let lib = include_str!("lib.rs");
        let list = &lib
            [lib.find("macro_rules! suite").unwrap()..lib.find("macro_rules! __cases").unwrap()];
        let modules = [
            ("api_keys", include_str!("api_keys.rs")),
            ("audit", include_str!("audit.rs")),
            ("changes", include_str!("changes.rs")),
            ("console", include_str!("console.rs")),
            ("connections", include_str!("connections.rs")),
            ("deliveries", include_str!("deliveries.rs")),
            ("events", include_str!("events.rs")),
            ("instances", include_str!("instances.rs")),
            ("integration_state", include_str!("integration_state.rs")),
            ("lifecycle", include_str!("lifecycle.rs")),
            ("routed", include_str!("routed.rs")),
            ("secrets", include_str!("secrets.rs")),
            ("status", include_str!("status.rs")),
            ("transfer", include_str!("transfer.rs")),
        ];
        let mut cases = 0;
        for (module, source) in modules {
            for line in source.lines() {
                let Some(rest) = line.strip_prefix("pub async fn ") else {
                    continue;
                };
                let name = &rest[..rest.find('(').unwrap()];
                cases += 1;
                assert!(
                    list.contains(&format!("            {name},\n")),
                    "{module}::{name} is not in the list of suite!"
                );
            }
        }
        assert!(cases >= 80, "only {cases} cases found");
    }
}
