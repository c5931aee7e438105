"""Small inline SVG charts: columns with lines, horizontal bars and 100% stacked columns.

Pure functions from numbers to SVG text, so that the dashboard is one self-contained HTML file
(no JavaScript, no fonts or scripts from elsewhere). Every mark carries a `<title>` tooltip and
every axis can carry a title. A chart needs at least one category: the caller shows a sentence
instead of an empty chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#2563eb",
    "#f59e0b",
    "#10b981",
    "#ef4444",
    "#8b5cf6",
    "#06b6d4",
    "#ec4899",
    "#84cc16",
    "#64748b",
)
AXIS = "#94a3b8"
GRID = "#e2e8f0"
TEXT = "#334155"


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float, ...]
    color: str


def nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above `value` (1 for nothing to show)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-9):
            return float(step * power)
    return float(10 * power)


def intervals(top: float) -> int:
    """How many grid intervals divide a `nice_max` evenly: 5 for 5 and 2.5 × 10^k, else 4."""
    leading = top / 10 ** math.floor(math.log10(top)) if top > 0 else 1.0
    return 5 if round(leading, 6) in (5.0, 2.5) else 4


def compact(value: float) -> str:
    """16446.18 → 16.4k, 1250000 → 1.25M, 0.5 → 0.5, 12 → 12."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    if magnitude >= 100 or value == int(value):
        return f"{value:.0f}"
    return f"{value:.3g}"


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, content: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" fill="{TEXT}"'
        f' font-size="11"{extra}>{escape(content)}</text>'
    )


def _axis_title(x: float, y: float, content: str, *, vertical: bool = False) -> str:
    """An axis title: bold, centred on (x, y), turned a quarter left for a vertical axis."""
    if not content:
        return ""
    turn = f' transform="rotate(-90 {_num(x)} {_num(y)})"' if vertical else ""
    return _text(x, y, content, "middle", f' font-weight="600"{turn}')


def _svg(width: int, height: int, label: str, parts: list[str]) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
        f' aria-label="{escape(label)}" style="max-width: 100%; height: auto">'
        + "".join(parts)
        + "</svg>"
    )


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for item in series:
        parts.append(
            f'<rect x="{_num(x)}" y="{_num(y - 9)}" width="10" height="10" fill="{item.color}"/>'
        )
        parts.append(_text(x + 14, y, item.name))
        x += 26 + 6.5 * len(item.name)
    return parts


def _every(count: int, room: float, per_label: float) -> int:
    """Show every n-th category label so that labels do not overlap."""
    return max(1, math.ceil(count * per_label / room)) if count else 1


@dataclass(frozen=True)
class _Plot:
    """The geometry of a column chart: margins, plot area and the categories' band."""

    left: float
    top: float
    width: float
    height: float
    count: int

    @property
    def band(self) -> float:
        return self.width / max(self.count, 1)

    def x_mid(self, i: int) -> float:
        return self.left + self.band * (i + 0.5)

    def y_of(self, value: float, scale: float) -> float:
        return self.top + self.height * (1 - value / scale)


def _grid(plot: _Plot, top_value: float, right_top: float | None) -> list[str]:
    parts = []
    steps = intervals(top_value)
    for k in range(steps + 1):
        tick = top_value * k / steps
        y = plot.y_of(tick, top_value)
        parts.append(
            f'<line x1="{plot.left}" x2="{plot.left + plot.width}" y1="{_num(y)}" '
            f'y2="{_num(y)}" stroke="{GRID}"/>'
        )
        parts.append(_text(plot.left - 6, y + 4, compact(tick), "end"))
        if right_top is not None:
            right_tick = compact(right_top * k / steps)
            parts.append(_text(plot.left + plot.width + 6, y + 4, right_tick, "start"))
    return parts


def _columns(
    plot: _Plot, labels: Sequence[str], bars: Series, scale: float, shown: Callable[[float], str]
) -> list[str]:
    bar_w = plot.band * 0.7
    parts = []
    for i, (name, value) in enumerate(zip(labels, bars.values, strict=True)):
        y = plot.y_of(value, scale)
        parts.append(
            f'<rect x="{_num(plot.x_mid(i) - bar_w / 2)}" y="{_num(y)}" width="{_num(bar_w)}" '
            f'height="{_num(plot.top + plot.height - y)}" fill="{bars.color}">'
            f"<title>{escape(f'{name} {bars.name}: {shown(value)}')}</title></rect>"
        )
    return parts


def _line(
    plot: _Plot,
    labels: Sequence[str],
    series: Series,
    scale: float,
    shown: Callable[[float], str],
    dashed: bool,
) -> list[str]:
    points = [(plot.x_mid(i), plot.y_of(v, scale)) for i, v in enumerate(series.values)]
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    parts = [
        f'<polyline fill="none" stroke="{series.color}" stroke-width="2"{dash} points="'
        + " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
        + '"/>'
    ]
    for (x, y), name, value in zip(points, labels, series.values, strict=True):
        parts.append(
            f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3" fill="{series.color}">'
            f"<title>{escape(f'{name} {series.name}: {shown(value)}')}</title></circle>"
        )
    return parts


def _x_axis(plot: _Plot, labels: Sequence[str]) -> list[str]:
    step = _every(len(labels), plot.width, 44)
    bottom = plot.top + plot.height
    parts = [
        _text(plot.x_mid(i), bottom + 16, name, "middle")
        for i, name in enumerate(labels)
        if i % step == 0
    ]
    parts.append(
        f'<line x1="{plot.left}" x2="{plot.left + plot.width}" y1="{bottom}" '
        f'y2="{bottom}" stroke="{AXIS}"/>'
    )
    return parts


def column_chart(
    labels: Sequence[str],
    bars: Series,
    lines: Sequence[Series] = (),
    right: Series | None = None,
    *,
    label: str,
    value_text: Callable[[float], str] = compact,
    x_title: str = "",
    y_title: str = "",
    right_title: str = "",
    width: int = 720,
    height: int = 300,
) -> str:
    """Columns per category, optional lines on the same axis and one line on a right axis."""
    if not labels:
        raise ValueError(f"{label}: no categories to draw")
    left = 72 if y_title else 56
    right_margin = (72 if right_title else 56) if right else 16
    top, bottom = 34, 56 if x_title else 40
    plot = _Plot(left, top, width - left - right_margin, height - top - bottom, len(labels))
    top_value = nice_max(max([*bars.values, *(v for s in lines for v in s.values), 0.0]))
    right_top = nice_max(max([*right.values, 0.0])) if right else None
    parts = _legend([bars, *lines, *([right] if right else [])], left, 14)
    parts += _grid(plot, top_value, right_top)
    parts += _columns(plot, labels, bars, top_value, value_text)
    for series in lines:
        parts += _line(plot, labels, series, top_value, value_text, dashed=False)
    if right is not None and right_top is not None:
        parts += _line(plot, labels, right, right_top, compact, dashed=True)
    parts += _x_axis(plot, labels)
    middle = plot.top + plot.height / 2
    parts.append(_axis_title(plot.left + plot.width / 2, height - 8, x_title))
    parts.append(_axis_title(14, middle, y_title, vertical=True))
    if right:
        parts.append(_axis_title(width - 10, middle, right_title, vertical=True))
    return _svg(width, height, label, parts)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    label: str,
    color: str = PALETTE[0],
    value_text: Callable[[float], str] = compact,
    category_title: str = "",
    value_title: str = "",
    width: int = 720,
    label_width: int = 210,
    row_height: int = 22,
) -> str:
    """One horizontal bar per label, in the order given, value printed at the end; the titles
    head the label column and the bars like a table header."""
    if not labels:
        raise ValueError(f"{label}: no categories to draw")
    top = 24 if category_title or value_title else 6
    height = top + row_height * len(labels) + 6
    plot_w = width - label_width - 70
    scale = nice_max(max([*values, 0.0]))
    parts = []
    if category_title:
        parts.append(_text(label_width - 8, 14, category_title, "end", ' font-weight="600"'))
    if value_title:
        parts.append(_text(label_width, 14, value_title, "start", ' font-weight="600"'))
    for i, (name, value) in enumerate(zip(labels, values, strict=True)):
        y = top + row_height * i
        fits = int(label_width / 6.2)
        shown = name if len(name) <= fits else name[: fits - 1] + "…"
        bar = plot_w * value / scale
        parts.append(_text(label_width - 8, y + row_height * 0.65, shown, "end"))
        parts.append(
            f'<rect x="{label_width}" y="{_num(y + 3)}" width="{_num(max(bar, 1))}" '
            f'height="{row_height - 6}" fill="{color}" rx="2">'
            f"<title>{escape(f'{name}: {value_text(value)}')}</title></rect>"
        )
        parts.append(_text(label_width + bar + 6, y + row_height * 0.65, value_text(value)))
    return _svg(width, height, label, parts)


def stacked_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    label: str,
    x_title: str = "",
    y_title: str = "",
    width: int = 720,
    height: int = 300,
) -> str:
    """100% stacked columns: each column shows how the series split that category."""
    if not labels:
        raise ValueError(f"{label}: no categories to draw")
    left_margin, right_margin, top = (64 if y_title else 48), 16, 34
    bottom = 56 if x_title else 40
    plot_w, plot_h = width - left_margin - right_margin, height - top - bottom
    band = plot_w / len(labels)
    bar_w = band * 0.75
    parts = _legend(series, left_margin, 14)
    for k in range(5):
        y = top + plot_h * (1 - k / 4)
        parts.append(_text(left_margin - 6, y + 4, f"{25 * k}%", "end"))
    for i, name in enumerate(labels):
        total = sum(s.values[i] for s in series)
        base = float(top + plot_h)
        x = left_margin + band * i + (band - bar_w) / 2
        for item in series:
            share = item.values[i] / total if total else 0.0
            h = plot_h * share
            base -= h
            parts.append(
                f'<rect x="{_num(x)}" y="{_num(base)}" width="{_num(bar_w)}" '
                f'height="{_num(h)}" fill="{item.color}">'
                f"<title>{escape(f'{name} {item.name}: {percent(share)}')}</title></rect>"
            )
    step = _every(len(labels), plot_w, 44)
    for i, name in enumerate(labels):
        if i % step == 0:
            parts.append(_text(left_margin + band * (i + 0.5), top + plot_h + 16, name, "middle"))
    parts.append(_axis_title(left_margin + plot_w / 2, height - 8, x_title))
    parts.append(_axis_title(14, top + plot_h / 2, y_title, vertical=True))
    return _svg(width, height, label, parts)
