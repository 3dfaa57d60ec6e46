-- The PostgreSQL twin of schema.sql. tests/schema-check.sh loads it into a
-- schema of the run's own (psql -v schema=NAME), which hcachegen then finds
-- through PGOPTIONS='-c search_path=NAME', and drops it at the end.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS :"schema" CASCADE;
CREATE SCHEMA :"schema";
SET search_path = :"schema";

CREATE DOMAIN email_address AS varchar(200);

CREATE TABLE teams (
    id   bigserial PRIMARY KEY,
    name varchar(40) NOT NULL
);

CREATE TABLE users (
    id      bigint PRIMARY KEY,
    team_id bigint REFERENCES teams (id),
    name    text NOT NULL,
    email   email_address,
    score   double precision NOT NULL DEFAULT 0,
    active  boolean NOT NULL DEFAULT true,
    avatar  bytea,
    note    text,
    joined  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX users_team ON users (team_id);

CREATE VIEW active_users AS SELECT id, name FROM users WHERE active;

INSERT INTO teams (name) VALUES ('core');
