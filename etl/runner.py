"""How every job runs: read → transform → check → write, one log line per stage.

A job is an object with four methods (`Job`): `read` gathers what is new since the job last
published (`NothingNew` when nothing is, and then the job writes nothing), `transform`
computes what to publish (Spark, no I/O), `check` runs the table expectations on what is
about to be published, and `write` commits it. A failed error-severity expectation stops the
job between check and write, so the published table stays at its previous version.

The runner depends on the table store and the contracts only; the job modules depend on it, and
the registry (etl.registry) lists the jobs.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

from pyspark.sql import SparkSession

from etl.quality.expectations import Check
from etl.settings import Settings
from etl.storage import Commit, TableStore

log = logging.getLogger(__name__)

Layer = Literal["bronze", "silver", "gold"]
LAYERS: tuple[Layer, ...] = ("bronze", "silver", "gold")

RUNS = "_audit/runs"
INGESTED_FILES = "_audit/ingested_files"
DQ_RESULTS = "_audit/dq_results"
AUDIT_TABLES = (RUNS, INGESTED_FILES, DQ_RESULTS)


@dataclass(frozen=True)
class JobSpec:
    """One job: its name (`<layer>.<name>`) and the tables it reads and writes.

    The first table in `writes` is the one the job publishes (its output); `zorder_by` and
    `partition_by` describe that output's layout.
    """

    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    zorder_by: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    description: str = ""

    @property
    def layer(self) -> Layer:
        layer = self.name.split(".", 1)[0]
        assert layer in LAYERS, self.name
        return layer  # type: ignore[return-value]

    @property
    def table_name(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def output(self) -> str:
        return self.writes[0]

    @property
    def module(self) -> str:
        return f"etl.{self.layer}.{self.table_name}_etl"


@dataclass
class JobResult:
    """What one job did. Row accounting: rows_read + retried = inserted + rejected + duplicates
    (silver), rows_read = inserted + duplicates (bronze)."""

    job: str
    table: str
    status: str = "ok"  # ok | nothing new
    rows_read: int = 0
    retried: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    rejected: int = 0
    duplicates: int = 0
    released: int = 0
    seconds: float = 0.0
    version: int | None = None
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    warnings_by_reason: dict[str, int] = field(default_factory=dict)
    skipped_files: int = 0
    input: str = ""  # what the job consumed, e.g. "bronze/orders@4-6"
    table_versions: dict[str, int] = field(default_factory=dict)  # after the job
    stages: dict[str, float] = field(default_factory=dict)  # seconds of read, transform, ...

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    def counts(self) -> dict[str, Any]:
        """The figures a publishing commit records about its run."""
        names = ("rows_read", "retried", "inserted", "updated", "deleted", "rejected")
        more = ("duplicates", "released", "skipped_files", "seconds", "input")
        values = {n: getattr(self, n) for n in (*names, *more)}
        values["rejected_by_reason"] = self.rejected_by_reason
        values["warnings_by_reason"] = self.warnings_by_reason
        return values


@dataclass
class JobContext:
    """One run over one lakehouse: settings, the table store, the run's id and start."""

    settings: Settings
    store: TableStore
    spark_factory: Callable[[], SparkSession]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    job: str = ""  # the job running now; labels every commit
    warm_up: Callable[[], None] = lambda: None  # called when a job finds work to do
    memo: dict[str, Any] = field(default_factory=dict)  # what a run reads once (the ledger)
    _spark: SparkSession | None = None

    @property
    def spark(self) -> SparkSession:
        """Started on first use: a run with nothing to do never starts Spark (delta-rs)."""
        if self._spark is None:
            self._spark = self.spark_factory()
        return self._spark

    def path(self, *table: str) -> str:
        """A table's location: `path("silver/orders")` or `path("silver", "orders")`."""
        return self.settings.path("/".join(table))

    def commit(self, kind: str, **info: Any) -> Commit:
        return Commit(
            self.job, self.run_id, {"kind": kind, "batch_id": self.settings.batch_id, **info}
        )


@dataclass(frozen=True)
class NothingNew:
    """What `Job.read` returns when there is nothing to do: the job writes nothing."""

    note: str = "nothing new"
    skipped_files: int = 0


In = TypeVar("In")
Out = TypeVar("Out")


class Job(Protocol, Generic[In, Out]):
    spec: JobSpec

    def expectations(self, ctx: JobContext | None = None) -> list[Check]:
        """The table expectations `check` runs (empty for bronze); with a run's context, as
        that run sets them (its future horizon)."""
        ...

    def read(self, ctx: JobContext) -> In | NothingNew: ...

    def transform(self, ctx: JobContext, inputs: In) -> Out: ...

    def check(self, ctx: JobContext, output: Out) -> None: ...

    def write(self, ctx: JobContext, output: Out) -> JobResult: ...


@dataclass
class Stage:
    rows: int | None = None
    note: str = ""
    seconds: float = 0.0


@contextmanager
def stage(job: str, name: str, timings: dict[str, float]) -> Iterator[Stage]:
    """Time a stage, add its seconds to `timings` and log one line: rows (where known) and
    seconds."""
    record = Stage()
    started = time.perf_counter()
    yield record
    record.seconds = time.perf_counter() - started
    timings[name] = round(timings.get(name, 0.0) + record.seconds, 3)
    rows = f"{record.rows} rows, " if record.rows is not None else ""
    note = f" ({record.note})" if record.note else ""
    log.info("%s: %s: %s%.2fs%s", job, name, rows, record.seconds, note)


SideRecords = Callable[["JobContext", JobSpec, JobResult], None]


def written_versions(ctx: JobContext, spec: JobSpec) -> dict[str, int]:
    """The version of every table the job writes (but its audit row's own table), as the job
    left them: what `etl.restore` goes back to."""
    return {
        t: ctx.store.version(ctx.path(t))
        for t in spec.writes
        if t != RUNS and ctx.store.exists(ctx.path(t))
    }


def run_job(job: Job[Any, Any], ctx: JobContext, record: SideRecords) -> JobResult:
    """Run one job's four stages; `record` writes its audit row after it published."""
    spec = job.spec
    ctx.job = spec.name
    started = time.perf_counter()
    timings: dict[str, float] = {}
    with stage(spec.name, "read", timings) as s:
        inputs = job.read(ctx)
        s.note = inputs.note if isinstance(inputs, NothingNew) else ""
    if isinstance(inputs, NothingNew):
        result = JobResult(spec.name, ctx.path(spec.output), status="nothing new")
        result.skipped_files = inputs.skipped_files
    else:
        ctx.warm_up()
        with stage(spec.name, "transform", timings):
            output = job.transform(ctx, inputs)
        with stage(spec.name, "check", timings):
            job.check(ctx, output)
        with stage(spec.name, "write", timings) as s:
            result = job.write(ctx, output)
            s.rows = result.written
            result.table_versions = written_versions(ctx, spec)
            result.version = result.table_versions.get(spec.output)
    result.stages = timings
    result.seconds = round(time.perf_counter() - started, 2)
    if result.status != "nothing new":
        record(ctx, spec, result)
    log.info(
        "%s: %s: read %d, inserted %d, updated %d, rejected %d, duplicates %d in %.1fs",
        spec.name,
        result.status,
        result.rows_read + result.retried,
        result.inserted,
        result.updated,
        result.rejected,
        result.duplicates,
        result.seconds,
    )
    return result
