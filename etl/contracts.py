"""One declarative contract per source dataset.

A contract states the silver schema (each typed column and the source text it is parsed from),
the business key, how duplicates are ordered, partitioning and Z-order columns, and the row
rules with their severity. The silver casts, the quarantine split, the Great Expectations
suites and docs/data_quality.md are all derived from these objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # the row goes to quarantine
    WARN = "warn"  # the row is kept and the finding reported


@dataclass(frozen=True)
class Field:
    """A silver column parsed from a source text column."""

    name: str
    dtype: str  # bigint, int, decimal(p,s), timestamp, date, string
    source: str
    required: bool = True
    description: str = ""
    keep: bool = True  # False: parsed for rules only, not stored in silver


@dataclass(frozen=True)
class Rule:
    """A row rule: `violated` is a Spark SQL condition over the typed columns (and `_raw`, the
    source text), true on failure."""

    code: str
    violated: str
    description: str
    severity: Severity = Severity.ERROR


@dataclass(frozen=True)
class Reference:
    """The row's `column` must exist as `parent_key` in the parent dataset's silver table.

    `same` lists columns that must also agree with the parent's: (child column, parent column).
    A row whose only faults are missing parents is retried on later runs.
    """

    column: str
    parent: str
    parent_key: str
    same: tuple[tuple[str, str], ...] = ()

    @property
    def code(self) -> str:
        return f"{self.column}.no_parent"

    def mismatch_code(self, child_column: str) -> str:
        return f"{child_column}.differs_from_{self.parent.rstrip('s')}"


@dataclass(frozen=True)
class Contract:
    dataset: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    latest_first_by: tuple[str, ...]  # besides ingestion time, which always breaks ties
    derived: tuple[tuple[str, str, str], ...] = ()  # (name, dtype, Spark SQL expression)
    rules: tuple[Rule, ...] = ()
    references: tuple[Reference, ...] = ()
    partition_by: tuple[str, ...] = ()
    zorder_by: tuple[str, ...] = ()
    description: str = ""

    @property
    def source_columns(self) -> tuple[str, ...]:
        return tuple(f.source for f in self.fields)

    @property
    def numeric_source_columns(self) -> tuple[str, ...]:
        """Source columns parsed as numbers: a file whose column holds only text is unusable."""
        numeric = ("bigint", "int", "decimal", "double")
        return tuple(f.source for f in self.fields if f.dtype.startswith(numeric))

    @property
    def silver_columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.keep) + tuple(d[0] for d in self.derived)

    def retryable_codes(self) -> frozenset[str]:
        return frozenset(r.code for r in self.references)


TIMESTAMP_RANGE = "TIMESTAMP'2000-01-01 00:00:00' AND TIMESTAMP'2099-12-31 23:59:59'"

# The date written at the start of the source timestamp text: the local date of a timestamp with
# an offset (`2025-04-01T23:30:00-05:00` is 2025-04-01 here, 2025-04-02 in UTC). A source `date`
# column was written by a person next to that local time, so it is compared with this date.
LOCAL_DATE = "to_date(substr(trim(_raw.order_timestamp), 1, 10))"

BEYOND_HORIZON = "order_timestamp.beyond_horizon"
FUTURE_HORIZON_DAYS = 1  # default horizon: a timestamp dated after tomorrow (UTC) is reported


def beyond_horizon(days: int = FUTURE_HORIZON_DAYS, run_date: date | None = None) -> Rule:
    """The warning for a timestamp dated more than `days` days after the run date (UTC).

    Without `run_date` the condition reads `current_date()`, the date the query runs. Timestamps
    after 2099 are left to the `out_of_range` error alone.
    """
    if days < 0:
        raise ValueError(f"the future horizon must be 0 or more days, not {days}")
    today = f"DATE'{run_date.isoformat()}'" if run_date else "current_date()"
    return Rule(
        BEYOND_HORIZON,
        f"to_date(order_timestamp) > date_add({today}, {days}) "
        f"AND order_timestamp BETWEEN {TIMESTAMP_RANGE}",
        f"order_timestamp dated (in UTC) more than {days} day(s) after the run date",
        Severity.WARN,
    )


# Orders and order lines carry the same timestamp and date columns, with the same rules.
TIMESTAMP_RULES = (
    Rule(
        "order_timestamp.out_of_range",
        f"NOT (order_timestamp BETWEEN {TIMESTAMP_RANGE})",
        "order_timestamp before 2000 or after 2099",
    ),
    beyond_horizon(),
    Rule(
        "date.mismatch",
        f"order_timestamp IS NOT NULL AND date <> {LOCAL_DATE}",
        "the date column disagrees with the date written in order_timestamp (its local date, "
        "before conversion to UTC)",
    ),
)
ORDER_DATE = (("order_date", "date", "to_date(order_timestamp)"),)

PRODUCTS = Contract(
    dataset="products",
    description="The product catalogue; the latest ingested row of a product wins.",
    fields=(
        Field("product_id", "bigint", "product_id", description="business key"),
        Field("department_id", "int", "department_id", description="department code"),
        Field("department", "string", "department", description="department name"),
        Field("product_name", "string", "product_name", description="product name"),
    ),
    key=("product_id",),
    latest_first_by=(),
    rules=(
        Rule(
            "department_id.ambiguous",
            "size(collect_set(department) OVER (PARTITION BY department_id)) > 1",
            "the department_id maps to more than one department name in the batch",
            Severity.WARN,
        ),
    ),
    zorder_by=("product_id",),
)

ORDERS = Contract(
    dataset="orders",
    description="One row per order; a later order_timestamp replaces an earlier one.",
    fields=(
        Field("order_id", "bigint", "order_id", description="business key"),
        Field("order_num", "int", "order_num", required=False, description="order number"),
        Field("user_id", "bigint", "user_id", description="customer"),
        Field("order_timestamp", "timestamp", "order_timestamp", description="UTC"),
        Field("total_amount", "decimal(12,2)", "total_amount", description="order value"),
        Field("date", "date", "date", required=False, keep=False, description="source date"),
    ),
    key=("order_id",),
    latest_first_by=("order_timestamp",),
    derived=ORDER_DATE,
    rules=(
        *TIMESTAMP_RULES,
        Rule("total_amount.negative", "total_amount < 0", "total_amount below zero"),
    ),
    partition_by=("order_date",),
    zorder_by=("user_id",),
)

ORDER_ITEMS = Contract(
    dataset="order_items",
    description="One row per order line; belongs to a silver order and a silver product.",
    fields=(
        Field("id", "bigint", "id", description="business key"),
        Field("order_id", "bigint", "order_id", description="parent order"),
        Field("user_id", "bigint", "user_id", description="customer, as on the order"),
        Field("days_since_prior_order", "int", "days_since_prior_order", required=False),
        Field("product_id", "bigint", "product_id", description="parent product"),
        Field("add_to_cart_order", "int", "add_to_cart_order", description="position in cart"),
        Field("reordered", "int", "reordered", description="1 when bought before"),
        Field("order_timestamp", "timestamp", "order_timestamp", description="UTC"),
        Field("date", "date", "date", required=False, keep=False, description="source date"),
    ),
    key=("id",),
    latest_first_by=("order_timestamp",),
    derived=ORDER_DATE,
    rules=(
        *TIMESTAMP_RULES,
        Rule("reordered.not_0_or_1", "reordered NOT IN (0, 1)", "reordered is neither 0 nor 1"),
        Rule("add_to_cart_order.below_1", "add_to_cart_order < 1", "add_to_cart_order below 1"),
        Rule(
            "days_since_prior_order.out_of_range",
            "NOT (days_since_prior_order BETWEEN 0 AND 365)",
            "days_since_prior_order outside 0-365",
        ),
    ),
    references=(
        Reference("order_id", "orders", "order_id", same=(("user_id", "user_id"),)),
        Reference("product_id", "products", "product_id"),
    ),
    partition_by=("order_date",),
    # Point lookups on order lines are by product; customer lookups go to gold.customer_insights
    # (Z-ordered by user_id). A second Z-order column would spread each file over every product
    # (only about a thousand exist) and no file could be skipped.
    zorder_by=("product_id",),
)

CONTRACTS: dict[str, Contract] = {c.dataset: c for c in (PRODUCTS, ORDERS, ORDER_ITEMS)}
DATASETS: tuple[str, ...] = tuple(CONTRACTS)
