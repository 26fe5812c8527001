"""test_outcome_report.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_outcome_report import *  # noqa: F403
