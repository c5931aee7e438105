"""Bronze orders: every orders source file, as text, with lineage."""

from __future__ import annotations

from etl.bronze.ingest import BronzeJob
from etl.cli import job_main
from etl.contracts import ORDERS

JOB = BronzeJob(ORDERS)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
