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

-- The tables of the invalidation coverage cases (*-cover-*.hcache): a
-- foreign key whose ON DELETE action writes members, a generated column,
-- a view over a join, and a trigger that writes audit when a member's
-- email changes.
CREATE TABLE clubs (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE members (
    id      INTEGER PRIMARY KEY,
    club_id INTEGER NOT NULL REFERENCES clubs (id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    email   TEXT,
    score   REAL NOT NULL DEFAULT 0,
    band    INTEGER GENERATED ALWAYS AS (CAST(score / 10 AS INTEGER))
);

CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,
    member_id INTEGER NOT NULL,
    what      TEXT NOT NULL
);

CREATE VIEW club_sizes AS
    SELECT c.id AS id, c.name AS name, count(m.id) AS size
    FROM clubs c LEFT JOIN members m ON m.club_id = c.id
    GROUP BY c.id, c.name;

CREATE TRIGGER members_email AFTER UPDATE OF email ON members
BEGIN
    INSERT INTO audit (member_id, what) VALUES (new.id, 'email');
END;
