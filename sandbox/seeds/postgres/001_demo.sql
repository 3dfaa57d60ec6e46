-- The demo rows, the same as seeds/sqlite's. POST /demo/reset deletes
-- every row and runs the seeds again.
INSERT INTO users (id, name, email, team) VALUES
    (1, 'Alice', 'alice@example.com', 'core'),
    (2, 'Bob', NULL, 'core'),
    (3, 'Carol', 'carol@example.com', 'web'),
    (4, 'Dave', 'dave@example.com', 'web'),
    (5, 'Erin', NULL, 'data'),
    (42, 'Ada', 'ada@example.com', 'research');

INSERT INTO products (id, name, category, price, stock) VALUES
    (100, 'The C Programming Language', 'books', 45.0, 12),
    (101, 'Lions'' Commentary on UNIX', 'books', 39.5, 3),
    (102, 'Mechanical keyboard', 'hardware', 120.0, 7),
    (103, 'USB cable', 'hardware', 6.5, 250),
    (104, 'Coffee beans, 1 kg', 'pantry', 18.25, 40),
    (105, 'Notebook', 'stationery', 4.75, 0);

INSERT INTO orders (id, user_id, status) VALUES
    (5000, 42, 'shipped'),
    (5001, 1, 'open'),
    (5002, 2, 'open'),
    (5003, 3, 'cancelled');

INSERT INTO order_items (order_id, product_id, quantity) VALUES
    (5000, 100, 1), (5000, 103, 2),
    (5001, 102, 1),
    (5002, 101, 1), (5002, 103, 4), (5002, 104, 2);
