-- The outbox's record arrays are compressed with lz4 instead of pglz (PostgreSQL's default)
-- when a row is large enough to be TOASTed. A row holds a whole batch's records for one
-- destination, often tens of KiB (since stop 20 a batch's outcomes for one ingress partition
-- are one CommandResults record), and pglz_compress took 1.2% of the machine while charges
-- ran; lz4 compresses the same bytes several times faster. It needs a server built with lz4
-- (Debian's packages and the official postgres image are; SELECT pg_column_compression(...)
-- would say "lz4" for new rows). Only values written from now on change: rows already stored
-- keep pglz and stay readable, so this runs at any time, with the workers running.
ALTER TABLE outbox
    ALTER COLUMN record_keys SET COMPRESSION lz4,
    ALTER COLUMN record_values SET COMPRESSION lz4,
    ALTER COLUMN record_headers SET COMPRESSION lz4;
