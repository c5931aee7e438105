"""The audit tables under `<lakehouse>/_audit/`: `runs` (one row per run and job) and
`ingested_files` (the processed-files ledger).

Both are records *derived* from the commits that publish the data: a job writes its row after
it published, and if a crash lost that row, the next run writes it from the publishing commit's
own label (`repair`). So the audit trail is complete after any crash, and nothing the jobs
decide depends on it: their state lives with the data (etl.bookkeeping).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import types as T

from etl.bookkeeping import DATA, MARK, find_commit
from etl.runner import INGESTED_FILES, RUNS, JobContext, JobResult, JobSpec
from etl.storage import Commit

RUNS_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType()),
        T.StructField("batch_id", T.StringType()),
        T.StructField("job", T.StringType()),
        T.StructField("status", T.StringType()),
        T.StructField("table_path", T.StringType()),
        T.StructField("started_at", T.TimestampType()),
        T.StructField("finished_at", T.TimestampType()),
        T.StructField("seconds", T.DoubleType()),
        T.StructField("rows_read", T.LongType()),
        T.StructField("retried", T.LongType()),
        T.StructField("inserted", T.LongType()),
        T.StructField("updated", T.LongType()),
        T.StructField("deleted", T.LongType()),
        T.StructField("rejected", T.LongType()),
        T.StructField("duplicates", T.LongType()),
        T.StructField("released", T.LongType()),
        T.StructField("rejected_by_reason", T.StringType()),
        T.StructField("warnings_by_reason", T.StringType()),
        T.StructField("delta_version", T.LongType()),
        T.StructField("input", T.StringType()),
        T.StructField("table_versions", T.StringType()),
    ]
)

LEDGER_SCHEMA = T.StructType(
    [
        T.StructField("dataset", T.StringType()),
        T.StructField("source_file", T.StringType()),
        T.StructField("sha256", T.StringType()),
        T.StructField("rows", T.LongType()),
        T.StructField("blank_rows", T.LongType()),
        T.StructField("extra_columns", T.StringType()),
        T.StructField("batch_id", T.StringType()),
        T.StructField("ingested_at", T.TimestampType()),
    ]
)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _run_row(
    commit: Commit, spec: JobSpec, path: str, counts: dict[str, Any], versions: dict[str, int]
) -> tuple[object, ...]:
    started = datetime.fromisoformat(str(commit.info["started_at"]))
    finished = datetime.fromisoformat(str(commit.info.get("finished_at", started.isoformat())))
    return (
        commit.run_id,
        commit.info.get("batch_id"),
        spec.name,
        str(counts.get("status", "ok")),
        path,
        _naive(started),
        _naive(finished),
        float(counts.get("seconds", 0.0)),
        *(
            int(counts.get(n, 0))
            for n in (
                "rows_read",
                "retried",
                "inserted",
                "updated",
                "deleted",
                "rejected",
                "duplicates",
                "released",
            )
        ),
        json.dumps(counts.get("rejected_by_reason", {}), sort_keys=True),
        json.dumps(counts.get("warnings_by_reason", {}), sort_keys=True),
        versions.get(spec.output),
        str(counts.get("input", "")),
        json.dumps(versions, sort_keys=True),
    )


AUDIT = "audit"  # the kind of an audit table's commits


def record_run(ctx: JobContext, spec: JobSpec, result: JobResult) -> None:
    """The job's row in `_audit/runs`, appended after it published (a run id is new, so the row
    is too)."""
    counts = {**result.counts(), "status": result.status}
    label = ctx.commit(
        AUDIT,
        started_at=ctx.started_at.isoformat(),
        finished_at=datetime.now(UTC).isoformat(),
        output_version=result.table_versions.get(spec.output),
    )
    row = _run_row(label, spec, result.table, counts, result.table_versions)
    ctx.store.append_rows([row], RUNS_SCHEMA, ctx.path(RUNS), label)


def record_files(ctx: JobContext, dataset: str, files: Sequence[dict[str, Any]]) -> None:
    """Ledger rows for the files a bronze job published (those the ledger lacks)."""
    known = _ledger(ctx)
    files = [f for f in files if (dataset, f["name"], f["sha256"]) not in known]
    rows = [
        (
            dataset,
            f["name"],
            f["sha256"],
            int(f["rows"]),
            int(f["blank_rows"]),
            ",".join(f["extra_columns"]) or None,
            ctx.settings.batch_id,
            _naive(ctx.started_at),
        )
        for f in files
    ]
    if rows:
        label = ctx.commit(AUDIT)
        ctx.store.append_rows(rows, LEDGER_SCHEMA, ctx.path(INGESTED_FILES), label)
        known.update((dataset, f["name"], f["sha256"]) for f in files)


def _ledger(ctx: JobContext) -> set[tuple[str, str, str]]:
    """(dataset, file, sha256) of every ingested file, read once per run."""
    if "ledger" not in ctx.memo:
        path = ctx.path(INGESTED_FILES)
        rows = (
            ctx.store.read_rows(path, ["dataset", "source_file", "sha256"])
            if ctx.store.exists(path)
            else []
        )
        ctx.memo["ledger"] = {(r["dataset"], r["source_file"], r["sha256"]) for r in rows}
    ledger: set[tuple[str, str, str]] = ctx.memo["ledger"]
    return ledger


def ingested_files(ctx: JobContext, dataset: str) -> set[tuple[str, str]]:
    """(file, sha256) of every file of the dataset the ledger holds."""
    return {(name, sha) for d, name, sha in _ledger(ctx) if d == dataset}


def _covers(recorded_version: object, version: int) -> bool:
    return isinstance(recorded_version, int) and recorded_version >= version


def repair(ctx: JobContext, spec: JobSpec) -> None:
    """Write the audit rows a crash lost: those of the job's last publishing commit, when the
    job's newest row in `_audit/runs` (found from the commit labels) is neither that run's nor
    one recorded after it (a later run that only finished what the crashed one left)."""
    found = find_commit(ctx.store, ctx.path(spec.output), spec.name, (DATA, MARK))
    if found is None:
        return
    entry, commit = found
    recorded = find_commit(ctx.store, ctx.path(RUNS), spec.name, (AUDIT,))
    if recorded is not None and (
        recorded[1].run_id == commit.run_id
        or _covers(recorded[1].info.get("output_version"), entry.version)
    ):
        return
    counts = dict(commit.info.get("result") or {})
    versions = {spec.output: entry.version, **(commit.info.get("versions") or {})}
    files = commit.info.get("files") or []
    saved = ctx.run_id, ctx.job
    try:
        ctx.run_id = commit.run_id  # the rows are the crashed run's, labelled as such
        if files:
            record_files(ctx, spec.table_name, files)
        row = _run_row(commit, spec, ctx.path(spec.output), counts, versions)
        label = ctx.commit(AUDIT, repaired=True, output_version=entry.version)
        ctx.store.append_rows([row], RUNS_SCHEMA, ctx.path(RUNS), label)
    finally:
        ctx.run_id, ctx.job = saved
