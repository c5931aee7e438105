"""Both Delta backends give the same tables, row for row, on every dataset; and a lakehouse
written by one backend is continued by the other with the same result. (The sample data's
delta-spark lakehouse is the Glue entry point's: tests/infrastructure/test_glue_entry.py
compares it with delta-rs's, table by table.)"""

from __future__ import annotations

import pytest

from etl.settings import Backend
from tests.etl.conftest import DATA_TABLES, Scenarios, assert_same_tables

PHASES = ("first", "second", "third", "fourth")
CROSSED_PHASES = PHASES[:3]


@pytest.mark.parametrize("phase", PHASES)
def test_every_run_of_the_scenario_gives_equal_tables(scenarios: Scenarios, phase: str) -> None:
    """The first load, a re-run with nothing new, a late correcting drop, an identical file
    sent again. delta-spark's first load is its own; its later runs continue delta-rs's first
    load (`Scenarios.on`), as delta-rs's do."""
    rs = getattr(scenarios.on("delta-rs"), phase)
    first_load = scenarios[("delta-spark", "delta-spark")]
    spark = getattr(first_load if phase == "first" else scenarios.on("delta-spark"), phase)
    for table in DATA_TABLES:
        assert_same_tables(spark.stored(table), rs.stored(table))
    assert [(r.job, r.status) for r in spark.results.values()] == [
        (r.job, r.status) for r in rs.results.values()
    ]


@pytest.mark.parametrize(
    "crossed", [("delta-rs", "delta-spark"), ("delta-spark", "delta-rs")], ids=str
)
def test_a_lakehouse_is_continued_by_the_other_backend(
    scenarios: Scenarios, crossed: tuple[Backend, Backend]
) -> None:
    """Run 1 on one backend; runs 2 and 3 (nothing new, then the late drop) on the other: the
    other backend reads the first one's ledger, watermarks and tables, and the runs and tables
    are those of delta-rs throughout (which the delta-spark runs equal, phase by phase). (Run 4,
    a file sent again, reads the ledger as run 2 does.)"""
    mixed = scenarios[crossed]
    same = scenarios.on("delta-rs")
    for phase in CROSSED_PHASES:
        assert {r.status for r in getattr(mixed, phase).results.values()} == {
            r.status for r in getattr(same, phase).results.values()
        }, phase
    for table in DATA_TABLES:
        assert_same_tables(mixed.third.stored(table), same.third.stored(table))
    assert mixed.second.versions == mixed.first.versions  # nothing new on the other backend
