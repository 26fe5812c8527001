"""The renewal package as files: rendered to Markdown and standalone HTML from the
templates (the HTML with its charts inside as PNG data URIs, so one file is the
whole brief), written atomically under the artifact folder."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
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
# Two axes, lines and fixed margins (not bars, small multiples and constrained
# layout): a third of the CPU per package, and the nightly sweep renders thousands.
CHART_DPI = 100
_BLUE, _RED = "#3e7bfa", "#a61b1b"


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


def chart_figures(package: RenewalPackage) -> list[tuple[str, str, Figure]]:
    """(name, title, figure) of the brief's charts: active users against the licensed
    seats, and the other features week by week; every axis labelled."""
    from matplotlib.figure import Figure

    weeks = _weeks(package)
    x = list(range(len(weeks)))
    trends = {f.feature: f for f in package.usage.features}
    seats_fig = Figure(figsize=(9, 3.2), dpi=CHART_DPI)
    seats_fig.subplots_adjust(left=0.08, right=0.98, bottom=0.17, top=0.9)
    ax = seats_fig.add_subplot()
    users = trends["active_users"].weekly if "active_users" in trends else [0.0] * len(x)
    ax.plot(x, users, marker="o", color=_BLUE, label="active users per day (weekly average)")
    if package.usage.seats:
        ax.axhline(package.usage.seats, color=_RED, linestyle="--", label="licensed seats")
    ax.set_title("Active users against licensed seats")
    ax.set_xlabel("week ending")
    ax.set_ylabel("users per day")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower left", fontsize=8)

    # One axes for the other features (each line as a share of its own 13-week
    # peak, so units differ freely): ticks are most of the cost of a chart.
    feature_fig = Figure(figsize=(9, 3.2), dpi=CHART_DPI)
    feature_fig.subplots_adjust(left=0.08, right=0.78, bottom=0.17, top=0.9)
    ax = feature_fig.add_subplot()
    for trend in package.usage.features:
        if trend.feature == "active_users":
            continue
        peak = max(trend.weekly, default=0) or 1
        ax.plot(
            x,
            [v / peak * 100 for v in trend.weekly],
            marker="o",
            markersize=3,
            label=label(trend.feature),
        )
    ax.set_title("Usage by feature, week by week")
    ax.set_xlabel("week ending")
    ax.set_ylabel("% of its 13-week peak")
    ax.set_ylim(0, 105)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    for ax in (*feature_fig.axes, *seats_fig.axes):
        ax.set_xticks(x[::2], weeks[::2], fontsize=8)
    return [
        ("seats", "Active users against licensed seats", seats_fig),
        ("features", "Usage by feature, week by week", feature_fig),
    ]


def usage_charts(package: RenewalPackage) -> list[Chart]:
    """The charts as PNG bytes (no timestamp in them: the same package, the same bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    charts = []
    for name, title, figure in chart_figures(package):
        FigureCanvasAgg(figure)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})
        charts.append(Chart(name, title, buffer.getvalue()))
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
