"""Run every job in dependency order in one Spark session, then print what each one did."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from etl.accounting import balances, format_balances
from etl.contracts import CONTRACTS
from etl.errors import EtlError
from etl.jobs import (
    JOBS,
    JobContext,
    JobResult,
    configure_logging,
    exit_code,
    new_context,
    run_job,
)
from etl.quality.data_docs import data_docs_index
from etl.settings import add_common_arguments, settings_from_args
from etl.sources import check_structure, discover
from etl.summary import format_summary

LAYERS = ("bronze", "silver", "gold")


def select_jobs(layers: Sequence[str] = LAYERS, jobs: Sequence[str] = ()) -> list[str]:
    unknown = [j for j in jobs if j not in JOBS] + [x for x in layers if x not in LAYERS]
    if unknown:
        raise EtlError(f"unknown job or layer: {', '.join(unknown)}; jobs are {', '.join(JOBS)}")
    return [j for j in JOBS if (j in jobs if jobs else j.split(".")[0] in layers)]


def preflight(ctx: JobContext, jobs: Sequence[str]) -> None:
    """Check every source file a bronze job will read before any job writes anything."""
    datasets = {j.split(".")[1] for j in jobs if j.startswith("bronze.")}
    for file in discover(ctx.settings.source_dir, ctx.settings.files):
        if file.dataset in datasets:
            contract = CONTRACTS[file.dataset]
            check_structure(file, contract.source_columns, contract.numeric_source_columns)


def run_pipeline(ctx: JobContext, jobs: Sequence[str]) -> list[JobResult]:
    preflight(ctx, jobs)
    return [run_job(job, ctx) for job in jobs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl.pipeline", description=__doc__)
    add_common_arguments(parser)
    parser.add_argument("--layers", default=",".join(LAYERS), help="comma-separated layers to run")
    parser.add_argument("--jobs", default="", help="comma-separated jobs (overrides --layers)")
    args = parser.parse_args(argv)
    configure_logging()
    try:
        jobs = select_jobs(
            [x for x in args.layers.split(",") if x], [j for j in args.jobs.split(",") if j]
        )
        ctx = new_context(settings_from_args(args))
        results = run_pipeline(ctx, jobs)
        accounts = balances(ctx)
    except EtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exit_code(exc)
    print(format_summary(results))
    print()
    print(format_balances(accounts))
    print()
    print(f"tables: {ctx.settings.lakehouse_dir}")
    docs = data_docs_index(ctx)
    if docs is not None and os.path.exists(docs):
        print(f"data quality report: {docs}")
    return 0 if all(b.balanced for b in accounts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
