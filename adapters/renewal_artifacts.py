"""The renewal package as files: rendered to Markdown and standalone HTML from the
templates, written atomically under the artifact folder."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from temporalio.exceptions import ApplicationError

from adapters.templates import render_for_activity
from context.renewal_sections import (
    GAUGE_FEATURES,
    HOURLY_COST_USD,
    MINUTES_PER_RESOLUTION,
    label,
    pct,
)
from contracts import errors
from contracts.renewal import RenewalPackage

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


def _spark_points(values: list[float], width: int = 120, height: int = 24) -> str:
    """SVG polyline points of the weekly trend (0 at the bottom, the peak at the top)."""
    top = max(values, default=0) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - v / top * height:.1f}" for i, v in enumerate(values))


def _template_values(package: RenewalPackage) -> dict:
    return {
        "package": package,
        "account": package.account,
        "num": _num,
        "pct": pct,
        "spark": _spark,
        "spark_points": _spark_points,
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
    values = _template_values(package)
    return (
        render_for_activity(MARKDOWN_TEMPLATE, **values),
        render_for_activity(HTML_TEMPLATE, **values),
    )
