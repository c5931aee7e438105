"""Silver order_items: typed, validated, deduplicated by id; rejected rows quarantined."""

from __future__ import annotations

from etl.jobs import JobContext, JobResult, job_main
from etl.silver.job import run_silver

JOB = "silver.order_items"


def run(ctx: JobContext) -> JobResult:
    return run_silver(ctx, "order_items")


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, __doc__ or JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
