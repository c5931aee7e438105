"""Bronze products: every products source file, as text, with lineage."""

from __future__ import annotations

from etl.bronze.ingest import run_bronze
from etl.jobs import JobContext, JobResult, job_main

JOB = "bronze.products"


def run(ctx: JobContext) -> JobResult:
    return run_bronze(ctx, "products")


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, __doc__ or JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
