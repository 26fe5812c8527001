"""test_renewal_brief.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_renewal_brief import *  # noqa: F403
