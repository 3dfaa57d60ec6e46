-- The SQLite schema the tests/schema cases are checked against
-- (tests/schema-check.sh). pg-schema.sql is the same for PostgreSQL.
CREATE TABLE teams (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    name VARCHAR(40) NOT NULL
);
-- `sqlite3 app.db .schema` prints this table, which SQLite makes itself:
-- hcachegen skips it.
CREATE TABLE sqlite_sequence(name,seq);

CREATE TABLE users (
    id      BIGINT PRIMARY KEY,
    team_id BIGINT REFERENCES teams (id),
    name    TEXT NOT NULL,
    email   TEXT,
    score   DOUBLE PRECISION NOT NULL DEFAULT 0,
    active  BOOLEAN NOT NULL DEFAULT 1,
    avatar  BLOB,
    note                              -- no declared type: not checked
);

CREATE INDEX users_team ON users (team_id);

-- Old dumps write strings in double quotes: allowed in the schema, views
-- included, though not in the statements hcachegen checks.
CREATE VIEW active_users AS SELECT id, name FROM users WHERE active AND name <> "nobody";

INSERT INTO teams (name) VALUES ('core');
