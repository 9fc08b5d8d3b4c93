-- The row-lock baseline's order and payment (bench/compare.sh): one request of POST /orders
-- {"userId":U,"products":[{"id":P,"quantity":1}]} (one line, as bench/order.lua sends) in one
-- transaction, all or nothing:
--   1. lock the product rows in id order (one here), check SELLING and the stock, decrement it;
--   2. if a coupon is given (coupon_id > 0): lock the user's UNUSED, unexpired user coupon and
--      mark it USED; the discount is floor(total x rate) (docs: API.md);
--   3. lock the user's row, check the balance covers total - discount, debit it;
--   4. insert the order (PAID), its item and the USE history row.
-- A refusal (stock, selling status, coupon, balance) rolls back everything.
-- Variables from compare.sh (-D): user_min, user_max, product_min, product_max (the product
-- range of the scenario: 10,000 products, the first 10 or the first one) and coupon_id (0:
-- none, what the scenarios send; a coupon is usable once per user).
\set user_id random(:user_min, :user_max)
\set product_id random(:product_min, :product_max)
\set quantity 1
\set discount 0
\set user_coupon_id 0
BEGIN;
SELECT (sell_status = 'SELLING' AND stock >= :quantity)::int AS ok, price * :quantity AS total
  FROM products WHERE id = :product_id ORDER BY id FOR UPDATE \gset
\if :ok
UPDATE products SET stock = stock - :quantity, updated_at = now() WHERE id = :product_id;
\endif
\if :ok = 1 and :coupon_id > 0
WITH usable AS (
    SELECT uc.id, c.discount_rate FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id
     WHERE uc.user_id = :user_id AND uc.coupon_id = :coupon_id AND uc.status = 'UNUSED'
       AND c.status <> 'CANCELED' AND c.expired_at > now()
       FOR UPDATE OF uc)
SELECT count(*)::int AS ok, coalesce(max(id), 0) AS user_coupon_id,
       coalesce(floor(:total * max(discount_rate)), 0)::bigint AS discount FROM usable \gset
\if :ok
UPDATE user_coupons SET status = 'USED', used_at = now() WHERE id = :user_coupon_id;
\endif
\endif
\set paid :total - :discount
\set unit_price :total / :quantity
\if :ok
SELECT (balance >= :paid)::int AS ok, balance - :paid AS after
  FROM users WHERE id = :user_id FOR UPDATE \gset
\endif
\if :ok
UPDATE users SET balance = :after WHERE id = :user_id;
INSERT INTO orders (user_id, coupon_id, user_coupon_id, status, total_price, discount_price,
                    paid_amount, paid_at)
  VALUES (:user_id, nullif(:coupon_id, 0), nullif(:user_coupon_id, 0), 'PAID', :total,
          :discount, :paid, now())
  RETURNING id AS order_id \gset
INSERT INTO order_items (order_id, product_id, quantity, unit_price, reservation)
  VALUES (:order_id, :product_id, :quantity, :unit_price, 'RESERVED');
\endif
\if :ok = 1 and :paid > 0
INSERT INTO balance_history (user_id, type, amount, balance_after, order_id)
  VALUES (:user_id, 'USE', :paid, :after, :order_id);
\endif
\if :ok
COMMIT;
\else
ROLLBACK;
\endif
