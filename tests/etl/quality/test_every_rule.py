"""A generated dataset that plants every row rule: exactly the planted rows are quarantined, with
exactly their reasons, and the clean rows reach gold as if the dirty ones had never arrived.

The generator's manifest (`_expected_quarantine.json`) is checked against an independent
validator in tests/scripts; here it is the expected output of the pipeline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from pyspark.sql import DataFrame, SparkSession

from etl.cli import new_context
from etl.contracts import CONTRACTS, Severity
from etl.pipeline import run_pipeline
from etl.quality.row_rules import catalogue
from etl.registry import datasets, gold_tables
from etl.runner import JobContext
from etl.settings import Backend, Settings
from tests.conftest import REPO
from tests.etl.conftest import DATA_TABLES, assert_same_tables, stored
from tests.helpers import assert_rows_equal

Location = tuple[str, str, str | None, int]


def generate(out: Path) -> dict[str, Any]:
    subprocess.run(
        [
            *(sys.executable, str(REPO / "scripts" / "generate_sample_data.py")),
            *("--out", str(out), "--dirty", "every-rule", "--orders", "150", "--days", "3"),
        ],
        check=True,
        capture_output=True,
    )
    manifest: dict[str, Any] = json.loads((out / "_expected_quarantine.json").read_text())
    (out / "_expected_quarantine.json").unlink()
    return manifest


def build(
    spark: SparkSession, source: Path, lakehouse: Path, backend: Backend = "delta-rs"
) -> JobContext:
    settings = Settings(
        source_dir=str(source), lakehouse_dir=str(lakehouse), backend=backend, validate=False
    )
    ctx = new_context(settings, spark)
    run_pipeline(ctx)
    return ctx


def without_rows(source: Path, target: Path, dropped: set[Location]) -> None:
    """Copy the source files minus the listed rows (same files, sheets and cell values)."""
    target.mkdir()
    rows = {(file, sheet, row) for _, file, sheet, row in dropped}
    for path in sorted(source.iterdir()):
        if path.suffix == ".csv":
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [
                line
                for number, line in enumerate(lines, start=1)
                if number == 1 or (path.name, None, number) not in rows
            ]
            (target / path.name).write_text("".join(kept), encoding="utf-8")
            continue
        book = load_workbook(path)
        clean = Workbook()
        clean.remove(clean.active)  # type: ignore[arg-type]
        for sheet in book.worksheets:
            out = clean.create_sheet(sheet.title)
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                if number == 1 or (path.name, sheet.title, number) not in rows:
                    out.append(row)
        clean.save(target / path.name)


@pytest.fixture(scope="module")
def planted(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], JobContext, JobContext]:
    root = tmp_path_factory.mktemp("every_rule")
    manifest = generate(root / "dirty")
    dropped = {(e["dataset"], e["file"], e["sheet"], e["row"]) for e in manifest["quarantine"]}
    dropped |= {(d["dataset"], d["file"], d["sheet"], d["row"]) for d in manifest["duplicates"]}
    without_rows(root / "dirty", root / "clean", dropped)
    dirty = build(spark, root / "dirty", root / "dirty_lake")
    clean = build(spark, root / "clean", root / "clean_lake")
    return manifest, dirty, clean


def sheet_of(value: str | None) -> str | None:
    return value or None


def test_quarantine_holds_exactly_the_planted_rows_with_their_reasons(
    planted: tuple[dict[str, Any], JobContext, JobContext],
) -> None:
    manifest, dirty, _ = planted
    expected = {
        (e["dataset"], e["file"], e["sheet"], e["row"]): sorted(e["reasons"])
        for e in manifest["quarantine"]
    }
    actual: dict[Location, list[str]] = {}
    for dataset in datasets():
        rows = dirty.store.read(dirty.path("quarantine", dataset)).collect()
        for r in rows:
            where = (dataset, r["_source_file"], sheet_of(r["_source_sheet"]), r["_source_row"])
            assert where not in actual, f"{where} quarantined twice"
            actual[where] = sorted(r["reasons"])
    missing = {k: v for k, v in expected.items() if k not in actual}
    unexpected = {k: v for k, v in actual.items() if k not in expected}
    wrong = {k: (actual[k], v) for k, v in expected.items() if k in actual and actual[k] != v}
    assert (missing, unexpected, wrong) == ({}, {}, {})
    assert len(actual) == 73  # 35 rules planted twice alone + 3 rows breaking several at once


def test_every_planted_reason_appears(
    planted: tuple[dict[str, Any], JobContext, JobContext],
) -> None:
    manifest, dirty, _ = planted
    planted_codes = {(e["dataset"], c) for e in manifest["quarantine"] for c in e["reasons"]}
    assert len(planted_codes) == 35
    seen = set()
    for dataset in datasets():
        df = dirty.store.read(dirty.path("quarantine", dataset))
        seen |= {(dataset, c) for r in df.select("reasons").collect() for c in r["reasons"]}
    assert seen == planted_codes


def test_superseded_duplicates_are_not_in_silver(
    planted: tuple[dict[str, Any], JobContext, JobContext],
) -> None:
    manifest, dirty, _ = planted
    for d in manifest["duplicates"]:
        key = "id" if d["dataset"] == "order_items" else f"{d['dataset'].rstrip('s')}_id"
        rows = dirty.store.read(dirty.path("silver", d["dataset"])).where(f"{key} = {d['key']}")
        located = [
            (r["_source_file"], r["_source_sheet"], r["_source_row"]) for r in rows.collect()
        ]
        assert len(located) == 1, f"{d['dataset']} {d['key']} must be in silver once"
        assert located[0] != (d["file"], d["sheet"], d["row"]), "the superseded row was kept"


def payload(df: DataFrame) -> DataFrame:
    """The table without lineage columns, which differ between two lakehouses."""
    return df.select(*[c for c in df.columns if not c.startswith("_")])


@pytest.mark.parametrize(
    "table", [("silver", d) for d in datasets()] + [("gold", t) for t in gold_tables()]
)
def test_clean_rows_reach_silver_and_gold_unchanged(
    planted: tuple[dict[str, Any], JobContext, JobContext], table: tuple[str, str]
) -> None:
    _, dirty, clean = planted
    actual = payload(dirty.store.read(dirty.path(*table)))
    expected = payload(clean.store.read(clean.path(*table)))
    assert expected.count() > 0
    assert_rows_equal(actual, expected, ignore_nullable=True)


# Error reasons outside the generator's every-rule set; tests/etl/quality/test_row_rules.py
# (test_reasons_the_sample_generator_does_not_plant) exercises each of them.
NOT_PLANTED = {
    ("orders", "order_num.not_integer"),
    ("orders", "date.unparseable"),
    ("order_items", "date.unparseable"),
    ("order_items", "order_timestamp.null"),
    ("order_items", "add_to_cart_order.null"),
    ("order_items", "reordered.null"),
    ("order_items", "reordered.not_integer"),
    ("products", "department_id.null"),
}


def test_every_error_rule_of_the_contracts_is_planted(
    planted: tuple[dict[str, Any], JobContext, JobContext],
) -> None:
    manifest, _, _ = planted
    planted_codes = {(e["dataset"], c) for e in manifest["quarantine"] for c in e["reasons"]}
    error_rules = {
        (d, e.code)
        for d, contract in CONTRACTS.items()
        for e in catalogue(contract)
        if e.severity is Severity.ERROR
    }
    assert planted_codes <= error_rules
    assert error_rules - planted_codes == NOT_PLANTED


def test_delta_spark_gives_the_same_tables(
    spark: SparkSession,
    planted: tuple[dict[str, Any], JobContext, JobContext],
    tmp_path: Path,
) -> None:
    _, dirty, _ = planted
    source = Path(dirty.settings.source_dir)
    on_spark = build(spark, source, tmp_path / "lake", "delta-spark")
    for table in DATA_TABLES:
        assert_same_tables(stored(on_spark, table), stored(dirty, table))
