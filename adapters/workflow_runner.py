"""The sandbox runner the csops worker uses: temporalio's, with one hot path made
direct.

temporalio 1.35 asks the workflow for a serialization context for every payload
it encodes or decodes (three visits each way), and its sandbox answers each ask
by compiling and `exec`-ing a two-line snippet that enters the sandbox's import
context. On hot tickets that was 19% of the worker's CPU (py-spy, 8 tickets/s).
The answer is plain data built from the workflow's info and pending commands (no
workflow code runs, nothing is imported), so this runner asks the instance
inside the sandbox directly. Everything else, including every activation, still
runs inside the sandbox exactly as before. tests/test_replay.py checks both
answers are equal across every committed history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox._runner import _Instance

# Private to temporalio, hence the pinned version in pyproject.toml: the sandbox's
# globals hold its InSandbox object under this name once the instance exists.
IN_SANDBOX = "__temporal_in_sandbox"


class DirectContextInstance(_Instance):
    """The sandboxed instance, asked for serialization contexts directly."""

    def _in_sandbox(self) -> Any:
        return self.globals_and_locals[IN_SANDBOX]  # typed str in temporalio, an object here

    def get_serialization_context(self, command_info: Any) -> Any:
        return self._in_sandbox().get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        return self._in_sandbox().get_external_store_context(command_info)


@dataclass(frozen=True)
class DirectContextSandboxRunner(SandboxedWorkflowRunner):
    """SandboxedWorkflowRunner whose serialization-context lookups skip the
    per-payload compile-and-exec (see the module's docstring)."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return DirectContextInstance(det, self.runner_class, self.restrictions)
