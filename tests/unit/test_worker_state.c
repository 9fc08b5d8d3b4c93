/*
 * The exactly-once worker's per-partition state machine and its flight table
 * (ss/worker_state.h): every transition, and the watermark rules the outbox relies on.
 */
#include "ss/worker_state.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static ss_partition_t owned(int64_t epoch, int64_t next_offset, int64_t max_outbox_id)
{
    ss_partition_t state;
    ss_partition_assigned(&state, 0);
    ss_partition_claimed(&state, epoch, next_offset, max_outbox_id, false, 0);
    return state;
}

static void test_assignment_asks_for_a_claim_at_once(void **unused)
{
    (void)unused;
    ss_partition_t state;
    ss_partition_assigned(&state, 1000);
    assert_int_equal(state.phase, SS_PARTITION_CLAIMING);
    assert_true(ss_partition_claim_due(&state, 1000));
    assert_false(ss_partition_accepts(&state));
}

static void test_failed_claim_waits_longer_each_time_and_does_not_accept_records(void **unused)
{
    (void)unused;
    ss_partition_t state;
    ss_partition_assigned(&state, 0);
    ss_partition_claim_failed(&state, 0);
    assert_false(ss_partition_claim_due(&state, SS_PARTITION_RETRY_MIN_MS - 1));
    assert_true(ss_partition_claim_due(&state, SS_PARTITION_RETRY_MIN_MS));
    ss_partition_claim_failed(&state, 0);
    assert_false(ss_partition_claim_due(&state, 2 * SS_PARTITION_RETRY_MIN_MS - 1));
    for (int i = 0; i < 50; i++) {
        ss_partition_claim_failed(&state, 0);
    }
    assert_true(ss_partition_claim_due(&state, SS_PARTITION_RETRY_MAX_MS));
    assert_false(ss_partition_accepts(&state));
}

static void test_claim_with_stored_rows_resends_all_of_them(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(3, 120, 77);
    assert_true(ss_partition_accepts(&state));
    assert_int_equal(state.epoch, 3);
    assert_int_equal(state.next_offset, 120);
    assert_true(ss_partition_resend_due(&state, 0));
    assert_false(ss_partition_publish_fresh(&state));
    assert_int_equal(state.acked_id, 0);
    assert_int_equal(state.committed_id, 77);
}

static void test_claim_without_stored_rows_publishes_fresh(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 0, 0);
    assert_false(ss_partition_resend_due(&state, 0));
    assert_true(ss_partition_publish_fresh(&state));
}

static void test_claim_after_assignment_holds_records_until_the_seek(void **unused)
{
    (void)unused;
    ss_partition_t state;
    ss_partition_assigned(&state, 0);
    ss_partition_claimed(&state, 2, 50, 0, true, 0);
    assert_false(ss_partition_accepts(&state));
    ss_partition_sought(&state);
    assert_true(ss_partition_accepts(&state));
}

static void test_revoke_forgets_everything(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(4, 10, 5);
    ss_partition_revoked(&state);
    assert_int_equal(state.phase, SS_PARTITION_UNASSIGNED);
    assert_false(ss_partition_accepts(&state));
    assert_false(ss_partition_resend_due(&state, 0));
    assert_false(ss_partition_claim_due(&state, 0));
}

static void test_records_below_the_stored_offset_are_already_applied(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 100, 0);
    assert_true(ss_partition_already_applied(&state, 99));
    assert_false(ss_partition_already_applied(&state, 100));
}

static void test_fence_with_our_epoch_and_the_batch_offset_is_already_applied(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(5, 100, 0);
    assert_int_equal(ss_partition_fence_verdict(&state, 5, 140, 140), SS_FENCE_ALREADY_APPLIED);
    assert_int_equal(ss_partition_fence_verdict(&state, 6, 140, 140), SS_FENCE_LOST);
    assert_int_equal(ss_partition_fence_verdict(&state, 5, 120, 140), SS_FENCE_LOST);
    assert_int_equal(ss_partition_fence_verdict(&state, 5, 100, 140), SS_FENCE_LOST);
}

static void test_already_applied_moves_the_offset_and_resends(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 100, 0);
    ss_partition_batch_ended(&state, SS_BATCH_ALREADY_APPLIED, 140, 500);
    assert_int_equal(state.next_offset, 140);
    assert_true(ss_partition_resend_due(&state, 500));
    assert_false(ss_partition_publish_fresh(&state));
}

static void test_fenced_partition_is_claimed_again_after_the_delay(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 100, 0);
    ss_partition_batch_ended(&state, SS_BATCH_FENCED, 140, 1000);
    assert_int_equal(state.phase, SS_PARTITION_CLAIMING);
    assert_false(ss_partition_accepts(&state));
    assert_false(ss_partition_claim_due(&state, 1000 + SS_PARTITION_RECLAIM_DELAY_MS - 1));
    assert_true(ss_partition_claim_due(&state, 1000 + SS_PARTITION_RECLAIM_DELAY_MS));
}

static void test_retry_and_poison_change_nothing(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 100, 0);
    ss_partition_batch_ended(&state, SS_BATCH_RETRY, 140, 0);
    ss_partition_batch_ended(&state, SS_BATCH_POISON, 140, 0);
    assert_int_equal(state.next_offset, 100);
    assert_true(ss_partition_accepts(&state));
    assert_true(ss_partition_publish_fresh(&state));
}

static void test_commit_produce_settle_then_delete_up_to_the_ack(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 0, 0);
    int64_t after, up_to;
    assert_false(ss_partition_delete_range(&state, &after, &up_to));
    ss_partition_committed(&state, 10, 40, 0);
    ss_partition_produced(&state, 40);
    ss_partition_settled(&state, 40, false, 0);
    assert_true(ss_partition_delete_range(&state, &after, &up_to));
    assert_int_equal(after, 0);
    assert_int_equal(up_to, 40);
    ss_partition_committed(&state, 20, 55, up_to);
    assert_int_equal(state.deleted_id, 40);
    assert_false(ss_partition_delete_range(&state, &after, &up_to));
}

static void test_failed_delivery_keeps_the_unsent_rows_and_resends_from_there(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 0, 0);
    ss_partition_committed(&state, 10, 40, 0);
    ss_partition_produced(&state, 40);
    ss_partition_settled(&state, 25, true, 1000);
    int64_t after, up_to;
    assert_true(ss_partition_delete_range(&state, &after, &up_to));
    assert_int_equal(up_to, 25); /* never past the lowest row that did not arrive */
    assert_int_equal(state.produced_id, 25);
    assert_false(ss_partition_publish_fresh(&state));
    assert_false(ss_partition_resend_due(&state, 1000));
    assert_true(ss_partition_resend_due(&state, 1000 + SS_PARTITION_RETRY_MIN_MS));
}

static void test_batch_during_a_pending_resend_is_not_published_from_memory(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 0, 30);
    ss_partition_committed(&state, 10, 60, 0);
    assert_false(ss_partition_publish_fresh(&state));
    ss_partition_resent(&state, 30, false);
    assert_true(state.resend);
    ss_partition_resent(&state, 60, true);
    assert_false(state.resend);
    assert_int_equal(state.produced_id, 60);
    ss_partition_settled(&state, 60, false, 0);
    assert_int_equal(state.acked_id, 60);
    assert_true(ss_partition_publish_fresh(&state));
}

static void test_resend_that_finds_nothing_ends_the_resend(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 0, 0);
    ss_partition_batch_ended(&state, SS_BATCH_ALREADY_APPLIED, 5, 0);
    ss_partition_resent(&state, 0, true);
    assert_true(ss_partition_publish_fresh(&state));
}

static void test_interrupted_publish_owes_a_resend_of_the_rest(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 0, 0);
    ss_partition_committed(&state, 10, 40, 0);
    ss_partition_produced(&state, 20);
    ss_partition_resend_owed(&state, 7);
    assert_false(ss_partition_publish_fresh(&state));
    ss_partition_settled(&state, 20, false, 7);
    assert_true(ss_partition_resend_due(&state, 7)); /* rows 21..40 still to go */
    assert_int_equal(state.produced_id, 20);
}

static void test_repeated_delivery_failures_back_off_up_to_the_bound(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 0, 0);
    ss_partition_committed(&state, 10, 40, 0);
    for (int i = 0; i < 40; i++) {
        state.produced_id = 40;
        ss_partition_settled(&state, 0, true, 0);
    }
    assert_false(ss_partition_resend_due(&state, SS_PARTITION_RETRY_MAX_MS - 1));
    assert_true(ss_partition_resend_due(&state, SS_PARTITION_RETRY_MAX_MS));
}

static void test_settle_after_fence_changes_nothing(void **unused)
{
    (void)unused;
    ss_partition_t state = owned(1, 0, 0);
    ss_partition_committed(&state, 10, 40, 0);
    ss_partition_produced(&state, 40);
    ss_partition_batch_ended(&state, SS_BATCH_FENCED, 20, 0);
    ss_partition_settled(&state, 40, false, 0);
    int64_t after, up_to;
    assert_false(ss_partition_delete_range(&state, &after, &up_to));
}

static void test_flight_acked_prefix_stops_at_the_first_failure(void **unused)
{
    (void)unused;
    static ss_outbox_flight_t flight;
    ss_outbox_flight_clear(&flight);
    size_t a = ss_outbox_flight_add(&flight, 2, 10, 0);
    size_t b = ss_outbox_flight_add(&flight, 3, 11, 0);
    size_t c = ss_outbox_flight_add(&flight, 2, 12, 0);
    size_t d = ss_outbox_flight_add(&flight, 2, 13, 0);
    ss_outbox_flight_report(&flight, a, SS_DELIVERY_ACKED);
    ss_outbox_flight_report(&flight, b, SS_DELIVERY_ACKED);
    ss_outbox_flight_report(&flight, c, SS_DELIVERY_RETRY);
    ss_outbox_flight_report(&flight, d, SS_DELIVERY_ACKED); /* later, but after a gap */
    ss_outbox_flight_outcome_t outcomes[4];
    ss_outbox_flight_outcomes(&flight, outcomes, 4);
    assert_true(outcomes[2].touched && outcomes[2].failed);
    assert_int_equal(outcomes[2].acked_up_to_id, 10);
    assert_true(outcomes[3].touched && !outcomes[3].failed);
    assert_int_equal(outcomes[3].acked_up_to_id, 11);
    assert_false(outcomes[0].touched);
}

/* A row of several records is acked only when every record is; a later row waits for it. */
static void test_flight_row_of_records_is_acked_only_when_all_are(void **unused)
{
    (void)unused;
    static ss_outbox_flight_t flight;
    ss_outbox_flight_clear(&flight);
    size_t a0 = ss_outbox_flight_add(&flight, 1, 20, 0);
    size_t a1 = ss_outbox_flight_add(&flight, 1, 20, 1);
    size_t b0 = ss_outbox_flight_add(&flight, 1, 21, 0);
    size_t b1 = ss_outbox_flight_add(&flight, 1, 21, 1);
    size_t b2 = ss_outbox_flight_add(&flight, 1, 21, 2);
    size_t c0 = ss_outbox_flight_add(&flight, 1, 22, 0);
    ss_outbox_flight_report(&flight, a0, SS_DELIVERY_ACKED);
    ss_outbox_flight_report(&flight, a1, SS_DELIVERY_ACKED);
    ss_outbox_flight_report(&flight, b0, SS_DELIVERY_ACKED);
    ss_outbox_flight_report(&flight, b1, SS_DELIVERY_RETRY);
    ss_outbox_flight_report(&flight, b2, SS_DELIVERY_ACKED);
    ss_outbox_flight_report(&flight, c0, SS_DELIVERY_ACKED);
    ss_outbox_flight_outcome_t outcomes[2];
    ss_outbox_flight_outcomes(&flight, outcomes, 2);
    assert_true(outcomes[1].touched && outcomes[1].failed);
    assert_int_equal(outcomes[1].acked_up_to_id, 20); /* not 21: its record 1 did not arrive */
    ss_outbox_flight_report(&flight, b1, SS_DELIVERY_ACKED);
    ss_outbox_flight_outcomes(&flight, outcomes, 2);
    assert_false(outcomes[1].failed);
    assert_int_equal(outcomes[1].acked_up_to_id, 22);
}

/* A row whose first record is missing from the flight (registered from the middle) is not acked. */
static void test_flight_row_registered_from_the_middle_is_not_acked(void **unused)
{
    (void)unused;
    static ss_outbox_flight_t flight;
    ss_outbox_flight_clear(&flight);
    size_t a0 = ss_outbox_flight_add(&flight, 0, 30, 0);
    size_t b1 = ss_outbox_flight_add(&flight, 0, 31, 1);
    ss_outbox_flight_report(&flight, a0, SS_DELIVERY_ACKED);
    ss_outbox_flight_report(&flight, b1, SS_DELIVERY_ACKED);
    ss_outbox_flight_outcome_t outcomes[1];
    ss_outbox_flight_outcomes(&flight, outcomes, 1);
    assert_true(outcomes[0].failed);
    assert_int_equal(outcomes[0].acked_up_to_id, 30);
    assert_int_equal(ss_outbox_flight_room(&flight), SS_OUTBOX_FLIGHT_MAX - 2);
}

static void test_flight_unreported_entry_counts_as_failed(void **unused)
{
    (void)unused;
    static ss_outbox_flight_t flight;
    ss_outbox_flight_clear(&flight);
    ss_outbox_flight_add(&flight, 0, 5, 0);
    ss_outbox_flight_outcome_t outcomes[1];
    ss_outbox_flight_outcomes(&flight, outcomes, 1);
    assert_true(outcomes[0].failed);
    assert_int_equal(outcomes[0].acked_up_to_id, 0);
}

static void test_flight_rejected_entry_is_parked_once_then_decided_by_its_reference(void **unused)
{
    (void)unused;
    static ss_outbox_flight_t flight;
    ss_outbox_flight_clear(&flight);
    size_t a = ss_outbox_flight_add(&flight, 1, 7, 0);
    size_t b = ss_outbox_flight_add(&flight, 1, 8, 0);
    ss_outbox_flight_report(&flight, a, SS_DELIVERY_REJECTED);
    ss_outbox_flight_report(&flight, b, SS_DELIVERY_ACKED);
    size_t cursor = 0;
    assert_int_equal(ss_outbox_flight_next_rejected(&flight, &cursor), a);
    ss_outbox_flight_parking(&flight, a);
    assert_int_equal(ss_outbox_flight_next_rejected(&flight, &cursor), SIZE_MAX);
    ss_outbox_flight_outcome_t outcomes[2];
    ss_outbox_flight_outcomes(&flight, outcomes, 2);
    assert_true(outcomes[1].failed); /* the reference has no report yet */
    ss_outbox_flight_report(&flight, a, SS_DELIVERY_ACKED);
    ss_outbox_flight_outcomes(&flight, outcomes, 2);
    assert_false(outcomes[1].failed);
    assert_int_equal(outcomes[1].acked_up_to_id, 8);
}

static void test_flight_rejected_reference_is_retried_not_parked_again(void **unused)
{
    (void)unused;
    static ss_outbox_flight_t flight;
    ss_outbox_flight_clear(&flight);
    size_t a = ss_outbox_flight_add(&flight, 0, 1, 0);
    ss_outbox_flight_report(&flight, a, SS_DELIVERY_REJECTED);
    ss_outbox_flight_parking(&flight, a);
    ss_outbox_flight_report(&flight, a, SS_DELIVERY_REJECTED);
    size_t cursor = 0;
    assert_int_equal(ss_outbox_flight_next_rejected(&flight, &cursor), SIZE_MAX);
    assert_int_equal(flight.entries[a].delivery, SS_DELIVERY_RETRY);
}

static void test_flight_refuses_entries_past_its_bound(void **unused)
{
    (void)unused;
    static ss_outbox_flight_t flight;
    ss_outbox_flight_clear(&flight);
    for (int64_t i = 0; i < SS_OUTBOX_FLIGHT_MAX; i++) {
        assert_int_not_equal(ss_outbox_flight_add(&flight, 0, i + 1, 0), SIZE_MAX);
    }
    assert_int_equal(ss_outbox_flight_add(&flight, 0, SS_OUTBOX_FLIGHT_MAX + 1, 0), SIZE_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assignment_asks_for_a_claim_at_once),
        cmocka_unit_test(test_failed_claim_waits_longer_each_time_and_does_not_accept_records),
        cmocka_unit_test(test_claim_with_stored_rows_resends_all_of_them),
        cmocka_unit_test(test_claim_without_stored_rows_publishes_fresh),
        cmocka_unit_test(test_claim_after_assignment_holds_records_until_the_seek),
        cmocka_unit_test(test_revoke_forgets_everything),
        cmocka_unit_test(test_records_below_the_stored_offset_are_already_applied),
        cmocka_unit_test(test_fence_with_our_epoch_and_the_batch_offset_is_already_applied),
        cmocka_unit_test(test_already_applied_moves_the_offset_and_resends),
        cmocka_unit_test(test_fenced_partition_is_claimed_again_after_the_delay),
        cmocka_unit_test(test_retry_and_poison_change_nothing),
        cmocka_unit_test(test_commit_produce_settle_then_delete_up_to_the_ack),
        cmocka_unit_test(test_failed_delivery_keeps_the_unsent_rows_and_resends_from_there),
        cmocka_unit_test(test_batch_during_a_pending_resend_is_not_published_from_memory),
        cmocka_unit_test(test_resend_that_finds_nothing_ends_the_resend),
        cmocka_unit_test(test_interrupted_publish_owes_a_resend_of_the_rest),
        cmocka_unit_test(test_repeated_delivery_failures_back_off_up_to_the_bound),
        cmocka_unit_test(test_settle_after_fence_changes_nothing),
        cmocka_unit_test(test_flight_acked_prefix_stops_at_the_first_failure),
        cmocka_unit_test(test_flight_row_of_records_is_acked_only_when_all_are),
        cmocka_unit_test(test_flight_row_registered_from_the_middle_is_not_acked),
        cmocka_unit_test(test_flight_unreported_entry_counts_as_failed),
        cmocka_unit_test(test_flight_rejected_entry_is_parked_once_then_decided_by_its_reference),
        cmocka_unit_test(test_flight_rejected_reference_is_retried_not_parked_again),
        cmocka_unit_test(test_flight_refuses_entries_past_its_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
