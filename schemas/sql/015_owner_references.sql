-- The references between the tables the workers write are kept by their single writers instead
-- of foreign keys. A foreign key makes PostgreSQL run a lookup of the referenced row (SELECT ...
-- FOR KEY SHARE, through SPI) for every inserted row: measured at 6.5 us per row, about 14 us of
-- a coupon issue's 44 us of PostgreSQL CPU (two keys) and 9 of a charge's 54. What the keys
-- checked holds without them:
--   * users, coupons and orders rows are never deleted (no code path deletes them; the
--     retention jobs prune request_results, idempotency_keys, stock_reservations and the
--     outbox only), so a reference can never dangle later;
--   * each writer reads the referenced row in the same transaction before it writes the row
--     that names it: the user worker writes a balance_history row only for a user it loaded and
--     updates in that batch, and an order's lines in the same batch as the order, after it;
--     the coupon worker issues a user_coupons row only for a coupon and a user its batch loaded
--     (COUPON_NOT_FOUND and USER_NOT_FOUND otherwise).
-- test_mixed_faults checks that no row names a missing user, coupon or order after its run of
-- concurrent flows, kills and restarts. docs/architecture.md, "Data ownership", says the same.
ALTER TABLE balance_history DROP CONSTRAINT IF EXISTS balance_history_user_id_fkey;
ALTER TABLE user_coupons DROP CONSTRAINT IF EXISTS user_coupons_user_id_fkey;
ALTER TABLE user_coupons DROP CONSTRAINT IF EXISTS user_coupons_coupon_id_fkey;
ALTER TABLE order_items DROP CONSTRAINT IF EXISTS order_items_order_id_fkey;
