"""Silver products: typed and deduplicated by product_id; rejected rows quarantined."""

from __future__ import annotations

from etl.cli import job_main
from etl.contracts import PRODUCTS
from etl.silver.job import SilverJob

JOB = SilverJob(PRODUCTS)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
