-- A schema with a mistake: tests/schema/lite-bad-schema.hcache.
CREATE TABLE teams (id INTEGER PRIMARY KEY, name TEXT NOT NULL);

CREATE TABLE users (
    id      BIGINT PRIMARY KEY,
    team_id BIGINT REFERENCES teams (id),
    name    TEXT NOT NULL,
);

CREATE TABLE later (id INTEGER);
