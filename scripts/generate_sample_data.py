"""Generate deterministic sample source files in the format of the real April 2025 extracts.

The lakehouse ingests three kinds of source file: ``products.csv``, and per month an
``orders_<mon>_<yyyy>.xlsx`` and an ``order_items_<mon>_<yyyy>.xlsx`` workbook with one worksheet
per day. The real files cannot live in the repository, so this script writes look-alikes: same
file names, sheet names, headers, cell types (numbers as numeric cells, timestamps and dates as
text) and value ranges, plus a few deliberately broken rows whose expected rejection reasons are
listed in ``<out>/_expected_quarantine.json`` so that the pipeline's quarantine can be tested.

Why the script writes the xlsx XML itself instead of using openpyxl: openpyxl's write-only mode
manages about 18,000 rows a second here, over ten minutes for the 13M-row benchmark size, while
formatting whole blocks of rows with one str.format template and streaming them into the zip
entry runs at about 160,000 rows a second with the same flat memory. The workbooks are plain
SpreadsheetML with a shared-strings table and a bold header like the real ones; openpyxl, pandas,
python-calamine and the pipeline's reader (etl/sources.py) read them.

Memory stays flat at any size because orders are generated in blocks of ``BLOCK_ORDERS`` with
numpy and every block is written before the next one is drawn; the only thing that grows is a
workbook's shared-strings table, at most 1,440 timestamps a day, dropped after each month.
Every random draw comes from a generator seeded by (seed, stream, day, block), so the same
arguments produce byte-identical files (zip entry times and document properties are fixed).

Usage: ``uv run python scripts/generate_sample_data.py --out data``
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import enum
import json
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

ORDER_COLUMNS = ("order_num", "order_id", "user_id", "order_timestamp", "total_amount", "date")
ITEM_COLUMNS = (
    "id",
    "order_id",
    "user_id",
    "days_since_prior_order",
    "product_id",
    "add_to_cart_order",
    "reordered",
    "order_timestamp",
    "date",
)
PRODUCT_COLUMNS = ("product_id", "department_id", "department", "product_name")

DEPARTMENTS = ("Books", "Clothing", "Electronics", "Home", "Sports", "Toys")
DEPARTMENT_IDS = 6
FIRST_ORDER_ID = 10_000
USER_IDS = (1001, 9999)
ORDER_NUMS = (1, 100)
AMOUNT_CENTS = (2_000, 50_000)  # 20.00 .. 500.00
ITEMS_PER_ORDER = (1, 10)  # uniform, mean 5.5 (the real files: 40,803 / 7,500 = 5.44)
DAYS_SINCE_PRIOR = (0, 30)
MINUTES_PER_DAY = 24 * 60
CORRECTION_MINUTES = 120

BLOCK_ORDERS = 20_000  # orders drawn per numpy block; part of the seeding, so of the output
WRITE_ROWS = 20_000  # rows formatted per string join, bounds the size of one text buffer
XLSX_MAX_DATA_ROWS = 1_048_575  # Excel's 1,048,576 rows minus the header
AUTO_CSV_ROWS = 1_000_000  # --format auto switches to CSV when a day's sheet would exceed this
MANIFEST_NAME = "_expected_quarantine.json"

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

# Capitalised words for product names ("Product_<id>_<Word>"), in the style of the real file.
_WORD_TEXT = """
    Able Account Across Action Activity Actually Address Admit Adult Affect Agency Agent Agree
    Air Allow Almost Alone Along Already Although Always Amount Analysis Animal Answer Anyone
    Appear Apply Approach Area Argue Arm Around Arrive Art Article Artist Assume Attack Attention
    Author Available Avoid Away Baby Back Bad Bag Ball Bank Bar Base Beat Beautiful Because Bed
    Before Begin Behavior Behind Believe Benefit Best Better Between Beyond Big Bill Billion Bit
    Black Blood Blue Board Body Book Born Both Box Boy Break Bring Brother Budget Build Building
    Business Buy Call Camera Campaign Cancer Candidate Capital Car Card Care Career Carry Case
    Catch Cause Cell Center Central Century Certain Chair Challenge Chance Change Character Charge
    Check Child Choice Choose Church Citizen City Civil Claim Class Clear Close Coach Cold
    Collection College Color Come Commercial Common Community Company Compare Computer Concern
    Condition Conference Consider Consumer Contain Continue Control Cost Could Country Couple
    Course Court Cover Create Crime Cultural Culture Cup Current Customer Cut Dark Data Daughter
    Dead Deal Death Debate Decade Decide Decision Deep Defense Degree Democrat Describe Design
    Despite Detail Determine Develop Difference Different Difficult Dinner Direction Director
    Discover Discuss Disease Doctor Dog Door Down Draw Dream Drive Drop Drug During Each Early
    East Easy Economic Economy Edge Education Effect Effort Eight Either Election Else Employee
    Energy Enjoy Enough Enter Entire Environment Especially Establish Even Evening Event Ever
    Every Evidence Exactly Example Executive Exist Expect Experience Expert Explain Eye Face Fact
    Factor Fail Fall Family Far Fast Father Fear Federal Feel Feeling Field Fight Figure Fill
    Film Final Finally Financial Find Fine Finger Finish Fire Firm First Fish Five Floor Fly
    Focus Follow Food Foot Force Foreign Forget Form Former Forward Four Free Friend Front Full
    Fund Future Game Garden Gas General Generation Girl Give Glass Goal Good Government Great
    Green Ground Group Grow Growth Guess Gun Guy Hair Half Hand Hang Happen Happy Hard Have Head
    Health Hear Heart Heat Heavy Help Here High History Hit Hold Home Hope Hospital Hot Hotel Hour
    House However Huge Human Hundred Idea Identify Image Imagine Impact Important Improve Include
    Increase Indeed Indicate Individual Industry Information Inside Instead Interest Interview
    Into Investment Issue Item Itself Join Just Keep Key Kid Kind Kitchen Know Knowledge Land
    Language Large Last Late Later Laugh Lawyer Lay Lead Leader Learn Least Leave Left Leg Legal
    Less Letter Level Lie Life Light Like Likely Line List Listen Little Live Local Long Look Lose
    Loss Lot Love Low Machine Magazine Main Maintain Major Majority Make Manage Management Manager
    Many Market Marriage Material Matter Maybe Mean Measure Media Medical Meet Meeting Member
    Memory Mention Message Method Middle Might Military Million Mind Minute Miss Mission Model
    Modern Moment Money Month More Morning Most Mother Mouth Move Movement Movie Much Music Must
    Myself Name Nation National Natural Nature Near Nearly Necessary Need Network Never New News
    Newspaper Next Nice Night None Nor North Note Nothing Notice Number Occur Offer Office Officer
    Official Often Oil Old Once Only Onto Open Operation Opportunity Option Order Organization
    Other Others Outside Over Own Owner Page Pain Painting Paper Parent Part Participant
    Particular Partner Party Pass Past Patient Pattern Pay Peace People Perform Perhaps Period
    Person Personal Phone Physical Pick Picture Piece Place Plan Plant Play Player Point Police
    Policy Political Poor Popular Population Position Positive Possible Power Practice Prepare
    Present President Pressure Pretty Prevent Price Private Probably Problem Process Produce
    Product Production Professional Program Project Property Protect Prove Provide Public Pull
    Purpose Push Put Quality Question Quickly Quite Race Radio Raise Range Rate Rather Reach Read
    Ready Real Reality Realize Really Reason Receive Recent Recently Recognize Record Red Reduce
    Reflect Region Relate Remain Remember Remove Report Represent Require Research Resource
    Respond Response Rest Result Return Reveal Rich Right Rise Risk Road Rock Role Room Rule Run
    Safe Same Save Say Scene School Science Scientist Score Sea Season Seat Second Section
    Security Seek Seem Sell Send Senior Sense Series Serious Serve Service Set Seven Several
    Shake Share Shoot Short Shot Should Shoulder Show Side Sign Significant Similar Simple Simply
    Since Sing Single Sister Sit Site Situation Size Skill Skin Small Smile Social Society Soldier
    Some Somebody Someone Something Sometimes Son Song Soon Sort Sound Source South Southern
    Space Speak Special Specific Speech Spend Sport Spring Staff Stage Stand Standard Star Start
    State Statement Station Stay Step Still Stock Stop Store Story Strategy Street Strong
    Structure Student Study Stuff Style Subject Success Successful Such Suddenly Suffer Suggest
    Summer Support Sure Surface System Table Take Talk Task Teach Teacher Team Technology
    Television Tell Ten Tend Term Test Than Thank That Their Them Themselves Then Theory There
    These They Thing Think Third This Those Though Thought Thousand Threat Three Through
    Throughout Throw Thus Time Today Together Tonight Total Tough Toward Town Trade Traditional
    Training Travel Treat Treatment Tree Trial Trip Trouble True Truth Try Turn Tv Two Type Under
    Understand Unit Until Upon Use Usually Value Various Very Victim View Violence Visit Voice
    Vote Wait Walk Wall Want War Watch Water Way Weapon Wear Week Weight Well West Western What
    Whatever When Where Whether Which While White Whole Whom Whose Why Wide Wife Will Win Wind
    Window Wish With Within Without Woman Wonder Word Work Worker World Worry Would Write Writer
    Wrong Yard Yeah Year Yes Yet You Young Your Yourself
"""
WORDS = tuple(_WORD_TEXT.split())

# Independent random streams (the second element of every seed sequence).
_STREAM_PRODUCTS = 1
_STREAM_PLAN = 2
_STREAM_BLOCK = 3
_STREAM_PLANT = 4

_HHMM = np.array([f"{m // 60:02d}:{m % 60:02d}:00" for m in range(MINUTES_PER_DAY)], dtype=object)

Dataset = Literal["orders", "order_items", "products"]
Kind = Literal["int", "seq", "amount", "ts", "date", "text"]
Format = Literal["xlsx", "csv"]


class Marker(enum.Enum):
    """A placeholder cell filled in by the sink: the next value of the item id sequence."""

    NEXT_ID = "next_id"


Cell = int | float | str | None
Value = Cell | Marker
Override = Cell | Callable[[Mapping[str, Value]], Cell]


# --------------------------------------------------------------------------------------------
# Configuration and day layout
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Everything that determines the output; equal configs give identical files."""

    out: Path
    start: dt.date = dt.date(2025, 4, 1)
    days: int = 7
    orders: int = 420
    products: int = 1_000
    seed: int = 42
    format: Literal["xlsx", "csv", "auto"] = "auto"
    dirty: Literal["none", "few", "every-rule"] = "few"
    # Where the order ids and item ids start: a later batch (say one more day for an existing
    # lake) continues after the ids of the earlier one instead of reusing them.
    first_order_id: int = FIRST_ORDER_ID
    first_item_id: int = 1


@dataclass(frozen=True)
class DayLayout:
    """One day's share of the orders and where its blocks start; items are pre-counted."""

    index: int
    day: dt.date
    first_order_id: int
    blocks: tuple[tuple[int, int], ...]  # [start, stop) order indices within the day
    n_orders: int
    n_items: int


def rng_for(seed: int, stream: int, *key: int) -> np.random.Generator:
    """A generator that depends only on (seed, stream, key), so blocks can be redrawn alone."""
    return np.random.default_rng([seed, stream, *key])


def draw_item_counts(rng: np.random.Generator, n_orders: int) -> IntArray:
    """Items per order. Always the first draw of a block, so the pre-count can repeat it."""
    return rng.integers(ITEMS_PER_ORDER[0], ITEMS_PER_ORDER[1] + 1, n_orders, dtype=np.int64)


def block_bounds(n_orders: int) -> tuple[tuple[int, int], ...]:
    """Block boundaries of a day; a day without orders still has one empty block."""
    if n_orders == 0:
        return ((0, 0),)
    return tuple((s, min(s + BLOCK_ORDERS, n_orders)) for s in range(0, n_orders, BLOCK_ORDERS))


def layout_days(config: Config) -> list[DayLayout]:
    """Spread the orders evenly over the days and pre-count each day's items.

    Counting the items first (a cheap draw of one small integer per order) lets the writer
    declare each sheet's size up front and lets ``--format auto`` decide before writing.
    """
    base, extra = divmod(config.orders, config.days)
    layouts = []
    next_order_id = config.first_order_id
    for index in range(config.days):
        day = config.start + dt.timedelta(days=index)
        n_orders = base + (1 if index < extra else 0)
        blocks = block_bounds(n_orders)
        n_items = 0
        for block_no, (lo, hi) in enumerate(blocks):
            rng = rng_for(config.seed, _STREAM_BLOCK, day.toordinal(), block_no)
            n_items += int(draw_item_counts(rng, hi - lo).sum())
        layouts.append(DayLayout(index, day, next_order_id, blocks, n_orders, n_items))
        next_order_id += n_orders
    return layouts


# --------------------------------------------------------------------------------------------
# Clean data, drawn one block at a time
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Columns:
    """Column-wise rows ready for a sink; ``None`` for kinds the sink fills itself."""

    n: int
    data: tuple[IntArray | list[str] | None, ...]

    def slice(self, lo: int, hi: int) -> Columns:
        return Columns(hi - lo, tuple(None if c is None else c[lo:hi] for c in self.data))


@dataclass(frozen=True)
class OrderBlock:
    """A block of clean orders of one day and all of their items."""

    order_num: IntArray
    order_id: IntArray
    user_id: IntArray
    minute: IntArray
    cents: IntArray
    item_counts: IntArray
    days_since_prior: IntArray
    product_id: IntArray
    add_to_cart: IntArray
    reordered: IntArray

    @property
    def item_ends(self) -> IntArray:
        """Number of item rows up to and including each order."""
        return np.cumsum(self.item_counts)

    def order_columns(self) -> Columns:
        n = len(self.order_id)
        data = (self.order_num, self.order_id, self.user_id, self.minute, self.cents, None)
        return Columns(n, data)

    def item_columns(self) -> Columns:
        counts = self.item_counts
        data = (
            None,
            np.repeat(self.order_id, counts),
            np.repeat(self.user_id, counts),
            self.days_since_prior,
            self.product_id,
            self.add_to_cart,
            self.reordered,
            np.repeat(self.minute, counts),
            None,
        )
        return Columns(int(counts.sum()), data)


ORDER_KINDS: tuple[Kind, ...] = ("int", "int", "int", "ts", "amount", "date")
ITEM_KINDS: tuple[Kind, ...] = ("seq", "int", "int", "int", "int", "int", "int", "ts", "date")
PRODUCT_KINDS: tuple[Kind, ...] = ("int", "int", "text", "text")


def _uniform(rng: np.random.Generator, bounds: tuple[int, int], n: int) -> IntArray:
    return rng.integers(bounds[0], bounds[1] + 1, n, dtype=np.int64)


def generate_block(seed: int, layout: DayLayout, block_no: int, n_products: int) -> OrderBlock:
    """Draw one block of orders and their items with vectorised numpy calls."""
    lo, hi = layout.blocks[block_no]
    n = hi - lo
    rng = rng_for(seed, _STREAM_BLOCK, layout.day.toordinal(), block_no)
    counts = draw_item_counts(rng, n)
    order_num = _uniform(rng, ORDER_NUMS, n)
    user_id = _uniform(rng, USER_IDS, n)
    minute = _uniform(rng, (0, MINUTES_PER_DAY - 1), n)
    cents = _uniform(rng, AMOUNT_CENTS, n)
    n_items = int(counts.sum())
    days_since_prior = _uniform(rng, DAYS_SINCE_PRIOR, n_items)
    product_id = _uniform(rng, (1, n_products), n_items)
    reordered = _uniform(rng, (0, 1), n_items)
    starts = np.cumsum(counts) - counts
    add_to_cart = np.arange(n_items, dtype=np.int64) - np.repeat(starts, counts) + 1
    order_id = np.arange(layout.first_order_id + lo, layout.first_order_id + hi, dtype=np.int64)
    return OrderBlock(
        order_num,
        order_id,
        user_id,
        minute,
        cents,
        counts,
        days_since_prior,
        product_id,
        add_to_cart,
        reordered,
    )


def product_name(product_id: int | str, word_index: int) -> str:
    return f"Product_{product_id}_{WORDS[word_index % len(WORDS)]}"


def generate_products(seed: int, lo: int, hi: int) -> Columns:
    """Products lo+1..hi. Department names and ids are drawn independently, so an id does not
    map one-to-one to a name, as in the real catalogue."""
    n = hi - lo
    rng = rng_for(seed, _STREAM_PRODUCTS, lo // BLOCK_ORDERS)
    ids = np.arange(lo + 1, hi + 1, dtype=np.int64)
    department_ids = _uniform(rng, (1, DEPARTMENT_IDS), n)
    departments = [DEPARTMENTS[i] for i in _uniform(rng, (0, len(DEPARTMENTS) - 1), n).tolist()]
    words = _uniform(rng, (0, len(WORDS) - 1), n).tolist()
    names = [product_name(pid, w) for pid, w in zip(ids.tolist(), words, strict=True)]
    return Columns(n, (ids, department_ids, departments, names))


# --------------------------------------------------------------------------------------------
# Dirty rows: a deterministic plan of extra rows and the reasons they must be rejected for
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """A dirty row to plant: which cells to override on an otherwise clean extra row."""

    dataset: Dataset
    reasons: tuple[str, ...]
    overrides: Mapping[str, Override]


@dataclass(frozen=True)
class Plant:
    """A spec placed in the output: inserted right after clean row ``after`` of its sheet.

    For items, ``after`` is an order index: the row follows that order's items and belongs to
    it. ``key`` is the row's own id when the spec does not override it (orders, products).
    """

    number: int
    spec: Spec
    day_index: int  # -1 for products
    after: int
    key: int


@dataclass(frozen=True)
class Correction:
    """A later version of a clean order: same id and date, +2 hours, another amount."""

    day_index: int
    order_index: int  # within the day
    order_id: int
    values: tuple[Cell, ...]


@dataclass(frozen=True)
class Plan:
    plants: tuple[Plant, ...]
    correction: Correction | None


def _next_day(row: Mapping[str, Value]) -> Cell:
    return (dt.date.fromisoformat(str(row["date"])) + dt.timedelta(days=1)).isoformat()


def _previous_day(row: Mapping[str, Value]) -> Cell:
    return (dt.date.fromisoformat(str(row["date"])) - dt.timedelta(days=1)).isoformat()


def _hour_25(row: Mapping[str, Value]) -> Cell:
    return f"{row['date']}T25:61:00"


def _bad_minute(row: Mapping[str, Value]) -> Cell:
    return f"{row['date']}T12:3x:00"


def _other_user(row: Mapping[str, Value]) -> Cell:
    user = int(str(row["user_id"]))
    return USER_IDS[0] + (user - USER_IDS[0] + 1) % (USER_IDS[1] - USER_IDS[0] + 1)


_BEFORE_2000 = {"order_timestamp": "1999-12-31T23:59:00", "date": "1999-12-31"}
_AFTER_2100 = {"order_timestamp": "2100-01-02T00:00:00", "date": "2100-01-02"}


def few_specs(orphan_order: int) -> list[Spec]:
    """About six dirty rows over the three datasets, for the committed sample."""
    return [
        Spec("orders", ("total_amount.negative",), {"total_amount": -37.5}),
        Spec("orders", ("order_timestamp.unparseable",), {"order_timestamp": _hour_25}),
        Spec("order_items", ("reordered.not_0_or_1",), {"reordered": 2}),
        Spec("order_items", ("order_id.no_parent",), {"order_id": orphan_order}),
        Spec("order_items", ("user_id.differs_from_order",), {"user_id": _other_user}),
        Spec("products", ("product_name.empty",), {"product_name": ""}),
    ]


def _pairs(
    dataset: Dataset, code: str, column: str, first: Override, second: Override
) -> list[Spec]:
    return [Spec(dataset, (code,), {column: v}) for v in (first, second)]


def product_specs() -> list[Spec]:
    return [
        *_pairs("products", "product_id.null", "product_id", None, None),
        *_pairs("products", "product_id.not_integer", "product_id", "abc", "12x"),
        *_pairs("products", "department_id.not_integer", "department_id", "abc", "4x"),
        *_pairs("products", "product_name.empty", "product_name", "", ""),
        *_pairs("products", "department.empty", "department", "", ""),
        Spec(
            "products",
            ("department.empty", "product_name.empty"),
            {"department": "", "product_name": ""},
        ),
    ]


def order_specs() -> list[Spec]:
    o: Dataset = "orders"
    return [
        *_pairs(o, "order_id.null", "order_id", None, None),
        *_pairs(o, "order_id.not_integer", "order_id", "abc", "10x"),
        *_pairs(o, "user_id.null", "user_id", None, None),
        *_pairs(o, "user_id.not_integer", "user_id", "abc", "77x"),
        *_pairs(o, "order_timestamp.null", "order_timestamp", None, None),
        Spec(o, ("order_timestamp.unparseable",), {"order_timestamp": _hour_25}),
        Spec(o, ("order_timestamp.unparseable",), {"order_timestamp": _bad_minute}),
        Spec(o, ("order_timestamp.out_of_range",), _BEFORE_2000),
        Spec(o, ("order_timestamp.out_of_range",), _AFTER_2100),
        Spec(o, ("date.mismatch",), {"date": _next_day}),
        Spec(o, ("date.mismatch",), {"date": _previous_day}),
        *_pairs(o, "total_amount.null", "total_amount", None, None),
        *_pairs(o, "total_amount.not_numeric", "total_amount", "abc", "12.5x"),
        *_pairs(o, "total_amount.negative", "total_amount", -15.5, -0.01),
        Spec(
            o, ("total_amount.negative", "user_id.null"), {"user_id": None, "total_amount": -99.99}
        ),
    ]


def item_specs(
    orphan_order: int, rejected_order: int, rejected_product: int, ghost: int
) -> list[Spec]:
    i: Dataset = "order_items"
    return [
        *_pairs(i, "id.null", "id", None, None),
        *_pairs(i, "id.not_integer", "id", "abc", "5x"),
        *_pairs(i, "order_id.null", "order_id", None, None),
        *_pairs(i, "order_id.not_integer", "order_id", "abc", "10x"),
        *_pairs(i, "user_id.null", "user_id", None, None),
        *_pairs(i, "user_id.not_integer", "user_id", "abc", "77x"),
        *_pairs(i, "product_id.null", "product_id", None, None),
        *_pairs(i, "product_id.not_integer", "product_id", "abc", "3x"),
        Spec(i, ("order_timestamp.unparseable",), {"order_timestamp": _hour_25}),
        Spec(i, ("order_timestamp.unparseable",), {"order_timestamp": _bad_minute}),
        Spec(i, ("order_timestamp.out_of_range",), _BEFORE_2000),
        Spec(i, ("order_timestamp.out_of_range",), _AFTER_2100),
        Spec(i, ("date.mismatch",), {"date": _next_day}),
        Spec(i, ("date.mismatch",), {"date": _previous_day}),
        *_pairs(i, "reordered.not_0_or_1", "reordered", 2, -1),
        *_pairs(i, "add_to_cart_order.below_1", "add_to_cart_order", 0, -2),
        *_pairs(i, "add_to_cart_order.not_integer", "add_to_cart_order", "abc", "2x"),
        *_pairs(i, "days_since_prior_order.out_of_range", "days_since_prior_order", 366, -1),
        *_pairs(i, "days_since_prior_order.not_integer", "days_since_prior_order", "abc", "7x"),
        Spec(i, ("order_id.no_parent",), {"order_id": orphan_order}),
        Spec(i, ("order_id.no_parent",), {"order_id": rejected_order}),
        Spec(i, ("product_id.no_parent",), {"product_id": ghost}),
        Spec(i, ("product_id.no_parent",), {"product_id": rejected_product}),
        *_pairs(i, "user_id.differs_from_order", "user_id", _other_user, _other_user),
        Spec(
            i,
            (
                "days_since_prior_order.out_of_range",
                "product_id.not_integer",
                "reordered.not_0_or_1",
            ),
            {"product_id": "3x", "reordered": 2, "days_since_prior_order": 366},
        ),
    ]


def _first_key_of(plants: Sequence[Plant], reasons: tuple[str, ...]) -> int:
    return next(p.key for p in plants if p.spec.reasons == reasons)


def make_plan(config: Config, layouts: Sequence[DayLayout]) -> Plan:
    """Place the dirty rows and the late correction; nothing here depends on the clean data
    except the correction, which redraws the first block of its day to pick a clean order."""
    if config.dirty == "none":
        return Plan((), None)
    rng = rng_for(config.seed, _STREAM_PLAN)
    active = [d.index for d in layouts if d.n_orders > 0]
    # dirty orders get ids after the clean ones
    next_order_key = config.first_order_id + config.orders
    orphan_order = next_order_key + 100_000  # an id that no order row carries
    ghost_product = config.products + 100_000  # an id that no product row carries
    plants: list[Plant] = []

    def place(specs: Sequence[Spec]) -> None:
        nonlocal next_order_key
        for spec in specs:
            number = len(plants)
            if spec.dataset == "products":
                after = int(rng.integers(0, config.products))
                key = config.products + 1 + sum(p.spec.dataset == "products" for p in plants)
                plants.append(Plant(number, spec, -1, after, key))
                continue
            day_index = active[int(rng.integers(0, len(active)))]
            after = int(rng.integers(0, layouts[day_index].n_orders))
            key = next_order_key if spec.dataset == "orders" else 0
            next_order_key += spec.dataset == "orders"
            plants.append(Plant(number, spec, day_index, after, key))

    if config.dirty == "few":
        place(few_specs(orphan_order))
    else:
        place(product_specs())
        place(order_specs())
        rejected_order = _first_key_of(plants, ("total_amount.negative",))
        rejected_product = _first_key_of(plants, ("department.empty",))
        items = item_specs(orphan_order, rejected_order, rejected_product, ghost_product)
        place(items)
    correction_day = active[int(rng.integers(0, len(active)))]
    return Plan(tuple(plants), make_correction(config, layouts[correction_day]))


def make_correction(config: Config, layout: DayLayout) -> Correction | None:
    """Re-issue the first order of the day that can move two hours later within its date."""
    block = generate_block(config.seed, layout, 0, config.products)
    latest = MINUTES_PER_DAY - 1 - CORRECTION_MINUTES
    candidates = np.flatnonzero(block.minute <= latest)
    if len(candidates) == 0:
        candidates = np.flatnonzero(block.minute < MINUTES_PER_DAY - 1)
        if len(candidates) == 0:
            return None
    i = int(candidates[0])
    minute = min(int(block.minute[i]) + CORRECTION_MINUTES, MINUTES_PER_DAY - 1)
    cents = int(block.cents[i])
    cents = cents + 1_000 if cents + 1_000 <= AMOUNT_CENTS[1] else cents - 1_000
    order_id = int(block.order_id[i])
    values: tuple[Cell, ...] = (
        int(block.order_num[i]),
        order_id,
        int(block.user_id[i]),
        timestamp_text(layout.day, minute),
        cents / 100,
        layout.day.isoformat(),
    )
    return Correction(layout.index, i, order_id, values)


def timestamp_text(day: dt.date, minute: int) -> str:
    return f"{day.isoformat()}T{_HHMM[minute]}"


def _apply(base: dict[str, Value], overrides: Mapping[str, Override]) -> list[Value]:
    """Overrides see the clean base row, so e.g. a mismatching date is derived from its own."""
    row = dict(base)
    for column, override in overrides.items():
        row[column] = override(base) if callable(override) else override
    return list(row.values())


def dirty_order_row(config: Config, plant: Plant, day: dt.date) -> list[Value]:
    rng = rng_for(config.seed, _STREAM_PLANT, plant.number)
    base: dict[str, Value] = {
        "order_num": int(_uniform(rng, ORDER_NUMS, 1)[0]),
        "order_id": plant.key,
        "user_id": int(_uniform(rng, USER_IDS, 1)[0]),
        "order_timestamp": timestamp_text(day, int(_uniform(rng, (0, MINUTES_PER_DAY - 1), 1)[0])),
        "total_amount": int(_uniform(rng, AMOUNT_CENTS, 1)[0]) / 100,
        "date": day.isoformat(),
    }
    return _apply(base, plant.spec.overrides)


def dirty_item_row(
    config: Config, plant: Plant, day: dt.date, block: OrderBlock, i: int
) -> list[Value]:
    """An extra item of clean order ``i`` of the block (with a fresh id from the sequence)."""
    rng = rng_for(config.seed, _STREAM_PLANT, plant.number)
    base: dict[str, Value] = {
        "id": Marker.NEXT_ID,
        "order_id": int(block.order_id[i]),
        "user_id": int(block.user_id[i]),
        "days_since_prior_order": int(_uniform(rng, DAYS_SINCE_PRIOR, 1)[0]),
        "product_id": int(_uniform(rng, (1, config.products), 1)[0]),
        "add_to_cart_order": int(block.item_counts[i]) + 1,
        "reordered": int(_uniform(rng, (0, 1), 1)[0]),
        "order_timestamp": timestamp_text(day, int(block.minute[i])),
        "date": day.isoformat(),
    }
    return _apply(base, plant.spec.overrides)


def dirty_product_row(config: Config, plant: Plant) -> list[Value]:
    rng = rng_for(config.seed, _STREAM_PLANT, plant.number)
    base: dict[str, Value] = {
        "product_id": plant.key,
        "department_id": int(_uniform(rng, (1, DEPARTMENT_IDS), 1)[0]),
        "department": DEPARTMENTS[int(_uniform(rng, (0, len(DEPARTMENTS) - 1), 1)[0])],
        "product_name": product_name(plant.key, int(_uniform(rng, (0, len(WORDS) - 1), 1)[0])),
    }
    return _apply(base, plant.spec.overrides)


# --------------------------------------------------------------------------------------------
# Sinks: one sheet (xlsx) or one file (csv) receiving clean blocks and single extra rows
# --------------------------------------------------------------------------------------------


class IdSequence:
    """The item id sequence, shared by all sheets so ids run on across days and months."""

    def __init__(self, first: int = 1) -> None:
        self.next = first

    def take(self, n: int) -> int:
        first = self.next
        self.next += n
        return first


class RowSink(Protocol):
    """Where rows go. ``next_row`` is the row number (header = 1) the next row will get."""

    next_row: int

    def write_clean(self, columns: Columns) -> None: ...

    def write_row(self, values: Sequence[Value]) -> int: ...

    def close(self) -> None: ...


def _check_no_separator(values: Sequence[str]) -> None:
    if any(("," in v or '"' in v or "\n" in v) for v in values):
        raise ValueError("text written unquoted must not contain commas, quotes or newlines")


class CsvSink:
    """A CSV file with the real products.csv conventions: UTF-8, LF, no quoting, no index."""

    def __init__(
        self,
        path: Path,
        header: Sequence[str],
        kinds: Sequence[Kind],
        day: dt.date | None,
        ids: IdSequence | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file, lineterminator="\n")
        self._kinds = tuple(kinds)
        self._day = day
        self._ids = ids
        self._template = self._make_template()
        self._file.write(",".join(header) + "\n")
        self.next_row = 2
        self.rows = 0

    def _make_template(self) -> str:
        parts = []
        k = 0
        for kind in self._kinds:
            if kind == "date":
                parts.append(self._day.isoformat() if self._day else "")
                continue
            if kind == "ts":
                parts.append(f"{self._day.isoformat() if self._day else ''}T{{{k}}}")
            elif kind == "amount":
                parts.append(f"{{{k}}}.{{{k + 1}:02d}}")
                k += 1
            else:
                parts.append(f"{{{k}}}")
            k += 1
        return ",".join(parts) + "\n"

    def _arguments(self, columns: Columns) -> list[list[object]]:
        args: list[list[object]] = []
        for kind, data in zip(self._kinds, columns.data, strict=True):
            if kind == "date":
                continue
            if kind == "seq":
                assert self._ids is not None
                first = self._ids.take(columns.n)
                args.append(list(range(first, first + columns.n)))
            elif kind == "ts":
                args.append(_HHMM[np.asarray(data)].tolist())
            elif kind == "amount":
                dollars, cents = np.divmod(np.asarray(data), 100)
                args.extend([dollars.tolist(), cents.tolist()])
            elif kind == "text":
                assert isinstance(data, list)
                _check_no_separator(data)
                args.append(list(data))
            else:
                args.append(np.asarray(data).tolist())
        return args

    def write_clean(self, columns: Columns) -> None:
        for lo in range(0, columns.n, WRITE_ROWS):
            part = columns.slice(lo, min(lo + WRITE_ROWS, columns.n))
            self._file.write("".join(map(self._template.format, *self._arguments(part))))
            self.next_row += part.n
            self.rows += part.n

    def write_row(self, values: Sequence[Value]) -> int:
        self._writer.writerow([self._csv_text(v) for v in values])
        self.next_row += 1
        self.rows += 1
        return self.next_row - 1

    def _csv_text(self, value: Value) -> str:
        if value is Marker.NEXT_ID:
            assert self._ids is not None
            return str(self._ids.take(1))
        if value is None:
            return ""
        if isinstance(value, float):
            return f"{value:.2f}"  # floats are amounts
        return str(value)

    def close(self) -> None:
        self._file.close()


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class SharedStrings:
    """The workbook's shared-strings table (as Excel writes it; the real files use one)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.count = 0

    def add(self, text: str) -> int:
        self.count += 1
        return self.index.setdefault(text, len(self.index))

    def chunks(self) -> Iterator[str]:
        yield (
            f'{_XML_DECLARATION}<sst xmlns="{_NS_MAIN}" count="{self.count}" '
            f'uniqueCount="{len(self.index)}">'
        )
        texts = list(self.index)
        for lo in range(0, len(texts), WRITE_ROWS):
            yield "".join(f"<si><t>{escape(t)}</t></si>" for t in texts[lo : lo + WRITE_ROWS])
        yield "</sst>"


_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

_STYLES = (
    f'{_XML_DECLARATION}<styleSheet xmlns="{_NS_MAIN}">'
    '<fonts count="2"><font><sz val="11"/><color theme="1"/><name val="Calibri"/>'
    '<family val="2"/><scheme val="minor"/></font><font><b/><sz val="11"/><color theme="1"/>'
    '<name val="Calibri"/><family val="2"/><scheme val="minor"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left style="thin"><color auto="1"/></left><right style="thin"><color auto="1"/>'
    '</right><top style="thin"><color auto="1"/></top><bottom style="thin"><color auto="1"/>'
    "</bottom><diagonal/></border></borders>"
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="1" xfId="0" applyFont="1" applyBorder="1"'
    ' applyAlignment="1"><alignment horizontal="center" vertical="top"/></xf></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


class XlsxSheet:
    """One worksheet, streamed into its zip entry as blocks of rows arrive."""

    def __init__(
        self,
        book: XlsxWorkbook,
        stream: IO[bytes],
        header: Sequence[str],
        kinds: Sequence[Kind],
        day: dt.date,
        n_rows: int,
        ids: IdSequence | None,
    ) -> None:
        self._book = book
        self._stream = stream
        self._kinds = tuple(kinds)
        self._day = day
        self._ids = ids
        self._declared = n_rows
        self._width = len(header)
        self._spans = f"1:{self._width}"
        self._letters = [_column_letter(i) for i in range(self._width)]
        self._minute_index = np.full(MINUTES_PER_DAY, -1, dtype=np.int64)
        self._template = self._make_template()
        last = f"{self._letters[-1]}{n_rows + 1}"
        first_sheet = ' tabSelected="1"' if book.sheet_count == 1 else ""
        self._write(
            f'{_XML_DECLARATION}<worksheet xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}">'
            f'<dimension ref="A1:{last}"/><sheetViews><sheetView{first_sheet} workbookViewId="0"/>'
            '</sheetViews><sheetFormatPr defaultRowHeight="15"/><sheetData>'
        )
        cells = "".join(
            f'<c r="{letter}1" s="1" t="s"><v>{book.strings.add(name)}</v></c>'
            for letter, name in zip(self._letters, header, strict=True)
        )
        self._write(f'<row r="1" spans="{self._spans}">{cells}</row>')
        self.next_row = 2
        self.rows = 0

    def _make_template(self) -> str:
        """A str.format template for a whole row: {0} is the row number, then one per value."""
        cells = []
        k = 1
        for letter, kind in zip(self._letters, self._kinds, strict=True):
            if kind == "date":
                cells.append(f'<c r="{letter}{{0}}" t="s"><v>{self._date_index()}</v></c>')
                continue
            string = ' t="s"' if kind in ("ts", "text") else ""
            cells.append(f'<c r="{letter}{{0}}"{string}><v>{{{k}}}</v></c>')
            k += 1
        return f'<row r="{{0}}" spans="{self._spans}">{"".join(cells)}</row>'

    def _date_index(self) -> int:
        return self._book.strings.index.setdefault(
            self._day.isoformat(), len(self._book.strings.index)
        )

    def _timestamp_indexes(self, minutes: IntArray) -> list[int]:
        """Shared-string indexes of the block's timestamps (at most 1,440 texts a day)."""
        lookup = self._minute_index
        for minute in np.unique(minutes[lookup[minutes] < 0]).tolist():
            lookup[minute] = self._book.strings.index.setdefault(
                timestamp_text(self._day, minute), len(self._book.strings.index)
            )
        indexes: list[int] = lookup[minutes].tolist()
        return indexes

    def _arguments(self, columns: Columns) -> list[list[object]]:
        args: list[list[object]] = [list(range(self.next_row, self.next_row + columns.n))]
        strings = self._book.strings
        for kind, data in zip(self._kinds, columns.data, strict=True):
            if kind == "date":
                strings.count += columns.n
            elif kind == "seq":
                assert self._ids is not None
                first = self._ids.take(columns.n)
                args.append(list(range(first, first + columns.n)))
            elif kind == "ts":
                args.append(list(self._timestamp_indexes(np.asarray(data))))
                strings.count += columns.n
            elif kind == "amount":
                args.append((np.asarray(data) / 100).tolist())
            elif kind == "text":
                assert isinstance(data, list)
                args.append([strings.add(t) for t in data])
            else:
                args.append(np.asarray(data).tolist())
        return args

    def _write(self, text: str) -> None:
        self._stream.write(text.encode("utf-8"))

    def write_clean(self, columns: Columns) -> None:
        for lo in range(0, columns.n, WRITE_ROWS):
            part = columns.slice(lo, min(lo + WRITE_ROWS, columns.n))
            self._write("".join(map(self._template.format, *self._arguments(part))))
            self.next_row += part.n
            self.rows += part.n

    def write_row(self, values: Sequence[Value]) -> int:
        """One row cell by cell: None and "" become absent cells, as Excel stores blanks."""
        row = self.next_row
        cells = []
        for letter, value in zip(self._letters, values, strict=True):
            if value is Marker.NEXT_ID:
                assert self._ids is not None
                value = self._ids.take(1)
            if value is None or value == "":
                continue
            if isinstance(value, str):
                cells.append(
                    f'<c r="{letter}{row}" t="s"><v>{self._book.strings.add(value)}</v></c>'
                )
            else:
                cells.append(f'<c r="{letter}{row}"><v>{value!r}</v></c>')
        self._write(f'<row r="{row}" spans="{self._spans}">{"".join(cells)}</row>')
        self.next_row += 1
        self.rows += 1
        return row

    def close(self) -> None:
        if self.rows != self._declared:
            raise RuntimeError(
                f"sheet {self._day}: wrote {self.rows} rows, declared {self._declared}"
            )
        self._write(
            '</sheetData><pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" '
            'header="0.3" footer="0.3"/></worksheet>'
        )
        self._stream.close()


class XlsxWorkbook:
    """A minimal SpreadsheetML package written sheet by sheet with fixed zip timestamps."""

    def __init__(self, path: Path, created: dt.datetime) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
        self._created = created
        self.strings = SharedStrings()
        self.sheet_names: list[str] = []
        self._open: XlsxSheet | None = None

    @property
    def sheet_count(self) -> int:
        return len(self.sheet_names)

    def _entry(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.create_system = 3
        info.external_attr = 0o644 << 16
        return info

    def add_sheet(
        self,
        name: str,
        header: Sequence[str],
        kinds: Sequence[Kind],
        day: dt.date,
        n_rows: int,
        ids: IdSequence | None = None,
    ) -> XlsxSheet:
        if self._open is not None:
            self._open.close()
        self.sheet_names.append(name)
        entry = self._entry(f"xl/worksheets/sheet{self.sheet_count}.xml")
        large = n_rows * 100 * len(header) > 2**31  # zip64 header only where it may be needed
        stream = self._zip.open(entry, "w", force_zip64=large)
        self._open = XlsxSheet(self, stream, header, kinds, day, n_rows, ids)
        return self._open

    def _put(self, name: str, text: str) -> None:
        self._zip.writestr(self._entry(name), text.encode("utf-8"))

    def close(self) -> None:
        """Write the package parts that list the sheets, then the shared strings."""
        if self._open is not None:
            self._open.close()
        n = self.sheet_count
        self._put("[Content_Types].xml", _content_types(n))
        self._put("_rels/.rels", _root_rels())
        self._put("docProps/app.xml", _app_properties(self.sheet_names))
        self._put("docProps/core.xml", _core_properties(self._created))
        self._put("xl/workbook.xml", _workbook_xml(self.sheet_names))
        self._put("xl/_rels/workbook.xml.rels", _workbook_rels(n))
        self._put("xl/styles.xml", _STYLES)
        with self._zip.open(self._entry("xl/sharedStrings.xml"), "w") as stream:
            for chunk in self.strings.chunks():
                stream.write(chunk.encode("utf-8"))
        self._zip.close()


def _content_types(n_sheets: int) -> str:
    base = "application/vnd.openxmlformats-officedocument"
    sheets = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT_SHEET}"/>'
        for i in range(1, n_sheets + 1)
    )
    return (
        f'{_XML_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
        'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'{sheets}<Override PartName="/xl/workbook.xml" '
        f'ContentType="{base}.spreadsheetml.sheet.main+xml"/>'
        f'<Override PartName="/xl/sharedStrings.xml" '
        f'ContentType="{base}.spreadsheetml.sharedStrings+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{base}.spreadsheetml.styles+xml"/>'
        '<Override PartName="/docProps/core.xml" '
        'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
        f'<Override PartName="/docProps/app.xml" ContentType="{base}.extended-properties+xml"/>'
        "</Types>"
    )


def _root_rels() -> str:
    return (
        f'{_XML_DECLARATION}<Relationships xmlns="{_NS_PKG_REL}">'
        f'<Relationship Id="rId1" Type="{_NS_REL}/officeDocument" Target="xl/workbook.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
        'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
        f'<Relationship Id="rId3" Type="{_NS_REL}/extended-properties" '
        'Target="docProps/app.xml"/></Relationships>'
    )


def _app_properties(sheet_names: Sequence[str]) -> str:
    titles = "".join(f"<vt:lpstr>{escape(n)}</vt:lpstr>" for n in sheet_names)
    return (
        f'{_XML_DECLARATION}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/'
        '2006/extended-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/'
        '2006/docPropsVTypes"><Application>generate_sample_data.py</Application>'
        '<HeadingPairs><vt:vector size="2" baseType="variant"><vt:variant><vt:lpstr>Worksheets'
        f"</vt:lpstr></vt:variant><vt:variant><vt:i4>{len(sheet_names)}</vt:i4></vt:variant>"
        f'</vt:vector></HeadingPairs><TitlesOfParts><vt:vector size="{len(sheet_names)}" '
        f'baseType="lpstr">{titles}</vt:vector></TitlesOfParts></Properties>'
    )


def _core_properties(created: dt.datetime) -> str:
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'{_XML_DECLARATION}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/'
        'package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/'
        'XMLSchema-instance"><dc:creator>generate_sample_data.py</dc:creator>'
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{stamp}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{stamp}</dcterms:modified>'
        "</cp:coreProperties>"
    )


def _workbook_xml(sheet_names: Sequence[str]) -> str:
    sheets = "".join(
        f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>'
        for i, name in enumerate(sheet_names, start=1)
    )
    return (
        f'{_XML_DECLARATION}<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}">'
        "<bookViews><workbookView/></bookViews>"
        f'<sheets>{sheets}</sheets><calcPr calcId="124519" fullCalcOnLoad="1"/></workbook>'
    )


def _workbook_rels(n_sheets: int) -> str:
    rels = "".join(
        f'<Relationship Id="rId{i}" Type="{_NS_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, n_sheets + 1)
    )
    return (
        f'{_XML_DECLARATION}<Relationships xmlns="{_NS_PKG_REL}">{rels}'
        f'<Relationship Id="rId{n_sheets + 1}" Type="{_NS_REL}/styles" Target="styles.xml"/>'
        f'<Relationship Id="rId{n_sheets + 2}" Type="{_NS_REL}/sharedStrings" '
        'Target="sharedStrings.xml"/></Relationships>'
    )


# --------------------------------------------------------------------------------------------
# Writing: clean blocks with the planted rows inserted at their positions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Insert:
    """An extra row to write before clean row ``position`` of a block (0..n)."""

    position: int
    values: Sequence[Value]
    plant: Plant


def emit(
    sink: RowSink, columns: Columns, inserts: Sequence[Insert], track: int | None = None
) -> tuple[list[tuple[Plant, int]], int | None]:
    """Write a block with its inserts in place. Returns each insert's plant with the row number
    it really got, and the row number of clean row ``track`` (the order a correction replaces),
    so the manifest is taken from what was written rather than recomputed."""
    written: list[tuple[Plant, int]] = []
    tracked: int | None = None
    done = 0
    for insert in sorted(inserts, key=lambda i: (i.position, i.plant.number)):
        if track is not None and done <= track < insert.position:
            tracked = sink.next_row + track - done
        sink.write_clean(columns.slice(done, insert.position))
        done = insert.position
        written.append((insert.plant, sink.write_row(insert.values)))
    if track is not None and tracked is None:
        tracked = sink.next_row + track - done
    sink.write_clean(columns.slice(done, columns.n))
    return written, tracked


@dataclass
class Output:
    """What has been written so far: files, row counts and manifest entries."""

    files: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DATASETS, 0))
    quarantine: list[dict[str, object]] = field(default_factory=list)
    duplicates: list[dict[str, object]] = field(default_factory=list)

    def record(self, written: Sequence[tuple[Plant, int]], file: str, sheet: str | None) -> None:
        for plant, row in written:
            entry = {"dataset": plant.spec.dataset, "file": file, "sheet": sheet, "row": row}
            self.quarantine.append({**entry, "reasons": sorted(plant.spec.reasons)})

    def record_duplicate(self, key: int, file: str, sheet: str | None, row: int) -> None:
        """``row`` is the older occurrence, the one deduplication drops."""
        entry = {"dataset": "orders", "key": key, "file": file, "sheet": sheet, "row": row}
        self.duplicates.append({**entry, "kept": "latest"})


DATASETS: tuple[Dataset, ...] = ("products", "orders", "order_items")


def write_products(config: Config, plan: Plan, output: Output) -> None:
    name = "products.csv"
    sink = CsvSink(config.out / name, PRODUCT_COLUMNS, PRODUCT_KINDS, None)
    plants = [p for p in plan.plants if p.spec.dataset == "products"]
    for lo in range(0, config.products, BLOCK_ORDERS):
        hi = min(lo + BLOCK_ORDERS, config.products)
        mine = [p for p in plants if lo <= p.after < hi]
        inserts = [Insert(p.after - lo + 1, dirty_product_row(config, p), p) for p in mine]
        written, _ = emit(sink, generate_products(config.seed, lo, hi), inserts)
        output.record(written, name, None)
    sink.close()
    output.files.append(name)
    output.rows["products"] += sink.rows


@dataclass
class DaySinks:
    """The two sinks of one day and the names the manifest uses for them."""

    orders: RowSink
    items: RowSink
    orders_file: str
    items_file: str
    sheet: str | None


def block_inserts(
    config: Config, layout: DayLayout, block: OrderBlock, lo: int, plants: Sequence[Plant]
) -> tuple[list[Insert], list[Insert]]:
    """The block's planted order rows and item rows, each placed right after its order
    ``after`` (an item row after that order's items, as one more line of it)."""
    ends = block.item_ends
    orders, items = [], []
    for plant in plants:
        i = plant.after - lo
        if plant.spec.dataset == "orders":
            orders.append(Insert(i + 1, dirty_order_row(config, plant, layout.day), plant))
        else:
            row = dirty_item_row(config, plant, layout.day, block, i)
            items.append(Insert(int(ends[i]), row, plant))
    return orders, items


def write_day(
    config: Config, layout: DayLayout, plan: Plan, sinks: DaySinks, output: Output
) -> None:
    """Write one day's orders and items block by block, inserting the planted rows; the late
    correction goes last on the orders sheet."""
    plants = [p for p in plan.plants if p.day_index == layout.index]
    correction = plan.correction
    if correction is not None and correction.day_index != layout.index:
        correction = None
    for block_no, (lo, hi) in enumerate(layout.blocks):
        block = generate_block(config.seed, layout, block_no, config.products)
        mine = [p for p in plants if lo <= p.after < hi]
        order_inserts, item_inserts = block_inserts(config, layout, block, lo, mine)
        track = None
        if correction is not None and lo <= correction.order_index < hi:
            track = correction.order_index - lo
        written, tracked = emit(sinks.orders, block.order_columns(), order_inserts, track)
        output.record(written, sinks.orders_file, sinks.sheet)
        written, _ = emit(sinks.items, block.item_columns(), item_inserts)
        output.record(written, sinks.items_file, sinks.sheet)
        if correction is not None and tracked is not None:
            output.record_duplicate(correction.order_id, sinks.orders_file, sinks.sheet, tracked)
    if correction is not None:
        sinks.orders.write_row(correction.values)


def day_sheet_rows(layout: DayLayout, plan: Plan) -> tuple[int, int]:
    """Data rows of the day's orders and items sheets, planted rows included."""
    orders = layout.n_orders
    items = layout.n_items
    for plant in plan.plants:
        if plant.day_index == layout.index:
            orders += plant.spec.dataset == "orders"
            items += plant.spec.dataset == "order_items"
    if plan.correction and plan.correction.day_index == layout.index:
        orders += 1
    return orders, items


def choose_format(config: Config, layouts: Sequence[DayLayout], plan: Plan) -> Format:
    """Resolve ``auto`` and refuse xlsx when a day cannot fit in one worksheet."""
    largest = max(max(day_sheet_rows(d, plan)) for d in layouts)
    if config.format == "auto":
        return "csv" if largest > AUTO_CSV_ROWS else "xlsx"
    if config.format == "xlsx" and largest > XLSX_MAX_DATA_ROWS:
        raise ValueError(
            f"a day's sheet would hold {largest:,} rows, more than Excel's "
            f"{XLSX_MAX_DATA_ROWS:,}; use --format csv or auto"
        )
    return config.format


def month_name(day: dt.date) -> str:
    return f"{MONTHS[day.month - 1]}_{day.year}"


def write_xlsx_days(
    config: Config, layouts: Sequence[DayLayout], plan: Plan, output: Output
) -> None:
    """One orders and one items workbook per calendar month, one sheet per day."""
    ids = IdSequence(config.first_item_id)
    by_month: dict[str, list[DayLayout]] = {}
    for layout in layouts:
        by_month.setdefault(month_name(layout.day), []).append(layout)
    for month, days in by_month.items():
        created = dt.datetime.combine(days[-1].day + dt.timedelta(days=1), dt.time())
        orders_file, items_file = f"orders_{month}.xlsx", f"order_items_{month}.xlsx"
        orders_book = XlsxWorkbook(config.out / orders_file, created)
        items_book = XlsxWorkbook(config.out / items_file, created)
        for layout in days:
            sheet = layout.day.isoformat()
            n_orders, n_items = day_sheet_rows(layout, plan)
            orders = orders_book.add_sheet(sheet, ORDER_COLUMNS, ORDER_KINDS, layout.day, n_orders)
            items = items_book.add_sheet(sheet, ITEM_COLUMNS, ITEM_KINDS, layout.day, n_items, ids)
            write_day(
                config,
                layout,
                plan,
                DaySinks(orders, items, orders_file, items_file, sheet),
                output,
            )
            output.rows["orders"] += orders.rows
            output.rows["order_items"] += items.rows
        orders_book.close()
        items_book.close()
        output.files += [orders_file, items_file]


def write_csv_days(
    config: Config, layouts: Sequence[DayLayout], plan: Plan, output: Output
) -> None:
    """One orders and one items CSV per day, for days too large for a worksheet."""
    ids = IdSequence(config.first_item_id)
    for layout in layouts:
        day = layout.day.isoformat()
        orders_file, items_file = f"orders/orders_{day}.csv", f"order_items/order_items_{day}.csv"
        orders = CsvSink(config.out / orders_file, ORDER_COLUMNS, ORDER_KINDS, layout.day)
        items = CsvSink(config.out / items_file, ITEM_COLUMNS, ITEM_KINDS, layout.day, ids)
        write_day(
            config, layout, plan, DaySinks(orders, items, orders_file, items_file, None), output
        )
        orders.close()
        items.close()
        output.rows["orders"] += orders.rows
        output.rows["order_items"] += items.rows
        output.files += [orders_file, items_file]


def manifest(output: Output) -> dict[str, object]:
    """The expected quarantine, duplicates and row counts, in a stable order."""
    rank: dict[str, int] = {d: i for i, d in enumerate(DATASETS)}

    def key(entry: Mapping[str, object]) -> tuple[int, str, str, int]:
        return (
            rank[str(entry["dataset"])],
            str(entry["file"]),
            str(entry["sheet"] or ""),
            int(str(entry["row"])),
        )

    quarantine = sorted(output.quarantine, key=key)
    counts = {
        d: {
            "rows": output.rows[d],
            "quarantined": sum(e["dataset"] == d for e in quarantine),
            "duplicates": sum(e["dataset"] == d for e in output.duplicates),
        }
        for d in DATASETS
    }
    return {
        "quarantine": quarantine,
        "duplicates": sorted(output.duplicates, key=key),
        "counts": counts,
    }


@dataclass(frozen=True)
class Summary:
    format: Format
    files: tuple[str, ...]
    rows: Mapping[str, int]
    quarantined: int
    duplicates: int
    seconds: float


def generate(config: Config) -> Summary:
    """Write all files for ``config`` and the manifest; the entry point tests call."""
    started = time.perf_counter()
    layouts = layout_days(config)
    plan = make_plan(config, layouts)
    fmt = choose_format(config, layouts, plan)
    config.out.mkdir(parents=True, exist_ok=True)
    output = Output()
    write_products(config, plan, output)
    if fmt == "xlsx":
        write_xlsx_days(config, layouts, plan, output)
    else:
        write_csv_days(config, layouts, plan, output)
    document = manifest(output)
    (config.out / MANIFEST_NAME).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    output.files.append(MANIFEST_NAME)
    return Summary(
        fmt,
        tuple(output.files),
        dict(output.rows),
        len(output.quarantine),
        len(output.duplicates),
        time.perf_counter() - started,
    )


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(
            "Write deterministic sample source files (products.csv, orders_<mon>_<yyyy>.xlsx, "
            "order_items_<mon>_<yyyy>.xlsx, one sheet per day) in the format of the real April "
            f"2025 files, plus {MANIFEST_NAME} listing every planted dirty row."
        ),
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument(
        "--start", type=_date, default=dt.date(2025, 4, 1), help="first day (default 2025-04-01)"
    )
    parser.add_argument("--days", type=_positive, default=7, help="number of days (default 7)")
    parser.add_argument(
        "--orders",
        type=_positive,
        default=420,
        help="total orders, spread evenly over the days (default 420)",
    )
    parser.add_argument(
        "--products", type=_positive, default=1_000, help="number of products (default 1000)"
    )
    parser.add_argument("--seed", type=_non_negative, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--first-order-id",
        type=_positive,
        default=FIRST_ORDER_ID,
        help=f"first order id (default {FIRST_ORDER_ID:,}); continue an earlier batch's ids",
    )
    parser.add_argument(
        "--first-item-id",
        type=_positive,
        default=1,
        help="first order item id (default 1); continue an earlier batch's ids",
    )
    parser.add_argument(
        "--format",
        choices=("xlsx", "csv", "auto"),
        default="auto",
        help=(
            "xlsx: monthly workbooks with daily sheets; csv: one file per day and dataset under "
            f"orders/ and order_items/; auto (default): xlsx unless a day's sheet would exceed "
            f"{AUTO_CSV_ROWS:,} rows"
        ),
    )
    parser.add_argument(
        "--dirty",
        choices=("none", "few", "every-rule"),
        default="few",
        help=(
            "planted dirty rows: none; few (default: about six, plus one late correction); "
            "every-rule (each rejection reason twice, plus three rows with several reasons)"
        ),
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = Config(
        out=args.out,
        start=args.start,
        days=args.days,
        orders=args.orders,
        products=args.products,
        seed=args.seed,
        format=args.format,
        dirty=args.dirty,
        first_order_id=args.first_order_id,
        first_item_id=args.first_item_id,
    )
    try:
        summary = generate(config)
    except ValueError as error:
        print(f"generate_sample_data: {error}", file=sys.stderr)
        return 2
    rows = summary.rows
    print(
        f"generate_sample_data: {len(summary.files)} files ({summary.format}) in {config.out}: "
        f"{rows['orders']:,} order rows, {rows['order_items']:,} item rows, "
        f"{rows['products']:,} product rows, {summary.quarantined} planted dirty, "
        f"{summary.duplicates} duplicate; {summary.seconds:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
