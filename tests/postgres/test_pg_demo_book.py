"""test_demo_book.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_demo_book import *  # noqa: F403
