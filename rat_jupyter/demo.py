"""Seed the ``demo`` namespace with a small medallion project and run it once.

landing CSVs → bronze (raw, typed) → silver (incremental upsert, SCD2 customers) → gold (aggregates),
with quality tests including a ``warn`` one that fires on the demo's refunds.
"""

from __future__ import annotations

import argparse
import random
from datetime import date, timedelta
from pathlib import Path

from .core.errors import Conflict
from .core.settings import Settings
from .core.workspace import Workspace
from .kernel.frontdoor import open_workspace

NS = "demo"
REGIONS = ["north", "south", "east", "west"]

PIPELINES: dict[tuple[str, str], dict[str, object]] = {
    ("bronze", "orders"): {
        "source": """-- @merge_strategy: full_refresh
-- @description: Raw orders from the landing zone, typed
SELECT
    CAST(order_id AS BIGINT)       AS order_id,
    CAST(customer_id AS INTEGER)   AS customer_id,
    CAST(order_date AS DATE)       AS order_date,
    CAST(amount AS DECIMAL(12, 2)) AS amount,
    lower(trim(status))            AS status,
    CAST(updated_at AS TIMESTAMP)  AS updated_at
FROM read_csv_auto('{{ landing_zone("orders", "*.csv") }}', union_by_name = true)
""",
        "tests": {"has_rows": "-- @severity: error\n-- @description: the landing zone produced rows\n"
                              "SELECT 1 WHERE (SELECT count(*) FROM {{ this }}) = 0\n"},
    },
    ("bronze", "customers"): {
        "source": """-- @merge_strategy: full_refresh
SELECT CAST(customer_id AS INTEGER) AS customer_id, name, lower(region) AS region, segment
FROM read_csv_auto('{{ landing_zone("customers", "*.csv") }}')
""",
    },
    ("silver", "orders"): {
        "source": """-- @merge_strategy: incremental
-- @unique_key: order_id
-- @watermark_column: updated_at
-- @description: Orders, one row per order_id, latest version wins
SELECT order_id, customer_id, order_date, amount, status, updated_at
FROM {{ ref('bronze.orders') }}
WHERE status <> 'test'
{% if is_incremental() %}
  AND updated_at > TIMESTAMP '{{ watermark_value }}'
{% endif %}
""",
        "tests": {
            "order_id_not_null": "-- @severity: error\nSELECT * FROM {{ this }} WHERE order_id IS NULL\n",
            "order_id_unique": "-- @severity: error\n-- @description: upsert keeps one row per key\n"
                               "SELECT order_id, count(*) AS n FROM {{ this }} GROUP BY 1 HAVING count(*) > 1\n",
            "amount_positive": "-- @severity: warn\n-- @description: refunds show up as negative amounts\n"
                               "-- @remediation: check the refund feed\n"
                               "SELECT order_id, amount FROM {{ this }} WHERE amount < 0\n",
        },
    },
    ("silver", "customers"): {
        "source": """-- @merge_strategy: scd2
-- @unique_key: customer_id
SELECT customer_id, name, region, segment FROM {{ ref('bronze.customers') }}
""",
    },
    ("gold", "revenue_by_day"): {
        "source": """-- @merge_strategy: full_refresh
SELECT order_date, count(*) AS orders, sum(amount) AS revenue
FROM {{ ref('silver.orders') }}
WHERE status = 'complete'
GROUP BY order_date
ORDER BY order_date
""",
        "tests": {"revenue_not_negative": "SELECT * FROM {{ this }} WHERE revenue < 0\n"},
    },
    ("gold", "revenue_by_region"): {
        "source": """-- @merge_strategy: full_refresh
SELECT c.region, count(*) AS orders, sum(o.amount) AS revenue
FROM {{ ref('silver.orders') }} o
JOIN {{ ref('silver.customers') }} c
  ON c.customer_id = o.customer_id AND c.valid_to IS NULL
WHERE o.status = 'complete'
GROUP BY c.region
ORDER BY revenue DESC
""",
    },
}


def orders_csv(month: int, rows: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    lines = ["order_id,customer_id,order_date,amount,status,updated_at"]
    start = date(2026, month, 1)
    for i in range(rows):
        oid = month * 100_000 + i
        day = start + timedelta(days=rnd.randrange(28))
        amount = round(rnd.uniform(5, 500), 2) * (-1 if rnd.random() < 0.01 else 1)
        status = rnd.choices(["complete", "pending", "cancelled"], [0.85, 0.1, 0.05])[0]
        lines.append(f"{oid},{rnd.randrange(1, 201)},{day},{amount:.2f},{status},{day} 12:00:00")
    return ("\n".join(lines) + "\n").encode()


def customers_csv(seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    lines = ["customer_id,name,region,segment"]
    for cid in range(1, 201):
        lines.append(f"{cid},Customer {cid},{rnd.choice(REGIONS)},{rnd.choice(['retail', 'business'])}")
    return ("\n".join(lines) + "\n").encode()


def seed(ws: Workspace, *, run: bool = True) -> list[object]:
    """Create the demo namespace (idempotent: an existing demo is left as it is) and run it once."""
    try:
        ws.create_namespace(NS, "Demo medallion project: landing CSVs to gold aggregates")
    except Conflict:
        return []
    ws.create_landing_zone(NS, "orders", "Monthly order exports")
    ws.create_landing_zone(NS, "customers", "Customer master data")
    ws.upload_landing_file(NS, "orders", "orders_2026_01.csv", orders_csv(1, 1500, 1), "text/csv")
    ws.upload_landing_file(NS, "orders", "orders_2026_02.csv", orders_csv(2, 1500, 2), "text/csv")
    ws.upload_landing_file(NS, "customers", "customers.csv", customers_csv(), "text/csv")
    for (layer, name), spec in PIPELINES.items():
        ws.create_pipeline(NS, layer, name, source=str(spec["source"]))
        for test, sql in dict(spec.get("tests", {})).items():  # type: ignore[call-overload]
            ws.save_test(NS, layer, name, test, sql)
        ws.publish_pipeline(NS, layer, name, "initial version")
    if not run:
        return []
    return ws.run_selection(f"{NS}.*", trigger="demo", wait=True, timeout=600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--no-run", action="store_true")
    args = parser.parse_args(argv)
    settings = Settings(data_dir=args.data_dir) if args.data_dir else Settings.from_env()
    # A running server on this data directory executes the demo's runs (client mode); else this process does.
    door = open_workspace(settings)
    try:
        runs = seed(door.workspace, run=not args.no_run)
        if not runs:
            print(f"demo namespace ready in {settings.data_dir}")
        for r in runs:
            print(f"  {r!r}{' — ' + str(r.error) if getattr(r, 'error', None) else ''}")
        failed = [r for r in runs if getattr(r, "status", "") != "success"]
        return 1 if failed else 0
    finally:
        door.close()


if __name__ == "__main__":
    raise SystemExit(main())
