"""Validate what a job is about to publish with Great Expectations; record; fail on errors.

A job calls `validate` between computing its output and committing it (write-audit-publish):
a failed error-severity expectation raises `DataQualityError` and the job never writes, so the
published table stays at its previous version. Results go to the Delta table
`<lakehouse>/_audit/dq_results` (keyed by table, expectation and the input the job consumed, so
a run repeated after a crash replaces its rows rather than adding more) and, for a local
lakehouse, to browsable Data Docs under
`<lakehouse>/_dq/gx/uncommitted/data_docs/local_site/index.html`, rebuilt once per command
(`publish_data_docs`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from etl.contracts import Severity
from etl.errors import DataQualityError
from etl.quality.data_docs import data_docs_index, project_root, publish
from etl.quality.expectations import Check
from etl.runner import DQ_RESULTS, JobContext
from etl.storage import MergeSpec

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
log = logging.getLogger(__name__)

RESULTS_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType()),
        T.StructField("batch_id", T.StringType()),
        T.StructField("table_name", T.StringType()),
        T.StructField("expectation", T.StringType()),
        T.StructField("description", T.StringType()),
        T.StructField("severity", T.StringType()),
        T.StructField("success", T.BooleanType()),
        T.StructField("observed_value", T.StringType()),
        T.StructField("unexpected_count", T.LongType()),
        T.StructField("validated_at", T.TimestampType()),
        T.StructField("input", T.StringType()),
    ]
)
RESULTS_KEY = MergeSpec(keys=("table_name", "description", "input"))


@dataclass(frozen=True)
class Outcome:
    table: str
    check: Check
    success: bool
    observed: str
    unexpected: int | None


@cache
def _context(root: str | None) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context: Any
    if root is None:
        context = gx.get_context(mode="ephemeral")
    else:
        os.makedirs(root, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=root)
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


BATCH_VIEW = "_dq_batch"
# Tables up to this many rows are checked in memory: GE's Spark engine costs a few hundred
# calls into the JVM per suite, which on small tables is most of the time.
IN_MEMORY_ROWS = 500_000
_VALIDATED: set[str] = set()  # GE projects that hold results not yet in their Data Docs


def flagged(df: DataFrame, checks: list[Check]) -> tuple[DataFrame, dict[str, str]]:
    """The rows with one boolean column per flag check (true on a violating row), computed in
    one query; and each flag column's check description."""
    df.createOrReplaceTempView(BATCH_VIEW)
    flags = {f"_dq_{i}": c for i, c in enumerate(checks) if c.flag}
    if not flags:
        return df, {}
    selects = ", ".join(
        f"coalesce(({str(c.flag).replace('{batch}', BATCH_VIEW)}), false) AS {name}"
        for name, c in flags.items()
    )
    joins = " ".join(dict.fromkeys(j for c in flags.values() for j in c.joins))
    rows = df.sparkSession.sql(f"SELECT b.*, {selects} FROM {BATCH_VIEW} b {joins}")
    return rows, {c.description: name for name, c in flags.items()}


def _suite(gx: Any, name: str, checks: list[Check], columns: dict[str, str]) -> Any:
    """The suite, built whole: adding expectations one by one asks the project's store about
    the suite each time (a read of its configuration per expectation)."""
    expectations = []
    for check in checks:
        kwargs = dict(check.kwargs)
        if check.flag:
            kwargs = {"column": columns[check.description], "value_set": [False]}
        expectations.append(
            getattr(gx.expectations, check.expectation)(
                **kwargs,
                description=check.description or None,
                meta={"severity": str(check.severity)},
            )
        )
    return gx.ExpectationSuite(name=name, expectations=expectations)


def _checkpoint(
    context: Any, gx: Any, table: str, suite: Any, result_format: str, engine: str
) -> Any:
    if engine == "pandas":
        source = context.data_sources.add_or_update_pandas(name="lakehouse (in memory)")
    else:
        source = context.data_sources.add_or_update_spark(name="lakehouse")
    asset = next((a for a in source.assets if a.name == table), None) or source.add_dataframe_asset(
        name=table
    )
    batch = next(
        (b for b in asset.batch_definitions if b.name == "whole table"), None
    ) or asset.add_batch_definition_whole_dataframe("whole table")
    suite = context.suites.add_or_update(suite)
    # One definition and checkpoint per table and engine: a stored definition names its data
    # source's asset, which a later run (a new process) creates only for the engine it uses, so
    # a table checked on Spark once and in memory later must not find the other's definition.
    name = f"{table} ({engine})"
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    return context.checkpoints.add_or_update(
        gx.Checkpoint(name=name, validation_definitions=[definition], result_format=result_format)
    )


def _used_columns(checks: list[Check], columns: dict[str, str]) -> list[str]:
    """The columns a suite reads: each flag, and the columns of the native expectations."""
    used = [columns[c.description] if c.flag else c.kwargs.get("column") for c in checks]
    return list(dict.fromkeys(u for u in used if u))


def _in_memory(rows: DataFrame, checks: list[Check], columns: dict[str, str]) -> Any | None:
    """The columns the suite reads as a pandas frame, when the rows are few enough
    (IN_MEMORY_ROWS); None otherwise. One Spark job either way: small tables then need no
    more, and Great Expectations checks them in memory in milliseconds."""
    wanted = rows.select(*_used_columns(checks, columns))
    frame = wanted.limit(IN_MEMORY_ROWS + 1).toPandas()
    return frame if len(frame) <= IN_MEMORY_ROWS else None


def _outcomes(table: str, result: Any, checks: list[Check]) -> list[Outcome]:
    by_description = {check.description: check for check in checks}
    outcomes = []
    for run_result in result.run_results.values():
        for item in run_result.results:
            observed = item.result.get("observed_value")
            unexpected = item.result.get("unexpected_count")
            if observed is None and unexpected is not None:
                observed = unexpected  # a rule over rows: the number of rows that break it
            outcomes.append(
                Outcome(
                    table=table,
                    check=by_description[item.expectation_config.description],
                    success=bool(item.success),
                    observed=json.dumps(observed, default=str) if observed is not None else "",
                    unexpected=unexpected,
                )
            )
    return outcomes


def run_checks(ctx: JobContext, table: str, df: DataFrame, checks: list[Check]) -> list[Outcome]:
    """Run a table's suite through a GE checkpoint. The rule flags are computed in one pass;
    up to IN_MEMORY_ROWS rows are checked by GE in memory (pandas), with every count; larger
    tables by GE on Spark, asked for success only, and again for counts only when something
    failed."""
    import great_expectations  # seconds to import: only when a table is validated

    gx: Any = great_expectations
    assert len({c.description for c in checks}) == len(checks), f"{table}: duplicate checks"
    context = _context(project_root(ctx))
    rows, columns = flagged(df, checks)
    root = project_root(ctx)
    if root is not None:
        _VALIDATED.add(root)
    suite = _suite(gx, table, checks, columns)
    frame = _in_memory(rows, checks, columns)
    if frame is not None:
        checkpoint = _checkpoint(context, gx, table, suite, "SUMMARY", "pandas")
        return _outcomes(table, checkpoint.run(batch_parameters={"dataframe": frame}), checks)
    checkpoint = _checkpoint(context, gx, table, suite, "BOOLEAN_ONLY", "spark")
    result = checkpoint.run(batch_parameters={"dataframe": rows})
    if not result.success:
        checkpoint = _checkpoint(context, gx, table, suite, "SUMMARY", "spark")
        result = checkpoint.run(batch_parameters={"dataframe": rows})
    return _outcomes(table, result, checks)


def record(ctx: JobContext, outcomes: list[Outcome], input_id: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        (
            ctx.run_id,
            ctx.settings.batch_id,
            o.table,
            o.check.expectation,
            o.check.description,
            str(o.check.severity),
            o.success,
            o.observed,
            o.unexpected,
            now,
            input_id,
        )
        for o in outcomes
    ]
    label = ctx.commit("audit")
    ctx.store.merge_rows(rows, RESULTS_SCHEMA, ctx.path(DQ_RESULTS), RESULTS_KEY, label)


def latest_results(ctx: JobContext) -> list[dict[str, Any]]:
    """Every table's rows of `_audit/dq_results` from its most recent validation."""
    path = ctx.path(DQ_RESULTS)
    if not ctx.store.exists(path):
        return []
    rows = ctx.store.read_rows(path)
    newest: dict[str, Any] = {}
    for row in rows:
        table = row["table_name"]
        if table not in newest or row["validated_at"] > newest[table]:
            newest[table] = row["validated_at"]
    return [r for r in rows if r["validated_at"] == newest[r["table_name"]]]


def publish_data_docs(ctx: JobContext) -> str | None:
    """Rebuild the Data Docs of a local lakehouse once, for offline reading; the index path."""
    root, index_path = project_root(ctx), data_docs_index(ctx)
    if root is None or index_path is None or root not in _VALIDATED:
        return None
    _VALIDATED.discard(root)
    _context(root).build_data_docs()
    index = publish(Path(index_path).parent, latest_results(ctx))
    log.info("Data Docs at %s", index)
    return str(index)


def validate(
    ctx: JobContext,
    table: str,
    df: DataFrame,
    checks: list[Check],
    input_id: str,
    views: Mapping[str, DataFrame],
) -> list[Outcome]:
    """Validate the rows `table` (`<layer>/<name>`) is about to publish; record the results;
    raise DataQualityError on a failed error-severity expectation. `views` are the silver
    tables the checks may query, as `silver_<name>`."""
    for name, view in views.items():
        view.createOrReplaceTempView(f"silver_{name}")
    name = table.replace("/", ".")
    outcomes = run_checks(ctx, name, df, checks)
    record(ctx, outcomes, input_id)
    for o in outcomes:
        if not o.success and o.check.severity is Severity.WARN:
            log.warning(
                "%s: warning expectation failed: %s (observed %s)",
                o.table,
                o.check.description,
                o.observed,
            )
    failed = [o for o in outcomes if not o.success and o.check.severity is Severity.ERROR]
    if failed:
        raise DataQualityError(_failure_message(ctx, table, failed))
    log.info("%s: %d expectations passed", name, sum(o.success for o in outcomes))
    return outcomes


def _failure_message(ctx: JobContext, table: str, failed: list[Outcome]) -> str:
    first = failed[0]
    path = ctx.path(table)
    current = (
        f"{table} stays at version {ctx.store.version(path)}"
        if ctx.store.exists(path)
        else f"{table} was not created"
    )
    more = f"; {len(failed) - 1} more error expectation(s) failed" if len(failed) > 1 else ""
    return (
        f"{first.table}: expectation {first.check.expectation} failed: "
        f"{first.check.description} (observed {first.observed or first.unexpected}){more}; "
        f"nothing was published: {current}"
    )
