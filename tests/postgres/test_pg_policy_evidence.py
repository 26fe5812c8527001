"""test_policy_evidence.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_policy_evidence import *  # noqa: F403
