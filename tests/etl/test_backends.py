"""Both Delta backends give the same tables, row for row, on every dataset; and a lakehouse
written by one backend is continued by the other with the same result. (The sample data's
delta-spark lakehouse is the Glue entry point's: tests/infrastructure/test_glue_entry.py
compares it with delta-rs's, table by table.)"""

from __future__ import annotations

import pytest

from etl.settings import Backend
from tests.etl.conftest import DATA_TABLES, Scenarios, assert_same_rows

PHASES = ("first", "second", "third", "fourth")


@pytest.mark.parametrize("phase", PHASES)
def test_every_run_of_the_scenario_gives_equal_tables(scenarios: Scenarios, phase: str) -> None:
    """The first load, a re-run with nothing new, a late correcting drop, an identical file
    sent again."""
    rs = getattr(scenarios[("delta-rs", "delta-rs")], phase)
    spark = getattr(scenarios[("delta-spark", "delta-spark")], phase)
    for table in DATA_TABLES:
        assert_same_rows(spark.table(table), rs.table(table))
    assert [(r.job, r.status) for r in spark.results.values()] == [
        (r.job, r.status) for r in rs.results.values()
    ]


@pytest.mark.parametrize(
    "crossed", [("delta-rs", "delta-spark"), ("delta-spark", "delta-rs")], ids=str
)
def test_a_lakehouse_is_continued_by_the_other_backend(
    scenarios: Scenarios, crossed: tuple[Backend, Backend]
) -> None:
    """Run 1 on one backend; runs 2-4 (nothing new, the late drop, a file sent again) on the
    other: the tables are those of one backend throughout."""
    mixed = scenarios[crossed]
    same = scenarios[(crossed[0], crossed[0])]
    for phase in PHASES:
        assert {r.status for r in getattr(mixed, phase).results.values()} == {
            r.status for r in getattr(same, phase).results.values()
        }, phase
    for table in DATA_TABLES:
        assert_same_rows(mixed.fourth.table(table), same.fourth.table(table))
    assert mixed.second.versions == mixed.first.versions  # nothing new on the other backend
