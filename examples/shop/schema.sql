-- The shop's tables. Plain SQL that SQLite and PostgreSQL both accept;
-- hcachegen --schema checks shop.hcache against it at build time.
DROP TABLE IF EXISTS order_items;
DROP TABLE IF EXISTS orders;
DROP TABLE IF EXISTS products;
DROP TABLE IF EXISTS users;

CREATE TABLE users (
    id      BIGINT PRIMARY KEY,
    name    TEXT NOT NULL,
    email   TEXT,
    score   DOUBLE PRECISION NOT NULL DEFAULT 0,
    active  BOOLEAN NOT NULL DEFAULT TRUE,
    team_id BIGINT NOT NULL
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
