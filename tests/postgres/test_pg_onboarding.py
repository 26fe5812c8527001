"""test_onboarding.py with its context databases on PostgreSQL (see conftest.py here)."""

from test_onboarding import *  # noqa: F403
