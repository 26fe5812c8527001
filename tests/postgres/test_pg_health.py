"""test_health.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_health import *  # noqa: F403
