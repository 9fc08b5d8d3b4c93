-- The order saga's state (docs/architecture.md, "Order saga"; workers/user/).
--
-- Order ids: the user worker takes them from orders_id_seq, one nextval per order of a batch,
-- so they stay small (a JavaScript client loses precision above 2^53). A rolled-back batch
-- leaves gaps; nothing relies on ids being dense.
CREATE SEQUENCE orders_id_seq OWNED BY orders.id;
SELECT setval('orders_id_seq', coalesce((SELECT max(id) FROM orders), 0) + 1, false);
ALTER TABLE orders ALTER COLUMN id SET DEFAULT nextval('orders_id_seq');

-- Where to answer a PlaceOrder that waits for the stock worker's replies: the ss.results
-- partition of the ingress that asked (-1: nobody waits).
ALTER TABLE orders ADD COLUMN reply_partition int NOT NULL DEFAULT -1;

-- What the stock worker answered for each line. A PENDING order is PAID when every line is
-- RESERVED; a rejection fails it, and its RESERVED lines are RELEASED.
ALTER TABLE order_items ADD COLUMN reservation text NOT NULL DEFAULT 'PENDING'
    CHECK (reservation IN ('PENDING', 'RESERVED', 'REJECTED', 'RELEASED'));

-- The user worker keeps balance + the amounts held by a user's PENDING orders within the
-- balance limit (a refund must always fit), so it sums them when it loads an account.
CREATE INDEX orders_pending_user_idx ON orders (user_id) WHERE status = 'PENDING';
