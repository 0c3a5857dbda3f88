"""Chart geometry for the HTML reports (pure): grouped bar charts and a heat map, as shapes
that the template draws as inline SVG. Every text stays plain data: the template escapes it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BAR = 14  # px, one bar's width
GAP = 10  # px between groups
PLOT_HEIGHT = 140  # px, the height of 100 %
LEFT = 36  # px, room for the axis labels
BOTTOM = 64  # px, room for the (rotated) group labels
CELL = 44  # px, a heat map cell at most
HEAT_MAX = 640  # px, the heat map's largest side
SERIES_CLASSES = ("s0", "s1", "s2", "s3")


@dataclass(frozen=True)
class Shape:
    x: float
    y: float
    w: float
    h: float
    css: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"
    rotate: bool = False


@dataclass(frozen=True)
class Chart:
    width: float
    height: float
    shapes: tuple[Shape, ...]
    labels: tuple[Label, ...]
    ticks: tuple[Label, ...] = ()
    grid: tuple[float, ...] = ()  # y of the horizontal grid lines
    legend: tuple[tuple[str, str], ...] = ()  # (css class, series name)
    kind: str = "bars"


def bar_chart(groups: Sequence[tuple[str, Sequence[float | None]]], series: Sequence[str]) -> Chart:
    """Grouped bars, one group per tag, one bar per series, values 0..1 (None: no bar)."""
    step = BAR * len(series) + GAP
    width = LEFT + step * max(1, len(groups)) + GAP
    base = 8 + PLOT_HEIGHT
    shapes, labels = [], []
    for g, (name, values) in enumerate(groups):
        x0 = LEFT + GAP + g * step
        for s, value in enumerate(values):
            if value is None:
                continue
            h = max(0.0, min(1.0, value)) * PLOT_HEIGHT
            shapes.append(
                Shape(
                    x0 + s * BAR,
                    base - h,
                    BAR - 2,
                    h,
                    SERIES_CLASSES[s % len(SERIES_CLASSES)],
                    f"{name}: {series[s]} {value:.1%}",
                )
            )
        labels.append(Label(x0 + BAR * len(series) / 2, base + 12, name, "end", rotate=True))
    ticks = tuple(
        Label(LEFT - 4, base - f * PLOT_HEIGHT + 4, f"{f:.0%}", "end") for f in (0, 0.5, 1)
    )
    return Chart(
        width=width,
        height=base + BOTTOM,
        shapes=tuple(shapes),
        labels=tuple(labels),
        ticks=ticks,
        grid=tuple(base - f * PLOT_HEIGHT for f in (0.25, 0.5, 0.75, 1.0)),
        legend=tuple(
            (SERIES_CLASSES[s % len(SERIES_CLASSES)], name) for s, name in enumerate(series)
        ),
    )


def heat_map(tags: Sequence[str], matrix: Sequence[Sequence[int]]) -> Chart:
    """A confusion matrix: rows are labels, columns predictions; a cell's shade is its share
    of its row (the diagonal in green, the errors in red), its count written on it."""
    n = max(1, len(tags))
    cell = max(8.0, min(float(CELL), HEAT_MAX / n))
    left = 8.0 + 7.0 * min(24, max((len(t) for t in tags), default=1))  # the row labels
    top = 8.0 + 5.0 * min(24, max((len(t) for t in tags), default=1))  # the column labels
    shapes, labels = [], []
    for r, row in enumerate(matrix):
        total = sum(row) or 1
        for c, count in enumerate(row):
            share = count / total
            level = 0 if count == 0 else min(5, 1 + int(share * 5))
            kind = "hit" if r == c else "miss"
            x, y = left + c * cell, top + r * cell
            title = f"label {tags[r]}, predicted {tags[c]}: {count} ({share:.0%} of the row)"
            shapes.append(Shape(x, y, cell - 1, cell - 1, f"{kind}{level}", title))
            if cell >= 20:
                labels.append(Label(x + cell / 2, y + cell / 2 + 4, str(count)))
    for k, tag in enumerate(tags):
        labels.append(Label(left - 6, top + k * cell + cell / 2 + 4, tag, "end"))
        labels.append(Label(left + k * cell + cell / 2, top - 6, tag, "start", rotate=True))
    width = left + n * cell + top  # the last column's label leans right as far as it rises
    return Chart(width, top + n * cell + 8, tuple(shapes), tuple(labels), kind="heat")
