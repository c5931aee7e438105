"""The gold job shared by every aggregate: read → transform → check → write.

- read: the silver tables the aggregate reads, pinned at their current versions, and, when the
  table was published before, the change data feed of each since the version it consumed;
- transform: the gold keys those changes touch (`GoldTable.touched`), rebuilt from silver
  limited to them (`GoldTable.limit`); keys left without rows become deletions. A table without
  `touched`, or whose changes it cannot scope, is rebuilt in full;
- check: the table's expectations on the table as it will be after the write;
- write: one MERGE on the key that rewrites only rows whose values changed, in a commit that
  records the silver versions consumed. Unchanged silver tables mean nothing to do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.bookkeeping import (
    DATA,
    MARK,
    JobState,
    latest_state,
    pending_ranges,
    with_data_changes,
)
from etl.errors import EtlError
from etl.quality.expectations import NOT_EMPTY, Check, not_null, unique
from etl.quality.validate import validate
from etl.runner import DQ_RESULTS, RUNS, JobContext, JobResult, JobSpec, NothingNew
from etl.storage import CHANGE_COLUMNS, MergeSpec, changed_predicate

log = logging.getLogger(__name__)

Tables = Mapping[str, DataFrame]  # silver dataset name → its rows
OP = "_op"


@dataclass(frozen=True)
class GoldTable:
    """A gold aggregate: its key, the silver datasets it reads, how to build it, and how to
    scope a rebuild to the keys that changed.

    touched(tables, changes): the gold keys (one column named like the key) that the silver
        changes affect, or None when they cannot be scoped; `changes` holds, per dataset, the
        change data feed rows (every image: a row that moved touches both places).
    limit(tables, keys): the silver tables restricted to the rows every touched key is
        computed from.
    """

    name: str
    key: tuple[str, ...]
    reads: tuple[str, ...]
    build: Callable[[Tables], DataFrame]
    checks: tuple[Check, ...] = ()  # besides rows, key unique and key not null (always)
    zorder_by: tuple[str, ...] = ()
    touched: Callable[[Tables, Tables], DataFrame | None] | None = None
    limit: Callable[[Tables, DataFrame], Tables] | None = None
    description: str = ""


@dataclass
class GoldBatch:
    state: JobState | None
    versions: dict[str, int]  # silver table → version read
    ranges: dict[str, list[tuple[int, int]]]
    tables: dict[str, DataFrame] = field(default_factory=dict)
    keys: DataFrame | None = None  # touched keys; None: a full rebuild
    built: DataFrame | None = None  # the rebuilt rows (cached)
    source: DataFrame | None = None  # the merge source
    candidate: DataFrame | None = None  # the table as it will be

    @property
    def input(self) -> str:
        spans = (
            f"{t}@" + (",".join(f"{a}-{b}" for a, b in r) or str(self.versions[t]))
            for t, r in self.ranges.items()
        )
        return "; ".join(spans)


class GoldJob:
    def __init__(self, table: GoldTable) -> None:
        self.table = table
        self.output = f"gold/{table.name}"
        self.spec = JobSpec(
            f"gold.{table.name}",
            reads=tuple(f"silver/{d}" for d in table.reads),
            writes=(self.output, RUNS, DQ_RESULTS),
            zorder_by=table.zorder_by,
            description=table.description,
        )

    def expectations(self, ctx: JobContext | None = None) -> list[Check]:
        """Every gold table has rows and a unique, complete key; then its own checks."""
        key = self.table.key
        return [NOT_EMPTY, unique(*key), *(not_null(k) for k in key), *self.table.checks]

    # ------------------------------------------------------------------------------- read

    def read(self, ctx: JobContext) -> GoldBatch | NothingNew:
        versions = {}
        for source in self.spec.reads:
            if not ctx.store.exists(ctx.path(source)):
                raise EtlError(f"no silver table at {ctx.path(source)}; run silver first")
            versions[source] = ctx.store.version(ctx.path(source))
        exists = ctx.store.exists(ctx.path(self.output))
        state = latest_state(ctx.store, ctx.path(self.output), self.spec.name) if exists else None
        ranges = {
            s: with_data_changes(
                ctx.store,
                ctx.path(s),
                pending_ranges(
                    state.consumed(s) if state else None, v, state.skip.get(s, []) if state else []
                ),
            )
            for s, v in versions.items()
        }
        if state is not None and not any(ranges.values()):
            return NothingNew("no silver table it reads changed")
        batch = GoldBatch(state, versions, ranges)
        batch.tables = {
            s.split("/", 1)[1]: ctx.store.read(ctx.path(s), v) for s, v in versions.items()
        }
        return batch

    def _changes(self, ctx: JobContext, batch: GoldBatch) -> dict[str, DataFrame]:
        changes = {}
        for source, ranges in batch.ranges.items():
            dataset = source.split("/", 1)[1]
            rows = batch.tables[dataset].limit(0)
            for a, b in ranges:
                feed = ctx.store.read_changes(ctx.path(source), a, b)
                rows = rows.unionByName(feed.drop(*CHANGE_COLUMNS))
            changes[dataset] = rows
        return changes

    # -------------------------------------------------------------------------- transform

    def transform(self, ctx: JobContext, batch: GoldBatch) -> GoldBatch:
        gold = self.table
        if batch.state is not None and gold.touched is not None:
            batch.keys = gold.touched(batch.tables, self._changes(ctx, batch))
        if batch.keys is None:
            built = gold.build(batch.tables).cache()
            batch.built = built
            batch.source = built
            batch.candidate = built
            return batch
        assert gold.limit is not None, f"{gold.name}: touched without limit"
        keys = batch.keys.distinct().cache()
        batch.keys = keys
        built = gold.build(gold.limit(batch.tables, keys)).cache()
        vanished = keys.join(built.select(*gold.key), list(gold.key), "left_anti")
        others = [
            F.lit(None).cast(f.dataType).alias(f.name)
            for f in built.schema.fields
            if f.name not in gold.key
        ]
        deletions = vanished.select(*gold.key, *others).withColumn(OP, F.lit("delete"))
        batch.built = built
        batch.source = built.withColumn(OP, F.lit("upsert")).unionByName(deletions)
        current = ctx.store.read(ctx.path(self.output))
        batch.candidate = current.join(keys, list(gold.key), "left_anti").unionByName(built)
        return batch

    # ------------------------------------------------------------------------------ check

    def check(self, ctx: JobContext, batch: GoldBatch) -> None:
        if not ctx.settings.validate or batch.candidate is None:
            return
        validate(ctx, self.output, batch.candidate, self.expectations(), batch.input, batch.tables)

    # ------------------------------------------------------------------------------ write

    def write(self, ctx: JobContext, batch: GoldBatch) -> JobResult:
        assert batch.source is not None
        gold = self.table
        result = JobResult(self.spec.name, ctx.path(self.output), input=batch.input)
        values = [c for c in batch.source.columns if c not in (*gold.key, OP)]
        spec = MergeSpec(
            keys=gold.key,
            update_when=changed_predicate(values),
            delete_unmatched_when="true" if batch.keys is None else None,
            op_column=None if batch.keys is None else OP,
        )
        label = ctx.commit(
            DATA,
            started_at=ctx.started_at.isoformat(),
            state={"sources": batch.versions, "skip": {}},
            result=result.counts(),
            scope="full" if batch.keys is None else "touched keys",
        )
        merged = ctx.store.merge(batch.source, ctx.path(self.output), spec, label)
        if not merged.committed:
            ctx.store.mark(ctx.path(self.output), label.as_kind(MARK))
        result.rows_read = merged.source_rows
        result.inserted, result.updated, result.deleted = (
            merged.inserted,
            merged.updated,
            merged.deleted,
        )
        for frame in (batch.built, batch.keys):
            if frame is not None:
                frame.unpersist()
        return result
