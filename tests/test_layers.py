"""The layering rules hold in the real tree, and the checker really catches breaches.

Each rule is shown twice: clean code passes and a small, deliberate breach is reported
with the exact line a reader would see, so the checker cannot pass by reporting nothing.
"""

from __future__ import annotations

from pathlib import Path

from support.layers import import_graph, project_sources, violations

ROOT = Path(__file__).parent.parent


def _real_sources() -> dict[str, str]:
    """The real tree, after checking it was actually found (an empty tree is "clean" too)."""
    sources = project_sources(ROOT)
    assert {"context.db", "activities.records", "workflows.escalation", "worker", "csops.cli"} <= (
        sources.keys()
    )
    return sources


def _line_of(text: str, statement: str) -> int:
    return text.splitlines().index(statement) + 1


def test_real_tree_has_no_layer_violations() -> None:
    found = violations(_real_sources())
    assert found == [], "layer violations:\n" + "\n".join(found)


def test_nothing_outside_csops_imports_csops() -> None:
    graph = import_graph(_real_sources())
    offenders = {
        module: sorted(t for t in targets if t.split(".")[0] == "csops")
        for module, targets in graph.items()
        if module.split(".")[0] != "csops"
    }
    assert {m: t for m, t in offenders.items() if t} == {}


def test_upward_imports_in_real_modules_are_reported() -> None:
    sources = _real_sources()
    lazy = "    from csops.cli import app"
    sources["context.db"] += f"\n\ndef _oops() -> None:\n{lazy}\n"
    sources["activities.records"] = "import workflows.escalation\n" + sources["activities.records"]

    found = violations(sources)

    db_line = _line_of(sources["context.db"], lazy)
    assert (
        f"context/db.py:{db_line}: context (layer 2) imports csops.cli (layer 7): upward" in found
    )
    assert (
        "activities/records.py:1: activities (layer 4) imports workflows.escalation (layer 5): upward"
        in found
    )
    assert "csops.cli" in import_graph(sources)["context.db"]
    # workflows.escalation reaches activities.records again through activities.llm_gateway.
    assert any(
        line.startswith("import cycle:")
        and "activities.records" in line
        and "workflows.escalation" in line
        for line in found
    ), found


def test_cycle_is_reported_with_its_modules() -> None:
    one_way = {"adapters.a": "from adapters.b import helper\n", "adapters.b": "import json\n"}
    assert violations(one_way) == []

    both_ways = {**one_way, "adapters.b": "def f():\n    import adapters.a\n"}
    assert violations(both_ways) == ["import cycle: adapters.a -> adapters.b -> adapters.a"]


def test_contracts_take_only_pydantic_and_temporalio_common_from_third_parties() -> None:
    ok = (
        "import json\n"
        "from pydantic import BaseModel\n"
        "from temporalio.common import RetryPolicy\n"
        "from temporalio.contrib.pydantic import pydantic_data_converter\n"
        "from temporalio import common\n"
    )
    assert violations({"contracts.ok": ok}) == []

    found = violations({"contracts.bad": ok + "from temporalio.client import Client\n"})
    expected = (
        "contracts/bad.py:6: contracts imports temporalio.client: third parties allowed are only "
        "pydantic, temporalio.common, temporalio.contrib.pydantic, temporalio.converter"
    )
    assert found == [expected]


def test_context_never_imports_temporalio() -> None:
    assert violations({"context.ok": "from sqlmodel import Session\n"}) == []

    found = violations({"context.bad": "def f():\n    import temporalio\n"})
    assert found == [
        "context/bad.py:2: context imports temporalio: context must not depend on temporalio"
    ]


def test_workflows_import_lower_layers_only_through_the_sandbox() -> None:
    lower = {"activities.records": "", "workflows.options": ""}
    ok = (
        "from temporalio import workflow\n"
        "from workflows.options import RETRY\n"
        "with workflow.unsafe.imports_passed_through():\n"
        "    from activities.records import RecordActivities\n"
    )
    assert violations({**lower, "workflows.ok": ok}) == []

    bad = "from temporalio import workflow\nfrom activities.records import RecordActivities\n"
    expected = (
        "workflows/bad.py:2: workflows imports activities.records (layer 4) "
        "outside workflow.unsafe.imports_passed_through()"
    )
    assert violations({**lower, "workflows.bad": bad}) == [expected]


def test_type_checking_imports_are_ignored_but_tests_are_off_limits() -> None:
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from csops.cli import app\n"
    assert violations({"context.ok": guarded, "csops.cli": ""}) == []

    assert violations({"adapters.bad": "from tests.conftest import fixture\n"}) == [
        "adapters/bad.py:1: adapters imports tests.conftest: tests/ is not part of the project"
    ]


def test_relative_imports_are_resolved() -> None:
    sources = {
        "context": "",
        "context.db": "from . import tables\nfrom ..adapters import settings\n",
    }
    sources |= {"context.tables": "", "adapters": "", "adapters.settings": ""}
    assert violations(sources) == [
        "context/db.py:2: context (layer 2) imports adapters.settings (layer 3): upward"
    ]
