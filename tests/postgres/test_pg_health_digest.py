"""test_health_digest.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_health_digest import *  # noqa: F403
