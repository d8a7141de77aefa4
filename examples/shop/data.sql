-- Deterministic data for schema.sql: 20k users, 2k products, 100k orders, 250k order items.
INSERT INTO users SELECT i, 'user' || i || '@shop.test', 'name ' || i,
    (ARRAY['FR','DE','US','JP'])[1 + i % 4], now() - (i || ' minutes')::interval,
    CASE WHEN i % 10 = 0 THEN now() END
FROM generate_series(0, 19999) i;
INSERT INTO products SELECT i, 'SKU-' || i, 'product ' || i,
    (ARRAY['books','music','garden','toys','food'])[1 + i % 5], (i % 100) + 0.99
FROM generate_series(0, 1999) i;
INSERT INTO orders SELECT i, (i * 7) % 20000,
    (ARRAY['pending','paid','shipped','cancelled'])[1 + i % 4], (i % 500) + 0.5,
    now() - ((i % 43200) || ' minutes')::interval
FROM generate_series(0, 99999) i;
INSERT INTO order_items SELECT i, i % 100000, (i * 13) % 2000, 1 + i % 3, 9.99
FROM generate_series(0, 249999) i;
ANALYZE;
