"""Glue entry point: runs one lakehouse job module with the delta-spark backend.

The one Glue job of the stack runs this script for every table; the state machine picks the
table with `--etl_job <layer>.<name>` (e.g. `silver.orders`). Glue job arguments

    --etl_job  --batch_id  --source_dir  --lakehouse_dir  [--files]

become the common flags of the `etl` entry points and `etl.<layer>.<name>_etl.main(argv)` runs.
This is the only file that may import `awsglue`; where it is not importable (a laptop, CI) the
same arguments are parsed with argparse, so the script runs unchanged:

    python infrastructure/glue/run_job.py --etl_job bronze.orders --batch_id b1 \
        --source_dir data --lakehouse_dir lakehouse
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

log = logging.getLogger("run_job")

# The job list of etl.jobs.JOBS, repeated so this script needs nothing from etl to validate
# its arguments (tests/infrastructure checks the two stay in step).
JOBS: tuple[str, ...] = (
    "bronze.products",
    "bronze.orders",
    "bronze.order_items",
    "silver.products",
    "silver.orders",
    "silver.order_items",
    "gold.daily_sales",
    "gold.product_performance",
    "gold.department_analytics",
    "gold.customer_insights",
)

REQUIRED = ("etl_job", "batch_id", "source_dir", "lakehouse_dir")
OPTIONAL = ("files",)
BACKEND = "delta-spark"  # on AWS only Glue writes the tables, always through delta-spark


def module_name(job: str) -> str:
    """`silver.orders` → `etl.silver.orders_etl`."""
    layer, name = job.split(".")
    return f"etl.{layer}.{name}_etl"


def resolve_arguments(argv: Sequence[str]) -> dict[str, str]:
    """The job arguments, through Glue's resolver when it exists, else argparse."""
    try:
        from awsglue.utils import getResolvedOptions  # Glue-only; see the module docstring
    except ImportError:
        return _parse_locally(argv)
    # getResolvedOptions treats every name it is given as required: ask for --files only when
    # the run has it (bronze jobs do; silver and gold jobs don't).
    names = list(REQUIRED) + [o for o in OPTIONAL if f"--{o}" in argv]
    resolved: dict[str, str] = getResolvedOptions(list(argv), names)
    return {k: resolved[k] for k in names}


def _parse_locally(argv: Sequence[str]) -> dict[str, str]:
    parser = argparse.ArgumentParser(prog="run_job.py", description=__doc__.splitlines()[0])
    for name in REQUIRED:
        parser.add_argument(f"--{name}", required=True)
    for name in OPTIONAL:
        parser.add_argument(f"--{name}")
    # Glue adds its own arguments (--JOB_ID, --job-bookmark-option, ...): ignore unknown ones.
    args, _unknown = parser.parse_known_args(list(argv[1:]))
    return {k: v for k, v in vars(args).items() if v is not None}


def etl_argv(args: dict[str, str]) -> list[str]:
    """The common flags of the etl entry points for these job arguments."""
    argv = [
        "--source-dir", args["source_dir"],
        "--lakehouse-dir", args["lakehouse_dir"],
        "--backend", BACKEND,
        "--batch-id", args["batch_id"],
    ]  # fmt: skip
    if args.get("files"):
        argv += ["--files", args["files"]]
    return argv


def load_job(job: str) -> Callable[[list[str] | None], int]:
    """The `main` of a job's module; ValueError for a job that is not in JOBS."""
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}; expected one of: {', '.join(JOBS)}")
    main: Callable[[list[str] | None], int] = importlib.import_module(module_name(job)).main
    return main


def run(argv: Sequence[str]) -> int:
    args = resolve_arguments(argv)
    # Great Expectations must not phone home from a job (architecture: nothing reaches the net).
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    main = load_job(args["etl_job"])
    forwarded = etl_argv(args)
    log.info("running %s with %s", args["etl_job"], " ".join(forwarded))
    return main(forwarded)


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    code = run(sys.argv)
    # Exit only on failure: a plain return is the safest "succeeded" for Glue.
    if code != 0:
        log.error("job failed with exit code %s", code)
        sys.exit(code)
