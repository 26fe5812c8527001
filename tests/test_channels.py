"""Outbox channels against local servers started by the test: a Slack incoming
webhook and a signed generic webhook (a real HTTP server), SMTP with STARTTLS
(a certificate the test makes with `cryptography`) and AUTH (aiosmtpd), and the
configuration that sends each audience to its own channel.

The Slack and webhook test runs a real escalation on the dev server with the
worker's own dispatcher: what Slack and the webhook receive is compared with
what the workflow's `human_requests` query and the outbox hold.
"""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import ssl
import uuid
from datetime import UTC, datetime, timedelta
from email import policy
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from support.data import CSM, HOW_TO, outbox, top_account_ticket
from support.net import free_port
from support.polling import eventually
from support.smtp import Collector
from support.temporal import copilot_reply_request, decide, start_escalation
from support.ticket_server import TrackerServer
from support.tls import self_signed

from activities.records import queue_message
from adapters.channel_specs import ChannelOptions
from adapters.delivery import Delivery, deliver_routes
from adapters.settings import SettingsError, load_settings
from context.db import session
from context.tables import OutboxMessage
from contracts.records import OutboundMessage

UI = "http://ui.csops.test:8233"
SECRET = "s3cret-shared-with-the-receiver"
USER, PASSWORD = "csops-relay", "relay-password"


@pytest.fixture
def slack():
    with TrackerServer() as server:
        yield server


@pytest.fixture
def hook():
    with TrackerServer() as server:
        yield server


def queued(engine, audience: str = "internal", **fields) -> OutboxMessage:
    """A message queued as the send_message activity queues it; returns its row."""
    key = f"test/{uuid.uuid4().hex}/{audience}"
    msg = OutboundMessage(
        idempotency_key=key,
        workflow_id="escalation/T-channels",
        account_id="acc-1",
        audience=audience,
        to=fields.pop("to", ["sam@acc-1.example"]),
        subject=fields.pop("subject", "Re: export"),
        body=fields.pop("body", "Go to Reports > Export & pick CSV."),
        created_at=datetime.now(UTC),
    )
    receipt = queue_message(engine, msg)
    return reload(engine, receipt.message_id)


def reload(engine, row_id: int) -> OutboxMessage:
    with session(engine) as s:
        row = s.get(OutboxMessage, row_id)
    assert row is not None
    return row


def signed_by(post: dict, secret: str) -> bool:
    """The receiver's check: the header is the HMAC-SHA256 of the raw body."""
    expected = "sha256=" + hmac.new(secret.encode(), post["raw"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(post["headers"]["X-Csops-Signature-256"], expected)


def block_texts(slack_post: dict) -> list[str]:
    return [b["text"]["text"] for b in slack_post["body"]["blocks"] if b["type"] == "section"]


async def test_internal_goes_to_slack_with_the_payloads_and_customer_to_the_signed_webhook(
    dev_env, db, run_worker, slack, hook
):
    ticket = top_account_ticket(db, *HOW_TO)
    namespace = dev_env.client.namespace
    delivery = Delivery(
        "none",  # every audience is routed below: nothing may reach the default
        {"internal": f"slack:{slack.url}", "customer": f"webhook:{hook.url}"},
        ChannelOptions(webhook_secret=SECRET, ui_url=UI, namespace=namespace),
    )
    async with run_worker(dev_env, delivery=delivery) as tq:
        handle = await start_escalation(db, dev_env.client, tq, ticket)
        request = await copilot_reply_request(handle)
        [post] = await eventually(lambda: list(slack.posts), what="the Slack post")
        # Slack answers before the dispatcher records the send.
        [told] = await eventually(
            lambda: outbox(db, handle.id),
            holds=lambda rows: [m.status for m in rows] == ["sent"],
            what="the notification recorded as sent",
        )
        assert told.audience == "internal"

        # Slack: the subject, every approver's own approve payload exactly as the
        # query gives it, and a button to this workflow's page in the Web UI.
        message = post["body"]
        assert message["blocks"][0]["text"]["text"] == told.subject
        texts = block_texts(post)
        for person in request.eligible_approvers:
            payload = json.dumps(request.payloads[person][0])
            assert any(f"```{payload}```" in t and person in t for t in texts), person
        [button] = message["blocks"][-1]["elements"]
        assert button["url"] == f"{UI}/namespaces/{namespace}/workflows/{quote(handle.id, safe='')}"
        assert texts[0] == told.body  # short enough for one section; nothing to escape
        assert hook.posts == []  # nothing for the customer yet

        await decide(handle, request_id=request.request_id, decision="approve", approver=CSM)
        [reply] = await eventually(
            lambda: [m for m in outbox(db, handle.id) if m.audience == "customer"],
            holds=lambda rows: len(rows) == 1 and rows[0].status == "sent",
            what="the customer reply sent",
        )
        await handle.result()
        await eventually(
            lambda: outbox(db, handle.id),
            holds=lambda rows: all(m.status == "sent" for m in rows),
            what="every message of the workflow sent",
        )

    # The webhook: the reply as the outbox holds it, signed with the shared secret.
    [customer_post] = hook.posts
    assert signed_by(customer_post, SECRET) and not signed_by(customer_post, SECRET + "x")
    assert customer_post["headers"]["Idempotency-Key"] == reply.idempotency_key
    body = customer_post["body"]
    assert (body["to"], body["subject"], body["body"]) == (
        reply.to.split(","),
        reply.subject,
        reply.body,
    )
    assert (body["workflow_id"], body["audience"]) == (handle.id, "customer")
    assert datetime.fromisoformat(body["created_at"]).utcoffset() == timedelta(0)
    # Slack got the internal messages only, one post each.
    internal = [m for m in outbox(db, handle.id) if m.audience == "internal"]
    assert [p["body"]["blocks"][0]["text"]["text"] for p in slack.posts] == [
        m.subject for m in internal
    ]


def test_a_refused_post_fails_at_once_and_a_5xx_is_tried_again(db, slack):
    routes = Delivery(f"slack:{slack.url}").routes()
    slack.script(403, {"error": "invalid_token"})
    refused = queued(db)
    assert deliver_routes(db, routes) == 0
    row = reload(db, refused.id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "HTTP 403" in row.last_error and "invalid_token" in row.last_error

    slack.script(503)
    later = queued(db)
    assert deliver_routes(db, routes) == 0
    assert (reload(db, later.id).status, reload(db, later.id).attempts) == ("pending", 1)
    assert deliver_routes(db, routes) == 1  # the next pass: the hook answers again
    assert reload(db, later.id).status == "sent"
    assert len(slack.posts) == 3
    # Slack reads &, < and > as markup: the body's own are escaped, nothing else.
    assert block_texts(slack.posts[-1])[0] == "Go to Reports &gt; Export &amp; pick CSV."


def test_the_webhook_refuses_to_start_unsigned(monkeypatch):
    monkeypatch.setenv("CSOPS_CUSTOMER_DELIVERY", "webhook:https://hooks.acme.test/csops")
    monkeypatch.delenv("CSOPS_WEBHOOK_SECRET", raising=False)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value) == (
        "bad environment: CSOPS_CUSTOMER_DELIVERY: a webhook channel signs every POST: "
        "set CSOPS_WEBHOOK_SECRET"
    )
    monkeypatch.setenv("CSOPS_INTERNAL_DELIVERY", "slack")
    monkeypatch.setenv("CSOPS_WEBHOOK_SECRET", SECRET)
    with pytest.raises(SettingsError, match="CSOPS_INTERNAL_DELIVERY: 'slack' is no channel"):
        load_settings()


# ---------------------------------------------------------------- SMTP


class TlsCollector(Collector):
    """Keeps, beside each envelope, whether the session was encrypted and who logged in."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[tuple[bool, bytes | None]] = []

    async def handle_DATA(self, server, smtp_session, envelope):  # noqa: N802 (aiosmtpd hook)
        self.sessions.append((smtp_session.ssl is not None, smtp_session.login_data))
        return await super().handle_DATA(server, smtp_session, envelope)


@pytest.fixture
def tls_smtp(tmp_path):
    """A real SMTP server that takes mail only after STARTTLS and AUTH (USER and
    PASSWORD): yields (collector, port, its certificate file)."""
    server = self_signed(tmp_path, "smtp-server")
    cert, key = str(server.cert), str(server.key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = TlsCollector()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_callback=lambda mechanism, login, password: (
            (login, password) == (USER.encode(), PASSWORD.encode())
        ),
    )
    controller.start()
    try:
        yield handler, controller.port, cert
    finally:
        controller.stop()


def smtp_env(monkeypatch, port: int, ca_file: str, password: str = PASSWORD, tls: bool = True):
    monkeypatch.setenv("CSOPS_OUTBOX_DELIVERY", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("CSOPS_SMTP_STARTTLS", "true" if tls else "false")
    monkeypatch.setenv("CSOPS_SMTP_USER", USER)
    monkeypatch.setenv("CSOPS_SMTP_PASSWORD", password)
    monkeypatch.setenv("CSOPS_SMTP_CA_FILE", ca_file)
    monkeypatch.setenv("CSOPS_MAIL_FROM", "Acme Customer Success <success@acme.test>")


def test_smtp_with_starttls_auth_and_the_configured_sender(db, tls_smtp, monkeypatch):
    handler, port, cert = tls_smtp
    smtp_env(monkeypatch, port, cert)
    row = queued(db, audience="customer", to=["sam@acc-1.example", "kim@acc-1.example"])

    assert deliver_routes(db, load_settings().delivery().routes()) == 1

    [envelope] = handler.envelopes
    assert handler.sessions == [(True, USER.encode())]  # encrypted, then logged in
    assert envelope.mail_from == "success@acme.test"
    assert envelope.rcpt_tos == ["sam@acc-1.example", "kim@acc-1.example"]
    message = email.message_from_bytes(envelope.content, policy=policy.default)
    assert message["From"] == "Acme Customer Success <success@acme.test>"
    assert message["Subject"] == row.subject
    assert reload(db, row.id).status == "sent"


@pytest.mark.parametrize(
    ("trouble", "error"),
    [
        ("wrong password", "SMTPAuthenticationError: (535"),
        # The server offers AUTH only inside TLS: the password never goes out in clear.
        ("no STARTTLS", "SMTPNotSupportedError: SMTP AUTH extension not supported"),
        ("an untrusted certificate", "SSLCertVerificationError"),
    ],
)
def test_smtp_sends_nothing_without_tls_and_a_good_login(
    db, tls_smtp, monkeypatch, tmp_path, trouble, error
):
    handler, port, cert = tls_smtp
    if trouble == "wrong password":
        smtp_env(monkeypatch, port, cert, password="wrong")
    elif trouble == "no STARTTLS":
        smtp_env(monkeypatch, port, cert, tls=False)
    else:
        other = str(self_signed(tmp_path, "someone-else").cert)
        smtp_env(monkeypatch, port, other)
    row = queued(db, audience="customer")

    assert deliver_routes(db, load_settings().delivery().routes()) == 0

    assert handler.envelopes == []
    kept = reload(db, row.id)
    assert (kept.status, kept.attempts) == ("pending", 1)  # tried again on the next pass
    assert kept.last_error.startswith(error), kept.last_error
