-- The order saga's deadline (docs/architecture.md "Saga deadline"; workers/user/deadline.c).
--
-- A PENDING order whose ReserveStock or stock reply was dead-lettered would wait forever with
-- its money held and its coupon USED. The user worker that owns the order scans its own
-- partition's PENDING orders on a timer: one unanswered for a re-ask interval is asked again,
-- and after the last re-ask or at the total deadline it fails and is compensated.
--
-- partition: the ss.cmd.user partition whose worker wrote the order (its single writer), so a
-- partition's scan reads only its own orders. NULL for orders placed before this migration;
-- the deadline does not cover those (docs/architecture.md says how to find them).
ALTER TABLE orders ADD COLUMN partition int;
-- stock_reasks: how many times the stock worker was asked again; stock_asked_at: the last ask
-- (the first is the order's creation).
ALTER TABLE orders ADD COLUMN stock_reasks int NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN stock_asked_at timestamptz NOT NULL DEFAULT now();
UPDATE orders SET stock_asked_at = created_at;

-- The scan: a partition's PENDING orders by their last ask, oldest first. Partial, so it holds
-- only the orders in flight (a few per active user) and costs PAID and FAILED orders nothing.
CREATE INDEX orders_pending_deadline_idx ON orders (partition, stock_asked_at)
    WHERE status = 'PENDING';
