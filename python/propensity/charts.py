"""Tiny deterministic inline-SVG charts for the model card: lines, bars, reliability diagrams.

Every chart is a string holding one ``<svg>`` element (no namespace URL, no script), with
axes, ticks, axis labels and a legend to the right of the plot. Coordinates are rounded to
two decimals, so the same inputs always give the same text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

# Geometry of every chart: the plot area sits inside these margins; the legend to its right.
WIDTH = 600
HEIGHT = 340
LEFT = 64
RIGHT = 190
TOP = 34
BOTTOM = 48
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
BAR_TICKS = 8  # bar charts: finer ticks, so small negative values do not waste the width

# Colours, chosen model first; greys and dashes are for baselines and references.
PALETTE = (
    "#1f5fa8", "#d9731a", "#2e8b57", "#8e44ad", "#b03a2e", "#7f8c8d", "#c9a227", "#1b9e9e",
    "#d35fb7", "#6b4f2a",
)  # fmt: skip
REFERENCE_COLOR = "#9a9a9a"
TEXT_COLOR = "#222"


@dataclass(frozen=True)
class Series:
    """One line of a chart: a name for the legend, (x, y) points and how to draw it."""

    name: str
    points: Sequence[tuple[float, float]]
    color: str = PALETTE[0]
    dashed: bool = False
    width: float = 2.0
    dots: bool = False


@dataclass(frozen=True)
class Marker:
    """A labelled vertical line at x (the best audience size, a capacity, a rule)."""

    x: float
    label: str
    color: str = "#444"


@dataclass(frozen=True)
class LinearScale:
    """Maps a domain interval linearly onto a pixel interval (which may run backwards)."""

    domain_low: float
    domain_high: float
    range_low: float
    range_high: float

    def __call__(self, value: float) -> float:
        """The pixel position of `value`."""
        span = self.domain_high - self.domain_low
        share = (value - self.domain_low) / span if span else 0.5
        return self.range_low + share * (self.range_high - self.range_low)


def x_scale(low: float, high: float) -> LinearScale:
    """The horizontal scale of a chart whose x domain is [low, high]."""
    return LinearScale(low, high, LEFT, LEFT + PLOT_WIDTH)


def y_scale(low: float, high: float) -> LinearScale:
    """The vertical scale of a chart whose y domain is [low, high] (up is larger)."""
    return LinearScale(low, high, TOP + PLOT_HEIGHT, TOP)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [low, high] (steps of 1, 2 or 5 x 10^n)."""
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low]
    raw_step = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(index * step, 12) for index in range(first, last + 1)]


def nice_domain(low: float, high: float, count: int = 5) -> tuple[float, float]:
    """[low, high] widened to the nearest round ticks (a flat range gets some room)."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    ticks = nice_ticks(low, high, count)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else (high - low)
    start = ticks[0] if ticks[0] <= low else ticks[0] - step
    end = ticks[-1] if ticks[-1] >= high else ticks[-1] + step
    return float(start), float(end)


def number(value: float) -> str:
    """A coordinate as SVG text: two decimals, no trailing zeros, never "-0"."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def tick_label(value: float) -> str:
    """A tick value as a short label (thousands separated, at most three decimals)."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def percent_label(value: float) -> str:
    """A share as a percentage tick label."""
    return f"{value * 100:.0f}%"


def _text(x: float, y: float, content: str, **attributes: str) -> str:
    extra = "".join(f' {name.replace("_", "-")}="{value}"' for name, value in attributes.items())
    return f'<text x="{number(x)}" y="{number(y)}"{extra}>{escape(content)}</text>'


def _open(title: str, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg class="chart" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" font-family="sans-serif" font-size="11" '
        f'fill="{TEXT_COLOR}">',
        f"<title>{escape(title)}</title>",
        _text(LEFT, 18, title, font_size="13", font_weight="bold"),
    ]


def _axes(
    xs: LinearScale,
    ys: LinearScale,
    *,
    x_label: str,
    y_label: str,
    x_format: Callable[[float], str],
    y_format: Callable[[float], str],
) -> list[str]:
    parts = ['<g class="axes" stroke="#ccc" stroke-width="1">']
    for tick in nice_ticks(ys.domain_low, ys.domain_high):
        y = number(ys(tick))
        parts.append(f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + PLOT_WIDTH}" y2="{y}"/>')
    for tick in nice_ticks(xs.domain_low, xs.domain_high):
        x = number(xs(tick))
        parts.append(f'<line x1="{x}" y1="{TOP}" x2="{x}" y2="{TOP + PLOT_HEIGHT}"/>')
    parts.append("</g>")
    parts.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{PLOT_WIDTH}" height="{PLOT_HEIGHT}" '
        'fill="none" stroke="#666"/>'
    )
    for tick in nice_ticks(ys.domain_low, ys.domain_high):
        parts.append(_text(LEFT - 6, ys(tick) + 4, y_format(tick), text_anchor="end"))
    for tick in nice_ticks(xs.domain_low, xs.domain_high):
        parts.append(_text(xs(tick), TOP + PLOT_HEIGHT + 15, x_format(tick), text_anchor="middle"))
    parts.append(
        _text(LEFT + PLOT_WIDTH / 2, HEIGHT - 10, x_label, text_anchor="middle", font_size="12")
    )
    middle = TOP + PLOT_HEIGHT / 2
    parts.append(
        f'<text x="14" y="{number(middle)}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {number(middle)})">{escape(y_label)}</text>'
    )
    return parts


def _legend(entries: Sequence[tuple[str, str, bool]]) -> list[str]:
    """Legend rows (name, colour, dashed) to the right of the plot area."""
    parts = ['<g class="legend">']
    x = LEFT + PLOT_WIDTH + 14
    for index, (name, color, dashed) in enumerate(entries):
        y = TOP + 8 + index * 18
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        parts.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 22}" y2="{y}" stroke="{color}" '
            f'stroke-width="2.5"{dash}/>'
        )
        parts.append(_text(x + 28, y + 4, name))
    parts.append("</g>")
    return parts


def polyline_points(points: Sequence[tuple[float, float]], xs: LinearScale, ys: LinearScale) -> str:
    """The `points` attribute of a polyline drawing `points` through the two scales."""
    return " ".join(f"{number(xs(x))},{number(ys(y))}" for x, y in points)


def _series(series: Series, xs: LinearScale, ys: LinearScale) -> list[str]:
    dash = ' stroke-dasharray="5 3"' if series.dashed else ""
    parts = [
        f'<polyline class="series" data-name="{escape(series.name)}" fill="none" '
        f'stroke="{series.color}" stroke-width="{number(series.width)}"{dash} '
        f'stroke-linejoin="round" points="{polyline_points(series.points, xs, ys)}"/>'
    ]
    if series.dots:
        parts.extend(
            f'<circle cx="{number(xs(x))}" cy="{number(ys(y))}" r="3.5" fill="{series.color}"/>'
            for x, y in series.points
        )
    return parts


def _markers(markers: Sequence[Marker], xs: LinearScale) -> list[str]:
    parts = []
    for index, marker in enumerate(markers):
        x = xs(marker.x)
        parts.append(
            f'<line class="marker" x1="{number(x)}" y1="{TOP}" x2="{number(x)}" '
            f'y2="{TOP + PLOT_HEIGHT}" stroke="{marker.color}" stroke-width="1.5" '
            'stroke-dasharray="2 2"/>'
        )
        anchor = "start" if x < LEFT + PLOT_WIDTH * 0.7 else "end"
        shift = 4 if anchor == "start" else -4
        parts.append(
            _text(
                x + shift,
                TOP + 12 + index * 13,
                marker.label,
                text_anchor=anchor,
                fill=marker.color,
            )
        )
    return parts


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_domain: tuple[float, float] | None = None,
    y_domain: tuple[float, float] | None = None,
    diagonal: bool = False,
    markers: Sequence[Marker] = (),
    x_format: Callable[[float], str] = tick_label,
    y_format: Callable[[float], str] = tick_label,
) -> str:
    """A line chart of several series, with an optional dashed diagonal and vertical markers.

    A domain left out is the data's range widened to round ticks.
    """
    xs_all = [x for line in series for x, _ in line.points] + [m.x for m in markers]
    ys_all = [y for line in series for _, y in line.points]
    if x_domain is None:
        x_domain = nice_domain(min(xs_all, default=0.0), max(xs_all, default=1.0))
    if y_domain is None:
        y_domain = nice_domain(min(ys_all, default=0.0), max(ys_all, default=1.0))
    xs, ys = x_scale(*x_domain), y_scale(*y_domain)
    parts = _open(title)
    parts += _axes(xs, ys, x_label=x_label, y_label=y_label, x_format=x_format, y_format=y_format)
    entries = [(line.name, line.color, line.dashed) for line in series]
    if diagonal:
        low, high = max(x_domain[0], y_domain[0]), min(x_domain[1], y_domain[1])
        parts.append(
            f'<line class="diagonal" x1="{number(xs(low))}" y1="{number(ys(low))}" '
            f'x2="{number(xs(high))}" y2="{number(ys(high))}" stroke="{REFERENCE_COLOR}" '
            'stroke-width="1" stroke-dasharray="4 4"/>'
        )
    for line in series:
        parts += _series(line, xs, ys)
    parts += _markers(markers, xs)
    parts += _legend(entries)
    parts.append("</svg>")
    return "\n".join(parts)


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    title: str,
    x_label: str,
    errors: Sequence[float] | None = None,
    color: str = PALETTE[0],
    value_format: Callable[[float], str] = tick_label,
) -> str:
    """Horizontal bars (label, value) from a zero line, largest first as given; optional
    error whiskers (+/- one value each)."""
    row_height = 20
    height = TOP + BOTTOM + row_height * max(len(bars), 1)
    whiskers = list(errors) if errors is not None else [0.0] * len(bars)
    low = min([0.0, *(value - error for (_, value), error in zip(bars, whiskers, strict=True))])
    high = max([0.0, *(value + error for (_, value), error in zip(bars, whiskers, strict=True))])
    domain = nice_domain(low, high, BAR_TICKS)
    label_width = 220
    xs = LinearScale(domain[0], domain[1], label_width, WIDTH - 24)
    parts = _open(title, height)
    plot_bottom = height - BOTTOM
    for tick in nice_ticks(*domain, BAR_TICKS):
        x = number(xs(tick))
        parts.append(
            f'<line x1="{x}" y1="{TOP}" x2="{x}" y2="{plot_bottom}" stroke="#ddd" '
            'stroke-width="1"/>'
        )
        parts.append(_text(xs(tick), plot_bottom + 15, value_format(tick), text_anchor="middle"))
    zero = number(xs(0.0))
    for index, ((label, value), error) in enumerate(zip(bars, whiskers, strict=True)):
        y = TOP + index * row_height
        left, right = sorted((xs(0.0), xs(value)))
        parts.append(_text(label_width - 6, y + 14, label, text_anchor="end"))
        parts.append(
            f'<rect class="bar" data-name="{escape(label)}" x="{number(left)}" '
            f'y="{number(y + 3)}" width="{number(right - left)}" height="{row_height - 6}" '
            f'fill="{color}"><title>{escape(label)}: {escape(value_format(value))}</title></rect>'
        )
        if error:
            middle = number(y + row_height / 2)
            parts.append(
                f'<line x1="{number(xs(value - error))}" y1="{middle}" '
                f'x2="{number(xs(value + error))}" y2="{middle}" stroke="#333" stroke-width="1"/>'
            )
    parts.append(
        f'<line x1="{zero}" y1="{TOP}" x2="{zero}" y2="{plot_bottom}" stroke="#333" '
        'stroke-width="1"/>'
    )
    parts.append(_text((label_width + WIDTH - 24) / 2, height - 10, x_label, text_anchor="middle"))
    parts.append("</svg>")
    return "\n".join(parts)


def reliability_diagram(tables: Mapping[str, Sequence[Mapping[str, float]]], *, title: str) -> str:
    """Mean score (x) against realised rate (y) per score bin, one dotted line per table,
    with the diagonal of perfect calibration."""
    series = [
        Series(
            name=name,
            points=[(row["mean_score"], row["realised_rate"]) for row in rows],
            color=PALETTE[index % len(PALETTE)],
            dots=True,
        )
        for index, (name, rows) in enumerate(tables.items())
    ]
    values = [value for line in series for point in line.points for value in point]
    high = nice_domain(0.0, max(values, default=1.0) * 1.05)[1]
    high = min(high, 1.0)
    return line_chart(
        series,
        title=title,
        x_label="mean score in the bin",
        y_label="realised rate",
        x_domain=(0.0, high),
        y_domain=(0.0, high),
        diagonal=True,
    )
