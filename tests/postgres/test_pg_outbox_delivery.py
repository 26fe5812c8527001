"""test_outbox_delivery.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_outbox_delivery import *  # noqa: F403
