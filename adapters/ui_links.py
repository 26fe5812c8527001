"""Links into the Temporal Web UI, for messages that point a person at a workflow."""

from __future__ import annotations

from urllib.parse import quote, urlencode


def workflows_url(ui_url: str, namespace: str, query: str | None = None) -> str:
    """The UI's list of workflows, filtered by a visibility query when given."""
    base = f"{ui_url.rstrip('/')}/namespaces/{quote(namespace, safe='')}/workflows"
    return f"{base}?{urlencode({'query': query})}" if query else base


def workflow_url(ui_url: str, namespace: str, workflow_id: str) -> str:
    """One workflow's page. Without a run id the UI opens its latest run, so the link
    stays good after a continue-as-new; ids hold `/`, hence the quoting."""
    return f"{workflows_url(ui_url, namespace)}/{quote(workflow_id, safe='')}"
