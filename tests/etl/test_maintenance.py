"""OPTIMIZE with Z-order and VACUUM over a whole lakehouse: contents unchanged, files compacted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession

from etl import maintenance
from etl.runner import JobContext
from tests.conftest import SAMPLE_DATA


@pytest.fixture
def copied(sample_lakehouse: JobContext, tmp_path: Path) -> Path:
    return Path(shutil.copytree(sample_lakehouse.settings.lakehouse_dir, tmp_path / "lh"))


def args(lakehouse: Path, *extra: str) -> list[str]:
    return ["--source-dir", str(SAMPLE_DATA), "--lakehouse-dir", str(lakehouse), *extra]


def test_maintenance_keeps_every_table_and_z_orders(
    sample_lakehouse: JobContext, copied: Path
) -> None:
    store = sample_lakehouse.store
    tables = [(layer, name) for layer, name, _ in maintenance.maintained_tables()]
    present = [t for t in tables if store.exists(str(copied.joinpath(*t)))]
    before = {t: store.read(str(copied.joinpath(*t))).localCheckpoint() for t in present}

    assert maintenance.main(args(copied)) == 0

    for t in present:
        assert_df_equality(store.read(str(copied.joinpath(*t))), before[t], ignore_row_order=True)
    operations = [h.operation for h in store.history(str(copied / "silver" / "order_items"))]
    assert "OPTIMIZE" in operations
    assert ("_audit", "changes") in present


def test_vacuum_refuses_a_retention_below_seven_days(
    copied: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert maintenance.main(args(copied, "--retention-hours", "1")) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "retention" in errors[0].lower()


def test_zorder_file_size_aims_at_sixteen_files_a_partition() -> None:
    mib = 1024 * 1024
    assert maintenance.zorder_file_bytes(30 * 32 * mib, partitions=30) == 2 * mib
    assert maintenance.zorder_file_bytes(100 * 1024, partitions=15) == 256 * 1024  # tiny: floor
    assert maintenance.zorder_file_bytes(64 * 1024 * mib, partitions=1) == 128 * mib  # cap


def test_point_query_skips_most_files_after_z_order(spark: SparkSession, tmp_path: Path) -> None:
    """A day of order lines over 1,000 products: after Z-order, the files holding one product
    are found from min/max statistics alone."""
    import pyarrow as pa
    from deltalake import DeltaTable

    from etl.storage import MergeSpec, get_table_store

    store = get_table_store(spark, "delta-rs")
    path = str(tmp_path / "items")
    lines = spark.range(1_000_000).selectExpr(
        "id", "cast(id * 7919 % 1000 as bigint) as product_id", "date'2025-04-01' as order_date"
    )
    store.merge(lines, path, MergeSpec(keys=("id",), partition_by=("order_date",)))
    target = maintenance.zorder_file_bytes(store.size_bytes(path), partitions=1)
    store.optimize(path, ("product_id",), target)

    stats = pa.table(DeltaTable(path).get_add_actions(flatten=True))
    lows = stats.column("min.product_id").to_pylist()
    highs = stats.column("max.product_id").to_pylist()
    read = sum(1 for low, high in zip(lows, highs, strict=True) if low <= 500 <= high)
    assert len(lows) >= 10
    assert read / len(lows) <= 0.1 + 1 / len(lows)
