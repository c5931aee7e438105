"""Benchmark the local pipeline (bronze → silver → gold) at three sizes and one incremental day.

Scenarios:

* ``S``: the real April 2025 files (``../shared/reference-data/apr_2025``: 1,000 products,
  7,500 orders, 40,803 items);
* ``M``: generated, 180,000 orders over 30 days (about 1M items);
* ``L``: generated, 1,820,000 orders over 30 days (about 10M items);
* ``incremental``: a lake already holding L (or ``--size M``) receives one more day with the
  same per-day volume; the same day is also loaded into an empty lake for comparison.

Each pipeline run happens in a fresh Python process (its own Spark JVM), while this process
samples the resident memory of the whole process tree (the Python driver, the Spark JVM and any
Python workers) every 0.2 s from ``/proc``. Per scenario the report gives the seconds of each
layer (the sum of its jobs' seconds), rows per second, peak memory, the Parquet data files in
the lakehouse (in total and per table) and, for silver ``order_items``, the share of data files
that Delta statistics let a point query on one ``product_id`` skip, before and after
``OPTIMIZE ZORDER BY`` the contract's Z-order columns with the target file size
``etl.maintenance`` chooses (about 16 files a partition), applied to a copy of the table.

Usage::

    uv run python scripts/benchmark.py --scenarios S,M --json build/benchmark/result.json
    uv run python scripts/benchmark.py --scenarios L,incremental --keep

Without ``--keep`` the generated data and lakehouses under ``--work-dir`` are deleted at the
end; with it they stay and a later run reuses generated data of the same parameters.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "scripts" / "generate_sample_data.py"
REFERENCE_DATA = REPO.parent / "shared" / "reference-data" / "apr_2025"
DEFAULT_WORK_DIR = REPO / "build" / "benchmark"
LAYERS = ("bronze", "silver", "gold")
SCENARIOS = ("S", "M", "L", "incremental")
SAMPLE_SECONDS = 0.2
FIRST_ORDER_ID = 10_000  # the generator's default first order id
SKIP_TABLE = ("silver", "order_items")
SKIP_COLUMN = "product_id"


@dataclass(frozen=True)
class Size:
    """A generated data set: the generator's arguments."""

    name: str
    orders: int
    days: int
    start: dt.date = dt.date(2025, 4, 1)
    products: int = 1_000
    seed: int = 42
    format: str = "auto"
    first_order_id: int = FIRST_ORDER_ID
    first_item_id: int = 1

    def generator_args(self, out: Path) -> list[str]:
        return [
            "--out",
            str(out),
            "--orders",
            str(self.orders),
            "--days",
            str(self.days),
            "--start",
            self.start.isoformat(),
            "--products",
            str(self.products),
            "--seed",
            str(self.seed),
            "--format",
            self.format,
            "--dirty",
            "none",
            "--first-order-id",
            str(self.first_order_id),
            "--first-item-id",
            str(self.first_item_id),
        ]

    def next_day(self, items: int) -> Size:
        """One more day after this data set, same products and per-day volume, ids continued."""
        return Size(
            name=f"{self.name}+1day",
            orders=self.orders // self.days,
            days=1,
            start=self.start + dt.timedelta(days=self.days),
            products=self.products,
            seed=self.seed,
            format=self.format,
            first_order_id=self.first_order_id + self.orders,
            first_item_id=self.first_item_id + items,
        )


SIZES = {"M": Size("M", orders=180_000, days=30), "L": Size("L", orders=1_820_000, days=30)}


# --------------------------------------------------------------------------------------------
# Memory of a process tree, from /proc (no psutil needed)
# --------------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:  # the process has exited
        return ""


def process_tree(pid: int) -> list[int]:
    """`pid` and all of its descendants, via /proc/<pid>/task/<tid>/children."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                stack.extend(int(c) for c in _read(f"/proc/{current}/task/{task}/children").split())
    return found


def rss_bytes(pid: int) -> int:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class MemorySampler:
    """Samples the RSS of a process tree every `interval` seconds on a background thread.

    `peak` is the largest simultaneous total; `peak_jvm` and `peak_python` are the largest
    totals of the `java` processes and of the rest, each at its own moment.
    """

    pid: int
    interval: float = SAMPLE_SECONDS
    peak: int = 0
    peak_jvm: int = 0
    peak_python: int = 0
    samples: int = 0
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # (epoch, total, jvm)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        jvm = other = 0
        for pid in process_tree(self.pid):
            rss = rss_bytes(pid)
            if _read(f"/proc/{pid}/comm").strip() == "java":
                jvm += rss
            else:
                other += rss
        self.peak = max(self.peak, jvm + other)
        self.peak_jvm = max(self.peak_jvm, jvm)
        self.peak_python = max(self.peak_python, other)
        self.samples += 1
        self.timeline.append((time.time(), jvm + other, jvm))

    def peak_between(self, start: float, end: float) -> int:
        return max((t[1] for t in self.timeline if start <= t[0] <= end), default=0)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# --------------------------------------------------------------------------------------------
# The child process: one pipeline run
# --------------------------------------------------------------------------------------------


def child_main(args: argparse.Namespace) -> int:
    """Run the whole pipeline once and write what each job did to `args.result` as JSON."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    started = time.perf_counter()
    from etl.jobs import configure_logging, new_context

    from etl.pipeline import run_pipeline, select_jobs
    from etl.settings import Settings

    configure_logging()
    settings = Settings(
        source_dir=args.source_dir, lakehouse_dir=args.lakehouse_dir, validate=args.validate
    )
    ctx = new_context(settings)
    spark_ready = time.perf_counter()
    profiler = None
    if args.profile:
        from pyinstrument import Profiler  # uv run --with pyinstrument ...

        profiler = Profiler(interval=0.01)
        profiler.start()
    windows: list[dict[str, Any]] = []
    import etl.pipeline

    run_job = etl.pipeline.run_job

    def timed_job(job: str, job_ctx: Any) -> Any:  # when each job ran, for its memory peak
        window = {"job": job, "start": time.time()}
        try:
            return run_job(job, job_ctx)
        finally:
            window["end"] = time.time()
            windows.append(window)

    etl.pipeline.run_job = timed_job  # type: ignore[assignment]
    results = run_pipeline(ctx, select_jobs())
    finished = time.perf_counter()
    if profiler is not None:
        profiler.stop()
        Path(args.profile).write_text(profiler.output_text(unicode=True, show_all=False))
    document = {
        "startup_seconds": round(spark_ready - started, 2),
        "pipeline_seconds": round(finished - spark_ready, 2),
        "windows": windows,
        "jobs": [
            {
                "job": r.job,
                "rows_read": r.rows_read,
                "retried": r.retried,
                "inserted": r.inserted,
                "updated": r.updated,
                "rejected": r.rejected,
                "duplicates": r.duplicates,
                "skipped_files": r.skipped_files,
                "seconds": r.seconds,
            }
            for r in results
        ],
    }
    Path(args.result).write_text(json.dumps(document, indent=2) + "\n")
    ctx.spark.stop()
    return 0


# --------------------------------------------------------------------------------------------
# Measurements the parent takes
# --------------------------------------------------------------------------------------------


@dataclass
class Layer:
    seconds: float
    rows: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def layer_totals(jobs: Sequence[dict[str, Any]]) -> dict[str, Layer]:
    """Per layer: the sum of its jobs' seconds and of the rows they read (retries included)."""
    totals = {layer: Layer(0.0, 0) for layer in LAYERS}
    for job in jobs:
        layer = totals[job["job"].split(".")[0]]
        layer.seconds = round(layer.seconds + job["seconds"], 2)
        layer.rows += job["rows_read"] + job["retried"]
    return totals


def delta_tables(lakehouse: Path) -> list[Path]:
    return sorted(p.parent for p in lakehouse.rglob("_delta_log") if p.is_dir())


def parquet_files(lakehouse: Path) -> dict[str, int]:
    """Parquet data files on disk per table (`layer/name`), the Delta logs' checkpoints not
    counted; `total` is their sum."""
    counts: dict[str, int] = {}
    for table in delta_tables(lakehouse):
        files = [p for p in table.rglob("*.parquet") if "_delta_log" not in p.parts]
        counts[table.relative_to(lakehouse).as_posix()] = len(files)
    counts["total"] = sum(counts.values())
    return counts


def skipping(table: Path, value: int | None = None) -> dict[str, Any]:
    """Share of data files (and bytes) whose min/max statistics of `SKIP_COLUMN` exclude a
    point query's value: Delta's data skipping for `WHERE product_id = value`.

    `value` defaults to the median product id; `mean_over_values` averages the file share
    over every product id between the smallest and the largest."""
    import numpy as np
    import pyarrow as pa
    from deltalake import DeltaTable

    actions = pa.table(DeltaTable(str(table)).get_add_actions(flatten=True))
    lo = np.asarray(actions.column(f"min.{SKIP_COLUMN}").to_pylist(), dtype=np.float64)
    hi = np.asarray(actions.column(f"max.{SKIP_COLUMN}").to_pylist(), dtype=np.float64)
    size = np.asarray(actions.column("size_bytes").to_pylist(), dtype=np.float64)
    files = len(lo)
    if files == 0:
        return {"files": 0}
    first, last = int(np.nanmin(lo)), int(np.nanmax(hi))
    value = (first + last) // 2 if value is None else value
    # A file without statistics (NaN) can never be skipped.
    excluded = (lo > value) | (hi < value)
    values = np.arange(first, last + 1, dtype=np.float64)
    per_value = ((lo[None, :] > values[:, None]) | (hi[None, :] < values[:, None])).mean(axis=1)
    return {
        "files": files,
        "value": value,
        "skipped_files": int(excluded.sum()),
        "fraction": round(float(excluded.mean()), 4),
        "bytes_fraction": round(float(size[excluded].sum() / size.sum()), 4),
        "mean_over_values": round(float(per_value.mean()), 4),
        "mean_file_mb": round(float(size.mean()) / 2**20, 2),
        "median_range_width": float(np.median(hi - lo)),
    }


def measure_skipping(lakehouse: Path, scratch: Path) -> dict[str, Any]:
    """Skipping as the pipeline left silver order_items, then after the table store's
    OPTIMIZE ZORDER BY the contract's columns on a copy (the lakehouse stays untouched)."""
    from etl.contracts import CONTRACTS
    from etl.maintenance import zorder_file_bytes
    from etl.storage import get_table_store

    source = lakehouse.joinpath(*SKIP_TABLE)
    copy = scratch / "skipping" / SKIP_TABLE[1]
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(source, copy)
    zorder = CONTRACTS[SKIP_TABLE[1]].zorder_by
    before = skipping(copy)
    store = get_table_store(None, "delta-rs")  # type: ignore[arg-type]  # optimize needs no Spark
    started = time.perf_counter()
    partitions = len({p.name for p in copy.iterdir() if "=" in p.name}) or 1
    target = zorder_file_bytes(store.size_bytes(str(copy)), partitions)  # as etl.maintenance
    metrics = store.optimize(str(copy), zorder, target)
    seconds = round(time.perf_counter() - started, 2)
    after = skipping(copy, before.get("value"))
    after["optimize_seconds"] = seconds
    after["target_file_bytes"] = target
    after["optimize_metrics"] = {
        k: metrics.get(k) for k in ("numFilesAdded", "numFilesRemoved", "partitionsOptimized")
    }
    shutil.rmtree(copy, ignore_errors=True)
    return {
        "table": "/".join(SKIP_TABLE),
        "column": SKIP_COLUMN,
        "zorder_by": list(zorder),
        "before": before,
        "after": after,
    }


MIB = 2**20
# Layouts tried next to the production one: (partitioned by order_date, Z-order columns, target
# file size in bytes; None is delta-rs's default, the table's delta.targetFileSize or 100 MiB).
EXPERIMENTS: tuple[tuple[bool, tuple[str, ...], int | None], ...] = (
    (True, ("product_id", "user_id"), None),  # the layout before Z-order by product_id alone
    (True, ("product_id", "user_id"), 1 * MIB),
    (True, ("product_id", "user_id"), MIB // 4),
    (True, ("product_id",), None),
    (True, ("product_id",), 1 * MIB),
    (True, ("product_id",), MIB // 4),
    (False, ("product_id", "user_id"), 32 * MIB),
    (False, ("product_id", "user_id"), 16 * MIB),
    (False, ("product_id",), 32 * MIB),
    (False, ("product_id",), 16 * MIB),
    (False, ("product_id",), 4 * MIB),
)


def zorder_experiments(lakehouse: Path, scratch: Path) -> list[dict[str, Any]]:
    """Skipping of the same point query under other layouts of silver order_items, each
    Z-ordered with delta-rs on a copy: other target file sizes, Z-order by product_id alone,
    and the table without its order_date partitioning."""
    import pyarrow.dataset as pads
    from deltalake import DeltaTable, write_deltalake

    source = lakehouse.joinpath(*SKIP_TABLE)
    value = skipping(source)["value"]
    copy = scratch / "skipping" / "experiment"
    flat = scratch / "skipping" / "unpartitioned"
    shutil.rmtree(flat, ignore_errors=True)
    table = DeltaTable(str(source))
    data = pads.dataset(table.file_uris(), format="parquet").to_table()
    write_deltalake(str(flat), data, mode="overwrite")
    del data
    results = []
    for partitioned, columns, target in EXPERIMENTS:
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(source if partitioned else flat, copy)
        started = time.perf_counter()
        DeltaTable(str(copy)).optimize.z_order(list(columns), target_size=target)
        seconds = round(time.perf_counter() - started, 2)
        measured = skipping(copy, value)
        results.append(
            {
                "partitioned_by_order_date": partitioned,
                "zorder_by": list(columns),
                "target_size_bytes": target,
                "optimize_seconds": seconds,
                **{k: measured[k] for k in ("files", "fraction", "mean_over_values")},
                "mean_file_mb": measured["mean_file_mb"],
            }
        )
        print(f"  z-order experiment: {results[-1]}", flush=True)
    shutil.rmtree(copy, ignore_errors=True)
    shutil.rmtree(flat, ignore_errors=True)
    return results


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured pipeline run."""

    scenario: str
    source_dir: str
    source_rows: int = 0
    generate_seconds: float | None = None
    wall_seconds: float = 0.0
    startup_seconds: float = 0.0
    pipeline_seconds: float = 0.0
    layers: dict[str, dict[str, float]] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    peak_rss_bytes: int = 0
    peak_jvm_bytes: int = 0
    peak_driver_bytes: int = 0
    memory_samples: int = 0
    files: dict[str, int] = field(default_factory=dict)
    files_added: dict[str, int] = field(default_factory=dict)  # by this run
    skipping: dict[str, Any] | None = None
    exit_code: int = 0
    log: str = ""
    # /proc/loadavg (1, 5, 15 minutes) when the run started and ended: other work on the
    # machine shows up here (this run alone keeps the 1-minute figure near 2).
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    started_at: str = ""


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work_dir).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.runs: list[Run] = []
        self.extra: dict[str, Any] = {}

    # data -------------------------------------------------------------------------------

    def size(self, name: str) -> Size:
        """A generated size, its orders multiplied by --scale (tests run tiny ones)."""
        size = SIZES[name]
        if self.args.scale == 1:
            return size
        orders = max(size.days, round(size.orders * self.args.scale))
        return replace(size, orders=orders)

    def generate(self, size: Size) -> tuple[Path, float | None, dict[str, Any]]:
        """Generate `size` under the work dir unless data of the same parameters is there."""
        out = self.work / "data" / size.name
        params = self.work / "data" / f"{size.name}.params.json"
        wanted = json.dumps(asdict(size), default=str, sort_keys=True)
        manifest = out / "_expected_quarantine.json"
        if manifest.exists() and params.exists() and params.read_text() == wanted:
            print(f"[{size.name}] reusing generated data in {out}", flush=True)
            return out, None, json.loads(manifest.read_text())
        shutil.rmtree(out, ignore_errors=True)
        print(
            f"[{size.name}] generating {size.orders:,} orders over {size.days} day(s)", flush=True
        )
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(GENERATOR), *size.generator_args(out)], check=True, cwd=REPO
        )
        seconds = round(time.perf_counter() - started, 2)
        params.write_text(wanted)
        return out, seconds, json.loads(manifest.read_text())

    # one run -----------------------------------------------------------------------------

    def run_pipeline(self, scenario: str, source: Path, lakehouse: Path) -> Run:
        """Run the pipeline in a fresh process over `lakehouse` and measure it."""
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        result = self.work / f"{scenario}.result.json"
        result.unlink(missing_ok=True)
        log = logs / f"{scenario}.log"
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            "--source-dir",
            str(source),
            "--lakehouse-dir",
            str(lakehouse),
            "--result",
            str(result),
        ]
        if self.args.validate:
            command.append("--validate")
        if self.args.profile:
            command += ["--profile", str(logs / f"{scenario}.profile.txt")]
        env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        print(f"[{scenario}] pipeline over {source} -> {lakehouse} (log: {log})", flush=True)
        run = Run(scenario, str(source))
        files_before = parquet_files(lakehouse) if lakehouse.exists() else {}
        run.load_before = load_average()
        run.started_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        started = time.perf_counter()
        with log.open("w") as out:
            child = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=out)
            with MemorySampler(child.pid) as memory:
                run.exit_code = child.wait()
        run.wall_seconds = round(time.perf_counter() - started, 2)
        run.load_after = load_average()
        run.peak_rss_bytes, run.peak_jvm_bytes = memory.peak, memory.peak_jvm
        run.peak_driver_bytes, run.memory_samples = memory.peak_python, memory.samples
        run.log = str(log)
        if run.exit_code != 0 or not result.exists():
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:])
            raise RuntimeError(f"{scenario}: pipeline exited {run.exit_code}:\n{tail}")
        document = json.loads(result.read_text())
        run.jobs = document["jobs"]
        for job, window in zip(run.jobs, document["windows"], strict=True):
            job["peak_rss_bytes"] = memory.peak_between(window["start"], window["end"])
        run.startup_seconds = document["startup_seconds"]
        run.pipeline_seconds = document["pipeline_seconds"]
        run.layers = {
            name: {
                "seconds": layer.seconds,
                "rows": layer.rows,
                "rows_per_second": round(layer.rows_per_second),
            }
            for name, layer in layer_totals(run.jobs).items()
        }
        run.source_rows = sum(j["rows_read"] for j in run.jobs if j["job"].startswith("bronze."))
        run.files = parquet_files(lakehouse)
        run.files_added = {k: v - files_before.get(k, 0) for k, v in run.files.items()}
        print(
            f"[{scenario}] done in {run.wall_seconds:.1f} s, peak {gib(run.peak_rss_bytes)}",
            flush=True,
        )
        return run

    def lakehouse(self, name: str) -> Path:
        path = self.work / "lake" / name
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def record(self, run: Run, with_skipping: bool, lakehouse: Path) -> None:
        if with_skipping and lakehouse.joinpath(*SKIP_TABLE).exists():
            run.skipping = measure_skipping(lakehouse, self.work)
            if self.args.zorder_experiments:
                run.skipping["experiments"] = zorder_experiments(lakehouse, self.work)
        self.runs.append(run)
        self.save()

    # scenarios ---------------------------------------------------------------------------

    def scenario_s(self) -> None:
        lake = self.lakehouse("S")
        run = self.run_pipeline("S", Path(self.args.s_dir), lake)
        self.record(run, True, lake)

    def scenario_size(self, name: str) -> None:
        source, seconds, _ = self.generate(self.size(name))
        lake = self.lakehouse(name)
        run = self.run_pipeline(name, source, lake)
        run.generate_seconds = seconds
        self.record(run, True, lake)

    def scenario_incremental(self) -> None:
        base = self.size(self.args.size)
        source, seconds, manifest = self.generate(base)
        base_lake = self.work / "lake" / base.name
        built = any(r.scenario == base.name for r in self.runs) or (
            base_lake.joinpath(*SKIP_TABLE).exists() and self.args.reuse_lake
        )
        if not built:
            base_lake = self.lakehouse(base.name)
            run = self.run_pipeline(f"{base.name} (base of incremental)", source, base_lake)
            run.generate_seconds = seconds
            self.record(run, False, base_lake)
        day = base.next_day(manifest["counts"]["order_items"]["rows"])
        day_source, day_seconds, _ = self.generate(day)
        same = (day_source / "products.csv").read_bytes() == (source / "products.csv").read_bytes()
        if not same:
            print("warning: the extra day's products.csv differs from the base's", flush=True)
        lake = self.lakehouse(f"{base.name}+1day")
        shutil.copytree(base_lake, lake)
        run = self.run_pipeline(f"incremental: {base.name} + 1 day", day_source, lake)
        run.generate_seconds = day_seconds
        self.record(run, False, lake)
        empty = self.lakehouse("1day")
        run = self.run_pipeline("1 day into an empty lake", day_source, empty)
        self.record(run, False, empty)
        self.extra["incremental"] = {
            "base": base.name,
            "day": day.start.isoformat(),
            "orders": day.orders,
            "products_file_unchanged": same,
        }

    def run(self, scenarios: Sequence[str]) -> None:
        for scenario in scenarios:
            if scenario == "S":
                self.scenario_s()
            elif scenario in SIZES:
                self.scenario_size(scenario)
            else:
                self.scenario_incremental()

    # output ------------------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        return {
            "machine": machine(),
            "validate": self.args.validate,
            "sizes": {k: asdict(self.size(k)) for k in SIZES},
            "runs": [asdict(r) for r in self.runs],
            **self.extra,
        }

    def save(self) -> None:
        if self.args.json:
            path = Path(self.args.json)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.document(), indent=2, default=str) + "\n")

    def cleanup(self) -> None:
        if not self.args.keep:
            for name in ("lake", "data", "skipping"):
                shutil.rmtree(self.work / name, ignore_errors=True)


def load_average() -> list[float]:
    return [float(x) for x in _read("/proc/loadavg").split()[:3]]


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def machine() -> dict[str, Any]:
    cpu = ""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = 0
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            memory = int(line.split()[1]) * 1024
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    try:
        import deltalake
        import pyspark

        versions = {"pyspark": pyspark.__version__, "deltalake": deltalake.__version__}
    except ImportError:
        versions = {}
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "java": java.splitlines()[0] if java else "",
        **versions,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def format_table(runs: Sequence[Run]) -> str:
    header = (
        "scenario",
        "source rows",
        "bronze s",
        "silver s",
        "gold s",
        "jobs s",
        "wall s",
        "rows/s",
        "peak RSS",
        "JVM",
        "driver",
        "parquet files",
        "skip before",
        "skip after",
    )
    rows = [header]
    for r in runs:
        jobs_seconds = sum(layer["seconds"] for layer in r.layers.values())
        skip = r.skipping or {}
        rows.append(
            (
                r.scenario,
                f"{r.source_rows:,}",
                *(f"{r.layers[x]['seconds']:.1f}" for x in LAYERS),
                f"{jobs_seconds:.1f}",
                f"{r.wall_seconds:.1f}",
                f"{r.source_rows / jobs_seconds:,.0f}" if jobs_seconds else "-",
                gib(r.peak_rss_bytes),
                gib(r.peak_jvm_bytes),
                gib(r.peak_driver_bytes),
                _files_cell(r),
                _skip_cell(skip.get("before")),
                _skip_cell(skip.get("after")),
            )
        )
    from etl.summary import format_table as text_table

    return text_table(rows)


def _files_cell(run: Run) -> str:
    total, added = run.files.get("total", 0), run.files_added.get("total", 0)
    return f"{total:,}" if total == added else f"{total:,} (+{added:,})"


def _skip_cell(measured: dict[str, Any] | None) -> str:
    if not measured or not measured.get("files"):
        return "-"
    return f"{measured['fraction']:.0%} of {measured['files']}"


def format_details(runs: Sequence[Run]) -> str:
    """Per job: seconds and the peak RSS of the process tree while it ran; then rows/s per
    layer, Parquet files per table and the Z-order experiments."""
    header = ("job", *(r.scenario for r in runs))
    rows = [header]
    for job in dict.fromkeys(j["job"] for r in runs for j in r.jobs):
        cells = []
        for r in runs:
            found = next((j for j in r.jobs if j["job"] == job), None)
            cells.append(
                f"{found['seconds']:.1f} s, {gib(found.get('peak_rss_bytes', 0))}" if found else "-"
            )
        rows.append((job, *cells))
    rows.append(
        (
            "rows/s b/s/g",
            *(" / ".join(f"{r.layers[x]['rows_per_second']:,}" for x in LAYERS) for r in runs),
        )
    )
    from etl.summary import format_table as text_table

    lines = text_table(rows).splitlines()
    for r in runs:
        tables = {k: v for k, v in r.files.items() if k != "total" and v}
        lines.append(
            f"{r.scenario}: parquet files " + ", ".join(f"{k} {v}" for k, v in tables.items())
        )
        for e in (r.skipping or {}).get("experiments", []):
            target = (
                f"{e['target_size_bytes'] / MIB:g} MiB" if e["target_size_bytes"] else "default"
            )
            layout = "by order_date" if e["partitioned_by_order_date"] else "unpartitioned"
            lines.append(
                f"  z-order {','.join(e['zorder_by'])} {layout}, target {target}: "
                f"{e['files']} files of {e['mean_file_mb']} MB, skipped {e['fraction']:.0%}"
                f" (mean over ids {e['mean_over_values']:.0%})"
            )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--scenarios",
        default="S,M,L,incremental",
        help="comma-separated, from S, M, L, incremental (default: all)",
    )
    parser.add_argument(
        "--work-dir",
        default=str(DEFAULT_WORK_DIR),
        help="generated data, lakehouses and logs (default: build/benchmark)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep generated data and lakehouses after the run"
    )
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument(
        "--validate",
        action="store_true",
        help="run the Great Expectations validation too (default: --no-validate)",
    )
    parser.add_argument(
        "--size",
        choices=tuple(SIZES),
        default="L",
        help="the lake the incremental scenario starts from (default: L)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply the orders of M and L by this (default 1; a smoke test uses 0.001)",
    )
    parser.add_argument(
        "--reuse-lake",
        action="store_true",
        help="incremental: start from the base size's lakehouse left by an earlier --keep run",
    )
    parser.add_argument(
        "--s-dir", default=str(REFERENCE_DATA), help="source files of S (the real April files)"
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const=True,
        default=None,
        help="profile each run's driver with pyinstrument (uv run --with pyinstrument ...)",
    )
    parser.add_argument(
        "--zorder-experiments",
        action="store_true",
        help="also measure skipping under other target file sizes, Z-order columns and "
        "without the order_date partitioning (on copies of silver order_items)",
    )
    # The child process's own arguments.
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--source-dir", help=argparse.SUPPRESS)
    parser.add_argument("--lakehouse-dir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        print(f"benchmark: unknown scenario(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    bench = Bench(args)
    try:
        bench.run(scenarios)
    finally:
        bench.save()
        if bench.runs:
            print()
            print(format_table(bench.runs))
            print()
            print(format_details(bench.runs))
        bench.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
