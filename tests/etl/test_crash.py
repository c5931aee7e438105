"""A run stopped right after any commit, then run again, ends in exactly the tables a clean run
gives, with the accounting balanced and no audit row recorded twice.

`ETL_FAULT` (etl.faults) stops the run right after a chosen commit of a chosen job. The default
suite stops once after the publishing commit of every job on delta-rs (in-process); the same
chain on delta-spark, one job per layer (what differs by backend is how the next run reads the
stopped run's commits back), is marked `thorough`. A run killed in a subprocess while it holds
the lock is in tests/etl/test_concurrency.py. The full sweep over every commit point of every
job, each a hard exit (`os._exit`) in a subprocess, is marked `fault_sweep`; .ci/run runs both
marks after the default suite. Tests that start from the small sources already loaded continue
from a copy of the session's first run (tests/etl/conftest.py) instead of loading them again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl.accounting import balances
from etl.cli import new_context
from etl.faults import FAULT_EXIT_CODE, SimulatedCrash
from etl.pipeline import run_pipeline
from etl.registry import JOB_NAMES, LAYERS, RUNNABLE
from etl.runner import JobContext
from etl.settings import Backend, Settings
from tests.conftest import REPO
from tests.etl.conftest import (
    DATA_TABLES,
    Scenarios,
    assert_no_work_twice,
    assert_same_tables,
    stored,
)
from tests.helpers import (
    ITEM_COLUMNS,
    ORDER_COLUMNS,
    item,
    order,
    write_csv,
    write_sources,
    write_workbook,
)


def full_drop(source: Path) -> None:
    """A later drop that gives every job work: a renamed and a new product, a corrected order,
    the orphan line's order, and a new line."""
    write_csv(
        source / "products_may.csv",
        "product_id,department_id,department,product_name\n2,1,Garden,Product_2\n4,3,Toys,P4\n",
    )
    write_workbook(
        source / "orders_may_2025.xlsx",
        {
            "2025-04-01": [
                ORDER_COLUMNS,
                order(10001, 1002, "2025-04-01T15:30:00", 99.99),
                order(10099, 1009, "2025-04-01T13:00:00", 5),
            ]
        },
    )
    write_workbook(
        source / "order_items_may_2025.xlsx",
        {"2025-04-01": [ITEM_COLUMNS, item(6, 10099, 1009, 4, "2025-04-01T13:00:00")]},
    )


@dataclass
class Lake:
    source: Path
    lakehouse: Path
    backend: Backend

    def context(self, spark: SparkSession) -> JobContext:
        settings = Settings(
            source_dir=str(self.source),
            lakehouse_dir=str(self.lakehouse),
            backend=self.backend,
            validate=False,
        )
        return new_context(settings, spark)


def make_lake(root: Path, backend: Backend) -> Lake:
    return Lake(write_sources(root / "source"), root / "lakehouse", backend)


def loaded_lake(scenarios: Scenarios, root: Path, backend: Backend) -> Lake:
    """A lake holding the small sources after one clean run (a copy of the session's)."""
    scenarios.after_first_run(root, backend)
    return Lake(root / "source", root / "lakehouse", backend)


@pytest.fixture(scope="module")
def clean(
    spark: SparkSession, scenarios: Scenarios, tmp_path_factory: pytest.TempPathFactory
) -> JobContext:
    """What two clean runs (the sources, then the drop) give, on delta-rs: the reference for
    both backends, which give equal tables (tests/etl/test_backends.py)."""
    lake = loaded_lake(scenarios, tmp_path_factory.mktemp("clean"), "delta-rs")
    full_drop(lake.source)
    run_pipeline(lake.context(spark))
    return lake.context(spark)


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    yield monkeypatch


def assert_like_clean(ctx: JobContext, clean: JobContext) -> None:
    for table in DATA_TABLES:
        assert_same_tables(stored(ctx, table), stored(clean, table))
    assert all(b.balanced for b in balances(ctx)), balances(ctx)
    assert_no_work_twice(ctx, files=6)


# On delta-spark, one job per layer: bronze's ledger, silver's quarantine and release, gold's
# change-data-feed scope (delta-rs stops after every job, in the default suite). The delta-spark
# chain re-proves on the production backend what the delta-rs chain proves, so it is marked
# `thorough` (`.ci/run` runs it after the default suite).
SPARK_STOPS = ("bronze.orders", "silver.order_items", "gold.daily_sales")
CHAINS = [
    pytest.param("delta-rs", JOB_NAMES, id="delta-rs"),
    pytest.param("delta-spark", SPARK_STOPS, id="delta-spark", marks=pytest.mark.thorough),
]


def publishing_points(jobs: tuple[str, ...]) -> list[str]:
    """The commit that publishes each of `jobs`' output: `job:table`, in the run's order."""
    return [f"{j.spec.name}:{j.spec.output}" for j in RUNNABLE if j.spec.name in jobs]


def test_the_delta_spark_stops_cover_one_job_of_every_layer() -> None:
    layers = [j.spec.layer for j in RUNNABLE if j.spec.name in SPARK_STOPS]
    assert sorted(layers) == sorted(LAYERS)


@pytest.mark.parametrize(("backend", "jobs"), CHAINS)
def test_stopping_after_each_publish_then_running_again_is_like_a_clean_run(
    spark: SparkSession,
    backend: Backend,
    jobs: tuple[str, ...],
    scenarios: Scenarios,
    clean: JobContext,
    tmp_path: Path,
    environ: pytest.MonkeyPatch,
) -> None:
    """Each run of the drop stops right after the next job's publishing commit (the window in
    which a crash used to leave the data written and its record missing); a last run
    finishes."""
    lake = loaded_lake(scenarios, tmp_path, backend)
    full_drop(lake.source)
    points = publishing_points(jobs)
    assert {p.split(":")[0] for p in points} == set(jobs)
    for point in points:
        environ.setenv("ETL_FAULT", f"raise@{point}")
        with pytest.raises(SimulatedCrash):
            run_pipeline(lake.context(spark))
    environ.delenv("ETL_FAULT")
    run_pipeline(lake.context(spark))
    assert_like_clean(lake.context(spark), clean)


def hard_exit(lake: Lake, point: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ETL_FAULT": f"exit@{point}", "GX_ANALYTICS_ENABLED": "false"}
    command = [
        sys.executable,
        "-m",
        "etl.pipeline",
        "--source-dir",
        str(lake.source),
        "--lakehouse-dir",
        str(lake.lakehouse),
        "--backend",
        lake.backend,
        "--no-validate",
    ]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def every_commit_point(spark: SparkSession, lake: Lake, environ: pytest.MonkeyPatch) -> list[str]:
    """`job:table#n` of every commit a run of the drop makes (traced by etl.faults)."""
    trace = lake.lakehouse.parent / "commits.txt"
    environ.setenv("ETL_COMMIT_TRACE", str(trace))
    run_pipeline(lake.context(spark))
    environ.delenv("ETL_COMMIT_TRACE")
    seen: dict[str, int] = {}
    points = []
    for line in trace.read_text(encoding="utf-8").splitlines():
        job, table, _version = line.split()
        key = f"{job}:{table}"
        seen[key] = seen.get(key, 0) + 1
        points.append(f"{key}#{seen[key]}")
    return points


@pytest.mark.fault_sweep
@pytest.mark.parametrize("phase", ["first run", "later drop"])
def test_a_hard_exit_after_every_commit_point(
    spark: SparkSession,
    scenarios: Scenarios,
    clean: JobContext,
    tmp_path: Path,
    environ: pytest.MonkeyPatch,
    phase: str,
) -> None:
    """Every commit point of every job, each a real `os._exit` in its own process, on the
    default backend (the crash chains stop after publishing commits on both backends)."""
    backend: Backend = "delta-rs"

    def lake_for(root: Path) -> Lake:
        if phase == "first run":
            return make_lake(root, backend)
        lake = loaded_lake(scenarios, root, backend)
        full_drop(lake.source)
        return lake

    points = every_commit_point(spark, lake_for(tmp_path / "probe"), environ)
    assert {p.split(":")[0] for p in points} >= {j.spec.name for j in RUNNABLE[3:]}
    for i, point in enumerate(points):
        lake = lake_for(tmp_path / f"point-{i}")
        killed = hard_exit(lake, point)
        assert killed.returncode == FAULT_EXIT_CODE, (point, killed.stderr[-2000:])
        run_pipeline(lake.context(spark))  # the killed run, again
        if phase == "first run":
            full_drop(lake.source)
            run_pipeline(lake.context(spark))
        assert_like_clean(lake.context(spark), clean)
