-- Three products; only the gadget is low on stock (below 5) to begin with.
INSERT INTO inventory_products (id, name, stock) VALUES
    (1, 'widget', 10),
    (2, 'gadget', 2),
    (3, 'sprocket', 40);
