"""The Insights page's plots: matplotlib (Agg, no pyplot) drawn as SVG on the server, inline in
the page, nothing loaded from anywhere else.

Each function takes plain figures and the words to print (already in the agent's language) and
returns an `<svg>` element. The console's Content-Security-Policy allows no inline styles, so the
`style="…"` attributes and the `<style>` element matplotlib writes are turned into SVG
presentation attributes (`fill="#1f6feb"`), which the policy does not touch.

Drawing takes tens of milliseconds of CPU: callers run `render_all` in a worker thread
(`asyncio.to_thread`), never on the event loop. One lock serialises drawing (matplotlib's font
cache and rcParams are process-wide).
"""
from __future__ import annotations

import io
import re
import threading
from dataclasses import dataclass
from datetime import date
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

matplotlib.rcParams.update({"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
                            "axes.spines.right": False})
BLUE, ORANGE, GREY = "#1f6feb", "#d97706", "#5a6473"
FUNNEL_COLOURS = ("#9fb7d9", "#5b8ed6", "#1f6feb", "#15803d")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Series:
    days: Sequence[date]
    cycles: Sequence[int]
    median_minutes: Sequence[Optional[float]]  # first useful response, per day


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    FigureCanvasSVG(figure).print_svg(buffer)
    return csp_safe(buffer.getvalue())


_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>|<metadata>.*?</metadata>", re.S)
_STYLE_ATTRIBUTE = re.compile(r'style="([^"]*)"')
_FONT = re.compile(r"^\s*(?:(normal|italic|oblique)\s+)?(?:(\d{3}|bold|normal)\s+)?([\d.]+px)\s+(.+)$")


def _attributes(declarations: str) -> str:
    parts: List[str] = []
    for declaration in declarations.split(";"):
        name, _, value = declaration.partition(":")
        name, value = name.strip(), value.strip().replace('"', "'")
        if not name or not value:
            continue
        if name == "font":
            found = _FONT.match(value)
            if not found:
                continue
            style, weight, size, family = found.groups()
            # matplotlib quotes the generic family ('sans-serif'), which then names no font.
            family = ", ".join(f.strip().strip("'") for f in family.split(","))
            parts += [f'font-size="{size}"', f'font-family="{family}, sans-serif"']
            parts += [f'font-style="{style}"'] if style else []
            parts += [f'font-weight="{weight}"'] if weight else []
            continue
        parts.append(f'{name}="{value}"')
    return " ".join(parts)


def csp_safe(svg: str) -> str:
    """matplotlib's SVG as an inline element with no inline CSS (`style-src 'self'` holds)."""
    start = svg.index("<svg")
    svg = _STYLE_ELEMENT.sub("", svg[start:])
    svg = _STYLE_ATTRIBUTE.sub(lambda m: _attributes(m.group(1)), svg)
    # The page sizes the plot; the viewBox keeps its proportions. The root keeps the defaults the
    # removed <style> element gave every shape.
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1', svg, count=1)
    return svg.replace("<svg", '<svg stroke-linejoin="round" stroke-linecap="butt" role="img"', 1)


def _figure(width: float = 6.4, height: float = 2.6) -> Figure:
    figure = Figure(figsize=(width, height))
    figure.patch.set_alpha(0)
    return figure


def _empty(figure: Figure, text: str) -> None:
    axes = figure.add_subplot()
    axes.axis("off")
    axes.text(0.5, 0.5, text, ha="center", va="center", color=GREY)


def series_plot(series: Series, words: Mapping[str, str]) -> str:
    figure = _figure()
    if not series.days:
        _empty(figure, words["no_data"])
        return _svg(figure)
    axes = figure.add_subplot()
    axes.bar(list(series.days), list(series.cycles), color="#c9d7ee", label=words["cycles"])
    axes.set_ylabel(words["cycles"])
    right = axes.twinx()
    right.spines["right"].set_visible(True)
    points = [(d, m) for d, m in zip(series.days, series.median_minutes) if m is not None]
    if points:
        right.plot([p[0] for p in points], [p[1] for p in points], color=ORANGE, marker="o", markersize=3,
                   linewidth=1.5, label=words["median"])
    right.set_ylabel(words["median"])
    right.set_ylim(bottom=0)
    axes.tick_params(axis="x", labelrotation=30, labelsize=7)
    figure.legend(loc="upper center", frameon=False, fontsize=7, ncol=2)
    figure.tight_layout(rect=(0, 0, 1, 0.9))
    return _svg(figure)


def funnel_plot(channels: Mapping[str, Mapping[str, int]], labels: Mapping[str, str],
                words: Mapping[str, str]) -> str:
    """Grouped bars per channel: cycles, leads, qualified, won."""
    figure = _figure()
    names = list(channels)
    if not names:
        _empty(figure, words["no_data"])
        return _svg(figure)
    axes = figure.add_subplot()
    steps = ("cycles", "leads", "qualified", "won")
    width = 0.8 / len(steps)
    for i, (step, colour) in enumerate(zip(steps, FUNNEL_COLOURS)):
        axes.bar([x + (i - 1.5) * width for x in range(len(names))], [channels[n].get(step, 0) for n in names],
                 width=width, color=colour, label=words[step])
    axes.set_xticks(list(range(len(names))))
    axes.set_xticklabels([labels.get(n, n) for n in names])
    figure.legend(loc="upper center", frameon=False, fontsize=7, ncol=4)
    figure.tight_layout(rect=(0, 0, 1, 0.9))
    return _svg(figure)


TICKS_S = (1, 60, 600, 3600, 8 * 3600, 86400, 7 * 86400)


def distribution_plot(seconds: Sequence[float], words: Mapping[str, str],
                      duration: Callable[[float], str] = lambda s: f"{s:g} s") -> str:
    """First-useful-response times on a log axis (seconds to days), ticks as durations."""
    figure = _figure()
    values = [max(s, 1.0) / 60 for s in seconds if s is not None]
    if not values:
        _empty(figure, words["no_data"])
        return _svg(figure)
    axes = figure.add_subplot()
    edges = [1 / 60 * (10 ** (k / 4)) for k in range(0, 4 * 6 + 1)]  # 1 s … ~11 days
    axes.hist(values, bins=edges, color=BLUE)
    axes.set_xscale("log")
    axes.set_xticks([t / 60 for t in TICKS_S])
    axes.set_xticklabels([duration(t) for t in TICKS_S])
    axes.minorticks_off()
    axes.set_xlabel(words["minutes"])
    axes.set_ylabel(words["cycles"])
    figure.tight_layout()
    return _svg(figure)


def reasons_plot(reasons: Mapping[str, int], labels: Callable[[str], str], words: Mapping[str, str]) -> str:
    figure = _figure(height=max(1.6, 0.35 * len(reasons) + 0.8))
    if not reasons:
        _empty(figure, words["no_data"])
        return _svg(figure)
    axes = figure.add_subplot()
    ordered = sorted(reasons.items(), key=lambda x: x[1])
    axes.barh([labels(r) for r, _ in ordered], [n for _, n in ordered], color=ORANGE)
    axes.set_xlabel(words["cycles"])
    figure.tight_layout()
    return _svg(figure)


def render_all(jobs: Mapping[str, Callable[[], str]]) -> Dict[str, str]:
    """Every plot, one at a time (run this in a worker thread)."""
    with _LOCK:
        return {name: job() for name, job in jobs.items()}
