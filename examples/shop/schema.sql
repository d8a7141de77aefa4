-- A small shop: the schema as the application created it (primary keys and one unique
-- constraint, no other index). `backendperf advise` reads it with --schema.
CREATE TABLE users (
    id          bigint PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    name        text NOT NULL,
    country     char(2) NOT NULL,
    created_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);

CREATE TABLE products (
    id          bigint PRIMARY KEY,
    sku         text NOT NULL,
    name        text NOT NULL,
    category    text NOT NULL,
    price       numeric(10, 2) NOT NULL
);

CREATE TABLE orders (
    id          bigint PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    status      text NOT NULL,
    total       numeric(10, 2) NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE order_items (
    id          bigint PRIMARY KEY,
    order_id    bigint NOT NULL REFERENCES orders (id),
    product_id  bigint NOT NULL REFERENCES products (id),
    quantity    int NOT NULL,
    price       numeric(10, 2) NOT NULL
);
