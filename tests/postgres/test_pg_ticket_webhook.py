"""test_ticket_webhook.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_ticket_webhook import *  # noqa: F403
