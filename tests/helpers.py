"""Small builders for real source files used by the tests, and the tests' comparisons in any
row order: of two DataFrames, and of two Delta tables as stored."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from chispa import assert_basic_rows_equality, assert_df_equality
from chispa.schema_comparer import assert_schema_equality
from openpyxl import Workbook
from openpyxl.writer.excel import ExcelWriter
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StructType

ORDER_COLUMNS = ["order_num", "order_id", "user_id", "order_timestamp", "total_amount", "date"]
ITEM_COLUMNS = [
    "id",
    "order_id",
    "user_id",
    "days_since_prior_order",
    "product_id",
    "add_to_cart_order",
    "reordered",
    "order_timestamp",
    "date",
]
PRODUCT_COLUMNS = ["product_id", "department_id", "department", "product_name"]
# The one time every test workbook carries (its properties and its archive's entries), so the same
# rows written twice are the same bytes: the pipeline takes a file whose bytes changed for new
# content, whatever the second on the clock when it was written.
WORKBOOK_TIME = datetime(2025, 1, 1)


def write_workbook(path: Path, sheets: Mapping[str, Sequence[Sequence[object]]]) -> Path:
    """A real .xlsx with one worksheet per entry; the first row of each is the header. The same
    sheets always give the same bytes."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    workbook.properties.created = workbook.properties.modified = WORKBOOK_TIME
    saved = io.BytesIO()
    with zipfile.ZipFile(saved, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()  # `Workbook.save` would stamp the clock's time
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        zipfile.ZipFile(saved) as written,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as fixed,
    ):
        for entry in written.infolist():  # each entry stamped with the one time, not the clock's
            stamped = zipfile.ZipInfo(entry.filename, WORKBOOK_TIME.timetuple()[:6])
            fixed.writestr(stamped, written.read(entry), zipfile.ZIP_DEFLATED)
    return path


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def order(order_id: int, user: int, ts: str, amount: float) -> list[object]:
    return [1, order_id, user, ts, amount, ts[:10]]


def item(
    i: int, order_id: int, user: int, product: int, ts: str, reordered: int = 0
) -> list[object]:
    return [i, order_id, user, 3, product, 1, reordered, ts, ts[:10]]


def write_sources(src: Path) -> Path:
    write_csv(
        src / "products.csv",
        "product_id,department_id,department,product_name\n"
        "1,1,Books,Product_1\n2,1,Home,Product_2\n3,2,Home,\n",
    )
    write_workbook(
        src / "orders_apr_2025.xlsx",
        {
            "2025-04-01": [
                ORDER_COLUMNS,
                order(10000, 1001, "2025-04-01T10:00:00", 10.5),
                order(10001, 1002, "2025-04-01T11:00:00", 20),
                order(10002, 1003, "2025-04-01T12:00:00", -1),  # rejected: negative
            ],
            "2025-04-02": [
                ORDER_COLUMNS,
                order(10003, 1001, "2025-04-02T09:00:00", 30.25),
                order(10000, 1001, "2025-04-01T10:00:00", 10.5),  # same order again: duplicate
            ],
        },
    )
    write_workbook(
        src / "order_items_apr_2025.xlsx",
        {
            "2025-04-01": [
                ITEM_COLUMNS,
                item(1, 10000, 1001, 1, "2025-04-01T10:00:00"),
                item(2, 10000, 1001, 2, "2025-04-01T10:00:00", reordered=1),
                item(3, 10001, 1002, 1, "2025-04-01T11:00:00"),
                item(4, 10099, 1009, 1, "2025-04-01T13:00:00"),  # orphan: order arrives later
            ],
            "2025-04-02": [
                ITEM_COLUMNS,
                item(5, 10003, 1001, 2, "2025-04-02T09:00:00", reordered=1),
            ],
        },
    )
    return src


def one_partition_sorted(df: DataFrame) -> DataFrame:
    """The rows in one order that depends only on their values, sorted on one partition: one
    Spark job without a shuffle (a global sort plans a sampling job and a shuffle). As chispa
    does, a struct, array or map column is ordered by its hash."""
    keys: list[Column] = [
        F.hash(F.col(f.name))
        if isinstance(f.dataType, StructType | ArrayType | MapType)
        else F.col(f.name)
        for f in df.schema.fields
    ]
    return df.coalesce(1).sortWithinPartitions(*keys)


def assert_rows_equal(
    actual: DataFrame, expected: DataFrame, ignore_nullable: bool = False
) -> None:
    """chispa's comparison of schemas and rows, in any row order (the tests' tables are small:
    each side is sorted on one partition instead of chispa's `ignore_row_order` global sort)."""
    assert_df_equality(
        actual, expected, ignore_nullable=ignore_nullable, transforms=[one_partition_sorted]
    )


@dataclass(frozen=True)
class StoredTable:
    """A Delta table's schema (Spark's types, from the table's log) and rows, as stored."""

    schema: StructType
    rows: list[Row]

    def without(self, columns: Collection[str]) -> StoredTable:
        """The other columns, in name order."""
        kept = sorted(n for n in self.schema.fieldNames() if n not in columns)
        schema = StructType([self.schema[n] for n in kept])
        return StoredTable(schema, [Row(**{n: row[n] for n in kept}) for row in self.rows])


def stored_table(path: str, version: int | None = None) -> StoredTable:
    """The table at `path` (at `version`; default the latest), read in this process by delta-rs
    whichever backend wrote it: no Spark job. The schema is the one a Spark read of the table
    gives (Delta's log holds it in Spark's own JSON form)."""
    from deltalake import DeltaTable

    from etl.storage.delta_rs_store import spark_schema

    table = DeltaTable(path, version=version)
    schema = spark_schema(table)
    rows = table.to_pyarrow_table(columns=schema.fieldNames()).to_pylist()
    return StoredTable(schema, [Row(**row) for row in rows])


def _order_key(value: Any) -> tuple[Any, ...]:
    """A sort key for any stored value: nulls first, then values of the column's one type
    (structs, arrays and maps compared element by element)."""
    if value is None:
        return (0,)
    if isinstance(value, dict):
        return (1, tuple(sorted((_order_key(k), _order_key(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return (1, tuple(_order_key(v) for v in value))
    return (1, value)


def assert_tables_equal(
    actual: StoredTable, expected: StoredTable, ignore_nullable: bool = False
) -> None:
    """chispa's comparison of schemas and rows, in any row order, of two stored tables."""
    assert_schema_equality(actual.schema, expected.schema, ignore_nullable=ignore_nullable)
    assert_basic_rows_equality(
        sorted(actual.rows, key=_order_key), sorted(expected.rows, key=_order_key)
    )
