-- A schema written for PostgreSQL, which SQLite cannot read:
-- tests/schema/lite-pg-dialect.hcache.
CREATE TABLE users (
    id      BIGINT PRIMARY KEY,
    name    TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);
