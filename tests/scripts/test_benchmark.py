"""Tests for scripts/benchmark.py: its measuring parts on tiny inputs, and a smoke run of the
whole harness on a tiny generated data set (about 30 s: one pipeline run in a fresh process).

The incremental smoke run takes three pipeline runs and is marked `benchmark` (deselected by
default; `uv run pytest -m benchmark tests/scripts/test_benchmark.py`).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from etl.contracts import CONTRACTS

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "benchmark.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["benchmark"] = module
    spec.loader.exec_module(module)
    return module


def test_memory_of_a_process_tree_includes_its_children(bench: ModuleType) -> None:
    # A parent that starts a child holding about 200 MB, both visible to the sampler.
    code = (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', "
        '\'import time; b = bytearray(200 * 2**20); b[::4096] = b"x" * len(b[::4096]); '
        "time.sleep(3)'])\n"
        "c.wait()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    with bench.MemorySampler(parent.pid, interval=0.05) as memory:
        deadline = time.time() + 10
        while len(bench.process_tree(parent.pid)) < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert len(bench.process_tree(parent.pid)) >= 2
        parent.wait()
    assert memory.peak >= 200 * 2**20
    assert memory.peak_jvm == 0
    assert memory.peak_python == memory.peak
    assert memory.samples > 3
    assert memory.peak_between(0, time.time()) == memory.peak


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


def test_the_extra_day_continues_dates_and_ids(bench: ModuleType) -> None:
    day = bench.SIZES["L"].next_day(items=10_005_668)
    assert day.start.isoformat() == "2025-05-01"
    assert (day.days, day.orders) == (1, 1_820_000 // 30)
    assert day.first_order_id == 10_000 + 1_820_000
    assert day.first_item_id == 10_005_669
    assert day.products == bench.SIZES["L"].products


def test_unknown_scenario_is_refused(bench: ModuleType, tmp_path: Path) -> None:
    assert bench.main(["--scenarios", "XL", "--work-dir", str(tmp_path)]) == 2


def _run(bench: ModuleType, tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    out = tmp_path / "result.json"
    work = tmp_path / "work"
    code = bench.main(["--work-dir", str(work), "--json", str(out), "--scale", "0.001", *args])
    assert code == 0
    return json.loads(out.read_text())


def test_smoke_run_of_a_tiny_m(bench: ModuleType, tmp_path: Path) -> None:
    document = _run(bench, tmp_path, "--scenarios", "M")
    (run,) = document["runs"]
    size = document["sizes"]["M"]
    assert size["orders"] == 180
    jobs = {j["job"]: j for j in run["jobs"]}
    assert len(jobs) == 10
    assert jobs["bronze.orders"]["rows_read"] == 180
    assert jobs["silver.orders"]["inserted"] == 180
    assert jobs["silver.order_items"]["inserted"] == jobs["bronze.order_items"]["rows_read"]
    assert run["source_rows"] == sum(j["rows_read"] for n, j in jobs.items() if "bronze" in n)
    for layer in ("bronze", "silver", "gold"):
        seconds = sum(j["seconds"] for n, j in jobs.items() if n.startswith(layer))
        assert run["layers"][layer]["seconds"] == pytest.approx(seconds, abs=0.02)
    assert run["wall_seconds"] >= run["startup_seconds"] + run["pipeline_seconds"]
    assert 0 < run["peak_jvm_bytes"] < run["peak_rss_bytes"]
    assert all(j["peak_rss_bytes"] > 0 for j in run["jobs"])
    # One file per order_date partition: 30 days.
    assert run["files"]["silver/order_items"] == 30
    assert run["files"]["total"] == sum(v for k, v in run["files"].items() if k != "total")
    skipping = run["skipping"]
    assert skipping["zorder_by"] == list(CONTRACTS["order_items"].zorder_by)
    assert skipping["before"]["files"] == 30
    assert skipping["after"]["optimize_metrics"]["numFilesRemoved"] == 30
    assert 0 <= skipping["after"]["fraction"] <= 1
    # Without --keep nothing but the logs and the JSON stays behind.
    assert not (tmp_path / "work" / "lake").exists()
    assert not (tmp_path / "work" / "data").exists()


@pytest.mark.benchmark
def test_smoke_run_of_the_incremental_scenario(bench: ModuleType, tmp_path: Path) -> None:
    document = _run(bench, tmp_path, "--scenarios", "incremental", "--size", "M")
    base, incremental, empty = document["runs"]
    assert base["scenario"].startswith("M (base")
    assert document["incremental"]["products_file_unchanged"] is True
    day = {j["job"]: j for j in incremental["jobs"]}
    alone = {j["job"]: j for j in empty["jobs"]}
    # The new day's orders and items are new rows in both lakes; products are already known
    # to the lake holding M (the unchanged file is skipped) and new to the empty one.
    assert day["silver.orders"]["inserted"] == alone["silver.orders"]["inserted"] == 6
    assert day["silver.order_items"]["inserted"] == alone["silver.order_items"]["inserted"]
    assert day["bronze.products"]["rows_read"] == 0
    # One new order_date partition: one new data file in silver order_items.
    assert incremental["files_added"]["silver/order_items"] == 1
    assert incremental["files"]["silver/order_items"] == 31
    assert empty["files"] == empty["files_added"]
    assert alone["bronze.products"]["rows_read"] == 1_000
