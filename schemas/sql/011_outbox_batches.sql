-- Outbox rows carry a whole batch's records for one destination (issue 8): a batch stores one
-- row per (source, topic, destination partition) instead of one row per record, so a poll round
-- of hundreds of results and events writes, deletes and vacuums a handful of tuples.
-- record_keys[i], record_values[i] and record_headers[i] are the row's i-th record (1-based), in
-- the order the batch emitted them; a key or headers element may be NULL. Rows written before
-- this migration become rows of one record each, so an upgrade re-sends them unchanged.
ALTER TABLE outbox
    ADD COLUMN record_keys    bytea[],
    ADD COLUMN record_values  bytea[],
    ADD COLUMN record_headers jsonb[];

UPDATE outbox
   SET record_keys = ARRAY[key], record_values = ARRAY[value], record_headers = ARRAY[headers];

ALTER TABLE outbox
    DROP COLUMN key,
    DROP COLUMN value,
    DROP COLUMN headers,
    ALTER COLUMN record_keys SET NOT NULL,
    ALTER COLUMN record_values SET NOT NULL,
    ALTER COLUMN record_headers SET NOT NULL,
    ADD CONSTRAINT outbox_records_shape CHECK (
        cardinality(record_values) >= 1
        AND cardinality(record_keys) = cardinality(record_values)
        AND cardinality(record_headers) = cardinality(record_values));
