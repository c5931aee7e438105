"""What every command shares: settings from flags and `ETL_*` variables, the run context, the
lakehouse lock, running jobs in order, and turning every outcome into an exit code.

Exit codes (etl.errors.ExitCode): 0 ok, 1 accounting unbalanced, 2 bad input or configuration
(or the lakehouse is locked by another run), 3 a failed error-severity expectation (nothing was
published), 70 an internal error (a bug: the traceback is printed).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import sys
import textwrap
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, NoReturn

from pyspark.sql import SparkSession

from etl import audit, faults
from etl.bronze.ingest import BronzeJob, clear_staging
from etl.errors import EtlError, ExitCode
from etl.lock import lakehouse_lock
from etl.quality.validate import publish_data_docs
from etl.runner import Job, JobContext, JobResult, run_job
from etl.settings import (
    CHECK_OPTIONS,
    RUN_OPTIONS,
    SOURCE_OPTIONS,
    Settings,
    add_options,
    check_variables,
    closest_variable,
    resolve_settings,
    unknown_variables,
)
from etl.sources import check_structure, file_sha256, require_source_files
from etl.spark import get_spark
from etl.storage import get_table_store
from etl.summary import format_summary

log = logging.getLogger(__name__)


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    for noisy in ("py4j", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def options_for(layers: Sequence[str]) -> tuple[str, ...]:
    """The settings the jobs of these layers use (and so the flags their commands show)."""
    names: list[str] = []
    if "bronze" in layers:
        names += SOURCE_OPTIONS
    names += RUN_OPTIONS
    if "silver" in layers:
        names += CHECK_OPTIONS
    elif "gold" in layers:
        names.append("validate")
    return tuple(dict.fromkeys(names))


def new_context(settings: Settings, spark: SparkSession | None = None) -> JobContext:
    """A run over the lakehouse; Spark starts when a job first needs it, or in the background
    as soon as a job finds work (`JobContext.warm_up`), while that job parses its input."""
    made: list[SparkSession] = [spark] if spark is not None else []
    lock = threading.Lock()

    def _spark() -> SparkSession:
        with lock:
            if not made:
                made.append(get_spark("etl", settings.backend))
            return made[0]

    ctx = JobContext(settings, get_table_store(_spark, settings.backend), _spark)
    ctx.warm_up = _warm_up(_spark, settings.validate)
    return ctx


def _warm_up(spark: Callable[[], SparkSession], validate: bool) -> Callable[[], None]:
    """Start the slow things a run with work needs, once, on other threads: the Spark session
    (a JVM starting) and, when validating, the Great Expectations import (seconds of Python);
    the main thread meanwhile parses source files. A later use waits for them."""
    started: list[threading.Thread] = []

    def _quietly(task: Callable[[], object]) -> Callable[[], None]:
        def _run() -> None:
            with suppress(BaseException):  # the main thread meets the same error, in one line
                task()

        return _run

    def _start() -> None:
        if started:
            return
        tasks: list[Callable[[], object]] = [spark]
        if validate:
            tasks.append(functools.partial(importlib.import_module, "great_expectations"))
        for task in tasks:
            started.append(threading.Thread(target=_quietly(task), daemon=True))
            started[-1].start()

    return _start


def preflight(ctx: JobContext, jobs: Sequence[Job[Any, Any]]) -> None:
    """Check every new source file a bronze job will read before any job writes anything;
    refuse a first run that would ingest nothing."""
    bronze = [j for j in jobs if isinstance(j, BronzeJob)]
    if not bronze:
        return
    if not any(ctx.store.exists(ctx.path(j.spec.output)) for j in bronze):
        require_source_files(ctx.settings.source_dir, ctx.settings.files)
    for job in bronze:
        known = audit.ingested_files(ctx, job.contract.dataset)
        for file in job.files(ctx):
            local = not file.uri.startswith("s3://")
            if local and (file.name, file_sha256(file.uri)) in known:
                continue
            contract = job.contract
            check_structure(file, contract.source_columns, contract.numeric_source_columns)


@contextmanager
def removed_if_left_empty(lakehouse_dir: str) -> Iterator[None]:
    """A run that fails leaves no trace: a local lakehouse folder it created (the lock creates
    it) is removed again when the run fails before writing anything into it."""
    created = "://" not in lakehouse_dir and not os.path.exists(lakehouse_dir)
    try:
        yield
    except BaseException:
        if created and os.path.isdir(lakehouse_dir) and not os.listdir(lakehouse_dir):
            with suppress(OSError):
                os.rmdir(lakehouse_dir)
        raise


def execute(ctx: JobContext, jobs: Sequence[Job[Any, Any]], command: str) -> list[JobResult]:
    """Run jobs in order under the lakehouse lock; publish Data Docs once at the end."""
    lake = ctx.settings.lakehouse_dir
    with removed_if_left_empty(lake), lakehouse_lock(lake, ctx.run_id, command):
        clear_staging(ctx.settings.lakehouse_dir)
        if faults.enabled():
            ctx.store.on_commit = faults.commit_hook(ctx.settings.lakehouse_dir, lambda: ctx.job)
        results: list[JobResult] = []
        try:
            preflight(ctx, jobs)
            for job in jobs:
                ctx.job = job.spec.name
                audit.repair(ctx, job.spec)
                results.append(run_job(job, ctx, audit.record_run))
        finally:
            clear_staging(ctx.settings.lakehouse_dir)  # parsed sheets of this run, if any left
            publish_data_docs(ctx)
            ctx.store.close()
        return results


def guarded(body: Callable[[], int]) -> int:
    """Run a command's body; an EtlError is one line and its exit code, anything else a bug."""
    try:
        return body()
    except EtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print(
            f"internal error (exit {int(ExitCode.INTERNAL_ERROR)}): this is a bug, not a problem "
            "with your input; the traceback above says where",
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL_ERROR)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, without breaking lines inside names such as delta-spark."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return textwrap.fill(
            " ".join(text.split()),
            width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
        )


class Parser(argparse.ArgumentParser):
    """A command line whose mistakes (an unknown flag, a missing value) are one line, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(
            int(ExitCode.BAD_INPUT), f"error: {message}; see {self.prog} --help for the flags\n"
        )


def parser_for(prog: str, description: str, options: Sequence[str]) -> argparse.ArgumentParser:
    """A command's parser showing only the options it uses, each with default and values."""
    parser = Parser(prog=prog, description=description, formatter_class=HelpFormatter)
    add_options(parser, options)
    return parser


def start(args: argparse.Namespace, options: Sequence[str], *, writes: bool = True) -> Settings:
    """Logging on, every setting checked (those of `options` from flags, variables and defaults,
    the other `ETL_*` variables as well), typos in `ETL_*` variables reported."""
    configure_logging()
    for name in unknown_variables():
        guess = closest_variable(name)
        log.warning(
            "ignoring %s: no setting reads it%s",
            name,
            f" (did you mean {guess}?)" if guess else " (a typo?)",
        )
    check_variables(options)
    return resolve_settings(args, options, writes=writes)


def job_main(job: Job[Any, Any], argv: list[str] | None = None) -> int:
    """The command line of a single job module (`python -m etl.<layer>.<name>_etl`)."""
    spec = job.spec
    options = options_for((spec.layer,))
    parser = parser_for(f"python -m {spec.module}", spec.description or spec.name, options)
    args = parser.parse_args(argv)

    def _body() -> int:
        settings = start(args, options)
        ctx = new_context(settings)
        results = execute(ctx, [job], f"python -m {spec.module}")
        print(format_summary(results))
        return 0

    return guarded(_body)
