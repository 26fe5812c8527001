"""The internal-ticket channel: one issue POSTed as JSON to the tracker's webhook
(`CSOPS_TICKET_WEBHOOK_URL`) for a dip (an NPS detractor, or the health band
getting worse), in the shape Linear's and Jira's
issue-creating webhooks take (a bridge such as a Zapier or n8n hook maps it on):

    {"title": ..., "description": Markdown, "labels": ["csops", "nps-dip"],
     "priority": 2, "external_id": "nps:17"}

with the header `Idempotency-Key: <dip key>`, so a tracker that deduplicates drops
the one possible duplicate (the POST went out, the record of it did not). The
created issue's id is read from the answer's `id`, `key` (Jira) or `identifier`
(Linear), its link from `url` when there is one.

The standard library's urllib: one small POST, and httpx is no dependency of
csops' own (only the openai client's).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from temporalio.exceptions import ApplicationError

from contracts import errors
from contracts.health import InternalTicketInput
from contracts.markdown import md, md_quote

NPS_LABELS, HEALTH_LABELS = ["csops", "nps-dip"], ["csops", "health-dip"]
# Linear's priorities (Jira bridges map them): 2 high for an account already at risk,
# 3 medium otherwise.
PRIORITY_AT_RISK, PRIORITY_OTHERWISE = 2, 3
ID_FIELDS = ("id", "key", "identifier")
# 4xx answers a retry can fix: a timeout, a conflict with a request still running, a
# rate limit. Any other 4xx is the request itself, refused for good.
RETRYABLE_4XX = frozenset({408, 409, 425, 429})
ERROR_BODY_CHARS = 300


@dataclass(frozen=True)
class CreatedIssue:
    external_id: str
    url: str | None


def issue_for(inp: InternalTicketInput) -> dict:
    """The issue for one dip: the account, its score and band, what dipped (the NPS
    response with the customer's comment quoted as they wrote it, or the band's
    fall) and the evidence (each component of the score, weakest first, with what
    it was computed from)."""
    health, detractor, crossing = inp.health, inp.detractor, inp.crossing
    name = md(health.account_name)
    trend = "" if health.trend is None else f", {health.trend:+d} since the previous score"
    lines = [
        f"**Account:** {name} (`{health.account_id}`)",
        f"**Health on {health.as_of}:** {health.score}/100, {health.band}{trend}",
        "",
    ]
    if detractor is not None:
        title, labels = f"NPS {detractor.score}/10 at {health.account_name}", NPS_LABELS
        lines += [
            (
                f"**NPS response {detractor.response_id}:** {detractor.score}/10 from "
                f"{md(detractor.contact_email)} on {detractor.at:%Y-%m-%d %H:%M} UTC"
            ),
            *(md_quote(detractor.comment) if detractor.comment.strip() else ["*No comment.*"]),
        ]
    else:
        assert crossing is not None  # one dip or the other (InternalTicketInput)
        title = f"Health {crossing.from_band} → {crossing.to_band} at {health.account_name}"
        labels = HEALTH_LABELS
        lines.append(
            f"**Band:** {crossing.from_band} ({crossing.from_score}) on {crossing.since} → "
            f"{crossing.to_band} ({crossing.to_score}) on {health.as_of}"
        )
    lines += ["", "**Evidence** (the score's components, weakest first):"]
    for c in sorted(health.components, key=lambda c: (c.score, c.name)):
        records = f" ({md(', '.join(c.records))})" if c.records else ""
        lines.append(f"- {c.name} {c.score}/100: {md(c.summary)}{records}")
    return {
        "title": title,
        "description": "\n".join(lines),
        "labels": labels,
        "priority": PRIORITY_AT_RISK if health.band == "at_risk" else PRIORITY_OTHERWISE,
        "external_id": inp.dip_key,
    }


class TicketWebhook:
    """POSTs issues to one tracker webhook."""

    def __init__(self, url: str, timeout: float = 10) -> None:
        self.url = url
        self.timeout = timeout

    def open_issue(self, issue: dict, idempotency_key: str) -> CreatedIssue:
        """POST the issue and return what the tracker created.

        Raises:
            ApplicationError: TICKET_WEBHOOK_REFUSED (non-retryable) when the tracker
                refused the request itself (a 4xx a retry cannot fix) or answered
                without the issue's id; TICKET_WEBHOOK_FAILED (retried) on any other
                HTTP error or no answer in time.
        """
        request = urllib.request.Request(
            self.url,
            data=json.dumps(issue).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Idempotency-Key": idempotency_key,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            body = err.read().decode("utf-8", "replace")[:ERROR_BODY_CHARS]
            refused = 400 <= err.code < 500 and err.code not in RETRYABLE_4XX
            raise ApplicationError(
                f"the ticket webhook {self.url} answered HTTP {err.code} {err.reason}: {body}",
                type=errors.TICKET_WEBHOOK_REFUSED if refused else errors.TICKET_WEBHOOK_FAILED,
                non_retryable=refused,
            ) from None
        except (urllib.error.URLError, TimeoutError) as err:
            raise ApplicationError(
                f"the ticket webhook {self.url} did not answer: {getattr(err, 'reason', err)}",
                type=errors.TICKET_WEBHOOK_FAILED,
            ) from None
        return _created(raw, self.url)


def _created(raw: bytes, url: str) -> CreatedIssue:
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    found = (
        next((answer[f] for f in ID_FIELDS if answer.get(f) not in (None, "")), None)
        if isinstance(answer, dict)
        else None
    )
    if found is None:  # a retry would POST again and get the same answer
        raise ApplicationError(
            f"the ticket webhook {url} answered without the issue's id "
            f"({' or '.join(ID_FIELDS)}): {raw[:ERROR_BODY_CHARS].decode('utf-8', 'replace')}",
            type=errors.TICKET_WEBHOOK_REFUSED,
            non_retryable=True,
        )
    link = answer.get("url")
    return CreatedIssue(external_id=str(found), url=link if isinstance(link, str) else None)
