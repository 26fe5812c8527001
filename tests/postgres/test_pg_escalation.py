"""test_escalation.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_escalation import *  # noqa: F403
