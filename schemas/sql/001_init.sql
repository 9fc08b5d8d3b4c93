-- The initial schema. Ownership (who may write what) is in docs/architecture.md: each
-- mutable column has exactly one writer, the worker that owns the row's partition key.

CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    nickname    text        NOT NULL CHECK (length(nickname) BETWEEN 1 AND 100),
    balance     bigint      NOT NULL DEFAULT 0 CHECK (balance BETWEEN 0 AND 10000000),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE balance_history (
    id            bigserial PRIMARY KEY,
    user_id       bigint      NOT NULL REFERENCES users (id),
    type          text        NOT NULL CHECK (type IN ('CHARGE', 'USE', 'REFUND')),
    amount        bigint      NOT NULL CHECK (amount > 0),
    balance_after bigint      NOT NULL CHECK (balance_after BETWEEN 0 AND 10000000),
    request_id    text,
    order_id      bigint,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX balance_history_user_idx ON balance_history (user_id, id);

CREATE TABLE products (
    id          bigserial PRIMARY KEY,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price       bigint      NOT NULL CHECK (price >= 0),
    stock       bigint      NOT NULL CHECK (stock >= 0),
    sell_status text        NOT NULL DEFAULT 'SELLING'
                            CHECK (sell_status IN ('HOLD', 'SELLING', 'STOP_SELLING')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_selling_idx ON products (id) WHERE sell_status = 'SELLING';

CREATE TABLE coupons (
    id            bigserial PRIMARY KEY,
    name          text          NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    discount_rate numeric(5, 4) NOT NULL CHECK (discount_rate > 0 AND discount_rate <= 1),
    quantity      bigint        NOT NULL CHECK (quantity >= 0),
    issued_count  bigint        NOT NULL DEFAULT 0 CHECK (issued_count >= 0),
    status        text          NOT NULL DEFAULT 'PUBLISHABLE'
                                CHECK (status IN ('REGISTERED', 'PUBLISHABLE', 'CANCELED')),
    expired_at    timestamptz   NOT NULL,
    created_at    timestamptz   NOT NULL DEFAULT now(),
    CHECK (issued_count <= quantity)
);

CREATE TABLE user_coupons (
    id         bigserial PRIMARY KEY,
    user_id    bigint      NOT NULL REFERENCES users (id),
    coupon_id  bigint      NOT NULL REFERENCES coupons (id),
    status     text        NOT NULL DEFAULT 'UNUSED' CHECK (status IN ('UNUSED', 'USED')),
    issued_at  timestamptz NOT NULL DEFAULT now(),
    used_at    timestamptz,
    UNIQUE (coupon_id, user_id)
);
CREATE INDEX user_coupons_user_idx ON user_coupons (user_id, status);

CREATE TABLE orders (
    id             bigint      PRIMARY KEY,
    user_id        bigint      NOT NULL,
    coupon_id      bigint,
    user_coupon_id bigint,
    status         text        NOT NULL CHECK (status IN ('PENDING', 'PAID', 'FAILED')),
    total_price    bigint      NOT NULL DEFAULT 0,
    discount_price bigint      NOT NULL DEFAULT 0,
    paid_amount    bigint      NOT NULL DEFAULT 0,
    failure_reason text,
    request_id     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    paid_at        timestamptz
);
CREATE INDEX orders_user_idx ON orders (user_id, id);
CREATE INDEX orders_paid_at_idx ON orders (paid_at) WHERE status = 'PAID';

CREATE TABLE order_items (
    order_id   bigint NOT NULL REFERENCES orders (id),
    product_id bigint NOT NULL,
    quantity   int    NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_price bigint NOT NULL CHECK (unit_price >= 0),
    PRIMARY KEY (order_id, product_id)
);

-- The stock worker's record of what it reserved, so a replayed ReserveStock or ReleaseStock
-- changes nothing twice.
CREATE TABLE stock_reservations (
    order_id    bigint      NOT NULL,
    product_id  bigint      NOT NULL,
    quantity    int         NOT NULL,
    status      text        NOT NULL CHECK (status IN ('RESERVED', 'REJECTED', 'RELEASED')),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, product_id)
);

CREATE TABLE product_rank (
    rank_date  date   NOT NULL,
    product_id bigint NOT NULL,
    rank_type  text   NOT NULL CHECK (rank_type IN ('SELL')),
    score      bigint NOT NULL,
    PRIMARY KEY (rank_date, rank_type, product_id)
);

-- Exactly-once bookkeeping. Each consumed partition's next offset and fencing epoch; the batch
-- transaction updates its row first (holding the row lock) and only while the epoch is its own.
CREATE TABLE partition_state (
    consumer_group text   NOT NULL,
    topic          text   NOT NULL,
    partition      int    NOT NULL,
    next_offset    bigint NOT NULL DEFAULT 0,
    epoch          bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Records a batch emits, written in the batch's transaction and produced after commit.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    source     text        NOT NULL, -- consumer_group/topic/partition that wrote it
    topic      text        NOT NULL,
    partition  int         NOT NULL DEFAULT -1, -- -1: by key with murmur2
    key        bytea,
    value      bytea       NOT NULL,
    headers    jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_source_idx ON outbox (source, id);

-- The outcome of every command, by request id, for GET /requests/{id} and idempotent retries.
CREATE TABLE request_results (
    request_id  text        PRIMARY KEY,
    http_status int         NOT NULL,
    body        text        NOT NULL, -- the final JSON envelope
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Requests whose client got a 202, so that GET /requests/{id} can tell PENDING from unknown.
CREATE TABLE request_pending (
    request_id text        PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Idempotency-Key: the first request's id and body hash; a retry gets that request's result.
CREATE TABLE idempotency_keys (
    scope      text        NOT NULL, -- method and path, e.g. "POST /api/v1/users/7/balance/charge"
    key        text        NOT NULL,
    body_hash  text        NOT NULL,
    request_id text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
