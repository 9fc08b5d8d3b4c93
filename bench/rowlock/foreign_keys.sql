-- The row-lock baseline keeps the foreign keys that schemas/sql/015_owner_references.sql drops
-- for shopstream: a service with one transaction per request and no single owner per key has
-- nothing else that checks that a history row's user, an issued coupon's user and coupon and an
-- order line's order exist (bench/rowlock/issue.sql relies on it for an unknown user). Applied
-- by bench/compare.sh after the migrations, before the data.
ALTER TABLE balance_history ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE user_coupons ADD FOREIGN KEY (user_id) REFERENCES users (id);
ALTER TABLE user_coupons ADD FOREIGN KEY (coupon_id) REFERENCES coupons (id);
ALTER TABLE order_items ADD FOREIGN KEY (order_id) REFERENCES orders (id);
