"""The Markdown a workflow shows as its current details in the Temporal UI: what
it waits for, who may decide, by when, and the payload to paste. Pure functions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.human import ALLOWED_DECISIONS, HumanRequest, Refusal
    from contracts.records import DeliveryStatus


def fmt(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _open_request(r: HumanRequest) -> list[str]:
    payload = r.signal_payload()
    others = [d for d in ALLOWED_DECISIONS[r.kind] if d != payload["decision"]]
    lines = [
        "",
        f"**{r.title}**",
        "",  # the UI's Markdown needs it to start the list
        f"- Request `{r.request_id}` · {r.kind} · autonomy `{r.autonomy.value}`",
        f"- Who may decide: {', '.join(r.eligible_approvers)}",
        f"- Decide by **{fmt(r.due_at)}**; expires {fmt(r.expire_at)}, then nothing is done",
    ]
    if r.draft:
        lines += ["- Draft to judge:", "", *(f"> {line}" for line in r.draft.splitlines()), ""]
    if r.not_sendable:
        others = [d for d in others if d != "approve"]
        lines.append(f"- **Cannot be approved as it stands**: {r.not_sendable}")
    if r.sources:
        lines += ["- Sources:", *(f"  - {s.citation()} (score {s.score:.1f})" for s in r.sources)]
    if r.notes:
        lines += ["- Notes for you (never sent to the customer):", *(f"  - {n}" for n in r.notes)]
    lines.append("- Paste into **Send a Signal** → `decide` the payload with your own address:")
    for person, payloads in r.payloads().items():
        # Indented: one long line is cut off in the UI's details pane.
        lines += ["", f"  **{person}**", "", "```json", json.dumps(payloads[0], indent=2), "```"]
    if others:
        lines.append(
            f"  Other decisions: {', '.join(others)}"
            + (' (an edit carries the new text in `"text"`)' if "edit" in others else "")
        )
    return lines


def details_markdown(
    header: list[str],
    requests: Iterable[HumanRequest],
    refusals: list[Refusal],
    undelivered: list[DeliveryStatus] | None = None,
) -> str:
    """The header, then the open requests with their payloads, the decided ones,
    the messages that could not be delivered and the last refused signals."""
    requests = list(requests)
    open_requests = [r for r in requests if r.status == "open"]
    lines = [*header, ""]
    if open_requests:
        lines.append(f"### Waiting for a human ({len(open_requests)})")
        for r in open_requests:
            lines += _open_request(r)
    else:
        lines.append("Nothing is waiting for a human.")
    closed = [r for r in requests if r.status != "open"]
    if closed:
        lines += ["", "### Decided"]
        lines += [
            f"- `{r.request_id}`: **{r.status}**"
            + (f" by {r.decided_by}" if r.decided_by else "")
            + (f" at {fmt(r.decided_at)}" if r.decided_at else "")
            for r in closed
        ]
    if undelivered:
        lines += ["", "### Not delivered (the owner was alerted; `csops outbox --failed`)"]
        lines += [f"- to {d.to}: *{d.subject}* — {d.last_error}" for d in undelivered]
    if refusals:
        lines += ["", "### Refused signals (the workflow kept waiting)"]
        lines += [f"- {fmt(f.at)}: {f.reason} — payload `{f.payload[:200]}`" for f in refusals[-5:]]
    return "\n".join(lines)
