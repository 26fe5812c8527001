"""`csops report`: the outcome report for the CS leader, as report.json, PNG charts
and report.html in one folder (context/outcomes.py counts, adapters/outcome_report.py
draws and renders)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from adapters import offline_engine
from adapters.llm_prices import load_prices
from adapters.outcome_report import write_report
from adapters.settings import Settings
from context.db import session
from context.decisions import decision_figures
from context.outcomes import default_since, outcome_figures
from policies.model import PolicySet


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def engine_label(settings: Settings) -> str:
    """The engine the worker answers with under these settings (as its audit rows say)."""
    if settings.openai_api_key:
        return f"openai:{settings.llm_model}"
    return offline_engine.ENGINE


def report_figures(
    settings: Settings,
    engine: Engine,
    policies: PolicySet,
    since: datetime | None,
    until: datetime,
) -> dict[str, Any]:
    """Every figure of the report for [since, until) (since None: the 30 days to
    `until`), JSON-ready (ISO 8601 timestamps with their zone).

    Raises:
        PriceError: the LLM price file is unusable.
    """
    prices = load_prices(settings.llm_prices)
    since = since or default_since(until)
    work_types = {name: a.work_type.value for name, a in policies.autonomy.actions.items()}
    with session(engine) as s:
        figures = outcome_figures(s, since, until, work_types, prices, offline_engine.ENGINE)
        # Approval, edit and rejection rates and review grades: policy stats' own figures.
        decided = [d.model_dump() for d in decision_figures(s, figures.since, figures.until)]
    data = {
        "created_at": datetime.now(UTC),
        "engine": engine_label(settings),
        "policy_version": policies.version,
        **figures.model_dump(),
        "units_total": figures.units.total,
        "decision_figures": decided,
    }
    return json.loads(json.dumps(data, default=_iso))


def make_report(
    settings: Settings,
    engine: Engine,
    policies: PolicySet,
    since: datetime | None,
    until: datetime,
    out_dir: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[dict[str, Any], Path]:
    """Count, draw and write the report into `out_dir`: (its figures, report.html)."""
    data = report_figures(settings, engine, policies, since, until)
    progress(f"counted {data['since']} to {data['until']}; drawing the charts into {out_dir}")
    return data, write_report(data, out_dir)
