#!/usr/bin/env python3
"""Benchmark: one synthetic medallion DAG run by RAT, by dbt-duckdb and by raw DuckDB, side by side.

Usage (from the repository root)::

    .venv/bin/python bench/bench_dag.py --rounds 5      # full run, updates bench/results.md
    .venv/bin/python bench/bench_dag.py --quick         # smoke run: 100k rows, 20 models, 2 rounds

What it does:

1. Generates a deterministic Parquet file of synthetic orders with DuckDB (cached per row count).
2. Generates a DAG of ``--models`` pure-DuckDB SQL models (1 bronze, 5 silver, the rest gold) from one
   description (``build_models``). Every variant gets the same SQL text; only references differ:
   dbt writes ``{{ ref('name') }}``, RAT writes ``{{ ref('layer.name') }}`` and reads the source file
   from its landing zone, raw DuckDB uses bare table names.
3. Runs the variants round by round, interleaved (dbt, RAT, raw DuckDB, dbt, RAT, ...), each one cold:
   a fresh process per timed run and an empty target (the dbt ``.duckdb`` file, the RAT data dir,
   the raw DuckDB file) every round. Set-up (dbt project files and ``dbt parse``; RAT namespace,
   landing file, created and published pipelines) is done before and is not timed.
4. Checks every model succeeded and that row counts agree across variants, then prints a table and
   replaces the "## Pipeline DAG: RAT vs dbt-duckdb" section of ``bench/results.md``.

The module imports only the standard library at the top level, so that worker processes that
re-import ``__main__`` (multiprocessing's spawn) stay cheap; DuckDB and RAT are imported where used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from common import BenchError
from results_md import hardware, replace_section

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_WORK_DIR = BENCH_DIR / "_work"
DEFAULT_RESULTS = BENCH_DIR / "results.md"
DBT_VENV = BENCH_DIR / ".venv-dbt"
SECTION_TITLE = "## Pipeline DAG: RAT vs dbt-duckdb"

NAMESPACE = "bench"
LANDING_ZONE = "raw"
LANDING_FILE = "orders.parquet"
RUN_TIMEOUT_S = 3600

VARIANTS = ("dbt", "rat", "duckdb")
LABELS = {"dbt": "dbt-duckdb", "rat": "RAT", "duckdb": "raw DuckDB"}

REGIONS = (
    "north_america",
    "south_america",
    "western_europe",
    "eastern_europe",
    "middle_east",
    "africa",
    "south_asia",
    "east_asia",
)
N_CATEGORIES = 12


# --------------------------------------------------------------------------------------------------
# Source data
# --------------------------------------------------------------------------------------------------

# Deterministic pseudo-random streams: a chain of multiplicative hashes modulo the largest prime
# below 2**32. Every product stays below 2**63, so no overflow, and nothing depends on DuckDB's
# random() or hash(), which are not stable across threads or versions.
_P = 4294967291
_SOURCE_SQL = f"""
WITH seq AS (
    SELECT i, (i * 1812433253 + 12345) % {_P} AS h1 FROM range(1, {{rows}} + 1) t(i)
), h AS (
    SELECT i, h1, (h1 * 1103515245 + 54321) % {_P} AS h2 FROM seq
), h3 AS (
    SELECT *, (h2 * 1664525 + 1013904223) % {_P} AS h3 FROM h
), h4 AS (
    SELECT *, (h3 * 22695477 + 1) % {_P} AS h4 FROM h3
), h5 AS (
    SELECT *, (h4 * 1812433253 + 7) % {_P} AS h5 FROM h4
), h6 AS (
    SELECT *, (h5 * 1103515245 + 99991) % {_P} AS h6 FROM h5
), base AS (
    SELECT
        i AS order_id,
        -- ~50k customers; 30% of the orders go to the 2,000 most active ones
        CAST(CASE WHEN h1 % 10 < 3 THEN 1 + h2 % 2000 ELSE 1 + h2 % 50000 END AS INTEGER) AS customer_id,
        -- ~1,000 products; 25% of the orders go to the 50 best sellers
        CAST(CASE WHEN h3 % 4 = 0 THEN 1 + h4 % 50 ELSE 1 + h4 % 1000 END AS INTEGER) AS product_id,
        h2, h3, h4, h5, h6
    FROM h6
)
SELECT
    order_id,
    customer_id,
    product_id,
    -- 5% of the region labels are dirty (upper case, trailing blank): bronze cleans them
    CASE WHEN h5 % 20 = 0
         THEN upper(({list(REGIONS)!r})[1 + h3 % 8]) || ' '
         ELSE ({list(REGIONS)!r})[1 + h3 % 8] END AS region,
    -- price depends on the product (5..504) times 0.5..1.49; 0.5% missing
    CASE WHEN h6 % 200 = 1 THEN NULL
         ELSE CAST(round((5 + (product_id * 7919) % 500) * (50 + h4 % 100) / 100.0, 2) AS DECIMAL(12, 2))
    END AS amount,
    CASE WHEN h6 % 100 < 72 THEN 'completed'
         WHEN h6 % 100 < 84 THEN 'shipped'
         WHEN h6 % 100 < 92 THEN 'pending'
         WHEN h6 % 100 < 97 THEN 'cancelled'
         ELSE CASE WHEN h5 % 2 = 0 THEN 'RETURNED' ELSE 'returned' END END AS status,
    TIMESTAMP '2024-01-01 00:00:00' + to_seconds(CAST((h5 * 7 + h6) % 31622400 AS BIGINT)) AS ordered_at
FROM base
ORDER BY order_id
"""


def make_source_parquet(work: Path, rows: int) -> Path:
    """Write ``orders_<rows>.parquet`` once per row count and return its path."""
    data_dir = work / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"orders_{rows}.parquet"
    if path.exists():
        return path
    import duckdb

    tmp = path.with_suffix(".parquet.tmp")
    t0 = time.perf_counter()
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY ({_SOURCE_SQL.format(rows=int(rows))}) TO '{_sql_str(tmp)}' "
            "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 122880)"
        )
    finally:
        con.close()
    tmp.replace(path)
    print(
        f"generated {path.name}: {rows:,} rows, {path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t0:.1f}s"
    )
    return path


# --------------------------------------------------------------------------------------------------
# The DAG: one description, rendered three ways
# --------------------------------------------------------------------------------------------------

# In model SQL, ``$ref(name)`` is a reference to another model and ``$source`` the raw Parquet file.
_REF_RE = re.compile(r"\$ref\(([a-z][a-z0-9_]*)\)")


@dataclass
class Model:
    name: str
    layer: str
    sql: str
    deps: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sql = _dedent(self.sql)
        self.deps = list(dict.fromkeys(_REF_RE.findall(self.sql)))


def _dedent(sql: str) -> str:
    import textwrap

    return textwrap.dedent(sql).strip() + "\n"


# The model description reads best as a table of SQL texts: keep the formatter out of it.
# fmt: off
def _silver_and_bronze() -> list[Model]:
    return [
        Model("orders", "bronze", """
            SELECT
                CAST(order_id AS BIGINT) AS order_id,
                customer_id,
                product_id,
                lower(trim(region)) AS region,
                amount,
                lower(trim(status)) AS status,
                ordered_at
            FROM $source
            WHERE order_id IS NOT NULL
        """),
        Model("orders_clean", "silver", """
            SELECT
                order_id, customer_id, product_id, region, amount, status, ordered_at,
                CAST(ordered_at AS DATE) AS order_date,
                CAST(date_trunc('month', ordered_at) AS DATE) AS order_month,
                dayofweek(ordered_at) AS order_dow,
                hour(ordered_at) AS order_hour,
                CASE WHEN amount < 50 THEN 'small' WHEN amount < 250 THEN 'medium' ELSE 'large' END
                    AS amount_bucket
            FROM $ref(orders)
            WHERE amount IS NOT NULL AND status <> 'cancelled'
        """),
        Model("returned_orders", "silver", """
            SELECT
                order_id, customer_id, product_id, region, amount, status, ordered_at,
                CAST(ordered_at AS DATE) AS return_date
            FROM $ref(orders)
            WHERE status IN ('returned', 'cancelled')
        """),
        Model("customers", "silver", """
            SELECT
                customer_id,
                count(*) AS n_orders,
                sum(amount) AS lifetime_value,
                avg(amount) AS avg_order_value,
                min(ordered_at) AS first_order_at,
                max(ordered_at) AS last_order_at,
                arg_max(region, order_id) AS home_region,
                CASE WHEN sum(amount) >= 20000 THEN 'vip'
                     WHEN count(*) >= 20 THEN 'loyal'
                     WHEN count(*) = 1 THEN 'one_time'
                     ELSE 'regular' END AS segment
            FROM $ref(orders_clean)
            GROUP BY customer_id
        """),
        Model("products", "silver", f"""
            SELECT
                product_id,
                'cat_' || lpad(CAST(product_id % {N_CATEGORIES} AS VARCHAR), 2, '0') AS category,
                count(*) AS n_orders,
                sum(amount) AS revenue,
                avg(amount) AS avg_price,
                CASE WHEN avg(amount) < 100 THEN 'budget'
                     WHEN avg(amount) < 300 THEN 'standard'
                     ELSE 'premium' END AS price_tier
            FROM $ref(orders_clean)
            GROUP BY product_id
        """),
        Model("order_facts", "silver", """
            SELECT
                o.order_id, o.customer_id, o.product_id, o.region, o.amount, o.status, o.ordered_at,
                o.order_date, o.order_month, o.order_dow, o.order_hour, o.amount_bucket,
                c.segment, c.home_region,
                p.category, p.price_tier,
                o.amount - p.avg_price AS price_delta
            FROM $ref(orders_clean) o
            JOIN $ref(customers) c ON c.customer_id = o.customer_id
            JOIN $ref(products) p ON p.product_id = o.product_id
        """),
    ]


def _gold_core() -> list[Model]:
    """Hand-written gold models, ordered so that every prefix of the list is closed under its refs."""
    g = "gold"
    return [
        Model("daily_revenue", g, """
            SELECT order_date, count(*) AS n_orders, count(DISTINCT customer_id) AS n_customers,
                   sum(amount) AS revenue, avg(amount) AS avg_order_value
            FROM $ref(order_facts)
            GROUP BY order_date
        """),
        Model("region_revenue", g, """
            SELECT region, count(*) AS n_orders, count(DISTINCT customer_id) AS n_customers,
                   sum(amount) AS revenue, avg(amount) AS avg_order_value
            FROM $ref(order_facts)
            GROUP BY region
        """),
        Model("returns_by_region", g, """
            SELECT region,
                   count(*) AS n_returns,
                   count(*) FILTER (WHERE status = 'returned') AS n_returned,
                   count(*) FILTER (WHERE status = 'cancelled') AS n_cancelled,
                   coalesce(sum(amount), 0) AS returned_amount
            FROM $ref(returned_orders)
            GROUP BY region
        """),
        Model("region_return_rate", g, """
            SELECT r.region, r.n_orders, r.revenue,
                   coalesce(x.n_returns, 0) AS n_returns,
                   coalesce(x.n_returns, 0) / (r.n_orders + coalesce(x.n_returns, 0)) AS return_rate,
                   x.returned_amount
            FROM $ref(region_revenue) r
            LEFT JOIN $ref(returns_by_region) x ON x.region = r.region
        """),
        Model("region_product_revenue", g, """
            SELECT region, product_id, category, count(*) AS n_orders, sum(amount) AS revenue
            FROM $ref(order_facts)
            GROUP BY region, product_id, category
        """),
        Model("top_products_per_region", g, """
            SELECT region, product_id, category, revenue, n_orders,
                   rank() OVER (PARTITION BY region ORDER BY revenue DESC, product_id) AS revenue_rank
            FROM $ref(region_product_revenue)
            QUALIFY revenue_rank <= 10
        """),
        Model("daily_revenue_7d", g, """
            SELECT order_date, revenue,
                   avg(revenue) OVER w AS revenue_7d_avg,
                   CAST(sum(n_orders) OVER w AS BIGINT) AS orders_7d,
                   revenue - lag(revenue, 7) OVER (ORDER BY order_date) AS week_over_week
            FROM $ref(daily_revenue)
            WINDOW w AS (ORDER BY order_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW)
        """),
        Model("customer_revenue", g, """
            SELECT customer_id, segment, home_region,
                   count(*) AS n_orders, sum(amount) AS revenue,
                   min(order_date) AS first_order_date, max(order_date) AS last_order_date,
                   count(DISTINCT product_id) AS n_products
            FROM $ref(order_facts)
            GROUP BY customer_id, segment, home_region
        """),
        Model("customer_deciles", g, """
            SELECT customer_id, segment, home_region, revenue, n_orders,
                   ntile(10) OVER (ORDER BY revenue DESC, customer_id) AS revenue_decile
            FROM $ref(customer_revenue)
        """),
        Model("decile_summary", g, """
            SELECT revenue_decile,
                   count(*) AS n_customers,
                   sum(revenue) AS revenue,
                   min(revenue) AS min_revenue,
                   max(revenue) AS max_revenue,
                   avg(n_orders) AS avg_orders,
                   sum(revenue) / sum(sum(revenue)) OVER () AS revenue_share
            FROM $ref(customer_deciles)
            GROUP BY revenue_decile
        """),
        Model("product_revenue", g, """
            SELECT product_id, category, price_tier,
                   count(*) AS n_orders, count(DISTINCT customer_id) AS n_customers, sum(amount) AS revenue
            FROM $ref(order_facts)
            GROUP BY product_id, category, price_tier
        """),
        Model("returns_by_product", g, """
            SELECT product_id, count(*) AS n_returns, coalesce(sum(amount), 0) AS returned_amount
            FROM $ref(returned_orders)
            GROUP BY product_id
        """),
        Model("product_return_rate", g, """
            SELECT p.product_id, p.category, p.n_orders, p.revenue,
                   coalesce(r.n_returns, 0) AS n_returns,
                   coalesce(r.n_returns, 0) / (p.n_orders + coalesce(r.n_returns, 0)) AS return_rate
            FROM $ref(product_revenue) p
            LEFT JOIN $ref(returns_by_product) r ON r.product_id = p.product_id
        """),
        Model("category_month_revenue", g, """
            SELECT category, order_month, count(*) AS n_orders, sum(amount) AS revenue,
                   count(DISTINCT customer_id) AS n_customers
            FROM $ref(order_facts)
            GROUP BY category, order_month
        """),
        Model("category_month_growth", g, """
            SELECT category, order_month, revenue, prev_revenue,
                   (revenue - prev_revenue) / prev_revenue AS growth
            FROM (
                SELECT category, order_month, revenue,
                       lag(revenue) OVER (PARTITION BY category ORDER BY order_month) AS prev_revenue
                FROM $ref(category_month_revenue)
            ) t
        """),
        Model("region_day_revenue", g, """
            SELECT region, order_date, count(*) AS n_orders, sum(amount) AS revenue
            FROM $ref(orders_clean)
            GROUP BY region, order_date
        """),
        Model("region_day_7d", g, """
            SELECT region, order_date, revenue,
                   avg(revenue) OVER (
                       PARTITION BY region ORDER BY order_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW
                   ) AS revenue_7d_avg,
                   rank() OVER (PARTITION BY order_date ORDER BY revenue DESC, region) AS day_rank
            FROM $ref(region_day_revenue)
        """),
        Model("region_scorecard", g, """
            WITH top AS (
                SELECT region, sum(revenue) AS top10_revenue, count(DISTINCT category) AS top10_categories
                FROM $ref(top_products_per_region)
                GROUP BY region
            ), days AS (
                SELECT region, count(*) FILTER (WHERE day_rank = 1) AS days_ranked_first,
                       max(revenue_7d_avg) AS best_7d_avg
                FROM $ref(region_day_7d)
                GROUP BY region
            )
            SELECT r.region, r.revenue, r.return_rate,
                   t.top10_revenue, t.top10_revenue / r.revenue AS top10_share, t.top10_categories,
                   d.days_ranked_first, d.best_7d_avg
            FROM $ref(region_return_rate) r
            LEFT JOIN top t ON t.region = r.region
            LEFT JOIN days d ON d.region = r.region
        """),
        Model("customer_month", g, """
            SELECT customer_id, order_month, count(*) AS n_orders, sum(amount) AS revenue
            FROM $ref(order_facts)
            GROUP BY customer_id, order_month
        """),
        Model("customer_retention", g, """
            SELECT cur.order_month,
                   count(*) AS active_customers,
                   count(nxt.customer_id) AS retained_next_month,
                   count(nxt.customer_id) / count(*) AS retention_rate
            FROM $ref(customer_month) cur
            LEFT JOIN $ref(customer_month) nxt
              ON nxt.customer_id = cur.customer_id
             AND nxt.order_month = CAST(cur.order_month + INTERVAL 1 MONTH AS DATE)
            GROUP BY cur.order_month
        """),
        Model("segment_month_revenue", g, """
            SELECT segment, order_month, count(*) AS n_orders, count(DISTINCT customer_id) AS n_customers,
                   sum(amount) AS revenue
            FROM $ref(order_facts)
            GROUP BY segment, order_month
        """),
        Model("segment_share", g, """
            SELECT segment, order_month, revenue, n_customers,
                   revenue / sum(revenue) OVER (PARTITION BY order_month) AS revenue_share
            FROM $ref(segment_month_revenue)
        """),
        Model("hourly_profile", g, """
            SELECT order_dow, order_hour, count(*) AS n_orders, sum(amount) AS revenue,
                   avg(amount) AS avg_amount
            FROM $ref(orders_clean)
            GROUP BY order_dow, order_hour
        """),
        Model("peak_hours", g, """
            SELECT order_dow, order_hour, revenue,
                   rank() OVER (PARTITION BY order_dow ORDER BY revenue DESC, order_hour) AS hour_rank
            FROM $ref(hourly_profile)
            QUALIFY hour_rank <= 3
        """),
        Model("region_customer_revenue", g, """
            SELECT region, customer_id, count(*) AS n_orders, sum(amount) AS revenue
            FROM $ref(order_facts)
            GROUP BY region, customer_id
        """),
        Model("top_customers_per_region", g, """
            SELECT region, customer_id, revenue, n_orders,
                   row_number() OVER (PARTITION BY region ORDER BY revenue DESC, customer_id) AS revenue_rank
            FROM $ref(region_customer_revenue)
            QUALIFY revenue_rank <= 20
        """),
        Model("vip_customer_profile", g, """
            SELECT t.region, t.customer_id, t.revenue_rank,
                   t.revenue AS region_revenue, c.revenue AS total_revenue,
                   t.revenue / c.revenue AS region_share,
                   c.segment, c.home_region, c.n_products
            FROM $ref(top_customers_per_region) t
            JOIN $ref(customer_revenue) c ON c.customer_id = t.customer_id
        """),
        Model("amount_bucket_mix", g, """
            SELECT region, amount_bucket, count(*) AS n_orders, sum(amount) AS revenue,
                   count(*) / sum(count(*)) OVER (PARTITION BY region) AS order_share
            FROM $ref(orders_clean)
            GROUP BY region, amount_bucket
        """),
        Model("price_tier_region", g, """
            SELECT price_tier, region, count(*) AS n_orders, sum(amount) AS revenue,
                   avg(price_delta) AS avg_price_delta
            FROM $ref(order_facts)
            GROUP BY price_tier, region
        """),
        Model("product_scorecard", g, """
            WITH tops AS (
                SELECT product_id, count(*) AS n_top10_regions, min(revenue_rank) AS best_rank
                FROM $ref(top_products_per_region)
                GROUP BY product_id
            )
            SELECT p.product_id, p.category, p.revenue, p.return_rate,
                   coalesce(t.n_top10_regions, 0) AS n_top10_regions, t.best_rank,
                   s.avg_price, s.price_tier
            FROM $ref(product_return_rate) p
            JOIN $ref(products) s ON s.product_id = p.product_id
            LEFT JOIN tops t ON t.product_id = p.product_id
        """),
        Model("status_month", g, """
            SELECT order_month, status, count(*) AS n_orders, sum(amount) AS revenue
            FROM $ref(orders_clean)
            GROUP BY order_month, status
        """),
        Model("returns_month", g, """
            SELECT CAST(date_trunc('month', return_date) AS DATE) AS order_month,
                   count(*) AS n_returns, coalesce(sum(amount), 0) AS returned_amount
            FROM $ref(returned_orders)
            GROUP BY 1
        """),
        Model("fulfilment_month", g, """
            WITH pivoted AS (
                SELECT order_month,
                       CAST(sum(n_orders) AS BIGINT) AS n_orders,
                       CAST(coalesce(sum(n_orders) FILTER (WHERE status = 'completed'), 0) AS BIGINT)
                           AS n_completed,
                       CAST(coalesce(sum(n_orders) FILTER (WHERE status = 'shipped'), 0) AS BIGINT)
                           AS n_shipped,
                       CAST(coalesce(sum(n_orders) FILTER (WHERE status = 'pending'), 0) AS BIGINT)
                           AS n_pending
                FROM $ref(status_month)
                GROUP BY order_month
            )
            SELECT p.order_month, p.n_orders, p.n_completed, p.n_shipped, p.n_pending,
                   coalesce(r.n_returns, 0) AS n_returns,
                   coalesce(r.n_returns, 0) / (p.n_orders + coalesce(r.n_returns, 0)) AS return_rate
            FROM pivoted p
            LEFT JOIN $ref(returns_month) r ON r.order_month = p.order_month
        """),
        Model("new_customers_month", g, """
            SELECT CAST(date_trunc('month', first_order_date) AS DATE) AS order_month,
                   count(*) AS new_customers, sum(revenue) AS new_customer_lifetime_revenue
            FROM $ref(customer_revenue)
            GROUP BY 1
        """),
        Model("growth_dashboard", g, """
            WITH monthly AS (
                SELECT order_month, sum(revenue) AS revenue, CAST(sum(n_orders) AS BIGINT) AS n_orders
                FROM $ref(category_month_revenue)
                GROUP BY order_month
            )
            SELECT m.order_month, m.revenue, m.n_orders,
                   n.new_customers, r.active_customers, r.retention_rate,
                   m.revenue / lag(m.revenue) OVER (ORDER BY m.order_month) - 1 AS revenue_growth
            FROM monthly m
            LEFT JOIN $ref(new_customers_month) n ON n.order_month = m.order_month
            LEFT JOIN $ref(customer_retention) r ON r.order_month = m.order_month
        """),
        Model("weekday_region", g, """
            SELECT region, order_dow, count(*) AS n_orders, sum(amount) AS revenue
            FROM $ref(orders_clean)
            GROUP BY region, order_dow
        """),
        Model("region_weekday_index", g, """
            SELECT region, order_dow, revenue,
                   revenue / avg(revenue) OVER (PARTITION BY region) AS weekday_index
            FROM $ref(weekday_region)
        """),
        Model("product_daily", g, """
            SELECT product_id, order_date, count(*) AS n_orders, sum(amount) AS revenue
            FROM $ref(order_facts)
            GROUP BY product_id, order_date
        """),
        Model("product_momentum", g, """
            WITH rolling AS (
                SELECT product_id, order_date,
                       sum(revenue) OVER (
                           PARTITION BY product_id ORDER BY order_date
                           RANGE BETWEEN INTERVAL 27 DAYS PRECEDING AND CURRENT ROW
                       ) AS revenue_28d
                FROM $ref(product_daily)
            )
            SELECT product_id, max(revenue_28d) AS best_28d_revenue, avg(revenue_28d) AS avg_28d_revenue,
                   max(order_date) AS last_order_date
            FROM rolling
            GROUP BY product_id
        """),
        Model("category_region_matrix", g, """
            SELECT category, region, CAST(sum(n_orders) AS BIGINT) AS n_orders, sum(revenue) AS revenue,
                   count(*) AS n_products
            FROM $ref(region_product_revenue)
            GROUP BY category, region
        """),
        Model("category_leaders", g, """
            SELECT category, region, revenue,
                   rank() OVER (PARTITION BY category ORDER BY revenue DESC, region) AS region_rank,
                   revenue / sum(revenue) OVER (PARTITION BY category) AS category_share
            FROM $ref(category_region_matrix)
        """),
        Model("segment_category_mix", g, """
            SELECT segment, category, count(*) AS n_orders, sum(amount) AS revenue
            FROM $ref(order_facts)
            GROUP BY segment, category
        """),
        Model("segment_category_lift", g, """
            SELECT segment, category, n_orders,
                   (n_orders / sum(n_orders) OVER (PARTITION BY segment))
                   / (sum(n_orders) OVER (PARTITION BY category) / sum(n_orders) OVER ()) AS lift
            FROM $ref(segment_category_mix)
        """),
        Model("executive_summary", g, """
            SELECT 'total_revenue' AS kpi, CAST(sum(revenue) AS DOUBLE) AS value
            FROM $ref(region_scorecard)
            UNION ALL
            SELECT 'best_region_top10_share', max(top10_share) FROM $ref(region_scorecard)
            UNION ALL
            SELECT 'top_decile_revenue_share', max(revenue_share) FILTER (WHERE revenue_decile = 1)
            FROM $ref(decile_summary)
            UNION ALL
            SELECT 'avg_monthly_retention', avg(retention_rate) FROM $ref(growth_dashboard)
            UNION ALL
            SELECT 'avg_return_rate', avg(return_rate) FROM $ref(fulfilment_month)
        """),
    ]


def _gold_variants() -> list[Model]:
    """Parameterised gold models used when more than the hand-written ones are asked for."""
    out: list[Model] = []
    for region in REGIONS:
        out.append(Model(f"region_{region}_daily", "gold", f"""
            SELECT order_date, count(*) AS n_orders, count(DISTINCT customer_id) AS n_customers,
                   sum(amount) AS revenue
            FROM $ref(order_facts)
            WHERE region = '{region}'
            GROUP BY order_date
        """))
        out.append(Model(f"region_{region}_top_products", "gold", f"""
            SELECT product_id, category, revenue,
                   row_number() OVER (ORDER BY revenue DESC, product_id) AS revenue_rank
            FROM $ref(region_product_revenue)
            WHERE region = '{region}'
            QUALIFY revenue_rank <= 25
        """))
    for c in range(N_CATEGORIES):
        cat = f"cat_{c:02d}"
        out.append(Model(f"category_{cat}_daily", "gold", f"""
            SELECT order_date, count(*) AS n_orders, sum(amount) AS revenue
            FROM $ref(order_facts)
            WHERE category = '{cat}'
            GROUP BY order_date
        """))
        out.append(Model(f"category_{cat}_top_customers", "gold", f"""
            SELECT customer_id, count(*) AS n_orders, sum(amount) AS revenue,
                   row_number() OVER (ORDER BY sum(amount) DESC, customer_id) AS revenue_rank
            FROM $ref(order_facts)
            WHERE category = '{cat}'
            GROUP BY customer_id
            QUALIFY revenue_rank <= 50
        """))
    return out


# fmt: on


def _all_candidates() -> list[Model]:
    return _silver_and_bronze() + _gold_core() + _gold_variants()


MIN_MODELS = len(_silver_and_bronze()) + 1


def max_models() -> int:
    return len(_all_candidates())


def build_models(n: int) -> list[Model]:
    """The first ``n`` models of the description, in a valid topological order."""
    candidates = _all_candidates()
    if not MIN_MODELS <= n <= len(candidates):
        raise SystemExit(f"--models must be between {MIN_MODELS} and {len(candidates)} (got {n})")
    models = candidates[:n]
    seen: set[str] = set()
    for m in models:
        missing = [d for d in m.deps if d not in seen]
        if missing:  # a bug in the description, not a user error
            raise AssertionError(f"model {m.name} refers to {missing} before they are defined")
        if m.name in seen:
            raise AssertionError(f"duplicate model name {m.name}")
        seen.add(m.name)
    return models


def dag_shape(models: list[Model]) -> dict[str, object]:
    level: dict[str, int] = {}
    for m in models:
        level[m.name] = 1 + max((level[d] for d in m.deps), default=-1)
    widths = [sum(1 for v in level.values() if v == i) for i in range(max(level.values()) + 1)]
    downstream = {m.name: 0 for m in models}
    for m in models:
        for d in m.deps:
            downstream[d] += 1
    return {
        "models": len(models),
        "layers": {lay: sum(1 for m in models if m.layer == lay) for lay in ("bronze", "silver", "gold")},
        "edges": sum(len(m.deps) for m in models),
        "depth": len(widths),
        "widths": widths,
        "max_fan_in": max(len(m.deps) for m in models),
        "max_fan_out": max(downstream.values()),
    }


def _sql_str(value: object) -> str:
    return str(value).replace("'", "''")


def render(model: Model, side: str, parquet: Path, layers: dict[str, str]) -> str:
    """Render ``model.sql`` for ``side`` in ("dbt", "rat", "duckdb")."""
    if side == "dbt":
        ref = lambda name: f"{{{{ ref('{name}') }}}}"  # noqa: E731
        source = f"read_parquet('{_sql_str(parquet)}')"
    elif side == "rat":
        ref = lambda name: f"{{{{ ref('{layers[name]}.{name}') }}}}"  # noqa: E731
        source = f"""read_parquet('{{{{ landing_zone("{LANDING_ZONE}", "{LANDING_FILE}") }}}}')"""
    elif side == "duckdb":
        ref = lambda name: name  # noqa: E731
        source = f"read_parquet('{_sql_str(parquet)}')"
    else:  # pragma: no cover
        raise ValueError(side)
    sql = _REF_RE.sub(lambda m: ref(m.group(1)), model.sql)
    return sql.replace("$source", source)


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def project_python() -> str:
    venv_python = REPO_ROOT / ".venv" / "bin" / "python"
    return str(venv_python) if venv_python.exists() else sys.executable


def rel(path: Path) -> str:
    """A path relative to the repository root when possible (for printing and results.md)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def rm(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def run_timed(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    """Run ``cmd`` to completion, return its wall-clock seconds; raise with the log tail on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as fh:
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise BenchError(
            f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n--- last lines of {rel(log)} ---\n{tail}"
        )
    return elapsed


def duckdb_counts(db_path: Path, names: list[str]) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return {n: con.execute(f'SELECT count(*) FROM main."{n}"').fetchone()[0] for n in names}
    finally:
        con.close()


# --------------------------------------------------------------------------------------------------
# Variant: raw DuckDB (the floor)
# --------------------------------------------------------------------------------------------------


class RawDuckDB:
    key = "duckdb"

    def __init__(self, work: Path, models: list[Model], parquet: Path) -> None:
        self.dir = work / "duckdb"
        self.db = self.dir / "bench.duckdb"
        self.models = models
        self.dir.mkdir(parents=True, exist_ok=True)
        layers = {m.name: m.layer for m in models}
        manifest = {
            "db": str(self.db),
            "statements": [
                {"name": m.name, "sql": f"CREATE TABLE main.{m.name} AS\n{sql}"}
                for m, sql in ((m, render(m, "duckdb", parquet, layers)) for m in models)
            ],
        }
        write_if_changed(self.dir / "manifest.json", json.dumps(manifest, indent=1))
        for m in models:
            write_if_changed(self.dir / "sql" / f"{m.name}.sql", render(m, "duckdb", parquet, layers))

    def prepare(self) -> None:
        for p in (self.db, self.db.with_suffix(".duckdb.wal"), self.dir / "last_run.json"):
            rm(p)

    def run(self, round_no: int) -> dict[str, object]:
        cmd = [project_python(), str(Path(__file__).resolve()), "--duckdb-run-once", str(self.dir)]
        wall = run_timed(cmd, self.dir / "logs" / f"round_{round_no}.log")
        info = json.loads((self.dir / "last_run.json").read_text())
        counts = duckdb_counts(self.db, [m.name for m in self.models])
        return {"wall": wall, "inner": info["sql_seconds"], "counts": counts}


def duckdb_run_once(run_dir: Path) -> int:
    """Child process: every CREATE TABLE AS in DAG order, one connection, one process."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(manifest["db"])
    for stmt in manifest["statements"]:
        con.execute(stmt["sql"])
    con.close()
    elapsed = time.perf_counter() - t0
    (run_dir / "last_run.json").write_text(json.dumps({"sql_seconds": elapsed}))
    return 0


# --------------------------------------------------------------------------------------------------
# Variant: dbt-duckdb
# --------------------------------------------------------------------------------------------------


def ensure_dbt_venv() -> Path:
    dbt = DBT_VENV / "bin" / "dbt"
    if not dbt.exists():
        print("dbt venv missing: running bench/setup_dbt.sh ...")
        t0 = time.perf_counter()
        subprocess.run(["bash", str(BENCH_DIR / "setup_dbt.sh")], check=True)
        print(f"dbt venv ready in {time.perf_counter() - t0:.0f}s")
    return dbt


class Dbt:
    key = "dbt"

    def __init__(self, work: Path, models: list[Model], parquet: Path, threads: int) -> None:
        self.dbt = ensure_dbt_venv()
        self.dir = work / "dbt_project"
        self.db = work / "dbt.duckdb"
        self.models = models
        self.threads = threads
        layers = {m.name: m.layer for m in models}
        models_dir = self.dir / "models"
        wanted = {models_dir / m.layer / f"{m.name}.sql" for m in models}
        if models_dir.exists():  # drop models left over from a run with a larger --models
            for stale in models_dir.rglob("*.sql"):
                if stale not in wanted:
                    stale.unlink()
        for m in models:
            write_if_changed(models_dir / m.layer / f"{m.name}.sql", render(m, "dbt", parquet, layers))
        write_if_changed(
            self.dir / "dbt_project.yml",
            (
                "name: bench_dag\n"
                "version: '1.0'\n"
                "config-version: 2\n"
                "profile: bench_dag\n"
                "model-paths: ['models']\n"
                "models:\n"
                "  bench_dag:\n"
                "    +materialized: table\n"
            ),
        )
        write_if_changed(
            self.dir / "profiles.yml",
            (
                "bench_dag:\n"
                "  target: bench\n"
                "  outputs:\n"
                "    bench:\n"
                "      type: duckdb\n"
                f"      path: '{str(self.db).replace(chr(39), chr(39) * 2)}'\n"
                f"      threads: {threads}\n"
            ),
        )
        self.env = {
            **os.environ,
            # no network calls from dbt (anonymous usage stats, version check)
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_VERSION_CHECK": "false",
            "DO_NOT_TRACK": "1",
        }
        self.base = [str(self.dbt), "--no-use-colors"]
        self.common = ["--project-dir", str(self.dir), "--profiles-dir", str(self.dir)]
        # Untimed: parse once, so every timed round starts from the same partial-parse state
        # (what a developer re-running `dbt run` has).
        run_timed([*self.base, "parse", *self.common], self.dir / "logs_bench" / "parse.log", self.env)

    def version(self) -> str:
        out = subprocess.run(
            [str(self.dbt), "--version"], capture_output=True, text=True, env=self.env, check=False
        ).stdout
        core = re.search(r"installed:\s*([\w.]+)", out)
        plugin = re.search(r"duckdb:\s*([\w.]+)", out)
        return f"dbt-core {core.group(1) if core else '?'}, dbt-duckdb {plugin.group(1) if plugin else '?'}"

    def prepare(self) -> None:
        for p in (self.db, self.db.with_suffix(".duckdb.wal"), self.dir / "target" / "run_results.json"):
            rm(p)

    def run(self, round_no: int) -> dict[str, object]:
        cmd = [*self.base, "run", *self.common]
        wall = run_timed(cmd, self.dir / "logs_bench" / f"round_{round_no}.log", self.env)
        results = json.loads((self.dir / "target" / "run_results.json").read_text())
        statuses = {r["unique_id"].split(".")[-1]: r["status"] for r in results["results"]}
        bad = {k: v for k, v in statuses.items() if v != "success"}
        if bad or len(statuses) != len(self.models):
            raise BenchError(f"dbt: {len(statuses)}/{len(self.models)} models reported; not successful: {bad}")
        counts = duckdb_counts(self.db, [m.name for m in self.models])
        return {"wall": wall, "inner": float(results.get("elapsed_time") or 0.0), "counts": counts}


# --------------------------------------------------------------------------------------------------
# Variant: RAT
# --------------------------------------------------------------------------------------------------


class Rat:
    key = "rat"

    def __init__(self, work: Path, models: list[Model], parquet: Path, concurrency: int) -> None:
        self.dir = work / "rat"
        self.models = models
        layers = {m.name: m.layer for m in models}
        manifest = {
            "namespace": NAMESPACE,
            "data_dir": str(self.dir / "data"),
            "concurrency": concurrency,
            "parquet": str(parquet),
            "selection": f"{NAMESPACE}.bronze.{models[0].name}+",
            "pipelines": [{"layer": m.layer, "name": m.name, "sql": render(m, "rat", parquet, layers)} for m in models],
        }
        if models[0].layer != "bronze" or models[0].deps:
            raise AssertionError("the first model must be the bronze root")
        self.dir.mkdir(parents=True, exist_ok=True)
        write_if_changed(self.dir / "manifest.json", json.dumps(manifest, indent=1))
        for m in models:
            write_if_changed(self.dir / "sql" / m.layer / f"{m.name}.sql", render(m, "rat", parquet, layers))
        self.round_no = 0

    def version(self) -> str:
        return f"rat-jupyter {git_describe()}"

    def prepare(self) -> None:
        # Untimed: a fresh data dir with the namespace, landing file and published pipelines.
        rm(self.dir / "data")
        rm(self.dir / "last_run.json")
        self.round_no += 1
        cmd = [project_python(), str(Path(__file__).resolve()), "--rat-setup", str(self.dir)]
        run_timed(cmd, self.dir / "logs" / f"setup_{self.round_no}.log", rat_env())

    def run(self, round_no: int) -> dict[str, object]:
        cmd = [project_python(), str(Path(__file__).resolve()), "--rat-run-once", str(self.dir)]
        wall = run_timed(cmd, self.dir / "logs" / f"round_{round_no}.log", rat_env())
        info = json.loads((self.dir / "last_run.json").read_text())
        runs = info["runs"]
        if len(runs) != len(self.models):
            raise BenchError(f"RAT: {len(runs)} runs for {len(self.models)} pipelines")
        names = [r["name"] for r in runs]
        if all(names) and set(names) == {m.name for m in self.models}:
            counts: dict[str, int] | list[int] = {r["name"]: r["rows_written"] for r in runs}
        else:  # run objects do not say which pipeline they ran: compare the multiset of counts
            counts = sorted(int(r["rows_written"] or 0) for r in runs)
        return {"wall": wall, "inner": info["run_seconds"], "counts": counts, "breakdown": info}


def rat_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _rat_workspace(manifest: dict):
    from rat_jupyter.core import settings, workspace

    cfg = settings.Settings(data_dir=Path(manifest["data_dir"]), concurrency=int(manifest["concurrency"]))
    return workspace.Workspace.open(cfg)


def rat_setup(run_dir: Path) -> int:
    """Child process (untimed): create the namespace, landing file and published pipelines."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    ns = manifest["namespace"]
    Path(manifest["data_dir"]).mkdir(parents=True, exist_ok=True)
    ws = _rat_workspace(manifest)
    try:
        ws.create_namespace(ns)
        ws.create_landing_zone(ns, LANDING_ZONE)
        ws.write_file(f"{ns}/landing/{LANDING_ZONE}/{LANDING_FILE}", Path(manifest["parquet"]).read_bytes())
        for p in manifest["pipelines"]:  # topological order: refs exist before they are used
            ws.create_pipeline(ns, p["layer"], p["name"], type="sql", source=p["sql"])
            ws.publish_pipeline(ns, p["layer"], p["name"])
    finally:
        ws.close()
    return 0


def _run_name(run: object) -> str | None:
    """Which pipeline a run object belongs to: its ``name`` (RunView records carry namespace/layer/name)."""
    name = getattr(run, "name", None)
    if isinstance(name, str) and re.fullmatch(r"[a-z][a-z0-9_]*", name):
        return name
    for attr in ("pipeline", "pipeline_id", "target"):  # a PipelineId-like object
        value = getattr(run, attr, None)
        if isinstance(getattr(value, "name", None), str):
            return value.name
    return None


def rat_run_once(run_dir: Path) -> int:
    """Child process (timed by the parent): open the workspace and run the whole DAG once."""
    t0 = time.perf_counter()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    # The import cost is part of the timing.
    from rat_jupyter.core import settings, workspace  # noqa: F401

    t_import = time.perf_counter()
    ws = _rat_workspace(manifest)
    t_open = time.perf_counter()
    try:
        runs = ws.run_selection(manifest["selection"], trigger="bench", wait=True)
        t_run = time.perf_counter()
    finally:
        ws.close()
    t_close = time.perf_counter()
    summary = []
    for r in runs:
        status = getattr(r, "status", None)
        status = str(getattr(status, "value", status))
        summary.append(
            {
                "name": _run_name(r),
                "status": status,
                "error": None if getattr(r, "error", None) is None else str(r.error),
                "rows_written": getattr(r, "rows_written", None),
            }
        )
    info = {
        "import_seconds": t_import - t0,
        "open_seconds": t_open - t_import,
        "run_seconds": t_run - t_open,
        "close_seconds": t_close - t_run,
        "runs": summary,
    }
    (run_dir / "last_run.json").write_text(json.dumps(info, indent=1, default=str))
    failed = [s for s in summary if s["status"] != "success"]
    if failed or len(summary) != len(manifest["pipelines"]):
        print(
            f"RAT: {len(summary)} runs for {len(manifest['pipelines'])} pipelines; not successful:",
            file=sys.stderr,
        )
        for s in failed:
            print(f"  {s['name']}: {s['status']}: {s['error']}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------------------------------
# Machine facts, reporting
# --------------------------------------------------------------------------------------------------


def git_describe() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "(no commit)"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "rat_jupyter"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{sha}{' +uncommitted changes' if dirty else ''}"


def machine_info() -> dict[str, str]:
    hw = hardware()
    py = subprocess.run(
        [project_python(), "-c", "import sys, duckdb; print(sys.version.split()[0], duckdb.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return {
        **hw,
        "python": py[0] if py else platform.python_version(),
        "duckdb": py[1] if len(py) > 1 else "?",
    }


def fmt_s(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def build_report(
    args: argparse.Namespace,
    shape: dict,
    machine: dict,
    versions: dict[str, str],
    active: list[str],
    times: dict[str, list[float]],
    inner: dict[str, list[float]],
    rat_breakdown: list[dict],
    command: str,
) -> str:
    med = {k: median(times[k]) for k in VARIANTS}
    lines = [
        SECTION_TITLE,
        "",
        f"Produced by `{command}` on {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        f"- Machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['memory']}, {machine['os']}; "
        f"Python {machine['python']}, DuckDB {machine['duckdb']}; 1-minute load average at start {machine['load']}.",
        f"- Versions: {'; '.join(versions[k] for k in active if k in versions) or '—'}.",
        f"- Workload: {args.rows:,} source rows (Parquet); {shape['models']} models "
        f"({shape['layers']['bronze']} bronze, {shape['layers']['silver']} silver, "
        f"{shape['layers']['gold']} gold), {shape['edges']} refs, DAG depth {shape['depth']}, "
        f"models per level {shape['widths']}; every model materialised as a table.",
        f"- Method: {args.rounds} rounds, variants interleaved in the order "
        f"{', '.join(LABELS[k] for k in active)}; {args.warmup} untimed warm-up round(s). Each timed run "
        "is a fresh process against an empty target (wall clock, process start to exit). "
        f"dbt: `dbt run`, threads={args.threads}, partial parse from an untimed `dbt parse`. "
        f"RAT: `Workspace.open` + `run_selection('{NAMESPACE}.bronze.orders+')`, concurrency={args.threads}, "
        "pipelines created and published beforehand (untimed). "
        "Raw DuckDB: the same CREATE TABLE AS statements in DAG order on one connection (the floor).",
        "- Row counts of every model checked equal across the variants in every round.",
        "",
        "| round | " + " | ".join(f"{LABELS[k]} (s)" for k in active) + " |",
        "| ---: | " + " | ".join("---:" for _ in active) + " |",
    ]
    for i in range(args.rounds):
        lines.append(f"| {i + 1} | " + " | ".join(fmt_s(times[k][i]) for k in active) + " |")
    lines.append("| **median** | " + " | ".join(f"**{fmt_s(med[k])}**" for k in active) + " |")
    lines.append("")
    inner_desc = {
        "dbt": "dbt's own elapsed_time (run_results.json)",
        "rat": "run_selection() inside the process",
        "duckdb": "the SQL statements inside the process",
    }
    lines.append(
        "Median time inside the process (excludes interpreter start-up and imports): "
        + "; ".join(f"{LABELS[k]} {fmt_s(median(inner[k]))} s ({inner_desc[k]})" for k in active)
        + "."
    )
    if rat_breakdown:
        parts = {p: median([b[f"{p}_seconds"] for b in rat_breakdown]) for p in ("import", "open", "close")}
        lines.append(
            f"RAT child process medians: import {fmt_s(parts['import'])} s, "
            f"Workspace.open {fmt_s(parts['open'])} s, close {fmt_s(parts['close'])} s."
        )
    lines.append("")
    lines.append(
        f"**Ratio RAT / dbt-duckdb (medians): {ratio(med['rat'], med['dbt'])}** "
        f"— RAT / raw DuckDB: {ratio(med['rat'], med['duckdb'])}; "
        f"dbt-duckdb / raw DuckDB: {ratio(med['dbt'], med['duckdb'])}."
    )
    lines.append("")
    return "\n".join(lines)


def update_results(path: Path, section: str) -> None:
    replace_section(path, SECTION_TITLE, section)


def print_table(active: list[str], times: dict[str, list[float]], rounds: int) -> None:
    w = 14
    print("\n" + "round".ljust(8) + "".join(LABELS[k].rjust(w) for k in active))
    for i in range(rounds):
        print(str(i + 1).ljust(8) + "".join(fmt_s(times[k][i]).rjust(w) for k in active))
    print("median".ljust(8) + "".join(fmt_s(median(times[k])).rjust(w) for k in active))
    med = {k: median(times[k]) for k in VARIANTS}
    print(
        f"\nratio RAT/dbt-duckdb: {ratio(med['rat'], med['dbt'])}   "
        f"RAT/raw DuckDB: {ratio(med['rat'], med['duckdb'])}   "
        f"dbt-duckdb/raw DuckDB: {ratio(med['dbt'], med['duckdb'])}"
    )


# --------------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------------


def check_counts(round_no: int, reference: dict[str, int], key: str, counts: object) -> None:
    if isinstance(counts, dict):
        diff = {n: (reference.get(n), counts.get(n)) for n in reference if reference.get(n) != counts.get(n)}
        if diff:
            raise BenchError(f"round {round_no}: {LABELS[key]} row counts differ (expected, got): {diff}")
    else:
        if sorted(reference.values()) != counts:
            raise BenchError(
                f"round {round_no}: {LABELS[key]} row counts (as a multiset) differ: "
                f"expected {sorted(reference.values())}, got {counts}"
            )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=None, help="timed rounds per variant (default 5)")
    ap.add_argument("--rows", type=int, default=None, help="source rows (default 1,000,000)")
    ap.add_argument(
        "--models",
        type=int,
        default=None,
        help=f"models in the DAG (default 50, {MIN_MODELS}..{max_models()})",
    )
    ap.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed warm-up rounds before the timed ones (default 1, 0 with --quick)",
    )
    ap.add_argument("--threads", type=int, default=2, help="dbt threads and RAT concurrency (default 2)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: rows=100k, models=20, rounds=2, no warm-up; does not touch results.md",
    )
    ap.add_argument("--skip-dbt", action="store_true", help="do not run the dbt-duckdb variant")
    ap.add_argument("--skip-rat", action="store_true", help="do not run the RAT variant")
    ap.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help="where generated data, projects and databases go (default bench/_work)",
    )
    ap.add_argument(
        "--results-file",
        type=Path,
        default=DEFAULT_RESULTS,
        help="markdown file whose DAG section is replaced (default bench/results.md)",
    )
    ap.add_argument("--no-results", action="store_true", help="print only; do not update the results file")
    # Internal entry points of the timed/untimed child processes.
    ap.add_argument("--rat-run-once", type=Path, metavar="DIR", help="(internal) timed RAT child")
    ap.add_argument("--rat-setup", type=Path, metavar="DIR", help="(internal) untimed RAT set-up child")
    ap.add_argument("--duckdb-run-once", type=Path, metavar="DIR", help="(internal) timed raw DuckDB child")
    args = ap.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds if args.rounds is not None else (2 if quick else 5)
    args.rows = args.rows if args.rows is not None else (100_000 if quick else 1_000_000)
    args.models = args.models if args.models is not None else (20 if quick else 50)
    args.warmup = args.warmup if args.warmup is not None else (0 if quick else 1)
    if quick:
        args.no_results = True
    if args.rounds < 1 or args.rows < 1 or args.warmup < 0 or args.threads < 1:
        ap.error("--rounds, --rows and --threads must be positive, --warmup non-negative")
    return args


def command_line(argv: list[str]) -> str:
    command = " ".join([".venv/bin/python", "bench/bench_dag.py", *argv])
    if os.environ.get("MAKELEVEL") and argv == ["--rounds", "5"]:  # what the Makefile's bench target runs
        return f"make bench` (`{command}"
    return command


def main(argv: list[str] | None = None) -> int:
    raw_argv = sys.argv[1:] if argv is None else argv
    args = parse_args(raw_argv)
    if args.rat_run_once:
        return rat_run_once(args.rat_run_once.resolve())
    if args.rat_setup:
        return rat_setup(args.rat_setup.resolve())
    if args.duckdb_run_once:
        return duckdb_run_once(args.duckdb_run_once.resolve())

    work = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    models = build_models(args.models)
    shape = dag_shape(models)
    print(
        f"DAG: {shape['models']} models {shape['layers']}, {shape['edges']} refs, depth {shape['depth']}, "
        f"widths {shape['widths']}, max fan-in {shape['max_fan_in']}, max fan-out {shape['max_fan_out']}"
    )
    parquet = make_source_parquet(work, args.rows)

    machine = machine_info()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    machine["load"] = f"{load:.2f}"
    if load > 0.5 * int(machine["nproc"]):
        print(
            f"WARNING: 1-minute load average is {load:.2f} on {machine['nproc']} CPUs: something else is running, "
            "timings will be noisy",
            file=sys.stderr,
        )
    skipped = {"dbt": args.skip_dbt, "rat": args.skip_rat, "duckdb": False}
    active = [k for k in VARIANTS if not skipped[k]]
    runners: dict[str, object] = {}
    versions: dict[str, str] = {}
    try:
        if "dbt" in active:
            runners["dbt"] = Dbt(work, models, parquet, args.threads)
            versions["dbt"] = runners["dbt"].version()
        if "rat" in active:
            runners["rat"] = Rat(work, models, parquet, args.threads)
            versions["rat"] = runners["rat"].version()
        runners["duckdb"] = RawDuckDB(work, models, parquet)

        # Warm the page cache with the source file so the first variant of round 1 is not penalised.
        parquet.read_bytes()
        times: dict[str, list[float]] = {k: [] for k in VARIANTS}
        inner: dict[str, list[float]] = {k: [] for k in VARIANTS}
        rat_breakdown: list[dict] = []
        reference: dict[str, int] | None = None
        total = args.warmup + args.rounds
        for i in range(total):
            warm = i < args.warmup
            label = "warm-up" if warm else f"round {i - args.warmup + 1}/{args.rounds}"
            round_counts: dict[str, object] = {}
            for key in active:
                runner = runners[key]
                runner.prepare()
                res = runner.run(i + 1)
                round_counts[key] = res["counts"]
                extra = ""
                if key == "rat":
                    b = res["breakdown"]
                    extra = (
                        f" (import {b['import_seconds']:.2f}, open {b['open_seconds']:.2f}, "
                        f"run {b['run_seconds']:.2f}, close {b['close_seconds']:.2f})"
                    )
                    if not warm:
                        rat_breakdown.append(b)
                print(
                    f"{label:>14}  {LABELS[key]:<11} {res['wall']:7.2f}s  inner {res['inner']:6.2f}s{extra}",
                    flush=True,
                )
                if not warm:
                    times[key].append(res["wall"])
                    inner[key].append(res["inner"])
            # Raw DuckDB's counts are the reference; they must also be identical round after round.
            if reference is None:
                reference = round_counts["duckdb"]
            for key, counts in round_counts.items():
                check_counts(i + 1, reference, key, counts)
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1

    print(
        f"\nrow counts equal across {', '.join(LABELS[k] for k in active)} for all {len(models)} models; "
        f"e.g. " + ", ".join(f"{n}={reference[n]:,}" for n in list(reference)[-3:])
    )
    print_table(active, times, args.rounds)
    if not args.no_results:
        section = build_report(
            args, shape, machine, versions, active, times, inner, rat_breakdown, command_line(raw_argv)
        )
        update_results(args.results_file, section)
        print(f"\nupdated {rel(args.results_file)} ({SECTION_TITLE[3:]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
