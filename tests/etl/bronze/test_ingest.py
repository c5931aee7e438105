"""Bronze's transform and staging: lineage and the row hash (pure), and one staged Parquet part
per worksheet under the lakehouse, so the driver holds one sheet and executors anywhere can
read the staged rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl.bronze.ingest import STAGING, add_metadata, text_schema
from etl.bronze.orders_etl import JOB
from etl.cli import new_context
from etl.contracts import ORDERS
from etl.settings import Settings
from tests.helpers import ORDER_COLUMNS, order, write_workbook

COLUMNS = ("a", "b")
AT = dt.datetime(2025, 4, 1, 12, 0, 0)


def test_add_metadata_keeps_the_text_and_adds_lineage_and_a_content_hash(
    spark: SparkSession,
) -> None:
    source_df = spark.createDataFrame(
        [
            ("1", None, "2025-04-01", 2, None, "f.xlsx"),
            ("1", "x", "2025-04-01", 3, '{"c": "y"}', "f.xlsx"),
        ],
        text_schema(COLUMNS),
    )
    actual_df = source_df.transform(add_metadata(COLUMNS, "batch-1", AT))

    expected_df = spark.createDataFrame(
        [
            ("1", None, None, "f.xlsx", "2025-04-01", 2, "batch-1", AT),
            ("1", "x", '{"c": "y"}', "f.xlsx", "2025-04-01", 3, "batch-1", AT),
        ],
        "a string, b string, _extra string, _source_file string, _source_sheet string, "
        "_source_row int, _batch_id string, _ingested_at timestamp",
    )
    assert_df_equality(actual_df.drop("_row_hash"), expected_df, ignore_nullable=True)
    hashes = [r["_row_hash"] for r in actual_df.collect()]
    assert len(set(hashes)) == 2 and all(len(h) == 64 for h in hashes)


def test_the_row_hash_ignores_when_and_in_which_batch_a_row_arrived(spark: SparkSession) -> None:
    """The same file ingested again hashes to the same rows, so the insert-only merge adds
    nothing; a changed cell or another row number changes the hash."""
    row = ("1", "x", "s", 2, None, "f.xlsx")
    source_df = spark.createDataFrame(
        [row, ("1", "y", "s", 2, None, "f.xlsx"), ("1", "x", "s", 3, None, "f.xlsx")],
        text_schema(COLUMNS),
    )
    first = source_df.transform(add_metadata(COLUMNS, "b1", AT)).select("_row_hash")
    later = source_df.transform(add_metadata(COLUMNS, "b2", AT + dt.timedelta(days=3)))
    assert_df_equality(first, later.select("_row_hash"))
    assert first.select(F.countDistinct("_row_hash")).first()[0] == 3  # type: ignore[index]


def test_each_worksheet_is_staged_as_its_own_part_under_the_lakehouse(
    spark: SparkSession, tmp_path: Path
) -> None:
    sheets = {
        f"2025-04-0{d}": [ORDER_COLUMNS, order(100 + d, 1, f"2025-04-0{d}T10:00:00", 5)]
        for d in (1, 2, 3)
    }
    write_workbook(tmp_path / "src" / "orders_apr.xlsx", sheets)
    lakehouse = tmp_path / "lake"
    settings = Settings(source_dir=str(tmp_path / "src"), lakehouse_dir=str(lakehouse))
    ctx = new_context(settings, spark)

    parsed = JOB.read(ctx)

    staged = lakehouse / STAGING / ctx.run_id / "orders"
    assert sorted(p.name for p in staged.iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    rows = parsed.staging.read(spark, ORDERS.source_columns)  # type: ignore[union-attr]
    assert sorted(r["_source_sheet"] for r in rows.collect()) == sorted(sheets)
    parsed.staging.remove()  # type: ignore[union-attr]
    assert not staged.exists()
