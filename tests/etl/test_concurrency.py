"""Two runs at once: the second is refused with a message naming the first (exit 2), and no row
is lost; watermarks follow Delta versions, so commits whose clocks disagree lose nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl.accounting import balances
from etl.cli import new_context
from etl.pipeline import run_pipeline
from etl.settings import Backend, Settings
from tests.conftest import REPO
from tests.etl.conftest import DATA_TABLES, Scenarios, assert_same_rows, late_drop
from tests.helpers import write_sources


def start(source: Path, lakehouse: Path, *, hold: Path | None = None) -> subprocess.Popen[str]:
    """The pipeline in its own process; with `hold`, it pauses after bronze until the file
    `hold` exists (a slow run)."""
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    if hold is not None:
        env["ETL_FAULT"] = f"wait={hold}@bronze.order_items:_audit/runs"
    command = [sys.executable, "-m", "etl.pipeline", "--source-dir", str(source)]
    command += ["--lakehouse-dir", str(lakehouse), "--no-validate"]
    return subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def test_a_second_run_is_refused_while_the_first_holds_the_lakehouse(
    spark: SparkSession, scenarios: Scenarios, tmp_path: Path
) -> None:
    source, lakehouse = write_sources(tmp_path / "source"), tmp_path / "lakehouse"
    later = write_sources(tmp_path / "later")
    late_drop(later)
    hold, release = tmp_path / "release", tmp_path / "release"
    slow = start(source, lakehouse, hold=hold)
    wait_for(lakehouse / "bronze" / "order_items" / "_delta_log", slow)

    # the same drop, and a different drop, while the first run is paused after bronze
    for folder in (source, later):
        refused = start(folder, lakehouse)
        _out, err = refused.communicate(timeout=600)
        assert refused.returncode == 2, err[-2000:]
        message = err.strip().splitlines()[-1]
        assert message.startswith(f"error: the lakehouse {lakehouse} is in use by run ")
        assert f"process {slow.pid} on " in message
        assert message.endswith(
            f"or, if that process no longer runs, delete {lakehouse}/_lock.json"
        )

    release.touch()
    _out, err = slow.communicate(timeout=900)
    assert slow.returncode == 0, err[-2000:]
    ctx = new_context(Settings(source_dir=str(later), lakehouse_dir=str(lakehouse)), spark)
    run_pipeline(ctx)  # the refused drop, now
    clean = scenarios[("delta-rs", "delta-rs")].third
    for table in DATA_TABLES:
        assert_same_rows(ctx.store.read(ctx.path(table)), clean.table(table))
    assert all(b.balanced for b in balances(ctx))
    assert not (lakehouse / "_lock.json").exists()


@pytest.mark.parametrize(
    "backend", ["delta-rs", pytest.param("delta-spark", marks=pytest.mark.thorough)]
)
def test_a_commit_with_an_older_clock_after_a_newer_one_is_not_skipped(
    spark: SparkSession, backend: Backend, scenarios: Scenarios, tmp_path: Path
) -> None:
    """The late run's bronze rows carry an earlier ingestion time than the rows silver already
    processed; silver reads by version, so it still takes them."""
    scenarios.after_first_run(tmp_path, backend)  # the small sources, loaded once
    source, lakehouse = tmp_path / "source", tmp_path / "lakehouse"
    late_drop(source)
    settings = Settings(source_dir=str(source), lakehouse_dir=str(lakehouse), backend=backend)
    earlier = new_context(settings, spark)
    earlier.started_at = datetime.now(UTC) - timedelta(days=1)  # a clock a day behind
    run_pipeline(earlier, "bronze")
    run_pipeline(new_context(settings, spark), "silver,gold")
    ctx = new_context(settings, spark)
    clean = scenarios[(backend, backend)].third
    for table in DATA_TABLES:
        if not table.startswith("bronze"):
            assert_same_rows(ctx.store.read(ctx.path(table)), clean.table(table))
    assert all(b.balanced for b in balances(ctx))
