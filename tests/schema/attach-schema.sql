-- A schema that attaches a database: tests/schema/lite-schema-attach.hcache.
-- (':memory:', so that an hcachegen that runs it writes no file.)
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);

  ATTACH DATABASE ':memory:' AS side;
CREATE TABLE side.t (x INTEGER);
