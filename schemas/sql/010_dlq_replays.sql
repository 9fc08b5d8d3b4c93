-- Dead letters replayed by `ss-admin dlq replay` (issue 11, point 8), one row per dead letter:
-- the row is written and committed BEFORE the record is produced back to its source, so a
-- second replay of the same dead letter is refused even when the first one's outcome is unknown
-- (a replay is at most once; the commands themselves are not deduplicated by request id).
--   status 'sending'  the row is claimed, the record is being produced
--          'produced' the broker acknowledged it at produced_partition/produced_offset
--          'unknown'  the produce failed after it may have reached the log: it may apply
-- A replay that certainly never reached the log deletes its row again (and puts back the
-- request_results answer it removed), so it can be retried.
-- replaced_status/replaced_body: the dead-letter answer (500) the replay removed from
-- request_results, so that the replayed command's own outcome is what GET /requests/{id} shows.
CREATE TABLE IF NOT EXISTS dlq_replays (
    dlq_partition      int         NOT NULL,
    dlq_offset         bigint      NOT NULL,
    source             text        NOT NULL, -- the ss-dlq-source header, topic/partition/offset
    destination_topic  text        NOT NULL,
    request_id         text,
    replaced_status    int,
    replaced_body      text,
    status             text        NOT NULL CHECK (status IN ('sending', 'produced', 'unknown')),
    produced_partition int,
    produced_offset    bigint,
    replayed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dlq_partition, dlq_offset)
);
CREATE INDEX IF NOT EXISTS dlq_replays_request_idx ON dlq_replays (request_id);
