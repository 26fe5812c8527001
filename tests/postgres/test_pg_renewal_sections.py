"""test_renewal_sections.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_renewal_sections import *  # noqa: F403
