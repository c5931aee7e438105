"""Bad source files: a one-line error naming file, sheet, row and column, exit code 2, and no
table changed. Files that are unusual but well-formed (UTF-8 BOM, another delimiter, quoted
newlines, extra columns, values under no header, an empty worksheet, a chart sheet, an Excel
owner file, a linked workbook, timestamps with an offset) are read correctly instead.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from chispa import assert_df_equality
from openpyxl import load_workbook
from openpyxl.chart import BarChart, Reference
from pyspark.sql import SparkSession

from etl.cli import new_context
from etl.pipeline import main, run_pipeline
from etl.runner import JobContext
from etl.settings import Settings
from tests.helpers import (
    ITEM_COLUMNS,
    ORDER_COLUMNS,
    item,
    order,
    write_csv,
    write_sources,
    write_workbook,
)

PRODUCTS_HEADER = "product_id,department_id,department,product_name\n"


def truncated_workbook(folder: Path) -> None:
    whole = write_workbook(folder / "tmp.xlsx", {"2025-05-01": [ORDER_COLUMNS]}).read_bytes()
    (folder / "tmp.xlsx").unlink()
    (folder / "orders_may_2025.xlsx").write_bytes(whole[: len(whole) // 2])


def text_as_workbook(folder: Path) -> None:
    write_csv(folder / "order_items_may_2025.xlsx", "this is not a workbook\n")


def missing_column(folder: Path) -> None:
    write_csv(folder / "products_may.csv", "product_id,department_id,department\n7,1,Books\n")


def renamed_header(folder: Path) -> None:
    header = [("order_ts" if c == "order_timestamp" else c) for c in ITEM_COLUMNS]
    rows = [header, item(9, 10000, 1001, 1, "2025-05-01T10:00:00")]
    write_workbook(folder / "order_items_may_2025.xlsx", {"2025-05-01": rows})


def empty_file(folder: Path) -> None:
    write_csv(folder / "orders_may.csv", "")


def blank_file(folder: Path) -> None:
    write_csv(folder / "products_may.csv", "\n\n")


def unknown_dataset(folder: Path) -> None:
    write_csv(folder / "customers_may.csv", "user_id,name\n1,Ann\n")


def numeric_column_of_text(folder: Path) -> None:
    rows = [order(10100 + i, 1001, "2025-05-01T10:00:00", 1.0) for i in range(3)]
    for row, text in zip(rows, ("ten", "twenty", "thirty"), strict=True):
        row[4] = text
    write_workbook(folder / "orders_may_2025.xlsx", {"2025-05-01": [ORDER_COLUMNS, *rows]})


def not_utf8(folder: Path) -> None:
    write_csv(folder / "products_may.csv", PRODUCTS_HEADER + "7,1,Café,Crème\n", "latin-1")


def unterminated_quote(folder: Path) -> None:
    write_csv(folder / "products_may.csv", PRODUCTS_HEADER + '7,1,Books,"unterminated\n')


def duplicate_header(folder: Path) -> None:
    header = [*ORDER_COLUMNS, "Total_Amount"]
    rows = [header, [*order(10100, 1001, "2025-05-01T10:00:00", 1.0), 2.0]]
    write_workbook(folder / "orders_may_2025.xlsx", {"2025-05-01": rows})


def duplicate_csv_header(folder: Path) -> None:
    write_csv(folder / "products_may.csv", PRODUCTS_HEADER.rstrip() + ",department\n7,1,A,P,B\n")


def dangling_symlink(folder: Path) -> None:
    os.symlink(folder / "gone" / "orders_may_2025.xlsx", folder / "orders_may_2025.xlsx")


def missing_file(folder: Path) -> list[str]:
    return ["--files", str(folder / "orders_may_2025.xlsx")]


def missing_file_of_no_dataset(folder: Path) -> list[str]:
    return ["--files", str(folder / "notes.csv")]


def web_page_as_xls(folder: Path) -> None:
    write_csv(folder / "orders_may_2025.xls", "<html><table><tr><td>order_id</td></tr></table>")


def workbook_as_csv(folder: Path) -> None:
    shutil.copy(folder / "orders_apr_2025.xlsx", folder / "orders_may.csv")


def utf16_csv(folder: Path) -> None:
    write_csv(folder / "products_may.csv", PRODUCTS_HEADER + "7,1,Books,P\n", "utf-16")


def folder_as_file(folder: Path) -> list[str]:
    (folder / "orders_may_2025.xlsx").mkdir()
    return ["--files", str(folder / "orders_may_2025.xlsx")]


CASES: dict[str, tuple[Callable[[Path], list[str] | None], str]] = {
    "duplicated header": (
        duplicate_header,
        "error: file orders_may_2025.xlsx, sheet '2025-05-01', row 1, column 'Total_Amount': the "
        "header 'Total_Amount' appears twice (columns E and G): rename or remove one of them",
    ),
    "duplicated CSV header": (
        duplicate_csv_header,
        "error: file products_may.csv, row 1, column 'department': the header 'department' "
        "appears twice (columns 3 and 5): rename or remove one of them",
    ),
    "dangling symlink": (
        dangling_symlink,
        "error: file orders_may_2025.xlsx: a symbolic link to {source}/gone/orders_may_2025.xlsx, "
        "which does not exist: restore the file it points to, or remove the link",
    ),
    "--files that does not exist": (
        missing_file,
        "error: file {source}/orders_may_2025.xlsx: does not exist: check the path (paths in "
        "--files are relative to the current folder)",
    ),
    "--files that does not exist, of no dataset": (
        missing_file_of_no_dataset,
        "error: file {source}/notes.csv: does not exist: check the path (paths in --files are "
        "relative to the current folder)",
    ),
    "--files that is a folder": (
        folder_as_file,
        "error: file {source}/orders_may_2025.xlsx: is a folder, not a file: give it as "
        "--source-dir, or list the files in it",
    ),
    "web page named .xls": (
        web_page_as_xls,
        "error: file orders_may_2025.xls: unreadable workbook (it is an HTML or XML page, not an "
        "Excel file): open it in Excel and save it as .xlsx, or export it as CSV",
    ),
    "workbook named .csv": (
        workbook_as_csv,
        "error: file orders_may.csv: is an Excel workbook, not CSV text: rename it to .xlsx",
    ),
    "UTF-16 CSV": (
        utf16_csv,
        "error: file products_may.csv: is UTF-16 text, not UTF-8: save it again as CSV UTF-8",
    ),
    "truncated workbook": (
        truncated_workbook,
        "error: file orders_may_2025.xlsx: unreadable workbook (",
    ),
    "not a workbook": (
        text_as_workbook,
        "error: file order_items_may_2025.xlsx: unreadable workbook (it is text, not an Excel "
        "file): if it is CSV, rename it to .csv",
    ),
    "missing column": (
        missing_column,
        "error: file products_may.csv, row 1, column 'product_name': missing required column(s) "
        "product_name; header is: product_id, department_id, department",
    ),
    "renamed header": (
        renamed_header,
        "error: file order_items_may_2025.xlsx, sheet '2025-05-01', row 1, "
        "column 'order_timestamp': missing required column(s) order_timestamp; header is: id, "
        "order_id, user_id, days_since_prior_order, product_id, add_to_cart_order, reordered, "
        "order_ts, date",
    ),
    "empty file": (empty_file, "error: file orders_may.csv: the file is empty (0 bytes)"),
    "no header": (blank_file, "error: file products_may.csv: the file has no header row"),
    "unknown dataset": (
        unknown_dataset,
        "error: file customers_may.csv: unknown dataset: the name must start with, or sit in a "
        "folder named, one of products, orders, order_items",
    ),
    "numeric column of text": (
        numeric_column_of_text,
        "error: file orders_may_2025.xlsx, sheet '2025-05-01', row 2, column 'total_amount': "
        "column holds text where numbers are expected (first value 'ten', no number in its "
        "first 3 values)",
    ),
    "not UTF-8": (
        not_utf8,
        "error: file products_may.csv, row 2: not UTF-8 text (invalid continuation byte, byte 56)",
    ),
    "unterminated quote": (
        unterminated_quote,
        "error: file products_may.csv, row 2: malformed CSV: unexpected end of data",
    ),
}


def snapshot(lakehouse: Path) -> dict[str, list[str]]:
    """Every file of every table, so that any write (even a failed one) shows."""
    return {
        str(p.relative_to(lakehouse)): sorted(f.name for f in p.iterdir())
        for p in sorted(lakehouse.rglob("*"))
        if p.is_dir() and "_dq" not in p.parts
    }


@pytest.fixture(scope="module")
def good_lakehouse(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bad_files")
    source, lakehouse = write_sources(root / "source"), root / "lakehouse"
    settings = Settings(source_dir=str(source), lakehouse_dir=str(lakehouse), validate=False)
    run_pipeline(new_context(settings, spark))
    return source, lakehouse


@pytest.mark.parametrize("case", CASES)
def test_bad_file_fails_in_one_line_and_changes_no_table(
    case: str,
    good_lakehouse: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_bad_file, expected = CASES[case]
    source = Path(shutil.copytree(good_lakehouse[0], tmp_path / "source"))
    lakehouse = Path(shutil.copytree(good_lakehouse[1], tmp_path / "lakehouse"))
    arguments = make_bad_file(source) or []
    expected = expected.format(source=source)
    before = snapshot(lakehouse)

    flags = ["--source-dir", str(source), "--lakehouse-dir", str(lakehouse), "--no-validate"]
    code = main([*flags, *arguments])

    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert code == 2
    assert len(errors) == 1
    assert errors[0].startswith(expected) if expected.endswith("(") else errors[0] == expected
    assert snapshot(lakehouse) == before


def add_chart_sheet(path: Path) -> None:
    workbook = load_workbook(path)
    chart = BarChart()
    chart.add_data(Reference(workbook.worksheets[0], min_col=5, min_row=1, max_row=2))
    workbook.create_chartsheet("revenue").add_chart(chart)
    workbook.save(path)


def test_unusual_but_valid_files_are_read_correctly(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A UTF-8 BOM, semicolons, a quoted newline, an extra column, a value under no header, an
    empty worksheet, a chart sheet, an Excel owner file, a linked workbook and timestamps with
    an offset."""
    source = tmp_path / "source"
    write_csv(
        source / "products.csv",
        "\ufeffproduct_id;department_id;department;product_name;supplier\n"
        '1;1;Books;"Atlas\nsecond edition";ACME\n'
        '2;1;Home;"Lamp; brass";\n',
    )
    orders = write_workbook(
        source / "orders_apr_2025.xlsx",
        {
            "2025-04-01": [
                ORDER_COLUMNS,
                [*order(10000, 1001, "2025-04-01T10:00:00+02:00", 10.5), "stray"],
                order(10001, 1002, "2025-04-01T23:30:00-05:00", 20),
            ],
            "2025-04-02": [],  # an empty worksheet: skipped with a warning
        },
    )
    add_chart_sheet(orders)
    (source / "~$orders_apr_2025.xlsx").write_bytes(b"\x05owner" + bytes(160))
    items = write_workbook(
        tmp_path / "elsewhere" / "order_items_apr_2025.xlsx",
        {"2025-04-01": [ITEM_COLUMNS, item(1, 10000, 1001, 1, "2025-04-01T08:00:00Z")]},
    )
    os.symlink(items, source / "order_items_apr_2025.xlsx")
    settings = Settings(
        source_dir=str(source), lakehouse_dir=str(tmp_path / "lakehouse"), validate=False
    )
    ctx: JobContext = new_context(settings, spark)
    run_pipeline(ctx)

    bronze = ctx.store.read(ctx.path("bronze", "products")).orderBy("_source_row").collect()
    assert [(r["product_id"], r["product_name"], r["_extra"]) for r in bronze] == [
        ("1", "Atlas\nsecond edition", '{"supplier": "ACME"}'),
        ("2", "Lamp; brass", '{"supplier": null}'),
    ]
    silver = ctx.store.read(ctx.path("silver", "products"))
    assert "supplier" not in silver.columns
    assert sorted((r["product_id"], r["product_name"]) for r in silver.collect()) == [
        (1, "Atlas\nsecond edition"),
        (2, "Lamp; brass"),
    ]
    bronze_orders = ctx.store.read(ctx.path("bronze", "orders")).orderBy("_source_row")
    assert [json.loads(r["_extra"] or "{}") for r in bronze_orders.collect()] == [
        {"column_G": "stray"},
        {},
    ]
    actual_df = (
        ctx.store.read(ctx.path("silver", "orders"))
        .select("order_id", "order_timestamp", "order_date")
        .orderBy("order_id")
    )
    expected_df = spark.createDataFrame(
        [
            (10000, dt.datetime(2025, 4, 1, 8, 0), dt.date(2025, 4, 1)),
            (10001, dt.datetime(2025, 4, 2, 4, 30), dt.date(2025, 4, 2)),
        ],
        "order_id bigint, order_timestamp timestamp, order_date date",
    )
    assert_df_equality(actual_df, expected_df, ignore_nullable=True)
    lines = ctx.store.read(ctx.path("silver", "order_items")).collect()
    assert [(r["id"], r["_source_file"]) for r in lines] == [(1, "order_items_apr_2025.xlsx")]
    assert ctx.store.read(ctx.path("quarantine", "orders")).count() == 0
    messages = [r.getMessage() for r in caplog.records]
    for expected in (
        "products.csv: extra columns supplier kept in bronze (_extra), ignored in silver",
        "orders_apr_2025.xlsx sheet '2025-04-02' is empty; skipped",
        "orders_apr_2025.xlsx sheet 'revenue' is a chart sheet, not a worksheet; skipped",
        "orders_apr_2025.xlsx: values in columns without a header kept in bronze (_extra as "
        "column_G), ignored in silver; give those columns a header",
        "~$orders_apr_2025.xlsx: skipped: an Excel owner file, left while orders_apr_2025.xlsx "
        "is open in Excel (save and close the workbook before the run)",
    ):
        assert messages.count(expected) == 1, expected
