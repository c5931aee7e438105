"""Bronze's parsing without Spark: cell text, datasets, discovery, headers, `_extra`, CSV dialects
and every source-file mistake, on real files written in tmp_path."""

from __future__ import annotations

import json
import logging
import os
import shutil
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference

from etl.contracts import ORDERS, PRODUCTS
from etl.errors import EtlError, SourceFileError
from etl.sources import (
    NoSourceFilesError,
    SourceFile,
    SourceRows,
    cell_text,
    check_structure,
    column_label,
    dataset_of,
    discover,
    file_sha256,
    read_source,
    require_source_files,
)
from tests.helpers import ORDER_COLUMNS, PRODUCT_COLUMNS, order, write_csv, write_workbook
from tests.infrastructure.support import (
    REGION,
    aws_env,
    boto_client,
    moto_credentials,
    moto_server,
)

PRODUCTS_HEADER = ",".join(PRODUCT_COLUMNS) + "\n"
TS = "2025-04-01T10:00:00"


def source(path: Path, dataset: str) -> SourceFile:
    return SourceFile(uri=str(path), name=path.name, dataset=dataset)


def read(path: Path, dataset: str = "orders") -> SourceRows:
    contract = ORDERS if dataset == "orders" else PRODUCTS
    parsed = read_source(source(path, dataset), contract.source_columns)
    assert parsed is not None
    return parsed


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# cell_text ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        (" a b ", " a b "),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (3.0, "3"),
        (-0.0, "0"),
        (2.5, "2.5"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (datetime(2025, 4, 1, 10, 0), "2025-04-01T10:00:00"),
        (datetime(2025, 4, 1, 10, 0, 0, 500000), "2025-04-01T10:00:00.500000"),
        (date(2025, 4, 1), "2025-04-01"),
        (time(10, 30), "10:30:00"),
        (timedelta(hours=1, minutes=5), "1:05:00"),
    ],
)
def test_cell_text_is_what_a_user_sees(value: object, expected: str | None) -> None:
    assert cell_text(value) == expected


@pytest.mark.parametrize(
    ("sheet", "index", "expected"),
    [
        (None, 0, "1"),
        (None, 6, "7"),
        ("s", 0, "A"),
        ("s", 6, "G"),
        ("s", 25, "Z"),
        ("s", 26, "AA"),
        ("s", 701, "ZZ"),
        ("s", 702, "AAA"),
    ],
)
def test_column_label_is_a_letter_in_a_workbook_and_a_number_in_a_csv(
    sheet: str | None, index: int, expected: str
) -> None:
    assert column_label(sheet, index) == expected


# dataset_of -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("orders_apr_2025.xlsx", "orders"),
        ("order_items_apr_2025.xlsx", "order_items"),
        ("ORDERS-May.CSV", "orders"),
        ("products.csv", "products"),
        ("orders2025.csv", "orders"),
        ("orders/2025-04-01.csv", "orders"),
        ("2025/order_items/day1.xlsx", "order_items"),
        ("orders/products_new.csv", "products"),  # the name wins over the folder
        ("ordersapr.xlsx", None),
        ("order_apr.xlsx", None),
        ("customers.csv", None),
        ("~$orders_apr_2025.xlsx", None),
    ],
)
def test_dataset_of_reads_the_name_prefix_then_the_folder(name: str, expected: str | None) -> None:
    assert dataset_of(name) == expected


# discover -------------------------------------------------------------------------------------


def test_discover_lists_source_files_sorted_and_skips_what_is_not_a_source(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    elsewhere = write_csv(tmp_path / "elsewhere" / "real.csv", PRODUCTS_HEADER)
    src = tmp_path / "src"
    for name in (
        "products.csv",
        "orders/2025-04-02.csv",
        "order_items_apr.xlsx",
        "_SUCCESS.csv",
        ".hidden_orders.csv",
        ".ipynb_checkpoints/products-checkpoint.csv",
        "_archive/orders_old.csv",
        "README.md",
        "~$orders_apr.xlsx",
        "orders_jun.ods",
    ):
        write_csv(src / name, "x")
    (src / "orders_folder.xlsx").mkdir()  # a folder named like a file holds no files
    os.symlink(elsewhere, src / "products_linked.csv")
    os.symlink(".", src / "loop")

    found = discover(str(src))

    assert [(f.name, f.dataset) for f in found] == [
        ("order_items_apr.xlsx", "order_items"),
        ("orders/2025-04-02.csv", "orders"),
        ("products.csv", "products"),
        ("products_linked.csv", "products"),
    ]
    assert found[3].uri == str(src / "products_linked.csv")
    assert sorted(warnings(caplog)) == [
        f"{src}/loop: a link to a folder already read; not read again",
        "orders_jun.ods: skipped: only .csv, .xlsx, .xlsm, .xls files are read",
        "~$orders_apr.xlsx: skipped: an Excel owner file, left while orders_apr.xlsx is open in "
        "Excel (save and close the workbook before the run)",
    ]


def test_discover_warns_once_per_file_although_every_job_lists_the_sources(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_csv(tmp_path / "products.csv", PRODUCTS_HEADER)
    write_csv(tmp_path / "~$orders.xlsx", "owner")
    assert discover(str(tmp_path)) == discover(str(tmp_path))
    assert len(warnings(caplog)) == 1


def test_discover_takes_files_as_given(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = tmp_path / "src"
    inside = write_csv(src / "orders" / "day1.csv", "x")
    outside = write_csv(tmp_path / "drop" / "products_may.csv", "x")
    owner = write_csv(src / "~$orders_apr.xlsx", "owner")
    files = (str(inside), str(outside), str(inside), str(owner))

    found = discover(str(src), files)

    assert found == [
        SourceFile(str(inside), "orders/day1.csv", "orders"),
        SourceFile(str(outside), "products_may.csv", "products"),
    ]
    assert len(warnings(caplog)) == 1


def errors_of(source_dir: Path | str, files: tuple[str, ...] = ()) -> str:
    with pytest.raises(EtlError) as caught:
        discover(str(source_dir), files)
    return str(caught.value)


def test_a_dangling_symlink_in_the_drop_folder_is_an_error(tmp_path: Path) -> None:
    write_csv(tmp_path / "products.csv", PRODUCTS_HEADER)
    os.symlink(tmp_path / "gone" / "orders_may.xlsx", tmp_path / "orders_may.xlsx")
    assert errors_of(tmp_path) == (
        f"file orders_may.xlsx: a symbolic link to {tmp_path}/gone/orders_may.xlsx, which does "
        "not exist: restore the file it points to, or remove the link"
    )


def test_a_hidden_dangling_link_is_skipped(tmp_path: Path) -> None:
    """Editors leave locks as dangling links (`.#orders.xlsx`): hidden, so never looked at."""
    write_csv(tmp_path / "products.csv", PRODUCTS_HEADER)
    os.symlink("root@host.123", tmp_path / ".#orders.xlsx")
    assert [f.name for f in discover(str(tmp_path))] == ["products.csv"]


def test_a_pipe_named_like_a_source_is_an_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "orders_may.csv")
    assert errors_of(tmp_path) == (
        "file orders_may.csv: is not a regular file (a pipe or a device): copy it to one"
    )


def test_an_unknown_dataset_is_an_error(tmp_path: Path) -> None:
    write_csv(tmp_path / "customers_may.csv", "x")
    assert errors_of(tmp_path) == (
        "file customers_may.csv: unknown dataset: the name must start with, or sit in a folder "
        "named, one of products, orders, order_items"
    )


def test_a_missing_or_misplaced_source_folder_is_an_error(tmp_path: Path) -> None:
    file = write_csv(tmp_path / "products.csv", PRODUCTS_HEADER)
    assert errors_of(tmp_path / "nothing") == (
        f"source folder {tmp_path}/nothing does not exist: check --source-dir"
    )
    assert errors_of(file) == (
        f"source folder {file} is a file, not a folder: give its folder as --source-dir, or the "
        "file as --files"
    )


def test_files_that_do_not_exist_say_so_whatever_their_name(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_csv(src / "orders_apr.csv", "x")
    missing = str(tmp_path / "nope" / "orders_may.xlsx")
    advice = "does not exist: check the path (paths in --files are relative to the current folder)"
    assert errors_of(src, (missing,)) == f"file {missing}: {advice}"
    assert errors_of(src, ("customers.csv",)) == f"file customers.csv: {advice}"
    assert errors_of(src, ("orders_apr.csv",)) == (
        f"file orders_apr.csv: {advice}; did you mean {src}/orders_apr.csv?"
    )


def test_files_that_are_folders_or_other_formats_are_errors(tmp_path: Path) -> None:
    folder = tmp_path / "orders_may.xlsx"
    folder.mkdir()
    text = write_csv(tmp_path / "orders_may.txt", "x")
    assert errors_of(tmp_path, (str(folder),)) == (
        f"file {folder}: is a folder, not a file: give it as --source-dir, or list the files in it"
    )
    assert errors_of(tmp_path, (str(text),)) == (
        "file orders_may.txt: not a source file: only .csv, .xlsx, .xlsm, .xls files are read"
    )


def test_two_files_recorded_under_one_name_are_an_error(tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a" / "products.csv", PRODUCTS_HEADER + "1,1,Books,P1\n")
    second = write_csv(tmp_path / "b" / "products.csv", PRODUCTS_HEADER + "2,1,Books,P2\n")
    assert errors_of(tmp_path / "src", (str(first), str(second))) == (
        f"file products.csv: two files would be recorded under this name ({first} and "
        f"{second}): rename one of them"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file whatever its permissions")
def test_unreadable_files_and_folders_are_errors(tmp_path: Path) -> None:
    file = write_csv(tmp_path / "src" / "products.csv", PRODUCTS_HEADER)
    file.chmod(0)
    assert errors_of(tmp_path / "src") == (
        "file products.csv: cannot be read: permission denied; give the user running the "
        "pipeline read access"
    )
    file.chmod(0o644)
    folder = tmp_path / "src" / "orders"
    folder.mkdir()
    folder.chmod(0)
    try:
        assert errors_of(tmp_path / "src") == (
            f"source folder {folder} cannot be listed (Permission denied): give the user running "
            "the pipeline read access"
        )
    finally:
        folder.chmod(0o755)


def test_require_source_files_refuses_a_folder_with_nothing_to_read(tmp_path: Path) -> None:
    write_csv(tmp_path / "README.md", "notes")
    write_csv(tmp_path / "~$orders_apr.xlsx", "owner")
    with pytest.raises(NoSourceFilesError) as caught:
        require_source_files(str(tmp_path))
    assert str(caught.value) == (
        f"no source files found in {tmp_path}: expected .csv, .xlsx, .xlsm, .xls files whose "
        "name starts with (or whose folder is named) products, orders, order_items; check "
        "--source-dir"
    )
    write_csv(tmp_path / "products.csv", PRODUCTS_HEADER)
    assert [f.name for f in require_source_files(str(tmp_path))] == ["products.csv"]


# headers, _extra and blank rows ---------------------------------------------------------------


def test_header_maps_columns_in_any_order_and_case_to_the_contract(tmp_path: Path) -> None:
    header = ["Total_Amount", "DATE", "order_timestamp", "user_id", "order_id", "order_num"]
    path = write_workbook(
        tmp_path / "orders_apr.xlsx",
        {"day 1": [header, [10.5, "2025-04-01", TS, 1001, 10000, 1]]},
    )
    parsed = read(path)
    assert parsed.columns == ORDERS.source_columns
    assert parsed.rows == [("10000", "1", "1001", TS, "10.5", "2025-04-01", "day 1", 2, None)]
    assert (parsed.blank_rows, parsed.extra_columns, parsed.row_count) == (0, (), 1)
    assert parsed.sha256 == file_sha256(str(path))


def test_blank_rows_are_skipped_and_counted_and_rows_keep_their_numbers(tmp_path: Path) -> None:
    rows = [
        [],
        ORDER_COLUMNS,
        order(10000, 1001, TS, 1),
        [None] * 6,
        ["", " ", None, None, None, None],
        order(10001, 1002, TS, 2),
    ]
    parsed = read(write_workbook(tmp_path / "orders_apr.xlsx", {"s": rows}))
    assert [(r[0], r[-2]) for r in parsed.rows] == [("10000", 3), ("10001", 6)]
    assert parsed.blank_rows == 2


def test_unknown_headers_and_values_without_a_header_are_kept_in_extra(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Column G has no header: its values are kept under `column_G`, never dropped."""
    header = [*ORDER_COLUMNS, None, "note"]
    path = write_workbook(
        tmp_path / "orders_apr.xlsx",
        {
            "day 1": [header, [*order(10000, 1001, TS, 1), "stray", None]],
            "day 2": [header, [*order(10001, 1002, TS, 2), None, "late"]],
        },
    )
    parsed = read(path)
    assert [json.loads(r[-1]) for r in parsed.rows] == [
        {"note": None, "column_G": "stray"},
        {"note": "late"},
    ]
    assert parsed.extra_columns == ("note", "column_G")
    assert warnings(caplog) == [
        "orders_apr.xlsx: extra columns note kept in bronze (_extra), ignored in silver",
        "orders_apr.xlsx: values in columns without a header kept in bronze (_extra as "
        "column_G), ignored in silver; give those columns a header",
    ]


def test_columns_are_named_where_they_are_in_the_sheet(tmp_path: Path) -> None:
    """A table that starts at C3 keeps its real column letters and row numbers."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "s"
    for offset, values in enumerate([ORDER_COLUMNS, order(10000, 1001, TS, 1)]):
        for i, value in enumerate(values):
            sheet.cell(row=3 + offset, column=3 + i, value=value)
    sheet["A4"] = "left of the table"
    workbook.save(tmp_path / "orders_apr.xlsx")
    parsed = read(tmp_path / "orders_apr.xlsx")
    assert [(r[0], r[-2], json.loads(r[-1])) for r in parsed.rows] == [
        ("10000", 4, {"column_A": "left of the table"})
    ]


def test_a_csv_row_longer_than_its_header_keeps_the_rest_in_extra(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "products.csv", PRODUCTS_HEADER + "1,1,Books,P1,on sale,\n2,1,Home,P2\n"
    )
    parsed = read(path, "products")
    assert [(r[0], r[-1]) for r in parsed.rows] == [("1", '{"column_5": "on sale"}'), ("2", None)]
    assert parsed.extra_columns == ("column_5",)


def test_a_positional_key_taken_by_a_header_is_an_error(tmp_path: Path) -> None:
    header = [*ORDER_COLUMNS, None, "column_G"]
    path = write_workbook(
        tmp_path / "orders_apr.xlsx", {"s": [header, [*order(10000, 1001, TS, 1), "x", "y"]]}
    )
    with pytest.raises(SourceFileError) as caught:
        read(path)
    assert str(caught.value) == (
        "file orders_apr.xlsx, sheet 's', row 2: column G has no header but holds a value, and "
        "another column is headed column_G: give column G a header"
    )


@pytest.mark.parametrize("check", [False, True], ids=["read", "preflight"])
def test_a_duplicated_header_is_an_error_naming_file_sheet_and_column(
    tmp_path: Path, check: bool
) -> None:
    header = [*ORDER_COLUMNS, "Total_Amount"]
    path = write_workbook(
        tmp_path / "orders_apr.xlsx",
        {"ok": [ORDER_COLUMNS], "day 2": [header, [*order(10000, 1001, TS, 1), 2]]},
    )
    with pytest.raises(SourceFileError) as caught:
        if check:
            check_structure(source(path, "orders"), ORDERS.source_columns)
        else:
            read(path)
    assert str(caught.value) == (
        "file orders_apr.xlsx, sheet 'day 2', row 1, column 'Total_Amount': the header "
        "'Total_Amount' appears twice (columns E and G): rename or remove one of them"
    )


def test_a_duplicated_unknown_header_is_an_error_too(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "products.csv", "product_id,note,department_id,department,product_name,note\n"
    )
    with pytest.raises(SourceFileError) as caught:
        check_structure(source(path, "products"), PRODUCTS.source_columns)
    assert str(caught.value) == (
        "file products.csv, row 1, column 'note': the header 'note' appears twice "
        "(columns 2 and 6): rename or remove one of them"
    )


def test_sheets_that_hold_no_rows_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    workbook = Workbook()
    data = workbook.active
    assert data is not None
    data.title = "day 1"
    for row in (ORDER_COLUMNS, order(10000, 1001, TS, 1)):
        data.append(row)
    workbook.create_sheet("day 2")
    chart = BarChart()
    chart.add_data(Reference(data, min_col=5, min_row=1, max_row=2))
    workbook.create_chartsheet("revenue").add_chart(chart)
    workbook.save(tmp_path / "orders_apr.xlsx")

    parsed = read(tmp_path / "orders_apr.xlsx")
    check_structure(source(tmp_path / "orders_apr.xlsx", "orders"), ORDERS.source_columns)

    assert [r[-3] for r in parsed.rows] == ["day 1"]
    assert warnings(caplog) == [
        "orders_apr.xlsx sheet 'revenue' is a chart sheet, not a worksheet; skipped",
        "orders_apr.xlsx sheet 'day 2' is empty; skipped",
    ]


def test_a_sink_receives_each_sheet_and_nothing_is_kept(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "orders_apr.xlsx",
        {
            "a": [ORDER_COLUMNS, order(10000, 1001, TS, 1), order(10001, 1001, TS, 1)],
            "b": [ORDER_COLUMNS, order(10002, 1001, TS, 1)],
        },
    )
    received: list[tuple[str | None, list[object]]] = []
    parsed = read_source(
        source(path, "orders"),
        ORDERS.source_columns,
        sink=lambda sheet, rows: received.append((sheet, [r[0] for r in rows])),
    )
    assert parsed is not None
    assert received == [("a", ["10000", "10001"]), ("b", ["10002"])]
    assert (parsed.rows, parsed.row_count) == ([], 3)


def test_a_file_ingested_before_is_not_parsed_again(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "products.csv", PRODUCTS_HEADER + "1,1,Books,P1\n")
    known = {("products.csv", file_sha256(str(path)))}
    assert read_source(source(path, "products"), PRODUCTS.source_columns, known=known) is None


# CSV dialects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '\ufeffproduct_id;department_id;department;product_name\n1;1;Books;"A; B"\n',
        "product_id\tdepartment_id\tdepartment\tproduct_name\r\n1\t1\tBooks\tA; B\r\n",
        "product_id|department_id|department|product_name\r1|1|Books|A; B\r",
        'product_id,department_id,department,product_name\n1,1,Books,"A; B"\n',
    ],
    ids=["BOM and semicolons", "tabs and CRLF", "pipes and CR only", "quoted"],
)
def test_csv_dialects_are_read_alike(tmp_path: Path, text: str) -> None:
    parsed = read(write_csv(tmp_path / "products.csv", text), "products")
    assert parsed.rows == [("1", "1", "Books", "A; B", None, 2, None)]


def test_a_quoted_newline_stays_in_its_value_and_rows_are_numbered_by_line(tmp_path: Path) -> None:
    text = PRODUCTS_HEADER + '1,1,Books,"Atlas\nsecond edition"\n2,1,Home,Lamp\n'
    parsed = read(write_csv(tmp_path / "products.csv", text), "products")
    assert [(r[3], r[-2]) for r in parsed.rows] == [("Atlas\nsecond edition", 2), ("Lamp", 3)]


# file mistakes --------------------------------------------------------------------------------


def xlsx_bytes(tmp_path: Path) -> bytes:
    path = write_workbook(tmp_path / "made.xlsx", {"s": [ORDER_COLUMNS]})
    data = path.read_bytes()
    path.unlink()
    return data


FILE_MISTAKES: dict[str, tuple[str, bytes | str, str]] = {
    "empty file": ("orders_may.csv", b"", "the file is empty (0 bytes)"),
    "workbook named .csv": (
        "orders_may.csv",
        "xlsx",
        "is an Excel workbook, not CSV text: rename it to .xlsx",
    ),
    "xls named .csv": (
        "orders_may.csv",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
        "is an Excel workbook, not CSV text: rename it to .xls",
    ),
    "UTF-16 CSV": (
        "products_may.csv",
        PRODUCTS_HEADER.encode("utf-16"),
        "is UTF-16 text, not UTF-8: save it again as CSV UTF-8",
    ),
    "latin-1 CSV": (
        "products_may.csv",
        (PRODUCTS_HEADER + "7,1,Café,P\n").encode("latin-1"),
        "row 2: not UTF-8 text (invalid continuation byte, byte 56)",
    ),
    "web page named .xls": (
        "orders_may.xls",
        "\n<html><body><table><tr><td>order_id</td></tr></table></body></html>",
        "unreadable workbook (it is an HTML or XML page, not an Excel file): open it in Excel "
        "and save it as .xlsx, or export it as CSV",
    ),
    "text named .xlsx": (
        "orders_may.xlsx",
        "order_id,user_id\n1,2\n",
        "unreadable workbook (it is text, not an Excel file): if it is CSV, rename it to .csv",
    ),
    "password-protected or broken workbook": (
        "orders_may.xlsx",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
        "unreadable workbook (Cannot detect file format): open it in Excel and save it again as "
        ".xlsx (without a password)",
    ),
}


@pytest.mark.parametrize("check", [False, True], ids=["read", "preflight"])
@pytest.mark.parametrize("case", FILE_MISTAKES)
def test_file_mistakes_are_one_line_errors(tmp_path: Path, case: str, check: bool) -> None:
    name, content, problem = FILE_MISTAKES[case]
    data = xlsx_bytes(tmp_path) if content == "xlsx" else content
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    dataset = dataset_of(name)
    assert dataset is not None
    contract = ORDERS if dataset == "orders" else PRODUCTS
    with pytest.raises(SourceFileError) as caught:
        if check:
            check_structure(source(path, dataset), contract.source_columns)
        else:
            read_source(source(path, dataset), contract.source_columns)
    separator = ", " if problem.startswith("row ") else ": "
    assert str(caught.value) == f"file {name}{separator}{problem}"


def test_an_xlsx_named_xls_is_read_by_its_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_workbook(tmp_path / "made.xlsx", {"s": [ORDER_COLUMNS, order(10000, 1001, TS, 1)]})
    path = Path(shutil.move(path, tmp_path / "orders_may.xls"))
    check_structure(source(path, "orders"), ORDERS.source_columns)
    assert [r[0] for r in read(path).rows] == ["10000"]
    assert warnings(caplog) == ["orders_may.xls: the content is an .xlsx workbook; read as one"]


def test_a_numeric_column_of_text_is_an_error(tmp_path: Path) -> None:
    rows = [order(10100 + i, 1001, TS, 1.0) for i in range(3)]
    for row, text in zip(rows, ("ten", "twenty", "thirty"), strict=True):
        row[4] = text
    path = write_workbook(tmp_path / "orders_may.xlsx", {"s": [ORDER_COLUMNS, *rows]})
    with pytest.raises(SourceFileError) as caught:
        check_structure(
            source(path, "orders"), ORDERS.source_columns, ORDERS.numeric_source_columns
        )
    assert str(caught.value).startswith(
        "file orders_may.xlsx, sheet 's', row 2, column 'total_amount': column holds text"
    )


# S3 -------------------------------------------------------------------------------------------


def test_sources_on_s3_are_found_read_and_named_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Against a moto server: the same skips as on disk, and one-line errors for a missing key
    or bucket."""
    with moto_server(tmp_path) as endpoint:
        for key in [k for k in os.environ if k.startswith("AWS_")]:
            monkeypatch.delenv(key)
        for key, value in aws_env(**moto_credentials(endpoint)).items():
            monkeypatch.setenv(key, value)
        s3 = boto_client(endpoint, "s3")
        s3.create_bucket(Bucket="landing", CreateBucketConfiguration={"LocationConstraint": REGION})
        header = ",".join(ORDER_COLUMNS)
        objects = {
            "raw/orders/day1.csv": f"{header}\n1,10000,1001,{TS}Z,4.5,2025-04-01\n",
            "raw/products.csv": PRODUCTS_HEADER,
            "raw/~$orders_apr.xlsx": "owner",
            "raw/_SUCCESS": "",
            "raw/.staging/orders_apr.csv": "x",
            "raw/orders/": "",  # a folder made in the S3 console
        }
        for key, body in objects.items():
            s3.put_object(Bucket="landing", Key=key, Body=body.encode())

        found = discover("s3://landing/raw")
        assert found == [
            SourceFile("s3://landing/raw/orders/day1.csv", "orders/day1.csv", "orders"),
            SourceFile("s3://landing/raw/products.csv", "products.csv", "products"),
        ]
        assert [m.split(":")[0] for m in warnings(caplog)] == ["~$orders_apr.xlsx"]
        parsed = read_source(found[0], ORDERS.source_columns)
        assert parsed is not None
        assert parsed.rows == [("10000", "1", "1001", f"{TS}Z", "4.5", "2025-04-01", None, 2, None)]

        missing = discover("s3://landing/raw", ("s3://landing/raw/orders_may.csv",))
        with pytest.raises(SourceFileError) as caught:
            check_structure(missing[0], ORDERS.source_columns)
        assert str(caught.value) == (
            "file orders_may.csv: cannot be downloaded from s3://landing/raw/orders_may.csv "
            "(An error occurred (404) when calling the HeadObject operation: Not Found)"
        )
        assert errors_of("s3://nothing/raw") == (
            "source folder s3://nothing/raw cannot be listed (An error occurred (NoSuchBucket) "
            "when calling the ListObjectsV2 operation: The specified bucket does not exist): "
            "check --source-dir"
        )
