"""test_bulk_decide_and_digest.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_bulk_decide_and_digest import *  # noqa: F403
