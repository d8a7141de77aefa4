"""Index advice quality: backendperf advise against Extend and two what-if baselines, on real logs.

Run (as root, with PostgreSQL 15 + HypoPG on 127.0.0.1:5432; ``pip install -e .[bench]``
for ``tpchgen-cli`` and ``tpcgen-cli``):
    python benchmarks/advisor_quality.py [--url URL] [--only NAME ...] [--no-exhaustive]
        [--tpch-sf SF] [--tpcds-sf SF] [--quick]

Five workloads run on the real server, each in a private database, with
``log_min_duration_statement=0`` for the benchmark's own session. The logs the advisor reads
are the server's own lines (``--quick``: the OLTP one, and TPC-H at SF 0.01 without the
curve, a smoke run for CI):

- **oltp**: the shop of ``examples/shop`` (20k users, 100k orders, 250k items), 31 statement
  shapes of the kind an ORM issues: FK lookups, status + created_at filters, ORDER BY ... LIMIT,
  email lookups, IN lists, LIKE prefixes, counts, UPDATE, DELETE, INSERT;
- **analytic**: a sales star schema (2M sales rows), with joins, aggregates and range filters;
- **saas**: a multi-tenant help desk (1M tickets): tenant + status filters sorted by recency,
  soft deletes, case-insensitive e-mail lookups, few columns read;
- **pgbench**: TPC-B-like statements on ``pgbench -i -s 10``, the negative control (every
  statement is already served by a primary key);
- **tpch**: TPC-H at ``--tpch-sf`` (default 1; data from ``tpchgen-cli``), the 22 queries once
  each with the specification's validation parameters, under a 20 s ``statement_timeout``
  set on the database (Q17 and Q20 are logged as cancelled, as in production).
- **tpcds**: TPC-DS at ``--tpcds-sf`` (default 1; data from ``tpcgen-cli``, tables as
  ``benchmarks/tpcds/schema.sql``), sixteen of its queries (``benchmarks/tpcds/queries.sql``:
  star joins of the three sales channels, a returns join, an inventory window, a customer
  lookup) once each, under the same timeout.

Besides the rows below, each workload gets a storage-budget curve (0.5x, 1x and 2x the greedy
baseline's size): ours, and Extend (Schlosser et al., ICDE 2019) implemented here as a
reference (:func:`extend_reference`), with its what-if calls, and the same Extend never
taking a copy of an existing index's leading key (our pick's rule: HypoPG sizes such a copy
below the real index, so it "saves" only in the estimate). Every advice is scored by its
relative workload cost, the geo-mean of per-statement cost ratios (Kossmann et al., VLDB
2020) and its worst statement ratio; the scores are the plans' costs, which leave index
upkeep out (our pick charges it for the workload's INSERT/UPDATE rows; the others do not).

Each database is ``VACUUM ANALYZE``d after loading, the state autovacuum keeps a live
database in: on a freshly loaded table the visibility map is empty, and the planner then
costs an index-only scan like an index scan that visits the heap, so no covering index
could pay (runs before 2026-11-28 did not vacuum; docs/benchmarks.md has both).

For each workload:

- **offline**: ``advise`` with the DDL only, no database (the rules); and with the
  statistics snapshot ``backendperf stats`` exports (``advise --stats``: the what-if pick on
  the offline cost model's estimates, 20 candidates, 10 picked);
- **validated**: ``advise --db --validate`` (HypoPG): 20 candidates plus the what-if
  single-column ones, 10 picked by what-if;
- **validated at the baseline's budget**: the same with ``--max-indexes`` and ``--max-size``
  set to the baseline's index count and total size;
- **greedy baseline**: the Dexter/AutoAdmin approach. Its candidates are every 1- and 2-column
  index on the columns of each statement's predicates (both orders). It then picks greedily by
  HypoPG workload-cost reduction, stopping below 1% gain or at 10 indexes;
- **single-column baseline**: Supabase's index_advisor approach: per statement, a
  hypothetical index on every column it filters, joins, sorts or groups by; the ones its
  plan uses.

- **lower bound**: every candidate of the pool below at once (no budget);
- **best possible at the baseline's budget**: the cheapest set of at most the baseline's
  index count within its bytes, by exhaustive search over that pool and its partial variants
  (:func:`best_within`): what any B-tree advice could reach at that budget.

The figures are the relative estimated workload cost (sum of EXPLAIN cost x calls with the
indexes as HypoPG hypothetical indexes, divided by the same without them), the number of
indexes, their total size (hypopg_relation_size), and the run time.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import pathlib
import random
import re
import sys
import tempfile
import time
import uuid
from typing import TYPE_CHECKING, Any

import psycopg

from backendperf.advisor import Schema, advise
from backendperf.advisor.usage import extract
from backendperf.advisor.whatif import validate
from backendperf.advisor.whatif.offline import estimate
from backendperf.workload import Workload

if TYPE_CHECKING:
    from backendperf.advisor.candidates import Candidate

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHOP = ROOT / "examples" / "shop"
SERVER_LOG = pathlib.Path("/var/log/postgresql/postgresql-15-main.log")

Q = list[tuple[str, Any]]

OLTP: Q = [
    (
        "SELECT id, name FROM users WHERE email = %s",
        lambda r: (f"user{r.randrange(20000)}@shop.test",),
    ),
    ("SELECT * FROM users WHERE id = %s", lambda r: (r.randrange(20000),)),
    (
        "SELECT id, total, created_at FROM orders WHERE user_id = %s ORDER BY created_at DESC LIMIT 20",
        lambda r: (r.randrange(20000),),
    ),
    (
        "SELECT count(*) FROM orders WHERE status = %s AND created_at > now() - interval '7 days'",
        lambda r: (r.choice(["pending", "paid"]),),
    ),
    (
        "SELECT id, user_id, total FROM orders WHERE status = 'pending' AND created_at < %s ORDER BY created_at LIMIT 50",
        lambda r: ("2026-11-01",),
    ),
    (
        "SELECT product_id, quantity FROM order_items WHERE order_id = %s",
        lambda r: (r.randrange(100000),),
    ),
    (
        "SELECT p.name, sum(oi.quantity) FROM order_items oi JOIN products p ON p.id = oi.product_id WHERE oi.order_id IN (SELECT id FROM orders WHERE user_id = %s) GROUP BY p.name",
        lambda r: (r.randrange(20000),),
    ),
    (
        "SELECT id, name, price FROM products WHERE category = %s ORDER BY price LIMIT 10",
        lambda r: (r.choice(["books", "toys"]),),
    ),
    ("SELECT id FROM products WHERE sku LIKE %s", lambda r: (f"SKU-{r.randrange(100)}%",)),
    (
        "SELECT id, email FROM users WHERE lower(email) = lower(%s)",
        lambda r: (f"USER{r.randrange(20000)}@shop.test",),
    ),
    ("SELECT id FROM users WHERE name LIKE %s", lambda r: (f"%{r.randrange(1000)}",)),
    (
        "SELECT count(*) FROM users WHERE country = %s AND deleted_at IS NULL",
        lambda r: (r.choice(["FR", "DE"]),),
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
        "INSERT INTO orders (id, user_id, status, total, created_at) VALUES (%s, %s, 'pending', 10, now())",
        lambda r: (10**6 + r.randrange(10**9), r.randrange(20000)),
    ),
    (
        "SELECT id, email FROM users WHERE created_at > %s ORDER BY created_at DESC LIMIT 10",
        lambda r: ("2026-11-20",),
    ),
    (
        "SELECT id, total FROM orders WHERE user_id = %s AND status = %s",
        lambda r: (r.randrange(20000), "paid"),
    ),
    (
        "SELECT status, sum(total) FROM orders WHERE created_at > %s GROUP BY status",
        lambda r: ("2026-11-27",),
    ),
    ("SELECT count(*) FROM order_items WHERE product_id = %s", lambda r: (r.randrange(2000),)),
    (
        "SELECT id FROM users WHERE country = %s AND created_at > %s ORDER BY created_at DESC LIMIT 10",
        lambda r: ("JP", "2026-11-01"),
    ),
    (
        "SELECT id, total FROM orders WHERE total > %s ORDER BY total DESC LIMIT 10",
        lambda r: (490,),
    ),
    ("SELECT id, name FROM products WHERE price BETWEEN %s AND %s", lambda r: (10, 12)),
    (
        "SELECT id, status FROM orders WHERE user_id IN (%s, %s, %s)",
        lambda r: (r.randrange(20000), r.randrange(20000), r.randrange(20000)),
    ),
    (
        "UPDATE users SET name = %s WHERE email = %s",
        lambda r: ("x", f"user{r.randrange(20000)}@shop.test"),
    ),
    (
        "DELETE FROM orders WHERE status = 'cancelled' AND created_at < %s AND user_id = %s",
        lambda r: ("2026-10-01", r.randrange(20000)),
    ),
    (
        "SELECT o.id, o.total, u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE o.id = %s",
        lambda r: (r.randrange(100000),),
    ),
    (
        "SELECT count(*) FROM order_items WHERE order_id = %s AND quantity > 1",
        lambda r: (r.randrange(100000),),
    ),
    (
        "SELECT id FROM users WHERE deleted_at IS NOT NULL AND created_at < %s LIMIT 10",
        lambda r: ("2026-11-10",),
    ),
    (
        "SELECT id FROM orders WHERE created_at BETWEEN %s AND %s",
        lambda r: ("2026-11-27 10:00", "2026-11-27 10:05"),
    ),
    ("SELECT category, count(*) FROM products GROUP BY category", lambda r: ()),
    (
        "SELECT u.country, count(*) FROM users u JOIN orders o ON o.user_id = u.id WHERE o.created_at > %s GROUP BY u.country",
        lambda r: ("2026-11-27 12:00",),
    ),
]

ANALYTIC_DDL = """
CREATE TABLE stores (id int PRIMARY KEY, region text NOT NULL, city text NOT NULL);
CREATE TABLE items (id int PRIMARY KEY, category text NOT NULL, brand text NOT NULL);
CREATE TABLE customers (id int PRIMARY KEY, segment text NOT NULL, country text NOT NULL);
CREATE TABLE sales (id bigint PRIMARY KEY, store_id int NOT NULL, item_id int NOT NULL,
    customer_id int NOT NULL, sold_at timestamptz NOT NULL, amount numeric(10,2) NOT NULL,
    qty int NOT NULL);
"""
ANALYTIC_DATA = """
INSERT INTO stores SELECT i, 'region' || (i % 10), 'city' || i FROM generate_series(0, 499) i;
INSERT INTO items SELECT i, 'cat' || (i % 50), 'brand' || (i % 300) FROM generate_series(0, 9999) i;
INSERT INTO customers SELECT i, (ARRAY['retail','pro','vip'])[1 + i % 3], 'c' || (i % 40)
FROM generate_series(0, 99999) i;
INSERT INTO sales SELECT i, (i * 7) % 500, (i * 13) % 10000, (i * 31) % 100000,
    timestamptz '2026-01-01' + ((i % 525600) || ' minutes')::interval, (i % 1000) / 10.0, 1 + i % 5
FROM generate_series(0, 1999999) i;
ANALYZE;
"""
ANALYTIC: Q = [
    (
        "SELECT s.region, sum(x.amount) FROM sales x JOIN stores s ON s.id = x.store_id WHERE x.sold_at >= %s AND x.sold_at < %s GROUP BY s.region",
        lambda r: ("2026-03-01", "2026-03-02"),
    ),
    (
        "SELECT x.item_id, sum(x.qty) FROM sales x JOIN items i ON i.id = x.item_id WHERE i.category = %s AND x.sold_at >= %s GROUP BY x.item_id ORDER BY 2 DESC LIMIT 10",
        lambda r: (f"cat{r.randrange(50)}", "2026-12-25"),
    ),
    (
        "SELECT sold_at, amount FROM sales WHERE customer_id = %s ORDER BY sold_at DESC LIMIT 20",
        lambda r: (r.randrange(100000),),
    ),
    (
        "SELECT count(*), sum(amount) FROM sales WHERE store_id = %s AND sold_at >= %s AND sold_at < %s",
        lambda r: (r.randrange(500), "2026-06-01", "2026-06-08"),
    ),
    (
        "SELECT c.segment, count(*) FROM sales x JOIN customers c ON c.id = x.customer_id WHERE x.sold_at BETWEEN %s AND %s GROUP BY c.segment",
        lambda r: ("2026-07-01", "2026-07-02"),
    ),
    (
        "SELECT i.brand, avg(x.amount) FROM sales x JOIN items i ON i.id = x.item_id WHERE x.item_id = %s GROUP BY i.brand",
        lambda r: (r.randrange(10000),),
    ),
    (
        "SELECT date_trunc('day', sold_at), sum(amount) FROM sales WHERE sold_at >= %s AND sold_at < %s GROUP BY 1",
        lambda r: ("2026-09-01", "2026-09-08"),
    ),
    (
        "SELECT id, amount FROM sales WHERE customer_id = %s AND store_id = %s",
        lambda r: (r.randrange(100000), r.randrange(500)),
    ),
]

SAAS_DDL = """
CREATE TABLE accounts (id int PRIMARY KEY, tenant_id int NOT NULL, email text NOT NULL,
    name text NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE tickets (id bigint PRIMARY KEY, tenant_id int NOT NULL, status text NOT NULL,
    priority int NOT NULL, assignee_id int, subject text NOT NULL, created_at timestamptz NOT NULL,
    deleted_at timestamptz);
"""
SAAS_DATA = """
INSERT INTO accounts SELECT i, i % 500, 'Agent' || i || '@Example.com', 'agent ' || i,
    now() - (i || ' minutes')::interval FROM generate_series(0, 49999) i;
INSERT INTO tickets SELECT i, i % 500, (ARRAY['open','pending','closed','closed','closed'])[1 + i % 5],
    i % 4, (i * 17) % 50000, 'subject ' || i, now() - ((i % 500000) || ' seconds')::interval,
    CASE WHEN i % 20 = 0 THEN now() END
FROM generate_series(0, 999999) i;
ANALYZE;
"""
# A multi-tenant help desk: every statement filters by tenant, sorts by recency, and reads
# few columns; soft deletes; case-insensitive e-mail lookups.
SAAS: Q = [
    (
        "SELECT id, subject FROM tickets WHERE tenant_id = %s AND status = 'open' AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 25",
        lambda r: (r.randrange(500),),
    ),
    (
        "SELECT count(*) FROM tickets WHERE tenant_id = %s AND assignee_id = %s AND status IN ('open', 'pending')",
        lambda r: (r.randrange(500), r.randrange(50000)),
    ),
    (
        "SELECT id, tenant_id FROM accounts WHERE lower(email) = lower(%s)",
        lambda r: (f"agent{r.randrange(50000)}@example.com",),
    ),
    (
        "SELECT id, status, created_at FROM tickets WHERE tenant_id = %s AND created_at > now() - interval '1 hour' ORDER BY created_at DESC LIMIT 50",
        lambda r: (r.randrange(500),),
    ),
    (
        "SELECT priority, count(*) FROM tickets WHERE tenant_id = %s AND deleted_at IS NULL GROUP BY priority",
        lambda r: (r.randrange(500),),
    ),
    (
        "SELECT id, subject FROM tickets WHERE assignee_id = %s AND status = 'open' ORDER BY priority DESC, created_at LIMIT 10",
        lambda r: (r.randrange(50000),),
    ),
    ("UPDATE tickets SET status = 'closed' WHERE id = %s", lambda r: (r.randrange(1000000),)),
    (
        "SELECT name FROM accounts WHERE tenant_id = %s ORDER BY created_at DESC LIMIT 20",
        lambda r: (r.randrange(500),),
    ),
]

PGBENCH: Q = [
    (
        "UPDATE pgbench_accounts SET abalance = abalance + %s WHERE aid = %s",
        lambda r: (r.randrange(-5000, 5000), 1 + r.randrange(1_000_000)),
    ),
    (
        "SELECT abalance FROM pgbench_accounts WHERE aid = %s",
        lambda r: (1 + r.randrange(1_000_000),),
    ),
    (
        "UPDATE pgbench_tellers SET tbalance = tbalance + %s WHERE tid = %s",
        lambda r: (r.randrange(-5000, 5000), 1 + r.randrange(100)),
    ),
    (
        "UPDATE pgbench_branches SET bbalance = bbalance + %s WHERE bid = %s",
        lambda r: (r.randrange(-5000, 5000), 1 + r.randrange(10)),
    ),
    (
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%s, %s, %s, %s, CURRENT_TIMESTAMP)",
        lambda r: (1, 1, 1, 5),
    ),
]


TPCH_DDL = """
CREATE TABLE region (r_regionkey int PRIMARY KEY, r_name char(25) NOT NULL, r_comment varchar(152));
CREATE TABLE nation (n_nationkey int PRIMARY KEY, n_name char(25) NOT NULL,
  n_regionkey int NOT NULL REFERENCES region, n_comment varchar(152));
CREATE TABLE part (p_partkey int PRIMARY KEY, p_name varchar(55) NOT NULL, p_mfgr char(25) NOT NULL,
  p_brand char(10) NOT NULL, p_type varchar(25) NOT NULL, p_size int NOT NULL,
  p_container char(10) NOT NULL, p_retailprice numeric(15,2) NOT NULL, p_comment varchar(23) NOT NULL);
CREATE TABLE supplier (s_suppkey int PRIMARY KEY, s_name char(25) NOT NULL, s_address varchar(40) NOT NULL,
  s_nationkey int NOT NULL REFERENCES nation, s_phone char(15) NOT NULL,
  s_acctbal numeric(15,2) NOT NULL, s_comment varchar(101) NOT NULL);
CREATE TABLE partsupp (ps_partkey int NOT NULL REFERENCES part, ps_suppkey int NOT NULL REFERENCES supplier,
  ps_availqty int NOT NULL, ps_supplycost numeric(15,2) NOT NULL, ps_comment varchar(199) NOT NULL,
  PRIMARY KEY (ps_partkey, ps_suppkey));
CREATE TABLE customer (c_custkey int PRIMARY KEY, c_name varchar(25) NOT NULL, c_address varchar(40) NOT NULL,
  c_nationkey int NOT NULL REFERENCES nation, c_phone char(15) NOT NULL,
  c_acctbal numeric(15,2) NOT NULL, c_mktsegment char(10) NOT NULL, c_comment varchar(117) NOT NULL);
CREATE TABLE orders (o_orderkey int PRIMARY KEY, o_custkey int NOT NULL REFERENCES customer,
  o_orderstatus char(1) NOT NULL, o_totalprice numeric(15,2) NOT NULL, o_orderdate date NOT NULL,
  o_orderpriority char(15) NOT NULL, o_clerk char(15) NOT NULL, o_shippriority int NOT NULL,
  o_comment varchar(79) NOT NULL);
CREATE TABLE lineitem (l_orderkey int NOT NULL REFERENCES orders, l_partkey int NOT NULL,
  l_suppkey int NOT NULL, l_linenumber int NOT NULL, l_quantity numeric(15,2) NOT NULL,
  l_extendedprice numeric(15,2) NOT NULL, l_discount numeric(15,2) NOT NULL,
  l_tax numeric(15,2) NOT NULL, l_returnflag char(1) NOT NULL, l_linestatus char(1) NOT NULL,
  l_shipdate date NOT NULL, l_commitdate date NOT NULL, l_receiptdate date NOT NULL,
  l_shipinstruct char(25) NOT NULL, l_shipmode char(10) NOT NULL, l_comment varchar(44) NOT NULL,
  PRIMARY KEY (l_orderkey, l_linenumber));
"""
"""The TPC-H schema (specification 3.0.1, section 1.4) with its primary keys (and the foreign
keys declared, which PostgreSQL does not index): what a deployment starts from."""

TPCH_QUERIES = [
    # Q1 pricing summary
    "select l_returnflag, l_linestatus, sum(l_quantity) as sum_qty, sum(l_extendedprice) as sum_base_price, sum(l_extendedprice * (1 - l_discount)) as sum_disc_price, sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) as sum_charge, avg(l_quantity) as avg_qty, avg(l_extendedprice) as avg_price, avg(l_discount) as avg_disc, count(*) as count_order from lineitem where l_shipdate <= date '1998-12-01' - interval '90' day group by l_returnflag, l_linestatus order by l_returnflag, l_linestatus",
    # Q2 minimum cost supplier
    "select s_acctbal, s_name, n_name, p_partkey, p_mfgr, s_address, s_phone, s_comment from part, supplier, partsupp, nation, region where p_partkey = ps_partkey and s_suppkey = ps_suppkey and p_size = 15 and p_type like '%BRASS' and s_nationkey = n_nationkey and n_regionkey = r_regionkey and r_name = 'EUROPE' and ps_supplycost = (select min(ps_supplycost) from partsupp, supplier, nation, region where p_partkey = ps_partkey and s_suppkey = ps_suppkey and s_nationkey = n_nationkey and n_regionkey = r_regionkey and r_name = 'EUROPE') order by s_acctbal desc, n_name, s_name, p_partkey limit 100",
    # Q3 shipping priority
    "select l_orderkey, sum(l_extendedprice * (1 - l_discount)) as revenue, o_orderdate, o_shippriority from customer, orders, lineitem where c_mktsegment = 'BUILDING' and c_custkey = o_custkey and l_orderkey = o_orderkey and o_orderdate < date '1995-03-15' and l_shipdate > date '1995-03-15' group by l_orderkey, o_orderdate, o_shippriority order by revenue desc, o_orderdate limit 10",
    # Q4 order priority checking
    "select o_orderpriority, count(*) as order_count from orders where o_orderdate >= date '1993-07-01' and o_orderdate < date '1993-07-01' + interval '3' month and exists (select * from lineitem where l_orderkey = o_orderkey and l_commitdate < l_receiptdate) group by o_orderpriority order by o_orderpriority",
    # Q5 local supplier volume
    "select n_name, sum(l_extendedprice * (1 - l_discount)) as revenue from customer, orders, lineitem, supplier, nation, region where c_custkey = o_custkey and l_orderkey = o_orderkey and l_suppkey = s_suppkey and c_nationkey = s_nationkey and s_nationkey = n_nationkey and n_regionkey = r_regionkey and r_name = 'ASIA' and o_orderdate >= date '1994-01-01' and o_orderdate < date '1994-01-01' + interval '1' year group by n_name order by revenue desc",
    # Q6 forecasting revenue change
    "select sum(l_extendedprice * l_discount) as revenue from lineitem where l_shipdate >= date '1994-01-01' and l_shipdate < date '1994-01-01' + interval '1' year and l_discount between 0.06 - 0.01 and 0.06 + 0.01 and l_quantity < 24",
    # Q7 volume shipping
    "select supp_nation, cust_nation, l_year, sum(volume) as revenue from (select n1.n_name as supp_nation, n2.n_name as cust_nation, extract(year from l_shipdate) as l_year, l_extendedprice * (1 - l_discount) as volume from supplier, lineitem, orders, customer, nation n1, nation n2 where s_suppkey = l_suppkey and o_orderkey = l_orderkey and c_custkey = o_custkey and s_nationkey = n1.n_nationkey and c_nationkey = n2.n_nationkey and ((n1.n_name = 'FRANCE' and n2.n_name = 'GERMANY') or (n1.n_name = 'GERMANY' and n2.n_name = 'FRANCE')) and l_shipdate between date '1995-01-01' and date '1996-12-31') as shipping group by supp_nation, cust_nation, l_year order by supp_nation, cust_nation, l_year",
    # Q8 national market share
    "select o_year, sum(case when nation = 'BRAZIL' then volume else 0 end) / sum(volume) as mkt_share from (select extract(year from o_orderdate) as o_year, l_extendedprice * (1 - l_discount) as volume, n2.n_name as nation from part, supplier, lineitem, orders, customer, nation n1, nation n2, region where p_partkey = l_partkey and s_suppkey = l_suppkey and l_orderkey = o_orderkey and o_custkey = c_custkey and c_nationkey = n1.n_nationkey and n1.n_regionkey = r_regionkey and r_name = 'AMERICA' and s_nationkey = n2.n_nationkey and o_orderdate between date '1995-01-01' and date '1996-12-31' and p_type = 'ECONOMY ANODIZED STEEL') as all_nations group by o_year order by o_year",
    # Q9 product type profit measure
    "select nation, o_year, sum(amount) as sum_profit from (select n_name as nation, extract(year from o_orderdate) as o_year, l_extendedprice * (1 - l_discount) - ps_supplycost * l_quantity as amount from part, supplier, lineitem, partsupp, orders, nation where s_suppkey = l_suppkey and ps_suppkey = l_suppkey and ps_partkey = l_partkey and p_partkey = l_partkey and o_orderkey = l_orderkey and s_nationkey = n_nationkey and p_name like '%green%') as profit group by nation, o_year order by nation, o_year desc",
    # Q10 returned item reporting
    "select c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) as revenue, c_acctbal, n_name, c_address, c_phone, c_comment from customer, orders, lineitem, nation where c_custkey = o_custkey and l_orderkey = o_orderkey and o_orderdate >= date '1993-10-01' and o_orderdate < date '1993-10-01' + interval '3' month and l_returnflag = 'R' and c_nationkey = n_nationkey group by c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment order by revenue desc limit 20",
    # Q11 important stock identification
    "select ps_partkey, sum(ps_supplycost * ps_availqty) as value from partsupp, supplier, nation where ps_suppkey = s_suppkey and s_nationkey = n_nationkey and n_name = 'GERMANY' group by ps_partkey having sum(ps_supplycost * ps_availqty) > (select sum(ps_supplycost * ps_availqty) * 0.0001 from partsupp, supplier, nation where ps_suppkey = s_suppkey and s_nationkey = n_nationkey and n_name = 'GERMANY') order by value desc",
    # Q12 shipping modes and order priority
    "select l_shipmode, sum(case when o_orderpriority = '1-URGENT' or o_orderpriority = '2-HIGH' then 1 else 0 end) as high_line_count, sum(case when o_orderpriority <> '1-URGENT' and o_orderpriority <> '2-HIGH' then 1 else 0 end) as low_line_count from orders, lineitem where o_orderkey = l_orderkey and l_shipmode in ('MAIL', 'SHIP') and l_commitdate < l_receiptdate and l_shipdate < l_commitdate and l_receiptdate >= date '1994-01-01' and l_receiptdate < date '1994-01-01' + interval '1' year group by l_shipmode order by l_shipmode",
    # Q13 customer distribution
    "select c_count, count(*) as custdist from (select c_custkey, count(o_orderkey) as c_count from customer left outer join orders on c_custkey = o_custkey and o_comment not like '%special%requests%' group by c_custkey) as c_orders group by c_count order by custdist desc, c_count desc",
    # Q14 promotion effect
    "select 100.00 * sum(case when p_type like 'PROMO%' then l_extendedprice * (1 - l_discount) else 0 end) / sum(l_extendedprice * (1 - l_discount)) as promo_revenue from lineitem, part where l_partkey = p_partkey and l_shipdate >= date '1995-09-01' and l_shipdate < date '1995-09-01' + interval '1' month",
    # Q15 top supplier (the view of the specification as a CTE: no DDL in the workload)
    "with revenue0 as (select l_suppkey as supplier_no, sum(l_extendedprice * (1 - l_discount)) as total_revenue from lineitem where l_shipdate >= date '1996-01-01' and l_shipdate < date '1996-01-01' + interval '3' month group by l_suppkey) select s_suppkey, s_name, s_address, s_phone, total_revenue from supplier, revenue0 where s_suppkey = supplier_no and total_revenue = (select max(total_revenue) from revenue0) order by s_suppkey",
    # Q16 parts/supplier relationship
    "select p_brand, p_type, p_size, count(distinct ps_suppkey) as supplier_cnt from partsupp, part where p_partkey = ps_partkey and p_brand <> 'Brand#45' and p_type not like 'MEDIUM POLISHED%' and p_size in (49, 14, 23, 45, 19, 3, 36, 9) and ps_suppkey not in (select s_suppkey from supplier where s_comment like '%Customer%Complaints%') group by p_brand, p_type, p_size order by supplier_cnt desc, p_brand, p_type, p_size",
    # Q17 small-quantity-order revenue
    "select sum(l_extendedprice) / 7.0 as avg_yearly from lineitem, part where p_partkey = l_partkey and p_brand = 'Brand#23' and p_container = 'MED BOX' and l_quantity < (select 0.2 * avg(l_quantity) from lineitem where l_partkey = p_partkey)",
    # Q18 large volume customer
    "select c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity) from customer, orders, lineitem where o_orderkey in (select l_orderkey from lineitem group by l_orderkey having sum(l_quantity) > 300) and c_custkey = o_custkey and o_orderkey = l_orderkey group by c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice order by o_totalprice desc, o_orderdate limit 100",
    # Q19 discounted revenue
    "select sum(l_extendedprice * (1 - l_discount)) as revenue from lineitem, part where (p_partkey = l_partkey and p_brand = 'Brand#12' and p_container in ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG') and l_quantity >= 1 and l_quantity <= 1 + 10 and p_size between 1 and 5 and l_shipmode in ('AIR', 'AIR REG') and l_shipinstruct = 'DELIVER IN PERSON') or (p_partkey = l_partkey and p_brand = 'Brand#23' and p_container in ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK') and l_quantity >= 10 and l_quantity <= 10 + 10 and p_size between 1 and 10 and l_shipmode in ('AIR', 'AIR REG') and l_shipinstruct = 'DELIVER IN PERSON') or (p_partkey = l_partkey and p_brand = 'Brand#34' and p_container in ('LG CASE', 'LG BOX', 'LG PACK', 'LG PKG') and l_quantity >= 20 and l_quantity <= 20 + 10 and p_size between 1 and 15 and l_shipmode in ('AIR', 'AIR REG') and l_shipinstruct = 'DELIVER IN PERSON')",
    # Q20 potential part promotion
    "select s_name, s_address from supplier, nation where s_suppkey in (select ps_suppkey from partsupp where ps_partkey in (select p_partkey from part where p_name like 'forest%') and ps_availqty > (select 0.5 * sum(l_quantity) from lineitem where l_partkey = ps_partkey and l_suppkey = ps_suppkey and l_shipdate >= date '1994-01-01' and l_shipdate < date '1994-01-01' + interval '1' year)) and s_nationkey = n_nationkey and n_name = 'CANADA' order by s_name",
    # Q21 suppliers who kept orders waiting
    "select s_name, count(*) as numwait from supplier, lineitem l1, orders, nation where s_suppkey = l1.l_suppkey and o_orderkey = l1.l_orderkey and o_orderstatus = 'F' and l1.l_receiptdate > l1.l_commitdate and exists (select * from lineitem l2 where l2.l_orderkey = l1.l_orderkey and l2.l_suppkey <> l1.l_suppkey) and not exists (select * from lineitem l3 where l3.l_orderkey = l1.l_orderkey and l3.l_suppkey <> l1.l_suppkey and l3.l_receiptdate > l3.l_commitdate) and s_nationkey = n_nationkey and n_name = 'SAUDI ARABIA' group by s_name order by numwait desc, s_name limit 100",
    # Q22 global sales opportunity
    "select cntrycode, count(*) as numcust, sum(c_acctbal) as totacctbal from (select substring(c_phone from 1 for 2) as cntrycode, c_acctbal from customer where substring(c_phone from 1 for 2) in ('13', '31', '23', '29', '30', '18', '17') and c_acctbal > (select avg(c_acctbal) from customer where c_acctbal > 0.00 and substring(c_phone from 1 for 2) in ('13', '31', '23', '29', '30', '18', '17')) and not exists (select * from orders where o_custkey = c_custkey)) as custsale group by cntrycode order by cntrycode",
]
"""The 22 TPC-H queries (specification 3.0.1, section 2.4) with the specification's
validation parameters, in PostgreSQL's syntax."""

TPCH: Q = [(sql, lambda r: None) for sql in TPCH_QUERIES]
TPCH_TIMEOUT_MS = 20_000
"""statement_timeout for the TPC-H run: without indexes Q17 and Q20 run for hours at SF1
(a correlated subquery per part); they are logged as cancelled, as in production."""


def _generate(db: str, tool: str, args: list[str], ddl: str) -> str:
    """Data from a TPC generator (``tool args -o DIR`` writes one CSV file with a header per
    table) loaded into ``db``, its tables created by ``ddl`` (and filled in that order)."""
    import shutil
    import subprocess

    exe = shutil.which(tool) or str(pathlib.Path(sys.executable).parent / tool)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([exe, *args, "-o", tmp], check=True, capture_output=True)
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(ddl)
            for table in re.findall(r"CREATE TABLE (\w+)", ddl):
                with (
                    conn.cursor().copy(
                        f"COPY {table} FROM STDIN (FORMAT csv, HEADER true)"
                    ) as copy,
                    open(pathlib.Path(tmp) / f"{table}.csv", "rb") as fh,
                ):
                    while chunk := fh.read(1 << 20):
                        copy.write(chunk)
    return ddl


def tpch_init(db: str, scale: float) -> str:
    """TPC-H at ``scale`` (tpchgen-cli, the Rust port of dbgen) loaded into ``db``."""
    return _generate(db, "tpchgen-cli", ["csv", "-s", str(scale)], TPCH_DDL)


TPCDS = pathlib.Path(__file__).parent / "tpcds"
TPCDS_DDL = (TPCDS / "schema.sql").read_text()
TPCDS_QUERIES = [
    "\n".join(line for line in part.splitlines() if not line.startswith("--")).strip()
    for part in (TPCDS / "queries.sql").read_text().split("\n;\n")
]
TPCDS_QUERIES = [q for q in TPCDS_QUERIES if q]
TPCDS_Q: Q = [(sql, lambda r: None) for sql in TPCDS_QUERIES]


def tpcds_init(db: str, scale: float) -> str:
    """TPC-DS at ``scale`` (tpcgen-cli, the Rust port of dsdgen) loaded into ``db``."""
    return _generate(db, "tpcgen-cli", ["tpcds", "csv", "-s", str(scale)], TPCDS_DDL)


def create_database(url: str) -> str:
    name = f"bp_quality_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str, admin: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def run_logged(url: str, queries: Q, rounds: int, log: pathlib.Path) -> None:
    """Run the statements with our session's statements logged; keep those log lines. A
    statement cancelled by the database's ``statement_timeout`` is logged as such (an
    ``ERROR`` with its ``STATEMENT``), as in production."""
    rnd = random.Random(7)
    start = SERVER_LOG.stat().st_size
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET log_min_duration_statement = 0")
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        for _ in range(rounds):
            for sql, params in queries:
                with contextlib.suppress(psycopg.errors.QueryCanceled):
                    conn.execute(sql, params(rnd))
        conn.execute("RESET log_min_duration_statement")
    time.sleep(0.5)
    lines = SERVER_LOG.read_bytes()[start:].decode().splitlines(keepends=True)
    keep, out = False, []
    for line in lines:
        if not line.startswith("\t"):
            keep = f"[{pid}]" in line
        if keep:
            out.append(line)
    log.write_text("".join(out))


def statement_costs(
    conn: Any, statements: list[tuple[str, int]], indexes: list[str]
) -> tuple[list[float], int]:
    """(EXPLAIN cost x calls of each statement, total size) with ``indexes`` as hypothetical
    indexes."""
    conn.execute("SELECT hypopg_reset()")
    size = 0
    for ddl in indexes:
        oid = conn.execute("SELECT indexrelid FROM hypopg_create_index(%s)", (ddl,)).fetchone()[0]
        size += conn.execute("SELECT hypopg_relation_size(%s)", (oid,)).fetchone()[0]
    costs = [
        conn.execute(f"EXPLAIN (FORMAT JSON) {sql}").fetchone()[0][0]["Plan"]["Total Cost"] * n
        for sql, n in statements
    ]
    conn.execute("SELECT hypopg_reset()")
    return costs, size


def workload_cost(
    conn: Any, statements: list[tuple[str, int]], indexes: list[str]
) -> tuple[float, int]:
    """(sum of EXPLAIN cost x calls, total size) with ``indexes`` as hypothetical indexes."""
    costs, size = statement_costs(conn, statements, indexes)
    return sum(costs), size


def plain(candidate: Candidate) -> str:
    ddl = candidate.ddl("postgresql", concurrently=False).rstrip(";")
    return re.sub(r"^CREATE INDEX IF NOT EXISTS \S+ ON ", "CREATE INDEX ON ", ddl)


def candidate_pool(workload: Workload, schema: Schema, width: int) -> set[str]:
    """Every index of 1..width columns over each statement's predicate (and, for width 3,
    sort) columns, in every order, each also covering the other columns the statement reads
    (up to 5): the lower bound's pool."""
    pool: set[str] = set()
    for stats in workload.stats.values():
        sample = stats.samples[0].bound() if stats.samples else stats.normalized
        for t in extract(sample, schema).tables.values():
            extra = [c for c, _ in t.order_by] if width > 2 else []
            cols = list(dict.fromkeys([*t.equality, *t.ranges, *t.joins, *extra]))
            for n in range(1, width + 1):
                for combo in itertools.permutations(cols, n):
                    pool.add(f"CREATE INDEX ON {t.table} ({', '.join(combo)})")
                    rest = sorted((t.selected or set()) - set(combo))
                    if t.selected is not None and 0 < len(rest) <= 5:
                        pool.add(
                            f"CREATE INDEX ON {t.table} ({', '.join(combo)}) "
                            f"INCLUDE ({', '.join(rest)})"
                        )
    return pool


IN_LIST = re.compile(r"\b\w+ IN \('[^']*'(?:, *'[^']*')*\)", re.IGNORECASE)


def partial_variants(workload: Workload, schema: Schema, pool: set[str]) -> set[str]:
    """``pool``'s indexes again, each with a WHERE of each constant predicate the statements
    write in their SQL (``deleted_at IS NULL``, ``status = 'open'``, ``status IN ('open',
    'pending')``): partial indexes."""
    out: set[str] = set()
    for stats in workload.stats.values():
        if not stats.samples:
            continue
        raw = stats.samples[0].statement
        lists = [m[0] for m in IN_LIST.finditer(raw)]
        for t in extract(stats.samples[0].bound(), schema).tables.values():
            for predicate in [*t.constants.values(), *lists]:
                literal = predicate.split("=", 1)[1].strip() if " = " in predicate else ""
                if literal and literal not in raw:
                    continue  # a bound parameter: its value changes from call to call
                if predicate.split()[0] not in schema.tables[t.table].columns:
                    continue
                out |= {
                    f"{ddl} WHERE {predicate}"
                    for ddl in pool
                    if ddl.startswith(f"CREATE INDEX ON {t.table} (") and " WHERE " not in ddl
                }
    return out


def best_within(
    conn: Any, statements: list[tuple[str, int]], pool: set[str], count: int, budget: int
) -> tuple[float, list[str], int] | None:
    """The cheapest set of at most ``count`` indexes from ``pool`` within ``budget`` bytes,
    by exhaustive search: each index is costed alone; an index that another no larger one
    beats on every statement is dropped; every set is then estimated with, per statement,
    the best of its indexes (one index per table access, as these plans use), and the 50
    best estimates are costed for real with all their indexes at once. ``None`` when the
    search is too large (more than 3 million sets)."""
    base, _ = workload_cost(conn, statements, [])
    single: dict[str, tuple[list[float], int]] = {}
    for ddl in sorted(pool):
        costs, size = statement_costs(conn, statements, [ddl])
        if size <= budget and sum(costs) < base * 0.999:
            single[ddl] = costs, size
    keep = [
        a
        for a, (ca, sa) in single.items()
        if not any(
            b != a
            and sb <= sa
            and all(x <= y for x, y in zip(cb, ca, strict=True))
            and (sb < sa or cb != ca or b < a)
            for b, (cb, sb) in single.items()
        )
    ]
    if sum(math.comb(len(keep), k) for k in range(1, count + 1)) > 3_000_000:
        return None
    estimates: list[tuple[float, tuple[str, ...]]] = []
    for k in range(1, count + 1):
        for combo in itertools.combinations(keep, k):
            if sum(single[d][1] for d in combo) > budget:
                continue
            cost = sum(map(min, zip(*(single[d][0] for d in combo), strict=True)))
            estimates.append((cost, combo))
    best = None
    for _, combo in sorted(estimates)[:50]:
        cost, size = workload_cost(conn, statements, list(combo))
        if best is None or cost < best[0]:
            best = (cost, list(combo), size)
    return best


def greedy_baseline(
    conn: Any, workload: Workload, schema: Schema, statements: list[tuple[str, int]]
) -> list[str]:
    """1- and 2-column candidates on predicate columns, greedy by HypoPG cost reduction."""
    cands: set[str] = set()
    for stats in workload.stats.values():
        sample = stats.samples[0].bound() if stats.samples else stats.normalized
        use = extract(sample, schema)
        for t in use.tables.values():
            cols = list(dict.fromkeys([*t.equality, *t.ranges, *t.joins]))
            for c in cols:
                cands.add(f"CREATE INDEX ON {t.table} ({c})")
            for a, b in itertools.permutations(cols, 2):
                cands.add(f"CREATE INDEX ON {t.table} ({a}, {b})")
    whatif = WhatIf(conn, statements, schema)  # the same costs as workload_cost, cached
    chosen: list[str] = []
    current = whatif.cost([])
    while len(chosen) < 10:
        best = None
        for c in sorted(cands - set(chosen)):
            cost = whatif.cost([*chosen, c])
            if best is None or cost < best[0]:
                best = (cost, c)
        if best is None or (current - best[0]) / current < 0.01:
            break
        chosen.append(best[1])
        current = best[0]
    return chosen


_ON_TABLE = re.compile(r"^CREATE INDEX ON (\S+) \(")


class WhatIf:
    """HypoPG costs of configurations, as the evaluation platform of Kossmann et al. (VLDB
    2020) computes them: a statement's cost is cached per (statement, the configuration's
    indexes on the tables it reads), so a configuration costs only the statements its change
    touches. ``calls``: EXPLAINs run (what-if calls)."""

    def __init__(self, conn: Any, statements: list[tuple[str, int]], schema: Schema) -> None:
        self.conn = conn
        self.statements = statements
        # the tables each statement reads (None: unknown, so every index is relevant)
        self.tables: list[set[str] | None] = []
        for sql, _ in statements:
            use = extract(sql, schema)
            self.tables.append(None if use.error or not use.tables else set(use.tables))
        self.cache: dict[tuple[int, frozenset[str]], float] = {}
        self.sizes: dict[str, int] = {}
        self.calls = 0

    def size(self, ddl: str) -> int:
        if ddl not in self.sizes:
            self.conn.execute("SELECT hypopg_reset()")
            oid = self.conn.execute(
                "SELECT indexrelid FROM hypopg_create_index(%s)", (ddl,)
            ).fetchone()[0]
            self.sizes[ddl] = self.conn.execute(
                "SELECT hypopg_relation_size(%s)", (oid,)
            ).fetchone()[0]
            self.conn.execute("SELECT hypopg_reset()")
        return self.sizes[ddl]

    def cost(self, indexes: list[str]) -> float:
        """Sum of EXPLAIN cost x calls with ``indexes`` as hypothetical indexes."""
        on = {ddl: _ON_TABLE.match(ddl)[1] for ddl in indexes}  # type: ignore[index]
        todo: dict[frozenset[str], list[int]] = {}
        keys = []
        for i, tables in enumerate(self.tables):
            relevant = frozenset(d for d, t in on.items() if tables is None or t in tables)
            keys.append((i, relevant))
            if (i, relevant) not in self.cache:
                todo.setdefault(relevant, []).append(i)
        for relevant, which in todo.items():
            self.conn.execute("SELECT hypopg_reset()")
            for ddl in sorted(relevant):
                self.conn.execute("SELECT hypopg_create_index(%s)", (ddl,))
            for i in which:
                sql, n = self.statements[i]
                plan = self.conn.execute(f"EXPLAIN (FORMAT JSON) {sql}").fetchone()[0][0]
                self.cache[(i, relevant)] = plan["Plan"]["Total Cost"] * n
                self.calls += 1
        self.conn.execute("SELECT hypopg_reset()")
        return sum(self.cache[k] for k in keys)


def extend_reference(
    whatif: WhatIf,
    workload: Workload,
    schema: Schema,
    budget: int,
    width: int = 3,
    *,
    copies: bool = True,
) -> list[str]:
    """Extend (Schlosser, Kossmann and Boissier, ICDE 2019; the best algorithm of Kossmann et
    al.'s evaluation at most budgets), as its reference implementation runs it: start with no
    index; at each step take, among every single-column index on an indexable column and
    every existing index extended by one more indexable column of a statement it serves (up
    to ``width``), the one with the largest cost reduction per byte added that fits in
    ``budget``; stop when none reduces the cost. A benchmark reference, not product code.
    ``copies=False``: never an index whose key leads an existing one (HypoPG sizes a
    hypothetical ``lineitem (l_orderkey)`` below the primary key it copies, so the plans
    "save" by using it; our pick never takes such a copy, and this is Extend under the same
    rule)."""
    attrs: dict[str, set[str]] = {}  # table -> indexable columns
    together: list[tuple[str, list[str]]] = []  # (table, one statement's indexable columns)
    for stats in workload.stats.values():
        sample = stats.samples[0].bound() if stats.samples else stats.normalized
        for t in extract(sample, schema).tables.values():
            cols = list(
                dict.fromkeys(
                    [*t.equality, *t.ranges, *t.joins, *(c for c, _ in t.order_by), *t.group_by]
                )
            )
            cols = [c for c in cols if c in schema.tables[t.table].columns]
            if cols:
                attrs.setdefault(t.table, set()).update(cols)
                together.append((t.table, cols))

    def ddl(table: str, cols: tuple[str, ...]) -> str:
        return f"CREATE INDEX ON {table} ({', '.join(cols)})"

    config: dict[tuple[str, tuple[str, ...]], str] = {}
    current = whatif.cost([])
    used = 0
    while True:
        best: tuple[float, tuple[str, tuple[str, ...]] | None, tuple[str, tuple[str, ...]]] | None
        best = None
        moves: list[tuple[tuple[str, tuple[str, ...]] | None, tuple[str, tuple[str, ...]]]] = []
        for table, cols in sorted(attrs.items()):
            moves += [(None, (table, (c,))) for c in sorted(cols) if (table, (c,)) not in config]
        for table, key in list(config):
            if len(key) >= width:
                continue
            more = {
                c
                for t, cols in together
                if t == table and set(key) <= set(cols)
                for c in cols
                if c not in key
            }
            moves += [((table, key), (table, (*key, c))) for c in sorted(more)]
        for old, new in moves:
            if new in config or (not copies and _copies(schema, *new)):
                continue
            grown = whatif.size(ddl(*new)) - (whatif.size(ddl(*old)) if old else 0)
            if used + grown > budget:
                continue
            trial = [d for k, d in config.items() if k != old] + [ddl(*new)]
            saving = current - whatif.cost(trial)
            if saving <= 0:
                continue
            ratio = saving / max(grown, 1)
            if best is None or ratio > best[0]:
                best = (ratio, old, new)
        if best is None:
            break
        _, old, new = best
        if old is not None:
            used -= whatif.size(config.pop(old))
        config[new] = ddl(*new)
        used += whatif.size(config[new])
        current = whatif.cost(list(config.values()))
    return list(config.values())


def _copies(schema: Schema, table: str, key: tuple[str, ...]) -> bool:
    """Whether an existing plain index of ``table`` leads with ``key``."""
    indexes = schema.tables[table].indexes if table in schema.tables else []
    return any(ix.where is None and ix.columns[: len(key)] == key for ix in indexes)


def scored(
    conn: Any, statements: list[tuple[str, int]], before: list[float], indexes: list[str]
) -> tuple[str, int]:
    """``"relative cost | geo-mean ratio | worst ratio"`` cells of ``indexes`` against no
    index (``before``: each statement's cost then), and their total size: the relative
    workload cost and the geometric mean of per-statement cost ratios (Kossmann et al.'s two
    measures), and the largest per-statement ratio (above 1: a statement the advice makes
    costlier, which offline advice must never do)."""
    costs, size = statement_costs(conn, statements, indexes)
    ratios = [a / b for a, b in zip(costs, before, strict=True) if b > 0]
    geo = math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else 1.0
    worst = max(ratios, default=1.0)
    return f"{sum(costs) / sum(before):.4g} | {geo:.3f} | {worst:.3f}", size


def table_rows(
    conn: Any,
    name: str,
    statements: list[tuple[str, int]],
    before: list[float],
    advices: list[tuple[str, list[str], float]],
) -> list[str]:
    """The main table's rows: each advice's relative cost, geo-mean ratio, count, size and
    run time."""
    out = []
    for label, indexes, seconds in advices:
        cells, size = scored(conn, statements, before, indexes)
        out.append(
            f"| {name} | {label} | {cells} | {len(indexes)} | {size / 1e6:.1f} | {seconds:.2f} |"
        )
    return out


BUDGETS = (0.5, 1.0, 2.0)
"""Storage budgets of the curve, as shares of the greedy baseline's total index size."""


def single_column_baseline(
    conn: Any, schema: Schema, statements: list[tuple[str, int]]
) -> list[str]:
    """Supabase's index_advisor approach: for each statement, a hypothetical single-column
    index on every column it filters, joins, sorts or groups by, all at once; the ones its
    plan uses are recommended (the union over the workload)."""
    used: set[str] = set()
    for sql, _ in statements:
        cols: set[tuple[str, str]] = set()
        for t in extract(sql, schema).tables.values():
            table = schema.tables.get(t.table)
            for c in [*t.equality, *t.ranges, *t.joins, *(c for c, _ in t.order_by), *t.group_by]:
                if table is not None and c in table.columns:
                    cols.add((t.table, c))
        if not cols:
            continue
        conn.execute("SELECT hypopg_reset()")
        names = {}
        for table, c in sorted(cols):
            ddl = f"CREATE INDEX ON {table} ({c})"
            oid = conn.execute("SELECT indexrelid FROM hypopg_create_index(%s)", (ddl,)).fetchone()[
                0
            ]
            name = conn.execute(
                "SELECT index_name FROM hypopg_list_indexes WHERE indexrelid = %s", (oid,)
            ).fetchone()[0]
            names[name] = ddl
        plan = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}").fetchone()[0][0]["Plan"]
        stack = [plan]
        while stack:
            node = stack.pop()
            if node.get("Index Name") in names:
                used.add(names[node["Index Name"]])
            stack.extend(node.get("Plans", []))
    conn.execute("SELECT hypopg_reset()")
    return sorted(used)


def measure(
    name: str,
    url: str,
    ddl: str,
    log: pathlib.Path,
    curve: list[str],
    *,
    exhaustive: bool = True,
    budgets: tuple[float, ...] = BUDGETS,
) -> list[str]:
    workload = Workload.from_logs([log])
    statements = [  # every call weighs, cancelled ones too (they ran for the timeout)
        (s.samples[0].bound(), s.count + sum(s.cancelled.values()))
        for s in workload.stats.values()
        if s.samples and not s.normalized.startswith(("set ", "reset ", "select pg_backend_pid"))
    ]
    rows = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
        before, _ = statement_costs(conn, statements, [])
        t = time.perf_counter()
        offline = advise(workload, schema=Schema.from_ddl(ddl))
        t_offline = time.perf_counter() - t
        # offline again, with the statistics `backendperf stats` exports (JSON and back)
        snapshot = Schema.from_json(json.loads(json.dumps(Schema.from_url(url).to_json())))
        t = time.perf_counter()
        # as `advise --stats` does: the what-if pick on the offline cost model's estimates
        with_stats = advise(workload, schema=snapshot, max_indexes=20, min_share=0, whatif=True)
        estimate(with_stats, workload, snapshot, max_indexes=10)
        t_stats = time.perf_counter() - t
        t = time.perf_counter()
        # as `advise --db URL --validate` does: twice the candidates, the budget in the what-if
        validated = advise(
            workload, schema=Schema.from_url(url), max_indexes=20, min_share=0, whatif=True
        )
        validate(validated, workload, url, max_indexes=10)
        t_valid = time.perf_counter() - t
        t = time.perf_counter()
        greedy = greedy_baseline(conn, workload, Schema.from_url(url), statements)
        t_greedy = time.perf_counter() - t
        t = time.perf_counter()
        single = single_column_baseline(conn, Schema.from_url(url), statements)
        t_single = time.perf_counter() - t
        # the baseline's own budget: as many indexes, as many bytes (--max-indexes, --max-size)
        _, greedy_size = workload_cost(conn, statements, greedy)
        t = time.perf_counter()
        budgeted = advise(
            workload, schema=Schema.from_url(url), max_indexes=20, min_share=0, whatif=True
        )
        validate(budgeted, workload, url, max_indexes=len(greedy), max_size=greedy_size)
        t_budget = time.perf_counter() - t
        # the storage-budget curve: ours and Extend at the same budgets (shares of the
        # baseline's size), as Kossmann et al. compare index selection algorithms
        for share in budgets:
            budget = int(greedy_size * share)
            whatif = WhatIf(conn, statements, Schema.from_url(url))
            t = time.perf_counter()
            ext = extend_reference(whatif, workload, Schema.from_url(url), budget)
            t_ext = time.perf_counter() - t
            ext_calls = whatif.calls
            # the same, never copying an existing index's leading key (our pick's rule)
            t = time.perf_counter()
            own = extend_reference(whatif, workload, Schema.from_url(url), budget, copies=False)
            t_own = time.perf_counter() - t
            t = time.perf_counter()
            ours = advise(
                workload, schema=Schema.from_url(url), max_indexes=20, min_share=0, whatif=True
            )
            validate(ours, workload, url, max_size=budget)
            t_ours = time.perf_counter() - t
            for label, indexes, seconds, calls in (
                (
                    "backendperf --validate",
                    [plain(x.candidate) for x in ours.indexes if x.candidate],
                    t_ours,
                    None,
                ),
                ("Extend (reference)", ext, t_ext, ext_calls),
                ("Extend, no copy of an existing index", own, t_own, None),
            ):
                cells, size = scored(conn, statements, before, indexes)
                curve.append(
                    f"| {name} | {share:g}x = {budget / 1e6:.1f} MB | {label} | {cells} | "
                    f"{len(indexes)} | {size / 1e6:.1f} | {seconds:.2f} | {calls or 'n/a'} |"
                )
                for index in indexes:
                    print(f"  {label} at {share:g}x, {name}: {index}")
        advices: list[tuple[str, list[str], float]] = [
            (
                "backendperf offline (DDL only)",
                [plain(x.candidate) for x in offline.indexes if x.candidate],
                t_offline,
            ),
            (
                "backendperf offline (--stats snapshot: the cost model)",
                [plain(x.candidate) for x in with_stats.indexes if x.candidate],
                t_stats,
            ),
            (
                "backendperf --validate (HypoPG)",
                [plain(x.candidate) for x in validated.indexes if x.candidate],
                t_valid,
            ),
            (
                "backendperf --validate, the baseline's budget",
                [plain(x.candidate) for x in budgeted.indexes if x.candidate],
                t_budget,
            ),
            ("greedy what-if baseline (1-2 cols)", greedy, t_greedy),
            ("single-column what-if baseline (index_advisor)", single, t_single),
        ]
        if not exhaustive:
            return rows + table_rows(conn, name, statements, before, advices)
        everything = candidate_pool(workload, Schema.from_url(url), 3)
        everything |= {plain(s.candidate) for s in offline.indexes if s.candidate}
        everything |= {plain(s.candidate) for s in validated.indexes if s.candidate}
        everything |= {plain(s.candidate) for s in budgeted.indexes if s.candidate}
        t = time.perf_counter()
        partial = partial_variants(workload, Schema.from_url(url), everything)
        best = best_within(conn, statements, everything | partial, len(greedy), greedy_size)
        t_best = time.perf_counter() - t
        advices.append(
            (f"lower bound: all {len(everything)} candidates at once", sorted(everything), 0.0)
        )
        rows += table_rows(conn, name, statements, before, advices)
        label = (
            f"best possible at the baseline's budget ({len(everything | partial)} candidates, "
            "exhaustive)"
        )
        if best is None:
            rows.append(f"| {name} | {label} | too many sets to search | | | n/a | n/a | n/a |")
        else:
            cells, _ = scored(conn, statements, before, best[1])
            rows.append(
                f"| {name} | {label} | {cells} | {len(best[1])} | "
                f"{best[2] / 1e6:.1f} | {t_best:.2f} |"
            )
            for index in best[1]:
                print(f"  best at the budget, {name}: {index}")
    return rows


def pgbench_init(db: str) -> str:
    """``pgbench -i -s 10`` into ``db``; its DDL (tables and indexes) as the advisor's schema."""
    import subprocess

    name = db.rsplit("/", 1)[1]
    subprocess.run(
        ["pgbench", "-h", "127.0.0.1", "-U", "postgres", "-i", "-s", "10", "-q", name],
        check=True,
        capture_output=True,
    )
    with psycopg.connect(db) as conn:
        tables = conn.execute(
            "SELECT 'CREATE TABLE ' || c.relname || ' (' || string_agg(a.attname || ' ' || "
            "format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) || ')' FROM "
            "pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
            "WHERE c.relname LIKE 'pgbench_%%' AND c.relkind = 'r' GROUP BY c.relname"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename LIKE 'pgbench_%%'"
        ).fetchall()
    return ";\n".join(r[0] for r in [*tables, *indexes])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--only", nargs="*", help="workloads whose name starts with these")
    parser.add_argument(
        "--no-exhaustive", action="store_true", help="skip the best-possible search (slow)"
    )
    parser.add_argument(
        "--tpch-sf",
        type=float,
        default=1.0,
        help="TPC-H scale factor (tpchgen-cli; 0: no TPC-H workload)",
    )
    parser.add_argument(
        "--tpcds-sf",
        type=float,
        default=1.0,
        help="TPC-DS scale factor (tpcgen-cli; 0: no TPC-DS workload)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run for CI: the OLTP workload, and TPC-H at SF 0.01 without the curve",
    )
    args = parser.parse_args()
    if args.quick:
        args.only, args.no_exhaustive, args.tpch_sf = ["oltp", "tpch"], True, 0.01
        args.tpcds_sf = 0
    curve: list[str] = []
    header = [
        "| workload | advice | relative cost | geo-mean ratio | worst statement | indexes "
        "| size MB | seconds |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows: list[str] = []
    tmp = pathlib.Path(tempfile.mkdtemp())
    shop = (SHOP / "schema.sql").read_text()
    workloads: list[tuple[str, Any, Q, int]] = [
        ("oltp (31 shapes)", [shop, (SHOP / "data.sql").read_text()], OLTP, 20),
        ("analytic (2M sales)", [ANALYTIC_DDL, ANALYTIC_DATA], ANALYTIC, 5),
        ("saas (multi-tenant, 1M tickets)", [SAAS_DDL, SAAS_DATA], SAAS, 10),
        ("pgbench (negative control)", pgbench_init, PGBENCH, 50),
    ]
    if args.tpch_sf:
        workloads.append(
            (
                f"tpch (SF{args.tpch_sf:g}, 22 queries)",
                lambda db: tpch_init(db, args.tpch_sf),
                TPCH,
                1,
            )
        )
    if args.tpcds_sf:
        workloads.append(
            (
                f"tpcds (SF{args.tpcds_sf:g}, {len(TPCDS_QUERIES)} queries)",
                lambda db: tpcds_init(db, args.tpcds_sf),
                TPCDS_Q,
                1,
            )
        )
    for name, setup, queries, rounds in workloads:
        if args.only and not any(name.startswith(o) for o in args.only):
            continue
        db = create_database(args.url)
        try:
            if callable(setup):
                ddl = setup(db)
            else:
                with psycopg.connect(db, autocommit=True) as conn:
                    for sql in setup:
                        conn.execute(sql)
                ddl = setup[0]
            with psycopg.connect(db, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")  # as autovacuum leaves a live database
                if queries is TPCH or queries is TPCDS_Q:  # a setting --db can read
                    conn.execute(
                        f"ALTER DATABASE {db.rsplit('/', 1)[1]} "
                        f"SET statement_timeout = {TPCH_TIMEOUT_MS}"
                    )
            log = tmp / f"{name.split()[0]}.log"
            run_logged(db, queries, rounds, log)
            # TPC-H, TPC-DS: 3-column permutations of their columns are too many to cost alone
            exhaustive = not args.no_exhaustive and queries is not TPCH and queries is not TPCDS_Q
            budgets = () if args.quick and queries is TPCH else BUDGETS  # Extend: minutes
            rows += measure(name, db, ddl, log, curve, exhaustive=exhaustive, budgets=budgets)
        finally:
            drop_database(db, args.url)
    print("\n".join(header + rows))
    print()
    print(
        "| workload | storage budget | advice | relative cost | geo-mean ratio "
        "| worst statement | indexes | size MB | seconds | what-if calls |"
    )
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(curve))


if __name__ == "__main__":
    main()
