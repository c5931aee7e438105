"""Whole-pipeline scenarios shared by the end-to-end tests, built once per session.

A scenario runs the pipeline four times over one lakehouse, each run on a chosen backend:
1. `first`: the small sources of tests/helpers.py;
2. `second`: the same sources again (nothing new);
3. `third`: a later drop correcting an order and bringing the orphan line's order;
4. `fourth`: the products file sent again, unchanged, under another name.
The standard scenarios use one backend throughout; the crossed ones switch backend after the
first run, so a lakehouse written by one backend is continued by the other. The first run of a
backend happens once: a crossed scenario, and the tests that start from a lakehouse holding the
small sources (crash, restore, concurrency), continue from a copy of it.

A backend's later runs are those of the scenario that continues delta-rs's first run on it
(`Scenarios.on`): for delta-spark, the crossed scenario from delta-rs, so its first load is run
once (compared with delta-rs's, and continued by delta-rs) and its later runs once, not twice.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl.accounting import Balance, balances
from etl.pipeline import run_pipeline
from etl.registry import all_tables
from etl.runner import JobContext, JobResult
from etl.settings import BACKENDS, Backend
from tests.conftest import lakehouse_context
from tests.helpers import (
    ORDER_COLUMNS,
    StoredTable,
    assert_rows_equal,
    assert_tables_equal,
    order,
    stored_table,
    write_sources,
    write_workbook,
)

AUDIT = ("_audit/runs", "_audit/ingested_files", "_audit/dq_results")
DATA_TABLES = tuple(t for t in all_tables() if not t.startswith("_audit"))
# Columns that name a run or its clock: equal tables differ only there.
RUN_COLUMNS = ("_batch_id", "_ingested_at", "run_id", "quarantined_at")


@dataclass
class Run:
    ctx: JobContext
    results: dict[str, JobResult]
    # Every table's version and every dataset's balance right after this run: later runs of a
    # shared scenario change the tables.
    versions: dict[str, int] = field(default_factory=dict)
    balances: list[Balance] = field(default_factory=list)

    def table(self, name: str) -> DataFrame:
        """The table as this run left it (time travel: later runs do not change it)."""
        return self.ctx.store.read(self.ctx.path(name), self.versions[name])

    def stored(self, name: str) -> StoredTable:
        """The table as this run left it, read without Spark (`tests.helpers.stored_table`)."""
        return stored_table(self.ctx.path(name), self.versions[name])


def run(
    spark: SparkSession,
    source: Path,
    lakehouse: Path,
    backend: Backend,
    validate: bool = False,
) -> Run:
    ctx = lakehouse_context(spark, source, lakehouse, backend, validate)
    results = {r.job: r for r in run_pipeline(ctx)}
    versions = {
        t: ctx.store.version(ctx.path(t))
        for t in (*DATA_TABLES, *AUDIT)
        if ctx.store.exists(ctx.path(t))
    }
    return Run(ctx, results, versions, balances(ctx))


def comparable(df: DataFrame) -> DataFrame:
    """A table without the columns that name a run, in a stable column order."""
    kept = sorted(c for c in df.columns if c not in RUN_COLUMNS)
    return df.select(*kept)


def late_drop(source: Path) -> None:
    write_workbook(  # a corrected order and the orphan line's order
        source / "orders_may_2025.xlsx",
        {
            "2025-04-01": [
                ORDER_COLUMNS,
                order(10001, 1002, "2025-04-01T15:30:00", 99.99),
                order(10099, 1009, "2025-04-01T13:00:00", 5),
            ]
        },
    )


def resend_products(source: Path) -> None:
    shutil.copy(source / "products.csv", source / "products_resent.csv")


class Scenario:
    def __init__(
        self,
        spark: SparkSession,
        root: Path,
        backends: tuple[Backend, Backend],
        begun: Scenario | None = None,
    ) -> None:
        """`begun`: a scenario on `backends[0]` whose first run this one continues from (a copy
        of that run's sources and lakehouse instead of running it again)."""
        self.spark, self.backends, self.begun = spark, backends, begun
        self.root = root
        self.source = root / "source"
        self.lakehouse = root / "lakehouse"
        self.after_first = root / "after-first-run"

    def _run(self, backend: Backend) -> Run:
        return run(self.spark, self.source, self.lakehouse, backend)

    @cached_property
    def first(self) -> Run:
        if self.begun is not None:
            return self.begun.copy_first(self.root)
        write_sources(self.source)
        first = self._run(self.backends[0])
        shutil.copytree(self.source, self.after_first / "source")
        shutil.copytree(self.lakehouse, self.after_first / "lakehouse")
        return first

    def copy_first(self, root: Path) -> Run:
        """The sources and the lakehouse as the first run left them, copied to `root`/source and
        `root`/lakehouse: the same files, tables, versions and audit rows, without running the
        pipeline again (a run on another backend, or a crash test, continues from there)."""
        first = self.first
        shutil.copytree(self.after_first / "source", root / "source")
        shutil.copytree(self.after_first / "lakehouse", root / "lakehouse")
        source, lakehouse = root / "source", root / "lakehouse"
        ctx = lakehouse_context(self.spark, source, lakehouse, self.backends[0], validate=False)
        return Run(ctx, first.results, dict(first.versions), first.balances)

    @cached_property
    def second(self) -> Run:
        assert self.first
        return self._run(self.backends[1])

    @cached_property
    def third(self) -> Run:
        assert self.second
        late_drop(self.source)
        return self._run(self.backends[1])

    @cached_property
    def fourth(self) -> Run:
        assert self.third
        resend_products(self.source)
        return self._run(self.backends[1])


class Scenarios:
    """Scenarios built on first use and kept for the session."""

    def __init__(self, spark: SparkSession, factory: pytest.TempPathFactory) -> None:
        self.spark, self.factory = spark, factory
        self.built: dict[tuple[Backend, Backend], Scenario] = {}

    def __getitem__(self, backends: tuple[Backend, Backend]) -> Scenario:
        if backends not in self.built:
            root = self.factory.mktemp("scenario-" + "-".join(backends))
            first = backends[0]
            begun = self[(first, first)] if backends[1] != first else None
            self.built[backends] = Scenario(self.spark, root, backends, begun)
        return self.built[backends]

    def on(self, backend: Backend) -> Scenario:
        """The scenario whose later runs (2 to 4) are on `backend`, after delta-rs's first run."""
        return self[("delta-rs", backend)]

    def after_first_run(self, root: Path, backend: Backend) -> Run:
        """A copy, under `root`, of the sources and the lakehouse of `backend`'s first run."""
        return self[(backend, backend)].copy_first(root)


@pytest.fixture(scope="session")
def scenarios(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Scenarios:
    return Scenarios(spark, tmp_path_factory)


@pytest.fixture(params=BACKENDS)
def scenario(request: pytest.FixtureRequest, scenarios: Scenarios) -> Iterator[Scenario]:
    """The runs after the first on each backend (`Scenarios.on`)."""
    backend: Backend = request.param
    yield scenarios.on(backend)


def assert_same_rows(actual: DataFrame, expected: DataFrame) -> None:
    assert_rows_equal(comparable(actual), comparable(expected), ignore_nullable=True)


def stored(ctx: JobContext, table: str) -> StoredTable:
    """A table of the context's lakehouse as stored now, read without Spark."""
    return stored_table(ctx.path(table))


def assert_same_tables(actual: StoredTable, expected: StoredTable) -> None:
    """Two stored tables equal, row for row, but for the columns that name a run."""
    assert_tables_equal(
        actual.without(RUN_COLUMNS), expected.without(RUN_COLUMNS), ignore_nullable=True
    )


def count_where(df: DataFrame, condition: str) -> int:
    return int(df.where(F.expr(condition)).count())


def assert_no_work_twice(ctx: JobContext, files: int) -> None:
    """No batch of work is recorded twice in `_audit/runs`, and the ledger holds each of the
    `files` source files once."""
    runs = ctx.store.read_rows(ctx.path("_audit/runs"))
    worked = [(r["job"], r["input"]) for r in runs if r["status"] == "ok"]
    twice = [w for w, n in Counter(worked).items() if n > 1]
    assert not twice, f"a batch of work is recorded twice: {twice}"
    ledger = ctx.store.read_rows(ctx.path("_audit/ingested_files"))
    assert len(ledger) == len({(f["source_file"], f["sha256"]) for f in ledger}) == files
