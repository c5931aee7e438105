"""Bronze products: every products source file, as text, with lineage."""

from __future__ import annotations

from etl.bronze.ingest import BronzeJob
from etl.cli import job_main
from etl.contracts import PRODUCTS

JOB = BronzeJob(PRODUCTS)


def main(argv: list[str] | None = None) -> int:
    return job_main(JOB, argv)


if __name__ == "__main__":
    raise SystemExit(main())
