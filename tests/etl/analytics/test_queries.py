"""Every shipped Athena query runs over the sample lakehouse, and its figures agree with the same
figures computed independently with Spark from silver."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl.analytics.engine import QueryResult, run_query
from etl.analytics.named_queries import NamedQuery, load_named_queries, named_query
from etl.runner import JobContext

QUERIES = load_named_queries()


def run(ctx: JobContext, name: str) -> QueryResult:
    return run_query(named_query(name).sql, ctx.settings)


def silver(ctx: JobContext, dataset: str) -> DataFrame:
    return ctx.store.read(ctx.path("silver", dataset))


@pytest.mark.parametrize("query", QUERIES, ids=[q.name for q in QUERIES])
def test_every_shipped_query_runs(sample_lakehouse: JobContext, query: NamedQuery) -> None:
    result = run_query(query.sql, sample_lakehouse.settings)
    assert result.rows, f"{query.name} returned no rows"
    assert len(set(result.columns)) == len(result.columns)


def test_daily_revenue_and_moving_average_match_silver(sample_lakehouse: JobContext) -> None:
    by_day = {
        r["order_date"]: r["revenue"]
        for r in silver(sample_lakehouse, "orders")
        .groupBy("order_date")
        .agg(F.sum("total_amount").alias("revenue"))
        .collect()
    }
    rows = run(sample_lakehouse, "daily_revenue_moving_average").records()
    first, last = min(by_day), max(by_day)
    assert [r["order_date"] for r in rows] == [
        first + timedelta(days=i) for i in range((last - first).days + 1)
    ]
    for r in rows:
        day: date = r["order_date"]
        assert r["total_revenue"] == by_day.get(day, Decimal(0))
        window = [by_day.get(day - timedelta(days=i), Decimal(0)) for i in range(7)]
        window = window[: (day - first).days + 1]
        assert r["revenue_7d_avg"] == pytest.approx(float(sum(window)) / len(window), abs=0.006)
        assert r["days_in_average"] == len(window)


def test_customer_segments_match_silver(sample_lakehouse: JobContext) -> None:
    per_customer = (
        silver(sample_lakehouse, "orders")
        .groupBy("user_id")
        .agg(F.count("*").alias("orders"), F.sum("total_amount").alias("spend"))
        .collect()
    )

    def segment(orders: int, spend: Decimal) -> str:
        if orders >= 3:
            return "champion"
        if orders == 2:
            return "loyal"
        return "big_spender" if spend >= 400 else "new"

    sizes = Counter(segment(r["orders"], r["spend"]) for r in per_customer)
    spend: Counter[str] = Counter()
    for r in per_customer:
        spend[segment(r["orders"], r["spend"])] += r["spend"]
    result = {r["segment"]: r for r in run(sample_lakehouse, "customer_segments").records()}
    assert {k: r["customers"] for k, r in result.items()} == dict(sizes)
    assert {k: r["total_spend"] for k, r in result.items()} == dict(spend)
    assert sum(r["share_of_customers"] for r in result.values()) == pytest.approx(1, abs=1e-3)


def test_repeat_purchase_rate_matches_silver(sample_lakehouse: JobContext) -> None:
    counts = [
        r["n"]
        for r in silver(sample_lakehouse, "orders")
        .groupBy("user_id")
        .agg(F.count("*").alias("n"))
        .collect()
    ]
    (row,) = run(sample_lakehouse, "repeat_purchase_rate").records()
    repeat = sum(1 for n in counts if n >= 2)
    assert (row["customers"], row["repeat_customers"]) == (len(counts), repeat)
    assert row["repeat_purchase_rate"] == pytest.approx(repeat / len(counts), abs=5e-5)
    assert row["orders_per_customer"] == pytest.approx(sum(counts) / len(counts), abs=5e-5)


def test_basket_sizes_match_silver(sample_lakehouse: JobContext) -> None:
    lines = silver(sample_lakehouse, "order_items").groupBy("order_id").agg(F.count("*").alias("n"))
    baskets = (
        silver(sample_lakehouse, "orders")
        .join(lines, "order_id", "left")
        .select(F.coalesce("n", F.lit(0)).alias("size"))
        .groupBy("size")
        .count()
        .collect()
    )
    expected = {r["size"]: r["count"] for r in baskets}
    result = run(sample_lakehouse, "basket_size_distribution").records()
    assert {r["basket_size"]: r["orders"] for r in result} == expected
    assert result[-1]["cumulative_share"] == pytest.approx(1.0)


def test_department_share_matches_silver(sample_lakehouse: JobContext) -> None:
    units = (
        silver(sample_lakehouse, "order_items")
        .select("order_id", "product_id")
        .join(silver(sample_lakehouse, "orders").select("order_id", "order_date"), "order_id")
        .join(silver(sample_lakehouse, "products").select("product_id", "department"), "product_id")
        .groupBy("order_date", "department")
        .count()
        .collect()
    )
    expected = {(r["order_date"], r["department"]): r["count"] for r in units}
    result = run(sample_lakehouse, "department_daily_share").records()
    assert {(r["order_date"], r["department"]): r["units_sold"] for r in result} == expected
    day_totals = Counter[date]()
    for (day, _), n in expected.items():
        day_totals[day] += n
    for r in result:
        share = expected[(r["order_date"], r["department"])] / day_totals[r["order_date"]]
        assert r["share_of_units"] == pytest.approx(share, abs=5e-5)


def test_top_products_match_silver(sample_lakehouse: JobContext) -> None:
    per_product = (
        silver(sample_lakehouse, "order_items")
        .groupBy("product_id")
        .agg(F.count("*").alias("units"), F.avg("reordered").alias("rate"))
        .collect()
    )
    by_units = sorted(per_product, key=lambda r: (-r["units"], r["product_id"]))[:20]
    result = run(sample_lakehouse, "top_products_by_units").records()
    assert [(r["product_id"], r["units_sold"]) for r in result] == [
        (r["product_id"], r["units"]) for r in by_units
    ]
    eligible = [r for r in per_product if r["units"] >= 5]
    by_rate = sorted(eligible, key=lambda r: (-round(r["rate"], 4), -r["units"], r["product_id"]))
    result = run(sample_lakehouse, "top_products_by_reorder_rate").records()
    assert [r["product_id"] for r in result] == [r["product_id"] for r in by_rate[:20]]


def test_weekly_cohort_retention_matches_silver(sample_lakehouse: JobContext) -> None:
    weeks = (
        silver(sample_lakehouse, "orders")
        .select("user_id", F.to_date(F.date_trunc("week", "order_date")).alias("week"))
        .distinct()
        .withColumn("cohort", F.min("week").over(Window.partitionBy("user_id")))
        .collect()
    )
    cohort_sizes = Counter(r["cohort"] for r in weeks if r["week"] == r["cohort"])
    active = Counter((r["cohort"], (r["week"] - r["cohort"]).days // 7) for r in weeks)
    result = run(sample_lakehouse, "weekly_cohort_retention").records()
    assert {
        (r["cohort_week"], r["weeks_since_first_order"]): r["active_customers"] for r in result
    } == (dict(active))
    for r in result:
        assert r["cohort_size"] == cohort_sizes[r["cohort_week"]]
        assert r["cohort_week"].weekday() == 0  # Monday
