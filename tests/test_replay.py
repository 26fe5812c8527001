"""Committed histories keep replaying: a workflow change that alters commands
must stay compatible (or be versioned) before it ships.

Record the current code's histories beside the older ones with:
CSOPS_RECORD_HISTORIES=1 CSOPS_HISTORY_TAG=<newest patch id> .venv/bin/pytest
tests/test_escalation.py tests/test_onboarding.py tests/test_renewal.py
tests/test_investigation.py tests/test_health_digest.py tests/test_review_loop.py
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.temporal import HISTORY_DIR, HISTORY_IDS
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox._runner import _Instance

from adapters.codec_keys import new_key_entry, parse_codec_keys
from adapters.temporal_client import data_converter
from adapters.workflow_runner import DirectContextInstance, DirectContextSandboxRunner
from worker import INTERCEPTORS, STRICT_WORKFLOW_RUNNER, WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = sorted(p for p in HISTORY_DIR.glob("*.json") if p != HISTORY_IDS)
# The workflow id each history ran under; older recordings replay under their name.
WORKFLOW_IDS = json.loads(HISTORY_IDS.read_text()) if HISTORY_IDS.exists() else {}


def test_histories_are_committed():
    names = {p.stem for p in HISTORIES}
    assert {
        "escalation_hot_acked",
        "escalation_copilot_approved",
        "onboarding_smb_healthy",
        "onboarding_enterprise",
        "renewal_package",
        "renewal_package_terms",
        "renewal_package_with_summary",
        "investigation",
        "qbr_narrative_edited",
        "health_digest",
        "review_graded_bad.review-requests",
        "review_expired.review-requests",
        "escalation_supervised_reviewed.review-requests",
        "onboarding_messages_reviewed.review-requests",
        "account_watch_summary_reviewed.review-requests",
    } <= names, names


# The histories were recorded unencrypted; turning the payload codec on must not stop
# them replaying (unencrypted payloads pass through its decode).
CONVERTERS = {
    "plain": pydantic_data_converter,
    "codec-on": data_converter(parse_codec_keys(new_key_entry("replay"))),
}


# The worker's runner (workflow modules shared), and the strict one that re-imports
# them per workflow and so catches non-deterministic calls on every recorded path.
RUNNERS = {"worker": WORKFLOW_RUNNER, "strict": STRICT_WORKFLOW_RUNNER}


@pytest.mark.parametrize("runner", RUNNERS)
@pytest.mark.parametrize("converter", CONVERTERS)
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_committed_history_replays(path: Path, converter: str, runner: str):
    history = WorkflowHistory.from_json(
        WORKFLOW_IDS.get(path.stem, path.stem), await asyncio.to_thread(path.read_text)
    )
    replayer = Replayer(
        workflows=WORKFLOWS,
        interceptors=INTERCEPTORS,
        workflow_runner=RUNNERS[runner],
        data_converter=CONVERTERS[converter],
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


class _BothContexts(DirectContextInstance):
    """Answers each serialization-context ask both ways and keeps both answers."""

    answers: list[tuple[object, object]] = []

    def get_serialization_context(self, command_info):
        direct = super().get_serialization_context(command_info)
        self.answers.append((direct, _Instance.get_serialization_context(self, command_info)))
        return direct


@dataclass(frozen=True)
class _ComparingRunner(DirectContextSandboxRunner):
    def create_instance(self, det):
        return _BothContexts(det, self.runner_class, self.restrictions)


async def test_direct_serialization_context_matches_the_sandboxed_one():
    """The worker's runner answers the SDK's serialization-context asks without
    entering the sandbox (adapters/workflow_runner.py); over every committed history
    each answer equals the one the sandbox gives, activity contexts among them."""
    replayer = Replayer(
        workflows=WORKFLOWS,
        interceptors=INTERCEPTORS,
        workflow_runner=_ComparingRunner(restrictions=WORKFLOW_RUNNER.restrictions),
        data_converter=pydantic_data_converter,
    )
    _BothContexts.answers.clear()
    for path in HISTORIES:
        history = WorkflowHistory.from_json(
            WORKFLOW_IDS.get(path.stem, path.stem), await asyncio.to_thread(path.read_text)
        )
        await replayer.replay_workflow(history)
    answers = _BothContexts.answers
    assert answers and all(direct == sandboxed for direct, sandboxed in answers)
    kinds = {type(direct).__name__ for direct, _ in answers}
    assert {"WorkflowSerializationContext", "ActivitySerializationContext"} <= kinds, kinds
