"""A real SMTP server for the outbox to deliver to (aiosmtpd, in a thread of the
test process), keeping every message it accepts."""

from __future__ import annotations

import asyncio
import email
import threading
from collections import Counter


class Collector:
    """aiosmtpd handler keeping every envelope it accepts. With `reply_after_s` set,
    it keeps the message at once and says `250 OK` that much later: the sender is
    caught in the middle of handing it over. It refuses the addresses in `refuse`
    as a real server does a mailbox that does not exist."""

    def __init__(self, reply_after_s: float = 0) -> None:
        self.envelopes = []
        self.reply_after_s = reply_after_s
        self.refuse: set[str] = set()
        self._lock = threading.Lock()  # the server's thread appends, the test reads

    async def handle_RCPT(self, server, smtp_session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, smtp_session, envelope):  # noqa: N802 (aiosmtpd hook)
        with self._lock:
            self.envelopes.append(envelope)
        if self.reply_after_s:
            await asyncio.sleep(self.reply_after_s)
        return "250 OK"

    def message_ids(self) -> Counter[str]:
        """How many times each Message-ID was received."""
        with self._lock:
            received = list(self.envelopes)
        return Counter(str(email.message_from_bytes(e.content)["Message-ID"]) for e in received)
