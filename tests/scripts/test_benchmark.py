"""Tests for scripts/benchmark.py: its measuring, checking and reporting parts on tiny inputs,
and the reference computation on the sample files against figures computed here.

A smoke run of the whole harness (pipeline runs in fresh processes, the reference, the run with
nothing new, a tiny M and its incremental day) is marked `benchmark` and deselected by default:
`uv run pytest -m benchmark tests/scripts/test_benchmark.py`.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from statistics import mean
from types import ModuleType
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from openpyxl import load_workbook

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "benchmark.py"
SAMPLE = REPO / "data"
GIB = 2**30
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["benchmark"] = module
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------ measuring


def _holding(megabytes: int, seconds: float) -> str:
    return (
        f"import time; b = bytearray({megabytes} * 2**20); b[::4096] = b'x' * len(b[::4096]); "
        f"time.sleep({seconds})"
    )


def test_memory_of_a_process_tree_includes_its_children(bench: ModuleType) -> None:
    # A parent that starts a child holding about 200 MB, both visible to the sampler.
    code = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {_holding(200, 3)!r}])\n"
    parent = subprocess.Popen([sys.executable, "-c", code])
    with bench.MemorySampler(parent.pid, interval=0.05) as memory:
        deadline = time.time() + 10
        while len(bench.process_tree(parent.pid)) < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert len(bench.process_tree(parent.pid)) >= 2
        parent.wait()
    assert memory.peak >= 200 * 2**20
    assert 200 * 2**20 <= memory.peak_pss <= memory.peak  # shared pages count once
    assert memory.peak_jvm == 0
    assert memory.peak_python == memory.peak
    assert memory.samples > 3
    assert memory.peak_between(0, time.time()) == memory.peak


def test_memory_of_processes_named_java_counts_as_the_jvm(
    bench: ModuleType, tmp_path: Path
) -> None:
    # A process whose command is named `java` (the interpreter under that name) holds about
    # 300 MB, its parent about 100 MB: the sampler files them under JVM and Python.
    java = tmp_path / "java"
    java.symlink_to(os.path.realpath(sys.executable))
    code = (
        "import subprocess\n"
        f"child = subprocess.Popen([{str(java)!r}, '-S', '-c', {_holding(300, 3)!r}])\n"
        f"exec({_holding(100, 0)!r})\n"
        "child.wait()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    with bench.MemorySampler(parent.pid, interval=0.05) as memory:
        parent.wait()
    assert 300 * 2**20 <= memory.peak_jvm < 400 * 2**20
    assert 100 * 2**20 <= memory.peak_python < memory.peak_jvm
    assert memory.peak >= memory.peak_jvm + 100 * 2**20


def test_layer_totals_sum_the_jobs_of_each_layer(bench: ModuleType) -> None:
    jobs = [
        {"job": "bronze.orders", "seconds": 2.0, "rows_read": 100, "retried": 0},
        {"job": "bronze.order_items", "seconds": 3.0, "rows_read": 500, "retried": 0},
        {"job": "silver.order_items", "seconds": 4.0, "rows_read": 490, "retried": 10},
        {"job": "gold.daily_sales", "seconds": 0.5, "rows_read": 0, "retried": 0},
    ]
    totals = bench.layer_totals(jobs)
    assert (totals["bronze"].seconds, totals["bronze"].rows) == (5.0, 600)
    assert totals["bronze"].rows_per_second == 120
    assert (totals["silver"].seconds, totals["silver"].rows) == (4.0, 500)
    assert (totals["gold"].seconds, totals["gold"].rows_per_second) == (0.5, 0)


def test_skipping_counts_files_whose_range_excludes_the_value(
    bench: ModuleType, tmp_path: Path
) -> None:
    table = tmp_path / "t"
    for lo in (1, 11, 21, 31):  # four files: 1-10, 11-20, 21-30, 31-40
        ids = pa.array(range(lo, lo + 10), pa.int64())
        write_deltalake(str(table), pa.table({"product_id": ids, "x": ids}), mode="append")
    measured = bench.skipping(table, 15)
    assert (measured["files"], measured["skipped_files"], measured["fraction"]) == (4, 3, 0.75)
    assert measured["mean_over_values"] == 0.75
    assert bench.skipping(table)["value"] == 20  # the middle of 1..40


def test_parquet_files_are_counted_per_table_without_the_log(
    bench: ModuleType, tmp_path: Path
) -> None:
    for name, files in (("silver/a", 2), ("gold/b", 1)):
        for i in range(files):
            data = pa.table({"v": pa.array([i], pa.int64())})
            write_deltalake(str(tmp_path / name), data, mode="append")
    (tmp_path / "silver" / "a" / "_delta_log" / "00.checkpoint.parquet").write_bytes(b"")
    assert bench.parquet_files(tmp_path) == {"gold/b": 1, "silver/a": 2, "total": 3}


def test_table_versions_follow_the_commits_of_every_table(
    bench: ModuleType, tmp_path: Path
) -> None:
    data = pa.table({"v": pa.array([1], pa.int64())})
    for _ in range(3):
        write_deltalake(str(tmp_path / "silver" / "a"), data, mode="append")
    write_deltalake(str(tmp_path / "_audit" / "runs"), data, mode="append")
    before = bench.table_versions(tmp_path)
    assert before == {"_audit/runs": 0, "silver/a": 2}
    assert bench.changed_versions(before, bench.table_versions(tmp_path)) == {}
    write_deltalake(str(tmp_path / "silver" / "a"), data, mode="append")
    write_deltalake(str(tmp_path / "gold" / "b"), data, mode="append")
    assert bench.changed_versions(before, bench.table_versions(tmp_path)) == {
        "gold/b": [-1, 0],
        "silver/a": [2, 3],
    }


def test_the_extra_day_continues_dates_and_ids(bench: ModuleType) -> None:
    day = bench.SIZES["L"].next_day(items=10_005_668)
    assert day.start.isoformat() == "2025-05-01"
    assert (day.days, day.orders) == (1, 1_820_000 // 30)
    assert day.first_order_id == 10_000 + 1_820_000
    assert day.first_item_id == 10_005_669
    assert day.products == bench.SIZES["L"].products


def test_unknown_scenario_is_refused(bench: ModuleType, tmp_path: Path) -> None:
    assert bench.main(["--scenarios", "XL", "--work-dir", str(tmp_path)]) == 2


def test_missing_real_files_are_refused_before_anything_runs(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    work = tmp_path / "work"
    arguments = ["--scenarios", "S", "--s-dir", str(missing), "--work-dir", str(work)]
    assert bench.main(arguments) == 2
    assert f"not found at {missing}" in capsys.readouterr().err
    assert not work.exists()


# -------------------------------------------------------------------- a run with nothing new


def _run(bench: ModuleType, statuses: list[str], before: dict[str, int], after: dict[str, int]):  # type: ignore[no-untyped-def]
    run = bench.Run("again", "unchanged", "delta-rs", True, "data", kind="nothing new")
    run.jobs = [
        {"job": f"silver.t{i}", "status": s, "seconds": 0.1} for i, s in enumerate(statuses)
    ]
    run.versions_before, run.versions_after = before, after
    return run


def test_a_run_that_did_nothing_passes_the_nothing_new_check(bench: ModuleType) -> None:
    verdict = bench.nothing_new_verdict(
        _run(bench, ["nothing new"] * 3, {"silver/a": 4, "gold/b": 2}, {"silver/a": 4, "gold/b": 2})
    )
    assert verdict["ok"] and verdict["all_nothing_new"] and verdict["versions_unchanged"]
    assert (verdict["jobs"], verdict["tables"]) == (3, 2)
    assert bench.describe_verdict(verdict) == (
        "every job said nothing new; no table version changed (2 tables)"
    )


def test_a_job_that_ran_or_a_table_that_moved_fails_the_nothing_new_check(
    bench: ModuleType,
) -> None:
    verdict = bench.nothing_new_verdict(
        _run(bench, ["nothing new", "ok"], {"silver/a": 4}, {"silver/a": 5, "_audit/runs": 0})
    )
    assert not verdict["ok"]
    assert verdict["other_statuses"] == {"silver.t1": "ok"}
    assert verdict["changed_versions"] == {"_audit/runs": [-1, 0], "silver/a": [4, 5]}
    assert bench.describe_verdict(verdict) == (
        "FAILED: jobs that did not say nothing new: silver.t1 (ok); "
        "FAILED: versions changed: _audit/runs -1→0, silver/a 4→5"
    )
    assert not bench.nothing_new_verdict(_run(bench, [], {}, {}))["ok"]  # no jobs at all


# -------------------------------------------------------------- where Spark started


def test_spark_start_is_placed_in_the_job_and_stage_it_fell_in(bench: ModuleType) -> None:
    jobs = [
        {"job": "bronze.products", "stages": {"read": 0.5}},
        {"job": "bronze.orders", "stages": {"read": 1.0, "transform": 4.0, "check": 0.0}},
    ]
    windows = [{"start": 100.0, "end": 100.6}, {"start": 101.0, "end": 106.5}]
    document = {"jobs": jobs, "windows": windows, "spark_windows": [[102.5, 105.0]]}
    assert bench.spark_started_in(document) == "bronze.orders transform"
    between = {**document, "spark_windows": [[100.7, 100.9]]}
    assert bench.spark_started_in(between) == "outside the jobs"
    phases = {"preflight": [[100.6, 101.0]], "accounting": [[107.0, 108.0]]}
    assert bench.spark_started_in({**between, "phase_windows": phases}) == "preflight"
    # The middle of the start decides: it began at the last instant of the read stage.
    assert bench.spark_started_in({**document, "spark_windows": [[101.99, 104.0]]}) == (
        "bronze.orders transform"
    )
    assert bench.spark_started_in({**document, "spark_windows": []}) == ""


# ------------------------------------------------------------------------------- reports


def test_markdown_table_aligns_numbers_right(bench: ModuleType) -> None:
    assert bench.markdown_table(("job", "s"), [("a", "1.0"), ("b", "2.5")]) == (
        "| job | s |\n| --- | ---: |\n| a | 1.0 |\n| b | 2.5 |"
    )


def _job(name: str, stages: dict[str, float], seconds: float, **more: Any) -> dict[str, Any]:
    return {
        "job": name,
        "status": more.pop("status", "ok"),
        "stages": stages,
        "seconds": seconds,
        "rows_read": more.pop("rows_read", 0),
        "retried": 0,
        "record_seconds": more.pop("record_seconds", 0.0),
        "peak_rss_bytes": more.pop("peak", GIB),
    }


def _pipeline_run(**fields: Any) -> dict[str, Any]:
    jobs = [
        _job("bronze.products", {"read": 1.0}, 1.0, rows_read=1000, record_seconds=0.25),
        _job(
            "silver.products",
            {"read": 0.5, "transform": 2.0, "check": 3.0, "write": 1.5},
            7.0,
            record_seconds=0.25,
        ),
    ]
    run = {
        "name": "S delta-rs validate",
        "scenario": "S",
        "backend": "delta-rs",
        "validate": True,
        "kind": "full",
        "source_rows": 1000,
        "wall_seconds": 14.0,
        "interpreter_seconds": 0.1,
        "import_seconds": 1.5,
        "command_seconds": 11.0,
        "stop_seconds": 0.4,
        "spark_start_seconds": 1.25,
        "spark_started_in": "silver.products read",
        "phases": {"preflight": 0.5, "spark start": 1.25, "audit record": 0.5, "data docs": 1.0},
        "layers": {
            "bronze": {"seconds": 1.0, "rows_per_second": 1000},
            "silver": {"seconds": 7.0, "rows_per_second": 0},
            "gold": {"seconds": 0.0, "rows_per_second": 0},
        },
        "jobs": jobs,
        "peak_rss_bytes": 2 * GIB,
        "peak_jvm_bytes": GIB + GIB // 2,
        "peak_python_bytes": GIB // 2,
        "peak_pss_bytes": GIB + GIB // 4,
        "files": {"total": 54},
        "files_added": {"total": 54},
    }
    run.update(fields)
    return run


def test_the_stage_profile_lists_every_job_and_what_lies_around_them(bench: ModuleType) -> None:
    text = bench.report_profile(_pipeline_run())
    lines = text.splitlines()
    assert lines[0] == (
        "| job | status | read s | transform s | check s | write s | total s | audit record s |"
    )
    assert lines[2] == "| bronze.products | ok | 1.0 | - | - | - | 1.0 | 0.2 |"
    assert lines[3] == "| silver.products ¹ | ok | 0.5 | 2.0 | 3.0 | 1.5 | 7.0 | 0.2 |"
    assert lines[4] == (
        "| **all jobs** |  | **1.5** | **2.0** | **3.0** | **1.5** | **8.0** | **0.5** |"
    )
    assert "¹ Spark started inside silver.products read: 1.2 s of it." in text
    # 11.0 s of command = 8.0 in jobs + 0.5 audit records + 0.5 preflight + 1.0 Data Docs + 1.0
    assert "| preflight | 0.5 |" in text
    assert "| data docs | 1.0 |" in text
    assert "| the rest of the command (settings, lock, summary) | 1.0 |" in text
    assert "| Python interpreter start | 0.1 |" in text
    assert "| Spark stop | 0.4 |" in text
    assert "| wall of the process (all of the above and the jobs) | 14.0 |" in text
    outside = bench.report_profile(_pipeline_run(spark_started_in="preflight"))
    assert "¹" not in outside
    assert "Spark started in preflight, outside the jobs: 1.2 s of it." in outside


def test_the_stage_profile_in_the_json_has_every_job_and_stage_it_ran(bench: ModuleType) -> None:
    assert bench.stage_profile(_pipeline_run()["jobs"]) == {
        "bronze.products": {"read": 1.0, "total": 1.0, "audit record": 0.25},
        "silver.products": {
            "read": 0.5,
            "transform": 2.0,
            "check": 3.0,
            "write": 1.5,
            "total": 7.0,
            "audit record": 0.25,
        },
    }


def test_the_runs_table_gives_wall_layers_and_memory(bench: ModuleType) -> None:
    text = bench.report_runs({"runs": [_pipeline_run()]})
    assert text.splitlines()[2] == (
        "| S delta-rs validate | delta-rs | on | 1,000 | 14.0 | 1.2 | 8.0 | 1.0 | 7.0 | 0.0 "
        "| 6.0 | 2.00 GiB | 1.25 GiB | 1.50 GiB | 0.50 GiB | 54 |"
    )


def _document(**more: Any) -> dict[str, Any]:
    unchanged = {
        "backend": "delta-rs",
        "wall_seconds": 5.5,
        "startup_wall_seconds": 4.0,
        "beyond_startup_seconds": 1.5,
        "ok": True,
        "spark_started": False,
        "jobs": 10,
        "other_statuses": {},
        "versions_unchanged": True,
        "changed_versions": {},
    }
    reference = {"measure": {"wall_seconds": 1.4, "timings": {}, "peak_rss_bytes": GIB // 4}}
    document = {"runs": [_pipeline_run()], "unchanged": [unchanged], "reference": reference}
    document.update(more)
    return document


def test_goals_are_met_missed_or_not_measured(bench: ModuleType) -> None:
    found = {g["goal"].split(":")[0]: g for g in bench.goals(_document())}
    s = found["real April files, full pipeline with validation, delta-rs"]
    assert (s["measured"], s["verdict"]) == ("14.0 s", "yes")
    ratio = found["the same ÷ the pandas reference computation (walls)"]
    assert (ratio["measured"], ratio["verdict"]) == ("10.0× (14.0 s ÷ 1.4 s)", "yes")
    assert found["nothing new (delta-rs)"]["verdict"] == "yes"
    assert found["L (10M items), delta-rs"]["verdict"] == "not measured"

    large = _pipeline_run(
        name="L delta-rs",
        scenario="L",
        wall_seconds=400.0,
        peak_rss_bytes=9 * GIB,
        peak_pss_bytes=7 * GIB,
    )
    slow = _document(runs=[_pipeline_run(wall_seconds=30.0), large])
    slow["incremental"] = {"base": "L", "wall_ratio": 1.75}
    verdicts = [(g["measured"], g["verdict"]) for g in bench.goals(slow)]
    assert verdicts == [
        ("30.0 s", "no, 15.0 s over"),
        ("21.4× (30.0 s ÷ 1.4 s)", "no, 2.1× the target"),
        ("1.5 s (5.5 s − 4.0 s)", "yes"),
        ("9.00 GiB (PSS 7.00 GiB)", "no, 1.00 GiB over"),
        ("400 s", "no, 40 s over"),
        ("1.75×", "no, 0.25× over"),
    ]
    table = bench.report_goals(slow).splitlines()
    assert table[0] == "| goal | target | measured | met |"
    assert table[2] == (
        "| real April files, full pipeline with validation, delta-rs: wall | ≤ 15 s | 30.0 s "
        "| no, 15.0 s over |"
    )


def test_a_nothing_new_run_that_wrote_misses_its_goal(bench: ModuleType) -> None:
    document = _document()
    document["unchanged"][0].update(
        ok=False, versions_unchanged=False, changed_versions={"a": [1, 2]}
    )
    goal = bench.goals(document)[2]
    assert goal["verdict"] == "no, a table changed or a job did not say nothing new"
    assert bench.report_unchanged(document).splitlines()[2] == (
        "| delta-rs | 5.5 | 4.0 | 1.5 | no | 10 of 10 | **1** |"
    )


def test_the_report_has_every_section_that_was_measured(bench: ModuleType) -> None:
    text = bench.report(_document(machine={"cpu": "x", "versions": {"pandas": "2.2"}}))
    titles = [line for line in text.splitlines() if line.startswith("### ")]
    assert titles == [
        "### Machine",
        "### Goals",
        "### Pipeline runs",
        "### Reference computation (pandas)",
        "### A run with nothing new",
        "### Per job and stage: S delta-rs validate",
        "### Per job: seconds · peak RSS while it ran",
    ]
    assert "| S delta-rs validate | 14.0 | 10.0× |" in text


# ------------------------------------------------------------- the reference computation


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _excluded() -> set[tuple[str, str, int]]:
    """The sample rows the pipeline rejects or drops as older duplicates, from the
    generator's manifest (not from any rule code)."""
    manifest = json.loads((SAMPLE / "_expected_quarantine.json").read_text())
    return {
        (e["file"], e["sheet"] or "", e["row"])
        for e in manifest["quarantine"] + manifest["duplicates"]
    }


def _sample_rows() -> dict[str, list[dict[str, Any]]]:
    """Every kept row of the sample files, read with openpyxl and csv."""
    excluded = _excluded()
    rows: dict[str, list[dict[str, Any]]] = {}
    with (SAMPLE / "products.csv").open(newline="") as handle:
        rows["products"] = [
            r
            for n, r in enumerate(csv.DictReader(handle), start=2)
            if ("products.csv", "", n) not in excluded
        ]
    for dataset in ("orders", "order_items"):
        name = f"{dataset}_apr_2025.xlsx"
        book = load_workbook(SAMPLE / name, read_only=True, data_only=True)
        rows[dataset] = []
        for sheet in book.worksheets:
            values = list(sheet.iter_rows(values_only=True))
            for n, row in enumerate(values[1:], start=2):
                if (name, sheet.title, n) not in excluded:
                    rows[dataset].append(dict(zip(values[0], row, strict=True)))
    return rows


def _expected_gold() -> dict[str, dict[Any, dict[str, Any]]]:
    """The four gold tables of the sample, in plain Python, keyed by each table's key."""
    rows = _sample_rows()
    products = {int(p["product_id"]): p for p in rows["products"]}
    orders = {}
    for o in rows["orders"]:
        at = dt.datetime.fromisoformat(o["order_timestamp"]).replace(tzinfo=dt.UTC)
        amount = _money(Decimal(repr(float(o["total_amount"]))))
        orders[int(o["order_id"])] = {"user": int(o["user_id"]), "at": at, "amount": amount}
    items = [
        {
            "id": int(i["id"]),
            "order": int(i["order_id"]),
            "user": int(i["user_id"]),
            "product": int(i["product_id"]),
            "cart": int(i["add_to_cart_order"]),
            "reordered": int(i["reordered"]),
            "days": None
            if i["days_since_prior_order"] is None
            else int(i["days_since_prior_order"]),
            "day": orders[int(i["order_id"])]["at"].date(),
            "department": products[int(i["product_id"])]["department"],
        }
        for i in rows["order_items"]
    ]

    daily: dict[Any, dict[str, Any]] = {}
    for o in orders.values():
        d = daily.setdefault(o["at"].date(), {"orders": 0, "revenue": Decimal(0), "users": set()})
        d["orders"] += 1
        d["revenue"] += o["amount"]
        d["users"].add(o["user"])
    lines_by_day = defaultdict(list)
    for i in items:
        lines_by_day[i["day"]].append(i["reordered"])
    daily_sales = {
        day: {
            "total_orders": d["orders"],
            "total_revenue": d["revenue"],
            "avg_order_value": _money(d["revenue"] / d["orders"]),
            "unique_customers": len(d["users"]),
            "total_items": len(lines_by_day[day]),
            "items_per_order": len(lines_by_day[day]) / d["orders"],
            "reorder_rate": mean(lines_by_day[day]),
        }
        for day, d in daily.items()
    }

    def line_figures(lines: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "units_sold": len(lines),
            "order_count": len({i["order"] for i in lines}),
            "unique_customers": len({i["user"] for i in lines}),
            "reorder_rate": mean(i["reordered"] for i in lines) if lines else None,
        }

    by_product = defaultdict(list)
    for i in items:
        by_product[i["product"]].append(i)
    product_performance = {}
    for pid, p in products.items():
        lines = by_product[pid]
        product_performance[pid] = {
            "product_name": p["product_name"],
            "department": p["department"],
            **line_figures(lines),
            "avg_add_to_cart_order": mean(i["cart"] for i in lines) if lines else None,
            "first_order_date": min((i["day"] for i in lines), default=None),
            "last_order_date": max((i["day"] for i in lines), default=None),
        }

    by_department = defaultdict(list)
    for i in items:
        by_department[i["department"]].append(i)
    department_analytics = {
        name: {
            **line_figures(by_department[name]),
            "products_sold": len({i["product"] for i in by_department[name]}),
            "share_of_units": len(by_department[name]) / len(items),
        }
        for name in {p["department"] for p in products.values()}
    }

    by_user = defaultdict(list)
    for o in orders.values():
        by_user[o["user"]].append(o)
    lines_by_user = defaultdict(list)
    for i in items:
        lines_by_user[i["user"]].append(i)
    customer_insights = {}
    for user, placed in by_user.items():
        spend = sum((o["amount"] for o in placed), Decimal(0))
        lines = lines_by_user[user]
        units: dict[str, int] = defaultdict(int)
        for i in lines:
            units[i["department"]] += 1
        favourite = min(units, key=lambda d: (-units[d], d)) if units else None
        days = [i["days"] for i in lines if i["days"] is not None]
        n = len(placed)
        segment = (
            "champion"
            if n >= 3
            else "loyal"
            if n == 2
            else "big_spender"
            if spend >= 400
            else "new"
        )
        customer_insights[user] = {
            "total_orders": n,
            "total_spend": spend,
            "avg_order_value": _money(spend / n),
            "first_order_at": min(o["at"] for o in placed),
            "last_order_at": max(o["at"] for o in placed),
            "total_items": len(lines),
            "reorder_rate": mean(i["reordered"] for i in lines) if lines else None,
            "avg_days_since_prior_order": mean(days) if days else None,
            "favourite_department": favourite,
            "segment": segment,
        }
    return {
        "daily_sales": daily_sales,
        "product_performance": product_performance,
        "department_analytics": department_analytics,
        "customer_insights": customer_insights,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def test_the_reference_computes_the_gold_figures_of_the_sample_files(bench: ModuleType) -> None:
    raw = {d: bench.read_dataset(paths) for d, paths in bench.source_files(SAMPLE).items()}
    assert {d: len(frame) for d, frame in raw.items()} == {
        "products": 1001,
        "orders": 423,
        "order_items": 2278,
    }
    computed = bench.reference_gold(bench.clean_sources(raw))
    expected = _expected_gold()
    assert set(computed) == set(expected)
    for table, rows in expected.items():
        key = bench.GOLD_KEYS[table]
        frame = computed[table]
        actual = {
            _plain(r[key]): {c: _plain(v) for c, v in r.items() if c != key}
            for r in frame.to_dict("records")
        }
        assert list(frame[key]) == sorted(frame[key]), table  # sorted by key
        assert set(actual) == set(rows), table
        for k, figures in rows.items():
            assert set(actual[k]) == set(figures), (table, k)
            for column, value in figures.items():
                if isinstance(value, float):
                    assert actual[k][column] == pytest.approx(value, rel=1e-12), (table, k, column)
                else:
                    assert actual[k][column] == value, (table, k, column)


def test_the_gold_comparison_names_what_differs(bench: ModuleType) -> None:
    expected = pd.DataFrame(
        {
            "k": [1, 2, 3],
            "amount": [Decimal("1.10"), Decimal("2.00"), Decimal("3.00")],
            "rate": [0.5, float("nan"), 1 / 3],
            "at": pd.to_datetime(["2025-04-01T10:00:00"] * 3, utc=True),
        }
    )
    same = pd.DataFrame(  # other row order, exponents, float noise and timestamp unit
        {
            "k": [3, 1, 2],
            "amount": [Decimal("3"), Decimal("1.1"), Decimal("2.0")],
            "rate": [1 / 3 * (1 + 1e-12), 0.5, float("nan")],
            "at": expected["at"].astype("datetime64[us, UTC]"),
        }
    )
    assert bench.compare_frames(expected, same, "k") == []
    changed = expected.assign(amount=[Decimal("1.10"), Decimal("2.01"), Decimal("3.00")])
    assert bench.compare_frames(expected, changed, "k") == [
        "amount: 1 rows differ, e.g. k=2: Decimal('2.00') expected, Decimal('2.01') found"
    ]
    assert bench.compare_frames(expected, expected.assign(rate=[0.5, 0.1, 1 / 3]), "k")[
        0
    ].startswith("rate: 1 rows differ, e.g. k=2")
    assert bench.compare_frames(expected, expected.iloc[:2], "k") == [
        "3 rows expected, 2 found (1 keys missing, 0 unexpected)"
    ]


# ------------------------------------------------------------------------------ smoke run


@pytest.mark.benchmark
def test_smoke_run_of_every_scenario_but_delta_spark_on_tiny_data(
    bench: ModuleType, tmp_path: Path
) -> None:
    """startup, S (the sample files) with and without validation, the reference, the run with
    nothing new, a tiny M and one incremental day on top of it."""
    out, report = tmp_path / "result.json", tmp_path / "report.md"
    work = tmp_path / "work"
    scenarios = "startup,S,reference,unchanged,M,incremental"
    code = bench.main(
        [
            *("--scenarios", scenarios, "--work-dir", str(work), "--s-dir", str(SAMPLE)),
            *("--scale", "0.001", "--size", "M", "--json", str(out), "--report", str(report)),
        ]
    )
    assert code == 0
    document = json.loads(out.read_text())
    runs = {r["name"]: r for r in document["runs"]}
    assert list(runs) == [
        "S delta-rs validate",
        "S delta-rs no-validate",
        "S delta-rs again, nothing new",
        "M delta-rs",
        "M + 1 day",
        "1 day into an empty lake",
    ]
    s = runs["S delta-rs validate"]
    jobs = {j["job"]: j for j in s["jobs"]}
    assert len(jobs) == 10
    assert jobs["bronze.orders"]["rows_read"] == 423
    assert jobs["silver.orders"]["inserted"] == 420
    assert set(jobs["silver.orders"]["stages"]) == {"read", "transform", "check", "write"}
    assert all(j["peak_rss_bytes"] > 0 for j in s["jobs"])
    assert 0 < s["peak_jvm_bytes"] < s["peak_rss_bytes"]
    assert s["wall_seconds"] > s["command_seconds"] > sum(j["seconds"] for j in s["jobs"])
    assert s["spark_start_seconds"] > 0 and s["spark_started_in"].startswith("bronze.")
    for layer in ("bronze", "silver", "gold"):
        seconds = sum(j["seconds"] for n, j in jobs.items() if n.startswith(layer))
        assert s["layers"][layer]["seconds"] == pytest.approx(seconds, abs=0.02)
    assert s["skipping"]["before"]["files"] == 7  # one file a day
    # The reference reproduces S's gold tables, and the unchanged run changed nothing.
    assert document["reference"]["check"]["matches"] is True
    (unchanged,) = document["unchanged"]
    assert unchanged["ok"] and unchanged["jobs"] == 10
    assert unchanged["spark_started"] is False
    assert document["startup"]["delta-rs"]["timings"]["session_seconds"] > 0
    # M and its extra day.
    assert document["sizes"]["M"]["orders"] == 180
    m = runs["M delta-rs"]
    assert {j["job"]: j for j in m["jobs"]}["silver.orders"]["inserted"] == 180
    assert m["files"]["silver/order_items"] == 30
    day = {j["job"]: j for j in runs["M + 1 day"]["jobs"]}
    alone = {j["job"]: j for j in runs["1 day into an empty lake"]["jobs"]}
    assert day["silver.orders"]["inserted"] == alone["silver.orders"]["inserted"] == 6
    assert day["bronze.products"]["status"] == "nothing new"
    assert document["incremental"]["wall_ratio"] > 0
    assert [g["verdict"] for g in document["goals"]][4] == "not measured"  # no L
    text = report.read_text()
    assert "### Per job and stage: S delta-rs no-validate" in text
    # Without --keep nothing but the logs, the child results and the JSON stays behind.
    assert not (work / "lake").exists()
    assert not (work / "data").exists()
