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

-- The tables of the invalidation coverage cases (*-cover-*.hcache), as in
-- schema.sql, and a partitioned table.
CREATE TABLE clubs (
    id   bigint PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE members (
    id      bigint PRIMARY KEY,
    club_id bigint NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    name    text NOT NULL,
    email   text,
    score   double precision NOT NULL DEFAULT 0,
    band    integer GENERATED ALWAYS AS ((score / 10)::integer) STORED
);

CREATE TABLE audit (
    id        bigserial PRIMARY KEY,
    member_id bigint NOT NULL,
    what      text NOT NULL
);

CREATE VIEW club_sizes AS
    SELECT c.id, c.name, count(m.id) AS size
    FROM clubs c LEFT JOIN members m ON m.club_id = c.id
    GROUP BY c.id, c.name;

CREATE FUNCTION members_email() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit (member_id, what) VALUES (NEW.id, 'email');
    RETURN NEW;
END
$$;
CREATE TRIGGER members_email AFTER UPDATE OF email ON members
    FOR EACH ROW EXECUTE FUNCTION members_email();

CREATE TABLE events (
    id bigint NOT NULL,
    at integer NOT NULL
) PARTITION BY RANGE (at);
CREATE TABLE events_early PARTITION OF events FOR VALUES FROM (0) TO (10);
CREATE TABLE events_late PARTITION OF events FOR VALUES FROM (10) TO (100);
