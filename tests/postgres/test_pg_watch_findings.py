"""test_watch_findings.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_watch_findings import *  # noqa: F403
