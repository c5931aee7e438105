"""Validate a written table with Great Expectations; record results; fail on error severity.

Results go to the Delta table `<lakehouse>/_audit/dq_results` and, for a local lakehouse, to
browsable Data Docs under `<lakehouse>/_dq/gx/uncommitted/data_docs/local_site/index.html`.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from etl.contracts import Severity
from etl.errors import DataQualityError
from etl.jobs import JobContext
from etl.quality.data_docs import data_docs_index, project_root, publish
from etl.quality.expectations import Check, checks_for
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
    ]
)


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


def _suite(gx: Any, name: str, checks: list[Check]) -> Any:
    suite = gx.ExpectationSuite(name=name)
    for check in checks:
        expectation = getattr(gx.expectations, check.expectation)(
            **check.kwargs,
            description=check.description or None,
            meta={"severity": str(check.severity)},
        )
        suite.add_expectation(expectation)
    return suite


def _register_parents(ctx: JobContext) -> None:
    for dataset in ("products", "orders", "order_items"):
        path = ctx.path("silver", dataset)
        if ctx.store.exists(path):
            ctx.store.read(path).createOrReplaceTempView(f"silver_{dataset}")


def run_checks(ctx: JobContext, layer: str, name: str, df: DataFrame) -> list[Outcome]:
    """Run the table's suite through a GE checkpoint (which also updates Data Docs)."""
    import great_expectations

    gx: Any = great_expectations
    _register_parents(ctx)
    checks = checks_for(layer, name)
    assert len({c.description for c in checks}) == len(checks), f"{layer}.{name}: duplicate checks"
    table = f"{layer}.{name}"
    context = _context(project_root(ctx))
    source = context.data_sources.add_or_update_spark(name="lakehouse")
    asset = next((a for a in source.assets if a.name == table), None) or source.add_dataframe_asset(
        name=table
    )
    batch = next(
        (b for b in asset.batch_definitions if b.name == "whole table"), None
    ) or asset.add_batch_definition_whole_dataframe("whole table")
    suite = context.suites.add_or_update(_suite(gx, table, checks))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=table, data=batch, suite=suite)
    )
    actions = [gx.checkpoint.UpdateDataDocsAction(name="data_docs")] if project_root(ctx) else []
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(name=table, validation_definitions=[definition], actions=actions)
    )
    result = checkpoint.run(batch_parameters={"dataframe": df})
    by_description = {check.description: check for check in checks}
    outcomes = []
    for run_result in result.run_results.values():
        for item in run_result.results:
            check = by_description[item.expectation_config.description]
            observed = item.result.get("observed_value")
            outcomes.append(
                Outcome(
                    table=table,
                    check=check,
                    success=bool(item.success),
                    observed=json.dumps(observed, default=str) if observed is not None else "",
                    unexpected=item.result.get("unexpected_count"),
                )
            )
    return outcomes


def record(ctx: JobContext, outcomes: list[Outcome]) -> None:
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
        )
        for o in outcomes
    ]
    df = ctx.spark.createDataFrame(rows, RESULTS_SCHEMA)
    spec = MergeSpec(keys=("run_id", "table_name", "description"))
    ctx.store.merge(df, ctx.path("_audit", "dq_results"), spec)


def latest_results(ctx: JobContext) -> list[dict[str, Any]]:
    """Every table's rows of `_audit/dq_results` from its most recent validation."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    df = ctx.store.read(ctx.path("_audit", "dq_results"))
    newest = F.max("validated_at").over(Window.partitionBy("table_name"))
    latest = df.withColumn("_newest", newest).where(F.col("validated_at") == F.col("_newest"))
    return [row.asDict() for row in latest.drop("_newest").collect()]


def validate_table(ctx: JobContext, layer: str, name: str) -> list[Outcome]:
    """Validate, record, log warnings, and raise on the first failed error expectation."""
    df = ctx.store.read(ctx.path(layer, name))
    outcomes = run_checks(ctx, layer, name, df)
    record(ctx, outcomes)
    index_path = data_docs_index(ctx)
    if index_path:
        index = publish(Path(index_path).parent, latest_results(ctx))
        log.info("%s.%s: Data Docs at %s", layer, name, index)
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
        first = failed[0]
        raise DataQualityError(
            f"{first.table}: expectation {first.check.expectation} failed: "
            f"{first.check.description} (observed {first.observed or first.unexpected})"
            + (f"; {len(failed) - 1} more error expectation(s) failed" if len(failed) > 1 else "")
        )
    log.info("%s: %d expectations passed", f"{layer}.{name}", sum(o.success for o in outcomes))
    return outcomes
