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

from adapters.payload_codec import new_key_entry, parse_codec_keys
from adapters.temporal_client import data_converter
from worker import INTERCEPTORS, WORKFLOWS

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


# The histories were recorded unencrypted; turning the payload codec on must not stop
# them replaying (unencrypted payloads pass through its decode).
CONVERTERS = {
    "plain": pydantic_data_converter,
    "codec-on": data_converter(parse_codec_keys(new_key_entry("replay"))),
}


@pytest.mark.parametrize("converter", CONVERTERS)
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_committed_history_replays(path: Path, converter: str):
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    replayer = Replayer(
        workflows=WORKFLOWS, interceptors=INTERCEPTORS, data_converter=CONVERTERS[converter]
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
