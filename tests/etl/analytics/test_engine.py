"""Trino → DuckDB translation and table resolution of the query layer (no lakehouse needed)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from etl.analytics.engine import (
    QueryError,
    connect,
    run_query,
    table_exists,
    table_path,
    to_duckdb,
)
from etl.settings import Settings


def test_tables_are_resolved_and_ctes_skipped() -> None:
    sql = """
        WITH recent AS (SELECT * FROM gold.daily_sales)
        SELECT * FROM recent JOIN silver.orders AS o ON o.order_date = recent.order_date
        JOIN customer_insights ON TRUE
    """
    duck, tables = to_duckdb(sql)
    assert tables == ["gold.customer_insights", "gold.daily_sales", "silver.orders"]
    assert "gold.customer_insights" in duck


def test_the_athena_catalog_name_is_accepted() -> None:
    duck, tables = to_duckdb("SELECT * FROM awsdatacatalog.gold.daily_sales")
    assert tables == ["gold.daily_sales"]
    assert "awsdatacatalog" not in duck


def test_trino_functions_are_translated() -> None:
    duck, _ = to_duckdb(
        "SELECT approx_percentile(total_revenue, 0.5), cardinality(ARRAY[1, 2]) "
        "FROM gold.daily_sales"
    )
    assert "APPROX_QUANTILE" in duck.upper()


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM gold.nope", "unknown table gold.nope"),
        ("SELECT * FROM bronze.orders", "unknown table bronze.orders"),
        ("SELECT * FROM other.gold.daily_sales", "unknown catalog other"),
        ("SELEC 1", "invalid SQL at line 1"),
        ("SELECT 1; SELECT 2", "expected one SQL statement"),
        ("DROP TABLE gold.daily_sales", "only queries"),
        ("SELECT * FROM read_csv('/etc/passwd')", "is not a table of the lakehouse"),
        ("SELECT * FROM TABLE(sequence(1, 3))", "is not a table of the lakehouse"),
    ],
)
def test_bad_queries_are_refused_with_one_line(sql: str, message: str) -> None:
    with pytest.raises(QueryError, match=message) as caught:
        to_duckdb(sql)
    assert "\n" not in str(caught.value)


def test_a_table_never_written_is_reported(tmp_path: Path) -> None:
    settings = Settings(lakehouse_dir=str(tmp_path))
    assert not table_exists(settings, "audit.dq_results")
    assert table_path(settings, "audit.runs") == f"{tmp_path}/_audit/runs"
    with pytest.raises(QueryError, match=r"table gold\.daily_sales does not exist yet"):
        run_query("SELECT * FROM gold.daily_sales", settings)


def test_queries_without_tables_follow_trino_arithmetic(tmp_path: Path) -> None:
    result = run_query("SELECT 7 / 2 AS q, 7.0 / 2 AS d", Settings(lakehouse_dir=str(tmp_path)))
    assert result.rows == [(3, 3.5)]


def test_duckdb_errors_become_one_line_query_errors(tmp_path: Path) -> None:
    with pytest.raises(QueryError, match="Conversion Error") as caught:
        run_query("SELECT CAST('x' AS INTEGER)", Settings(lakehouse_dir=str(tmp_path)))
    assert "\n" not in str(caught.value)


def test_the_engine_reads_no_file_itself(tmp_path: Path) -> None:
    """Behind the table check, DuckDB itself may open no file: it sees only registered data."""
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with pytest.raises(duckdb.PermissionException):
        connect().execute(f"SELECT * FROM read_csv('{secret}')")


def test_a_missing_or_file_lakehouse_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(QueryError, match=rf"^no lakehouse at {missing}: the folder does not exist"):
        run_query("SELECT * FROM gold.daily_sales", Settings(lakehouse_dir=str(missing)))
    (tmp_path / "file").write_text("")
    with pytest.raises(QueryError, match=r"is a file; --lakehouse-dir takes a folder"):
        run_query("SELECT * FROM gold.daily_sales", Settings(lakehouse_dir=str(tmp_path / "file")))


def test_a_table_with_column_mapping_is_read_by_name(tmp_path: Path) -> None:
    """Its Parquet columns have physical names; a plain Arrow dataset would read them as nulls."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    path = tmp_path / "gold" / "daily_sales"
    source = pa.table(
        {"order_date": pa.array(["2025-04-01", "2025-04-02"]), "total_orders": [3, 4]}
    )
    DeltaTable.create(
        str(path),
        schema=source.schema,
        configuration={"delta.columnMapping.mode": "name"},
    )
    write_deltalake(str(path), source, mode="append")
    result = run_query(
        "SELECT order_date, total_orders FROM gold.daily_sales ORDER BY 1",
        Settings(lakehouse_dir=str(tmp_path)),
    )
    assert result.rows == [("2025-04-01", 3), ("2025-04-02", 4)]
