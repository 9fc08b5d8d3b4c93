-- The stock worker answers a replayed ReserveStock with the outcome it recorded. A rejection's
-- reason (INSUFFICIENT_STOCK, PRODUCT_NOT_SELLING, PRODUCT_NOT_FOUND, INVALID_REQUEST) is part
-- of that outcome, so a REJECTED row keeps it; other rows leave it NULL.
ALTER TABLE stock_reservations ADD COLUMN reason text;
