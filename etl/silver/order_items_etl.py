"""Silver order_items: typed, checked against their order and product, deduplicated by id."""

from __future__ import annotations

from functools import partial

from etl.cli import job_main
from etl.contracts import ORDER_ITEMS
from etl.silver.job import SilverJob

JOB = SilverJob(ORDER_ITEMS)


main = partial(job_main, JOB)  # python -m etl.<layer>.<name>_etl [flags]

if __name__ == "__main__":
    raise SystemExit(main())
