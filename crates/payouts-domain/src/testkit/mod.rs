//! Reusable test suites (feature `testing`): the store **contract** (port by
//! port) and the end-to-end **scenarios** (with the webhook **events**
//! stories), written once and run against any store: the in-memory one
//! here, SQLite and PostgreSQL in `payouts-store`.
//!
//! Each case is an `async fn` that takes a fresh, empty store. Instantiate
//! every case as its own `#[test]` with the macros:
//!
//! ```text
//! payouts_domain::store_contract_tests!(block_on, async { Some(InMemoryStore::new()) });
//! payouts_domain::scenario_tests!(block_on, async { Some(InMemoryStore::new()) });
//! ```
//!
//! The first argument runs a future to completion on the caller's runtime;
//! the second is a future that makes a fresh store, or `None` to skip (a
//! factory that skips says why on its own).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic,
    reason = "test suites: a failed step must stop the test with its message"
)]

pub mod audit;
pub mod contract;
pub mod events;
pub mod fixtures;
pub mod holds;
pub mod outbox;
pub mod paid;
pub mod rewards;
pub mod scenarios;

/// Instantiates every store contract case as a `#[test]`.
#[macro_export]
macro_rules! store_contract_tests {
    ($run:path, $factory:expr) => {
        $crate::__testkit_cases!(
            $run,
            $factory,
            contract,
            connections_compare_and_set,
            oauth_states_are_single_use,
            programs_compare_and_set,
            memberships_are_unique_per_program,
            coupons_are_unique_per_merchant_ignoring_case,
            bank_payouts_upsert,
            conversions_are_unique_per_merchant_and_atomic,
            commissions_compare_and_set,
            finalize_is_set_based,
            commissions_list_with_filters_and_pages,
            partner_balances_aggregate_finalized_unpaid_rows,
            insert_batch_links_commissions_and_checks_sums,
            batches_compare_and_set,
            claims_hold_leases,
            claims_are_renewed_by_their_holder_only,
            item_transitions_are_compare_and_set_with_their_outbox,
            item_transitions_in_one_call,
            item_changes_commit_together_with_their_outbox,
            item_queries,
            paid_items_of_a_merchant_are_keyset_pages,
            ledger_rows_follow_item_states,
            outbox_deduplicates_and_delivers,
            webhook_endpoints_are_per_merchant_and_rotate_compare_and_set,
            settings_round_trip,
            values_round_trip_exactly,
            unreadable_values_are_refused_before_they_are_written,
            sums_that_would_overflow_are_errors,
            coupons_are_found_by_promotion_code,
            forgotten_events_are_recorded_again,
            disputes_upsert_by_id_and_keep_the_newest,
            leases_are_compare_and_set,
            item_state_counts_span_batches_and_currencies,
            lists_are_keyset_pages,
            account_owners_are_recorded_once,
            request_keys_are_claimed_once,
            request_keys_are_taken_over_and_purged,
            login_links_are_single_use_and_sessions_end,
        );
        $crate::__testkit_cases!($run, $factory, audit, audit_trail_appends_pages_and_filters,);
    };
}

/// Instantiates every end-to-end scenario (and webhook event story) as a `#[test]`.
#[macro_export]
macro_rules! scenario_tests {
    ($run:path, $factory:expr) => {
        $crate::__testkit_cases!(
            $run,
            $factory,
            scenarios,
            batch_with_partial_failures_then_retry_only_the_failed_item,
            a_timeout_after_commit_is_resolved_by_resending_the_same_key,
            a_clean_stop_sends_nothing_new_and_releases_its_claims,
            a_batch_keeps_the_account_it_paid_from,
            a_key_past_retention_is_resolved_through_reconciliation,
            revocation_starts_probation_and_the_window_archives,
            reauthorising_within_the_window_clears_probation,
            the_insufficient_balance_ladder_retries_daily_then_escalates,
            account_inactive_pauses_the_program_until_the_merchant_acts,
            a_run_sends_items_concurrently_and_stops_cleanly,
            nets_below_the_minimum_carry_over_to_the_next_batch,
            a_clawback_after_finalization_nets_against_later_payouts,
            refunds_before_finalization_reduce_or_void_the_commission,
            conversions_are_idempotent_and_coupons_beat_links,
            one_time_and_recurring_rules,
            policy_decides_approval,
            oauth_state_is_single_use_and_lives_ten_minutes,
            a_crashed_workers_lease_is_taken_over_only_after_it_expires,
            one_worker_at_a_time_pays_from_an_account,
            a_sweep_beside_a_live_run_sends_each_item_once,
            coupon_codes_sync_to_stripe_promotion_codes,
            reversals_and_the_tax_tally,
            the_merchants_1099_list_follows_the_tax_summary_rule,
            partner_statements_list_what_each_paid_item_pays,
            a_key_left_in_progress_is_taken_over_and_old_keys_are_forgotten,
            no_automatic_batch_for_a_period_with_nothing_to_pay,
            reconciliation_matches_what_the_engine_paid,
            reconciliation_finds_a_transfer_made_behind_our_back,
            reconciliation_finds_a_reversal_we_did_not_record,
            reconciliation_finds_amount_and_currency_mismatches,
            reconciliation_finds_a_transfer_missing_at_stripe,
            a_cross_border_partner_gets_a_recipient_account,
            a_partner_outside_the_payout_countries_is_refused,
            a_balance_below_the_currency_minimum_carries_then_pays,
        );
        $crate::__testkit_cases!(
            $run,
            $factory,
            events,
            sales_refunds_and_codes_arrive_as_events_and_act_once,
            account_payout_dispute_and_transfer_events,
            a_failed_event_is_released_for_redelivery,
        );
        $crate::__testkit_cases!(
            $run,
            $factory,
            holds,
            a_self_referral_is_held_and_paid_after_release,
            a_manual_hold_is_rejected_and_never_paid,
            refunds_and_cancellations_of_a_held_commission,
            a_shared_bank_account_holds_both_partners,
        );
        $crate::__testkit_cases!(
            $run,
            $factory,
            outbox,
            failed_deliveries_back_off_then_dead_letter_and_replay,
            a_notification_failing_for_three_days_is_dead_lettered,
            endpoints_take_precedence_and_rotation_signs_with_both,
            a_failing_endpoint_holds_up_nobody_else,
            a_dispatch_starts_deliveries_for_its_budget_only,
            a_retry_goes_only_to_the_endpoints_that_refused,
        );
        $crate::__testkit_cases!(
            $run,
            $factory,
            rewards,
            tiers_follow_the_partners_finalized_totals,
            first_conversions_then_the_base_rate_while_recurring,
            product_rates_and_flat_amounts_per_lead,
            corrections_before_and_after_finalization_and_payment,
        );
        $crate::__testkit_cases!(
            $run,
            $factory,
            audit,
            operator_actions_are_recorded_with_their_actor,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __testkit_cases {
    ($run:path, $factory:expr, $suite:ident, $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                $run(async {
                    if let Some(store) = $factory.await {
                        $crate::testkit::$suite::$case(store).await;
                    }
                })
            }
        )+
    };
}
