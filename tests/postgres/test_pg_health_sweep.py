"""test_health_sweep.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_health_sweep import *  # noqa: F403
