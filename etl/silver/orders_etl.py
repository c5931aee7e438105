"""Silver orders: typed, validated, deduplicated by order_id; rejected rows quarantined."""

from __future__ import annotations

from etl.jobs import JobContext, JobResult, job_main
from etl.silver.job import run_silver

JOB = "silver.orders"


def run(ctx: JobContext) -> JobResult:
    return run_silver(ctx, "orders")


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, __doc__ or JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
