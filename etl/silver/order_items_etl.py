"""Silver order_items: typed, checked against their order and product, deduplicated by id."""

from __future__ import annotations

from etl.cli import job_main
from etl.contracts import ORDER_ITEMS
from etl.silver.job import SilverJob

JOB = SilverJob(ORDER_ITEMS)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
