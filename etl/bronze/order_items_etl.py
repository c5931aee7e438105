"""Bronze order_items: every order_items source file, as text, with lineage."""

from __future__ import annotations

from etl.bronze.ingest import BronzeJob
from etl.cli import job_main
from etl.contracts import ORDER_ITEMS

JOB = BronzeJob(ORDER_ITEMS)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
