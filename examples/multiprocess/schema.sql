-- The inventory's one table, named apart from the other examples' so that
-- they can share a database. Plain SQL that SQLite and PostgreSQL both
-- accept; hcachegen --schema checks inventory.hcache against it at build
-- time. The CHECK is what makes a write fail on purpose.
DROP TABLE IF EXISTS inventory_products;

CREATE TABLE inventory_products (
    id    BIGINT PRIMARY KEY,
    name  TEXT NOT NULL,
    stock INTEGER NOT NULL CHECK (stock >= 0)
);
