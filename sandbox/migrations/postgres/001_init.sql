-- The sandbox's tables on PostgreSQL, in the sandbox's own schema (the
-- connection's search_path). Applied once per schema, in file-name order;
-- the sandbox_migrations table records what was applied.
CREATE TABLE users (
    id    BIGINT PRIMARY KEY,
    name  TEXT NOT NULL,
    email TEXT,
    team  TEXT NOT NULL
);

CREATE TABLE products (
    id       BIGINT PRIMARY KEY,
    name     TEXT NOT NULL,
    category TEXT NOT NULL,
    price    DOUBLE PRECISION NOT NULL,
    stock    INTEGER NOT NULL
);

CREATE TABLE orders (
    id      BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    status  TEXT NOT NULL
);

CREATE TABLE order_items (
    order_id   BIGINT NOT NULL REFERENCES orders (id),
    product_id BIGINT NOT NULL REFERENCES products (id),
    quantity   INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);
