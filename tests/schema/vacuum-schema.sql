-- A schema that vacuums: tests/schema/lite-schema-vacuum.hcache. (A plain
-- VACUUM of the in-memory database, so that an hcachegen that runs it
-- writes no file; VACUUM INTO would.)
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
/* compacting */ vacuum;
