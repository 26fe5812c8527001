"""The outcome report as files: report.json (every figure), PNG charts beside it and
report.html showing both, rendered from templates/artifacts/outcome_report.html.j2.

Charts: matplotlib's object API on the Agg canvas, as the renewal brief draws them
(no pyplot global state); imported when a report renders.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.files import write_atomic
from adapters.templates import render

if TYPE_CHECKING:
    from matplotlib.axes import Axes

HTML_TEMPLATE = "artifacts/outcome_report.html.j2"
CHART_DPI = 100
LEVELS = ("autonomous", "supervised", "copilot", "off_limits")
UNIT_LABELS = {
    "tickets_agent_alone": "tickets: agent alone",
    "tickets_agent_and_human": "tickets: agent + human",
    "tickets_by_humans": "tickets: humans",
    "onboardings_activated": "onboardings activated",
    "renewal_packages_before_call": "renewal packages before the call",
    "risks_caught_before_renewal": "risks caught before renewal",
}

# The per-account table's column heads, under a header naming the kinds of unit.
SHORT_LABELS = {
    "tickets_agent_alone": "agent alone",
    "tickets_agent_and_human": "agent + human",
    "tickets_by_humans": "humans",
    "onboardings_activated": "activated",
    "renewal_packages_before_call": "before the call",
    "risks_caught_before_renewal": "before renewal",
}
ACCOUNTS_SHOWN = 50  # the page lists the accounts with most units; report.json has all


@dataclass
class Chart:
    file: str  # the PNG's name beside report.html
    title: str


def _png(draw: Callable[[Axes], None], size: tuple[float, float] = (8, 3.4)) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=CHART_DPI)
    canvas = FigureCanvasAgg(figure)
    draw(figure.add_subplot())
    figure.tight_layout()
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    return buffer.getvalue()


def _stacked(ax: Axes, labels: list[str], series: dict[str, list[float]], ylabel: str) -> None:
    """Stacked bars, one per label, one colour per series; a legend when there are bars."""
    bottom = [0.0] * len(labels)
    for name, values in series.items():
        ax.bar(labels, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel(ylabel)
    if labels and series:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        ax.text(0.5, 0.5, "nothing in this window", ha="center", transform=ax.transAxes)


def _units(f: dict) -> Callable[[Axes], None]:
    segments = list(f["units_by_segment"])

    def draw(ax: Axes) -> None:
        series = {
            label: [f["units_by_segment"][s][key] for s in segments]
            for key, label in UNIT_LABELS.items()
            if any(f["units_by_segment"][s][key] for s in segments)
        }
        _stacked(ax, segments, series, "units of work")
        ax.set_title("Units of work delivered, by segment")
        ax.set_xlabel("segment")

    return draw


def _actions(f: dict) -> Callable[[Axes], None]:
    types = sorted(f["actions_by_work_type"])

    def draw(ax: Axes) -> None:
        series = {
            level: [
                sum(a["n"] for a in f["actions"] if a["work_type"] == t and a["level"] == level)
                for t in types
            ]
            for level in LEVELS
            if f["actions_by_level"].get(level)
        }
        _stacked(ax, types, series, "agent actions")
        ax.set_title("Agent actions by work type and autonomy level")
        ax.set_xlabel("work type")

    return draw


def _decisions(f: dict) -> Callable[[Axes], None]:
    kinds = [k["kind"] for k in f["requests"]]
    outcomes = sorted({o for k in f["requests"] for o in k["outcomes"]})

    def draw(ax: Axes) -> None:
        series = {o: [k["outcomes"].get(o, 0) for k in f["requests"]] for o in outcomes}
        series["still open"] = [k["still_open"] for k in f["requests"]]
        _stacked(ax, kinds, series, "requests")
        ax.set_title("Human requests by kind, and how they ended")
        ax.set_xlabel("request kind")

    return draw


def _load(f: dict) -> Callable[[Axes], None]:
    def draw(ax: Axes) -> None:
        for csm in f["csm_load"]:
            weeks = [w["week"] for w in csm["weeks"]]
            ax.plot(weeks, [w["open_at_end"] for w in csm["weeks"]], marker="o", label=csm["csm"])
        ax.set_title("Requests open at each week's end, per CSM")
        ax.set_xlabel("ISO week")
        ax.set_ylabel("open requests")
        if f["csm_load"]:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))

    return draw


def _llm(f: dict) -> Callable[[Axes], None]:
    models = f["llm"]["by_model"]

    def draw(ax: Axes) -> None:
        names = [f"{m['model']}\n({m['engine']})" for m in models]
        ax.bar(names, [m["calls"] for m in models], color="#3e7bfa")
        ax.set_title("LLM calls per model (every attempt)")
        ax.set_xlabel("model (engine)")
        ax.set_ylabel("calls")
        if not models:
            ax.text(0.5, 0.5, "no LLM calls in this window", ha="center", transform=ax.transAxes)

    return draw


CHARTS: list[tuple[str, str, Callable[[dict], Callable[[Axes], None]]]] = [
    ("units.png", "Units of work delivered, by segment", _units),
    ("actions.png", "Agent actions by work type and autonomy level", _actions),
    ("decisions.png", "Human requests by kind, and how they ended", _decisions),
    ("csm_load.png", "Requests open at each week's end, per CSM", _load),
    ("llm.png", "LLM calls per model", _llm),
]


def write_report(figures: dict[str, Any], out_dir: Path) -> Path:
    """Write report.json, the charts and report.html into `out_dir`; the HTML's path.

    Args:
        figures: the report's figures as JSON-ready data (timestamps as ISO strings).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "report.json", json.dumps(figures, indent=2, ensure_ascii=False))
    charts = []
    for file, title, drawing in CHARTS:
        (out_dir / file).write_bytes(_png(drawing(figures)))
        charts.append(Chart(file, title))
    html = out_dir / "report.html"
    write_atomic(
        html,
        render(
            HTML_TEMPLATE,
            r=figures,
            charts=charts,
            labels=UNIT_LABELS,
            short=SHORT_LABELS,
            accounts_shown=ACCOUNTS_SHOWN,
        ),
    )
    return html
