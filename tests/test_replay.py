"""Committed histories keep replaying: a workflow change that alters commands
must stay compatible (or be versioned) before it ships.

Re-record with: CSOPS_RECORD_HISTORIES=1 .venv/bin/pytest tests/test_escalation.py
tests/test_onboarding.py tests/test_renewal.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import INTERCEPTORS, WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


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
    } <= names, names


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_committed_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    replayer = Replayer(
        workflows=WORKFLOWS,
        interceptors=INTERCEPTORS,
        workflow_runner=WORKFLOW_RUNNER,
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
