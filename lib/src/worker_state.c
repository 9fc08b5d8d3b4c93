/*
 * The exactly-once worker's per-partition state machine and its table of records in flight
 * (lib/include/ss/worker_state.h). Pure: the drivers do the I/O and call these transitions.
 */
#include "ss/worker_state.h"

#include "ss/assert.h"
#include "ss/clock.h"

#include <string.h>

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* The watermarks' order, after every transition that touches them. */
static void watermarks_check(const ss_partition_t *state)
{
    SS_ASSERT(state->deleted_id <= state->acked_id);
    SS_ASSERT(state->acked_id <= state->produced_id);
    SS_ASSERT(state->produced_id <= state->committed_id);
}

static int64_t retry_pause_ms(int failures)
{
    return ss_clock_backoff_ms(SS_PARTITION_RETRY_MIN_MS, SS_PARTITION_RETRY_MAX_MS, failures - 1);
}

void ss_partition_assigned(ss_partition_t *state, int64_t now_ms)
{
    memset(state, 0, sizeof(*state));
    state->phase = SS_PARTITION_CLAIMING;
    state->claim_due_ms = now_ms;
}

void ss_partition_revoked(ss_partition_t *state)
{
    memset(state, 0, sizeof(*state));
}

bool ss_partition_claim_due(const ss_partition_t *state, int64_t now_ms)
{
    return state->phase == SS_PARTITION_CLAIMING && now_ms >= state->claim_due_ms;
}

void ss_partition_claimed(ss_partition_t *state, int64_t epoch, int64_t next_offset,
                          int64_t max_outbox_id, bool seek, int64_t now_ms)
{
    SS_ASSERT(state->phase == SS_PARTITION_CLAIMING);
    SS_ASSERT(epoch > 0 && next_offset >= 0 && max_outbox_id >= 0);
    memset(state, 0, sizeof(*state));
    state->phase = SS_PARTITION_OWNED;
    state->epoch = epoch;
    state->next_offset = next_offset;
    state->seek_needed = seek;
    /* A row stored by any earlier owner may never have left: send every stored row again. */
    state->committed_id = max_outbox_id;
    state->resend = max_outbox_id > 0;
    state->resend_due_ms = now_ms;
    watermarks_check(state);
}

void ss_partition_sought(ss_partition_t *state)
{
    SS_ASSERT(state->phase == SS_PARTITION_OWNED);
    state->seek_needed = false;
}

void ss_partition_claim_failed(ss_partition_t *state, int64_t now_ms)
{
    SS_ASSERT(state->phase == SS_PARTITION_CLAIMING);
    state->claim_failures++;
    state->claim_due_ms = now_ms + retry_pause_ms(state->claim_failures);
}

bool ss_partition_accepts(const ss_partition_t *state)
{
    return state->phase == SS_PARTITION_OWNED && !state->seek_needed;
}

bool ss_partition_already_applied(const ss_partition_t *state, int64_t offset)
{
    return offset < state->next_offset;
}

ss_fence_verdict_t ss_partition_fence_verdict(const ss_partition_t *state, int64_t stored_epoch,
                                              int64_t stored_offset, int64_t batch_next_offset)
{
    if (stored_epoch == state->epoch && stored_offset == batch_next_offset) {
        return SS_FENCE_ALREADY_APPLIED;
    }
    return SS_FENCE_LOST;
}

bool ss_partition_delete_range(const ss_partition_t *state, int64_t *after_id, int64_t *up_to_id)
{
    *after_id = state->deleted_id;
    *up_to_id = state->acked_id;
    return state->phase == SS_PARTITION_OWNED && state->acked_id > state->deleted_id;
}

void ss_partition_committed(ss_partition_t *state, int64_t next_offset, int64_t outbox_max_id,
                            int64_t deleted_up_to_id)
{
    SS_ASSERT(state->phase == SS_PARTITION_OWNED);
    SS_ASSERT(next_offset > state->next_offset);
    SS_ASSERT(deleted_up_to_id <= state->acked_id);
    state->next_offset = next_offset;
    state->committed_id = max64(state->committed_id, outbox_max_id);
    state->deleted_id = max64(state->deleted_id, deleted_up_to_id);
    watermarks_check(state);
}

void ss_partition_batch_ended(ss_partition_t *state, ss_batch_outcome_t outcome,
                              int64_t next_offset, int64_t now_ms)
{
    SS_ASSERT(outcome != SS_BATCH_COMMITTED);
    if (outcome == SS_BATCH_ALREADY_APPLIED) {
        SS_ASSERT(next_offset > state->next_offset);
        state->next_offset = next_offset;
        /* Its rows are stored under ids this process never learnt: read them back. */
        state->resend = true;
        state->resend_due_ms = now_ms;
    } else if (outcome == SS_BATCH_FENCED) {
        /* Another member holds the partition now; the rows stay for it to send. */
        memset(state, 0, sizeof(*state));
        state->phase = SS_PARTITION_CLAIMING;
        state->claim_due_ms = now_ms + SS_PARTITION_RECLAIM_DELAY_MS;
    }
}

bool ss_partition_publish_fresh(const ss_partition_t *state)
{
    return state->phase == SS_PARTITION_OWNED && !state->resend;
}

bool ss_partition_resend_due(const ss_partition_t *state, int64_t now_ms)
{
    return state->phase == SS_PARTITION_OWNED && state->resend && now_ms >= state->resend_due_ms;
}

void ss_partition_resent(ss_partition_t *state, int64_t last_id, bool complete)
{
    SS_ASSERT(state->phase == SS_PARTITION_OWNED && state->resend);
    SS_ASSERT(last_id == 0 || last_id > state->produced_id);
    if (last_id > 0) {
        state->produced_id = last_id;
        state->committed_id = max64(state->committed_id, last_id);
    }
    if (complete) {
        state->resend = false;
    }
    watermarks_check(state);
}

void ss_partition_resend_owed(ss_partition_t *state, int64_t now_ms)
{
    SS_ASSERT(state->phase == SS_PARTITION_OWNED);
    state->resend = true;
    state->resend_due_ms = now_ms;
}

void ss_partition_produced(ss_partition_t *state, int64_t id)
{
    SS_ASSERT(id > state->produced_id);
    if (state->resend) {
        /* Read back from PostgreSQL: committed, whatever this process knew of it. */
        state->committed_id = max64(state->committed_id, id);
    }
    SS_ASSERT(id <= state->committed_id);
    state->produced_id = id;
    watermarks_check(state);
}

void ss_partition_settled(ss_partition_t *state, int64_t acked_up_to_id, bool failed,
                          int64_t now_ms)
{
    if (state->phase != SS_PARTITION_OWNED) {
        return; /* revoked or fenced meanwhile: the next owner sends the rows again */
    }
    SS_ASSERT(acked_up_to_id <= state->produced_id);
    state->acked_id = max64(state->acked_id, acked_up_to_id);
    if (failed) {
        /* Everything after the first row that did not arrive goes again, in order. */
        state->produced_id = state->acked_id;
        state->resend = true;
        state->resend_failures++;
        state->resend_due_ms = now_ms + retry_pause_ms(state->resend_failures);
    } else if (!state->resend) {
        state->resend_failures = 0;
    }
    watermarks_check(state);
}

void ss_partition_deleted(ss_partition_t *state, int64_t id)
{
    SS_ASSERT(id <= state->acked_id);
    state->deleted_id = max64(state->deleted_id, id);
    watermarks_check(state);
}

size_t ss_outbox_flight_add(ss_outbox_flight_t *flight, int32_t partition, int64_t row_id,
                            uint32_t record)
{
    if (flight->count == SS_OUTBOX_FLIGHT_MAX) {
        return SIZE_MAX;
    }
    flight->entries[flight->count] =
        (ss_outbox_flight_entry_t){.partition = partition, .row_id = row_id, .record = record};
    return flight->count++;
}

size_t ss_outbox_flight_room(const ss_outbox_flight_t *flight)
{
    return SS_OUTBOX_FLIGHT_MAX - flight->count;
}

void ss_outbox_flight_report(ss_outbox_flight_t *flight, size_t index, ss_delivery_t delivery)
{
    SS_ASSERT(index < flight->count);
    ss_outbox_flight_entry_t *entry = &flight->entries[index];
    /* A parked reference that is rejected too cannot be parked again: try it later. */
    entry->delivery =
        (entry->parked && delivery == SS_DELIVERY_REJECTED) ? SS_DELIVERY_RETRY : delivery;
}

size_t ss_outbox_flight_next_rejected(const ss_outbox_flight_t *flight, size_t *cursor)
{
    for (; *cursor < flight->count; (*cursor)++) {
        const ss_outbox_flight_entry_t *entry = &flight->entries[*cursor];
        if (entry->delivery == SS_DELIVERY_REJECTED && !entry->parked) {
            return (*cursor)++;
        }
    }
    return SIZE_MAX;
}

void ss_outbox_flight_parking(ss_outbox_flight_t *flight, size_t index)
{
    SS_ASSERT(index < flight->count);
    flight->entries[index].parked = true;
    flight->entries[index].delivery = SS_DELIVERY_PENDING;
}

/* The row being read is complete and nothing before it failed: it is acked. */
static void outcome_row_end(ss_outbox_flight_outcome_t *outcome)
{
    if (!outcome->failed && outcome->scanning_id > 0) {
        outcome->acked_up_to_id = outcome->scanning_id;
    }
}

void ss_outbox_flight_outcomes(const ss_outbox_flight_t *flight,
                               ss_outbox_flight_outcome_t *outcomes, size_t partitions_max)
{
    memset(outcomes, 0, partitions_max * sizeof(*outcomes));
    for (size_t i = 0; i < flight->count; i++) {
        const ss_outbox_flight_entry_t *entry = &flight->entries[i];
        if (entry->partition < 0 || (size_t)entry->partition >= partitions_max) {
            continue;
        }
        ss_outbox_flight_outcome_t *outcome = &outcomes[entry->partition];
        outcome->touched = true;
        if (entry->row_id != outcome->scanning_id) {
            /* A source's rows are queued in id order, each row's records together. */
            SS_ASSERT(entry->row_id > outcome->scanning_id);
            outcome_row_end(outcome);
            outcome->scanning_id = entry->row_id;
            if (entry->record != 0) {
                outcome->failed = true; /* the row's first records were not registered */
            }
        }
        if (entry->delivery != SS_DELIVERY_ACKED) {
            outcome->failed = true;
        }
    }
    for (size_t p = 0; p < partitions_max; p++) {
        outcome_row_end(&outcomes[p]);
    }
}

void ss_outbox_flight_clear(ss_outbox_flight_t *flight)
{
    flight->count = 0;
}
