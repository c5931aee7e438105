"""Benchmark the local pipeline against the goals of docs/benchmark.md, in one invocation.

Scenarios (``--scenarios``, comma-separated; they always run in this order):

* ``startup``: a process that only starts the laptop Spark session, per backend in use;
* ``S``: the real April 2025 files (``../shared/reference-data/apr_2025``, or
  ``ETL_REFERENCE_DATA``), delta-rs, once with validation and once without, each into an empty
  lake; the per-job, per-stage profile comes from these runs;
* ``S-spark``: the same on the delta-spark backend;
* ``reference``: the same gold figures from the same files with pandas and python-calamine
  alone, in a fresh process, checked against S's gold tables; the ratio of S's wall to it;
* ``unchanged``: S's files again over S's validated lake (per backend run): every job must say
  "nothing new" and no table version may change; its wall beyond Spark's start-up;
* ``M``: generated, 180,000 orders over 30 days (about 1M items), delta-rs;
* ``M-spark``: M on delta-spark;
* ``L``: generated, 1,820,000 orders over 30 days (about 10M items), delta-rs;
* ``incremental``: a lake holding L (or ``--size M``) receives one more day with the same
  per-day volume; the same day is also loaded into an empty lake; the ratio of the two walls.

Each pipeline run is ``python -m etl.pipeline``'s ``main`` in a fresh Python process (its own
Spark JVM, when it needs one), while this process samples the resident memory of the whole
process tree (the Python driver, the Spark JVM, PySpark's Python workers) every 0.2 s from
``/proc``, the JVM and the rest separately. The child reports every job's ``JobResult`` (status,
rows, seconds of each stage) and the seconds of what lies around the jobs (interpreter and
imports, Spark's start, the preflight, audit records, Data Docs, the accounting).

For silver ``order_items`` the report also gives the share of data files that Delta statistics
let a point query on one ``product_id`` skip, before and after ``OPTIMIZE ZORDER BY`` (with the
target file size ``etl.maintenance`` chooses) on a copy of the table.

The report is Markdown (for docs/benchmark.md); ``--json`` writes every figure. The exit code
is 1 when a check failed (a run with nothing new that wrote, a reference that disagrees with
gold), 2 for an unknown scenario, 0 otherwise.

Usage::

    uv run python scripts/benchmark.py --json build/benchmark/result.json \\
        --report build/benchmark/report.md
    uv run python scripts/benchmark.py --scenarios startup,S,reference,unchanged
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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

REPO = Path(__file__).resolve().parents[1]
GENERATOR = REPO / "scripts" / "generate_sample_data.py"
REFERENCE_DATA = Path(
    os.environ.get("ETL_REFERENCE_DATA") or REPO.parent / "shared" / "reference-data" / "apr_2025"
)
DEFAULT_WORK_DIR = REPO / "build" / "benchmark"
LAYERS = ("bronze", "silver", "gold")
STAGES = ("read", "transform", "check", "write")
SCENARIOS = (
    "startup",
    "S",
    "S-spark",
    "reference",
    "unchanged",
    "M",
    "M-spark",
    "L",
    "incremental",
)
RS, SPARK = "delta-rs", "delta-spark"
SAMPLE_SECONDS = 0.2
FIRST_ORDER_ID = 10_000  # the generator's default first order id
SKIP_TABLE = ("silver", "order_items")
SKIP_COLUMN = "product_id"
GIB = 2**30
MIB = 2**20

# The goals of issue 12 (docs/benchmark.md): (key, what, target, unit).
GOAL_S_WALL = 15.0  # seconds, real files, full pipeline with validation, delta-rs
GOAL_REFERENCE_RATIO = 10.0  # pipeline wall / reference wall
GOAL_UNCHANGED_BEYOND_STARTUP = 2.0  # seconds beyond Spark's start-up
GOAL_L_PEAK = 8 * GIB
GOAL_L_WALL = 6 * 60.0
GOAL_INCREMENTAL_RATIO = 1.5


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


def pss_bytes(pid: int) -> int:
    """The process's proportional share of its resident pages: a page shared by n processes
    (a forked Python worker and its parent) counts 1/n in each."""
    for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class MemorySampler:
    """Samples the RSS of a process tree every `interval` seconds on a background thread.

    `peak` is the largest simultaneous total; `peak_jvm` and `peak_python` are the largest
    totals of the `java` processes and of the rest (Python and the native code it runs, such
    as delta-rs), each at its own moment. A sum of RSS counts pages that processes share (a
    forked PySpark worker and its daemon) once per process; `peak_pss` is the largest
    simultaneous sum of proportional set sizes, which counts them once.
    """

    pid: int
    interval: float = SAMPLE_SECONDS
    peak: int = 0
    peak_jvm: int = 0
    peak_python: int = 0
    peak_pss: int = 0
    samples: int = 0
    timeline: list[tuple[float, int, int]] = field(default_factory=list)  # (epoch, total, jvm)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        jvm = other = pss = 0
        for pid in process_tree(self.pid):
            rss = rss_bytes(pid)
            pss += pss_bytes(pid)
            if _read(f"/proc/{pid}/comm").strip() == "java":
                jvm += rss
            else:
                other += rss
        self.peak = max(self.peak, jvm + other)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_jvm = max(self.peak_jvm, jvm)
        self.peak_python = max(self.peak_python, other)
        self.samples += 1
        self.timeline.append((time.time(), jvm + other, jvm))

    def peak_between(self, start: float, end: float) -> int:
        """The largest total sampled between `start` and `end` (epoch seconds); for a window
        shorter than the interval, the sample nearest to its middle."""
        inside = [t[1] for t in self.timeline if start <= t[0] <= end]
        if inside or not self.timeline:
            return max(inside, default=0)
        middle = (start + end) / 2
        return min(self.timeline, key=lambda t: abs(t[0] - middle))[1]

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
# The reference: the gold figures from the source files with pandas and python-calamine alone
# --------------------------------------------------------------------------------------------

DATASETS = ("products", "orders", "order_items")


def _names(text: str) -> list[str]:
    return text.split()


ITEM_COLUMNS = _names(
    "id order_id user_id days_since_prior_order product_id add_to_cart_order reordered"
)
TIMESTAMP_LOW = "2000-01-01 00:00:00"
TIMESTAMP_HIGH = "2099-12-31 23:59:59"
BIG_SPEND_CENTS = 400 * 100  # etl.gold.customer_insights_etl.BIG_SPEND
# The columns of each gold table, in order (etl/gold/*_etl.py).
GOLD_COLUMNS = {
    "daily_sales": _names(
        "order_date total_orders total_revenue avg_order_value unique_customers "
        "total_items items_per_order reorder_rate"
    ),
    "product_performance": _names(
        "product_id product_name department units_sold order_count "
        "unique_customers reorder_rate avg_add_to_cart_order first_order_date last_order_date"
    ),
    "department_analytics": _names(
        "department units_sold order_count unique_customers reorder_rate "
        "products_sold share_of_units"
    ),
    "customer_insights": _names(
        "user_id total_orders total_spend avg_order_value first_order_at "
        "last_order_at total_items reorder_rate avg_days_since_prior_order favourite_department "
        "segment"
    ),
}
GOLD_KEYS = {
    "daily_sales": "order_date",
    "product_performance": "product_id",
    "department_analytics": "department",
    "customer_insights": "user_id",
}


def dataset_of(path: Path) -> str | None:
    """The dataset of a source file: its name prefix (`order_items` before `orders`) or its
    folder, as etl.sources names them."""
    stem = path.name.lower()
    for dataset in sorted(DATASETS, key=len, reverse=True):
        if stem.startswith(dataset) and not stem[len(dataset) : len(dataset) + 1].isalpha():
            return dataset
    return path.parent.name if path.parent.name in DATASETS else None


def source_files(source_dir: Path) -> dict[str, list[Path]]:
    """The CSV and Excel files of each dataset under `source_dir`, sorted by name."""
    found: dict[str, list[Path]] = {d: [] for d in DATASETS}
    for path in sorted(source_dir.rglob("*")):
        if path.suffix.lower() not in (".csv", ".xlsx") or path.name.startswith((".", "~$")):
            continue
        dataset = dataset_of(path)
        if dataset is not None:
            found[dataset].append(path)
    return found


def read_dataset(files: Sequence[Path]) -> pd.DataFrame:
    """Every row of a dataset's files (a workbook's every worksheet), with file, sheet and the
    spreadsheet row number (the header is row 1)."""
    import numpy as np
    import pandas as pd

    frames = []
    for path in files:
        if path.suffix.lower() == ".csv":
            sheets = {"": pd.read_csv(path, dtype=str, keep_default_na=False)}
        else:
            sheets = pd.read_excel(path, sheet_name=None, engine="calamine")
        for sheet, frame in sheets.items():
            frames.append(
                frame.assign(_file=path.name, _sheet=sheet, _row=np.arange(2, len(frame) + 2))
            )
    return pd.concat(frames, ignore_index=True)


def _text(values: pd.Series) -> pd.Series:
    """Cell values as trimmed text; an empty cell is ''."""
    return values.astype("string").fillna("").str.strip()


def _absent(values: pd.Series) -> pd.Series:
    return values.isna() | (_text(values) == "")


def _whole(values: pd.Series) -> pd.Series:
    """Whole numbers as floats; NaN when empty, not a number or not whole."""
    import numpy as np
    import pandas as pd

    number = pd.to_numeric(values, errors="coerce")
    return number.where(np.floor(number) == number)


def _timestamps(values: pd.Series) -> pd.Series:
    """ISO-8601 text as UTC timestamps (no offset: UTC); NaT when unparseable or out of range."""
    import pandas as pd

    parsed = pd.to_datetime(_text(values), format="ISO8601", utc=True, errors="coerce")
    low, high = pd.Timestamp(TIMESTAMP_LOW, tz="UTC"), pd.Timestamp(TIMESTAMP_HIGH, tz="UTC")
    return parsed.where((parsed >= low) & (parsed <= high))


def _date_agrees(frame: pd.DataFrame) -> pd.Series:
    """The optional `date` column is empty, or a date equal to the date written at the start
    of order_timestamp (its local date)."""
    import pandas as pd

    text = _text(frame["date"])
    date = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
    local = pd.to_datetime(
        _text(frame["order_timestamp"]).str[:10], format="%Y-%m-%d", errors="coerce"
    )
    return (text == "") | (date.notna() & (date == local))


def _latest(frame: pd.DataFrame, key: str, by: Sequence[str] = ()) -> pd.DataFrame:
    """One row per key: the latest by `by`, then the later file, sheet and row."""
    ordered = frame.sort_values([*by, "_file", "_sheet", "_row"], kind="stable")
    return ordered.drop_duplicates(key, keep="last")


def clean_sources(raw: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Typed, valid, deduplicated rows of each dataset: the contracts' error rules (the
    warnings keep their rows), parents that exist, the latest row per key."""
    import numpy as np
    import pandas as pd

    p = raw["products"]
    products = p.assign(
        product_id=_whole(p["product_id"]),
        department_id=_whole(p["department_id"]),
        department=_text(p["department"]),
        product_name=_text(p["product_name"]),
    )
    products = products[
        products.product_id.notna()
        & products.department_id.notna()
        & (products.department != "")
        & (products.product_name != "")
    ]
    products = _latest(products, "product_id")[["product_id", "department", "product_name"]]
    products = products.astype(
        {"product_id": "int64", "department": object, "product_name": object}
    )

    o = raw["orders"]
    orders = o.assign(
        order_id=_whole(o["order_id"]),
        user_id=_whole(o["user_id"]),
        order_num=_whole(o["order_num"]),
        ts=_timestamps(o["order_timestamp"]),
        amount=pd.to_numeric(o["total_amount"], errors="coerce"),
    )
    orders = orders[
        orders.order_id.notna()
        & orders.user_id.notna()
        & orders.ts.notna()
        & orders.amount.notna()
        & (orders.amount >= 0)
        & (_absent(o["order_num"]) | orders.order_num.notna())
        & _date_agrees(o)
    ]
    orders = _latest(orders, "order_id", ["ts"])
    orders = orders.assign(
        cents=np.round(orders.amount.to_numpy() * 100).astype(np.int64),
        day=orders.ts.dt.floor("D"),
    )[["order_id", "user_id", "ts", "cents", "day"]]
    orders = orders.astype({"order_id": "int64", "user_id": "int64"})

    i = raw["order_items"]
    days_since = _whole(i["days_since_prior_order"])
    items = i.assign(
        id=_whole(i["id"]),
        order_id=_whole(i["order_id"]),
        user_id=_whole(i["user_id"]),
        product_id=_whole(i["product_id"]),
        add_to_cart_order=_whole(i["add_to_cart_order"]),
        reordered=_whole(i["reordered"]),
        days_since_prior_order=days_since,
        ts=_timestamps(i["order_timestamp"]),
    )
    absent_days = _absent(i["days_since_prior_order"])
    items = items[
        items.id.notna()
        & items.order_id.notna()
        & items.user_id.notna()
        & items.product_id.notna()
        & items.add_to_cart_order.notna()
        & (items.add_to_cart_order >= 1)
        & items.reordered.isin((0, 1))
        & items.ts.notna()
        & (absent_days | days_since.between(0, 365))
        & _date_agrees(i)
    ]
    parents = orders.set_index("order_id")["user_id"]
    owner = items.order_id.map(parents)
    items = items[(owner == items.user_id) & items.product_id.isin(products.product_id)]
    items = _latest(items, "id", ["ts"])[ITEM_COLUMNS]
    whole = ("id", "order_id", "user_id", "product_id", "add_to_cart_order", "reordered")
    items = items.astype(dict.fromkeys(whole, "int64"))
    return {"products": products, "orders": orders, "order_items": items}


def _money(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def _average_money(cents: pd.Series, count: pd.Series) -> list[Decimal]:
    """cents / count rounded half up to the cent (amounts are never negative)."""
    return [
        _money((2 * int(c) + int(n)) // (2 * int(n))) for c, n in zip(cents, count, strict=True)
    ]


def _daily_sales(orders: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    daily = orders.groupby("day").agg(
        total_orders=("order_id", "size"),
        cents=("cents", "sum"),
        unique_customers=("user_id", "nunique"),
    )
    daily = daily.join(
        lines.groupby("day").agg(total_items=("id", "size"), reorder_rate=("reordered", "mean"))
    ).reset_index()
    _counts(daily, "total_items")
    return daily.assign(
        order_date=daily.day.dt.date,
        total_revenue=[_money(c) for c in daily.cents],
        avg_order_value=_average_money(daily.cents, daily.total_orders),
        items_per_order=daily.total_items / daily.total_orders,
    )[GOLD_COLUMNS["daily_sales"]]


def _counts(frame: pd.DataFrame, *columns: str) -> None:
    """Counts of keys that had no rows are 0, not NaN, and whole numbers."""
    for column in columns:
        frame[column] = frame[column].fillna(0).astype("int64")


def _product_performance(products: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    sold = lines.groupby("product_id").agg(
        units_sold=("id", "size"),
        order_count=("order_id", "nunique"),
        unique_customers=("user_id", "nunique"),
        reorder_rate=("reordered", "mean"),
        avg_add_to_cart_order=("add_to_cart_order", "mean"),
        first_order_date=("day", "min"),
        last_order_date=("day", "max"),
    )
    performance = products.set_index("product_id")[["product_name", "department"]].join(sold)
    _counts(performance, "units_sold", "order_count", "unique_customers")
    for column in ("first_order_date", "last_order_date"):  # no sales: null, not NaT
        dates = performance[column]
        performance[column] = dates.dt.date.astype(object).where(dates.notna(), None)
    return performance.reset_index()[GOLD_COLUMNS["product_performance"]]


def _department_analytics(products: pd.DataFrame, with_department: pd.DataFrame) -> pd.DataFrame:
    sales = with_department.groupby("department").agg(
        units_sold=("id", "size"),
        order_count=("order_id", "nunique"),
        unique_customers=("user_id", "nunique"),
        reorder_rate=("reordered", "mean"),
        products_sold=("product_id", "nunique"),
    )
    departments = sales.reindex(sorted(products.department.unique()))
    _counts(departments, "units_sold", "order_count", "unique_customers", "products_sold")
    total = int(departments.units_sold.sum())
    departments["share_of_units"] = departments.units_sold / total if total else float("nan")
    frame = departments.rename_axis("department").reset_index()
    return frame[GOLD_COLUMNS["department_analytics"]]


def _segment(orders: int, cents: int) -> str:
    """etl.gold.customer_insights_etl.segment."""
    if orders >= 3:
        return "champion"
    if orders == 2:
        return "loyal"
    return "big_spender" if cents >= BIG_SPEND_CENTS else "new"


def _customer_insights(
    orders: pd.DataFrame, items: pd.DataFrame, with_department: pd.DataFrame
) -> pd.DataFrame:
    per_user = orders.groupby("user_id").agg(
        total_orders=("order_id", "size"),
        cents=("cents", "sum"),
        first_order_at=("ts", "min"),
        last_order_at=("ts", "max"),
    )
    per_user = per_user.join(
        items.groupby("user_id").agg(
            total_items=("id", "size"),
            reorder_rate=("reordered", "mean"),
            avg_days_since_prior_order=("days_since_prior_order", "mean"),
        )
    )
    units = with_department.groupby(["user_id", "department"]).size().reset_index(name="units")
    per_user["favourite_department"] = (
        units.sort_values(["user_id", "units", "department"], ascending=[True, False, True])
        .drop_duplicates("user_id")
        .set_index("user_id")["department"]
    )
    _counts(per_user, "total_items")
    per_user["total_spend"] = [_money(c) for c in per_user.cents]
    per_user["avg_order_value"] = _average_money(per_user.cents, per_user.total_orders)
    per_user["segment"] = [
        _segment(n, c) for n, c in zip(per_user.total_orders, per_user.cents, strict=True)
    ]
    return per_user.reset_index()[GOLD_COLUMNS["customer_insights"]]


def reference_gold(clean: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The four gold tables of etl/gold/, computed from clean rows with pandas, each sorted by
    its key."""
    orders, items, products = clean["orders"], clean["order_items"], clean["products"]
    lines = items.merge(orders[["order_id", "day"]], on="order_id")  # dated by their order
    with_department = items.merge(products[["product_id", "department"]], on="product_id")
    tables = {
        "daily_sales": _daily_sales(orders, lines),
        "product_performance": _product_performance(products, lines),
        "department_analytics": _department_analytics(products, with_department),
        "customer_insights": _customer_insights(orders, items, with_department),
    }
    return {
        name: frame.sort_values(GOLD_KEYS[name]).reset_index(drop=True)
        for name, frame in tables.items()
    }


def compare_frames(expected: pd.DataFrame, actual: pd.DataFrame, key: str) -> list[str]:
    """What differs between two versions of a table (empty when they agree): columns, keys,
    then values; floats to a relative 1e-9, timestamps to the microsecond, dates and
    decimals exactly."""
    import numpy as np
    import pandas as pd

    problems = []
    missing = [c for c in expected.columns if c not in actual.columns]
    if missing:
        problems.append(f"missing columns {', '.join(missing)}")
    expected = expected.sort_values(key).reset_index(drop=True)
    actual = actual.sort_values(key).reset_index(drop=True)
    if len(expected) != len(actual) or list(map(str, expected[key])) != list(map(str, actual[key])):
        extra = set(map(str, actual[key])) - set(map(str, expected[key]))
        absent = set(map(str, expected[key])) - set(map(str, actual[key]))
        problems.append(
            f"{len(expected)} rows expected, {len(actual)} found "
            f"({len(absent)} keys missing, {len(extra)} unexpected)"
        )
        return problems
    for column in expected.columns:
        if column in missing:
            continue
        left, right = expected[column], actual[column]
        if pd.api.types.is_datetime64_any_dtype(left) or pd.api.types.is_datetime64_any_dtype(
            right
        ):
            a = pd.to_datetime(left, utc=True).dt.floor("us")
            b = pd.to_datetime(right, utc=True).dt.floor("us")
            same = (a == b) | (a.isna() & b.isna())
        elif pd.api.types.is_float_dtype(left) or pd.api.types.is_float_dtype(right):
            a = pd.to_numeric(left, errors="coerce").to_numpy(dtype=float)
            b = pd.to_numeric(right, errors="coerce").to_numpy(dtype=float)
            same = pd.Series(np.isclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True))
        else:
            a_text = [None if _missing(v) else str(_plain(v)) for v in left]
            b_text = [None if _missing(v) else str(_plain(v)) for v in right]
            same = pd.Series([x == y for x, y in zip(a_text, b_text, strict=True)])
        if not same.all():
            first = int(np.flatnonzero(~same.to_numpy())[0])
            problems.append(
                f"{column}: {int((~same).sum())} rows differ, e.g. {key}={expected[key][first]}: "
                f"{left[first]!r} expected, {right[first]!r} found"
            )
    return problems


def _missing(value: object) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, (list, dict)) and bool(pd.isna(value)))


def _plain(value: object) -> object:
    """Decimals without trailing zeros' effect, numpy numbers as Python numbers."""
    if isinstance(value, Decimal):
        return value.normalize()
    if hasattr(value, "item"):
        return value.item()
    return value


def read_gold(lakehouse: Path) -> dict[str, pd.DataFrame]:
    """The four gold tables of a lakehouse, with delta-rs (whichever backend wrote them)."""
    from deltalake import DeltaTable

    return {name: DeltaTable(str(lakehouse / "gold" / name)).to_pandas() for name in GOLD_KEYS}


def check_reference(reference: Mapping[str, pd.DataFrame], lakehouse: Path) -> dict[str, Any]:
    """The reference's tables against the pipeline's gold tables of the same files."""
    gold = read_gold(lakehouse)
    problems = {
        name: compare_frames(reference[name], gold[name], key) for name, key in GOLD_KEYS.items()
    }
    return {
        "lakehouse": str(lakehouse),
        "rows": {name: len(frame) for name, frame in reference.items()},
        "matches": not any(problems.values()),
        "problems": {k: v for k, v in problems.items() if v},
    }


# --------------------------------------------------------------------------------------------
# The child processes: one pipeline run, one Spark start, one reference computation
# --------------------------------------------------------------------------------------------


class Phases:
    """Seconds spent in named calls, summed over calls (for what lies around the jobs)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.windows: dict[str, list[tuple[float, float]]] = {}

    def add(self, name: str, start: float, end: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + end - start, 3)
        self.calls[name] = self.calls.get(name, 0) + 1
        self.windows.setdefault(name, []).append((start, end))

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        """Time every call of `owner.attribute` under `name` (left alone when absent)."""
        original = getattr(owner, attribute, None)
        if original is None:
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.time()
            try:
                return original(*args, **kwargs)
            finally:
                self.add(name, start, time.time())

        setattr(owner, attribute, timed)


def child_pipeline(args: argparse.Namespace, launched: float) -> int:
    """`python -m etl.pipeline` over the given folders; what each job did, its stages, and the
    seconds of what lies around the jobs, to `args.result` as JSON."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    started = time.time()
    import etl.audit
    import etl.cli
    import etl.pipeline

    imported = time.time()
    phases = Phases()
    phases.wrap(etl.cli, "get_spark", "spark start")
    phases.wrap(etl.cli, "preflight", "preflight")
    phases.wrap(etl.cli, "clear_staging", "clear staging")
    phases.wrap(etl.audit, "repair", "repair check")
    phases.wrap(etl.cli, "publish_data_docs", "data docs")
    phases.wrap(etl.pipeline, "balances", "accounting")
    windows: list[dict[str, Any]] = []
    run_job = etl.cli.run_job

    def timed_job(job: Any, ctx: Any, record: Any, *rest: Any) -> Any:
        window: dict[str, Any] = {"job": job.spec.name, "start": time.time()}

        def timed_record(*a: Any) -> Any:
            began = time.time()
            try:
                return record(*a)
            finally:
                phases.add("audit record", began, time.time())
                window["record"] = round(time.time() - began, 3)

        try:
            return run_job(job, ctx, timed_record, *rest)
        finally:
            window["end"] = time.time()
            windows.append(window)

    etl.cli.run_job = timed_job  # type: ignore[assignment]
    results: list[Any] = []
    run_pipeline = etl.pipeline.run_pipeline

    def capturing(ctx: Any, selector: str = "all") -> Any:
        found = run_pipeline(ctx, selector)
        results.extend(found)
        return found

    etl.pipeline.run_pipeline = capturing  # type: ignore[assignment]
    profiler = None
    if args.profile:
        from pyinstrument import Profiler  # uv run --with pyinstrument ...

        profiler = Profiler(interval=0.01)
        profiler.start()
    argv = [
        "--source-dir",
        args.source_dir,
        "--lakehouse-dir",
        args.lakehouse_dir,
        "--backend",
        args.backend,
        "--validate",
        "true" if args.validate else "false",
    ]
    command_started = time.time()
    code = etl.pipeline.main(argv)
    command_ended = time.time()
    if profiler is not None:
        profiler.stop()
        Path(args.profile).write_text(profiler.output_text(unicode=True, show_all=False))
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()
    stopped = time.time()
    document = {
        "exit_code": code,
        "interpreter_seconds": round(started - launched, 3) if launched else None,
        "import_seconds": round(imported - started, 3),
        "command_seconds": round(command_ended - command_started, 3),
        "stop_seconds": round(stopped - command_ended, 3),
        "command_window": [command_started, command_ended],
        "phases": phases.seconds,
        "phase_calls": phases.calls,
        "spark_windows": phases.windows.get("spark start", []),
        "phase_windows": {k: v for k, v in phases.windows.items() if k != "spark start"},
        "windows": windows,
        "jobs": [asdict(r) for r in results],
    }
    Path(args.result).write_text(json.dumps(document, indent=2, default=str) + "\n")
    return 0


def child_spark(args: argparse.Namespace, launched: float) -> int:
    """Only start the laptop Spark session of a backend (and stop it)."""
    started = time.time()
    from etl.spark import get_spark

    imported = time.time()
    spark = get_spark("etl", args.backend)
    ready = time.time()
    spark.stop()
    stopped = time.time()
    document = {
        "interpreter_seconds": round(started - launched, 3) if launched else None,
        "import_seconds": round(imported - started, 3),
        "session_seconds": round(ready - imported, 3),
        "stop_seconds": round(stopped - ready, 3),
    }
    Path(args.result).write_text(json.dumps(document, indent=2) + "\n")
    return 0


def child_reference(args: argparse.Namespace, launched: float) -> int:
    """The reference computation; its tables to Parquet files in `args.out`."""
    started = time.time()
    import pandas  # noqa: F401  (imports are part of the reference's cost, timed apart)
    import python_calamine  # noqa: F401

    imported = time.time()
    files = source_files(Path(args.source_dir))
    raw = {dataset: read_dataset(paths) for dataset, paths in files.items()}
    read = time.time()
    tables = reference_gold(clean_sources(raw))
    computed = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
    written = time.time()
    document = {
        "interpreter_seconds": round(started - launched, 3) if launched else None,
        "import_seconds": round(imported - started, 3),
        "read_seconds": round(read - imported, 3),
        "compute_seconds": round(computed - read, 3),
        "write_seconds": round(written - computed, 3),
        "source_rows": {d: len(frame) for d, frame in raw.items()},
        "rows": {name: len(frame) for name, frame in tables.items()},
    }
    Path(args.result).write_text(json.dumps(document, indent=2) + "\n")
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


def layer_totals(jobs: Sequence[Mapping[str, Any]]) -> dict[str, Layer]:
    """Per layer: the sum of its jobs' seconds and of the rows they read (retries included)."""
    totals = {layer: Layer(0.0, 0) for layer in LAYERS}
    for job in jobs:
        layer = totals[job["job"].split(".")[0]]
        layer.seconds = round(layer.seconds + job["seconds"], 2)
        layer.rows += job["rows_read"] + job["retried"]
    return totals


def delta_tables(lakehouse: Path) -> list[Path]:
    return sorted(p.parent for p in lakehouse.rglob("_delta_log") if p.is_dir())


def table_versions(lakehouse: Path) -> dict[str, int]:
    """Every Delta table under the lakehouse (`layer/name`) and its latest version, from the
    commit files in its log (whichever backend wrote it)."""
    versions = {}
    for table in delta_tables(lakehouse):
        commits = [
            int(p.name.split(".")[0])
            for p in (table / "_delta_log").iterdir()
            if p.name.endswith(".json") and p.name.split(".")[0].isdigit()
        ]
        versions[table.relative_to(lakehouse).as_posix()] = max(commits, default=-1)
    return versions


def changed_versions(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, list[int]]:
    """Tables whose version moved (or that appeared or vanished): table → [before, after],
    -1 standing for no table."""
    return {
        t: [before.get(t, -1), after.get(t, -1)]
        for t in sorted(set(before) | set(after))
        if before.get(t, -1) != after.get(t, -1)
    }


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
    OPTIMIZE ZORDER BY the job's Z-order columns on a copy (the lakehouse stays untouched)."""
    from etl.maintenance import maintained_tables, zorder_file_bytes
    from etl.storage import Commit, get_table_store

    source = lakehouse.joinpath(*SKIP_TABLE)
    copy = scratch / "skipping" / SKIP_TABLE[1]
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(source, copy)
    layout = {
        table: (zorder, partition_by) for table, _, zorder, partition_by in maintained_tables()
    }
    zorder, partition_by = layout["/".join(SKIP_TABLE)]
    before = skipping(copy)

    def no_spark() -> Any:
        raise RuntimeError("the benchmark's OPTIMIZE must not need Spark")

    store = get_table_store(no_spark, "delta-rs")
    started = time.perf_counter()
    partitions = len({p.name for p in copy.iterdir() if "=" in p.name}) if partition_by else 1
    target = zorder_file_bytes(store.size_bytes(str(copy)), partitions or 1)  # etl.maintenance's
    metrics = store.optimize(str(copy), Commit("benchmark", "run"), zorder, target)
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
# Runs
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured pipeline run.

    kind: `full` (into an empty lake), `nothing new` (the same files again), `incremental`
    (one more day on a filled lake), `day alone` (that day into an empty lake) or `base` (the
    filled lake the incremental day goes to).
    """

    name: str
    scenario: str
    backend: str
    validate: bool
    source_dir: str
    kind: str = "full"
    lakehouse: str = ""
    source_rows: int = 0
    generate_seconds: float | None = None
    wall_seconds: float = 0.0
    interpreter_seconds: float | None = None
    import_seconds: float = 0.0
    command_seconds: float = 0.0
    stop_seconds: float = 0.0
    spark_start_seconds: float | None = None  # None: this run started no Spark
    spark_started_in: str = ""  # the job and stage that started Spark
    phases: dict[str, float] = field(default_factory=dict)
    layers: dict[str, dict[str, float]] = field(default_factory=dict)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    peak_rss_bytes: int = 0
    peak_jvm_bytes: int = 0
    peak_python_bytes: int = 0
    peak_pss_bytes: int = 0
    memory_samples: int = 0
    files: dict[str, int] = field(default_factory=dict)
    files_added: dict[str, int] = field(default_factory=dict)  # by this run
    versions_before: dict[str, int] = field(default_factory=dict)
    versions_after: dict[str, int] = field(default_factory=dict)
    skipping: dict[str, Any] | None = None
    exit_code: int = 0
    log: str = ""
    # /proc/loadavg (1, 5, 15 minutes) when the run started and ended: other work on the
    # machine shows up here (a run alone keeps the 1-minute figure near 2 on two cores).
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    started_at: str = ""

    @property
    def jobs_seconds(self) -> float:
        return round(sum(j["seconds"] for j in self.jobs), 2)

    @property
    def statuses(self) -> dict[str, str]:
        return {j["job"]: j.get("status", "ok") for j in self.jobs}


@dataclass
class ProcessMeasure:
    """A child process other than a pipeline run: its wall, memory and own timings."""

    name: str
    wall_seconds: float
    peak_rss_bytes: int
    peak_jvm_bytes: int
    peak_python_bytes: int
    peak_pss_bytes: int
    timings: dict[str, Any]


def stage_of(job: Mapping[str, Any], window: Mapping[str, Any], moment: float) -> str:
    """The stage of `job` running at `moment` (epoch), from its window's start and the stages'
    seconds in their order."""
    offset = moment - window["start"]
    elapsed = 0.0
    for stage in STAGES:
        if stage not in job.get("stages", {}):
            continue
        elapsed += job["stages"][stage]
        if offset <= elapsed:
            return stage
    return "after the stages"


def spark_started_in(document: Mapping[str, Any]) -> str:
    """Where the run started Spark: `<job> <stage>`, the call around the jobs it started in
    (`preflight`), `outside the jobs`, or '' (not at all). The middle of the start decides:
    stage boundaries are known only to the millisecond."""
    starts = document.get("spark_windows") or []
    if not starts:
        return ""
    moment = (starts[0][0] + starts[0][1]) / 2
    for job, window in zip(document["jobs"], document["windows"], strict=True):
        if window["start"] <= moment <= window["end"]:
            return f"{job['job']} {stage_of(job, window, moment)}"
    for phase, windows in (document.get("phase_windows") or {}).items():
        if any(start <= moment <= end for start, end in windows):
            return phase
    return "outside the jobs"


def stage_profile(jobs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Job → seconds of each stage it ran, its total and its audit record."""
    return {
        j["job"]: {
            **{s: j["stages"][s] for s in STAGES if s in j.get("stages", {})},
            "total": j["seconds"],
            "audit record": j.get("record_seconds", 0.0),
        }
        for j in jobs
    }


def nothing_new_verdict(run: Run) -> dict[str, Any]:
    """A run over unchanged sources: did every job say so, and did no table's version move?"""
    not_nothing = {j: s for j, s in run.statuses.items() if s != "nothing new"}
    changed = changed_versions(run.versions_before, run.versions_after)
    return {
        "jobs": len(run.jobs),
        "all_nothing_new": bool(run.jobs) and not not_nothing,
        "other_statuses": not_nothing,
        "versions_unchanged": not changed,
        "changed_versions": changed,
        "tables": len(run.versions_after),
        "spark_started": run.spark_start_seconds is not None or run.peak_jvm_bytes > 0,
        "ok": bool(run.jobs) and not not_nothing and not changed,
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work_dir).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.runs: list[Run] = []
        self.startup: dict[str, ProcessMeasure] = {}
        self.reference: dict[str, Any] | None = None
        self.unchanged: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}
        self.failures: list[str] = []
        self.machine = machine()

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

    # child processes --------------------------------------------------------------------

    def _child(
        self, label: str, arguments: Sequence[str]
    ) -> tuple[float, MemorySampler, dict[str, Any], Path]:
        """Run this script as a child with `arguments`; its wall, memory, JSON and exit code."""
        logs = self.work / "logs"
        logs.mkdir(exist_ok=True)
        slug = "".join(c if c.isalnum() or c in "-." else "_" for c in label)
        result = self.work / "results" / f"{slug}.json"
        result.parent.mkdir(exist_ok=True)
        result.unlink(missing_ok=True)
        log = logs / f"{slug}.log"
        launched = time.time()
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            *arguments,
            "--result",
            str(result),
            "--launched",
            repr(launched),
        ]
        env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        started = time.perf_counter()
        with log.open("w") as out:
            child = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=out)
            with MemorySampler(child.pid) as memory:
                code = child.wait()
        wall = round(time.perf_counter() - started, 2)
        if code != 0 or not result.exists():
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-25:])
            raise RuntimeError(f"{label}: exited {code} (log: {log}):\n{tail}")
        return wall, memory, json.loads(result.read_text()), log

    def measure_startup(self, backend: str) -> None:
        """A process that only starts (and stops) the laptop Spark session of `backend`."""
        if backend in self.startup:
            return
        if backend == SPARK and not delta_jars_cached():
            print("[startup] first delta-spark start: resolving Delta's jars (not measured)")
            self._child("startup-warm-up-delta-spark", ["--child", "spark", "--backend", SPARK])
        print(f"[startup] Spark session alone, {backend}", flush=True)
        wall, memory, timings, _ = self._child(
            f"startup-{backend}", ["--child", "spark", "--backend", backend]
        )
        self.startup[backend] = ProcessMeasure(
            f"Spark start-up ({backend})",
            wall,
            memory.peak,
            memory.peak_jvm,
            memory.peak_python,
            memory.peak_pss,
            timings,
        )
        print(f"[startup] {backend}: {wall:.1f} s", flush=True)
        self.save()

    def run_pipeline(
        self,
        name: str,
        scenario: str,
        source: Path,
        lakehouse: Path,
        backend: str,
        validate: bool,
        kind: str = "full",
    ) -> Run:
        """Run the pipeline in a fresh process over `lakehouse` and measure it."""
        arguments = [
            "--child",
            "pipeline",
            "--source-dir",
            str(source),
            "--lakehouse-dir",
            str(lakehouse),
            "--backend",
            backend,
        ]
        if validate:
            arguments.append("--validate")
        if self.args.profile:
            logs = self.work / "logs"
            slug = "".join(c if c.isalnum() or c in "-." else "_" for c in name)
            arguments += ["--profile", str(logs / f"{slug}.profile.txt")]
        print(f"[{name}] pipeline over {source} -> {lakehouse}", flush=True)
        run = Run(name, scenario, backend, validate, str(source), kind, str(lakehouse))
        exists = lakehouse.exists()
        files_before = parquet_files(lakehouse) if exists else {}
        run.versions_before = table_versions(lakehouse) if exists else {}
        run.load_before = load_average()
        run.started_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        wall, memory, document, log = self._child(name, arguments)
        run.wall_seconds = wall
        run.load_after = load_average()
        run.exit_code = document["exit_code"]
        run.log = str(log)
        if run.exit_code != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-25:])
            raise RuntimeError(f"{name}: the pipeline exited {run.exit_code}:\n{tail}")
        run.peak_rss_bytes, run.peak_jvm_bytes = memory.peak, memory.peak_jvm
        run.peak_python_bytes, run.memory_samples = memory.peak_python, memory.samples
        run.peak_pss_bytes = memory.peak_pss
        run.jobs = document["jobs"]
        for job, window in zip(run.jobs, document["windows"], strict=True):
            job["peak_rss_bytes"] = memory.peak_between(window["start"], window["end"])
            job["window_seconds"] = round(window["end"] - window["start"], 3)
            job["record_seconds"] = window.get("record", 0.0)
        run.interpreter_seconds = document["interpreter_seconds"]
        run.import_seconds = document["import_seconds"]
        run.command_seconds = document["command_seconds"]
        run.stop_seconds = document["stop_seconds"]
        run.phases = document["phases"]
        run.spark_start_seconds = run.phases.get("spark start")
        run.spark_started_in = spark_started_in(document)
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
        run.versions_after = table_versions(lakehouse)
        print(
            f"[{name}] {wall:.1f} s wall, {run.jobs_seconds:.1f} s in jobs, peak "
            f"{gib(run.peak_rss_bytes)} (JVM {gib(run.peak_jvm_bytes)})",
            flush=True,
        )
        return run

    def lakehouse(self, name: str) -> Path:
        path = self.work / "lake" / name
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def record(self, run: Run, with_skipping: bool = False) -> None:
        lakehouse = Path(run.lakehouse)
        if with_skipping and lakehouse.joinpath(*SKIP_TABLE).exists():
            run.skipping = measure_skipping(lakehouse, self.work)
            if self.args.zorder_experiments:
                run.skipping["experiments"] = zorder_experiments(lakehouse, self.work)
        self.runs.append(run)
        self.save()

    def find(self, scenario: str, backend: str, validate: bool | None = None) -> Run | None:
        return next(
            (
                r
                for r in self.runs
                if r.scenario == scenario
                and r.backend == backend
                and r.kind == "full"
                and (validate is None or r.validate == validate)
            ),
            None,
        )

    # scenarios ---------------------------------------------------------------------------

    def scenario_s(self, backend: str) -> None:
        """The real files into an empty lake, with validation and without."""
        scenario = "S" if backend == RS else "S-spark"
        for validate in (True, False):
            if self.find(scenario, backend, validate):
                continue
            label = f"S {backend} {'validate' if validate else 'no-validate'}"
            lake = self.lakehouse(label.replace(" ", "-"))
            run = self.run_pipeline(label, scenario, Path(self.args.s_dir), lake, backend, validate)
            self.record(run, with_skipping=validate and backend == RS)

    def scenario_reference(self) -> None:
        """pandas alone, in a fresh process, then checked against S's gold tables."""
        out = self.work / "reference"
        shutil.rmtree(out, ignore_errors=True)
        print(f"[reference] pandas over {self.args.s_dir}", flush=True)
        wall, memory, timings, _ = self._child(
            "reference",
            ["--child", "reference", "--source-dir", self.args.s_dir, "--out", str(out)],
        )
        measure = ProcessMeasure(
            "reference",
            wall,
            memory.peak,
            memory.peak_jvm,
            memory.peak_python,
            memory.peak_pss,
            timings,
        )
        self.reference = {"measure": asdict(measure)}
        print(f"[reference] {wall:.1f} s", flush=True)
        base = self.find("S", RS, True) or self.find("S", RS) or self.find("S-spark", SPARK)
        if base is not None:
            import pandas as pd

            tables = {name: pd.read_parquet(out / f"{name}.parquet") for name in GOLD_KEYS}
            check = check_reference(tables, Path(base.lakehouse))
            check["run"] = base.name
            self.reference["check"] = check
            if not check["matches"]:
                self.failures.append(f"the reference disagrees with {base.name}'s gold tables")
            print(f"[reference] matches {base.name}'s gold: {check['matches']}", flush=True)
        shutil.rmtree(out, ignore_errors=True)
        self.save()

    def scenario_unchanged(self) -> None:
        """The same files again over each validated S lake: nothing may change."""
        bases = [r for r in self.runs if r.scenario in ("S", "S-spark") and r.validate]
        if not bases:
            self.scenario_s(RS)
            bases = [r for r in self.runs if r.scenario == "S" and r.validate]
        for base in bases:
            self.measure_startup(base.backend)
            run = self.run_pipeline(
                f"S {base.backend} again, nothing new",
                "unchanged",
                Path(base.source_dir),
                Path(base.lakehouse),
                base.backend,
                True,
                kind="nothing new",
            )
            self.record(run)
            verdict = nothing_new_verdict(run)
            startup = self.startup[base.backend]
            verdict.update(
                backend=base.backend,
                run=run.name,
                wall_seconds=run.wall_seconds,
                startup_wall_seconds=startup.wall_seconds,
                beyond_startup_seconds=round(run.wall_seconds - startup.wall_seconds, 2),
            )
            self.unchanged.append(verdict)
            if not verdict["ok"]:
                self.failures.append(f"{run.name}: {describe_verdict(verdict)}")
            print(f"[{run.name}] {describe_verdict(verdict)}", flush=True)
            self.save()

    def scenario_size(self, name: str, backend: str) -> None:
        source, seconds, _ = self.generate(self.size(name))
        label = f"{name} {backend}"
        scenario = name if backend == RS else f"{name}-spark"
        lake = self.lakehouse(label.replace(" ", "-"))
        run = self.run_pipeline(label, scenario, source, lake, backend, self.size_validation)
        run.generate_seconds = seconds
        self.record(run, with_skipping=backend == RS)

    @property
    def size_validation(self) -> bool:
        return bool(self.args.size_validation == "on")

    def scenario_incremental(self) -> None:
        base_size = self.size(self.args.size)
        source, seconds, manifest = self.generate(base_size)
        built = self.find(base_size.name, RS)
        base_lake = self.work / "lake" / f"{base_size.name}-{RS}"
        if built is None and not (
            self.args.reuse_lake and base_lake.joinpath(*SKIP_TABLE).exists()
        ):
            base_lake = self.lakehouse(f"{base_size.name}-{RS}")
            run = self.run_pipeline(
                f"{base_size.name} {RS} (base of incremental)",
                "incremental",
                source,
                base_lake,
                RS,
                self.size_validation,
                kind="base",
            )
            run.generate_seconds = seconds
            self.record(run)
        elif built is not None:
            base_lake = Path(built.lakehouse)
        day = base_size.next_day(manifest["counts"]["order_items"]["rows"])
        day_source, day_seconds, _ = self.generate(day)
        same = (day_source / "products.csv").read_bytes() == (source / "products.csv").read_bytes()
        if not same:
            print("warning: the extra day's products.csv differs from the base's", flush=True)
        lake = self.lakehouse(f"{base_size.name}+1day")
        shutil.copytree(base_lake, lake)
        on_top = self.run_pipeline(
            f"{base_size.name} + 1 day",
            "incremental",
            day_source,
            lake,
            RS,
            self.size_validation,
            kind="incremental",
        )
        on_top.generate_seconds = day_seconds
        self.record(on_top)
        empty = self.lakehouse("1day")
        alone = self.run_pipeline(
            "1 day into an empty lake",
            "incremental",
            day_source,
            empty,
            RS,
            self.size_validation,
            kind="day alone",
        )
        self.record(alone)
        self.extra["incremental"] = {
            "base": base_size.name,
            "day": day.start.isoformat(),
            "orders": day.orders,
            "products_file_unchanged": same,
            "wall_ratio": round(on_top.wall_seconds / alone.wall_seconds, 2),
            "jobs_ratio": round(on_top.jobs_seconds / alone.jobs_seconds, 2)
            if alone.jobs_seconds
            else None,
        }
        self.save()

    def run(self, scenarios: Sequence[str]) -> None:
        wanted = set(scenarios)
        for scenario in SCENARIOS:
            if scenario not in wanted:
                continue
            if scenario == "startup":
                self.measure_startup(RS)
                if wanted & {"S-spark", "M-spark"}:
                    self.measure_startup(SPARK)
            elif scenario == "S":
                self.scenario_s(RS)
            elif scenario == "S-spark":
                self.scenario_s(SPARK)
            elif scenario == "reference":
                self.scenario_reference()
            elif scenario == "unchanged":
                self.scenario_unchanged()
            elif scenario in ("M", "L"):
                self.scenario_size(scenario, RS)
            elif scenario == "M-spark":
                self.scenario_size("M", SPARK)
            else:
                self.scenario_incremental()

    # output ------------------------------------------------------------------------------

    def document(self) -> dict[str, Any]:
        runs = [{**asdict(r), "jobs_seconds": r.jobs_seconds} for r in self.runs]
        document = {
            "machine": {**self.machine, "load_average": load_average()},
            "size_validation": self.size_validation,
            "sizes": {k: asdict(self.size(k)) for k in SIZES},
            "startup": {k: asdict(v) for k, v in self.startup.items()},
            "reference": self.reference,
            "unchanged": self.unchanged,
            "runs": runs,
            "profiles": {r.name: stage_profile(r.jobs) for r in self.runs},
            "failures": self.failures,
            **self.extra,
        }
        document["goals"] = goals(document)
        return document

    def save(self) -> None:
        if self.args.json:
            path = Path(self.args.json)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(self.document(), indent=2, default=str) + "\n")

    def cleanup(self) -> None:
        if not self.args.keep:
            for name in ("lake", "data", "skipping", "reference"):
                shutil.rmtree(self.work / name, ignore_errors=True)


def delta_jars_cached() -> bool:
    """Whether Ivy's cache holds the delta-spark jar that configure_spark_with_delta_pip asks
    for (its first resolution downloads from Maven and is not a start-up to measure)."""
    try:
        from importlib.metadata import version

        wanted = version("delta-spark")
    except Exception:
        return True
    jars = Path.home() / ".ivy2" / "jars"
    return any(jars.glob(f"io.delta_delta-spark_*-{wanted}.jar"))


def describe_verdict(verdict: Mapping[str, Any]) -> str:
    parts = [
        "every job said nothing new"
        if verdict["all_nothing_new"]
        else "FAILED: jobs that did not say nothing new: "
        + ", ".join(f"{j} ({s})" for j, s in verdict["other_statuses"].items()),
        f"no table version changed ({verdict['tables']} tables)"
        if verdict["versions_unchanged"]
        else "FAILED: versions changed: "
        + ", ".join(f"{t} {a}→{b}" for t, (a, b) in verdict["changed_versions"].items()),
    ]
    return "; ".join(parts)


def load_average() -> list[float]:
    return [float(x) for x in _read("/proc/loadavg").split()[:3]]


def gib(n: int | float) -> str:
    return f"{n / GIB:.2f} GiB"


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=REPO,
        ).stdout.strip()
    except OSError:
        return ""
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"


# The laptop profile's settings that the report's machine line records.
REPORTED_SPARK_CONF = (
    "spark.driver.memory",
    "spark.sql.shuffle.partitions",
    "spark.driver.extraJavaOptions",
)


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
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
    except OSError:
        java = ""
    versions = {}
    from importlib.metadata import PackageNotFoundError, version

    for package in ("pyspark", "delta-spark", "deltalake", "pandas", "pyarrow", "python-calamine"):
        with contextlib.suppress(PackageNotFoundError):
            versions[package] = version(package)
    spark_conf: dict[str, str] = {}
    with contextlib.suppress(ImportError):
        from etl.settings import LOCAL_SPARK_CONF

        spark_conf = {k: v for k, v in LOCAL_SPARK_CONF.items() if k in REPORTED_SPARK_CONF}
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
        "java": java.splitlines()[0] if java else "",
        "versions": versions,
        "spark_master": os.environ.get("ETL_SPARK_MASTER", "local[2]"),
        "spark_conf": spark_conf,
        "commit": git_commit(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": load_average(),
    }


# --------------------------------------------------------------------------------------------
# The report: Markdown tables for docs/benchmark.md
# --------------------------------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A Markdown table: the first `left` columns left-aligned, the others right-aligned."""
    align = ["---" if i < left else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(str(c) for c in line) + " |" for line in lines)


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _runs(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(document.get("runs", []))


def find_run(
    document: Mapping[str, Any], scenario: str, validate: bool | None = None, kind: str = "full"
) -> dict[str, Any] | None:
    return next(
        (
            r
            for r in _runs(document)
            if r["scenario"] == scenario
            and r["kind"] == kind
            and (validate is None or r["validate"] == validate)
        ),
        None,
    )


@dataclass(frozen=True)
class Goal:
    goal: str
    target: str
    measured: str
    met: bool | None  # None: not measured in this run
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "not measured"
        return "yes" if self.met else f"no{', ' + self.note if self.note else ''}"


def goals(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each goal of docs/benchmark.md against what this run measured."""
    found: list[Goal] = []
    s = find_run(document, "S", True)
    found.append(
        Goal(
            "real April files, full pipeline with validation, delta-rs: wall",
            f"≤ {GOAL_S_WALL:.0f} s",
            f"{s['wall_seconds']:.1f} s" if s else "-",
            s["wall_seconds"] <= GOAL_S_WALL if s else None,
            f"{s['wall_seconds'] - GOAL_S_WALL:.1f} s over" if s else "",
        )
    )
    reference = (document.get("reference") or {}).get("measure")
    if s and reference:
        ratio = s["wall_seconds"] / reference["wall_seconds"]
        found.append(
            Goal(
                "the same ÷ the pandas reference computation (walls)",
                f"≤ {GOAL_REFERENCE_RATIO:.0f}×",
                f"{ratio:.1f}× ({s['wall_seconds']:.1f} s ÷ {reference['wall_seconds']:.1f} s)",
                ratio <= GOAL_REFERENCE_RATIO,
                f"{ratio / GOAL_REFERENCE_RATIO:.1f}× the target",
            )
        )
    else:
        found.append(
            Goal("the same ÷ the pandas reference computation (walls)", "≤ 10×", "-", None)
        )
    unchanged = next((u for u in document.get("unchanged", []) if u["backend"] == RS), None)
    if unchanged:
        beyond = unchanged["beyond_startup_seconds"]
        found.append(
            Goal(
                "nothing new (delta-rs): wall beyond Spark's start-up",
                f"≤ {GOAL_UNCHANGED_BEYOND_STARTUP:.0f} s",
                f"{beyond:.1f} s ({unchanged['wall_seconds']:.1f} s − "
                f"{unchanged['startup_wall_seconds']:.1f} s)",
                beyond <= GOAL_UNCHANGED_BEYOND_STARTUP and unchanged["ok"],
                f"{beyond - GOAL_UNCHANGED_BEYOND_STARTUP:.1f} s over"
                if unchanged["ok"]
                else "a table changed or a job did not say nothing new",
            )
        )
    else:
        found.append(
            Goal("nothing new (delta-rs): wall beyond Spark's start-up", "≤ 2 s", "-", None)
        )
    large = find_run(document, "L")
    found.append(
        Goal(
            "L (10M items), delta-rs: peak memory of the process tree",
            f"≤ {GOAL_L_PEAK / GIB:.0f} GiB",
            f"{gib(large['peak_rss_bytes'])} (PSS {gib(large.get('peak_pss_bytes', 0))})"
            if large
            else "-",
            large["peak_rss_bytes"] <= GOAL_L_PEAK if large else None,
            f"{(large['peak_rss_bytes'] - GOAL_L_PEAK) / GIB:.2f} GiB over" if large else "",
        )
    )
    found.append(
        Goal(
            "L (10M items), delta-rs: wall",
            f"≤ {GOAL_L_WALL / 60:.0f} min",
            f"{large['wall_seconds']:.0f} s" if large else "-",
            large["wall_seconds"] <= GOAL_L_WALL if large else None,
            f"{large['wall_seconds'] - GOAL_L_WALL:.0f} s over" if large else "",
        )
    )
    incremental = document.get("incremental")
    if incremental:
        ratio = incremental["wall_ratio"]
        found.append(
            Goal(
                f"one day on {incremental['base']} ÷ the same day into an empty lake (walls)",
                f"≤ {GOAL_INCREMENTAL_RATIO}×",
                f"{ratio:.2f}×",
                ratio <= GOAL_INCREMENTAL_RATIO,
                f"{ratio - GOAL_INCREMENTAL_RATIO:.2f}× over",
            )
        )
    else:
        found.append(Goal("one day on L ÷ the same day into an empty lake", "≤ 1.5×", "-", None))
    return [{**asdict(g), "verdict": g.verdict} for g in found]


def report_goals(document: Mapping[str, Any]) -> str:
    rows = [(g["goal"], g["target"], g["measured"], g["verdict"]) for g in goals(document)]
    return markdown_table(("goal", "target", "measured", "met"), rows, left=4)


def _mem(run: Mapping[str, Any]) -> tuple[str, str, str, str]:
    return (
        gib(run["peak_rss_bytes"]),
        gib(run.get("peak_pss_bytes", 0)),
        gib(run["peak_jvm_bytes"]),
        gib(run["peak_python_bytes"]),
    )


def report_runs(document: Mapping[str, Any]) -> str:
    """Every pipeline run: wall, where it went, peak memory."""
    header = (
        "run",
        "backend",
        "validation",
        "source rows",
        "wall s",
        "Spark start s",
        "jobs s",
        "bronze s",
        "silver s",
        "gold s",
        "outside the jobs s",
        "peak RSS",
        "PSS",
        "JVM",
        "Python",
        "Parquet files",
    )
    rows = []
    for r in _runs(document):
        layers = r.get("layers", {})
        jobs = sum(j["seconds"] for j in r["jobs"])
        outside = r["wall_seconds"] - jobs
        rows.append(
            (
                r["name"],
                r["backend"],
                "on" if r["validate"] else "off",
                f"{r['source_rows']:,}",
                f"{r['wall_seconds']:.1f}",
                seconds(r.get("spark_start_seconds")),
                f"{jobs:.1f}",
                *(f"{layers.get(x, {}).get('seconds', 0.0):.1f}" for x in LAYERS),
                f"{outside:.1f}",
                *_mem(r),
                _files_cell(r),
            )
        )
    return markdown_table(header, rows, left=3)


def _files_cell(run: Mapping[str, Any]) -> str:
    total = run.get("files", {}).get("total", 0)
    added = run.get("files_added", {}).get("total", 0)
    return f"{total:,}" if total == added else f"{total:,} (+{added:,})"


def report_startup(document: Mapping[str, Any]) -> str:
    rows = []
    for backend, m in document.get("startup", {}).items():
        t = m["timings"]
        rows.append(
            (
                backend,
                f"{m['wall_seconds']:.1f}",
                seconds(t.get("interpreter_seconds")),
                seconds(t.get("import_seconds")),
                seconds(t.get("session_seconds")),
                seconds(t.get("stop_seconds")),
                gib(m["peak_rss_bytes"]),
            )
        )
    header = ("backend", "wall s", "interpreter s", "imports s", "session s", "stop s", "peak RSS")
    return markdown_table(header, rows)


def report_reference(document: Mapping[str, Any]) -> str:
    reference = document.get("reference")
    if not reference:
        return ""
    m = reference["measure"]
    t = m["timings"]
    check = reference.get("check")
    matches = "-" if not check else ("yes" if check["matches"] else "**no**")
    table = markdown_table(
        (
            "computation",
            "wall s",
            "interpreter s",
            "imports s",
            "read s",
            "compute s",
            "write s",
            "peak RSS",
            "same figures as gold",
        ),
        [
            (
                "pandas + python-calamine",
                f"{m['wall_seconds']:.1f}",
                seconds(t.get("interpreter_seconds")),
                seconds(t.get("import_seconds")),
                seconds(t.get("read_seconds")),
                seconds(t.get("compute_seconds")),
                seconds(t.get("write_seconds")),
                gib(m["peak_rss_bytes"]),
                matches,
            )
        ],
    )
    lines = [table]
    if check and not check["matches"]:
        for name, problems in check["problems"].items():
            lines.append(f"- {name}: " + "; ".join(problems))
    ratios = []
    for r in _runs(document):
        if r["scenario"] in ("S", "S-spark") and r["kind"] == "full":
            ratio = r["wall_seconds"] / m["wall_seconds"]
            ratios.append((r["name"], f"{r['wall_seconds']:.1f}", f"{ratio:.1f}×"))
    if ratios:
        lines += ["", markdown_table(("pipeline run", "wall s", "÷ reference"), ratios)]
    return "\n".join(lines)


def report_unchanged(document: Mapping[str, Any]) -> str:
    rows = []
    for u in document.get("unchanged", []):
        rows.append(
            (
                u["backend"],
                f"{u['wall_seconds']:.1f}",
                f"{u['startup_wall_seconds']:.1f}",
                f"{u['beyond_startup_seconds']:.1f}",
                "yes" if u["spark_started"] else "no",
                f"{u['jobs'] - len(u['other_statuses'])} of {u['jobs']}",
                "none" if u["versions_unchanged"] else f"**{len(u['changed_versions'])}**",
            )
        )
    header = (
        "backend",
        "wall s",
        "Spark start-up wall s",
        "beyond start-up s",
        "Spark started",
        "jobs saying nothing new",
        "tables whose version changed",
    )
    return markdown_table(header, rows)


def report_profile(run: Mapping[str, Any]) -> str:
    """Job × stage seconds of one run, then what lies around the jobs."""
    rows = []
    totals = dict.fromkeys((*STAGES, "seconds", "record_seconds"), 0.0)
    spark_in = run.get("spark_started_in", "")
    for job in run["jobs"]:
        stages = job.get("stages", {})
        for stage in STAGES:
            totals[stage] += stages.get(stage, 0.0)
        totals["seconds"] += job["seconds"]
        totals["record_seconds"] += job.get("record_seconds", 0.0)
        name = job["job"] + (" ¹" if spark_in.startswith(job["job"] + " ") else "")
        rows.append(
            (
                name,
                job.get("status", "ok"),
                *(seconds(stages.get(s)) if s in stages else "-" for s in STAGES),
                f"{job['seconds']:.1f}",
                f"{job.get('record_seconds', 0.0):.1f}",
            )
        )
    rows.append(
        (
            "**all jobs**",
            "",
            *(f"**{totals[s]:.1f}**" for s in STAGES),
            f"**{totals['seconds']:.1f}**",
            f"**{totals['record_seconds']:.1f}**",
        )
    )
    table = markdown_table(
        ("job", "status", *(f"{s} s" for s in STAGES), "total s", "audit record s"), rows, 2
    )
    phases = dict(run.get("phases", {}))
    outside = run["command_seconds"] - totals["seconds"] - totals["record_seconds"]
    named = sum(v for k, v in phases.items() if k not in ("spark start", "audit record"))
    around = [
        ("Python interpreter start", run.get("interpreter_seconds")),
        ("imports", run.get("import_seconds")),
        *((k, v) for k, v in phases.items() if k not in ("spark start", "audit record")),
        ("the rest of the command (settings, lock, summary)", max(0.0, outside - named)),
        ("Spark stop", run.get("stop_seconds")),
        ("wall of the process (all of the above and the jobs)", run.get("wall_seconds")),
    ]
    lines = [table]
    if spark_in:
        start = seconds(run.get("spark_start_seconds"))
        inside = any(spark_in.startswith(j["job"] + " ") for j in run["jobs"])
        lines.append(
            f"\n¹ Spark started inside {spark_in}: {start} s of it."
            if inside
            else f"\nSpark started in {spark_in}, outside the jobs: {start} s of it."
        )
    lines += [
        "",
        markdown_table(
            ("around the jobs", "s"), [(k, seconds(v)) for k, v in around if v is not None]
        ),
    ]
    return "\n".join(lines)


def report_per_job(document: Mapping[str, Any]) -> str:
    """Seconds of each job and the peak RSS of the process tree while it ran, per run."""
    runs = _runs(document)
    header = ("job", *(r["name"] for r in runs))
    rows = []
    for job in dict.fromkeys(j["job"] for r in runs for j in r["jobs"]):
        cells = []
        for r in runs:
            found = next((j for j in r["jobs"] if j["job"] == job), None)
            cells.append(
                f"{found['seconds']:.1f} s · {found.get('peak_rss_bytes', 0) / GIB:.1f} GiB"
                if found
                else "-"
            )
        rows.append((job, *cells))
    rows.append(
        (
            "rows/s bronze / silver / gold",
            *(
                " / ".join(f"{r['layers'].get(x, {}).get('rows_per_second', 0):,}" for x in LAYERS)
                for r in runs
            ),
        )
    )
    return markdown_table(header, rows)


def report_skipping(document: Mapping[str, Any]) -> str:
    rows = []
    for r in _runs(document):
        skip = r.get("skipping")
        if not skip or not skip.get("before", {}).get("files"):
            continue
        before, after = skip["before"], skip["after"]
        rows.append(
            (
                r["name"],
                str(before["files"]),
                f"{before['fraction']:.0%}",
                str(after.get("files", 0)),
                f"{after.get('target_file_bytes', 0) / MIB:.2f} MiB",
                f"{after.get('mean_file_mb', 0):.2f} MB",
                f"{after.get('fraction', 0):.0%}",
                f"{after.get('mean_over_values', 0):.1%}",
                f"{after.get('optimize_seconds', 0):.2f} s",
            )
        )
    header = (
        "run",
        "files before",
        "skipped before",
        "files after",
        "target file size",
        "mean file after",
        "skipped after",
        "all ids",
        "OPTIMIZE",
    )
    lines = [markdown_table(header, rows)] if rows else []
    experiments = [
        (r["name"], e)
        for r in _runs(document)
        for e in (r.get("skipping") or {}).get("experiments", [])
    ]
    if experiments:
        lines += [
            "",
            markdown_table(
                ("run", "layout", "Z-order by", "target file size", "files · mean MB · skipped"),
                [
                    (
                        name,
                        "by order_date" if e["partitioned_by_order_date"] else "not partitioned",
                        ", ".join(e["zorder_by"]),
                        f"{e['target_size_bytes'] / MIB:g} MiB"
                        if e["target_size_bytes"]
                        else "default",
                        f"{e['files']} · {e['mean_file_mb']} · {e['fraction']:.0%}",
                    )
                    for name, e in experiments
                ],
                left=3,
            ),
        ]
    return "\n".join(lines)


def report_incremental(document: Mapping[str, Any]) -> str:
    incremental = document.get("incremental")
    if not incremental:
        return ""
    rows = []
    for r in _runs(document):
        if r["scenario"] == "incremental":
            rows.append(
                (
                    r["name"],
                    f"{r['source_rows']:,}",
                    f"{r['wall_seconds']:.1f}",
                    f"{sum(j['seconds'] for j in r['jobs']):.1f}",
                    gib(r["peak_rss_bytes"]),
                )
            )
    table = markdown_table(("run", "source rows", "wall s", "jobs s", "peak RSS"), rows)
    jobs_ratio = incremental.get("jobs_ratio")
    return (
        f"{table}\n\nOne day ({incremental['orders']:,} orders, {incremental['day']}) on top of "
        f"{incremental['base']} ÷ the same day into an empty lake: "
        f"**{incremental['wall_ratio']:.2f}×** wall"
        + (f", {jobs_ratio:.2f}× job seconds." if jobs_ratio is not None else ".")
    )


def report_machine(document: Mapping[str, Any]) -> str:
    m = document.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    conf = ", ".join(f"{k}={v}" for k, v in m.get("spark_conf", {}).items())
    rows = [
        ("CPU", f"{m.get('cpu', '')}, {m.get('cores', '')} cores"),
        ("memory", gib(m.get("memory_bytes", 0))),
        ("Python / Java", f"{m.get('python', '')} / {m.get('java', '')}"),
        ("packages", versions),
        ("Spark", f"{m.get('spark_master', '')}, {conf}"),
        ("commit", m.get("commit", "")),
        ("measured", f"{m.get('date', '')}, load average at the end {m.get('load_average', '')}"),
    ]
    return markdown_table(("", ""), rows, left=2)


def report(document: Mapping[str, Any]) -> str:
    """The whole Markdown report."""
    sections = [
        ("Machine", report_machine(document)),
        ("Goals", report_goals(document)),
        ("Pipeline runs", report_runs(document) if _runs(document) else ""),
        ("Spark start-up alone", report_startup(document) if document.get("startup") else ""),
        ("Reference computation (pandas)", report_reference(document)),
        ("A run with nothing new", report_unchanged(document) if document.get("unchanged") else ""),
        ("The incremental day", report_incremental(document)),
    ]
    for r in _runs(document):
        if r["scenario"] in ("S", "S-spark", "unchanged", "L"):
            sections.append((f"Per job and stage: {r['name']}", report_profile(r)))
    if _runs(document):
        sections.append(("Per job: seconds · peak RSS while it ran", report_per_job(document)))
    sections.append(("Data skipping on silver order_items (product_id)", report_skipping(document)))
    failures = document.get("failures") or []
    if failures:
        sections.append(("Checks that failed", "\n".join(f"- {f}" for f in failures)))
    return "\n\n".join(f"### {title}\n\n{body}" for title, body in sections if body) + "\n"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, of {', '.join(SCENARIOS)} (default: all, in that order)",
    )
    parser.add_argument(
        "--work-dir",
        default=str(DEFAULT_WORK_DIR),
        help="generated data, lakehouses, logs and child results (default: build/benchmark)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep generated data and lakehouses after the run"
    )
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument("--report", help="also write the Markdown report to this file")
    parser.add_argument(
        "--size-validation",
        choices=("on", "off"),
        default="on",
        help="validation in the M, L and incremental runs (default: on, the pipeline's "
        "default; S runs always measure both)",
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
        "--s-dir",
        default=str(REFERENCE_DATA),
        help="source files of S (default: the real April files, or ETL_REFERENCE_DATA)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile each run's driver with pyinstrument, next to its log "
        "(uv run --with pyinstrument ...)",
    )
    parser.add_argument(
        "--zorder-experiments",
        action="store_true",
        help="also measure skipping under other target file sizes, Z-order columns and "
        "without the order_date partitioning (on copies of silver order_items)",
    )
    return parser.parse_args(argv)


def parse_child_args(argv: Sequence[str]) -> argparse.Namespace:
    """The arguments this script gives its own child processes (`--child KIND ...`)."""
    parser = argparse.ArgumentParser(prog="benchmark.py --child")
    parser.add_argument("--child", choices=("pipeline", "spark", "reference"), required=True)
    parser.add_argument("--source-dir")
    parser.add_argument("--lakehouse-dir")
    parser.add_argument("--backend", choices=(RS, SPARK), default=RS)
    parser.add_argument("--validate", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--profile")
    parser.add_argument("--result", required=True)
    parser.add_argument("--launched", type=float, default=0.0)
    return parser.parse_args(argv)


CHILDREN: dict[str, Callable[[argparse.Namespace, float], int]] = {
    "pipeline": child_pipeline,
    "spark": child_spark,
    "reference": child_reference,
}


@contextlib.contextmanager
def _printing_report(bench: Bench) -> Iterator[None]:
    try:
        yield
    finally:
        bench.save()
        text = report(bench.document())
        print()
        print(text)
        if bench.args.report:
            path = Path(bench.args.report)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        bench.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--child" in arguments:
        child = parse_child_args(arguments)
        return CHILDREN[child.child](child, child.launched)
    args = parse_args(arguments)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown or not scenarios:
        print(
            f"benchmark: unknown scenario(s) {', '.join(unknown) or '(none given)'}; "
            f"use {', '.join(SCENARIOS)}",
            file=sys.stderr,
        )
        return 2
    needs_s = {"S", "S-spark", "reference", "unchanged"} & set(scenarios)
    if needs_s and not Path(args.s_dir).is_dir():
        print(
            f"benchmark: {', '.join(sorted(needs_s))} read the real April files, not found at "
            f"{args.s_dir}: point --s-dir (or ETL_REFERENCE_DATA) at the folder holding them",
            file=sys.stderr,
        )
        return 2
    bench = Bench(args)
    with _printing_report(bench):
        bench.run(scenarios)
    if bench.failures:
        for failure in bench.failures:
            print(f"benchmark: check failed: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
