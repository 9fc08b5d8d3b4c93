-- The rank worker's daily batch (issue 5): a row says that product_rank holds the SELL ranking
-- of rank_date, computed from the orders PAID that UTC day, last at finished_at. The batch writes
-- it in the same transaction as the ranking rows; the scheduler's catch-up runs the recent days
-- that have no row. Written only by ss-rank-worker (scheduled, catch-up or --batch-date).
CREATE TABLE IF NOT EXISTS rank_batch_runs (
    rank_date   date        PRIMARY KEY,
    finished_at timestamptz NOT NULL
);
