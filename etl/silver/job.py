"""The silver job shared by every dataset: read → transform → check → write.

- read: the bronze rows of the versions after the last one this job consumed (Delta's change
  data feed; the whole table the first time), plus the quarantined rows whose only faults are
  missing parents, when a parent table changed since the last run;
- transform: parse and check every row (etl.quality.row_rules), split valid from rejected, keep
  the latest valid row per business key;
- check: the table's expectations on the rows about to be published;
- write: rejected rows into quarantine (idempotent by `_row_hash`), then the silver MERGE whose
  commit records the bronze version consumed (the watermark) and the running totals, then the
  release from quarantine of retried rows that are now valid. A run killed after the MERGE
  leaves that release pending in the recorded state, and the next run finishes it exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.bookkeeping import (
    DATA,
    MARK,
    JobState,
    data_version,
    find_commit,
    latest_state,
    pending_ranges,
    with_data_changes,
)
from etl.contracts import Contract
from etl.errors import EtlError
from etl.quality.expectations import Check, silver_checks
from etl.quality.row_rules import check, rejected_rows, rules_for, valid_rows
from etl.quality.validate import validate
from etl.runner import DQ_RESULTS, RUNS, JobContext, JobResult, JobSpec, NothingNew
from etl.silver.conform import (
    latest_per_key,
    newer_and_different,
    quarantine_as_bronze,
    to_quarantine,
    to_silver,
)
from etl.storage import CHANGE_COLUMNS, CHANGE_TYPE, MergeSpec, changed_predicate, in_predicate

log = logging.getLogger(__name__)

RELEASE = "release"
REJECTS = "rejects"
QUARANTINE_KEY = MergeSpec(keys=("_row_hash",), update_when=changed_predicate(["reasons"]))
DELETE_BY_HASH = MergeSpec(keys=("_row_hash",), update_when="false", op_column="_op")


@dataclass
class SilverBatch:
    """What one silver run consumes, and (after transform) what it publishes."""

    state: JobState | None
    bronze_version: int
    ranges: list[tuple[int, int]]
    parents: dict[str, int]
    retry: bool
    quarantine_version: int | None
    pending_release: dict[str, Any] | None
    checked: DataFrame | None = None
    latest: DataFrame | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def input(self) -> str:
        spans = ",".join(f"{a}-{b}" for a, b in self.ranges) or "none"
        retried = f"; retry vs {self.parents}" if self.retry else ""
        return f"bronze@{spans}{retried}"


class SilverJob:
    """Publishes `silver/<dataset>` from `bronze/<dataset>`, rejected rows to quarantine."""

    def __init__(self, contract: Contract) -> None:
        self.contract = contract
        d = contract.dataset
        self.bronze, self.silver, self.quarantine = f"bronze/{d}", f"silver/{d}", f"quarantine/{d}"
        self.spec = JobSpec(
            f"silver.{d}",
            reads=(self.bronze, *(f"silver/{r.parent}" for r in contract.references)),
            writes=(self.silver, self.quarantine, RUNS, DQ_RESULTS),
            zorder_by=contract.zorder_by,
            partition_by=contract.partition_by,
            description=contract.description,
        )

    def expectations(self, ctx: JobContext | None = None) -> list[Check]:
        if ctx is None:
            return silver_checks(self.contract)
        return silver_checks(self.contract, rules_for(self.contract, *self._horizon(ctx)))

    def _horizon(self, ctx: JobContext) -> tuple[int, date]:
        """The future horizon and the date it counts from: the run's start (UTC)."""
        return ctx.settings.future_horizon_days, ctx.started_at.astimezone(UTC).date()

    # ------------------------------------------------------------------------------- read

    def _parent_versions(self, ctx: JobContext) -> dict[str, int]:
        versions = {}
        for ref in self.contract.references:
            path = ctx.path(f"silver/{ref.parent}")
            if not ctx.store.exists(path):
                raise EtlError(
                    f"{self.spec.name}: no silver table at {path}; run silver.{ref.parent} first"
                )
            versions[f"silver/{ref.parent}"] = data_version(ctx.store, path)
        return versions

    def _pending_release(self, ctx: JobContext, state: JobState | None) -> dict[str, Any] | None:
        """The release a crash left undone: recorded in the state, missing in quarantine."""
        release = state.extra.get(RELEASE) if state else None
        if not release:
            return None
        done = find_commit(ctx.store, ctx.path(self.quarantine), self.spec.name, (RELEASE,))
        if done is not None and done[1].info.get("for_run") == release["run_id"]:
            return None
        return dict(release)

    def read(self, ctx: JobContext) -> SilverBatch | NothingNew:
        bronze = ctx.path(self.bronze)
        if not ctx.store.exists(bronze):
            raise EtlError(f"{self.spec.name}: no bronze table at {bronze}; run bronze first")
        state = latest_state(ctx.store, ctx.path(self.silver), self.spec.name)
        version = ctx.store.version(bronze)
        consumed = state.consumed(self.bronze) if state else None
        skips = state.skip.get(self.bronze, []) if state else []
        ranges = with_data_changes(ctx.store, bronze, pending_ranges(consumed, version, skips))
        parents = self._parent_versions(ctx)
        quarantine = ctx.path(self.quarantine)
        q_version = ctx.store.version(quarantine) if ctx.store.exists(quarantine) else None
        retry = (
            bool(parents)
            and q_version is not None
            and (state is None or state.extra.get("parents") != parents)
        )
        pending = self._pending_release(ctx, state)
        if not ranges and not retry and pending is None:
            return NothingNew(f"nothing new in {self.bronze} since version {consumed}")
        return SilverBatch(state, version, ranges, parents, retry, q_version, pending)

    def _new_rows(self, ctx: JobContext, batch: SilverBatch) -> DataFrame:
        """Bronze rows of the pending versions: the whole table the first time, else the
        inserts of the change data feed over each pending range."""
        bronze = ctx.path(self.bronze)
        if batch.state is None or batch.state.consumed(self.bronze) is None:
            return ctx.store.read(bronze, batch.bronze_version)
        rows = ctx.store.read(bronze, batch.bronze_version).limit(0)
        for a, b in batch.ranges:
            changes = ctx.store.read_changes(bronze, a, b)
            inserted = changes.where(F.col(CHANGE_TYPE) == "insert").drop(*CHANGE_COLUMNS)
            rows = rows.unionByName(inserted)
        return rows

    def _retry_rows(self, ctx: JobContext, quarantine_version: int) -> DataFrame:
        return (
            ctx.store.read(ctx.path(self.quarantine), quarantine_version)
            .where(F.col("retryable"))
            .transform(quarantine_as_bronze(self.contract))
            .withColumn("_retried", F.lit(True))
        )

    def _parents(self, ctx: JobContext, versions: dict[str, int]) -> dict[str, DataFrame]:
        return {
            table.split("/", 1)[1]: ctx.store.read(ctx.path(table), version)
            for table, version in versions.items()
        }

    # -------------------------------------------------------------------------- transform

    def transform(self, ctx: JobContext, batch: SilverBatch) -> SilverBatch:
        if not batch.ranges and not batch.retry:
            return batch  # only a pending release to finish
        rows = self._new_rows(ctx, batch).withColumn("_retried", F.lit(False))
        if batch.retry and batch.quarantine_version is not None:
            rows = rows.unionByName(self._retry_rows(ctx, batch.quarantine_version))
        parents = self._parents(ctx, batch.parents)
        rules = check(self.contract, parents, *self._horizon(ctx))
        batch.checked = rows.transform(rules).cache()
        batch.stats = batch_stats(batch.checked)
        batch.latest = (
            valid_rows(batch.checked)
            .transform(latest_per_key(self.contract))
            .transform(to_silver(self.contract))
            .cache()
        )
        return batch

    # ------------------------------------------------------------------------------ check

    def check(self, ctx: JobContext, batch: SilverBatch) -> None:
        if batch.latest is None or not ctx.settings.validate:
            return
        views = self._parents(ctx, batch.parents)
        validate(ctx, self.silver, batch.latest, self.expectations(ctx), batch.input, views)

    # ------------------------------------------------------------------------------ write

    def write(self, ctx: JobContext, batch: SilverBatch) -> JobResult:
        result = JobResult(self.spec.name, ctx.path(self.silver), input=batch.input)
        if batch.pending_release is not None:
            self._release(ctx, batch.pending_release, for_run=batch.pending_release["run_id"])
        if batch.checked is not None and batch.latest is not None:
            self._publish(ctx, batch, result)
            batch.checked.unpersist()
            batch.latest.unpersist()
        else:
            result.status = "repaired"
        return result

    def _publish(self, ctx: JobContext, batch: SilverBatch, result: JobResult) -> None:
        assert batch.checked is not None and batch.latest is not None
        stats = batch.stats
        result.rows_read = stats["rows"] - stats["retried"]
        result.retried, result.rejected = stats["retried"], stats["rejected"]
        result.rejected_by_reason = stats["rejected_by_reason"]
        result.warnings_by_reason = stats["warnings_by_reason"]
        self._quarantine_rejects(ctx, batch)
        released = stats["released"]
        valid_in = result.rows_read + result.retried - result.rejected
        totals = dict(batch.state.extra.get("totals", {}) if batch.state else {})
        totals["valid_in"] = int(totals.get("valid_in", 0)) + valid_in
        extra: dict[str, Any] = {"parents": batch.parents, "totals": totals}
        if released:
            extra[RELEASE] = {
                "run_id": ctx.run_id,
                "quarantine_version": batch.quarantine_version,
                "parents": batch.parents,
            }
        label = ctx.commit(
            DATA,
            started_at=ctx.started_at.isoformat(),
            state={"sources": {self.bronze: batch.bronze_version}, "skip": {}, **extra},
            result=result.counts(),
        )
        merged = ctx.store.merge(batch.latest, ctx.path(self.silver), self._spec(ctx, batch), label)
        if not merged.committed:
            ctx.store.mark(ctx.path(self.silver), label.as_kind(MARK))
        result.inserted, result.updated = merged.inserted, merged.updated
        result.duplicates = valid_in - merged.inserted
        if released:
            result.released = self._release(ctx, extra[RELEASE], for_run=ctx.run_id)

    def _spec(self, ctx: JobContext, batch: SilverBatch) -> MergeSpec:
        assert batch.latest is not None
        return MergeSpec(
            keys=self.contract.key,
            update_when=newer_and_different(self.contract),
            target_filter=self._partitions_touched(ctx, batch.latest),
            partition_by=self.contract.partition_by,
        )

    def _partitions_touched(self, ctx: JobContext, latest: DataFrame) -> str | None:
        """A merge filter on the partitions of the batch and of the rows it may replace, so
        the merge reads and rewrites only those partitions of a large table."""
        silver = ctx.path(self.silver)
        if not self.contract.partition_by or not ctx.store.exists(silver):
            return None
        column, keys = self.contract.partition_by[0], list(self.contract.key)
        replaced = (
            ctx.store.read(silver)
            .select(*keys, column)
            .join(latest.select(*keys), keys, "left_semi")
        )
        rows = latest.select(column).unionByName(replaced.select(column)).distinct().collect()
        values = sorted(r[column] for r in rows if r[column] is not None)
        return in_predicate(column, values) if values else None

    def _quarantine_rejects(self, ctx: JobContext, batch: SilverBatch) -> None:
        assert batch.checked is not None
        quarantine = ctx.path(self.quarantine)
        if not batch.stats["rejected"] and ctx.store.exists(quarantine):
            return
        quarantined_at = ctx.started_at.strftime("%Y-%m-%d %H:%M:%S")
        shape = to_quarantine(self.contract, ctx.run_id, quarantined_at)
        rejected = rejected_rows(batch.checked).transform(shape)
        ctx.store.merge(rejected, quarantine, QUARANTINE_KEY, ctx.commit(REJECTS))

    def _release(self, ctx: JobContext, release: dict[str, Any], for_run: str) -> int:
        """Delete from quarantine the retried rows that were valid when `release` was decided
        (recomputed from the quarantine and parent versions it recorded, so it is exact even
        when a crash interrupted it)."""
        parents = self._parents(ctx, {k: int(v) for k, v in release["parents"].items()})
        retried = self._retry_rows(ctx, int(release["quarantine_version"]))
        valid = valid_rows(retried.transform(check(self.contract, parents, *self._horizon(ctx))))
        hashes = valid.select("_row_hash").distinct().withColumn("_op", F.lit("delete"))
        label = ctx.commit(RELEASE, for_run=for_run)
        merged = ctx.store.merge(hashes, ctx.path(self.quarantine), DELETE_BY_HASH, label)
        if not merged.committed:
            ctx.store.mark(ctx.path(self.quarantine), label)
        log.info("%s: released %d row(s) from quarantine", self.spec.name, merged.deleted)
        return merged.deleted


def _reason_counts(checked: DataFrame, column: str) -> dict[str, int]:
    rows = checked.select(F.explode(column).alias("reason")).groupBy("reason").count().collect()
    return {r["reason"]: int(r["count"]) for r in sorted(rows, key=lambda r: r["reason"])}


def batch_stats(checked: DataFrame) -> dict[str, Any]:
    """Row counts of a checked batch in one pass, and its reasons."""
    row = checked.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(F.when(F.col("_retried"), 1)).alias("retried"),
        F.count(F.when(F.size("_errors") > 0, 1)).alias("rejected"),
        F.count(F.when(F.col("_retried") & (F.size("_errors") == 0), 1)).alias("released"),
        F.count(F.when(F.size("_warnings") > 0, 1)).alias("warned"),
    ).collect()[0]
    stats: dict[str, Any] = {k: int(row[k]) for k in row.asDict()}
    stats["rejected_by_reason"] = _reason_counts(checked, "_errors") if stats["rejected"] else {}
    stats["warnings_by_reason"] = _reason_counts(checked, "_warnings") if stats["warned"] else {}
    return stats
