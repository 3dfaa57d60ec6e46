-- The library's one table. hcachegen --schema checks library.hcache
-- against it at build time (hydracache_generate's SCHEMA), and the program
-- creates it at run time from this same file.
CREATE TABLE books (
    id     BIGINT PRIMARY KEY,
    title  TEXT NOT NULL,
    author TEXT NOT NULL,
    year   INTEGER NOT NULL
);
