"""Bronze orders: every orders source file, as text, with lineage."""

from __future__ import annotations

from etl.bronze.ingest import run_bronze
from etl.jobs import JobContext, JobResult, job_main

JOB = "bronze.orders"


def run(ctx: JobContext) -> JobResult:
    return run_bronze(ctx, "orders")


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, __doc__ or JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
