"""test_current_details.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_current_details import *  # noqa: F403
