"""test_investigation.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_investigation import *  # noqa: F403
