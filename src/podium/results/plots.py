"""SVG plots for the HTML report, drawn in Python: latency histogram and CDF, the throughput-latency curve of a
peak search, training convergence.

Each function returns one `<svg>` element as `markupsafe.Markup`; every string that comes from data is escaped
here, numbers are formatted here, and every axis names its unit. No script: hover text is SVG `<title>`.
Colours are the Okabe-Ito palette (distinguishable with colour-blindness); valid/invalid also differ in shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

__all__ = ["Series", "cdf_svg", "convergence_svg", "histogram_svg", "latency_unit", "peak_svg"]

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
VALID_COLOUR, INVALID_COLOUR, TARGET_COLOUR = "#009E73", "#D55E00", "#555555"
WIDTH_PX, HEIGHT_PX = 540, 320
LEFT_PX, RIGHT_PX, TOP_PX, BOTTOM_PX = 72, 18, 34, 52
CHAR_PX = 6.4          # average glyph width at the 11 px font, for placing legends
TAIL_SHARE = 0.999    # plots of latency show the range holding this share of the samples; the rest is noted
LATENCY_UNITS = (("s", 1e9), ("ms", 1e6), ("µs", 1e3), ("ns", 1.0))


def latency_unit(typical_ns: float) -> tuple[str, float]:
    """The unit that puts a typical latency between 1 and 1000: (name, ns per unit)."""
    for name, ns in LATENCY_UNITS:
        if typical_ns >= ns:
            return name, ns
    return "ns", 1.0


def _shown_bins(counts: Sequence[int], share: float = TAIL_SHARE) -> tuple[int, int]:
    """Bins [first, last) to draw: from the first non-empty one to where `share` of the samples are in,
    so that a few outliers do not squash the bars into one corner."""
    total = sum(counts)
    first = next(i for i, n in enumerate(counts) if n)
    seen = 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= share * total:
            return first, i + 1
    return first, len(counts)


def fmt_num(v: float) -> str:
    """Tick and label numbers: 3 significant digits, k/M for large ones."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    return f"{v:,.0f}" if a >= 1000 else f"{v:.3g}"


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


@dataclass(frozen=True)
class Scale:
    """Data to pixels along one axis, linear or log10."""

    lo: float
    hi: float
    px0: float
    px1: float
    log: bool = False

    @classmethod
    def fit(cls, values: Sequence[float], px0: float, px1: float, *, log: bool = False,
            zero: bool = False, pad: float = 0.0) -> Scale:
        """A scale around `values`: log when asked (and all positive), from 0 when `zero`, else padded."""
        lo, hi = min(values), max(values)
        if log and lo > 0:
            return cls(lo / 1.15, hi * 1.15, px0, px1, log=True)
        lo = 0.0 if zero else lo - (hi - lo) * pad
        hi = hi + (hi - lo) * pad if hi > lo else lo + 1.0
        step = _nice_step(hi - lo, 5)
        return cls(math.floor(lo / step) * step, math.ceil(hi / step) * step, px0, px1)

    def __call__(self, v: float) -> float:
        if self.log:
            v = max(v, self.lo)
            t = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (v - self.lo) / (self.hi - self.lo)
        return self.px0 + t * (self.px1 - self.px0)

    def ticks(self) -> list[float]:
        if not self.log:
            step = _nice_step(self.hi - self.lo, 5)
            first = math.ceil(self.lo / step - 1e-9)
            return [k * step for k in range(first, int(math.floor(self.hi / step + 1e-9)) + 1)]
        decades = math.log10(self.hi / self.lo)
        mults = (1,) if decades > 4 else (1, 2, 5) if decades > 1.2 else (1, 1.5, 2, 3, 5, 7)
        out = []
        for e in range(math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi)) + 1):
            out += [m * 10 ** e for m in mults if self.lo <= m * 10 ** e <= self.hi]
        return out


def _attrs(**attrs: object) -> str:
    return "".join(f' {k.rstrip("_").replace("_", "-")}="{escape(v)}"' for k, v in attrs.items() if v is not None)


def _text(x: float, y: float, text: object, **attrs: object) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}"{_attrs(**attrs)}>{escape(text)}</text>'


def _points(xy: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)


@dataclass
class Chart:
    """One plot: frame, axes with unit-bearing titles, then marks added in order."""

    title: str
    x: Scale
    y: Scale
    x_title: str
    y_title: str
    x_fmt: Callable[[float], str] = fmt_num
    y_fmt: Callable[[float], str] = fmt_num
    parts: list[str] = field(default_factory=list)

    @classmethod
    def area(cls) -> tuple[float, float, float, float]:
        """Plot area in pixels: left, right, top, bottom."""
        return LEFT_PX, WIDTH_PX - RIGHT_PX, TOP_PX, HEIGHT_PX - BOTTOM_PX

    def axes(self) -> list[str]:
        left, right, top, bottom = self.area()
        out = [f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" class="frame"/>']
        for t in self.x.ticks():
            px = self.x(t)
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{bottom}" class="grid"/>')
            out.append(_text(px, bottom + 16, self.x_fmt(t), text_anchor="middle"))
        for t in self.y.ticks():
            py = self.y(t)
            out.append(f'<line x1="{left}" x2="{right}" y1="{py:.1f}" y2="{py:.1f}" class="grid"/>')
            out.append(_text(left - 6, py + 4, self.y_fmt(t), text_anchor="end"))
        out.append(_text((left + right) / 2, HEIGHT_PX - 12, self.x_title, text_anchor="middle", class_="axis"))
        out.append(f'<text transform="translate(16 {(top + bottom) / 2:.1f}) rotate(-90)" text-anchor="middle" '
                   f'class="axis">{escape(self.y_title)}</text>')
        out.append(_text(left, 20, self.title, class_="title"))
        return out

    def legend(self, items: Sequence[tuple[str, str, str]], *, corner: str = "bottom-right") -> None:
        """Entries (colour, label, mark: "line" | "dash" | "dot" | "cross") in a box inside a corner."""
        if not items:
            return
        left, right, top, bottom = self.area()
        w = 30 + CHAR_PX * max(len(label) for _, label, _ in items)
        h = 8 + 16 * len(items)
        x0 = right - w - 8 if corner.endswith("right") else left + 8
        y0 = bottom - h - 8 if corner.startswith("bottom") else top + 8
        self.parts.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{h}" class="legend"/>')
        for i, (colour, label, mark) in enumerate(items):
            cy = y0 + 12 + 16 * i
            self.parts.append(_mark(mark, x0 + 14, cy, colour))
            self.parts.append(_text(x0 + 26, cy + 4, label))

    def note(self, text: str) -> None:
        """A short remark at the top right, level with the title."""
        self.parts.append(_text(WIDTH_PX - RIGHT_PX, 20, text, text_anchor="end", class_="note"))

    def render(self) -> Markup:
        body = "".join(self.axes() + self.parts)
        return Markup(f'<svg class="plot" viewBox="0 0 {WIDTH_PX} {HEIGHT_PX}" width="{WIDTH_PX}" '
                      f'height="{HEIGHT_PX}" role="img"{_attrs(aria_label=self.title)} font-family="sans-serif" '
                      f'font-size="11"><title>{escape(self.title)}</title>{body}</svg>')


def _mark(kind: str, x: float, y: float, colour: str, tip: str | None = None) -> str:
    title = f"<title>{escape(tip)}</title>" if tip else ""
    if kind == "cross":
        d = f"M{x - 4:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 4:.1f}M{x - 4:.1f},{y + 4:.1f}L{x + 4:.1f},{y - 4:.1f}"
        return f'<path d="{d}" stroke="{colour}" stroke-width="2.2" fill="none">{title}</path>'
    if kind == "none":
        return ""
    if kind == "dot":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">{title}</circle>'
    dash = ' stroke-dasharray="5 3"' if kind == "dash" else ""
    return (f'<line x1="{x - 9:.1f}" x2="{x + 9:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-width="2"{dash}/>')


def _is_log_spread(lo: float, hi: float) -> bool:
    """Latencies spread over more than 8x read better on a log axis."""
    return lo > 0 and hi / lo > 8


def _is_geometric(edges: Sequence[float]) -> bool:
    """Bins whose widths grow (log-spaced): a log axis draws them at equal widths."""
    widths = [b - a for a, b in zip(edges, edges[1:])]
    return edges[0] > 0 and len(widths) > 1 and widths[-1] > 1.5 * widths[0]


def histogram_svg(edges_ns: Sequence[float], counts: Sequence[int], *, clipped_at_ns: float | None = None,
                  title: str = "Latency histogram") -> Markup:
    """Bars over the histogram's own bins (a log axis for log-spaced bins), up to the bin holding the 99.9th
    percentile; the samples beyond are counted in a note. `clipped_at_ns`: the last bin also holds every
    sample above it (the harness bins up to p99.9)."""
    if len(edges_ns) != len(counts) + 1 or sum(counts) <= 0 or min(edges_ns) < 0:
        raise ValueError(f"{len(edges_ns)} edges for {len(counts)} counts totalling {sum(counts)}")
    first, last = _shown_bins(counts)
    edges_ns, hidden, counts = edges_ns[first:last + 1], sum(counts[last:]), counts[first:last]
    log = _is_geometric(edges_ns)
    unit, per = latency_unit(math.sqrt(edges_ns[0] * edges_ns[-1]) if log else edges_ns[-1])
    edges = [e / per for e in edges_ns]
    left, right, top, bottom = Chart.area()
    x = Scale.fit(edges, left, right, log=log)
    y = Scale.fit([0, max(counts) or 1], bottom, top, zero=True)
    chart = Chart(title, x, y, f"latency ({unit}){', log scale' if x.log else ''}", "samples per bin")
    if hidden:
        chart.note(f"{hidden:,} samples above {fmt_num(edges[-1])} {unit} not shown")
    elif clipped_at_ns:
        chart.note(f"last bin: every sample from {fmt_num(edges[-2])} {unit}, tail included")
    for lo, hi, n in zip(edges, edges[1:], counts):
        if n:
            x0, x1 = x(lo), x(hi)
            chart.parts.append(f'<rect x="{x0:.1f}" y="{y(n):.1f}" width="{max(x1 - x0 - 0.6, 0.8):.1f}" '
                               f'height="{bottom - y(n):.1f}" fill="{PALETTE[0]}"><title>'
                               f'{escape(f"{fmt_num(lo)}-{fmt_num(hi)} {unit}: {n:,} samples")}</title></rect>')
    return chart.render()


def cdf_svg(q: Sequence[float], latency_ns: Sequence[float], *, title: str = "Latency CDF",
            marks: Sequence[float] = (0.5, 0.9, 0.99)) -> Markup:
    """Cumulative share of samples at or under each latency, with p50/p90/p99 marked and listed; the axis
    ends at the 99.9th percentile (the maximum is listed)."""
    if len(q) != len(latency_ns) or len(q) < 2 or max(latency_ns) <= 0:
        raise ValueError(f"{len(q)} quantiles for {len(latency_ns)} latencies")
    shown = [i for i, p in enumerate(q) if p <= TAIL_SHARE + 1e-12] or list(range(len(q)))
    unit, per = latency_unit(_interpolate(q, latency_ns, 0.5) or max(latency_ns))
    lat = [v / per for v in latency_ns]
    left, right, top, bottom = Chart.area()
    span = [lat[i] for i in shown]
    x = Scale.fit(span, left, right, log=_is_log_spread(min(span), max(span)))
    q, lat = [q[i] for i in shown], [lat[i] for i in shown]
    y = Scale(0.0, 100.0, bottom, top)
    chart = Chart(title, x, y, f"latency ({unit}){', log scale' if x.log else ''}", "samples at or under (%)",
                  y_fmt=lambda v: f"{v:.0f}")
    chart.parts.append(f'<polyline points="{_points([(x(v), y(p * 100)) for v, p in zip(lat, q)])}" '
                       f'fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    items = []
    for i, m in enumerate(marks):
        v = _interpolate(q, lat, m)
        if v is None:
            continue
        tip = f"p{m * 100:g}: {fmt_num(v)} {unit}"
        chart.parts.append(_mark("dot", x(v), y(m * 100), PALETTE[i + 1], tip))
        items.append((PALETTE[i + 1], tip, "dot"))
    items.append((PALETTE[0], f"max: {fmt_num(max(latency_ns) / per)} {unit}", "none"))
    # A CDF leaves empty the corner away from its bulk: bottom right when most samples sit left, else top left.
    median = _interpolate(q, lat, 0.5)
    leftish = median is None or x(median) < (left + right) / 2
    chart.legend(items, corner="bottom-right" if leftish else "top-left")
    return chart.render()


def _interpolate(q: Sequence[float], values: Sequence[float], at: float) -> float | None:
    for (q0, v0), (q1, v1) in zip(zip(q, values), zip(q[1:], values[1:])):
        if q0 <= at <= q1:
            return v0 if q1 == q0 else v0 + (v1 - v0) * (at - q0) / (q1 - q0)
    return None


def peak_svg(steps: Sequence[dict], *, latency_bound_ns: float | None = None, peak_qps: float | None = None,
             title: str = "Peak search: throughput against p99 latency") -> Markup:
    """Each step of a peak search at its achieved QPS and p99 latency; valid dots, invalid crosses."""
    pts = sorted(((float(s["achieved_qps"]), float(s["p99_ns"]), s.get("validity") == "VALID", s)
                  for s in steps if _positive(s.get("achieved_qps")) and _positive(s.get("p99_ns"))),
                 key=lambda p: p[0])
    if not pts:
        raise ValueError("no step with both achieved_qps and p99_ns")
    lat_all = [p[1] for p in pts] + ([latency_bound_ns] if latency_bound_ns else [])
    unit, per = latency_unit(max(lat_all))
    left, right, top, bottom = Chart.area()
    x = Scale.fit([0.0] + [p[0] for p in pts], left, right, zero=True)
    log_y = _is_log_spread(min(lat_all), max(lat_all)) and max(lat_all) / min(lat_all) > 30
    y = Scale.fit([v / per for v in lat_all], bottom, top, log=log_y, zero=not log_y)
    chart = Chart(title, x, y, "achieved throughput (queries/s)",
                  f"p99 latency ({unit}){', log scale' if log_y else ''}")
    chart.parts.append(f'<polyline points="{_points([(x(a), y(p / per)) for a, p, _, _ in pts])}" fill="none" '
                       f'stroke="#999999" stroke-width="1.2"/>')
    if latency_bound_ns:
        yb = y(latency_bound_ns / per)
        chart.parts.append(f'<line x1="{left}" x2="{right}" y1="{yb:.1f}" y2="{yb:.1f}" stroke="{TARGET_COLOUR}" '
                           f'stroke-dasharray="6 4" stroke-width="1.5"/>')
    if peak_qps:
        xp = x(peak_qps)
        chart.parts.append(f'<line x1="{xp:.1f}" x2="{xp:.1f}" y1="{top}" y2="{bottom}" stroke="{VALID_COLOUR}" '
                           f'stroke-dasharray="2 3" stroke-width="1.5"/>')
    for a, p, valid, s in pts:
        tip = (f"target {fmt_num(float(s.get('target_qps', a)))} QPS, achieved {fmt_num(a)} QPS, "
               f"p99 {fmt_num(p / per)} {unit}: {s.get('validity', '?')} {'; '.join(map(str, s.get('reasons', [])))}")
        chart.parts.append(_mark("dot" if valid else "cross", x(a), y(p / per),
                                 VALID_COLOUR if valid else INVALID_COLOUR, tip.strip()))
    items = [(VALID_COLOUR, "valid step", "dot"), (INVALID_COLOUR, "invalid step", "cross")]
    if latency_bound_ns:
        items.append((TARGET_COLOUR, f"latency bound {fmt_num(latency_bound_ns / per)} {unit}", "dash"))
    if peak_qps:
        items.append((VALID_COLOUR, f"peak {fmt_num(peak_qps)} QPS", "dash"))
    chart.legend(items, corner="top-left")
    return chart.render()


def _positive(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


@dataclass(frozen=True)
class Series:
    """One training run's curve: (seconds since run_start, metric) points; `done` whether it converged."""

    label: str
    points: tuple[tuple[float, float], ...]
    done: bool = True


def convergence_svg(series: Sequence[Series], *, metric: str = "eval_accuracy", target: float | None = None,
                    title: str = "Convergence") -> Markup:
    """Eval metric against time for every run, the quality target dashed across."""
    all_s = [t for s in series for t, _ in s.points] or [1.0]
    minutes = max(all_s) >= 120
    scale_t = 60.0 if minutes else 1.0
    values = [v for s in series for _, v in s.points] + ([target] if target is not None else [])
    left, right, top, bottom = Chart.area()
    x = Scale.fit([0.0] + [t / scale_t for t in all_s], left, right, zero=True)
    y = Scale.fit(values or [0.0, 1.0], bottom, top, pad=0.02)
    chart = Chart(title, x, y, f"time since run_start ({'min' if minutes else 's'})", metric)
    if target is not None:
        yt = y(target)
        chart.parts.append(f'<line x1="{left}" x2="{right}" y1="{yt:.1f}" y2="{yt:.1f}" stroke="{TARGET_COLOUR}" '
                           f'stroke-dasharray="6 4" stroke-width="1.5"/>')
    items = []
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        xy = [(x(t / scale_t), y(v)) for t, v in s.points]
        dash = "" if s.done else ' stroke-dasharray="4 3"'
        chart.parts.append(f'<polyline points="{_points(xy)}" fill="none" stroke="{colour}" stroke-width="1.8"{dash}>'
                           f"<title>{escape(s.label)}</title></polyline>")
        chart.parts += [_mark("dot" if s.done else "cross", px, py, colour, f"{s.label}: {v:.4g}")
                        for (px, py), (_, v) in zip(xy, s.points)]
        items.append((colour, s.label, "line" if s.done else "dash"))
    if target is not None:
        items.append((TARGET_COLOUR, f"target {target:g}", "dash"))
    chart.legend(items, corner="bottom-right")
    return chart.render()
