-- The row-lock baseline's first-come coupon issue (bench/compare.sh): one request of POST
-- /users/{id}/coupons on one hot coupon: lock the coupon's row (every client queues on it),
-- check it is issuable (PUBLISHABLE, unexpired, issued_count < quantity), insert the user's row
-- (one per user: the UNIQUE (coupon_id, user_id) index refuses a second), count it.
-- A distinct user per request like bench/issue.lua: client c's n-th request is user
-- user_min + (n * clients + c) % user_count. Variables from compare.sh (-D): coupon_id,
-- user_min, user_count, clients, and n=0 (kept per client).
\set user_id :user_min + (:n * :clients + :client_id) % :user_count
\set n :n + 1
BEGIN;
SELECT (status = 'PUBLISHABLE' AND expired_at > now() AND issued_count < quantity)::int AS ok
  FROM coupons WHERE id = :coupon_id FOR UPDATE \gset
\if :ok
WITH added AS (
    INSERT INTO user_coupons (user_id, coupon_id) VALUES (:user_id, :coupon_id)
    ON CONFLICT (coupon_id, user_id) DO NOTHING RETURNING id)
SELECT count(*)::int AS issued FROM added \gset
\if :issued
UPDATE coupons SET issued_count = issued_count + 1 WHERE id = :coupon_id;
COMMIT;
\else
ROLLBACK;
\endif
\else
ROLLBACK;
\endif
