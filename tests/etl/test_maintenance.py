"""OPTIMIZE with Z-order and VACUUM over a whole lakehouse: contents unchanged, files compacted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl import maintenance
from etl.cli import new_context
from etl.pipeline import run_pipeline
from etl.runner import JobContext
from etl.settings import Backend, Settings
from etl.storage import Commit, MergeSpec, get_table_store
from tests.conftest import SAMPLE_DATA
from tests.helpers import assert_tables_equal, stored_table
from tests.infrastructure.glue_platform import GlueBatch, Submitted


def args(lakehouse: Path, backend: Backend, *extra: str) -> list[str]:
    return ["--lakehouse-dir", str(lakehouse), "--backend", backend, *extra]


def assert_maintained(spark: SparkSession, backend: Backend, before: Path, after: Path) -> None:
    """Every table of `after` (a copy of `before`, maintained) holds the rows of `before`,
    Z-ordered tables were rewritten, and a run over `after` finds nothing new (the jobs' state
    survives maintenance)."""
    store = get_table_store(spark, backend)
    tables = [table for table, *_ in maintenance.maintained_tables()]
    present = [t for t in tables if store.exists(str(before / t))]
    assert {"_audit/runs", "_audit/dq_results", "_audit/ingested_files"} <= set(present)
    for t in present:
        assert_tables_equal(stored_table(str(after / t)), stored_table(str(before / t)))
    operations = [h.operation for h in store.history(str(after / "silver" / "order_items"))]
    assert "OPTIMIZE" in operations
    settings = Settings(source_dir=str(SAMPLE_DATA), lakehouse_dir=str(after), backend=backend)
    results = run_pipeline(new_context(settings, spark))
    assert {r.status for r in results} == {"nothing new"}


@pytest.mark.parametrize(
    "backend", ["delta-rs", pytest.param("delta-spark", marks=pytest.mark.thorough)]
)
def test_maintenance_keeps_every_table_and_z_orders(
    spark: SparkSession,
    backend: Backend,
    sample_lakehouses: dict[Backend, JobContext],
    tmp_path: Path,
) -> None:
    """`python -m etl.maintenance` on a copy of the sample lakehouse each backend wrote. (The
    default suite maintains the delta-spark lakehouse as AWS does, through the Glue entry point,
    below; `thorough` also runs this command on it.)"""
    before = Path(sample_lakehouses[backend].settings.lakehouse_dir)
    copied = Path(shutil.copytree(before, tmp_path / "lh"))

    assert maintenance.main(args(copied, backend)) == 0

    assert_maintained(spark, backend, before, copied)


def test_the_weekly_glue_run_keeps_every_table_and_z_orders(
    spark: SparkSession,
    glue_batch: GlueBatch,
    glue_maintenance: Submitted,
) -> None:
    """Maintenance on delta-spark as AWS runs it: the Glue entry point with `--etl_jobs
    maintenance` under spark-submit (the stand-in platform of tests/infrastructure), over a
    copy of the lakehouse the Glue layer runs wrote; it inits and commits Glue's job once."""
    assert [c["call"] for c in glue_maintenance.calls] == ["init", "commit"]
    assert glue_maintenance.calls[0]["args"]["etl_jobs"] == "maintenance"

    assert_maintained(spark, "delta-spark", glue_batch.lakehouse, glue_batch.maintained)


def test_vacuum_refuses_a_retention_below_seven_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copied = tmp_path
    assert maintenance.main(args(copied, "delta-rs", "--retention-hours", "1")) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "retention" in errors[0].lower()


def test_zorder_file_size_aims_at_sixteen_files_a_partition() -> None:
    mib = 1024 * 1024
    assert maintenance.zorder_file_bytes(30 * 32 * mib, partitions=30) == 2 * mib
    assert maintenance.zorder_file_bytes(100 * 1024, partitions=15) == 256 * 1024  # tiny: floor
    assert maintenance.zorder_file_bytes(64 * 1024 * mib, partitions=1) == 128 * mib  # cap


def test_point_query_skips_most_files_after_z_order(
    spark: SparkSession, backend: Backend, tmp_path: Path
) -> None:
    """A day of order lines over 1,000 products: after Z-order, the files holding one product
    are found from min/max statistics alone, whichever backend wrote them."""
    import pyarrow as pa
    from deltalake import DeltaTable

    store = get_table_store(spark, backend)
    path = str(tmp_path / "items")
    lines = spark.range(1_000_000).selectExpr(
        "id", "cast(id * 7919 % 1000 as bigint) as product_id", "date'2025-04-01' as order_date"
    )
    label = Commit("test", "r")
    store.merge(lines, path, MergeSpec(keys=("id",), partition_by=("order_date",)), label)
    target = maintenance.zorder_file_bytes(store.size_bytes(path), partitions=1)
    store.optimize(path, label, ("product_id",), target)

    stats = pa.table(DeltaTable(path).get_add_actions(flatten=True))
    lows = stats.column("min.product_id").to_pylist()
    highs = stats.column("max.product_id").to_pylist()
    read = sum(1 for low, high in zip(lows, highs, strict=True) if low <= 500 <= high)
    assert len(lows) >= 10
    assert read / len(lows) <= 0.1 + 1 / len(lows)
