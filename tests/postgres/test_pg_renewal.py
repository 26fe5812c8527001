"""test_renewal.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_renewal import *  # noqa: F403
