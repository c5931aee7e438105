"""Silver orders: typed, validated, deduplicated by order_id; rejected rows quarantined."""

from __future__ import annotations

from functools import partial

from etl.cli import job_main
from etl.contracts import ORDERS
from etl.silver.job import SilverJob

JOB = SilverJob(ORDERS)


main = partial(job_main, JOB)  # python -m etl.<layer>.<name>_etl [flags]

if __name__ == "__main__":
    raise SystemExit(main())
