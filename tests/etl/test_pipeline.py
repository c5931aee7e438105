"""End to end over real workbooks and real Delta tables in a temp dir, on both backends."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from etl.pipeline import main
from etl.registry import RUNNABLE, gold_tables, runnable
from etl.settings import Backend
from tests.etl.conftest import (
    AUDIT,
    DATA_TABLES,
    Run,
    Scenario,
    Scenarios,
    assert_same_rows,
    assert_same_tables,
)
from tests.helpers import assert_rows_equal, write_sources, write_workbook


def changed_rows(before: Run, after: Run, table: str) -> list[tuple[object, ...]]:
    rows = after.table(table).exceptAll(before.table(table)).collect()
    return sorted(tuple(r) for r in rows)


def test_every_input_row_is_accounted_for(
    scenarios: Scenarios, backend: Backend, spark: SparkSession
) -> None:
    first = scenarios[(backend, backend)].first  # the backend's own first load
    orders = first.results["silver.orders"]
    assert (orders.rows_read, orders.inserted, orders.rejected, orders.duplicates) == (5, 3, 1, 1)
    items = first.results["silver.order_items"]
    assert (items.rows_read, items.inserted, items.rejected, items.duplicates) == (5, 4, 1, 0)
    assert items.rejected_by_reason == {"order_id.no_parent": 1}
    accounts = [(b.dataset, b.bronze, b.silver, b.quarantine, b.duplicates) for b in first.balances]
    assert accounts == [
        ("products", 3, 2, 1, 0),
        ("orders", 5, 3, 1, 1),
        ("order_items", 5, 4, 1, 0),
    ]

    quarantine = first.table("quarantine/orders").select(
        "order_id", "total_amount", "_source_file", "_source_sheet", "_source_row", "reasons"
    )
    expected = spark.createDataFrame(
        [("10002", "-1", "orders_apr_2025.xlsx", "2025-04-01", 4, ["total_amount.negative"])],
        quarantine.schema,
    )
    assert_df_equality(quarantine, expected)

    silver_orders = first.table("silver/orders").select(
        "order_id", "user_id", "total_amount", "_source_sheet"
    )
    expected_orders = spark.createDataFrame(
        [
            (10000, 1001, Decimal("10.50"), "2025-04-02"),  # tie on timestamp: later sheet wins
            (10001, 1002, Decimal("20.00"), "2025-04-01"),
            (10003, 1001, Decimal("30.25"), "2025-04-02"),
        ],
        silver_orders.schema,
    )
    assert_rows_equal(silver_orders, expected_orders)


def test_a_run_with_nothing_new_writes_nothing(scenario: Scenario) -> None:
    first, second = scenario.first, scenario.second
    assert second.results["bronze.orders"].skipped_files == 1
    assert {r.status for r in second.results.values()} == {"nothing new"}
    assert list(second.results) == [j.spec.name for j in RUNNABLE]  # every job reported
    assert second.versions == first.versions  # not one commit, audit tables included


def test_late_correction_updates_exactly_those_orders_and_their_gold_rows(
    scenario: Scenario,
) -> None:
    second, third = scenario.second, scenario.third
    orders = third.results["silver.orders"]
    assert (orders.rows_read, orders.updated, orders.inserted) == (2, 1, 1)
    silver = changed_rows(second, third, "silver/orders")
    assert [(r[0], r[4]) for r in silver] == [(10001, Decimal("99.99")), (10099, Decimal("5.00"))]
    daily = changed_rows(second, third, "gold/daily_sales")
    # 10.50 + 99.99 (was 20.00) + 5.00 (new order)
    assert [(str(r[0]), r[2]) for r in daily] == [("2025-04-01", Decimal("115.49"))]
    customers = third.table("gold/customer_insights").exceptAll(
        second.table("gold/customer_insights")
    )
    assert sorted((r["user_id"], r["total_spend"]) for r in customers.collect()) == [
        (1002, Decimal("99.99")),
        (1009, Decimal("5.00")),
    ]


def test_orphan_line_reaches_silver_when_its_order_arrives(scenario: Scenario) -> None:
    third = scenario.third
    items = third.results["silver.order_items"]
    assert (items.rows_read, items.retried, items.inserted, items.released) == (0, 1, 1, 1)
    assert third.table("quarantine/order_items").count() == 0
    assert {r["id"] for r in third.table("silver/order_items").collect()} == {1, 2, 3, 4, 5}
    customer = third.table("gold/customer_insights").where("user_id = 1009").collect()
    assert [(r["total_orders"], r["total_items"]) for r in customer] == [(1, 1)]
    product = third.table("gold/product_performance").where("product_id = 1").collect()
    assert [r["units_sold"] for r in product] == [3]  # lines 1, 3 and the released 4
    assert all(b.balanced for b in third.balances)


@pytest.mark.parametrize("name", gold_tables())
def test_incremental_gold_equals_a_full_rebuild(scenario: Scenario, name: str) -> None:
    """Runs 3 and 4 rebuilt only the touched keys; the result is what a full rebuild gives."""
    fourth = scenario.fourth
    job = runnable(f"gold.{name}")
    tables = {d: fourth.table(f"silver/{d}") for d in (s.split("/")[1] for s in job.spec.reads)}
    expected = job.table.build(tables)  # type: ignore[attr-defined]
    assert_same_rows(fourth.table(f"gold/{name}"), expected)


def test_later_drop_rebuilds_only_the_touched_gold_keys(scenario: Scenario) -> None:
    # The drop changes order 10001 and adds order 10099, both on 2025-04-01, and releases
    # line 4 (product 1); the other day and product 2 are not recomputed.
    third = scenario.third
    assert third.results["gold.daily_sales"].rows_read == 1
    assert third.results["gold.product_performance"].rows_read == 1
    assert third.results["gold.customer_insights"].rows_read == 2  # users 1002 and 1009
    # department_analytics has no scope (shares need every unit) and is rebuilt in full.
    assert third.results["gold.department_analytics"].rows_read == 2


def test_an_identical_file_sent_again_changes_nothing_downstream(scenario: Scenario) -> None:
    third, fourth = scenario.third, scenario.fourth
    products = fourth.results["silver.products"]
    assert (products.rows_read, products.inserted, products.updated) == (3, 0, 0)
    assert products.duplicates == 2 and products.rejected == 1
    for table in DATA_TABLES:
        if not table.startswith(("bronze/products", "quarantine/products")):
            assert_same_tables(fourth.stored(table), third.stored(table))
    for name in gold_tables():
        assert fourth.results[f"gold.{name}"].status == "nothing new"
        assert fourth.versions[f"gold/{name}"] == third.versions[f"gold/{name}"]
    assert all(b.balanced for b in fourth.balances)


def test_audit_tables_hold_one_row_per_job_that_ran(scenario: Scenario) -> None:
    fourth = scenario.fourth
    runs = fourth.table("_audit/runs").collect()
    ran = [
        r
        for run in (scenario.first, scenario.third, scenario.fourth)
        for r in run.results.values()
        if r.status != "nothing new"
    ]
    assert len(runs) == len(ran)
    assert len({(r["run_id"], r["job"]) for r in runs}) == len(runs)
    ledger = fourth.table("_audit/ingested_files").collect()
    assert sorted(r["source_file"] for r in ledger) == [
        "order_items_apr_2025.xlsx",
        "orders_apr_2025.xlsx",
        "orders_may_2025.xlsx",
        "products.csv",
        "products_resent.csv",
    ]
    assert set(AUDIT) - {"_audit/dq_results"} <= set(fourth.versions)


def test_bad_file_fails_with_one_line_and_writes_nothing(
    tmp_path: Path, lakehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_sources(tmp_path / "source")
    write_workbook(
        source / "orders_may_2025.xlsx",
        {
            "2025-05-01": [
                ["order_num", "order_id", "customer", "order_timestamp", "total_amount", "date"]
            ]
        },
    )
    code = main(["--source-dir", str(source), "--lakehouse-dir", str(lakehouse)])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert err == (
        "error: file orders_may_2025.xlsx, sheet '2025-05-01', row 1, column 'user_id': "
        "missing required column(s) user_id; header is: order_num, order_id, customer, "
        "order_timestamp, total_amount, date"
    )
    assert not lakehouse.exists()  # checked before any table; the new folder is removed
