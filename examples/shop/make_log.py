"""Make examples/shop/postgresql.log: the shop's queries as the real PostgreSQL logs them.

Run as root (it reads the server's log file) with PostgreSQL on 127.0.0.1:5432:

    python examples/shop/make_log.py [postgresql://postgres@127.0.0.1:5432/test]

It creates the schema of schema.sql in a private schema, fills it (20k users, 100k orders),
runs the application's query shapes with log_min_duration_statement=0 for its own session,
copies those log lines next to this file and drops the schema again.
"""

from __future__ import annotations

import pathlib
import random
import sys
import time
import uuid

import psycopg

HERE = pathlib.Path(__file__).parent
SERVER_LOG = pathlib.Path("/var/log/postgresql/postgresql-15-main.log")

QUERIES = [
    (
        "SELECT id, name FROM users WHERE email = %s",
        lambda r: (f"user{r.randrange(20000)}@shop.test",),
    ),
    ("SELECT * FROM users WHERE id = %s", lambda r: (r.randrange(20000),)),
    (
        "SELECT id, total, created_at FROM orders WHERE user_id = %s "
        "ORDER BY created_at DESC LIMIT 20",
        lambda r: (r.randrange(20000),),
    ),
    (
        "SELECT count(*) FROM orders WHERE status = %s AND created_at > now() - interval '7 days'",
        lambda r: (r.choice(["pending", "paid", "shipped"]),),
    ),
    (
        "SELECT id, user_id, total FROM orders WHERE status = 'pending' AND created_at < %s "
        "ORDER BY created_at LIMIT 50",
        lambda r: ("2026-11-01",),
    ),
    (
        "SELECT oi.product_id, oi.quantity FROM order_items oi WHERE oi.order_id = %s",
        lambda r: (r.randrange(100000),),
    ),
    (
        "SELECT p.name, sum(oi.quantity) FROM order_items oi "
        "JOIN products p ON p.id = oi.product_id "
        "WHERE oi.order_id IN (SELECT id FROM orders WHERE user_id = %s) GROUP BY p.name",
        lambda r: (r.randrange(20000),),
    ),
    (
        "SELECT id, name, price FROM products WHERE category = %s ORDER BY price LIMIT 10",
        lambda r: (r.choice(["books", "music", "garden", "toys", "food"]),),
    ),
    ("SELECT id FROM products WHERE sku LIKE %s", lambda r: (f"SKU-{r.randrange(100)}%",)),
    (
        "SELECT id, email FROM users WHERE lower(email) = lower(%s)",
        lambda r: (f"USER{r.randrange(20000)}@shop.test",),
    ),
    ("SELECT id FROM users WHERE name LIKE %s", lambda r: (f"%{r.randrange(1000)}",)),
    (
        "SELECT count(*) FROM users WHERE country = %s AND deleted_at IS NULL",
        lambda r: (r.choice(["FR", "DE", "US", "JP"]),),
    ),
    (
        "UPDATE orders SET status = 'shipped' WHERE id = %s AND status = 'paid'",
        lambda r: (r.randrange(100000),),
    ),
    (
        "DELETE FROM order_items WHERE order_id = %s AND product_id = %s",
        lambda r: (r.randrange(100000), r.randrange(2000)),
    ),
    (
        "INSERT INTO orders (id, user_id, status, total, created_at) "
        "VALUES (%s, %s, 'pending', 10, now())",
        lambda r: (1_000_000 + r.randrange(10**9), r.randrange(20000)),
    ),
]


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/test"
    schema = f"shop_{uuid.uuid4().hex[:8]}"
    rnd = random.Random(42)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            conn.execute(f"SET search_path = {schema}")
            conn.execute((HERE / "schema.sql").read_text())
            conn.execute((HERE / "data.sql").read_text())
            start = SERVER_LOG.stat().st_size
            conn.execute("SET log_min_duration_statement = 0")
            for _ in range(20):
                for sql, params in QUERIES:
                    conn.execute(sql, params(rnd))
            conn.execute("RESET log_min_duration_statement")
            time.sleep(0.5)
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    lines = SERVER_LOG.read_bytes()[start:].decode().splitlines(keepends=True)
    marker = next(line for line in lines if "SET log_min_duration_statement = 0" in line)
    pid = marker.split("[", 1)[1].split("]", 1)[0]
    ours, keep = [], False
    for line in lines:  # our session's messages, with their DETAIL and continuation lines
        if not line.startswith("\t"):
            keep = f"[{pid}]" in line
        if keep:
            ours.append(line)
    (HERE / "postgresql.log").write_text("".join(ours).replace(f"{schema}.", ""))
    print(f"wrote {len(ours)} lines to {HERE / 'postgresql.log'}")


if __name__ == "__main__":
    main()
