"""Tests for scripts/generate_sample_data.py (plain pytest, no Spark).

The central check re-derives every rejection reason from the written files with an independent,
deliberately simple validator and compares the result with the generator's manifest: a listed
row must fail exactly the stated rules, and every row that is not listed must pass all of them.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import json
import re
import sys
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from tests.conftest import REFERENCE_DATA, needs_reference_data

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "generate_sample_data.py"

ORDER_HEADER = ["order_num", "order_id", "user_id", "order_timestamp", "total_amount", "date"]
ITEM_HEADER = [
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
PRODUCT_HEADER = ["product_id", "department_id", "department", "product_name"]
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00")


def _load_script() -> ModuleType:
    """Import the script by path: scripts/ is not a package and needs no __init__.py."""
    spec = importlib.util.spec_from_file_location("generate_sample_data", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gen = _load_script()


def run(out: Path, **options: Any) -> Any:
    return gen.generate(gen.Config(out=out, **options))


def manifest_of(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / gen.MANIFEST_NAME).read_text(encoding="utf-8"))
    return data


# --------------------------------------------------------------------------------------------
# Reading the output back
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    dataset: str
    file: str
    sheet: str | None
    row: int
    values: dict[str, Any]


def _sheet_rows(path: Path) -> Iterator[tuple[str, list[list[Any]]]]:
    book = CalamineWorkbook.from_path(str(path))
    for name in book.sheet_names:
        yield name, book.get_sheet_by_name(name).to_python(skip_empty_area=False)


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def read_dataset(out: Path, dataset: str) -> list[Row]:
    """Every data row of a dataset, with the file/sheet/row a user would see."""
    rows: list[Row] = []
    if dataset == "products":
        table = _csv_rows(out / "products.csv")
        assert table[0] == PRODUCT_HEADER
        for number, values in enumerate(table[1:], start=2):
            rows.append(
                Row(dataset, "products.csv", None, number, dict(zip(table[0], values, strict=True)))
            )
        return rows
    for path in sorted(out.glob(f"{dataset}_*.xlsx")):
        for sheet, table in _sheet_rows(path):
            header = [str(h) for h in table[0]]
            for number, values in enumerate(table[1:], start=2):
                rows.append(
                    Row(dataset, path.name, sheet, number, dict(zip(header, values, strict=True)))
                )
    for path in sorted((out / dataset).glob("*.csv")) if (out / dataset).is_dir() else []:
        table = _csv_rows(path)
        file = f"{dataset}/{path.name}"
        for number, values in enumerate(table[1:], start=2):
            rows.append(Row(dataset, file, None, number, dict(zip(table[0], values, strict=True))))
    return rows


# --------------------------------------------------------------------------------------------
# An independent validator of the rules in the brief
# --------------------------------------------------------------------------------------------


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if float(value).is_integer() else None
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    return None


def as_number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", value.strip()):
        return float(value)
    return None


def as_timestamp(value: Any) -> dt.datetime | None:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", value):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def check_int(values: dict[str, Any], column: str, reasons: list[str]) -> int | None:
    value = values.get(column)
    if is_null(value):
        reasons.append(f"{column}.null")
        return None
    parsed = as_int(value)
    if parsed is None:
        reasons.append(f"{column}.not_integer")
    return parsed


def check_timestamp(values: dict[str, Any], reasons: list[str]) -> None:
    text = values.get("order_timestamp")
    if is_null(text):
        reasons.append("order_timestamp.null")
        return
    stamp = as_timestamp(text)
    if stamp is None:
        reasons.append("order_timestamp.unparseable")
        return
    if not dt.datetime(2000, 1, 1) <= stamp <= dt.datetime(2100, 1, 1):
        reasons.append("order_timestamp.out_of_range")
    if values.get("date") != stamp.date().isoformat():
        reasons.append("date.mismatch")


def product_reasons(values: dict[str, Any]) -> list[str]:
    reasons: list[str] = []
    check_int(values, "product_id", reasons)
    check_int(values, "department_id", reasons)
    for column in ("product_name", "department"):
        if is_null(values.get(column)):
            reasons.append(f"{column}.empty")
    return reasons


def order_reasons(values: dict[str, Any]) -> list[str]:
    reasons: list[str] = []
    check_int(values, "order_id", reasons)
    check_int(values, "user_id", reasons)
    check_timestamp(values, reasons)
    amount = values.get("total_amount")
    if is_null(amount):
        reasons.append("total_amount.null")
    elif as_number(amount) is None:
        reasons.append("total_amount.not_numeric")
    elif float(as_number(amount) or 0) < 0:
        reasons.append("total_amount.negative")
    return reasons


def item_reasons(values: dict[str, Any], orders: dict[int, int], products: set[int]) -> list[str]:
    reasons: list[str] = []
    check_int(values, "id", reasons)
    order_id = check_int(values, "order_id", reasons)
    user_id = check_int(values, "user_id", reasons)
    product_id = check_int(values, "product_id", reasons)
    check_timestamp(values, reasons)
    reordered = values.get("reordered")
    if as_int(reordered) not in (0, 1):
        reasons.append("reordered.not_0_or_1")
    position = check_int(values, "add_to_cart_order", reasons)
    if position is not None and position < 1:
        reasons.append("add_to_cart_order.below_1")
    days = values.get("days_since_prior_order")
    if not is_null(days):
        if as_int(days) is None:
            reasons.append("days_since_prior_order.not_integer")
        elif not 0 <= int(as_int(days) or 0) <= 365:
            reasons.append("days_since_prior_order.out_of_range")
    if order_id is not None and order_id not in orders:
        reasons.append("order_id.no_parent")
    elif order_id is not None and user_id is not None and orders[order_id] != user_id:
        reasons.append("user_id.differs_from_order")
    if product_id is not None and product_id not in products:
        reasons.append("product_id.no_parent")
    return reasons


Location = tuple[str, str, str | None, int]


def validate(out: Path) -> tuple[dict[Location, list[str]], set[tuple[int, str, str | None, int]]]:
    """Rejected rows with their reasons, and the superseded order rows (key, file, sheet, row)."""
    rejected: dict[Location, list[str]] = {}

    def loc(row: Row) -> Location:
        return row.dataset, row.file, row.sheet, row.row

    valid_products: set[int] = set()
    for row in read_dataset(out, "products"):
        reasons = product_reasons(row.values)
        if reasons:
            rejected[loc(row)] = sorted(reasons)
        else:
            valid_products.add(int(row.values["product_id"]))
    valid_orders: dict[int, list[tuple[dt.datetime, Row]]] = defaultdict(list)
    for row in read_dataset(out, "orders"):
        reasons = order_reasons(row.values)
        if reasons:
            rejected[loc(row)] = sorted(reasons)
        else:
            stamp = as_timestamp(row.values["order_timestamp"])
            assert stamp is not None
            valid_orders[int(row.values["order_id"])].append((stamp, row))
    users = {key: int(versions[0][1].values["user_id"]) for key, versions in valid_orders.items()}
    for row in read_dataset(out, "order_items"):
        reasons = item_reasons(row.values, users, valid_products)
        if reasons:
            rejected[loc(row)] = sorted(reasons)
    superseded = set()
    for key, versions in valid_orders.items():
        for _, row in sorted(versions, key=lambda v: v[0])[:-1]:
            superseded.add((key, row.file, row.sheet, row.row))
    return rejected, superseded


def assert_manifest_is_exact(out: Path) -> dict[str, Any]:
    document = manifest_of(out)
    listed = {
        (e["dataset"], e["file"], e["sheet"], e["row"]): sorted(e["reasons"])
        for e in document["quarantine"]
    }
    assert len(listed) == len(document["quarantine"]), "a row is listed twice"
    rejected, superseded = validate(out)
    assert rejected == listed
    duplicates = {(d["key"], d["file"], d["sheet"], d["row"]) for d in document["duplicates"]}
    assert superseded == duplicates
    assert all(d["kept"] == "latest" and d["dataset"] == "orders" for d in document["duplicates"])
    for dataset, counts in document["counts"].items():
        assert counts["rows"] == len(read_dataset(out, dataset))
        assert counts["quarantined"] == sum(k[0] == dataset for k in listed)
        assert counts["duplicates"] == sum(d["dataset"] == dataset for d in document["duplicates"])
    return document


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_arguments_give_identical_files(tmp_path: Path) -> None:
    run(tmp_path / "a")
    run(tmp_path / "b")
    run(tmp_path / "c", seed=43)
    first = _files(tmp_path / "a")
    assert set(first) == {
        "products.csv",
        "orders_apr_2025.xlsx",
        "order_items_apr_2025.xlsx",
        "_expected_quarantine.json",
    }
    assert first == _files(tmp_path / "b")
    assert first["orders_apr_2025.xlsx"] != _files(tmp_path / "c")["orders_apr_2025.xlsx"]


def test_committed_sample_is_the_default_output(tmp_path: Path) -> None:
    committed = REPO / "data"
    if not (committed / gen.MANIFEST_NAME).exists():
        pytest.skip("data/ has not been generated in this checkout")
    gen.main(["--out", str(tmp_path)])
    assert _files(tmp_path) == _files(committed)


def test_default_sample_shape(tmp_path: Path) -> None:
    summary = run(tmp_path)
    assert summary.format == "xlsx"
    orders = read_dataset(tmp_path, "orders")
    items = read_dataset(tmp_path, "order_items")
    products = read_dataset(tmp_path, "products")
    sheets = [f"2025-04-0{d}" for d in range(1, 8)]
    for name in ("orders_apr_2025.xlsx", "order_items_apr_2025.xlsx"):
        book = CalamineWorkbook.from_path(str(tmp_path / name))
        assert book.sheet_names == sheets
        header = ORDER_HEADER if name.startswith("orders") else ITEM_HEADER
        for sheet in sheets:
            assert book.get_sheet_by_name(sheet).to_python(nrows=1)[0] == header
    rejected, superseded = validate(tmp_path)
    clean_orders = [r for r in orders if ("orders", r.file, r.sheet, r.row) not in rejected]
    assert len(clean_orders) == 420 + 1  # the late correction is clean
    assert len(products) == 1_000 + 1
    assert 5.0 < len(items) / 420 < 6.0
    assert len(superseded) == 1


def test_clean_rows_look_like_the_real_data(tmp_path: Path) -> None:
    run(tmp_path, dirty="none")
    assert manifest_of(tmp_path)["quarantine"] == []
    assert manifest_of(tmp_path)["duplicates"] == []
    orders = read_dataset(tmp_path, "orders")
    items = read_dataset(tmp_path, "order_items")
    by_id = {}
    for expected_id, row in enumerate(orders, start=10_000):
        v = row.values
        assert v["order_id"] == expected_id and isinstance(v["order_id"], float)
        assert 1 <= v["order_num"] <= 100 and 1001 <= v["user_id"] <= 9999
        assert 20 <= v["total_amount"] <= 500 and round(v["total_amount"], 2) == v["total_amount"]
        assert TIMESTAMP.fullmatch(v["order_timestamp"]) and v["date"] == row.sheet
        assert v["order_timestamp"][:10] == v["date"]
        by_id[int(v["order_id"])] = v
    positions: dict[int, list[int]] = defaultdict(list)
    for expected_id, row in enumerate(items, start=1):
        v = row.values
        order = by_id[int(v["order_id"])]
        assert v["id"] == expected_id
        assert (v["user_id"], v["order_timestamp"], v["date"]) == (
            order["user_id"],
            order["order_timestamp"],
            order["date"],
        )
        assert 0 <= v["days_since_prior_order"] <= 30 and v["reordered"] in (0, 1)
        assert 1 <= v["product_id"] <= 1_000
        positions[int(v["order_id"])].append(int(v["add_to_cart_order"]))
    assert set(positions) == set(by_id)
    assert all(p == list(range(1, len(p) + 1)) and len(p) <= 10 for p in positions.values())
    products = read_dataset(tmp_path, "products")
    names = {r.values["department"] for r in products}
    assert names == {"Books", "Clothing", "Electronics", "Home", "Sports", "Toys"}
    pairs = {(r.values["department_id"], r.values["department"]) for r in products}
    assert len(pairs) > 6, "department_id must not map one-to-one to department names"
    assert all(
        re.fullmatch(rf"Product_{r.values['product_id']}_[A-Z][a-z]+", r.values["product_name"])
        for r in products
    )


@pytest.mark.reference_data
@needs_reference_data
def test_format_matches_the_real_files(tmp_path: Path) -> None:
    run(tmp_path, dirty="none")
    real_header = _csv_rows(REFERENCE_DATA / "products.csv")[0]
    assert _csv_rows(tmp_path / "products.csv")[0] == real_header
    assert (tmp_path / "products.csv").read_bytes().count(b"\r") == 0
    real_departments = {r[2] for r in _csv_rows(REFERENCE_DATA / "products.csv")[1:]}
    assert {r[2] for r in _csv_rows(tmp_path / "products.csv")[1:]} == real_departments
    for name in ("orders_apr_2025.xlsx", "order_items_apr_2025.xlsx"):
        real = CalamineWorkbook.from_path(str(REFERENCE_DATA / name))
        ours = CalamineWorkbook.from_path(str(tmp_path / name))
        assert ours.sheet_names == real.sheet_names[:7]
        real_rows = real.get_sheet_by_name(real.sheet_names[0]).to_python(nrows=3)
        our_rows = ours.get_sheet_by_name(ours.sheet_names[0]).to_python(nrows=3)
        assert our_rows[0] == real_rows[0]
        for real_row, our_row in zip(real_rows[1:], our_rows[1:], strict=True):
            assert [type(v) for v in our_row] == [type(v) for v in real_row]
            texts = [(a, b) for a, b in zip(real_row, our_row, strict=True) if isinstance(a, str)]
            assert all(len(str(a)) == len(str(b)) for a, b in texts)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"dirty": "every-rule"},
        {"dirty": "every-rule", "format": "csv", "seed": 7},
        {"dirty": "every-rule", "start": dt.date(2025, 1, 30), "days": 3, "orders": 90},
    ],
    ids=["few-xlsx", "every-rule-xlsx", "every-rule-csv", "every-rule-two-months"],
)
def test_manifest_lists_exactly_the_dirty_rows(tmp_path: Path, options: dict[str, Any]) -> None:
    run(tmp_path, **options)
    assert_manifest_is_exact(tmp_path)


def test_manifest_is_exact_when_days_span_several_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gen, "BLOCK_ORDERS", 7)
    monkeypatch.setattr(gen, "WRITE_ROWS", 5)
    run(tmp_path, dirty="every-rule", orders=200, products=30)
    assert_manifest_is_exact(tmp_path)


def test_every_rule_plants_each_code_twice_plus_three_combined_rows(tmp_path: Path) -> None:
    run(tmp_path, dirty="every-rule")
    entries = manifest_of(tmp_path)["quarantine"]
    sole = Counter((e["dataset"], e["reasons"][0]) for e in entries if len(e["reasons"]) == 1)
    combined = [e for e in entries if len(e["reasons"]) > 1]
    expected = {
        "products": "product_id.null product_id.not_integer department_id.not_integer "
        "product_name.empty department.empty",
        "orders": "order_id.null order_id.not_integer user_id.null user_id.not_integer "
        "order_timestamp.null order_timestamp.unparseable order_timestamp.out_of_range "
        "date.mismatch total_amount.null total_amount.not_numeric total_amount.negative",
        "order_items": "id.null id.not_integer order_id.null order_id.not_integer user_id.null "
        "user_id.not_integer product_id.null product_id.not_integer "
        "order_timestamp.unparseable order_timestamp.out_of_range date.mismatch "
        "reordered.not_0_or_1 add_to_cart_order.below_1 add_to_cart_order.not_integer "
        "days_since_prior_order.out_of_range days_since_prior_order.not_integer "
        "order_id.no_parent product_id.no_parent user_id.differs_from_order",
    }
    assert sole == Counter({(d, c): 2 for d, codes in expected.items() for c in codes.split()})
    assert len(combined) == 3 and all(2 <= len(e["reasons"]) <= 3 for e in combined)
    assert {e["dataset"] for e in combined} == {"products", "orders", "order_items"}


def test_late_correction_is_a_later_version_on_the_same_date(tmp_path: Path) -> None:
    run(tmp_path)
    (duplicate,) = manifest_of(tmp_path)["duplicates"]
    book = CalamineWorkbook.from_path(str(tmp_path / duplicate["file"]))
    table = book.get_sheet_by_name(duplicate["sheet"]).to_python()
    older, latest = table[duplicate["row"] - 1], table[-1]
    assert older[1] == latest[1] == duplicate["key"]
    assert older[2] == latest[2] and older[5] == latest[5] == duplicate["sheet"]
    older_stamp, latest_stamp = str(older[3]), str(latest[3])
    assert latest_stamp[:10] == older_stamp[:10]
    later = dt.datetime.fromisoformat(latest_stamp) - dt.datetime.fromisoformat(older_stamp)
    assert later == dt.timedelta(hours=2)
    assert latest[4] != older[4]


def test_csv_mode_writes_one_file_per_day_and_dataset(tmp_path: Path) -> None:
    summary = run(tmp_path, format="csv", days=3, orders=60)
    assert summary.format == "csv"
    days = ["2025-04-01", "2025-04-02", "2025-04-03"]
    assert sorted(p.name for p in (tmp_path / "orders").iterdir()) == [
        f"orders_{d}.csv" for d in days
    ]
    assert sorted(p.name for p in (tmp_path / "order_items").iterdir()) == [
        f"order_items_{d}.csv" for d in days
    ]
    assert not list(tmp_path.glob("*.xlsx"))
    table = _csv_rows(tmp_path / "orders" / "orders_2025-04-02.csv")
    assert table[0] == ORDER_HEADER
    assert re.fullmatch(
        r"\d+,\d+,\d+,\d{4}-\d\d-\d\dT\d\d:\d\d:00,\d+\.\d\d,2025-04-02", ",".join(table[1])
    )
    assert _csv_rows(tmp_path / "order_items" / "order_items_2025-04-02.csv")[0] == ITEM_HEADER
    assert b"\r" not in (tmp_path / "orders" / "orders_2025-04-02.csv").read_bytes()
    assert {e["sheet"] for e in manifest_of(tmp_path)["quarantine"]} == {None}
    assert_manifest_is_exact(tmp_path)


def test_days_spanning_months_give_one_workbook_pair_per_month(tmp_path: Path) -> None:
    run(tmp_path, start=dt.date(2025, 4, 29), days=4, orders=80)
    expected = {
        "orders_apr_2025.xlsx": ["2025-04-29", "2025-04-30"],
        "orders_may_2025.xlsx": ["2025-05-01", "2025-05-02"],
        "order_items_apr_2025.xlsx": ["2025-04-29", "2025-04-30"],
        "order_items_may_2025.xlsx": ["2025-05-01", "2025-05-02"],
    }
    for name, sheets in expected.items():
        assert CalamineWorkbook.from_path(str(tmp_path / name)).sheet_names == sheets
    ids = [r.values["id"] for r in read_dataset(tmp_path, "order_items") if r.values["id"] != ""]
    assert ids == sorted(ids), "item ids run on across the month boundary"


def test_auto_format_switches_to_csv_for_oversized_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gen, "AUTO_CSV_ROWS", 300)
    assert run(tmp_path / "big", days=2, orders=120).format == "csv"
    assert run(tmp_path / "small", days=2, orders=20).format == "xlsx"
    monkeypatch.setattr(gen, "XLSX_MAX_DATA_ROWS", 300)
    with pytest.raises(ValueError, match="use --format csv"):
        run(tmp_path / "forced", days=2, orders=120, format="xlsx")


def _peak_bytes(out: Path, **options: Any) -> int:
    tracemalloc.start()
    try:
        run(out, **options)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five times the rows in blocks of the same size must not need more memory: only the
    shared-strings table grows, and it holds at most 1,440 timestamps a day."""
    monkeypatch.setattr(gen, "BLOCK_ORDERS", 2_000)
    run(tmp_path / "warm-up", days=1, orders=100)  # first-use allocations are not the point
    small = _peak_bytes(tmp_path / "small", days=1, orders=4_000, dirty="none")
    large = _peak_bytes(tmp_path / "large", days=1, orders=20_000, dirty="none")
    assert large < 1.2 * small + 2_000_000


def test_memory_stays_modest_at_twelve_thousand_orders(tmp_path: Path) -> None:
    assert _peak_bytes(tmp_path, days=2, orders=12_000) < 40_000_000


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        gen.main(["--help"])
    assert exit_info.value.code == 0
    assert "--dirty {none,few,every-rule}" in capsys.readouterr().out
    code = gen.main(["--out", str(tmp_path), "--days", "2", "--orders", "30", "--format", "csv"])
    assert code == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "(csv)" in line and "order rows" in line and line.endswith(" s")
    with pytest.raises(SystemExit):
        gen.main(["--out", str(tmp_path), "--days", "0"])
