"""Lakehouse-wide restore: back to the end of an earlier run, every table and the audit tables
consistently; a run afterwards processes the later drop again and ends as a clean build."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl.restore import main as restore_main
from etl.restore import restore
from etl.settings import Backend
from tests.etl.conftest import AUDIT, DATA_TABLES, Scenarios, assert_same_tables, late_drop, stored
from tests.etl.conftest import run as run_once


@pytest.mark.parametrize(
    "backend", ["delta-rs", pytest.param("delta-spark", marks=pytest.mark.thorough)]
)
def test_restore_to_a_run_then_the_later_drop_again_matches_a_clean_build(
    spark: SparkSession, backend: Backend, scenarios: Scenarios, tmp_path: Path
) -> None:
    first = scenarios.after_first_run(tmp_path, backend)  # a copy of the first run's lakehouse
    first_id = scenarios[(backend, backend)].first.ctx.run_id
    source, lakehouse = tmp_path / "source", tmp_path / "lakehouse"
    late_drop(source)
    run_once(spark, source, lakehouse, backend)

    plan = restore(first.ctx, first_id, None, dry_run=True)
    assert plan.splitlines()[0] == f"would restore the lakehouse to the end of run {first_id}:"
    assert "silver/orders" in plan and "->" in plan
    print(restore(first.ctx, first_id, None, dry_run=False))

    for table in (*DATA_TABLES, *AUDIT):
        if table in first.versions:
            assert_same_tables(stored(first.ctx, table), first.stored(table))
    again = run_once(spark, source, lakehouse, backend)  # the later drop, processed again
    clean = scenarios.on(backend).third
    for table in DATA_TABLES:
        assert_same_tables(again.stored(table), clean.stored(table))
    assert all(b.balanced for b in again.balances)
    assert again.results["silver.orders"].rows_read == 2  # only the drop's rows, once


def test_restore_names_an_unknown_run_and_changes_nothing(
    scenarios: Scenarios, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first = scenarios[("delta-rs", "delta-rs")].first
    lakehouse = first.ctx.settings.lakehouse_dir
    code = restore_main(["--lakehouse-dir", lakehouse, "--to-run", "nope", "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: no run nope in _audit/runs; recorded runs: ")
    code = restore_main(["--lakehouse-dir", lakehouse, "--to-time", "yesterday"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "error: --to-time 'yesterday' is not an ISO-8601 time"
