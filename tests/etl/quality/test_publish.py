"""Write-audit-publish: a job validates what it is about to publish and commits only when every
error-severity expectation passed, so a failure leaves the published table as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from etl.gold import daily_sales_etl
from etl.runner import JobContext
from etl.settings import Backend
from etl.storage import Commit


# On delta-spark the default suite proves the same of the Glue entry point's silver run
# (tests/infrastructure/test_glue_entry.py: a failed expectation leaves silver.orders at its
# version); this module's delta-spark case re-proves it for a gold job in `thorough`.
@pytest.mark.parametrize(
    "backend", ["delta-rs", pytest.param("delta-spark", marks=pytest.mark.thorough)]
)
def test_a_failed_error_expectation_publishes_nothing(
    sample_lakehouses: dict[Backend, JobContext],
    backend: Backend,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Silver orders changed outside the pipeline: one order of -1,000,000. Gold daily_sales
    would then hold a negative revenue, which its suite refuses: the job exits 3, says which
    version stays published, and gold keeps its rows and its version."""
    sample = sample_lakehouses[backend]
    lakehouse = Path(shutil.copytree(sample.settings.lakehouse_dir, tmp_path / "lh"))
    store = sample.store
    orders, gold = str(lakehouse / "silver" / "orders"), str(lakehouse / "gold" / "daily_sales")
    rows = store.read(orders).localCheckpoint()
    first = rows.agg(F.min("order_id")).first()[0]  # type: ignore[index]
    huge = F.when(F.col("order_id") == first, F.lit(-1_000_000).cast("decimal(12,2)"))
    tampered = rows.withColumn("total_amount", huge.otherwise(F.col("total_amount")))
    store.overwrite(tampered, orders, Commit("tamper", "t1"), partition_by=("order_date",))
    version, before = store.version(gold), store.read(gold).localCheckpoint()

    code = daily_sales_etl.main(["--lakehouse-dir", str(lakehouse), "--backend", backend])

    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert code == 3
    assert errors == [
        "error: gold.daily_sales: expectation ExpectColumnValuesToBeBetween failed: "
        "total_revenue within [0, None] (observed 1); nothing was published: "
        f"gold/daily_sales stays at version {version}"
    ]
    assert store.version(gold) == version
    assert sorted(store.read(gold).collect()) == sorted(before.collect())
    recorded = store.read(str(lakehouse / "_audit" / "dq_results"))
    failed = recorded.where("table_name = 'gold.daily_sales' AND NOT success").collect()
    assert [r["description"] for r in failed] == ["total_revenue within [0, None]"]
