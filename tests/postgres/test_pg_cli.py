"""test_cli.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_cli import *  # noqa: F403
