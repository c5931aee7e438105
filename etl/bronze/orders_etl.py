"""Bronze orders: every orders source file, as text, with lineage."""

from __future__ import annotations

from functools import partial

from etl.bronze.ingest import BronzeJob
from etl.cli import job_main
from etl.contracts import ORDERS

JOB = BronzeJob(ORDERS)


main = partial(job_main, JOB)  # python -m etl.<layer>.<name>_etl [flags]

if __name__ == "__main__":
    raise SystemExit(main())
