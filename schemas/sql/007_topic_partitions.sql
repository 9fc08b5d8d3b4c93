-- The partition count of each command topic, recorded the first time a worker or ingress met
-- it (issue 10, point 9). A record's partition is murmur2(key) % count: with another count, a
-- key's new commands go to another partition while its old ones still drain from the first, so
-- two workers would write the same balance, stock or coupon. Every worker and ingress compares
-- the topic's count with this row at start and refuses to run when they differ; docs/
-- architecture.md ("Changing a command topic's partition count") says how to migrate.
CREATE TABLE IF NOT EXISTS topic_partitions (
    topic       text        PRIMARY KEY,
    partitions  int         NOT NULL CHECK (partitions > 0),
    recorded_at timestamptz NOT NULL DEFAULT now()
);
