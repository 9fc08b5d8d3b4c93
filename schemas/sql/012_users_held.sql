-- What a user's PENDING orders hold, kept on the user's row by its single writer (the user
-- worker that owns the user's partition) instead of summed from orders each time an account is
-- loaded (issue 9). The sum cost a fifth of PostgreSQL's time per order: an index scan of
-- orders_pending_user_idx per user, over the dead entries every PENDING -> PAID update leaves
-- until vacuum, plus that index's upkeep on every order.
--
-- held is the paid_amount of the user's PENDING orders. An order adds its paid_amount when it
-- is recorded PENDING and takes it off when it is paid or refunded, in the same transaction as
-- the order's status. balance + held stays within the balance limit so that a refund always
-- fits (a charge counts held against the limit).
--
-- Upgrade with the user workers stopped: a worker of the previous release neither reads nor
-- writes held, so orders it settles while this column exists would leave it wrong.
ALTER TABLE users ADD COLUMN held bigint NOT NULL DEFAULT 0;

UPDATE users u
   SET held = p.held
  FROM (SELECT user_id, sum(paid_amount) AS held FROM orders
         WHERE status = 'PENDING' GROUP BY user_id) AS p
 WHERE u.id = p.user_id;

ALTER TABLE users
    ADD CONSTRAINT users_held_within_limit CHECK (held >= 0 AND held <= 10000000 - balance);

DROP INDEX IF EXISTS orders_pending_user_idx;
