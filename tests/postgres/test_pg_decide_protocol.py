"""test_decide_protocol.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_decide_protocol import *  # noqa: F403
