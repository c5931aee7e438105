"""The real April 2025 files: silver counts, and every gold figure checked against pandas.

The expected figures are computed here from the source files alone, read with openpyxl (the
pipeline uses python-calamine) and aggregated with pandas and exact decimals, so they are
independent of the pipeline's own code.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook
from pyspark.sql import SparkSession

from etl.accounting import balances
from etl.cli import new_context
from etl.pipeline import run_pipeline
from etl.runner import JobContext
from etl.settings import BACKENDS, Settings
from tests.conftest import REFERENCE_DATA, needs_reference_data

pytestmark = [pytest.mark.reference_data, needs_reference_data]
CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def read_workbook(path: Path) -> pd.DataFrame:
    book = load_workbook(path, read_only=True, data_only=True)
    frames = []
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        frames.append(pd.DataFrame(rows[1:], columns=rows[0]))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def source() -> dict[str, pd.DataFrame]:
    orders = read_workbook(REFERENCE_DATA / "orders_apr_2025.xlsx")
    orders["amount"] = [money(Decimal(repr(float(v)))) for v in orders["total_amount"]]
    orders["ts"] = pd.to_datetime(orders["order_timestamp"])
    orders["day"] = orders["ts"].dt.date
    items = read_workbook(REFERENCE_DATA / "order_items_apr_2025.xlsx")
    products = pd.read_csv(REFERENCE_DATA / "products.csv")
    items = items.merge(orders[["order_id", "day"]], on="order_id").merge(
        products[["product_id", "department"]], on="product_id"
    )
    return {"orders": orders, "items": items, "products": products}


@pytest.fixture(scope="module", params=BACKENDS)
def lakehouse(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> JobContext:
    """The real files through the whole pipeline, once per backend."""
    settings = Settings(
        source_dir=str(REFERENCE_DATA),
        lakehouse_dir=str(tmp_path_factory.mktemp("april")),
        backend=request.param,
        validate=False,  # figures only; validation is tested on the sample lakehouse
    )
    ctx = new_context(settings, spark)
    run_pipeline(ctx)
    return ctx


def gold(ctx: JobContext, table: str, key: str) -> pd.DataFrame:
    rows = [r.asDict() for r in ctx.store.read(ctx.path("gold", table)).collect()]
    return pd.DataFrame(rows).sort_values(key).reset_index(drop=True)


def assert_frames_match(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    expected = expected.reset_index(drop=True)
    actual = actual[list(expected.columns)]
    assert len(actual) == len(expected)
    for column in expected.columns:
        left, right = actual[column].tolist(), expected[column].tolist()
        if isinstance(right[0], float):
            assert left == pytest.approx(right, rel=1e-12, nan_ok=True), column
        else:
            assert left == right, column


def test_silver_holds_every_real_row(lakehouse: JobContext) -> None:
    counts = {
        b.dataset: (b.bronze, b.silver, b.quarantine, b.duplicates) for b in balances(lakehouse)
    }
    assert counts == {
        "products": (1000, 1000, 0, 0),
        "orders": (7500, 7500, 0, 0),
        "order_items": (40803, 40803, 0, 0),
    }


def test_daily_sales_match_pandas(lakehouse: JobContext, source: dict[str, pd.DataFrame]) -> None:
    orders, items = source["orders"], source["items"]
    by_day = orders.groupby("day").agg(
        total_orders=("order_id", "size"),
        total_revenue=("amount", lambda s: sum(s, Decimal(0))),
        unique_customers=("user_id", "nunique"),
    )
    by_day = by_day.join(
        items.groupby("day").agg(total_items=("id", "size"), reorder_rate=("reordered", "mean"))
    ).reset_index()
    by_day["avg_order_value"] = [
        money(r / n) for r, n in zip(by_day.total_revenue, by_day.total_orders, strict=True)
    ]
    by_day["items_per_order"] = by_day.total_items / by_day.total_orders
    by_day = by_day.rename(columns={"day": "order_date"})
    assert_frames_match(gold(lakehouse, "daily_sales", "order_date"), by_day)
    assert sum(by_day.total_revenue) == sum(source["orders"]["amount"])


def test_product_performance_matches_pandas(
    lakehouse: JobContext, source: dict[str, pd.DataFrame]
) -> None:
    items, products = source["items"], source["products"]
    sold = items.groupby("product_id").agg(
        units_sold=("id", "size"),
        order_count=("order_id", "nunique"),
        unique_customers=("user_id", "nunique"),
        reorder_rate=("reordered", "mean"),
        avg_add_to_cart_order=("add_to_cart_order", "mean"),
        first_order_date=("day", "min"),
        last_order_date=("day", "max"),
    )
    expected = products.set_index("product_id")[["product_name", "department"]].join(sold)
    expected = expected.reset_index().sort_values("product_id")
    assert expected.units_sold.notna().all()  # every real product sold at least once
    assert_frames_match(gold(lakehouse, "product_performance", "product_id"), expected)


def test_department_analytics_match_pandas(
    lakehouse: JobContext, source: dict[str, pd.DataFrame]
) -> None:
    items = source["items"]
    expected = items.groupby("department").agg(
        units_sold=("id", "size"),
        order_count=("order_id", "nunique"),
        unique_customers=("user_id", "nunique"),
        reorder_rate=("reordered", "mean"),
        products_sold=("product_id", "nunique"),
    )
    expected["share_of_units"] = expected.units_sold / len(items)
    expected = expected.reset_index().sort_values("department")
    assert_frames_match(gold(lakehouse, "department_analytics", "department"), expected)


def test_customer_insights_match_pandas(
    lakehouse: JobContext, source: dict[str, pd.DataFrame]
) -> None:
    orders, items = source["orders"], source["items"]
    per_user = orders.groupby("user_id").agg(
        total_orders=("order_id", "size"),
        total_spend=("amount", lambda s: sum(s, Decimal(0))),
        first_order_at=("ts", "min"),
        last_order_at=("ts", "max"),
    )
    per_user["avg_order_value"] = [
        money(s / n) for s, n in zip(per_user.total_spend, per_user.total_orders, strict=True)
    ]
    per_user = per_user.join(
        items.groupby("user_id").agg(
            total_items=("id", "size"),
            reorder_rate=("reordered", "mean"),
            avg_days_since_prior_order=("days_since_prior_order", "mean"),
        )
    )
    units = items.groupby(["user_id", "department"]).size().reset_index(name="units")
    favourite = (
        units.sort_values(["user_id", "units", "department"], ascending=[True, False, True])
        .drop_duplicates("user_id")
        .set_index("user_id")["department"]
    )
    per_user["favourite_department"] = favourite

    def segment(orders_count: int, spend: Decimal) -> str:  # the rule in docs/data_model.md
        if orders_count >= 3:
            return "champion"
        if orders_count == 2:
            return "loyal"
        return "big_spender" if spend >= 400 else "new"

    per_user["segment"] = [
        segment(n, s) for n, s in zip(per_user.total_orders, per_user.total_spend, strict=True)
    ]
    expected = per_user.reset_index().sort_values("user_id")
    expected["first_order_at"] = expected.first_order_at.dt.to_pydatetime()
    expected["last_order_at"] = expected.last_order_at.dt.to_pydatetime()
    actual = gold(lakehouse, "customer_insights", "user_id")
    assert_frames_match(actual, expected)
    assert set(actual.segment) == {"champion", "loyal", "big_spender", "new"}
