-- The tables of tests/dao/dao.hcache, for hcachegen --schema
-- (tests/schema-check.sh checks dao.hcache against them). They mirror
-- lite_schema in tests/test_dao.c, which creates them for the test, and
-- the table 'gone' that one test creates late.
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, email TEXT,
  score REAL NOT NULL, active BOOLEAN NOT NULL, team_id INTEGER NOT NULL, rank INTEGER);
CREATE TABLE docs (id INTEGER PRIMARY KEY, body BLOB NOT NULL, size INTEGER NOT NULL, big INTEGER);
CREATE TABLE gone (id BIGINT);
