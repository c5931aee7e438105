"""OPTIMIZE with Z-order and VACUUM over a whole lakehouse: contents unchanged, files compacted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from chispa import assert_df_equality

from etl import maintenance
from etl.jobs import JobContext
from tests.conftest import SAMPLE_DATA


@pytest.fixture
def copied(sample_lakehouse: JobContext, tmp_path: Path) -> Path:
    return Path(shutil.copytree(sample_lakehouse.settings.lakehouse_dir, tmp_path / "lh"))


def args(lakehouse: Path, *extra: str) -> list[str]:
    return ["--source-dir", str(SAMPLE_DATA), "--lakehouse-dir", str(lakehouse), *extra]


def test_maintenance_keeps_every_table_and_z_orders(
    sample_lakehouse: JobContext, copied: Path
) -> None:
    store = sample_lakehouse.store
    tables = [(layer, name) for layer, name, _ in maintenance.maintained_tables()]
    present = [t for t in tables if store.exists(str(copied.joinpath(*t)))]
    before = {t: store.read(str(copied.joinpath(*t))).localCheckpoint() for t in present}

    assert maintenance.main(args(copied)) == 0

    for t in present:
        assert_df_equality(store.read(str(copied.joinpath(*t))), before[t], ignore_row_order=True)
    operations = [h.operation for h in store.history(str(copied / "silver" / "order_items"))]
    assert "OPTIMIZE" in operations
    assert ("_audit", "changes") in present


def test_vacuum_refuses_a_retention_below_seven_days(
    copied: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert maintenance.main(args(copied, "--retention-hours", "1")) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "retention" in errors[0].lower()
