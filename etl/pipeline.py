"""Run the lakehouse's jobs in dependency order in one process, then print what each did and
whether every input row is accounted for."""

from __future__ import annotations

import os
from collections.abc import Sequence

from etl.accounting import balances, format_balances
from etl.cli import execute, guarded, new_context, options_for, parser_for, start
from etl.errors import ConfigurationError, ExitCode
from etl.quality.data_docs import data_docs_index
from etl.registry import LAYERS, job_names, runnable, select_jobs
from etl.runner import JobContext, JobResult
from etl.summary import format_summary

COMMAND = "python -m etl.pipeline"


def run_pipeline(ctx: JobContext, selector: str = "all") -> list[JobResult]:
    """Run the selected jobs (etl.registry.select_jobs) over the context's lakehouse."""
    try:
        specs = select_jobs(selector)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    return execute(ctx, [runnable(s.name) for s in specs], COMMAND)


def selector(layers: str | None, jobs: str | None) -> str:
    """What `--layers` or `--jobs` chose (at most one is given); every job when neither is."""
    if jobs is not None:
        return jobs
    return "all" if layers is None else layers


def main(argv: Sequence[str] | None = None) -> int:
    options = options_for(LAYERS)
    parser = parser_for(COMMAND, __doc__ or COMMAND, options)
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument(
        "--layers",
        metavar="LAYER[,LAYER...]",
        help=f"comma-separated layers to run, of {', '.join(LAYERS)} [default: {','.join(LAYERS)}]",
    )
    chosen.add_argument(
        "--jobs",
        metavar="JOB[,JOB...]",
        help=f"comma-separated jobs to run instead of whole layers, of {', '.join(job_names())} "
        "[default: every job of --layers]",
    )
    args = parser.parse_args(argv)

    def _body() -> int:
        settings = start(args, options)
        chosen = selector(args.layers, args.jobs)
        try:
            select_jobs(chosen)
        except ValueError as exc:
            flag = "--jobs" if args.jobs is not None else "--layers"
            raise ConfigurationError(f"{flag}: {exc}") from exc
        ctx = new_context(settings)
        results = run_pipeline(ctx, chosen)
        accounts = balances(ctx)
        print(format_summary(results))
        print()
        print(format_balances(accounts))
        print()
        print(f"tables: {settings.lakehouse_dir}")
        docs = data_docs_index(ctx)
        if docs is not None and os.path.exists(docs):
            print(f"data quality report: {docs}")
        return int(ExitCode.OK if all(b.balanced for b in accounts) else ExitCode.UNBALANCED)

    return guarded(_body)


if __name__ == "__main__":
    raise SystemExit(main())
