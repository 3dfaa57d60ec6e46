-- The PostgreSQL twin of schema.sql: pg_schema in tests/test_dao.c, and
-- the table 'gone' that one test creates late. tests/schema-check.sh loads
-- it into a schema of its own and checks dao.hcache with --pg-check.
CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL UNIQUE, email TEXT,
  score DOUBLE PRECISION NOT NULL, active BOOLEAN NOT NULL, team_id INTEGER NOT NULL, rank BIGINT);
CREATE TABLE docs (id BIGINT PRIMARY KEY, body BYTEA NOT NULL, size BIGINT NOT NULL, big NUMERIC(20));
CREATE TABLE gone (id BIGINT);
