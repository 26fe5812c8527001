"""Chat and webhook channels for the outbox: a Slack incoming webhook and a generic
signed webhook, each a JSON POST of one outbox row.

Slack gets the message as Block Kit: the subject as header, the body, every
`decide` payload the body offers as its own code block (copied exactly, nothing
reformatted by Slack's markup) and a button to the workflow in the Web UI.

The generic webhook gets the row as JSON, signed like GitHub's webhooks: header
`X-Csops-Signature-256: sha256=<hex HMAC-SHA256 of the raw body under the shared
secret>`; `Idempotency-Key` carries the outbox key, so a receiver drops the one
possible duplicate (the POST went out, the crash came before it was recorded).

The standard library's urllib, as adapters/ticket_webhook.py: one small POST each,
and httpx is no dependency of csops' own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.error
import urllib.request
from datetime import UTC

from adapters.ticket_webhook import ERROR_BODY_CHARS, RETRYABLE_4XX
from adapters.ui_links import workflow_url
from context.tables import OutboxMessage

SIGNATURE_HEADER = "X-Csops-Signature-256"
# Slack's limits: a header's text 150 characters, a section's 3000, 50 blocks.
SLACK_HEADER_CHARS, SLACK_SECTION_CHARS, SLACK_BLOCKS = 150, 3000, 50
# A decide payload as the notification templates write it: a JSON object on one line.
PAYLOAD_LINE = re.compile(r"\{\"request_id\": .*\}")


class UndeliverableError(ValueError):
    """The message can never be delivered as it stands (a bad address, a webhook that
    refuses the request itself): no retry."""


class ChannelError(RuntimeError):
    """The channel did not take the message this time (no answer, a 5xx, a rate
    limit): the dispatcher tries again on a later pass."""


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    """POST `body` as JSON.

    Raises:
        UndeliverableError: a 4xx no retry can fix (the URL or the request is wrong).
        ChannelError: no answer in time, or an answer a retry may change.
    """
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as err:
        said = err.read().decode("utf-8", "replace")[:ERROR_BODY_CHARS]
        problem = f"the webhook answered HTTP {err.code} {err.reason}: {said}"
        if 400 <= err.code < 500 and err.code not in RETRYABLE_4XX:
            raise UndeliverableError(problem) from None
        raise ChannelError(problem) from None
    except (urllib.error.URLError, TimeoutError) as err:
        raise ChannelError(f"the webhook did not answer: {getattr(err, 'reason', err)}") from None


def slack_escape(text: str) -> str:
    """Slack's markup reads `&`, `<` and `>` as control characters; these three, and
    nothing else, are escaped (Slack's formatting reference)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def decide_payloads(body: str) -> list[dict]:
    """The `decide` payloads a notification's body offers, in order (no duplicates)."""
    found: list[dict] = []
    for match in PAYLOAD_LINE.finditer(body):
        try:
            payload = json.loads(match.group())
        except ValueError:
            continue
        if isinstance(payload, dict) and "decision" in payload and payload not in found:
            found.append(payload)
    return found


def _sections(text: str) -> list[dict]:
    chunks = [text[i : i + SLACK_SECTION_CHARS] for i in range(0, len(text), SLACK_SECTION_CHARS)]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks]


def slack_message(row: OutboxMessage, link: str) -> dict:
    """The incoming-webhook JSON for one outbox row; `link` is the workflow's page."""
    payload_blocks = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"`decide` for *{slack_escape(p.get('approver', ''))}*:\n"
                f"```{slack_escape(json.dumps(p))}```",
            },
        }
        for p in decide_payloads(row.body)
    ]
    button = {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Open the workflow"},
                "url": link,
            }
        ],
    }
    body_blocks = _sections(slack_escape(row.body))
    # Block Kit takes 50 blocks: a body too long for them is cut, never the payloads.
    room = SLACK_BLOCKS - 2 - len(payload_blocks)
    return {
        # The notification's text (and what clients without blocks show).
        "text": slack_escape(f"{row.subject} · {row.workflow_id}"),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": row.subject[:SLACK_HEADER_CHARS]},
            },
            *body_blocks[: max(room, 0)],
            *payload_blocks[: SLACK_BLOCKS - 2],
            button,
        ],
    }


class SlackChannel:
    """Posts each message to one Slack incoming webhook (its channel is the hook's)."""

    def __init__(self, url: str, ui_url: str, namespace: str, timeout: float = 10) -> None:
        self._url, self._ui_url, self._namespace, self._timeout = url, ui_url, namespace, timeout

    def deliver(self, row: OutboxMessage) -> str | None:
        link = workflow_url(self._ui_url, self._namespace, row.workflow_id)
        body = json.dumps(slack_message(row, link)).encode()
        post_json(self._url, body, {}, self._timeout)
        return None


def webhook_body(row: OutboxMessage, link: str) -> dict:
    """What the generic webhook receives for one outbox row."""
    return {
        "idempotency_key": row.idempotency_key,
        "workflow_id": row.workflow_id,
        "workflow_url": link,
        "account_id": row.account_id,
        "audience": row.audience,
        "channel": row.channel,
        "to": [a for a in row.to.split(",") if a],
        "subject": row.subject,
        "body": row.body,
        "engine": row.engine,
        # SQLite hands back naive datetimes; the outbox writes UTC.
        "created_at": row.created_at.replace(tzinfo=row.created_at.tzinfo or UTC).isoformat(),
        "decide_payloads": decide_payloads(row.body),
    }


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """POSTs each message, signed with the shared secret, to one URL."""

    def __init__(
        self, url: str, secret: str, ui_url: str, namespace: str, timeout: float = 10
    ) -> None:
        self._url, self._secret, self._timeout = url, secret, timeout
        self._ui_url, self._namespace = ui_url, namespace

    def deliver(self, row: OutboxMessage) -> str | None:
        link = workflow_url(self._ui_url, self._namespace, row.workflow_id)
        body = json.dumps(webhook_body(row, link)).encode()
        headers = {
            SIGNATURE_HEADER: signature(self._secret, body),
            "Idempotency-Key": row.idempotency_key,
        }
        post_json(self._url, body, headers, self._timeout)
        return None
