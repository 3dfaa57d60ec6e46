-- A few rows to look at.
INSERT INTO users (id, name, email, score, active, team_id) VALUES
    (1, 'alice', 'alice@example.com', 9.5, TRUE, 1),
    (2, 'bob', NULL, 7.25, TRUE, 1),
    (3, 'carol', 'carol@example.com', 8.0, FALSE, 2);

INSERT INTO products (id, name, category, price, stock) VALUES
    (10, 'The C Programming Language', 'books', 45.0, 12),
    (11, 'Lions'' Commentary on UNIX', 'books', 39.5, 3),
    (12, 'Mechanical keyboard', 'hardware', 120.0, 7),
    (13, 'USB cable', 'hardware', 6.5, 250);

INSERT INTO orders (id, user_id, status) VALUES
    (100, 1, 'shipped'),
    (101, 1, 'open'),
    (102, 2, 'open');

INSERT INTO order_items (order_id, product_id, quantity) VALUES
    (100, 10, 1), (100, 13, 2),
    (101, 12, 1),
    (102, 11, 1), (102, 13, 4);
