/*
 * The per-partition decisions of the exactly-once worker, as a pure state machine: no
 * librdkafka, no libpq, no clock of its own (callers pass now_ms). The drivers (worker.c for
 * claims and batches, worker_outbox.c for producing) do the I/O, report here what happened and
 * ask here what to do next. docs/architecture.md has the transition table.
 *
 * Ownership: ss_worker_t holds one ss_partition_t per partition and one ss_outbox_flight_t;
 * only the functions of this module change them. Everything is plain data: no allocation.
 *
 * The outbox watermarks of a partition's source are outbox row ids, and always
 *     deleted_id <= acked_id <= produced_id <= committed_id
 * (SS_ASSERT checks it after every transition). A row is deleted only once it is acknowledged
 * by the broker (or parked in the dead-letter topic), and never past the lowest row that is not.
 */
#ifndef SS_WORKER_STATE_H
#define SS_WORKER_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* First pause after a failed claim or delivery; doubles per failure up to the max. */
#define SS_PARTITION_RETRY_MIN_MS 100
#define SS_PARTITION_RETRY_MAX_MS 5000
/*
 * How long a fenced member waits before claiming a partition Kafka still gives it: long
 * enough for the group's rebalance to reach it first (heartbeat 1 s), so two members that both
 * believe they own a partition do not take it from each other in a loop.
 */
#define SS_PARTITION_RECLAIM_DELAY_MS 3000
/*
 * Rows read back per poll round and partition by a re-send (the rest follow next round). A row
 * holds up to a batch's records for one destination, so this bounds memory, not records.
 */
#define SS_PARTITION_RESEND_ROWS_MAX 64
/* Records in flight per poll round (their delivery reports are awaited at the round's end). */
#define SS_OUTBOX_FLIGHT_MAX 65536

typedef enum ss_partition_phase {
    SS_PARTITION_UNASSIGNED = 0,
    SS_PARTITION_CLAIMING, /* the group gave it to us; the PostgreSQL claim is not done yet */
    SS_PARTITION_OWNED,    /* claimed under our epoch: batches may run */
} ss_partition_phase_t;

typedef struct ss_partition {
    ss_partition_phase_t phase;
    int64_t epoch;       /* ours, from the claim */
    int64_t next_offset; /* as committed in partition_state */
    int64_t claim_due_ms;
    int claim_failures;
    bool seek_needed; /* claimed after assignment: move the fetch position to next_offset */
    int64_t committed_id;
    int64_t produced_id;
    int64_t acked_id;
    int64_t deleted_id;
    bool resend; /* rows after acked_id are to be read back from PostgreSQL and produced */
    int64_t resend_due_ms;
    int resend_failures;
} ss_partition_t;

/* What one batch transaction came to; a batch reports exactly one of these. */
typedef enum ss_batch_outcome {
    SS_BATCH_COMMITTED,       /* applied, offset moved, outbox rows stored */
    SS_BATCH_ALREADY_APPLIED, /* an earlier attempt whose commit outcome was unknown committed */
    SS_BATCH_FENCED,          /* another member claimed the partition: nothing applied */
    SS_BATCH_POISON,          /* holds a record that can never be applied: isolate it */
    SS_BATCH_RETRY,           /* transient failure: rolled back, try again after a pause */
    SS_BATCH_FAILED,          /* fatal: the process must stop */
} ss_batch_outcome_t;

/* What the fence statement found when it did not match. */
typedef enum ss_fence_verdict {
    SS_FENCE_ALREADY_APPLIED, /* our epoch, and the offset is where this batch would put it */
    SS_FENCE_LOST,            /* another epoch, or an offset this batch does not explain */
} ss_fence_verdict_t;

/* ---- claims ----------------------------------------------------------------------------- */

/* The group assigned the partition: claim it now. */
void ss_partition_assigned(ss_partition_t *state, int64_t now_ms);
/* The group took it away (or the process leaves): forget everything. */
void ss_partition_revoked(ss_partition_t *state);
/* True when a claim should be tried now. */
bool ss_partition_claim_due(const ss_partition_t *state, int64_t now_ms);
/*
 * The claim bumped the epoch and read the stored offset. Every outbox row of the source that
 * is still stored (ids up to max_outbox_id, 0 for none) may be unsent: re-send them all.
 * seek says the fetch position must move to next_offset (a claim after the assignment).
 */
void ss_partition_claimed(ss_partition_t *state, int64_t epoch, int64_t next_offset,
                          int64_t max_outbox_id, bool seek, int64_t now_ms);
/* The fetch position was moved to next_offset after a late claim: records may flow. */
void ss_partition_sought(ss_partition_t *state);
/* A claim failed transiently (lock timeout, connection lost): try again after a pause. */
void ss_partition_claim_failed(ss_partition_t *state, int64_t now_ms);

/* ---- batches ---------------------------------------------------------------------------- */

/* True when records of this partition may be applied. */
bool ss_partition_accepts(const ss_partition_t *state);
/* Whether a record at offset was applied by an earlier batch already. */
bool ss_partition_already_applied(const ss_partition_t *state, int64_t offset);
/* Which way a non-matching fence statement went, from what partition_state holds. */
ss_fence_verdict_t ss_partition_fence_verdict(const ss_partition_t *state, int64_t stored_epoch,
                                              int64_t stored_offset, int64_t batch_next_offset);
/*
 * The range of acknowledged rows a batch transaction should delete, (*after_id, *up_to_id].
 * False when there is nothing to delete (then no statement at all).
 */
bool ss_partition_delete_range(const ss_partition_t *state, int64_t *after_id, int64_t *up_to_id);
/*
 * A batch committed: the offset moved to next_offset, its rows got ids up to outbox_max_id (0:
 * it stored none) and rows up to deleted_up_to_id (0: none) were deleted in it.
 */
void ss_partition_committed(ss_partition_t *state, int64_t next_offset, int64_t outbox_max_id,
                            int64_t deleted_up_to_id);
/*
 * Any other outcome. ALREADY_APPLIED moves the offset to next_offset and re-sends the stored
 * rows (their ids are not known here); FENCED re-claims after SS_PARTITION_RECLAIM_DELAY_MS.
 */
void ss_partition_batch_ended(ss_partition_t *state, ss_batch_outcome_t outcome,
                              int64_t next_offset, int64_t now_ms);

/* ---- producing -------------------------------------------------------------------------- */

/* True when a committed batch's rows may be produced straight from memory (no re-send owed). */
bool ss_partition_publish_fresh(const ss_partition_t *state);
/* True when stored rows should be read back and produced now. */
bool ss_partition_resend_due(const ss_partition_t *state, int64_t now_ms);
/* A re-send read rows up to last_id (0: none); complete says nothing is stored after them. */
void ss_partition_resent(ss_partition_t *state, int64_t last_id, bool complete);
/*
 * Producing stopped before the end of what is committed (the flight is full, the local queue
 * stayed full): the rest is read back from PostgreSQL next round.
 */
void ss_partition_resend_owed(ss_partition_t *state, int64_t now_ms);
/* Row id was handed to the producer (rows are handed over in id order). */
void ss_partition_produced(ss_partition_t *state, int64_t id);
/*
 * The round's deliveries settled: every row up to acked_up_to_id arrived (or was parked);
 * failed says a row after it did not, so the rows from there on are re-sent after a pause.
 */
void ss_partition_settled(ss_partition_t *state, int64_t acked_up_to_id, bool failed,
                          int64_t now_ms);
/* A re-send's DELETE of rows up to id committed. */
void ss_partition_deleted(ss_partition_t *state, int64_t id);

/* ---- records in flight ------------------------------------------------------------------ */

typedef enum ss_delivery {
    SS_DELIVERY_PENDING = 0, /* queued, no report yet */
    SS_DELIVERY_ACKED,       /* the broker has it (the row or its parked reference) */
    SS_DELIVERY_RETRY,       /* failed for now (timeout, broker down): re-send later */
    SS_DELIVERY_REJECTED,    /* can never be produced as it is (too large): park it */
} ss_delivery_t;

/*
 * One record in flight. An outbox row holds one or more records (one destination's share of a
 * batch); a row counts as delivered only when every one of its records is.
 */
typedef struct ss_outbox_flight_entry {
    int32_t partition; /* the source partition */
    int64_t row_id;
    uint32_t record; /* its place in the row, 0-based */
    ss_delivery_t delivery;
    bool parked; /* a reference to it was sent to the dead-letter topic instead */
} ss_outbox_flight_entry_t;

/* The records produced in one poll round, in the order they were queued. */
typedef struct ss_outbox_flight {
    ss_outbox_flight_entry_t entries[SS_OUTBOX_FLIGHT_MAX];
    size_t count;
} ss_outbox_flight_t;

/*
 * Registers record number `record` of row row_id; returns its index (its delivery opaque), or
 * SIZE_MAX when full. A row's records are registered together, in order (see room).
 */
size_t ss_outbox_flight_add(ss_outbox_flight_t *flight, int32_t partition, int64_t row_id,
                            uint32_t record);
/* How many more records fit: a row is only started when all of its records do. */
size_t ss_outbox_flight_room(const ss_outbox_flight_t *flight);
/* A delivery report for entry index. Rejected twice (its reference too) counts as RETRY. */
void ss_outbox_flight_report(ss_outbox_flight_t *flight, size_t index, ss_delivery_t delivery);
/*
 * The first entry, at or after *cursor, that must be parked (rejected and not parked yet);
 * SIZE_MAX when none. The caller sends its reference, then calls ss_outbox_flight_parking().
 */
size_t ss_outbox_flight_next_rejected(const ss_outbox_flight_t *flight, size_t *cursor);
/* The reference of entry index was queued: its report now decides the entry. */
void ss_outbox_flight_parking(ss_outbox_flight_t *flight, size_t index);
/* What the round's reports say of one source partition. */
typedef struct ss_outbox_flight_outcome {
    bool touched;           /* it had records in flight this round */
    bool failed;            /* one of them is not acked */
    int64_t acked_up_to_id; /* every record of every row up to here is acked (0: none) */
    int64_t scanning_id;    /* internal to ss_outbox_flight_outcomes: the row being read */
} ss_outbox_flight_outcome_t;

/*
 * Fills outcomes[0..partitions_max) in one pass; entries of partitions beyond are ignored. A row
 * whose records were not all registered (the round stopped producing inside it) is not acked.
 */
void ss_outbox_flight_outcomes(const ss_outbox_flight_t *flight,
                               ss_outbox_flight_outcome_t *outcomes, size_t partitions_max);
/* Forgets every entry (the round is over). */
void ss_outbox_flight_clear(ss_outbox_flight_t *flight);

#endif
