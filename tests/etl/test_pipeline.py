"""End to end over real workbooks and real Delta tables in a temp dir."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession

from etl.accounting import balances
from etl.jobs import JobContext, JobResult, module_of, new_context
from etl.pipeline import main, run_pipeline, select_jobs
from etl.settings import GOLD_TABLES, Settings
from tests.helpers import ORDER_COLUMNS, order, write_sources, write_workbook

ALL_TABLES = [
    *[
        f"{layer}/{d}"
        for layer in ("bronze", "silver", "quarantine")
        for d in ("products", "orders", "order_items")
    ],
    "gold/daily_sales",
    "gold/product_performance",
    "gold/department_analytics",
    "gold/customer_insights",
]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_sources(tmp_path / "source")


@dataclass
class Run:
    ctx: JobContext
    results: dict[str, JobResult]
    tables: dict[str, DataFrame]
    versions: dict[str, int]


def run(spark: SparkSession, source: Path, lakehouse: Path) -> Run:
    settings = Settings(source_dir=str(source), lakehouse_dir=str(lakehouse), validate=False)
    ctx = new_context(settings, spark)
    results = {r.job: r for r in run_pipeline(ctx, select_jobs())}
    paths = {t: ctx.path(*t.split("/")) for t in ALL_TABLES}
    tables = {t: ctx.store.read(p).localCheckpoint() for t, p in paths.items()}
    versions = {t: ctx.store.version(p) for t, p in paths.items()}
    return Run(ctx, results, tables, versions)


# Three runs over one lakehouse, shared by the tests below: a pipeline run costs seconds.
@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("e2e")
    return write_sources(root / "source"), root / "lakehouse"


@pytest.fixture(scope="module")
def first(spark: SparkSession, folders: tuple[Path, Path]) -> Run:
    return run(spark, *folders)


@pytest.fixture(scope="module")
def second(spark: SparkSession, folders: tuple[Path, Path], first: Run) -> Run:
    return run(spark, *folders)  # the same inputs again


@pytest.fixture(scope="module")
def third(spark: SparkSession, folders: tuple[Path, Path], second: Run) -> Run:
    source, _ = folders
    write_workbook(  # a later drop: a corrected order and the orphan item's order
        source / "orders_may_2025.xlsx",
        {
            "2025-04-01": [
                ORDER_COLUMNS,
                order(10001, 1002, "2025-04-01T15:30:00", 99.99),
                order(10099, 1009, "2025-04-01T13:00:00", 5),
            ]
        },
    )
    return run(spark, *folders)


def changed_rows(before: Run, after: Run, table: str) -> DataFrame:
    return after.tables[table].exceptAll(before.tables[table])


def test_every_input_row_is_accounted_for(first: Run, spark: SparkSession) -> None:
    ctx, results = first.ctx, first.results
    orders = results["silver.orders"]
    assert (orders.rows_read, orders.inserted, orders.rejected, orders.duplicates) == (5, 3, 1, 1)
    items = results["silver.order_items"]
    assert (items.rows_read, items.inserted, items.rejected, items.duplicates) == (5, 4, 1, 0)
    assert items.rejected_by_reason == {"order_id.no_parent": 1}
    assert [(b.dataset, b.bronze, b.silver, b.quarantine, b.duplicates) for b in balances(ctx)] == [
        ("products", 3, 2, 1, 0),
        ("orders", 5, 3, 1, 1),
        ("order_items", 5, 4, 1, 0),
    ]

    quarantine = first.tables["quarantine/orders"].select(
        "order_id", "total_amount", "_source_file", "_source_sheet", "_source_row", "reasons"
    )
    expected = spark.createDataFrame(
        [("10002", "-1", "orders_apr_2025.xlsx", "2025-04-01", 4, ["total_amount.negative"])],
        quarantine.schema,
    )
    assert_df_equality(quarantine, expected)

    silver_orders = first.tables["silver/orders"].select(
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
    assert_df_equality(silver_orders, expected_orders, ignore_row_order=True)


def test_second_run_changes_no_table(first: Run, second: Run) -> None:
    assert second.results["bronze.orders"].skipped_files == 1
    for table in ALL_TABLES:
        assert_df_equality(second.tables[table], first.tables[table], ignore_row_order=True)
    assert second.versions == first.versions


def test_late_correction_updates_exactly_those_orders_and_their_gold_rows(
    second: Run, third: Run
) -> None:
    orders = third.results["silver.orders"]
    assert (orders.rows_read, orders.updated, orders.inserted) == (2, 1, 1)
    silver = changed_rows(second, third, "silver/orders").select("order_id", "total_amount")
    assert sorted(tuple(r) for r in silver.collect()) == [
        (10001, Decimal("99.99")),
        (10099, Decimal("5.00")),
    ]
    daily = changed_rows(second, third, "gold/daily_sales").collect()
    # 10.50 + 99.99 (was 20.00) + 5.00 (new order)
    assert [(str(r["order_date"]), r["total_revenue"]) for r in daily] == [
        ("2025-04-01", Decimal("115.49"))
    ]
    customers = changed_rows(second, third, "gold/customer_insights").collect()
    assert sorted((r["user_id"], r["total_spend"]) for r in customers) == [
        (1002, Decimal("99.99")),
        (1009, Decimal("5.00")),
    ]


def test_orphan_item_reaches_silver_when_its_order_arrives(third: Run) -> None:
    items = third.results["silver.order_items"]
    assert (items.rows_read, items.retried, items.inserted, items.released) == (0, 1, 1, 1)
    assert third.tables["quarantine/order_items"].count() == 0
    assert {r["id"] for r in third.tables["silver/order_items"].collect()} == {1, 2, 3, 4, 5}
    customer = third.tables["gold/customer_insights"].where("user_id = 1009").collect()
    assert [(r["total_orders"], r["total_items"]) for r in customer] == [(1, 1)]
    product = third.tables["gold/product_performance"].where("product_id = 1").collect()
    assert [r["units_sold"] for r in product] == [3]  # items 1, 3 and the released 4
    assert all(b.balanced for b in balances(third.ctx))


def test_bad_file_fails_with_one_line_and_writes_nothing(
    source: Path, lakehouse: Path, spark: SparkSession, capsys: pytest.CaptureFixture[str]
) -> None:
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
    assert not lakehouse.exists()  # every file is checked before any table is written


@pytest.mark.parametrize(
    "module",
    [
        "etl.pipeline",
        "etl.maintenance",
        *[module_of(job) for job in select_jobs()],
    ],
)
def test_every_entry_point_has_help(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib

    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(module).main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--source-dir" in out and "--lakehouse-dir" in out


@pytest.mark.parametrize("name", GOLD_TABLES)
def test_incremental_gold_equals_a_full_rebuild(third: Run, name: str) -> None:
    """Run 3 rebuilt only the touched keys; the result is what a full rebuild gives."""
    import importlib

    from etl.gold.job import read_silver

    module = importlib.import_module(f"etl.gold.{name}_etl")
    expected = module.TABLE.build(read_silver(third.ctx))
    assert_df_equality(
        third.tables[f"gold/{name}"], expected, ignore_row_order=True, ignore_nullable=True
    )


def test_later_drop_rebuilds_only_the_touched_gold_keys(third: Run) -> None:
    # The drop changes order 10001 and adds order 10099, both on 2025-04-01, and releases
    # item 4 (product 1); the other day and product 2 are not recomputed.
    assert third.results["gold.daily_sales"].rows_read == 1
    assert third.results["gold.product_performance"].rows_read == 1
    assert third.results["gold.customer_insights"].rows_read == 2  # users 1002 and 1009
    # department_analytics has no scope (shares need every unit) and is rebuilt in full.
    assert third.results["gold.department_analytics"].rows_read == 2
