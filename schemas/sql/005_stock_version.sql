-- The stock overlay's version (docs/reports/caching.md). The stock worker, the one writer of
-- products.stock, adds 1 to stock_version in the same UPDATE that changes stock or sell_status,
-- and writes the new (stock_version, stock) to the Redis overlay after its commit with a
-- compare-and-set that never replaces a newer version by an older one. Monotonic per product
-- whoever owns its partition, because it lives in the row itself. IF NOT EXISTS: the column was
-- added by hand to development databases before this file existed.
ALTER TABLE products ADD COLUMN IF NOT EXISTS stock_version bigint NOT NULL DEFAULT 0;
