"""test_who_decides.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_who_decides import *  # noqa: F403
