"""test_review_loop.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_review_loop import *  # noqa: F403
