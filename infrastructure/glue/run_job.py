"""Glue entry point: one Glue job run executes one layer's jobs (or maintenance) in this driver.

The stack has one Glue job; its state machines start it once per layer and weekly for
maintenance (infrastructure/statemachine/*.asl.json), with the job arguments

    --etl_jobs <bronze|silver|gold|maintenance>   a layer, `all`, job names separated by commas
                                                  (etl.registry.select_jobs), or `maintenance`
    --batch_id  --source_dir  --lakehouse_dir     (the last two default in the job definition)
    [--files s3://...,s3://...]                   the batch's files, for the bronze run only

Arguments. Where `awsglue` exists they are resolved by its `getResolvedOptions`; elsewhere by
argparse, which ignores Glue's own arguments (`--JOB_ID`, `--TempDir`, ...) the same way. Every
value is then checked by etl.settings, under the Glue argument's name, before Spark starts.
The backend is always delta-spark: on AWS only Glue writes the tables.

Session. This is the only file that may import `awsglue`. Where it exists, the run adopts
Glue's context as Glue's own scripts do: `SparkContext.getOrCreate()`, `GlueContext(sc)`, its
`spark_session`, `Job(glue_context).init(JOB_NAME, args)` before the jobs and `job.commit()`
after them, only when they all succeeded. Elsewhere etl.spark.get_spark decides: under
`spark-submit` (or EMR, a notebook) it adopts the platform's session, on a laptop it builds the
laptop profile. Either way the run never sets a master, never changes a setting the platform
made and never resolves jars (on Glue, `--datalake-formats delta` and `--conf` in the job
definition provide Delta); the session is only checked (UTC, Delta's SQL extension).

Jobs. The selected jobs run in order in this one driver through etl.cli.execute, as
`python -m etl.pipeline --jobs ...` runs them: one driver commits to each Delta table at a time.
`maintenance` runs etl.maintenance.maintain (OPTIMIZE with Z-order, VACUUM keeping 7 days)
under the lakehouse lock, as `python -m etl.maintenance` does. After a run that includes silver
jobs, every dataset they published must balance (bronze = silver + quarantine + duplicates).

Failure. A run that fails ends the Glue job run as FAILED with an error message that starts
with the error's class name and its one-line message (`DataQualityError: silver.orders: ...`,
`SourceFileError: file ...`, `ConfigurationError: --etl_jobs=...`, `UnbalancedError: ...`),
printed without a traceback: the pipeline's state machine looks for `DataQualityError:` in the
failed run's error message and does not retry such a run, while it retries any other failure
once. Anything else is a bug and fails the run with its exception and full traceback.

Locally, with the same arguments (`--master`, `--packages` and `--conf` belong to the
platform, here spark-submit):

    spark-submit --packages io.delta:delta-spark_2.12:3.3.0 \\
        --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \\
        --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \\
        --conf spark.sql.session.timeZone=UTC infrastructure/glue/run_job.py \\
        --etl_jobs bronze --batch_id b1 --source_dir data --lakehouse_dir lakehouse
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from pyspark.sql import SparkSession

from etl.accounting import Balance, balance, format_balances
from etl.cli import configure_logging, execute, new_context, options_for
from etl.errors import ConfigurationError, EtlError, ExitCode
from etl.lock import lakehouse_lock
from etl.maintenance import OPTIONS as MAINTENANCE_OPTIONS
from etl.maintenance import maintain
from etl.registry import JobSpec, runnable, select_jobs
from etl.runner import JobContext, JobResult
from etl.settings import (
    DEFAULT_VACUUM_RETENTION_HOURS,
    OPTIONS,
    Backend,
    Settings,
    resolve_settings,
)
from etl.spark import check_session, get_spark
from etl.summary import format_summary

log = logging.getLogger("run_job")

REQUIRED = ("etl_jobs", "batch_id", "source_dir", "lakehouse_dir")
OPTIONAL = ("files", "JOB_NAME")  # Glue itself passes --JOB_NAME
BACKEND: Backend = "delta-spark"  # on AWS only Glue writes the tables, always through delta-spark
MAINTENANCE = "maintenance"
COMMAND = "run_job.py"  # names this entry point in the lock and the logs
DEFAULT_JOB_NAME = "etl"


class UnbalancedError(EtlError):
    """Some dataset's rows are not all accounted for after its silver job."""

    exit_code = ExitCode.UNBALANCED


class GlueRunFailed(Exception):
    """Fails the Glue job run for an error the user can fix (see `failure`)."""


# ---------------------------------------------------------------------------------- arguments


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigurationError(f"Glue job arguments: {message}")


def _given(argv: Sequence[str], name: str) -> bool:
    return any(a == f"--{name}" or a.startswith(f"--{name}=") for a in argv[1:])


def resolve_arguments(argv: Sequence[str]) -> dict[str, str]:
    """The job's arguments from `sys.argv`: through Glue's resolver where it exists, else
    argparse; Glue's own arguments are ignored either way."""
    try:
        from awsglue.utils import GlueArgumentError, getResolvedOptions  # Glue only
    except ImportError:
        return _parse_locally(argv)
    # getResolvedOptions requires every name it is given: ask for the optional ones only when
    # the run has them (only the bronze run gets --files).
    names = [*REQUIRED, *(o for o in OPTIONAL if _given(argv, o))]
    try:
        resolved: dict[str, str] = getResolvedOptions(list(argv), names)
    except GlueArgumentError as exc:
        raise ConfigurationError(f"Glue job arguments: {exc}") from exc
    return {k: resolved[k] for k in names}


def _parse_locally(argv: Sequence[str]) -> dict[str, str]:
    parser = _ArgumentParser(prog=COMMAND, allow_abbrev=False, description=__doc__)
    for name in REQUIRED:
        parser.add_argument(f"--{name}", required=True)
    for name in OPTIONAL:
        parser.add_argument(f"--{name}")
    args, _glue_own = parser.parse_known_args(list(argv[1:]))
    return {k: v for k, v in vars(args).items() if v is not None}


# --------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """What one run does: the jobs of `--etl_jobs` (none for maintenance) and the settings
    they use."""

    selector: str
    jobs: tuple[JobSpec, ...]
    options: tuple[str, ...]

    @property
    def maintenance(self) -> bool:
        return self.selector == MAINTENANCE


def plan(selector: str) -> Plan:
    """The run `--etl_jobs` asks for; ConfigurationError for anything etl.registry does not
    know."""
    if selector.strip() == MAINTENANCE:
        return Plan(MAINTENANCE, (), (*MAINTENANCE_OPTIONS, "batch_id"))
    try:
        specs = tuple(select_jobs(selector))
    except ValueError as exc:
        raise ConfigurationError(
            f"--etl_jobs={selector!r} is not valid: {exc}, {MAINTENANCE}"
        ) from exc
    return Plan(selector, specs, options_for(tuple(dict.fromkeys(s.layer for s in specs))))


def settings_for(run: Plan, args: Mapping[str, str]) -> Settings:
    """The run's settings from its Glue arguments, each checked by etl.settings; a bad value is
    reported under the Glue argument's name (`--batch_id`, not `--batch-id`)."""
    given = {**args, "backend": BACKEND}
    for name in run.options:
        if name in args:
            glue_option = dataclasses.replace(OPTIONS[name], flag=f"--{name}")
            glue_option.resolve(args[name], {})
    namespace = argparse.Namespace(**{name: given.get(name) for name in run.options})
    return resolve_settings(namespace, run.options)


# ------------------------------------------------------------------------------------ session


def glue_session(
    job_name: str, args: Mapping[str, str]
) -> tuple[SparkSession, Callable[[], None]] | None:
    """Glue's session and its job's commit, where awsglue exists (None elsewhere). The job is
    initialised here; commit it only after every job succeeded."""
    try:
        from awsglue.context import GlueContext  # Glue only
        from awsglue.job import Job
    except ImportError:
        return None
    from pyspark import SparkContext

    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(job_name, dict(args))
    session: SparkSession = glue_context.spark_session
    return session, job.commit


def start_session(args: Mapping[str, str]) -> tuple[SparkSession, Callable[[], None]]:
    """The session to run on, adopted as it is, and what to call when the run succeeded."""
    glue = glue_session(args.get("JOB_NAME") or DEFAULT_JOB_NAME, args)
    if glue is None:
        return get_spark(COMMAND, BACKEND), lambda: None  # spark-submit, EMR, a laptop
    spark, commit = glue
    # As etl.spark.get_spark does for any adopted session: collected timestamps in UTC, and a
    # session without UTC or Delta's extension refused with what to set.
    os.environ["TZ"] = "UTC"
    time.tzset()
    check_session(spark, BACKEND)
    return spark, commit


# --------------------------------------------------------------------------------------- runs


def check_balances(ctx: JobContext, jobs: Sequence[JobSpec]) -> list[Balance]:
    """Every dataset whose silver job ran must balance; UnbalancedError names those that
    don't."""
    accounts = [balance(ctx, spec.table_name) for spec in jobs if spec.layer == "silver"]
    if accounts:
        print(format_balances(accounts))
    unbalanced = [b for b in accounts if not b.balanced]
    if unbalanced:
        raise UnbalancedError(
            "accounting does not balance after silver: "
            + "; ".join(
                f"{b.dataset}: bronze {b.bronze} != silver {b.silver} + quarantine "
                f"{b.quarantine} + duplicates {b.duplicates}"
                for b in unbalanced
            )
        )
    return accounts


def run_jobs(ctx: JobContext, jobs: Sequence[JobSpec]) -> list[JobResult]:
    """The jobs in order in this driver, then the accounting of the silver ones."""
    results = execute(ctx, [runnable(spec.name) for spec in jobs], COMMAND)
    print(format_summary(results))
    check_balances(ctx, jobs)
    return results


def run_maintenance(ctx: JobContext) -> None:
    with lakehouse_lock(ctx.settings.lakehouse_dir, ctx.run_id, f"{COMMAND} {MAINTENANCE}"):
        maintain(ctx, DEFAULT_VACUUM_RETENTION_HOURS)


def run(argv: Sequence[str]) -> None:
    """One Glue job run: arguments and settings checked before Spark starts, then the jobs."""
    args = resolve_arguments(argv)
    selected = plan(args["etl_jobs"])
    settings = settings_for(selected, args)
    spark, commit = start_session(args)
    ctx = new_context(settings, spark)
    log.info("run %s: %s", ctx.run_id, selected.selector)
    if selected.maintenance:
        run_maintenance(ctx)
    else:
        run_jobs(ctx, selected.jobs)
    commit()


def failure(error: EtlError) -> GlueRunFailed:
    """The exception that fails the run for `error`: named as the error's class, its message on
    one line, so the run's error message reads `DataQualityError: ...`. It takes its message as
    its only argument, whatever the error's class needs, so it can be re-raised as it is."""
    named: type[GlueRunFailed] = type(type(error).__name__, (GlueRunFailed,), {})
    return named(" ".join(str(error).split()))


def main(argv: Sequence[str]) -> None:
    configure_logging()
    try:
        run(argv)
    except EtlError as error:
        sys.tracebacklimit = 0  # one line: the error says what to fix, a traceback would not
        raise failure(error) from None


if __name__ == "__main__":
    main(sys.argv)
