"""The Markdown a workflow shows as its current details in the Temporal UI: what
it waits for, what is decided and why, who may decide, by when, and each person's
payloads to paste. Pure functions.
Everything that comes from data (a customer's words, a draft, a name) is escaped
(contracts/markdown.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts.autonomy import rule_in_words
    from contracts.human import REVIEW_REASONS, HumanRequest, Refusal
    from contracts.markdown import md, md_quote, quote_shortened
    from contracts.records import DeliveryStatus

WHOLE_DRAFT = "the `human_requests` query (Queries tab), or `csops inbox --json`"

WHAT_IS_DECIDED = {
    "approval": "approve the draft as it stands, edit it (your text is what goes out) or "
    "reject it (nothing is sent)",
    "ack": "acknowledge: you take it over and the reminders to you and your manager stop",
    "task": "do it yourself, then mark it done",
    "review": "grade what the agent already sent: good (right to send, as it was sent) or "
    "bad (it should not have gone out as it did; say why in `reason`: "
    + ", ".join(REVIEW_REASONS)
    + "). Nothing is undone either way: the grades tell the policy whether the action "
    "may stay where it is",
    # An approval whose draft cannot go out as it stands (see `payloads_for`).
    "rewrite": "write the reply yourself (edit: your text is what goes out) or reject it "
    "(nothing is sent)",
}


def fmt(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def why_a_person(r: HumanRequest) -> str:
    """The policy's reason for asking, in words."""
    why = f"the policy puts `{r.action}` at **{r.autonomy.value}**, where {r.autonomy.meaning}"
    if r.rule:
        why += f" ({md(rule_in_words(r.rule))})"
    if r.adjustments:
        why += "; moved right because " + md("; ".join(r.adjustments))
    return why


def _payload_block(payload: dict) -> list[str]:
    return ["", "```json", json.dumps(payload, indent=2, ensure_ascii=False), "```"]


def _open_request(r: HumanRequest, shown_above: str | None) -> list[str]:
    lines = [
        "",
        f"**{md(r.title)}**",
        "",  # the UI's Markdown needs it to start the list
        f"- What you decide: {WHAT_IS_DECIDED['rewrite' if r.not_sendable else r.kind]}",
        f"- Why a person: {why_a_person(r)}",
        f"- Who may decide: {md(', '.join(r.eligible_approvers))}",
        f"- Grade by **{fmt(r.expire_at)}**; then it expires quietly (no reminder)"
        if r.kind == "review"
        else f"- Decide by **{fmt(r.due_at)}**; expires {fmt(r.expire_at)}, then nothing is done",
        f"- Request `{r.request_id}` · {r.kind} · policy {r.policy_version or 'unknown'}",
    ]
    if r.draft and r.kind == "review":
        lines += ["- Sent (exactly this text):", "", *md_quote(r.draft), ""]
    elif r.draft and r.kind == "approval":
        lines += [
            "- Draft to judge (the customer gets exactly this text):",
            "",
            *md_quote(r.draft),
            "",
        ]
    elif r.draft and r.draft == shown_above:
        lines.append("- About: the customer's message above")
    elif r.draft:
        lines += ["- About:", "", *quote_shortened(r.draft, WHOLE_DRAFT), ""]
    if r.not_sendable:
        lines.append(f"- **Cannot be approved as it stands**: {md(r.not_sendable)}")
    if r.sources:
        lines += [
            "- Sources:",
            *(f"  - {md(s.citation())} (score {s.score:.1f})" for s in r.sources),
        ]
    if r.notes:
        lines += [
            "- Notes for you (never sent to the customer):",
            *(f"  - {md(n)}" for n in r.notes),
        ]
    lines.append(
        "- Paste into **Send a Signal** (or **Send an Update**) → `decide` the payload "
        "with your own address:"
    )
    for person, payloads in r.payloads().items():
        for payload in payloads:
            label = {
                "edit": "edit: change `text`, keep the rest",
                "reject": "reject: nothing is sent",
                "good": "good: right to send, as it was sent",
                "bad": "bad: set `reason` and `note` to say what was wrong",
            }.get(payload["decision"], payload["decision"])
            # Indented under the person: one long line is cut off in the details pane.
            lines += ["", f"  **{md(person)}** · {label}", *_payload_block(payload)]
    return lines


def details_markdown(
    header: list[str],
    requests: Iterable[HumanRequest],
    refusals: list[Refusal],
    undelivered: list[DeliveryStatus] | None = None,
    shown_above: str | None = None,
) -> str:
    """The header, then the open requests with their payloads, the decided ones,
    the messages that could not be delivered and the last refused signals.
    `shown_above`: text the header already quotes (a request about it says so)."""
    requests = list(requests)
    open_requests = [r for r in requests if r.status == "open"]
    lines = [*header, ""]
    if open_requests:
        lines.append(f"### Waiting for a human ({len(open_requests)})")
        for r in open_requests:
            lines += _open_request(r, shown_above)
    else:
        lines.append("Nothing is waiting for a human.")
    closed = [r for r in requests if r.status != "open"]
    if closed:
        lines += ["", "### Decided"]
        lines += [
            f"- `{r.request_id}`: **{r.status}**"
            + (f" by {md(r.decided_by)}" if r.decided_by else "")
            + (f" at {fmt(r.decided_at)}" if r.decided_at else "")
            for r in closed
        ]
    if undelivered:
        lines += ["", "### Not delivered (the owner was alerted; `csops outbox --failed`)"]
        lines += [
            f"- to {md(d.to)}: *{md(d.subject)}* — {md(d.last_error or '')}" for d in undelivered
        ]
    if refusals:
        lines += ["", "### Refused signals (the workflow kept waiting)"]
        lines += [
            f"- {fmt(f.at)}: {md(f.reason)} — payload `{f.payload[:200].replace('`', chr(39))}`"
            for f in refusals[-5:]
        ]
    return "\n".join(lines)
