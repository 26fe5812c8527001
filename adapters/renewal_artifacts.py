"""The renewal package as files: rendered to Markdown and standalone HTML from the
templates (the HTML with its charts inside as PNG data URIs, so one file is the
whole brief), written atomically under the artifact folder."""

from __future__ import annotations

import base64
import io
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from temporalio.exceptions import ApplicationError

from adapters.templates import render_for_activity
from context.renewal_agenda import call_agenda
from context.renewal_sections import (
    GAUGE_FEATURES,
    HOURLY_COST_USD,
    MINUTES_PER_RESOLUTION,
    WEEKS,
    label,
    pct,
)
from contracts import errors
from contracts.renewal import EvidenceLink, RenewalPackage

if TYPE_CHECKING:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

MARKDOWN_TEMPLATE = "artifacts/renewal_package.md.j2"
HTML_TEMPLATE = "artifacts/renewal_package.html.j2"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _num(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


_SPARK = "▁▂▃▄▅▆▇█"


def _spark(values: list[float]) -> str:
    """A text sparkline of the weekly trend."""
    top = max(values, default=0)
    if top <= 0:
        return _SPARK[0] * len(values)
    return "".join(_SPARK[min(7, int(v / top * 7 + 0.5))] for v in values)


# ---------------------------------------------------------------- charts
# matplotlib (the maintained standard for static charts) through its object API
# and the Agg canvas: no pyplot global state, safe on the worker's thread pool.
# Imported when a package renders, so commands that never render skip its import.
#
# The nightly sweep renders thousands of briefs, and drawing axes, ticks and text is
# most of a chart's cost. So the worker keeps the drawn background of a chart (all
# but the data lines) for each set of axes it has seen, and a package only draws its
# lines onto a copy of it (Agg blitting): the axes depend on the weeks and, for the
# seats chart, on a rounded top of the y axis, so a night needs a handful of them.
CHART_DPI = 100
_BLUE, _RED = "#3e7bfa", "#a61b1b"
_KEPT_BACKGROUNDS = 32  # 1.1 MB of pixels each
TITLES = {
    "seats": "Active users against licensed seats",
    "features": "Usage by feature, week by week",
}


@dataclass
class Chart:
    name: str  # anchor in the brief: chart-<name>
    title: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()


def _weeks(package: RenewalPackage) -> list[str]:
    end = package.usage.window_end
    return [f"{end - timedelta(days=7 * w):%d %b}" for w in reversed(range(WEEKS))]


def _nice_top(value: float) -> float:
    """The y axis' top: the first of 1, 2, 2.5, 5, 10 × 10^n at or above `value` (a
    few tops cover every account, so the drawn axes are shared). `value` ≥ 1."""
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value)


def _seats_series(package: RenewalPackage) -> tuple[list[float], float | None]:
    trends = {f.feature: f for f in package.usage.features}
    users = trends["active_users"].weekly if "active_users" in trends else [0.0] * WEEKS
    return users, package.usage.seats or None


def _feature_series(package: RenewalPackage) -> list[tuple[str, list[float]]]:
    """Each feature but active users, as a share of its own 13-week peak."""
    series = []
    for trend in package.usage.features:
        if trend.feature != "active_users":
            peak = max(trend.weekly, default=0) or 1
            series.append((label(trend.feature), [v / peak * 100 for v in trend.weekly]))
    return series


def _axes_key(name: str, package: RenewalPackage) -> tuple:
    """What the drawn background of chart `name` depends on."""
    if name == "seats":
        users, seats = _seats_series(package)
        return name, tuple(_weeks(package)), _nice_top(max([*users, seats or 0, 1]) * 1.05)
    return name, tuple(_weeks(package)), tuple(n for n, _ in _feature_series(package))


def chart_figures(package: RenewalPackage) -> list[tuple[str, str, Figure]]:
    """(name, title, figure) of the brief's charts: active users against the licensed
    seats, and the other features week by week; every axis labelled."""
    from matplotlib.figure import Figure

    weeks = _weeks(package)
    x = list(range(len(weeks)))
    seats_fig = Figure(figsize=(9, 3.2), dpi=CHART_DPI)
    seats_fig.subplots_adjust(left=0.08, right=0.78, bottom=0.17, top=0.9)
    ax = seats_fig.add_subplot()
    users, seats = _seats_series(package)
    ax.plot(x, users, marker="o", color=_BLUE, label="active users per day\n(weekly average)")
    # Always drawn (off the axes when the account has no seat count), so every seats
    # chart has the same two lines.
    ax.axhline(seats if seats else -1, color=_RED, linestyle="--", label="licensed seats")
    ax.set_title("Active users against licensed seats")
    ax.set_xlabel("week ending")
    ax.set_ylabel("users per day")
    ax.set_ylim(0, _axes_key("seats", package)[2])
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)

    # One axes for the other features (each line as a share of its own 13-week
    # peak, so units differ freely): ticks are most of the cost of a chart.
    feature_fig = Figure(figsize=(9, 3.2), dpi=CHART_DPI)
    feature_fig.subplots_adjust(left=0.08, right=0.78, bottom=0.17, top=0.9)
    ax = feature_fig.add_subplot()
    for name, shares in _feature_series(package):
        ax.plot(x, shares, marker="o", markersize=3, label=name)
    ax.set_title("Usage by feature, week by week")
    ax.set_xlabel("week ending")
    ax.set_ylabel("% of its 13-week peak")
    ax.set_ylim(0, 105)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    for ax in (*feature_fig.axes, *seats_fig.axes):
        ax.set_xticks(x[::2], weeks[::2], fontsize=8)
    return [("seats", TITLES["seats"], seats_fig), ("features", TITLES["features"], feature_fig)]


@dataclass
class _Drawn:
    """A chart drawn once without its data lines, and the pixels of that."""

    figure: Figure
    canvas: FigureCanvasAgg
    background: Any  # the canvas region `copy_from_bbox` saved


# One set for the worker's threads, used under a lock: a background drawn by one
# thread serves all (a set per thread drew each one sixteen times), and a chart
# takes milliseconds once its background is there.
_KEPT: OrderedDict[tuple, _Drawn] = OrderedDict()
_DRAWING = threading.Lock()


def _keep(key: tuple, figure: Figure) -> _Drawn:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    for line in figure.axes[0].get_lines():
        line.set_animated(True)  # left out of canvas.draw(): drawn per package
    canvas.draw()
    _KEPT[key] = _Drawn(figure, canvas, canvas.copy_from_bbox(figure.bbox))
    if len(_KEPT) > _KEPT_BACKGROUNDS:
        _KEPT.popitem(last=False)
    return _KEPT[key]


def _png(drawn: _Drawn, series: list[list[float]]) -> bytes:
    """The background with these y values on its lines, as PNG bytes."""
    from PIL import Image

    [ax] = drawn.figure.axes
    drawn.canvas.restore_region(drawn.background)
    for line, ys in zip(ax.get_lines(), series, strict=True):
        line.set_ydata(ys)
        ax.draw_artist(line)
    # What a full drawing puts above the lines goes above them again. The legend
    # sits beside the axes, where no line reaches, so the background's copy of it
    # stands (redrawing its text was most of a chart's cost).
    for spine in ax.spines.values():
        ax.draw_artist(spine)
    size = drawn.canvas.get_width_height()
    image = Image.frombuffer("RGBA", size, drawn.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    # zlib's fastest level: a third of the encoding time for 6% more bytes (flat
    # colours compress well at any level), and the sweep encodes two per package.
    image.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def usage_charts(package: RenewalPackage) -> list[Chart]:
    """The charts as PNG bytes (no timestamp in them: the same package, the same bytes)."""
    users, seats = _seats_series(package)
    series = {
        "seats": [users, [seats if seats else -1] * 2],
        "features": [shares for _, shares in _feature_series(package)],
    }
    built: dict[str, Figure] | None = None
    charts = []
    with _DRAWING:
        for name, title in TITLES.items():
            key = _axes_key(name, package)
            drawn = _KEPT.get(key)
            if drawn is None:  # axes not drawn yet
                built = built or {n: figure for n, _, figure in chart_figures(package)}
                drawn = _keep(key, built[name])
            else:
                _KEPT.move_to_end(key)
            charts.append(Chart(name, title, _png(drawn, series[name])))
    return charts


# ---------------------------------------------------------------- evidence


def _anchor_id(kind: str, ref: str) -> str:
    return "ev-" + re.sub(r"[^A-Za-z0-9_-]+", "-", f"{kind}-{ref}")


def contact_anchor(email: str) -> str:
    return _anchor_id("contact", email)


def anchor(link: EvidenceLink) -> str:
    """The brief's anchor for a record: the chart for usage, the map's row for a
    contact, else its entry in the evidence list."""
    if link.kind == "usage":
        return "chart-seats"
    return _anchor_id(link.kind, link.ref)


def link_text(link: EvidenceLink) -> str:
    """How a claim names the record it links to."""
    if link.kind == "ticket":
        return link.ref
    if link.kind == "contact":
        return link.label.split(" (")[0]
    if link.kind == "usage":
        return "chart"
    return f"{link.kind} {link.at}" if link.at else link.kind


def evidence_records(package: RenewalPackage) -> list[EvidenceLink]:
    """Every record the risk claims point to, once each, newest first (usage is a
    chart, not a record)."""
    seen: dict[str, EvidenceLink] = {}
    for factor in package.risk.factors:
        for link in factor.sources:
            if link.kind != "usage":
                seen.setdefault(anchor(link), link)
    return sorted(seen.values(), key=lambda link: (link.at is None, link.at), reverse=True)


def flagged_contacts(package: RenewalPackage) -> dict[str, list[str]]:
    """Per contact email, the relationship gaps naming them (the map's flags)."""
    flags: dict[str, list[str]] = {}
    for factor in package.risk.factors:
        for link in factor.sources:
            if link.kind == "contact":
                flags.setdefault(link.ref, []).append(factor.text)
    return flags


def _template_values(package: RenewalPackage, charts: list[Chart] | None = None) -> dict:
    return {
        "package": package,
        "agenda": call_agenda(package),
        "charts": charts or [],
        "evidence": evidence_records(package),
        "anchor": anchor,
        "contact_anchor": contact_anchor,
        "link_text": link_text,
        "flags": flagged_contacts(package),
        "account": package.account,
        "num": _num,
        "pct": pct,
        "spark": _spark,
        "label": label,
        "gauges": GAUGE_FEATURES,
        "assumptions": {
            "minutes_per_resolution": MINUTES_PER_RESOLUTION,
            "hourly_cost_usd": HOURLY_COST_USD,
        },
    }


def artifact_paths(artifact_dir: str, package: RenewalPackage) -> tuple[Path, Path]:
    account_id = package.account.account_id
    if not _SAFE_ID.fullmatch(account_id) or ".." in account_id:
        raise ApplicationError(
            f"account id {account_id!r} cannot name a directory",
            type=errors.INVALID_ACCOUNT_ID,
            non_retryable=True,
        )
    base = Path(artifact_dir).resolve() / account_id / f"renewal-{package.renewal_date}"
    return base.with_suffix(".md"), base.with_suffix(".html")


def artifact_url(base_url: str | None, artifact_dir: str, html_path: str) -> str | None:
    """The HTML's address under the served folder's base URL; None without a base URL
    or for a file outside the folder."""
    if not base_url:
        return None
    try:
        relative = Path(html_path).resolve().relative_to(Path(artifact_dir).resolve())
    except ValueError:
        return None
    return base_url.rstrip("/") + "/" + "/".join(quote(part) for part in relative.parts)


def render_package(package: RenewalPackage) -> tuple[str, str]:
    """The package as (Markdown, HTML); the artifacts hold no generation time, so the
    same package always renders to the same bytes."""
    return (
        render_for_activity(MARKDOWN_TEMPLATE, **_template_values(package)),
        render_for_activity(HTML_TEMPLATE, **_template_values(package, usage_charts(package))),
    )
