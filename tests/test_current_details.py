"""The current details a CSM decides from: the customer's message (quoted, escaped,
shortened with a pointer to the whole), the draft, what is decided and why in words,
by when, and each person's own approve, reject and edit payloads — on a real
escalation, with data that would break the UI's Markdown if it were not escaped."""

from __future__ import annotations

import json
import re

from support.data import CSM, MANAGER, add_account, add_ticket, customer_messages
from support.temporal import (
    current_details,
    decide,
    new_ticket_id,
    start_escalation,
    wait_for_requests,
)
from temporalio.client import WorkflowHandle

from contracts import names
from contracts.escalation import EscalationResult, EscalationState

# Dollars (math in the UI's Markdown), a pipe (a table), backticks (code), HTML, and
# list and heading markers at the start of lines; then enough lines to be shortened.
TRICKY = (
    "Our invoice says $22,600 but the quote said $20,000 | per year.\n"
    "The export shows `NULL` and <b>bold</b> & <script>alert(1)</script>\n"
    "1. first try\n"
    "# not a heading\n"
)
LONG_TAIL = "".join(f"Line {n}: how do I export a report to CSV?\n" for n in range(1, 30))
SUBJECT = "How do I export reports?"


def payload_blocks(details: str) -> list[dict]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", details, re.S)]


async def state(handle: WorkflowHandle) -> EscalationState:
    return await handle.query(names.ESCALATION_STATE_QUERY, result_type=EscalationState)


async def test_the_details_quote_the_customer_escape_the_data_and_offer_each_payload(
    dev_env, db, run_worker
):
    add_account(db, "acc-md", arr=400_000, segment="enterprise", top_rank=7, name="Pipe | Co $")
    ticket = new_ticket_id()
    body = TRICKY + LONG_TAIL
    add_ticket(db, ticket, "acc-md", SUBJECT, body)
    async with run_worker(dev_env) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        [request] = await wait_for_requests(handle)
        details = await current_details(handle)

        # The customer's message, quoted with every special character escaped.
        assert "The customer wrote:" in details
        for line in (
            r"> Our invoice says \$22,600 but the quote said \$20,000 \| per year.  ",
            r"> The export shows \`NULL\` and \<b\>bold\</b\> \& \<script\>alert(1)\</script\>  ",
            r"> 1\. first try  ",
            r"> \# not a heading  ",
        ):
            assert line in details.splitlines(), line
        # Shortened: twelve lines, then where the whole message is; the query has it all.
        assert "> Line 8: how do I export a report to CSV?  " in details
        assert "Line 9:" not in details
        assert f"*Shortened ({len(body):,} characters)" in details
        assert "the Queries tab → `escalation_state` → `message`" in details
        assert (await state(handle)).message == body
        # No raw dollar, pipe or tag from the data anywhere outside the payloads' JSON.
        prose = re.sub(r"```json\n.*?\n```", "", details, flags=re.S)
        assert not re.search(r"(?<!\\)[$|<]", prose.replace("<br>", "")), prose
        assert r"Pipe \| Co \$ (`acc-md`)" in details

        # What is decided, why in words, by when.
        assert (
            "- What you decide: approve the draft as it stands, edit it (your text is what "
            "goes out) or reject it (nothing is sent)"
        ) in details
        assert (
            "- Why a person: the policy puts `customer_reply` at **copilot**, where the agent "
            "drafts and a person decides every time (rule “top 50 accounts human decides”)"
        ) in details
        assert f"- Decide by **{request.due_at:%Y-%m-%d %H:%M} UTC**" in details
        assert "- Draft to judge (the customer gets exactly this text):" in details

        # Each person who may decide: approve, reject and edit, the edit with the draft.
        blocks = payload_blocks(details)
        assert [(b["approver"], b["decision"]) for b in blocks] == [
            (person, decision)
            for person in (CSM, MANAGER)
            for decision in ("approve", "reject", "edit")
        ]
        assert all(b["request_id"] == "approval-1" for b in blocks)
        edits = [b for b in blocks if b["decision"] == "edit"]
        assert [e["text"] for e in edits] == [request.draft, request.draft]
        assert blocks == [p for person in (CSM, MANAGER) for p in request.payloads[person]]

        # The manager pastes her edit payload with a changed text: that text goes out.
        maria_edit = next(b for b in edits if b["approver"] == MANAGER)
        edited = maria_edit["text"].replace("Best regards", "Kind regards, Maria")
        await decide(handle, **{**maria_edit, "text": edited})
        outcome: EscalationResult = await handle.result()
    assert outcome.outcome == "edited"
    [reply] = customer_messages(db, handle.id)
    assert reply.body == edited and "Kind regards, Maria" in reply.body
