"""Silver products: typed, validated, deduplicated by product_id; rejected rows quarantined."""

from __future__ import annotations

from etl.jobs import JobContext, JobResult, job_main
from etl.silver.job import run_silver

JOB = "silver.products"


def run(ctx: JobContext) -> JobResult:
    return run_silver(ctx, "products")


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, __doc__ or JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
