-- The row-lock baseline's charge (bench/compare.sh): one request of POST
-- /users/{id}/balance/charge {"amount":1} as a service with one transaction per request does it:
-- lock the user's row, check the balance limit (10,000,000), update it, write the history row.
-- Users round-robin over user_min..user_max like bench/charge.lua: client c's n-th charge goes
-- to user_min + (n * clients + c) % user_count, so no two clients charge one user at once.
-- Variables from compare.sh (-D): user_min, user_count, clients, and n=0 (kept per client).
\set user_id :user_min + (:n * :clients + :client_id) % :user_count
\set n :n + 1
BEGIN;
SELECT (balance + 1 <= 10000000)::int AS ok, balance + 1 AS after
  FROM users WHERE id = :user_id FOR UPDATE \gset
\if :ok
UPDATE users SET balance = :after WHERE id = :user_id;
INSERT INTO balance_history (user_id, type, amount, balance_after)
  VALUES (:user_id, 'CHARGE', 1, :after);
COMMIT;
\else
ROLLBACK;
\endif
