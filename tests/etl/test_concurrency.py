"""Two runs at once: the second is refused with a message naming the first (exit 2); a run killed
while it holds the lakehouse leaves its lock, which the next run takes over, and no row is lost.
Watermarks follow Delta versions, so commits whose clocks disagree lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl.accounting import balances
from etl.cli import new_context
from etl.pipeline import run_pipeline
from etl.settings import Backend, Settings
from tests.conftest import REPO
from tests.etl.conftest import (
    DATA_TABLES,
    Scenarios,
    assert_no_work_twice,
    assert_same_tables,
    late_drop,
    stored,
)
from tests.helpers import write_sources

# Where the held run pauses: right after silver.orders published its rows, before its bookkeeping
# (the point a crash used to lose a record at).
HOLD_AT = ("silver.orders", "silver/orders")


def start(source: Path, lakehouse: Path, *, trace: Path | None = None) -> subprocess.Popen[str]:
    """The pipeline in its own process; with `trace`, a run that pauses for good at `HOLD_AT`
    (listing its commits in `trace`, the last one the pause's, and its output in `trace`.err)."""
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    command = [sys.executable, "-m", "etl.pipeline", "--source-dir", str(source)]
    command += ["--lakehouse-dir", str(lakehouse), "--no-validate"]
    if trace is None:
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    job, table = HOLD_AT
    env["ETL_FAULT"] = f"wait={trace.parent / 'never'}@{job}:{table}"
    env["ETL_COMMIT_TRACE"] = str(trace)
    with open(trace.with_suffix(".err"), "w", encoding="utf-8") as output:  # never a full pipe
        return subprocess.Popen(
            command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, text=True
        )


def wait_until_held(trace: Path, process: subprocess.Popen[str], timeout: float = 600) -> None:
    held = "{} {} ".format(*HOLD_AT)
    deadline = time.monotonic() + timeout
    while not (trace.exists() and held in trace.read_text(encoding="utf-8")):
        if process.poll() is not None:
            output = trace.with_suffix(".err").read_text(encoding="utf-8")
            pytest.fail(f"the held run exited {process.returncode}:\n{output[-2000:]}")
        assert time.monotonic() < deadline, f"the run never reached {HOLD_AT}"
        time.sleep(0.2)


@dataclass
class Held:
    """A first run paused for good at `HOLD_AT` over `lakehouse`, fed from `source`; `later`
    holds the same files and a late drop."""

    source: Path
    lakehouse: Path
    later: Path
    trace: Path
    process: subprocess.Popen[str]


LOCK_TEST = "test_a_run_is_refused_while_another_holds_the_lakehouse_and_takes_over_its_killed_lock"


@pytest.fixture(scope="module", autouse=True)
def held(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Held | None]:
    """When the lock test is selected, its first run starts with the module's first test and
    proceeds in its own process while the tests before the lock test run (it pauses at
    `HOLD_AT` and waits there)."""
    if not any(item.name == LOCK_TEST for item in request.session.items):
        yield None
        return
    root = tmp_path_factory.mktemp("held")
    source, lakehouse = write_sources(root / "source"), root / "lakehouse"
    later = write_sources(root / "later")
    late_drop(later)
    trace = root / "commits.txt"
    run = Held(source, lakehouse, later, trace, start(source, lakehouse, trace=trace))
    yield run
    if run.process.poll() is None:  # the lock test failed before it killed the run
        run.process.kill()
        run.process.wait(timeout=120)


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
    clean = scenarios.on(backend).third
    for table in DATA_TABLES:
        if not table.startswith("bronze"):
            assert_same_tables(stored(ctx, table), clean.stored(table))
    assert all(b.balanced for b in balances(ctx))


def test_a_run_is_refused_while_another_holds_the_lakehouse_and_takes_over_its_killed_lock(
    spark: SparkSession, scenarios: Scenarios, held: Held | None
) -> None:
    """A first run pauses in the middle of silver; the same drop and a different drop are each
    refused (exit 2, one line naming the first run). The first run is then killed (SIGKILL: its
    lock is left behind), and the different drop's run takes the stale lock over and ends in the
    tables of two clean runs, with nothing lost and no work recorded twice."""
    assert held is not None
    source, lakehouse, later = held.source, held.lakehouse, held.later
    wait_until_held(held.trace, held.process)

    for folder in (source, later):
        refused = start(folder, lakehouse)
        _out, err = refused.communicate(timeout=600)
        assert refused.returncode == 2, err[-2000:]
        message = err.strip().splitlines()[-1]
        assert message.startswith(f"error: the lakehouse {lakehouse} is in use by run ")
        assert f"process {held.process.pid} on " in message
        assert message.endswith(
            f"or, if that process no longer runs, delete {lakehouse}/_lock.json"
        )

    held.process.kill()
    held.process.wait(timeout=120)
    assert held.process.returncode == -signal.SIGKILL
    assert (lakehouse / "_lock.json").exists()  # a killed run cleans nothing up
    ctx = new_context(Settings(source_dir=str(later), lakehouse_dir=str(lakehouse)), spark)
    run_pipeline(ctx)  # takes the stale lock over: the killed run's rest, then the refused drop
    clean = scenarios[("delta-rs", "delta-rs")].third
    for table in DATA_TABLES:
        assert_same_tables(stored(ctx, table), clean.stored(table))
    assert all(b.balanced for b in balances(ctx))
    assert_no_work_twice(ctx, files=len(list(later.iterdir())))
    assert not (lakehouse / "_lock.json").exists()
