-- For lite-cover-replace.hcache: a UNIQUE constraint that resolves its
-- conflicts by REPLACE, and a plain one.
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT NOT NULL);
CREATE TABLE slots (id INTEGER PRIMARY KEY, code TEXT UNIQUE ON CONFLICT REPLACE, label TEXT NOT NULL);
