"""test_account_watch.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_account_watch import *  # noqa: F403
