-- Retention of the dedupe and result tables (docs/architecture.md, "Retention"; issue 10,
-- point 14). Each table is pruned by its owner in bounded deletes, oldest first, so each gets
-- the index that finds its oldest rows without a scan.
--
-- idempotency_keys and request_results: the worker framework deletes rows older than
-- SS_IDEMPOTENCY_RETENTION_S (24 h) and SS_RESULT_RETENTION_S (7 d); a result is kept while
-- any key is older than it (min(created_at) of the keys, read from this index).
CREATE INDEX IF NOT EXISTS idempotency_keys_created_idx ON idempotency_keys (created_at);
CREATE INDEX IF NOT EXISTS request_results_created_idx ON request_results (created_at);

-- request_pending: the ingress deletes a row once its result exists (a sweep in
-- (created_at, request_id) order, resumed where it stopped) or after SS_PENDING_RETENTION_S.
CREATE INDEX IF NOT EXISTS request_pending_created_idx ON request_pending (created_at, request_id);

-- stock_reservations: the stock worker deletes rows older than SS_RESERVATION_RETENTION_S
-- (30 d) in order_id order (the primary key's index) and raises the horizon below which every
-- reservation was pruned, in the same transaction. A ReserveStock for an order below the
-- horizon that finds no row is refused without taking stock: it can only be a re-send of one
-- already decided (or a first delivery older than the retention), so a pruned reservation
-- never lets stock be taken twice. created_at is when the pair was first decided; rows that
-- exist before this migration count from the migration.
ALTER TABLE stock_reservations ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL
    DEFAULT now();
CREATE TABLE IF NOT EXISTS stock_reservation_horizon (
    id             int         PRIMARY KEY CHECK (id = 1),
    order_id_below bigint      NOT NULL CHECK (order_id_below >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO stock_reservation_horizon (id, order_id_below) VALUES (1, 0) ON CONFLICT DO NOTHING;
