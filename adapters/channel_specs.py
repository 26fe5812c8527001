"""The outbox channels as the settings describe them: the specs and what channels
need beyond them (the channels themselves are in adapters/delivery.py).

Standard library only: every CLI command loads the settings, and the settings
importing adapters/delivery.py (SQLAlchemy, the table models, Alembic) cost
`csops status` about 0.4 s of start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

SENDER = "csops@csops.test"
SPECS = "maildir:PATH, smtp://HOST:PORT, slack:WEBHOOK_URL, webhook:URL or none"


@dataclass(frozen=True)
class ChannelOptions:
    """What channels need beyond their spec (adapters/settings.py reads them)."""

    sender: str = SENDER
    smtp_starttls: bool = False
    smtp_login: tuple[str, str] | None = field(default=None, repr=False)
    smtp_ca_file: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    ui_url: str = "http://localhost:8233"
    namespace: str = "default"


DEFAULT_OPTIONS = ChannelOptions()


def spec_problem(spec: str, options: ChannelOptions = DEFAULT_OPTIONS) -> str | None:
    """Why `spec` names no usable channel, in words; None when it does."""
    kind, _, rest = spec.partition(":")
    if spec == "none" or (kind == "maildir" and rest) or spec.startswith("smtp://"):
        return None
    if kind in ("slack", "webhook") and urlparse(rest).scheme in ("http", "https"):
        if kind == "webhook" and not options.webhook_secret:
            return "a webhook channel signs every POST: set CSOPS_WEBHOOK_SECRET"
        return None
    return f"{spec!r} is no channel: use {SPECS}"
